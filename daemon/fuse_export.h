/* SPDX-License-Identifier: MIT */
/*
 * fuse_export.h - the FUSE front: one directory holding one file, "swap",
 * whose bytes are the store (see fuse_export.c).
 *
 *	fuse_export_start(&config, store, &export)   mount and serve
 *	fuse_export_adopt(&config, store, fd, ...)    serve a live connection
 *	fuse_export_seal_writers(export)              the loop device is attached
 *	fuse_export_detach(export)                    stop serving, keep the mount
 *	fuse_export_stop(export)                      unmount, end the threads
 *
 * The export knows the store and its own configuration only: nothing of
 * the control plane or of the swap area but what the caller tells it.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "store.h"

#define SWAPDEV_FILE_NAME "swap"

struct fuse_export_config {
	const char *mountpoint; /* strings must outlive the export */
	const char *file_path;	/* <mountpoint>/swap, for messages and the check below */
	uint64_t device_size;
	bool io_uring; /* device.io_uring: serve through FUSE over io_uring if allowed */
	/* --no-activate: someone else may put swap on the file, so opens for
	 * writing are checked against the active swap areas. */
	bool swap_by_others;
	time_t started; /* the file's times */
};

struct fuse_export;

/* The FUSE_INIT exchange of a connection, as read from /dev/fuse and as
 * libfuse answered it (docs/RESTART.md, section 2). */
#define FUSE_EXPORT_INIT_MAX 512
struct fuse_export_init {
	uint32_t request_len, reply_len;
	unsigned char request[FUSE_EXPORT_INIT_MAX];
	unsigned char reply[FUSE_EXPORT_INIT_MAX];
};

/* How an adoption went, in CLOCK_MONOTONIC nanoseconds (0: not yet). */
struct fuse_export_takeover {
	uint64_t init_fed_ns;	   /* libfuse initialised, reply compared */
	uint64_t threads_ns;	   /* serving threads started */
	uint64_t resend_ns;	   /* FUSE_NOTIFY_RESEND written (0: refused) */
	uint64_t first_reply_ns;   /* first reply to the kernel */
	uint64_t resent_requests;  /* requests that came back with the resend bit */
	int resend_error;	   /* -errno of the RESEND write, 0 */
};

/* Mount and serve until fuse_export_stop(). Logs its own errors. */
int fuse_export_start(const struct fuse_export_config *config, struct store *store,
		      struct fuse_export **ret_export);

/*
 * Serve a connection another process set up and left (fuse_fd from the fd
 * store; the session takes it over): no mount. Feeds libfuse the recorded
 * INIT request, refuses (-EPROTO) when its reply differs from the recorded
 * one, starts the threads and asks the kernel to resend what the dead
 * process had read but not answered. conn_id is the connection's number
 * under /sys/fs/fuse/connections. Logs its own errors.
 */
int fuse_export_adopt(const struct fuse_export_config *config, struct store *store, int fuse_fd,
		      unsigned conn_id, const struct fuse_export_init *init,
		      struct fuse_export **ret_export);

/* The INIT exchange of this connection: 0, or -ENODATA before it happened. */
int fuse_export_get_init(struct fuse_export *export, struct fuse_export_init *ret_init);

/* The /dev/fuse descriptor (for the fd store; never a clone). */
int fuse_export_fd(struct fuse_export *export);

/* /sys/fs/fuse/connections/N of the connection, 0 when unknown. */
unsigned fuse_export_conn_id(const struct fuse_export *export);

/* Whether the connection negotiated FUSE over io_uring. */
bool fuse_export_uses_io_uring(struct fuse_export *export);

/* The adoption's timeline (adopted exports only; zeros otherwise). */
void fuse_export_get_takeover(struct fuse_export *export, struct fuse_export_takeover *ret);

/*
 * For a restart: stop reading requests, let the threads finish the ones
 * they hold, and free nothing the kernel needs: the mount, the connection
 * and the fd stay. Requests that arrive meanwhile wait for the next
 * process. The export is unusable afterwards (free it with nothing).
 */
void fuse_export_detach(struct fuse_export *export);

/*
 * From now on only the daemon's own open files may write (the loop device
 * is attached): other opens for writing and writes get ETXTBSY.
 */
void fuse_export_seal_writers(struct fuse_export *export);

/* Unmount and end the serving threads. Accepts NULL. */
void fuse_export_stop(struct fuse_export *export);
