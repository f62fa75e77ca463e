/* SPDX-License-Identifier: MIT */
/*
 * ctl-prometheus.c - "swapdevctl stats --prometheus": one GetStats reply as
 * one Prometheus text exposition, for node_exporter's textfile collector.
 *
 * Names come from proto_stat_fields[], the table that builds GetStats:
 * swapdev_<field> for levels, swapdev_<field>_total for counters, except
 * where renamed[] says otherwise. Fields that are members of one family
 * told apart by a label (slots per tier, requests per operation, pool
 * objects per codec) are listed in families[] instead, and left out of
 * the plain series; so is a field that is only the sum of a family's
 * members, since sum() gives it back. A member is a field, or a value
 * derived from fields (lz4 is what the pool holds besides zstd and raw).
 *
 * Latencies are Prometheus histograms in seconds, from the cumulative
 * counts the daemon sends at bucket-exact bounds, plus +Inf (every
 * sample), _sum and _count; quantiles since start would hide this hour
 * and cannot be aggregated across hosts. Microseconds are printed as
 * exact decimals, never rounded by a float format.
 */
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "ctl.h"

#define NO_FIELD SIZE_MAX

/* Plain series whose name is not swapdev_<field>[_total]. */
static const struct {
	const char *field;
	const char *metric; /* without swapdev_ and _total */
	bool microseconds;  /* printed in seconds */
	const char *help;   /* NULL: the field's */
} renamed[] = {
	{ "slots_total", "device_slots" }, /* a level must not look like a counter */
	{ "compactions", "compaction_moved_objects" },
	{ "recompress_cpu_us", "recompress_cpu_seconds", true, "CPU time spent recompressing." },
};

struct family_member {
	const char *label_value; /* NULL ends the list */
	size_t offset;		 /* of a field of struct proto_stats, when derive is NULL */
	uint64_t (*derive)(const struct proto_stats *s);
};

#define FIELD(label, field) { label, offsetof(struct proto_stats, field), NULL }
#define DERIVED(label, fn) { label, NO_FIELD, fn }

static uint64_t lz4_objects(const struct proto_stats *s)
{
	struct ctl_codec codecs[CTL_CODECS];

	ctl_pool_codecs(s, codecs);
	return codecs[CTL_CODEC_LZ4].objects;
}

static uint64_t lz4_bytes(const struct proto_stats *s)
{
	struct ctl_codec codecs[CTL_CODECS];

	ctl_pool_codecs(s, codecs);
	return codecs[CTL_CODEC_LZ4].bytes;
}

static uint64_t raw_bytes(const struct proto_stats *s)
{
	struct ctl_codec codecs[CTL_CODECS];

	ctl_pool_codecs(s, codecs);
	return codecs[CTL_CODEC_RAW].bytes;
}

/* Series of one name told apart by one label. */
static const struct family {
	const char *name; /* without swapdev_; counters end in _total */
	enum proto_stat_kind kind;
	const char *help;
	const char *label;
	size_t sum_offset; /* a field that is the sum of the members, or NO_FIELD */
	struct family_member members[5];
} families[] = {
	{ "slots", PROTO_STAT_GAUGE, "Slots holding data, per tier.", "tier",
	  offsetof(struct proto_stats, slots_used),
	  { FIELD("same", same_slots), FIELD("pool", pool_slots), FIELD("disk", disk_slots) } },
	{ "requests_total", PROTO_STAT_COUNTER, "Requests served, per operation.", "op", NO_FIELD,
	  { FIELD("read", reads), FIELD("write", writes), FIELD("discard", discards) } },
	{ "slot_reads_total", PROTO_STAT_COUNTER,
	  "Slots read, per tier that held them (empty: no data, read as zeros).", "tier", NO_FIELD,
	  { FIELD("same", reads_same), FIELD("pool", reads_pool), FIELD("disk", reads_disk),
	    FIELD("empty", reads_empty) } },
	{ "slot_writes_total", PROTO_STAT_COUNTER, "Slots written, per tier that took them.", "tier",
	  NO_FIELD,
	  { FIELD("same", writes_same), FIELD("pool", writes_pool), FIELD("disk", writes_disk) } },
	{ "writethrough_pages_total", PROTO_STAT_COUNTER,
	  "Pages written straight to disk because the pool had no room, per reason.", "reason",
	  offsetof(struct proto_stats, writethrough_pages),
	  { FIELD("pool_full", writethrough_pool_full),
	    FIELD("pool_growing", writethrough_pool_growing),
	    FIELD("no_memory", writethrough_no_memory) } },
	{ "pool_objects", PROTO_STAT_GAUGE,
	  "Pool objects, per codec (raw: incompressible pages kept whole).", "codec", NO_FIELD,
	  { DERIVED("lz4", lz4_objects), FIELD("zstd", zstd_slots), FIELD("raw", raw_slots) } },
	{ "pool_compressed_bytes", PROTO_STAT_GAUGE,
	  "Compressed bytes held in the pool, per codec (raw: 4096 per object).", "codec",
	  offsetof(struct proto_stats, compr_bytes),
	  { DERIVED("lz4", lz4_bytes), FIELD("zstd", zstd_bytes), DERIVED("raw", raw_bytes) } },
	{ "recompressions_total", PROTO_STAT_COUNTER,
	  "Idle pool entries recompressed with the second codec, per outcome (replaced; kept: "
	  "too little saved; dropped: the slot changed meanwhile).",
	  "outcome", NO_FIELD,
	  { FIELD("replaced", recompressed), FIELD("kept", recompress_not_worth),
	    FIELD("dropped", recompress_dropped) } },
};

static uint64_t field_value(const struct proto_stats *s, size_t offset)
{
	uint64_t value;

	memcpy(&value, (const char *)s + offset, sizeof(value));
	return value;
}

static bool in_a_family(size_t offset)
{
	for (size_t i = 0; i < ARRAY_SIZE(families); i++) {
		if (families[i].sum_offset == offset)
			return true;
		for (const struct family_member *m = families[i].members; m->label_value; m++)
			if (!m->derive && m->offset == offset)
				return true;
	}
	return false;
}

static void print_header(const char *metric, const char *help, const char *type)
{
	printf("# HELP %s %s\n# TYPE %s %s\n", metric, help, metric, type);
}

static const char *kind_type(enum proto_stat_kind kind)
{
	return kind == PROTO_STAT_COUNTER ? "counter" : "gauge";
}

/* usec in seconds, exactly: "0.00001", "10.48576", "3". */
static void print_seconds(uint64_t usec)
{
	char fraction[8];
	size_t len;

	len = (size_t)snprintf(fraction, sizeof(fraction), "%06" PRIu64, usec % 1000000);
	while (len > 0 && fraction[len - 1] == '0')
		fraction[--len] = '\0';
	printf("%" PRIu64 "%s%s", usec / 1000000, len ? "." : "", fraction);
}

static void print_fields(const struct proto_stats *s)
{
	for (const struct proto_stat_field *f = proto_stat_fields; f->name; f++) {
		bool counter = f->kind == PROTO_STAT_COUNTER, microseconds = false;
		const char *name = f->name, *help = f->help;
		char metric[96];

		if (in_a_family(f->offset))
			continue;
		for (size_t i = 0; i < ARRAY_SIZE(renamed); i++) {
			if (strcmp(renamed[i].field, f->name) == 0) {
				name = renamed[i].metric;
				microseconds = renamed[i].microseconds;
				help = renamed[i].help ? renamed[i].help : help;
			}
		}
		snprintf(metric, sizeof(metric), "swapdev_%s%s", name, counter ? "_total" : "");
		print_header(metric, help, kind_type(f->kind));
		printf("%s ", metric);
		if (microseconds)
			print_seconds(field_value(s, f->offset));
		else
			printf("%" PRIu64, field_value(s, f->offset));
		putchar('\n');
	}
}

static void print_families(const struct proto_stats *s)
{
	for (size_t i = 0; i < ARRAY_SIZE(families); i++) {
		const struct family *fam = &families[i];
		char metric[96];

		snprintf(metric, sizeof(metric), "swapdev_%s", fam->name);
		print_header(metric, fam->help, kind_type(fam->kind));
		for (const struct family_member *m = fam->members; m->label_value; m++)
			printf("%s{%s=\"%s\"} %" PRIu64 "\n", metric, fam->label, m->label_value,
			       m->derive ? m->derive(s) : field_value(s, m->offset));
	}
}

static void print_histogram(const char *op, const struct proto_latency_histogram *hist)
{
	char metric[64];

	snprintf(metric, sizeof(metric), "swapdev_%s_duration_seconds", op);
	printf("# HELP %s Time to serve a %s request.\n# TYPE %s histogram\n", metric, op, metric);
	for (uint64_t i = 0; i < hist->nr_buckets; i++) {
		printf("%s_bucket{le=\"", metric);
		print_seconds(hist->buckets[i].le_us);
		printf("\"} %" PRIu64 "\n", hist->buckets[i].count);
	}
	printf("%s_bucket{le=\"+Inf\"} %" PRIu64 "\n%s_sum ", metric, hist->count, metric);
	print_seconds(hist->sum_us);
	printf("\n%s_count %" PRIu64 "\n", metric, hist->count);
}

/* A Prometheus label value: backslash, double quote and newline escaped. */
static void print_label_value(const char *value)
{
	for (const char *c = value; *c; c++) {
		if (*c == '\\' || *c == '"')
			printf("\\%c", *c);
		else if (*c == '\n')
			fputs("\\n", stdout);
		else
			putchar(*c);
	}
}

static void print_config(struct json_object *config)
{
	print_header("swapdev_config_info", "Active configuration, one series per key.", "gauge");
	json_object_object_foreach(config, key, value) {
		printf("swapdev_config_info{key=\"");
		print_label_value(key);
		printf("\",value=\"");
		print_label_value(json_object_get_string(value));
		printf("\"} 1\n");
	}
}

void ctl_print_prometheus(const struct proto_stats *s, struct json_object *config)
{
	print_fields(s);
	print_families(s);
	print_histogram("read", &s->read_latency_histogram);
	print_histogram("write", &s->write_latency_histogram);
	print_header("swapdev_uptime_seconds", "Time since swapdevd started.", "gauge");
	printf("swapdev_uptime_seconds %" PRIu64 "\n", s->uptime_seconds);
	print_header("swapdev_start_time_seconds", "Unix time swapdevd started.", "gauge");
	printf("swapdev_start_time_seconds %" PRIu64 "\n", s->start_time_seconds);
	print_header("swapdev_build_info", "The version of swapdevd, as a label.", "gauge");
	printf("swapdev_build_info{version=\"");
	print_label_value(s->version ? s->version : "unknown");
	printf("\"} 1\n");
	if (config)
		print_config(config);
}
