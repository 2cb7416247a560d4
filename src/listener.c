/* listener.c: UDP listening sockets, PKTINFO, and replies from the address used. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "configuration.h"
#include "listener.h"
#include "log.h"

#define LISTENER_BATCH 64          /* datagrams read per wake-up before yielding */
#define LISTENER_SOCKBUF (4 << 20) /* socket buffer bytes asked for */

static listener_input_fn *listener_input;

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

/* Reads up to a batch of datagrams and hands each to the input function. */
static void
listener_read_cb(evutil_socket_t fd, short what, void *arg)
{
	static uint8_t buf[65536];
	struct listener *l = arg;

	(void)what;
	for (int i = 0; i < LISTENER_BATCH; i++) {
		union {
			struct cmsghdr align;
			char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
		} control;
		struct datagram d = { .listener = l };
		struct iovec iov = { .iov_base = buf, .iov_len = sizeof buf };
		struct msghdr msg = { .msg_name = &d.peer, .msg_namelen = sizeof d.peer,
			.msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control,
			.msg_controllen = sizeof control };
		ssize_t n = recvmsg(fd, &msg, 0);

		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				log_warn("listener %s: recvmsg", l->name);
			return;
		}
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
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
		d.peerlen = msg.msg_namelen;
		d.data = buf;
		d.len = (size_t)n;
		listener_input(&d);
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

struct listener *
listener_open(struct event_base *base, const struct listen_conf *lc, listener_input_fn *input,
    char **cause)
{
	struct listener *l = calloc(1, sizeof *l);
	int on = 1, off = 0, sz = LISTENER_SOCKBUF;

	listener_input = input;
	if (l == NULL) {
		*cause = strdup("out of memory");
		return NULL;
	}
	l->addr = lc->addr;
	l->addrlen = lc->addrlen;
	l->wildcard = addr_is_wildcard(&lc->addr);
	addr_format((struct sockaddr *)&lc->addr, l->name, sizeof l->name);
	l->fd = socket(lc->addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l->fd < 0)
		goto fail;
	setsockopt(l->fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
	setsockopt(l->fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
	if (lc->addr.ss_family == AF_INET6) {
		/* "::" takes IPv4 too, as v4-mapped addresses. */
		if (setsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off) < 0 ||
		    setsockopt(l->fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, sizeof on) < 0)
			goto fail;
	} else if (setsockopt(l->fd, IPPROTO_IP, IP_PKTINFO, &on, sizeof on) < 0)
		goto fail;
	if (bind(l->fd, (struct sockaddr *)&lc->addr, lc->addrlen) < 0)
		goto fail;
	l->ev = event_new(base, l->fd, EV_READ | EV_PERSIST, listener_read_cb, l);
	if (l->ev == NULL || event_add(l->ev, NULL) < 0)
		goto fail;
	return l;

fail:
	if (asprintf(cause, "cannot listen on %s: %s", l->name, strerror(errno)) < 0)
		*cause = NULL;
	listener_close(l);
	return NULL;
}

void
listener_close(struct listener *l)
{
	if (l == NULL)
		return;
	if (l->ev != NULL)
		event_free(l->ev);
	if (l->fd >= 0)
		close(l->fd);
	free(l);
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

int
listener_send(struct listener *l, const struct sockaddr *peer, socklen_t peerlen,
    const struct local_addr *local, const void *buf, size_t len)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
	} control;
	struct iovec iov = { .iov_base = (void *)(uintptr_t)buf, .iov_len = len };
	struct msghdr msg = { .msg_name = (void *)(uintptr_t)peer, .msg_namelen = peerlen,
		.msg_iov = &iov, .msg_iovlen = 1 };

	if (local->family == AF_INET) {
		struct in_pktinfo pi = { .ipi_spec_dst = local->u.v4.ipi_addr };

		cmsg_put(&msg, &control, sizeof control, IPPROTO_IP, IP_PKTINFO, &pi, sizeof pi);
	} else if (local->family == AF_INET6) {
		struct in6_pktinfo pi = local->u.v6;

		/* The interface only matters for link-local addresses. */
		if (!IN6_IS_ADDR_LINKLOCAL(&pi.ipi6_addr))
			pi.ipi6_ifindex = 0;
		cmsg_put(&msg, &control, sizeof control, IPPROTO_IPV6, IPV6_PKTINFO, &pi, sizeof pi);
	}
	if (sendmsg(l->fd, &msg, MSG_DONTWAIT) < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
			return 0; /* like a loss on the wire; DTLS and CoAP retransmit */
		return -1;
	}
	return 0;
}
