/* SPDX-License-Identifier: MIT */
/*
 * main.c - swapdevd: configuration, start-up, the signal loop, shutdown.
 *
 * Start-up order matters because the daemon ends up on the kernel's
 * memory-reclaim path: memory is locked and the I/O-flusher flag set
 * before anything else allocates; every check that can refuse a start (a
 * mount point in use, a control socket or backing file another daemon
 * holds) comes before anything that changes state, so that a second
 * daemon started by mistake exits without touching the first; the store (with its disk tier
 * preallocated) exists before the FUSE file appears; the FUSE loop runs
 * before the loop device is attached (attaching reads the file); swapon
 * comes last and READY=1 only after it. Shutdown runs the other way, and
 * a failed swapoff (the kernel has nowhere to put the pages) keeps the
 * daemon serving: it never exits while the kernel still swaps on it.
 *
 * Signals are taken synchronously from a signalfd in the main thread, so
 * no handler runs on a thread that might be serving the kernel.
 *
 * The swap area outlives the process (docs/RESTART.md). Once it is up, the
 * /dev/fuse descriptor, the store's state memfd and the session record are
 * handed to the service manager's fd store. A process that finds them at
 * start adopts the area instead of making one: no mount, loop device,
 * swapon or dead-area cleanup (the area is alive, only its server
 * changed); the keys that shape the area come from the session record,
 * the runtime keys from the file, then the 'config set' changes made
 * before the restart. A full stop (SIGTERM) tears everything down as
 * always and removes the descriptors from the store; a restart
 * (io.swapdev.Restart) exits with SWAPDEVD_EXIT_RESTART and leaves them.
 * An adoption that fails exits without touching the area or the store, so
 * that a fixed binary or configuration can still take it over.
 */
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>

#include "common.h"
#include "coexistence.h"
#include "config_source.h"
#include "control_server.h"
#include "swap_area.h"
#include "fd_store.h"
#include "fuse_export.h"
#include "log.h"
#include "reload.h"
#include "runtime_keys.h"
#include "session.h"
#include "stale_area.h"
#include "supervisor.h"

#ifndef PR_SET_IO_FLUSHER
#define PR_SET_IO_FLUSHER 57
#endif

/* What main() sets up and tears down; each part gets only what it needs. */
struct daemon {
	struct swapdev_config config;
	struct config_source source; /* read again at SIGHUP */
	bool config_file_read;	     /* false: the default path is missing, built-in defaults */
	bool foreground, activate, debug;

	struct store *store;
	struct fuse_export *export;
	char file_path[4096]; /* <mountpoint>/swap */

	struct swap_area swap;
	uint64_t io_errors_reported; /* main loop only */

	struct control_server *control;
	struct timespec started;

	/* Serializes changes of config (SetConfig, GetConfig, reload). */
	pthread_mutex_t config_lock;

	/* Surviving the process (see the top of this file). */
	struct session *session; /* NULL until the area is being set up */
	bool adopted;		 /* this process took the area over */
	bool keep_area;		 /* exit leaving the area and the fd store alone */
	bool fds_stored;	 /* the store holds fuse, state, session (atomic) */
	char no_restart[256];	 /* why Restart is refused while !fds_stored */
	int restart_fd;		 /* eventfd: io.swapdev.Restart accepted */
	uint64_t start_ns;	 /* CLOCK_MONOTONIC at main() */
	bool takeover_logged;
};

/* How long a refused adoption waits before it exits to be started again. */
#define ADOPT_RETRY_SECONDS 5
/* What run_signal_loop() returns for a restart. */
#define LOOP_RESTART 1

#define STATUS_INTERVAL_MS 10000
/* How often the main loop checks the error counters. */
#define ERROR_CHECK_MS 1000
/* The first request after an adoption is logged this soon, for this long. */
#define TAKEOVER_POLL_MS 5
#define TAKEOVER_POLL_SECONDS 10

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: swapdevd [OPTIONS]\n"
		"Compressed swap tier: exports a swap file through FUSE and swaps on it.\n"
		"\n"
		"  -c, --config PATH        configuration file (default %s;\n"
		"                           built-in defaults when it does not exist)\n"
		"  -s, --set SECTION.KEY=VALUE\n"
		"                           override one key (repeatable; wins over the file)\n"
		"  -f, --foreground         stay in the foreground; without a service manager\n"
		"                           ($NOTIFY_SOCKET unset) a small supervising parent\n"
		"                           keeps the daemon's descriptors and restarts it\n"
		"                           without losing swap if it dies\n"
		"      --no-supervise       with --foreground: one process, no supervisor (a\n"
		"                           dead daemon then takes its swapped pages with it)\n"
		"  -n, --no-activate        export the file only and print the commands that\n"
		"                           attach a loop device and enable swap by hand\n"
		"  -p, --pidfile PATH       write the PID to PATH once swap is active (ready)\n"
		"      --check-config       validate the configuration and exit\n"
		"      --print-config       validate it, print every key's effective value in\n"
		"                           swapdevd.conf syntax and exit\n"
		"  -d, --debug              debug messages (request-size histogram at exit)\n"
		"  -h, --help               this text\n"
		"  -V, --version            version\n"
		"\n"
		"Stop with SIGTERM or Ctrl-C: swapoff, loop detach, unmount, exit 0.\n"
		"'swapdevctl restart' hands the swap area to a new process instead (exit 75).\n"
		"SIGHUP reads the configuration again and applies its runtime keys.\n"
		"See swapdevd(8) and swapdevd.conf(5).\n",
		SWAPDEV_DEFAULT_CONFIG_PATH);
}

struct options {
	const char *pidfile;
	bool no_activate, check_only, print_config, no_supervise;
};

/* Returns 0 to go on, 1 to exit 0 (help/version), -EINVAL for a usage error. */
static int parse_options(int argc, char **argv, struct daemon *d, struct options *o)
{
	enum { OPT_CHECK = 0x100, OPT_PRINT, OPT_NO_SUPERVISE };
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "set", required_argument, NULL, 's' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "no-supervise", no_argument, NULL, OPT_NO_SUPERVISE },
		{ "no-activate", no_argument, NULL, 'n' },
		{ "pidfile", required_argument, NULL, 'p' },
		{ "check-config", no_argument, NULL, OPT_CHECK },
		{ "print-config", no_argument, NULL, OPT_PRINT },
		{ "debug", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{}
	};
	int c;

	d->source.path = SWAPDEV_DEFAULT_CONFIG_PATH;
	d->source.sets = calloc((size_t)argc, sizeof(char *));
	if (!d->source.sets)
		return -ENOMEM;
	while ((c = getopt_long(argc, argv, "c:s:fnp:dhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			d->source.path = optarg;
			d->source.path_explicit = true;
			break;
		case 's':
			d->source.sets[d->source.n_sets++] = optarg;
			break;
		case 'f':
			d->foreground = true;
			break;
		case OPT_NO_SUPERVISE:
			o->no_supervise = true;
			break;
		case 'n':
			o->no_activate = true;
			break;
		case 'p':
			o->pidfile = optarg;
			break;
		case OPT_CHECK:
			o->check_only = true;
			break;
		case OPT_PRINT:
			o->check_only = o->print_config = true;
			break;
		case 'd':
			d->debug = true;
			break;
		case 'h':
			usage(stdout);
			return 1;
		case 'V':
			printf("swapdevd %s\n", SWAPDEV_VERSION);
			return 1;
		default:
			fprintf(stderr, "Try 'swapdevd --help'.\n");
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "swapdevd: unexpected argument '%s'\nTry 'swapdevd --help'.\n",
			argv[optind]);
		return -EINVAL;
	}
	return 0;
}

/* Create a directory (and missing parents) root-only; existing ones stay. */
static int make_dirs(const char *path)
{
	char buf[4096];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int parent_dir(const char *path, char *buf, size_t size)
{
	const char *slash = strrchr(path, '/');
	size_t n;

	if (!slash)
		return -EINVAL;
	n = slash == path ? 1 : (size_t)(slash - path);
	if (n >= size)
		return -ENAMETOOLONG;
	memcpy(buf, path, n);
	buf[n] = '\0';
	return 0;
}

/*
 * A second daemon on a live mount point would stack its export on the
 * first one's, whose status would then name the other's file. Refused
 * before anything changes state, as is a mount point that is no directory.
 * A swapdev mount whose daemon died is no such obstacle: it and the swap
 * area on it are removed (stale_area.c), the only change of state before
 * the other refusal checks, and safe because that daemon is gone.
 */
static int check_mountpoint(const char *mountpoint, const char *file_path)
{
	char fstype[64];
	dev_t dead_mount = 0, dev = 0;
	struct stat st;
	int r;

	r = activate_mount_at(mountpoint, fstype, sizeof(fstype), &dev);
	if (r > 0 && strcmp(fstype, STALE_AREA_FSTYPE) == 0 &&
	    stale_area_mount_dead(mountpoint) > 0) {
		log_notice("device.mountpoint %s: the swapdevd that mounted it has died (its FUSE "
			   "connection is gone); removing what it left",
			   mountpoint);
		dead_mount = dev;
	} else if (r > 0) {
		log_error("refusing device.mountpoint %s: a %s file system is mounted there already "
			  "(another swapdevd?); unmount it or choose another mount point",
			  mountpoint, fstype);
		return -EBUSY;
	}
	if (r < 0)
		log_warning_errno(r, "cannot read /proc/self/mountinfo to check %s", mountpoint);
	if (!dead_mount && stat(mountpoint, &st) == 0 && !S_ISDIR(st.st_mode)) {
		log_error("refusing device.mountpoint %s: it is not a directory", mountpoint);
		return -ENOTDIR;
	}
	return stale_area_clean(mountpoint, dead_mount, file_path);
}

/* The daemon is on the reclaim path: nothing of it may be swapped out,
 * and its own writes must not wait on the reclaim they serve. */
static void prepare_for_reclaim(void)
{
	if (mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) < 0)
		log_warning_errno(-errno, "mlockall failed; the daemon's memory can be swapped "
					  "out under pressure (raise LimitMEMLOCK / RLIMIT_MEMLOCK)");
	if (prctl(PR_SET_IO_FLUSHER, 1, 0, 0, 0) < 0)
		log_warning_errno(-errno, "prctl(PR_SET_IO_FLUSHER) failed; allocations may "
					  "recurse into reclaim (needs CAP_SYS_RESOURCE)");
}

static struct store_config store_config_of(const struct swapdev_config *c)
{
	return (struct store_config){
		.size = c->device_size,
		.pool_limit = c->pool_limit,
		.pool_max = MAX(config_ram_bytes(), c->pool_limit),
		.codec = c->compressor,
		.same_filled = c->same_filled,
		.reject_threshold = c->reject_threshold,
		.incompressible_to_pool = c->incompressible_to_pool,
		.exclusive_loads = c->exclusive_loads,
		.backing_path = c->backing_file,
		.high_watermark = c->high_watermark,
		.low_watermark = c->low_watermark,
		.idle_seconds = c->idle_seconds,
		.background_growth = true,
		.recompress = recompress_settings(c),
	};
}

static int open_store(struct daemon *d)
{
	const struct swapdev_config *c = &d->config;
	struct store_config sc = store_config_of(c);
	char dir[4096];
	int r;

	r = parent_dir(c->backing_file, dir, sizeof(dir));
	if (r == 0)
		r = make_dirs(dir);
	if (r < 0)
		return log_error_errno(r, "cannot create the directory of %s", c->backing_file);
	r = store_new(&sc, &d->store);
	switch (r) {
	case 0:
		break;
	case -EBUSY:
		log_error("backing file %s is in use by another process (is swapdevd already "
			  "running with it?); give each daemon its own writeback.backing_file",
			  c->backing_file);
		return r;
	case -ENOSPC:
		log_error("cannot preallocate the backing file %s: it needs %" PRIu64
			  " MiB (device.size + 16 MiB) and the file system is too small; set "
			  "writeback.backing_file to a larger one",
			  c->backing_file, store_backing_file_bytes(c->device_size) >> 20);
		return r;
	case -ELOOP:
		log_error("refusing backing file %s: it is a symbolic link", c->backing_file);
		return r;
	case -EISDIR:
		log_error("refusing backing file %s: it is a directory", c->backing_file);
		return r;
	case -ENODEV:
		log_error("refusing backing file %s: it is not a regular file", c->backing_file);
		return r;
	case -EPERM:
		log_error("refusing backing file %s: it must be owned by root (it holds other "
			  "processes' memory)",
			  c->backing_file);
		return r;
	case -EINVAL:
		log_error("refusing backing file %s: its file system does not support O_DIRECT "
			  "(tmpfs, ramfs); put it on a disk file system",
			  c->backing_file);
		return r;
	case -EOPNOTSUPP:
		log_error("refusing backing file %s: its file system cannot preallocate it "
			  "(fallocate)",
			  c->backing_file);
		return r;
	}
	if (r < 0)
		return log_error_errno(r, "cannot set up the store with backing file %s",
				       c->backing_file);
	r = store_start_writeback(d->store);
	if (r < 0)
		return log_error_errno(r, "cannot start the writeback thread");
	return 0;
}

static void swap_status(void *userdata, struct swap_area_status *ret)
{
	swap_area_status(userdata, ret);
}

/* io.swapdev.Restart, on the control thread: accepted only with the fds stored. */
static int control_restart(void *ctx, char *why, size_t why_size)
{
	struct daemon *d = ctx;
	uint64_t one = 1;

	if (!__atomic_load_n(&d->fds_stored, __ATOMIC_ACQUIRE)) {
		snprintf(why, why_size, "%s", d->no_restart);
		return -EOPNOTSUPP;
	}
	if (write(d->restart_fd, &one, sizeof(one)) != sizeof(one)) {
		snprintf(why, why_size, "cannot wake the main thread: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

/* SetConfig changed a runtime key: keep it for the next process too. */
static void control_config_set(void *ctx, const char *key, const char *value)
{
	struct daemon *d = ctx;
	int r;

	if (!d->session)
		return;
	r = session_set_override(d->session, key, value);
	if (r < 0)
		log_warning_errno(r, "cannot record %s=%s in the session: a restart will not keep "
				     "it",
				  key, value);
}

static int bind_control(struct daemon *d)
{
	const struct control_server_config config = {
		.socket_path = d->config.control_socket,
		.group = d->config.control_group,
		.file_path = d->file_path,
		.started = d->started.tv_sec,
		.config = &d->config,
		.config_lock = &d->config_lock,
		.swap_status = swap_status,
		.userdata = &d->swap,
		.restart = control_restart,
		.config_set = control_config_set,
		.ctx = d,
	};

	return control_server_bind(&config, &d->control);
}

static int start_export(struct daemon *d)
{
	const struct fuse_export_config config = {
		.mountpoint = d->config.mountpoint,
		.file_path = d->file_path,
		.device_size = d->config.device_size,
		.io_uring = d->config.io_uring,
		.swap_by_others = !d->activate,
		.started = d->started.tv_sec,
	};

	return fuse_export_start(&config, d->store, &d->export);
}

/*
 * A FUSE request older than these sysctls (Linux 6.14 and later) aborts the
 * whole connection, and so every page on the area, while a restart keeps
 * requests waiting (docs/RESTART.md, 1.2).
 */
static void check_fuse_timeouts(void)
{
	static const char *const names[] = { "default_request_timeout", "max_request_timeout" };

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		char path[128], text[32] = "";
		unsigned long seconds;
		ssize_t n;
		int fd;

		snprintf(path, sizeof(path), "/proc/sys/fs/fuse/%s", names[i]);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue; /* an older kernel: no timeout at all */
		n = read(fd, text, sizeof(text) - 1);
		close(fd);
		if (n <= 0)
			continue;
		text[n] = '\0';
		seconds = strtoul(text, NULL, 10);
		if (seconds > 0)
			log_warning("fs.fuse.%s is %lu s: the kernel aborts a FUSE connection whose "
				    "request waits that long, losing every page swapped here, which "
				    "a slow restart or a hung daemon can cause; set it to 0",
				    names[i], seconds);
	}
}

/* The running values of the keys that only change at start, as "key=value" lines. */
static void record_config(const struct swapdev_config *config, char *list, size_t size)
{
	char value[CONFIG_VALUE_MAX];

	list[0] = '\0';
	for (const char *const *key = config_keys; *key; key++)
		if (!config_key_is_runtime(*key) && config_get(config, *key, value, sizeof(value)) == 0 &&
		    session_list_set(list, size, *key, value) < 0)
			log_warning("the session record has no room for %s", *key);
}

_Static_assert(FUSE_EXPORT_INIT_MAX == SESSION_INIT_MAX, "the INIT exchange fits the record");

/* Write what the next process needs into the session record. */
static int record_session(struct daemon *d)
{
	struct session_record *rec = malloc(sizeof(*rec));
	struct fuse_export_init init;
	int r;

	if (!rec)
		return -ENOMEM;
	r = fuse_export_get_init(d->export, &init);
	if (r < 0) {
		free(rec);
		return r;
	}
	session_get(d->session, rec); /* keeps the overrides */
	rec->flags = swap_area_active(&d->swap) ? SESSION_ACTIVATED : 0;
	rec->priority = d->config.priority;
	rec->device_size = d->config.device_size;
	rec->conn_id = fuse_export_conn_id(d->export);
	snprintf(rec->loop_path, sizeof(rec->loop_path), "%s",
		 swap_area_active(&d->swap) ? d->swap.loop.path : "");
	snprintf(rec->mountpoint, sizeof(rec->mountpoint), "%s", d->config.mountpoint);
	snprintf(rec->file_path, sizeof(rec->file_path), "%s", d->file_path);
	snprintf(rec->daemon_version, sizeof(rec->daemon_version), "%s", SWAPDEV_VERSION);
	rec->init_request_len = init.request_len;
	rec->init_reply_len = init.reply_len;
	memcpy(rec->init_request, init.request, sizeof(rec->init_request));
	memcpy(rec->init_reply, init.reply, sizeof(rec->init_reply));
	record_config(&d->config, rec->config, sizeof(rec->config));
	r = session_write(d->session, rec);
	free(rec);
	return r;
}

/* Once the area is up: hand fuse, state and session to the fd store. */
static void store_fds(struct daemon *d)
{
	const struct {
		const char *name;
		int fd;
	} fds[] = {
		/* fuse last: a start that finds it finds the others too. */
		{ FD_STORE_SESSION, session_fd(d->session) },
		{ FD_STORE_STATE, store_state_fd(d->store) },
		{ FD_STORE_FUSE, fuse_export_fd(d->export) },
	};
	int r;

	if (fuse_export_uses_io_uring(d->export)) {
		snprintf(d->no_restart, sizeof(d->no_restart),
			 "the FUSE connection runs over io_uring, whose requests in flight a new "
			 "process cannot recover on this kernel; set device.io_uring = no, then "
			 "stop and start swapdevd");
		log_warning("restart and crash recovery are off: this FUSE connection runs over "
			    "io_uring, and the requests a dead process's ring entries hold are never "
			    "resent (docs/RESTART.md, 1.4), so a crash loses the swapped pages and "
			    "'swapdevctl restart' is refused; device.io_uring = no turns them on");
		return;
	}
	if (!fd_store_available()) {
		snprintf(d->no_restart, sizeof(d->no_restart),
			 "swapdevd runs without a file-descriptor store (not under systemd or the "
			 "--foreground supervisor: NOTIFY_SOCKET is unset)");
		log_notice("restart and crash recovery are off: no file-descriptor store "
			   "(NOTIFY_SOCKET is unset), so a crash loses the swapped pages");
		return;
	}
	r = record_session(d);
	if (r < 0) {
		snprintf(d->no_restart, sizeof(d->no_restart),
			 "the session record could not be written (%s)", strerror(-r));
		log_warning_errno(r, "restart and crash recovery are off: cannot write the "
				     "session record");
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(fds); i++) {
		r = fds[i].fd < 0 ? -EBADF : fd_store_push(fds[i].name, fds[i].fd);
		if (r < 0) {
			log_warning_errno(r, "restart and crash recovery are off: cannot hand "
					     "descriptor '%s' to the file-descriptor store",
					  fds[i].name);
			snprintf(d->no_restart, sizeof(d->no_restart),
				 "the descriptors could not be handed to the store (%s)",
				 strerror(-r));
			while (i-- > 0)
				fd_store_remove(fds[i].name);
			return;
		}
	}
	__atomic_store_n(&d->fds_stored, true, __ATOMIC_RELEASE);
	log_info("FUSE connection, store state and session handed to the file-descriptor "
		 "store: a restart or a crash keeps swap active");
}

/* A key that shapes the area keeps its recorded value (session_list_foreach). */
static int keep_recorded_key(const char *key, const char *value, void *userdata)
{
	struct daemon *d = userdata;
	char now[CONFIG_VALUE_MAX];
	struct config_error error;

	if (config_get(&d->config, key, now, sizeof(now)) < 0 || strcmp(now, value) == 0)
		return 0;
	log_warning("%s is %s in the configuration but %s in the running swap area: it changes "
		    "only with a full stop (systemctl stop, then start); keeping %s",
		    key, now, value, value);
	if (config_set(&d->config, key, value, &error) < 0)
		log_warning("cannot keep %s=%s: %s", key, value, error.message);
	return 0;
}

/* A 'swapdevctl config set' made before the restart (session_list_foreach). */
static int reapply_override(const char *key, const char *value, void *userdata)
{
	struct daemon *d = userdata;
	char old[CONFIG_VALUE_MAX];
	struct config_error error;
	int r;

	pthread_mutex_lock(&d->config_lock);
	r = config_set_runtime(&d->config, key, value, runtime_key_apply, d->store, old, &error);
	pthread_mutex_unlock(&d->config_lock);
	if (r < 0)
		log_warning("%s=%s, set with 'swapdevctl config set' before the restart, not "
			    "applied: %s",
			    key, value, error.message);
	else
		log_notice("%s=%s kept from before the restart (set with 'swapdevctl config set'; "
			   "the configuration says %s)",
			   key, value, old);
	return 0;
}

static int adopt_store(struct daemon *d, int state_fd)
{
	struct store_config sc = store_config_of(&d->config);
	struct store_adopt_report rep = { 0 };
	int r;

	r = store_adopt(&sc, state_fd, &rep, &d->store);
	if (r < 0) {
		log_error("cannot adopt the store's state: %s (%s)",
			  rep.error[0] ? rep.error : "no reason given", strerror(-r));
		return r;
	}
	log_info("store adopted in %.1f ms: %" PRIu64 " same-filled, %" PRIu64 " pool, %" PRIu64
		 " disk slots; pool %" PRIu64 " objects, %" PRIu64 " KiB in %" PRIu64
		 " KiB; %" PRIu64 " disk blocks; cleared %" PRIu64 " locks, %" PRIu64
		 " writeback marks, %" PRIu64 " pins; freed %" PRIu64 " objects, %" PRIu64
		 " chunks and %" PRIu64 " disk blocks no slot referenced",
		 (double)rep.scan_ns / 1e6, rep.slots[1], rep.slots[2], rep.slots[3],
		 rep.pool_objects, rep.pool_object_bytes >> 10, rep.pool_footprint_bytes >> 10,
		 rep.disk_blocks, rep.locks_cleared, rep.writeback_flags_cleared, rep.pins_cleared,
		 rep.orphan_objects, rep.orphan_chunks, rep.orphan_blocks);
	r = store_start_writeback(d->store);
	if (r < 0)
		return log_error_errno(r, "cannot start the writeback thread");
	return 0;
}

/*
 * Take over the swap area of the previous process from the descriptors in
 * kept (each is owned by the adoption once taken). Nothing here mounts,
 * attaches, swaps on or off, or changes the store's contents but through
 * store_adopt(). Logs its own errors.
 */
static int adopt(struct daemon *d, struct fd_store_kept *kept)
{
	struct session_record *rec;
	struct fuse_export_init init;
	char error[256] = "";
	int r;

	if (kept->state < 0 || kept->session < 0) {
		log_error("cannot adopt the swap area: the file-descriptor store holds its FUSE "
			  "connection but not its '%s'",
			  kept->state < 0 ? FD_STORE_STATE : FD_STORE_SESSION);
		return -ENODATA;
	}
	rec = malloc(sizeof(*rec));
	if (!rec)
		return log_error_errno(-ENOMEM, "cannot adopt the swap area");
	r = session_open(kept->session, &d->session, rec, error, sizeof(error));
	if (r < 0) {
		log_error("cannot adopt the swap area: %s", error[0] ? error : strerror(-r));
		goto out;
	}
	kept->session = -1;
	d->adopted = true;
	log_info("adopting the swap area of swapdevd %s: %s%s%s, FUSE connection %" PRIu32,
		 rec->daemon_version, rec->file_path,
		 (rec->flags & SESSION_ACTIVATED) ? ", swap on " : ", exported only",
		 rec->loop_path, rec->conn_id);
	session_list_foreach(rec->config, keep_recorded_key, d);
	snprintf(d->file_path, sizeof(d->file_path), "%s", rec->file_path);
	d->activate = rec->flags & SESSION_ACTIVATED;

	r = bind_control(d);
	if (r < 0)
		goto out;
	r = adopt_store(d, kept->state);
	if (r < 0)
		goto out;
	init = (struct fuse_export_init){ .request_len = rec->init_request_len,
					  .reply_len = rec->init_reply_len };
	memcpy(init.request, rec->init_request, sizeof(init.request));
	memcpy(init.reply, rec->init_reply, sizeof(init.reply));
	{
		const struct fuse_export_config config = {
			.mountpoint = d->config.mountpoint,
			.file_path = d->file_path,
			.device_size = d->config.device_size,
			.io_uring = false,
			.swap_by_others = !d->activate,
			.started = d->started.tv_sec,
		};

		r = fuse_export_adopt(&config, d->store, kept->fuse, rec->conn_id, &init,
				      &d->export);
		kept->fuse = -1;
	}
	if (r < 0)
		goto out;
	if (d->activate && swap_area_adopt(&d->swap, rec->loop_path, rec->file_path) > 0)
		fuse_export_seal_writers(d->export);
	r = control_server_serve(d->control, d->store);
	if (r < 0)
		goto out;
	session_list_foreach(rec->overrides, reapply_override, d);
	/* The store still holds every descriptor: the service was not stopped. */
	if (fd_store_available()) {
		r = record_session(d);
		if (r < 0)
			log_warning_errno(r, "cannot update the session record");
		__atomic_store_n(&d->fds_stored, true, __ATOMIC_RELEASE);
	} else {
		snprintf(d->no_restart, sizeof(d->no_restart),
			 "NOTIFY_SOCKET is unset: no file-descriptor store to hand the area to");
	}
	r = 0;
out:
	free(rec);
	return r;
}

/*
 * The adoption failed: exit leaving the area and the store as they are, so
 * that a fixed binary or configuration can take them over. Wait a little
 * first, so that the service manager does not restart a refusal in a loop.
 */
static void refuse_adoption(int sfd)
{
	struct pollfd pfd = { .fd = sfd, .events = POLLIN };

	sd_notifyf(0, "STATUS=cannot adopt the swap area (see the log); its descriptors stay in "
		      "the store");
	log_error("not adopting: the swap area and its FUSE connection stay in the "
		  "file-descriptor store, unserved (processes that touch its pages wait). Install "
		  "a swapdevd that can adopt them or fix the configuration: the next start tries "
		  "again in %d s. 'systemctl stop swapdevd' gives the area up and loses its pages",
		  ADOPT_RETRY_SECONDS);
	poll(&pfd, 1, ADOPT_RETRY_SECONDS * 1000);
}

/* io.swapdev.Restart: stop serving and leave everything to the next process. */
static int restart_now(struct daemon *d)
{
	log_info("restart: handing the swap area over to the next swapdevd process; swap stays "
		 "active");
	sd_notify(0, "STATUS=restarting: the next process takes the swap area over");
	control_server_stop(d->control); /* sends the reply first */
	d->control = NULL;
	fuse_export_detach(d->export);
	return SWAPDEVD_EXIT_RESTART;
}

static void notify_status(struct daemon *d)
{
	struct store_stats st;
	double ratio;

	store_get_stats(d->store, &st);
	ratio = st.compr_bytes ? (double)(st.pool_slots * SWAPDEV_PAGE_SIZE) / (double)st.compr_bytes
			       : 0.0;
	sd_notifyf(0,
		   "STATUS=%s%s%s: %" PRIu64 "/%" PRIu64 " MiB used (same %" PRIu64 ", pool %" PRIu64
		   ", disk %" PRIu64 " slots), pool %" PRIu64 "/%" PRIu64 " MiB, ratio %.2f",
		   d->adopted ? "adopted, " : "", swap_area_active(&d->swap) ? "swap on " : "exported ",
		   swap_area_active(&d->swap) ? d->swap.loop.path : d->file_path, st.orig_bytes >> 20,
		   d->config.device_size >> 20, st.same_slots, st.pool_slots, st.disk_slots,
		   st.pool_footprint_bytes >> 20, st.pool_limit_bytes >> 20, ratio);
}

/* Written after READY so that scripts can wait for it (nbdkit -P style). */
static int write_pidfile(const char *path)
{
	char tmp[4096];
	FILE *f;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	f = fopen(tmp, "we");
	if (!f)
		return -errno;
	fprintf(f, "%d\n", (int)getpid());
	if (fclose(f) != 0 || rename(tmp, path) < 0) {
		unlink(tmp);
		return -errno;
	}
	return 0;
}

/*
 * The I/O path only counts disk errors; this reports them, at most once a
 * second, so that a failing disk shows in the log without a line per page.
 */
static void report_io_errors(struct daemon *d)
{
	struct store_stats st;
	uint64_t new_errors;

	store_get_counters(d->store, &st.ops);
	if (st.ops.io_errors <= d->io_errors_reported)
		return;
	new_errors = st.ops.io_errors - d->io_errors_reported;
	d->io_errors_reported = st.ops.io_errors;
	log_error("I/O errors on the backing file %s: %" PRIu64 " new, %" PRIu64
		  " in all; failed writes stay with the kernel, failed reads return EIO",
		  d->config.backing_file, new_errors, st.ops.io_errors);
	sd_notifyf(0, "STATUS=I/O errors on %s: %" PRIu64 " in all", d->config.backing_file,
		   st.ops.io_errors);
}

/*
 * SIGHUP. systemd 252 (Debian 12) has no Type=notify-reload, so the unit
 * sends the signal with ExecReload=; RELOADING=1 ... READY=1 still shows
 * the unit as reloading meanwhile, and MONOTONIC_USEC is what a later
 * systemd with notify-reload needs to match the two.
 */
static void reload(struct daemon *d)
{
	const struct reload_target target = {
		.source = &d->source,
		.config = &d->config,
		.config_lock = &d->config_lock,
		.store = d->store,
	};
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64,
		   (uint64_t)now.tv_sec * 1000000 + (uint64_t)now.tv_nsec / 1000);
	log_info("SIGHUP received, reloading %s", d->source.path);
	if (reload_config(&target) < 0) {
		sd_notifyf(0, "READY=1\nSTATUS=reload of %s failed: see the log", d->source.path);
	} else {
		/* The file wins over 'config set', for the next process too. */
		if (d->session && session_clear_overrides(d->session) < 0)
			log_warning("cannot update the session record: a restart would put back "
				    "the values set with 'swapdevctl config set'");
		sd_notify(0, "READY=1");
	}
	notify_status(d);
}

/* Once the first request after an adoption is answered: the timeline. */
static void log_takeover(struct daemon *d)
{
	struct fuse_export_takeover t;

	if (!d->adopted || d->takeover_logged || !d->export)
		return;
	fuse_export_get_takeover(d->export, &t);
	if (!t.first_reply_ns)
		return;
	d->takeover_logged = true;
	log_info("first request served %.1f ms after start (libfuse initialised %.1f ms, "
		 "threads %.1f ms, resend %.1f ms); %" PRIu64 " request%s resent by the kernel",
		 (double)(t.first_reply_ns - d->start_ns) / 1e6,
		 (double)(t.init_fed_ns - d->start_ns) / 1e6,
		 (double)(t.threads_ns - d->start_ns) / 1e6,
		 t.resend_ns ? (double)(t.resend_ns - d->start_ns) / 1e6 : -1.0, t.resent_requests,
		 t.resent_requests == 1 ? " was" : "s were");
}

/*
 * Wait for SIGTERM/SIGINT (0: stop) or a Restart (LOOP_RESTART); reload at
 * SIGHUP; feed the watchdog, check errors, update STATUS.
 */
static int run_signal_loop(struct daemon *d, int sfd)
{
	uint64_t watchdog_usec = 0, next_status = monotonic_ms() + STATUS_INTERVAL_MS;
	uint64_t next_check = 0, takeover_poll_until = monotonic_ms() + TAKEOVER_POLL_SECONDS * 1000;
	int timeout_ms = ERROR_CHECK_MS;
	struct signalfd_siginfo si;

	if (sd_watchdog_enabled(0, &watchdog_usec) > 0)
		timeout_ms = (int)MIN((uint64_t)ERROR_CHECK_MS, watchdog_usec / 2000);
	for (;;) {
		struct pollfd fds[2] = { { .fd = sfd, .events = POLLIN },
					 { .fd = d->restart_fd, .events = POLLIN } };
		/* Until the first request after an adoption is logged, look often. */
		bool takeover_pending = d->adopted && !d->takeover_logged &&
					monotonic_ms() < takeover_poll_until;
		int n = poll(fds, 2, takeover_pending ? MIN(timeout_ms, TAKEOVER_POLL_MS) : timeout_ms);

		if (n < 0 && errno != EINTR)
			return log_error_errno(-errno, "poll failed");
		if (watchdog_usec)
			sd_notify(0, "WATCHDOG=1");
		if (n <= 0) {
			uint64_t now = monotonic_ms();

			log_takeover(d);
			if (now < next_check)
				continue;
			next_check = now + ERROR_CHECK_MS;
			report_io_errors(d);
			if (now >= next_status) {
				notify_status(d);
				next_status = now + STATUS_INTERVAL_MS;
			}
			continue;
		}
		if (fds[1].revents & POLLIN)
			return LOOP_RESTART;
		if (read(sfd, &si, sizeof(si)) != sizeof(si))
			continue;
		if (si.ssi_signo == SIGHUP) {
			reload(d);
			continue;
		}
		log_info("%s received, shutting down", strsignal((int)si.ssi_signo));
		if (!swap_area_active(&d->swap)) {
			char dev[300];

			/* Unmounting would take the only copy of its swapped pages. */
			if (activate_loop_swapping_on(d->file_path, dev, sizeof(dev)) > 0) {
				log_error("%s swaps on %s: run 'swapoff %s' first; still serving",
					  dev, d->file_path, dev);
				continue;
			}
		}
		if (swap_area_deactivate(&d->swap) == 0)
			return 0;
	}
}

int main(int argc, char **argv)
{
	struct daemon d = { .restart_fd = -1 };
	struct fd_store_kept kept = { .fuse = -1, .state = -1, .session = -1 };
	struct options o = { 0 };
	sigset_t mask;
	int sfd = -1, r, status = 1;

	d.start_ns = monotonic_ns();
	log_setup(false);
	r = parse_options(argc, argv, &d, &o);
	if (r != 0) {
		free(d.source.sets);
		return r > 0 ? 0 : 2;
	}
	log_setup(d.debug);
	pthread_mutex_init(&d.config_lock, NULL);
	swap_area_init(&d.swap);
	clock_gettime(CLOCK_REALTIME, &d.started);
	if (config_source_load(&d.source, &d.config, &d.config_file_read) < 0)
		goto out;
	if (o.check_only) {
		struct config_error error;

		/* The machine around us; a real start checks it after start-up hygiene. */
		if (coexistence_check(&d.config) > 0 && d.config.refuse_conflicts)
			goto out;

		if (!o.print_config)
			printf("swapdevd: configuration %s%s%s is valid\n",
			       d.config_file_read ? d.source.path : "(built-in defaults)",
			       d.source.n_sets ? " with the --set override" : "",
			       d.source.n_sets > 1 ? "s" : "");
		else if (config_print(&d.config, stdout, &error) < 0) {
			log_error("%s", error.message);
			goto out;
		}
		status = 0;
		goto out;
	}
	d.activate = d.config.activate && !o.no_activate;
	if (geteuid() != 0) {
		log_error("swapdevd must run as root (it mounts FUSE and calls swapon)");
		goto out;
	}
	/* Not under a service manager: become the keeper of our descriptors. */
	if (d.foreground && !o.no_supervise && !getenv("NOTIFY_SOCKET")) {
		const struct supervisor_config sc = { .argv = argv, .pidfile = o.pidfile };

		config_done(&d.config);
		free(d.source.sets);
		return supervisor_run(&sc);
	}

	/* Block before any thread exists so that every thread inherits it. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0) {
		log_error_errno(-errno, "signalfd failed");
		goto out;
	}

	d.restart_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d.restart_fd < 0) {
		log_error_errno(-errno, "eventfd failed");
		goto out;
	}
	snprintf(d.no_restart, sizeof(d.no_restart), "the swap area is still being set up");

	prepare_for_reclaim();
	check_fuse_timeouts();
	r = fd_store_take(&kept);
	if (r < 0)
		goto out;
	if (kept.fuse >= 0) {
		if (adopt(&d, &kept) < 0) {
			refuse_adoption(sfd);
			d.keep_area = true;
			goto out;
		}
		goto ready;
	}
	/* Without the connection the rest is of no use: a dead area is cleaned up below. */
	fd_store_release(&kept);
	r = session_new(&d.session);
	if (r < 0) {
		log_error_errno(r, "cannot create the session record");
		goto out;
	}

	/* What can refuse a start comes before anything that changes state. */
	if (snprintf(d.file_path, sizeof(d.file_path), "%s/%s", d.config.mountpoint,
		     SWAPDEV_FILE_NAME) >= (int)sizeof(d.file_path)) {
		log_error("device.mountpoint %s is too long", d.config.mountpoint);
		goto out;
	}
	if (check_mountpoint(d.config.mountpoint, d.file_path) < 0)
		goto out;
	/* After the stale area is gone: it would count as a conflict. */
	if (coexistence_check(&d.config) > 0 && d.config.refuse_conflicts)
		goto out;
	if (bind_control(&d) < 0)
		goto out;
	if (open_store(&d) < 0)
		goto out;
	r = make_dirs(d.config.mountpoint);
	if (r < 0) {
		log_error_errno(r, "cannot create mount point %s", d.config.mountpoint);
		goto out;
	}
	if (start_export(&d) < 0)
		goto out;
	if (control_server_serve(d.control, d.store) < 0)
		goto out;
	if (d.activate) {
		if (swap_area_activate(&d.swap, d.file_path, d.config.device_size, d.config.priority,
				       d.config.discard, d.export) < 0)
			goto out;
	} else {
		swap_area_print_manual_commands(d.file_path, d.config.device_size,
						d.config.priority);
	}
	store_fds(&d);
ready:
	sd_notify(0, "READY=1");
	notify_status(&d);
	r = o.pidfile ? write_pidfile(o.pidfile) : 0;
	if (r < 0)
		log_warning_errno(r, "cannot write pidfile %s", o.pidfile);
	if (d.adopted)
		log_info("ready: adopted %s in %.1f ms, pool limit %" PRIu64 " MiB, backing file %s",
			 d.file_path, (double)(monotonic_ns() - d.start_ns) / 1e6, d.config.pool_limit >> 20,
			 d.config.backing_file);
	else
		log_info("ready: %s exported, pool limit %" PRIu64 " MiB, backing file %s",
			 d.file_path, d.config.pool_limit >> 20, d.config.backing_file);

	r = run_signal_loop(&d, sfd);
	if (r == LOOP_RESTART) {
		status = restart_now(&d);
		d.keep_area = true;
	} else if (r == 0) {
		status = 0;
	}
out:
	if (d.keep_area) {
		/* The area, its connection and the fd store stay for the next process. */
		control_server_stop(d.control);
		fd_store_close(&kept); /* the store keeps its own */
		goto done;
	}
	/* Never unmount under an active swap area: the kernel would lose pages. */
	if (swap_area_deactivate(&d.swap) < 0) {
		log_error("swap still active on %s: not exiting", d.swap.loop.path);
		while ((r = run_signal_loop(&d, sfd)) != 0) {
			if (r == LOOP_RESTART) {
				status = restart_now(&d);
				goto done;
			}
		}
	}
	if (o.pidfile)
		unlink(o.pidfile);
	control_server_stop(d.control);
	fuse_export_stop(d.export);
	store_free(d.store);
	/* Everything is torn down: no later start may find these. */
	if (__atomic_load_n(&d.fds_stored, __ATOMIC_ACQUIRE)) {
		fd_store_remove(FD_STORE_FUSE);
		fd_store_remove(FD_STORE_STATE);
		fd_store_remove(FD_STORE_SESSION);
	}
	session_free(d.session);
	fd_store_release(&kept);
	config_done(&d.config);
	swap_area_done(&d.swap);
	if (sfd >= 0)
		close(sfd);
	if (d.restart_fd >= 0)
		close(d.restart_fd);
	free(d.source.sets);
	return status;
done:
	/* Exit leaving the threads: the next process adopts what they leave. */
	if (d.file_path[0])
		log_info("exiting with status %d; the swap area on %s%s%s stays for the next "
			 "process",
			 status, d.file_path, swap_area_active(&d.swap) ? ", swap on " : "",
			 swap_area_active(&d.swap) ? d.swap.loop.path : "");
	else
		log_info("exiting with status %d; the swap area stays as it is", status);
	return status;
}
