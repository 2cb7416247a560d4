/* probe-wire.c: DTLS 1.2 record building and parsing for dtls-probe (bounds-checked). */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "probe-wire.h"

/* Fills a buffer with random bytes (getrandom, with a rand() fallback). */
void
rand_fill(uint8_t *p, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = getrandom(p + done, n - done, 0);

		if (r <= 0)
			break;
		done += (size_t)r;
	}
	for (; done < n; done++)
		p[done] = (uint8_t)rand();
}

/* Appends one byte. */
void
wbuf_u8(struct wbuf *b, unsigned v)
{
	if (b->len + 1 > b->cap) {
		b->err = true;
		return;
	}
	b->p[b->len++] = (uint8_t)v;
}

/* Appends a 16-bit big-endian value. */
void
wbuf_u16(struct wbuf *b, unsigned v)
{
	wbuf_u8(b, (v >> 8) & 0xff);
	wbuf_u8(b, v & 0xff);
}

/* Appends a 24-bit big-endian value. */
void
wbuf_u24(struct wbuf *b, unsigned long v)
{
	wbuf_u8(b, (v >> 16) & 0xff);
	wbuf_u8(b, (v >> 8) & 0xff);
	wbuf_u8(b, v & 0xff);
}

/* Appends a 48-bit big-endian value. */
void
wbuf_u48(struct wbuf *b, uint64_t v)
{
	for (int shift = 40; shift >= 0; shift -= 8)
		wbuf_u8(b, (unsigned)(v >> shift) & 0xff);
}

/* Appends n bytes. */
void
wbuf_mem(struct wbuf *b, const void *src, size_t n)
{
	if (n > b->cap - b->len) {
		b->err = true;
		return;
	}
	if (n > 0)
		memcpy(b->p + b->len, src, n);
	b->len += n;
}

/* Appends n random bytes. */
void
wbuf_rand(struct wbuf *b, size_t n)
{
	if (n > b->cap - b->len) {
		b->err = true;
		return;
	}
	rand_fill(b->p + b->len, n);
	b->len += n;
}

/* Overwrites a 16-bit value at off (already written). */
void
wbuf_set_u16(struct wbuf *b, size_t off, unsigned v)
{
	if (off + 2 > b->len) {
		b->err = true;
		return;
	}
	b->p[off] = (uint8_t)(v >> 8);
	b->p[off + 1] = (uint8_t)v;
}

/* Overwrites a 24-bit value at off (already written). */
void
wbuf_set_u24(struct wbuf *b, size_t off, unsigned long v)
{
	if (off + 3 > b->len) {
		b->err = true;
		return;
	}
	b->p[off] = (uint8_t)(v >> 16);
	b->p[off + 1] = (uint8_t)(v >> 8);
	b->p[off + 2] = (uint8_t)v;
}

/* Writes a record header with a zero length; returns the offset of the length field. */
size_t
rec_begin(struct wbuf *b, unsigned type, unsigned version, unsigned epoch, uint64_t seq)
{
	wbuf_u8(b, type);
	wbuf_u16(b, version);
	wbuf_u16(b, epoch);
	wbuf_u48(b, seq);
	wbuf_u16(b, 0);
	return b->len - 2;
}

/* Sets the record length field to the bytes written since rec_begin(). */
void
rec_end(struct wbuf *b, size_t len_off)
{
	wbuf_set_u16(b, len_off, (unsigned)(b->len - len_off - 2));
}

/* Writes an unfragmented handshake header with zero lengths; returns its offset. */
size_t
hs_begin(struct wbuf *b, unsigned type, unsigned msg_seq)
{
	size_t off = b->len;

	wbuf_u8(b, type);
	wbuf_u24(b, 0);
	wbuf_u16(b, msg_seq);
	wbuf_u24(b, 0);
	wbuf_u24(b, 0);
	return off;
}

/* Sets message and fragment length of the handshake header at off to the body written. */
void
hs_end(struct wbuf *b, size_t off)
{
	unsigned long body = b->len - off - HS_HDR_LEN;

	wbuf_set_u24(b, off + 1, body);
	wbuf_set_u24(b, off + 9, body);
}

/* Writes a ClientHello body (no handshake header). */
void
hello_body_write(struct wbuf *b, const struct hello_params *hp)
{
	size_t ext_off, i;

	wbuf_u16(b, DTLS12_VERSION);
	wbuf_mem(b, hp->random, sizeof(hp->random));
	wbuf_u8(b, 0); /* session id */
	wbuf_u8(b, (unsigned)hp->cookie_len);
	wbuf_mem(b, hp->cookie, hp->cookie_len);
	wbuf_u16(b, (unsigned)(hp->n_suites * 2));
	for (i = 0; i < hp->n_suites; i++)
		wbuf_u16(b, hp->suites[i]);
	wbuf_u8(b, 1); /* compression methods: null */
	wbuf_u8(b, 0);
	ext_off = b->len;
	wbuf_u16(b, 0);
	/* supported_groups */
	wbuf_u16(b, 0x000a);
	wbuf_u16(b, (unsigned)(2 + hp->n_curves * 2));
	wbuf_u16(b, (unsigned)(hp->n_curves * 2));
	for (i = 0; i < hp->n_curves; i++)
		wbuf_u16(b, hp->curves[i]);
	/* ec_point_formats: uncompressed */
	wbuf_u16(b, 0x000b);
	wbuf_u16(b, 2);
	wbuf_u8(b, 1);
	wbuf_u8(b, 0);
	/* signature_algorithms: ecdsa_secp256r1_sha256 */
	wbuf_u16(b, 0x000d);
	wbuf_u16(b, 4);
	wbuf_u16(b, 2);
	wbuf_u16(b, 0x0403);
	wbuf_set_u16(b, ext_off, (unsigned)(b->len - ext_off - 2));
}

/* Writes a complete ClientHello record (one record, one unfragmented message). */
void
hello_record_write(struct wbuf *b, const struct hello_params *hp, unsigned msg_seq,
    uint64_t rec_seq)
{
	size_t len_off = rec_begin(b, CT_HANDSHAKE, DTLS12_VERSION, 0, rec_seq);
	size_t hs_off = hs_begin(b, HS_CLIENT_HELLO, msg_seq);

	hello_body_write(b, hp);
	hs_end(b, hs_off);
	rec_end(b, len_off);
}

/* Records one "recv ..." event in the chosen output mode. */
void
out_emit(struct out *o, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	switch (o->mode) {
	case OUT_PRINT:
		printf("recv %s\n", tmp);
		break;
	case OUT_COLLECT:
		if (o->len < sizeof(o->line)) {
			n = snprintf(o->line + o->len, sizeof(o->line) - o->len, "%srecv %s",
			    o->len > 0 ? "; " : "", tmp);
			if (n > 0)
				o->len += (size_t)n;
			if (o->len >= sizeof(o->line))
				o->len = sizeof(o->line) - 1;
		}
		break;
	case OUT_QUIET:
		break;
	}
}

/* Returns the RFC 5246/8446 name of an alert description. */
static const char *
alert_name(unsigned desc)
{
	switch (desc) {
	case 0:
		return "close_notify";
	case 10:
		return "unexpected_message";
	case 20:
		return "bad_record_mac";
	case 21:
		return "decryption_failed";
	case 22:
		return "record_overflow";
	case 30:
		return "decompression_failure";
	case 40:
		return "handshake_failure";
	case 41:
		return "no_certificate";
	case 42:
		return "bad_certificate";
	case 43:
		return "unsupported_certificate";
	case 44:
		return "certificate_revoked";
	case 45:
		return "certificate_expired";
	case 46:
		return "certificate_unknown";
	case 47:
		return "illegal_parameter";
	case 48:
		return "unknown_ca";
	case 49:
		return "access_denied";
	case 50:
		return "decode_error";
	case 51:
		return "decrypt_error";
	case 70:
		return "protocol_version";
	case 71:
		return "insufficient_security";
	case 80:
		return "internal_error";
	case 86:
		return "inappropriate_fallback";
	case 90:
		return "user_canceled";
	case 100:
		return "no_renegotiation";
	case 109:
		return "missing_extension";
	case 110:
		return "unsupported_extension";
	case 112:
		return "unrecognized_name";
	case 115:
		return "unknown_psk_identity";
	case 120:
		return "no_application_protocol";
	default:
		return "unknown";
	}
}

/* Returns the name of a handshake message type. */
static const char *
hs_name(unsigned type)
{
	switch (type) {
	case 0:
		return "hello_request";
	case 1:
		return "client_hello";
	case 2:
		return "server_hello";
	case 3:
		return "hello_verify_request";
	case 4:
		return "new_session_ticket";
	case 11:
		return "certificate";
	case 12:
		return "server_key_exchange";
	case 13:
		return "certificate_request";
	case 14:
		return "server_hello_done";
	case 15:
		return "certificate_verify";
	case 16:
		return "client_key_exchange";
	case 20:
		return "finished";
	default:
		return "unknown";
	}
}

/* Reads a big-endian integer of n bytes (n <= 8) from p. */
uint64_t
be_get(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

/* Reports a HelloVerifyRequest body and keeps its cookie. */
static void
parse_hvr(const uint8_t *body, size_t len, struct recv_stats *st, struct out *o)
{
	size_t clen;

	if (len < 3 || (clen = body[2]) > len - 3) {
		st->malformed++;
		out_emit(o, "hello-verify-request malformed len=%zu", len);
		return;
	}
	st->hvr++;
	st->got_hvr = true;
	st->terminal = true;
	memcpy(st->cookie, body + 3, clen);
	st->cookie_len = clen;
	out_emit(o, "hello-verify-request cookie_len=%zu", clen);
}

/* Reports a ServerHello body (version, session id, suite). */
static void
parse_server_hello(const uint8_t *body, size_t len, struct recv_stats *st, struct out *o)
{
	size_t sid_len;
	unsigned suite;

	/* version(2) random(32) sid_len(1) sid suite(2) compression(1) */
	if (len < 35 || (sid_len = body[34]) > len - 35 || len - 35 - sid_len < 3) {
		st->malformed++;
		out_emit(o, "server-hello malformed len=%zu", len);
		return;
	}
	suite = (unsigned)be_get(body + 35 + sid_len, 2);
	st->server_hellos++;
	st->suite = (uint16_t)suite;
	out_emit(o, "server-hello suite=0x%04X version=0x%04X", suite, (unsigned)be_get(body, 2));
}

/* Reports every handshake message inside one plaintext handshake record. */
static void
parse_handshake(const uint8_t *p, size_t len, struct recv_stats *st, struct out *o)
{
	for (int guard = 0; len > 0 && guard < 256; guard++) {
		unsigned type, msg_seq;
		size_t msg_len, frag_off, frag_len;

		if (len < HS_HDR_LEN) {
			st->malformed++;
			out_emit(o, "handshake malformed header_len=%zu", len);
			return;
		}
		type = p[0];
		msg_len = (size_t)be_get(p + 1, 3);
		msg_seq = (unsigned)be_get(p + 4, 2);
		frag_off = (size_t)be_get(p + 6, 3);
		frag_len = (size_t)be_get(p + 9, 3);
		if (frag_len > len - HS_HDR_LEN) {
			st->malformed++;
			out_emit(o, "handshake type=%u malformed frag_len=%zu left=%zu", type,
			    frag_len, len - HS_HDR_LEN);
			return;
		}
		if (frag_off != 0 || frag_len != msg_len) {
			out_emit(o,
			    "handshake type=%u (%s) fragment seq=%u off=%zu len=%zu total=%zu",
			    type, hs_name(type), msg_seq, frag_off, frag_len, msg_len);
		} else if (type == HS_HELLO_VERIFY_REQUEST) {
			parse_hvr(p + HS_HDR_LEN, frag_len, st, o);
		} else if (type == HS_SERVER_HELLO) {
			parse_server_hello(p + HS_HDR_LEN, frag_len, st, o);
		} else {
			if (type == HS_SERVER_HELLO_DONE)
				st->terminal = true;
			out_emit(o, "handshake type=%u (%s) len=%zu", type, hs_name(type), msg_len);
		}
		p += HS_HDR_LEN + frag_len;
		len -= HS_HDR_LEN + frag_len;
	}
}

/* Reports every record in one received datagram, bounds-checking each field. */
void
parse_datagram(const uint8_t *d, size_t n, struct recv_stats *st, struct out *o)
{
	st->datagrams++;
	st->bytes += n;
	if (n < REC_HDR_LEN) {
		st->malformed++;
		out_emit(o, "malformed datagram len=%zu", n);
		return;
	}
	while (n > 0) {
		unsigned type, version, epoch;
		size_t len;
		const uint8_t *body;

		if (n < REC_HDR_LEN) {
			st->malformed++;
			out_emit(o, "malformed trailing bytes=%zu", n);
			return;
		}
		type = d[0];
		version = (unsigned)be_get(d + 1, 2);
		epoch = (unsigned)be_get(d + 3, 2);
		len = (size_t)be_get(d + 11, 2);
		if (len > n - REC_HDR_LEN) {
			st->malformed++;
			out_emit(o, "malformed record type=%u len=%zu left=%zu", type, len,
			    n - REC_HDR_LEN);
			return;
		}
		body = d + REC_HDR_LEN;
		st->records++;
		if (epoch != 0) {
			if (type == CT_ALERT) {
				st->alerts++;
				st->terminal = true;
			}
			out_emit(o, "encrypted type=%u epoch=%u len=%zu", type, epoch, len);
		} else if (type == CT_ALERT) {
			st->alerts++;
			st->terminal = true;
			if (len >= 2)
				out_emit(o, "alert level=%u desc=%u (%s)", body[0], body[1],
				    alert_name(body[1]));
			else
				out_emit(o, "alert malformed len=%zu", len);
		} else if (type == CT_HANDSHAKE) {
			parse_handshake(body, len, st, o);
		} else if (type == CT_CCS) {
			out_emit(o, "change-cipher-spec len=%zu", len);
		} else if (type == CT_APPDATA) {
			out_emit(o, "application-data epoch=0 len=%zu", len);
		} else {
			out_emit(o, "record type=%u version=0x%04X len=%zu", type, version, len);
		}
		d += REC_HDR_LEN + len;
		n -= REC_HDR_LEN + len;
	}
}
