/* SPDX-License-Identifier: MIT */
/*
 * protocol.c - the control interface io.swapdev, on top of varlink.c.
 *
 * varlink.c frames messages and checks the envelope of a call (method,
 * parameters, more, oneway, the method name's form); this file knows what
 * the methods of io.swapdev and org.varlink.service take and return.
 * Nothing here touches a file descriptor: the server and swapdevctl hand in
 * bytes and get structures back, and the reverse, so that the parser can
 * be fuzzed (tests/fuzz/fuzz-protocol.c).
 *
 * Parsing a call is table-driven: methods[] lists each method with the
 * parameters it takes (name, type, required, where the typed value goes
 * in struct proto_request). After the envelope, the interface and method
 * are looked up, then every parameter is checked against the table.
 * Unknown parameters are refused rather than ignored, so that a typo in a
 * client never silently does something else. Every refusal names the
 * field at fault, which becomes a Varlink error reply.
 *
 * One source of truth: the same tables make the interface description.
 * methods[] carries each method's IDL comment and reply fields beside the
 * parameters the parser checks, errors[] the errors, proto_stat_fields[]
 * the statistics (struct proto_stats, the wire's own struct, which the
 * daemon fills from struct store_stats). GetInterfaceDescription's text
 * is written from them once, at first use, so a parameter, field or error
 * added to the code is in the description too. The text is what the
 * hand-written IDL was, byte for byte (tests/unit/fixtures/ keeps it);
 * the cost is that comments and layout live in C strings in the tables.
 * GetStats, swapdevctl's tables and its Prometheus metrics come from
 * proto_stat_fields[] as well.
 */
#include <assert.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "protocol.h"
#include "varlink.h"

/* config_get() buffer: the longest value is a path. */
#define PROTO_CONFIG_VALUE_MAX 4096

static const char *service_description(void)
{
	return varlink_service_description;
}

static const char *io_swapdev_description(void);

static const struct {
	const char *name;
	const char *(*description)(void);
} interfaces[] = {
	{ VARLINK_SERVICE_INTERFACE, service_description },
	{ PROTO_INTERFACE, io_swapdev_description },
};

enum param_type {
	PARAM_STRING, /* const char * */
	PARAM_U32,    /* uint32_t, a JSON integer 0..UINT32_MAX */
	PARAM_U64,    /* uint64_t, a JSON integer 0..INT64_MAX (Varlink's int is signed) */
	PARAM_OPT_U32, /* struct proto_optional_u32: as PARAM_U32, and whether it was sent */
};

struct param_desc {
	const char *name;
	enum param_type type;
	bool required;
	size_t offset; /* of the typed value in struct proto_request */
};

/* A field of a reply, an error or a type, as the IDL declares it. */
struct idl_field {
	const char *name;
	const char *type;    /* Varlink type; "?" first when the field may be null */
	const char *comment; /* a comment line above the field in the IDL, or NULL */
};

#define PARAMS_MAX 2

static const struct idl_field status_reply[] = {
	{ "state", "string" },	      { "device", "string" },
	{ "loop_device", "?string" }, { "swap_active", "bool" },
	{ "uptime_seconds", "int" },  { "version", "string" },
	{ NULL },
};
static const struct idl_field config_reply[] = { { "config", "[string]string" }, { NULL } };
static const struct idl_field flush_reply[] = {
	{ "done_pages", "?int" },
	{ "total_pages", "?int" },
	{ "written_pages", "?int" },
	{ NULL },
};
static const struct idl_field recompress_reply[] = {
	{ "done_entries", "?int" },
	{ "total_entries", "?int" },
	{ "recompressed", "?int" },
	{ "not_worth", "?int" },
	{ "dropped", "?int" },
	{ "cpu_us", "?int" },
	{ NULL },
};
/* GetStats replies proto_stat_fields[] first, then these. */
static const struct idl_field stats_reply_tail[] = {
	{ "read_latency_us", "Latency" },
	{ "write_latency_us", "Latency" },
	{ "read_latency_histogram", "LatencyHistogram" },
	{ "write_latency_histogram", "LatencyHistogram" },
	{ "uptime_seconds", "int" },
	{ "start_time_seconds", "int", "Unix time the daemon started, and its version" },
	{ "version", "string" },
	{ "config", "[string]string", "the active configuration, as GetConfig returns it" },
	{ NULL },
};
static const struct idl_field latency_fields[] = {
	{ "p50", "int" },
	{ "p99", "int" },
	{ "p999", "int" },
	{ NULL },
};
static const struct idl_field latency_histogram_fields[] = {
	{ "buckets", "[]LatencyBucket" },
	{ "count", "int" },
	{ "sum_us", "int" },
	{ NULL },
};
static const struct idl_field latency_bucket_fields[] = {
	{ "le_us", "int" },
	{ "count", "int" },
	{ NULL },
};

/*
 * Every method served, with what the call parser needs (params) and what
 * the IDL says (doc, reply). The description of io.swapdev is generated
 * from this table, proto_stat_fields[] and errors[], so that what the
 * parser accepts and what GetInterfaceDescription says cannot drift.
 */
static const struct method_desc {
	const char *name;
	bool changes_state;
	struct param_desc params[PARAMS_MAX + 1]; /* ends with name NULL */
	const char *doc;			  /* IDL comment, lines without "# " */
	const struct idl_field *reply;		  /* ends with name NULL; NULL: "()" */
	bool reply_is_stats;			  /* reply: proto_stat_fields[], then stats_reply_tail[] */
} methods[_PROTO_METHOD_MAX] = {
	[PROTO_METHOD_GET_INFO] = { .name = "org.varlink.service.GetInfo" },
	[PROTO_METHOD_GET_INTERFACE_DESCRIPTION] = {
		.name = "org.varlink.service.GetInterfaceDescription",
		.params = {
			{ "interface", PARAM_STRING, true,
			  offsetof(struct proto_request, describe.interface) },
		},
	},
	[PROTO_METHOD_GET_STATS] = {
		.name = "io.swapdev.GetStats",
		.doc = "A snapshot of the statistics. Slots are 4 KiB. Counters never go\n"
		       "backwards while the daemon runs; the others are levels.",
		.reply_is_stats = true,
	},
	[PROTO_METHOD_GET_STATUS] = {
		.name = "io.swapdev.GetStatus",
		.doc = "The daemon's state: its swap file, loop device and whether the kernel\n"
		       "swaps on it.",
		.reply = status_reply,
	},
	[PROTO_METHOD_GET_CONFIG] = {
		.name = "io.swapdev.GetConfig",
		.params = {
			{ "key", PARAM_STRING, false,
			  offsetof(struct proto_request, get_config.key) },
		},
		.doc = "The active configuration (keys of swapdevd.conf(5), values in canonical\n"
		       "form), or only key.",
		.reply = config_reply,
	},
	[PROTO_METHOD_SET_CONFIG] = {
		.name = "io.swapdev.SetConfig",
		.changes_state = true,
		.params = {
			{ "key", PARAM_STRING, true,
			  offsetof(struct proto_request, set_config.key) },
			{ "value", PARAM_STRING, true,
			  offsetof(struct proto_request, set_config.value) },
		},
		.doc = "Change a runtime tunable; value is parsed as in swapdevd.conf(5).",
	},
	[PROTO_METHOD_FLUSH] = {
		.name = "io.swapdev.Flush",
		.changes_state = true,
		.params = {
			{ "idle_seconds", PARAM_U32, false,
			  offsetof(struct proto_request, flush.idle_seconds) },
			{ "limit_bytes", PARAM_U64, false,
			  offsetof(struct proto_request, flush.limit_bytes) },
		},
		.doc = "Write pool entries back to the disk tier: every one, those idle for at\n"
		       "least idle_seconds, or until limit_bytes are written. With \"more\", the\n"
		       "replies carry done_pages and total_pages as the flush advances (the first\n"
		       "as soon as it starts); the last carries written_pages. The flush runs\n"
		       "to its end even when the caller disconnects, and stops early only when\n"
		       "the daemon stops.",
		.reply = flush_reply,
	},
	[PROTO_METHOD_RECOMPRESS] = {
		.name = "io.swapdev.Recompress",
		.changes_state = true,
		.params = {
			{ "idle_seconds", PARAM_OPT_U32, false,
			  offsetof(struct proto_request, recompress.idle_seconds) },
		},
		.doc = "Recompress pool entries with the second codec (pool.recompress) now:\n"
		       "those idle for at least idle_seconds (0: every one; left out:\n"
		       "pool.recompress_idle_seconds), at full speed rather than within\n"
		       "pool.recompress_cpu_percent, pausing while writeback relieves a full\n"
		       "pool. With \"more\", the replies carry done_entries and total_entries,\n"
		       "pool entries examined, as the pass advances; the last carries\n"
		       "done_entries, the entries recompressed, those kept because the saving\n"
		       "was below pool.recompress_min_saving (not_worth), those dropped because\n"
		       "a write replaced them meanwhile, and the CPU time of the pass. Like a\n"
		       "flush, it runs to its end even when the caller disconnects.",
		.reply = recompress_reply,
	},
	[PROTO_METHOD_RESTART] = {
		.name = "io.swapdev.Restart",
		.changes_state = true,
		.doc = "Hand the swap area over to a new daemon process, keeping swap active:\n"
		       "the daemon replies, stops taking requests, finishes those it holds and\n"
		       "exits with status 75, leaving the FUSE connection and its state in the\n"
		       "service manager's file-descriptor store; the process started next (a\n"
		       "new binary after an upgrade) takes them over. No swapoff. Refused\n"
		       "with CannotRestart when the descriptors are not in a store.",
	},
};

/* The errors of io.swapdev, in the order the IDL lists them. */
static const struct error_desc {
	const char *name;
	const char *doc;
	struct idl_field fields[3]; /* ends with name NULL */
} errors[] = {
	{ PROTO_ERROR_PERMISSION_DENIED,
	  "The caller may not do this: reading needs root or the control group,\n"
	  "changing needs root." },
	{ PROTO_ERROR_INVALID_PARAMETER,
	  "A parameter has the right type but an invalid value.",
	  { { "parameter", "string" }, { "message", "?string" } } },
	{ PROTO_ERROR_NOT_RUNTIME_TUNABLE,
	  "The key is valid but only takes effect when swapdevd starts.",
	  { { "key", "string" } } },
	{ PROTO_ERROR_NO_DISK_TIER,
	  "Flush and Recompress need a disk tier (writeback.backing_file)." },
	{ PROTO_ERROR_NO_SECOND_CODEC, "Recompress needs a second codec (pool.recompress)." },
	{ PROTO_ERROR_CANNOT_RESTART,
	  "Restart would lose the swap area (no file-descriptor store, or a FUSE\n"
	  "connection over io_uring); message says why. A full stop and start works.",
	  { { "message", "string" } } },
	{ PROTO_ERROR_FAILED, "The operation failed; message says why.",
	  { { "message", "string" } } },
};

#define STAT(field, kind, help, group) \
	{ #field, offsetof(struct proto_stats, field), kind, help, group }
#define GAUGE(field, help, group) STAT(field, PROTO_STAT_GAUGE, help, group)
#define COUNTER(field, help, group) STAT(field, PROTO_STAT_COUNTER, help, group)

/* group, when not NULL, starts a group of fields: the IDL comment above them. */
const struct proto_stat_field proto_stat_fields[] = {
	GAUGE(slots_total, "Size of the device in 4 KiB slots.",
	      "slots of the device, slots holding data, and slots per tier"),
	GAUGE(slots_used, "Slots holding data.", NULL),
	GAUGE(same_slots, "Slots stored as a same-filled marker.", NULL),
	GAUGE(pool_slots, "Slots stored in the compressed pool.", NULL),
	GAUGE(disk_slots, "Slots stored on the disk tier.", NULL),
	GAUGE(orig_bytes, "Bytes of data held (slots_used x 4096).",
	      "data held (slots_used x 4096), compressed bytes in the pool"),
	GAUGE(compr_bytes, "Compressed bytes held in the pool.", NULL),
	GAUGE(raw_slots, "Pool slots holding an incompressible page raw.",
	      "pool slots held raw (incompressible), and compressed with zstd"),
	GAUGE(zstd_slots, "Pool slots compressed with zstd (the rest is lz4).", NULL),
	GAUGE(zstd_bytes, "Compressed bytes of the zstd pool slots.", NULL),
	GAUGE(pool_footprint_bytes, "Memory the pool occupies.",
	      "memory the pool occupies and its hard cap"),
	GAUGE(pool_limit_bytes, "Hard cap on pool memory.", NULL),
	GAUGE(disk_bytes, "Bytes held on the disk tier.",
	      "bytes held on the disk tier, its size, and slot table memory"),
	GAUGE(disk_total_bytes, "Size of the disk tier.", NULL),
	GAUGE(metadata_bytes, "Memory of the slot table.", NULL),
	COUNTER(reads, "Read requests served.", "requests served, and slots served per tier"),
	COUNTER(writes, "Write requests served.", NULL),
	COUNTER(discards, "Discard requests served.", NULL),
	COUNTER(reads_same, "Slots read from a same-filled marker.", NULL),
	COUNTER(reads_pool, "Slots decompressed from the pool.", NULL),
	COUNTER(reads_disk, "Slots read from the disk tier.", NULL),
	COUNTER(reads_empty, "Slots read that held no data.", NULL),
	COUNTER(writes_same, "Slots stored as a same-filled marker.", NULL),
	COUNTER(writes_pool, "Slots stored in the pool.", NULL),
	COUNTER(writes_disk, "Slots stored straight on the disk tier.", NULL),
	COUNTER(partial_writes, "Sub-slot writes (read-modify-write).", NULL),
	COUNTER(discarded_slots, "Slots freed by discards.", NULL),
	COUNTER(incompressible, "Pages rejected by the compressor.",
		"pages the compressor rejected"),
	COUNTER(writeback_pages, "Pool pages written back to the disk tier.",
		"pool pages written back to disk, and writebacks cancelled by a newer write"),
	COUNTER(writeback_cancelled, "Writebacks cancelled by a newer write or discard.", NULL),
	COUNTER(exclusive_releases, "Loaded pool entries released after writeback.",
		"loaded pool entries released once their data was on disk"),
	COUNTER(writethrough_pages, "Pages written straight to disk: the pool had no room.",
		"pages written straight to disk because the pool had no room: in all, and\n"
		"because it was at its limit, was still growing, or the system refused memory"),
	COUNTER(writethrough_pool_full, "Pages written straight to disk: the pool was at its limit.",
		NULL),
	COUNTER(writethrough_pool_growing,
		"Pages written straight to disk: the pool had not grown yet.", NULL),
	COUNTER(writethrough_no_memory,
		"Pages written straight to disk: the system refused pool memory.", NULL),
	COUNTER(alloc_failures, "Pool memory requests the system refused.",
		"failures: pool memory refused, disk I/O errors, corrupt pool objects"),
	COUNTER(io_errors, "Pages the disk tier failed to read or write.", NULL),
	COUNTER(decompress_errors, "Corrupt pool objects found on read.", NULL),
	COUNTER(compactions, "Pool objects moved by compaction.",
		"pool objects moved by compaction (not runs)"),
	COUNTER(recompressed, "Idle pool entries replaced by the second codec.",
		"idle recompression: entries replaced, kept, dropped, and its CPU time"),
	COUNTER(recompress_not_worth, "Idle pool entries recompressed but kept: too little saved.",
		NULL),
	COUNTER(recompress_dropped, "Recompressions dropped: the slot changed meanwhile.", NULL),
	COUNTER(recompress_cpu_us, "CPU time spent recompressing, in microseconds.", NULL),
	{ NULL, 0, PROTO_STAT_GAUGE, NULL, NULL },
};

const char *proto_method_name(enum proto_method method)
{
	return (unsigned)method < _PROTO_METHOD_MAX ? methods[method].name : NULL;
}

bool proto_method_changes_state(enum proto_method method)
{
	return (unsigned)method < _PROTO_METHOD_MAX && methods[method].changes_state;
}

static bool interface_known(const char *name, size_t len)
{
	for (size_t i = 0; i < ARRAY_SIZE(interfaces); i++)
		if (strlen(interfaces[i].name) == len && memcmp(interfaces[i].name, name, len) == 0)
			return true;
	return false;
}

static int lookup_method(const char *name, enum proto_method *ret_method,
			 struct varlink_refusal *error)
{
	const char *dot;

	/* varlink_parse_call() checked the name's form: it has a dot. */
	for (unsigned i = 0; i < _PROTO_METHOD_MAX; i++) {
		if (strcmp(methods[i].name, name) == 0) {
			*ret_method = i;
			return 0;
		}
	}
	dot = strrchr(name, '.');
	if (!interface_known(name, (size_t)(dot - name))) {
		char interface[VARLINK_NAME_MAX];

		snprintf(interface, sizeof(interface), "%.*s", (int)(dot - name), name);
		return varlink_refuse(error, VARLINK_ERROR_INTERFACE_NOT_FOUND, "interface", interface);
	}
	return varlink_refuse(error, VARLINK_ERROR_METHOD_NOT_FOUND, "method", name);
}

static const struct param_desc *find_param(const struct method_desc *method, const char *name)
{
	for (const struct param_desc *p = method->params; p->name; p++)
		if (strcmp(p->name, name) == 0)
			return p;
	return NULL;
}

/* Store value (checked against p) into request. */
static int store_param(const struct param_desc *p, struct json_object *value,
		       struct proto_request *request, struct varlink_refusal *error)
{
	char *slot = (char *)request + p->offset;
	int64_t number;

	switch (p->type) {
	case PARAM_STRING:
		if (!varlink_is_plain_string(value))
			return varlink_refuse_parameter(error, p->name);
		*(const char **)slot = json_object_get_string(value);
		return 0;
	case PARAM_U32:
	case PARAM_U64:
	case PARAM_OPT_U32:
		if (!json_object_is_type(value, json_type_int))
			return varlink_refuse_parameter(error, p->name);
		/*
		 * json-c keeps integers above INT64_MAX unsigned and get_int64 clamps
		 * them: refuse them as it refuses 1e30, a double, and -1.
		 */
		number = json_object_get_int64(value);
		if (number < 0 || json_object_get_uint64(value) > (uint64_t)INT64_MAX)
			return varlink_refuse_parameter(error, p->name);
		if (p->type == PARAM_U32 || p->type == PARAM_OPT_U32) {
			if (number > UINT32_MAX)
				return varlink_refuse_parameter(error, p->name);
			if (p->type == PARAM_OPT_U32)
				*(struct proto_optional_u32 *)slot =
					(struct proto_optional_u32){ true, (uint32_t)number };
			else
				*(uint32_t *)slot = (uint32_t)number;
		} else {
			*(uint64_t *)slot = (uint64_t)number;
		}
		return 0;
	}
	return varlink_refuse_parameter(error, p->name);
}

static int parse_parameters(struct json_object *parameters, struct proto_request *request,
			    struct varlink_refusal *error)
{
	const struct method_desc *method = &methods[request->method];
	int r;

	if (parameters) {
		json_object_object_foreach(parameters, name, value) {
			const struct param_desc *p = find_param(method, name);

			if (!p)
				return varlink_refuse_parameter(error, name);
			/* Varlink sends null for an optional field it leaves out. */
			if (json_object_is_type(value, json_type_null) && !p->required)
				continue;
			r = store_param(p, value, request, error);
			if (r < 0)
				return r;
		}
	}
	for (const struct param_desc *p = method->params; p->name; p++)
		if (p->required && !json_object_object_get_ex(parameters, p->name, NULL))
			return varlink_refuse_parameter(error, p->name);
	return 0;
}

/* The envelope's fields, checked before the method is looked up. */
int proto_parse_request(const char *msg, size_t len, struct proto_request *ret_request,
			struct varlink_refusal *ret_refusal)
{
	struct proto_request request = { 0 };
	struct varlink_refusal refusal = { 0 };
	struct varlink_call call;
	int r;

	r = varlink_parse_call(msg, len, &call, &refusal);
	if (r == -EINVAL)
		*ret_refusal = refusal;
	if (r < 0)
		return r;
	request.message = call.message;
	request.more = call.more;
	request.oneway = call.oneway;
	r = lookup_method(call.method, &request.method, &refusal);
	if (r >= 0)
		r = parse_parameters(call.parameters, &request, &refusal);
	if (r < 0) {
		varlink_call_done(&call);
		*ret_refusal = refusal;
		return r;
	}
	*ret_request = request;
	return 0;
}

void proto_request_done(struct proto_request *request)
{
	if (!request)
		return;
	json_object_put(request->message);
	*request = (struct proto_request){0};
}

/* A reply, or an error reply when error is not NULL; parameters consumed
 * (NULL is taken for a failed allocation). */
static int build(const char *error, struct json_object *parameters, bool continues, char **ret_msg,
		 size_t *ret_size)
{
	int r;

	if (!parameters)
		return -ENOMEM;
	if (error)
		r = varlink_build_error(error, parameters, ret_msg, ret_size);
	else
		r = varlink_build_reply(parameters, continues, ret_msg, ret_size);
	json_object_put(parameters);
	return r;
}

/* An object of up to two string fields; a NULL name or value is left out. */
static struct json_object *strings_object(const char *name1, const char *value1, const char *name2,
					  const char *value2)
{
	struct json_object *object = json_object_new_object();

	if (!object)
		return NULL;
	if ((name1 && value1 &&
	     varlink_object_add(object, name1, json_object_new_string(value1)) < 0) ||
	    (name2 && value2 &&
	     varlink_object_add(object, name2, json_object_new_string(value2)) < 0)) {
		json_object_put(object);
		return NULL;
	}
	return object;
}

int proto_build_invalid_parameter(const char *parameter, const char *message, char **ret_msg,
				  size_t *ret_size)
{
	return build(PROTO_ERROR_INVALID_PARAMETER,
		     strings_object("parameter", parameter, "message", message), false, ret_msg,
		     ret_size);
}

int proto_build_not_runtime_tunable(const char *key, char **ret_msg, size_t *ret_size)
{
	return build(PROTO_ERROR_NOT_RUNTIME_TUNABLE, strings_object("key", key, NULL, NULL), false,
		     ret_msg, ret_size);
}

int proto_build_cannot_restart(const char *message, char **ret_msg, size_t *ret_size)
{
	return build(PROTO_ERROR_CANNOT_RESTART, strings_object("message", message, NULL, NULL),
		     false, ret_msg, ret_size);
}

int proto_build_failed(const char *message, char **ret_msg, size_t *ret_size)
{
	return build(PROTO_ERROR_FAILED, strings_object("message", message, NULL, NULL), false,
		     ret_msg, ret_size);
}

int proto_build_info_reply(const char *version, char **ret_msg, size_t *ret_size)
{
	struct json_object *info = strings_object("vendor", "swapdev", "product", "swapdevd");
	struct json_object *list = json_object_new_array();
	int r = info && list ? 0 : -ENOMEM;

	for (size_t i = 0; r >= 0 && i < ARRAY_SIZE(interfaces); i++) {
		struct json_object *name = json_object_new_string(interfaces[i].name);

		if (!name || json_object_array_add(list, name) < 0) {
			json_object_put(name);
			r = -ENOMEM;
		}
	}
	if (r >= 0)
		r = varlink_object_add(info, "version", json_object_new_string(version));
	/* The manual is where swapdevd is documented, wherever it was installed from. */
	if (r >= 0)
		r = varlink_object_add(info, "url", json_object_new_string("man:swapdevd(8)"));
	if (r >= 0) {
		r = varlink_object_add(info, "interfaces", list);
		list = NULL;
	}
	json_object_put(list);
	if (r < 0) {
		json_object_put(info);
		return r;
	}
	return build(NULL, info, false, ret_msg, ret_size);
}

/*
 * The IDL of io.swapdev, written once from the tables above. Its text is
 * what the hand-written description was (tests/unit/fixtures/ keeps that
 * text, and a unit test compares): comments, field order and layout.
 */
#define IDL_MAX 8192

struct idl_text {
	char text[IDL_MAX];
	size_t len;
};

static void __attribute__((format(printf, 2, 3))) idl_printf(struct idl_text *idl,
							     const char *format, ...)
{
	va_list args;
	int n;

	va_start(args, format);
	n = vsnprintf(idl->text + idl->len, sizeof(idl->text) - idl->len, format, args);
	va_end(args);
	/* The tables are constant: outgrowing the buffer is a programmer error. */
	assert(n >= 0 && (size_t)n < sizeof(idl->text) - idl->len);
	idl->len += (size_t)n;
}

/* Each line of doc as a comment, after indent. */
static void idl_comment(struct idl_text *idl, const char *indent, const char *doc)
{
	while (doc && *doc) {
		size_t len = strcspn(doc, "\n");

		idl_printf(idl, "%s# %.*s\n", indent, (int)len, doc);
		doc += len + (doc[len] == '\n');
	}
}

/* "(a: int, b: string)" */
static void idl_inline_fields(struct idl_text *idl, const struct idl_field *fields)
{
	idl_printf(idl, "(");
	for (const struct idl_field *f = fields; f && f->name; f++)
		idl_printf(idl, "%s%s: %s", f == fields ? "" : ", ", f->name, f->type);
	idl_printf(idl, ")");
}

/* One field of a multi-line list; last: no comma. */
static void idl_field_line(struct idl_text *idl, const char *name, const char *type,
			   const char *comment, bool last)
{
	idl_comment(idl, "\t", comment);
	idl_printf(idl, "\t%s: %s%s\n", name, type, last ? "" : ",");
}

static void idl_method(struct idl_text *idl, const struct method_desc *m)
{
	idl_printf(idl, "\n");
	idl_comment(idl, "", m->doc);
	idl_printf(idl, "method %s(", strrchr(m->name, '.') + 1);
	for (const struct param_desc *p = m->params; p->name; p++)
		idl_printf(idl, "%s%s: %s%s", p == m->params ? "" : ", ", p->name,
			   p->required ? "" : "?", p->type == PARAM_STRING ? "string" : "int");
	idl_printf(idl, ") -> ");
	if (m->reply_is_stats) {
		idl_printf(idl, "(\n");
		for (const struct proto_stat_field *f = proto_stat_fields; f->name; f++)
			idl_field_line(idl, f->name, "int", f->group, false);
		for (const struct idl_field *f = stats_reply_tail; f->name; f++)
			idl_field_line(idl, f->name, f->type, f->comment, !f[1].name);
		idl_printf(idl, ")\n");
	} else if (m->reply && m->reply[0].name && m->reply[1].name) {
		idl_printf(idl, "(\n");
		for (const struct idl_field *f = m->reply; f->name; f++)
			idl_field_line(idl, f->name, f->type, f->comment, !f[1].name);
		idl_printf(idl, ")\n");
	} else {
		idl_inline_fields(idl, m->reply);
		idl_printf(idl, "\n");
	}
}

static struct idl_text io_swapdev_idl;
static pthread_once_t io_swapdev_idl_once = PTHREAD_ONCE_INIT;

static void io_swapdev_idl_write(void)
{
	struct idl_text *idl = &io_swapdev_idl;

	idl_comment(idl, "",
		    "Control interface of swapdevd, a compressed swap tier served from user space.\n"
		    "Reading needs root or the control group (control.group); SetConfig,\n"
		    "Flush and Recompress need root.");
	idl_printf(idl, "interface %s\n", PROTO_INTERFACE);
	idl_printf(idl, "\n");
	idl_comment(idl, "", "Latency percentiles in microseconds.");
	idl_printf(idl, "type Latency ");
	idl_inline_fields(idl, latency_fields);
	idl_printf(idl, "\n\n");
	idl_comment(idl, "",
		    "Latency histogram: each bucket counts the samples that took less than\n"
		    "le_us microseconds (cumulative, le_us ascending); count is every sample,\n"
		    "sum_us their sum in whole microseconds.");
	idl_printf(idl, "type LatencyHistogram ");
	idl_inline_fields(idl, latency_histogram_fields);
	idl_printf(idl, "\n\n");
	idl_printf(idl, "type LatencyBucket ");
	idl_inline_fields(idl, latency_bucket_fields);
	idl_printf(idl, "\n");
	for (size_t i = 0; i < ARRAY_SIZE(methods); i++)
		if (strncmp(methods[i].name, PROTO_INTERFACE ".", strlen(PROTO_INTERFACE) + 1) == 0)
			idl_method(idl, &methods[i]);
	for (size_t i = 0; i < ARRAY_SIZE(errors); i++) {
		idl_printf(idl, "\n");
		idl_comment(idl, "", errors[i].doc);
		idl_printf(idl, "error %s ", strrchr(errors[i].name, '.') + 1);
		idl_inline_fields(idl, errors[i].fields);
		idl_printf(idl, "\n");
	}
}

static const char *io_swapdev_description(void)
{
	pthread_once(&io_swapdev_idl_once, io_swapdev_idl_write);
	return io_swapdev_idl.text;
}

const char *proto_interface_description(const char *interface)
{
	for (size_t i = 0; i < ARRAY_SIZE(interfaces); i++)
		if (strcmp(interfaces[i].name, interface) == 0)
			return interfaces[i].description();
	return NULL;
}

int proto_build_description_reply(const char *interface, char **ret_msg, size_t *ret_size)
{
	const char *idl = proto_interface_description(interface);

	if (!idl)
		return build(VARLINK_ERROR_INTERFACE_NOT_FOUND,
			     strings_object("interface", interface, NULL, NULL), false, ret_msg,
			     ret_size);
	return build(NULL, strings_object("description", idl, NULL, NULL), false, ret_msg,
		     ret_size);
}

static int add_u64(struct json_object *object, const char *key, uint64_t value)
{
	return varlink_object_add(object, key, json_object_new_uint64(value));
}

static int add_latency(struct json_object *object, const char *key,
		       const struct proto_latency *latency)
{
	struct json_object *percentiles = json_object_new_object();
	int r = percentiles ? 0 : -ENOMEM;

	if (r >= 0)
		r = add_u64(percentiles, "p50", latency->p50);
	if (r >= 0)
		r = add_u64(percentiles, "p99", latency->p99);
	if (r >= 0)
		r = add_u64(percentiles, "p999", latency->p999);
	if (r < 0) {
		json_object_put(percentiles);
		return r;
	}
	return varlink_object_add(object, key, percentiles);
}

static int add_latency_bucket(struct json_object *array, const struct proto_latency_bucket *b)
{
	struct json_object *bucket = json_object_new_object();
	int r = bucket ? 0 : -ENOMEM;

	if (r >= 0)
		r = add_u64(bucket, "le_us", b->le_us);
	if (r >= 0)
		r = add_u64(bucket, "count", b->count);
	if (r >= 0 && json_object_array_add(array, bucket) < 0)
		r = -ENOMEM;
	if (r < 0)
		json_object_put(bucket);
	return r;
}

static int add_latency_histogram(struct json_object *object, const char *key,
				 const struct proto_latency_histogram *hist)
{
	struct json_object *histogram = json_object_new_object();
	struct json_object *buckets = json_object_new_array();
	uint64_t n = MIN(hist->nr_buckets, PROTO_LATENCY_BUCKETS_MAX);
	int r = histogram && buckets ? 0 : -ENOMEM;

	for (uint64_t i = 0; r >= 0 && i < n; i++)
		r = add_latency_bucket(buckets, &hist->buckets[i]);
	if (r >= 0) {
		r = varlink_object_add(histogram, "buckets", buckets);
		buckets = NULL;
	}
	if (r >= 0)
		r = add_u64(histogram, "count", hist->count);
	if (r >= 0)
		r = add_u64(histogram, "sum_us", hist->sum_us);
	json_object_put(buckets);
	if (r < 0) {
		json_object_put(histogram);
		return r;
	}
	return varlink_object_add(object, key, histogram);
}

static int add_config_key(struct json_object *object, const struct swapdev_config *config,
			  const char *key)
{
	char value[PROTO_CONFIG_VALUE_MAX];
	int r;

	r = config_get(config, key, value, sizeof(value));
	if (r < 0)
		return r;
	return varlink_object_add(object, key, json_object_new_string(value));
}

/* {key: value} of every key, or of key alone. -ENOENT, -ENOMEM, config_get() errors. */
static int config_to_json(const struct swapdev_config *config, const char *key,
			  struct json_object **ret_object)
{
	struct json_object *object = json_object_new_object();
	int r = object ? 0 : -ENOMEM;

	if (key) {
		bool known = false;

		for (size_t i = 0; config_keys[i]; i++)
			known = known || strcmp(config_keys[i], key) == 0;
		if (!known)
			r = -ENOENT;
		if (r >= 0)
			r = add_config_key(object, config, key);
	} else {
		for (size_t i = 0; r >= 0 && config_keys[i]; i++)
			r = add_config_key(object, config, config_keys[i]);
	}
	if (r < 0) {
		json_object_put(object);
		return r;
	}
	*ret_object = object;
	return 0;
}

int proto_stats_to_json(const struct proto_stats *stats, const struct swapdev_config *config,
			struct json_object **ret_object)
{
	struct json_object *object = json_object_new_object();
	struct json_object *values = NULL;
	int r = object ? 0 : -ENOMEM;

	for (const struct proto_stat_field *f = proto_stat_fields; r >= 0 && f->name; f++) {
		const uint64_t *value = (const uint64_t *)((const char *)stats + f->offset);

		r = add_u64(object, f->name, *value);
	}
	if (r >= 0)
		r = add_latency(object, "read_latency_us", &stats->read_latency_us);
	if (r >= 0)
		r = add_latency(object, "write_latency_us", &stats->write_latency_us);
	if (r >= 0)
		r = add_latency_histogram(object, "read_latency_histogram",
					  &stats->read_latency_histogram);
	if (r >= 0)
		r = add_latency_histogram(object, "write_latency_histogram",
					  &stats->write_latency_histogram);
	if (r >= 0)
		r = add_u64(object, "uptime_seconds", stats->uptime_seconds);
	if (r >= 0)
		r = add_u64(object, "start_time_seconds", stats->start_time_seconds);
	if (r >= 0)
		r = varlink_object_add(object, "version",
				       json_object_new_string(stats->version ? stats->version : ""));
	if (r >= 0)
		r = config_to_json(config, NULL, &values);
	if (r >= 0)
		r = varlink_object_add(object, "config", values);
	if (r < 0) {
		json_object_put(object);
		return r;
	}
	*ret_object = object;
	return 0;
}

int proto_build_stats_reply(const struct proto_stats *stats, const struct swapdev_config *config,
			    char **ret_msg, size_t *ret_size)
{
	struct json_object *parameters;
	int r;

	r = proto_stats_to_json(stats, config, &parameters);
	if (r < 0)
		return r;
	return build(NULL, parameters, false, ret_msg, ret_size);
}

int proto_build_config_reply(const struct swapdev_config *config, const char *key,
			     char **ret_msg, size_t *ret_size)
{
	struct json_object *parameters, *values;
	int r;

	r = config_to_json(config, key, &values);
	if (r < 0)
		return r;
	parameters = json_object_new_object();
	if (!parameters) {
		json_object_put(values);
		return -ENOMEM;
	}
	r = varlink_object_add(parameters, "config", values);
	if (r < 0) {
		json_object_put(parameters);
		return r;
	}
	return build(NULL, parameters, false, ret_msg, ret_size);
}

int proto_build_status_reply(const struct proto_status *status, char **ret_msg,
			     size_t *ret_size)
{
	struct json_object *object =
		strings_object("state", status->state, "device", status->device);
	int r = object ? 0 : -ENOMEM;

	/* In json-c, JSON null is the NULL object: varlink_object_add() would take it for -ENOMEM. */
	if (r >= 0 && status->loop_device)
		r = varlink_object_add(object, "loop_device", json_object_new_string(status->loop_device));
	else if (r >= 0 && json_object_object_add(object, "loop_device", NULL) < 0)
		r = -ENOMEM;
	if (r >= 0)
		r = varlink_object_add(object, "swap_active", json_object_new_boolean(status->swap_active));
	if (r >= 0)
		r = add_u64(object, "uptime_seconds", status->uptime_seconds);
	if (r >= 0)
		r = varlink_object_add(object, "version", json_object_new_string(status->version));
	if (r < 0) {
		json_object_put(object);
		return r;
	}
	return build(NULL, object, false, ret_msg, ret_size);
}

int proto_build_flush_progress(uint64_t done_pages, uint64_t total_pages, char **ret_msg,
			       size_t *ret_size)
{
	struct json_object *object = json_object_new_object();
	int r = object ? 0 : -ENOMEM;

	if (r >= 0)
		r = add_u64(object, "done_pages", done_pages);
	if (r >= 0)
		r = add_u64(object, "total_pages", total_pages);
	if (r < 0) {
		json_object_put(object);
		return r;
	}
	return build(NULL, object, true, ret_msg, ret_size);
}

int proto_build_flush_result(uint64_t written_pages, char **ret_msg, size_t *ret_size)
{
	struct json_object *object = json_object_new_object();
	int r = object ? 0 : -ENOMEM;

	if (r >= 0)
		r = add_u64(object, "written_pages", written_pages);
	if (r < 0) {
		json_object_put(object);
		return r;
	}
	return build(NULL, object, false, ret_msg, ret_size);
}

int proto_build_recompress_progress(uint64_t done_entries, uint64_t total_entries,
				    char **ret_msg, size_t *ret_size)
{
	struct json_object *object = json_object_new_object();
	int r = object ? 0 : -ENOMEM;

	if (r >= 0)
		r = add_u64(object, "done_entries", done_entries);
	if (r >= 0)
		r = add_u64(object, "total_entries", total_entries);
	if (r < 0) {
		json_object_put(object);
		return r;
	}
	return build(NULL, object, true, ret_msg, ret_size);
}

int proto_build_recompress_result(const struct proto_recompress_reply *result, char **ret_msg,
				  size_t *ret_size)
{
	struct json_object *object = json_object_new_object();
	int r = object ? 0 : -ENOMEM;

	/* recompressed first: a reader that looks at the first key tells the result. */
	if (r >= 0)
		r = add_u64(object, "recompressed", result->recompressed);
	if (r >= 0)
		r = add_u64(object, "not_worth", result->not_worth);
	if (r >= 0)
		r = add_u64(object, "dropped", result->dropped);
	if (r >= 0)
		r = add_u64(object, "cpu_us", result->cpu_us);
	if (r >= 0)
		r = add_u64(object, "done_entries", result->done_entries);
	if (r < 0) {
		json_object_put(object);
		return r;
	}
	return build(NULL, object, false, ret_msg, ret_size);
}

int proto_build_call(const struct proto_request *request, char **ret_msg, size_t *ret_size)
{
	unsigned flags = (request->more ? VARLINK_MORE : 0) | (request->oneway ? VARLINK_ONEWAY : 0);
	const struct method_desc *method;
	struct json_object *parameters;
	int r = 0;

	if ((unsigned)request->method >= _PROTO_METHOD_MAX)
		return -EINVAL;
	method = &methods[request->method];
	parameters = json_object_new_object();
	if (!parameters)
		return -ENOMEM;
	for (const struct param_desc *p = method->params; r >= 0 && p->name; p++) {
		const char *slot = (const char *)request + p->offset;
		const char *text;
		uint64_t number;

		switch (p->type) {
		case PARAM_STRING:
			text = *(const char *const *)slot;
			if (text)
				r = varlink_object_add(parameters, p->name, json_object_new_string(text));
			else if (p->required)
				r = -EINVAL;
			break;
		case PARAM_U32:
		case PARAM_U64:
			number = p->type == PARAM_U32 ? *(const uint32_t *)slot : *(const uint64_t *)slot;
			if (number || p->required)
				r = add_u64(parameters, p->name, number);
			break;
		case PARAM_OPT_U32:
			if (((const struct proto_optional_u32 *)slot)->given)
				r = add_u64(parameters, p->name,
					    ((const struct proto_optional_u32 *)slot)->value);
			break;
		}
	}
	if (r >= 0)
		r = varlink_build_call(method->name, parameters, flags, ret_msg, ret_size);
	json_object_put(parameters);
	return r;
}

/* Readers: a missing or mistyped field reads as 0, NULL or false. */
static struct json_object *read_field(struct json_object *object, const char *key,
				      enum json_type type)
{
	struct json_object *value;

	if (!object || !json_object_object_get_ex(object, key, &value) ||
	    !json_object_is_type(value, type))
		return NULL;
	return value;
}

static uint64_t read_u64(struct json_object *object, const char *key)
{
	struct json_object *value = read_field(object, key, json_type_int);

	return value && json_object_get_int64(value) >= 0 ? json_object_get_uint64(value) : 0;
}

static const char *read_string(struct json_object *object, const char *key)
{
	struct json_object *value = read_field(object, key, json_type_string);

	return value ? json_object_get_string(value) : NULL;
}

static void read_latency(struct json_object *object, const char *key,
			 struct proto_latency *ret_latency)
{
	struct json_object *latency = read_field(object, key, json_type_object);

	*ret_latency = (struct proto_latency){
		.p50 = read_u64(latency, "p50"),
		.p99 = read_u64(latency, "p99"),
		.p999 = read_u64(latency, "p999"),
	};
}

static void read_latency_histogram(struct json_object *object, const char *key,
				   struct proto_latency_histogram *ret_hist)
{
	struct json_object *hist = read_field(object, key, json_type_object);
	struct json_object *buckets = read_field(hist, "buckets", json_type_array);
	size_t n = buckets ? json_object_array_length(buckets) : 0;

	*ret_hist = (struct proto_latency_histogram){
		.nr_buckets = MIN(n, PROTO_LATENCY_BUCKETS_MAX),
		.count = read_u64(hist, "count"),
		.sum_us = read_u64(hist, "sum_us"),
	};
	for (size_t i = 0; i < ret_hist->nr_buckets; i++) {
		struct json_object *bucket = json_object_array_get_idx(buckets, i);

		ret_hist->buckets[i] = (struct proto_latency_bucket){
			.le_us = read_u64(bucket, "le_us"),
			.count = read_u64(bucket, "count"),
		};
	}
}

void proto_read_stats(struct json_object *parameters, struct proto_stats *ret_stats,
		      struct json_object **ret_config)
{
	for (const struct proto_stat_field *f = proto_stat_fields; f->name; f++)
		*(uint64_t *)((char *)ret_stats + f->offset) = read_u64(parameters, f->name);
	read_latency(parameters, "read_latency_us", &ret_stats->read_latency_us);
	read_latency(parameters, "write_latency_us", &ret_stats->write_latency_us);
	read_latency_histogram(parameters, "read_latency_histogram",
			       &ret_stats->read_latency_histogram);
	read_latency_histogram(parameters, "write_latency_histogram",
			       &ret_stats->write_latency_histogram);
	ret_stats->uptime_seconds = read_u64(parameters, "uptime_seconds");
	ret_stats->start_time_seconds = read_u64(parameters, "start_time_seconds");
	ret_stats->version = read_string(parameters, "version");
	if (ret_config)
		*ret_config = proto_read_config(parameters);
}

void proto_read_status(struct json_object *parameters, struct proto_status *ret_status)
{
	struct json_object *active = read_field(parameters, "swap_active", json_type_boolean);

	*ret_status = (struct proto_status){
		.state = read_string(parameters, "state"),
		.device = read_string(parameters, "device"),
		.loop_device = read_string(parameters, "loop_device"),
		.swap_active = active && json_object_get_boolean(active),
		.uptime_seconds = read_u64(parameters, "uptime_seconds"),
		.version = read_string(parameters, "version"),
	};
}

void proto_read_flush(struct json_object *parameters, struct proto_flush_reply *ret_flush)
{
	*ret_flush = (struct proto_flush_reply){
		.done_pages = read_u64(parameters, "done_pages"),
		.total_pages = read_u64(parameters, "total_pages"),
		.written_pages = read_u64(parameters, "written_pages"),
	};
}

void proto_read_recompress(struct json_object *parameters,
			   struct proto_recompress_reply *ret_recompress)
{
	*ret_recompress = (struct proto_recompress_reply){
		.done_entries = read_u64(parameters, "done_entries"),
		.total_entries = read_u64(parameters, "total_entries"),
		.recompressed = read_u64(parameters, "recompressed"),
		.not_worth = read_u64(parameters, "not_worth"),
		.dropped = read_u64(parameters, "dropped"),
		.cpu_us = read_u64(parameters, "cpu_us"),
	};
}

struct json_object *proto_read_config(struct json_object *parameters)
{
	return read_field(parameters, "config", json_type_object);
}

const char *proto_config_value(struct json_object *config, const char *key)
{
	return read_string(config, key);
}

void proto_read_error(struct json_object *parameters, struct proto_error_reply *ret_error)
{
	*ret_error = (struct proto_error_reply){
		.message = read_string(parameters, "message"),
		.parameter = read_string(parameters, "parameter"),
		.key = read_string(parameters, "key"),
	};
}
