/* SPDX-License-Identifier: MIT */
/*
 * bench-writeback.c - the store's disk paths against raw O_DIRECT writes.
 *
 * Two measurements, each against the raw file system in the same run, on
 * files in one directory (default /var/tmp: a disk file system, not tmpfs):
 *
 *  flush        A store with a 256 MiB pool and a backing file holds
 *               128 MiB of pagegen's anonymous-memory mix (by default),
 *               incompressible pages included (pool.incompressible =
 *               pool), under the high watermark. store_flush() of
 *               everything is timed: MiB/s of original data written back
 *               (same-filled pages stay in the slot table and are not
 *               counted). Against: the same number of 4 KiB pages written
 *               with O_DIRECT, sequentially, in 256 KiB pwrite()s (the
 *               writeback batch size) to a separate preallocated file.
 *  write-through
 *               store_write pages/s of a store whose pool limit is 1 MiB
 *               and whose writeback thread is not started, so that every
 *               write after the first MiB goes straight to disk; against
 *               the same store with a 256 MiB pool (the pool path), against
 *               raw O_DIRECT pwrite() of one 4 KiB page at a time, and next
 *               to the 1 MiB store with its writeback thread running (the
 *               daemon at its pool limit: the pool becomes a write buffer
 *               that writeback drains in batches). The mix has no
 *               same-filled or zero pages, so that every write-through
 *               page goes to disk. Write-through once more with 64 KiB
 *               store_write()s (16 pages per call), whose disk pages the
 *               store writes together, against raw O_DIRECT 64 KiB
 *               pwrite()s.
 *
 * Every repetition starts from freshly created and fallocated files on
 * both sides (a new store, or the raw file truncated and preallocated
 * again), so both write into unwritten extents alike. One warm-up
 * repetition verifies every page read back from the store, then --reps
 * repetitions; medians are printed, and the ratios are medians of
 * per-repetition ratios (neighbours in time).
 * The files are removed on every exit path, SIGINT and SIGTERM included.
 */
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../common/pagegen.h"
#include "common.h"
#include "store.h"

#define MiB (UINT64_C(1) << 20)
#define WRITE_64K 16 /* pages per store_write in the 64 KiB case */
#define PAGE SWAPDEV_PAGE_SIZE
#define MAX_REPS 99
#define RAW_BATCH_PAGES 64 /* 256 KiB, as one writeback batch */

static char dir_path[PATH_MAX - 16]; /* room for "/backing" in the paths below */
static char backing_path[PATH_MAX];
static char raw_path[PATH_MAX];

static size_t flush_pages = 128 * MiB / PAGE;
static size_t wt_pages = 32 * MiB / PAGE;
static unsigned reps = 5;

/* Async-signal-safe: unlink and rmdir only. */
static void cleanup_files(void)
{
	if (backing_path[0])
		unlink(backing_path);
	if (raw_path[0])
		unlink(raw_path);
	if (dir_path[0])
		rmdir(dir_path);
}

static void on_signal(int sig)
{
	cleanup_files();
	signal(sig, SIG_DFL);
	raise(sig);
}

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(v[0]), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static unsigned char *pages_build(size_t n, bool with_same)
{
	unsigned char *pages = aligned_alloc(PAGE, n * PAGE);
	uint64_t seed = 0;

	if (!pages)
		return NULL;
	for (size_t i = 0; i < n; seed++) {
		enum page_kind kind = pagegen_pick(seed);

		if (!with_same && (kind == PAGE_SAME || kind == PAGE_ZERO))
			continue;
		pagegen_fill_kind(pages + i * PAGE, PAGE, kind, seed);
		i++;
	}
	return pages;
}

/* A fresh store on a fresh backing file. */
static int store_open(size_t nr_pages, uint64_t pool_limit, bool writeback,
		      struct store **ret_store, struct store_worker **ret_worker)
{
	struct store_config c = {
		.size = nr_pages * PAGE,
		.pool_limit = pool_limit,
		.codec = { .kind = CODEC_LZ4 },
		.same_filled = true,
		.reject_threshold = 3584,
		.incompressible_to_pool = true,
		.backing_path = backing_path,
		.high_watermark = 90,
		.low_watermark = 80,
	};
	struct store *store = NULL;
	struct store_worker *w = NULL;
	int r;

	if (unlink(backing_path) < 0 && errno != ENOENT)
		return -errno;
	r = store_new(&c, &store);
	if (r < 0)
		return r;
	if (writeback)
		r = store_start_writeback(store);
	if (r == 0)
		r = store_worker_new(store, &w);
	if (r < 0) {
		store_free(store);
		return r;
	}
	*ret_store = store;
	*ret_worker = w;
	return 0;
}

/* store_write of n pages, per_write pages per call. */
static int write_pages(struct store_worker *w, const unsigned char *pages, size_t n,
		       size_t per_write)
{
	for (size_t i = 0; i < n; i += per_write) {
		size_t len = MIN(per_write, n - i) * PAGE;
		ssize_t r = store_write(w, pages + i * PAGE, len, i * PAGE);

		if (r != (ssize_t)len)
			return r < 0 ? (int)r : -EIO;
	}
	return 0;
}

static int verify_pages(struct store_worker *w, const unsigned char *pages, size_t n)
{
	_cleanup_free_ unsigned char *page = aligned_alloc(PAGE, PAGE);

	if (!page)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		ssize_t r = store_read(w, page, PAGE, i * PAGE);

		if (r != PAGE)
			return r < 0 ? (int)r : -EIO;
		if (memcmp(page, pages + i * PAGE, PAGE) != 0)
			return -EBADMSG;
	}
	return 0;
}

/* A fresh O_DIRECT file with n pages preallocated. Returns the fd or -errno. */
static int raw_open(size_t n)
{
	int fd = open(raw_path, O_RDWR | O_CREAT | O_TRUNC | O_DIRECT | O_CLOEXEC | O_NOFOLLOW,
		      0600);

	if (fd < 0)
		return -errno;
	if (fallocate(fd, 0, 0, (off_t)(n * PAGE)) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	return fd;
}

/*
 * Write pages [0, n) sequentially with O_DIRECT, batch pages per pwrite().
 * Returns the seconds taken (>= 0) or -errno.
 */
static double raw_write(const unsigned char *pages, size_t n, size_t batch)
{
	_cleanup_close_ int fd = raw_open(n);
	double start;

	if (fd < 0)
		return fd;
	start = now_seconds();
	for (size_t i = 0; i < n; i += batch) {
		size_t len = MIN(batch, n - i) * PAGE;
		ssize_t r = pwrite(fd, pages + i * PAGE, len, (off_t)(i * PAGE));

		if (r < 0)
			return -errno;
		if ((size_t)r != len)
			return -EIO;
	}
	return now_seconds() - start;
}

struct flush_result {
	double store_mibs, raw_mibs, ratio; /* medians */
	int64_t pages;			    /* written back by the last flush */
	struct store_stats stats;	    /* after the last flush */
};

/* One repetition of the flush measurement. */
static int flush_once(const unsigned char *pages, bool verify, double *ret_store, double *ret_raw,
		      struct flush_result *res)
{
	const struct store_flush_request all = { 0 };
	struct store *store = NULL;
	struct store_worker *w = NULL;
	double start, t;
	int64_t n;
	int r;

	r = store_open(flush_pages, 256 * MiB, true, &store, &w);
	if (r < 0)
		return r;
	r = write_pages(w, pages, flush_pages, 1);
	if (r < 0)
		goto out;
	start = now_seconds();
	n = store_flush(store, &all);
	t = now_seconds() - start;
	if (n <= 0) {
		r = n < 0 ? (int)n : -EIO;
		goto out;
	}
	store_get_stats(store, &res->stats);
	res->pages = n;
	*ret_store = (double)n * PAGE / MiB / t;
	if (verify) {
		r = verify_pages(w, pages, flush_pages);
		if (r < 0)
			goto out;
	}
	t = raw_write(pages, (size_t)n, RAW_BATCH_PAGES);
	if (t < 0) {
		r = (int)t;
		goto out;
	}
	*ret_raw = (double)n * PAGE / MiB / t;
	r = 0;
out:
	store_free(store);
	return r;
}

static int bench_flush(const unsigned char *pages, struct flush_result *res)
{
	double s[MAX_REPS], raw[MAX_REPS], ratio[MAX_REPS], ws, wr;
	int r;

	r = flush_once(pages, true, &ws, &wr, res);
	for (unsigned i = 0; r == 0 && i < reps; i++) {
		r = flush_once(pages, false, &s[i], &raw[i], res);
		ratio[i] = s[i] / raw[i];
	}
	if (r < 0)
		return r;
	res->store_mibs = median(s, reps);
	res->raw_mibs = median(raw, reps);
	res->ratio = median(ratio, reps);
	return 0;
}

enum wt_case {
	WT_POOL,	 /* 256 MiB pool */
	WT_LIMIT,	 /* 1 MiB pool, writeback running */
	WT_THROUGH,	 /* 1 MiB pool, no writeback: write-through */
	WT_THROUGH_64K,	 /* the same, 64 KiB per store_write */
	WT_RAW,		 /* raw O_DIRECT, 4 KiB per pwrite */
	WT_RAW_64K,	 /* raw O_DIRECT, 64 KiB per pwrite */
	WT_CASES,
};

struct wt_result {
	double rate[WT_CASES];	/* pages/s, medians */
	double through_vs_pool, through_vs_raw, limit_vs_pool; /* medians of ratios */
	double through_64k_vs_raw, through_64k_vs_4k;
	struct store_stats stats[WT_RAW]; /* after the last repetition */
};

/* Time store_write of every page, per_write pages per call, on a fresh store. */
static int store_write_rate(const unsigned char *pages, uint64_t pool_limit, bool writeback,
			    size_t per_write, bool verify, double *ret_rate,
			    struct store_stats *ret_stats)
{
	struct store *store = NULL;
	struct store_worker *w = NULL;
	double start;
	int r;

	r = store_open(wt_pages, pool_limit, writeback, &store, &w);
	if (r < 0)
		return r;
	start = now_seconds();
	r = write_pages(w, pages, wt_pages, per_write);
	if (r == 0) {
		*ret_rate = (double)wt_pages / (now_seconds() - start);
		store_get_stats(store, ret_stats);
	}
	if (r == 0 && verify)
		r = verify_pages(w, pages, wt_pages);
	store_free(store);
	return r;
}

static int wt_once(const unsigned char *pages, bool verify, double rate[WT_CASES],
		   struct wt_result *res)
{
	double t;
	int r;

	r = store_write_rate(pages, 256 * MiB, true, 1, verify, &rate[WT_POOL],
			     &res->stats[WT_POOL]);
	if (r == 0)
		r = store_write_rate(pages, 1 * MiB, true, 1, verify, &rate[WT_LIMIT],
				     &res->stats[WT_LIMIT]);
	if (r == 0)
		r = store_write_rate(pages, 1 * MiB, false, 1, verify, &rate[WT_THROUGH],
				     &res->stats[WT_THROUGH]);
	if (r == 0)
		r = store_write_rate(pages, 1 * MiB, false, WRITE_64K, verify,
				     &rate[WT_THROUGH_64K], &res->stats[WT_THROUGH_64K]);
	if (r < 0)
		return r;
	t = raw_write(pages, wt_pages, 1);
	if (t < 0)
		return (int)t;
	rate[WT_RAW] = (double)wt_pages / t;
	t = raw_write(pages, wt_pages, WRITE_64K);
	if (t < 0)
		return (int)t;
	rate[WT_RAW_64K] = (double)wt_pages / t;
	return 0;
}

static int bench_writethrough(const unsigned char *pages, struct wt_result *res)
{
	double rate[MAX_REPS][WT_CASES], col[MAX_REPS], ratio[5][MAX_REPS];
	int r;

	r = wt_once(pages, true, rate[0], res);
	for (unsigned i = 0; r == 0 && i < reps; i++) {
		r = wt_once(pages, false, rate[i], res);
		ratio[0][i] = rate[i][WT_THROUGH] / rate[i][WT_POOL];
		ratio[1][i] = rate[i][WT_THROUGH] / rate[i][WT_RAW];
		ratio[2][i] = rate[i][WT_LIMIT] / rate[i][WT_POOL];
		ratio[3][i] = rate[i][WT_THROUGH_64K] / rate[i][WT_RAW_64K];
		ratio[4][i] = rate[i][WT_THROUGH_64K] / rate[i][WT_THROUGH];
	}
	if (r < 0)
		return r;
	for (unsigned c = 0; c < WT_CASES; c++) {
		for (unsigned i = 0; i < reps; i++)
			col[i] = rate[i][c];
		res->rate[c] = median(col, reps);
	}
	res->through_vs_pool = median(ratio[0], reps);
	res->through_vs_raw = median(ratio[1], reps);
	res->limit_vs_pool = median(ratio[2], reps);
	res->through_64k_vs_raw = median(ratio[3], reps);
	res->through_64k_vs_4k = median(ratio[4], reps);
	return 0;
}

static int parse_count(const char *text, unsigned long min, unsigned long max,
		       unsigned long *ret_value)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || v < min || v > max)
		return -EINVAL;
	*ret_value = v;
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: bench-writeback [--dir DIR] [--mib N] [--wt-mib N] [--reps N]\n"
		   "  --dir DIR   where the files go (default /var/tmp; not tmpfs)\n"
		   "  --mib N     data written back by the flush test, MiB (default 128)\n"
		   "  --wt-mib N  data written by the write-through test, MiB (default 32)\n"
		   "  --reps N    timed repetitions after the warm-up (default 5)\n");
}

static int make_paths(const char *dir)
{
	struct sigaction sa = { .sa_handler = on_signal };

	if (snprintf(dir_path, sizeof(dir_path), "%s/swapdev-bench-XXXXXX", dir) >=
	    (int)sizeof(dir_path))
		return -ENAMETOOLONG;
	if (!mkdtemp(dir_path)) {
		dir_path[0] = '\0';
		return -errno;
	}
	snprintf(backing_path, sizeof(backing_path), "%s/backing", dir_path);
	snprintf(raw_path, sizeof(raw_path), "%s/raw", dir_path);
	atexit(cleanup_files);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "mib", required_argument, NULL, 'm' },
		{ "wt-mib", required_argument, NULL, 'w' },
		{ "reps", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	_cleanup_free_ unsigned char *anon = NULL, *nosame = NULL;
	const char *dir = "/var/tmp";
	struct flush_result fr = { 0 };
	struct wt_result wr = { 0 };
	unsigned long v;
	int opt, r;

	while ((opt = getopt_long(argc, argv, "d:m:w:r:h", options, NULL)) != -1) {
		switch (opt) {
		case 'd':
			dir = optarg;
			break;
		case 'm':
		case 'w':
			if (parse_count(optarg, 1, 65536, &v) < 0) {
				fprintf(stderr, "bench-writeback: --%s wants 1..65536\n",
					opt == 'm' ? "mib" : "wt-mib");
				return 2;
			}
			*(opt == 'm' ? &flush_pages : &wt_pages) = v * MiB / PAGE;
			break;
		case 'r':
			if (parse_count(optarg, 1, MAX_REPS, &v) < 0) {
				fprintf(stderr, "bench-writeback: --reps wants 1..%d\n", MAX_REPS);
				return 2;
			}
			reps = (unsigned)v;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}

	anon = pages_build(flush_pages, true);
	nosame = pages_build(wt_pages, false);
	if (!anon || !nosame) {
		fprintf(stderr, "bench-writeback: out of memory\n");
		return 1;
	}
	r = make_paths(dir);
	if (r < 0) {
		fprintf(stderr, "bench-writeback: cannot create a directory in %s: %s\n", dir,
			strerror(-r));
		return 1;
	}
	printf("bench-writeback: files in %s, lz4, median of %u repetitions after a warm-up\n",
	       dir_path, reps);

	r = bench_flush(anon, &fr);
	if (r < 0) {
		fprintf(stderr, "bench-writeback: flush: %s\n", strerror(-r));
		return 1;
	}
	printf("\nflush: %zu MiB of mix anon written to a store with a 256 MiB pool, then "
	       "store_flush(all);\n%" PRId64 " pages written back (the %" PRIu64
	       " same-filled pages stay in the slot table)\n",
	       flush_pages * PAGE / MiB, fr.pages, fr.stats.same_slots);
	printf("  store_flush                      %8.1f MiB/s of original data\n",
	       fr.store_mibs);
	printf("  raw O_DIRECT 256 KiB pwrite      %8.1f MiB/s\n", fr.raw_mibs);
	printf("  flush / raw                      %8.2f\n", fr.ratio);

	r = bench_writethrough(nosame, &wr);
	if (r < 0) {
		fprintf(stderr, "bench-writeback: write-through: %s\n", strerror(-r));
		return 1;
	}
	printf("\nwrite-through: %zu MiB (%zu pages) of mix nosame, store_write one page at a "
	       "time (64 KiB at a time where it says so)\n",
	       wt_pages * PAGE / MiB, wt_pages);
	printf("  pool path, 256 MiB pool          %8.0f pages/s (%" PRIu64 " to the pool)\n",
	       wr.rate[WT_POOL], wr.stats[WT_POOL].ops.writes_pool);
	printf("  write-through, 1 MiB, no wb      %8.0f pages/s (%" PRIu64 " straight to disk)\n",
	       wr.rate[WT_THROUGH], wr.stats[WT_THROUGH].ops.writes_disk);
	printf("  raw O_DIRECT 4 KiB pwrite        %8.0f pages/s\n", wr.rate[WT_RAW]);
	printf("  at the limit, 1 MiB, wb running  %8.0f pages/s (%" PRIu64 " straight to disk, "
	       "%" PRIu64 " written back)\n",
	       wr.rate[WT_LIMIT], wr.stats[WT_LIMIT].ops.writes_disk,
	       wr.stats[WT_LIMIT].ops.writeback_pages);
	printf("  write-through / pool path        %8.2f\n", wr.through_vs_pool);
	printf("  write-through / raw 4 KiB        %8.2f\n", wr.through_vs_raw);
	printf("  at the limit / pool path         %8.2f\n", wr.limit_vs_pool);
	printf("  write-through, 64 KiB writes     %8.0f pages/s (%" PRIu64 " straight to disk)\n",
	       wr.rate[WT_THROUGH_64K], wr.stats[WT_THROUGH_64K].ops.writes_disk);
	printf("  raw O_DIRECT 64 KiB pwrite       %8.0f pages/s\n", wr.rate[WT_RAW_64K]);
	printf("  write-through 64 KiB / raw 64 KiB %7.2f\n", wr.through_64k_vs_raw);
	printf("  write-through 64 KiB / 4 KiB     %8.2f\n", wr.through_64k_vs_4k);
	return 0;
}
