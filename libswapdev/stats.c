/* SPDX-License-Identifier: MIT */
/*
 * stats.c - latency histograms.
 *
 * Buckets are log2 of the latency in microseconds with 4 linear
 * sub-buckets each (HDR-histogram style, about 19% relative error at
 * worst), so recording is a few shifts and one increment on the hot path
 * and percentiles need no stored samples. Bucket i covers values whose
 * top bit is i / 4; values 0..3 get exact buckets.
 */
#include "common.h"
#include "stats.h"

static unsigned latency_bucket(uint64_t usec)
{
	unsigned msb, sub;

	if (usec < 4)
		return (unsigned)usec;
	msb = 63 - (unsigned)__builtin_clzll(usec);
	sub = (unsigned)(usec >> (msb - 2)) & 3;
	return MIN(msb * 4 + sub, LATENCY_BUCKETS - 1u);
}

/* Upper bound of the values that land in bucket b. */
static uint64_t latency_bucket_limit(unsigned b)
{
	unsigned msb = b / 4, sub = b % 4;

	if (b < 4)
		return b;
	return ((UINT64_C(4) + sub + 1) << (msb - 2)) - 1;
}

void latency_record(struct latency_hist *hist, uint64_t usec)
{
	uint64_t *c = &hist->count[latency_bucket(usec)];

	/* One writer per histogram; the relaxed store keeps readers exact. */
	__atomic_store_n(c, *c + 1, __ATOMIC_RELAXED);
}

void latency_merge(struct latency_hist *into, const struct latency_hist *from)
{
	for (unsigned i = 0; i < LATENCY_BUCKETS; i++)
		into->count[i] += counter_read(&from->count[i]);
}

uint64_t latency_percentile(const struct latency_hist *hist, double q)
{
	uint64_t total = 0, seen = 0, want;
	unsigned i;

	for (i = 0; i < LATENCY_BUCKETS; i++)
		total += hist->count[i];
	if (total == 0)
		return 0;
	want = (uint64_t)(q * (double)total + 0.5);
	want = MAX(want, 1);
	for (i = 0; i < LATENCY_BUCKETS; i++) {
		seen += hist->count[i];
		if (seen >= want)
			return latency_bucket_limit(i);
	}
	return latency_bucket_limit(LATENCY_BUCKETS - 1);
}
