/* dtls-probe.c: command line, sockets and subcommands of the raw DTLS 1.2 test probe. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "probe-garbage.h"
#include "probe-wire.h"

/* Limits of the command line and of the flood. */
#define MAX_SOCKETS 4096
#define MAX_COUNT 10000000L
#define FLOOD_LIMIT_MS 60000
#define IDLE_MS 300 /* silence that ends a wait after the first answer */

/* Exit codes. */
#define EXIT_ANSWER 0
#define EXIT_USAGE 1
#define EXIT_TIMEOUT 2

/* Parsed command-line options (shared by all subcommands). */
struct opts {
	const char *cmd;
	const char *host;
	const char *port;
	struct hello_params hp;
	bool cookie_round;
	int src_port;
	const char *src_addr; /* NULL: any */
	int timeout_ms;
	bool timeout_set;
	long count;
	int sockets;
	const char *gcase;
};

static uint8_t rx_buf[MAX_DGRAM + 1];

/* Prints the usage text to the given stream. */
static void
usage_print(FILE *f)
{
	fputs(
	    "usage: dtls-probe hello HOST PORT [--suites LIST] [--curves LIST] [--cookie-round]\n"
	    "                  [--src-port P] [--src-addr A] [--timeout-ms N]\n"
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
	    "  --src-addr A      bind the socket to source address A (hello)\n"
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

/* Resolves a numeric host and port into addr; returns 0 or -1. */
static int
addr_resolve(const char *host, const char *port, struct sockaddr_storage *addr, socklen_t *addr_len)
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

/* Opens a non-blocking UDP socket connected to addr, bound to src_addr (NULL: any) and src_port if non-zero. */
static int
sock_open(const struct sockaddr_storage *addr, socklen_t addr_len, int src_port,
    const char *src_addr)
{
	int fd = socket(addr->ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int sndbuf = 256 * 1024;

	if (fd == -1) {
		fprintf(stderr, "dtls-probe: socket: %s\n", strerror(errno));
		return -1;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	if (src_port > 0 || src_addr != NULL) {
		struct sockaddr_storage local;
		socklen_t local_len;

		memset(&local, 0, sizeof(local));
		if (addr->ss_family == AF_INET6) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&local;

			s6->sin6_family = AF_INET6;
			s6->sin6_addr = in6addr_any;
			if (src_addr != NULL &&
			    inet_pton(AF_INET6, src_addr, &s6->sin6_addr) != 1) {
				fprintf(stderr, "dtls-probe: bad --src-addr %s\n", src_addr);
				close(fd);
				return -1;
			}
			s6->sin6_port = htons((uint16_t)src_port);
			local_len = sizeof(*s6);
		} else {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&local;

			s4->sin_family = AF_INET;
			s4->sin_addr.s_addr = htonl(INADDR_ANY);
			if (src_addr != NULL && inet_pton(AF_INET, src_addr, &s4->sin_addr) != 1) {
				fprintf(stderr, "dtls-probe: bad --src-addr %s\n", src_addr);
				close(fd);
				return -1;
			}
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
	fd = sock_open(addr, addr_len, o->src_port, o->src_addr);
	if (fd == -1)
		return EXIT_USAGE;
	rand_fill(hp.random, sizeof(hp.random));
	hp.cookie_len = 0;
	hello_record_write(&b, &hp, 0, 0);
	if (b.err || sock_send(fd, b.p, b.len) == -1) {
		fprintf(stderr, "dtls-probe: send: %s\n",
		    b.err ? "message too long" : strerror(errno));
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
		pfds[j].fd = sock_open(addr, addr_len, 0, NULL);
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

		if (clock_ms() - start > FLOOD_LIMIT_MS - 2000) {
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
	gc->build(&b, &o->hp);
	if (b.err) {
		fprintf(stderr, "dtls-probe: case %s: datagram too long\n", gc->name);
		return EXIT_USAGE;
	}
	fd = sock_open(addr, addr_len, o->src_port, o->src_addr);
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
		for (i = 0; i < n_gcases; i++) {
			if (i > 0)
				clock_sleep_ms(50);
			if (gcase_run(&gcases[i], o, addr, addr_len, OUT_COLLECT, timeout) ==
			    EXIT_USAGE)
				rc = EXIT_USAGE;
		}
		return rc;
	}
	for (i = 0; i < n_gcases; i++)
		if (strcmp(o->gcase, gcases[i].name) == 0)
			return gcase_run(&gcases[i], o, addr, addr_len, OUT_PRINT, o->timeout_ms);
	fprintf(stderr, "dtls-probe: unknown case '%s' (try --case list)\n", o->gcase);
	return EXIT_USAGE;
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
		} else if (strcmp(name, "--src-addr") == 0) {
			o->src_addr = val;
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
