/* SPDX-License-Identifier: MIT */
/*
 * fault-client.c - a badly behaved control-socket client, for
 * test-control-abuse.sh. It speaks raw bytes, not through libswapdev, so
 * that it can send what a correct client never would.
 *
 *	fault-client call SOCKET JSON	send one call; print each reply
 *	fault-client send SOCKET	send stdin as it is (garbage, oversized,
 *					no NUL); print replies until the daemon
 *					closes or 5 s pass
 *	fault-client hold SOCKET N SECONDS
 *					open N connections at once and hold them
 *	fault-client slow SOCKET MS	send a call one byte every MS ms; report
 *					when the daemon hangs up
 *	fault-client flood SOCKET N	send N calls and never read a reply;
 *					report whether the daemon hangs up
 *
 * Output is one "key=value ..." line per event, for the shell to grep.
 * Replies are printed one per line (their NUL terminator dropped).
 * Exit status: 0 as described per command, 1 when the expected event did
 * not happen, 2 usage, 3 cannot connect.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define REPLY_MAX (1u << 20)

static volatile sig_atomic_t stop;

static void on_stop(int signo)
{
	stop = 1;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool parse_uint(const char *s, unsigned long max, unsigned long *ret)
{
	char *end;

	errno = 0;
	*ret = strtoul(s, &end, 10);
	return !errno && end != s && !*end && *ret <= max;
}

/* Returns a connected socket, -errno when connect fails. */
static int connect_to(const char *path, bool nonblock)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

static int connect_or_die(const char *path)
{
	int fd = connect_to(path, false);

	if (fd < 0) {
		printf("connect=failed errno=%s\n", strerror(-fd));
		exit(3);
	}
	return fd;
}

/* Write all of buf; false when the daemon closed the connection. */
static bool send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/*
 * Read replies until one without "continues" (stop_at_last), the
 * connection closes, or timeout_ms pass. Prints each reply. Returns the
 * number of replies; *ret_closed says whether the daemon hung up.
 */
static unsigned read_replies(int fd, int timeout_ms, bool stop_at_last, bool *ret_closed)
{
	static char buf[REPLY_MAX];
	double deadline = now() + timeout_ms / 1000.0;
	size_t len = 0;
	unsigned replies = 0;

	*ret_closed = false;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int left = (int)((deadline - now()) * 1000);
		char *nul;
		ssize_t n;

		if (left <= 0 || poll(&p, 1, left) <= 0)
			return replies;
		n = recv(fd, buf + len, sizeof(buf) - len, 0);
		if (n <= 0) {
			*ret_closed = true;
			return replies;
		}
		len += (size_t)n;
		while ((nul = memchr(buf, '\0', len))) {
			size_t msg = (size_t)(nul - buf);
			bool last = !strstr(buf, "\"continues\":true") &&
				    !strstr(buf, "\"continues\": true");

			printf("reply=%s\n", buf);
			replies++;
			memmove(buf, nul + 1, len - msg - 1);
			len -= msg + 1;
			if (stop_at_last && last)
				return replies;
		}
		if (len == sizeof(buf)) {
			printf("error=reply-too-long\n");
			return replies;
		}
	}
}

static int cmd_call(const char *path, const char *json)
{
	int fd = connect_or_die(path);
	unsigned replies;
	bool closed;

	if (!send_all(fd, json, strlen(json) + 1)) {
		printf("closed=send\n");
		return 1;
	}
	replies = read_replies(fd, 10000, true, &closed);
	close(fd);
	if (!replies)
		printf("replies=0 closed=%s\n", closed ? "yes" : "timeout");
	return replies ? 0 : 1;
}

static int cmd_send(const char *path)
{
	static char buf[1 << 16];
	int fd = connect_or_die(path);
	size_t total = 0;
	bool closed, send_closed = false;
	unsigned replies;
	ssize_t n;

	/* Read stdin to its end even after a hang-up: no SIGPIPE for the writer. */
	while ((n = read(STDIN_FILENO, buf, sizeof(buf))) > 0) {
		if (!send_closed)
			send_closed = !send_all(fd, buf, (size_t)n);
		if (!send_closed)
			total += (size_t)n;
	}
	replies = read_replies(fd, 5000, false, &closed);
	printf("sent=%zu replies=%u closed=%s\n", total, replies,
	       closed || send_closed ? "yes" : "no");
	close(fd);
	return 0;
}

/* Until SECONDS pass or SIGTERM comes; then it reports and closes all. */
static int cmd_hold(const char *path, unsigned long n, unsigned long seconds)
{
	static const char call[] = "{\"method\":\"org.varlink.service.GetInfo\"}";
	struct sigaction sa = { .sa_handler = on_stop };
	struct rlimit rl;
	unsigned long connected = 0, refused = 0, failed = 0, answered = 0;
	int *fds = calloc(n, sizeof(int));
	bool *got = calloc(n, sizeof(bool));
	double deadline;

	if (!fds || !got)
		return 1;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	/* One descriptor per connection: lift the soft limit to the hard one. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	for (unsigned long i = 0; i < n; i++) {
		int fd = connect_to(path, true);

		fds[i] = fd;
		if (fd >= 0)
			connected++;
		else if (fd == -EAGAIN || fd == -ECONNREFUSED)
			refused++;
		else
			failed++;
	}
	printf("connected=%lu refused=%lu failed=%lu\n", connected, refused, failed);
	fflush(stdout);
	/* Every connection asks once; those the daemon has accepted answer. */
	for (unsigned long i = 0; i < n; i++)
		if (fds[i] >= 0 && !send_all(fds[i], call, sizeof(call)))
			fds[i] = (close(fds[i]), -1);
	deadline = now() + (double)seconds;
	while (!stop && now() < deadline) {
		for (unsigned long i = 0; i < n; i++) {
			char buf[4096];

			if (fds[i] >= 0 && !got[i] && recv(fds[i], buf, sizeof(buf), MSG_DONTWAIT) > 0) {
				got[i] = true;
				answered++;
			}
		}
		usleep(100000);
	}
	printf("answered=%lu\n", answered);
	for (unsigned long i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(fds);
	free(got);
	return 0;
}

static int cmd_slow(const char *path, unsigned long interval_ms)
{
	/* Padded with spaces (valid JSON) so that it never completes in time. */
	char call[512];
	int fd = connect_or_die(path);
	double start = now();
	size_t len;

	snprintf(call, sizeof(call), "{\"method\":%*s\"io.swapdev.GetStats\"}", 400, "");
	len = strlen(call) + 1;
	for (size_t i = 0; i < len; i++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		char c;

		if (!send_all(fd, call + i, 1) ||
		    (poll(&p, 1, (int)interval_ms) > 0 && recv(fd, &c, 1, MSG_DONTWAIT) == 0)) {
			printf("closed_after=%.1f sent=%zu\n", now() - start, i);
			close(fd);
			return 0;
		}
	}
	printf("completed_after=%.1f\n", now() - start);
	close(fd);
	return 1;
}

static int cmd_flood(const char *path, unsigned long n)
{
	static const char call[] = "{\"method\":\"org.varlink.service.GetInterfaceDescription\","
				   "\"parameters\":{\"interface\":\"io.swapdev\"}}";
	int fd = connect_or_die(path);
	int small = 4096;
	unsigned long sent = 0;
	bool closed = false;
	char c;

	/* A small receive buffer: the daemon's replies pile up on its side. */
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	fcntl(fd, F_SETFL, O_NONBLOCK);
	for (double deadline = now() + 30; sent < n && now() < deadline;) {
		ssize_t r = send(fd, call, sizeof(call), MSG_NOSIGNAL);

		if (r == (ssize_t)sizeof(call)) {
			sent++;
		} else if (r < 0 && errno == EAGAIN) {
			usleep(1000);
		} else {
			closed = true;
			break;
		}
	}
	/* Wait for the hang-up without reading the replies: peek at the end. */
	for (double deadline = now() + 10; !closed && now() < deadline; usleep(100000)) {
		struct pollfd p = { .fd = fd, .events = 0 };

		closed = poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR));
	}
	if (!closed)
		closed = send(fd, &c, 0, MSG_NOSIGNAL) < 0;
	printf("sent=%lu closed=%s\n", sent, closed ? "yes" : "no");
	close(fd);
	return closed ? 0 : 1;
}

int main(int argc, char **argv)
{
	unsigned long a, b;

	signal(SIGPIPE, SIG_IGN);
	if (argc == 4 && strcmp(argv[1], "call") == 0)
		return cmd_call(argv[2], argv[3]);
	if (argc == 3 && strcmp(argv[1], "send") == 0)
		return cmd_send(argv[2]);
	if (argc == 5 && strcmp(argv[1], "hold") == 0 && parse_uint(argv[3], 100000, &a) &&
	    parse_uint(argv[4], 3600, &b))
		return cmd_hold(argv[2], a, b);
	if (argc == 4 && strcmp(argv[1], "slow") == 0 && parse_uint(argv[3], 60000, &a))
		return cmd_slow(argv[2], a);
	if (argc == 4 && strcmp(argv[1], "flood") == 0 && parse_uint(argv[3], 10000000, &a))
		return cmd_flood(argv[2], a);
	fprintf(stderr, "usage: fault-client call SOCKET JSON | send SOCKET | hold SOCKET N SECONDS\n"
			"       | slow SOCKET MS | flood SOCKET N\n");
	return 2;
}
