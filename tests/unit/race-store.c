/* SPDX-License-Identifier: MIT */
/*
 * race-store.c - the store's concurrency scenarios, for ThreadSanitizer.
 *
 * Criterion cannot run under -fsanitize=thread (its runner aborts at
 * startup), so this is a plain program: it exits 1 with a message at the
 * first wrong byte or failed call, and ThreadSanitizer adds its own
 * reports (and exit status 66) for data races. Build and run:
 *
 *   cc -std=gnu11 -D_GNU_SOURCE -fsanitize=thread -g -O1 -Ilibswapdev \
 *      libswapdev/[a-z]*.c tests/unit/race-store.c -llz4 -lzstd -ljson-c -lpthread \
 *      -o /tmp/race-store
 *   /tmp/race-store [--ops N] [--dir DIR]
 *
 * Without the sanitizer it is an ordinary stress test (a few seconds).
 *
 * The scenarios follow test-store.c's store_race tests. NTHREADS threads
 * do random reads, writes and discards over one small device, each I/O
 * spanning the sectors of every thread. A thread owns the sectors (or, in
 * the whole-slot scenario, the slots) whose number modulo NTHREADS is its
 * id and keeps their exact version, so a read is checked byte for byte on
 * its own sectors and for well-formedness (zeros, or an intact sector that
 * names itself) on the others. Writes and discards touch only the thread's
 * own sectors, each as its own request, so sub-slot writes race with the
 * other threads' read-modify-writes of the same slot.
 *
 * Around them: a pool far smaller than the data (so writes go through the
 * pool, writeback and write-through alike), the writeback thread, idle
 * writeback every second, exclusive loads on, and a churn thread that
 * loops over store_flush, store_compact, the statistics and the runtime
 * tunables (codec, pool limit, watermarks), as the control socket would.
 * In the odd-slots-on-disk scenarios every other slot is incompressible and
 * lives on disk, so reads pin disk blocks (a read holds no slot lock across
 * its I/O) while the owner rewrites, patches or discards the slot and
 * writeback and flush move its neighbours. At the end the main thread
 * checks every sector against its owner's version once more.
 */
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "../common/pagegen.h"
#include "common.h"
#include "store.h"

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)
#define NTHREADS 4
#define SECTOR 512u
#define DEVICE_SIZE (2 * MiB)
#define SECTORS (DEVICE_SIZE / SECTOR)
#define MAX_RUN 32 /* sectors per request */
#define MAX_POOL_LIMIT (512 * KiB) /* the largest pool limit any scenario or churn sets */

static char dir_path[PATH_MAX - 16]; /* room for "/backing" below */
static char backing_path[PATH_MAX];
static unsigned ops = 6000;

struct scenario {
	const char *name;
	bool whole_slots; /* threads own whole slots and write them whole */
	struct codec_spec codec;
	uint64_t pool_limit;
	bool background_growth; /* the daemon's mode: the pool grows in its own thread */
	/* Odd slots do not compress: they live on disk, so reads pin blocks that
	 * writes, discards and read-modify-writes replace meanwhile. */
	bool odd_slots_on_disk;
	/* Idle recompression to zstd running all the time (idle 0, no budget
	 * left unspent): its claims race every path above. */
	bool recompress;
};

static const struct scenario scenarios[] = {
	{ "sectors-lz4-tiny-pool", false, { .kind = CODEC_LZ4 }, 256 * KiB },
	{ "slots-zstd-small-pool", true, { .kind = CODEC_ZSTD, .level = 1 }, MAX_POOL_LIMIT },
	{ "sectors-lz4-background-growth", false, { .kind = CODEC_LZ4 }, MAX_POOL_LIMIT, true },
	{ "slots-lz4-odd-slots-on-disk", true, { .kind = CODEC_LZ4 }, MAX_POOL_LIMIT, false, true },
	{ "sectors-lz4-odd-slots-on-disk", false, { .kind = CODEC_LZ4 }, 256 * KiB, false, true },
	{ "sectors-lz4-recompress", false, { .kind = CODEC_LZ4 }, MAX_POOL_LIMIT, false, false,
	  true },
	{ "slots-lz4-recompress-odd-slots-on-disk", true, { .kind = CODEC_LZ4 }, 256 * KiB, false,
	  true, true },
};

static bool odd_slots_on_disk; /* the running scenario's, for sector_fill() */

struct racer {
	struct store *store;
	const struct scenario *scenario;
	unsigned id;
	uint32_t *versions; /* shared, but each thread only touches its own sectors */
	pthread_t thread;
};

struct churn {
	struct store *store;
	bool stop;
	unsigned rounds;
	pthread_t thread;
};

/* Async-signal-safe: unlink and rmdir only. */
static void cleanup_files(void)
{
	if (backing_path[0])
		unlink(backing_path);
	if (dir_path[0])
		rmdir(dir_path);
}

static void on_signal(int sig)
{
	cleanup_files();
	signal(sig, SIG_DFL);
	raise(sig);
}

static _Noreturn __attribute__((format(printf, 1, 2))) void fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "race-store: FAIL: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);
}

/*
 * A sector names itself and its version; half its words vary, so pages
 * compress, or all of them in the odd slots of odd_slots_on_disk.
 */
static void sector_fill(unsigned char *p, uint64_t sector, uint32_t version)
{
	uint64_t s = sector * 7919 + version * UINT64_C(104729) + 1;
	bool random = odd_slots_on_disk && sector / 8 % 2;

	memcpy(p, &sector, 8);
	memcpy(p + 8, &version, 4);
	for (unsigned i = 12; i < SECTOR; i += 4) {
		uint32_t v = (uint32_t)pagegen_next(&s);

		if (i % 8 && !random)
			v = version;
		memcpy(p + i, &v, 4);
	}
}

static bool all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* Zeros, or an intact sector that names this sector. */
static bool sector_valid(const unsigned char *p, uint64_t sector)
{
	unsigned char expect[SECTOR];
	uint32_t version;
	uint64_t id;

	if (all_zero(p, SECTOR))
		return true;
	memcpy(&id, p, 8);
	memcpy(&version, p + 8, 4);
	if (id != sector || version == 0)
		return false;
	sector_fill(expect, sector, version);
	return memcmp(expect, p, SECTOR) == 0;
}

static unsigned owner(const struct scenario *sc, uint64_t sector)
{
	return (unsigned)((sc->whole_slots ? sector / 8 : sector) % NTHREADS);
}

/* Exactly what the owner last wrote: version 0 is zeros. */
static bool sector_exact(const unsigned char *p, uint64_t sector, uint32_t version)
{
	unsigned char expect[SECTOR];

	if (version == 0)
		return all_zero(p, SECTOR);
	sector_fill(expect, sector, version);
	return memcmp(expect, p, SECTOR) == 0;
}

static void racer_write(struct racer *r, struct store_worker *w, unsigned char *buf,
			uint64_t first, uint64_t n)
{
	const struct scenario *sc = r->scenario;
	uint64_t len = sc->whole_slots ? 8 : 1;
	ssize_t got;

	for (uint64_t s = first; s < first + n; s += len) {
		if (owner(sc, s) != r->id)
			continue;
		for (uint64_t k = 0; k < len; k++) {
			r->versions[s + k]++;
			sector_fill(buf + k * SECTOR, s + k, r->versions[s + k]);
		}
		got = store_write(w, buf, len * SECTOR, s * SECTOR);
		if (got != (ssize_t)(len * SECTOR))
			fail("%s: thread %u: store_write(sector %" PRIu64 ") = %zd (%s)", sc->name,
			     r->id, s, got, got < 0 ? strerror((int)-got) : "short");
	}
}

static void racer_discard(struct racer *r, struct store_worker *w, uint64_t first, uint64_t n)
{
	const struct scenario *sc = r->scenario;
	uint64_t len = sc->whole_slots ? 8 : 1;
	int e;

	for (uint64_t s = first; s < first + n; s += len) {
		if (owner(sc, s) != r->id)
			continue;
		e = store_discard(w, s * SECTOR, len * SECTOR);
		if (e < 0)
			fail("%s: thread %u: store_discard(sector %" PRIu64 "): %s", sc->name,
			     r->id, s, strerror(-e));
		for (uint64_t k = 0; k < len; k++)
			r->versions[s + k] = 0;
	}
}

static void racer_read(struct racer *r, struct store_worker *w, unsigned char *buf,
		       uint64_t first, uint64_t n)
{
	const struct scenario *sc = r->scenario;
	ssize_t got = store_read(w, buf, n * SECTOR, first * SECTOR);

	if (got != (ssize_t)(n * SECTOR))
		fail("%s: thread %u: store_read(sector %" PRIu64 ", %" PRIu64 ") = %zd (%s)",
		     sc->name, r->id, first, n, got, got < 0 ? strerror((int)-got) : "short");
	for (uint64_t k = 0; k < n; k++) {
		uint64_t s = first + k;
		const unsigned char *p = buf + k * SECTOR;

		if (owner(sc, s) == r->id) {
			if (!sector_exact(p, s, r->versions[s]))
				fail("%s: thread %u: own sector %" PRIu64 " is not version %" PRIu32
				     " (stale or lost)",
				     sc->name, r->id, s, r->versions[s]);
		} else if (!sector_valid(p, s)) {
			fail("%s: thread %u: sector %" PRIu64 " of thread %u is torn", sc->name,
			     r->id, s, owner(sc, s));
		}
	}
}

static void *racer_thread(void *arg)
{
	struct racer *r = arg;
	struct store_worker *w = NULL;
	unsigned char *buf = aligned_alloc(SWAPDEV_PAGE_SIZE, (MAX_RUN + 8) * SECTOR);
	uint64_t rng = r->id * UINT64_C(1000003) + 17;
	int e;

	if (!buf)
		fail("out of memory");
	e = store_worker_new(r->store, &w);
	if (e < 0)
		fail("store_worker_new: %s", strerror(-e));
	for (unsigned i = 0; i < ops; i++) {
		uint64_t x = pagegen_next(&rng), n = 1 + (x >> 8) % MAX_RUN, first;

		first = (x >> 24) % (SECTORS - n);
		if (r->scenario->whole_slots) {
			first &= ~UINT64_C(7);
			n = ALIGN_UP(n, 8);
		}
		if (x % 3 == 0)
			racer_write(r, w, buf, first, n);
		else if (x % 7 == 1)
			racer_discard(r, w, first, n);
		else
			racer_read(r, w, buf, first, n);
	}
	store_worker_free(w);
	free(buf);
	return NULL;
}

/* What the control socket does meanwhile: flush, compact, stats, tunables. */
static void *churn_thread(void *arg)
{
	static const struct codec_spec codecs[] = { { .kind = CODEC_LZ4 },
						    { .kind = CODEC_ZSTD, .level = 1 } };
	struct churn *c = arg;
	struct store_flush_request all = { 0 }, some = { .limit_bytes = 64 * KiB };
	struct latency_hist rd, wr;
	struct store_stats st;
	int64_t n;
	int e;

	while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
		unsigned k = c->rounds++;

		n = store_flush(c->store, k % 2 ? &all : &some);
		if (n < 0)
			fail("store_flush: %s", strerror((int)-n));
		store_compact(c->store);
		store_get_stats(c->store, &st);
		store_get_latency(c->store, &rd, &wr);
		/* A lowered limit only stops growth: the cap is the largest limit set. */
		if (st.pool_footprint_bytes > MAX_POOL_LIMIT)
			fail("pool footprint %" PRIu64 " above every limit set",
			     st.pool_footprint_bytes);
		e = store_set_codec(c->store, &codecs[k % ARRAY_SIZE(codecs)]);
		if (e == 0)
			e = store_set_pool_limit(c->store, MAX_POOL_LIMIT / 4 * (k % 3 + 2));
		if (e == 0)
			e = store_set_watermarks(c->store, k % 2 ? 90 : 70, k % 2 ? 80 : 50);
		if (e < 0)
			fail("runtime tunables: %s", strerror(-e));
	}
	return NULL;
}

static void check_all(const struct scenario *sc, struct store *store, const uint32_t *versions)
{
	struct store_worker *w = NULL;
	_cleanup_free_ unsigned char *buf = aligned_alloc(SWAPDEV_PAGE_SIZE, SWAPDEV_PAGE_SIZE);
	ssize_t got;
	int e;

	if (!buf)
		fail("out of memory");
	e = store_worker_new(store, &w);
	if (e < 0)
		fail("store_worker_new: %s", strerror(-e));
	for (uint64_t off = 0; off < DEVICE_SIZE; off += SWAPDEV_PAGE_SIZE) {
		got = store_read(w, buf, SWAPDEV_PAGE_SIZE, off);
		if (got != SWAPDEV_PAGE_SIZE)
			fail("%s: final store_read(%" PRIu64 ") = %zd", sc->name, off, got);
		for (unsigned k = 0; k < SWAPDEV_PAGE_SIZE / SECTOR; k++) {
			uint64_t s = off / SECTOR + k;

			if (!sector_exact(buf + k * SECTOR, s, versions[s]))
				fail("%s: final check: sector %" PRIu64 " is not version %" PRIu32,
				     sc->name, s, versions[s]);
		}
	}
	store_worker_free(w);
}

static void run(const struct scenario *sc)
{
	struct store_config config = {
		.size = DEVICE_SIZE,
		.pool_limit = sc->pool_limit,
		.pool_max = 1 * MiB,
		.codec = sc->codec,
		.same_filled = true,
		.reject_threshold = 3584,
		.exclusive_loads = true,
		.backing_path = backing_path,
		.high_watermark = 90,
		.low_watermark = 80,
		.idle_seconds = 1,
		.background_growth = sc->background_growth,
		.recompress = { .enabled = sc->recompress,
				.codec = { .kind = CODEC_ZSTD, .level = 1 },
				.cpu_percent = 100 },
	};
	struct racer racers[NTHREADS];
	struct churn churn = { 0 };
	struct store_stats st;
	struct store *store = NULL;
	uint32_t *versions = calloc(SECTORS, sizeof(uint32_t));
	int e;

	if (!versions)
		fail("out of memory");
	odd_slots_on_disk = sc->odd_slots_on_disk;
	e = store_new(&config, &store);
	if (e < 0)
		fail("%s: store_new: %s", sc->name, strerror(-e));
	e = store_start_writeback(store);
	if (e < 0)
		fail("%s: store_start_writeback: %s", sc->name, strerror(-e));
	churn.store = store;
	if (pthread_create(&churn.thread, NULL, churn_thread, &churn) != 0)
		fail("pthread_create failed");
	for (unsigned i = 0; i < NTHREADS; i++) {
		racers[i] = (struct racer){ .store = store, .scenario = sc, .id = i,
					    .versions = versions };
		if (pthread_create(&racers[i].thread, NULL, racer_thread, &racers[i]) != 0)
			fail("pthread_create failed");
	}
	for (unsigned i = 0; i < NTHREADS; i++)
		pthread_join(racers[i].thread, NULL);
	__atomic_store_n(&churn.stop, true, __ATOMIC_RELEASE);
	pthread_join(churn.thread, NULL);

	check_all(sc, store, versions);
	store_get_stats(store, &st);
	printf("%s: %u ops x %u threads, %u churn rounds; pool writes %" PRIu64
	       ", disk writes %" PRIu64 ", writeback %" PRIu64 " (cancelled %" PRIu64
	       ", exclusive releases %" PRIu64 "), disk reads %" PRIu64 ", compactions %" PRIu64
	       "\n",
	       sc->name, ops, NTHREADS, churn.rounds, st.ops.writes_pool, st.ops.writes_disk,
	       st.ops.writeback_pages, st.ops.writeback_cancelled, st.ops.exclusive_releases,
	       st.ops.reads_disk, st.ops.compactions);
	if (churn.rounds == 0 || st.ops.writeback_pages == 0 || st.ops.reads_disk == 0)
		fail("%s: the scenario did not exercise writeback and the disk tier", sc->name);
	if (sc->recompress)
		printf("%s: recompressed %" PRIu64 ", dropped %" PRIu64 ", not worth it %" PRIu64 "\n",
		       sc->name, st.ops.recompressed, st.ops.recompress_dropped,
		       st.ops.recompress_not_worth);
	if (sc->recompress && st.ops.recompressed == 0)
		fail("%s: nothing was recompressed", sc->name);
	if (st.ops.io_errors || st.ops.decompress_errors)
		fail("%s: %" PRIu64 " I/O errors, %" PRIu64 " decompression errors", sc->name,
		     st.ops.io_errors, st.ops.decompress_errors);
	store_free(store);
	unlink(backing_path);
	free(versions);
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "ops", required_argument, NULL, 'o' },
		{ "dir", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	struct sigaction sa = { .sa_handler = on_signal };
	const char *dir = "/var/tmp";
	unsigned long v;
	char *end;
	int opt;

	while ((opt = getopt_long(argc, argv, "o:d:h", options, NULL)) != -1) {
		switch (opt) {
		case 'o':
			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || v == 0 || v > 10000000) {
				fprintf(stderr, "race-store: --ops wants 1..10000000\n");
				return 2;
			}
			ops = (unsigned)v;
			break;
		case 'd':
			dir = optarg;
			break;
		case 'h':
			printf("Usage: race-store [--ops N] [--dir DIR]\n"
			       "  --ops N    operations per thread and scenario (default 6000)\n"
			       "  --dir DIR  where the backing file goes (default /var/tmp)\n");
			return 0;
		default:
			return 2;
		}
	}
	if (snprintf(dir_path, sizeof(dir_path), "%s/swapdev-race-XXXXXX", dir) >=
	    (int)sizeof(dir_path)) {
		fprintf(stderr, "race-store: --dir too long\n");
		return 2;
	}
	if (!mkdtemp(dir_path)) {
		fprintf(stderr, "race-store: mkdtemp in %s: %m\n", dir);
		dir_path[0] = '\0';
		return 1;
	}
	snprintf(backing_path, sizeof(backing_path), "%s/backing", dir_path);
	atexit(cleanup_files);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	for (size_t i = 0; i < ARRAY_SIZE(scenarios); i++)
		run(&scenarios[i]);
	printf("race-store: all scenarios passed\n");
	return 0;
}
