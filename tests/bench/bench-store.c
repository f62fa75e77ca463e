/* SPDX-License-Identifier: MIT */
/*
 * bench-store.c - the in-memory store against the raw codecs, one thread.
 *
 * What it measures: on one fixed set of pages (pagegen, 64 MiB by
 * default) and for lz4, zstd:1 and zstd:3, the raw codec alone
 * (LZ4_compress_default / LZ4_decompress_safe, ZSTD_compressCCtx /
 * ZSTD_decompressDCtx) and the store without a disk tier, in pages per
 * second, with the ratios store / raw. Then what the pool costs beyond the
 * compressed bytes it holds, the slot table bytes per used slot and the
 * compression ratios.
 *
 * Store passes, on a new store each repetition:
 *   write      store_write of every page at its own (empty) slot: the
 *              pool grows, so this includes the kernel handing it fresh
 *              memory (chunk mmap, page population), as a filling swap
 *              device pays;
 *   read       store_read of every slot;
 *   overwrite  store_write of every page again: each write releases the
 *              slot's old object, so the pool mostly reuses its own memory
 *              (the steady state of a full device).
 *
 * Two mixes of the same generator: "anon" is pagegen_pick()'s mix of
 * anonymous memory, "nosame" drops its same-filled and zero pages. The
 * store never compresses a same-filled page, so on "anon" it beats the raw
 * codec for free; "nosame" is the honest comparison and the one the
 * targets are judged on.
 *
 * Method: one warm-up repetition (which also verifies every page read
 * back, raw and store), then --reps repetitions. Within a repetition each
 * raw pass and its store pass go over the pages together, 128 KiB at a
 * time, alternating which side goes first, with CLOCK_MONOTONIC around
 * every chunk: on a shared machine a neighbour's load then falls on both
 * sides alike. Each ratio is the median of the per-repetition ratios; the
 * same ratios by thread CPU time are printed as a cross-check. Raw
 * compression writes into one hot scratch buffer (the codec and nothing
 * else: the strictest baseline); raw decompression reads compressed copies
 * packed back to back (denser than any pool) into one hot page, as the
 * store reads here.
 *
 * Fresh memory: at the end of each repetition, as many bytes as the
 * pool's footprint after the write pass are mapped in 128 KiB pieces,
 * populated with populate_write() and touched once per page, alone and
 * timed, then unmapped. That is what the write pass paid the kernel (and, on a
 * virtual machine, the hypervisor) for memory, measured at a conservative
 * size: the pool's smaller chunks cost more mappings. Subtracting it
 * from the write pass tells the store's own cost from the machine's
 * (inline growth only: with --grower another thread pays it).
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
#include <sys/mman.h>
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
#define CHUNK 32 /* pages: raw and store sides alternate every 128 KiB */
#define FRESH_MAP (128 * 1024) /* bytes per mapping when timing fresh memory */
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
	unsigned char *comp;	/* compressed copies back to back, as a pool packs them */
	size_t *comp_off, *comp_len;
	unsigned char *page;	/* decompression and store_read output */
};

/* Wall-clock time, and this thread's CPU time as a cross-check on a busy machine. */
struct span {
	double wall, cpu;
};

/* The timed passes, in pairs: raw side, store side. */
enum pass {
	RAW_COMPRESS,
	STORE_WRITE,
	RAW_DECOMPRESS,
	STORE_READ,
	RAW_RECOMPRESS,
	STORE_OVERWRITE,
	PASSES,
};

/* One codec on one mix. */
struct result {
	double rate[PASSES];	       /* pages/s, median */
	double write, read, overwrite; /* store / raw, median of per-repetition ratios */
	double write_cpu, read_cpu, overwrite_cpu; /* the same by thread CPU time */
	double fresh_share;	       /* fresh memory / store write time, median */
	double fresh_usec;	       /* fresh memory per 4 KiB page, median */
	double write_net;	       /* raw / (store write - fresh memory), median */
	uint64_t raw_compr_bytes;      /* sum of raw compressed sizes */
	struct store_stats stats;      /* after the write pass of the last store */
};

/* What a repetition works on. */
struct run {
	struct raw *raw;
	const struct codec_spec *spec;
	const struct mix *mix;
	struct store_worker *worker;
	bool warmup;	/* keep compressed copies, verify everything read */
	struct span fresh; /* fresh memory as large as the pool after the write pass */
	uint64_t fresh_bytes;
	uint64_t bytes; /* compressed bytes of the kept copies */
};

static size_t nr_pages = 64 * MiB / PAGE;
static unsigned reps = 5;
static const char *only_codec; /* --codec: just this one, for profiling */
/* --grower DIR: the pool grows in its own thread, as in the daemon; pages
 * written while no chunk is ready go to a backing file in DIR. */
static char backing_path[4096];

static const char *const kind_names[PAGE_KINDS] = {
	[PAGE_TEXT] = "text", [PAGE_RECORDS] = "records", [PAGE_RANDOM] = "random",
	[PAGE_SAME] = "same", [PAGE_ZERO] = "zero",
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

/* Seeds 0, 1, 2, ... in order; "nosame" skips the same-filled and zero ones. */
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
		printf(" %s %.1f%%", kind_names[k],
		       100.0 * (double)mix->kinds[k] / (double)nr_pages);
	printf("\n");
}

static void span_add(struct span *acc, struct span start)
{
	struct span d = span_end(start);

	acc->wall += d.wall;
	acc->cpu += d.cpu;
}

/* Compress pages [from, to); with keep (the warm-up, in page order) append them to raw->comp. */
static int raw_compress(struct run *x, bool keep, size_t from, size_t to, struct span *acc)
{
	struct span start = span_start();
	struct raw *raw = x->raw;

	for (size_t i = from; i < to; i++) {
		const unsigned char *src = x->mix->pages + i * PAGE;
		unsigned char *dst = keep ? raw->comp + x->bytes : raw->scratch;
		size_t n;

		if (x->spec->kind == CODEC_LZ4) {
			int r = LZ4_compress_default((const char *)src, (char *)dst, PAGE,
						     (int)BOUND);

			if (r <= 0)
				return -EIO;
			n = (size_t)r;
		} else {
			n = ZSTD_compressCCtx(raw->cctx, dst, BOUND, src, PAGE, x->spec->level);
			if (ZSTD_isError(n))
				return -EIO;
		}
		if (keep) {
			raw->comp_off[i] = x->bytes;
			raw->comp_len[i] = n;
			x->bytes += n;
		}
	}
	span_add(acc, start);
	return 0;
}

static int raw_decompress(struct run *x, size_t from, size_t to, struct span *acc)
{
	struct span start = span_start();
	struct raw *raw = x->raw;

	for (size_t i = from; i < to; i++) {
		const unsigned char *src = raw->comp + raw->comp_off[i];
		size_t n;

		if (x->spec->kind == CODEC_LZ4) {
			int r = LZ4_decompress_safe((const char *)src, (char *)raw->page,
						    (int)raw->comp_len[i], PAGE);

			n = r < 0 ? 0 : (size_t)r;
		} else {
			n = ZSTD_decompressDCtx(raw->dctx, raw->page, PAGE, src, raw->comp_len[i]);
		}
		if (n != PAGE)
			return -EIO;
		if (x->warmup && memcmp(raw->page, x->mix->pages + i * PAGE, PAGE) != 0)
			return -EIO;
	}
	span_add(acc, start);
	return 0;
}

/* Page i goes to slot i. */
static int store_write_range(struct run *x, size_t from, size_t to, struct span *acc)
{
	struct span start = span_start();
	ssize_t n;

	for (size_t i = from; i < to; i++) {
		n = store_write(x->worker, x->mix->pages + i * PAGE, PAGE, i * PAGE);
		if (n != PAGE)
			return n < 0 ? (int)n : -EIO;
	}
	span_add(acc, start);
	return 0;
}

static int store_read_range(struct run *x, size_t from, size_t to, struct span *acc)
{
	struct span start = span_start();
	ssize_t n;

	for (size_t i = from; i < to; i++) {
		n = store_read(x->worker, x->raw->page, PAGE, i * PAGE);
		if (n != PAGE)
			return n < 0 ? (int)n : -EIO;
		if (x->warmup && memcmp(x->raw->page, x->mix->pages + i * PAGE, PAGE) != 0)
			return -EBADMSG;
	}
	span_add(acc, start);
	return 0;
}

static int run_pass(struct run *x, enum pass p, size_t from, size_t to, struct span *acc)
{
	switch (p) {
	case RAW_COMPRESS:
		return raw_compress(x, x->warmup, from, to, acc);
	case RAW_RECOMPRESS:
		return raw_compress(x, false, from, to, acc);
	case RAW_DECOMPRESS:
		return raw_decompress(x, from, to, acc);
	case STORE_WRITE:
	case STORE_OVERWRITE:
		return store_write_range(x, from, to, acc);
	case STORE_READ:
		return store_read_range(x, from, to, acc);
	default:
		return -EINVAL;
	}
}

/*
 * A raw pass and its store pass over the same pages, interleaved chunk by
 * chunk (which side goes first alternates), so that a neighbour's load
 * and the cache state fall on both sides alike.
 */
static int run_pair(struct run *x, enum pass raw_pass, struct span t[PASSES])
{
	int r = 0;

	for (size_t from = 0, k = 0; r == 0 && from < nr_pages; from += CHUNK, k++) {
		size_t to = MIN(from + CHUNK, nr_pages);
		enum pass first = raw_pass + k % 2, second = raw_pass + (k + 1) % 2;

		r = run_pass(x, first, from, to, &t[first]);
		if (r == 0)
			r = run_pass(x, second, from, to, &t[second]);
	}
	return r;
}

/*
 * Read a byte of every page, untimed: the raw side's compressed copies were
 * last used a pass ago, while the store's pool was just written. Under a
 * hypervisor with shadow page tables a page left alone while others were
 * mapped can fault again on its next use, which would bill the raw side.
 */
static void touch_pages(const unsigned char *p, size_t len)
{
	for (size_t off = 0; off < len; off += PAGE)
		(void)*(volatile const unsigned char *)(p + off);
}

/* Map, populate and touch bytes of fresh memory, timed; then give it back. */
static int fresh_memory(uint64_t bytes, struct span *ret)
{
	size_t n = (size_t)DIV_ROUND_UP(bytes, FRESH_MAP);
	struct span start;
	void **maps;
	int r = 0;

	*ret = (struct span){ 0 };
	maps = calloc(n ? n : 1, sizeof(*maps));
	if (!maps)
		return -ENOMEM;
	start = span_start();
	for (size_t i = 0; i < n; i++) {
		maps[i] = mmap(NULL, FRESH_MAP, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (maps[i] == MAP_FAILED) {
			maps[i] = NULL;
			r = -ENOMEM;
			break;
		}
		populate_write(maps[i], FRESH_MAP); /* touches every page, too */
	}
	*ret = span_end(start);
	for (size_t i = 0; i < n && maps[i]; i++)
		munmap(maps[i], FRESH_MAP);
	free(maps);
	return r;
}

/* One repetition on a new store without a disk tier. */
static int run_once(struct run *x, struct span t[PASSES], struct store_stats *ret_stats)
{
	/* The device is 4x the data set: the table's untouched part must not count. */
	struct store_config c = {
		.size = 4 * nr_pages * PAGE,
		.pool_limit = 2 * nr_pages * PAGE + 16 * MiB,
		.codec = *x->spec,
		.same_filled = true,
		.reject_threshold = REJECT_THRESHOLD,
		.high_watermark = 90,
		.low_watermark = 80,
	};
	struct store *store = NULL;
	int r;

	if (backing_path[0]) {
		c.backing_path = backing_path;
		c.background_growth = true;
		/* As without a disk tier: only the grower's lag may send pages there. */
		c.incompressible_to_pool = true;
	}
	memset(t, 0, PASSES * sizeof(t[0]));
	r = store_new(&c, &store);
	if (r < 0)
		return r;
	r = store_worker_new(store, &x->worker);
	if (r == 0)
		r = run_pair(x, RAW_COMPRESS, t);
	if (r == 0) {
		store_get_stats(store, ret_stats);
		touch_pages(x->raw->comp, x->bytes);
		r = run_pair(x, RAW_DECOMPRESS, t);
	}
	if (r == 0)
		r = run_pair(x, RAW_RECOMPRESS, t);
	if (r == 0 && x->warmup)
		r = run_pair(x, RAW_DECOMPRESS, t);
	/* Last: mapping more memory can make what the passes use cold again. */
	x->fresh_bytes = ret_stats->pool_footprint_bytes;
	if (r == 0 && !backing_path[0])
		r = fresh_memory(x->fresh_bytes, &x->fresh);
	store_free(store);
	if (backing_path[0])
		unlink(backing_path);
	return r;
}

static int bench_one(struct raw *raw, const struct codec_case *cc, const struct mix *mix,
		     struct result *res)
{
	struct run x = { .raw = raw, .spec = &cc->spec, .mix = mix, .warmup = true };
	double rate[PASSES][MAX_REPS], ratio[9][MAX_REPS];
	struct span t[PASSES];
	int r;

	/* The warm-up keeps the compressed copies and verifies every round trip. */
	r = run_once(&x, t, &res->stats);
	res->raw_compr_bytes = x.bytes;
	x.warmup = false;
	for (unsigned i = 0; r == 0 && i < reps; i++) {
		r = run_once(&x, t, &res->stats);
		for (unsigned p = 0; p < PASSES; p++)
			rate[p][i] = (double)nr_pages / t[p].wall;
		ratio[0][i] = t[RAW_COMPRESS].wall / t[STORE_WRITE].wall;
		ratio[1][i] = t[RAW_DECOMPRESS].wall / t[STORE_READ].wall;
		ratio[2][i] = t[RAW_RECOMPRESS].wall / t[STORE_OVERWRITE].wall;
		ratio[3][i] = t[RAW_COMPRESS].cpu / t[STORE_WRITE].cpu;
		ratio[4][i] = t[RAW_DECOMPRESS].cpu / t[STORE_READ].cpu;
		ratio[5][i] = t[RAW_RECOMPRESS].cpu / t[STORE_OVERWRITE].cpu;
		ratio[6][i] = x.fresh.wall / t[STORE_WRITE].wall;
		ratio[7][i] = x.fresh.wall * 1e6 / ((double)x.fresh_bytes / PAGE);
		ratio[8][i] = t[RAW_COMPRESS].wall / (t[STORE_WRITE].wall - x.fresh.wall);
	}
	if (r < 0)
		return r;
	for (unsigned p = 0; p < PASSES; p++)
		res->rate[p] = median(rate[p], reps);
	res->write = median(ratio[0], reps);
	res->read = median(ratio[1], reps);
	res->overwrite = median(ratio[2], reps);
	res->write_cpu = median(ratio[3], reps);
	res->read_cpu = median(ratio[4], reps);
	res->overwrite_cpu = median(ratio[5], reps);
	res->fresh_share = median(ratio[6], reps);
	res->fresh_usec = median(ratio[7], reps);
	res->write_net = median(ratio[8], reps);
	return 0;
}

static double div0(double a, double b)
{
	return b != 0 ? a / b : 0;
}

static void print_speed(const char *codec, const struct mix *mix, const struct result *res)
{
	printf("%-6s %-6s %8.0f %8.0f %5.2f %8.0f %5.2f   %8.0f %8.0f %5.2f\n", codec, mix->name,
	       res->rate[RAW_COMPRESS], res->rate[STORE_WRITE], res->write,
	       res->rate[STORE_OVERWRITE], res->overwrite, res->rate[RAW_DECOMPRESS],
	       res->rate[STORE_READ], res->read);
	/* Pages that found no chunk ready and went to disk: the grower's lag. */
	if (backing_path[0])
		printf("%-6s %-6s written to disk while the grower caught up: %" PRIu64
		       " of %zu pages\n",
		       codec, mix->name, res->stats.ops.writes_disk, nr_pages);
}

static void print_space(const char *codec, const struct mix *mix, const struct result *res)
{
	const struct store_stats *st = &res->stats;

	printf("%-6s %-6s %5.2f %5.2f %5.2f   %6.2f %6.2f %6.1f%%   %5.3f\n", codec, mix->name,
	       res->write_cpu, res->overwrite_cpu, res->read_cpu,
	       div0((double)nr_pages * PAGE, (double)res->raw_compr_bytes),
	       div0((double)st->orig_bytes, (double)st->compr_bytes),
	       100.0 * (double)st->ops.incompressible / (double)nr_pages,
	       div0((double)st->pool_footprint_bytes, (double)st->compr_bytes));
}

static void print_fresh(const char *codec, const struct mix *mix, const struct result *res)
{
	printf("%-6s %-6s %8.1f %8.2f %7.0f%%   %5.2f\n", codec, mix->name,
	       (double)res->stats.pool_footprint_bytes / MiB, res->fresh_usec,
	       100.0 * res->fresh_share, res->write_net);
}

static const char *verdict(bool met)
{
	return met ? "MET" : "MISSED";
}

/* Judged by wall clock; a busy machine can make the CPU time disagree. */
static const char *speed_verdict(double wall, double cpu)
{
	if ((wall >= TARGET_SPEED) == (cpu >= TARGET_SPEED))
		return verdict(wall >= TARGET_SPEED);
	return wall >= TARGET_SPEED ? "MET by wall clock, MISSED by CPU time (busy machine?)"
				    : "MISSED by wall clock, MET by CPU time (busy machine?)";
}

static void print_targets(struct result results[][2])
{
	bool speed = true, footprint = true, metadata = true;
	const struct store_stats *st = &results[0][0].stats;
	double per_slot = div0((double)st->metadata_bytes, (double)st->slots_used);

	printf("\nslot word: %zu bytes; slot table: %" PRIu64 " bytes resident for %" PRIu64
	       " used slots of %" PRIu64 " = %.2f bytes per used slot\n",
	       sizeof(*slot_table_words((struct slot_table *)NULL)), st->metadata_bytes,
	       st->slots_used, st->slots_total, per_slot);

	printf("\ntargets, one thread, mix nosame, wall clock (thread CPU time in parentheses):\n");
	for (size_t c = 0; c < ARRAY_SIZE(codecs); c++) {
		const struct result *h = &results[c][1];
		bool met = h->write >= TARGET_SPEED && h->read >= TARGET_SPEED;

		printf("  %-6s write %.2f (%.2f) x raw compress, >= %.2f: %s\n", codecs[c].name,
		       h->write, h->write_cpu, TARGET_SPEED, speed_verdict(h->write, h->write_cpu));
		if (!backing_path[0])
			printf("  %-6s        %.0f%% of the write pass was fresh memory, %.2f us per "
			       "4 KiB; without it: %.2f\n",
			       "", 100.0 * h->fresh_share, h->fresh_usec, h->write_net);
		printf("  %-6s read %.2f (%.2f) x raw decompress, >= %.2f: %s\n", "", h->read,
		       h->read_cpu, TARGET_SPEED, speed_verdict(h->read, h->read_cpu));
		printf("  %-6s steady state: overwrite %.2f (%.2f) x raw compress, >= %.2f: %s\n",
		       "", h->overwrite, h->overwrite_cpu, TARGET_SPEED,
		       speed_verdict(h->overwrite, h->overwrite_cpu));
		speed = speed && met;
		for (size_t m = 0; m < 2; m++) {
			st = &results[c][m].stats;
			footprint = footprint &&
				    st->pool_footprint_bytes <= TARGET_FOOTPRINT * st->compr_bytes;
			per_slot = div0((double)st->metadata_bytes, (double)st->slots_used);
			metadata = metadata && per_slot <= TARGET_METADATA;
		}
	}
	printf("  pool footprint <= %.2f x compressed bytes, every codec and mix: %s\n",
	       TARGET_FOOTPRINT, verdict(footprint));
	printf("  metadata <= %.0f bytes per used slot: %s\n", TARGET_METADATA, verdict(metadata));
	printf("  all targets (write, read, footprint, metadata): %s\n",
	       verdict(speed && footprint && metadata));
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
	fprintf(f, "Usage: bench-store [--mib N] [--reps N] [--codec lz4|zstd:1|zstd:3] [--grower DIR]\n"
		   "  --mib N       pages per mix, in MiB (default 64)\n"
		   "  --reps N      timed repetitions after the warm-up (default 5)\n"
		   "  --codec C     only codec C, for profiling; no targets judged\n"
		   "  --grower DIR  the pool grows in its own thread, as in swapdevd; pages\n"
		   "                written while no chunk is ready go to a backing file in DIR\n");
}

static bool codec_selected(const char *name)
{
	return !only_codec || strcmp(only_codec, name) == 0;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "mib", required_argument, NULL, 'm' },
		{ "reps", required_argument, NULL, 'r' },
		{ "codec", required_argument, NULL, 'c' },
		{ "grower", required_argument, NULL, 'g' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	struct mix mixes[2] = { { .name = "anon", .with_same = true }, { .name = "nosame" } };
	struct result results[ARRAY_SIZE(codecs)][2];
	struct raw raw = { 0 };
	bool known = false;
	unsigned long v;
	int opt, r, ret = 1;

	while ((opt = getopt_long(argc, argv, "m:r:c:g:h", options, NULL)) != -1) {
		switch (opt) {
		case 'g':
			if (snprintf(backing_path, sizeof(backing_path), "%s/bench-store-backing.%d",
				     optarg, (int)getpid()) >= (int)sizeof(backing_path)) {
				fprintf(stderr, "bench-store: --grower: path too long\n");
				return 2;
			}
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
		case 'c':
			only_codec = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	for (size_t c = 0; c < ARRAY_SIZE(codecs); c++)
		known = known || (only_codec && strcmp(only_codec, codecs[c].name) == 0);
	if (only_codec && !known) {
		fprintf(stderr, "bench-store: --codec wants lz4, zstd:1 or zstd:3\n");
		return 2;
	}

	raw.cctx = ZSTD_createCCtx();
	raw.dctx = ZSTD_createDCtx();
	raw.scratch = malloc(BOUND);
	raw.comp = malloc(nr_pages * BOUND);
	raw.comp_off = calloc(nr_pages, sizeof(raw.comp_off[0]));
	raw.comp_len = calloc(nr_pages, sizeof(raw.comp_len[0]));
	raw.page = aligned_alloc(PAGE, PAGE);
	if (!raw.cctx || !raw.dctx || !raw.scratch || !raw.comp || !raw.comp_off || !raw.comp_len ||
	    !raw.page ||
	    mix_build(&mixes[0]) < 0 || mix_build(&mixes[1]) < 0) {
		fprintf(stderr, "bench-store: out of memory\n");
		goto out;
	}

	printf("bench-store: %zu pages (%zu MiB) per mix, one thread, median of %u repetitions "
	       "after a warm-up\n",
	       nr_pages, nr_pages * PAGE / MiB, reps);
	if (backing_path[0])
		printf("store: pool grows in its own thread (as in swapdevd), backing file %s, "
		       "same_filled on, reject_threshold %d, a new store each repetition\n",
		       backing_path, REJECT_THRESHOLD);
	else
		printf("store: no disk tier, pool grows inline, same_filled on, reject_threshold "
		       "%d, a new store each repetition\n",
		       REJECT_THRESHOLD);
	mix_print(&mixes[0]);
	mix_print(&mixes[1]);
	printf("\npages/s; w, o, r = store/raw for write, overwrite, read (medians of "
	       "per-repetition ratios)\n");
	printf("%-6s %-6s %8s %8s %5s %8s %5s   %8s %8s %5s\n", "codec", "mix", "raw-comp", "write",
	       "w", "overwr", "o", "raw-dec", "read", "r");
	for (size_t c = 0; c < ARRAY_SIZE(codecs); c++)
		for (size_t m = 0; m < 2; m++) {
			if (!codec_selected(codecs[c].name))
				continue;
			r = bench_one(&raw, &codecs[c], &mixes[m], &results[c][m]);
			if (r < 0) {
				fprintf(stderr, "bench-store: %s on mix %s: %s\n", codecs[c].name,
					mixes[m].name, strerror(-r));
				goto out;
			}
			print_speed(codecs[c].name, &mixes[m], &results[c][m]);
			fflush(stdout);
		}

	printf("\nw, o, r by thread CPU time; rawCR = orig/compressed by the raw codec (every "
	       "page);\nCR = store orig_bytes/compr_bytes (same-filled pages cost no bytes); "
	       "incomp = pages over\nthe reject threshold, stored uncompressed; "
	       "fp/c = pool_footprint_bytes/compr_bytes\n");
	printf("%-6s %-6s %5s %5s %5s   %6s %6s %7s   %5s\n", "codec", "mix", "w", "o", "r",
	       "rawCR", "CR", "incomp", "fp/c");
	for (size_t c = 0; c < ARRAY_SIZE(codecs); c++)
		for (size_t m = 0; m < 2; m++)
			if (codec_selected(codecs[c].name))
				print_space(codecs[c].name, &mixes[m], &results[c][m]);
	if (!backing_path[0]) {
		printf("\nfresh memory: as many bytes as the pool held after the write pass, mapped "
		       "in\n128 KiB pieces, populated and touched, timed alone; share = of the store's "
		       "write\ntime; w-net = raw compress / (store write - fresh memory)\n");
		printf("%-6s %-6s %8s %8s %8s   %5s\n", "codec", "mix", "MiB", "us/4K", "share",
		       "w-net");
		for (size_t c = 0; c < ARRAY_SIZE(codecs); c++)
			for (size_t m = 0; m < 2; m++)
				if (codec_selected(codecs[c].name))
					print_fresh(codecs[c].name, &mixes[m], &results[c][m]);
	}
	if (only_codec)
		printf("\none codec only: targets not judged\n");
	else
		print_targets(results);
	ret = 0;
out:
	free(mixes[0].pages);
	free(mixes[1].pages);
	ZSTD_freeCCtx(raw.cctx);
	ZSTD_freeDCtx(raw.dctx);
	free(raw.scratch);
	free(raw.comp);
	free(raw.comp_off);
	free(raw.comp_len);
	free(raw.page);
	return ret;
}
