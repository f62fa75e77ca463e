/* SPDX-License-Identifier: MIT */
/*
 * fault-fs.c - a pass-through FUSE file system whose I/O fails on command,
 * to put swapdevd's backing file on a disk that really fails.
 *
 *	fault-fs [--delay-us N] SOURCE_DIR MOUNTPOINT
 *
 * Every file operation under MOUNTPOINT is done on the same path under
 * SOURCE_DIR. Signals change how its data requests (read, write,
 * fallocate, fsync) fare, while lookups and stat keep working (the file is
 * still there):
 *
 *	SIGUSR1		dead disk: every data request fails with EIO
 *	SIGRTMIN	flaky disk: every third write fails with EIO, the rest
 *			(and every read) succeed
 *	SIGRTMIN+1	truncated disk: every read returns half the bytes asked
 *			for, as a read past the end of a shrunk file does
 *	SIGUSR2		healthy again
 *
 * --delay-us sleeps before every write, so that a flush takes long enough
 * to be interrupted. It runs in the foreground until unmounted or sent
 * SIGTERM, and prints how many requests it served and failed.
 *
 * Why not device-mapper's "error" target: it needs dm-mod in the kernel,
 * which many test machines (VMs with minimal kernels) lack, while FUSE is
 * already required by swapdevd. The daemon sees the same thing either way:
 * pread/pwrite on its O_DIRECT backing file return -EIO. The file is opened
 * on SOURCE_DIR without O_DIRECT (FUSE already bypasses the page cache of
 * MOUNTPOINT for an O_DIRECT file; the buffers libfuse hands us are not
 * aligned for O_DIRECT on the source).
 *
 * It locks its memory (it serves a swap device's disk tier, like swapdevd
 * itself) and serves requests from libfuse's multithreaded loop.
 */
#define FUSE_USE_VERSION 31
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse3/fuse.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

enum mode { HEALTHY, DEAD, FLAKY_WRITES, SHORT_READS };

static int source_fd = -1;
static volatile sig_atomic_t mode = HEALTHY;
static unsigned long delay_us;
static uint64_t failed_requests, served_requests, writes;

static void on_signal(int signo)
{
	mode = signo == SIGUSR1	   ? DEAD
	       : signo == SIGUSR2  ? HEALTHY
	       : signo == SIGRTMIN ? FLAKY_WRITES
				   : SHORT_READS;
}

/* FUSE paths start with '/'; the source directory wants them relative. */
static const char *rel(const char *path)
{
	while (*path == '/')
		path++;
	return *path ? path : ".";
}

/* Returns true (and counts it) when a data request must fail. */
static bool fail_now(bool write)
{
	bool fail = mode == DEAD;

	if (write && mode == FLAKY_WRITES)
		fail = __atomic_fetch_add(&writes, 1, __ATOMIC_RELAXED) % 3 == 2;
	if (fail) {
		__atomic_fetch_add(&failed_requests, 1, __ATOMIC_RELAXED);
		return true;
	}
	__atomic_fetch_add(&served_requests, 1, __ATOMIC_RELAXED);
	return false;
}

static void *ff_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	cfg->use_ino = 1;
	cfg->attr_timeout = 0;
	cfg->entry_timeout = 0;
	cfg->negative_timeout = 0;
	return NULL;
}

static int ff_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	int r = fi ? fstat((int)fi->fh, st) : fstatat(source_fd, rel(path), st, AT_SYMLINK_NOFOLLOW);

	return r < 0 ? -errno : 0;
}

static int ff_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	struct dirent *de;
	DIR *dir;
	int fd;

	fd = openat(source_fd, rel(path), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(dir)))
		if (fill(buf, de->d_name, NULL, 0, 0))
			break;
	closedir(dir);
	return 0;
}

static int open_source(const char *path, int flags, mode_t mode, struct fuse_file_info *fi)
{
	int fd = openat(source_fd, rel(path), (flags & ~O_DIRECT) | O_CLOEXEC | O_NOFOLLOW, mode);

	if (fd < 0)
		return -errno;
	fi->fh = (uint64_t)fd;
	return 0;
}

static int ff_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	return open_source(path, fi->flags | O_CREAT, mode, fi);
}

static int ff_open(const char *path, struct fuse_file_info *fi)
{
	return open_source(path, fi->flags, 0, fi);
}

static int ff_release(const char *path, struct fuse_file_info *fi)
{
	close((int)fi->fh);
	return 0;
}

static int ff_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	ssize_t n;

	if (fail_now(false))
		return -EIO;
	if (mode == SHORT_READS && size > 1) {
		__atomic_fetch_add(&failed_requests, 1, __ATOMIC_RELAXED);
		size /= 2;
	}
	n = pread((int)fi->fh, buf, size, off);
	return n < 0 ? -errno : (int)n;
}

static int ff_write(const char *path, const char *buf, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	ssize_t n;

	if (delay_us) {
		struct timespec ts = { .tv_sec = (time_t)(delay_us / 1000000),
				       .tv_nsec = (long)(delay_us % 1000000) * 1000 };

		nanosleep(&ts, NULL);
	}
	if (fail_now(true))
		return -EIO;
	n = pwrite((int)fi->fh, buf, size, off);
	return n < 0 ? -errno : (int)n;
}

static int ff_fallocate(const char *path, int mode, off_t off, off_t len,
			struct fuse_file_info *fi)
{
	if (fail_now(false))
		return -EIO;
	return fallocate((int)fi->fh, mode, off, len) < 0 ? -errno : 0;
}

static int ff_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	if (fail_now(false))
		return -EIO;
	return (datasync ? fdatasync((int)fi->fh) : fsync((int)fi->fh)) < 0 ? -errno : 0;
}

static int ff_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	int fd, r;

	if (fi)
		return ftruncate((int)fi->fh, size) < 0 ? -errno : 0;
	fd = openat(source_fd, rel(path), O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	r = ftruncate(fd, size) < 0 ? -errno : 0;
	close(fd);
	return r;
}

static int ff_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	int r = fi ? fchmod((int)fi->fh, mode) : fchmodat(source_fd, rel(path), mode, 0);

	return r < 0 ? -errno : 0;
}

static int ff_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	int r = fi ? fchown((int)fi->fh, uid, gid)
		   : fchownat(source_fd, rel(path), uid, gid, AT_SYMLINK_NOFOLLOW);

	return r < 0 ? -errno : 0;
}

static int ff_unlink(const char *path)
{
	return unlinkat(source_fd, rel(path), 0) < 0 ? -errno : 0;
}

static int ff_mkdir(const char *path, mode_t mode)
{
	return mkdirat(source_fd, rel(path), mode) < 0 ? -errno : 0;
}

static int ff_rmdir(const char *path)
{
	return unlinkat(source_fd, rel(path), AT_REMOVEDIR) < 0 ? -errno : 0;
}

static int ff_statfs(const char *path, struct statvfs *st)
{
	return fstatvfs(source_fd, st) < 0 ? -errno : 0;
}

static const struct fuse_operations ops = {
	.init = ff_init,
	.getattr = ff_getattr,
	.readdir = ff_readdir,
	.create = ff_create,
	.open = ff_open,
	.release = ff_release,
	.read = ff_read,
	.write = ff_write,
	.fallocate = ff_fallocate,
	.fsync = ff_fsync,
	.truncate = ff_truncate,
	.chmod = ff_chmod,
	.chown = ff_chown,
	.unlink = ff_unlink,
	.mkdir = ff_mkdir,
	.rmdir = ff_rmdir,
	.statfs = ff_statfs,
};

static void usage(FILE *f)
{
	fprintf(f, "usage: fault-fs [--delay-us N] SOURCE_DIR MOUNTPOINT\n"
		   "SIGUSR1: every read/write/fallocate/fsync fails with EIO;\n"
		   "SIGRTMIN: every third write fails; SIGUSR2: heal\n");
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "delay-us", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	struct sigaction sa = { .sa_handler = on_signal };
	char *fuse_argv[] = { argv[0], "-f", "-o",
			      "fsname=swapdev-fault-fs,default_permissions,max_threads=16", NULL,
			      NULL };
	char *end;
	int c, r;

	while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0) {
		switch (c) {
		case 'd':
			errno = 0;
			delay_us = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || delay_us > 10000000) {
				fprintf(stderr, "fault-fs: --delay-us takes 0..10000000\n");
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind != 2) {
		usage(stderr);
		return 2;
	}
	source_fd = open(argv[optind], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (source_fd < 0) {
		fprintf(stderr, "fault-fs: cannot open %s: %s\n", argv[optind], strerror(errno));
		return 1;
	}
	if (mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) < 0)
		fprintf(stderr, "fault-fs: mlockall: %s (continuing)\n", strerror(errno));
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL) < 0 || sigaction(SIGUSR2, &sa, NULL) < 0 ||
	    sigaction(SIGRTMIN, &sa, NULL) < 0 || sigaction(SIGRTMIN + 1, &sa, NULL) < 0) {
		fprintf(stderr, "fault-fs: sigaction: %s\n", strerror(errno));
		return 1;
	}
	fuse_argv[4] = argv[optind + 1];
	r = fuse_main(5, fuse_argv, &ops, NULL);
	fprintf(stderr, "fault-fs: served %" PRIu64 " requests, failed %" PRIu64 "\n",
		served_requests, failed_requests);
	close(source_fd);
	return r;
}
