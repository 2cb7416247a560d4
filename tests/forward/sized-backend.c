/* sized-backend.c: a plain CoAP/UDP backend whose answers are as long as each request asks. */
/*
 * usage: sized-backend -A ADDR -p PORT [-s]
 * Answers every CON or NON request with 2.05 Content whose whole datagram is
 * as many bytes as the request's payload says in decimal ASCII ("1300"), the
 * answer's payload filled with 'x' (a request without such a number gets
 * 16 bytes); up to 65000 bytes. A CON gets a piggybacked ACK with its MID, a
 * NON a NON; with -s a CON gets an empty ACK first and then the answer as a
 * separate CON response with a MID of the backend's own (never retransmitted).
 * Prints, one flushed line each:
 *   listening ADDR PORT
 *   req type=CON mid=0x1234 tkl=N len=N want=N
 *   answer type=ACK mid=0x1234 len=N
 *   ack mid=0x.. | rst mid=0x..
 * Exits 0 on SIGTERM/SIGINT, or after 120 s.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_DGRAM 65000    /* largest datagram read or sent */
#define LIFETIME_MS 120000 /* the process exits after this long */

static volatile sig_atomic_t stop;

/* Notes a termination signal. */
static void
stop_handler(int sig)
{
	(void)sig;
	stop = 1;
}

/* Returns the monotonic time in milliseconds. */
static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Prints the usage text. */
static void
usage(FILE *f)
{
	fprintf(f, "usage: sized-backend -A ADDR -p PORT [-s]\n"
	           "  -A ADDR  IPv4 literal to listen on\n"
	           "  -p PORT  UDP port (0 = any; the port is printed)\n"
	           "  -s       answer CON requests with an empty ACK and a separate CON\n");
}

/* Reads one option delta or length nibble's value; -1 if truncated or 15. */
static long
option_ext(unsigned nibble, const uint8_t *buf, size_t len, size_t *off)
{
	if (nibble < 13)
		return (long)nibble;
	if (nibble == 13 && *off + 1 <= len)
		return 13 + buf[(*off)++];
	if (nibble == 14 && *off + 2 <= len) {
		long v = 269 + ((long)buf[*off] << 8 | buf[*off + 1]);
		*off += 2;
		return v;
	}
	return -1;
}

/* The size a request asks for: its payload as a decimal number, 16 when it has none. */
static size_t
wanted_size(const uint8_t *buf, size_t len, size_t off)
{
	size_t want = 0;

	while (off < len && buf[off] != 0xff) {
		uint8_t b = buf[off++];
		long delta = option_ext(b >> 4, buf, len, &off);
		long olen = option_ext(b & 0x0f, buf, len, &off);

		if (delta < 0 || olen < 0 || (size_t)olen > len - off)
			return 16;
		off += (size_t)olen;
	}
	if (off >= len)
		return 16;
	for (off++; off < len && buf[off] >= '0' && buf[off] <= '9' && want < MAX_DGRAM; off++)
		want = want * 10 + (size_t)(buf[off] - '0');
	return want < 4 + 8 + 2 ? 16 : want > MAX_DGRAM ? MAX_DGRAM : want;
}

/* Builds a 2.05 of exactly size bytes (size >= 6 + tkl) into out; returns size. */
static size_t
build_answer(uint8_t *out, size_t size, uint8_t type, uint16_t mid, const uint8_t *token,
    size_t tkl)
{
	size_t n = 0;

	out[n++] = (uint8_t)(0x40 | type << 4 | tkl);
	out[n++] = 0x45; /* 2.05 Content */
	out[n++] = (uint8_t)(mid >> 8);
	out[n++] = (uint8_t)mid;
	memcpy(out + n, token, tkl);
	n += tkl;
	out[n++] = 0xff;
	memset(out + n, 'x', size - n);
	return size;
}

int
main(int argc, char **argv)
{
	static uint8_t buf[MAX_DGRAM], out[MAX_DGRAM];
	static const char *const types[] = { "CON", "NON", "ACK", "RST" };
	const char *addr = NULL;
	long port = -1;
	bool separate = false;
	uint16_t own_mid;
	struct sockaddr_in sin;
	socklen_t slen = sizeof(sin);
	long long end;
	int opt, fd;

	while ((opt = getopt(argc, argv, "A:p:s")) != -1) {
		switch (opt) {
		case 'A':
			addr = optarg;
			break;
		case 'p':
			port = strtol(optarg, NULL, 10);
			break;
		case 's':
			separate = true;
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (addr == NULL || port < 0 || port > 65535 || optind != argc) {
		usage(stderr);
		return 2;
	}
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1) {
		fprintf(stderr, "sized-backend: %s: not an IPv4 literal\n", addr);
		return 2;
	}
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &slen) < 0) {
		fprintf(stderr, "sized-backend: socket: %s\n", strerror(errno));
		return 1;
	}
	signal(SIGTERM, stop_handler);
	signal(SIGINT, stop_handler);
	setvbuf(stdout, NULL, _IOLBF, 0);
	own_mid = (uint16_t)(getpid() * 7);
	printf("listening %s %u\n", addr, ntohs(sin.sin_port));
	end = now_ms() + LIFETIME_MS;
	while (!stop && now_ms() < end) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		struct sockaddr_in from;
		socklen_t flen = sizeof(from);
		ssize_t len;

		if (poll(&pfd, 1, 100) <= 0)
			continue;
		len = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &flen);
		if (len < 4 || buf[0] >> 6 != 1)
			continue;
		unsigned type = (buf[0] >> 4) & 3, tkl = buf[0] & 0x0f;
		uint16_t mid = (uint16_t)(buf[2] << 8 | buf[3]);

		if (buf[1] == 0 && (type == 2 || type == 3)) {
			printf("%s mid=0x%04x\n", type == 2 ? "ack" : "rst", mid);
			continue;
		}
		if (buf[1] < 1 || buf[1] > 31 || type > 1 || tkl > 8 || (size_t)len < 4 + tkl)
			continue;
		size_t want = wanted_size(buf, (size_t)len, 4 + tkl), n;

		printf("req type=%s mid=0x%04x tkl=%u len=%zd want=%zu\n", types[type], mid, tkl,
		    len, want);
		if (separate && type == 0) {
			uint8_t ack[4] = { 0x60, 0x00, buf[2], buf[3] };

			if (sendto(fd, ack, sizeof(ack), 0, (struct sockaddr *)&from, flen) >= 0)
				printf("answer type=ACK mid=0x%04x len=4\n", mid);
			n = build_answer(out, want, 0, ++own_mid, buf + 4, tkl);
		} else
			n = build_answer(out, want, type == 0 ? 2 : 1, type == 0 ? mid : ++own_mid,
			    buf + 4, tkl);
		if (sendto(fd, out, n, 0, (struct sockaddr *)&from, flen) >= 0)
			printf("answer type=%s mid=0x%02x%02x len=%zu\n", types[out[0] >> 4 & 3],
			    out[2], out[3], n);
		else
			printf("send-failed len=%zu: %s\n", n, strerror(errno));
	}
	close(fd);
	return 0;
}
