/* check_dtls_cookie.c: unit tests for the stateless DTLS cookie: it binds exactly one peer address. */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dtls.h"

static uint8_t cookie[DTLS_COOKIE_LEN];

/* Sets up the RNG and the cookie key once. */
static void
setup(void)
{
	char *cause = NULL;

	ck_assert_int_eq(dtls_init_fixed(&cause), 0);
}

/* Fills an IPv4 peer. */
static void
peer4(struct sockaddr_in *sin, const char *addr, uint16_t port)
{
	memset(sin, 0, sizeof *sin);
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	ck_assert_int_eq(inet_pton(AF_INET, addr, &sin->sin_addr), 1);
}

/* Fills an IPv6 peer. */
static void
peer6(struct sockaddr_in6 *sin6, const char *addr, uint16_t port, uint32_t scope)
{
	memset(sin6, 0, sizeof *sin6);
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(port);
	sin6->sin6_scope_id = scope;
	ck_assert_int_eq(inet_pton(AF_INET6, addr, &sin6->sin6_addr), 1);
}

/* Tells whether the cookie made last is valid for peer (peerlen bytes). */
static bool
valid_for(const void *peer, socklen_t peerlen)
{
	struct client_hello ch;
	uint32_t id = 0;
	bool ok;

	memset(&ch, 0, sizeof ch);
	ch.cookie = cookie;
	ch.cookie_len = sizeof cookie;
	ok = dtls_cookie_valid(&ch, peer, peerlen, &id);
	ck_assert(!ok || id == 42);
	return ok;
}

START_TEST(test_ipv4)
{
	struct sockaddr_in a, b;

	peer4(&a, "192.0.2.1", 5000);
	ck_assert(dtls_cookie_make((struct sockaddr *)&a, sizeof a, 42, cookie));
	ck_assert(valid_for(&a, sizeof a));
	peer4(&b, "192.0.2.1", 5001);
	ck_assert(!valid_for(&b, sizeof b)); /* other port */
	peer4(&b, "192.0.2.2", 5000);
	ck_assert(!valid_for(&b, sizeof b)); /* other address */
	/* Fewer bytes than an IPv4 address: no peer this cookie (or any) can be for. */
	ck_assert(!valid_for(&a, sizeof a - 10));
	ck_assert(!dtls_cookie_make((struct sockaddr *)&a, sizeof a - 10, 42, cookie));
}
END_TEST

START_TEST(test_ipv6)
{
	struct sockaddr_in6 a, b;
	struct sockaddr_in c;

	peer6(&a, "fe80::1", 5000, 2);
	ck_assert(dtls_cookie_make((struct sockaddr *)&a, sizeof a, 42, cookie));
	ck_assert(valid_for(&a, sizeof a));
	peer6(&b, "fe80::1", 5001, 2);
	ck_assert(!valid_for(&b, sizeof b)); /* other port */
	peer6(&b, "fe80::1", 5000, 3);
	ck_assert(!valid_for(&b, sizeof b)); /* same link-local address on another link */
	/* The same bytes but too short for an IPv6 address. */
	ck_assert(!valid_for(&a, sizeof(struct sockaddr_in)));
	ck_assert(!dtls_cookie_make((struct sockaddr *)&a, sizeof(struct sockaddr_in), 42, cookie));
	/* The IPv4 peer behind a v4-mapped address is another peer. */
	peer6(&a, "::ffff:192.0.2.1", 5000, 0);
	ck_assert(dtls_cookie_make((struct sockaddr *)&a, sizeof a, 42, cookie));
	peer4(&c, "192.0.2.1", 5000);
	ck_assert(!valid_for(&c, sizeof c));
}
END_TEST

START_TEST(test_other_family)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof ss);
	ss.ss_family = AF_UNIX;
	ck_assert(!dtls_cookie_make((struct sockaddr *)&ss, sizeof ss, 42, cookie));
	ck_assert(!valid_for(&ss, sizeof ss));
}
END_TEST

/* The suite of the cookie tests. */
static Suite *
cookie_suite(void)
{
	Suite *s = suite_create("dtls_cookie");
	TCase *tc = tcase_create("core");

	tcase_add_unchecked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_ipv4);
	tcase_add_test(tc, test_ipv6);
	tcase_add_test(tc, test_other_family);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(cookie_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
