/* SPDX-License-Identifier: MIT */
/*
 * fuse_ring.h - FUSE requests over io_uring (the kernel's per-CPU request
 * queues), beside the /dev/fuse threads that libfuse serves.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>
#include <sys/uio.h>

struct fuse_ring;
struct fuse_session;
struct fuse_buf;

/*
 * Called on a ring thread for each request, laid out as a read of
 * /dev/fuse returns it (in_header, the op's arguments, its data).
 * reply_buf (payload_size bytes) is where a read's reply data should be
 * built: a reply whose data already sits there is not copied.
 */
typedef void (*fuse_ring_handler)(void *thread_ctx, const struct fuse_buf *request,
				  void *reply_buf);

struct fuse_ring_ops {
	void (*thread_start)(void *thread_ctx); /* first thing on each ring thread */
	fuse_ring_handler handle;
};

/* Does the kernel offer FUSE over io_uring (fuse.enable_uring set)? */
bool fuse_ring_kernel_enabled(void);

/* Queues the kernel creates: one per possible CPU. */
unsigned fuse_ring_queues(void);

/* More possible CPUs than this: /dev/fuse only (each thread locks ~1.3 MiB). */
#define FUSE_RING_MAX_QUEUES 64

/*
 * Right after the mount, before the kernel's INIT request is answered:
 * make the rings, one per thread, threads_per_queue threads for each CPU
 * queue, each with `depth` entries whose payload buffers hold payload_size
 * bytes (at least the connection's max_write), all resident. thread_ctx[i]
 * is passed to the ops of thread i. The threads wait for the INIT reply
 * (fuse_ring_writev): if it could announce io_uring they register their
 * entries and serve until the connection ends, else they end.
 */
int fuse_ring_prepare(struct fuse_session *se, unsigned threads_per_queue, unsigned depth,
		      size_t payload_size, size_t stack_size, const struct fuse_ring_ops *ops,
		      void *const *thread_ctx, struct fuse_ring **ret_ring);

/* Whether the INIT reply announced io_uring: the connection is a ring one
 * for its whole life (docs/RESTART.md, 1.4). Accepts NULL. */
bool fuse_ring_serving(struct fuse_ring *ring);

/* Wait until the threads have ended, or the deadline (CLOCK_REALTIME)
 * passes: 0 or -ETIMEDOUT. Accepts NULL. */
int fuse_ring_join(struct fuse_ring *ring, const struct timespec *deadline);

/* Join the threads (the connection must have ended) and free the rings;
 * accepts NULL. Returns the number of requests the rings answered. */
uint64_t fuse_ring_stop(struct fuse_ring *ring);

/* A /dev/fuse thread calls this with each request before libfuse sees
 * it: the INIT request is noted for its reply. */
void fuse_ring_dev_request(const void *request, size_t len);

/*
 * libfuse's writev (fuse_session_custom_io): a reply to a request that a
 * ring thread is handling goes into that request's ring entry, any other
 * to /dev/fuse; the INIT reply announces io_uring when the rings are ready.
 */
ssize_t fuse_ring_writev(int fd, struct iovec *iov, int count, void *userdata);
