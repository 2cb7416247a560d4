/* dtls-probe.c: crafts raw DTLS 1.2 records (ClientHellos, floods, hostile datagrams) for tests. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* DTLS wire constants used by the probe. */
#define CT_CCS 20
#define CT_ALERT 21
#define CT_HANDSHAKE 22
#define CT_APPDATA 23
#define HS_CLIENT_HELLO 1
#define HS_SERVER_HELLO 2
#define HS_HELLO_VERIFY_REQUEST 3
#define HS_SERVER_HELLO_DONE 14
#define HS_FINISHED 20
#define DTLS12_VERSION 0xFEFD
#define REC_HDR_LEN 13
#define HS_HDR_LEN 12

#define MAX_SUITES 128
#define MAX_CURVES 32
#define MAX_COOKIE 255
#define MAX_SOCKETS 4096
#define MAX_COUNT 10000000L
#define MAX_DGRAM 65535
#define MAX_UDP4_PAYLOAD 65507
#define FLOOD_LIMIT_MS 60000
#define IDLE_MS 300

/* Exit codes. */
#define EXIT_ANSWER 0
#define EXIT_USAGE 1
#define EXIT_TIMEOUT 2

/* A bounded output buffer; writes past cap set err instead of overflowing. */
struct wbuf {
	uint8_t *p;
	size_t len;
	size_t cap;
	bool err;
};

/* What a ClientHello carries. */
struct hello_params {
	uint16_t suites[MAX_SUITES];
	size_t n_suites;
	uint16_t curves[MAX_CURVES];
	size_t n_curves;
	uint8_t random[32];
	uint8_t cookie[MAX_COOKIE];
	size_t cookie_len;
};

/* Counters and the last interesting values seen in received records. */
struct recv_stats {
	unsigned long datagrams;
	unsigned long bytes;
	unsigned long records;
	unsigned long hvr;
	unsigned long server_hellos;
	unsigned long alerts;
	unsigned long malformed;
	bool terminal;	 /* HVR, alert or ServerHelloDone seen since last reset */
	bool got_hvr;	 /* HVR seen since last reset */
	bool refused;	 /* ICMP port unreachable reported */
	uint16_t suite;	 /* suite of the last ServerHello */
	uint8_t cookie[MAX_COOKIE];
	size_t cookie_len;
};

/* How received events are reported. */
enum out_mode {
	OUT_PRINT,   /* one line per event on stdout */
	OUT_COLLECT, /* events joined into one line */
	OUT_QUIET,   /* counters only */
};

/* Destination of "recv ..." event descriptions. */
struct out {
	enum out_mode mode;
	char line[4096];
	size_t len;
};

/* Parsed command-line options (shared by all subcommands). */
struct opts {
	const char *cmd;
	const char *host;
	const char *port;
	struct hello_params hp;
	bool cookie_round;
	int src_port;
	int timeout_ms;
	bool timeout_set;
	long count;
	int sockets;
	const char *gcase;
};

/* A hostile datagram case for the garbage subcommand. */
struct gcase {
	const char *name;
	const char *what;
	void (*build)(struct wbuf *b, const struct opts *o);
};

static uint8_t rx_buf[MAX_DGRAM + 1];

/* Prints the usage text to the given stream. */
static void
usage_print(FILE *f)
{
	fputs("usage: dtls-probe hello HOST PORT [--suites LIST] [--curves LIST] [--cookie-round]\n"
	      "                  [--src-port P] [--timeout-ms N]\n"
	      "       dtls-probe flood HOST PORT --count N [--sockets K] [--suites LIST]\n"
	      "                  [--curves LIST]\n"
	      "       dtls-probe garbage HOST PORT --case NAME|all [--timeout-ms N] [--src-port P]\n"
	      "       dtls-probe garbage --case list\n"
	      "       dtls-probe -h\n"
	      "\n"
	      "hello    send one DTLS 1.2 ClientHello, print one 'recv ...' line per record\n"
	      "         received; --cookie-round answers a HelloVerifyRequest once\n"
	      "         (message_seq 1, with the cookie) and prints what follows.\n"
	      "flood    send N cookieless ClientHellos round-robin from K sockets, drain\n"
	      "         answers, wait up to 1 s for stragglers, print one summary line:\n"
	      "         sent_datagrams= sent_bytes= recv_datagrams= recv_bytes= hvr= alerts=\n"
	      "         (bounded to 60 s).\n"
	      "garbage  send one crafted hostile datagram from a fresh socket and print the\n"
	      "         answer; 'all' runs every case, 50 ms apart, one line per case.\n"
	      "\n"
	      "options:\n"
	      "  --suites LIST     cipher suites, comma-separated (default 0xC0A8)\n"
	      "  --curves LIST     supported groups, comma-separated (default 23)\n"
	      "  --cookie-round    answer one HelloVerifyRequest with its cookie\n"
	      "  --src-port P      bind the socket to source port P\n"
	      "  --timeout-ms N    wait for an answer (default 2000; garbage all: 50)\n"
	      "  --count N         ClientHellos to send (flood)\n"
	      "  --sockets K       source sockets (flood, default 64)\n"
	      "  --case NAME       garbage case, 'all' or 'list'\n"
	      "HOST is an IPv4 or IPv6 literal. Exit: 0 answer received, 2 timeout (no\n"
	      "answer in the last wait), 1 usage or socket error.\n",
	      f);
}

/* Returns monotonic time in milliseconds. */
static int64_t
clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleeps for the given number of milliseconds. */
static void
clock_sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Fills a buffer with random bytes (getrandom, with a rand() fallback). */
static void
rand_fill(uint8_t *p, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = getrandom(p + done, n - done, 0);

		if (r <= 0)
			break;
		done += (size_t)r;
	}
	for (; done < n; done++)
		p[done] = (uint8_t)rand();
}

/* Appends one byte. */
static void
wbuf_u8(struct wbuf *b, unsigned v)
{
	if (b->len + 1 > b->cap) {
		b->err = true;
		return;
	}
	b->p[b->len++] = (uint8_t)v;
}

/* Appends a 16-bit big-endian value. */
static void
wbuf_u16(struct wbuf *b, unsigned v)
{
	wbuf_u8(b, (v >> 8) & 0xff);
	wbuf_u8(b, v & 0xff);
}

/* Appends a 24-bit big-endian value. */
static void
wbuf_u24(struct wbuf *b, unsigned long v)
{
	wbuf_u8(b, (v >> 16) & 0xff);
	wbuf_u8(b, (v >> 8) & 0xff);
	wbuf_u8(b, v & 0xff);
}

/* Appends a 48-bit big-endian value. */
static void
wbuf_u48(struct wbuf *b, uint64_t v)
{
	for (int shift = 40; shift >= 0; shift -= 8)
		wbuf_u8(b, (unsigned)(v >> shift) & 0xff);
}

/* Appends n bytes. */
static void
wbuf_mem(struct wbuf *b, const void *src, size_t n)
{
	if (n > b->cap - b->len) {
		b->err = true;
		return;
	}
	if (n > 0)
		memcpy(b->p + b->len, src, n);
	b->len += n;
}

/* Appends n random bytes. */
static void
wbuf_rand(struct wbuf *b, size_t n)
{
	if (n > b->cap - b->len) {
		b->err = true;
		return;
	}
	rand_fill(b->p + b->len, n);
	b->len += n;
}

/* Overwrites a 16-bit value at off (already written). */
static void
wbuf_set_u16(struct wbuf *b, size_t off, unsigned v)
{
	if (off + 2 > b->len) {
		b->err = true;
		return;
	}
	b->p[off] = (uint8_t)(v >> 8);
	b->p[off + 1] = (uint8_t)v;
}

/* Overwrites a 24-bit value at off (already written). */
static void
wbuf_set_u24(struct wbuf *b, size_t off, unsigned long v)
{
	if (off + 3 > b->len) {
		b->err = true;
		return;
	}
	b->p[off] = (uint8_t)(v >> 16);
	b->p[off + 1] = (uint8_t)(v >> 8);
	b->p[off + 2] = (uint8_t)v;
}

/* Writes a record header with a zero length; returns the offset of the length field. */
static size_t
rec_begin(struct wbuf *b, unsigned type, unsigned version, unsigned epoch, uint64_t seq)
{
	wbuf_u8(b, type);
	wbuf_u16(b, version);
	wbuf_u16(b, epoch);
	wbuf_u48(b, seq);
	wbuf_u16(b, 0);
	return b->len - 2;
}

/* Sets the record length field to the bytes written since rec_begin(). */
static void
rec_end(struct wbuf *b, size_t len_off)
{
	wbuf_set_u16(b, len_off, (unsigned)(b->len - len_off - 2));
}

/* Writes an unfragmented handshake header with zero lengths; returns its offset. */
static size_t
hs_begin(struct wbuf *b, unsigned type, unsigned msg_seq)
{
	size_t off = b->len;

	wbuf_u8(b, type);
	wbuf_u24(b, 0);
	wbuf_u16(b, msg_seq);
	wbuf_u24(b, 0);
	wbuf_u24(b, 0);
	return off;
}

/* Sets message and fragment length of the handshake header at off to the body written. */
static void
hs_end(struct wbuf *b, size_t off)
{
	unsigned long body = b->len - off - HS_HDR_LEN;

	wbuf_set_u24(b, off + 1, body);
	wbuf_set_u24(b, off + 9, body);
}

/* Writes a ClientHello body (no handshake header). */
static void
hello_body_write(struct wbuf *b, const struct hello_params *hp)
{
	size_t ext_off, i;

	wbuf_u16(b, DTLS12_VERSION);
	wbuf_mem(b, hp->random, sizeof(hp->random));
	wbuf_u8(b, 0); /* session id */
	wbuf_u8(b, (unsigned)hp->cookie_len);
	wbuf_mem(b, hp->cookie, hp->cookie_len);
	wbuf_u16(b, (unsigned)(hp->n_suites * 2));
	for (i = 0; i < hp->n_suites; i++)
		wbuf_u16(b, hp->suites[i]);
	wbuf_u8(b, 1); /* compression methods: null */
	wbuf_u8(b, 0);
	ext_off = b->len;
	wbuf_u16(b, 0);
	/* supported_groups */
	wbuf_u16(b, 0x000a);
	wbuf_u16(b, (unsigned)(2 + hp->n_curves * 2));
	wbuf_u16(b, (unsigned)(hp->n_curves * 2));
	for (i = 0; i < hp->n_curves; i++)
		wbuf_u16(b, hp->curves[i]);
	/* ec_point_formats: uncompressed */
	wbuf_u16(b, 0x000b);
	wbuf_u16(b, 2);
	wbuf_u8(b, 1);
	wbuf_u8(b, 0);
	/* signature_algorithms: ecdsa_secp256r1_sha256 */
	wbuf_u16(b, 0x000d);
	wbuf_u16(b, 4);
	wbuf_u16(b, 2);
	wbuf_u16(b, 0x0403);
	wbuf_set_u16(b, ext_off, (unsigned)(b->len - ext_off - 2));
}

/* Writes a complete ClientHello record (one record, one unfragmented message). */
static void
hello_record_write(struct wbuf *b, const struct hello_params *hp, unsigned msg_seq,
		   uint64_t rec_seq)
{
	size_t len_off = rec_begin(b, CT_HANDSHAKE, DTLS12_VERSION, 0, rec_seq);
	size_t hs_off = hs_begin(b, HS_CLIENT_HELLO, msg_seq);

	hello_body_write(b, hp);
	hs_end(b, hs_off);
	rec_end(b, len_off);
}

/* Records one "recv ..." event in the chosen output mode. */
__attribute__((format(printf, 2, 3))) static void
out_emit(struct out *o, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	switch (o->mode) {
	case OUT_PRINT:
		printf("recv %s\n", tmp);
		break;
	case OUT_COLLECT:
		if (o->len < sizeof(o->line)) {
			n = snprintf(o->line + o->len, sizeof(o->line) - o->len, "%srecv %s",
				     o->len > 0 ? "; " : "", tmp);
			if (n > 0)
				o->len += (size_t)n;
			if (o->len >= sizeof(o->line))
				o->len = sizeof(o->line) - 1;
		}
		break;
	case OUT_QUIET:
		break;
	}
}

/* Returns the RFC 5246/8446 name of an alert description. */
static const char *
alert_name(unsigned desc)
{
	switch (desc) {
	case 0: return "close_notify";
	case 10: return "unexpected_message";
	case 20: return "bad_record_mac";
	case 21: return "decryption_failed";
	case 22: return "record_overflow";
	case 30: return "decompression_failure";
	case 40: return "handshake_failure";
	case 41: return "no_certificate";
	case 42: return "bad_certificate";
	case 43: return "unsupported_certificate";
	case 44: return "certificate_revoked";
	case 45: return "certificate_expired";
	case 46: return "certificate_unknown";
	case 47: return "illegal_parameter";
	case 48: return "unknown_ca";
	case 49: return "access_denied";
	case 50: return "decode_error";
	case 51: return "decrypt_error";
	case 70: return "protocol_version";
	case 71: return "insufficient_security";
	case 80: return "internal_error";
	case 86: return "inappropriate_fallback";
	case 90: return "user_canceled";
	case 100: return "no_renegotiation";
	case 109: return "missing_extension";
	case 110: return "unsupported_extension";
	case 112: return "unrecognized_name";
	case 115: return "unknown_psk_identity";
	case 120: return "no_application_protocol";
	default: return "unknown";
	}
}

/* Returns the name of a handshake message type. */
static const char *
hs_name(unsigned type)
{
	switch (type) {
	case 0: return "hello_request";
	case 1: return "client_hello";
	case 2: return "server_hello";
	case 3: return "hello_verify_request";
	case 4: return "new_session_ticket";
	case 11: return "certificate";
	case 12: return "server_key_exchange";
	case 13: return "certificate_request";
	case 14: return "server_hello_done";
	case 15: return "certificate_verify";
	case 16: return "client_key_exchange";
	case 20: return "finished";
	default: return "unknown";
	}
}

/* Reads a big-endian integer of n bytes (n <= 8) from p. */
static uint64_t
be_get(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

/* Reports a HelloVerifyRequest body and keeps its cookie. */
static void
parse_hvr(const uint8_t *body, size_t len, struct recv_stats *st, struct out *o)
{
	size_t clen;

	if (len < 3 || (clen = body[2]) > len - 3) {
		st->malformed++;
		out_emit(o, "hello-verify-request malformed len=%zu", len);
		return;
	}
	st->hvr++;
	st->got_hvr = true;
	st->terminal = true;
	memcpy(st->cookie, body + 3, clen);
	st->cookie_len = clen;
	out_emit(o, "hello-verify-request cookie_len=%zu", clen);
}

/* Reports a ServerHello body (version, session id, suite). */
static void
parse_server_hello(const uint8_t *body, size_t len, struct recv_stats *st, struct out *o)
{
	size_t sid_len;
	unsigned suite;

	/* version(2) random(32) sid_len(1) sid suite(2) compression(1) */
	if (len < 35 || (sid_len = body[34]) > len - 35 || len - 35 - sid_len < 3) {
		st->malformed++;
		out_emit(o, "server-hello malformed len=%zu", len);
		return;
	}
	suite = (unsigned)be_get(body + 35 + sid_len, 2);
	st->server_hellos++;
	st->suite = (uint16_t)suite;
	out_emit(o, "server-hello suite=0x%04X version=0x%04X", suite, (unsigned)be_get(body, 2));
}

/* Reports every handshake message inside one plaintext handshake record. */
static void
parse_handshake(const uint8_t *p, size_t len, struct recv_stats *st, struct out *o)
{
	for (int guard = 0; len > 0 && guard < 256; guard++) {
		unsigned type, msg_seq;
		size_t msg_len, frag_off, frag_len;

		if (len < HS_HDR_LEN) {
			st->malformed++;
			out_emit(o, "handshake malformed header_len=%zu", len);
			return;
		}
		type = p[0];
		msg_len = (size_t)be_get(p + 1, 3);
		msg_seq = (unsigned)be_get(p + 4, 2);
		frag_off = (size_t)be_get(p + 6, 3);
		frag_len = (size_t)be_get(p + 9, 3);
		if (frag_len > len - HS_HDR_LEN) {
			st->malformed++;
			out_emit(o, "handshake type=%u malformed frag_len=%zu left=%zu", type,
				 frag_len, len - HS_HDR_LEN);
			return;
		}
		if (frag_off != 0 || frag_len != msg_len) {
			out_emit(o, "handshake type=%u (%s) fragment seq=%u off=%zu len=%zu total=%zu",
				 type, hs_name(type), msg_seq, frag_off, frag_len, msg_len);
		} else if (type == HS_HELLO_VERIFY_REQUEST) {
			parse_hvr(p + HS_HDR_LEN, frag_len, st, o);
		} else if (type == HS_SERVER_HELLO) {
			parse_server_hello(p + HS_HDR_LEN, frag_len, st, o);
		} else {
			if (type == HS_SERVER_HELLO_DONE)
				st->terminal = true;
			out_emit(o, "handshake type=%u (%s) len=%zu", type, hs_name(type), msg_len);
		}
		p += HS_HDR_LEN + frag_len;
		len -= HS_HDR_LEN + frag_len;
	}
}

/* Reports every record in one received datagram, bounds-checking each field. */
static void
parse_datagram(const uint8_t *d, size_t n, struct recv_stats *st, struct out *o)
{
	st->datagrams++;
	st->bytes += n;
	if (n < REC_HDR_LEN) {
		st->malformed++;
		out_emit(o, "malformed datagram len=%zu", n);
		return;
	}
	while (n > 0) {
		unsigned type, version, epoch;
		size_t len;
		const uint8_t *body;

		if (n < REC_HDR_LEN) {
			st->malformed++;
			out_emit(o, "malformed trailing bytes=%zu", n);
			return;
		}
		type = d[0];
		version = (unsigned)be_get(d + 1, 2);
		epoch = (unsigned)be_get(d + 3, 2);
		len = (size_t)be_get(d + 11, 2);
		if (len > n - REC_HDR_LEN) {
			st->malformed++;
			out_emit(o, "malformed record type=%u len=%zu left=%zu", type, len,
				 n - REC_HDR_LEN);
			return;
		}
		body = d + REC_HDR_LEN;
		st->records++;
		if (epoch != 0) {
			if (type == CT_ALERT) {
				st->alerts++;
				st->terminal = true;
			}
			out_emit(o, "encrypted type=%u epoch=%u len=%zu", type, epoch, len);
		} else if (type == CT_ALERT) {
			st->alerts++;
			st->terminal = true;
			if (len >= 2)
				out_emit(o, "alert level=%u desc=%u (%s)", body[0], body[1],
					 alert_name(body[1]));
			else
				out_emit(o, "alert malformed len=%zu", len);
		} else if (type == CT_HANDSHAKE) {
			parse_handshake(body, len, st, o);
		} else if (type == CT_CCS) {
			out_emit(o, "change-cipher-spec len=%zu", len);
		} else if (type == CT_APPDATA) {
			out_emit(o, "application-data epoch=0 len=%zu", len);
		} else {
			out_emit(o, "record type=%u version=0x%04X len=%zu", type, version, len);
		}
		d += REC_HDR_LEN + len;
		n -= REC_HDR_LEN + len;
	}
}

/* Resolves a numeric host and port into addr; returns 0 or -1. */
static int
addr_resolve(const char *host, const char *port, struct sockaddr_storage *addr,
	     socklen_t *addr_len)
{
	struct addrinfo hints, *res = NULL;
	char h[INET6_ADDRSTRLEN + 2];
	size_t hl = strlen(host);
	int rc;

	/* Accept "[::1]" as well as "::1". */
	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']' && hl - 2 < sizeof(h)) {
		memcpy(h, host + 1, hl - 2);
		h[hl - 2] = '\0';
		host = h;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0 || res == NULL) {
		fprintf(stderr, "dtls-probe: bad address %s port %s: %s\n", host, port,
			rc != 0 ? gai_strerror(rc) : "no result");
		return -1;
	}
	if (res->ai_addrlen > sizeof(*addr)) {
		freeaddrinfo(res);
		return -1;
	}
	memcpy(addr, res->ai_addr, res->ai_addrlen);
	*addr_len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/* Opens a non-blocking UDP socket connected to addr, bound to src_port if non-zero. */
static int
sock_open(const struct sockaddr_storage *addr, socklen_t addr_len, int src_port)
{
	int fd = socket(addr->ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int sndbuf = 256 * 1024;

	if (fd == -1) {
		fprintf(stderr, "dtls-probe: socket: %s\n", strerror(errno));
		return -1;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	if (src_port > 0) {
		struct sockaddr_storage local;
		socklen_t local_len;

		memset(&local, 0, sizeof(local));
		if (addr->ss_family == AF_INET6) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&local;

			s6->sin6_family = AF_INET6;
			s6->sin6_addr = in6addr_any;
			s6->sin6_port = htons((uint16_t)src_port);
			local_len = sizeof(*s6);
		} else {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&local;

			s4->sin_family = AF_INET;
			s4->sin_addr.s_addr = htonl(INADDR_ANY);
			s4->sin_port = htons((uint16_t)src_port);
			local_len = sizeof(*s4);
		}
		if (bind(fd, (struct sockaddr *)&local, local_len) == -1) {
			fprintf(stderr, "dtls-probe: bind port %d: %s\n", src_port,
				strerror(errno));
			close(fd);
			return -1;
		}
	}
	if (connect(fd, (const struct sockaddr *)addr, addr_len) == -1) {
		fprintf(stderr, "dtls-probe: connect: %s\n", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Sends one datagram, waiting briefly for buffer space; returns 0, or -1 with errno set. */
static int
sock_send(int fd, const uint8_t *p, size_t n)
{
	for (int tries = 0; tries < 100; tries++) {
		if (send(fd, p, n, 0) == (ssize_t)n)
			return 0;
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };

			(void)poll(&pfd, 1, 10);
			continue;
		}
		if (errno == EINTR || errno == ECONNREFUSED)
			continue; /* ECONNREFUSED: a stale ICMP error, consumed now */
		return -1;
	}
	errno = EAGAIN;
	return -1;
}

/* Reads every datagram queued on fd without blocking; returns how many were read. */
static unsigned
sock_drain(int fd, struct recv_stats *st, struct out *o)
{
	unsigned got = 0;

	for (int i = 0; i < 4096; i++) {
		ssize_t r = recv(fd, rx_buf, sizeof(rx_buf), MSG_DONTWAIT);

		if (r < 0) {
			if (errno == ECONNREFUSED) {
				if (!st->refused)
					out_emit(o, "refused (ICMP port unreachable)");
				st->refused = true;
				st->terminal = true;
				continue;
			}
			break;
		}
		parse_datagram(rx_buf, (size_t)r, st, o);
		got++;
	}
	return got;
}

/* Waits for answers on fd until a terminal event, timeout_ms, or IDLE_MS of silence
 * after the first answer; returns the number of datagrams received. */
static unsigned long
recv_phase(int fd, int timeout_ms, struct recv_stats *st, struct out *o)
{
	int64_t deadline = clock_ms() + timeout_ms;
	unsigned long got = 0;

	st->terminal = false;
	st->got_hvr = false;
	st->refused = false;
	for (int guard = 0; guard < 100000; guard++) {
		int64_t now = clock_ms();
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int wait;

		if (now >= deadline)
			break;
		wait = (int)(deadline - now);
		if (poll(&pfd, 1, wait) < 0 && errno != EINTR)
			break;
		if (pfd.revents != 0) {
			unsigned n = sock_drain(fd, st, o);

			got += n;
			if (st->terminal)
				break;
			if (n > 0 && clock_ms() + IDLE_MS < deadline)
				deadline = clock_ms() + IDLE_MS;
		}
	}
	if (got == 0 && !st->refused)
		out_emit(o, "timeout");
	return got;
}

/* Parses a comma-separated list of 16-bit numbers; returns the count or -1. */
static int
list_parse(const char *s, uint16_t *out, size_t max)
{
	size_t n = 0;

	if (*s == '\0')
		return 0;
	for (;;) {
		char *end;
		unsigned long v;

		errno = 0;
		v = strtoul(s, &end, 0);
		if (errno != 0 || end == s || v > 0xffff || n >= max)
			return -1;
		out[n++] = (uint16_t)v;
		if (*end == '\0')
			return (int)n;
		if (*end != ',')
			return -1;
		s = end + 1;
	}
}

/* Parses a decimal integer within [lo, hi]; returns 0 or -1. */
static int
num_parse(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

/* Sends one ClientHello (and optionally one cookie round) and prints the answers. */
static int
probe_hello(const struct opts *o, const struct sockaddr_storage *addr, socklen_t addr_len)
{
	struct hello_params hp = o->hp;
	struct recv_stats st;
	struct out out = { .mode = OUT_PRINT };
	uint8_t buf[2048];
	struct wbuf b = { .p = buf, .cap = sizeof(buf) };
	unsigned long got;
	int fd;

	memset(&st, 0, sizeof(st));
	fd = sock_open(addr, addr_len, o->src_port);
	if (fd == -1)
		return EXIT_USAGE;
	rand_fill(hp.random, sizeof(hp.random));
	hp.cookie_len = 0;
	hello_record_write(&b, &hp, 0, 0);
	if (b.err || sock_send(fd, b.p, b.len) == -1) {
		fprintf(stderr, "dtls-probe: send: %s\n", b.err ? "message too long" : strerror(errno));
		close(fd);
		return EXIT_USAGE;
	}
	printf("sent client-hello bytes=%zu suites=%zu message_seq=0\n", b.len, hp.n_suites);
	got = recv_phase(fd, o->timeout_ms, &st, &out);
	if (o->cookie_round && st.got_hvr) {
		memcpy(hp.cookie, st.cookie, st.cookie_len);
		hp.cookie_len = st.cookie_len;
		b.len = 0;
		hello_record_write(&b, &hp, 1, 1);
		if (b.err || sock_send(fd, b.p, b.len) == -1) {
			fprintf(stderr, "dtls-probe: send: %s\n",
				b.err ? "message too long" : strerror(errno));
			close(fd);
			return EXIT_USAGE;
		}
		printf("sent client-hello bytes=%zu cookie_len=%zu message_seq=1\n", b.len,
		       hp.cookie_len);
		got = recv_phase(fd, o->timeout_ms, &st, &out);
	}
	close(fd);
	return got > 0 ? EXIT_ANSWER : EXIT_TIMEOUT;
}

/* Sends N cookieless ClientHellos from K sockets and prints one summary line. */
static int
probe_flood(const struct opts *o, const struct sockaddr_storage *addr, socklen_t addr_len)
{
	struct hello_params hp = o->hp;
	struct recv_stats st;
	struct out out = { .mode = OUT_QUIET };
	uint8_t buf[2048];
	struct wbuf b = { .p = buf, .cap = sizeof(buf) };
	unsigned long long sent_bytes = 0;
	long sent = 0, send_errors = 0, i;
	int64_t start = clock_ms(), end;
	struct pollfd *pfds;
	int k = o->sockets, j, rc = EXIT_ANSWER;

	if (o->count < k)
		k = (int)(o->count > 0 ? o->count : 1);
	pfds = calloc((size_t)k, sizeof(*pfds));
	if (pfds == NULL) {
		fprintf(stderr, "dtls-probe: out of memory\n");
		return EXIT_USAGE;
	}
	memset(&st, 0, sizeof(st));
	for (j = 0; j < k; j++) {
		pfds[j].fd = sock_open(addr, addr_len, 0);
		pfds[j].events = POLLIN;
		if (pfds[j].fd == -1) {
			rc = EXIT_USAGE;
			k = j;
			goto out;
		}
	}
	hp.cookie_len = 0;
	for (i = 0; i < o->count; i++) {
		int fd = pfds[i % k].fd;

		if (clock_ms() - start > FLOOD_LIMIT_MS - 1000) {
			fprintf(stderr, "dtls-probe: flood time limit reached after %ld\n", i);
			break;
		}
		rand_fill(hp.random, sizeof(hp.random));
		b.len = 0;
		b.err = false;
		hello_record_write(&b, &hp, 0, 0);
		if (b.err) {
			fprintf(stderr, "dtls-probe: ClientHello too long\n");
			rc = EXIT_USAGE;
			goto out;
		}
		if (sock_send(fd, b.p, b.len) == 0) {
			sent++;
			sent_bytes += b.len;
		} else {
			send_errors++;
		}
		if ((i + 1) % 16 == 0 || (i + 1) % k == 0)
			for (j = 0; j < k; j++)
				sock_drain(pfds[j].fd, &st, &out);
	}
	/* Stragglers: up to 1 s (never past the overall limit). */
	end = clock_ms() + 1000;
	if (end > start + FLOOD_LIMIT_MS)
		end = start + FLOOD_LIMIT_MS;
	for (int guard = 0; guard < 100000; guard++) {
		int64_t now = clock_ms();
		int n;

		if (now >= end)
			break;
		n = poll(pfds, (nfds_t)k, (int)(end - now));
		if (n < 0 && errno != EINTR)
			break;
		for (j = 0; n > 0 && j < k; j++)
			if (pfds[j].revents != 0)
				sock_drain(pfds[j].fd, &st, &out);
	}
	printf("sent_datagrams=%ld sent_bytes=%llu recv_datagrams=%lu recv_bytes=%lu hvr=%lu "
	       "alerts=%lu server_hellos=%lu send_errors=%ld malformed=%lu sockets=%d "
	       "elapsed_ms=%" PRId64 "\n",
	       sent, sent_bytes, st.datagrams, st.bytes, st.hvr, st.alerts, st.server_hellos,
	       send_errors, st.malformed, k, clock_ms() - start);
	rc = st.datagrams > 0 ? EXIT_ANSWER : EXIT_TIMEOUT;
out:
	for (j = 0; j < k; j++)
		close(pfds[j].fd);
	free(pfds);
	return rc;
}

/* Fills hp with a default ClientHello for the garbage cases. */
static void
gcase_hello(struct hello_params *hp, const struct opts *o)
{
	*hp = o->hp;
	hp->cookie_len = 0;
	rand_fill(hp->random, sizeof(hp->random));
}

/* Case empty: a zero-byte datagram. */
static void
gcase_empty(struct wbuf *b, const struct opts *o)
{
	(void)b;
	(void)o;
}

/* Case short: 5 bytes, the start of a record header. */
static void
gcase_short(struct wbuf *b, const struct opts *o)
{
	(void)o;
	wbuf_u8(b, CT_HANDSHAKE);
	wbuf_u16(b, DTLS12_VERSION);
	wbuf_u16(b, 0);
}

/* Case bad-version: a valid ClientHello in a record with version 0x0301. */
static void
gcase_bad_version(struct wbuf *b, const struct opts *o)
{
	struct hello_params hp;
	size_t len_off, hs_off;

	gcase_hello(&hp, o);
	len_off = rec_begin(b, CT_HANDSHAKE, 0x0301, 0, 0);
	hs_off = hs_begin(b, HS_CLIENT_HELLO, 0);
	hello_body_write(b, &hp);
	hs_end(b, hs_off);
	rec_end(b, len_off);
}

/* Case epoch1-appdata: 40 random bytes of application data in epoch 1. */
static void
gcase_epoch1_appdata(struct wbuf *b, const struct opts *o)
{
	size_t len_off = rec_begin(b, CT_APPDATA, DTLS12_VERSION, 1, 1);

	(void)o;
	wbuf_rand(b, 40);
	rec_end(b, len_off);
}

/* Case ccs-epoch0: a ChangeCipherSpec before any handshake. */
static void
gcase_ccs_epoch0(struct wbuf *b, const struct opts *o)
{
	size_t len_off = rec_begin(b, CT_CCS, DTLS12_VERSION, 0, 0);

	(void)o;
	wbuf_u8(b, 1);
	rec_end(b, len_off);
}

/* Case finished-epoch0: a plaintext Finished message (12 random verify_data bytes). */
static void
gcase_finished_epoch0(struct wbuf *b, const struct opts *o)
{
	size_t len_off = rec_begin(b, CT_HANDSHAKE, DTLS12_VERSION, 0, 0);
	size_t hs_off = hs_begin(b, HS_FINISHED, 0);

	(void)o;
	wbuf_rand(b, 12);
	hs_end(b, hs_off);
	rec_end(b, len_off);
}

/* Case appdata-epoch0: plaintext application data in epoch 0. */
static void
gcase_appdata_epoch0(struct wbuf *b, const struct opts *o)
{
	size_t len_off = rec_begin(b, CT_APPDATA, DTLS12_VERSION, 0, 0);

	(void)o;
	wbuf_rand(b, 20);
	rec_end(b, len_off);
}

/* Case record-len-overflow: a ClientHello whose record length exceeds the datagram. */
static void
gcase_record_len_overflow(struct wbuf *b, const struct opts *o)
{
	struct hello_params hp;
	size_t len_off;

	gcase_hello(&hp, o);
	hello_record_write(b, &hp, 0, 0);
	len_off = 11;
	wbuf_set_u16(b, len_off, (unsigned)(b->len - REC_HDR_LEN + 100));
}

/* Case record-len-truncated: handshake and fragment lengths larger than the record. */
static void
gcase_record_len_truncated(struct wbuf *b, const struct opts *o)
{
	struct hello_params hp;
	size_t hs_off = REC_HDR_LEN;
	unsigned long body;

	gcase_hello(&hp, o);
	hello_record_write(b, &hp, 0, 0);
	body = b->len - REC_HDR_LEN - HS_HDR_LEN;
	wbuf_set_u24(b, hs_off + 1, body + 200);
	wbuf_set_u24(b, hs_off + 9, body + 200);
}

/* Writes one ClientHello fragment record of body[off, off+len) claiming total length. */
static void
frag_record_write(struct wbuf *b, const uint8_t *body, size_t total, size_t off, size_t len,
		  uint64_t rec_seq)
{
	size_t len_off = rec_begin(b, CT_HANDSHAKE, DTLS12_VERSION, 0, rec_seq);

	wbuf_u8(b, HS_CLIENT_HELLO);
	wbuf_u24(b, total);
	wbuf_u16(b, 0);
	wbuf_u24(b, off);
	wbuf_u24(b, len);
	if (off <= total && len <= total - off)
		wbuf_mem(b, body + off, len);
	else
		wbuf_rand(b, len);
	rec_end(b, len_off);
}

/* Builds a ClientHello body into tmp; returns its length. */
static size_t
gcase_body(uint8_t *tmp, size_t cap, const struct opts *o)
{
	struct hello_params hp;
	struct wbuf t = { .p = tmp, .cap = cap };

	gcase_hello(&hp, o);
	hello_body_write(&t, &hp);
	return t.err ? 0 : t.len;
}

/* Case hs-frag-overlap: two ClientHello fragments (0..60% and 40%..end) in one datagram. */
static void
gcase_hs_frag_overlap(struct wbuf *b, const struct opts *o)
{
	uint8_t tmp[1024];
	size_t n = gcase_body(tmp, sizeof(tmp), o);
	size_t a = n * 6 / 10, c = n * 4 / 10;

	frag_record_write(b, tmp, n, 0, a, 0);
	frag_record_write(b, tmp, n, c, n - c, 1);
}

/* Case hs-frag-exceed: a fragment whose offset + length exceeds the message length. */
static void
gcase_hs_frag_exceed(struct wbuf *b, const struct opts *o)
{
	uint8_t tmp[1024];
	size_t n = gcase_body(tmp, sizeof(tmp), o);

	frag_record_write(b, tmp, n, 10, n, 0);
}

/* Case cookie-len-past-end: the cookie length byte points past the end of the message. */
static void
gcase_cookie_len_past_end(struct wbuf *b, const struct opts *o)
{
	size_t len_off = rec_begin(b, CT_HANDSHAKE, DTLS12_VERSION, 0, 0);
	size_t hs_off = hs_begin(b, HS_CLIENT_HELLO, 0);

	(void)o;
	wbuf_u16(b, DTLS12_VERSION);
	wbuf_rand(b, 32);
	wbuf_u8(b, 0);	 /* session id */
	wbuf_u8(b, 255); /* cookie length, but only 4 bytes follow */
	wbuf_rand(b, 4);
	hs_end(b, hs_off);
	rec_end(b, len_off);
}

/* Case suites-len-odd: a ClientHello with a 3-byte cipher suite list. */
static void
gcase_suites_len_odd(struct wbuf *b, const struct opts *o)
{
	size_t len_off = rec_begin(b, CT_HANDSHAKE, DTLS12_VERSION, 0, 0);
	size_t hs_off = hs_begin(b, HS_CLIENT_HELLO, 0);

	(void)o;
	wbuf_u16(b, DTLS12_VERSION);
	wbuf_rand(b, 32);
	wbuf_u8(b, 0);
	wbuf_u8(b, 0);
	wbuf_u16(b, 3);
	wbuf_u16(b, 0xC0A8);
	wbuf_u8(b, 0xC0);
	wbuf_u8(b, 1);
	wbuf_u8(b, 0);
	wbuf_u16(b, 0);
	hs_end(b, hs_off);
	rec_end(b, len_off);
}

/* Case ext-len-past-end: the extensions block length claims 50 bytes more than present. */
static void
gcase_ext_len_past_end(struct wbuf *b, const struct opts *o)
{
	uint8_t tmp[1024];
	size_t n = gcase_body(tmp, sizeof(tmp), o);
	size_t len_off, hs_off, ext_off;

	/* Extensions start after version, random, sid, cookie, suites and compression. */
	ext_off = 2 + 32 + 1 + 1 + 2 + o->hp.n_suites * 2 + 2;
	if (n >= ext_off + 2) {
		unsigned ext_len = (unsigned)be_get(tmp + ext_off, 2) + 50;

		tmp[ext_off] = (uint8_t)(ext_len >> 8);
		tmp[ext_off + 1] = (uint8_t)ext_len;
	}
	len_off = rec_begin(b, CT_HANDSHAKE, DTLS12_VERSION, 0, 0);
	hs_off = hs_begin(b, HS_CLIENT_HELLO, 0);
	wbuf_mem(b, tmp, n);
	hs_end(b, hs_off);
	rec_end(b, len_off);
}

/* Case many-records: 50 one-byte handshake records in one datagram. */
static void
gcase_many_records(struct wbuf *b, const struct opts *o)
{
	(void)o;
	for (unsigned i = 0; i < 50; i++) {
		size_t len_off = rec_begin(b, CT_HANDSHAKE, DTLS12_VERSION, 0, i);

		wbuf_u8(b, HS_CLIENT_HELLO);
		rec_end(b, len_off);
	}
}

/* Case zero-random-junk: 1200 bytes of 0x00. */
static void
gcase_zero_junk(struct wbuf *b, const struct opts *o)
{
	(void)o;
	if (b->cap - b->len < 1200) {
		b->err = true;
		return;
	}
	memset(b->p + b->len, 0, 1200);
	b->len += 1200;
}

/* Case max-datagram: 65507 bytes, a ClientHello-like header followed by random bytes. */
static void
gcase_max_datagram(struct wbuf *b, const struct opts *o)
{
	size_t total = MAX_UDP4_PAYLOAD;
	size_t len_off, hs_off;

	(void)o;
	len_off = rec_begin(b, CT_HANDSHAKE, DTLS12_VERSION, 0, 0);
	hs_off = hs_begin(b, HS_CLIENT_HELLO, 0);
	wbuf_u16(b, DTLS12_VERSION);
	if (total > b->len && total - b->len <= b->cap - b->len)
		wbuf_rand(b, total - b->len);
	else
		b->err = true;
	hs_end(b, hs_off);
	rec_end(b, len_off);
}

static const struct gcase gcases[] = {
	{ "empty", "0-byte datagram", gcase_empty },
	{ "short", "5 bytes: a truncated record header", gcase_short },
	{ "bad-version", "ClientHello in a record with version 0x0301", gcase_bad_version },
	{ "epoch1-appdata", "application data, epoch 1, 40 random bytes", gcase_epoch1_appdata },
	{ "ccs-epoch0", "ChangeCipherSpec before any handshake", gcase_ccs_epoch0 },
	{ "finished-epoch0", "plaintext Finished (handshake type 20) in epoch 0",
	  gcase_finished_epoch0 },
	{ "appdata-epoch0", "plaintext application data in epoch 0", gcase_appdata_epoch0 },
	{ "record-len-overflow", "record length 100 bytes past the datagram end",
	  gcase_record_len_overflow },
	{ "record-len-truncated", "handshake length 200 bytes past the record end",
	  gcase_record_len_truncated },
	{ "hs-frag-overlap", "two overlapping ClientHello fragments", gcase_hs_frag_overlap },
	{ "hs-frag-exceed", "fragment offset + length > message length", gcase_hs_frag_exceed },
	{ "cookie-len-past-end", "ClientHello cookie length 255 with 4 bytes left",
	  gcase_cookie_len_past_end },
	{ "suites-len-odd", "ClientHello with a 3-byte cipher suite list", gcase_suites_len_odd },
	{ "ext-len-past-end", "extensions length 50 bytes past the message end",
	  gcase_ext_len_past_end },
	{ "many-records", "50 one-byte records in one datagram", gcase_many_records },
	{ "zero-random-junk", "1200 bytes of 0x00", gcase_zero_junk },
	{ "max-datagram", "65507 bytes behind a valid-looking record header",
	  gcase_max_datagram },
};

#define N_GCASES (sizeof(gcases) / sizeof(gcases[0]))

/* Sends one garbage case from a fresh socket and reports the answer; returns an exit code. */
static int
gcase_run(const struct gcase *gc, const struct opts *o, const struct sockaddr_storage *addr,
	  socklen_t addr_len, enum out_mode mode, int timeout_ms)
{
	static uint8_t buf[MAX_DGRAM];
	struct wbuf b = { .p = buf, .cap = sizeof(buf) };
	struct out out = { .mode = mode };
	struct recv_stats st;
	unsigned long got;
	int fd;

	memset(&st, 0, sizeof(st));
	gc->build(&b, o);
	if (b.err) {
		fprintf(stderr, "dtls-probe: case %s: datagram too long\n", gc->name);
		return EXIT_USAGE;
	}
	fd = sock_open(addr, addr_len, o->src_port);
	if (fd == -1)
		return EXIT_USAGE;
	if (sock_send(fd, b.p, b.len) == -1) {
		printf("case %s sent=0 send-error: %s\n", gc->name, strerror(errno));
		close(fd);
		return EXIT_USAGE;
	}
	if (mode == OUT_PRINT)
		printf("case %s sent=%zu\n", gc->name, b.len);
	got = recv_phase(fd, timeout_ms, &st, &out);
	if (mode == OUT_COLLECT)
		printf("case %s sent=%zu: %s\n", gc->name, b.len, out.line);
	close(fd);
	return got > 0 ? EXIT_ANSWER : EXIT_TIMEOUT;
}

/* Runs the garbage subcommand: one case, all cases, or the list. */
static int
probe_garbage(const struct opts *o, const struct sockaddr_storage *addr, socklen_t addr_len)
{
	size_t i;

	if (strcmp(o->gcase, "all") == 0) {
		int timeout = o->timeout_set ? o->timeout_ms : 50;
		int rc = EXIT_ANSWER;

		if (o->src_port > 0) {
			fprintf(stderr, "dtls-probe: --case all uses a fresh port per case; "
					"--src-port not allowed\n");
			return EXIT_USAGE;
		}
		for (i = 0; i < N_GCASES; i++) {
			if (i > 0)
				clock_sleep_ms(50);
			if (gcase_run(&gcases[i], o, addr, addr_len, OUT_COLLECT, timeout) ==
			    EXIT_USAGE)
				rc = EXIT_USAGE;
		}
		return rc;
	}
	for (i = 0; i < N_GCASES; i++)
		if (strcmp(o->gcase, gcases[i].name) == 0)
			return gcase_run(&gcases[i], o, addr, addr_len, OUT_PRINT, o->timeout_ms);
	fprintf(stderr, "dtls-probe: unknown case '%s' (try --case list)\n", o->gcase);
	return EXIT_USAGE;
}

/* Prints the garbage case names and what each sends. */
static void
gcase_list(void)
{
	for (size_t i = 0; i < N_GCASES; i++)
		printf("%-22s %s\n", gcases[i].name, gcases[i].what);
	printf("%-22s %s\n", "all", "every case above, 50 ms apart, one line per case");
}

/* Reports a usage error and returns the usage exit code. */
static int
usage_error(const char *msg, const char *arg)
{
	fprintf(stderr, "dtls-probe: %s%s%s\n", msg, arg != NULL ? ": " : "",
		arg != NULL ? arg : "");
	fprintf(stderr, "try 'dtls-probe -h'\n");
	return EXIT_USAGE;
}

/* Parses argv into o; returns -1 on success or an exit code to stop with. */
static int
opts_parse(int argc, char **argv, struct opts *o)
{
	const char *pos[3] = { NULL, NULL, NULL };
	int n_pos = 0, n;
	long v;

	memset(o, 0, sizeof(*o));
	o->hp.suites[0] = 0xC0A8;
	o->hp.n_suites = 1;
	o->hp.curves[0] = 23;
	o->hp.n_curves = 1;
	o->timeout_ms = 2000;
	o->sockets = 64;
	o->count = -1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = NULL;
		const char *eq;
		char name[32];

		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage_print(stdout);
			return EXIT_ANSWER;
		}
		if (strncmp(a, "--", 2) != 0) {
			if (n_pos >= 3)
				return usage_error("too many arguments", a);
			pos[n_pos++] = a;
			continue;
		}
		eq = strchr(a, '=');
		if (eq != NULL) {
			if ((size_t)(eq - a) >= sizeof(name))
				return usage_error("unknown option", a);
			memcpy(name, a, (size_t)(eq - a));
			name[eq - a] = '\0';
			val = eq + 1;
		} else {
			if (strlen(a) >= sizeof(name))
				return usage_error("unknown option", a);
			strcpy(name, a);
		}
		if (strcmp(name, "--cookie-round") == 0) {
			if (val != NULL)
				return usage_error("option takes no value", a);
			o->cookie_round = true;
			continue;
		}
		if (val == NULL) {
			if (i + 1 >= argc)
				return usage_error("option needs a value", a);
			val = argv[++i];
		}
		if (strcmp(name, "--suites") == 0) {
			n = list_parse(val, o->hp.suites, MAX_SUITES);
			if (n < 0)
				return usage_error("bad --suites list", val);
			o->hp.n_suites = (size_t)n;
		} else if (strcmp(name, "--curves") == 0) {
			n = list_parse(val, o->hp.curves, MAX_CURVES);
			if (n < 0)
				return usage_error("bad --curves list", val);
			o->hp.n_curves = (size_t)n;
		} else if (strcmp(name, "--src-port") == 0) {
			if (num_parse(val, 1, 65535, &v) == -1)
				return usage_error("bad --src-port", val);
			o->src_port = (int)v;
		} else if (strcmp(name, "--timeout-ms") == 0) {
			if (num_parse(val, 1, 600000, &v) == -1)
				return usage_error("bad --timeout-ms", val);
			o->timeout_ms = (int)v;
			o->timeout_set = true;
		} else if (strcmp(name, "--count") == 0) {
			if (num_parse(val, 1, MAX_COUNT, &v) == -1)
				return usage_error("bad --count", val);
			o->count = v;
		} else if (strcmp(name, "--sockets") == 0) {
			if (num_parse(val, 1, MAX_SOCKETS, &v) == -1)
				return usage_error("bad --sockets", val);
			o->sockets = (int)v;
		} else if (strcmp(name, "--case") == 0) {
			o->gcase = val;
		} else {
			return usage_error("unknown option", a);
		}
	}
	if (n_pos == 0)
		return usage_error("missing subcommand", NULL);
	o->cmd = pos[0];
	o->host = pos[1];
	o->port = pos[2];
	if (strcmp(o->cmd, "hello") != 0 && strcmp(o->cmd, "flood") != 0 &&
	    strcmp(o->cmd, "garbage") != 0)
		return usage_error("unknown subcommand", o->cmd);
	if (strcmp(o->cmd, "garbage") == 0 && o->gcase != NULL && strcmp(o->gcase, "list") == 0) {
		gcase_list();
		return EXIT_ANSWER;
	}
	if (o->host == NULL || o->port == NULL)
		return usage_error("missing HOST PORT", NULL);
	if (strcmp(o->cmd, "flood") == 0 && o->count < 0)
		return usage_error("flood needs --count N", NULL);
	if (strcmp(o->cmd, "garbage") == 0 && o->gcase == NULL)
		return usage_error("garbage needs --case NAME", NULL);
	if (strcmp(o->cmd, "flood") == 0 && o->src_port > 0)
		return usage_error("--src-port is not used by flood", NULL);
	return -1;
}

/* Parses the options and runs the chosen subcommand. */
int
main(int argc, char **argv)
{
	struct sockaddr_storage addr;
	socklen_t addr_len = 0;
	struct opts o;
	int rc;

	setvbuf(stdout, NULL, _IOLBF, 0);
	rc = opts_parse(argc, argv, &o);
	if (rc >= 0)
		return rc;
	if (addr_resolve(o.host, o.port, &addr, &addr_len) == -1)
		return EXIT_USAGE;
	if (strcmp(o.cmd, "hello") == 0)
		return probe_hello(&o, &addr, addr_len);
	if (strcmp(o.cmd, "flood") == 0)
		return probe_flood(&o, &addr, addr_len);
	return probe_garbage(&o, &addr, addr_len);
}
