/* fixed-mid-backend.c: a plain CoAP/UDP backend whose Observe notifications use MIDs chosen on the command line. */
/*
 * usage: fixed-mid-backend -A ADDR -p PORT -M FIRST_MID [-n COUNT] [-i MS] [-N] [-D MS]
 * Answers the first request it gets with 2.05 and Observe 0 (piggybacked on
 * an ACK for a CON; -D holds that answer back for MS milliseconds, to play a
 * backend that answers too late), then sends COUNT notifications (CON, or NON with -N)
 * every MS milliseconds to that requester with the same token and MIDs
 * FIRST_MID, FIRST_MID+1, ...: two instances started with the same -M send
 * colliding MIDs, which the proxy must remap. Never retransmits. Prints:
 *   listening ADDR PORT
 *   req src=IP:PORT type=CON mid=0x.. tkl=N
 *   answer mid=0x..
 *   notify mid=0x.. seq=N
 *   ack mid=0x.. | rst mid=0x..
 *   done
 * Exits 0 on SIGTERM/SIGINT, or after 60 s.
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

#define MAX_DGRAM 2048    /* largest datagram read */
#define LIFETIME_MS 60000 /* the process exits after this long */

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
	fprintf(f, "usage: fixed-mid-backend -A ADDR -p PORT -M FIRST_MID [-n COUNT] [-i MS] [-N] "
	           "[-D MS]\n"
	           "  -A ADDR  IPv4 literal to listen on\n"
	           "  -p PORT  UDP port (0 = any; the port is printed)\n"
	           "  -M MID   MID of the first notification (0-65535, decimal or 0x hex)\n"
	           "  -n N     notifications to send (default 5)\n"
	           "  -i MS    interval between notifications (default 200)\n"
	           "  -N       send NON notifications instead of CON\n"
	           "  -D MS    delay the answer to the request (default 0)\n");
}

/* Builds a 2.05 with Observe seq, the token and payload "n=seq"; returns its length. */
static size_t
build_notification(uint8_t *out, size_t outlen, uint8_t type, uint16_t mid, const uint8_t *token,
    size_t tkl, uint8_t seq)
{
	size_t n = 0;
	int plen;

	if (outlen < 4 + tkl + 2 + 1 + 8)
		return 0;
	out[n++] = (uint8_t)(0x40 | type << 4 | tkl);
	out[n++] = 0x45; /* 2.05 Content */
	out[n++] = (uint8_t)(mid >> 8);
	out[n++] = (uint8_t)mid;
	memcpy(out + n, token, tkl);
	n += tkl;
	if (seq == 0) {
		out[n++] = 0x60; /* Observe (6), empty value: 0 */
	} else {
		out[n++] = 0x61;
		out[n++] = seq;
	}
	out[n++] = 0xff;
	plen = snprintf((char *)out + n, outlen - n, "n=%u", seq);
	if (plen < 0 || (size_t)plen >= outlen - n)
		return 0;
	return n + (size_t)plen;
}

/* Formats an IPv4 address:port. */
static const char *
addr_str(const struct sockaddr_in *sin, char *buf, size_t size)
{
	char host[INET_ADDRSTRLEN];

	if (inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host)) == NULL)
		snprintf(host, sizeof(host), "?");
	snprintf(buf, size, "%s:%u", host, ntohs(sin->sin_port));
	return buf;
}

int
main(int argc, char **argv)
{
	const char *addr = NULL;
	long port = -1, first_mid = -1, count = 5, interval = 200, delay = 0;
	uint8_t answer[64];
	size_t answer_len = 0;
	long long answer_at = 0;
	bool non = false;
	int opt, fd;
	struct sockaddr_in sin, peer;
	socklen_t slen = sizeof(sin);
	uint8_t token[8];
	size_t tkl = 0;
	bool registered = false;
	long sent = 0;
	long long next = 0, end;

	while ((opt = getopt(argc, argv, "A:p:M:n:i:ND:")) != -1) {
		switch (opt) {
		case 'A':
			addr = optarg;
			break;
		case 'p':
			port = strtol(optarg, NULL, 10);
			break;
		case 'M':
			first_mid = strtol(optarg, NULL, 0);
			break;
		case 'n':
			count = strtol(optarg, NULL, 10);
			break;
		case 'i':
			interval = strtol(optarg, NULL, 10);
			break;
		case 'N':
			non = true;
			break;
		case 'D':
			delay = strtol(optarg, NULL, 10);
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (addr == NULL || port < 0 || port > 65535 || first_mid < 0 || first_mid > 65535 ||
	    count < 0 || count > 200 || interval < 1 || interval > 10000 || delay < 0 ||
	    delay > 30000 || optind != argc) {
		usage(stderr);
		return 2;
	}
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1) {
		fprintf(stderr, "fixed-mid-backend: %s: not an IPv4 literal\n", addr);
		return 2;
	}
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &slen) < 0) {
		fprintf(stderr, "fixed-mid-backend: socket: %s\n", strerror(errno));
		return 1;
	}
	signal(SIGTERM, stop_handler);
	signal(SIGINT, stop_handler);
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("listening %s %u\n", addr, ntohs(sin.sin_port));
	end = now_ms() + LIFETIME_MS;
	while (!stop && now_ms() < end) {
		int wait = 100;
		if (answer_len > 0) {
			long long left = answer_at - now_ms();
			wait = left < 0 ? 0 : left > 100 ? 100 : (int)left;
		} else if (registered && sent < count) {
			long long left = next - now_ms();
			wait = left < 0 ? 0 : left > 100 ? 100 : (int)left;
		}
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int r = poll(&pfd, 1, wait);
		if (r < 0 && errno != EINTR)
			break;
		if (r > 0 && (pfd.revents & POLLIN) != 0) {
			uint8_t buf[MAX_DGRAM];
			struct sockaddr_in from;
			socklen_t flen = sizeof(from);
			ssize_t len =
			    recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &flen);
			if (len >= 4 && buf[0] >> 6 == 1) {
				unsigned type = (buf[0] >> 4) & 3, t = buf[0] & 0x0f;
				uint16_t mid = (uint16_t)(buf[2] << 8 | buf[3]);
				char src[64];
				if (buf[1] == 0 && (type == 2 || type == 3)) {
					printf("%s mid=0x%04x\n", type == 2 ? "ack" : "rst", mid);
				} else if (buf[1] >= 1 && buf[1] <= 31 && t <= 8 &&
				           (size_t)len >= 4 + t && !registered) {
					static const char *const types[] = { "CON", "NON", "ACK",
						"RST" };
					printf("req src=%s type=%s mid=0x%04x tkl=%u\n",
					    addr_str(&from, src, sizeof(src)), types[type], mid, t);
					tkl = t;
					memcpy(token, buf + 4, tkl);
					peer = from;
					registered = true;
					answer_len = build_notification(answer, sizeof(answer),
					    type == 0 ? 2 : 1,
					    type == 0 ? mid : (uint16_t)(first_mid - 1), token, tkl,
					    0);
					answer_at = now_ms() + delay;
				} else {
					printf("other mid=0x%04x code=0x%02x\n", mid, buf[1]);
				}
			}
		}
		if (answer_len > 0 && now_ms() >= answer_at) {
			if (sendto(fd, answer, answer_len, 0, (struct sockaddr *)&peer,
			        sizeof(peer)) >= 0)
				printf("answer mid=0x%02x%02x\n", answer[2], answer[3]);
			answer_len = 0;
			next = now_ms() + interval;
		} else if (answer_len == 0 && registered && sent < count && now_ms() >= next) {
			uint8_t out[64];
			uint16_t mid = (uint16_t)(first_mid + sent);
			size_t n = build_notification(out, sizeof(out), non ? 1 : 0, mid, token,
			    tkl, (uint8_t)(sent + 1));
			if (n > 0 &&
			    sendto(fd, out, n, 0, (struct sockaddr *)&peer, sizeof(peer)) >= 0)
				printf("notify mid=0x%04x seq=%ld\n", mid, sent + 1);
			sent++;
			next = now_ms() + interval;
			if (sent == count)
				printf("done\n");
		}
	}
	close(fd);
	return 0;
}
