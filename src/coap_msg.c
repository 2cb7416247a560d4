/* coap_msg.c: CoAP-over-UDP inspection, rewriting and local answers on byte buffers. */
#include "config.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <coap3/coap.h>

#include "coap_msg.h"
#include "text.h"

/*
 * Why our own validator and not coap_pdu_parse(): libcoap 4.3.1 copies the
 * message into a pdu, logs through its own logger, accepts reserved code
 * classes (1.xx, 3.xx) and non-empty RSTs, and rejects messages whose known
 * options have an unexpected length, which RFC 7252 §5.4.3 tells endpoints
 * to treat as unrecognised options, not as a format error. libcoap does the
 * option encoding (coap_opt_encode), integer values (coap_encode_var_safe,
 * coap_decode_var_bytes) and URI splitting (coap_split_proxy_uri) here, and
 * serves as the independent parser in the unit tests.
 */

#define PROXY_URI_MAX 1034        /* RFC 7252 §5.10: Proxy-Uri is 1-1034 bytes */
#define OPT_VALUE_MAX 255         /* Uri-Host, Uri-Path, Uri-Query, Proxy-Scheme */
#define OPT_LEN_MAX (65535 + 269) /* largest length the option format encodes */

/* One option to insert while rewriting. */
struct newopt {
	uint16_t num;
	const uint8_t *val;
	size_t len;
};

struct coap_msg_ctx {
	size_t max_size;     /* largest message rewritten */
	struct newopt *opts; /* options to insert, sorted by number */
	size_t nopts, opts_cap;
	uint8_t *scratch; /* decoded host, segments, port value */
	size_t scratch_used, scratch_cap;
	char why[96]; /* reasons with numbers in them */
};

/* A cursor over the options of a message. */
struct walk {
	const uint8_t *p, *end;
	uint32_t num;           /* number of the last option read */
	const uint8_t *payload; /* first payload byte, NULL when none */
};

/* One option as read. */
struct opt {
	uint16_t num;
	const uint8_t *val;
	size_t len;
};

/* A forward-proxy target being decoded. */
struct target {
	const uint8_t *host; /* decoded host, not NUL-terminated */
	size_t host_len;
	bool host_is_ip; /* IPv4 or IPv6 literal */
	uint16_t port;
};

/* Allocates a context for messages of at most max_size bytes; NULL if out of memory. */
struct coap_msg_ctx *
coap_msg_ctx_new(size_t max_size)
{
	struct coap_msg_ctx *c;

	if (max_size < 4 || max_size > 65535)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->max_size = max_size;
	/* A Proxy-Uri of n bytes gives at most n + 2 segments and arguments. */
	c->opts_cap = max_size + 8;
	c->opts = calloc(c->opts_cap, sizeof(*c->opts));
	/* Decoded host (twice: decoded, then lower-cased), path, query, port. */
	c->scratch_cap = 2 * max_size + 16;
	c->scratch = malloc(c->scratch_cap);
	if (c->opts == NULL || c->scratch == NULL) {
		coap_msg_ctx_free(c);
		return NULL;
	}
	/* libcoap logs to stderr by default; nothing it says here is needed. */
	coap_set_log_level(LOG_EMERG);
	return c;
}

/* Frees a context; NULL is fine. */
void
coap_msg_ctx_free(struct coap_msg_ctx *c)
{
	if (c == NULL)
		return;
	free(c->opts);
	free(c->scratch);
	free(c);
}

/* Formats a reason with numbers into the context and returns it. */
static const char *why_fmt(struct coap_msg_ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static const char *
why_fmt(struct coap_msg_ctx *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->why, sizeof(c->why), fmt, ap);
	va_end(ap);
	return c->why;
}

/* Reads the next option: 1 with *o filled, 0 at the end or payload, -1 with *why. */
static int
walk_next(struct walk *w, struct opt *o, const char **why)
{
	uint32_t delta, len;
	uint8_t b;

	if (w->p >= w->end)
		return 0;
	b = *w->p++;
	if (b == 0xff) {
		if (w->p == w->end) {
			*why = "payload marker with no payload";
			return -1;
		}
		w->payload = w->p;
		w->p = w->end;
		return 0;
	}
	delta = b >> 4;
	len = b & 0x0f;
	if (delta == 15) {
		*why = "option delta nibble 15";
		return -1;
	}
	if (len == 15) {
		*why = "option length nibble 15";
		return -1;
	}
	if (delta == 13) {
		if (w->end - w->p < 1)
			goto truncated;
		delta = 13 + w->p[0];
		w->p += 1;
	} else if (delta == 14) {
		if (w->end - w->p < 2)
			goto truncated;
		delta = 269 + ((uint32_t)w->p[0] << 8 | w->p[1]);
		w->p += 2;
	}
	if (len == 13) {
		if (w->end - w->p < 1)
			goto truncated;
		len = 13 + w->p[0];
		w->p += 1;
	} else if (len == 14) {
		if (w->end - w->p < 2)
			goto truncated;
		len = 269 + ((uint32_t)w->p[0] << 8 | w->p[1]);
		w->p += 2;
	}
	if (w->num + delta > 65535) {
		*why = "option number overflow";
		return -1;
	}
	if ((size_t)(w->end - w->p) < len)
		goto truncated;
	w->num += delta;
	o->num = (uint16_t)w->num;
	o->val = w->p;
	o->len = len;
	w->p += len;
	return 1;
truncated:
	*why = "truncated option";
	return -1;
}

/* Starts a walk over the options of a message whose header and token are valid. */
static void
walk_init(struct walk *w, const uint8_t *buf, size_t len)
{
	w->p = buf + 4 + (buf[0] & 0x0f);
	w->end = buf + len;
	w->num = 0;
	w->payload = NULL;
}

/* Validates a CoAP-over-UDP datagram and fills info; 0, or -1 with *why. */
int
coap_msg_inspect(struct coap_msg_ctx *c, const uint8_t *buf, size_t len, struct coap_msg_info *info,
    const char **why)
{
	struct walk w;
	struct opt o;
	unsigned int tkl, cls;
	int r;

	memset(info, 0, sizeof(*info));
	if (len < 4) {
		*why = "truncated header";
		return -1;
	}
	if (buf[0] >> 6 != 1) {
		*why = why_fmt(c, "bad version %u", (unsigned int)(buf[0] >> 6));
		return -1;
	}
	info->type = (buf[0] >> 4) & 0x03;
	info->code = buf[1];
	info->mid = (uint16_t)(buf[2] << 8 | buf[3]);
	info->can_reset = info->type == COAP_MSG_CON;
	tkl = buf[0] & 0x0f;
	cls = info->code >> 5;
	if (tkl > 8) {
		*why = why_fmt(c, "token length %u (max 8)", tkl);
		return -1;
	}
	if (len < 4 + tkl) {
		*why = "truncated token";
		return -1;
	}
	info->token_len = (uint8_t)tkl;
	memcpy(info->token, buf + 4, tkl);
	if (info->code == 0) {
		if (len != 4) {
			*why = "empty message with token or options";
			return -1;
		}
		if (info->type == COAP_MSG_NON) {
			*why = "empty NON message";
			return -1;
		}
		info->is_empty = true;
		return 0;
	}
	if (cls == 1 || cls == 3 || cls >= 6) {
		*why = why_fmt(c, "code %u.%02u: reserved class", cls,
		    (unsigned int)(info->code & 0x1f));
		return -1;
	}
	if (info->type == COAP_MSG_RST) {
		*why = why_fmt(c, "RST with code %u.%02u (must be empty)", cls,
		    (unsigned int)(info->code & 0x1f));
		return -1;
	}
	info->is_request = cls == 0;
	info->is_response = !info->is_request;
	if (info->type == COAP_MSG_ACK && info->is_request) {
		*why = "ACK carrying a request";
		return -1;
	}
	walk_init(&w, buf, len);
	while ((r = walk_next(&w, &o, why)) == 1) {
		switch (o.num) {
		case COAP_MSG_OPT_OBSERVE:
			/* A longer value is an unrecognised elective option (§5.4.3). */
			if (!info->has_observe && o.len <= 3) {
				info->has_observe = true;
				info->observe = coap_decode_var_bytes(o.val, o.len);
			}
			break;
		case COAP_MSG_OPT_PROXY_URI:
			info->has_proxy_uri = true;
			break;
		case COAP_MSG_OPT_PROXY_SCHEME:
			info->has_proxy_scheme = true;
			break;
		}
	}
	if (r < 0)
		return -1;
	if (w.payload != NULL)
		info->payload_len = (size_t)(w.end - w.payload);
	return 0;
}

/* Builds an empty RST for mid into out; returns its length, or 0 if out is too small. */
size_t
coap_msg_build_rst(uint8_t *out, size_t outlen, uint16_t mid)
{
	if (outlen < 4)
		return 0;
	out[0] = 0x40 | COAP_MSG_RST << 4;
	out[1] = 0;
	coap_msg_set_mid(out, mid);
	return 4;
}

/* Builds the proxy's own answer to a CON or NON request; returns its length or 0. */
size_t
coap_msg_build_answer(uint8_t *out, size_t outlen, const struct coap_msg_info *req, uint8_t code,
    uint16_t new_mid, const char *payload)
{
	size_t pos, plen, n;
	uint8_t type;

	if (!req->is_request || req->token_len > 8)
		return 0;
	if (req->type == COAP_MSG_CON)
		type = COAP_MSG_ACK;
	else if (req->type == COAP_MSG_NON)
		type = COAP_MSG_NON;
	else
		return 0;
	pos = 4 + (size_t)req->token_len;
	if (outlen < pos)
		return 0;
	out[0] = (uint8_t)(0x40 | type << 4 | req->token_len);
	out[1] = code;
	coap_msg_set_mid(out, type == COAP_MSG_ACK ? req->mid : new_mid);
	memcpy(out + 4, req->token, req->token_len);
	plen = payload != NULL ? strlen(payload) : 0;
	if (plen == 0)
		return pos;
	/* Content-Format text/plain;charset=utf-8 is 0: an empty uint. */
	n = coap_opt_encode(out + pos, outlen - pos, COAP_MSG_OPT_CONTENT_FORMAT, out, 0);
	if (n == 0)
		return 0;
	pos += n;
	if (outlen - pos < 1 + plen)
		return 0;
	out[pos++] = 0xff;
	memcpy(out + pos, payload, plen);
	return pos + plen;
}

/* Rewrites the MID of a message in place. */
void
coap_msg_set_mid(uint8_t *buf, uint16_t mid)
{
	buf[2] = (uint8_t)(mid >> 8);
	buf[3] = (uint8_t)(mid & 0xff);
}

/* Reserves n bytes of scratch space; NULL when it is used up. */
static uint8_t *
scratch_take(struct coap_msg_ctx *c, size_t n)
{
	uint8_t *p;

	if (c->scratch_cap - c->scratch_used < n)
		return NULL;
	p = c->scratch + c->scratch_used;
	c->scratch_used += n;
	return p;
}

/* Percent-decodes s into scratch space; -1 on a bad escape or no space. */
static int
pct_decode(struct coap_msg_ctx *c, const uint8_t *s, size_t n, const uint8_t **out, size_t *outlen)
{
	uint8_t *d;
	size_t i, k = 0;
	int hi, lo;

	d = scratch_take(c, n);
	if (d == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] != '%') {
			d[k++] = s[i];
			continue;
		}
		if (n - i < 3)
			return -1;
		hi = text_hex_digit(s[i + 1]);
		lo = text_hex_digit(s[i + 2]);
		if (hi < 0 || lo < 0)
			return -1;
		d[k++] = (uint8_t)(hi << 4 | lo);
		i += 2;
	}
	/* Give back what decoding saved. */
	c->scratch_used -= n - k;
	*out = d;
	*outlen = k;
	return 0;
}

/* Appends an option to insert; -1 when the table is full. */
static int
newopt_add(struct coap_msg_ctx *c, uint16_t num, const uint8_t *val, size_t len)
{
	size_t i;

	if (c->nopts == c->opts_cap)
		return -1;
	/* Keep the table sorted by number; equal numbers keep their order. */
	i = c->nopts++;
	while (i > 0 && c->opts[i - 1].num > num) {
		c->opts[i] = c->opts[i - 1];
		i--;
	}
	c->opts[i].num = num;
	c->opts[i].val = val;
	c->opts[i].len = len;
	return 0;
}

/* Splits s at sep into percent-decoded options numbered num; -1 with *why. */
static int
split_add(struct coap_msg_ctx *c, const uint8_t *s, size_t n, uint8_t sep, uint16_t num,
    const char *what, const char **why)
{
	const uint8_t *start = s, *end = s + n, *q, *val;
	size_t len;

	for (;;) {
		q = memchr(start, sep, (size_t)(end - start));
		if (q == NULL)
			q = end;
		len = (size_t)(q - start);
		if (num == COAP_MSG_OPT_URI_PATH &&
		    ((len == 1 && start[0] == '.') ||
		        (len == 2 && start[0] == '.' && start[1] == '.'))) {
			*why = "dot segment in Proxy-Uri path";
			return -1;
		}
		if (pct_decode(c, start, len, &val, &len) < 0) {
			*why = why_fmt(c, "bad percent-encoding in Proxy-Uri %s", what);
			return -1;
		}
		if (len > OPT_VALUE_MAX) {
			*why = why_fmt(c, "Proxy-Uri %s longer than 255 bytes", what);
			return -1;
		}
		/*
		 * RFC 7252 allows an empty Uri-Query, but libcoap 4.3.1 (and
		 * so many backends) rejects the whole message for one: an
		 * empty argument ("a&&b") says nothing, so it is left out.
		 */
		if (len == 0 && num == COAP_MSG_OPT_URI_QUERY)
			goto next;
		if (newopt_add(c, num, val, len) < 0) {
			*why = "too many options";
			return -1;
		}
	next:
		if (q == end)
			return 0;
		start = q + 1;
	}
}

/* Tells whether the NUL-free host bytes are an IPv4 or IPv6 literal. */
static bool
host_is_ip(const uint8_t *host, size_t len)
{
	char tmp[INET6_ADDRSTRLEN + 1];
	uint8_t addr[16];

	if (len == 0 || len >= sizeof(tmp))
		return false;
	memcpy(tmp, host, len);
	tmp[len] = '\0';
	return inet_pton(AF_INET, tmp, addr) == 1 || inet_pton(AF_INET6, tmp, addr) == 1;
}

/* Checks a host name and lower-cases it in scratch space; -1 with *why. */
static int
host_take(struct coap_msg_ctx *c, const uint8_t *h, size_t len, struct target *t, const char **why)
{
	uint8_t *d;
	size_t i;

	if (len == 0) {
		*why = "empty host in proxy request";
		return -1;
	}
	if (len > OPT_VALUE_MAX) {
		*why = "host longer than 255 bytes in proxy request";
		return -1;
	}
	if (memchr(h, '\0', len) != NULL) {
		*why = "NUL in host of proxy request";
		return -1;
	}
	/* A Uri-Host may hold an IPv6 literal in brackets (RFC 3986 IP-literal). */
	if (len >= 2 && h[0] == '[' && h[len - 1] == ']') {
		if (!host_is_ip(h + 1, len - 2)) {
			*why = "bad IP literal in proxy request";
			return -1;
		}
		h++;
		len -= 2;
	}
	t->host_is_ip = host_is_ip(h, len);
	if (t->host_is_ip) {
		t->host = h;
		t->host_len = len;
		return 0;
	}
	d = scratch_take(c, len);
	if (d == NULL) {
		*why = "host does not fit";
		return -1;
	}
	for (i = 0; i < len; i++)
		d[i] = (h[i] >= 'A' && h[i] <= 'Z') ? (uint8_t)(h[i] + 32) : h[i];
	t->host = d;
	t->host_len = len;
	return 0;
}

/* Returns the name of a libcoap URI scheme. */
static const char *
scheme_name(enum coap_uri_scheme_t s)
{
	switch (s) {
	case COAP_URI_SCHEME_COAP:
		return "coap";
	case COAP_URI_SCHEME_COAPS:
		return "coaps";
	case COAP_URI_SCHEME_COAP_TCP:
		return "coap+tcp";
	case COAP_URI_SCHEME_COAPS_TCP:
		return "coaps+tcp";
	case COAP_URI_SCHEME_HTTP:
		return "http";
	case COAP_URI_SCHEME_HTTPS:
		return "https";
	default: /* libcoap 4.3.4 adds coap+ws, coaps+ws */
		break;
	}
	return "unknown";
}

/*
 * The scheme of a Proxy-Uri that libcoap 4.3.2 and later refuse to split
 * when built without it (notls: coaps), for the same answer as with 4.3.1.
 */
static const char *
refused_scheme(const uint8_t *val, size_t len)
{
	static const char *const names[] = { "coaps", "coap+tcp", "coaps+tcp", "http", "https" };

	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		size_t n = strlen(names[i]);

		if (len > n + 3 && memcmp(val, names[i], n) == 0 && memcmp(val + n, "://", 3) == 0)
			return names[i];
	}
	return NULL;
}

/*
 * Decodes a Proxy-Uri into t and, with make_opts, appends its Uri-Path and
 * Uri-Query options to the insert table. 0, or -1 with *why.
 */
static int
proxy_uri_decode(struct coap_msg_ctx *c, const uint8_t *val, size_t len, struct target *t,
    bool make_opts, const char **why)
{
	coap_uri_t uri;
	const uint8_t *host;
	size_t i, host_len;

	if (len == 0 || len > PROXY_URI_MAX) {
		*why = why_fmt(c, "Proxy-Uri length %zu (1-%d)", len, PROXY_URI_MAX);
		return -1;
	}
	for (i = 0; i < len; i++) {
		if (val[i] <= 0x20 || val[i] >= 0x7f) {
			*why = "bad character in Proxy-Uri";
			return -1;
		}
		if (val[i] == '#') {
			*why = "fragment in Proxy-Uri";
			return -1;
		}
	}
	memset(&uri, 0, sizeof(uri));
	if (coap_split_proxy_uri(val, len, &uri) < 0) {
		const char *scheme = refused_scheme(val, len);

		*why = scheme != NULL ? why_fmt(c, "Proxy-Uri scheme %s not supported", scheme)
		                      : "unparsable Proxy-Uri";
		return -1;
	}
	if (uri.scheme != COAP_URI_SCHEME_COAP) {
		*why = why_fmt(c, "Proxy-Uri scheme %s not supported", scheme_name(uri.scheme));
		return -1;
	}
	if (uri.port == 0) {
		*why = "port 0 in Proxy-Uri";
		return -1;
	}
	t->port = uri.port;
	if (pct_decode(c, uri.host.s, uri.host.length, &host, &host_len) < 0) {
		*why = "bad percent-encoding in Proxy-Uri host";
		return -1;
	}
	if (host_take(c, host, host_len, t, why) < 0)
		return -1;
	if (!make_opts)
		return 0;
	/* RFC 7252 §6.4 step 8: an empty path or "/" gives no Uri-Path. */
	if (uri.path.length > 0 && split_add(c, uri.path.s, uri.path.length, '/',
	                               COAP_MSG_OPT_URI_PATH, "path segment", why) < 0)
		return -1;
	if (uri.query.length > 0 && split_add(c, uri.query.s, uri.query.length, '&',
	                                COAP_MSG_OPT_URI_QUERY, "query argument", why) < 0)
		return -1;
	return 0;
}

/* The proxy options of a request as found by proxy_scan(). */
struct proxy_opts {
	struct opt uri, scheme, host, port;
	int n_uri, n_scheme, n_host, n_port;
};

/* Collects the proxy-related options of a valid message; -1 with *why on repeats. */
static int
proxy_scan(const uint8_t *buf, size_t len, struct proxy_opts *po, const char **why)
{
	struct walk w;
	struct opt o;

	memset(po, 0, sizeof(*po));
	walk_init(&w, buf, len);
	while (walk_next(&w, &o, why) == 1) {
		switch (o.num) {
		case COAP_MSG_OPT_PROXY_URI:
			po->uri = o;
			po->n_uri++;
			break;
		case COAP_MSG_OPT_PROXY_SCHEME:
			po->scheme = o;
			po->n_scheme++;
			break;
		case COAP_MSG_OPT_URI_HOST:
			if (po->n_host++ == 0)
				po->host = o;
			break;
		case COAP_MSG_OPT_URI_PORT:
			if (po->n_port++ == 0)
				po->port = o;
			break;
		}
	}
	/* Critical and not repeatable: a repeat is a bad option (§5.4.5). */
	if (po->n_uri > 1) {
		*why = "repeated Proxy-Uri";
		return -1;
	}
	if (po->n_uri == 0 && po->n_scheme > 1) {
		*why = "repeated Proxy-Scheme";
		return -1;
	}
	return 0;
}

/* Decodes the target of a Proxy-Scheme request from its Uri-Host and Uri-Port. */
static int
proxy_scheme_decode(struct coap_msg_ctx *c, const struct proxy_opts *po, struct target *t,
    const char **why)
{
	if (po->scheme.len != 4 || strncasecmp((const char *)po->scheme.val, "coap", 4) != 0) {
		*why = "Proxy-Scheme not supported (only coap)";
		return -1;
	}
	if (po->n_host == 0) {
		*why = "Proxy-Scheme without Uri-Host";
		return -1;
	}
	if (po->n_host > 1 || po->n_port > 1) {
		*why = "repeated Uri-Host or Uri-Port";
		return -1;
	}
	if (host_take(c, po->host.val, po->host.len, t, why) < 0)
		return -1;
	t->port = COAP_MSG_DEFAULT_PORT;
	if (po->n_port == 1) {
		if (po->port.len > 2) {
			*why = "Uri-Port longer than 2 bytes";
			return -1;
		}
		t->port = (uint16_t)coap_decode_var_bytes(po->port.val, po->port.len);
		if (t->port == 0) {
			*why = "Uri-Port 0";
			return -1;
		}
	}
	return 0;
}

/* Finds where a forward-proxy request wants to go; 0, or -1 with *why. */
int
coap_msg_proxy_target(struct coap_msg_ctx *c, const uint8_t *buf, size_t len, char *host,
    size_t hostlen, uint16_t *port, const char **why)
{
	struct coap_msg_info info;
	struct proxy_opts po;
	struct target t;

	if (coap_msg_inspect(c, buf, len, &info, why) < 0)
		return -1;
	if (!info.is_request) {
		*why = "not a request";
		return -1;
	}
	if (proxy_scan(buf, len, &po, why) < 0)
		return -1;
	c->scratch_used = 0;
	memset(&t, 0, sizeof(t));
	if (po.n_uri == 1) {
		if (proxy_uri_decode(c, po.uri.val, po.uri.len, &t, false, why) < 0)
			return -1;
	} else if (po.n_scheme == 1) {
		if (proxy_scheme_decode(c, &po, &t, why) < 0)
			return -1;
	} else {
		*why = "no Proxy-Uri or Proxy-Scheme";
		return -1;
	}
	if (t.host_len >= hostlen) {
		*why = "host does not fit";
		return -1;
	}
	memcpy(host, t.host, t.host_len);
	host[t.host_len] = '\0';
	*port = t.port;
	return 0;
}

/* Encodes one option after the option numbered *last; -1 if out is full. */
static int
emit_opt(uint8_t *out, size_t outlen, size_t *pos, uint16_t *last, uint16_t num, const uint8_t *val,
    size_t len)
{
	size_t n;

	if (len > OPT_LEN_MAX)
		return -1;
	if (len == 0)
		val = out; /* never read; keeps NULL away from memcpy */
	n = coap_opt_encode(out + *pos, outlen - *pos, (uint16_t)(num - *last), val, len);
	if (n == 0)
		return -1;
	*pos += n;
	*last = num;
	return 0;
}

/* Tells whether rewriting drops an option the device sent. */
static bool
rewrite_drops(uint16_t num, uint16_t identity_opt, bool strip_proxy, bool from_proxy_uri)
{
	if (identity_opt != 0 && num == identity_opt)
		return true;
	if (!strip_proxy)
		return false;
	if (num == COAP_MSG_OPT_PROXY_URI || num == COAP_MSG_OPT_PROXY_SCHEME)
		return true;
	/* Proxy-Uri takes precedence over Uri-* options (§5.10.2). */
	return from_proxy_uri && (num == COAP_MSG_OPT_URI_HOST || num == COAP_MSG_OPT_URI_PORT ||
	                             num == COAP_MSG_OPT_URI_PATH || num == COAP_MSG_OPT_URI_QUERY);
}

/* Fills the insert table for a rewrite: Uri-* from a Proxy-Uri, and the identity. */
static int
rewrite_plan(struct coap_msg_ctx *c, const uint8_t *in, size_t inlen, uint16_t identity_opt,
    const char *identity, size_t identity_len, bool strip_proxy, bool *from_proxy_uri,
    const char **why)
{
	struct proxy_opts po;
	struct target t;
	uint8_t *portval;
	unsigned int n;

	c->nopts = 0;
	c->scratch_used = 0;
	*from_proxy_uri = false;
	if (strip_proxy) {
		if (proxy_scan(in, inlen, &po, why) < 0)
			return -1;
		if (po.n_uri == 1) {
			*from_proxy_uri = true;
			memset(&t, 0, sizeof(t));
			if (proxy_uri_decode(c, po.uri.val, po.uri.len, &t, true, why) < 0)
				return -1;
			if (!t.host_is_ip &&
			    newopt_add(c, COAP_MSG_OPT_URI_HOST, t.host, t.host_len) < 0)
				goto full;
			if (t.port != COAP_MSG_DEFAULT_PORT) {
				portval = scratch_take(c, 2);
				if (portval == NULL)
					goto full;
				n = coap_encode_var_safe(portval, 2, t.port);
				if (newopt_add(c, COAP_MSG_OPT_URI_PORT, portval, n) < 0)
					goto full;
			}
		}
	}
	if (identity_opt != 0) {
		if (identity_len > OPT_LEN_MAX) {
			*why = "identity too long";
			return -1;
		}
		if (newopt_add(c, identity_opt, (const uint8_t *)identity, identity_len) < 0)
			goto full;
	}
	return 0;
full:
	*why = "too many options";
	return -1;
}

/* Rewrites a request for forwarding into out; the new length, or 0 with *why. */
size_t
coap_msg_rewrite_request(struct coap_msg_ctx *c, const uint8_t *in, size_t inlen, uint8_t *out,
    size_t outlen, uint16_t identity_opt, const char *identity, size_t identity_len,
    bool strip_proxy, const char **why)
{
	struct coap_msg_info info;
	struct walk w;
	struct opt o;
	size_t pos, next = 0, plen;
	uint16_t last = 0;
	bool from_proxy_uri;

	if (inlen > c->max_size) {
		*why = why_fmt(c, "message too large (%zu > %zu bytes)", inlen, c->max_size);
		return 0;
	}
	if (coap_msg_inspect(c, in, inlen, &info, why) < 0)
		return 0;
	if (!info.is_request) {
		*why = "not a request";
		return 0;
	}
	if (rewrite_plan(c, in, inlen, identity_opt, identity, identity_len, strip_proxy,
	        &from_proxy_uri, why) < 0)
		return 0;
	pos = 4 + (size_t)info.token_len;
	if (outlen < pos)
		goto too_small;
	memcpy(out, in, pos);
	walk_init(&w, in, inlen);
	while (walk_next(&w, &o, why) == 1) {
		if (rewrite_drops(o.num, identity_opt, strip_proxy, from_proxy_uri))
			continue;
		for (; next < c->nopts && c->opts[next].num <= o.num; next++)
			if (emit_opt(out, outlen, &pos, &last, c->opts[next].num, c->opts[next].val,
			        c->opts[next].len) < 0)
				goto too_small;
		if (emit_opt(out, outlen, &pos, &last, o.num, o.val, o.len) < 0)
			goto too_small;
	}
	for (; next < c->nopts; next++)
		if (emit_opt(out, outlen, &pos, &last, c->opts[next].num, c->opts[next].val,
		        c->opts[next].len) < 0)
			goto too_small;
	if (w.payload != NULL) {
		plen = (size_t)(w.end - w.payload);
		if (outlen - pos < 1 + plen)
			goto too_small;
		out[pos++] = 0xff;
		memcpy(out + pos, w.payload, plen);
		pos += plen;
	}
	return pos;
too_small:
	*why = "rewritten message does not fit";
	return 0;
}

/* Tells whether a byte may stand unescaped in a path segment (RFC 3986 pchar). */
static bool
is_pchar(uint8_t ch)
{
	if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
		return true;
	return ch != '\0' && strchr("-._~!$&'()*+,;=:@", ch) != NULL;
}

/* Appends len bytes percent-encoded to dst at *pos; -1 if it does not fit. */
static int
pct_append(char *dst, size_t dstlen, size_t *pos, const uint8_t *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i;

	for (i = 0; i < len; i++) {
		if (is_pchar(s[i])) {
			if (dstlen - *pos < 2)
				return -1;
			dst[(*pos)++] = (char)s[i];
		} else {
			if (dstlen - *pos < 4)
				return -1;
			dst[(*pos)++] = '%';
			dst[(*pos)++] = hex[s[i] >> 4];
			dst[(*pos)++] = hex[s[i] & 0x0f];
		}
	}
	dst[*pos] = '\0';
	return 0;
}

/* Writes the request's path and first Uri-Host for routing; 0 or -1. */
int
coap_msg_request_target(struct coap_msg_ctx *c, const uint8_t *buf, size_t len, char *path,
    size_t pathlen, char *uri_host, size_t hostlen)
{
	struct coap_msg_info info;
	struct walk w;
	struct opt o;
	const char *why;
	size_t ppos = 0, hpos = 0;
	bool have_host = false;

	if (pathlen < 2 || hostlen < 1)
		return -1;
	if (coap_msg_inspect(c, buf, len, &info, &why) < 0)
		return -1;
	uri_host[0] = '\0';
	path[0] = '\0';
	walk_init(&w, buf, len);
	while (walk_next(&w, &o, &why) == 1) {
		if (o.num == COAP_MSG_OPT_URI_PATH) {
			if (pathlen - ppos < 2)
				return -1;
			path[ppos++] = '/';
			path[ppos] = '\0';
			if (pct_append(path, pathlen, &ppos, o.val, o.len) < 0)
				return -1;
		} else if (o.num == COAP_MSG_OPT_URI_HOST && !have_host) {
			have_host = true;
			if (pct_append(uri_host, hostlen, &hpos, o.val, o.len) < 0)
				return -1;
		}
	}
	if (ppos == 0) {
		path[0] = '/';
		path[1] = '\0';
	}
	return 0;
}
