/* SPDX-License-Identifier: MIT */
/*
 * test-varlink.c - the generic Varlink layer: framing, the call envelope
 * and its refusals, the method name grammar, reply and error building
 * round-tripped through the reply parser. No interface is known here: the
 * method names are made up.
 */
#include <criterion/criterion.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "varlink.h"

/* ---- framing ---- */

Test(varlink, frame_waits_for_nul)
{
	size_t len = 1234;

	cr_assert_eq(varlink_frame("", 0, &len), 0);
	cr_assert_eq(varlink_frame("{\"method\":", 10, &len), 0);
	cr_assert_eq(len, 1234, "ret_msg_len must stay untouched without a message");
}

Test(varlink, frame_two_messages_in_one_buffer)
{
	static const char buf[] = "{\"a\":1}\0{\"b\":2}\0{\"c\"";
	size_t len, offset = 0;

	cr_assert_eq(varlink_frame(buf, sizeof(buf) - 1, &len), 1);
	cr_assert_eq(len, 7);
	cr_assert_str_eq(buf, "{\"a\":1}");
	offset = len + 1;
	cr_assert_eq(varlink_frame(buf + offset, sizeof(buf) - 1 - offset, &len), 1);
	cr_assert_eq(len, 7);
	cr_assert_str_eq(buf + offset, "{\"b\":2}");
	offset += len + 1;
	cr_assert_eq(varlink_frame(buf + offset, sizeof(buf) - 1 - offset, &len), 0,
		     "a partial third message waits for more");
}

Test(varlink, frame_size_limit)
{
	char *buf = malloc(VARLINK_MAX_MESSAGE + 1);
	size_t len;

	cr_assert_not_null(buf);
	memset(buf, ' ', VARLINK_MAX_MESSAGE + 1);
	cr_assert_eq(varlink_frame(buf, VARLINK_MAX_MESSAGE - 1, &len), 0);
	cr_assert_eq(varlink_frame(buf, VARLINK_MAX_MESSAGE, &len), -EMSGSIZE);
	cr_assert_eq(varlink_frame(buf, VARLINK_MAX_MESSAGE + 1, &len), -EMSGSIZE);

	/* The largest message: VARLINK_MAX_MESSAGE bytes with its NUL. */
	buf[VARLINK_MAX_MESSAGE - 1] = '\0';
	cr_assert_eq(varlink_frame(buf, VARLINK_MAX_MESSAGE + 1, &len), 1);
	cr_assert_eq(len, VARLINK_MAX_MESSAGE - 1);

	buf[VARLINK_MAX_MESSAGE - 1] = ' ';
	buf[VARLINK_MAX_MESSAGE] = '\0';
	cr_assert_eq(varlink_frame(buf, VARLINK_MAX_MESSAGE + 1, &len), -EMSGSIZE,
		     "one byte too long is refused even when its NUL is there");
	free(buf);
}

/* ---- call envelopes ---- */

static int parse_call(const char *text, struct varlink_call *call, struct varlink_refusal *refusal)
{
	return varlink_parse_call(text, strlen(text), call, refusal);
}

Test(varlink, call_envelope)
{
	struct varlink_call call;
	struct varlink_refusal refusal;

	cr_assert_eq(parse_call("{\"method\":\"org.example.Do\",\"parameters\":{\"x\":1},"
				"\"more\":true}",
				&call, &refusal),
		     0);
	cr_assert_str_eq(call.method, "org.example.Do");
	cr_assert(call.more);
	cr_assert_not(call.oneway);
	cr_assert_not_null(call.parameters);
	cr_assert_eq(json_object_get_int(json_object_object_get(call.parameters, "x")), 1);
	varlink_call_done(&call);
	varlink_call_done(&call);

	cr_assert_eq(parse_call("{\"method\":\"a.b.C\",\"parameters\":null,\"oneway\":true}", &call,
				&refusal),
		     0);
	cr_assert_null(call.parameters);
	cr_assert(call.oneway);
	varlink_call_done(&call);
}

Test(varlink, call_refusals)
{
	static const struct {
		const char *text;
		const char *parameter;
	} cases[] = {
	    {"{}", "method"},
	    {"{\"method\":1}", "method"},
	    {"{\"method\":\"a.b.C\\u0000x\"}", "method"},
	    {"{\"method\":\"noInterface\"}", "method"},
	    {"{\"method\":\"one.lower\"}", "method"},
	    {"{\"method\":\"single.Segment\"}", "method"},
	    {"{\"method\":\"a.-b.C\"}", "method"},
	    {"{\"method\":\"a.b.C\",\"parameters\":[]}", "parameters"},
	    {"{\"method\":\"a.b.C\",\"more\":1}", "more"},
	    {"{\"method\":\"a.b.C\",\"oneway\":\"yes\"}", "oneway"},
	    {"{\"method\":\"a.b.C\",\"upgrade\":true}", "upgrade"},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct varlink_call call = {.method = "untouched"};
		struct varlink_refusal refusal = {0};
		int r = parse_call(cases[i].text, &call, &refusal);

		cr_assert_eq(r, -EINVAL, "case %zu: %s -> %d", i, cases[i].text, r);
		cr_assert_str_eq(call.method, "untouched", "case %zu", i);
		cr_assert_str_eq(refusal.error, VARLINK_ERROR_INVALID_PARAMETER, "case %zu", i);
		cr_assert_str_eq(refusal.field, "parameter", "case %zu", i);
		cr_assert_str_eq(refusal.value, cases[i].parameter, "case %zu", i);
	}
}

Test(varlink, not_a_message)
{
	static const char *const cases[] = {"", "[]", "1", "\"x\"", "{", "{\"method\":"};
	struct varlink_call call;
	struct varlink_refusal refusal;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		cr_assert_eq(parse_call(cases[i], &call, &refusal), -EBADMSG, "case %zu", i);
	cr_assert_eq(varlink_parse_call("{}\0{}", 5, &call, &refusal), -EBADMSG,
		     "a NUL inside a message hides the rest from json-c");
}

Test(varlink, oneway_refusal_wants_no_reply)
{
	struct varlink_call call;
	struct varlink_refusal refusal = {0};

	cr_assert_eq(
	    parse_call("{\"oneway\":true,\"bogus\":1,\"method\":\"a.b.C\"}", &call, &refusal),
	    -EINVAL);
	cr_assert(refusal.oneway);
}

Test(varlink, method_name_grammar)
{
	static const struct {
		const char *name;
		bool valid;
	} cases[] = {
	    {"org.varlink.service.GetInfo", true},
	    {"io.swapdev.Flush", true},
	    {"a-b.c.D0", true},
	    {"a.B", false}, /* an interface has two segments or more */
	    {"a.b.c", false},
	    {"a.b.C-d", false},
	    {"a..b.C", false},
	    {"a.b-.C", false},
	    {"0a.b.C", false},
	    {".a.b.C", false},
	    {"a.b.", false},
	    {"Method", false},
	    {"", false},
	};
	char long_name[VARLINK_NAME_MAX + 8];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		cr_assert_eq(varlink_method_name_valid(cases[i].name), cases[i].valid, "%s",
			     cases[i].name);
	memset(long_name, 'a', sizeof(long_name));
	memcpy(long_name + sizeof(long_name) - 6, ".b.Cd", 6);
	cr_assert_not(varlink_method_name_valid(long_name));
}

/* ---- building ---- */

static void parse_built(int r, char *msg, size_t size, struct varlink_reply *reply)
{
	cr_assert_eq(r, 0);
	cr_assert_eq(msg[size - 1], '\0');
	cr_assert_eq(strlen(msg), size - 1);
	cr_assert_eq(varlink_parse_reply(msg, size - 1, reply), 0, "reply: %s", msg);
	free(msg);
}

Test(varlink, call_round_trip)
{
	struct json_object *parameters = json_object_new_object();
	struct varlink_refusal refusal;
	struct varlink_call call;
	char *msg;
	size_t size;

	cr_assert_eq(varlink_object_add(parameters, "key", json_object_new_string("v")), 0);
	cr_assert_eq(
	    varlink_build_call("a.b.C", parameters, VARLINK_MORE | VARLINK_ONEWAY, &msg, &size), 0);
	json_object_put(parameters);
	cr_assert_eq(varlink_parse_call(msg, size - 1, &call, &refusal), 0, "%s", msg);
	cr_assert_str_eq(call.method, "a.b.C");
	cr_assert(call.more);
	cr_assert(call.oneway);
	cr_assert_str_eq(json_object_get_string(json_object_object_get(call.parameters, "key")),
			 "v");
	varlink_call_done(&call);
	free(msg);

	cr_assert_eq(varlink_build_call("a.b.C", NULL, 0, &msg, &size), 0);
	cr_assert_str_eq(msg, "{\"method\":\"a.b.C\",\"parameters\":{}}");
	free(msg);
}

Test(varlink, replies_and_errors)
{
	struct varlink_refusal refusal = {
	    .error = VARLINK_ERROR_METHOD_NOT_FOUND, .field = "method", .value = "a.b.C"};
	struct varlink_reply reply;
	char *msg;
	size_t size;
	int r;

	r = varlink_build_reply(NULL, true, &msg, &size);
	cr_assert_str_eq(msg, "{\"parameters\":{},\"continues\":true}");
	parse_built(r, msg, size, &reply);
	cr_assert(reply.continues);
	cr_assert_null(reply.error);
	varlink_reply_done(&reply);

	r = varlink_build_error("a.b.Failed", NULL, &msg, &size);
	cr_assert_str_eq(msg, "{\"error\":\"a.b.Failed\",\"parameters\":{}}");
	parse_built(r, msg, size, &reply);
	cr_assert_str_eq(reply.error, "a.b.Failed");
	varlink_reply_done(&reply);

	r = varlink_build_refusal(&refusal, &msg, &size);
	cr_assert_str_eq(msg, "{\"error\":\"org.varlink.service.MethodNotFound\","
			      "\"parameters\":{\"method\":\"a.b.C\"}}");
	parse_built(r, msg, size, &reply);
	varlink_reply_done(&reply);
}

Test(varlink, oversized_message_is_refused)
{
	struct json_object *parameters = json_object_new_object();
	char *big = malloc(VARLINK_MAX_MESSAGE);
	char *msg = NULL;
	size_t size;

	memset(big, 'x', VARLINK_MAX_MESSAGE - 1);
	big[VARLINK_MAX_MESSAGE - 1] = '\0';
	cr_assert_eq(varlink_object_add(parameters, "big", json_object_new_string(big)), 0);
	cr_assert_eq(varlink_build_reply(parameters, false, &msg, &size), -EMSGSIZE);
	cr_assert_eq(varlink_build_error("a.b.E", parameters, &msg, &size), -EMSGSIZE);
	cr_assert_eq(varlink_build_call("a.b.C", parameters, 0, &msg, &size), -EMSGSIZE);
	cr_assert_null(msg);
	json_object_put(parameters);
	free(big);
}

/* ---- parsing replies ---- */

Test(varlink, parse_bad_replies)
{
	static const char *const cases[] = {
	    "",
	    "[]",
	    "{\"parameters\":[]}",
	    "{\"parameters\":1}",
	    "{\"error\":1}",
	    "{\"error\":\"\"}",
	    "{\"error\":null}",
	    "{\"continues\":\"true\"}",
	    "{\"parameters\":{}",
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct varlink_reply reply = {.error = "untouched"};
		int r = varlink_parse_reply(cases[i], strlen(cases[i]), &reply);

		cr_assert_eq(r, -EBADMSG, "case %zu: '%s' -> %d", i, cases[i], r);
		cr_assert_str_eq(reply.error, "untouched", "case %zu", i);
	}
}

Test(varlink, parse_lenient_replies)
{
	static const char both[] = "{\"error\":\"io.swapdev.Failed\",\"continues\":true}";
	static const char bare[] = "{\"continues\":true,\"future\":[1,2]}";
	struct varlink_reply reply;

	cr_assert_eq(varlink_parse_reply(both, strlen(both), &reply), 0);
	cr_assert_str_eq(reply.error, "io.swapdev.Failed");
	cr_assert_not(reply.continues, "an error ends the call");
	cr_assert_not_null(reply.parameters);
	varlink_reply_done(&reply);

	cr_assert_eq(varlink_parse_reply(bare, strlen(bare), &reply), 0);
	cr_assert_null(reply.error);
	cr_assert(reply.continues);
	cr_assert(json_object_is_type(reply.parameters, json_type_object));
	cr_assert_eq(json_object_object_length(reply.parameters), 0);
	varlink_reply_done(&reply);
}
