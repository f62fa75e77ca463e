/* SPDX-License-Identifier: MIT */
/*
 * ctl-transport.c - swapdevctl's blocking client for the control socket.
 *
 * One connection carries one call at a time: a call is sent whole, then
 * replies are read until one comes without "continues". Received bytes
 * collect in a buffer of VARLINK_MAX_MESSAGE bytes, the largest message, and
 * varlink_frame() finds each message in it. json-c copies what it parses, so
 * a message is dropped from the buffer (at the next read) once parsed;
 * bytes after it, the start of the next reply, are kept. The daemon closes
 * a connection idle for 30 s; a call on one it has closed connects again.
 *
 * Every wait is bounded: connect and send by SO_SNDTIMEO, each reply by
 * poll() against a deadline of CTL_REPLY_TIMEOUT_SEC, so a wedged daemon
 * costs a user 30 seconds and a message, never a hung terminal.
 *
 * Errors are printed here, once, with a hint (is the daemon running, are
 * you allowed to talk to it), since every command would say the same.
 */
#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "common.h"
#include "ctl.h"

struct ctl_conn {
	int fd;
	char *path;
	char *buf;	       /* VARLINK_MAX_MESSAGE bytes */
	size_t len;	       /* bytes received and not yet consumed */
	size_t consumed;       /* bytes of the last message handed out */
	enum proto_method method; /* of the call in progress, for messages */
};

static const char *connect_hint(int error)
{
	switch (error) {
	case ENOENT:
	case ECONNREFUSED:
		return " (is swapdevd running?)";
	case EACCES:
	case EPERM:
		return " (run as root or as a member of the group in control.group, swapdev by default)";
	case EAGAIN:
		return " (swapdevd is not accepting connections; try again)";
	default:
		return "";
	}
}

/* A new socket connected to conn->path in conn->fd. */
static int open_socket(struct ctl_conn *conn)
{
	struct sockaddr_un address = { .sun_family = AF_UNIX };
	struct timeval timeout = { .tv_sec = CTL_REPLY_TIMEOUT_SEC };
	int r;

	if (strlen(conn->path) >= sizeof(address.sun_path)) {
		ctl_error("cannot connect to %s: socket path longer than %zu bytes", conn->path,
			  sizeof(address.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	memcpy(address.sun_path, conn->path, strlen(conn->path) + 1);

	conn->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (conn->fd < 0) {
		r = -errno;
		ctl_error("cannot create a socket: %s", strerror(-r));
		return r;
	}
	/* Bounds connect() to a full backlog as well as every send(). */
	if (setsockopt(conn->fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout)) < 0) {
		r = -errno;
		ctl_error("cannot set a socket timeout: %s", strerror(-r));
		return r;
	}
	if (connect(conn->fd, (struct sockaddr *)&address, sizeof(address)) < 0) {
		r = -errno;
		ctl_error("cannot connect to %s: %s%s", conn->path, strerror(-r),
			  connect_hint(-r));
		return r;
	}
	return 0;
}

int ctl_connect(const char *path, struct ctl_conn **ret_conn)
{
	struct ctl_conn *conn;
	int r;

	conn = calloc(1, sizeof(*conn));
	if (!conn)
		goto out_nomem;
	conn->fd = -1;
	conn->path = strdup(path);
	conn->buf = malloc(VARLINK_MAX_MESSAGE);
	if (!conn->path || !conn->buf)
		goto out_nomem;
	r = open_socket(conn);
	if (r < 0)
		goto out_free;
	*ret_conn = conn;
	return 0;

out_nomem:
	r = -ENOMEM;
	ctl_error("out of memory");
out_free:
	ctl_disconnect(conn);
	return r;
}

pid_t ctl_peer_pid(const struct ctl_conn *conn)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(conn->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return -errno;
	return cred.pid;
}

void ctl_disconnect(struct ctl_conn *conn)
{
	if (!conn)
		return;
	if (conn->fd >= 0)
		close(conn->fd);
	free(conn->buf);
	free(conn->path);
	free(conn);
}

static int send_all(struct ctl_conn *conn, const char *msg, size_t size)
{
	while (size > 0) {
		ssize_t n = send(conn->fd, msg, size, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		msg += n;
		size -= (size_t)n;
	}
	return 0;
}

static int64_t now_msec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Read until buf holds a complete message; its length in *ret_msg_len. */
static int receive_message(struct ctl_conn *conn, size_t *ret_msg_len)
{
	int64_t deadline = now_msec() + CTL_REPLY_TIMEOUT_SEC * 1000;
	int r;

	memmove(conn->buf, conn->buf + conn->consumed, conn->len - conn->consumed);
	conn->len -= conn->consumed;
	conn->consumed = 0;

	for (;;) {
		struct pollfd pfd = { .fd = conn->fd, .events = POLLIN };
		int64_t left;
		ssize_t n;

		r = varlink_frame(conn->buf, conn->len, ret_msg_len);
		if (r != 0)
			return r;
		left = deadline - now_msec();
		if (left <= 0)
			return -ETIMEDOUT;
		r = poll(&pfd, 1, (int)left);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r <= 0)
			continue;
		n = recv(conn->fd, conn->buf + conn->len, VARLINK_MAX_MESSAGE - conn->len,
			 MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		if (n == 0)
			return -ECONNRESET;
		conn->len += (size_t)n;
	}
}

static void print_transport_error(const struct ctl_conn *conn, const char *what, int error)
{
	switch (error) {
	case -ETIMEDOUT:
	case -EAGAIN:
		ctl_error("%s: no reply from swapdevd within %d s (is it stuck? see 'journalctl "
			  "-u swapdevd')",
			  proto_method_name(conn->method), CTL_REPLY_TIMEOUT_SEC);
		break;
	case -ECONNRESET:
	case -EPIPE:
		ctl_error("%s: swapdevd closed the connection (too many clients, or it is "
			  "stopping; see 'journalctl -u swapdevd')",
			  proto_method_name(conn->method));
		break;
	case -EMSGSIZE:
		ctl_error("%s: reply from swapdevd larger than %d bytes",
			  proto_method_name(conn->method), VARLINK_MAX_MESSAGE);
		break;
	case -EBADMSG:
		ctl_error("%s: invalid reply from swapdevd (is %s a swapdevd control socket?)",
			  proto_method_name(conn->method), conn->path);
		break;
	default:
		ctl_error("%s: cannot %s swapdevd: %s", proto_method_name(conn->method), what,
			  strerror(-error));
		break;
	}
}

/* One line for a Varlink error reply, with what to do about it. */
static void print_reply_error(const struct ctl_conn *conn, const struct varlink_reply *reply)
{
	const char *method = proto_method_name(conn->method);
	const char *error = reply->error;
	struct proto_error_reply p;
	const char *message;

	proto_read_error(reply->parameters, &p);
	message = p.message;

	if (strcmp(error, PROTO_ERROR_PERMISSION_DENIED) == 0) {
		ctl_error("%s: permission denied (%s)", method,
			  proto_method_changes_state(conn->method)
				  ? "run as root"
				  : "run as root or as a member of the group in control.group, swapdev by default");
	} else if (strcmp(error, PROTO_ERROR_INVALID_PARAMETER) == 0) {
		if (message)
			ctl_error("%s", message);
		else
			ctl_error("%s: invalid value for '%s'", method,
				  p.parameter ?: "?");
	} else if (strcmp(error, PROTO_ERROR_NOT_RUNTIME_TUNABLE) == 0) {
		ctl_error("%s cannot change while swapdevd runs (set it in %s and restart "
			  "swapdevd)",
			  p.key ?: "this key", SWAPDEV_DEFAULT_CONFIG_PATH);
	} else if (strcmp(error, PROTO_ERROR_NO_DISK_TIER) == 0) {
		ctl_error("swapdevd has no disk tier (set writeback.backing_file in %s)",
			  SWAPDEV_DEFAULT_CONFIG_PATH);
	} else if (strcmp(error, PROTO_ERROR_NO_SECOND_CODEC) == 0) {
		ctl_error("no second codec is configured for recompression (pool.recompress is "
			  "none); set one with '%s config set pool.recompress zstd'",
			  PROG_NAME);
	} else if (strcmp(error, PROTO_ERROR_CANNOT_RESTART) == 0) {
		ctl_error("swapdevd cannot restart without losing its swap area: %s. Nothing "
			  "changed; 'systemctl restart swapdevd' would run swapoff first",
			  message ?: "no reason given");
	} else if (strcmp(error, PROTO_ERROR_FAILED) == 0) {
		ctl_error("%s failed: %s", method, message ?: "no reason given");
	} else if (strcmp(error, VARLINK_ERROR_METHOD_NOT_FOUND) == 0 ||
		   strcmp(error, VARLINK_ERROR_INTERFACE_NOT_FOUND) == 0) {
		ctl_error("swapdevd does not know %s (is it older than swapdevctl?)", method);
	} else if (strcmp(error, VARLINK_ERROR_INVALID_PARAMETER) == 0) {
		ctl_error("swapdevd refused parameter '%s' of %s (is it another version than "
			  "swapdevctl?)",
			  p.parameter ?: "?", method);
	} else {
		ctl_error("%s: swapdevd replied %s%s%s", method, error, message ? ": " : "",
			  message ?: "");
	}
}

int ctl_next_reply(struct ctl_conn *conn, struct varlink_reply *ret_reply)
{
	struct varlink_reply reply;
	size_t len;
	int r;

	r = receive_message(conn, &len);
	if (r < 0) {
		print_transport_error(conn, "read from", r);
		return r;
	}
	conn->consumed = len + 1;
	r = varlink_parse_reply(conn->buf, len, &reply);
	if (r < 0) {
		print_transport_error(conn, "read from", r);
		return r;
	}
	if (reply.error) {
		print_reply_error(conn, &reply);
		varlink_reply_done(&reply);
		return -EREMOTEIO;
	}
	*ret_reply = reply;
	return 0;
}

/* True when the daemon has hung up: between calls, only an end of file can be pending. */
static bool peer_closed(const struct ctl_conn *conn)
{
	struct pollfd pfd = { .fd = conn->fd, .events = POLLIN };
	char byte;

	if (poll(&pfd, 1, 0) <= 0)
		return false;
	return (pfd.revents & (POLLHUP | POLLERR)) ||
	       recv(conn->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

int ctl_call(struct ctl_conn *conn, const struct proto_request *call,
	     struct varlink_reply *ret_reply)
{
	_cleanup_free_ char *msg = NULL;
	size_t size;
	int r;

	/* The daemon drops a connection idle for 30 s (stats --watch 60): take a new one. */
	if (peer_closed(conn)) {
		close(conn->fd);
		conn->fd = -1;
		conn->len = conn->consumed = 0;
		r = open_socket(conn);
		if (r < 0)
			return r;
	}
	conn->method = call->method;
	r = proto_build_call(call, &msg, &size);
	if (r < 0) {
		ctl_error("%s: cannot build the request: %s", proto_method_name(call->method),
			  r == -EMSGSIZE ? "parameters too long" : strerror(-r));
		return r;
	}
	r = send_all(conn, msg, size);
	if (r < 0) {
		print_transport_error(conn, "send to", r);
		return r;
	}
	return ctl_next_reply(conn, ret_reply);
}
