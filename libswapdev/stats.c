/* SPDX-License-Identifier: MIT */
/*
 * stats.c - latency histograms.
 *
 * Buckets are log2 of the latency in microseconds with 4 linear
 * sub-buckets each (HDR-histogram style, about 19% relative error at
 * worst), so recording is a few shifts and one increment on the hot path
 * and percentiles need no stored samples. Bucket i covers values whose
 * top bit is i / 4; values 0..3 get exact buckets.
 *
 * A cumulative count is exact only at a bucket's first value (5, 6, 7 or
 * 8 times a power of two from 4 on): Prometheus "le" bounds are chosen
 * among those (latency_is_bucket_start()). Samples are whole microseconds,
 * truncated, so "recorded below E" is "took less than E us".
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

/* First value that lands in bucket b (b is 0..3 or 8 on: 4..7 stay empty). */
static uint64_t latency_bucket_start(unsigned b)
{
	unsigned msb = b / 4, sub = b % 4;

	if (b < 4)
		return b;
	return (UINT64_C(4) + sub) << (msb - 2);
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

	/* One writer per histogram; the relaxed stores keep readers exact. */
	__atomic_store_n(c, *c + 1, __ATOMIC_RELAXED);
	__atomic_store_n(&hist->sum_us, hist->sum_us + usec, __ATOMIC_RELAXED);
}

void latency_merge(struct latency_hist *into, const struct latency_hist *from)
{
	for (unsigned i = 0; i < LATENCY_BUCKETS; i++)
		into->count[i] += counter_read(&from->count[i]);
	into->sum_us += counter_read(&from->sum_us);
}

bool latency_is_bucket_start(uint64_t usec)
{
	return latency_bucket_start(latency_bucket(usec)) == usec;
}

uint64_t latency_count_below(const struct latency_hist *hist, uint64_t usec)
{
	unsigned end = latency_bucket(usec);
	uint64_t n = 0;

	for (unsigned i = 0; i < end; i++)
		n += hist->count[i];
	return n;
}

uint64_t latency_count(const struct latency_hist *hist)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < LATENCY_BUCKETS; i++)
		n += hist->count[i];
	return n;
}

uint64_t latency_percentile(const struct latency_hist *hist, double q)
{
	uint64_t total = latency_count(hist), seen = 0, want;
	unsigned i;

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

uint64_t latency_export_bound_us(unsigned i)
{
	/* 10 << i is 5 << (i + 1): the first value of a bucket. */
	return UINT64_C(10) << i;
}
