/* SPDX-License-Identifier: MIT */
/*
 * config.c - swapdevd configuration: defaults, INI file, --set, validation.
 *
 * One table (CONFIG_KEY_TABLE) describes every key: its name, the kind of
 * value, the struct field, the accepted range and the default text. Every
 * path goes through it: config_init applies the default texts through the
 * same parser as the file and --set, config_get formats from it,
 * config_validate re-checks the struct against it, config_keys[] is
 * generated from it. A value passes two steps: parse (syntax, into a
 * union key_value) and check (range); only then is it stored, so a
 * rejected value never changes the struct.
 *
 * What a kind of value means (SIZE, BOOL, PATH, ...) is in one place: a
 * struct key_kind_ops in kind_ops[], indexed by the kind, with its parse,
 * check, format, load, store and describe (the "accepted: ..." text). The
 * rest of the module calls through it and never asks which kind a key
 * is, so a new kind is an enum entry, its KEY_CTYPE_ and one ops struct
 * (the table's size is checked against the enum when compiling, and
 * every kind's operations when config_init runs). Loading and storing go
 * by the C type of the field, so kinds that share a type share those two
 * functions.
 *
 * Files are read by ini.c, which knows the grammar ("[section]", "key =
 * value", comments, the line cap, NUL bytes, the regular-file check) and
 * none of the keys; its callbacks here look sections and keys up in the
 * table and set values through the same set_key as --set, so a file line
 * and an override are refused with the same words, the file's prefixed
 * "FILE:LINE: ".
 *
 * A file is applied to a deep copy of the caller's config, which replaces
 * the original only when every line was valid. Cross-key constraints
 * (low < high watermark) are left to config_validate, because --set
 * overrides given after the file may still repair them.
 *
 * No locking: the caller serializes access to a struct swapdev_config.
 */
#include <assert.h>
#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>

#include "common.h"
#include "config.h"
#include "ini.h"

/*
 * Default of pool.exclusive_loads: whether a slot the kernel has loaded
 * leaves the pool once it has a copy on disk (SPEC section 3). The
 * reference benchmark decides the shipped default; false until it has run.
 */
#define SWAPDEV_DEFAULT_EXCLUSIVE_LOADS false

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)
#define TiB (UINT64_C(1) << 40)

#define SOCKET_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)
/* "<mountpoint>/swap" and its NUL must fit PATH_MAX. */
#define MOUNTPOINT_MAX (PATH_MAX - sizeof("/" SWAPDEV_FILE_NAME))
#define GROUP_NAME_MAX 32 /* useradd/groupadd limit */
#define VALUE_TEXT_MAX 32 /* formatted non-string value: 20 digits + unit */
#define VALUE_SHOWN_MAX 64 /* a bad value is quoted up to this many bytes */
_Static_assert(CODEC_SPEC_MAX <= VALUE_TEXT_MAX, "codec text must fit a value buffer");

enum key_kind {
	KEY_SIZE,    /* uint64_t bytes: K/M/G/T suffix or % of RAM */
	KEY_BOOL,    /* bool: yes/no, true/false, on/off, 1/0 */
	KEY_INT,     /* int in [min, max] */
	KEY_UINT,    /* uint32_t in [min, max] */
	KEY_PERCENT, /* unsigned in [min, max], "90" or "90%" */
	KEY_PATH,    /* char *, absolute, at most max bytes */
	KEY_GROUP,   /* char *, group name or GID, at most max bytes */
	KEY_CODEC,   /* struct codec_spec */
	KEY_TIER,    /* bool incompressible_to_pool: "disk" or "pool" */
	KEY_SECOND_CODEC, /* struct codec_spec: "none" (lz4) or zstd[:LEVEL] */
	KEY_KIND_COUNT
};

/* The C type of the struct field behind each kind, checked at compile time below. */
#define KEY_CTYPE_SIZE uint64_t
#define KEY_CTYPE_BOOL bool
#define KEY_CTYPE_INT int
#define KEY_CTYPE_UINT uint32_t
#define KEY_CTYPE_PERCENT unsigned
#define KEY_CTYPE_PATH char *
#define KEY_CTYPE_GROUP char *
#define KEY_CTYPE_CODEC struct codec_spec
#define KEY_CTYPE_TIER bool
#define KEY_CTYPE_SECOND_CODEC struct codec_spec

enum key_flags {
	KEY_RUNTIME = 1 << 0,	   /* may change while the daemon runs */
	KEY_PAGE_ALIGNED = 1 << 1, /* size must be a multiple of SWAPDEV_PAGE_SIZE */
	KEY_MAX_RAM = 1 << 2,	   /* size may not exceed physical RAM (max unused) */
	KEY_NOT_ROOT = 1 << 3,	   /* path may not name / (a mount there hides every file) */
};

/*
 * X(name, kind, field, min, max, unit, flags, default), in file order.
 * min/max bound the value (KEY_PATH, KEY_GROUP: max is the length); unit
 * only decorates the accepted range in messages.
 */
#define CONFIG_KEY_TABLE(X)                                                                       \
	X("device.size", SIZE, device_size, 1 * MiB, 16 * TiB, NULL, KEY_PAGE_ALIGNED, "1G")      \
	X("device.mountpoint", PATH, mountpoint, 1, MOUNTPOINT_MAX, NULL, KEY_NOT_ROOT,           \
	  "/run/swapdev/mnt")                                                                      \
	X("device.activate", BOOL, activate, 0, 1, NULL, 0, "yes")                                \
	X("device.priority", INT, priority, -1, 32767, NULL, 0, "100")                            \
	X("device.discard", BOOL, discard, 0, 1, NULL, 0, "yes")                                  \
	X("device.io_uring", BOOL, io_uring, 0, 1, NULL, 0, "yes")                                \
	X("device.refuse_conflicts", BOOL, refuse_conflicts, 0, 1, NULL, 0, "no")                 \
	X("pool.limit", SIZE, pool_limit, 1 * MiB, 0, NULL, KEY_MAX_RAM | KEY_RUNTIME, "25%")     \
	X("pool.compressor", CODEC, compressor, 0, 0, NULL, KEY_RUNTIME, "lz4")                   \
	X("pool.same_filled", BOOL, same_filled, 0, 1, NULL, 0, "yes")                            \
	X("pool.reject_threshold", UINT, reject_threshold, 64, 4096, "bytes", 0, "3584")          \
	X("pool.incompressible", TIER, incompressible_to_pool, 0, 1, NULL, 0, "pool")             \
	X("pool.exclusive_loads", BOOL, exclusive_loads, 0, 1, NULL, KEY_RUNTIME,                 \
	  SWAPDEV_DEFAULT_EXCLUSIVE_LOADS ? "yes" : "no")                                          \
	X("pool.recompress", SECOND_CODEC, recompress, 0, 0, NULL, KEY_RUNTIME, "zstd")          \
	X("pool.recompress_idle_seconds", UINT, recompress_idle_seconds, 1, 30 * 86400,          \
	  "seconds", KEY_RUNTIME, "60")                                                            \
	X("pool.recompress_min_saving", PERCENT, recompress_min_saving, 0, 90, NULL, KEY_RUNTIME, \
	  "10%")                                                                                   \
	X("pool.recompress_cpu_percent", PERCENT, recompress_cpu_percent, 1, 100, NULL,          \
	  KEY_RUNTIME, "10%")                                                                      \
	X("writeback.backing_file", PATH, backing_file, 1, PATH_MAX - 1, NULL, 0,                 \
	  "/var/lib/swapdev/backing")                                                              \
	X("writeback.high_watermark", PERCENT, high_watermark, 1, 100, NULL, KEY_RUNTIME, "90%")  \
	X("writeback.low_watermark", PERCENT, low_watermark, 0, 99, NULL, KEY_RUNTIME, "80%")     \
	X("writeback.idle_seconds", UINT, idle_seconds, 0, 30 * 86400, "seconds", KEY_RUNTIME,    \
	  "0")                                                                                     \
	X("control.socket", PATH, control_socket, 1, SOCKET_PATH_MAX, NULL, 0,                    \
	  "/run/swapdev/control")                                                                  \
	X("control.group", GROUP, control_group, 1, GROUP_NAME_MAX, NULL, 0, "swapdev")

struct key_info {
	const char *name;
	enum key_kind kind;
	size_t offset;
	int64_t min, max;
	const char *unit;
	unsigned flags;
	const char *default_text;
};

#define KEY_INFO(name, kind, field, min, max, unit, flags, default_text)                          \
	{ name, KEY_##kind, offsetof(struct swapdev_config, field), min, max, unit, flags,        \
	  default_text },
static const struct key_info key_table[] = { CONFIG_KEY_TABLE(KEY_INFO) };
#undef KEY_INFO

#define KEY_NAME(name, ...) name,
const char *const config_keys[] = { CONFIG_KEY_TABLE(KEY_NAME) NULL };
#undef KEY_NAME

#define KEY_FIELD_TYPE(name, kind, field, ...)                                                   \
	_Static_assert(__builtin_types_compatible_p(                                              \
			       __typeof__(((struct swapdev_config *)0)->field), KEY_CTYPE_##kind), \
		       name ": struct field does not match the key kind");
CONFIG_KEY_TABLE(KEY_FIELD_TYPE)
#undef KEY_FIELD_TYPE

union key_value {
	uint64_t size;
	int64_t number;
	bool flag;
	struct codec_spec codec;
	const char *string;
};

static const struct {
	const char *text;
	bool value;
} bool_words[] = {
	{ "yes", true }, { "no", false }, { "true", true },  { "false", false },
	{ "on", true },	 { "off", false }, { "1", true },    { "0", false },
};

static const char *const size_units = "KMGT"; /* K = 1 << 10, M = 1 << 20, ... */

uint64_t config_ram_bytes(void)
{
	long pages = sysconf(_SC_PHYS_PAGES);
	long page_size = sysconf(_SC_PAGESIZE);

	if (pages <= 0 || page_size <= 0)
		return 0;
	return (uint64_t)pages * (uint64_t)page_size;
}

static void set_error(struct config_error *error, const struct ini_location *origin,
		      const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void set_error(struct config_error *error, const struct ini_location *origin,
		      const char *fmt, ...)
{
	size_t used = 0;
	va_list ap;
	int n;

	if (!error)
		return;
	if (origin && origin->path) {
		n = snprintf(error->message, sizeof(error->message), "%s:%u: ", origin->path,
			     origin->line);
		used = MIN((size_t)MAX(n, 0), sizeof(error->message) - 1);
	}
	va_start(ap, fmt);
	vsnprintf(error->message + used, sizeof(error->message) - used, fmt, ap);
	va_end(ap);
}

/* A bad value as quoted in a message: cut at VALUE_SHOWN_MAX bytes so the range still fits. */
static const char *shown_value(const char *text, char buf[static VALUE_SHOWN_MAX + 4])
{
	if (strlen(text) <= VALUE_SHOWN_MAX)
		return text;
	snprintf(buf, VALUE_SHOWN_MAX + 4, "%.*s...", VALUE_SHOWN_MAX, text);
	return buf;
}

/*
 * Decimal digits at *text into *ret_value, advancing *text past them.
 * -EINVAL when there is no digit; -ERANGE on overflow, reported only
 * after the whole run of digits is consumed so the caller can still tell
 * trailing junk (-EINVAL) from a number that is merely too large.
 */
static int parse_digits(const char **text, uint64_t *ret_value)
{
	const char *p = *text;
	uint64_t value = 0;
	bool overflow = false;

	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		unsigned digit = (unsigned)(*p - '0');

		if (value > (UINT64_MAX - digit) / 10)
			overflow = true;
		else
			value = value * 10 + digit;
	}
	*text = p;
	if (overflow)
		return -ERANGE;
	*ret_value = value;
	return 0;
}

/* Shift for a unit suffix: "", "B", or K/M/G/T optionally followed by "B" or "iB". */
static int parse_size_suffix(const char *suffix, unsigned *ret_shift)
{
	const char *unit;

	if (suffix[0] == '\0' || strcasecmp(suffix, "B") == 0) {
		*ret_shift = 0;
		return 0;
	}
	unit = strchr(size_units, toupper((unsigned char)suffix[0]));
	if (!unit)
		return -EINVAL;
	suffix++;
	if (suffix[0] != '\0' && strcasecmp(suffix, "B") != 0 && strcasecmp(suffix, "iB") != 0)
		return -EINVAL;
	*ret_shift = 10 * (unsigned)(unit - size_units + 1);
	return 0;
}

int config_parse_size(const char *text, uint64_t ram_bytes, uint64_t *ret_bytes)
{
	const char *p = text;
	unsigned shift;
	uint64_t n;
	int digits_r, r;

	digits_r = parse_digits(&p, &n);
	if (digits_r == -EINVAL)
		return -EINVAL;

	if (strcmp(p, "%") == 0) {
		unsigned __int128 bytes;

		if (ram_bytes == 0)
			return -EINVAL;
		if (digits_r < 0)
			return digits_r;
		bytes = (unsigned __int128)ram_bytes * n / 100;
		if (bytes > UINT64_MAX)
			return -ERANGE;
		/* A share of RAM is rarely a whole number of pages; round down to one. */
		*ret_bytes = (uint64_t)bytes & ~(uint64_t)(SWAPDEV_PAGE_SIZE - 1);
		return 0;
	}

	r = parse_size_suffix(p, &shift);
	if (r < 0)
		return r;
	if (digits_r < 0)
		return digits_r;
	if (n > UINT64_MAX >> shift)
		return -ERANGE;
	*ret_bytes = n << shift;
	return 0;
}

/* An optionally negative decimal integer, no spaces, no '+'. */
static int parse_integer(const char *text, int64_t *ret_value)
{
	bool negative = text[0] == '-';
	const char *p = text + negative;
	uint64_t magnitude;
	int r;

	r = parse_digits(&p, &magnitude);
	if (r == -EINVAL || *p != '\0')
		return -EINVAL;
	if (r < 0)
		return r;
	if (magnitude > (uint64_t)INT64_MAX)
		return -ERANGE;
	*ret_value = negative ? -(int64_t)magnitude : (int64_t)magnitude;
	return 0;
}

/* Largest unit that represents the size exactly: "1G", "512M", "4097". */
static void format_size(uint64_t bytes, char buf[static VALUE_TEXT_MAX])
{
	for (int i = (int)strlen(size_units) - 1; i >= 0; i--) {
		unsigned shift = 10 * (unsigned)(i + 1);

		if (bytes != 0 && bytes % (UINT64_C(1) << shift) == 0) {
			snprintf(buf, VALUE_TEXT_MAX, "%" PRIu64 "%c", bytes >> shift,
				 size_units[i]);
			return;
		}
	}
	snprintf(buf, VALUE_TEXT_MAX, "%" PRIu64, bytes);
}

static bool group_name_valid(const char *name)
{
	if (name[0] == '\0' || name[0] == '-')
		return false;
	for (const char *p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("._-", *p))
			return false;
	return true;
}

static uint64_t size_max(const struct key_info *k, uint64_t ram_bytes)
{
	if (k->flags & KEY_MAX_RAM)
		return ram_bytes ? ram_bytes : UINT64_MAX;
	return (uint64_t)k->max;
}

/* "/", "//", "/./..": an absolute path that names the root directory, read as text. */
static bool path_is_root(const char *path)
{
	unsigned depth = 0;

	for (const char *p = path; *p;) {
		size_t length = strcspn(p, "/");

		if (length == 2 && strncmp(p, "..", 2) == 0)
			depth -= depth > 0;
		else if (length > 0 && !(length == 1 && p[0] == '.'))
			depth++;
		p += length + (p[length] == '/');
	}
	return depth == 0;
}

/*
 * The operations of one kind of value. A value passes parse (syntax, into
 * a union key_value), then check (range and shape), and only then store
 * (into the struct field); format and load go the other way. Errors say
 * in *ret_what what was wrong ("size out of range"); the caller adds the
 * key, the value and describe()'s accepted range.
 */
struct key_kind_ops {
	/* Syntax only. 0, or -EINVAL/-ERANGE with *ret_what set. */
	int (*parse)(const struct key_info *k, const char *text, union key_value *ret_value,
		     const char **ret_what);
	/* Range and shape. 0, or -EINVAL with *ret_what set. NULL: any parsed value is valid. */
	int (*check)(const struct key_info *k, const union key_value *value,
		     const char **ret_what);
	/* Canonical text: a string value as it is, any other written to buf. */
	const char *(*format)(const struct key_info *k, const union key_value *value,
			      char buf[static VALUE_TEXT_MAX]);
	void (*load)(const void *field, union key_value *ret_value);
	/* Store a checked value. 0 or -ENOMEM, the field then unchanged. */
	int (*store)(void *field, const union key_value *value);
	/* What the key accepts, for the "(accepted: ...)" part of a message. */
	void (*describe)(const struct key_info *k, char *buf, size_t size);
	/* The field is a char * the configuration owns: copied, freed by config_done. */
	bool owns_string;
};

/*
 * Loading and storing, one pair per C type of field: the union member
 * that holds it, converted (int and uint32_t go through int64_t number;
 * check has bounded the value to the field's range before a store).
 */
#define FIELD_ACCESSORS(name, ctype, member)                                     \
	static void load_##name(const void *field, union key_value *ret_value)  \
	{                                                                        \
		ret_value->member = *(const ctype *)field;                      \
	}                                                                        \
	static int store_##name(void *field, const union key_value *value)      \
	{                                                                        \
		*(ctype *)field = value->member;                                \
		return 0;                                                        \
	}
FIELD_ACCESSORS(u64, uint64_t, size)
FIELD_ACCESSORS(bool, bool, flag)
FIELD_ACCESSORS(int, int, number)
FIELD_ACCESSORS(u32, uint32_t, number)
FIELD_ACCESSORS(codec, struct codec_spec, codec)
#undef FIELD_ACCESSORS

/* A string field is owned: a store copies, and frees the old copy only once the new exists. */
static void load_string(const void *field, union key_value *ret_value)
{
	ret_value->string = *(char *const *)field;
}

static int store_string(void *field, const union key_value *value)
{
	char *copy = strdup(value->string);

	if (!copy)
		return -ENOMEM;
	free(*(char **)field);
	*(char **)field = copy;
	return 0;
}

/* KEY_SIZE: uint64_t bytes, K/M/G/T suffix or a percentage of RAM. */

static int parse_size_value(const struct key_info *k, const char *text,
			    union key_value *ret_value, const char **ret_what)
{
	int r = config_parse_size(text, config_ram_bytes(), &ret_value->size);

	*ret_what = r == -ERANGE ? "size too large" : "invalid size";
	return r;
}

static int check_size(const struct key_info *k, const union key_value *value,
		      const char **ret_what)
{
	*ret_what = "size out of range";
	if (value->size < (uint64_t)k->min || value->size > size_max(k, config_ram_bytes()))
		return -EINVAL;
	*ret_what = "size not a multiple of 4K";
	if ((k->flags & KEY_PAGE_ALIGNED) && value->size % SWAPDEV_PAGE_SIZE != 0)
		return -EINVAL;
	return 0;
}

static const char *format_size_value(const struct key_info *k, const union key_value *value,
				     char buf[static VALUE_TEXT_MAX])
{
	format_size(value->size, buf);
	return buf;
}

static void describe_size(const struct key_info *k, char *buf, size_t size)
{
	char min_text[VALUE_TEXT_MAX], max_text[VALUE_TEXT_MAX];
	uint64_t ram_bytes;

	format_size((uint64_t)k->min, min_text);
	if (k->flags & KEY_MAX_RAM) {
		/* RAM is rarely a whole number of GiB; whole MiB are readable and valid. */
		ram_bytes = config_ram_bytes();
		format_size(ram_bytes & ~(MiB - 1), max_text);
		snprintf(buf, size, "%s..100%% of RAM (%s), K/M/G/T suffix or a percentage of RAM",
			 min_text, ram_bytes ? max_text : "unknown");
		return;
	}
	format_size((uint64_t)k->max, max_text);
	snprintf(buf, size, "%s..%s%s, K/M/G/T suffix or a percentage of RAM", min_text,
		 max_text, (k->flags & KEY_PAGE_ALIGNED) ? ", a multiple of 4K" : "");
}

/* KEY_BOOL: yes/no, true/false, on/off, 1/0. */

static int parse_bool_value(const struct key_info *k, const char *text,
			    union key_value *ret_value, const char **ret_what)
{
	for (size_t i = 0; i < ARRAY_SIZE(bool_words); i++)
		if (strcasecmp(text, bool_words[i].text) == 0) {
			ret_value->flag = bool_words[i].value;
			return 0;
		}
	*ret_what = "invalid boolean";
	return -EINVAL;
}

static const char *format_bool_value(const struct key_info *k, const union key_value *value,
				     char buf[static VALUE_TEXT_MAX])
{
	return value->flag ? "yes" : "no";
}

static void describe_bool(const struct key_info *k, char *buf, size_t size)
{
	snprintf(buf, size, "yes/no, true/false, on/off, 1/0");
}

/* KEY_INT, KEY_UINT: a decimal integer in [min, max], an optional unit in messages. */

static int parse_number_value(const struct key_info *k, const char *text,
			      union key_value *ret_value, const char **ret_what)
{
	int r = parse_integer(text, &ret_value->number);

	*ret_what = r == -ERANGE ? "number out of range" : "invalid number";
	return r;
}

static int check_number(const struct key_info *k, const union key_value *value,
			const char **ret_what)
{
	*ret_what = "number out of range";
	return value->number < k->min || value->number > k->max ? -EINVAL : 0;
}

static const char *format_number_value(const struct key_info *k, const union key_value *value,
				       char buf[static VALUE_TEXT_MAX])
{
	snprintf(buf, VALUE_TEXT_MAX, "%" PRId64, value->number);
	return buf;
}

static void describe_number(const struct key_info *k, char *buf, size_t size)
{
	snprintf(buf, size, "%" PRId64 "..%" PRId64 "%s%s", k->min, k->max, k->unit ? " " : "",
		 k->unit ? k->unit : "");
}

/* KEY_PERCENT: an unsigned in [min, max], "90" or "90%". */

static int parse_percent_value(const struct key_info *k, const char *text,
			       union key_value *ret_value, const char **ret_what)
{
	const char *p = text;
	uint64_t number;
	int r;

	r = parse_digits(&p, &number);
	*ret_what = "invalid percentage";
	if (r == -EINVAL || (strcmp(p, "%") != 0 && *p != '\0'))
		return -EINVAL;
	if (r < 0 || number > INT64_MAX) {
		*ret_what = "percentage out of range";
		return -ERANGE;
	}
	ret_value->number = (int64_t)number;
	return 0;
}

static int check_percent(const struct key_info *k, const union key_value *value,
			 const char **ret_what)
{
	*ret_what = "percentage out of range";
	return value->number < k->min || value->number > k->max ? -EINVAL : 0;
}

static const char *format_percent_value(const struct key_info *k, const union key_value *value,
					char buf[static VALUE_TEXT_MAX])
{
	snprintf(buf, VALUE_TEXT_MAX, "%" PRId64 "%%", value->number);
	return buf;
}

static void describe_percent(const struct key_info *k, char *buf, size_t size)
{
	snprintf(buf, size, "%" PRId64 "..%" PRId64 ", with or without %%", k->min, k->max);
}

/* KEY_PATH, KEY_GROUP: a string the configuration owns, at most max bytes. */

static int parse_string_value(const struct key_info *k, const char *text,
			      union key_value *ret_value, const char **ret_what)
{
	ret_value->string = text;
	return 0;
}

static const char *format_string_value(const struct key_info *k, const union key_value *value,
				       char buf[static VALUE_TEXT_MAX])
{
	return value->string ? value->string : "";
}

static int check_path(const struct key_info *k, const union key_value *value,
		      const char **ret_what)
{
	*ret_what = "not an absolute path";
	if (!value->string || value->string[0] != '/')
		return -EINVAL;
	*ret_what = "path too long";
	if (strlen(value->string) > (size_t)k->max)
		return -EINVAL;
	*ret_what = "the root directory";
	return (k->flags & KEY_NOT_ROOT) && path_is_root(value->string) ? -EINVAL : 0;
}

static void describe_path(const struct key_info *k, char *buf, size_t size)
{
	snprintf(buf, size, "an absolute path of at most %" PRId64 " bytes%s", k->max,
		 (k->flags & KEY_NOT_ROOT) ? ", not /" : "");
}

static int check_group(const struct key_info *k, const union key_value *value,
		       const char **ret_what)
{
	*ret_what = "invalid group name";
	if (!value->string || !group_name_valid(value->string) ||
	    strlen(value->string) > (size_t)k->max)
		return -EINVAL;
	return 0;
}

static void describe_group(const struct key_info *k, char *buf, size_t size)
{
	snprintf(buf, size,
		 "a group name or GID of at most %" PRId64
		 " letters, digits, '.', '_', '-', not starting with '-'",
		 k->max);
}

/* KEY_CODEC: a struct codec_spec, "lz4", "zstd:3". */

static int parse_codec_value(const struct key_info *k, const char *text,
			     union key_value *ret_value, const char **ret_what)
{
	*ret_what = "invalid compressor";
	return codec_spec_parse(text, &ret_value->codec);
}

static int check_codec(const struct key_info *k, const union key_value *value,
		       const char **ret_what)
{
	struct codec_spec spec;
	char text[CODEC_SPEC_MAX];

	/* The codec module owns the levels; a spec is valid when its text parses back. */
	*ret_what = "invalid compressor";
	codec_spec_format(&value->codec, text);
	return codec_spec_parse(text, &spec) < 0 ? -EINVAL : 0;
}

static const char *format_codec_value(const struct key_info *k, const union key_value *value,
				      char buf[static VALUE_TEXT_MAX])
{
	codec_spec_format(&value->codec, buf);
	return buf;
}

static void describe_codec(const struct key_info *k, char *buf, size_t size)
{
	snprintf(buf, size, "lz4, zstd, zstd:LEVEL with LEVEL 1..19 or -5..-1");
}

/* KEY_TIER: bool incompressible_to_pool, "disk" or "pool". */

static int parse_tier_value(const struct key_info *k, const char *text,
			    union key_value *ret_value, const char **ret_what)
{
	*ret_what = "invalid destination";
	if (strcmp(text, "disk") != 0 && strcmp(text, "pool") != 0)
		return -EINVAL;
	ret_value->flag = strcmp(text, "pool") == 0;
	return 0;
}

static const char *format_tier_value(const struct key_info *k, const union key_value *value,
				     char buf[static VALUE_TEXT_MAX])
{
	return value->flag ? "pool" : "disk";
}

static void describe_tier(const struct key_info *k, char *buf, size_t size)
{
	snprintf(buf, size, "disk or pool");
}

/*
 * KEY_SECOND_CODEC: idle recompression's codec, a struct codec_spec that
 * must be denser than lz4; lz4 stands for "none" (recompression off).
 */

static int parse_second_codec_value(const struct key_info *k, const char *text,
				    union key_value *ret_value, const char **ret_what)
{
	if (strcmp(text, "none") == 0) {
		ret_value->codec = (struct codec_spec){ .kind = CODEC_LZ4 };
		return 0;
	}
	*ret_what = "invalid second compressor";
	if (codec_spec_parse(text, &ret_value->codec) < 0 || ret_value->codec.kind != CODEC_ZSTD)
		return -EINVAL;
	return 0;
}

static const char *format_second_codec_value(const struct key_info *k,
					     const union key_value *value,
					     char buf[static VALUE_TEXT_MAX])
{
	if (value->codec.kind == CODEC_LZ4)
		return "none";
	codec_spec_format(&value->codec, buf);
	return buf;
}

static void describe_second_codec(const struct key_info *k, char *buf, size_t size)
{
	snprintf(buf, size, "none, zstd, zstd:LEVEL with LEVEL 1..19 or -5..-1");
}

static const struct key_kind_ops kind_ops[] = {
	[KEY_SIZE] = { parse_size_value, check_size, format_size_value, load_u64, store_u64,
		       describe_size, false },
	[KEY_BOOL] = { parse_bool_value, NULL, format_bool_value, load_bool, store_bool,
		       describe_bool, false },
	[KEY_INT] = { parse_number_value, check_number, format_number_value, load_int, store_int,
		      describe_number, false },
	[KEY_UINT] = { parse_number_value, check_number, format_number_value, load_u32,
		       store_u32, describe_number, false },
	[KEY_PERCENT] = { parse_percent_value, check_percent, format_percent_value, load_u32,
			  store_u32, describe_percent, false },
	[KEY_PATH] = { parse_string_value, check_path, format_string_value, load_string,
		       store_string, describe_path, true },
	[KEY_GROUP] = { parse_string_value, check_group, format_string_value, load_string,
			store_string, describe_group, true },
	[KEY_CODEC] = { parse_codec_value, check_codec, format_codec_value, load_codec,
			store_codec, describe_codec, false },
	[KEY_TIER] = { parse_tier_value, NULL, format_tier_value, load_bool, store_bool,
		       describe_tier, false },
	[KEY_SECOND_CODEC] = { parse_second_codec_value, check_codec, format_second_codec_value,
			       load_codec, store_codec, describe_second_codec, false },
};
_Static_assert(ARRAY_SIZE(kind_ops) == KEY_KIND_COUNT, "every key kind needs its operations");

static const struct key_kind_ops *ops_of(const struct key_info *k)
{
	return &kind_ops[k->kind];
}

static void format_accepted(const struct key_info *k, char *buf, size_t size)
{
	ops_of(k)->describe(k, buf, size);
}

static int parse_value(const struct key_info *k, const char *text, union key_value *ret_value,
		       const char **ret_what)
{
	return ops_of(k)->parse(k, text, ret_value, ret_what);
}

static int check_value(const struct key_info *k, const union key_value *value,
		       const char **ret_what)
{
	return ops_of(k)->check ? ops_of(k)->check(k, value, ret_what) : 0;
}

static void load_value(const struct swapdev_config *config, const struct key_info *k,
		       union key_value *ret_value)
{
	ops_of(k)->load((const char *)config + k->offset, ret_value);
}

static int store_value(struct swapdev_config *config, const struct key_info *k,
		       const union key_value *value)
{
	return ops_of(k)->store((char *)config + k->offset, value);
}

static const char *format_value(const struct key_info *k, const union key_value *value,
				char buf[static VALUE_TEXT_MAX])
{
	return ops_of(k)->format(k, value, buf);
}

static bool is_string_kind(enum key_kind kind)
{
	return kind_ops[kind].owns_string;
}

/* Length of the section part of a key name ("pool" in "pool.limit"). */
static size_t section_length(const char *name)
{
	const char *dot = strchr(name, '.');

	return dot ? (size_t)(dot - name) : strlen(name);
}

static bool section_matches(const struct key_info *k, const char *section, size_t length)
{
	return section_length(k->name) == length && strncmp(k->name, section, length) == 0;
}

/* The first key of a section, whose name outlives any line buffer; NULL if none. */
static const struct key_info *section_first_key(const char *section, size_t length)
{
	for (size_t i = 0; i < ARRAY_SIZE(key_table); i++)
		if (section_matches(&key_table[i], section, length))
			return &key_table[i];
	return NULL;
}

static const struct key_info *find_key(const char *section, size_t length, const char *key)
{
	for (size_t i = 0; i < ARRAY_SIZE(key_table); i++) {
		const struct key_info *k = &key_table[i];

		if (section_matches(k, section, length) && strcmp(k->name + length + 1, key) == 0)
			return k;
	}
	return NULL;
}

/* A full name, "pool.limit". */
static const struct key_info *find_full_key(const char *name)
{
	size_t length = section_length(name);

	return name[length] == '.' ? find_key(name, length, name + length + 1) : NULL;
}

/* "device, pool, writeback, control": sections are contiguous in the table. */
static void format_sections(char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(key_table) && used < size; i++) {
		const char *name = key_table[i].name;
		size_t length = section_length(name);

		if (i > 0 && section_matches(&key_table[i - 1], name, length))
			continue;
		used += (size_t)snprintf(buf + used, size - used, "%s%.*s", i ? ", " : "",
					 (int)length, name);
	}
}

/* "limit, compressor, ..." for one section. */
static void format_section_keys(const char *section, size_t length, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(key_table) && used < size; i++)
		if (section_matches(&key_table[i], section, length))
			used += (size_t)snprintf(buf + used, size - used, "%s%s", used ? ", " : "",
						 key_table[i].name + length + 1);
}

/* name is what the user wrote: "foo" in a file's [pool], "pool.foo" for config_set. */
static void unknown_key_error(struct config_error *error, const struct ini_location *origin,
			      const char *name, const char *section, size_t length)
{
	char accepted[256];

	if (!section_first_key(section, length)) {
		format_sections(accepted, sizeof(accepted));
		set_error(error, origin, "unknown key '%s' (accepted sections: %s)", name,
			  accepted);
		return;
	}
	format_section_keys(section, length, accepted, sizeof(accepted));
	set_error(error, origin, "unknown key '%s' (keys in [%.*s]: %s)", name, (int)length,
		  section, accepted);
}

static void value_error(struct config_error *error, const struct ini_location *origin,
			const struct key_info *k, const char *what, const char *text)
{
	char accepted[256], shown[VALUE_SHOWN_MAX + 4];

	format_accepted(k, accepted, sizeof(accepted));
	set_error(error, origin, "%s: %s '%s' (accepted: %s)", k->name, what,
		  shown_value(text, shown), accepted);
}

static int set_key(struct swapdev_config *config, const struct key_info *k, const char *text,
		   const struct ini_location *origin, struct config_error *error)
{
	union key_value value;
	const char *what = "invalid value";
	int r;

	r = parse_value(k, text, &value, &what);
	if (r >= 0)
		r = check_value(k, &value, &what);
	if (r < 0) {
		value_error(error, origin, k, what, text);
		return -EINVAL;
	}
	r = store_value(config, k, &value);
	if (r < 0)
		set_error(error, origin, "%s: out of memory", k->name);
	return r;
}

int config_set(struct swapdev_config *config, const char *key, const char *value,
	       struct config_error *error)
{
	const struct key_info *k;

	assert(config && key && value);

	k = find_full_key(key);
	if (!k) {
		unknown_key_error(error, NULL, key, key, section_length(key));
		return -ENOENT;
	}
	return set_key(config, k, value, NULL, error);
}

void config_done(struct swapdev_config *config)
{
	if (!config)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(key_table); i++) {
		if (is_string_kind(key_table[i].kind)) {
			char **field = (char **)((char *)config + key_table[i].offset);

			free(*field);
			*field = NULL;
		}
	}
}

/* The default of pool.limit is a share of RAM: -EINVAL only if RAM is unknown or tiny. */
int config_init(struct swapdev_config *config)
{
	struct config_error error;
	int r;

	for (size_t i = 0; i < ARRAY_SIZE(kind_ops); i++)
		assert(kind_ops[i].parse && kind_ops[i].format && kind_ops[i].load &&
		       kind_ops[i].store && kind_ops[i].describe);
	*config = (struct swapdev_config){ 0 };
	for (size_t i = 0; i < ARRAY_SIZE(key_table); i++) {
		r = set_key(config, &key_table[i], key_table[i].default_text, NULL, &error);
		if (r < 0) {
			config_done(config);
			return r;
		}
	}
	return 0;
}

/* Deep copy: strings are duplicated so that either copy can be freed. */
static int config_copy(struct swapdev_config *ret_copy, const struct swapdev_config *config)
{
	struct swapdev_config copy = *config;
	union key_value value;

	for (size_t i = 0; i < ARRAY_SIZE(key_table); i++)
		if (is_string_kind(key_table[i].kind))
			*(char **)((char *)&copy + key_table[i].offset) = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(key_table); i++) {
		if (!is_string_kind(key_table[i].kind))
			continue;
		load_value(config, &key_table[i], &value);
		if (value.string && store_value(&copy, &key_table[i], &value) < 0) {
			config_done(&copy);
			return -ENOMEM;
		}
	}
	*ret_copy = copy;
	return 0;
}

/* Suggestion for a key given before any section: the section that has it, if one does. */
static void orphan_key_error(struct config_error *error, const struct ini_location *origin,
			     const char *key)
{
	char sections[128];

	for (size_t i = 0; i < ARRAY_SIZE(key_table); i++) {
		const char *name = key_table[i].name;
		size_t length = section_length(name);

		if (strcmp(name + length + 1, key) == 0) {
			set_error(error, origin,
				  "key '%s' is outside any section (put it under [%.*s])", key,
				  (int)length, name);
			return;
		}
	}
	format_sections(sections, sizeof(sections));
	set_error(error, origin, "key '%s' is outside any section (sections: %s)", key,
			 sections);
}

/* What the INI reader's callbacks work on: the copy being filled, and where errors go. */
struct file_state {
	struct swapdev_config *config;
	struct config_error *error;
};

static int on_section(const char *name, const struct ini_location *at, void *userdata)
{
	struct file_state *state = userdata;
	char sections[128];

	if (!section_first_key(name, strlen(name))) {
		format_sections(sections, sizeof(sections));
		set_error(state->error, at,
			  "unknown section [%s] (accepted: %s)", name, sections);
		return -EINVAL;
	}
	return 0;
}

static int on_key(const char *section, const char *key, const char *value,
		  const struct ini_location *at, void *userdata)
{
	struct file_state *state = userdata;
	const struct key_info *k;

	if (!section) {
		orphan_key_error(state->error, at, key);
		return -EINVAL;
	}
	k = find_key(section, strlen(section), key);
	if (!k) {
		unknown_key_error(state->error, at, key, section, strlen(section));
		return -EINVAL;
	}
	return set_key(state->config, k, value, at, state->error);
}

int config_load_file(struct swapdev_config *config, const char *path, struct config_error *error)
{
	struct swapdev_config copy;
	struct file_state state = { .config = &copy, .error = error };
	char sections[128];
	struct ini_handler handler = {
		.section = on_section,
		.key = on_key,
		.section_names = sections,
	};
	int r;

	format_sections(sections, sizeof(sections));
	r = config_copy(&copy, config);
	if (r < 0) {
		set_error(error, NULL, "%s: out of memory", path);
		return r;
	}
	r = ini_parse_file(path, &handler, &state, error ? error->message : NULL,
			   error ? sizeof(error->message) : 0);
	if (r < 0) {
		config_done(&copy);
		return r;
	}
	config_done(config);
	*config = copy;
	return 0;
}

int config_validate(const struct swapdev_config *config, struct config_error *error)
{
	/* Fields may have been set directly, or RAM may have shrunk since they were set. */
	for (size_t i = 0; i < ARRAY_SIZE(key_table); i++) {
		const struct key_info *k = &key_table[i];
		char text[VALUE_TEXT_MAX];
		union key_value value;
		const char *what = "invalid value";

		load_value(config, k, &value);
		if (check_value(k, &value, &what) < 0) {
			value_error(error, NULL, k, what, format_value(k, &value, text));
			return -EINVAL;
		}
	}

	if (config->low_watermark >= config->high_watermark) {
		set_error(error, NULL,
			  "writeback.low_watermark (%u%%) must be below "
			  "writeback.high_watermark (%u%%)",
			  config->low_watermark, config->high_watermark);
		return -EINVAL;
	}
	return 0;
}

int config_get(const struct swapdev_config *config, const char *key, char *buf, size_t size)
{
	const struct key_info *k;
	char text_buf[VALUE_TEXT_MAX];
	union key_value value;
	const char *text;

	k = find_full_key(key);
	if (!k)
		return -ENOENT;
	load_value(config, k, &value);
	text = format_value(k, &value, text_buf);
	if (strlen(text) >= size)
		return -ENOBUFS;
	memcpy(buf, text, strlen(text) + 1);
	return 0;
}

bool config_key_is_runtime(const char *key)
{
	const struct key_info *k = find_full_key(key);

	return k && (k->flags & KEY_RUNTIME);
}

/* Compared as config_get shows them: one rule for every kind, strings included. */
bool config_key_changed(const struct swapdev_config *a, const struct swapdev_config *b,
			const char *key)
{
	const struct key_info *k = find_full_key(key);
	char text_a[VALUE_TEXT_MAX], text_b[VALUE_TEXT_MAX];
	union key_value value_a, value_b;

	assert(k);
	load_value(a, k, &value_a);
	load_value(b, k, &value_b);
	return strcmp(format_value(k, &value_a, text_a), format_value(k, &value_b, text_b)) != 0;
}

int config_set_runtime(struct swapdev_config *config, const char *key, const char *value,
		       config_apply_fn apply, void *userdata, char ret_old[static CONFIG_VALUE_MAX],
		       struct config_error *error)
{
	const struct key_info *k = find_full_key(key);
	char old[CONFIG_VALUE_MAX], text_buf[VALUE_TEXT_MAX];
	union key_value current;
	int r;

	assert(config && key && value && apply && error);

	*error = (struct config_error){ "" };
	if (!k) {
		set_error(error, NULL, "unknown configuration key '%s'", key);
		return -ENOENT;
	}
	if (!(k->flags & KEY_RUNTIME)) {
		set_error(error, NULL, "%s only changes at start", key);
		return -EPERM;
	}
	/* No runtime key is a string, so current holds no pointer that set_key frees. */
	assert(!is_string_kind(k->kind));
	load_value(config, k, &current);
	snprintf(old, sizeof(old), "%s", format_value(k, &current, text_buf));
	r = set_key(config, k, value, NULL, error);
	if (r < 0)
		return r;
	r = config_validate(config, error);
	if (r == 0) {
		r = apply(config, key, userdata);
		if (r < 0)
			set_error(error, NULL, "%s=%s: cannot be applied: %s", key, value,
				  strerror(-r));
	}
	if (r < 0) {
		store_value(config, k, &current);
		return r;
	}
	memcpy(ret_old, old, sizeof(old));
	return 0;
}

int config_print(const struct swapdev_config *config, FILE *out, struct config_error *error)
{
	char text_buf[VALUE_TEXT_MAX];
	const char *text;
	union key_value value;

	/* Check every value first: nothing is printed of a configuration that cannot be. */
	for (size_t i = 0; i < ARRAY_SIZE(key_table); i++) {
		load_value(config, &key_table[i], &value);
		text = format_value(&key_table[i], &value, text_buf);
		/* No valid value is longer than a path; a longer one was set directly. */
		if (strlen(text) > PATH_MAX || !ini_value_survives(text)) {
			set_error(error, NULL,
				  "%s: the value cannot be written in swapdevd.conf syntax (a "
				  "newline, blanks at its ends, or a blank before '#' or ';')",
				  key_table[i].name);
			return -EINVAL;
		}
	}
	for (size_t i = 0; i < ARRAY_SIZE(key_table); i++) {
		const struct key_info *k = &key_table[i];
		size_t length = section_length(k->name);

		load_value(config, k, &value);
		if (i == 0 || !section_matches(&key_table[i - 1], k->name, length))
			fprintf(out, "%s[%.*s]\n", i ? "\n" : "", (int)length, k->name);
		fprintf(out, "%s = %s\n", k->name + length + 1, format_value(k, &value, text_buf));
	}
	if (fflush(out) != 0 || ferror(out)) {
		int r = errno > 0 ? -errno : -EIO;

		set_error(error, NULL, "cannot write the configuration: %s", strerror(-r));
		return r;
	}
	return 0;
}
