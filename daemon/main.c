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
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>

#include "common.h"
#include "coexistence.h"
#include "config_source.h"
#include "control_server.h"
#include "swap_area.h"
#include "fuse_export.h"
#include "log.h"
#include "reload.h"
#include "runtime_keys.h"
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
};

#define STATUS_INTERVAL_MS 10000
/* How often the main loop checks the error counters. */
#define ERROR_CHECK_MS 1000

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

static int open_store(struct daemon *d)
{
	const struct swapdev_config *c = &d->config;
	struct store_config sc = {
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

static void notify_status(struct daemon *d)
{
	struct store_stats st;
	double ratio;

	store_get_stats(d->store, &st);
	ratio = st.compr_bytes ? (double)(st.pool_slots * SWAPDEV_PAGE_SIZE) / (double)st.compr_bytes
			       : 0.0;
	sd_notifyf(0,
		   "STATUS=%s%s: %" PRIu64 "/%" PRIu64 " MiB used (same %" PRIu64 ", pool %" PRIu64
		   ", disk %" PRIu64 " slots), pool %" PRIu64 "/%" PRIu64 " MiB, ratio %.2f",
		   swap_area_active(&d->swap) ? "swap on " : "exported ",
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
	if (reload_config(&target) < 0)
		sd_notifyf(0, "READY=1\nSTATUS=reload of %s failed: see the log", d->source.path);
	else
		sd_notify(0, "READY=1");
	notify_status(d);
}

/* Wait for SIGTERM/SIGINT; reload at SIGHUP; feed the watchdog, check errors, update STATUS. */
static int run_signal_loop(struct daemon *d, int sfd)
{
	uint64_t watchdog_usec = 0, next_status = monotonic_ms() + STATUS_INTERVAL_MS;
	int timeout_ms = ERROR_CHECK_MS;
	struct signalfd_siginfo si;

	if (sd_watchdog_enabled(0, &watchdog_usec) > 0)
		timeout_ms = (int)MIN((uint64_t)ERROR_CHECK_MS, watchdog_usec / 2000);
	for (;;) {
		struct pollfd fds[1] = { { .fd = sfd, .events = POLLIN } };
		int n = poll(fds, 1, timeout_ms);

		if (n < 0 && errno != EINTR)
			return log_error_errno(-errno, "poll failed");
		if (watchdog_usec)
			sd_notify(0, "WATCHDOG=1");
		if (n <= 0) {
			uint64_t now = monotonic_ms();

			report_io_errors(d);
			if (now >= next_status) {
				notify_status(d);
				next_status = now + STATUS_INTERVAL_MS;
			}
			continue;
		}
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
	struct daemon d = { 0 };
	struct options o = { 0 };
	sigset_t mask;
	int sfd = -1, r, status = 1;

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

	prepare_for_reclaim();
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
	sd_notify(0, "READY=1");
	notify_status(&d);
	r = o.pidfile ? write_pidfile(o.pidfile) : 0;
	if (r < 0)
		log_warning_errno(r, "cannot write pidfile %s", o.pidfile);
	log_info("ready: %s exported, pool limit %" PRIu64 " MiB, backing file %s",
		 d.file_path, d.config.pool_limit >> 20, d.config.backing_file);

	if (run_signal_loop(&d, sfd) == 0)
		status = 0;
out:
	/* Never unmount under an active swap area: the kernel would lose pages. */
	if (swap_area_deactivate(&d.swap) < 0) {
		log_error("swap still active on %s: not exiting", d.swap.loop.path);
		while (run_signal_loop(&d, sfd) != 0)
			;
	}
	if (o.pidfile)
		unlink(o.pidfile);
	control_server_stop(d.control);
	fuse_export_stop(d.export);
	store_free(d.store);
	config_done(&d.config);
	swap_area_done(&d.swap);
	if (sfd >= 0)
		close(sfd);
	free(d.source.sets);
	return status;
}
