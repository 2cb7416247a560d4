/* fake_session.h: a session layer without DTLS for the relay's unit tests: it records what the relay sends. */
#ifndef COAPS_FAKE_SESSION_H
#define COAPS_FAKE_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "session.h"

#define FAKE_SENT_MAX 16 /* messages to the device kept per session */

/* Makes a PSK session with identity, under cfg (also made the current config). */
struct session *fake_session_new(struct proxy_config *cfg, const char *identity);
/* Frees it (after relay_session_end). */
void fake_session_free(struct session *s);
/* How many messages the relay sent to the device. */
size_t fake_session_sent_count(const struct session *s);
/* The i-th of them; its length in *len. */
const uint8_t *fake_session_sent(const struct session *s, size_t i, size_t *len);

#endif
