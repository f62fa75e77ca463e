/* SPDX-License-Identifier: MIT */
/*
 * control_job.c - Flush and Recompress in threads of their own.
 *
 * A flush writes gigabytes and a recompression pass compresses every pool
 * entry again: neither fits in the control server's poll loop. Each runs
 * in its thread, publishes its progress in relaxed atomics and wakes the
 * server through its eventfd; the server alone talks to the client. A
 * client that disappears does not stop a job: what a flush wrote is on
 * disk and what a pass recompressed is in place either way. Shutdown
 * does: the progress callback cancels the job at its next step.
 *
 * One job of each kind at a time (the server keeps one struct per kind);
 * a flush and a pass may run together, serialized slot by slot by the
 * writeback engine's batch lock.
 */
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "control_job.h"
#include "log.h"

static void wake(int fd)
{
	uint64_t one = 1;

	/* The counter cannot overflow in practice; a failed wake is retried by the poll timeout. */
	if (write(fd, &one, sizeof(one)) < 0)
		return;
}

static bool job_progress(void *opaque, uint64_t done, uint64_t total)
{
	struct control_job *job = opaque;

	__atomic_store_n(&job->done, done, __ATOMIC_RELAXED);
	__atomic_store_n(&job->total, total, __ATOMIC_RELAXED);
	wake(job->wake_fd);
	/* Shutdown must not wait for gigabytes: what was done stays done. */
	return !__atomic_load_n(job->stopping, __ATOMIC_ACQUIRE);
}

static void *job_thread(void *arg)
{
	struct control_job *job = arg;
	int64_t r;

	if (job->kind == CONTROL_JOB_FLUSH)
		r = store_flush(job->store, &job->flush);
	else
		r = store_recompress_all(job->store, &job->recompress, &job->totals);
	__atomic_store_n(&job->result, r, __ATOMIC_RELAXED);
	__atomic_store_n(&job->finished, true, __ATOMIC_RELEASE);
	wake(job->wake_fd);
	return NULL;
}

enum control_job_kind control_job_kind_of(enum proto_method method)
{
	switch (method) {
	case PROTO_METHOD_FLUSH:
		return CONTROL_JOB_FLUSH;
	case PROTO_METHOD_RECOMPRESS:
		return CONTROL_JOB_RECOMPRESS;
	default:
		return _CONTROL_JOB_MAX;
	}
}

int control_job_start(struct control_job *job, const struct proto_request *call,
		      struct store *store, int wake_fd, const bool *stopping, uint64_t client_id)
{
	int r;

	*job = (struct control_job){
		.kind = control_job_kind_of(call->method),
		.client_id = client_id,
		.store = store,
		.wake_fd = wake_fd,
		.stopping = stopping,
		.flush = { .idle_seconds = call->flush.idle_seconds,
			   .limit_bytes = call->flush.limit_bytes,
			   .progress = job_progress,
			   .opaque = job },
		.recompress = { .idle_given = call->recompress.idle_seconds.given,
				.idle_seconds = call->recompress.idle_seconds.value,
				.progress = job_progress,
				.opaque = job },
	};
	r = -pthread_create(&job->thread, NULL, job_thread, job);
	if (r == 0)
		job->running = true;
	return r;
}

const char *control_job_busy_message(enum control_job_kind kind)
{
	return kind == CONTROL_JOB_FLUSH
		       ? "a flush is already running; wait for it to finish"
		       : "a recompression pass is already running; wait for it to finish";
}

int control_job_build_progress(struct control_job *job, uint64_t *last_reported, char **ret_msg,
			       size_t *ret_size)
{
	uint64_t done = __atomic_load_n(&job->done, __ATOMIC_RELAXED);
	uint64_t total = __atomic_load_n(&job->total, __ATOMIC_RELAXED);
	int r;

	if (done == *last_reported)
		return 0;
	if (job->kind == CONTROL_JOB_FLUSH)
		r = proto_build_flush_progress(done, total, ret_msg, ret_size);
	else
		r = proto_build_recompress_progress(done, total, ret_msg, ret_size);
	if (r < 0)
		return r;
	*last_reported = done;
	return 1;
}

bool control_job_finished(const struct control_job *job)
{
	return __atomic_load_n(&job->finished, __ATOMIC_ACQUIRE);
}

static int build_result(const struct control_job *job, char **ret_msg, size_t *ret_size)
{
	const struct store_recompress_totals *t = &job->totals;

	if (job->kind == CONTROL_JOB_FLUSH) {
		log_info("flush wrote %" PRId64 " pages back to disk", job->result);
		return proto_build_flush_result((uint64_t)job->result, ret_msg, ret_size);
	}
	log_info("recompression pass: %" PRIu64 " pool entries examined, %" PRIu64
		 " recompressed, %" PRIu64 " kept (saving too little), %" PRIu64
		 " dropped (rewritten meanwhile), %" PRIu64 " ms of CPU",
		 t->examined, t->recompressed, t->not_worth, t->dropped, t->cpu_us / 1000);
	return proto_build_recompress_result(
		&(struct proto_recompress_reply){ .done_entries = t->examined,
						  .recompressed = t->recompressed,
						  .not_worth = t->not_worth,
						  .dropped = t->dropped,
						  .cpu_us = t->cpu_us },
		ret_msg, ret_size);
}

int control_job_finish(struct control_job *job, char **ret_msg, size_t *ret_size)
{
	const char *what = job->kind == CONTROL_JOB_FLUSH ? "flush" : "recompression pass";
	int r = (int)job->result;

	pthread_join(job->thread, NULL);
	job->running = false;
	if (job->result >= 0)
		return build_result(job, ret_msg, ret_size);
	/* Refusals are the caller's business, not the daemon's failures. */
	if (r == -ENODEV) {
		log_notice("%s refused: there is no disk tier", what);
		return varlink_build_error(PROTO_ERROR_NO_DISK_TIER, NULL, ret_msg, ret_size);
	}
	if (r == -EOPNOTSUPP) {
		log_notice("%s refused: pool.recompress is none", what);
		return varlink_build_error(PROTO_ERROR_NO_SECOND_CODEC, NULL, ret_msg, ret_size);
	}
	log_error_errno(r, "%s failed", what);
	return proto_build_failed(strerror(-r), ret_msg, ret_size);
}

void control_job_join(struct control_job *job)
{
	if (job->running)
		pthread_join(job->thread, NULL);
	job->running = false;
}
