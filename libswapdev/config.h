/* SPDX-License-Identifier: MIT */
/*
 * config.h - swapdevd configuration: defaults, the INI file, --set
 * overrides, validation and text round trips for the control plane.
 *
 * Keys are "section.key" (SPEC section 2). Sizes take K/M/G/T suffixes
 * (powers of 1024) or a percentage of RAM ("25%"). Every error fills a
 * struct config_error naming the file, line, key and accepted range, so
 * the caller logs one message a user can act on.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "codec.h"
#include "ini.h"

/* The build passes the installed path (sysconfdir); this is the default. */
#ifndef SWAPDEV_DEFAULT_CONFIG_PATH
#define SWAPDEV_DEFAULT_CONFIG_PATH "/etc/swapdev/swapdevd.conf"
#endif

/* The swap file in device.mountpoint; the configuration bounds the mountpoint by it. */
#define SWAPDEV_FILE_NAME "swap"

/* Longest line of a configuration file, its newline excluded: the INI reader's. */
#define CONFIG_LINE_MAX INI_LINE_MAX

struct swapdev_config {
	/* [device] */
	uint64_t device_size;
	char *mountpoint;
	bool activate;
	int priority; /* -1..32767 as swapon(2) takes it */
	bool discard;
	bool io_uring; /* serve FUSE over io_uring where the kernel allows it */
	bool refuse_conflicts; /* zswap, a rival swap priority, a COW backing fs: refuse */
	/* [pool] */
	uint64_t pool_limit; /* resolved bytes */
	struct codec_spec compressor;
	bool same_filled;
	uint32_t reject_threshold; /* 64..4096 */
	bool incompressible_to_pool; /* pool.incompressible = pool|disk */
	bool exclusive_loads;
	struct codec_spec recompress; /* idle recompression; lz4 = "none", off */
	uint32_t recompress_idle_seconds;
	unsigned recompress_min_saving;	 /* percent of the object */
	unsigned recompress_cpu_percent; /* of one CPU */
	/* [writeback] */
	char *backing_file;
	unsigned high_watermark; /* percent of pool.limit, 1..100 */
	unsigned low_watermark;	 /* percent, < high_watermark */
	uint32_t idle_seconds;
	/* [control] */
	char *control_socket;
	char *control_group;
};

struct config_error {
	char message[512]; /* "FILE:LINE: key: value 'x' ...; accepted: ..." */
};

/* Physical RAM in bytes, the base of percentages. */
uint64_t config_ram_bytes(void);

/* Fill in the embedded defaults. Returns 0 or -ENOMEM. */
int config_init(struct swapdev_config *config);
void config_done(struct swapdev_config *config); /* frees strings; accepts zeroed */

/* Parse a size: "1G", "512M", "4096", "25%" (of ram_bytes). 0, -EINVAL, -ERANGE. */
int config_parse_size(const char *text, uint64_t ram_bytes, uint64_t *ret_bytes);

/*
 * Read an INI file over the current values. -ENOENT when it does not exist
 * (the caller decides whether that matters); -EISDIR or -EBADFD when it is
 * a directory or another file that is not a regular file (a FIFO, a
 * device); -EINVAL for bad syntax, a NUL byte, a line longer than
 * CONFIG_LINE_MAX, unknown keys or invalid values. *error is filled on
 * every failure.
 */
int config_load_file(struct swapdev_config *config, const char *path, struct config_error *error);

/* Set one key ("pool.limit") from text, validated. 0, -ENOENT (unknown key), -EINVAL. */
int config_set(struct swapdev_config *config, const char *key, const char *value,
	       struct config_error *error);

/* Cross-key checks (low < high watermark, sizes vs RAM). 0 or -EINVAL. */
int config_validate(const struct swapdev_config *config, struct config_error *error);

/* Canonical text of one key's value ("1G", "lz4", "yes"). 0, -ENOENT, -ENOBUFS. */
int config_get(const struct swapdev_config *config, const char *key, char *buf, size_t size);

/*
 * Write every key with its value to out in the file's syntax, one section
 * after the other, so that config_load_file() reads back the same
 * configuration. 0; -EINVAL when a value cannot be written so (a path
 * with a newline or a blank before '#'); -errno when writing fails.
 */
int config_print(const struct swapdev_config *config, FILE *out, struct config_error *error);

/* NULL-terminated list of every key, in file order. */
extern const char *const config_keys[];

/* True for keys that can change while the daemon runs (SetConfig). */
bool config_key_is_runtime(const char *key);

/*
 * True when key's canonical value differs between a and b: the test a
 * reload uses to find what the file changed. key must be one of config_keys.
 */
bool config_key_changed(const struct swapdev_config *a, const struct swapdev_config *b,
			const char *key);

/* Room for any key's canonical text (config_get), a path included. */
#define CONFIG_VALUE_MAX 4096

/* Pushes a runtime key's new value in config to whoever uses it. 0 or -errno. */
typedef int (*config_apply_fn)(const struct swapdev_config *config, const char *key,
			       void *userdata);

/*
 * SetConfig: set a runtime key, validate the whole configuration and
 * apply() the change; on any failure the old value is put back. Returns 0
 * with the old value's text in ret_old; -ENOENT for an unknown key,
 * -EPERM for a key that only changes at start, -EINVAL for an invalid
 * value, apply()'s error, -ENOMEM. *error is filled on every failure.
 */
int config_set_runtime(struct swapdev_config *config, const char *key, const char *value,
		       config_apply_fn apply, void *userdata, char ret_old[static CONFIG_VALUE_MAX],
		       struct config_error *error);
