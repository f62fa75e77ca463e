/* SPDX-License-Identifier: MIT */
/*
 * null-fs.c - the transport floor of the end-to-end benchmark: a FUSE file
 * system that exports one file, "swap", and stores nothing, set up as swap
 * exactly as swapdevd sets up its own file.
 *
 * What it measures. A read is answered with zeros, a write and a discard
 * are acknowledged and dropped; only the first page (the swap signature
 * that swapon reads back) is kept. What remains of a swap-in or swap-out is
 * the path every FUSE swap server pays before it does any work of its own:
 * the kernel's reclaim and fault paths, the direct-I/O loop device, the
 * FUSE request and reply (through /dev/fuse or FUSE over io_uring), and
 * producing or taking the bytes in user space. The workload cannot verify
 * its pages against it (every page comes back zero): the benchmark runs it
 * with --no-verify, which still reads and compares every page but only
 * counts the mismatches. A swapdevd configuration that takes close to this
 * time spends next to nothing in its store.
 *
 * The same transport as swapdevd: the mount options, INIT settings
 * (max_write 1 MiB, async direct I/O, no writeback cache), direct_io opens,
 * eight threads reading /dev/fuse into resident buffers, and FUSE over
 * io_uring through the daemon's own daemon/fuse_ring.c when the kernel
 * switch is on (--no-io-uring: /dev/fuse only); the same swap activation
 * through daemon/activate.c (signature, direct-I/O loop device with 4 KiB
 * blocks and writeback throttling off, swapon with discard at priority
 * 100). mlockall, as the daemon, so that serving never faults.
 *
 * With --backing FILE it is the disk floor instead: every request is one
 * O_DIRECT pread or pwrite at the same offset of FILE (preallocated to the
 * device size, as swapdevd's backing file), a discard one punched hole.
 * That is the least a FUSE swap server whose pages live on disk can do, so
 * it bounds from below what swapdevd costs on a page its pool does not
 * hold; its pages are real, so the workload verifies them as usual.
 *
 * Usage: null-fs --size BYTES --mountpoint DIR --pidfile FILE [--no-io-uring]
 *                [--backing FILE]
 * The pidfile is written once swap is active; SIGTERM or SIGINT swaps off,
 * detaches the loop device, unmounts and exits 0.
 */
#define FUSE_USE_VERSION FUSE_MAKE_VERSION(3, 12)
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <fuse3/fuse_lowlevel.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <linux/fuse.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "activate.h"
#include "common.h"
#include "fuse_ring.h"
#include "log.h"

#define SWAP_INO       2
#define FILE_NAME      "swap"
#define MAX_REQUEST    (1u << 20)
#define RECEIVE_BUFFER (MAX_REQUEST + 4096u)
#define SERVE_THREADS  8
#define RING_DEPTH     1
#define SERVE_STACK    (256u << 10)
#define ATTR_TIMEOUT   3600.0
#define HEADER_SIZE    4096u

struct null_thread {
	struct null_fs *fs;
	pthread_t thread;
	bool running;
	unsigned char *buf; /* a request arrives here; a read's reply is built here */
	unsigned char *bounce; /* --backing: write data that is not page-aligned */
};

struct null_fs {
	uint64_t size;
	time_t started;
	struct fuse_session *se;
	struct null_thread threads[SERVE_THREADS];
	struct fuse_ring *ring;
	struct null_thread *ring_threads;
	unsigned nr_ring_threads;
	int backing_fd; /* --backing, or -1 */
	/* The swap signature: the only bytes kept. Written before swapon, read after. */
	unsigned char header[HEADER_SIZE];
	pthread_mutex_t header_lock;
};

static __thread struct null_thread *current_thread;

/* daemon/log.h for daemon/fuse_ring.c and this file, under this program's name. */
void log_message(int priority, const char *fmt, ...)
{
	va_list ap;

	if (priority > LOG_INFO)
		return;
	fputs("null-fs: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int log_errno(int priority, int error, const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	log_message(priority, "%s: %s", text, strerror(-error));
	return error;
}

static void *alloc_resident(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	memset(p, 0, size);
	return p;
}

static void fill_attr(const struct null_fs *fs, fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mtime = st->st_atime = st->st_ctime = fs->started;
	if (ino == FUSE_ROOT_ID) {
		st->st_mode = S_IFDIR | 0700;
		st->st_nlink = 2;
	} else {
		st->st_mode = S_IFREG | 0600;
		st->st_nlink = 1;
		st->st_size = (off_t)fs->size;
		st->st_blksize = 4096;
		st->st_blocks = st->st_size / 512;
	}
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	conn->max_write = MAX_REQUEST;
	if (conn->capable & FUSE_CAP_ASYNC_DIO)
		conn->want |= FUSE_CAP_ASYNC_DIO;
	conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct null_fs *fs = fuse_req_userdata(req);
	struct fuse_entry_param e = {
	    .ino = SWAP_INO, .attr_timeout = ATTR_TIMEOUT, .entry_timeout = ATTR_TIMEOUT};

	if (parent != FUSE_ROOT_ID || strcmp(name, FILE_NAME) != 0) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	fill_attr(fs, SWAP_INO, &e.attr);
	fuse_reply_entry(req, &e);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;

	if (ino != FUSE_ROOT_ID && ino != SWAP_INO) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	fill_attr(fuse_req_userdata(req), ino, &st);
	fuse_reply_attr(req, &st, ATTR_TIMEOUT);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (ino != SWAP_INO) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	fi->direct_io = 1;
	fi->keep_cache = 0;
	fuse_reply_open(req, fi);
}

/* One O_DIRECT pread or pwrite of the whole range (a short one is continued). */
static int backing_io(int fd, bool write, void *buf, size_t size, off_t off)
{
	size_t done = 0;

	while (done < size) {
		ssize_t n = write ? pwrite(fd, (char *)buf + done, size - done, off + (off_t)done)
				  : pread(fd, (char *)buf + done, size - done, off + (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		done += (size_t)n;
	}
	return 0;
}

/* Zeros, but for the part of the signature page the read covers (or --backing). */
static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct null_fs *fs = fuse_req_userdata(req);
	unsigned char *buf = current_thread->buf;

	if (off < 0 || (uint64_t)off >= fs->size || size == 0) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	size = (size_t)MIN((uint64_t)MIN(size, (size_t)MAX_REQUEST), fs->size - (uint64_t)off);
	if (fs->backing_fd >= 0) {
		int r = backing_io(fs->backing_fd, false, buf, size, off);

		if (r < 0)
			fuse_reply_err(req, -r);
		else
			fuse_reply_buf(req, (const char *)buf, size);
		return;
	}
	memset(buf, 0, size);
	if ((uint64_t)off < HEADER_SIZE) {
		pthread_mutex_lock(&fs->header_lock);
		memcpy(buf, fs->header + off, MIN(size, HEADER_SIZE - (size_t)off));
		pthread_mutex_unlock(&fs->header_lock);
	}
	fuse_reply_buf(req, (const char *)buf, size);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct null_fs *fs = fuse_req_userdata(req);

	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if ((uint64_t)off >= fs->size || size > fs->size - (uint64_t)off) {
		fuse_reply_err(req, ENOSPC);
		return;
	}
	if (fs->backing_fd >= 0) {
		int r;

		/* O_DIRECT needs aligned memory; ring payloads are, /dev/fuse buffers not. */
		if ((uintptr_t)buf % 4096) {
			if (!current_thread->bounce)
				current_thread->bounce = alloc_resident(MAX_REQUEST);
			if (!current_thread->bounce) {
				fuse_reply_err(req, ENOMEM);
				return;
			}
			memcpy(current_thread->bounce, buf, size);
			buf = (const char *)current_thread->bounce;
		}
		r = backing_io(fs->backing_fd, true, (void *)buf, size, off);
		if (r < 0)
			fuse_reply_err(req, -r);
		else
			fuse_reply_write(req, size);
		return;
	}
	if ((uint64_t)off < HEADER_SIZE) {
		pthread_mutex_lock(&fs->header_lock);
		memcpy(fs->header + off, buf, MIN(size, HEADER_SIZE - (size_t)off));
		pthread_mutex_unlock(&fs->header_lock);
	}
	fuse_reply_write(req, size);
}

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
			 struct fuse_file_info *fi)
{
	struct null_fs *fs = fuse_req_userdata(req);

	if (off < 0 || len <= 0)
		fuse_reply_err(req, EINVAL);
	else if (mode == 0)
		fuse_reply_err(req, 0);
	else if (mode == (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE))
		fuse_reply_err(req, fs->backing_fd >= 0 &&
					    fallocate(fs->backing_fd, mode, off, len) < 0
					? errno
					: 0);
	else
		fuse_reply_err(req, EOPNOTSUPP);
}

static void op_ok(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);
}

static const struct fuse_lowlevel_ops null_ops = {
    .init = op_init,
    .lookup = op_lookup,
    .getattr = op_getattr,
    .open = op_open,
    .read = op_read,
    .write = op_write,
    .fallocate = op_fallocate,
    .flush = op_ok,
    .fsync = op_fsync,
    .release = op_ok,
};

static void warm_up_thread(void *thread)
{
	current_thread = thread;
	free(calloc(1, 256));
}

static void *serve(void *arg)
{
	struct null_thread *t = arg;
	struct fuse_session *se = t->fs->se;
	int fd = fuse_session_fd(se);

	warm_up_thread(t);
	while (!fuse_session_exited(se)) {
		ssize_t n = read(fd, t->buf, RECEIVE_BUFFER);
		struct fuse_buf fbuf = {.mem = t->buf};

		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == ENOENT)
				continue;
			break;
		}
		if ((size_t)n < sizeof(struct fuse_in_header))
			break;
		fbuf.size = (size_t)n;
		if (t->fs->ring)
			fuse_ring_dev_request(t->buf, fbuf.size);
		fuse_session_process_buf(se, &fbuf);
	}
	fuse_session_exit(se);
	return NULL;
}

static void ring_handle(void *ctx, const struct fuse_buf *request, void *reply_buf)
{
	struct null_thread *t = ctx;
	struct fuse_buf buf = *request;

	t->buf = reply_buf;
	fuse_session_process_buf(t->fs->se, &buf);
}

static const struct fuse_ring_ops ring_ops = {
    .thread_start = warm_up_thread,
    .handle = ring_handle,
};

static ssize_t plain_read(int fd, void *buf, size_t len, void *userdata)
{
	return read(fd, buf, len);
}

static const struct fuse_custom_io ring_io = {
    .writev = fuse_ring_writev,
    .read = plain_read,
};

/* As the daemon's ring_prepare(): any failure leaves requests on /dev/fuse. */
static void ring_prepare(struct null_fs *fs)
{
	unsigned queues = fuse_ring_queues();
	unsigned per_queue = DIV_ROUND_UP(SERVE_THREADS, MAX(queues, 1u)), n = queues * per_queue;
	void **ctx;
	int r;

	if (!fuse_ring_kernel_enabled() || queues == 0 || queues > FUSE_RING_MAX_QUEUES) {
		log_info("serving through /dev/fuse (FUSE over io_uring off or unusable)");
		return;
	}
	fs->ring_threads = calloc(n, sizeof(*fs->ring_threads));
	ctx = calloc(n, sizeof(*ctx));
	r = fs->ring_threads && ctx ? 0 : -ENOMEM;
	for (unsigned i = 0; r == 0 && i < n; i++) {
		fs->ring_threads[i].fs = fs;
		ctx[i] = &fs->ring_threads[i];
	}
	fs->nr_ring_threads = n;
	if (r == 0 && fuse_session_custom_io(fs->se, &ring_io, fuse_session_fd(fs->se)) != 0)
		r = -EINVAL;
	if (r == 0)
		r = fuse_ring_prepare(fs->se, per_queue, RING_DEPTH, MAX_REQUEST, SERVE_STACK,
				      &ring_ops, ctx, &fs->ring);
	free(ctx);
	if (r < 0)
		log_warning("serving through /dev/fuse: cannot set up FUSE over io_uring: %s",
			    strerror(-r));
}

static int threads_start(struct null_fs *fs)
{
	pthread_attr_t attr;
	int r;

	r = -pthread_attr_init(&attr);
	if (r < 0)
		return r;
	r = -pthread_attr_setstacksize(&attr, SERVE_STACK);
	for (unsigned i = 0; r == 0 && i < SERVE_THREADS; i++) {
		struct null_thread *t = &fs->threads[i];

		t->fs = fs;
		t->buf = alloc_resident(RECEIVE_BUFFER);
		if (!t->buf) {
			r = -ENOMEM;
			break;
		}
		r = -pthread_create(&t->thread, &attr, serve, t);
		t->running = r == 0;
	}
	pthread_attr_destroy(&attr);
	return r;
}

static void threads_stop(struct null_fs *fs)
{
	for (unsigned i = 0; i < SERVE_THREADS; i++) {
		if (fs->threads[i].running)
			pthread_join(fs->threads[i].thread, NULL);
		if (fs->threads[i].buf)
			munmap(fs->threads[i].buf, RECEIVE_BUFFER);
		if (fs->threads[i].bounce)
			munmap(fs->threads[i].bounce, MAX_REQUEST);
	}
	/* The ring threads end with the connection, which the unmount ended. */
	fuse_ring_stop(fs->ring);
	for (unsigned i = 0; i < fs->nr_ring_threads; i++)
		if (fs->ring_threads[i].bounce)
			munmap(fs->ring_threads[i].bounce, MAX_REQUEST);
	free(fs->ring_threads);
}

static int write_pidfile(const char *path)
{
	FILE *f = fopen(path, "we");

	if (!f)
		return -errno;
	fprintf(f, "%d\n", (int)getpid());
	if (fclose(f) != 0)
		return -errno;
	return 0;
}

static int parse_size(const char *s, uint64_t *ret)
{
	unsigned long long v;
	unsigned shift = 0;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case 'K':
	case 'k':
		shift = 10;
		end++;
		break;
	case 'M':
	case 'm':
		shift = 20;
		end++;
		break;
	case 'G':
	case 'g':
		shift = 30;
		end++;
		break;
	}
	if (*end || v == 0 || v > (UINT64_MAX >> 30))
		return -EINVAL;
	*ret = (uint64_t)v << shift;
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: null-fs --size BYTES[K|M|G] --mountpoint DIR --pidfile FILE "
			"[--no-io-uring] [--backing FILE]\n");
	return 2;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
	    {"size", required_argument, NULL, 's'},
	    {"mountpoint", required_argument, NULL, 'm'},
	    {"pidfile", required_argument, NULL, 'p'},
	    {"no-io-uring", no_argument, NULL, 'n'},
	    {"backing", required_argument, NULL, 'b'},
	    {},
	};
	char *fuse_argv[] = {"null-fs", "-o", "default_permissions,fsname=nullfs,subtype=nullfs",
			     NULL};
	struct fuse_args args = FUSE_ARGS_INIT(3, fuse_argv);
	const char *mountpoint = NULL, *pidfile = NULL, *backing = NULL;
	struct activate_loop loop = ACTIVATE_LOOP_INIT;
	uint8_t uuid[ACTIVATE_UUID_SIZE];
	char file[4096];
	bool io_uring = true, swapping = false;
	struct null_fs *fs;
	sigset_t stop;
	int c, fd, sig, r, status = 1;

	fs = calloc(1, sizeof(*fs));
	if (!fs)
		return 1;
	while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0) {
		switch (c) {
		case 's':
			if (parse_size(optarg, &fs->size) < 0 || fs->size % 4096 ||
			    fs->size < (1u << 20))
				return usage();
			break;
		case 'm':
			mountpoint = optarg;
			break;
		case 'p':
			pidfile = optarg;
			break;
		case 'n':
			io_uring = false;
			break;
		case 'b':
			backing = optarg;
			break;
		default:
			return usage();
		}
	}
	if (optind != argc || !fs->size || !mountpoint || !pidfile)
		return usage();
	snprintf(file, sizeof(file), "%s/%s", mountpoint, FILE_NAME);
	fs->started = time(NULL);
	fs->backing_fd = -1;
	pthread_mutex_init(&fs->header_lock, NULL);
	if (backing) {
		fs->backing_fd = open(backing, O_RDWR | O_CREAT | O_DIRECT | O_CLOEXEC, 0600);
		if (fs->backing_fd < 0 || fallocate(fs->backing_fd, 0, 0, (off_t)fs->size) < 0) {
			log_error_errno(-errno, "cannot preallocate %s with O_DIRECT", backing);
			goto out;
		}
	}

	/* Signals are taken by sigwait() in this thread only. */
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	if (mlockall(MCL_CURRENT | MCL_FUTURE) < 0)
		log_warning_errno(-errno, "mlockall failed; serving may fault");

	fs->se = fuse_session_new(&args, &null_ops, sizeof(null_ops), fs);
	if (!fs->se) {
		log_error("cannot create the FUSE session");
		goto out;
	}
	if (fuse_session_mount(fs->se, mountpoint) != 0) {
		log_error("cannot mount FUSE on %s", mountpoint);
		fuse_session_destroy(fs->se);
		goto out;
	}
	if (io_uring)
		ring_prepare(fs);
	r = threads_start(fs);
	if (r < 0) {
		log_error_errno(r, "cannot start the FUSE threads");
		goto out_unmount;
	}

	fd = open(file, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		log_error_errno(-errno, "cannot open %s", file);
		goto out_unmount;
	}
	r = activate_write_swap_header(fd, fs->size, uuid);
	close(fd);
	if (r < 0) {
		log_error_errno(r, "cannot write the swap signature to %s", file);
		goto out_unmount;
	}
	r = activate_loop_attach(file, &loop);
	if (r < 0) {
		log_error_errno(r, "cannot attach a loop device to %s", file);
		goto out_unmount;
	}
	if (!loop.direct_io)
		log_warning("%s does not use direct I/O", loop.path);
	r = activate_loop_disable_wbt(&loop);
	if (r < 0)
		log_warning_errno(r, "cannot turn off writeback throttling on %s", loop.path);
	r = activate_swapon(loop.path, 100, true);
	if (r < 0) {
		log_error_errno(r, "swapon %s failed", loop.path);
		goto out_detach;
	}
	swapping = true;
	log_info("swap active on %s (%s, %" PRIu64 " MiB, %s)", loop.path, file, fs->size >> 20,
		 backing ? "pages in the backing file" : "stores nothing");
	r = write_pidfile(pidfile);
	if (r < 0) {
		log_error_errno(r, "cannot write %s", pidfile);
		goto out_swapoff;
	}

	sigwait(&stop, &sig);
	status = 0;
out_swapoff:
	if (swapping) {
		/* swapoff can fail with ENOMEM for a moment (see daemon/swap_area.c). */
		for (int attempt = 0; attempt < 5; attempt++) {
			r = activate_swapoff(loop.path);
			if (r != -ENOMEM && r != -EINTR)
				break;
			sleep(1);
		}
		if (r < 0) {
			log_error_errno(r, "swapoff %s failed", loop.path);
			status = 1;
		}
	}
out_detach:
	r = activate_loop_detach(&loop);
	if (r < 0) {
		log_error_errno(r, "cannot detach %s", loop.path);
		status = 1;
	}
out_unmount:
	fuse_session_exit(fs->se);
	fuse_session_unmount(fs->se);
	threads_stop(fs);
	fuse_session_destroy(fs->se);
out:
	if (fs->backing_fd >= 0)
		close(fs->backing_fd);
	free(fs);
	return status;
}
