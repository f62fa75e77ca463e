/* SPDX-License-Identifier: MIT */
/*
 * fuzz-ini.c - libFuzzer target for the INI reader alone, with no key
 * table behind it (fuzz-config fuzzes the two together).
 *
 * The input is read as a file through ini_parse_stream (fmemopen), with
 * callbacks that accept everything, so every line reaches the grammar.
 *
 * Oracles beyond the sanitizers, from ini.h's promises:
 *
 *  - the result is 0, -EINVAL, or the callbacks' -ECANCELED, and -EINVAL always comes with a
 *    "NAME:LINE: " message whose line is one the input has;
 *  - callbacks see lines in order, a non-empty key, and names and values
 *    of at most INI_LINE_MAX bytes without blanks at their ends;
 *  - a key's section is the last header's name (NULL before any);
 *  - every section and key the reader reported, written back as
 *    "[section]" and "key=value" lines (values ini_value_survives()
 *    accepts), reads back as the same sequence.
 */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ini.h"

#define CHECK(cond)                                                                      \
	do {                                                                             \
		if (!(cond)) {                                                           \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, \
				#cond);                                                  \
			abort();                                                         \
		}                                                                        \
	} while (0)

/*
 * What the callbacks saw, as a text: "[name]\n" and "key=value\n" lines,
 * never longer than the lines they came from, so the cap holds for them.
 */
struct events {
	char *text;
	size_t length, capacity;
	unsigned last_line, lines;
	bool in_section;
	char section[INI_LINE_MAX + 1];
};

static void append(struct events *ev, const char *a, const char *b, const char *c)
{
	size_t need = strlen(a) + strlen(b) + strlen(c) + 1;

	if (ev->length + need > ev->capacity) {
		ev->capacity = (ev->length + need) * 2;
		ev->text = realloc(ev->text, ev->capacity);
		CHECK(ev->text);
	}
	ev->length += (size_t)sprintf(ev->text + ev->length, "%s%s%s", a, b, c);
}

static bool trimmed(const char *s)
{
	size_t length = strlen(s);

	return length <= INI_LINE_MAX &&
	       (length == 0 ||
		(!isspace((unsigned char)s[0]) && !isspace((unsigned char)s[length - 1])));
}

static void saw_line(struct events *ev, const struct ini_location *at)
{
	CHECK(strcmp(at->path, "fuzz") == 0);
	CHECK(at->line > ev->last_line);
	ev->last_line = at->line;
	ev->lines++;
}

static int on_section(const char *name, const struct ini_location *at, void *userdata)
{
	struct events *ev = userdata;

	saw_line(ev, at);
	CHECK(trimmed(name));
	/* A name the writer below cannot put between brackets is not written back. */
	if (!ini_value_survives(name) || strpbrk(name, "[]#;"))
		return -ECANCELED;
	append(ev, "[", name, "]\n");
	strcpy(ev->section, name);
	ev->in_section = true;
	return 0;
}

static int on_key(const char *section, const char *key, const char *value,
		  const struct ini_location *at, void *userdata)
{
	struct events *ev = userdata;

	saw_line(ev, at);
	CHECK(key[0] != '\0' && trimmed(key) && trimmed(value));
	CHECK(!strchr(key, '='));
	CHECK(ev->in_section ? section && strcmp(section, ev->section) == 0 : !section);
	/* A second byte order mark would be eaten on line 1 of the copy. */
	if (!ini_value_survives(value) || key[0] == '[' || key[0] == '#' || key[0] == ';' ||
	    strncmp(key, "\xef\xbb\xbf", 3) == 0)
		return -ECANCELED;
	append(ev, key, "=", value);
	append(ev, "\n", "", "");
	return 0;
}

static const struct ini_handler handler = {
	.section = on_section,
	.key = on_key,
	.section_names = "fuzz",
};

static int parse(const uint8_t *data, size_t size, struct events *ev, char *message,
		 size_t message_size)
{
	FILE *f;
	int r;

	/* fmemopen refuses a zero-sized buffer on some libcs: an empty file is a closed stream. */
	if (size == 0)
		return 0;
	f = fmemopen((void *)data, size, "r");
	CHECK(f);
	r = ini_parse_stream(f, "fuzz", &handler, ev, message, message_size);
	fclose(f);
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct events *first = calloc(1, sizeof(*first)), *second = calloc(1, sizeof(*second));
	char message[512] = "";
	unsigned line;
	int r;

	CHECK(first && second);
	r = parse(data, size, first, message, sizeof(message));
	CHECK(r == 0 || r == -EINVAL || r == -ECANCELED);
	if (r == -EINVAL) {
		CHECK(sscanf(message, "fuzz:%u: ", &line) == 1);
		CHECK(line >= 1 && line > first->last_line);
	}

	/* What was seen up to the first error, written back, reads back the same. */
	if (first->length > 0) {
		r = parse((const uint8_t *)first->text, first->length, second, message,
			  sizeof(message));
		CHECK(r == 0);
		CHECK(second->length == first->length &&
		      memcmp(second->text, first->text, first->length) == 0);
	}
	free(first->text);
	free(second->text);
	free(first);
	free(second);
	return 0;
}
