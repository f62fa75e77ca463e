/* SPDX-License-Identifier: MIT */
/*
 * test-store.c - the storage contract of SPEC section 3, checked against a
 * plain shadow copy of the device: single-threaded random operations,
 * threads racing on the same slots (with writeback, flush and compaction
 * running), a full pool, the exclusive-load regression and disk faults.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/backing.h"
#include "../common/pagegen.h"
#include "common.h"
#include "store.h"

#define MiB (UINT64_C(1) << 20)


static struct store_config base_config(uint64_t size, uint64_t pool_limit)
{
	return (struct store_config){
		.size = size,
		.pool_limit = pool_limit,
		.codec = { .kind = CODEC_LZ4 },
		.same_filled = true,
		.reject_threshold = 3584,
		.high_watermark = 90,
		.low_watermark = 80,
	};
}

static struct store *new_store(const struct store_config *config)
{
	struct store *store = NULL;
	int r = store_new(config, &store);

	cr_assert_eq(r, 0, "store_new: %s", strerror(-r));
	return store;
}

static struct store_worker *new_worker(struct store *store)
{
	struct store_worker *w = NULL;

	cr_assert_eq(store_worker_new(store, &w), 0);
	return w;
}

static bool all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

Test(store, never_written_reads_zeros)
{
	struct store_config c = base_config(4 * MiB, 4 * MiB);
	struct store *s = new_store(&c);
	struct store_worker *w = new_worker(s);
	static unsigned char buf[64 * 1024];
	struct store_stats st;

	memset(buf, 0xaa, sizeof(buf));
	cr_assert_eq(store_read(w, buf, sizeof(buf), 1 * MiB), (ssize_t)sizeof(buf));
	cr_assert(all_zero(buf, sizeof(buf)));
	store_get_stats(s, &st);
	cr_assert_eq(st.slots_total, 1024);
	cr_assert_eq(st.slots_used, 0);
	cr_assert_eq(st.ops.reads, 1);
	store_free(s);
}

struct range_case {
	uint64_t offset, len;
	int expect;
};

Test(store, range_checks)
{
	static const struct range_case cases[] = {
		{ 0, 512, 512 },
		{ 512, 512, 512 },
		{ 4096 - 512, 1024, 1024 },	  /* crosses a slot boundary */
		{ 4 * MiB - 4096, 4096, 4096 }, /* last slot */
		{ 0, 0, 0 },
		{ 1, 512, 512 },   /* byte-granular: read-modify-write */
		{ 4095, 100, 100 }, /* unaligned across a slot boundary */
		{ 4 * MiB, 512, -EINVAL },
		{ 4 * MiB - 512, 1024, -EINVAL },
		{ UINT64_MAX - 511, 512, -EINVAL },
	};
	struct store_config c = base_config(4 * MiB, 4 * MiB);
	struct store *s = new_store(&c);
	struct store_worker *w = new_worker(s);
	static unsigned char buf[8192];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		memset(buf, (int)i + 1, sizeof(buf));
		cr_expect_eq(store_write(w, buf, cases[i].len, cases[i].offset), cases[i].expect,
			     "write case %zu", i);
		cr_expect_eq(store_read(w, buf, cases[i].len, cases[i].offset), cases[i].expect,
			     "read case %zu", i);
		cr_expect_eq(store_discard(w, cases[i].offset, cases[i].len),
			     cases[i].expect < 0 ? cases[i].expect : 0, "discard case %zu", i);
	}
	store_free(s);
}

struct same_case {
	uint64_t value;
	bool same; /* counted as a same-filled slot */
};

Test(store, same_filled_pages)
{
	static const struct same_case cases[] = {
		{ UINT64_C(0x0101010101010101), true },
		{ UINT64_C(0xffffffffffffffff), true },
		{ UINT64_C(0xdeadbeefdeadbeef), true },	  /* repeated 32-bit */
		{ UINT64_C(0x00000000000000aa), true },
		{ UINT64_C(0xff00ff00ff00ff01), true },	  /* shared table entry */
	};
	struct store_config c = base_config(4 * MiB, 4 * MiB);
	struct store *s = new_store(&c);
	struct store_worker *w = new_worker(s);
	uint64_t page[512], back[512];
	struct store_stats st;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		for (size_t j = 0; j < 512; j++)
			page[j] = cases[i].value;
		cr_assert_eq(store_write(w, page, 4096, i * 4096), 4096);
		cr_assert_eq(store_read(w, back, 4096, i * 4096), 4096);
		cr_assert_arr_eq(page, back, 4096, "case %zu", i);
		store_get_stats(s, &st);
		cr_expect_eq(st.same_slots + st.pool_slots, i + 1);
		cr_expect_eq(st.same_slots, i + 1, "case %zu", i);
		cr_expect_eq(st.pool_slots, 0, "case %zu", i);
	}
	store_free(s);
}

Test(store, partial_writes_and_discards)
{
	struct store_config c = base_config(1 * MiB, 1 * MiB);
	struct store *s = new_store(&c);
	struct store_worker *w = new_worker(s);
	static unsigned char shadow[8192], buf[8192], sector[512];
	struct store_stats st;

	pagegen_fill_kind(shadow, 8192, PAGE_TEXT, 7);
	cr_assert_eq(store_write(w, shadow, 8192, 0), 8192);
	memset(sector, 0x5a, sizeof(sector));
	cr_assert_eq(store_write(w, sector, 512, 1024), 512);
	memcpy(shadow + 1024, sector, 512);
	cr_assert_eq(store_discard(w, 3584, 1024), 0); /* end of slot 0, start of slot 1 */
	memset(shadow + 3584, 0, 1024);
	cr_assert_eq(store_read(w, buf, 8192, 0), 8192);
	cr_assert_arr_eq(buf, shadow, 8192);
	cr_assert_eq(store_discard(w, 0, 8192), 0);
	cr_assert_eq(store_read(w, buf, 8192, 0), 8192);
	cr_assert(all_zero(buf, 8192));
	store_get_stats(s, &st);
	cr_assert_eq(st.slots_used, 0);
	cr_assert_eq(st.compr_bytes, 0);
	cr_assert_eq(st.ops.partial_writes, 1); /* sub-slot discards are not writes */
	store_free(s);
}

/* Random operations against a shadow copy, one thread. */
static void model_run(struct store *s, unsigned ops, uint64_t seed)
{
	struct store_worker *w = new_worker(s);
	struct store_stats st;
	uint64_t size, rng = seed | 1;
	unsigned char *shadow, *buf;

	store_get_stats(s, &st);
	size = st.slots_total * 4096;
	shadow = calloc(1, size);
	buf = aligned_alloc(4096, 256 * 1024);
	cr_assert(shadow && buf);
	for (unsigned i = 0; i < ops; i++) {
		uint64_t r = pagegen_next(&rng);
		uint64_t sectors = 1 + (r >> 8) % 64, offset;
		unsigned op = r % 10;

		sectors = MIN(sectors, size / 512);
		offset = ((r >> 20) % (size / 512 - sectors + 1)) * 512;
		if (op < 5) {
			for (uint64_t p = 0; p < sectors * 512; p += 4096)
				pagegen_fill(buf + p, MIN(4096, sectors * 512 - p), r + p);
			cr_assert_eq(store_write(w, buf, sectors * 512, offset),
				     (ssize_t)(sectors * 512), "op %u write", i);
			memcpy(shadow + offset, buf, sectors * 512);
		} else if (op < 9) {
			cr_assert_eq(store_read(w, buf, sectors * 512, offset),
				     (ssize_t)(sectors * 512), "op %u read", i);
			cr_assert_arr_eq(buf, shadow + offset, sectors * 512,
					 "op %u: read %" PRIu64 "+%" PRIu64 " differs", i, offset,
					 sectors * 512);
		} else {
			cr_assert_eq(store_discard(w, offset, sectors * 512), 0);
			memset(shadow + offset, 0, sectors * 512);
		}
	}
	for (uint64_t off = 0; off < size; off += 4096) {
		cr_assert_eq(store_read(w, buf, 4096, off), 4096);
		cr_assert_arr_eq(buf, shadow + off, 4096, "final check at %" PRIu64, off);
	}
	free(shadow);
	free(buf);
	store_worker_free(w);
}

Test(store, model_single_thread_pool_only)
{
	struct store_config c = base_config(8 * MiB, 64 * MiB);
	struct store *s = new_store(&c);

	model_run(s, 20000, 1);
	store_free(s);
}

Test(store, model_single_thread_zstd_tiny_pool_with_disk, .init = make_backing,
     .fini = remove_backing)
{
	struct store_config c = base_config(8 * MiB, 1 * MiB);
	struct store_stats st;
	struct store *s;

	c.codec = (struct codec_spec){ .kind = CODEC_ZSTD, .level = 3 };
	c.backing_path = backing_path;
	s = new_store(&c);
	cr_assert_eq(store_start_writeback(s), 0);
	model_run(s, 20000, 2);
	store_get_stats(s, &st);
	cr_expect_gt(counters_writethrough_pages(&st.ops) + st.ops.writeback_pages, 0);
	cr_expect_gt(st.ops.reads_disk, 0);
	cr_expect_gt(st.ops.reads_pool, 0);
	cr_expect_gt(st.ops.reads_same, 0);
	cr_expect_gt(st.ops.incompressible, 0);
	cr_expect_leq(st.pool_footprint_bytes, st.pool_limit_bytes);
	store_free(s);
}

Test(store, full_pool_without_disk_reports_full)
{
	struct store_config c = base_config(16 * MiB, 1 * MiB);
	struct store *s = new_store(&c);
	struct store_worker *w = new_worker(s);
	unsigned char page[4096];
	uint64_t written = 0;
	ssize_t r;

	for (;;) {
		pagegen_fill_kind(page, 4096, PAGE_TEXT, written);
		r = store_write(w, page, 4096, written * 4096);
		if (r < 0)
			break;
		written++;
		cr_assert_lt(written, 4096u, "a 1 MiB pool never filled up");
	}
	cr_assert_eq(r, -ENOSPC);
	cr_assert_gt(written, 100);
	for (uint64_t i = 0; i < written; i++) {
		unsigned char back[4096];

		pagegen_fill_kind(page, 4096, PAGE_TEXT, i);
		cr_assert_eq(store_read(w, back, 4096, i * 4096), 4096);
		cr_assert_arr_eq(back, page, 4096, "slot %" PRIu64 " lost after pool full", i);
	}
	store_free(s);
}

/*
 * The data-loss scenario from zswap's history: a load must never drop
 * the only copy. Write, load, force writeback, then load again and again.
 */
Test(store, exclusive_load_never_loses_data, .init = make_backing, .fini = remove_backing)
{
	struct store_config c = base_config(4 * MiB, 4 * MiB);
	struct store_flush_request all = { 0 };
	unsigned char page[4096], back[4096];
	struct store_worker *w;
	struct store_stats st;
	struct store *s;

	c.exclusive_loads = true;
	c.backing_path = backing_path;
	s = new_store(&c);
	w = new_worker(s);
	cr_assert_eq(store_start_writeback(s), 0);
	for (uint64_t i = 0; i < 256; i++) {
		pagegen_fill_kind(page, 4096, PAGE_RECORDS, i);
		cr_assert_eq(store_write(w, page, 4096, i * 4096), 4096);
	}
	for (int round = 0; round < 20; round++) {
		for (uint64_t i = 0; i < 256; i++) {
			pagegen_fill_kind(page, 4096, PAGE_RECORDS, i);
			cr_assert_eq(store_read(w, back, 4096, i * 4096), 4096);
			cr_assert_arr_eq(back, page, 4096, "round %d slot %" PRIu64, round, i);
		}
		if (round % 2 == 0)
			cr_assert_geq(store_flush(s, &all), 0);
	}
	store_get_stats(s, &st);
	cr_assert_eq(st.slots_used, 256);
	cr_assert_gt(st.ops.writeback_pages, 0);
	cr_assert_gt(st.ops.exclusive_releases, 0);
	store_free(s);
}

/*
 * A page written through is counted under its exact reason: the pool at
 * its limit, or background growth that had no chunk ready yet (the first
 * allocation of a size class never has one).
 */
Test(store, writethrough_reasons, .init = make_backing, .fini = remove_backing)
{
	struct store_config c = base_config(16 * MiB, 1 * MiB);
	unsigned char page[4096];
	struct store_worker *w;
	struct store_stats st;
	struct store *s;

	c.backing_path = backing_path;
	s = new_store(&c);
	w = new_worker(s);
	for (uint64_t i = 0; i < 2048; i++) {
		pagegen_fill_kind(page, 4096, PAGE_TEXT, i);
		cr_assert_eq(store_write(w, page, 4096, i * 4096), 4096);
	}
	store_get_stats(s, &st);
	cr_assert_gt(st.ops.writethrough_pool_full, 0, "a 1 MiB pool never filled up");
	cr_assert_eq(st.ops.writethrough_pool_growing, 0);
	cr_assert_eq(st.ops.writethrough_no_memory, 0);
	cr_assert_eq(st.ops.writes_disk, st.ops.writethrough_pool_full);
	store_worker_free(w);
	store_free(s);

	c.background_growth = true;
	s = new_store(&c);
	w = new_worker(s);
	pagegen_fill_kind(page, 4096, PAGE_TEXT, 0);
	cr_assert_eq(store_write(w, page, 4096, 0), 4096);
	store_get_stats(s, &st);
	cr_assert_eq(st.ops.writethrough_pool_growing, 1);
	cr_assert_eq(st.ops.writethrough_pool_full, 0);
	cr_assert_eq(counters_writethrough_pages(&st.ops), 1);
	store_worker_free(w);
	store_free(s);
}

/*
 * Under pressure, incompressible pages (stored raw) are written back
 * before any compressed entry, even colder ones: the compressed pages,
 * written first, all stay in the pool while the raw ones go.
 */
Test(store, pressure_writes_incompressible_pages_back_first, .init = make_backing,
     .fini = remove_backing, .timeout = 60)
{
	struct store_config c = base_config(64 * MiB, 8 * MiB);
	unsigned char page[4096], back[4096];
	uint64_t compressed = 0, raw = 0, reads_disk;
	struct store_worker *w;
	struct store_stats st;
	struct store *s;

	c.incompressible_to_pool = true;
	c.backing_path = backing_path;
	s = new_store(&c);
	w = new_worker(s);
	/* Half the pool with compressible pages, then raw ones past the high mark. */
	do {
		pagegen_fill_kind(page, 4096, PAGE_RECORDS, compressed);
		cr_assert_eq(store_write(w, page, 4096, compressed * 4096), 4096);
		store_get_stats(s, &st);
	} while (++compressed < 8192 && st.pool_footprint_bytes < c.pool_limit / 2);
	do {
		pagegen_fill_kind(page, 4096, PAGE_RANDOM, compressed + raw);
		cr_assert_eq(store_write(w, page, 4096, (compressed + raw) * 4096), 4096);
		store_get_stats(s, &st);
	} while (++raw < 8192 && st.pool_footprint_bytes * 100 < c.pool_limit * 92);
	cr_assert_eq(counters_writethrough_pages(&st.ops), 0, "the pool was full before the test began");
	cr_assert_eq(store_start_writeback(s), 0);
	for (int i = 0; i < 1000 && st.pool_footprint_bytes * 100 > c.pool_limit * 85; i++) {
		usleep(10 * 1000);
		store_get_stats(s, &st);
	}
	cr_log_info("%" PRIu64 " compressed, %" PRIu64 " raw pages; %" PRIu64 " written back",
		    compressed, raw, st.ops.writeback_pages);
	cr_assert_gt(st.ops.writeback_pages, 0, "no writeback under pressure");
	cr_assert_eq(st.pool_slots + st.disk_slots, compressed + raw);
	/* Every compressed page still comes from the pool. */
	reads_disk = st.ops.reads_disk;
	for (uint64_t i = 0; i < compressed + raw; i++) {
		pagegen_fill_kind(page, 4096, i < compressed ? PAGE_RECORDS : PAGE_RANDOM, i);
		cr_assert_eq(store_read(w, back, 4096, i * 4096), 4096);
		cr_assert_arr_eq(back, page, 4096, "slot %" PRIu64, i);
		if (i + 1 == compressed) {
			store_get_stats(s, &st);
			cr_assert_eq(st.ops.reads_disk, reads_disk,
				     "compressed pages were written back before raw ones");
		}
	}
	store_free(s);
}

static const struct store_recompress zstd_recompress = {
	.enabled = true,
	.codec = { .kind = CODEC_ZSTD, .level = 3 },
	.min_saving_percent = 10,
	.cpu_percent = 100,
};

/* Idle lz4 entries become zstd ones, smaller, and read back the same. */
Test(store, recompress_replaces_idle_entries)
{
	struct store_config c = base_config(4 * MiB, 4 * MiB);
	unsigned char page[4096], back[4096];
	struct store_stats before, after;
	struct store_recompress req = zstd_recompress;
	unsigned replaced = 0;
	struct store_worker *w;
	struct store *s;

	s = new_store(&c);
	w = new_worker(s);
	for (uint64_t i = 0; i < 256; i++) {
		pagegen_fill_kind(page, 4096, i % 8 ? PAGE_RECORDS : PAGE_RANDOM, i);
		cr_assert_eq(store_write(w, page, 4096, i * 4096), 4096);
	}
	store_get_stats(s, &before);
	/* Nothing is idle for an hour yet. */
	req.idle_seconds = 3600;
	for (uint64_t i = 0; i < 256; i++)
		cr_assert_eq(store_recompress(w, i, &req), STORE_RECOMPRESS_SKIPPED);
	req.idle_seconds = 0;
	for (uint64_t i = 0; i < 256; i++) {
		int r = store_recompress(w, i, &req);

		cr_assert(r == STORE_RECOMPRESS_REPLACED || r == STORE_RECOMPRESS_NOT_WORTH ||
			  (i % 8 == 0 && r == STORE_RECOMPRESS_SKIPPED), "slot %" PRIu64 ": %d", i, r);
		replaced += r == STORE_RECOMPRESS_REPLACED;
		/* Once zstd, an entry is left alone. */
		cr_assert_eq(store_recompress(w, i, &req), STORE_RECOMPRESS_SKIPPED);
	}
	store_get_stats(s, &after);
	cr_log_info("recompressed %u of 224: %" PRIu64 " -> %" PRIu64 " bytes", replaced,
		    before.compr_bytes, after.compr_bytes);
	cr_assert_gt(replaced, 100);
	cr_assert_eq(after.ops.recompressed, replaced);
	cr_assert_eq(after.zstd_slots, replaced);
	cr_assert_eq(after.raw_slots, 32);
	cr_assert_lt(after.compr_bytes, before.compr_bytes);
	cr_assert_eq(after.pool_slots, before.pool_slots);
	for (uint64_t i = 0; i < 256; i++) {
		pagegen_fill_kind(page, 4096, i % 8 ? PAGE_RECORDS : PAGE_RANDOM, i);
		cr_assert_eq(store_read(w, back, 4096, i * 4096), 4096);
		cr_assert_arr_eq(back, page, 4096, "slot %" PRIu64, i);
	}
	store_free(s);
}

/*
 * A saving below min_saving_percent keeps the entry as it is, and the
 * entry is not tried again until a read or write touches it: a pass must
 * not spend its budget on the same entries for ever.
 */
Test(store, recompress_keeps_entries_not_worth_it)
{
	struct store_config c = base_config(4 * MiB, 4 * MiB);
	struct store_recompress req = zstd_recompress;
	unsigned char page[4096];
	struct store_stats before, after;
	struct store_worker *w;
	struct store *s;

	s = new_store(&c);
	w = new_worker(s);
	for (uint64_t i = 0; i < 64; i++) {
		pagegen_fill_kind(page, 4096, PAGE_RECORDS, i);
		cr_assert_eq(store_write(w, page, 4096, i * 4096), 4096);
	}
	store_get_stats(s, &before);
	req.min_saving_percent = 90;
	for (uint64_t i = 0; i < 64; i++)
		cr_assert_eq(store_recompress(w, i, &req), STORE_RECOMPRESS_NOT_WORTH);
	store_get_stats(s, &after);
	cr_assert_eq(after.ops.recompress_not_worth, 64);
	cr_assert_eq(after.compr_bytes, before.compr_bytes);
	cr_assert_eq(after.zstd_slots, 0);
	for (uint64_t i = 0; i < 64; i++)
		cr_assert_eq(store_recompress(w, i, &req), STORE_RECOMPRESS_SKIPPED, "slot %" PRIu64,
			     i);
	cr_assert_eq(store_read(w, page, 4096, 5 * 4096), 4096);
	cr_assert_eq(store_recompress(w, 5, &req), STORE_RECOMPRESS_NOT_WORTH,
		     "a read makes the entry a candidate again");
	store_free(s);
}

/* The background pass: on, it recompresses while the data stays right. */
Test(store, recompress_in_the_background, .init = make_backing, .fini = remove_backing,
     .timeout = 60)
{
	struct store_config c = base_config(16 * MiB, 16 * MiB);
	unsigned char page[4096], back[4096];
	struct store_stats st;
	struct store_worker *w;
	struct store *s;

	c.backing_path = backing_path;
	s = new_store(&c);
	w = new_worker(s);
	cr_assert_eq(store_start_writeback(s), 0);
	for (uint64_t i = 0; i < 1024; i++) {
		pagegen_fill_kind(page, 4096, PAGE_RECORDS, i);
		cr_assert_eq(store_write(w, page, 4096, i * 4096), 4096);
	}
	cr_assert_eq(store_set_recompress(s, &zstd_recompress), 0);
	for (int i = 0; i < 300; i++) {
		store_get_stats(s, &st);
		if (st.zstd_slots + st.ops.recompress_not_worth >= 1024)
			break;
		usleep(10 * 1000);
	}
	cr_log_info("background: %" PRIu64 " recompressed, %" PRIu64 " us of CPU",
		    st.ops.recompressed, st.ops.recompress_cpu_us);
	cr_assert_gt(st.ops.recompressed, 512);
	cr_assert_gt(st.ops.recompress_cpu_us, 0);
	for (uint64_t i = 0; i < 1024; i++) {
		pagegen_fill_kind(page, 4096, PAGE_RECORDS, i);
		cr_assert_eq(store_read(w, back, 4096, i * 4096), 4096);
		cr_assert_arr_eq(back, page, 4096, "slot %" PRIu64, i);
	}
	/* Bad settings are refused. */
	struct store_recompress bad = zstd_recompress;

	bad.codec.kind = CODEC_LZ4;
	cr_assert_eq(store_set_recompress(s, &bad), -EINVAL);
	bad = zstd_recompress;
	bad.cpu_percent = 0;
	cr_assert_eq(store_set_recompress(s, &bad), -EINVAL);
	store_free(s);
}

/* A store of 64 record pages, every one recompressed to zstd. */
static struct store *zstd_store(struct store_worker **ret_w)
{
	struct store_config c = base_config(4 * MiB, 4 * MiB);
	struct store_recompress req = zstd_recompress;
	unsigned char page[4096];
	struct store *s = new_store(&c);
	struct store_worker *w = new_worker(s);

	for (uint64_t i = 0; i < 64; i++) {
		pagegen_fill_kind(page, 4096, PAGE_RECORDS, i);
		cr_assert_eq(store_write(w, page, 4096, i * 4096), 4096);
		cr_assert_eq(store_recompress(w, i, &req), STORE_RECOMPRESS_REPLACED);
	}
	*ret_w = w;
	return s;
}

/*
 * Read slot idx, which holds a damaged object: the read fails with
 * -EBADMSG (the FUSE layer answers EIO), decompress_errors counts it, and
 * nothing of the page is left in the buffer.
 */
static void assert_read_refused(struct store *s, struct store_worker *w, uint64_t idx,
				const char *what)
{
	unsigned char page[4096], back[4096], zeros[4096] = { 0 };
	struct store_stats before, after;
	size_t untouched = 0;

	pagegen_fill_kind(page, 4096, PAGE_RECORDS, idx);
	store_get_stats(s, &before);
	memcpy(back, page, sizeof(back));
	cr_assert_eq(store_read(w, back, 4096, idx * 4096), -EBADMSG, "%s: read", what);
	store_get_stats(s, &after);
	cr_assert_eq(after.ops.decompress_errors, before.ops.decompress_errors + 1, "%s", what);
	cr_assert_eq(after.ops.reads_pool, before.ops.reads_pool, "%s", what);
	cr_assert_arr_eq(back, zeros, 4096, "%s: the failed read left data in the buffer", what);
	/* A sector read decodes into scratch: the caller's buffer stays untouched. */
	memset(back, 0xee, 512);
	cr_assert_eq(store_read(w, back, 512, idx * 4096 + 512), -EBADMSG, "%s: sector", what);
	for (size_t i = 0; i < 512; i++)
		untouched += back[i] == 0xee;
	cr_assert_eq(untouched, 512, "%s: a failed sector read wrote the buffer", what);
}

/*
 * Every single byte of a zstd object flipped in turn: the read is refused
 * and counted, or (a flip the data does not depend on, such as a larger
 * window in the frame header) it returns the page exactly. Never a wrong
 * page: the frame's checksum covers the content.
 */
Test(store, corrupt_recompressed_byte_is_detected)
{
	unsigned char page[4096], back[4096];
	unsigned refused = 0, harmless = 0;
	struct store_stats before, after;
	struct store_worker *w;
	struct store *s = zstd_store(&w);
	enum codec_kind codec;
	unsigned char *data;
	unsigned len;

	cr_assert_eq(store_pool_entry(s, 7, (void **)&data, &len, &codec), 0);
	cr_assert_eq(codec, CODEC_ZSTD);
	cr_assert_lt(len, 4096);
	pagegen_fill_kind(page, 4096, PAGE_RECORDS, 7);
	for (unsigned i = 0; i < len; i++) {
		char what[64];
		ssize_t r;

		snprintf(what, sizeof(what), "byte %u of %u flipped", i, len);
		data[i] ^= 0x5a;
		store_get_stats(s, &before);
		r = store_read(w, back, 4096, 7 * 4096);
		store_get_stats(s, &after);
		if (r == 4096) {
			cr_assert_arr_eq(back, page, 4096, "%s: a wrong page was returned", what);
			cr_assert_eq(after.ops.decompress_errors, before.ops.decompress_errors);
			harmless++;
		} else {
			cr_assert_eq(r, -EBADMSG, "%s", what);
			cr_assert_eq(after.ops.decompress_errors, before.ops.decompress_errors + 1);
			cr_assert(all_zero(back, 4096), "%s: the failed read left data", what);
			refused++;
		}
		data[i] ^= 0x5a;
	}
	cr_log_info("%u of %u flips refused, %u harmless", refused, len, harmless);
	/* Only the frame header has bytes the content does not depend on. */
	cr_assert_leq(harmless, 8);
	/* Restored, the entry reads back; its neighbours were never hurt. */
	for (uint64_t i = 6; i <= 8; i++) {
		pagegen_fill_kind(page, 4096, PAGE_RECORDS, i);
		cr_assert_eq(store_read(w, back, 4096, i * 4096), 4096);
		cr_assert_arr_eq(back, page, 4096, "slot %" PRIu64, i);
	}
	store_get_stats(s, &after);
	cr_assert_eq(after.ops.decompress_errors, refused);
	store_free(s);
}

/*
 * A well-formed zstd frame of the wrong size in place of the object,
 * padded to its length with a skippable frame: zstd decodes it without
 * complaint, and the store refuses anything but exactly one page.
 */
Test(store, recompressed_object_of_another_size_is_refused)
{
	static const size_t sizes[] = { 1, 2048, 4095, 4097, 8192 };
	unsigned char src[8192], frame[4096], saved[4096];
	struct codec_spec spec = zstd_recompress.codec;
	struct codec_ctx *ctx;
	struct store_worker *w;
	struct store *s = zstd_store(&w);
	enum codec_kind codec;
	unsigned char *data;
	unsigned len;

	cr_assert_eq(codec_ctx_new(&ctx), 0);
	cr_assert_eq(store_pool_entry(s, 9, (void **)&data, &len, &codec), 0);
	cr_assert_eq(codec, CODEC_ZSTD);
	memcpy(saved, data, len);
	/* Zeros: a frame of any of the sizes fits in the object. */
	memset(src, 0, sizeof(src));
	for (size_t k = 0; k < ARRAY_SIZE(sizes); k++) {
		ssize_t n = codec_compress(ctx, &spec, src, sizes[k], frame, sizeof(frame));
		char what[64];

		cr_assert_gt(n, 0);
		cr_assert_leq((size_t)n + 8, len, "frame of %zu bytes does not fit", sizes[k]);
		memcpy(data, frame, (size_t)n);
		/* Skippable frame: magic 0x184D2A50, then the length of what follows. */
		data[n] = 0x50, data[n + 1] = 0x2a, data[n + 2] = 0x4d, data[n + 3] = 0x18;
		for (int b = 0; b < 4; b++)
			data[n + 4 + b] = (unsigned char)((len - (size_t)n - 8) >> (8 * b));
		memset(data + n + 8, 0, len - (size_t)n - 8);
		snprintf(what, sizeof(what), "a frame of %zu bytes", sizes[k]);
		assert_read_refused(s, w, 9, what);
	}
	/* Truncated: the first half of the real frame, the rest zeros. */
	memcpy(data, saved, len);
	memset(data + len / 2, 0, len - len / 2);
	assert_read_refused(s, w, 9, "the frame's second half zeroed");
	codec_ctx_free(ctx);
	store_free(s);
}

/* A corrupt lz4 entry is not laundered into a valid zstd one by recompression. */
Test(store, corrupt_entry_is_not_recompressed)
{
	struct store_config c = base_config(4 * MiB, 4 * MiB);
	struct store_recompress req = zstd_recompress;
	unsigned char page[4096];
	struct store_worker *w;
	struct store_stats st;
	struct store *s;
	enum codec_kind codec;
	unsigned char *data;
	unsigned len;

	s = new_store(&c);
	w = new_worker(s);
	pagegen_fill_kind(page, 4096, PAGE_RECORDS, 3);
	cr_assert_eq(store_write(w, page, 4096, 3 * 4096), 4096);
	cr_assert_eq(store_pool_entry(s, 3, (void **)&data, &len, &codec), 0);
	cr_assert_eq(codec, CODEC_LZ4);
	memset(data, 0xa5, len);
	cr_assert_eq(store_recompress(w, 3, &req), -EBADMSG);
	cr_assert_eq(store_pool_entry(s, 3, (void **)&data, &len, &codec), 0);
	cr_assert_eq(codec, CODEC_LZ4, "the corrupt entry was replaced");
	store_get_stats(s, &st);
	cr_assert_eq(st.ops.recompressed, 0);
	cr_assert_eq(st.ops.decompress_errors, 1);
	assert_read_refused(s, w, 3, "the corrupt lz4 entry");
	store_free(s);
}

Test(store, flush_limits_and_idle, .init = make_backing, .fini = remove_backing)
{
	struct store_config c = base_config(4 * MiB, 4 * MiB);
	struct store_flush_request limited = { .limit_bytes = 10 * 4096 };
	struct store_flush_request idle = { .idle_seconds = 3600 };
	struct store_flush_request all = { 0 };
	unsigned char page[4096];
	struct store_worker *w;
	struct store_stats st;
	struct store *s;

	c.backing_path = backing_path;
	s = new_store(&c);
	w = new_worker(s);
	for (uint64_t i = 0; i < 100; i++) {
		pagegen_fill_kind(page, 4096, PAGE_TEXT, i);
		cr_assert_eq(store_write(w, page, 4096, i * 4096), 4096);
	}
	cr_assert_eq(store_flush(s, &limited), 10);
	cr_assert_eq(store_flush(s, &idle), 0, "nothing has been idle for an hour");
	cr_assert_eq(store_flush(s, &all), 90);
	store_get_stats(s, &st);
	cr_assert_eq(st.disk_slots, 100);
	cr_assert_eq(st.pool_slots, 0);
	cr_assert_eq(st.compr_bytes, 0);
	cr_assert_eq(st.ops.writeback_pages, 100);
	store_free(s);
}

static bool cancel_after_first(void *opaque, uint64_t done, uint64_t total)
{
	(*(int *)opaque)++;
	return false;
}

Test(store, flush_cancel_and_no_disk, .init = make_backing, .fini = remove_backing)
{
	struct store_config c = base_config(4 * MiB, 4 * MiB);
	int calls = 0;
	struct store_flush_request req = { .progress = cancel_after_first, .opaque = &calls };
	unsigned char page[4096];
	struct store_worker *w;
	struct store *s;

	s = new_store(&c);
	cr_assert_eq(store_flush(s, &req), -ENODEV);
	store_free(s);

	c.backing_path = backing_path;
	s = new_store(&c);
	w = new_worker(s);
	for (uint64_t i = 0; i < 200; i++) {
		pagegen_fill_kind(page, 4096, PAGE_TEXT, i);
		cr_assert_eq(store_write(w, page, 4096, i * 4096), 4096);
	}
	cr_assert_eq(store_flush(s, &req), -ECANCELED);
	cr_assert_eq(calls, 1);
	store_free(s);
}

/* Disk faults through the disk_ops seam that production uses. */
static int fail_writes, fail_reads;

static ssize_t faulty_pwritev(int fd, const struct iovec *iov, int n, off_t off)
{
	if (__atomic_load_n(&fail_writes, __ATOMIC_RELAXED))
		return -EIO;
	return disk_ops_posix.pwritev(fd, iov, n, off);
}

static ssize_t faulty_preadv(int fd, const struct iovec *iov, int n, off_t off)
{
	if (__atomic_load_n(&fail_reads, __ATOMIC_RELAXED))
		return -EIO;
	return disk_ops_posix.preadv(fd, iov, n, off);
}

/*
 * A store of size bytes (and as large a pool) with a backing file whose
 * reads and writes go through preadv and pwritev, kept in *ops.
 */
static struct store *hooked_store(struct disk_ops *ops, uint64_t size,
				  ssize_t (*preadv)(int, const struct iovec *, int, off_t),
				  ssize_t (*pwritev)(int, const struct iovec *, int, off_t))
{
	struct store_config c = base_config(size, size);

	*ops = (struct disk_ops){ .preadv = preadv,
				  .pwritev = pwritev,
				  .fallocate = disk_ops_posix.fallocate };
	c.backing_path = backing_path;
	c.disk_ops = ops;
	return new_store(&c);
}

/* A 4 MiB store whose disk fails while fail_writes/fail_reads are set. */
static struct store *faulty_store(struct disk_ops *ops)
{
	return hooked_store(ops, 4 * MiB, faulty_preadv, faulty_pwritev);
}

Test(store, disk_errors_are_returned_and_lose_nothing, .init = make_backing,
     .fini = remove_backing)
{
	struct store_flush_request all = { 0 };
	unsigned char page[4096], random_page[4096], back[4096];
	struct store_worker *w;
	struct store_stats st;
	struct disk_ops ops;
	struct store *s;

	s = faulty_store(&ops);
	w = new_worker(s);
	pagegen_fill_kind(page, 4096, PAGE_TEXT, 1);
	pagegen_fill_kind(random_page, 4096, PAGE_RANDOM, 2);
	cr_assert_eq(store_write(w, page, 4096, 0), 4096);
	cr_assert_eq(store_write(w, random_page, 4096, 4096), 4096); /* incompressible: disk */

	fail_writes = 1;
	/* Writeback fails: the pool copy stays and still reads back. */
	cr_assert_eq(store_flush(s, &all), -EIO);
	cr_assert_eq(store_read(w, back, 4096, 0), 4096);
	cr_assert_arr_eq(back, page, 4096);
	/* An incompressible overwrite cannot reach disk: -EIO, old data kept. */
	pagegen_fill_kind(back, 4096, PAGE_RANDOM, 3);
	cr_assert_eq(store_write(w, back, 4096, 4096), -EIO);
	cr_assert_eq(store_read(w, back, 4096, 4096), 4096);
	cr_assert_arr_eq(back, random_page, 4096);
	fail_writes = 0;

	cr_assert_eq(store_flush(s, &all), 1);
	fail_reads = 1;
	cr_assert_eq(store_read(w, back, 4096, 0), -EIO);
	fail_reads = 0;
	cr_assert_eq(store_read(w, back, 4096, 0), 4096);
	cr_assert_arr_eq(back, page, 4096);
	store_get_stats(s, &st);
	cr_assert_geq(st.ops.io_errors, 3);
	cr_assert_eq(st.slots_used, 2);
	store_free(s);
}

Test(store, failed_writeback_counts_every_page, .init = make_backing, .fini = remove_backing)
{
	struct store_flush_request all = { 0 };
	struct store_counters counters;
	struct store_stats st;
	struct disk_ops ops;
	struct store *s = faulty_store(&ops);
	struct store_worker *w = new_worker(s);
	unsigned char page[4096];

	for (unsigned i = 0; i < 10; i++) {
		pagegen_fill_kind(page, 4096, PAGE_TEXT, i);
		cr_assert_eq(store_write(w, page, 4096, i * 4096), 4096);
	}
	fail_writes = 1;
	cr_assert_eq(store_flush(s, &all), -EIO);
	fail_writes = 0;
	store_get_stats(s, &st);
	cr_assert_eq(st.ops.io_errors, 10, "one per page of the failed batch, not one per batch");
	cr_assert_eq(st.pool_slots, 10);
	store_get_counters(s, &counters);
	cr_assert_arr_eq(&counters, &st.ops, sizeof(counters), "the cheap accessor matches");
	store_free(s);
}

/* pwritev and preadv calls and pages through the disk_ops seam. */
static unsigned disk_writes, disk_pages_written, disk_reads, disk_pages_read;

static ssize_t counting_pwritev(int fd, const struct iovec *iov, int n, off_t off)
{
	if (__atomic_load_n(&fail_writes, __ATOMIC_RELAXED))
		return -EIO;
	disk_writes++;
	disk_pages_written += (unsigned)n;
	return disk_ops_posix.pwritev(fd, iov, n, off);
}

static ssize_t counting_preadv(int fd, const struct iovec *iov, int n, off_t off)
{
	if (__atomic_load_n(&fail_reads, __ATOMIC_RELAXED))
		return -EIO;
	disk_reads++;
	disk_pages_read += (unsigned)n;
	return disk_ops_posix.preadv(fd, iov, n, off);
}

#define BATCH_PAGES 40 /* more than one batch (16 pages) of incompressible pages */

/* Page i of version v: every third page text (to the pool), the rest random (to disk). */
static void batch_page(unsigned char *p, unsigned i, unsigned v)
{
	pagegen_fill_kind(p, 4096, i % 3 == 0 ? PAGE_TEXT : PAGE_RANDOM, 1000 * v + i);
}

/* Pages of BATCH_PAGES that go to disk. */
static unsigned batch_to_disk(void)
{
	unsigned n = 0;

	for (unsigned i = 0; i < BATCH_PAGES; i++)
		n += i % 3 != 0;
	return n;
}

/* A 4 MiB store with a backing file whose disk I/O goes through ops, counted. */
static struct store *counting_store(struct disk_ops *ops)
{
	return hooked_store(ops, 4 * MiB, counting_preadv, counting_pwritev);
}

/*
 * The incompressible pages of one write go to disk in a few large
 * pwritev calls, from aligned and unaligned buffers alike, and read back;
 * when that disk write fails, they keep their old data and no disk block
 * stays taken.
 */
Test(store, disk_pages_of_one_write_are_written_together, .init = make_backing,
     .fini = remove_backing)
{
	unsigned char *buf = aligned_alloc(4096, BATCH_PAGES * 4096);
	unsigned char *other = aligned_alloc(4096, (BATCH_PAGES + 1) * 4096);
	unsigned char *unaligned = other + 8, page[4096], back[4096];
	unsigned to_disk = batch_to_disk();
	struct store_worker *w;
	struct store_stats st;
	struct disk_ops ops;
	struct store *s;

	cr_assert(buf && other);
	s = counting_store(&ops);
	w = new_worker(s);
	for (unsigned i = 0; i < BATCH_PAGES; i++) {
		batch_page(unaligned + i * 4096, i, 1);
		batch_page(buf + i * 4096, i, 2);
	}
	disk_writes = disk_pages_written = 0;
	cr_assert_eq(store_write(w, unaligned, BATCH_PAGES * 4096, 0), BATCH_PAGES * 4096);
	/* At their homes, with the pool pages' free homes between them written too. */
	cr_assert_geq(disk_pages_written, to_disk);
	cr_assert_leq(disk_pages_written, BATCH_PAGES);
	cr_assert_eq(disk_writes, (to_disk + 15) / 16, "%u pwritev calls for %u pages", disk_writes,
		     to_disk);
	disk_writes = disk_pages_written = 0;
	cr_assert_eq(store_write(w, buf, BATCH_PAGES * 4096, BATCH_PAGES * 4096),
		     BATCH_PAGES * 4096);
	cr_assert_eq(disk_writes, (to_disk + 15) / 16);
	for (unsigned i = 0; i < 2 * BATCH_PAGES; i++) {
		batch_page(page, i % BATCH_PAGES, 1 + i / BATCH_PAGES);
		cr_assert_eq(store_read(w, back, 4096, (uint64_t)i * 4096), 4096);
		cr_assert_arr_eq(back, page, 4096, "page %u", i);
	}
	store_get_stats(s, &st);
	cr_assert_eq(st.disk_slots, 2 * to_disk);
	cr_assert_eq(st.ops.writes_disk, 2 * to_disk);

	/* A new version of the first range whose disk write fails. */
	for (unsigned i = 0; i < BATCH_PAGES; i++)
		batch_page(buf + i * 4096, i, 3);
	fail_writes = 1;
	cr_assert_eq(store_write(w, buf, BATCH_PAGES * 4096, 0), -EIO);
	fail_writes = 0;
	for (unsigned i = 0; i < BATCH_PAGES; i++) {
		cr_assert_eq(store_read(w, back, 4096, (uint64_t)i * 4096), 4096);
		batch_page(page, i, 1);
		if (i % 3 != 0) /* bound for disk: the old data stays */
			cr_assert_arr_eq(back, page, 4096, "page %u lost its old data", i);
		else if (memcmp(back, page, 4096) != 0) /* the pool's pages: old or new */
			cr_assert_arr_eq(back, buf + i * 4096, 4096, "page %u is torn", i);
	}
	store_get_stats(s, &st);
	cr_assert_eq(st.disk_slots, 2 * to_disk);
	/* The first full batch failed, and the write stopped there. */
	cr_assert_eq(st.ops.io_errors, 16, "every page of the failed batch counts");
	store_free(s);
	free(buf);
	free(other);
}

/*
 * A read of DISK slots whose blocks follow each other reads them with one
 * preadv per 16 pages, into aligned buffers; unaligned ones get a page at
 * a time. A failed read returns the error and leaves every slot unlocked.
 */
Test(store, disk_pages_of_one_read_are_read_together, .init = make_backing,
     .fini = remove_backing, .timeout = 30) /* a slot left locked would hang */
{
	unsigned char *buf = aligned_alloc(4096, BATCH_PAGES * 4096);
	unsigned char *other = aligned_alloc(4096, (BATCH_PAGES + 1) * 4096);
	unsigned char page[4096];
	unsigned to_disk = batch_to_disk();
	struct store_worker *w;
	struct disk_ops ops;
	struct store *s;

	cr_assert(buf && other);
	s = counting_store(&ops);
	w = new_worker(s);
	for (unsigned i = 0; i < BATCH_PAGES; i++)
		batch_page(buf + i * 4096, i, 1);
	cr_assert_eq(store_write(w, buf, BATCH_PAGES * 4096, 0), BATCH_PAGES * 4096);

	disk_reads = disk_pages_read = 0;
	memset(other, 0, BATCH_PAGES * 4096);
	cr_assert_eq(store_read(w, other, BATCH_PAGES * 4096, 0), BATCH_PAGES * 4096);
	cr_assert_arr_eq(other, buf, BATCH_PAGES * 4096);
	/* At their homes, with the pool pages' homes between them read and dropped. */
	cr_assert_geq(disk_pages_read, to_disk);
	cr_assert_leq(disk_pages_read, BATCH_PAGES);
	cr_assert_eq(disk_reads, (to_disk + 15) / 16, "%u preadv calls for %u pages", disk_reads,
		     to_disk);

	disk_reads = 0;
	cr_assert_eq(store_read(w, other + 8, BATCH_PAGES * 4096, 0), BATCH_PAGES * 4096);
	cr_assert_arr_eq(other + 8, buf, BATCH_PAGES * 4096);
	cr_assert_eq(disk_reads, to_disk);

	/* Failing reads: an error, then every slot reads again (none left locked). */
	fail_reads = 1;
	cr_assert_eq(store_read(w, other, BATCH_PAGES * 4096, 0), -EIO);
	fail_reads = 0;
	cr_assert_eq(store_read(w, other, BATCH_PAGES * 4096, 0), BATCH_PAGES * 4096);
	cr_assert_arr_eq(other, buf, BATCH_PAGES * 4096);
	batch_page(page, 1, 2);
	cr_assert_eq(store_write(w, page, 4096, 4096), 4096);
	cr_assert_eq(store_read(w, other, 4096, 4096), 4096);
	cr_assert_arr_eq(other, page, 4096);
	store_free(s);
	free(buf);
	free(other);
}

/*
 * Pinned blocks. A read holds a pin, not the slot lock, across its disk
 * I/O. The gate stops the first armed preadv until the test opens it; the
 * pwritev hook counts writes of one watched block: the slot's home. While
 * the read waits, the test replaces the slot and writes it to disk again
 * (its next copy goes home when home is free) and writes its neighbours
 * in one request (whose pwritev covers free blocks between them), so that
 * a block freed too early would be overwritten.
 */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool armed, arrived, open;
	off_t watched;
	unsigned watched_writes;
} gate = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static ssize_t gated_preadv(int fd, const struct iovec *iov, int n, off_t off)
{
	pthread_mutex_lock(&gate.lock);
	if (gate.armed) {
		gate.armed = false;
		gate.arrived = true;
		pthread_cond_broadcast(&gate.cond);
		while (!gate.open)
			pthread_cond_wait(&gate.cond, &gate.lock);
	}
	pthread_mutex_unlock(&gate.lock);
	return disk_ops_posix.preadv(fd, iov, n, off);
}

static ssize_t watching_pwritev(int fd, const struct iovec *iov, int n, off_t off)
{
	pthread_mutex_lock(&gate.lock);
	if (gate.watched >= off && gate.watched < off + (off_t)n * 4096)
		gate.watched_writes++;
	pthread_mutex_unlock(&gate.lock);
	return disk_ops_posix.pwritev(fd, iov, n, off);
}

static unsigned gate_read(unsigned *field)
{
	unsigned v;

	pthread_mutex_lock(&gate.lock);
	v = *field;
	pthread_mutex_unlock(&gate.lock);
	return v;
}

/*
 * Write slot idx with an incompressible page, which goes to disk; or, with
 * neighbours, write idx - 1 and idx + 1 the same way in one request and
 * idx with text, which goes to the pool: the disk write then spans the
 * home of idx. The slot's new data is left in expect.
 */
static void write_to_disk(struct store_worker *w, uint64_t idx, bool neighbours,
			  unsigned char *expect)
{
	unsigned char *pages = aligned_alloc(4096, 3 * 4096);
	static unsigned version = 100;

	pagegen_fill_kind(pages, 3 * 4096, PAGE_RANDOM, version++);
	if (neighbours) {
		pagegen_fill_kind(pages + 4096, 4096, PAGE_TEXT, version++);
		cr_assert_eq(store_write(w, pages, 3 * 4096, (idx - 1) * 4096), 3 * 4096);
		memcpy(expect, pages + 4096, 4096);
	} else {
		cr_assert_eq(store_write(w, pages, 4096, idx * 4096), 4096);
		memcpy(expect, pages, 4096);
	}
	free(pages);
}

/* A read or write in a thread of its own, whose first preadv waits at the gate. */
struct gated_io {
	struct store_worker *w;
	unsigned char *buf;
	size_t len;
	uint64_t offset;
	bool write;
	ssize_t r;
	pthread_t thread;
};

static void *gated_io_thread(void *arg)
{
	struct gated_io *io = arg;

	if (io->write)
		io->r = store_write(io->w, io->buf, io->len, io->offset);
	else
		io->r = store_read(io->w, io->buf, io->len, io->offset);
	return NULL;
}

/* Start io and return once it waits at the gate. */
static void gated_io_start(struct gated_io *io)
{
	gate.armed = true;
	cr_assert_eq(pthread_create(&io->thread, NULL, gated_io_thread, io), 0);
	pthread_mutex_lock(&gate.lock);
	while (!gate.arrived)
		pthread_cond_wait(&gate.cond, &gate.lock);
	pthread_mutex_unlock(&gate.lock);
}

/* Let io go on, and wait for it to end. */
static void gated_io_finish(struct gated_io *io)
{
	pthread_mutex_lock(&gate.lock);
	gate.open = true;
	pthread_cond_broadcast(&gate.cond);
	pthread_mutex_unlock(&gate.lock);
	cr_assert_eq(pthread_join(io->thread, NULL), 0);
	cr_assert_eq(io->r, (ssize_t)io->len);
}

/* A 16-slot store whose disk I/O goes through the gate and the watch. */
static struct store *gated_store(struct disk_ops *ops)
{
	return hooked_store(ops, 16 * 4096, gated_preadv, watching_pwritev);
}

enum replace { OVERWRITE, DISCARD, PATCH };

/*
 * Slots 0 and 1 on disk in consecutive blocks; a read of the first
 * read_len bytes (one slot, or both in one preadv) waits at the gate while
 * its last slot is replaced. The block must not be handed out while the
 * read is in flight, the read returns the old data, and the block is
 * freed once the read unpins it.
 */
static void replace_while_pinned(enum replace how, size_t read_len)
{
	unsigned char *old = aligned_alloc(4096, 2 * 4096), *back = aligned_alloc(4096, 2 * 4096);
	unsigned char page[4096], expect[4096];
	uint64_t target = read_len / 4096 - 1;
	struct gated_io reader;
	struct disk_ops ops;
	struct store *s = gated_store(&ops);
	struct store_worker *w = new_worker(s);

	pagegen_fill_kind(old, 4096, PAGE_RANDOM, 1);
	pagegen_fill_kind(old + 4096, 4096, PAGE_RANDOM, 2);
	cr_assert_eq(store_write(w, old, 2 * 4096, 0), 2 * 4096);
	gate.watched = (off_t)target * 4096; /* its home */
	gate.watched_writes = 0;

	reader = (struct gated_io){ .w = new_worker(s), .buf = back, .len = read_len };
	gated_io_start(&reader);

	memcpy(expect, old + target * 4096, 4096);
	switch (how) {
	case OVERWRITE:
		pagegen_fill_kind(expect, 4096, PAGE_RANDOM, 3);
		cr_assert_eq(store_write(w, expect, 4096, target * 4096), 4096);
		break;
	case DISCARD:
		memset(expect, 0, 4096);
		cr_assert_eq(store_discard(w, target * 4096, 4096), 0);
		break;
	case PATCH:
		pagegen_fill_kind(page, 512, PAGE_RANDOM, 4);
		memcpy(expect + 512, page, 512);
		cr_assert_eq(store_write(w, page, 512, target * 4096 + 512), 512);
		break;
	}
	if (target > 0)
		write_to_disk(w, target, true, expect);
	write_to_disk(w, target, false, expect);
	cr_assert_eq(gate_read(&gate.watched_writes), 0, "a pinned block was handed out again");

	gated_io_finish(&reader);
	cr_assert_arr_eq(back, old, read_len, "the read returns the version it pinned");

	write_to_disk(w, target, false, expect);
	cr_assert_gt(gate_read(&gate.watched_writes), 0, "the last unpin frees the block");
	cr_assert_eq(store_read(w, back, 4096, target * 4096), 4096);
	cr_assert_arr_eq(back, expect, 4096);
	store_free(s);
	free(old);
	free(back);
}

Test(store, pinned_block_outlives_overwrite, .init = make_backing, .fini = remove_backing,
     .timeout = 60)
{
	replace_while_pinned(OVERWRITE, 4096);
}

Test(store, pinned_block_outlives_discard, .init = make_backing, .fini = remove_backing,
     .timeout = 60)
{
	replace_while_pinned(DISCARD, 4096);
}

/* A run of two pinned blocks; a partial write pins the second again and replaces it. */
Test(store, pinned_run_outlives_partial_write, .init = make_backing, .fini = remove_backing,
     .timeout = 60)
{
	replace_while_pinned(PATCH, 2 * 4096);
}

/*
 * A partial write whose read of the old page waits while the whole slot is
 * rewritten: it must notice and start over from the new data, or the
 * rewrite would be lost under the old page's bytes.
 */
Test(store, partial_write_starts_over_after_a_rewrite, .init = make_backing,
     .fini = remove_backing, .timeout = 60)
{
	unsigned char *page = aligned_alloc(4096, 4096), patch[512], expect[4096], back[4096];
	struct gated_io patcher = { .buf = patch, .len = 512, .offset = 1024, .write = true };
	struct disk_ops ops;
	struct store *s = gated_store(&ops);
	struct store_worker *w = new_worker(s);

	pagegen_fill_kind(page, 4096, PAGE_RANDOM, 1);
	cr_assert_eq(store_write(w, page, 4096, 0), 4096);
	pagegen_fill_kind(patch, 512, PAGE_RANDOM, 2);
	patcher.w = new_worker(s);
	gated_io_start(&patcher);

	pagegen_fill_kind(page, 4096, PAGE_RANDOM, 3);
	cr_assert_eq(store_write(w, page, 4096, 0), 4096);
	memcpy(expect, page, 4096);
	memcpy(expect + 1024, patch, 512);
	gated_io_finish(&patcher);
	cr_assert_eq(store_read(w, back, 4096, 0), 4096);
	cr_assert_arr_eq(back, expect, 4096, "the rewrite survives the partial write");
	store_free(s);
	free(page);
}

/*
 * Threads racing on the same slots. Each thread owns the sectors whose
 * number modulo NTHREADS is its id and keeps an exact shadow of them;
 * every I/O spans several sectors of other threads too (a read checks
 * foreign sectors are well-formed; a write is a read-modify-write of the
 * thread's own sectors only, so the store's slot RMW races with others).
 * Sector contents name their sector and version, so torn or misplaced
 * data is caught as well as lost updates.
 */
#define NTHREADS 4
#define RACE_SIZE (2 * MiB)
#define RACE_SECTORS (RACE_SIZE / 512)

struct race {
	struct store *store;
	unsigned id;
	unsigned ops;
	uint32_t *versions; /* shared array, but each thread only touches its own sectors */
	bool whole_slots;   /* own whole slots (full-slot writes) instead of sectors */
};

static void sector_fill(unsigned char *p, uint64_t sector, uint32_t version)
{
	uint64_t s = sector * 7919 + version * UINT64_C(104729) + 1;

	memcpy(p, &sector, 8);
	memcpy(p + 8, &version, 4);
	for (unsigned i = 12; i < 512; i += 4) {
		uint32_t v = (uint32_t)pagegen_next(&s);

		/* Half the words repeat: pages stay compressible. */
		if (i % 8)
			v = version;
		memcpy(p + i, &v, 4);
	}
}

static bool sector_valid(const unsigned char *p, uint64_t sector)
{
	unsigned char expect[512];
	uint32_t version;
	uint64_t id;

	if (all_zero(p, 512))
		return true;
	memcpy(&id, p, 8);
	memcpy(&version, p + 8, 4);
	if (id != sector)
		return false;
	sector_fill(expect, sector, version);
	return memcmp(expect, p, 512) == 0;
}

static bool owns(const struct race *r, uint64_t sector)
{
	uint64_t unit = r->whole_slots ? sector / 8 : sector;

	return unit % NTHREADS == r->id;
}

static void *race_thread(void *arg)
{
	struct race *r = arg;
	struct store_worker *w = NULL;
	unsigned char *buf = aligned_alloc(4096, 64 * 512);
	uint64_t rng = r->id * 1000003 + 17;

	cr_assert_eq(store_worker_new(r->store, &w), 0);
	for (unsigned i = 0; i < r->ops; i++) {
		uint64_t x = pagegen_next(&rng), n = 1 + (x >> 8) % 32, first;

		first = (x >> 24) % (RACE_SECTORS - n);
		if (r->whole_slots) {
			first &= ~UINT64_C(7);
			n = ALIGN_UP(n, 8);
		}
		if (x % 3 == 0) {
			/* Write only our own runs, each as its own request. */
			for (uint64_t s = first; s < first + n; s++) {
				uint64_t len = r->whole_slots ? 8 : 1;

				if (!owns(r, s))
					continue;
				for (uint64_t k = 0; k < len; k++) {
					r->versions[s + k]++;
					sector_fill(buf + k * 512, s + k, r->versions[s + k]);
				}
				cr_assert_eq(store_write(w, buf, len * 512, s * 512), (ssize_t)(len * 512));
				s += len - 1;
			}
		} else if (x % 7 == 1 && !r->whole_slots) {
			/* Discard own single sectors (sub-slot discard races RMW). */
			for (uint64_t s = first; s < first + n; s++)
				if (owns(r, s)) {
					cr_assert_eq(store_discard(w, s * 512, 512), 0);
					r->versions[s] = 0;
				}
		} else {
			cr_assert_eq(store_read(w, buf, n * 512, first * 512), (ssize_t)(n * 512));
			for (uint64_t k = 0; k < n; k++) {
				uint64_t s = first + k;
				unsigned char expect[512];

				if (owns(r, s)) {
					if (r->versions[s])
						sector_fill(expect, s, r->versions[s]);
					else
						memset(expect, 0, 512);
					cr_assert_arr_eq(buf + k * 512, expect, 512,
							 "thread %u: sector %" PRIu64 " stale or lost",
							 r->id, s);
				} else {
					cr_assert(sector_valid(buf + k * 512, s),
						  "thread %u: sector %" PRIu64 " torn", r->id, s);
				}
			}
		}
	}
	free(buf);
	return NULL;
}

struct churn {
	struct store *store;
	bool stop;
	unsigned flushes;
};

static void *churn_thread(void *arg)
{
	struct churn *c = arg;
	struct store_flush_request all = { 0 };

	while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
		cr_assert_geq(store_flush(c->store, &all), 0);
		store_compact(c->store);
		c->flushes++;
	}
	return NULL;
}

static void race_run(struct store *s, bool whole_slots, bool churn_on, unsigned ops)
{
	pthread_t threads[NTHREADS], churner;
	struct race races[NTHREADS];
	struct churn churn = { .store = s };
	uint32_t *versions = calloc(RACE_SECTORS, sizeof(uint32_t));

	if (churn_on)
		cr_assert_eq(pthread_create(&churner, NULL, churn_thread, &churn), 0);
	for (unsigned i = 0; i < NTHREADS; i++) {
		races[i] = (struct race){ .store = s, .id = i, .ops = ops, .versions = versions,
					  .whole_slots = whole_slots };
		cr_assert_eq(pthread_create(&threads[i], NULL, race_thread, &races[i]), 0);
	}
	for (unsigned i = 0; i < NTHREADS; i++)
		pthread_join(threads[i], NULL);
	if (churn_on) {
		__atomic_store_n(&churn.stop, true, __ATOMIC_RELEASE);
		pthread_join(churner, NULL);
		cr_expect_gt(churn.flushes, 0);
	}
	free(versions);
}

Test(store_race, sectors_pool_only, .timeout = 120)
{
	struct store_config c = base_config(RACE_SIZE, 64 * MiB);
	struct store *s = new_store(&c);

	race_run(s, false, false, 6000);
	store_free(s);
}

Test(store_race, sectors_tiny_pool_writeback_flush, .init = make_backing, .fini = remove_backing,
     .timeout = 120)
{
	struct store_config c = base_config(RACE_SIZE, 256 * 1024);
	struct store_stats st;
	struct store *s;

	c.backing_path = backing_path;
	c.exclusive_loads = true;
	s = new_store(&c);
	cr_assert_eq(store_start_writeback(s), 0);
	race_run(s, false, true, 6000);
	store_get_stats(s, &st);
	cr_expect_gt(st.ops.writeback_pages, 0);
	cr_expect_gt(st.ops.reads_disk, 0);
	cr_expect_leq(st.pool_footprint_bytes, st.pool_limit_bytes);
	store_free(s);
}

Test(store_race, whole_slots_zstd_writeback_flush, .init = make_backing, .fini = remove_backing,
     .timeout = 120)
{
	struct store_config c = base_config(RACE_SIZE, 512 * 1024);
	struct store *s;

	c.backing_path = backing_path;
	c.codec = (struct codec_spec){ .kind = CODEC_ZSTD, .level = 1 };
	s = new_store(&c);
	cr_assert_eq(store_start_writeback(s), 0);
	race_run(s, true, true, 6000);
	store_free(s);
}

Test(store, runtime_tunables)
{
	struct store_config c = base_config(4 * MiB, 4 * MiB);
	struct codec_spec zstd = { .kind = CODEC_ZSTD, .level = 5 };
	struct codec_spec bad = { .kind = CODEC_ZSTD, .level = 99 };
	struct store *s;
	struct store_worker *w;
	unsigned char page[4096], back[4096];
	struct store_stats st;

	c.pool_max = 64 * MiB;
	s = new_store(&c);
	w = new_worker(s);
	pagegen_fill_kind(page, 4096, PAGE_TEXT, 1);
	cr_assert_eq(store_write(w, page, 4096, 0), 4096);
	cr_assert_eq(store_set_codec(s, &zstd), 0);
	cr_assert_eq(store_set_codec(s, &bad), -EINVAL);
	pagegen_fill_kind(page, 4096, PAGE_TEXT, 2);
	cr_assert_eq(store_write(w, page, 4096, 4096), 4096);
	/* The lz4 slot keeps its codec; both read back. */
	cr_assert_eq(store_read(w, back, 4096, 4096), 4096);
	cr_assert_arr_eq(back, page, 4096);
	pagegen_fill_kind(page, 4096, PAGE_TEXT, 1);
	cr_assert_eq(store_read(w, back, 4096, 0), 4096);
	cr_assert_arr_eq(back, page, 4096);
	cr_assert_eq(store_set_watermarks(s, 80, 90), -EINVAL);
	cr_assert_eq(store_set_watermarks(s, 70, 50), 0);
	cr_assert_eq(store_set_pool_limit(s, 8 * MiB), 0);
	store_get_stats(s, &st);
	cr_assert_eq(st.pool_limit_bytes, 8 * MiB);
	store_free(s);
}

static bool count_progress(void *opaque, uint64_t done, uint64_t total)
{
	uint64_t *last = opaque;

	cr_assert_geq(done, last[0], "progress went backwards");
	cr_assert_leq(done, total);
	last[0] = done;
	last[1]++;
	return true;
}

/* A pass by hand: every idle pool entry once, with counts and progress. */
Test(store, recompress_pass_by_hand, .init = make_backing, .fini = remove_backing)
{
	struct store_config c = base_config(4 * MiB, 4 * MiB);
	struct store_recompress_request req = { .idle_given = true };
	struct store_recompress_totals totals;
	unsigned char page[4096], back[4096];
	uint64_t progress[2] = { 0, 0 };
	struct store_worker *w;
	struct store_stats st;
	struct store *s;

	c.backing_path = backing_path;
	c.incompressible_to_pool = true;
	s = new_store(&c);
	w = new_worker(s);
	for (uint64_t i = 0; i < 512; i++) {
		pagegen_fill_kind(page, 4096, i % 8 ? PAGE_RECORDS : PAGE_RANDOM, i);
		cr_assert_eq(store_write(w, page, 4096, i * 4096), 4096);
	}
	/* Recompression off: refused. */
	cr_assert_eq(store_recompress_all(s, &req, &totals), -EOPNOTSUPP);
	c.recompress = zstd_recompress;
	c.recompress.idle_seconds = 3600;
	cr_assert_eq(store_set_recompress(s, &c.recompress), 0);
	/* The configured idle time: nothing is an hour old. */
	cr_assert_eq(store_recompress_all(s, &(struct store_recompress_request){ 0 }, &totals), 0);
	cr_assert_eq(totals.examined, 512);
	cr_assert_eq(totals.recompressed + totals.not_worth + totals.dropped, 0);
	/* idle 0: every entry. */
	req.progress = count_progress;
	req.opaque = progress;
	cr_assert_eq(store_recompress_all(s, &req, &totals), 0);
	store_get_stats(s, &st);
	cr_log_info("pass: %" PRIu64 " examined, %" PRIu64 " recompressed, %" PRIu64
		    " not worth it, %" PRIu64 " us", totals.examined, totals.recompressed,
		    totals.not_worth, totals.cpu_us);
	cr_assert_eq(totals.examined, 512);
	cr_assert_gt(totals.recompressed, 256);
	cr_assert_eq(totals.recompressed + totals.not_worth, 448, "the 64 raw pages are skipped");
	cr_assert_eq(st.zstd_slots, totals.recompressed);
	cr_assert_eq(st.ops.recompressed, totals.recompressed);
	cr_assert_gt(progress[1], 1);
	cr_assert_eq(progress[0], 512);
	for (uint64_t i = 0; i < 512; i++) {
		pagegen_fill_kind(page, 4096, i % 8 ? PAGE_RECORDS : PAGE_RANDOM, i);
		cr_assert_eq(store_read(w, back, 4096, i * 4096), 4096);
		cr_assert_arr_eq(back, page, 4096, "slot %" PRIu64, i);
	}
	/* A second pass finds nothing left to do. */
	progress[0] = 0;
	cr_assert_eq(store_recompress_all(s, &req, &totals), 0);
	cr_assert_eq(totals.recompressed, 0);
	/* Cancelled by its progress callback. */
	int calls = 0;

	req.progress = cancel_after_first;
	req.opaque = &calls;
	cr_assert_eq(store_recompress_all(s, &req, &totals), -ECANCELED);
	cr_assert_eq(calls, 1);
	store_free(s);

	/* Without a disk tier there is no writeback engine to run it. */
	c = base_config(4 * MiB, 4 * MiB);
	c.recompress = zstd_recompress;
	s = new_store(&c);
	cr_assert_eq(store_recompress_all(s, &req, &totals), -ENODEV);
	store_free(s);
}
