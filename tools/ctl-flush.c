/* SPDX-License-Identifier: MIT */
/*
 * ctl-flush.c - "swapdevctl flush": write pool entries back to the disk
 * tier (io.swapdev.Flush).
 *
 * A job of the daemon, followed as ctl-job.c says: without --wait,
 * swapdevctl reports how many pages are queued and leaves the flush to
 * run to its end in the daemon. Refusals (no disk tier, not root) come
 * back as the first reply.
 */
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>

#include "common.h"
#include "config.h"
#include "ctl.h"

static void flush_usage(FILE *out)
{
	fprintf(out,
		"Usage: %s flush [--idle SECONDS] [--limit SIZE] [--wait]\n"
		"\n"
		"Write entries of the compressed pool back to the disk tier, freeing pool\n"
		"memory: all of them, only those idle for at least SECONDS, or until SIZE\n"
		"has been written.\n"
		"\n"
		"  -i, --idle SECONDS  only entries not used for at least SECONDS\n"
		"  -l, --limit SIZE    stop after writing SIZE (K, M, G, T suffixes, or a\n"
		"                      percentage of RAM such as 10%%)\n"
		"  -w, --wait          wait until the flush is done (progress on a terminal)\n"
		"  -h, --help          show this help\n"
		"\n"
		"Without --wait, %s returns once swapdevd has started the flush, which\n"
		"then runs to its end in the daemon.\n",
		PROG_NAME, PROG_NAME);
}

/* Parse the options into the Flush parameters. Returns an exit status, or -1 to go on. */
static int parse_options(int argc, char *argv[], struct proto_request *call, bool *ret_wait)
{
	static const struct option longopts[] = {
		{ "idle", required_argument, NULL, 'i' },
		{ "limit", required_argument, NULL, 'l' },
		{ "wait", no_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	uint64_t value;
	int c;

	while ((c = getopt_long(argc, argv, ":i:l:wh", longopts, NULL)) != -1) {
		switch (c) {
		case 'i':
			if (ctl_parse_uint(optarg, 0, UINT32_MAX, &value) < 0)
				return ctl_usage_error(argv[0],
						       "--idle takes whole seconds, 0 to %" PRIu32
						       ", not '%s'",
						       UINT32_MAX, optarg);
			call->flush.idle_seconds = (uint32_t)value;
			break;
		case 'l':
			/* The protocol's int is int64; the daemon refuses anything larger. */
			if (config_parse_size(optarg, config_ram_bytes(), &value) < 0 ||
			    value == 0 || value > (uint64_t)INT64_MAX)
				return ctl_usage_error(argv[0],
						       "--limit takes a size above 0 and below 8 EiB, "
						       "such as 512M, 4G or 10%%, not '%s'",
						       optarg);
			call->flush.limit_bytes = value;
			break;
		case 'w':
			*ret_wait = true;
			break;
		case 'h':
			flush_usage(stdout);
			return CTL_EXIT_OK;
		default:
			return ctl_option_error(argv[0], c, argv);
		}
	}
	if (optind < argc)
		return ctl_usage_error(argv[0], "unexpected argument '%s'", argv[optind]);
	return -1;
}

static void flush_progress(struct json_object *parameters, uint64_t *ret_done,
			   uint64_t *ret_total)
{
	struct proto_flush_reply flush;

	proto_read_flush(parameters, &flush);
	*ret_done = flush.done_pages;
	*ret_total = flush.total_pages;
}

static void flush_started(struct json_object *parameters)
{
	struct proto_flush_reply flush;
	char size[CTL_UNIT_MAX];

	proto_read_flush(parameters, &flush);
	/* A first reply may come before swapdevd has counted the pages. */
	if (flush.total_pages)
		printf("Flush started: %" PRIu64 " pages (%s) to write back.\n", flush.total_pages,
		       ctl_format_bytes(flush.total_pages * SWAPDEV_PAGE_SIZE, size));
	else
		printf("Flush started.\n");
}

static uint64_t flush_done(struct json_object *parameters)
{
	struct proto_flush_reply flush;

	proto_read_flush(parameters, &flush);
	return flush.written_pages;
}

static void flush_print_result(struct json_object *parameters)
{
	uint64_t written = flush_done(parameters);
	char size[CTL_UNIT_MAX];

	printf("Wrote %" PRIu64 " pages (%s) back to the disk tier.\n", written,
	       ctl_format_bytes(written * SWAPDEV_PAGE_SIZE, size));
}

static const struct ctl_job flush_job = {
	.name = "flush",
	.unit = "pages",
	.progress = flush_progress,
	.started = flush_started,
	.done = flush_done,
	.print_result = flush_print_result,
};

int ctl_flush(const struct ctl_options *options, int argc, char *argv[])
{
	struct proto_request call = { .method = PROTO_METHOD_FLUSH, .more = true };
	bool wait = false;
	int status;

	status = parse_options(argc, argv, &call, &wait);
	return status >= 0 ? status : ctl_run_job(options, &call, wait, &flush_job);
}
