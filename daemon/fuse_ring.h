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
#include <sys/uio.h>

struct fuse_ring;
struct fuse_session;
struct fuse_buf;

/*
 * Called on a ring thread for each request, laid out as a read of
 * /dev/fuse returns it (in_header, the op's arguments, its data).
 * reply_buf (payload_size bytes) may hold a read's reply data: the reply
 * is copied from there without a copy.
 */
typedef void (*fuse_ring_handler)(void *thread_ctx, const struct fuse_buf *request,
				  void *reply_buf);

struct fuse_ring_ops {
	void (*thread_start)(void *thread_ctx); /* first thing on each ring thread */
	fuse_ring_handler handle;
};

/* Does the kernel offer FUSE over io_uring (fuse.enable_uring set)? */
bool fuse_ring_kernel_enabled(void);

/* Turn the kernel's switch on (root); 0 or negative errno. */
int fuse_ring_kernel_enable(void);

/* Queues the kernel creates: one per possible CPU. */
unsigned fuse_ring_queues(void);

/*
 * Arm the rings of an initialized connection: one thread per queue, each
 * with `depth` entries whose payload buffers hold payload_size bytes (at
 * least the connection's max_write), resident before the first request.
 * thread_ctx[q] is passed to the ops for queue q's thread. Requests keep going to
 * /dev/fuse until every queue has an entry. The threads end when the
 * connection does (unmount or abort).
 */
int fuse_ring_start(struct fuse_session *se, unsigned threads_per_queue, unsigned depth,
		    size_t payload_size, size_t stack_size, const struct fuse_ring_ops *ops,
		    void *const *thread_ctx, struct fuse_ring **ret_ring);

/* Join the threads once the connection has ended; accepts NULL. Returns
 * the number of requests the rings answered. */
uint64_t fuse_ring_stop(struct fuse_ring *ring);

/*
 * libfuse's writev (fuse_session_custom_io): a reply to a request that a
 * ring thread is handling goes into that request's ring entry, any other
 * to /dev/fuse.
 */
ssize_t fuse_ring_writev(int fd, struct iovec *iov, int count, void *userdata);
