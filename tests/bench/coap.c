/* coap.c: the few CoAP (RFC 7252) encodings the bench needs, bounds-checked. */
#include "config.h"

#include <string.h>

#include "bench.h"

#define OPT_URI_PATH 11
#define OPT_CONTENT_FORMAT 12
#define OPT_PROXY_URI 35

/* Parse a CoAP message header, token and payload; 0 or -1 when malformed. */
int
bcoap_parse(const uint8_t *buf, size_t len, struct coap_view *v)
{
	size_t pos;

	if (len < 4 || (buf[0] >> 6) != 1)
		return -1;
	v->type = (buf[0] >> 4) & 3;
	v->tkl = buf[0] & 0x0f;
	v->code = buf[1];
	v->mid = (uint16_t)((buf[2] << 8) | buf[3]);
	if (v->tkl > 8 || len < 4u + v->tkl)
		return -1;
	v->token = buf + 4;
	v->payload = NULL;
	v->payload_len = 0;
	pos = 4u + v->tkl;
	/* Skip the options to find the payload marker. */
	while (pos < len) {
		unsigned d, l;
		if (buf[pos] == 0xff) {
			if (pos + 1 >= len)
				return -1;
			v->payload = buf + pos + 1;
			v->payload_len = len - pos - 1;
			return 0;
		}
		d = buf[pos] >> 4;
		l = buf[pos] & 0x0f;
		pos++;
		if (d == 15 || l == 15)
			return -1;
		if (d == 13)
			pos += 1;
		else if (d == 14)
			pos += 2;
		if (pos > len)
			return -1;
		if (l == 13) {
			if (pos + 1 > len)
				return -1;
			l = 13u + buf[pos];
			pos += 1;
		} else if (l == 14) {
			if (pos + 2 > len)
				return -1;
			l = 269u + (unsigned)((buf[pos] << 8) | buf[pos + 1]);
			pos += 2;
		}
		if (pos + l > len)
			return -1;
		pos += l;
	}
	return 0;
}

/* Append one option (delta from prev) to out; new length or 0 when it does not fit. */
static size_t
opt_put(uint8_t *out, size_t pos, size_t cap, unsigned *prev, unsigned num, const uint8_t *val,
    size_t vlen)
{
	unsigned d = num - *prev;
	uint8_t ext[4];
	size_t n = 0;
	uint8_t hd, hl;

	if (d < 13) {
		hd = (uint8_t)d;
	} else if (d < 269) {
		hd = 13;
		ext[n++] = (uint8_t)(d - 13);
	} else {
		hd = 14;
		ext[n++] = (uint8_t)((d - 269) >> 8);
		ext[n++] = (uint8_t)(d - 269);
	}
	if (vlen < 13) {
		hl = (uint8_t)vlen;
	} else if (vlen < 269) {
		hl = 13;
		ext[n++] = (uint8_t)(vlen - 13);
	} else {
		hl = 14;
		ext[n++] = (uint8_t)((vlen - 269) >> 8);
		ext[n++] = (uint8_t)(vlen - 269);
	}
	if (pos + 1 + n + vlen > cap)
		return 0;
	out[pos++] = (uint8_t)(hd << 4 | hl);
	memcpy(out + pos, ext, n);
	pos += n;
	if (vlen > 0)
		memcpy(out + pos, val, vlen);
	*prev = num;
	return pos + vlen;
}

/*
 * Build the part of a request after the token: Uri-Path segments (or one
 * Proxy-Uri), Content-Format for POST and the payload. Returns its length, 0
 * when it does not fit.
 */
size_t
bcoap_build_tail(uint8_t *out, size_t cap, const char *path, const char *proxy_uri, bool post,
    unsigned size)
{
	unsigned prev = 0;
	size_t pos = 0;

	if (proxy_uri == NULL && path != NULL) {
		const char *p = path;
		while (*p != '\0') {
			const char *e;
			while (*p == '/')
				p++;
			if (*p == '\0')
				break;
			e = strchr(p, '/');
			if (e == NULL)
				e = p + strlen(p);
			pos = opt_put(out, pos, cap, &prev, OPT_URI_PATH, (const uint8_t *)p,
			    (size_t)(e - p));
			if (pos == 0)
				return 0;
			p = e;
		}
	}
	if (post) {
		uint8_t cf = 42; /* application/octet-stream */
		pos = opt_put(out, pos, cap, &prev, OPT_CONTENT_FORMAT, &cf, 1);
		if (pos == 0)
			return 0;
	}
	if (proxy_uri != NULL) {
		pos = opt_put(out, pos, cap, &prev, OPT_PROXY_URI, (const uint8_t *)proxy_uri,
		    strlen(proxy_uri));
		if (pos == 0)
			return 0;
	}
	if (post && size > 0) {
		if (pos + 1 + size > cap)
			return 0;
		out[pos++] = 0xff;
		for (unsigned i = 0; i < size; i++)
			out[pos++] = (uint8_t)('a' + i % 26);
	}
	/* An empty tail is valid: signal it as length 0 only through the caller's check. */
	return pos;
}

/* Write a header plus token; returns its length (4 + tkl). */
size_t
bcoap_header(uint8_t *out, uint8_t type, uint8_t code, uint16_t mid, const uint8_t *token,
    uint8_t tkl)
{
	out[0] = (uint8_t)(0x40 | (type << 4) | tkl);
	out[1] = code;
	out[2] = (uint8_t)(mid >> 8);
	out[3] = (uint8_t)mid;
	if (tkl > 0)
		memcpy(out + 4, token, tkl);
	return 4u + tkl;
}
