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
 * its limit, what each codec holds, and whether anything failed. A ratio
 * of nothing is "-", not 0. In watch mode on a terminal the screen is
 * redrawn and operation rates are shown.
 *
 * The Prometheus text is ctl-prometheus.c's. It is one exposition, meant to
 * be written whole to a file the textfile collector reads, so --watch,
 * which would append expositions, is refused with it: a timer does the
 * repeating (systemd/swapdev-textfile.timer).
 */
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
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
		"  -p, --prometheus       print Prometheus text exposition format (not with\n"
		"                         --watch: one exposition per run, for a textfile\n"
		"                         collector)\n"
		"  -w, --watch SECONDS    repeat every SECONDS (1 to %d) until interrupted\n"
		"  -h, --help             show this help\n",
		PROG_NAME, WATCH_MAX_SECONDS);
}

#define RATIO_MAX 16

/* part / whole as "4.00", or "-" when either is nothing. Returns buf. */
static const char *format_ratio(uint64_t part, uint64_t whole, char buf[static RATIO_MAX])
{
	if (!part || !whole)
		return "-";
	snprintf(buf, RATIO_MAX, "%.2f", (double)part / (double)whole);
	return buf;
}

/* part of whole as "12.5%", or "-" when whole is nothing. Returns buf. */
static const char *format_percent(uint64_t part, uint64_t whole, char buf[static RATIO_MAX])
{
	if (!whole)
		return "-";
	snprintf(buf, RATIO_MAX, "%.1f%%", 100.0 * (double)part / (double)whole);
	return buf;
}

/* b - a, or 0: gauges read one by one may be a moment apart. */
static uint64_t minus(uint64_t b, uint64_t a)
{
	return b > a ? b - a : 0;
}

void ctl_pool_codecs(const struct proto_stats *s, struct ctl_codec ret_codecs[CTL_CODECS])
{
	uint64_t raw_bytes = s->raw_slots * SWAPDEV_PAGE_SIZE;

	ret_codecs[CTL_CODEC_LZ4] = (struct ctl_codec){
		"lz4", minus(s->pool_slots, s->raw_slots + s->zstd_slots),
		minus(s->compr_bytes, raw_bytes + s->zstd_bytes)
	};
	ret_codecs[CTL_CODEC_ZSTD] = (struct ctl_codec){ "zstd", s->zstd_slots, s->zstd_bytes };
	ret_codecs[CTL_CODEC_RAW] = (struct ctl_codec){ "raw", s->raw_slots, raw_bytes };
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
	char a[CTL_UNIT_MAX], b[CTL_UNIT_MAX], r[RATIO_MAX];

	putchar('\n');
	if (compr)
		printf("%-17s %s compressed to %s (ratio %s)\n", "Pool",
		       ctl_format_bytes(pool_data, a), ctl_format_bytes(compr, b),
		       format_ratio(pool_data, compr, r));
	else
		printf("%-17s empty\n", "Pool");
	printf("%-17s %s of %s limit (%s)\n", "Pool memory", ctl_format_bytes(footprint, a),
	       ctl_format_bytes(limit, b), format_percent(footprint, limit, r));
	if (footprint)
		printf("%-17s %s of data in %s (ratio %s)\n", "In RAM",
		       ctl_format_bytes(in_ram, a), ctl_format_bytes(footprint, b),
		       format_ratio(in_ram, footprint, r));
	if (disk_total)
		printf("%-17s %s of %s (%s)\n", "Disk tier", ctl_format_bytes(s->disk_bytes, a),
		       ctl_format_bytes(disk_total, b), format_percent(s->disk_bytes, disk_total, r));
	else
		printf("%-17s none\n", "Disk tier");
	printf("%-17s %s\n", "Slot table", ctl_format_bytes(s->metadata_bytes, a));
}

/* Per codec: objects, the data they hold, their compressed bytes and the ratio. */
static void print_codecs(const struct proto_stats *s)
{
	struct ctl_codec codecs[CTL_CODECS];
	char a[CTL_UNIT_MAX], b[CTL_UNIT_MAX], r[RATIO_MAX];

	ctl_pool_codecs(s, codecs);
	printf("\n%-10s %12s %12s %12s %8s\n", "Codec", "Objects", "Data", "Bytes held", "Ratio");
	for (size_t i = 0; i < CTL_CODECS; i++) {
		uint64_t data = codecs[i].objects * SWAPDEV_PAGE_SIZE;

		printf("  %-8s %12" PRIu64 " %12s %12s %8s\n", codecs[i].name, codecs[i].objects,
		       ctl_format_bytes(data, a), ctl_format_bytes(codecs[i].bytes, b),
		       format_ratio(data, codecs[i].bytes, r));
	}
	printf("%-17s %" PRIu64 " recompressed, %" PRIu64 " kept (not worth it), %" PRIu64
	       " dropped, %s CPU\n",
	       "Recompression", s->recompressed, s->recompress_not_worth, s->recompress_dropped,
	       ctl_format_usec(s->recompress_cpu_us, a));
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
	printf("%-17s %" PRIu64 " pages (pool full), %" PRIu64 " (pool still growing)",
	       "Write-through", s->writethrough_pool_full, s->writethrough_pool_growing);
	if (s->writethrough_no_memory)
		printf(", %" PRIu64 " (memory refused)", s->writethrough_no_memory);
	putchar('\n');
	printf("%-17s %" PRIu64 " pool entries released\n", "Exclusive loads",
	       s->exclusive_releases);
	printf("%-17s %" PRIu64 " pages\n", "Incompressible", s->incompressible);
	printf("%-17s %" PRIu64 "\n", "Discarded slots", s->discarded_slots);
	printf("%-17s %" PRIu64 "\n", "Partial writes", s->partial_writes);
	printf("%-17s %" PRIu64 " pool objects moved\n", "Compaction", s->compactions);
	printf("%-17s %" PRIu64 " allocation failures, %" PRIu64 " I/O errors, %" PRIu64
	       " corrupt pool objects\n",
	       "Failures", s->alloc_failures, s->io_errors, s->decompress_errors);
}

/* Percentiles since the daemon started (Prometheus gets the histograms). */
static void print_latency(const struct proto_stats *s)
{
	const struct {
		const char *name;
		const struct proto_latency *latency;
	} ops[] = { { "read", &s->read_latency_us }, { "write", &s->write_latency_us } };

	printf("\n%-10s %10s %10s %10s\n", "Latency", "p50", "p99", "p99.9");
	for (size_t i = 0; i < ARRAY_SIZE(ops); i++) {
		char p50[CTL_UNIT_MAX], p99[CTL_UNIT_MAX], p999[CTL_UNIT_MAX];

		printf("  %-8s %10s %10s %10s\n", ops[i].name,
		       ctl_format_usec(ops[i].latency->p50, p50),
		       ctl_format_usec(ops[i].latency->p99, p99),
		       ctl_format_usec(ops[i].latency->p999, p999));
	}
}

static void print_table(const struct proto_stats *s, const struct proto_stats *before,
			unsigned interval)
{
	uint64_t total = s->slots_total;
	uint64_t used = s->slots_used;
	char a[CTL_UNIT_MAX], b[CTL_UNIT_MAX], r[RATIO_MAX];

	printf("%-17s %s\n", "Uptime", ctl_format_duration(s->uptime_seconds, a));
	printf("%-17s %s in %" PRIu64 " slots, %" PRIu64 " used (%s, %s of data)\n", "Device",
	       ctl_format_bytes(total * SWAPDEV_PAGE_SIZE, a), total, used,
	       format_percent(used, total, r), ctl_format_bytes(s->orig_bytes, b));
	print_tiers(s);
	print_memory(s);
	print_codecs(s);
	print_operations(s, before, interval);
	print_events(s);
	print_latency(s);
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
		ctl_print_prometheus(ret_stats, config);
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
	if (format == FORMAT_PROMETHEUS && watch)
		return ctl_usage_error(argv[0], "--prometheus prints one exposition: run it from a "
						"timer (swapdev-textfile.timer), not with --watch");

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
