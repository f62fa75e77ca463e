/* SPDX-License-Identifier: MIT */
/*
 * writeback.c - moving pool entries to the disk tier.
 *
 * Three things send pool pages to disk, all through the same batch
 * machinery:
 *
 *  - pressure: when the pool passes its high watermark (or an allocation
 *    failed), the background thread writes back the coldest entries until
 *    the pool is back under the low watermark, then compacts it. Coldness
 *    is a CLOCK over the slot table (LRU with a second chance) that needs
 *    no memory beyond the slot word: a hand sweeps the table, a POOL slot
 *    with REFERENCED set loses the bit and is skipped, one without it is
 *    taken. Slots the kernel has already loaded (LOADED) are taken first,
 *    whatever their REFERENCED bit: the kernel holds a copy of them.
 *  - exclusive loads: a pool read with exclusive loads on queues the slot;
 *    the thread gathers the queue into batches (or sweeps the table for
 *    LOADED slots if the queue overflowed) and writes them back at once.
 *  - flush and idle writeback: one sweep of the whole table, optionally
 *    only entries whose stamp is older than N seconds, up to a byte limit.
 *
 * A batch is claimed, written, then committed. Claiming a slot (under its
 * lock) copies its page out of the pool into a batch buffer and sets the
 * WRITEBACK bit; the pool object stays, so readers keep being served from
 * RAM. The batch goes to one contiguous run of disk blocks where the
 * allocator has one (one large O_DIRECT pwritev). Committing a slot
 * (under its lock again) switches it to DISK only if it still holds the
 * same pool handle with WRITEBACK set: any write or discard in between
 * stores a word without the bit, so the newer data wins and the block is
 * freed. An I/O error clears the bit and leaves the pool copy in place.
 * Batches are serialized by batch_lock and claim a slot at most once, so a
 * WRITEBACK bit always belongs to the one claim in flight.
 */
#include <string.h>
#include <time.h>

#include "common.h"
#include "store_internal.h"

#define WB_BATCH 64		/* pages per batch: 256 KiB of sequential I/O */
#define WB_LOADED_QUEUE 4096	/* loaded slots remembered before a sweep is needed */
#define WB_LOADED_DELAY_MS 20	/* wait this long for a loaded batch to fill */
#define WB_TICK_MS 1000		/* idle wake-up: idle writeback, compaction */
#define COMPACT_SLACK_BYTES (1u << 20) /* footprint tolerated above objects + 10% */

enum wb_mode {
	WB_COLD,	/* pressure: second chance, loaded first */
	WB_LOADED,	/* exclusive loads: only LOADED slots */
	WB_ALL,		/* flush: every pool slot (optionally idle ones) */
};

struct wb_item {
	uint64_t idx;
	uint64_t handle;
	bool loaded;
};

struct writeback {
	struct store *store;
	pthread_t thread;
	bool running;

	pthread_mutex_t wake_lock;
	pthread_cond_t wake;
	bool stop;
	bool wanted;	   /* pressure reported since the thread last looked */
	uint64_t loaded[WB_LOADED_QUEUE];
	unsigned loaded_count;
	bool loaded_overflow;

	/* Serializes batches; protects everything below. */
	pthread_mutex_t batch_lock;
	unsigned char *buffers; /* WB_BATCH aligned pages */
	struct iovec iov[WB_BATCH];
	struct wb_item items[WB_BATCH];
	struct codec_ctx *codec;
	uint64_t hand;
	uint32_t last_idle_sweep;

	/* Tunable, read without a lock (the watermarks live in the store). */
	uint32_t idle_seconds;

	struct store_counters counters; /* bumped with relaxed atomics */
};

int writeback_new(struct store *store, struct writeback **ret_wb)
{
	pthread_condattr_t attr;
	struct writeback *wb;
	int r;

	wb = calloc(1, sizeof(*wb));
	if (!wb)
		return -ENOMEM;
	wb->store = store;
	wb->idle_seconds = store->config.idle_seconds;
	pthread_mutex_init(&wb->wake_lock, NULL);
	/* Deadlines are CLOCK_MONOTONIC: immune to wall-clock jumps. */
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&wb->wake, &attr);
	pthread_condattr_destroy(&attr);
	pthread_mutex_init(&wb->batch_lock, NULL);
	wb->buffers = aligned_alloc(SWAPDEV_PAGE_SIZE, (size_t)WB_BATCH * SWAPDEV_PAGE_SIZE);
	r = codec_ctx_new(&wb->codec);
	if (r < 0 || !wb->buffers) {
		writeback_free(wb);
		return -ENOMEM;
	}
	/* Writeback frees memory under pressure: it must not fault to start. */
	memset(wb->buffers, 0, (size_t)WB_BATCH * SWAPDEV_PAGE_SIZE);
	for (unsigned i = 0; i < WB_BATCH; i++)
		wb->iov[i] = (struct iovec){ .iov_base = wb->buffers + (size_t)i * SWAPDEV_PAGE_SIZE,
					     .iov_len = SWAPDEV_PAGE_SIZE };
	*ret_wb = wb;
	return 0;
}

void writeback_free(struct writeback *wb)
{
	if (!wb)
		return;
	if (wb->running) {
		pthread_mutex_lock(&wb->wake_lock);
		wb->stop = true;
		pthread_cond_signal(&wb->wake);
		pthread_mutex_unlock(&wb->wake_lock);
		pthread_join(wb->thread, NULL);
	}
	codec_ctx_free(wb->codec);
	free(wb->buffers);
	pthread_mutex_destroy(&wb->batch_lock);
	pthread_cond_destroy(&wb->wake);
	pthread_mutex_destroy(&wb->wake_lock);
	free(wb);
}

void writeback_poke(struct writeback *wb)
{
	if (!wb || __atomic_load_n(&wb->wanted, __ATOMIC_RELAXED))
		return;
	pthread_mutex_lock(&wb->wake_lock);
	__atomic_store_n(&wb->wanted, true, __ATOMIC_RELAXED);
	pthread_cond_signal(&wb->wake);
	pthread_mutex_unlock(&wb->wake_lock);
}

void writeback_note_loaded(struct writeback *wb, uint64_t idx)
{
	if (!wb)
		return;
	pthread_mutex_lock(&wb->wake_lock);
	if (wb->loaded_count < WB_LOADED_QUEUE)
		wb->loaded[wb->loaded_count++] = idx;
	else
		wb->loaded_overflow = true;
	if (wb->loaded_count == WB_BATCH || wb->loaded_overflow)
		pthread_cond_signal(&wb->wake);
	pthread_mutex_unlock(&wb->wake_lock);
}

void writeback_get_counters(struct writeback *wb, struct store_counters *into)
{
	into->writeback_pages += counter_read(&wb->counters.writeback_pages);
	into->writeback_cancelled += counter_read(&wb->counters.writeback_cancelled);
	into->exclusive_releases += counter_read(&wb->counters.exclusive_releases);
	into->io_errors += counter_read(&wb->counters.io_errors);
	into->decompress_errors += counter_read(&wb->counters.decompress_errors);
}

void writeback_set_idle_seconds(struct writeback *wb, uint32_t seconds)
{
	__atomic_store_n(&wb->idle_seconds, seconds, __ATOMIC_RELAXED);
	writeback_poke(wb);
}

/*
 * Claim slot idx for the batch at position n: copy its page into the
 * batch buffer and mark it WRITEBACK. Caller holds batch_lock.
 */
static bool claim_slot(struct writeback *wb, enum wb_mode mode, uint32_t min_idle, uint64_t idx,
		       unsigned n)
{
	struct store *store = wb->store;
	struct pool_obj *obj;
	uint64_t word;
	unsigned len;

	if (slot_state(slot_peek(store->words, idx)) != SLOT_POOL)
		return false;
	/*
	 * One claim per slot per batch: a slot rewritten after its claim can
	 * get its old pool handle back (freed, then reused), and a second
	 * claim would set WRITEBACK again on that handle, letting the first
	 * claim's older copy commit.
	 */
	for (unsigned i = 0; i < n; i++)
		if (wb->items[i].idx == idx)
			return false;
	if (!slot_trylock(store->words, idx, &word))
		return false;
	if (slot_state(word) != SLOT_POOL || (word & SLOT_WRITEBACK))
		goto out_skip;
	if (mode == WB_LOADED && !(word & SLOT_LOADED))
		goto out_skip;
	obj = pool_map(store->pool, slot_pool_handle(word));
	if (min_idle && store_now(store) - obj->stamp < min_idle)
		goto out_skip;
	if (mode == WB_COLD && !(word & SLOT_LOADED) && (word & SLOT_REFERENCED)) {
		word &= ~SLOT_REFERENCED; /* second chance */
		goto out_skip;
	}
	len = slot_pool_len(word);
	if (len == SWAPDEV_PAGE_SIZE) {
		memcpy(wb->iov[n].iov_base, obj->data, SWAPDEV_PAGE_SIZE);
	} else if (codec_decompress(wb->codec, slot_pool_codec(word), obj->data, len,
				    wb->iov[n].iov_base, SWAPDEV_PAGE_SIZE) < 0) {
		counter_add(&wb->counters.decompress_errors, 1);
		goto out_skip;
	}
	wb->items[n] = (struct wb_item){ .idx = idx,
					 .handle = slot_pool_handle(word),
					 .loaded = (word & SLOT_LOADED) != 0 };
	slot_unlock(store->words, idx, word | SLOT_WRITEBACK);
	return true;
out_skip:
	slot_unlock(store->words, idx, word);
	return false;
}

/* Undo a claim: the pool copy stays the slot's home. */
static void cancel_item(struct writeback *wb, const struct wb_item *item)
{
	uint64_t *words = wb->store->words;
	uint64_t word = slot_lock(words, item->idx);

	if ((word & SLOT_WRITEBACK) && slot_state(word) == SLOT_POOL &&
	    slot_pool_handle(word) == item->handle)
		word &= ~SLOT_WRITEBACK;
	slot_unlock(words, item->idx, word);
}

/* Make block the home of item's slot if it still holds the claimed version. */
static void commit_item(struct writeback *wb, const struct wb_item *item, uint64_t block)
{
	struct store *store = wb->store;
	uint64_t word = slot_lock(store->words, item->idx), disk_word;

	if (!(word & SLOT_WRITEBACK) || slot_state(word) != SLOT_POOL ||
	    slot_pool_handle(word) != item->handle) {
		slot_unlock(store->words, item->idx, word);
		disk_release(store->disk, block);
		counter_add(&wb->counters.writeback_cancelled, 1);
		return;
	}
	disk_word = slot_make_disk(block);
	slot_unlock(store->words, item->idx, disk_word);
	store_account(store, disk_word, +1);
	store_release_home(store, word);
	counter_add(&wb->counters.writeback_pages, 1);
	if (item->loaded)
		counter_add(&wb->counters.exclusive_releases, 1);
}

/*
 * Write the n claimed items. Returns the number committed or cancelled by
 * newer data (both done with), or -EIO/-ENOSPC when the disk failed; the
 * items not written are cancelled either way.
 */
static int write_batch(struct writeback *wb, unsigned n)
{
	struct store *store = wb->store;
	unsigned i = 0, j;
	uint64_t first;
	int r = 0;

	while (i < n) {
		r = disk_alloc(store->disk, n - i, &first);
		if (r < 0)
			break;
		j = (unsigned)r;
		r = disk_write(store->disk, first, &wb->iov[i], j);
		if (r < 0) {
			counter_add(&wb->counters.io_errors, 1);
			for (unsigned k = 0; k < j; k++)
				disk_release(store->disk, first + k);
			break;
		}
		for (unsigned k = 0; k < j; k++)
			commit_item(wb, &wb->items[i + k], first + k);
		i += j;
	}
	for (j = i; j < n; j++)
		cancel_item(wb, &wb->items[j]);
	return r < 0 ? r : (int)n;
}

/*
 * Gather and write one batch, scanning from *cursor towards end (the
 * cursor wraps at the table's end), looking at no more than budget
 * slots and adding those looked at to *scanned. Returns pages
 * written (0: nothing eligible in the range scanned) or -errno.
 * Caller holds batch_lock.
 */
static int run_batch(struct writeback *wb, enum wb_mode mode, uint32_t min_idle, uint64_t *cursor,
		     uint64_t budget, unsigned max_pages, uint64_t *scanned)
{
	struct store *store = wb->store;
	uint64_t idx = *cursor, start_budget = budget;
	unsigned n = 0;

	max_pages = MIN(max_pages, (unsigned)WB_BATCH);
	while (budget > 0 && n < max_pages) {
		if (idx >= store->nr_slots)
			idx = 0;
		if (claim_slot(wb, mode, min_idle, idx, n))
			n++;
		idx++;
		budget--;
	}
	*cursor = idx;
	*scanned += start_budget - budget;
	return n ? write_batch(wb, n) : 0;
}

static void pool_usage(struct store *store, uint64_t *ret_objects, uint64_t *ret_footprint,
		       uint64_t *ret_limit)
{
	struct pool_stats ps;

	pool_get_stats(store->pool, &ps);
	*ret_objects = ps.object_bytes;
	*ret_footprint = ps.footprint_bytes;
	*ret_limit = ps.limit_bytes;
}

/*
 * Pressure: cold entries out until the pool's footprint is under the low
 * watermark. Freed objects only shrink the footprint once their chunks
 * empty, so when the objects alone fit under the mark, compaction runs
 * before more pages go.
 */
static void relieve_pressure(struct writeback *wb)
{
	struct store *store = wb->store;
	uint64_t objects, footprint, limit, low, scanned = 0;
	int r;

	pool_usage(store, &objects, &footprint, &limit);
	if (footprint * 100 <= limit * __atomic_load_n(&store->config.high_watermark,
							  __ATOMIC_RELAXED))
		return;
	low = limit / 100 * __atomic_load_n(&store->config.low_watermark, __ATOMIC_RELAXED);
	/* Two sweeps at most: the first may only strip second chances. */
	while (footprint > low && scanned < 2 * store->nr_slots) {
		if (objects <= low) {
			store_compact(store);
			pool_usage(store, &objects, &footprint, &limit);
			if (footprint <= low)
				break;
		}
		pthread_mutex_lock(&wb->batch_lock);
		r = run_batch(wb, WB_COLD, 0, &wb->hand, 2 * store->nr_slots - scanned, WB_BATCH,
			      &scanned);
		pthread_mutex_unlock(&wb->batch_lock);
		if (r < 0)
			break;
		pool_usage(store, &objects, &footprint, &limit);
	}
	store_compact(store);
}

static void drain_loaded(struct writeback *wb, uint64_t *queue, unsigned count, bool overflow)
{
	struct store *store = wb->store;
	uint64_t cursor = 0, scanned = 0;
	unsigned i = 0, n;

	while (i < count) {
		pthread_mutex_lock(&wb->batch_lock);
		for (n = 0; i < count && n < WB_BATCH; i++)
			if (claim_slot(wb, WB_LOADED, 0, queue[i], n))
				n++;
		if (n)
			write_batch(wb, n);
		pthread_mutex_unlock(&wb->batch_lock);
	}
	while (overflow && cursor < store->nr_slots) {
		pthread_mutex_lock(&wb->batch_lock);
		run_batch(wb, WB_LOADED, 0, &cursor, store->nr_slots - cursor, WB_BATCH, &scanned);
		pthread_mutex_unlock(&wb->batch_lock);
	}
}

/* One sweep of the table writing back eligible entries; see store_flush(). */
int64_t writeback_flush(struct writeback *wb, const struct store_flush_request *request)
{
	struct store *store = wb->store;
	uint64_t cursor = 0, done = 0, scanned = 0, total;
	uint64_t max_pages = request->limit_bytes ? DIV_ROUND_UP(request->limit_bytes,
								  SWAPDEV_PAGE_SIZE) : UINT64_MAX;
	int r = 0;

	total = MIN(store_gauge(&store->pool_slots), max_pages);
	if (request->progress && !request->progress(request->opaque, 0, total))
		return -ECANCELED;
	while (cursor < store->nr_slots && done < max_pages) {
		pthread_mutex_lock(&wb->batch_lock);
		r = run_batch(wb, WB_ALL, request->idle_seconds, &cursor, store->nr_slots - cursor,
			      (unsigned)MIN(max_pages - done, (uint64_t)WB_BATCH), &scanned);
		pthread_mutex_unlock(&wb->batch_lock);
		if (r < 0)
			break;
		done += (uint64_t)r;
		total = MAX(total, done);
		if (request->progress && !request->progress(request->opaque, done, total)) {
			r = -ECANCELED;
			break;
		}
	}
	store_compact(store);
	return r < 0 ? r : (int64_t)done;
}

static void idle_sweep(struct writeback *wb)
{
	uint32_t idle = __atomic_load_n(&wb->idle_seconds, __ATOMIC_RELAXED);
	uint32_t now = store_now(wb->store);
	struct store_flush_request request = { .idle_seconds = idle };

	/* Sweep at twice the idle rate: entries leave within 1.5 × idle. */
	if (idle == 0 || now - wb->last_idle_sweep < MAX(idle / 2, 1u))
		return;
	wb->last_idle_sweep = now;
	writeback_flush(wb, &request);
}

/*
 * Rewrites and discards free objects all over the pool's chunks; without
 * pressure nothing would give those chunks back. Compact when the
 * footprint exceeds the objects by more than the 10% the design allows
 * (plus a few chunks' worth, so a small pool is not compacted forever).
 */
static void compact_if_sparse(struct writeback *wb)
{
	uint64_t objects, footprint, limit;

	pool_usage(wb->store, &objects, &footprint, &limit);
	if (footprint > objects + objects / 10 + COMPACT_SLACK_BYTES)
		store_compact(wb->store);
}

static void *writeback_thread(void *arg)
{
	struct writeback *wb = arg;
	uint64_t queue[WB_LOADED_QUEUE];
	unsigned count;
	bool overflow;
	struct timespec deadline;

	pthread_mutex_lock(&wb->wake_lock);
	while (!wb->stop) {
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_nsec += (wb->loaded_count ? WB_LOADED_DELAY_MS : WB_TICK_MS) * 1000000L;
		deadline.tv_sec += deadline.tv_nsec / 1000000000L;
		deadline.tv_nsec %= 1000000000L;
		if (!__atomic_load_n(&wb->wanted, __ATOMIC_RELAXED) && wb->loaded_count < WB_BATCH &&
		    !wb->loaded_overflow)
			pthread_cond_timedwait(&wb->wake, &wb->wake_lock, &deadline);
		if (wb->stop)
			break;
		__atomic_store_n(&wb->wanted, false, __ATOMIC_RELAXED);
		count = wb->loaded_count;
		overflow = wb->loaded_overflow;
		memcpy(queue, wb->loaded, count * sizeof(queue[0]));
		wb->loaded_count = 0;
		wb->loaded_overflow = false;
		pthread_mutex_unlock(&wb->wake_lock);

		if (count || overflow)
			drain_loaded(wb, queue, count, overflow);
		relieve_pressure(wb);
		idle_sweep(wb);
		compact_if_sparse(wb);

		pthread_mutex_lock(&wb->wake_lock);
	}
	pthread_mutex_unlock(&wb->wake_lock);
	return NULL;
}

int writeback_start(struct writeback *wb)
{
	int r;

	if (wb->running)
		return 0;
	r = -pthread_create(&wb->thread, NULL, writeback_thread, wb);
	if (r == 0)
		wb->running = true;
	return r;
}
