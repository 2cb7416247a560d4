/* relay.h: the CoAP side of a session: routing, upstream sockets, proxy-made answers. */
#ifndef COAPS_RELAY_H
#define COAPS_RELAY_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct session;

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
void relay_too_large(struct session *s, const uint8_t *buf, size_t len, size_t size,
    size_t limit);
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
/* Name of the backend the session used last ("" if none). */
const char *relay_backend_name(const struct session *s);
/* Number of orphaned upstream sockets waiting to RST a backend. */
size_t relay_orphan_count(void);

#endif
