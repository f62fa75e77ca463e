/* SPDX-License-Identifier: MIT */
/*
 * stale_area.h - remove, at start, the swap area of a swapdevd that died.
 *
 * A daemon killed with SIGKILL leaves its FUSE mount (connection dead), the
 * loop device on the exported file and the swap area on that loop device.
 * check_mountpoint() in main.c asks stale_area_mount_dead() whether a
 * swapdev mount in the way has lost its daemon, and hands its device
 * number to stale_area_clean(), which swaps off, detaches and unmounts.
 */
#pragma once

#include <sys/types.h>

/* The file system type of swapdevd's FUSE mount in /proc/self/mountinfo. */
#define STALE_AREA_FSTYPE "fuse.swapdev"

/*
 * Whether the FUSE mount on mountpoint has lost its daemon: a statfs(2)
 * there fails with ENOTCONN, an answer no live daemon gives. Returns 1
 * (dead), 0 (a daemon answered), -ETIMEDOUT (no answer within a few
 * seconds: a hung daemon, to be treated as live), or -errno.
 */
int stale_area_mount_dead(const char *mountpoint);

/*
 * Remove what a dead daemon left of the area on file_path: every loop device
 * whose backing file is on the dead mount dead_mount (0: none), or was
 * attached to file_path by a daemon whose mount no process sees any more
 * (its private mount namespace under systemd died with it), is swapped off
 * and detached; then the dead mount on mountpoint is unmounted. Logs what it
 * does. Returns 0 (nothing stale, or all of it removed), or -errno when a
 * stale swap area could not be swapped off: then it is left as it is, the
 * error is logged, and the caller must refuse to start.
 */
int stale_area_clean(const char *mountpoint, dev_t dead_mount, const char *file_path);
