/* SPDX-License-Identifier: MIT */
/*
 * test-protocol.c - the control interface io.swapdev: call parsing and
 * refusals, reply builders round-tripped through the reply parser, and the
 * GetStats object against the field names of SPEC section 4.
 */
#include <criterion/criterion.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "config.h"
#include "protocol.h"

/* ---- parsing calls ---- */

static int parse(const char *text, struct proto_request *request,
		 struct varlink_refusal *error)
{
	return proto_parse_request(text, strlen(text), request, error);
}

Test(protocol, parse_every_method)
{
	static const struct {
		const char *text;
		enum proto_method method;
		bool more, oneway;
	} cases[] = {
		{ .text = "{\"method\":\"org.varlink.service.GetInfo\"}",
		  .method = PROTO_METHOD_GET_INFO },
		{ .text = "{\"method\":\"org.varlink.service.GetInterfaceDescription\","
			  "\"parameters\":{\"interface\":\"io.swapdev\"}}",
		  .method = PROTO_METHOD_GET_INTERFACE_DESCRIPTION },
		{ .text = "{\"method\":\"io.swapdev.GetStats\",\"parameters\":{}}",
		  .method = PROTO_METHOD_GET_STATS },
		{ .text = "{\"method\":\"io.swapdev.GetStatus\",\"parameters\":null}",
		  .method = PROTO_METHOD_GET_STATUS },
		{ .text = "{\"method\":\"io.swapdev.GetConfig\"}",
		  .method = PROTO_METHOD_GET_CONFIG },
		{ .text = "{\"method\":\"io.swapdev.GetConfig\","
			  "\"parameters\":{\"key\":\"pool.limit\"}}",
		  .method = PROTO_METHOD_GET_CONFIG },
		{ .text = "{\"method\":\"io.swapdev.SetConfig\","
			  "\"parameters\":{\"key\":\"pool.limit\",\"value\":\"2G\"}}",
		  .method = PROTO_METHOD_SET_CONFIG },
		{ .text = "{\"method\":\"io.swapdev.Flush\",\"more\":true}",
		  .method = PROTO_METHOD_FLUSH,
		  .more = true },
		{ .text = " {\"oneway\":true,\"method\":\"io.swapdev.Flush\",\"more\":false,"
			  "\"parameters\":{\"idle_seconds\":60,"
			  "\"limit_bytes\":9223372036854775807}}\n",
		  .method = PROTO_METHOD_FLUSH, .oneway = true },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct proto_request request;
		struct varlink_refusal error;
		int r = parse(cases[i].text, &request, &error);

		cr_assert_eq(r, 0, "case %zu: %s -> %d", i, cases[i].text, r);
		cr_assert_eq(request.method, cases[i].method, "case %zu", i);
		cr_assert_eq(request.more, cases[i].more, "case %zu", i);
		cr_assert_eq(request.oneway, cases[i].oneway, "case %zu", i);
		cr_assert_not_null(request.message);
		proto_request_done(&request);
		cr_assert_null(request.message);
	}
}

Test(protocol, parse_typed_parameters)
{
	struct proto_request request;
	struct varlink_refusal error;

	cr_assert_eq(parse("{\"method\":\"io.swapdev.SetConfig\","
			   "\"parameters\":{\"value\":\"zstd:3\",\"key\":\"pool.compressor\"}}",
			   &request, &error),
		     0);
	cr_assert_str_eq(request.set_config.key, "pool.compressor");
	cr_assert_str_eq(request.set_config.value, "zstd:3");
	proto_request_done(&request);

	cr_assert_eq(parse("{\"method\":\"io.swapdev.Flush\",\"parameters\":"
			   "{\"idle_seconds\":4294967295,\"limit_bytes\":9223372036854775807}}",
			   &request, &error),
		     0);
	cr_assert_eq(request.flush.idle_seconds, UINT32_MAX);
	cr_assert_eq(request.flush.limit_bytes, INT64_MAX);
	proto_request_done(&request);

	cr_assert_eq(parse("{\"method\":\"io.swapdev.Flush\",\"parameters\":"
			   "{\"idle_seconds\":null}}",
			   &request, &error),
		     0, "null stands for an optional parameter left out");
	cr_assert_eq(request.flush.idle_seconds, 0);
	cr_assert_eq(request.flush.limit_bytes, 0);
	proto_request_done(&request);

	/* Recompress tells idle_seconds 0 (every entry) from left out (the configured time). */
	cr_assert_eq(parse("{\"method\":\"io.swapdev.Recompress\"}", &request, &error), 0);
	cr_assert_not(request.recompress.idle_seconds.given);
	proto_request_done(&request);
	cr_assert_eq(parse("{\"method\":\"io.swapdev.Recompress\",\"parameters\":"
			   "{\"idle_seconds\":null}}", &request, &error), 0);
	cr_assert_not(request.recompress.idle_seconds.given);
	proto_request_done(&request);
	cr_assert_eq(parse("{\"method\":\"io.swapdev.Recompress\",\"parameters\":"
			   "{\"idle_seconds\":0}}", &request, &error), 0);
	cr_assert(request.recompress.idle_seconds.given);
	cr_assert_eq(request.recompress.idle_seconds.value, 0);
	proto_request_done(&request);
	cr_assert_eq(parse("{\"method\":\"io.swapdev.Recompress\",\"parameters\":"
			   "{\"idle_seconds\":4294967295}}", &request, &error), 0);
	cr_assert(request.recompress.idle_seconds.given);
	cr_assert_eq(request.recompress.idle_seconds.value, UINT32_MAX);
	proto_request_done(&request);

	cr_assert_eq(parse("{\"method\":\"io.swapdev.GetConfig\"}", &request, &error), 0);
	cr_assert_null(request.get_config.key);
	proto_request_done(&request);

	cr_assert_eq(parse("{\"method\":\"org.varlink.service.GetInterfaceDescription\","
			   "\"parameters\":{\"interface\":\"org.varlink.service\"}}",
			   &request, &error),
		     0);
	cr_assert_str_eq(request.describe.interface, "org.varlink.service");
	proto_request_done(&request);
	proto_request_done(&request);
	proto_request_done(NULL);
}

Test(protocol, parse_not_a_message)
{
	static const char *const cases[] = {
		"",
		" ",
		"{",
		"{\"method\":\"io.swapdev.GetStats\"",
		"{\"method\":\"io.swapdev.GetStats\",}",
		"[]",
		"[{\"method\":\"io.swapdev.GetStats\"}]",
		"\"io.swapdev.GetStats\"",
		"42",
		"null",
		"{} {}",
		"{}x",
		"{\"method\":\"io.swapdev.GetStats\"}\n{\"method\":\"io.swapdev.GetStats\"}",
		"{\"method\":\"io.swapdev.\xff\"}",
		"{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct proto_request request = { .method = 99 };
		struct varlink_refusal error = { .error = "untouched" };
		int r = parse(cases[i], &request, &error);

		cr_assert_eq(r, -EBADMSG, "case %zu: '%s' -> %d", i, cases[i], r);
		cr_assert_eq(request.method, 99, "case %zu: ret_request touched", i);
		cr_assert_str_eq(error.error, "untouched", "case %zu", i);
	}
}

Test(protocol, parse_embedded_nul_and_size)
{
	static const char msg[] = "{\"method\":\"io.swapdev.GetStats\"}\0{}";
	struct proto_request request;
	struct varlink_refusal error;
	char *big;

	cr_assert_eq(proto_parse_request(msg, sizeof(msg) - 1, &request, &error), -EBADMSG);

	big = malloc(VARLINK_MAX_MESSAGE);
	cr_assert_not_null(big);
	memset(big, ' ', VARLINK_MAX_MESSAGE);
	memcpy(big, "{\"method\":\"io.swapdev.GetStats\"}", 32);
	cr_assert_eq(proto_parse_request(big, VARLINK_MAX_MESSAGE, &request, &error), -EMSGSIZE);
	cr_assert_eq(proto_parse_request(big, VARLINK_MAX_MESSAGE - 1, &request, &error), 0,
		     "trailing blanks up to the limit are fine");
	proto_request_done(&request);
	free(big);
}

Test(protocol, parse_refusals)
{
	static const struct {
		const char *text;
		const char *error;
		const char *field;
		const char *value;
	} cases[] = {
		/* envelope */
		{ "{}", VARLINK_ERROR_INVALID_PARAMETER, "parameter", "method" },
		{ "{\"parameters\":{}}", VARLINK_ERROR_INVALID_PARAMETER, "parameter", "method" },
		{ "{\"method\":1}", VARLINK_ERROR_INVALID_PARAMETER, "parameter", "method" },
		{ "{\"method\":null}", VARLINK_ERROR_INVALID_PARAMETER, "parameter", "method" },
		{ "{\"method\":[\"io.swapdev.GetStats\"]}", VARLINK_ERROR_INVALID_PARAMETER, "parameter",
		  "method" },
		{ "{\"method\":\"io.swapdev.GetStats\",\"parameters\":[]}",
		  VARLINK_ERROR_INVALID_PARAMETER, "parameter", "parameters" },
		{ "{\"method\":\"io.swapdev.GetStats\",\"parameters\":\"\"}",
		  VARLINK_ERROR_INVALID_PARAMETER, "parameter", "parameters" },
		{ "{\"method\":\"io.swapdev.GetStats\",\"more\":\"yes\"}",
		  VARLINK_ERROR_INVALID_PARAMETER, "parameter", "more" },
		{ "{\"method\":\"io.swapdev.GetStats\",\"oneway\":1}", VARLINK_ERROR_INVALID_PARAMETER,
		  "parameter", "oneway" },
		{ "{\"method\":\"io.swapdev.GetStats\",\"upgrade\":true}",
		  VARLINK_ERROR_INVALID_PARAMETER, "parameter", "upgrade" },
		{ "{\"method\":\"io.swapdev.GetStats\",\"id\":7}", VARLINK_ERROR_INVALID_PARAMETER,
		  "parameter", "id" },
		/* method names */
		{ "{\"method\":\"\"}", VARLINK_ERROR_INVALID_PARAMETER, "parameter", "method" },
		{ "{\"method\":\"GetStats\"}", VARLINK_ERROR_INVALID_PARAMETER, "parameter", "method" },
		{ "{\"method\":\"swapdev.\"}", VARLINK_ERROR_INVALID_PARAMETER, "parameter", "method" },
		{ "{\"method\":\"io.swapdev.getStats\"}", VARLINK_ERROR_INVALID_PARAMETER, "parameter",
		  "method" },
		{ "{\"method\":\"io..swapdev.GetStats\"}", VARLINK_ERROR_INVALID_PARAMETER, "parameter",
		  "method" },
		{ "{\"method\":\"io.swap dev.GetStats\"}", VARLINK_ERROR_INVALID_PARAMETER, "parameter",
		  "method" },
		{ "{\"method\":\"io.swapdev.Get-Stats\"}", VARLINK_ERROR_INVALID_PARAMETER, "parameter",
		  "method" },
		{ "{\"method\":\"io.swapdev.GetStats\\u0000x\"}", VARLINK_ERROR_INVALID_PARAMETER,
		  "parameter", "method" },
		/* unknown interface or method */
		{ "{\"method\":\"io.swapdev.Reboot\"}", VARLINK_ERROR_METHOD_NOT_FOUND, "method",
		  "io.swapdev.Reboot" },
		{ "{\"method\":\"org.varlink.service.Ping\"}",
		  VARLINK_ERROR_METHOD_NOT_FOUND, "method",
		  "org.varlink.service.Ping" },
		{ "{\"method\":\"io.swapdevx.GetStats\"}", VARLINK_ERROR_INTERFACE_NOT_FOUND,
		  "interface", "io.swapdevx" },
		{ "{\"method\":\"io.systemd.Manager.Describe\"}", VARLINK_ERROR_INTERFACE_NOT_FOUND,
		  "interface", "io.systemd.Manager" },
		/* parameters */
		{ "{\"method\":\"io.swapdev.GetStats\",\"parameters\":{\"verbose\":true}}",
		  VARLINK_ERROR_INVALID_PARAMETER, "parameter", "verbose" },
		{ "{\"method\":\"io.swapdev.GetConfig\",\"parameters\":{\"key\":1}}",
		  VARLINK_ERROR_INVALID_PARAMETER, "parameter", "key" },
		{ "{\"method\":\"io.swapdev.SetConfig\",\"parameters\":{\"key\":\"pool.limit\"}}",
		  VARLINK_ERROR_INVALID_PARAMETER, "parameter", "value" },
		{ "{\"method\":\"io.swapdev.SetConfig\","
		  "\"parameters\":{\"key\":\"pool.limit\",\"value\":null}}",
		  VARLINK_ERROR_INVALID_PARAMETER, "parameter", "value" },
		{ "{\"method\":\"io.swapdev.SetConfig\","
		  "\"parameters\":{\"key\":\"pool.limit\",\"value\":2147483648}}",
		  VARLINK_ERROR_INVALID_PARAMETER, "parameter", "value" },
		{ "{\"method\":\"io.swapdev.SetConfig\","
		  "\"parameters\":{\"key\":\"pool.limit\",\"value\":\"1G\\u0000\"}}",
		  VARLINK_ERROR_INVALID_PARAMETER, "parameter", "value" },
		{ "{\"method\":\"io.swapdev.SetConfig\"}", VARLINK_ERROR_INVALID_PARAMETER, "parameter",
		  "key" },
		{ "{\"method\":\"io.swapdev.Flush\",\"parameters\":{\"idle_seconds\":-1}}",
		  VARLINK_ERROR_INVALID_PARAMETER, "parameter", "idle_seconds" },
		{ "{\"method\":\"io.swapdev.Flush\",\"parameters\":{\"idle_seconds\":4294967296}}",
		  VARLINK_ERROR_INVALID_PARAMETER, "parameter", "idle_seconds" },
		{ "{\"method\":\"io.swapdev.Flush\",\"parameters\":{\"idle_seconds\":\"60\"}}",
		  VARLINK_ERROR_INVALID_PARAMETER, "parameter", "idle_seconds" },
		{ "{\"method\":\"io.swapdev.Flush\",\"parameters\":{\"idle_seconds\":1.5}}",
		  VARLINK_ERROR_INVALID_PARAMETER, "parameter", "idle_seconds" },
		{ "{\"method\":\"io.swapdev.Flush\",\"parameters\":{\"limit_bytes\":-4096}}",
		  VARLINK_ERROR_INVALID_PARAMETER, "parameter", "limit_bytes" },
		{ "{\"method\":\"io.swapdev.Flush\",\"parameters\":{\"limit_bytes\":true}}",
		  VARLINK_ERROR_INVALID_PARAMETER, "parameter", "limit_bytes" },
		/* Varlink's int is int64: beyond it is refused like a double. */
		{ "{\"method\":\"io.swapdev.Flush\",\"parameters\":"
		  "{\"limit_bytes\":9223372036854775808}}",
		  VARLINK_ERROR_INVALID_PARAMETER, "parameter", "limit_bytes" },
		{ "{\"method\":\"io.swapdev.Flush\",\"parameters\":"
		  "{\"limit_bytes\":18446744073709551615}}",
		  VARLINK_ERROR_INVALID_PARAMETER, "parameter", "limit_bytes" },
		{ "{\"method\":\"io.swapdev.Flush\",\"parameters\":{\"limit_bytes\":1e30}}",
		  VARLINK_ERROR_INVALID_PARAMETER, "parameter", "limit_bytes" },
		{ "{\"method\":\"io.swapdev.Recompress\",\"parameters\":{\"idle_seconds\":-1}}",
		  VARLINK_ERROR_INVALID_PARAMETER, "parameter", "idle_seconds" },
		{ "{\"method\":\"io.swapdev.Recompress\",\"parameters\":"
		  "{\"idle_seconds\":4294967296}}",
		  VARLINK_ERROR_INVALID_PARAMETER, "parameter", "idle_seconds" },
		{ "{\"method\":\"io.swapdev.Recompress\",\"parameters\":{\"idle_seconds\":\"1\"}}",
		  VARLINK_ERROR_INVALID_PARAMETER, "parameter", "idle_seconds" },
		{ "{\"method\":\"io.swapdev.Recompress\",\"parameters\":{\"limit_bytes\":1}}",
		  VARLINK_ERROR_INVALID_PARAMETER, "parameter", "limit_bytes" },
		{ "{\"method\":\"org.varlink.service.GetInterfaceDescription\"}",
		  VARLINK_ERROR_INVALID_PARAMETER, "parameter", "interface" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct proto_request request = { .method = 99 };
		struct varlink_refusal error;
		int r = parse(cases[i].text, &request, &error);

		cr_assert_eq(r, -EINVAL, "case %zu: %s -> %d", i, cases[i].text, r);
		cr_assert_eq(request.method, 99, "case %zu: ret_request touched", i);
		cr_assert_str_eq(error.error, cases[i].error, "case %zu: %s", i, cases[i].text);
		cr_assert_str_eq(error.field, cases[i].field, "case %zu", i);
		cr_assert_str_eq(error.value, cases[i].value, "case %zu", i);
		cr_assert_not(error.oneway, "case %zu", i);
	}
}

Test(protocol, refusal_of_oneway_call_wants_no_reply)
{
	struct proto_request request;
	struct varlink_refusal error;

	cr_assert_eq(parse("{\"method\":\"io.swapdev.Nope\",\"oneway\":true}", &request, &error),
		     -EINVAL);
	cr_assert(error.oneway);
	cr_assert_eq(parse("{\"oneway\":true,\"method\":\"io.swapdev.Flush\","
			   "\"parameters\":{\"idle_seconds\":-1}}",
			   &request, &error),
		     -EINVAL);
	cr_assert(error.oneway);
	cr_assert_eq(parse("{\"method\":\"io.swapdev.Nope\",\"oneway\":\"yes\"}", &request, &error),
		     -EINVAL);
	cr_assert_not(error.oneway, "a mistyped oneway is not a request for silence");
}

Test(protocol, long_method_name_is_bounded)
{
	char text[VARLINK_NAME_MAX + 64];
	struct proto_request request;
	struct varlink_refusal error;
	int n;

	n = snprintf(text, sizeof(text), "{\"method\":\"io.swapdev.%0*d\"}", VARLINK_NAME_MAX, 0);
	cr_assert_lt(n, (int)sizeof(text));
	memset(text + 22, 'A', VARLINK_NAME_MAX);
	cr_assert_eq(parse(text, &request, &error), -EINVAL);
	cr_assert_str_eq(error.field, "parameter");
	cr_assert_str_eq(error.value, "method");
}

Test(protocol, method_table)
{
	cr_assert_str_eq(proto_method_name(PROTO_METHOD_GET_STATS), "io.swapdev.GetStats");
	cr_assert_str_eq(proto_method_name(PROTO_METHOD_GET_INFO), "org.varlink.service.GetInfo");
	cr_assert_null(proto_method_name(_PROTO_METHOD_MAX));
	cr_assert(proto_method_changes_state(PROTO_METHOD_SET_CONFIG));
	cr_assert(proto_method_changes_state(PROTO_METHOD_FLUSH));
	cr_assert_not(proto_method_changes_state(PROTO_METHOD_GET_STATS));
	cr_assert_not(proto_method_changes_state(PROTO_METHOD_GET_CONFIG));
	cr_assert_not(proto_method_changes_state(_PROTO_METHOD_MAX));
	for (unsigned m = 0; m < _PROTO_METHOD_MAX; m++) {
		char text[VARLINK_NAME_MAX + 32];
		struct proto_request request;
		struct varlink_refusal error;

		snprintf(text, sizeof(text), "{\"method\":\"%s\"}", proto_method_name(m));
		/* Required parameters aside, each name in the table parses back to itself. */
		if (parse(text, &request, &error) == 0) {
			cr_assert_eq(request.method, m);
			proto_request_done(&request);
		} else {
			cr_assert_str_eq(error.error, VARLINK_ERROR_INVALID_PARAMETER, "%s", text);
		}
	}
}

/* ---- building, then parsing replies ---- */

/* Check the wire invariants of a built message and parse it back as a reply. */
static void reparse(char *msg, size_t size, struct varlink_reply *reply)
{
	cr_assert_gt(size, 1);
	cr_assert_eq(msg[size - 1], '\0', "message must end in NUL");
	cr_assert_eq(strlen(msg), size - 1, "no NUL inside the message");
	cr_assert_eq(varlink_parse_reply(msg, size - 1, reply), 0, "reply: %s", msg);
	free(msg);
}

static uint64_t get_u64(struct json_object *object, const char *key)
{
	struct json_object *value;

	cr_assert(json_object_object_get_ex(object, key, &value), "missing %s", key);
	cr_assert(json_object_is_type(value, json_type_int), "%s is not an integer", key);
	return json_object_get_uint64(value);
}

static const char *get_string(struct json_object *object, const char *key)
{
	struct json_object *value;

	cr_assert(json_object_object_get_ex(object, key, &value), "missing %s", key);
	cr_assert(json_object_is_type(value, json_type_string), "%s is not a string", key);
	return json_object_get_string(value);
}

Test(protocol, request_round_trip)
{
	struct json_object *parameters = json_object_new_object();
	struct proto_request request;
	struct varlink_refusal error;
	size_t size;
	char *msg;

	json_object_object_add(parameters, "key", json_object_new_string("pool.limit"));
	json_object_object_add(parameters, "value", json_object_new_string("\"50%\"\n"));
	cr_assert_eq(varlink_build_call("io.swapdev.SetConfig", parameters, VARLINK_MORE, &msg,
					 &size),
		     0);
	json_object_put(parameters);
	cr_assert_eq(msg[size - 1], '\0');
	cr_assert_eq(proto_parse_request(msg, size - 1, &request, &error), 0, "%s", msg);
	cr_assert_eq(request.method, PROTO_METHOD_SET_CONFIG);
	cr_assert(request.more);
	cr_assert_not(request.oneway);
	cr_assert_str_eq(request.set_config.value, "\"50%\"\n");
	proto_request_done(&request);
	free(msg);

	cr_assert_eq(varlink_build_call("io.swapdev.GetStats", NULL, VARLINK_ONEWAY, &msg, &size),
		     0);
	cr_assert_eq(proto_parse_request(msg, size - 1, &request, &error), 0, "%s", msg);
	cr_assert(request.oneway);
	cr_assert_not(request.more);
	proto_request_done(&request);
	free(msg);
}

Test(protocol, generic_replies)
{
	struct json_object *parameters = json_object_new_object();
	struct varlink_reply reply;
	size_t size;
	char *msg;

	json_object_object_add(parameters, "answer", json_object_new_int(42));
	cr_assert_eq(varlink_build_reply(parameters, true, &msg, &size), 0);
	reparse(msg, size, &reply);
	cr_assert_null(reply.error);
	cr_assert(reply.continues);
	cr_assert_eq(get_u64(reply.parameters, "answer"), 42);
	varlink_reply_done(&reply);

	cr_assert_eq(varlink_build_reply(NULL, false, &msg, &size), 0);
	reparse(msg, size, &reply);
	cr_assert_not(reply.continues);
	cr_assert_eq(json_object_object_length(reply.parameters), 0);
	varlink_reply_done(&reply);

	cr_assert_eq(varlink_build_error(PROTO_ERROR_PERMISSION_DENIED, NULL, &msg, &size), 0);
	reparse(msg, size, &reply);
	cr_assert_str_eq(reply.error, PROTO_ERROR_PERMISSION_DENIED);
	varlink_reply_done(&reply);

	cr_assert_eq(varlink_build_error(PROTO_ERROR_NO_DISK_TIER, parameters, &msg, &size), 0);
	json_object_put(parameters);
	reparse(msg, size, &reply);
	cr_assert_str_eq(reply.error, PROTO_ERROR_NO_DISK_TIER);
	cr_assert_eq(get_u64(reply.parameters, "answer"), 42);
	varlink_reply_done(&reply);
	varlink_reply_done(&reply);
	varlink_reply_done(NULL);
}

Test(protocol, error_replies)
{
	struct varlink_reply reply;
	struct proto_request request;
	struct varlink_refusal error;
	size_t size;
	char *msg;

	cr_assert_eq(parse("{\"method\":\"io.swapdev.Reboot\"}", &request, &error), -EINVAL);
	cr_assert_eq(varlink_build_refusal(&error, &msg, &size), 0);
	reparse(msg, size, &reply);
	cr_assert_str_eq(reply.error, "org.varlink.service.MethodNotFound");
	cr_assert_str_eq(get_string(reply.parameters, "method"), "io.swapdev.Reboot");
	varlink_reply_done(&reply);

	cr_assert_eq(parse("{\"method\":\"io.swapdev.Flush\",\"parameters\":{\"x\":1}}", &request,
			   &error),
		     -EINVAL);
	cr_assert_eq(varlink_build_refusal(&error, &msg, &size), 0);
	reparse(msg, size, &reply);
	cr_assert_str_eq(reply.error, "org.varlink.service.InvalidParameter");
	cr_assert_str_eq(get_string(reply.parameters, "parameter"), "x");
	varlink_reply_done(&reply);

	cr_assert_eq(proto_build_invalid_parameter("value", "pool.limit: '9Z' is not a size",
						   &msg, &size),
		     0);
	reparse(msg, size, &reply);
	cr_assert_str_eq(reply.error, "io.swapdev.InvalidParameter");
	cr_assert_str_eq(get_string(reply.parameters, "parameter"), "value");
	cr_assert_str_eq(get_string(reply.parameters, "message"),
			 "pool.limit: '9Z' is not a size");
	varlink_reply_done(&reply);

	cr_assert_eq(proto_build_invalid_parameter("key", NULL, &msg, &size), 0);
	reparse(msg, size, &reply);
	cr_assert_not(json_object_object_get_ex(reply.parameters, "message", NULL));
	varlink_reply_done(&reply);

	cr_assert_eq(proto_build_not_runtime_tunable("device.size", &msg, &size), 0);
	reparse(msg, size, &reply);
	cr_assert_str_eq(reply.error, "io.swapdev.NotRuntimeTunable");
	cr_assert_str_eq(get_string(reply.parameters, "key"), "device.size");
	varlink_reply_done(&reply);

	cr_assert_eq(proto_build_failed("flush: Input/output error", &msg, &size), 0);
	reparse(msg, size, &reply);
	cr_assert_str_eq(reply.error, "io.swapdev.Failed");
	cr_assert_str_eq(get_string(reply.parameters, "message"), "flush: Input/output error");
	varlink_reply_done(&reply);
}

Test(protocol, oversized_reply_is_refused)
{
	char *text = malloc(VARLINK_MAX_MESSAGE);
	char *msg = NULL;
	size_t size = 0;

	cr_assert_not_null(text);
	memset(text, 'x', VARLINK_MAX_MESSAGE - 1);
	text[VARLINK_MAX_MESSAGE - 1] = '\0';
	cr_assert_eq(proto_build_failed(text, &msg, &size), -EMSGSIZE);
	cr_assert_null(msg);
	cr_assert_eq(size, 0);
	free(text);
}

Test(protocol, flush_replies)
{
	struct varlink_reply reply;
	size_t size;
	char *msg;

	cr_assert_eq(proto_build_flush_progress(10, 300, &msg, &size), 0);
	reparse(msg, size, &reply);
	cr_assert(reply.continues);
	cr_assert_eq(get_u64(reply.parameters, "done_pages"), 10);
	cr_assert_eq(get_u64(reply.parameters, "total_pages"), 300);
	varlink_reply_done(&reply);

	cr_assert_eq(proto_build_flush_result(UINT64_MAX, &msg, &size), 0);
	reparse(msg, size, &reply);
	cr_assert_not(reply.continues);
	cr_assert_eq(get_u64(reply.parameters, "written_pages"), UINT64_MAX);
	varlink_reply_done(&reply);
}

Test(protocol, recompress_replies)
{
	struct proto_recompress_reply result = { .done_entries = 700, .recompressed = 500,
						 .not_worth = 150, .dropped = 2, .cpu_us = 123456 };
	struct proto_recompress_reply got;
	struct varlink_reply reply;
	size_t size;
	char *msg;

	cr_assert_eq(proto_build_recompress_progress(64, 700, &msg, &size), 0);
	reparse(msg, size, &reply);
	cr_assert(reply.continues);
	proto_read_recompress(reply.parameters, &got);
	cr_assert_eq(got.done_entries, 64);
	cr_assert_eq(got.total_entries, 700);
	cr_assert_eq(got.recompressed, 0);
	varlink_reply_done(&reply);

	cr_assert_eq(proto_build_recompress_result(&result, &msg, &size), 0);
	reparse(msg, size, &reply);
	cr_assert_not(reply.continues);
	cr_assert_eq(get_u64(reply.parameters, "recompressed"), 500);
	proto_read_recompress(reply.parameters, &got);
	cr_assert_eq(got.done_entries, 700);
	cr_assert_eq(got.total_entries, 0);
	cr_assert_eq(got.recompressed, 500);
	cr_assert_eq(got.not_worth, 150);
	cr_assert_eq(got.dropped, 2);
	cr_assert_eq(got.cpu_us, 123456);
	varlink_reply_done(&reply);
}

Test(protocol, status_reply)
{
	struct proto_status status = {
		.state = "running",
		.device = "/run/swapdev/mnt/swap",
		.loop_device = "/dev/loop7",
		.swap_active = true,
		.uptime_seconds = 3600,
		.version = "0.1.0",
	};
	struct json_object *value;
	struct varlink_reply reply;
	size_t size;
	char *msg;

	cr_assert_eq(proto_build_status_reply(&status, &msg, &size), 0);
	reparse(msg, size, &reply);
	cr_assert_str_eq(get_string(reply.parameters, "state"), "running");
	cr_assert_str_eq(get_string(reply.parameters, "device"), "/run/swapdev/mnt/swap");
	cr_assert_str_eq(get_string(reply.parameters, "loop_device"), "/dev/loop7");
	cr_assert_str_eq(get_string(reply.parameters, "version"), "0.1.0");
	cr_assert_eq(get_u64(reply.parameters, "uptime_seconds"), 3600);
	cr_assert(json_object_object_get_ex(reply.parameters, "swap_active", &value));
	cr_assert(json_object_get_boolean(value));
	varlink_reply_done(&reply);

	status.loop_device = NULL;
	status.swap_active = false;
	cr_assert_eq(proto_build_status_reply(&status, &msg, &size), 0);
	reparse(msg, size, &reply);
	cr_assert(json_object_object_get_ex(reply.parameters, "loop_device", &value));
	cr_assert_null(value, "no loop device is sent as null");
	varlink_reply_done(&reply);
}

Test(protocol, info_and_descriptions)
{
	struct json_object *interfaces;
	struct varlink_reply reply;
	size_t size;
	char *msg;

	cr_assert_eq(proto_build_info_reply("0.1.0", &msg, &size), 0);
	reparse(msg, size, &reply);
	cr_assert_str_eq(get_string(reply.parameters, "vendor"), "swapdev");
	cr_assert_str_eq(get_string(reply.parameters, "product"), "swapdevd");
	cr_assert_str_eq(get_string(reply.parameters, "version"), "0.1.0");
	cr_assert_not_null(get_string(reply.parameters, "url"));
	cr_assert(json_object_object_get_ex(reply.parameters, "interfaces", &interfaces));
	cr_assert_eq(json_object_array_length(interfaces), 2);
	cr_assert_str_eq(json_object_get_string(json_object_array_get_idx(interfaces, 0)),
			 "org.varlink.service");
	cr_assert_str_eq(json_object_get_string(json_object_array_get_idx(interfaces, 1)),
			 "io.swapdev");
	varlink_reply_done(&reply);

	cr_assert_eq(proto_build_description_reply("io.swapdev", &msg, &size), 0);
	reparse(msg, size, &reply);
	cr_assert_str_eq(get_string(reply.parameters, "description"),
			 proto_interface_description("io.swapdev"));
	varlink_reply_done(&reply);

	cr_assert_eq(proto_build_description_reply("io.systemd", &msg, &size), 0);
	reparse(msg, size, &reply);
	cr_assert_str_eq(reply.error, VARLINK_ERROR_INTERFACE_NOT_FOUND);
	cr_assert_str_eq(get_string(reply.parameters, "interface"), "io.systemd");
	varlink_reply_done(&reply);
	cr_assert_not_null(proto_interface_description("org.varlink.service"));
	cr_assert_null(proto_interface_description("io.swapde"));
}

/* Every method, error and statistic appears in the IDL under its own name. */
Test(protocol, idl_covers_the_interface)
{
	static const char *const declarations[] = {
		"interface io.swapdev\n",
		"method GetStats() -> (",
		"method GetStatus() -> (",
		"method GetConfig(key: ?string) -> (config: [string]string)",
		"method SetConfig(key: string, value: string) -> ()",
		"method Flush(idle_seconds: ?int, limit_bytes: ?int) -> (",
		"error PermissionDenied ()",
		"error InvalidParameter (parameter: string, message: ?string)",
		"error NotRuntimeTunable (key: string)",
		"error NoDiskTier ()",
		"error Failed (message: string)",
		"\tread_latency_us: Latency,\n",
		"\twrite_latency_us: Latency,\n",
		"\tread_latency_histogram: LatencyHistogram,\n",
		"\twrite_latency_histogram: LatencyHistogram,\n",
		"type LatencyHistogram (buckets: []LatencyBucket, count: int, sum_us: int)\n",
		"type LatencyBucket (le_us: int, count: int)\n",
		"\tuptime_seconds: int,\n",
		"\tstart_time_seconds: int,\n",
		"\tversion: string,\n",
		"\tconfig: [string]string\n",
	};
	const char *idl = proto_interface_description("io.swapdev");
	char line[128];

	cr_assert_not_null(idl);
	for (size_t i = 0; i < ARRAY_SIZE(declarations); i++)
		cr_assert_not_null(strstr(idl, declarations[i]), "IDL lacks '%s'", declarations[i]);
	for (const struct proto_stat_field *f = proto_stat_fields; f->name; f++) {
		snprintf(line, sizeof(line), "\t%s: int,\n", f->name);
		cr_assert_not_null(strstr(idl, line), "IDL lacks field %s", f->name);
	}
	cr_assert_not_null(strstr(proto_interface_description("org.varlink.service"),
				  "method GetInfo() -> ("));
}

/*
 * The IDL is generated from the method, field and error tables; the text
 * written by hand before that is kept in fixtures/io.swapdev.varlink. The
 * generated text must be that text: same methods, parameters, replies,
 * errors, comments and layout, so that clients see no change.
 */
Test(protocol, idl_is_generated_as_before)
{
	const char *idl = proto_interface_description("io.swapdev");
	char *fixture = NULL;
	size_t size = 0;
	FILE *f = fopen(FIXTURES_DIR "/io.swapdev.varlink", "re");

	cr_assert_not_null(f, "%s/io.swapdev.varlink: %m", FIXTURES_DIR);
	cr_assert_gt(getdelim(&fixture, &size, '\0', f), 0);
	fclose(f);
	cr_assert_str_eq(idl, fixture);
	cr_assert_eq(proto_interface_description("io.swapdev"), idl, "written once");
	free(fixture);
}

/* ---- statistics ---- */

static struct swapdev_config test_config;

static void config_setup(void)
{
	cr_assert_eq(config_init(&test_config), 0);
}

static void config_teardown(void)
{
	config_done(&test_config);
}

/*
 * Fill every uint64_t of stats with a distinct value derived from its
 * offset; the histograms hold as many buckets as the wire carries.
 */
static void fill_stats(struct proto_stats *stats)
{
	uint64_t *words = (uint64_t *)stats;

	for (size_t i = 0; i < offsetof(struct proto_stats, version) / sizeof(uint64_t); i++)
		words[i] = 1000 + i;
	stats->read_latency_histogram.nr_buckets = PROTO_LATENCY_BUCKETS_MAX;
	stats->write_latency_histogram.nr_buckets = PROTO_LATENCY_BUCKETS_MAX;
	stats->version = "1.2.3";
}

Test(protocol, stats_field_names, .init = config_setup, .fini = config_teardown)
{
	/* SPEC section 4: these names are part of the interface. */
	static const char *const spec_fields[] = {
		"slots_total",
		"slots_used",
		"same_slots",
		"pool_slots",
		"disk_slots",
		"orig_bytes",
		"compr_bytes",
		"pool_footprint_bytes",
		"pool_limit_bytes",
		"disk_bytes",
		"reads",
		"writes",
		"discards",
		"reads_pool",
		"reads_disk",
		"reads_same",
		"writes_pool",
		"writes_disk",
		"writes_same",
		"incompressible",
		"writeback_pages",
		"exclusive_releases",
		"writethrough_pages",
		"alloc_failures",
		"io_errors",
		"read_latency_us",
		"write_latency_us",
		"uptime_seconds",
		"config",
	};
	struct proto_stats stats;
	struct json_object *object, *latency, *config, *buckets, *bucket;

	fill_stats(&stats);
	stats.read_latency_us = (struct proto_latency){ 12, 340, 5600 };
	stats.write_latency_us = (struct proto_latency){ 20, 400, 7000 };
	stats.uptime_seconds = 86400;
	cr_assert_eq(proto_stats_to_json(&stats, &test_config, &object), 0);
	for (size_t i = 0; i < ARRAY_SIZE(spec_fields); i++)
		cr_assert(json_object_object_get_ex(object, spec_fields[i], NULL),
			  "GetStats lacks SPEC field %s", spec_fields[i]);

	/* Every member of struct proto_stats is there, and the config. */
	cr_assert_eq(json_object_object_length(object),
		     offsetof(struct proto_stats, read_latency_us) / sizeof(uint64_t) + 8);
	cr_assert_eq(get_u64(object, "slots_total"), stats.slots_total);
	cr_assert_eq(get_u64(object, "metadata_bytes"), stats.metadata_bytes);
	cr_assert_eq(get_u64(object, "reads_empty"), stats.reads_empty);
	cr_assert_eq(get_u64(object, "compactions"), stats.compactions);
	cr_assert_eq(get_u64(object, "uptime_seconds"), 86400);

	cr_assert(json_object_object_get_ex(object, "read_latency_us", &latency));
	cr_assert_eq(get_u64(latency, "p50"), 12);
	cr_assert_eq(get_u64(latency, "p99"), 340);
	cr_assert_eq(get_u64(latency, "p999"), 5600);
	cr_assert(json_object_object_get_ex(object, "write_latency_us", &latency));
	cr_assert_eq(get_u64(latency, "p999"), 7000);

	cr_assert(json_object_object_get_ex(object, "read_latency_histogram", &latency));
	cr_assert_eq(get_u64(latency, "count"), stats.read_latency_histogram.count);
	cr_assert_eq(get_u64(latency, "sum_us"), stats.read_latency_histogram.sum_us);
	cr_assert(json_object_object_get_ex(latency, "buckets", &buckets));
	cr_assert_eq(json_object_array_length(buckets), PROTO_LATENCY_BUCKETS_MAX);
	bucket = json_object_array_get_idx(buckets, 3);
	cr_assert_eq(get_u64(bucket, "le_us"), stats.read_latency_histogram.buckets[3].le_us);
	cr_assert_eq(get_u64(bucket, "count"), stats.read_latency_histogram.buckets[3].count);
	cr_assert(json_object_object_get_ex(object, "write_latency_histogram", NULL));
	cr_assert_eq(get_u64(object, "start_time_seconds"), stats.start_time_seconds);
	cr_assert_str_eq(get_string(object, "version"), "1.2.3");

	cr_assert(json_object_object_get_ex(object, "config", &config));
	for (size_t i = 0; config_keys[i]; i++)
		cr_assert_not_null(get_string(config, config_keys[i]));
	cr_assert_str_eq(get_string(config, "pool.compressor"), "lz4");
	json_object_put(object);
}

Test(protocol, stats_fields_match_struct)
{
	struct proto_stats stats;
	size_t n = 0;

	fill_stats(&stats);
	for (const struct proto_stat_field *f = proto_stat_fields; f->name; f++, n++) {
		uint64_t value;

		cr_assert_lt(f->offset, offsetof(struct proto_stats, read_latency_us), "%s", f->name);
		memcpy(&value, (const char *)&stats + f->offset, sizeof(value));
		cr_assert_eq(value, 1000 + f->offset / sizeof(uint64_t), "%s", f->name);
		cr_assert_not_null(f->help);
		if (f->kind == PROTO_STAT_COUNTER)
			cr_assert_geq(f->offset, offsetof(struct proto_stats, reads), "%s", f->name);
		else
			cr_assert_lt(f->offset, offsetof(struct proto_stats, reads), "%s", f->name);
	}
	cr_assert_eq(n, offsetof(struct proto_stats, read_latency_us) / sizeof(uint64_t),
		     "a struct proto_stats counter has no proto_stat_fields entry");
}

Test(protocol, stats_reply_round_trip, .init = config_setup, .fini = config_teardown)
{
	struct proto_stats stats;
	struct varlink_reply reply;
	size_t size;
	char *msg;

	memset(&stats, 0xff, offsetof(struct proto_stats, version));
	stats.version = NULL;
	cr_assert_eq(proto_build_stats_reply(&stats, &test_config, &msg, &size), 0);
	reparse(msg, size, &reply);
	cr_assert_null(reply.error);
	cr_assert_eq(get_u64(reply.parameters, "io_errors"), UINT64_MAX);
	cr_assert_eq(get_u64(reply.parameters, "writes"), UINT64_MAX);
	varlink_reply_done(&reply);
}

Test(protocol, config_reply, .init = config_setup, .fini = config_teardown)
{
	struct json_object *config;
	struct varlink_reply reply;
	size_t size, n = 0;
	char *msg = NULL;

	cr_assert_eq(proto_build_config_reply(&test_config, NULL, &msg, &size), 0);
	reparse(msg, size, &reply);
	cr_assert(json_object_object_get_ex(reply.parameters, "config", &config));
	/* In file order: the order config_keys[] lists them. */
	json_object_object_foreach(config, key, value) {
		cr_assert_str_eq(key, config_keys[n], "key %zu", n);
		cr_assert(json_object_is_type(value, json_type_string));
		n++;
	}
	cr_assert_null(config_keys[n]);
	varlink_reply_done(&reply);

	cr_assert_eq(proto_build_config_reply(&test_config, "device.size", &msg, &size), 0);
	reparse(msg, size, &reply);
	cr_assert(json_object_object_get_ex(reply.parameters, "config", &config));
	cr_assert_eq(json_object_object_length(config), 1);
	cr_assert_str_eq(get_string(config, "device.size"), "1G");
	varlink_reply_done(&reply);

	msg = NULL;
	cr_assert_eq(proto_build_config_reply(&test_config, "device.sizes", &msg, &size), -ENOENT);
	cr_assert_eq(proto_build_config_reply(&test_config, "", &msg, &size), -ENOENT);
	cr_assert_null(msg);
}

/* ---- client side: typed calls and replies ---- */

Test(protocol, typed_calls_round_trip)
{
	static const struct proto_request calls[] = {
		{ .method = PROTO_METHOD_GET_STATS },
		{ .method = PROTO_METHOD_GET_CONFIG },
		{ .method = PROTO_METHOD_GET_CONFIG, .get_config.key = "pool.limit" },
		{ .method = PROTO_METHOD_SET_CONFIG, .set_config = { "pool.limit", "25%" } },
		{ .method = PROTO_METHOD_FLUSH, .more = true },
		{ .method = PROTO_METHOD_FLUSH, .flush = { 60, 1 << 20 }, .oneway = true },
		{ .method = PROTO_METHOD_RECOMPRESS, .more = true },
		{ .method = PROTO_METHOD_RECOMPRESS, .recompress.idle_seconds = { true, 0 } },
		{ .method = PROTO_METHOD_RECOMPRESS, .recompress.idle_seconds = { true, 600 } },
		{ .method = PROTO_METHOD_GET_INTERFACE_DESCRIPTION,
		  .describe.interface = "io.swapdev" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(calls); i++) {
		const struct proto_request *want = &calls[i];
		struct varlink_refusal refusal;
		struct proto_request got;
		size_t size;
		char *msg;

		cr_assert_eq(proto_build_call(want, &msg, &size), 0, "call %zu", i);
		cr_assert_eq(proto_parse_request(msg, size - 1, &got, &refusal), 0, "%s", msg);
		cr_assert_eq(got.method, want->method, "%s", msg);
		cr_assert_eq(got.more, want->more, "%s", msg);
		cr_assert_eq(got.oneway, want->oneway, "%s", msg);
		switch (want->method) {
		case PROTO_METHOD_GET_CONFIG:
			cr_assert_eq(!got.get_config.key, !want->get_config.key, "%s", msg);
			break;
		case PROTO_METHOD_SET_CONFIG:
			cr_assert_str_eq(got.set_config.key, want->set_config.key);
			cr_assert_str_eq(got.set_config.value, want->set_config.value);
			break;
		case PROTO_METHOD_FLUSH:
			cr_assert_eq(got.flush.idle_seconds, want->flush.idle_seconds);
			cr_assert_eq(got.flush.limit_bytes, want->flush.limit_bytes);
			break;
		case PROTO_METHOD_RECOMPRESS:
			cr_assert_eq(got.recompress.idle_seconds.given,
				     want->recompress.idle_seconds.given, "%s", msg);
			cr_assert_eq(got.recompress.idle_seconds.value,
				     want->recompress.idle_seconds.value, "%s", msg);
			break;
		default:
			break;
		}
		proto_request_done(&got);
		free(msg);
	}
	/* The CLI's calls are what they were: optional parameters left out. */
	{
		struct proto_request flush = { .method = PROTO_METHOD_FLUSH, .more = true };
		size_t size;
		char *msg;

		cr_assert_eq(proto_build_call(&flush, &msg, &size), 0);
		cr_assert_str_eq(msg, "{\"method\":\"io.swapdev.Flush\",\"parameters\":{},\"more\":true}");
		free(msg);
	}
	cr_assert_eq(proto_build_call(&(struct proto_request){ .method = PROTO_METHOD_SET_CONFIG },
				      &(char *){ NULL }, &(size_t){ 0 }),
		     -EINVAL, "a required string is missing");
	cr_assert_eq(proto_build_call(&(struct proto_request){ .method = _PROTO_METHOD_MAX },
				      &(char *){ NULL }, &(size_t){ 0 }),
		     -EINVAL);
}

Test(protocol, typed_stats_round_trip, .init = config_setup, .fini = config_teardown)
{
	struct proto_stats sent, got;
	struct json_object *object, *config;

	fill_stats(&sent);
	cr_assert_eq(proto_stats_to_json(&sent, &test_config, &object), 0);
	memset(&got, 0xa5, sizeof(got));
	proto_read_stats(object, &got, &config);
	cr_assert_eq(memcmp(&got, &sent, offsetof(struct proto_stats, version)), 0,
		     "every member comes back");
	cr_assert_str_eq(got.version, "1.2.3");
	cr_assert_str_eq(proto_config_value(config, "pool.compressor"), "lz4");
	cr_assert_null(proto_config_value(config, "no.such_key"));
	json_object_put(object);

	/* Missing or mistyped fields read as 0 (an older or newer daemon). */
	object = json_tokener_parse("{\"reads\":\"many\",\"writes\":-1,\"io_errors\":7}");
	proto_read_stats(object, &got, &config);
	cr_assert_eq(got.reads, 0);
	cr_assert_eq(got.writes, 0);
	cr_assert_eq(got.io_errors, 7);
	cr_assert_eq(got.read_latency_us.p99, 0);
	cr_assert_eq(got.read_latency_histogram.nr_buckets, 0);
	cr_assert_null(got.version);
	cr_assert_null(config);
	json_object_put(object);
}

Test(protocol, typed_replies_round_trip)
{
	struct proto_status status = {
		.state = "running",
		.device = "/run/swapdev/swap",
		.loop_device = "/dev/loop3",
		.swap_active = true,
		.uptime_seconds = 42,
		.version = "0.1.0",
	}, got;
	struct proto_flush_reply flush;
	struct proto_error_reply error;
	struct varlink_reply reply;
	size_t size;
	char *msg;

	cr_assert_eq(proto_build_status_reply(&status, &msg, &size), 0);
	reparse(msg, size, &reply);
	proto_read_status(reply.parameters, &got);
	cr_assert_str_eq(got.state, status.state);
	cr_assert_str_eq(got.device, status.device);
	cr_assert_str_eq(got.loop_device, status.loop_device);
	cr_assert(got.swap_active);
	cr_assert_eq(got.uptime_seconds, 42);
	cr_assert_str_eq(got.version, status.version);
	varlink_reply_done(&reply);

	cr_assert_eq(proto_build_flush_progress(3, 9, &msg, &size), 0);
	reparse(msg, size, &reply);
	proto_read_flush(reply.parameters, &flush);
	cr_assert_eq(flush.done_pages, 3);
	cr_assert_eq(flush.total_pages, 9);
	varlink_reply_done(&reply);
	cr_assert_eq(proto_build_flush_result(9, &msg, &size), 0);
	reparse(msg, size, &reply);
	proto_read_flush(reply.parameters, &flush);
	cr_assert_eq(flush.written_pages, 9);
	varlink_reply_done(&reply);

	cr_assert_eq(proto_build_invalid_parameter("value", "not a size", &msg, &size), 0);
	reparse(msg, size, &reply);
	proto_read_error(reply.parameters, &error);
	cr_assert_str_eq(error.parameter, "value");
	cr_assert_str_eq(error.message, "not a size");
	cr_assert_null(error.key);
	varlink_reply_done(&reply);
	cr_assert_eq(proto_build_not_runtime_tunable("device.size", &msg, &size), 0);
	reparse(msg, size, &reply);
	proto_read_error(reply.parameters, &error);
	cr_assert_str_eq(error.key, "device.size");
	varlink_reply_done(&reply);
}
