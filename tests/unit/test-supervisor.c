/* SPDX-License-Identifier: MIT */
/*
 * test-supervisor.c - the supervisor of `swapdevd --foreground` over a
 * stand-in daemon (supervise-child.c): stored descriptors come back after
 * a crash or a requested restart with their names and the right
 * LISTEN_PID, removed ones do not, strangers cannot store, a crash loop is
 * retried with backoff, the exit status is the daemon's when nothing is
 * stored, and the supervisor holds a sealed state memfd's pages in a
 * locked mapping of its own (the allocated ones only) across a death.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "supervisor.h"

static char result[64];

static void make_result(void)
{
	int fd;

	snprintf(result, sizeof(result), "/tmp/test-supervisor.XXXXXX");
	fd = mkstemp(result);
	cr_assert_geq(fd, 0);
	close(fd);
}

static void remove_result(void)
{
	unlink(result);
}

/* Run the supervisor over the stand-in in MODE; its exit status. With
 * term_after_ms > 0, SIGTERM the supervisor that long after it starts. */
static int supervise(const char *mode, int term_after_ms)
{
	char *argv[] = { SUPERVISE_CHILD, (char *)mode, result, NULL };
	int status;
	pid_t pid;

	unsetenv("NOTIFY_SOCKET");
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		const struct supervisor_config config = { .exe = SUPERVISE_CHILD, .argv = argv };

		_exit(supervisor_run(&config));
	}
	if (term_after_ms > 0) {
		struct timespec ts = { term_after_ms / 1000, (term_after_ms % 1000) * 1000000L };

		nanosleep(&ts, NULL);
		kill(pid, SIGTERM);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status), "the supervisor died: wait status %#x", status);
	return WEXITSTATUS(status);
}

/* Line N (from 1) of the result file. */
static void line(int n, char *buf, size_t size)
{
	FILE *f = fopen(result, "re");

	cr_assert_not_null(f);
	buf[0] = '\0';
	for (int i = 0; i < n; i++)
		if (!fgets(buf, (int)size, f)) {
			buf[0] = '\0';
			break;
		}
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
}

static int lines(void)
{
	char buf[256];
	int n = 0;
	FILE *f = fopen(result, "re");

	cr_assert_not_null(f);
	while (fgets(buf, sizeof(buf), f))
		n++;
	fclose(f);
	return n;
}

TestSuite(supervisor, .init = make_result, .fini = remove_result, .timeout = 60);

Test(supervisor, crash_restarts_with_the_stored_fd)
{
	char l[256];

	cr_assert_eq(supervise("crash", 0), 0);
	cr_assert_eq(lines(), 2);
	line(1, l, sizeof(l));
	cr_assert(strstr(l, "gen=1 ") && strstr(l, " n=0 "), "%s", l);
	line(2, l, sizeof(l));
	/* The same memfd came back (gen 2 read gen 1's counter), once. */
	cr_assert(strstr(l, "gen=2 ") && strstr(l, "listen_pid_ok=1 n=1 names=state"), "%s", l);
}

Test(supervisor, names_in_order)
{
	char l[256];

	cr_assert_eq(supervise("two", 0), 0);
	line(2, l, sizeof(l));
	cr_assert(strstr(l, "gen=2 ") && strstr(l, "n=2 names=state:session"), "%s", l);
}

Test(supervisor, status_75_restarts)
{
	char l[256];

	cr_assert_eq(supervise("restart", 0), 0);
	line(2, l, sizeof(l));
	cr_assert(strstr(l, "gen=2 ") && strstr(l, "listen_pid_ok=1 n=1 names=state"), "%s", l);
}

Test(supervisor, nothing_stored_exits_with_the_status)
{
	cr_assert_eq(supervise("nofds", 0), 3);
	cr_assert_eq(lines(), 1);
}

Test(supervisor, a_stranger_cannot_store)
{
	cr_assert_eq(supervise("foreign", 0), 128 + SIGKILL);
	cr_assert_eq(lines(), 1);
}

Test(supervisor, stop_survives_a_crash_while_stopping)
{
	char l[256];

	cr_assert_eq(supervise("stop", 300), 0);
	cr_assert_eq(lines(), 2);
	line(2, l, sizeof(l));
	cr_assert(strstr(l, "gen=2 "), "%s", l);
}

Test(supervisor, crash_loop_backs_off_and_keeps_the_fds)
{
	struct timespec t0, t1;
	char l[256];
	double s;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	cr_assert_eq(supervise("loop", 0), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	cr_assert_eq(lines(), 7);
	line(7, l, sizeof(l));
	cr_assert(strstr(l, "gen=7 ") && strstr(l, "names=state"), "%s", l);
	/* Crashes 5 and 6 within 10 s: waits of 1 s and 2 s. */
	cr_assert_geq(s, 2.9, "took %.2f s", s);
	cr_assert_lt(s, 10.0, "took %.2f s", s);
}

Test(supervisor, a_ready_daemon_killed_often_restarts_at_once)
{
	struct timespec t0, t1;
	double s;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	cr_assert_eq(supervise("killed", 0), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	cr_assert_eq(lines(), 7);
	/* Six deaths after READY: no backoff, which would take 1 s at least. */
	cr_assert_lt(s, 0.9, "took %.2f s", s);
}

/* The value of " key=" in line l, or -2 when absent. */
static long field(const char *l, const char *key)
{
	char k[64];
	const char *p;

	snprintf(k, sizeof(k), " %s=", key);
	p = strstr(l, k);
	return p ? atol(p + strlen(k)) : -2;
}

Test(supervisor, holds_the_state_pages_locked_across_a_death)
{
	const long kb = 64 * 4; /* the stand-in's 64 pages of 256 */
	char l[512];

	cr_assert_eq(supervise("hold", 0), 0);
	cr_assert_eq(lines(), 4);
	/* Alive and ready: each written page mapped and locked, no hole. */
	line(2, l, sizeof(l));
	cr_assert(strncmp(l, "hold gen=1 ", 11) == 0, "%s", l);
	cr_assert_eq(field(l, "waited"), 1, "%s", l);
	cr_assert_eq(field(l, "alive_rss"), kb, "%s", l);
	cr_assert_eq(field(l, "alive_locked"), kb, "%s", l);
	cr_assert_eq(field(l, "alive_lo"), 1, "%s", l);
	cr_assert_eq(field(l, "alive_file"), kb, "%s", l);
	/* Punched pages left the mapping; a pass at the next READY=1 mapped
	 * the new pages and allocated nothing where the punched ones were. */
	cr_assert_eq(field(l, "punched"), 1, "%s", l);
	cr_assert_eq(field(l, "again"), 1, "%s", l);
	cr_assert_eq(field(l, "repass_rss"), kb, "%s", l);
	cr_assert_eq(field(l, "repass_locked"), kb, "%s", l);
	cr_assert_eq(field(l, "repass_file"), kb, "%s", l);
	/* After the SIGKILL, before the successor maps anything: still held. */
	line(4, l, sizeof(l));
	cr_assert(strncmp(l, "hold gen=2 ", 11) == 0, "%s", l);
	cr_assert_eq(field(l, "dead_rss"), kb, "%s", l);
	cr_assert_eq(field(l, "dead_locked"), kb, "%s", l);
	cr_assert_eq(field(l, "dead_lo"), 1, "%s", l);
	/* FDSTOREREMOVE unmapped it. */
	cr_assert_eq(field(l, "unmapped"), 1, "%s", l);
}
