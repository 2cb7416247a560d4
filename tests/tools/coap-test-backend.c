/* coap-test-backend.c: a scriptable plain CoAP/UDP backend that logs every request it gets. */
/*
 * Output (stdout, one flushed line per event), for scripts to grep:
 *   listening ADDR PORT
 *   req src=IP:PORT type=CON mid=0x1234 code=0.01 tkl=N path=/a/b
 *       opts=11:1:"a",11:1:"b",65000:5:"hello" payload_len=N
 *   ping src=.. type=CON mid=0x..       (empty CON: answered with RST)
 *   ack mid=0x.. [unmatched] / rst mid=0x.. [unmatched]
 *   separate mid=0x..                  (separate mode: the CON response)
 *   slow-answer mid=0x..               (slow mode: the ACK sent after the delay)
 *   retransmit separate|notify mid=0x.. try=N / give-up ... dst=..
 *   observe-register src=.. tkl=N / notify seq=N type=NON|CON mid=0x.. n=N
 *   observe-cancel reason=rst|deregister|no-ack src=.. count=N
 *   unexpected src=.. type=.. mid=0x.. code=C.DD   (a response code)
 *   bad datagram len=N
 * Option values and paths are printed as text: printable ASCII as is except
 * '"' and '\\', everything else as \xNN. The echo body is one line per
 * option "<number> <length> <value>" (no value part when empty), then
 * "payload <len>". Duplicates are answered and counted, never suppressed.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <coap3/coap.h>
#include <event2/event.h>

#define MAX_DGRAM 65536    /* largest UDP datagram we read */
#define MAX_PENDING 256    /* CON messages awaiting an ACK at once */
#define MAX_OBSERVERS 64   /* observe registrations at once */
#define RETRANSMIT_MS 2000 /* CON retransmission interval */
#define MAX_RETRANSMIT 4   /* retransmissions before giving up */
#define RECENT_MIDS 8      /* notification MIDs remembered per observer */

enum backend_mode {
	MODE_ECHO,     /* answer every request with its options */
	MODE_SILENT,   /* never answer */
	MODE_SEPARATE, /* empty ACK now, CON response after the delay */
	MODE_OBSERVE,  /* RFC 7641 notifications every delay */
	MODE_SLOW,     /* a CON's piggybacked answer (ACK) after the delay */
};

/* A peer's address, with its length. */
struct endpoint {
	struct sockaddr_storage ss;
	socklen_t len;
};

/* A confirmable message sent by us that has not been acknowledged yet. */
struct pending {
	bool used;
	struct endpoint ep;
	uint16_t mid;
	int tries;    /* retransmissions done */
	uint8_t *msg; /* encoded message */
	size_t len;
	struct event *timer;  /* retransmission timer */
	struct observer *obs; /* the observation it belongs to, or NULL */
	const char *what;     /* "separate" or "notify", for the log */
};

/* A response held back for the separate mode's delay. */
struct delayed {
	struct endpoint ep;
	bool piggyback; /* slow mode: an ACK with the request's MID */
	uint16_t mid;   /* the request's MID (slow mode) */
	uint8_t token[8];
	size_t tkl;
	char *body;
	size_t body_len;
	struct event *timer;
	struct delayed *next; /* list of all held responses */
};

/* An observe registration: an endpoint and a token. */
struct observer {
	bool used;
	struct endpoint ep;
	uint8_t token[8];
	size_t tkl;
	uint32_t seq;        /* last Observe sequence number sent */
	unsigned long count; /* notifications sent */
	uint16_t mids[RECENT_MIDS];
	unsigned nmids;
	struct pending *con; /* the CON notification in flight, or NULL */
	struct event *timer; /* notification timer */
};

static struct event_base *base;
static int sock = -1;
static enum backend_mode mode = MODE_ECHO;
static long delay_ms = 1000;
static const char *count_file;
static unsigned long requests;
static uint16_t next_mid;
static struct pending pendings[MAX_PENDING];
static struct observer observers[MAX_OBSERVERS];
static struct delayed *delayed_list;

static void observer_cancel(struct observer *o, const char *reason);

/* Prints the usage text. */
static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: coap-test-backend -A ADDR -p PORT [-m MODE] [-c COUNTFILE] [-d DELAY_MS]\n"
	    "  -A ADDR      address to listen on (IPv4 or IPv6 literal)\n"
	    "  -p PORT      UDP port (0 = any; the port is printed)\n"
	    "  -m MODE      echo (default), silent, separate, observe or slow\n"
	    "  -c FILE      write the number of requests received here on exit\n"
	    "  -d MS        separate, slow: response delay; observe: notification interval\n"
	    "               (default 1000)\n"
	    "Prints 'listening ADDR PORT' once bound, one line per message received,\n"
	    "and exits 0 on SIGTERM or SIGINT.\n");
}

/* Formats an endpoint as ip:port or [ip6]:port. */
static const char *
endpoint_str(const struct endpoint *ep, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (ep->ss.ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)&ep->ss;
		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		port = ntohs(sin->sin_port);
		snprintf(buf, size, "%s:%u", host, port);
	} else {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ep->ss;
		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		port = ntohs(sin6->sin6_port);
		snprintf(buf, size, "[%s]:%u", host, port);
	}
	return buf;
}

/* Tells whether two endpoints are the same address and port. */
static bool
endpoint_equal(const struct endpoint *a, const struct endpoint *b)
{
	return a->len == b->len && memcmp(&a->ss, &b->ss, a->len) == 0;
}

/* Appends bytes to out as text: printable ASCII as is, the rest as \xNN. */
static size_t
escape_append(char *out, size_t size, size_t off, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n && off + 5 < size; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '"' && p[i] != '\\')
			out[off++] = (char)p[i];
		else
			off += (size_t)snprintf(out + off, size - off, "\\x%02x", p[i]);
	}
	if (off < size)
		out[off] = '\0';
	return off;
}

/* Returns the type's name. */
static const char *
type_name(coap_pdu_type_t t)
{
	switch (t) {
	case COAP_MESSAGE_CON:
		return "CON";
	case COAP_MESSAGE_NON:
		return "NON";
	case COAP_MESSAGE_ACK:
		return "ACK";
	case COAP_MESSAGE_RST:
		return "RST";
	}
	return "?";
}

/* Prints a line on stdout and flushes it. */
static void __attribute__((format(printf, 1, 2))) out(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/*
 * Encodes a CoAP message into buf: header and token by hand, options with
 * libcoap's coap_opt_encode() (numbers must come in ascending order).
 * Returns the length, or 0 if it does not fit.
 */
static size_t
msg_encode(uint8_t *buf, size_t size, coap_pdu_type_t type, uint8_t code, uint16_t mid,
    const uint8_t *token, size_t tkl, const uint16_t *onum, const uint8_t *const *oval,
    const size_t *olen, size_t nopts, const void *payload, size_t plen)
{
	size_t off = 4;
	uint16_t prev = 0;

	if (size < 4 + tkl || tkl > 8)
		return 0;
	buf[0] = (uint8_t)(0x40 | ((unsigned)type << 4) | tkl);
	buf[1] = code;
	buf[2] = (uint8_t)(mid >> 8);
	buf[3] = (uint8_t)mid;
	if (tkl > 0)
		memcpy(buf + off, token, tkl);
	off += tkl;
	for (size_t i = 0; i < nopts; i++) {
		size_t n = coap_opt_encode(buf + off, size - off, (uint16_t)(onum[i] - prev),
		    oval[i], olen[i]);
		if (n == 0)
			return 0;
		off += n;
		prev = onum[i];
	}
	if (plen > 0) {
		if (size - off < plen + 1)
			return 0;
		buf[off++] = 0xff;
		memcpy(buf + off, payload, plen);
		off += plen;
	}
	return off;
}

/* Sends a datagram to an endpoint; errors are reported, not fatal. */
static void
send_to(const struct endpoint *ep, const uint8_t *msg, size_t len)
{
	if (sendto(sock, msg, len, 0, (const struct sockaddr *)&ep->ss, ep->len) < 0)
		fprintf(stderr, "coap-test-backend: sendto: %s\n", strerror(errno));
}

/* Sends an empty ACK or RST for a message id. */
static void
send_empty(const struct endpoint *ep, coap_pdu_type_t type, uint16_t mid)
{
	uint8_t msg[4];
	size_t len =
	    msg_encode(msg, sizeof(msg), type, 0, mid, NULL, 0, NULL, NULL, NULL, 0, NULL, 0);

	send_to(ep, msg, len);
}

/* Encodes a 2.05 response with Content-Format text/plain and maybe Observe. */
static size_t
response_encode(uint8_t *buf, size_t size, coap_pdu_type_t type, uint16_t mid, const uint8_t *token,
    size_t tkl, bool observe, uint32_t seq, const char *body, size_t blen)
{
	uint16_t onum[2];
	const uint8_t *oval[2];
	size_t olen[2], n = 0;
	uint8_t obuf[4];

	if (observe) {
		olen[n] = coap_encode_var_safe(obuf, sizeof(obuf), seq & 0xffffff);
		onum[n] = COAP_OPTION_OBSERVE;
		oval[n++] = obuf;
	}
	onum[n] = COAP_OPTION_CONTENT_FORMAT; /* text/plain = 0: empty value */
	oval[n] = NULL;
	olen[n++] = 0;
	return msg_encode(buf, size, type, COAP_RESPONSE_CODE(205), mid, token, tkl, onum, oval,
	    olen, n, body, blen);
}

/* Returns a fresh message id for messages we originate. */
static uint16_t
mid_next(void)
{
	return next_mid++;
}

/* Forgets a pending CON and frees what it holds. */
static void
pending_free(struct pending *p)
{
	if (p->obs != NULL && p->obs->con == p)
		p->obs->con = NULL;
	if (p->timer != NULL)
		event_free(p->timer);
	free(p->msg);
	memset(p, 0, sizeof(*p));
}

/* Retransmits a pending CON, or gives up after MAX_RETRANSMIT. */
static void
pending_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pending *p = arg;
	struct timeval tv = { RETRANSMIT_MS / 1000, (RETRANSMIT_MS % 1000) * 1000 };
	char ep[80];

	(void)fd;
	(void)what;
	if (p->tries >= MAX_RETRANSMIT) {
		out("give-up %s mid=0x%04x dst=%s", p->what, p->mid,
		    endpoint_str(&p->ep, ep, sizeof(ep)));
		if (p->obs != NULL)
			observer_cancel(p->obs, "no-ack");
		pending_free(p);
		return;
	}
	p->tries++;
	out("retransmit %s mid=0x%04x try=%d", p->what, p->mid, p->tries);
	send_to(&p->ep, p->msg, p->len);
	evtimer_add(p->timer, &tv);
}

/* Sends a CON and keeps it for retransmission until ACK or RST. */
static struct pending *
pending_send(const struct endpoint *ep, uint16_t mid, const uint8_t *msg, size_t len,
    const char *what, struct observer *obs)
{
	struct timeval tv = { RETRANSMIT_MS / 1000, (RETRANSMIT_MS % 1000) * 1000 };
	struct pending *p = NULL;

	send_to(ep, msg, len);
	for (size_t i = 0; i < MAX_PENDING; i++) {
		if (!pendings[i].used) {
			p = &pendings[i];
			break;
		}
	}
	if (p == NULL) {
		out("pending-full mid=0x%04x", mid);
		return NULL;
	}
	p->msg = malloc(len);
	if (p->msg == NULL)
		return NULL;
	p->timer = evtimer_new(base, pending_timer_cb, p);
	if (p->timer == NULL) {
		free(p->msg);
		p->msg = NULL;
		return NULL;
	}
	p->used = true;
	p->ep = *ep;
	p->mid = mid;
	memcpy(p->msg, msg, len);
	p->len = len;
	p->what = what;
	p->obs = obs;
	evtimer_add(p->timer, &tv);
	return p;
}

/* Finds the pending CON an ACK or RST answers. */
static struct pending *
pending_find(const struct endpoint *ep, uint16_t mid)
{
	for (size_t i = 0; i < MAX_PENDING; i++)
		if (pendings[i].used && pendings[i].mid == mid &&
		    endpoint_equal(&pendings[i].ep, ep))
			return &pendings[i];
	return NULL;
}

/* Builds the echo body: one line per option, then "payload <len>". */
static char *
echo_body(const coap_pdu_t *pdu, size_t *blen)
{
	coap_opt_iterator_t oi;
	coap_opt_t *opt;
	size_t size = MAX_DGRAM * 4 + 64, off = 0, dlen = 0;
	const uint8_t *data = NULL;
	char *b = malloc(size);

	if (b == NULL)
		return NULL;
	if (coap_option_iterator_init(pdu, &oi, COAP_OPT_ALL) != NULL) {
		while ((opt = coap_option_next(&oi)) != NULL && off + 64 < size) {
			uint32_t len = coap_opt_length(opt);
			off += (size_t)snprintf(b + off, size - off, "%u %" PRIu32,
			    (unsigned)oi.number, len);
			if (len > 0) {
				b[off++] = ' ';
				off = escape_append(b, size - 2, off, coap_opt_value(opt), len);
			}
			b[off++] = '\n';
		}
	}
	coap_get_data(pdu, &dlen, &data);
	off += (size_t)snprintf(b + off, size - off, "payload %zu\n", dlen);
	*blen = off;
	return b;
}

/* Prints the request line: source, header, path, options and payload length. */
static void
request_log(const struct endpoint *ep, const coap_pdu_t *pdu)
{
	coap_opt_iterator_t oi;
	coap_opt_t *opt;
	coap_bin_const_t tok = coap_pdu_get_token(pdu);
	size_t psize = 8192, osize = MAX_DGRAM * 4 + 64, poff = 0, ooff = 0;
	size_t dlen = 0;
	const uint8_t *data = NULL;
	char *path = malloc(psize), *opts = malloc(osize), src[80];
	coap_pdu_code_t code = coap_pdu_get_code(pdu);

	if (path == NULL || opts == NULL)
		goto done;
	path[0] = opts[0] = '\0';
	if (coap_option_iterator_init(pdu, &oi, COAP_OPT_ALL) != NULL) {
		while ((opt = coap_option_next(&oi)) != NULL) {
			uint32_t len = coap_opt_length(opt);
			if (oi.number == COAP_OPTION_URI_PATH && poff + 2 < psize) {
				path[poff++] = '/';
				poff = escape_append(path, psize, poff, coap_opt_value(opt), len);
			}
			if (ooff + 64 >= osize)
				continue;
			ooff += (size_t)snprintf(opts + ooff, osize - ooff, "%s%u:%" PRIu32 ":\"",
			    ooff > 0 ? "," : "", (unsigned)oi.number, len);
			ooff = escape_append(opts, osize - 2, ooff, coap_opt_value(opt), len);
			opts[ooff++] = '"';
			opts[ooff] = '\0';
		}
	}
	coap_get_data(pdu, &dlen, &data);
	out("req src=%s type=%s mid=0x%04x code=%d.%02d tkl=%zu path=%s opts=%s payload_len=%zu",
	    endpoint_str(ep, src, sizeof(src)), type_name(coap_pdu_get_type(pdu)),
	    (unsigned)coap_pdu_get_mid(pdu), (int)(code >> 5), (int)(code & 31), tok.length,
	    poff > 0 ? path : "/", opts, dlen);
done:
	free(path);
	free(opts);
}

/* Answers a request right away: piggybacked ACK for CON, NON for NON. */
static void
reply_now(const struct endpoint *ep, const coap_pdu_t *pdu, bool observe, uint32_t seq,
    const char *body, size_t blen)
{
	coap_bin_const_t tok = coap_pdu_get_token(pdu);
	bool con = coap_pdu_get_type(pdu) == COAP_MESSAGE_CON;
	size_t size = blen + 64, len;
	uint8_t *msg = malloc(size);

	if (msg == NULL)
		return;
	len = response_encode(msg, size, con ? COAP_MESSAGE_ACK : COAP_MESSAGE_NON,
	    con ? (uint16_t)coap_pdu_get_mid(pdu) : mid_next(), tok.s, tok.length, observe, seq,
	    body, blen);
	if (len > 0)
		send_to(ep, msg, len);
	free(msg);
}

/* Unlinks a held response and frees it. */
static void
delayed_free(struct delayed *d)
{
	for (struct delayed **pp = &delayed_list; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == d) {
			*pp = d->next;
			break;
		}
	}
	event_free(d->timer);
	free(d->body);
	free(d);
}

/* Sends the separate response once the delay has passed. */
static void
delayed_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct delayed *d = arg;
	size_t size = d->body_len + 64, len;
	uint8_t *msg = malloc(size);
	uint16_t mid = mid_next();

	(void)fd;
	(void)what;
	if (msg != NULL && d->piggyback) {
		len = response_encode(msg, size, COAP_MESSAGE_ACK, d->mid, d->token, d->tkl, false,
		    0, d->body, d->body_len);
		if (len > 0) {
			out("slow-answer mid=0x%04x", d->mid);
			send_to(&d->ep, msg, len);
		}
		free(msg);
	} else if (msg != NULL) {
		len = response_encode(msg, size, COAP_MESSAGE_CON, mid, d->token, d->tkl, false, 0,
		    d->body, d->body_len);
		if (len > 0) {
			out("separate mid=0x%04x", mid);
			pending_send(&d->ep, mid, msg, len, "separate", NULL);
		}
		free(msg);
	}
	delayed_free(d);
}

/* Acknowledges a CON now and schedules its response as a separate CON (slow: its ACK). */
static void
reply_separate(const struct endpoint *ep, const coap_pdu_t *pdu, char *body, size_t blen)
{
	coap_bin_const_t tok = coap_pdu_get_token(pdu);
	struct timeval tv = { delay_ms / 1000, (delay_ms % 1000) * 1000 };
	struct delayed *d = calloc(1, sizeof(*d));

	if (mode != MODE_SLOW)
		send_empty(ep, COAP_MESSAGE_ACK, (uint16_t)coap_pdu_get_mid(pdu));
	if (d == NULL) {
		free(body);
		return;
	}
	d->piggyback = mode == MODE_SLOW;
	d->mid = (uint16_t)coap_pdu_get_mid(pdu);
	d->ep = *ep;
	d->tkl = tok.length;
	if (tok.length > 0)
		memcpy(d->token, tok.s, tok.length);
	d->body = body;
	d->body_len = blen;
	d->timer = evtimer_new(base, delayed_timer_cb, d);
	if (d->timer == NULL) {
		free(body);
		free(d);
		return;
	}
	d->next = delayed_list;
	delayed_list = d;
	evtimer_add(d->timer, &tv);
}

/* Finds the observation of an endpoint and token. */
static struct observer *
observer_find(const struct endpoint *ep, const uint8_t *token, size_t tkl)
{
	for (size_t i = 0; i < MAX_OBSERVERS; i++) {
		struct observer *o = &observers[i];
		if (o->used && o->tkl == tkl && (tkl == 0 || memcmp(o->token, token, tkl) == 0) &&
		    endpoint_equal(&o->ep, ep))
			return o;
	}
	return NULL;
}

/* Finds the observation a notification message id belongs to. */
static struct observer *
observer_find_mid(const struct endpoint *ep, uint16_t mid)
{
	for (size_t i = 0; i < MAX_OBSERVERS; i++) {
		struct observer *o = &observers[i];
		if (!o->used || !endpoint_equal(&o->ep, ep))
			continue;
		for (unsigned j = 0; j < o->nmids && j < RECENT_MIDS; j++)
			if (o->mids[j] == mid)
				return o;
	}
	return NULL;
}

/* Ends an observation and says why. */
static void
observer_cancel(struct observer *o, const char *reason)
{
	char ep[80];

	out("observe-cancel reason=%s src=%s count=%lu", reason,
	    endpoint_str(&o->ep, ep, sizeof(ep)), o->count);
	if (o->con != NULL) {
		struct pending *p = o->con;
		o->con = NULL;
		p->obs = NULL;
		pending_free(p);
	}
	if (o->timer != NULL)
		event_free(o->timer);
	memset(o, 0, sizeof(*o));
}

/* Sends the next notification: NON, every fourth one CON if none is in flight. */
static void
observer_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct observer *o = arg;
	struct timeval tv = { delay_ms / 1000, (delay_ms % 1000) * 1000 };
	uint8_t msg[128];
	char body[32];
	size_t len, blen;
	uint16_t mid = mid_next();
	bool con;

	(void)fd;
	(void)what;
	o->count++;
	o->seq++;
	con = o->count % 4 == 0 && o->con == NULL;
	blen = (size_t)snprintf(body, sizeof(body), "n=%lu", o->count);
	len = response_encode(msg, sizeof(msg), con ? COAP_MESSAGE_CON : COAP_MESSAGE_NON, mid,
	    o->token, o->tkl, true, o->seq, body, blen);
	o->mids[o->nmids++ % RECENT_MIDS] = mid;
	out("notify seq=%" PRIu32 " type=%s mid=0x%04x n=%lu", o->seq & 0xffffff,
	    con ? "CON" : "NON", mid, o->count);
	if (con)
		o->con = pending_send(&o->ep, mid, msg, len, "notify", o);
	else
		send_to(&o->ep, msg, len);
	evtimer_add(o->timer, &tv);
}

/* Registers (or refreshes) an observation and answers the registering GET. */
static void
observer_register(const struct endpoint *ep, const coap_pdu_t *pdu)
{
	coap_bin_const_t tok = coap_pdu_get_token(pdu);
	struct timeval tv = { delay_ms / 1000, (delay_ms % 1000) * 1000 };
	struct observer *o = observer_find(ep, tok.s, tok.length);
	char body[32], src[80];
	size_t blen;

	if (o == NULL) {
		for (size_t i = 0; i < MAX_OBSERVERS && o == NULL; i++)
			if (!observers[i].used)
				o = &observers[i];
		if (o == NULL) {
			out("observe-full");
			reply_now(ep, pdu, false, 0, "n=0", 3);
			return;
		}
		o->timer = evtimer_new(base, observer_timer_cb, o);
		if (o->timer == NULL)
			return;
		o->used = true;
		o->ep = *ep;
		o->tkl = tok.length;
		if (tok.length > 0)
			memcpy(o->token, tok.s, tok.length);
		o->seq = (uint32_t)(rand() & 0xff);
	}
	out("observe-register src=%s tkl=%zu", endpoint_str(ep, src, sizeof(src)), tok.length);
	blen = (size_t)snprintf(body, sizeof(body), "n=%lu", o->count);
	reply_now(ep, pdu, true, o->seq, body, blen);
	evtimer_add(o->timer, &tv);
}

/* Reads the Observe option: -1 if absent, else its value. */
static long
observe_value(const coap_pdu_t *pdu)
{
	coap_opt_iterator_t oi;
	coap_opt_t *opt = coap_check_option(pdu, COAP_OPTION_OBSERVE, &oi);

	if (opt == NULL)
		return -1;
	return (long)coap_decode_var_bytes(coap_opt_value(opt), coap_opt_length(opt));
}

/* Handles an ACK or RST from a peer. */
static void
handle_ack_rst(const struct endpoint *ep, coap_pdu_type_t type, uint16_t mid)
{
	struct pending *p = pending_find(ep, mid);
	struct observer *o;

	out("%s mid=0x%04x%s", type == COAP_MESSAGE_ACK ? "ack" : "rst", mid,
	    p != NULL ? "" : " unmatched");
	if (p != NULL)
		pending_free(p);
	if (type == COAP_MESSAGE_RST && (o = observer_find_mid(ep, mid)) != NULL)
		observer_cancel(o, "rst");
}

/* Handles one request according to the mode. */
static void
handle_request(const struct endpoint *ep, const coap_pdu_t *pdu)
{
	coap_bin_const_t tok = coap_pdu_get_token(pdu);
	bool con = coap_pdu_get_type(pdu) == COAP_MESSAGE_CON;
	char *body;
	size_t blen = 0;

	requests++;
	request_log(ep, pdu);
	if (mode == MODE_SILENT)
		return;
	if (mode == MODE_OBSERVE && coap_pdu_get_code(pdu) == COAP_REQUEST_CODE_GET) {
		long ov = observe_value(pdu);
		struct observer *o;
		if (ov == 0) {
			observer_register(ep, pdu);
			return;
		}
		if (ov == 1 && (o = observer_find(ep, tok.s, tok.length)) != NULL)
			observer_cancel(o, "deregister");
	}
	body = echo_body(pdu, &blen);
	if (body == NULL)
		return;
	if ((mode == MODE_SEPARATE || mode == MODE_SLOW) && con) {
		reply_separate(ep, pdu, body, blen);
		return;
	}
	reply_now(ep, pdu, false, 0, body, blen);
	free(body);
}

/* Reads one datagram, logs it and answers per mode. */
static void
sock_read_cb(evutil_socket_t fd, short what, void *arg)
{
	static uint8_t buf[MAX_DGRAM];
	struct endpoint ep;
	coap_pdu_t *pdu;
	ssize_t n;

	(void)what;
	(void)arg;
	for (int burst = 0; burst < 64; burst++) {
		ep.len = sizeof(ep.ss);
		n = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&ep.ss,
		    &ep.len);
		if (n < 0)
			return;
		pdu = coap_pdu_init(0, 0, 0, MAX_DGRAM);
		if (pdu == NULL)
			return;
		if (!coap_pdu_parse(COAP_PROTO_UDP, buf, (size_t)n, pdu) ||
		    coap_pdu_get_token(pdu).length > 8) {
			out("bad datagram len=%zd", n);
			coap_delete_pdu(pdu);
			continue;
		}
		coap_pdu_type_t type = coap_pdu_get_type(pdu);
		coap_pdu_code_t code = coap_pdu_get_code(pdu);
		uint16_t mid = (uint16_t)coap_pdu_get_mid(pdu);
		if (type == COAP_MESSAGE_ACK || type == COAP_MESSAGE_RST) {
			handle_ack_rst(&ep, type, mid);
		} else if (code == 0) {
			char src[80];
			out("ping src=%s type=%s mid=0x%04x", endpoint_str(&ep, src, sizeof(src)),
			    type_name(type), mid);
			if (type == COAP_MESSAGE_CON && mode != MODE_SILENT)
				send_empty(&ep, COAP_MESSAGE_RST, mid);
		} else if ((code >> 5) == 0) {
			handle_request(&ep, pdu);
		} else {
			char src[80];
			out("unexpected src=%s type=%s mid=0x%04x code=%d.%02d",
			    endpoint_str(&ep, src, sizeof(src)), type_name(type), mid,
			    (int)(code >> 5), (int)(code & 31));
			if (type == COAP_MESSAGE_CON && mode != MODE_SILENT)
				send_empty(&ep, COAP_MESSAGE_RST, mid);
		}
		coap_delete_pdu(pdu);
	}
}

/* Writes the request count and leaves the event loop. */
static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	(void)arg;
	if (count_file != NULL) {
		FILE *f = fopen(count_file, "w");
		if (f == NULL || fprintf(f, "%lu\n", requests) < 0 || fclose(f) != 0)
			fprintf(stderr, "coap-test-backend: %s: %s\n", count_file, strerror(errno));
	}
	event_base_loopbreak(base);
}

/* Binds the UDP socket and prints the listening line. */
static int
sock_open(const char *addr, const char *port)
{
	struct addrinfo hints, *ai;
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	char host[NI_MAXHOST], serv[NI_MAXSERV];
	int fd, rc, on = 1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	rc = getaddrinfo(addr, port, &hints, &ai);
	if (rc != 0) {
		fprintf(stderr, "coap-test-backend: %s port %s: %s\n", addr, port,
		    gai_strerror(rc));
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_DGRAM, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sslen) < 0 ||
	    getnameinfo((struct sockaddr *)&ss, sslen, host, sizeof(host), serv, sizeof(serv),
	        NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		fprintf(stderr, "coap-test-backend: bind %s port %s: %s\n", addr, port,
		    strerror(errno));
		freeaddrinfo(ai);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	freeaddrinfo(ai);
	out("listening %s %s", host, serv);
	return fd;
}

int
main(int argc, char **argv)
{
	const char *addr = NULL, *port = NULL;
	struct event *ev_read, *ev_term, *ev_int;
	char *end;
	int ch;

	while ((ch = getopt(argc, argv, "A:p:m:c:d:h")) != -1) {
		switch (ch) {
		case 'A':
			addr = optarg;
			break;
		case 'p':
			port = optarg;
			break;
		case 'c':
			count_file = optarg;
			break;
		case 'm':
			if (strcmp(optarg, "echo") == 0)
				mode = MODE_ECHO;
			else if (strcmp(optarg, "silent") == 0)
				mode = MODE_SILENT;
			else if (strcmp(optarg, "separate") == 0)
				mode = MODE_SEPARATE;
			else if (strcmp(optarg, "observe") == 0)
				mode = MODE_OBSERVE;
			else if (strcmp(optarg, "slow") == 0)
				mode = MODE_SLOW;
			else {
				usage(stderr);
				return 2;
			}
			break;
		case 'd':
			errno = 0;
			delay_ms = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || delay_ms < 0 || delay_ms > 3600000) {
				usage(stderr);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (addr == NULL || port == NULL || optind != argc) {
		usage(stderr);
		return 2;
	}
	coap_startup();
	coap_set_log_level(LOG_EMERG);
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	next_mid = (uint16_t)rand();
	signal(SIGPIPE, SIG_IGN);

	base = event_base_new();
	if (base == NULL)
		return 1;
	sock = sock_open(addr, port);
	if (sock < 0)
		return 1;
	ev_read = event_new(base, sock, EV_READ | EV_PERSIST, sock_read_cb, NULL);
	ev_term = evsignal_new(base, SIGTERM, signal_cb, NULL);
	ev_int = evsignal_new(base, SIGINT, signal_cb, NULL);
	if (ev_read == NULL || ev_term == NULL || ev_int == NULL || event_add(ev_read, NULL) < 0 ||
	    event_add(ev_term, NULL) < 0 || event_add(ev_int, NULL) < 0) {
		fprintf(stderr, "coap-test-backend: cannot set up events\n");
		return 1;
	}
	event_base_dispatch(base);

	for (size_t i = 0; i < MAX_OBSERVERS; i++)
		if (observers[i].used) {
			if (observers[i].con != NULL)
				observers[i].con->obs = NULL;
			event_free(observers[i].timer);
		}
	for (size_t i = 0; i < MAX_PENDING; i++)
		if (pendings[i].used)
			pending_free(&pendings[i]);
	while (delayed_list != NULL)
		delayed_free(delayed_list);
	event_free(ev_read);
	event_free(ev_term);
	event_free(ev_int);
	close(sock);
	event_base_free(base);
	coap_cleanup();
	return 0;
}
