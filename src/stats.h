/* stats.h: the daemon's counters and their names; the session layer and the relay count, metrics, status and control read. */
#ifndef COAPS_STATS_H
#define COAPS_STATS_H

#include <stddef.h>
#include <stdint.h>

/* Handshake-duration histogram: buckets by stats_hs_bounds_ms, and one for +Inf. */
#define STATS_HS_BUCKETS 8
/* Upper bounds (ms) of the handshake-duration buckets but the last. */
extern const unsigned stats_hs_bounds_ms[STATS_HS_BUCKETS - 1];

/* Why handshakes fail, for counters. */
enum hs_failure {
	HS_FAIL_UNKNOWN_IDENTITY, /* PSK identity not configured */
	HS_FAIL_WRONG_KEY,        /* bad record MAC on the client's Finished */
	HS_FAIL_NO_SHARED_SUITE,  /* no cipher suite in common */
	HS_FAIL_TIMEOUT,          /* the client stopped answering */
	HS_FAIL_PEER_ALERT,       /* the client sent a fatal alert */
	HS_FAIL_CERTIFICATE,      /* the client certificate was rejected or missing */
	HS_FAIL_EVICTED,          /* evicted to make room (session.max_handshakes) */
	HS_FAIL_OTHER,            /* anything else */
	HS_FAIL_COUNT
};
/* Names of enum hs_failure values, for stats output ("unknown_identity", ...). */
extern const char *const hs_failure_names[HS_FAIL_COUNT];

/* Answers the proxy makes itself, for counters. */
enum proxy_answer {
	ANSWER_RST_PING,      /* RST to an empty CON (CoAP ping) */
	ANSWER_RST_MALFORMED, /* RST to a malformed CON */
	ANSWER_4_00,          /* Bad Request: a request the proxy cannot rewrite */
	ANSWER_4_04,          /* Not Found: no route */
	ANSWER_5_02, /* Bad Gateway: backend refused, or its answer cannot reach the device */
	ANSWER_5_04, /* Gateway Timeout: the backend did not answer */
	ANSWER_5_05, /* Proxying Not Supported: a forward-proxy target not configured */
	ANSWER_4_13, /* Request Entity Too Large: a record over the message limit */
	ANSWER_COUNT
};
/* Counters for stats, metrics and sd_notify STATUS. */
struct proxy_stats {
	uint64_t handshakes_ok, handshakes_failed;
	uint64_t handshakes_resumed; /* of handshakes_ok: abbreviated (session resumption) */
	uint64_t handshakes_failed_by[HS_FAIL_COUNT];
	uint64_t handshake_ms_buckets[STATS_HS_BUCKETS]; /* by stats_hs_bounds_ms, then +Inf */
	uint64_t handshake_ms_sum;
	uint64_t cookies_sent, hellos_dropped;
	uint64_t refused_max_sessions, evicted_max_handshakes, refused_rate;
	/* session.handshakes_per_prefix; a full handshake refused by session.max_handshakes */
	uint64_t refused_prefix, refused_max_handshakes;
	uint64_t msgs_relayed_in, msgs_relayed_out;
	uint64_t coap_malformed, badmac_dropped, backend_dropped;
	uint64_t sessions_peak;
	uint64_t answers[ANSWER_COUNT];
	uint64_t parked, unparked;     /* sessions parked / brought back */
	uint64_t backend_late_dropped; /* answers after a 5.04 */
	uint64_t orphan_rst;           /* RSTs to backends whose device had gone */
	uint64_t coap_too_large;       /* device messages over the limit (answered 4.13 or RST) */
	uint64_t backend_too_large;    /* backend messages the device cannot be sent */
	/* epoch > 0 records from an address:port without a session */
	uint64_t records_unknown_session;
	uint64_t peer_address_changes; /* sessions moved to a new address by a CID record */
	uint64_t cid_unknown;          /* CID records whose CID no session has (dropped) */
};

/* The calling worker's counters, to count. */
struct proxy_stats *stats_mut(void);
/* The calling worker's counters, to read. */
const struct proxy_stats *stats_get(void);
/* The counters of all workers added up (worker 0's thread only). */
void stats_sum(struct proxy_stats *sum);
/* Counts a completed handshake that took ms milliseconds. */
void stats_handshake_ok(uint64_t ms);

#endif
