/* SPDX-License-Identifier: MIT */
/*
 * fuzz-config.c - libFuzzer target for the configuration parser.
 *
 * The first input byte picks how the rest reaches the parser:
 *
 *  - even: as an INI file. The bytes go into a memfd that
 *    config_load_file() opens by its /proc/self/fd path, so the real
 *    fopen/getline path runs without touching the disk.
 *  - odd: as --set overrides and SetConfig calls. Each line "key=value"
 *    goes to config_set(); each value also goes to config_parse_size()
 *    and codec_spec_parse(), which config_set only reaches for some keys.
 *
 * Oracles beyond the sanitizers, from config.h's promises:
 *
 *  - only documented errors; -EINVAL always comes with a message;
 *  - a refused file or value changes nothing (every key's text, compared
 *    before and after);
 *  - every accepted value has a canonical text that is accepted again and
 *    formats to itself (what GetConfig shows, SetConfig takes back);
 *  - codec specs round-trip through codec_spec_format();
 *  - what config_print() writes (swapdevd --print-config) loads back as the
 *    same configuration, or it refuses with -EINVAL and writes nothing.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "codec.h"
#include "common.h"
#include "config.h"

#define CHECK(cond)                                                                  \
	do {                                                                         \
		if (!(cond)) {                                                       \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, \
				#cond);                                              \
			abort();                                                     \
		}                                                                    \
	} while (0)

#define MAX_KEYS 64
#define VALUE_MAX 8192
#define FAKE_RAM (UINT64_C(8) << 30)

struct snapshot {
	char value[MAX_KEYS][VALUE_MAX];
};

static struct snapshot before, after;
static size_t nr_keys;
static int memfd = -1, print_memfd = -1;
static char memfd_path[64], print_memfd_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	while (config_keys[nr_keys])
		nr_keys++;
	CHECK(nr_keys > 0 && nr_keys <= MAX_KEYS);
	memfd = memfd_create("fuzz-config", MFD_CLOEXEC);
	CHECK(memfd >= 0);
	snprintf(memfd_path, sizeof(memfd_path), "/proc/self/fd/%d", memfd);
	print_memfd = memfd_create("fuzz-config-print", MFD_CLOEXEC);
	CHECK(print_memfd >= 0);
	snprintf(print_memfd_path, sizeof(print_memfd_path), "/proc/self/fd/%d", print_memfd);
	return 0;
}

static void take_snapshot(const struct swapdev_config *config, struct snapshot *s)
{
	for (size_t k = 0; k < nr_keys; k++)
		CHECK(config_get(config, config_keys[k], s->value[k], VALUE_MAX) == 0);
}

static void check_unchanged(const struct swapdev_config *config)
{
	take_snapshot(config, &after);
	for (size_t k = 0; k < nr_keys; k++)
		CHECK(strcmp(before.value[k], after.value[k]) == 0);
}

/* The canonical text of every key is accepted again and formats to itself. */
static void check_canonical(struct swapdev_config *config)
{
	struct config_error error;
	char text[VALUE_MAX];

	take_snapshot(config, &before);
	for (size_t k = 0; k < nr_keys; k++) {
		int r = config_set(config, config_keys[k], before.value[k], &error);

		if (r != 0)
			fprintf(stderr, "%s='%s' refused: %s\n", config_keys[k], before.value[k],
				error.message);
		CHECK(r == 0);
		CHECK(config_get(config, config_keys[k], text, sizeof(text)) == 0);
		CHECK(strcmp(text, before.value[k]) == 0);
	}
	check_unchanged(config);
}

static void check_error(int r, const struct config_error *error)
{
	if (r == -EINVAL)
		CHECK(error->message[0] != '\0' &&
		      memchr(error->message, '\0', sizeof(error->message)));
}

/* --print-config: the printed text loads back as the same configuration. */
static void check_print(const struct swapdev_config *config)
{
	struct config_error error = { { 0 } };
	struct swapdev_config loaded;
	char *text = NULL;
	size_t length = 0;
	FILE *f = open_memstream(&text, &length);
	int r;

	CHECK(f);
	r = config_print(config, f, &error);
	CHECK(fclose(f) == 0);
	CHECK(r == 0 || r == -EINVAL);
	check_error(r, &error);
	if (r < 0) {
		CHECK(length == 0);
		free(text);
		return;
	}
	CHECK(ftruncate(print_memfd, 0) == 0);
	CHECK(pwrite(print_memfd, text, length, 0) == (ssize_t)length);
	free(text);
	CHECK(config_init(&loaded) == 0);
	r = config_load_file(&loaded, print_memfd_path, &error);
	if (r != 0)
		fprintf(stderr, "printed configuration refused: %s\n", error.message);
	CHECK(r == 0);
	take_snapshot(config, &before);
	take_snapshot(&loaded, &after);
	for (size_t k = 0; k < nr_keys; k++)
		CHECK(strcmp(before.value[k], after.value[k]) == 0);
	config_done(&loaded);
}

static void check_validate(const struct swapdev_config *config)
{
	struct config_error error = { { 0 } };
	int r = config_validate(config, &error);

	CHECK(r == 0 || r == -EINVAL);
	CHECK(r == 0 || error.message[0] != '\0');
}

static void fuzz_file(struct swapdev_config *config, const uint8_t *data, size_t size)
{
	struct config_error error = { { 0 } };
	int r;

	CHECK(ftruncate(memfd, 0) == 0);
	CHECK(pwrite(memfd, data, size, 0) == (ssize_t)size);
	take_snapshot(config, &before);
	r = config_load_file(config, memfd_path, &error);
	CHECK(r == 0 || r == -EINVAL || r == -ENOMEM);
	check_error(r, &error);
	if (r < 0) {
		check_unchanged(config);
		return;
	}
	check_validate(config);
	check_canonical(config);
	check_print(config);
}

static void fuzz_value(const char *value)
{
	struct codec_spec spec, again;
	char text[CODEC_SPEC_MAX];
	uint64_t bytes = UINT64_MAX;
	int r;

	r = config_parse_size(value, FAKE_RAM, &bytes);
	CHECK(r == 0 || r == -EINVAL || r == -ERANGE);
	CHECK(r == 0 || bytes == UINT64_MAX); /* untouched on failure */
	if (codec_spec_parse(value, &spec) == 0) {
		codec_spec_format(&spec, text);
		CHECK(codec_spec_parse(text, &again) == 0);
		CHECK(again.kind == spec.kind && again.level == spec.level);
	}
}

static void fuzz_sets(struct swapdev_config *config, const uint8_t *data, size_t size)
{
	char *copy = malloc(size + 1), *line, *next;

	CHECK(copy);
	memcpy(copy, data, size);
	copy[size] = '\0';
	for (line = copy; line; line = next) {
		struct config_error error = { { 0 } };
		char *eq;
		int r;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		eq = strchr(line, '=');
		if (!eq) {
			fuzz_value(line);
			continue;
		}
		*eq = '\0';
		fuzz_value(eq + 1);
		take_snapshot(config, &before);
		r = config_set(config, line, eq + 1, &error);
		CHECK(r == 0 || r == -ENOENT || r == -EINVAL || r == -ENOMEM);
		check_error(r, &error);
		if (r < 0) {
			check_unchanged(config);
			/* NULL error is allowed: the same refusal without a message. */
			CHECK(config_set(config, line, eq + 1, NULL) == r);
			continue;
		}
		check_validate(config);
		check_canonical(config);
		check_print(config);
	}
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct swapdev_config config;

	if (size < 1)
		return 0;
	CHECK(config_init(&config) == 0);
	if (data[0] % 2 == 0)
		fuzz_file(&config, data + 1, size - 1);
	else
		fuzz_sets(&config, data + 1, size - 1);
	config_done(&config);
	return 0;
}
