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
