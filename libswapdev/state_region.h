/* SPDX-License-Identifier: MIT */
/*
 * state_region.h - the memfd that holds every byte of a store's in-memory
 * state, so that a new process can adopt it after the old one died.
 *
 * Layout (offsets from the start of the memfd, page aligned):
 *
 *   0            header page: magic, layout version, page size, nr_slots,
 *                nr_chunks, the clock base of pool stamps, offset and
 *                length of each region below
 *   slots        one uint64_t slot word per slot (slot_table.h)
 *   same_values  SAME_VALUES_CAPACITY struct same_entry (same_values.h)
 *   classes      one byte per pool chunk index: its size class + 1, or 0
 *                (POOL_CLASS_NONE) while the index holds no chunk
 *   arena        pool chunk i at arena + i * POOL_CHUNK_SPAN
 *
 * Everything is addressed by offset or index, never by pointer, and
 * nothing but the slot words is authoritative: adoption rebuilds the rest
 * from them (store.c). A region that was never written is a hole (zero):
 * EMPTY slots, unused same-value entries, chunk indices without a class.
 *
 * The memfd is sized once and sealed (F_SEAL_SHRINK | F_SEAL_GROW |
 * F_SEAL_SEAL), so no holder of the descriptor can cut memory from under a
 * mapping. memfd_create() makes the mapping VM_NORESERVE, and it is mapped
 * MAP_SHARED | MAP_NORESERVE: the sparse size costs no commit charge and
 * no memory until a page is written. Under mlockall(MCL_ONFAULT) nothing
 * is populated up front; pages are locked as they are first touched.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct state_region;

/* Where each part of the state lives in the mapping. */
struct state_region_map {
	uint64_t *slots;
	void *same_values;
	uint8_t *classes;
	char *arena;
	uint64_t slots_offset, classes_offset, arena_offset; /* in the memfd */
	uint64_t nr_slots;
	uint32_t nr_chunks;
	int fd;
};

/*
 * A fresh sealed memfd for nr_slots slot words and a pool of nr_chunks
 * chunk indices, mapped. clock_base is recorded for adopters (the
 * CLOCK_MONOTONIC second that pool stamps count from). Returns 0,
 * -EINVAL (sizes out of range), -ENOMEM, or a memfd_create/ftruncate error.
 */
int state_region_new(uint64_t nr_slots, uint32_t nr_chunks, int64_t clock_base,
		     struct state_region **ret_region);

/*
 * Map the memfd fd of a store that is gone (the region dups fd). Returns 0,
 * -EINVAL with a reason in error (not a swapdev state memfd, another
 * layout version or page size, a size that does not match the header,
 * nr_slots differing from the header's), or -ENOMEM.
 */
int state_region_adopt(int fd, uint64_t nr_slots, char *error, size_t error_size,
		       struct state_region **ret_region);

void state_region_free(struct state_region *region); /* accepts NULL */

const struct state_region_map *state_region_map(const struct state_region *region);
int64_t state_region_clock_base(const struct state_region *region);

/*
 * Give the memory of [offset, offset + len) of the memfd back (a hole
 * reads as zeros). Returns 0 or -errno.
 */
int state_region_punch(const struct state_region *region, uint64_t offset, uint64_t len);
