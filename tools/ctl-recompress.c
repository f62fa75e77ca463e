/* SPDX-License-Identifier: MIT */
/*
 * ctl-recompress.c - "swapdevctl recompress": a pass of idle
 * recompression now (io.swapdev.Recompress).
 *
 * A job of the daemon, followed as ctl-job.c says, like a flush. Refusals
 * (no second codec, no disk tier, not root) come back as the first reply.
 */
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>

#include "common.h"
#include "ctl.h"

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

static void recompress_progress(struct json_object *parameters, uint64_t *ret_done,
				uint64_t *ret_total)
{
	struct proto_recompress_reply pass;

	proto_read_recompress(parameters, &pass);
	*ret_done = pass.done_entries;
	*ret_total = pass.total_entries;
}

static void recompress_started(struct json_object *parameters)
{
	struct proto_recompress_reply pass;

	proto_read_recompress(parameters, &pass);
	printf("Recompression started: %" PRIu64 " pool entries to examine.\n",
	       pass.total_entries);
}

static uint64_t recompress_done(struct json_object *parameters)
{
	struct proto_recompress_reply pass;

	proto_read_recompress(parameters, &pass);
	return pass.done_entries;
}

static void recompress_print_result(struct json_object *parameters)
{
	struct proto_recompress_reply pass;
	char cpu[CTL_UNIT_MAX];

	proto_read_recompress(parameters, &pass);
	printf("Examined %" PRIu64 " pool entries: recompressed %" PRIu64 ", kept %" PRIu64
	       " (saving too little), dropped %" PRIu64 " (rewritten meanwhile); %s of CPU.\n",
	       pass.done_entries, pass.recompressed, pass.not_worth, pass.dropped,
	       ctl_format_usec(pass.cpu_us, cpu));
}

static const struct ctl_job recompress_job = {
	.name = "recompress",
	.unit = "entries",
	.progress = recompress_progress,
	.started = recompress_started,
	.done = recompress_done,
	.print_result = recompress_print_result,
};

int ctl_recompress(const struct ctl_options *options, int argc, char *argv[])
{
	struct proto_request call = { .method = PROTO_METHOD_RECOMPRESS, .more = true };
	bool wait = false;
	int status;

	status = parse_options(argc, argv, &call, &wait);
	return status >= 0 ? status : ctl_run_job(options, &call, wait, &recompress_job);
}
