/* SPDX-License-Identifier: MIT */
/*
 * activate-tool.c - drive daemon/activate.c from shell tests.
 *
 * One subcommand per activate.c entry point, so that test-activate.sh can
 * check each step with independent tools (blkid, sysfs, /proc/swaps) in
 * between. "attach" keeps the loop device's fd open, like the daemon does:
 * it prints the loop path, then holds the device until stdin reaches EOF or
 * SIGINT/SIGTERM/SIGHUP arrives, and then detaches. Signals are blocked and
 * only let in by ppoll(), so one arriving before the wait is not lost.
 *
 * Exit codes: 0 ok, 1 failure, 2 usage. is-active: 0 active, 1 not active,
 * 2 cannot tell.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "activate.h"
#include "common.h"

static int usage(void)
{
	fprintf(stderr, "usage: activate-tool mkswap FILE\n"
			"       activate-tool attach FILE\n"
			"       activate-tool swapon [--priority N] [--discard] DEVICE\n"
			"       activate-tool swapoff DEVICE\n"
			"       activate-tool is-active PATH\n");
	return 2;
}

static int cmd_mkswap(int argc, char **argv)
{
	uint8_t uuid[ACTIVATE_UUID_SIZE];
	char uuid_string[ACTIVATE_UUID_STRING_MAX];
	_cleanup_close_ int fd = -1;
	struct stat st;
	int r;

	if (argc != 2)
		return usage();
	fd = open(argv[1], O_RDWR | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "activate-tool: cannot open %s: %m\n", argv[1]);
		return 1;
	}
	r = activate_write_swap_header(fd, (uint64_t)st.st_size, uuid);
	if (r >= 0 && fsync(fd) < 0)
		r = -errno;
	if (r < 0) {
		fprintf(stderr, "activate-tool: cannot write swap header to %s: %s\n", argv[1],
			strerror(-r));
		return 1;
	}
	activate_uuid_to_string(uuid, uuid_string);
	printf("%s\n", uuid_string);
	return 0;
}

static int wait_for_eof_or_signal(void)
{
	sigset_t blocked, during_wait;
	struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
	char buf[256];

	sigemptyset(&blocked);
	sigaddset(&blocked, SIGINT);
	sigaddset(&blocked, SIGTERM);
	sigaddset(&blocked, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &blocked, &during_wait) < 0)
		return -errno;
	sigdelset(&during_wait, SIGINT);
	sigdelset(&during_wait, SIGTERM);
	sigdelset(&during_wait, SIGHUP);

	for (;;) {
		ssize_t n;

		if (ppoll(&pfd, 1, NULL, &during_wait) < 0)
			return errno == EINTR ? 0 : -errno;
		n = read(STDIN_FILENO, buf, sizeof(buf));
		if (n == 0)
			return 0;
		if (n < 0 && errno != EINTR && errno != EAGAIN)
			return -errno;
	}
}

static void ignore_signal(int sig)
{
}

static int cmd_attach(int argc, char **argv)
{
	struct activate_loop loop = ACTIVATE_LOOP_INIT;
	struct sigaction sa = {.sa_handler = ignore_signal};
	int r;

	if (argc != 2)
		return usage();
	/* A handler, not SIG_DFL, so that the signal interrupts ppoll() instead of killing us. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	r = activate_loop_attach(argv[1], &loop);
	if (r < 0) {
		fprintf(stderr, "activate-tool: cannot attach a loop device to %s: %s\n", argv[1],
			strerror(-r));
		return 1;
	}
	if (!loop.direct_io)
		fprintf(stderr, "activate-tool: %s serves %s without direct I/O\n", loop.path,
			argv[1]);
	printf("%s\n", loop.path);
	fflush(stdout);

	r = wait_for_eof_or_signal();
	if (r < 0)
		fprintf(stderr, "activate-tool: waiting: %s\n", strerror(-r));
	r = activate_loop_detach(&loop);
	if (r < 0) {
		fprintf(stderr, "activate-tool: cannot detach: %s\n", strerror(-r));
		return 1;
	}
	return 0;
}

static int cmd_swapon(int argc, char **argv)
{
	static const struct option options[] = {
	    {"priority", required_argument, NULL, 'p'}, {"discard", no_argument, NULL, 'd'}, {}};
	bool discard = false;
	int priority = -1;
	int c, r;

	while ((c = getopt_long(argc, argv, "+p:d", options, NULL)) >= 0) {
		char *end;
		long v;

		switch (c) {
		case 'p':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || v < 0 || v > ACTIVATE_PRIORITY_MAX) {
				fprintf(stderr, "activate-tool: priority must be 0..%d\n",
					ACTIVATE_PRIORITY_MAX);
				return 2;
			}
			priority = (int)v;
			break;
		case 'd':
			discard = true;
			break;
		default:
			return usage();
		}
	}
	if (optind != argc - 1)
		return usage();

	r = activate_swapon(argv[optind], priority, discard);
	if (r < 0) {
		fprintf(stderr, "activate-tool: swapon %s: %s\n", argv[optind], strerror(-r));
		return 1;
	}
	return 0;
}

static int cmd_swapoff(int argc, char **argv)
{
	int r;

	if (argc != 2)
		return usage();
	r = activate_swapoff(argv[1]);
	if (r < 0) {
		fprintf(stderr, "activate-tool: swapoff %s: %s\n", argv[1], strerror(-r));
		return 1;
	}
	return 0;
}

static int cmd_is_active(int argc, char **argv)
{
	int r;

	if (argc != 2)
		return usage();
	r = activate_swap_is_active(argv[1]);
	if (r < 0) {
		fprintf(stderr, "activate-tool: cannot read /proc/swaps: %s\n", strerror(-r));
		return 2;
	}
	return r ? 0 : 1;
}

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
} commands[] = {
    {"mkswap", cmd_mkswap},   {"attach", cmd_attach},	    {"swapon", cmd_swapon},
    {"swapoff", cmd_swapoff}, {"is-active", cmd_is_active},
};

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	return usage();
}
