/* session.h: the session table and each session's life, from cookie to close. */
#ifndef COAPS_SESSION_H
#define COAPS_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "listener.h"

struct event_base;
struct proxy_config;

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
	ANSWER_5_02,          /* Bad Gateway: backend refused, or its answer cannot reach the device */
	ANSWER_5_04,          /* Gateway Timeout: the backend did not answer */
	ANSWER_5_05,          /* Proxying Not Supported: a forward-proxy target not configured */
	ANSWER_4_13,          /* Request Entity Too Large: a record over the message limit */
	ANSWER_COUNT
};
/* Names of enum proxy_answer values ("rst_ping", "4.04", ...). */
extern const char *const proxy_answer_names[ANSWER_COUNT];

/* Counters for stats, metrics and sd_notify STATUS. */
struct session_stats {
	uint64_t handshakes_ok, handshakes_failed;
	uint64_t handshakes_resumed; /* of handshakes_ok: abbreviated (session resumption) */
	uint64_t handshakes_failed_by[HS_FAIL_COUNT];
	uint64_t handshake_ms_buckets[8]; /* handshake durations: <=10,50,100,500,1000,5000,30000,+Inf ms */
	uint64_t handshake_ms_sum;
	uint64_t cookies_sent, hellos_dropped;
	uint64_t refused_max_sessions, evicted_max_handshakes, refused_rate;
	uint64_t msgs_relayed_in, msgs_relayed_out;
	uint64_t coap_malformed, badmac_dropped, backend_dropped;
	uint64_t sessions_peak;
	uint64_t answers[ANSWER_COUNT];
	uint64_t parked, unparked;     /* sessions parked / brought back */
	uint64_t backend_late_dropped; /* answers after a 5.04 */
	uint64_t orphan_rst;           /* RSTs to backends whose device had gone */
	uint64_t coap_too_large;       /* device messages over the limit (answered 4.13 or RST) */
	uint64_t backend_too_large;    /* backend messages the device cannot be sent */
	uint64_t records_unknown_session; /* epoch > 0 records from an address:port without a session */
	uint64_t peer_address_changes; /* sessions moved to a new address by a CID record */
	uint64_t cid_unknown;          /* CID records whose CID no session has (dropped) */
};

/* Sets up the table; base runs every session's events. */
void session_init(struct event_base *base);
/* Makes cfg the configuration of new sessions. */
void session_set_config(struct proxy_config *cfg);
/* Handles one datagram from a listener (listener_input_fn). */
void session_input(const struct datagram *d);
/* Closes every session with reason (close_notify to established ones). */
void session_close_all(const char *reason);
/* Closes the sessions of a listener that is going away. */
void session_close_listener(struct listener *l, const char *reason);
/* Number of sessions (established and handshaking). */
size_t session_count(void);
/* Number of parked sessions. */
size_t session_parked_count(void);
/* Number of handshakes in progress. */
size_t session_handshake_count(void);
/* The counters. */
const struct session_stats *session_stats(void);
/* A read-only view of one session, for the control socket. */
struct session_info {
	uint32_t id;
	const char *peer, *local;
	const char *auth;     /* "psk", "x509", "anonymous", or "" during the handshake */
	const char *identity; /* the PSK identity or certificate CN; "" if anonymous or handshaking */
	const char *cipher;   /* "" during the handshake */
	const char *state;    /* "handshake", "established", "parked" */
	const char *backend;  /* name of the backend, "" before the first request */
	const char *cid;      /* the proxy's Connection ID in hex, "" if none */
	uint64_t age_ms, idle_ms;
	uint64_t bytes_in, bytes_out, msgs_in, msgs_out;
	int64_t handshake_ms;         /* ClientHello with cookie to Finished; -1 while handshaking */
	const char *cert_subject;     /* client certificate's subject DN; "" without one */
	const char *cert_issuer;      /* ... its issuer DN */
	int64_t cert_not_after;       /* ... its expiry, unix time; 0 without one */
	const char *backends;         /* backends with an upstream socket now, comma separated */
	unsigned observing;           /* Observe relations through the proxy now */
	unsigned pending;             /* requests awaiting a backend's answer */
};

/*
 * After a reload to cfg: closes the sessions whose PSK identity was removed or
 * changed, or whose client certificate cfg no longer trusts, with reason
 * credentials-revoked. Returns how many were closed.
 */
size_t session_revalidate(struct proxy_config *cfg);
/* Calls fn for every session (established and handshaking), in no order. */
void session_foreach(void (*fn)(const struct session_info *, void *), void *arg);
/* Closes the session with this id; false if there is none. */
bool session_close_id(uint32_t id, const char *reason);
/* Closes every session whose identity matches an fnmatch glob; returns how many. */
size_t session_close_identity(const char *glob, const char *reason);
/* Frees the table. */
void session_shutdown(void);

#endif
