/* relay.h: the CoAP side of a session: routing, upstream sockets, proxy-made answers. */
#ifndef COAPS_RELAY_H
#define COAPS_RELAY_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>

#include "session.h"

struct event_base;

/* Sets up the relay (parser state, the sweep of orphaned upstream sockets). */
int relay_init(struct event_base *base) __attribute__((warn_unused_result));
/* Closes every orphaned upstream socket and frees the relay's state. */
void relay_shutdown(void);
/* Handles one decrypted CoAP message from the device of session s. */
void relay_from_device(struct session *s, const uint8_t *buf, size_t len);
/*
 * A record from the device held a message of size bytes, over limit; buf
 * holds its first len bytes. Never forwarded: a CON request is answered 4.13,
 * another CON or NON gets an RST; logged (warning) and counted.
 */
void relay_too_large(struct session *s, const uint8_t *buf, size_t len, size_t size, size_t limit);
/*
 * Frees the CoAP state of a session that is ending. Upstream sockets with a
 * live Observe stay open a while, answering the backend's next message with
 * RST (RFC 7641 3.6); the others close now.
 */
void relay_session_end(struct session *s);
/*
 * A session is being parked: closes the upstream sockets with no exchange or
 * Observe under way, and frees the CoAP state if nothing is left.
 */
void relay_session_park(struct session *s);
/* Number of orphaned upstream sockets waiting to RST a backend. */
size_t relay_orphan_count(void); /* of all workers (worker 0's thread) */

/* Upper bounds (ms) of the backend round-trip buckets; one more bucket is +Inf. */
#define RELAY_RTT_BUCKETS 11
extern const unsigned relay_rtt_bounds_ms[RELAY_RTT_BUCKETS - 1];

/* Counters of one backend, by name (they survive reloads that keep the name). */
struct backend_stats {
	char *name;
	uint64_t requests;                       /* requests sent to it */
	uint64_t errors;                         /* refused (port unreachable) or no socket */
	uint64_t timeouts;                       /* CON requests it left unanswered (5.04) */
	uint64_t rtt_buckets[RELAY_RTT_BUCKETS]; /* request to answer, by relay_rtt_bounds_ms */
	uint64_t rtt_sum_ms;
	int64_t last_error_time; /* unix time of the last error or timeout, 0 if none */
	char last_error[128];    /* what it was, in words */
	SLIST_ENTRY(backend_stats) next;
};
/*
 * The counters of each of the n backends b[] added up over the workers, into
 * sums[] (zero for one not used yet), in one call into each worker (worker 0's
 * thread).
 */
void relay_backend_sums(const struct backend_conf *b, size_t n, struct backend_stats *sums);

/*
 * Describes what session s has open, into info: the backend used last, the
 * backends in use (names, comma separated, into buf; "" if none), Observe
 * relations and requests awaiting an answer.
 */
void relay_describe(const struct session *s, struct session_info *info, char *buf, size_t len);

/* The relay as the session layer's upper layer (for session_set_hooks). */
extern const struct session_hooks relay_hooks;

#endif
