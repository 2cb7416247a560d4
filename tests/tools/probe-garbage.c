/* probe-garbage.c: builders for the hostile datagrams that dtls-probe garbage sends. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "probe-garbage.h"

/* Fills hp with a default ClientHello for the garbage cases. */
static void
gcase_hello(struct hello_params *hp, const struct hello_params *base)
{
	*hp = *base;
	hp->cookie_len = 0;
	rand_fill(hp->random, sizeof(hp->random));
}

/* Case empty: a zero-byte datagram. */
static void
gcase_empty(struct wbuf *b, const struct hello_params *base)
{
	(void)b;
	(void)base;
}

/* Case short: 5 bytes, the start of a record header. */
static void
gcase_short(struct wbuf *b, const struct hello_params *base)
{
	(void)base;
	wbuf_u8(b, CT_HANDSHAKE);
	wbuf_u16(b, DTLS12_VERSION);
	wbuf_u16(b, 0);
}

/* Case bad-version: a valid ClientHello in a record with version 0x0301. */
static void
gcase_bad_version(struct wbuf *b, const struct hello_params *base)
{
	struct hello_params hp;
	size_t len_off, hs_off;

	gcase_hello(&hp, base);
	len_off = rec_begin(b, CT_HANDSHAKE, 0x0301, 0, 0);
	hs_off = hs_begin(b, HS_CLIENT_HELLO, 0);
	hello_body_write(b, &hp);
	hs_end(b, hs_off);
	rec_end(b, len_off);
}

/* Case epoch1-appdata: 40 random bytes of application data in epoch 1. */
static void
gcase_epoch1_appdata(struct wbuf *b, const struct hello_params *base)
{
	size_t len_off = rec_begin(b, CT_APPDATA, DTLS12_VERSION, 1, 1);

	(void)base;
	wbuf_rand(b, 40);
	rec_end(b, len_off);
}

/* Case ccs-epoch0: a ChangeCipherSpec before any handshake. */
static void
gcase_ccs_epoch0(struct wbuf *b, const struct hello_params *base)
{
	size_t len_off = rec_begin(b, CT_CCS, DTLS12_VERSION, 0, 0);

	(void)base;
	wbuf_u8(b, 1);
	rec_end(b, len_off);
}

/* Case finished-epoch0: a plaintext Finished message (12 random verify_data bytes). */
static void
gcase_finished_epoch0(struct wbuf *b, const struct hello_params *base)
{
	size_t len_off = rec_begin(b, CT_HANDSHAKE, DTLS12_VERSION, 0, 0);
	size_t hs_off = hs_begin(b, HS_FINISHED, 0);

	(void)base;
	wbuf_rand(b, 12);
	hs_end(b, hs_off);
	rec_end(b, len_off);
}

/* Case appdata-epoch0: plaintext application data in epoch 0. */
static void
gcase_appdata_epoch0(struct wbuf *b, const struct hello_params *base)
{
	size_t len_off = rec_begin(b, CT_APPDATA, DTLS12_VERSION, 0, 0);

	(void)base;
	wbuf_rand(b, 20);
	rec_end(b, len_off);
}

/* Case record-len-overflow: a ClientHello whose record length exceeds the datagram. */
static void
gcase_record_len_overflow(struct wbuf *b, const struct hello_params *base)
{
	struct hello_params hp;
	size_t len_off;

	gcase_hello(&hp, base);
	hello_record_write(b, &hp, 0, 0);
	len_off = 11;
	wbuf_set_u16(b, len_off, (unsigned)(b->len - REC_HDR_LEN + 100));
}

/* Case record-len-truncated: handshake and fragment lengths larger than the record. */
static void
gcase_record_len_truncated(struct wbuf *b, const struct hello_params *base)
{
	struct hello_params hp;
	size_t hs_off = REC_HDR_LEN;
	unsigned long body;

	gcase_hello(&hp, base);
	hello_record_write(b, &hp, 0, 0);
	body = b->len - REC_HDR_LEN - HS_HDR_LEN;
	wbuf_set_u24(b, hs_off + 1, body + 200);
	wbuf_set_u24(b, hs_off + 9, body + 200);
}

/* Writes one ClientHello fragment record of body[off, off+len) claiming total length. */
static void
frag_record_write(struct wbuf *b, const uint8_t *body, size_t total, size_t off, size_t len,
    uint64_t rec_seq)
{
	size_t len_off = rec_begin(b, CT_HANDSHAKE, DTLS12_VERSION, 0, rec_seq);

	wbuf_u8(b, HS_CLIENT_HELLO);
	wbuf_u24(b, total);
	wbuf_u16(b, 0);
	wbuf_u24(b, off);
	wbuf_u24(b, len);
	if (off <= total && len <= total - off)
		wbuf_mem(b, body + off, len);
	else
		wbuf_rand(b, len);
	rec_end(b, len_off);
}

/* Builds a ClientHello body into tmp; returns its length. */
static size_t
gcase_body(uint8_t *tmp, size_t cap, const struct hello_params *base)
{
	struct hello_params hp;
	struct wbuf t = { .p = tmp, .cap = cap };

	gcase_hello(&hp, base);
	hello_body_write(&t, &hp);
	return t.err ? 0 : t.len;
}

/* Case hs-frag-overlap: two ClientHello fragments (0..60% and 40%..end) in one datagram. */
static void
gcase_hs_frag_overlap(struct wbuf *b, const struct hello_params *base)
{
	uint8_t tmp[1024];
	size_t n = gcase_body(tmp, sizeof(tmp), base);
	size_t a = n * 6 / 10, c = n * 4 / 10;

	frag_record_write(b, tmp, n, 0, a, 0);
	frag_record_write(b, tmp, n, c, n - c, 1);
}

/* Case hs-frag-exceed: a fragment whose offset + length exceeds the message length. */
static void
gcase_hs_frag_exceed(struct wbuf *b, const struct hello_params *base)
{
	uint8_t tmp[1024];
	size_t n = gcase_body(tmp, sizeof(tmp), base);

	frag_record_write(b, tmp, n, 10, n, 0);
}

/* Case cookie-len-past-end: the cookie length byte points past the end of the message. */
static void
gcase_cookie_len_past_end(struct wbuf *b, const struct hello_params *base)
{
	size_t len_off = rec_begin(b, CT_HANDSHAKE, DTLS12_VERSION, 0, 0);
	size_t hs_off = hs_begin(b, HS_CLIENT_HELLO, 0);

	(void)base;
	wbuf_u16(b, DTLS12_VERSION);
	wbuf_rand(b, 32);
	wbuf_u8(b, 0);   /* session id */
	wbuf_u8(b, 255); /* cookie length, but only 4 bytes follow */
	wbuf_rand(b, 4);
	hs_end(b, hs_off);
	rec_end(b, len_off);
}

/* Case suites-len-odd: a ClientHello with a 3-byte cipher suite list. */
static void
gcase_suites_len_odd(struct wbuf *b, const struct hello_params *base)
{
	size_t len_off = rec_begin(b, CT_HANDSHAKE, DTLS12_VERSION, 0, 0);
	size_t hs_off = hs_begin(b, HS_CLIENT_HELLO, 0);

	(void)base;
	wbuf_u16(b, DTLS12_VERSION);
	wbuf_rand(b, 32);
	wbuf_u8(b, 0);
	wbuf_u8(b, 0);
	wbuf_u16(b, 3);
	wbuf_u16(b, 0xC0A8);
	wbuf_u8(b, 0xC0);
	wbuf_u8(b, 1);
	wbuf_u8(b, 0);
	wbuf_u16(b, 0);
	hs_end(b, hs_off);
	rec_end(b, len_off);
}

/* Case ext-len-past-end: the extensions block length claims 50 bytes more than present. */
static void
gcase_ext_len_past_end(struct wbuf *b, const struct hello_params *base)
{
	uint8_t tmp[1024];
	size_t n = gcase_body(tmp, sizeof(tmp), base);
	size_t len_off, hs_off, ext_off;

	/* Extensions start after version, random, sid, cookie, suites and compression. */
	ext_off = 2 + 32 + 1 + 1 + 2 + base->n_suites * 2 + 2;
	if (n >= ext_off + 2) {
		unsigned ext_len = (unsigned)be_get(tmp + ext_off, 2) + 50;

		tmp[ext_off] = (uint8_t)(ext_len >> 8);
		tmp[ext_off + 1] = (uint8_t)ext_len;
	}
	len_off = rec_begin(b, CT_HANDSHAKE, DTLS12_VERSION, 0, 0);
	hs_off = hs_begin(b, HS_CLIENT_HELLO, 0);
	wbuf_mem(b, tmp, n);
	hs_end(b, hs_off);
	rec_end(b, len_off);
}

/* Case many-records: 50 one-byte handshake records in one datagram. */
static void
gcase_many_records(struct wbuf *b, const struct hello_params *base)
{
	(void)base;
	for (unsigned i = 0; i < 50; i++) {
		size_t len_off = rec_begin(b, CT_HANDSHAKE, DTLS12_VERSION, 0, i);

		wbuf_u8(b, HS_CLIENT_HELLO);
		rec_end(b, len_off);
	}
}

/* Case zero-random-junk: 1200 bytes of 0x00. */
static void
gcase_zero_junk(struct wbuf *b, const struct hello_params *base)
{
	(void)base;
	if (b->cap - b->len < 1200) {
		b->err = true;
		return;
	}
	memset(b->p + b->len, 0, 1200);
	b->len += 1200;
}

/* Case max-datagram: 65507 bytes, a ClientHello-like header followed by random bytes. */
static void
gcase_max_datagram(struct wbuf *b, const struct hello_params *base)
{
	size_t total = MAX_UDP4_PAYLOAD;
	size_t len_off, hs_off;

	(void)base;
	len_off = rec_begin(b, CT_HANDSHAKE, DTLS12_VERSION, 0, 0);
	hs_off = hs_begin(b, HS_CLIENT_HELLO, 0);
	wbuf_u16(b, DTLS12_VERSION);
	if (total > b->len && total - b->len <= b->cap - b->len)
		wbuf_rand(b, total - b->len);
	else
		b->err = true;
	hs_end(b, hs_off);
	rec_end(b, len_off);
}

const struct gcase gcases[] = {
	{ "empty", "0-byte datagram", gcase_empty },
	{ "short", "5 bytes: a truncated record header", gcase_short },
	{ "bad-version", "ClientHello in a record with version 0x0301", gcase_bad_version },
	{ "epoch1-appdata", "application data, epoch 1, 40 random bytes", gcase_epoch1_appdata },
	{ "ccs-epoch0", "ChangeCipherSpec before any handshake", gcase_ccs_epoch0 },
	{ "finished-epoch0", "plaintext Finished (handshake type 20) in epoch 0",
	    gcase_finished_epoch0 },
	{ "appdata-epoch0", "plaintext application data in epoch 0", gcase_appdata_epoch0 },
	{ "record-len-overflow", "record length 100 bytes past the datagram end",
	    gcase_record_len_overflow },
	{ "record-len-truncated", "handshake length 200 bytes past the record end",
	    gcase_record_len_truncated },
	{ "hs-frag-overlap", "two overlapping ClientHello fragments", gcase_hs_frag_overlap },
	{ "hs-frag-exceed", "fragment offset + length > message length", gcase_hs_frag_exceed },
	{ "cookie-len-past-end", "ClientHello cookie length 255 with 4 bytes left",
	    gcase_cookie_len_past_end },
	{ "suites-len-odd", "ClientHello with a 3-byte cipher suite list", gcase_suites_len_odd },
	{ "ext-len-past-end", "extensions length 50 bytes past the message end",
	    gcase_ext_len_past_end },
	{ "many-records", "50 one-byte records in one datagram", gcase_many_records },
	{ "zero-random-junk", "1200 bytes of 0x00", gcase_zero_junk },
	{ "max-datagram", "65507 bytes behind a valid-looking record header", gcase_max_datagram },
};

const size_t n_gcases = sizeof(gcases) / sizeof(gcases[0]);
/* Prints the garbage case names and what each sends. */
void
gcase_list(void)
{
	for (size_t i = 0; i < n_gcases; i++)
		printf("%-22s %s\n", gcases[i].name, gcases[i].what);
	printf("%-22s %s\n", "all", "every case above, 50 ms apart, one line per case");
}
