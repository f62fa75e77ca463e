/* SPDX-License-Identifier: MIT */
/*
 * ctl-stats.c - "swapdevctl stats": io.swapdev.GetStats as a table for
 * people, JSON for scripts, or Prometheus text for node_exporter's textfile
 * collector; --watch repeats it on one connection (a new one after the
 * daemon dropped it as idle, when SECONDS is over 30).
 *
 * The table answers what an administrator coming from zram asks first:
 * where the slots live, how well the pool compresses (pool data over its
 * compressed bytes, like zram's orig_data_size / compr_data_size), how much
 * RAM the swapped data really costs (data kept in memory over the pool's
 * footprint, which includes allocator overhead), how close the pool is to
 * its limit, and whether anything failed. In watch mode on a terminal the
 * screen is redrawn and operation rates are shown.
 *
 * Prometheus names are derived from proto_stat_fields[], the same table
 * that builds GetStats: swapdev_<field> for levels, swapdev_<field>_total
 * for counters (slots_total, a level, becomes swapdev_device_slots so as
 * not to look like a counter). Latencies are gauges in seconds with a
 * quantile label; the configuration is one swapdev_config_info series per
 * key, with the value as a label.
 */
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "ctl.h"

#define WATCH_MAX_SECONDS 86400

enum stats_format {
	FORMAT_TABLE,
	FORMAT_JSON,
	FORMAT_PROMETHEUS,
};

static void stats_usage(FILE *out)
{
	fprintf(out,
		"Usage: %s stats [--json | --prometheus] [--watch SECONDS]\n"
		"\n"
		"Show the statistics of swapdevd: slots per tier, compression ratio, pool\n"
		"memory against its limit, operations, writeback, failures and latency.\n"
		"\n"
		"  -j, --json             print the GetStats reply as JSON (with --watch,\n"
		"                         one object per line)\n"
		"  -p, --prometheus       print Prometheus text exposition format\n"
		"  -w, --watch SECONDS    repeat every SECONDS (1 to %d) until interrupted\n"
		"  -h, --help             show this help\n",
		PROG_NAME, WATCH_MAX_SECONDS);
}

static double percent(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

/* Per-second rate of a counter between two samples, or -1 when unknown. */
static double rate(struct json_object *now, struct json_object *before, const char *key,
		   unsigned interval)
{
	uint64_t a, b;

	if (!before || !interval)
		return -1;
	a = ctl_json_u64(before, key);
	b = ctl_json_u64(now, key);
	/* A restarted daemon starts its counters again from 0. */
	return b >= a ? (double)(b - a) / interval : -1;
}

static void print_tiers(struct json_object *s)
{
	static const char *const tiers[] = { "same", "pool", "disk" };
	char size[CTL_UNIT_MAX];

	printf("\n%-14s %12s %12s\n", "Tier", "Slots", "Data");
	for (size_t i = 0; i < ARRAY_SIZE(tiers); i++) {
		char key[16];
		uint64_t slots;

		snprintf(key, sizeof(key), "%s_slots", tiers[i]);
		slots = ctl_json_u64(s, key);
		printf("  %-12s %12" PRIu64 " %12s\n", tiers[i], slots,
		       ctl_format_bytes(slots * SWAPDEV_PAGE_SIZE, size));
	}
}

static void print_memory(struct json_object *s)
{
	uint64_t pool_data = ctl_json_u64(s, "pool_slots") * SWAPDEV_PAGE_SIZE;
	uint64_t in_ram = pool_data + ctl_json_u64(s, "same_slots") * SWAPDEV_PAGE_SIZE;
	uint64_t compr = ctl_json_u64(s, "compr_bytes");
	uint64_t footprint = ctl_json_u64(s, "pool_footprint_bytes");
	uint64_t limit = ctl_json_u64(s, "pool_limit_bytes");
	uint64_t disk_total = ctl_json_u64(s, "disk_total_bytes");
	char a[CTL_UNIT_MAX], b[CTL_UNIT_MAX];

	putchar('\n');
	if (compr)
		printf("%-17s %s compressed to %s (ratio %.2f)\n", "Pool",
		       ctl_format_bytes(pool_data, a), ctl_format_bytes(compr, b),
		       (double)pool_data / (double)compr);
	else
		printf("%-17s empty\n", "Pool");
	printf("%-17s %s of %s limit (%.1f%%)\n", "Pool memory", ctl_format_bytes(footprint, a),
	       ctl_format_bytes(limit, b), percent(footprint, limit));
	if (footprint)
		printf("%-17s %s of data in %s (ratio %.2f)\n", "In RAM",
		       ctl_format_bytes(in_ram, a), ctl_format_bytes(footprint, b),
		       (double)in_ram / (double)footprint);
	if (disk_total)
		printf("%-17s %s of %s (%.1f%%)\n", "Disk tier",
		       ctl_format_bytes(ctl_json_u64(s, "disk_bytes"), a),
		       ctl_format_bytes(disk_total, b),
		       percent(ctl_json_u64(s, "disk_bytes"), disk_total));
	else
		printf("%-17s none\n", "Disk tier");
	printf("%-17s %s\n", "Slot table", ctl_format_bytes(ctl_json_u64(s, "metadata_bytes"), a));
}

static void print_operations(struct json_object *s, struct json_object *before,
			     unsigned interval)
{
	static const char *const ops[] = { "reads", "writes", "discards" };
	static const char *const tiers[] = { "same", "pool", "disk", "empty" };

	printf("\n%-10s %14s", "Operation", "Total");
	if (before)
		printf(" %10s", "Per second");
	printf(" %10s %10s %10s %10s\n", "Same", "Pool", "Disk", "Empty");
	for (size_t i = 0; i < ARRAY_SIZE(ops); i++) {
		printf("  %-8s %14" PRIu64, ops[i], ctl_json_u64(s, ops[i]));
		if (before) {
			double per_second = rate(s, before, ops[i], interval);

			if (per_second >= 0)
				printf(" %10.0f", per_second);
			else
				printf(" %10s", "-");
		}
		/* Slots per tier: reads_pool, writes_same, ...; "-" where none is kept. */
		for (size_t t = 0; t < ARRAY_SIZE(tiers); t++) {
			char key[32];

			snprintf(key, sizeof(key), "%s_%s", ops[i], tiers[t]);
			if (json_object_object_get_ex(s, key, NULL))
				printf(" %10" PRIu64, ctl_json_u64(s, key));
			else
				printf(" %10s", "-");
		}
		putchar('\n');
	}
}

static void print_events(struct json_object *s)
{
	putchar('\n');
	printf("%-17s %" PRIu64 " pages, %" PRIu64 " cancelled by newer writes\n", "Writeback",
	       ctl_json_u64(s, "writeback_pages"), ctl_json_u64(s, "writeback_cancelled"));
	printf("%-17s %" PRIu64 " pages (pool full)\n", "Write-through",
	       ctl_json_u64(s, "writethrough_pages"));
	printf("%-17s %" PRIu64 " pool entries released\n", "Exclusive loads",
	       ctl_json_u64(s, "exclusive_releases"));
	printf("%-17s %" PRIu64 " pages\n", "Incompressible", ctl_json_u64(s, "incompressible"));
	printf("%-17s %" PRIu64 "\n", "Discarded slots", ctl_json_u64(s, "discarded_slots"));
	printf("%-17s %" PRIu64 "\n", "Partial writes", ctl_json_u64(s, "partial_writes"));
	printf("%-17s %" PRIu64 "\n", "Compactions", ctl_json_u64(s, "compactions"));
	printf("%-17s %" PRIu64 " allocation failures, %" PRIu64 " I/O errors, %" PRIu64
	       " corrupt pool objects\n",
	       "Failures", ctl_json_u64(s, "alloc_failures"), ctl_json_u64(s, "io_errors"),
	       ctl_json_u64(s, "decompress_errors"));
}

static void print_latency(struct json_object *s)
{
	static const char *const keys[] = { "read_latency_us", "write_latency_us" };
	static const char *const labels[] = { "read", "write" };

	printf("\n%-10s %10s %10s %10s\n", "Latency", "p50", "p99", "p99.9");
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		struct json_object *latency = ctl_json_object(s, keys[i]);
		char p50[CTL_UNIT_MAX], p99[CTL_UNIT_MAX], p999[CTL_UNIT_MAX];

		printf("  %-8s %10s %10s %10s\n", labels[i],
		       ctl_format_usec(ctl_json_u64(latency, "p50"), p50),
		       ctl_format_usec(ctl_json_u64(latency, "p99"), p99),
		       ctl_format_usec(ctl_json_u64(latency, "p999"), p999));
	}
}

static void print_table(struct json_object *s, struct json_object *before, unsigned interval)
{
	uint64_t total = ctl_json_u64(s, "slots_total");
	uint64_t used = ctl_json_u64(s, "slots_used");
	char a[CTL_UNIT_MAX], b[CTL_UNIT_MAX];

	printf("%-17s %s\n", "Uptime", ctl_format_duration(ctl_json_u64(s, "uptime_seconds"), a));
	printf("%-17s %s in %" PRIu64 " slots, %" PRIu64 " used (%.1f%%, %s of data)\n", "Device",
	       ctl_format_bytes(total * SWAPDEV_PAGE_SIZE, a), total, used, percent(used, total),
	       ctl_format_bytes(ctl_json_u64(s, "orig_bytes"), b));
	print_tiers(s);
	print_memory(s);
	print_operations(s, before, interval);
	print_events(s);
	print_latency(s);
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

static void print_prometheus(struct json_object *s)
{
	static const char *const latencies[][2] = {
		{ "read_latency_us", "read" },
		{ "write_latency_us", "write" },
	};
	static const char *const quantiles[][2] = {
		{ "p50", "0.5" },
		{ "p99", "0.99" },
		{ "p999", "0.999" },
	};
	struct json_object *config = ctl_json_object(s, "config");

	for (const struct proto_stat_field *f = proto_stat_fields; f->name; f++) {
		bool counter = f->kind == PROTO_STAT_COUNTER;
		char metric[96];

		if (!json_object_object_get_ex(s, f->name, NULL))
			continue;
		snprintf(metric, sizeof(metric), "swapdev_%s%s",
			 strcmp(f->name, "slots_total") == 0 ? "device_slots" : f->name,
			 counter ? "_total" : "");
		printf("# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n", metric, f->help, metric,
		       counter ? "counter" : "gauge", metric, ctl_json_u64(s, f->name));
	}
	for (size_t i = 0; i < ARRAY_SIZE(latencies); i++) {
		struct json_object *latency = ctl_json_object(s, latencies[i][0]);

		if (!latency)
			continue;
		printf("# HELP swapdev_%s_latency_seconds %s latency percentiles.\n"
		       "# TYPE swapdev_%s_latency_seconds gauge\n",
		       latencies[i][1], i == 0 ? "Read" : "Write", latencies[i][1]);
		for (size_t q = 0; q < ARRAY_SIZE(quantiles); q++)
			printf("swapdev_%s_latency_seconds{quantile=\"%s\"} %.6f\n",
			       latencies[i][1], quantiles[q][1],
			       (double)ctl_json_u64(latency, quantiles[q][0]) / 1e6);
	}
	printf("# HELP swapdev_uptime_seconds Time since swapdevd started.\n"
	       "# TYPE swapdev_uptime_seconds gauge\n"
	       "swapdev_uptime_seconds %" PRIu64 "\n",
	       ctl_json_u64(s, "uptime_seconds"));
	if (!config)
		return;
	printf("# HELP swapdev_config_info Active configuration, one series per key.\n"
	       "# TYPE swapdev_config_info gauge\n");
	json_object_object_foreach(config, key, value) {
		printf("swapdev_config_info{key=\"");
		print_label_value(key);
		printf("\",value=\"");
		print_label_value(json_object_get_string(value));
		printf("\"} 1\n");
	}
}

static void print_stats(enum stats_format format, struct json_object *s,
			struct json_object *before, unsigned watch)
{
	switch (format) {
	case FORMAT_TABLE:
		if (watch && isatty(STDOUT_FILENO))
			fputs("\033[H\033[2J", stdout); /* home, clear screen */
		else if (before)
			putchar('\n');
		print_table(s, before, watch);
		break;
	case FORMAT_JSON:
		/* Watching: one object per line, for line-oriented tools. */
		ctl_print_json(s, !watch);
		break;
	case FORMAT_PROMETHEUS:
		if (before)
			putchar('\n');
		print_prometheus(s);
		break;
	}
}

/* Sleep until *next + seconds, on a fixed beat whatever printing took. */
static void sleep_until_next(struct timespec *next, unsigned seconds)
{
	next->tv_sec += seconds;
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, next, NULL) == EINTR)
		;
}

int ctl_stats(const struct ctl_options *options, int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "prometheus", no_argument, NULL, 'p' },
		{ "watch", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	enum stats_format format = FORMAT_TABLE;
	struct varlink_reply previous = { 0 };
	struct ctl_conn *conn;
	struct timespec next;
	unsigned watch = 0;
	uint64_t value;
	int c, status = CTL_EXIT_OK;

	while ((c = getopt_long(argc, argv, ":jpw:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
		case 'p':
			if (format != FORMAT_TABLE)
				return ctl_usage_error(argv[0], "--json and --prometheus exclude "
								"each other");
			format = c == 'j' ? FORMAT_JSON : FORMAT_PROMETHEUS;
			break;
		case 'w':
			if (ctl_parse_uint(optarg, 1, WATCH_MAX_SECONDS, &value) < 0)
				return ctl_usage_error(argv[0],
						       "--watch takes whole seconds, 1 to %d, not "
						       "'%s'",
						       WATCH_MAX_SECONDS, optarg);
			watch = (unsigned)value;
			break;
		case 'h':
			stats_usage(stdout);
			return CTL_EXIT_OK;
		default:
			return ctl_option_error(argv[0], c, argv);
		}
	}
	if (optind < argc)
		return ctl_usage_error(argv[0], "unexpected argument '%s'", argv[optind]);

	if (ctl_connect(options->socket, &conn) < 0)
		return CTL_EXIT_FAILURE;
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (;;) {
		struct varlink_reply reply;

		if (ctl_call(conn, PROTO_METHOD_GET_STATS, NULL, 0, &reply) < 0) {
			status = CTL_EXIT_FAILURE;
			break;
		}
		print_stats(format, reply.parameters, previous.parameters, watch);
		varlink_reply_done(&previous);
		previous = reply;
		/* Stop watching when nobody reads any more (main reports the error). */
		if (!watch || fflush(stdout) != 0)
			break;
		sleep_until_next(&next, watch);
	}
	varlink_reply_done(&previous);
	ctl_disconnect(conn);
	return status;
}
