/* SPDX-License-Identifier: MIT */
/*
 * ini.c - the INI reader behind swapdevd.conf.
 *
 * Our own, not libinih. Debian builds libinih with INI_HANDLER_LINENO=0,
 * so its callback does not see line numbers, and with settings that
 * surprise an administrator: an indented line continues the previous
 * value (INI_ALLOW_MULTILINE), lines are cut at 200 bytes (a long path
 * would be split), '#' starts an inline comment but ';' does not, and
 * parsing goes on after the first error. The grammar we need fits in one
 * function: "[section]", "key = value", blank lines, and comments
 * starting with '#' or ';' at the start of a line or after whitespace
 * ("/srv/a#b" stays a value). It accepts CRLF and a UTF-8 byte order
 * mark, and stops at the first error.
 *
 * Only a regular file is read, opened without blocking so that a FIFO
 * cannot hold the caller. A line is read into an INI_LINE_MAX buffer byte
 * by byte and a NUL byte or an overlong line is refused the moment it is
 * met, so a file of zeros costs one line's worth of time and memory. The
 * current section's name is copied into a second such buffer: the two
 * lines on the stack are all the memory a file costs.
 *
 * The reader knows no keys: config.c gives it a callback for sections
 * and one for keys, and they decide what is known and what a value may
 * be. It writes its own errors as "FILE:LINE: ..." and leaves a
 * callback's error to the callback, which gets the file and line to
 * write the same prefix. The library does not log; the message goes back
 * to the caller.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "ini.h"

static void set_message(char *message, size_t size, const struct ini_location *at,
			const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void set_message(char *message, size_t size, const struct ini_location *at,
			const char *fmt, ...)
{
	size_t used = 0;
	va_list ap;
	int n;

	if (!message || size == 0)
		return;
	if (at) {
		n = snprintf(message, size, "%s:%u: ", at->path, at->line);
		used = MIN((size_t)MAX(n, 0), size - 1);
	}
	va_start(ap, fmt);
	vsnprintf(message + used, size - used, fmt, ap);
	va_end(ap);
}

static char *trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		end--;
	*end = '\0';
	return s;
}

/* The first '#' or ';' after whitespace, which starts a comment; NULL if none. */
static const char *inline_comment(const char *s)
{
	for (const char *p = s; *p; p++)
		if ((*p == '#' || *p == ';') && p > s && isblank((unsigned char)p[-1]))
			return p;
	return NULL;
}

bool ini_value_survives(const char *text)
{
	size_t length = strlen(text);

	/* "key = #x": the blank after '=' makes a leading '#' a comment too. */
	if (strpbrk(text, "\r\n") || text[0] == '#' || text[0] == ';' || inline_comment(text))
		return false;
	return length == 0 ||
	       (!isspace((unsigned char)text[0]) && !isspace((unsigned char)text[length - 1]));
}

struct reader {
	const struct ini_handler *handler;
	void *userdata;
	struct ini_location at;
	char *message;
	size_t size;
	bool in_section;
	char section[INI_LINE_MAX + 1];
};

static int parse_header(struct reader *reader, char *line)
{
	char *close = strchr(line, ']'), *name;
	int r;

	/* Only a comment may follow the header: "[pool]# ..." needs no space. */
	if (!close || (close[1] != '\0' && close[1] != '#' && close[1] != ';')) {
		if (reader->handler->section_names)
			set_message(reader->message, reader->size, &reader->at,
				    "malformed section header '%s' (accepted: %s)", line,
				    reader->handler->section_names);
		else
			set_message(reader->message, reader->size, &reader->at,
				    "malformed section header '%s'", line);
		return -EINVAL;
	}
	*close = '\0';
	name = trim(line + 1);
	r = reader->handler->section(name, &reader->at, reader->userdata);
	if (r < 0)
		return r;
	memcpy(reader->section, name, strlen(name) + 1);
	reader->in_section = true;
	return 0;
}

/* One line, already stripped of its newline. */
static int parse_line(struct reader *reader, char *line)
{
	char *comment, *equals, *key, *value;

	line = trim(line);
	if (line[0] == '\0' || line[0] == '#' || line[0] == ';')
		return 0;
	comment = (char *)inline_comment(line);
	if (comment)
		*comment = '\0';
	line = trim(line);

	if (line[0] == '[')
		return parse_header(reader, line);

	equals = strchr(line, '=');
	if (!equals) {
		set_message(reader->message, reader->size, &reader->at,
			    "expected 'key = value', '[section]' or a comment, got '%s'", line);
		return -EINVAL;
	}
	*equals = '\0';
	key = trim(line);
	value = trim(equals + 1);
	if (key[0] == '\0') {
		set_message(reader->message, reader->size, &reader->at, "missing key before '='");
		return -EINVAL;
	}
	return reader->handler->key(reader->in_section ? reader->section : NULL, key, value,
				    &reader->at, reader->userdata);
}

/*
 * The next line into buf, without its newline. Returns its length,
 * -ENODATA at the end of the file, -EBADMSG at a NUL byte, -E2BIG once it
 * passes INI_LINE_MAX bytes, or -errno when reading fails.
 */
static ssize_t read_line(FILE *f, char buf[static INI_LINE_MAX + 1])
{
	size_t length = 0;
	int c;

	while ((c = getc_unlocked(f)) != EOF && c != '\n') {
		if (c == '\0')
			return -EBADMSG;
		if (length == INI_LINE_MAX)
			return -E2BIG;
		buf[length++] = (char)c;
	}
	if (c == EOF && ferror(f))
		return errno > 0 ? -errno : -EIO;
	if (c == EOF && length == 0)
		return -ENODATA;
	buf[length] = '\0';
	return (ssize_t)length;
}

int ini_parse_stream(FILE *f, const char *path, const struct ini_handler *handler, void *userdata,
		     char *message, size_t size)
{
	static const char bom[] = "\xef\xbb\xbf";
	char line[INI_LINE_MAX + 1];
	struct reader reader = {
		.handler = handler,
		.userdata = userdata,
		.at = { .path = path },
		.message = message,
		.size = size,
	};
	ssize_t length;
	int r;

	for (;;) {
		char *text = line;

		reader.at.line++;
		length = read_line(f, line);
		if (length < 0)
			break;
		if (reader.at.line == 1 && strncmp(text, bom, strlen(bom)) == 0)
			text += strlen(bom);
		r = parse_line(&reader, text);
		if (r < 0)
			return r;
	}
	switch (length) {
	case -ENODATA:
		return 0;
	case -EBADMSG:
		set_message(message, size, &reader.at, "line contains a NUL byte");
		return -EINVAL;
	case -E2BIG:
		set_message(message, size, &reader.at, "line longer than %d bytes", INI_LINE_MAX);
		return -EINVAL;
	}
	errno = (int)-length;
	set_message(message, size, NULL, "%s: read failed: %m", path);
	return (int)length;
}

static const char *file_type_name(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFDIR:
		return "a directory";
	case S_IFIFO:
		return "a FIFO";
	case S_IFCHR:
		return "a character device";
	case S_IFBLK:
		return "a block device";
	case S_IFSOCK:
		return "a socket";
	}
	return "of an unknown type";
}

/* Open path for reading if it is a regular file; a FIFO or a terminal never blocks it. */
static int open_regular_file(const char *path, FILE **ret_file, char *message, size_t size)
{
	struct stat st;
	FILE *f;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		r = -errno;
		set_message(message, size, NULL, "%s: cannot open: %m", path);
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		set_message(message, size, NULL, "%s: cannot stat: %m", path);
		close(fd);
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		set_message(message, size, NULL, "%s: is %s, not a regular file", path,
			    file_type_name(st.st_mode));
		close(fd);
		return S_ISDIR(st.st_mode) ? -EISDIR : -EBADFD;
	}
	f = fdopen(fd, "r");
	if (!f) {
		r = -errno;
		set_message(message, size, NULL, "%s: out of memory", path);
		close(fd);
		return r;
	}
	*ret_file = f;
	return 0;
}

int ini_parse_file(const char *path, const struct ini_handler *handler, void *userdata,
		   char *message, size_t size)
{
	FILE *f = NULL;
	int r;

	r = open_regular_file(path, &f, message, size);
	if (r < 0)
		return r;
	r = ini_parse_stream(f, path, handler, userdata, message, size);
	fclose(f);
	return r;
}
