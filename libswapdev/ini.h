/* SPDX-License-Identifier: MIT */
/*
 * ini.h - a small INI reader: "[section]", "key = value", comments.
 *
 * It knows the grammar and nothing of what the keys mean: each section
 * header and each key goes to a callback of the caller's, which checks it
 * and says what is wrong. Errors of the file itself (it cannot be opened,
 * it is not a regular file, a NUL byte, an overlong line, a line that is
 * neither a header, a key nor a comment) are written by the reader as
 * "FILE:LINE: ..." into the caller's message buffer; a callback's error is
 * the callback's to describe (it is given the file and line) and stops the
 * reading with the callback's return value.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Longest line of a file, its newline excluded. */
#define INI_LINE_MAX 8192

/* Where a line is: the path as the caller named it, lines counted from 1. */
struct ini_location {
	const char *path;
	unsigned line;
};

struct ini_handler {
	/*
	 * A "[name]" line, name without blanks at its ends. Returns 0 to go
	 * on, or a negative errno to stop, the message written by itself.
	 */
	int (*section)(const char *name, const struct ini_location *at, void *userdata);
	/*
	 * A "key = value" line under section (NULL before the first header),
	 * key non-empty, key and value without blanks at their ends or a
	 * trailing comment. Returns 0 or a negative errno, as section().
	 */
	int (*key)(const char *section, const char *key, const char *value,
		   const struct ini_location *at, void *userdata);
	/* Optional: the accepted sections, quoted when a header is malformed. */
	const char *section_names;
};

/*
 * Read the file at path, which must be a regular file (it is opened
 * without blocking, so a FIFO cannot hold the caller). Returns 0, a
 * callback's error, -ENOENT and the other errors of open(2), -EISDIR or
 * -EBADFD when it is a directory or another file that is not regular,
 * -EINVAL for bad syntax, a NUL byte or a line longer than INI_LINE_MAX,
 * -errno when reading fails. message (size bytes, may be NULL) holds the
 * reason on every failure but a callback's.
 */
int ini_parse_file(const char *path, const struct ini_handler *handler, void *userdata,
		   char *message, size_t size);

/* The same from an open stream; path only names it in messages. */
int ini_parse_stream(FILE *f, const char *path, const struct ini_handler *handler, void *userdata,
		     char *message, size_t size);

/*
 * True when "key = text" is read back with text as the value unchanged:
 * no newline or carriage return, no blanks at its ends, no '#' or ';'
 * at its start or after a blank (which would start a comment).
 */
bool ini_value_survives(const char *text);
