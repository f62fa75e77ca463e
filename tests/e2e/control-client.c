/* SPDX-License-Identifier: MIT */
/*
 * control-client.c - a raw client of swapdevd's control socket for
 * test-control.sh, which must not depend on python or jq.
 *
 *	control-client flatten <JSON
 *		Check that stdin is exactly one JSON value and print every
 *		scalar in it as "PATH<TAB>VALUE", PATH joined with dots
 *		("read_latency_us.p50", "config.pool.limit"), array members by
 *		index, strings unquoted. Exit 1 on invalid JSON.
 *	control-client probe SOCKET CASE
 *		Send one kind of bad (or unusual) input and print what the
 *		daemon did, one line per event: "reply KEY" (a success reply
 *		and its first parameter, which tells which call it answers:
 *		vendor for GetInfo, state for GetStatus, written_pages for
 *		Flush), "error NAME" (a Varlink error), "invalid-reply", then
 *		"closed" (the daemon hung up) or "open" (silent for QUIET_MS).
 *		CASE is random, invalid-json, array, not-varlink,
 *		unknown-method, pipelined, oversized, oversized-json,
 *		unterminated (sent, then we close: prints "sent"), stalled (a
 *		half message stays open while a second connection calls
 *		GetInfo: prints that outcome), oneway-flush (a oneway Flush,
 *		then GetInfo), behind-flush (Flush, then GetInfo) or
 *		behind-flush-full (Flush, then more GetInfo calls than the
 *		daemon buffers, sent in one go: prints "sent BYTES bytes"
 *		first), recompress-more (Recompress of every entry with
 *		"more", then GetInfo: progress replies print done_entries, the
 *		result recompressed).
 *	control-client concurrent SOCKET N SECONDS
 *		Connect N clients at once, then send io.swapdev.GetStats on each
 *		and wait for every reply, hanging up each client once it has its
 *		reply; exit 0 when all N got a success reply with statistics
 *		within SECONDS.
 *	control-client sequential SOCKET N
 *		N GetStats calls one after the other on one connection, as a
 *		Varlink client such as "swapdevctl stats --watch" makes them;
 *		exit 0 when every one got its reply.
 *	control-client serve SOCKET N
 *		Play a daemon that drops every client as idle right after its
 *		reply: listen on SOCKET (print "listening"), and N times accept
 *		a connection, answer its one call with {"slots_total": 1} and
 *		close it. Print "served N" and exit 0 when all N came within
 *		PROBE_TIMEOUT_MS of each other.
 *
 * It is single-threaded: the N clients are N non-blocking sockets in one
 * poll() loop, all connected before the first call goes out, so the daemon
 * really holds N connections at once. It parses JSON itself (a small
 * recursive-descent parser, strict RFC 8259 grammar, depth-limited) rather
 * than linking json-c, so that lib.sh can build it with a bare cc when
 * meson did not. Every wait is bounded.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "protocol.h"

#define QUIET_MS 2000
#define PROBE_TIMEOUT_MS 10000
#define JSON_MAX_DEPTH 64
#define PATH_MAX_LEN 1024

/* ------------------------------------------------------------------ JSON */

struct json_parser {
	const char *p, *end;
	FILE *out;
	char path[PATH_MAX_LEN];
	size_t path_len;
};

static void skip_space(struct json_parser *ps)
{
	while (ps->p < ps->end &&
	       (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
		ps->p++;
}

static bool literal(struct json_parser *ps, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
		return false;
	ps->p += n;
	return true;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * A string at ps->p (its opening quote) into out (NULL: only checked).
 * Escapes are decoded, except that \uXXXX outside ASCII and control
 * characters are printed as '?': the tests only compare ASCII.
 */
static bool parse_string(struct json_parser *ps, FILE *out)
{
	if (ps->p >= ps->end || *ps->p != '"')
		return false;
	ps->p++;
	while (ps->p < ps->end && *ps->p != '"') {
		unsigned char c = (unsigned char)*ps->p++;

		if (c < 0x20)
			return false;
		if (c != '\\') {
			if (out)
				fputc(c, out);
			continue;
		}
		if (ps->p >= ps->end)
			return false;
		c = (unsigned char)*ps->p++;
		switch (c) {
		case '"':
		case '\\':
		case '/':
			break;
		case 'b':
		case 'f':
		case 'n':
		case 'r':
		case 't':
			c = '?';
			break;
		case 'u': {
			unsigned v = 0;

			if (ps->end - ps->p < 4)
				return false;
			for (int i = 0; i < 4; i++) {
				int h = hex_value(*ps->p++);

				if (h < 0)
					return false;
				v = v << 4 | (unsigned)h;
			}
			c = v >= 0x20 && v < 0x7f ? (unsigned char)v : '?';
			break;
		}
		default:
			return false;
		}
		if (out)
			fputc(c, out);
	}
	if (ps->p >= ps->end)
		return false;
	ps->p++;
	return true;
}

static bool parse_digits(struct json_parser *ps)
{
	const char *start = ps->p;

	while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
		ps->p++;
	return ps->p > start;
}

static bool parse_number(struct json_parser *ps)
{
	if (ps->p < ps->end && *ps->p == '-')
		ps->p++;
	if (ps->p < ps->end && *ps->p == '0')
		ps->p++;
	else if (!parse_digits(ps))
		return false;
	if (ps->p < ps->end && *ps->p == '.') {
		ps->p++;
		if (!parse_digits(ps))
			return false;
	}
	if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
		ps->p++;
		if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
			ps->p++;
		if (!parse_digits(ps))
			return false;
	}
	return true;
}

static void print_leaf(struct json_parser *ps, const char *start, size_t len, bool string)
{
	if (!ps->out)
		return;
	fprintf(ps->out, "%.*s\t", (int)ps->path_len, ps->path);
	if (string) {
		struct json_parser sub = { .p = start, .end = start + len };

		parse_string(&sub, ps->out);
	} else {
		fwrite(start, 1, len, ps->out);
	}
	fputc('\n', ps->out);
}

static bool parse_value(struct json_parser *ps, int depth);

/* Append a path component; false when the path would not fit. */
static bool path_push(struct json_parser *ps, const char *name, size_t len)
{
	size_t need = len + (ps->path_len ? 1 : 0);

	if (ps->path_len + need >= sizeof(ps->path))
		return false;
	if (ps->path_len)
		ps->path[ps->path_len++] = '.';
	memcpy(ps->path + ps->path_len, name, len);
	ps->path_len += len;
	return true;
}

static bool parse_members(struct json_parser *ps, int depth, bool object)
{
	char close = object ? '}' : ']';
	size_t saved = ps->path_len;
	unsigned index = 0;

	ps->p++;
	skip_space(ps);
	if (ps->p < ps->end && *ps->p == close) {
		ps->p++;
		return true;
	}
	for (;;) {
		char name[PATH_MAX_LEN];
		size_t len;

		skip_space(ps);
		if (object) {
			char *decoded = NULL;
			size_t decoded_len = 0;
			FILE *f = open_memstream(&decoded, &decoded_len);
			bool ok;

			if (!f)
				return false;
			ok = parse_string(ps, f);
			fclose(f);
			len = MIN(decoded_len, sizeof(name) - 1);
			if (decoded)
				memcpy(name, decoded, len);
			free(decoded);
			if (!ok)
				return false;
			skip_space(ps);
			if (ps->p >= ps->end || *ps->p++ != ':')
				return false;
		} else {
			len = (size_t)snprintf(name, sizeof(name), "%u", index);
		}
		if (!path_push(ps, name, len))
			return false;
		if (!parse_value(ps, depth + 1))
			return false;
		ps->path_len = saved;
		index++;
		skip_space(ps);
		if (ps->p < ps->end && *ps->p == ',') {
			ps->p++;
			continue;
		}
		if (ps->p < ps->end && *ps->p == close) {
			ps->p++;
			return true;
		}
		return false;
	}
}

static bool parse_value(struct json_parser *ps, int depth)
{
	const char *start;

	if (depth > JSON_MAX_DEPTH)
		return false;
	skip_space(ps);
	if (ps->p >= ps->end)
		return false;
	start = ps->p;
	switch (*ps->p) {
	case '{':
		return parse_members(ps, depth, true);
	case '[':
		return parse_members(ps, depth, false);
	case '"':
		if (!parse_string(ps, NULL))
			return false;
		print_leaf(ps, start, (size_t)(ps->p - start), true);
		return true;
	case 't':
	case 'f':
	case 'n':
		if (!literal(ps, "true") && !literal(ps, "false") && !literal(ps, "null"))
			return false;
		break;
	default:
		if (!parse_number(ps))
			return false;
		break;
	}
	print_leaf(ps, start, (size_t)(ps->p - start), false);
	return true;
}

/* Flatten text[0, len) into out; false when it is not exactly one JSON value. */
static bool json_flatten(const char *text, size_t len, FILE *out)
{
	struct json_parser ps = { .p = text, .end = text + len, .out = out };

	if (!parse_value(&ps, 0))
		return false;
	skip_space(&ps);
	return ps.p == ps.end;
}

/* Value of PATH ("parameters.slots_total") in flattened text, copied to buf; false if absent. */
static bool flat_lookup(const char *flat, const char *path, char *buf, size_t size)
{
	size_t n = strlen(path);

	const char *line = flat, *eol;

	for (; (eol = strchr(line, '\n')); line = eol + 1) {
		if (strncmp(line, path, n) == 0 && line[n] == '\t') {
			size_t len = MIN((size_t)(eol - line - n - 1), size - 1);

			memcpy(buf, line + n + 1, len);
			buf[len] = '\0';
			return true;
		}
	}
	return false;
}

static int cmd_flatten(void)
{
	char *text = NULL;
	size_t size = 0, len = 0;

	for (;;) {
		size_t n;

		if (len == size) {
			char *grown = realloc(text, size ? size * 2 : 65536);

			if (!grown) {
				fprintf(stderr, "control-client: out of memory\n");
				return 1;
			}
			text = grown;
			size = size ? size * 2 : 65536;
		}
		n = fread(text + len, 1, size - len, stdin);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(stdin) || !json_flatten(text, len, stdout)) {
		fprintf(stderr, "control-client: stdin is not one valid JSON value\n");
		free(text);
		return 1;
	}
	free(text);
	return fflush(stdout) == 0 ? 0 : 1;
}

/* ------------------------------------------------------------------ socket */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int connect_socket(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval timeout = { .tv_sec = 10 };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Bounds a connect() to a full backlog and every blocking send(). */
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout)) < 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	return fd;
}

/* Send everything; a peer that hung up is not our error here (the reply tells). */
static int send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* " NAME" of the first member of parameters in flattened text, or "" when it has none. */
static const char *first_parameter(const char *flat, char *buf, size_t size)
{
	static const char prefix[] = "parameters.";
	const char *line = strstr(flat, prefix);

	if (!line || (line != flat && line[-1] != '\n'))
		return "";
	line += strlen(prefix);
	snprintf(buf, size, " %.*s", (int)strcspn(line, ".\t\n"), line);
	return buf;
}

/* One line describing a complete reply message (without its NUL). */
static void describe_reply(const char *msg, size_t len, FILE *out)
{
	char *flat = NULL, value[VARLINK_NAME_MAX];
	size_t flat_len = 0;
	FILE *f = open_memstream(&flat, &flat_len);
	bool ok;

	if (!f) {
		fprintf(out, "invalid-reply\n");
		return;
	}
	ok = json_flatten(msg, len, f);
	fclose(f);
	if (!ok || len == 0 || msg[0] != '{')
		fprintf(out, "invalid-reply\n");
	else if (flat_lookup(flat, "error", value, sizeof(value)))
		fprintf(out, "error %s\n", value);
	else
		fprintf(out, "reply%s\n", first_parameter(flat, value, sizeof(value)));
	free(flat);
}

/*
 * Read replies on fd and print one line each, then "closed" when the peer
 * hangs up or "open" after QUIET_MS without data; PROBE_TIMEOUT_MS bounds
 * the whole wait.
 */
static void watch_replies(int fd, FILE *out)
{
	static char buf[VARLINK_MAX_MESSAGE * 2];
	int64_t deadline = now_ms() + PROBE_TIMEOUT_MS;
	size_t len = 0;

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int64_t left = MIN(deadline - now_ms(), (int64_t)QUIET_MS);
		ssize_t n;
		char *nul;

		if (left <= 0 || poll(&pfd, 1, (int)left) == 0) {
			fprintf(out, "open\n");
			return;
		}
		n = recv(fd, buf + len, sizeof(buf) - len, MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			if (len)
				fprintf(out, "invalid-reply\n");
			fprintf(out, "closed\n");
			return;
		}
		len += (size_t)n;
		while ((nul = memchr(buf, '\0', len))) {
			size_t msg_len = (size_t)(nul - buf);

			describe_reply(buf, msg_len, out);
			memmove(buf, nul + 1, len - msg_len - 1);
			len -= msg_len + 1;
		}
		if (len == sizeof(buf)) {
			fprintf(out, "invalid-reply\n");
			return;
		}
	}
}

static const char call_info[] = "{\"method\":\"org.varlink.service.GetInfo\"}";
static const char call_status[] = "{\"method\":\"io.swapdev.GetStatus\"}";
static const char call_stats[] = "{\"method\":\"io.swapdev.GetStats\"}";
static const char call_flush[] = "{\"method\":\"io.swapdev.Flush\"}";
static const char call_flush_oneway[] = "{\"method\":\"io.swapdev.Flush\",\"oneway\":true}";
static const char call_recompress_more[] =
	"{\"method\":\"io.swapdev.Recompress\",\"parameters\":{\"idle_seconds\":0},\"more\":true}";

/* Fill buf with reproducible noise (xorshift64*), NUL bytes included. */
static void fill_random(unsigned char *buf, size_t len)
{
	uint64_t x = UINT64_C(0x9e3779b97f4a7c15);

	for (size_t i = 0; i < len; i++) {
		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		buf[i] = (unsigned char)((x * UINT64_C(0x2545f4914f6cdd1d)) >> 56);
	}
}

/* A valid call padded with pad bytes of a string; returns its size, NUL included. */
static size_t fill_padded_call(char *buf, size_t pad)
{
	static const char head[] = "{\"method\":\"io.swapdev.GetStats\",\"parameters\":{\"pad\":\"";
	static const char tail[] = "\"}}";
	size_t len = strlen(head);

	memcpy(buf, head, len);
	memset(buf + len, 'x', pad);
	len += pad;
	/* With its NUL: the message terminator. */
	memcpy(buf + len, tail, sizeof(tail));
	return len + sizeof(tail);
}

/* Malformed or refused calls, each sent with its NUL terminator. */
static const char *simple_probe(const char *name)
{
	static const struct {
		const char *name, *text;
	} probes[] = {
		{ "invalid-json", "{\"method\": \"io.swapdev.GetStats\"," },
		{ "array", "[{\"method\": \"io.swapdev.GetStats\"}]" },
		{ "not-varlink", "{\"hello\": \"world\"}" },
		{ "unknown-method", "{\"method\": \"io.swapdev.Reformat\"}" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(probes); i++)
		if (strcmp(probes[i].name, name) == 0)
			return probes[i].text;
	return NULL;
}

static int cmd_probe(const char *path, const char *name)
{
	static char buf[VARLINK_MAX_MESSAGE + 8192];
	const char *text;
	size_t len;
	int fd, r;

	if (strcmp(name, "random") == 0) {
		len = 4096;
		fill_random((unsigned char *)buf, len);
	} else if ((text = simple_probe(name))) {
		len = strlen(text) + 1;
		memcpy(buf, text, len);
	} else if (strcmp(name, "pipelined") == 0) {
		memcpy(buf, call_info, sizeof(call_info));
		memcpy(buf + sizeof(call_info), call_status, sizeof(call_status));
		len = sizeof(call_info) + sizeof(call_status);
	} else if (strcmp(name, "oneway-flush") == 0) {
		memcpy(buf, call_flush_oneway, sizeof(call_flush_oneway));
		memcpy(buf + sizeof(call_flush_oneway), call_info, sizeof(call_info));
		len = sizeof(call_flush_oneway) + sizeof(call_info);
	} else if (strcmp(name, "recompress-more") == 0) {
		memcpy(buf, call_recompress_more, sizeof(call_recompress_more));
		memcpy(buf + sizeof(call_recompress_more), call_info, sizeof(call_info));
		len = sizeof(call_recompress_more) + sizeof(call_info);
	} else if (strcmp(name, "behind-flush") == 0 || strcmp(name, "behind-flush-full") == 0) {
		size_t calls = strcmp(name, "behind-flush") == 0
				       ? 1
				       : (sizeof(buf) - sizeof(call_flush)) / sizeof(call_info);

		memcpy(buf, call_flush, sizeof(call_flush));
		len = sizeof(call_flush);
		for (size_t i = 0; i < calls; i++, len += sizeof(call_info))
			memcpy(buf + len, call_info, sizeof(call_info));
	} else if (strcmp(name, "oversized") == 0) {
		/* No terminator at all: the daemon must give up at its limit, not wait. */
		len = VARLINK_MAX_MESSAGE + 4096;
		memset(buf, 'A', len);
		buf[0] = '{';
	} else if (strcmp(name, "oversized-json") == 0) {
		len = fill_padded_call(buf, VARLINK_MAX_MESSAGE + 1024);
	} else if (strcmp(name, "unterminated") == 0 || strcmp(name, "stalled") == 0) {
		len = strlen(call_stats) - 1;
		memcpy(buf, call_stats, len);
	} else {
		fprintf(stderr, "control-client: unknown probe '%s'\n", name);
		return 2;
	}

	fd = connect_socket(path);
	if (fd < 0) {
		fprintf(stderr, "control-client: cannot connect to %s: %s\n", path, strerror(-fd));
		return 1;
	}
	r = send_all(fd, buf, len);
	if (r < 0 && r != -EPIPE && r != -ECONNRESET) {
		fprintf(stderr, "control-client: send: %s\n", strerror(-r));
		close(fd);
		return 1;
	}
	if (strcmp(name, "unterminated") == 0) {
		printf("sent\n");
	} else if (strcmp(name, "behind-flush-full") == 0) {
		printf("sent %zu bytes\n", len);
		watch_replies(fd, stdout);
	} else if (strcmp(name, "stalled") == 0) {
		int other = connect_socket(path);

		if (other < 0 || send_all(other, call_info, sizeof(call_info)) < 0) {
			fprintf(stderr, "control-client: second connection failed\n");
			if (other >= 0)
				close(other);
			close(fd);
			return 1;
		}
		watch_replies(other, stdout);
		close(other);
	} else {
		watch_replies(fd, stdout);
	}
	close(fd);
	return fflush(stdout) == 0 ? 0 : 1;
}

/* ------------------------------------------------------------------ concurrent */

struct peer {
	int fd;
	char *buf;
	size_t len;
	bool done, ok;
};

/* Judge a complete GetStats reply: a success with statistics in it. */
static bool stats_reply_ok(const char *msg, size_t len)
{
	char *flat = NULL, value[64];
	size_t flat_len = 0;
	FILE *f = open_memstream(&flat, &flat_len);
	bool ok;

	if (!f)
		return false;
	ok = json_flatten(msg, len, f);
	fclose(f);
	ok = ok && !flat_lookup(flat, "error", value, sizeof(value)) &&
	     flat_lookup(flat, "parameters.slots_total", value, sizeof(value)) &&
	     strtoull(value, NULL, 10) > 0;
	free(flat);
	return ok;
}

static bool parse_count(const char *text, unsigned long max, unsigned long *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(text, &end, 10);
	if (errno || end == text || *end || v == 0 || v > max)
		return false;
	*ret = v;
	return true;
}

static int cmd_concurrent(const char *path, const char *count_arg, const char *seconds_arg)
{
	unsigned long count, seconds, served = 0, failed = 0;
	struct peer *peers;
	struct pollfd *pfds;
	int64_t start = now_ms(), deadline;
	int status = 1;

	if (!parse_count(count_arg, 1000, &count) || !parse_count(seconds_arg, 3600, &seconds)) {
		fprintf(stderr, "control-client: concurrent takes N (1-1000) and SECONDS\n");
		return 2;
	}
	deadline = start + (int64_t)seconds * 1000;
	peers = calloc(count, sizeof(*peers));
	pfds = calloc(count, sizeof(*pfds));
	if (!peers || !pfds) {
		fprintf(stderr, "control-client: out of memory\n");
		goto out;
	}
	for (unsigned long i = 0; i < count; i++)
		peers[i].fd = -1;
	/* Every client connected before any call: the daemon holds them all at once. */
	for (unsigned long i = 0; i < count; i++) {
		peers[i].fd = connect_socket(path);
		peers[i].buf = malloc(VARLINK_MAX_MESSAGE);
		if (peers[i].fd < 0 || !peers[i].buf) {
			fprintf(stderr, "control-client: client %lu cannot connect: %s\n", i,
				peers[i].fd < 0 ? strerror(-peers[i].fd) : "out of memory");
			goto out;
		}
	}
	for (unsigned long i = 0; i < count; i++) {
		int r = send_all(peers[i].fd, call_stats, sizeof(call_stats));

		if (r < 0) {
			fprintf(stderr, "control-client: client %lu cannot send: %s\n", i,
				strerror(-r));
			goto out;
		}
	}
	while (served + failed < count) {
		int64_t left = deadline - now_ms();
		nfds_t n = 0;
		unsigned long map[1000];

		if (left <= 0)
			break;
		for (unsigned long i = 0; i < count; i++) {
			if (peers[i].done)
				continue;
			map[n] = i;
			pfds[n++] = (struct pollfd){ .fd = peers[i].fd, .events = POLLIN };
		}
		if (poll(pfds, n, (int)left) < 0 && errno != EINTR)
			break;
		for (nfds_t k = 0; k < n; k++) {
			struct peer *pe = &peers[map[k]];
			ssize_t got;
			char *nul;

			if (!pfds[k].revents)
				continue;
			got = recv(pe->fd, pe->buf + pe->len, VARLINK_MAX_MESSAGE - pe->len,
				   MSG_DONTWAIT);
			if (got < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (got <= 0) {
				fprintf(stderr, "control-client: client %lu: connection closed "
						"without a reply\n", map[k]);
				pe->done = true;
				close(pe->fd);
				pe->fd = -1;
				failed++;
				continue;
			}
			pe->len += (size_t)got;
			nul = memchr(pe->buf, '\0', pe->len);
			if (!nul && pe->len < VARLINK_MAX_MESSAGE)
				continue;
			pe->done = true;
			pe->ok = nul && stats_reply_ok(pe->buf, (size_t)(nul - pe->buf));
			/* Hang up at once: past its limit the daemon serves the rest as we go. */
			close(pe->fd);
			pe->fd = -1;
			if (pe->ok) {
				served++;
			} else {
				fprintf(stderr, "control-client: client %lu: bad reply: %.200s\n",
					map[k], pe->buf);
				failed++;
			}
		}
	}
	printf("%lu of %lu clients served in %lld ms\n", served, count,
	       (long long)(now_ms() - start));
	if (served + failed < count)
		fprintf(stderr, "control-client: %lu clients without a reply after %lu s\n",
			count - served - failed, seconds);
	status = served == count ? 0 : 1;
out:
	for (unsigned long i = 0; peers && i < count; i++) {
		if (peers[i].fd >= 0)
			close(peers[i].fd);
		free(peers[i].buf);
	}
	free(peers);
	free(pfds);
	return status;
}

/* Read one whole message (NUL included) into buf; its length without the NUL. */
static ssize_t read_message(int fd, char *buf, size_t size, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	size_t len = 0;

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int64_t left = deadline - now_ms();
		char *nul;
		ssize_t n;

		if (left <= 0 || poll(&pfd, 1, (int)left) == 0)
			return -ETIMEDOUT;
		n = recv(fd, buf + len, size - len, MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ECONNRESET;
		len += (size_t)n;
		nul = memchr(buf, '\0', len);
		if (nul)
			return nul - buf;
		if (len == size)
			return -EMSGSIZE;
	}
}

static int cmd_sequential(const char *path, const char *count_arg)
{
	static char buf[VARLINK_MAX_MESSAGE];
	unsigned long count;
	int64_t start = now_ms();
	int fd;

	if (!parse_count(count_arg, 1000000, &count)) {
		fprintf(stderr, "control-client: sequential takes N (1-1000000)\n");
		return 2;
	}
	fd = connect_socket(path);
	if (fd < 0) {
		fprintf(stderr, "control-client: cannot connect to %s: %s\n", path, strerror(-fd));
		return 1;
	}
	for (unsigned long i = 0; i < count; i++) {
		ssize_t len;
		int r = send_all(fd, call_stats, sizeof(call_stats));

		len = r < 0 ? r : read_message(fd, buf, sizeof(buf), PROBE_TIMEOUT_MS);
		if (len < 0 || !stats_reply_ok(buf, (size_t)len)) {
			fprintf(stderr, "control-client: call %lu of %lu on one connection: %s\n",
				i + 1, count, len < 0 ? strerror((int)-len) : "bad reply");
			close(fd);
			return 1;
		}
	}
	close(fd);
	printf("%lu calls answered on one connection in %lld ms\n", count,
	       (long long)(now_ms() - start));
	return 0;
}

/* ------------------------------------------------------------------ serve */

static int cmd_serve(const char *path, const char *count_arg)
{
	static const char reply[] = "{\"parameters\":{\"slots_total\":1}}";
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	static char buf[VARLINK_MAX_MESSAGE];
	unsigned long count, served;
	int listen_fd;

	if (!parse_count(count_arg, 1000, &count) || strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "control-client: serve takes SOCKET N (1-1000)\n");
		return 2;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(listen_fd, 8) < 0) {
		fprintf(stderr, "control-client: cannot listen on %s: %s\n", path, strerror(errno));
		return 1;
	}
	printf("listening\n");
	fflush(stdout);
	for (served = 0; served < count; served++) {
		struct pollfd pfd = { .fd = listen_fd, .events = POLLIN };
		ssize_t len;
		int fd;

		if (poll(&pfd, 1, PROBE_TIMEOUT_MS) <= 0)
			break;
		fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			break;
		len = read_message(fd, buf, sizeof(buf), PROBE_TIMEOUT_MS);
		if (len >= 0)
			send_all(fd, reply, sizeof(reply));
		close(fd);
		if (len < 0)
			break;
	}
	close(listen_fd);
	unlink(path);
	printf("served %lu\n", served);
	return served == count ? 0 : 1;
}

int main(int argc, char *argv[])
{
	if (argc == 2 && strcmp(argv[1], "flatten") == 0)
		return cmd_flatten();
	if (argc == 4 && strcmp(argv[1], "probe") == 0)
		return cmd_probe(argv[2], argv[3]);
	if (argc == 5 && strcmp(argv[1], "concurrent") == 0)
		return cmd_concurrent(argv[2], argv[3], argv[4]);
	if (argc == 4 && strcmp(argv[1], "sequential") == 0)
		return cmd_sequential(argv[2], argv[3]);
	if (argc == 4 && strcmp(argv[1], "serve") == 0)
		return cmd_serve(argv[2], argv[3]);
	fprintf(stderr,
		"Usage: control-client flatten <JSON\n"
		"       control-client probe SOCKET CASE\n"
		"       control-client concurrent SOCKET N SECONDS\n"
		"       control-client sequential SOCKET N\n"
		"       control-client serve SOCKET N\n");
	return 2;
}
