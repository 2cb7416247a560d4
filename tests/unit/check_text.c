/* check_text.c: unit tests for the shared text helpers: the one JSON escaper and the one hex decoder. */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "text.h"

/* Escapes len bytes of src with text_json_evbuffer into buf (a C string). */
static const char *
escape(char *buf, size_t size, const char *src, size_t len)
{
	struct evbuffer *out = evbuffer_new();
	size_t n;

	ck_assert_ptr_nonnull(out);
	text_json_evbuffer(out, src, len);
	n = evbuffer_get_length(out);
	ck_assert_uint_lt(n, size);
	evbuffer_remove(out, buf, n);
	buf[n] = '\0';
	evbuffer_free(out);
	return buf;
}

START_TEST(test_json_ascii)
{
	char buf[256];

	ck_assert_str_eq(escape(buf, sizeof buf, "plain id-1", 10), "plain id-1");
	ck_assert_str_eq(escape(buf, sizeof buf, "a\"b\\c", 5), "a\\\"b\\\\c");
	/* NUL, every control byte and DEL. */
	ck_assert_str_eq(escape(buf, sizeof buf, "a\0b\n\r\t\x1b\x7f", 8),
	    "a\\u0000b\\u000a\\u000d\\u0009\\u001b\\u007f");
}
END_TEST

/* The control socket used to pass valid UTF-8 through raw, C1 controls and bidi overrides included. */
START_TEST(test_json_utf8)
{
	char buf[256];

	ck_assert_str_eq(escape(buf, sizeof buf, "caf\xc3\xa9", 5), "caf\\u00e9");
	ck_assert_str_eq(escape(buf, sizeof buf,
	                     "\xc2\x9b"
	                     "2J",
	                     4),
	    "\\u009b2J");
	ck_assert_str_eq(escape(buf, sizeof buf,
	                     "\xe2\x80\xae"
	                     "x",
	                     4),
	    "\\u202ex");
	ck_assert_str_eq(escape(buf, sizeof buf, "\xe2\x80\xa8", 3), "\\u2028");
	ck_assert_str_eq(escape(buf, sizeof buf, "\xf0\x9f\x98\x80", 4), "\\ud83d\\ude00");
	ck_assert_str_eq(escape(buf, sizeof buf, "\xf4\x8f\xbf\xbf", 4), "\\udbff\\udfff");
}
END_TEST

/* Bytes that start no valid UTF-8 sequence are \u00NN, one by one. */
START_TEST(test_json_invalid_utf8)
{
	char buf[256];

	ck_assert_str_eq(escape(buf, sizeof buf, "\xff", 1), "\\u00ff");
	ck_assert_str_eq(escape(buf, sizeof buf, "\xc3", 1), "\\u00c3"); /* cut */
	ck_assert_str_eq(escape(buf, sizeof buf, "\xc0\x80", 2),
	    "\\u00c0\\u0080"); /* overlong NUL */
	ck_assert_str_eq(escape(buf, sizeof buf, "\xe0\x80\xaf", 3), "\\u00e0\\u0080\\u00af");
	ck_assert_str_eq(escape(buf, sizeof buf, "\xed\xa0\x80", 3),
	    "\\u00ed\\u00a0\\u0080"); /* surrogate */
	ck_assert_str_eq(escape(buf, sizeof buf, "\xf4\x90\x80\x80", 4),
	    "\\u00f4\\u0090\\u0080\\u0080"); /* above U+10FFFF */
	ck_assert_str_eq(escape(buf, sizeof buf, "\xc3\"", 2), "\\u00c3\\\"");
}
END_TEST

/* A long value crosses the escaper's internal buffer: nothing lost or cut. */
START_TEST(test_json_long)
{
	char src[1000], buf[8000];
	const char *p;

	for (size_t i = 0; i < sizeof src; i++)
		src[i] = (char)(i % 3 == 0 ? '\n' : 'x');
	escape(buf, sizeof buf, src, sizeof src);
	p = buf;
	for (size_t i = 0; i < sizeof src; i++) {
		if (i % 3 == 0) {
			ck_assert_int_eq(strncmp(p, "\\u000a", 6), 0);
			p += 6;
		} else
			ck_assert_int_eq(*p++, 'x');
	}
	ck_assert_int_eq(*p, '\0');
}
END_TEST

START_TEST(test_hex)
{
	unsigned char out[4];

	ck_assert_int_eq(text_hex_digit('0'), 0);
	ck_assert_int_eq(text_hex_digit('f'), 15);
	ck_assert_int_eq(text_hex_digit('F'), 15);
	ck_assert_int_eq(text_hex_digit('g'), -1);
	ck_assert_int_eq(text_hex_digit('\0'), -1);
	ck_assert_int_eq(text_hex_decode("00ff7A", out, sizeof out), 3);
	ck_assert_uint_eq(out[0], 0x00);
	ck_assert_uint_eq(out[1], 0xff);
	ck_assert_uint_eq(out[2], 0x7a);
	ck_assert_int_eq(text_hex_decode("abc", out, sizeof out), -1);
	ck_assert_int_eq(text_hex_decode("0g", out, sizeof out), -1);
	ck_assert_int_eq(text_hex_decode("", out, sizeof out), -1);
	ck_assert_int_eq(text_hex_decode("0011223344", out, sizeof out), -1);
}
END_TEST

/* The suite of the text helper tests. */
static Suite *
text_suite(void)
{
	Suite *s = suite_create("text");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_json_ascii);
	tcase_add_test(tc, test_json_utf8);
	tcase_add_test(tc, test_json_invalid_utf8);
	tcase_add_test(tc, test_json_long);
	tcase_add_test(tc, test_hex);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(text_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
