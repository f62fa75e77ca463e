/* SPDX-License-Identifier: MIT */
/*
 * protocol.h - the control protocol: Varlink interface io.swapdev.
 *
 * varlink.h has the wire format (framing, call and reply envelopes, error
 * replies); this module knows the methods of io.swapdev (and of
 * org.varlink.service, which every Varlink service serves), their
 * parameters, replies and errors. The interface description
 * (proto_interface_description("io.swapdev")) is the reference for every
 * method, its parameters and its errors.
 *
 * This module only turns bytes into structures and back: it does no I/O,
 * keeps no state and never logs, so that it can be fuzzed. The daemon's
 * control server and swapdevctl do the socket work.
 *
 * Builders follow varlink.h: a malloc'd NUL-terminated message whose
 * *ret_size counts the NUL; 0, -ENOMEM or -EMSGSIZE.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "varlink.h"

struct json_object;

#define PROTO_INTERFACE "io.swapdev"

/* Errors of io.swapdev: the request was understood and refused. */
#define PROTO_ERROR_PERMISSION_DENIED "io.swapdev.PermissionDenied"
#define PROTO_ERROR_INVALID_PARAMETER "io.swapdev.InvalidParameter"
#define PROTO_ERROR_NOT_RUNTIME_TUNABLE "io.swapdev.NotRuntimeTunable"
#define PROTO_ERROR_NO_DISK_TIER "io.swapdev.NoDiskTier"
#define PROTO_ERROR_NO_SECOND_CODEC "io.swapdev.NoSecondCodec"
#define PROTO_ERROR_CANNOT_RESTART "io.swapdev.CannotRestart"
#define PROTO_ERROR_FAILED "io.swapdev.Failed"

enum proto_method {
	PROTO_METHOD_GET_INFO,			/* org.varlink.service.GetInfo */
	PROTO_METHOD_GET_INTERFACE_DESCRIPTION, /* org.varlink.service.GetInterfaceDescription */
	PROTO_METHOD_GET_STATS,
	PROTO_METHOD_GET_STATUS,
	PROTO_METHOD_GET_CONFIG,
	PROTO_METHOD_SET_CONFIG,
	PROTO_METHOD_FLUSH,
	PROTO_METHOD_RECOMPRESS,
	PROTO_METHOD_RESTART,
	_PROTO_METHOD_MAX,
};

/* Fully qualified name ("io.swapdev.Flush"), or NULL for an invalid value. */
const char *proto_method_name(enum proto_method method);
/* True for methods that change the daemon (root only); the rest only read. */
bool proto_method_changes_state(enum proto_method method);

/* An optional integer whose absence means something other than 0. */
struct proto_optional_u32 {
	bool given;
	uint32_t value;
};

/* A call: parsed by the daemon (proto_parse_request; the strings then point
 * into message and live as long as it) or filled by a client for
 * proto_build_call (message unused). */
struct proto_request {
	enum proto_method method;
	bool more;
	bool oneway;
	struct json_object *message; /* the whole call, owned; parsed calls only */
	union {
		struct {
			const char *interface;
		} describe; /* GetInterfaceDescription */
		struct {
			const char *key; /* NULL: every key */
		} get_config;
		struct {
			const char *key;
			const char *value;
		} set_config;
		struct {
			uint32_t idle_seconds; /* 0: every entry */
			uint64_t limit_bytes;  /* 0: no limit */
		} flush;
		struct {
			/* 0: every entry; not given: pool.recompress_idle_seconds */
			struct proto_optional_u32 idle_seconds;
		} recompress;
	};
};

/*
 * Parse and validate one call (msg[0, len), without its NUL). Returns 0
 * and fills *ret_request; -EBADMSG when msg is not a JSON object (not a
 * Varlink message: close the connection, no reply is possible); -EINVAL
 * when the call is wrong (a missing, mistyped or unknown field, an
 * invalid method name, an unknown interface or method): *ret_refusal says
 * which error to reply with (varlink_build_refusal); -EMSGSIZE when len
 * exceeds the limit; -ENOMEM.
 */
int proto_parse_request(const char *msg, size_t len, struct proto_request *ret_request,
			struct varlink_refusal *ret_refusal);
/* Release a request; accepts a zeroed or already released one. */
void proto_request_done(struct proto_request *request);

/* io.swapdev.InvalidParameter: parameter names the field, message says why. */
int proto_build_invalid_parameter(const char *parameter, const char *message, char **ret_msg,
				  size_t *ret_size);
/* io.swapdev.NotRuntimeTunable: key is valid but only changes at start. */
int proto_build_not_runtime_tunable(const char *key, char **ret_msg, size_t *ret_size);
/* io.swapdev.CannotRestart: message says why swap would not survive it. */
int proto_build_cannot_restart(const char *message, char **ret_msg, size_t *ret_size);
/* io.swapdev.Failed with a message for the user. */
int proto_build_failed(const char *message, char **ret_msg, size_t *ret_size);

/* org.varlink.service.GetInfo reply for a daemon of this version. */
int proto_build_info_reply(const char *version, char **ret_msg, size_t *ret_size);
/* GetInterfaceDescription reply, or InterfaceNotFound for an interface not served here. */
int proto_build_description_reply(const char *interface, char **ret_msg, size_t *ret_size);
/* The Varlink IDL text of an interface served here, or NULL. */
const char *proto_interface_description(const char *interface);

/* What GetStats reports; latencies in microseconds. */
struct proto_latency {
	uint64_t p50, p99, p999;
};

/* More buckets than a reply carries are not read. */
#define PROTO_LATENCY_BUCKETS_MAX 32

/* Samples that took less than le_us, cumulative over the buckets before. */
struct proto_latency_bucket {
	uint64_t le_us, count;
};

struct proto_latency_histogram {
	uint64_t nr_buckets; /* at most PROTO_LATENCY_BUCKETS_MAX; le_us ascending */
	struct proto_latency_bucket buckets[PROTO_LATENCY_BUCKETS_MAX];
	uint64_t count;	 /* every sample, the last bucket's bound is not infinite */
	uint64_t sum_us; /* of every sample */
};

/*
 * The GetStats reply as the wire has it: the daemon fills it from struct
 * store_stats (daemon/control_server.c), field by field. Every
 * uint64_t before read_latency_us has its proto_stat_fields[] entry; a
 * field renamed here must be renamed on the wire too, and the IDL test
 * (tests/unit/test-protocol.c) says so.
 */
struct proto_stats {
	/* gauges */
	uint64_t slots_total, slots_used, same_slots, pool_slots, disk_slots;
	uint64_t orig_bytes, compr_bytes;
	uint64_t raw_slots, zstd_slots, zstd_bytes;
	uint64_t pool_footprint_bytes, pool_limit_bytes;
	uint64_t disk_bytes, disk_total_bytes, metadata_bytes;
	/* counters */
	uint64_t reads, writes, discards;
	uint64_t reads_same, reads_pool, reads_disk, reads_empty;
	uint64_t writes_same, writes_pool, writes_disk;
	uint64_t partial_writes, discarded_slots, incompressible;
	uint64_t writeback_pages, writeback_cancelled, exclusive_releases;
	uint64_t writethrough_pages, writethrough_pool_full, writethrough_pool_growing;
	uint64_t writethrough_no_memory;
	uint64_t alloc_failures, io_errors, decompress_errors, compactions;
	uint64_t recompressed, recompress_not_worth, recompress_dropped, recompress_cpu_us;

	struct proto_latency read_latency_us, write_latency_us;
	struct proto_latency_histogram read_latency_histogram, write_latency_histogram;
	uint64_t uptime_seconds;
	uint64_t start_time_seconds; /* Unix time the daemon started */
	const char *version;	     /* of the daemon */
};

/*
 * The GetStats reply parameters: every proto_stat_fields[] member,
 * read_latency_us and write_latency_us ({p50, p99, p999}),
 * read_latency_histogram and write_latency_histogram ({buckets: [{le_us,
 * count}], count, sum_us}), uptime_seconds, start_time_seconds, version
 * and config ({key: value} for every config_keys[]).
 * Returns 0, -ENOMEM, or a config_get() error.
 */
int proto_stats_to_json(const struct proto_stats *stats, const struct swapdev_config *config,
			struct json_object **ret_object);
int proto_build_stats_reply(const struct proto_stats *stats, const struct swapdev_config *config,
			    char **ret_msg, size_t *ret_size);

/*
 * GetConfig reply {"config": {key: value, ...}} with every key in file
 * order, or only key when it is not NULL. -ENOENT for an unknown key.
 */
int proto_build_config_reply(const struct swapdev_config *config, const char *key,
			     char **ret_msg, size_t *ret_size);

struct proto_status {
	const char *state;	 /* "starting", "running", "stopping" */
	const char *device;	 /* the exported swap file */
	const char *loop_device; /* NULL while none is attached */
	bool swap_active;	 /* the kernel swaps on it */
	uint64_t uptime_seconds;
	const char *version;
};
int proto_build_status_reply(const struct proto_status *status, char **ret_msg,
			     size_t *ret_size);

/* Flush replies: progress (continues) while more was asked, then the result. */
int proto_build_flush_progress(uint64_t done_pages, uint64_t total_pages, char **ret_msg,
			       size_t *ret_size);
int proto_build_flush_result(uint64_t written_pages, char **ret_msg, size_t *ret_size);

/* Recompress replies: progress (continues) while more was asked, then the
 * result, which also carries done_entries (the pool entries examined). */
struct proto_recompress_reply {
	uint64_t done_entries, total_entries;
	uint64_t recompressed, not_worth, dropped, cpu_us;
};
int proto_build_recompress_progress(uint64_t done_entries, uint64_t total_entries,
				    char **ret_msg, size_t *ret_size);
int proto_build_recompress_result(const struct proto_recompress_reply *result, char **ret_msg,
				  size_t *ret_size);

/* Counters and gauges of GetStats: the uint64_t members of struct proto_stats. */
enum proto_stat_kind {
	PROTO_STAT_GAUGE,   /* a level that goes up and down */
	PROTO_STAT_COUNTER, /* monotonic while the daemon runs */
};

struct proto_stat_field {
	const char *name; /* JSON key; Prometheus name is swapdev_NAME[_total] */
	size_t offset;	  /* of its uint64_t in struct proto_stats */
	enum proto_stat_kind kind;
	const char *help;  /* one line for humans and # HELP */
	const char *group; /* NULL, or the IDL comment above this field and the next ones */
};

/* Terminated by an entry with name NULL. */
extern const struct proto_stat_field proto_stat_fields[];

/*
 * Client side: typed calls and replies, for swapdevctl. The wire names live
 * in protocol.c alone: a field renamed in these structs fails to compile in
 * the callers instead of reading 0. Readers are lenient, as the CLI always
 * was: a missing or mistyped field (an older or newer daemon) reads as 0,
 * NULL or false.
 */

/*
 * Build the call of request->method with the parameters of its union
 * member (an optional parameter that is NULL or 0 is left out: the daemon
 * reads it the same) and request->more / request->oneway; request->message
 * is not used. Returns 0, -EINVAL for an invalid method or a required
 * string that is NULL, -ENOMEM, -EMSGSIZE.
 */
int proto_build_call(const struct proto_request *request, char **ret_msg, size_t *ret_size);

/* GetStats reply; version points into parameters. *ret_config, when
 * ret_config is not NULL, is the {key: value} configuration in
 * parameters, or NULL. */
void proto_read_stats(struct json_object *parameters, struct proto_stats *ret_stats,
		      struct json_object **ret_config);
/* GetStatus reply; the strings point into parameters. */
void proto_read_status(struct json_object *parameters, struct proto_status *ret_status);

/* Flush replies: done_pages and total_pages while they continue, then written_pages. */
struct proto_flush_reply {
	uint64_t done_pages, total_pages, written_pages;
};
void proto_read_flush(struct json_object *parameters, struct proto_flush_reply *ret_flush);

/* Recompress replies: done_entries and total_entries while they continue,
 * then done_entries and the counts. */
void proto_read_recompress(struct json_object *parameters,
			   struct proto_recompress_reply *ret_recompress);

/* GetConfig reply: the {key: value} configuration in parameters, or NULL. */
struct json_object *proto_read_config(struct json_object *parameters);
/* A key's value in a {key: value} configuration, or NULL. */
const char *proto_config_value(struct json_object *config, const char *key);

/* The parameters of an error reply of io.swapdev or org.varlink.service. */
struct proto_error_reply {
	const char *message;   /* Failed, InvalidParameter */
	const char *parameter; /* InvalidParameter of either interface */
	const char *key;       /* NotRuntimeTunable */
};
void proto_read_error(struct json_object *parameters, struct proto_error_reply *ret_error);
