/* coaps-send.c: a DTLS client (PSK or certificate) that sends raw (possibly malformed) CoAP bytes and prints what comes back. */
/*
 * usage: coaps-send -p PORT [-h HOST] [-u IDENTITY] [-k KEY] [-C CERT -K KEY -A CA]
 *                   [-w MS] [-W MS] [-a] [-r] [-c] [-S] HEX...
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
 * or local errors, 77 if -c is asked of an mbedTLS without Connection IDs.
 * The whole run is bounded by alarm(): 10 s plus the waits.
 *
 * -C CERT -K KEY -A CA: ECDHE-ECDSA (AES-128-CCM-8) with a client certificate
 * and key (PEM), the proxy's certificate checked against CA for "localhost";
 * in place of the PSK.
 * -S adds " seq=N" (the DTLS record sequence number) to each "recv" line.
 * -c asks the proxy for a Connection ID (RFC 9146; the client's own is empty);
 * "handshake ok" then says cid=HEX (or cid=none) and port=P (the local port).
 * Words in place of HEX act on the transport, keeping the DTLS session:
 *   rebind      go on from a new UDP socket (new local port): "rebind port=P"
 *   back        go back to the first socket: "back port=P"
 *   wait:MS     read and print records for MS milliseconds
 *   until:PATH  read and print records until file PATH exists (30 s at most):
 *               "until PATH" (or "until-timeout PATH"); e.g. while the proxy restarts
 *   hold:HEX    encrypt HEX as the next record but keep the datagram: "held len=N"
 * and these send one datagram from a fresh socket (another local port), then
 * listen there for the wait: "raw-sent WHAT port=P len=N", then
 * "raw-recv port=P len=N" for each datagram back, or "raw-silent port=P":
 *   release     the held datagram (an older record the proxy has not seen)
 *   replay      the last datagram sent (a record the proxy has seen)
 *   badmac      the last datagram sent with its last byte flipped
 *   unknown-cid the last datagram sent with its CID bytes flipped
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
#include <mbedtls/x509_crt.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include "../tools/tls-compat.h"

#define MAX_MSG 8192 /* largest message sent or received (over the proxy's limit, to test it) */
#define MAX_ARGS 64  /* messages per run */

/* Everything one DTLS client run needs. */
struct client {
	mbedtls_net_context net;
	mbedtls_ssl_context ssl;
	mbedtls_ssl_config conf;
	mbedtls_ctr_drbg_context drbg;
	mbedtls_entropy_context entropy;
	mbedtls_timing_delay_context timer;
	bool auto_ack;               /* -a */
	bool auto_rst;               /* -r */
	bool want_cid;               /* -c */
	bool show_seq;               /* -S */
	uint64_t rx_seq;             /* sequence number of the last record received */
	mbedtls_net_context first;   /* the first socket, while another one is in use */
	bool rebound;                /* net is not the first socket */
	bool holding;                /* the next datagram is kept, not sent */
	uint8_t last[MAX_MSG + 512]; /* the last datagram sent */
	size_t last_len;
	uint8_t held[MAX_MSG + 512]; /* the datagram kept by hold: */
	size_t held_len;
	const char *host, *port;
	const char *cert_file, *key_file, *ca_file; /* -C -K -A: certificate, not PSK */
	mbedtls_x509_crt cacert, owncert;
	mbedtls_pk_context ownkey;
};

static long long start_ms; /* when the handshake completed */

static const int psk_suites[] = { MBEDTLS_TLS_PSK_WITH_AES_128_CCM_8, 0 };
static const int ecdsa_suites[] = { MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8, 0 };

/* Prints the usage text. */
static void
usage(FILE *f)
{
	fprintf(f, "usage: coaps-send -p PORT [-h HOST] [-u IDENTITY] [-k KEY] "
	           "[-C CERT -K KEY -A CA] [-w MS] [-W MS] [-a] [-r] [-c] [-S] HEX...\n"
	           "  -h HOST      proxy address (default 127.0.0.1)\n"
	           "  -p PORT      proxy port\n"
	           "  -u IDENTITY  PSK identity (default my_identity)\n"
	           "  -k KEY       PSK as text bytes (default secretPSK123)\n"
	           "  -C CERT      client certificate (PEM; with -K and -A: ECDHE-ECDSA, no PSK)\n"
	           "  -K KEY       the client certificate's private key (PEM)\n"
	           "  -A CA        CA certificate that signed the proxy's (its name: localhost)\n"
	           "  -w MS        how long to read answers after each message (default 1000)\n"
	           "  -W MS        how long to read answers after the last message (default: -w)\n"
	           "  -a           answer each CON received with an empty ACK\n"
	           "  -r           answer each CON or NON response with an RST (cancels Observe)\n"
	           "  -c           ask for a Connection ID (RFC 9146)\n"
	           "  -S           show each record's sequence number (recv ... seq=N)\n"
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
			if (buf[off] >= 0x20 && buf[off] < 0x7f && buf[off] != '"' &&
			    buf[off] != '\\')
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
	if (c->show_seq)
		printf(" seq=%llu", (unsigned long long)c->rx_seq);
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

/* mbedTLS send: keeps a copy of the datagram, or only keeps it while holding. */
static int
client_send_cb(void *ctx, const unsigned char *buf, size_t len)
{
	struct client *c = ctx;

	if (len > sizeof(c->last))
		return MBEDTLS_ERR_SSL_BAD_INPUT_DATA;
	if (c->holding) {
		memcpy(c->held, buf, len);
		c->held_len = len;
		return (int)len;
	}
	memcpy(c->last, buf, len);
	c->last_len = len;
	return mbedtls_net_send(&c->net, buf, len);
}

/* Notes the sequence number of the first record of a datagram (epoch 1 and later). */
static void
client_note_seq(struct client *c, const unsigned char *buf, int r)
{
	uint64_t seq = 0;

	if (r < 13 || buf[0] < 20 || buf[0] > 25 || (buf[3] == 0 && buf[4] == 0))
		return;
	for (int i = 5; i < 11; i++)
		seq = seq << 8 | buf[i];
	c->rx_seq = seq;
}

/* mbedTLS receive from the socket in use. */
static int
client_recv_cb(void *ctx, unsigned char *buf, size_t len)
{
	struct client *c = ctx;
	int r = mbedtls_net_recv(&c->net, buf, len);

	client_note_seq(c, buf, r);
	return r;
}

/* mbedTLS receive with a timeout from the socket in use. */
static int
client_recv_timeout_cb(void *ctx, unsigned char *buf, size_t len, uint32_t timeout)
{
	struct client *c = ctx;
	int r = mbedtls_net_recv_timeout(&c->net, buf, len, timeout);

	client_note_seq(c, buf, r);
	return r;
}

/* The local port of a socket, or 0. */
static unsigned
sock_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* Goes on from a new socket (rebind true) or back to the first one; 0 or -1. */
static int
client_rebind(struct client *c, bool rebind)
{
	mbedtls_net_context n;
	int ret;

	if (!rebind) {
		if (c->rebound) {
			mbedtls_net_free(&c->net);
			c->net = c->first;
			c->rebound = false;
		}
		printf("back port=%u\n", sock_port(c->net.fd));
		return 0;
	}
	mbedtls_net_init(&n);
	if ((ret = mbedtls_net_connect(&n, c->host, c->port, MBEDTLS_NET_PROTO_UDP)) != 0) {
		fprintf(stderr, "coaps-send: rebind: -0x%04x\n", (unsigned)-ret);
		return -1;
	}
	if (c->rebound)
		mbedtls_net_free(&c->net);
	else
		c->first = c->net;
	c->net = n;
	c->rebound = true;
	printf("rebind port=%u\n", sock_port(c->net.fd));
	return 0;
}

/* Sends one datagram from a fresh socket and prints what comes back there for wait_ms; 0 or -1. */
static int
client_send_raw(struct client *c, const char *what, const uint8_t *buf, size_t len, long wait_ms)
{
	mbedtls_net_context n;
	uint8_t in[MAX_MSG];
	long long end = now_ms() + wait_ms;
	unsigned port;
	bool any = false;
	int ret;

	mbedtls_net_init(&n);
	if ((ret = mbedtls_net_connect(&n, c->host, c->port, MBEDTLS_NET_PROTO_UDP)) != 0) {
		fprintf(stderr, "coaps-send: raw socket: -0x%04x\n", (unsigned)-ret);
		return -1;
	}
	port = sock_port(n.fd);
	if (send(n.fd, buf, len, 0) != (ssize_t)len) {
		perror("coaps-send: raw send");
		mbedtls_net_free(&n);
		return -1;
	}
	printf("raw-sent %s port=%u len=%zu\n", what, port, len);
	for (;;) {
		long long left = end - now_ms();
		struct pollfd pfd = { .fd = n.fd, .events = POLLIN };

		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			break;
		ssize_t r = recv(n.fd, in, sizeof(in), 0);
		if (r < 0)
			break;
		printf("raw-recv port=%u len=%zd\n", port, r);
		any = true;
	}
	if (!any)
		printf("raw-silent port=%u\n", port);
	mbedtls_net_free(&n);
	return 0;
}

/* The proxy's CID as the client sees it (its peer CID); length, 0 for none. */
static size_t
client_cid(struct client *c, uint8_t *cid)
{
#if defined(MBEDTLS_SSL_DTLS_CONNECTION_ID)
	int enabled = 0;
	size_t n = 0;

	if (mbedtls_ssl_get_peer_cid(&c->ssl, &enabled, cid, &n) != 0 ||
	    enabled != MBEDTLS_SSL_CID_ENABLED)
		return 0;
	return n;
#else
	(void)c;
	(void)cid;
	return 0;
#endif
}

/*
 * Runs a transport word (see the top of the file); 1 if word is not one,
 * 0 done, -1 on error.
 */
static int
client_word(struct client *c, const char *word, long wait_ms)
{
	uint8_t buf[sizeof(c->last)], cid[64];
	size_t n;

	if (strcmp(word, "rebind") == 0 || strcmp(word, "back") == 0) {
		if (client_rebind(c, word[0] == 'r') < 0)
			return -1;
		client_read_for(c, wait_ms);
		return 0;
	}
	if (strncmp(word, "wait:", 5) == 0) {
		client_read_for(c, strtol(word + 5, NULL, 10));
		return 0;
	}
	if (strncmp(word, "until:", 6) == 0) {
		for (int i = 0; i < 300; i++) {
			if (access(word + 6, F_OK) == 0) {
				printf("until %s\n", word + 6);
				return 0;
			}
			client_read_for(c, 100);
		}
		printf("until-timeout %s\n", word + 6);
		return 0;
	}
	if (strncmp(word, "hold:", 5) == 0) {
		int len = hex_decode(word + 5, buf, MAX_MSG);

		if (len < 0)
			return -1;
		c->holding = true;
		int ret = mbedtls_ssl_write(&c->ssl, buf, (size_t)len);
		c->holding = false;
		if (ret != len)
			return -1;
		printf("held len=%zu\n", c->held_len);
		return 0;
	}
	if (strcmp(word, "release") == 0)
		return c->held_len == 0 ? -1
		                        : client_send_raw(c, word, c->held, c->held_len, wait_ms);
	if (strcmp(word, "replay") == 0 || strcmp(word, "badmac") == 0 ||
	    strcmp(word, "unknown-cid") == 0) {
		if (c->last_len == 0)
			return -1;
		memcpy(buf, c->last, c->last_len);
		if (word[0] == 'b')
			buf[c->last_len - 1] ^= 0x5a;
		if (word[0] == 'u') {
			n = client_cid(c, cid);
			if (n == 0 || c->last_len < 11 + n)
				return -1;
			for (size_t i = 0; i < n; i++)
				buf[11 + i] ^= 0xa5;
		}
		return client_send_raw(c, word, buf, c->last_len, wait_ms);
	}
	return 1;
}

/* Configures the client certificate (-C -K -A) in place of the PSK; 0 or an mbedTLS error. */
static int
client_setup_cert(struct client *c)
{
	int ret;

	if ((ret = mbedtls_x509_crt_parse_file(&c->cacert, c->ca_file)) != 0 ||
	    (ret = mbedtls_x509_crt_parse_file(&c->owncert, c->cert_file)) != 0 ||
	    (ret = tc_pk_parse_keyfile(&c->ownkey, c->key_file)) != 0 ||
	    (ret = mbedtls_ssl_conf_own_cert(&c->conf, &c->owncert, &c->ownkey)) != 0)
		return ret;
	mbedtls_ssl_conf_ca_chain(&c->conf, &c->cacert, NULL);
	mbedtls_ssl_conf_authmode(&c->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
	mbedtls_ssl_conf_ciphersuites(&c->conf, ecdsa_suites);
	return 0;
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
	mbedtls_x509_crt_init(&c->cacert);
	mbedtls_x509_crt_init(&c->owncert);
	mbedtls_pk_init(&c->ownkey);
	if ((ret = mbedtls_ctr_drbg_seed(&c->drbg, mbedtls_entropy_func, &c->entropy,
	         (const unsigned char *)pers, sizeof(pers) - 1)) != 0 ||
	    (ret = mbedtls_net_connect(&c->net, host, port, MBEDTLS_NET_PROTO_UDP)) != 0 ||
	    (ret = mbedtls_ssl_config_defaults(&c->conf, MBEDTLS_SSL_IS_CLIENT,
	         MBEDTLS_SSL_TRANSPORT_DATAGRAM, MBEDTLS_SSL_PRESET_DEFAULT)) != 0) {
		fprintf(stderr, "coaps-send: setup: -0x%04x\n", (unsigned)-ret);
		return -1;
	}
	mbedtls_ssl_conf_rng(&c->conf, mbedtls_ctr_drbg_random, &c->drbg);
	tc_conf_dtls12(&c->conf);
	mbedtls_ssl_conf_ciphersuites(&c->conf, psk_suites);
	mbedtls_ssl_conf_handshake_timeout(&c->conf, 250, 2000);
	mbedtls_ssl_conf_read_timeout(&c->conf, 1000);
	if (c->cert_file != NULL)
		ret = client_setup_cert(c);
	else
		ret = mbedtls_ssl_conf_psk(&c->conf, (const unsigned char *)key, strlen(key),
		    (const unsigned char *)id, strlen(id));
	if (ret != 0 || (ret = mbedtls_ssl_setup(&c->ssl, &c->conf)) != 0 ||
	    (c->cert_file != NULL && (ret = mbedtls_ssl_set_hostname(&c->ssl, "localhost")) != 0)) {
		fprintf(stderr, "coaps-send: credentials/setup: -0x%04x\n", (unsigned)-ret);
		return -1;
	}
#if defined(MBEDTLS_SSL_DTLS_CONNECTION_ID)
	/* Ask for the proxy's CID; the client's own is empty (it needs none). */
	if (c->want_cid &&
	    (ret = mbedtls_ssl_set_cid(&c->ssl, MBEDTLS_SSL_CID_ENABLED, NULL, 0)) != 0) {
		fprintf(stderr, "coaps-send: set_cid: -0x%04x\n", (unsigned)-ret);
		return -1;
	}
#endif
	mbedtls_ssl_set_bio(&c->ssl, c, client_send_cb, client_recv_cb, client_recv_timeout_cb);
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
	             ret == MBEDTLS_ERR_SSL_TIMEOUT) &&
	         now_ms() < end);
	if (ret != 0) {
		char err[128];
		mbedtls_strerror(ret, err, sizeof(err));
		printf("handshake failed -0x%04x %s\n", (unsigned)-ret, err);
		return -1;
	}
	start_ms = now_ms();
	printf("handshake ok cipher=%s", mbedtls_ssl_get_ciphersuite(&c->ssl));
	if (c->want_cid) {
		uint8_t cid[64];
		size_t n = client_cid(c, cid);

		printf(" cid=");
		if (n == 0)
			printf("none");
		print_hex(cid, n);
	}
	printf(" port=%u\n", sock_port(c->net.fd));
	fflush(stdout);
	return 0;
}

/* Frees everything the client holds. */
static void
client_free(struct client *c)
{
	mbedtls_net_free(&c->net);
	if (c->rebound)
		mbedtls_net_free(&c->first);
	mbedtls_ssl_free(&c->ssl);
	mbedtls_ssl_config_free(&c->conf);
	mbedtls_ctr_drbg_free(&c->drbg);
	mbedtls_entropy_free(&c->entropy);
	mbedtls_x509_crt_free(&c->cacert);
	mbedtls_x509_crt_free(&c->owncert);
	mbedtls_pk_free(&c->ownkey);
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
	while ((opt = getopt(argc, argv, "h:p:u:k:C:K:A:w:W:arcS")) != -1) {
		switch (opt) {
		case 'S':
			c.show_seq = true;
			break;
		case 'c':
#if !defined(MBEDTLS_SSL_DTLS_CONNECTION_ID)
			fprintf(stderr, "coaps-send: -c: this mbedTLS has no Connection IDs\n");
			return 77;
#endif
			c.want_cid = true;
			break;
		case 'h':
			host = optarg;
			break;
		case 'p':
			port = optarg;
			break;
		case 'u':
			id = optarg;
			break;
		case 'k':
			key = optarg;
			break;
		case 'C':
			c.cert_file = optarg;
			break;
		case 'K':
			c.key_file = optarg;
			break;
		case 'A':
			c.ca_file = optarg;
			break;
		case 'a':
			c.auto_ack = true;
			break;
		case 'r':
			c.auto_rst = true;
			break;
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
		default:
			usage(stderr);
			return 1;
		}
	}
	if (port == NULL || optind >= argc || argc - optind > MAX_ARGS ||
	    (c.cert_file != NULL) != (c.key_file != NULL) ||
	    (c.cert_file != NULL) != (c.ca_file != NULL)) {
		usage(stderr);
		return 1;
	}
	if (last_wait_ms < 0)
		last_wait_ms = wait_ms;
	unsigned untils = 0;

	for (int i = optind; i < argc; i++)
		untils += strncmp(argv[i], "until:", 6) == 0;
	alarm((unsigned)(10 + (wait_ms * (argc - optind) + last_wait_ms) / 1000 + 1 + 31 * untils));
	setvbuf(stdout, NULL, _IOLBF, 0);
	c.host = host;
	c.port = port;
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
		int w = client_word(&c, argv[i], i == argc - 1 ? last_wait_ms : wait_ms);
		if (w <= 0) {
			if (w < 0) {
				fprintf(stderr, "coaps-send: %s failed\n", argv[i]);
				rc = 1;
			}
			continue;
		}
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
			printf("sent at=%lld len=%d mid=0x%02x%02x\n", now_ms() - start_ms, n,
			    msg[2], msg[3]);
		else
			printf("sent at=%lld len=%d\n", now_ms() - start_ms, n);
		client_read_for(&c, i == argc - 1 ? last_wait_ms : wait_ms);
	}
	(void)mbedtls_ssl_close_notify(&c.ssl);
	client_free(&c);
	return rc;
}
