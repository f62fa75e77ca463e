/* SPDX-License-Identifier: MIT */
/*
 * ctl-job.c - following a job of the daemon (Flush, Recompress) from its
 * first reply to its result.
 *
 * The call always asks for progress ("more"). swapdevd answers the first
 * time as soon as the job has started, which is what "accepted" means
 * here: without --wait, swapdevctl says so and disconnects, and the job
 * runs to its end in the daemon (a job belongs to the daemon, not to the
 * connection; the interface promises that disconnecting does not cancel
 * it). Refusals come back as that first reply, so they still reach the
 * user. With --wait, swapdevctl reads the progress replies until the
 * result, drawing a bar on stderr when it is a terminal, and prints the
 * result.
 */
#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

#include "common.h"
#include "ctl.h"

#define PROGRESS_WIDTH 40

static void draw_progress(const struct ctl_job *job, uint64_t done, uint64_t total)
{
	double fraction = total ? (double)MIN(done, total) / (double)total : 1.0;
	int filled = (int)(fraction * PROGRESS_WIDTH);

	fprintf(stderr, "\r%s [%.*s%*s] %3d%%  %" PRIu64 "/%" PRIu64 " %s", job->name, filled,
		"########################################", PROGRESS_WIDTH - filled, "",
		(int)(fraction * 100), MIN(done, total), total, job->unit);
}

static int follow(const struct ctl_job *job, struct ctl_conn *conn, struct varlink_reply *reply,
		  bool wait)
{
	bool bar = wait && isatty(STDERR_FILENO);
	uint64_t done, total;

	while (reply->continues) {
		if (!wait) {
			job->started(reply->parameters);
			varlink_reply_done(reply);
			return CTL_EXIT_OK;
		}
		if (bar) {
			job->progress(reply->parameters, &done, &total);
			draw_progress(job, done, total);
		}
		varlink_reply_done(reply);
		if (ctl_next_reply(conn, reply) < 0) {
			if (bar)
				fputc('\n', stderr);
			return CTL_EXIT_FAILURE;
		}
	}
	done = job->done(reply->parameters);
	if (bar) {
		/* The result goes to stdout: finish the bar on stderr first. */
		draw_progress(job, done, done);
		fputc('\n', stderr);
	}
	job->print_result(reply->parameters);
	varlink_reply_done(reply);
	return CTL_EXIT_OK;
}

int ctl_run_job(const struct ctl_options *options, const struct proto_request *call, bool wait,
		const struct ctl_job *job)
{
	struct varlink_reply reply;
	struct ctl_conn *conn = NULL;
	int status = CTL_EXIT_FAILURE;

	if (ctl_connect(options->socket, &conn) >= 0 && ctl_call(conn, call, &reply) >= 0)
		status = follow(job, conn, &reply, wait);
	ctl_disconnect(conn);
	return status;
}
