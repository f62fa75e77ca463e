/* SPDX-License-Identifier: MIT */
/*
 * fuzz-varlink.c - libFuzzer target for the generic Varlink layer alone.
 *
 * The input is a byte stream as a peer would send it. It is cut into
 * messages with varlink_frame() as the control server's receive loop does,
 * and every message (and an unterminated tail) goes through both envelope
 * parsers: varlink_parse_call() as a server sees calls and
 * varlink_parse_reply() as a client sees replies. No interface is involved,
 * so the fuzzer spends its time on framing, json-c and the envelope rather
 * than on io.swapdev's parameter tables (fuzz-protocol covers those).
 *
 * Contracts checked beyond what the sanitizers catch:
 *
 *  - varlink_frame: 1 only with a NUL inside the first VARLINK_MAX_MESSAGE
 *    bytes and the length up to it; 0 only while shorter than the limit;
 *    -EMSGSIZE only at or past it.
 *  - parse results are only the documented errors.
 *  - an accepted call has a method that passes varlink_method_name_valid(),
 *    and survives a round trip: varlink_build_call() from its fields parses
 *    to the same method, flags and parameters (json_object_equal).
 *  - a refused call names an error, a field and a NUL-terminated value,
 *    and the error reply built from it parses as that error.
 *  - an accepted reply survives a round trip through varlink_build_reply()
 *    or varlink_build_error().
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "varlink.h"

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* A built message (r from its builder) parses as a reply; returns it, or 0 when too large. */
static int parse_built(int r, char *msg, size_t size, struct varlink_reply *ret_reply)
{
	/* Escaping can make a rebuilt message longer than the original. */
	CHECK(r == 0 || r == -EMSGSIZE);
	if (r < 0)
		return 0;
	CHECK(size >= 1 && size <= VARLINK_MAX_MESSAGE);
	CHECK(msg[size - 1] == '\0' && strlen(msg) == size - 1);
	CHECK(varlink_parse_reply(msg, size - 1, ret_reply) == 0);
	free(msg);
	return 1;
}

static void check_call_round_trip(const struct varlink_call *call)
{
	unsigned flags = (call->more ? VARLINK_MORE : 0) | (call->oneway ? VARLINK_ONEWAY : 0);
	struct varlink_refusal refusal;
	struct varlink_call again;
	size_t size = 0;
	char *msg = NULL;
	int r;

	r = varlink_build_call(call->method, call->parameters, flags, &msg, &size);
	CHECK(r == 0 || r == -EMSGSIZE);
	if (r < 0)
		return;
	CHECK(size >= 1 && msg[size - 1] == '\0' && strlen(msg) == size - 1);
	CHECK(varlink_parse_call(msg, size - 1, &again, &refusal) == 0);
	CHECK(strcmp(again.method, call->method) == 0);
	CHECK(again.more == call->more && again.oneway == call->oneway);
	if (call->parameters)
		CHECK(json_object_equal(again.parameters, call->parameters));
	else
		CHECK(again.parameters && json_object_object_length(again.parameters) == 0);
	varlink_call_done(&again);
	free(msg);
}

static void check_call(const char *msg, size_t len)
{
	struct varlink_refusal refusal;
	struct varlink_reply reply;
	struct varlink_call call;
	size_t size = 0;
	char *built = NULL;
	int r;

	memset(&refusal, 0xa5, sizeof(refusal));
	r = varlink_parse_call(msg, len, &call, &refusal);
	CHECK(r == 0 || r == -EBADMSG || r == -EINVAL || r == -EMSGSIZE || r == -ENOMEM);
	CHECK(r != -EMSGSIZE || len >= VARLINK_MAX_MESSAGE);
	if (r == -EINVAL) {
		CHECK(refusal.error && refusal.field);
		CHECK(memchr(refusal.value, '\0', sizeof(refusal.value)));
		r = varlink_build_refusal(&refusal, &built, &size);
		if (parse_built(r, built, size, &reply)) {
			CHECK(reply.error && strcmp(reply.error, refusal.error) == 0);
			varlink_reply_done(&reply);
		}
		return;
	}
	if (r < 0)
		return;
	CHECK(call.message && call.method);
	CHECK(varlink_method_name_valid(call.method));
	CHECK(!call.parameters || json_object_is_type(call.parameters, json_type_object));
	CHECK(refusal.oneway == call.oneway);
	check_call_round_trip(&call);
	varlink_call_done(&call);
	varlink_call_done(&call); /* a released call may be released again */
}

static void check_reply(const char *msg, size_t len)
{
	struct varlink_reply reply, again;
	size_t size = 0;
	char *built = NULL;
	int r;

	r = varlink_parse_reply(msg, len, &reply);
	CHECK(r == 0 || r == -EBADMSG || r == -EMSGSIZE || r == -ENOMEM);
	CHECK(r != -EMSGSIZE || len >= VARLINK_MAX_MESSAGE);
	if (r < 0)
		return;
	CHECK(reply.message && reply.parameters);
	CHECK(json_object_is_type(reply.parameters, json_type_object));
	CHECK(!reply.error || (reply.error[0] != '\0' && !reply.continues));
	if (reply.error)
		r = varlink_build_error(reply.error, reply.parameters, &built, &size);
	else
		r = varlink_build_reply(reply.parameters, reply.continues, &built, &size);
	if (parse_built(r, built, size, &again)) {
		CHECK(!again.error == !reply.error);
		CHECK(!reply.error || strcmp(again.error, reply.error) == 0);
		CHECK(again.continues == reply.continues);
		CHECK(json_object_equal(again.parameters, reply.parameters));
		varlink_reply_done(&again);
	}
	varlink_reply_done(&reply);
	varlink_reply_done(&reply);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	size_t off = 0, msg_len;
	int r;

	while (off < size) {
		size_t left = size - off;
		const char *nul = memchr(buf + off, '\0', MIN(left, (size_t)VARLINK_MAX_MESSAGE));

		msg_len = SIZE_MAX;
		r = varlink_frame(buf + off, left, &msg_len);
		if (r == 0) {
			CHECK(!nul && left < VARLINK_MAX_MESSAGE && msg_len == SIZE_MAX);
			break;
		}
		if (r == -EMSGSIZE) {
			CHECK(!nul && left >= VARLINK_MAX_MESSAGE);
			break;
		}
		CHECK(r == 1 && nul && msg_len == (size_t)(nul - (buf + off)));
		check_call(buf + off, msg_len);
		check_reply(buf + off, msg_len);
		off += msg_len + 1;
	}
	/* A truncated message (the peer hung up before its NUL). */
	if (off < size) {
		check_call(buf + off, size - off);
		check_reply(buf + off, size - off);
	}
	return 0;
}
