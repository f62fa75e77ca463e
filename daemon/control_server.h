/* SPDX-License-Identifier: MIT */
/*
 * control_server.h - the Varlink control socket (SPEC section 5), served
 * by one thread with poll(): bounded clients, message size and idle time,
 * so a misbehaving client can never stall the daemon or the FUSE path.
 */
#pragma once

struct daemon;
struct control_server;

/* Bind control.socket and start serving. Logs its own errors. */
int control_server_start(struct daemon *d, struct control_server **ret_server);
void control_server_stop(struct control_server *server); /* accepts NULL */
