/* SPDX-License-Identifier: MIT */
/*
 * ctl-list.c - "swapdevctl list" (and swapdevctl without a command): one
 * line per running daemon, in zramctl's columns where they apply, printed
 * with libsmartcols as zramctl does (--bytes, --raw, --noheadings,
 * --output, --json behave as there).
 *
 * Finding the daemons: every process whose comm is "swapdevd" is asked
 * through the Unix socket it listens on, found by matching the inodes of
 * its socket descriptors against /proc/net/unix. Reading another process's
 * descriptors needs root; without it, or when --socket was given, only the
 * one socket named there is asked. As root with no daemon running, the
 * list is empty, as zramctl's is without devices. A daemon that does not
 * answer is left out with a message, and the rest are listed.
 */
#include <ctype.h>
#include <dirent.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <libsmartcols.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "config.h"
#include "ctl.h"

#define MAX_DAEMONS 64
/* __SO_ACCEPTCON in /proc/net/unix's Flags: a listening socket. */
#define UNIX_FLAG_LISTENING 0x10000

/* What one daemon reports, for the columns. */
struct daemon_row {
	char socket[108];
	pid_t pid; /* 0: not known (the socket was named, not found) */
	unsigned threads;
	struct varlink_reply stats, status;
};

enum column_id {
	COL_NAME,
	COL_ALGORITHM,
	COL_DISKSIZE,
	COL_DATA,
	COL_COMPR,
	COL_TOTAL,
	COL_DISK,
	COL_STREAMS,
	COL_MOUNTPOINT,
	COL_PID,
	COL_SOCKET,
};

static const struct column {
	const char *name;
	double width_hint;
	int flags;
	bool is_size;
	const char *help;
} columns[] = {
	[COL_NAME] = { "NAME", 0.25, 0, false, "swap device (the loop device)" },
	[COL_ALGORITHM] = { "ALGORITHM", 3, 0, false, "compression algorithm" },
	[COL_DISKSIZE] = { "DISKSIZE", 5, SCOLS_FL_RIGHT, true, "size of the swap area" },
	[COL_DATA] = { "DATA", 5, SCOLS_FL_RIGHT, true, "uncompressed size of stored data" },
	[COL_COMPR] = { "COMPR", 5, SCOLS_FL_RIGHT, true, "compressed size of the pool's data" },
	[COL_TOTAL] = { "TOTAL", 5, SCOLS_FL_RIGHT, true,
			"memory used: the pool and the slot table" },
	[COL_DISK] = { "DISK", 5, SCOLS_FL_RIGHT, true, "data written back to the disk tier" },
	[COL_STREAMS] = { "STREAMS", 3, SCOLS_FL_RIGHT, false, "threads of the daemon" },
	[COL_MOUNTPOINT] = { "MOUNTPOINT", 0.30, SCOLS_FL_TRUNC, false,
			     "the exported swap file" },
	[COL_PID] = { "PID", 5, SCOLS_FL_RIGHT, false, "process ID of swapdevd" },
	[COL_SOCKET] = { "SOCKET", 0.30, SCOLS_FL_TRUNC, false, "its control socket" },
};

static const enum column_id default_columns[] = {
	COL_NAME, COL_ALGORITHM, COL_DISKSIZE, COL_DATA,    COL_COMPR,
	COL_TOTAL, COL_DISK,	 COL_STREAMS,  COL_MOUNTPOINT,
};

static void list_usage(FILE *out)
{
	fprintf(out,
		"Usage: %s [list] [options]\n"
		"\n"
		"One line per running swapdevd, in zramctl's columns.\n"
		"\n"
		"  -b, --bytes          print sizes in bytes\n"
		"  -J, --json           JSON output\n"
		"  -n, --noheadings     no column headings\n"
		"  -o, --output COLS    columns to show, comma-separated\n"
		"  -r, --raw            raw output (no alignment)\n"
		"  -h, --help           show this help\n"
		"\n"
		"Columns:\n",
		PROG_NAME);
	for (size_t i = 0; i < ARRAY_SIZE(columns); i++)
		fprintf(out, "  %10s  %s\n", columns[i].name, columns[i].help);
}

static int column_by_name(const char *name, size_t len)
{
	for (size_t i = 0; i < ARRAY_SIZE(columns); i++)
		if (strlen(columns[i].name) == len && strncasecmp(columns[i].name, name, len) == 0)
			return (int)i;
	return -1;
}

/* Parse "NAME,DATA,..." into ids. Returns the count or -EINVAL (printed). */
static int parse_output(const char *text, enum column_id *ids, size_t max)
{
	size_t n = 0;

	for (const char *p = text; *p;) {
		size_t len = strcspn(p, ",");
		int id = column_by_name(p, len);

		if (id < 0 || n == max) {
			ctl_error("unknown column '%.*s' (see '%s list --help')", (int)len, p,
				  PROG_NAME);
			return -EINVAL;
		}
		ids[n++] = (enum column_id)id;
		p += len + (p[len] == ',');
	}
	if (n == 0) {
		ctl_error("--output needs at least one column");
		return -EINVAL;
	}
	return (int)n;
}

/* Inode -> path of the listening Unix sockets; returns the path or NULL. */
static const char *listening_socket_path(FILE *unix_table, unsigned long inode, char *buf,
					 size_t size)
{
	char line[512];

	rewind(unix_table);
	while (fgets(line, sizeof(line), unix_table)) {
		unsigned long flags, ino;
		char path[256] = "";

		/* "Num RefCount Protocol Flags Type St Inode Path" */
		if (sscanf(line, "%*s %*s %*s %lx %*s %*s %lu %255s", &flags, &ino, path) < 2)
			continue;
		if (ino == inode && (flags & UNIX_FLAG_LISTENING) && path[0] == '/') {
			snprintf(buf, size, "%s", path);
			return buf;
		}
	}
	return NULL;
}

static bool is_swapdevd(pid_t pid)
{
	char path[64], comm[32] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	if (!fgets(comm, sizeof(comm), f))
		comm[0] = '\0';
	fclose(f);
	return strcmp(comm, "swapdevd\n") == 0;
}

/* The control socket swapdevd pid listens on, or NULL. */
static const char *daemon_socket(FILE *unix_table, pid_t pid, char *buf, size_t size)
{
	char dir_path[64], link_path[320], target[64];
	const char *found = NULL;
	struct dirent *de;
	DIR *dir;

	snprintf(dir_path, sizeof(dir_path), "/proc/%d/fd", (int)pid);
	dir = opendir(dir_path);
	if (!dir)
		return NULL;
	while (!found && (de = readdir(dir))) {
		unsigned long inode;
		ssize_t n;

		snprintf(link_path, sizeof(link_path), "%s/%s", dir_path, de->d_name);
		n = readlink(link_path, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (sscanf(target, "socket:[%lu]", &inode) == 1)
			found = listening_socket_path(unix_table, inode, buf, size);
	}
	closedir(dir);
	return found;
}

static unsigned process_threads(pid_t pid)
{
	char path[64], line[128];
	unsigned threads = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Threads: %u", &threads) == 1)
			break;
	fclose(f);
	return threads;
}

/* Fill rows with the running daemons' sockets. Returns how many. */
static size_t find_daemons(struct daemon_row *rows, size_t max)
{
	struct dirent *de;
	FILE *unix_table;
	size_t n = 0;
	DIR *proc;

	unix_table = fopen("/proc/net/unix", "re");
	proc = opendir("/proc");
	while (unix_table && proc && n < max && (de = readdir(proc))) {
		pid_t pid = isdigit((unsigned char)de->d_name[0]) ? (pid_t)atoi(de->d_name) : 0;

		if (pid <= 0 || !is_swapdevd(pid) ||
		    !daemon_socket(unix_table, pid, rows[n].socket, sizeof(rows[n].socket)))
			continue;
		rows[n].pid = pid;
		rows[n].threads = process_threads(rows[n].pid);
		n++;
	}
	if (proc)
		closedir(proc);
	if (unix_table)
		fclose(unix_table);
	return n;
}

/* Ask one daemon for its statistics and status. Prints why it failed. */
static int query_daemon(struct daemon_row *row)
{
	struct ctl_conn *conn;
	int r;

	r = ctl_connect(row->socket, &conn);
	if (r < 0)
		return r;
	r = ctl_call(conn, &(struct proto_request){ .method = PROTO_METHOD_GET_STATS }, &row->stats);
	if (r == 0) {
		r = ctl_call(conn, &(struct proto_request){ .method = PROTO_METHOD_GET_STATUS },
			     &row->status);
		if (r < 0)
			varlink_reply_done(&row->stats);
	}
	ctl_disconnect(conn);
	return r;
}

static void format_size(uint64_t bytes, bool in_bytes, char *buf, size_t size)
{
	char human[CTL_UNIT_MAX];

	if (in_bytes)
		snprintf(buf, size, "%" PRIu64, bytes);
	else
		snprintf(buf, size, "%s", ctl_format_bytes(bytes, human));
}

/* The cell text of column id for row; NULL leaves the cell empty. */
static const char *cell_text(const struct daemon_row *row, enum column_id id, bool in_bytes,
			     char *buf, size_t size)
{
	struct json_object *config;
	struct proto_status status;
	struct proto_stats stats;
	uint64_t value = 0;

	proto_read_stats(row->stats.parameters, &stats, &config);
	proto_read_status(row->status.parameters, &status);
	switch (id) {
	case COL_NAME:
		return status.loop_device ?: "-";
	case COL_ALGORITHM:
		return proto_config_value(config, "pool.compressor") ?: "-";
	case COL_DISKSIZE: {
		const char *text = proto_config_value(config, "device.size");

		if (!text || config_parse_size(text, config_ram_bytes(), &value) < 0)
			return "-";
		break;
	}
	case COL_DATA:
		value = stats.orig_bytes;
		break;
	case COL_COMPR:
		value = stats.compr_bytes;
		break;
	case COL_TOTAL:
		value = stats.pool_footprint_bytes + stats.metadata_bytes;
		break;
	case COL_DISK:
		value = stats.disk_bytes;
		break;
	case COL_STREAMS:
		if (!row->threads)
			return "-";
		snprintf(buf, size, "%u", row->threads);
		return buf;
	case COL_MOUNTPOINT:
		return status.device ?: "-";
	case COL_PID:
		if (!row->pid)
			return "-";
		snprintf(buf, size, "%d", (int)row->pid);
		return buf;
	case COL_SOCKET:
		return row->socket;
	}
	format_size(value, in_bytes, buf, size);
	return buf;
}

struct list_options {
	bool in_bytes, raw, noheadings, json;
	enum column_id ids[ARRAY_SIZE(columns)];
	size_t nr_ids;
};

static int print_table(const struct list_options *o, const struct daemon_row *rows, size_t n)
{
	struct libscols_table *table = scols_new_table();
	int r = table ? 0 : -ENOMEM;

	if (r == 0) {
		scols_table_enable_raw(table, o->raw);
		scols_table_enable_json(table, o->json);
		scols_table_enable_noheadings(table, o->noheadings);
		if (o->json)
			scols_table_set_name(table, "swapdevd");
	}
	for (size_t i = 0; r == 0 && i < o->nr_ids; i++) {
		const struct column *c = &columns[o->ids[i]];
		struct libscols_column *col;

		col = scols_table_new_column(table, c->name, c->width_hint, c->flags);
		if (!col)
			r = -ENOMEM;
		else if (o->json)
			scols_column_set_json_type(col, c->is_size && o->in_bytes ? SCOLS_JSON_NUMBER
										  : SCOLS_JSON_STRING);
	}
	for (size_t k = 0; r == 0 && k < n; k++) {
		struct libscols_line *line = scols_table_new_line(table, NULL);

		for (size_t i = 0; line && r == 0 && i < o->nr_ids; i++) {
			char buf[64];

			r = scols_line_set_data(line, i,
						cell_text(&rows[k], o->ids[i], o->in_bytes, buf,
							  sizeof(buf)));
		}
		if (!line)
			r = -ENOMEM;
	}
	if (r == 0)
		r = scols_print_table(table);
	scols_unref_table(table);
	if (r < 0)
		ctl_error("cannot print the table: %s", strerror(-r));
	return r;
}

int ctl_list(const struct ctl_options *options, int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "bytes", no_argument, NULL, 'b' },	  { "json", no_argument, NULL, 'J' },
		{ "noheadings", no_argument, NULL, 'n' }, { "output", required_argument, NULL, 'o' },
		{ "raw", no_argument, NULL, 'r' },	  { "help", no_argument, NULL, 'h' },
		{},
	};
	struct list_options o = { .nr_ids = ARRAY_SIZE(default_columns) };
	struct daemon_row rows[MAX_DAEMONS] = {};
	size_t found, shown = 0;
	int c, r, status = CTL_EXIT_OK;

	memcpy(o.ids, default_columns, sizeof(default_columns));
	while ((c = getopt_long(argc, argv, ":bJno:rh", longopts, NULL)) != -1) {
		switch (c) {
		case 'b':
			o.in_bytes = true;
			break;
		case 'J':
			o.json = true;
			break;
		case 'n':
			o.noheadings = true;
			break;
		case 'o':
			r = parse_output(optarg, o.ids, ARRAY_SIZE(o.ids));
			if (r < 0)
				return CTL_EXIT_USAGE;
			o.nr_ids = (size_t)r;
			break;
		case 'r':
			o.raw = true;
			break;
		case 'h':
			list_usage(stdout);
			return CTL_EXIT_OK;
		default:
			return ctl_option_error(argv[0], c, argv);
		}
	}
	if (optind < argc)
		return ctl_usage_error(argv[0], "unexpected argument '%s'", argv[optind]);

	if (!options->socket_given && geteuid() == 0) {
		found = find_daemons(rows, MAX_DAEMONS);
	} else {
		snprintf(rows[0].socket, sizeof(rows[0].socket), "%s", options->socket);
		found = 1;
	}
	for (size_t i = 0; i < found; i++) {
		if (query_daemon(&rows[i]) < 0) {
			status = CTL_EXIT_FAILURE;
			continue;
		}
		if (shown != i)
			rows[shown] = rows[i];
		shown++;
	}
	if (shown > 0 && print_table(&o, rows, shown) < 0)
		status = CTL_EXIT_FAILURE;
	for (size_t i = 0; i < shown; i++) {
		varlink_reply_done(&rows[i].stats);
		varlink_reply_done(&rows[i].status);
	}
	return status;
}
