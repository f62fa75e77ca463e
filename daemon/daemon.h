/* SPDX-License-Identifier: MIT */
/*
 * daemon.h - the state swapdevd's parts share: configuration, the store,
 * the FUSE export and the swap activation.
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#include "activate.h"
#include "config.h"
#include "store.h"

struct fuse_export;
struct control_server;

struct daemon {
	struct swapdev_config config;
	const char *config_path; /* NULL: embedded defaults only */
	bool foreground, activate, debug;

	struct store *store;
	struct fuse_export *export;
	char file_path[4096]; /* <mountpoint>/swap */

	struct activate_loop loop;
	bool swap_active;
	uint64_t io_errors_reported; /* main loop only */

	struct control_server *control;
	struct timespec started;

	/* Serializes control-plane changes of config (SetConfig, GetConfig). */
	pthread_mutex_t config_lock;
};

/* FUSE export (fuse_export.c): mount and serve until fuse_export_stop(). */
int fuse_export_start(struct daemon *d, struct fuse_export **ret_export);
void fuse_export_stop(struct fuse_export *export); /* unmounts; accepts NULL */

