/* SPDX-License-Identifier: MIT */
/*
 * disk_tier.h - the backing file that holds written-back pages.
 *
 * The file holds one 4 KiB block per device slot at most. It is created
 * 0600 (an existing file is reused only if it is a regular file owned by
 * us; symlinks and anything else are refused), locked against a second
 * daemon, grown but never shrunk, preallocated with
 * fallocate() to its full size at open so that writeback never meets
 * ENOSPC, and accessed with O_DIRECT so that it never fills the page cache
 * under memory pressure. Discarded blocks are only freed in the bitmap
 * allocator: the file is never punched.
 *
 * All I/O goes through a struct disk_ops table. Production uses
 * disk_ops_posix; tests wrap it to inject EIO or ENOSPC. Buffers passed to
 * disk_read/disk_write must be aligned to SWAPDEV_PAGE_SIZE.
 *
 * Locking: the allocator has its own mutex; I/O needs no lock.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

struct disk_ops {
	ssize_t (*preadv)(int fd, const struct iovec *iov, int iovcnt, off_t offset);
	ssize_t (*pwritev)(int fd, const struct iovec *iov, int iovcnt, off_t offset);
	int (*fallocate)(int fd, int mode, off_t offset, off_t len);
};

extern const struct disk_ops disk_ops_posix;

struct disk_tier;

/*
 * Open or create the backing file at path with room for nr_blocks blocks,
 * holding an exclusive lock on it until disk_tier_close(). An existing
 * file is grown, never shrunk. ops may be NULL for disk_ops_posix. Errors:
 * -ELOOP (symlink), -EISDIR (a directory), -ENODEV (not a regular file),
 * -EPERM (not owned by us), -EBUSY (another process holds the lock: a
 * running swapdevd), -EINVAL (the file system refuses O_DIRECT), -ENOSPC
 * (the file system cannot hold it), -EOPNOTSUPP (cannot preallocate),
 * -EACCES, other open/fallocate errors.
 */
int disk_tier_open(const char *path, uint64_t nr_blocks, const struct disk_ops *ops,
		   struct disk_tier **ret_disk);
void disk_tier_close(struct disk_tier *disk); /* accepts NULL */

/*
 * Allocate up to want blocks, preferring one contiguous run. Returns the
 * number allocated (1..want) with the first in *ret_first (the run is
 * contiguous), or -ENOSPC when no block is free. Spare blocks (past the
 * homes) are taken first; a home only when no spare block is free.
 */
int disk_alloc(struct disk_tier *disk, unsigned want, uint64_t *ret_first);

/*
 * Make blocks [0, nr_homes) homes: block i is where the page of slot i
 * goes when it is free (disk_alloc_home), so that neighbouring slots are
 * neighbouring blocks and one read serves a readahead window, as in a
 * swap file. The blocks past them are spares for a slot whose home is
 * still in use (its previous copy not yet released).
 */
void disk_reserve_homes(struct disk_tier *disk, uint64_t nr_homes);

/*
 * Allocate blocks for the slots home, home + 1, ...: the run of free homes
 * from home, up to want blocks; when home itself is in use, one other
 * block (disk_alloc). Returns the count and the first block as disk_alloc.
 */
int disk_alloc_home(struct disk_tier *disk, uint64_t home, unsigned want, uint64_t *ret_first);

/* Allocate blocks [first, first + count) of the homes if every one is free. */
bool disk_claim(struct disk_tier *disk, uint64_t first, unsigned count);
void disk_release(struct disk_tier *disk, uint64_t block);

/*
 * Adoption: mark block in use because a slot word names it (the bitmap of
 * a process that died is rebuilt from the slot words). Returns 0, -ERANGE
 * (past the file's blocks), -EEXIST (already marked: named twice).
 */
int disk_adopt_block(struct disk_tier *disk, uint64_t block);

/* Read one block. Returns 0, -EIO (also for a short read), other -errno. */
int disk_read(struct disk_tier *disk, uint64_t block, void *buf);

/* Read count consecutive blocks starting at first into iovecs, as disk_write. */
int disk_readv(struct disk_tier *disk, uint64_t first, const struct iovec *iov, unsigned count);

/*
 * Write count consecutive blocks starting at first from iovecs (each
 * SWAPDEV_PAGE_SIZE, aligned). Returns 0 or -errno; a short write is -EIO.
 */
int disk_write(struct disk_tier *disk, uint64_t first, const struct iovec *iov, unsigned count);

uint64_t disk_blocks_total(const struct disk_tier *disk);
uint64_t disk_blocks_used(const struct disk_tier *disk);
