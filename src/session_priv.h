/* session_priv.h: the session struct, shared by session.c and relay.c only. */
#ifndef COAPS_SESSION_PRIV_H
#define COAPS_SESSION_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include "dtls.h"
#include "session.h"

enum session_state {
	SESSION_HANDSHAKE,   /* cookie valid, handshake in progress */
	SESSION_ESTABLISHED, /* relaying CoAP */
};

struct relay_state;

struct session {
	struct dtls_link link; /* what mbedTLS's callbacks see */
	uint32_t id;
	enum session_state state;
	struct proxy_config *cfg; /* the snapshot the session was born with */
	mbedtls_ssl_context *ssl;   /* NULL while parked */
	unsigned char *parked;      /* mbedtls_ssl_context_save() of a parked session */
	uint32_t parked_len;

	struct session *hnext;                   /* hash chain */
	struct session *cnext;                   /* CID hash chain */
	struct session *hs_prev, *hs_next;       /* handshakes in progress, oldest first */
	struct session *successor, *predecessor; /* a reconnect and the session it replaces */

	uint64_t created_ms, established_ms, last_active_ms;
	struct event *dtls_timer;
	uint64_t timer_start_ms;
	uint32_t timer_int_ms, timer_fin_ms;
	bool timer_fired; /* the libevent timer for fin_ms went off */

	struct relay_state *relay; /* upstreams and CoAP state; NULL until first used */

	uint64_t bytes_in, bytes_out, msgs_in, msgs_out;
	unsigned badmac_seen;
	const struct client_hello *hello; /* while the first ClientHello is fed */
	uint8_t hello_random[32];         /* client random of the handshake that made it */
	char *cert_problem;               /* what verification found, in words (may quote a CN raw) */
	size_t cert_problem_len;          /* its bytes (a CN may hold NUL) */
	struct session_cert *cert;        /* the client certificate, for `show`; NULL if none */
	const char *cipher;
	uint8_t cid[DTLS_CID_MAX]; /* the proxy's Connection ID for this session */
	uint8_t cid_len;           /* 0: none (not offered, or the client did not ask) */
};

/* Milliseconds on a monotonic clock. */
uint64_t session_now_ms(void);
/* The configuration new handshakes and routing decisions use. */
struct proxy_config *session_current_config(void);
/* The counters, writable. */
struct session_stats *session_stats_mut(void);
/* Encrypts one CoAP message to the device (restoring it if parked); counts it. 0 or -1. */
int session_send(struct session *s, const uint8_t *buf, size_t len);
/* The most bytes one record to the device carries (dtls.mtu); SIZE_MAX if unknown. */
size_t session_send_max(struct session *s);
/* The device's address:port as text (one of a few rotating buffers). */
const char *session_peer_str(const struct session *s);
/* The local address:port the device sends to, as text (rotating buffers). */
const char *session_local_str(const struct session *s);
/* Fills the common fields of a log event for session s. */
struct log_event;
void session_event(const struct session *s, struct log_event *ev, const char *event);

#endif
