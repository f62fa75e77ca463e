/* SPDX-License-Identifier: MIT */
/*
 * state_region.c - the state memfd's layout, creation and adoption (see
 * state_region.h).
 *
 * The header is written once, at creation, before the descriptor leaves
 * the process, and only read afterwards. An adopter trusts nothing in it
 * that it can check: magic, version and page size must match this build,
 * every region must lie inside the file in the order of the layout, and
 * the file size must be exactly what the header describes.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "common.h"
#include "pool.h"
#include "same_values.h"
#include "state_region.h"

#define STATE_MAGIC UINT64_C(0x3145544154535753) /* "SWSTATE1" little-endian */
#define STATE_LAYOUT_VERSION 1u
/* 2^40 slots (4 PiB of device), as slot_table.c allows. */
#define STATE_MAX_SLOTS (UINT64_C(1) << 40)

struct state_header {
	uint64_t magic;
	uint32_t version;
	uint32_t page_size;
	uint64_t nr_slots;
	uint64_t nr_chunks;
	int64_t clock_base;
	uint64_t slots_offset, slots_len;
	uint64_t same_offset, same_len;
	uint64_t classes_offset, classes_len;
	uint64_t arena_offset, arena_len;
	uint64_t total_len;
};

struct state_region {
	struct state_region_map map;
	void *base;
	uint64_t len;
	int64_t clock_base;
};

static void layout(struct state_header *h, uint64_t nr_slots, uint32_t nr_chunks)
{
	h->magic = STATE_MAGIC;
	h->version = STATE_LAYOUT_VERSION;
	h->page_size = SWAPDEV_PAGE_SIZE;
	h->nr_slots = nr_slots;
	h->nr_chunks = nr_chunks;
	h->slots_offset = SWAPDEV_PAGE_SIZE;
	h->slots_len = ALIGN_UP(nr_slots * sizeof(uint64_t), (uint64_t)SWAPDEV_PAGE_SIZE);
	h->same_offset = h->slots_offset + h->slots_len;
	h->same_len = ALIGN_UP((uint64_t)SAME_VALUES_BYTES, (uint64_t)SWAPDEV_PAGE_SIZE);
	h->classes_offset = h->same_offset + h->same_len;
	h->classes_len = ALIGN_UP((uint64_t)nr_chunks, (uint64_t)SWAPDEV_PAGE_SIZE);
	h->arena_offset = h->classes_offset + h->classes_len;
	h->arena_len = (uint64_t)nr_chunks * POOL_CHUNK_SPAN;
	h->total_len = h->arena_offset + h->arena_len;
}

static int region_map(struct state_region *region, int fd, const struct state_header *h)
{
	char *base = mmap(NULL, h->total_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
			  fd, 0);

	if (base == MAP_FAILED)
		return -ENOMEM;
	region->base = base;
	region->len = h->total_len;
	region->clock_base = h->clock_base;
	region->map = (struct state_region_map){
		.slots = (uint64_t *)(base + h->slots_offset),
		.same_values = base + h->same_offset,
		.classes = (uint8_t *)(base + h->classes_offset),
		.arena = base + h->arena_offset,
		.slots_offset = h->slots_offset,
		.classes_offset = h->classes_offset,
		.arena_offset = h->arena_offset,
		.nr_slots = h->nr_slots,
		.nr_chunks = (uint32_t)h->nr_chunks,
		.fd = fd,
	};
	return 0;
}

int state_region_new(uint64_t nr_slots, uint32_t nr_chunks, int64_t clock_base,
		     struct state_region **ret_region)
{
	struct state_region *region;
	struct state_header h = { 0 };
	_cleanup_close_ int fd = -1;
	ssize_t n;
	int r;

	if (nr_slots == 0 || nr_slots > STATE_MAX_SLOTS || nr_chunks == 0)
		return -EINVAL;
	layout(&h, nr_slots, nr_chunks);
	h.clock_base = clock_base;
	fd = memfd_create("swapdev-state", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)h.total_len) < 0)
		return -errno;
	n = pwrite(fd, &h, sizeof(h), 0);
	if (n < 0)
		return -errno;
	if (n != sizeof(h))
		return -EIO;
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		return -errno;
	region = calloc(1, sizeof(*region));
	if (!region)
		return -ENOMEM;
	r = region_map(region, fd, &h);
	if (r < 0) {
		free(region);
		return r;
	}
	fd = -1; /* the region owns it now */
	*ret_region = region;
	return 0;
}

/* Every region inside the file, in layout order, sized as the counts say. */
static bool header_consistent(const struct state_header *h)
{
	struct state_header expect = { 0 };

	if (h->nr_slots == 0 || h->nr_slots > STATE_MAX_SLOTS || h->nr_chunks == 0 ||
	    h->nr_chunks > UINT32_MAX)
		return false;
	layout(&expect, h->nr_slots, (uint32_t)h->nr_chunks);
	expect.clock_base = h->clock_base;
	return memcmp(&expect, h, sizeof(expect)) == 0;
}

int state_region_adopt(int fd, uint64_t nr_slots, char *error, size_t error_size,
		       struct state_region **ret_region)
{
	struct state_region *region;
	struct state_header h;
	struct stat st;
	int r;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (pread(fd, &h, sizeof(h), 0) != sizeof(h) || h.magic != STATE_MAGIC) {
		snprintf(error, error_size, "not a swapdev state memfd (no magic)");
		return -EINVAL;
	}
	if (h.version != STATE_LAYOUT_VERSION || h.page_size != SWAPDEV_PAGE_SIZE) {
		snprintf(error, error_size,
			 "state layout version %u, page size %u; this build has %u and %u",
			 h.version, h.page_size, STATE_LAYOUT_VERSION, SWAPDEV_PAGE_SIZE);
		return -EINVAL;
	}
	if (!header_consistent(&h) || (uint64_t)st.st_size != h.total_len) {
		snprintf(error, error_size, "state memfd of %jd bytes contradicts its header",
			 (intmax_t)st.st_size);
		return -EINVAL;
	}
	if (h.nr_slots != nr_slots) {
		snprintf(error, error_size, "state holds %ju slots, the configuration %ju",
			 (uintmax_t)h.nr_slots, (uintmax_t)nr_slots);
		return -EINVAL;
	}
	region = calloc(1, sizeof(*region));
	if (!region)
		return -ENOMEM;
	fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (fd < 0) {
		r = -errno;
		free(region);
		return r;
	}
	r = region_map(region, fd, &h);
	if (r < 0) {
		close(fd);
		free(region);
		return r;
	}
	*ret_region = region;
	return 0;
}

void state_region_free(struct state_region *region)
{
	if (!region)
		return;
	munmap(region->base, region->len);
	close(region->map.fd);
	free(region);
}

const struct state_region_map *state_region_map(const struct state_region *region)
{
	return &region->map;
}

int64_t state_region_clock_base(const struct state_region *region)
{
	return region->clock_base;
}

int state_region_punch(const struct state_region *region, uint64_t offset, uint64_t len)
{
	/* MADV_REMOVE would refuse the mlockall'd (VM_LOCKED) mapping. */
	if (fallocate(region->map.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset,
		      (off_t)len) < 0)
		return -errno;
	return 0;
}
