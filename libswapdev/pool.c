/* SPDX-License-Identifier: MIT */
/*
 * pool.c - size-class allocator for compressed objects.
 *
 * What it is: a zsmalloc-like allocator. Objects (header included) of
 * 8..4104 bytes are rounded up to one of 115 size classes; each class
 * carves fixed-size slots out of chunks of 1..32 pages of the arena.
 *
 * Arena: one shared mapping of a memfd (the store's state memfd,
 * state_region.h, so that a new process can adopt the objects), where
 * chunk index i always lives at i * POOL_CHUNK_SPAN. Never one malloc per
 * object: the daemon's mlockall(MCL_FUTURE | MCL_ONFAULT) locks chunk
 * memory as it is populated, and an empty chunk goes straight back to the
 * kernel by punching its range out of the memfd (fallocate; MADV_REMOVE
 * refuses locked memory). Chunks are populated when they are made
 * (populate_write): the footprint is memory really held, and the page
 * faults are paid once per chunk rather than inside the caller's copies.
 * The arena's address space is sparse (128 KiB per chunk index) and costs
 * nothing until populated. Beside the arena, the state memfd holds one
 * class byte per chunk index (the class + 1, 0 while the index holds no
 * chunk), written before the chunk can hold an object: with the trailers
 * (below) it is what adoption needs to rebuild the chunk table.
 *
 * Class table: class sizes are multiples of 8 (objects stay 8-aligned).
 * They start at 32 and grow by size/32 rounded down to 8, clamped to
 * 16..64 bytes: 16-byte steps up to 767, 64-byte steps from 2048, 4104
 * last. Rounding up then loses at most 16 bytes below 512 and at most ~3%
 * (~1.5% on average) above, with few enough classes that their partly used
 * chunks stay cheap.
 *
 * Chunk sizes: each class picks the smallest chunk of 1..32 pages that
 * holds at least 4 slots and wastes at most 2.5% of it (the tail no slot
 * fits in, plus the trailer below); when none does, the least wasteful one.
 * Most classes need 1..8 pages; the classes above 3600 bytes need more
 * (4104-byte objects: 31 per 32 pages). At least 4 slots, because chunks of
 * 1 or 2 slots come and go with single objects: with them, 2.5% of random
 * release+alloc pairs cost a populate and a punch; with 4, 0.08%. At most 128.
 *
 * Chunk layout: slot 0 .. slot capacity-1, then a trailer of one byte per
 * slot holding (class size - requested size + 1), or 0 for a free slot, so
 * that pool_release knows the requested size for object_bytes without
 * per-object metadata outside the chunk, and adoption can tell objects
 * that no slot word references (a store that died between allocating and
 * publishing one) from free slots. Chunk memory is the footprint, trailer
 * included.
 *
 * Chunk table: one 40-byte descriptor per chunk in an array sized from
 * max_bytes (a chunk is at least a page, so max_bytes / 4096 entries
 * suffice, at most 2^32 - 1), the process's own. It is mapped
 * MAP_NORESERVE and indices are reused last-freed first above a high-water
 * mark, so only the part in use is ever touched. The descriptor keeps the
 * chunk's object size, a 128-bit map of live slots and the links of its
 * fullness list; pool_adopt_object() and pool_adopt_finish() rebuild it.
 *
 * Handle: (chunk index << 7) | slot index, at most 39 of the 43 bits.
 * pool_map is a load and two multiply-adds, without a lock: a handle is
 * only used while its object lives, and a chunk's object size does not
 * change while it holds objects.
 *
 * Per class: chunks with free slots sit on one of four circular lists by
 * fullness (used * 4 / capacity); full chunks on none. Allocation takes the
 * first chunk of the fullest non-empty list and the lowest free slot: O(1),
 * and it lets sparse chunks drain. A chunk whose last object is released
 * goes at once to the reserve or back to the system.
 *
 * Reserve: up to 4 emptied chunks and 128 KiB are kept populated rather
 * than punched, with their indices, to ride out moments when the system
 * refuses memory (a chunk of the class's size is reused first; when
 * populating fails, any chunk at least as large serves). The reserve
 * counts in the footprint; when the limit is in the way of growth, reserve
 * chunks are punched to make room. The chunks statistic counts chunks
 * holding objects, not the reserve.
 *
 * Limit: the footprint is claimed under pool->lock before a chunk is
 * populated, so concurrent classes can never push it past the limit
 * together. Lowering the limit punches reserve chunks and otherwise only
 * stops growth. An index goes back to the free list only after its range
 * is punched, so a punch never hits a chunk made meanwhile.
 *
 * Compaction: per class, while the free slots add up to at least one
 * chunk (so that a chunk can be emptied: zsmalloc's rule), take the
 * sparsest chunk this pass has neither tried to empty nor filled, take it
 * off its list, and move each of its objects to a free slot of the fullest
 * chunk by calling move(). Both are marked with the pass number, so that
 * no object moves twice in a pass. A refused move gives the destination
 * slot back; a chunk left with objects goes back to the tail of its list.
 * The class lock is dropped between source chunks, and a pass tries at
 * most as many sources as the class had chunks, so that it ends even while
 * allocations keep adding chunks. The owner field is read with a relaxed
 * atomic load: the caller writes it after pool_alloc, under none of the
 * pool's locks, so it may be stale, and move() must check under the
 * owner's lock that the owner still points at the object.
 *
 * Footprint analysis: rounding to classes costs ~1.5%, chunk tails and
 * trailers ~1%, the reserve at most 128 KiB, and after a compaction whose
 * moves were all accepted each class holds at most one partly used chunk
 * (half a chunk on average, 1.1 MiB over the 115 classes). Measured
 * (tests/unit/test-pool.c): 20000 objects of 200..4104 bytes (43 MB) cost
 * 4.4% more, 7.4% after a random half is released and compacted; lz4
 * output of synthetic pages 5.1% and 7.4%. With 300000 objects: 2.4%
 * (100..4104 bytes), 3.0% (4104 bytes only). Small pools pay relatively
 * more for the partly used chunks.
 *
 * Background growth (pool_start_grower, used by the daemon): allocation
 * and release then make no system call and touch no new memory. Each class
 * keeps up to SPARE_DEPTH spare chunks, populated, touched and entered in
 * the table by the grower thread once the class is first used;
 * an allocation that needs a new chunk takes a spare and asks for more,
 * or, with none ready, fails with -EAGAIN at once (the store writes that
 * page to disk instead). An emptied chunk becomes a spare, or goes on a
 * list that the grower punches. Why: in the daemon, a page fault on the
 * request path is charged to its memory cgroup and may wait for swap
 * writes that only the daemon can serve, and a punch could wait for the
 * locks that such a fault holds. Spares count in the footprint; above
 * the limit the grower maps none and drops them. A class's first spare
 * costs up to 2.3 MiB if all 115 classes are in use; the others share
 * limit / 64, so that a small pool keeps its headroom for the classes that
 * are written. Why up to four: with one, a burst of writes used up a
 * class's spare before the grower (5-6 us per page on a VM with shadow
 * page tables) had the next one ready, and pages went to disk.
 *
 * Statistics: global relaxed atomics, so that pool_get_stats is cheap
 * enough for the store to call on every write (watermark check). Their
 * cache line is all that classes share when allocating and releasing, but
 * for pool->lock when a chunk is made or given back.
 *
 * Lock order: compact_lock -> class lock -> pool->lock. pool->lock guards the
 * reserve, the chunk index allocator, the unmap list and changes of the
 * footprint; it is held for no system call. A class's spare is guarded by
 * its class lock. move() runs under the class lock and must not
 * block on the owner's lock nor call pool_alloc/pool_release.
 */
#include "pool.h"

#include <assert.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common.h"

#define OBJ_BITS	     7
#define OBJ_MASK	     ((1u << OBJ_BITS) - 1)
#define MAX_OBJS_PER_CHUNK   (1u << OBJ_BITS)
#define MIN_OBJS_PER_CHUNK   4u
#define MIN_CLASS_SIZE	     32u
#define MAX_CHUNK_PAGES	     32u
#define TAIL_WASTE_PER_MILLE 25u   /* accepted chunk waste, tail and trailer */
#define MAX_CLASSES	     128u  /* 115 are used */
#define NR_GROUPS	     4u	   /* fullness lists per class */
#define GROUP_NONE	     0xffu /* full, or taken off its list by compaction */
#define RESERVE_CHUNKS	     4u
#define RESERVE_BYTES	     (128u << 10)
#define SPARE_DEPTH	     4u	   /* background growth: ready chunks per class */
#define SPARE_EXTRA_SHARE    64u   /* spares beyond a class's first: limit / 64 */
#define NIL		     UINT32_MAX /* no chunk index */

/* The chunk table entry. obj_size is read by pool_map without a lock. */
struct chunk {
	uint64_t live[2]; /* bitmap of allocated slots */
	uint32_t prev;	  /* fullness list links; next also chains free indices */
	uint32_t next;
	uint32_t obj_size; /* class size, copied so that pool_map reads one line */
	uint32_t gen;	   /* last compaction pass that tried to empty or fill it */
	uint16_t pages;	   /* populated length: a reserve chunk may exceed the class's */
	uint16_t used;	   /* allocated slots */
	uint8_t cls;
	uint8_t group; /* fullness list it is on, or GROUP_NONE */
};

struct size_class {
	pthread_mutex_t lock;
	uint32_t size;		  /* slot size */
	uint16_t pages;		  /* chunk length */
	uint16_t capacity;	  /* slots per chunk */
	uint32_t head[NR_GROUPS]; /* partly used chunks, [0] sparsest; caller holds lock */
	uint32_t spare;		  /* background growth: ready empty chunks (by next), or NIL */
	uint32_t nr_spares;	  /* chunks on the spare list, at most SPARE_DEPTH */
	uint64_t chunks;	  /* caller holds lock */
	uint64_t objects;	  /* caller holds lock */
} __attribute__((aligned(64)));	  /* class locks on separate cache lines */

/* An emptied chunk kept populated, with its index. */
struct reserve_chunk {
	uint32_t index;
	uint16_t pages;
};

struct pool {
	/* Read-only after pool_new. */
	struct chunk *table;
	uint32_t table_len;
	struct pool_region region; /* the arena and class bytes */
	bool owns_region;	   /* pool_new made a memfd of its own */
	unsigned n_classes;
	uint64_t max;
	/* Class index, by DIV_ROUND_UP(size, 8). */
	uint8_t class_of[(SWAPDEV_PAGE_SIZE + sizeof(struct pool_obj)) / 8 + 1];

	/* Relaxed atomic counters, written by every alloc and release: own cache line. */
	uint64_t objects __attribute__((aligned(64)));
	uint64_t object_bytes;
	uint64_t chunks;
	uint64_t alloc_failures;
	uint64_t limit_hits;
	uint64_t compactions;

	/* lock guards the fields from here to limit. */
	pthread_mutex_t lock __attribute__((aligned(64)));
	uint32_t table_used; /* high-water mark of chunk indices */
	uint32_t free_index; /* last freed index, chained through chunk.next */
	struct reserve_chunk reserve[RESERVE_CHUNKS];
	unsigned n_reserve;
	uint64_t reserve_bytes;
	uint64_t footprint; /* changed under lock, read anywhere with relaxed atomics */
	uint64_t limit;	    /* likewise */
	uint32_t unmap_head; /* background growth: emptied chunks for the grower */
	pthread_cond_t grow_cond;
	bool grow_stop;
	bool limit_changed; /* the grower may have spares to drop */

	/* Background growth (pool_start_grower). */
	bool background;
	pthread_t grower;
	uint64_t wanted[2]; /* classes whose spare was taken; relaxed atomics */
	uint64_t grow_misses;
	uint64_t extra_spare_bytes; /* spares beyond each class's first; relaxed atomic */

	pthread_mutex_t compact_lock; /* one compaction at a time */
	uint32_t compact_gen;	      /* caller holds compact_lock */

	struct size_class classes[MAX_CLASSES];
};

size_t pool_max_object(void)
{
	return SWAPDEV_PAGE_SIZE + sizeof(struct pool_obj);
}

static inline uint64_t handle_make(uint32_t index, unsigned slot)
{
	return (uint64_t)index << OBJ_BITS | slot;
}

static inline char *chunk_base(const struct pool *pool, uint32_t index)
{
	return pool->region.arena + (size_t)index * POOL_CHUNK_SPAN;
}

static inline uint8_t *chunk_trailer(const struct pool *pool, uint32_t index,
				     const struct size_class *sc)
{
	return (uint8_t *)chunk_base(pool, index) + (size_t)sc->capacity * sc->size;
}

/*
 * Give the memory of chunk index back; its class byte is cleared first.
 * The whole span: the chunk may have come from a larger reserve chunk
 * (or, after adoption, be known only by its class's length).
 */
static void chunk_punch(struct pool *pool, uint32_t index)
{
	__atomic_store_n(&pool->region.classes[index], POOL_CLASS_NONE, __ATOMIC_RELEASE);
	(void)fallocate(pool->region.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			(off_t)(pool->region.arena_offset + (uint64_t)index * POOL_CHUNK_SPAN),
			POOL_CHUNK_SPAN);
}

/*
 * Populate len bytes of chunk index for writing. -ENOMEM (and nothing
 * held) when the system refuses the memory; kernels without
 * MADV_POPULATE_WRITE (EINVAL) fault it in by touching.
 */
static int chunk_populate(struct pool *pool, uint32_t index, uint64_t len)
{
	char *base = chunk_base(pool, index);

	if (madvise(base, len, MADV_POPULATE_WRITE) < 0 && errno != EINVAL) {
		chunk_punch(pool, index);
		return -ENOMEM;
	}
	populate_write(base, len);
	return 0;
}

/* Smallest chunk wasting at most TAIL_WASTE_PER_MILLE, else the least wasteful one. */
static void chunk_shape(uint32_t size, uint16_t *ret_pages, uint16_t *ret_capacity)
{
	uint64_t best_waste = 0, best_len = 0;
	unsigned best_pages = 0, best_capacity = 0;

	for (unsigned pages = 1; pages <= MAX_CHUNK_PAGES; pages++) {
		uint64_t len = (uint64_t)pages * SWAPDEV_PAGE_SIZE;
		unsigned capacity = MIN(MAX_OBJS_PER_CHUNK, len / (size + 1));
		uint64_t waste;

		if (capacity < MIN_OBJS_PER_CHUNK)
			continue;
		waste = len - (uint64_t)capacity * size;
		if (best_pages == 0 || waste * best_len < best_waste * len) {
			best_waste = waste;
			best_len = len;
			best_pages = pages;
			best_capacity = capacity;
		}
		if (waste * 1000 <= TAIL_WASTE_PER_MILLE * len)
			break;
	}
	*ret_pages = best_pages;
	*ret_capacity = best_capacity;
}

static void classes_init(struct pool *pool)
{
	uint32_t size = MIN_CLASS_SIZE, prev = 0, max = pool_max_object();
	unsigned n = 0;

	for (;;) {
		struct size_class *sc = &pool->classes[n];

		assert(n < MAX_CLASSES && size % 8 == 0);
		sc->size = size;
		chunk_shape(size, &sc->pages, &sc->capacity);
		for (unsigned g = 0; g < NR_GROUPS; g++)
			sc->head[g] = NIL;
		for (uint32_t i = prev / 8 + 1; i <= size / 8; i++)
			pool->class_of[i] = n;
		n++;
		if (size == max)
			break;
		prev = size;
		size = MIN(size + MIN(MAX((size / 32) & ~7u, 16u), 64u), max);
	}
	pool->n_classes = n;
}

/* Circular doubly linked lists of chunk indices; caller holds the class lock. */
static void list_insert(struct pool *pool, uint32_t *head, uint32_t index, bool tail)
{
	struct chunk *c = &pool->table[index];
	struct chunk *first;

	if (*head == NIL) {
		c->prev = c->next = index;
		*head = index;
		return;
	}
	first = &pool->table[*head];
	c->next = *head;
	c->prev = first->prev;
	pool->table[first->prev].next = index;
	first->prev = index;
	if (!tail)
		*head = index;
}

static void list_remove(struct pool *pool, uint32_t *head, uint32_t index)
{
	struct chunk *c = &pool->table[index];

	if (c->next == index) {
		*head = NIL;
		return;
	}
	pool->table[c->prev].next = c->next;
	pool->table[c->next].prev = c->prev;
	if (*head == index)
		*head = c->next;
}

static unsigned group_of(const struct chunk *c, const struct size_class *sc)
{
	if (c->used == sc->capacity)
		return GROUP_NONE;
	return c->used * NR_GROUPS / sc->capacity;
}

/* Put a chunk holding objects on the list its fullness asks for. Caller holds class lock. */
static void chunk_regroup(struct pool *pool, struct size_class *sc, uint32_t index)
{
	struct chunk *c = &pool->table[index];
	unsigned group = group_of(c, sc);

	if (group == c->group)
		return;
	if (c->group != GROUP_NONE)
		list_remove(pool, &sc->head[c->group], index);
	c->group = group;
	if (group != GROUP_NONE)
		list_insert(pool, &sc->head[group], index, false);
}

/* Caller holds pool->lock. Takes the smallest reserve chunk of >= pages (exactly, if asked). */
static bool reserve_take(struct pool *pool, unsigned pages, bool exact, uint32_t *ret_index,
			 uint16_t *ret_pages)
{
	unsigned best = RESERVE_CHUNKS;

	for (unsigned i = 0; i < pool->n_reserve; i++) {
		unsigned p = pool->reserve[i].pages;

		if (p < pages || (exact && p != pages))
			continue;
		if (best == RESERVE_CHUNKS || p < pool->reserve[best].pages)
			best = i;
	}
	if (best == RESERVE_CHUNKS)
		return false;
	*ret_index = pool->reserve[best].index;
	*ret_pages = pool->reserve[best].pages;
	pool->reserve_bytes -= (uint64_t)*ret_pages * SWAPDEV_PAGE_SIZE;
	pool->reserve[best] = pool->reserve[--pool->n_reserve];
	return true;
}

/*
 * Caller holds pool->lock. Takes reserve chunks into drop[] (for the caller
 * to punch after unlocking, release_chunks()) until the footprint plus
 * extra fits the limit.
 */
static unsigned reserve_trim(struct pool *pool, uint64_t extra, struct reserve_chunk *drop)
{
	unsigned n = 0;

	while (pool->n_reserve > 0 &&
	       counter_read(&pool->footprint) + extra > counter_read(&pool->limit)) {
		uint64_t len;

		drop[n] = pool->reserve[--pool->n_reserve];
		len = (uint64_t)drop[n].pages * SWAPDEV_PAGE_SIZE;
		pool->reserve_bytes -= len;
		counter_add(&pool->footprint, -len);
		n++;
	}
	return n;
}

/* Caller holds pool->lock. */
static uint32_t index_get(struct pool *pool)
{
	uint32_t index = pool->free_index;

	if (index != NIL) {
		pool->free_index = pool->table[index].next;
		return index;
	}
	if (pool->table_used == pool->table_len)
		return NIL;
	return pool->table_used++;
}

/* Caller holds pool->lock. */
static void index_put(struct pool *pool, uint32_t index)
{
	pool->table[index].next = pool->free_index;
	pool->free_index = index;
}

/* Punch chunks taken off the reserve, then free their indices (not before: see Limit). */
static void release_chunks(struct pool *pool, const struct reserve_chunk *chunks, unsigned n)
{
	if (n == 0)
		return;
	for (unsigned i = 0; i < n; i++)
		chunk_punch(pool, chunks[i].index);
	pthread_mutex_lock(&pool->lock);
	for (unsigned i = 0; i < n; i++)
		index_put(pool, chunks[i].index);
	pthread_mutex_unlock(&pool->lock);
}

/*
 * A populated chunk of pages pages, within the limit: a reserve chunk of
 * that size, else a free index populated now, else (system out of memory)
 * any larger reserve chunk. Returns 0, -ENOSPC (limit, or no free index),
 * -ENOMEM (system).
 */
static int chunk_memory_get(struct pool *pool, unsigned pages, uint32_t *ret_index,
			    uint16_t *ret_pages)
{
	uint64_t len = (uint64_t)pages * SWAPDEV_PAGE_SIZE;
	struct reserve_chunk drop[RESERVE_CHUNKS];
	uint32_t index = NIL;
	unsigned n_drop = 0;
	bool fits, rescued;

	pthread_mutex_lock(&pool->lock);
	if (reserve_take(pool, pages, true, ret_index, ret_pages)) {
		pthread_mutex_unlock(&pool->lock);
		return 0;
	}
	fits = counter_read(&pool->footprint) + len <= counter_read(&pool->limit);
	/* At the limit, a larger reserve chunk beats punching it to populate a smaller one. */
	if (!fits && reserve_take(pool, pages, false, ret_index, ret_pages)) {
		pthread_mutex_unlock(&pool->lock);
		return 0;
	}
	/* Punch reserve chunks to make room, unless even that would not be enough. */
	if (!fits && counter_read(&pool->footprint) - pool->reserve_bytes + len <=
			 counter_read(&pool->limit)) {
		n_drop = reserve_trim(pool, len, drop);
		fits = true;
	}
	if (fits)
		index = index_get(pool);
	/* Claim the bytes before populating them, so that classes cannot overshoot together. */
	if (index != NIL)
		counter_add(&pool->footprint, len);
	pthread_mutex_unlock(&pool->lock);
	release_chunks(pool, drop, n_drop);
	if (index == NIL) {
		counter_add(&pool->limit_hits, 1);
		return -ENOSPC;
	}

	if (chunk_populate(pool, index, len) == 0) {
		*ret_index = index;
		*ret_pages = pages;
		return 0;
	}

	pthread_mutex_lock(&pool->lock);
	index_put(pool, index);
	counter_add(&pool->footprint, -len);
	rescued = reserve_take(pool, pages, false, ret_index, ret_pages);
	pthread_mutex_unlock(&pool->lock);
	if (rescued)
		return 0;
	counter_add(&pool->alloc_failures, 1);
	return -ENOMEM;
}

static void grower_wake(struct pool *pool)
{
	pthread_mutex_lock(&pool->lock);
	pthread_cond_signal(&pool->grow_cond);
	pthread_mutex_unlock(&pool->lock);
}

/* Ask the grower for a spare chunk of class cls. */
static void spare_want(struct pool *pool, unsigned cls)
{
	uint64_t bit = 1ull << (cls % 64);

	if (!(__atomic_fetch_or(&pool->wanted[cls / 64], bit, __ATOMIC_RELAXED) & bit))
		grower_wake(pool);
}

/*
 * A class's spare list. Its first spare is always allowed; the next ones,
 * up to SPARE_DEPTH, only within a share of the limit, so that a small
 * pool does not hold its headroom in chunks of classes nobody writes.
 * Caller holds the class lock.
 */
static bool spare_room(struct pool *pool, const struct size_class *sc)
{
	uint64_t len = (uint64_t)sc->pages * SWAPDEV_PAGE_SIZE;

	if (sc->nr_spares == 0)
		return true;
	return sc->nr_spares < SPARE_DEPTH &&
	       counter_read(&pool->extra_spare_bytes) + len <=
		   counter_read(&pool->limit) / SPARE_EXTRA_SHARE;
}

static bool spare_push(struct pool *pool, struct size_class *sc, uint32_t index)
{
	if (!spare_room(pool, sc))
		return false;
	if (sc->nr_spares > 0)
		counter_add(&pool->extra_spare_bytes, (uint64_t)sc->pages * SWAPDEV_PAGE_SIZE);
	pool->table[index].next = sc->spare;
	sc->spare = index;
	sc->nr_spares++;
	return true;
}

static uint32_t spare_pop(struct pool *pool, struct size_class *sc)
{
	uint32_t index = sc->spare;

	if (index == NIL)
		return NIL;
	sc->spare = pool->table[index].next;
	if (--sc->nr_spares > 0)
		counter_add(&pool->extra_spare_bytes, -(uint64_t)sc->pages * SWAPDEV_PAGE_SIZE);
	return index;
}

/* Background growth: a spare of the class, else -EAGAIN. Caller holds the class lock. */
static int chunk_take_spare(struct pool *pool, unsigned cls, uint32_t *ret_index)
{
	struct size_class *sc = &pool->classes[cls];
	uint32_t index = spare_pop(pool, sc);

	spare_want(pool, cls);
	if (index == NIL) {
		counter_add(&pool->grow_misses, 1);
		return -EAGAIN;
	}
	sc->chunks++;
	counter_add(&pool->chunks, 1);
	*ret_index = index;
	return 0;
}

/*
 * Fill in the table entry of an empty populated chunk of class cls, on no
 * list, and record its class in the state memfd before it can hold an
 * object (adoption reads objects by it).
 */
static void chunk_init(struct pool *pool, uint32_t index, unsigned cls, uint16_t pages)
{
	struct size_class *sc = &pool->classes[cls];
	struct chunk *c = &pool->table[index];

	c->pages = pages;
	c->obj_size = sc->size;
	c->cls = cls;
	c->group = GROUP_NONE;
	c->used = 0;
	c->live[0] = c->live[1] = 0;
	c->gen = 0;
	/* A reused index or reserve chunk holds another class's bytes there. */
	memset(chunk_trailer(pool, index, sc), 0, sc->capacity);
	__atomic_store_n(&pool->region.classes[index], (uint8_t)(cls + 1), __ATOMIC_RELEASE);
}

/* A new empty chunk for class cls, on no list. Caller holds the class lock. */
static int chunk_new(struct pool *pool, unsigned cls, uint32_t *ret_index)
{
	struct size_class *sc = &pool->classes[cls];
	uint32_t index;
	uint16_t pages;
	int r;

	if (pool->background)
		return chunk_take_spare(pool, cls, ret_index);
	r = chunk_memory_get(pool, sc->pages, &index, &pages);
	if (r < 0)
		return r;
	chunk_init(pool, index, cls, pages);
	sc->chunks++;
	counter_add(&pool->chunks, 1);
	*ret_index = index;
	return 0;
}

/* Background growth: hand an empty chunk to the grower to punch. */
static void unmap_list_push(struct pool *pool, uint32_t index)
{
	pthread_mutex_lock(&pool->lock);
	pool->table[index].next = pool->unmap_head;
	pool->unmap_head = index;
	pthread_cond_signal(&pool->grow_cond);
	pthread_mutex_unlock(&pool->lock);
}

/* Give back an empty chunk that is on no list. Caller holds the class lock. */
static void chunk_release(struct pool *pool, struct size_class *sc, uint32_t index)
{
	struct chunk *c = &pool->table[index];
	struct reserve_chunk chunk = {.index = index, .pages = c->pages};
	uint64_t len = (uint64_t)c->pages * SWAPDEV_PAGE_SIZE;
	bool keep;

	assert(c->used == 0 && c->group == GROUP_NONE);
	sc->chunks--;
	counter_add(&pool->chunks, -1);
	if (pool->background) {
		/* No punch here: keep it as a spare, or let the grower punch it. */
		c->gen = 0;
		if (counter_read(&pool->footprint) <= counter_read(&pool->limit) &&
		    spare_push(pool, sc, index))
			return;
		unmap_list_push(pool, index);
		return;
	}

	pthread_mutex_lock(&pool->lock);
	keep = pool->n_reserve < RESERVE_CHUNKS && pool->reserve_bytes + len <= RESERVE_BYTES &&
	       counter_read(&pool->footprint) <= counter_read(&pool->limit);
	if (keep) {
		__atomic_store_n(&pool->region.classes[index], POOL_CLASS_NONE, __ATOMIC_RELAXED);
		pool->reserve[pool->n_reserve++] = chunk;
		pool->reserve_bytes += len;
	}
	pthread_mutex_unlock(&pool->lock);
	if (keep)
		return;
	chunk_punch(pool, index);
	pthread_mutex_lock(&pool->lock);
	index_put(pool, index);
	counter_add(&pool->footprint, -len);
	pthread_mutex_unlock(&pool->lock);
}

/* Take the lowest free slot of a chunk that has one. Caller holds the class lock. */
static unsigned slot_alloc(struct pool *pool, struct size_class *sc, uint32_t index)
{
	struct chunk *c = &pool->table[index];
	unsigned w = ~c->live[0] ? 0 : 1;
	unsigned slot = w * 64 + __builtin_ctzll(~c->live[w]);

	assert(c->used < sc->capacity && slot < sc->capacity);
	c->live[w] |= 1ull << (slot % 64);
	c->used++;
	chunk_regroup(pool, sc, index);
	return slot;
}

/* Clear a slot of a chunk that keeps other objects or is off the lists. */
static void slot_clear(struct chunk *c, unsigned slot)
{
	assert(c->live[slot / 64] & (1ull << (slot % 64)));
	c->live[slot / 64] &= ~(1ull << (slot % 64));
	c->used--;
}

/* Fullest chunk with a free slot, NIL if none. Caller holds the class lock. */
static uint32_t chunk_fullest(const struct size_class *sc)
{
	for (unsigned g = NR_GROUPS; g-- > 0;)
		if (sc->head[g] != NIL)
			return sc->head[g];
	return NIL;
}

int pool_alloc(struct pool *pool, size_t size, uint64_t *ret_handle)
{
	struct size_class *sc;
	uint32_t index;
	unsigned cls, slot;
	int r;

	if (size < sizeof(struct pool_obj) || size > pool_max_object())
		return -EINVAL;
	cls = pool->class_of[DIV_ROUND_UP(size, 8)];
	sc = &pool->classes[cls];

	pthread_mutex_lock(&sc->lock);
	index = chunk_fullest(sc);
	if (index == NIL) {
		r = chunk_new(pool, cls, &index);
		if (r < 0) {
			pthread_mutex_unlock(&sc->lock);
			return r;
		}
	}
	slot = slot_alloc(pool, sc, index);
	chunk_trailer(pool, index, sc)[slot] = (uint8_t)(sc->size - size + 1);
	sc->objects++;
	pthread_mutex_unlock(&sc->lock);

	counter_add(&pool->objects, 1);
	counter_add(&pool->object_bytes, size);
	*ret_handle = handle_make(index, slot);
	return 0;
}

struct pool_obj *pool_map(struct pool *pool, uint64_t handle)
{
	uint32_t index = handle >> OBJ_BITS;

	return (struct pool_obj *)(chunk_base(pool, index) +
				   (size_t)(handle & OBJ_MASK) * pool->table[index].obj_size);
}

void pool_release(struct pool *pool, uint64_t handle)
{
	uint32_t index = handle >> OBJ_BITS;
	unsigned slot = handle & OBJ_MASK;
	struct chunk *c = &pool->table[index];
	struct size_class *sc = &pool->classes[c->cls];
	size_t size;

	pthread_mutex_lock(&sc->lock);
	size = sc->size - (chunk_trailer(pool, index, sc)[slot] - 1u);
	chunk_trailer(pool, index, sc)[slot] = 0;
	slot_clear(c, slot);
	sc->objects--;
	if (c->used == 0) {
		if (c->group != GROUP_NONE)
			list_remove(pool, &sc->head[c->group], index);
		c->group = GROUP_NONE;
		chunk_release(pool, sc, index);
	} else {
		chunk_regroup(pool, sc, index);
	}
	pthread_mutex_unlock(&sc->lock);

	counter_add(&pool->objects, -1);
	counter_add(&pool->object_bytes, -(uint64_t)size);
}

/*
 * Sparsest chunk that this pass has neither tried to empty nor filled.
 * Tried chunks go to the tail of their list, so the walk is short.
 */
static uint32_t compact_source(struct pool *pool, const struct size_class *sc, uint32_t gen)
{
	for (unsigned g = 0; g < NR_GROUPS; g++) {
		uint32_t index = sc->head[g];

		if (index == NIL)
			continue;
		do {
			if (pool->table[index].gen != gen)
				return index;
			index = pool->table[index].next;
		} while (index != sc->head[g]);
	}
	return NIL;
}

/* Move the objects of src (off its list) elsewhere. Caller holds the class lock. */
static void compact_chunk(struct pool *pool, struct size_class *sc, uint32_t src, uint32_t gen,
			  pool_move_fn move, void *opaque)
{
	struct chunk *c = &pool->table[src];

	for (unsigned w = 0; w < ARRAY_SIZE(c->live); w++) {
		uint64_t bits = c->live[w];

		for (; bits; bits &= bits - 1) {
			unsigned slot = w * 64 + __builtin_ctzll(bits);
			struct pool_obj *obj =
			    (struct pool_obj *)(chunk_base(pool, src) + (size_t)slot * sc->size);
			uint32_t owner = __atomic_load_n(&obj->owner, __ATOMIC_RELAXED);
			uint32_t dst = chunk_fullest(sc);
			unsigned to;

			if (dst == NIL)
				return;
			/* Moving objects in and out again in one pass would be wasted copies. */
			pool->table[dst].gen = gen;
			to = slot_alloc(pool, sc, dst);
			if (!move(opaque, owner, handle_make(src, slot), handle_make(dst, to),
				  sc->size)) {
				slot_clear(&pool->table[dst], to);
				chunk_regroup(pool, sc, dst);
				continue;
			}
			chunk_trailer(pool, dst, sc)[to] = chunk_trailer(pool, src, sc)[slot];
			chunk_trailer(pool, src, sc)[slot] = 0;
			slot_clear(c, slot);
			counter_add(&pool->compactions, 1);
		}
	}
}

static uint64_t compact_class(struct pool *pool, struct size_class *sc, uint32_t gen,
			      pool_move_fn move, void *opaque)
{
	uint64_t freed = 0, budget;

	pthread_mutex_lock(&sc->lock);
	/* Chunks that allocations create meanwhile must not keep the pass going forever. */
	budget = sc->chunks;
	while (sc->chunks * sc->capacity - sc->objects >= sc->capacity && budget--) {
		uint32_t src = compact_source(pool, sc, gen);
		struct chunk *c;

		if (src == NIL)
			break;
		c = &pool->table[src];
		c->gen = gen;
		list_remove(pool, &sc->head[c->group], src);
		c->group = GROUP_NONE;

		compact_chunk(pool, sc, src, gen, move, opaque);

		if (c->used == 0) {
			chunk_release(pool, sc, src);
			freed++;
		} else {
			c->group = group_of(c, sc);
			list_insert(pool, &sc->head[c->group], src, true);
		}
		/* Let allocations and releases of this class in between chunks. */
		pthread_mutex_unlock(&sc->lock);
		pthread_mutex_lock(&sc->lock);
	}
	pthread_mutex_unlock(&sc->lock);
	return freed;
}

uint64_t pool_compact(struct pool *pool, pool_move_fn move, void *opaque)
{
	uint64_t freed = 0;
	uint32_t gen;

	pthread_mutex_lock(&pool->compact_lock);
	/* New chunks carry gen 0: skip it when the counter wraps. */
	gen = ++pool->compact_gen;
	if (gen == 0)
		gen = ++pool->compact_gen;
	for (unsigned i = 0; i < pool->n_classes; i++)
		freed += compact_class(pool, &pool->classes[i], gen, move, opaque);
	pthread_mutex_unlock(&pool->compact_lock);
	return freed;
}

/* Grower: punch the chunks on the unmap list. */
static void grower_unmap(struct pool *pool)
{
	uint32_t index;

	pthread_mutex_lock(&pool->lock);
	while ((index = pool->unmap_head) != NIL) {
		uint64_t len = (uint64_t)pool->table[index].pages * SWAPDEV_PAGE_SIZE;

		pool->unmap_head = pool->table[index].next;
		pthread_mutex_unlock(&pool->lock);
		chunk_punch(pool, index);
		pthread_mutex_lock(&pool->lock);
		index_put(pool, index);
		counter_add(&pool->footprint, -len);
	}
	pthread_mutex_unlock(&pool->lock);
}

/* Grower: above the limit, spares go. */
static void grower_drop_spares(struct pool *pool)
{
	for (unsigned i = 0; i < pool->n_classes; i++) {
		struct size_class *sc = &pool->classes[i];
		uint32_t index;

		if (counter_read(&pool->footprint) <= counter_read(&pool->limit))
			return;
		pthread_mutex_lock(&sc->lock);
		while ((index = spare_pop(pool, sc)) != NIL)
			unmap_list_push(pool, index);
		pthread_mutex_unlock(&sc->lock);
	}
}

/* Grower: map one more spare chunk for class cls, if it has room for one. */
static bool grower_fill_one(struct pool *pool, unsigned cls)
{
	struct size_class *sc = &pool->classes[cls];
	uint64_t len = (uint64_t)sc->pages * SWAPDEV_PAGE_SIZE;
	uint32_t index;
	bool kept;

	pthread_mutex_lock(&sc->lock);
	kept = spare_room(pool, sc);
	pthread_mutex_unlock(&sc->lock);
	if (!kept)
		return false;
	pthread_mutex_lock(&pool->lock);
	index = NIL;
	if (counter_read(&pool->footprint) + len <= counter_read(&pool->limit)) {
		index = index_get(pool);
		if (index != NIL)
			counter_add(&pool->footprint, len);
	}
	pthread_mutex_unlock(&pool->lock);
	if (index == NIL) {
		counter_add(&pool->limit_hits, 1);
		return false;
	}
	/* The faults happen here, off the request path; they may wait on reclaim. */
	if (chunk_populate(pool, index, len) < 0) {
		counter_add(&pool->alloc_failures, 1);
		pthread_mutex_lock(&pool->lock);
		index_put(pool, index);
		counter_add(&pool->footprint, -len);
		pthread_mutex_unlock(&pool->lock);
		return false;
	}
	chunk_init(pool, index, cls, sc->pages);
	pthread_mutex_lock(&sc->lock);
	kept = spare_push(pool, sc, index);
	pthread_mutex_unlock(&sc->lock);
	if (!kept) /* releases made spares meanwhile, or the share is used up */
		unmap_list_push(pool, index);
	return kept;
}

/* Grower: fill the spare list of class cls. */
static void grower_fill(struct pool *pool, unsigned cls)
{
	while (grower_fill_one(pool, cls))
		;
}

static bool grower_has_work(struct pool *pool)
{
	return pool->grow_stop || pool->limit_changed || pool->unmap_head != NIL ||
	       counter_read(&pool->wanted[0]) || counter_read(&pool->wanted[1]);
}

static void *grower_main(void *arg)
{
	struct pool *pool = arg;
	uint64_t wanted[ARRAY_SIZE(pool->wanted)];

	for (;;) {
		pthread_mutex_lock(&pool->lock);
		while (!grower_has_work(pool))
			pthread_cond_wait(&pool->grow_cond, &pool->lock);
		if (pool->grow_stop) {
			pthread_mutex_unlock(&pool->lock);
			return NULL;
		}
		pool->limit_changed = false;
		pthread_mutex_unlock(&pool->lock);

		grower_unmap(pool);
		for (unsigned w = 0; w < ARRAY_SIZE(pool->wanted); w++)
			wanted[w] = __atomic_exchange_n(&pool->wanted[w], 0, __ATOMIC_RELAXED);
		/* One chunk for every class that asked before more for any. */
		for (unsigned w = 0; w < ARRAY_SIZE(wanted); w++)
			for (uint64_t bits = wanted[w]; bits; bits &= bits - 1)
				grower_fill_one(pool, w * 64 + (unsigned)__builtin_ctzll(bits));
		for (unsigned w = 0; w < ARRAY_SIZE(wanted); w++)
			for (uint64_t bits = wanted[w]; bits; bits &= bits - 1)
				grower_fill(pool, w * 64 + (unsigned)__builtin_ctzll(bits));
		grower_drop_spares(pool);
		grower_unmap(pool);
	}
}

int pool_start_grower(struct pool *pool)
{
	struct reserve_chunk drop[RESERVE_CHUNKS];
	unsigned n_drop;
	int r;

	if (pool->background)
		return 0;
	/* Empties the inline reserve: background growth keeps spares instead. */
	pthread_mutex_lock(&pool->lock);
	n_drop = pool->n_reserve;
	memcpy(drop, pool->reserve, sizeof(drop));
	for (unsigned i = 0; i < n_drop; i++)
		counter_add(&pool->footprint, -(uint64_t)drop[i].pages * SWAPDEV_PAGE_SIZE);
	pool->n_reserve = 0;
	pool->reserve_bytes = 0;
	pthread_mutex_unlock(&pool->lock);
	release_chunks(pool, drop, n_drop);
	r = -pthread_create(&pool->grower, NULL, grower_main, pool);
	if (r < 0)
		return r;
	/* Spares come on first use: only classes in use hold one. */
	pool->background = true;
	return 0;
}

int pool_set_limit(struct pool *pool, uint64_t limit_bytes)
{
	struct reserve_chunk drop[RESERVE_CHUNKS];
	unsigned n_drop;

	if (limit_bytes > pool->max)
		return -EINVAL;
	pthread_mutex_lock(&pool->lock);
	__atomic_store_n(&pool->limit, limit_bytes, __ATOMIC_RELAXED);
	n_drop = reserve_trim(pool, 0, drop);
	if (pool->background) {
		pool->limit_changed = true;
		pthread_cond_signal(&pool->grow_cond);
	}
	pthread_mutex_unlock(&pool->lock);
	release_chunks(pool, drop, n_drop);
	return 0;
}

void pool_get_stats(struct pool *pool, struct pool_stats *ret_stats)
{
	*ret_stats = (struct pool_stats){
	    .objects = counter_read(&pool->objects),
	    .object_bytes = counter_read(&pool->object_bytes),
	    .footprint_bytes = counter_read(&pool->footprint),
	    .limit_bytes = counter_read(&pool->limit),
	    .chunks = counter_read(&pool->chunks),
	    .alloc_failures = counter_read(&pool->alloc_failures),
	    .limit_hits = counter_read(&pool->limit_hits),
	    .compactions = counter_read(&pool->compactions),
	    .grow_misses = counter_read(&pool->grow_misses),
	};
}

uint32_t pool_chunk_indices(uint64_t max_bytes)
{
	/* Chunks are at least a page; past 2^32 - 1 chunks the pool reports ENOSPC. */
	return (uint32_t)MIN(DIV_ROUND_UP(max_bytes, (uint64_t)SWAPDEV_PAGE_SIZE), (uint64_t)NIL);
}

/* A memfd of the pool's own: class bytes, then the arena. */
static int region_new_private(uint32_t nr_chunks, struct pool_region *ret_region)
{
	uint64_t classes_len = ALIGN_UP((uint64_t)nr_chunks, (uint64_t)SWAPDEV_PAGE_SIZE);
	uint64_t len = classes_len + (uint64_t)nr_chunks * POOL_CHUNK_SPAN;
	char *base;
	int fd, r;

	fd = memfd_create("swapdev-pool", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)len) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
	if (base == MAP_FAILED) {
		close(fd);
		return -ENOMEM;
	}
	*ret_region = (struct pool_region){ .fd = fd,
					    .classes_offset = 0,
					    .arena_offset = classes_len,
					    .classes = (uint8_t *)base,
					    .arena = base + classes_len,
					    .nr_chunks = nr_chunks };
	return 0;
}

int pool_new(uint64_t limit_bytes, uint64_t max_bytes, const struct pool_region *region,
	     struct pool **ret_pool)
{
	struct pool *pool;
	uint64_t entries;
	void *table;
	int r;

	if (max_bytes == 0 || limit_bytes > max_bytes)
		return -EINVAL;
	/* A region was sized for its pool when made: an adopter's max_bytes may differ. */
	entries = region ? region->nr_chunks : pool_chunk_indices(max_bytes);

	pool = aligned_alloc(_Alignof(struct pool), ALIGN_UP(sizeof(*pool), _Alignof(struct pool)));
	if (!pool)
		return -ENOMEM;
	memset(pool, 0, sizeof(*pool));
	if (region) {
		pool->region = *region;
	} else {
		r = region_new_private((uint32_t)entries, &pool->region);
		if (r < 0) {
			free(pool);
			return r;
		}
		pool->owns_region = true;
	}
	table = mmap(NULL, entries * sizeof(struct chunk), PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (table == MAP_FAILED) {
		pool->table = NULL;
		pool_free(pool);
		return -ENOMEM;
	}
	pool->table = table;
	pool->table_len = entries;
	pool->free_index = NIL;
	pool->unmap_head = NIL;
	pool->limit = limit_bytes;
	pool->max = max_bytes;
	pthread_mutex_init(&pool->lock, NULL);
	pthread_mutex_init(&pool->compact_lock, NULL);
	pthread_cond_init(&pool->grow_cond, NULL);
	classes_init(pool);
	for (unsigned i = 0; i < pool->n_classes; i++) {
		pthread_mutex_init(&pool->classes[i].lock, NULL);
		pool->classes[i].spare = NIL;
		pool->classes[i].nr_spares = 0;
	}

	*ret_pool = pool;
	return 0;
}

void pool_free(struct pool *pool)
{
	if (!pool)
		return;
	if (pool->background) {
		pthread_mutex_lock(&pool->lock);
		pool->grow_stop = true;
		pthread_cond_signal(&pool->grow_cond);
		pthread_mutex_unlock(&pool->lock);
		pthread_join(pool->grower, NULL);
	}
	/* Chunk memory belongs to the region: a state memfd outlives the pool. */
	if (pool->owns_region) {
		munmap(pool->region.classes,
		       pool->region.arena_offset +
			   (uint64_t)pool->region.nr_chunks * POOL_CHUNK_SPAN);
		close(pool->region.fd);
	}
	if (pool->table) {
		munmap(pool->table, (size_t)pool->table_len * sizeof(struct chunk));
		for (unsigned i = 0; i < pool->n_classes; i++)
			pthread_mutex_destroy(&pool->classes[i].lock);
		pthread_mutex_destroy(&pool->compact_lock);
		pthread_cond_destroy(&pool->grow_cond);
		pthread_mutex_destroy(&pool->lock);
	}
	free(pool);
}

int pool_adopt_object(struct pool *pool, uint64_t handle, size_t size, uint32_t owner)
{
	uint32_t index = (uint32_t)(handle >> OBJ_BITS);
	unsigned slot = handle & OBJ_MASK, cls;
	struct size_class *sc;
	struct pool_obj *obj;
	struct chunk *c;

	if (handle >> OBJ_BITS >= pool->table_len)
		return -ENOENT;
	cls = pool->region.classes[index];
	if (cls == POOL_CLASS_NONE || cls > pool->n_classes)
		return -ENOENT;
	cls--;
	sc = &pool->classes[cls];
	c = &pool->table[index];
	if (slot >= sc->capacity)
		return -ERANGE;
	if (size < sizeof(struct pool_obj) || size > pool_max_object() ||
	    pool->class_of[DIV_ROUND_UP(size, 8)] != cls)
		return -EMSGSIZE;
	if (c->obj_size == 0) { /* first object seen in this chunk */
		c->obj_size = sc->size;
		c->cls = cls;
		c->pages = sc->pages;
		c->group = GROUP_NONE;
	}
	obj = (struct pool_obj *)(chunk_base(pool, index) + (size_t)slot * sc->size);
	if (obj->owner != owner)
		return -EPERM;
	if (c->live[slot / 64] & (1ull << (slot % 64)))
		return -EEXIST;
	c->live[slot / 64] |= 1ull << (slot % 64);
	c->used++;
	/* Compaction may have died between publishing the move and copying this. */
	chunk_trailer(pool, index, sc)[slot] = (uint8_t)(sc->size - size + 1);
	sc->objects++;
	pool->objects++;
	pool->object_bytes += size;
	return 0;
}

/* Adoption: chunk index holds no referenced object. Punch it whole. */
static void adopt_drop_chunk(struct pool *pool, uint32_t index, unsigned cls,
			     struct pool_adopt_totals *totals)
{
	if (cls != POOL_CLASS_NONE && cls <= pool->n_classes) {
		struct size_class *sc = &pool->classes[cls - 1];
		const uint8_t *trailer = chunk_trailer(pool, index, sc);

		for (unsigned i = 0; i < sc->capacity; i++)
			totals->orphan_objects += trailer[i] != 0;
	}
	totals->orphan_chunks++;
	/* Whole span: a reserve chunk reused for a smaller class may have held more pages. */
	chunk_punch(pool, index);
}

/* Adoption: free the unreferenced objects of a chunk that keeps some, and list it. */
static void adopt_keep_chunk(struct pool *pool, uint32_t index, struct pool_adopt_totals *totals)
{
	struct chunk *c = &pool->table[index];
	struct size_class *sc = &pool->classes[c->cls];
	uint8_t *trailer = chunk_trailer(pool, index, sc);

	for (unsigned i = 0; i < sc->capacity; i++) {
		if (!(c->live[i / 64] & (1ull << (i % 64))) && trailer[i] != 0) {
			trailer[i] = 0;
			totals->orphan_objects++;
		}
	}
	sc->chunks++;
	pool->chunks++;
	pool->footprint += (uint64_t)c->pages * SWAPDEV_PAGE_SIZE;
	chunk_regroup(pool, sc, index);
}

void pool_adopt_finish(struct pool *pool, struct pool_adopt_totals *ret_totals)
{
	struct pool_adopt_totals totals = { 0 };
	uint64_t start, end, pos = pool->region.classes_offset;
	uint64_t classes_end = pool->region.classes_offset + pool->table_len;
	uint32_t high = 0;

	/* Only class bytes that were ever written can name a chunk. */
	while (fd_next_data(pool->region.fd, pos, classes_end, &start, &end)) {
		for (uint64_t off = start; off < end; off++) {
			uint32_t index = (uint32_t)(off - pool->region.classes_offset);
			unsigned cls = pool->region.classes[index];

			if (pool->table[index].obj_size) {
				adopt_keep_chunk(pool, index, &totals);
				high = index + 1;
			} else if (cls != POOL_CLASS_NONE) {
				adopt_drop_chunk(pool, index, cls, &totals);
			}
		}
		pos = end;
	}
	pool->table_used = high;
	for (uint32_t i = high; i-- > 0;)
		if (!pool->table[i].obj_size)
			index_put(pool, i);
	/* Reserve chunks and punches cut short by the death, past the last chunk kept. */
	if (high < pool->region.nr_chunks)
		(void)fallocate(pool->region.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				(off_t)(pool->region.arena_offset + (uint64_t)high * POOL_CHUNK_SPAN),
				(off_t)((uint64_t)(pool->region.nr_chunks - high) * POOL_CHUNK_SPAN));
	*ret_totals = totals;
}
