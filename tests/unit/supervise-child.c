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
 * MODE decides how each generation ends (see main()).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

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
		state = memfd_create("state", MFD_CLOEXEC);
		if (state < 0)
			return 92;
	}
	if (pwrite(state, &gen, sizeof(gen), 0) != sizeof(gen))
		return 93;
	fprintf(out, "gen=%u pid=%d listen_pid_ok=%d n=%d names=", gen, (int)getpid(),
		listen_pid_ok, n);
	for (int i = 0; i < n; i++)
		fprintf(out, "%s%s", i ? ":" : "", names[i]);
	fprintf(out, "\n");
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
	if (strcmp(mode, "loop") != 0)
		sd_notify(0, "READY=1\nSTATUS=stand-in");

	if (strcmp(mode, "two") == 0 || strcmp(mode, "crash") == 0) {
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
