/* SPDX-License-Identifier: MIT */
/*
 * slot_table.c - the lazily backed array of slot words (see slot_table.h).
 *
 * The lock is a test-and-test-and-set spinlock on bit 63. Holders keep it
 * for one page's work (a decompression, or one disk read of up to 64 KiB
 * for a run of slots), so a short spin followed by sched_yield() beats a
 * futex: contention on one slot is rare (the kernel does not issue
 * overlapping I/O to a swap slot; writeback only try-locks).
 */
#include <sched.h>
#include <sys/mman.h>

#include "common.h"
#include "slot_table.h"

/* 2^40 slots = 4 PiB: far beyond any device, and keeps sizes in range. */
#define SLOT_TABLE_MAX_SLOTS (UINT64_C(1) << 40)

struct slot_table {
	uint64_t *words;
	uint64_t nr_slots;
	size_t map_bytes;
	bool owned; /* words is our own mapping */
};

int slot_table_new(uint64_t *words, uint64_t nr_slots, struct slot_table **ret_table)
{
	struct slot_table *table;

	if (nr_slots == 0 || nr_slots > SLOT_TABLE_MAX_SLOTS)
		return -EINVAL;
	table = calloc(1, sizeof(*table));
	if (!table)
		return -ENOMEM;
	table->nr_slots = nr_slots;
	table->map_bytes = ALIGN_UP(nr_slots * sizeof(uint64_t), (size_t)SWAPDEV_PAGE_SIZE);
	table->words = words;
	if (!words) {
		table->owned = true;
		table->words = mmap(NULL, table->map_bytes, PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (table->words == MAP_FAILED) {
			free(table);
			return -ENOMEM;
		}
	}
	*ret_table = table;
	return 0;
}

void slot_table_free(struct slot_table *table)
{
	if (!table)
		return;
	if (table->owned)
		munmap(table->words, table->map_bytes);
	free(table);
}

uint64_t slot_table_size(const struct slot_table *table)
{
	return table->nr_slots;
}

uint64_t *slot_table_words(struct slot_table *table)
{
	return table->words;
}

uint64_t slot_table_resident_bytes(const struct slot_table *table)
{
	size_t pages = table->map_bytes / SWAPDEV_PAGE_SIZE, i, resident = 0;
	unsigned char vec[256];

	/* mincore() in windows of 256 pages keeps the vector on the stack. */
	for (i = 0; i < pages; i += sizeof(vec)) {
		size_t n = MIN(sizeof(vec), pages - i), j;

		if (mincore((char *)table->words + i * SWAPDEV_PAGE_SIZE, n * SWAPDEV_PAGE_SIZE,
			    vec) < 0)
			return table->map_bytes; /* cannot tell: report the worst case */
		for (j = 0; j < n; j++)
			resident += vec[j] & 1;
	}
	return (uint64_t)resident * SWAPDEV_PAGE_SIZE;
}

uint64_t slot_lock(uint64_t *words, uint64_t idx)
{
	unsigned spins = 0;
	uint64_t word;

	while (!slot_trylock(words, idx, &word)) {
		if (++spins < 128)
			cpu_relax();
		else
			sched_yield();
	}
	return word;
}
