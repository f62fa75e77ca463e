/* SPDX-License-Identifier: MIT */
/*
 * store_internal.h - what store.c and writeback.c share; not for callers.
 *
 * Lock order (outermost first):
 *   writeback.batch_lock  >  slot lock  >  pool class lock / disk allocator
 *   store.workers_lock and writeback.wake_lock are leaves.
 * Only a read holds several slot locks (a run of DISK slots), taken in
 * ascending slot order.
 */
#pragma once

#include <pthread.h>

#include "disk_tier.h"
#include "pool.h"
#include "same_values.h"
#include "slot_table.h"
#include "store.h"

struct writeback;

/* Disk pages of one write (or read) that go together: 64 KiB in one pwritev (preadv). */
#define STORE_DISK_BATCH 16

struct store_worker {
	struct store *store;
	struct codec_ctx *codec;
	unsigned char *page;  /* aligned scratch page: read-modify-write, disk I/O */
	unsigned char *cbuf;  /* compression output */
	/*
	 * Whole pages of the write in progress that go to the disk tier,
	 * written with one pwritev when the write ends (store.c, disk_batch_*).
	 */
	unsigned nr_batch;
	uint64_t batch_idx[STORE_DISK_BATCH];
	bool batch_writethrough[STORE_DISK_BATCH]; /* pool full, not incompressible */
	struct iovec batch_iov[STORE_DISK_BATCH];
	unsigned char *batch_pages; /* aligned copies of data that was not */
	/*
	 * Whole-page DISK slots of the read in progress whose blocks follow
	 * each other, held locked until one preadv reads them all.
	 */
	unsigned nr_run;
	uint64_t run_first; /* block of run_idx[0] */
	uint64_t run_idx[STORE_DISK_BATCH], run_word[STORE_DISK_BATCH];
	struct iovec run_iov[STORE_DISK_BATCH];
	struct store_counters counters;
	struct latency_hist read_latency, write_latency;
	struct store_worker *next;
};

struct store {
	struct store_config config; /* backing_path not kept; watermarks atomic */
	struct slot_table *table;
	uint64_t *words;
	uint64_t nr_slots;
	struct pool *pool;
	struct same_values *same_values;
	struct disk_tier *disk; /* NULL without a disk tier */

	/* Runtime tunables, read on every write without a lock. */
	uint32_t codec_packed; /* kind << 16 | (level + 128) */
	bool exclusive_loads;

	/* Gauges (not monotonic), changed with relaxed atomics. */
	int64_t same_slots, pool_slots, disk_slots;
	int64_t compr_bytes;

	struct timespec started;

	pthread_mutex_t workers_lock;
	struct store_worker *workers;
	struct store_counters retired; /* counters of freed workers */
	struct latency_hist retired_read_latency, retired_write_latency;

	struct writeback *writeback;
};

/* Seconds since the store started, the unit of pool_obj.stamp. */
uint32_t store_now(const struct store *store);

/* Bump a worker-owned counter: one writer, relaxed so readers are exact. */
#define worker_count(worker, field, n)                                                           \
	__atomic_store_n(&(worker)->counters.field, (worker)->counters.field + (n),            \
			 __ATOMIC_RELAXED)

/* A gauge's value; transiently negative sums read as 0. */
static inline uint64_t store_gauge(const int64_t *g)
{
	int64_t v = __atomic_load_n(g, __ATOMIC_RELAXED);

	return v > 0 ? (uint64_t)v : 0;
}

/* Account a slot word entering (+1) or leaving (-1) its tier. */
void store_account(struct store *store, uint64_t word, int sign);

/* Release what a slot word holds (pool object or disk block) and account it. */
void store_release_home(struct store *store, uint64_t word);

/* Writeback engine, in writeback.c. */
int writeback_new(struct store *store, struct writeback **ret_wb);
void writeback_free(struct writeback *wb);
int writeback_start(struct writeback *wb);
/* Called after a pool allocation pushed use past the high watermark or failed. */
void writeback_poke(struct writeback *wb);
/* Called after a load from the pool with exclusive loads on. */
void writeback_note_loaded(struct writeback *wb, uint64_t idx);
void writeback_get_counters(struct writeback *wb, struct store_counters *into);
int64_t writeback_flush(struct writeback *wb, const struct store_flush_request *request);
void writeback_set_idle_seconds(struct writeback *wb, uint32_t seconds);
