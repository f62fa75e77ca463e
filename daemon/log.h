/* SPDX-License-Identifier: MIT */
/*
 * log.h - the daemon's messages: to the journal with priorities when
 * systemd connected stderr to it (sd-daemon "<N>" prefixes), readable
 * "swapdevd: level: message" lines otherwise. Never called per page.
 */
#pragma once

#include <stdbool.h>
#include <syslog.h>

void log_setup(bool debug);
void log_message(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Logs with ": <strerror(-error)>" appended and returns error (negative). */
int log_errno(int priority, int error, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define log_error(...) log_message(LOG_ERR, __VA_ARGS__)
#define log_warning(...) log_message(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_message(LOG_NOTICE, __VA_ARGS__)
#define log_info(...) log_message(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_message(LOG_DEBUG, __VA_ARGS__)
#define log_error_errno(r, ...) log_errno(LOG_ERR, (r), __VA_ARGS__)
#define log_warning_errno(r, ...) log_errno(LOG_WARNING, (r), __VA_ARGS__)
