/* SPDX-License-Identifier: MIT */
/*
 * test-session.c - the session record (daemon/session.c): encode and
 * decode, refusal of torn, corrupt and newer records, the two copies in
 * the memfd, the key=value lists, and the comparison of INIT replies.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "session.h"

static struct session_record *sample(void)
{
	struct session_record *r = calloc(1, sizeof(*r));

	cr_assert_not_null(r);
	r->flags = SESSION_ACTIVATED;
	r->priority = 100;
	r->device_size = 1ull << 30;
	r->conn_id = 57;
	strcpy(r->loop_path, "/dev/loop3");
	strcpy(r->mountpoint, "/run/swapdev/mnt");
	strcpy(r->file_path, "/run/swapdev/mnt/swap");
	strcpy(r->daemon_version, "1.2.3");
	r->init_request_len = 104;
	r->init_reply_len = 80;
	for (unsigned i = 0; i < 104; i++)
		r->init_request[i] = (unsigned char)i;
	for (unsigned i = 0; i < 80; i++)
		r->init_reply[i] = (unsigned char)(255 - i);
	strcpy(r->config, "device.size=1G\ndevice.mountpoint=/run/swapdev/mnt\n");
	strcpy(r->overrides, "pool.limit=2G\n");
	return r;
}

Test(session, round_trip)
{
	struct session_record *in = sample(), *out = calloc(1, sizeof(*out));
	size_t size = session_encoded_size();
	unsigned char *buf = malloc(size);
	uint64_t gen = 0;

	cr_assert_eq(session_encode(in, 7, buf, size), 0);
	cr_assert_eq(session_decode(buf, size, out, &gen, NULL, 0), 0);
	cr_expect_eq(gen, 7);
	cr_expect_eq(memcmp(in, out, sizeof(*in)), 0);
	free(in);
	free(out);
	free(buf);
}

Test(session, refuses_corrupt_torn_and_newer)
{
	struct session_record *in = sample(), *out = calloc(1, sizeof(*out));
	size_t size = session_encoded_size();
	unsigned char *buf = malloc(size), *copy = malloc(size);
	char error[256];
	uint64_t gen;
	uint32_t version;

	cr_assert_eq(session_encode(in, 1, buf, size), 0);
	/* a flipped byte in the middle: the checksum catches it */
	memcpy(copy, buf, size);
	copy[size / 2] ^= 1;
	cr_expect_eq(session_decode(copy, size, out, &gen, error, sizeof(error)), -EBADMSG);
	cr_expect(strstr(error, "checksum"), "%s", error);
	/* a copy cut short (a death in the middle of a write) */
	cr_expect_eq(session_decode(buf, size / 2, out, &gen, error, sizeof(error)), -EBADMSG);
	/* no magic: not a record at all */
	memset(copy, 0, size);
	cr_expect_eq(session_decode(copy, size, out, &gen, error, sizeof(error)), -EBADMSG);
	/* a layout version this binary does not know */
	memcpy(copy, buf, size);
	memcpy(&version, copy + 8, sizeof(version));
	version++;
	memcpy(copy + 8, &version, sizeof(version));
	cr_expect_eq(session_decode(copy, size, out, &gen, error, sizeof(error)), -EPROTO);
	cr_expect(strstr(error, "layout"), "%s", error);
	/* a string without its NUL is refused at encoding */
	memset(in->loop_path, 'x', sizeof(in->loop_path));
	cr_expect_eq(session_encode(in, 2, buf, size), -EINVAL);
	free(in);
	free(out);
	free(buf);
	free(copy);
}

Test(session, memfd_keeps_the_newest_valid_copy)
{
	struct session_record *rec = sample(), *out = calloc(1, sizeof(*out));
	struct session *s, *t;
	char error[256];
	int fd;

	cr_assert_eq(session_new(&s), 0);
	cr_assert_eq(session_write(s, rec), 0);
	cr_assert_eq(session_set_override(s, "pool.compressor", "zstd"), 0);
	cr_assert_eq(session_set_override(s, "pool.limit", "3G"), 0);
	fd = dup(session_fd(s));
	cr_assert_eq(session_open(fd, &t, out, error, sizeof(error)), 0, "%s", error);
	cr_expect_str_eq(out->overrides, "pool.compressor=zstd\npool.limit=3G\n");
	cr_expect_str_eq(out->loop_path, "/dev/loop3");
	session_free(t);

	/* Tear the newest copy: the older one is read instead. */
	{
		unsigned char junk[64];
		off_t stride = (off_t)((session_encoded_size() + 4095) & ~(size_t)4095);

		memset(junk, 0xaa, sizeof(junk));
		/* three writes: generations 1 (copy 1), 2 (copy 0), 3 (copy 1) */
		cr_assert_eq(pwrite(session_fd(s), junk, sizeof(junk), stride + 4096),
			     (ssize_t)sizeof(junk));
	}
	fd = dup(session_fd(s));
	cr_assert_eq(session_open(fd, &t, out, error, sizeof(error)), 0, "%s", error);
	cr_expect_str_eq(out->overrides, "pool.limit=2G\npool.compressor=zstd\n");
	session_free(t);

	cr_assert_eq(session_clear_overrides(s), 0);
	fd = dup(session_fd(s));
	cr_assert_eq(session_open(fd, &t, out, error, sizeof(error)), 0, "%s", error);
	cr_expect_str_eq(out->overrides, "");
	session_free(t);
	session_free(s);
	free(rec);
	free(out);
}

static int collect(const char *key, const char *value, void *userdata)
{
	char *text = userdata;

	strcat(text, key);
	strcat(text, "|");
	strcat(text, value);
	strcat(text, ";");
	return 0;
}

Test(session, key_value_lists)
{
	char list[64] = "", seen[256] = "";

	cr_assert_eq(session_list_set(list, sizeof(list), "a.b", "1"), 0);
	cr_assert_eq(session_list_set(list, sizeof(list), "c.d", "x y"), 0);
	cr_assert_eq(session_list_set(list, sizeof(list), "a.b", "22"), 0);
	cr_expect_str_eq(list, "c.d=x y\na.b=22\n");
	cr_expect_eq(session_list_set(list, sizeof(list), "bad=key", "1"), -EINVAL);
	cr_expect_eq(session_list_set(list, sizeof(list), "k", "two\nlines"), -EINVAL);
	cr_expect_eq(session_list_set(list, sizeof(list), "long.key",
				      "0123456789012345678901234567890123456789012345678"),
		     -ENOSPC);
	cr_expect_str_eq(list, "c.d=x y\na.b=22\n");
	cr_assert_eq(session_list_foreach(list, collect, seen), 0);
	cr_expect_str_eq(seen, "c.d|x y;a.b|22;");
}

/* A fuse_out_header and the first 64 bytes of fuse_init_out. */
static void init_reply(unsigned char *buf, uint64_t unique, uint32_t max_write)
{
	uint32_t len = 80, major = 7, minor = 31, flags = 0x40409029;

	memset(buf, 0, 80);
	memcpy(buf, &len, 4);
	memcpy(buf + 8, &unique, 8);
	memcpy(buf + 16, &major, 4);
	memcpy(buf + 20, &minor, 4);
	memcpy(buf + 16 + 12, &flags, 4);
	memcpy(buf + 16 + 20, &max_write, 4);
}

Test(session, init_reply_comparison)
{
	unsigned char recorded[80], fresh[80];
	char why[256];

	init_reply(recorded, 2, 1 << 20);
	init_reply(fresh, (1ull << 62) | 2, 1 << 20);
	/* the unique is ours: it does not count */
	cr_expect_eq(session_init_reply_compare(recorded, 80, fresh, 80, why, sizeof(why)), 0);
	cr_expect_eq(session_init_max_write(recorded, 80), 1u << 20);

	init_reply(fresh, 4, 128 << 10);
	cr_expect_eq(session_init_reply_compare(recorded, 80, fresh, 80, why, sizeof(why)),
		     -EPROTO);
	cr_expect(strstr(why, "max_write 0x20000, recorded 0x100000"), "%s", why);

	init_reply(fresh, 4, 1 << 20);
	fresh[16 + 12] ^= 0x10; /* a flag */
	cr_expect_eq(session_init_reply_compare(recorded, 80, fresh, 80, why, sizeof(why)),
		     -EPROTO);
	cr_expect(strstr(why, "flags"), "%s", why);

	cr_expect_eq(session_init_reply_compare(recorded, 80, fresh, 64, why, sizeof(why)),
		     -EPROTO);
	cr_expect(strstr(why, "64 bytes, recorded 80"), "%s", why);
	cr_expect_eq(session_init_max_write(recorded, 30), 0);
}
