/* SPDX-License-Identifier: MIT */
/*
 * test-pool.c - unit tests for the size-class allocator.
 *
 * Every object is filled with a pattern derived from (owner, seed, size) so
 * that any overlap, lost move or torn copy shows up as a mismatch. The
 * compaction tests keep an owner -> handle table like the store's slot table.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <lz4.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "common.h"
#include "pool.h"

#define KIB	    (1ull << 10)
#define MIB	    (1ull << 20)
#define GIB	    (1ull << 30)
#define RESERVE_MAX (128 * KIB) /* pool.c keeps at most this many bytes of empty chunks */
/* Background growth: one spare chunk of each class, more within limit / 64. */
#define SPARES_MAX(limit) (2400 * KIB + (limit) / 64)

static uint64_t rng_next(uint64_t *state)
{
	/* xorshift64* */
	*state ^= *state >> 12;
	*state ^= *state << 25;
	*state ^= *state >> 27;
	return *state * 0x2545f4914f6cdd1dull;
}

static uint64_t rng_range(uint64_t *state, uint64_t lo, uint64_t hi)
{
	return lo + rng_next(state) % (hi - lo + 1);
}

static void pattern_fill(struct pool_obj *obj, size_t size, uint32_t owner, uint32_t seed)
{
	uint64_t state = ((uint64_t)owner << 32 | seed) ^ (size * 0x9e3779b97f4a7c15ull) ^ 1;

	/* Compaction reads owner without the owner's lock: store it atomically. */
	__atomic_store_n(&obj->owner, owner, __ATOMIC_RELAXED);
	obj->stamp = seed;
	for (size_t i = 0; i < size - sizeof(*obj); i++)
		obj->data[i] = rng_next(&state) >> 56;
}

static bool pattern_check(const struct pool_obj *obj, size_t size, uint32_t owner, uint32_t seed)
{
	uint64_t state = ((uint64_t)owner << 32 | seed) ^ (size * 0x9e3779b97f4a7c15ull) ^ 1;

	if (obj->owner != owner || obj->stamp != seed)
		return false;
	for (size_t i = 0; i < size - sizeof(*obj); i++)
		if (obj->data[i] != (unsigned char)(rng_next(&state) >> 56))
			return false;
	return true;
}

static struct pool *pool_create(uint64_t limit, uint64_t max)
{
	struct pool *pool = NULL;

	cr_assert_eq(pool_new(limit, max, NULL, &pool), 0);
	cr_assert_not_null(pool);
	return pool;
}

static struct pool_stats stats_of(struct pool *pool)
{
	struct pool_stats stats;

	pool_get_stats(pool, &stats);
	return stats;
}

/* The owner -> handle table of the single-threaded tests. */
struct object {
	uint64_t handle; /* POOL_HANDLE_INVALID when released */
	size_t size;
	uint32_t seed;
};

struct objects {
	struct object *v;
	size_t n;
	uint64_t moves;
	bool (*allow)(uint32_t owner);
};

static void objects_init(struct objects *objs, size_t n)
{
	objs->v = calloc(n, sizeof(*objs->v));
	cr_assert_not_null(objs->v);
	objs->n = n;
	objs->moves = 0;
	objs->allow = NULL;
	for (size_t i = 0; i < n; i++)
		objs->v[i].handle = POOL_HANDLE_INVALID;
}

static int object_alloc(struct pool *pool, struct objects *objs, uint32_t owner, size_t size)
{
	struct object *o = &objs->v[owner];
	int r;

	r = pool_alloc(pool, size, &o->handle);
	if (r < 0)
		return r;
	cr_assert_lt(o->handle, 1ull << POOL_HANDLE_BITS);
	o->size = size;
	o->seed = owner * 7 + 1;
	pattern_fill(pool_map(pool, o->handle), size, owner, o->seed);
	return 0;
}

static void object_release(struct pool *pool, struct objects *objs, uint32_t owner)
{
	pool_release(pool, objs->v[owner].handle);
	objs->v[owner].handle = POOL_HANDLE_INVALID;
}

/* Checks every live object; returns their count and requested bytes. */
static void objects_verify(struct pool *pool, const struct objects *objs, uint64_t *ret_count,
			   uint64_t *ret_bytes)
{
	uint64_t count = 0, bytes = 0;

	for (size_t i = 0; i < objs->n; i++) {
		const struct object *o = &objs->v[i];

		if (o->handle == POOL_HANDLE_INVALID)
			continue;
		cr_assert(pattern_check(pool_map(pool, o->handle), o->size, i, o->seed),
			  "object %zu (size %zu) damaged", i, o->size);
		count++;
		bytes += o->size;
	}
	*ret_count = count;
	*ret_bytes = bytes;
}

static void objects_verify_stats(struct pool *pool, const struct objects *objs)
{
	struct pool_stats stats = stats_of(pool);
	uint64_t count, bytes;

	objects_verify(pool, objs, &count, &bytes);
	cr_assert_eq(stats.objects, count);
	cr_assert_eq(stats.object_bytes, bytes);
	cr_assert_leq(stats.footprint_bytes, stats.limit_bytes);
}

static void objects_release_all(struct pool *pool, struct objects *objs)
{
	for (size_t i = 0; i < objs->n; i++)
		if (objs->v[i].handle != POOL_HANDLE_INVALID)
			object_release(pool, objs, i);
}

/* The objects of one pool, for table_move. */
struct compact_ctx {
	struct objects objs;
	struct pool *pool;
};

static bool table_move(void *opaque, uint32_t owner, uint64_t from, uint64_t to, size_t size)
{
	struct compact_ctx *ctx = opaque;
	struct object *o;

	cr_assert_lt(owner, ctx->objs.n);
	o = &ctx->objs.v[owner];
	cr_assert_eq(o->handle, from);
	cr_assert_geq(size, o->size);
	cr_assert_neq(from, to);
	if (ctx->objs.allow && !ctx->objs.allow(owner))
		return false;
	memcpy(pool_map(ctx->pool, to), pool_map(ctx->pool, from), size);
	o->handle = to;
	ctx->objs.moves++;
	return true;
}

static void shuffle(uint32_t *v, size_t n, uint64_t *rng)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = rng_next(rng) % i;
		uint32_t t = v[i - 1];

		v[i - 1] = v[j];
		v[j] = t;
	}
}

Test(pool, new_limits)
{
	static const struct {
		uint64_t limit, max;
		int ret;
	} cases[] = {
	    {0, 0, -EINVAL},		    /* no room for any chunk */
	    {2 * MIB, 1 * MIB, -EINVAL},    /* limit above max */
	    {UINT64_MAX, 1 * GIB, -EINVAL}, /* limit above max */
	    {0, 1, 0},			    /* a pool that refuses everything */
	    {0, 1 * MIB, 0},		    /* disabled until pool_set_limit */
	    {1 * MIB, 1 * MIB, 0},
	    {1 * GIB, 64 * GIB, 0},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct pool *sentinel = (struct pool *)&cases, *pool = sentinel;
		int r = pool_new(cases[i].limit, cases[i].max, NULL, &pool);

		cr_assert_eq(r, cases[i].ret, "case %zu: %d", i, r);
		if (r < 0) {
			cr_assert_eq(pool, sentinel, "case %zu: ret_pool touched on failure", i);
			continue;
		}
		cr_assert_eq(stats_of(pool).limit_bytes, cases[i].limit);
		cr_assert_eq(stats_of(pool).footprint_bytes, 0);
		pool_free(pool);
	}
	pool_free(NULL);
}

Test(pool, alloc_invalid_size)
{
	static const size_t sizes[] = {0, 1, sizeof(struct pool_obj) - 1, 4105, 8192, SIZE_MAX};
	struct pool *pool = pool_create(64 * MIB, 64 * MIB);

	cr_assert_eq(pool_max_object(), SWAPDEV_PAGE_SIZE + sizeof(struct pool_obj));
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		uint64_t handle = 42;

		cr_assert_eq(pool_alloc(pool, sizes[i], &handle), -EINVAL, "size %zu", sizes[i]);
		cr_assert_eq(handle, 42, "size %zu: handle touched on failure", sizes[i]);
	}
	cr_assert_eq(stats_of(pool).objects, 0);
	cr_assert_eq(stats_of(pool).footprint_bytes, 0);
	pool_free(pool);
}

/* Every size from the header alone to a raw page, twice, released in random order. */
Test(pool, round_trip_every_size)
{
	const size_t min = sizeof(struct pool_obj), max = pool_max_object();
	const size_t n = 2 * (max - min + 1);
	struct pool *pool = pool_create(1 * GIB, 1 * GIB);
	struct objects objs;
	uint32_t *order = calloc(n, sizeof(*order));
	uint64_t rng = 1;
	struct pool_stats stats;

	cr_assert_not_null(order);
	objects_init(&objs, n);
	for (size_t i = 0; i < n; i++) {
		size_t size = min + i / 2;
		struct pool_obj *obj;

		cr_assert_eq(object_alloc(pool, &objs, i, size), 0, "size %zu", size);
		obj = pool_map(pool, objs.v[i].handle);
		cr_assert_eq((uintptr_t)obj % 8, 0, "size %zu: object not 8-aligned", size);
		order[i] = i;
	}
	objects_verify_stats(pool, &objs);
	stats = stats_of(pool);
	cr_assert_gt(stats.chunks, 0);
	cr_assert_geq(stats.footprint_bytes, stats.object_bytes);

	shuffle(order, n, &rng);
	for (size_t i = 0; i < n; i++) {
		object_release(pool, &objs, order[i]);
		if (i == n / 2)
			objects_verify_stats(pool, &objs);
	}
	stats = stats_of(pool);
	cr_assert_eq(stats.objects, 0);
	cr_assert_eq(stats.object_bytes, 0);
	cr_assert_eq(stats.chunks, 0);
	cr_assert_leq(stats.footprint_bytes, RESERVE_MAX, "empty pool holds %" PRIu64 " bytes",
		      stats.footprint_bytes);
	cr_assert_eq(stats.limit_hits, 0);
	cr_assert_eq(stats.alloc_failures, 0);

	free(order);
	free(objs.v);
	pool_free(pool);
}

/* Fill a pool to its limit: -ENOSPC, footprint within the limit, nothing damaged. */
Test(pool, limit_enospc)
{
	static const size_t sizes[] = {8, 100, 2000, 3000, 4104};

	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		const uint64_t limit = 1 * MIB;
		struct pool *pool = pool_create(limit, 64 * MIB);
		struct objects objs;
		uint64_t handle = 42;
		struct pool_stats stats;
		uint32_t n = 0;
		int r;

		objects_init(&objs, 2 * limit / sizes[i] + 1);
		while ((r = object_alloc(pool, &objs, n, sizes[i])) == 0)
			n++;
		cr_assert_eq(r, -ENOSPC, "size %zu: %d", sizes[i], r);
		stats = stats_of(pool);
		cr_assert_leq(stats.footprint_bytes, limit);
		cr_assert_geq(stats.footprint_bytes + RESERVE_MAX, limit, "size %zu: stopped early",
			      sizes[i]);
		cr_assert_eq(stats.limit_hits, 1);
		cr_assert_eq(stats.alloc_failures, 0);
		objects_verify_stats(pool, &objs);

		/* A freed slot is reused without growth. */
		object_release(pool, &objs, n / 2);
		cr_assert_eq(object_alloc(pool, &objs, n / 2, sizes[i]), 0);
		cr_assert_eq(pool_alloc(pool, sizes[i], &handle), -ENOSPC);
		cr_assert_eq(handle, 42);
		cr_assert_eq(stats_of(pool).limit_hits, 2);
		objects_verify_stats(pool, &objs);

		objects_release_all(pool, &objs);
		free(objs.v);
		pool_free(pool);
	}
}

Test(pool, set_limit)
{
	struct pool *pool = pool_create(256 * KIB, 4 * MIB);
	struct objects objs;
	struct pool_stats stats;
	uint64_t handle = 42, footprint;
	uint32_t n = 0;
	int r;

	objects_init(&objs, 8192);
	cr_assert_eq(pool_set_limit(pool, 4 * MIB + 1), -EINVAL);
	cr_assert_eq(stats_of(pool).limit_bytes, 256 * KIB);

	while ((r = object_alloc(pool, &objs, n, 1000)) == 0)
		n++;
	cr_assert_eq(r, -ENOSPC);
	cr_assert_leq(stats_of(pool).footprint_bytes, 256 * KIB);

	/* Raising lets it grow again, up to the new limit. */
	cr_assert_eq(pool_set_limit(pool, 1 * MIB), 0);
	cr_assert_eq(stats_of(pool).limit_bytes, 1 * MIB);
	while ((r = object_alloc(pool, &objs, n, 1000)) == 0)
		n++;
	cr_assert_eq(r, -ENOSPC);
	stats = stats_of(pool);
	cr_assert_gt(stats.footprint_bytes, 256 * KIB);
	cr_assert_leq(stats.footprint_bytes, 1 * MIB);

	/* Lowering below the footprint only stops growth: nothing is lost. */
	cr_assert_eq(pool_set_limit(pool, 128 * KIB), 0);
	footprint = stats_of(pool).footprint_bytes;
	cr_assert_gt(footprint, 128 * KIB);
	objects_verify(pool, &objs, &(uint64_t){0}, &(uint64_t){0});
	cr_assert_eq(pool_alloc(pool, 3000, &handle), -ENOSPC);
	cr_assert_eq(handle, 42);
	object_release(pool, &objs, 0);
	cr_assert_eq(object_alloc(pool, &objs, 0, 1000), 0, "a free slot needs no growth");
	cr_assert_eq(stats_of(pool).footprint_bytes, footprint);

	/* Shrinking by release: chunks above the limit are not kept in reserve. */
	objects_release_all(pool, &objs);
	stats = stats_of(pool);
	cr_assert_eq(stats.objects, 0);
	cr_assert_leq(stats.footprint_bytes, 128 * KIB);

	/* Lowering the limit under the reserve gives the reserve back. */
	cr_assert_eq(pool_set_limit(pool, 0), 0);
	cr_assert_eq(stats_of(pool).footprint_bytes, 0);
	cr_assert_eq(pool_alloc(pool, 100, &handle), -ENOSPC);
	cr_assert_eq(pool_set_limit(pool, 4 * MIB), 0);
	cr_assert_eq(pool_alloc(pool, 100, &handle), 0);
	pool_release(pool, handle);

	free(objs.v);
	pool_free(pool);
}

static size_t size_uniform(uint64_t *rng)
{
	return rng_range(rng, 200, 4104);
}

/*
 * lz4 output (plus header) of synthetic anonymous pages: runs of zeros,
 * repeated text and small counters, with one block of random bytes
 * (pointers, hashes, compressed data) whose length sets how well the page
 * compresses, skewed towards short. Pages lz4 cannot shrink are stored raw,
 * as with pool.incompressible = pool.
 */
static size_t size_lz4(uint64_t *rng)
{
	static const char text[] = "struct page *page = alloc_page(GFP_KERNEL); return 0; ";
	char page[SWAPDEV_PAGE_SIZE], out[LZ4_COMPRESSBOUND(SWAPDEV_PAGE_SIZE)];
	double u = (double)rng_range(rng, 0, 1000) / 1000;
	size_t random_len = SWAPDEV_PAGE_SIZE * u * u;
	size_t random_at = rng_range(rng, 0, SWAPDEV_PAGE_SIZE - random_len);
	int n;

	memset(page, 0, sizeof(page));
	for (size_t i = 0; i < sizeof(page);) {
		size_t run = rng_range(rng, 8, 256);

		run = MIN(run, sizeof(page) - i);

		switch (rng_next(rng) % 3) {
		case 0: /* zeros */
			break;
		case 1:
			for (size_t j = 0; j < run; j++)
				page[i + j] = text[(i + j) % (sizeof(text) - 1)];
			break;
		default:
			for (size_t j = 0; j < run; j += 8)
				memcpy(page + i + j, &(uint64_t){(i + j) / 8}, MIN(8, run - j));
		}
		i += run;
	}
	for (size_t i = 0; i < random_len; i++)
		page[random_at + i] = rng_next(rng);

	n = LZ4_compress_default(page, out, sizeof(page), sizeof(out));
	cr_assert_gt(n, 0);
	return MIN((size_t)n, SWAPDEV_PAGE_SIZE) + sizeof(struct pool_obj);
}

/*
 * Footprint within 10% of the bytes stored, after filling and again after
 * releasing a random half and compacting.
 */
Test(pool, footprint_bound, .timeout = 60)
{
	static const struct {
		const char *name;
		size_t (*size)(uint64_t *rng);
		size_t count;
	} cases[] = {
	    {"uniform 200..4104", size_uniform, 20000},
	    {"lz4 of synthetic pages", size_lz4, 20000},
	};

	for (size_t c = 0; c < ARRAY_SIZE(cases); c++) {
		struct compact_ctx ctx = {.pool = pool_create(1 * GIB, 1 * GIB)};
		struct pool *pool = ctx.pool;
		size_t n = cases[c].count;
		uint32_t *order = calloc(n, sizeof(*order));
		uint64_t rng = 7 + c, freed, smallest = SIZE_MAX, largest = 0;
		struct pool_stats before, stats;

		cr_assert_not_null(order);
		objects_init(&ctx.objs, n);
		for (size_t i = 0; i < n; i++) {
			size_t size = cases[c].size(&rng);

			smallest = MIN(smallest, size);
			largest = MAX(largest, size);
			cr_assert_eq(object_alloc(pool, &ctx.objs, i, size), 0);
			order[i] = i;
		}
		stats = stats_of(pool);
		cr_log_info("%s: %zu objects of %" PRIu64 "..%" PRIu64 " bytes, %" PRIu64
			    " stored, footprint %" PRIu64 " (%.2f%%)",
			    cases[c].name, n, smallest, largest, stats.object_bytes,
			    stats.footprint_bytes,
			    100.0 * stats.footprint_bytes / stats.object_bytes - 100);
		cr_assert_leq(stats.footprint_bytes * 10, stats.object_bytes * 11,
			      "%s: footprint %" PRIu64 " for %" PRIu64 " bytes", cases[c].name,
			      stats.footprint_bytes, stats.object_bytes);

		shuffle(order, n, &rng);
		for (size_t i = 0; i < n / 2; i++)
			object_release(pool, &ctx.objs, order[i]);
		before = stats_of(pool);
		freed = pool_compact(pool, table_move, &ctx);
		stats = stats_of(pool);
		cr_log_info("%s: half released: footprint %" PRIu64 " (%.2f%%), compacted: %" PRIu64
			    " (%.2f%%), %" PRIu64 " chunks freed, %" PRIu64 " objects moved",
			    cases[c].name, before.footprint_bytes,
			    100.0 * before.footprint_bytes / before.object_bytes - 100,
			    stats.footprint_bytes,
			    100.0 * stats.footprint_bytes / stats.object_bytes - 100, freed,
			    ctx.objs.moves);
		cr_assert_gt(freed, 0);
		cr_assert_eq(before.chunks - stats.chunks, freed);
		cr_assert_eq(stats.compactions, ctx.objs.moves);
		cr_assert_leq(stats.footprint_bytes * 10, stats.object_bytes * 11,
			      "%s: compacted footprint %" PRIu64 " for %" PRIu64 " bytes",
			      cases[c].name, stats.footprint_bytes, stats.object_bytes);
		objects_verify_stats(pool, &ctx.objs);

		objects_release_all(pool, &ctx.objs);
		free(order);
		free(ctx.objs.v);
		pool_free(pool);
	}
}

static bool allow_none(uint32_t owner)
{
	return false;
}

static bool allow_odd(uint32_t owner)
{
	return owner % 2;
}

/*
 * Sparse chunks of a few classes; compaction with callbacks that accept
 * every move, none, or half of them. Contents and handles must follow.
 */
Test(pool, compact_moves_objects)
{
	static const size_t sizes[] = {40, 300, 1000, 2000, 3900, 4104};
	static const struct {
		const char *name;
		bool (*allow)(uint32_t owner);
		unsigned min_freed_percent; /* of the chunks */
	} cases[] = {
	    {"accept all", NULL, 50},
	    {"refuse all", allow_none, 0},
	    {"accept odd owners", allow_odd, 10},
	};
	const size_t per_size = 600, n = per_size * ARRAY_SIZE(sizes);

	for (size_t c = 0; c < ARRAY_SIZE(cases); c++) {
		struct compact_ctx ctx = {.pool = pool_create(1 * GIB, 1 * GIB)};
		struct pool *pool = ctx.pool;
		struct pool_stats before, after;
		uint64_t *old = calloc(n, sizeof(*old));
		uint64_t rng = 3, freed, changed = 0;

		cr_assert_not_null(old);
		objects_init(&ctx.objs, n);
		for (size_t i = 0; i < n; i++)
			cr_assert_eq(object_alloc(pool, &ctx.objs, i, sizes[i % ARRAY_SIZE(sizes)]),
				     0);
		/* Keep one object in four: most chunks become sparse, few empty. */
		for (size_t i = 0; i < n; i++)
			if (rng_next(&rng) % 4)
				object_release(pool, &ctx.objs, i);
		for (size_t i = 0; i < n; i++)
			old[i] = ctx.objs.v[i].handle;

		before = stats_of(pool);
		ctx.objs.allow = cases[c].allow;
		freed = pool_compact(pool, table_move, &ctx);
		after = stats_of(pool);
		for (size_t i = 0; i < n; i++)
			changed += old[i] != ctx.objs.v[i].handle;

		cr_assert_eq(before.chunks - after.chunks, freed, "%s", cases[c].name);
		cr_assert_eq(after.compactions, ctx.objs.moves, "%s", cases[c].name);
		cr_assert_eq(changed, ctx.objs.moves, "%s", cases[c].name);
		cr_assert_eq(after.objects, before.objects, "%s", cases[c].name);
		cr_assert_eq(after.object_bytes, before.object_bytes, "%s", cases[c].name);
		objects_verify_stats(pool, &ctx.objs);
		cr_log_info("%s: %" PRIu64 " of %" PRIu64 " chunks freed, %" PRIu64
			    " objects moved",
			    cases[c].name, freed, before.chunks, ctx.objs.moves);
		cr_assert_geq(freed * 100, before.chunks * cases[c].min_freed_percent, "%s",
			      cases[c].name);
		if (cases[c].allow == allow_none) {
			cr_assert_eq(freed, 0);
			cr_assert_eq(ctx.objs.moves, 0);
			cr_assert_eq(after.footprint_bytes, before.footprint_bytes);
		} else {
			cr_assert_gt(freed, 0, "%s", cases[c].name);
			cr_assert_lt(after.footprint_bytes, before.footprint_bytes, "%s",
				     cases[c].name);
		}

		/* All moves accepted: one pass leaves no chunk that could be emptied. */
		ctx.objs.allow = NULL;
		freed = pool_compact(pool, table_move, &ctx);
		if (cases[c].allow != NULL)
			cr_assert_gt(freed, 0, "%s: refused moves left work", cases[c].name);
		before = stats_of(pool);
		cr_assert_eq(pool_compact(pool, table_move, &ctx), 0, "%s", cases[c].name);
		cr_assert_eq(stats_of(pool).compactions, before.compactions, "%s", cases[c].name);
		objects_verify_stats(pool, &ctx.objs);

		objects_release_all(pool, &ctx.objs);
		cr_assert_eq(stats_of(pool).chunks, 0);
		free(old);
		free(ctx.objs.v);
		pool_free(pool);
	}
}

/*
 * When populating a chunk fails, a larger reserve chunk serves; without
 * one, -ENOMEM is counted. The pool's region is a memfd that ends after
 * chunk index 0, so populating any other index fails (EFAULT, as the
 * system refusing the memory would).
 */
Test(pool, enomem_uses_reserve)
{
	uint32_t nr_chunks = pool_chunk_indices(64 * MIB);
	uint64_t big, handle = 42, other = 42, reserve;
	struct pool_region region = { .arena_offset = SWAPDEV_PAGE_SIZE, .nr_chunks = nr_chunks };
	uint64_t len = SWAPDEV_PAGE_SIZE + (uint64_t)nr_chunks * POOL_CHUNK_SPAN;
	struct pool_stats stats;
	struct pool *pool;
	char *base;

	region.fd = memfd_create("test-pool", MFD_CLOEXEC);
	cr_assert_geq(region.fd, 0);
	cr_assert_eq(ftruncate(region.fd, SWAPDEV_PAGE_SIZE + POOL_CHUNK_SPAN), 0);
	base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, region.fd, 0);
	cr_assert_neq(base, MAP_FAILED);
	region.classes = (uint8_t *)base;
	region.arena = base + SWAPDEV_PAGE_SIZE;
	cr_assert_eq(pool_new(64 * MIB, 64 * MIB, &region, &pool), 0);

	/* The largest class has the largest chunks: leave one (index 0) in the reserve. */
	cr_assert_eq(pool_alloc(pool, pool_max_object(), &big), 0);
	pool_release(pool, big);
	reserve = stats_of(pool).footprint_bytes;
	cr_assert_gt(reserve, 0);
	cr_assert_eq(stats_of(pool).chunks, 0);

	cr_assert_eq(pool_alloc(pool, 2000, &handle), 0);
	cr_assert_eq(pool_alloc(pool, 100, &other), -ENOMEM);
	cr_assert_eq(other, 42);
	stats = stats_of(pool);
	cr_assert_eq(stats.alloc_failures, 1);
	cr_assert_eq(stats.limit_hits, 0);
	cr_assert_eq(stats.footprint_bytes, reserve);
	cr_assert_eq(stats.chunks, 1);

	pattern_fill(pool_map(pool, handle), 2000, 5, 9);
	cr_assert(pattern_check(pool_map(pool, handle), 2000, 5, 9));
	pool_release(pool, handle);
	cr_assert_eq(stats_of(pool).footprint_bytes, reserve);
	pool_free(pool);
	munmap(base, len);
	close(region.fd);
}

/*
 * Four threads allocate, verify and release objects under per-owner locks
 * while a fifth compacts with a try-lock callback, moves the limit up and
 * down and checks that the footprint never passes the higher one.
 */
#define MT_SLOTS   4096u
#define MT_THREADS 4u
#define MT_OPS	   60000u
#define MT_LIMIT   (6 * MIB)

struct mt_slot {
	pthread_mutex_t lock;
	uint64_t handle;
	size_t size;
	uint32_t seed;
};

struct mt_ctx {
	struct pool *pool;
	struct mt_slot slots[MT_SLOTS];
	unsigned damaged;      /* atomic */
	unsigned enospc;       /* atomic */
	unsigned eagain;       /* atomic: background growth had no chunk ready */
	unsigned other_errors; /* atomic */
	unsigned over_limit;   /* atomic */
	uint64_t moves;	       /* atomic */
	uint64_t freed;	       /* compactor thread only */
	bool stop;	       /* atomic */
};

struct mt_worker {
	struct mt_ctx *ctx;
	uint64_t rng;
};

static bool mt_move(void *opaque, uint32_t owner, uint64_t from, uint64_t to, size_t size)
{
	struct mt_ctx *ctx = opaque;
	struct mt_slot *slot;

	/* owner may be stale: it was read without the owner's lock. */
	if (owner >= MT_SLOTS)
		return false;
	slot = &ctx->slots[owner];
	if (pthread_mutex_trylock(&slot->lock) != 0)
		return false;
	if (slot->handle != from) {
		pthread_mutex_unlock(&slot->lock);
		return false;
	}
	memcpy(pool_map(ctx->pool, to), pool_map(ctx->pool, from), size);
	slot->handle = to;
	pthread_mutex_unlock(&slot->lock);
	__atomic_fetch_add(&ctx->moves, 1, __ATOMIC_RELAXED);
	return true;
}

static void *mt_worker_run(void *arg)
{
	struct mt_worker *w = arg;
	struct mt_ctx *ctx = w->ctx;

	/*
	 * Past MT_OPS, go on until the compactor has moved something (bounded):
	 * on a loaded machine the workers may otherwise finish, most of their
	 * allocations refused while the grower was not yet scheduled, before
	 * there was anything to compact.
	 */
	for (unsigned op = 0;
	     op < MT_OPS || (op < 50 * MT_OPS && !__atomic_load_n(&ctx->moves, __ATOMIC_RELAXED));
	     op++) {
		uint32_t owner = rng_next(&w->rng) % MT_SLOTS;
		struct mt_slot *slot = &ctx->slots[owner];

		pthread_mutex_lock(&slot->lock);
		if (slot->handle != POOL_HANDLE_INVALID) {
			if (!pattern_check(pool_map(ctx->pool, slot->handle), slot->size, owner,
					   slot->seed))
				__atomic_fetch_add(&ctx->damaged, 1, __ATOMIC_RELAXED);
			if (rng_next(&w->rng) % 4) {
				pool_release(ctx->pool, slot->handle);
				slot->handle = POOL_HANDLE_INVALID;
			}
		} else {
			size_t size =
			    rng_range(&w->rng, sizeof(struct pool_obj), pool_max_object());
			int r = pool_alloc(ctx->pool, size, &slot->handle);

			if (r == 0) {
				slot->size = size;
				slot->seed = rng_next(&w->rng);
				pattern_fill(pool_map(ctx->pool, slot->handle), size, owner,
					     slot->seed);
			} else {
				slot->handle = POOL_HANDLE_INVALID;
				__atomic_fetch_add(r == -ENOSPC	  ? &ctx->enospc
						   : r == -EAGAIN ? &ctx->eagain
								  : &ctx->other_errors,
						   1, __ATOMIC_RELAXED);
			}
		}
		pthread_mutex_unlock(&slot->lock);
	}
	return NULL;
}

static void *mt_compactor_run(void *arg)
{
	struct mt_ctx *ctx = arg;
	unsigned pass = 0;

	/* At least one pass, even if the workers were done before this thread ran. */
	do {
		struct pool_stats stats;

		/* Lowering the limit under the footprint must only stop growth. */
		if (pool_set_limit(ctx->pool, pass++ % 2 ? MT_LIMIT : MT_LIMIT / 2) < 0)
			__atomic_fetch_add(&ctx->other_errors, 1, __ATOMIC_RELAXED);
		ctx->freed += pool_compact(ctx->pool, mt_move, ctx);
		pool_get_stats(ctx->pool, &stats);
		if (stats.footprint_bytes > MT_LIMIT)
			__atomic_fetch_add(&ctx->over_limit, 1, __ATOMIC_RELAXED);
	} while (!__atomic_load_n(&ctx->stop, __ATOMIC_RELAXED));
	return NULL;
}

/* Waits (up to 10 s) until the grower has nothing left to do. */
static struct pool_stats stats_settled(struct pool *pool)
{
	struct pool_stats prev = stats_of(pool), now;

	for (int i = 0; i < 100; i++) {
		usleep(100 * 1000);
		now = stats_of(pool);
		if (now.footprint_bytes == prev.footprint_bytes)
			return now;
		prev = now;
	}
	return prev;
}

static void run_concurrent(bool background)
{
	struct mt_ctx *ctx = calloc(1, sizeof(*ctx));
	struct mt_worker workers[MT_THREADS];
	pthread_t threads[MT_THREADS], compactor;
	struct pool_stats stats;
	uint64_t count = 0, bytes = 0;

	cr_assert_not_null(ctx);
	ctx->pool = pool_create(MT_LIMIT, 1 * GIB);
	if (background)
		cr_assert_eq(pool_start_grower(ctx->pool), 0);
	for (unsigned i = 0; i < MT_SLOTS; i++) {
		pthread_mutex_init(&ctx->slots[i].lock, NULL);
		ctx->slots[i].handle = POOL_HANDLE_INVALID;
	}
	cr_assert_eq(pthread_create(&compactor, NULL, mt_compactor_run, ctx), 0);
	for (unsigned i = 0; i < MT_THREADS; i++) {
		workers[i] = (struct mt_worker){.ctx = ctx, .rng = 0x1234567ull * (i + 1)};
		cr_assert_eq(pthread_create(&threads[i], NULL, mt_worker_run, &workers[i]), 0);
	}
	for (unsigned i = 0; i < MT_THREADS; i++)
		cr_assert_eq(pthread_join(threads[i], NULL), 0);
	__atomic_store_n(&ctx->stop, true, __ATOMIC_RELAXED);
	cr_assert_eq(pthread_join(compactor, NULL), 0);

	cr_log_info("concurrent%s: %" PRIu64 " objects moved, %" PRIu64
		    " chunks freed, %u ENOSPC, %u EAGAIN",
		    background ? " (background growth)" : "", ctx->moves, ctx->freed, ctx->enospc,
		    ctx->eagain);
	cr_assert_eq(ctx->damaged, 0);
	cr_assert_eq(ctx->other_errors, 0);
	cr_assert_eq(ctx->over_limit, 0);
	cr_assert_gt(ctx->moves, 0, "the compactor never moved an object");

	for (unsigned i = 0; i < MT_SLOTS; i++) {
		struct mt_slot *slot = &ctx->slots[i];

		if (slot->handle == POOL_HANDLE_INVALID)
			continue;
		cr_assert(
		    pattern_check(pool_map(ctx->pool, slot->handle), slot->size, i, slot->seed));
		count++;
		bytes += slot->size;
	}
	stats = stats_of(ctx->pool);
	cr_assert_eq(stats.objects, count);
	cr_assert_eq(stats.object_bytes, bytes);
	cr_assert_eq(stats.compactions, ctx->moves);
	cr_assert_eq(stats.alloc_failures, 0);
	if (background) {
		/* Only the grower meets the limit; an allocation just finds no chunk. */
		cr_assert_eq(ctx->enospc, 0);
		cr_assert_eq(stats.grow_misses, ctx->eagain);
	} else {
		cr_assert_eq(stats.limit_hits, ctx->enospc);
		cr_assert_eq(ctx->eagain, 0);
	}

	for (unsigned i = 0; i < MT_SLOTS; i++) {
		if (ctx->slots[i].handle != POOL_HANDLE_INVALID)
			pool_release(ctx->pool, ctx->slots[i].handle);
		pthread_mutex_destroy(&ctx->slots[i].lock);
	}
	stats = background ? stats_settled(ctx->pool) : stats_of(ctx->pool);
	cr_assert_eq(stats.objects, 0);
	cr_assert_eq(stats.chunks, 0);
	/* What is left is the reserve, or with background growth the spares. */
	cr_assert_leq(stats.footprint_bytes, background ? SPARES_MAX(MT_LIMIT) : RESERVE_MAX);
	pool_free(ctx->pool);
	free(ctx);
}

Test(pool, concurrent_compaction, .timeout = 120)
{
	run_concurrent(false);
}

Test(pool, concurrent_background_growth, .timeout = 120)
{
	run_concurrent(true);
}

/*
 * Background growth: allocations take chunks the grower prepared, fail with
 * -EAGAIN (never block, never exceed the limit) when none is ready, and
 * emptied chunks are unmapped by the grower.
 */
Test(pool, background_growth, .timeout = 60)
{
	const uint64_t limit = 8 * MIB;
	struct pool *pool = pool_create(limit, 64 * MIB);
	struct pool_stats stats;
	struct objects objs;
	uint64_t rng = 7, spares, eagain = 0, handle = 42;
	uint32_t n = 0;
	int r;

	cr_assert_eq(pool_start_grower(pool), 0);
	/* The first allocation of a class finds no spare, and asks for one. */
	cr_assert_eq(pool_alloc(pool, 1000, &handle), -EAGAIN);
	cr_assert_eq(handle, 42);
	stats = stats_settled(pool);
	cr_assert_gt(stats.footprint_bytes, 0, "the grower prepared no spare chunk");
	cr_assert_eq(pool_alloc(pool, 1000, &handle), 0);
	pool_release(pool, handle);
	eagain = 1;

	/* Fill to the limit; -EAGAIN only means "not ready yet". */
	objects_init(&objs, 2 * limit / 100);
	for (unsigned tries = 0; tries < 200000 && n < objs.n; tries++) {
		r = object_alloc(pool, &objs, n, rng_range(&rng, 100, pool_max_object()));
		if (r == 0) {
			n++;
			continue;
		}
		cr_assert_eq(r, -EAGAIN, "allocation %u: %d", n, r);
		eagain++;
		usleep(200);
		stats = stats_of(pool);
		if (stats.limit_hits > 0 && eagain > 1000)
			break; /* the grower stopped at the limit */
	}
	stats = stats_of(pool);
	cr_log_info("background growth: %u objects, %" PRIu64 " EAGAIN", n, eagain);
	cr_assert_eq(stats.grow_misses, eagain);
	cr_assert_gt(stats.limit_hits, 0, "the pool never reached its limit");
	cr_assert_leq(stats.footprint_bytes, limit);
	cr_assert_geq(stats.footprint_bytes, limit / 2, "stopped far below the limit");
	cr_assert_eq(stats.alloc_failures, 0);
	objects_verify_stats(pool, &objs);

	/* Emptied chunks go back to the system through the grower; spares stay. */
	objects_release_all(pool, &objs);
	stats = stats_settled(pool);
	spares = stats.footprint_bytes;
	cr_log_info("background growth: spare chunks of the classes used: %" PRIu64 " KiB",
		    spares / (uint64_t)KIB);
	cr_assert_eq(stats.objects, 0);
	cr_assert_eq(stats.chunks, 0);
	cr_assert_leq(spares, SPARES_MAX(limit));

	/* A limit under the spares: the grower drops them and maps none. */
	cr_assert_eq(pool_set_limit(pool, 0), 0);
	stats = stats_settled(pool);
	cr_assert_eq(stats.footprint_bytes, 0);
	handle = 42;
	cr_assert_eq(pool_alloc(pool, 1000, &handle), -EAGAIN);
	cr_assert_eq(handle, 42);
	free(objs.v);
	pool_free(pool);
}

/*
 * Background growth keeps up to four spare chunks for a class in use, so
 * that a burst of writes finds chunks ready while the grower maps more;
 * beyond the first, only within limit / 64.
 */
Test(pool, background_growth_spare_depth, .timeout = 60)
{
	struct pool *roomy = pool_create(64 * MIB, 64 * MIB);
	struct pool *tight = pool_create(128 * KIB, 64 * MIB);
	uint64_t handle = 42, one, four;

	cr_assert_eq(pool_start_grower(roomy), 0);
	cr_assert_eq(pool_start_grower(tight), 0);
	cr_assert_eq(pool_alloc(roomy, 1000, &handle), -EAGAIN);
	cr_assert_eq(pool_alloc(tight, 1000, &handle), -EAGAIN);
	four = stats_settled(roomy).footprint_bytes;
	one = stats_settled(tight).footprint_bytes;
	cr_log_info("spares of one class: %" PRIu64 " bytes with room, %" PRIu64 " without",
		    four, one);
	cr_assert_gt(one, 0, "the grower prepared no spare chunk");
	cr_assert_eq(four, 4 * one);
	pool_free(roomy);
	pool_free(tight);
}
