/* SPDX-License-Identifier: MIT */
/*
 * control_job.h - the control calls that outlast a message: Flush and
 * Recompress, each run in a thread of its own while the control server's
 * thread goes on serving. The server decides who gets the replies; a job
 * only runs, publishes its progress and builds the replies.
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol.h"
#include "store.h"

enum control_job_kind {
	CONTROL_JOB_FLUSH,
	CONTROL_JOB_RECOMPRESS,
	_CONTROL_JOB_MAX,
};

struct control_job {
	enum control_job_kind kind;
	pthread_t thread;
	bool running;	    /* a thread exists (join pending) */
	uint64_t client_id; /* who waits for the replies; 0 when nobody does */
	struct store *store;
	int wake_fd;		/* written at each progress step and at the end */
	const bool *stopping;	/* the job gives up at its next step once true */
	struct store_flush_request flush;
	struct store_recompress_request recompress;
	/* Published by the job's thread. */
	uint64_t done, total;
	bool finished;
	int64_t result; /* pages written (Flush), 0 (Recompress), or -errno */
	struct store_recompress_totals totals;
};

/* The kind of job a call starts, or _CONTROL_JOB_MAX for other calls. */
enum control_job_kind control_job_kind_of(enum proto_method method);

/*
 * Start the job of call (Flush or Recompress) on store in job, which must
 * not be running. Returns 0 or the -errno of pthread_create().
 */
int control_job_start(struct control_job *job, const struct proto_request *call,
		      struct store *store, int wake_fd, const bool *stopping, uint64_t client_id);

/* io.swapdev.Failed's message when a call finds its job running already. */
const char *control_job_busy_message(enum control_job_kind kind);

/*
 * A progress reply when the job advanced past *last_reported, which is
 * updated. Returns 1 with a message, 0 when there is nothing new, or a
 * builder's -errno.
 */
int control_job_build_progress(struct control_job *job, uint64_t *last_reported, char **ret_msg,
			       size_t *ret_size);

bool control_job_finished(const struct control_job *job);

/*
 * Join a finished job, log its outcome and build its final reply: the
 * result, or the error (NoDiskTier, NoSecondCodec, Failed). Returns 0 or
 * a builder's -errno.
 */
int control_job_finish(struct control_job *job, char **ret_msg, size_t *ret_size);

/* Wait for a running job's thread (it stops at its next step once *stopping). */
void control_job_join(struct control_job *job);
