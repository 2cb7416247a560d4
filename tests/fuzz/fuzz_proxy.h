/* fuzz_proxy.h: an in-process proxy with fixed time, RNG and cookie key, for fuzz targets. */
#ifndef COAPS_FUZZ_PROXY_H
#define COAPS_FUZZ_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define FUZZ_PEERS 4                /* fixed device addresses a datagram can come from */
#define FUZZ_MAX_DATAGRAMS 64       /* datagrams of one input that are fed */
#define FUZZ_TIME 1700000000        /* time() while fuzzing: before any test certificate expires */
#define FUZZ_CLOCK_MS 1000000000ULL /* clock_ms() at the start of each input */

/*
 * Input format of fuzz_datagram, one record per datagram:
 *   control (1 byte): bits 0-1 the peer (fuzz_peer), bit 2 run the event loop once
 *                     (non-blocking) after the datagram, bits 3-4 advance the clock by
 *                     0, 1, 10 or 100 s before it, and what the payload is:
 *                     bit 5 (FUZZ_CTL_CLIENT) plaintext that an in-process DTLS client
 *                     (from 127.0.0.5) sends over its own session, made by a real
 *                     handshake the first time in an input: PSK dev-42, or in
 *                     fuzz_datagram_x509 as bits 0-1 of that record say: PSK,
 *                     ECDHE-ECDSA with the client certificate CN=client, with a
 *                     revoked one, or with none (PSK when there are no test
 *                     certificates); bits 5 and 6 together (FUZZ_CTL_TIMERS) fire
 *                     every pending timer (payload ignored): the session's DTLS
 *                     retransmission and idle timers, the relay's 5.04 timer,
 *                     which then judge by the fixed clock; else bit 6
 *                     (FUZZ_CTL_BACKEND) a datagram that backend "a" (a socket of the
 *                     harness) sends to the upstream socket that last sent to it;
 *                     else a raw UDP payload from the peer. Bit 7 (with bit 5 or 6)
 *                     first copies into bytes 2-3 (the CoAP message id) those of the
 *                     last message that client or backend received;
 *   length (2 bytes, big-endian), then that many bytes of payload (cut at the end).
 */
#define FUZZ_CTL_PEER_MASK 0x03
#define FUZZ_CTL_LOOP 0x04
#define FUZZ_CTL_CLOCK_SHIFT 3
#define FUZZ_CTL_CLIENT 0x20
#define FUZZ_CTL_BACKEND 0x40
#define FUZZ_CTL_PATCH_MID 0x80
#define FUZZ_CTL_TIMERS (FUZZ_CTL_CLIENT | FUZZ_CTL_BACKEND)

/*
 * Makes (once) the temporary directory of this process, removed at exit;
 * *certs (if not NULL) says whether its subdirectory certs/ has the test
 * certificates of certs/gen-certs.sh ($COAPS_FUZZ_CERTS: a directory of
 * them to use instead, or "none").
 */
const char *fuzz_workdir(bool *certs);
/*
 * Sets up the proxy: fixed clock and entropy, a configuration in a temporary
 * directory (PSK identities dev-42 / 736563726574 and my_identity /
 * secretPSK123; x509 when certs/gen-certs.sh or $COAPS_FUZZ_CERTS gives
 * certificates), an event base, the session table and a listener on
 * 127.0.0.1 with an ephemeral port. Aborts on failure.
 */
void fuzz_proxy_init(void);
/* Makes each input start alike: clock, RNG and cookie key back to their start. */
void fuzz_proxy_begin(void);
/* Feeds one datagram from peer (0 to FUZZ_PEERS - 1) to frontdoor_input. */
void fuzz_proxy_feed(unsigned peer, const uint8_t *data, size_t len);
/* Runs the event loop once without blocking (upstream answers, ICMP errors). */
void fuzz_proxy_loop(void);
/* Fires every pending timer now (libevent's own clock would wait), then reads the client. */
void fuzz_proxy_fire_timers(void);
/* Moves the fixed clock forward by ms. */
void fuzz_proxy_advance(uint64_t ms);
/* Ends an input: closes every session and resets the relay, so runs are independent. */
void fuzz_proxy_end(void);
/* Feeds a whole input in the format above. */
void fuzz_proxy_run(const uint8_t *data, size_t size);
/* The local address of the proxy's listener (what the device sends to). */
void fuzz_proxy_local(struct sockaddr_storage *ss, socklen_t *len);
/* The address of a fixed peer. */
void fuzz_peer(unsigned peer, struct sockaddr_storage *ss, socklen_t *len);

#endif
