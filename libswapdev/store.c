/* SPDX-License-Identifier: MIT */
/*
 * store.c - the tier state machine behind the swap device.
 *
 * Every slot is one word in the slot table (slot_table.h) naming its only
 * home. A write builds the new home first, without the slot lock (the
 * expensive part: same-filled check, compression, a pool allocation or a
 * disk write), then swaps the word under the lock and frees the old home
 * after unlocking, so a concurrent reader sees either the old or the new
 * data and never a half-built one:
 *
 *            write (same-filled)         write (compressible, pool has room)
 *   EMPTY ─────────────────────► SAME   ─────────────────────────────────► POOL
 *     ▲                                   write (incompressible, or pool full)
 *     │ discard (any state)     ─────────────────────────────────────────► DISK
 *     └──────────────────────── writeback (POOL → DISK, store_wb_claim below)
 *
 * No slot lock is held across disk I/O. A read of a DISK slot pins its
 * block under the lock (a count in the word), unlocks, reads and unpins; a
 * write or discard replacing a pinned word hands the block to its last
 * unpin instead of freeing it, so a read returns the version it pinned,
 * never another slot's data. Decompression of a pool object does run under
 * the lock: it is a few microseconds of CPU.
 *
 * Sub-slot I/O (any byte range; the kernel sends 512-byte sectors, other
 * writers of the file may not) is a read-modify-write: the old page is read
 * and the new home built without the lock, and installed only if the slot
 * still holds the data that was read (else it starts over), so two partial
 * writes to one slot cannot lose each other's bytes.
 *
 * Disk I/O goes in runs: the pages of one write bound for disk are queued
 * and written with one pwritev to consecutive blocks before their slots
 * get their words; a read pins DISK slots whose blocks follow each other
 * and reads them with one preadv.
 *
 * Lock order: writeback's batch_lock > slot lock (one at a time) > pool
 * class lock, released_lock, disk allocator lock; workers_lock is a leaf.
 *
 * A read never frees a slot's data (its last unpin may free a block that
 * no slot holds any more). With exclusive loads on, a read from the pool
 * only marks the slot LOADED and tells writeback, which gives the page a
 * durable disk copy and only then releases the pool object (and only if
 * no write or discard replaced the slot meanwhile).
 *
 * Counters are per worker (one writer each); gauges (slots per tier,
 * compressed bytes) are shared relaxed atomics.
 *
 * The slot words, the shared same values and the pool's chunks live in
 * one memfd (state_region.h), and the word is the single commit point:
 * every new home (pool object with its header, chunk class, same-value
 * entry, disk block) is complete before the release store of the word
 * that names it, and an old home is freed only after its word is gone.
 * So a process that dies at any instant leaves a memfd that store_adopt()
 * (below) can rebuild a store from; docs/DESIGN.md section 9a goes step by
 * step.
 */
#include <assert.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common.h"
#include "pool.h"
#include "same_values.h"
#include "slot_table.h"
#include "state_region.h"
#include "store.h"
#include "writeback.h"

/* Disk pages of one write (or read) that go together: 64 KiB in one pwritev (preadv). */
#define STORE_DISK_BATCH 16
/*
 * Blocks between two pages of one disk read or write that the I/O may
 * cover too, so that it stays one system call: a read reads them into the
 * worker's gap_page and drops them; a write writes store->gap_page (zeros,
 * never written to, so shared) to them while it holds them allocated (free
 * blocks only). Homes put neighbouring slots in neighbouring blocks, but a
 * request's slots in the pool leave holes.
 */
#define STORE_DISK_GAP 3
#define STORE_DISK_SPAN (STORE_DISK_BATCH * (STORE_DISK_GAP + 1)) /* blocks per I/O, at most */

struct store_worker {
	struct store *store;
	struct codec_ctx *codec;
	unsigned char *page;  /* aligned scratch page: read-modify-write, disk I/O */
	unsigned char *gap_page; /* aligned: where disk reads drop the blocks in their gaps */
	unsigned char *cbuf;  /* compression output */
	/*
	 * Whole pages of the write in progress that go to the disk tier,
	 * written with one pwritev when the write ends (disk_batch_*).
	 */
	unsigned nr_batch;
	uint64_t batch_idx[STORE_DISK_BATCH];
	uint8_t batch_to_disk[STORE_DISK_BATCH]; /* why: TO_DISK, TO_DISK_POOL_FULL, ... */
	struct iovec batch_iov[STORE_DISK_BATCH];
	unsigned char *batch_pages; /* aligned copies of data that was not */
	/*
	 * Whole-page DISK slots of the read in progress whose blocks follow
	 * each other (up to STORE_DISK_GAP blocks apart), pinned until one
	 * preadv of run_blocks blocks from run_first reads them all.
	 */
	unsigned nr_run, run_blocks;
	uint64_t run_first; /* block of run_idx[0] */
	uint64_t run_idx[STORE_DISK_BATCH], run_block[STORE_DISK_BATCH];
	struct iovec run_iov[STORE_DISK_SPAN];
	struct iovec span_iov[STORE_DISK_SPAN]; /* disk_write_runs() */
	unsigned char *base; /* patch_slot(): the pool object the patch started from */
	struct store_counters counters;
	struct latency_hist read_latency, write_latency;
	struct store_worker *next;
};

struct store {
	struct store_config config; /* backing_path not kept; watermarks atomic */
	struct state_region *region; /* the memfd all of the below but disk lives in */
	struct slot_table *table;
	uint64_t *words;
	uint64_t nr_slots;
	struct pool *pool;
	struct same_values *same_values;
	struct disk_tier *disk; /* NULL without a disk tier */
	void *gap_page;		/* aligned zeros: what disk writes put in gaps (STORE_DISK_GAP) */

	/* Runtime tunables, read on every write without a lock. */
	uint32_t codec_packed; /* kind << 16 | (level + 128) */
	bool exclusive_loads;

	/* Gauges (not monotonic), changed with relaxed atomics. */
	int64_t same_slots, pool_slots, disk_slots;
	int64_t compr_bytes;
	int64_t raw_slots, zstd_slots, zstd_bytes; /* pool entries by how they are held */

	struct timespec started;

	pthread_mutex_t workers_lock;
	struct store_worker *workers;
	struct store_counters retired; /* counters of freed workers */
	struct latency_hist retired_read_latency, retired_write_latency;

	struct writeback *writeback;

	/*
	 * Disk blocks whose slot moved on while reads of them were in flight
	 * (pinned blocks, see pin_and_unlock()); the last unpin frees each.
	 * Room for every pin the workers can hold, reserved as they are made.
	 */
	pthread_mutex_t released_lock;
	struct released_block *released;
	unsigned nr_released, max_released;
};

struct released_block {
	uint64_t block;
	unsigned pins;
};

/* Pins one worker holds at most: a read's run and one more slot. */
#define WORKER_MAX_PINS (STORE_DISK_BATCH + 1)


/* Extra disk blocks beyond one per slot: room for writeback batches in
 * flight (64 blocks), for writes replacing DISK slots before their old
 * blocks are freed (up to STORE_DISK_BATCH blocks per worker) and for
 * replaced blocks that reads still pin (WORKER_MAX_PINS per worker): 72
 * workers with 64 FUSE ring queues take 2376. */
#define DISK_SLACK_BLOCKS 4096

static uint32_t codec_pack(const struct codec_spec *spec)
{
	return ((uint32_t)spec->kind << 16) | (uint32_t)(spec->level + 128);
}

static struct codec_spec codec_unpack(uint32_t packed)
{
	return (struct codec_spec){ .kind = (enum codec_kind)(packed >> 16),
				    .level = (int)(packed & 0xffff) - 128 };
}

/*
 * In pool_obj.stamp beside the time: idle recompression found the entry
 * not worth replacing (or unreadable). It is not tried again until a read
 * or write stamps it anew: without the mark every pass would spend its CPU
 * budget compressing the same entries again, for ever.
 */
#define STAMP_KEPT (UINT32_C(1) << 31)

/* Seconds since the store started, the unit of pool_obj.stamp. */
static uint32_t store_now(const struct store *store)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
	return (uint32_t)(now.tv_sec - store->started.tv_sec) & ~STAMP_KEPT;
}


/* Seconds since a read or write last touched obj. */
static uint32_t obj_idle_seconds(const struct store *store, const struct pool_obj *obj)
{
	return store_now(store) - (obj->stamp & ~STAMP_KEPT);
}

static uint64_t usec_since(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)(now.tv_sec - start->tv_sec) * 1000000u +
	       (uint64_t)((now.tv_nsec - start->tv_nsec) / 1000);
}

/* Bump a worker-owned counter: one writer, relaxed so readers are exact. */
#define worker_count(worker, field, n)                                                           \
	__atomic_store_n(&(worker)->counters.field, (worker)->counters.field + (n),            \
			 __ATOMIC_RELAXED)

/* A gauge's value; transiently negative sums read as 0. */
static uint64_t store_gauge(const int64_t *g)
{
	int64_t v = __atomic_load_n(g, __ATOMIC_RELAXED);

	return v > 0 ? (uint64_t)v : 0;
}

/* Account a slot word entering (+1) or leaving (-1) its tier. */
static void store_account(struct store *store, uint64_t word, int sign)
{
	switch (slot_state(word)) {
	case SLOT_EMPTY:
		break;
	case SLOT_SAME:
		counter_add(&store->same_slots, sign);
		break;
	case SLOT_POOL:
		counter_add(&store->pool_slots, sign);
		counter_add(&store->compr_bytes, sign * (int64_t)slot_pool_len(word));
		if (slot_pool_len(word) == SWAPDEV_PAGE_SIZE) {
			counter_add(&store->raw_slots, sign);
		} else if (slot_pool_codec(word) == CODEC_ZSTD) {
			counter_add(&store->zstd_slots, sign);
			counter_add(&store->zstd_bytes, sign * (int64_t)slot_pool_len(word));
		}
		break;
	case SLOT_DISK:
		counter_add(&store->disk_slots, sign);
		break;
	}
}

/*
 * Free what a slot word holds (a shared same value, pool object or disk
 * block). A pinned block is left to its last unpin (install_locked()).
 */
static void free_home(struct store *store, uint64_t word)
{
	uint32_t index;

	if (slot_state(word) == SLOT_SAME && slot_same_indexed(word, &index))
		same_values_put(store->same_values, index);
	else if (slot_state(word) == SLOT_POOL)
		pool_release(store->pool, slot_pool_handle(word));
	else if (slot_state(word) == SLOT_DISK && slot_disk_pins(word) == 0)
		disk_release(store->disk, slot_disk_block(word));
}

static int validate_recompress(const struct store_recompress *r)
{
	if (!r->enabled)
		return 0;
	if (r->codec.kind != CODEC_ZSTD || r->min_saving_percent > 90 || r->cpu_percent == 0 ||
	    r->cpu_percent > 100)
		return -EINVAL;
	return 0;
}

static int validate_config(const struct store_config *c)
{
	if (c->size == 0 || c->size % SWAPDEV_PAGE_SIZE != 0)
		return -EINVAL;
	if (c->background_growth && !c->backing_path)
		return -EINVAL;
	if (c->pool_limit == 0 || (c->pool_max != 0 && c->pool_max < c->pool_limit))
		return -EINVAL;
	if (c->reject_threshold < 64 || c->reject_threshold > SWAPDEV_PAGE_SIZE)
		return -EINVAL;
	if (c->codec.kind != CODEC_LZ4 && c->codec.kind != CODEC_ZSTD)
		return -EINVAL;
	if (c->high_watermark > 100 || c->low_watermark >= c->high_watermark)
		return -EINVAL;
	return validate_recompress(&c->recompress);
}

uint64_t store_backing_file_bytes(uint64_t size)
{
	return (size / SWAPDEV_PAGE_SIZE + DISK_SLACK_BLOCKS) * SWAPDEV_PAGE_SIZE;
}

/*
 * A store around region (adopted or fresh; the store owns it from here):
 * everything but the slot words' meaning, which adoption rebuilds before
 * store_start() runs the threads.
 */
static int store_build(const struct store_config *config, struct state_region *region,
		       struct store **ret_store)
{
	const struct state_region_map *map = state_region_map(region);
	struct pool_region pool_region = {
		.fd = map->fd,
		.classes_offset = map->classes_offset,
		.arena_offset = map->arena_offset,
		.classes = map->classes,
		.arena = map->arena,
		.nr_chunks = map->nr_chunks,
	};
	struct store *store;
	int r;

	store = calloc(1, sizeof(*store));
	if (!store) {
		state_region_free(region);
		return -ENOMEM;
	}
	store->region = region;
	store->config = *config;
	store->config.backing_path = NULL;
	store->nr_slots = config->size / SWAPDEV_PAGE_SIZE;
	store->codec_packed = codec_pack(&config->codec);
	store->exclusive_loads = config->exclusive_loads;
	/* Pool stamps count from here, in the old process's life too. */
	store->started = (struct timespec){ .tv_sec = state_region_clock_base(region) };
	pthread_mutex_init(&store->workers_lock, NULL);
	pthread_mutex_init(&store->released_lock, NULL);

	r = slot_table_new(map->slots, store->nr_slots, &store->table);
	if (r < 0)
		goto fail;
	/* 64 KiB, touched by rare writes only: fault it in now, not on the request path. */
	populate_write(map->same_values, SAME_VALUES_BYTES);
	r = same_values_new(map->same_values, &store->same_values);
	if (r < 0)
		goto fail;
	store->words = slot_table_words(store->table);
	r = pool_new(config->pool_limit, config->pool_max ? config->pool_max : config->pool_limit,
		     &pool_region, &store->pool);
	if (r < 0)
		goto fail;
	if (config->backing_path) {
		r = disk_tier_open(config->backing_path, store->nr_slots + DISK_SLACK_BLOCKS,
				   config->disk_ops, &store->disk);
		if (r < 0)
			goto fail;
		disk_reserve_homes(store->disk, store->nr_slots);
		store->gap_page = aligned_alloc(SWAPDEV_PAGE_SIZE, SWAPDEV_PAGE_SIZE);
		if (!store->gap_page) {
			r = -ENOMEM;
			goto fail;
		}
		memset(store->gap_page, 0, SWAPDEV_PAGE_SIZE);
	}
	*ret_store = store;
	return 0;
fail:
	store_free(store);
	return r;
}

/* The threads and policy of a built (and, if adopted, rebuilt) store. */
static int store_start(struct store *store)
{
	const struct store_config *config = &store->config;
	int r;

	if (store->disk) {
		r = writeback_new(store, config->idle_seconds, &store->writeback);
		if (r < 0)
			return r;
		writeback_set_recompress(store->writeback, &config->recompress);
	}
	if (config->background_growth)
		return pool_start_grower(store->pool);
	return 0;
}

int store_new(const struct store_config *config, struct store **ret_store)
{
	struct state_region *region;
	struct store *store;
	struct timespec now;
	int r;

	r = validate_config(config);
	if (r < 0)
		return r;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
	r = state_region_new(config->size / SWAPDEV_PAGE_SIZE,
			     pool_chunk_indices(config->pool_max ? config->pool_max
								  : config->pool_limit),
			     now.tv_sec, &region);
	if (r < 0)
		return r;
	r = store_build(config, region, &store);
	if (r < 0)
		return r;
	r = store_start(store);
	if (r < 0) {
		store_free(store);
		return r;
	}
	*ret_store = store;
	return 0;
}

int store_state_fd(const struct store *store)
{
	return state_region_map(store->region)->fd;
}

/*
 * Adoption: a new process builds a store around the state memfd of one
 * that died (at any instant: docs/DESIGN.md, "Crash consistency and
 * adoption", walks through every step). The slot words are the only
 * commit point, so one pass over them is the whole recovery: what a dead
 * thread held (LOCK), the writeback claim it had in flight (WRITEBACK:
 * the pool object is still the home) and the reads it had pinned (DISK
 * pins) are cleared; every home a word names is checked against the rest
 * of the memfd and taken (pool object, disk block, same-value reference);
 * whatever no word names is free. A contradiction refuses the memfd
 * rather than serve wrong data.
 */
#define SLOT_POOL_UNUSED_BIT (UINT64_C(1) << 56)

static int adopt_refuse(struct store_adopt_report *report, uint64_t idx, uint64_t word,
			const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int adopt_refuse(struct store_adopt_report *report, uint64_t idx, uint64_t word,
			const char *fmt, ...)
{
	int n = snprintf(report->error, sizeof(report->error), "slot %" PRIu64 " (word %#018" PRIx64 "): ",
			 idx, word);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(report->error + n, sizeof(report->error) - (size_t)n, fmt, ap);
	va_end(ap);
	return -EBADMSG;
}

static int adopt_pool_slot(struct store *store, uint64_t idx, uint64_t word,
			   struct store_adopt_report *report)
{
	uint64_t handle = slot_pool_handle(word);
	unsigned len = slot_pool_len(word);
	int r;

	if (word & SLOT_POOL_UNUSED_BIT)
		return adopt_refuse(report, idx, word, "pool word with bit 56 set");
	if (len == 0 || len > SWAPDEV_PAGE_SIZE)
		return adopt_refuse(report, idx, word, "pool length %u out of range", len);
	r = pool_adopt_object(store->pool, handle, sizeof(struct pool_obj) + len, (uint32_t)idx);
	switch (r) {
	case 0:
		return 0;
	case -ENOENT:
		return adopt_refuse(report, idx, word, "pool handle %#" PRIx64 ": chunk has no class",
				    handle);
	case -ERANGE:
		return adopt_refuse(report, idx, word,
				    "pool handle %#" PRIx64 ": object beyond its chunk's capacity",
				    handle);
	case -EMSGSIZE:
		return adopt_refuse(report, idx, word,
				    "pool handle %#" PRIx64 ": %u bytes are not of its chunk's class",
				    handle, len);
	case -EPERM:
		return adopt_refuse(report, idx, word,
				    "pool handle %#" PRIx64 ": the object's owner is slot %" PRIu32,
				    handle, pool_map(store->pool, handle)->owner);
	default:
		return adopt_refuse(report, idx, word,
				    "pool handle %#" PRIx64 " is named by another slot too", handle);
	}
}

/* Clean the word of slot idx of a dead process's traces, check it, and take its home. */
static int adopt_slot(struct store *store, uint64_t idx, struct store_adopt_report *report)
{
	uint64_t word = store->words[idx], block;
	uint32_t index;
	int r;

	if (word & SLOT_LOCK)
		report->locks_cleared++;
	word &= ~SLOT_LOCK;
	switch (slot_state(word)) {
	case SLOT_EMPTY:
		if (word != 0)
			return adopt_refuse(report, idx, word, "EMPTY with other bits set");
		break;
	case SLOT_SAME:
		if (word & SLOT_FLAGS)
			return adopt_refuse(report, idx, word, "SAME with a flag set");
		if ((word & SLOT_SAME_FORM_MASK) == SLOT_SAME_FORM_MASK)
			return adopt_refuse(report, idx, word, "unknown same-filled form");
		if ((word & SLOT_SAME_FORM_MASK) == SLOT_SAME_FORM32 &&
		    (word & SLOT_SAME_VALUE_MASK) >> 32)
			return adopt_refuse(report, idx, word, "32-bit same value wider than 32 bits");
		if (slot_same_indexed(word, &index) &&
		    same_values_adopt_ref(store->same_values, index) < 0)
			return adopt_refuse(report, idx, word, "same value %" PRIu32 " does not exist",
					    index);
		break;
	case SLOT_POOL:
		if (word & SLOT_WRITEBACK)
			report->writeback_flags_cleared++;
		word &= ~SLOT_WRITEBACK;
		r = adopt_pool_slot(store, idx, word, report);
		if (r < 0)
			return r;
		break;
	case SLOT_DISK:
		if (word & SLOT_FLAGS)
			return adopt_refuse(report, idx, word, "DISK with a flag set");
		block = slot_disk_block(word);
		if (!store->disk)
			return adopt_refuse(report, idx, word, "DISK but the store has no disk tier");
		r = disk_adopt_block(store->disk, block);
		if (r == -ERANGE)
			return adopt_refuse(report, idx, word,
					    "disk block %" PRIu64 " is past the file's %" PRIu64
					    " blocks", block, disk_blocks_total(store->disk));
		if (r < 0)
			return adopt_refuse(report, idx, word,
					    "disk block %" PRIu64 " is named by another slot too",
					    block);
		report->pins_cleared += slot_disk_pins(word);
		word = slot_make_disk(block);
		break;
	}
	store->words[idx] = word;
	store_account(store, word, +1);
	report->slots[slot_state(word)]++;
	return 0;
}

/* One pass over the slot words that were ever written (holes are EMPTY). */
static int adopt_scan(struct store *store, struct store_adopt_report *report)
{
	const struct state_region_map *map = state_region_map(store->region);
	uint64_t pos = map->slots_offset, end = pos + store->nr_slots * sizeof(uint64_t);
	uint64_t start, stop;
	int r;

	same_values_adopt_reset(store->same_values);
	while (fd_next_data(map->fd, pos, end, &start, &stop)) {
		uint64_t idx = (start - map->slots_offset) / sizeof(uint64_t);
		uint64_t last = DIV_ROUND_UP(stop - map->slots_offset, sizeof(uint64_t));

		for (; idx < last; idx++) {
			if (store->words[idx] == 0)
				continue;
			r = adopt_slot(store, idx, report);
			if (r < 0)
				return r;
		}
		pos = stop;
	}
	/* Zero words and holes alike. */
	report->slots[SLOT_EMPTY] = store->nr_slots - report->slots[SLOT_SAME] -
				    report->slots[SLOT_POOL] - report->slots[SLOT_DISK];
	return 0;
}

int store_adopt(const struct store_config *config, int state_fd,
		struct store_adopt_report *report, struct store **ret_store)
{
	struct pool_adopt_totals totals;
	struct state_region *region;
	struct timespec start, end;
	struct pool_stats ps;
	struct store *store;
	int r;

	*report = (struct store_adopt_report){ 0 };
	r = validate_config(config);
	if (r < 0) {
		snprintf(report->error, sizeof(report->error), "invalid store configuration");
		return r;
	}
	r = state_region_adopt(state_fd, config->size / SWAPDEV_PAGE_SIZE, report->error,
			       sizeof(report->error), &region);
	if (r < 0)
		return r;
	r = store_build(config, region, &store);
	if (r < 0) {
		snprintf(report->error, sizeof(report->error), "cannot build the store: %s",
			 strerror(-r));
		return r;
	}

	clock_gettime(CLOCK_MONOTONIC, &start);
	r = adopt_scan(store, report);
	if (r < 0) {
		store_free(store);
		return r;
	}
	pool_adopt_finish(store->pool, &totals);
	clock_gettime(CLOCK_MONOTONIC, &end);
	report->scan_ns = (uint64_t)(end.tv_sec - start.tv_sec) * 1000000000u +
			  (uint64_t)(end.tv_nsec - start.tv_nsec);

	pool_get_stats(store->pool, &ps);
	report->pool_objects = ps.objects;
	report->pool_object_bytes = ps.object_bytes;
	report->pool_footprint_bytes = ps.footprint_bytes;
	report->disk_blocks = store->disk ? disk_blocks_used(store->disk) : 0;
	report->orphan_objects = totals.orphan_objects;
	report->orphan_chunks = totals.orphan_chunks;

	r = store_start(store);
	if (r < 0) {
		snprintf(report->error, sizeof(report->error), "cannot start the store: %s",
			 strerror(-r));
		store_free(store);
		return r;
	}
	*ret_store = store;
	return 0;
}

/* Free a worker's buffers and the worker; accepts a half-built one. */
static void worker_destroy(struct store_worker *w)
{
	codec_ctx_free(w->codec);
	free(w->page);
	free(w->gap_page);
	free(w->cbuf);
	free(w->base);
	free(w->batch_pages);
	free(w);
}

void store_free(struct store *store)
{
	struct store_worker *w, *next;

	if (!store)
		return;
	writeback_free(store->writeback);
	for (w = store->workers; w; w = next) {
		next = w->next;
		worker_destroy(w);
	}
	disk_tier_close(store->disk);
	free(store->gap_page);
	pool_free(store->pool);
	same_values_free(store->same_values);
	slot_table_free(store->table);
	state_region_free(store->region);
	pthread_mutex_destroy(&store->workers_lock);
	pthread_mutex_destroy(&store->released_lock);
	free(store->released);
	free(store);
}

int store_start_writeback(struct store *store)
{
	return store->writeback ? writeback_start(store->writeback) : 0;
}

/*
 * Touch everything a request uses before the first one arrives (buffers,
 * the codec's state and workspace, which zstd sizes on first use): in the
 * daemon, a page fault on the request path is charged to its memory cgroup
 * and may wait for swap writes that only the daemon can serve.
 */
static void worker_warm_up(struct store_worker *w, const struct codec_spec *spec)
{
	unsigned char *page = w->page;
	ssize_t n;

	for (size_t i = 0; i < SWAPDEV_PAGE_SIZE; i++)
		page[i] = (unsigned char)(i % 251 + (i >> 9));
	memset(w->cbuf, 0, SWAPDEV_PAGE_SIZE);
	memset(w->base, 0, SWAPDEV_PAGE_SIZE);
	memset(w->batch_pages, 0, STORE_DISK_BATCH * SWAPDEV_PAGE_SIZE);
	n = codec_compress(w->codec, spec, page, SWAPDEV_PAGE_SIZE, w->cbuf, SWAPDEV_PAGE_SIZE);
	if (n > 0)
		codec_decompress(w->codec, spec->kind, w->cbuf, (size_t)n, page, SWAPDEV_PAGE_SIZE);
}

/* Room in the released list for the pins of one more worker. */
static int reserve_released(struct store *store)
{
	struct released_block *grown;
	int r = 0;

	pthread_mutex_lock(&store->released_lock);
	grown = realloc(store->released,
			(store->max_released + WORKER_MAX_PINS) * sizeof(*store->released));
	if (grown) {
		store->released = grown;
		store->max_released += WORKER_MAX_PINS;
	} else {
		r = -ENOMEM;
	}
	pthread_mutex_unlock(&store->released_lock);
	return r;
}

int store_worker_new(struct store *store, struct store_worker **ret_worker)
{
	struct store_worker *w;
	struct codec_spec spec;
	int r;

	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->store = store;
	w->page = aligned_alloc(SWAPDEV_PAGE_SIZE, SWAPDEV_PAGE_SIZE);
	w->gap_page = aligned_alloc(SWAPDEV_PAGE_SIZE, SWAPDEV_PAGE_SIZE);
	w->cbuf = malloc(SWAPDEV_PAGE_SIZE);
	w->base = malloc(SWAPDEV_PAGE_SIZE);
	w->batch_pages = aligned_alloc(SWAPDEV_PAGE_SIZE, STORE_DISK_BATCH * SWAPDEV_PAGE_SIZE);
	r = codec_ctx_new(&w->codec);
	if (r == 0 && (!w->page || !w->gap_page || !w->cbuf || !w->base || !w->batch_pages))
		r = -ENOMEM;
	if (r == 0)
		r = reserve_released(store);
	if (r < 0) {
		worker_destroy(w);
		return -ENOMEM;
	}
	spec = codec_unpack(__atomic_load_n(&store->codec_packed, __ATOMIC_RELAXED));
	worker_warm_up(w, &spec);
	pthread_mutex_lock(&store->workers_lock);
	w->next = store->workers;
	store->workers = w;
	pthread_mutex_unlock(&store->workers_lock);
	*ret_worker = w;
	return 0;
}

static void counters_add(struct store_counters *into, const struct store_counters *from)
{
	uint64_t *dst = (uint64_t *)into;
	const uint64_t *src = (const uint64_t *)from;

	for (size_t i = 0; i < sizeof(*into) / sizeof(uint64_t); i++)
		dst[i] += counter_read(&src[i]);
}

void store_worker_free(struct store_worker *worker)
{
	struct store *store;
	struct store_worker **p;

	if (!worker)
		return;
	store = worker->store;
	pthread_mutex_lock(&store->workers_lock);
	for (p = &store->workers; *p; p = &(*p)->next)
		if (*p == worker) {
			*p = worker->next;
			break;
		}
	counters_add(&store->retired, &worker->counters);
	latency_merge(&store->retired_read_latency, &worker->read_latency);
	latency_merge(&store->retired_write_latency, &worker->write_latency);
	pthread_mutex_unlock(&store->workers_lock);
	worker_destroy(worker);
}

/* Write the page of slot idx to a fresh disk block; on success *ret_word is its home. */
static int encode_disk(struct store_worker *w, uint64_t idx, const void *page,
		       uint64_t *ret_word)
{
	struct store *store = w->store;
	struct iovec iov;
	uint64_t block;
	int r;

	if (!store->disk)
		return -ENOSPC;
	r = disk_alloc_home(store->disk, idx, 1, &block);
	if (r < 0)
		return r;
	if ((uintptr_t)page % SWAPDEV_PAGE_SIZE != 0) {
		memcpy(w->page, page, SWAPDEV_PAGE_SIZE);
		page = w->page;
	}
	iov = (struct iovec){ .iov_base = (void *)page, .iov_len = SWAPDEV_PAGE_SIZE };
	r = disk_write(store->disk, block, &iov, 1);
	if (r < 0) {
		disk_release(store->disk, block);
		worker_count(w, io_errors, 1);
		return r;
	}
	worker_count(w, writes_disk, 1);
	*ret_word = slot_make_disk(block);
	return 0;
}

static bool pool_above_high_watermark(struct store *store)
{
	struct pool_stats ps;

	pool_get_stats(store->pool, &ps);
	return ps.footprint_bytes * 100 >
	       ps.limit_bytes * __atomic_load_n(&store->config.high_watermark, __ATOMIC_RELAXED);
}

/* What encode_page() asks of its caller when the page belongs on disk, and why. */
enum {
	TO_DISK = 1,	      /* incompressible, bound for disk now (see encode_page) */
	TO_DISK_POOL_FULL,    /* written through: the pool is at its limit */
	TO_DISK_POOL_GROWING, /* written through: background growth had no chunk ready */
	TO_DISK_NO_MEMORY,    /* written through: the system refused pool memory */
};

/* Count a page that reached the disk for reason (a TO_DISK_* value). */
static void count_to_disk(struct store_worker *w, int reason)
{
	switch (reason) {
	case TO_DISK_POOL_FULL:
		worker_count(w, writethrough_pool_full, 1);
		break;
	case TO_DISK_POOL_GROWING:
		worker_count(w, writethrough_pool_growing, 1);
		break;
	case TO_DISK_NO_MEMORY:
		worker_count(w, writethrough_no_memory, 1);
		break;
	}
}

/*
 * Build the in-memory home for one page of slot idx: a same-filled word or
 * a pool object, in *ret_word; or return a TO_DISK* reason
 * for the caller to write the page to the disk tier. Nothing is visible
 * to readers until the caller installs the word.
 */
static int encode_page(struct store_worker *w, uint64_t idx, const void *page, uint64_t *ret_word)
{
	struct store *store = w->store;
	struct codec_spec spec = codec_unpack(__atomic_load_n(&store->codec_packed, __ATOMIC_RELAXED));
	const void *data = w->cbuf;
	struct pool_obj *obj;
	uint64_t value, handle;
	uint32_t index;
	ssize_t len;
	int r;

	if (store->config.same_filled && page_same_filled(page, &value)) {
		/* Inline if the value fits, else shared; a full table means pool. */
		bool stored = slot_make_same(value, ret_word);

		if (!stored && same_values_get(store->same_values, value, &index) == 0) {
			*ret_word = slot_make_same_indexed(index);
			stored = true;
		}
		if (stored) {
			worker_count(w, writes_same, 1);
			return 0;
		}
	}

	/* Stored lengths stay below 4096: that length means "raw page". */
	len = codec_compress(w->codec, &spec, page, SWAPDEV_PAGE_SIZE, w->cbuf,
			     MIN(store->config.reject_threshold, SWAPDEV_PAGE_SIZE - 1));
	if (len == -ENOBUFS) {
		worker_count(w, incompressible, 1);
		/* Past the high watermark a raw page would be the next written
		 * back: write it now instead of twice. */
		if (store->disk &&
		    (!store->config.incompressible_to_pool || pool_above_high_watermark(store)))
			return TO_DISK;
		data = page;
		len = SWAPDEV_PAGE_SIZE;
	} else if (len < 0) {
		return (int)len;
	}

	r = pool_alloc(store->pool, sizeof(struct pool_obj) + (size_t)len, &handle);
	if (r < 0) {
		if (r == -ENOMEM)
			worker_count(w, alloc_failures, 1);
		if (!store->disk)
			return -ENOSPC;
		writeback_poke(store->writeback);
		return r == -EAGAIN ? TO_DISK_POOL_GROWING
		       : r == -ENOMEM ? TO_DISK_NO_MEMORY
				      : TO_DISK_POOL_FULL;
	}
	obj = pool_map(store->pool, handle);
	/* Compaction may read a recycled object's owner: publish atomically. */
	__atomic_store_n(&obj->owner, (uint32_t)idx, __ATOMIC_RELAXED);
	obj->stamp = store_now(store);
	memcpy(obj->data, data, (size_t)len);
	worker_count(w, writes_pool, 1);
	if (store->writeback && pool_above_high_watermark(store))
		writeback_poke(store->writeback);
	*ret_word = slot_make_pool(handle, (unsigned)len, spec.kind);
	return 0;
}

/* encode_page(), writing a page bound for disk at once. */
static int encode_page_now(struct store_worker *w, uint64_t idx, const void *page,
			   uint64_t *ret_word)
{
	int r = encode_page(w, idx, page, ret_word), to_disk = r;

	if (r <= 0)
		return r;
	r = encode_disk(w, idx, page, ret_word);
	if (r < 0)
		return r;
	count_to_disk(w, to_disk);
	return 0;
}

/*
 * Pinned disk blocks. A read of a DISK slot takes the block and a pin (the
 * count in the slot word) under the slot lock, unlocks, reads, and unpins,
 * so that no slot lock is held across disk I/O and the block cannot be
 * freed and handed to another slot while the read is in flight. A write or
 * discard that replaces a pinned word moves the block and its pins to the
 * store's released list, before it unlocks, instead of freeing it; the
 * last unpin frees it there. No slot can get a pinned block again, so a
 * slot that still names the block holds the very version that was pinned.
 */

/*
 * Pin the block of the DISK slot locked with word, and unlock the slot.
 * False, unlocked, when the pin count is full (more workers reading the
 * slot than it counts): the caller starts over.
 */
static bool pin_and_unlock(struct store *store, uint64_t idx, uint64_t word)
{
	if (slot_disk_pins(word) == SLOT_DISK_PINS_MAX) {
		slot_unlock(store->words, idx, word);
		sched_yield();
		return false;
	}
	slot_unlock(store->words, idx, word + SLOT_DISK_PIN);
	return true;
}

/* The block of slot idx is read: unpin it, and free it after the last pin of a released one. */
static void unpin(struct store *store, uint64_t idx, uint64_t block)
{
	uint64_t word = slot_lock(store->words, idx);
	bool last = false;

	if (slot_state(word) == SLOT_DISK && slot_disk_block(word) == block) {
		slot_unlock(store->words, idx, word - SLOT_DISK_PIN);
		return;
	}
	slot_unlock(store->words, idx, word);
	pthread_mutex_lock(&store->released_lock);
	for (unsigned i = 0; i < store->nr_released; i++) {
		if (store->released[i].block != block)
			continue;
		if (--store->released[i].pins == 0) {
			store->released[i] = store->released[--store->nr_released];
			last = true;
		}
		break;
	}
	pthread_mutex_unlock(&store->released_lock);
	if (last)
		disk_release(store->disk, block);
}

/*
 * Replace the word of a slot whose lock the caller holds, and free the old
 * home. A pinned block goes to the released list before the unlock, so
 * that its unpins, which lock the slot first, find it there.
 */
static void install_locked(struct store *store, uint64_t idx, uint64_t old, uint64_t word)
{
	if (slot_state(old) == SLOT_DISK && slot_disk_pins(old) > 0) {
		pthread_mutex_lock(&store->released_lock);
		/* Never full: it holds fewer blocks than there are pins (reserve_released()). */
		assert(store->nr_released < store->max_released);
		store->released[store->nr_released++] = (struct released_block){
			.block = slot_disk_block(old), .pins = slot_disk_pins(old)
		};
		pthread_mutex_unlock(&store->released_lock);
	}
	slot_unlock(store->words, idx, word);
	store_account(store, word, +1);
	store_account(store, old, -1);
	free_home(store, old);
}

/* The value of every 8 bytes of a SAME slot's page. */
static uint64_t same_value(struct store *store, uint64_t word)
{
	uint32_t index;

	if (slot_same_indexed(word, &index))
		return same_values_value(store->same_values, index);
	return slot_same_value(word);
}

/*
 * Produce the data of a locked EMPTY, SAME or POOL slot with word into dst
 * (a whole page). *word gains REFERENCED for pool reads; the caller unlocks
 * with it.
 */
static int decode_locked(struct store_worker *w, uint64_t *word, void *dst)
{
	struct store *store = w->store;
	struct pool_obj *obj;
	uint64_t value, *p;
	ssize_t n;

	switch (slot_state(*word)) {
	case SLOT_EMPTY:
		memset(dst, 0, SWAPDEV_PAGE_SIZE);
		worker_count(w, reads_empty, 1);
		return 0;
	case SLOT_SAME:
		value = same_value(store, *word);
		p = dst;
		for (size_t i = 0; i < SWAPDEV_PAGE_SIZE / 8; i++)
			p[i] = value;
		worker_count(w, reads_same, 1);
		return 0;
	case SLOT_POOL:
		obj = pool_map(store->pool, slot_pool_handle(*word));
		if (slot_pool_len(*word) == SWAPDEV_PAGE_SIZE) {
			memcpy(dst, obj->data, SWAPDEV_PAGE_SIZE);
		} else {
			n = codec_decompress(w->codec, slot_pool_codec(*word), obj->data,
					     slot_pool_len(*word), dst, SWAPDEV_PAGE_SIZE);
			if (n < 0) {
				/* What the decoder wrote before it gave up is nobody's data. */
				memset(dst, 0, SWAPDEV_PAGE_SIZE);
				worker_count(w, decompress_errors, 1);
				return (int)n;
			}
		}
		obj->stamp = store_now(store);
		*word |= SLOT_REFERENCED;
		worker_count(w, reads_pool, 1);
		return 0;
	case SLOT_DISK:
		break;
	}
	assert(!"decode_locked() of a DISK slot: read it pinned");
	return -EINVAL;
}

/* Read a pinned block into dst (a whole page, aligned or not). */
static int read_pinned(struct store_worker *w, uint64_t block, void *dst)
{
	bool aligned = (uintptr_t)dst % SWAPDEV_PAGE_SIZE == 0;
	int r;

	r = disk_read(w->store->disk, block, aligned ? dst : w->page);
	if (r < 0) {
		worker_count(w, io_errors, 1);
		return r;
	}
	if (!aligned)
		memcpy(dst, w->page, SWAPDEV_PAGE_SIZE);
	worker_count(w, reads_disk, 1);
	return 0;
}

/*
 * Read a slot locked with word into dst and unlock it; tell writeback of a
 * first load. A DISK slot is read pinned, unlocked. Returns -EAGAIN when
 * the caller must lock the slot and start over (pin_and_unlock()).
 */
static int read_locked(struct store_worker *w, uint64_t idx, uint64_t word, void *dst)
{
	struct store *store = w->store;
	uint64_t before = word, block = slot_disk_block(word);
	int r;

	if (slot_state(word) == SLOT_DISK) {
		if (!pin_and_unlock(store, idx, word))
			return -EAGAIN;
		r = read_pinned(w, block, dst);
		unpin(store, idx, block);
		return r;
	}
	r = decode_locked(w, &word, dst);
	if (r == 0 && slot_state(word) == SLOT_POOL &&
	    __atomic_load_n(&store->exclusive_loads, __ATOMIC_RELAXED))
		word |= SLOT_LOADED;
	slot_unlock(store->words, idx, word);
	if ((word & SLOT_LOADED) && !(before & SLOT_LOADED))
		writeback_note_loaded(store->writeback, idx);
	return r;
}

/* Never-written slots read as zeros with no lock (and do not touch the table). */
static bool read_never_written(struct store_worker *w, uint64_t idx, void *dst)
{
	if (slot_peek(w->store->words, idx) != 0)
		return false;
	memset(dst, 0, SWAPDEV_PAGE_SIZE);
	worker_count(w, reads_empty, 1);
	return true;
}

static int read_slot(struct store_worker *w, uint64_t idx, void *dst)
{
	int r;

	if (read_never_written(w, idx, dst))
		return 0;
	do
		r = read_locked(w, idx, slot_lock(w->store->words, idx), dst);
	while (r == -EAGAIN);
	return r;
}

/* Unpin the run's blocks, read or not. */
static void disk_run_unpin(struct store_worker *w)
{
	for (unsigned i = 0; i < w->nr_run; i++)
		unpin(w->store, w->run_idx[i], w->run_block[i]);
	w->nr_run = 0;
}

/* Read the run of pinned DISK slots with one preadv, then unpin them. */
static int disk_run_flush(struct store_worker *w)
{
	unsigned n = w->nr_run;
	int r;

	if (n == 0)
		return 0;
	r = disk_readv(w->store->disk, w->run_first, w->run_iov, w->run_blocks);
	disk_run_unpin(w);
	if (r < 0)
		worker_count(w, io_errors, n);
	else
		worker_count(w, reads_disk, n);
	return r;
}

/*
 * A whole-page read into page-aligned dst. A DISK slot whose block follows
 * the run's last (with at most STORE_DISK_GAP blocks between) joins the
 * run, pinned, until disk_run_flush().
 */
static int read_slot_run(struct store_worker *w, uint64_t idx, void *dst)
{
	struct store *store = w->store;
	uint64_t word, block;
	unsigned i;
	int r;

	if (read_never_written(w, idx, dst))
		return 0;
	do
		word = slot_lock(store->words, idx);
	while (slot_state(word) == SLOT_DISK && !pin_and_unlock(store, idx, word));
	if (slot_state(word) != SLOT_DISK)
		return read_locked(w, idx, word, dst);
	block = slot_disk_block(word);
	if (w->nr_run > 0) {
		uint64_t next = w->run_first + w->run_blocks;

		if (block < next || block - next > STORE_DISK_GAP ||
		    w->nr_run == STORE_DISK_BATCH) {
			r = disk_run_flush(w);
			if (r < 0) {
				unpin(store, idx, block);
				return r;
			}
		}
	}
	if (w->nr_run == 0) {
		w->run_first = block;
		w->run_blocks = 0;
	}
	while (w->run_first + w->run_blocks < block)
		w->run_iov[w->run_blocks++] = (struct iovec){ .iov_base = w->gap_page,
							      .iov_len = SWAPDEV_PAGE_SIZE };
	w->run_iov[w->run_blocks++] = (struct iovec){ .iov_base = dst,
						      .iov_len = SWAPDEV_PAGE_SIZE };
	i = w->nr_run++;
	w->run_idx[i] = idx;
	w->run_block[i] = block;
	return 0;
}

/*
 * How many of the n slots from slots[0] on one write can cover: ascending,
 * at most STORE_DISK_GAP apart; *ret_blocks is the span of their homes.
 */
static unsigned span_of(const uint64_t *slots, unsigned n, unsigned *ret_blocks)
{
	unsigned count = 1;

	while (count < n && slots[count] > slots[count - 1] &&
	       slots[count] - slots[count - 1] <= STORE_DISK_GAP + 1 &&
	       slots[count] - slots[0] < STORE_DISK_SPAN)
		count++;
	*ret_blocks = (unsigned)(slots[count - 1] - slots[0] + 1);
	return count;
}

/*
 * Write the count pages (page i for slot slots[i]) whose homes span blocks
 * from slots[0] with one pwritev, the free blocks between them written
 * with the gap page and freed again. Returns count, or 0 when a block of
 * the span is in use, or -errno (then the blocks are freed).
 */
static int disk_write_span(struct store_worker *w, const struct iovec *pages,
			   const uint64_t *slots, unsigned count, unsigned blocks)
{
	struct store *store = w->store;
	int r;

	if (!disk_claim(store->disk, slots[0], blocks))
		return 0;
	for (unsigned b = 0, i = 0; b < blocks; b++) {
		if (slots[i] == slots[0] + b)
			w->span_iov[b] = pages[i++];
		else
			w->span_iov[b] = (struct iovec){ .iov_base = store->gap_page,
							 .iov_len = SWAPDEV_PAGE_SIZE };
	}
	r = disk_write(store->disk, slots[0], w->span_iov, blocks);
	for (unsigned b = 0, i = 0; b < blocks; b++) {
		bool page = slots[i] == slots[0] + b;

		i += page;
		if (r < 0 || !page)
			disk_release(store->disk, slots[0] + b);
	}
	return r < 0 ? r : (int)count;
}

/*
 * Write n pages, page i for slot slots[i], to disk blocks with as few
 * pwritev calls as the homes allow (spans with gaps, runs of neighbours,
 * else one block at a time) and call install(w, ctx, i, block) for each
 * page i written, in order. On failure the failed call's blocks are given
 * back, io_errors counts the pages not written, and *ret_done says how
 * many were installed.
 */
static int disk_write_runs(struct store_worker *w, const struct iovec *pages,
			   const uint64_t *slots, unsigned n,
			   void (*install)(struct store_worker *w, const void *ctx, unsigned i,
					   uint64_t block),
			   const void *ctx, unsigned *ret_done)
{
	struct disk_tier *disk = w->store->disk;
	unsigned done = 0, neighbours, span, blocks;
	uint64_t first;
	int r = 0, got;

	while (done < n) {
		span = span_of(&slots[done], n - done, &blocks);
		if (span > 1 && blocks > span) {
			got = disk_write_span(w, &pages[done], &slots[done], span, blocks);
			if (got < 0) {
				r = got;
				worker_count(w, io_errors, n - done);
				break;
			}
			for (int i = 0; i < got; i++, done++)
				install(w, ctx, done, slots[done]);
			if (got > 0)
				continue;
		}
		for (neighbours = 1; done + neighbours < n; neighbours++)
			if (slots[done + neighbours] != slots[done] + neighbours)
				break;
		got = disk_alloc_home(disk, slots[done], neighbours, &first);
		if (got < 0) {
			r = got;
			break;
		}
		r = disk_write(disk, first, &pages[done], (unsigned)got);
		if (r < 0) {
			for (int i = 0; i < got; i++)
				disk_release(disk, first + (unsigned)i);
			worker_count(w, io_errors, n - done);
			break;
		}
		for (int i = 0; i < got; i++, done++)
			install(w, ctx, done, first + (unsigned)i);
	}
	*ret_done = done;
	return r;
}

/* disk_write_runs() installer of a write's batch: the block is the slot's new home. */
static void install_batched(struct store_worker *w, const void *ctx, unsigned i, uint64_t block)
{
	struct store *store = w->store;
	uint64_t old = slot_lock(store->words, w->batch_idx[i]);

	(void)ctx;
	install_locked(store, w->batch_idx[i], old, slot_make_disk(block));
	worker_count(w, writes_disk, 1);
	count_to_disk(w, w->batch_to_disk[i]);
}

/*
 * Write the batched pages and make each block its slot's home. On failure
 * the pages not yet written keep their old homes, as a failed write leaves
 * them.
 */
static int disk_batch_flush(struct store_worker *w)
{
	unsigned n = w->nr_batch, done;

	w->nr_batch = 0;
	return disk_write_runs(w, w->batch_iov, w->batch_idx, n, install_batched, NULL, &done);
}

/* Queue a whole page of slot idx for the disk; data stays valid until the flush. */
static int disk_batch_add(struct store_worker *w, uint64_t idx, const void *page, int reason)
{
	unsigned i;
	int r;

	if (w->nr_batch == STORE_DISK_BATCH) {
		r = disk_batch_flush(w);
		if (r < 0)
			return r;
	}
	i = w->nr_batch++;
	if ((uintptr_t)page % SWAPDEV_PAGE_SIZE != 0) { /* O_DIRECT wants aligned memory */
		memcpy(w->batch_pages + (size_t)i * SWAPDEV_PAGE_SIZE, page, SWAPDEV_PAGE_SIZE);
		page = w->batch_pages + (size_t)i * SWAPDEV_PAGE_SIZE;
	}
	w->batch_idx[i] = idx;
	w->batch_to_disk[i] = (uint8_t)reason;
	w->batch_iov[i] = (struct iovec){ .iov_base = (void *)page, .iov_len = SWAPDEV_PAGE_SIZE };
	return 0;
}

/* A whole page: in memory at once, or queued for the disk batch. */
static int write_slot(struct store_worker *w, uint64_t idx, const void *page)
{
	struct store *store = w->store;
	uint64_t word, old;
	int r;

	r = encode_page(w, idx, page, &word);
	if (r < 0)
		return r;
	if (r > 0)
		return disk_batch_add(w, idx, page, r);
	old = slot_lock(store->words, idx);
	install_locked(store, idx, old, word);
	return 0;
}

/*
 * Whether a slot locked with word still holds the data that a patch read
 * from base. Its home may have been replaced and an equal word stored
 * again (a freed pool handle or same-value index reused), so a pool object
 * is compared by its bytes (copied to w->base) and a same-filled word by
 * its value (base_value); a pinned block cannot come back.
 */
static bool holds_base(struct store_worker *w, uint64_t word, uint64_t base, uint64_t base_value)
{
	struct store *store = w->store;

	if (slot_state(word) != slot_state(base))
		return false;
	switch (slot_state(base)) {
	case SLOT_EMPTY:
		return true;
	case SLOT_SAME:
		return same_value(store, word) == base_value;
	case SLOT_POOL:
		return (word & ~SLOT_FLAGS) == (base & ~SLOT_FLAGS) &&
		       memcmp(pool_map(store->pool, slot_pool_handle(word))->data, w->base,
			      slot_pool_len(word)) == 0;
	case SLOT_DISK:
		return slot_disk_block(word) == slot_disk_block(base);
	}
	return false;
}

/*
 * Read-modify-write of part of a slot. The old page is read (a DISK slot
 * pinned) and the new home built without the slot lock; it is installed
 * only if the slot still holds what was read, else the patch starts over,
 * so two partial writes to one slot cannot lose each other's bytes. With
 * src NULL the range is zeroed (a partial discard).
 */
static int patch_slot(struct store_worker *w, uint64_t idx, const void *src, size_t offset,
		      size_t len)
{
	struct store *store = w->store;
	uint64_t base, base_value = 0, word, now;
	int r;

	for (;;) {
		base = slot_lock(store->words, idx);
		if (!src && slot_state(base) == SLOT_EMPTY) {
			slot_unlock(store->words, idx, base);
			return 0;
		}
		if (slot_state(base) == SLOT_DISK) {
			if (!pin_and_unlock(store, idx, base))
				continue;
			base += SLOT_DISK_PIN;
			r = read_pinned(w, slot_disk_block(base), w->page);
		} else {
			word = base;
			r = decode_locked(w, &word, w->page);
			if (r == 0 && slot_state(base) == SLOT_SAME)
				base_value = same_value(store, base);
			if (r == 0 && slot_state(base) == SLOT_POOL)
				memcpy(w->base, pool_map(store->pool, slot_pool_handle(base))->data,
				       slot_pool_len(base));
			slot_unlock(store->words, idx, base);
		}
		if (r == 0) {
			if (src)
				memcpy(w->page + offset, src, len);
			else
				memset(w->page + offset, 0, len);
			r = encode_page_now(w, idx, w->page, &word);
		}
		if (r < 0) {
			if (slot_state(base) == SLOT_DISK)
				unpin(store, idx, slot_disk_block(base));
			return r;
		}
		now = slot_lock(store->words, idx);
		if (holds_base(w, now, base, base_value)) {
			if (slot_state(base) == SLOT_DISK)
				now -= SLOT_DISK_PIN; /* this patch's pin leaves with the word */
			install_locked(store, idx, now, word);
			return 0;
		}
		slot_unlock(store->words, idx, now);
		if (slot_state(base) == SLOT_DISK)
			unpin(store, idx, slot_disk_block(base));
		free_home(store, word); /* built for a version that is gone */
	}
}

static int check_range(struct store *store, uint64_t offset, uint64_t len)
{
	if (offset > store->config.size || len > store->config.size - offset)
		return -EINVAL;
	return 0;
}

ssize_t store_read(struct store_worker *w, void *buf, size_t len, uint64_t offset)
{
	struct store *store = w->store;
	unsigned char *p = buf;
	struct timespec start;
	size_t done = 0;
	int r;

	r = check_range(store, offset, len);
	if (r < 0)
		return r;
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (done < len) {
		uint64_t pos = offset + done, idx = pos / SWAPDEV_PAGE_SIZE;
		size_t in_slot = pos % SWAPDEV_PAGE_SIZE;
		size_t n = MIN(SWAPDEV_PAGE_SIZE - in_slot, len - done);

		if (n == SWAPDEV_PAGE_SIZE && (uintptr_t)(p + done) % SWAPDEV_PAGE_SIZE == 0) {
			r = read_slot_run(w, idx, p + done); /* O_DIRECT wants aligned memory */
		} else if (n == SWAPDEV_PAGE_SIZE) {
			r = read_slot(w, idx, p + done);
		} else {
			r = read_slot(w, idx, w->page);
			if (r == 0)
				memcpy(p + done, w->page + in_slot, n);
		}
		if (r < 0) {
			disk_run_unpin(w); /* give the run up without reading it */
			return r;
		}
		done += n;
	}
	r = disk_run_flush(w);
	if (r < 0)
		return r;
	worker_count(w, reads, 1);
	latency_record(&w->read_latency, usec_since(&start));
	return (ssize_t)len;
}

ssize_t store_write(struct store_worker *w, const void *buf, size_t len, uint64_t offset)
{
	struct store *store = w->store;
	const unsigned char *p = buf;
	struct timespec start;
	size_t done = 0;
	int r;

	r = check_range(store, offset, len);
	if (r < 0)
		return r;
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (done < len) {
		uint64_t pos = offset + done, idx = pos / SWAPDEV_PAGE_SIZE;
		size_t in_slot = pos % SWAPDEV_PAGE_SIZE;
		size_t n = MIN(SWAPDEV_PAGE_SIZE - in_slot, len - done);

		if (n == SWAPDEV_PAGE_SIZE) {
			r = write_slot(w, idx, p + done);
		} else {
			worker_count(w, partial_writes, 1);
			r = patch_slot(w, idx, p + done, in_slot, n);
		}
		if (r < 0) {
			w->nr_batch = 0; /* the write fails: queued pages keep their old homes */
			return r;
		}
		done += n;
	}
	if (w->nr_batch > 0) {
		r = disk_batch_flush(w);
		if (r < 0)
			return r;
	}
	worker_count(w, writes, 1);
	latency_record(&w->write_latency, usec_since(&start));
	return (ssize_t)len;
}

int store_discard(struct store_worker *w, uint64_t offset, uint64_t len)
{
	struct store *store = w->store;
	uint64_t done = 0, old;
	int r;

	r = check_range(store, offset, len);
	if (r < 0)
		return r;
	while (done < len) {
		uint64_t pos = offset + done, idx = pos / SWAPDEV_PAGE_SIZE;
		size_t in_slot = pos % SWAPDEV_PAGE_SIZE;
		size_t n = (size_t)MIN((uint64_t)(SWAPDEV_PAGE_SIZE - in_slot), len - done);

		if (n < SWAPDEV_PAGE_SIZE) {
			r = patch_slot(w, idx, NULL, in_slot, n);
			if (r < 0)
				return r;
		} else if (slot_peek(store->words, idx) != 0) {
			old = slot_lock(store->words, idx);
			if (slot_state(old) != SLOT_EMPTY)
				worker_count(w, discarded_slots, 1);
			install_locked(store, idx, old, 0);
		}
		done += n;
	}
	worker_count(w, discards, 1);
	return 0;
}

int64_t store_flush(struct store *store, const struct store_flush_request *request)
{
	if (!store->writeback)
		return -ENODEV;
	return writeback_flush(store->writeback, request);
}

int store_recompress_all(struct store *store, const struct store_recompress_request *request,
			 struct store_recompress_totals *ret_totals)
{
	if (!store->writeback)
		return -ENODEV;
	return writeback_recompress(store->writeback, request, ret_totals);
}

int store_set_pool_limit(struct store *store, uint64_t bytes)
{
	int r = pool_set_limit(store->pool, bytes);

	if (r == 0 && store->writeback)
		writeback_poke(store->writeback);
	return r;
}

int store_set_codec(struct store *store, const struct codec_spec *codec)
{
	struct codec_spec check;
	char text[CODEC_SPEC_MAX];

	/* Round-trip through the parser: one definition of what is valid. */
	codec_spec_format(codec, text);
	if ((codec->kind != CODEC_LZ4 && codec->kind != CODEC_ZSTD) ||
	    codec_spec_parse(text, &check) < 0)
		return -EINVAL;
	__atomic_store_n(&store->codec_packed, codec_pack(codec), __ATOMIC_RELAXED);
	return 0;
}

int store_set_watermarks(struct store *store, unsigned high, unsigned low)
{
	if (high > 100 || low >= high)
		return -EINVAL;
	/* Readers see either pair member alone for a moment: both orders are
	 * harmless (writeback only starts later or stops earlier). */
	__atomic_store_n(&store->config.high_watermark, high, __ATOMIC_RELAXED);
	__atomic_store_n(&store->config.low_watermark, low, __ATOMIC_RELAXED);
	writeback_poke(store->writeback);
	return 0;
}

void store_set_exclusive_loads(struct store *store, bool on)
{
	__atomic_store_n(&store->exclusive_loads, on, __ATOMIC_RELAXED);
}

void store_set_idle_seconds(struct store *store, uint32_t seconds)
{
	if (store->writeback)
		writeback_set_idle_seconds(store->writeback, seconds);
}

int store_set_recompress(struct store *store, const struct store_recompress *recompress)
{
	int r = validate_recompress(recompress);

	if (r == 0 && store->writeback)
		writeback_set_recompress(store->writeback, recompress);
	return r;
}

void store_get_stats(struct store *store, struct store_stats *ret_stats)
{
	struct store_stats s = { 0 };
	struct pool_stats ps;

	s.slots_total = store->nr_slots;
	s.same_slots = store_gauge(&store->same_slots);
	s.pool_slots = store_gauge(&store->pool_slots);
	s.disk_slots = store_gauge(&store->disk_slots);
	s.slots_used = s.same_slots + s.pool_slots + s.disk_slots;
	s.orig_bytes = s.slots_used * SWAPDEV_PAGE_SIZE;
	s.compr_bytes = store_gauge(&store->compr_bytes);
	s.raw_slots = store_gauge(&store->raw_slots);
	s.zstd_slots = store_gauge(&store->zstd_slots);
	s.zstd_bytes = store_gauge(&store->zstd_bytes);
	pool_get_stats(store->pool, &ps);
	s.pool_footprint_bytes = ps.footprint_bytes;
	s.pool_limit_bytes = ps.limit_bytes;
	s.disk_bytes = s.disk_slots * SWAPDEV_PAGE_SIZE;
	s.disk_total_bytes = store->disk ? disk_blocks_total(store->disk) * SWAPDEV_PAGE_SIZE : 0;
	s.metadata_bytes = slot_table_resident_bytes(store->table);
	store_get_counters(store, &s.ops);
	*ret_stats = s;
}

void store_get_counters(struct store *store, struct store_counters *ret_counters)
{
	struct store_counters c;
	struct store_worker *w;
	struct pool_stats ps;

	pthread_mutex_lock(&store->workers_lock);
	c = store->retired;
	for (w = store->workers; w; w = w->next)
		counters_add(&c, &w->counters);
	pthread_mutex_unlock(&store->workers_lock);
	pool_get_stats(store->pool, &ps);
	c.compactions = ps.compactions;
	*ret_counters = c;
}

void store_get_latency(struct store *store, struct latency_hist *ret_read,
		       struct latency_hist *ret_write)
{
	struct store_worker *w;

	pthread_mutex_lock(&store->workers_lock);
	*ret_read = store->retired_read_latency;
	*ret_write = store->retired_write_latency;
	for (w = store->workers; w; w = w->next) {
		latency_merge(ret_read, &w->read_latency);
		latency_merge(ret_write, &w->write_latency);
	}
	pthread_mutex_unlock(&store->workers_lock);
}

uint64_t store_nr_slots(const struct store *store)
{
	return store->nr_slots;
}

uint64_t store_pool_slots(struct store *store)
{
	return store_gauge(&store->pool_slots);
}

void store_get_pressure(struct store *store, struct store_pressure *ret_pressure)
{
	struct pool_stats ps;

	pool_get_stats(store->pool, &ps);
	*ret_pressure = (struct store_pressure){
		.object_bytes = ps.object_bytes,
		.footprint_bytes = ps.footprint_bytes,
		.limit_bytes = ps.limit_bytes,
		.high_watermark = __atomic_load_n(&store->config.high_watermark, __ATOMIC_RELAXED),
		.low_watermark = __atomic_load_n(&store->config.low_watermark, __ATOMIC_RELAXED),
	};
}

/*
 * Writeback: POOL --claim--> POOL|WRITEBACK --commit--> DISK, or back to
 * POOL on cancel. The claim copies the page out and leaves the pool copy
 * as the home, so readers keep being served from RAM. Any write or discard
 * stores a word without WRITEBACK, so the commit only switches a slot that
 * still holds the claimed handle with the bit: newer data always wins.
 * One batch at a time with one claim per slot (store.h), so a WRITEBACK
 * bit always belongs to the claim in flight.
 */
int store_wb_claim(struct store_worker *w, uint64_t idx, enum store_wb_pick pick,
		   uint32_t min_idle, void *page, struct store_wb_claim *ret_claim)
{
	struct store *store = w->store;
	struct pool_obj *obj;
	uint64_t word;
	unsigned len;
	int r = 0;

	if (slot_state(slot_peek(store->words, idx)) != SLOT_POOL ||
	    !slot_trylock(store->words, idx, &word))
		return 0; /* never wait for the kernel's I/O */
	if (slot_state(word) != SLOT_POOL || (word & SLOT_WRITEBACK))
		goto out_unlock;
	if (pick == STORE_WB_LOADED && !(word & SLOT_LOADED))
		goto out_unlock;
	if (pick == STORE_WB_RAW && slot_pool_len(word) != SWAPDEV_PAGE_SIZE)
		goto out_unlock;
	obj = pool_map(store->pool, slot_pool_handle(word));
	if (min_idle && obj_idle_seconds(store, obj) < min_idle)
		goto out_unlock;
	if ((pick == STORE_WB_COLD || pick == STORE_WB_RAW) && !(word & SLOT_LOADED) &&
	    (word & SLOT_REFERENCED)) {
		word &= ~SLOT_REFERENCED; /* second chance */
		goto out_unlock;
	}
	len = slot_pool_len(word);
	if (len == SWAPDEV_PAGE_SIZE) {
		memcpy(page, obj->data, SWAPDEV_PAGE_SIZE);
	} else if (codec_decompress(w->codec, slot_pool_codec(word), obj->data, len, page,
				    SWAPDEV_PAGE_SIZE) < 0) {
		worker_count(w, decompress_errors, 1);
		r = -EBADMSG;
		goto out_unlock;
	}
	*ret_claim = (struct store_wb_claim){ .idx = idx,
					      .handle = slot_pool_handle(word),
					      .loaded = (word & SLOT_LOADED) != 0 };
	word |= SLOT_WRITEBACK;
	r = 1;
out_unlock:
	slot_unlock(store->words, idx, word);
	return r;
}

static bool holds_claim(uint64_t word, const struct store_wb_claim *claim)
{
	return (word & SLOT_WRITEBACK) && slot_state(word) == SLOT_POOL &&
	       slot_pool_handle(word) == claim->handle;
}

/* Undo a claim: the pool copy stays the slot's home. */
static void wb_cancel(struct store *store, const struct store_wb_claim *claim);

/*
 * Recompression of one idle pool entry, POOL -> POOL with a denser codec.
 * The claim is writeback's (SLOT_WRITEBACK: the object is neither written
 * back nor moved by compaction meanwhile), taken with the compressed bytes
 * copied out under the slot lock; the work runs unlocked; the new object
 * replaces the old only if the slot still holds the claimed version, else
 * it is freed: a newer write or discard always wins. The caller holds the
 * writeback batch lock, so no other claim of the slot can come and go in
 * between and make an old handle look current.
 */
/* Give up a recompression claim and mark the entry STAMP_KEPT if it is still the claimed one. */
static void recompress_keep(struct store *store, const struct store_wb_claim *claim)
{
	uint64_t word = slot_lock(store->words, claim->idx);

	if (holds_claim(word, claim)) {
		struct pool_obj *obj = pool_map(store->pool, claim->handle);

		obj->stamp |= STAMP_KEPT;
		word &= ~SLOT_WRITEBACK;
	}
	slot_unlock(store->words, claim->idx, word);
}

static int recompress_slot(struct store_worker *w, uint64_t idx,
			   const struct store_recompress *req)
{
	struct store *store = w->store;
	struct codec_spec codec = req->codec;
	struct store_wb_claim claim;
	enum codec_kind from;
	struct pool_obj *obj;
	unsigned len, bound;
	uint64_t word, handle;
	uint32_t stamp;
	ssize_t n;
	int r;

	if (slot_state(slot_peek(store->words, idx)) != SLOT_POOL ||
	    !slot_trylock(store->words, idx, &word))
		return STORE_RECOMPRESS_SKIPPED; /* never wait for the kernel's I/O */
	len = slot_pool_len(word);
	from = slot_pool_codec(word);
	obj = slot_state(word) == SLOT_POOL ? pool_map(store->pool, slot_pool_handle(word)) : NULL;
	if (!obj || (word & (SLOT_WRITEBACK | SLOT_LOADED)) || len == SWAPDEV_PAGE_SIZE ||
	    from == codec.kind || (obj->stamp & STAMP_KEPT) ||
	    obj_idle_seconds(store, obj) < req->idle_seconds) {
		slot_unlock(store->words, idx, word);
		return STORE_RECOMPRESS_SKIPPED;
	}
	memcpy(w->base, obj->data, len);
	stamp = obj->stamp;
	claim = (struct store_wb_claim){ .idx = idx, .handle = slot_pool_handle(word) };
	slot_unlock(store->words, idx, word | SLOT_WRITEBACK);

	n = codec_decompress(w->codec, from, w->base, len, w->page, SWAPDEV_PAGE_SIZE);
	if (n != SWAPDEV_PAGE_SIZE) {
		worker_count(w, decompress_errors, 1);
		recompress_keep(store, &claim);
		return -EBADMSG;
	}
	bound = len - len * req->min_saving_percent / 100;
	n = codec_compress(w->codec, &codec, w->page, SWAPDEV_PAGE_SIZE, w->cbuf,
			   MIN(bound, len - 1));
	if (n < 0) {
		if (n != -ENOBUFS) {
			wb_cancel(store, &claim);
			return (int)n;
		}
		recompress_keep(store, &claim);
		worker_count(w, recompress_not_worth, 1);
		return STORE_RECOMPRESS_NOT_WORTH;
	}
	r = pool_alloc(store->pool, sizeof(struct pool_obj) + (size_t)n, &handle);
	if (r < 0) {
		wb_cancel(store, &claim);
		return r;
	}
	obj = pool_map(store->pool, handle);
	__atomic_store_n(&obj->owner, (uint32_t)idx, __ATOMIC_RELAXED);
	obj->stamp = stamp;
	memcpy(obj->data, w->cbuf, (size_t)n);

	word = slot_lock(store->words, idx);
	if (!holds_claim(word, &claim)) {
		slot_unlock(store->words, idx, word);
		pool_release(store->pool, handle);
		worker_count(w, recompress_dropped, 1);
		return STORE_RECOMPRESS_DROPPED;
	}
	store_account(store, word, -1);
	word = slot_make_pool(handle, (unsigned)n, codec.kind) |
	       (word & (SLOT_REFERENCED | SLOT_LOADED));
	store_account(store, word, 1);
	slot_unlock(store->words, idx, word);
	pool_release(store->pool, claim.handle);
	worker_count(w, recompressed, 1);
	return STORE_RECOMPRESS_REPLACED;
}

int store_recompress(struct store_worker *w, uint64_t idx, const struct store_recompress *req)
{
	uint64_t start;
	int r;

	if (slot_state(slot_peek(w->store->words, idx)) != SLOT_POOL)
		return STORE_RECOMPRESS_NOT_POOL; /* the common case, without a clock */
	start = thread_cpu_us();
	r = recompress_slot(w, idx, req);
	worker_count(w, recompress_cpu_us, thread_cpu_us() - start);
	return r;
}

static void wb_cancel(struct store *store, const struct store_wb_claim *claim)
{
	uint64_t word = slot_lock(store->words, claim->idx);

	if (holds_claim(word, claim))
		word &= ~SLOT_WRITEBACK;
	slot_unlock(store->words, claim->idx, word);
}

/* disk_write_runs() installer of a writeback batch: commit claim i to block. */
static void wb_commit(struct store_worker *w, const void *ctx, unsigned i, uint64_t block)
{
	const struct store_wb_claim *claim = (const struct store_wb_claim *)ctx + i;
	struct store *store = w->store;
	uint64_t word = slot_lock(store->words, claim->idx);

	if (!holds_claim(word, claim)) {
		slot_unlock(store->words, claim->idx, word);
		disk_release(store->disk, block);
		worker_count(w, writeback_cancelled, 1);
		return;
	}
	install_locked(store, claim->idx, word, slot_make_disk(block));
	worker_count(w, writeback_pages, 1);
	if (claim->loaded)
		worker_count(w, exclusive_releases, 1);
}

int store_wb_write(struct store_worker *w, const struct store_wb_claim *claims,
		   const struct iovec *pages, unsigned n)
{
	uint64_t slots[STORE_WB_BATCH_MAX] = { 0 };
	unsigned done;
	int r;

	assert(n <= STORE_WB_BATCH_MAX);
	for (unsigned i = 0; i < n; i++)
		slots[i] = claims[i].idx;
	r = disk_write_runs(w, pages, slots, n, wb_commit, claims, &done);
	for (unsigned i = done; i < n; i++)
		wb_cancel(w->store, &claims[i]);
	return r < 0 ? r : (int)n;
}

/*
 * Compaction's move callback: the pool holds its class lock, so only try
 * the slot lock. Objects under writeback stay put (writeback matches the
 * handle it copied from).
 */
static bool move_object(void *opaque, uint32_t owner, uint64_t from, uint64_t to, size_t size)
{
	struct store *store = opaque;
	uint64_t word;

	if (owner >= store->nr_slots || !slot_trylock(store->words, owner, &word))
		return false;
	if (slot_state(word) != SLOT_POOL || slot_pool_handle(word) != from ||
	    (word & SLOT_WRITEBACK)) {
		slot_unlock(store->words, owner, word);
		return false;
	}
	memcpy(pool_map(store->pool, to), pool_map(store->pool, from), size);
	word = (word & ~SLOT_POOL_HANDLE_MASK) | (to & SLOT_POOL_HANDLE_MASK);
	slot_unlock(store->words, owner, word);
	return true;
}

int store_pool_entry(struct store *store, uint64_t idx, void **ret_data, unsigned *ret_len,
		     enum codec_kind *ret_codec)
{
	uint64_t word;

	if (idx >= store->nr_slots)
		return -ENOENT;
	word = slot_peek(store->words, idx);
	if (slot_state(word) != SLOT_POOL)
		return -ENOENT;
	*ret_data = pool_map(store->pool, slot_pool_handle(word))->data;
	*ret_len = slot_pool_len(word);
	*ret_codec = slot_pool_codec(word);
	return 0;
}

uint64_t store_compact(struct store *store)
{
	return pool_compact(store->pool, move_object, store);
}
