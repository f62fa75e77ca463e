/* SPDX-License-Identifier: MIT */
/*
 * ctl-status.c - "swapdevctl status": the daemon's state in a few lines
 * (io.swapdev.GetStatus), or the reply itself with --json.
 */
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>

#include "ctl.h"

static void status_usage(FILE *out)
{
	fprintf(out,
		"Usage: %s status [--json]\n"
		"\n"
		"Show the state of swapdevd: its swap file, loop device, whether the kernel\n"
		"swaps on it, uptime and version.\n"
		"\n"
		"  -j, --json  print the GetStatus reply as JSON\n"
		"  -h, --help  show this help\n",
		PROG_NAME);
}

static void print_status(struct json_object *parameters)
{
	char uptime[CTL_UNIT_MAX];
	struct proto_status status;

	proto_read_status(parameters, &status);
	printf("State:        %s\n", status.state ?: "unknown");
	printf("Swap file:    %s\n", status.device ?: "-");
	printf("Loop device:  %s\n", status.loop_device ?: "none");
	printf("Swap:         %s\n", status.swap_active ? "active" : "inactive");
	printf("Uptime:       %s\n", ctl_format_duration(status.uptime_seconds, uptime));
	printf("Version:      %s\n", status.version ?: "unknown");
}

int ctl_status(const struct ctl_options *options, int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	struct varlink_reply reply;
	struct ctl_conn *conn;
	bool json = false;
	int c, r;

	while ((c = getopt_long(argc, argv, ":jh", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'h':
			status_usage(stdout);
			return CTL_EXIT_OK;
		default:
			return ctl_option_error(argv[0], c, argv);
		}
	}
	if (optind < argc)
		return ctl_usage_error(argv[0], "unexpected argument '%s'", argv[optind]);

	if (ctl_connect(options->socket, &conn) < 0)
		return CTL_EXIT_FAILURE;
	r = ctl_call(conn, &(struct proto_request){ .method = PROTO_METHOD_GET_STATUS }, &reply);
	ctl_disconnect(conn);
	if (r < 0)
		return CTL_EXIT_FAILURE;
	if (json)
		ctl_print_json(reply.parameters, true);
	else
		print_status(reply.parameters);
	varlink_reply_done(&reply);
	return CTL_EXIT_OK;
}
