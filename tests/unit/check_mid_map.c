/* check_mid_map.c: unit tests for MID remapping of backend-initiated messages. */
#include "config.h"

#include <check.h>
#include <stdlib.h>

#include "mid_map.h"

#define T0 1000000ull /* any monotonic start, in ms */

START_TEST(test_round_trip)
{
	struct mid_map m;
	int d1, d2, d3, b = -2;
	uint16_t bm = 0;

	mid_map_init(&m, 0x1000);
	d1 = mid_map_out(&m, 0, 0x0042, T0);
	ck_assert_int_eq(d1, 0x1000);
	/* Another backend with the same MID gets its own device MID. */
	d2 = mid_map_out(&m, 1, 0x0042, T0 + 1);
	ck_assert_int_eq(d2, 0x1001);
	d3 = mid_map_out(&m, 0, 0x0043, T0 + 2);
	ck_assert_int_eq(d3, 0x1002);

	ck_assert_int_eq(mid_map_in(&m, (uint16_t)d1, T0 + 10, &b, &bm), 0);
	ck_assert_int_eq(b, 0);
	ck_assert_uint_eq(bm, 0x0042);
	ck_assert_int_eq(mid_map_in(&m, (uint16_t)d2, T0 + 10, &b, &bm), 0);
	ck_assert_int_eq(b, 1);
	ck_assert_uint_eq(bm, 0x0042);
	ck_assert_int_eq(mid_map_in(&m, 0x0fff, T0 + 10, &b, &bm), -1);
	/* Out-of-range backend indexes are refused. */
	ck_assert_int_eq(mid_map_out(&m, -1, 1, T0), -1);
	ck_assert_int_eq(mid_map_out(&m, 40000, 1, T0), -1);
}
END_TEST

START_TEST(test_retransmission_and_lifetime)
{
	struct mid_map m;
	int d1, d2, b;
	uint16_t bm;

	mid_map_init(&m, 0xfffe);
	d1 = mid_map_out(&m, 3, 7, T0);
	ck_assert_int_eq(d1, 0xfffe);
	/* A retransmission 45 s later keeps its device MID. */
	ck_assert_int_eq(mid_map_out(&m, 3, 7, T0 + 45000), d1);
	ck_assert_int_eq(mid_map_out(&m, 3, 7, T0 + MID_MAP_LIFETIME_MS - 1), d1);
	/* After EXCHANGE_LIFETIME the same backend MID is a new message. */
	d2 = mid_map_out(&m, 3, 7, T0 + MID_MAP_LIFETIME_MS);
	ck_assert_int_eq(d2, 0xffff);
	ck_assert_int_eq(mid_map_out(&m, 3, 8, T0 + MID_MAP_LIFETIME_MS), 0);
	ck_assert_int_eq(mid_map_in(&m, (uint16_t)d1, T0 + MID_MAP_LIFETIME_MS, &b, &bm), -1);
	ck_assert_int_eq(mid_map_in(&m, (uint16_t)d2, T0 + MID_MAP_LIFETIME_MS, &b, &bm), 0);
	ck_assert_int_eq(b, 3);
	ck_assert_uint_eq(bm, 7);
}
END_TEST

START_TEST(test_eviction)
{
	struct mid_map m;
	int i, b, first;
	uint16_t bm;

	mid_map_init(&m, 100);
	first = mid_map_out(&m, 0, 0, T0);
	for (i = 1; i < MID_MAP_SIZE; i++)
		ck_assert_int_eq(mid_map_out(&m, 0, (uint16_t)i, T0), 100 + i);
	/* All MID_MAP_SIZE mappings are held. */
	ck_assert_int_eq(mid_map_in(&m, (uint16_t)first, T0, &b, &bm), 0);
	ck_assert_int_eq(mid_map_out(&m, 0, 0, T0), first);
	/* One more evicts the oldest (backend MID 0). */
	ck_assert_int_eq(mid_map_out(&m, 1, 0, T0), 100 + MID_MAP_SIZE);
	ck_assert_int_eq(mid_map_in(&m, (uint16_t)first, T0, &b, &bm), -1);
	ck_assert_int_eq(mid_map_in(&m, 101, T0, &b, &bm), 0);
	ck_assert_uint_eq(bm, 1);
	/* The evicted backend MID gets a fresh device MID, never the old one. */
	ck_assert_int_eq(mid_map_out(&m, 0, 0, T0), 101 + MID_MAP_SIZE);
}
END_TEST

START_TEST(test_no_reuse_within_lifetime)
{
	struct mid_map m;
	int i, mid;

	mid_map_init(&m, 0x8000);
	for (i = 0; i < 65536; i++) {
		mid = mid_map_alloc(&m, T0 + (uint64_t)i);
		ck_assert_int_eq(mid, (0x8000 + i) & 0xffff);
	}
	/* Every MID was handed out within the last 66 s: none is free. */
	ck_assert_int_eq(mid_map_alloc(&m, T0 + 65536), -1);
	ck_assert_int_eq(mid_map_out(&m, 0, 1, T0 + 65536), -1);
	ck_assert_int_eq(mid_map_alloc(&m, T0 + 1023 + 247000), -1);
	/* Once the first bucket's last MID is a lifetime old, it is free again. */
	ck_assert_int_eq(mid_map_alloc(&m, T0 + 1023 + 248000), 0x8000);
	ck_assert_int_eq(mid_map_alloc(&m, T0 + 1023 + 248000), 0x8001);
}
END_TEST

START_TEST(test_forget_backend)
{
	struct mid_map m;
	int d0, d1, b;
	uint16_t bm;

	mid_map_init(&m, 5);
	d0 = mid_map_out(&m, 0, 9, T0);
	d1 = mid_map_out(&m, 1, 9, T0);
	mid_map_forget_backend(&m, 0);
	ck_assert_int_eq(mid_map_in(&m, (uint16_t)d0, T0, &b, &bm), -1);
	ck_assert_int_eq(mid_map_in(&m, (uint16_t)d1, T0, &b, &bm), 0);
	ck_assert_int_eq(b, 1);
}
END_TEST

/* Collects the tests. */
static Suite *
mid_map_suite(void)
{
	Suite *s = suite_create("mid_map");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_retransmission_and_lifetime);
	tcase_add_test(tc, test_eviction);
	tcase_add_test(tc, test_no_reuse_within_lifetime);
	tcase_add_test(tc, test_forget_backend);
	suite_add_tcase(s, tc);
	return s;
}

/* Runs the suite. */
int
main(void)
{
	SRunner *sr = srunner_create(mid_map_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
