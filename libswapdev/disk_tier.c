/* SPDX-License-Identifier: MIT */
/*
 * disk_tier.c - the preallocated O_DIRECT backing file and its block allocator.
 *
 * The file. Swap contents are other processes' memory, so the file is
 * created 0600 and an existing one is tightened to 0600 and must be owned
 * by us. The last path component must not be a symlink (O_NOFOLLOW: a
 * symlink planted by someone else must not make us write swap data through
 * it or clobber its target), and fstat() after open refuses anything but a
 * regular file. Before anything about the file changes, an exclusive OFD
 * lock is taken on it and held until close: another swapdevd given the same
 * path (two configurations sharing the default, a hand-started daemon
 * beside the service) is refused with -EBUSY instead of truncating or
 * overwriting the disk tier a running daemon holds pages in. The lock
 * belongs to the open file description, so closing some other descriptor
 * of ours on the file does not drop it, and the kernel drops it when the
 * daemon dies. An existing file is reused as it is: its contents are
 * meaningless after a restart. It is never shrunk (a file left by a bigger
 * device keeps its unused tail), only grown, and preallocated to its full
 * size with fallocate() at open, so that writeback, which runs when memory
 * is short, never meets ENOSPC; a file system that cannot preallocate
 * (-EOPNOTSUPP) is refused rather than silently used sparse, and what was
 * never written is then written with zeros (disk_fill_unwritten() says
 * why). I/O is O_DIRECT so that
 * written-back pages never land in the page cache, which would hand the
 * memory we just freed straight back to the kernel under pressure. Blocks
 * freed by a discard only clear their bitmap bit: the file is never
 * punched, or the space could be gone when writeback needs it again.
 *
 * The file is opened without O_DIRECT and O_DIRECT is switched on with
 * F_SETFL after the fstat() check. The kernel's check is the same, but a
 * file system that refuses O_DIRECT (EINVAL) then fails after we know
 * whether we created the file, so we can remove it; open(O_CREAT|O_DIRECT)
 * would leave an empty file behind. O_NONBLOCK|O_NOCTTY keep the open from
 * blocking on a FIFO or device node, or acquiring a terminal, before the
 * fstat() check refuses it. A refused O_DIRECT (tmpfs before Linux 6.6,
 * ramfs) is -EINVAL; the caller reports that the file system cannot do
 * direct I/O.
 *
 * XXX: on copy-on-write file systems (btrfs without nodatacow, ZFS) a
 * rewrite allocates new blocks, so preallocation does not rule out ENOSPC
 * there. Such a write fails with -ENOSPC and the caller keeps the page.
 *
 * The ops table. All I/O goes through struct disk_ops so that tests can
 * inject failures. Each op returns what the system call returns, except
 * that a failure is -errno instead of -1 with errno set: preadv/pwritev
 * return the byte count or -errno, fallocate returns 0 or -errno. A short
 * transfer is returned as is; this module turns it into -EIO (blocks past
 * the end of a file someone truncated must fail, not read as zeros).
 * -EINTR is retried here.
 *
 * The allocator. One bit per block (1 = in use) in an array of 64-bit
 * words; bits past the last block are set once, so that scans stop there
 * without a bounds check. With homes reserved (the store does), the page
 * of slot i goes to block i whenever that block is free
 * (disk_alloc_home()): the kernel reads neighbouring slots together (swap
 * readahead), and with neighbouring blocks that is one read, as from a
 * swap file, where blocks handed out in allocation order scattered a
 * readahead window over the file. A home is in use only while the slot's
 * previous copy there is still referenced (a write replaces it only once
 * the new copy is on disk, and a read in flight may pin it), so such a
 * write takes a spare block past the homes, found by disk_alloc(): it
 * looks for one run of `want` free blocks among the spares, next-fit: the
 * scan starts where the previous allocation ended and wraps once. Only
 * when every spare is in use does it take a free home. Free and used bits
 * are found a word at a time with ctz. When no run of `want` exists the longest run
 * seen is taken (the first of equals in scan order): the caller writes the
 * rest of its batch with another call. The scan is O(words) in the common
 * case (16 GiB of blocks = 64 Ki words, tens of microseconds) but O(runs)
 * when the bitmap is badly fragmented and no run of `want` exists; it runs
 * once per batch, not per page.
 *
 * Locking: disk->lock protects the bitmap and the next-fit hint. It is a
 * leaf lock: no other lock is taken under it, and no I/O is done under it.
 * `used` is written under the lock and read without it (relaxed atomic).
 * I/O needs no lock: callers own the blocks they read and write.
 */
#include <assert.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include "common.h"
#include "disk_tier.h"

#define BITS_PER_WORD 64

/* Largest block count whose byte size fits in off_t. */
#define DISK_MAX_BLOCKS ((uint64_t)INT64_MAX >> SWAPDEV_PAGE_SHIFT)

struct disk_tier {
	const struct disk_ops *ops;
	int fd;
	uint64_t nr_blocks;
	uint64_t nr_homes; /* blocks [0, nr_homes) are slot homes (disk_reserve_homes) */
	uint64_t used;	   /* blocks allocated; written under lock, read relaxed */

	pthread_mutex_t lock;
	uint64_t hint;	/* next-fit: where the next scan starts (lock) */
	uint64_t *bitmap; /* 1 = allocated, padding bits set (lock) */
};

static ssize_t disk_posix_preadv(int fd, const struct iovec *iov, int iovcnt, off_t offset)
{
	ssize_t n = preadv(fd, iov, iovcnt, offset);

	return n < 0 ? -errno : n;
}

static ssize_t disk_posix_pwritev(int fd, const struct iovec *iov, int iovcnt, off_t offset)
{
	ssize_t n = pwritev(fd, iov, iovcnt, offset);

	return n < 0 ? -errno : n;
}

static int disk_posix_fallocate(int fd, int mode, off_t offset, off_t len)
{
	return fallocate(fd, mode, offset, len) < 0 ? -errno : 0;
}

const struct disk_ops disk_ops_posix = {
	.preadv = disk_posix_preadv,
	.pwritev = disk_posix_pwritev,
	.fallocate = disk_posix_fallocate,
};

/* First index in [pos, end) whose bit equals value, or end. */
static uint64_t bitmap_find(const uint64_t *bitmap, uint64_t pos, uint64_t end, bool value)
{
	while (pos < end) {
		uint64_t base = pos - pos % BITS_PER_WORD;
		uint64_t word = bitmap[pos / BITS_PER_WORD];

		if (!value)
			word = ~word;
		word &= ~UINT64_C(0) << (pos % BITS_PER_WORD);
		if (word)
			return MIN(base + (uint64_t)__builtin_ctzll(word), end);
		pos = base + BITS_PER_WORD;
	}
	return end;
}

static void bitmap_set_range(uint64_t *bitmap, uint64_t start, uint64_t len)
{
	while (len > 0) {
		unsigned bit = start % BITS_PER_WORD;
		uint64_t n = MIN(len, (uint64_t)(BITS_PER_WORD - bit));
		uint64_t mask = n == BITS_PER_WORD ? ~UINT64_C(0) : (UINT64_C(1) << n) - 1;

		bitmap[start / BITS_PER_WORD] |= mask << bit;
		start += n;
		len -= n;
	}
}

static inline bool bitmap_test(const uint64_t *bitmap, uint64_t bit)
{
	return bitmap[bit / BITS_PER_WORD] & (UINT64_C(1) << (bit % BITS_PER_WORD));
}

/*
 * Open path as described above. On success *ret_created tells whether the
 * file is new (and must be removed if the open fails later).
 */
static int disk_open_file(const char *path, bool *ret_created)
{
	const int flags = O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
	int fd;

	/* Two rounds cover a file removed between the two opens. */
	for (int attempt = 0; attempt < 2; attempt++) {
		fd = open(path, flags | O_CREAT | O_EXCL, 0600);
		if (fd >= 0) {
			*ret_created = true;
			return fd;
		}
		if (errno != EEXIST)
			return -errno;
		fd = open(path, flags);
		if (fd >= 0) {
			*ret_created = false;
			return fd;
		}
		if (errno != ENOENT)
			return -errno;
	}
	return -ENOENT;
}

/* Remove the file we created, unless path now names something else. */
static void disk_unlink_created(const char *path, const struct stat *created)
{
	struct stat st;

	if (fstatat(AT_FDCWD, path, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    st.st_dev == created->st_dev && st.st_ino == created->st_ino)
		unlink(path);
}

/* Exclusive lock on the whole file for as long as fd stays open. */
static int disk_lock_file(int fd)
{
	struct flock lock = { .l_type = F_WRLCK, .l_whence = SEEK_SET };

	if (fcntl(fd, F_OFD_SETLK, &lock) == 0)
		return 0;
	return errno == EAGAIN || errno == EACCES ? -EBUSY : -errno;
}

/*
 * Check what fd is, lock it, make it 0600, O_DIRECT and at least size
 * bytes, all allocated. Nothing changes before the checks and the lock. On
 * failure a file we created is removed, and an existing file keeps its old
 * size.
 */
#define FILL_CHUNK (1u << 20)	 /* bytes of zeros per write */
#define FIEMAP_EXTENTS 64	 /* extents asked per FS_IOC_FIEMAP */

/* Write zeros over [start, end) of fd (O_DIRECT, 4 KiB aligned). */
static int disk_write_zeros(int fd, const void *zeros, off_t start, off_t end)
{
	while (start < end) {
		size_t len = (size_t)MIN((off_t)FILL_CHUNK, end - start);
		ssize_t n = pwrite(fd, zeros, len, start);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0 || n % SWAPDEV_PAGE_SIZE)
			return -EIO;
		start += n;
	}
	return 0;
}

/*
 * Write zeros over the file's unwritten (preallocated, never written)
 * extents, so that every later write is an overwrite. Why: a first write
 * into an unwritten extent makes the file system convert it, and one in the
 * middle of it split it, allocating metadata while the daemon writes swap
 * pages out. That memory is charged to the daemon's memory cgroup, whose
 * reclaim may wait for swap writeback to the daemon itself: a deadlock,
 * seen in the self-pressure fault test once pages went to their slots'
 * homes all over the file. It costs one sequential write of the file at
 * its first start (and of any part grown since). A file system without
 * FIEMAP keeps its extents as they are.
 */
static int disk_fill_unwritten(int fd, off_t size)
{
	struct fiemap *map;
	void *zeros = NULL;
	off_t pos = 0;
	bool last = false;
	int r = 0;

	map = calloc(1, sizeof(*map) + FIEMAP_EXTENTS * sizeof(struct fiemap_extent));
	if (!map)
		return -ENOMEM;
	while (!last && pos < size && r == 0) {
		*map = (struct fiemap){ .fm_start = (uint64_t)pos,
					.fm_length = (uint64_t)(size - pos),
					.fm_extent_count = FIEMAP_EXTENTS };
		if (ioctl(fd, FS_IOC_FIEMAP, map) < 0) {
			if (errno != EOPNOTSUPP && errno != ENOTTY)
				r = -errno;
			break;
		}
		if (map->fm_mapped_extents == 0)
			break;
		for (unsigned i = 0; i < map->fm_mapped_extents && r == 0; i++) {
			const struct fiemap_extent *e = &map->fm_extents[i];
			off_t start = (off_t)e->fe_logical, end = start + (off_t)e->fe_length;

			last = e->fe_flags & FIEMAP_EXTENT_LAST;
			pos = MAX(pos, end);
			if (!(e->fe_flags & FIEMAP_EXTENT_UNWRITTEN))
				continue;
			if (!zeros) {
				zeros = aligned_alloc(SWAPDEV_PAGE_SIZE, FILL_CHUNK);
				if (!zeros) {
					r = -ENOMEM;
					break;
				}
				memset(zeros, 0, FILL_CHUNK);
			}
			r = disk_write_zeros(fd, zeros, start, MIN(end, size));
		}
	}
	free(zeros);
	free(map);
	return r;
}

static int disk_prepare_file(int fd, const char *path, bool created, off_t size,
			     const struct disk_ops *ops)
{
	struct stat st;
	int flags, r;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (!S_ISREG(st.st_mode))
		return -ENODEV;
	if (st.st_uid != geteuid())
		return -EPERM;
	r = disk_lock_file(fd);
	if (r < 0)
		return r;

	if ((st.st_mode & 07777) != 0600 && fchmod(fd, 0600) < 0) {
		r = -errno;
		goto out_remove;
	}

	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, (flags & ~O_NONBLOCK) | O_DIRECT) < 0) {
		r = -errno;
		goto out_remove;
	}

	r = ops->fallocate(fd, 0, 0, size);
	if (r < 0) {
		/*
		 * A failed fallocate may have grown the file part of the way.
		 * Shrinking it back to its old size (never below; we hold the
		 * lock) is best effort: the fallocate error is the one to
		 * report.
		 */
		if (!created && st.st_size < size)
			(void)!ftruncate(fd, st.st_size);
		goto out_remove;
	}
	r = disk_fill_unwritten(fd, size);
	if (r < 0)
		goto out_remove;
	return 0;

out_remove:
	if (created)
		disk_unlink_created(path, &st);
	return r;
}

int disk_tier_open(const char *path, uint64_t nr_blocks, const struct disk_ops *ops,
		   struct disk_tier **ret_disk)
{
	struct disk_tier *disk;
	uint64_t nr_words;
	bool created = false;
	int fd, r;

	if (nr_blocks == 0)
		return -EINVAL;
	if (nr_blocks > DISK_MAX_BLOCKS)
		return -EFBIG;

	disk = calloc(1, sizeof(*disk));
	if (!disk)
		return -ENOMEM;
	disk->fd = -1;
	disk->ops = ops ? ops : &disk_ops_posix;
	disk->nr_blocks = nr_blocks;
	nr_words = DIV_ROUND_UP(nr_blocks, BITS_PER_WORD);
	disk->bitmap = calloc(nr_words, sizeof(uint64_t));
	if (!disk->bitmap) {
		r = -ENOMEM;
		goto out_free;
	}
	bitmap_set_range(disk->bitmap, nr_blocks, nr_words * BITS_PER_WORD - nr_blocks);
	r = -pthread_mutex_init(&disk->lock, NULL);
	if (r < 0)
		goto out_free;

	fd = disk_open_file(path, &created);
	if (fd < 0) {
		r = fd;
		goto out_destroy;
	}
	r = disk_prepare_file(fd, path, created, (off_t)(nr_blocks << SWAPDEV_PAGE_SHIFT),
			      disk->ops);
	if (r < 0) {
		close(fd);
		goto out_destroy;
	}
	disk->fd = fd;
	*ret_disk = disk;
	return 0;

out_destroy:
	pthread_mutex_destroy(&disk->lock);
out_free:
	free(disk->bitmap);
	free(disk);
	return r;
}

void disk_tier_close(struct disk_tier *disk)
{
	if (!disk)
		return;
	if (disk->fd >= 0)
		close(disk->fd);
	pthread_mutex_destroy(&disk->lock);
	free(disk->bitmap);
	free(disk);
}

/*
 * Find the run to allocate in blocks [lo, hi): the first run of want free
 * blocks from hint (wrapping once to lo), else the longest run seen.
 * Caller holds disk->lock. Returns the run's length, 0 when none is free.
 */
static uint64_t disk_find_run(const struct disk_tier *disk, uint64_t lo, uint64_t hi,
			      uint64_t hint, uint64_t want, uint64_t *ret_start)
{
	uint64_t pos = hint, limit = hi;
	uint64_t best_start = 0, best_len = 0;

	for (int pass = 0; pass < 2; pass++) {
		while (pos < limit) {
			uint64_t start = bitmap_find(disk->bitmap, pos, limit, false);
			uint64_t end;

			if (start == limit)
				break;
			/* In the wrapped pass a run may extend past the hint. */
			end = bitmap_find(disk->bitmap, start, MIN(start + want, hi), true);
			if (end - start > best_len) {
				best_start = start;
				best_len = end - start;
				if (best_len == want)
					goto out;
			}
			pos = end;
		}
		pos = lo;
		limit = hint;
	}
out:
	*ret_start = best_start;
	return best_len;
}

void disk_reserve_homes(struct disk_tier *disk, uint64_t nr_homes)
{
	assert(nr_homes <= disk->nr_blocks);

	pthread_mutex_lock(&disk->lock);
	disk->nr_homes = nr_homes;
	disk->hint = MAX(disk->hint, nr_homes);
	pthread_mutex_unlock(&disk->lock);
}

int disk_alloc(struct disk_tier *disk, unsigned want, uint64_t *ret_first)
{
	uint64_t free_blocks, start, len;

	assert(want > 0 && want <= INT_MAX);

	pthread_mutex_lock(&disk->lock);
	free_blocks = disk->nr_blocks - disk->used;
	if (free_blocks == 0) {
		pthread_mutex_unlock(&disk->lock);
		return -ENOSPC;
	}
	/* If all free blocks are in one run, that run is the answer: stop at it. */
	want = (unsigned)MIN((uint64_t)want, free_blocks);
	len = disk_find_run(disk, disk->nr_homes, disk->nr_blocks, disk->hint, want, &start);
	if (len > 0)
		disk->hint = start + len == disk->nr_blocks ? disk->nr_homes : start + len;
	else /* every spare block is in use: take a home that is free */
		len = disk_find_run(disk, 0, disk->nr_homes, 0, want, &start);
	assert(len > 0);
	bitmap_set_range(disk->bitmap, start, len);
	counter_add(&disk->used, len);
	pthread_mutex_unlock(&disk->lock);

	*ret_first = start;
	return (int)len;
}

int disk_alloc_home(struct disk_tier *disk, uint64_t home, unsigned want, uint64_t *ret_first)
{
	uint64_t len = 0;

	assert(want > 0 && want <= INT_MAX);

	pthread_mutex_lock(&disk->lock);
	if (home < disk->nr_homes)
		len = bitmap_find(disk->bitmap, home, MIN(home + want, disk->nr_homes), true) -
		      home;
	if (len > 0) {
		bitmap_set_range(disk->bitmap, home, len);
		counter_add(&disk->used, len);
	}
	pthread_mutex_unlock(&disk->lock);
	if (len == 0) /* the home is still in use, or a spare took it: any block */
		return disk_alloc(disk, 1, ret_first);
	*ret_first = home;
	return (int)len;
}

bool disk_claim(struct disk_tier *disk, uint64_t first, unsigned count)
{
	bool free_run;

	assert(count > 0);

	pthread_mutex_lock(&disk->lock);
	free_run = first < disk->nr_homes && count <= disk->nr_homes - first &&
		   bitmap_find(disk->bitmap, first, first + count, true) == first + count;
	if (free_run) {
		bitmap_set_range(disk->bitmap, first, count);
		counter_add(&disk->used, count);
	}
	pthread_mutex_unlock(&disk->lock);
	return free_run;
}

void disk_release(struct disk_tier *disk, uint64_t block)
{
	assert(block < disk->nr_blocks);

	pthread_mutex_lock(&disk->lock);
	assert(bitmap_test(disk->bitmap, block));
	disk->bitmap[block / BITS_PER_WORD] &= ~(UINT64_C(1) << (block % BITS_PER_WORD));
	counter_add(&disk->used, -1);
	pthread_mutex_unlock(&disk->lock);
}

int disk_adopt_block(struct disk_tier *disk, uint64_t block)
{
	int r = 0;

	if (block >= disk->nr_blocks)
		return -ERANGE;
	pthread_mutex_lock(&disk->lock);
	if (bitmap_test(disk->bitmap, block)) {
		r = -EEXIST;
	} else {
		disk->bitmap[block / BITS_PER_WORD] |= UINT64_C(1) << (block % BITS_PER_WORD);
		counter_add(&disk->used, 1);
	}
	pthread_mutex_unlock(&disk->lock);
	return r;
}

/* One preadv/pwritev of iovcnt whole blocks at block, retried on EINTR. */
static int disk_io(struct disk_tier *disk, bool write, const struct iovec *iov, int iovcnt,
		   uint64_t block)
{
	size_t len = (size_t)iovcnt * SWAPDEV_PAGE_SIZE;
	off_t offset = (off_t)(block << SWAPDEV_PAGE_SHIFT);
	ssize_t n;

	for (int i = 0; i < iovcnt; i++)
		assert(iov[i].iov_len == SWAPDEV_PAGE_SIZE &&
		       (uintptr_t)iov[i].iov_base % SWAPDEV_PAGE_SIZE == 0);

	do {
		if (write)
			n = disk->ops->pwritev(disk->fd, iov, iovcnt, offset);
		else
			n = disk->ops->preadv(disk->fd, iov, iovcnt, offset);
	} while (n == -EINTR);
	if (n < 0)
		return (int)n;
	return (size_t)n == len ? 0 : -EIO;
}

int disk_read(struct disk_tier *disk, uint64_t block, void *buf)
{
	struct iovec iov = { .iov_base = buf, .iov_len = SWAPDEV_PAGE_SIZE };

	assert(block < disk->nr_blocks);
	return disk_io(disk, false, &iov, 1, block);
}

/* count consecutive blocks from first, IOV_MAX iovecs per system call. */
static int disk_io_run(struct disk_tier *disk, bool write, uint64_t first,
		       const struct iovec *iov, unsigned count)
{
	assert(count > 0 && first < disk->nr_blocks && count <= disk->nr_blocks - first);

	while (count > 0) {
		unsigned n = MIN(count, (unsigned)IOV_MAX);
		int r = disk_io(disk, write, iov, (int)n, first);

		if (r < 0)
			return r;
		first += n;
		iov += n;
		count -= n;
	}
	return 0;
}

int disk_write(struct disk_tier *disk, uint64_t first, const struct iovec *iov, unsigned count)
{
	return disk_io_run(disk, true, first, iov, count);
}

int disk_readv(struct disk_tier *disk, uint64_t first, const struct iovec *iov, unsigned count)
{
	return disk_io_run(disk, false, first, iov, count);
}

uint64_t disk_blocks_total(const struct disk_tier *disk)
{
	return disk->nr_blocks;
}

uint64_t disk_blocks_used(const struct disk_tier *disk)
{
	return counter_read(&disk->used);
}
