/* SPDX-License-Identifier: MIT */
/*
 * fuse_export.c - the FUSE file system: one directory holding one file,
 * "swap", whose bytes are the store. This is the only file that touches
 * fuse_req_t: each handler turns the store's negative errno into a reply
 * exactly once, at the end.
 *
 * The file is opened with direct_io, so the kernel passes the loop
 * device's requests straight through (no page cache of ours on the
 * reclaim path). Discards arrive as fallocate(PUNCH_HOLE|KEEP_SIZE).
 * Requests are served by our own fixed set of threads rather than
 * libfuse's multithreaded loop, because what a thread touches for the first
 * time while the kernel waits on swap can deadlock: a page fault in the
 * daemon is charged to its memory cgroup, and reclaim may then wait for
 * swap writes that only the daemon can complete. libfuse starts workers on
 * demand, each with a receive buffer that the kernel faults in while
 * copying a request into it. Here every thread, its stack, its receive
 * buffer and its store worker (codec contexts, scratch page) exist and are
 * resident (mlockall) before the first request: nothing is allocated or
 * faulted in per request.
 *
 * Only root can reach the mount (no allow_other; the file is 0600 and
 * default_permissions makes the kernel check it). Root itself must not
 * write into a live swap area either: the kernel refuses to open an active
 * swap device for writing (ETXTBSY), and so does this file once its loop
 * device is attached. Only the opens of the daemon's own process before
 * that (the swap signature, the loop device's backing file) may write;
 * every later open for writing and every write through another open file
 * gets ETXTBSY. When someone else attached the loop device (--no-activate),
 * the daemon cannot tell whose open is the loop device's, so it refuses
 * opens for writing while a loop device on the file is an active swap area,
 * as the kernel does for the device. O_TRUNC is refused always: the file
 * has a fixed size.
 *
 * Taking over a live connection (fuse_export_adopt; docs/RESTART.md):
 * the first process records the kernel's FUSE_INIT request as read from
 * /dev/fuse and libfuse's reply as it leaves through export_writev(). A
 * later process builds a session on the kept descriptor without mounting,
 * feeds libfuse that request under a unique of its own (the kernel's are
 * even and count up from 2; bit 63 marks a resent request), swallows the
 * reply in export_writev() and compares it with the recorded one: any
 * difference means this binary would not serve the connection as it was
 * negotiated, and the adoption is refused. Only then do the threads start
 * (libfuse answers EIO to anything before INIT) and FUSE_NOTIFY_RESEND
 * asks the kernel to queue again what the dead process had read but not
 * answered. The descriptor is never cloned (FUSE_DEV_IOC_CLONE): a clone
 * has its own processing list, which its release would fail.
 */
#define FUSE_USE_VERSION FUSE_MAKE_VERSION(3, 12)
#include <fuse3/fuse_lowlevel.h>
#include <linux/falloc.h>
#include <linux/fuse.h> /* struct fuse_in_header */
#include <pthread.h>
#include <inttypes.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common.h"
#include "activate.h"
#include "fuse_export.h"
#include "fuse_ring.h"
#include "log.h"
#include "session.h"

#define SWAP_INO 2
/* Largest request the kernel sends with max_pages at its ceiling (256). */
#define MAX_REQUEST (1u << 20)
/* The kernel refuses a read of /dev/fuse into a buffer smaller than the
 * largest write plus its headers; one page holds the headers. */
#define RECEIVE_BUFFER (MAX_REQUEST + 4096u)
/* Threads serving requests: the loop device keeps many requests in flight,
 * but with two cores more threads only add wake-ups. */
#define SERVE_THREADS 8
/* Entries per FUSE ring thread: one, so that a request goes to an idle
 * thread. Each CPU queue gets the same number of threads, SERVE_THREADS
 * in all or more. */
#define RING_DEPTH 1
/* Stack of a serving thread, all of it touched at start: the deepest path
 * (a zstd compression) uses a few KiB. */
#define SERVE_STACK (256u << 10)
#define ATTR_TIMEOUT 3600.0
/* How long stopping waits for the kernel to end the connection. */
#define STOP_GRACE_SECONDS 5

/* Protocol 7.40 (Linux 6.9); the distribution's linux/fuse.h is 7.38. */
#ifndef FUSE_NOTIFY_RESEND
#define FUSE_NOTIFY_RESEND 7
#endif
#define FUSE_UNIQUE_RESEND (1ull << 63)
/* The unique of the INIT fed at adoption: no kernel request has it. */
#define ADOPT_INIT_UNIQUE ((1ull << 62) | 2)
/* Interrupts a serving thread's read() for fuse_export_detach(). */
#define DETACH_SIGNAL SIGUSR1

struct fuse_export;

struct serve_thread {
	struct fuse_export *export;
	pthread_t thread;
	bool running;
	struct store_worker *worker;
	/* A request arrives here; a read's reply is built here too, since
	 * libfuse copies a read's arguments out before calling op_read. */
	unsigned char *buf;
};

/* fi->fh of an open swap file: who opened it, and for what. */
enum open_kind {
	OPEN_READ_ONLY,
	OPEN_OWN_WRITER,   /* by the daemon itself: the signature, the loop device */
	OPEN_OTHER_WRITER, /* by anyone else, before swap was active */
};

struct fuse_export {
	struct fuse_export_config config;
	struct store *store;
	struct fuse_session *se;
	bool mounted;
	bool writers_sealed; /* the loop device is attached: see the top of this file */
	unsigned conn_id; /* /sys/fs/fuse/connections/N: the mount's st_dev minor */
	struct serve_thread threads[SERVE_THREADS];
	/* FUSE over io_uring: its rings and their threads, or none. */
	struct fuse_ring *ring;
	struct serve_thread *ring_threads;
	unsigned nr_ring_threads;
	uint64_t dev_requests; /* requests read from /dev/fuse */
	/* The INIT exchange: written by the thread serving INIT, read after
	 * init_recorded is set. */
	struct fuse_export_init init;
	bool init_recorded;
	/* Adoption: the connection was set up by another process. */
	bool adopted;
	unsigned char adopt_reply[FUSE_EXPORT_INIT_MAX];
	size_t adopt_reply_len;
	struct fuse_export_takeover takeover;
	/* Request sizes in pages, log2 buckets, for tuning (debug log). */
	uint64_t read_sizes[10], write_sizes[10];
};

/* The thread serving the request at hand: its store worker and buffer. */
static __thread struct serve_thread *current_thread;
/* The unique of the kernel's INIT request this thread is serving. */
static __thread uint64_t recording_init_unique;

/* Anonymous memory, faulted in (and so locked by mlockall) right away. */
static void *alloc_resident(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	populate_write(p, size);
	return p;
}

/* Fault in the stack below the caller so that serving never grows it. */
static void __attribute__((noinline)) touch_stack(void)
{
	volatile unsigned char pages[SERVE_STACK - (64u << 10)];

	for (size_t i = 0; i < sizeof(pages); i += 4096)
		pages[i] = 0;
}

static void count_size(uint64_t *buckets, size_t size)
{
	unsigned pages = (unsigned)DIV_ROUND_UP(size, SWAPDEV_PAGE_SIZE), b = 0;

	while (pages > 1 && b < 9) {
		pages >>= 1;
		b++;
	}
	counter_add(&buckets[b], 1);
}

static void fill_attr(struct fuse_export *ex, fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_uid = 0;
	st->st_gid = 0;
	st->st_mtime = st->st_atime = st->st_ctime = ex->config.started;
	if (ino == FUSE_ROOT_ID) {
		st->st_mode = S_IFDIR | 0700;
		st->st_nlink = 2;
	} else {
		st->st_mode = S_IFREG | 0600;
		st->st_nlink = 1;
		st->st_size = (off_t)ex->config.device_size;
		st->st_blksize = SWAPDEV_PAGE_SIZE;
		st->st_blocks = st->st_size / 512;
	}
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	conn->max_write = MAX_REQUEST;
	if (conn->capable & FUSE_CAP_ASYNC_DIO)
		conn->want |= FUSE_CAP_ASYNC_DIO;
	conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_export *ex = fuse_req_userdata(req);
	struct fuse_entry_param e = { .ino = SWAP_INO,
				      .attr_timeout = ATTR_TIMEOUT,
				      .entry_timeout = ATTR_TIMEOUT };

	if (parent != FUSE_ROOT_ID || strcmp(name, SWAPDEV_FILE_NAME) != 0) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	fill_attr(ex, SWAP_INO, &e.attr);
	fuse_reply_entry(req, &e);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fuse_export *ex = fuse_req_userdata(req);
	struct stat st;

	if (ino != FUSE_ROOT_ID && ino != SWAP_INO) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	fill_attr(ex, ino, &st);
	fuse_reply_attr(req, &st, ATTR_TIMEOUT);
}

/* The file's size and modes are fixed; only no-op changes are accepted. */
static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct fuse_export *ex = fuse_req_userdata(req);
	struct stat st;

	fill_attr(ex, ino, &st);
	if ((to_set & FUSE_SET_ATTR_SIZE) && attr->st_size != st.st_size) {
		fuse_reply_err(req, EPERM);
		return;
	}
	if (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	fuse_reply_attr(req, &st, ATTR_TIMEOUT);
}

static bool writers_sealed(const struct fuse_export *ex)
{
	return __atomic_load_n(&ex->writers_sealed, __ATOMIC_ACQUIRE);
}

/* Whether a new open for writing would reach a live swap area. */
static bool swap_area_live(struct fuse_export *ex)
{
	char dev[64];

	if (writers_sealed(ex))
		return true;
	return ex->config.swap_by_others &&
	       activate_loop_swapping_on(ex->config.file_path, dev, sizeof(dev)) > 0;
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fuse_export *ex = fuse_req_userdata(req);
	pid_t pid = fuse_req_ctx(req)->pid;
	bool writes = (fi->flags & O_ACCMODE) != O_RDONLY;

	if (ino != SWAP_INO) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	if (fi->flags & O_TRUNC) {
		log_warning("refused to truncate %s (opened with O_TRUNC by PID %d): its size is "
			    "fixed",
			    ex->config.file_path, (int)pid);
		fuse_reply_err(req, EPERM);
		return;
	}
	if (writes && swap_area_live(ex)) {
		log_warning("refused to open %s for writing (PID %d): it is an active swap area",
			    ex->config.file_path, (int)pid);
		fuse_reply_err(req, ETXTBSY);
		return;
	}
	/* The kernel names the opening thread; the daemon opens from its main one. */
	fi->fh = !writes ? OPEN_READ_ONLY : pid == getpid() ? OPEN_OWN_WRITER : OPEN_OTHER_WRITER;
	fi->direct_io = 1;
	fi->keep_cache = 0;
	fuse_reply_open(req, fi);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fuse_export *ex = fuse_req_userdata(req);
	uint64_t dev_size = ex->config.device_size;
	struct serve_thread *t = current_thread;
	ssize_t r;

	if (off < 0 || (uint64_t)off >= dev_size || size == 0) {
		fuse_reply_buf(req, NULL, 0); /* end of file */
		return;
	}
	size = (size_t)MIN((uint64_t)MIN(size, (size_t)MAX_REQUEST), dev_size - (uint64_t)off);
	count_size(ex->read_sizes, size);
	r = store_read(t->worker, t->buf, size, (uint64_t)off);
	/* A corrupt pool object is, to a reader of a block device, an I/O error. */
	if (r == -EBADMSG)
		fuse_reply_err(req, EIO);
	else if (r < 0)
		fuse_reply_err(req, (int)-r);
	else
		fuse_reply_buf(req, (const char *)t->buf, size);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct fuse_export *ex = fuse_req_userdata(req);
	uint64_t dev_size = ex->config.device_size;
	ssize_t r;

	/* The file has a fixed size, like the block device it stands for. */
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if ((uint64_t)off >= dev_size || size > dev_size - (uint64_t)off) {
		fuse_reply_err(req, ENOSPC);
		return;
	}
	if (fi->fh != OPEN_OWN_WRITER && writers_sealed(ex)) {
		fuse_reply_err(req, ETXTBSY);
		return;
	}
	count_size(ex->write_sizes, size);
	r = store_write(current_thread->worker, buf, size, (uint64_t)off);
	if (r < 0)
		fuse_reply_err(req, (int)-r);
	else
		fuse_reply_write(req, (size_t)r);
}

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
			 struct fuse_file_info *fi)
{
	struct fuse_export *ex = fuse_req_userdata(req);
	uint64_t dev_size = ex->config.device_size, start, end;
	int r;

	if (off < 0 || len <= 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (fi->fh != OPEN_OWN_WRITER && writers_sealed(ex)) {
		fuse_reply_err(req, ETXTBSY);
		return;
	}
	/* Plain allocation inside the file: every slot always has a home. */
	if (mode == 0) {
		fuse_reply_err(req, (uint64_t)off + (uint64_t)len <= dev_size ? 0 : EFBIG);
		return;
	}
	if (mode != (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	/* A hole past the end changes nothing. */
	start = (uint64_t)off;
	end = MIN((uint64_t)off + (uint64_t)len, dev_size);
	r = start < end ? store_discard(current_thread->worker, start, end - start) : 0;
	fuse_reply_err(req, -r);
}

static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);
}

/* Nothing is cached: every completed write already has its home. */
static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (ino != FUSE_ROOT_ID)
		fuse_reply_err(req, ENOTDIR);
	else
		fuse_reply_open(req, fi);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	static const struct {
		const char *name;
		fuse_ino_t ino;
		mode_t mode;
	} entries[] = {
		{ ".", FUSE_ROOT_ID, S_IFDIR },
		{ "..", FUSE_ROOT_ID, S_IFDIR },
		{ SWAPDEV_FILE_NAME, SWAP_INO, S_IFREG },
	};
	char buf[512];
	size_t used = 0;

	for (size_t i = (size_t)MAX(off, 0); i < ARRAY_SIZE(entries); i++) {
		struct stat st = { .st_ino = entries[i].ino, .st_mode = entries[i].mode };
		size_t n = fuse_add_direntry(req, buf + used, MIN(size, sizeof(buf)) - used,
					     entries[i].name, &st, (off_t)i + 1);

		if (n > MIN(size, sizeof(buf)) - used)
			break;
		used += n;
	}
	fuse_reply_buf(req, buf, used);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct fuse_export *ex = fuse_req_userdata(req);
	struct statvfs st = {
		.f_bsize = SWAPDEV_PAGE_SIZE,
		.f_frsize = SWAPDEV_PAGE_SIZE,
		.f_blocks = ex->config.device_size / SWAPDEV_PAGE_SIZE,
		.f_files = 2,
		.f_namemax = 255,
	};

	fuse_reply_statfs(req, &st);
}

static const struct fuse_lowlevel_ops export_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.open = op_open,
	.read = op_read,
	.write = op_write,
	.fallocate = op_fallocate,
	.flush = op_flush,
	.fsync = op_fsync,
	.release = op_release,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.statfs = op_statfs,
};

/* What a serving thread touches first, done before the first request. */
static void warm_up_thread(void *thread)
{
	current_thread = thread;
	touch_stack();
	/* libfuse callocs each request; the first one sets up this thread's
	 * malloc cache (and maybe an arena). */
	free(calloc(1, 256));
}

/* Before libfuse sees a request: the INIT to record, resent requests to count. */
static void note_request(struct fuse_export *ex, const void *request, size_t len)
{
	const struct fuse_in_header *in = request;

	if (in->unique & FUSE_UNIQUE_RESEND)
		counter_add(&ex->takeover.resent_requests, 1);
	if (in->opcode != FUSE_INIT || ex->adopted)
		return;
	if (len <= sizeof(ex->init.request)) {
		memcpy(ex->init.request, request, len);
		ex->init.request_len = (uint32_t)len;
	}
	recording_init_unique = in->unique;
}

/*
 * One serving thread: read a request from /dev/fuse into its own buffer and
 * let libfuse decode it and call our handlers, until the connection ends
 * (ENODEV after unmount or abort).
 */
static void *serve(void *arg)
{
	struct serve_thread *t = arg;
	struct fuse_session *se = t->export->se;
	int fd = fuse_session_fd(se);

	warm_up_thread(t);
	while (!fuse_session_exited(se)) {
		ssize_t n = read(fd, t->buf, RECEIVE_BUFFER);
		struct fuse_buf fbuf = { .mem = t->buf };

		if (n < 0) {
			/* ENOENT: the kernel dropped an interrupted request. */
			if (errno == EINTR || errno == EAGAIN || errno == ENOENT)
				continue;
			if (errno != ENODEV)
				log_error_errno(-errno, "reading /dev/fuse failed; stopping the export");
			break;
		}
		if ((size_t)n < sizeof(struct fuse_in_header)) {
			log_error("short read of %zd bytes from /dev/fuse; stopping the export", n);
			break;
		}
		fbuf.size = (size_t)n;
		counter_add(&t->export->dev_requests, 1);
		note_request(t->export, t->buf, fbuf.size);
		if (t->export->ring)
			fuse_ring_dev_request(t->buf, fbuf.size);
		fuse_session_process_buf(se, &fbuf);
	}
	fuse_session_exit(se);
	return NULL;
}

/* A request from a ring entry; a read's reply is built in the entry. */
static void ring_handle(void *ctx, const struct fuse_buf *request, void *reply_buf)
{
	struct serve_thread *t = ctx;
	struct fuse_buf buf = *request;

	t->buf = reply_buf;
	fuse_session_process_buf(t->export->se, &buf);
}

static const struct fuse_ring_ops ring_ops = {
	.thread_start = warm_up_thread,
	.handle = ring_handle,
};

static ssize_t plain_read(int fd, void *buf, size_t len, void *userdata)
{
	return read(fd, buf, len);
}

/* Copy a reply into out; its whole length, or 0 when it does not fit. */
static size_t flatten(const struct iovec *iov, int count, unsigned char *out, size_t size)
{
	size_t used = 0;

	for (int i = 0; i < count; i++) {
		if (iov[i].iov_len > size - used)
			return 0;
		memcpy(out + used, iov[i].iov_base, iov[i].iov_len);
		used += iov[i].iov_len;
	}
	return used;
}

/*
 * Every reply libfuse writes (fuse_session_custom_io): the INIT reply is
 * recorded on its way, the one to the INIT fed at adoption goes nowhere,
 * and with FUSE over io_uring fuse_ring_writev() routes the rest.
 */
static ssize_t export_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	struct fuse_export *ex = userdata;
	struct fuse_out_header out;
	ssize_t n;

	if (count < 1 || iov[0].iov_len != sizeof(out))
		return ex->ring ? fuse_ring_writev(fd, iov, count, NULL) : writev(fd, iov, count);
	memcpy(&out, iov[0].iov_base, sizeof(out));
	if (out.unique == ADOPT_INIT_UNIQUE) {
		ex->adopt_reply_len = flatten(iov, count, ex->adopt_reply, sizeof(ex->adopt_reply));
		return (ssize_t)out.len;
	}
	if (recording_init_unique && out.unique == recording_init_unique) {
		recording_init_unique = 0;
		ex->init.reply_len = (uint32_t)flatten(iov, count, ex->init.reply,
						       sizeof(ex->init.reply));
		n = ex->ring ? fuse_ring_writev(fd, iov, count, NULL) : writev(fd, iov, count);
		if (n >= 0 && ex->init.reply_len && ex->init.request_len)
			__atomic_store_n(&ex->init_recorded, true, __ATOMIC_RELEASE);
		return n;
	}
	n = ex->ring ? fuse_ring_writev(fd, iov, count, NULL) : writev(fd, iov, count);
	if (ex->adopted && n >= 0 && !__atomic_load_n(&ex->takeover.first_reply_ns, __ATOMIC_RELAXED)) {
		uint64_t zero = 0;

		__atomic_compare_exchange_n(&ex->takeover.first_reply_ns, &zero, monotonic_ns(), false,
					    __ATOMIC_RELAXED, __ATOMIC_RELAXED);
	}
	return n;
}

static const struct fuse_custom_io export_io = {
	.writev = export_writev,
	.read = plain_read,
};

/* device.io_uring, and the kernel's switch (off by default). */
static bool ring_wanted(const struct fuse_export_config *config, unsigned queues)
{
	if (!config->io_uring) {
		log_info("serving FUSE through /dev/fuse (device.io_uring = no)");
		return false;
	}
	if (!fuse_ring_kernel_enabled()) {
		log_info("serving FUSE through /dev/fuse: FUSE over io_uring is off in the kernel "
			 "(fuse.enable_uring=1 turns it on)");
		return false;
	}
	if (queues == 0 || queues > FUSE_RING_MAX_QUEUES) {
		log_info("serving FUSE through /dev/fuse: FUSE over io_uring would need %u CPU "
			 "queues (at most %u here)",
			 queues, FUSE_RING_MAX_QUEUES);
		return false;
	}
	return true;
}

/*
 * Right after the mount: make the rings that the INIT reply will announce.
 * Any failure leaves the requests on /dev/fuse.
 */
static void ring_prepare(struct fuse_export *ex)
{
	unsigned queues = fuse_ring_queues();
	unsigned per_queue = DIV_ROUND_UP(SERVE_THREADS, MAX(queues, 1u)), n = queues * per_queue;
	void **ctx;
	int r;

	if (!ring_wanted(&ex->config, queues))
		return;
	ex->ring_threads = calloc(n, sizeof(*ex->ring_threads));
	ctx = calloc(n, sizeof(*ctx));
	r = ex->ring_threads && ctx ? 0 : -ENOMEM;
	for (unsigned i = 0; r == 0 && i < n; i++) {
		ex->ring_threads[i].export = ex;
		r = store_worker_new(ex->store, &ex->ring_threads[i].worker);
		ex->nr_ring_threads = i + 1;
		ctx[i] = &ex->ring_threads[i];
	}
	/* Replies go through fuse_ring_writev (export_writev) once ex->ring is set. */
	if (r == 0)
		r = fuse_ring_prepare(ex->se, per_queue, RING_DEPTH, MAX_REQUEST, SERVE_STACK,
				      &ring_ops, ctx, &ex->ring);
	free(ctx);
	if (r < 0)
		log_warning("serving FUSE through /dev/fuse: cannot set up FUSE over io_uring: %s",
			    strerror(-r));
}

static int serve_threads_start(struct fuse_export *ex)
{
	pthread_attr_t attr;
	int r;

	r = -pthread_attr_init(&attr);
	if (r < 0)
		return r;
	r = -pthread_attr_setstacksize(&attr, SERVE_STACK);
	for (unsigned i = 0; r == 0 && i < SERVE_THREADS; i++) {
		struct serve_thread *t = &ex->threads[i];

		r = -pthread_create(&t->thread, &attr, serve, t);
		t->running = r == 0;
	}
	pthread_attr_destroy(&attr);
	return r;
}

static int serve_threads_alloc(struct fuse_export *ex)
{
	for (unsigned i = 0; i < SERVE_THREADS; i++) {
		struct serve_thread *t = &ex->threads[i];
		int r;

		t->export = ex;
		t->buf = alloc_resident(RECEIVE_BUFFER);
		if (!t->buf)
			return -ENOMEM;
		r = store_worker_new(ex->store, &t->worker);
		if (r < 0)
			return r;
	}
	return 0;
}

static void detach_signal_handler(int sig)
{
	(void)sig; /* only there to interrupt read(): no SA_RESTART */
}

static int install_detach_handler(void)
{
	struct sigaction sa = { .sa_handler = detach_signal_handler };

	sigemptyset(&sa.sa_mask);
	return sigaction(DETACH_SIGNAL, &sa, NULL) < 0 ? -errno : 0;
}

/* The serving threads, with the signal that detaches them at a restart. */
static int start_serving(struct fuse_export *ex)
{
	int r = install_detach_handler();

	if (r == 0)
		r = serve_threads_start(ex);
	if (r < 0)
		log_error_errno(r, "cannot start the FUSE threads");
	return r;
}

int fuse_export_start(const struct fuse_export_config *config, struct store *store,
		      struct fuse_export **ret_export)
{
	char *argv[] = { "swapdevd", "-o", "default_permissions,fsname=swapdev,subtype=swapdev",
			 NULL };
	struct fuse_args args = FUSE_ARGS_INIT(3, argv);
	struct fuse_export *ex;
	struct stat st;
	int r;

	ex = calloc(1, sizeof(*ex));
	if (!ex)
		return -ENOMEM;
	ex->config = *config;
	ex->store = store;
	r = serve_threads_alloc(ex);
	if (r < 0) {
		log_error_errno(r, "cannot allocate the request buffers");
		goto fail;
	}
	ex->se = fuse_session_new(&args, &export_ops, sizeof(export_ops), ex);
	if (!ex->se) {
		r = -EINVAL;
		log_error("cannot create the FUSE session (is /dev/fuse available?)");
		goto fail;
	}
	if (fuse_session_mount(ex->se, config->mountpoint) != 0) {
		r = -EIO;
		log_error("cannot mount FUSE on %s (see the message above)", config->mountpoint);
		goto fail;
	}
	ex->mounted = true;
	if (fuse_session_custom_io(ex->se, &export_io, fuse_session_fd(ex->se)) != 0) {
		r = -EINVAL;
		log_error("cannot hook the FUSE session's I/O");
		goto fail;
	}
	ring_prepare(ex);
	r = start_serving(ex);
	if (r < 0)
		goto fail;
	/* Only now: stat() of the mount is a request that the threads serve. */
	if (stat(config->mountpoint, &st) == 0)
		ex->conn_id = minor(st.st_dev);
	*ret_export = ex;
	return 0;
fail:
	fuse_export_stop(ex);
	return r;
}

/* Ask the kernel to queue again the requests read but not answered. */
static int write_resend(int fd)
{
	struct fuse_out_header out = { .len = sizeof(out), .error = FUSE_NOTIFY_RESEND };
	ssize_t n = write(fd, &out, sizeof(out));

	if (n < 0)
		return -errno;
	return n == (ssize_t)sizeof(out) ? 0 : -EIO;
}

/* Feed libfuse the recorded INIT under our own unique; compare its reply. */
static int feed_init(struct fuse_export *ex, const struct fuse_export_init *init)
{
	unsigned char request[FUSE_EXPORT_INIT_MAX];
	struct fuse_in_header in;
	struct fuse_buf buf = { .mem = request, .size = init->request_len };
	char why[256];
	int r;

	if (init->request_len < sizeof(in) || init->request_len > sizeof(request)) {
		log_error("cannot adopt: the recorded FUSE_INIT request is %" PRIu32 " bytes",
			  init->request_len);
		return -EPROTO;
	}
	memcpy(request, init->request, init->request_len);
	memcpy(&in, request, sizeof(in));
	if (in.opcode != FUSE_INIT) {
		log_error("cannot adopt: the recorded request is opcode %" PRIu32 ", not FUSE_INIT",
			  in.opcode);
		return -EPROTO;
	}
	in.unique = ADOPT_INIT_UNIQUE;
	memcpy(request, &in, sizeof(in));
	fuse_session_process_buf(ex->se, &buf);
	r = session_init_reply_compare(init->reply, init->reply_len, ex->adopt_reply,
				       ex->adopt_reply_len, why, sizeof(why));
	if (r < 0)
		log_error("cannot adopt the FUSE connection: this swapdevd (libfuse %d.%d) would "
			  "negotiate it differently: %s. Run the binary that set it up, or stop "
			  "swapdevd fully (swapoff) and start this one",
			  FUSE_MAJOR_VERSION, FUSE_MINOR_VERSION, why);
	return r;
}

int fuse_export_adopt(const struct fuse_export_config *config, struct store *store, int fuse_fd,
		      unsigned conn_id, const struct fuse_export_init *init,
		      struct fuse_export **ret_export)
{
	char *argv[] = { "swapdevd", "-o", "default_permissions,fsname=swapdev,subtype=swapdev",
			 NULL };
	struct fuse_args args = FUSE_ARGS_INIT(3, argv);
	uint32_t max_write = session_init_max_write(init->reply, init->reply_len);
	struct fuse_export *ex;
	int r;

	/* The kernel refuses reads into a buffer shorter than its largest write. */
	if (max_write == 0 || max_write > MAX_REQUEST) {
		log_error("cannot adopt: the connection's max_write is %" PRIu32 ", this swapdevd "
			  "reads at most %u",
			  max_write, MAX_REQUEST);
		close(fuse_fd);
		return -EPROTO;
	}
	ex = calloc(1, sizeof(*ex));
	if (!ex) {
		close(fuse_fd);
		return -ENOMEM;
	}
	ex->config = *config;
	ex->store = store;
	ex->adopted = true;
	ex->conn_id = conn_id;
	ex->init = *init;
	ex->init_recorded = true;
	r = serve_threads_alloc(ex);
	if (r < 0) {
		log_error_errno(r, "cannot allocate the request buffers");
		close(fuse_fd);
		goto fail;
	}
	ex->se = fuse_session_new(&args, &export_ops, sizeof(export_ops), ex);
	if (!ex->se) {
		r = -EINVAL;
		log_error("cannot create the FUSE session");
		close(fuse_fd);
		goto fail;
	}
	/* The session owns fuse_fd from here: fuse_session_destroy() closes it. */
	if (fuse_session_custom_io(ex->se, &export_io, fuse_fd) != 0) {
		r = -EINVAL;
		log_error("cannot hook the FUSE session's I/O");
		close(fuse_fd);
		goto fail;
	}
	r = feed_init(ex, init);
	if (r < 0)
		goto fail;
	ex->takeover.init_fed_ns = monotonic_ns();
	r = start_serving(ex);
	if (r < 0)
		goto fail;
	ex->takeover.threads_ns = monotonic_ns();
	r = write_resend(fuse_fd);
	ex->takeover.resend_error = r;
	if (r < 0)
		log_warning_errno(r, "FUSE_NOTIFY_RESEND refused (it needs Linux 6.9): requests "
				     "the previous swapdevd had read but not answered will never "
				     "complete");
	else
		ex->takeover.resend_ns = monotonic_ns();
	*ret_export = ex;
	return 0;
fail:
	fuse_export_stop(ex);
	return r;
}

int fuse_export_get_init(struct fuse_export *ex, struct fuse_export_init *ret_init)
{
	if (!__atomic_load_n(&ex->init_recorded, __ATOMIC_ACQUIRE))
		return -ENODATA;
	*ret_init = ex->init;
	return 0;
}

int fuse_export_fd(struct fuse_export *ex)
{
	return fuse_session_fd(ex->se);
}

unsigned fuse_export_conn_id(const struct fuse_export *ex)
{
	return ex->conn_id;
}

bool fuse_export_uses_io_uring(struct fuse_export *ex)
{
	return fuse_ring_serving(ex->ring);
}

void fuse_export_get_takeover(struct fuse_export *ex, struct fuse_export_takeover *ret)
{
	*ret = ex->takeover;
	ret->first_reply_ns = __atomic_load_n(&ex->takeover.first_reply_ns, __ATOMIC_RELAXED);
	ret->resent_requests = counter_read(&ex->takeover.resent_requests);
}

void fuse_export_detach(struct fuse_export *ex)
{
	struct timespec deadline;

	if (!ex)
		return;
	fuse_session_exit(ex->se);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += STOP_GRACE_SECONDS;
	/* A thread in read() returns EINTR and sees the session exited; one
	 * serving a request answers it first. */
	for (unsigned i = 0; i < SERVE_THREADS; i++) {
		struct serve_thread *t = &ex->threads[i];

		if (t->running)
			pthread_kill(t->thread, DETACH_SIGNAL);
	}
	for (unsigned i = 0; i < SERVE_THREADS; i++) {
		struct serve_thread *t = &ex->threads[i];

		if (!t->running)
			continue;
		if (pthread_timedjoin_np(t->thread, NULL, &deadline) != 0) {
			log_warning("a FUSE thread did not finish its request within %d s; the "
				    "kernel resends it to the next process",
				    STOP_GRACE_SECONDS);
			return;
		}
		t->running = false;
	}
}

/*
 * An adopted connection has no mount in libfuse's session. Where the mount
 * is visible (the supervisor runs the new process in the same namespace)
 * it is ours when its device is the connection's.
 */
static void unmount_adopted(struct fuse_export *ex)
{
	char fstype[64];
	dev_t dev = 0;

	if (activate_mount_at(ex->config.mountpoint, fstype, sizeof(fstype), &dev) <= 0 ||
	    strcmp(fstype, "fuse.swapdev") != 0 || minor(dev) != ex->conn_id)
		return;
	if (umount2(ex->config.mountpoint, MNT_DETACH) < 0)
		log_warning_errno(-errno, "cannot unmount %s", ex->config.mountpoint);
}

static void log_sizes(const char *what, const uint64_t *buckets)
{
	char line[256];
	size_t used = 0;

	for (unsigned b = 0; b < 10; b++)
		used += (size_t)snprintf(line + used, sizeof(line) - used, " %uK:%" PRIu64,
					 4u << b, counter_read(&buckets[b]));
	log_debug("%s request sizes (pages, log2 buckets):%s", what, line);
}

/*
 * Abort our FUSE connection through fusectl: the kernel fails every
 * pending and future request, and the worker threads' reads return.
 * Returns true: the caller treats the connection as ended.
 */
static bool abort_connection(struct fuse_export *ex)
{
	static const char conns[] = "/sys/fs/fuse/connections";
	char path[128];
	int fd;

	log_warning("%s is still open (a loop device attached by hand?): aborting the FUSE "
		    "connection",
		    ex->config.file_path);
	snprintf(path, sizeof(path), "%s/%u/abort", conns, ex->conn_id);
	if (access(path, F_OK) < 0)
		mount("fusectl", conns, "fusectl", 0, NULL);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, "1", 1) != 1)
		log_error_errno(-errno, "cannot abort FUSE connection %u", ex->conn_id);
	if (fd >= 0)
		close(fd);
	return true;
}

void fuse_export_seal_writers(struct fuse_export *ex)
{
	__atomic_store_n(&ex->writers_sealed, true, __ATOMIC_RELEASE);
}

void fuse_export_stop(struct fuse_export *ex)
{
	struct timespec deadline;
	uint64_t ring_requests;
	bool aborted = false;

	if (!ex)
		return;
	if (ex->se) {
		fuse_session_exit(ex->se);
		if (ex->mounted)
			fuse_session_unmount(ex->se);
	}
	if (ex->adopted && ex->threads[0].running)
		unmount_adopted(ex);
	/*
	 * Unmounting ends the connection only once nobody holds the file
	 * open. A loop device someone attached by hand (--no-activate) would
	 * keep the workers waiting for requests forever: cut it loose.
	 */
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += STOP_GRACE_SECONDS;
	for (unsigned i = 0; i < SERVE_THREADS; i++) {
		struct serve_thread *t = &ex->threads[i];

		if (!t->running)
			continue;
		if (!aborted && pthread_timedjoin_np(t->thread, NULL, &deadline) != 0)
			aborted = abort_connection(ex);
		if (aborted)
			pthread_join(t->thread, NULL);
	}
	/* The ring threads end with the connection too. */
	if (!aborted && fuse_ring_join(ex->ring, &deadline) < 0)
		abort_connection(ex);
	ring_requests = fuse_ring_stop(ex->ring);
	if (ex->mounted || ex->adopted)
		log_info("FUSE requests served: %" PRIu64 " through io_uring, %" PRIu64
			 " through /dev/fuse",
			 ring_requests, counter_read(&ex->dev_requests));
	if (ex->se)
		fuse_session_destroy(ex->se);
	log_sizes("read", ex->read_sizes);
	log_sizes("write", ex->write_sizes);
	for (unsigned i = 0; i < SERVE_THREADS; i++) {
		store_worker_free(ex->threads[i].worker);
		if (ex->threads[i].buf)
			munmap(ex->threads[i].buf, RECEIVE_BUFFER);
	}
	for (unsigned i = 0; i < ex->nr_ring_threads; i++)
		store_worker_free(ex->ring_threads[i].worker);
	free(ex->ring_threads);
	free(ex);
}
