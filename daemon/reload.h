/* SPDX-License-Identifier: MIT */
/*
 * reload.h - SIGHUP: read the configuration again and apply what changed.
 */
#pragma once

#include <pthread.h>

#include "config.h"
#include "config_source.h"
#include "store.h"

struct reload_target {
	const struct config_source *source; /* what the daemon started from */
	struct swapdev_config *config;	    /* the running configuration */
	pthread_mutex_t *config_lock;	    /* held while config changes, as by SetConfig */
	struct store *store;
};

/*
 * Read the file and the overrides again, apply each runtime key whose value
 * differs from the running one and report the keys that need a restart.
 * Logs every outcome. Returns 0 when the file was read and validated (even
 * if a key could not be applied), or the reading error with nothing
 * changed.
 */
int reload_config(const struct reload_target *target);
