/* SPDX-License-Identifier: MIT */
/*
 * swap_area.c - put swap on the exported file, and take it off again.
 *
 * Order at start: the swap signature is written through the FUSE file, a
 * loop device is attached (attaching reads the file, so the export must be
 * serving), the export is sealed against other writers, and swapon comes
 * last. A failed swapoff keeps the area: the daemon never lets go of a swap
 * area the kernel still uses. Someone else's swapoff of the area, already
 * running when ours starts, is waited for rather than taken for a failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <linux/loop.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "common.h"
#include "fuse_export.h"
#include "log.h"
#include "swap_area.h"

#define SWAPOFF_ATTEMPTS 5
/*
 * How long to wait for someone else's swapoff of our area: about 10 s per
 * GiB of pages to read back, well inside the unit's TimeoutStopSec (15 min).
 */
#define SWAPOFF_WAIT_SECONDS 600
#define SWAPOFF_WAIT_POLL_MS 1000
#define SWAPOFF_WAIT_LOG_MS  10000

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

int swap_area_adopt(struct swap_area *area, const char *loop_path, const char *file_path)
{
	struct activate_loop loop = ACTIVATE_LOOP_INIT;
	char name[LO_NAME_SIZE];
	dev_t dev;
	int r;

	if (sscanf(loop_path, "/dev/loop%d", &loop.nr) != 1 ||
	    strlen(loop_path) >= sizeof(loop.path)) {
		log_warning("recorded loop device '%s' is not a loop device: not taking it over",
			    loop_path);
		return 0;
	}
	r = activate_loop_get_backing(loop.nr, &dev, name, sizeof(name));
	if (r == -ENXIO || (r == 0 && strncmp(name, file_path, LO_NAME_SIZE - 1) != 0)) {
		log_warning("%s no longer serves %s (swapped off and detached meanwhile?): no "
			    "swap area to take over",
			    loop_path, file_path);
		return 0;
	}
	if (r < 0)
		return log_error_errno(r, "cannot read the backing file of %s", loop_path);
	loop.fd = open(loop_path, O_RDWR | O_CLOEXEC);
	if (loop.fd < 0)
		return log_error_errno(-errno, "cannot open %s", loop_path);
	snprintf(loop.path, sizeof(loop.path), "%s", loop_path);
	loop.direct_io = true; /* as attached by the first process */
	r = activate_swap_is_active(loop_path);
	if (r < 0)
		log_warning_errno(r, "cannot tell whether %s is still swap; taking it as active",
				  loop_path);
	set_state(area, &loop, r != 0);
	log_info("took over %s on %s (swap %s)", loop_path, file_path,
		 r != 0 ? "active" : "not active: swapped off meanwhile");
	return 1;
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

/*
 * Another swapoff of the area is running (at shutdown, systemd's own
 * dev-loopN.swap unit, which nothing orders against us). swapoff(2) only
 * looks among areas still marked SWP_WRITEOK, a mark the running swapoff
 * cleared before it began to read pages back, so ours fails with EINVAL
 * while the area stays in /proc/swaps until the other one ends. Wait for
 * that, keep serving its reads meanwhile, and try again each time: should
 * the other swapoff fail, the area is writable again and ours does the work.
 * /proc/swaps signals POLLPRI when an area comes or goes, which wakes us
 * early; the poll timeout covers an area that comes back.
 */
static int wait_for_other_swapoff(const char *device)
{
	uint64_t start = monotonic_ms(), next_log = start + SWAPOFF_WAIT_LOG_MS;
	int fd = -1, r;

	log_notice("swapoff %s: another swapoff of it is in progress (systemd's swap unit at "
		   "shutdown?); waiting up to %d s for it to finish",
		   device, SWAPOFF_WAIT_SECONDS);
	sd_notifyf(0, "STATUS=waiting for another swapoff of %s", device);
	for (;;) {
		uint64_t now = monotonic_ms();
		struct pollfd pfd;

		r = activate_swap_is_active(device);
		if (r == 0) {
			log_info("%s was swapped off by the other swapoff after %" PRIu64 " s",
				 device, (now - start) / 1000);
			break;
		}
		if (r > 0)
			r = swapoff_with_retries(device);
		if (r != -EINVAL)
			break;
		if (now - start >= SWAPOFF_WAIT_SECONDS * 1000ull) {
			r = -ETIMEDOUT;
			break;
		}
		if (now >= next_log) {
			log_info("still waiting for the other swapoff of %s (%" PRIu64 " s)", device,
				 (now - start) / 1000);
			next_log = now + SWAPOFF_WAIT_LOG_MS;
		}
		/* Opening arms the event; a file that cannot be opened leaves the timeout. */
		if (fd < 0)
			fd = open("/proc/swaps", O_RDONLY | O_CLOEXEC);
		pfd = (struct pollfd){ .fd = fd, .events = POLLPRI };
		if (poll(&pfd, 1, SWAPOFF_WAIT_POLL_MS) > 0 && fd >= 0) {
			close(fd);
			fd = -1;
		}
	}
	if (fd >= 0)
		close(fd);
	return r;
}

int swap_area_swapoff(const char *device)
{
	int r = swapoff_with_retries(device);

	if (r != -EINVAL)
		return r;
	r = activate_swap_is_active(device);
	if (r == 0) {
		/* Someone ran swapoff by hand already: nothing left to protect. */
		log_info("%s was already swapped off", device);
		return 0;
	}
	if (r < 0)
		return -EINVAL;
	return wait_for_other_swapoff(device);
}

int swap_area_deactivate(struct swap_area *area)
{
	const char *device = area->loop.path;
	int r;

	if (area->active) {
		sd_notify(0, "STOPPING=1\nSTATUS=swapoff in progress");
		log_info("swapoff %s", device);
		r = swap_area_swapoff(device);
		if (r == -ETIMEDOUT) {
			log_error("%s is still in /proc/swaps %d s after another swapoff of it began; "
				  "still serving it. Stop swapdevd again once it is gone",
				  device, SWAPOFF_WAIT_SECONDS);
		} else if (r < 0) {
			log_error_errno(r, "swapoff %s failed; still serving it. Free memory or add "
					   "swap elsewhere, then stop swapdevd again",
					device);
		}
		if (r < 0) {
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
