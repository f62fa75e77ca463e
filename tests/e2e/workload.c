/* SPDX-License-Identifier: MIT */
/*
 * workload.c - a memory integrity workload that makes a memory cgroup swap.
 *
 * It maps a working set of anonymous memory, writes every 4 KiB page,
 * reads every page back many times and checks each byte. Run inside a memory
 * cgroup smaller than the working set, every check is a page that went out to
 * swap and came back.
 *
 * Content. Real anonymous memory is a mix, and each kind takes a different
 * path through a compressed swap tier, so each page gets one kind, chosen
 * from (seed, page index, version):
 *
 *	 5%  zero        all zero (the kernel keeps these off the device)
 *	15%  same        one non-zero 8-byte word repeated (same-filled slot)
 *	30%  text        skewed words, repeated stretches (lz4 about 2.1:1)
 *	30%  records     32-byte structs: small ints, pointers (lz4 about 2.5:1)
 *	20%  random      incompressible (goes to disk in the default config)
 *
 * Identity. Every text, records and random page starts with a 16-byte tag
 * {magic, version, kind, page index}; a same page encodes index and version
 * in its word (XORed with a seed-derived mask). So a page that comes back
 * with another page's data, or an old version of its own, is named in the
 * error. Zero pages carry nothing: all of them are alike.
 *
 * Checking costs little memory: the only state is a 16-bit version per page
 * (a rewrite bumps it); the expected content is regenerated from (seed,
 * index, version) with xorshift64* in under a microsecond, so the workload
 * is bound by swap, not by itself. The same seed gives the same run.
 *
 * Phases: fill; --passes sequential passes that verify every page and
 * rewrite --rewrite-percent of them; --random-ops random reads, of which the
 * same percentage are rewritten; with --skew, a skewed random phase of
 * --skew-ops reads (same rewrite percentage); a final verify of every page.
 * The first mismatch is reported (page, versions, first differing byte) and
 * the workload exits 1. Exit 0 when every page checked out, 2 on usage
 * errors.
 *
 * Skewed phase (--skew A:H, e.g. 80:40): A% of its accesses go to a hot set
 * of H% of the pages, the rest to the other pages, uniformly within each.
 * Which pages are hot is a hash of (seed, index), so the hot set is spread
 * through the address space rather than one range (the swap device's
 * readahead of neighbours does not bring it in for free) and is the same
 * for the same seed. It runs after the uniform phase, on what that phase
 * left in RAM and swap: a RAM tier in front of a disk shows here whether it
 * keeps the hot set. Without --skew the workload runs as it always did.
 *
 * --no-verify reads and compares every page as usual but counts mismatches
 * instead of stopping (mismatches=N in the report; exit 0). It is for a
 * swap device that stores nothing, such as the benchmark's null FUSE
 * server, where only the time means something. Such a device would also
 * hand back the workload's own state (versions, stack, heap) as zeros, so
 * with --no-verify everything but the working set is locked in RAM as it
 * is faulted in (mlockall with MCL_ONFAULT; the working set is unlocked
 * right after it is mapped): a few MiB more resident than otherwise.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define PAGE_SIZE	4096u
#define MIN(a, b)	((a) < (b) ? (a) : (b))
#define PAGE_WORDS	(PAGE_SIZE / sizeof(uint64_t))
#define TAG_MAGIC	0x57445053u /* "SPDW" */
#define SAME_INDEX_BITS 48
#define SAME_INDEX_MASK ((UINT64_C(1) << SAME_INDEX_BITS) - 1)

enum page_kind { KIND_ZERO, KIND_SAME, KIND_TEXT, KIND_RECORDS, KIND_RANDOM };

static const char *const kind_names[] = {
    [KIND_ZERO] = "zero",	[KIND_SAME] = "same",	  [KIND_TEXT] = "text",
    [KIND_RECORDS] = "records", [KIND_RANDOM] = "random",
};

struct page_tag {
	uint32_t magic;
	uint16_t version;
	uint8_t kind;
	uint8_t reserved;
	uint64_t index;
};

struct options {
	uint64_t size;
	uint64_t passes;
	uint64_t seed;
	uint64_t random_ops;
	bool random_ops_set;
	unsigned int rewrite_percent;
	bool report;
	/* Skewed phase: skew_access percent of its reads go to skew_hot percent of
	 * the pages; skew_hot == 0: no skewed phase. */
	unsigned int skew_access;
	unsigned int skew_hot;
	uint64_t skew_ops;
	bool skew_ops_set;
	bool no_verify;
};

struct workload {
	uint8_t *mem;
	uint16_t *versions;
	size_t pages;
	uint64_t seed;
	uint64_t same_mask;
	uint64_t touched;
	bool no_verify;
	uint64_t mismatches;
	/* Scratch for the expected page; slack so text words may overrun. */
	uint8_t expected[PAGE_SIZE + 64] __attribute__((aligned(64)));
};

static uint64_t splitmix64(uint64_t x)
{
	x += UINT64_C(0x9e3779b97f4a7c15);
	x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
	return x ^ (x >> 31);
}

static inline uint64_t xorshift64s(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * UINT64_C(0x2545f4914f6cdd1d);
}

static uint64_t stream_seed(uint64_t a, uint64_t b, uint64_t c)
{
	uint64_t s = splitmix64(a ^ splitmix64(b ^ splitmix64(c)));

	return s ? s : UINT64_C(0x853c49e6748fea9b);
}

static enum page_kind page_kind_of(uint64_t h)
{
	unsigned int p = (unsigned int)((h >> 32) % 100);

	if (p < 5)
		return KIND_ZERO;
	if (p < 20)
		return KIND_SAME;
	if (p < 50)
		return KIND_TEXT;
	if (p < 80)
		return KIND_RECORDS;
	return KIND_RANDOM;
}

/* Eight bytes each, so that gen_text() can copy a word with one fixed-size move. */
static const char words[64][8] = {
    "the",  "of",     "and",	"to",	  "in",	    "is",    "that",   "for",	 "it",	  "as",
    "with", "was",    "on",	"be",	  "by",	    "this",  "return", "struct", "int",	  "char",
    "void", "static", "const",	"if",	  "else",   "while", "NULL",   "size_t", "errno", "memory",
    "page", "swap",   "kernel", "device", "buffer", "error", "value",  "index",	 "count", "data",
    "file", "user",   "read",	"write",  "open",   "close", "lock",   "list",	 "0",	  "1",
    "42",   "{",      "}",	"(",	  ");",	    "=",     "->",     "&&",	 "||",	  "//",
    "#",    "http",   "config", "ok",
};
static uint8_t word_lengths[64];

/*
 * Words with a skew towards the first sixteen, as in real text, and now and
 * then a repeat of an earlier stretch of the page (log lines, code, strings
 * tables repeat), which is what LZ compressors feed on.
 */
static void gen_text(uint8_t *p, uint64_t *rng)
{
	uint8_t *start = p, *end = p + PAGE_SIZE;

	while (p < end) {
		uint64_t r = xorshift64s(rng);

		if ((r & 7) == 0 && p - start > 512) {
			size_t len = 48 + ((r >> 3) & 127);
			size_t from = (size_t)((r >> 16) % (size_t)(p - start - len));

			len = MIN(len, (size_t)(end - p));
			memcpy(p, start + from, len);
			p += len;
			continue;
		}
		/* Seven picks of 8 bits per random number. */
		for (int i = 0; i < 7 && p < end; i++) {
			unsigned int pick = (r >> (8 + 8 * i)) & 0xff;
			unsigned int w = (pick & 0xc0) ? pick & 15 : pick & 63;

			/* The scratch buffer has slack for the overrun past the page. */
			memcpy(p, words[w], sizeof(words[w]));
			p += word_lengths[w];
			*p++ = (pick % 23 == 0) ? '\n' : ' ';
		}
	}
}

/* 32-byte records: an id, a type, a pointer into one heap, small counters. */
static void gen_records(uint8_t *p, uint64_t *rng)
{
	uint64_t heap = UINT64_C(0x00007f0000000000) | ((xorshift64s(rng) & 0xffffff) << 12);
	uint32_t id = (uint32_t)(xorshift64s(rng) & 0xfffff);

	for (unsigned int off = 0; off + 32 <= PAGE_SIZE; off += 32) {
		uint64_t r = xorshift64s(rng);
		uint32_t rec_id = id++;
		uint16_t type = r & 3, flags = ((r >> 2) & 7) == 0;
		uint64_t ptr = heap + ((r >> 8) & 0xff) * 64;
		uint64_t counter = (r >> 20) & 15;
		uint64_t extra = ((r >> 24) & 7) == 0 ? (r >> 40) & 0xffff : 0;

		memcpy(p + off, &rec_id, 4);
		memcpy(p + off + 4, &type, 2);
		memcpy(p + off + 6, &flags, 2);
		memcpy(p + off + 8, &ptr, 8);
		memcpy(p + off + 16, &counter, 8);
		memcpy(p + off + 24, &extra, 8);
	}
}

static void gen_random(uint8_t *p, uint64_t *rng)
{
	for (unsigned int i = 0; i < PAGE_WORDS; i++) {
		uint64_t r = xorshift64s(rng);

		memcpy(p + i * 8, &r, 8);
	}
}

static uint64_t same_word(const struct workload *w, size_t index, uint16_t version)
{
	uint64_t word =
	    (((uint64_t)version << SAME_INDEX_BITS) | (index & SAME_INDEX_MASK)) ^ w->same_mask;

	/* Zero would be a zero page, which never reaches the swap device. */
	return word ? word : ~UINT64_C(0);
}

/* Fill w->expected with the content of page index at version. */
static enum page_kind gen_page(struct workload *w, size_t index, uint16_t version)
{
	uint64_t rng = stream_seed(w->seed, index, version);
	enum page_kind kind = page_kind_of(xorshift64s(&rng));
	uint8_t *p = w->expected;
	struct page_tag tag = {
	    .magic = TAG_MAGIC,
	    .version = version,
	    .kind = (uint8_t)kind,
	    .index = index,
	};

	switch (kind) {
	case KIND_ZERO:
		memset(p, 0, PAGE_SIZE);
		return kind;
	case KIND_SAME: {
		uint64_t word = same_word(w, index, version);

		for (unsigned int i = 0; i < PAGE_WORDS; i++)
			memcpy(p + i * 8, &word, 8);
		return kind;
	}
	case KIND_TEXT:
		gen_text(p, &rng);
		break;
	case KIND_RECORDS:
		gen_records(p, &rng);
		break;
	case KIND_RANDOM:
		gen_random(p, &rng);
		break;
	}
	memcpy(p, &tag, sizeof(tag));
	return kind;
}

static void write_page(struct workload *w, size_t index, uint16_t version)
{
	gen_page(w, index, version);
	memcpy(w->mem + index * PAGE_SIZE, w->expected, PAGE_SIZE);
	w->versions[index] = version;
	w->touched++;
}

/* Say what a wrong page looks like: whose data, which version. */
static void describe_actual(const struct workload *w, const uint8_t *page, char *buf, size_t size)
{
	uint64_t first, word;
	struct page_tag tag;
	bool same = true;

	memcpy(&first, page, 8);
	for (unsigned int i = 1; i < PAGE_WORDS && same; i++) {
		memcpy(&word, page + i * 8, 8);
		same = word == first;
	}
	if (same && first == 0) {
		snprintf(buf, size, "actual=zero-page");
		return;
	}
	if (same) {
		uint64_t v = first ^ w->same_mask;

		snprintf(buf, size, "actual=same actual_page=%" PRIu64 " actual_version=%u",
			 v & SAME_INDEX_MASK, (unsigned int)(v >> SAME_INDEX_BITS));
		return;
	}
	memcpy(&tag, page, sizeof(tag));
	if (tag.magic == TAG_MAGIC && tag.kind < sizeof(kind_names) / sizeof(kind_names[0])) {
		snprintf(buf, size, "actual=%s actual_page=%" PRIu64 " actual_version=%u",
			 kind_names[tag.kind], tag.index, tag.version);
		return;
	}
	snprintf(buf, size, "actual=unrecognized");
}

/* Returns true when page index holds its current version. */
static bool verify_page(struct workload *w, size_t index, const char *phase)
{
	const uint8_t *page = w->mem + index * PAGE_SIZE;
	uint16_t version = w->versions[index];
	enum page_kind kind = gen_page(w, index, version);
	char actual[128];
	size_t off = 0;

	w->touched++;
	if (memcmp(page, w->expected, PAGE_SIZE) == 0)
		return true;
	if (w->no_verify) {
		w->mismatches++;
		return true;
	}

	while (off < PAGE_SIZE && page[off] == w->expected[off])
		off++;
	describe_actual(w, page, actual, sizeof(actual));
	printf("workload: MISMATCH phase=%s page=%zu kind=%s expected_version=%u %s "
	       "offset=%zu expected_byte=0x%02x actual_byte=0x%02x\n",
	       phase, index, kind_names[kind], version, actual, off, w->expected[off], page[off]);
	fflush(stdout);
	return false;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fill(struct workload *w)
{
	for (size_t i = 0; i < w->pages; i++)
		write_page(w, i, 0);
}

static bool sequential_passes(struct workload *w, uint64_t passes, unsigned int percent)
{
	for (uint64_t pass = 0; pass < passes; pass++) {
		uint64_t rng = stream_seed(w->seed, UINT64_C(0x7061737300000000) | pass, 1);

		for (size_t i = 0; i < w->pages; i++) {
			if (!verify_page(w, i, "passes"))
				return false;
			if (xorshift64s(&rng) % 100 < percent)
				write_page(w, i, (uint16_t)(w->versions[i] + 1));
		}
	}
	return true;
}

static bool random_access(struct workload *w, uint64_t ops, unsigned int percent)
{
	uint64_t rng = stream_seed(w->seed, UINT64_C(0x72616e646f6d0000), 2);

	for (uint64_t op = 0; op < ops; op++) {
		uint64_t r = xorshift64s(&rng);
		size_t i = (size_t)((r >> 8) % w->pages);

		if (!verify_page(w, i, "random"))
			return false;
		if ((r & 0xff) % 100 < percent)
			write_page(w, i, (uint16_t)(w->versions[i] + 1));
	}
	return true;
}

/* Whether page index belongs to the skewed phase's hot set (hot percent of pages). */
static bool page_is_hot(const struct workload *w, size_t index, unsigned int hot)
{
	return splitmix64(w->seed ^ splitmix64(UINT64_C(0x686f740000000000) | index)) % 100 < hot;
}

/*
 * The skewed phase: access percent of the reads to the hot set. The hot and
 * the cold pages are listed once (4 bytes a page, ~1 MiB for 1 GiB), so each
 * read picks a page with one random number. Returns -ENOMEM, or 1 when
 * every page checked out, 0 on a mismatch.
 */
static int skewed_access(struct workload *w, uint64_t ops, unsigned int access, unsigned int hot,
			 unsigned int percent)
{
	uint64_t rng = stream_seed(w->seed, UINT64_C(0x736b657700000000), 3);
	uint32_t *hot_pages, *cold_pages;
	size_t n_hot = 0, n_cold = 0;
	int r = 1;

	hot_pages = malloc(w->pages * sizeof(*hot_pages));
	cold_pages = malloc(w->pages * sizeof(*cold_pages));
	if (!hot_pages || !cold_pages) {
		r = -ENOMEM;
		goto out_free;
	}
	for (size_t i = 0; i < w->pages; i++) {
		if (page_is_hot(w, i, hot))
			hot_pages[n_hot++] = (uint32_t)i;
		else
			cold_pages[n_cold++] = (uint32_t)i;
	}
	for (uint64_t op = 0; op < ops; op++) {
		uint64_t x = xorshift64s(&rng), y = xorshift64s(&rng);
		bool to_hot = (x & 0xffff) % 100 < access;
		size_t i;

		/* A tiny working set may leave one side empty. */
		if (n_cold == 0 || (to_hot && n_hot > 0))
			i = hot_pages[(y >> 8) % n_hot];
		else
			i = cold_pages[(y >> 8) % n_cold];
		if (!verify_page(w, i, "skewed")) {
			r = 0;
			break;
		}
		if ((x >> 16 & 0xffff) % 100 < percent)
			write_page(w, i, (uint16_t)(w->versions[i] + 1));
	}
out_free:
	free(hot_pages);
	free(cold_pages);
	return r;
}

static bool verify_all(struct workload *w)
{
	for (size_t i = 0; i < w->pages; i++)
		if (!verify_page(w, i, "verify"))
			return false;
	return true;
}

static int parse_u64(const char *s, bool suffixes, uint64_t *ret)
{
	unsigned int shift = 0;
	unsigned long long v;
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -errno;
	if (suffixes && *end) {
		switch (*end++) {
		case 'K':
		case 'k':
			shift = 10;
			break;
		case 'M':
		case 'm':
			shift = 20;
			break;
		case 'G':
		case 'g':
			shift = 30;
			break;
		case 'T':
		case 't':
			shift = 40;
			break;
		default:
			return -EINVAL;
		}
	}
	if (*end)
		return -EINVAL;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*ret = (uint64_t)v << shift;
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: workload [--size BYTES[K|M|G|T]] [--passes N] [--seed S]\n"
		   "                [--random-ops N] [--rewrite-percent P] [--report]\n"
		   "                [--skew ACCESS:HOT [--skew-ops N]] [--no-verify]\n"
		   "defaults: --size 64M --passes 2 --seed 1 --random-ops <pages>\n"
		   "          --rewrite-percent 10, no skewed phase, --skew-ops <pages>\n"
		   "--skew 80:40: a skewed random phase, 80%% of its reads to 40%% of the pages\n"
		   "--no-verify: count mismatches instead of failing (a device that stores nothing)\n");
}

/* "ACCESS:HOT": percent of the accesses, percent of the pages. */
static int parse_skew(const char *s, unsigned int *ret_access, unsigned int *ret_hot)
{
	uint64_t access, hot;
	const char *colon = strchr(s, ':');
	char buf[32];

	if (!colon || (size_t)(colon - s) >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, (size_t)(colon - s));
	buf[colon - s] = '\0';
	if (parse_u64(buf, false, &access) < 0 || parse_u64(colon + 1, false, &hot) < 0)
		return -EINVAL;
	if (access > 100 || hot < 1 || hot > 99)
		return -EINVAL;
	*ret_access = (unsigned int)access;
	*ret_hot = (unsigned int)hot;
	return 0;
}

/* Returns -1 to go on, or the exit code for main(). */
static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option long_options[] = {
	    {"size", required_argument, NULL, 's'},
	    {"passes", required_argument, NULL, 'p'},
	    {"seed", required_argument, NULL, 'S'},
	    {"random-ops", required_argument, NULL, 'r'},
	    {"rewrite-percent", required_argument, NULL, 'w'},
	    {"report", no_argument, NULL, 'R'},
	    {"skew", required_argument, NULL, 'k'},
	    {"skew-ops", required_argument, NULL, 'K'},
	    {"no-verify", no_argument, NULL, 'N'},
	    {"help", no_argument, NULL, 'h'},
	    {}};
	uint64_t v;
	int c;

	while ((c = getopt_long(argc, argv, "", long_options, NULL)) >= 0) {
		switch (c) {
		case 's':
			if (parse_u64(optarg, true, &o->size) < 0 || o->size < PAGE_SIZE) {
				fprintf(stderr,
					"workload: --size takes BYTES (suffix K, M, G or T), at "
					"least %u\n",
					PAGE_SIZE);
				return 2;
			}
			break;
		case 'p':
			if (parse_u64(optarg, false, &o->passes) < 0) {
				fprintf(stderr, "workload: --passes takes a number\n");
				return 2;
			}
			break;
		case 'S':
			if (parse_u64(optarg, false, &o->seed) < 0) {
				fprintf(stderr, "workload: --seed takes a number\n");
				return 2;
			}
			break;
		case 'r':
			if (parse_u64(optarg, false, &o->random_ops) < 0) {
				fprintf(stderr, "workload: --random-ops takes a number\n");
				return 2;
			}
			o->random_ops_set = true;
			break;
		case 'w':
			if (parse_u64(optarg, false, &v) < 0 || v > 100) {
				fprintf(stderr, "workload: --rewrite-percent must be 0..100\n");
				return 2;
			}
			o->rewrite_percent = (unsigned int)v;
			break;
		case 'R':
			o->report = true;
			break;
		case 'k':
			if (parse_skew(optarg, &o->skew_access, &o->skew_hot) < 0) {
				fprintf(stderr, "workload: --skew takes ACCESS:HOT, percentages, "
						"ACCESS 0..100 and HOT 1..99 (e.g. 80:40)\n");
				return 2;
			}
			break;
		case 'K':
			if (parse_u64(optarg, false, &o->skew_ops) < 0) {
				fprintf(stderr, "workload: --skew-ops takes a number\n");
				return 2;
			}
			o->skew_ops_set = true;
			break;
		case 'N':
			o->no_verify = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (o->skew_ops_set && !o->skew_hot) {
		fprintf(stderr, "workload: --skew-ops needs --skew\n");
		return 2;
	}
	return -1;
}

static void workload_free(struct workload *w)
{
	if (!w)
		return;
	if (w->mem && w->mem != MAP_FAILED)
		munmap(w->mem, w->pages * PAGE_SIZE);
	free(w->versions);
	free(w);
}

static int workload_new(const struct options *o, struct workload **ret)
{
	struct workload *w = calloc(1, sizeof(*w));
	int r;

	if (!w)
		return -ENOMEM;
	w->pages = o->size / PAGE_SIZE;
	w->seed = o->seed;
	w->no_verify = o->no_verify;
	w->same_mask = splitmix64(o->seed ^ UINT64_C(0x73616d6500000000));
	w->versions = calloc(w->pages, sizeof(*w->versions));
	if (!w->versions) {
		r = -ENOMEM;
		goto out_free;
	}
	w->mem = mmap(NULL, w->pages * PAGE_SIZE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (w->mem == MAP_FAILED) {
		r = -errno;
		goto out_free;
	}
	/* --no-verify locked all memory on fault; the working set must swap. */
	if (o->no_verify && munlock(w->mem, w->pages * PAGE_SIZE) < 0) {
		r = -errno;
		goto out_free;
	}
	/* Huge pages would swap as a unit (or be split); we want single 4 KiB pages. */
	if (madvise(w->mem, w->pages * PAGE_SIZE, MADV_NOHUGEPAGE) < 0 && errno != EINVAL) {
		r = -errno;
		goto out_free;
	}
	*ret = w;
	return 0;

out_free:
	workload_free(w);
	return r;
}

int main(int argc, char **argv)
{
	struct options o = {
	    .size = UINT64_C(64) << 20,
	    .passes = 2,
	    .seed = 1,
	    .rewrite_percent = 10,
	};
	double t0, t_fill, t_passes, t_random, t_skewed, t_verify;
	struct workload *w = NULL;
	bool ok;
	int r;

	r = parse_options(argc, argv, &o);
	if (r >= 0)
		return r;
	for (unsigned int i = 0; i < 64; i++)
		word_lengths[i] = (uint8_t)strlen(words[i]);
	if (o.no_verify && mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) < 0) {
		fprintf(stderr, "workload: --no-verify cannot lock its own memory: %s\n",
			strerror(errno));
		return 1;
	}

	r = workload_new(&o, &w);
	if (r < 0) {
		fprintf(stderr, "workload: cannot set up %" PRIu64 " bytes of memory: %s\n", o.size,
			strerror(-r));
		return 1;
	}
	if (!o.random_ops_set)
		o.random_ops = w->pages;
	if (!o.skew_ops_set)
		o.skew_ops = w->pages;

	t0 = now();
	fill(w);
	t_fill = now();
	ok = sequential_passes(w, o.passes, o.rewrite_percent);
	t_passes = now();
	ok = ok && random_access(w, o.random_ops, o.rewrite_percent);
	t_random = now();
	if (ok && o.skew_hot) {
		r = skewed_access(w, o.skew_ops, o.skew_access, o.skew_hot, o.rewrite_percent);
		if (r < 0) {
			fprintf(stderr, "workload: cannot list the hot pages: %s\n", strerror(-r));
			workload_free(w);
			return 1;
		}
		ok = r > 0;
	}
	t_skewed = now();
	ok = ok && verify_all(w);
	t_verify = now();

	if (ok && o.report) {
		printf("workload: ok pages=%zu size=%zu passes=%" PRIu64 " random_ops=%" PRIu64
		       " touched=%" PRIu64 " fill_s=%.3f passes_s=%.3f random_s=%.3f",
		       w->pages, w->pages * PAGE_SIZE, o.passes, o.random_ops, w->touched,
		       t_fill - t0, t_passes - t_fill, t_random - t_passes);
		if (o.skew_hot)
			printf(" skew=%u:%u skew_ops=%" PRIu64 " skewed_s=%.3f", o.skew_access,
			       o.skew_hot, o.skew_ops, t_skewed - t_random);
		if (o.no_verify)
			printf(" unverified mismatches=%" PRIu64, w->mismatches);
		printf(" verify_s=%.3f total_s=%.3f pages_per_s=%.0f\n", t_verify - t_skewed,
		       t_verify - t0,
		       (double)w->touched / (t_verify - t0));
	} else if (ok) {
		printf("workload: ok pages=%zu%s\n", w->pages, o.no_verify ? " (unverified)" : "");
	}
	workload_free(w);
	return ok ? 0 : 1;
}
