/* SPDX-License-Identifier: MIT */
/*
 * fd_store.c - hand descriptors to systemd's file-descriptor store and take
 * them back at the next start.
 *
 * systemd keeps a dup of each descriptor sent with FDSTORE=1 (needs
 * FileDescriptorStoreMax= > 0), drops one that reports POLLHUP or POLLERR
 * (a /dev/fuse whose connection was aborted), and passes them all to the
 * next process of the unit as LISTEN_FDS, after any socket-activation
 * descriptors, without FD_CLOEXEC. They are released when the unit is
 * fully stopped, so a full stop removes them itself (FDSTOREREMOVE=1)
 * after it has torn the area down, and no later start can find stale ones.
 * A descriptor already in the store is recognised and not added twice
 * (systemd 252, service_add_fd_store()); the daemon still pushes each
 * descriptor once per swap area, since another keeper need not do that.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "fd_store.h"
#include "log.h"

static void fd_store_remove_fd(const char *name, int fd)
{
	close(fd);
	fd_store_remove(name);
}

int fd_store_take(struct fd_store_kept *ret)
{
	char **names = NULL;
	int n, known = 0;

	*ret = (struct fd_store_kept){ .fuse = -1, .state = -1, .session = -1 };
	n = sd_listen_fds_with_names(1, &names);
	if (n < 0)
		return log_error_errno(n, "cannot read the descriptors passed at start (LISTEN_FDS)");
	for (int i = 0; i < n; i++) {
		int fd = SD_LISTEN_FDS_START + i;
		const char *name = names && names[i] ? names[i] : "unknown";
		int *slot = NULL;

		if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
			log_warning_errno(-errno, "cannot set close-on-exec on descriptor %s", name);
		if (strcmp(name, FD_STORE_FUSE) == 0)
			slot = &ret->fuse;
		else if (strcmp(name, FD_STORE_STATE) == 0)
			slot = &ret->state;
		else if (strcmp(name, FD_STORE_SESSION) == 0)
			slot = &ret->session;
		if (!slot || *slot >= 0) {
			log_notice("dropping descriptor '%s' passed at start: not one of swapdevd's",
				   name);
			if (slot)
				close(fd); /* a second one of the same name: keep the store's */
			else
				fd_store_remove_fd(name, fd);
			continue;
		}
		*slot = fd;
		known++;
	}
	for (int i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
	return known;
}

void fd_store_close(struct fd_store_kept *kept)
{
	if (kept->session >= 0)
		close(kept->session);
	if (kept->state >= 0)
		close(kept->state);
	if (kept->fuse >= 0)
		close(kept->fuse);
	*kept = (struct fd_store_kept){ .fuse = -1, .state = -1, .session = -1 };
}

void fd_store_release(struct fd_store_kept *kept)
{
	if (kept->session >= 0)
		fd_store_remove_fd(FD_STORE_SESSION, kept->session);
	if (kept->state >= 0)
		fd_store_remove_fd(FD_STORE_STATE, kept->state);
	if (kept->fuse >= 0)
		fd_store_remove_fd(FD_STORE_FUSE, kept->fuse);
	*kept = (struct fd_store_kept){ .fuse = -1, .state = -1, .session = -1 };
}

bool fd_store_available(void)
{
	const char *socket = getenv("NOTIFY_SOCKET");

	return socket && *socket;
}

int fd_store_push(const char *name, int fd)
{
	char text[64];
	int r;

	snprintf(text, sizeof(text), "FDSTORE=1\nFDNAME=%s", name);
	r = sd_pid_notify_with_fds(0, 0, text, &fd, 1);
	if (r == 0)
		return -ENOTCONN; /* no NOTIFY_SOCKET */
	return r < 0 ? r : 0;
}

void fd_store_remove(const char *name)
{
	char text[64];

	if (!fd_store_available())
		return;
	snprintf(text, sizeof(text), "FDSTOREREMOVE=1\nFDNAME=%s", name);
	sd_notify(0, text);
}
