/* SPDX-License-Identifier: MIT */
/*
 * session.c - the session record: what a process taking over a live swap
 * area needs besides the /dev/fuse descriptor and the store's state memfd.
 *
 * It is written rarely (at start, after swapon, at each 'swapdevctl config
 * set' and reload) and read once, by the next process, which may find it
 * after a death at any moment, also in the middle of a write: pwrite(2) to
 * shmem stops between pages when the writer gets SIGKILL. So the memfd
 * holds two copies, each with a generation and a checksum; a write goes to
 * the copy that does not hold the newest version, and the reader takes the
 * valid copy with the highest generation. A torn write leaves the older
 * version, which is what the store of the dead process was working with
 * anyway (the fields that matter for adoption never change after start).
 *
 * The layout is struct session_record copied as it is, behind a small
 * header: the same binary, or a newer one on the same machine, reads it.
 * A change of the record changes its size, which the static assertion
 * below catches, and needs SESSION_LAYOUT_VERSION bumped; a process that
 * finds a layout version it does not know refuses to adopt and says why.
 *
 * Memfd layout:
 *
 *	0             copy 0: struct session_wire (generation even)
 *	COPY_STRIDE   copy 1: struct session_wire (generation odd)
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common.h"
#include "session.h"

#define SESSION_MAGIC "SWAPDSES"
/* A configuration value (CONFIG_VALUE_MAX) and its NUL. */
#define VALUE_MAX 4097

struct session_wire {
	char magic[8];
	uint32_t layout_version;
	uint32_t size; /* sizeof(struct session_wire) */
	uint64_t generation;
	uint64_t checksum; /* FNV-1a over the whole copy with this field 0 */
	struct session_record record;
};

_Static_assert(sizeof(struct session_record) == 29824,
	       "struct session_record changed: bump SESSION_LAYOUT_VERSION and this size");

#define COPY_STRIDE ROUND_UP_PAGE(sizeof(struct session_wire))
#define ROUND_UP_PAGE(n) (((n) + 4095) & ~(size_t)4095)

struct session {
	int fd;
	pthread_mutex_t lock;
	uint64_t generation; /* of the newest copy written or read */
	struct session_record record;
	struct session_wire wire; /* encode buffer */
};

static void set_error(char *error, size_t size, const char *fmt, ...)
{
	va_list ap;

	if (!error || size == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(error, size, fmt, ap);
	va_end(ap);
}

static uint64_t fnv1a(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static uint64_t wire_checksum(const struct session_wire *w)
{
	struct session_wire copy;

	memcpy(&copy, w, sizeof(copy));
	copy.checksum = 0;
	return fnv1a(&copy, sizeof(copy));
}

static bool terminated(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

/* The strings are NUL-terminated and the lengths in range. */
static const char *record_invalid(const struct session_record *r)
{
	if (!terminated(r->loop_path, sizeof(r->loop_path)))
		return "loop device path";
	if (!terminated(r->mountpoint, sizeof(r->mountpoint)))
		return "mount point";
	if (!terminated(r->file_path, sizeof(r->file_path)))
		return "file path";
	if (!terminated(r->daemon_version, sizeof(r->daemon_version)))
		return "daemon version";
	if (!terminated(r->config, sizeof(r->config)))
		return "configuration";
	if (!terminated(r->overrides, sizeof(r->overrides)))
		return "overrides";
	if (r->init_request_len > SESSION_INIT_MAX || r->init_reply_len > SESSION_INIT_MAX)
		return "INIT length";
	return NULL;
}

size_t session_encoded_size(void)
{
	return sizeof(struct session_wire);
}

int session_encode(const struct session_record *record, uint64_t generation, void *buf,
		   size_t size)
{
	struct session_wire *w = buf;

	if (size < sizeof(*w) || record_invalid(record))
		return -EINVAL;
	memset(w, 0, sizeof(*w));
	memcpy(w->magic, SESSION_MAGIC, sizeof(w->magic));
	w->layout_version = SESSION_LAYOUT_VERSION;
	w->size = sizeof(*w);
	w->generation = generation;
	w->record = *record;
	w->checksum = wire_checksum(w);
	return 0;
}

int session_decode(const void *buf, size_t size, struct session_record *ret_record,
		   uint64_t *ret_generation, char *error, size_t error_size)
{
	struct session_wire *w;
	const char *bad;

	if (size < offsetof(struct session_wire, generation)) {
		set_error(error, error_size, "session record too short (%zu bytes)", size);
		return -EINVAL;
	}
	w = malloc(sizeof(*w));
	if (!w)
		return -ENOMEM;
	memset(w, 0, sizeof(*w));
	memcpy(w, buf, MIN(size, sizeof(*w)));
	if (memcmp(w->magic, SESSION_MAGIC, sizeof(w->magic)) != 0) {
		set_error(error, error_size, "not a swapdevd session record (no magic)");
		free(w);
		return -EBADMSG;
	}
	if (w->layout_version != SESSION_LAYOUT_VERSION) {
		set_error(error, error_size,
			  "session record layout %" PRIu32 ", this swapdevd knows %d only",
			  w->layout_version, SESSION_LAYOUT_VERSION);
		free(w);
		return -EPROTO;
	}
	if (w->size != sizeof(*w) || size < sizeof(*w)) {
		set_error(error, error_size, "session record of %" PRIu32 " bytes, expected %zu",
			  w->size, sizeof(*w));
		free(w);
		return -EBADMSG;
	}
	if (w->checksum != wire_checksum(w)) {
		set_error(error, error_size, "session record checksum mismatch (torn or corrupt)");
		free(w);
		return -EBADMSG;
	}
	bad = record_invalid(&w->record);
	if (bad) {
		set_error(error, error_size, "session record: invalid %s", bad);
		free(w);
		return -EBADMSG;
	}
	*ret_record = w->record;
	*ret_generation = w->generation;
	free(w);
	return 0;
}

/* Byte offsets in struct fuse_init_out (Linux's fuse.h, protocol 7.23 and later). */
static const struct {
	const char *name;
	size_t offset, size;
} init_out_fields[] = {
	{ "major", 0, 4 },	      { "minor", 4, 4 },	   { "max_readahead", 8, 4 },
	{ "flags", 12, 4 },	      { "max_background", 16, 2 }, { "congestion_threshold", 18, 2 },
	{ "max_write", 20, 4 },	      { "time_gran", 24, 4 },	   { "max_pages", 28, 2 },
	{ "map_alignment", 30, 2 },   { "flags2", 32, 4 },	   { "max_stack_depth", 36, 4 },
};

#define OUT_HEADER 16 /* struct fuse_out_header: len, error, unique */
#define INIT_MAX_WRITE_OFFSET 20

static uint64_t field_value(const unsigned char *p, size_t size)
{
	uint64_t v = 0;

	memcpy(&v, p, size); /* little-endian: the low bytes */
	return v;
}

int session_init_reply_compare(const void *recorded, size_t recorded_len, const void *fresh,
			       size_t fresh_len, char *why, size_t why_size)
{
	const unsigned char *a = recorded, *b = fresh;
	int32_t error_a = 0, error_b = 0;

	if (recorded_len < OUT_HEADER || fresh_len < OUT_HEADER) {
		set_error(why, why_size, "INIT reply of %zu bytes (recorded %zu)", fresh_len,
			  recorded_len);
		return -EPROTO;
	}
	memcpy(&error_a, a + 4, sizeof(error_a));
	memcpy(&error_b, b + 4, sizeof(error_b));
	if (error_a != error_b) {
		set_error(why, why_size, "INIT reply error %d, recorded %d", error_b, error_a);
		return -EPROTO;
	}
	if (recorded_len != fresh_len) {
		set_error(why, why_size, "INIT reply of %zu bytes, recorded %zu", fresh_len,
			  recorded_len);
		return -EPROTO;
	}
	/* The length (bytes 0-3) is equal; the unique (8-15) is ours. */
	if (memcmp(a + OUT_HEADER, b + OUT_HEADER, recorded_len - OUT_HEADER) == 0)
		return 0;
	for (size_t i = 0; i < ARRAY_SIZE(init_out_fields); i++) {
		size_t off = OUT_HEADER + init_out_fields[i].offset, n = init_out_fields[i].size;

		if (off + n > recorded_len || memcmp(a + off, b + off, n) == 0)
			continue;
		set_error(why, why_size, "INIT reply %s 0x%" PRIx64 ", recorded 0x%" PRIx64,
			  init_out_fields[i].name, field_value(b + off, n), field_value(a + off, n));
		return -EPROTO;
	}
	for (size_t i = OUT_HEADER; i < recorded_len; i++)
		if (a[i] != b[i]) {
			set_error(why, why_size, "INIT reply byte %zu is 0x%02x, recorded 0x%02x",
				  i - OUT_HEADER, b[i], a[i]);
			break;
		}
	return -EPROTO;
}

uint32_t session_init_max_write(const void *reply, size_t len)
{
	uint32_t v;

	if (len < OUT_HEADER + INIT_MAX_WRITE_OFFSET + sizeof(v))
		return 0;
	memcpy(&v, (const unsigned char *)reply + OUT_HEADER + INIT_MAX_WRITE_OFFSET, sizeof(v));
	return v;
}

/* The line of key in list, or NULL. */
static char *list_find(char *list, const char *key)
{
	size_t n = strlen(key);

	for (char *line = list; *line;) {
		char *end = strchr(line, '\n');

		if (strncmp(line, key, n) == 0 && line[n] == '=')
			return line;
		if (!end)
			break;
		line = end + 1;
	}
	return NULL;
}

int session_list_set(char *list, size_t size, const char *key, const char *value)
{
	size_t used = strlen(list), need = strlen(key) + 1 + strlen(value) + 1;
	char *line;

	if (!*key || strpbrk(key, "=\n") || strchr(value, '\n'))
		return -EINVAL;
	line = list_find(list, key);
	if (line) {
		char *end = strchr(line, '\n');
		char *next = end ? end + 1 : line + strlen(line);

		if (used - (size_t)(next - line) + need >= size)
			return -ENOSPC;
		memmove(line, next, strlen(next) + 1);
	} else if (used + need >= size) {
		return -ENOSPC;
	}
	used = strlen(list);
	snprintf(list + used, size - used, "%s=%s\n", key, value);
	return 0;
}

int session_list_foreach(const char *list,
			 int (*fn)(const char *key, const char *value, void *userdata),
			 void *userdata)
{
	char key[256], value[VALUE_MAX];

	for (const char *line = list; *line;) {
		const char *end = strchr(line, '\n'), *eq = strchr(line, '=');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		int r;

		if (eq && eq < line + len && (size_t)(eq - line) < sizeof(key) &&
		    len - (size_t)(eq - line) - 1 < sizeof(value)) {
			memcpy(key, line, (size_t)(eq - line));
			key[eq - line] = '\0';
			memcpy(value, eq + 1, len - (size_t)(eq - line) - 1);
			value[len - (size_t)(eq - line) - 1] = '\0';
			r = fn(key, value, userdata);
			if (r != 0)
				return r;
		}
		if (!end)
			break;
		line = end + 1;
	}
	return 0;
}

static struct session *session_alloc(int fd)
{
	struct session *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->fd = fd;
	pthread_mutex_init(&s->lock, NULL);
	return s;
}

int session_new(struct session **ret_session)
{
	struct session *s;
	int fd, r;

	fd = memfd_create("swapdevd-session", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)(2 * COPY_STRIDE)) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	s = session_alloc(fd);
	if (!s) {
		close(fd);
		return -ENOMEM;
	}
	*ret_session = s;
	return 0;
}

/* Read copy i; 0 or -errno / a decode error. */
static int read_copy(int fd, unsigned i, struct session_wire *buf, struct session_record *rec,
		     uint64_t *gen, char *error, size_t error_size)
{
	ssize_t n = pread(fd, buf, sizeof(*buf), (off_t)(i * COPY_STRIDE));

	if (n < 0) {
		set_error(error, error_size, "cannot read the session record: %s", strerror(errno));
		return -errno;
	}
	return session_decode(buf, (size_t)n, rec, gen, error, error_size);
}

int session_open(int fd, struct session **ret_session, struct session_record *ret_record,
		 char *error, size_t error_size)
{
	struct session *s = session_alloc(fd);
	struct session_record *other;
	char other_error[256];
	uint64_t gen[2] = { 0, 0 };
	int r[2];

	other = malloc(sizeof(*other));
	if (!s || !other) {
		free(s);
		free(other);
		return -ENOMEM;
	}
	r[0] = read_copy(fd, 0, &s->wire, &s->record, &gen[0], error, error_size);
	r[1] = read_copy(fd, 1, &s->wire, other, &gen[1], other_error, sizeof(other_error));
	/* A newer binary's layout: the next process must be that binary. */
	if (r[0] == -EPROTO || r[1] == -EPROTO) {
		if (r[0] != -EPROTO)
			set_error(error, error_size, "%s", other_error);
		free(other);
		free(s);
		return -EPROTO;
	}
	if (r[1] == 0 && (r[0] < 0 || gen[1] > gen[0])) {
		s->record = *other;
		gen[0] = gen[1];
		r[0] = 0;
	}
	free(other);
	if (r[0] < 0) {
		/* Neither copy is valid: say what is wrong with each. */
		if (error && error_size) {
			char first[256];

			snprintf(first, sizeof(first), "%s", error);
			set_error(error, error_size, "copy 0: %s; copy 1: %s", first, other_error);
		}
		free(s);
		return r[0];
	}
	s->generation = gen[0];
	*ret_record = s->record;
	*ret_session = s;
	return 0;
}

/* Caller holds s->lock. */
static int write_locked(struct session *s, const struct session_record *record)
{
	uint64_t gen = s->generation + 1;
	ssize_t n;
	int r;

	r = session_encode(record, gen, &s->wire, sizeof(s->wire));
	if (r < 0)
		return r;
	n = pwrite(s->fd, &s->wire, sizeof(s->wire), (off_t)((gen % 2) * COPY_STRIDE));
	if (n < 0)
		return -errno;
	if ((size_t)n != sizeof(s->wire))
		return -EIO;
	s->generation = gen;
	if (record != &s->record)
		s->record = *record;
	return 0;
}

int session_write(struct session *s, const struct session_record *record)
{
	int r;

	pthread_mutex_lock(&s->lock);
	r = write_locked(s, record);
	pthread_mutex_unlock(&s->lock);
	return r;
}

void session_get(struct session *s, struct session_record *ret_record)
{
	pthread_mutex_lock(&s->lock);
	*ret_record = s->record;
	pthread_mutex_unlock(&s->lock);
}

int session_set_override(struct session *s, const char *key, const char *value)
{
	char saved[SESSION_OVERRIDES_MAX];
	int r;

	pthread_mutex_lock(&s->lock);
	memcpy(saved, s->record.overrides, sizeof(saved));
	r = session_list_set(s->record.overrides, sizeof(s->record.overrides), key, value);
	if (r == 0)
		r = write_locked(s, &s->record);
	if (r < 0)
		memcpy(s->record.overrides, saved, sizeof(saved));
	pthread_mutex_unlock(&s->lock);
	return r;
}

int session_clear_overrides(struct session *s)
{
	char saved[SESSION_OVERRIDES_MAX];
	int r;

	pthread_mutex_lock(&s->lock);
	if (!s->record.overrides[0]) {
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	memcpy(saved, s->record.overrides, sizeof(saved));
	s->record.overrides[0] = '\0';
	r = write_locked(s, &s->record);
	if (r < 0)
		memcpy(s->record.overrides, saved, sizeof(saved));
	pthread_mutex_unlock(&s->lock);
	return r;
}

int session_fd(const struct session *s)
{
	return s->fd;
}

void session_free(struct session *s)
{
	if (!s)
		return;
	if (s->fd >= 0)
		close(s->fd);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
