/* SPDX-License-Identifier: MIT */
/*
 * swapdevctl.c - entry point: global options and the command table.
 *
 * As in wireguard-tools' wg.c, main() reads the global options and hands
 * the rest to the command's function, which parses its own options and
 * answers --help. The global --socket is also taken after the command
 * (`swapdevctl stats -s PATH`), up to a "--". Without a command, like
 * zramctl, it lists the running daemons. Each command lives in its own
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
	{ "list", ctl_list, "one line per running daemon, like zramctl (the default)" },
	{ "stats", ctl_stats, "show statistics (a table, --json or --prometheus)" },
	{ "status", ctl_status, "show the daemon's state and its swap device" },
	{ "flush", ctl_flush, "write pool entries back to the disk tier" },
	{ "recompress", ctl_recompress, "recompress idle pool entries with the second codec now" },
	{ "config", ctl_config, "show or change the configuration at run time" },
	{ "restart", ctl_restart, "restart the daemon (a new binary) keeping swap active" },
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: %s [--socket PATH] [<command>] [options]\n"
		"\n"
		"Watch and steer swapdevd, the compressed swap tier.\n"
		"\n"
		"Commands:\n",
		PROG_NAME);
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(out, "  %-10s  %s\n", commands[i].name, commands[i].summary);
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

/*
 * Take --socket/-s PATH (or --socket=PATH) out of a command's arguments.
 * Returns 0, or CTL_EXIT_USAGE when the value is missing.
 */
static int take_socket_option(struct ctl_options *ctl, int *argc, char *argv[])
{
	int out = 1;

	for (int i = 1; i < *argc; i++) {
		const char *arg = argv[i];

		if (strcmp(arg, "--") == 0) {
			while (i < *argc)
				argv[out++] = argv[i++];
			break;
		}
		if (strncmp(arg, "--socket=", 9) == 0) {
			ctl->socket = arg + 9;
		} else if (strcmp(arg, "-s") == 0 || strcmp(arg, "--socket") == 0) {
			if (i + 1 >= *argc) {
				ctl_error("option '%s' needs a value", arg);
				return CTL_EXIT_USAGE;
			}
			ctl->socket = argv[++i];
		} else {
			argv[out++] = argv[i];
			continue;
		}
		ctl->socket_given = true;
	}
	argv[out] = NULL;
	*argc = out;
	return 0;
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
			ctl.socket_given = true;
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
	name = optind < argc ? argv[optind] : "list";
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		if (strcmp(commands[i].name, name) != 0)
			continue;
		if (optind < argc) {
			argc -= optind;
			argv += optind;
		} else {
			static char *list_argv[] = { "list", NULL };

			argc = 1;
			argv = list_argv;
		}
		status = take_socket_option(&ctl, &argc, argv);
		if (status != 0)
			return status;
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
