/* SPDX-License-Identifier: MIT */
/*
 * store.h - the swap device's storage: slots, tiers and their contract.
 *
 * A store is an array of 4 KiB slots. Each slot has exactly one home at a
 * time: EMPTY, SAME(word), POOL(compressed object) or DISK(block). Reads,
 * writes and discards of any byte range are served with block
 * device semantics: a read returns exactly the last data written, and
 * never-written or discarded ranges read as zeros. See store.c for the
 * state machine and docs/DESIGN.md for the rules around writeback.
 *
 * Every I/O call takes a store_worker: the per-thread scratch buffers and
 * codec contexts, allocated once, so that the I/O path never allocates.
 * A worker is used by one thread at a time.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "codec.h"
#include "disk_tier.h"
#include "stats.h"

/* Idle recompression with a second, denser codec (writeback.c runs it). */
struct store_recompress {
	bool enabled;
	struct codec_spec codec;     /* the second codec, zstd */
	uint32_t idle_seconds;	     /* entries untouched this long */
	unsigned min_saving_percent; /* replace only if this share of the object is saved */
	unsigned cpu_percent;	     /* of one CPU, at most */
};

struct store_config {
	uint64_t size;		   /* device bytes, a multiple of 4 KiB */
	uint64_t pool_limit;	   /* hard cap on pool footprint */
	uint64_t pool_max;	   /* bound for runtime pool_limit changes (RAM) */
	struct codec_spec codec;
	bool same_filled;
	uint32_t reject_threshold;  /* compressed bytes above which a page is incompressible */
	bool incompressible_to_pool; /* else straight to disk */
	bool exclusive_loads;
	const char *backing_path;   /* NULL: no disk tier (pool full = -ENOSPC) */
	const struct disk_ops *disk_ops; /* NULL: disk_ops_posix */
	unsigned high_watermark;    /* percent of pool_limit starting writeback */
	unsigned low_watermark;	    /* percent where it stops */
	uint32_t idle_seconds;	    /* write back entries idle this long; 0 = off */
	/* The pool grows in a thread of its own; a write that finds no chunk
	 * ready goes to disk (pool_start_grower). Needs backing_path. */
	bool background_growth;
	struct store_recompress recompress;
};

struct store;
struct store_worker;

/* Bytes the backing file of a device of size bytes takes (with slack). */
uint64_t store_backing_file_bytes(uint64_t size);

/*
 * Returns 0, -EINVAL (bad config), -ENOMEM, or a disk_tier_open() error.
 * The store's state is in a fresh memfd (store_state_fd), so that any
 * store can later be adopted.
 */
int store_new(const struct store_config *config, struct store **ret_store);

/* The memfd holding every byte of the store's in-memory state (slot table,
 * same-values table, pool chunk classes, pool chunks). Owned by the store. */
int store_state_fd(const struct store *store);

struct store_adopt_report {
	uint64_t slots[4];	    /* per enum slot_state, from the scan */
	uint64_t pool_objects, pool_object_bytes, pool_footprint_bytes;
	uint64_t disk_blocks;	    /* blocks referenced by DISK slots */
	uint64_t locks_cleared, writeback_flags_cleared, pins_cleared;
	uint64_t orphan_objects, orphan_chunks, orphan_blocks; /* unreferenced, freed */
	uint64_t scan_ns;
	char error[256];	    /* set when store_adopt fails */
};
/*
 * Build a store around the state memfd of a store whose process is gone
 * (the slot words are the truth; everything else is rebuilt from them).
 * config must describe the same geometry (size) as recorded in the memfd.
 * Returns 0; -EINVAL (not a swapdev state memfd, other layout version,
 * geometry differs: report->error says which); -EBADMSG (a slot word or a
 * pool object contradicts the rest: report->error names the slot and why);
 * -ENOMEM; or a disk_tier_open() error. The store takes its own dup of
 * state_fd. Operation counters, latency histograms and the pool's failure
 * counters cannot be rebuilt and start from zero. orphan_blocks is always
 * 0: the disk bitmap is not in the memfd, so a block no slot names is free
 * without being seen.
 */
int store_adopt(const struct store_config *config, int state_fd,
		struct store_adopt_report *report, struct store **ret_store);
/* Stops writeback and frees everything. Accepts NULL. */
void store_free(struct store *store);

/* Start the background writeback thread (no-op without a disk tier). */
int store_start_writeback(struct store *store);

int store_worker_new(struct store *store, struct store_worker **ret_worker);
/* Workers are freed with their store; this returns one early. */
void store_worker_free(struct store_worker *worker);

/*
 * I/O on [offset, offset + len), any byte range inside the device (partial
 * slots are read-modify-written atomically). Returns len, or -EINVAL (out of
 * range), -EIO (disk tier failed: the slot keeps its previous contents),
 * -ENOSPC (every tier full), -EBADMSG (corrupt pool object).
 */
ssize_t store_read(struct store_worker *worker, void *buf, size_t len, uint64_t offset);
ssize_t store_write(struct store_worker *worker, const void *buf, size_t len, uint64_t offset);
/* Discard: the range reads as zeros afterwards. Partial slots are zeroed. */
int store_discard(struct store_worker *worker, uint64_t offset, uint64_t len);

/* Flush: write pool entries back to disk. */
struct store_flush_request {
	uint32_t idle_seconds; /* only entries idle at least this long; 0 = all */
	uint64_t limit_bytes;  /* stop after writing this much; 0 = no limit */
	/* Called after each batch; return false to cancel. May be NULL. */
	bool (*progress)(void *opaque, uint64_t done_pages, uint64_t total_pages);
	void *opaque;
};
/* Returns the number of pages written back, -ENODEV without a disk tier,
 * -ECANCELED when progress() cancelled, -EIO. */
int64_t store_flush(struct store *store, const struct store_flush_request *request);

/* A recompression pass by hand: every pool entry once, with the second codec. */
struct store_recompress_request {
	bool idle_given;       /* else the configured recompress idle_seconds */
	uint32_t idle_seconds; /* only entries idle at least this long; 0 = all */
	/* Called as the pass advances with the pool entries examined and how
	 * many there were when it began; return false to cancel. May be NULL. */
	bool (*progress)(void *opaque, uint64_t done_entries, uint64_t total_entries);
	void *opaque;
};
/* What one pass did. */
struct store_recompress_totals {
	uint64_t examined;     /* pool entries looked at */
	uint64_t recompressed; /* replaced by the second codec */
	uint64_t not_worth;    /* recompressed but kept: saved too little */
	uint64_t dropped;      /* a write or discard replaced the slot meanwhile */
	uint64_t cpu_us;       /* CPU time of the pass */
};
/*
 * Run a pass in the calling thread, at full speed (not within
 * recompress cpu_percent), pausing while the pool is past its high
 * watermark until writeback has had a round. Returns 0 with *ret_totals,
 * -ENODEV without a disk tier (recompression belongs to the writeback
 * engine), -EOPNOTSUPP when no second codec is configured, -ECANCELED
 * when progress() cancelled.
 */
int store_recompress_all(struct store *store, const struct store_recompress_request *request,
			 struct store_recompress_totals *ret_totals);

/* Runtime tunables; each returns 0 or -EINVAL. */
int store_set_pool_limit(struct store *store, uint64_t bytes);
int store_set_codec(struct store *store, const struct codec_spec *codec);
int store_set_watermarks(struct store *store, unsigned high, unsigned low);
void store_set_exclusive_loads(struct store *store, bool on);
void store_set_idle_seconds(struct store *store, uint32_t seconds);
int store_set_recompress(struct store *store, const struct store_recompress *recompress);

struct store_stats {
	uint64_t slots_total, slots_used;
	uint64_t same_slots, pool_slots, disk_slots;
	uint64_t orig_bytes;	    /* slots_used * 4096 */
	uint64_t compr_bytes;	    /* compressed payload bytes in the pool */
	/* Pool entries by how they are held: raw (incompressible), zstd; the
	 * rest of pool_slots and compr_bytes is lz4. */
	uint64_t raw_slots, zstd_slots, zstd_bytes;
	uint64_t pool_footprint_bytes, pool_limit_bytes;
	uint64_t disk_bytes;	    /* blocks in use on the disk tier * 4096 */
	uint64_t disk_total_bytes;
	uint64_t metadata_bytes;    /* slot table bytes resident */
	struct store_counters ops;
};
/* Everything, including a sweep of the slot table for metadata_bytes. */
void store_get_stats(struct store *store, struct store_stats *ret_stats);
/* The operation counters alone (store_stats.ops), without the sweep: cheap
 * enough for a once-a-second check. */
void store_get_counters(struct store *store, struct store_counters *ret_counters);

/* Latency histograms of store_read/store_write, summed over workers. */
void store_get_latency(struct store *store, struct latency_hist *ret_read,
		       struct latency_hist *ret_write);

/*
 * For tests that damage a pool object: where slot idx's pool entry keeps
 * its compressed bytes, their length and codec. Returns 0, or -ENOENT when
 * the slot's data is not in the pool. Nothing may use the slot meanwhile.
 */
int store_pool_entry(struct store *store, uint64_t idx, void **ret_data, unsigned *ret_len,
		     enum codec_kind *ret_codec);

/* Compact the pool now; returns the number of chunks given back. */
uint64_t store_compact(struct store *store);

/*
 * The writeback interface, for the policy in writeback.c: it picks slots,
 * the store moves them. A batch is claimed slot by slot, then written with
 * store_wb_write(), which commits or cancels every claim. The caller runs
 * one batch at a time, with one worker of its own, and claims a slot at
 * most once per batch: a slot rewritten after its claim can get its old
 * pool handle back, and a second claim would let the first one's older
 * copy commit.
 */
enum store_wb_pick {
	STORE_WB_COLD,	 /* second chance: a REFERENCED slot loses the bit and stays;
			    LOADED slots go whatever their bit */
	STORE_WB_RAW,	 /* as COLD, but only pages stored raw (incompressible) */
	STORE_WB_LOADED, /* only slots the kernel has loaded (exclusive loads) */
	STORE_WB_ANY,	 /* every pool slot */
};

struct store_wb_claim {
	uint64_t idx;
	uint64_t handle; /* the claimed pool object: the version being written */
	bool loaded;
};

uint64_t store_nr_slots(const struct store *store);
/* Slots whose home is the pool now. */
uint64_t store_pool_slots(struct store *store);

struct store_pressure {
	uint64_t object_bytes, footprint_bytes, limit_bytes;
	unsigned high_watermark, low_watermark; /* percent of limit_bytes */
};
void store_get_pressure(struct store *store, struct store_pressure *ret_pressure);

/*
 * Claim POOL slot idx for writeback if pick and min_idle (seconds since its
 * last write or read; 0: any) allow: its page is decompressed into page (a
 * whole aligned page) and the slot marked WRITEBACK; the pool copy stays
 * its home. Never waits for the slot lock. Returns 1 with *ret_claim set,
 * 0 when the slot is not eligible or busy, -EBADMSG for a corrupt object
 * (counted in decompress_errors).
 */
int store_wb_claim(struct store_worker *w, uint64_t idx, enum store_wb_pick pick,
		   uint32_t min_idle, void *page, struct store_wb_claim *ret_claim);
/* The most claims one store_wb_write() takes. */
#define STORE_WB_BATCH_MAX 64

/*
 * Write the n claimed pages (pages[i] holds claims[i]'s page) to the disk
 * tier and make each block its slot's home, unless a write or discard
 * replaced the claimed version meanwhile (then the block is freed and
 * writeback_cancelled counts it). Claims not written are cancelled: their
 * pool copy stays. Returns n, or -ENOSPC or an I/O error (-EIO).
 */
int store_wb_write(struct store_worker *w, const struct store_wb_claim *claims,
		   const struct iovec *pages, unsigned n);

/* What store_recompress() did with a slot. */
enum store_recompress_result {
	STORE_RECOMPRESS_NOT_POOL,  /* the slot's data is not in the pool */
	STORE_RECOMPRESS_SKIPPED,   /* a pool entry not idle, raw, loaded, claimed or
				       already dense, or busy */
	STORE_RECOMPRESS_REPLACED,  /* held with req->codec from now on */
	STORE_RECOMPRESS_NOT_WORTH, /* saved less than req->min_saving_percent: kept */
	STORE_RECOMPRESS_DROPPED,   /* a write or discard replaced the slot meanwhile */
};
/*
 * Recompress the pool entry of slot idx with req->codec if it is idle for
 * req->idle_seconds and not raw, loaded or claimed. The caller holds the
 * writeback batch lock (claims exclude each other). Counts the outcome
 * and its CPU time. Returns an enum store_recompress_result, or -EBADMSG
 * (corrupt object, counted in decompress_errors; it stays as it was) or a
 * pool_alloc() error (the entry stays as it was).
 */
int store_recompress(struct store_worker *w, uint64_t idx, const struct store_recompress *req);
