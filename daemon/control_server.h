/* SPDX-License-Identifier: MIT */
/*
 * control_server.h - the Varlink control socket (SPEC section 5), served
 * by one thread with poll(): bounded clients, message size and idle time,
 * so a misbehaving client can never stall the daemon or the FUSE path.
 *
 * The server knows the store, the configuration (changed only under its
 * lock) and a provider of the swap area's state; nothing else of the
 * daemon.
 */
#pragma once

#include <pthread.h>
#include <time.h>

#include "config.h"
#include "store.h"
#include "swap_area.h"

struct control_server_config {
	const char *socket_path; /* control.socket */
	const char *group;	 /* control.group: may read */
	const char *file_path;	 /* the exported swap file, for GetStatus */
	time_t started;		 /* for uptime */
	/* GetConfig reads and SetConfig changes config under config_lock. */
	struct swapdev_config *config;
	pthread_mutex_t *config_lock;
	/* The swap area's state, callable from the server's thread. */
	void (*swap_status)(void *userdata, struct swap_area_status *ret);
	void *userdata;
	/*
	 * The daemon's hooks, called on the server's thread with ctx (each may
	 * be NULL). restart: 0 when the daemon will restart once the reply is
	 * out, or -errno with why (for CannotRestart). config_set: a runtime
	 * key was changed with SetConfig (the value as given).
	 */
	int (*restart)(void *ctx, char *why, size_t why_size);
	void (*config_set)(void *ctx, const char *key, const char *value);
	void *ctx;
	struct store *store; /* set by control_server_serve() */
};

struct control_server;

/*
 * Bind the socket, refusing one that another process serves (a running
 * swapdevd). Done before anything else changes state at start; clients
 * queue in the backlog until control_server_serve(). The strings of config
 * must outlive the server. Logs its own errors.
 */
int control_server_bind(const struct control_server_config *config,
			struct control_server **ret_server);
/* Start the thread that serves the bound socket on store. Logs its own errors. */
int control_server_serve(struct control_server *server, struct store *store);
void control_server_stop(struct control_server *server); /* accepts NULL */
