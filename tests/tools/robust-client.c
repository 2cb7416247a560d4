/* robust-client.c: a DTLS 1.2 CoAP client on mbedTLS with short, bounded timers for the robustness tests. */
#include "config.h"

#include <sys/socket.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
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
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/timing.h>
#include <mbedtls/x509_crt.h>

#include "../tools/tls-compat.h"

#define MAX_COUNT 10000  /* rounds per run */
#define MAX_PATH 12      /* Uri-Path bytes (one-byte option header) */
#define READ_SLICE_MS 50 /* read timeout between retransmission checks */
#define MAX_ACK_MS 2000  /* CoAP retransmission interval cap */

/* Command-line settings. */
struct settings {
	const char *host, *port;
	const char *psk_id, *psk_key;
	const char *cert, *key, *ca;
	uint32_t hs_min, hs_max;
	long count;
	long deadline_ms;
	int src_port;
	unsigned mid_base;
	const char *path;
	long hold_ms;
	long forge;
	bool no_close;
	int mtu;
	long ack_ms;
};

static struct settings set = { .hs_min = 200,
	.hs_max = 8000,
	.count = 1,
	.deadline_ms = 20000,
	.path = "robust",
	.ack_ms = 500 };
static mbedtls_entropy_context entropy;
static mbedtls_ctr_drbg_context drbg;
static mbedtls_x509_crt cacert, owncert;
static mbedtls_pk_context ownkey;
static struct sockaddr_storage server_ss;
static socklen_t server_len;

/* Prints the usage text. */
static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: robust-client --server ADDR:PORT (--psk ID:KEY | --cert F --key F --ca F)\n"
	    "                     [options]\n"
	    "Runs ROUNDS times: a DTLS 1.2 handshake from a fresh UDP socket, then one CON GET\n"
	    "(retransmitted until answered), then close_notify. One line per event on stdout:\n"
	    "  handshake round=R port=P ms=N cipher=NAME\n"
	    "  answer round=R req=Q mid=0xMMMM tx=N ms=N code=C.DD\n"
	    "  forged round=R n=N\n"
	    "  fail round=R stage=handshake|request|hold err=TEXT\n"
	    "  summary ok=N fail=N\n"
	    "options:\n"
	    "  --server ADDR:PORT   the proxy (IPv6 in brackets)\n"
	    "  --psk ID:KEY         PSK identity and key (text bytes)\n"
	    "  --cert F --key F     client certificate and key (ECDHE-ECDSA)\n"
	    "  --ca F               CA that signed the server (verified, name localhost)\n"
	    "  --hs-min MS          first handshake retransmission (default 200)\n"
	    "  --hs-max MS          handshake give-up timer (default 8000)\n"
	    "  --ack-ms MS          first CoAP retransmission (default 500, doubling, cap 2000)\n"
	    "  --count N            rounds (default 1)\n"
	    "  --deadline-ms N      bound of each round (default 20000)\n"
	    "  --src-port P         bind to this local port (one round at a time)\n"
	    "  --mid-base M         message ID of round R's first request is M+R (default random)\n"
	    "  --path P             Uri-Path of the request, 1-12 bytes (default robust)\n"
	    "  --hold-ms N          after the answer, stay N ms, then send a second request\n"
	    "  --forge N            during the hold, send N application-data records with a\n"
	    "                       bad MAC for this session\n"
	    "  --no-close           end without close_notify (leave the session open)\n"
	    "  --mtu B              DTLS MTU of the client\n"
	    "Exit 0 if every round got its answers, 1 otherwise, 2 on usage errors.\n");
}

/* Returns monotonic time in milliseconds. */
static int64_t
clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Parses a number in [lo, hi]; exits with usage on error. */
static long
num_parse(const char *s, long lo, long hi, const char *what)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 0);
	if (errno != 0 || *s == '\0' || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "robust-client: bad %s: %s\n", what, s);
		exit(2);
	}
	return v;
}

/* Splits "ADDR:PORT" or "[V6]:PORT" and resolves it into server_ss. */
static void
server_parse(const char *arg)
{
	static char buf[128];
	struct addrinfo hints, *res = NULL;
	char *colon;
	char *host;

	if (strlen(arg) >= sizeof buf) {
		fprintf(stderr, "robust-client: address too long\n");
		exit(2);
	}
	strcpy(buf, arg);
	colon = strrchr(buf, ':');
	if (colon == NULL) {
		fprintf(stderr, "robust-client: --server wants ADDR:PORT\n");
		exit(2);
	}
	*colon = '\0';
	host = buf;
	if (host[0] == '[' && colon > host + 1 && colon[-1] == ']') {
		host++;
		colon[-1] = '\0';
	}
	set.host = host;
	set.port = colon + 1;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	if (getaddrinfo(set.host, set.port, &hints, &res) != 0 || res == NULL ||
	    res->ai_addrlen > sizeof server_ss) {
		fprintf(stderr, "robust-client: bad address %s\n", arg);
		exit(2);
	}
	memcpy(&server_ss, res->ai_addr, res->ai_addrlen);
	server_len = res->ai_addrlen;
	freeaddrinfo(res);
}

/* Opens a UDP socket connected to the server; prints its local port into *port. */
static int
sock_open(int *port)
{
	struct sockaddr_storage local;
	socklen_t len = sizeof local;
	int fd = socket(server_ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (set.src_port > 0) {
		memset(&local, 0, sizeof local);
		if (server_ss.ss_family == AF_INET6) {
			struct sockaddr_in6 s6 = { .sin6_family = AF_INET6,
				.sin6_port = htons((uint16_t)set.src_port) };

			memcpy(&local, &s6, sizeof s6);
			len = sizeof s6;
		} else {
			struct sockaddr_in s4 = { .sin_family = AF_INET,
				.sin_port = htons((uint16_t)set.src_port) };

			memcpy(&local, &s4, sizeof s4);
			len = sizeof s4;
		}
		if (bind(fd, (struct sockaddr *)&local, len) < 0) {
			fprintf(stderr, "robust-client: bind port %d: %s\n", set.src_port,
			    strerror(errno));
			close(fd);
			return -1;
		}
	}
	if (connect(fd, (struct sockaddr *)&server_ss, server_len) < 0) {
		close(fd);
		return -1;
	}
	len = sizeof local;
	if (getsockname(fd, (struct sockaddr *)&local, &len) < 0) {
		close(fd);
		return -1;
	}
	if (local.ss_family == AF_INET6) {
		struct sockaddr_in6 s6;

		memcpy(&s6, &local, sizeof s6);
		*port = ntohs(s6.sin6_port);
	} else {
		struct sockaddr_in s4;

		memcpy(&s4, &local, sizeof s4);
		*port = ntohs(s4.sin_port);
	}
	return fd;
}

/* Formats an mbedTLS error code as text. */
static const char *
err_text(int r, char *buf, size_t len)
{
	char e[100];

	mbedtls_strerror(r, e, sizeof e);
	snprintf(buf, len, "\"-0x%04x %s\"", (unsigned)-r, e);
	return buf;
}

/* Builds a CON GET with a 4-byte token and one Uri-Path option; returns its length. */
static size_t
coap_build(uint8_t *p, uint16_t mid, uint32_t token)
{
	size_t plen = strlen(set.path);

	p[0] = 0x44; /* version 1, CON, TKL 4 */
	p[1] = 0x01; /* GET */
	p[2] = (uint8_t)(mid >> 8);
	p[3] = (uint8_t)mid;
	p[4] = (uint8_t)(token >> 24);
	p[5] = (uint8_t)(token >> 16);
	p[6] = (uint8_t)(token >> 8);
	p[7] = (uint8_t)token;
	p[8] = (uint8_t)(0xB0 | plen); /* Uri-Path, delta 11 */
	memcpy(p + 9, set.path, plen);
	return 9 + plen;
}

/* Sends an empty ACK for a CON separate response. */
static void
coap_ack(mbedtls_ssl_context *ssl, const uint8_t *msg)
{
	uint8_t a[4] = { 0x60, 0x00, msg[2], msg[3] };

	(void)mbedtls_ssl_write(ssl, a, sizeof a);
}

/*
 * Checks an incoming CoAP message against our request: returns 1 for the
 * answer (code in *code), 0 for anything else.
 */
static int
coap_match(mbedtls_ssl_context *ssl, const uint8_t *m, size_t len, uint16_t mid, uint32_t token,
    uint8_t *code)
{
	uint8_t tok[4] = { (uint8_t)(token >> 24), (uint8_t)(token >> 16), (uint8_t)(token >> 8),
		(uint8_t)token };
	unsigned type, tkl;
	uint16_t rmid;

	if (len < 4 || (m[0] >> 6) != 1)
		return 0;
	type = (m[0] >> 4) & 3;
	tkl = m[0] & 15;
	rmid = (uint16_t)(m[2] << 8 | m[3]);
	if (m[1] == 0)
		return 0; /* empty ACK of a separate response, or a ping */
	if (tkl != 4 || len < 8 || memcmp(m + 4, tok, 4) != 0)
		return 0;
	if (type == 2 && rmid != mid)
		return 0;
	if (type == 0)
		coap_ack(ssl, m);
	*code = m[1];
	return 1;
}

/*
 * Sends one CON request and retransmits it until its answer comes or the
 * deadline passes; returns the transmission count (negative if unanswered).
 */
static int
coap_exchange(mbedtls_ssl_context *ssl, uint16_t mid, uint32_t token, int64_t deadline,
    uint8_t *code, char *err, size_t errlen)
{
	uint8_t req[16 + MAX_PATH], in[2048];
	size_t rlen = coap_build(req, mid, token);
	long wait = set.ack_ms;
	int64_t next;
	int tx = 0, r;

	for (;;) {
		r = mbedtls_ssl_write(ssl, req, rlen);
		if (r < 0) {
			err_text(r, err, errlen);
			return -(tx ? tx : 1);
		}
		tx++;
		next = clock_ms() + wait;
		wait = wait * 2 > MAX_ACK_MS ? MAX_ACK_MS : wait * 2;
		while (clock_ms() < next) {
			if (clock_ms() >= deadline) {
				snprintf(err, errlen, "\"no answer before the deadline\"");
				return -tx;
			}
			r = mbedtls_ssl_read(ssl, in, sizeof in);
			if (r > 0) {
				if (coap_match(ssl, in, (size_t)r, mid, token, code))
					return tx;
				continue;
			}
			if (r == MBEDTLS_ERR_SSL_TIMEOUT || r == MBEDTLS_ERR_SSL_WANT_READ ||
			    r == MBEDTLS_ERR_SSL_WANT_WRITE)
				continue;
			err_text(r == 0 ? MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY : r, err, errlen);
			return -tx;
		}
	}
}

/* Sends n application-data records for epoch 1 with random bytes for a MAC. */
static void
forge_send(int fd, long n, uint64_t seq_base)
{
	for (long i = 0; i < n; i++) {
		uint8_t rec[13 + 40];
		uint64_t seq = seq_base + (uint64_t)i;

		rec[0] = 23;
		rec[1] = 0xfe;
		rec[2] = 0xfd;
		rec[3] = 0;
		rec[4] = 1;
		for (int b = 0; b < 6; b++)
			rec[5 + b] = (uint8_t)(seq >> (8 * (5 - b)));
		rec[11] = 0;
		rec[12] = 40;
		mbedtls_ctr_drbg_random(&drbg, rec + 13, 40);
		(void)send(fd, rec, sizeof rec, 0);
	}
}

/* Reads (and ignores) whatever arrives for ms milliseconds; returns 0 or an mbedTLS error. */
static int
hold(mbedtls_ssl_context *ssl, long ms)
{
	uint8_t in[2048];
	int64_t end = clock_ms() + ms;

	while (clock_ms() < end) {
		int r = mbedtls_ssl_read(ssl, in, sizeof in);

		if (r >= 0 || r == MBEDTLS_ERR_SSL_TIMEOUT || r == MBEDTLS_ERR_SSL_WANT_READ ||
		    r == MBEDTLS_ERR_SSL_WANT_WRITE) {
			if (r == 0)
				return MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY;
			continue;
		}
		return r;
	}
	return 0;
}

/* Runs one round: handshake, request(s), close. Returns true on success. */
static bool
round_run(const mbedtls_ssl_config *conf, long round)
{
	mbedtls_ssl_context ssl;
	mbedtls_net_context net;
	mbedtls_timing_delay_context timer;
	int64_t start = clock_ms(), deadline = start + set.deadline_ms, t;
	uint16_t mid;
	uint32_t token;
	uint8_t code;
	char err[160];
	int port = 0, r, tx;
	bool ok = false;

	mbedtls_ssl_init(&ssl);
	mbedtls_net_init(&net);
	net.fd = sock_open(&port);
	if (net.fd < 0) {
		printf("fail round=%ld stage=socket err=\"%s\"\n", round, strerror(errno));
		goto out;
	}
	if ((r = mbedtls_ssl_setup(&ssl, conf)) != 0 ||
	    (set.ca != NULL && (r = mbedtls_ssl_set_hostname(&ssl, "localhost")) != 0)) {
		printf("fail round=%ld stage=setup err=%s\n", round, err_text(r, err, sizeof err));
		goto out;
	}
	mbedtls_ssl_set_bio(&ssl, &net, mbedtls_net_send, mbedtls_net_recv,
	    mbedtls_net_recv_timeout);
	mbedtls_ssl_set_timer_cb(&ssl, &timer, mbedtls_timing_set_delay, mbedtls_timing_get_delay);
	if (set.mtu > 0)
		mbedtls_ssl_set_mtu(&ssl, (uint16_t)set.mtu);
	do {
		r = mbedtls_ssl_handshake(&ssl);
	} while ((r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE) &&
	         clock_ms() < deadline);
	if (r != 0) {
		printf("fail round=%ld stage=handshake port=%d err=%s\n", round, port,
		    err_text(r, err, sizeof err));
		goto out;
	}
	printf("handshake round=%ld port=%d ms=%" PRId64 " cipher=%s\n", round, port,
	    clock_ms() - start, mbedtls_ssl_get_ciphersuite(&ssl));
	fflush(stdout);

	for (int q = 1; q <= (set.hold_ms > 0 ? 2 : 1); q++) {
		mid = (uint16_t)(set.mid_base + (unsigned)round * 2 + (unsigned)(q - 1));
		if (set.mid_base == 0)
			mbedtls_ctr_drbg_random(&drbg, (unsigned char *)&mid, sizeof mid);
		mbedtls_ctr_drbg_random(&drbg, (unsigned char *)&token, sizeof token);
		t = clock_ms();
		tx = coap_exchange(&ssl, mid, token, deadline, &code, err, sizeof err);
		if (tx < 0) {
			printf("fail round=%ld stage=request req=%d mid=0x%04x tx=%d err=%s\n",
			    round, q, mid, -tx, err);
			goto out;
		}
		printf("answer round=%ld req=%d mid=0x%04x tx=%d ms=%" PRId64 " code=%u.%02u\n",
		    round, q, mid, tx, clock_ms() - t, code >> 5, code & 31);
		fflush(stdout);
		if (q == 1 && set.hold_ms > 0) {
			if (set.forge > 0) {
				forge_send(net.fd, set.forge, 1000);
				printf("forged round=%ld n=%ld\n", round, set.forge);
				fflush(stdout);
			}
			r = hold(&ssl, set.hold_ms);
			if (r != 0) {
				printf("fail round=%ld stage=hold err=%s\n", round,
				    err_text(r, err, sizeof err));
				goto out;
			}
		}
	}
	ok = true;
	if (!set.no_close)
		(void)mbedtls_ssl_close_notify(&ssl);
out:
	fflush(stdout);
	mbedtls_ssl_free(&ssl);
	mbedtls_net_free(&net);
	return ok;
}

/* Loads the credentials and fills the shared client configuration. */
static void
conf_setup(mbedtls_ssl_config *conf)
{
	static int psk_suites[] = { MBEDTLS_TLS_PSK_WITH_AES_128_CCM_8, 0 };
	static int ecdsa_suites[] = { MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8, 0 };
	char err[160];
	int r;

	mbedtls_ssl_config_init(conf);
	if ((r = mbedtls_ssl_config_defaults(conf, MBEDTLS_SSL_IS_CLIENT,
	         MBEDTLS_SSL_TRANSPORT_DATAGRAM, MBEDTLS_SSL_PRESET_DEFAULT)) != 0)
		goto fail;
	mbedtls_ssl_conf_rng(conf, mbedtls_ctr_drbg_random, &drbg);
	tc_conf_dtls12(conf);
	mbedtls_ssl_conf_handshake_timeout(conf, set.hs_min, set.hs_max);
	mbedtls_ssl_conf_read_timeout(conf, READ_SLICE_MS);
	if (set.psk_id != NULL) {
		if ((r = mbedtls_ssl_conf_psk(conf, (const unsigned char *)set.psk_key,
		         strlen(set.psk_key), (const unsigned char *)set.psk_id,
		         strlen(set.psk_id))) != 0)
			goto fail;
		mbedtls_ssl_conf_ciphersuites(conf, psk_suites);
		mbedtls_ssl_conf_authmode(conf, MBEDTLS_SSL_VERIFY_NONE);
		return;
	}
	if ((r = mbedtls_x509_crt_parse_file(&cacert, set.ca)) != 0 ||
	    (r = mbedtls_x509_crt_parse_file(&owncert, set.cert)) != 0 ||
	    (r = tc_pk_parse_keyfile(&ownkey, set.key)) != 0 ||
	    (r = mbedtls_ssl_conf_own_cert(conf, &owncert, &ownkey)) != 0)
		goto fail;
	mbedtls_ssl_conf_ca_chain(conf, &cacert, NULL);
	mbedtls_ssl_conf_authmode(conf, MBEDTLS_SSL_VERIFY_REQUIRED);
	mbedtls_ssl_conf_ciphersuites(conf, ecdsa_suites);
	return;
fail:
	fprintf(stderr, "robust-client: configuration: %s\n", err_text(r, err, sizeof err));
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = { { "server", required_argument, NULL, 's' },
		{ "psk", required_argument, NULL, 'P' }, { "cert", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' }, { "ca", required_argument, NULL, 'C' },
		{ "hs-min", required_argument, NULL, 'm' },
		{ "hs-max", required_argument, NULL, 'M' },
		{ "count", required_argument, NULL, 'n' },
		{ "deadline-ms", required_argument, NULL, 'd' },
		{ "src-port", required_argument, NULL, 'p' },
		{ "mid-base", required_argument, NULL, 'b' },
		{ "path", required_argument, NULL, 'u' },
		{ "hold-ms", required_argument, NULL, 'H' },
		{ "forge", required_argument, NULL, 'F' }, { "no-close", no_argument, NULL, 'N' },
		{ "mtu", required_argument, NULL, 'T' }, { "ack-ms", required_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } };
	mbedtls_ssl_config conf;
	static char psk_buf[256];
	char *colon;
	long ok = 0, failed = 0;
	int opt;

	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 's':
			server_parse(optarg);
			break;
		case 'P':
			if (strlen(optarg) >= sizeof psk_buf ||
			    (colon = strchr(optarg, ':')) == NULL) {
				fprintf(stderr, "robust-client: --psk wants ID:KEY\n");
				return 2;
			}
			strcpy(psk_buf, optarg);
			psk_buf[colon - optarg] = '\0';
			set.psk_id = psk_buf;
			set.psk_key = psk_buf + (colon - optarg) + 1;
			break;
		case 'c':
			set.cert = optarg;
			break;
		case 'k':
			set.key = optarg;
			break;
		case 'C':
			set.ca = optarg;
			break;
		case 'm':
			set.hs_min = (uint32_t)num_parse(optarg, 10, 60000, "--hs-min");
			break;
		case 'M':
			set.hs_max = (uint32_t)num_parse(optarg, 10, 600000, "--hs-max");
			break;
		case 'n':
			set.count = num_parse(optarg, 1, MAX_COUNT, "--count");
			break;
		case 'd':
			set.deadline_ms = num_parse(optarg, 100, 600000, "--deadline-ms");
			break;
		case 'p':
			set.src_port = (int)num_parse(optarg, 1, 65535, "--src-port");
			break;
		case 'b':
			set.mid_base = (unsigned)num_parse(optarg, 1, 65535, "--mid-base");
			break;
		case 'u':
			if (strlen(optarg) < 1 || strlen(optarg) > MAX_PATH) {
				fprintf(stderr, "robust-client: --path wants 1-%d bytes\n",
				    MAX_PATH);
				return 2;
			}
			set.path = optarg;
			break;
		case 'H':
			set.hold_ms = num_parse(optarg, 0, 600000, "--hold-ms");
			break;
		case 'F':
			set.forge = num_parse(optarg, 0, 100000, "--forge");
			break;
		case 'N':
			set.no_close = true;
			break;
		case 'T':
			set.mtu = (int)num_parse(optarg, 64, 16384, "--mtu");
			break;
		case 'a':
			set.ack_ms = num_parse(optarg, 10, 60000, "--ack-ms");
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || set.host == NULL ||
	    (set.psk_id == NULL) == (set.cert == NULL || set.key == NULL || set.ca == NULL)) {
		usage(stderr);
		return 2;
	}
	if (tc_crypto_init() != 0) {
		fprintf(stderr, "robust-client: cannot initialise PSA crypto\n");
		return 2;
	}
	mbedtls_entropy_init(&entropy);
	mbedtls_ctr_drbg_init(&drbg);
	mbedtls_x509_crt_init(&cacert);
	mbedtls_x509_crt_init(&owncert);
	mbedtls_pk_init(&ownkey);
	if (mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy,
	        (const unsigned char *)"robust-client", 13) != 0) {
		fprintf(stderr, "robust-client: cannot seed the RNG\n");
		return 2;
	}
	conf_setup(&conf);
	for (long i = 0; i < set.count; i++) {
		if (round_run(&conf, i))
			ok++;
		else
			failed++;
	}
	printf("summary ok=%ld fail=%ld\n", ok, failed);
	mbedtls_ssl_config_free(&conf);
	mbedtls_pk_free(&ownkey);
	mbedtls_x509_crt_free(&owncert);
	mbedtls_x509_crt_free(&cacert);
	mbedtls_ctr_drbg_free(&drbg);
	mbedtls_entropy_free(&entropy);
	return failed == 0 ? 0 : 1;
}
