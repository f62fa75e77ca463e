/* SPDX-License-Identifier: MIT */
/*
 * coexistence.c - checks of the machine around swapdev, run at start and
 * by --check-config, before anything changes state.
 *
 * zswap sits in front of every swap area: it would compress a page, and
 * swapdev would see it only when zswap writes it back, compressed twice
 * over in CPU and once in vain. An area at the same priority takes every
 * other page (the kernel stripes between equals; zram-generator's default
 * is also 100); one above takes them all until it is full. A backing file
 * on tmpfs or ramfs is RAM pretending to be disk, and on a copy-on-write
 * file system a rewrite allocates a new block, so the preallocation no
 * longer promises that writeback, which runs when memory is short, finds
 * room; a btrfs file or directory with the No_COW attribute (chattr +C) is
 * written in place and passes.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "coexistence.h"
#include "common.h"
#include "log.h"

#define ZSWAP_ENABLED "/sys/module/zswap/parameters/enabled"

#ifndef ZFS_SUPER_MAGIC
#define ZFS_SUPER_MAGIC 0x2fc12fc1
#endif
#ifndef BCACHEFS_SUPER_MAGIC
#define BCACHEFS_SUPER_MAGIC 0xca451a4e
#endif

static void report(const struct swapdev_config *config, unsigned *findings, const char *what)
{
	if (config->refuse_conflicts)
		log_error("%s (device.refuse_conflicts = yes: refusing to start)", what);
	else
		log_warning("%s", what);
	(*findings)++;
}

static void check_zswap(const struct swapdev_config *config, unsigned *findings)
{
	char value[8] = "";
	FILE *f = fopen(ZSWAP_ENABLED, "re");

	if (!f)
		return; /* no zswap in this kernel */
	if (fgets(value, sizeof(value), f) && (value[0] == 'Y' || value[0] == '1'))
		report(config, findings,
		       "zswap is enabled (" ZSWAP_ENABLED "): it compresses pages before they "
		       "reach swapdev; turn it off with 'echo N > " ZSWAP_ENABLED "'");
	fclose(f);
}

static void check_priorities(const struct swapdev_config *config, unsigned *findings)
{
	char line[512], name[256], what[512];
	int priority;
	FILE *f;

	/* A negative priority lets the kernel pick one below every other area. */
	if (config->priority < 0)
		return;
	f = fopen("/proc/swaps", "re");
	if (!f)
		return;
	/* "Filename  Type  Size  Used  Priority" */
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%255s %*s %*s %*s %d", name, &priority) != 2 ||
		    priority < config->priority)
			continue;
		snprintf(what, sizeof(what),
			 "swap area %s has priority %d, %s device.priority (%d): the kernel %s; "
			 "give swapdev a higher device.priority or the other area a lower one",
			 name, priority, priority == config->priority ? "the same as" : "above",
			 config->priority,
			 priority == config->priority ? "would stripe pages between the two"
						      : "fills that area first");
		report(config, findings, what);
	}
	fclose(f);
}

/* The file if it exists, else its directory: a new file inherits No_COW. */
static bool no_cow(const char *backing_file, const char *dir)
{
	int flags = 0, fd = open(backing_file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return false;
	if (ioctl(fd, FS_IOC_GETFLAGS, &flags) < 0)
		flags = 0;
	close(fd);
	return flags & FS_NOCOW_FL;
}

static void check_backing_fs(const struct swapdev_config *config, unsigned *findings)
{
	char dir[4096], what[4400];
	const char *fs = NULL, *why = NULL;
	char *slash;
	struct statfs st;

	snprintf(dir, sizeof(dir), "%s", config->backing_file);
	slash = strrchr(dir, '/');
	if (!slash)
		return;
	slash[slash == dir] = '\0';
	if (statfs(dir, &st) < 0)
		return; /* created at start; nothing to look at yet */
	switch ((unsigned long)st.f_type) {
	case TMPFS_MAGIC:
	case RAMFS_MAGIC:
		fs = st.f_type == TMPFS_MAGIC ? "tmpfs" : "ramfs";
		why = "that is RAM, not disk, and may not support O_DIRECT";
		break;
	case BTRFS_SUPER_MAGIC:
		if (no_cow(config->backing_file, dir))
			return;
		fs = "btrfs";
		why = "a copy-on-write file system allocates a new block for every rewrite, so "
		      "writeback may meet ENOSPC despite the preallocation; use a directory "
		      "with No_COW (chattr +C) or another file system";
		break;
	case ZFS_SUPER_MAGIC:
	case BCACHEFS_SUPER_MAGIC:
		fs = st.f_type == ZFS_SUPER_MAGIC ? "zfs" : "bcachefs";
		why = "a copy-on-write file system allocates a new block for every rewrite, so "
		      "writeback may meet ENOSPC despite the preallocation";
		break;
	default:
		return;
	}
	snprintf(what, sizeof(what), "writeback.backing_file %s is on %s: %s",
		 config->backing_file, fs, why);
	report(config, findings, what);
}

unsigned coexistence_check(const struct swapdev_config *config)
{
	unsigned findings = 0;

	check_zswap(config, &findings);
	check_priorities(config, &findings);
	check_backing_fs(config, &findings);
	return findings;
}
