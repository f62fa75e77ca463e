/* SPDX-License-Identifier: MIT */
/*
 * writeback.h - the writeback policy: which pool slots go to disk, when.
 *
 * The store owns one writeback engine when it has a disk tier. The engine
 * decides which slots move (a CLOCK hand under pressure, loaded slots with
 * exclusive loads on, idle or all slots for a flush) and moves them through
 * the store's writeback interface (store_wb_claim, store_wb_write in
 * store.h); it never touches a slot word itself.
 */
#pragma once

#include <stdint.h>

#include "store.h"

struct writeback;

/* Returns 0 or -ENOMEM. idle_seconds as store_set_idle_seconds(). */
int writeback_new(struct store *store, uint32_t idle_seconds, struct writeback **ret_wb);
/* Stops the thread if it runs. Accepts NULL. */
void writeback_free(struct writeback *wb);
/* Start the background thread; returns 0 or -errno of pthread_create. */
int writeback_start(struct writeback *wb);

/* Called after a pool allocation pushed use past the high watermark or failed. */
void writeback_poke(struct writeback *wb);
/* Called after a load from the pool with exclusive loads on. */
void writeback_note_loaded(struct writeback *wb, uint64_t idx);
/* See store_flush(). */
int64_t writeback_flush(struct writeback *wb, const struct store_flush_request *request);
void writeback_set_idle_seconds(struct writeback *wb, uint32_t seconds);
/* See store_recompress_all(). */
int writeback_recompress(struct writeback *wb, const struct store_recompress_request *request,
			 struct store_recompress_totals *ret_totals);
/* Idle recompression's settings (store_set_recompress() validated them). */
void writeback_set_recompress(struct writeback *wb, const struct store_recompress *recompress);
