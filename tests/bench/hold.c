/* SPDX-License-Identifier: MIT */
/*
 * hold.c - fill memory with anonymous pages like the workload's, then keep
 * it until killed: data that sits in swap while the end-to-end benchmark
 * measures swapoff and what each swap tier spends in RAM to hold it.
 *
 * Run in a memory cgroup smaller than --size, everything beyond the limit
 * goes out to swap during the fill. "hold: ready" on stdout (flushed) says
 * the fill is done; then the program sleeps in pause() until a signal ends
 * it. It never touches the memory again, so what is in swap stays there.
 *
 * Content: the kinds weighted as in tests/e2e/workload.c (5% zero, 15%
 * same-filled, 30% text, 30% records, 20% random), so that the tiers see the
 * mix the timed runs see; text, records and random pages from pagegen.h
 * (lz4 ratios about 2.1, 2.1 and 1). A same-filled page repeats a word of
 * its own, as the workload's do (they encode page index and version):
 * pagegen's 256 byte patterns would flatter a tier that keeps a small table
 * of shared values. The same seed gives the same pages. Huge pages are refused, as in the workload:
 * swap should see single 4 KiB pages.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../common/pagegen.h"

#define PAGE 4096u

static uint64_t splitmix64(uint64_t x)
{
	x += UINT64_C(0x9e3779b97f4a7c15);
	x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
	return x ^ (x >> 31);
}

/* The workload's weights, out of 100. */
static enum page_kind kind_of(uint64_t h)
{
	unsigned int p = (unsigned int)((h >> 32) % 100);

	if (p < 5)
		return PAGE_ZERO;
	if (p < 20)
		return PAGE_SAME;
	if (p < 50)
		return PAGE_TEXT;
	if (p < 80)
		return PAGE_RECORDS;
	return PAGE_RANDOM;
}

static int parse_size(const char *s, uint64_t *ret)
{
	unsigned int shift = 0;
	unsigned long long v;
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -errno;
	if (*end) {
		static const char suffixes[] = "KMG";
		const char *suffix = strchr(suffixes, *end++);

		if (!suffix)
			return -EINVAL;
		shift = 10 * (unsigned int)(suffix - suffixes + 1);
	}
	if (*end || v > (UINT64_MAX >> shift))
		return -EINVAL;
	*ret = (uint64_t)v << shift;
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t size, seed = 1, pages;
	unsigned char *mem;

	if (argc < 2 || argc > 3 || parse_size(argv[1], &size) < 0 || size < PAGE ||
	    (argc == 3 && parse_size(argv[2], &seed) < 0)) {
		fprintf(stderr, "usage: hold SIZE[K|M|G] [SEED]\n");
		return 2;
	}
	pages = size / PAGE;
	mem = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		fprintf(stderr, "hold: cannot map %" PRIu64 " bytes: %s\n", size, strerror(errno));
		return 1;
	}
	if (madvise(mem, pages * PAGE, MADV_NOHUGEPAGE) < 0 && errno != EINVAL) {
		fprintf(stderr, "hold: madvise(MADV_NOHUGEPAGE): %s\n", strerror(errno));
		return 1;
	}
	for (uint64_t i = 0; i < pages; i++) {
		uint64_t h = splitmix64(seed ^ splitmix64(i));

		enum page_kind kind = kind_of(h);
		uint64_t word = splitmix64(h) | 1;

		if (kind == PAGE_SAME) {
			for (unsigned int off = 0; off < PAGE; off += sizeof(word))
				memcpy(mem + i * PAGE + off, &word, sizeof(word));
			continue;
		}
		pagegen_fill_kind(mem + i * PAGE, PAGE, kind, h);
	}
	printf("hold: ready pages=%" PRIu64 "\n", pages);
	fflush(stdout);
	for (;;)
		pause();
}
