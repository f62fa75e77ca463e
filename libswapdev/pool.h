/* SPDX-License-Identifier: MIT */
/*
 * pool.h - size-class allocator for compressed objects.
 *
 * Objects live in fixed-size chunks of an arena mapped from a memfd (the
 * store's state memfd, so that a new process can adopt them), chunk index
 * i at i * POOL_CHUNK_SPAN; each chunk serves one size class, recorded in
 * a class byte per index beside the arena. Empty chunks go back to the
 * kernel by punching their range. An object is addressed by a 43-bit handle that
 * fits in a slot table entry. Every object starts with a struct pool_obj
 * header whose owner field the caller fills in: compaction uses it to ask
 * the owner to let the object move.
 *
 * The footprint (bytes of chunks held, including the small free-chunk
 * reserve) never exceeds the limit: pool_alloc() returns -ENOSPC rather
 * than grow past it, and never damages existing objects.
 *
 * Locking: one mutex per size class. Callers may hold their own locks
 * (the slot lock) while calling pool_alloc/pool_release; compaction calls
 * the move callback with the class lock held, so the callback must only
 * try-lock the owner (never block on it).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define POOL_HANDLE_BITS 43
#define POOL_HANDLE_INVALID UINT64_MAX
#define POOL_MAX_CHUNK_PAGES 32u
#define POOL_CHUNK_SPAN (POOL_MAX_CHUNK_PAGES * 4096u) /* arena bytes per chunk index */
#define POOL_CLASS_NONE 0 /* class byte of an index holding no chunk (else class + 1) */

/* Where a pool keeps its chunks: in a memfd, at fixed offsets. */
struct pool_region {
	int fd;			/* the memfd holding the class bytes and the arena */
	uint64_t classes_offset; /* of the class bytes in fd */
	uint64_t arena_offset;	/* of chunk index 0 in fd */
	uint8_t *classes;	/* mapped: nr_chunks class bytes */
	char *arena;		/* mapped: nr_chunks * POOL_CHUNK_SPAN bytes */
	uint32_t nr_chunks;
};

/* Header at the start of every object; counted in its size. */
struct pool_obj {
	uint32_t owner; /* the slot index, written by the caller */
	uint32_t stamp; /* caller's use: last access time in seconds */
	unsigned char data[];
};

struct pool_stats {
	uint64_t objects;	 /* live objects */
	uint64_t object_bytes;	 /* sum of requested object sizes, headers included */
	uint64_t footprint_bytes; /* chunk memory held, reserve included */
	uint64_t limit_bytes;
	uint64_t chunks;
	uint64_t alloc_failures; /* -ENOMEM from the system, not limit hits */
	uint64_t limit_hits;	 /* -ENOSPC because of the limit */
	uint64_t compactions;	 /* objects moved by compaction */
	uint64_t grow_misses;	 /* -EAGAIN: background growth had no spare ready */
};

struct pool;

/* Chunk indices a pool of at most max_bytes uses: its region's nr_chunks. */
uint32_t pool_chunk_indices(uint64_t max_bytes);

/*
 * Create a pool that may hold up to limit_bytes of chunks. max_bytes bounds
 * any later pool_set_limit() (it sizes the chunk table); pass the
 * machine's RAM. region is where its chunks go (the caller keeps it
 * mapped; its nr_chunks, not max_bytes, sizes the chunk table: past them
 * the pool reports -ENOSPC); NULL: a memfd of the pool's own, sized for
 * max_bytes. Returns 0, -EINVAL, -ENOMEM, or
 * a memfd_create() error.
 */
int pool_new(uint64_t limit_bytes, uint64_t max_bytes, const struct pool_region *region,
	     struct pool **ret_pool);
void pool_free(struct pool *pool); /* accepts NULL */

/*
 * Adoption of a region whose pool process is gone, on a pool just made
 * over it: pool_adopt_object() for every object a live slot references
 * (the handle, the size it was allocated with, the owner its header must
 * name), then pool_adopt_finish() once, before any other call. Returns 0,
 * -ENOENT (the handle's chunk index has no class), -ERANGE (slot beyond
 * the class's capacity), -EMSGSIZE (size not of the chunk's class), -EPERM
 * (the object's owner field names another slot), -EEXIST (referenced
 * twice).
 */
int pool_adopt_object(struct pool *pool, uint64_t handle, size_t size, uint32_t owner);

struct pool_adopt_totals {
	uint64_t orphan_objects; /* allocated, referenced by no slot: freed */
	uint64_t orphan_chunks;	 /* with a class, holding no referenced object: punched */
};
/* Rebuild the chunk table, lists and footprint; free the orphans. */
void pool_adopt_finish(struct pool *pool, struct pool_adopt_totals *ret_totals);

/*
 * Switch to background growth: a thread of the pool populates
 * chunks ahead of need and punches emptied ones, so that pool_alloc and
 * pool_release make no system call and fault in no memory. pool_alloc then
 * fails with -EAGAIN when the chunk it needs is not ready yet. Call before
 * the pool is shared. Returns 0 or -errno.
 */
int pool_start_grower(struct pool *pool);

/* Largest object pool_alloc() accepts (a raw page plus its header). */
size_t pool_max_object(void);

/*
 * Allocate an object of size bytes (sizeof(struct pool_obj) <= size <=
 * pool_max_object()). Returns 0 with *ret_handle set, -ENOSPC when the
 * limit forbids growth, -ENOMEM when the system refuses memory, -EAGAIN
 * (background growth) when no new chunk is ready yet, -EINVAL.
 */
int pool_alloc(struct pool *pool, size_t size, uint64_t *ret_handle);

/* Address of a live object. The caller keeps it alive (slot lock). */
struct pool_obj *pool_map(struct pool *pool, uint64_t handle);

/* Free a live object; its chunk may return to the reserve or the system. */
void pool_release(struct pool *pool, uint64_t handle);

/* Change the limit at run time. Returns 0 or -EINVAL (above max_bytes).
 * Lowering it below the footprint only stops growth; writeback shrinks. */
int pool_set_limit(struct pool *pool, uint64_t limit_bytes);

void pool_get_stats(struct pool *pool, struct pool_stats *ret_stats);

/*
 * Compaction moves objects out of sparsely used chunks into fuller ones
 * of the same class and gives emptied chunks back. For each object to
 * move, move() is called with the owner, the old and the new handle; it
 * returns true after it has copied the object and repointed its owner,
 * false to leave it where it is (owner busy or no longer pointing here).
 * Returns the number of chunks freed.
 */
typedef bool (*pool_move_fn)(void *opaque, uint32_t owner, uint64_t from, uint64_t to,
			     size_t size);
uint64_t pool_compact(struct pool *pool, pool_move_fn move, void *opaque);
