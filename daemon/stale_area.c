/* SPDX-License-Identifier: MIT */
/*
 * stale_area.c - find and remove the swap area of a swapdevd that died.
 *
 * After a SIGKILL the kernel aborts the daemon's FUSE connection, but the
 * mount stays, the loop device keeps the exported file open and the swap
 * area stays in /proc/swaps: the loop device is attached with autoclear,
 * yet swap still holds it. Every read and write on it now fails. Left
 * there, it sits beside the new daemon's area at the same priority, and the
 * kernel stripes page-outs between the two: half of them fail and stay in
 * memory. So it goes before the new area comes.
 *
 * Telling dead from alive is what makes touching another daemon's area
 * safe. On a mount we can see, the test is statfs(2): ENOTCONN comes only
 * from an aborted connection. It runs in a child, because a hung (live)
 * daemon that read the request and never answers would keep the caller in
 * an uninterruptible wait; the parent gives up after PROBE_TIMEOUT_MS and
 * treats silence as life. Under systemd the mount lived in the unit's own
 * mount namespace, which died with the daemon: no process sees the mount,
 * sysfs names the backing file "/swap" and /proc/swaps the area "/loopN".
 * Such a loop device is still known by the name the daemon gave it at
 * attach (lo_file_name) and by its backing file's device number, which no
 * /proc/PID/mountinfo lists any more: a live swapdevd always sees its own
 * mount.
 *
 * swapoff(2) of a dead area reads every page in use back and fails each
 * read; since Linux 5.19 it then marks the page table entry poisoned (the
 * owner gets SIGBUS when it touches the page, as it would have anyway) and
 * goes on, so it normally succeeds. If it still fails, the area is left
 * active and the start refused: a new area beside it would only hide it.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "activate.h"
#include "common.h"
#include "log.h"
#include "stale_area.h"
#include "swap_area.h"

/* A live daemon answers statfs in microseconds; a dead one fails at once. */
#define PROBE_TIMEOUT_MS 5000

int stale_area_mount_dead(const char *mountpoint)
{
	struct pollfd pfd = { .events = POLLIN };
	int fds[2], error = 0, r;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		r = -errno;
		close(fds[0]);
		close(fds[1]);
		return r;
	}
	if (pid == 0) {
		struct statfs st;

		error = statfs(mountpoint, &st) < 0 ? errno : 0;
		_exit(write(fds[1], &error, sizeof(error)) == sizeof(error) ? 0 : 1);
	}
	close(fds[1]);
	pfd.fd = fds[0];
	r = poll(&pfd, 1, PROBE_TIMEOUT_MS);
	if (r > 0 && read(fds[0], &error, sizeof(error)) == sizeof(error)) {
		r = error == ENOTCONN ? 1 : error == 0 ? 0 : -error;
		waitpid(pid, NULL, 0);
	} else {
		/* Not reaped: a child stuck in the kernel outlives SIGKILL. */
		kill(pid, SIGKILL);
		r = r == 0 ? -ETIMEDOUT : -EIO;
	}
	close(fds[0]);
	return r;
}

/* Whether any process's mount namespace has a mount of device dev. */
static bool mounted_anywhere(dev_t dev)
{
	char want[32], path[300], *line = NULL;
	size_t line_size = 0;
	struct dirent *de;
	bool found = false;
	DIR *proc;

	snprintf(want, sizeof(want), " %u:%u ", major(dev), minor(dev));
	proc = opendir("/proc");
	if (!proc)
		return true; /* cannot tell: assume alive */
	while (!found && (de = readdir(proc))) {
		FILE *f;

		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/mountinfo", de->d_name);
		f = fopen(path, "re");
		if (!f)
			continue; /* exited meanwhile */
		while (!found && getline(&line, &line_size, f) >= 0)
			found = strstr(line, want) != NULL;
		fclose(f);
	}
	closedir(proc);
	free(line);
	return found;
}

/*
 * Whether loop device nr belongs to a dead daemon's area; *ret_why says how
 * we know, for the log.
 */
static bool loop_is_stale(int nr, dev_t dead_mount, const char *file_path, const char **ret_why)
{
	char name[LO_NAME_SIZE + 1];
	dev_t dev;

	if (activate_loop_get_backing(nr, &dev, name, sizeof(name)) < 0)
		return false;
	if (dead_mount && dev == dead_mount) {
		*ret_why = "its backing file is on the dead FUSE mount";
		return true;
	}
	/* A FUSE file system has an anonymous device: major 0. */
	if (major(dev) == 0 && strncmp(name, file_path, LO_NAME_SIZE - 1) == 0 && !mounted_anywhere(dev)) {
		*ret_why = "attached to this file by a daemon whose mount no process sees any more";
		return true;
	}
	return false;
}

/*
 * Swap off (if swap is on it) and detach one stale loop device. Whether it
 * is a swap area is swapoff(2)'s answer, not /proc/swaps: that prints the
 * path as the dead daemon saw it, which is "/loopN" once its private mount
 * namespace (and the /dev mount in it) is gone. swapoff finds the area by
 * the block device whatever its name, and answers EINVAL for no area.
 */
static int clean_loop(int nr, const char *why)
{
	struct activate_loop loop = ACTIVATE_LOOP_INIT;
	int r;

	loop.nr = nr;
	snprintf(loop.path, sizeof(loop.path), "/dev/loop%d", nr);
	log_notice("%s belongs to a swapdevd that died (%s); swapping it off and detaching it",
		   loop.path, why);
	r = activate_swapoff(loop.path);
	if (r == -ENOMEM || r == -EINTR)
		r = swap_area_swapoff(loop.path);
	if (r == 0) {
		log_notice("swapped off the stale area %s; any pages the dead daemon held are lost "
			   "(a process that touches one gets SIGBUS)",
			   loop.path);
	} else if (r != -EINVAL) {
		log_error_errno(r, "swapoff of the stale swap area %s failed; it stays active, "
				   "and a new area beside it at the same priority would get only "
				   "every other page-out (the rest fail on the dead one and stay in "
				   "memory). Refusing to start: run 'swapoff %s' once the "
				   "processes with pages on it have exited, then start swapdevd again",
				loop.path, loop.path);
		return r;
	}
	/* Autoclear has usually detached it at swapoff; this covers the rest. */
	loop.fd = open(loop.path, O_RDWR | O_CLOEXEC);
	if (loop.fd < 0)
		return 0;
	r = activate_loop_detach(&loop);
	if (r < 0)
		log_warning_errno(r, "cannot detach the stale loop device %s", loop.path);
	else
		log_info("detached the stale loop device /dev/loop%d", nr);
	return 0;
}

int stale_area_clean(const char *mountpoint, dev_t dead_mount, const char *file_path)
{
	struct dirent *de;
	DIR *dir;
	int r = 0;

	dir = opendir("/sys/block");
	if (!dir)
		return log_error_errno(-errno, "cannot list /sys/block to look for stale loop "
					       "devices");
	while (r == 0 && (de = readdir(dir))) {
		const char *why = NULL;
		char *end;
		long nr;

		if (strncmp(de->d_name, "loop", 4) != 0)
			continue;
		nr = strtol(de->d_name + 4, &end, 10);
		if (end == de->d_name + 4 || *end || nr < 0 || nr > INT32_MAX)
			continue;
		if (loop_is_stale((int)nr, dead_mount, file_path, &why))
			r = clean_loop((int)nr, why);
	}
	closedir(dir);
	if (r < 0 || !dead_mount)
		return r;
	/* Nothing holds the dead mount now; a lazy unmount covers a straggler. */
	if (umount2(mountpoint, 0) < 0 && umount2(mountpoint, MNT_DETACH) < 0)
		return log_error_errno(-errno, "cannot unmount the dead FUSE mount on %s",
				       mountpoint);
	log_notice("unmounted the dead FUSE mount of a previous swapdevd on %s", mountpoint);
	return 0;
}
