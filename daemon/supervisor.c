/* SPDX-License-Identifier: MIT */
/*
 * supervisor.c - the parent of `swapdevd --foreground` outside systemd.
 *
 * What it is for. A swapdevd that dies takes the swap area's FUSE
 * connection with it unless some other process holds a duplicate of its
 * /dev/fuse descriptor; then the kernel just queues the requests until a
 * new daemon adopts the connection (docs/RESTART.md). Under systemd the
 * unit's file-descriptor store is that process. Run by hand or by `make
 * run`, this supervisor is: it speaks the same protocol to its one child,
 * so the daemon has a single code path for both.
 *
 * Protocol (systemd's, exactly; sd_notify(3), sd_listen_fds(3)):
 *   - a SOCK_DGRAM socket, autobound in the abstract namespace, named to the
 *     child in NOTIFY_SOCKET; SO_PASSCRED, and only datagrams whose
 *     credentials carry the current child's PID are read (any thread of the
 *     child: the kernel sends the thread group's PID);
 *   - FDSTORE=1 with FDNAME=name keeps the passed descriptors (a
 *     descriptor for a file already kept is dropped: kcmp), FDSTOREREMOVE=1
 *     with FDNAME=name closes them, FDPOLL=0 exempts them from polling
 *     (otherwise POLLHUP/POLLERR drop one, as systemd does: an aborted FUSE
 *     connection reports POLLERR);
 *   - READY=1 is noted (the restart time is logged); STATUS=, WATCHDOG=1,
 *     RELOADING=1 are accepted and ignored: the supervisor exists only when
 *     there is no service manager to pass them to.
 *
 * When the child exits: status 0 means a full stop (the daemon has swapped
 * off and removed its descriptors), and the supervisor exits 0. With
 * descriptors stored, any other end (a signal, a crash, status 75 from
 * `swapdevctl restart`) restarts it at once: fork, move the descriptors to
 * 3, 4, ... in the child, set LISTEN_FDS, LISTEN_FDNAMES and LISTEN_PID (the
 * child's own PID, known only after the fork), exec. With none stored the
 * supervisor exits with the child's status (128 + N for signal N), as the
 * daemon alone would have.
 *
 * The binary is run by the path it was started from, read from
 * /proc/self/exe once at start: a package that replaces it by rename gets
 * the new one at the next restart. If that path is gone (removed, not
 * replaced), the child falls back to /proc/self/exe, the supervisor's own
 * binary, which the kernel keeps while it runs: an old daemon serving the
 * area beats no daemon. That fallback is logged.
 *
 * A crash loop: 5 deaths within 10 s of daemons that never became ready
 * (a bad binary or configuration). A daemon that was ready and then died is
 * restarted at once however often it happens: the state's pages allocated
 * since the supervisor's last pass (below) are unlocked until a successor
 * maps them, and reclaim could swap them onto the very device that needs
 * them to be served. The descriptors are never dropped
 * for it: the stored /dev/fuse is what keeps every swapped page reachable,
 * and closing the last copy would abort the connection and SIGBUS every
 * process with a page on the device. So the supervisor waits, 1 s, then
 * doubling up to 60 s between attempts, logging each; the processes that
 * fault on swap meanwhile wait in D state (nothing in FUSE or the loop
 * driver times out). SIGTERM or SIGINT then means "try now" (and the new
 * daemon is asked to stop once ready). SIGKILL to the supervisor is the only
 * way to give up, and it drops the connection.
 *
 * Signals: SIGTERM, SIGINT and SIGHUP sent to the supervisor are forwarded
 * to the child. A signal from the terminal (Ctrl-C: si_code SI_KERNEL)
 * reached the child already, since both are in the foreground process
 * group, so it is not sent twice. A stop requested this way survives a
 * crash of the stopping daemon: its successor is sent SIGTERM when ready.
 * If the supervisor itself dies, the child keeps serving (it holds its own
 * descriptors), but a later crash of it is no longer recoverable.
 *
 * Robustness: the supervisor is on the reclaim path too (the swap area
 * depends on it while a restart is under way). It locks its memory
 * (mlockall), allocates nothing after start (every buffer is static, sized
 * for SUPERVISOR_STORE_MAX descriptors), runs one thread, and keeps the OOM
 * score adjustment it was started with, which its child inherits: the same
 * as the daemon's. Its mlockall is MCL_CURRENT, then MCL_FUTURE with
 * MCL_ONFAULT: a later mapping is locked page by page as it is faulted in,
 * never populated at mmap.
 *
 * Holding the state locked (state_lock.c). A dying daemon's mlockall ends
 * with it, and until its successor has mapped the state memfd again the
 * pages are evictable: swapped onto this very area, they deadlock the
 * successor in store_adopt() (docs/RESTART.md, §6.5). So each stored
 * descriptor that is a shmem file with a sealed size (the "state" and
 * "session" memfds) is mapped here too, read-only and lock-on-fault, as
 * soon as it is stored, and unmapped when it is removed. Its allocated
 * pages (SEEK_DATA, SEEK_HOLE; never a hole, which a read fault would
 * allocate) that are in memory and not mapped here yet are mapped in
 * passes: one at each READY=1 and one every 2 s while the daemon is ready
 * (every 50 times the last pass's own time when that is longer), in slices
 * of 2048 pages between polls, so a death is seen at most one slice
 * (~1 ms) late. Never while no daemon is ready: a page out on swap, or on
 * its way there, would block the supervisor in a swap-in that only a
 * daemon can serve. After a death the supervisor's mapping keeps every
 * page it had mapped locked through the gap and the successor's start;
 * pages allocated since the last pass are not covered. A pool chunk the
 * daemon punches leaves this mapping with the file.
 *
 * PIDs: the daemon writes the --pidfile itself when it is ready, so the
 * file names the serving process and is rewritten at each restart; the
 * supervisor writes "<pidfile>.supervisor".
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/kcmp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "fd_store.h"
#include "log.h"
#include "state_lock.h"
#include "supervisor.h"

#define SUPERVISOR_STORE_MAX 32	   /* descriptors kept at once */
#define SUPERVISOR_MSG_FDS_MAX 16  /* descriptors in one message */
#define SUPERVISOR_MSG_MAX 4096	   /* systemd's NOTIFY_BUFFER_MAX */
#define SUPERVISOR_NAME_MAX 255	   /* systemd's FDNAME limit */
#define SUPERVISOR_ENV_MAX 1024	   /* inherited environment entries */
#define CRASH_BURST 5		   /* crashes ... */
#define CRASH_WINDOW_MS 10000	   /* ... within this long are a loop */
#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS 60000
#define HOLD_INTERVAL_MS 2000	   /* between passes over the held memfds ... */
#define HOLD_DUTY 50		   /* ... or 50 times the last pass's own time */

extern char **environ;

struct stored_fd {
	int fd;
	bool poll; /* drop on POLLHUP/POLLERR (FDPOLL=0 clears it) */
	char name[SUPERVISOR_NAME_MAX + 1];
	struct state_lock lock; /* its pages mapped here, when a sized-sealed memfd */
};

struct supervisor {
	char exe[PATH_MAX];
	char *const *argv;
	const char *pidfile;
	char supervisor_pidfile[PATH_MAX];

	int notify_fd, signal_fd;
	sigset_t saved_mask;

	struct stored_fd store[SUPERVISOR_STORE_MAX];
	unsigned int n_store;

	pid_t child;		 /* 0 while none runs */
	pid_t last_child;	 /* the one that died last */
	uint64_t child_started;	 /* monotonic ms */
	bool child_ready;	 /* the running child sent READY=1 */
	uint64_t died_at_ns;	 /* when last_child's death was seen, 0 after READY */
	bool stop_requested;	 /* SIGTERM/SIGINT passed on: a successor is stopped too */
	uint64_t retry_at;	 /* monotonic ms of the next start while none runs */
	uint64_t backoff_ms;
	uint64_t crashes[CRASH_BURST]; /* ring of crash times, monotonic ms */
	unsigned int n_crashes;
	unsigned int restarts;

	/* The pass that maps the held memfds' pages (state_lock.c). */
	int pagemap_fd;		 /* /proc/self/pagemap, or -1 */
	bool pass_running;
	unsigned int pass_index; /* in store[] */
	uint64_t pass_offset;
	uint64_t pass_ns;	 /* time spent in the running pass's slices */
	uint64_t next_pass_at;	 /* monotonic ms */

	/* The child's environment: inherited entries, then ours, then NULL. */
	char *env[SUPERVISOR_ENV_MAX + 5];
	unsigned int n_env_base;
	char notify_env[sizeof("NOTIFY_SOCKET=@") + sizeof(((struct sockaddr_un *)0)->sun_path)];
	char listen_fds_env[32];
	char listen_pid_env[32];
	char listen_names_env[sizeof("LISTEN_FDNAMES=") +
			      SUPERVISOR_STORE_MAX * (SUPERVISOR_NAME_MAX + 1)];

	char msg[SUPERVISOR_MSG_MAX + 1];
	char names[SUPERVISOR_STORE_MAX * (SUPERVISOR_NAME_MAX + 2)]; /* for log lines */
	char held_note[64];
};

static bool startswith(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* "fuse, state, session" into s->names, for log lines. */
static const char *store_names(struct supervisor *s)
{
	size_t at = 0;

	s->names[0] = '\0';
	for (unsigned int i = 0; i < s->n_store; i++)
		at += (size_t)snprintf(s->names + at, sizeof(s->names) - at, "%s%s",
				       i ? ", " : "", s->store[i].name);
	return s->names;
}

static bool same_file(int a, int b)
{
	pid_t pid = getpid();

	return syscall(SYS_kcmp, pid, pid, KCMP_FILE, a, b) == 0;
}

/* Start a pass over the held memfds from the beginning. */
static void pass_start(struct supervisor *s)
{
	s->pass_running = true;
	s->pass_index = 0;
	s->pass_offset = 0;
	s->pass_ns = 0;
}

/*
 * One slice of the running pass. Only while the child is ready: then every
 * allocated page is in memory and locked by it, and none can be under a
 * write to swap that the populate would wait for.
 */
static void pass_step(struct supervisor *s)
{
	uint64_t t0 = monotonic_ns();

	while (s->pass_index < s->n_store && !s->store[s->pass_index].lock.addr)
		s->pass_index++;
	if (s->pass_index < s->n_store) {
		struct stored_fd *f = &s->store[s->pass_index];

		if (state_lock_step(&f->lock, f->fd, s->pagemap_fd, &s->pass_offset))
			s->pass_index++;
		s->pass_ns += monotonic_ns() - t0;
		return;
	}
	s->pass_running = false;
	s->next_pass_at = monotonic_ms() + HOLD_INTERVAL_MS;
	if (s->pass_ns / 1000000u * HOLD_DUTY > HOLD_INTERVAL_MS)
		s->next_pass_at = monotonic_ms() + s->pass_ns / 1000000u * HOLD_DUTY;
}

/* " (N MiB ... held locked here)" for a log line, or "" when none is held. */
static const char *held_note(struct supervisor *s)
{
	uint64_t pages = 0;
	bool held = false;

	for (unsigned int i = 0; i < s->n_store; i++) {
		held |= s->store[i].lock.addr != NULL;
		pages += s->store[i].lock.pages_held;
	}
	if (!held)
		return "";
	snprintf(s->held_note, sizeof(s->held_note),
		 " (%.1f MiB of their memory held locked here)",
		 (double)(pages * (uint64_t)sysconf(_SC_PAGESIZE)) / (1 << 20));
	return s->held_note;
}

static void store_add(struct supervisor *s, int fd, const char *name, bool poll)
{
	struct stored_fd *f;
	int r;

	for (unsigned int i = 0; i < s->n_store; i++) {
		if (same_file(s->store[i].fd, fd)) {
			close(fd); /* already kept, as systemd does */
			return;
		}
	}
	if (s->n_store == SUPERVISOR_STORE_MAX) {
		log_error("supervisor: cannot keep descriptor '%s': %d kept already", name,
			  SUPERVISOR_STORE_MAX);
		close(fd);
		return;
	}
	f = &s->store[s->n_store++];
	f->fd = fd;
	f->poll = poll;
	memcpy(f->name, name, strlen(name) + 1);
	r = state_lock_map(&f->lock, fd);
	if (r > 0)
		log_info("supervisor: holding the pages of memfd '%s' (%" PRIu64 " MiB, sparse) "
			 "locked, so that a daemon's death does not leave them unlocked",
			 name, f->lock.len >> 20);
	else if (r < 0)
		log_warning_errno(r, "supervisor: cannot map memfd '%s' to hold its pages "
				  "locked; they are unlocked while no daemon runs (needs "
				  "CAP_IPC_LOCK or an RLIMIT_MEMLOCK of its whole size)",
				  name);
}

static void store_drop(struct supervisor *s, unsigned int i)
{
	state_lock_unmap(&s->store[i].lock);
	close(s->store[i].fd);
	s->store[i] = s->store[--s->n_store];
	if (s->pass_running)
		pass_start(s); /* the entries moved */
}

static void store_remove(struct supervisor *s, const char *name)
{
	for (unsigned int i = 0; i < s->n_store;) {
		if (strcmp(s->store[i].name, name) == 0)
			store_drop(s, i);
		else
			i++;
	}
}

/* systemd's rule (fdname_is_valid): printable ASCII, no ':', 1..255. */
static bool name_valid(const char *name, size_t len)
{
	if (len == 0 || len > SUPERVISOR_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (name[i] < ' ' || name[i] > '~' || name[i] == ':')
			return false;
	return true;
}

/* One datagram from the child: s->msg (NUL-terminated) with fds[n]. */
static void handle_message(struct supervisor *s, int *fds, unsigned int n)
{
	bool store = false, remove = false, polled = true, ready = false;
	char name[SUPERVISOR_NAME_MAX + 1] = "stored"; /* systemd's default */

	for (char *line = s->msg, *next; line && *line; line = next) {
		size_t len;

		next = strchr(line, '\n');
		len = next ? (size_t)(next - line) : strlen(line);
		if (next)
			*next++ = '\0';
		if (strcmp(line, "FDSTORE=1") == 0)
			store = true;
		else if (strcmp(line, "FDSTOREREMOVE=1") == 0)
			remove = true;
		else if (strcmp(line, "FDPOLL=0") == 0)
			polled = false;
		else if (strcmp(line, "READY=1") == 0)
			ready = true;
		else if (startswith(line, "FDNAME=")) {
			if (!name_valid(line + 7, len - 7)) {
				log_warning("supervisor: ignoring a message with an invalid FDNAME");
				goto out_close;
			}
			memcpy(name, line + 7, len - 7 + 1);
		}
	}
	if (remove)
		store_remove(s, name);
	if (store) {
		for (unsigned int i = 0; i < n; i++)
			store_add(s, fds[i], name, polled);
		n = 0;
	}
	if (ready) {
		s->child_ready = true;
		pass_start(s);
		if (s->died_at_ns) {
			log_info("supervisor: daemon PID %d ready, %.1f ms after PID %d's end",
				 (int)s->child, (double)(monotonic_ns() - s->died_at_ns) / 1e6,
				 (int)s->last_child);
			s->died_at_ns = 0;
		}
		if (s->stop_requested)
			kill(s->child, SIGTERM);
	}
out_close:
	for (unsigned int i = 0; i < n; i++)
		close(fds[i]);
}

/* Read every queued datagram; keep what the current child sent. */
static void drain_notify(struct supervisor *s)
{
	union {
		char buf[CMSG_SPACE(sizeof(struct ucred)) +
			 CMSG_SPACE(sizeof(int) * SUPERVISOR_MSG_FDS_MAX)];
		struct cmsghdr align;
	} control;

	for (;;) {
		struct iovec iov = { .iov_base = s->msg, .iov_len = SUPERVISOR_MSG_MAX };
		struct msghdr mh = {
			.msg_iov = &iov,
			.msg_iovlen = 1,
			.msg_control = &control,
			.msg_controllen = sizeof(control),
		};
		int fds[SUPERVISOR_MSG_FDS_MAX];
		const struct ucred *cred = NULL;
		unsigned int n_fds = 0;
		ssize_t len;

		len = recvmsg(s->notify_fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC | MSG_TRUNC);
		if (len < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				log_warning_errno(-errno, "supervisor: cannot read the notify socket");
			return;
		}
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level != SOL_SOCKET)
				continue;
			if (c->cmsg_type == SCM_RIGHTS) {
				size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

				if (k > SUPERVISOR_MSG_FDS_MAX - n_fds)
					k = SUPERVISOR_MSG_FDS_MAX - n_fds; /* cannot happen */

				memcpy(fds + n_fds, CMSG_DATA(c), k * sizeof(int));
				n_fds += (unsigned int)k;
			} else if (c->cmsg_type == SCM_CREDENTIALS &&
				   c->cmsg_len == CMSG_LEN(sizeof(struct ucred))) {
				cred = (const struct ucred *)CMSG_DATA(c);
			}
		}
		if (!cred || s->child <= 0 || cred->pid != s->child) {
			log_debug("supervisor: ignoring a message from PID %d, not our daemon",
				  cred ? (int)cred->pid : 0);
		} else if ((mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
			   (size_t)len > SUPERVISOR_MSG_MAX) {
			log_warning("supervisor: ignoring a truncated message from PID %d "
				    "(more than %d bytes or %d descriptors)",
				    (int)cred->pid, SUPERVISOR_MSG_MAX, SUPERVISOR_MSG_FDS_MAX);
		} else {
			s->msg[len] = '\0';
			handle_message(s, fds, n_fds);
			continue;
		}
		for (unsigned int i = 0; i < n_fds; i++)
			close(fds[i]);
	}
}

static int setup_notify_socket(struct supervisor *s)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	socklen_t len = sizeof(sa_family_t);
	int one = 1;

	s->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s->notify_fd < 0)
		return log_error_errno(-errno, "supervisor: cannot create the notify socket");
	if (setsockopt(s->notify_fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0)
		return log_error_errno(-errno, "supervisor: SO_PASSCRED failed");
	/* Autobind: the kernel picks a free abstract name; no file to clean up. */
	if (bind(s->notify_fd, (struct sockaddr *)&addr, len) < 0)
		return log_error_errno(-errno, "supervisor: cannot bind the notify socket");
	len = sizeof(addr);
	if (getsockname(s->notify_fd, (struct sockaddr *)&addr, &len) < 0)
		return log_error_errno(-errno, "supervisor: getsockname failed");
	len -= (socklen_t)offsetof(struct sockaddr_un, sun_path);
	if (len < 2 || addr.sun_path[0] != '\0')
		return log_error_errno(-EINVAL, "supervisor: unexpected notify socket address");
	snprintf(s->notify_env, sizeof(s->notify_env), "NOTIFY_SOCKET=@%.*s", (int)len - 1,
		 addr.sun_path + 1);
	return 0;
}

/* The inherited environment without the variables the supervisor sets. */
static void setup_env(struct supervisor *s)
{
	for (char **e = environ; *e; e++) {
		if (startswith(*e, "NOTIFY_SOCKET=") || startswith(*e, "LISTEN_FDS=") ||
		    startswith(*e, "LISTEN_PID=") || startswith(*e, "LISTEN_FDNAMES="))
			continue;
		if (s->n_env_base == SUPERVISOR_ENV_MAX) {
			log_warning("supervisor: more than %d environment variables; the daemon "
				    "gets the first %d",
				    SUPERVISOR_ENV_MAX, SUPERVISOR_ENV_MAX);
			break;
		}
		s->env[s->n_env_base++] = *e;
	}
}

/* Before each fork: NOTIFY_SOCKET, and LISTEN_* when something is stored. */
static void prepare_env(struct supervisor *s)
{
	unsigned int n = s->n_env_base;
	size_t at;

	s->env[n++] = s->notify_env;
	if (s->n_store) {
		snprintf(s->listen_fds_env, sizeof(s->listen_fds_env), "LISTEN_FDS=%u",
			 s->n_store);
		at = (size_t)snprintf(s->listen_names_env, sizeof(s->listen_names_env),
				      "LISTEN_FDNAMES=");
		for (unsigned int i = 0; i < s->n_store; i++)
			at += (size_t)snprintf(s->listen_names_env + at,
					       sizeof(s->listen_names_env) - at, "%s%s",
					       i ? ":" : "", s->store[i].name);
		s->env[n++] = s->listen_fds_env;
		s->env[n++] = s->listen_names_env;
		s->env[n++] = s->listen_pid_env; /* filled in by the child */
	}
	s->env[n] = NULL;
}

/* In the forked child: descriptors to 3.., LISTEN_PID, exec. Never returns. */
static void __attribute__((noreturn)) exec_child(struct supervisor *s)
{
	unsigned int n = s->n_store;
	int high[SUPERVISOR_STORE_MAX];
	struct sigaction dfl = { .sa_handler = SIG_DFL };

	sigaction(SIGPIPE, &dfl, NULL);
	sigprocmask(SIG_SETMASK, &s->saved_mask, NULL);
	/* First above the target range, so that no dup2 overwrites a source. */
	for (unsigned int i = 0; i < n; i++) {
		high[i] = fcntl(s->store[i].fd, F_DUPFD_CLOEXEC, 3 + (int)n);
		if (high[i] < 0)
			goto fail;
	}
	for (unsigned int i = 0; i < n; i++)
		if (dup2(high[i], 3 + (int)i) < 0) /* without FD_CLOEXEC */
			goto fail;
	snprintf(s->listen_pid_env, sizeof(s->listen_pid_env), "LISTEN_PID=%d", (int)getpid());
	execve(s->exe, s->argv, s->env);
	if (errno == ENOENT) {
		log_error("supervisor: %s is gone; running the binary the supervisor was "
			  "started from instead (/proc/self/exe)",
			  s->exe);
		execve("/proc/self/exe", s->argv, s->env);
	}
fail:
	log_error_errno(-errno, "supervisor: cannot start %s", s->exe);
	_exit(127);
}

static int start_child(struct supervisor *s)
{
	pid_t pid;

	prepare_env(s);
	pid = fork();
	if (pid < 0)
		return log_error_errno(-errno, "supervisor: fork failed");
	if (pid == 0)
		exec_child(s);
	s->child = pid;
	s->child_started = monotonic_ms();
	s->child_ready = false;
	if (s->n_store && s->died_at_ns)
		log_info("supervisor: started daemon PID %d with %u stored descriptors (%s), "
			 "%.1f ms after PID %d's end",
			 (int)pid, s->n_store, store_names(s),
			 (double)(monotonic_ns() - s->died_at_ns) / 1e6, (int)s->last_child);
	return 0;
}

static void describe_status(int status, char *buf, size_t size)
{
	if (WIFEXITED(status))
		snprintf(buf, size, "exited with status %d%s", WEXITSTATUS(status),
			 WEXITSTATUS(status) == SWAPDEVD_EXIT_RESTART ? " (restart requested)" : "");
	else if (WIFSIGNALED(status))
		snprintf(buf, size, "was killed by SIG%s%s", sigabbrev_np(WTERMSIG(status)) ?: "?",
			 WCOREDUMP(status) ? " (core dumped)" : "");
	else
		snprintf(buf, size, "ended with wait status %#x", status);
}

/*
 * The child is gone. Returns -1 to go on (a restart is scheduled in
 * s->retry_at), or the status to exit with.
 */
static int child_exited(struct supervisor *s, int status)
{
	uint64_t now = monotonic_ms();
	bool planned = WIFEXITED(status) && WEXITSTATUS(status) == SWAPDEVD_EXIT_RESTART;
	char what[96];

	describe_status(status, what, sizeof(what));
	s->last_child = s->child;
	s->child = 0;
	s->died_at_ns = monotonic_ns();
	s->pass_running = false;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		if (s->n_store)
			log_warning("supervisor: daemon PID %d exited 0 with descriptors still "
				    "stored (%s); closing them",
				    (int)s->last_child, store_names(s));
		return 0;
	}
	if (s->n_store == 0) {
		log_error("supervisor: daemon PID %d %s with no descriptors stored; exiting",
			  (int)s->last_child, what);
		return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	}

	s->retry_at = now;
	/* A daemon that served and was then killed is no crash loop: restart it at
	 * once, since the state is unlocked until a successor maps it. */
	if (s->child_ready)
		s->backoff_ms = 0;
	if (!planned && !s->child_ready) {
		if (now - s->child_started >= CRASH_WINDOW_MS)
			s->backoff_ms = 0;
		s->crashes[s->n_crashes++ % CRASH_BURST] = now;
		if (s->n_crashes >= CRASH_BURST &&
		    now - s->crashes[s->n_crashes % CRASH_BURST] < CRASH_WINDOW_MS) {
			s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : BACKOFF_FIRST_MS;
			if (s->backoff_ms > BACKOFF_MAX_MS)
				s->backoff_ms = BACKOFF_MAX_MS;
			s->retry_at = now + s->backoff_ms;
			log_error("supervisor: daemon PID %d %s: %d crashes within %d s; next "
				  "start in %" PRIu64 " s. Keeping the stored descriptors (%s): "
				  "dropping them would lose every swapped page (SIGBUS). Processes "
				  "that fault on swap wait meanwhile; SIGTERM retries now",
				  (int)s->last_child, what, CRASH_BURST, CRASH_WINDOW_MS / 1000,
				  s->backoff_ms / 1000, store_names(s));
			return -1;
		}
	}
	log_notice("supervisor: daemon PID %d %s; restarting it with %u stored descriptors%s",
		   (int)s->last_child, what, s->n_store, held_note(s));
	return -1;
}

static void reap(struct supervisor *s, int *ret_exit)
{
	int status;
	pid_t pid;

	/* What the child sent before it died is queued: take it first. */
	drain_notify(s);
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid == s->child)
			*ret_exit = child_exited(s, status);
	}
}

static void handle_signal(struct supervisor *s, const struct signalfd_siginfo *si)
{
	int sig = (int)si->ssi_signo;

	if (sig == SIGTERM || sig == SIGINT)
		s->stop_requested = true;
	if (!s->child) {
		if (sig == SIGHUP)
			return;
		log_notice("supervisor: SIG%s with no daemon running: starting one now (to stop it "
			   "once ready); the stored descriptors keep the swap area's pages",
			   sigabbrev_np(sig));
		s->retry_at = monotonic_ms();
		return;
	}
	/* The terminal's Ctrl-C reached the whole process group already. */
	if (si->ssi_code == SI_KERNEL)
		return;
	kill(s->child, sig);
}

static int write_own_pidfile(struct supervisor *s)
{
	char tmp[PATH_MAX + 8];
	FILE *f;

	if (snprintf(s->supervisor_pidfile, sizeof(s->supervisor_pidfile), "%s.supervisor",
		     s->pidfile) >= (int)sizeof(s->supervisor_pidfile) ||
	    snprintf(tmp, sizeof(tmp), "%s.tmp", s->supervisor_pidfile) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	f = fopen(tmp, "we");
	if (!f)
		return -errno;
	fprintf(f, "%d\n", (int)getpid());
	if (fclose(f) != 0 || rename(tmp, s->supervisor_pidfile) < 0) {
		unlink(tmp);
		return -errno;
	}
	return 0;
}

/* At exit: our pidfile, and the daemon's if it names a child of ours. */
static void remove_pidfiles(struct supervisor *s)
{
	FILE *f;
	int pid = 0;

	if (!s->pidfile)
		return;
	unlink(s->supervisor_pidfile);
	f = fopen(s->pidfile, "re");
	if (!f)
		return;
	if (fscanf(f, "%d", &pid) == 1 && pid == (int)s->last_child)
		unlink(s->pidfile);
	fclose(f);
}

static int setup(struct supervisor *s, const struct supervisor_config *config)
{
	sigset_t mask;
	ssize_t n;
	int r;

	s->argv = config->argv;
	s->pidfile = config->pidfile;
	s->notify_fd = s->signal_fd = s->pagemap_fd = -1;
	if (config->exe) {
		if (snprintf(s->exe, sizeof(s->exe), "%s", config->exe) >= (int)sizeof(s->exe))
			return log_error_errno(-ENAMETOOLONG, "supervisor: %s", config->exe);
	} else {
		n = readlink("/proc/self/exe", s->exe, sizeof(s->exe) - 1);
		if (n < 0 || n == (ssize_t)sizeof(s->exe) - 1)
			return log_error_errno(n < 0 ? -errno : -ENAMETOOLONG,
					       "supervisor: cannot read /proc/self/exe");
		s->exe[n] = '\0';
	}
	setup_env(s);
	r = setup_notify_socket(s);
	if (r < 0)
		return r;

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, &s->saved_mask);
	s->signal_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (s->signal_fd < 0)
		return log_error_errno(-errno, "supervisor: signalfd failed");
	signal(SIGPIPE, SIG_IGN);

	if (s->pidfile) {
		r = write_own_pidfile(s);
		if (r < 0)
			log_warning_errno(r, "supervisor: cannot write %s.supervisor", s->pidfile);
	}
	/* Everything mapped now is locked and populated; what is mapped later
	 * (the held memfds) is locked as it is faulted in: MCL_FUTURE alone
	 * would populate every hole of a sparse memfd at mmap. */
	if (mlockall(MCL_CURRENT) < 0 || mlockall(MCL_FUTURE | MCL_ONFAULT) < 0)
		log_warning_errno(-errno, "supervisor: mlockall failed; it can be swapped out "
					  "(raise RLIMIT_MEMLOCK)");
	/* Only the present bit is read, which needs no privilege. */
	s->pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	return 0;
}

int supervisor_run(const struct supervisor_config *config)
{
	/* Static: nothing of the supervisor's state is allocated. */
	static struct supervisor s;
	struct pollfd pfd[2 + SUPERVISOR_STORE_MAX];
	int exit_status = -1;

	if (setup(&s, config) < 0)
		return 1;
	if (start_child(&s) < 0)
		return 1;
	while (exit_status < 0) {
		unsigned int n = 0;
		int timeout = -1;

		pfd[n++] = (struct pollfd){ .fd = s.signal_fd, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = s.notify_fd, .events = POLLIN };
		for (unsigned int i = 0; i < s.n_store; i++)
			pfd[n++] = (struct pollfd){ .fd = s.store[i].poll ? s.store[i].fd : -1 };
		if (!s.child) {
			uint64_t now = monotonic_ms();

			timeout = s.retry_at > now ? (int)(s.retry_at - now) : 0;
		} else if (s.child_ready) {
			/* A pass runs in slices between polls: a death is seen
			 * within one slice (~1 ms), however large the state. */
			uint64_t now = monotonic_ms();

			timeout = s.pass_running || s.next_pass_at <= now
					  ? 0
					  : (int)(s.next_pass_at - now);
		}
		if (poll(pfd, n, timeout) < 0 && errno != EINTR) {
			log_error_errno(-errno, "supervisor: poll failed");
			continue;
		}
		if (pfd[1].revents)
			drain_notify(&s);
		/* Backwards: store_drop moves the last entry into the hole. */
		for (unsigned int i = s.n_store; i-- > 0;) {
			if (2 + i < n && pfd[2 + i].fd == s.store[i].fd &&
			    (pfd[2 + i].revents & (POLLHUP | POLLERR))) {
				log_warning("supervisor: stored descriptor '%s' reports %s; dropping it",
					    s.store[i].name,
					    pfd[2 + i].revents & POLLERR ? "an error" : "a hang-up");
				store_drop(&s, i);
			}
		}
		if (pfd[0].revents) {
			struct signalfd_siginfo si;

			while (read(s.signal_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
				if (si.ssi_signo == SIGCHLD)
					reap(&s, &exit_status);
				else
					handle_signal(&s, &si);
			}
		}
		if (exit_status < 0 && !s.child && monotonic_ms() >= s.retry_at) {
			s.restarts++;
			if (start_child(&s) < 0)
				s.retry_at = monotonic_ms() + BACKOFF_FIRST_MS;
		}
		if (exit_status < 0 && s.child && s.child_ready) {
			if (!s.pass_running && monotonic_ms() >= s.next_pass_at)
				pass_start(&s);
			if (s.pass_running)
				pass_step(&s);
		}
	}
	remove_pidfiles(&s);
	for (unsigned int i = s.n_store; i-- > 0;)
		store_drop(&s, i);
	if (s.pagemap_fd >= 0)
		close(s.pagemap_fd);
	return exit_status;
}
