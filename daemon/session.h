/* SPDX-License-Identifier: MIT */
/*
 * session.h - what a new swapdevd needs to take over a live swap area from
 * the process before it, kept in a small memfd of its own ("session" in the
 * fd store, next to "fuse" and "state"; docs/RESTART.md).
 *
 *	session_new(&session)                      cold start: an empty record
 *	session_open(fd, &session, &record, error) adoption: the record found
 *	session_write(session, &record)            publish a new version
 *	session_fd(session)                        for FDSTORE=1
 *
 * The record is plain data (struct session_record); session_encode() and
 * session_decode() turn it into the memfd's bytes and back without any
 * I/O, so that they can be tested and fuzzed.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bumped whenever struct session_wire (session.c) changes. */
#define SESSION_LAYOUT_VERSION 1

/* What the recorded FUSE_INIT exchange may hold (104 and 80 bytes here). */
#define SESSION_INIT_MAX 512
#define SESSION_PATH_MAX 4096
#define SESSION_LOOP_MAX 32
/* Immutable keys as "key=value\n" lines; keys set with swapdevctl config set. */
#define SESSION_CONFIG_MAX 12288
#define SESSION_OVERRIDES_MAX 8192
#define SESSION_VERSION_MAX 64

enum session_flags {
	SESSION_ACTIVATED = 1u << 0, /* swapdevd attached the loop device and ran swapon */
};

struct session_record {
	uint32_t flags;
	int32_t priority;     /* device.priority the area was activated with */
	uint64_t device_size; /* bytes */
	uint32_t conn_id;     /* /sys/fs/fuse/connections/N */
	char loop_path[SESSION_LOOP_MAX]; /* "" when not activated */
	char mountpoint[SESSION_PATH_MAX];
	char file_path[SESSION_PATH_MAX];
	char daemon_version[SESSION_VERSION_MAX]; /* of the process that wrote it */
	/* The kernel's FUSE_INIT request as read from /dev/fuse, and libfuse's
	 * reply to it as libfuse wrote it (before fuse_ring.c's io_uring flag). */
	uint32_t init_request_len, init_reply_len;
	unsigned char init_request[SESSION_INIT_MAX];
	unsigned char init_reply[SESSION_INIT_MAX];
	/* The running values of the keys that only change at start. */
	char config[SESSION_CONFIG_MAX];
	/* Runtime keys changed with SetConfig since start or the last reload. */
	char overrides[SESSION_OVERRIDES_MAX];
};

/* Bytes one encoded copy takes; the memfd holds two (see session.c). */
size_t session_encoded_size(void);

/*
 * Encode record as copy number generation into buf (session_encoded_size()
 * bytes). Returns 0, or -EINVAL when a string is not NUL-terminated inside
 * its field or an INIT length exceeds SESSION_INIT_MAX.
 */
int session_encode(const struct session_record *record, uint64_t generation, void *buf,
		   size_t size);

/*
 * Decode one copy. Returns 0 with *ret_record and *ret_generation; -EBADMSG
 * (not a session record, or a checksum or field that does not hold: torn or
 * corrupt), -EPROTO (a layout version this binary does not know), or
 * -EINVAL (size too small). error (may be NULL) says which.
 */
int session_decode(const void *buf, size_t size, struct session_record *ret_record,
		   uint64_t *ret_generation, char *error, size_t error_size);

/*
 * Compare libfuse's reply to the recorded INIT request, fed again in this
 * process, with the reply recorded by the first one. The out headers differ
 * in their unique only. Returns 0 when they are the same, or -EPROTO with
 * the first difference in why (the field, both values).
 */
int session_init_reply_compare(const void *recorded, size_t recorded_len, const void *fresh,
			       size_t fresh_len, char *why, size_t why_size);

/* max_write of a recorded INIT reply, or 0 when the reply is too short. */
uint32_t session_init_max_write(const void *reply, size_t len);

/* Set key=value in a "key=value\n" list (overrides), replacing an older
 * value. Returns 0, -ENOSPC, or -EINVAL (a '=' or newline in key, a newline
 * in value). */
int session_list_set(char *list, size_t size, const char *key, const char *value);

/*
 * Call fn for each "key=value" line of list, stopping at its first
 * non-zero return, which is returned.
 */
int session_list_foreach(const char *list, int (*fn)(const char *key, const char *value,
						     void *userdata),
			 void *userdata);

struct session;

/* A fresh, empty session memfd (cold start). 0 or -errno. */
int session_new(struct session **ret_session);

/*
 * Take over the session memfd fd (its ownership passes to the session) and
 * read the newest valid copy of the record in it. Returns 0, -errno, or a
 * session_decode() error for the copy that was newest, error saying why.
 */
int session_open(int fd, struct session **ret_session, struct session_record *ret_record,
		 char *error, size_t error_size);

/*
 * Write record as the next version: into the copy that does not hold the
 * current one, so that a death in the middle leaves the older intact.
 * The session keeps it as its current record. Thread-safe. 0 or -errno.
 */
int session_write(struct session *session, const struct session_record *record);

/* The current record, copied (thread-safe). */
void session_get(struct session *session, struct session_record *ret_record);

/* Record (or forget, for all keys) runtime keys changed with SetConfig, and
 * write the record. Thread-safe. 0 or -errno (the record is unchanged). */
int session_set_override(struct session *session, const char *key, const char *value);
int session_clear_overrides(struct session *session);

int session_fd(const struct session *session);

/* Accepts NULL. */
void session_free(struct session *session);
