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
static double rate(uint64_t now, const struct proto_stats *before, uint64_t then,
		   unsigned interval)
{
	if (!before || !interval)
		return -1;
	/* A restarted daemon starts its counters again from 0. */
	return now >= then ? (double)(now - then) / interval : -1;
}

static void print_tiers(const struct proto_stats *s)
{
	const struct {
		const char *name;
		uint64_t slots;
	} tiers[] = { { "same", s->same_slots }, { "pool", s->pool_slots }, { "disk", s->disk_slots } };
	char size[CTL_UNIT_MAX];

	printf("\n%-14s %12s %12s\n", "Tier", "Slots", "Data");
	for (size_t i = 0; i < ARRAY_SIZE(tiers); i++)
		printf("  %-12s %12" PRIu64 " %12s\n", tiers[i].name, tiers[i].slots,
		       ctl_format_bytes(tiers[i].slots * SWAPDEV_PAGE_SIZE, size));
}

static void print_memory(const struct proto_stats *s)
{
	uint64_t pool_data = s->pool_slots * SWAPDEV_PAGE_SIZE;
	uint64_t in_ram = pool_data + s->same_slots * SWAPDEV_PAGE_SIZE;
	uint64_t compr = s->compr_bytes;
	uint64_t footprint = s->pool_footprint_bytes;
	uint64_t limit = s->pool_limit_bytes;
	uint64_t disk_total = s->disk_total_bytes;
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
		printf("%-17s %s of %s (%.1f%%)\n", "Disk tier", ctl_format_bytes(s->disk_bytes, a),
		       ctl_format_bytes(disk_total, b), percent(s->disk_bytes, disk_total));
	else
		printf("%-17s none\n", "Disk tier");
	printf("%-17s %s\n", "Slot table", ctl_format_bytes(s->metadata_bytes, a));
}

static void print_operations(const struct proto_stats *s, const struct proto_stats *before,
			     unsigned interval)
{
	const struct proto_stats *b = before ? before : s;
	/* Slots per tier (same, pool, disk, empty); NULL where none is kept. */
	const struct {
		const char *name;
		uint64_t total, then;
		const uint64_t *tiers[4];
	} ops[] = {
		{ "reads", s->reads, b->reads,
		  { &s->reads_same, &s->reads_pool, &s->reads_disk, &s->reads_empty } },
		{ "writes", s->writes, b->writes,
		  { &s->writes_same, &s->writes_pool, &s->writes_disk, NULL } },
		{ "discards", s->discards, b->discards, { NULL } },
	};

	printf("\n%-10s %14s", "Operation", "Total");
	if (before)
		printf(" %10s", "Per second");
	printf(" %10s %10s %10s %10s\n", "Same", "Pool", "Disk", "Empty");
	for (size_t i = 0; i < ARRAY_SIZE(ops); i++) {
		printf("  %-8s %14" PRIu64, ops[i].name, ops[i].total);
		if (before) {
			double per_second = rate(ops[i].total, before, ops[i].then, interval);

			if (per_second >= 0)
				printf(" %10.0f", per_second);
			else
				printf(" %10s", "-");
		}
		for (size_t t = 0; t < ARRAY_SIZE(ops[i].tiers); t++) {
			if (ops[i].tiers[t])
				printf(" %10" PRIu64, *ops[i].tiers[t]);
			else
				printf(" %10s", "-");
		}
		putchar('\n');
	}
}

static void print_events(const struct proto_stats *s)
{
	putchar('\n');
	printf("%-17s %" PRIu64 " pages, %" PRIu64 " cancelled by newer writes\n", "Writeback",
	       s->writeback_pages, s->writeback_cancelled);
	printf("%-17s %" PRIu64 " pages (pool full)\n", "Write-through", s->writethrough_pages);
	printf("%-17s %" PRIu64 " pool entries released\n", "Exclusive loads",
	       s->exclusive_releases);
	printf("%-17s %" PRIu64 " pages\n", "Incompressible", s->incompressible);
	printf("%-17s %" PRIu64 "\n", "Discarded slots", s->discarded_slots);
	printf("%-17s %" PRIu64 "\n", "Partial writes", s->partial_writes);
	printf("%-17s %" PRIu64 "\n", "Compactions", s->compactions);
	printf("%-17s %" PRIu64 " allocation failures, %" PRIu64 " I/O errors, %" PRIu64
	       " corrupt pool objects\n",
	       "Failures", s->alloc_failures, s->io_errors, s->decompress_errors);
}

/* The latencies of GetStats, with their names in the table and in Prometheus. */
static void latencies(const struct proto_stats *s, const struct proto_latency *ret_latency[2])
{
	ret_latency[0] = &s->read_latency_us;
	ret_latency[1] = &s->write_latency_us;
}

static const char *const latency_labels[] = { "read", "write" };

static void print_latency(const struct proto_stats *s)
{
	const struct proto_latency *latency[2];

	latencies(s, latency);
	printf("\n%-10s %10s %10s %10s\n", "Latency", "p50", "p99", "p99.9");
	for (size_t i = 0; i < ARRAY_SIZE(latency); i++) {
		char p50[CTL_UNIT_MAX], p99[CTL_UNIT_MAX], p999[CTL_UNIT_MAX];

		printf("  %-8s %10s %10s %10s\n", latency_labels[i],
		       ctl_format_usec(latency[i]->p50, p50), ctl_format_usec(latency[i]->p99, p99),
		       ctl_format_usec(latency[i]->p999, p999));
	}
}

static void print_table(const struct proto_stats *s, const struct proto_stats *before,
			unsigned interval)
{
	uint64_t total = s->slots_total;
	uint64_t used = s->slots_used;
	char a[CTL_UNIT_MAX], b[CTL_UNIT_MAX];

	printf("%-17s %s\n", "Uptime", ctl_format_duration(s->uptime_seconds, a));
	printf("%-17s %s in %" PRIu64 " slots, %" PRIu64 " used (%.1f%%, %s of data)\n", "Device",
	       ctl_format_bytes(total * SWAPDEV_PAGE_SIZE, a), total, used, percent(used, total),
	       ctl_format_bytes(s->orig_bytes, b));
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

static void print_prometheus(const struct proto_stats *s, struct json_object *config)
{
	static const char *const quantiles[] = { "0.5", "0.99", "0.999" };
	const struct proto_latency *latency[2];

	for (const struct proto_stat_field *f = proto_stat_fields; f->name; f++) {
		bool counter = f->kind == PROTO_STAT_COUNTER;
		uint64_t value;
		char metric[96];

		memcpy(&value, (const char *)s + f->offset, sizeof(value));
		snprintf(metric, sizeof(metric), "swapdev_%s%s",
			 strcmp(f->name, "slots_total") == 0 ? "device_slots" : f->name,
			 counter ? "_total" : "");
		printf("# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n", metric, f->help, metric,
		       counter ? "counter" : "gauge", metric, value);
	}
	latencies(s, latency);
	for (size_t i = 0; i < ARRAY_SIZE(latency); i++) {
		const uint64_t values[] = { latency[i]->p50, latency[i]->p99, latency[i]->p999 };

		printf("# HELP swapdev_%s_latency_seconds %s latency percentiles.\n"
		       "# TYPE swapdev_%s_latency_seconds gauge\n",
		       latency_labels[i], i == 0 ? "Read" : "Write", latency_labels[i]);
		for (size_t q = 0; q < ARRAY_SIZE(quantiles); q++)
			printf("swapdev_%s_latency_seconds{quantile=\"%s\"} %.6f\n",
			       latency_labels[i], quantiles[q], (double)values[q] / 1e6);
	}
	printf("# HELP swapdev_uptime_seconds Time since swapdevd started.\n"
	       "# TYPE swapdev_uptime_seconds gauge\n"
	       "swapdev_uptime_seconds %" PRIu64 "\n",
	       s->uptime_seconds);
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

/* One sample: parameters is the GetStats reply, s what it says, before the sample before. */
static void print_stats(enum stats_format format, struct json_object *parameters,
			const struct proto_stats *before, unsigned watch,
			struct proto_stats *ret_stats)
{
	struct json_object *config;

	proto_read_stats(parameters, ret_stats, &config);
	switch (format) {
	case FORMAT_TABLE:
		if (watch && isatty(STDOUT_FILENO))
			fputs("\033[H\033[2J", stdout); /* home, clear screen */
		else if (before)
			putchar('\n');
		print_table(ret_stats, before, watch);
		break;
	case FORMAT_JSON:
		/* Watching: one object per line, for line-oriented tools. */
		ctl_print_json(parameters, !watch);
		break;
	case FORMAT_PROMETHEUS:
		if (before)
			putchar('\n');
		print_prometheus(ret_stats, config);
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
	struct proto_stats samples[2];
	const struct proto_stats *before = NULL;
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
	for (unsigned n = 0;; n++) {
		struct proto_stats *now = &samples[n % 2];
		struct varlink_reply reply;

		if (ctl_call(conn, &(struct proto_request){ .method = PROTO_METHOD_GET_STATS },
			     &reply) < 0) {
			status = CTL_EXIT_FAILURE;
			break;
		}
		print_stats(format, reply.parameters, before, watch, now);
		varlink_reply_done(&reply);
		before = now;
		/* Stop watching when nobody reads any more (main reports the error). */
		if (!watch || fflush(stdout) != 0)
			break;
		sleep_until_next(&next, watch);
	}
	ctl_disconnect(conn);
	return status;
}
