/* client.c: the load generator: N DTLS (or plain) CoAP sessions on one libevent loop. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/ssl.h>

#include "../tools/tls-compat.h"
#include "bench.h"

#define DGRAM_MAX 17408 /* one datagram: DTLS record or plain CoAP */
#define BATCH 32        /* datagrams per recvmmsg/sendmmsg */
#define TOKEN_LEN 8
#define COAP_ACK_TIMEOUT_NS 2000000000ull /* RFC 7252 ACK_TIMEOUT */
#define COAP_MAX_RETRANSMIT 4
#define RESTART_DELAY_MS 200 /* pause after a failed session */

/* What a session is doing. */
enum sess_state {
	S_IDLE,      /* not started or waiting for a handshake slot */
	S_HANDSHAKE, /* DTLS handshake in progress */
	S_READY,     /* sending requests */
	S_RESTART,   /* failed; a timer opens it again */
	S_DONE,      /* closed at the end of the run */
};

/* One request in flight. */
struct slot {
	bool busy, acked;
	uint8_t retx;
	uint16_t mid, seq;
	uint64_t t_sent, t_next, timeout;
};

struct client;

/* One DTLS (or plain) session with its socket and K request slots. */
struct session {
	struct client *c;
	uint32_t idx;
	int fd;
	enum sess_state st;
	bool ssl_ready; /* ssl set up (reset before reuse) */
	struct event *ev_read, *ev_timer;
	mbedtls_ssl_context ssl;
	mbedtls_ssl_session saved; /* --resume: the session offered to the next handshake */
	bool have_saved;
	uint64_t t_int, t_fin; /* mbedTLS timer deadlines (ns), t_fin 0: off */
	uint64_t t_hs;         /* handshake start */
	uint16_t next_mid;
	unsigned busy;
	uint64_t issued, settled; /* requests of this session */
	struct slot *slots;
	const uint8_t *rx; /* datagram waiting for mbedTLS's recv */
	size_t rx_len;
};

/* Datagrams queued for one sendmmsg on one socket. */
struct outbox {
	int fd;
	unsigned n;
	struct mmsghdr m[BATCH];
	struct iovec iov[BATCH];
	uint8_t buf[BATCH][DGRAM_MAX];
};

/* Datagrams read by one recvmmsg. */
struct inbox {
	struct mmsghdr m[BATCH];
	struct iovec iov[BATCH];
	uint8_t buf[BATCH][DGRAM_MAX];
};

/* The whole run. */
struct client {
	const struct bench_opts *o;
	struct event_base *base;
	struct session *s;
	bool dtls;
	mbedtls_ssl_config conf;
	mbedtls_ctr_drbg_context drbg;
	mbedtls_entropy_context entropy;
	mbedtls_x509_crt cert, ca;
	mbedtls_pk_context key;
	int suites[2];
	struct sockaddr_storage target;
	socklen_t target_len;
	struct sockaddr_storage src[BENCH_MAX_SRC_ADDRS];
	socklen_t src_len[BENCH_MAX_SRC_ADDRS];
	unsigned n_src, src_next;
	uint8_t tail[BENCH_MAX_SIZE + BENCH_MAX_URI + 512];
	size_t tail_len;
	uint8_t code;
	struct bench_result r;
	char mode[64];
	uint64_t issued, finished;
	unsigned sessions_done; /* sessions that used up --requests-per-session */
	bool stopping;
	bool waking;        /* --wake-rate phase after the hold */
	unsigned wake_next; /* next session to wake */
	uint64_t wake_settled;
	double t_wake;
	unsigned hs_active;
	uint32_t *rq; /* sessions waiting for a handshake slot (ring) */
	unsigned rq_head, rq_n;
	struct event *ev_retx, *ev_end, *ev_int, *ev_hold, *ev_wake, *ev_rate;
	double rate_credit;     /* --rate: requests due but not yet sent */
	uint64_t rate_last;     /* --rate: last tick (ns) */
	unsigned rate_next;     /* --rate: next session to look at */
	bool all_established;   /* every session completed its first handshake */
	uint64_t t_last_answer; /* ns of the last 2.xx answer, 0: none yet */
	uint64_t rng;           /* --loss: xorshift64 state */
	double t_start, t_first_req, t_last_hs, t_end, cpu_start, srv_cpu_start;
	uint8_t app[DGRAM_MAX]; /* decrypted record */
	struct outbox out;
	struct inbox in;
};

static void session_open(struct session *s);
static void session_fail(struct session *s, uint64_t *counter);
static void client_finish(struct client *c);
static void client_close_all(struct client *c);

/* Whether requests are still being retransmitted and answered. */
static bool
client_running(const struct client *c)
{
	return !c->stopping || c->waking;
}

/* --loss: whether to drop the next datagram (seeded xorshift64, PCT in 100). */
static bool
loss_drop(struct client *c)
{
	if (c->o->loss == 0)
		return false;
	c->rng ^= c->rng << 13;
	c->rng ^= c->rng >> 7;
	c->rng ^= c->rng << 17;
	return c->rng % 100 < c->o->loss;
}

/* Send everything queued in the outbox. */
static void
outbox_flush(struct client *c)
{
	struct outbox *ob = &c->out;
	unsigned done = 0;

	while (done < ob->n) {
		int n = sendmmsg(ob->fd, ob->m + done, ob->n - done, 0);
		if (n <= 0) {
			/* Dropped datagrams are retransmitted like lost ones. */
			if (n < 0 && errno == EINTR)
				continue;
			break;
		}
		done += (unsigned)n;
	}
	ob->n = 0;
}

/* Reserve a datagram buffer for fd in the outbox (flushing when needed). */
static uint8_t *
outbox_slot(struct client *c, int fd)
{
	struct outbox *ob = &c->out;

	if (ob->n > 0 && (ob->fd != fd || ob->n == BATCH))
		outbox_flush(c);
	ob->fd = fd;
	return ob->buf[ob->n];
}

/* Commit the buffer from outbox_slot with its length. */
static void
outbox_commit(struct client *c, size_t len)
{
	struct outbox *ob = &c->out;

	ob->iov[ob->n].iov_len = len;
	ob->n++;
}

/* mbedTLS send callback: queue the datagram in the outbox. */
static int
bio_send(void *ctx, const unsigned char *buf, size_t len)
{
	struct session *s = ctx;

	if (len > DGRAM_MAX)
		return MBEDTLS_ERR_SSL_BAD_INPUT_DATA;
	if (loss_drop(s->c)) {
		s->c->r.dropped_out++;
		return (int)len; /* lost on the way */
	}
	memcpy(outbox_slot(s->c, s->fd), buf, len);
	outbox_commit(s->c, len);
	return (int)len;
}

/* mbedTLS receive callback: hand over the datagram the read callback holds. */
static int
bio_recv(void *ctx, unsigned char *buf, size_t len)
{
	struct session *s = ctx;
	size_t n;

	if (s->rx == NULL)
		return MBEDTLS_ERR_SSL_WANT_READ;
	n = s->rx_len < len ? s->rx_len : len;
	memcpy(buf, s->rx, n);
	s->rx = NULL;
	return (int)n;
}

/* mbedTLS timer callback: arm (or cancel) the session's libevent timer. */
static void
timer_set(void *ctx, uint32_t int_ms, uint32_t fin_ms)
{
	struct session *s = ctx;
	uint64_t now;
	struct timeval tv;

	if (fin_ms == 0) {
		s->t_fin = 0;
		evtimer_del(s->ev_timer);
		return;
	}
	now = stats_now_ns();
	s->t_int = now + (uint64_t)int_ms * 1000000u;
	s->t_fin = now + (uint64_t)fin_ms * 1000000u;
	tv.tv_sec = fin_ms / 1000;
	tv.tv_usec = (fin_ms % 1000) * 1000;
	evtimer_add(s->ev_timer, &tv);
}

/* mbedTLS timer callback: -1 off, 0 running, 1 intermediate passed, 2 final passed. */
static int
timer_get(void *ctx)
{
	struct session *s = ctx;
	uint64_t now;

	if (s->t_fin == 0)
		return -1;
	now = stats_now_ns();
	if (now >= s->t_fin)
		return 2;
	if (now >= s->t_int)
		return 1;
	return 0;
}

/* Whether another request may start. */
static bool
client_may_issue(const struct client *c)
{
	return !c->stopping && (c->o->count == 0 || c->issued < c->o->count);
}

/* Build and send (or resend) the request in slot i. */
static void
request_send(struct session *s, unsigned i)
{
	struct client *c = s->c;
	struct slot *sl = &s->slots[i];
	uint8_t token[TOKEN_LEN], *p, scratch[4 + TOKEN_LEN + sizeof(c->tail)];
	size_t n;

	token[0] = (uint8_t)(s->idx >> 24);
	token[1] = (uint8_t)(s->idx >> 16);
	token[2] = (uint8_t)(s->idx >> 8);
	token[3] = (uint8_t)s->idx;
	token[4] = (uint8_t)(i >> 8);
	token[5] = (uint8_t)i;
	token[6] = (uint8_t)(sl->seq >> 8);
	token[7] = (uint8_t)sl->seq;
	p = c->dtls ? scratch : outbox_slot(c, s->fd);
	n = bcoap_header(p, 0 /* CON */, c->code, sl->mid, token, TOKEN_LEN);
	memcpy(p + n, c->tail, c->tail_len);
	n += c->tail_len;
	if (!c->dtls) {
		outbox_commit(c, n);
		return;
	}
	if (mbedtls_ssl_write(&s->ssl, p, n) < 0)
		c->r.err_io++;
}

/* Start a new request in free slot i: new MID and token, first transmission. */
static void
slot_start(struct session *s, unsigned i)
{
	struct slot *sl = &s->slots[i];

	sl->busy = true;
	sl->acked = false;
	sl->retx = 0;
	sl->seq++;
	sl->mid = s->next_mid++;
	sl->t_sent = stats_now_ns();
	sl->timeout = COAP_ACK_TIMEOUT_NS;
	sl->t_next = sl->t_sent + sl->timeout;
	s->busy++;
	request_send(s, i);
}

/* Start new requests until K are in flight or the run says stop. */
static void
session_fill(struct session *s)
{
	struct client *c = s->c;
	unsigned k = c->o->handshake_only ? 1 : c->o->inflight;

	if (c->o->rate > 0) {
		/* client_rate_cb issues the requests after the first, sent at once as a
		 * device does after its handshake. */
		if (s->issued == 0 && s->busy == 0 && !c->stopping) {
			s->issued++;
			if (c->issued++ == 0)
				c->t_first_req = stats_now();
			slot_start(s, 0);
		}
		return;
	}
	for (unsigned i = 0; i < k && s->busy < k && client_may_issue(c); i++) {
		struct slot *sl = &s->slots[i];
		if (c->o->per_session > 0 && s->issued >= c->o->per_session)
			break;
		if (sl->busy)
			continue;
		s->issued++;
		if (c->issued++ == 0)
			c->t_first_req = stats_now();
		slot_start(s, i);
	}
}

/* Release a slot; ends the run in count mode once every request is settled. */
static void
slot_done(struct session *s, struct slot *sl)
{
	struct client *c = s->c;

	sl->busy = false;
	s->busy--;
	if (c->waking) {
		if (++c->wake_settled + c->r.wake_skipped == c->o->sessions)
			client_close_all(c);
		return;
	}
	c->finished++;
	if (c->o->count > 0 && c->finished >= c->o->count)
		client_finish(c);
	if (c->o->per_session > 0 && ++s->settled == c->o->per_session &&
	    ++c->sessions_done == c->o->sessions)
		client_finish(c);
}

/* Close the session's socket and DTLS state (sending close_notify if asked). */
static void
session_close(struct session *s, bool notify)
{
	struct client *c = s->c;

	if (s->fd < 0)
		return;
	if (c->dtls && s->ssl_ready) {
		if (notify && s->st == S_READY)
			(void)mbedtls_ssl_close_notify(&s->ssl);
		outbox_flush(c);
		timer_set(s, 0, 0);
	} else if (c->out.n > 0 && c->out.fd == s->fd) {
		outbox_flush(c);
	}
	if (s->st == S_HANDSHAKE && c->hs_active > 0)
		c->hs_active--;
	event_del(s->ev_read);
	close(s->fd);
	s->fd = -1;
	for (unsigned i = 0; i < c->o->inflight; i++)
		s->slots[i].busy = false;
	s->busy = 0;
}

/* Let queued sessions start their handshakes while the ramp allows. */
static void
client_ramp(struct client *c)
{
	while (c->rq_n > 0 && !c->stopping && (c->o->ramp == 0 || c->hs_active < c->o->ramp)) {
		struct session *s = &c->s[c->rq[c->rq_head]];
		c->rq_head = (c->rq_head + 1) % c->o->sessions;
		c->rq_n--;
		session_open(s);
	}
}

/* Start a session now, or queue it when the ramp is full. */
static void
session_start(struct session *s)
{
	struct client *c = s->c;

	if (c->stopping)
		return;
	if (c->dtls && c->o->ramp > 0 && c->hs_active >= c->o->ramp) {
		c->rq[(c->rq_head + c->rq_n) % c->o->sessions] = s->idx;
		c->rq_n++;
		s->st = S_IDLE;
		return;
	}
	session_open(s);
}

#if TC_MBEDTLS3
#define SESSION_MASTER(x) ((x)->MBEDTLS_PRIVATE(master))
#else
#define SESSION_MASTER(x) ((x)->master)
#endif

/* --resume: counts a resumed handshake (same master secret), else keeps the new session. */
static void
session_keep(struct session *s)
{
	mbedtls_ssl_session now;

	mbedtls_ssl_session_init(&now);
	if (mbedtls_ssl_get_session(&s->ssl, &now) != 0) {
		mbedtls_ssl_session_free(&now);
		return;
	}
	if (s->have_saved && memcmp(SESSION_MASTER(&now), SESSION_MASTER(&s->saved), 48) == 0) {
		s->c->r.resumed++;
		mbedtls_ssl_session_free(&now);
		return;
	}
	if (s->have_saved)
		mbedtls_ssl_session_free(&s->saved);
	s->saved = now;
	s->have_saved = true;
}

/* Advance the handshake; on success start sending. */
static void
session_handshake(struct session *s)
{
	struct client *c = s->c;
	int ret = mbedtls_ssl_handshake(&s->ssl);

	if (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE)
		return;
	if (ret != 0) {
		if (!c->o->quiet && c->r.err_handshake < 3) {
			char buf[128];
			tls_strerror(ret, buf, sizeof(buf));
			fprintf(stderr, "coaps-bench: session %u: handshake failed: %s\n", s->idx,
			    buf);
		}
		session_fail(s, &c->r.err_handshake);
		return;
	}
	s->st = S_READY;
	c->hs_active--;
	c->r.handshakes++;
	if (!c->all_established && c->o->rate > 0 && c->r.handshakes == c->o->sessions) {
		c->all_established = true;
		fprintf(stderr, "coaps-bench: all %u sessions established after %.1f s\n",
		    c->o->sessions, stats_now() - c->t_start);
		fflush(stderr);
	}
	if (c->o->resume)
		session_keep(s);
	c->t_last_hs = stats_now();
	hist_add(&c->r.hs_lat, (stats_now_ns() - s->t_hs) / 1000u);
	client_ramp(c);
	session_fill(s);
}

/* A session broke: count it, close it and try again shortly. */
static void
session_fail(struct session *s, uint64_t *counter)
{
	struct client *c = s->c;
	struct timeval tv = { 0, RESTART_DELAY_MS * 1000 };

	(*counter)++;
	c->r.errors++;
	if (s->st == S_READY)
		c->r.sessions_failed++;
	for (unsigned i = 0; i < c->o->inflight; i++) {
		if (s->slots[i].busy) {
			c->r.err_io++;
			c->r.errors++;
			slot_done(s, &s->slots[i]);
		}
	}
	session_close(s, false);
	if (c->stopping)
		return;
	s->st = S_RESTART;
	evtimer_add(s->ev_timer, &tv);
	client_ramp(c);
}

/* Send an empty ACK for a CON response. */
static void
coap_ack(struct session *s, uint16_t mid)
{
	uint8_t buf[4];

	bcoap_header(buf, 2 /* ACK */, 0, mid, NULL, 0);
	if (s->c->dtls) {
		(void)mbedtls_ssl_write(&s->ssl, buf, sizeof(buf));
	} else {
		memcpy(outbox_slot(s->c, s->fd), buf, sizeof(buf));
		outbox_commit(s->c, sizeof(buf));
	}
}

/* Handle one CoAP message from the server. */
static void
session_coap(struct session *s, const uint8_t *buf, size_t len)
{
	struct client *c = s->c;
	unsigned k = c->o->inflight, i;
	struct coap_view v;
	struct slot *sl;
	uint64_t now;

	if (bcoap_parse(buf, len, &v) != 0)
		return;
	if (v.code == 0) {
		/* Empty ACK (separate response follows) or RST. */
		for (i = 0; i < k; i++) {
			sl = &s->slots[i];
			if (!sl->busy || sl->mid != v.mid)
				continue;
			if (v.type == 2) {
				sl->acked = true;
			} else if (v.type == 3) {
				c->r.err_rst++;
				c->r.errors++;
				slot_done(s, sl);
				session_fill(s);
			}
			return;
		}
		return;
	}
	if (v.type == 0)
		coap_ack(s, v.mid);
	if ((v.code >> 5) < 2 || v.tkl != TOKEN_LEN)
		return;
	if ((((uint32_t)v.token[0] << 24) | ((uint32_t)v.token[1] << 16) |
	        ((uint32_t)v.token[2] << 8) | v.token[3]) != s->idx)
		return;
	i = (unsigned)((v.token[4] << 8) | v.token[5]);
	if (i >= k)
		return;
	sl = &s->slots[i];
	if (!sl->busy || sl->seq != (uint16_t)((v.token[6] << 8) | v.token[7]))
		return; /* duplicate or stale */
	now = stats_now_ns();
	if ((v.code >> 5) == 2 && c->waking) {
		c->r.wake_answered++;
	} else if ((v.code >> 5) == 2) {
		c->r.requests++;
		hist_add(&c->r.lat, (now - sl->t_sent) / 1000u);
		if (c->t_last_answer != 0 &&
		    (double)(now - c->t_last_answer) / 1e9 > c->r.max_gap_s) {
			c->r.max_gap_s = (double)(now - c->t_last_answer) / 1e9;
			c->r.max_gap_end_s = (double)now / 1e9 - c->t_start;
		}
		c->t_last_answer = now;
	} else {
		if (!c->o->quiet && c->r.err_code < 3)
			fprintf(stderr, "coaps-bench: session %u: response %u.%02u\n", s->idx,
			    v.code >> 5, v.code & 31);
		c->r.err_code++;
		c->r.errors++;
	}
	slot_done(s, sl);
	if (c->stopping || s->fd < 0)
		return;
	if (c->o->handshake_only) {
		session_close(s, true);
		session_start(s);
		return;
	}
	session_fill(s);
}

/* Feed one datagram to the session (through mbedTLS when DTLS). */
static void
session_datagram(struct session *s, const uint8_t *buf, size_t len)
{
	struct client *c = s->c;

	if (!c->dtls) {
		session_coap(s, buf, len);
		return;
	}
	s->rx = buf;
	s->rx_len = len;
	if (s->st == S_HANDSHAKE)
		session_handshake(s);
	while (s->st == S_READY && s->fd >= 0) {
		int n = mbedtls_ssl_read(&s->ssl, c->app, sizeof(c->app));
		if (n == MBEDTLS_ERR_SSL_WANT_READ || n == MBEDTLS_ERR_SSL_WANT_WRITE)
			break;
		if (n < 0) {
			session_fail(s, &c->r.err_io);
			break;
		}
		session_coap(s, c->app, (size_t)n);
	}
	s->rx = NULL;
}

/* Socket readable: read a batch of datagrams and handle each. */
static void
session_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	struct client *c = s->c;
	int n;

	(void)what;
	for (int rounds = 0; rounds < 4 && s->fd == fd; rounds++) {
		for (unsigned i = 0; i < BATCH; i++)
			c->in.iov[i].iov_len = DGRAM_MAX;
		n = recvmmsg(fd, c->in.m, BATCH, MSG_DONTWAIT, NULL);
		if (n < 0 && errno == ECONNREFUSED) {
			/* ICMP port unreachable: nobody listens at the target. */
			c->r.err_io++;
			c->r.errors++;
			continue;
		}
		if (n <= 0)
			break;
		for (int i = 0; i < n && s->fd == fd; i++) {
			if (loss_drop(c)) {
				c->r.dropped_in++;
				continue;
			}
			session_datagram(s, c->in.buf[i], c->in.m[i].msg_len);
		}
		if (n < BATCH)
			break;
	}
	outbox_flush(c);
}

/* mbedTLS retransmission timer, or the restart delay after a failure. */
static void
session_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;

	(void)fd;
	(void)what;
	if (s->st == S_RESTART)
		session_start(s);
	else if (s->st == S_HANDSHAKE) {
		/* libevent may fire a hair before t_fin by our clock: its firing counts. */
		if (s->t_fin != 0)
			s->t_fin = stats_now_ns();
		session_handshake(s);
	}
	outbox_flush(s->c);
}

/* Open a socket for the session and start its handshake (or its requests). */
static void
session_open(struct session *s)
{
	struct client *c = s->c;
	int fd;

	fd = socket(c->target.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	if (c->n_src > 0) {
		unsigned j = c->src_next++ % c->n_src;
		if (bind(fd, (struct sockaddr *)&c->src[j], c->src_len[j]) != 0)
			goto fail;
	}
	if (connect(fd, (struct sockaddr *)&c->target, c->target_len) != 0)
		goto fail;
	s->fd = fd;
	event_assign(s->ev_read, c->base, fd, EV_READ | EV_PERSIST, session_read_cb, s);
	event_add(s->ev_read, NULL);
	if (!c->dtls) {
		s->st = S_READY;
		session_fill(s);
		outbox_flush(c);
		return;
	}
	if (s->ssl_ready) {
		mbedtls_ssl_session_reset(&s->ssl);
	} else {
		mbedtls_ssl_init(&s->ssl);
		if (mbedtls_ssl_setup(&s->ssl, &c->conf) != 0) {
			fd = -1;
			session_close(s, false);
			goto fail;
		}
		s->ssl_ready = true;
	}
	if (s->have_saved)
		(void)mbedtls_ssl_set_session(&s->ssl, &s->saved); /* a full handshake if refused */
	mbedtls_ssl_set_bio(&s->ssl, s, bio_send, bio_recv, NULL);
	mbedtls_ssl_set_timer_cb(&s->ssl, s, timer_set, timer_get);
	if (c->o->server_name != NULL)
		mbedtls_ssl_set_hostname(&s->ssl, c->o->server_name);
	s->st = S_HANDSHAKE;
	s->t_hs = stats_now_ns();
	c->hs_active++;
	session_handshake(s);
	outbox_flush(c);
	return;
fail:
	if (fd >= 0)
		close(fd);
	if (!c->o->quiet && c->r.err_io < 3)
		fprintf(stderr, "coaps-bench: session %u: socket: %s\n", s->idx, strerror(errno));
	c->r.err_io++;
	c->r.errors++;
	if (!c->stopping) {
		struct timeval tv = { 1, 0 };
		s->st = S_RESTART;
		evtimer_add(s->ev_timer, &tv);
	}
}

/* Every 100 ms: retransmit CON requests whose ACK timeout passed (RFC 7252). */
static void
client_retx_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;
	uint64_t now = stats_now_ns();

	(void)fd;
	(void)what;
	for (unsigned j = 0; j < c->o->sessions && client_running(c); j++) {
		struct session *s = &c->s[j];
		if (s->st != S_READY || s->busy == 0)
			continue;
		for (unsigned i = 0; i < c->o->inflight && s->fd >= 0; i++) {
			struct slot *sl = &s->slots[i];
			if (!sl->busy || sl->acked || sl->t_next > now)
				continue;
			if (sl->retx >= COAP_MAX_RETRANSMIT) {
				c->r.err_timeout++;
				c->r.errors++;
				slot_done(s, sl);
				if (c->stopping || s->fd < 0)
					break;
				if (c->o->handshake_only) {
					session_close(s, true);
					session_start(s);
				} else {
					session_fill(s);
				}
				continue;
			}
			sl->retx++;
			sl->timeout *= 2;
			sl->t_next = now + sl->timeout;
			c->r.retransmissions++;
			request_send(s, i);
		}
	}
	outbox_flush(c);
}

/* Every 10 ms with --rate: start the requests now due, one per idle session, round-robin. */
static void
client_rate_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;
	uint64_t now = stats_now_ns();
	unsigned looked = 0;

	(void)fd;
	(void)what;
	c->rate_credit += c->o->rate * (double)(now - c->rate_last) / 1e9;
	c->rate_last = now;
	while (c->rate_credit >= 1 && !c->stopping) {
		struct session *s = NULL;
		for (; looked < c->o->sessions; looked++) {
			s = &c->s[c->rate_next];
			c->rate_next = (c->rate_next + 1) % c->o->sessions;
			if (s->st == S_READY && s->fd >= 0 && s->busy == 0)
				break;
		}
		if (looked == c->o->sessions || s == NULL) {
			c->rate_credit = 0; /* every session busy or not established */
			break;
		}
		looked++;
		c->rate_credit -= 1;
		s->issued++;
		if (c->issued++ == 0)
			c->t_first_req = stats_now();
		slot_start(s, 0);
	}
	outbox_flush(c);
}

/* Close every session (close_notify for DTLS) and leave the loop. */
static void
client_close_all(struct client *c)
{
	if (c->waking) {
		c->r.wake_s = stats_now() - c->t_wake;
		c->waking = false;
		event_del(c->ev_wake);
	}
	for (unsigned j = 0; j < c->o->sessions; j++) {
		struct session *s = &c->s[j];
		session_close(s, true);
		s->st = S_DONE;
		evtimer_del(s->ev_timer);
	}
	outbox_flush(c);
	event_base_loopbreak(c->base);
}

/* Every 10 ms of the wake phase: wake the next wake_rate / 100 sessions. */
static void
client_wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;
	unsigned n = c->o->wake_rate / 100 > 0 ? c->o->wake_rate / 100 : 1;

	(void)fd;
	(void)what;
	for (; n > 0 && c->wake_next < c->o->sessions; n--) {
		struct session *s = &c->s[c->wake_next++];
		if (s->st == S_READY && s->fd >= 0 && s->busy == 0) {
			c->r.wake_sent++;
			slot_start(s, 0); /* bypasses the run's limits */
		} else if (++c->r.wake_skipped + c->wake_settled == c->o->sessions) {
			client_close_all(c);
			return;
		}
	}
	if (c->wake_next == c->o->sessions)
		event_del(c->ev_wake);
	outbox_flush(c);
}

/* End of the hold period: read the server's RSS, then wake the sessions or close. */
static void
client_hold_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;
	struct timeval tv = { 0, 10000 };

	(void)fd;
	(void)what;
	c->r.server_rss_kb = stats_rss_kb(c->o->server_pid);
	if (c->o->wake_rate == 0) {
		client_close_all(c);
		return;
	}
	/* Bounded like the run: at most --duration (or 300 s) for the wake phase. */
	c->waking = true;
	c->t_wake = stats_now();
	event_add(c->ev_wake, &tv);
	tv.tv_sec = c->o->duration > 0 ? (time_t)c->o->duration : 300;
	tv.tv_usec = 0;
	event_add(c->ev_end, &tv);
}

/* Stop issuing requests, record the end time, then hold or close. */
static void
client_finish(struct client *c)
{
	struct timeval tv;

	if (c->stopping)
		return;
	c->stopping = true;
	c->t_end = stats_now();
	c->r.client_cpu_s = stats_cpu_s() - c->cpu_start;
	if (c->srv_cpu_start >= 0) {
		double now = stats_proc_cpu_s(c->o->server_pid);
		c->r.server_cpu_s = now >= 0 ? now - c->srv_cpu_start : -1;
	}
	evtimer_del(c->ev_end);
	if (c->o->hold > 0) {
		tv.tv_sec = (time_t)c->o->hold;
		tv.tv_usec = (suseconds_t)((c->o->hold - (double)tv.tv_sec) * 1e6);
		evtimer_add(c->ev_hold, &tv);
		return;
	}
	c->r.server_rss_kb = stats_rss_kb(c->o->server_pid);
	client_close_all(c);
}

/* Duration elapsed (or SIGINT/SIGTERM); in the wake phase, its bound. */
static void
client_end_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;

	(void)fd;
	(void)what;
	if (c->waking)
		client_close_all(c);
	else
		client_finish(c);
}

/* Set up the mbedTLS client configuration; 0 or -1 with a message. */
static int
client_tls_setup(struct client *c)
{
	const struct bench_opts *o = c->o;
	const char *suite;
	char err[128];
	int ret;

	mbedtls_ssl_config_init(&c->conf);
	mbedtls_ctr_drbg_init(&c->drbg);
	mbedtls_entropy_init(&c->entropy);
	mbedtls_x509_crt_init(&c->cert);
	mbedtls_x509_crt_init(&c->ca);
	mbedtls_pk_init(&c->key);
	if ((ret = mbedtls_ctr_drbg_seed(&c->drbg, mbedtls_entropy_func, &c->entropy,
	         (const unsigned char *)"coaps-bench", 11)) != 0)
		goto fail;
	if ((ret = mbedtls_ssl_config_defaults(&c->conf, MBEDTLS_SSL_IS_CLIENT,
	         MBEDTLS_SSL_TRANSPORT_DATAGRAM, MBEDTLS_SSL_PRESET_DEFAULT)) != 0)
		goto fail;
	mbedtls_ssl_conf_rng(&c->conf, mbedtls_ctr_drbg_random, &c->drbg);
	tc_conf_dtls12_p256(&c->conf);
	mbedtls_ssl_conf_handshake_timeout(&c->conf, 1000, 16000);
	if (o->cert != NULL) {
		suite = o->suite ? o->suite : "TLS-ECDHE-ECDSA-WITH-AES-128-CCM-8";
		if ((ret = mbedtls_x509_crt_parse_file(&c->cert, o->cert)) != 0) {
			fprintf(stderr, "coaps-bench: %s: ", o->cert);
			goto fail;
		}
		if ((ret = tls_load_key(&c->key, o->key, NULL, NULL)) != 0) {
			fprintf(stderr, "coaps-bench: %s: ", o->key);
			goto fail;
		}
		if ((ret = mbedtls_ssl_conf_own_cert(&c->conf, &c->cert, &c->key)) != 0)
			goto fail;
		if (o->ca != NULL) {
			if ((ret = mbedtls_x509_crt_parse_file(&c->ca, o->ca)) != 0) {
				fprintf(stderr, "coaps-bench: %s: ", o->ca);
				goto fail;
			}
			mbedtls_ssl_conf_ca_chain(&c->conf, &c->ca, NULL);
			mbedtls_ssl_conf_authmode(&c->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
		} else {
			mbedtls_ssl_conf_authmode(&c->conf, MBEDTLS_SSL_VERIFY_NONE);
		}
	} else {
		suite = o->suite ? o->suite : "TLS-PSK-WITH-AES-128-CCM-8";
		if ((ret = mbedtls_ssl_conf_psk(&c->conf, o->psk, o->psk_len,
		         (const unsigned char *)o->psk_identity, strlen(o->psk_identity))) != 0)
			goto fail;
	}
	c->suites[0] = tls_suite_id(suite);
	c->suites[1] = 0;
	if (c->suites[0] == 0) {
		fprintf(stderr, "coaps-bench: unknown cipher suite %s\n", suite);
		return -1;
	}
	mbedtls_ssl_conf_ciphersuites(&c->conf, c->suites);
	return 0;
fail:
	tls_strerror(ret, err, sizeof(err));
	fprintf(stderr, "coaps-bench: TLS setup: %s\n", err);
	return -1;
}

/* Parse --src-addrs into bind addresses of the target's family; 0 or -1. */
static int
client_src_setup(struct client *c)
{
	for (unsigned i = 0; i < c->o->n_src_addrs; i++) {
		char buf[300];
		snprintf(buf, sizeof(buf), "%s%s%s:0", strchr(c->o->src_addrs[i], ':') ? "[" : "",
		    c->o->src_addrs[i], strchr(c->o->src_addrs[i], ':') ? "]" : "");
		if (tls_parse_addr(buf, &c->src[i], &c->src_len[i]) != 0 ||
		    c->src[i].ss_family != c->target.ss_family) {
			fprintf(stderr, "coaps-bench: bad source address %s\n", c->o->src_addrs[i]);
			return -1;
		}
	}
	c->n_src = c->o->n_src_addrs;
	return 0;
}

/* Fill in the result and release everything. */
static void
client_cleanup(struct client *c)
{
	if (c->s != NULL) {
		for (unsigned j = 0; j < c->o->sessions; j++) {
			struct session *s = &c->s[j];
			if (s->fd >= 0)
				close(s->fd);
			if (s->ssl_ready)
				mbedtls_ssl_free(&s->ssl);
			if (s->have_saved)
				mbedtls_ssl_session_free(&s->saved);
			if (s->ev_read)
				event_free(s->ev_read);
			if (s->ev_timer)
				event_free(s->ev_timer);
			free(s->slots);
		}
		free(c->s);
	}
	free(c->rq);
	if (c->ev_retx)
		event_free(c->ev_retx);
	if (c->ev_end)
		event_free(c->ev_end);
	if (c->ev_int)
		event_free(c->ev_int);
	if (c->ev_hold)
		event_free(c->ev_hold);
	if (c->ev_wake)
		event_free(c->ev_wake);
	if (c->ev_rate)
		event_free(c->ev_rate);
	if (c->dtls) {
		mbedtls_ssl_config_free(&c->conf);
		mbedtls_x509_crt_free(&c->cert);
		mbedtls_x509_crt_free(&c->ca);
		mbedtls_pk_free(&c->key);
		mbedtls_ctr_drbg_free(&c->drbg);
		mbedtls_entropy_free(&c->entropy);
	}
	if (c->base)
		event_base_free(c->base);
	free(c);
}

/* Run the load generator as the options say; exit status. */
int
client_run(const struct bench_opts *o)
{
	struct client *c = calloc(1, sizeof(*c));
	struct timeval tv;
	double dur, elapsed;
	int rc = 1;

	if (c == NULL)
		return 1;
	c->o = o;
	c->dtls = !o->plain;
	c->code = o->post ? 2 : 1;
	c->r.server_rss_start_kb = stats_rss_kb(o->server_pid);
	c->r.server_rss_kb = -1;
	c->r.sessions = o->sessions;
	snprintf(c->mode, sizeof(c->mode), "%s%s%s",
	    o->plain  ? "plain"
	    : o->cert ? "ecdsa"
	              : "psk",
	    o->handshake_only ? o->resume ? "+resume" : "+handshake-only" : "",
	    o->proxy_uri ? "+proxy-uri" : "");
	c->r.mode = c->mode;
	if (tls_parse_addr(o->target, &c->target, &c->target_len) != 0) {
		fprintf(stderr, "coaps-bench: bad --target %s\n", o->target);
		goto out;
	}
	if (client_src_setup(c) != 0)
		goto out;
	c->tail_len =
	    bcoap_build_tail(c->tail, sizeof(c->tail), o->path, o->proxy_uri, o->post, o->size);
	if (c->dtls && client_tls_setup(c) != 0)
		goto out;
	for (unsigned i = 0; i < BATCH; i++) {
		c->out.iov[i].iov_base = c->out.buf[i];
		c->out.m[i].msg_hdr.msg_iov = &c->out.iov[i];
		c->out.m[i].msg_hdr.msg_iovlen = 1;
		c->in.iov[i].iov_base = c->in.buf[i];
		c->in.m[i].msg_hdr.msg_iov = &c->in.iov[i];
		c->in.m[i].msg_hdr.msg_iovlen = 1;
	}
	if ((c->base = event_base_new()) == NULL)
		goto out;
	c->s = calloc(o->sessions, sizeof(*c->s));
	c->rq = calloc(o->sessions, sizeof(*c->rq));
	if (c->s == NULL || c->rq == NULL)
		goto out;
	for (unsigned j = 0; j < o->sessions; j++) {
		struct session *s = &c->s[j];
		s->c = c;
		s->idx = j;
		s->fd = -1;
		s->next_mid = (uint16_t)(j * 7919u);
		s->slots = calloc(o->inflight, sizeof(*s->slots));
		s->ev_read = event_new(c->base, -1, 0, session_read_cb, s);
		s->ev_timer = evtimer_new(c->base, session_timer_cb, s);
		if (s->slots == NULL || s->ev_read == NULL || s->ev_timer == NULL)
			goto out;
	}
	c->ev_retx = event_new(c->base, -1, EV_PERSIST, client_retx_cb, c);
	c->ev_end = evtimer_new(c->base, client_end_cb, c);
	c->ev_hold = evtimer_new(c->base, client_hold_cb, c);
	c->ev_wake = event_new(c->base, -1, EV_PERSIST, client_wake_cb, c);
	c->ev_int = evsignal_new(c->base, SIGINT, client_end_cb, c);
	c->ev_rate = event_new(c->base, -1, EV_PERSIST, client_rate_cb, c);
	if (c->ev_retx == NULL || c->ev_end == NULL || c->ev_hold == NULL || c->ev_int == NULL ||
	    c->ev_wake == NULL || c->ev_rate == NULL)
		goto out;
	c->rng = 0x9e3779b97f4a7c15ull ^ ((uint64_t)o->seed * 0xbf58476d1ce4e5b9ull);
	if (c->rng == 0)
		c->rng = 1;
	tv.tv_sec = 0;
	tv.tv_usec = 100000;
	event_add(c->ev_retx, &tv);
	event_add(c->ev_int, NULL);
	if (o->rate > 0) {
		tv.tv_usec = 10000;
		c->rate_last = stats_now_ns();
		event_add(c->ev_rate, &tv);
	}
	dur = o->duration > 0 ? o->duration : (o->count > 0 || o->per_session > 0 ? 300 : 10);
	tv.tv_sec = (time_t)dur;
	tv.tv_usec = (suseconds_t)((dur - (double)tv.tv_sec) * 1e6);
	event_add(c->ev_end, &tv);

	c->t_start = stats_now();
	c->cpu_start = stats_cpu_s();
	c->srv_cpu_start = stats_proc_cpu_s(o->server_pid);
	c->r.server_cpu_s = -1;
	for (unsigned j = 0; j < o->sessions && !c->stopping; j++)
		session_start(&c->s[j]);
	if (!c->stopping)
		event_base_dispatch(c->base);
	if (!c->stopping)
		client_finish(c);

	elapsed = c->t_end - c->t_start;
	c->r.elapsed_s = elapsed;
	if (c->r.requests > 0 && c->t_end > c->t_first_req)
		c->r.requests_per_s = (double)c->r.requests / (c->t_end - c->t_first_req);
	if (o->handshake_only && elapsed > 0)
		c->r.handshakes_per_s = (double)c->r.handshakes / elapsed;
	else if (c->r.handshakes > 0 && c->t_last_hs > c->t_start)
		c->r.handshakes_per_s = (double)c->r.handshakes / (c->t_last_hs - c->t_start);
	rc = stats_report(&c->r, o) == 0 ? 0 : 1;
out:
	client_cleanup(c);
	return rc;
}
