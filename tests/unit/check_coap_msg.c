/* check_coap_msg.c: unit tests for CoAP inspection, answers and rewriting. */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <coap3/coap.h>

#include "coap_msg.h"

#define MAX_MSG 1232

static struct coap_msg_ctx *ctx;

/* Makes a context for each test. */
static void
setup(void)
{
	ctx = coap_msg_ctx_new(MAX_MSG);
	ck_assert_ptr_nonnull(ctx);
}

/* Frees the context of each test. */
static void
teardown(void)
{
	coap_msg_ctx_free(ctx);
	ctx = NULL;
}

/* One option as libcoap reads it back. */
struct ropt {
	uint16_t num;
	size_t len;
	uint8_t val[64];
};

/* A message as libcoap reads it back. */
struct reparsed {
	int type, code, mid;
	size_t token_len;
	uint8_t token[8];
	size_t nopts;
	struct ropt opts[16];
	size_t payload_len;
	uint8_t payload[64];
};

/* Parses buf with libcoap (the independent parser) into r; fails the test if it cannot. */
static void
reparse(const uint8_t *buf, size_t len, struct reparsed *r)
{
	coap_pdu_t *pdu = coap_pdu_init(0, 0, 0, 2048);
	coap_opt_iterator_t it;
	coap_opt_t *o;
	coap_bin_const_t tok;
	const uint8_t *data;
	size_t dlen;

	ck_assert_ptr_nonnull(pdu);
	memset(r, 0, sizeof(*r));
	ck_assert_int_eq(coap_pdu_parse(COAP_PROTO_UDP, buf, len, pdu), 1);
	r->type = coap_pdu_get_type(pdu);
	r->code = coap_pdu_get_code(pdu);
	r->mid = coap_pdu_get_mid(pdu);
	tok = coap_pdu_get_token(pdu);
	r->token_len = tok.length;
	memcpy(r->token, tok.s, tok.length);
	coap_option_iterator_init(pdu, &it, COAP_OPT_ALL);
	while ((o = coap_option_next(&it)) != NULL) {
		ck_assert_uint_lt(r->nopts, 16);
		r->opts[r->nopts].num = (uint16_t)it.number;
		r->opts[r->nopts].len = coap_opt_length(o);
		ck_assert_uint_le(r->opts[r->nopts].len, 64);
		memcpy(r->opts[r->nopts].val, coap_opt_value(o), r->opts[r->nopts].len);
		r->nopts++;
	}
	if (coap_get_data(pdu, &dlen, &data)) {
		ck_assert_uint_le(dlen, 64);
		r->payload_len = dlen;
		memcpy(r->payload, data, dlen);
	}
	coap_delete_pdu(pdu);
}

/* Checks option i of r: number and string value. */
static void
check_opt(const struct reparsed *r, size_t i, uint16_t num, const char *val)
{
	ck_assert_uint_lt(i, r->nopts);
	ck_assert_uint_eq(r->opts[i].num, num);
	ck_assert_uint_eq(r->opts[i].len, strlen(val));
	ck_assert(memcmp(r->opts[i].val, val, strlen(val)) == 0);
}

/* Inspects a vector that must fail and returns the reason. */
static const char *
bad(const uint8_t *buf, size_t len, struct coap_msg_info *info)
{
	const char *why = NULL;

	ck_assert_int_eq(coap_msg_inspect(ctx, buf, len, info, &why), -1);
	ck_assert_ptr_nonnull(why);
	return why;
}

#define BAD(vec, reason)                                                                           \
	do {                                                                                       \
		struct coap_msg_info bi_;                                                          \
		ck_assert_str_eq(bad(vec, sizeof(vec), &bi_), reason);                             \
	} while (0)

START_TEST(test_inspect_malformed)
{
	static const uint8_t short_hdr[] = { 0x40, 0x01, 0x00 };
	static const uint8_t version2[] = { 0x80, 0x01, 0x00, 0x01 };
	static const uint8_t version0[] = { 0x00, 0x01, 0x00, 0x01 };
	/* clang-format off */
	static const uint8_t tkl9[] = { 0x49, 0x01, 0x00, 0x01, 1, 2, 3, 4, 5,
		6, 7, 8, 9 };
	/* clang-format on */
	static const uint8_t tkl15[] = { 0x4f, 0x01, 0x00, 0x01 };
	static const uint8_t short_token[] = { 0x42, 0x01, 0x00, 0x01, 0xaa };
	static const uint8_t delta15[] = { 0x40, 0x01, 0x00, 0x01, 0xf0 };
	static const uint8_t delta15b[] = { 0x40, 0x01, 0x00, 0x01, 0xf1, 'a' };
	static const uint8_t len15[] = { 0x40, 0x01, 0x00, 0x01, 0x0f };
	static const uint8_t len15b[] = { 0x40, 0x01, 0x00, 0x01, 0xbf, 'a' };
	static const uint8_t marker_only[] = { 0x40, 0x01, 0x00, 0x01, 0xff };
	/* clang-format off */
	static const uint8_t marker_after_opt[] = { 0x40, 0x01, 0x00, 0x01,
		0xb1, 'a', 0xff };
	/* clang-format on */
	/* 65001 (delta 14: 269 + 0xfcdc), then +1000 (269 + 0x02db). */
	/* clang-format off */
	static const uint8_t overflow[] = { 0x40, 0x01, 0x00, 0x01,
		0xe0, 0xfc, 0xdc, 0xe0, 0x02, 0xdb };
	/* clang-format on */
	/* clang-format off */
	static const uint8_t overflow1[] = { 0x40, 0x01, 0x00, 0x01,
		0xe0, 0xff, 0xff };
	/* clang-format on */
	static const uint8_t trunc_delta13[] = { 0x40, 0x01, 0x00, 0x01, 0xd0 };
	/* clang-format off */
	static const uint8_t trunc_delta14[] = { 0x40, 0x01, 0x00, 0x01, 0xe0,
		0x01 };
	/* clang-format on */
	static const uint8_t trunc_len13[] = { 0x40, 0x01, 0x00, 0x01, 0x0d };
	/* clang-format off */
	static const uint8_t trunc_len14[] = { 0x40, 0x01, 0x00, 0x01, 0x0e,
		0x01 };
	/* clang-format on */
	/* clang-format off */
	static const uint8_t trunc_value[] = { 0x40, 0x01, 0x00, 0x01, 0xb3,
		'a' };
	/* clang-format on */
	/* clang-format off */
	static const uint8_t trunc_value13[] = { 0x40, 0x01, 0x00, 0x01, 0xbd,
		0x00, 'a' };
	/* clang-format on */
	static const uint8_t empty_token[] = { 0x41, 0x00, 0x00, 0x01, 0xaa };
	static const uint8_t empty_opt[] = { 0x40, 0x00, 0x00, 0x01, 0xb1, 'a' };
	/* clang-format off */
	static const uint8_t empty_payload[] = { 0x60, 0x00, 0x00, 0x01, 0xff,
		'x' };
	/* clang-format on */
	static const uint8_t empty_non[] = { 0x50, 0x00, 0x00, 0x01 };
	static const uint8_t class1[] = { 0x40, 0x21, 0x00, 0x01 };
	static const uint8_t class3[] = { 0x40, 0x60, 0x00, 0x01 };
	static const uint8_t class6[] = { 0x50, 0xc1, 0x00, 0x01 };
	static const uint8_t class7[] = { 0x40, 0xe1, 0x00, 0x01 };
	static const uint8_t rst_205[] = { 0x70, 0x45, 0x00, 0x01 };
	static const uint8_t ack_get[] = { 0x60, 0x01, 0x00, 0x01 };

	BAD(short_hdr, "truncated header");
	ck_assert_int_eq(coap_msg_inspect(ctx, short_hdr, 0, &(struct coap_msg_info){ 0 },
	                     &(const char *){ NULL }),
	    -1);
	BAD(version2, "bad version 2");
	BAD(version0, "bad version 0");
	BAD(tkl9, "token length 9 (max 8)");
	BAD(tkl15, "token length 15 (max 8)");
	BAD(short_token, "truncated token");
	BAD(delta15, "option delta nibble 15");
	BAD(delta15b, "option delta nibble 15");
	BAD(len15, "option length nibble 15");
	BAD(len15b, "option length nibble 15");
	BAD(marker_only, "payload marker with no payload");
	BAD(marker_after_opt, "payload marker with no payload");
	BAD(overflow, "option number overflow");
	BAD(overflow1, "option number overflow");
	BAD(trunc_delta13, "truncated option");
	BAD(trunc_delta14, "truncated option");
	BAD(trunc_len13, "truncated option");
	BAD(trunc_len14, "truncated option");
	BAD(trunc_value, "truncated option");
	BAD(trunc_value13, "truncated option");
	BAD(empty_token, "empty message with token or options");
	BAD(empty_opt, "empty message with token or options");
	BAD(empty_payload, "empty message with token or options");
	BAD(empty_non, "empty NON message");
	BAD(class1, "code 1.01: reserved class");
	BAD(class3, "code 3.00: reserved class");
	BAD(class6, "code 6.01: reserved class");
	BAD(class7, "code 7.01: reserved class");
	BAD(rst_205, "RST with code 2.05 (must be empty)");
	BAD(ack_get, "ACK carrying a request");
}
END_TEST

START_TEST(test_inspect_can_reset)
{
	static const uint8_t con_bad[] = { 0x40, 0x01, 0x12, 0x34, 0xf0 };
	static const uint8_t non_bad[] = { 0x50, 0x01, 0x12, 0x34, 0xf0 };
	static const uint8_t v2_con[] = { 0x80, 0x01, 0x12, 0x34 };
	static const uint8_t con_tkl9[] = { 0x49, 0x01, 0x12, 0x34 };
	struct coap_msg_info info;

	bad(con_bad, sizeof(con_bad), &info);
	ck_assert(info.can_reset);
	ck_assert_uint_eq(info.mid, 0x1234);
	ck_assert_uint_eq(info.type, COAP_MSG_CON);
	bad(con_tkl9, sizeof(con_tkl9), &info);
	ck_assert(info.can_reset);
	ck_assert_uint_eq(info.mid, 0x1234);
	bad(non_bad, sizeof(non_bad), &info);
	ck_assert(!info.can_reset);
	bad(v2_con, sizeof(v2_con), &info);
	ck_assert(!info.can_reset);
}
END_TEST

START_TEST(test_inspect_valid)
{
	/* CON GET, token aa bb, Uri-Path "a". */
	/* clang-format off */
	static const uint8_t con_get[] = { 0x42, 0x01, 0x12, 0x34, 0xaa, 0xbb,
		0xb1, 'a' };
	/* clang-format on */
	/* NON POST with a payload. */
	static const uint8_t non_post[] = { 0x50, 0x02, 0x00, 0x01, 0xff, 'x' };
	/* ACK 2.05 with token 01, Content-Format 0, payload "hi". */
	/* clang-format off */
	static const uint8_t ack_205[] = { 0x61, 0x45, 0x00, 0x02, 0x01, 0xc0,
		0xff, 'h', 'i' };
	/* clang-format on */
	static const uint8_t ack_empty[] = { 0x60, 0x00, 0x00, 0x03 };
	static const uint8_t rst_empty[] = { 0x70, 0x00, 0x00, 0x04 };
	static const uint8_t ping[] = { 0x40, 0x00, 0x00, 0x05 };
	/* CON 2.05 notification, token 7f, Observe 0x010203. */
	/* clang-format off */
	static const uint8_t con_notify[] = { 0x41, 0x45, 0x00, 0x06, 0x7f,
		0x63, 0x01, 0x02, 0x03 };
	/* clang-format on */
	static const uint8_t non_404[] = { 0x50, 0x84, 0x00, 0x07 };
	static const uint8_t con_503[] = { 0x40, 0xa3, 0x00, 0x08 };
	/* GET with Observe 0 (empty value), Proxy-Uri "x" and Proxy-Scheme "coap". */
	/* clang-format off */
	static const uint8_t observe_proxy[] = { 0x48, 0x01, 0x00, 0x09, 1, 2,
		3, 4, 5, 6, 7, 8, 0x60, 0xd1, 0x10, 'x', 0x44, 'c', 'o', 'a',
		'p' };
	/* clang-format on */
	/* Option 65001 and No-Response 258, 8-byte token. */
	/* clang-format off */
	static const uint8_t big_opts[] = { 0x40, 0x01, 0x00, 0x0a, 0xd1, 0xf5,
		0x02, 0xe1, 0xfb, 0xda, 'v' };
	/* clang-format on */
	/* Observe with 4 bytes: an unrecognised elective option, not an error. */
	/* clang-format off */
	static const uint8_t observe4[] = { 0x40, 0x01, 0x00, 0x0b, 0x64, 1, 2,
		3, 4 };
	/* clang-format on */
	/* Unknown method 0.31 is a request the backend may refuse. */
	static const uint8_t method31[] = { 0x40, 0x1f, 0x00, 0x0c };
	struct coap_msg_info info;
	const char *why = NULL;

	ck_assert_int_eq(coap_msg_inspect(ctx, con_get, sizeof(con_get), &info, &why), 0);
	ck_assert_uint_eq(info.type, COAP_MSG_CON);
	ck_assert_uint_eq(info.code, 0x01);
	ck_assert_uint_eq(info.mid, 0x1234);
	ck_assert_uint_eq(info.token_len, 2);
	ck_assert_uint_eq(info.token[0], 0xaa);
	ck_assert_uint_eq(info.token[1], 0xbb);
	ck_assert(info.is_request && !info.is_response && !info.is_empty);
	ck_assert(!info.has_observe && !info.has_proxy_uri);
	ck_assert(info.can_reset);
	ck_assert_uint_eq(info.payload_len, 0);

	ck_assert_int_eq(coap_msg_inspect(ctx, non_post, sizeof(non_post), &info, &why), 0);
	ck_assert_uint_eq(info.type, COAP_MSG_NON);
	ck_assert(info.is_request);
	ck_assert_uint_eq(info.payload_len, 1);
	ck_assert(!info.can_reset);

	ck_assert_int_eq(coap_msg_inspect(ctx, ack_205, sizeof(ack_205), &info, &why), 0);
	ck_assert_uint_eq(info.type, COAP_MSG_ACK);
	ck_assert(info.is_response && !info.is_request);
	ck_assert_uint_eq(info.code, COAP_MSG_CODE(2, 5));
	ck_assert_uint_eq(info.payload_len, 2);

	ck_assert_int_eq(coap_msg_inspect(ctx, ack_empty, sizeof(ack_empty), &info, &why), 0);
	ck_assert(info.is_empty && !info.is_request && !info.is_response);
	ck_assert_int_eq(coap_msg_inspect(ctx, rst_empty, sizeof(rst_empty), &info, &why), 0);
	ck_assert(info.is_empty);
	ck_assert_uint_eq(info.type, COAP_MSG_RST);
	ck_assert_int_eq(coap_msg_inspect(ctx, ping, sizeof(ping), &info, &why), 0);
	ck_assert(info.is_empty);
	ck_assert_uint_eq(info.type, COAP_MSG_CON);
	ck_assert_uint_eq(info.mid, 5);

	ck_assert_int_eq(coap_msg_inspect(ctx, con_notify, sizeof(con_notify), &info, &why), 0);
	ck_assert(info.is_response && info.has_observe);
	ck_assert_uint_eq(info.observe, 0x010203);

	ck_assert_int_eq(coap_msg_inspect(ctx, non_404, sizeof(non_404), &info, &why), 0);
	ck_assert(info.is_response);
	ck_assert_int_eq(coap_msg_inspect(ctx, con_503, sizeof(con_503), &info, &why), 0);
	ck_assert_uint_eq(info.code, COAP_MSG_CODE(5, 3));

	ck_assert_int_eq(coap_msg_inspect(ctx, observe_proxy, sizeof(observe_proxy), &info, &why),
	    0);
	ck_assert_uint_eq(info.token_len, 8);
	ck_assert_uint_eq(info.token[7], 8);
	ck_assert(info.has_observe);
	ck_assert_uint_eq(info.observe, 0);
	ck_assert(info.has_proxy_uri && info.has_proxy_scheme);

	ck_assert_int_eq(coap_msg_inspect(ctx, big_opts, sizeof(big_opts), &info, &why), 0);
	ck_assert_int_eq(coap_msg_inspect(ctx, observe4, sizeof(observe4), &info, &why), 0);
	ck_assert(!info.has_observe);
	ck_assert_int_eq(coap_msg_inspect(ctx, method31, sizeof(method31), &info, &why), 0);
	ck_assert(info.is_request);
}
END_TEST

START_TEST(test_build_rst)
{
	uint8_t out[8];
	struct reparsed r;
	struct coap_msg_info info;
	const char *why;

	ck_assert_uint_eq(coap_msg_build_rst(out, sizeof(out), 0xbeef), 4);
	ck_assert_uint_eq(out[0], 0x70);
	reparse(out, 4, &r);
	ck_assert_int_eq(r.type, COAP_MESSAGE_RST);
	ck_assert_int_eq(r.code, 0);
	ck_assert_int_eq(r.mid, 0xbeef);
	ck_assert_int_eq(coap_msg_inspect(ctx, out, 4, &info, &why), 0);
	ck_assert_uint_eq(coap_msg_build_rst(out, 3, 1), 0);
}
END_TEST

START_TEST(test_build_answer)
{
	/* clang-format off */
	static const uint8_t con_get[] = { 0x43, 0x01, 0x12, 0x34, 0xa1, 0xa2,
		0xa3, 0xb1, 'a' };
	/* clang-format on */
	static const uint8_t non_get[] = { 0x51, 0x01, 0x55, 0x66, 0x77 };
	static const uint8_t ack_205[] = { 0x60, 0x45, 0x00, 0x02 };
	struct coap_msg_info req, resp;
	struct reparsed r;
	uint8_t out[64];
	const char *why;
	size_t n;

	ck_assert_int_eq(coap_msg_inspect(ctx, con_get, sizeof(con_get), &req, &why), 0);
	n = coap_msg_build_answer(out, sizeof(out), &req, COAP_MSG_CODE(4, 4), 999, "no route");
	ck_assert_uint_gt(n, 0);
	reparse(out, n, &r);
	ck_assert_int_eq(r.type, COAP_MESSAGE_ACK);
	ck_assert_int_eq(r.code, COAP_RESPONSE_CODE(404));
	ck_assert_int_eq(r.mid, 0x1234);
	ck_assert_uint_eq(r.token_len, 3);
	ck_assert(memcmp(r.token, con_get + 4, 3) == 0);
	ck_assert_uint_eq(r.nopts, 1);
	ck_assert_uint_eq(r.opts[0].num, COAP_OPTION_CONTENT_FORMAT);
	ck_assert_uint_eq(r.opts[0].len, 0);
	ck_assert_uint_eq(r.payload_len, 8);
	ck_assert(memcmp(r.payload, "no route", 8) == 0);
	ck_assert_int_eq(coap_msg_inspect(ctx, out, n, &resp, &why), 0);
	ck_assert(resp.is_response);

	ck_assert_int_eq(coap_msg_inspect(ctx, non_get, sizeof(non_get), &req, &why), 0);
	n = coap_msg_build_answer(out, sizeof(out), &req, COAP_MSG_CODE(5, 4), 0x4242, NULL);
	ck_assert_uint_eq(n, 5);
	reparse(out, n, &r);
	ck_assert_int_eq(r.type, COAP_MESSAGE_NON);
	ck_assert_int_eq(r.code, COAP_RESPONSE_CODE(504));
	ck_assert_int_eq(r.mid, 0x4242);
	ck_assert_uint_eq(r.token_len, 1);
	ck_assert_uint_eq(r.token[0], 0x77);
	ck_assert_uint_eq(r.nopts, 0);
	ck_assert_uint_eq(r.payload_len, 0);
	/* An empty payload is no payload. */
	ck_assert_uint_eq(coap_msg_build_answer(out, sizeof(out), &req, COAP_MSG_CODE(5, 2), 1, ""),
	    5);

	/* Too small, or not a request: nothing. */
	ck_assert_int_eq(coap_msg_inspect(ctx, con_get, sizeof(con_get), &req, &why), 0);
	ck_assert_uint_eq(coap_msg_build_answer(out, 6, &req, COAP_MSG_CODE(4, 4), 0, NULL), 0);
	ck_assert_uint_eq(coap_msg_build_answer(out, 12, &req, COAP_MSG_CODE(4, 4), 0, "no route"),
	    0);
	ck_assert_int_eq(coap_msg_inspect(ctx, ack_205, sizeof(ack_205), &resp, &why), 0);
	ck_assert_uint_eq(coap_msg_build_answer(out, sizeof(out), &resp, COAP_MSG_CODE(4, 4), 0,
	                      NULL),
	    0);
}
END_TEST

START_TEST(test_set_mid)
{
	uint8_t msg[] = { 0x40, 0x00, 0x00, 0x00 };

	coap_msg_set_mid(msg, 0xa55a);
	ck_assert_uint_eq(msg[2], 0xa5);
	ck_assert_uint_eq(msg[3], 0x5a);
}
END_TEST

/* A CON GET with token 99: Uri-Path "a", No-Response 2, two copies of 65001, 65005 "z", payload
 * "p". */
/* clang-format off */
static const uint8_t rw_in[] = {
	0x41, 0x01, 0x12, 0x34, 0x99,
	0xb1, 'a',                     /* 11 Uri-Path "a" */
	0xd1, 0xea, 0x02,              /* +247 = 258 No-Response 2 */
	0xe2, 0xfb, 0xda, 'e', 'v',    /* +64743 = 65001 "ev" */
	0x02, 'i', 'l',                /* +0 = 65001 "il" */
	0x41, 'z',                     /* +4 = 65005 "z" */
	0xff, 'p',
};
/* clang-format on */

START_TEST(test_rewrite_identity)
{
	/* clang-format off */
	static const uint8_t expect[] = {
		0x41, 0x01, 0x12, 0x34, 0x99,
		0xb1, 'a',
		0xd1, 0xea, 0x02,
		0xea, 0xfb, 0xda, 'p', 's', 'k', ':', 'd', 'e', 'v', '-', '4', '2',
		0x41, 'z',
		0xff, 'p',
	};
	/* clang-format on */
	uint8_t out[128];
	struct reparsed r;
	const char *why = NULL;
	size_t n;

	n = coap_msg_rewrite_request(ctx, rw_in, sizeof(rw_in), out, sizeof(out), 65001,
	    "psk:dev-42", 10, false, &why);
	ck_assert_msg(n > 0, "rewrite failed: %s", why);
	ck_assert_uint_eq(n, sizeof(expect));
	ck_assert(memcmp(out, expect, n) == 0);
	reparse(out, n, &r);
	ck_assert_int_eq(r.mid, 0x1234);
	ck_assert_uint_eq(r.nopts, 4);
	check_opt(&r, 0, 11, "a");
	check_opt(&r, 1, 258, "\x02");
	check_opt(&r, 2, 65001, "psk:dev-42");
	check_opt(&r, 3, 65005, "z");
	ck_assert_uint_eq(r.payload_len, 1);

	/* The exact output buffer size works, one byte less does not. */
	ck_assert_uint_eq(coap_msg_rewrite_request(ctx, rw_in, sizeof(rw_in), out, sizeof(expect),
	                      65001, "psk:dev-42", 10, false, &why),
	    sizeof(expect));
	ck_assert_uint_eq(coap_msg_rewrite_request(ctx, rw_in, sizeof(rw_in), out,
	                      sizeof(expect) - 1, 65001, "psk:dev-42", 10, false, &why),
	    0);
	ck_assert_str_eq(why, "rewritten message does not fit");
}
END_TEST

START_TEST(test_rewrite_identity_positions)
{
	/* No identity sent by the device: 2048 lands between 258 and 65001. */
	/* clang-format off */
	static const uint8_t in_none[] = { 0x40, 0x02, 0x00, 0x01, 0xb1, 'a',
		0xd1, 0xea, 0x02, 0xe1, 0xfb, 0xda, 'v' };
	/* clang-format on */
	/* No options at all, a payload. */
	static const uint8_t in_bare[] = { 0x50, 0x03, 0x00, 0x02, 0xff, 'd' };
	/* Identity 1 sent three times, first of all options. */
	/* clang-format off */
	static const uint8_t in_first[] = { 0x40, 0x01, 0x00, 0x03, 0x11, 'x',
		0x01, 'y', 0x00, 0xa1, 'a' };
	/* clang-format on */
	uint8_t out[128];
	struct reparsed r;
	const char *why = NULL;
	size_t n;

	n = coap_msg_rewrite_request(ctx, in_none, sizeof(in_none), out, sizeof(out), 2048,
	    "x509:client", 11, false, &why);
	ck_assert_msg(n > 0, "rewrite failed: %s", why);
	reparse(out, n, &r);
	ck_assert_uint_eq(r.nopts, 4);
	check_opt(&r, 0, 11, "a");
	check_opt(&r, 1, 258, "\x02");
	check_opt(&r, 2, 2048, "x509:client");
	check_opt(&r, 3, 65001, "v");

	n = coap_msg_rewrite_request(ctx, in_bare, sizeof(in_bare), out, sizeof(out), 65000,
	    "psk:a", 5, false, &why);
	ck_assert_msg(n > 0, "rewrite failed: %s", why);
	reparse(out, n, &r);
	ck_assert_int_eq(r.type, COAP_MESSAGE_NON);
	ck_assert_uint_eq(r.nopts, 1);
	check_opt(&r, 0, 65000, "psk:a");
	ck_assert_uint_eq(r.payload_len, 1);
	ck_assert_uint_eq(r.payload[0], 'd');

	n = coap_msg_rewrite_request(ctx, in_first, sizeof(in_first), out, sizeof(out), 1, "id", 2,
	    false, &why);
	ck_assert_msg(n > 0, "rewrite failed: %s", why);
	reparse(out, n, &r);
	ck_assert_uint_eq(r.nopts, 2);
	check_opt(&r, 0, 1, "id");
	check_opt(&r, 1, 11, "a");

	/* identity_opt 0: nothing removed or added, bytes unchanged. */
	n = coap_msg_rewrite_request(ctx, rw_in, sizeof(rw_in), out, sizeof(out), 0, NULL, 0, false,
	    &why);
	ck_assert_uint_eq(n, sizeof(rw_in));
	ck_assert(memcmp(out, rw_in, n) == 0);
	/* An empty identity is an empty option. */
	n = coap_msg_rewrite_request(ctx, in_bare, sizeof(in_bare), out, sizeof(out), 65000, "", 0,
	    false, &why);
	ck_assert_msg(n > 0, "rewrite failed: %s", why);
	reparse(out, n, &r);
	ck_assert_uint_eq(r.nopts, 1);
	check_opt(&r, 0, 65000, "");
}
END_TEST

START_TEST(test_rewrite_refuses)
{
	static const uint8_t ack_205[] = { 0x60, 0x45, 0x00, 0x02 };
	static const uint8_t broken[] = { 0x40, 0x01, 0x00, 0x01, 0xf0 };
	static uint8_t huge[MAX_MSG + 1] = { 0x40, 0x02, 0x00, 0x01, 0xff };
	uint8_t out[MAX_MSG + 64];
	const char *why = NULL;

	ck_assert_uint_eq(coap_msg_rewrite_request(ctx, ack_205, sizeof(ack_205), out, sizeof(out),
	                      65001, "x", 1, false, &why),
	    0);
	ck_assert_str_eq(why, "not a request");
	ck_assert_uint_eq(coap_msg_rewrite_request(ctx, broken, sizeof(broken), out, sizeof(out),
	                      65001, "x", 1, false, &why),
	    0);
	ck_assert_str_eq(why, "option delta nibble 15");
	ck_assert_uint_eq(coap_msg_rewrite_request(ctx, huge, sizeof(huge), out, sizeof(out), 65001,
	                      "x", 1, false, &why),
	    0);
	ck_assert_str_eq(why, "message too large (1233 > 1232 bytes)");
	ck_assert_uint_eq(coap_msg_rewrite_request(ctx, ack_205, 3, out, sizeof(out), 0, NULL, 0,
	                      false, &why),
	    0);
	ck_assert_str_eq(why, "truncated header");
}
END_TEST

/* Builds a CON GET with token 5a, optional Uri-Path "old" and a Proxy-Uri. */
static size_t
proxy_req(uint8_t *buf, const char *uri, bool with_path)
{
	size_t n = 0, len = strlen(uri);

	buf[n++] = 0x41;
	buf[n++] = 0x01;
	buf[n++] = 0x00;
	buf[n++] = 0x10;
	buf[n++] = 0x5a;
	if (with_path) {
		buf[n++] = 0xb3; /* 11 Uri-Path "old" */
		memcpy(buf + n, "old", 3);
		n += 3;
	}
	/* Proxy-Uri 35: delta 13 + ext; length in the nibble or 13 + ext (< 269). */
	buf[n++] = (uint8_t)(0xd0 | (len < 13 ? len : 13));
	buf[n++] = (uint8_t)((with_path ? 35 - 11 : 35) - 13);
	if (len >= 13)
		buf[n++] = (uint8_t)(len - 13);
	memcpy(buf + n, uri, len);
	n += len;
	buf[n++] = 0xd3; /* +13+216 = 264, past 258: leaves room below */
	buf[n++] = (uint8_t)(264 - 35 - 13);
	memcpy(buf + n, "end", 3);
	n += 3;
	return n;
}

START_TEST(test_rewrite_proxy_uri)
{
	/* The hand-written form of proxy_req("coap://127.0.0.1:5683/a/b?x=1"). */
	/* clang-format off */
	static const uint8_t in[] = {
		0x41, 0x01, 0x00, 0x10, 0x5a,
		0xdd, 0x16, 0x10, 'c', 'o', 'a', 'p', ':', '/', '/', '1', '2',
		'7', '.', '0', '.', '0', '.', '1', ':', '5', '6', '8', '3', '/',
		'a', '/', 'b', '?', 'x', '=', '1',
		0xd3, 0xd8, 'e', 'n', 'd',
	};
	/* clang-format on */
	/* clang-format off */
	static const uint8_t expect[] = {
		0x41, 0x01, 0x00, 0x10, 0x5a,
		0xb1, 'a', 0x01, 'b',           /* 11 Uri-Path a, b */
		0x43, 'x', '=', '1',            /* 15 Uri-Query x=1 */
		0xd3, 0xec, 'e', 'n', 'd',      /* 264 = 15 + 13 + 236 */
		0xea, 0xfb, 0xd4, 'p', 's', 'k', ':', 'd', 'e', 'v', '-', '4',
		'2',                            /* 65001 = 264 + 269 + 0xfbd4 */
	};
	/* clang-format on */
	uint8_t buf[300], out[300];
	struct reparsed r;
	const char *why = NULL;
	size_t n, len;

	len = proxy_req(buf, "coap://127.0.0.1:5683/a/b?x=1", false);
	ck_assert_uint_eq(len, sizeof(in));
	ck_assert(memcmp(buf, in, len) == 0);

	/* Without strip_proxy only the identity changes. */
	n = coap_msg_rewrite_request(ctx, in, sizeof(in), out, sizeof(out), 0, NULL, 0, false,
	    &why);
	ck_assert_uint_eq(n, sizeof(in));

	n = coap_msg_rewrite_request(ctx, in, sizeof(in), out, sizeof(out), 65001, "psk:dev-42", 10,
	    true, &why);
	ck_assert_msg(n > 0, "rewrite failed: %s", why);
	reparse(out, n, &r);
	ck_assert_uint_eq(r.nopts, 5);
	check_opt(&r, 0, 11, "a");
	check_opt(&r, 1, 11, "b");
	check_opt(&r, 2, 15, "x=1");
	check_opt(&r, 3, 264, "end");
	check_opt(&r, 4, 65001, "psk:dev-42");
	ck_assert_uint_eq(r.token_len, 1);
	ck_assert_uint_eq(n, sizeof(expect));
	ck_assert(memcmp(out, expect, n) == 0);

	/* Identity option below the Uri-* options, exact bytes. */
	{
		/* clang-format off */
		static const uint8_t in2[] = {
			0x40, 0x01, 0x00, 0x11,
			0xdd, 0x16, 0x10, 'c', 'o', 'a', 'p', ':', '/', '/',
			'1', '2', '7', '.', '0', '.', '0', '.', '1', ':', '5',
			'6', '8', '3', '/', 'a', '/', 'b', '?', 'x', '=', '1',
		};
		/* clang-format on */
		/* clang-format off */
		static const uint8_t expect2[] = {
			0x40, 0x01, 0x00, 0x11,
			0xb1, 'a', 0x01, 'b', 0x43, 'x', '=', '1',
			0xd2, 0xd8, 'i', 'd',  /* 15 + 13 + 216 = 244 */
		};
		/* clang-format on */
		n = coap_msg_rewrite_request(ctx, in2, sizeof(in2), out, sizeof(out), 244, "id", 2,
		    true, &why);
		ck_assert_msg(n > 0, "rewrite failed: %s", why);
		ck_assert_uint_eq(n, sizeof(expect2));
		ck_assert(memcmp(out, expect2, n) == 0);
	}
}
END_TEST

START_TEST(test_rewrite_proxy_uri_forms)
{
	uint8_t buf[300], out[300];
	struct reparsed r;
	const char *why = NULL;
	size_t n, len;

	/* A name: Uri-Host in lower case, a non-default port, decoded segments. */
	len = proxy_req(buf, "coap://Example.COM:5690/x%20y/?a=1&b", true);
	n = coap_msg_rewrite_request(ctx, buf, len, out, sizeof(out), 0, NULL, 0, true, &why);
	ck_assert_msg(n > 0, "rewrite failed: %s", why);
	reparse(out, n, &r);
	ck_assert_uint_eq(r.nopts, 7);
	check_opt(&r, 0, 3, "example.com");
	check_opt(&r, 1, 7, "\x16\x3a"); /* 5690 */
	check_opt(&r, 2, 11, "x y");
	check_opt(&r, 3, 11, "");
	check_opt(&r, 4, 15, "a=1");
	check_opt(&r, 5, 15, "b");
	check_opt(&r, 6, 264, "end");

	/* An IPv6 literal and no path: no Uri-Host, Uri-Port or Uri-Path; old Uri-Path dropped. */
	len = proxy_req(buf, "coap://[::1]", true); /* 12 bytes: length nibble */
	n = coap_msg_rewrite_request(ctx, buf, len, out, sizeof(out), 0, NULL, 0, true, &why);
	ck_assert_msg(n > 0, "rewrite failed: %s", why);
	reparse(out, n, &r);
	ck_assert_uint_eq(r.nopts, 1);
	check_opt(&r, 0, 264, "end");

	/* "/" is no path either. */
	len = proxy_req(buf, "coap://10.1.2.3:5683/", false);
	n = coap_msg_rewrite_request(ctx, buf, len, out, sizeof(out), 0, NULL, 0, true, &why);
	ck_assert_msg(n > 0, "rewrite failed: %s", why);
	reparse(out, n, &r);
	ck_assert_uint_eq(r.nopts, 1);

	/* Default port on a name: Uri-Host only. */
	len = proxy_req(buf, "coap://backend.local/fw", false);
	n = coap_msg_rewrite_request(ctx, buf, len, out, sizeof(out), 0, NULL, 0, true, &why);
	ck_assert_msg(n > 0, "rewrite failed: %s", why);
	reparse(out, n, &r);
	ck_assert_uint_eq(r.nopts, 3);
	check_opt(&r, 0, 3, "backend.local");
	check_opt(&r, 1, 11, "fw");

#define PROXY_BAD(uri, reason)                                                                     \
	do {                                                                                       \
		len = proxy_req(buf, uri, false);                                                  \
		ck_assert_uint_eq(coap_msg_rewrite_request(ctx, buf, len, out, sizeof(out), 0,     \
		                      NULL, 0, true, &why),                                        \
		    0);                                                                            \
		ck_assert_str_eq(why, reason);                                                     \
	} while (0)
	PROXY_BAD("coaps://h/", "Proxy-Uri scheme coaps not supported");
	PROXY_BAD("http://h/", "Proxy-Uri scheme http not supported");
	PROXY_BAD("coap://h/a/../b", "dot segment in Proxy-Uri path");
	PROXY_BAD("coap://h/./b", "dot segment in Proxy-Uri path");
	PROXY_BAD("coap://h/a%zz", "bad percent-encoding in Proxy-Uri path segment");
	PROXY_BAD("coap://h/a%4", "bad percent-encoding in Proxy-Uri path segment");
	PROXY_BAD("coap://h/a?q=%", "bad percent-encoding in Proxy-Uri query argument");
	PROXY_BAD("coap://h/a#frag", "fragment in Proxy-Uri");
	PROXY_BAD("coap://h/a b", "bad character in Proxy-Uri");
	PROXY_BAD("coap://h:0/", "port 0 in Proxy-Uri");
	PROXY_BAD("coap://h:99999/", "unparsable Proxy-Uri");
	PROXY_BAD("/just/a/path", "unparsable Proxy-Uri");
	PROXY_BAD("coap://%00/", "NUL in host of proxy request");
#undef PROXY_BAD
}
END_TEST

START_TEST(test_rewrite_proxy_scheme)
{
	/* Proxy-Scheme "coap", Uri-Host "h", Uri-Port 5690, Uri-Path "p", identity 65001 from the
	 * device. */
	/* clang-format off */
	static const uint8_t in[] = {
		0x40, 0x01, 0x00, 0x20,
		0x31, 'h',                       /* 3 Uri-Host */
		0x42, 0x16, 0x3a,                /* 7 Uri-Port 5690 */
		0x41, 'p',                       /* 11 Uri-Path */
		0xd4, 0x0f, 'c', 'o', 'a', 'p',  /* 39 Proxy-Scheme */
		0xe1, 0xfc, 0xb5, 'x',           /* 65001 = 39 + 269 + 0xfcb5 */
	};
	/* clang-format on */
	/* clang-format off */
	static const uint8_t expect[] = {
		0x40, 0x01, 0x00, 0x20,
		0x31, 'h', 0x42, 0x16, 0x3a, 0x41, 'p',
		0xe1, 0xfc, 0xd1, 'y',           /* 65001 = 11 + 269 + 0xfcd1 */
	};
	/* clang-format on */
	uint8_t out[128];
	char host[64];
	uint16_t port = 0;
	const char *why = NULL;
	size_t n;

	n = coap_msg_rewrite_request(ctx, in, sizeof(in), out, sizeof(out), 65001, "y", 1, true,
	    &why);
	ck_assert_msg(n > 0, "rewrite failed: %s", why);
	ck_assert_uint_eq(n, sizeof(expect));
	ck_assert(memcmp(out, expect, n) == 0);
	ck_assert_int_eq(coap_msg_proxy_target(ctx, in, sizeof(in), host, sizeof(host), &port,
	                     &why),
	    0);
	ck_assert_str_eq(host, "h");
	ck_assert_uint_eq(port, 5690);
}
END_TEST

/*
 * Found by fuzz_coap_msg: "?=/Exa%2D&&b" made an empty Uri-Query, which
 * RFC 7252 allows but libcoap 4.3.1 rejects; empty arguments are left out.
 */
START_TEST(test_fuzz_empty_query_argument)
{
	/* clang-format off */
	static const uint8_t in[] = {
		0x40, 0x01, 0x00, 0x11, 0xdd, 0x16, 0x17, 'c', 'o', 'a', 'p',
		':', '/', '/', 'E', 'x', 'a', 'o', 'a', 'p', ':', '/', '/', 'E',
		'x', 'a', '%', '2', 'D', '&', '0', '?', '=', '/', 'E', 'x', 'a',
		'%', '2', 'D', '&', '&', 'b',
	};
	/* clang-format on */
	uint8_t out[128];
	struct reparsed r;
	const char *why = NULL;
	size_t n;

	n = coap_msg_rewrite_request(ctx, in, sizeof(in), out, sizeof(out), 258, "x", 1, true,
	    &why);
	ck_assert_msg(n > 0, "rewrite failed: %s", why);
	reparse(out, n, &r);
	ck_assert_uint_eq(r.nopts, 6);
	check_opt(&r, 0, 3, "exaoap");
	check_opt(&r, 1, 11, "");
	check_opt(&r, 2, 11, "Exa-&0");
	check_opt(&r, 3, 15, "=/Exa-");
	check_opt(&r, 4, 15, "b");
	check_opt(&r, 5, 258, "x");
}
END_TEST

/* Runs coap_msg_proxy_target on a Proxy-Uri request. */
static int
target_of(const char *uri, char *host, size_t hostlen, uint16_t *port, const char **why)
{
	uint8_t buf[300];
	size_t len = proxy_req(buf, uri, false);

	return coap_msg_proxy_target(ctx, buf, len, host, hostlen, port, why);
}

START_TEST(test_proxy_target)
{
	/* Proxy-Scheme "coap" with Uri-Host "[::1]" and no port. */
	/* clang-format off */
	static const uint8_t scheme_v6[] = { 0x40, 0x01, 0x00, 0x01, 0x35, '[',
		':', ':', '1', ']', 0xd4, 0x17, 'c', 'o', 'a', 'p' };
	/* clang-format on */
	/* clang-format off */
	static const uint8_t scheme_nohost[] = { 0x40, 0x01, 0x00, 0x01, 0xd4,
		0x1a, 'c', 'o', 'a', 'p' };
	/* clang-format on */
	/* clang-format off */
	static const uint8_t scheme_https[] = { 0x40, 0x01, 0x00, 0x01, 0x31,
		'h', 0xd5, 0x17, 'h', 't', 't', 'p', 's' };
	/* clang-format on */
	/* clang-format off */
	static const uint8_t two_uris[] = { 0x40, 0x01, 0x00, 0x01, 0xd1, 0x16,
		'x', 0x01, 'y' };
	/* clang-format on */
	static const uint8_t no_proxy[] = { 0x40, 0x01, 0x00, 0x01, 0xb1, 'a' };
	static const uint8_t resp[] = { 0x60, 0x45, 0x00, 0x01 };
	char host[64];
	uint16_t port = 0;
	const char *why = NULL;

	ck_assert_int_eq(target_of("coap://127.0.0.1:5683/a/b?x=1", host, sizeof(host), &port,
	                     &why),
	    0);
	ck_assert_str_eq(host, "127.0.0.1");
	ck_assert_uint_eq(port, 5683);
	ck_assert_int_eq(target_of("coap://[::1]:6000/", host, sizeof(host), &port, &why), 0);
	ck_assert_str_eq(host, "::1");
	ck_assert_uint_eq(port, 6000);
	ck_assert_int_eq(target_of("coap://Back%65nd.Local/x", host, sizeof(host), &port, &why), 0);
	ck_assert_str_eq(host, "backend.local");
	ck_assert_uint_eq(port, 5683);
	ck_assert_int_eq(target_of("coap://backend.local/x", host, 13, &port, &why), -1);
	ck_assert_str_eq(why, "host does not fit");
	ck_assert_int_eq(target_of("coap://backend.local/x", host, 14, &port, &why), 0);
	ck_assert_int_eq(target_of("coaps://h/", host, sizeof(host), &port, &why), -1);
	ck_assert_str_eq(why, "Proxy-Uri scheme coaps not supported");

	ck_assert_int_eq(coap_msg_proxy_target(ctx, scheme_v6, sizeof(scheme_v6), host,
	                     sizeof(host), &port, &why),
	    0);
	ck_assert_str_eq(host, "::1");
	ck_assert_uint_eq(port, 5683);
	ck_assert_int_eq(coap_msg_proxy_target(ctx, scheme_nohost, sizeof(scheme_nohost), host,
	                     sizeof(host), &port, &why),
	    -1);
	ck_assert_str_eq(why, "Proxy-Scheme without Uri-Host");
	ck_assert_int_eq(coap_msg_proxy_target(ctx, scheme_https, sizeof(scheme_https), host,
	                     sizeof(host), &port, &why),
	    -1);
	ck_assert_str_eq(why, "Proxy-Scheme not supported (only coap)");
	ck_assert_int_eq(coap_msg_proxy_target(ctx, two_uris, sizeof(two_uris), host, sizeof(host),
	                     &port, &why),
	    -1);
	ck_assert_str_eq(why, "repeated Proxy-Uri");
	ck_assert_int_eq(coap_msg_proxy_target(ctx, no_proxy, sizeof(no_proxy), host, sizeof(host),
	                     &port, &why),
	    -1);
	ck_assert_str_eq(why, "no Proxy-Uri or Proxy-Scheme");
	ck_assert_int_eq(coap_msg_proxy_target(ctx, resp, sizeof(resp), host, sizeof(host), &port,
	                     &why),
	    -1);
	ck_assert_str_eq(why, "not a request");
}
END_TEST

START_TEST(test_request_target)
{
	/* Uri-Host "Example", Uri-Path "fw", "v1", "". */
	/* clang-format off */
	static const uint8_t get[] = { 0x40, 0x01, 0x00, 0x01, 0x37, 'E', 'x',
		'a', 'm', 'p', 'l', 'e', 0x82, 'f', 'w', 0x02, 'v', '1', 0x00 };
	/* clang-format on */
	static const uint8_t none[] = { 0x40, 0x01, 0x00, 0x01 };
	/* One segment "a/b" and one "%\x01". */
	/* clang-format off */
	static const uint8_t slash[] = { 0x40, 0x02, 0x00, 0x01, 0xb3, 'a', '/',
		'b', 0x02, '%', 0x01 };
	/* clang-format on */
	static const uint8_t broken[] = { 0x40, 0x01, 0x00, 0x01, 0xb3, 'a' };
	char path[64], host[64];

	ck_assert_int_eq(coap_msg_request_target(ctx, get, sizeof(get), path, sizeof(path), host,
	                     sizeof(host)),
	    0);
	ck_assert_str_eq(path, "/fw/v1/");
	ck_assert_str_eq(host, "Example");
	ck_assert_int_eq(coap_msg_request_target(ctx, none, sizeof(none), path, sizeof(path), host,
	                     sizeof(host)),
	    0);
	ck_assert_str_eq(path, "/");
	ck_assert_str_eq(host, "");
	ck_assert_int_eq(coap_msg_request_target(ctx, slash, sizeof(slash), path, sizeof(path),
	                     host, sizeof(host)),
	    0);
	ck_assert_str_eq(path, "/a%2Fb/%25%01");
	ck_assert_int_eq(coap_msg_request_target(ctx, broken, sizeof(broken), path, sizeof(path),
	                     host, sizeof(host)),
	    -1);
	/* Buffers too small. */
	ck_assert_int_eq(coap_msg_request_target(ctx, get, sizeof(get), path, 7, host,
	                     sizeof(host)),
	    -1);
	ck_assert_int_eq(coap_msg_request_target(ctx, get, sizeof(get), path, 8, host,
	                     sizeof(host)),
	    0);
	ck_assert_int_eq(coap_msg_request_target(ctx, get, sizeof(get), path, sizeof(path), host,
	                     7),
	    -1);
	ck_assert_int_eq(coap_msg_request_target(ctx, get, sizeof(get), path, sizeof(path), host,
	                     8),
	    0);
}
END_TEST

START_TEST(test_ctx_limits)
{
	ck_assert_ptr_null(coap_msg_ctx_new(3));
	ck_assert_ptr_null(coap_msg_ctx_new(70000));
	coap_msg_ctx_free(NULL);
}
END_TEST

/* Collects the tests. */
static Suite *
coap_msg_suite(void)
{
	Suite *s = suite_create("coap_msg");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_inspect_malformed);
	tcase_add_test(tc, test_inspect_can_reset);
	tcase_add_test(tc, test_inspect_valid);
	tcase_add_test(tc, test_build_rst);
	tcase_add_test(tc, test_build_answer);
	tcase_add_test(tc, test_set_mid);
	tcase_add_test(tc, test_rewrite_identity);
	tcase_add_test(tc, test_rewrite_identity_positions);
	tcase_add_test(tc, test_rewrite_refuses);
	tcase_add_test(tc, test_rewrite_proxy_uri);
	tcase_add_test(tc, test_rewrite_proxy_uri_forms);
	tcase_add_test(tc, test_rewrite_proxy_scheme);
	tcase_add_test(tc, test_fuzz_empty_query_argument);
	tcase_add_test(tc, test_proxy_target);
	tcase_add_test(tc, test_request_target);
	tcase_add_test(tc, test_ctx_limits);
	suite_add_tcase(s, tc);
	return s;
}

/* Runs the suite. */
int
main(void)
{
	SRunner *sr = srunner_create(coap_msg_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
