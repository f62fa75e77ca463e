/* SPDX-License-Identifier: MIT */
/*
 * control_server.c - the Varlink control socket.
 *
 * One thread owns the listening socket and every client connection and
 * multiplexes them with poll(); all socket I/O is non-blocking, so a
 * client that stops reading or writing costs a buffer, never a stall.
 * The wire format lives in libswapdev/protocol.c; this file only moves
 * bytes, checks permissions and calls into the store.
 *
 * Limits: MAX_CLIENTS connections, of which the last ROOT_SLOTS are kept
 * for root, so that an administrator gets in while idle clients hold the
 * rest (a connection beyond that is closed at once, as PostgreSQL does
 * with its reserved superuser slots; once every slot is taken, further
 * ones wait in the listen backlog), VARLINK_MAX_MESSAGE bytes per message (longer ones get an error
 * and the connection closes), TX_MAX bytes of unsent replies, and
 * CLIENT_TIMEOUT_MS without a complete message (slow or silent clients
 * are dropped).
 *
 * Permissions come from SO_PEERCRED at accept: root may do everything;
 * members of control.group may read (GetStats, GetConfig, GetStatus);
 * anyone who can connect may ask for GetInfo/GetInterfaceDescription.
 * The socket itself is 0660 root:control.group (0600 without the group).
 *
 * Flush and Recompress run in threads of their own (control_job.c); this
 * thread alone talks to the client that waits for one. Calls a client
 * pipelines behind such a call wait, unread past one buffer, and are
 * answered in order once its final reply is queued; a oneway call gets no
 * reply and holds nothing up.
 */
#include <assert.h>
#include <grp.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

#include "common.h"
#include "control_job.h"
#include "control_server.h"
#include "runtime_keys.h"
#include "log.h"
#include "protocol.h"

#define MAX_CLIENTS 128
#define ROOT_SLOTS 4
/* At most one log line per this interval about refused connections. */
#define REFUSED_LOG_INTERVAL_MS 60000
#define LISTEN_BACKLOG 128
#define CLIENT_TIMEOUT_MS 30000
#define TX_MAX (1u << 20)
#define RX_SIZE (VARLINK_MAX_MESSAGE + 1) /* a message of the limit and one byte to tell */
#define PROGRESS_INTERVAL_MS 200

struct client {
	int fd;
	uint64_t id;
	bool can_read, can_write;
	char *rx;
	size_t rx_len;
	char *tx;
	size_t tx_len, tx_cap;
	uint64_t last_progress_ms;
	bool close_after_send;
	bool waits_job;	     /* a Flush or Recompress reply is owed to this client */
	bool job_more;	     /* ... and it accepts progress replies */
	uint64_t last_reported;
};

struct control_server {
	struct control_server_config config;
	int listen_fd;
	int wake_fd; /* eventfd: stop request or job progress */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	pthread_t thread;
	bool bound; /* the socket file is ours to unlink */
	bool thread_running;
	bool stop;
	gid_t group_gid;
	bool group_exists;
	struct client clients[MAX_CLIENTS];
	unsigned nr_clients;
	uint64_t next_client_id;
	uint64_t refused, refused_logged; /* connections closed for want of a slot */
	uint64_t refused_log_ms;
	struct control_job jobs[_CONTROL_JOB_MAX];
};

static void wake(int fd)
{
	uint64_t one = 1;

	/* The counter cannot overflow in practice; a failed wake is retried by the poll timeout. */
	if (write(fd, &one, sizeof(one)) < 0)
		return;
}

/* The peer's real groups (SO_PEERGROUPS), not what /etc/group says. */
static bool peer_in_group(int fd, const struct ucred *cred, gid_t gid)
{
	gid_t groups[256];
	socklen_t len = sizeof(groups);

	if (cred->gid == gid)
		return true;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
		return false;
	for (size_t i = 0; i < len / sizeof(gid_t); i++)
		if (groups[i] == gid)
			return true;
	return false;
}

static void client_close(struct control_server *srv, struct client *c)
{
	for (unsigned k = 0; k < _CONTROL_JOB_MAX; k++)
		if (srv->jobs[k].client_id == c->id)
			srv->jobs[k].client_id = 0;
	close(c->fd);
	free(c->rx);
	free(c->tx);
	*c = (struct client){ .fd = -1 };
	srv->nr_clients--;
}

/* Queue a wire message (takes ownership of msg). False: client dropped. */
static bool client_queue(struct control_server *srv, struct client *c, char *msg, size_t size)
{
	if (!msg)
		return false;
	if (c->tx_len + size > TX_MAX) {
		free(msg);
		return false;
	}
	if (c->tx_len + size > c->tx_cap) {
		size_t cap = MAX(c->tx_cap * 2, c->tx_len + size);
		char *tx = realloc(c->tx, cap);

		if (!tx) {
			free(msg);
			return false;
		}
		c->tx = tx;
		c->tx_cap = cap;
	}
	memcpy(c->tx + c->tx_len, msg, size);
	c->tx_len += size;
	free(msg);
	return true;
}

static int client_send(struct client *c)
{
	while (c->tx_len > 0) {
		ssize_t n = send(c->fd, c->tx, c->tx_len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		memmove(c->tx, c->tx + n, c->tx_len - (size_t)n);
		c->tx_len -= (size_t)n;
	}
	return 0;
}

static bool client_handle_buffered(struct control_server *srv, struct client *c);

static int start_job(struct control_server *srv, struct client *c, const struct proto_request *req,
		     char **msg, size_t *size)
{
	enum control_job_kind kind = control_job_kind_of(req->method);
	struct control_job *job = &srv->jobs[kind];

	if (job->running)
		return proto_build_failed(control_job_busy_message(kind), msg, size);
	if (control_job_start(job, req, srv->config.store, srv->wake_fd, &srv->stop,
			      req->oneway ? 0 : c->id) < 0)
		return proto_build_failed("cannot start a thread for the call", msg, size);
	*msg = NULL; /* replies come from poll_job() */
	/* A oneway caller gets no reply, not even the result, and its next call goes on now. */
	if (req->oneway)
		return 0;
	c->waits_job = true;
	c->job_more = req->more;
	c->last_reported = UINT64_MAX;
	return 0;
}

/* Send progress and the final reply of a running job to its client. */
static void poll_job(struct control_server *srv, struct control_job *job)
{
	struct client *c = NULL;
	bool finished;
	char *msg = NULL;
	size_t size = 0;

	if (!job->running)
		return;
	for (unsigned i = 0; i < MAX_CLIENTS && job->client_id; i++)
		if (srv->clients[i].fd >= 0 && srv->clients[i].id == job->client_id)
			c = &srv->clients[i];
	finished = control_job_finished(job);
	if (c && c->job_more && !finished &&
	    control_job_build_progress(job, &c->last_reported, &msg, &size) > 0 &&
	    !client_queue(srv, c, msg, size)) {
		client_close(srv, c);
		c = NULL;
	}
	if (!finished)
		return;
	msg = NULL;
	control_job_finish(job, &msg, &size);
	if (!c)
		return;
	c->waits_job = false;
	c->last_progress_ms = monotonic_ms();
	/* Calls pipelined behind the job are answered now, not when more bytes come. */
	if (!client_queue(srv, c, msg, size) || !client_handle_buffered(srv, c))
		client_close(srv, c);
}

/* The wire's statistics from the store's, named one by one: a field renamed
 * on either side fails to compile here. */
static void stats_to_wire(const struct store_stats *st, struct proto_stats *ret_wire)
{
	const struct store_counters *ops = &st->ops;

	*ret_wire = (struct proto_stats){
		.slots_total = st->slots_total,
		.slots_used = st->slots_used,
		.same_slots = st->same_slots,
		.pool_slots = st->pool_slots,
		.disk_slots = st->disk_slots,
		.orig_bytes = st->orig_bytes,
		.compr_bytes = st->compr_bytes,
		.raw_slots = st->raw_slots,
		.zstd_slots = st->zstd_slots,
		.zstd_bytes = st->zstd_bytes,
		.pool_footprint_bytes = st->pool_footprint_bytes,
		.pool_limit_bytes = st->pool_limit_bytes,
		.disk_bytes = st->disk_bytes,
		.disk_total_bytes = st->disk_total_bytes,
		.metadata_bytes = st->metadata_bytes,
		.reads = ops->reads,
		.writes = ops->writes,
		.discards = ops->discards,
		.reads_same = ops->reads_same,
		.reads_pool = ops->reads_pool,
		.reads_disk = ops->reads_disk,
		.reads_empty = ops->reads_empty,
		.writes_same = ops->writes_same,
		.writes_pool = ops->writes_pool,
		.writes_disk = ops->writes_disk,
		.partial_writes = ops->partial_writes,
		.discarded_slots = ops->discarded_slots,
		.incompressible = ops->incompressible,
		.writeback_pages = ops->writeback_pages,
		.writeback_cancelled = ops->writeback_cancelled,
		.exclusive_releases = ops->exclusive_releases,
		.writethrough_pages = counters_writethrough_pages(ops),
		.writethrough_pool_full = ops->writethrough_pool_full,
		.writethrough_pool_growing = ops->writethrough_pool_growing,
		.writethrough_no_memory = ops->writethrough_no_memory,
		.alloc_failures = ops->alloc_failures,
		.io_errors = ops->io_errors,
		.decompress_errors = ops->decompress_errors,
		.compactions = ops->compactions,
		.recompressed = ops->recompressed,
		.recompress_not_worth = ops->recompress_not_worth,
		.recompress_dropped = ops->recompress_dropped,
		.recompress_cpu_us = ops->recompress_cpu_us,
	};
}

static struct proto_latency latency_to_wire(const struct latency_hist *hist)
{
	return (struct proto_latency){ latency_percentile(hist, 0.5),
				       latency_percentile(hist, 0.99),
				       latency_percentile(hist, 0.999) };
}

_Static_assert(LATENCY_EXPORT_BOUNDS <= PROTO_LATENCY_BUCKETS_MAX, "histogram buckets fit the wire");

static void histogram_to_wire(const struct latency_hist *hist,
			      struct proto_latency_histogram *ret_wire)
{
	ret_wire->nr_buckets = LATENCY_EXPORT_BOUNDS;
	for (unsigned i = 0; i < LATENCY_EXPORT_BOUNDS; i++) {
		uint64_t bound = latency_export_bound_us(i);

		ret_wire->buckets[i] = (struct proto_latency_bucket){
			.le_us = bound,
			.count = latency_count_below(hist, bound),
		};
	}
	ret_wire->count = latency_count(hist);
	ret_wire->sum_us = hist->sum_us;
}

static int build_stats(struct control_server *srv, char **msg, size_t *size)
{
	const struct control_server_config *cfg = &srv->config;
	struct latency_hist rh, wh;
	struct store_stats st;
	struct proto_stats wire;
	struct timespec now;

	store_get_stats(cfg->store, &st);
	store_get_latency(cfg->store, &rh, &wh);
	clock_gettime(CLOCK_REALTIME, &now);
	stats_to_wire(&st, &wire);
	wire.read_latency_us = latency_to_wire(&rh);
	wire.write_latency_us = latency_to_wire(&wh);
	histogram_to_wire(&rh, &wire.read_latency_histogram);
	histogram_to_wire(&wh, &wire.write_latency_histogram);
	wire.uptime_seconds = (uint64_t)(now.tv_sec - cfg->started);
	wire.start_time_seconds = (uint64_t)cfg->started;
	wire.version = SWAPDEV_VERSION;
	return proto_build_stats_reply(&wire, cfg->config, msg, size);
}

static int build_status(struct control_server *srv, char **msg, size_t *size)
{
	const struct control_server_config *cfg = &srv->config;
	struct swap_area_status area;
	struct timespec now;

	cfg->swap_status(cfg->userdata, &area);
	clock_gettime(CLOCK_REALTIME, &now);
	return proto_build_status_reply(
		&(struct proto_status){
			.state = "running",
			.device = cfg->file_path,
			.loop_device = area.attached ? area.loop_path : NULL,
			.swap_active = area.active,
			.uptime_seconds = (uint64_t)(now.tv_sec - cfg->started),
			.version = SWAPDEV_VERSION,
		},
		msg, size);
}

static int set_config(struct control_server *srv, const struct proto_request *req, char **msg,
		      size_t *size)
{
	const struct control_server_config *cfg = &srv->config;
	struct config_error error;
	char old[CONFIG_VALUE_MAX];
	int r;

	pthread_mutex_lock(cfg->config_lock);
	r = config_set_runtime(cfg->config, req->set_config.key, req->set_config.value,
			       runtime_key_apply, cfg->store, old, &error);
	pthread_mutex_unlock(cfg->config_lock);
	if (r == -ENOENT)
		return proto_build_invalid_parameter("key", error.message, msg, size);
	if (r == -EPERM)
		return proto_build_not_runtime_tunable(req->set_config.key, msg, size);
	if (r < 0)
		return proto_build_invalid_parameter("value", error.message, msg, size);
	log_notice("configuration changed: %s=%s (was %s)", req->set_config.key,
		   req->set_config.value, old);
	if (cfg->config_set)
		cfg->config_set(cfg->ctx, req->set_config.key, req->set_config.value);
	return varlink_build_reply(NULL, false, msg, size);
}

static int restart(struct control_server *srv, char **msg, size_t *size)
{
	const struct control_server_config *cfg = &srv->config;
	char why[512] = "this daemon cannot restart";
	int r = cfg->restart ? cfg->restart(cfg->ctx, why, sizeof(why)) : -EOPNOTSUPP;

	if (r < 0)
		return proto_build_cannot_restart(why, msg, size);
	return varlink_build_reply(NULL, false, msg, size);
}

/* Handle one complete message. False: drop the client. */
static bool handle_message(struct control_server *srv, struct client *c, const char *text,
			   size_t len)
{
	struct proto_request req;
	struct varlink_refusal perr;
	char *msg = NULL;
	size_t size = 0;
	int r;

	r = proto_parse_request(text, len, &req, &perr);
	if (r == -EINVAL) {
		if (perr.oneway)
			return true;
		r = varlink_build_refusal(&perr, &msg, &size);
		return r == 0 && client_queue(srv, c, msg, size);
	}
	if (r < 0)
		return false; /* not a Varlink message: nothing sensible to answer */

	if (req.method != PROTO_METHOD_GET_INFO &&
	    req.method != PROTO_METHOD_GET_INTERFACE_DESCRIPTION &&
	    (!c->can_read || (proto_method_changes_state(req.method) && !c->can_write))) {
		r = varlink_build_error(PROTO_ERROR_PERMISSION_DENIED, NULL, &msg, &size);
		goto out;
	}
	switch (req.method) {
	case PROTO_METHOD_GET_INFO:
		r = proto_build_info_reply(SWAPDEV_VERSION, &msg, &size);
		break;
	case PROTO_METHOD_GET_INTERFACE_DESCRIPTION:
		r = proto_build_description_reply(req.describe.interface, &msg, &size);
		break;
	case PROTO_METHOD_GET_STATS:
		r = build_stats(srv, &msg, &size);
		break;
	case PROTO_METHOD_GET_STATUS:
		r = build_status(srv, &msg, &size);
		break;
	case PROTO_METHOD_GET_CONFIG:
		pthread_mutex_lock(srv->config.config_lock);
		r = proto_build_config_reply(srv->config.config, req.get_config.key, &msg, &size);
		pthread_mutex_unlock(srv->config.config_lock);
		if (r == -ENOENT) {
			char text[VARLINK_NAME_MAX + 64];

			snprintf(text, sizeof(text), "unknown configuration key '%.*s'",
				 VARLINK_NAME_MAX, req.get_config.key);
			r = proto_build_invalid_parameter("key", text, &msg, &size);
		}
		break;
	case PROTO_METHOD_SET_CONFIG:
		r = set_config(srv, &req, &msg, &size);
		break;
	case PROTO_METHOD_FLUSH:
	case PROTO_METHOD_RECOMPRESS:
		r = start_job(srv, c, &req, &msg, &size);
		break;
	case PROTO_METHOD_RESTART:
		r = restart(srv, &msg, &size);
		break;
	default:
		r = proto_build_failed("method not implemented", &msg, &size);
		break;
	}
out:
	proto_request_done(&req);
	if (r < 0)
		return false;
	if (!msg || req.oneway) {
		free(msg);
		return true;
	}
	return client_queue(srv, c, msg, size);
}

/* Handle every complete message received, in order. False: drop. */
static bool client_handle_buffered(struct control_server *srv, struct client *c)
{
	size_t msg_len;
	int r;

	for (;;) {
		/* One call at a time while a job's reply is owed: keep the rest queued. */
		if (c->waits_job)
			return true;
		r = varlink_frame(c->rx, c->rx_len, &msg_len);
		if (r != 1)
			break;
		if (!handle_message(srv, c, c->rx, msg_len))
			return false;
		memmove(c->rx, c->rx + msg_len + 1, c->rx_len - msg_len - 1);
		c->rx_len -= msg_len + 1;
		c->last_progress_ms = monotonic_ms();
	}
	if (r == -EMSGSIZE) {
		char *msg = NULL;
		size_t size = 0;

		if (proto_build_invalid_parameter("message", "message too large", &msg, &size) == 0)
			client_queue(srv, c, msg, size);
		c->close_after_send = true;
		c->rx_len = 0;
	}
	return true;
}

/*
 * A full buffer holds calls queued behind a Flush or Recompress; it is not
 * polled for input then, as a zero-byte recv would read as EOF.
 */
static bool client_wants_input(const struct client *c)
{
	return !c->close_after_send && c->rx_len < RX_SIZE;
}

/* Read what is there and handle every complete message. False: drop. */
static bool client_read(struct control_server *srv, struct client *c)
{
	ssize_t n;

	assert(client_wants_input(c));
	n = recv(c->fd, c->rx + c->rx_len, RX_SIZE - c->rx_len, MSG_DONTWAIT);
	if (n == 0)
		return false;
	if (n < 0)
		return errno == EAGAIN || errno == EINTR;
	c->rx_len += (size_t)n;
	return client_handle_buffered(srv, c);
}

static void accept_client(struct control_server *srv)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct client *c = NULL;
	int fd;

	fd = accept4(srv->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		close(fd);
		return;
	}
	if (cred.uid != 0 && srv->nr_clients >= MAX_CLIENTS - ROOT_SLOTS) {
		srv->refused++;
		close(fd);
		return;
	}
	for (unsigned i = 0; i < MAX_CLIENTS; i++)
		if (srv->clients[i].fd < 0) {
			c = &srv->clients[i];
			break;
		}
	if (!c) {
		close(fd);
		return;
	}
	*c = (struct client){
		.fd = fd,
		.id = ++srv->next_client_id,
		.rx = malloc(RX_SIZE),
		.last_progress_ms = monotonic_ms(),
	};
	if (!c->rx) {
		close(fd);
		c->fd = -1;
		return;
	}
	srv->nr_clients++;
	c->can_write = cred.uid == 0;
	c->can_read = cred.uid == 0 ||
		      (srv->group_exists && peer_in_group(fd, &cred, srv->group_gid));
}

static void *server_thread(void *arg)
{
	struct control_server *srv = arg;
	struct pollfd fds[MAX_CLIENTS + 2];
	int idx[MAX_CLIENTS + 2];

	while (!__atomic_load_n(&srv->stop, __ATOMIC_ACQUIRE)) {
		nfds_t n = 0;
		uint64_t now;
		int timeout = 1000, r;

		fds[n++] = (struct pollfd){ .fd = srv->wake_fd, .events = POLLIN };
		fds[n++] = (struct pollfd){ .fd = srv->listen_fd,
					    .events = srv->nr_clients < MAX_CLIENTS ? POLLIN : 0 };
		for (unsigned i = 0; i < MAX_CLIENTS; i++) {
			struct client *c = &srv->clients[i];

			if (c->fd < 0)
				continue;
			idx[n] = (int)i;
			fds[n++] = (struct pollfd){
				.fd = c->fd,
				.events = (short)((client_wants_input(c) ? POLLIN : 0) |
						  (c->tx_len ? POLLOUT : 0)),
			};
		}
		for (unsigned k = 0; k < _CONTROL_JOB_MAX; k++)
			if (srv->jobs[k].running)
				timeout = PROGRESS_INTERVAL_MS;
		r = poll(fds, n, timeout);
		if (r < 0 && errno != EINTR)
			break;
		if (fds[0].revents & POLLIN) {
			uint64_t v;

			if (read(srv->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				break;
		}
		if (fds[1].revents & POLLIN)
			accept_client(srv);
		now = monotonic_ms();
		if (srv->refused > srv->refused_logged &&
		    now - srv->refused_log_ms >= REFUSED_LOG_INTERVAL_MS) {
			uint64_t n = srv->refused - srv->refused_logged;

			log_warning("control socket: %" PRIu64 " connection%s refused: the %u slots "
				    "for users other than root are taken",
				    n, n == 1 ? "" : "s", MAX_CLIENTS - ROOT_SLOTS);
			srv->refused_logged = srv->refused;
			srv->refused_log_ms = now;
		}
		for (nfds_t k = 2; k < n; k++) {
			struct client *c = &srv->clients[idx[k]];
			bool keep = true;

			if (c->fd < 0)
				continue;
			if (fds[k].revents & POLLIN)
				keep = client_read(srv, c);
			if (keep && (fds[k].revents & (POLLHUP | POLLERR)) && !(fds[k].revents & POLLIN))
				keep = false;
			if (keep && c->tx_len)
				keep = client_send(c) == 0;
			if (keep && c->close_after_send && c->tx_len == 0)
				keep = false;
			/* Handling a message moves last_progress_ms past now. */
			if (keep && !c->waits_job && now > c->last_progress_ms &&
			    now - c->last_progress_ms > CLIENT_TIMEOUT_MS)
				keep = false;
			if (!keep)
				client_close(srv, c);
		}
		for (unsigned k = 0; k < _CONTROL_JOB_MAX; k++)
			poll_job(srv, &srv->jobs[k]);
		/* Replies queued by poll_job go out now rather than at the next wake-up. */
		for (unsigned i = 0; i < MAX_CLIENTS; i++)
			if (srv->clients[i].fd >= 0 && srv->clients[i].tx_len &&
			    client_send(&srv->clients[i]) < 0)
				client_close(srv, &srv->clients[i]);
	}
	return NULL;
}

/* control.group may be a number: a group without a name still works. */
static int parse_gid(const char *text, gid_t *ret_gid)
{
	unsigned long v;
	char *end;

	if (*text < '0' || *text > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(text, &end, 10);
	if (errno || *end || v >= (gid_t)-1)
		return -EINVAL;
	*ret_gid = (gid_t)v;
	return 0;
}

/* Refuse to take over a socket another live daemon is serving. */
static int claim_socket_path(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, r;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	strncpy(sa.sun_path, path, sizeof(sa.sun_path) - 1);
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	if (r == 0)
		return -EADDRINUSE;
	return unlink(path) < 0 ? -errno : 0;
}

int control_server_bind(const struct control_server_config *config,
			struct control_server **ret_server)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = config->socket_path;
	struct control_server *srv;
	struct group gr, *grp = NULL;
	char buf[4096], dir[sizeof(sa.sun_path)];
	char *slash;
	int r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return log_error_errno(-ENAMETOOLONG, "control socket path %s", path);
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return log_error_errno(-ENOMEM, "control server");
	srv->config = *config;
	srv->listen_fd = srv->wake_fd = -1;
	for (unsigned i = 0; i < MAX_CLIENTS; i++)
		srv->clients[i].fd = -1;
	snprintf(srv->path, sizeof(srv->path), "%s", path);
	if (getgrnam_r(config->group, &gr, buf, sizeof(buf), &grp) == 0 && grp) {
		srv->group_exists = true;
		srv->group_gid = gr.gr_gid;
	} else if (parse_gid(config->group, &srv->group_gid) == 0) {
		srv->group_exists = true;
	} else {
		log_notice("group %s does not exist: statistics are readable by root only",
			   config->group);
	}

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
			r = log_error_errno(-errno, "cannot create %s", dir);
			goto fail;
		}
	}
	r = claim_socket_path(path);
	if (r == -EADDRINUSE) {
		log_error("%s is served by another process (is swapdevd already running?)", path);
		goto fail;
	}
	if (r < 0) {
		log_error_errno(r, "cannot use control socket path %s", path);
		goto fail;
	}
	srv->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	srv->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (srv->listen_fd < 0 || srv->wake_fd < 0) {
		r = log_error_errno(-errno, "cannot create the control socket");
		goto fail;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (bind(srv->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = log_error_errno(-errno, "cannot bind control socket %s", path);
		goto fail;
	}
	/* Tighten before listen(): nobody can connect in between. */
	if (chmod(path, srv->group_exists ? 0660 : 0600) < 0 ||
	    chown(path, 0, srv->group_exists ? srv->group_gid : 0) < 0 ||
	    listen(srv->listen_fd, LISTEN_BACKLOG) < 0) {
		r = log_error_errno(-errno, "cannot set up control socket %s", path);
		unlink(path);
		goto fail;
	}
	srv->bound = true;
	*ret_server = srv;
	return 0;
fail:
	control_server_stop(srv);
	return r;
}

int control_server_serve(struct control_server *srv, struct store *store)
{
	int r;

	srv->config.store = store;
	r = -pthread_create(&srv->thread, NULL, server_thread, srv);

	if (r < 0)
		return log_error_errno(r, "cannot start the control thread");
	srv->thread_running = true;
	return 0;
}

void control_server_stop(struct control_server *srv)
{
	if (!srv)
		return;
	if (srv->thread_running) {
		__atomic_store_n(&srv->stop, true, __ATOMIC_RELEASE);
		wake(srv->wake_fd);
		pthread_join(srv->thread, NULL);
	}
	if (srv->bound)
		unlink(srv->path);
	/* A job in progress finishes its step and stops at the next progress call. */
	for (unsigned k = 0; k < _CONTROL_JOB_MAX; k++)
		control_job_join(&srv->jobs[k]);
	for (unsigned i = 0; i < MAX_CLIENTS; i++)
		if (srv->clients[i].fd >= 0)
			client_close(srv, &srv->clients[i]);
	if (srv->listen_fd >= 0)
		close(srv->listen_fd);
	if (srv->wake_fd >= 0)
		close(srv->wake_fd);
	free(srv);
}
