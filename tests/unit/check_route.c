/* check_route.c: unit tests for request routing. */
#include "config.h"

#include <check.h>
#include <stdlib.h>

#include "route.h"

START_TEST(test_path_prefix)
{
	ck_assert(route_path_match("/fw", "/fw"));
	ck_assert(route_path_match("/fw", "/fw/x"));
	ck_assert(route_path_match("/fw", "/fw/"));
	ck_assert(!route_path_match("/fw", "/fwx"));
	ck_assert(!route_path_match("/fw", "/f"));
	ck_assert(!route_path_match("/fw", "/"));
	ck_assert(!route_path_match("/fw/x", "/fw"));
	ck_assert(route_path_match("/fw/", "/fw"));
	ck_assert(route_path_match("/fw/", "/fw/x"));
	ck_assert(!route_path_match("/fw/", "/fwx"));
	ck_assert(route_path_match("/", "/anything"));
	ck_assert(route_path_match("", "/"));
	ck_assert(!route_path_match("/FW", "/fw"));
	ck_assert(route_path_match("/a/b", "/a/b/c"));
	ck_assert(!route_path_match("/a/b", "/a/bc"));
}
END_TEST

START_TEST(test_pick)
{
	struct route routes[] = {
		{ .path_prefix = "/fw", .identity = "ops-*", .backend = 0 },
		{ .path_prefix = "/fw", .backend = 1 },
		{ .uri_host = "Sensors.Example", .backend = 2 },
		{ .identity = "dev-4?", .backend = 3 },
		{ .backend = 4 },
	};
	size_t n = sizeof(routes) / sizeof(routes[0]);

	ck_assert_int_eq(route_pick(routes, n, "ops-1", false, "/fw/img", ""), 0);
	ck_assert_int_eq(route_pick(routes, n, "dev-42", false, "/fw/img", ""), 1);
	ck_assert_int_eq(route_pick(routes, n, "dev-42", false, "/fw", ""), 1);
	ck_assert_int_eq(route_pick(routes, n, "ops-1", false, "/fwx", ""), 4);
	ck_assert_int_eq(route_pick(routes, n, "dev-42", false, "/temp", "sensors.example"), 2);
	ck_assert_int_eq(route_pick(routes, n, "dev-42", false, "/temp", ""), 3);
	ck_assert_int_eq(route_pick(routes, n, "dev-420", false, "/temp", ""), 4);
	ck_assert_int_eq(route_pick(routes, n, NULL, false, "/fw", NULL), 1);
	ck_assert_int_eq(route_pick(routes, n, NULL, false, "/x", NULL), 4);
	/* Without the default route, nothing matches. */
	ck_assert_int_eq(route_pick(routes, n - 1, "dev-420", false, "/temp", "other"), -1);
	ck_assert_int_eq(route_pick(routes, 0, "x", false, "/", ""), -1);
	/* A path key does not match a missing path. */
	ck_assert_int_eq(route_pick(routes, 2, "ops-1", false, NULL, ""), -1);
}
END_TEST

START_TEST(test_identity_glob)
{
	struct route routes[] = {
		{ .identity = "[a-c]*.thread.example", .backend = 7 },
		{ .identity = "*", .backend = 8 },
	};

	ck_assert_int_eq(route_pick(routes, 2, "b12.thread.example", false, "/", ""), 7);
	ck_assert_int_eq(route_pick(routes, 2, "d12.thread.example", false, "/", ""), 8);
	ck_assert_int_eq(route_pick(routes, 2, "", false, "/", ""), 8);
	/* "*" needs an identity to match against. */
	ck_assert_int_eq(route_pick(routes, 2, NULL, false, "/", ""), -1);
}
END_TEST

START_TEST(test_anonymous)
{
	struct route routes[] = {
		{ .identity = "*", .backend = 1 },
		{ .anonymous = true, .path_prefix = "/pub", .backend = 2 },
		{ .path_prefix = "/pub", .backend = 3 },
		{ .backend = 4 },
	};
	size_t n = sizeof(routes) / sizeof(routes[0]);

	/* A glob, "*" too, never matches an anonymous session, nor does the default route. */
	ck_assert_int_eq(route_pick(routes, n, "anonymous", true, "/x", ""), -1);
	ck_assert_int_eq(route_pick(routes, n, NULL, true, "/x", ""), -1);
	ck_assert_int_eq(route_pick(routes, n, "anonymous", true, "/pub/a", ""), 2);
	/* An anonymous route never matches an authenticated session. */
	ck_assert_int_eq(route_pick(routes, n, "anonymous", false, "/pub/a", ""), 1);
	ck_assert_int_eq(route_pick(routes, n, NULL, false, "/pub/a", ""), 3);
	ck_assert_int_eq(route_pick(routes, n, NULL, false, "/x", ""), 4);
	ck_assert_ptr_eq(route_find(routes, n, NULL, true, "/pub", ""), &routes[1]);
	ck_assert_ptr_null(route_find(routes, n, "x", true, "/", ""));
}
END_TEST

START_TEST(test_identity_kind)
{
	struct route routes[] = {
		{ .identity = "psk:admin-*", .backend = 1 },
		{ .identity = "x509:admin-*", .backend = 2 },
		{ .identity = "dev-*", .backend = 3 },
	};

	/* A kind prefix in the glob takes that kind only. */
	ck_assert_int_eq(route_pick(routes, 3, "psk:admin-1", false, "/", ""), 1);
	ck_assert_int_eq(route_pick(routes, 3, "x509:admin-1", false, "/", ""), 2);
	ck_assert_int_eq(route_pick(routes + 1, 2, "psk:admin-1", false, "/", ""), -1);
	ck_assert_int_eq(route_pick(routes, 1, "x509:admin-1", false, "/", ""), -1);
	/* A glob without a kind matches the name of either kind. */
	ck_assert_int_eq(route_pick(routes, 3, "psk:dev-1", false, "/", ""), 3);
	ck_assert_int_eq(route_pick(routes, 3, "x509:dev-1", false, "/", ""), 3);
	/* A PSK identity that looks like a certificate identity stays a PSK identity. */
	ck_assert(!route_identity_match("x509:admin-*", "psk:x509:admin-1"));
	ck_assert(route_identity_match("x509:admin-*", "psk:x509:admin-1") ==
	          route_identity_match("x509:*", "psk:x509:admin-1"));
	ck_assert(route_identity_match("psk:x509:*", "psk:x509:admin-1"));
	ck_assert(route_identity_match("x509:*", "x509:admin-1"));
	ck_assert(!route_identity_match("x509:admin", "x509:admin-1"));
}
END_TEST

START_TEST(test_shadows)
{
	struct route all = { .backend = 1 };
	struct route anon_all = { .anonymous = true, .backend = 1 };
	struct route path = { .path_prefix = "/", .backend = 1 };
	struct route id = { .identity = "*", .backend = 1 };
	struct route host = { .uri_host = "h", .backend = 1 };
	struct route anon_path = { .anonymous = true, .path_prefix = "/p", .backend = 1 };

	ck_assert(route_shadows(&all, &path));
	ck_assert(route_shadows(&all, &id));
	ck_assert(!route_shadows(&all, &anon_path));
	ck_assert(!route_shadows(&path, &all));
	ck_assert(!route_shadows(&id, &all));
	ck_assert(!route_shadows(&host, &all));
	ck_assert(route_shadows(&anon_all, &anon_path));
	ck_assert(!route_shadows(&anon_all, &all));
	ck_assert(!route_shadows(&anon_path, &anon_all));
}
END_TEST

/* Collects the tests. */
static Suite *
route_suite(void)
{
	Suite *s = suite_create("route");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_path_prefix);
	tcase_add_test(tc, test_pick);
	tcase_add_test(tc, test_identity_glob);
	tcase_add_test(tc, test_anonymous);
	tcase_add_test(tc, test_identity_kind);
	tcase_add_test(tc, test_shadows);
	suite_add_tcase(s, tc);
	return s;
}

/* Runs the suite. */
int
main(void)
{
	SRunner *sr = srunner_create(route_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
