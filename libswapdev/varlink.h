/* SPDX-License-Identifier: MIT */
/*
 * varlink.h - the Varlink wire format, knowing no interface but
 * org.varlink.service.
 *
 * Wire format (https://varlink.org): each message is one JSON object
 * followed by a NUL byte. A call is {"method": "io.example.Method",
 * "parameters": {...}, "more": true, "oneway": true}; a reply is
 * {"parameters": {...}, "continues": true} or an error {"error":
 * "io.example.Failed", "parameters": {...}}.
 *
 * This module turns bytes into envelopes and back: framing, the call and
 * reply envelopes, the method name grammar and error replies. It does no
 * I/O, keeps no state and never logs, so that it can be fuzzed alone. What
 * a method's parameters mean is the business of the interface module
 * (protocol.h for io.swapdev).
 *
 * Wire buffers returned by the varlink_build_*() functions are malloc'd,
 * NUL-terminated, and their *ret_size counts the NUL: write exactly that
 * many bytes. Every builder returns 0, -ENOMEM, or -EMSGSIZE when the
 * message would exceed VARLINK_MAX_MESSAGE.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct json_object;

/* Largest message in either direction, its NUL terminator included. */
#define VARLINK_MAX_MESSAGE 65536

/* Longest interface.Method name accepted; also bounds names echoed in errors. */
#define VARLINK_NAME_MAX 256

#define VARLINK_SERVICE_INTERFACE "org.varlink.service"
/* Errors of org.varlink.service: the request itself is at fault. */
#define VARLINK_ERROR_INTERFACE_NOT_FOUND "org.varlink.service.InterfaceNotFound"
#define VARLINK_ERROR_METHOD_NOT_FOUND	  "org.varlink.service.MethodNotFound"
#define VARLINK_ERROR_INVALID_PARAMETER	  "org.varlink.service.InvalidParameter"

/* The IDL text of org.varlink.service, as every Varlink service describes it. */
extern const char varlink_service_description[];

/* Flags of a call (varlink_build_call). */
#define VARLINK_MORE   0x1u /* the caller accepts several replies ("continues") */
#define VARLINK_ONEWAY 0x2u /* the caller wants no reply at all */

/*
 * Framing: find the first complete message in buf[0, len). Returns 1 and
 * sets *ret_msg_len to the length of its JSON text (the caller then
 * consumes *ret_msg_len + 1 bytes, the NUL included); 0 when no NUL has
 * arrived yet and more data may complete the message; -EMSGSIZE when the
 * message is, or is bound to become, longer than VARLINK_MAX_MESSAGE.
 */
int varlink_frame(const void *buf, size_t len, size_t *ret_msg_len);

/* A parsed call envelope. method and parameters point into message. */
struct varlink_call {
	struct json_object *message;	/* the whole call, owned */
	const char *method;		/* well-formed interface.Method */
	struct json_object *parameters; /* NULL when absent or null */
	bool more;
	bool oneway;
};

/* Why a call was refused: the error reply to send (varlink_build_refusal). */
struct varlink_refusal {
	const char *error;	      /* Varlink error name */
	const char *field;	      /* the error's one parameter: "parameter", "method", ... */
	char value[VARLINK_NAME_MAX]; /* its value: the parameter, method or interface at fault */
	bool oneway;		      /* the caller asked for no reply: send none */
};

/*
 * Parse a call's envelope (msg[0, len), without its NUL). Returns 0 and
 * fills *ret_call; -EBADMSG when msg is not a JSON object (not a Varlink
 * message: close the connection, no reply is possible); -EINVAL when the
 * envelope is wrong (a missing or mistyped method, a malformed method
 * name, a field other than method, parameters, more and oneway):
 * *ret_refusal says which error to reply with; -EMSGSIZE; -ENOMEM.
 * ret_refusal->oneway is set whenever the call said oneway, even on -EINVAL.
 */
int varlink_parse_call(const char *msg, size_t len, struct varlink_call *ret_call,
		       struct varlink_refusal *ret_refusal);
/* Release a call; accepts a zeroed or already released one. */
void varlink_call_done(struct varlink_call *call);

/* Fill refusal with error and its one field = value (truncated); returns -EINVAL. */
int varlink_refuse(struct varlink_refusal *refusal, const char *error, const char *field,
		   const char *value);
/* org.varlink.service.InvalidParameter naming parameter; returns -EINVAL. */
int varlink_refuse_parameter(struct varlink_refusal *refusal, const char *parameter);

/* True for interface "." Method as Varlink's grammar has it, shorter than VARLINK_NAME_MAX. */
bool varlink_method_name_valid(const char *name);
/* True for a JSON string without "\u0000" in it: C code sees all of it. */
bool varlink_is_plain_string(struct json_object *value);

/* Build a call of method (fully qualified) with parameters (borrowed, NULL
 * for none) and VARLINK_MORE / VARLINK_ONEWAY flags. */
int varlink_build_call(const char *method, struct json_object *parameters, unsigned flags,
		       char **ret_msg, size_t *ret_size);
/* A reply: parameters borrowed (NULL: empty object). */
int varlink_build_reply(struct json_object *parameters, bool continues, char **ret_msg,
			size_t *ret_size);
/* An error reply: parameters borrowed (NULL: empty object). */
int varlink_build_error(const char *error, struct json_object *parameters, char **ret_msg,
			size_t *ret_size);
/* The error reply for a call refused with -EINVAL. */
int varlink_build_refusal(const struct varlink_refusal *refusal, char **ret_msg, size_t *ret_size);

/* A parsed reply. The pointers point into message and live as long as it. */
struct varlink_reply {
	struct json_object *message;	/* the whole reply, owned */
	struct json_object *parameters; /* never NULL: {} when the reply has none */
	const char *error;		/* NULL, or the Varlink error name */
	bool continues;			/* more replies follow (never with an error) */
};

/*
 * Parse one reply (msg[0, len), without its NUL). Returns 0, -EBADMSG when
 * it is not a well-formed Varlink reply, -EMSGSIZE, -ENOMEM. Unknown
 * fields are ignored: newer servers may add some.
 */
int varlink_parse_reply(const char *msg, size_t len, struct varlink_reply *ret_reply);
/* Release a reply; accepts a zeroed or already released one. */
void varlink_reply_done(struct varlink_reply *reply);

/* Add key = value to object, consuming value (NULL is taken for a failed
 * allocation). Returns 0 or -ENOMEM. */
int varlink_object_add(struct json_object *object, const char *key, struct json_object *value);
