/* SPDX-License-Identifier: MIT */
/*
 * writeback.c - moving pool entries to the disk tier.
 *
 * Three things send pool pages to disk, all through the same batch
 * machinery:
 *
 *  - pressure: when the pool passes its high watermark (or an allocation
 *    failed), the background thread writes back incompressible entries
 *    (stored raw: no decompression, a whole page of RAM freed per page of
 *    I/O), then the coldest ones, until the pool is back under the low
 *    watermark, then compacts it. Coldness
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
 * The same thread recompresses idle pool entries with a denser codec when
 * that is on, after everything above, within a CPU budget: a credit that
 * grows with wall time at cpu_percent and is spent by the thread's CPU
 * time, so recompression never takes more than its share and stops at
 * once when pressure is reported. It claims slots like writeback does, so
 * it runs under batch_lock too, released every RECOMPRESS_STEP slots for a
 * flush or exclusive-load batch waiting on it.
 *
 * A recompression pass by hand (store_recompress_all, swapdevctl
 * recompress) runs in its caller's thread, one sweep of the table under
 * batch_lock RECOMPRESS_STEP slots at a time, without the CPU budget: an
 * administrator asked for it and waits for it, and the budget exists for
 * work nobody asked for. It still gives way to writeback: while the pool
 * is past its high watermark it pokes the thread and waits for a round of
 * it to end (the thread counts its rounds), so a full pool is relieved
 * first, at the cost of a pause in the pass.
 *
 * This module is policy only: which slots, when, how many. A batch is
 * claimed slot by slot (store_wb_claim: the page is copied out of the
 * pool, the slot marked, the pool copy stays its home), then written and
 * committed or cancelled by the store (store_wb_write); store.c says what
 * the slot words go through. Batches are serialized by batch_lock, and a
 * batch claims a slot at most once, as the store requires.
 *
 * Lock order: batch_lock > (the store's slot locks, pool and disk locks);
 * wake_lock is a leaf.
 */
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "common.h"
#include "writeback.h"

#define WB_BATCH STORE_WB_BATCH_MAX /* pages per batch: up to 256 KiB of I/O */
#define WB_LOADED_QUEUE 4096	/* loaded slots remembered before a sweep is needed */
#define WB_LOADED_DELAY_MS 20	/* wait this long for a loaded batch to fill */
#define WB_TICK_MS 1000		/* idle wake-up: idle writeback, compaction */
#define COMPACT_SLACK_BYTES (1u << 20) /* footprint tolerated above objects + 10% */
#define RECOMPRESS_STEP 64	/* slots looked at per hold of batch_lock */
#define YIELD_CHECK_MS 100	/* a pass waiting for writeback checks for cancellation */

struct writeback {
	struct store *store;
	pthread_t thread;
	bool running;

	pthread_mutex_t wake_lock;
	pthread_cond_t wake;
	bool stop;
	bool wanted;	   /* pressure reported since the thread last looked */
	uint64_t rounds;   /* rounds of the thread's loop ended */
	pthread_cond_t round_done; /* broadcast when rounds grows, and when the thread stops */
	uint64_t loaded[WB_LOADED_QUEUE];
	unsigned loaded_count;
	bool loaded_overflow;

	/* Serializes batches; protects everything below. */
	pthread_mutex_t batch_lock;
	unsigned char *buffers; /* WB_BATCH aligned pages */
	struct iovec iov[WB_BATCH];
	struct store_wb_claim claims[WB_BATCH];
	struct store_worker *worker; /* codec and counters of the store calls */
	uint64_t hand;
	uint64_t raw_hand; /* the incompressible pages' own sweep */
	/* counters.incompressible when a raw sweep found nothing to take:
	 * no new raw page since, no need to sweep for one. */
	uint64_t raw_none_at;
	bool raw_none;
	uint64_t started_ms;
	uint32_t last_idle_sweep; /* seconds since started_ms */

	/* Tunable, read without a lock (the watermarks live in the store). */
	uint32_t idle_seconds;

	/* Idle recompression: settings under wake_lock, the rest the thread's own. */
	struct store_recompress recompress;
	uint64_t recompress_hand;
	int64_t recompress_credit_us; /* CPU time it may still spend */
	uint64_t recompress_last_ms;  /* when the credit last grew */
};

int writeback_new(struct store *store, uint32_t idle_seconds, struct writeback **ret_wb)
{
	pthread_condattr_t attr;
	struct writeback *wb;
	int r;

	wb = calloc(1, sizeof(*wb));
	if (!wb)
		return -ENOMEM;
	wb->store = store;
	wb->idle_seconds = idle_seconds;
	wb->started_ms = monotonic_ms();
	pthread_mutex_init(&wb->wake_lock, NULL);
	/* Deadlines are CLOCK_MONOTONIC: immune to wall-clock jumps. */
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&wb->wake, &attr);
	pthread_cond_init(&wb->round_done, &attr);
	pthread_condattr_destroy(&attr);
	pthread_mutex_init(&wb->batch_lock, NULL);
	wb->buffers = aligned_alloc(SWAPDEV_PAGE_SIZE, (size_t)WB_BATCH * SWAPDEV_PAGE_SIZE);
	r = store_worker_new(store, &wb->worker);
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
	store_worker_free(wb->worker);
	free(wb->buffers);
	pthread_mutex_destroy(&wb->batch_lock);
	pthread_cond_destroy(&wb->round_done);
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

void writeback_set_idle_seconds(struct writeback *wb, uint32_t seconds)
{
	__atomic_store_n(&wb->idle_seconds, seconds, __ATOMIC_RELAXED);
	writeback_poke(wb);
}

/* Claim slot idx for the batch at position n. Caller holds batch_lock. */
static bool claim_slot(struct writeback *wb, enum store_wb_pick pick, uint32_t min_idle,
		       uint64_t idx, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (wb->claims[i].idx == idx)
			return false; /* one claim per slot per batch (store.h) */
	return store_wb_claim(wb->worker, idx, pick, min_idle, wb->iov[n].iov_base,
			      &wb->claims[n]) > 0;
}

/*
 * Gather and write one batch, scanning from *cursor towards end (the
 * cursor wraps at the table's end), looking at no more than budget
 * slots and adding those looked at to *scanned. Returns pages
 * written (0: nothing eligible in the range scanned) or -errno.
 * Caller holds batch_lock.
 */
static int run_batch(struct writeback *wb, enum store_wb_pick pick, uint32_t min_idle,
		     uint64_t *cursor, uint64_t budget, unsigned max_pages, uint64_t *scanned)
{
	uint64_t idx = *cursor, start_budget = budget, nr_slots = store_nr_slots(wb->store);
	unsigned n = 0;

	max_pages = MIN(max_pages, (unsigned)WB_BATCH);
	while (budget > 0 && n < max_pages) {
		if (idx >= nr_slots)
			idx = 0;
		if (claim_slot(wb, pick, min_idle, idx, n))
			n++;
		idx++;
		budget--;
	}
	*cursor = idx;
	*scanned += start_budget - budget;
	return n ? store_wb_write(wb->worker, wb->claims, wb->iov, n) : 0;
}

/*
 * Write back pages of kind pick from *hand on, at most sweeps times the
 * table, until the footprint is under low. Freed objects only shrink the
 * footprint once their chunks empty, so when the objects alone fit under
 * the mark, compaction runs before more pages go. Returns pages written.
 */
static uint64_t relieve_with(struct writeback *wb, enum store_wb_pick pick, uint64_t *hand,
			     unsigned sweeps, uint64_t low, struct store_pressure *p)
{
	uint64_t budget = sweeps * store_nr_slots(wb->store), scanned = 0, written = 0;
	int r;

	while (p->footprint_bytes > low && scanned < budget) {
		if (p->object_bytes <= low) {
			store_compact(wb->store);
			store_get_pressure(wb->store, p);
			if (p->footprint_bytes <= low)
				break;
		}
		pthread_mutex_lock(&wb->batch_lock);
		r = run_batch(wb, pick, 0, hand, budget - scanned, WB_BATCH, &scanned);
		pthread_mutex_unlock(&wb->batch_lock);
		if (r < 0)
			break;
		written += (uint64_t)r;
		store_get_pressure(wb->store, p);
	}
	return written;
}

/*
 * Pressure: incompressible entries, then cold ones, out until the pool's
 * footprint is under the low watermark. Incompressible pages (stored raw)
 * go first: each frees a whole page of RAM per page written, with no
 * decompression. Their sweep is skipped while the compressor has refused
 * no page since one found none to take.
 */
static void relieve_pressure(struct writeback *wb)
{
	struct store *store = wb->store;
	struct store_counters counters;
	struct store_pressure p;
	uint64_t low;

	store_get_pressure(store, &p);
	if (p.footprint_bytes * 100 <= p.limit_bytes * p.high_watermark)
		return;
	low = p.limit_bytes / 100 * p.low_watermark;
	store_get_counters(store, &counters);
	if (!wb->raw_none || counters.incompressible != wb->raw_none_at) {
		wb->raw_none = relieve_with(wb, STORE_WB_RAW, &wb->raw_hand, 1, low, &p) == 0;
		wb->raw_none_at = counters.incompressible;
	}
	/* Two sweeps at most: the first may only strip second chances. */
	relieve_with(wb, STORE_WB_COLD, &wb->hand, 2, low, &p);
	store_compact(store);
}

static void drain_loaded(struct writeback *wb, uint64_t *queue, unsigned count, bool overflow)
{
	uint64_t cursor = 0, scanned = 0, nr_slots = store_nr_slots(wb->store);
	unsigned i = 0, n;

	while (i < count) {
		pthread_mutex_lock(&wb->batch_lock);
		for (n = 0; i < count && n < WB_BATCH; i++)
			if (claim_slot(wb, STORE_WB_LOADED, 0, queue[i], n))
				n++;
		if (n)
			store_wb_write(wb->worker, wb->claims, wb->iov, n);
		pthread_mutex_unlock(&wb->batch_lock);
	}
	while (overflow && cursor < nr_slots) {
		pthread_mutex_lock(&wb->batch_lock);
		run_batch(wb, STORE_WB_LOADED, 0, &cursor, nr_slots - cursor, WB_BATCH, &scanned);
		pthread_mutex_unlock(&wb->batch_lock);
	}
}

/* One sweep of the table writing back eligible entries; see store_flush(). */
int64_t writeback_flush(struct writeback *wb, const struct store_flush_request *request)
{
	struct store *store = wb->store;
	uint64_t cursor = 0, done = 0, scanned = 0, total, nr_slots = store_nr_slots(store);
	uint64_t max_pages = request->limit_bytes ? DIV_ROUND_UP(request->limit_bytes,
								  SWAPDEV_PAGE_SIZE) : UINT64_MAX;
	int r = 0;

	total = MIN(store_pool_slots(store), max_pages);
	if (request->progress && !request->progress(request->opaque, 0, total))
		return -ECANCELED;
	while (cursor < nr_slots && done < max_pages) {
		pthread_mutex_lock(&wb->batch_lock);
		r = run_batch(wb, STORE_WB_ANY, request->idle_seconds, &cursor, nr_slots - cursor,
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
	uint32_t now = (uint32_t)((monotonic_ms() - wb->started_ms) / 1000);
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
	struct store_pressure p;

	store_get_pressure(wb->store, &p);
	if (p.footprint_bytes > p.object_bytes + p.object_bytes / 10 + COMPACT_SLACK_BYTES)
		store_compact(wb->store);
}

void writeback_set_recompress(struct writeback *wb, const struct store_recompress *recompress)
{
	pthread_mutex_lock(&wb->wake_lock);
	wb->recompress = *recompress;
	pthread_mutex_unlock(&wb->wake_lock);
	writeback_poke(wb);
}

/* Recompress idle entries while the CPU credit lasts and nothing else waits. */
static void recompress_idle(struct writeback *wb)
{
	uint64_t nr_slots = store_nr_slots(wb->store), now = monotonic_ms(), scanned = 0;
	int64_t cap;
	struct store_recompress req;

	pthread_mutex_lock(&wb->wake_lock);
	req = wb->recompress;
	pthread_mutex_unlock(&wb->wake_lock);
	if (!req.enabled) {
		wb->recompress_credit_us = 0;
		wb->recompress_last_ms = now;
		return;
	}
	/* The credit grows at cpu_percent of wall time, up to one tick's worth. */
	cap = (int64_t)WB_TICK_MS * 10 * req.cpu_percent;
	wb->recompress_credit_us += (int64_t)((now - wb->recompress_last_ms) * 10 * req.cpu_percent);
	wb->recompress_credit_us = MIN(wb->recompress_credit_us, cap);
	wb->recompress_last_ms = now;
	while (wb->recompress_credit_us > 0 && scanned < nr_slots &&
	       !__atomic_load_n(&wb->wanted, __ATOMIC_RELAXED)) {
		uint64_t start = thread_cpu_us();

		pthread_mutex_lock(&wb->batch_lock);
		for (unsigned i = 0; i < RECOMPRESS_STEP && scanned < nr_slots; i++, scanned++) {
			if (wb->recompress_hand >= nr_slots)
				wb->recompress_hand = 0;
			store_recompress(wb->worker, wb->recompress_hand++, &req);
		}
		pthread_mutex_unlock(&wb->batch_lock);
		wb->recompress_credit_us -= (int64_t)(thread_cpu_us() - start);
	}
}

static bool pass_progress(const struct store_recompress_request *request,
			  const struct store_recompress_totals *totals, uint64_t total)
{
	return !request->progress || request->progress(request->opaque, totals->examined, total);
}

/*
 * Give way to writeback while the pool is past its high watermark: poke
 * the thread and wait until a round that began after the poke has ended
 * (the round under way may have looked before the pool filled). Returns
 * false when the pass was cancelled meanwhile.
 */
static bool yield_to_writeback(struct writeback *wb, const struct store_recompress_request *request,
			       const struct store_recompress_totals *totals, uint64_t total)
{
	struct store_pressure p;
	struct timespec deadline;
	uint64_t target;
	bool go_on = true;

	store_get_pressure(wb->store, &p);
	if (!wb->running || p.footprint_bytes * 100 <= p.limit_bytes * p.high_watermark)
		return true;
	pthread_mutex_lock(&wb->wake_lock);
	target = wb->rounds + 2;
	__atomic_store_n(&wb->wanted, true, __ATOMIC_RELAXED);
	pthread_cond_signal(&wb->wake);
	while (go_on && wb->rounds < target && !wb->stop) {
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_nsec += YIELD_CHECK_MS * 1000000L;
		deadline.tv_sec += deadline.tv_nsec / 1000000000L;
		deadline.tv_nsec %= 1000000000L;
		if (pthread_cond_timedwait(&wb->round_done, &wb->wake_lock, &deadline) == 0)
			continue;
		pthread_mutex_unlock(&wb->wake_lock);
		go_on = pass_progress(request, totals, total);
		pthread_mutex_lock(&wb->wake_lock);
	}
	pthread_mutex_unlock(&wb->wake_lock);
	return go_on;
}

static void count_outcome(struct store_recompress_totals *totals, int r)
{
	if (r == STORE_RECOMPRESS_NOT_POOL)
		return;
	/* Errors (a corrupt object, a full pool) leave the entry as it was and
	 * show in the statistics; the pass goes on. */
	totals->examined++;
	totals->recompressed += r == STORE_RECOMPRESS_REPLACED;
	totals->not_worth += r == STORE_RECOMPRESS_NOT_WORTH;
	totals->dropped += r == STORE_RECOMPRESS_DROPPED;
}

int writeback_recompress(struct writeback *wb, const struct store_recompress_request *request,
			 struct store_recompress_totals *ret_totals)
{
	uint64_t cursor = 0, nr_slots = store_nr_slots(wb->store), total, start = thread_cpu_us();
	struct store_recompress_totals totals = { 0 };
	struct store_recompress req;

	pthread_mutex_lock(&wb->wake_lock);
	req = wb->recompress;
	pthread_mutex_unlock(&wb->wake_lock);
	if (!req.enabled)
		return -EOPNOTSUPP;
	if (request->idle_given)
		req.idle_seconds = request->idle_seconds;
	total = store_pool_slots(wb->store);
	if (!pass_progress(request, &totals, total))
		return -ECANCELED;
	while (cursor < nr_slots) {
		if (!yield_to_writeback(wb, request, &totals, total))
			return -ECANCELED;
		pthread_mutex_lock(&wb->batch_lock);
		for (unsigned i = 0; i < RECOMPRESS_STEP && cursor < nr_slots; i++)
			count_outcome(&totals, store_recompress(wb->worker, cursor++, &req));
		pthread_mutex_unlock(&wb->batch_lock);
		/* Entries written during the pass are examined too. */
		total = MAX(total, totals.examined);
		if (!pass_progress(request, &totals, total))
			return -ECANCELED;
	}
	/* The replaced objects leave holes in the pool's chunks. */
	compact_if_sparse(wb);
	totals.cpu_us = thread_cpu_us() - start;
	*ret_totals = totals;
	return 0;
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
		recompress_idle(wb);

		pthread_mutex_lock(&wb->wake_lock);
		wb->rounds++;
		pthread_cond_broadcast(&wb->round_done);
	}
	pthread_cond_broadcast(&wb->round_done);
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
