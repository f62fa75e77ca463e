/* SPDX-License-Identifier: MIT */
/*
 * test-ini.c - the INI reader alone: what reaches the callbacks for each
 * line shape, its own FILE:LINE messages, a callback's error stopping the
 * reading, the line cap, NUL bytes, the regular-file check, and which
 * values survive a write and a read.
 *
 * Streams come from fmemopen; the file tests write into a mkdtemp
 * directory that each of them creates and removes.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ini.h"

/* Every callback appends "[name]" or "section/key=value|" to a log. */
struct recorder {
	char log[4 * INI_LINE_MAX];
	int fail_at_line; /* a callback on this line returns -ENOTUNIQ */
};

static void record(struct recorder *rec, const char *fmt, const char *a, const char *b,
		   const char *c)
{
	size_t used = strlen(rec->log);

	snprintf(rec->log + used, sizeof(rec->log) - used, fmt, a, b, c);
}

static int on_section(const char *name, const struct ini_location *at, void *userdata)
{
	struct recorder *rec = userdata;

	record(rec, "[%s]%s%s", name, "", "");
	return (int)at->line == rec->fail_at_line ? -ENOTUNIQ : 0;
}

static int on_key(const char *section, const char *key, const char *value,
		  const struct ini_location *at, void *userdata)
{
	struct recorder *rec = userdata;

	record(rec, "%s/%s=%s|", section ? section : "(none)", key, value);
	return (int)at->line == rec->fail_at_line ? -ENOTUNIQ : 0;
}

static const struct ini_handler handler = {
	.section = on_section,
	.key = on_key,
	.section_names = "a, b",
};

static int parse_text(const char *text, size_t length, struct recorder *rec, char *message,
		      size_t size)
{
	FILE *f = fmemopen((void *)text, length, "r");
	int r;

	cr_assert_not_null(f, "fmemopen: %s", strerror(errno));
	r = ini_parse_stream(f, "test.conf", &handler, rec, message, size);
	fclose(f);
	return r;
}

struct accepted_case {
	const char *text;
	const char *log;
};

Test(stream, accepted_lines)
{
	static const struct accepted_case cases[] = {
		{ "", "" },
		{ "\n\n   \n\t\n", "" },
		{ "# comment\n; comment\n   # indented\n", "" },
		{ "[a]\nk = v\n", "[a]a/k=v|" },
		{ "[ a ]\n  k=v  \n", "[a]a/k=v|" },
		{ "[a]# no blank needed\n[b] ; comment\n", "[a][b]" },
		{ "k = before any section\n", "(none)/k=before any section|" },
		{ "[a]\nk = v # comment\nl = v; not a comment\n",
		  "[a]a/k=v|a/l=v; not a comment|" },
		{ "[a]\np = /srv/a#b\n", "[a]a/p=/srv/a#b|" },
		{ "[a]\nk =\n", "[a]a/k=|" },
		{ "[a]\nk = x = y\n", "[a]a/k=x = y|" },
		{ "[a]\r\nk = v\r\n", "[a]a/k=v|" },
		{ "\xef\xbb\xbf[a]\nk = v", "[a]a/k=v|" },
		{ "[a]\nk = v\n[b]\nk = w\n[a]\nk = x\n", "[a]a/k=v|[b]b/k=w|[a]a/k=x|" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct recorder rec = { .fail_at_line = -1 };
		char message[256] = "";

		cr_expect_eq(parse_text(cases[i].text, strlen(cases[i].text), &rec, message,
					sizeof(message)),
			     0, "case %zu: %s", i, message);
		cr_expect_str_eq(rec.log, cases[i].log, "case %zu", i);
	}
}

struct refused_case {
	const char *text;
	size_t length; /* 0: strlen(text) */
	const char *message;
	const char *log; /* what the callbacks saw before */
};

Test(stream, refused_lines)
{
	static const struct refused_case cases[] = {
		{ "[a]\njunk\n", 0,
		  "test.conf:2: expected 'key = value', '[section]' or a comment, got 'junk'", "[a]" },
		{ "[a]\n = v\n", 0, "test.conf:2: missing key before '='", "[a]" },
		{ "\n[a\n", 0, "test.conf:2: malformed section header '[a' (accepted: a, b)", "" },
		{ "[a] x\n", 0, "test.conf:1: malformed section header '[a] x' (accepted: a, b)",
		  "" },
		{ "[a]\nk = v\x00w\nl = 1\n", 12, "test.conf:2: line contains a NUL byte", "[a]" },
		{ "[a]\n\x00", 5, "test.conf:2: line contains a NUL byte", "[a]" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct recorder rec = { .fail_at_line = -1 };
		size_t length = cases[i].length ? cases[i].length : strlen(cases[i].text);
		char message[256] = "";

		cr_expect_eq(parse_text(cases[i].text, length, &rec, message, sizeof(message)),
			     -EINVAL, "case %zu", i);
		cr_expect_str_eq(message, cases[i].message, "case %zu", i);
		cr_expect_str_eq(rec.log, cases[i].log, "case %zu", i);
	}
}

Test(stream, malformed_header_without_section_names)
{
	static const struct ini_handler bare = { .section = on_section, .key = on_key };
	struct recorder rec = { .fail_at_line = -1 };
	char message[256] = "";
	FILE *f = fmemopen((void *)"[a", 2, "r");

	cr_assert_not_null(f);
	cr_expect_eq(ini_parse_stream(f, "x", &bare, &rec, message, sizeof(message)), -EINVAL);
	fclose(f);
	cr_expect_str_eq(message, "x:1: malformed section header '[a'");
}

Test(stream, callback_error_stops_and_is_returned)
{
	static const char text[] = "[a]\nk = 1\nl = 2\nm = 3\n";
	struct recorder rec = { .fail_at_line = 3 };
	char message[64] = "untouched";

	cr_expect_eq(parse_text(text, strlen(text), &rec, message, sizeof(message)), -ENOTUNIQ);
	cr_expect_str_eq(rec.log, "[a]a/k=1|a/l=2|");
	cr_expect_str_eq(message, "untouched", "a callback's error is the callback's to write");

	rec = (struct recorder){ .fail_at_line = 1 };
	cr_expect_eq(parse_text(text, strlen(text), &rec, message, sizeof(message)), -ENOTUNIQ);
	cr_expect_str_eq(rec.log, "[a]", "a refused section is not entered");
}

Test(stream, message_may_be_null_or_short)
{
	struct recorder rec = { .fail_at_line = -1 };
	char message[8];

	cr_expect_eq(parse_text("junk", 4, &rec, NULL, 0), -EINVAL);
	cr_expect_eq(parse_text("junk", 4, &rec, message, sizeof(message)), -EINVAL);
	cr_expect_str_eq(message, "test.co");
}

Test(stream, line_length_cap)
{
	size_t size = 2 * INI_LINE_MAX + 16;
	char *text = malloc(size);
	char message[256];
	struct recorder *rec = calloc(1, sizeof(*rec));

	cr_assert(text && rec);
	/* A comment of exactly INI_LINE_MAX bytes, then a key: accepted. */
	text[0] = '#';
	memset(text + 1, 'x', INI_LINE_MAX - 1);
	strcpy(text + INI_LINE_MAX, "\n[a]\nk = v\n");
	rec->fail_at_line = -1;
	cr_expect_eq(parse_text(text, strlen(text), rec, message, sizeof(message)), 0, "%s",
		     message);
	cr_expect_str_eq(rec->log, "[a]a/k=v|");

	/* One byte more, with or without a newline after it: refused on that line. */
	for (int newline = 0; newline <= 1; newline++) {
		size_t length = strlen("[a]\n#") + INI_LINE_MAX;

		memcpy(text, "[a]\n#", strlen("[a]\n#"));
		memset(text + strlen("[a]\n#"), 'x', INI_LINE_MAX);
		if (newline)
			text[length++] = '\n';
		rec->log[0] = '\0';
		cr_expect_eq(parse_text(text, length, rec, message, sizeof(message)), -EINVAL);
		cr_expect_str_eq(message, "test.conf:2: line longer than 8192 bytes");
	}
	free(rec);
	free(text);
}

static char tmpdir[64];

static void make_tmpdir(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "%s/test-ini.XXXXXX", P_tmpdir);
	cr_assert_not_null(mkdtemp(tmpdir), "mkdtemp: %s", strerror(errno));
}

static void remove_tmpdir(void)
{
	char path[PATH_MAX];
	static const char *const names[] = { "file.conf", "fifo", "dir" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", tmpdir, names[i]);
		if (unlink(path) < 0)
			rmdir(path);
	}
	rmdir(tmpdir);
}

TestSuite(file, .init = make_tmpdir, .fini = remove_tmpdir);

Test(file, regular_file_is_read)
{
	struct recorder rec = { .fail_at_line = -1 };
	char path[PATH_MAX], expected[PATH_MAX + 128], message[PATH_MAX + 128] = "";
	FILE *f;

	snprintf(path, sizeof(path), "%s/file.conf", tmpdir);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("[a]\nk = v\nbad\n", f);
	fclose(f);
	cr_expect_eq(ini_parse_file(path, &handler, &rec, message, sizeof(message)), -EINVAL);
	cr_expect_str_eq(rec.log, "[a]a/k=v|");
	snprintf(expected, sizeof(expected),
		 "%s:3: expected 'key = value', '[section]' or a comment, got 'bad'", path);
	cr_expect_str_eq(message, expected);
}

Test(file, not_a_regular_file)
{
	struct recorder rec = { .fail_at_line = -1 };
	char path[PATH_MAX], expected[PATH_MAX + 64], message[PATH_MAX + 64];

	snprintf(path, sizeof(path), "%s/missing.conf", tmpdir);
	cr_expect_eq(ini_parse_file(path, &handler, &rec, message, sizeof(message)), -ENOENT);
	snprintf(expected, sizeof(expected), "%s: cannot open: %s", path, strerror(ENOENT));
	cr_expect_str_eq(message, expected);

	snprintf(path, sizeof(path), "%s/dir", tmpdir);
	cr_assert_eq(mkdir(path, 0700), 0);
	cr_expect_eq(ini_parse_file(path, &handler, &rec, message, sizeof(message)), -EISDIR);
	snprintf(expected, sizeof(expected), "%s: is a directory, not a regular file", path);
	cr_expect_str_eq(message, expected);

	/* A FIFO with no writer: opened without blocking, and refused. */
	snprintf(path, sizeof(path), "%s/fifo", tmpdir);
	cr_assert_eq(mkfifo(path, 0600), 0);
	cr_expect_eq(ini_parse_file(path, &handler, &rec, message, sizeof(message)), -EBADFD);
	snprintf(expected, sizeof(expected), "%s: is a FIFO, not a regular file", path);
	cr_expect_str_eq(message, expected);
	cr_expect_str_eq(rec.log, "");
}

struct survive_case {
	const char *text;
	bool survives;
};

Test(value, survives)
{
	static const struct survive_case cases[] = {
		{ "", true },
		{ "1G", true },
		{ "/srv/a#b", true },
		{ "/srv/a;b", true },
		{ "a b", true },
		{ " a", false },
		{ "a ", false },
		{ "a\t", false },
		{ "a\nb", false },
		{ "a\rb", false },
		{ "a #b", false },
		{ "a\t;b", false },
		{ "#a", false },
		{ ";a", false },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		cr_expect_eq(ini_value_survives(cases[i].text), cases[i].survives, "'%s'",
			     cases[i].text);
}
