/* SPDX-License-Identifier: MIT */
/*
 * common.h - small helpers shared by every libswapdev module.
 *
 * Error convention (systemd style): functions that can fail return int or
 * ssize_t, >= 0 on success and -errno on failure. Output parameters are
 * named ret_* and are left untouched on failure.
 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

#define SWAPDEV_PAGE_SHIFT 12
#define SWAPDEV_PAGE_SIZE (1u << SWAPDEV_PAGE_SHIFT)
#define SWAPDEV_SECTOR_SIZE 512u

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define DIV_ROUND_UP(n, d) (((n) + (d)-1) / (d))
#define ALIGN_UP(n, a) (((n) + (a)-1) & ~((__typeof__(n))(a)-1))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield");
#endif
}

#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void freep(void *p)
{
	free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}
#define _cleanup_close_ _cleanup_(closep)

/* Milliseconds of CLOCK_MONOTONIC: for intervals, immune to clock jumps. */
static inline uint64_t monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Nanoseconds of CLOCK_MONOTONIC: for short intervals and timelines. */
static inline uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CPU time the calling thread has used, in microseconds. */
static inline uint64_t thread_cpu_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* Relaxed atomic counters: exact totals, no ordering implied. */
#define counter_add(p, n) __atomic_fetch_add((p), (n), __ATOMIC_RELAXED)
#define counter_read(p) __atomic_load_n((p), __ATOMIC_RELAXED)

/*
 * Fault in memory for writing (fresh anonymous memory, or io_uring rings
 * before their first use), so that its first use does not page-fault.
 * MAP_POPULATE is not enough: the kernel skips populating mappings that
 * mlockall(MCL_FUTURE | MCL_ONFAULT) marks lock-on-fault.
 * Kernels before 5.14 lack MADV_POPULATE_WRITE: the touch alone faults.
 * The touch matters after the madvise too: a hypervisor with shadow page
 * tables fills them at the first access from user space (5 us per page
 * on the development VM), and that belongs to this thread, not to the
 * first request that writes the memory.
 */
static inline void populate_write(void *p, size_t len)
{
	(void)madvise(p, len, MADV_POPULATE_WRITE);
	/* Rewrite each byte with itself: ring memory shared with the kernel
	 * keeps what it was initialised with (nothing runs on it yet). */
	for (size_t i = 0; i < len; i += SWAPDEV_PAGE_SIZE) {
		volatile char *c = (volatile char *)p + i;

		*c = *c;
	}
}

/*
 * The next range of [offset, end) of file fd that may hold data (not a
 * hole), in *ret_start and *ret_end; false when the rest is holes. Lets
 * adoption read only the pages of the state memfd that were written:
 * reading a hole through a shared mapping would allocate a page. Where
 * the file system cannot tell, the whole rest is data.
 */
static inline bool fd_next_data(int fd, uint64_t offset, uint64_t end, uint64_t *ret_start,
				uint64_t *ret_end)
{
	off_t data, hole = (off_t)end;

	if (offset >= end)
		return false;
	data = lseek(fd, (off_t)offset, SEEK_DATA);
	if (data < 0 && errno == ENXIO)
		return false;
	if (data < 0)
		data = (off_t)offset;
	else
		hole = lseek(fd, data, SEEK_HOLE);
	if ((uint64_t)data >= end)
		return false;
	*ret_start = (uint64_t)data;
	*ret_end = hole < 0 ? end : MIN((uint64_t)hole, end);
	return true;
}
