/* SPDX-License-Identifier: MIT */
/*
 * bench-store.c - the in-memory store against the raw codecs, one thread.
 *
 * What it measures: on one fixed set of pages (pagegen, 64 MiB by
 * default) and for lz4, zstd:1 and zstd:3, the raw codec alone
 * (LZ4_compress_default / LZ4_decompress_safe, ZSTD_compressCCtx /
 * ZSTD_decompressDCtx) and the store without a disk tier (store_write of
 * every page at its own slot, then store_read of every slot), in pages per
 * second, with the ratios store / raw. Then what the pool costs beyond the
 * compressed bytes it holds, the slot table bytes per used slot, and the
 * compression ratio.
 *
 * Two mixes of the same generator: "anon" is pagegen_pick()'s mix of
 * anonymous memory, "nosame" drops its same-filled and zero pages. The
 * store never compresses a same-filled page, so on "anon" it beats the raw
 * codec for free; "nosame" is the honest comparison and the one the
 * targets are judged on.
 *
 * Method: CLOCK_MONOTONIC around whole passes over all pages; one warm-up
 * repetition (which also verifies every page read back), then --reps
 * repetitions whose median is printed. Raw compression writes into one hot
 * scratch buffer (the codec and nothing else: the strictest baseline); raw
 * decompression reads compressed copies spread over memory, as the store
 * reads its pool, into one hot page, as the store reads here. Every store
 * repetition starts with a new store, so its write figure includes growing
 * the pool (chunk mmap and first-touch page faults), which is what a swap
 * device filling up pays.
 *
 * Targets are informational (benchmarks are not timed tests): they are
 * printed as MET or MISSED, and the exit status only reports errors.
 */
#include <getopt.h>
#include <inttypes.h>
#include <lz4.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <zstd.h>

#include "../common/pagegen.h"
#include "common.h"
#include "slot_table.h"
#include "store.h"

#define MiB (UINT64_C(1) << 20)
#define PAGE SWAPDEV_PAGE_SIZE
#define BOUND MAX((size_t)LZ4_COMPRESSBOUND(PAGE), (size_t)ZSTD_COMPRESSBOUND(PAGE))
#define MAX_REPS 99
#define REJECT_THRESHOLD 3584 /* the daemon's default pool.reject_threshold */

#define TARGET_SPEED 0.85     /* store write/read >= 0.85 x raw compress/decompress */
#define TARGET_FOOTPRINT 1.10 /* pool footprint <= 1.10 x compressed bytes */
#define TARGET_METADATA 8.0   /* slot table bytes per used slot */

struct codec_case {
	const char *name;
	struct codec_spec spec;
};

static const struct codec_case codecs[] = {
	{ "lz4", { .kind = CODEC_LZ4 } },
	{ "zstd:1", { .kind = CODEC_ZSTD, .level = 1 } },
	{ "zstd:3", { .kind = CODEC_ZSTD, .level = 3 } },
};

struct mix {
	const char *name;
	bool with_same;		  /* keep same-filled and zero pages */
	unsigned char *pages;	  /* nr_pages pages, page-aligned */
	size_t kinds[PAGE_KINDS]; /* pages of each kind */
};

/* Scratch shared by the raw passes. */
struct raw {
	ZSTD_CCtx *cctx;
	ZSTD_DCtx *dctx;
	unsigned char *scratch; /* BOUND bytes: output of the timed compression */
	unsigned char *comp;	/* nr_pages * BOUND: compressed copies for decompression */
	size_t *comp_len;
	unsigned char *page;	/* decompression output */
};

/* One codec on one mix: medians and the last store's statistics. */
struct result {
	double raw_compress, raw_decompress; /* pages/s */
	double store_write, store_read;	     /* pages/s */
	double write_ratio, read_ratio;	     /* store / raw, wall clock */
	double write_ratio_cpu, read_ratio_cpu; /* store / raw, thread CPU time */
	uint64_t raw_compr_bytes;	     /* sum of raw compressed sizes */
	struct store_stats stats;	     /* after the last write pass */
};

static size_t nr_pages = 64 * MiB / PAGE;
static unsigned reps = 5;
static const char *only_codec; /* --codec: run just this one */

static const char *const kind_names[PAGE_KINDS] = {
	[PAGE_TEXT] = "text", [PAGE_RECORDS] = "records", [PAGE_RANDOM] = "random",
	[PAGE_SAME] = "same", [PAGE_ZERO] = "zero",
};

/* Wall-clock time, and this thread's CPU time as a cross-check on a busy machine. */
struct span {
	double wall, cpu;
};

static double clock_seconds(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct span span_start(void)
{
	return (struct span){ clock_seconds(CLOCK_MONOTONIC),
			      clock_seconds(CLOCK_THREAD_CPUTIME_ID) };
}

static struct span span_end(struct span start)
{
	return (struct span){ clock_seconds(CLOCK_MONOTONIC) - start.wall,
			      clock_seconds(CLOCK_THREAD_CPUTIME_ID) - start.cpu };
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

/* Fill the mix: seeds 0, 1, 2, ... in order, skipping same and zero pages for "nosame". */
static int mix_build(struct mix *mix)
{
	uint64_t seed = 0;
	size_t i;

	mix->pages = aligned_alloc(PAGE, nr_pages * PAGE);
	if (!mix->pages)
		return -ENOMEM;
	for (i = 0; i < nr_pages; seed++) {
		enum page_kind kind = pagegen_pick(seed);

		if (!mix->with_same && (kind == PAGE_SAME || kind == PAGE_ZERO))
			continue;
		pagegen_fill_kind(mix->pages + i * PAGE, PAGE, kind, seed);
		mix->kinds[kind]++;
		i++;
	}
	return 0;
}

static void mix_print(const struct mix *mix)
{
	printf("mix %-6s:", mix->name);
	for (unsigned k = 0; k < PAGE_KINDS; k++)
		printf(" %s %.1f%%", kind_names[k], 100.0 * (double)mix->kinds[k] / (double)nr_pages);
	printf("\n");
}

/*
 * Compress every page with the raw codec: into the scratch buffer, or with
 * keep into the page's own place in raw->comp. Returns 0 or -EIO, with
 * the compressed total in *ret_bytes.
 */
static int raw_compress_pass(struct raw *raw, const struct codec_spec *spec, const struct mix *mix,
			     bool keep, uint64_t *ret_bytes, struct span *ret_time)
{
	struct span start = span_start();
	uint64_t total = 0;

	for (size_t i = 0; i < nr_pages; i++) {
		const unsigned char *src = mix->pages + i * PAGE;
		unsigned char *dst = keep ? raw->comp + i * BOUND : raw->scratch;
		size_t n;

		if (spec->kind == CODEC_LZ4) {
			int r = LZ4_compress_default((const char *)src, (char *)dst, PAGE,
						     (int)BOUND);

			if (r <= 0)
				return -EIO;
			n = (size_t)r;
		} else {
			n = ZSTD_compressCCtx(raw->cctx, dst, BOUND, src, PAGE, spec->level);
			if (ZSTD_isError(n))
				return -EIO;
		}
		if (keep)
			raw->comp_len[i] = n;
		total += n;
	}
	*ret_time = span_end(start);
	*ret_bytes = total;
	return 0;
}

/* Decompress every kept page; with verify, compare it with the original. */
static int raw_decompress_pass(struct raw *raw, const struct codec_spec *spec,
			       const struct mix *mix, bool verify, struct span *ret_time)
{
	struct span start = span_start();

	for (size_t i = 0; i < nr_pages; i++) {
		const unsigned char *src = raw->comp + i * BOUND;
		size_t n;

		if (spec->kind == CODEC_LZ4) {
			int r = LZ4_decompress_safe((const char *)src, (char *)raw->page,
						    (int)raw->comp_len[i], PAGE);

			n = r < 0 ? 0 : (size_t)r;
		} else {
			n = ZSTD_decompressDCtx(raw->dctx, raw->page, PAGE, src, raw->comp_len[i]);
		}
		if (n != PAGE)
			return -EIO;
		if (verify && memcmp(raw->page, mix->pages + i * PAGE, PAGE) != 0)
			return -EIO;
	}
	*ret_time = span_end(start);
	return 0;
}

/*
 * A new store without a disk tier: write every page at its own slot, then
 * read every slot. Returns 0 or -errno with the pass times and the stats
 * taken after the writes.
 */
static int store_pass(const struct codec_spec *spec, const struct mix *mix, unsigned char *page,
		      bool verify, struct span *ret_write, struct span *ret_read,
		      struct store_stats *ret_stats)
{
	/* The device is 4x the data set: the table's untouched part must not count. */
	struct store_config c = {
		.size = 4 * nr_pages * PAGE,
		.pool_limit = 2 * nr_pages * PAGE + 16 * MiB,
		.codec = *spec,
		.same_filled = true,
		.reject_threshold = REJECT_THRESHOLD,
		.high_watermark = 90,
		.low_watermark = 80,
	};
	struct store *store = NULL;
	struct store_worker *w = NULL;
	struct span start, write_time;
	ssize_t n;
	int r;

	r = store_new(&c, &store);
	if (r < 0)
		return r;
	r = store_worker_new(store, &w);
	if (r < 0)
		goto out;
	start = span_start();
	for (size_t i = 0; i < nr_pages; i++) {
		n = store_write(w, mix->pages + i * PAGE, PAGE, i * PAGE);
		if (n != PAGE) {
			r = n < 0 ? (int)n : -EIO;
			goto out;
		}
	}
	write_time = span_end(start);
	store_get_stats(store, ret_stats);
	start = span_start();
	for (size_t i = 0; i < nr_pages; i++) {
		n = store_read(w, page, PAGE, i * PAGE);
		if (n != PAGE) {
			r = n < 0 ? (int)n : -EIO;
			goto out;
		}
		if (verify && memcmp(page, mix->pages + i * PAGE, PAGE) != 0) {
			r = -EBADMSG;
			goto out;
		}
	}
	*ret_read = span_end(start);
	*ret_write = write_time;
	r = 0;
out:
	store_free(store);
	return r;
}

/*
 * Raw and store passes alternate within each repetition, so that the
 * ratios are taken between neighbours in time: medians of per-repetition
 * ratios resist a neighbour's load better than ratios of medians.
 */
static int bench_one(struct raw *raw, const struct codec_case *cc, const struct mix *mix,
		     unsigned char *page, struct result *res)
{
	double rc[MAX_REPS], rd[MAX_REPS], sw[MAX_REPS], sr[MAX_REPS];
	double wr[MAX_REPS], rr[MAX_REPS], wr_cpu[MAX_REPS], rr_cpu[MAX_REPS];
	struct span c, d, w, r;
	uint64_t bytes;
	int e;

	/* Warm-up: keep the compressed copies and verify both round trips. */
	if (raw_compress_pass(raw, &cc->spec, mix, true, &res->raw_compr_bytes, &c) < 0 ||
	    raw_decompress_pass(raw, &cc->spec, mix, true, &d) < 0)
		return -EIO;
	e = store_pass(&cc->spec, mix, page, true, &w, &r, &res->stats);
	if (e < 0)
		return e;

	for (unsigned i = 0; i < reps; i++) {
		if (raw_compress_pass(raw, &cc->spec, mix, false, &bytes, &c) < 0 ||
		    raw_decompress_pass(raw, &cc->spec, mix, false, &d) < 0)
			return -EIO;
		e = store_pass(&cc->spec, mix, page, false, &w, &r, &res->stats);
		if (e < 0)
			return e;
		rc[i] = (double)nr_pages / c.wall;
		rd[i] = (double)nr_pages / d.wall;
		sw[i] = (double)nr_pages / w.wall;
		sr[i] = (double)nr_pages / r.wall;
		wr[i] = c.wall / w.wall;
		rr[i] = d.wall / r.wall;
		wr_cpu[i] = c.cpu / w.cpu;
		rr_cpu[i] = d.cpu / r.cpu;
	}
	res->raw_compress = median(rc, reps);
	res->raw_decompress = median(rd, reps);
	res->store_write = median(sw, reps);
	res->store_read = median(sr, reps);
	res->write_ratio = median(wr, reps);
	res->read_ratio = median(rr, reps);
	res->write_ratio_cpu = median(wr_cpu, reps);
	res->read_ratio_cpu = median(rr_cpu, reps);
	return 0;
}

static const char *verdict(bool met)
{
	return met ? "MET" : "MISSED";
}

static void print_result(const struct codec_case *cc, const struct mix *mix,
			 const struct result *res)
{
	const struct store_stats *st = &res->stats;

	printf("%-6s %-6s %8.0f %8.0f %5.2f %5.2f  %8.0f %8.0f %5.2f %5.2f  %5.2f %5.2f  %5.3f\n",
	       cc->name, mix->name, res->raw_compress, res->store_write, res->write_ratio,
	       res->write_ratio_cpu, res->raw_decompress, res->store_read, res->read_ratio,
	       res->read_ratio_cpu, (double)nr_pages * PAGE / (double)res->raw_compr_bytes,
	       st->compr_bytes ? (double)st->orig_bytes / (double)st->compr_bytes : 0.0,
	       st->compr_bytes ? (double)st->pool_footprint_bytes / (double)st->compr_bytes : 0.0);
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
	fprintf(f, "Usage: bench-store [--mib N] [--reps N] [--codec lz4|zstd:1|zstd:3]\n"
		   "  --mib N      pages per mix, in MiB (default 64)\n"
		   "  --reps N     timed repetitions, median printed (default 5)\n"
		   "  --codec C    measure only codec C (for profiling); targets are not judged\n");
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "mib", required_argument, NULL, 'm' },
		{ "reps", required_argument, NULL, 'r' },
		{ "codec", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	struct mix mixes[] = { { .name = "anon", .with_same = true }, { .name = "nosame" } };
	struct result results[ARRAY_SIZE(codecs)][ARRAY_SIZE(mixes)];
	struct raw raw = { 0 };
	unsigned long v;
	int opt, r, ret = 1;
	bool speed_met = true, footprint_met = true, metadata_met = true;

	while ((opt = getopt_long(argc, argv, "m:r:c:h", options, NULL)) != -1) {
		switch (opt) {
		case 'c':
			only_codec = optarg;
			break;
		case 'm':
			if (parse_count(optarg, 1, 4096, &v) < 0) {
				fprintf(stderr, "bench-store: --mib wants 1..4096\n");
				return 2;
			}
			nr_pages = v * MiB / PAGE;
			break;
		case 'r':
			if (parse_count(optarg, 1, MAX_REPS, &v) < 0) {
				fprintf(stderr, "bench-store: --reps wants 1..%d\n", MAX_REPS);
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

	if (only_codec) {
		size_t c;

		for (c = 0; c < ARRAY_SIZE(codecs) && strcmp(only_codec, codecs[c].name) != 0; c++)
			;
		if (c == ARRAY_SIZE(codecs)) {
			fprintf(stderr, "bench-store: --codec wants lz4, zstd:1 or zstd:3\n");
			return 2;
		}
	}

	raw.cctx = ZSTD_createCCtx();
	raw.dctx = ZSTD_createDCtx();
	raw.scratch = malloc(BOUND);
	raw.comp = malloc(nr_pages * BOUND);
	raw.comp_len = calloc(nr_pages, sizeof(raw.comp_len[0]));
	raw.page = aligned_alloc(PAGE, PAGE);
	if (!raw.cctx || !raw.dctx || !raw.scratch || !raw.comp || !raw.comp_len || !raw.page) {
		fprintf(stderr, "bench-store: out of memory\n");
		goto out;
	}
	for (size_t m = 0; m < ARRAY_SIZE(mixes); m++)
		if (mix_build(&mixes[m]) < 0) {
			fprintf(stderr, "bench-store: out of memory\n");
			goto out;
		}

	printf("bench-store: %zu pages (%zu MiB) per mix, one thread, median of %u runs after a "
	       "warm-up\n", nr_pages, nr_pages * PAGE / MiB, reps);
	printf("store: no disk tier, same_filled on, reject_threshold %d, a new store per run\n",
	       REJECT_THRESHOLD);
	for (size_t m = 0; m < ARRAY_SIZE(mixes); m++)
		mix_print(&mixes[m]);
	printf("\n%-6s %-6s %8s %8s %5s %5s  %8s %8s %5s %5s  %5s %5s  %5s\n", "codec", "mix",
	       "raw-c/s", "write/s", "w/raw", "(cpu)", "raw-d/s", "read/s", "r/raw", "(cpu)", "rawCR",
	       "CR", "fp/c");
	for (size_t c = 0; c < ARRAY_SIZE(codecs); c++)
		for (size_t m = 0; m < ARRAY_SIZE(mixes); m++) {
			if (only_codec && strcmp(only_codec, codecs[c].name) != 0)
				continue;
			r = bench_one(&raw, &codecs[c], &mixes[m], raw.page, &results[c][m]);
			if (r < 0) {
				fprintf(stderr, "bench-store: %s on %s: %s\n", codecs[c].name,
					mixes[m].name, strerror(-r));
				goto out;
			}
			print_result(&codecs[c], &mixes[m], &results[c][m]);
			fflush(stdout);
		}
	printf("\ncolumns: pages/s of raw compress and store_write, store/raw by wall clock and by "
	       "thread CPU time;\n"
	       "         the same for raw decompress and store_read; rawCR = orig/compressed of "
	       "the raw codec\n"
	       "         (every page), CR = store orig_bytes/compr_bytes (same-filled pages cost "
	       "nothing),\n"
	       "         fp/c = pool_footprint_bytes/compr_bytes\n\n");
	if (only_codec) {
		printf("one codec only: targets not judged\n");
		ret = 0;
		goto out;
	}

	printf("slot word: %zu bytes\n", sizeof(*slot_table_words((struct slot_table *)NULL)));
	for (size_t c = 0; c < ARRAY_SIZE(codecs); c++) {
		const struct store_stats *st = &results[c][0].stats;
		double per_slot = (double)st->metadata_bytes / (double)st->slots_used;

		if (c == 0)
			printf("slot table: %" PRIu64 " bytes resident for %" PRIu64
			       " used slots of %" PRIu64 ": %.2f bytes per used slot\n",
			       st->metadata_bytes, st->slots_used, st->slots_total, per_slot);
		metadata_met = metadata_met && per_slot <= TARGET_METADATA;
	}

	printf("\ntargets (one thread, judged on mix nosame; anon in parentheses):\n");
	for (size_t c = 0; c < ARRAY_SIZE(codecs); c++) {
		const struct result *h = &results[c][1], *a = &results[c][0];
		bool met = h->write_ratio >= TARGET_SPEED && h->read_ratio >= TARGET_SPEED;

		printf("  %-6s write %.2f x raw compress (anon %.2f), read %.2f x raw decompress "
		       "(anon %.2f), >= %.2f: %s\n",
		       codecs[c].name, h->write_ratio, a->write_ratio, h->read_ratio, a->read_ratio,
		       TARGET_SPEED, verdict(met));
		speed_met = speed_met && met;
	}
	for (size_t c = 0; c < ARRAY_SIZE(codecs); c++)
		for (size_t m = 0; m < ARRAY_SIZE(mixes); m++) {
			const struct store_stats *st = &results[c][m].stats;

			footprint_met = footprint_met &&
					st->pool_footprint_bytes <= TARGET_FOOTPRINT * st->compr_bytes;
		}
	printf("  pool footprint <= %.2f x compressed bytes (every codec and mix): %s\n",
	       TARGET_FOOTPRINT, verdict(footprint_met));
	printf("  metadata <= %.0f bytes per used slot: %s\n", TARGET_METADATA,
	       verdict(metadata_met));
	printf("  all targets: %s\n", verdict(speed_met && footprint_met && metadata_met));
	ret = 0;
out:
	for (size_t m = 0; m < ARRAY_SIZE(mixes); m++)
		free(mixes[m].pages);
	ZSTD_freeCCtx(raw.cctx);
	ZSTD_freeDCtx(raw.dctx);
	free(raw.scratch);
	free(raw.comp);
	free(raw.comp_len);
	free(raw.page);
	return ret;
}
