/* check_admit.c: unit tests for admission: what a ClientHello asks for, source prefixes, the top lists. */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "admit.h"
#include "dtls.h"

/* A ClientHello datagram being built. */
struct hello {
	uint8_t b[512];
	size_t n;
};

/* Appends n bytes. */
static void
put(struct hello *h, const void *p, size_t n)
{
	memcpy(h->b + h->n, p, n);
	h->n += n;
}

/* Appends a big-endian number of n bytes. */
static void
put_be(struct hello *h, size_t v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h->b[h->n++] = (uint8_t)(v >> 8 * (n - 1 - i));
}

/* Builds a whole ClientHello: session id of sid_len bytes, suites, extensions (raw). */
static void
hello_build(struct hello *h, size_t sid_len, const uint16_t *suites, size_t n_suites,
    const uint8_t *ext, size_t ext_len)
{
	static const uint8_t random[32], sid[32];
	size_t body_len =
	    2 + 32 + 1 + sid_len + 1 + 2 + 2 * n_suites + 2 + (ext != NULL ? 2 + ext_len : 0);

	h->n = 0;
	put(h, "\x16\xfe\xfd", 3);
	put_be(h, 0, 2);             /* epoch */
	put_be(h, 0, 6);             /* sequence number */
	put_be(h, 12 + body_len, 2); /* record length */
	put(h, "\x01", 1);           /* client_hello */
	put_be(h, body_len, 3);
	put_be(h, 0, 2); /* message_seq */
	put_be(h, 0, 3); /* fragment offset */
	put_be(h, body_len, 3);
	put(h, "\xfe\xfd", 2);
	put(h, random, 32);
	put_be(h, sid_len, 1);
	put(h, sid, sid_len);
	put_be(h, 0, 1); /* cookie */
	put_be(h, 2 * n_suites, 2);
	for (size_t i = 0; i < n_suites; i++)
		put_be(h, suites[i], 2);
	put(h, "\x01\x00", 2); /* compression: null */
	if (ext != NULL) {
		put_be(h, ext_len, 2);
		put(h, ext, ext_len);
	}
}

/* Classifies a built hello. */
static enum admit_class
classify(const struct hello *h)
{
	struct client_hello ch;

	ck_assert(dtls_parse_client_hello(h->b, h->n, &ch));
	return admit_classify(h->b, h->n, &ch);
}

START_TEST(test_classify)
{
	static const uint16_t psk[] = { 0xC0A8, 0x00ff }, full[] = { 0xC0AE },
	                      mixed[] = { 0xC0A8, 0xC0AE };
	/* supported_groups, then an empty session_ticket (asks for a ticket). */
	static const uint8_t ext_empty_ticket[] = { 0, 10, 0, 4, 0, 2, 0, 23, 0, 35, 0, 0 };
	static const uint8_t ext_ticket[] = { 0, 10, 0, 4, 0, 2, 0, 23, 0, 35, 0, 3, 1, 2, 3 };
	struct hello h;

	hello_build(&h, 0, psk, 2, NULL, 0);
	ck_assert_int_eq(classify(&h), ADMIT_PSK);
	hello_build(&h, 0, full, 1, NULL, 0);
	ck_assert_int_eq(classify(&h), ADMIT_FULL);
	hello_build(&h, 0, mixed, 2, NULL, 0);
	ck_assert_int_eq(classify(&h), ADMIT_FULL);
	hello_build(&h, 0, full, 1, ext_empty_ticket, sizeof ext_empty_ticket);
	ck_assert_int_eq(classify(&h), ADMIT_FULL);
	hello_build(&h, 0, full, 1, ext_ticket, sizeof ext_ticket);
	ck_assert_int_eq(classify(&h), ADMIT_RESUME);
	hello_build(&h, 32, full, 1, NULL, 0);
	ck_assert_int_eq(classify(&h), ADMIT_RESUME);
}
END_TEST

/* Fills a peer from an address literal (IPv4 or IPv6). */
static const struct sockaddr *
peer(struct sockaddr_storage *ss, const char *addr)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof *ss);
	if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1)
		sin->sin_family = AF_INET;
	else {
		ck_assert_int_eq(inet_pton(AF_INET6, addr, &sin6->sin6_addr), 1);
		sin6->sin6_family = AF_INET6;
	}
	return (const struct sockaddr *)ss;
}

START_TEST(test_prefix_and_top)
{
	struct sockaddr_storage ss;
	char text[ADMIT_PREFIX_TEXT];
	struct admit_top top[ADMIT_TOP];
	uint32_t a, b, c, d;

	/* No configuration: the defaults, /32 and /64. */
	admit_prefix_text(peer(&ss, "192.0.2.7"), text);
	ck_assert_str_eq(text, "192.0.2.7/32");
	admit_prefix_text(peer(&ss, "2001:db8:1:2:3:4:5:6"), text);
	ck_assert_str_eq(text, "2001:db8:1:2::/64");
	admit_prefix_text(peer(&ss, "::ffff:10.1.2.3"), text);
	ck_assert_str_eq(text, "10.1.2.3/32");

	a = admit_handshake_add(peer(&ss, "2001:db8:1:2::1"));
	b = admit_handshake_add(peer(&ss, "2001:db8:1:2::2"));
	c = admit_handshake_add(peer(&ss, "2001:db8:1:3::1"));
	d = admit_handshake_add(peer(&ss, "2001:db8:1:2::3"));
	ck_assert_uint_eq(a, b);
	ck_assert_uint_ne(a, c);
	ck_assert_uint_eq(admit_prefix_handshakes(peer(&ss, "2001:db8:1:2::9")), 3);
	ck_assert_uint_eq(admit_top_handshakes(top), 2);
	ck_assert_str_eq(top[0].prefix, "2001:db8:1:2::/64");
	ck_assert_uint_eq(top[0].count, 3);
	ck_assert_str_eq(top[1].prefix, "2001:db8:1:3::/64");
	admit_handshake_done(a);
	admit_handshake_done(b);
	admit_handshake_done(d);
	admit_handshake_done(c);
	ck_assert_uint_eq(admit_top_handshakes(top), 0);

	for (int i = 0; i < 3; i++)
		admit_prefix_refused(peer(&ss, "198.51.100.1"));
	admit_prefix_refused(peer(&ss, "198.51.100.2"));
	ck_assert_uint_eq(admit_top_refused(top), 2);
	ck_assert_str_eq(top[0].prefix, "198.51.100.1/32");
	ck_assert_uint_eq(top[0].count, 3);
	/* More refused prefixes than the list holds: it stays ADMIT_TOP long. */
	for (int i = 0; i < 20; i++) {
		char addr[32];

		snprintf(addr, sizeof addr, "203.0.113.%d", i);
		admit_prefix_refused(peer(&ss, addr));
	}
	ck_assert_uint_eq(admit_top_refused(top), ADMIT_TOP);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("admit");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_classify);
	tcase_add_test(tc, test_prefix_and_top);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
