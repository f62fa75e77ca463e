/* SPDX-License-Identifier: MIT */
/*
 * activate.c - swap signature, loop device and swapon/swapoff for the daemon.
 *
 * Why a loop device: swapon(2) on a FUSE file fails with EINVAL, because
 * swap on a regular file needs the file system's swap_activate or bmap to
 * map swap slots to disk blocks once, at swapon; FUSE has neither (the
 * daemon could move data at any time). A loop device turns the file into a
 * block device, and swap on a block device only needs submit_bio, which the
 * loop driver turns into read/write/fallocate on the FUSE file. Direct I/O
 * (LO_FLAGS_DIRECT_IO) keeps those pages out of the page cache: without it
 * every swapped page would also sit in the cache of the FUSE file, using the
 * very memory swap is meant to free. A 4096-byte logical block size makes
 * every request slot-aligned. Autoclear makes the kernel detach the device
 * when the last opener closes, so a daemon that dies leaves no loop device
 * behind once swapoff has let go of it.
 *
 * The swap signature is written here rather than by running mkswap(8): the
 * daemon writes one page, with no fork/exec on a path that runs before
 * swap.target, and needs no util-linux at run time.
 *
 * Attaching races with every other losetup on the machine: LOOP_CTL_GET_FREE
 * only names a device that was free a moment ago, and LOOP_CONFIGURE answers
 * EBUSY when someone else bound it first. We then simply ask for another one,
 * a bounded number of times so that a broken system cannot spin us forever.
 *
 * Nothing here logs; errors are -errno for the caller to report.
 */
#include <dirent.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/sysmacros.h>

#include "activate.h"
#include "common.h"

/*
 * Swap header version 1, as union swap_header.info in include/linux/swap.h
 * and as mkswap(8) writes it, in the first page of the swap area. Integers
 * are in host byte order (the kernel byte-swaps a foreign-endian header).
 *
 *	offset	size	field
 *	0	1024	bootbits: room for a boot sector or disk label; zeroed
 *	1024	4	version = 1
 *	1028	4	last_page: index of the last usable page (pages - 1)
 *	1032	4	nr_badpages = 0
 *	1036	16	uuid (blkid UUID=)
 *	1052	16	volume label, NUL-padded (blkid LABEL=)
 *	1068	468	padding[117], zero
 *	1536	4	badpages[0], unused with nr_badpages = 0
 *	...		zero
 *	PAGE-10	10	magic "SWAPSPACE2" (no NUL), ending the first page
 *
 * PAGE is the kernel's page size: the kernel reads the header as one page
 * and looks for the magic at its end; page 0 is never used for data.
 */
struct swap_header_v1 {
	uint8_t bootbits[1024];
	uint32_t version;
	uint32_t last_page;
	uint32_t nr_badpages;
	uint8_t uuid[ACTIVATE_UUID_SIZE];
	char volume[16];
	uint32_t padding[117];
	uint32_t badpages[1];
};

_Static_assert(offsetof(struct swap_header_v1, version) == 1024, "swap header layout");
_Static_assert(offsetof(struct swap_header_v1, uuid) == 1036, "swap header layout");
_Static_assert(offsetof(struct swap_header_v1, volume) == 1052, "swap header layout");
_Static_assert(offsetof(struct swap_header_v1, badpages) == 1536, "swap header layout");
_Static_assert(sizeof(ACTIVATE_SWAP_LABEL) <= 16, "label fits sws_volume");

#define SWAP_MAGIC	"SWAPSPACE2"
#define SWAP_MAGIC_SIZE (sizeof(SWAP_MAGIC) - 1)

/* mkswap refuses fewer pages; the kernel needs at least the header and one slot. */
#define SWAP_MIN_PAGES 10

#define LOOP_CONTROL_PATH "/dev/loop-control"
#define LOOP_BLOCK_SIZE	  4096u
/* Lost races before giving up; each needs another losetup in the same instant. */
#define LOOP_ATTACH_ATTEMPTS 16

static int random_bytes(void *buf, size_t size)
{
	/*
	 * GRND_INSECURE: the UUID only has to be unique, and the daemon may run
	 * before the entropy pool is initialised, where blocking would stall
	 * boot. Kernels before 5.6 reject the flag; plain getrandom() is fine
	 * there.
	 */
	unsigned int flags = GRND_INSECURE;
	size_t done = 0;

	while (done < size) {
		ssize_t n = getrandom((uint8_t *)buf + done, size - done, flags);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EINVAL && flags != 0) {
				flags = 0;
				continue;
			}
			return -errno;
		}
		done += n;
	}
	return 0;
}

int activate_write_swap_header(int fd, uint64_t size, uint8_t *ret_uuid)
{
	long page_size = sysconf(_SC_PAGESIZE);
	struct swap_header_v1 *hdr;
	uint64_t pages;
	uint8_t *page;
	size_t done = 0;
	int r;

	if (page_size < (long)sizeof(*hdr) + (long)SWAP_MAGIC_SIZE)
		return -EINVAL;
	pages = size / (uint64_t)page_size;
	if (pages < SWAP_MIN_PAGES)
		return -EINVAL;
	if (pages - 1 > UINT32_MAX)
		return -EFBIG;

	/* Page-aligned, so that an O_DIRECT fd takes it as it is. */
	page = aligned_alloc(page_size, page_size);
	if (!page)
		return -ENOMEM;
	memset(page, 0, page_size);

	hdr = (struct swap_header_v1 *)page;
	hdr->version = 1;
	hdr->last_page = (uint32_t)(pages - 1);
	hdr->nr_badpages = 0;
	r = random_bytes(hdr->uuid, sizeof(hdr->uuid));
	if (r < 0)
		goto out_free;
	/* RFC 4122 version 4 (random) and variant bits, as libuuid sets them. */
	hdr->uuid[6] = (hdr->uuid[6] & 0x0f) | 0x40;
	hdr->uuid[8] = (hdr->uuid[8] & 0x3f) | 0x80;
	memcpy(hdr->volume, ACTIVATE_SWAP_LABEL, sizeof(ACTIVATE_SWAP_LABEL) - 1);
	memcpy(page + page_size - SWAP_MAGIC_SIZE, SWAP_MAGIC, SWAP_MAGIC_SIZE);

	while (done < (size_t)page_size) {
		ssize_t n = pwrite(fd, page + done, page_size - done, (off_t)done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			goto out_free;
		}
		if (n == 0) {
			r = -EIO;
			goto out_free;
		}
		done += n;
	}

	if (ret_uuid)
		memcpy(ret_uuid, hdr->uuid, ACTIVATE_UUID_SIZE);
	r = 0;
out_free:
	free(page);
	return r;
}

void activate_uuid_to_string(const uint8_t *uuid, char ret[static ACTIVATE_UUID_STRING_MAX])
{
	static const char hex[] = "0123456789abcdef";
	char *p = ret;

	for (size_t i = 0; i < ACTIVATE_UUID_SIZE; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		*p++ = hex[uuid[i] >> 4];
		*p++ = hex[uuid[i] & 0x0f];
	}
	*p = '\0';
}

static void loop_set_file_name(struct loop_info64 *info, const char *backing_path)
{
	/* Informational only (losetup shows it); the kernel truncates too. */
	snprintf((char *)info->lo_file_name, sizeof(info->lo_file_name), "%s", backing_path);
}

/*
 * Kernels before 5.8: bind, then configure step by step. Autoclear goes
 * first so that the window in which a crash leaks the device is as short as
 * possible. A backing file that cannot do direct I/O makes LOOP_SET_DIRECT_IO
 * fail with EINVAL; the device then stays buffered and the caller learns it
 * from direct_io.
 */
static int loop_configure_legacy(int loop_fd, int backing_fd, const char *backing_path)
{
	struct loop_info64 info = {.lo_flags = LO_FLAGS_AUTOCLEAR};
	int r;

	if (ioctl(loop_fd, LOOP_SET_FD, backing_fd) < 0)
		return -errno;

	loop_set_file_name(&info, backing_path);
	if (ioctl(loop_fd, LOOP_SET_STATUS64, &info) < 0)
		goto out_clear;
	if (ioctl(loop_fd, LOOP_SET_BLOCK_SIZE, (unsigned long)LOOP_BLOCK_SIZE) < 0)
		goto out_clear;
	if (ioctl(loop_fd, LOOP_SET_DIRECT_IO, 1UL) < 0 && errno != EINVAL)
		goto out_clear;
	return 0;

out_clear:
	r = -errno;
	(void)ioctl(loop_fd, LOOP_CLR_FD);
	return r;
}

static int loop_configure(int loop_fd, int backing_fd, const char *backing_path)
{
	struct loop_config config = {
	    .fd = (uint32_t)backing_fd,
	    .block_size = LOOP_BLOCK_SIZE,
	    .info.lo_flags = LO_FLAGS_DIRECT_IO | LO_FLAGS_AUTOCLEAR,
	};

	loop_set_file_name(&config.info, backing_path);
	if (ioctl(loop_fd, LOOP_CONFIGURE, &config) == 0)
		return 0;
	/* Before LOOP_CONFIGURE existed, unknown loop ioctls failed EINVAL. */
	if (errno != EINVAL && errno != ENOTTY)
		return -errno;
	return loop_configure_legacy(loop_fd, backing_fd, backing_path);
}

static int loop_get_direct_io(int loop_fd, bool *ret_direct_io)
{
	struct loop_info64 info;

	if (ioctl(loop_fd, LOOP_GET_STATUS64, &info) < 0)
		return -errno;
	*ret_direct_io = info.lo_flags & LO_FLAGS_DIRECT_IO;
	return 0;
}

int activate_loop_attach(const char *backing_path, struct activate_loop *ret_loop)
{
	_cleanup_close_ int backing_fd = -1, control_fd = -1;

	backing_fd = open(backing_path, O_RDWR | O_CLOEXEC);
	if (backing_fd < 0)
		return -errno;
	control_fd = open(LOOP_CONTROL_PATH, O_RDWR | O_CLOEXEC);
	if (control_fd < 0)
		return -errno;

	for (int attempt = 0; attempt < LOOP_ATTACH_ATTEMPTS; attempt++) {
		struct activate_loop loop = ACTIVATE_LOOP_INIT;
		int r;

		loop.nr = ioctl(control_fd, LOOP_CTL_GET_FREE);
		if (loop.nr < 0)
			return -errno;
		snprintf(loop.path, sizeof(loop.path), "/dev/loop%d", loop.nr);

		loop.fd = open(loop.path, O_RDWR | O_CLOEXEC);
		if (loop.fd < 0)
			return -errno;

		r = loop_configure(loop.fd, backing_fd, backing_path);
		if (r == -EBUSY) {
			close(loop.fd);
			continue;
		}
		if (r >= 0)
			r = loop_get_direct_io(loop.fd, &loop.direct_io);
		if (r < 0) {
			/* Closing the fd of an autoclear device detaches it. */
			close(loop.fd);
			return r;
		}
		*ret_loop = loop;
		return 0;
	}
	return -EBUSY;
}

/*
 * Writeback throttling makes a task that writes to a busy queue sleep until
 * earlier writes complete. On our loop device those writes complete only
 * when the daemon serves them, so a daemon thread that itself enters
 * reclaim (and writes swap) could sleep on its own work. Throttling belongs
 * to the real disk under the backing file, not to this queue.
 */
int activate_loop_disable_wbt(const struct activate_loop *loop)
{
	char path[64];
	_cleanup_close_ int fd = -1;

	snprintf(path, sizeof(path), "/sys/block/loop%d/queue/wbt_lat_usec", loop->nr);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno; /* kernel without wbt */
	if (write(fd, "0", 1) != 1)
		return -errno;
	return 0;
}

int activate_loop_detach(struct activate_loop *loop)
{
	int r = 0;

	if (!loop || loop->fd < 0)
		return 0;
	/* ENXIO: nothing bound any more, e.g. someone ran losetup -d. */
	if (ioctl(loop->fd, LOOP_CLR_FD) < 0 && errno != ENXIO)
		r = -errno;
	close(loop->fd);
	*loop = ACTIVATE_LOOP_INIT;
	return r;
}

int activate_swapon(const char *device, int priority, bool discard)
{
	int flags = 0;

	if (priority > ACTIVATE_PRIORITY_MAX)
		return -EINVAL;
	if (priority >= 0)
		flags |=
		    SWAP_FLAG_PREFER | ((priority << SWAP_FLAG_PRIO_SHIFT) & SWAP_FLAG_PRIO_MASK);
	if (discard)
		flags |= SWAP_FLAG_DISCARD;

	if (swapon(device, flags) < 0)
		return -errno;
	return 0;
}

int activate_swapoff(const char *device)
{
	if (swapoff(device) < 0)
		return -errno;
	return 0;
}

/* /proc/swaps escapes space, tab, newline and backslash in names as \ooo. */
static void unescape_octal(char *s)
{
	char *out = s;

	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*out++ = (char)(((s[1] - '0') << 6) | ((s[2] - '0') << 3) | (s[3] - '0'));
			s += 4;
		} else {
			*out++ = *s++;
		}
	}
	*out = '\0';
}

/*
 * path with its directory resolved (the last component need not exist, and
 * is not followed: a dead FUSE mount there would fail the lookup). Returns
 * NULL when the directory cannot be resolved.
 */
static char *resolve_parent(const char *path)
{
	_cleanup_free_ char *dir = strdup(path), *real = NULL;
	const char *base;
	char *slash, *out;

	if (!dir)
		return NULL;
	slash = strrchr(dir, '/');
	if (!slash)
		return NULL;
	base = path + (slash - dir) + 1;
	if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	real = realpath(dir, NULL);
	if (!real)
		return NULL;
	if (asprintf(&out, "%s%s%s", real, strcmp(real, "/") ? "/" : "", base) < 0)
		return NULL;
	return out;
}

int activate_mount_at(const char *path, char *ret_fstype, size_t size, dev_t *ret_dev)
{
	_cleanup_free_ char *resolved = NULL, *line = NULL;
	size_t line_size = 0, len = strlen(path);
	int r = 0;
	FILE *f;

	/* "/mnt/x/" names the same mount point as "/mnt/x". */
	while (len > 1 && path[len - 1] == '/')
		len--;
	resolved = strndup(path, len);
	if (resolved) {
		char *real = resolve_parent(resolved);

		if (real) {
			free(resolved);
			resolved = real;
		}
	}
	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -errno;
	/* "36 35 98:0 /root /mnt/point rw,noatime shared:1 - ext4 /dev/sda1 rw" */
	while (getline(&line, &line_size, f) >= 0) {
		char *fields[5], *sep, *save = NULL, *p = line;
		unsigned n = 0;

		while (n < ARRAY_SIZE(fields) && (fields[n] = strtok_r(p, " \n", &save))) {
			p = NULL;
			n++;
		}
		if (n < ARRAY_SIZE(fields))
			continue;
		unescape_octal(fields[4]);
		if (strncmp(fields[4], path, len) != 0 || fields[4][len] != '\0') {
			if (!resolved || strcmp(fields[4], resolved) != 0)
				continue;
		}
		r = 1;
		if (ret_dev) {
			unsigned int major_nr = 0, minor_nr = 0;

			sscanf(fields[2], "%u:%u", &major_nr, &minor_nr);
			*ret_dev = makedev(major_nr, minor_nr);
		}
		sep = strstr(save ? save : "", " - ");
		snprintf(ret_fstype, size, "%s", sep ? strtok_r(sep + 3, " \n", &save) : "?");
		/* The last match is the topmost mount. */
	}
	fclose(f);
	return r;
}

int activate_loop_get_backing(int nr, dev_t *ret_dev, char *ret_name, size_t size)
{
	_cleanup_close_ int fd = -1;
	struct loop_info64 info;
	char path[ACTIVATE_LOOP_PATH_MAX];

	snprintf(path, sizeof(path), "/dev/loop%d", nr);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ioctl(fd, LOOP_GET_STATUS64, &info) < 0)
		return -errno;
	/* The kernel's own encoding of dev_t: 12 bits of major above 20 of minor. */
	*ret_dev = makedev((unsigned int)(info.lo_device >> 20),
			   (unsigned int)(info.lo_device & 0xfffff));
	snprintf(ret_name, size, "%.*s", LO_NAME_SIZE, (const char *)info.lo_file_name);
	return 0;
}

int activate_loop_swapping_on(const char *file, char *ret_dev, size_t size)
{
	char path[300], backing[4096];
	struct dirent *de;
	DIR *dir;
	FILE *f;
	int found = 0;

	dir = opendir("/sys/block");
	if (!dir)
		return -errno;
	while (!found && (de = readdir(dir))) {
		if (strncmp(de->d_name, "loop", 4) != 0)
			continue;
		snprintf(path, sizeof(path), "/sys/block/%s/loop/backing_file", de->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		if (fgets(backing, sizeof(backing), f) && strtok(backing, "\n") &&
		    strcmp(backing, file) == 0) {
			snprintf(ret_dev, size, "/dev/%s", de->d_name);
			found = activate_swap_is_active(ret_dev) > 0;
		}
		fclose(f);
	}
	closedir(dir);
	return found;
}

/* 1 when path is a block device someone holds exclusively (swap, a mount), else 0. */
static int block_device_claimed(const char *path)
{
	struct stat st;
	int fd;

	if (stat(path, &st) < 0 || !S_ISBLK(st.st_mode))
		return 0;
	fd = open(path, O_RDONLY | O_EXCL | O_CLOEXEC);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	return errno == EBUSY;
}

int activate_swap_is_active(const char *path)
{
	_cleanup_free_ char *canonical = NULL;
	_cleanup_free_ char *line = NULL;
	size_t line_size = 0;
	bool header = true;
	int r = 0;
	FILE *f;

	/* Only a lookup aid: a path that cannot be resolved is compared as given. */
	canonical = realpath(path, NULL);

	f = fopen("/proc/swaps", "re");
	if (!f)
		return -errno;

	for (;;) {
		char *name;
		size_t len;

		errno = 0;
		if (getline(&line, &line_size, f) < 0) {
			r = errno ? -errno : 0;
			break;
		}
		if (header) {
			/* "Filename  Type  Size  Used  Priority" */
			header = false;
			continue;
		}
		name = line;
		len = strcspn(name, " \t\n");
		name[len] = '\0';
		unescape_octal(name);
		if (strcmp(name, path) == 0 || (canonical && strcmp(name, canonical) == 0)) {
			r = 1;
			break;
		}
	}
	fclose(f);
	if (r == 0)
		r = block_device_claimed(path);
	return r;
}
