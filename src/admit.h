/* admit.h: admission of handshakes under overload: what a ClientHello asks for, half-open handshakes per source prefix, the top prefixes. */
#ifndef COAPS_ADMIT_H
#define COAPS_ADMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

#include "dtls.h"

/* What a ClientHello asks for, cheapest first (admit_class_names[]). */
enum admit_class {
	ADMIT_RESUME, /* a session ticket or a session id: an abbreviated handshake */
	ADMIT_PSK,    /* only PSK cipher suites: no public-key cryptography to verify */
	ADMIT_FULL,   /* anything else: a full handshake (ECDHE-ECDSA) */
};
extern const char *const admit_class_names[];

/* Classifies a ClientHello (ch parsed from buf, len by dtls_parse_client_hello). */
enum admit_class admit_classify(const uint8_t *buf, size_t len, const struct client_hello *ch);

/* A source prefix in words ("192.0.2.0/24", "2001:db8::/64"), at most this long. */
#define ADMIT_PREFIX_TEXT 56

/* Sets session.prefix_len_v4 and _v6 (bits; out of range: the defaults, 32 and 64). */
void admit_set_prefix_len(unsigned v4, unsigned v6);
/* The prefix of a peer's address under the current session.prefix_len_v4/_v6. */
void admit_prefix_text(const struct sockaddr *peer, char out[ADMIT_PREFIX_TEXT]);
/* Half-open handshakes from the prefix of peer now. */
uint32_t admit_prefix_handshakes(const struct sockaddr *peer);
/* Counts a half-open handshake from peer; returns its slot for admit_handshake_done. */
uint32_t admit_handshake_add(const struct sockaddr *peer);
/* A half-open handshake counted by admit_handshake_add (slot) ended or completed. */
void admit_handshake_done(uint32_t slot);
/* Counts a handshake of peer refused by session.handshakes_per_prefix. */
void admit_prefix_refused(const struct sockaddr *peer);

/* One line of a top list: a prefix and its count. */
struct admit_top {
	char prefix[ADMIT_PREFIX_TEXT];
	uint64_t count;
};
/* At most this many prefixes in each top list. */
#define ADMIT_TOP 8
/* The prefixes with the most half-open handshakes now, most first; returns how many. */
size_t admit_top_handshakes(struct admit_top out[ADMIT_TOP]);
/* The prefixes refused most by session.handshakes_per_prefix, most first; returns how many. */
size_t admit_top_refused(struct admit_top out[ADMIT_TOP]);

#endif
