/* SPDX-License-Identifier: MIT */
/*
 * ctl-restart.c - "swapdevctl restart": hand the swap area over to a new
 * swapdevd process (io.swapdev.Restart), the way to upgrade the binary
 * without swapoff, then wait until the new process answers.
 *
 * The daemon replies, finishes the FUSE requests it holds and exits with
 * status 75; the service manager (or the --foreground supervisor) starts
 * the binary now installed, which adopts the area. The new process is told
 * from the old one by the PID that listens on the control socket
 * (SO_PEERCRED): the old one's socket may still accept a connection
 * between its reply and its exit, but never answers it.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "ctl.h"

#define DEFAULT_TIMEOUT_SEC 60
#define PROBE_INTERVAL_MS 20

static void restart_usage(FILE *out)
{
	fprintf(out,
		"Usage: %s restart [--no-wait] [--timeout SECONDS]\n"
		"\n"
		"Restart swapdevd keeping swap active: the running daemon hands its FUSE\n"
		"connection and its memory to the service manager and exits; the binary\n"
		"installed now starts and takes them over. No swapoff, nothing lost. This\n"
		"is what a package upgrade should run instead of 'systemctl restart\n"
		"swapdevd', which stops the daemon first (swapoff). Refused, changing\n"
		"nothing, when swap would not survive it (FUSE over io_uring, or no\n"
		"service manager or supervisor to keep the descriptors).\n"
		"\n"
		"  -n, --no-wait          return once the daemon accepted the restart\n"
		"  -t, --timeout SECONDS  how long to wait for the new daemon (default %d)\n"
		"  -h, --help             show this help\n",
		PROG_NAME, DEFAULT_TIMEOUT_SEC);
}

/* The PID listening on path, without a word when there is none (yet). */
static pid_t probe_listener(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct ucred cred;
	socklen_t len = sizeof(cred);
	pid_t pid = -1;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -1;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
		pid = cred.pid;
	close(fd);
	return pid;
}

/* Wait for a daemon other than old_pid to answer GetStatus; print it. */
static int wait_for_successor(const char *path, pid_t old_pid, uint64_t timeout_ms)
{
	uint64_t start = monotonic_ms();
	struct varlink_reply reply;
	struct proto_status status;
	struct ctl_conn *conn;
	pid_t pid;
	int r;

	for (;;) {
		pid = probe_listener(path);
		if (pid > 0 && pid != old_pid)
			break;
		if (monotonic_ms() - start >= timeout_ms) {
			ctl_error("no new swapdevd answered on %s within %" PRIu64 " s; see "
				  "'journalctl -u swapdevd' (swap stays active: the area waits "
				  "in the descriptor store)",
				  path, timeout_ms / 1000);
			return CTL_EXIT_FAILURE;
		}
		nanosleep(&(struct timespec){ .tv_nsec = PROBE_INTERVAL_MS * 1000000L }, NULL);
	}
	if (ctl_connect(path, &conn) < 0)
		return CTL_EXIT_FAILURE;
	r = ctl_call(conn, &(struct proto_request){ .method = PROTO_METHOD_GET_STATUS }, &reply);
	ctl_disconnect(conn);
	if (r < 0)
		return CTL_EXIT_FAILURE;
	proto_read_status(reply.parameters, &status);
	printf("%s: swapdevd restarted (PID %d, then %d, version %s) in %.2f s; swap %s%s%s\n",
	       PROG_NAME, (int)old_pid, (int)pid, status.version ?: "unknown",
	       (double)(monotonic_ms() - start) / 1000.0,
	       status.swap_active ? "still active on " : "not active",
	       status.swap_active && status.loop_device ? status.loop_device : "",
	       status.swap_active ? "" : " (exported only)");
	varlink_reply_done(&reply);
	return CTL_EXIT_OK;
}

int ctl_restart(const struct ctl_options *options, int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "no-wait", no_argument, NULL, 'n' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	uint64_t timeout = DEFAULT_TIMEOUT_SEC;
	struct varlink_reply reply;
	struct ctl_conn *conn;
	bool wait = true;
	pid_t old_pid;
	int c, r;

	while ((c = getopt_long(argc, argv, ":nt:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			wait = false;
			break;
		case 't':
			if (ctl_parse_uint(optarg, 1, 86400, &timeout) < 0)
				return ctl_usage_error(argv[0], "--timeout takes seconds, 1 to 86400");
			break;
		case 'h':
			restart_usage(stdout);
			return CTL_EXIT_OK;
		default:
			return ctl_option_error(argv[0], c, argv);
		}
	}
	if (optind < argc)
		return ctl_usage_error(argv[0], "unexpected argument '%s'", argv[optind]);

	if (ctl_connect(options->socket, &conn) < 0)
		return CTL_EXIT_FAILURE;
	old_pid = ctl_peer_pid(conn);
	r = ctl_call(conn, &(struct proto_request){ .method = PROTO_METHOD_RESTART }, &reply);
	ctl_disconnect(conn);
	if (r < 0)
		return CTL_EXIT_FAILURE;
	varlink_reply_done(&reply);
	if (!wait) {
		printf("%s: swapdevd (PID %d) is handing its swap area over to a new process\n",
		       PROG_NAME, (int)old_pid);
		return CTL_EXIT_OK;
	}
	return wait_for_successor(options->socket, old_pid, timeout * 1000);
}
