/* SPDX-License-Identifier: MIT */
/*
 * fd_store.h - the descriptors that keep a swap area alive across
 * processes, in systemd's file-descriptor store (or the --foreground
 * supervisor's, which speaks the same protocol): FDSTORE=1 with FDNAME= to
 * $NOTIFY_SOCKET, back through LISTEN_FDS/LISTEN_FDNAMES at the next start.
 */
#pragma once

#include <stdbool.h>

/* Exit status of a planned restart: swap stays active, the descriptors
 * are in the store, start the next process now (RestartForceExitStatus=). */
#define SWAPDEVD_EXIT_RESTART 75

#define FD_STORE_FUSE	 "fuse"	   /* /dev/fuse, never a clone */
#define FD_STORE_STATE	 "state"   /* store_state_fd() */
#define FD_STORE_SESSION "session" /* session.h */

/* What the previous process left: -1 for each name not received. */
struct fd_store_kept {
	int fuse, state, session;
};

/*
 * Take the descriptors passed at start (LISTEN_FDS for this PID): mark
 * them close-on-exec, sort the known names into *ret and close the others,
 * asking the store to drop them. Logs what it finds. Returns the number
 * of known descriptors received, or -errno.
 */
int fd_store_take(struct fd_store_kept *ret);

/* Close every descriptor in kept, leaving the store's; resets it. */
void fd_store_close(struct fd_store_kept *kept);

/* Close and drop from the store every descriptor in kept; resets it. */
void fd_store_release(struct fd_store_kept *kept);

/* Whether there is a store to hand descriptors to ($NOTIFY_SOCKET). */
bool fd_store_available(void);

/* FDSTORE=1 with FDNAME=name. 0, or -errno (the store cannot be reached). */
int fd_store_push(const char *name, int fd);

/* FDSTOREREMOVE=1 with FDNAME=name. */
void fd_store_remove(const char *name);
