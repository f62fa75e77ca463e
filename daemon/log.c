/* SPDX-License-Identifier: MIT */
/*
 * log.c - see log.h. The journal is detected the way systemd documents
 * it: JOURNAL_STREAM names the device and inode of stderr's stream.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

static bool to_journal;
static int max_priority = LOG_INFO;

void log_setup(bool debug)
{
	const char *stream = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	max_priority = debug ? LOG_DEBUG : LOG_INFO;
	to_journal = stream && sscanf(stream, "%llu:%llu", &dev, &ino) == 2 &&
		     fstat(STDERR_FILENO, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
}

static const char *const level_names[] = {
	[LOG_EMERG] = "emergency", [LOG_ALERT] = "alert",   [LOG_CRIT] = "critical",
	[LOG_ERR] = "error",	   [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
	[LOG_INFO] = "info",	   [LOG_DEBUG] = "debug",
};

static void log_va(int priority, const char *suffix, const char *fmt, va_list ap)
{
	char text[1024];

	if (priority > max_priority)
		return;
	vsnprintf(text, sizeof(text), fmt, ap);
	/* One fprintf per line keeps lines whole between threads. */
	if (to_journal)
		fprintf(stderr, "<%d>%s%s\n", priority, text, suffix);
	else if (priority <= LOG_WARNING)
		fprintf(stderr, "swapdevd: %s: %s%s\n", level_names[priority], text, suffix);
	else
		fprintf(stderr, "swapdevd: %s%s\n", text, suffix);
}

void log_message(int priority, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_va(priority, "", fmt, ap);
	va_end(ap);
}

int log_errno(int priority, int error, const char *fmt, ...)
{
	char suffix[128];
	va_list ap;

	snprintf(suffix, sizeof(suffix), ": %s", strerror(error < 0 ? -error : error));
	va_start(ap, fmt);
	log_va(priority, suffix, fmt, ap);
	va_end(ap);
	return error;
}
