/* SPDX-License-Identifier: MIT */
/*
 * daemon.h - the state swapdevd's parts share: configuration, the store,
 * the FUSE export and the swap activation.
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#include "config.h"
#include "store.h"
#include "swap_area.h"

struct fuse_export;
struct control_server;

struct daemon {
	struct swapdev_config config;
	const char *config_path; /* NULL: embedded defaults only */
	bool foreground, activate, debug;

	struct store *store;
	struct fuse_export *export;
	char file_path[4096]; /* <mountpoint>/swap */

	struct swap_area swap;
	uint64_t io_errors_reported; /* main loop only */

	struct control_server *control;
	struct timespec started;

	/* Serializes control-plane changes of config (SetConfig, GetConfig). */
	pthread_mutex_t config_lock;
};

