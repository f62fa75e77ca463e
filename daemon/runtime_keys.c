/* SPDX-License-Identifier: MIT */
/*
 * runtime_keys.c - the runtime tunables' setters, one line each.
 */
#include <errno.h>
#include <string.h>

#include "runtime_keys.h"

static int apply_pool_limit(struct store *store, const struct swapdev_config *c)
{
	return store_set_pool_limit(store, c->pool_limit);
}

static int apply_compressor(struct store *store, const struct swapdev_config *c)
{
	return store_set_codec(store, &c->compressor);
}

/* Either watermark: the store checks them as a pair. */
static int apply_watermarks(struct store *store, const struct swapdev_config *c)
{
	return store_set_watermarks(store, c->high_watermark, c->low_watermark);
}

static int apply_exclusive_loads(struct store *store, const struct swapdev_config *c)
{
	store_set_exclusive_loads(store, c->exclusive_loads);
	return 0;
}

static int apply_idle_seconds(struct store *store, const struct swapdev_config *c)
{
	store_set_idle_seconds(store, c->idle_seconds);
	return 0;
}

struct store_recompress recompress_settings(const struct swapdev_config *c)
{
	return (struct store_recompress){
		.enabled = c->recompress.kind != CODEC_LZ4, /* lz4 is "none" */
		.codec = c->recompress,
		.idle_seconds = c->recompress_idle_seconds,
		.min_saving_percent = c->recompress_min_saving,
		.cpu_percent = c->recompress_cpu_percent,
	};
}

static int apply_recompress(struct store *store, const struct swapdev_config *c)
{
	struct store_recompress settings = recompress_settings(c);

	return store_set_recompress(store, &settings);
}

const struct runtime_key runtime_keys[] = {
	{ "pool.limit", apply_pool_limit },
	{ "pool.compressor", apply_compressor },
	{ "pool.exclusive_loads", apply_exclusive_loads },
	{ "pool.recompress", apply_recompress },
	{ "pool.recompress_idle_seconds", apply_recompress },
	{ "pool.recompress_min_saving", apply_recompress },
	{ "pool.recompress_cpu_percent", apply_recompress },
	{ "writeback.high_watermark", apply_watermarks },
	{ "writeback.low_watermark", apply_watermarks },
	{ "writeback.idle_seconds", apply_idle_seconds },
	{ NULL, NULL },
};

int runtime_key_apply(const struct swapdev_config *config, const char *key, void *userdata)
{
	for (const struct runtime_key *k = runtime_keys; k->key; k++)
		if (strcmp(k->key, key) == 0)
			return k->apply(userdata, config);
	return -ENOENT;
}
