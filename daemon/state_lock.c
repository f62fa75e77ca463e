/* SPDX-License-Identifier: MIT */
/*
 * state_lock.c - the supervisor's locked mapping of a stored memfd.
 *
 * Why. swapdevd keeps its whole state (slot words, pool chunks) in the
 * "state" memfd and locks it with mlockall. When it dies, exit_mmap
 * unlocks those shmem pages, and until the successor maps and locks them
 * again (10 to 60 ms, more under load, seconds in a crash-loop back-off)
 * reclaim may swap them out: onto swapdev's own area, which only that
 * successor can serve, and the successor deadlocks faulting on its own
 * state in store_adopt() (docs/RESTART.md, §6.5). A page stays unevictable
 * while any VM_LOCKED mapping maps it (reclaim's rmap walk finds the
 * mapping and gives up), so the supervisor, which outlives every daemon,
 * maps the pages too, in a locked mapping.
 *
 * How. The memfd is sparse and may be 32 times RAM: mapping it must not
 * populate it, and a read fault on a tmpfs hole allocates a page. So:
 *
 *   - state_lock_map(): one mmap of the whole (sealed, fixed) size,
 *     PROT_READ, MAP_SHARED | MAP_NORESERVE, then mlock2(MLOCK_ONFAULT):
 *     nothing is faulted in, each page is locked when it is first mapped.
 *     (The supervisor's mlockall(MCL_FUTURE) is lock-on-fault for the
 *     same reason: a plain VM_LOCKED mmap would populate every hole.)
 *   - state_lock_step(), while the daemon is ready (so every allocated page
 *     is in memory and locked by it): the next allocated range (SEEK_DATA,
 *     SEEK_HOLE), at most STATE_LOCK_SLICE_PAGES of it; mincore() says
 *     which of its pages are in memory, /proc/self/pagemap which are
 *     mapped here already; the runs in memory and not yet mapped get
 *     MADV_POPULATE_READ (Linux 5.14; before, a read of one byte per page).
 *     Fault-around maps cached neighbours for free, never allocates.
 *
 * Cost, measured on the development VM (Linux 6.18): mapping 1 GiB of
 * allocated pages the first time 160 ms; a later pass over them, all
 * mapped already, 11 ms (pagemap 10, mincore 1; 45 ms without pagemap).
 * A slice of 2048 pages costs at most ~1.3 ms, so the supervisor's
 * reaction to a death is never delayed longer than that.
 *
 * What it does not do:
 *   - hold pages allocated since the last pass (the supervisor runs one
 *     every few seconds and at each READY=1): a death leaves those as
 *     exposed as before;
 *   - guarantee nothing is allocated: a range punched (pool chunk freed)
 *     between mincore() and the populate, a window of microseconds, gets a
 *     fresh zero page back. The data are right (a hole reads as zeros
 *     too), the page is a few KiB of memory the daemon does not count,
 *     until the pool punches that chunk again;
 *   - stop a page being written out to swap at the moment of a death:
 *     mincore() calls it resident, and the populate would wait for the
 *     write, which only a daemon can finish. So the supervisor calls this
 *     only while a daemon is ready, between polls, and the window is one
 *     slice of a death it has not seen yet.
 *
 * Punching a hole (state_region_punch(), fallocate) unmaps the range from
 * every mapping, this one included: freed pool memory is not kept alive
 * here. SEEK_DATA and SEEK_HOLE move the file offset, which is shared with
 * the daemon's descriptors (the same open file): the daemon uses only
 * pread, pwrite and lseek with explicit offsets on these memfds, so the
 * shared offset is never read.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "common.h"
#include "state_lock.h"

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22 /* Linux 5.14 */
#endif

#define STATE_LOCK_SLICE_PAGES 2048

/* Per slice; the supervisor is single-threaded and allocates nothing. */
static unsigned char resident[STATE_LOCK_SLICE_PAGES];
static uint64_t pagemap[STATE_LOCK_SLICE_PAGES];

#define PAGEMAP_PRESENT (UINT64_C(1) << 63)

int state_lock_map(struct state_lock *lock, int fd)
{
	struct statfs sfs;
	struct stat st;
	char *addr;
	int seals;

	*lock = (struct state_lock){ 0 };
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_size == 0)
		return 0;
	if (fstatfs(fd, &sfs) < 0)
		return -errno;
	/* Not hugetlbfs (never swapped), not a disk file (its own backing). */
	if (sfs.f_type != TMPFS_MAGIC)
		return 0;
	/* A file that may shrink could SIGBUS the touch fallback, and one that
	 * may grow would outgrow the mapping. */
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 || (seals & (F_SEAL_SHRINK | F_SEAL_GROW)) != (F_SEAL_SHRINK | F_SEAL_GROW))
		return 0;
	addr = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED | MAP_NORESERVE, fd, 0);
	if (addr == MAP_FAILED)
		return -errno;
	/* Already so under the supervisor's mlockall(MCL_FUTURE | MCL_ONFAULT);
	 * needed where that mlockall failed. */
	if (mlock2(addr, (size_t)st.st_size, MLOCK_ONFAULT) < 0) {
		int r = -errno;

		munmap(addr, (size_t)st.st_size);
		return r;
	}
	lock->addr = addr;
	lock->len = (uint64_t)st.st_size;
	return 1;
}

void state_lock_unmap(struct state_lock *lock)
{
	if (lock->addr)
		munmap(lock->addr, (size_t)lock->len);
	*lock = (struct state_lock){ 0 };
}

static void populate(char *p, size_t len, size_t page_size)
{
	if (madvise(p, len, MADV_POPULATE_READ) == 0 || errno != EINVAL)
		return;
	for (size_t i = 0; i < len; i += page_size)
		(void)*(volatile char *)(p + i);
}

bool state_lock_step(struct state_lock *lock, int fd, int pagemap_fd, uint64_t *offset)
{
	const size_t page_size = (size_t)sysconf(_SC_PAGESIZE);
	uint64_t start, end;
	size_t n, run = 0;
	bool mapped;

	if (!lock->addr || !fd_next_data(fd, *offset, lock->len, &start, &end)) {
		lock->pages_held = lock->pages_seen;
		lock->pages_seen = 0;
		*offset = 0;
		return true;
	}
	start &= ~(uint64_t)(page_size - 1);
	end = MIN(end, start + (uint64_t)STATE_LOCK_SLICE_PAGES * page_size);
	n = (size_t)DIV_ROUND_UP(end - start, page_size);
	*offset = start + n * page_size;
	if (mincore(lock->addr + start, n * page_size, resident) < 0)
		return false;
	mapped = pagemap_fd >= 0 &&
		 pread(pagemap_fd, pagemap, n * sizeof(uint64_t),
		       (off_t)((uintptr_t)(lock->addr + start) / page_size * sizeof(uint64_t))) ==
			 (ssize_t)(n * sizeof(uint64_t));
	for (size_t i = 0; i <= n; i++) {
		bool in_memory = i < n && (resident[i] & 1);

		lock->pages_seen += in_memory;
		if (in_memory && !(mapped && (pagemap[i] & PAGEMAP_PRESENT))) {
			run++;
			continue;
		}
		if (run) {
			populate(lock->addr + start + (i - run) * page_size, run * page_size,
				 page_size);
			lock->pages_added += run;
		}
		run = 0;
	}
	return false;
}
