/* SPDX-License-Identifier: MIT */
/*
 * swap_area.h - the swap area on the exported file: signature, loop
 * device and swapon at start; swapoff and detach at shutdown.
 *
 * The main thread alone activates and deactivates; other threads (the
 * control server) read a snapshot under the area's lock, never the fields
 * while they change.
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "activate.h"

struct fuse_export;

struct swap_area {
	pthread_mutex_t lock; /* guards loop and active against other threads' reads */
	struct activate_loop loop;
	bool active;
};

/* What swap_area_status() reports. */
struct swap_area_status {
	bool active;
	bool attached;				/* a loop device is attached */
	char loop_path[ACTIVATE_LOOP_PATH_MAX]; /* when attached */
};

void swap_area_init(struct swap_area *area);
void swap_area_done(struct swap_area *area);

/*
 * Write the swap signature into file_path, attach a loop device to it,
 * seal the export's writers and swapon. Logs its own errors; on failure
 * nothing is left attached.
 */
int swap_area_activate(struct swap_area *area, const char *file_path, uint64_t size,
		       int priority, bool discard, struct fuse_export *export);

/*
 * Take over the area a previous swapdevd activated on file_path: open
 * loop_path again (the kernel keeps it while swap holds it) when its
 * backing file is still file_path, and find out whether it is still swap.
 * Returns 1 (attached; area->active says whether swap is on), 0 (the loop
 * device no longer serves the file: nothing to take over), or -errno.
 * Logs what it finds.
 */
int swap_area_adopt(struct swap_area *area, const char *loop_path, const char *file_path);

/*
 * swapoff(2) of device, retried while the kernel answers ENOMEM or EINTR.
 * When another swapoff of it is already running, wait (bounded, logged) for
 * the area to leave /proc/swaps. Returns 0 once device is no swap area,
 * -ETIMEDOUT when the other swapoff outlasted the wait, or the errno of
 * swapoff(2). Logs retries and waits; the caller logs the failure.
 */
int swap_area_swapoff(const char *device);

/*
 * swap_area_swapoff() and detach. A failed
 * swapoff leaves the area active and is returned: the caller must keep
 * serving. Logs its own errors.
 */
int swap_area_deactivate(struct swap_area *area);

/* A consistent snapshot, for any thread. */
void swap_area_status(struct swap_area *area, struct swap_area_status *ret);

/* Whether the area is active; the main thread's own view. */
bool swap_area_active(const struct swap_area *area);

/* With --no-activate: print the commands that put swap on file_path by hand. */
void swap_area_print_manual_commands(const char *file_path, uint64_t size, int priority);
