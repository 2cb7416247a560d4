/* coaps-send.c: a PSK DTLS client that sends raw (possibly malformed) CoAP bytes and prints what comes back. */
/*
 * usage: coaps-send -p PORT [-h HOST] [-u IDENTITY] [-k KEY] [-w MS] [-W MS] [-a] [-r] HEX...
 * Each HEX argument (spaces allowed) is sent as one DTLS application record;
 * after each, records are read for MS milliseconds (-w, default 1000; after the
 * last one -W, default the same) and printed:
 *   handshake ok cipher=NAME
 *   sent at=MS len=N mid=0xMMMM         (MS: milliseconds since the handshake)
 *   recv at=MS len=N type=ACK code=2.05 mid=0x1234 tkl=2 token=abcd opts=11:2,65000:9
 *       payload="text with \x0a escapes" hex=...
 *   recv at=MS len=N undecodable hex=...
 *   sent-ack mid=0xMMMM                 (-a: an empty ACK for each CON received)
 *   sent-rst mid=0xMMMM                 (-r: an RST for each CON or NON response)
 * Exit status: 0 after the last wait, 2 if the handshake fails, 1 on usage
 * or local errors. The whole run is bounded by alarm(): 10 s plus the waits.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>
#include <mbedtls/timing.h>

#include "../tools/tls-compat.h"

#define MAX_MSG 8192   /* largest message sent or received (over the proxy's limit, to test it) */
#define MAX_ARGS 64    /* messages per run */

/* Everything one DTLS client run needs. */
struct client {
	mbedtls_net_context net;
	mbedtls_ssl_context ssl;
	mbedtls_ssl_config conf;
	mbedtls_ctr_drbg_context drbg;
	mbedtls_entropy_context entropy;
	mbedtls_timing_delay_context timer;
	bool auto_ack;   /* -a */
	bool auto_rst;   /* -r */
};

static long long start_ms; /* when the handshake completed */

static const int psk_suites[] = { MBEDTLS_TLS_PSK_WITH_AES_128_CCM_8, 0 };

/* Prints the usage text. */
static void
usage(FILE *f)
{
	fprintf(f, "usage: coaps-send -p PORT [-h HOST] [-u IDENTITY] [-k KEY] [-w MS] [-W MS] [-a] [-r] HEX...\n"
	           "  -h HOST      proxy address (default 127.0.0.1)\n"
	           "  -p PORT      proxy port\n"
	           "  -u IDENTITY  PSK identity (default my_identity)\n"
	           "  -k KEY       PSK as text bytes (default secretPSK123)\n"
	           "  -w MS        how long to read answers after each message (default 1000)\n"
	           "  -W MS        how long to read answers after the last message (default: -w)\n"
	           "  -a           answer each CON received with an empty ACK\n"
	           "  -r           answer each CON or NON response with an RST (cancels Observe)\n"
	           "Each HEX argument is sent as one application record.\n");
}

/* Returns the value of a hex digit, or -1. */
static int
hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes hex text (whitespace ignored) into out; returns the length or -1. */
static int
hex_decode(const char *s, uint8_t *out, size_t outlen)
{
	size_t n = 0;
	int hi = -1;

	for (; *s != '\0'; s++) {
		if (*s == ' ' || *s == ':' || *s == '\t')
			continue;
		int d = hex_digit(*s);
		if (d < 0)
			return -1;
		if (hi < 0) {
			hi = d;
			continue;
		}
		if (n >= outlen)
			return -1;
		out[n++] = (uint8_t)(hi << 4 | d);
		hi = -1;
	}
	return hi < 0 ? (int)n : -1;
}

/* Returns the monotonic time in milliseconds. */
static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Prints bytes as hex. */
static void
print_hex(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		printf("%02x", p[i]);
}

/* Reads one extended option delta or length (RFC 7252 §3.1); -1 if truncated or nibble 15. */
static long
option_ext(unsigned nibble, const uint8_t *buf, size_t len, size_t *off)
{
	if (nibble < 13)
		return (long)nibble;
	if (nibble == 13) {
		if (*off + 1 > len)
			return -1;
		return 13 + buf[(*off)++];
	}
	if (nibble == 14) {
		if (*off + 2 > len)
			return -1;
		long v = 269 + ((long)buf[*off] << 8 | buf[*off + 1]);
		*off += 2;
		return v;
	}
	return -1;
}

/* Prints the options and payload of a message whose header and token end at off. */
static void
print_body(const uint8_t *buf, size_t len, size_t off)
{
	long num = 0;
	bool first = true;

	printf(" opts=");
	while (off < len && buf[off] != 0xff) {
		uint8_t b = buf[off++];
		long delta = option_ext(b >> 4, buf, len, &off);
		long olen = option_ext(b & 0x0f, buf, len, &off);
		if (delta < 0 || olen < 0 || (size_t)olen > len - off) {
			printf("%sBAD", first ? "" : ",");
			return;
		}
		num += delta;
		printf("%s%ld:%ld", first ? "" : ",", num, olen);
		first = false;
		off += (size_t)olen;
	}
	if (off < len && buf[off] == 0xff) {
		off++;
		printf(" payload=\"");
		for (; off < len; off++) {
			if (buf[off] >= 0x20 && buf[off] < 0x7f && buf[off] != '"' && buf[off] != '\\')
				putchar(buf[off]);
			else
				printf("\\x%02x", buf[off]);
		}
		putchar('"');
	}
}

/* Sends an empty ACK (rst false) or RST (rst true) for mid. */
static void
client_send_empty(struct client *c, uint16_t mid, bool rst)
{
	uint8_t msg[4] = { rst ? 0x70 : 0x60, 0x00, (uint8_t)(mid >> 8), (uint8_t)mid };
	const char *what = rst ? "rst" : "ack";
	int ret = mbedtls_ssl_write(&c->ssl, msg, sizeof(msg));

	if (ret == (int)sizeof(msg))
		printf("sent-%s mid=0x%04x\n", what, mid);
	else
		printf("%s-failed mid=0x%04x ret=-0x%04x\n", what, mid, (unsigned)-ret);
}

/* Prints one received record, decoded when it looks like CoAP; ACKs CONs with -a. */
static void
client_print_record(struct client *c, const uint8_t *buf, size_t len)
{
	static const char *const types[] = { "CON", "NON", "ACK", "RST" };

	printf("recv at=%lld len=%zu", now_ms() - start_ms, len);
	if (len < 4 || buf[0] >> 6 != 1 || (buf[0] & 0x0f) > 8 || len < 4u + (buf[0] & 0x0fu)) {
		printf(" undecodable hex=");
		print_hex(buf, len);
		putchar('\n');
		return;
	}
	unsigned type = (buf[0] >> 4) & 3;
	unsigned tkl = buf[0] & 0x0f;
	uint16_t mid = (uint16_t)(buf[2] << 8 | buf[3]);
	printf(" type=%s code=%u.%02u mid=0x%04x tkl=%u token=", types[type], buf[1] >> 5,
	       buf[1] & 0x1fu, mid, tkl);
	print_hex(buf + 4, tkl);
	print_body(buf, len, 4 + tkl);
	printf(" hex=");
	print_hex(buf, len);
	putchar('\n');
	if (c->auto_rst && type <= 1 && buf[1] >= 0x40)
		client_send_empty(c, mid, true);
	else if (c->auto_ack && type == 0)
		client_send_empty(c, mid, false);
}

/* Reads and prints records for wait_ms milliseconds. */
static void
client_read_for(struct client *c, long wait_ms)
{
	uint8_t buf[MAX_MSG];
	long long end = now_ms() + wait_ms;

	for (;;) {
		long long left = end - now_ms();
		if (left <= 0)
			break;
		mbedtls_ssl_conf_read_timeout(&c->conf, (uint32_t)left);
		int ret = mbedtls_ssl_read(&c->ssl, buf, sizeof(buf));
		if (ret > 0) {
			client_print_record(c, buf, (size_t)ret);
		} else if (ret == MBEDTLS_ERR_SSL_TIMEOUT || ret == MBEDTLS_ERR_SSL_WANT_READ ||
		           ret == MBEDTLS_ERR_SSL_WANT_WRITE) {
			continue;
		} else if (ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY || ret == 0) {
			printf("closed by peer\n");
			break;
		} else {
			printf("read-error -0x%04x\n", (unsigned)-ret);
			break;
		}
	}
	fflush(stdout);
}

/* Sets up the DTLS client and connects the UDP socket; 0 or -1. */
static int
client_setup(struct client *c, const char *host, const char *port, const char *id, const char *key)
{
	static const char pers[] = "coaps-send";
	int ret;

	if (tc_crypto_init() != 0) {
		fprintf(stderr, "coaps-send: cannot initialise PSA crypto\n");
		return -1;
	}
	mbedtls_net_init(&c->net);
	mbedtls_ssl_init(&c->ssl);
	mbedtls_ssl_config_init(&c->conf);
	mbedtls_ctr_drbg_init(&c->drbg);
	mbedtls_entropy_init(&c->entropy);
	if ((ret = mbedtls_ctr_drbg_seed(&c->drbg, mbedtls_entropy_func, &c->entropy,
	                                 (const unsigned char *)pers, sizeof(pers) - 1)) != 0 ||
	    (ret = mbedtls_net_connect(&c->net, host, port, MBEDTLS_NET_PROTO_UDP)) != 0 ||
	    (ret = mbedtls_ssl_config_defaults(&c->conf, MBEDTLS_SSL_IS_CLIENT,
	                                       MBEDTLS_SSL_TRANSPORT_DATAGRAM,
	                                       MBEDTLS_SSL_PRESET_DEFAULT)) != 0) {
		fprintf(stderr, "coaps-send: setup: -0x%04x\n", (unsigned)-ret);
		return -1;
	}
	mbedtls_ssl_conf_rng(&c->conf, mbedtls_ctr_drbg_random, &c->drbg);
	tc_conf_dtls12(&c->conf);
	mbedtls_ssl_conf_ciphersuites(&c->conf, psk_suites);
	mbedtls_ssl_conf_handshake_timeout(&c->conf, 250, 2000);
	mbedtls_ssl_conf_read_timeout(&c->conf, 1000);
	if ((ret = mbedtls_ssl_conf_psk(&c->conf, (const unsigned char *)key, strlen(key),
	                                (const unsigned char *)id, strlen(id))) != 0 ||
	    (ret = mbedtls_ssl_setup(&c->ssl, &c->conf)) != 0) {
		fprintf(stderr, "coaps-send: psk/setup: -0x%04x\n", (unsigned)-ret);
		return -1;
	}
	mbedtls_ssl_set_bio(&c->ssl, &c->net, mbedtls_net_send, mbedtls_net_recv,
	                    mbedtls_net_recv_timeout);
	mbedtls_ssl_set_timer_cb(&c->ssl, &c->timer, mbedtls_timing_set_delay,
	                         mbedtls_timing_get_delay);
	return 0;
}

/* Runs the handshake, bounded to 5 seconds; 0 or -1. */
static int
client_handshake(struct client *c)
{
	long long end = now_ms() + 5000;
	int ret;

	do {
		ret = mbedtls_ssl_handshake(&c->ssl);
	} while ((ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE ||
	          ret == MBEDTLS_ERR_SSL_TIMEOUT) && now_ms() < end);
	if (ret != 0) {
		char err[128];
		mbedtls_strerror(ret, err, sizeof(err));
		printf("handshake failed -0x%04x %s\n", (unsigned)-ret, err);
		return -1;
	}
	start_ms = now_ms();
	printf("handshake ok cipher=%s\n", mbedtls_ssl_get_ciphersuite(&c->ssl));
	fflush(stdout);
	return 0;
}

/* Frees everything the client holds. */
static void
client_free(struct client *c)
{
	mbedtls_net_free(&c->net);
	mbedtls_ssl_free(&c->ssl);
	mbedtls_ssl_config_free(&c->conf);
	mbedtls_ctr_drbg_free(&c->drbg);
	mbedtls_entropy_free(&c->entropy);
}

int
main(int argc, char **argv)
{
	const char *host = "127.0.0.1", *port = NULL;
	const char *id = "my_identity", *key = "secretPSK123";
	long wait_ms = 1000, last_wait_ms = -1;
	struct client c;
	int opt, rc = 0;

	memset(&c, 0, sizeof(c));
	while ((opt = getopt(argc, argv, "h:p:u:k:w:W:ar")) != -1) {
		switch (opt) {
		case 'h': host = optarg; break;
		case 'p': port = optarg; break;
		case 'u': id = optarg; break;
		case 'k': key = optarg; break;
		case 'a': c.auto_ack = true; break;
		case 'r': c.auto_rst = true; break;
		case 'w':
		case 'W': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*end != '\0' || v < 0 || v > 30000) {
				usage(stderr);
				return 1;
			}
			if (opt == 'w')
				wait_ms = v;
			else
				last_wait_ms = v;
			break;
		}
		default: usage(stderr); return 1;
		}
	}
	if (port == NULL || optind >= argc || argc - optind > MAX_ARGS) {
		usage(stderr);
		return 1;
	}
	if (last_wait_ms < 0)
		last_wait_ms = wait_ms;
	alarm((unsigned)(10 + (wait_ms * (argc - optind) + last_wait_ms) / 1000 + 1));
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (client_setup(&c, host, port, id, key) < 0) {
		client_free(&c);
		return 1;
	}
	if (client_handshake(&c) < 0) {
		client_free(&c);
		return 2;
	}
	for (int i = optind; i < argc && rc == 0; i++) {
		uint8_t msg[MAX_MSG];
		int n = hex_decode(argv[i], msg, sizeof(msg));
		if (n < 0) {
			fprintf(stderr, "coaps-send: bad hex: %s\n", argv[i]);
			rc = 1;
			break;
		}
		int ret = mbedtls_ssl_write(&c.ssl, msg, (size_t)n);
		if (ret != n) {
			fprintf(stderr, "coaps-send: write: -0x%04x\n", (unsigned)-ret);
			rc = 1;
			break;
		}
		if (n >= 4)
			printf("sent at=%lld len=%d mid=0x%02x%02x\n", now_ms() - start_ms, n, msg[2],
			       msg[3]);
		else
			printf("sent at=%lld len=%d\n", now_ms() - start_ms, n);
		client_read_for(&c, i == argc - 1 ? last_wait_ms : wait_ms);
	}
	(void)mbedtls_ssl_close_notify(&c.ssl);
	client_free(&c);
	return rc;
}
