/* check_state.c: unit tests for the saved-sessions format (round trip and every refusal). */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state.h"

static const uint8_t ctx_blob[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0, 0xff };

/* Fills a session with every field set. */
static void
fill_session(struct state_session *ss, int v6)
{
	struct sockaddr_in *sin;
	struct sockaddr_in6 *sin6;

	memset(ss, 0, sizeof *ss);
	ss->id = 0x0badcafe;
	ss->kind = v6 ? STATE_KIND_X509 : STATE_KIND_PSK;
	ss->has_psk_tag = !v6;
	memcpy(ss->psk_tag, "\x11\x22\x33\x44\x55\x66\x77\x88", 8);
	memcpy(ss->identity, "device-1", 8);
	ss->identity_len = 8;
	if (v6) {
		sin6 = (struct sockaddr_in6 *)&ss->peer;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = in6addr_loopback;
		sin6->sin6_port = htons(40001);
		ss->peer_len = sizeof *sin6;
	} else {
		sin = (struct sockaddr_in *)&ss->peer;
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(0x7f000001);
		sin->sin_port = htons(40000);
		ss->peer_len = sizeof *sin;
	}
	ss->local = ss->peer;
	ss->local_len = ss->peer_len;
	ss->listener = ss->peer;
	ss->listener_len = ss->peer_len;
	memcpy(ss->cid, "\x01\x02\x03\x04", 4);
	ss->cid_len = 4;
	ss->created_ms = 1700000000000ull;
	ss->established_ms = 1700000000100ull;
	ss->last_ms = 1700000005000ull;
	strcpy(ss->cipher, "TLS-PSK-WITH-AES-128-CCM-8");
	if (v6) {
		ss->has_cert = true;
		strcpy(ss->cert_subject, "CN=device-1, O=Example");
		strcpy(ss->cert_issuer, "CN=TestCA");
		ss->cert_not_after = 1800000000;
	}
	ss->context = ctx_blob;
	ss->context_len = sizeof ctx_blob;
	ss->n_up = 2;
	ss->up[0].slot = 0;
	strcpy(ss->up[0].name, "be-a");
	ss->up[0].backend = ss->peer;
	ss->up[0].backend_len = ss->peer_len;
	ss->up[0].local_port = 50000;
	ss->up[0].observing = true;
	ss->up[1].slot = 3;
	/* The longest name: with an IPv6 address the field is 6 + 19 + 64 bytes. */
	strcpy(ss->up[1].name,
	    v6 ? "be-b-01234567890123456789012345678901234567890123456789012345678" : "be-b");
	ss->up[1].backend = ss->peer;
	ss->up[1].backend_len = ss->peer_len;
	ss->up[1].local_port = 50001;
	ss->n_mids = 1;
	ss->mids[0].device_mid = 0x1234;
	ss->mids[0].backend_mid = 0x0042;
	ss->mids[0].backend = 3;
	ss->mids[0].age_ms = 1500;
	ss->next_mid = 0x1235;
	ss->last_slot = 3;
	ss->n_pend = 2;
	ss->pend[0] = (struct state_pending){ .mid = 0x0201,
		.slot = 3,
		.type = 0,
		.code = 1,
		.token = { 0xaa, 0xbb },
		.token_len = 2,
		.age_ms = 700,
		.left_ms = 29300 };
	ss->pend[1] = (struct state_pending){ .mid = 0x0202,
		.slot = 0,
		.type = 0,
		.code = 2,
		.token = { 1, 2, 3, 4, 5, 6, 7, 8 },
		.token_len = 8,
		.age_ms = 1,
		.left_ms = 1 };
}

/* Encodes n sessions (IPv4, IPv6, ...) into a fresh buffer. */
static uint8_t *
encode(int n, size_t *len)
{
	struct state_out o;
	struct state_session ss;
	uint8_t *data;
	char *cause = NULL;

	ck_assert_int_eq(state_out_init(&o, &cause), 0);
	for (int i = 0; i < n; i++) {
		fill_session(&ss, i % 2);
		ck_assert_int_eq(state_out_add(&o, &ss, &cause), 0);
	}
	ck_assert_int_eq(state_out_finish(&o, 1700000006000ull, &data, len, &cause), 0);
	return data;
}

/* Checks that len bytes at buf are refused with a cause containing want. */
static void
assert_refused(const uint8_t *buf, size_t len, const char *want)
{
	struct state_in in;
	char *cause = NULL;

	ck_assert_int_eq(state_in_open(&in, buf, len, &cause), -1);
	ck_assert_ptr_nonnull(cause);
	ck_assert_msg(strstr(cause, want) != NULL, "cause \"%s\" lacks \"%s\"", cause, want);
	free(cause);
}

START_TEST(test_round_trip)
{
	struct state_in in;
	struct state_session a, b;
	size_t len;
	uint8_t *data = encode(2, &len);
	char *cause = NULL;

	ck_assert_int_eq(state_in_open(&in, data, len, &cause), 0);
	ck_assert_uint_eq(in.count, 2);
	ck_assert_uint_eq(in.saved_ms, 1700000006000ull);
	for (int i = 0; i < 2; i++) {
		fill_session(&a, i);
		ck_assert_int_eq(state_in_next(&in, &b, &cause), 1);
		ck_assert_uint_eq(b.id, 0x0badcafe);
		ck_assert_int_eq(b.kind, a.kind);
		ck_assert_int_eq(b.has_psk_tag, a.has_psk_tag);
		if (a.has_psk_tag)
			ck_assert_mem_eq(b.psk_tag, a.psk_tag, 8);
		ck_assert_mem_eq(b.identity, a.identity, a.identity_len);
		ck_assert_uint_eq(b.identity_len, a.identity_len);
		ck_assert_uint_eq(b.peer_len, a.peer_len);
		ck_assert_mem_eq(&b.peer, &a.peer, a.peer_len);
		ck_assert_mem_eq(&b.local, &a.local, a.local_len);
		ck_assert_mem_eq(&b.listener, &a.listener, a.listener_len);
		ck_assert_mem_eq(b.cid, a.cid, 4);
		ck_assert_uint_eq(b.cid_len, 4);
		ck_assert_uint_eq(b.created_ms, a.created_ms);
		ck_assert_uint_eq(b.established_ms, a.established_ms);
		ck_assert_uint_eq(b.last_ms, a.last_ms);
		ck_assert_str_eq(b.cipher, a.cipher);
		ck_assert_int_eq(b.has_cert, a.has_cert);
		ck_assert_str_eq(b.cert_subject, a.cert_subject);
		ck_assert_str_eq(b.cert_issuer, a.cert_issuer);
		ck_assert_int_eq(b.cert_not_after, a.cert_not_after);
		ck_assert_uint_eq(b.context_len, sizeof ctx_blob);
		ck_assert_mem_eq(b.context, ctx_blob, sizeof ctx_blob);
		ck_assert_uint_eq(b.n_up, 2);
		ck_assert_str_eq(b.up[1].name, a.up[1].name);
		ck_assert_uint_eq(b.up[1].slot, 3);
		ck_assert_uint_eq(b.up[0].local_port, 50000);
		ck_assert(b.up[0].observing);
		ck_assert(!b.up[1].observing);
		ck_assert_mem_eq(&b.up[0].backend, &a.up[0].backend, a.up[0].backend_len);
		ck_assert_uint_eq(b.n_mids, 1);
		ck_assert_uint_eq(b.mids[0].device_mid, 0x1234);
		ck_assert_uint_eq(b.mids[0].backend_mid, 0x0042);
		ck_assert_uint_eq(b.mids[0].backend, 3);
		ck_assert_uint_eq(b.mids[0].age_ms, 1500);
		ck_assert_uint_eq(b.next_mid, 0x1235);
		ck_assert_int_eq(b.last_slot, 3);
		ck_assert_uint_eq(b.n_pend, 2);
		for (size_t k = 0; k < 2; k++) {
			ck_assert_uint_eq(b.pend[k].mid, a.pend[k].mid);
			ck_assert_uint_eq(b.pend[k].slot, a.pend[k].slot);
			ck_assert_uint_eq(b.pend[k].type, a.pend[k].type);
			ck_assert_uint_eq(b.pend[k].code, a.pend[k].code);
			ck_assert_uint_eq(b.pend[k].token_len, a.pend[k].token_len);
			ck_assert_mem_eq(b.pend[k].token, a.pend[k].token, a.pend[k].token_len);
			ck_assert_uint_eq(b.pend[k].age_ms, a.pend[k].age_ms);
			ck_assert_uint_eq(b.pend[k].left_ms, a.pend[k].left_ms);
		}
	}
	ck_assert_int_eq(state_in_next(&in, &b, &cause), 0);
	if (getenv("STATE_WRITE_SEED") != NULL) {
		FILE *f = fopen(getenv("STATE_WRITE_SEED"), "wb");

		ck_assert_ptr_nonnull(f);
		ck_assert_uint_eq(fwrite(data, 1, len, f), len);
		fclose(f);
	}
	free(data);
}
END_TEST

START_TEST(test_empty)
{
	struct state_in in;
	struct state_session b;
	size_t len;
	uint8_t *data = encode(0, &len);
	char *cause = NULL;

	ck_assert_uint_eq(len, STATE_HEADER_LEN);
	ck_assert_int_eq(state_in_open(&in, data, len, &cause), 0);
	ck_assert_int_eq(state_in_next(&in, &b, &cause), 0);
	free(data);
}
END_TEST

START_TEST(test_refusals)
{
	size_t len;
	uint8_t *data = encode(3, &len), *copy = malloc(len + 16);

	ck_assert_ptr_nonnull(copy);
	assert_refused(data, 0, "truncated");
	assert_refused(data, STATE_HEADER_LEN - 1, "truncated");
	assert_refused(data, len - 1, "truncated");
	memcpy(copy, data, len);
	copy[len] = 0;
	assert_refused(copy, len + 1, "after the end");
	/* Wrong magic. */
	memcpy(copy, data, len);
	copy[0] = 'X';
	assert_refused(copy, len, "wrong magic");
	/* A version from the future. */
	memcpy(copy, data, len);
	copy[9] = STATE_VERSION + 1;
	assert_refused(copy, len, "unknown format version 2");
	/* Not marked complete (a stop that did not finish). */
	memcpy(copy, data, len);
	copy[11] = 0;
	assert_refused(copy, len, "incomplete");
	memcpy(copy, data, len);
	copy[10] = 0x80;
	assert_refused(copy, len, "unknown flags");
	/* One bit flipped in the body, in the count, in the time. */
	memcpy(copy, data, len);
	copy[len - 5] ^= 0x01;
	assert_refused(copy, len, "checksum");
	memcpy(copy, data, len);
	copy[15] ^= 0x01;
	assert_refused(copy, len, "checksum");
	memcpy(copy, data, len);
	copy[27] ^= 0x01;
	assert_refused(copy, len, "checksum");
	/* Oversize claims. */
	memcpy(copy, data, len);
	copy[16] = 0xff;
	assert_refused(copy, len, "oversize");
	memcpy(copy, data, len);
	copy[12] = 0xff;
	assert_refused(copy, len, "too many sessions");
	free(copy);
	free(data);
}
END_TEST

START_TEST(test_encoder_bounds)
{
	struct state_out o;
	struct state_session ss;
	char *cause = NULL;

	ck_assert_int_eq(state_out_init(&o, &cause), 0);
	fill_session(&ss, 0);
	ss.context_len = STATE_CONTEXT_MAX + 1;
	ck_assert_int_eq(state_out_add(&o, &ss, &cause), -1);
	ck_assert_ptr_nonnull(cause);
	free(cause);
	cause = NULL;
	fill_session(&ss, 0);
	ss.up[0].slot = STATE_UPSTREAMS;
	ck_assert_int_eq(state_out_add(&o, &ss, &cause), -1);
	free(cause);
	cause = NULL;
	fill_session(&ss, 0);
	ss.context_len = 0;
	ck_assert_int_eq(state_out_add(&o, &ss, &cause), -1);
	free(cause);
	cause = NULL;
	fill_session(&ss, 1);
	memset(ss.cert_issuer, 'x', sizeof ss.cert_issuer); /* no NUL: longer than the limit */
	ck_assert_int_eq(state_out_add(&o, &ss, &cause), -1);
	free(cause);
	ck_assert_uint_eq(o.count, 0);
	ck_assert_uint_eq(o.len, STATE_HEADER_LEN);
	state_out_free(&o);
}
END_TEST

/*
 * A version-1 state as an earlier build wrote it (tests/unit/state-v1.hex,
 * before the PSK tag field): it must keep loading.
 */
START_TEST(test_fixture_v1)
{
	char path[4096];
	FILE *f;
	uint8_t *buf = malloc(65536);
	size_t len = 0;
	unsigned x;
	struct state_in in;
	struct state_session b;
	char *cause = NULL;
	int n = 0, rc;

	ck_assert_ptr_nonnull(buf);
	snprintf(path, sizeof path, "%s/tests/unit/state-v1.hex", SRCDIR);
	f = fopen(path, "r");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	while (len < 65536 && fscanf(f, "%2x", &x) == 1)
		buf[len++] = (uint8_t)x;
	fclose(f);
	ck_assert_int_eq(state_in_open(&in, buf, len, &cause), 0);
	while ((rc = state_in_next(&in, &b, &cause)) == 1) {
		ck_assert_str_eq(b.cipher, "TLS-PSK-WITH-AES-128-CCM-8");
		ck_assert_uint_eq(b.n_up, 2);
		ck_assert_uint_eq(b.id, 0x0badcafe);
		ck_assert(!b.has_cert); /* written before the certificate field */
		n++;
	}
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(n, 2);
	free(buf);
}
END_TEST

/* IPv6 link-local: the peer's scope, the local address' interface and the listener's scope survive. */
START_TEST(test_link_local_scope)
{
	struct state_out o;
	struct state_in in;
	struct state_session a, b;
	struct sockaddr_in6 *sin6;
	uint8_t *data;
	size_t len;
	char *cause = NULL;

	fill_session(&a, 1);
	sin6 = (struct sockaddr_in6 *)&a.peer;
	ck_assert_int_eq(inet_pton(AF_INET6, "fe80::1234", &sin6->sin6_addr), 1);
	sin6->sin6_scope_id = 7;
	sin6 = (struct sockaddr_in6 *)&a.local;
	ck_assert_int_eq(inet_pton(AF_INET6, "fe80::1", &sin6->sin6_addr), 1);
	sin6->sin6_scope_id = 7;
	sin6 = (struct sockaddr_in6 *)&a.listener;
	sin6->sin6_addr = in6addr_any;
	sin6->sin6_scope_id = 0;
	ck_assert_int_eq(state_out_init(&o, &cause), 0);
	ck_assert_int_eq(state_out_add(&o, &a, &cause), 0);
	fill_session(&b, 1); /* a global address: no scope field, scope ids 0 */
	ck_assert_int_eq(state_out_add(&o, &b, &cause), 0);
	ck_assert_int_eq(state_out_finish(&o, 1700000006000ull, &data, &len, &cause), 0);
	ck_assert_int_eq(state_in_open(&in, data, len, &cause), 0);
	ck_assert_int_eq(state_in_next(&in, &b, &cause), 1);
	ck_assert_uint_eq(b.peer_len, sizeof(struct sockaddr_in6));
	ck_assert_mem_eq(&b.peer, &a.peer, sizeof(struct sockaddr_in6));
	ck_assert_mem_eq(&b.local, &a.local, sizeof(struct sockaddr_in6));
	ck_assert_mem_eq(&b.listener, &a.listener, sizeof(struct sockaddr_in6));
	ck_assert_uint_eq(((struct sockaddr_in6 *)&b.local)->sin6_scope_id, 7);
	ck_assert_int_eq(state_in_next(&in, &b, &cause), 1);
	ck_assert_uint_eq(((struct sockaddr_in6 *)&b.peer)->sin6_scope_id, 0);
	ck_assert_uint_eq(((struct sockaddr_in6 *)&b.local)->sin6_scope_id, 0);
	ck_assert_int_eq(state_in_next(&in, &b, &cause), 0);
	free(data);
}
END_TEST

/* The suite. */
static Suite *
state_suite(void)
{
	Suite *s = suite_create("state");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_refusals);
	tcase_add_test(tc, test_encoder_bounds);
	tcase_add_test(tc, test_fixture_v1);
	tcase_add_test(tc, test_link_local_scope);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(state_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
