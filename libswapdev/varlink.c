/* SPDX-License-Identifier: MIT */
/*
 * varlink.c - Varlink framing and envelopes, for any interface.
 *
 * The one piece of swapdevd that reads untrusted input starts here: a
 * client's bytes are cut at the NUL (varlink_frame), parsed by json-c into
 * one object, and the envelope checked in one pass (method, parameters,
 * more, oneway; anything else, "upgrade" included, is refused) before any
 * interface sees the call. The method name is checked against Varlink's
 * grammar here too, so that an interface module only has to look names up.
 * Every refusal names the field at fault and becomes an error reply of
 * org.varlink.service (struct varlink_refusal).
 *
 * json-c runs in strict mode with UTF-8 validation and a small nesting
 * limit; it still accepts a few extensions (single quotes, NaN), which are
 * harmless here. Strings in parsed calls and replies point into the json-c
 * object tree, which the caller keeps until *_done().
 *
 * Nothing here knows io.swapdev: protocol.c builds that interface on top,
 * and tests/fuzz/fuzz-varlink.c fuzzes this layer alone.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "varlink.h"

/* Calls are flat; this only bounds how deep a hostile message can nest. */
#define VARLINK_JSON_DEPTH 16

/* The standard service interface, as every Varlink service describes it. */
const char varlink_service_description[] =
	"# The Varlink Service Interface is provided by every varlink service. It\n"
	"# describes the service and the interfaces it implements.\n"
	"interface org.varlink.service\n"
	"\n"
	"# Get a list of all the interfaces a service provides and information\n"
	"# about the implementation.\n"
	"method GetInfo() -> (\n"
	"\tvendor: string,\n"
	"\tproduct: string,\n"
	"\tversion: string,\n"
	"\turl: string,\n"
	"\tinterfaces: []string\n"
	")\n"
	"\n"
	"# Get the description of an interface that is implemented by this service.\n"
	"method GetInterfaceDescription(interface: string) -> (description: string)\n"
	"\n"
	"# The requested interface was not found.\n"
	"error InterfaceNotFound (interface: string)\n"
	"\n"
	"# The requested method was not found\n"
	"error MethodNotFound (method: string)\n"
	"\n"
	"# The interface defines the requested method, but the service does not\n"
	"# implement it.\n"
	"error MethodNotImplemented (method: string)\n"
	"\n"
	"# One of the passed parameters is invalid.\n"
	"error InvalidParameter (parameter: string)\n";

int varlink_frame(const void *buf, size_t len, size_t *ret_msg_len)
{
	const char *nul = memchr(buf, '\0', MIN(len, (size_t)VARLINK_MAX_MESSAGE));

	if (nul) {
		*ret_msg_len = (size_t)(nul - (const char *)buf);
		return 1;
	}
	return len >= VARLINK_MAX_MESSAGE ? -EMSGSIZE : 0;
}

/* Parse msg into a JSON object. -EMSGSIZE, -EBADMSG (not one JSON object), -ENOMEM. */
static int parse_object(const char *msg, size_t len, struct json_object **ret_object)
{
	struct json_tokener *tok;
	struct json_object *object;
	int r = 0;

	if (len >= VARLINK_MAX_MESSAGE)
		return -EMSGSIZE;
	/* The NUL is the frame's end: one inside would hide the rest from json-c. */
	if (memchr(msg, '\0', len))
		return -EBADMSG;

	tok = json_tokener_new_ex(VARLINK_JSON_DEPTH);
	if (!tok)
		return -ENOMEM;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	object = json_tokener_parse_ex(tok, msg, (int)len);
	if (!object) {
		/* Also "continue": the text ended inside a value, truncated. */
		r = -EBADMSG;
	} else if (!json_object_is_type(object, json_type_object)) {
		json_object_put(object);
		r = -EBADMSG;
	} else {
		*ret_object = object;
	}
	json_tokener_free(tok);
	return r;
}

bool varlink_is_plain_string(struct json_object *value)
{
	return json_object_is_type(value, json_type_string) &&
	       strlen(json_object_get_string(value)) == (size_t)json_object_get_string_len(value);
}

int varlink_refuse(struct varlink_refusal *refusal, const char *error, const char *field,
		   const char *value)
{
	refusal->error = error;
	refusal->field = field;
	snprintf(refusal->value, sizeof(refusal->value), "%s", value);
	return -EINVAL;
}

int varlink_refuse_parameter(struct varlink_refusal *refusal, const char *parameter)
{
	return varlink_refuse(refusal, VARLINK_ERROR_INVALID_PARAMETER, "parameter", parameter);
}

/* "Reverse-domain interface name" segment: [A-Za-z0-9] with inner dashes. */
static bool interface_segment_valid(const char *s, size_t len)
{
	if (len == 0 || s[0] == '-' || s[len - 1] == '-')
		return false;
	for (size_t i = 0; i < len; i++)
		if (!(s[i] == '-' || (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= 'A' && s[i] <= 'Z')))
			return false;
	return true;
}

/* Varlink's grammar: interface (two or more dotted segments) "." Method (CamelCase). */
bool varlink_method_name_valid(const char *name)
{
	const char *dot = strrchr(name, '.');
	const char *segment = name;
	unsigned segments = 0;

	if (!dot || strlen(name) >= VARLINK_NAME_MAX || !(dot[1] >= 'A' && dot[1] <= 'Z'))
		return false;
	for (const char *c = dot + 1; *c; c++)
		if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'z') ||
		      (*c >= 'A' && *c <= 'Z')))
			return false;
	if (!((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= 'A' && name[0] <= 'Z')))
		return false;
	while (segment < dot) {
		const char *end = memchr(segment, '.', (size_t)(dot - segment));

		if (!end)
			end = dot;
		if (!interface_segment_valid(segment, (size_t)(end - segment)))
			return false;
		segments++;
		segment = end + 1;
	}
	return segments >= 2;
}

/* Check the envelope of message into call (its message already set). */
static int parse_envelope(struct varlink_call *call, struct varlink_refusal *refusal)
{
	struct json_object *message = call->message;

	/* oneway first: it decides whether a refusal gets a reply at all. */
	json_object_object_foreach(message, name, value) {
		if (strcmp(name, "oneway") == 0 && json_object_is_type(value, json_type_boolean))
			refusal->oneway = json_object_get_boolean(value);
	}
	json_object_object_foreach(message, key, field) {
		if (strcmp(key, "method") == 0) {
			if (!varlink_is_plain_string(field))
				return varlink_refuse_parameter(refusal, key);
			call->method = json_object_get_string(field);
		} else if (strcmp(key, "parameters") == 0) {
			if (json_object_is_type(field, json_type_object))
				call->parameters = field;
			else if (!json_object_is_type(field, json_type_null))
				return varlink_refuse_parameter(refusal, key);
		} else if (strcmp(key, "more") == 0 || strcmp(key, "oneway") == 0) {
			if (!json_object_is_type(field, json_type_boolean))
				return varlink_refuse_parameter(refusal, key);
			if (key[0] == 'm')
				call->more = json_object_get_boolean(field);
			else
				call->oneway = json_object_get_boolean(field);
		} else {
			/* Includes "upgrade": no method here hands the connection over. */
			return varlink_refuse_parameter(refusal, key);
		}
	}
	if (!call->method || !varlink_method_name_valid(call->method))
		return varlink_refuse_parameter(refusal, "method");
	return 0;
}

int varlink_parse_call(const char *msg, size_t len, struct varlink_call *ret_call,
		       struct varlink_refusal *ret_refusal)
{
	struct varlink_call call = { 0 };
	struct varlink_refusal refusal = { 0 };
	int r;

	r = parse_object(msg, len, &call.message);
	if (r < 0)
		return r;
	r = parse_envelope(&call, &refusal);
	if (r < 0) {
		json_object_put(call.message);
		*ret_refusal = refusal;
		return r;
	}
	*ret_call = call;
	/* The interface may still refuse the call: it needs to know about oneway. */
	*ret_refusal = refusal;
	return 0;
}

void varlink_call_done(struct varlink_call *call)
{
	if (!call)
		return;
	json_object_put(call->message);
	*call = (struct varlink_call){ 0 };
}


/* Serialize object (consumed) into a malloc'd NUL-terminated message. */
static int build_message(struct json_object *object, char **ret_msg, size_t *ret_size)
{
	const char *text;
	size_t len;
	char *msg;
	int r = 0;

	if (!object)
		return -ENOMEM;
	text = json_object_to_json_string_length(object, JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	if (!text) {
		r = -ENOMEM;
	} else if (len >= VARLINK_MAX_MESSAGE) {
		r = -EMSGSIZE;
	} else {
		msg = malloc(len + 1);
		if (!msg) {
			r = -ENOMEM;
		} else {
			memcpy(msg, text, len + 1);
			*ret_msg = msg;
			*ret_size = len + 1;
		}
	}
	json_object_put(object);
	return r;
}

/* Add key = value to object, consuming value. -ENOMEM (value released). */
int varlink_object_add(struct json_object *object, const char *key, struct json_object *value)
{
	if (!value)
		return -ENOMEM;
	if (json_object_object_add(object, key, value) < 0) {
		json_object_put(value);
		return -ENOMEM;
	}
	return 0;
}

/* A fresh reference to parameters, or a new empty object. */
static struct json_object *parameters_or_empty(struct json_object *parameters)
{
	return parameters ? json_object_get(parameters) : json_object_new_object();
}

int varlink_build_call(const char *method, struct json_object *parameters, unsigned flags,
			char **ret_msg, size_t *ret_size)
{
	struct json_object *call = json_object_new_object();
	int r;

	if (!call)
		return -ENOMEM;
	r = varlink_object_add(call, "method", json_object_new_string(method));
	if (r >= 0)
		r = varlink_object_add(call, "parameters", parameters_or_empty(parameters));
	if (r >= 0 && (flags & VARLINK_MORE))
		r = varlink_object_add(call, "more", json_object_new_boolean(true));
	if (r >= 0 && (flags & VARLINK_ONEWAY))
		r = varlink_object_add(call, "oneway", json_object_new_boolean(true));
	if (r < 0) {
		json_object_put(call);
		return r;
	}
	return build_message(call, ret_msg, ret_size);
}

/* A reply, or an error reply when error is not NULL; parameters consumed. */
static int build_reply(const char *error, struct json_object *parameters, bool continues,
		       char **ret_msg, size_t *ret_size)
{
	struct json_object *reply = json_object_new_object();
	int r = reply ? 0 : -ENOMEM;

	if (r >= 0 && error)
		r = varlink_object_add(reply, "error", json_object_new_string(error));
	if (r >= 0) {
		r = varlink_object_add(reply, "parameters", parameters);
		parameters = NULL;
	}
	if (r >= 0 && continues)
		r = varlink_object_add(reply, "continues", json_object_new_boolean(true));
	json_object_put(parameters);
	if (r < 0) {
		json_object_put(reply);
		return r;
	}
	return build_message(reply, ret_msg, ret_size);
}

int varlink_build_reply(struct json_object *parameters, bool continues, char **ret_msg,
			size_t *ret_size)
{
	return build_reply(NULL, parameters_or_empty(parameters), continues, ret_msg, ret_size);
}

int varlink_build_error(const char *error, struct json_object *parameters, char **ret_msg,
			size_t *ret_size)
{
	return build_reply(error, parameters_or_empty(parameters), false, ret_msg, ret_size);
}

int varlink_build_refusal(const struct varlink_refusal *refusal, char **ret_msg,
			  size_t *ret_size)
{
	struct json_object *parameters = json_object_new_object();

	if (parameters && refusal->field &&
	    varlink_object_add(parameters, refusal->field, json_object_new_string(refusal->value)) < 0) {
		json_object_put(parameters);
		parameters = NULL;
	}
	return build_reply(refusal->error, parameters, false, ret_msg, ret_size);
}

int varlink_parse_reply(const char *msg, size_t len, struct varlink_reply *ret_reply)
{
	struct varlink_reply reply = { 0 };
	int r;

	r = parse_object(msg, len, &reply.message);
	if (r < 0)
		return r;
	json_object_object_foreach(reply.message, key, field) {
		if (strcmp(key, "parameters") == 0) {
			if (json_object_is_type(field, json_type_object))
				reply.parameters = field;
			else if (!json_object_is_type(field, json_type_null))
				r = -EBADMSG;
		} else if (strcmp(key, "error") == 0) {
			if (json_object_is_type(field, json_type_string))
				reply.error = json_object_get_string(field);
			else
				r = -EBADMSG;
		} else if (strcmp(key, "continues") == 0) {
			if (json_object_is_type(field, json_type_boolean))
				reply.continues = json_object_get_boolean(field);
			else
				r = -EBADMSG;
		}
		/* Other fields are ignored: newer servers may add some. */
	}
	if (r >= 0 && reply.error && reply.error[0] == '\0')
		r = -EBADMSG;
	if (r >= 0 && !reply.parameters) {
		reply.parameters = json_object_new_object();
		r = varlink_object_add(reply.message, "parameters", reply.parameters);
	}
	if (r < 0) {
		json_object_put(reply.message);
		return r;
	}
	/* An error ends the call whatever else the reply says. */
	if (reply.error)
		reply.continues = false;
	*ret_reply = reply;
	return 0;
}

void varlink_reply_done(struct varlink_reply *reply)
{
	if (!reply)
		return;
	json_object_put(reply->message);
	*reply = (struct varlink_reply){ 0 };
}
