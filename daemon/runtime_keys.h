/* SPDX-License-Identifier: MIT */
/*
 * runtime_keys.h - what each runtime tunable changes in the running store.
 *
 * config.c says which keys may change at run time (KEY_RUNTIME); this
 * table says how each reaches the store. The unit test runtime_keys checks
 * that the two name the same keys.
 */
#pragma once

#include "config.h"
#include "store.h"

/* The store's idle recompression settings from the pool.recompress* keys. */
struct store_recompress recompress_settings(const struct swapdev_config *config);

struct runtime_key {
	const char *key;
	/* Push the key's value in config into store. 0 or -errno. */
	int (*apply)(struct store *store, const struct swapdev_config *config);
};

/* Every runtime key, NULL-terminated by a { NULL } entry. */
extern const struct runtime_key runtime_keys[];

/*
 * config_apply_fn for config_set_runtime(): userdata is the store.
 * Returns apply()'s result, or -ENOENT for a key without a setter.
 */
int runtime_key_apply(const struct swapdev_config *config, const char *key, void *userdata);
