/* SPDX-License-Identifier: MIT */
/*
 * test-config.c - configuration: size parsing, every key through config_set
 * and config_get, the INI reader and its FILE:LINE messages, cross-key
 * validation, and the promise that an invalid file changes nothing.
 *
 * Files are written to a mkdtemp directory that each file test creates and
 * removes. Expected percentages are computed from config_ram_bytes() so the
 * tests hold on any machine.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "config.h"

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)
#define TiB (UINT64_C(1) << 40)
#define PAGE_MASK (~(uint64_t)(SWAPDEV_PAGE_SIZE - 1))
#define KEY_COUNT 23
#define MAX_FILES 32

static char tmpdir[64];
static unsigned files_written;

static void make_tmpdir(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "%s/test-config.XXXXXX", P_tmpdir);
	cr_assert_not_null(mkdtemp(tmpdir), "mkdtemp: %s", strerror(errno));
	files_written = 0;
}

static void file_path(unsigned index, char *buf, size_t size)
{
	snprintf(buf, size, "%s/swapdevd-%u.conf", tmpdir, index);
}

static void remove_tmpdir(void)
{
	char path[PATH_MAX];

	for (unsigned i = 0; i < files_written; i++) {
		file_path(i, path, sizeof(path));
		unlink(path);
	}
	rmdir(tmpdir);
}

/* Write length bytes (content may hold NUL) to a new file; its path goes to buf. */
static const char *write_file_len(const char *content, size_t length, char *buf, size_t size)
{
	FILE *f;

	cr_assert_lt(files_written, MAX_FILES);
	file_path(files_written++, buf, size);
	f = fopen(buf, "we");
	cr_assert_not_null(f, "fopen %s: %s", buf, strerror(errno));
	cr_assert_eq(fwrite(content, 1, length, f), length);
	cr_assert_eq(fclose(f), 0);
	return buf;
}

static const char *write_file(const char *content, char *buf, size_t size)
{
	return write_file_len(content, strlen(content), buf, size);
}

/* Every key's canonical text, to compare whole configurations. */
struct snapshot {
	char value[KEY_COUNT][PATH_MAX];
};

static void take_snapshot(const struct swapdev_config *config, struct snapshot *snap)
{
	for (size_t i = 0; config_keys[i]; i++)
		cr_assert_eq(config_get(config, config_keys[i], snap->value[i], PATH_MAX), 0,
			     "config_get %s", config_keys[i]);
}

static void assert_snapshot_eq(const struct snapshot *a, const struct snapshot *b)
{
	for (size_t i = 0; config_keys[i]; i++)
		cr_assert_str_eq(a->value[i], b->value[i], "%s changed: '%s' -> '%s'",
				 config_keys[i], a->value[i], b->value[i]);
}

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void get(const struct swapdev_config *config, const char *key, char *buf, size_t size)
{
	cr_assert_eq(config_get(config, key, buf, size), 0, "config_get %s", key);
}

/* ---- sizes ---- */

struct size_case {
	const char *text;
	uint64_t ram;
	int r;
	uint64_t bytes;
};

Test(size, parse_table)
{
	static const struct size_case cases[] = {
		{ "0", 0, 0, 0 },
		{ "4096", 0, 0, 4096 },
		{ "007", 0, 0, 7 },
		{ "4096B", 0, 0, 4096 },
		{ "1K", 0, 0, KiB },
		{ "1k", 0, 0, KiB },
		{ "1KB", 0, 0, KiB },
		{ "1KiB", 0, 0, KiB },
		{ "1kib", 0, 0, KiB },
		{ "1M", 0, 0, MiB },
		{ "512M", 0, 0, 512 * MiB },
		{ "1G", 0, 0, GiB },
		{ "1GiB", 0, 0, GiB },
		{ "6G", 0, 0, 6 * GiB },
		{ "16T", 0, 0, 16 * TiB },
		{ "18446744073709551615", 0, 0, UINT64_MAX },
		{ "17179869183G", 0, 0, UINT64_C(17179869183) * GiB },
		{ "16777215T", 0, 0, UINT64_C(16777215) * TiB },
		/* percentages of ram, rounded down to a page */
		{ "25%", 8 * GiB, 0, 2 * GiB },
		{ "100%", 8 * GiB, 0, 8 * GiB },
		{ "0%", 8 * GiB, 0, 0 },
		{ "200%", 8 * GiB, 0, 16 * GiB },
		{ "50%", 1000000, 0, 499712 },
		{ "1%", 4096, 0, 0 },
		/* syntax */
		{ "", 0, -EINVAL, 0 },
		{ "lots", 0, -EINVAL, 0 },
		{ "-1", 0, -EINVAL, 0 },
		{ "-1G", 0, -EINVAL, 0 },
		{ "+1", 0, -EINVAL, 0 },
		{ " 1G", 0, -EINVAL, 0 },
		{ "1G ", 0, -EINVAL, 0 },
		{ "1 G", 0, -EINVAL, 0 },
		{ "1.5G", 0, -EINVAL, 0 },
		{ "G", 0, -EINVAL, 0 },
		{ "1X", 0, -EINVAL, 0 },
		{ "1KK", 0, -EINVAL, 0 },
		{ "1iB", 0, -EINVAL, 0 },
		{ "1GiBx", 0, -EINVAL, 0 },
		{ "1GBB", 0, -EINVAL, 0 },
		{ "0x10", 0, -EINVAL, 0 },
		{ "1e3", 0, -EINVAL, 0 },
		{ "%", 8 * GiB, -EINVAL, 0 },
		{ "25%%", 8 * GiB, -EINVAL, 0 },
		{ "25 %", 8 * GiB, -EINVAL, 0 },
		{ "%25", 8 * GiB, -EINVAL, 0 },
		{ "25%", 0, -EINVAL, 0 }, /* RAM unknown */
		/* trailing junk wins over overflow */
		{ "18446744073709551616x", 0, -EINVAL, 0 },
		/* overflow */
		{ "18446744073709551616", 0, -ERANGE, 0 },
		{ "99999999999999999999999K", 0, -ERANGE, 0 },
		{ "16777216T", 0, -ERANGE, 0 },
		{ "17179869184G", 0, -ERANGE, 0 },
		{ "18014398509481984K", 0, -ERANGE, 0 },
		{ "200%", UINT64_MAX, -ERANGE, 0 },
		{ "99999999999999999999%", 8 * GiB, -ERANGE, 0 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct size_case *c = &cases[i];
		uint64_t bytes = 0xdeadbeef;
		int r = config_parse_size(c->text, c->ram, &bytes);

		cr_expect_eq(r, c->r, "'%s' (ram %" PRIu64 "): got %d, want %d", c->text, c->ram, r,
			     c->r);
		if (c->r == 0)
			cr_expect_eq(bytes, c->bytes, "'%s': got %" PRIu64 ", want %" PRIu64,
				     c->text, bytes, c->bytes);
		else
			cr_expect_eq(bytes, 0xdeadbeef, "'%s': output touched on failure", c->text);
	}
}

Test(size, percentages_of_this_machine)
{
	struct swapdev_config config;
	uint64_t ram = config_ram_bytes();

	cr_assert_gt(ram, 64 * MiB, "config_ram_bytes() = %" PRIu64, ram);
	cr_assert_eq(config_init(&config), 0);
	cr_expect_eq(config.pool_limit, ram / 4 & PAGE_MASK);

	cr_assert_eq(config_set(&config, "pool.limit", "50%", NULL), 0);
	cr_expect_eq(config.pool_limit, ram / 2 & PAGE_MASK);
	cr_assert_eq(config_set(&config, "pool.limit", "100%", NULL), 0);
	cr_expect_eq(config.pool_limit, ram & PAGE_MASK);
	cr_expect_eq(config_set(&config, "pool.limit", "101%", NULL), -EINVAL);
	cr_expect_eq(config.pool_limit, ram & PAGE_MASK, "rejected value was stored");

	cr_assert_eq(config_set(&config, "device.size", "10%", NULL), 0);
	cr_expect_eq(config.device_size, ram / 10 & PAGE_MASK);
	cr_expect_eq(config.device_size % SWAPDEV_PAGE_SIZE, 0);
	config_done(&config);
}

/* ---- every key through config_set / config_get ---- */

struct key_case {
	const char *key;
	const char *value;
	int r;
	const char *canonical; /* config_get after a successful set */
};

static const struct key_case key_cases[] = {
	{ "device.size", "1G", 0, "1G" },
	{ "device.size", "1024M", 0, "1G" },
	{ "device.size", "6442450944", 0, "6G" },
	{ "device.size", "1M", 0, "1M" },
	{ "device.size", "1048576K", 0, "1G" },
	{ "device.size", "4100K", 0, "4100K" },
	{ "device.size", "16T", 0, "16T" },
	{ "device.size", "2GiB", 0, "2G" },
	{ "device.size", "1023K", -EINVAL, NULL },
	{ "device.size", "17T", -EINVAL, NULL },
	{ "device.size", "1048577", -EINVAL, NULL },
	{ "device.size", "1050000", -EINVAL, NULL },
	{ "device.size", "0", -EINVAL, NULL },
	{ "device.size", "lots", -EINVAL, NULL },
	{ "device.size", "", -EINVAL, NULL },
	{ "device.size", "99999999999999999999", -EINVAL, NULL },
	{ "device.mountpoint", "/mnt/swapdev", 0, "/mnt/swapdev" },
	{ "device.mountpoint", "/a path/with spaces", 0, "/a path/with spaces" },
	{ "device.mountpoint", "mnt", -EINVAL, NULL },
	{ "device.mountpoint", "", -EINVAL, NULL },
	{ "device.mountpoint", "/", -EINVAL, NULL },
	{ "device.mountpoint", "//", -EINVAL, NULL },
	{ "device.mountpoint", "/./", -EINVAL, NULL },
	{ "device.mountpoint", "/..", -EINVAL, NULL },
	{ "device.mountpoint", "/mnt/..", -EINVAL, NULL },
	{ "device.mountpoint", "/mnt/../..", -EINVAL, NULL },
	{ "device.mountpoint", "/../mnt", 0, "/../mnt" },
	{ "device.mountpoint", "/mnt/", 0, "/mnt/" },
	{ "device.mountpoint", "/.mnt", 0, "/.mnt" },
	{ "device.mountpoint", "/...", 0, "/..." },
	{ "device.activate", "yes", 0, "yes" },
	{ "device.activate", "no", 0, "no" },
	{ "device.activate", "true", 0, "yes" },
	{ "device.activate", "false", 0, "no" },
	{ "device.activate", "on", 0, "yes" },
	{ "device.activate", "off", 0, "no" },
	{ "device.activate", "1", 0, "yes" },
	{ "device.activate", "0", 0, "no" },
	{ "device.activate", "YES", 0, "yes" },
	{ "device.activate", "maybe", -EINVAL, NULL },
	{ "device.activate", "2", -EINVAL, NULL },
	{ "device.activate", "y", -EINVAL, NULL },
	{ "device.activate", "", -EINVAL, NULL },
	{ "device.priority", "-1", 0, "-1" },
	{ "device.priority", "0", 0, "0" },
	{ "device.priority", "100", 0, "100" },
	{ "device.priority", "32767", 0, "32767" },
	{ "device.priority", "-2", -EINVAL, NULL },
	{ "device.priority", "32768", -EINVAL, NULL },
	{ "device.priority", "+5", -EINVAL, NULL },
	{ "device.priority", "1.5", -EINVAL, NULL },
	{ "device.priority", "abc", -EINVAL, NULL },
	{ "device.priority", "", -EINVAL, NULL },
	{ "device.priority", "-", -EINVAL, NULL },
	{ "device.priority", "99999999999999999999", -EINVAL, NULL },
	{ "device.discard", "off", 0, "no" },
	{ "device.discard", "on", 0, "yes" },
	{ "device.discard", "nope", -EINVAL, NULL },
	{ "pool.limit", "1M", 0, "1M" },
	{ "pool.limit", "512M", 0, "512M" },
	{ "pool.limit", "1048577", 0, "1048577" },
	{ "pool.limit", "1023K", -EINVAL, NULL },
	{ "pool.limit", "0", -EINVAL, NULL },
	{ "pool.limit", "-1G", -EINVAL, NULL },
	{ "pool.limit", "lots", -EINVAL, NULL },
	{ "pool.limit", "16T", -EINVAL, NULL },
	{ "pool.compressor", "lz4", 0, "lz4" },
	{ "pool.compressor", "zstd:1", 0, "zstd:1" },
	{ "pool.compressor", "zstd:19", 0, "zstd:19" },
	{ "pool.compressor", "zstd:-5", 0, "zstd:-5" },
	{ "pool.compressor", "zstd:-1", 0, "zstd:-1" },
	{ "pool.compressor", "lz5", -EINVAL, NULL },
	{ "pool.compressor", "zstd:20", -EINVAL, NULL },
	{ "pool.compressor", "zstd:-6", -EINVAL, NULL },
	{ "pool.compressor", "", -EINVAL, NULL },
	{ "pool.same_filled", "no", 0, "no" },
	{ "pool.same_filled", "false", 0, "no" },
	{ "pool.same_filled", "x", -EINVAL, NULL },
	{ "pool.reject_threshold", "64", 0, "64" },
	{ "pool.reject_threshold", "3584", 0, "3584" },
	{ "pool.reject_threshold", "4096", 0, "4096" },
	{ "pool.reject_threshold", "63", -EINVAL, NULL },
	{ "pool.reject_threshold", "4097", -EINVAL, NULL },
	{ "pool.reject_threshold", "4K", -EINVAL, NULL },
	{ "pool.reject_threshold", "-64", -EINVAL, NULL },
	{ "pool.incompressible", "disk", 0, "disk" },
	{ "pool.recompress", "none", 0, "none" },
	{ "pool.recompress", "zstd", 0, "zstd:3" },
	{ "pool.recompress", "zstd:9", 0, "zstd:9" },
	{ "pool.recompress", "lz4", -EINVAL, NULL },
	{ "pool.recompress", "zstd:99", -EINVAL, NULL },
	{ "pool.recompress_min_saving", "95", -EINVAL, NULL },
	{ "pool.recompress_cpu_percent", "0", -EINVAL, NULL },
	{ "pool.incompressible", "pool", 0, "pool" },
	{ "pool.incompressible", "ram", -EINVAL, NULL },
	{ "pool.incompressible", "", -EINVAL, NULL },
	{ "pool.exclusive_loads", "yes", 0, "yes" },
	{ "pool.exclusive_loads", "no", 0, "no" },
	{ "pool.exclusive_loads", "sometimes", -EINVAL, NULL },
	{ "writeback.backing_file", "/var/lib/swapdev/other", 0, "/var/lib/swapdev/other" },
	{ "writeback.backing_file", "backing", -EINVAL, NULL },
	{ "writeback.backing_file", "./backing", -EINVAL, NULL },
	{ "writeback.high_watermark", "90", 0, "90%" },
	{ "writeback.high_watermark", "90%", 0, "90%" },
	{ "writeback.high_watermark", "1", 0, "1%" },
	{ "writeback.high_watermark", "100%", 0, "100%" },
	{ "writeback.high_watermark", "0", -EINVAL, NULL },
	{ "writeback.high_watermark", "101", -EINVAL, NULL },
	{ "writeback.high_watermark", "90%%", -EINVAL, NULL },
	{ "writeback.high_watermark", "90 %", -EINVAL, NULL },
	{ "writeback.high_watermark", "-1", -EINVAL, NULL },
	{ "writeback.high_watermark", "%", -EINVAL, NULL },
	{ "writeback.high_watermark", "", -EINVAL, NULL },
	{ "writeback.high_watermark", "99999999999999999999", -EINVAL, NULL },
	{ "writeback.low_watermark", "0", 0, "0%" },
	{ "writeback.low_watermark", "80%", 0, "80%" },
	{ "writeback.low_watermark", "99", 0, "99%" },
	{ "writeback.low_watermark", "100", -EINVAL, NULL },
	{ "writeback.idle_seconds", "0", 0, "0" },
	{ "writeback.idle_seconds", "60", 0, "60" },
	{ "writeback.idle_seconds", "2592000", 0, "2592000" },
	{ "writeback.idle_seconds", "2592001", -EINVAL, NULL },
	{ "writeback.idle_seconds", "-1", -EINVAL, NULL },
	{ "writeback.idle_seconds", "1h", -EINVAL, NULL },
	{ "control.socket", "/run/swapdev/other", 0, "/run/swapdev/other" },
	{ "control.socket", "run/control", -EINVAL, NULL },
	{ "control.group", "swapdev", 0, "swapdev" },
	{ "control.group", "adm", 0, "adm" },
	{ "control.group", "1000", 0, "1000" },
	{ "control.group", "My_group.x-1", 0, "My_group.x-1" },
	{ "control.group", "", -EINVAL, NULL },
	{ "control.group", "-wheel", -EINVAL, NULL },
	{ "control.group", "a b", -EINVAL, NULL },
	{ "control.group", "a:b", -EINVAL, NULL },
	{ "control.group", "abcdefghijklmnopqrstuvwxyz0123456", -EINVAL, NULL },
	/* unknown keys */
	{ "pool.nope", "1", -ENOENT, NULL },
	{ "nope.limit", "1", -ENOENT, NULL },
	{ "limit", "1", -ENOENT, NULL },
	{ "pool.", "1", -ENOENT, NULL },
	{ ".limit", "1", -ENOENT, NULL },
	{ "pool.limit.x", "1", -ENOENT, NULL },
	{ "Pool.limit", "1", -ENOENT, NULL },
	{ "", "1", -ENOENT, NULL },
};

Test(keys, set_and_get_table)
{
	for (size_t i = 0; i < ARRAY_SIZE(key_cases); i++) {
		const struct key_case *c = &key_cases[i];
		struct swapdev_config config;
		struct config_error error = { .message = "untouched" };
		struct snapshot *before = malloc(sizeof(*before)), *after = malloc(sizeof(*after));
		char text[PATH_MAX];
		int r;

		cr_assert(before && after);
		cr_assert_eq(config_init(&config), 0);
		take_snapshot(&config, before);
		r = config_set(&config, c->key, c->value, &error);
		cr_expect_eq(r, c->r, "%s='%s': got %d, want %d (%s)", c->key, c->value, r, c->r,
			     error.message);
		if (c->r == 0) {
			get(&config, c->key, text, sizeof(text));
			cr_expect_str_eq(text, c->canonical, "%s='%s'", c->key, c->value);
		} else {
			/* The message names the key, quotes the value, gives the range. */
			char start[256];

			snprintf(start, sizeof(start), "%s: ", c->key);
			if (c->r == -EINVAL) {
				char quoted[256];

				snprintf(quoted, sizeof(quoted), " '%s' (accepted: ", c->value);
				cr_expect(starts_with(error.message, start),
					  "%s='%s': message '%s'", c->key, c->value, error.message);
				cr_expect_not_null(strstr(error.message, quoted),
						   "%s='%s': message '%s'", c->key, c->value,
						   error.message);
			} else {
				cr_expect_not_null(strstr(error.message, "unknown key"),
						   "%s: message '%s'", c->key, error.message);
			}
			take_snapshot(&config, after);
			assert_snapshot_eq(before, after);
		}
		config_done(&config);
		free(before);
		free(after);
	}
}

Test(keys, round_trip_every_key)
{
	struct swapdev_config config;
	bool tested[KEY_COUNT] = { false };
	char first[PATH_MAX], second[PATH_MAX];

	cr_assert_eq(config_init(&config), 0);
	/* The defaults first: config_get of each parses back to itself. */
	for (size_t k = 0; config_keys[k]; k++) {
		get(&config, config_keys[k], first, sizeof(first));
		cr_assert_eq(config_set(&config, config_keys[k], first, NULL), 0, "%s='%s'",
			     config_keys[k], first);
		get(&config, config_keys[k], second, sizeof(second));
		cr_expect_str_eq(first, second, "%s", config_keys[k]);
		tested[k] = true;
	}
	for (size_t i = 0; i < ARRAY_SIZE(key_cases); i++) {
		const struct key_case *c = &key_cases[i];

		if (c->r != 0)
			continue;
		cr_assert_eq(config_set(&config, c->key, c->value, NULL), 0);
		get(&config, c->key, first, sizeof(first));
		cr_assert_eq(config_set(&config, c->key, first, NULL), 0, "%s='%s'", c->key, first);
		get(&config, c->key, second, sizeof(second));
		cr_expect_str_eq(first, second, "%s='%s'", c->key, c->value);
	}
	for (size_t k = 0; k < KEY_COUNT; k++)
		cr_expect(tested[k], "key %zu not round-tripped", k);
	config_done(&config);
}

Test(keys, percentage_round_trip)
{
	struct swapdev_config config;
	char text[64];
	uint64_t limit;

	cr_assert_eq(config_init(&config), 0);
	cr_assert_eq(config_set(&config, "pool.limit", "33%", NULL), 0);
	limit = config.pool_limit;
	get(&config, "pool.limit", text, sizeof(text));
	cr_assert_eq(config_set(&config, "pool.limit", text, NULL), 0, "'%s'", text);
	cr_expect_eq(config.pool_limit, limit, "'%s'", text);
	config_done(&config);
}

Test(keys, path_lengths)
{
	struct swapdev_config config;
	char path[PATH_MAX + 1];

	cr_assert_eq(config_init(&config), 0);

	/* sun_path holds 108 bytes with the NUL: 107 characters fit. */
	memset(path, 'a', sizeof(path));
	path[0] = '/';
	path[107] = '\0';
	cr_expect_eq(config_set(&config, "control.socket", path, NULL), 0);
	cr_expect_eq(strlen(config.control_socket), 107);
	path[107] = 'a';
	path[108] = '\0';
	cr_expect_eq(config_set(&config, "control.socket", path, NULL), -EINVAL);
	cr_expect_eq(strlen(config.control_socket), 107);

	path[108] = 'a';
	path[PATH_MAX - 1] = '\0';
	cr_expect_eq(config_set(&config, "writeback.backing_file", path, NULL), 0);
	cr_expect_eq(strlen(config.backing_file), PATH_MAX - 1);
	path[PATH_MAX - 1] = 'a';
	path[PATH_MAX] = '\0';
	cr_expect_eq(config_set(&config, "device.mountpoint", path, NULL), -EINVAL);
	cr_expect_str_eq(config.mountpoint, "/run/swapdev/mnt");

	/* "<mountpoint>/swap" with its NUL fits PATH_MAX, and no more. */
	path[PATH_MAX - strlen("/" SWAPDEV_FILE_NAME) - 1] = '\0';
	cr_expect_eq(config_set(&config, "device.mountpoint", path, NULL), 0);
	cr_expect_eq(strlen(config.mountpoint) + strlen("/" SWAPDEV_FILE_NAME), PATH_MAX - 1);
	path[PATH_MAX - strlen("/" SWAPDEV_FILE_NAME) - 1] = 'a';
	path[PATH_MAX - strlen("/" SWAPDEV_FILE_NAME)] = '\0';
	cr_expect_eq(config_set(&config, "device.mountpoint", path, NULL), -EINVAL);
	cr_expect_eq(strlen(config.mountpoint) + strlen("/" SWAPDEV_FILE_NAME), PATH_MAX - 1);
	config_done(&config);
}

Test(keys, messages)
{
	struct swapdev_config config;
	struct config_error error;
	char expected[512], value[201];

	cr_assert_eq(config_init(&config), 0);

	cr_assert_eq(config_set(&config, "device.size", "17T", &error), -EINVAL);
	cr_expect_str_eq(error.message,
			 "device.size: size out of range '17T' (accepted: 1M..16T, a multiple of "
			 "4K, K/M/G/T suffix or a percentage of RAM)");

	cr_assert_eq(config_set(&config, "device.size", "4097K", &error), -EINVAL);
	cr_expect_str_eq(error.message,
			 "device.size: size not a multiple of 4K '4097K' (accepted: 1M..16T, a "
			 "multiple of 4K, K/M/G/T suffix or a percentage of RAM)");

	cr_assert_eq(config_set(&config, "device.size", "99999999999999999999", &error), -EINVAL);
	cr_expect(starts_with(error.message, "device.size: size too large '"), "%s",
		  error.message);

	cr_assert_eq(config_set(&config, "pool.limit", "lots", &error), -EINVAL);
	cr_expect(starts_with(error.message,
			      "pool.limit: invalid size 'lots' (accepted: 1M..100% of RAM ("),
		  "%s", error.message);
	cr_expect_not_null(strstr(error.message, "), K/M/G/T suffix or a percentage of RAM)"), "%s",
			   error.message);

	cr_assert_eq(config_set(&config, "device.priority", "40000", &error), -EINVAL);
	cr_expect_str_eq(error.message,
			 "device.priority: number out of range '40000' (accepted: -1..32767)");

	cr_assert_eq(config_set(&config, "writeback.idle_seconds", "1h", &error), -EINVAL);
	cr_expect_str_eq(error.message, "writeback.idle_seconds: invalid number '1h' (accepted: "
					"0..2592000 seconds)");

	cr_assert_eq(config_set(&config, "device.activate", "maybe", &error), -EINVAL);
	cr_expect_str_eq(error.message, "device.activate: invalid boolean 'maybe' (accepted: "
					"yes/no, true/false, on/off, 1/0)");

	cr_assert_eq(config_set(&config, "pool.compressor", "lz5", &error), -EINVAL);
	cr_expect_str_eq(error.message, "pool.compressor: invalid compressor 'lz5' (accepted: lz4, "
					"zstd, zstd:LEVEL with LEVEL 1..19 or -5..-1)");

	cr_assert_eq(config_set(&config, "control.socket", "ctl", &error), -EINVAL);
	cr_expect_str_eq(error.message, "control.socket: not an absolute path 'ctl' (accepted: an "
					"absolute path of at most 107 bytes)");

	cr_assert_eq(config_set(&config, "device.mountpoint", "/", &error), -EINVAL);
	cr_expect_str_eq(error.message, "device.mountpoint: the root directory '/' (accepted: an "
					"absolute path of at most 4090 bytes, not /)");

	cr_assert_eq(config_set(&config, "pool.nope", "1", &error), -ENOENT);
	cr_expect_str_eq(error.message,
			 "unknown key 'pool.nope' (keys in [pool]: limit, compressor, same_filled, "
			 "reject_threshold, incompressible, exclusive_loads, recompress, "
			 "recompress_idle_seconds, recompress_min_saving, recompress_cpu_percent)");

	cr_assert_eq(config_set(&config, "disk.size", "1", &error), -ENOENT);
	cr_expect_str_eq(error.message, "unknown key 'disk.size' (accepted sections: device, pool, "
					"writeback, control)");

	/* A long value is cut so that the accepted range still fits. */
	memset(value, 'x', sizeof(value) - 1);
	value[sizeof(value) - 1] = '\0';
	cr_assert_eq(config_set(&config, "pool.incompressible", value, &error), -EINVAL);
	snprintf(expected, sizeof(expected),
		 "pool.incompressible: invalid destination '%.64s...' (accepted: disk or pool)",
		 value);
	cr_expect_str_eq(error.message, expected);
	config_done(&config);
}

/* ---- SetConfig ---- */

struct apply_log {
	int result; /* what apply returns */
	unsigned calls;
	char key[64];
};

static int log_apply(const struct swapdev_config *config, const char *key, void *userdata)
{
	struct apply_log *log = userdata;

	log->calls++;
	snprintf(log->key, sizeof(log->key), "%s", key);
	return log->result;
}

/* An error struct full of garbage, as the stack would leave it. */
static void garble(struct config_error *error)
{
	memset(error, 0xa5, sizeof(*error));
}

Test(runtime, applies_and_reports_the_old_value)
{
	struct swapdev_config config;
	struct config_error error;
	struct apply_log log = { 0 };
	char old[CONFIG_VALUE_MAX];

	cr_assert_eq(config_init(&config), 0);
	cr_assert_eq(config_set(&config, "pool.limit", "8M", NULL), 0);
	garble(&error);
	cr_expect_eq(config_set_runtime(&config, "pool.limit", "16M", log_apply, &log, old,
					&error),
		     0);
	cr_expect_eq(config.pool_limit, 16 * MiB);
	cr_expect_str_eq(old, "8M");
	cr_expect_eq(log.calls, 1);
	cr_expect_str_eq(log.key, "pool.limit");
	config_done(&config);
}

/* Every refusal leaves a terminated message and the old value, whatever error held before. */
Test(runtime, refusals_restore_and_explain)
{
	static const struct {
		const char *key, *value;
		int apply_result, r;
		const char *message;
		unsigned apply_calls;
	} cases[] = {
		/* The store refusing a value the configuration took (RAM grew since start). */
		{ "pool.limit", "16M", -EINVAL, -EINVAL,
		  "pool.limit=16M: cannot be applied: Invalid argument", 1 },
		{ "pool.compressor", "zstd", -ENOMEM, -ENOMEM,
		  "pool.compressor=zstd: cannot be applied: Cannot allocate memory", 1 },
		{ "pool.limit", "lots", 0, -EINVAL, "pool.limit: invalid size 'lots' (accepted: ",
		  0 },
		{ "writeback.low_watermark", "95", 0, -EINVAL,
		  "writeback.low_watermark (95%) must be below writeback.high_watermark (90%)", 0 },
		{ "pool.nope", "1", 0, -ENOENT, "unknown configuration key 'pool.nope'", 0 },
		{ "device.size", "2G", 0, -EPERM, "device.size only changes at start", 0 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct swapdev_config config;
		struct config_error error;
		struct apply_log log = { .result = cases[i].apply_result };
		struct snapshot *before = malloc(sizeof(*before)), *after = malloc(sizeof(*after));
		char old[CONFIG_VALUE_MAX] = "untouched";

		cr_assert(before && after);
		cr_assert_eq(config_init(&config), 0);
		cr_assert_eq(config_set(&config, "pool.limit", "8M", NULL), 0);
		take_snapshot(&config, before);
		garble(&error);
		cr_expect_eq(config_set_runtime(&config, cases[i].key, cases[i].value, log_apply,
						&log, old, &error),
			     cases[i].r, "case %zu", i);
		cr_assert_not_null(memchr(error.message, '\0', sizeof(error.message)),
				   "case %zu: message not terminated", i);
		cr_expect(starts_with(error.message, cases[i].message), "case %zu: '%s'", i,
			  error.message);
		cr_expect_eq(log.calls, cases[i].apply_calls, "case %zu", i);
		cr_expect_str_eq(old, "untouched", "case %zu", i);
		take_snapshot(&config, after);
		assert_snapshot_eq(before, after);
		config_done(&config);
		free(before);
		free(after);
	}
}

/* ---- defaults, key list, lifecycle ---- */

Test(defaults, embedded)
{
	static const struct {
		const char *key, *value;
	} defaults[] = {
		{ "device.size", "1G" },
		{ "device.mountpoint", "/run/swapdev/mnt" },
		{ "device.activate", "yes" },
		{ "device.priority", "100" },
		{ "device.discard", "yes" },
		{ "device.io_uring", "yes" },
		{ "device.refuse_conflicts", "no" },
		{ "pool.compressor", "lz4" },
		{ "pool.same_filled", "yes" },
		{ "pool.reject_threshold", "3584" },
		{ "pool.incompressible", "pool" },
		{ "pool.recompress", "zstd:3" },
		{ "pool.recompress_idle_seconds", "60" },
		{ "pool.recompress_min_saving", "10%" },
		{ "pool.recompress_cpu_percent", "10%" },
		{ "writeback.backing_file", "/var/lib/swapdev/backing" },
		{ "writeback.high_watermark", "90%" },
		{ "writeback.low_watermark", "80%" },
		{ "writeback.idle_seconds", "0" },
		{ "control.socket", "/run/swapdev/control" },
		{ "control.group", "swapdev" },
	};
	struct swapdev_config config;
	struct config_error error = { "" };
	char text[PATH_MAX];

	cr_assert_eq(config_init(&config), 0);
	for (size_t i = 0; i < ARRAY_SIZE(defaults); i++) {
		get(&config, defaults[i].key, text, sizeof(text));
		cr_expect_str_eq(text, defaults[i].value, "%s", defaults[i].key);
	}
	/* The benchmark decides exclusive_loads; either way it is a boolean. */
	get(&config, "pool.exclusive_loads", text, sizeof(text));
	cr_expect(strcmp(text, "yes") == 0 || strcmp(text, "no") == 0, "'%s'", text);

	cr_expect_eq(config.device_size, GiB);
	cr_expect_eq(config.priority, 100);
	cr_expect_eq(config.compressor.kind, CODEC_LZ4);
	cr_expect_eq(config.reject_threshold, 3584);
	cr_expect(config.incompressible_to_pool);
	cr_expect_eq(config.high_watermark, 90);
	cr_expect_eq(config.low_watermark, 80);
	cr_expect_eq(config.pool_limit, config_ram_bytes() / 4 & PAGE_MASK);
	cr_expect_eq(config_validate(&config, &error), 0, "%s", error.message);
	config_done(&config);
}

Test(defaults, key_list_and_runtime)
{
	static const char *const expected[] = {
		"device.size",		  "device.mountpoint",	      "device.activate",
		"device.priority",	  "device.discard",	      "device.io_uring",
		"device.refuse_conflicts", "pool.limit",
		"pool.compressor",	  "pool.same_filled",	      "pool.reject_threshold",
		"pool.incompressible",	  "pool.exclusive_loads",     "pool.recompress",
		"pool.recompress_idle_seconds", "pool.recompress_min_saving",
		"pool.recompress_cpu_percent", "writeback.backing_file",
		"writeback.high_watermark", "writeback.low_watermark", "writeback.idle_seconds",
		"control.socket",	  "control.group",
	};
	static const char *const runtime[] = {
		"pool.limit",		    "writeback.high_watermark", "writeback.low_watermark",
		"pool.compressor",	    "pool.exclusive_loads",	"writeback.idle_seconds",
		"pool.recompress",	    "pool.recompress_idle_seconds",
		"pool.recompress_min_saving", "pool.recompress_cpu_percent",
	};
	size_t n = 0, runtime_count = 0;

	for (; config_keys[n]; n++) {
		cr_assert_lt(n, ARRAY_SIZE(expected));
		cr_expect_str_eq(config_keys[n], expected[n]);
		runtime_count += config_key_is_runtime(config_keys[n]);
	}
	cr_expect_eq(n, ARRAY_SIZE(expected));
	cr_expect_eq(n, KEY_COUNT);
	for (size_t i = 0; i < ARRAY_SIZE(runtime); i++)
		cr_expect(config_key_is_runtime(runtime[i]), "%s", runtime[i]);
	cr_expect_eq(runtime_count, ARRAY_SIZE(runtime));
	cr_expect_not(config_key_is_runtime("pool.nope"));
	cr_expect_not(config_key_is_runtime("limit"));
	cr_expect_not(config_key_is_runtime(""));
}

/* A reload applies what config_key_changed reports: exactly the keys set differently. */
Test(defaults, key_changed)
{
	static const struct {
		const char *key, *value;
	} changes[] = {
		{ "pool.limit", "64M" },
		{ "writeback.high_watermark", "70%" },
		{ "device.size", "3G" },
		{ "control.socket", "/run/elsewhere.sock" },
		{ "pool.compressor", "zstd:3" },
	};
	struct swapdev_config a, b;
	struct config_error error;

	cr_assert_eq(config_init(&a), 0);
	cr_assert_eq(config_init(&b), 0);
	for (size_t i = 0; config_keys[i]; i++)
		cr_expect_not(config_key_changed(&a, &b, config_keys[i]), "%s", config_keys[i]);
	for (size_t i = 0; i < ARRAY_SIZE(changes); i++)
		cr_assert_eq(config_set(&b, changes[i].key, changes[i].value, &error), 0, "%s",
			     error.message);
	for (size_t i = 0; config_keys[i]; i++) {
		bool expected = false;

		for (size_t j = 0; j < ARRAY_SIZE(changes); j++)
			expected |= strcmp(config_keys[i], changes[j].key) == 0;
		cr_expect_eq(config_key_changed(&a, &b, config_keys[i]), expected, "%s",
			     config_keys[i]);
		cr_expect_eq(config_key_changed(&b, &a, config_keys[i]), expected, "%s reversed",
			     config_keys[i]);
	}
	/* The same value written another way is no change. */
	cr_assert_eq(config_set(&a, "pool.limit", "65536K", &error), 0, "%s", error.message);
	cr_expect_not(config_key_changed(&a, &b, "pool.limit"));
	config_done(&a);
	config_done(&b);
}

Test(defaults, get_errors)
{
	struct swapdev_config config;
	char buf[8] = "keep";

	cr_assert_eq(config_init(&config), 0);
	cr_expect_eq(config_get(&config, "pool.nope", buf, sizeof(buf)), -ENOENT);
	cr_expect_eq(config_get(&config, "size", buf, sizeof(buf)), -ENOENT);
	cr_expect_eq(config_get(&config, "device.size", buf, 2), -ENOBUFS);
	cr_expect_str_eq(buf, "keep", "buffer touched on failure");
	cr_expect_eq(config_get(&config, "device.size", buf, 3), 0);
	cr_expect_str_eq(buf, "1G");
	cr_expect_eq(config_get(&config, "device.mountpoint", buf, sizeof(buf)), -ENOBUFS);
	config_done(&config);
}

Test(defaults, done_is_idempotent)
{
	struct swapdev_config config = { 0 };

	config_done(NULL);
	config_done(&config);
	cr_assert_eq(config_init(&config), 0);
	config_done(&config);
	cr_expect_null(config.mountpoint);
	cr_expect_null(config.control_group);
	config_done(&config);
}

/* ---- cross-key validation ---- */

Test(validate, watermarks)
{
	static const struct {
		const char *high, *low;
		int r;
	} cases[] = {
		{ "90", "80", 0 },  { "81", "80", 0 },   { "100", "99", 0 }, { "1", "0", 0 },
		{ "90", "90", -EINVAL }, { "80", "90", -EINVAL }, { "1", "1", -EINVAL },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct swapdev_config config;
		struct config_error error = { "" };
		char expected[256];
		int r;

		cr_assert_eq(config_init(&config), 0);
		/* Each value alone is valid: config_set never checks one key against another. */
		cr_assert_eq(config_set(&config, "writeback.low_watermark", cases[i].low, NULL), 0);
		cr_assert_eq(config_set(&config, "writeback.high_watermark", cases[i].high, NULL),
			     0);
		r = config_validate(&config, &error);
		cr_expect_eq(r, cases[i].r, "high %s low %s: %d", cases[i].high, cases[i].low, r);
		if (cases[i].r < 0) {
			snprintf(expected, sizeof(expected),
				 "writeback.low_watermark (%s%%) must be below "
				 "writeback.high_watermark (%s%%)",
				 cases[i].low, cases[i].high);
			cr_expect_str_eq(error.message, expected);
		}
		config_done(&config);
	}
}

Test(validate, fields_set_directly)
{
	struct swapdev_config config;
	struct config_error error;

	cr_assert_eq(config_init(&config), 0);
	config.priority = 40000;
	cr_expect_eq(config_validate(&config, &error), -EINVAL);
	cr_expect_str_eq(error.message,
			 "device.priority: number out of range '40000' (accepted: -1..32767)");
	config.priority = 5;

	config.pool_limit = config_ram_bytes() + SWAPDEV_PAGE_SIZE;
	cr_expect_eq(config_validate(&config, &error), -EINVAL);
	cr_expect(starts_with(error.message, "pool.limit: size out of range"), "%s",
		  error.message);
	config.pool_limit = 64 * MiB;

	config.device_size = GiB + 512;
	cr_expect_eq(config_validate(&config, &error), -EINVAL);
	cr_expect(starts_with(error.message, "device.size: size not a multiple of 4K"), "%s",
		  error.message);
	config.device_size = GiB;

	config.compressor.level = 99;
	config.compressor.kind = CODEC_ZSTD;
	cr_expect_eq(config_validate(&config, &error), -EINVAL);
	cr_expect(starts_with(error.message, "pool.compressor: invalid compressor"), "%s",
		  error.message);
	config.compressor.level = 3;

	free(config.control_group);
	config.control_group = strdup("bad group");
	cr_assert_not_null(config.control_group);
	cr_expect_eq(config_validate(&config, &error), -EINVAL);
	cr_expect(starts_with(error.message, "control.group: invalid group name 'bad group'"), "%s",
		  error.message);
	cr_expect_eq(config_set(&config, "control.group", "adm", NULL), 0);
	cr_expect_eq(config_validate(&config, &error), 0, "%s", error.message);
	config_done(&config);
}

/* ---- files ---- */

TestSuite(file, .init = make_tmpdir, .fini = remove_tmpdir);

Test(file, comments_and_whitespace)
{
	static const char content[] =
		"\xef\xbb\xbf# swapdevd test file\n"
		"; another comment\n"
		"\n"
		"   \t\n"
		"  [device]  \n"
		"\tsize\t=\t2G\t\n"
		" mountpoint=/srv/swap mnt # an inline comment\n"
		"priority = -1 ; also a comment\r\n"
		"activate =no\r\n"
		"[pool]# a comment right after the header\n"
		"limit = 64M\n"
		"compressor = zstd:5\n"
		"[ writeback ]\n"
		"high_watermark=95\n"
		"low_watermark = 50%\n"
		"backing_file = /var/lib/a#b;c\n"
		"[control]\n"
		"group = adm\n"
		"[device]\n"
		"size = 3G\n"
		"# a last comment without newline";
	struct swapdev_config config;
	struct config_error error = { "" };
	char path[PATH_MAX], text[PATH_MAX];

	cr_assert_eq(config_init(&config), 0);
	write_file(content, path, sizeof(path));
	cr_assert_eq(config_load_file(&config, path, &error), 0, "%s", error.message);

	cr_expect_eq(config.device_size, 3 * GiB, "the last value given wins");
	cr_expect_str_eq(config.mountpoint, "/srv/swap mnt");
	cr_expect_eq(config.priority, -1);
	cr_expect_not(config.activate);
	cr_expect_eq(config.pool_limit, 64 * MiB);
	get(&config, "pool.compressor", text, sizeof(text));
	cr_expect_str_eq(text, "zstd:5");
	cr_expect_eq(config.high_watermark, 95);
	cr_expect_eq(config.low_watermark, 50);
	cr_expect_str_eq(config.backing_file, "/var/lib/a#b;c");
	cr_expect_str_eq(config.control_group, "adm");
	/* Keys the file does not name keep their values. */
	cr_expect_str_eq(config.control_socket, "/run/swapdev/control");
	cr_expect_eq(config.reject_threshold, 3584);
	cr_expect_eq(config_validate(&config, &error), 0, "%s", error.message);
	config_done(&config);
}

Test(file, empty_and_comment_only)
{
	static const char *const contents[] = { "", "\n\n", "# nothing\n; here\n", "[pool]\n" };
	struct swapdev_config config;
	struct snapshot *before = malloc(sizeof(*before)), *after = malloc(sizeof(*after));
	char path[PATH_MAX];

	cr_assert(before && after);
	cr_assert_eq(config_init(&config), 0);
	take_snapshot(&config, before);
	for (size_t i = 0; i < ARRAY_SIZE(contents); i++) {
		write_file(contents[i], path, sizeof(path));
		cr_expect_eq(config_load_file(&config, path, NULL), 0, "'%s'", contents[i]);
	}
	take_snapshot(&config, after);
	assert_snapshot_eq(before, after);
	config_done(&config);
	free(before);
	free(after);
}

struct file_error_case {
	const char *content;
	size_t length; /* 0: strlen(content) */
	unsigned line;
	const char *message; /* after "PATH:LINE: "; NULL: check the prefix only */
};

Test(file, errors_name_file_and_line)
{
	static const struct file_error_case cases[] = {
		{ "[device]\nsize = 1G\n[nope]\n", 0, 3,
		  "unknown section [nope] (accepted: device, pool, writeback, control)" },
		{ "[Device]\n", 0, 1,
		  "unknown section [Device] (accepted: device, pool, writeback, control)" },
		{ "[]\n", 0, 1, "unknown section [] (accepted: device, pool, writeback, control)" },
		{ "[pool]\n\n# comment\nlimitt = 1G\n", 0, 4,
		  "unknown key 'limitt' (keys in [pool]: limit, compressor, same_filled, "
		  "reject_threshold, incompressible, exclusive_loads, recompress, "
			 "recompress_idle_seconds, recompress_min_saving, recompress_cpu_percent)" },
		{ "[pool]\nLimit = 1G\n", 0, 2, NULL },
		{ "[pool]\nsize = 1G\n", 0, 2, NULL },
		{ "size = 1G\n", 0, 1,
		  "key 'size' is outside any section (put it under [device])" },
		{ "# comment\nfoo = 1\n", 0, 2,
		  "key 'foo' is outside any section (sections: device, pool, writeback, control)" },
		{ "[device\n", 0, 1,
		  "malformed section header '[device' (accepted: device, pool, writeback, "
		  "control)" },
		{ "[pool] x\n", 0, 1,
		  "malformed section header '[pool] x' (accepted: device, pool, writeback, "
		  "control)" },
		{ "[pool]\n[pool]]\n", 0, 2,
		  "malformed section header '[pool]]' (accepted: device, pool, writeback, "
		  "control)" },
		{ "[device]\njunk\n", 0, 2,
		  "expected 'key = value', '[section]' or a comment, got 'junk'" },
		{ "[device]\n= 5\n", 0, 2, "missing key before '='" },
		{ "[device]\nsize\n", 0, 2,
		  "expected 'key = value', '[section]' or a comment, got 'size'" },
		{ "[device]\nsize =\n", 0, 2,
		  "device.size: invalid size '' (accepted: 1M..16T, a multiple of 4K, K/M/G/T "
		  "suffix or a percentage of RAM)" },
		{ "[pool]\r\nlimit = 1G\r\ncompressor = zstd:99\r\n", 0, 3,
		  "pool.compressor: invalid compressor 'zstd:99' (accepted: lz4, zstd, "
		  "zstd:LEVEL with LEVEL 1..19 or -5..-1)" },
		{ "[writeback]\n  high_watermark = 101 # too much\n", 0, 2,
		  "writeback.high_watermark: percentage out of range '101' (accepted: 1..100, with "
		  "or without %)" },
		{ "[device]\npriority = 1\0x\n", 24, 2, "line contains a NUL byte" },
		{ "[device]\n\0\0\0\0", 13, 2, "line contains a NUL byte" },
		{ "\0", 1, 1, "line contains a NUL byte" },
		{ "[control]\nsocket = control\n", 0, 2,
		  "control.socket: not an absolute path 'control' (accepted: an absolute path "
		  "of at most 107 bytes)" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct file_error_case *c = &cases[i];
		struct swapdev_config config;
		struct config_error error = { "" };
		char path[PATH_MAX], expected[PATH_MAX + 512];
		int r;

		cr_assert_eq(config_init(&config), 0);
		write_file_len(c->content, c->length ? c->length : strlen(c->content), path,
			       sizeof(path));
		r = config_load_file(&config, path, &error);
		cr_expect_eq(r, -EINVAL, "case %zu: %d (%s)", i, r, error.message);
		if (c->message) {
			snprintf(expected, sizeof(expected), "%s:%u: %s", path, c->line,
				 c->message);
			cr_expect_str_eq(error.message, expected, "case %zu", i);
		} else {
			snprintf(expected, sizeof(expected), "%s:%u: unknown key '", path, c->line);
			cr_expect(starts_with(error.message, expected),
				  "case %zu: '%s'", i, error.message);
		}
		config_done(&config);
	}
}

Test(file, bad_line_leaves_config_untouched)
{
	static const char content[] = "[device]\n"
				      "size = 8G\n"
				      "mountpoint = /elsewhere\n"
				      "[pool]\n"
				      "limit = 2M\n"
				      "compressor = zstd:7\n"
				      "[control]\n"
				      "group = adm\n"
				      "[writeback]\n"
				      "low_watermark = 10\n"
				      "high_watermark = lots\n"
				      "idle_seconds = 5\n";
	struct swapdev_config config;
	struct config_error error = { "" };
	struct snapshot *before = malloc(sizeof(*before)), *after = malloc(sizeof(*after));
	char path[PATH_MAX], expected[PATH_MAX + 64];

	cr_assert(before && after);
	cr_assert_eq(config_init(&config), 0);
	cr_assert_eq(config_set(&config, "device.mountpoint", "/mine", NULL), 0);
	cr_assert_eq(config_set(&config, "pool.limit", "8M", NULL), 0);
	take_snapshot(&config, before);

	write_file(content, path, sizeof(path));
	cr_expect_eq(config_load_file(&config, path, &error), -EINVAL);
	snprintf(expected, sizeof(expected), "%s:11: writeback.high_watermark: invalid percentage",
		 path);
	cr_expect(starts_with(error.message, expected), "%s", error.message);

	take_snapshot(&config, after);
	assert_snapshot_eq(before, after);
	cr_expect_str_eq(config.mountpoint, "/mine");
	cr_expect_eq(config.pool_limit, 8 * MiB);

	/* The same file without the bad line applies completely. */
	write_file("[device]\nsize = 8G\nmountpoint = /elsewhere\n", path, sizeof(path));
	cr_expect_eq(config_load_file(&config, path, &error), 0, "%s", error.message);
	cr_expect_eq(config.device_size, 8 * GiB);
	cr_expect_str_eq(config.mountpoint, "/elsewhere");
	config_done(&config);
	free(before);
	free(after);
}

Test(file, overrides_repair_cross_key_errors)
{
	struct swapdev_config config;
	struct config_error error = { "" };
	char path[PATH_MAX];

	cr_assert_eq(config_init(&config), 0);
	write_file("[writeback]\nlow_watermark = 95\n", path, sizeof(path));
	/* Each value is valid alone; the file loads, the combination does not validate... */
	cr_assert_eq(config_load_file(&config, path, &error), 0, "%s", error.message);
	cr_expect_eq(config_validate(&config, &error), -EINVAL);
	/* ...until a --set given after the file repairs it. */
	cr_assert_eq(config_set(&config, "writeback.high_watermark", "99", NULL), 0);
	cr_expect_eq(config_validate(&config, &error), 0, "%s", error.message);
	config_done(&config);
}

Test(file, cannot_open)
{
	struct swapdev_config config;
	struct snapshot *before = malloc(sizeof(*before)), *after = malloc(sizeof(*after));
	struct config_error error = { "" };
	char path[PATH_MAX + 16], expected[PATH_MAX + 64];

	cr_assert(before && after);
	cr_assert_eq(config_init(&config), 0);
	take_snapshot(&config, before);

	snprintf(path, sizeof(path), "%s/missing.conf", tmpdir);
	cr_expect_eq(config_load_file(&config, path, &error), -ENOENT);
	cr_expect_not_null(strstr(error.message, path), "%s", error.message);
	cr_expect_not_null(strstr(error.message, "No such file or directory"), "%s",
			   error.message);

	snprintf(expected, sizeof(expected), "%s: is a directory, not a regular file", tmpdir);
	cr_expect_eq(config_load_file(&config, tmpdir, &error), -EISDIR);
	cr_expect_str_eq(error.message, expected);

	/* Refused before a byte is read: /dev/zero would never end, a FIFO would block. */
	cr_expect_eq(config_load_file(&config, "/dev/zero", &error), -EBADFD);
	cr_expect_str_eq(error.message, "/dev/zero: is a character device, not a regular file");
	snprintf(path, sizeof(path), "%s/fifo.conf", tmpdir);
	cr_assert_eq(mkfifo(path, 0600), 0, "mkfifo: %s", strerror(errno));
	snprintf(expected, sizeof(expected), "%s: is a FIFO, not a regular file", path);
	cr_expect_eq(config_load_file(&config, path, &error), -EBADFD);
	cr_expect_str_eq(error.message, expected);
	unlink(path);

	take_snapshot(&config, after);
	assert_snapshot_eq(before, after);
	config_done(&config);
	free(before);
	free(after);
}

Test(file, line_length_cap)
{
	struct swapdev_config config;
	struct config_error error = { "" };
	char *content = malloc(3 * CONFIG_LINE_MAX);
	char path[PATH_MAX], expected[PATH_MAX + 64];
	size_t length;

	cr_assert_not_null(content);
	cr_assert_eq(config_init(&config), 0);

	/* A comment line of exactly CONFIG_LINE_MAX bytes, then a key. */
	length = (size_t)sprintf(content, "[device]\n");
	content[length] = '#';
	memset(content + length + 1, 'x', CONFIG_LINE_MAX - 1);
	length += CONFIG_LINE_MAX;
	length += (size_t)sprintf(content + length, "\npriority = 7\n");
	write_file_len(content, length, path, sizeof(path));
	cr_expect_eq(config_load_file(&config, path, &error), 0, "%s", error.message);
	cr_expect_eq(config.priority, 7);

	/* One byte more, and a line that goes on far past the cap. */
	memset(content + strlen("[device]\n#"), 'x', 2 * CONFIG_LINE_MAX);
	for (size_t extra = 1; extra <= CONFIG_LINE_MAX; extra += CONFIG_LINE_MAX - 1) {
		length = strlen("[device]\n") + CONFIG_LINE_MAX + extra;
		write_file_len(content, length, path, sizeof(path));
		snprintf(expected, sizeof(expected), "%s:2: line longer than %d bytes", path,
			 CONFIG_LINE_MAX);
		cr_expect_eq(config_load_file(&config, path, &error), -EINVAL, "extra %zu", extra);
		cr_expect_str_eq(error.message, expected, "extra %zu", extra);
	}
	cr_expect_eq(config.priority, 7);
	config_done(&config);
	free(content);
}

Test(file, print_loads_back)
{
	struct swapdev_config config, loaded;
	struct config_error error = { "" };
	struct snapshot *printed = malloc(sizeof(*printed));
	struct snapshot *read_back = malloc(sizeof(*read_back));
	char path[PATH_MAX];
	FILE *f;

	cr_assert(printed && read_back);
	cr_assert_eq(config_init(&config), 0);
	cr_assert_eq(config_set(&config, "device.mountpoint", "/srv/a#b c", NULL), 0);
	cr_assert_eq(config_set(&config, "pool.compressor", "zstd:-3", NULL), 0);
	cr_assert_eq(config_set(&config, "pool.limit", "4100K", NULL), 0);
	cr_assert_eq(config_set(&config, "device.priority", "-1", NULL), 0);
	cr_assert_eq(config_set(&config, "control.group", "1234", NULL), 0);
	take_snapshot(&config, printed);

	file_path(files_written++, path, sizeof(path));
	f = fopen(path, "we");
	cr_assert_not_null(f);
	cr_expect_eq(config_print(&config, f, &error), 0, "%s", error.message);
	cr_assert_eq(fclose(f), 0);
	cr_assert_eq(config_init(&loaded), 0);
	cr_expect_eq(config_load_file(&loaded, path, &error), 0, "%s", error.message);
	take_snapshot(&loaded, read_back);
	assert_snapshot_eq(printed, read_back);
	config_done(&loaded);

	/* A value the reader would cut is refused, and nothing is printed. */
	static const char *const unwritable[] = { "/srv/a #b", "/srv/a\nsize = 2G", "/srv/a " };
	for (size_t i = 0; i < ARRAY_SIZE(unwritable); i++) {
		char *text = NULL;
		size_t size = 0;

		cr_assert_eq(config_set(&config, "writeback.backing_file", unwritable[i], NULL), 0);
		f = open_memstream(&text, &size);
		cr_assert_not_null(f);
		cr_expect_eq(config_print(&config, f, &error), -EINVAL, "'%s'", unwritable[i]);
		cr_assert_eq(fclose(f), 0);
		cr_expect_eq(size, 0, "printed: %s", text);
		cr_expect(starts_with(error.message,
				      "writeback.backing_file: the value cannot be written"),
			  "%s", error.message);
		free(text);
	}
	config_done(&config);
	free(printed);
	free(read_back);
}

/*
 * The shipped etc/swapdevd.conf documents every key once, commented out at
 * its default: uncommenting every key line must load and change nothing.
 */
Test(file, sample_config_matches_defaults)
{
	char sample[PATH_MAX], path[PATH_MAX];
	const char *slash = strrchr(__FILE__, '/');
	struct swapdev_config config;
	struct config_error error = { "" };
	struct snapshot *before = malloc(sizeof(*before)), *after = malloc(sizeof(*after));
	char *line = NULL, *uncommented = NULL;
	size_t capacity = 0, uncommented_size = 0;
	unsigned keys = 0;
	FILE *in, *out;

	cr_assert(before && after);
	snprintf(sample, sizeof(sample), "%.*s/../../etc/swapdevd.conf",
		 slash ? (int)(slash - __FILE__) : 1, slash ? __FILE__ : ".");
	in = fopen(sample, "re");
	if (!in) {
		remove_tmpdir(); /* cr_skip_test does not run .fini */
		cr_skip_test("sample config not found at %s (run from the build directory)",
			     sample);
	}

	cr_assert_eq(config_init(&config), 0);
	take_snapshot(&config, before);
	cr_assert_eq(config_load_file(&config, sample, &error), 0, "%s", error.message);

	out = open_memstream(&uncommented, &uncommented_size);
	cr_assert_not_null(out);
	while (getline(&line, &capacity, in) >= 0) {
		/* "#key = value" is a key at its default; "# text" is an explanation. */
		if (line[0] == '#' && line[1] >= 'a' && line[1] <= 'z' && strchr(line, '=')) {
			fputs(line + 1, out);
			keys++;
		} else {
			fputs(line, out);
		}
	}
	fclose(in);
	cr_assert_eq(fclose(out), 0);
	free(line);
	cr_expect_eq(keys, KEY_COUNT, "the sample documents %u keys", keys);

	write_file(uncommented, path, sizeof(path));
	free(uncommented);
	cr_assert_eq(config_load_file(&config, path, &error), 0, "%s", error.message);
	take_snapshot(&config, after);
	assert_snapshot_eq(before, after);
	config_done(&config);
	free(before);
	free(after);
}
