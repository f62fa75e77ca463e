/* SPDX-License-Identifier: MIT */
/*
 * ctl-config.c - "swapdevctl config get [KEY]" and "config set KEY VALUE"
 * (io.swapdev.GetConfig and SetConfig).
 *
 * "get" without a key prints "key = value" lines in file order, which read
 * like swapdevd.conf(5) and grep well; with a key it prints the bare value
 * for scripts. "set" prints one note on success (the daemon has validated
 * the value and applied it, and says why when it did not): the change is
 * not saved to the file, which an administrator would otherwise learn at
 * the next stop or reload. (A restart that keeps swap active, or a crash,
 * keeps it: the daemon records it for the process that takes over.) It goes to stdout, as it is no error; stderr stays
 * for errors.
 */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "ctl.h"

static void config_usage(FILE *out)
{
	unsigned column = 0;

	fprintf(out,
		"Usage: %s config get [--json] [KEY]\n"
		"       %s config set KEY VALUE\n"
		"\n"
		"Show the active configuration of swapdevd, or one key of it, or change a\n"
		"runtime tunable:\n",
		PROG_NAME, PROG_NAME);
	/* The runtime keys as config.c flags them, so that the list never goes stale. */
	for (const char *const *key = config_keys; *key; key++) {
		if (!config_key_is_runtime(*key))
			continue;
		if (column == 0)
			column = (unsigned)fprintf(out, "  %s", *key);
		else if (column + strlen(*key) + 2 > 76)
			column = (unsigned)fprintf(out, ",\n  %s", *key) - 2;
		else
			column += (unsigned)fprintf(out, ", %s", *key);
	}
	fprintf(out,
		"\n"
		"Keys and values are those of swapdevd.conf(5). A change is not saved\n"
		"to the file: it lasts until swapdevd stops or reloads its configuration\n"
		"file (SIGHUP, systemctl reload); 'swapdevctl restart' and a crash keep\n"
		"it. To keep it for good, put it in the file too.\n"
		"\n"
		"  -j, --json  print the GetConfig reply as JSON\n"
		"  -h, --help  show this help\n");
}

static int show_config(const struct ctl_options *options, const char *key, bool json)
{
	struct proto_request call = { .method = PROTO_METHOD_GET_CONFIG, .get_config.key = key };
	struct json_object *config;
	struct varlink_reply reply;
	struct ctl_conn *conn;
	int r;

	r = ctl_connect(options->socket, &conn);
	if (r >= 0) {
		r = ctl_call(conn, &call, &reply);
		ctl_disconnect(conn);
	}
	if (r < 0)
		return CTL_EXIT_FAILURE;

	config = proto_read_config(reply.parameters);
	if (!config) {
		ctl_error("GetConfig: reply from swapdevd without a configuration");
		r = -EBADMSG;
	} else if (json) {
		ctl_print_json(config, true);
	} else if (key) {
		const char *value = proto_config_value(config, key);

		if (value) {
			puts(value);
		} else {
			ctl_error("GetConfig: reply from swapdevd without key %s", key);
			r = -EBADMSG;
		}
	} else {
		json_object_object_foreach(config, name, value)
			printf("%s = %s\n", name, json_object_get_string(value));
	}
	varlink_reply_done(&reply);
	return r < 0 ? CTL_EXIT_FAILURE : CTL_EXIT_OK;
}

static int change_config(const struct ctl_options *options, const char *key,
			 const char *value)
{
	struct proto_request call = {
		.method = PROTO_METHOD_SET_CONFIG,
		.set_config = { .key = key, .value = value },
	};
	struct varlink_reply reply;
	struct ctl_conn *conn;
	int r;

	r = ctl_connect(options->socket, &conn);
	if (r >= 0) {
		r = ctl_call(conn, &call, &reply);
		ctl_disconnect(conn);
	}
	if (r < 0)
		return CTL_EXIT_FAILURE;
	varlink_reply_done(&reply);
	printf("%s: %s changed, not saved to the file: it lasts until swapdevd stops or "
	       "reloads its configuration file ('swapdevctl restart' keeps it); to keep it, set "
	       "it in swapdevd.conf too\n",
	       PROG_NAME, key);
	return CTL_EXIT_OK;
}

int ctl_config(const struct ctl_options *options, int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	const char *action, *key = NULL;
	bool json = false;
	int c;

	/* "+": stop at the action, so that a VALUE such as "-1" is not an option. */
	while ((c = getopt_long(argc, argv, "+:jh", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'h':
			config_usage(stdout);
			return CTL_EXIT_OK;
		default:
			return ctl_option_error(argv[0], c, argv);
		}
	}
	if (optind >= argc)
		return ctl_usage_error("config", "missing 'get' or 'set'");
	action = argv[optind++];

	if (strcmp(action, "get") == 0) {
		for (int i = optind; i < argc; i++) {
			if (strcmp(argv[i], "--json") == 0 || strcmp(argv[i], "-j") == 0) {
				json = true;
			} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
				config_usage(stdout);
				return CTL_EXIT_OK;
			} else if (argv[i][0] == '-') {
				return ctl_usage_error("config", "unknown option '%s'", argv[i]);
			} else if (key) {
				return ctl_usage_error("config", "get takes at most one KEY");
			} else {
				key = argv[i];
			}
		}
		return show_config(options, key, json);
	}
	if (strcmp(action, "set") == 0) {
		/* Taken literally: "config set device.priority -1" sets -1. */
		if (optind < argc && strcmp(argv[optind], "--") == 0)
			optind++;
		if (json)
			return ctl_usage_error("config", "--json goes with 'get' only");
		if (argc - optind != 2)
			return ctl_usage_error("config", "set takes KEY VALUE");
		return change_config(options, argv[optind], argv[optind + 1]);
	}
	return ctl_usage_error("config", "unknown action '%s' (get or set)", action);
}
