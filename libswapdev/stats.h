/* SPDX-License-Identifier: MIT */
/*
 * stats.h - counters and latency histograms.
 *
 * Counters live in each worker (one per thread) and are bumped without
 * atomics read-modify-write contention; a snapshot sums every worker.
 * Field names follow SPEC section 4 and are part of the interface.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* Operation counters, one set per worker; each is monotonic. */
struct store_counters {
	uint64_t reads;		    /* read requests served (any size) */
	uint64_t writes;	    /* write requests served */
	uint64_t discards;	    /* discard requests served */
	uint64_t reads_same;	    /* slots read from a same-filled marker */
	uint64_t reads_pool;	    /* slots decompressed from the pool */
	uint64_t reads_disk;	    /* slots read from the disk tier */
	uint64_t reads_empty;	    /* slots read that held nothing (zeros) */
	uint64_t writes_same;	    /* slots stored as a same-filled marker */
	uint64_t writes_pool;	    /* slots stored in the pool */
	uint64_t writes_disk;	    /* slots stored straight on disk */
	uint64_t partial_writes;    /* sub-slot writes (read-modify-write) */
	uint64_t discarded_slots;   /* slots freed by discards */
	uint64_t incompressible;    /* pages rejected by the compressor */
	uint64_t writeback_pages;   /* pool pages written back to disk */
	uint64_t writeback_cancelled; /* writebacks lost to a newer write/discard */
	uint64_t exclusive_releases; /* loaded pool entries released after writeback */
	/* Pages written straight to disk because the pool had no room: */
	uint64_t writethrough_pool_full;    /* at its limit (-ENOSPC) */
	uint64_t writethrough_pool_growing; /* background growth had no chunk ready (-EAGAIN) */
	uint64_t writethrough_no_memory;    /* the system refused memory (-ENOMEM) */
	uint64_t alloc_failures;    /* pool memory the system refused */
	uint64_t io_errors;	    /* pages the disk tier failed to read or write */
	uint64_t decompress_errors; /* corrupt pool objects (never expected) */
	uint64_t compactions;	    /* objects moved by pool compaction */
	uint64_t recompressed;	    /* idle entries replaced by the second codec */
	uint64_t recompress_not_worth; /* recompressed, but saving too little: kept */
	uint64_t recompress_dropped; /* recompressed, but the slot changed meanwhile */
	uint64_t recompress_cpu_us; /* CPU time spent recompressing */
};

/* Pages written through for any reason (SPEC's writethrough_pages). */
static inline uint64_t counters_writethrough_pages(const struct store_counters *c)
{
	return c->writethrough_pool_full + c->writethrough_pool_growing + c->writethrough_no_memory;
}

/* Latency histogram: log2 buckets of microseconds, 4 sub-buckets each. */
#define LATENCY_BUCKETS 128

struct latency_hist {
	uint64_t count[LATENCY_BUCKETS];
	uint64_t sum_us; /* of every sample, for a mean (Prometheus _sum) */
};

void latency_record(struct latency_hist *hist, uint64_t usec);
/*
 * Samples below usec, exactly when usec is where a bucket starts
 * (latency_is_bucket_start()); otherwise the bucket holding usec is left
 * out, so the count may be short by that bucket.
 */
uint64_t latency_count_below(const struct latency_hist *hist, uint64_t usec);
bool latency_is_bucket_start(uint64_t usec);
/* Every sample recorded. */
uint64_t latency_count(const struct latency_hist *hist);

/*
 * The bounds a histogram is exported at (GetStats, Prometheus "le"):
 * 10 us doubling up to 10.49 s, each a bucket start so that the counts
 * below them are exact. i < LATENCY_EXPORT_BOUNDS.
 */
#define LATENCY_EXPORT_BOUNDS 21
uint64_t latency_export_bound_us(unsigned i);
/* Value below which the fraction q (0..1) of the samples fall, in usec. */
uint64_t latency_percentile(const struct latency_hist *hist, double q);
void latency_merge(struct latency_hist *into, const struct latency_hist *from);
