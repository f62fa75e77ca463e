/* SPDX-License-Identifier: MIT */
/* test-stats.c - latency histogram buckets and percentiles. */
#include <criterion/criterion.h>
#include <inttypes.h>

#include "common.h"
#include "stats.h"

Test(stats, empty_histogram)
{
	struct latency_hist h = { 0 };

	cr_assert_eq(latency_percentile(&h, 0.5), 0);
}

Test(stats, percentiles_within_bucket_error)
{
	static const struct {
		uint64_t value;
	} cases[] = { { 1 }, { 3 }, { 7 }, { 10 }, { 100 }, { 1000 }, { 12345 }, { 1000000 } };

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct latency_hist h = { 0 };
		uint64_t p;

		latency_record(&h, cases[i].value);
		p = latency_percentile(&h, 0.5);
		cr_assert_geq(p, cases[i].value, "value %" PRIu64 " -> %" PRIu64, cases[i].value, p);
		cr_assert_leq(p, cases[i].value + cases[i].value / 4 + 1, "value %" PRIu64 " -> %" PRIu64,
			      cases[i].value, p);
	}
}

Test(stats, distribution_and_merge)
{
	struct latency_hist a = { 0 }, b = { 0 };

	for (int i = 0; i < 990; i++)
		latency_record(&a, 10);
	for (int i = 0; i < 9; i++)
		latency_record(&b, 1000);
	latency_record(&b, 100000);
	latency_merge(&a, &b);
	cr_assert_leq(latency_percentile(&a, 0.5), 12);
	cr_assert_geq(latency_percentile(&a, 0.99), 10);
	cr_assert_leq(latency_percentile(&a, 0.99), 12);
	cr_assert_geq(latency_percentile(&a, 0.999), 1000);
	cr_assert_geq(latency_percentile(&a, 1.0), 100000);
}

/* The first values of buckets, and values that are not. */
Test(stats, bucket_starts)
{
	static const struct {
		uint64_t usec;
		bool start;
	} cases[] = {
		{ 0, true },	  { 3, true },	    { 4, true },       { 5, true },
		{ 8, true },	  { 9, false },	    { 10, true },      { 11, false },
		{ 12, true },	  { 14, true },	    { 16, true },      { 20, true },
		{ 25, false },	  { 100, false },   { 112, true },     { 1024, true },
		{ 1280, true },	  { 10240, true },  { 10485760, true }, { 10000000, false },
		{ UINT64_C(7) << 29, true }, { UINT64_C(1) << 32, false },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		cr_assert_eq(latency_is_bucket_start(cases[i].usec), cases[i].start,
			     "%" PRIu64, cases[i].usec);
}

/* At a bucket start, the count below is exact: E - 1 is below, E is not. */
Test(stats, count_below_is_exact_at_bucket_starts)
{
	for (uint64_t e = 10; e <= 10485760; e *= 2) {
		struct latency_hist h = { 0 };

		cr_assert(latency_is_bucket_start(e), "%" PRIu64, e);
		latency_record(&h, e / 2);
		latency_record(&h, e - 1);
		latency_record(&h, e);
		latency_record(&h, e * 3);
		cr_assert_eq(latency_count_below(&h, e), 2, "%" PRIu64, e);
		cr_assert_eq(latency_count(&h), 4);
		cr_assert_eq(h.sum_us, e / 2 + e - 1 + e + e * 3);
	}
}

Test(stats, merge_adds_sums)
{
	struct latency_hist a = { 0 }, b = { 0 };

	latency_record(&a, 7);
	latency_record(&b, 100);
	latency_record(&b, 1);
	latency_merge(&a, &b);
	cr_assert_eq(a.sum_us, 108);
	cr_assert_eq(latency_count(&a), 3);
	cr_assert_eq(latency_count_below(&a, 0), 0);
	cr_assert_eq(latency_count_below(&a, 100), 2);
	latency_record(&a, UINT64_C(1) << 40);
	/* The last bucket is open-ended: no bound below it counts it. */
	cr_assert_eq(latency_count_below(&a, UINT64_MAX), 3);
}

/* Exported bounds: ascending bucket starts from 10 us to about 10 s. */
Test(stats, export_bounds_are_bucket_starts)
{
	for (unsigned i = 0; i < LATENCY_EXPORT_BOUNDS; i++) {
		uint64_t bound = latency_export_bound_us(i);

		cr_assert(latency_is_bucket_start(bound), "%" PRIu64, bound);
		if (i > 0)
			cr_assert_gt(bound, latency_export_bound_us(i - 1));
	}
	cr_assert_eq(latency_export_bound_us(0), 10);
	cr_assert_geq(latency_export_bound_us(LATENCY_EXPORT_BOUNDS - 1), 10000000);
	cr_assert_lt(latency_export_bound_us(LATENCY_EXPORT_BOUNDS - 1), 20000000);
}
