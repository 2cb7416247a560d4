/* listener.c: UDP listening sockets, PKTINFO, and replies from the address used. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "clock.h"
#include "configuration.h"
#include "fdstore.h"
#include "listener.h"
#include "steer.h"
#include "worker.h"
#include "log.h"
#include "ratelimit.h"

#define LISTENER_BATCH 64          /* datagrams read per wake-up before yielding */
#define LISTENER_RX_SLOTS 16       /* datagrams read per recvmmsg() */
#define LISTENER_RX_DGRAM 17408    /* larger than any DTLS record mbedTLS accepts */
#define LISTENER_TX_SLOTS 32       /* datagrams sent per sendmmsg() */
#define LISTENER_TX_DGRAM 2304     /* larger datagrams are sent on their own */
#define LISTENER_SOCKBUF (4 << 20) /* socket buffer bytes asked for */

/* Space for one PKTINFO control message, either family. */
union pktinfo_control {
	struct cmsghdr align;
	char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
};

/* Datagrams queued for one sendmmsg(). */
struct listener_outbox {
	unsigned n;
	struct mmsghdr m[LISTENER_TX_SLOTS];
	struct iovec iov[LISTENER_TX_SLOTS];
	union peer_addr peer[LISTENER_TX_SLOTS];
	union pktinfo_control control[LISTENER_TX_SLOTS];
	uint8_t buf[LISTENER_TX_SLOTS][LISTENER_TX_DGRAM];
};

/* Datagrams read by one recvmmsg(); shared by the listeners of one worker. */
static _Thread_local struct {
	struct mmsghdr m[LISTENER_RX_SLOTS];
	struct iovec iov[LISTENER_RX_SLOTS];
	struct sockaddr_storage peer[LISTENER_RX_SLOTS];
	union pktinfo_control control[LISTENER_RX_SLOTS];
	uint8_t buf[LISTENER_RX_SLOTS][LISTENER_RX_DGRAM];
} rx;

static _Thread_local listener_input_fn *listener_input;

static void listener_flush_cb(evutil_socket_t fd, short what, void *arg);

char *
addr_format(const struct sockaddr *addr, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	if (addr->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)addr;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
		snprintf(buf, len, "%s:%u", host, ntohs(in->sin_port));
	} else if (addr->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)addr;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
		snprintf(buf, len, "[%s]:%u", host, ntohs(in6->sin6_port));
	} else
		snprintf(buf, len, "(unknown)");
	return buf;
}

char *
local_format(const struct listener *l, const struct local_addr *local, char *buf, size_t len)
{
	struct sockaddr_storage ss = l->addr;

	if (local->family == AF_INET && l->addr.ss_family == AF_INET)
		((struct sockaddr_in *)&ss)->sin_addr = local->u.v4.ipi_addr;
	else if (local->family == AF_INET6 && l->addr.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&ss)->sin6_addr = local->u.v6.ipi6_addr;
	return addr_format((struct sockaddr *)&ss, buf, len);
}

/* Hands one received datagram (slot i of rx) to the input function. */
static void
listener_deliver(struct listener *l, unsigned i)
{
	struct msghdr *msg = &rx.m[i].msg_hdr;
	struct datagram d = { .listener = l };

	if (msg->msg_flags & MSG_TRUNC)
		return; /* larger than any record mbedTLS accepts */
	for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c != NULL; c = CMSG_NXTHDR(msg, c)) {
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
			d.local.family = AF_INET;
			memcpy(&d.local.u.v4, CMSG_DATA(c), sizeof d.local.u.v4);
		} else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
			d.local.family = AF_INET6;
			memcpy(&d.local.u.v6, CMSG_DATA(c), sizeof d.local.u.v6);
		}
	}
	if (!l->wildcard)
		d.local.family = 0; /* the bound address is the source already */
	memcpy(&d.peer, &rx.peer[i],
	    msg->msg_namelen <= sizeof d.peer ? msg->msg_namelen : sizeof d.peer);
	d.peerlen = msg->msg_namelen;
	d.data = rx.buf[i];
	d.len = rx.m[i].msg_len;
	listener_input(&d);
}

/* Reads datagrams in batches (recvmmsg) and hands each to the input function. */
static void
listener_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct listener *l = arg;

	(void)what;
	for (int got = 0; got < LISTENER_BATCH;) {
		int n;

		/* The kernel shortens the name and control lengths it fills in. */
		for (unsigned i = 0; i < LISTENER_RX_SLOTS; i++) {
			struct msghdr *msg = &rx.m[i].msg_hdr;

			msg->msg_namelen = sizeof rx.peer[i];
			msg->msg_controllen = sizeof rx.control[i];
		}
		n = recvmmsg(fd, rx.m, LISTENER_RX_SLOTS, MSG_DONTWAIT, NULL);
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				log_warn("listener %s: recvmmsg", l->name);
			return;
		}
		for (int i = 0; i < n; i++)
			listener_deliver(l, (unsigned)i);
		/* A short batch emptied the socket: no extra call to learn it. */
		if (n < LISTENER_RX_SLOTS)
			return;
		got += n;
	}
}

/* Tells whether addr is the wildcard address of its family. */
static bool
addr_is_wildcard(const struct sockaddr_storage *addr)
{
	if (addr->ss_family == AF_INET)
		return ((const struct sockaddr_in *)addr)->sin_addr.s_addr == htonl(INADDR_ANY);
	return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)addr)->sin6_addr);
}

/* Writes the name of l's socket in systemd's fd store ("listen-" and the address, ':' as '_'). */
static void
listener_store_name(const struct listener *l, char *buf, size_t len)
{
	size_t n = (size_t)snprintf(buf, len, "listen-%s", l->name);

	/* Worker 0's socket keeps the name it had before there were workers. */
	if (worker_self() > 0 && n < len)
		snprintf(buf + n, len - n, "-w%u", worker_self());
	for (char *p = buf; *p != '\0'; p++)
		if (*p == ':')
			*p = '_';
}

/* Tells whether an fd store name is that of worker K > 0's socket ("...-wK"). */
static bool
listener_name_of_worker(const char *name)
{
	const char *w = strrchr(name, '-');

	if (w == NULL || w[1] != 'w' || w[2] == '\0')
		return false;
	for (w += 2; *w != '\0'; w++)
		if (*w < '0' || *w > '9')
			return false;
	return true;
}

/* What listener_adopt looks for, and the name under which it found it. */
struct listener_adopt_arg {
	const struct listen_conf *lc;
	const char *want; /* our fd store name for this worker's socket */
	char name[256];
};

/* Tells whether the inherited fd is a UDP socket bound to the address arg->lc asks for. */
static bool
listener_inherited_match(int fd, const char *name, void *arg)
{
	struct listener_adopt_arg *aa = arg;
	const struct listen_conf *lc = aa->lc;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	int type = 0, domain = 0;
	socklen_t ol = sizeof type;

	snprintf(aa->name, sizeof aa->name, "%s", name);
	/* Worker K > 0 takes the socket it stored; worker 0 any other one of its address. */
	if (worker_self() > 0 ? strcmp(name, aa->want) != 0 : listener_name_of_worker(name))
		return false;
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &ol) < 0 || type != SOCK_DGRAM)
		return false;
	ol = sizeof domain;
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &ol) < 0 || domain != lc->addr.ss_family)
		return false;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0 || ss.ss_family != lc->addr.ss_family)
		return false;
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
		const struct sockaddr_in *b = (const struct sockaddr_in *)&lc->addr;

		return a->sin_port == b->sin_port && a->sin_addr.s_addr == b->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
	const struct sockaddr_in6 *b = (const struct sockaddr_in6 *)&lc->addr;

	return a->sin6_port == b->sin6_port && IN6_ARE_ADDR_EQUAL(&a->sin6_addr, &b->sin6_addr) &&
	       a->sin6_scope_id == b->sin6_scope_id;
}

/*
 * Takes the socket systemd kept for lc's address (fd store, or a socket
 * passed at start), or -1. An IPv6 one whose IPV6_V6ONLY differs from ours
 * (off: "::" takes IPv4 too), which a bound socket cannot change, is closed
 * and dropped from the store: the caller then binds a new one. With workers,
 * one without SO_REUSEPORT is dropped too if it is ours (FDNAME=listen-...,
 * kept by a run with one worker), else (a .socket unit's) kept for worker 0
 * alone (l->shared false): no datagram waiting in it is lost.
 */
static int
listener_adopt(struct listener *l, const struct listen_conf *lc)
{
	char want[128];
	struct listener_adopt_arg aa = { .lc = lc, .want = want };
	int fd, v6only = 0, reuse = 0, fl;
	socklen_t ol = sizeof v6only;

	listener_store_name(l, want, sizeof want);
	fd = fdstore_take("", listener_inherited_match, &aa);
	if (fd < 0)
		return -1;
	ol = sizeof v6only;
	if (lc->addr.ss_family == AF_INET6 &&
	    (getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &ol) < 0 || v6only != 0)) {
		log_warnx(
		    "event=fdstore-dropped address=%s reason=\"inherited socket is IPv6-only\"",
		    l->name);
		close(fd);
		fdstore_remove(aa.name);
		return -1;
	}
	ol = sizeof reuse;
	if (worker_count() > 1 &&
	    (getsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &reuse, &ol) < 0 || reuse == 0)) {
		if (strncmp(aa.name, "listen-", 7) == 0) {
			/* Ours, kept by a run with one worker: shared from now on (its queue is lost once). */
			log_warnx(
			    "event=fdstore-dropped address=%s reason=\"the kept socket has no "
			    "SO_REUSEPORT (kept by a run with one worker): a new one is bound\"",
			    l->name);
			close(fd);
			fdstore_remove(aa.name);
			return -1;
		}
		/* A .socket unit's: its queue may hold datagrams; worker 0 reads it alone. */
		log_warnx("event=listener-not-shared address=%s reason=\"the socket systemd passed "
		          "has no SO_REUSEPORT (ReusePort=yes in a .socket unit): worker 0 takes "
		          "all of its datagrams\"",
		    l->name);
		l->shared = false;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		close(fd);
		l->shared = worker_count() > 1;
		return -1;
	}
	return fd;
}

/*
 * Tells whether some socket already holds the address of lc: a bind without
 * SO_REUSEPORT fails then. The workers' sockets bind with SO_REUSEPORT, which
 * would let them join the group of another process of the same user (a second
 * coaps-proxyd on the same port) and share its datagrams without a word.
 */
static bool
listener_address_taken(const struct listen_conf *lc)
{
	int off = 0, fd = socket(lc->addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	bool taken;

	if (fd < 0)
		return false; /* the real socket says why */
	if (lc->addr.ss_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
	taken =
	    bind(fd, (const struct sockaddr *)&lc->addr, lc->addrlen) < 0 && errno == EADDRINUSE;
	close(fd);
	return taken;
}

struct listener *
listener_open(struct event_base *base, const struct listen_conf *lc, listener_input_fn *input,
    char **cause)
{
	struct listener *l = calloc(1, sizeof *l);
	int on = 1, off = 0, sz = LISTENER_SOCKBUF;
	char store[128];

	listener_input = input;
	if (l == NULL) {
		*cause = strdup("out of memory");
		return NULL;
	}
	l->addr = lc->addr;
	l->addrlen = lc->addrlen;
	l->wildcard = addr_is_wildcard(&lc->addr);
	addr_format((struct sockaddr *)&lc->addr, l->name, sizeof l->name);
	l->shared = worker_count() > 1;
	l->fd = listener_adopt(l, lc);
	l->adopted = l->fd >= 0;
	/* The group's first socket (worker 0's) makes sure that it starts the group. */
	if (!l->adopted && l->shared && worker_self() == 0 && listener_address_taken(lc)) {
		errno = EADDRINUSE;
		goto fail;
	}
	if (!l->adopted)
		l->fd = socket(lc->addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l->fd < 0)
		goto fail;
	setsockopt(l->fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
	setsockopt(l->fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
	if (lc->addr.ss_family == AF_INET6) {
		/* "::" takes IPv4 too, as v4-mapped addresses. */
		if ((!l->adopted &&
		        setsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off) < 0) ||
		    setsockopt(l->fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, sizeof on) < 0)
			goto fail;
	} else if (setsockopt(l->fd, IPPROTO_IP, IP_PKTINFO, &on, sizeof on) < 0)
		goto fail;
	/* Workers: one socket each in a SO_REUSEPORT group, steered by steer.c's rule. */
	if (worker_count() > 1 && !l->adopted &&
	    setsockopt(l->fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) < 0)
		goto fail;
	if (!l->adopted && bind(l->fd, (struct sockaddr *)&lc->addr, lc->addrlen) < 0)
		goto fail;
	if (l->shared && steer_attach(l->fd, worker_count()) < 0)
		goto fail;
	for (unsigned i = 0; i < LISTENER_RX_SLOTS; i++) {
		struct msghdr *msg = &rx.m[i].msg_hdr;

		rx.iov[i].iov_base = rx.buf[i];
		rx.iov[i].iov_len = sizeof rx.buf[i];
		msg->msg_name = &rx.peer[i];
		msg->msg_iov = &rx.iov[i];
		msg->msg_iovlen = 1;
		msg->msg_control = &rx.control[i];
	}
	l->out = calloc(1, sizeof *l->out);
	l->flush_ev = event_new(base, -1, 0, listener_flush_cb, l);
	if (l->out == NULL || l->flush_ev == NULL)
		goto fail;
	l->ev = event_new(base, l->fd, EV_READ | EV_PERSIST, listener_read_cb, l);
	if (l->ev == NULL || event_add(l->ev, NULL) < 0)
		goto fail;
	/* systemd keeps a copy: the port stays bound while the daemon restarts. */
	listener_store_name(l, store, sizeof store);
	if (fdstore_put(store, l->fd) < 0 && errno != ENOSYS)
		log_warnx("event=fdstore-failed address=%s reason=\"%s\"", l->name,
		    strerror(errno));
	return l;

fail:
	if (asprintf(cause, "cannot listen on %s: %s", l->name, strerror(errno)) < 0)
		*cause = NULL;
	listener_close(l);
	return NULL;
}

void
listener_pause(struct listener *l, bool paused)
{
	if (paused)
		event_del(l->ev);
	else if (event_add(l->ev, NULL) < 0)
		log_warnx("event=listener-failed address=%s reason=\"cannot watch its socket\"",
		    l->name);
}

void
listener_close(struct listener *l)
{
	if (l == NULL)
		return;
	if (l->fd >= 0)
		listener_flush(l);
	if (l->ev != NULL)
		event_free(l->ev);
	if (l->flush_ev != NULL)
		event_free(l->flush_ev);
	if (l->fd >= 0)
		close(l->fd);
	free(l->out);
	free(l);
}

void
listener_drop(struct listener *l)
{
	char name[128];

	if (l == NULL)
		return;
	listener_store_name(l, name, sizeof name);
	fdstore_remove(name);
	listener_close(l);
}

/* Puts one control message (level, type, data) into msg, whose buffer is control. */
static void
cmsg_put(struct msghdr *msg, void *control, size_t space, int level, int type, const void *data,
    size_t len)
{
	struct cmsghdr *c;

	memset(control, 0, space);
	msg->msg_control = control;
	msg->msg_controllen = CMSG_SPACE(len);
	c = CMSG_FIRSTHDR(msg);
	c->cmsg_level = level;
	c->cmsg_type = type;
	c->cmsg_len = CMSG_LEN(len);
	memcpy(CMSG_DATA(c), data, len);
}

/* Fills msg's PKTINFO control message for the local address (none when unknown). */
static void
pktinfo_put(struct msghdr *msg, union pktinfo_control *control, const struct local_addr *local)
{
	msg->msg_control = NULL;
	msg->msg_controllen = 0;
	if (local->family == AF_INET) {
		struct in_pktinfo pi = { .ipi_spec_dst = local->u.v4.ipi_addr };

		cmsg_put(msg, control, sizeof *control, IPPROTO_IP, IP_PKTINFO, &pi, sizeof pi);
	} else if (local->family == AF_INET6) {
		struct in6_pktinfo pi = local->u.v6;

		/* The interface only matters for link-local addresses. */
		if (!IN6_IS_ADDR_LINKLOCAL(&pi.ipi6_addr))
			pi.ipi6_ifindex = 0;
		cmsg_put(msg, control, sizeof *control, IPPROTO_IPV6, IPV6_PKTINFO, &pi, sizeof pi);
	}
}

/* Whether a send error is a loss on the wire (DTLS and CoAP retransmit). */
static bool
send_error_is_loss(int err)
{
	return err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS;
}

int
listener_send_now(const struct listener *l, const struct sockaddr *peer, socklen_t peerlen,
    const struct local_addr *local, const void *buf, size_t len)
{
	union pktinfo_control control;
	struct iovec iov = { .iov_base = (void *)(uintptr_t)buf, .iov_len = len };
	struct msghdr one = { .msg_name = (void *)(uintptr_t)peer,
		.msg_namelen = peerlen,
		.msg_iov = &iov,
		.msg_iovlen = 1 };

	pktinfo_put(&one, &control, local);
	if (sendmsg(l->fd, &one, MSG_DONTWAIT) < 0 && !send_error_is_loss(errno))
		return -1;
	return 0;
}

void
listener_flush(struct listener *l)
{
	struct listener_outbox *ob = l->out;
	unsigned done = 0;

	if (ob == NULL)
		return;
	while (done < ob->n) {
		int n = sendmmsg(l->fd, ob->m + done, ob->n - done, MSG_DONTWAIT);

		if (n > 0) {
			done += (unsigned)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && send_error_is_loss(errno))
			break; /* the socket buffer is full: the rest is lost like on the wire */
		if (n < 0) {
			static _Thread_local struct ratelimit send_rl;
			char peer[INET6_ADDRSTRLEN + 8];

			/* One datagram the kernel refuses: say so (once a second), skip it. */
			if (ratelimit_allow(&send_rl, clock_ms(), 1, NULL)) {
				log_warn("listener %s: send to %s", l->name,
				    addr_format(&ob->peer[done].sa, peer, sizeof peer));
			}
		}
		done++;
	}
	ob->n = 0;
}

/* libevent: the loop pass that queued datagrams is over; send them. */
static void
listener_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	listener_flush(arg);
}

int
listener_send(struct listener *l, const struct sockaddr *peer, socklen_t peerlen,
    const struct local_addr *local, const void *buf, size_t len)
{
	struct listener_outbox *ob = l->out;
	struct msghdr *msg;
	unsigned i;

	if (len > LISTENER_TX_DGRAM || peerlen > sizeof ob->peer[0]) {
		/* Rare (large handshake flights): send on its own, after what is queued. */
		listener_flush(l);
		return listener_send_now(l, peer, peerlen, local, buf, len);
	}
	if (ob->n == LISTENER_TX_SLOTS)
		listener_flush(l);
	i = ob->n++;
	msg = &ob->m[i].msg_hdr;
	memcpy(ob->buf[i], buf, len);
	memcpy(&ob->peer[i], peer, peerlen);
	ob->iov[i].iov_base = ob->buf[i];
	ob->iov[i].iov_len = len;
	msg->msg_name = &ob->peer[i];
	msg->msg_namelen = peerlen;
	msg->msg_iov = &ob->iov[i];
	msg->msg_iovlen = 1;
	msg->msg_flags = 0;
	pktinfo_put(msg, &ob->control[i], local);
	if (i == 0)
		event_active(l->flush_ev, 0, 0);
	return 0;
}
