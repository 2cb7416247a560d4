/* frontdoor.c: every datagram from a listener first: the stateless cookie stage, limits and refusals, then the session it belongs to. */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/ssl.h>

#include "admit.h"
#include "clock.h"
#include "configuration.h"
#include "dtls.h"
#include "frontdoor.h"
#include "log.h"
#include "ratelimit.h"
#include "session.h"
#include "stats.h"

#define EVENTS_PER_SECOND 20 /* cookie / refusal lines logged per second */

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
/* Shared by the workers (a source's ports land in several): under frontdoor_lock. */
static pthread_mutex_t frontdoor_lock = PTHREAD_MUTEX_INITIALIZER;
static struct rate_slot rate_table[RATE_SLOTS];
static uint64_t frontdoor_seed; /* hashes source addresses into rate_table */
static struct ratelimit cookie_rl, refuse_rl, unknown_rl, cid_rl;

/* Tells whether one more line fits this second's budget; reports what was held back. */
static bool
frontdoor_log_allow(struct ratelimit *rl, const char *what)
{
	unsigned long held;
	bool ok;

	pthread_mutex_lock(&frontdoor_lock);
	ok = ratelimit_allow(rl, clock_ms(), EVENTS_PER_SECOND, &held);
	pthread_mutex_unlock(&frontdoor_lock);

	if (held > 0)
		log_warnx("event=log-suppressed what=%s count=%lu reason=\"more than %d "
		          "per second\"",
		    what, held, EVENTS_PER_SECOND);
	return ok;
}

/*
 * Makes room for a new handshake of class cls when session.max_handshakes are
 * in progress: evicts the oldest full handshake; a resumption or PSK one, when
 * there is no full handshake to evict, the oldest of any kind. A full one is
 * refused (false) when only resumption and PSK handshakes are in progress.
 */
static bool
frontdoor_make_handshake_room(const struct proxy_config *cfg, enum admit_class cls)
{
	static const char reason[] = "evicted: session.max_handshakes handshakes in progress";

	if (session_handshake_count() < cfg->max_handshakes)
		return true;
	if (!session_evict_oldest_handshake(reason, true) &&
	    (cls == ADMIT_FULL || !session_evict_oldest_handshake(reason, false)))
		return false;
	stats_mut()->evicted_max_handshakes++;
	return session_handshake_count() < cfg->max_handshakes;
}

/* Counts a handshake from a peer's address; false when over the per-second limit. */
static bool
rate_allow(const struct sockaddr *peer, uint32_t limit)
{
	uint8_t addr[16] = { 0 };
	uint64_t h = frontdoor_seed, sec = clock_ms() / 1000;
	struct rate_slot *slot;
	bool ok;

	if (limit == 0)
		return true;
	if (peer->sa_family == AF_INET)
		memcpy(addr, (const char *)peer + offsetof(struct sockaddr_in, sin_addr), 4);
	else
		memcpy(addr, (const char *)peer + offsetof(struct sockaddr_in6, sin6_addr), 16);
	for (size_t i = 0; i < sizeof addr; i++)
		h = (h ^ addr[i]) * 0x100000001b3ULL;
	pthread_mutex_lock(&frontdoor_lock);
	slot = &rate_table[(h ^ h >> 32) % RATE_SLOTS];
	if (slot->second != sec) {
		memcpy(slot->addr, addr, sizeof addr);
		slot->second = sec;
		slot->count = 0;
	}
	ok = ++slot->count <= limit;
	pthread_mutex_unlock(&frontdoor_lock);
	return ok;
}

/* Logs a refusal of a peer whose cookie was valid (rate-limited). */
static void
frontdoor_refuse(const struct datagram *d, uint32_t id, const char *reason)
{
	struct log_event ev = LOG_EVENT_INIT;
	char peer[64], local[64];

	if (!frontdoor_log_allow(&refuse_rl, "session-refused"))
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
	case MBEDTLS_SSL_MSG_CHANGE_CIPHER_SPEC:
		return "change_cipher_spec";
	case MBEDTLS_SSL_MSG_ALERT:
		return "alert";
	case MBEDTLS_SSL_MSG_HANDSHAKE:
		return "handshake";
	case MBEDTLS_SSL_MSG_APPLICATION_DATA:
		return "application_data";
	default:
		snprintf(buf, len, "%u", type);
		return buf;
	}
}

/*
 * Counts and logs (rate-limited) an encrypted record (epoch > 0) from an
 * address:port that has no session: one that ended, or that a restarted
 * proxy never knew. An alert (the device's answer to our close_notify) only
 * at debug level.
 */
static void
frontdoor_unknown_record(const struct datagram *d, uint8_t type, uint16_t epoch)
{
	struct log_event ev = LOG_EVENT_INIT;
	char peer[64], local[64], type_s[8], epoch_s[8];

	stats_mut()->records_unknown_session++;
	if (type == MBEDTLS_SSL_MSG_ALERT && !log_enabled(LOG_LVL_DEBUG))
		return;
	if (!frontdoor_log_allow(&unknown_rl, "record-unknown-session"))
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
frontdoor_hello(const struct datagram *d, struct session *live)
{
	const struct proxy_config *cfg = session_current_config();
	struct log_event ev = LOG_EVENT_INIT;
	struct client_hello ch;
	char peer[64], local[64], detail[256], other[16], prefix[ADMIT_PREFIX_TEXT];
	enum admit_class cls;
	uint32_t id, n;
	uint8_t type;
	uint16_t epoch;

	if (!dtls_parse_client_hello(d->data, d->len, &ch)) {
		if (live == NULL && dtls_record_peek(d->data, d->len, &type, &epoch) && epoch > 0) {
			frontdoor_unknown_record(d, type, epoch);
			return;
		}
		stats_mut()->hellos_dropped++;
		if (log_enabled(LOG_LVL_DEBUG))
			log_debug("peer=%s dropped %zu-byte datagram: not a whole DTLS 1.2 "
			          "ClientHello",
			    addr_format((const struct sockaddr *)&d->peer, peer, sizeof peer),
			    d->len);
		return;
	}
	if (!dtls_cookie_valid(&ch, (const struct sockaddr *)&d->peer, d->peerlen, &id)) {
		if (dtls_send_hello_verify(d, &ch, &id) < 0) {
			log_warn("peer=%s cannot send HelloVerifyRequest",
			    addr_format((const struct sockaddr *)&d->peer, peer, sizeof peer));
			return;
		}
		stats_mut()->cookies_sent++;
		if (frontdoor_log_allow(&cookie_rl, "cookie-sent")) {
			ev.event = "cookie-sent";
			ev.session = id;
			ev.peer = addr_format((const struct sockaddr *)&d->peer, peer, sizeof peer);
			ev.local = local_format(d->listener, &d->local, local, sizeof local);
			if (live != NULL) {
				snprintf(other, sizeof other, "%08x", session_id(live));
				log_event_add(&ev, "live_session", other, false);
			}
			log_event(LOG_LVL_INFO, &ev);
		}
		return;
	}
	/* The peer has proven its address: state may be allocated from here on. */
	if (live == NULL && session_count() >= cfg->max_sessions) {
		stats_mut()->refused_max_sessions++;
		snprintf(detail, sizeof detail, "session.max_sessions (%u) reached",
		    cfg->max_sessions);
		frontdoor_refuse(d, id, detail);
		return;
	}
	if (!rate_allow((const struct sockaddr *)&d->peer, cfg->handshakes_per_source)) {
		stats_mut()->refused_rate++;
		snprintf(detail, sizeof detail,
		    "session.handshakes_per_source (%u per second) reached for this address",
		    cfg->handshakes_per_source);
		frontdoor_refuse(d, id, detail);
		return;
	}
	n = admit_prefix_handshakes((const struct sockaddr *)&d->peer);
	if (cfg->handshakes_per_prefix > 0 && n >= cfg->handshakes_per_prefix) {
		stats_mut()->refused_prefix++;
		admit_prefix_refused((const struct sockaddr *)&d->peer);
		admit_prefix_text((const struct sockaddr *)&d->peer, prefix);
		snprintf(detail, sizeof detail,
		    "session.handshakes_per_prefix (%u) reached: %u handshakes in progress "
		    "from source prefix %s",
		    cfg->handshakes_per_prefix, n, prefix);
		frontdoor_refuse(d, id, detail);
		return;
	}
	cls = admit_classify(d->data, d->len, &ch);
	if (!frontdoor_make_handshake_room(cfg, cls)) {
		if (cls == ADMIT_FULL)
			stats_mut()->refused_max_handshakes++;
		snprintf(detail, sizeof detail, "session.max_handshakes (%u) reached%s",
		    cfg->max_handshakes,
		    cls == ADMIT_FULL ? ", all of them resumption or PSK handshakes, which go "
		                        "before a full handshake"
		                      : "");
		frontdoor_refuse(d, id, detail);
		return;
	}
	if (!session_start(d, id, &ch, live))
		frontdoor_refuse(d, id, "out of memory");
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
	return session_hello_same(s, &ch) ? HELLO_SAME : HELLO_NEW;
}

/* Tells whether a ClientHello repeats the one that set up session s (a late duplicate). */
static bool
hello_repeats(const struct session *s, const struct datagram *d)
{
	struct client_hello ch;

	return dtls_parse_client_hello(d->data, d->len, &ch) && session_hello_repeats(s, &ch);
}

/* Logs a CID record that no session owns (rate-limited); it is only counted and dropped. */
static void
frontdoor_cid_unknown(const struct datagram *d)
{
	const struct proxy_config *cfg = session_current_config();
	struct log_event ev = LOG_EVENT_INIT;
	char peer[64], local[64], hex[2 * DTLS_CID_MAX + 1] = "";
	const uint8_t *cid;

	stats_mut()->cid_unknown++;
	if (!frontdoor_log_allow(&cid_rl, "cid-unknown"))
		return;
	ev.event = "cid-unknown";
	ev.peer = addr_format((const struct sockaddr *)&d->peer, peer, sizeof peer);
	ev.local = local_format(d->listener, &d->local, local, sizeof local);
	/* The CID as new sessions' length reads it (hex: safe to log whatever it is). */
	if (dtls_cid_record(d->data, d->len, cfg->cid_length, &cid)) {
		for (size_t i = 0; i < cfg->cid_length; i++)
			snprintf(hex + 2 * i, 3, "%02x", cid[i]);
		log_event_add(&ev, "cid", hex, false);
	}
	ev.reason = "record with a Connection ID no session has: dropped";
	log_event(LOG_LVL_INFO, &ev);
}

void
frontdoor_input(const struct datagram *d)
{
	struct session *s;

	if (d->len == 0) {
		stats_mut()->hellos_dropped++; /* nothing in it: not even end of connection */
		return;
	}
	if (dtls_is_cid_record(d->data, d->len)) {
		/* Unknown CIDs are dropped: never taken for the start of a handshake. */
		s = session_find_cid(d);
		if (s == NULL)
			frontdoor_cid_unknown(d);
		else
			session_cid_input(s, d);
		return;
	}
	s = session_find(d);
	if (s == NULL) {
		frontdoor_hello(d, NULL);
		return;
	}
	if (dtls_is_client_hello(d->data, d->len)) {
		struct session *hs = session_handshake_at(s);

		switch (hs != NULL ? hello_match(hs, d) : HELLO_OTHER) {
		case HELLO_SAME:
			session_feed(hs, d); /* mbedTLS resends its flight */
			return;
		case HELLO_NEW:
			session_handshake_abort(hs, HS_FAIL_OTHER,
			    "client restarted the handshake");
			frontdoor_input(d);
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
		if (session_is_established(s) && hs == NULL && hello_repeats(s, d)) {
			stats_mut()->hellos_dropped++;
			log_debug(
			    "session=%08x peer=%s dropped a late duplicate of its ClientHello",
			    session_id(s), session_peer_str(s));
			return;
		}
		frontdoor_hello(d, session_is_established(s) ? s : NULL);
		return;
	}
	session_input(s, d);
}

void
frontdoor_init(void)
{
	if (frontdoor_seed != 0)
		return; /* the first worker's set-up made it (the set-ups run one after another) */
	if (getentropy(&frontdoor_seed, sizeof frontdoor_seed) < 0)
		frontdoor_seed = (uint64_t)clock_ms() ^ (uint64_t)getpid();
}
