/* session.h: the session table and each session's life, from cookie to close. */
#ifndef COAPS_SESSION_H
#define COAPS_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dtls.h"
#include "listener.h"
#include "stats.h"

struct event_base;
struct log_event;
struct proxy_config;
struct state_out;
struct state_session;
/* One device's DTLS session; opaque outside session.c (read it through the functions below). */
struct session;

/*
 * What the layer above (the relay) is told: decrypted messages and life-cycle
 * events. Set once with session_set_hooks before the first datagram; a NULL
 * member is not called.
 */
struct session_info;
struct session_hooks {
	/* A decrypted CoAP message from the device (one record). */
	void (*message)(struct session *s, const uint8_t *buf, size_t len);
	/*
	 * A record from the device held a message of size bytes, over limit;
	 * head holds its first len bytes.
	 */
	void (*too_large)(struct session *s, const uint8_t *head, size_t len, size_t size,
	    size_t limit);
	/* The session is being parked (its DTLS context saved and freed). */
	void (*parked)(struct session *s);
	/* The session is ending: free what session_upper holds. */
	void (*ended)(struct session *s);
	/* Fills the upper layer's part of info (backend, backends, observing, pending) into buf. */
	void (*describe)(const struct session *s, struct session_info *info, char *buf, size_t len);
	/* The session is saved for a restart: fills the upper layer's part of ss (up, mids). */
	void (*save)(struct session *s, struct state_session *ss);
	/* A restored session: brings back the upper layer's part of ss; -1 drops the session. */
	int (*restore)(struct session *s, const struct state_session *ss);
};
/* Sets the hooks (copied). */
void session_set_hooks(const struct session_hooks *hooks);

/* Why a session ended (the log's reason=, close_reason_names[]). */
enum close_reason {
	CLOSE_NOTIFY,           /* the device sent close_notify */
	CLOSE_PEER_ALERT,       /* the device sent a fatal alert (its text is given) */
	CLOSE_DTLS_ERROR,       /* any other DTLS error (its text is given) */
	CLOSE_ADDRESS_TAKEN,    /* another device proved itself from the session's address */
	CLOSE_IDLE,             /* session.idle_timeout */
	CLOSE_HANDSHAKE_FAILED, /* the handshake failed (logged before) */
	CLOSE_REPLACED,         /* a reconnect from the same device completed */
	CLOSE_RESTORE_FAILED,   /* a parked session could not be brought back */
	CLOSE_REVOKED,          /* a reload removed or changed its credentials */
	CLOSE_LISTENER_REMOVED, /* a reload removed its listener */
	CLOSE_CONTROL,          /* coaps-proxyctl close */
	CLOSE_SHUTDOWN,         /* the daemon is stopping */
	CLOSE_SAVED,            /* saved for the next start (no close_notify) */
	CLOSE_REASON_COUNT
};
/* The log text of each enum close_reason ("close_notify", "idle timeout", ...). */
extern const char *const close_reason_names[CLOSE_REASON_COUNT];

/* Sets up the table; base runs every session's events. 0, or -1 with *cause set. */
int session_init(struct event_base *base, char **cause) __attribute__((warn_unused_result));
/* Makes cfg the configuration of new sessions. */
void session_set_config(struct proxy_config *cfg);

/* What the front door (frontdoor.c) asks of the sessions it hands datagrams to. */
/* The session at a datagram's listener and source address, or NULL. */
struct session *session_find(const struct datagram *d);
/* The session whose Connection ID a tls12_cid record carries, or NULL. */
struct session *session_find_cid(const struct datagram *d);
/* The handshake in progress at s's address: its successor, s itself, or NULL. */
struct session *session_handshake_at(struct session *s);
/* Tells whether s finished its handshake. */
bool session_is_established(const struct session *s);
/*
 * Tells whether a ClientHello with a valid cookie continues the handshake of
 * s (same client random, or mbedTLS is past the hello): a retransmission.
 */
bool session_hello_same(const struct session *s, const struct client_hello *ch);
/* Tells whether a ClientHello repeats the one that set up s (a late duplicate). */
bool session_hello_repeats(const struct session *s, const struct client_hello *ch);
/* Fails the handshake of s (logged, counted as why) and closes it. */
void session_handshake_abort(struct session *s, enum hs_failure why, const char *reason);
/*
 * Fails the oldest handshake in progress with reason (full_only: the oldest
 * whose ClientHello asked for a full handshake, admit.h); false if there is none.
 */
bool session_evict_oldest_handshake(const char *reason, bool full_only);
/*
 * Starts the session of a peer whose cookie (session id) is valid, from its
 * ClientHello in d, as a reconnect of live (or NULL); logs session-new and
 * handshake-start and feeds the hello. False when out of memory.
 */
bool session_start(const struct datagram *d, uint32_t id, const struct client_hello *ch,
    struct session *live);
/* Feeds one datagram to s (or to its reconnect in progress, by epoch). */
void session_input(struct session *s, const struct datagram *d);
/* Feeds one datagram to s's DTLS context; false if that closed s. */
bool session_feed(struct session *s, const struct datagram *d);
/*
 * A tls12_cid record for s (RFC 9146): from s's own address it is fed as any
 * record; from another one, s moves there only if the record authenticates
 * and is the newest yet, and nothing is sent to the new address before that.
 */
void session_cid_input(struct session *s, const struct datagram *d);
/* Closes every session with reason (close_notify to established ones). */
void session_close_all(enum close_reason why);
/* Closes the sessions of a listener that is going away. */
void session_close_listener(struct listener *l, enum close_reason why);
/* Number of sessions (established and handshaking) of all workers. */
size_t session_count(void);
/* ... of the calling worker. */
size_t session_count_here(void);
/* The most sessions there were at once since the start. */
size_t session_peak(void);
/* Number of parked sessions of all workers. */
size_t session_parked_count(void);
/* Number of handshakes in progress of all workers. */
size_t session_handshake_count(void);
/* ... of the calling worker. */
size_t session_handshake_count_here(void);
/* A read-only view of one session, for the control socket. */
struct session_info {
	uint32_t id;
	unsigned worker; /* the worker that owns it */
	const char *peer, *local;
	const char *auth; /* "psk", "x509", "anonymous", or "" during the handshake */
	/* the PSK identity or certificate CN; "" if anonymous or handshaking */
	const char *identity;
	const char *cipher;  /* "" during the handshake */
	const char *state;   /* "handshake", "established", "parked", "restored" */
	bool restored;       /* restored from a saved state, no record from the device since */
	const char *backend; /* name of the backend, "" before the first request */
	const char *cid;     /* the proxy's Connection ID in hex, "" if none */
	uint64_t age_ms, idle_ms;
	uint64_t bytes_in, bytes_out, msgs_in, msgs_out;
	int64_t handshake_ms;     /* ClientHello with cookie to Finished; -1 while handshaking */
	const char *cert_subject; /* client certificate's subject DN; "" without one */
	const char *cert_issuer;  /* ... its issuer DN */
	int64_t cert_not_after;   /* ... its expiry, unix time; 0 without one */
	const char *backends;     /* backends with an upstream socket now, comma separated */
	unsigned observing;       /* Observe relations through the proxy now */
	unsigned pending;         /* requests awaiting a backend's answer */
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
bool session_close_id(uint32_t id, enum close_reason why);
/* Closes every session whose identity matches an fnmatch glob; returns how many. */
size_t session_close_identity(const char *glob, enum close_reason why);
/*
 * The same three over every worker, each in its own thread (worker 0's
 * thread only; fn runs in each worker's thread in turn, never at once).
 */
void session_foreach_all(void (*fn)(const struct session_info *, void *), void *arg);
bool session_close_id_all(uint32_t id, enum close_reason why);
size_t session_close_identity_all(const char *glob, enum close_reason why);
/* Frees the table. */
void session_shutdown(void);

/*
 * A clean stop: parks every established session and appends it to o (with
 * what hooks.save adds); they end with session_close_all as CLOSE_SAVED,
 * without a close_notify and without another record. *dropped counts the
 * established sessions that could not be saved. Returns how many were saved.
 */
size_t session_save_all(struct state_out *o, size_t *dropped);
/* The saved state could not be kept: the saved sessions end as any other (close_notify). */
void session_save_cancel(void);
/*
 * Re-creates a saved session, parked, at listener l (found by the caller from
 * ss->listener); saved_ms: when it was saved (unix ms). 0, or -1 with *why a
 * short reason ("idle", "duplicate", ...) when it is dropped.
 */
int session_restore(const struct state_session *ss, struct listener *l, const char **why)
    __attribute__((warn_unused_result));

/* What the layer above reads and does, for one session. */
/* The session's id (as logged: session=%08x). */
uint32_t session_id(const struct session *s);
/* How the session authenticated. */
enum link_auth session_auth(const struct session *s);
/* The PSK identity or certificate CN (not NUL-terminated); its length in *len. */
const uint8_t *session_identity(const struct session *s, size_t *len);
/*
 * Writes the session's identity as routes and backends see it: "psk:ID",
 * "x509:CN" or "anonymous" ("" before the handshake ends); name: only the ID
 * or CN ("" if anonymous). Returns its length (a PSK identity may hold NUL
 * bytes); 0 and "" if it does not fit in len.
 */
size_t session_identity_text(const struct session *s, char *buf, size_t len, bool name);
/* The configuration snapshot the session was born with. */
struct proxy_config *session_config(const struct session *s);
/* The configuration new handshakes and routing decisions use. */
struct proxy_config *session_current_config(void);
/* The layer above's state of this session (NULL until set). */
void *session_upper(const struct session *s);
/* Sets it. */
void session_set_upper(struct session *s, void *upper);
/* Counts one message of len bytes from the device as relayed. */
void session_count_in(struct session *s, size_t len);
/* Milliseconds on a monotonic clock. */
uint64_t session_now_ms(void);
/* Encrypts one CoAP message to the device (restoring it if parked); counts it. 0 or -1. */
int session_send(struct session *s, const uint8_t *buf, size_t len);
/* The most bytes one record to the device carries (dtls.mtu); SIZE_MAX if unknown. */
size_t session_send_max(struct session *s);
/* The device's address:port as text (one of a few rotating buffers). */
const char *session_peer_str(const struct session *s);
/* The local address:port the device sends to, as text (rotating buffers). */
const char *session_local_str(const struct session *s);
/* Fills the common fields of a log event for session s. */
void session_event(const struct session *s, struct log_event *ev, const char *event);

#endif
