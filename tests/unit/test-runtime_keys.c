/* SPDX-License-Identifier: MIT */
/*
 * test-runtime_keys.c - the daemon's setters name exactly the keys that
 * config.c marks as runtime tunables, and each reaches the store.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "runtime_keys.h"

static const struct runtime_key *find(const char *key)
{
	for (const struct runtime_key *k = runtime_keys; k->key; k++)
		if (strcmp(k->key, key) == 0)
			return k;
	return NULL;
}

Test(runtime_keys, same_keys_as_config)
{
	size_t runtime = 0, setters = 0;

	for (size_t i = 0; config_keys[i]; i++) {
		bool is_runtime = config_key_is_runtime(config_keys[i]);

		cr_expect_eq(find(config_keys[i]) != NULL, is_runtime, "%s: runtime %d, setter %s",
			     config_keys[i], is_runtime, find(config_keys[i]) ? "yes" : "no");
		runtime += is_runtime;
	}
	for (const struct runtime_key *k = runtime_keys; k->key; k++) {
		cr_expect(config_key_is_runtime(k->key), "setter for %s, not a runtime key", k->key);
		setters++;
	}
	cr_expect_eq(setters, runtime);
}

Test(runtime_keys, apply_reaches_the_store)
{
	struct store_config sc = { .size = 64 << 20,
				   .pool_limit = 16 << 20,
				   .codec = { .kind = CODEC_LZ4 },
				   .same_filled = true,
				   .reject_threshold = 3584,
				   .high_watermark = 90,
				   .low_watermark = 80 };
	struct swapdev_config config;
	struct store *store;
	struct store_stats st;

	cr_assert_eq(config_init(&config), 0);
	cr_assert_eq(store_new(&sc, &store), 0);
	config.pool_limit = 8 << 20;
	cr_assert_eq(runtime_key_apply(&config, "pool.limit", store), 0);
	store_get_stats(store, &st);
	cr_expect_eq(st.pool_limit_bytes, 8 << 20);
	cr_expect_eq(runtime_key_apply(&config, "device.size", store), -ENOENT);
	store_free(store);
	config_done(&config);
}
