/* check_log.c: unit tests for the log renderers: every value a peer chose is escaped, one line per event. */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/* A reason that tries to end its line and start a forged one. */
static const char forged[] = "bad \" x\n2031-01-01T00:00:00.000Z info event=handshake-ok "
                             "identity=\"admin-1\"\r\\";

START_TEST(test_escape)
{
	char buf[64];

	ck_assert_str_eq(log_escape(buf, sizeof buf, "a\"b\\c\n\x7f\x80", 8),
	    "a\\\"b\\\\c\\x0a\\x7f\\x80");
	ck_assert_str_eq(log_escape(buf, sizeof buf, "a\0b", 3), "a\\x00b");
	/* Cut with a marker, never in the middle of an escape. */
	ck_assert_str_eq(log_escape(buf, 10, "\n\n\n\n", 4), "\\x0a...");
	ck_assert_str_eq(log_clean(buf, sizeof buf, "a\"b\nc\x1b"), "a\"b\\x0ac\\x1b");
}
END_TEST

START_TEST(test_text_reason_escaped)
{
	struct log_event ev = LOG_EVENT_INIT;
	char line[4096];

	ev.event = "handshake-failed";
	ev.session = 0x1234;
	ev.reason = forged;
	log_event_text(&ev, line, sizeof line);
	ck_assert_str_eq(line, "event=handshake-failed session=00001234 reason=\"bad \\\" x\\x0a"
	                       "2031-01-01T00:00:00.000Z info event=handshake-ok "
	                       "identity=\\\"admin-1\\\"\\x0d\\\\\"");
}
END_TEST

START_TEST(test_text_bytes_with_nul)
{
	struct log_event ev = LOG_EVENT_INIT;
	char line[4096];

	ev.event = "client-cert";
	ev.auth = "x509";
	ev.identity = "admin-1\0.evil";
	ev.identity_len = 13;
	ev.reason = "cn 'a\0b'";
	ev.reason_len = 8;
	log_event_add_bytes(&ev, "subject", "admin-1\0.evil", 13);
	log_event_add(&ev, "word", "two words\n", false);
	log_event_text(&ev, line, sizeof line);
	ck_assert_str_eq(line, "event=client-cert auth=x509 identity=\"admin-1\\x00.evil\" "
	                       "subject=\"admin-1\\x00.evil\" word=two\\x20words\\x0a "
	                       "reason=\"cn 'a\\x00b'\"");
}
END_TEST

START_TEST(test_text_full_line)
{
	struct log_event ev = LOG_EVENT_INIT;
	static char big[3000];
	char line[256];
	size_t n;

	memset(big, '\n', sizeof big - 1);
	ev.event = "x";
	ev.identity = big;
	ev.identity_len = sizeof big - 1;
	ev.reason = big;
	log_event_text(&ev, line, sizeof line);
	n = strlen(line);
	ck_assert_uint_lt(n, sizeof line);
	/* The value that did not fit ends with the marker and its quote. */
	ck_assert_str_eq(line + n - 4, "...\"");
	ck_assert_ptr_null(strchr(line, '\n'));
}
END_TEST

START_TEST(test_json)
{
	struct log_event ev = LOG_EVENT_INIT;
	char line[4096];

	ev.event = "coap-dropped";
	ev.auth = "psk";
	ev.identity = "a\0\"";
	ev.identity_len = 3;
	ev.reason = forged;
	log_event_add(&ev, "answer", "none", false);
	log_event_add(&ev, "depth", "0", false);
	log_event_add(&ev, "replaces", "0030fa46", false);
	log_event_add(&ev, "n", "-12", false);
	log_event_json_line(LOG_LVL_INFO, &ev, line, sizeof line);
	ck_assert_ptr_nonnull(strstr(line, ",\"auth\":\"psk\",\"identity\":\"a\\u0000\\\"\","));
	ck_assert_ptr_nonnull(strstr(line, "\"reason\":\"bad \\\" x\\u000a2031"));
	ck_assert_ptr_nonnull(strstr(line, "\\u000d\\\\\","));
	/* Words that are not JSON numbers are strings: the line stays valid JSON. */
	ck_assert_ptr_nonnull(strstr(line, ",\"answer\":\"none\",\"depth\":0,"
	                                   "\"replaces\":\"0030fa46\",\"n\":-12}\n"));
	ck_assert_ptr_eq(strchr(line, '\n'), line + strlen(line) - 1);
}
END_TEST

/* JSON log values: valid UTF-8 as its code points, other bytes as \u00NN, all ASCII. */
START_TEST(test_json_utf8)
{
	struct log_event ev = LOG_EVENT_INIT;
	char line[1024];

	ev.event = "handshake-failed";
	ev.auth = "psk";
	/* é, U+009B (a C1 control: CSI), U+202E (bidi override), U+1F600, then 0xff and a cut sequence. */
	ev.identity = "\xc3\xa9\xc2\x9b\xe2\x80\xae\xf0\x9f\x98\x80\xff\xc3";
	ev.identity_len = 13;
	log_event_json_line(LOG_LVL_INFO, &ev, line, sizeof line);
	ck_assert_ptr_nonnull(
	    strstr(line, "\"identity\":\"\\u00e9\\u009b\\u202e\\ud83d\\ude00\\u00ff\\u00c3\""));
	for (const char *p = line; *p != '\0'; p++)
		ck_assert_int_lt((unsigned char)*p, 0x80);
}
END_TEST

START_TEST(test_json_full_line)
{
	struct log_event ev = LOG_EVENT_INIT;
	static char big[3000];
	char line[200];
	size_t n;

	memset(big, 1, sizeof big - 1);
	ev.event = "x";
	ev.reason = big;
	log_event_json_line(LOG_LVL_INFO, &ev, line, sizeof line);
	n = strlen(line);
	ck_assert_uint_lt(n, sizeof line);
	ck_assert_str_eq(line + n - 6, "...\"}\n");
}
END_TEST

/* Runs fn with stderr going to a file; returns what was written (malloc'd). */
static char *
capture_stderr(void (*fn)(void))
{
	char path[] = "/tmp/check_log.XXXXXX";
	int fd = mkstemp(path), saved = dup(2);
	char *out = calloc(1, 65536);
	ssize_t n;

	ck_assert_int_ge(fd, 0);
	fflush(stderr);
	dup2(fd, 2);
	fn();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	n = pread(fd, out, 65535, 0);
	ck_assert_int_gt(n, 0);
	close(fd);
	unlink(path);
	return out;
}

/* Writes one hostile event and one hostile plain message to stderr. */
static void
write_hostile(void)
{
	struct log_event ev = LOG_EVENT_INIT;

	ev.event = "handshake-failed";
	ev.reason = forged;
	log_event(LOG_LVL_INFO, &ev);
	log_info("path %s", "/a\nfake line");
}

START_TEST(test_stderr_one_line_each)
{
	char *out;
	size_t lines = 0;

	unsetenv("JOURNAL_STREAM");
	log_init();
	out = capture_stderr(write_hostile);
	for (char *p = out; *p != '\0'; p++) {
		if (*p == '\n')
			lines++;
		else
			ck_assert_msg(*p >= 0x20 && *p < 0x7f, "raw byte 0x%02x in %s", *p, out);
	}
	ck_assert_uint_eq(lines, 2);
	ck_assert_ptr_nonnull(
	    strstr(out, " info event=handshake-failed reason=\"bad \\\" x\\x0a2031"));
	ck_assert_ptr_nonnull(strstr(out, " info path /a\\x0afake line\n"));
	free(out);
}
END_TEST

static Suite *
log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_escape);
	tcase_add_test(tc, test_text_reason_escaped);
	tcase_add_test(tc, test_text_bytes_with_nul);
	tcase_add_test(tc, test_text_full_line);
	tcase_add_test(tc, test_json);
	tcase_add_test(tc, test_json_utf8);
	tcase_add_test(tc, test_json_full_line);
	tcase_add_test(tc, test_stderr_one_line_each);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(log_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
