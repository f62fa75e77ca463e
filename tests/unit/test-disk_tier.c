/* SPDX-License-Identifier: MIT */
/*
 * test-disk_tier.c - the backing file (creation, refusals, preallocation,
 * O_DIRECT I/O, injected failures) and the bitmap block allocator.
 *
 * Files live in a fresh directory under /var/tmp: /tmp may be a tmpfs, and
 * older kernels refuse O_DIRECT there. Tests that need a file system with a
 * particular property (a small tmpfs for a real ENOSPC, ramfs for a refused
 * O_DIRECT) mount it in a private mount namespace, so that it goes away
 * with the test process whatever happens; they skip when mounting is not
 * allowed.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "common.h"
#include "disk_tier.h"

#define BLOCK SWAPDEV_PAGE_SIZE

static char tmpdir[PATH_MAX];
static char mounted[PATH_MAX];

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	return remove(path);
}

static void setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/var/tmp/test-disk_tier.XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir), "mkdtemp: %m");
}

static void teardown(void)
{
	if (mounted[0])
		umount2(mounted, MNT_DETACH);
	nftw(tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(disk_tier, .init = setup, .fini = teardown);

static void path_in_tmpdir(char *buf, size_t size, const char *name)
{
	int n = snprintf(buf, size, "%s/%s", tmpdir, name);

	cr_assert(n > 0 && (size_t)n < size);
}

static struct disk_tier *open_disk(uint64_t nr_blocks)
{
	struct disk_tier *disk = NULL;
	char path[PATH_MAX];
	int r;

	path_in_tmpdir(path, sizeof(path), "backing");
	r = disk_tier_open(path, nr_blocks, NULL, &disk);
	cr_assert_eq(r, 0, "disk_tier_open: %s", strerror(-r));
	cr_assert_not_null(disk);
	return disk;
}

static void *alloc_blocks(size_t count)
{
	void *buf = aligned_alloc(BLOCK, count * BLOCK);

	cr_assert_not_null(buf);
	return buf;
}

/* Contents that differ between every block and every generation. */
static void fill_pattern(void *buf, uint64_t block, unsigned gen)
{
	uint64_t *words = buf;

	for (size_t i = 0; i < BLOCK / sizeof(uint64_t); i++)
		words[i] = (block << 40 | (uint64_t)gen << 32 | i) * UINT64_C(0x9e3779b97f4a7c15);
}

static void assert_pattern(const void *buf, uint64_t block, unsigned gen)
{
	_cleanup_free_ void *want = alloc_blocks(1);

	fill_pattern(want, block, gen);
	cr_assert(memcmp(buf, want, BLOCK) == 0, "block %" PRIu64 " is not generation %u",
		  block, gen);
}

static int write_file(const char *path, mode_t mode, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	ssize_t len = (ssize_t)strlen(text);

	if (fd < 0)
		return -errno;
	if (write(fd, text, len) != len || fchmod(fd, mode) < 0) {
		close(fd);
		return -EIO;
	}
	return close(fd) < 0 ? -errno : 0;
}

/* Mount fstype on a fresh directory in a private mount namespace. */
static void mount_private(const char *fstype, const char *options, char *ret_dir, size_t size)
{
	path_in_tmpdir(ret_dir, size, fstype);
	cr_assert_eq(mkdir(ret_dir, 0700), 0, "mkdir: %m");
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("none", ret_dir, fstype, 0, options) < 0)
		cr_skip_test("cannot mount %s in a private namespace: %m", fstype);
	snprintf(mounted, sizeof(mounted), "%s", ret_dir);
}

/* ---- the file ---- */

struct umask_case {
	mode_t umask;
};

ParameterizedTestParameters(disk_tier, created_0600_full_size_allocated)
{
	static struct umask_case cases[] = { { 0 }, { 022 }, { 077 }, { 0277 } };

	return cr_make_param_array(struct umask_case, cases, ARRAY_SIZE(cases));
}

ParameterizedTest(struct umask_case *c, disk_tier, created_0600_full_size_allocated)
{
	const uint64_t nr = 300;
	struct disk_tier *disk;
	char path[PATH_MAX];
	struct stat st;

	umask(c->umask);
	disk = open_disk(nr);
	path_in_tmpdir(path, sizeof(path), "backing");
	cr_assert_eq(lstat(path, &st), 0);
	cr_assert(S_ISREG(st.st_mode));
	cr_assert_eq(st.st_mode & 07777, 0600, "mode %o under umask %o", st.st_mode & 07777,
		     c->umask);
	cr_assert_eq(st.st_uid, geteuid());
	cr_assert_eq((uint64_t)st.st_size, nr * BLOCK);
	cr_assert_geq((uint64_t)st.st_blocks * 512, nr * BLOCK, "only %jd sectors allocated",
		      (intmax_t)st.st_blocks);
	cr_assert_eq(disk_blocks_total(disk), nr);
	cr_assert_eq(disk_blocks_used(disk), 0);
	disk_tier_close(disk);
}

struct existing_case {
	mode_t mode;
	off_t size; /* grown to this after writing "old" */
};

ParameterizedTestParameters(disk_tier, existing_file_reused_and_tightened)
{
	static struct existing_case cases[] = {
		{ 0644, 0 }, { 0666, 0 }, { 02640, 0 }, { 0400, 0 }, { 0700, 0 },
		{ 0600, 100 * BLOCK }, /* larger than the device: kept as it is */
		{ 0644, 3 * BLOCK },   /* smaller: grown */
	};

	return cr_make_param_array(struct existing_case, cases, ARRAY_SIZE(cases));
}

ParameterizedTest(struct existing_case *c, disk_tier, existing_file_reused_and_tightened)
{
	const uint64_t nr = 8;
	struct disk_tier *disk;
	char path[PATH_MAX];
	struct stat before, after;

	path_in_tmpdir(path, sizeof(path), "backing");
	cr_assert_eq(write_file(path, c->mode, "old"), 0);
	if (c->size)
		cr_assert_eq(truncate(path, c->size), 0);
	cr_assert_eq(stat(path, &before), 0);
	cr_assert_eq(before.st_mode & 07777, c->mode);

	disk = open_disk(nr);
	cr_assert_eq(stat(path, &after), 0);
	cr_assert_eq(after.st_ino, before.st_ino, "the file was replaced, not reused");
	cr_assert_eq(after.st_mode & 07777, 0600, "mode %o", after.st_mode & 07777);
	cr_assert_eq((uint64_t)after.st_size, MAX(nr * BLOCK, (uint64_t)c->size),
		     "size %jd: a file is grown, never shrunk", (intmax_t)after.st_size);
	cr_assert_geq((uint64_t)after.st_blocks * 512, nr * BLOCK);
	disk_tier_close(disk);
}

/* A second daemon on the same file must change nothing of it. */
Test(disk_tier, second_open_refused_while_locked)
{
	struct disk_tier *first, *second = NULL;
	char path[PATH_MAX];
	struct stat before, after;

	path_in_tmpdir(path, sizeof(path), "backing");
	first = open_disk(64);
	cr_assert_eq(stat(path, &before), 0);
	cr_assert_eq(disk_tier_open(path, 8, NULL, &second), -EBUSY);
	cr_assert_null(second);
	cr_assert_eq(stat(path, &after), 0);
	cr_assert_eq(after.st_size, before.st_size, "the locked file was resized");
	cr_assert_eq(after.st_ino, before.st_ino);
	disk_tier_close(first);
	/* The lock goes with the first tier. */
	second = open_disk(8);
	disk_tier_close(second);
}

Test(disk_tier, reopen_reuses_file)
{
	char path[PATH_MAX];
	struct stat first, second;

	path_in_tmpdir(path, sizeof(path), "backing");
	disk_tier_close(open_disk(4));
	cr_assert_eq(stat(path, &first), 0);
	disk_tier_close(open_disk(4));
	cr_assert_eq(stat(path, &second), 0);
	cr_assert_eq(first.st_ino, second.st_ino);
	cr_assert_eq(second.st_mode & 07777, 0600);
}

Test(disk_tier, symlink_refused_target_untouched)
{
	struct disk_tier *disk = (struct disk_tier *)&disk;
	char path[PATH_MAX], target[PATH_MAX], dangling[PATH_MAX], buf[16];
	struct stat st;
	ssize_t n;
	int fd;

	path_in_tmpdir(path, sizeof(path), "backing");
	path_in_tmpdir(target, sizeof(target), "target");
	path_in_tmpdir(dangling, sizeof(dangling), "dangling-target");
	cr_assert_eq(write_file(target, 0644, "precious"), 0);
	cr_assert_eq(symlink(target, path), 0);

	cr_assert_eq(disk_tier_open(path, 16, NULL, &disk), -ELOOP);
	cr_assert_eq(disk, (struct disk_tier *)&disk, "ret_disk changed on failure");
	cr_assert_eq(lstat(path, &st), 0);
	cr_assert(S_ISLNK(st.st_mode));
	cr_assert_eq(stat(target, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0644);
	cr_assert_eq(st.st_size, 8);
	fd = open(target, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	cr_assert_eq(n, 8);
	cr_assert(memcmp(buf, "precious", 8) == 0);

	/* A dangling symlink must not create its target either. */
	cr_assert_eq(unlink(path), 0);
	cr_assert_eq(symlink(dangling, path), 0);
	cr_assert_eq(disk_tier_open(path, 16, NULL, &disk), -ELOOP);
	cr_assert_eq(lstat(dangling, &st), -1);
	cr_assert_eq(errno, ENOENT);
}

/* Parameters are copied into the test process: no pointers in them. */
enum refuse_kind {
	REFUSE_DIRECTORY,
	REFUSE_FIFO,
	REFUSE_FOREIGN_OWNER,
	REFUSE_MISSING_PARENT,
};

struct refuse_case {
	char name[24];
	enum refuse_kind kind;
	mode_t type; /* what stays at path, 0 for nothing */
	int error;
};

/* Put the thing to refuse at path. */
static void make_refused(enum refuse_kind kind, const char *path)
{
	switch (kind) {
	case REFUSE_DIRECTORY:
		cr_assert_eq(mkdir(path, 0700), 0, "%m");
		break;
	case REFUSE_FIFO:
		cr_assert_eq(mkfifo(path, 0600), 0, "%m");
		break;
	case REFUSE_FOREIGN_OWNER:
		/* Another user could chmod it and read swap contents. */
		if (geteuid() != 0)
			cr_skip_test("needs root to chown");
		cr_assert_eq(write_file(path, 0600, "x"), 0);
		cr_assert_eq(chown(path, 65534, 65534), 0, "%m");
		break;
	case REFUSE_MISSING_PARENT:
		break;
	}
}

ParameterizedTestParameters(disk_tier, refused)
{
	static struct refuse_case cases[] = {
		{ "directory", REFUSE_DIRECTORY, S_IFDIR, -EISDIR },
		{ "fifo", REFUSE_FIFO, S_IFIFO, -ENODEV },
		{ "foreign owner", REFUSE_FOREIGN_OWNER, S_IFREG, -EPERM },
		{ "missing parent", REFUSE_MISSING_PARENT, 0, -ENOENT },
	};

	return cr_make_param_array(struct refuse_case, cases, ARRAY_SIZE(cases));
}

ParameterizedTest(struct refuse_case *c, disk_tier, refused)
{
	struct disk_tier *disk = (struct disk_tier *)&disk;
	char path[PATH_MAX], parent[PATH_MAX];
	struct stat st;

	path_in_tmpdir(parent, sizeof(parent), "missing");
	path_in_tmpdir(path, sizeof(path),
		       c->kind == REFUSE_MISSING_PARENT ? "missing/backing" : "backing");
	make_refused(c->kind, path);

	cr_assert_eq(disk_tier_open(path, 16, NULL, &disk), c->error, "%s", c->name);
	cr_assert_eq(disk, (struct disk_tier *)&disk, "%s: ret_disk changed", c->name);
	if (c->type) {
		cr_assert_eq(lstat(path, &st), 0);
		cr_assert_eq(st.st_mode & S_IFMT, c->type, "%s was replaced", c->name);
		if (c->type == S_IFREG)
			cr_assert_eq(st.st_size, 1, "the foreign file was changed");
	} else {
		cr_assert_eq(lstat(parent, &st), -1, "the parent directory was created");
	}
}

Test(disk_tier, bad_sizes)
{
	struct disk_tier *disk = NULL;
	char path[PATH_MAX];
	struct stat st;

	path_in_tmpdir(path, sizeof(path), "backing");
	cr_assert_eq(disk_tier_open(path, 0, NULL, &disk), -EINVAL);
	cr_assert_eq(disk_tier_open(path, UINT64_MAX / 2, NULL, &disk), -EFBIG);
	cr_assert_null(disk);
	cr_assert_eq(lstat(path, &st), -1, "a file was left behind");
}

/* ---- injected failures ---- */

enum fault_kind {
	FAULT_NONE,
	FAULT_ERROR, /* return -err */
	FAULT_SHORT, /* do the I/O, report one sector less */
	FAULT_PARTIAL_ALLOC, /* fallocate: allocate half, then return -err */
};

static struct {
	enum fault_kind kind;
	int err;
	unsigned failures; /* calls that fail before the real op runs */
	unsigned calls;
} fault;

static ssize_t fault_io(bool write, int fd, const struct iovec *iov, int iovcnt, off_t offset)
{
	ssize_t n;

	if (fault.calls++ < fault.failures && fault.kind == FAULT_ERROR)
		return -fault.err;
	if (write)
		n = disk_ops_posix.pwritev(fd, iov, iovcnt, offset);
	else
		n = disk_ops_posix.preadv(fd, iov, iovcnt, offset);
	if (fault.calls <= fault.failures && fault.kind == FAULT_SHORT && n > 0)
		n -= SWAPDEV_SECTOR_SIZE;
	return n;
}

static ssize_t fault_preadv(int fd, const struct iovec *iov, int iovcnt, off_t offset)
{
	return fault_io(false, fd, iov, iovcnt, offset);
}

static ssize_t fault_pwritev(int fd, const struct iovec *iov, int iovcnt, off_t offset)
{
	return fault_io(true, fd, iov, iovcnt, offset);
}

static int fault_fallocate(int fd, int mode, off_t offset, off_t len)
{
	fault.calls++;
	if (fault.kind == FAULT_ERROR)
		return -fault.err;
	if (fault.kind == FAULT_PARTIAL_ALLOC) {
		cr_assert_eq(disk_ops_posix.fallocate(fd, mode, offset, len / 2), 0);
		return -fault.err;
	}
	return disk_ops_posix.fallocate(fd, mode, offset, len);
}

static const struct disk_ops fault_ops = {
	.preadv = fault_preadv,
	.pwritev = fault_pwritev,
	.fallocate = fault_fallocate,
};

struct fallocate_case {
	enum fault_kind kind;
	int err;
	bool existing;
};

ParameterizedTestParameters(disk_tier, fallocate_failure)
{
	static struct fallocate_case cases[] = {
		{ FAULT_ERROR, ENOSPC, false },
		{ FAULT_ERROR, EOPNOTSUPP, false },
		{ FAULT_ERROR, EFBIG, false },
		{ FAULT_PARTIAL_ALLOC, ENOSPC, false },
		{ FAULT_ERROR, ENOSPC, true },
		{ FAULT_PARTIAL_ALLOC, ENOSPC, true },
	};

	return cr_make_param_array(struct fallocate_case, cases, ARRAY_SIZE(cases));
}

ParameterizedTest(struct fallocate_case *c, disk_tier, fallocate_failure)
{
	struct disk_tier *disk = (struct disk_tier *)&disk;
	char path[PATH_MAX];
	struct stat st;

	path_in_tmpdir(path, sizeof(path), "backing");
	if (c->existing)
		cr_assert_eq(write_file(path, 0600, "old"), 0);
	fault.kind = c->kind;
	fault.err = c->err;

	cr_assert_eq(disk_tier_open(path, 64, &fault_ops, &disk), -c->err);
	cr_assert_eq(fault.calls, 1);
	cr_assert_eq(disk, (struct disk_tier *)&disk);
	if (c->existing) {
		/* Not ours to remove, but any growth is given back. */
		cr_assert_eq(stat(path, &st), 0);
		cr_assert_eq(st.st_size, 3);
	} else {
		cr_assert_eq(lstat(path, &st), -1, "the created file was left behind");
		cr_assert_eq(errno, ENOENT);
	}
}

struct io_fault_case {
	char name[16];
	bool write;
	enum fault_kind kind;
	int err;
	unsigned failures;
	int result;
	unsigned calls;
};

ParameterizedTestParameters(disk_tier, io_fault)
{
	static struct io_fault_case cases[] = {
		{ "read EIO", false, FAULT_ERROR, EIO, 1, -EIO, 1 },
		{ "write EIO", true, FAULT_ERROR, EIO, 1, -EIO, 1 },
		{ "write ENOSPC", true, FAULT_ERROR, ENOSPC, 1, -ENOSPC, 1 },
		{ "short read", false, FAULT_SHORT, 0, 1, -EIO, 1 },
		{ "short write", true, FAULT_SHORT, 0, 1, -EIO, 1 },
		{ "read EINTR", false, FAULT_ERROR, EINTR, 2, 0, 3 },
		{ "write EINTR", true, FAULT_ERROR, EINTR, 2, 0, 3 },
	};

	return cr_make_param_array(struct io_fault_case, cases, ARRAY_SIZE(cases));
}

ParameterizedTest(struct io_fault_case *c, disk_tier, io_fault)
{
	const unsigned count = 4;
	_cleanup_free_ void *data = alloc_blocks(count);
	struct iovec iov[4];
	struct disk_tier *disk = NULL;
	char path[PATH_MAX];
	int r;

	path_in_tmpdir(path, sizeof(path), "backing");
	cr_assert_eq(disk_tier_open(path, 16, &fault_ops, &disk), 0);
	for (unsigned i = 0; i < count; i++) {
		iov[i].iov_base = (char *)data + i * BLOCK;
		iov[i].iov_len = BLOCK;
		fill_pattern(iov[i].iov_base, 5 + i, 1);
	}
	if (!c->write)
		cr_assert_eq(disk_write(disk, 5, iov, count), 0);
	memset(data, 0, count * BLOCK);

	fault.kind = c->kind;
	fault.err = c->err;
	fault.failures = c->failures;
	fault.calls = 0;
	if (c->write) {
		for (unsigned i = 0; i < count; i++)
			fill_pattern(iov[i].iov_base, 5 + i, 1);
		r = disk_write(disk, 5, iov, count);
	} else {
		r = disk_read(disk, 5, data);
	}
	cr_assert_eq(r, c->result, "%s: %d", c->name, r);
	cr_assert_eq(fault.calls, c->calls, "%s: %u calls", c->name, fault.calls);

	if (r == 0) {
		fault.kind = FAULT_NONE;
		for (unsigned i = 0; i < (c->write ? count : 1); i++) {
			if (c->write)
				cr_assert_eq(disk_read(disk, 5 + i, data), 0);
			assert_pattern(data, 5 + i, 1);
		}
	}
	disk_tier_close(disk);
}

/* A small tmpfs really runs out of space (tmpfs does O_DIRECT since 6.6). */
Test(disk_tier, real_enospc_on_small_fs)
{
	struct disk_tier *disk = NULL;
	char dir[PATH_MAX], path[PATH_MAX];
	struct stat st;
	int r;

	mount_private("tmpfs", "size=256k,mode=0700", dir, sizeof(dir));
	cr_assert_lt(snprintf(path, sizeof(path), "%s/backing", dir), (int)sizeof(path));

	r = disk_tier_open(path, 8, NULL, &disk);
	if (r == -EINVAL)
		cr_skip_test("this kernel's tmpfs does not do O_DIRECT");
	cr_assert_eq(r, 0, "%s", strerror(-r));
	disk_tier_close(disk);
	cr_assert_eq(unlink(path), 0);

	disk = NULL;
	cr_assert_eq(disk_tier_open(path, 1024, NULL, &disk), -ENOSPC);
	cr_assert_null(disk);
	cr_assert_eq(lstat(path, &st), -1, "the created file was left behind");
}

/* ramfs cannot do O_DIRECT: refused, and the file created for it removed. */
Test(disk_tier, odirect_refused)
{
	struct disk_tier *disk = NULL;
	char dir[PATH_MAX], path[PATH_MAX];
	struct stat st;
	int r;

	mount_private("ramfs", "mode=0700", dir, sizeof(dir));
	cr_assert_lt(snprintf(path, sizeof(path), "%s/backing", dir), (int)sizeof(path));

	r = disk_tier_open(path, 8, NULL, &disk);
	if (r == 0) {
		disk_tier_close(disk);
		cr_skip_test("this kernel's ramfs does O_DIRECT");
	}
	cr_assert_eq(r, -EINVAL, "%s", strerror(-r));
	cr_assert_eq(lstat(path, &st), -1, "the created file was left behind");
}

/* ---- I/O ---- */

Test(disk_tier, round_trip_single_and_multi_block)
{
	const uint64_t nr = 64;
	struct disk_tier *disk = open_disk(nr);
	_cleanup_free_ void *buf = alloc_blocks(8);
	struct iovec iov[8];

	for (uint64_t b = 0; b < nr; b++) {
		iov[0].iov_base = buf;
		iov[0].iov_len = BLOCK;
		fill_pattern(buf, b, 1);
		cr_assert_eq(disk_write(disk, b, iov, 1), 0);
	}
	for (unsigned i = 0; i < 8; i++) {
		iov[i].iov_base = (char *)buf + i * BLOCK;
		iov[i].iov_len = BLOCK;
		fill_pattern(iov[i].iov_base, 10 + i, 2);
	}
	cr_assert_eq(disk_write(disk, 10, iov, 8), 0);
	/* The last block, through an iovec array whose pages are not in order. */
	iov[0].iov_base = (char *)buf + 7 * BLOCK;
	iov[1].iov_base = buf;
	fill_pattern(iov[0].iov_base, 62, 3);
	fill_pattern(iov[1].iov_base, 63, 3);
	cr_assert_eq(disk_write(disk, 62, iov, 2), 0);

	for (uint64_t b = 0; b < nr; b++) {
		memset(buf, 0xa5, BLOCK);
		cr_assert_eq(disk_read(disk, b, buf), 0);
		assert_pattern(buf, b, b >= 62 ? 3 : b >= 10 && b < 18 ? 2 : 1);
	}
	disk_tier_close(disk);
}

static unsigned pwritev_calls;

static ssize_t counting_pwritev(int fd, const struct iovec *iov, int iovcnt, off_t offset)
{
	pwritev_calls++;
	cr_assert_leq(iovcnt, IOV_MAX);
	return disk_ops_posix.pwritev(fd, iov, iovcnt, offset);
}

/* More iovecs than one pwritev takes are split, in order. */
Test(disk_tier, write_longer_than_iov_max)
{
	const unsigned count = IOV_MAX + 76;
	const struct disk_ops ops = {
		.preadv = disk_ops_posix.preadv,
		.pwritev = counting_pwritev,
		.fallocate = disk_ops_posix.fallocate,
	};
	_cleanup_free_ struct iovec *iov = calloc(count, sizeof(*iov));
	_cleanup_free_ void *data = alloc_blocks(count);
	struct disk_tier *disk = NULL;
	char path[PATH_MAX];

	cr_assert_not_null(iov);
	path_in_tmpdir(path, sizeof(path), "backing");
	cr_assert_eq(disk_tier_open(path, count + 3, &ops, &disk), 0);
	for (unsigned i = 0; i < count; i++) {
		iov[i].iov_base = (char *)data + (size_t)i * BLOCK;
		iov[i].iov_len = BLOCK;
		fill_pattern(iov[i].iov_base, 3 + i, 4);
	}
	cr_assert_eq(disk_write(disk, 3, iov, count), 0);
	cr_assert_eq(pwritev_calls, 2);
	for (unsigned i = 0; i < count; i += 97) {
		cr_assert_eq(disk_read(disk, 3 + i, data), 0);
		assert_pattern(data, 3 + i, 4);
	}
	cr_assert_eq(disk_read(disk, 3 + count - 1, data), 0);
	assert_pattern(data, 3 + count - 1, 4);
	disk_tier_close(disk);
}

/* ---- the allocator ---- */

static void expect_alloc(struct disk_tier *disk, unsigned want, int count, uint64_t first)
{
	uint64_t got = UINT64_MAX;
	int r = disk_alloc(disk, want, &got);

	cr_assert_eq(r, count, "alloc(%u) = %d, expected %d", want, r, count);
	cr_assert_eq(got, first, "alloc(%u) at %" PRIu64 ", expected %" PRIu64, want, got, first);
}

static void expect_full(struct disk_tier *disk)
{
	uint64_t got = 12345;

	cr_assert_eq(disk_alloc(disk, 1, &got), -ENOSPC);
	cr_assert_eq(got, 12345, "ret_first changed on failure");
	cr_assert_eq(disk_blocks_used(disk), disk_blocks_total(disk));
}

Test(disk_tier, alloc_contiguous_next_fit)
{
	struct disk_tier *disk = open_disk(64);

	expect_alloc(disk, 8, 8, 0);
	expect_alloc(disk, 8, 8, 8);
	cr_assert_eq(disk_blocks_used(disk), 16);
	for (uint64_t b = 0; b < 8; b++)
		disk_release(disk, b);
	cr_assert_eq(disk_blocks_used(disk), 8);
	/* Next fit: continues after the last run, not at the hole at 0. */
	expect_alloc(disk, 4, 4, 16);
	expect_alloc(disk, 40, 40, 20);
	/* At the end it wraps around to the hole. */
	expect_alloc(disk, 8, 8, 0);
	expect_alloc(disk, 4, 4, 60);
	expect_full(disk);
	disk_tier_close(disk);
}

Test(disk_tier, alloc_runs_across_words)
{
	struct disk_tier *disk = open_disk(200);

	expect_alloc(disk, 200, 200, 0);
	for (uint64_t b = 60; b < 131; b++)
		disk_release(disk, b);
	expect_alloc(disk, 71, 71, 60);
	for (uint64_t b = 63; b < 65; b++)
		disk_release(disk, b);
	expect_alloc(disk, 5, 2, 63);
	disk_tier_close(disk);
}

Test(disk_tier, alloc_fragmented_takes_longest_run)
{
	struct disk_tier *disk = open_disk(16);
	static const uint64_t holes[] = { 2, 3, 6, 7, 8, 12 };

	expect_alloc(disk, 16, 16, 0);
	for (size_t i = 0; i < ARRAY_SIZE(holes); i++)
		disk_release(disk, holes[i]);
	cr_assert_eq(disk_blocks_used(disk), 10);
	expect_alloc(disk, 4, 3, 6);
	expect_alloc(disk, 4, 2, 2); /* from 9: 12 (1), then wraps: 2-3 (2) */
	expect_alloc(disk, 4, 1, 12);
	expect_full(disk);
	disk_tier_close(disk);
}

/* A free run that straddles the hint is found whole in the wrapped pass. */
Test(disk_tier, alloc_run_straddling_hint)
{
	struct disk_tier *disk = open_disk(16);

	expect_alloc(disk, 16, 16, 0);
	for (uint64_t b = 4; b < 12; b++)
		disk_release(disk, b);
	expect_alloc(disk, 2, 2, 4); /* hint is now 6 */
	disk_release(disk, 4);
	disk_release(disk, 5);
	expect_alloc(disk, 8, 8, 4);
	expect_full(disk);
	disk_tier_close(disk);
}

Test(disk_tier, alloc_want_more_than_free)
{
	struct disk_tier *disk = open_disk(70); /* not a multiple of 64 */

	expect_alloc(disk, 1000, 70, 0);
	expect_full(disk);
	disk_release(disk, 69);
	disk_release(disk, 0);
	expect_alloc(disk, 4, 1, 0);
	expect_alloc(disk, 4, 1, 69);
	expect_full(disk);
	disk_tier_close(disk);
}

Test(disk_tier, release_and_reuse)
{
	struct disk_tier *disk = open_disk(32);

	for (uint64_t b = 0; b < 32; b++)
		expect_alloc(disk, 1, 1, b);
	expect_full(disk);
	disk_release(disk, 17);
	cr_assert_eq(disk_blocks_used(disk), 31);
	expect_alloc(disk, 3, 1, 17);
	expect_full(disk);
	for (uint64_t b = 0; b < 32; b++)
		disk_release(disk, b);
	cr_assert_eq(disk_blocks_used(disk), 0);
	expect_alloc(disk, 32, 32, 0);
	disk_tier_close(disk);
}

/* ---- the allocator under threads ---- */

#define MT_THREADS 4
#define MT_BLOCKS 128 /* 4 threads x 32 runs of >= 1 block fill it */
#define MT_ITERATIONS 200000
#define MT_HELD 32

struct mt_run {
	uint64_t first;
	int count;
};

static struct disk_tier *mt_disk;
static pthread_barrier_t mt_start;
static uint8_t mt_owner[MT_BLOCKS]; /* 0 or the owning thread's id + 1 */
static unsigned mt_errors, mt_allocs, mt_enospc;

static void mt_release(uint8_t id, const struct mt_run *run)
{
	for (int i = 0; i < run->count; i++) {
		uint64_t b = run->first + i;

		if (__atomic_exchange_n(&mt_owner[b], 0, __ATOMIC_SEQ_CST) != id)
			__atomic_fetch_add(&mt_errors, 1, __ATOMIC_RELAXED);
		disk_release(mt_disk, b);
	}
}

static void *mt_thread(void *arg)
{
	uint8_t id = (uint8_t)(uintptr_t)arg;
	uint64_t rng = 0x9e3779b97f4a7c15 * id;
	struct mt_run held[MT_HELD];
	unsigned nr_held = 0;

	pthread_barrier_wait(&mt_start);
	for (unsigned iter = 0; iter < MT_ITERATIONS; iter++) {
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		if (nr_held == 0 || (nr_held < MT_HELD && (rng & 3) != 0)) {
			unsigned want = 1 + (rng >> 8) % 8;
			struct mt_run run;

			run.count = disk_alloc(mt_disk, want, &run.first);
			if (run.count == -ENOSPC) {
				__atomic_fetch_add(&mt_enospc, 1, __ATOMIC_RELAXED);
				continue;
			}
			if (run.count < 1 || run.count > (int)want ||
			    run.first + run.count > MT_BLOCKS) {
				__atomic_fetch_add(&mt_errors, 1, __ATOMIC_RELAXED);
				continue;
			}
			for (int i = 0; i < run.count; i++)
				if (__atomic_exchange_n(&mt_owner[run.first + i], id,
							__ATOMIC_SEQ_CST) != 0)
					__atomic_fetch_add(&mt_errors, 1, __ATOMIC_RELAXED);
			if (disk_blocks_used(mt_disk) > MT_BLOCKS)
				__atomic_fetch_add(&mt_errors, 1, __ATOMIC_RELAXED);
			__atomic_fetch_add(&mt_allocs, 1, __ATOMIC_RELAXED);
			held[nr_held++] = run;
		} else {
			unsigned victim = (rng >> 16) % nr_held;

			mt_release(id, &held[victim]);
			held[victim] = held[--nr_held];
		}
	}
	while (nr_held > 0)
		mt_release(id, &held[--nr_held]);
	return NULL;
}

Test(disk_tier, alloc_threads_never_share_a_block)
{
	pthread_t threads[MT_THREADS];

	mt_disk = open_disk(MT_BLOCKS);
	cr_assert_eq(pthread_barrier_init(&mt_start, NULL, MT_THREADS), 0);
	for (uintptr_t i = 0; i < MT_THREADS; i++)
		cr_assert_eq(pthread_create(&threads[i], NULL, mt_thread, (void *)(i + 1)), 0);
	for (unsigned i = 0; i < MT_THREADS; i++)
		cr_assert_eq(pthread_join(threads[i], NULL), 0);

	pthread_barrier_destroy(&mt_start);
	cr_assert_eq(mt_errors, 0, "%u blocks allocated twice or runs out of range", mt_errors);
	cr_assert_gt(mt_allocs, MT_THREADS * MT_BLOCKS);
	cr_assert_gt(mt_enospc, 0, "the test never filled the disk");
	cr_assert_eq(disk_blocks_used(mt_disk), 0);
	for (unsigned b = 0; b < MT_BLOCKS; b++)
		cr_assert_eq(mt_owner[b], 0);
	/* Everything came back: one run covers the whole disk again. */
	expect_alloc(mt_disk, MT_BLOCKS, MT_BLOCKS, 0);
	disk_tier_close(mt_disk);
}

/*
 * Homes: slot i's block is i when free, runs of free homes go together,
 * a busy home sends the page to a spare block, and a home is handed out
 * by disk_alloc() only when every spare is in use.
 */
Test(disk_tier, homes_then_spares)
{
	struct disk_tier *disk = open_disk(16 + 4);
	uint64_t first;

	disk_reserve_homes(disk, 16);
	cr_assert_eq(disk_alloc_home(disk, 3, 2, &first), 2);
	cr_assert_eq(first, 3);
	/* Home 3 is in use (the slot's previous copy): a spare. */
	cr_assert_eq(disk_alloc_home(disk, 3, 1, &first), 1);
	cr_assert_geq(first, 16);
	/* The run stops at the first home in use. */
	cr_assert_eq(disk_alloc_home(disk, 1, 4, &first), 2);
	cr_assert_eq(first, 1);
	/* A span of free homes, all or nothing. */
	cr_assert(!disk_claim(disk, 4, 3), "home 4 is in use");
	cr_assert(disk_claim(disk, 5, 3));
	cr_assert(!disk_claim(disk, 15, 2), "past the homes");
	cr_assert_eq(disk_blocks_used(disk), 2 + 1 + 2 + 3);
	/* The three other spares, then homes that are free. */
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(disk_alloc(disk, 1, &first), 1);
		cr_assert_geq(first, 16);
	}
	cr_assert_eq(disk_alloc(disk, 1, &first), 1);
	cr_assert_lt(first, 16);
	cr_assert(first == 0 || first >= 8, "block %" PRIu64 " was in use", first);
	disk_tier_close(disk);
}

/*
 * After open no extent of the file is unwritten: every later write is an
 * overwrite, which allocates nothing in the file system (a conversion
 * during writeback could wait on reclaim that waits on the daemon).
 */
Test(disk_tier, no_unwritten_extents_after_open)
{
	struct disk_tier *disk = open_disk(4096 + 3);
	struct {
		struct fiemap map;
		struct fiemap_extent extents[64];
	} req;
	char path[PATH_MAX];
	unsigned unwritten = 0;
	int fd;

	path_in_tmpdir(path, sizeof(path), "backing");
	fd = open(path, O_RDONLY);
	cr_assert_geq(fd, 0);
	memset(&req, 0, sizeof(req));
	req.map = (struct fiemap){ .fm_length = FIEMAP_MAX_OFFSET, .fm_extent_count = 64 };
	if (ioctl(fd, FS_IOC_FIEMAP, &req.map) < 0) {
		cr_log_warn("SKIP: %s has no FIEMAP (%m); nothing to check", path);
	} else {
		cr_assert_gt(req.map.fm_mapped_extents, 0, "a preallocated file has extents");
		for (unsigned i = 0; i < req.map.fm_mapped_extents; i++)
			unwritten += !!(req.extents[i].fe_flags & FIEMAP_EXTENT_UNWRITTEN);
		cr_assert_eq(unwritten, 0, "%u of %u extents still unwritten", unwritten,
			     req.map.fm_mapped_extents);
	}
	close(fd);
	disk_tier_close(disk);
}
