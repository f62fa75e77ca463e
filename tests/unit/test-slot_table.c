/* SPDX-License-Identifier: MIT */
/* test-slot_table.c - slot word encodings, lazy backing and the lock bit. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <pthread.h>

#include "common.h"
#include "slot_table.h"

Test(slot_table, pool_word_round_trip)
{
	static const struct {
		uint64_t handle;
		unsigned len;
		enum codec_kind codec;
	} cases[] = {
		{ 0, 1, CODEC_LZ4 },
		{ SLOT_POOL_HANDLE_MASK, 4096, CODEC_ZSTD },
		{ 123456789, 3584, CODEC_LZ4 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		uint64_t w = slot_make_pool(cases[i].handle, cases[i].len, cases[i].codec);

		cr_assert_eq(slot_state(w), SLOT_POOL);
		cr_assert_eq(slot_pool_handle(w), cases[i].handle);
		cr_assert_eq(slot_pool_len(w), cases[i].len);
		cr_assert_eq(slot_pool_codec(w), cases[i].codec);
		cr_assert_eq(w & SLOT_FLAGS, 0, "encoding spills into the flag bits");
	}
}

Test(slot_table, disk_word_round_trip)
{
	uint64_t blocks[] = { 0, 1, SLOT_DISK_BLOCK_MASK };

	for (size_t i = 0; i < ARRAY_SIZE(blocks); i++) {
		uint64_t w = slot_make_disk(blocks[i]);

		cr_assert_eq(slot_state(w), SLOT_DISK);
		cr_assert_eq(slot_disk_block(w), blocks[i]);
		cr_assert_eq(slot_disk_pins(w), 0);
		cr_assert_eq(w & SLOT_FLAGS, 0);
		/* Pins count beside the block and leave it, the state and the flags alone. */
		w += SLOT_DISK_PINS_MAX * SLOT_DISK_PIN;
		cr_assert_eq(slot_disk_pins(w), SLOT_DISK_PINS_MAX);
		cr_assert_eq(slot_state(w), SLOT_DISK);
		cr_assert_eq(slot_disk_block(w), blocks[i]);
		cr_assert_eq(w & SLOT_FLAGS, 0);
	}
}

Test(slot_table, same_word_forms)
{
	static const struct {
		uint64_t value;
		bool fits;
	} cases[] = {
		{ 0, true },
		{ 1, true },
		{ UINT64_MAX, true },
		{ UINT64_C(0x0101010101010101), true },
		{ UINT64_C(0x007fffffffffffff), true },
		{ UINT64_C(0x00ffffffffffffff), false },
		{ UINT64_C(0xff80000000000000), true },
		{ UINT64_C(0xcafebabecafebabe), true },
		{ UINT64_C(0x7f00000000000001), false },
		{ UINT64_C(0x1234567887654321), false },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		uint64_t w = 0;

		cr_assert_eq(slot_make_same(cases[i].value, &w), cases[i].fits, "case %zu", i);
		if (!cases[i].fits)
			continue;
		cr_assert_eq(slot_state(w), SLOT_SAME);
		cr_assert_eq(slot_same_value(w), cases[i].value, "case %zu", i);
		cr_assert_eq(w & SLOT_FLAGS, 0);
	}
}

Test(slot_table, same_indexed_form)
{
	uint64_t w = slot_make_same_indexed(4095), inline_word;
	uint32_t index = 0;

	cr_assert_eq(slot_state(w), SLOT_SAME);
	cr_assert(slot_same_indexed(w, &index));
	cr_assert_eq(index, 4095);
	cr_assert_eq(w & SLOT_FLAGS, 0);
	cr_assert(slot_make_same(UINT64_C(0xcafebabecafebabe), &inline_word));
	cr_assert_not(slot_same_indexed(inline_word, &index));
}

Test(slot_table, huge_table_costs_nothing_up_front)
{
	/* 64 GiB of slots: 128 MiB of table, but only touched pages count. */
	struct slot_table *t;
	uint64_t *words;

	cr_assert_eq(slot_table_new(NULL, (UINT64_C(64) << 30) / 4096, &t), 0);
	cr_assert_lt(slot_table_resident_bytes(t), 64 * 1024);
	words = slot_table_words(t);
	slot_unlock(words, 1000000, slot_make_disk(5));
	cr_assert_leq(slot_table_resident_bytes(t), 64 * 1024);
	cr_assert_eq(slot_disk_block(slot_peek(words, 1000000)), 5);
	slot_table_free(t);
	cr_assert_eq(slot_table_new(NULL, 0, &t), -EINVAL);
}

struct lock_arg {
	uint64_t *words;
	uint64_t counter;
};

static void *lock_thread(void *p)
{
	struct lock_arg *a = p;

	for (int i = 0; i < 200000; i++) {
		uint64_t w = slot_lock(a->words, 7);

		a->counter++; /* protected by the slot lock alone */
		slot_unlock(a->words, 7, w + 1);
	}
	return NULL;
}

Test(slot_table, lock_serializes)
{
	struct slot_table *t;
	struct lock_arg a;
	pthread_t th[4];
	uint64_t w;

	cr_assert_eq(slot_table_new(NULL, 16, &t), 0);
	a = (struct lock_arg){ .words = slot_table_words(t) };
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, lock_thread, &a);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	cr_assert_eq(a.counter, 800000);
	cr_assert_eq(slot_peek(a.words, 7), 800000);
	cr_assert(slot_trylock(a.words, 7, &w));
	cr_assert_not(slot_trylock(a.words, 7, &w));
	slot_unlock(a.words, 7, w);
	slot_table_free(t);
}
