/* faultproxy.c: a UDP relay that drops, duplicates, delays and size-filters datagrams for tests. */
#include "config.h"

#include <sys/socket.h>
#include <sys/types.h>

#include <netinet/in.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#define MAX_DGRAM 65536  /* largest UDP datagram we read */
#define MAX_CLIENTS 4096 /* clients relayed at once */
#define MAX_HELD 16      /* datagrams held back per client and direction */
#define SWEEP_SEC 5      /* how often idle clients are looked for */

/* Direction of a datagram. */
enum dir {
	DIR_UP,   /* client to server */
	DIR_DOWN, /* server to client */
};

struct client;

/* A datagram held back by the delay fault. */
struct held {
	struct client *c;
	enum dir dir;
	uint8_t *data;
	size_t len;
	struct event *timer; /* releases it when the delay has passed */
	struct held *next;
};

/* One client address and the upstream socket that carries its datagrams. */
struct client {
	struct sockaddr_storage ss;
	socklen_t len;
	int fd;               /* connected to the server */
	struct event *ev;     /* reads replies from the server */
	time_t last;          /* last datagram in either direction */
	struct held *held[2]; /* delayed datagrams, by direction */
	unsigned nheld[2];
	struct client *next;
};

/* Command-line settings. */
struct settings {
	const char *listen;
	const char *server;
	unsigned long drop, duplicate, delay; /* 1 in N; 0 = never */
	size_t mtu;                           /* 0 = no limit */
	uint64_t seed;
	bool seeded;
	long delay_ms;
	long idle_sec;
	bool verbose;
};

static struct event_base *base;
static struct settings set = { .delay_ms = 50, .idle_sec = 60 };
static int listen_fd = -1;
static struct sockaddr_storage server_ss;
static socklen_t server_len;
static struct client *clients;
static unsigned nclients;
static uint64_t rng_state;
static unsigned long long n_forwarded, n_dropped, n_duplicated, n_delayed, n_too_big,
    n_clients_total, n_clients_refused;

static void datagram_forward(struct client *c, enum dir dir, const uint8_t *p, size_t len);

/* Prints the usage text. */
static void
usage(FILE *f)
{
	fprintf(f, "usage: faultproxy --listen ADDR:PORT --server ADDR:PORT [options]\n"
	           "Relays UDP datagrams between clients and a server, injecting faults\n"
	           "in both directions, each decided independently per datagram.\n"
	           "  --listen ADDR:PORT   where clients send (PORT 0 = any; printed)\n"
	           "  --server ADDR:PORT   where datagrams are relayed to\n"
	           "  --drop N             drop about one datagram in N\n"
	           "  --duplicate N        send about one datagram in N twice\n"
	           "  --delay N            hold about one datagram in N back until the next\n"
	           "                       one in the same direction has gone (reordering)\n"
	           "                       or --delay-ms has passed\n"
	           "  --delay-ms MS        longest hold-back time (default 50)\n"
	           "  --mtu BYTES          drop datagrams larger than BYTES\n"
	           "  --seed S             fixed random seed: repeatable runs\n"
	           "  --idle SEC           forget a client after SEC idle seconds (default 60)\n"
	           "  -v, --verbose        print each datagram's fate on stderr\n"
	           "  -h, --help           this text\n"
	           "IPv6 addresses go in brackets: [::1]:5684. N = 0 turns a fault off.\n"
	           "Prints 'listening ADDR PORT' once bound. SIGUSR1 prints the counters;\n"
	           "SIGTERM or SIGINT prints them and exits 0:\n"
	           "  forwarded=N dropped=N duplicated=N delayed=N too_big=N clients=N\n");
}

/* Returns the next number from a splitmix64 generator. */
static uint64_t
rng_next(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/*
 * Tells whether a one-in-n event happens this time; n = 0 means never. It
 * draws a number even then, so one fault's pattern for a seed does not
 * depend on which other faults are on.
 */
static bool
rng_one_in(unsigned long n)
{
	uint64_t r = rng_next();

	return n > 0 && r % n == 0;
}

/* Parses "ADDR:PORT" or "[ADDR6]:PORT" into a socket address. */
static int
addr_parse(const char *s, bool passive, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[256];
	const char *port;
	struct addrinfo hints, *ai;
	size_t hlen;

	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (end == NULL || end[1] != ':')
			return -1;
		hlen = (size_t)(end - s - 1);
		s++;
		port = end + 2;
	} else {
		const char *colon = strrchr(s, ':');
		if (colon == NULL)
			return -1;
		hlen = (size_t)(colon - s);
		port = colon + 1;
	}
	if (hlen == 0 || hlen >= sizeof(host))
		return -1;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
	if (getaddrinfo(host, port, &hints, &ai) != 0)
		return -1;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

/* Parses a non-negative decimal number up to max. */
static int
num_parse(const char *s, unsigned long max, unsigned long *v)
{
	char *end;

	errno = 0;
	if (s[0] == '-')
		return -1;
	*v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || *v > max)
		return -1;
	return 0;
}

/* Prints the counters on stdout. */
static void
counters_print(void)
{
	printf("forwarded=%llu dropped=%llu duplicated=%llu delayed=%llu "
	       "too_big=%llu clients=%llu refused=%llu\n",
	    n_forwarded, n_dropped, n_duplicated, n_delayed, n_too_big, n_clients_total,
	    n_clients_refused);
	fflush(stdout);
}

/* Sends a datagram on toward its destination; errors only count as loss. */
static void
datagram_send(struct client *c, enum dir dir, const uint8_t *p, size_t len)
{
	ssize_t n;

	if (dir == DIR_UP)
		n = send(c->fd, p, len, 0);
	else
		n = sendto(listen_fd, p, len, 0, (struct sockaddr *)&c->ss, c->len);
	if (n >= 0)
		n_forwarded++;
}

/* Unlinks a held datagram and frees it. */
static void
held_free(struct held *h)
{
	struct held **pp;

	for (pp = &h->c->held[h->dir]; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == h) {
			*pp = h->next;
			h->c->nheld[h->dir]--;
			break;
		}
	}
	event_free(h->timer);
	free(h->data);
	free(h);
}

/* Sends a held datagram whose delay has passed. */
static void
held_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct held *h = arg;

	(void)fd;
	(void)what;
	datagram_send(h->c, h->dir, h->data, h->len);
	held_free(h);
}

/* Sends every datagram held in one direction, oldest first. */
static void
held_flush(struct client *c, enum dir dir)
{
	while (c->held[dir] != NULL) {
		struct held *h = c->held[dir], *last = h;
		while (last->next != NULL)
			last = last->next;
		datagram_send(c, dir, last->data, last->len);
		held_free(last);
	}
}

/* Holds a datagram back; returns -1 if it cannot (it is then sent at once). */
static int
held_add(struct client *c, enum dir dir, const uint8_t *p, size_t len)
{
	struct timeval tv = { set.delay_ms / 1000, (set.delay_ms % 1000) * 1000 };
	struct held *h;

	if (c->nheld[dir] >= MAX_HELD)
		return -1;
	h = calloc(1, sizeof(*h));
	if (h == NULL)
		return -1;
	h->data = malloc(len > 0 ? len : 1);
	h->timer = evtimer_new(base, held_timer_cb, h);
	if (h->data == NULL || h->timer == NULL) {
		if (h->timer != NULL)
			event_free(h->timer);
		free(h->data);
		free(h);
		return -1;
	}
	memcpy(h->data, p, len);
	h->len = len;
	h->c = c;
	h->dir = dir;
	h->next = c->held[dir];
	c->held[dir] = h;
	c->nheld[dir]++;
	evtimer_add(h->timer, &tv);
	return 0;
}

/* Applies the faults to one datagram and forwards what survives. */
static void
datagram_forward(struct client *c, enum dir dir, const uint8_t *p, size_t len)
{
	bool drop = rng_one_in(set.drop);
	bool dup = rng_one_in(set.duplicate);
	bool delay = rng_one_in(set.delay);

	c->last = time(NULL);
	if (set.verbose)
		fprintf(stderr, "faultproxy: %s len=%zu%s%s%s%s\n", dir == DIR_UP ? "up" : "down",
		    len, set.mtu > 0 && len > set.mtu ? " too-big" : "", drop ? " drop" : "",
		    dup ? " duplicate" : "", delay ? " delay" : "");
	if (set.mtu > 0 && len > set.mtu) {
		n_too_big++;
		return;
	}
	if (drop) {
		n_dropped++;
		return;
	}
	if (dup) {
		n_duplicated++;
		datagram_send(c, dir, p, len);
	}
	if (delay && held_add(c, dir, p, len) == 0) {
		n_delayed++;
		return;
	}
	datagram_send(c, dir, p, len);
	held_flush(c, dir);
}

/* Closes a client's upstream socket and frees everything it holds. */
static void
client_free(struct client *c)
{
	for (int d = 0; d < 2; d++)
		while (c->held[d] != NULL)
			held_free(c->held[d]);
	event_free(c->ev);
	close(c->fd);
	free(c);
}

/* Reads replies from the server for one client. */
static void
client_read_cb(evutil_socket_t fd, short what, void *arg)
{
	static uint8_t buf[MAX_DGRAM];
	struct client *c = arg;

	(void)what;
	for (int burst = 0; burst < 64; burst++) {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0)
			return; /* EAGAIN, or ICMP unreachable from the server */
		datagram_forward(c, DIR_DOWN, buf, (size_t)n);
	}
}

/* Finds a client by address, or makes one with a new upstream socket. */
static struct client *
client_get(const struct sockaddr_storage *ss, socklen_t len)
{
	struct client *c;

	for (c = clients; c != NULL; c = c->next)
		if (c->len == len && memcmp(&c->ss, ss, len) == 0)
			return c;
	if (nclients >= MAX_CLIENTS) {
		n_clients_refused++;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->fd = socket(server_ss.ss_family, SOCK_DGRAM, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&server_ss, server_len) < 0 ||
	    evutil_make_socket_nonblocking(c->fd) < 0 ||
	    (c->ev = event_new(base, c->fd, EV_READ | EV_PERSIST, client_read_cb, c)) == NULL ||
	    event_add(c->ev, NULL) < 0) {
		fprintf(stderr, "faultproxy: upstream socket: %s\n", strerror(errno));
		if (c->ev != NULL)
			event_free(c->ev);
		if (c->fd >= 0)
			close(c->fd);
		free(c);
		n_clients_refused++;
		return NULL;
	}
	memcpy(&c->ss, ss, len);
	c->len = len;
	c->next = clients;
	clients = c;
	nclients++;
	n_clients_total++;
	return c;
}

/* Reads datagrams from clients. */
static void
listen_read_cb(evutil_socket_t fd, short what, void *arg)
{
	static uint8_t buf[MAX_DGRAM];
	struct sockaddr_storage ss;
	socklen_t len;
	struct client *c;

	(void)what;
	(void)arg;
	for (int burst = 0; burst < 64; burst++) {
		len = sizeof(ss);
		ssize_t n =
		    recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&ss, &len);
		if (n < 0)
			return;
		c = client_get(&ss, len);
		if (c != NULL)
			datagram_forward(c, DIR_UP, buf, (size_t)n);
	}
}

/* Forgets clients that have been idle too long. */
static void
sweep_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	time_t now = time(NULL);
	struct client **pp = &clients;

	(void)fd;
	(void)what;
	(void)arg;
	while (*pp != NULL) {
		struct client *c = *pp;
		if (now - c->last >= set.idle_sec && c->held[0] == NULL && c->held[1] == NULL) {
			*pp = c->next;
			nclients--;
			client_free(c);
		} else {
			pp = &c->next;
		}
	}
}

/* Prints the counters; on SIGTERM or SIGINT also leaves the loop. */
static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	(void)arg;
	counters_print();
	if (sig != SIGUSR1)
		event_base_loopbreak(base);
}

/* Binds the listening socket and prints where. */
static int
listen_open(void)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char host[NI_MAXHOST], serv[NI_MAXSERV];
	int fd, on = 1;

	if (addr_parse(set.listen, true, &ss, &len) < 0) {
		fprintf(stderr, "faultproxy: bad --listen address: %s\n", set.listen);
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_DGRAM, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0 ||
	    bind(fd, (struct sockaddr *)&ss, len) < 0 || evutil_make_socket_nonblocking(fd) < 0) {
		fprintf(stderr, "faultproxy: bind %s: %s\n", set.listen, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0 ||
	    getnameinfo((struct sockaddr *)&ss, len, host, sizeof(host), serv, sizeof(serv),
	        NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		close(fd);
		return -1;
	}
	printf("listening %s %s\n", host, serv);
	fflush(stdout);
	return fd;
}

/* Reads the command line into set; returns -1 on a usage error, 1 for -h. */
static int
args_parse(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "server", required_argument, NULL, 's' },
		{ "drop", required_argument, NULL, 'D' },
		{ "duplicate", required_argument, NULL, 'u' },
		{ "delay", required_argument, NULL, 'y' },
		{ "delay-ms", required_argument, NULL, 'm' },
		{ "mtu", required_argument, NULL, 'M' },
		{ "seed", required_argument, NULL, 'S' },
		{ "idle", required_argument, NULL, 'i' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long v;
	char *end;
	int ch;

	while ((ch = getopt_long(argc, argv, "hv", opts, NULL)) != -1) {
		switch (ch) {
		case 'l':
			set.listen = optarg;
			break;
		case 's':
			set.server = optarg;
			break;
		case 'h':
			return 1;
		case 'v':
			set.verbose = true;
			break;
		case 'S':
			errno = 0;
			set.seed = strtoull(optarg, &end, 0);
			if (errno != 0 || end == optarg || *end != '\0')
				return -1;
			set.seeded = true;
			break;
		case 'D':
		case 'u':
		case 'y':
		case 'm':
		case 'M':
		case 'i':
			if (num_parse(optarg, 100000000UL, &v) < 0) {
				fprintf(stderr, "faultproxy: bad number: %s\n", optarg);
				return -1;
			}
			if (ch == 'D')
				set.drop = v;
			else if (ch == 'u')
				set.duplicate = v;
			else if (ch == 'y')
				set.delay = v;
			else if (ch == 'm')
				set.delay_ms = (long)v;
			else if (ch == 'M')
				set.mtu = v;
			else
				set.idle_sec = (long)(v > 0 ? v : 1);
			break;
		default:
			return -1;
		}
	}
	if (optind != argc || set.listen == NULL || set.server == NULL)
		return -1;
	return 0;
}

int
main(int argc, char **argv)
{
	struct event *ev_listen, *ev_term, *ev_int, *ev_usr1, *ev_sweep;
	struct timeval sweep = { SWEEP_SEC, 0 };
	int rc = args_parse(argc, argv);

	if (rc != 0) {
		usage(rc > 0 ? stdout : stderr);
		return rc > 0 ? 0 : 2;
	}
	if (addr_parse(set.server, false, &server_ss, &server_len) < 0) {
		fprintf(stderr, "faultproxy: bad --server address: %s\n", set.server);
		return 2;
	}
	rng_state = set.seeded ? set.seed : ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid();
	signal(SIGPIPE, SIG_IGN);

	base = event_base_new();
	if (base == NULL)
		return 1;
	listen_fd = listen_open();
	if (listen_fd < 0)
		return 1;
	ev_listen = event_new(base, listen_fd, EV_READ | EV_PERSIST, listen_read_cb, NULL);
	ev_term = evsignal_new(base, SIGTERM, signal_cb, NULL);
	ev_int = evsignal_new(base, SIGINT, signal_cb, NULL);
	ev_usr1 = evsignal_new(base, SIGUSR1, signal_cb, NULL);
	ev_sweep = event_new(base, -1, EV_PERSIST, sweep_timer_cb, NULL);
	if (ev_listen == NULL || ev_term == NULL || ev_int == NULL || ev_usr1 == NULL ||
	    ev_sweep == NULL || event_add(ev_listen, NULL) < 0 || event_add(ev_term, NULL) < 0 ||
	    event_add(ev_int, NULL) < 0 || event_add(ev_usr1, NULL) < 0 ||
	    event_add(ev_sweep, &sweep) < 0) {
		fprintf(stderr, "faultproxy: cannot set up events\n");
		return 1;
	}
	event_base_dispatch(base);

	while (clients != NULL) {
		struct client *c = clients;
		clients = c->next;
		client_free(c);
	}
	event_free(ev_listen);
	event_free(ev_term);
	event_free(ev_int);
	event_free(ev_usr1);
	event_free(ev_sweep);
	close(listen_fd);
	event_base_free(base);
	return 0;
}
