/* dtls_client.h: a one-shot DTLS PSK client that checks a device's credentials (coaps-proxyctl test-psk). */
#ifndef COAPS_DTLS_CLIENT_H
#define COAPS_DTLS_CLIENT_H

#include <stddef.h>
#include <stdint.h>

/* What one probe found. */
struct dtls_probe_result {
	char local[80];       /* our address:port, as the proxy logs the peer */
	char cipher[80];      /* the suite agreed; "" if the handshake failed */
	int64_t handshake_ms; /* -1 if the handshake failed */
	char error[256];      /* why the probe failed; "" if it did not */
	char answer[64];      /* "RST (CoAP ping answered)", "2.05 Content", ... */
	int64_t rtt_ms;       /* request to answer; -1 without an answer */
	uint8_t payload[256]; /* the answer's payload (cut) */
	size_t payload_len;
};

/*
 * Connects to host:port (numeric), makes a DTLS 1.2 handshake with PSK
 * identity and key, then sends a CoAP ping (path NULL) or a CON GET of path
 * and waits for the answer, and closes with close_notify. Every step is
 * bounded by timeout_ms. Returns 0 if the handshake and the exchange
 * worked, -1 with res->error otherwise.
 */
int dtls_probe(const char *host, const char *port, const char *identity, const uint8_t *key,
    size_t key_len, const char *path, int timeout_ms, struct dtls_probe_result *res);

#endif
