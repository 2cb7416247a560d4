/* session.c: the session table and each session's life, from cookie to close. */
#include "config.h"

#include <sys/queue.h>

#include <errno.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <mbedtls/md.h>
#include <mbedtls/ssl.h>

#include "admit.h"
#include "certcheck.h"
#include "clock.h"
#include "configuration.h"
#include "dtls.h"
#include "hspool.h"
#include "log.h"
#include "pool.h"
#include "ratelimit.h"
#include "route.h"
#include "session.h"
#include "state.h"
#include "worker.h"

enum session_state {
	SESSION_HANDSHAKE,   /* cookie valid, handshake in progress */
	SESSION_ESTABLISHED, /* relaying CoAP */
};

struct session {
	struct dtls_link link; /* what mbedTLS's callbacks see */
	uint32_t id;
	enum session_state state;
	struct proxy_config *cfg; /* the snapshot the session was born with */
	mbedtls_ssl_context *ssl; /* NULL while parked */
	unsigned char *parked;    /* mbedtls_ssl_context_save() of a parked session */
	uint32_t parked_len;

	struct session *hnext;                   /* hash chain */
	struct session *cnext;                   /* CID hash chain */
	TAILQ_ENTRY(session) hs_entry;           /* handshakes in progress, oldest first */
	struct session *successor, *predecessor; /* a reconnect and the session it replaces */

	uint64_t created_ms, established_ms, last_active_ms;
	struct event *dtls_timer;
	uint64_t timer_start_ms;
	uint32_t timer_int_ms, timer_fin_ms;
	bool timer_fired; /* the libevent timer for fin_ms went off */

	void *upper; /* the relay's state (upstreams, CoAP); NULL until first used */

	uint64_t bytes_in, bytes_out, msgs_in, msgs_out;
	unsigned badmac_seen;
	const struct client_hello *hello; /* while the first ClientHello is fed */
	uint8_t hello_random[32];         /* client random of the handshake that made it */
	/* what verification found, in words (may quote a CN raw) */
	struct cert_problem cert_problem;
	struct session_cert *cert; /* the client certificate, for `show`; NULL if none */
	const char *cipher;
	uint8_t cid[DTLS_CID_MAX]; /* the proxy's Connection ID for this session */
	uint8_t cid_len;           /* 0: none (not offered, or the client did not ask) */
	bool saved;                /* in the state saved for the next start: no more records */
	bool restored;             /* restored from a saved state; no record from the device yet */
	bool hs_full;              /* its ClientHello asked for a full handshake (admit.h) */
	uint32_t hs_prefix_slot;   /* admit_handshake_add() of its handshake in progress */
	bool on_hs_list;           /* in hs_list (counted in session_hs_n) */
	bool detached;             /* out of the tables, its close pending (see session_detach) */
	struct session_hs *hs;     /* handshake in the pool: its inbox and job; NULL otherwise */
};

/* Datagrams a handshake in the pool keeps for its thread (more are dropped, as on the wire). */
#define SESSION_INBOX 16

/*
 * A handshake run by the pool (hspool.c). While pooled, a pool thread owns
 * the session (its mbedTLS context, link and timer fields); the loop only
 * appends to the inbox (under hspool_lock) and marks a close or failure that
 * the completion (session_hs_done, in the loop) carries out.
 */
struct session_hs {
	struct hspool_job job;
	struct session *s;
	struct {
		uint8_t *data;
		size_t len;
		struct local_addr local;
	} in[SESSION_INBOX]; /* under hspool_lock */
	unsigned n_in;       /* under hspool_lock */
	int result;          /* the last mbedtls_ssl_handshake() return of the thread */
	bool pooled;         /* queued or running in the pool (loop's view) */
	bool close_pending, fail_pending;
	enum close_reason close_why;
	enum hs_failure fail_why;
	char fail_reason[192];
	uint8_t *hello; /* a copy of the first ClientHello, for a no-shared-suite reason */
	size_t hello_len;
};

#define SESSION_MAX_DATAGRAM 2048 /* bytes of CoAP we relay in one datagram */

static _Thread_local struct event_base *session_base;
static _Thread_local struct proxy_config *session_cfg;
static _Thread_local struct session **session_table;
static _Thread_local size_t session_buckets, session_n, session_hs_n, session_parked_n;
/* The same counts over all workers (limits, status), and the peak of sessions_all. */
static atomic_size_t sessions_all, handshakes_all, parked_all, sessions_peak;
static _Thread_local struct event
    *session_sweep_ev; /* once a second: idle, park, handshake backstop */
static _Thread_local TAILQ_HEAD(, session) hs_list; /* TAILQ_INIT in session_init */
static _Thread_local uint64_t session_seed;
static struct session_hooks hooks; /* the layer above */

/*
 * The Connection ID table (RFC 9146): every session that has a CID of the
 * proxy's, hashed by that CID, beside the address table. cid_lens counts the
 * sessions per CID length (a reload may change dtls.cid_length while older
 * sessions keep theirs), so a record's CID is looked up at every length in use.
 */
static _Thread_local struct session **cid_table;
static _Thread_local size_t cid_buckets, cid_n;
static _Thread_local size_t cid_lens[DTLS_CID_MAX + 1];

/* A CID record from another address being fed to its session (one at a time). */
static _Thread_local struct {
	struct session *s;
	const struct datagram *d;
	uint64_t top; /* dtls_record_top before the record */
} cid_move;

static bool session_drive(struct session *s);
static void session_close(struct session *s, enum close_reason why);
static void session_close_text(struct session *s, enum close_reason why, const char *text);
static void session_fail(struct session *s, enum hs_failure why, const char *reason,
    size_t reason_len);
static bool session_park(struct session *s);
static void session_cid_moved(struct session *s);
static bool session_unpark(struct session *s);
static void session_hs_submit(struct session *s);
static void session_hs_run(struct hspool_job *job);
static void session_hs_done(struct hspool_job *job);

/*
 * Puts session s and its successor (a reconnect in progress, if any) in
 * pair, the successor first: closing it leaves s in place, and closing s
 * would re-file its successor. Returns how many (1 or 2).
 */
static size_t
session_pair(struct session *s, struct session *pair[2])
{
	size_t n = 0;

	if (s->successor != NULL)
		pair[n++] = s->successor;
	pair[n++] = s;
	return n;
}

/* Closes session s and its successor, if any, with reason. */
static void
session_close_pair(struct session *s, enum close_reason why)
{
	struct session *pair[2];
	size_t n = session_pair(s, pair);

	for (size_t k = 0; k < n; k++)
		session_close(pair[k], why);
}

static _Thread_local struct pool session_pool = { .size =
	                                              (sizeof(struct session) + 15) & ~(size_t)15 };

/* Returns the next of a few buffers for address text, so a line may hold several. */
static char *
addr_buf(void)
{
	static _Thread_local char bufs[8][64]; /* the handshake threads log too */
	static _Thread_local unsigned i;

	return bufs[i++ % 8];
}

const char *
session_peer_str(const struct session *s)
{
	return addr_format(&s->link.peer.sa, addr_buf(), 64);
}

const char *
session_local_str(const struct session *s)
{
	return local_format(s->link.listener, &s->link.local, addr_buf(), 64);
}

void
session_set_hooks(const struct session_hooks *h)
{
	hooks = *h;
}

uint32_t
session_id(const struct session *s)
{
	return s->id;
}

enum link_auth
session_auth(const struct session *s)
{
	return s->link.auth;
}

const uint8_t *
session_identity(const struct session *s, size_t *len)
{
	*len = s->link.identity_len;
	return s->link.identity;
}

struct proxy_config *
session_config(const struct session *s)
{
	return s->cfg;
}

void *
session_upper(const struct session *s)
{
	return s->upper;
}

void
session_set_upper(struct session *s, void *upper)
{
	s->upper = upper;
}

void
session_count_in(struct session *s, size_t len)
{
	s->bytes_in += len;
	s->msgs_in++;
}

uint64_t
session_now_ms(void)
{
	return clock_ms();
}

struct proxy_config *
session_current_config(void)
{
	return session_cfg;
}

/* Hashes a listener and peer address with the process's random seed. */
static size_t
session_hash(const struct listener *l, const struct sockaddr *peer)
{
	uint64_t h = session_seed ^ (uint64_t)(uintptr_t)l;
	const uint8_t *p;
	size_t n;

	if (peer->sa_family == AF_INET) {
		p = (const uint8_t *)peer + offsetof(struct sockaddr_in, sin_port);
		n = 2 + 4; /* port, then address */
	} else {
		p = (const uint8_t *)peer + offsetof(struct sockaddr_in6, sin6_port);
		n = 2 + 4 + 16; /* port, flowinfo, address */
	}
	for (size_t i = 0; i < n; i++) {
		if (peer->sa_family == AF_INET6 && i >= 2 && i < 6)
			continue; /* flowinfo is not part of the address */
		h = (h ^ p[i]) * 0x100000001b3ULL;
	}
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 32;
	return (size_t)h & (session_buckets - 1);
}

/* Compares two peer addresses (family, address, port). */
static bool
peer_equal(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family)
		return false;
	if (a->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
	return x->sin6_port == y->sin6_port &&
	       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
}

/* Finds the session of a peer on a listener. */
static struct session *
table_find(const struct listener *l, const struct sockaddr *peer)
{
	for (struct session *s = session_table[session_hash(l, peer)]; s != NULL; s = s->hnext)
		if (s->link.listener == l && peer_equal(&s->link.peer.sa, peer))
			return s;
	return NULL;
}

/* Doubles the bucket array when the table gets crowded. */
static void
table_grow(void)
{
	size_t old_n = session_buckets;
	struct session **old = session_table, **nt = calloc(old_n * 2, sizeof *nt);

	if (nt == NULL)
		return; /* longer chains, still correct */
	session_table = nt;
	session_buckets = old_n * 2;
	for (size_t i = 0; i < old_n; i++) {
		for (struct session *s = old[i], *next; s != NULL; s = next) {
			size_t h = session_hash(s->link.listener, &s->link.peer.sa);

			next = s->hnext;
			s->hnext = nt[h];
			nt[h] = s;
		}
	}
	free(old);
}

/*
 * Adds delta to a count of the calling worker (here) and to the same count of
 * all workers (all); sessions_all also moves the peak.
 */
static void
count_add(size_t *here, atomic_size_t *all, int delta)
{
	size_t now =
	    atomic_fetch_add_explicit(all, (size_t)(ptrdiff_t)delta, memory_order_relaxed) +
	    (size_t)(ptrdiff_t)delta;
	size_t peak = atomic_load_explicit(&sessions_peak, memory_order_relaxed);

	*here += (size_t)(ptrdiff_t)delta;
	while (all == &sessions_all && now > peak &&
	       !atomic_compare_exchange_weak_explicit(&sessions_peak, &peak, now,
	           memory_order_relaxed, memory_order_relaxed))
		;
}

/* Puts a session into the table. */
static void
table_insert(struct session *s)
{
	size_t h;

	if (session_n + 1 > session_buckets)
		table_grow();
	h = session_hash(s->link.listener, &s->link.peer.sa);
	s->hnext = session_table[h];
	session_table[h] = s;
	count_add(&session_n, &sessions_all, 1);
	stats_mut()->sessions_peak = session_peak(); /* the highest worker's is the peak */
}

/* Takes a session out of the table, if it is there. */
static void
table_remove(struct session *s)
{
	struct session **pp = &session_table[session_hash(s->link.listener, &s->link.peer.sa)];

	for (; *pp != NULL; pp = &(*pp)->hnext) {
		if (*pp == s) {
			*pp = s->hnext;
			s->hnext = NULL;
			count_add(&session_n, &sessions_all, -1);
			return;
		}
	}
}

/* Hashes a CID with the process's random seed. */
static size_t
cid_hash(const uint8_t *cid, size_t len)
{
	uint64_t h = session_seed ^ len;

	for (size_t i = 0; i < len; i++)
		h = (h ^ cid[i]) * 0x100000001b3ULL;
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 32;
	return (size_t)h & (cid_buckets - 1);
}

/* Finds the session whose CID is these len bytes. */
static struct session *
cid_find(const uint8_t *cid, size_t len)
{
	for (struct session *s = cid_table[cid_hash(cid, len)]; s != NULL; s = s->cnext)
		if (s->cid_len == len && memcmp(s->cid, cid, len) == 0)
			return s;
	return NULL;
}

/* Finds the session a tls12_cid record is for, trying every CID length in use. */
static struct session *
cid_find_record(const struct datagram *d)
{
	const uint8_t *cid;
	struct session *s;

	for (size_t len = DTLS_CID_MIN; len <= DTLS_CID_MAX; len++) {
		if (cid_lens[len] == 0 || !dtls_cid_record(d->data, d->len, len, &cid))
			continue;
		if ((s = cid_find(cid, len)) != NULL)
			return s;
	}
	return NULL;
}

/* Doubles the CID bucket array when it gets crowded. */
static void
cid_grow(void)
{
	size_t old_n = cid_buckets;
	struct session **old = cid_table, **nt = calloc(old_n * 2, sizeof *nt);

	if (nt == NULL)
		return; /* longer chains, still correct */
	cid_table = nt;
	cid_buckets = old_n * 2;
	for (size_t i = 0; i < old_n; i++) {
		for (struct session *s = old[i], *next; s != NULL; s = next) {
			size_t h = cid_hash(s->cid, s->cid_len);

			next = s->cnext;
			s->cnext = nt[h];
			nt[h] = s;
		}
	}
	free(old);
}

/* Puts a session with a CID into the CID table. */
static void
cid_insert(struct session *s)
{
	size_t h;

	if (cid_n + 1 > cid_buckets)
		cid_grow();
	h = cid_hash(s->cid, s->cid_len);
	s->cnext = cid_table[h];
	cid_table[h] = s;
	cid_n++;
	cid_lens[s->cid_len]++;
}

/* Takes a session out of the CID table and forgets its CID. */
static void
cid_remove(struct session *s)
{
	struct session **pp;

	if (s->cid_len == 0)
		return;
	for (pp = &cid_table[cid_hash(s->cid, s->cid_len)]; *pp != NULL; pp = &(*pp)->cnext) {
		if (*pp == s) {
			*pp = s->cnext;
			cid_n--;
			cid_lens[s->cid_len]--;
			break;
		}
	}
	s->cnext = NULL;
	s->cid_len = 0;
}

/*
 * Gives a new session a fresh CID, unique among live sessions, when cfg
 * offers CIDs; it is only put to use if the client asks for one.
 */
static void
cid_assign(struct session *s)
{
	if (!s->cfg->connection_id)
		return;
	for (int tries = 0; tries < 8; tries++) {
		if (dtls_cid_make(s->cid, s->cfg->cid_length, (uint8_t)worker_self()) < 0)
			return;
		if (cid_find(s->cid, s->cfg->cid_length) == NULL) {
			s->cid_len = (uint8_t)s->cfg->cid_length;
			return;
		}
	}
}

/* A session's CID as hex text ("" if none), in one of the rotating buffers. */
static const char *
cid_str(const struct session *s)
{
	char *buf = addr_buf();

	buf[0] = '\0';
	for (size_t i = 0; i < s->cid_len; i++)
		snprintf(buf + 2 * i, 3, "%02x", s->cid[i]);
	return buf;
}

/* Appends a session to the list of handshakes in progress. */
static void
hs_list_add(struct session *s)
{
	TAILQ_INSERT_TAIL(&hs_list, s, hs_entry);
	s->on_hs_list = true;
	count_add(&session_hs_n, &handshakes_all, 1);
	s->hs_prefix_slot = admit_handshake_add(&s->link.peer.sa);
}

/* Takes a session off the list of handshakes in progress. */
static void
hs_list_remove(struct session *s)
{
	if (!s->on_hs_list)
		return;
	TAILQ_REMOVE(&hs_list, s, hs_entry);
	s->on_hs_list = false;
	count_add(&session_hs_n, &handshakes_all, -1);
	admit_handshake_done(s->hs_prefix_slot);
	s->hs_prefix_slot = 0;
}

void
session_event(const struct session *s, struct log_event *ev, const char *event)
{
	ev->event = event;
	ev->session = s->id;
	ev->peer = session_peer_str(s);
	ev->local = session_local_str(s);
	if (s->state == SESSION_ESTABLISHED && s->link.auth != LINK_AUTH_NONE) {
		ev->auth = dtls_auth_name(s->link.auth);
		if (s->link.auth != LINK_AUTH_ANONYMOUS) {
			ev->identity = (const char *)s->link.identity;
			ev->identity_len = s->link.identity_len;
		}
	} else if (s->link.auth == LINK_AUTH_NONE &&
	           (s->link.psk_identity_seen || s->link.identity_len > 0)) {
		/* Not proven (yet): the PSK identity or certificate CN the device sent. */
		ev->auth =
		    dtls_auth_name(s->link.psk_identity_seen ? LINK_AUTH_PSK : LINK_AUTH_X509);
		ev->identity = (const char *)s->link.identity;
		ev->identity_len = s->link.identity_len;
	}
	ev->cipher = s->cipher;
	if (s->cid_len > 0 && s->state == SESSION_ESTABLISHED)
		log_event_add(ev, "cid", cid_str(s), false);
}

/* mbedTLS timer: remembers the delays and arms a libevent timer for the final one. */
static void
session_set_timer_cb(void *ctx, uint32_t int_ms, uint32_t fin_ms)
{
	struct session *s = ctx;

	s->timer_int_ms = int_ms;
	s->timer_fin_ms = fin_ms;
	s->timer_fired = false;
	s->timer_start_ms = clock_ms();
	/* In a pool thread: no libevent call; the completion arms the timer. */
	if (s->hs != NULL && s->hs->pooled)
		return;
	if (fin_ms == 0) {
		evtimer_del(s->dtls_timer);
		return;
	}
	struct timeval tv = { .tv_sec = fin_ms / 1000, .tv_usec = (fin_ms % 1000) * 1000 };

	evtimer_add(s->dtls_timer, &tv);
}

/* mbedTLS timer: -1 cancelled, 0 running, 1 intermediate passed, 2 final passed. */
static int
session_get_timer_cb(void *ctx)
{
	struct session *s = ctx;
	uint64_t elapsed;

	if (s->timer_fin_ms == 0)
		return -1;
	elapsed = clock_ms() - s->timer_start_ms;
	/* libevent may fire a hair before fin_ms by our clock: its firing counts. */
	if (s->timer_fired || elapsed >= s->timer_fin_ms)
		return 2;
	if (elapsed >= s->timer_int_ms)
		return 1;
	return 0;
}

/* libevent: the DTLS retransmission timer fired; let mbedTLS act on it. */
static void
session_dtls_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;

	(void)fd;
	(void)what;
	if (s->hs != NULL) {
		/* Pooled: the completion re-arms it from what the thread set. */
		if (!s->hs->pooled) {
			s->timer_fired = true;
			session_hs_submit(s);
		}
		return;
	}
	s->timer_fired = true;
	session_drive(s);
}

/*
 * Checks one session's clocks: a handshake past its backstop fails, an idle
 * session closes, a quiet one is parked. Returns true if it parked.
 */
static bool
session_check(struct session *s, uint64_t now)
{
	uint64_t quiet = now - s->last_active_ms;

	if (s->state == SESSION_HANDSHAKE) {
		/* mbedTLS gives up at handshake_timeout_max; this is the backstop. */
		if (now - s->created_ms >= 4 * (uint64_t)s->cfg->handshake_timeout_max + 2000)
			session_fail(s, HS_FAIL_TIMEOUT,
			    "timeout: the handshake did not complete in time", 0);
		return false;
	}
	if (quiet >= (uint64_t)s->cfg->idle_timeout * 1000) {
		session_close(s, CLOSE_IDLE);
		return false;
	}
	return s->cfg->park_after > 0 && s->parked == NULL &&
	       quiet >= (uint64_t)s->cfg->park_after * 1000 && session_park(s);
}

/*
 * libevent, once a second: checks every session (one pass over the table
 * instead of a timer per session, which a parked session could not afford),
 * then gives the memory of parked sessions back to the system.
 */
static void
session_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	uint64_t now = clock_ms();
	bool parked = false;

	(void)fd;
	(void)what;
	(void)arg;
	for (size_t i = 0; i < session_buckets; i++) {
		for (struct session *s = session_table[i], *next; s != NULL; s = next) {
			struct session *pair[2];
			size_t n = session_pair(s, pair);

			next = s->hnext;
			for (size_t k = 0; k < n; k++)
				parked |= session_check(pair[k], now);
		}
	}
	if (parked)
		malloc_trim(0);
}

/* mbedTLS verify callback: logs each certificate the client presents. */
static int
session_verify_cb(void *ctx, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
	struct session *s = ctx;
	struct log_event ev = LOG_EVENT_INIT;
	const unsigned char *subject, *issuer;
	size_t subject_len, issuer_len;
	char depth_s[16], until[32], why[256];

	cert_name_cn(&crt->subject, &subject, &subject_len);
	cert_name_cn(&crt->issuer, &issuer, &issuer_len);
	snprintf(depth_s, sizeof depth_s, "%d", depth);
	snprintf(until, sizeof until, "%04d-%02d-%02dT%02d:%02d:%02dZ", crt->valid_to.year,
	    crt->valid_to.mon, crt->valid_to.day, crt->valid_to.hour, crt->valid_to.min,
	    crt->valid_to.sec);
	session_event(s, &ev, "client-cert");
	log_event_add(&ev, "depth", depth_s, false);
	log_event_add_bytes(&ev, "subject", subject, subject_len);
	log_event_add_bytes(&ev, "issuer", issuer, issuer_len);
	log_event_add(&ev, "valid_until", until, true);
	if (*flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED && s->cfg->x509 != NULL)
		cert_check_issuer(&s->cert_problem, crt, &s->cfg->x509->client_ca);
	if (depth == 0 && !cert_cn_ok(&s->cert_problem, crt))
		*flags |= MBEDTLS_X509_BADCERT_OTHER;
	else if (depth == 0 && !s->link.psk_identity_seen) {
		/* The name it claims, for the log of a handshake that fails from here on. */
		memcpy(s->link.identity, subject, subject_len);
		s->link.identity_len = (uint16_t)subject_len;
	}
	if (*flags != 0) {
		dtls_verify_reason(*flags, why, sizeof why);
		if (s->cert_problem.text != NULL)
			log_event_add_bytes(&ev, "problem", s->cert_problem.text,
			    s->cert_problem.len);
		else
			log_event_add(&ev, "problem", why, true);
	}
	log_event(LOG_LVL_INFO, &ev);
	return 0;
}

/* Allocates a session for a peer whose cookie is valid. */
static struct session *
session_new(const struct datagram *d, uint32_t id)
{
	struct session *s = pool_alloc(&session_pool);

	if (s == NULL || d->peerlen > sizeof s->link.peer) {
		pool_free(&session_pool, s);
		return NULL;
	}
	s->id = id;
	s->link.session_id = id;
	s->link.listener = d->listener;
	memcpy(&s->link.peer, &d->peer, d->peerlen);
	s->link.peerlen = d->peerlen;
	s->link.local = d->local;
	s->cfg = config_ref(session_cfg);
	s->created_ms = s->last_active_ms = clock_ms();
	s->dtls_timer = evtimer_new(session_base, session_dtls_timer_cb, s);
	cid_assign(s);
	s->ssl = dtls_new_context(s->cfg, &s->link, s->cid_len > 0 ? s->cid : NULL, s->cid_len);
	if (hspool_active() && (s->hs = calloc(1, sizeof *s->hs)) != NULL) {
		s->hs->s = s;
		s->hs->job.run = session_hs_run;
		s->hs->job.done = session_hs_done;
		s->link.direct = true; /* records leave from the pool thread */
	}
	if (s->dtls_timer == NULL || s->ssl == NULL || (hspool_active() && s->hs == NULL)) {
		if (s->dtls_timer)
			event_free(s->dtls_timer);
		dtls_free(s->ssl);
		free(s->hs);
		config_unref(s->cfg);
		pool_free(&session_pool, s);
		return NULL;
	}
	mbedtls_ssl_set_timer_cb(s->ssl, s, session_set_timer_cb, session_get_timer_cb);
	if (s->cfg->x509 != NULL)
		mbedtls_ssl_set_verify(s->ssl, session_verify_cb, s);
	if (s->cid_len > 0)
		cid_insert(s); /* the client's Finished already carries the CID */
	hs_list_add(s);
	return s;
}

/*
 * Parks an idle established session: saves its DTLS state (about 220 bytes
 * for PSK, 500 with a client certificate) and frees the mbedTLS context with
 * its two 16 KB record buffers. Invisible to the device: the next record
 * from it, or from a backend, brings the context back. Returns true if parked.
 */
static bool
session_park(struct session *s)
{
	size_t len = 0;
	unsigned char *buf;

	if (s->state != SESSION_ESTABLISHED || s->ssl == NULL || s->successor != NULL ||
	    dtls_handshake_pending(s->ssl) || /* the first application record is still to come */
	    mbedtls_ssl_context_save(s->ssl, NULL, 0, &len) != MBEDTLS_ERR_SSL_BUFFER_TOO_SMALL ||
	    len == 0 || len > UINT32_MAX)
		return false;
	buf = pool_blob_alloc(len);
	if (buf == NULL)
		return false;
	if (mbedtls_ssl_context_save(s->ssl, buf, len, &len) != 0) {
		pool_blob_free(buf, len);
		return false;
	}
	dtls_free(s->ssl);
	s->ssl = NULL;
	event_free(s->dtls_timer);
	s->dtls_timer = NULL;
	s->parked = buf;
	s->parked_len = (uint32_t)len;
	count_add(&session_parked_n, &parked_all, 1);
	stats_mut()->parked++;
	if (hooks.parked != NULL)
		hooks.parked(s);
	if (log_enabled(LOG_LVL_DEBUG)) {
		struct log_event ev = LOG_EVENT_INIT;
		char bytes[24], state[24];

		/* What a parked session costs: its slot and its saved state (in 32-byte classes). */
		snprintf(bytes, sizeof bytes, "%zu",
		    session_pool.size + ((len + 31) & ~(size_t)31));
		snprintf(state, sizeof state, "%zu", len);
		session_event(s, &ev, "session-parked");
		log_event_add(&ev, "bytes", bytes, false);
		log_event_add(&ev, "state_bytes", state, false);
		log_event(LOG_LVL_DEBUG, &ev);
	}
	return true;
}

/* Brings back the DTLS state of a parked session; false (session untouched) on failure. */
static bool
session_unpark(struct session *s)
{
	mbedtls_ssl_context *ssl;

	if (s->parked == NULL)
		return s->ssl != NULL;
	ssl = dtls_restore_context(s->cfg, &s->link, s->parked, s->parked_len);
	s->dtls_timer = evtimer_new(session_base, session_dtls_timer_cb, s);
	if (ssl == NULL || s->dtls_timer == NULL) {
		dtls_free(ssl);
		if (s->dtls_timer != NULL)
			event_free(s->dtls_timer);
		s->dtls_timer = NULL;
		log_warnx("session=%08x peer=%s cannot restore the parked session", s->id,
		    session_peer_str(s));
		return false;
	}
	mbedtls_ssl_set_timer_cb(ssl, s, session_set_timer_cb, session_get_timer_cb);
	s->ssl = ssl;
	pool_blob_free(s->parked, s->parked_len);
	s->parked = NULL;
	s->parked_len = 0;
	count_add(&session_parked_n, &parked_all, -1);
	stats_mut()->unparked++;
	return true;
}

const char *const close_reason_names[CLOSE_REASON_COUNT] = {
	[CLOSE_NOTIFY] = "close_notify",
	[CLOSE_PEER_ALERT] = "fatal alert",
	[CLOSE_DTLS_ERROR] = "DTLS error",
	[CLOSE_ADDRESS_TAKEN] = "address taken over",
	[CLOSE_IDLE] = "idle timeout",
	[CLOSE_HANDSHAKE_FAILED] = "handshake failed",
	[CLOSE_REPLACED] = "replaced",
	[CLOSE_RESTORE_FAILED] = "cannot restore the parked session",
	[CLOSE_REVOKED] = "credentials-revoked",
	[CLOSE_LISTENER_REMOVED] = "listener removed",
	[CLOSE_CONTROL] = "closed by coaps-proxyctl",
	[CLOSE_SHUTDOWN] = "shutdown",
	[CLOSE_SAVED] = "saved for the next start",
};

/*
 * Takes a closing session out of the address table (its reconnect in
 * progress, if any, takes its place) and the handshake list: nothing finds
 * it any more, even while a pool thread still owns it. Once only.
 */
static void
session_detach(struct session *s)
{
	struct session *succ = s->successor;

	if (s->detached)
		return;
	s->detached = true;
	if (s->predecessor != NULL) {
		s->predecessor->successor = NULL;
		s->predecessor = NULL;
	} else {
		table_remove(s);
		if (succ != NULL) {
			/* The reconnecting device goes on in its own right. */
			succ->predecessor = NULL;
			s->successor = NULL;
			table_insert(succ);
		}
	}
	hs_list_remove(s);
}

/* Frees the pool part of a session (its inbox and hello copy); the session is the loop's. */
static void
session_hs_free(struct session *s)
{
	if (s->hs == NULL)
		return;
	for (unsigned i = 0; i < s->hs->n_in; i++)
		free(s->hs->in[i].data);
	free(s->hs->hello);
	free(s->hs);
	s->hs = NULL;
	s->link.direct = false;
}

/* Ends a session for a reason whose text is close_reason_names[why]. */
static void
session_close(struct session *s, enum close_reason why)
{
	session_close_text(s, why, NULL);
}

/*
 * The one way a session ends: stops its events, says goodbye to an
 * established peer when we are the ones closing, logs once (reason text, or
 * close_reason_names[why] if text is NULL) and frees.
 */
static void
session_close_text(struct session *s, enum close_reason why, const char *text)
{
	struct log_event ev = LOG_EVENT_INIT;
	const char *reason = text != NULL ? text : close_reason_names[why];
	/* The device closed, sent a fatal alert, or another device holds its address now. */
	bool peer_gone =
	    why == CLOSE_NOTIFY || why == CLOSE_PEER_ALERT || why == CLOSE_ADDRESS_TAKEN;

	if (s->hs != NULL && s->hs->pooled) {
		/* A pool thread owns it: the completion closes it (the first reason wins). */
		if (!s->hs->close_pending && !s->hs->fail_pending) {
			s->hs->close_pending = true;
			s->hs->close_why = why;
		}
		session_detach(s);
		return;
	}
	if (s->saved)
		reason = close_reason_names[CLOSE_SAVED];
	/* A saved session goes on in the next process: it must not send another record. */
	if (s->state == SESSION_ESTABLISHED && !peer_gone && !s->saved && session_unpark(s))
		mbedtls_ssl_close_notify(s->ssl);
	session_event(s, &ev, "session-closed");
	ev.reason = reason;
	ev.duration_ms = (long)(clock_ms() - s->created_ms);
	ev.bytes_in = (long long)s->bytes_in;
	ev.bytes_out = (long long)s->bytes_out;
	ev.msgs_in = (long long)s->msgs_in;
	ev.msgs_out = (long long)s->msgs_out;
	log_event(LOG_LVL_INFO, &ev);

	session_detach(s);
	cid_remove(s);
	if (cid_move.s == s)
		cid_move.s = NULL;
	if (hooks.ended != NULL)
		hooks.ended(s);
	if (s->dtls_timer != NULL)
		event_free(s->dtls_timer);
	dtls_free(s->ssl);
	if (s->parked != NULL) {
		count_add(&session_parked_n, &parked_all, -1);
		pool_blob_free(s->parked, s->parked_len);
	}
	cert_problem_free(&s->cert_problem);
	free(s->cert);
	session_hs_free(s);
	config_unref(s->cfg);
	pool_free(&session_pool, s);
}

/* Logs a failed handshake and closes the session; reason_len 0: reason is a C string. */
static void
session_fail(struct session *s, enum hs_failure why, const char *reason, size_t reason_len)
{
	struct log_event ev = LOG_EVENT_INIT;

	if (s->hs != NULL && s->hs->pooled) {
		/* A pool thread owns it: the completion logs and closes it. */
		if (!s->hs->close_pending && !s->hs->fail_pending) {
			s->hs->fail_pending = true;
			s->hs->fail_why = why;
			snprintf(s->hs->fail_reason, sizeof s->hs->fail_reason, "%.*s",
			    (int)(reason_len != 0 ? reason_len : strlen(reason)), reason);
		}
		session_detach(s);
		return;
	}
	stats_mut()->handshakes_failed++;
	stats_mut()->handshakes_failed_by[why]++;
	session_event(s, &ev, "handshake-failed");
	ev.reason = reason;
	ev.reason_len = reason_len;
	ev.duration_ms = (long)(clock_ms() - s->created_ms);
	log_event(LOG_LVL_WARNING, &ev);
	session_close(s, CLOSE_HANDSHAKE_FAILED);
}

/*
 * Records how the peer authenticated and as whom: PSK identity, certificate
 * subject CN (cert_cn_ok refused any that is not a whole, NUL-free
 * name), or anonymous with no identity at all: "anonymous" is a kind, never
 * a name, so no certificate can claim it.
 */
static void
session_set_identity(struct session *s)
{
	const mbedtls_x509_crt *peer = mbedtls_ssl_get_peer_cert(s->ssl);
	const unsigned char *cn;
	size_t n;

	if (s->link.psk_identity_seen && !s->link.psk_identity_unknown) {
		s->link.auth = LINK_AUTH_PSK; /* the PSK identity is in link.identity already */
		return;
	}
	s->link.identity_len = 0;
	if (peer == NULL) {
		s->link.auth = LINK_AUTH_ANONYMOUS;
		return;
	}
	s->link.auth = LINK_AUTH_X509;
	if (cert_name_cn(&peer->subject, &cn, &n) && n <= sizeof s->link.identity &&
	    memchr(cn, '\0', n) == NULL) {
		memcpy(s->link.identity, cn, n);
		s->link.identity_len = (uint16_t)n;
	}
}

/* Tells whether the credentials a session authenticated with still hold under cfg. */
static bool
session_credentials_hold(const struct session *s, const struct proxy_config *cfg)
{
	const mbedtls_x509_crt *peer;
	uint32_t flags = 0;

	if (s->link.psk_identity_seen) {
		const struct psk_conf *now =
		    config_psk_find(cfg, s->link.identity, s->link.identity_len);
		const struct psk_conf *then =
		    config_psk_find(s->cfg, s->link.identity, s->link.identity_len);

		return now != NULL && then != NULL && now->key_len == then->key_len &&
		       memcmp(now->key, then->key, now->key_len) == 0;
	}
	if (cfg->x509 == NULL)
		return false;
	if (!session_unpark((struct session *)(uintptr_t)s))
		return false;
	peer = mbedtls_ssl_get_peer_cert(s->ssl);
	if (cfg->x509->verify_client == VERIFY_CLIENT_NONE)
		return true;
	if (peer == NULL)
		return cfg->x509->verify_client == VERIFY_CLIENT_OPTIONAL;
	return mbedtls_x509_crt_verify((mbedtls_x509_crt *)(uintptr_t)peer, &cfg->x509->client_ca,
	           cfg->x509->has_crl ? &cfg->x509->crl : NULL, NULL, &flags, NULL, NULL) == 0;
}

/* The client certificate of a session, kept for `show` (parking drops the peer's chain). */
struct session_cert {
	char subject[256], issuer[256];
	int64_t not_after;
};

/* Remembers subject, issuer and expiry of the client certificate (best effort). */
static void
session_keep_cert(struct session *s, const mbedtls_x509_crt *peer)
{
	if (peer == NULL || (s->cert = malloc(sizeof *s->cert)) == NULL)
		return;
	dtls_x509_name(&peer->subject, s->cert->subject, sizeof s->cert->subject);
	dtls_x509_name(&peer->issuer, s->cert->issuer, sizeof s->cert->issuer);
	s->cert->not_after = dtls_x509_time_unix(&peer->valid_to);
}

/* A handshake completed: checks what mbedTLS leaves to us and logs it. */
static bool
session_established(struct session *s)
{
	struct log_event ev = LOG_EVENT_INIT;
	const mbedtls_x509_crt *peer = mbedtls_ssl_get_peer_cert(s->ssl);
	uint32_t flags = mbedtls_ssl_get_verify_result(s->ssl);
	bool resumed;

	hs_list_remove(s);
	if (s->cid_len > 0 && !dtls_cid_in_use(s->ssl))
		cid_remove(s); /* the client did not ask for a CID: served by address alone */
	s->cipher = mbedtls_ssl_get_ciphersuite(s->ssl);
	s->established_ms = clock_ms();
	/* verify_client = optional: a certificate that was sent must verify. */
	if (peer != NULL && flags != 0 && s->cfg->x509 != NULL &&
	    s->cfg->x509->verify_client != VERIFY_CLIENT_NONE) {
		char why[256], reason[1400];
		size_t n;

		dtls_verify_reason(flags, why, sizeof why);
		n = cert_problem_reason(&s->cert_problem, why, reason, sizeof reason);
		mbedtls_ssl_send_alert_message(s->ssl, MBEDTLS_SSL_ALERT_LEVEL_FATAL,
		    MBEDTLS_SSL_ALERT_MSG_BAD_CERT);
		s->state = SESSION_ESTABLISHED;
		session_fail(s, HS_FAIL_CERTIFICATE, reason, n);
		return false;
	}
	resumed = dtls_resume_finish(s->ssl, &s->link);
	session_set_identity(s);
	session_keep_cert(s, peer);
	/* A handshake that began before a reload must satisfy the new credentials too. */
	if (s->cfg != session_cfg && !session_credentials_hold(s, session_cfg)) {
		s->state = SESSION_ESTABLISHED;
		session_fail(s, HS_FAIL_OTHER,
		    "credentials-revoked by a reload during the handshake", 0);
		return false;
	}
	s->state = SESSION_ESTABLISHED;
	stats_handshake_ok(s->established_ms - s->created_ms);
	stats_mut()->handshakes_resumed += resumed;
	session_event(s, &ev, "handshake-ok");
	log_event_add(&ev, "resumed", resumed ? "yes" : "no", false);
	ev.duration_ms = (long)(s->established_ms - s->created_ms);
	log_event(LOG_LVL_INFO, &ev);

	if (s->predecessor != NULL) {
		struct session *old = s->predecessor;

		/* A reconnect completed: it takes the old session's place. */
		old->successor = NULL;
		s->predecessor = NULL;
		session_close(old, CLOSE_REPLACED);
		table_insert(s);
	}
	return true;
}

int
session_send(struct session *s, const uint8_t *buf, size_t len)
{
	int r;

	if (s->state != SESSION_ESTABLISHED || !session_unpark(s))
		return -1;
	r = mbedtls_ssl_write(s->ssl, buf, len);
	if (r < 0) {
		log_debug("session=%08x %zu bytes to the device not sent: -0x%04x", s->id, len,
		    (unsigned)-r);
		return -1;
	}
	s->bytes_out += len;
	s->msgs_out++;
	stats_mut()->msgs_relayed_out++;
	s->last_active_ms = clock_ms();
	return 0;
}

size_t
session_send_max(struct session *s)
{
	int r;

	if (s->state != SESSION_ESTABLISHED || !session_unpark(s))
		return SIZE_MAX;
	r = mbedtls_ssl_get_max_out_record_payload(s->ssl);
	return r > 0 ? (size_t)r : SIZE_MAX;
}

/*
 * Reads and drops the rest of an application record longer than buf (len
 * bytes of it read so far) and hands its head to the relay: one record is
 * one CoAP message, never split into two.
 */
static void
session_record_too_large(struct session *s, uint8_t *buf, size_t len)
{
	uint8_t head[12]; /* header and token */
	size_t hlen = len < sizeof head ? len : sizeof head, size = len;
	int r;

	memcpy(head, buf, hlen);
	while (mbedtls_ssl_get_bytes_avail(s->ssl) > 0) {
		r = mbedtls_ssl_read(s->ssl, buf, len);
		if (r <= 0)
			break;
		size += (size_t)r;
	}
	if (hooks.too_large != NULL)
		hooks.too_large(s, head, hlen, size, len);
}

/* Classifies a handshake error (dtls_error_kind) for the counters. */
static enum hs_failure
hs_failure_class(enum dtls_error kind)
{
	switch (kind) {
	case DTLS_E_UNKNOWN_IDENTITY:
		return HS_FAIL_UNKNOWN_IDENTITY;
	case DTLS_E_BAD_MAC:
		return HS_FAIL_WRONG_KEY;
	case DTLS_E_NO_SHARED_SUITE:
		return HS_FAIL_NO_SHARED_SUITE;
	case DTLS_E_TIMEOUT:
		return HS_FAIL_TIMEOUT;
	case DTLS_E_PEER_ALERT:
		return HS_FAIL_PEER_ALERT;
	case DTLS_E_CERT_VERIFY:
	case DTLS_E_BAD_CERT:
	case DTLS_E_CHAIN:
	case DTLS_E_NO_CLIENT_CERT:
		return HS_FAIL_CERTIFICATE;
	default:
		return HS_FAIL_OTHER;
	}
}

/* Explains a cipher suite mismatch: what the client offered, what we enable, what is missing. */
static void
session_no_shared_suite(const struct session *s, char *buf, size_t len)
{
	char offered[1024], enabled[512], missing[256];

	dtls_offered_suites(s->hello, offered, sizeof offered);
	dtls_enabled_suites(s->cfg, enabled, sizeof enabled);
	dtls_missing_credential(s->hello, s->cfg, missing, sizeof missing);
	snprintf(buf, len, "no shared cipher suite: %s; client offered %s; enabled here %s",
	    missing, offered, enabled);
}

/*
 * Acts on what mbedtls_ssl_handshake returned (r), in the loop: still in
 * progress (0), established (1, application records may follow), or failed
 * and closed (-1).
 */
static int
session_handshake_end(struct session *s, int r)
{
	char reason[2048];
	size_t reason_len = 0;

	if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE)
		return 0;
	if (r != 0) {
		if (dtls_error_kind(s->ssl, r) == DTLS_E_NO_SHARED_SUITE && s->hello != NULL)
			session_no_shared_suite(s, reason, sizeof reason);
		else if (r == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED && s->cert_problem.text != NULL)
			reason_len =
			    cert_problem_reason(&s->cert_problem, "", reason, sizeof reason);
		else
			reason_len =
			    dtls_failure_reason(s->ssl, &s->link, r, reason, sizeof reason);
		session_fail(s, hs_failure_class(dtls_error_kind(s->ssl, r)), reason, reason_len);
		return -1;
	}
	return session_established(s) ? 1 : -1;
}

/*
 * Reads the application records mbedTLS has for an established session.
 * Returns false if the session was closed.
 */
static bool
session_read_records(struct session *s)
{
	uint8_t buf[SESSION_MAX_DATAGRAM];
	char reason[2048];
	int r;

	s->badmac_seen = dtls_badmac_count(s->ssl);
	for (;;) {
		r = mbedtls_ssl_read(s->ssl, buf, sizeof buf);
		if (cid_move.s == s)
			session_cid_moved(s);
		if (r > 0) {
			s->last_active_ms = clock_ms();
			if (mbedtls_ssl_get_bytes_avail(s->ssl) > 0)
				session_record_too_large(s, buf, sizeof buf);
			else if (hooks.message != NULL)
				hooks.message(s, buf, (size_t)r);
			continue;
		}
		if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE)
			break;
		if (r == 0 || r == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
			session_close(s, CLOSE_NOTIFY);
			return false;
		}
		if (r == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE) {
			dtls_alert_reason(dtls_alert_received(s->ssl), reason, sizeof reason);
			session_close_text(s, CLOSE_PEER_ALERT, reason);
			return false;
		}
		dtls_failure_reason(s->ssl, &s->link, r, reason, sizeof reason);
		/* dtls_failure_reason words a received alert as dtls_alert_reason does. */
		session_close_text(s,
		    dtls_error_kind(s->ssl, r) == DTLS_E_PEER_ALERT ? CLOSE_PEER_ALERT
		                                                    : CLOSE_DTLS_ERROR,
		    reason);
		return false;
	}
	if (dtls_badmac_count(s->ssl) != s->badmac_seen) {
		stats_mut()->badmac_dropped += dtls_badmac_count(s->ssl) - s->badmac_seen;
		log_debug("session=%08x peer=%s dropped %u record(s) with a bad MAC", s->id,
		    session_peer_str(s), dtls_badmac_count(s->ssl) - s->badmac_seen);
		s->badmac_seen = dtls_badmac_count(s->ssl);
	}
	return true;
}

/*
 * Advances the handshake of s on the datagram in s->link.rx (or on its
 * timer). mbedTLS looks at its retransmission timer before it reads: if the
 * timer ran out while the datagram waited (a busy loop or pool, a stopped
 * process), it resends its flight and returns without reading. A second call
 * reads it: the client's flight is not thrown away, which would cost the
 * client a retransmission timeout (seconds on a Thread network).
 */
static int
session_handshake_step(struct session *s)
{
	int r = mbedtls_ssl_handshake(s->ssl);

	if (r == MBEDTLS_ERR_SSL_WANT_READ && s->link.rx != NULL && s->link.rx_len > 0)
		r = mbedtls_ssl_handshake(s->ssl);
	return r;
}

/*
 * Lets mbedTLS work on what arrived (or on a timer): advances the handshake,
 * then reads application records. Returns false if the session was closed.
 */
static bool
session_drive(struct session *s)
{
	if (!session_unpark(s)) {
		session_close(s, CLOSE_RESTORE_FAILED);
		return false;
	}
	if (s->state == SESSION_HANDSHAKE) {
		/*
		 * A bad MAC on the record that should be the client's Finished ends
		 * the handshake inside mbedTLS (wrong key); any other record that
		 * does not decrypt is dropped, as DTLS wants under loss and reordering.
		 */
		int k = session_handshake_end(s, session_handshake_step(s));

		if (k <= 0)
			return k == 0;
	}
	return session_read_records(s);
}

/* Submits a handshake to the pool (the loop gives it up until session_hs_done). */
static void
session_hs_submit(struct session *s)
{
	if (!hspool_active())
		return; /* stopping: the session ends with the rest */
	s->hs->pooled = true;
	s->hs->result = MBEDTLS_ERR_SSL_WANT_READ;
	hspool_submit(&s->hs->job);
}

/* Copies a datagram for a handshake in the pool into its inbox and submits it if idle. */
static void
session_hs_queue(struct session *s, const struct datagram *d)
{
	struct session_hs *hs = s->hs;
	uint8_t *copy = malloc(d->len);

	if (copy == NULL)
		return; /* lost, as on the wire: the client retransmits */
	memcpy(copy, d->data, d->len);
	hspool_lock();
	if (hs->n_in < SESSION_INBOX) {
		hs->in[hs->n_in].data = copy;
		hs->in[hs->n_in].len = d->len;
		hs->in[hs->n_in].local = d->local;
		hs->n_in++;
		copy = NULL;
	}
	hspool_unlock();
	free(copy);
	if (!hs->pooled)
		session_hs_submit(s);
}

/*
 * In a pool thread, which owns s: runs the handshake on each datagram of the
 * inbox (or once, for the retransmission timer) until it waits for the
 * client, completes or fails. Sends go out directly (link.direct); no
 * libevent, no log of the loop's, no pool allocator here.
 */
static void
session_hs_run(struct hspool_job *job)
{
	struct session_hs *hs = (struct session_hs *)(void *)job;
	struct session *s = hs->s;
	bool first = true;

	for (;;) {
		uint8_t *data = NULL;
		size_t len = 0;
		struct local_addr local = { 0 };
		int r;

		hspool_lock();
		if (hs->n_in > 0) {
			data = hs->in[0].data;
			len = hs->in[0].len;
			local = hs->in[0].local;
			hs->n_in--;
			memmove(hs->in, hs->in + 1, hs->n_in * sizeof hs->in[0]);
		}
		hspool_unlock();
		if (data == NULL && !first)
			break;
		first = false;
		if (data != NULL) {
			if (local.family != 0)
				s->link.local = local;
			s->link.rx = data;
			s->link.rx_len = len;
		}
		r = session_handshake_step(s);
		s->link.rx = NULL;
		s->link.rx_len = 0;
		free(data);
		hs->result = r;
		if (r != MBEDTLS_ERR_SSL_WANT_READ && r != MBEDTLS_ERR_SSL_WANT_WRITE)
			break;
	}
	dtls_resume_link(NULL);
}

/* Arms the DTLS timer of s as the pool thread's last mbedTLS call set it. */
static void
session_hs_arm_timer(struct session *s)
{
	uint64_t elapsed = clock_ms() - s->timer_start_ms, left;
	struct timeval tv;

	if (s->timer_fin_ms == 0) {
		evtimer_del(s->dtls_timer);
		return;
	}
	left = elapsed >= s->timer_fin_ms ? 0 : s->timer_fin_ms - elapsed;
	tv.tv_sec = (time_t)(left / 1000);
	tv.tv_usec = (suseconds_t)(left % 1000) * 1000;
	evtimer_add(s->dtls_timer, &tv);
}

/*
 * In the loop: a pool thread ended its run on s. Carries out a close or
 * failure marked meanwhile, arms the timer, then does what the loop does
 * after mbedtls_ssl_handshake: logs, hooks and metrics of an established or
 * failed handshake; resubmits if datagrams came in meanwhile.
 */
static void
session_hs_done(struct hspool_job *job)
{
	struct session_hs *hs = (struct session_hs *)(void *)job;
	struct session *s = hs->s;
	struct client_hello ch;
	struct datagram later[SESSION_INBOX];
	uint8_t *data[SESSION_INBOX];
	unsigned n_later = 0;
	int k;

	hs->pooled = false;
	if (hs->close_pending) {
		session_close(s, hs->close_why);
		return;
	}
	if (hs->fail_pending) {
		session_fail(s, hs->fail_why, hs->fail_reason, 0);
		return;
	}
	session_hs_arm_timer(s);
	if (hs->hello != NULL && dtls_parse_client_hello(hs->hello, hs->hello_len, &ch))
		s->hello = &ch;
	k = session_handshake_end(s, hs->result);
	if (k < 0)
		return; /* closed */
	s->hello = NULL;
	free(hs->hello); /* only the first ClientHello's failure quotes it */
	hs->hello = NULL;
	if (k == 0) {
		unsigned n;

		hspool_lock();
		n = hs->n_in;
		hspool_unlock();
		if (n > 0)
			session_hs_submit(s);
		return;
	}
	/*
	 * Established: what came in meanwhile is fed in the loop, as any record
	 * now; but a ClientHello queued while in handshake repeated the one
	 * that made it (the front door queues no other): a late duplicate, which
	 * the front door drops for an established session (mbedTLS would take
	 * it for a reconnect).
	 */
	for (unsigned i = 0; i < hs->n_in; i++) {
		if (dtls_is_client_hello(hs->in[i].data, hs->in[i].len)) {
			stats_mut()->hellos_dropped++;
			free(hs->in[i].data);
			continue;
		}
		data[n_later] = hs->in[i].data;
		later[n_later] = (struct datagram){ .listener = s->link.listener,
			.data = hs->in[i].data,
			.len = hs->in[i].len,
			.local = hs->in[i].local };
		memcpy(&later[n_later].peer, &s->link.peer, s->link.peerlen);
		later[n_later].peerlen = s->link.peerlen;
		n_later++;
	}
	hs->n_in = 0;
	session_hs_free(s);
	if (session_read_records(s)) {
		for (unsigned i = 0; i < n_later; i++)
			if (!session_feed(s, &later[i]))
				break;
	}
	for (unsigned i = 0; i < n_later; i++)
		free(data[i]);
}

bool
session_feed(struct session *s, const struct datagram *d)
{
	s->restored = false;
	if (s->hs != NULL && s->state == SESSION_HANDSHAKE) {
		session_hs_queue(s, d);
		return true;
	}
	s->link.rx = d->data;
	s->link.rx_len = d->len;
	if (d->local.family != 0)
		s->link.local = d->local;
	if (!session_drive(s))
		return false;
	/*
	 * mbedTLS may return without reading the datagram (a retransmission
	 * timer had expired): it points into the listener's buffer, which the
	 * next datagram overwrites, so it must not wait for a later drive.
	 */
	s->link.rx = NULL;
	s->link.rx_len = 0;
	return true;
}

/*
 * Moves session s to the address of the CID record being fed to it, if that
 * record authenticated and is newer than every record seen so far (RFC 9146
 * section 6): mbedTLS's anti-replay window top only grows for such a record.
 * Called right after mbedTLS read, before anything is answered.
 */
static void
session_cid_moved(struct session *s)
{
	const struct datagram *d = cid_move.d;
	struct log_event ev = LOG_EVENT_INIT;
	struct session *other;
	char from[64];

	if (dtls_record_top(s->ssl) <= cid_move.top)
		return;
	cid_move.s = NULL;
	snprintf(from, sizeof from, "%s", session_peer_str(s));
	/*
	 * A session still at the new address is stale (the device that had it
	 * is gone, or it never proved anything): this device is there now. It
	 * ends without close_notify, which would reach this device.
	 */
	other = table_find(d->listener, (const struct sockaddr *)&d->peer);
	if (other != NULL && other != s) {
		session_close_pair(other, CLOSE_ADDRESS_TAKEN);
	}
	table_remove(s);
	memcpy(&s->link.peer, &d->peer, d->peerlen);
	s->link.peerlen = d->peerlen;
	s->link.listener = d->listener;
	if (d->local.family != 0)
		s->link.local = d->local;
	table_insert(s);
	stats_mut()->peer_address_changes++;
	session_event(s, &ev, "peer-address-changed");
	log_event_add(&ev, "from", from, false);
	log_event_add(&ev, "to", session_peer_str(s), false);
	log_event(LOG_LVL_INFO, &ev);
}

void
session_cid_input(struct session *s, const struct datagram *d)
{
	if (s->link.listener == d->listener &&
	    peer_equal(&s->link.peer.sa, (const struct sockaddr *)&d->peer)) {
		session_feed(s, d);
		return;
	}
	/* Only an established session on its own moves: not during a handshake or a reconnect. */
	if (s->state != SESSION_ESTABLISHED || s->predecessor != NULL || s->successor != NULL) {
		log_debug("session=%08x peer=%s dropped a CID record from %s: not movable now",
		    s->id, session_peer_str(s),
		    addr_format((const struct sockaddr *)&d->peer, addr_buf(), 64));
		return;
	}
	if (!session_unpark(s)) {
		session_close(s, CLOSE_RESTORE_FAILED);
		return;
	}
	cid_move.s = s;
	cid_move.d = d;
	cid_move.top = dtls_record_top(s->ssl);
	/* Fed with the old address and local address: replies go there until it moves. */
	s->link.rx = d->data;
	s->link.rx_len = d->len;
	if (session_drive(s)) {
		s->link.rx = NULL;
		s->link.rx_len = 0;
	}
	cid_move.s = NULL;
}

struct session *
session_find(const struct datagram *d)
{
	return table_find(d->listener, (const struct sockaddr *)&d->peer);
}

struct session *
session_find_cid(const struct datagram *d)
{
	return cid_find_record(d);
}

struct session *
session_handshake_at(struct session *s)
{
	if (s->successor != NULL)
		return s->successor;
	return s->state == SESSION_HANDSHAKE ? s : NULL;
}

bool
session_is_established(const struct session *s)
{
	return s->state == SESSION_ESTABLISHED;
}

bool
session_hello_same(const struct session *s, const struct client_hello *ch)
{
	/* In the pool the thread owns s->ssl; a handshake in progress is pending anyway. */
	if (s->hs != NULL)
		return memcmp(ch->random, s->hello_random, sizeof s->hello_random) == 0;
	return !dtls_handshake_pending(s->ssl) ||
	       memcmp(ch->random, s->hello_random, sizeof s->hello_random) == 0;
}

bool
session_hello_repeats(const struct session *s, const struct client_hello *ch)
{
	return memcmp(ch->random, s->hello_random, sizeof s->hello_random) == 0;
}

void
session_handshake_abort(struct session *s, enum hs_failure why, const char *reason)
{
	session_fail(s, why, reason, 0);
}

bool
session_evict_oldest_handshake(const char *reason, bool full_only)
{
	struct session *s;

	for (s = TAILQ_FIRST(&hs_list); s != NULL; s = TAILQ_NEXT(s, hs_entry)) {
		if (!full_only || s->hs_full) {
			session_fail(s, HS_FAIL_EVICTED, reason, 0);
			return true;
		}
	}
	return false;
}

bool
session_start(const struct datagram *d, uint32_t id, const struct client_hello *ch,
    struct session *live)
{
	struct log_event ev = LOG_EVENT_INIT;
	struct session *s = session_new(d, id);
	char offered[1024], n_offered[16], other[16];

	if (s == NULL)
		return false;
	memcpy(s->hello_random, ch->random, sizeof s->hello_random);
	s->hs_full = admit_classify(d->data, d->len, ch) == ADMIT_FULL;
	if (live != NULL) {
		s->predecessor = live;
		live->successor = s;
	} else
		table_insert(s);

	session_event(s, &ev, "session-new");
	if (live != NULL) {
		snprintf(other, sizeof other, "%08x", live->id);
		log_event_add(&ev, "replaces", other, false);
	}
	log_event(LOG_LVL_INFO, &ev);
	ev = (struct log_event)LOG_EVENT_INIT;
	session_event(s, &ev, "handshake-start");
	snprintf(n_offered, sizeof n_offered, "%zu", ch->n_suites);
	log_event_add(&ev, "offered_suites", n_offered, false);
	if (log_enabled(LOG_LVL_DEBUG)) {
		dtls_offered_suites(ch, offered, sizeof offered);
		log_event_add(&ev, "offered", offered, true);
	}
	log_event(LOG_LVL_INFO, &ev);

	s->hello = ch;
	/* The pool's run outlives d: a copy, to explain a cipher suite mismatch. */
	if (s->hs != NULL && (s->hs->hello = malloc(d->len)) != NULL) {
		memcpy(s->hs->hello, d->data, d->len);
		s->hs->hello_len = d->len;
	}
	if (session_feed(s, d))
		s->hello = NULL;
	return true;
}

void
session_input(struct session *s, const struct datagram *d)
{
	uint8_t type;
	uint16_t epoch;

	if (s->successor != NULL && dtls_record_peek(d->data, d->len, &type, &epoch)) {
		struct session *succ = s->successor;
		unsigned badmac;

		if (!session_unpark(s)) {
			session_close(s, CLOSE_RESTORE_FAILED);
			return;
		}
		badmac = dtls_badmac_count(s->ssl);
		/*
		 * A reconnect is under way. Epoch 0 belongs to the new handshake;
		 * later epochs go to the live session first (it may need a
		 * retransmitted Finished), and to the new one if they do not
		 * decrypt there.
		 */
		if (epoch == 0) {
			session_feed(succ, d);
			return;
		}
		if (!session_feed(s, d))
			return;
		if (dtls_badmac_count(s->ssl) != badmac && s->successor == succ)
			session_feed(succ, d);
		return;
	}
	session_feed(s, d);
}

int
session_init(struct event_base *base, char **cause)
{
	struct timeval second = { .tv_sec = 1 };

	session_base = base;
	TAILQ_INIT(&hs_list);
	session_buckets = 1024;
	session_table = calloc(session_buckets, sizeof *session_table);
	cid_buckets = 1024;
	cid_table = calloc(cid_buckets, sizeof *cid_table);
	if (session_table == NULL || cid_table == NULL) {
		if (asprintf(cause, "session table: %s", strerror(errno)) < 0)
			*cause = NULL;
		return -1;
	}
	if (getentropy(&session_seed, sizeof session_seed) < 0)
		session_seed = (uint64_t)clock_ms() ^ (uint64_t)getpid();
	session_sweep_ev = event_new(base, -1, EV_PERSIST, session_sweep_cb, NULL);
	if (session_sweep_ev == NULL || event_add(session_sweep_ev, &second) < 0) {
		*cause = strdup("cannot set up the session timers");
		return -1;
	}
	return 0;
}

void
session_set_config(struct proxy_config *cfg)
{
	if (session_cfg != NULL)
		config_unref(session_cfg);
	session_cfg = config_ref(cfg);
	admit_set_prefix_len(cfg->prefix_len_v4, cfg->prefix_len_v6);
}

void
session_close_all(enum close_reason why)
{
	for (size_t i = 0; i < session_buckets; i++) {
		while (session_table[i] != NULL) {
			struct session *s = session_table[i];

			session_close_pair(s, why);
		}
	}
}

/* Takes a pooled handshake back from the pool at once (the loop waits for a running step). */
static void
session_hs_reclaim(struct session *s)
{
	if (s->hs == NULL || !s->hs->pooled)
		return;
	hspool_reclaim(&s->hs->job);
	s->hs->pooled = false;
}

void
session_close_listener(struct listener *l, enum close_reason why)
{
	hspool_flush(); /* closes pooled sessions already marked, which no table holds */
	for (size_t i = 0; i < session_buckets; i++) {
		for (struct session *s = session_table[i], *next; s != NULL; s = next) {
			struct session *pair[2];
			size_t n = session_pair(s, pair);

			next = s->hnext;
			if (s->link.listener != l)
				continue;
			/* The listener goes away now: no pool thread may still send on it. */
			for (size_t k = 0; k < n; k++)
				session_hs_reclaim(pair[k]);
			session_close_pair(s, why);
		}
	}
}

size_t
session_revalidate(struct proxy_config *cfg)
{
	size_t n = 0;

	for (size_t i = 0; i < session_buckets; i++) {
		for (struct session *s = session_table[i], *next; s != NULL; s = next) {
			next = s->hnext;
			if (s->state != SESSION_ESTABLISHED || session_credentials_hold(s, cfg))
				continue;
			session_close_pair(s, CLOSE_REVOKED);
			n++;
		}
	}
	return n;
}

size_t
session_identity_text(const struct session *s, char *buf, size_t len, bool name)
{
	size_t n = 0;

	buf[0] = '\0';
	if (s->state != SESSION_ESTABLISHED || s->link.auth == LINK_AUTH_NONE ||
	    (name && s->link.auth == LINK_AUTH_ANONYMOUS))
		return 0;
	if (s->link.auth == LINK_AUTH_ANONYMOUS) {
		snprintf(buf, len, "anonymous");
		return strlen(buf);
	}
	if (!name)
		n = (size_t)snprintf(buf, len, "%s:", dtls_auth_name(s->link.auth));
	if (n + s->link.identity_len >= len) {
		buf[0] = '\0';
		return 0;
	}
	memcpy(buf + n, s->link.identity, s->link.identity_len);
	buf[n + s->link.identity_len] = '\0';
	return n + s->link.identity_len;
}

/* Fills a read-only view of session s; text lives in buf and backends (the layer above's part). */
static void
session_info_fill(const struct session *s, struct session_info *info, char *buf, size_t len,
    char *backends, size_t backends_len)
{
	uint64_t now = clock_ms();

	(void)session_identity_text(s, buf, len, true);
	*info = (struct session_info){
		.id = s->id,
		.worker = worker_self(),
		.peer = session_peer_str(s),
		.local = session_local_str(s),
		.auth = s->state == SESSION_ESTABLISHED && s->link.auth != LINK_AUTH_NONE
		            ? dtls_auth_name(s->link.auth)
		            : "",
		.identity = buf,
		.cipher = s->cipher ? s->cipher : "",
		.state = s->state == SESSION_HANDSHAKE ? "handshake"
		         : s->restored                 ? "restored"
		         : s->parked != NULL           ? "parked"
		                                       : "established",
		.restored = s->restored,
		.backend = "",
		.cid = cid_str(s),
		.age_ms = now - s->created_ms,
		.idle_ms = now - s->last_active_ms,
		.bytes_in = s->bytes_in,
		.bytes_out = s->bytes_out,
		.msgs_in = s->msgs_in,
		.msgs_out = s->msgs_out,
		.handshake_ms = s->state == SESSION_HANDSHAKE
		                    ? -1
		                    : (int64_t)(s->established_ms - s->created_ms),
		.cert_subject = s->cert != NULL ? s->cert->subject : "",
		.cert_issuer = s->cert != NULL ? s->cert->issuer : "",
		.cert_not_after = s->cert != NULL ? s->cert->not_after : 0,
		.backends = "",
	};
	if (hooks.describe != NULL)
		hooks.describe(s, info, backends, backends_len);
}

void
session_foreach(void (*fn)(const struct session_info *, void *), void *arg)
{
	char identity[CONFIG_PSK_IDENTITY_MAX + 16], backends[640];
	struct session_info info;

	for (size_t i = 0; i < session_buckets; i++) {
		for (struct session *s = session_table[i]; s != NULL; s = s->hnext) {
			struct session *pair[2];
			size_t n = session_pair(s, pair);

			for (size_t k = n; k-- > 0;) { /* s, then its successor */
				session_info_fill(pair[k], &info, identity, sizeof identity,
				    backends, sizeof backends);
				fn(&info, arg);
			}
		}
	}
}

/* Finds a session (or a reconnect in progress) by id. */
static struct session *
session_find_id(uint32_t id)
{
	for (size_t i = 0; i < session_buckets; i++) {
		for (struct session *s = session_table[i]; s != NULL; s = s->hnext) {
			struct session *pair[2];
			size_t n = session_pair(s, pair);

			for (size_t k = 0; k < n; k++)
				if (pair[k]->id == id)
					return pair[k];
		}
	}
	return NULL;
}

bool
session_close_id(uint32_t id, enum close_reason why)
{
	struct session *s = session_find_id(id);

	if (s == NULL)
		return false;
	session_close(s, why);
	return true;
}

size_t
session_close_identity(const char *glob, enum close_reason why)
{
	size_t n = 0;

	for (size_t i = 0; i < session_buckets; i++) {
		for (struct session *s = session_table[i], *next; s != NULL; s = next) {
			char id[CONFIG_PSK_IDENTITY_MAX + 16];

			next = s->hnext;
			if (s->state != SESSION_ESTABLISHED)
				continue;
			(void)session_identity_text(s, id, sizeof id, false);
			if (!route_identity_match(glob, id))
				continue;
			session_close_pair(s, why);
			n++;
		}
	}
	return n;
}

size_t
session_count(void)
{
	return atomic_load_explicit(&sessions_all, memory_order_relaxed);
}

size_t
session_count_here(void)
{
	return session_n;
}

size_t
session_peak(void)
{
	return atomic_load_explicit(&sessions_peak, memory_order_relaxed);
}

size_t
session_parked_count(void)
{
	return atomic_load_explicit(&parked_all, memory_order_relaxed);
}

size_t
session_handshake_count(void)
{
	return atomic_load_explicit(&handshakes_all, memory_order_relaxed);
}

size_t
session_handshake_count_here(void)
{
	return session_hs_n;
}

/* session_foreach_all: what to call in each worker. */
struct foreach_arg {
	void (*fn)(const struct session_info *, void *);
	void *arg;
};

/* worker_call_all: session_foreach in this worker. */
static void
foreach_worker(void *arg)
{
	struct foreach_arg *fa = arg;

	session_foreach(fa->fn, fa->arg);
}

void
session_foreach_all(void (*fn)(const struct session_info *, void *), void *arg)
{
	struct foreach_arg fa = { fn, arg };

	worker_call_all(foreach_worker, &fa);
}

/* session_close_id_all and session_close_identity_all: what to close, and how many were. */
struct close_arg {
	uint32_t id;
	const char *glob; /* NULL: by id */
	enum close_reason why;
	size_t closed;
};

/* worker_call_all: closes this worker's sessions that ca names. */
static void
close_worker(void *arg)
{
	struct close_arg *ca = arg;

	if (ca->glob != NULL)
		ca->closed += session_close_identity(ca->glob, ca->why);
	else if (session_close_id(ca->id, ca->why))
		ca->closed++;
}

bool
session_close_id_all(uint32_t id, enum close_reason why)
{
	struct close_arg ca = { .id = id, .why = why };

	worker_call_all(close_worker, &ca);
	return ca.closed > 0;
}

size_t
session_close_identity_all(const char *glob, enum close_reason why)
{
	struct close_arg ca = { .glob = glob, .why = why };

	worker_call_all(close_worker, &ca);
	return ca.closed;
}

void
session_shutdown(void)
{
	session_close_all(CLOSE_SHUTDOWN);
	free(session_table);
	session_table = NULL;
	free(cid_table);
	cid_table = NULL;
	if (session_sweep_ev != NULL)
		event_free(session_sweep_ev);
	session_sweep_ev = NULL;
	if (session_cfg != NULL)
		config_unref(session_cfg);
	session_cfg = NULL;
}

/* Copies an address into a saved one; its length. */
static socklen_t
session_addr_copy(struct sockaddr_storage *to, const struct sockaddr *from, socklen_t len)
{
	if (len > sizeof *to)
		return 0;
	memset(to, 0, sizeof *to);
	memcpy(to, from, len);
	return len;
}

/* Computes the tag of a PSK key (the first bytes of its SHA-256) into tag. */
static void
session_psk_tag(const struct psk_conf *psk, uint8_t tag[8])
{
	uint8_t md[32];

	memset(md, 0, sizeof md);
	(void)mbedtls_md(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), psk->key, psk->key_len, md);
	memcpy(tag, md, 8);
}

/* Logs a session a clean stop could not save (it ends with the rest). */
static void
session_not_saved(struct session *s, const char *why)
{
	struct log_event ev = LOG_EVENT_INIT;

	session_event(s, &ev, "session-not-saved");
	log_event_add(&ev, "reason", why, true);
	log_event(LOG_LVL_WARNING, &ev);
}

/* Fills the session layer's part of a saved session (s is parked). */
static void
session_save_fill(const struct session *s, struct state_session *ss, uint64_t now_mono,
    uint64_t now_unix)
{
	const struct listener *l = s->link.listener;

	ss->id = s->id;
	ss->kind = s->link.auth == LINK_AUTH_PSK    ? STATE_KIND_PSK
	           : s->link.auth == LINK_AUTH_X509 ? STATE_KIND_X509
	                                            : STATE_KIND_ANONYMOUS;
	ss->identity_len = s->link.identity_len <= STATE_IDENTITY_MAX ? s->link.identity_len : 0;
	memcpy(ss->identity, s->link.identity, ss->identity_len);
	if (ss->kind == STATE_KIND_PSK) {
		const struct psk_conf *psk =
		    config_psk_find(s->cfg, s->link.identity, s->link.identity_len);

		if (psk != NULL) {
			session_psk_tag(psk, ss->psk_tag);
			ss->has_psk_tag = true;
		}
	}
	ss->peer_len = session_addr_copy(&ss->peer, &s->link.peer.sa, s->link.peerlen);
	ss->listener_len =
	    session_addr_copy(&ss->listener, (const struct sockaddr *)&l->addr, l->addrlen);
	ss->local_len = 0;
	if (s->link.local.family == AF_INET && l->addr.ss_family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss->local;

		*sin = *(const struct sockaddr_in *)&l->addr;
		sin->sin_addr = s->link.local.u.v4.ipi_addr;
		ss->local_len = sizeof *sin;
	} else if (s->link.local.family == AF_INET6 && l->addr.ss_family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss->local;

		*sin6 = *(const struct sockaddr_in6 *)&l->addr;
		sin6->sin6_addr = s->link.local.u.v6.ipi6_addr;
		sin6->sin6_scope_id = (uint32_t)s->link.local.u.v6.ipi6_ifindex; /* link-local */
		ss->local_len = sizeof *sin6;
	}
	ss->cid_len = s->cid_len <= STATE_CID_MAX ? s->cid_len : 0;
	memcpy(ss->cid, s->cid, ss->cid_len);
	ss->created_ms = now_unix - (now_mono - s->created_ms);
	ss->established_ms = now_unix - (now_mono - s->established_ms);
	ss->last_ms = now_unix - (now_mono - s->last_active_ms);
	snprintf(ss->cipher, sizeof ss->cipher, "%s", s->cipher != NULL ? s->cipher : "");
	if (s->cert != NULL) {
		ss->has_cert = true;
		snprintf(ss->cert_subject, sizeof ss->cert_subject, "%s", s->cert->subject);
		snprintf(ss->cert_issuer, sizeof ss->cert_issuer, "%s", s->cert->issuer);
		ss->cert_not_after = s->cert->not_after;
	}
	ss->context = s->parked;
	ss->context_len = s->parked_len;
	ss->last_slot = -1;
}

size_t
session_save_all(struct state_out *o, size_t *dropped)
{
	struct state_session *ss = malloc(sizeof *ss);
	uint64_t now_mono = clock_ms(), now_unix = clock_unix_ms();
	size_t n = 0;

	*dropped = 0;
	for (size_t i = 0; i < session_buckets; i++) {
		for (struct session *s = session_table[i]; s != NULL; s = s->hnext) {
			char *cause = NULL;

			if (s->state != SESSION_ESTABLISHED)
				continue; /* a handshake in progress: closed with the rest */
			if (ss == NULL) {
				(*dropped)++;
				continue;
			}
			memset(ss, 0, sizeof *ss);
			ss->last_slot = -1;
			/* The relay's part first: parking may let it free idle upstreams. */
			if (hooks.save != NULL)
				hooks.save(s, ss);
			if (s->ssl != NULL)
				dtls_forget_last_flight(s->ssl);
			if (s->successor != NULL || (s->parked == NULL && !session_park(s))) {
				session_not_saved(s, "its DTLS state cannot be saved now");
				(*dropped)++;
				continue;
			}
			session_save_fill(s, ss, now_mono, now_unix);
			if (state_out_add(o, ss, &cause) == -1) {
				session_not_saved(s, cause != NULL ? cause : "out of memory");
				free(cause);
				(*dropped)++;
				continue;
			}
			s->saved = true;
			n++;
		}
	}
	free(ss);
	return n;
}

void
session_save_cancel(void)
{
	for (size_t i = 0; i < session_buckets; i++)
		for (struct session *s = session_table[i]; s != NULL; s = s->hnext)
			s->saved = false;
}

int
session_restore(const struct state_session *ss, struct listener *l, const char **why)
{
	uint64_t now_mono = clock_ms(), now_unix = clock_unix_ms(), idle;
	struct session *s;

	if (ss->peer_len > sizeof s->link.peer) {
		*why = "bad-address";
		return -1;
	}
	idle = now_unix > ss->last_ms ? now_unix - ss->last_ms : 0;
	if (idle >= (uint64_t)session_cfg->idle_timeout * 1000) {
		*why = "idle";
		return -1;
	}
	if (ss->kind == STATE_KIND_PSK && ss->has_psk_tag) {
		const struct psk_conf *psk = config_psk_find(session_cfg, ss->identity,
		    ss->identity_len <= CONFIG_PSK_IDENTITY_MAX ? ss->identity_len : 0);
		uint8_t tag[8];

		/* A removed identity ends as credentials-revoked with session_revalidate. */
		if (psk != NULL) {
			session_psk_tag(psk, tag);
			if (memcmp(tag, ss->psk_tag, sizeof tag) != 0) {
				*why = "credentials-revoked";
				return -1;
			}
		}
	}
	if (table_find(l, (const struct sockaddr *)&ss->peer) != NULL ||
	    (ss->cid_len > 0 && cid_find(ss->cid, ss->cid_len) != NULL)) {
		*why = "duplicate";
		return -1;
	}
	if ((s = pool_alloc(&session_pool)) == NULL) {
		*why = "out-of-memory";
		return -1;
	}
	if ((s->parked = pool_blob_alloc(ss->context_len)) == NULL) {
		pool_free(&session_pool, s);
		*why = "out-of-memory";
		return -1;
	}
	memcpy(s->parked, ss->context, ss->context_len);
	s->parked_len = (uint32_t)ss->context_len;
	count_add(&session_parked_n, &parked_all, 1);
	s->id = ss->id != 0 ? ss->id : (uint32_t)(session_seed ^ now_mono);
	s->link.session_id = s->id;
	s->link.listener = l;
	memcpy(&s->link.peer, &ss->peer, ss->peer_len);
	s->link.peerlen = ss->peer_len;
	if (ss->local_len != 0 && ss->local.ss_family == AF_INET) {
		s->link.local.family = AF_INET;
		s->link.local.u.v4.ipi_addr = ((const struct sockaddr_in *)&ss->local)->sin_addr;
		s->link.local.u.v4.ipi_spec_dst = s->link.local.u.v4.ipi_addr;
	} else if (ss->local_len != 0 && ss->local.ss_family == AF_INET6) {
		s->link.local.family = AF_INET6;
		s->link.local.u.v6.ipi6_addr = ((const struct sockaddr_in6 *)&ss->local)->sin6_addr;
		s->link.local.u.v6.ipi6_ifindex =
		    ((const struct sockaddr_in6 *)&ss->local)->sin6_scope_id;
	}
	memcpy(s->link.identity, ss->identity,
	    ss->identity_len <= sizeof s->link.identity ? ss->identity_len : 0);
	s->link.identity_len =
	    (uint16_t)(ss->identity_len <= sizeof s->link.identity ? ss->identity_len : 0);
	s->link.auth = ss->kind == STATE_KIND_PSK    ? LINK_AUTH_PSK
	               : ss->kind == STATE_KIND_X509 ? LINK_AUTH_X509
	                                             : LINK_AUTH_ANONYMOUS;
	s->link.psk_identity_seen = ss->kind == STATE_KIND_PSK;
	s->state = SESSION_ESTABLISHED;
	s->cfg = config_ref(session_cfg);
	/* Wall-clock times back to the monotonic clock (ages kept, never in the future). */
	s->created_ms = now_mono - (now_unix > ss->created_ms ? now_unix - ss->created_ms : 0);
	s->established_ms =
	    now_mono - (now_unix > ss->established_ms ? now_unix - ss->established_ms : 0);
	s->last_active_ms = now_mono - idle;
	if (ss->cipher[0] != '\0')
		s->cipher =
		    mbedtls_ssl_get_ciphersuite_name(mbedtls_ssl_get_ciphersuite_id(ss->cipher));
	if (ss->has_cert && (s->cert = malloc(sizeof *s->cert)) != NULL) {
		/* For `show`: the DTLS state holds no readable chain while parked. */
		snprintf(s->cert->subject, sizeof s->cert->subject, "%s", ss->cert_subject);
		snprintf(s->cert->issuer, sizeof s->cert->issuer, "%s", ss->cert_issuer);
		s->cert->not_after = ss->cert_not_after;
	}
	s->restored = true;
	table_insert(s);
	if (ss->cid_len > 0 && ss->cid_len <= sizeof s->cid) {
		memcpy(s->cid, ss->cid, ss->cid_len);
		s->cid_len = (uint8_t)ss->cid_len;
		cid_insert(s);
	}
	if (hooks.restore != NULL && hooks.restore(s, ss) == -1) {
		session_close(s, CLOSE_RESTORE_FAILED);
		*why = "relay";
		return -1;
	}
	return 0;
}
