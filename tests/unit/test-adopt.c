/* SPDX-License-Identifier: MIT */
/*
 * test-adopt.c - a store adopted from the state memfd of a process that
 * died: SIGKILL at random moments of a workload that makes every writer
 * run (pool and disk writes, same-filled pages, discards, writeback,
 * compaction, recompression), then every slot must read back the version
 * the dead process acknowledged or the one it had in flight, and the
 * adoption report must match a recount; corrupted memfds are refused.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../common/backing.h"
#include "../common/pagegen.h"
#include "common.h"
#include "slot_table.h"
#include "store.h"

#define MiB (UINT64_C(1) << 20)
#define NR_SLOTS 2048u
#define KILLS 40
#define NO_PENDING UINT32_MAX
/* state_region.h: the header page, then the slot words. */
#define SLOTS_OFFSET SWAPDEV_PAGE_SIZE


TestSuite(adopt, .init = make_backing, .fini = remove_backing);

/* A small pool in front of a disk tier: every tier and mover gets work. */
static struct store_config config_of(bool background)
{
	return (struct store_config){
		.size = (uint64_t)NR_SLOTS * SWAPDEV_PAGE_SIZE,
		.pool_limit = 1 * MiB,
		.pool_max = 4 * MiB,
		.codec = { .kind = CODEC_LZ4 },
		.same_filled = true,
		.reject_threshold = 3584,
		.incompressible_to_pool = true,
		.backing_path = backing_path,
		.high_watermark = 60,
		.low_watermark = 40,
		.background_growth = background,
		.recompress = { .enabled = true,
				.codec = { .kind = CODEC_ZSTD, .level = 3 },
				.idle_seconds = 0,
				.min_saving_percent = 5,
				.cpu_percent = 100 },
	};
}

/* Version v of slot idx: never a zero page, so that zeros mean EMPTY. 0 = zeros. */
static void version_page(void *page, uint64_t idx, uint32_t v)
{
	uint64_t seed = idx * 1000003 + v;
	enum page_kind kind = pagegen_pick(seed);

	if (v == 0) {
		memset(page, 0, SWAPDEV_PAGE_SIZE);
		return;
	}
	pagegen_fill_kind(page, SWAPDEV_PAGE_SIZE, kind == PAGE_ZERO ? PAGE_SAME : kind, seed);
}

/* What the dead process acknowledged per slot, and what it had in flight. */
struct journal_slot {
	uint32_t acked;
	uint32_t pending;
};

struct journal {
	uint32_t next_version;
	/* What the children's stores did, summed at each kill: all must happen. */
	uint64_t writes_same, writes_disk, writeback_pages, compactions, recompressed;
	struct store_counters round; /* the running child's counters, copied now and then */
	struct journal_slot slots[NR_SLOTS];
};

static uint64_t rnd(uint64_t *s)
{
	return pagegen_next(s);
}

/* The child: adopt, then write, discard and read at random until killed. */
static void child_workload(int state_fd, struct journal *j, bool background, uint64_t seed)
{
	struct store_config c = config_of(background);
	struct store_adopt_report report;
	static unsigned char buf[8 * SWAPDEV_PAGE_SIZE] __attribute__((aligned(4096)));
	static unsigned char want[SWAPDEV_PAGE_SIZE];
	struct store_worker *w;
	struct store *store;
	uint64_t s = seed | 1;

	if (store_adopt(&c, state_fd, &report, &store) < 0 || store_worker_new(store, &w) < 0 ||
	    store_start_writeback(store) < 0)
		_exit(2);
	store_set_exclusive_loads(store, seed % 3 == 0);
	for (uint64_t op = 0;; op++) {
		uint64_t first = rnd(&s) % NR_SLOTS, n = 1 + rnd(&s) % 8;
		unsigned what = (unsigned)(rnd(&s) % 100);

		n = MIN(n, NR_SLOTS - first);
		if (what < 55) {
			for (uint64_t i = 0; i < n; i++) {
				uint32_t v = ++j->next_version;

				version_page(buf + i * SWAPDEV_PAGE_SIZE, first + i, v);
				__atomic_store_n(&j->slots[first + i].pending, v, __ATOMIC_SEQ_CST);
			}
			if (store_write(w, buf, n * SWAPDEV_PAGE_SIZE, first * SWAPDEV_PAGE_SIZE) < 0)
				_exit(3);
			for (uint64_t i = 0; i < n; i++) {
				struct journal_slot *js = &j->slots[first + i];

				__atomic_store_n(&js->acked, js->pending, __ATOMIC_SEQ_CST);
				__atomic_store_n(&js->pending, NO_PENDING, __ATOMIC_SEQ_CST);
			}
		} else if (what < 65) {
			for (uint64_t i = 0; i < n; i++)
				__atomic_store_n(&j->slots[first + i].pending, 0, __ATOMIC_SEQ_CST);
			if (store_discard(w, first * SWAPDEV_PAGE_SIZE, n * SWAPDEV_PAGE_SIZE) < 0)
				_exit(3);
			for (uint64_t i = 0; i < n; i++) {
				__atomic_store_n(&j->slots[first + i].acked, 0, __ATOMIC_SEQ_CST);
				__atomic_store_n(&j->slots[first + i].pending, NO_PENDING,
						 __ATOMIC_SEQ_CST);
			}
		} else if (what < 97) {
			if (store_read(w, buf, n * SWAPDEV_PAGE_SIZE, first * SWAPDEV_PAGE_SIZE) < 0)
				_exit(4);
			for (uint64_t i = 0; i < n; i++) {
				version_page(want, first + i, j->slots[first + i].acked);
				if (memcmp(want, buf + i * SWAPDEV_PAGE_SIZE, SWAPDEV_PAGE_SIZE))
					_exit(5);
			}
		} else if (what < 99) {
			store_compact(store);
			store_get_counters(store, &j->round);
		} else {
			struct store_flush_request flush = { .limit_bytes = 64 * 1024 };

			store_flush(store, &flush);
		}
	}
}

static bool same_filled(const uint64_t *p)
{
	for (size_t i = 1; i < SWAPDEV_PAGE_SIZE / 8; i++)
		if (p[i] != p[0])
			return false;
	return true;
}

/*
 * Every slot holds its acknowledged or in-flight version (which becomes the
 * acknowledged one for the next round); the report matches a recount.
 */
static void verify_adopted(struct store *store, struct journal *j,
			   const struct store_adopt_report *report, unsigned round)
{
	static unsigned char page[SWAPDEV_PAGE_SIZE], want[SWAPDEV_PAGE_SIZE];
	uint64_t count[4] = { 0 }, pool_bytes = 0;
	struct store_worker *w;
	struct store_stats st;

	cr_assert_eq(store_worker_new(store, &w), 0);
	/* Before any read: reads stamp and mark, but move nothing. */
	store_get_stats(store, &st);
	for (uint64_t idx = 0; idx < NR_SLOTS; idx++) {
		struct journal_slot *js = &j->slots[idx];
		enum codec_kind codec;
		unsigned len;
		void *data;

		cr_assert_eq(store_read(w, page, SWAPDEV_PAGE_SIZE, idx * SWAPDEV_PAGE_SIZE),
			     SWAPDEV_PAGE_SIZE);
		version_page(want, idx, js->acked);
		if (memcmp(page, want, SWAPDEV_PAGE_SIZE) != 0) {
			cr_assert_neq(js->pending, NO_PENDING,
				      "round %u: slot %" PRIu64 " lost version %u", round, idx,
				      js->acked);
			version_page(want, idx, js->pending);
			cr_assert(memcmp(page, want, SWAPDEV_PAGE_SIZE) == 0,
				  "round %u: slot %" PRIu64 " holds neither version %u nor %u", round,
				  idx, js->acked, js->pending);
			js->acked = js->pending; /* what the next round starts from */
		}
		js->pending = NO_PENDING;
		if (store_pool_entry(store, idx, &data, &len, &codec) == 0) {
			count[SLOT_POOL]++;
			pool_bytes += 8 + len;
		} else if (same_filled((const uint64_t *)page)) {
			count[page[0] || ((uint64_t *)page)[0] ? SLOT_SAME : SLOT_EMPTY]++;
		} else {
			count[SLOT_DISK]++;
		}
	}
	for (unsigned s = 0; s < 4; s++)
		cr_assert_eq(report->slots[s], count[s], "round %u: state %u: %" PRIu64 " != %" PRIu64,
			     round, s, report->slots[s], count[s]);
	cr_assert_eq(st.same_slots, count[SLOT_SAME]);
	cr_assert_eq(st.pool_slots, count[SLOT_POOL]);
	cr_assert_eq(st.disk_slots, count[SLOT_DISK]);
	cr_assert_eq(report->pool_objects, count[SLOT_POOL]);
	cr_assert_eq(report->pool_object_bytes, pool_bytes);
	cr_assert_eq(report->disk_blocks, count[SLOT_DISK]);
	cr_assert_eq(st.disk_bytes, count[SLOT_DISK] * SWAPDEV_PAGE_SIZE);
	cr_assert_eq(report->pool_footprint_bytes, st.pool_footprint_bytes);
	cr_assert_leq(report->pool_footprint_bytes, 4 * MiB);
	store_worker_free(w);
}

static int adopt(int fd, bool background, struct store_adopt_report *report,
		 struct store **ret_store)
{
	struct store_config c = config_of(background);

	return store_adopt(&c, fd, report, ret_store);
}

Test(adopt, sigkill_at_random_moments, .timeout = 240)
{
	struct store_config c = config_of(false);
	struct journal *j;
	struct store *store;
	uint64_t s = (uint64_t)time(NULL) | 1;
	uint64_t cleared = 0, orphans = 0, wb_cleared = 0;
	int fd;

	j = mmap(NULL, sizeof(*j), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(j, MAP_FAILED);
	for (unsigned i = 0; i < NR_SLOTS; i++)
		j->slots[i] = (struct journal_slot){ .acked = 0, .pending = NO_PENDING };
	cr_assert_eq(store_new(&c, &store), 0);
	fd = dup(store_state_fd(store));
	cr_assert_geq(fd, 0);
	store_free(store);

	for (unsigned round = 0; round < KILLS; round++) {
		bool background = round % 2;
		struct store_adopt_report report;
		int status, r;
		pid_t pid;

		pid = fork();
		cr_assert_geq(pid, 0);
		if (pid == 0)
			child_workload(fd, j, background, rnd(&s));
		usleep((useconds_t)(2000 + rnd(&s) % 40000));
		kill(pid, SIGKILL);
		cr_assert_eq(waitpid(pid, &status, 0), pid);
		cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
			  "round %u: the child ended on its own (status %#x)", round, status);

		j->writes_same += j->round.writes_same;
		j->writes_disk += j->round.writes_disk;
		j->writeback_pages += j->round.writeback_pages;
		j->compactions += j->round.compactions;
		j->recompressed += j->round.recompressed;
		memset(&j->round, 0, sizeof(j->round));

		r = adopt(fd, background, &report, &store);
		cr_assert_eq(r, 0, "round %u: store_adopt: %s: %s", round, strerror(-r), report.error);
		verify_adopted(store, j, &report, round);
		cleared += report.locks_cleared + report.pins_cleared;
		wb_cleared += report.writeback_flags_cleared;
		orphans += report.orphan_objects + report.orphan_chunks;
		store_free(store);
	}
	cr_log_info("%d kills: %" PRIu64 " locks and pins, %" PRIu64
		    " writeback claims, %" PRIu64 " orphan objects and chunks cleared; the children"
		    " wrote %" PRIu64 " same-filled and %" PRIu64 " disk pages, wrote back %" PRIu64
		    ", moved %" PRIu64 " and recompressed %" PRIu64,
		    KILLS, cleared, wb_cleared, orphans, j->writes_same, j->writes_disk,
		    j->writeback_pages, j->compactions, j->recompressed);
	cr_expect_gt(j->writes_same, 0);
	cr_expect_gt(j->writes_disk, 0);
	cr_expect_gt(j->writeback_pages, 0);
	cr_expect_gt(j->compactions, 0);
	cr_expect_gt(j->recompressed, 0);
	close(fd);
	munmap(j, sizeof(*j));
}

/* A store holding pool, disk and same-filled slots, dropped; its state fd is returned. */
static int populated_state(void)
{
	struct store_config c = config_of(false);
	unsigned char page[SWAPDEV_PAGE_SIZE];
	struct store_worker *w;
	struct store *store;
	int fd;

	c.incompressible_to_pool = false; /* random pages go to disk */
	c.recompress.enabled = false;
	cr_assert_eq(store_new(&c, &store), 0);
	cr_assert_eq(store_worker_new(store, &w), 0);
	for (uint64_t idx = 0; idx < 64; idx++) {
		pagegen_fill_kind(page, sizeof(page), idx % 4 == 0 ? PAGE_RANDOM : PAGE_TEXT, idx);
		cr_assert_eq(store_write(w, page, sizeof(page), idx * SWAPDEV_PAGE_SIZE),
			     SWAPDEV_PAGE_SIZE);
	}
	for (size_t i = 0; i < sizeof(page) / 8; i++)
		((uint64_t *)page)[i] = UINT64_C(0x0123456789abcdef); /* the shared table */
	cr_assert_eq(store_write(w, page, sizeof(page), 100 * SWAPDEV_PAGE_SIZE), SWAPDEV_PAGE_SIZE);
	fd = dup(store_state_fd(store));
	cr_assert_geq(fd, 0);
	store_free(store);
	return fd;
}

static uint64_t *map_words(int fd)
{
	uint64_t *words = mmap(NULL, SLOTS_OFFSET + NR_SLOTS * 8, PROT_READ | PROT_WRITE,
			       MAP_SHARED, fd, 0);

	cr_assert_neq(words, MAP_FAILED);
	return (uint64_t *)((char *)words + SLOTS_OFFSET);
}

/* One corruption of slot 200's word (or of slot 1's, pool, or 0's, disk). */
struct corruption {
	const char *name;
	uint64_t slot;		/* the slot the error must name */
	const char *because;	/* and a word of why */
};

static void corrupt(uint64_t *words, unsigned which)
{
	switch (which) {
	case 0: /* a pool handle into a chunk index that holds no chunk */
		words[1] = (words[1] & ~SLOT_POOL_HANDLE_MASK) | (UINT64_C(900) << 7);
		break;
	case 1: /* a second slot naming the same pool object */
		words[200] = words[1];
		break;
	case 2: /* a disk block past the file */
		words[200] = slot_make_disk(UINT64_C(1) << 40);
		break;
	case 3: /* a second slot naming the same disk block */
		words[200] = words[0];
		break;
	case 4: /* a length of another size class */
		words[1] = slot_make_pool(slot_pool_handle(words[1]), 4000, CODEC_LZ4);
		break;
	case 5: /* a same-value entry that never held a value */
		words[200] = slot_make_same_indexed(4000);
		break;
	case 6: /* an object beyond its chunk's capacity */
		words[1] = (words[1] & ~UINT64_C(0x7f)) | 127;
		break;
	}
}

Test(adopt, corrupt_slot_word_refused)
{
	static const struct corruption cases[] = {
		{ "handle into a chunk without a class", 1, "no class" },
		{ "duplicate pool handle", 200, "owner is slot 1" },
		{ "disk block out of range", 200, "past the file" },
		{ "duplicate disk block", 200, "another slot" },
		{ "length of another class", 1, "not of its chunk's class" },
		{ "unused same-value entry", 200, "does not exist" },
		{ "slot beyond the class's capacity", 1, "capacity" },
	};

	for (unsigned i = 0; i < ARRAY_SIZE(cases); i++) {
		struct store_adopt_report report;
		struct store *store = NULL;
		char slot[32];
		int fd = populated_state();
		uint64_t *words = map_words(fd);

		cr_assert_eq(slot_state(words[0]), SLOT_DISK, "slot 0 went to disk");
		cr_assert_eq(slot_state(words[1]), SLOT_POOL, "slot 1 is in the pool");
		corrupt(words, i);
		cr_assert_eq(adopt(fd, false, &report, &store), -EBADMSG, "%s", cases[i].name);
		cr_assert_null(store);
		snprintf(slot, sizeof(slot), "slot %" PRIu64 " ", cases[i].slot);
		cr_assert_not_null(strstr(report.error, slot), "%s: %s", cases[i].name,
				   report.error);
		cr_assert_not_null(strstr(report.error, cases[i].because), "%s: %s",
				   cases[i].name, report.error);
		munmap((char *)words - SLOTS_OFFSET, SLOTS_OFFSET + NR_SLOTS * 8);
		close(fd);
	}
}

Test(adopt, clean_state_adopts_and_reads_back)
{
	struct store_adopt_report report;
	unsigned char page[SWAPDEV_PAGE_SIZE], want[SWAPDEV_PAGE_SIZE];
	struct store_worker *w;
	struct store *store;
	int fd = populated_state();

	cr_assert_eq(adopt(fd, false, &report, &store), 0, "%s", report.error);
	cr_assert_eq(report.slots[SLOT_POOL] + report.slots[SLOT_DISK] + report.slots[SLOT_SAME], 65);
	cr_assert_eq(report.slots[SLOT_DISK], 16);
	cr_assert_eq(report.slots[SLOT_SAME], 1);
	cr_assert_eq(store_worker_new(store, &w), 0);
	for (uint64_t idx = 0; idx < 64; idx++) {
		pagegen_fill_kind(want, sizeof(want), idx % 4 == 0 ? PAGE_RANDOM : PAGE_TEXT, idx);
		cr_assert_eq(store_read(w, page, sizeof(page), idx * SWAPDEV_PAGE_SIZE),
			     SWAPDEV_PAGE_SIZE);
		cr_assert(memcmp(page, want, sizeof(page)) == 0, "slot %" PRIu64, idx);
	}
	cr_assert_eq(store_read(w, page, sizeof(page), 100 * SWAPDEV_PAGE_SIZE), SWAPDEV_PAGE_SIZE);
	cr_assert_eq(((uint64_t *)page)[511], UINT64_C(0x0123456789abcdef));
	store_free(store);
	close(fd);
}

Test(adopt, not_a_state_memfd)
{
	struct store_adopt_report report;
	struct store *store = NULL;
	char junk[8192] = "not a swapdev state";
	int fd = memfd_create("junk", MFD_CLOEXEC);

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	cr_assert_eq(adopt(fd, false, &report, &store), -EINVAL);
	cr_assert_not_null(strstr(report.error, "magic"), "%s", report.error);
	cr_assert_null(store);
	close(fd);
}

Test(adopt, other_geometry)
{
	struct store_config c = config_of(false);
	struct store_adopt_report report;
	struct store *store = NULL;
	int fd = populated_state();

	c.size *= 2;
	cr_assert_eq(store_adopt(&c, fd, &report, &store), -EINVAL);
	cr_assert_not_null(strstr(report.error, "slots"), "%s", report.error);
	cr_assert_null(store);
	close(fd);
}

/* The memfd's sparse size costs nothing until written. */
Test(adopt, state_costs_nothing_untouched)
{
	struct store_config c = {
		.size = UINT64_C(64) << 30,
		.pool_limit = UINT64_C(1) << 30,
		.pool_max = UINT64_C(64) << 30,
		.codec = { .kind = CODEC_LZ4 },
		.same_filled = true,
		.reject_threshold = 3584,
		.high_watermark = 90,
		.low_watermark = 80,
	};
	unsigned char page[SWAPDEV_PAGE_SIZE];
	struct store_worker *w;
	struct store_stats st;
	struct store *store;
	struct stat sb;

	cr_assert_eq(store_new(&c, &store), 0);
	cr_assert_eq(fstat(store_state_fd(store), &sb), 0);
	cr_assert_gt((uint64_t)sb.st_size, UINT64_C(64) << 30);
	/* The header and the same-value entries (populated for the request path). */
	cr_assert_leq((uint64_t)sb.st_blocks * 512, 68 * 1024, "%jd blocks", (intmax_t)sb.st_blocks);
	cr_assert_eq(store_worker_new(store, &w), 0);
	pagegen_fill_kind(page, sizeof(page), PAGE_TEXT, 1);
	cr_assert_eq(store_write(w, page, sizeof(page), UINT64_C(32) << 30), SWAPDEV_PAGE_SIZE);
	cr_assert_eq(fstat(store_state_fd(store), &sb), 0);
	/* And a page of slot words, a page of class bytes, one chunk. */
	cr_assert_lt((uint64_t)sb.st_blocks * 512, 256 * 1024, "%jd blocks", (intmax_t)sb.st_blocks);
	store_get_stats(store, &st);
	cr_assert_leq(st.metadata_bytes, 64 * 1024);
	store_free(store);
}
