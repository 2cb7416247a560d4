/* relay.c: the CoAP side of a session: routing, upstream sockets, proxy-made answers. */
#include "config.h"

#include <sys/queue.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "coap_msg.h"
#include "configuration.h"
#include "fdstore.h"
#include "log.h"
#include "mid_map.h"
#include "ratelimit.h"
#include "relay.h"
#include "route.h"
#include "session.h"
#include "state.h"
#include "stats.h"
#include "worker.h"

#define RELAY_MAX_MSG 2048        /* bytes of one CoAP message, each way */
#define RELAY_UPSTREAMS 8         /* backends one session may use */
#define RELAY_PENDING 16          /* CON requests awaiting a backend's answer */
#define RELAY_BATCH 8             /* backend datagrams read per wake-up */
#define ORPHAN_LIFETIME_MS 300000 /* how long a gone device's observed upstream waits */
#define ORPHAN_MAX 4096           /* orphaned upstream sockets at most */
/*
 * Upstream sockets a clean stop may put into systemd's fd store: the unit's
 * FileDescriptorStoreMax (systemd 254+ says it in $FDSTORE; else the unit's
 * 1024) less what listening sockets and the state memfd may need.
 */
#define RELAY_FDSTORE_DEFAULT 1024
#define RELAY_FDSTORE_RESERVED 64

/* A connected UDP socket from one session to one backend. */
struct upstream {
	int fd;
	struct event *ev;
	struct session *s; /* NULL once orphaned */
	int slot;          /* index in the session's slots; the MID map's backend index */
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char name[64];
	struct backend_stats *bs;           /* its backend's counters (NULL: out of memory) */
	bool observing;                     /* an Observe registration went through it */
	uint64_t orphan_deadline;           /* when an orphan gives up waiting */
	TAILQ_ENTRY(upstream) orphan_entry; /* on the orphan list, oldest first */
};

/* A CON request forwarded and not yet answered by its backend. */
struct pending {
	bool used, timed_out;
	uint8_t slot, token_len;
	uint16_t mid;
	uint8_t token[8];
	uint8_t type;
	uint8_t code;
	uint64_t sent_ms, deadline_ms;
};

struct relay_state {
	struct upstream *up[RELAY_UPSTREAMS];
	struct pending pend[RELAY_PENDING];
	struct event *timer;  /* earliest pending deadline */
	struct mid_map *mids; /* for messages backends start; allocated on first use */
	int last_slot;        /* the backend that last started an exchange with the device */
};

static _Thread_local struct event_base *relay_base;
static _Thread_local struct coap_msg_ctx *relay_coap;
static _Thread_local TAILQ_HEAD(, upstream) orphans; /* TAILQ_INIT in relay_init */
static _Thread_local size_t orphans_n;
static _Thread_local struct event *orphan_sweep;
static _Thread_local SLIST_HEAD(, backend_stats) backend_stats_list;

const unsigned relay_rtt_bounds_ms[RELAY_RTT_BUCKETS - 1] = { 5, 10, 25, 50, 100, 250, 500, 1000,
	2500, 5000 };

static void upstream_read_cb(evutil_socket_t fd, short what, void *arg);

/* Finds or makes the counters of the backend named name; NULL when out of memory. */
static struct backend_stats *
backend_stats_get(const char *name)
{
	struct backend_stats *bs;

	SLIST_FOREACH(bs, &backend_stats_list, next)
	if (strcmp(bs->name, name) == 0)
		return bs;
	bs = calloc(1, sizeof *bs);
	if (bs == NULL || (bs->name = strdup(name)) == NULL) {
		free(bs);
		return NULL;
	}
	SLIST_INSERT_HEAD(&backend_stats_list, bs, next);
	return bs;
}

/* relay_backend_sums: the configured backends and their sums so far. */
struct backend_sums {
	const struct backend_conf *b;
	size_t n;
	struct backend_stats *sums;
};

/* worker_call_all: adds this worker's counters of each configured backend into its sum. */
static void
backend_sums_add(void *arg)
{
	const struct backend_sums *a = arg;
	const struct backend_stats *bs;

	SLIST_FOREACH(bs, &backend_stats_list, next)
	for (size_t i = 0; i < a->n; i++) {
		struct backend_stats *sum = &a->sums[i];

		if (strcmp(bs->name, a->b[i].name) != 0)
			continue;
		sum->requests += bs->requests;
		sum->errors += bs->errors;
		sum->timeouts += bs->timeouts;
		for (size_t k = 0; k < RELAY_RTT_BUCKETS; k++)
			sum->rtt_buckets[k] += bs->rtt_buckets[k];
		sum->rtt_sum_ms += bs->rtt_sum_ms;
		if (bs->last_error_time >= sum->last_error_time) {
			sum->last_error_time = bs->last_error_time;
			memcpy(sum->last_error, bs->last_error, sizeof sum->last_error);
		}
	}
}

void
relay_backend_sums(const struct backend_conf *b, size_t n, struct backend_stats *sums)
{
	struct backend_sums a = { b, n, sums };

	memset(sums, 0, n * sizeof *sums);
	worker_call_all(backend_sums_add, &a);
}

/* Counts an error (timeout when timeout) of a backend and remembers what it was. */
static void
backend_error(struct backend_stats *bs, bool timeout, const char *what)
{
	if (bs == NULL)
		return;
	if (timeout)
		bs->timeouts++;
	else
		bs->errors++;
	bs->last_error_time = (int64_t)time(NULL);
	snprintf(bs->last_error, sizeof bs->last_error, "%s", what);
}

/* Counts an answer that came ms after its request. */
static void
backend_rtt(struct backend_stats *bs, uint64_t ms)
{
	size_t b = 0;

	if (bs == NULL)
		return;
	while (b < RELAY_RTT_BUCKETS - 1 && ms > relay_rtt_bounds_ms[b])
		b++;
	bs->rtt_buckets[b]++;
	bs->rtt_sum_ms += ms;
}

/*
 * Sends a proxy-made answer to a request (same MID and token) and counts it;
 * text goes in its payload only with diagnostic_payloads.
 */
static void
relay_answer(struct session *s, const struct coap_msg_info *req, uint8_t code,
    enum proxy_answer which, const char *text)
{
	const char *payload = session_current_config()->diagnostic_payloads ? text : NULL;
	uint8_t out[512];
	uint16_t mid = req->mid;
	size_t n;

	if (req->type == COAP_MSG_NON) {
		struct relay_state *rs = session_upper(s);
		int m =
		    rs != NULL && rs->mids != NULL ? mid_map_alloc(rs->mids, session_now_ms()) : -1;

		mid = m >= 0 ? (uint16_t)m : (uint16_t)(req->mid ^ 0x8000);
	}
	n = coap_msg_build_answer(out, sizeof out, req, code, mid, payload);
	if (n == 0 || session_send(s, out, n) < 0)
		return;
	stats_mut()->answers[which]++;
	log_debug("session=%08x peer=%s answered mid=0x%04x with %d.%02d: %s", session_id(s),
	    session_peer_str(s), req->mid, code >> 5, code & 31, text);
}

/* When a backend's refusals or timeouts were last logged, and how many lines were held back since. */
#define BACKEND_LOG_SLOTS 32
static pthread_mutex_t backend_log_lock = PTHREAD_MUTEX_INITIALIZER; /* backend_logs */
static struct backend_log {
	char name[64];
	bool timeout;        /* 5.04 lines, else 5.02 (refused) */
	struct ratelimit rl; /* one line a second */
} backend_logs[BACKEND_LOG_SLOTS];

/*
 * Logs at warning that backend refused (5.02) or did not answer (5.04) a
 * request of session s: at most one line a second per backend and kind,
 * with suppressed= lines held back since the last one.
 */
static void
relay_log_backend(struct session *s, const char *backend, bool timeout, const char *reason)
{
	struct log_event ev = LOG_EVENT_INIT;
	struct backend_log *bl = NULL, *oldest = &backend_logs[0];
	unsigned long suppressed;
	char held[24];
	bool allow;

	pthread_mutex_lock(&backend_log_lock); /* one budget for all workers */
	for (int i = 0; i < BACKEND_LOG_SLOTS && bl == NULL; i++) {
		struct backend_log *b = &backend_logs[i];

		if (b->name[0] != '\0' && b->timeout == timeout && strcmp(b->name, backend) == 0)
			bl = b;
		else if (b->rl.second < oldest->rl.second)
			oldest = b;
	}
	if (bl == NULL) { /* a slot of its own; the least recently logged one goes */
		bl = oldest;
		snprintf(bl->name, sizeof bl->name, "%s", backend);
		bl->timeout = timeout;
		bl->rl = (struct ratelimit){ 0 };
	}
	allow = ratelimit_allow(&bl->rl, session_now_ms(), 1, &suppressed);
	pthread_mutex_unlock(&backend_log_lock);
	if (!allow)
		return;
	session_event(s, &ev, timeout ? "backend-timeout" : "backend-refused");
	log_event_add(&ev, "backend", backend, true);
	log_event_add(&ev, "answer", timeout ? "5.04" : "5.02", false);
	if (suppressed > 0) {
		snprintf(held, sizeof held, "%lu", suppressed);
		log_event_add(&ev, "suppressed", held, false);
	}
	ev.reason = reason;
	log_event(LOG_LVL_WARNING, &ev);
}

/* Sends an RST for mid to the device and counts it. */
static void
relay_rst(struct session *s, uint16_t mid, enum proxy_answer which)
{
	uint8_t out[4];
	size_t n = coap_msg_build_rst(out, sizeof out, mid);

	if (n > 0 && session_send(s, out, n) == 0)
		stats_mut()->answers[which]++;
}

/* Closes an upstream socket and frees it (taking it off the orphan list). */
static void
upstream_free(struct upstream *u)
{
	if (u->s == NULL) {
		TAILQ_REMOVE(&orphans, u, orphan_entry);
		orphans_n--;
	}
	if (u->ev != NULL)
		event_free(u->ev);
	if (u->fd >= 0)
		close(u->fd);
	free(u);
}

/*
 * Binds an upstream socket to one of the backend's source addresses (port 0),
 * starting with the next in turn and moving on when one has no free port left;
 * without sources the kernel chooses at connect(). 0 or -1 with errno.
 */
static int
upstream_bind(int fd, const struct backend_conf *b)
{
	static atomic_size_t turn; /* one rotation for all workers (a new upstream socket only) */
	size_t next =
	    b->n_sources > 0 ? atomic_fetch_add_explicit(&turn, 1, memory_order_relaxed) : 0;

	for (size_t i = 0; i < b->n_sources; i++) {
		const struct sockaddr_storage *src = &b->sources[(next + i) % b->n_sources];
		socklen_t len = src->ss_family == AF_INET ? sizeof(struct sockaddr_in)
		                                          : sizeof(struct sockaddr_in6);

		if (bind(fd, (const struct sockaddr *)src, len) == 0) {
			if (i >
			    0) /* the ones before had no free port: the next socket skips them too */
				atomic_fetch_add_explicit(&turn, i, memory_order_relaxed);
			return 0;
		}
		if (errno != EADDRINUSE)
			return -1;
	}
	return b->n_sources == 0 ? 0 : -1;
}

/* Finds or opens the session's upstream socket to a backend; NULL on failure. */
static struct upstream *
upstream_get(struct session *s, const struct backend_conf *b)
{
	struct relay_state *rs = session_upper(s);
	struct upstream *u;
	int free_slot = -1;

	for (int i = 0; i < RELAY_UPSTREAMS; i++) {
		u = rs->up[i];
		if (u == NULL) {
			if (free_slot < 0)
				free_slot = i;
			continue;
		}
		if (u->addrlen == b->addrlen && memcmp(&u->addr, &b->addr, b->addrlen) == 0)
			return u;
	}
	if (free_slot < 0) {
		log_warnx("session=%08x peer=%s uses more than %d backends: request dropped",
		    session_id(s), session_peer_str(s), RELAY_UPSTREAMS);
		return NULL;
	}
	u = calloc(1, sizeof *u);
	if (u == NULL)
		return NULL;
	u->s = s;
	u->slot = free_slot;
	u->addr = b->addr;
	u->addrlen = b->addrlen;
	snprintf(u->name, sizeof u->name, "%s", b->name);
	u->bs = backend_stats_get(b->name);
	u->fd = socket(b->addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (u->fd < 0 || upstream_bind(u->fd, b) < 0 ||
	    connect(u->fd, (const struct sockaddr *)&b->addr, b->addrlen) < 0) {
		static _Thread_local struct ratelimit warn_rl;
		unsigned long missed;

		/* At most one line a second: port exhaustion fails every request. */
		if (ratelimit_allow(&warn_rl, session_now_ms(), 1, &missed))
			log_warn(
			    "session=%08x peer=%s cannot open a socket to backend %s (%llu more "
			    "in the last second)",
			    session_id(s), session_peer_str(s), b->name,
			    (unsigned long long)missed);
		backend_error(u->bs, false, "cannot open a socket to it");
		upstream_free(u);
		return NULL;
	}
	u->ev = event_new(relay_base, u->fd, EV_READ | EV_PERSIST, upstream_read_cb, u);
	if (u->ev == NULL || event_add(u->ev, NULL) < 0) {
		upstream_free(u);
		return NULL;
	}
	rs->up[free_slot] = u;
	return u;
}

/* Arms the pending timer for the earliest deadline still open. */
static void
pending_arm(struct relay_state *rs)
{
	uint64_t next = 0, now = session_now_ms();

	for (int i = 0; i < RELAY_PENDING; i++) {
		const struct pending *p = &rs->pend[i];

		if (p->used && !p->timed_out && (next == 0 || p->deadline_ms < next))
			next = p->deadline_ms;
	}
	if (next == 0) {
		evtimer_del(rs->timer);
		return;
	}
	uint64_t wait = next > now ? next - now : 0;
	struct timeval tv = { .tv_sec = (time_t)(wait / 1000),
		.tv_usec = (suseconds_t)(wait % 1000) * 1000 };
	evtimer_add(rs->timer, &tv);
}

/* Finds the pending request with this MID from the device. */
static struct pending *
pending_find(struct relay_state *rs, uint16_t mid)
{
	for (int i = 0; i < RELAY_PENDING; i++)
		if (rs->pend[i].used && rs->pend[i].mid == mid)
			return &rs->pend[i];
	return NULL;
}

/* Remembers a forwarded CON request (the oldest entry makes room). */
static void
pending_add(struct relay_state *rs, const struct coap_msg_info *req, int slot, uint32_t timeout_s)
{
	struct pending *p = NULL;
	uint64_t now = session_now_ms();

	for (int i = 0; i < RELAY_PENDING && p == NULL; i++)
		if (!rs->pend[i].used)
			p = &rs->pend[i];
	for (int i = 0; i < RELAY_PENDING && p == NULL; i++)
		if (p == NULL || rs->pend[i].sent_ms < p->sent_ms)
			p = &rs->pend[i];
	*p = (struct pending){ .used = true,
		.slot = (uint8_t)slot,
		.mid = req->mid,
		.token_len = req->token_len,
		.type = req->type,
		.code = req->code,
		.sent_ms = now,
		.deadline_ms = now + (uint64_t)timeout_s * 1000 };
	memcpy(p->token, req->token, req->token_len);
	pending_arm(rs);
}

/* Rebuilds the request view of a pending entry, for a proxy-made answer. */
static void
pending_request(const struct pending *p, struct coap_msg_info *req)
{
	memset(req, 0, sizeof *req);
	req->type = p->type;
	req->code = p->code;
	req->mid = p->mid;
	req->token_len = p->token_len;
	memcpy(req->token, p->token, p->token_len);
	req->is_request = true;
}

/* libevent: a backend left CON requests unanswered: 5.04 to the device. */
static void
relay_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	struct relay_state *rs = session_upper(s);
	uint64_t now = session_now_ms();

	(void)fd;
	(void)what;
	for (int i = 0; i < RELAY_PENDING; i++) {
		struct pending *p = &rs->pend[i];
		struct coap_msg_info req;
		char text[160];

		if (!p->used || p->timed_out || p->deadline_ms > now)
			continue;
		p->timed_out = true;
		pending_request(p, &req);
		snprintf(text, sizeof text, "backend %s did not answer within %u s",
		    rs->up[p->slot] ? rs->up[p->slot]->name : "?",
		    session_config(s)->backend_timeout);
		if (rs->up[p->slot] != NULL)
			backend_error(rs->up[p->slot]->bs, true, "a request timed out (5.04 sent)");
		relay_answer(s, &req, COAP_MSG_CODE(5, 4), ANSWER_5_04, text);
		snprintf(text, sizeof text, "did not answer within %u s (backend_timeout)",
		    session_config(s)->backend_timeout);
		relay_log_backend(s, rs->up[p->slot] ? rs->up[p->slot]->name : "?", true, text);
	}
	pending_arm(rs);
}

/* Allocates the relay state of a session on its first CoAP message. */
static struct relay_state *
relay_state_get(struct session *s)
{
	struct relay_state *rs = session_upper(s);

	if (rs != NULL)
		return rs;
	rs = calloc(1, sizeof *rs);
	if (rs == NULL)
		return NULL;
	rs->last_slot = -1;
	rs->timer = evtimer_new(relay_base, relay_timer_cb, s);
	if (rs->timer == NULL) {
		free(rs);
		return NULL;
	}
	session_set_upper(s, rs);
	return rs;
}

/* Allocates the MID map for backend-started messages on first use. */
static struct mid_map *
relay_mids(struct relay_state *rs)
{
	uint16_t first;

	if (rs->mids != NULL)
		return rs->mids;
	rs->mids = malloc(sizeof *rs->mids);
	if (rs->mids == NULL)
		return NULL;
	if (getentropy(&first, sizeof first) < 0)
		first = (uint16_t)session_now_ms();
	mid_map_init(rs->mids, first);
	return rs->mids;
}

/* Logs a message from the device that was not relayed, with the reason. */
static void
relay_dropped(struct session *s, const char *why, bool rst)
{
	struct log_event ev = LOG_EVENT_INIT;

	stats_mut()->coap_malformed++;
	session_event(s, &ev, "coap-dropped");
	ev.reason = why;
	log_event_add(&ev, "answer", rst ? "rst" : "none", false);
	log_event(LOG_LVL_INFO, &ev);
}

/*
 * Tells whether the session proved no identity: a certificate session without
 * a client certificate (the rule session_identity_text() writes "anonymous" by).
 */
static bool
relay_anonymous(const struct session *s)
{
	enum link_auth auth = session_auth(s);

	return auth != LINK_AUTH_PSK && auth != LINK_AUTH_X509;
}

/*
 * Picks the backend of a request by the routes; -1 answered. A forward-proxy
 * request (Proxy-Uri or Proxy-Scheme) is routed as it will be forwarded (its
 * Uri-Path and Uri-Host after the rewrite), and goes on only when the route
 * that takes it allows forward proxying and its backend is the one named.
 */
static int
relay_route(struct session *s, struct proxy_config *cfg, const struct coap_msg_info *info,
    const uint8_t *buf, size_t len, bool proxy)
{
	char host[256], path[512], text[128], id[CONFIG_PSK_IDENTITY_MAX + 16];
	uint8_t fwd[RELAY_MAX_MSG + 512];
	const struct route *r;
	const char *why = NULL;
	uint16_t port = 0;
	int target = -1;

	if (proxy) {
		if (coap_msg_proxy_target(relay_coap, buf, len, host, sizeof host, &port, &why) <
		    0) {
			snprintf(text, sizeof text, "cannot proxy: %s",
			    why ? why : "bad Proxy-Uri");
			relay_answer(s, info, COAP_MSG_CODE(5, 5), ANSWER_5_05, text);
			return -1;
		}
		target = config_backend_for_target(cfg, host, port);
		snprintf(text, sizeof text, "proxying to %.64s port %u is not configured", host,
		    port);
		if (target < 0) {
			relay_answer(s, info, COAP_MSG_CODE(5, 5), ANSWER_5_05, text);
			return -1;
		}
		/* Routes see what the backend will get: the Proxy-Uri as Uri-* options. */
		len = coap_msg_rewrite_request(relay_coap, buf, len, fwd, sizeof fwd, 0, "", 0,
		    true, &why);
		if (len == 0) {
			snprintf(text, sizeof text, "cannot forward: %s",
			    why ? why : "rewrite failed");
			relay_answer(s, info, COAP_MSG_CODE(4, 0), ANSWER_4_00, text);
			return -1;
		}
		buf = fwd;
	}
	if (coap_msg_request_target(relay_coap, buf, len, path, sizeof path, host, sizeof host) <
	    0) {
		snprintf(path, sizeof path, "/");
		host[0] = '\0';
	}
	(void)session_identity_text(s, id, sizeof id, false);
	r = route_find(cfg->routes, cfg->n_routes, id, relay_anonymous(s), path, host);
	if (proxy && (r == NULL || !r->forward_proxy || r->backend != target)) {
		/* The same answer as for an unknown target: it tells the device nothing more. */
		log_debug("session=%08x peer=%s no route allows forward proxying of %.100s to "
		          "backend %s",
		    session_id(s), session_peer_str(s), path, cfg->backends[target].name);
		relay_answer(s, info, COAP_MSG_CODE(5, 5), ANSWER_5_05, text);
		return -1;
	}
	if (r == NULL) {
		snprintf(text, sizeof text, "no route for %.100s", path);
		relay_answer(s, info, COAP_MSG_CODE(4, 4), ANSWER_4_04, text);
		return -1;
	}
	return r->backend;
}

/* Forwards a request from the device to the backend its route names. */
static void
relay_request(struct session *s, const struct coap_msg_info *info, const uint8_t *buf, size_t len)
{
	struct proxy_config *cfg = session_current_config();
	struct relay_state *rs = session_upper(s);
	bool proxy = info->has_proxy_uri || info->has_proxy_scheme;
	uint8_t out[RELAY_MAX_MSG + 512];
	char identity[CONFIG_PSK_IDENTITY_MAX + 16], text[128];
	const char *why = NULL;
	struct upstream *u;
	size_t n;
	int b;

	if (info->type == COAP_MSG_CON) {
		struct pending *p = pending_find(rs, info->mid);

		if (p != NULL && p->timed_out) {
			/* A retransmission after our 5.04: say the same again. */
			snprintf(text, sizeof text, "backend did not answer within %u s",
			    cfg->backend_timeout);
			relay_answer(s, info, COAP_MSG_CODE(5, 4), ANSWER_5_04, text);
			return;
		}
	}
	b = relay_route(s, cfg, info, buf, len, proxy);
	if (b < 0)
		return;
	n = coap_msg_rewrite_request(relay_coap, buf, len, out, sizeof out, cfg->identity_option,
	    identity, session_identity_text(s, identity, sizeof identity, false), proxy, &why);
	if (n == 0) {
		snprintf(text, sizeof text, "cannot forward: %s", why ? why : "rewrite failed");
		relay_answer(s, info, COAP_MSG_CODE(4, 0), ANSWER_4_00, text);
		return;
	}
	u = upstream_get(s, &cfg->backends[b]);
	if (u == NULL) {
		relay_answer(s, info, COAP_MSG_CODE(5, 2), ANSWER_5_02, "cannot reach the backend");
		return;
	}
	if (u->bs != NULL)
		u->bs->requests++;
	if (send(u->fd, out, n, 0) < 0) {
		if (errno == ECONNREFUSED) {
			backend_error(u->bs, false, "refused (port unreachable)");
			relay_answer(s, info, COAP_MSG_CODE(5, 2), ANSWER_5_02,
			    "backend refused (port unreachable)");
			relay_log_backend(s, u->name, false, "refused (ICMP port unreachable)");
		} else
			stats_mut()->backend_dropped++;
		return;
	}
	if (info->has_observe && info->observe == 0)
		u->observing = true;
	if (info->type == COAP_MSG_CON && pending_find(rs, info->mid) == NULL)
		pending_add(rs, info, u->slot, cfg->backend_timeout);
	stats_mut()->msgs_relayed_in++;
}

void
relay_from_device(struct session *s, const uint8_t *buf, size_t len)
{
	struct coap_msg_info info;
	struct relay_state *rs;
	const char *why = NULL;

	if (coap_msg_inspect(relay_coap, buf, len, &info, &why) < 0) {
		/* Any readable CON header gets its RST, a bad version too (the rule). */
		bool rst = info.can_reset || (len >= 4 && (buf[0] >> 4 & 3) == COAP_MSG_CON);
		uint16_t mid =
		    info.can_reset ? info.mid : (uint16_t)(len >= 4 ? buf[2] << 8 | buf[3] : 0);

		relay_dropped(s, why, rst);
		if (rst)
			relay_rst(s, mid, ANSWER_RST_MALFORMED);
		return;
	}
	session_count_in(s, len);
	rs = relay_state_get(s);
	if (rs == NULL)
		return;
	if (info.is_empty && info.type == COAP_MSG_CON) {
		relay_rst(s, info.mid, ANSWER_RST_PING); /* CoAP ping */
		return;
	}
	if (info.type == COAP_MSG_ACK || info.type == COAP_MSG_RST) {
		/* The device answers a message a backend started: back with its MID. */
		int slot;
		uint16_t bmid;
		uint8_t out[RELAY_MAX_MSG];

		if (rs->mids == NULL ||
		    mid_map_in(rs->mids, info.mid, session_now_ms(), &slot, &bmid) < 0 ||
		    slot < 0 || slot >= RELAY_UPSTREAMS || rs->up[slot] == NULL ||
		    len > sizeof out) {
			log_debug("session=%08x %s mid=0x%04x matches nothing a backend sent",
			    session_id(s), info.type == COAP_MSG_ACK ? "ACK" : "RST", info.mid);
			return;
		}
		memcpy(out, buf, len);
		coap_msg_set_mid(out, bmid);
		if (info.type == COAP_MSG_RST)
			rs->up[slot]->observing = false;
		if (send(rs->up[slot]->fd, out, len, 0) >= 0)
			stats_mut()->msgs_relayed_in++;
		return;
	}
	if (info.is_request) {
		relay_request(s, &info, buf, len);
		return;
	}
	/* A response in a CON or NON: goes to the backend that last asked the device. */
	if (rs->last_slot >= 0 && rs->up[rs->last_slot] != NULL) {
		if (send(rs->up[rs->last_slot]->fd, buf, len, 0) >= 0)
			stats_mut()->msgs_relayed_in++;
	}
}

void
relay_too_large(struct session *s, const uint8_t *buf, size_t len, size_t size, size_t limit)
{
	struct log_event ev = LOG_EVENT_INIT;
	struct coap_msg_info req;
	char text[128], size_s[24], limit_s[24];
	const char *answer = "none";
	unsigned type = len >= 4 ? buf[0] >> 4 & 3 : COAP_MSG_ACK;

	stats_mut()->coap_too_large++;
	snprintf(text, sizeof text, "message of %zu bytes is over the %zu-byte limit", size, limit);
	memset(&req, 0, sizeof req);
	if (len >= 4) {
		req.type = (uint8_t)type;
		req.code = buf[1];
		req.mid = (uint16_t)(buf[2] << 8 | buf[3]);
		req.token_len = buf[0] & 0x0f;
		req.is_request = buf[1] >= 1 && buf[1] <= 31;
	}
	/* Like a malformed message: a readable CON request gets its answer, else CON/NON an RST. */
	if (type == COAP_MSG_CON && req.is_request && buf[0] >> 6 == 1 && req.token_len <= 8 &&
	    len >= 4 + (size_t)req.token_len && relay_state_get(s) != NULL) {
		memcpy(req.token, buf + 4, req.token_len);
		relay_answer(s, &req, COAP_MSG_CODE(4, 13), ANSWER_4_13, text);
		answer = "4.13";
	} else if (type == COAP_MSG_CON || type == COAP_MSG_NON) {
		relay_rst(s, req.mid, ANSWER_RST_MALFORMED);
		answer = "rst";
	}
	session_event(s, &ev, "coap-dropped");
	ev.reason = text;
	snprintf(size_s, sizeof size_s, "%zu", size);
	snprintf(limit_s, sizeof limit_s, "%zu", limit);
	log_event_add(&ev, "size", size_s, false);
	log_event_add(&ev, "limit", limit_s, false);
	log_event_add(&ev, "answer", answer, false);
	log_event(LOG_LVL_WARNING, &ev);
}

/*
 * A message from a backend that cannot reach the device: size bytes (buf
 * holds the first len), over limit. Never forwarded. A device's CON request
 * it answers gets 5.02 in its place; a CON or NON is refused to the backend
 * with an RST, and when it is a response the device gets a NON 5.02 with its
 * token. Logged at warning level and counted.
 */
static void
upstream_too_large(struct upstream *u, const uint8_t *buf, size_t len, size_t size, size_t limit)
{
	struct session *s = u->s;
	struct relay_state *rs = session_upper(s);
	struct log_event ev = LOG_EVENT_INIT;
	struct coap_msg_info req;
	char text[128], size_s[24], limit_s[24];
	const char *answer = "none";

	stats_mut()->backend_too_large++;
	snprintf(text, sizeof text, "answer of %zu bytes is over the %zu-byte limit", size, limit);
	memset(&req, 0, sizeof req);
	if (len >= 4 && buf[0] >> 6 == 1 && (buf[0] & 0x0f) <= 8 && len >= 4u + (buf[0] & 0x0fu)) {
		unsigned type = buf[0] >> 4 & 3;
		uint16_t mid = (uint16_t)(buf[2] << 8 | buf[3]);
		struct pending *p = type == COAP_MSG_ACK ? pending_find(rs, mid) : NULL;

		if (p != NULL && p->slot == u->slot && !p->timed_out) {
			/* The device waits for this piggybacked answer to its CON. */
			pending_request(p, &req);
			p->used = false;
			pending_arm(rs);
			relay_answer(s, &req, COAP_MSG_CODE(5, 2), ANSWER_5_02, text);
			answer = "5.02";
		} else if (type == COAP_MSG_CON || type == COAP_MSG_NON) {
			uint8_t rst[4];
			size_t n = coap_msg_build_rst(rst, sizeof rst, mid);

			if (n > 0 && send(u->fd, rst, n, 0) >= 0)
				answer = "rst";
			if (buf[1] >= COAP_MSG_CODE(2, 0) && relay_mids(rs) != NULL) {
				/* A separate response or notification: the device waits on its token. */
				req.type = COAP_MSG_NON;
				req.is_request = true;
				req.mid = mid;
				req.token_len = buf[0] & 0x0f;
				memcpy(req.token, buf + 4, req.token_len);
				relay_answer(s, &req, COAP_MSG_CODE(5, 2), ANSWER_5_02, text);
				answer = "rst,5.02";
			}
		}
	}
	session_event(s, &ev, "backend-dropped");
	ev.reason = text;
	snprintf(size_s, sizeof size_s, "%zu", size);
	snprintf(limit_s, sizeof limit_s, "%zu", limit);
	log_event_add(&ev, "backend", u->name, true);
	log_event_add(&ev, "size", size_s, false);
	log_event_add(&ev, "limit", limit_s, false);
	log_event_add(&ev, "answer", answer, false);
	log_event(LOG_LVL_WARNING, &ev);
}

/* A backend refused (ICMP port unreachable): 5.02 for what waits on it. */
static void
upstream_refused(struct upstream *u)
{
	struct relay_state *rs = session_upper(u->s);

	for (int i = 0; i < RELAY_PENDING; i++) {
		struct pending *p = &rs->pend[i];
		struct coap_msg_info req;
		char text[160];

		if (!p->used || p->timed_out || p->slot != u->slot)
			continue;
		pending_request(p, &req);
		p->used = false;
		snprintf(text, sizeof text, "backend %s refused (port unreachable)", u->name);
		relay_answer(u->s, &req, COAP_MSG_CODE(5, 2), ANSWER_5_02, text);
		relay_log_backend(u->s, u->name, false, "refused (ICMP port unreachable)");
	}
	pending_arm(rs);
}

/* An orphaned upstream got a message: RST it (cancels an Observe) and close. */
static void
orphan_input(struct upstream *u, const uint8_t *buf, size_t len)
{
	struct coap_msg_info info;
	const char *why;
	uint8_t out[4];
	size_t n;

	if (coap_msg_inspect(relay_coap, buf, len, &info, &why) == 0 &&
	    (info.type == COAP_MSG_CON || info.type == COAP_MSG_NON)) {
		n = coap_msg_build_rst(out, sizeof out, info.mid);
		if (n > 0 && send(u->fd, out, n, 0) >= 0)
			stats_mut()->orphan_rst++;
		log_debug("backend %s sent mid=0x%04x to a device that has gone: RST", u->name,
		    info.mid);
	}
	upstream_free(u);
}

/* One datagram of size bytes from a backend to the device; buf holds the first len. */
static void
upstream_input(struct upstream *u, uint8_t *buf, size_t len, size_t size)
{
	struct session *s = u->s;
	struct relay_state *rs = session_upper(s);
	struct coap_msg_info info;
	const char *why = NULL;
	size_t limit = session_send_max(s);

	if (limit > RELAY_MAX_MSG)
		limit = RELAY_MAX_MSG;
	if (size > len || size > limit) {
		upstream_too_large(u, buf, len, size, limit);
		return;
	}
	if (coap_msg_inspect(relay_coap, buf, len, &info, &why) < 0) {
		log_debug("session=%08x backend %s sent malformed CoAP (%s): dropped",
		    session_id(s), u->name, why);
		stats_mut()->backend_dropped++;
		return;
	}
	if (info.type == COAP_MSG_ACK || info.type == COAP_MSG_RST) {
		/* Answers the device's CON: the MID is the device's own. */
		struct pending *p = pending_find(rs, info.mid);

		if (p != NULL && p->slot == u->slot) {
			if (p->timed_out) {
				stats_mut()->backend_late_dropped++;
				return; /* the device already got 5.04 */
			}
			backend_rtt(u->bs, session_now_ms() - p->sent_ms);
			p->used = false;
			pending_arm(rs);
		}
	} else {
		/* The backend starts an exchange: give it a MID of the device's space. */
		struct mid_map *m = relay_mids(rs);
		int mid = m != NULL ? mid_map_out(m, u->slot, info.mid, session_now_ms()) : -1;

		if (mid < 0) {
			stats_mut()->backend_dropped++;
			return;
		}
		coap_msg_set_mid(buf, (uint16_t)mid);
		rs->last_slot = u->slot;
	}
	if (session_send(s, buf, len) < 0)
		stats_mut()->backend_dropped++;
}

/* libevent: datagrams from a backend, up to RELAY_BATCH in one recvmmsg(). */
static void
upstream_read_cb(evutil_socket_t fd, short what, void *arg)
{
	/* No names, no control data: the kernel only writes msg_len and msg_flags. */
	static _Thread_local uint8_t buf[RELAY_BATCH][RELAY_MAX_MSG]; /* each worker's */
	static _Thread_local struct iovec iov[RELAY_BATCH];
	static _Thread_local struct mmsghdr m[RELAY_BATCH];
	struct upstream *u = arg;
	int n;

	(void)what;
	if (m[0].msg_hdr.msg_iov == NULL) {
		for (int i = 0; i < RELAY_BATCH; i++) {
			iov[i].iov_base = buf[i];
			iov[i].iov_len = sizeof buf[i];
			m[i].msg_hdr.msg_iov = &iov[i];
			m[i].msg_hdr.msg_iovlen = 1;
		}
	}
	/* MSG_TRUNC: msg_len is a longer datagram's real length, for the too-large check. */
	n = recvmmsg(fd, m, RELAY_BATCH, MSG_DONTWAIT | MSG_TRUNC, NULL);
	if (n < 0) {
		if (errno == ECONNREFUSED)
			backend_error(u->bs, false, "refused (port unreachable)");
		if (errno == ECONNREFUSED && u->s != NULL)
			upstream_refused(u);
		else if (errno == ECONNREFUSED)
			upstream_free(u);
		else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			log_warn("backend %s: recvmmsg", u->name);
		return;
	}
	for (int i = 0; i < n; i++) {
		/* Longer datagrams arrive cut at RELAY_MAX_MSG: never forwarded. */
		size_t size = m[i].msg_len, len = size < RELAY_MAX_MSG ? size : RELAY_MAX_MSG;

		if ((m[i].msg_hdr.msg_flags & MSG_TRUNC) != 0 && size <= len)
			size = len + 1;
		if (u->s == NULL) {
			orphan_input(u, buf[i], len);
			return;
		}
		upstream_input(u, buf[i], len, size);
	}
}

/* Moves an upstream with a live Observe to the orphan list. */
static void
orphan_add(struct upstream *u)
{
	u->s = NULL;
	u->orphan_deadline = session_now_ms() + ORPHAN_LIFETIME_MS;
	TAILQ_INSERT_TAIL(&orphans, u, orphan_entry);
	orphans_n++;
	while (orphans_n > ORPHAN_MAX)
		upstream_free(TAILQ_FIRST(&orphans));
}

/* libevent: closes orphans whose backend stayed silent. */
static void
orphan_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	uint64_t now = session_now_ms();

	(void)fd;
	(void)what;
	(void)arg;
	while (!TAILQ_EMPTY(&orphans) && TAILQ_FIRST(&orphans)->orphan_deadline <= now)
		upstream_free(TAILQ_FIRST(&orphans));
}

void
relay_session_end(struct session *s)
{
	struct relay_state *rs = session_upper(s);

	if (rs == NULL)
		return;
	for (int i = 0; i < RELAY_UPSTREAMS; i++) {
		struct upstream *u = rs->up[i];

		if (u == NULL)
			continue;
		if (u->observing)
			orphan_add(u);
		else
			upstream_free(u);
	}
	event_free(rs->timer);
	free(rs->mids);
	free(rs);
	session_set_upper(s, NULL);
}

void
relay_session_park(struct session *s)
{
	struct relay_state *rs = session_upper(s);
	bool live = false;

	if (rs == NULL)
		return;
	for (int i = 0; i < RELAY_UPSTREAMS; i++) {
		struct upstream *u = rs->up[i];
		bool busy = false;

		if (u == NULL)
			continue;
		for (int j = 0; j < RELAY_PENDING && !busy; j++)
			busy = rs->pend[j].used && !rs->pend[j].timed_out &&
			       rs->pend[j].slot == u->slot;
		if (busy || u->observing) {
			live = true;
			continue;
		}
		/* The slot may go to another backend: its MID mappings must not. */
		if (rs->mids != NULL)
			mid_map_forget_backend(rs->mids, u->slot);
		upstream_free(u);
		rs->up[i] = NULL;
	}
	if (!live)
		relay_session_end(s);
}

/* Name of the backend the session used last ("" if none). */
static const char *
relay_backend_name(const struct session *s)
{
	const struct relay_state *rs = session_upper(s);

	if (rs == NULL)
		return "";
	for (int i = RELAY_UPSTREAMS - 1; i >= 0; i--)
		if (rs->up[i] != NULL)
			return rs->up[i]->name;
	return "";
}

/* worker_call_all: adds this worker's orphan upstreams to the count. */
static void
orphan_count_add(void *arg)
{
	*(size_t *)arg += orphans_n;
}

size_t
relay_orphan_count(void)
{
	size_t n = 0;

	worker_call_all(orphan_count_add, &n);
	return n;
}

void
relay_describe(const struct session *s, struct session_info *info, char *buf, size_t len)
{
	const struct relay_state *rs = session_upper(s);
	size_t o = 0;

	buf[0] = '\0';
	info->backend = relay_backend_name(s);
	info->backends = buf;
	info->observing = info->pending = 0;
	if (rs == NULL)
		return;
	for (int i = 0; i < RELAY_UPSTREAMS; i++) {
		const struct upstream *u = rs->up[i];
		int n;

		if (u == NULL)
			continue;
		info->observing += u->observing;
		n = snprintf(buf + o, len - o, "%s%s", o > 0 ? "," : "", u->name);
		if (n > 0 && (size_t)n < len - o)
			o += (size_t)n;
	}
	for (int i = 0; i < RELAY_PENDING; i++)
		info->pending += rs->pend[i].used && !rs->pend[i].timed_out;
}

/* Tells whether a CON request that went out on slot still waits for its answer. */
static bool
relay_busy(const struct relay_state *rs, int slot)
{
	for (int j = 0; j < RELAY_PENDING; j++)
		if (rs->pend[j].used && !rs->pend[j].timed_out && rs->pend[j].slot == slot)
			return true;
	return false;
}

/* The fd store name of a session's upstream socket: up-<session id>-<slot>. */
static void
relay_fdstore_name(char *buf, size_t len, uint32_t id, int slot)
{
	snprintf(buf, len, "up-%08x-%d", id, slot);
}

/* How many upstream sockets a stop may put into the fd store. */
static long
relay_fdstore_budget(void)
{
	const char *e = getenv("FDSTORE"); /* systemd 254+: FileDescriptorStoreMax */
	long max = RELAY_FDSTORE_DEFAULT;
	char *end;

	if (e != NULL && *e != '\0') {
		long v = strtol(e, &end, 10);

		if (*end == '\0' && v >= 0 && v <= 1000000)
			max = v;
	}
	return max > RELAY_FDSTORE_RESERVED ? max - RELAY_FDSTORE_RESERVED : 0;
}

/*
 * A clean stop puts an upstream socket that is saved into systemd's fd store
 * (within the budget), so that what its backend sends while no daemon runs
 * waits in the socket's buffer for the next start. Without a store, or over
 * the budget, the next start binds the old port again.
 */
static void
relay_fdstore_put(const struct session *s, const struct upstream *u)
{
	static long budget = -1;
	static bool full_logged;
	char name[32];

	if (!fdstore_available())
		return;
	if (budget < 0)
		budget = relay_fdstore_budget();
	if (budget == 0) {
		if (!full_logged)
			log_info("event=fdstore-full what=upstream reason=\"more upstream sockets "
			         "than the fd store budget: the rest are bound to their ports "
			         "again\"");
		full_logged = true;
		return;
	}
	relay_fdstore_name(name, sizeof name, session_id(s), u->slot);
	if (fdstore_put(name, u->fd) < 0) {
		log_warn("session=%08x backend %s: cannot put its socket into the fd store",
		    session_id(s), u->name);
		return;
	}
	budget--;
}

/*
 * A clean stop saves a session: its upstreams with a live Observe relation or
 * a request in flight (their local ports, so that the next process binds them
 * again and the backend's notifications and answers keep coming; the sockets
 * themselves go into the fd store when there is one), the MID mappings of
 * those and the requests in flight on them.
 */
static void
relay_session_save(struct session *s, struct state_session *ss)
{
	struct relay_state *rs = session_upper(s);
	uint64_t now = session_now_ms();

	if (rs == NULL)
		return;
	for (int i = 0; i < RELAY_UPSTREAMS && ss->n_up < STATE_UPSTREAMS; i++) {
		struct upstream *u = rs->up[i];
		struct state_upstream *su = &ss->up[ss->n_up];
		struct sockaddr_storage local;
		socklen_t len = sizeof local;

		if (u == NULL || (!u->observing && !relay_busy(rs, u->slot)) ||
		    u->slot >= STATE_UPSTREAMS ||
		    getsockname(u->fd, (struct sockaddr *)&local, &len) < 0)
			continue;
		relay_fdstore_put(s, u);
		su->slot = (uint16_t)u->slot;
		snprintf(su->name, sizeof su->name, "%s", u->name);
		su->backend = u->addr;
		su->backend_len = u->addrlen;
		su->local_port =
		    ntohs(local.ss_family == AF_INET ? ((struct sockaddr_in *)&local)->sin_port
		                                     : ((struct sockaddr_in6 *)&local)->sin6_port);
		su->observing = u->observing;
		ss->n_up++;
	}
	for (int i = 0; i < RELAY_PENDING && ss->n_pend < STATE_PENDING; i++) {
		const struct pending *p = &rs->pend[i];
		bool kept = false;

		for (size_t k = 0; k < ss->n_up; k++)
			kept |= ss->up[k].slot == p->slot;
		if (!p->used || p->timed_out || !kept)
			continue;
		ss->pend[ss->n_pend++] = (struct state_pending){ .mid = p->mid,
			.slot = p->slot,
			.type = p->type,
			.code = p->code,
			.token_len = p->token_len,
			.age_ms = (uint32_t)(now - p->sent_ms),
			.left_ms = (uint32_t)(p->deadline_ms > now ? p->deadline_ms - now : 0) };
		memcpy(ss->pend[ss->n_pend - 1].token, p->token, p->token_len);
	}
	if (rs->mids != NULL) {
		/* Oldest first, from the slot the map fills next. */
		for (int i = 0; i < MID_MAP_SIZE && ss->n_mids < STATE_MIDS; i++) {
			const struct mid_map_entry *e =
			    &rs->mids->e[(rs->mids->head + i) % MID_MAP_SIZE];
			bool kept = false;

			for (size_t k = 0; k < ss->n_up; k++)
				kept |= e->backend >= 0 && ss->up[k].slot == (uint16_t)e->backend;
			if (!kept || now - e->t_ms >= MID_MAP_LIFETIME_MS)
				continue;
			ss->mids[ss->n_mids++] = (struct state_mid){ .device_mid = e->device_mid,
				.backend_mid = e->backend_mid,
				.backend = (uint16_t)e->backend,
				.age_ms = (uint32_t)(now - e->t_ms) };
		}
		ss->next_mid = rs->mids->next_mid;
	}
	ss->last_slot =
	    (int16_t)(rs->last_slot >= 0 && rs->last_slot < STATE_UPSTREAMS ? rs->last_slot : -1);
}

/* Binds fd to port on the backend's first source address of its family, or on any address. */
static int
upstream_bind_port(int fd, const struct backend_conf *b, uint16_t port)
{
	struct sockaddr_storage a;
	socklen_t len;

	memset(&a, 0, sizeof a);
	a.ss_family = b->addr.ss_family;
	for (size_t i = 0; i < b->n_sources; i++) {
		if (b->sources[i].ss_family == a.ss_family) {
			a = b->sources[i];
			break;
		}
	}
	if (a.ss_family == AF_INET) {
		((struct sockaddr_in *)&a)->sin_port = htons(port);
		len = sizeof(struct sockaddr_in);
	} else {
		((struct sockaddr_in6 *)&a)->sin6_port = htons(port);
		len = sizeof(struct sockaddr_in6);
	}
	return bind(fd, (struct sockaddr *)&a, len);
}

/* The port of a socket's local address, or 0. */
static uint16_t
relay_local_port(int fd)
{
	struct sockaddr_storage a;
	socklen_t len = sizeof a;

	if (getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		return 0;
	if (a.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&a)->sin_port);
	if (a.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&a)->sin6_port);
	return 0;
}

/*
 * Takes a saved upstream's socket from the fd store (and drops it from the
 * store: the next stop puts it again if still needed) when it is still bound
 * to the saved port and connected to the backend; -1 otherwise.
 */
static int
relay_fdstore_take(uint32_t id, const struct state_upstream *su, const struct backend_conf *b)
{
	struct sockaddr_storage peer;
	socklen_t len = sizeof peer;
	char name[32];
	int fd, type = 0;
	socklen_t tl = sizeof type;

	relay_fdstore_name(name, sizeof name, id, su->slot);
	if ((fd = fdstore_take_named(name)) < 0)
		return -1;
	fdstore_remove(name);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type != SOCK_DGRAM ||
	    relay_local_port(fd) != su->local_port ||
	    getpeername(fd, (struct sockaddr *)&peer, &len) < 0 || len != b->addrlen ||
	    memcmp(&peer, &b->addr, len) != 0) {
		log_info("event=fdstore-dropped name=\"%s\" reason=\"not the saved upstream "
		         "socket\"",
		    name);
		close(fd);
		return -1;
	}
	/* systemd passes fds blocking and inheritable. */
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Brings back a restored session's upstreams (the sockets kept in the fd
 * store, else new ones on their old local ports), their MID mappings and
 * their requests in flight. An upstream whose backend is gone from the
 * configuration, or moved, or whose port is taken, is left out (logged);
 * the session itself goes on.
 */
static int
relay_session_restore(struct session *s, const struct state_session *ss)
{
	const struct proxy_config *cfg = session_current_config();
	struct relay_state *rs;
	uint64_t now = session_now_ms();
	bool have[STATE_UPSTREAMS] = { false };

	if (ss->n_up == 0)
		return 0;
	if ((rs = relay_state_get(s)) == NULL)
		return -1;
	for (size_t k = 0; k < ss->n_up; k++) {
		const struct state_upstream *su = &ss->up[k];
		const struct backend_conf *b = NULL;
		struct upstream *u;
		bool kept = false;

		for (size_t i = 0; i < cfg->n_backends && b == NULL; i++)
			if (strcmp(cfg->backends[i].name, su->name) == 0)
				b = &cfg->backends[i];
		if (b == NULL || b->addrlen != su->backend_len ||
		    memcmp(&b->addr, &su->backend, b->addrlen) != 0 ||
		    su->slot >= RELAY_UPSTREAMS || rs->up[su->slot] != NULL) {
			log_info("session=%08x backend %s: Observe relation or request in flight "
			         "not restored (the backend is gone or moved)",
			    session_id(s), su->name);
			continue;
		}
		if ((u = calloc(1, sizeof *u)) == NULL)
			return -1;
		u->s = s;
		u->slot = su->slot;
		u->addr = b->addr;
		u->addrlen = b->addrlen;
		snprintf(u->name, sizeof u->name, "%s", b->name);
		u->bs = backend_stats_get(b->name);
		u->observing = su->observing;
		u->fd = relay_fdstore_take(ss->id, su, b);
		if (u->fd < 0)
			u->fd =
			    socket(b->addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		else
			kept = true;
		if (u->fd < 0 || (!kept && upstream_bind_port(u->fd, b, su->local_port) < 0) ||
		    (!kept && connect(u->fd, (const struct sockaddr *)&b->addr, b->addrlen) < 0) ||
		    (u->ev = event_new(relay_base, u->fd, EV_READ | EV_PERSIST, upstream_read_cb,
		         u)) == NULL ||
		    event_add(u->ev, NULL) < 0) {
			log_warn("session=%08x backend %s: cannot bind local port %u again",
			    session_id(s), su->name, su->local_port);
			upstream_free(u);
			continue;
		}
		rs->up[su->slot] = u;
		have[su->slot] = true;
	}
	if (ss->n_mids > 0 && relay_mids(rs) != NULL) {
		mid_map_init(rs->mids, ss->next_mid);
		for (size_t k = 0; k < ss->n_mids; k++) {
			const struct state_mid *m = &ss->mids[k];

			if (have[m->backend] && m->age_ms < MID_MAP_LIFETIME_MS && m->age_ms <= now)
				(void)mid_map_restore(rs->mids, m->backend, m->backend_mid,
				    m->device_mid, now - m->age_ms);
		}
	}
	if (ss->last_slot >= 0 && ss->last_slot < RELAY_UPSTREAMS && have[ss->last_slot])
		rs->last_slot = ss->last_slot;
	/* Requests in flight: the answer matches, a retransmission goes out as before. */
	for (size_t k = 0; k < ss->n_pend && k < RELAY_PENDING; k++) {
		const struct state_pending *q = &ss->pend[k];
		struct pending *p = &rs->pend[k];

		if (!have[q->slot] || q->token_len > sizeof p->token || q->age_ms > now)
			continue;
		*p = (struct pending){ .used = true,
			.slot = (uint8_t)q->slot,
			.mid = q->mid,
			.token_len = q->token_len,
			.type = q->type,
			.code = q->code,
			.sent_ms = now - q->age_ms,
			.deadline_ms = now + q->left_ms };
		memcpy(p->token, q->token, q->token_len);
	}
	pending_arm(rs);
	return 0;
}

const struct session_hooks relay_hooks = {
	.message = relay_from_device,
	.too_large = relay_too_large,
	.parked = relay_session_park,
	.ended = relay_session_end,
	.describe = relay_describe,
	.save = relay_session_save,
	.restore = relay_session_restore,
};

int
relay_init(struct event_base *base)
{
	struct timeval tv = { .tv_sec = 10 };

	relay_base = base;
	TAILQ_INIT(&orphans);
	relay_coap = coap_msg_ctx_new(RELAY_MAX_MSG + 512);
	orphan_sweep = event_new(base, -1, EV_PERSIST, orphan_sweep_cb, NULL);
	if (relay_coap == NULL || orphan_sweep == NULL || event_add(orphan_sweep, &tv) < 0)
		return -1;
	return 0;
}

void
relay_shutdown(void)
{
	while (!TAILQ_EMPTY(&orphans))
		upstream_free(TAILQ_FIRST(&orphans));
	if (orphan_sweep != NULL)
		event_free(orphan_sweep);
	orphan_sweep = NULL;
	coap_msg_ctx_free(relay_coap);
	relay_coap = NULL;
	while (!SLIST_EMPTY(&backend_stats_list)) {
		struct backend_stats *bs = SLIST_FIRST(&backend_stats_list);

		SLIST_REMOVE_HEAD(&backend_stats_list, next);
		free(bs->name);
		free(bs);
	}
}
