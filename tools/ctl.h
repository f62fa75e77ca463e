/* SPDX-License-Identifier: MIT */
/*
 * ctl.h - swapdevctl internals: the command table, the control socket
 * client and output helpers shared by the commands.
 *
 * Unlike libswapdev, these functions print their own errors, once, with a
 * hint a user can act on, and then return -errno; a command only turns
 * the result into an exit status.
 *
 * Commands build calls as a struct proto_request and read replies with the
 * typed readers of protocol.h (proto_read_stats, proto_read_status, ...):
 * no command names a field of io.swapdev as a string, so a field renamed in
 * the protocol fails to compile here instead of reading 0.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "protocol.h"

#define PROG_NAME "swapdevctl"
#define CTL_DEFAULT_SOCKET "/run/swapdev/control"
/* How long swapdevd may take to answer one message before we give up. */
#define CTL_REPLY_TIMEOUT_SEC 30

/* Exit statuses (SPEC section 1). */
enum {
	CTL_EXIT_OK = 0,
	CTL_EXIT_FAILURE = 1,
	CTL_EXIT_USAGE = 2,
};

/* Options given before the command. */
struct ctl_options {
	const char *socket;
	bool socket_given; /* --socket on the command line, not the default */
};

/* argv[0] is the command's name. Returns an exit status. */
typedef int (*ctl_command_fn)(const struct ctl_options *options, int argc, char *argv[]);

int ctl_list(const struct ctl_options *options, int argc, char *argv[]);
int ctl_stats(const struct ctl_options *options, int argc, char *argv[]);
int ctl_status(const struct ctl_options *options, int argc, char *argv[]);
int ctl_flush(const struct ctl_options *options, int argc, char *argv[]);
int ctl_recompress(const struct ctl_options *options, int argc, char *argv[]);
int ctl_config(const struct ctl_options *options, int argc, char *argv[]);
int ctl_restart(const struct ctl_options *options, int argc, char *argv[]);

/* ---- statistics (ctl-stats.c, ctl-prometheus.c) ---- */

/* What the pool holds per codec; raw pages count 4096 bytes each. */
enum { CTL_CODEC_LZ4, CTL_CODEC_ZSTD, CTL_CODEC_RAW, CTL_CODECS };

struct ctl_codec {
	const char *name;
	uint64_t objects, bytes;
};

/* GetStats' pool_slots, compr_bytes, raw_slots, zstd_slots and zstd_bytes per codec. */
void ctl_pool_codecs(const struct proto_stats *s, struct ctl_codec ret_codecs[CTL_CODECS]);

/* One GetStats reply as one complete Prometheus text exposition; config may be NULL. */
void ctl_print_prometheus(const struct proto_stats *s, struct json_object *config);

/* ---- transport (ctl-transport.c) ---- */

struct ctl_conn;

/* Connect to the control socket. Prints why it failed. 0 or -errno. */
int ctl_connect(const char *path, struct ctl_conn **ret_conn);
void ctl_disconnect(struct ctl_conn *conn); /* accepts NULL */
/* The PID of the process that listens on the socket (SO_PEERCRED), or -errno. */
pid_t ctl_peer_pid(const struct ctl_conn *conn);

/*
 * Send call (its method, typed parameters and "more"; proto_build_call) and
 * wait for the first reply. A connection the daemon has closed since the
 * last call (it drops idle ones) is opened anew first. Returns 0 with
 * *ret_reply filled (never an error reply), or prints what went wrong,
 * transport failure or Varlink error, and returns -errno (-EREMOTEIO for an
 * error reply).
 */
int ctl_call(struct ctl_conn *conn, const struct proto_request *call,
	     struct varlink_reply *ret_reply);
/* The next reply of a call whose last reply had "continues". As ctl_call. */
int ctl_next_reply(struct ctl_conn *conn, struct varlink_reply *ret_reply);

/* ---- jobs of the daemon: Flush, Recompress (ctl-job.c) ---- */

struct ctl_job {
	const char *name; /* in the progress bar */
	const char *unit; /* what the bar counts */
	/* A progress reply's count done and count in all. */
	void (*progress)(struct json_object *parameters, uint64_t *ret_done, uint64_t *ret_total);
	/* Say that the job started, from its first reply (without --wait). */
	void (*started)(struct json_object *parameters);
	/* The result's count, where the bar ends, and the result for the user. */
	uint64_t (*done)(struct json_object *parameters);
	void (*print_result)(struct json_object *parameters);
};

/*
 * Make call (a method with progress, call->more set) and follow it: to its
 * result with wait, else until the daemon said it started. Returns an
 * exit status; errors are reported.
 */
int ctl_run_job(const struct ctl_options *options, const struct proto_request *call, bool wait,
		const struct ctl_job *job);

/* ---- output and parsing helpers (ctl-format.c) ---- */

/* "swapdevctl: " + message + newline, on stderr. */
void ctl_error(const char *format, ...) __attribute__((format(printf, 1, 2)));
/* A usage error of command: the message and where to find help. Returns CTL_EXIT_USAGE. */
int ctl_usage_error(const char *command, const char *format, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * The usage error for getopt_long()'s return c ('?' or ':'); commands run
 * getopt with opterr = 0 and an optstring that starts with ':'.
 */
int ctl_option_error(const char *command, int c, char *argv[]);

#define CTL_UNIT_MAX 32

/* "0 B", "512 B", "1.5 KiB", "200.1 MiB" (powers of 1024). Returns buf. */
const char *ctl_format_bytes(uint64_t bytes, char buf[static CTL_UNIT_MAX]);
/* "42s", "5m 3s", "2h 13m", "3d 4h". Returns buf. */
const char *ctl_format_duration(uint64_t seconds, char buf[static CTL_UNIT_MAX]);
/* "12 us", "3.4 ms", "1.25 s". Returns buf. */
const char *ctl_format_usec(uint64_t usec, char buf[static CTL_UNIT_MAX]);

/* A decimal unsigned integer in [min, max], nothing else. 0, -EINVAL, -ERANGE. */
int ctl_parse_uint(const char *text, uint64_t min, uint64_t max, uint64_t *ret_value);

/* object on stdout: indented, or on one line. */
void ctl_print_json(struct json_object *object, bool pretty);

