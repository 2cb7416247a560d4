/* state.c: encodes and decodes the saved-sessions format (state.h); every length is checked. */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/md.h>

#include "state.h"

/* Record field types; a reader skips types it does not know. */
enum {
	STATE_T_KIND = 1,       /* u8 enum state_kind */
	STATE_T_IDENTITY = 2,   /* bytes */
	STATE_T_PEER = 3,       /* address: u8 4|6, 4|16 bytes, u16 port */
	STATE_T_LOCAL = 4,      /* address */
	STATE_T_LISTENER = 5,   /* address */
	STATE_T_CID = 6,        /* bytes */
	STATE_T_TIMES = 7,      /* u64 created, u64 established, u64 last (unix ms) */
	STATE_T_CIPHER = 8,     /* text */
	STATE_T_CONTEXT = 9,    /* mbedtls_ssl_context_save output */
	STATE_T_UPSTREAM = 10,  /* u16 slot, u16 local port, u8 flags, address, text name */
	STATE_T_MID = 11,       /* u16 device MID, u16 backend MID, u16 slot, u32 age ms */
	STATE_T_MID_STATE = 12, /* u16 next MID, i16 last slot */
	STATE_T_ID = 13,        /* u32 session id (as logged) */
	STATE_T_PSK_TAG = 14,   /* 8 bytes: SHA-256 of the PSK key, cut (a changed key revokes) */
	STATE_T_CERT = 15,      /* i64 not after (unix s), u16 subject length, subject, issuer */
	STATE_T_SCOPE = 16,     /* u32 IPv6 scope ids of peer, local (ifindex), listener; if any */
	STATE_T_PENDING = 17,   /* u16 MID, u16 slot, u8 type, code, u32 age, left ms, token */
};

#define STATE_UP_OBSERVING 0x01

/* Sets *cause to a formatted message (or a fixed one when out of memory); returns -1. */
static int __attribute__((format(printf, 2, 3))) state_fail(char **cause, const char *fmt, ...)
{
	va_list ap;

	if (cause == NULL)
		return -1;
	va_start(ap, fmt);
	if (vasprintf(cause, fmt, ap) < 0)
		*cause = NULL;
	va_end(ap);
	return -1;
}

/* Stores a u16 in network byte order. */
static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Stores a u32 in network byte order. */
static void
put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

/* Stores a u64 in network byte order. */
static void
put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

/* Reads a u16 in network byte order. */
static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

/* Reads a u32 in network byte order. */
static uint32_t
get32(const uint8_t *p)
{
	return ((uint32_t)get16(p) << 16) | get16(p + 2);
}

/* Reads a u64 in network byte order. */
static uint64_t
get64(const uint8_t *p)
{
	return ((uint64_t)get32(p) << 32) | get32(p + 4);
}

/* Makes room for n more bytes; 0 or -1. */
static int
out_reserve(struct state_out *o, size_t n)
{
	size_t want;
	uint8_t *nb;

	if (n > STATE_MAX_BODY || o->len + n > STATE_HEADER_LEN + (size_t)STATE_MAX_BODY)
		return -1;
	if (o->len + n <= o->size)
		return 0;
	want = o->size * 2;
	while (want < o->len + n)
		want *= 2;
	if ((nb = realloc(o->buf, want)) == NULL)
		return -1;
	o->buf = nb;
	o->size = want;
	return 0;
}

/* Appends one TLV; 0 or -1. */
static int
out_tlv(struct state_out *o, uint8_t type, const void *v, size_t len)
{
	if (len > UINT16_MAX || out_reserve(o, 3 + len) == -1)
		return -1;
	o->buf[o->len] = type;
	put16(o->buf + o->len + 1, (uint16_t)len);
	if (len > 0)
		memcpy(o->buf + o->len + 3, v, len);
	o->len += 3 + len;
	return 0;
}

/* Encodes an address into b (at least 19 bytes); its length, or 0 if not IPv4/IPv6. */
static size_t
addr_encode(uint8_t *b, const struct sockaddr_storage *ss, socklen_t len)
{
	if (ss->ss_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;

		b[0] = 4;
		memcpy(b + 1, &sin->sin_addr, 4);
		memcpy(b + 5, &sin->sin_port, 2);
		return 7;
	}
	if (ss->ss_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

		b[0] = 6;
		memcpy(b + 1, &sin6->sin6_addr, 16);
		memcpy(b + 17, &sin6->sin6_port, 2);
		return 19;
	}
	return 0;
}

/* Decodes an address of len bytes; 0, or -1 if malformed. */
static int
addr_decode(const uint8_t *b, size_t len, struct sockaddr_storage *ss, socklen_t *sslen)
{
	memset(ss, 0, sizeof *ss);
	if (len == 7 && b[0] == 4) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, b + 1, 4);
		memcpy(&sin->sin_port, b + 5, 2);
		*sslen = sizeof *sin;
		return 0;
	}
	if (len == 19 && b[0] == 6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, b + 1, 16);
		memcpy(&sin6->sin6_port, b + 17, 2);
		*sslen = sizeof *sin6;
		return 0;
	}
	return -1;
}

/* The IPv6 scope id (link-local interface) of an address, or 0. */
static uint32_t
addr_scope(const struct sockaddr_storage *ss, socklen_t len)
{
	if (ss->ss_family != AF_INET6 || len < (socklen_t)sizeof(struct sockaddr_in6))
		return 0;
	return ((const struct sockaddr_in6 *)ss)->sin6_scope_id;
}

/* Sets the IPv6 scope id of a decoded address (an IPv4 one has none). */
static void
addr_set_scope(struct sockaddr_storage *ss, uint32_t scope)
{
	if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_scope_id = scope;
}

/* Appends an address TLV if the address is set; 0 or -1. */
static int
out_addr(struct state_out *o, uint8_t type, const struct sockaddr_storage *ss, socklen_t len)
{
	uint8_t b[19];
	size_t n;

	if (len == 0)
		return 0;
	if ((n = addr_encode(b, ss, len)) == 0)
		return -1;
	return out_tlv(o, type, b, n);
}

/* Computes the digest of header bytes 0..27 (flags 0) and the body into md; 0 or -1. */
static int
state_digest(const uint8_t *hdr, const uint8_t *body, size_t len, uint8_t md[32])
{
	const mbedtls_md_info_t *info = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
	mbedtls_md_context_t ctx;
	int rc = -1;

	if (info == NULL)
		return -1;
	mbedtls_md_init(&ctx);
	if (mbedtls_md_setup(&ctx, info, 0) == 0 && mbedtls_md_starts(&ctx) == 0 &&
	    mbedtls_md_update(&ctx, hdr, 28) == 0 && mbedtls_md_update(&ctx, body, len) == 0 &&
	    mbedtls_md_finish(&ctx, md) == 0)
		rc = 0;
	mbedtls_md_free(&ctx);
	return rc;
}

int
state_out_init(struct state_out *o, char **cause)
{
	memset(o, 0, sizeof *o);
	o->size = 4096;
	if ((o->buf = calloc(1, o->size)) == NULL)
		return state_fail(cause, "out of memory");
	o->len = STATE_HEADER_LEN;
	return 0;
}

int
state_out_add(struct state_out *o, const struct state_session *ss, char **cause)
{
	size_t start = o->len, i;
	uint8_t b[6 + 19 + STATE_NAME_MAX]; /* the largest field: an upstream */
	uint8_t kind = (uint8_t)ss->kind, cb[10 + 2 * STATE_CERT_NAME_MAX];
	uint32_t scope[3];
	size_t sl = strnlen(ss->cert_subject, sizeof ss->cert_subject),
	       il = strnlen(ss->cert_issuer, sizeof ss->cert_issuer);

	if (o->count >= STATE_MAX_SESSIONS)
		return state_fail(cause, "more than %u sessions", STATE_MAX_SESSIONS);
	if (ss->identity_len > STATE_IDENTITY_MAX || ss->cid_len > STATE_CID_MAX ||
	    ss->context_len == 0 || ss->context_len > STATE_CONTEXT_MAX ||
	    ss->n_up > STATE_UPSTREAMS || ss->n_mids > STATE_MIDS || ss->n_pend > STATE_PENDING ||
	    strnlen(ss->cipher, sizeof ss->cipher) > STATE_CIPHER_MAX ||
	    (ss->has_cert && (sl > STATE_CERT_NAME_MAX || il > STATE_CERT_NAME_MAX)))
		return state_fail(cause, "a session field is out of bounds");
	if (ss->kind != STATE_KIND_PSK && ss->kind != STATE_KIND_X509 &&
	    ss->kind != STATE_KIND_ANONYMOUS)
		return state_fail(cause, "unknown session kind %d", (int)ss->kind);
	if (out_reserve(o, 4) == -1)
		goto nomem;
	o->len += 4; /* the record length, filled in below */
	put64(b, ss->created_ms);
	put64(b + 8, ss->established_ms);
	put64(b + 16, ss->last_ms);
	put32(b + 24, ss->id);
	if (out_tlv(o, STATE_T_KIND, &kind, 1) == -1 || out_tlv(o, STATE_T_ID, b + 24, 4) == -1 ||
	    out_tlv(o, STATE_T_IDENTITY, ss->identity, ss->identity_len) == -1 ||
	    out_addr(o, STATE_T_PEER, &ss->peer, ss->peer_len) == -1 ||
	    out_addr(o, STATE_T_LOCAL, &ss->local, ss->local_len) == -1 ||
	    out_addr(o, STATE_T_LISTENER, &ss->listener, ss->listener_len) == -1 ||
	    out_tlv(o, STATE_T_CID, ss->cid, ss->cid_len) == -1 ||
	    out_tlv(o, STATE_T_TIMES, b, 24) == -1 ||
	    out_tlv(o, STATE_T_CIPHER, ss->cipher, strlen(ss->cipher)) == -1 ||
	    out_tlv(o, STATE_T_CONTEXT, ss->context, ss->context_len) == -1 ||
	    (ss->has_psk_tag && out_tlv(o, STATE_T_PSK_TAG, ss->psk_tag, sizeof ss->psk_tag) == -1))
		goto nomem;
	scope[0] = addr_scope(&ss->peer, ss->peer_len);
	scope[1] = addr_scope(&ss->local, ss->local_len);
	scope[2] = addr_scope(&ss->listener, ss->listener_len);
	if ((scope[0] | scope[1] | scope[2]) != 0) {
		for (i = 0; i < 3; i++)
			put32(b + 4 * i, scope[i]);
		if (out_tlv(o, STATE_T_SCOPE, b, 12) == -1)
			goto nomem;
	}
	if (ss->has_cert) {
		put64(cb, (uint64_t)ss->cert_not_after);
		put16(cb + 8, (uint16_t)sl);
		memcpy(cb + 10, ss->cert_subject, sl);
		memcpy(cb + 10 + sl, ss->cert_issuer, il);
		if (out_tlv(o, STATE_T_CERT, cb, 10 + sl + il) == -1)
			goto nomem;
	}
	for (i = 0; i < ss->n_up; i++) {
		const struct state_upstream *u = &ss->up[i];
		size_t nl = strnlen(u->name, sizeof u->name), al;

		if (nl > STATE_NAME_MAX || u->slot >= STATE_UPSTREAMS)
			goto bounds;
		put16(b, u->slot);
		put16(b + 2, u->local_port);
		b[4] = u->observing ? STATE_UP_OBSERVING : 0;
		if ((al = addr_encode(b + 6, &u->backend, u->backend_len)) == 0)
			goto bounds;
		b[5] = (uint8_t)al;
		memcpy(b + 6 + al, u->name, nl);
		if (out_tlv(o, STATE_T_UPSTREAM, b, 6 + al + nl) == -1)
			goto nomem;
	}
	for (i = 0; i < ss->n_mids; i++) {
		const struct state_mid *m = &ss->mids[i];

		if (m->backend >= STATE_UPSTREAMS)
			goto bounds;
		put16(b, m->device_mid);
		put16(b + 2, m->backend_mid);
		put16(b + 4, m->backend);
		put32(b + 6, m->age_ms);
		if (out_tlv(o, STATE_T_MID, b, 10) == -1)
			goto nomem;
	}
	for (i = 0; i < ss->n_pend; i++) {
		const struct state_pending *q = &ss->pend[i];

		if (q->slot >= STATE_UPSTREAMS || q->token_len > sizeof q->token)
			goto bounds;
		put16(b, q->mid);
		put16(b + 2, q->slot);
		b[4] = q->type;
		b[5] = q->code;
		put32(b + 6, q->age_ms);
		put32(b + 10, q->left_ms);
		memcpy(b + 14, q->token, q->token_len);
		if (out_tlv(o, STATE_T_PENDING, b, 14u + q->token_len) == -1)
			goto nomem;
	}
	put16(b, ss->next_mid);
	put16(b + 2, (uint16_t)ss->last_slot);
	if (out_tlv(o, STATE_T_MID_STATE, b, 4) == -1)
		goto nomem;
	if (o->len - start - 4 > STATE_MAX_RECORD) {
		o->len = start;
		return state_fail(cause, "a session record is larger than %u bytes",
		    STATE_MAX_RECORD);
	}
	put32(o->buf + start, (uint32_t)(o->len - start - 4));
	o->count++;
	return 0;
bounds:
	o->len = start;
	return state_fail(cause, "an upstream or MID entry is out of bounds");
nomem:
	o->len = start;
	return state_fail(cause, "out of memory or state larger than %u bytes", STATE_MAX_BODY);
}

int
state_out_finish(struct state_out *o, uint64_t saved_ms, uint8_t **data, size_t *len, char **cause)
{
	memcpy(o->buf, STATE_MAGIC, 8);
	put16(o->buf + 8, STATE_VERSION);
	put16(o->buf + 10, 0);
	put32(o->buf + 12, o->count);
	put32(o->buf + 16, (uint32_t)(o->len - STATE_HEADER_LEN));
	put64(o->buf + 20, saved_ms);
	if (state_digest(o->buf, o->buf + STATE_HEADER_LEN, o->len - STATE_HEADER_LEN,
	        o->buf + 28) == -1)
		return state_fail(cause, "cannot compute the digest");
	/* The complete flag is not under the digest: it is the last byte written. */
	put16(o->buf + 10, STATE_FLAG_COMPLETE);
	*data = o->buf;
	*len = o->len;
	o->buf = NULL;
	o->len = o->size = 0;
	return 0;
}

void
state_out_free(struct state_out *o)
{
	free(o->buf);
	o->buf = NULL;
	o->len = o->size = 0;
}

int
state_in_open(struct state_in *in, const uint8_t *buf, size_t len, char **cause)
{
	uint8_t md[32], hdr[STATE_HEADER_LEN];
	uint32_t count, body;
	uint16_t version, flags;

	memset(in, 0, sizeof *in);
	if (len < STATE_HEADER_LEN)
		return state_fail(cause, "truncated: %zu bytes, the header alone is %d", len,
		    STATE_HEADER_LEN);
	if (memcmp(buf, STATE_MAGIC, 8) != 0)
		return state_fail(cause, "not a coaps-proxy state (wrong magic)");
	version = get16(buf + 8);
	if (version != STATE_VERSION)
		return state_fail(cause, "unknown format version %u (this build reads %d)", version,
		    STATE_VERSION);
	flags = get16(buf + 10);
	if (!(flags & STATE_FLAG_COMPLETE))
		return state_fail(cause, "incomplete (not written by a clean stop)");
	if (flags & ~STATE_FLAG_COMPLETE)
		return state_fail(cause, "unknown flags 0x%04x", flags);
	count = get32(buf + 12);
	body = get32(buf + 16);
	if (count > STATE_MAX_SESSIONS)
		return state_fail(cause, "too many sessions: %u (at most %u)", count,
		    STATE_MAX_SESSIONS);
	if (body > STATE_MAX_BODY)
		return state_fail(cause, "oversize: body of %u bytes (at most %u)", body,
		    STATE_MAX_BODY);
	if (len - STATE_HEADER_LEN < body)
		return state_fail(cause, "truncated: %zu bytes, the header says %u", len,
		    STATE_HEADER_LEN + body);
	if (len - STATE_HEADER_LEN > body)
		return state_fail(cause, "%zu bytes after the end", len - STATE_HEADER_LEN - body);
	/* The digest covers the header with flags 0. */
	memcpy(hdr, buf, STATE_HEADER_LEN);
	put16(hdr + 10, 0);
	if (state_digest(hdr, buf + STATE_HEADER_LEN, body, md) == -1)
		return state_fail(cause, "cannot compute the digest");
	if (memcmp(md, buf + 28, 32) != 0)
		return state_fail(cause, "corrupt (checksum mismatch)");
	in->p = buf + STATE_HEADER_LEN;
	in->end = in->p + body;
	in->count = count;
	in->saved_ms = get64(buf + 20);
	return 0;
}

/* Decodes one record's TLVs into *ss; 0, or -1 with *cause. */
static int
state_in_record(const uint8_t *p, const uint8_t *end, struct state_session *ss, char **cause)
{
	uint32_t seen = 0, scope[3] = { 0, 0, 0 };

	memset(ss, 0, sizeof *ss);
	ss->last_slot = -1;
	while (p < end) {
		uint8_t type;
		uint16_t len;
		const uint8_t *v;

		if (end - p < 3)
			return state_fail(cause, "a field header is cut off");
		type = p[0];
		len = get16(p + 1);
		v = p + 3;
		if ((size_t)(end - v) < len)
			return state_fail(cause, "field %u is cut off", type);
		p = v + len;
		if (type < 32 && type != STATE_T_UPSTREAM && type != STATE_T_MID &&
		    type != STATE_T_PENDING) {
			if (seen & (1u << type))
				return state_fail(cause, "field %u appears twice", type);
			seen |= 1u << type;
		}
		switch (type) {
		case STATE_T_KIND:
			if (len != 1 || (v[0] != STATE_KIND_PSK && v[0] != STATE_KIND_X509 &&
			                    v[0] != STATE_KIND_ANONYMOUS))
				return state_fail(cause, "bad session kind");
			ss->kind = (enum state_kind)v[0];
			break;
		case STATE_T_ID:
			if (len != 4)
				return state_fail(cause, "bad session id");
			ss->id = get32(v);
			break;
		case STATE_T_PSK_TAG:
			if (len != sizeof ss->psk_tag)
				return state_fail(cause, "bad PSK tag");
			memcpy(ss->psk_tag, v, len);
			ss->has_psk_tag = true;
			break;
		case STATE_T_IDENTITY:
			if (len > STATE_IDENTITY_MAX)
				return state_fail(cause, "identity longer than %d bytes",
				    STATE_IDENTITY_MAX);
			memcpy(ss->identity, v, len);
			ss->identity_len = len;
			break;
		case STATE_T_PEER:
			if (addr_decode(v, len, &ss->peer, &ss->peer_len) == -1)
				return state_fail(cause, "bad peer address");
			break;
		case STATE_T_LOCAL:
			if (addr_decode(v, len, &ss->local, &ss->local_len) == -1)
				return state_fail(cause, "bad local address");
			break;
		case STATE_T_LISTENER:
			if (addr_decode(v, len, &ss->listener, &ss->listener_len) == -1)
				return state_fail(cause, "bad listener address");
			break;
		case STATE_T_CID:
			if (len > STATE_CID_MAX)
				return state_fail(cause, "CID longer than %d bytes", STATE_CID_MAX);
			memcpy(ss->cid, v, len);
			ss->cid_len = len;
			break;
		case STATE_T_TIMES:
			if (len != 24)
				return state_fail(cause, "bad times field");
			ss->created_ms = get64(v);
			ss->established_ms = get64(v + 8);
			ss->last_ms = get64(v + 16);
			break;
		case STATE_T_CIPHER:
			if (len > STATE_CIPHER_MAX || memchr(v, '\0', len) != NULL)
				return state_fail(cause, "bad cipher name");
			memcpy(ss->cipher, v, len);
			ss->cipher[len] = '\0';
			break;
		case STATE_T_SCOPE:
			if (len != 12)
				return state_fail(cause, "bad scope field");
			for (int i = 0; i < 3; i++)
				scope[i] = get32(v + 4 * i);
			break;
		case STATE_T_CERT: {
			size_t sl, il;

			if (len < 10)
				return state_fail(cause, "bad certificate field");
			sl = get16(v + 8);
			if (sl > (size_t)len - 10)
				return state_fail(cause, "bad certificate subject length");
			il = len - 10 - sl;
			if (sl > STATE_CERT_NAME_MAX || il > STATE_CERT_NAME_MAX ||
			    memchr(v + 10, '\0', sl + il) != NULL)
				return state_fail(cause, "bad certificate subject or issuer");
			ss->cert_not_after = (int64_t)get64(v);
			memcpy(ss->cert_subject, v + 10, sl);
			ss->cert_subject[sl] = '\0';
			memcpy(ss->cert_issuer, v + 10 + sl, il);
			ss->cert_issuer[il] = '\0';
			ss->has_cert = true;
			break;
		}
		case STATE_T_CONTEXT:
			if (len == 0 || len > STATE_CONTEXT_MAX)
				return state_fail(cause, "DTLS context of %u bytes (1 to %d)", len,
				    STATE_CONTEXT_MAX);
			ss->context = v;
			ss->context_len = len;
			break;
		case STATE_T_UPSTREAM: {
			struct state_upstream *u;
			size_t al, nl;

			if (ss->n_up >= STATE_UPSTREAMS)
				return state_fail(cause, "more than %d upstreams", STATE_UPSTREAMS);
			if (len < 6)
				return state_fail(cause, "bad upstream field");
			al = v[5];
			if (al > (size_t)len - 6)
				return state_fail(cause, "bad upstream address length");
			nl = len - 6 - al;
			if (nl > STATE_NAME_MAX || memchr(v + 6 + al, '\0', nl) != NULL)
				return state_fail(cause, "bad backend name");
			u = &ss->up[ss->n_up];
			u->slot = get16(v);
			u->local_port = get16(v + 2);
			if (u->slot >= STATE_UPSTREAMS || u->local_port == 0)
				return state_fail(cause, "bad upstream slot or port");
			for (size_t i = 0; i < ss->n_up; i++)
				if (ss->up[i].slot == u->slot)
					return state_fail(cause, "upstream slot %u twice", u->slot);
			if (v[4] & ~STATE_UP_OBSERVING)
				return state_fail(cause, "unknown upstream flags");
			u->observing = (v[4] & STATE_UP_OBSERVING) != 0;
			if (addr_decode(v + 6, al, &u->backend, &u->backend_len) == -1)
				return state_fail(cause, "bad backend address");
			memcpy(u->name, v + 6 + al, nl);
			u->name[nl] = '\0';
			ss->n_up++;
			break;
		}
		case STATE_T_MID: {
			struct state_mid *m;

			if (ss->n_mids >= STATE_MIDS)
				return state_fail(cause, "more than %d MID entries", STATE_MIDS);
			if (len != 10)
				return state_fail(cause, "bad MID field");
			m = &ss->mids[ss->n_mids++];
			m->device_mid = get16(v);
			m->backend_mid = get16(v + 2);
			m->backend = get16(v + 4);
			m->age_ms = get32(v + 6);
			if (m->backend >= STATE_UPSTREAMS)
				return state_fail(cause, "MID entry of slot %u", m->backend);
			break;
		}
		case STATE_T_PENDING: {
			struct state_pending *q;

			if (ss->n_pend >= STATE_PENDING)
				return state_fail(cause, "more than %d pending requests",
				    STATE_PENDING);
			if (len < 14 || len > 14 + sizeof q->token)
				return state_fail(cause, "bad pending request field");
			q = &ss->pend[ss->n_pend++];
			q->mid = get16(v);
			q->slot = get16(v + 2);
			q->type = v[4];
			q->code = v[5];
			q->age_ms = get32(v + 6);
			q->left_ms = get32(v + 10);
			q->token_len = (uint8_t)(len - 14);
			memcpy(q->token, v + 14, q->token_len);
			if (q->slot >= STATE_UPSTREAMS)
				return state_fail(cause, "pending request of slot %u", q->slot);
			break;
		}
		case STATE_T_MID_STATE: {
			int16_t ls;

			if (len != 4)
				return state_fail(cause, "bad MID state field");
			ss->next_mid = get16(v);
			ls = (int16_t)get16(v + 2);
			if (ls < -1 || ls >= STATE_UPSTREAMS)
				return state_fail(cause, "bad last slot");
			ss->last_slot = ls;
			break;
		}
		default:
			break; /* a field a newer writer added that this reader can skip */
		}
	}
	if (!(seen & (1u << STATE_T_KIND)) || ss->peer_len == 0 || ss->context == NULL)
		return state_fail(cause, "a session lacks its kind, peer or DTLS context");
	/* Fields come in any order: the scopes go on the addresses at the end. */
	addr_set_scope(&ss->peer, scope[0]);
	addr_set_scope(&ss->local, scope[1]);
	addr_set_scope(&ss->listener, scope[2]);
	return 0;
}

int
state_in_next(struct state_in *in, struct state_session *ss, char **cause)
{
	uint32_t rlen;
	const uint8_t *r;

	if (in->done == in->count) {
		if (in->p != in->end)
			return state_fail(cause, "%zu bytes after the last session",
			    (size_t)(in->end - in->p));
		return 0;
	}
	if (in->end - in->p < 4)
		return state_fail(cause, "session %u of %u is cut off", in->done + 1, in->count);
	rlen = get32(in->p);
	r = in->p + 4;
	if (rlen > STATE_MAX_RECORD || (size_t)(in->end - r) < rlen)
		return state_fail(cause, "session %u of %u: bad record length %u", in->done + 1,
		    in->count, rlen);
	if (state_in_record(r, r + rlen, ss, cause) == -1)
		return -1;
	in->p = r + rlen;
	in->done++;
	return 1;
}
