/* SPDX-License-Identifier: MIT */
/*
 * same_values.c - see same_values.h. Linear probing over a power-of-two
 * array; a freed entry becomes a tombstone (refs 0, used) until a get of
 * another value reuses it, so probe chains stay intact without rehashing.
 */
#include <pthread.h>

#include "common.h"
#include "same_values.h"

struct same_values {
	pthread_mutex_t lock;
	unsigned live;
	struct same_entry *entries; /* in the state memfd, or owned */
	void *owned;
};

int same_values_new(void *entries, struct same_values **ret_table)
{
	struct same_values *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	if (!entries) {
		t->owned = entries = calloc(SAME_VALUES_CAPACITY, sizeof(struct same_entry));
		if (!entries) {
			free(t);
			return -ENOMEM;
		}
	}
	t->entries = entries;
	pthread_mutex_init(&t->lock, NULL);
	*ret_table = t;
	return 0;
}

void same_values_free(struct same_values *t)
{
	if (!t)
		return;
	pthread_mutex_destroy(&t->lock);
	free(t->owned);
	free(t);
}

static unsigned hash(uint64_t value)
{
	return (unsigned)((value * UINT64_C(0x9E3779B97F4A7C15)) >> 52) & (SAME_VALUES_CAPACITY - 1);
}

int same_values_get(struct same_values *t, uint64_t value, uint32_t *ret_index)
{
	unsigned i = hash(value), free_slot = SAME_VALUES_CAPACITY;
	int r = -ENOSPC;

	pthread_mutex_lock(&t->lock);
	for (unsigned n = 0; n < SAME_VALUES_CAPACITY; n++, i = (i + 1) & (SAME_VALUES_CAPACITY - 1)) {
		struct same_entry *e = &t->entries[i];

		if (e->used && e->refs && e->value == value) {
			e->refs++;
			*ret_index = i;
			r = 0;
			goto out;
		}
		if (!e->refs && free_slot == SAME_VALUES_CAPACITY)
			free_slot = i;
		if (!e->used)
			break; /* end of the chain: value is not here */
	}
	if (free_slot < SAME_VALUES_CAPACITY) {
		t->entries[free_slot] = (struct same_entry){ .value = value, .refs = 1, .used = 1 };
		t->live++;
		*ret_index = free_slot;
		r = 0;
	}
out:
	pthread_mutex_unlock(&t->lock);
	return r;
}

void same_values_put(struct same_values *t, uint32_t index)
{
	pthread_mutex_lock(&t->lock);
	if (--t->entries[index].refs == 0)
		t->live--;
	pthread_mutex_unlock(&t->lock);
}

uint64_t same_values_value(const struct same_values *t, uint32_t index)
{
	/* Stable while the caller holds a slot referencing it. */
	return __atomic_load_n(&t->entries[index].value, __ATOMIC_RELAXED);
}

unsigned same_values_used(struct same_values *t)
{
	unsigned live;

	pthread_mutex_lock(&t->lock);
	live = t->live;
	pthread_mutex_unlock(&t->lock);
	return live;
}

void same_values_adopt_reset(struct same_values *t)
{
	pthread_mutex_lock(&t->lock);
	for (unsigned i = 0; i < SAME_VALUES_CAPACITY; i++)
		t->entries[i].refs = 0;
	t->live = 0;
	pthread_mutex_unlock(&t->lock);
}

int same_values_adopt_ref(struct same_values *t, uint32_t index)
{
	int r = 0;

	if (index >= SAME_VALUES_CAPACITY)
		return -EBADMSG;
	pthread_mutex_lock(&t->lock);
	if (!t->entries[index].used)
		r = -EBADMSG;
	else if (t->entries[index].refs++ == 0)
		t->live++;
	pthread_mutex_unlock(&t->lock);
	return r;
}
