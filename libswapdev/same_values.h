/* SPDX-License-Identifier: MIT */
/*
 * same_values.h - shared storage for same-filled words that do not fit in
 * a slot word.
 *
 * A slot word has 56 bits for a same-filled value; most such pages hold
 * a value that fits (a repeated byte, a small or negative number, a
 * repeated 32-bit pattern) and need nothing else. The rest -- an arbitrary
 * 8-byte word repeated over the page -- get an entry here, shared by every
 * slot holding that value and counted by reference, and the slot stores
 * the entry's index. A page whose value finds no room (the table is full)
 * is compressed into the pool instead, so correctness never depends on it.
 *
 * The table is a fixed open-addressed hash under one mutex: it is touched
 * only for those rare pages, never on a read (a reader holding the slot
 * lock owns a reference, so the entry cannot change under it).
 *
 * The entries live in the store's state memfd (state_region.h) so that a
 * new process can adopt them; the mutex and the live count are the
 * process's own. An entry is written before the slot word that names it
 * is published, and its refs are rebuilt from the slot words at adoption
 * (a reference taken by a store that died before publishing is dropped).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define SAME_VALUES_CAPACITY 4096

/* One entry, as laid out in the state memfd. */
struct same_entry {
	uint64_t value;
	uint32_t refs;
	uint8_t used; /* ever held a value: part of probe chains */
	uint8_t pad[3];
};
#define SAME_VALUES_BYTES (SAME_VALUES_CAPACITY * sizeof(struct same_entry))

struct same_values;

/* A table over entries (SAME_VALUES_BYTES, zeroed or adopted; NULL: the
 * table allocates its own). Returns 0 or -ENOMEM. */
int same_values_new(void *entries, struct same_values **ret_table);
void same_values_free(struct same_values *table);   /* accepts NULL */

/* Take a reference to value's entry (adding it); index in *ret_index.
 * Returns 0, or -ENOSPC when the table is full. */
int same_values_get(struct same_values *table, uint64_t value, uint32_t *ret_index);
/* Drop a reference taken by same_values_get(). */
void same_values_put(struct same_values *table, uint32_t index);
/* Value of a referenced entry. */
uint64_t same_values_value(const struct same_values *table, uint32_t index);
/* Entries in use (distinct values referenced). */
unsigned same_values_used(struct same_values *table);

/* Adoption: forget every reference, then take one per slot naming an
 * entry. same_values_adopt_ref() returns 0, or -EBADMSG when index names
 * no entry that ever held a value. */
void same_values_adopt_reset(struct same_values *table);
int same_values_adopt_ref(struct same_values *table, uint32_t index);
