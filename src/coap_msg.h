/* coap_msg.h: CoAP-over-UDP inspection, rewriting and local answers on byte buffers. */
#ifndef COAPS_COAP_MSG_H
#define COAPS_COAP_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Message types (RFC 7252 §3), the same values as libcoap's COAP_MESSAGE_*. */
#define COAP_MSG_CON 0 /* confirmable */
#define COAP_MSG_NON 1 /* non-confirmable */
#define COAP_MSG_ACK 2 /* acknowledgement */
#define COAP_MSG_RST 3 /* reset */

/* Builds a code byte from its class and detail (2.05 is COAP_MSG_CODE(2, 5)). */
#define COAP_MSG_CODE(cls, detail) ((uint8_t)(((cls) << 5) | (detail)))

/* Option numbers this module knows by name. */
#define COAP_MSG_OPT_URI_HOST 3
#define COAP_MSG_OPT_OBSERVE 6
#define COAP_MSG_OPT_URI_PORT 7
#define COAP_MSG_OPT_URI_PATH 11
#define COAP_MSG_OPT_CONTENT_FORMAT 12
#define COAP_MSG_OPT_URI_QUERY 15
#define COAP_MSG_OPT_PROXY_URI 35
#define COAP_MSG_OPT_PROXY_SCHEME 39

/* The default port of the coap:// scheme (RFC 7252 §6.1). */
#define COAP_MSG_DEFAULT_PORT 5683

/*
 * Scratch state for one thread of message handling, allocated once: no
 * function below allocates. *why strings returned by functions taking a
 * context stay valid until the next call with that context.
 */
struct coap_msg_ctx;

/* What the relay needs to know of one message. */
struct coap_msg_info {
	uint8_t type;          /* COAP_MSG_CON/NON/ACK/RST */
	uint8_t code;          /* class << 5 | detail */
	uint16_t mid;          /* message id */
	uint8_t token_len;     /* 0..8 */
	uint8_t token[8];      /* token bytes */
	bool is_request;       /* code 0.01 .. 0.31 */
	bool is_response;      /* code 2.xx, 4.xx or 5.xx */
	bool is_empty;         /* code 0.00 (ping, empty ACK, RST) */
	bool has_observe;      /* Observe option with a 0-3 byte value */
	uint32_t observe;      /* its value */
	bool has_proxy_uri;    /* Proxy-Uri option present */
	bool has_proxy_scheme; /* Proxy-Scheme option present */
	size_t payload_len;    /* bytes after the payload marker */
	/*
	 * Set even when inspection fails: the header was readable (version 1)
	 * and the message is a CON, so RFC 7252 §4.2 wants it rejected with an
	 * RST carrying info->mid. Malformed NON, ACK and RST are dropped
	 * silently, and so is anything with a bad version (§3).
	 */
	bool can_reset;
};

/*
 * Allocates a context for messages of at most max_size bytes (4..65535;
 * rewriting refuses longer input); NULL if out of memory. Also turns
 * libcoap's own logging off (coap_set_log_level(LOG_EMERG), process-wide):
 * the functions here report through *why instead.
 */
struct coap_msg_ctx *coap_msg_ctx_new(size_t max_size);
/* Frees a context; NULL is fine. */
void coap_msg_ctx_free(struct coap_msg_ctx *c);

/*
 * Validates a CoAP-over-UDP datagram (RFC 7252 §3, §4) and fills info.
 * Returns 0, or -1 with *why set to a short reason ("bad version 2",
 * "token length 9 (max 8)", "option delta nibble 15", "truncated option",
 * "payload marker with no payload", "code 1.02: reserved class", ...).
 * Option values are not judged: RFC 7252 §5.4.3 leaves that to the endpoint.
 */
int coap_msg_inspect(struct coap_msg_ctx *c, const uint8_t *buf, size_t len,
    struct coap_msg_info *info, const char **why) __attribute__((warn_unused_result));

/* Builds an empty RST for mid into out; returns its length (4), or 0 if out is too small. */
size_t coap_msg_build_rst(uint8_t *out, size_t outlen, uint16_t mid);

/*
 * Builds the proxy's own answer to request req: a CON gets a piggybacked ACK
 * with its MID, a NON gets a NON with new_mid. Same token; code as given;
 * when payload is non-NULL and not empty, Content-Format text/plain and the
 * payload. Returns the length, or 0 if req is not a CON/NON request or out is
 * too small.
 */
size_t coap_msg_build_answer(uint8_t *out, size_t outlen, const struct coap_msg_info *req,
    uint8_t code, uint16_t new_mid, const char *payload);

/*
 * Rewrites a request for forwarding into out (in and out must not overlap).
 * Removes every copy of option identity_opt the device sent and, when
 * identity_opt is not 0, inserts one with the identity_len bytes of identity.
 * With strip_proxy, a Proxy-Uri is replaced by the equivalent options (RFC
 * 7252 §6.4): Uri-Host only when the host is a name (an IP literal is the
 * backend's address already, so it is left out), Uri-Port only when the port
 * is not 5683, Uri-Path per segment and Uri-Query per '&' argument, all
 * percent-decoded; Uri-* options the device sent beside a Proxy-Uri are
 * dropped (Proxy-Uri takes precedence, RFC 7252 §5.10.2). A Proxy-Scheme
 * alone is removed and the device's Uri-* options are kept as they are.
 * Returns the new length, or 0 with *why set.
 */
size_t coap_msg_rewrite_request(struct coap_msg_ctx *c, const uint8_t *in, size_t inlen,
    uint8_t *out, size_t outlen, uint16_t identity_opt, const char *identity, size_t identity_len,
    bool strip_proxy, const char **why) __attribute__((warn_unused_result));

/*
 * Finds where a forward-proxy request wants to go: from its Proxy-Uri, or
 * from Proxy-Scheme with Uri-Host and Uri-Port. Only the coap scheme is
 * supported. Writes the host (NUL-terminated, an IPv6 literal without
 * brackets, a name in lower case) and the port (5683 when none is given).
 * Returns 0, or -1 with *why set (also when there is no proxy option).
 */
int coap_msg_proxy_target(struct coap_msg_ctx *c, const uint8_t *buf, size_t len, char *host,
    size_t hostlen, uint16_t *port, const char **why) __attribute__((warn_unused_result));

/*
 * Writes the request's path from its Uri-Path options ("/a/b", "/" when there
 * are none) and its first Uri-Host ("" when none), both NUL-terminated, for
 * routing. Bytes outside RFC 3986 pchar (and '/' inside a segment) are
 * percent-encoded, so a segment can never pose as two. Returns 0, or -1 if
 * the message is malformed or a buffer is too small.
 */
int coap_msg_request_target(struct coap_msg_ctx *c, const uint8_t *buf, size_t len, char *path,
    size_t pathlen, char *uri_host, size_t hostlen) __attribute__((warn_unused_result));

/* Rewrites the MID of a message in place (2 bytes at offset 2); buf holds at least 4 bytes. */
void coap_msg_set_mid(uint8_t *buf, uint16_t mid);

#endif
