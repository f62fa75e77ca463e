/* SPDX-License-Identifier: MIT */
/*
 * fuzz-protocol.c - libFuzzer target for the io.swapdev call parser.
 *
 * The input is a byte stream as a client would send it, cut into messages
 * with varlink_frame() as the control server's receive loop does; every
 * message (and an unterminated tail) goes through proto_parse_request() as
 * the daemon sees calls. Framing, the envelope and reply parsing are the
 * generic Varlink layer's, fuzzed alone by fuzz-varlink.c; this target
 * spends its time on the method and parameter tables of io.swapdev.
 *
 * Beyond "no crash, no leak, no undefined behaviour" (ASan, UBSan and
 * LeakSanitizer catch those), the target checks the contracts that
 * protocol.h promises, so that a wrong answer is a crash too:
 *
 *  - parse results are only the documented errors; -EMSGSIZE only for a
 *    message at the limit.
 *  - a refused call (-EINVAL) names an error and a field, and the error
 *    reply built from it is itself a valid Varlink error reply.
 *  - an accepted call survives a round trip: the call rebuilt from the
 *    parsed fields with proto_build_call() parses to the same fields.
 *  - the replies the daemon builds from a call's strings (config key
 *    lookups, InvalidParameter, NotRuntimeTunable, interface
 *    descriptions) either fit the size limit or say -EMSGSIZE, and parse
 *    as replies.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "config.h"
#include "protocol.h"

#define CHECK(cond)                                                                  \
	do {                                                                         \
		if (!(cond)) {                                                       \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, \
				#cond);                                              \
			abort();                                                     \
		}                                                                    \
	} while (0)

static struct swapdev_config defaults;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	CHECK(config_init(&defaults) == 0);
	return 0;
}

/* A message the daemon built parses as a reply with error want_error (NULL: none); frees it. */
static void check_built_reply(int r, char *msg, size_t size, const char *want_error)
{
	struct varlink_reply reply = { 0 };

	CHECK(r == 0 || r == -EMSGSIZE);
	if (r < 0)
		return;
	CHECK(size >= 1 && size <= VARLINK_MAX_MESSAGE);
	CHECK(msg[size - 1] == '\0' && strlen(msg) == size - 1);
	CHECK(varlink_parse_reply(msg, size - 1, &reply) == 0);
	CHECK(reply.parameters != NULL);
	if (want_error)
		CHECK(reply.error && strcmp(reply.error, want_error) == 0);
	else
		CHECK(!reply.error);
	varlink_reply_done(&reply);
	free(msg);
}

/* Rebuild the call from its parsed fields, parse it again, compare. */
static void check_round_trip(const struct proto_request *req)
{
	struct varlink_refusal error;
	struct proto_request again;
	size_t size = 0;
	char *msg = NULL;
	int r;

	r = proto_build_call(req, &msg, &size);
	/* Escaping can make the rebuilt call longer than the original. */
	CHECK(r == 0 || r == -EMSGSIZE);
	if (r < 0)
		return;
	CHECK(size >= 1 && msg[size - 1] == '\0');
	r = proto_parse_request(msg, size - 1, &again, &error);
	CHECK(r == 0);
	CHECK(again.method == req->method);
	CHECK(again.more == req->more && again.oneway == req->oneway);
	switch (req->method) {
	case PROTO_METHOD_GET_INTERFACE_DESCRIPTION:
		CHECK(strcmp(again.describe.interface, req->describe.interface) == 0);
		break;
	case PROTO_METHOD_GET_CONFIG:
		CHECK(!again.get_config.key == !req->get_config.key);
		CHECK(!req->get_config.key || strcmp(again.get_config.key, req->get_config.key) == 0);
		break;
	case PROTO_METHOD_SET_CONFIG:
		CHECK(strcmp(again.set_config.key, req->set_config.key) == 0);
		CHECK(strcmp(again.set_config.value, req->set_config.value) == 0);
		break;
	case PROTO_METHOD_FLUSH:
		CHECK(again.flush.idle_seconds == req->flush.idle_seconds);
		CHECK(again.flush.limit_bytes == req->flush.limit_bytes);
		break;
	default:
		break;
	}
	proto_request_done(&again);
	free(msg);
}

/* What the daemon answers with strings taken from the call. */
static void check_replies_for(const struct proto_request *req)
{
	size_t size = 0;
	char *msg = NULL;
	int r;

	switch (req->method) {
	case PROTO_METHOD_GET_INTERFACE_DESCRIPTION:
		r = proto_build_description_reply(req->describe.interface, &msg, &size);
		check_built_reply(r, msg, size,
				  proto_interface_description(req->describe.interface)
					  ? NULL
					  : VARLINK_ERROR_INTERFACE_NOT_FOUND);
		break;
	case PROTO_METHOD_GET_CONFIG:
		r = proto_build_config_reply(&defaults, req->get_config.key, &msg, &size);
		CHECK(r != -ENOENT || req->get_config.key);
		if (r != -ENOENT)
			check_built_reply(r, msg, size, NULL);
		break;
	case PROTO_METHOD_SET_CONFIG:
		r = proto_build_invalid_parameter("value", req->set_config.value, &msg, &size);
		check_built_reply(r, msg, size, PROTO_ERROR_INVALID_PARAMETER);
		msg = NULL;
		r = proto_build_not_runtime_tunable(req->set_config.key, &msg, &size);
		check_built_reply(r, msg, size, PROTO_ERROR_NOT_RUNTIME_TUNABLE);
		break;
	default:
		break;
	}
}

static void check_request(const char *msg, size_t len)
{
	struct varlink_refusal error;
	struct proto_request req;
	size_t size = 0;
	char *reply = NULL;
	int r;

	memset(&error, 0xa5, sizeof(error));
	r = proto_parse_request(msg, len, &req, &error);
	CHECK(r == 0 || r == -EBADMSG || r == -EINVAL || r == -EMSGSIZE || r == -ENOMEM);
	CHECK(r != -EMSGSIZE || len >= VARLINK_MAX_MESSAGE);
	if (r == -EINVAL) {
		CHECK(error.error && error.field);
		CHECK(memchr(error.value, '\0', sizeof(error.value)));
		r = varlink_build_refusal(&error, &reply, &size);
		check_built_reply(r, reply, size, error.error);
		return;
	}
	if (r < 0)
		return;
	CHECK((unsigned)req.method < _PROTO_METHOD_MAX);
	CHECK(proto_method_name(req.method) != NULL);
	CHECK(req.message != NULL);
	if (req.method == PROTO_METHOD_SET_CONFIG)
		CHECK(req.set_config.key && req.set_config.value);
	if (req.method == PROTO_METHOD_GET_INTERFACE_DESCRIPTION)
		CHECK(req.describe.interface != NULL);
	check_round_trip(&req);
	check_replies_for(&req);
	proto_request_done(&req);
	proto_request_done(&req); /* a released request may be released again */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	size_t off = 0, msg_len;

	while (off < size && varlink_frame(buf + off, size - off, &msg_len) == 1) {
		check_request(buf + off, msg_len);
		off += msg_len + 1;
	}
	/* A truncated message (the client hung up before its NUL), or an oversized one. */
	if (off < size)
		check_request(buf + off, size - off);
	return 0;
}
