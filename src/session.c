/* session.c: the session table and each session's life, from cookie to close. */
#include "config.h"

#include <errno.h>
#include <malloc.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <mbedtls/oid.h>
#include <mbedtls/ssl.h>

#include "clock.h"
#include "configuration.h"
#include "dtls.h"
#include "log.h"
#include "pool.h"
#include "relay.h"
#include "route.h"
#include "session.h"
#include "session_priv.h"

#define SESSION_MAX_DATAGRAM 2048 /* bytes of CoAP we relay in one datagram */

#define EVENTS_PER_SECOND 20      /* cookie / refusal lines logged per second */

/* A budget of log lines per second, for events a flood could repeat. */
struct ratelimit {
	uint64_t second;
	unsigned count;
	unsigned long suppressed;
};

const char *const hs_failure_names[HS_FAIL_COUNT] = { "unknown_identity", "wrong_key",
	"no_shared_suite", "timeout", "peer_alert", "certificate", "evicted", "other" };
static const uint64_t hs_ms_bounds[7] = { 10, 50, 100, 500, 1000, 5000, 30000 };

/*
 * Handshakes per second per source address: a fixed table of windows, hashed
 * by address (not port) with the process's seed. Two addresses may share a
 * slot and then share its budget; nothing is allocated.
 */
#define RATE_SLOTS 16384
struct rate_slot {
	uint8_t addr[16];
	uint64_t second;
	uint32_t count;
};
static struct rate_slot rate_table[RATE_SLOTS];

static struct event_base *session_base;
static struct proxy_config *session_cfg;
static struct session **session_table;
static size_t session_buckets, session_n, session_hs_n, session_parked_n;
static struct event *session_sweep_ev; /* once a second: idle, park, handshake backstop */
static struct session *hs_oldest, *hs_newest;
static uint64_t session_seed;
static struct session_stats stats;
static struct ratelimit cookie_rl, refuse_rl, unknown_rl, cid_rl;

/*
 * The Connection ID table (RFC 9146): every session that has a CID of the
 * proxy's, hashed by that CID, beside the address table. cid_lens counts the
 * sessions per CID length (a reload may change dtls.cid_length while older
 * sessions keep theirs), so a record's CID is looked up at every length in use.
 */
static struct session **cid_table;
static size_t cid_buckets, cid_n;
static size_t cid_lens[DTLS_CID_MAX + 1];

/* A CID record from another address being fed to its session (one at a time). */
static struct {
	struct session *s;
	const struct datagram *d;
	uint64_t top; /* dtls_record_top before the record */
} cid_move;

static bool session_drive(struct session *s);
static void session_close(struct session *s, const char *reason);
static void session_fail(struct session *s, enum hs_failure why, const char *reason,
    size_t reason_len);
static bool session_park(struct session *s);
static void session_cid_moved(struct session *s);
static bool session_unpark(struct session *s);


static struct pool session_pool = { .size = (sizeof(struct session) + 15) & ~(size_t)15 };

/* Returns the next of a few buffers for address text, so a line may hold several. */
static char *
addr_buf(void)
{
	static char bufs[8][64];
	static unsigned i;

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

struct session_stats *
session_stats_mut(void)
{
	return &stats;
}

/* Tells whether one more line fits this second's budget; reports what was held back. */
static bool
ratelimit_allow(struct ratelimit *rl, const char *what)
{
	uint64_t sec = clock_ms() / 1000;

	if (sec != rl->second) {
		if (rl->suppressed > 0)
			log_warnx("event=log-suppressed what=%s count=%lu reason=\"more than %d "
			          "per second\"", what, rl->suppressed, EVENTS_PER_SECOND);
		rl->second = sec;
		rl->count = 0;
		rl->suppressed = 0;
	}
	if (rl->count++ < EVENTS_PER_SECOND)
		return true;
	rl->suppressed++;
	return false;
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
	session_n++;
	if (session_n > stats.sessions_peak)
		stats.sessions_peak = session_n;
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
			session_n--;
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
		if (dtls_cid_make(s->cid, s->cfg->cid_length) < 0)
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
	s->hs_prev = hs_newest;
	s->hs_next = NULL;
	if (hs_newest != NULL)
		hs_newest->hs_next = s;
	else
		hs_oldest = s;
	hs_newest = s;
	session_hs_n++;
}

/* Takes a session off the list of handshakes in progress. */
static void
hs_list_remove(struct session *s)
{
	if (s->state != SESSION_HANDSHAKE)
		return;
	if (s->hs_prev != NULL)
		s->hs_prev->hs_next = s->hs_next;
	else
		hs_oldest = s->hs_next;
	if (s->hs_next != NULL)
		s->hs_next->hs_prev = s->hs_prev;
	else
		hs_newest = s->hs_prev;
	s->hs_prev = s->hs_next = NULL;
	session_hs_n--;
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
		ev->auth = dtls_auth_name(s->link.psk_identity_seen ? LINK_AUTH_PSK : LINK_AUTH_X509);
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
	if (fin_ms == 0) {
		evtimer_del(s->dtls_timer);
		return;
	}
	struct timeval tv = { .tv_sec = fin_ms / 1000, .tv_usec = (fin_ms % 1000) * 1000 };

	s->timer_start_ms = clock_ms();
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
			session_fail(s, HS_FAIL_TIMEOUT, "timeout: the handshake did not complete in time",
			    0);
		return false;
	}
	if (quiet >= (uint64_t)s->cfg->idle_timeout * 1000) {
		session_close(s, "idle timeout");
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
			next = s->hnext;
			if (s->successor != NULL)
				session_check(s->successor, now);
			parked |= session_check(s, now);
		}
	}
	if (parked)
		malloc_trim(0);
}

/*
 * Finds the first CN of a certificate name: its raw bytes (which may hold
 * anything, NUL included) in *p and *len. False, with "?", if it has none.
 */
static bool
name_cn(const mbedtls_x509_name *name, const unsigned char **p, size_t *len)
{
	for (; name != NULL; name = name->next) {
		if (MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &name->oid) == 0) {
			*p = name->val.p;
			*len = name->val.len;
			return true;
		}
	}
	*p = (const unsigned char *)"?";
	*len = 1;
	return false;
}

/* Appends n raw bytes to the session's certificate problem (cut past 1 KB). */
static void
problem_append(struct session *s, const void *bytes, size_t n)
{
	char *p;

	if (s->cert_problem_len + n > 1024)
		n = s->cert_problem_len < 1024 ? 1024 - s->cert_problem_len : 0;
	p = realloc(s->cert_problem, s->cert_problem_len + n + 1);
	if (p == NULL)
		return;
	memcpy(p + s->cert_problem_len, bytes, n);
	s->cert_problem = p;
	s->cert_problem_len += n;
	p[s->cert_problem_len] = '\0';
}

/* Appends a C string to the session's certificate problem. */
static void
problem_text(struct session *s, const char *text)
{
	problem_append(s, text, strlen(text));
}

/* Starts a new problem (after "; " if there is one already) with text. */
static void
problem_start(struct session *s, const char *text)
{
	if (s->cert_problem_len > 0)
		problem_text(s, "; ");
	problem_text(s, text);
}

/*
 * Checks that the leaf's subject CN can be an identity: present, not empty,
 * no NUL (a check that stops at NUL would see another name), and whole in
 * the identity buffer (a cut would let two CNs collide). Adds the problem.
 */
static bool
session_cn_ok(struct session *s, const mbedtls_x509_crt *crt)
{
	const unsigned char *cn;
	size_t n;
	char words[96];

	if (!name_cn(&crt->subject, &cn, &n)) {
		problem_start(s, "the subject has no CN");
		return false;
	}
	if (n == 0) {
		problem_start(s, "the subject CN is empty");
		return false;
	}
	if (memchr(cn, '\0', n) != NULL) {
		problem_start(s, "the subject CN holds a NUL byte ('");
		problem_append(s, cn, n);
		problem_text(s, "')");
		return false;
	}
	if (n > CONFIG_PSK_IDENTITY_MAX) {
		snprintf(words, sizeof words, "the subject CN is %zu bytes (at most %d)", n,
		    CONFIG_PSK_IDENTITY_MAX);
		problem_start(s, words);
		return false;
	}
	return true;
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

	name_cn(&crt->subject, &subject, &subject_len);
	name_cn(&crt->issuer, &issuer, &issuer_len);
	snprintf(depth_s, sizeof depth_s, "%d", depth);
	snprintf(until, sizeof until, "%04d-%02d-%02dT%02d:%02d:%02dZ", crt->valid_to.year,
	    crt->valid_to.mon, crt->valid_to.day, crt->valid_to.hour, crt->valid_to.min,
	    crt->valid_to.sec);
	session_event(s, &ev, "client-cert");
	log_event_add(&ev, "depth", depth_s, false);
	log_event_add_bytes(&ev, "subject", subject, subject_len);
	log_event_add_bytes(&ev, "issuer", issuer, issuer_len);
	log_event_add(&ev, "valid_until", until, true);
	if (*flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED && s->cfg->x509 != NULL) {
		/* Tell "nobody we trust issued it" from "the issuer's signature is wrong". */
		for (const mbedtls_x509_crt *ca = &s->cfg->x509->client_ca; ca != NULL; ca = ca->next) {
			if (ca->subject_raw.len == crt->issuer_raw.len &&
			    memcmp(ca->subject_raw.p, crt->issuer_raw.p, ca->subject_raw.len) == 0) {
				problem_start(s, "bad signature (the issuer name '");
				problem_append(s, issuer, issuer_len);
				problem_text(s, "' is a trusted CA, but its signature on '");
				problem_append(s, subject, subject_len);
				problem_text(s, "' does not verify)");
				break;
			}
		}
	}
	if (depth == 0 && !session_cn_ok(s, crt))
		*flags |= MBEDTLS_X509_BADCERT_OTHER;
	else if (depth == 0 && !s->link.psk_identity_seen) {
		/* The name it claims, for the log of a handshake that fails from here on. */
		memcpy(s->link.identity, subject, subject_len);
		s->link.identity_len = (uint16_t)subject_len;
	}
	if (*flags != 0) {
		dtls_verify_reason(*flags, why, sizeof why);
		if (s->cert_problem != NULL)
			log_event_add_bytes(&ev, "problem", s->cert_problem, s->cert_problem_len);
		else
			log_event_add(&ev, "problem", why, true);
	}
	log_event(LOG_LVL_INFO, &ev);
	return 0;
}

/* Writes "client certificate rejected: " and the problem into buf; returns its length. */
static size_t
session_cert_reason(const struct session *s, const char *why, char *buf, size_t len)
{
	int o = snprintf(buf, len, "client certificate rejected: ");
	size_t n;

	if (o < 0 || (size_t)o >= len)
		return strlen(buf);
	if (s->cert_problem == NULL) {
		snprintf(buf + o, len - (size_t)o, "%s", why);
		return strlen(buf);
	}
	n = s->cert_problem_len < len - (size_t)o - 1 ? s->cert_problem_len : len - (size_t)o - 1;
	memcpy(buf + o, s->cert_problem, n);
	buf[(size_t)o + n] = '\0';
	return (size_t)o + n;
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
	s->link.listener = d->listener;
	memcpy(&s->link.peer, &d->peer, d->peerlen);
	s->link.peerlen = d->peerlen;
	s->link.local = d->local;
	s->cfg = config_ref(session_cfg);
	s->created_ms = s->last_active_ms = clock_ms();
	s->dtls_timer = evtimer_new(session_base, session_dtls_timer_cb, s);
	cid_assign(s);
	s->ssl = dtls_new_context(s->cfg, &s->link, s->cid_len > 0 ? s->cid : NULL, s->cid_len);
	if (s->dtls_timer == NULL || s->ssl == NULL) {
		if (s->dtls_timer)
			event_free(s->dtls_timer);
		dtls_free(s->ssl);
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
	session_parked_n++;
	stats.parked++;
	relay_session_park(s);
	if (log_enabled(LOG_LVL_DEBUG)) {
		struct log_event ev = LOG_EVENT_INIT;
		char bytes[24], state[24];

		/* What a parked session costs: its slot and its saved state (in 32-byte classes). */
		snprintf(bytes, sizeof bytes, "%zu", session_pool.size + ((len + 31) & ~(size_t)31));
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
	session_parked_n--;
	stats.unparked++;
	return true;
}

/*
 * The one way a session ends: stops its events, says goodbye to an
 * established peer when we are the ones closing, logs once and frees.
 */
static void
session_close(struct session *s, const char *reason)
{
	struct log_event ev = LOG_EVENT_INIT;
	/* The device closed, or sent a fatal alert (dtls_alert_reason: "the device ..."). */
	bool peer_gone = strcmp(reason, "close_notify") == 0 || strncmp(reason, "the device ", 11) == 0 ||
	                 strcmp(reason, "address taken over") == 0;
	struct session *succ = s->successor;

	if (s->state == SESSION_ESTABLISHED && !peer_gone && session_unpark(s))
		mbedtls_ssl_close_notify(s->ssl);
	session_event(s, &ev, "session-closed");
	ev.reason = reason;
	ev.duration_ms = (long)(clock_ms() - s->created_ms);
	ev.bytes_in = (long long)s->bytes_in;
	ev.bytes_out = (long long)s->bytes_out;
	ev.msgs_in = (long long)s->msgs_in;
	ev.msgs_out = (long long)s->msgs_out;
	log_event(LOG_LVL_INFO, &ev);

	if (s->predecessor != NULL) {
		s->predecessor->successor = NULL;
	} else {
		table_remove(s);
		if (succ != NULL) {
			/* The reconnecting device goes on in its own right. */
			succ->predecessor = NULL;
			table_insert(succ);
		}
	}
	hs_list_remove(s);
	cid_remove(s);
	if (cid_move.s == s)
		cid_move.s = NULL;
	relay_session_end(s);
	if (s->dtls_timer != NULL)
		event_free(s->dtls_timer);
	dtls_free(s->ssl);
	if (s->parked != NULL) {
		session_parked_n--;
		pool_blob_free(s->parked, s->parked_len);
	}
	free(s->cert_problem);
	free(s->cert);
	config_unref(s->cfg);
	pool_free(&session_pool, s);
}

/* Logs a failed handshake and closes the session; reason_len 0: reason is a C string. */
static void
session_fail(struct session *s, enum hs_failure why, const char *reason, size_t reason_len)
{
	struct log_event ev = LOG_EVENT_INIT;

	stats.handshakes_failed++;
	stats.handshakes_failed_by[why]++;
	session_event(s, &ev, "handshake-failed");
	ev.reason = reason;
	ev.reason_len = reason_len;
	ev.duration_ms = (long)(clock_ms() - s->created_ms);
	log_event(LOG_LVL_WARNING, &ev);
	session_close(s, "handshake failed");
}

/*
 * Records how the peer authenticated and as whom: PSK identity, certificate
 * subject CN (session_cn_ok refused any that is not a whole, NUL-free
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
	if (name_cn(&peer->subject, &cn, &n) && n <= sizeof s->link.identity &&
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
		const struct psk_conf *now = config_psk_find(cfg, s->link.identity,
		    s->link.identity_len);
		const struct psk_conf *then = config_psk_find(s->cfg, s->link.identity,
		    s->link.identity_len);

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
		n = session_cert_reason(s, why, reason, sizeof reason);
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
		session_fail(s, HS_FAIL_OTHER, "credentials-revoked by a reload during the handshake",
		    0);
		return false;
	}
	s->state = SESSION_ESTABLISHED;
	stats.handshakes_ok++;
	stats.handshakes_resumed += resumed;
	{
		uint64_t ms = s->established_ms - s->created_ms;
		size_t b = 0;

		while (b < 7 && ms > hs_ms_bounds[b])
			b++;
		stats.handshake_ms_buckets[b]++;
		stats.handshake_ms_sum += ms;
	}
	session_event(s, &ev, "handshake-ok");
	log_event_add(&ev, "resumed", resumed ? "yes" : "no", false);
	ev.duration_ms = (long)(s->established_ms - s->created_ms);
	log_event(LOG_LVL_INFO, &ev);

	if (s->predecessor != NULL) {
		struct session *old = s->predecessor;

		/* A reconnect completed: it takes the old session's place. */
		old->successor = NULL;
		s->predecessor = NULL;
		session_close(old, "replaced");
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
	stats.msgs_relayed_out++;
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
	relay_too_large(s, head, hlen, size, len);
}

/* Classifies a handshake error (dtls_error_kind) for the counters. */
static enum hs_failure
hs_failure_class(enum dtls_error kind)
{
	switch (kind) {
	case DTLS_E_UNKNOWN_IDENTITY: return HS_FAIL_UNKNOWN_IDENTITY;
	case DTLS_E_BAD_MAC: return HS_FAIL_WRONG_KEY;
	case DTLS_E_NO_SHARED_SUITE: return HS_FAIL_NO_SHARED_SUITE;
	case DTLS_E_TIMEOUT: return HS_FAIL_TIMEOUT;
	case DTLS_E_PEER_ALERT: return HS_FAIL_PEER_ALERT;
	case DTLS_E_CERT_VERIFY:
	case DTLS_E_BAD_CERT:
	case DTLS_E_CHAIN:
	case DTLS_E_NO_CLIENT_CERT: return HS_FAIL_CERTIFICATE;
	default: return HS_FAIL_OTHER;
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
 * Lets mbedTLS work on what arrived (or on a timer): advances the handshake,
 * then reads application records. Returns false if the session was closed.
 */
static bool
session_drive(struct session *s)
{
	uint8_t buf[SESSION_MAX_DATAGRAM];
	char reason[2048];
	size_t reason_len = 0;
	int r;

	if (!session_unpark(s)) {
		session_close(s, "cannot restore the parked session");
		return false;
	}
	if (s->state == SESSION_HANDSHAKE) {
		/*
		 * A bad MAC on the record that should be the client's Finished ends
		 * the handshake inside mbedTLS (wrong key); any other record that
		 * does not decrypt is dropped, as DTLS wants under loss and reordering.
		 */
		r = mbedtls_ssl_handshake(s->ssl);
		if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE)
			return true;
		if (r != 0) {
			if (dtls_error_kind(s->ssl, r) == DTLS_E_NO_SHARED_SUITE && s->hello != NULL)
				session_no_shared_suite(s, reason, sizeof reason);
			else if (r == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED && s->cert_problem != NULL)
				reason_len = session_cert_reason(s, "", reason, sizeof reason);
			else
				reason_len = dtls_failure_reason(s->ssl, &s->link, r, reason,
				    sizeof reason);
			session_fail(s, hs_failure_class(dtls_error_kind(s->ssl, r)), reason, reason_len);
			return false;
		}
		if (!session_established(s))
			return false;
	}
	s->badmac_seen = dtls_badmac_count(s->ssl);
	for (;;) {
		r = mbedtls_ssl_read(s->ssl, buf, sizeof buf);
		if (cid_move.s == s)
			session_cid_moved(s);
		if (r > 0) {
			s->last_active_ms = clock_ms();
			if (mbedtls_ssl_get_bytes_avail(s->ssl) > 0)
				session_record_too_large(s, buf, sizeof buf);
			else
				relay_from_device(s, buf, (size_t)r);
			continue;
		}
		if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE)
			break;
		if (r == 0 || r == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
			session_close(s, "close_notify");
			return false;
		}
		if (r == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE) {
			dtls_alert_reason(dtls_alert_received(s->ssl), reason, sizeof reason);
			session_close(s, reason);
			return false;
		}
		dtls_failure_reason(s->ssl, &s->link, r, reason, sizeof reason);
		session_close(s, reason);
		return false;
	}
	if (dtls_badmac_count(s->ssl) != s->badmac_seen) {
		stats.badmac_dropped += dtls_badmac_count(s->ssl) - s->badmac_seen;
		log_debug("session=%08x peer=%s dropped %u record(s) with a bad MAC", s->id,
		    session_peer_str(s), dtls_badmac_count(s->ssl) - s->badmac_seen);
		s->badmac_seen = dtls_badmac_count(s->ssl);
	}
	return true;
}

/* Feeds one datagram to a session's mbedTLS context. */
static bool
session_feed(struct session *s, const struct datagram *d)
{
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

/* Evicts the oldest handshake in progress to make room for a new one. */
static bool
session_make_handshake_room(void)
{
	if (session_hs_n < session_cfg->max_handshakes)
		return true;
	if (hs_oldest == NULL)
		return false;
	stats.evicted_max_handshakes++;
	session_fail(hs_oldest, HS_FAIL_EVICTED,
	    "evicted: session.max_handshakes handshakes in progress", 0);
	return session_hs_n < session_cfg->max_handshakes;
}

/* Counts a handshake from a peer's address; false when over the per-second limit. */
static bool
rate_allow(const struct sockaddr *peer, uint32_t limit)
{
	uint8_t addr[16] = { 0 };
	uint64_t h = session_seed, sec = clock_ms() / 1000;
	struct rate_slot *slot;

	if (limit == 0)
		return true;
	if (peer->sa_family == AF_INET)
		memcpy(addr, (const char *)peer + offsetof(struct sockaddr_in, sin_addr), 4);
	else
		memcpy(addr, (const char *)peer + offsetof(struct sockaddr_in6, sin6_addr), 16);
	for (size_t i = 0; i < sizeof addr; i++)
		h = (h ^ addr[i]) * 0x100000001b3ULL;
	slot = &rate_table[(h ^ h >> 32) % RATE_SLOTS];
	if (slot->second != sec) {
		memcpy(slot->addr, addr, sizeof addr);
		slot->second = sec;
		slot->count = 0;
	}
	return ++slot->count <= limit;
}

/* Logs a refusal of a peer whose cookie was valid (rate-limited). */
static void
session_refuse(const struct datagram *d, uint32_t id, const char *reason)
{
	struct log_event ev = LOG_EVENT_INIT;
	char peer[64], local[64];

	if (!ratelimit_allow(&refuse_rl, "session-refused"))
		return;
	ev.event = "session-refused";
	ev.session = id;
	ev.peer = addr_format((const struct sockaddr *)&d->peer, peer, sizeof peer);
	ev.local = local_format(d->listener, &d->local, local, sizeof local);
	ev.reason = reason;
	log_event(LOG_LVL_WARNING, &ev);
}

/* Names a DTLS record content type for the log. */
static const char *
record_type_name(uint8_t type, char *buf, size_t len)
{
	switch (type) {
	case MBEDTLS_SSL_MSG_CHANGE_CIPHER_SPEC: return "change_cipher_spec";
	case MBEDTLS_SSL_MSG_ALERT: return "alert";
	case MBEDTLS_SSL_MSG_HANDSHAKE: return "handshake";
	case MBEDTLS_SSL_MSG_APPLICATION_DATA: return "application_data";
	default: snprintf(buf, len, "%u", type); return buf;
	}
}

/*
 * Counts and logs (rate-limited) an encrypted record (epoch > 0) from an
 * address:port that has no session: one that ended, or that a restarted
 * proxy never knew. An alert (the device's answer to our close_notify) only
 * at debug level.
 */
static void
session_unknown_record(const struct datagram *d, uint8_t type, uint16_t epoch)
{
	struct log_event ev = LOG_EVENT_INIT;
	char peer[64], local[64], type_s[8], epoch_s[8];

	stats.records_unknown_session++;
	if (type == MBEDTLS_SSL_MSG_ALERT && !log_enabled(LOG_LVL_DEBUG))
		return;
	if (!ratelimit_allow(&unknown_rl, "record-unknown-session"))
		return;
	ev.event = "record-unknown-session";
	ev.peer = addr_format((const struct sockaddr *)&d->peer, peer, sizeof peer);
	ev.local = local_format(d->listener, &d->local, local, sizeof local);
	log_event_add(&ev, "type", record_type_name(type, type_s, sizeof type_s), false);
	snprintf(epoch_s, sizeof epoch_s, "%u", epoch);
	log_event_add(&ev, "epoch", epoch_s, false);
	ev.reason = "no session for this address:port (it ended, or the proxy restarted): "
	            "dropped; the device must start a new handshake";
	log_event(type == MBEDTLS_SSL_MSG_ALERT ? LOG_LVL_DEBUG : LOG_LVL_WARNING, &ev);
}

/*
 * A ClientHello from a peer without a session (live == NULL) or from one
 * whose session is established (a reconnect): cookie first, state after.
 */
static void
session_hello(const struct datagram *d, struct session *live)
{
	struct log_event ev = LOG_EVENT_INIT;
	struct client_hello ch;
	struct session *s;
	char peer[64], local[64], offered[1024], detail[128], n_offered[16], other[16];
	uint32_t id;
	uint8_t type;
	uint16_t epoch;

	if (!dtls_parse_client_hello(d->data, d->len, &ch)) {
		if (live == NULL && dtls_record_peek(d->data, d->len, &type, &epoch) && epoch > 0) {
			session_unknown_record(d, type, epoch);
			return;
		}
		stats.hellos_dropped++;
		if (log_enabled(LOG_LVL_DEBUG))
			log_debug("peer=%s dropped %zu-byte datagram: not a whole DTLS 1.2 "
			          "ClientHello", addr_format((const struct sockaddr *)&d->peer, peer,
			                             sizeof peer), d->len);
		return;
	}
	if (!dtls_cookie_valid(&ch, (const struct sockaddr *)&d->peer, d->peerlen, &id)) {
		if (dtls_send_hello_verify(d, &ch, &id) < 0) {
			log_warn("peer=%s cannot send HelloVerifyRequest",
			    addr_format((const struct sockaddr *)&d->peer, peer, sizeof peer));
			return;
		}
		stats.cookies_sent++;
		if (ratelimit_allow(&cookie_rl, "cookie-sent")) {
			ev.event = "cookie-sent";
			ev.session = id;
			ev.peer = addr_format((const struct sockaddr *)&d->peer, peer, sizeof peer);
			ev.local = local_format(d->listener, &d->local, local, sizeof local);
			if (live != NULL) {
				snprintf(other, sizeof other, "%08x", live->id);
				log_event_add(&ev, "live_session", other, false);
			}
			log_event(LOG_LVL_INFO, &ev);
		}
		return;
	}
	/* The peer has proven its address: state may be allocated from here on. */
	if (live == NULL && session_n >= session_cfg->max_sessions) {
		stats.refused_max_sessions++;
		snprintf(detail, sizeof detail, "session.max_sessions (%u) reached",
		    session_cfg->max_sessions);
		session_refuse(d, id, detail);
		return;
	}
	if (!rate_allow((const struct sockaddr *)&d->peer, session_cfg->handshakes_per_source)) {
		stats.refused_rate++;
		snprintf(detail, sizeof detail,
		    "session.handshakes_per_source (%u per second) reached for this address",
		    session_cfg->handshakes_per_source);
		session_refuse(d, id, detail);
		return;
	}
	if (!session_make_handshake_room()) {
		session_refuse(d, id, "session.max_handshakes reached");
		return;
	}
	s = session_new(d, id);
	if (s == NULL) {
		session_refuse(d, id, "out of memory");
		return;
	}
	memcpy(s->hello_random, ch.random, sizeof s->hello_random);
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
	snprintf(n_offered, sizeof n_offered, "%zu", ch.n_suites);
	log_event_add(&ev, "offered_suites", n_offered, false);
	if (log_enabled(LOG_LVL_DEBUG)) {
		dtls_offered_suites(&ch, offered, sizeof offered);
		log_event_add(&ev, "offered", offered, true);
	}
	log_event(LOG_LVL_INFO, &ev);

	s->hello = &ch;
	if (session_feed(s, d))
		s->hello = NULL;
}

/* How a ClientHello relates to a handshake in progress from the same address:port. */
enum hello_match {
	HELLO_OTHER, /* no valid cookie: only the stateless stage may answer it */
	HELLO_SAME,  /* valid cookie, same client random: a retransmission */
	HELLO_NEW,   /* valid cookie, new client random: the client started over */
};

/* Compares a ClientHello with the handshake in progress of session s. */
static enum hello_match
hello_match(const struct session *s, const struct datagram *d)
{
	struct client_hello ch;
	uint32_t id;

	if (!dtls_parse_client_hello(d->data, d->len, &ch) ||
	    !dtls_cookie_valid(&ch, (const struct sockaddr *)&d->peer, d->peerlen, &id))
		return HELLO_OTHER;
	if (!dtls_handshake_pending(s->ssl) ||
	    memcmp(ch.random, s->hello_random, sizeof s->hello_random) == 0)
		return HELLO_SAME;
	return HELLO_NEW;
}

/* Tells whether a ClientHello repeats the one that set up session s (a late duplicate). */
static bool
hello_repeats(const struct session *s, const struct datagram *d)
{
	struct client_hello ch;

	return dtls_parse_client_hello(d->data, d->len, &ch) &&
	       memcmp(ch.random, s->hello_random, sizeof s->hello_random) == 0;
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
		if (other->successor != NULL)
			session_close(other->successor, "address taken over");
		session_close(other, "address taken over");
	}
	table_remove(s);
	memcpy(&s->link.peer, &d->peer, d->peerlen);
	s->link.peerlen = d->peerlen;
	s->link.listener = d->listener;
	if (d->local.family != 0)
		s->link.local = d->local;
	table_insert(s);
	stats.peer_address_changes++;
	session_event(s, &ev, "peer-address-changed");
	log_event_add(&ev, "from", from, false);
	log_event_add(&ev, "to", session_peer_str(s), false);
	log_event(LOG_LVL_INFO, &ev);
}

/* Logs a CID record that no session owns (rate-limited); it is only counted and dropped. */
static void
session_cid_unknown(const struct datagram *d)
{
	struct log_event ev = LOG_EVENT_INIT;
	char peer[64], local[64], hex[2 * DTLS_CID_MAX + 1] = "";
	const uint8_t *cid;

	stats.cid_unknown++;
	if (!ratelimit_allow(&cid_rl, "cid-unknown"))
		return;
	ev.event = "cid-unknown";
	ev.peer = addr_format((const struct sockaddr *)&d->peer, peer, sizeof peer);
	ev.local = local_format(d->listener, &d->local, local, sizeof local);
	/* The CID as new sessions' length reads it (hex: safe to log whatever it is). */
	if (dtls_cid_record(d->data, d->len, session_cfg->cid_length, &cid)) {
		for (size_t i = 0; i < session_cfg->cid_length; i++)
			snprintf(hex + 2 * i, 3, "%02x", cid[i]);
		log_event_add(&ev, "cid", hex, false);
	}
	ev.reason = "record with a Connection ID no session has: dropped";
	log_event(LOG_LVL_INFO, &ev);
}

/*
 * A tls12_cid record (RFC 9146): it belongs to the session with its CID,
 * wherever it comes from. From the session's own address it is fed as any
 * record; from another one, the session moves there only if the record
 * authenticates and is the newest yet (session_cid_moved), and nothing is
 * sent to the new address before that. Unknown CIDs are dropped: such a
 * record is never taken for the start of a handshake.
 */
static void
session_cid_input(const struct datagram *d)
{
	struct session *s = cid_find_record(d);

	if (s == NULL) {
		session_cid_unknown(d);
		return;
	}
	if (s->link.listener == d->listener &&
	    peer_equal(&s->link.peer.sa, (const struct sockaddr *)&d->peer)) {
		session_feed(s, d);
		return;
	}
	/* Only an established session on its own moves: not during a handshake or a reconnect. */
	if (s->state != SESSION_ESTABLISHED || s->predecessor != NULL || s->successor != NULL) {
		log_debug("session=%08x peer=%s dropped a CID record from %s: not movable now", s->id,
		    session_peer_str(s), addr_format((const struct sockaddr *)&d->peer, addr_buf(), 64));
		return;
	}
	if (!session_unpark(s)) {
		session_close(s, "cannot restore the parked session");
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

void
session_input(const struct datagram *d)
{
	struct session *s;
	uint8_t type;
	uint16_t epoch;

	if (d->len == 0) {
		stats.hellos_dropped++; /* nothing in it: not even end of connection */
		return;
	}
	if (dtls_is_cid_record(d->data, d->len)) {
		session_cid_input(d);
		return;
	}
	s = table_find(d->listener, (const struct sockaddr *)&d->peer);

	if (s == NULL) {
		session_hello(d, NULL);
		return;
	}
	if (dtls_is_client_hello(d->data, d->len)) {
		struct session *hs = s->successor != NULL            ? s->successor
		                     : s->state == SESSION_HANDSHAKE ? s
		                                                     : NULL;

		switch (hs != NULL ? hello_match(hs, d) : HELLO_OTHER) {
		case HELLO_SAME:
			session_feed(hs, d); /* mbedTLS resends its flight */
			return;
		case HELLO_NEW:
			session_fail(hs, HS_FAIL_OTHER, "client restarted the handshake", 0);
			session_input(d);
			return;
		case HELLO_OTHER:
			break;
		}
		/*
		 * A late duplicate of the hello that made an established session
		 * (its last flight may have been lost: the client's retransmitted
		 * Finished must still reach it) is dropped; a cookieless hello is
		 * answered statelessly; anything else is a reconnect.
		 */
		if (s->state == SESSION_ESTABLISHED && hs == NULL && hello_repeats(s, d)) {
			stats.hellos_dropped++;
			log_debug("session=%08x peer=%s dropped a late duplicate of its ClientHello",
			    s->id, session_peer_str(s));
			return;
		}
		session_hello(d, s->state == SESSION_ESTABLISHED ? s : NULL);
		return;
	}
	if (s->successor != NULL && dtls_record_peek(d->data, d->len, &type, &epoch)) {
		struct session *succ = s->successor;
		unsigned badmac;

		if (!session_unpark(s)) {
			session_close(s, "cannot restore the parked session");
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

void
session_init(struct event_base *base)
{
	session_base = base;
	session_buckets = 1024;
	session_table = calloc(session_buckets, sizeof *session_table);
	cid_buckets = 1024;
	cid_table = calloc(cid_buckets, sizeof *cid_table);
	if (session_table == NULL || cid_table == NULL)
		fatal("session table");
	if (getentropy(&session_seed, sizeof session_seed) < 0)
		session_seed = (uint64_t)clock_ms() ^ (uint64_t)getpid();
	if (relay_init(base) < 0)
		fatalx("cannot set up the CoAP relay");
	struct timeval second = { .tv_sec = 1 };

	session_sweep_ev = event_new(base, -1, EV_PERSIST, session_sweep_cb, NULL);
	if (session_sweep_ev == NULL || event_add(session_sweep_ev, &second) < 0)
		fatalx("cannot set up the session timers");
}

void
session_set_config(struct proxy_config *cfg)
{
	if (session_cfg != NULL)
		config_unref(session_cfg);
	session_cfg = config_ref(cfg);
}

void
session_close_all(const char *reason)
{
	for (size_t i = 0; i < session_buckets; i++) {
		while (session_table[i] != NULL) {
			struct session *s = session_table[i];

			if (s->successor != NULL)
				session_close(s->successor, reason);
			session_close(s, reason);
		}
	}
}

void
session_close_listener(struct listener *l, const char *reason)
{
	for (size_t i = 0; i < session_buckets; i++) {
		for (struct session *s = session_table[i], *next; s != NULL; s = next) {
			next = s->hnext;
			if (s->link.listener != l)
				continue;
			if (s->successor != NULL)
				session_close(s->successor, reason);
			session_close(s, reason);
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
			if (s->successor != NULL)
				session_close(s->successor, "credentials-revoked");
			session_close(s, "credentials-revoked");
			n++;
		}
	}
	return n;
}

/*
 * Writes a session's identity as "psk:ID", "x509:CN", "anonymous" or ""
 * (not established), as routes match it; name: only ID or CN ("" else).
 */
static void
session_identity_str(const struct session *s, char *buf, size_t len, bool name)
{
	if (s->state != SESSION_ESTABLISHED || s->link.auth == LINK_AUTH_NONE ||
	    (name && s->link.auth == LINK_AUTH_ANONYMOUS))
		buf[0] = '\0';
	else if (s->link.auth == LINK_AUTH_ANONYMOUS)
		snprintf(buf, len, "anonymous");
	else
		snprintf(buf, len, "%s%s%.*s", name ? "" : dtls_auth_name(s->link.auth),
		    name ? "" : ":", (int)s->link.identity_len, (const char *)s->link.identity);
}

/* Fills a read-only view of session s; text lives in buf and backends. */
static void
session_info_fill(const struct session *s, struct session_info *info, char *buf, size_t len,
    char *backends, size_t backends_len)
{
	uint64_t now = clock_ms();
	unsigned observing, pending;

	session_identity_str(s, buf, len, true);
	relay_describe(s, backends, backends_len, &observing, &pending);
	*info = (struct session_info){
		.id = s->id,
		.peer = session_peer_str(s),
		.local = session_local_str(s),
		.auth = s->state == SESSION_ESTABLISHED && s->link.auth != LINK_AUTH_NONE
		            ? dtls_auth_name(s->link.auth)
		            : "",
		.identity = buf,
		.cipher = s->cipher ? s->cipher : "",
		.state = s->state == SESSION_HANDSHAKE ? "handshake"
		         : s->parked != NULL             ? "parked"
		                                         : "established",
		.backend = relay_backend_name(s),
		.cid = cid_str(s),
		.age_ms = now - s->created_ms,
		.idle_ms = now - s->last_active_ms,
		.bytes_in = s->bytes_in,
		.bytes_out = s->bytes_out,
		.msgs_in = s->msgs_in,
		.msgs_out = s->msgs_out,
		.handshake_ms = s->state == SESSION_HANDSHAKE ? -1
		                : (int64_t)(s->established_ms - s->created_ms),
		.cert_subject = s->cert != NULL ? s->cert->subject : "",
		.cert_issuer = s->cert != NULL ? s->cert->issuer : "",
		.cert_not_after = s->cert != NULL ? s->cert->not_after : 0,
		.backends = backends,
		.observing = observing,
		.pending = pending,
	};
}

void
session_foreach(void (*fn)(const struct session_info *, void *), void *arg)
{
	char identity[CONFIG_PSK_IDENTITY_MAX + 16], backends[640];
	struct session_info info;

	for (size_t i = 0; i < session_buckets; i++) {
		for (struct session *s = session_table[i]; s != NULL; s = s->hnext) {
			session_info_fill(s, &info, identity, sizeof identity, backends, sizeof backends);
			fn(&info, arg);
			if (s->successor != NULL) {
				session_info_fill(s->successor, &info, identity, sizeof identity, backends,
				    sizeof backends);
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
			if (s->id == id)
				return s;
			if (s->successor != NULL && s->successor->id == id)
				return s->successor;
		}
	}
	return NULL;
}

bool
session_close_id(uint32_t id, const char *reason)
{
	struct session *s = session_find_id(id);

	if (s == NULL)
		return false;
	session_close(s, reason);
	return true;
}

size_t
session_close_identity(const char *glob, const char *reason)
{
	size_t n = 0;

	for (size_t i = 0; i < session_buckets; i++) {
		for (struct session *s = session_table[i], *next; s != NULL; s = next) {
			char id[CONFIG_PSK_IDENTITY_MAX + 16];

			next = s->hnext;
			if (s->state != SESSION_ESTABLISHED)
				continue;
			session_identity_str(s, id, sizeof id, false);
			if (!route_identity_match(glob, id))
				continue;
			if (s->successor != NULL)
				session_close(s->successor, reason);
			session_close(s, reason);
			n++;
		}
	}
	return n;
}

size_t
session_count(void)
{
	return session_n;
}

size_t
session_parked_count(void)
{
	return session_parked_n;
}

size_t
session_handshake_count(void)
{
	return session_hs_n;
}

const struct session_stats *
session_stats(void)
{
	return &stats;
}

void
session_shutdown(void)
{
	session_close_all("shutdown");
	free(session_table);
	session_table = NULL;
	free(cid_table);
	cid_table = NULL;
	relay_shutdown();
	if (session_sweep_ev != NULL)
		event_free(session_sweep_ev);
	session_sweep_ev = NULL;
	if (session_cfg != NULL)
		config_unref(session_cfg);
	session_cfg = NULL;
}
