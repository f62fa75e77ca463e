/* SPDX-License-Identifier: MIT */
/*
 * activate.h - turn the exported FUSE file into an active swap area.
 *
 * The kernel refuses swapon(2) on a FUSE file (EINVAL: FUSE has no
 * swap_activate and no bmap), so the daemon attaches the file to a loop
 * device with direct I/O and swaps on the loop device:
 *
 *	activate_write_swap_header(fd, size, uuid)   signature, no mkswap(8)
 *	activate_loop_attach(file, &loop)            /dev/loopN, dio, autoclear
 *	activate_swapon(loop.path, priority, discard)
 *	...
 *	activate_swapoff(loop.path)
 *	activate_loop_detach(&loop)
 *
 * Library-like: nothing here logs or exits. Every function returns >= 0 on
 * success and -errno on failure; the caller logs once, naming the device
 * (struct activate_loop carries its path for that).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Volume label written into every swap signature (blkid LABEL=). */
#define ACTIVATE_SWAP_LABEL "swapdev"

/* Size of a swap UUID, and of its text form with the terminating NUL. */
#define ACTIVATE_UUID_SIZE	 16
#define ACTIVATE_UUID_STRING_MAX 37

/* Highest priority swapon(2) accepts (SWAP_FLAG_PRIO_MASK). */
#define ACTIVATE_PRIORITY_MAX 32767

/* "/dev/loop" plus a decimal int and the NUL. */
#define ACTIVATE_LOOP_PATH_MAX 24

/*
 * An attached loop device. The fd keeps it alive: it is configured with
 * LO_FLAGS_AUTOCLEAR, so the kernel detaches it when the last opener closes,
 * i.e. when both this fd and swap (after swapoff) let go. A crashed daemon
 * therefore never leaves a loop device behind once swapoff has run.
 */
struct activate_loop {
	int fd;				   /* open O_RDWR on path; -1 when not attached */
	int nr;				   /* N of /dev/loopN */
	bool direct_io;			   /* the kernel really serves it with direct I/O */
	char path[ACTIVATE_LOOP_PATH_MAX]; /* "/dev/loopN", for swapon and messages */
};

/* Turn off writeback throttling on the loop device's queue (see activate.c). */
int activate_loop_disable_wbt(const struct activate_loop *loop);

/* An all-empty struct activate_loop, safe to pass to activate_loop_detach(). */
#define ACTIVATE_LOOP_INIT ((struct activate_loop){.fd = -1, .nr = -1})

/*
 * Write a Linux swap signature (swap header version 1, the format mkswap(8)
 * writes) into the first page of fd, for a swap area of size bytes: zeroed
 * boot block, last_page = size / page size - 1, no bad pages, a random
 * version 4 UUID from getrandom(2), label ACTIVATE_SWAP_LABEL, and the magic
 * "SWAPSPACE2". The page size is the kernel's (sysconf), not the slot size.
 * fd may be opened with O_DIRECT. Nothing is flushed: the caller decides.
 *
 * ret_uuid (ACTIVATE_UUID_SIZE bytes) receives the UUID; may be NULL.
 *
 * Returns 0, or -EINVAL (size below 10 pages, mkswap's minimum), -EFBIG (more
 * pages than the 32-bit last_page field holds), -EIO (short write), -ENOMEM,
 * or the errno of getrandom(2)/pwrite(2).
 */
int activate_write_swap_header(int fd, uint64_t size, uint8_t *ret_uuid);

/* Format uuid as 36 lower-case hex characters and dashes, NUL-terminated. */
void activate_uuid_to_string(const uint8_t *uuid, char ret[static ACTIVATE_UUID_STRING_MAX]);

/*
 * Attach a free loop device to backing_path with LOOP_CONFIGURE: direct I/O,
 * autoclear, 4096-byte logical blocks, read-write. When another process
 * grabs the device LOOP_CTL_GET_FREE handed out (EBUSY), ask again, a bounded
 * number of times. Kernels without LOOP_CONFIGURE (before 5.8; they answer
 * EINVAL or ENOTTY) get LOOP_SET_FD, LOOP_SET_BLOCK_SIZE, LOOP_SET_DIRECT_IO
 * and LOOP_SET_STATUS64 instead.
 *
 * ret_loop->direct_io tells what the kernel granted (read back with
 * LOOP_GET_STATUS64): some kernels silently fall back to buffered I/O when
 * the backing file cannot do O_DIRECT. The caller decides whether that is
 * fatal; swap through the page cache doubles memory use under pressure.
 *
 * Returns 0 with *ret_loop filled in, or -errno: -ENOENT (no backing file or
 * no /dev/loop-control: modprobe loop), -EBUSY (every retry lost the race),
 * -EACCES/-EPERM (needs CAP_SYS_ADMIN), or the errno of the failing ioctl.
 */
int activate_loop_attach(const char *backing_path, struct activate_loop *ret_loop);

/*
 * Detach loop (LOOP_CLR_FD) and close its fd. While swap or anyone else still
 * holds the device, the kernel defers the detach to the last close
 * (autoclear); a device already gone (ENXIO) counts as detached. Accepts NULL
 * and a never-attached loop. The fd is closed and loop reset to
 * ACTIVATE_LOOP_INIT whatever the result.
 *
 * Returns 0, or the -errno of LOOP_CLR_FD.
 */
int activate_loop_detach(struct activate_loop *loop);

/*
 * swapon(2) on device. priority >= 0 (up to ACTIVATE_PRIORITY_MAX) is passed
 * with SWAP_FLAG_PREFER; a negative priority lets the kernel choose (it
 * counts down from -2). discard adds SWAP_FLAG_DISCARD (freed clusters and,
 * once, the whole area are discarded), which reaches the FUSE file as
 * FALLOC_FL_PUNCH_HOLE.
 *
 * Returns 0, or -EINVAL (priority too high; or the kernel rejected the
 * signature or the device), -EBUSY (already a swap area), -EPERM, or
 * another errno of swapon(2).
 */
int activate_swapon(const char *device, int priority, bool discard);

/*
 * swapoff(2) on device. This reads every swapped page back into memory and
 * may take long.
 *
 * Returns 0, or -ENOMEM (not enough memory to take the pages back; swap stays
 * active), -EINVAL (not a swap area), -EINTR (a signal interrupted it; swap
 * stays active), or another errno of swapoff(2).
 */
int activate_swapoff(const char *device);

/*
 * Whether path is an active swap area, according to /proc/swaps. path is
 * compared as given and, when it exists, canonicalised (symlinks such as
 * /dev/disk/by-... resolve to the name the kernel prints). A block device
 * that /proc/swaps does not name is active when it cannot be opened
 * exclusively: the kernel prints the path as the process that ran swapon
 * saw it, "/loopN" once that process's mount namespace is gone (an adopted
 * area under systemd), while swap keeps its claim on the device.
 *
 * Returns 1 (active), 0 (not active), or -errno reading /proc/swaps (-ENOENT:
 * /proc not mounted or kernel without swap support).
 */
int activate_swap_is_active(const char *path);

/*
 * Whether a loop device backed by file is an active swap area (someone
 * attached one by hand to an exported file). Returns 1 with the device's
 * path in ret_dev, 0, or -errno reading /sys/block.
 */
int activate_loop_swapping_on(const char *file, char *ret_dev, size_t size);

/*
 * Whether something is mounted on path, according to /proc/self/mountinfo
 * (never stat(): a hung FUSE mount there would hang us too). path is
 * compared as given and with its directory resolved. Returns 1 with the
 * file system type of the topmost mount in ret_fstype and its device
 * number in *ret_dev (may be NULL), 0, or -errno.
 */
int activate_mount_at(const char *path, char *ret_fstype, size_t size, dev_t *ret_dev);

/*
 * The backing file of loop device nr, from LOOP_GET_STATUS64: the device
 * number of its file system (a FUSE mount's anonymous device), and the
 * name given at attach (lo_file_name, truncated to 63 bytes), which stays
 * right when the mount is no longer reachable from here. Returns 0, -ENXIO
 * (nothing attached), or -errno.
 */
int activate_loop_get_backing(int nr, dev_t *ret_dev, char *ret_name, size_t size);
