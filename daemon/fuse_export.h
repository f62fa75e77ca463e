/* SPDX-License-Identifier: MIT */
/*
 * fuse_export.h - the FUSE front: one directory holding one file, "swap",
 * whose bytes are the store (see fuse_export.c).
 *
 *	fuse_export_start(&config, store, &export)   mount and serve
 *	fuse_export_seal_writers(export)              the loop device is attached
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

/* Mount and serve until fuse_export_stop(). Logs its own errors. */
int fuse_export_start(const struct fuse_export_config *config, struct store *store,
		      struct fuse_export **ret_export);

/*
 * From now on only the daemon's own open files may write (the loop device
 * is attached): other opens for writing and writes get ETXTBSY.
 */
void fuse_export_seal_writers(struct fuse_export *export);

/* Unmount and end the serving threads. Accepts NULL. */
void fuse_export_stop(struct fuse_export *export);
