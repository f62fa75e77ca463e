/* SPDX-License-Identifier: MIT */
/*
 * swap_area.c - put swap on the exported file, and take it off again.
 *
 * Order at start: the swap signature is written through the FUSE file, a
 * loop device is attached (attaching reads the file, so the export must be
 * serving), the export is sealed against other writers, and swapon comes
 * last. A failed swapoff keeps the area: the daemon never lets go of a swap
 * area the kernel still uses.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "fuse_export.h"
#include "log.h"
#include "swap_area.h"

#define SWAPOFF_ATTEMPTS 5

void swap_area_init(struct swap_area *area)
{
	pthread_mutex_init(&area->lock, NULL);
	area->loop = ACTIVATE_LOOP_INIT;
	area->active = false;
}

void swap_area_done(struct swap_area *area)
{
	pthread_mutex_destroy(&area->lock);
}

/* Publish a change of the loop device or of active to other threads. */
static void set_state(struct swap_area *area, const struct activate_loop *loop, bool active)
{
	pthread_mutex_lock(&area->lock);
	area->loop = *loop;
	area->active = active;
	pthread_mutex_unlock(&area->lock);
}

static int detach(struct swap_area *area)
{
	struct activate_loop loop = area->loop;
	int r;

	if (loop.fd < 0)
		return 0;
	set_state(area, &ACTIVATE_LOOP_INIT, false);
	r = activate_loop_detach(&loop);
	if (r < 0)
		log_warning_errno(r, "detaching %s failed", loop.path);
	return r;
}

int swap_area_activate(struct swap_area *area, const char *file_path, uint64_t size,
		       int priority, bool discard, struct fuse_export *export)
{
	char uuid_text[ACTIVATE_UUID_STRING_MAX];
	uint8_t uuid[ACTIVATE_UUID_SIZE];
	struct activate_loop loop;
	int fd, r;

	fd = open(file_path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return log_error_errno(-errno, "cannot open %s", file_path);
	r = activate_write_swap_header(fd, size, uuid);
	close(fd);
	if (r < 0)
		return log_error_errno(r, "cannot write the swap signature to %s", file_path);
	activate_uuid_to_string(uuid, uuid_text);

	r = activate_loop_attach(file_path, &loop);
	if (r < 0)
		return log_error_errno(r, "cannot attach a loop device to %s", file_path);
	set_state(area, &loop, false);
	fuse_export_seal_writers(export);
	if (!loop.direct_io)
		log_warning("%s does not use direct I/O: pages pass through the page cache",
			    loop.path);
	r = activate_loop_disable_wbt(&loop);
	if (r < 0)
		log_warning_errno(r, "cannot turn off writeback throttling on %s", loop.path);
	r = activate_swapon(loop.path, priority, discard);
	if (r < 0) {
		log_error_errno(r, "swapon %s failed", loop.path);
		detach(area);
		return r;
	}
	set_state(area, &loop, true);
	log_info("swap active on %s (%s, %" PRIu64 " MiB, priority %d, UUID %s)", loop.path,
		 file_path, size >> 20, priority, uuid_text);
	return 0;
}

/*
 * swapoff(2) can fail with ENOMEM while plenty of memory is free: it gives
 * up on an entry it could not bring in while the owner was faulting the
 * same page. A second attempt a moment later normally succeeds.
 */
static int swapoff_with_retries(const char *device)
{
	int r = 0;

	for (int attempt = 1; attempt <= SWAPOFF_ATTEMPTS; attempt++) {
		r = activate_swapoff(device);
		if (r != -ENOMEM && r != -EINTR)
			break;
		if (attempt < SWAPOFF_ATTEMPTS) {
			log_warning_errno(r, "swapoff %s failed (attempt %d of %d); retrying in 1 s",
					  device, attempt, SWAPOFF_ATTEMPTS);
			sleep(1);
		}
	}
	return r;
}

int swap_area_deactivate(struct swap_area *area)
{
	const char *device = area->loop.path;
	int r;

	if (area->active) {
		sd_notify(0, "STOPPING=1\nSTATUS=swapoff in progress");
		log_info("swapoff %s", device);
		r = swapoff_with_retries(device);
		/* Someone ran swapoff by hand already: nothing left to protect. */
		if (r == -EINVAL && activate_swap_is_active(device) == 0) {
			log_info("%s was already swapped off", device);
			r = 0;
		}
		if (r < 0) {
			log_error_errno(r, "swapoff %s failed; still serving it. Free memory or add "
					   "swap elsewhere, then stop swapdevd again",
					device);
			sd_notifyf(0, "STATUS=swapoff failed (%s); still serving %s", strerror(-r),
				   device);
			return r;
		}
		set_state(area, &area->loop, false);
	}
	detach(area);
	return 0;
}

void swap_area_status(struct swap_area *area, struct swap_area_status *ret)
{
	pthread_mutex_lock(&area->lock);
	ret->active = area->active;
	ret->attached = area->loop.fd >= 0;
	memcpy(ret->loop_path, area->loop.path, sizeof(ret->loop_path));
	pthread_mutex_unlock(&area->lock);
}

bool swap_area_active(const struct swap_area *area)
{
	return area->active;
}

void swap_area_print_manual_commands(const char *file_path, uint64_t size, int priority)
{
	printf("swapdevd: exported %s (%" PRIu64 " bytes); swap is not active.\n"
	       "The kernel refuses swapon on a FUSE file (EINVAL: FUSE has no bmap/swap_activate),\n"
	       "so attach it to a loop device with direct I/O and swap on that:\n"
	       "\n"
	       "  loop=$(losetup --direct-io=on --sector-size 4096 -f --show %s)\n"
	       "  mkswap \"$loop\"\n"
	       "  swapon --discard --priority %d \"$loop\"\n"
	       "\n"
	       "and before stopping swapdevd:\n"
	       "\n"
	       "  swapoff \"$loop\" && losetup -d \"$loop\"\n",
	       file_path, size, file_path, priority);
	fflush(stdout);
}
