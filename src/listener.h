/* listener.h: UDP listening sockets and sending from the address a peer used. */
#ifndef COAPS_LISTENER_H
#define COAPS_LISTENER_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct listen_conf;
struct event_base;

/* A peer's address, in the space it needs (not a whole sockaddr_storage). */
union peer_addr {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

/* The local address a datagram arrived on (from IP_PKTINFO / IPV6_PKTINFO). */
struct local_addr {
	int family; /* 0 when unknown (bound to a specific address) */
	union {
		struct in_pktinfo v4;
		struct in6_pktinfo v6;
	} u;
};

struct listener_outbox;

struct listener {
	int fd;
	struct event *ev;
	struct event *flush_ev;      /* sends the outbox at the end of the loop pass */
	struct listener_outbox *out; /* datagrams waiting for one sendmmsg */
	struct sockaddr_storage addr;
	socklen_t addrlen;
	bool wildcard;
	bool adopted;  /* the socket came from systemd (fd store), not from bind() */
	bool shared;   /* one of the workers' SO_REUSEPORT sockets (else worker 0 reads it alone) */
	char name[64]; /* address:port as configured */
	struct listener *next;
	bool keep; /* reload bookkeeping */
};

/* One received datagram with where it came from and where it went. */
struct datagram {
	struct listener *listener;
	struct sockaddr_storage peer;
	socklen_t peerlen;
	struct local_addr local;
	const uint8_t *data;
	size_t len;
};

/* Called for every datagram a listener receives. */
typedef void listener_input_fn(const struct datagram *d);

/*
 * Opens a listener: takes the socket for its address from the fds systemd
 * passed at start (fd store, see fdstore.h) or binds a new one, and puts it
 * into systemd's store. NULL with *cause set on failure.
 */
struct listener *listener_open(struct event_base *base, const struct listen_conf *lc,
    listener_input_fn *input, char **cause) __attribute__((warn_unused_result));
/*
 * Closes a listener and frees it. Its socket stays in systemd's fd store (for
 * the next start when the daemon stops).
 */
void listener_close(struct listener *l);
/* Stops (paused) or starts again reading l's socket: datagrams wait in it meanwhile. */
void listener_pause(struct listener *l, bool paused);
/* Closes a listener for good: drops its socket from systemd's fd store too. */
void listener_drop(struct listener *l);
/*
 * Sends buf to peer from the local address the peer used. Datagrams are queued
 * and leave together in one sendmmsg() once the current pass of the event loop
 * has run (or when the queue is full, or the listener closes), in order.
 * Returns 0, or -1 with errno when buf cannot be queued or sent.
 */
int listener_send(struct listener *l, const struct sockaddr *peer, socklen_t peerlen,
    const struct local_addr *local, const void *buf, size_t len);
/*
 * Sends buf to peer at once, past the queue (safe from any thread: one
 * sendmsg; the handshake threads send this way). 0, or -1 with errno.
 */
int listener_send_now(const struct listener *l, const struct sockaddr *peer, socklen_t peerlen,
    const struct local_addr *local, const void *buf, size_t len);
/* Sends the queued datagrams now. */
void listener_flush(struct listener *l);
/* Formats addr as "1.2.3.4:5" or "[::1]:5" into buf. */
char *addr_format(const struct sockaddr *addr, char *buf, size_t len);
/* Formats the local address of a datagram (PKTINFO or the bound address). */
char *local_format(const struct listener *l, const struct local_addr *local, char *buf, size_t len);

#endif
