/* servers.c: the bench's plain-CoAP echo backend and its minimal UDP relay. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "bench.h"

#define SRV_BATCH 64
#define SRV_DGRAM 9216
#define RELAY_TABLE 32768 /* power of two; at most half of it used */

/* Bind a UDP socket to ADDR:PORT; the fd or -1 with a message. */
static int
srv_bind(const char *spec, bool nonblock)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1, buf = 4 << 20;

	if (spec == NULL || tls_parse_addr(spec, &ss, &len) != 0) {
		fprintf(stderr, "coaps-bench: bad address %s\n", spec ? spec : "(none)");
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0)
		return -1;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	if (bind(fd, (struct sockaddr *)&ss, len) != 0) {
		fprintf(stderr, "coaps-bench: bind %s: %s\n", spec, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Build the echo answer to one request into out; its length or 0 for none. */
static size_t
backend_answer(const uint8_t *in, size_t len, uint8_t *out, uint16_t *mid_next)
{
	struct coap_view v;
	size_t n;

	if (bcoap_parse(in, len, &v) != 0)
		return 0;
	if (v.code == 0) {
		/* Ping (empty CON) gets a RST; empty ACK/RST nothing. */
		return v.type == 0 ? bcoap_header(out, 3, 0, v.mid, NULL, 0) : 0;
	}
	if (v.code >= 32 || v.type > 1)
		return 0; /* responses, ACKs, RSTs */
	if (v.type == 0)
		n = bcoap_header(out, 2 /* ACK */, 69 /* 2.05 */, v.mid, v.token, v.tkl);
	else
		n = bcoap_header(out, 1 /* NON */, 69, (*mid_next)++, v.token, v.tkl);
	if (v.payload_len > 0 && n + 1 + v.payload_len <= SRV_DGRAM) {
		out[n++] = 0xff;
		memcpy(out + n, v.payload, v.payload_len);
		n += v.payload_len;
	}
	return n;
}

/* The echo backend: answers every CON with a piggybacked 2.05 echoing the payload. */
int
backend_run(const struct bench_opts *o)
{
	static uint8_t inbuf[SRV_BATCH][SRV_DGRAM], outbuf[SRV_BATCH][SRV_DGRAM];
	static struct mmsghdr im[SRV_BATCH], om[SRV_BATCH];
	static struct iovec iiov[SRV_BATCH], oiov[SRV_BATCH];
	static struct sockaddr_storage peer[SRV_BATCH];
	uint16_t mid_next = 1;
	int fd = srv_bind(o->listen, false);

	if (fd < 0)
		return 1;
	if (!o->quiet)
		fprintf(stderr, "coaps-bench: echo backend on %s\n", o->listen);
	for (unsigned i = 0; i < SRV_BATCH; i++) {
		iiov[i].iov_base = inbuf[i];
		im[i].msg_hdr.msg_iov = &iiov[i];
		im[i].msg_hdr.msg_iovlen = 1;
		im[i].msg_hdr.msg_name = &peer[i];
		oiov[i].iov_base = outbuf[i];
		om[i].msg_hdr.msg_iov = &oiov[i];
		om[i].msg_hdr.msg_iovlen = 1;
	}
	for (;;) {
		unsigned nout = 0;
		int n;

		for (unsigned i = 0; i < SRV_BATCH; i++) {
			iiov[i].iov_len = SRV_DGRAM;
			im[i].msg_hdr.msg_namelen = sizeof(peer[i]);
		}
		n = recvmmsg(fd, im, SRV_BATCH, MSG_WAITFORONE, NULL);
		if (n < 0) {
			if (errno == EINTR || errno == ECONNREFUSED)
				continue;
			fprintf(stderr, "coaps-bench: recvmmsg: %s\n", strerror(errno));
			return 1;
		}
		for (int i = 0; i < n; i++) {
			size_t len =
			    backend_answer(inbuf[i], im[i].msg_len, outbuf[nout], &mid_next);
			if (len == 0)
				continue;
			oiov[nout].iov_len = len;
			om[nout].msg_hdr.msg_name = &peer[i];
			om[nout].msg_hdr.msg_namelen = im[i].msg_hdr.msg_namelen;
			nout++;
		}
		for (unsigned done = 0; done < nout;) {
			int s = sendmmsg(fd, om + done, nout - done, 0);
			if (s <= 0) {
				if (s < 0 && errno == EINTR)
					continue;
				break; /* drop: the client retransmits */
			}
			done += (unsigned)s;
		}
	}
}

struct relay;

/* One client address and its upstream socket. */
struct relay_peer {
	struct relay *r;
	struct sockaddr_storage addr;
	socklen_t len;
	int fd; /* 0 when the entry is free (fd 0 is stdin) */
	struct event *ev;
};

/* The relay: one listening socket, a table of peers, a batch towards clients. */
struct relay {
	struct event_base *base;
	int lfd;
	struct sockaddr_storage to;
	socklen_t to_len;
	struct relay_peer *tab;
	unsigned n_peers;
	struct event *ev_listen, *ev_flush;
	unsigned nout;
	struct mmsghdr om[SRV_BATCH], im[SRV_BATCH];
	struct iovec oiov[SRV_BATCH], iiov[SRV_BATCH];
	struct sockaddr_storage ipeer[SRV_BATCH];
	uint8_t obuf[SRV_BATCH][SRV_DGRAM], ibuf[SRV_BATCH][SRV_DGRAM];
};

/* FNV-1a over the address bytes that identify a peer. */
static unsigned
relay_hash(const struct sockaddr_storage *ss, socklen_t len)
{
	const uint8_t *p = (const uint8_t *)ss;
	uint32_t h = 2166136261u;

	for (socklen_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 16777619u;
	return h & (RELAY_TABLE - 1);
}

/* Send the batch of datagrams queued towards clients. */
static void
relay_flush(struct relay *r)
{
	for (unsigned done = 0; done < r->nout;) {
		int s = sendmmsg(r->lfd, r->om + done, r->nout - done, 0);
		if (s <= 0) {
			if (s < 0 && errno == EINTR)
				continue;
			break;
		}
		done += (unsigned)s;
	}
	r->nout = 0;
}

/* Deferred flush: activated last, so it runs after the I/O callbacks already active. */
static void
relay_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	relay_flush(arg);
}

/* Upstream readable: queue the backend's datagrams towards the client. */
static void
relay_upstream_cb(evutil_socket_t fd, short what, void *arg)
{
	struct relay_peer *p = arg;
	struct relay *r = p->r;

	(void)what;
	for (int round = 0; round < 8; round++) {
		ssize_t n;
		if (r->nout == SRV_BATCH)
			relay_flush(r);
		n = recv(fd, r->obuf[r->nout], SRV_DGRAM, MSG_DONTWAIT);
		if (n < 0)
			break;
		r->oiov[r->nout].iov_len = (size_t)n;
		r->om[r->nout].msg_hdr.msg_name = &p->addr;
		r->om[r->nout].msg_hdr.msg_namelen = p->len;
		if (r->nout++ == 0)
			event_active(r->ev_flush, EV_TIMEOUT, 0);
	}
}

/* Find the peer for an address, creating its upstream socket; NULL when full. */
static struct relay_peer *
relay_peer_get(struct relay *r, const struct sockaddr_storage *ss, socklen_t len)
{
	unsigned h = relay_hash(ss, len);
	struct relay_peer *p;

	for (;; h = (h + 1) & (RELAY_TABLE - 1)) {
		p = &r->tab[h];
		if (p->fd == 0)
			break;
		if (p->len == len && memcmp(&p->addr, ss, len) == 0)
			return p;
	}
	if (r->n_peers >= RELAY_TABLE / 2)
		return NULL;
	p->fd = socket(r->to.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->fd <= 0) {
		p->fd = 0;
		return NULL;
	}
	if (connect(p->fd, (struct sockaddr *)&r->to, r->to_len) != 0 ||
	    (p->ev = event_new(r->base, p->fd, EV_READ | EV_PERSIST, relay_upstream_cb, p)) ==
	        NULL) {
		close(p->fd);
		p->fd = 0;
		return NULL;
	}
	p->r = r;
	memcpy(&p->addr, ss, len);
	p->len = len;
	event_add(p->ev, NULL);
	r->n_peers++;
	return p;
}

/* Listening socket readable: forward each client datagram upstream. */
static void
relay_listen_cb(evutil_socket_t fd, short what, void *arg)
{
	struct relay *r = arg;

	(void)what;
	for (int round = 0; round < 4; round++) {
		int n;
		for (unsigned i = 0; i < SRV_BATCH; i++) {
			r->iiov[i].iov_len = SRV_DGRAM;
			r->im[i].msg_hdr.msg_namelen = sizeof(r->ipeer[i]);
		}
		n = recvmmsg(fd, r->im, SRV_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			return;
		for (int i = 0; i < n; i++) {
			struct relay_peer *p =
			    relay_peer_get(r, &r->ipeer[i], r->im[i].msg_hdr.msg_namelen);
			if (p != NULL)
				(void)send(p->fd, r->ibuf[i], r->im[i].msg_len, MSG_DONTWAIT);
		}
		if (n < SRV_BATCH)
			return;
	}
}

/* The minimal single-threaded UDP relay: the floor for any proxy. */
int
relay_run(const struct bench_opts *o)
{
	struct relay *r = calloc(1, sizeof(*r));

	if (r == NULL || (r->tab = calloc(RELAY_TABLE, sizeof(*r->tab))) == NULL)
		return 1;
	if (o->to == NULL || tls_parse_addr(o->to, &r->to, &r->to_len) != 0) {
		fprintf(stderr, "coaps-bench: --udp-relay needs --to ADDR:PORT\n");
		return 1;
	}
	if ((r->lfd = srv_bind(o->listen, true)) < 0)
		return 1;
	for (unsigned i = 0; i < SRV_BATCH; i++) {
		r->oiov[i].iov_base = r->obuf[i];
		r->om[i].msg_hdr.msg_iov = &r->oiov[i];
		r->om[i].msg_hdr.msg_iovlen = 1;
		r->iiov[i].iov_base = r->ibuf[i];
		r->im[i].msg_hdr.msg_iov = &r->iiov[i];
		r->im[i].msg_hdr.msg_iovlen = 1;
		r->im[i].msg_hdr.msg_name = &r->ipeer[i];
	}
	r->base = event_base_new();
	if (r->base == NULL)
		return 1;
	r->ev_listen = event_new(r->base, r->lfd, EV_READ | EV_PERSIST, relay_listen_cb, r);
	r->ev_flush = event_new(r->base, -1, 0, relay_flush_cb, r);
	if (r->ev_listen == NULL || r->ev_flush == NULL)
		return 1;
	event_add(r->ev_listen, NULL);
	if (!o->quiet)
		fprintf(stderr, "coaps-bench: udp relay %s -> %s\n", o->listen, o->to);
	event_base_dispatch(r->base);
	return 0;
}
