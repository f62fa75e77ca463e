/* SPDX-License-Identifier: MIT */
/*
 * slot_table.h - one 64-bit word per 4 KiB slot, with its own lock bit.
 *
 * The word says where the slot's data lives and carries the flags that
 * writeback needs; nothing else about a slot exists, so metadata costs
 * exactly 8 bytes per slot (zram spends 16):
 *
 *   63      LOCK        held by whoever changes or reads the slot's home
 *   62      REFERENCED  read since writeback last looked (second chance)
 *   61      LOADED      read by the kernel since it was stored (exclusive loads)
 *   60      WRITEBACK   a writeback of exactly this version is in flight
 *   59..58  state       EMPTY, SAME, POOL, DISK
 *   POOL:   57 codec (0 lz4, 1 zstd), 55..43 length (4096 = stored raw),
 *           42..0 pool handle
 *   SAME:   57..56 form (0: value sign-extended from 56 bits, 1: 32-bit
 *           value repeated, 2: index into same_values.h's table), 55..0 value
 *   DISK:   57..48 pins (reads of the block in flight, store.c),
 *           47..0 block number in the backing file
 *
 * A same-filled word that fits neither inline form (rare: high bits not a
 * sign extension and halves different) is kept once in a shared table and
 * the slot holds its index.
 *
 * The store keeps the table in its state memfd (state_region.h), mapped
 * shared with MAP_NORESERVE; alone (tests) it is an anonymous mapping with
 * MAP_NORESERVE. Either way a page of it is only backed by memory once a
 * slot in it is written, so a 64 GiB device does not pay for its table up
 * front. The word is the commit point of every change of a slot's home: a
 * new process adopting the memfd trusts the words and rebuilds the rest.
 *
 * Locking: the lock bit is a spinlock taken with acquire/release atomics
 * and held for no blocking I/O; nobody holds two. It nests outside the
 * pool class locks, the store's released-block lock and the disk
 * allocator lock.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "codec.h"

#define SLOT_LOCK (UINT64_C(1) << 63)
#define SLOT_REFERENCED (UINT64_C(1) << 62)
#define SLOT_LOADED (UINT64_C(1) << 61)
#define SLOT_WRITEBACK (UINT64_C(1) << 60)
#define SLOT_FLAGS (SLOT_LOCK | SLOT_REFERENCED | SLOT_LOADED | SLOT_WRITEBACK)
#define SLOT_STATE_SHIFT 58
#define SLOT_STATE_MASK (UINT64_C(3) << SLOT_STATE_SHIFT)

enum slot_state {
	SLOT_EMPTY = 0,
	SLOT_SAME = 1,
	SLOT_POOL = 2,
	SLOT_DISK = 3,
};

#define SLOT_POOL_CODEC_SHIFT 57
#define SLOT_POOL_LEN_SHIFT 43
#define SLOT_POOL_LEN_MASK UINT64_C(0x1fff)
#define SLOT_POOL_HANDLE_MASK ((UINT64_C(1) << 43) - 1)
#define SLOT_SAME_FORM_SHIFT 56
#define SLOT_SAME_FORM32 (UINT64_C(1) << SLOT_SAME_FORM_SHIFT)
#define SLOT_SAME_FORM_TABLE (UINT64_C(2) << SLOT_SAME_FORM_SHIFT)
#define SLOT_SAME_FORM_MASK (UINT64_C(3) << SLOT_SAME_FORM_SHIFT)
#define SLOT_SAME_VALUE_MASK ((UINT64_C(1) << 56) - 1)
#define SLOT_DISK_BLOCK_MASK ((UINT64_C(1) << 48) - 1)
#define SLOT_DISK_PIN_SHIFT 48
#define SLOT_DISK_PIN (UINT64_C(1) << SLOT_DISK_PIN_SHIFT)
#define SLOT_DISK_PINS_MAX 1023u

static inline enum slot_state slot_state(uint64_t word)
{
	return (enum slot_state)((word & SLOT_STATE_MASK) >> SLOT_STATE_SHIFT);
}

static inline uint64_t slot_make_pool(uint64_t handle, unsigned len, enum codec_kind codec)
{
	return ((uint64_t)SLOT_POOL << SLOT_STATE_SHIFT) |
	       ((uint64_t)codec << SLOT_POOL_CODEC_SHIFT) | ((uint64_t)len << SLOT_POOL_LEN_SHIFT) |
	       (handle & SLOT_POOL_HANDLE_MASK);
}

static inline uint64_t slot_pool_handle(uint64_t word)
{
	return word & SLOT_POOL_HANDLE_MASK;
}

static inline unsigned slot_pool_len(uint64_t word)
{
	return (unsigned)((word >> SLOT_POOL_LEN_SHIFT) & SLOT_POOL_LEN_MASK);
}

static inline enum codec_kind slot_pool_codec(uint64_t word)
{
	return (enum codec_kind)((word >> SLOT_POOL_CODEC_SHIFT) & 1);
}

static inline uint64_t slot_make_disk(uint64_t block)
{
	return ((uint64_t)SLOT_DISK << SLOT_STATE_SHIFT) | (block & SLOT_DISK_BLOCK_MASK);
}

static inline uint64_t slot_disk_block(uint64_t word)
{
	return word & SLOT_DISK_BLOCK_MASK;
}

static inline unsigned slot_disk_pins(uint64_t word)
{
	return (unsigned)(word >> SLOT_DISK_PIN_SHIFT) & SLOT_DISK_PINS_MAX;
}

/* Encode a same-filled word inline; false when it fits neither form. */
static inline bool slot_make_same(uint64_t value, uint64_t *ret_word)
{
	uint64_t base = (uint64_t)SLOT_SAME << SLOT_STATE_SHIFT;
	int64_t narrowed = (int64_t)(value << 8) >> 8;

	if ((uint64_t)narrowed == value) {
		*ret_word = base | (value & SLOT_SAME_VALUE_MASK);
		return true;
	}
	if ((value >> 32) == (value & 0xffffffffu)) {
		*ret_word = base | SLOT_SAME_FORM32 | (value & 0xffffffffu);
		return true;
	}
	return false;
}

static inline uint64_t slot_make_same_indexed(uint32_t index)
{
	return ((uint64_t)SLOT_SAME << SLOT_STATE_SHIFT) | SLOT_SAME_FORM_TABLE | index;
}

/* True when the value lives in the shared table; *ret_index is its entry. */
static inline bool slot_same_indexed(uint64_t word, uint32_t *ret_index)
{
	if ((word & SLOT_SAME_FORM_MASK) != SLOT_SAME_FORM_TABLE)
		return false;
	*ret_index = (uint32_t)(word & SLOT_SAME_VALUE_MASK);
	return true;
}

/* Value of an inline same-filled word (not the indexed form). */
static inline uint64_t slot_same_value(uint64_t word)
{
	uint64_t v = word & SLOT_SAME_VALUE_MASK;

	if (word & SLOT_SAME_FORM32)
		return (v << 32) | v;
	return (uint64_t)((int64_t)(v << 8) >> 8);
}

struct slot_table;

/* A table of nr_slots words at words (page aligned, zeroed or adopted; the
 * caller keeps it mapped), or in a mapping of its own when words is NULL.
 * Returns 0, -EINVAL (zero or too many slots), -ENOMEM. */
int slot_table_new(uint64_t *words, uint64_t nr_slots, struct slot_table **ret_table);
void slot_table_free(struct slot_table *table); /* accepts NULL */
uint64_t slot_table_size(const struct slot_table *table);
/* Bytes of the table backed by memory now (pages touched). */
uint64_t slot_table_resident_bytes(const struct slot_table *table);

uint64_t *slot_table_words(struct slot_table *table);

/* Current word without locking; for hints and fast paths only. */
static inline uint64_t slot_peek(uint64_t *words, uint64_t idx)
{
	return __atomic_load_n(&words[idx], __ATOMIC_ACQUIRE);
}

/* Lock the slot; returns its word (without SLOT_LOCK). */
uint64_t slot_lock(uint64_t *words, uint64_t idx);

/* Try once; true with the word in *ret_word when the lock was taken. */
static inline bool slot_trylock(uint64_t *words, uint64_t idx, uint64_t *ret_word)
{
	uint64_t old = __atomic_load_n(&words[idx], __ATOMIC_RELAXED);

	if (old & SLOT_LOCK)
		return false;
	if (!__atomic_compare_exchange_n(&words[idx], &old, old | SLOT_LOCK, false,
					 __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		return false;
	*ret_word = old;
	return true;
}

/* Store the new word and release the lock in one step. */
static inline void slot_unlock(uint64_t *words, uint64_t idx, uint64_t word)
{
	__atomic_store_n(&words[idx], word & ~SLOT_LOCK, __ATOMIC_RELEASE);
}
