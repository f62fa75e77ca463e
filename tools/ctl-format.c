/* SPDX-License-Identifier: MIT */
/*
 * ctl-format.c - how swapdevctl prints errors, sizes and durations, parses
 * numbers, and reads fields out of replies.
 *
 * Sizes use powers of 1024 with IEC names ("1.5 GiB"), as free(1) -h and
 * zramctl do, and the config file's K/M/G/T suffixes mean. Reply fields are
 * read leniently: a field a daemon of another version lacks prints as 0
 * rather than failing the whole table; the JSON output is there for anyone
 * who needs to tell the difference.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"

void ctl_error(const char *format, ...)
{
	va_list args;

	fputs(PROG_NAME ": ", stderr);
	va_start(args, format);
	vfprintf(stderr, format, args);
	va_end(args);
	fputc('\n', stderr);
}

int ctl_usage_error(const char *command, const char *format, ...)
{
	va_list args;

	fprintf(stderr, "%s %s: ", PROG_NAME, command);
	va_start(args, format);
	vfprintf(stderr, format, args);
	va_end(args);
	fprintf(stderr, "\nTry '%s %s --help'.\n", PROG_NAME, command);
	return CTL_EXIT_USAGE;
}

int ctl_option_error(const char *command, int c, char *argv[])
{
	if (c == ':')
		return ctl_usage_error(command, "option '%s' needs a value", argv[optind - 1]);
	if (optopt)
		return ctl_usage_error(command, "unknown option '-%c'", optopt);
	return ctl_usage_error(command, "unknown option '%s'", argv[optind - 1]);
}

const char *ctl_format_bytes(uint64_t bytes, char buf[static CTL_UNIT_MAX])
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double value = (double)bytes;
	unsigned unit = 0;

	if (bytes < 1024) {
		snprintf(buf, CTL_UNIT_MAX, "%" PRIu64 " B", bytes);
		return buf;
	}
	value /= 1024;
	/* Move up while the value would print as 1024.0 or more. */
	while (value >= 1023.95 && unit + 1 < sizeof(units) / sizeof(units[0])) {
		value /= 1024;
		unit++;
	}
	snprintf(buf, CTL_UNIT_MAX, "%.1f %s", value, units[unit]);
	return buf;
}

const char *ctl_format_duration(uint64_t seconds, char buf[static CTL_UNIT_MAX])
{
	if (seconds < 60)
		snprintf(buf, CTL_UNIT_MAX, "%" PRIu64 "s", seconds);
	else if (seconds < 3600)
		snprintf(buf, CTL_UNIT_MAX, "%" PRIu64 "m %" PRIu64 "s", seconds / 60,
			 seconds % 60);
	else if (seconds < 86400)
		snprintf(buf, CTL_UNIT_MAX, "%" PRIu64 "h %" PRIu64 "m", seconds / 3600,
			 seconds % 3600 / 60);
	else
		snprintf(buf, CTL_UNIT_MAX, "%" PRIu64 "d %" PRIu64 "h", seconds / 86400,
			 seconds % 86400 / 3600);
	return buf;
}

const char *ctl_format_usec(uint64_t usec, char buf[static CTL_UNIT_MAX])
{
	if (usec < 1000)
		snprintf(buf, CTL_UNIT_MAX, "%" PRIu64 " us", usec);
	else if (usec < 1000000)
		snprintf(buf, CTL_UNIT_MAX, "%.1f ms", (double)usec / 1e3);
	else
		snprintf(buf, CTL_UNIT_MAX, "%.2f s", (double)usec / 1e6);
	return buf;
}

int ctl_parse_uint(const char *text, uint64_t min, uint64_t max, uint64_t *ret_value)
{
	unsigned long long value;
	char *end;

	/* strtoull() would take blanks, a sign and an empty string. */
	if (text[0] < '0' || text[0] > '9')
		return -EINVAL;
	errno = 0;
	value = strtoull(text, &end, 10);
	if (*end != '\0')
		return -EINVAL;
	if (errno == ERANGE || value < min || value > max)
		return -ERANGE;
	*ret_value = value;
	return 0;
}

void ctl_print_json(struct json_object *object, bool pretty)
{
	int flags = JSON_C_TO_STRING_NOSLASHESCAPE;

	if (pretty)
		flags |= JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED;
	puts(json_object_to_json_string_ext(object, flags));
}
