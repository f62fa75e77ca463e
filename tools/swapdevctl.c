/* SPDX-License-Identifier: MIT */
/*
 * swapdevctl.c - entry point: global options and the command table.
 *
 * As in wireguard-tools' wg.c, main() only reads the options that come
 * before the command and hands the rest to the command's function, which
 * parses its own options and answers --help. Each command lives in its own
 * ctl-<command>.c; the socket client is ctl-transport.c. Adding a command
 * is one file and one line in commands[].
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "ctl.h"

static const struct {
	const char *name;
	ctl_command_fn run;
	const char *summary;
} commands[] = {
	{ "stats", ctl_stats, "show statistics (a table, --json or --prometheus)" },
	{ "status", ctl_status, "show the daemon's state and its swap device" },
	{ "flush", ctl_flush, "write pool entries back to the disk tier" },
	{ "config", ctl_config, "show or change the configuration at run time" },
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: %s [--socket PATH] <command> [options]\n"
		"\n"
		"Watch and steer swapdevd, the compressed swap tier.\n"
		"\n"
		"Commands:\n",
		PROG_NAME);
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(out, "  %-8s  %s\n", commands[i].name, commands[i].summary);
	fprintf(out,
		"\n"
		"Options:\n"
		"  -s, --socket PATH  control socket of swapdevd (default %s)\n"
		"  -h, --help         show this help\n"
		"  -V, --version      show the version\n"
		"\n"
		"Run '%s <command> --help' for the options of a command.\n"
		"Exit status: 0 success, 1 failure, 2 usage error.\n",
		CTL_DEFAULT_SOCKET, PROG_NAME);
}

int main(int argc, char *argv[])
{
	static const struct option options[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{},
	};
	struct ctl_options ctl = { .socket = CTL_DEFAULT_SOCKET };
	const char *name;
	int c, status;

	/* Errors are ours to word (ctl_option_error); "+": stop at the command. */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:s:hV", options, NULL)) != -1) {
		switch (c) {
		case 's':
			ctl.socket = optarg;
			break;
		case 'h':
			usage(stdout);
			return CTL_EXIT_OK;
		case 'V':
			printf("%s %s\n", PROG_NAME, SWAPDEV_VERSION);
			return CTL_EXIT_OK;
		case ':':
			ctl_error("option '%s' needs a value", argv[optind - 1]);
			fprintf(stderr, "Try '%s --help'.\n", PROG_NAME);
			return CTL_EXIT_USAGE;
		default:
			ctl_error("unknown option '%s'", argv[optind - 1]);
			fprintf(stderr, "Try '%s --help'.\n", PROG_NAME);
			return CTL_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return CTL_EXIT_USAGE;
	}

	name = argv[optind];
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		if (strcmp(commands[i].name, name) != 0)
			continue;
		argc -= optind;
		argv += optind;
		/* Each command runs its own getopt from the start. */
		optind = 0;
		status = commands[i].run(&ctl, argc, argv);
		/* A full disk or a closed pipe must not pass for success. */
		if (fflush(stdout) != 0 || ferror(stdout)) {
			ctl_error("cannot write the output: %s", strerror(errno));
			return CTL_EXIT_FAILURE;
		}
		return status;
	}
	ctl_error("unknown command '%s'", name);
	fprintf(stderr, "Try '%s --help'.\n", PROG_NAME);
	return CTL_EXIT_USAGE;
}
