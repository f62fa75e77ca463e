/* SPDX-License-Identifier: MIT */
/*
 * supervisor.h - the supervising parent of `swapdevd --foreground` when no
 * service manager is there to keep the daemon's file descriptors (no
 * $NOTIFY_SOCKET): it plays systemd's part of the fd-store protocol for one
 * child and restarts that child when it dies with descriptors stored.
 * Design and limits in supervisor.c.
 */
#pragma once

struct supervisor_config {
	/* The program to run as the child, by path: read once, before the
	 * first start, so that a binary replaced by rename is the one the
	 * next restart runs. NULL: readlink("/proc/self/exe"). */
	const char *exe;
	/* The child's argv (argv[0] included), NULL-terminated; kept as is. */
	char *const *argv;
	/* The child's pidfile (it writes it itself when ready), or NULL. The
	 * supervisor writes its own PID to "<pidfile>.supervisor", and at
	 * exit removes both (the first only if it names a child of ours). */
	const char *pidfile;
};

/*
 * Run the child and supervise it until it exits for good. Returns the
 * status to exit with: 0 when the child exited 0; the child's status (or
 * 128 + signal) when it died with nothing stored; 1 when the supervisor
 * itself could not start. Never returns while descriptors are stored: a
 * crash loop is retried with backoff, since dropping the stored /dev/fuse
 * would fail every swapped page.
 */
int supervisor_run(const struct supervisor_config *config);
