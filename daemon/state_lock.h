/* SPDX-License-Identifier: MIT */
/*
 * state_lock.h - a stored memfd's pages held locked by a mapping in the
 * supervisor, so that a daemon's death does not leave them unlocked (and
 * free to be swapped onto the device that needs them) until its successor
 * maps them. Design and limits in state_lock.c.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct state_lock {
	char *addr; /* NULL: nothing held */
	uint64_t len;
	uint64_t pages_seen;  /* resident pages met by the running pass */
	uint64_t pages_held;  /* the same at the end of the last complete pass */
	uint64_t pages_added; /* pages this process mapped for the first time, ever */
};

/*
 * Map fd read-only, shared, lock-on-fault and unpopulated, when it is a
 * shmem file (memfd, tmpfs) whose size is sealed (F_SEAL_SHRINK and
 * F_SEAL_GROW). Returns 1 when held, 0 when fd is not such a file (lock is
 * left unheld), or -errno from fstat, mmap or mlock2 (RLIMIT_MEMLOCK:
 * -EAGAIN or -ENOMEM without CAP_IPC_LOCK, since the whole sparse size
 * counts against it).
 */
int state_lock_map(struct state_lock *lock, int fd);

/* Unmap; the pages stay in the file. Accepts an unheld lock. */
void state_lock_unmap(struct state_lock *lock);

/*
 * One slice of a pass: from *offset on, find the next allocated range of
 * fd (SEEK_DATA, SEEK_HOLE) and map at most STATE_LOCK_SLICE_PAGES of its
 * pages that are in memory (mincore) and not yet mapped here (pagemap_fd,
 * /proc/self/pagemap, or -1 to populate every resident page again).
 * Advances *offset. Returns true when the pass over this file is
 * complete (*offset is then 0 again).
 *
 * Call it only while a daemon that keeps every allocated page of fd
 * locked is alive: a page that is out on swap is skipped, but one that
 * is being written out shows as in memory, and mapping it waits for the
 * write, which only a daemon can finish.
 */
bool state_lock_step(struct state_lock *lock, int fd, int pagemap_fd, uint64_t *offset);
