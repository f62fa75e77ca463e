/* SPDX-License-Identifier: MIT */
/* test-same_values.c - shared same-filled values: references, reuse, a full table. */
#include <criterion/criterion.h>
#include <inttypes.h>

#include "common.h"
#include "same_values.h"

Test(same_values, references_share_one_entry)
{
	struct same_values *t;
	uint32_t a, b, c;

	cr_assert_eq(same_values_new(NULL, &t), 0);
	cr_assert_eq(same_values_get(t, UINT64_C(0x1234567887654321), &a), 0);
	cr_assert_eq(same_values_get(t, UINT64_C(0x1234567887654321), &b), 0);
	cr_assert_eq(a, b);
	cr_assert_eq(same_values_get(t, UINT64_C(0x7f00000000000001), &c), 0);
	cr_assert_neq(a, c);
	cr_assert_eq(same_values_used(t), 2);
	cr_assert_eq(same_values_value(t, a), UINT64_C(0x1234567887654321));
	cr_assert_eq(same_values_value(t, c), UINT64_C(0x7f00000000000001));
	same_values_put(t, a);
	cr_assert_eq(same_values_used(t), 2, "one reference is still held");
	same_values_put(t, b);
	cr_assert_eq(same_values_used(t), 1);
	same_values_put(t, c);
	cr_assert_eq(same_values_used(t), 0);
	same_values_free(t);
	same_values_free(NULL);
}

Test(same_values, full_table_refuses_and_recovers)
{
	struct same_values *t;
	uint32_t idx[SAME_VALUES_CAPACITY], extra;

	cr_assert_eq(same_values_new(NULL, &t), 0);
	for (uint64_t i = 0; i < SAME_VALUES_CAPACITY; i++)
		cr_assert_eq(same_values_get(t, i * UINT64_C(0x100000001) + 7, &idx[i]), 0);
	cr_assert_eq(same_values_used(t), SAME_VALUES_CAPACITY);
	cr_assert_eq(same_values_get(t, UINT64_C(0xabcdef), &extra), -ENOSPC);
	/* Existing values are still found when full. */
	cr_assert_eq(same_values_get(t, 5 * UINT64_C(0x100000001) + 7, &extra), 0);
	cr_assert_eq(extra, idx[5]);
	same_values_put(t, extra);
	/* Freeing some makes room; every surviving value keeps its entry. */
	for (uint64_t i = 0; i < SAME_VALUES_CAPACITY; i += 2)
		same_values_put(t, idx[i]);
	cr_assert_eq(same_values_get(t, UINT64_C(0xabcdef), &extra), 0);
	cr_assert_eq(same_values_value(t, extra), UINT64_C(0xabcdef));
	for (uint64_t i = 1; i < SAME_VALUES_CAPACITY; i += 2) {
		uint32_t again;

		cr_assert_eq(same_values_get(t, i * UINT64_C(0x100000001) + 7, &again), 0);
		cr_assert_eq(again, idx[i], "value %" PRIu64 " moved", i);
		cr_assert_eq(same_values_value(t, again), i * UINT64_C(0x100000001) + 7);
	}
	same_values_free(t);
}
