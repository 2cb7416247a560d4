/* late-hello-relay.c: a UDP relay that loses the server's last handshake flight and replays the cookie ClientHello late. */
#include "config.h"

#include <sys/socket.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_DGRAM 65536
#define REC_HDR 13 /* DTLS record header */
#define HS_HDR 12  /* DTLS handshake header */
#define CT_CCS 20
#define CT_HANDSHAKE 22
#define HS_CLIENT_HELLO 1

static volatile sig_atomic_t stop;
static uint8_t buf[MAX_DGRAM];
static uint8_t hello[MAX_DGRAM];
static size_t hello_len;

/* Prints the usage text. */
static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: late-hello-relay --server ADDR:PORT [--drop-ms N] [--lifetime S]\n"
	    "Relays one client's datagrams between 127.0.0.1:(any port) and the server.\n"
	    "It keeps a copy of the client's first ClientHello that carries a cookie,\n"
	    "drops every server datagram for --drop-ms (default 100) from the first one\n"
	    "holding a ChangeCipherSpec (the server's last handshake flight), then sends the\n"
	    "kept ClientHello to the server again from the client's relay socket.\n"
	    "Prints 'listening ADDR PORT', then one line per event:\n"
	    "  hello-kept len=N / flight-dropped len=N / hello-injected len=N\n"
	    "and on SIGTERM (or after --lifetime S, default 60):\n"
	    "  up=N down=N dropped=N injected=N\n");
}

/* Returns monotonic time in milliseconds. */
static int64_t
clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Signal handler: asks the loop to end. */
static void
stop_handler(int sig)
{
	(void)sig;
	stop = 1;
}

/* Tells whether a datagram starts with a ClientHello record carrying a non-empty cookie. */
static bool
hello_has_cookie(const uint8_t *p, size_t len)
{
	size_t o = REC_HDR + HS_HDR + 2 + 32; /* version, random */

	if (len < o + 1 || p[0] != CT_HANDSHAKE || p[REC_HDR] != HS_CLIENT_HELLO)
		return false;
	o += 1 + p[o]; /* session id */
	if (len < o + 1)
		return false;
	return p[o] > 0 && len >= o + 1 + p[o];
}

/* Tells whether any record of a datagram is a ChangeCipherSpec. */
static bool
has_ccs(const uint8_t *p, size_t len)
{
	size_t o = 0;

	while (len - o >= REC_HDR) {
		size_t rl = (size_t)p[o + 11] << 8 | p[o + 12];

		if (p[o] == CT_CCS)
			return true;
		if (rl > len - o - REC_HDR)
			return false;
		o += REC_HDR + rl;
	}
	return false;
}

/* Resolves a numeric ADDR:PORT ([v6]:PORT) into ss. */
static bool
addr_parse(const char *arg, struct sockaddr_storage *ss, socklen_t *sl)
{
	char b[128], *colon, *host = b;
	struct addrinfo hints, *res = NULL;

	if (strlen(arg) >= sizeof b)
		return false;
	strcpy(b, arg);
	if ((colon = strrchr(b, ':')) == NULL)
		return false;
	*colon = '\0';
	if (host[0] == '[' && colon > host + 1 && colon[-1] == ']') {
		host++;
		colon[-1] = '\0';
	}
	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	if (getaddrinfo(host, colon + 1, &hints, &res) != 0 || res == NULL ||
	    res->ai_addrlen > sizeof *ss) {
		if (res)
			freeaddrinfo(res);
		return false;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*sl = res->ai_addrlen;
	freeaddrinfo(res);
	return true;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = { { "server", required_argument, NULL, 's' },
		{ "drop-ms", required_argument, NULL, 'd' },
		{ "lifetime", required_argument, NULL, 'l' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 } };
	struct sockaddr_storage server, client;
	struct sockaddr_in lst = { .sin_family = AF_INET };
	socklen_t server_len = 0, client_len = 0, sl;
	long drop_ms = 100, lifetime = 60;
	unsigned long up = 0, down = 0, dropped = 0, injected = 0;
	int64_t drop_until = 0, end;
	bool have_server = false, have_client = false, drop_done = false, inject_pending = false;
	int lfd, ufd = -1, opt;

	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 's':
			have_server = addr_parse(optarg, &server, &server_len);
			break;
		case 'd':
			drop_ms = strtol(optarg, NULL, 10);
			break;
		case 'l':
			lifetime = strtol(optarg, NULL, 10);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!have_server || optind != argc || drop_ms < 1 || drop_ms > 10000 || lifetime < 1 ||
	    lifetime > 600) {
		usage(stderr);
		return 2;
	}
	signal(SIGTERM, stop_handler);
	signal(SIGINT, stop_handler);
	lfd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	lst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sl = sizeof lst;
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&lst, sizeof lst) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&lst, &sl) < 0) {
		perror("late-hello-relay: listen socket");
		return 1;
	}
	printf("listening 127.0.0.1 %u\n", ntohs(lst.sin_port));
	fflush(stdout);
	end = clock_ms() + lifetime * 1000;
	while (!stop && clock_ms() < end) {
		struct pollfd pf[2] = { { .fd = lfd, .events = POLLIN },
			{ .fd = ufd, .events = POLLIN } };
		ssize_t n;

		if (inject_pending && clock_ms() >= drop_until) {
			inject_pending = false;
			if (send(ufd, hello, hello_len, 0) == (ssize_t)hello_len) {
				injected++;
				printf("hello-injected len=%zu\n", hello_len);
				fflush(stdout);
			}
		}
		if (poll(pf, ufd >= 0 ? 2 : 1, 10) <= 0)
			continue;
		if (pf[0].revents & POLLIN) {
			struct sockaddr_storage from;
			socklen_t fl = sizeof from;

			n = recvfrom(lfd, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
			if (n >= 0 && !have_client) {
				ufd = socket(server.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
				if (ufd < 0 ||
				    connect(ufd, (struct sockaddr *)&server, server_len) < 0) {
					perror("late-hello-relay: upstream socket");
					return 1;
				}
				memcpy(&client, &from, fl);
				client_len = fl;
				have_client = true;
			}
			if (n >= 0 && fl == client_len && memcmp(&from, &client, fl) == 0) {
				if (hello_len == 0 && hello_has_cookie(buf, (size_t)n)) {
					memcpy(hello, buf, (size_t)n);
					hello_len = (size_t)n;
					printf("hello-kept len=%zu\n", hello_len);
					fflush(stdout);
				}
				up++;
				(void)send(ufd, buf, (size_t)n, 0);
			}
		}
		if (ufd >= 0 && (pf[1].revents & POLLIN)) {
			n = recv(ufd, buf, sizeof buf, 0);
			if (n < 0)
				continue;
			if (!drop_done && hello_len > 0 && has_ccs(buf, (size_t)n)) {
				drop_done = true;
				inject_pending = true;
				drop_until = clock_ms() + drop_ms;
			}
			if (clock_ms() < drop_until) {
				dropped++;
				printf("flight-dropped len=%zd\n", n);
				fflush(stdout);
				continue;
			}
			down++;
			(void)sendto(lfd, buf, (size_t)n, 0, (struct sockaddr *)&client,
			    client_len);
		}
	}
	printf("up=%lu down=%lu dropped=%lu injected=%lu\n", up, down, dropped, injected);
	return 0;
}
