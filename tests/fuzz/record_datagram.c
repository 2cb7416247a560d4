/* record_datagram.c: records a PSK client's datagrams to the fuzz proxy as a fuzz_datagram seed. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ssl.h>

#include "session.h"

#include "../tools/tls-compat.h"
#include "fuzz_proxy.h"

#define MAX_RECORD 65536 /* bytes of the recording */
#define MAX_STEPS 50     /* handshake steps before giving up */

/* The client's side of the recording. */
struct recorder {
	int fd;        /* bound to the peer's address: the proxy's answers arrive here */
	unsigned peer; /* which fixed peer we are */
	uint8_t ctl;   /* flags for the datagrams being sent now */
	uint8_t out[MAX_RECORD];
	size_t out_len;
};

/* Prints usage and exits with status. */
static void __attribute__((noreturn)) usage(int status)
{
	fprintf(status ? stderr : stdout,
	    "usage: record_datagram [-Cch] [-i IDENTITY] [-k KEY] [-n REQUESTS] [-P PEER] "
	    "[-u SEGMENT] [-x] OUTFILE\n"
	    "  Runs a DTLS 1.2 PSK handshake (TLS-PSK-WITH-AES-128-CCM-8) with the fuzz\n"
	    "  harness's in-process proxy and writes the client's datagrams as a\n"
	    "  fuzz_datagram input, then replays it to check it gets as far.\n"
	    "  -i IDENTITY  PSK identity (default dev-42)\n"
	    "  -k KEY       PSK as text (default secret, the key of dev-42)\n"
	    "  -n N         CoAP requests after the handshake (default 1)\n"
	    "  -u SEGMENT   Uri-Path of the requests (default a)\n"
	    "  -P PEER      fixed peer 0-3 to send from (default 0)\n"
	    "  -c           run the event loop after each request (the backend's ICMP error: "
	    "5.02)\n"
	    "  -C           end with close_notify\n"
	    "  -x           TLS-ECDHE-ECDSA-WITH-AES-128-CCM-8 without a client certificate\n"
	    "               instead (replays only with the same server certificate: see\n"
	    "               $COAPS_FUZZ_CERTS)\n"
	    "  -h           this help\n");
	exit(status);
}

/* Fixed client "entropy": the recording is the same every time. */
static int
client_entropy(void *ctx, unsigned char *out, size_t len)
{
	(void)ctx;
	for (size_t i = 0; i < len; i++)
		out[i] = (unsigned char)(i * 13 + 5);
	return 0;
}

/* mbedTLS send: records the datagram and hands it to the proxy. */
static int
client_send(void *ctx, const unsigned char *buf, size_t len)
{
	struct recorder *r = ctx;

	if (len > 0xffff || r->out_len + 3 + len > sizeof r->out) {
		fprintf(stderr, "record_datagram: recording too long\n");
		exit(1);
	}
	r->out[r->out_len++] = (uint8_t)(r->peer | r->ctl);
	r->out[r->out_len++] = (uint8_t)(len >> 8);
	r->out[r->out_len++] = (uint8_t)len;
	memcpy(r->out + r->out_len, buf, len);
	r->out_len += len;
	fuzz_proxy_feed(r->peer, buf, len);
	if (r->ctl & FUZZ_CTL_LOOP)
		fuzz_proxy_loop();
	return (int)len;
}

/* mbedTLS receive: what the proxy sent to our address (already queued, or soon). */
static int
client_recv(void *ctx, unsigned char *buf, size_t len)
{
	struct recorder *r = ctx;
	struct pollfd pfd = { .fd = r->fd, .events = POLLIN };
	ssize_t n;

	if (poll(&pfd, 1, 200) <= 0)
		return MBEDTLS_ERR_SSL_WANT_READ;
	n = recv(r->fd, buf, len, MSG_DONTWAIT);
	if (n < 0)
		return errno == EAGAIN ? MBEDTLS_ERR_SSL_WANT_READ : MBEDTLS_ERR_SSL_INTERNAL_ERROR;
	return (int)n;
}

/* mbedTLS timers: never expire (the proxy answers at once or not at all). */
static void
client_set_timer(void *ctx, uint32_t int_ms, uint32_t fin_ms)
{
	(void)ctx;
	(void)int_ms;
	(void)fin_ms;
}

/* mbedTLS timer state: not expired. */
static int
client_get_timer(void *ctx)
{
	(void)ctx;
	return 0;
}

/* Builds a CON GET with a 2-byte token and one Uri-Path segment; returns its length. */
static size_t
coap_get(uint8_t *buf, size_t len, uint16_t mid, const char *segment)
{
	size_t seg = strlen(segment), n = 0;

	if (seg > 12 || len < 7 + seg)
		return 0;
	buf[n++] = 0x42; /* version 1, CON, token length 2 */
	buf[n++] = 0x01; /* GET */
	buf[n++] = (uint8_t)(mid >> 8);
	buf[n++] = (uint8_t)mid;
	buf[n++] = 0xa5;
	buf[n++] = (uint8_t)mid;
	buf[n++] = (uint8_t)(0xb0 | seg); /* Uri-Path (11) */
	memcpy(buf + n, segment, seg);
	return n + seg;
}

int
main(int argc, char **argv)
{
	static struct recorder rec;
	static const int suites[] = { MBEDTLS_TLS_PSK_WITH_AES_128_CCM_8, 0 };
	static const int ecdhe_suites[] = { MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8, 0 };
	const char *identity = "dev-42", *key = "secret", *segment = "a";
	struct sockaddr_storage ss, local;
	socklen_t sslen, locallen;
	mbedtls_ssl_context ssl;
	mbedtls_ssl_config conf;
	mbedtls_ctr_drbg_context drbg;
	struct proxy_stats before;
	const struct proxy_stats *st;
	unsigned long requests = 1;
	bool loop = false, close_notify = false, ecdhe = false;
	uint8_t msg[64], answer[256];
	FILE *f;
	int c, r = MBEDTLS_ERR_SSL_WANT_READ, rc = 1;

	while ((c = getopt(argc, argv, "cCi:k:n:P:u:xh")) != -1) {
		switch (c) {
		case 'c':
			loop = true;
			break;
		case 'C':
			close_notify = true;
			break;
		case 'i':
			identity = optarg;
			break;
		case 'k':
			key = optarg;
			break;
		case 'n':
			requests = strtoul(optarg, NULL, 10);
			if (requests > 100)
				usage(2);
			break;
		case 'P':
			rec.peer = (unsigned)strtoul(optarg, NULL, 10);
			if (rec.peer >= FUZZ_PEERS)
				usage(2);
			break;
		case 'u':
			segment = optarg;
			break;
		case 'x':
			ecdhe = true;
			break;
		case 'h':
			usage(0);
		default:
			usage(2);
		}
	}
	if (optind + 1 != argc)
		usage(2);

	fuzz_proxy_init();
	fuzz_proxy_begin();
	before = *stats_get();
	fuzz_peer(rec.peer, &ss, &sslen);
	rec.fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	fuzz_proxy_local(&local, &locallen);
	/* Connected: only our proxy's answers, not those of fuzzers running meanwhile. */
	if (rec.fd < 0 || bind(rec.fd, (struct sockaddr *)&ss, sslen) < 0 ||
	    connect(rec.fd, (struct sockaddr *)&local, locallen) < 0) {
		perror("record_datagram: cannot bind the peer's address");
		return 1;
	}

	mbedtls_ctr_drbg_init(&drbg);
	mbedtls_ssl_config_init(&conf);
	mbedtls_ssl_init(&ssl);
	if (mbedtls_ctr_drbg_seed(&drbg, client_entropy, NULL, NULL, 0) != 0 ||
	    mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_CLIENT,
	        MBEDTLS_SSL_TRANSPORT_DATAGRAM, MBEDTLS_SSL_PRESET_DEFAULT) != 0 ||
	    mbedtls_ssl_conf_psk(&conf, (const unsigned char *)key, strlen(key),
	        (const unsigned char *)identity, strlen(identity)) != 0) {
		fprintf(stderr, "record_datagram: cannot set up the client\n");
		goto done;
	}
	mbedtls_ssl_conf_rng(&conf, mbedtls_ctr_drbg_random, &drbg);
	tc_conf_dtls12(&conf);
	mbedtls_ssl_conf_ciphersuites(&conf, ecdhe ? ecdhe_suites : suites);
	/* The proxy's certificate is made afresh each run: nothing to pin it to. */
	mbedtls_ssl_conf_authmode(&conf, MBEDTLS_SSL_VERIFY_NONE);
	if (mbedtls_ssl_setup(&ssl, &conf) != 0) {
		fprintf(stderr, "record_datagram: mbedtls_ssl_setup failed\n");
		goto done;
	}
	mbedtls_ssl_set_bio(&ssl, &rec, client_send, client_recv, NULL);
	mbedtls_ssl_set_timer_cb(&ssl, &rec, client_set_timer, client_get_timer);

	for (int i = 0; i < MAX_STEPS && r != 0; i++) {
		r = mbedtls_ssl_handshake(&ssl);
		if (r != 0 && r != MBEDTLS_ERR_SSL_WANT_READ && r != MBEDTLS_ERR_SSL_WANT_WRITE)
			break;
	}
	if (r != 0) {
		fprintf(stderr, "record_datagram: handshake failed: -0x%04x\n", (unsigned)-r);
		goto done;
	}
	rec.ctl = loop ? FUZZ_CTL_LOOP : 0;
	for (unsigned long i = 0; i < requests; i++) {
		size_t n = coap_get(msg, sizeof msg, (uint16_t)(0x1000 + i), segment);

		if (n == 0 || mbedtls_ssl_write(&ssl, msg, n) != (int)n) {
			fprintf(stderr, "record_datagram: cannot send request %lu\n", i);
			goto done;
		}
		if (loop) {
			r = mbedtls_ssl_read(&ssl, answer, sizeof answer);
			if (r >= 2)
				printf("request %lu: answer %u.%02u\n", i, answer[1] >> 5,
				    answer[1] & 31);
			else
				printf("request %lu: no answer (-0x%04x)\n", i, (unsigned)-r);
		}
	}
	rec.ctl = 0;
	if (close_notify)
		(void)mbedtls_ssl_close_notify(&ssl);
	st = stats_get();
	printf("recorded: %zu bytes, handshakes_ok=%llu msgs_relayed_in=%llu\n", rec.out_len,
	    (unsigned long long)(st->handshakes_ok - before.handshakes_ok),
	    (unsigned long long)(st->msgs_relayed_in - before.msgs_relayed_in));
	fuzz_proxy_end();

	f = fopen(argv[optind], "wb");
	if (f == NULL || fwrite(rec.out, 1, rec.out_len, f) != rec.out_len || fclose(f) != 0) {
		perror(argv[optind]);
		goto done;
	}
	/* The seed must replay: same cookie, same ServerHello random, same keys. */
	before = *stats_get();
	fuzz_proxy_run(rec.out, rec.out_len);
	st = stats_get();
	printf("replayed: handshakes_ok=%llu msgs_relayed_in=%llu\n",
	    (unsigned long long)(st->handshakes_ok - before.handshakes_ok),
	    (unsigned long long)(st->msgs_relayed_in - before.msgs_relayed_in));

	rc = st->handshakes_ok - before.handshakes_ok == 1 ? 0 : 1;
done:
	mbedtls_ssl_free(&ssl);
	mbedtls_ssl_config_free(&conf);
	mbedtls_ctr_drbg_free(&drbg);
	close(rec.fd);
	return rc;
}
