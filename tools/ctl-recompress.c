/* SPDX-License-Identifier: MIT */
/*
 * ctl-recompress.c - "swapdevctl recompress": a pass of idle
 * recompression now (io.swapdev.Recompress).
 *
 * It works as "swapdevctl flush" does: the call always asks for progress,
 * the first reply says the pass has started (or carries the refusal: no
 * second codec, no disk tier, not root), and without --wait swapdevctl
 * stops there while the pass runs to its end in the daemon. With --wait
 * it follows the progress, drawing a bar on stderr when that is a
 * terminal, and prints what the pass did.
 */
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <unistd.h>

#include "common.h"
#include "ctl.h"

#define PROGRESS_WIDTH 40

static void recompress_usage(FILE *out)
{
	fprintf(out,
		"Usage: %s recompress [--idle SECONDS] [--wait]\n"
		"\n"
		"Recompress entries of the compressed pool with the second codec\n"
		"(pool.recompress) now, instead of waiting for the background pass: those\n"
		"not used for pool.recompress_idle_seconds, or for SECONDS.\n"
		"\n"
		"  -i, --idle SECONDS  only entries not used for at least SECONDS (0: every\n"
		"                      entry, however recent)\n"
		"  -w, --wait          wait until the pass is done (progress on a terminal)\n"
		"  -h, --help          show this help\n"
		"\n"
		"The pass runs at the speed of one CPU, not within pool.recompress_cpu_percent,\n"
		"and pauses while writeback relieves a full pool. Without --wait, %s\n"
		"returns once swapdevd has started it, and it runs to its end in the daemon.\n",
		PROG_NAME, PROG_NAME);
}

static void draw_progress(uint64_t done, uint64_t total)
{
	double fraction = total ? (double)MIN(done, total) / (double)total : 1.0;
	int filled = (int)(fraction * PROGRESS_WIDTH);

	fprintf(stderr, "\rrecompress [%.*s%*s] %3d%%  %" PRIu64 "/%" PRIu64 " entries", filled,
		"########################################", PROGRESS_WIDTH - filled, "",
		(int)(fraction * 100), MIN(done, total), total);
}

/* Parse the options into the Recompress parameters. Returns an exit status, or -1 to go on. */
static int parse_options(int argc, char *argv[], struct proto_request *call, bool *ret_wait)
{
	static const struct option longopts[] = {
		{ "idle", required_argument, NULL, 'i' },
		{ "wait", no_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	uint64_t value;
	int c;

	while ((c = getopt_long(argc, argv, ":i:wh", longopts, NULL)) != -1) {
		switch (c) {
		case 'i':
			if (ctl_parse_uint(optarg, 0, UINT32_MAX, &value) < 0)
				return ctl_usage_error(argv[0],
						       "--idle takes whole seconds, 0 to %" PRIu32
						       ", not '%s'",
						       UINT32_MAX, optarg);
			call->recompress.idle_seconds =
				(struct proto_optional_u32){ true, (uint32_t)value };
			break;
		case 'w':
			*ret_wait = true;
			break;
		case 'h':
			recompress_usage(stdout);
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
	struct proto_recompress_reply pass;
	char cpu[CTL_UNIT_MAX];

	while (reply->continues) {
		proto_read_recompress(reply->parameters, &pass);
		if (!wait) {
			printf("Recompression started: %" PRIu64 " pool entries to examine.\n",
			       pass.total_entries);
			varlink_reply_done(reply);
			return CTL_EXIT_OK;
		}
		if (bar)
			draw_progress(pass.done_entries, pass.total_entries);
		varlink_reply_done(reply);
		if (ctl_next_reply(conn, reply) < 0) {
			if (bar)
				fputc('\n', stderr);
			return CTL_EXIT_FAILURE;
		}
	}
	proto_read_recompress(reply->parameters, &pass);
	if (bar) {
		draw_progress(pass.done_entries, pass.done_entries);
		fputc('\n', stderr);
	}
	printf("Examined %" PRIu64 " pool entries: recompressed %" PRIu64 ", kept %" PRIu64
	       " (saving too little), dropped %" PRIu64 " (rewritten meanwhile); %s of CPU.\n",
	       pass.done_entries, pass.recompressed, pass.not_worth, pass.dropped,
	       ctl_format_usec(pass.cpu_us, cpu));
	varlink_reply_done(reply);
	return CTL_EXIT_OK;
}

int ctl_recompress(const struct ctl_options *options, int argc, char *argv[])
{
	struct proto_request call = { .method = PROTO_METHOD_RECOMPRESS, .more = true };
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
