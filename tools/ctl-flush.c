/* SPDX-License-Identifier: MIT */
/*
 * ctl-flush.c - "swapdevctl flush": write pool entries back to the disk
 * tier (io.swapdev.Flush).
 *
 * The call always asks for progress ("more"). swapdevd answers the first
 * time as soon as the flush has started, which is what "accepted" means
 * here: without --wait, swapdevctl reports how many pages are queued and
 * disconnects, and the flush runs to its end in the daemon (a flush is a
 * job of the daemon, not of the connection; the interface promises that
 * disconnecting does not cancel it). Refusals (no disk tier, not root)
 * come back as that first reply, so they still reach the user. With
 * --wait, swapdevctl reads the progress replies until the result, drawing
 * a bar on stderr when it is a terminal, and prints the result.
 */
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <unistd.h>

#include "common.h"
#include "config.h"
#include "ctl.h"

#define PROGRESS_WIDTH 40

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

static void draw_progress(uint64_t done, uint64_t total)
{
	double fraction = total ? (double)MIN(done, total) / (double)total : 1.0;
	int filled = (int)(fraction * PROGRESS_WIDTH);

	fprintf(stderr, "\rflush [%.*s%*s] %3d%%  %" PRIu64 "/%" PRIu64 " pages", filled,
		"########################################", PROGRESS_WIDTH - filled, "",
		(int)(fraction * 100), MIN(done, total), total);
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

/* Follow the call from its first reply to the end (or the start, without wait). */
static int follow(struct ctl_conn *conn, struct varlink_reply *reply, bool wait)
{
	bool bar = wait && isatty(STDERR_FILENO);
	char size[CTL_UNIT_MAX];

	struct proto_flush_reply flush;

	while (reply->continues) {
		uint64_t done, total;

		proto_read_flush(reply->parameters, &flush);
		done = flush.done_pages;
		total = flush.total_pages;

		if (!wait) {
			/* A first reply may come before swapdevd has counted the pages. */
			if (total)
				printf("Flush started: %" PRIu64 " pages (%s) to write back.\n",
				       total, ctl_format_bytes(total * SWAPDEV_PAGE_SIZE, size));
			else
				printf("Flush started.\n");
			varlink_reply_done(reply);
			return CTL_EXIT_OK;
		}
		if (bar)
			draw_progress(done, total);
		varlink_reply_done(reply);
		if (ctl_next_reply(conn, reply) < 0) {
			if (bar)
				fputc('\n', stderr);
			return CTL_EXIT_FAILURE;
		}
	}
	proto_read_flush(reply->parameters, &flush);
	if (bar) {
		draw_progress(flush.written_pages, flush.written_pages);
		fputc('\n', stderr);
	}
	printf("Wrote %" PRIu64 " pages (%s) back to the disk tier.\n", flush.written_pages,
	       ctl_format_bytes(flush.written_pages * SWAPDEV_PAGE_SIZE, size));
	varlink_reply_done(reply);
	return CTL_EXIT_OK;
}

int ctl_flush(const struct ctl_options *options, int argc, char *argv[])
{
	struct proto_request call = { .method = PROTO_METHOD_FLUSH, .more = true };
	struct varlink_reply reply;
	struct ctl_conn *conn = NULL;
	bool wait = false;
	int status;

	status = parse_options(argc, argv, &call, &wait);
	if (status < 0) {
		status = CTL_EXIT_FAILURE;
		if (ctl_connect(options->socket, &conn) >= 0 && ctl_call(conn, &call, &reply) >= 0)
			status = follow(conn, &reply, wait);
		ctl_disconnect(conn);
	}
	return status;
}
