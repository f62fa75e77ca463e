/* SPDX-License-Identifier: MIT */
/*
 * supervise-child.c - a stand-in daemon for test-supervisor.c: it speaks
 * the fd-store protocol to its supervisor the way swapdevd does, and
 * appends what it saw to a result file, one line per process.
 *
 * usage: supervise-child MODE RESULT_FILE
 *
 * Each generation keeps a counter in the "state" memfd it stores (a fresh
 * memfd in the first, the adopted one after), so a line says which
 * generation ran and whether it got the descriptors back:
 *	gen=N pid=P listen_pid_ok=0|1 names=a:b fd3=...
 * MODE decides how each generation ends (see main()). In mode "hold", the
 * state memfd is sealed and sparse, and each generation adds a line about
 * the supervisor's mapping of it (its /proc/PID/smaps):
 *	hold gen=N key=value ...
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096
#define HOLD_SIZE (256 * PAGE)
#define HOLD_PAGES 64 /* written: page 0 (the counter) and every 4th page after it */

static void push(int fd, const char *name)
{
	char msg[128];
	int r;

	snprintf(msg, sizeof(msg), "FDSTORE=1\nFDNAME=%s", name);
	r = sd_pid_notify_with_fds(0, 0, msg, &fd, 1);
	if (r <= 0) {
		fprintf(stderr, "supervise-child: FDSTORE %s failed: %s\n", name, strerror(-r));
		exit(90);
	}
}

/* The supervisor's mapping of the memfd "state": false when it has none. */
static bool smaps_state(long *ret_rss_kb, long *ret_locked_kb, bool *ret_locked_flag)
{
	char path[64], buf[512];
	bool in = false, found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)getppid());
	f = fopen(path, "re");
	if (!f)
		exit(94);
	*ret_rss_kb = *ret_locked_kb = 0;
	*ret_locked_flag = false;
	while (fgets(buf, sizeof(buf), f)) {
		if (strstr(buf, "/memfd:state ")) {
			in = found = true;
			continue;
		}
		if (!in)
			continue;
		if (strncmp(buf, "Rss:", 4) == 0)
			*ret_rss_kb = atol(buf + 4);
		else if (strncmp(buf, "Locked:", 7) == 0)
			*ret_locked_kb = atol(buf + 7);
		else if (strncmp(buf, "VmFlags:", 8) == 0) {
			*ret_locked_flag = strstr(buf, " lo") != NULL;
			in = false;
		}
	}
	fclose(f);
	return found;
}

/* Wait (5 s at most) until the supervisor maps rss_kb of the memfd, or
 * none of it with rss_kb < 0; false on timeout. */
static bool wait_smaps(long rss_kb)
{
	struct timespec ts = { 0, 10 * 1000000L };

	for (int i = 0; i < 500; i++) {
		long rss, locked;
		bool lo;
		bool mapped = smaps_state(&rss, &locked, &lo);

		if (rss_kb < 0 ? !mapped : mapped && rss == rss_kb)
			return true;
		nanosleep(&ts, NULL);
	}
	return false;
}

static long file_kb(int fd)
{
	struct stat st;

	return fstat(fd, &st) < 0 ? -1 : (long)st.st_blocks / 2;
}

/* What the supervisor maps of the state, on a "hold" line. */
static void hold_report(FILE *out, const char *what, int state)
{
	long rss, locked;
	bool lo;

	if (!smaps_state(&rss, &locked, &lo))
		rss = locked = -1;
	fprintf(out, " %s_rss=%ld %s_locked=%ld %s_lo=%d %s_file=%ld", what, rss, what, locked,
		what, lo, what, file_kb(state));
}

/* Gen 1 of mode "hold", READY sent: the supervisor maps the pages that
 * exist, holes and punched ones not, and keeps them after our death. */
static void hold_first(int state, const char *result)
{
	char page[PAGE] = { 1 };
	FILE *out = fopen(result, "ae");

	if (!out)
		exit(2);
	fprintf(out, "hold gen=1 waited=%d", wait_smaps(HOLD_PAGES * 4));
	hold_report(out, "alive", state);
	/* 16 chunks freed, 16 new ones further on, READY again (a pass now). */
	for (int i = 1; i <= 16; i++)
		if (fallocate(state, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4 * i * PAGE,
			      PAGE) < 0)
			exit(95);
	fprintf(out, " punched=%d", wait_smaps((HOLD_PAGES - 16) * 4));
	for (int i = 0; i < 16; i++)
		if (pwrite(state, page, PAGE, (off_t)(HOLD_SIZE - (2 * i + 1) * PAGE)) != PAGE)
			exit(96);
	sd_notify(0, "READY=1");
	fprintf(out, " again=%d", wait_smaps(HOLD_PAGES * 4));
	hold_report(out, "repass", state);
	fprintf(out, "\n");
	fclose(out);
}

int main(int argc, char **argv)
{
	const char *mode, *env;
	unsigned int gen = 1;
	char **names = NULL;
	int n, state = -1, listen_pid_ok = 0;
	FILE *out;

	if (argc != 3)
		return 2;
	mode = argv[1];
	if (strcmp(mode, "stop") == 0) {
		/* Before READY: the supervisor passes a pending stop on at READY. */
		sigset_t set;

		sigemptyset(&set);
		sigaddset(&set, SIGTERM);
		sigprocmask(SIG_BLOCK, &set, NULL);
	}
	out = fopen(argv[2], "ae");
	if (!out)
		return 2;
	env = getenv("LISTEN_PID");
	listen_pid_ok = env && atoi(env) == (int)getpid();
	n = sd_listen_fds_with_names(1, &names);
	for (int i = 0; i < n; i++)
		if (strcmp(names[i], "state") == 0)
			state = 3 + i;
	if (state >= 0) {
		if (pread(state, &gen, sizeof(gen), 0) != sizeof(gen))
			return 91;
		gen++;
	} else {
		state = memfd_create("state", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		if (state < 0)
			return 92;
		if (strcmp(mode, "hold") == 0) {
			char page[PAGE] = { 1 };

			for (int i = 1; i < HOLD_PAGES; i++)
				if (pwrite(state, page, PAGE, 4 * i * PAGE) != PAGE)
					return 97;
			if (ftruncate(state, HOLD_SIZE) < 0 ||
			    fcntl(state, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0)
				return 98;
		}
	}
	if (pwrite(state, &gen, sizeof(gen), 0) != sizeof(gen))
		return 93;
	fprintf(out, "gen=%u pid=%d listen_pid_ok=%d n=%d names=", gen, (int)getpid(),
		listen_pid_ok, n);
	for (int i = 0; i < n; i++)
		fprintf(out, "%s%s", i ? ":" : "", names[i]);
	fprintf(out, "\n");
	/* Freed at once: LeakSanitizer checks the stand-in too. */
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	names = NULL;
	fclose(out);
	if (gen == 1) {
		push(state, "state");
		push(state, "state"); /* the same file again: kept once */
		if (strcmp(mode, "two") == 0) {
			int other = memfd_create("other", MFD_CLOEXEC);

			push(other, "session");
		}
	}
	/* A crash loop is a daemon that dies before it is ready. */
	if (strcmp(mode, "loop") != 0 && !(strcmp(mode, "hold") == 0 && gen >= 2))
		sd_notify(0, "READY=1\nSTATUS=stand-in");

	if (strcmp(mode, "hold") == 0) {
		if (gen < 2) {
			hold_first(state, argv[2]);
			raise(SIGKILL);
		}
		/* Our predecessor is dead, nothing of ours maps the state, and
		 * we are not ready: the supervisor maps nothing new meanwhile. */
		out = fopen(argv[2], "ae");
		if (!out)
			return 2;
		fprintf(out, "hold gen=2");
		hold_report(out, "dead", state);
		sd_notify(0, "FDSTOREREMOVE=1\nFDNAME=state\n");
		fprintf(out, " unmapped=%d\n", wait_smaps(-1));
		fclose(out);
		return 0;
	} else if (strcmp(mode, "two") == 0 || strcmp(mode, "crash") == 0) {
		if (gen < 2)
			raise(SIGKILL);
	} else if (strcmp(mode, "restart") == 0) {
		if (gen < 2)
			return 75;
	} else if (strcmp(mode, "loop") == 0 || strcmp(mode, "killed") == 0) {
		if (gen < 7)
			abort();
	} else if (strcmp(mode, "nofds") == 0) {
		sd_notify(0, "FDSTOREREMOVE=1\nFDNAME=state");
		return 3;
	} else if (strcmp(mode, "foreign") == 0) {
		/* Only the supervisor's own child may store: this is ignored. */
		sd_notify(0, "FDSTOREREMOVE=1\nFDNAME=state");
		pid_t pid = fork();

		if (pid == 0) {
			push(state, "state");
			_exit(0);
		}
		waitpid(pid, NULL, 0);
		raise(SIGKILL);
	} else if (strcmp(mode, "stop") == 0) {
		/* Wait for the SIGTERM the test sends the supervisor. */
		sigset_t set;
		int sig;

		sigemptyset(&set);
		sigaddset(&set, SIGTERM);
		sd_notify(0, "STATUS=waiting");
		sigwait(&set, &sig);
		if (gen < 2)
			raise(SIGKILL); /* dies while stopping: the next one is told too */
	}
	sd_notify(0, "FDSTOREREMOVE=1\nFDNAME=state\n");
	sd_notify(0, "FDSTOREREMOVE=1\nFDNAME=session\n");
	return 0;
}
