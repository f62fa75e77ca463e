/* SPDX-License-Identifier: MIT */
/*
 * control_server.h - the Varlink control socket (SPEC section 5), served
 * by one thread with poll(): bounded clients, message size and idle time,
 * so a misbehaving client can never stall the daemon or the FUSE path.
 */
#pragma once

struct daemon;
struct control_server;

/*
 * Bind control.socket, refusing one that another process serves (a
 * running swapdevd). Done before anything else changes state at start;
 * clients queue in the backlog until control_server_serve(). Logs its own
 * errors.
 */
int control_server_bind(struct daemon *d, struct control_server **ret_server);
/* Start the thread that serves the bound socket. Logs its own errors. */
int control_server_serve(struct control_server *server);
void control_server_stop(struct control_server *server); /* accepts NULL */
