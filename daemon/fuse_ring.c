/* SPDX-License-Identifier: MIT */
/*
 * fuse_ring.c - FUSE requests over io_uring.
 *
 * Read from /dev/fuse, every swap request costs two system calls and a
 * wake-up of whichever serving thread the kernel picks, usually on the
 * other CPU. With FUSE over io_uring the kernel keeps one request queue
 * per CPU and hands a request to an entry that a thread registered on the
 * queue of the CPU that issued it; a reply and the wait for the next
 * request are one io_uring_enter. Each entry has a thread of its own, so
 * that a request never waits behind another one's compression while a
 * CPU is free; the threads are not pinned to their queue's CPU, which
 * measured worse on a busy machine (docs/BENCHMARKS.md).
 *
 * libfuse (3.14) knows nothing of this, but still decodes the requests and
 * encodes the replies: a request from a ring entry is laid out the way
 * /dev/fuse delivers it (header, the op's arguments, its data) right in
 * front of the entry's payload, so write data is not copied, and handed
 * to fuse_session_process_buf(). libfuse then writes the reply through
 * fuse_ring_writev(), installed as its custom I/O, which puts a reply
 * for the request this thread is handling into the entry (out header in
 * the entry's header, everything else in its payload) instead of
 * /dev/fuse.
 *
 * The rings and their threads are made right after the mount, before the
 * kernel's INIT request is answered; the threads wait. The INIT reply is
 * libfuse's with the io_uring flag added (libfuse 3.14 does not know it),
 * only when the rings exist and the kernel offered the flag: the
 * connection is then an io_uring one for its whole life, whatever becomes
 * of the kernel's switch later (without the flag, turning the switch off
 * would make every later commit fail and strand the requests held). Once
 * the reply is written, the threads register their entries; the kernel
 * holds new requests back until every CPU queue has one, or sends them to
 * /dev/fuse for good if registering fails. Forgets and interrupts always
 * come through /dev/fuse, whose threads stay.
 */
#define FUSE_USE_VERSION FUSE_MAKE_VERSION(3, 12)
#include <errno.h>
#include <fcntl.h>
#include <fuse3/fuse_lowlevel.h>
#include <linux/fuse.h>
#include <liburing.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common.h"
#include "fuse_ring.h"
#include "log.h"

/* The io_uring interface of FUSE (protocol 7.42, Linux 6.14), newer than
 * the distribution's linux/fuse.h. */
#ifndef FUSE_URING_IN_OUT_HEADER_SZ
#define FUSE_OVER_IO_URING_FLAGS2   (1u << 9) /* FUSE_OVER_IO_URING, bit 41 */
#define FUSE_URING_IN_OUT_HEADER_SZ 128
#define FUSE_URING_OP_IN_OUT_SZ	    128

struct fuse_uring_ent_in_out {
	uint64_t flags;
	uint64_t commit_id; /* the request's unique */
	uint32_t payload_sz; /* bytes in the payload, either way */
	uint32_t padding;
	uint64_t reserved;
};

struct fuse_uring_req_header {
	char in_out[FUSE_URING_IN_OUT_HEADER_SZ]; /* fuse_in_header / fuse_out_header */
	char op_in[FUSE_URING_OP_IN_OUT_SZ];	  /* the op's argument struct */
	struct fuse_uring_ent_in_out ring_ent_in_out;
};

enum fuse_uring_cmd {
	FUSE_IO_URING_CMD_INVALID = 0,
	FUSE_IO_URING_CMD_REGISTER = 1,
	FUSE_IO_URING_CMD_COMMIT_AND_FETCH = 2,
};

struct fuse_uring_cmd_req {
	uint64_t flags;
	uint64_t commit_id;
	uint16_t qid;
	uint8_t padding[6];
};
#endif

#ifndef FUSE_INIT_EXT
#define FUSE_INIT_EXT (1u << 30)
#endif
/* Byte offsets in fuse_init_in and fuse_init_out (protocol 7.36 and later). */
#define INIT_IN_FLAGS2	 16
#define INIT_OUT_FLAGS	 12
#define INIT_OUT_FLAGS2	 32
#define INIT_OUT_MIN_LEN 36

#define ENABLE_PARAM "/sys/module/fuse/parameters/enable_uring"
#define POSSIBLE_CPUS "/sys/devices/system/cpu/possible"
/* Each entry's memory: the ring header at the start, the request's
 * headers rebuilt at the end, then the payload. */
#define HEADER_AREA 4096u

struct ring_thread;

struct ring_entry {
	struct ring_thread *thread;
	struct fuse_uring_req_header *header;
	unsigned char *payload;
	struct iovec iov[2];	/* registered buffers */
	uint32_t cmd;		/* the command in flight */
	uint64_t unique;	/* the request being handled */
	bool replied;
};

struct ring_thread {
	struct fuse_ring *ring;
	unsigned qid;
	struct io_uring uring;
	bool uring_ready;
	pthread_t thread;
	bool running, joined;
	void *ctx;
	struct ring_entry *entries;
	unsigned char *mem;
	size_t mem_size;
};

struct fuse_ring {
	int fd; /* our own: libfuse closes its descriptor at unmount */
	unsigned depth, nr_queues, nr_threads;
	/* Until the INIT reply: 0, the threads wait; then RUN or EXIT. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int go;
	size_t payload_size;
	const struct fuse_ring_ops *ops;
	uint64_t requests;
	struct ring_thread threads[];
};

enum { GO_WAIT, GO_RUN, GO_EXIT };

static __thread struct ring_entry *current_entry;
/* The INIT request a /dev/fuse thread is handling: its unique, and
 * whether the kernel offered io_uring in it. */
static __thread uint64_t init_unique;
static __thread bool init_offers_ring;
/* The rings waiting for the INIT reply (one FUSE session per daemon). */
static struct fuse_ring *init_ring;

bool fuse_ring_kernel_enabled(void)
{
	char c = 0;
	int fd = open(ENABLE_PARAM, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	if (read(fd, &c, 1) != 1)
		c = 0;
	close(fd);
	return c == 'Y' || c == '1';
}

/* The number of CPUs in the kernel's possible mask ("0-3,8-11"). */
unsigned fuse_ring_queues(void)
{
	char text[256], *p = text;
	unsigned n = 0;
	ssize_t len;
	int fd;

	fd = open(POSSIBLE_CPUS, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	len = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (len <= 0)
		return 0;
	text[len] = '\0';
	while (*p >= '0' && *p <= '9') {
		unsigned long lo = strtoul(p, &p, 10), hi = lo;

		if (*p == '-')
			hi = strtoul(p + 1, &p, 10);
		if (hi < lo)
			return 0;
		n += (unsigned)(hi - lo + 1);
		if (*p != ',')
			break;
		p++;
	}
	return n;
}

static bool prep_command(struct ring_entry *e, uint32_t cmd)
{
	struct io_uring *uring = &e->thread->uring;
	struct io_uring_sqe *sqe = io_uring_get_sqe(uring);
	struct fuse_uring_cmd_req *req;

	/* One command per entry and an SQ as deep as the entries: never full. */
	if (!sqe) {
		io_uring_submit(uring);
		sqe = io_uring_get_sqe(uring);
		if (!sqe)
			return false;
	}
	memset(sqe, 0, 2 * sizeof(*sqe)); /* an SQE128 slot; 'off' overlays cmd_op */
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = e->thread->ring->fd;
	sqe->cmd_op = cmd;
	sqe->user_data = (uintptr_t)e;
	if (cmd == FUSE_IO_URING_CMD_REGISTER) {
		sqe->addr = (uintptr_t)e->iov;
		sqe->len = 2;
	}
	req = (struct fuse_uring_cmd_req *)sqe->cmd;
	req->qid = (uint16_t)e->thread->qid;
	if (cmd == FUSE_IO_URING_CMD_COMMIT_AND_FETCH)
		req->commit_id = e->header->ring_ent_in_out.commit_id;
	e->cmd = cmd;
	return true;
}

/* An answer that libfuse did not give (a malformed request). */
static void reply_error(struct ring_entry *e, int error)
{
	struct fuse_out_header out = { .len = sizeof(out), .error = -error, .unique = e->unique };

	memcpy(e->header->in_out, &out, sizeof(out));
	e->header->ring_ent_in_out.payload_sz = 0;
}

static void handle_request(struct ring_thread *t, struct ring_entry *e)
{
	struct fuse_ring *ring = t->ring;
	uint32_t payload = e->header->ring_ent_in_out.payload_sz, args;
	struct fuse_in_header in;
	struct fuse_buf buf = { 0 };
	unsigned char *start;

	memcpy(&in, e->header->in_out, sizeof(in));
	e->unique = in.unique;
	e->replied = false;
	if (in.len < sizeof(in) + payload || payload > ring->payload_size ||
	    in.len - sizeof(in) - payload > FUSE_URING_OP_IN_OUT_SZ) {
		log_error("malformed FUSE ring request (opcode %u, length %u, payload %u)",
			  in.opcode, in.len, payload);
		reply_error(e, EIO);
		return;
	}
	args = in.len - (uint32_t)sizeof(in) - payload;
	start = e->payload - sizeof(in) - args;
	memcpy(start, &in, sizeof(in));
	memcpy(start + sizeof(in), e->header->op_in, args);
	buf.mem = start;
	buf.size = in.len;
	current_entry = e;
	ring->ops->handle(t->ctx, &buf, e->payload);
	current_entry = NULL;
	if (!e->replied)
		reply_error(e, EIO);
	counter_add(&ring->requests, 1);
}

static void release_threads(struct fuse_ring *ring, int go)
{
	pthread_mutex_lock(&ring->lock);
	ring->go = go;
	pthread_cond_broadcast(&ring->cond);
	pthread_mutex_unlock(&ring->lock);
}

void fuse_ring_dev_request(const void *request, size_t len)
{
	const struct fuse_in_header *in = request;
	uint32_t flags2 = 0;

	init_unique = 0;
	if (len < sizeof(*in) || in->opcode != FUSE_INIT)
		return;
	if (len >= sizeof(*in) + INIT_IN_FLAGS2 + sizeof(flags2))
		memcpy(&flags2, (const char *)request + sizeof(*in) + INIT_IN_FLAGS2,
		       sizeof(flags2));
	init_unique = in->unique;
	init_offers_ring = flags2 & FUSE_OVER_IO_URING_FLAGS2;
}

/*
 * The INIT reply: add the io_uring flag if the rings are ready and the
 * kernel offered it, then let the ring threads go, or end them.
 */
static ssize_t reply_init(int fd, struct iovec *iov, int count)
{
	struct fuse_ring *ring = __atomic_exchange_n(&init_ring, NULL, __ATOMIC_ACQ_REL);
	unsigned char out[256];
	struct iovec patched[2];
	uint32_t flags, flags2;
	ssize_t n;

	init_unique = 0;
	if (!ring)
		return writev(fd, iov, count);
	if (!init_offers_ring || count != 2 || iov[1].iov_len < INIT_OUT_MIN_LEN ||
	    iov[1].iov_len > sizeof(out)) {
		log_info("serving FUSE through /dev/fuse: the kernel's INIT did not offer "
			 "io_uring");
		release_threads(ring, GO_EXIT);
		return writev(fd, iov, count);
	}
	memcpy(out, iov[1].iov_base, iov[1].iov_len);
	memcpy(&flags, out + INIT_OUT_FLAGS, sizeof(flags));
	memcpy(&flags2, out + INIT_OUT_FLAGS2, sizeof(flags2));
	flags |= FUSE_INIT_EXT;
	flags2 |= FUSE_OVER_IO_URING_FLAGS2;
	memcpy(out + INIT_OUT_FLAGS, &flags, sizeof(flags));
	memcpy(out + INIT_OUT_FLAGS2, &flags2, sizeof(flags2));
	patched[0] = iov[0];
	patched[1] = (struct iovec){ out, iov[1].iov_len };
	n = writev(fd, patched, 2);
	if (n < 0) {
		release_threads(ring, GO_EXIT);
		return n;
	}
	log_info("serving FUSE through io_uring: %u CPU queues, %u threads", ring->nr_queues,
		 ring->nr_threads);
	release_threads(ring, GO_RUN);
	return n;
}

ssize_t fuse_ring_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	struct ring_entry *e = current_entry;
	struct fuse_out_header out;
	size_t total = 0;

	(void)userdata;
	if (count < 1 || iov[0].iov_len != sizeof(out))
		return writev(fd, iov, count);
	memcpy(&out, iov[0].iov_base, sizeof(out));
	if (!e) {
		if (init_unique && out.unique == init_unique)
			return reply_init(fd, iov, count);
		return writev(fd, iov, count);
	}
	if (out.unique != e->unique || e->replied)
		return writev(fd, iov, count);
	for (int i = 1; i < count; i++) {
		size_t len = iov[i].iov_len;

		if (len > e->thread->ring->payload_size - total) {
			errno = EINVAL;
			return -1;
		}
		/* A read's reply was built in the payload already. */
		if (iov[i].iov_base != e->payload + total)
			memmove(e->payload + total, iov[i].iov_base, len);
		total += len;
	}
	out.len = (uint32_t)(sizeof(out) + total);
	memcpy(e->header->in_out, &out, sizeof(out));
	e->header->ring_ent_in_out.payload_sz = out.error ? 0 : (uint32_t)total;
	e->replied = true;
	return (ssize_t)out.len;
}

static bool wait_for_init(struct fuse_ring *ring)
{
	int go;

	pthread_mutex_lock(&ring->lock);
	while (ring->go == GO_WAIT)
		pthread_cond_wait(&ring->cond, &ring->lock);
	go = ring->go;
	pthread_mutex_unlock(&ring->lock);
	return go == GO_RUN;
}

static const char *command_name(uint32_t cmd)
{
	return cmd == FUSE_IO_URING_CMD_REGISTER ? "register" : "commit";
}

/*
 * Serve this thread's entries until the connection ends (the kernel
 * completes their commands with ENOTCONN or ECONNABORTED). The thread must
 * not end before: the kernel cancels the entries of a thread that exits,
 * and a CPU queue left without entries would hold its requests forever.
 */
static void *thread_main(void *arg)
{
	struct ring_thread *t = arg;
	unsigned armed = t->ring->depth;
	bool failure_logged = false, enter_logged = false;

	t->ring->ops->thread_start(t->ctx);
	if (!wait_for_init(t->ring))
		return NULL;
	for (unsigned i = 0; i < t->ring->depth; i++)
		if (!prep_command(&t->entries[i], FUSE_IO_URING_CMD_REGISTER))
			armed--;
	while (armed > 0) {
		struct io_uring_cqe *cqe;
		int r = io_uring_submit_and_wait(&t->uring, 1);

		if (r < 0 && r != -EINTR) {
			if (!enter_logged)
				log_error_errno(r, "FUSE ring %u: io_uring_enter failed; retrying",
						t->qid);
			enter_logged = true;
			usleep(1000);
		}
		while (io_uring_peek_cqe(&t->uring, &cqe) == 0) {
			struct ring_entry *e = (struct ring_entry *)(uintptr_t)cqe->user_data;
			int res = cqe->res;
			uint32_t next = FUSE_IO_URING_CMD_COMMIT_AND_FETCH;

			io_uring_cqe_seen(&t->uring, cqe);
			if (res == 0) {
				handle_request(t, e);
			} else if (res == -EAGAIN || res == -EINTR) {
				/* Not initialized yet (or interrupted): again, shortly. */
				usleep(1000);
				next = e->cmd;
			} else if (res == -ENOTCONN || res == -ECONNABORTED || res == -ECANCELED) {
				armed--; /* the connection ended */
				continue;
			} else if (e->cmd == FUSE_IO_URING_CMD_COMMIT_AND_FETCH) {
				/* The kernel dropped the entry: give it a new one. */
				if (!failure_logged)
					log_error("FUSE ring %u: commit failed: %s; registering again",
						  t->qid, strerror(-res));
				failure_logged = true;
				next = FUSE_IO_URING_CMD_REGISTER;
			} else {
				log_warning("FUSE ring %u: register failed: %s; the kernel sends "
					    "its requests through /dev/fuse",
					    t->qid, strerror(-res));
				armed--;
				continue;
			}
			if (!prep_command(e, next)) {
				log_error("FUSE ring %u: no submission slot to %s", t->qid,
					  command_name(next));
				armed--;
			}
		}
	}
	return NULL;
}

static int thread_init(struct fuse_ring *ring, struct ring_thread *t, unsigned qid, void *ctx)
{
	struct io_uring_params params = { .flags = IORING_SETUP_SQE128 | IORING_SETUP_CQSIZE,
					  .cq_entries = 2 * (ring->depth + 1) };
	size_t stride = HEADER_AREA + ring->payload_size;
	int r;

	t->ring = ring;
	t->qid = qid;
	t->ctx = ctx;
	t->entries = calloc(ring->depth, sizeof(*t->entries));
	if (!t->entries)
		return -ENOMEM;
	t->mem_size = stride * ring->depth;
	t->mem = mmap(NULL, t->mem_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		      0);
	if (t->mem == MAP_FAILED) {
		t->mem = NULL;
		return -ENOMEM;
	}
	populate_write(t->mem, t->mem_size);
	for (unsigned i = 0; i < ring->depth; i++) {
		struct ring_entry *e = &t->entries[i];

		e->thread = t;
		e->header = (struct fuse_uring_req_header *)(t->mem + i * stride);
		e->payload = t->mem + i * stride + HEADER_AREA;
		e->iov[0] = (struct iovec){ e->header, sizeof(*e->header) };
		e->iov[1] = (struct iovec){ e->payload, ring->payload_size };
	}
	r = io_uring_queue_init_params(ring->depth + 1, &t->uring, &params);
	if (r < 0)
		return r;
	t->uring_ready = true;
	/* The rings are mapped from the kernel: fault them in now, not while swapping. */
	populate_write(t->uring.sq.ring_ptr, t->uring.sq.ring_sz);
	populate_write(t->uring.cq.ring_ptr, t->uring.cq.ring_sz);
	populate_write(t->uring.sq.sqes, 128u * *t->uring.sq.kring_entries);
	return 0;
}

static void thread_free(struct ring_thread *t)
{
	if (t->uring_ready)
		io_uring_queue_exit(&t->uring);
	if (t->mem)
		munmap(t->mem, t->mem_size);
	free(t->entries);
}

static void join_thread(struct ring_thread *t)
{
	if (t->running && !t->joined)
		pthread_join(t->thread, NULL);
	t->joined = true;
}

static void ring_free(struct fuse_ring *ring)
{
	struct fuse_ring *expected = ring;

	__atomic_compare_exchange_n(&init_ring, &expected, NULL, false, __ATOMIC_ACQ_REL,
				    __ATOMIC_ACQUIRE);
	release_threads(ring, GO_EXIT); /* those still waiting for INIT */
	for (unsigned i = 0; i < ring->nr_threads; i++) {
		join_thread(&ring->threads[i]);
		thread_free(&ring->threads[i]);
	}
	if (ring->fd >= 0)
		close(ring->fd);
	pthread_cond_destroy(&ring->cond);
	pthread_mutex_destroy(&ring->lock);
	free(ring);
}

int fuse_ring_prepare(struct fuse_session *se, unsigned threads_per_queue, unsigned depth,
		      size_t payload_size, size_t stack_size, const struct fuse_ring_ops *ops,
		      void *const *thread_ctx, struct fuse_ring **ret_ring)
{
	unsigned nr_queues = fuse_ring_queues(), nr_threads;
	struct fuse_ring *ring;
	pthread_attr_t attr;
	int r;

	if (nr_queues == 0 || nr_queues > FUSE_RING_MAX_QUEUES || depth == 0 ||
	    threads_per_queue == 0)
		return -EINVAL;
	nr_threads = nr_queues * threads_per_queue;
	ring = calloc(1, sizeof(*ring) + nr_threads * sizeof(ring->threads[0]));
	if (!ring)
		return -ENOMEM;
	pthread_mutex_init(&ring->lock, NULL);
	pthread_cond_init(&ring->cond, NULL);
	ring->fd = fcntl(fuse_session_fd(se), F_DUPFD_CLOEXEC, 3);
	ring->depth = depth;
	ring->nr_queues = nr_queues;
	ring->nr_threads = nr_threads;
	ring->payload_size = payload_size;
	ring->ops = ops;
	r = ring->fd < 0 ? -errno : 0;
	for (unsigned t = 0; r == 0 && t < nr_threads; t++)
		r = thread_init(ring, &ring->threads[t], t % nr_queues, thread_ctx[t]);
	if (r == 0)
		r = -pthread_attr_init(&attr);
	if (r < 0)
		goto fail;
	r = -pthread_attr_setstacksize(&attr, stack_size);
	for (unsigned t = 0; r == 0 && t < nr_threads; t++) {
		r = -pthread_create(&ring->threads[t].thread, &attr, thread_main, &ring->threads[t]);
		ring->threads[t].running = r == 0;
	}
	pthread_attr_destroy(&attr);
	if (r < 0)
		goto fail;
	init_ring = ring;
	*ret_ring = ring;
	return 0;
fail:
	ring_free(ring);
	return r;
}

bool fuse_ring_serving(struct fuse_ring *ring)
{
	bool serving;

	if (!ring)
		return false;
	pthread_mutex_lock(&ring->lock);
	serving = ring->go == GO_RUN;
	pthread_mutex_unlock(&ring->lock);
	return serving;
}

int fuse_ring_join(struct fuse_ring *ring, const struct timespec *deadline)
{
	if (!ring)
		return 0;
	for (unsigned i = 0; i < ring->nr_threads; i++) {
		struct ring_thread *t = &ring->threads[i];

		if (!t->running || t->joined)
			continue;
		if (pthread_timedjoin_np(t->thread, NULL, deadline) != 0)
			return -ETIMEDOUT;
		t->joined = true;
	}
	return 0;
}

uint64_t fuse_ring_stop(struct fuse_ring *ring)
{
	uint64_t requests;

	if (!ring)
		return 0;
	release_threads(ring, GO_EXIT); /* if INIT never came */
	for (unsigned i = 0; i < ring->nr_threads; i++)
		join_thread(&ring->threads[i]);
	requests = ring->requests;
	ring_free(ring);
	return requests;
}
