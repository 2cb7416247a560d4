/* dtls.h: mbedTLS glue: configuration, cookies, the stateless hello, diagnostics. */
#ifndef COAPS_DTLS_H
#define COAPS_DTLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mbedtls/ssl.h>

#include "configuration.h"
#include "listener.h"

/* How an established session's peer proved who it is (never a marker inside identity). */
enum link_auth {
	LINK_AUTH_NONE,      /* not established yet */
	LINK_AUTH_PSK,       /* identity is the PSK identity */
	LINK_AUTH_X509,      /* identity is the client certificate's subject CN */
	LINK_AUTH_ANONYMOUS, /* certificate suite without a client certificate; identity empty */
};

/*
 * What mbedTLS's I/O and PSK callbacks need of one peer. Embedded in each
 * session; the stateless hello stage has one of its own.
 */
struct dtls_link {
	uint32_t session_id; /* the session's id, for the log lines this layer writes */
	struct listener *listener;
	union peer_addr peer;
	socklen_t peerlen;
	struct local_addr local;
	const uint8_t *rx; /* the datagram being fed to mbedTLS, or NULL */
	size_t rx_len;
	bool direct; /* records go out at once (listener_send_now): a handshake thread sends */
	/* The PSK identity the client sent (its first CONFIG_PSK_IDENTITY_MAX
	 * bytes); once established, for a certificate session, the client
	 * certificate's subject CN, for an anonymous one nothing (see auth). */
	unsigned char identity[CONFIG_PSK_IDENTITY_MAX];
	uint16_t identity_len;
	size_t identity_sent_len; /* bytes of the PSK identity the client sent */
	bool psk_identity_unknown;
	bool psk_identity_seen;
	enum link_auth auth;
	/* Session resumption (dtls_ticket.c): the kind of session a ticket or
	 * cache entry offered, the first bytes of its master secret and the
	 * length of its PSK identity (in identity, with identity_len 0 until
	 * the abbreviated handshake completes). */
	uint8_t resume;
	uint8_t resume_tag[8];
	uint8_t resume_identity_len;
};

/* Names an auth kind for logs: "psk", "x509", "anonymous"; NULL for none. */
const char *dtls_auth_name(enum link_auth auth);

/* Seeds the RNG and makes the cookie key; at start-up. */
int dtls_init(char **cause) __attribute__((warn_unused_result));
/* Like dtls_init, with fixed "entropy": repeatable keys and cookies, for fuzz targets only. */
int dtls_init_fixed(char **cause) __attribute__((warn_unused_result));
/* Frees the RNG and the cookie key. */
void dtls_shutdown(void);
/* Builds cfg->ssl (the mbedTLS server configuration) from the snapshot. */
int dtls_config_build(struct proxy_config *cfg, char **cause) __attribute__((warn_unused_result));
/* Returns a fresh session id (for events before any state exists). */
uint32_t dtls_next_id(void);

/* A parsed DTLS ClientHello (first record of a datagram); points into it. */
struct client_hello {
	uint8_t record_seq[6];
	uint16_t message_seq;
	const uint8_t *random; /* 32 bytes */
	const uint8_t *cookie;
	size_t cookie_len;
	const uint8_t *suites; /* 2 bytes each */
	size_t n_suites;
};
/* Parses a ClientHello datagram; false if it is not a whole, well-formed one. */
bool dtls_parse_client_hello(const uint8_t *buf, size_t len, struct client_hello *ch);
/*
 * Checks a ClientHello's cookie for this peer; true and *id (the session id
 * the cookie was made for) when valid. Keeps no state.
 */
bool dtls_cookie_valid(const struct client_hello *ch, const struct sockaddr *peer,
    socklen_t peerlen, uint32_t *id);
/* Bytes of a cookie: version, session id, time, MAC. */
#define DTLS_COOKIE_LEN (1 + 4 + 4 + 16)
/*
 * Writes the cookie for session id and the peer (peerlen bytes of address)
 * into out; false if peer is no IPv4 or IPv6 address of that length.
 */
bool dtls_cookie_make(const struct sockaddr *peer, socklen_t peerlen, uint32_t id,
    uint8_t out[DTLS_COOKIE_LEN]);
/*
 * Answers a ClientHello with a HelloVerifyRequest (smaller than the hello)
 * carrying a cookie for a new session id, returned in *id. No state is kept.
 */
int dtls_send_hello_verify(const struct datagram *d, const struct client_hello *ch, uint32_t *id);
/*
 * Makes a server context for a peer whose cookie is valid; NULL on failure.
 * cid (cid_len bytes; NULL: none) is the Connection ID given to a client
 * that asks for one (RFC 9146); a client that does not ask never sees it.
 */
mbedtls_ssl_context *dtls_new_context(struct proxy_config *cfg, struct dtls_link *link,
    const uint8_t *cid, size_t cid_len);
/* Brings back a context saved by mbedtls_ssl_context_save; NULL on failure. */
mbedtls_ssl_context *dtls_restore_context(struct proxy_config *cfg, struct dtls_link *link,
    const unsigned char *saved, size_t len);
/* Points a context's I/O at link. */
void dtls_bind(mbedtls_ssl_context *ssl, struct dtls_link *link);
/* Frees a context made by dtls_new_context. */
void dtls_free(mbedtls_ssl_context *ssl);

/*
 * DTLS Connection IDs (RFC 9146). The proxy's own CIDs are DTLS_CID_NODE_BYTES
 * of routing (the worker or node that owns the session; 0 today) followed by
 * random bytes, and unique among live sessions (session.c checks).
 */
#define DTLS_CID_MAX 16       /* most bytes in the proxy's own CID (dtls.cid_length) */
#define DTLS_CID_MIN 4        /* fewest: 1 routing byte and 3 random ones */
#define DTLS_CID_NODE_BYTES 1 /* leading bytes that name the owner, for steering */
/* True if this build's mbedTLS has RFC 9146 Connection IDs (HAVE_MBEDTLS_CID). */
bool dtls_cid_supported(void);
/* Writes a fresh CID of len bytes: the owner (worker) byte, then random bytes. 0 or -1. */
int dtls_cid_make(uint8_t *cid, size_t len, uint8_t owner) __attribute__((warn_unused_result));
/* True if the completed handshake on ssl put the proxy's CID to use. */
bool dtls_cid_in_use(mbedtls_ssl_context *ssl);
/*
 * True if buf starts with a tls12_cid record (content type 25) long enough
 * to hold a cid_len-byte CID; *cid points at that CID in buf. Always false
 * on a build without Connection IDs.
 */
bool dtls_cid_record(const uint8_t *buf, size_t len, size_t cid_len, const uint8_t **cid);
/* True if buf starts with a tls12_cid record (on a build with Connection IDs). */
bool dtls_is_cid_record(const uint8_t *buf, size_t len);
/*
 * The newest record that authenticated on ssl: epoch and sequence number as
 * one number (mbedTLS's anti-replay window top). It only grows when a record
 * newer than every one seen so far decrypts and authenticates.
 */
uint64_t dtls_record_top(const mbedtls_ssl_context *ssl);

/* Record peek: true if buf starts with a DTLS record; fills its type and epoch. */
bool dtls_record_peek(const uint8_t *buf, size_t len, uint8_t *type, uint16_t *epoch);
/* True if buf starts with an epoch-0 handshake record holding a ClientHello. */
bool dtls_is_client_hello(const uint8_t *buf, size_t len);
/* Writes the suites a ClientHello offers, as IANA names, into buf. */
void dtls_offered_suites(const struct client_hello *ch, char *buf, size_t len);
/* Writes the suites enabled in cfg, as IANA names, into buf. */
void dtls_enabled_suites(const struct proxy_config *cfg, char *buf, size_t len);
/* Says which credential a client that shares no suite with us needs. */
void dtls_missing_credential(const struct client_hello *ch, const struct proxy_config *cfg,
    char *buf, size_t len);

/* Writes the IANA name of a cipher suite id ("TLS_PSK_WITH_AES_128_CCM_8 0xC0A8"). */
void dtls_suite_name(uint16_t id, char *buf, size_t len);
/*
 * Describes why a handshake failed with error ret, in words, into buf; returns
 * its length (it may quote the client's PSK identity raw, NUL bytes included).
 */
size_t dtls_failure_reason(mbedtls_ssl_context *ssl, const struct dtls_link *link, int ret,
    char *buf, size_t len);
/* Names a TLS alert description. */
const char *dtls_alert_name(unsigned char desc);
/*
 * Explains a fatal alert the device sent, from its side, with the alert's
 * name and number: "the device rejected the server's certificate:
 * unknown_ca (48)". Every such text starts with "the device ".
 */
void dtls_alert_reason(unsigned char desc, char *buf, size_t len);
/* Describes certificate verification flags in words. */
void dtls_verify_reason(uint32_t flags, char *buf, size_t len);
/* An X.509 time (UTC) as unix time. */
int64_t dtls_x509_time_unix(const mbedtls_x509_time *t);
/* Writes a distinguished name as text ("CN=dev-1, O=Example"); "?" if it cannot. */
void dtls_x509_name(const mbedtls_x509_name *name, char *buf, size_t len);
/*
 * Sets up conf as a DTLS 1.2 client offering the PSK suites, with the RNG
 * of dtls_init (called here if it was not): coaps-proxyctl test-psk.
 */
int dtls_client_config(mbedtls_ssl_config *conf, char **cause) __attribute__((warn_unused_result));

/*
 * The mbedTLS API surface that differs between 2.28 and 3.6 (private fields,
 * changed signatures, merged error codes): only dtls.c deals with it.
 */

/* What an mbedTLS handshake or read error means, the same on every version. */
enum dtls_error {
	DTLS_E_OTHER,
	DTLS_E_WANT,             /* WANT_READ or WANT_WRITE: not an error */
	DTLS_E_UNKNOWN_IDENTITY, /* PSK identity not known */
	DTLS_E_BAD_MAC,          /* bad record MAC (in a handshake: the client's Finished) */
	DTLS_E_NO_SHARED_SUITE,  /* no usable cipher suite in common */
	DTLS_E_TIMEOUT,          /* the handshake timer ran out */
	DTLS_E_PEER_ALERT,       /* the peer sent a fatal alert (dtls_alert_received) */
	DTLS_E_PEER_CLOSE,       /* the peer sent close_notify */
	DTLS_E_NO_CLIENT_CERT,   /* a required client certificate is missing */
	DTLS_E_BAD_CERT,    /* the Certificate message is malformed or the certificate unusable */
	DTLS_E_CERT_VERIFY, /* the client certificate did not verify */
	DTLS_E_CHAIN,       /* the client's chain is too long or unusable */
	DTLS_E_VERSION,     /* the client does not speak DTLS 1.2 */
	DTLS_E_ALLOC,       /* out of memory */
};
/* Classifies an mbedTLS error code returned by a handshake or read on ssl. */
enum dtls_error dtls_error_kind(const mbedtls_ssl_context *ssl, int ret);
/* True while mbedTLS still holds handshake state (the first application record is still to come). */
bool dtls_handshake_pending(const mbedtls_ssl_context *ssl);
/*
 * Ends a finished handshake that still keeps its last flight for a resend
 * (mbedTLS frees it at the peer's first record): before saving a session the
 * peer has not spoken in since its handshake. A resend is no longer possible.
 */
void dtls_forget_last_flight(mbedtls_ssl_context *ssl);
/* How many records mbedTLS has dropped for a bad MAC on ssl. */
unsigned dtls_badmac_count(const mbedtls_ssl_context *ssl);
/* The description of the fatal alert the peer sent (after DTLS_E_PEER_ALERT). */
unsigned char dtls_alert_received(const mbedtls_ssl_context *ssl);

/* The credential a cipher suite needs. */
enum dtls_suite_kind {
	DTLS_SUITE_PSK,     /* PSK, DHE-PSK, ECDHE-PSK */
	DTLS_SUITE_RSA_PSK, /* RSA-PSK: needs an RSA server key, which the proxy never has */
	DTLS_SUITE_CERT,    /* certificate suites */
	DTLS_SUITE_ECJPAKE, /* EC-JPAKE (Thread commissioning) */
	DTLS_SUITE_UNKNOWN, /* not known to mbedTLS */
};
/* Classifies a cipher suite id by the credential it needs. */
enum dtls_suite_kind dtls_suite_kind(uint16_t id);
/* The mbedTLS id of a cipher suite name ("TLS-PSK-WITH-AES-128-CCM-8"), or 0 if unknown. */
int dtls_suite_id(const char *name);
/*
 * Writes the default suites for the credentials configured into out (at most
 * 4 ids and the terminating 0): CCM-8 first, as Thread devices use it.
 */
void dtls_default_suites(bool psk, bool x509, int *out);
/*
 * Tells which credentials a 0-terminated list of suite ids lets devices use:
 * *psk for a PSK suite, *cert for a certificate suite. RSA-PSK, EC-JPAKE and
 * unknown suites count as neither: the proxy cannot complete them.
 */
void dtls_suites_usable(const int *suites, bool *psk, bool *cert);

/*
 * Session resumption (dtls_ticket.c): RFC 5077 tickets and a session-ID
 * cache. Both seal the session with the credential it was made with, and
 * both are checked against the current snapshot when a client offers them:
 * a revoked PSK identity or client certificate gets a full handshake.
 */
/* Sets up tickets and the cache on cfg->ssl (from dtls_config_build). */
int dtls_resume_conf(struct proxy_config *cfg, int (*f_rng)(void *, unsigned char *, size_t),
    void *p_rng, char **cause) __attribute__((warn_unused_result));
/* Notes the link whose datagram mbedTLS reads (the callbacks get no context); NULL: none. */
void dtls_resume_link(struct dtls_link *link);
/*
 * After a completed handshake on ssl: true if it was abbreviated (resumed);
 * then a PSK session's link gets back the identity the session was made with.
 */
bool dtls_resume_finish(mbedtls_ssl_context *ssl, struct dtls_link *link);
/* Frees the session cache and forgets the process's ticket secret. */
void dtls_resume_shutdown(void);

/* Reads a private key file (no password); 0 or an mbedTLS error code. */
int dtls_key_parse_file(mbedtls_pk_context *key, const char *path);
/* True if key is the private half of the certificate's public key. */
bool dtls_key_matches(const mbedtls_x509_crt *crt, const mbedtls_pk_context *key);
/* Readies an EC server key for fast signing (2.28: re-wraps it as ECDSA). */
void dtls_key_prepare(mbedtls_pk_context *key);

#endif
