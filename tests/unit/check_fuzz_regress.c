/* check_fuzz_regress.c: replays the inputs that the fuzz targets found trouble with. */
#include "config.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "configuration.h"
#include "log.h"
#include "session.h"

#include "../fuzz/fuzz_proxy.h"

const char *__lsan_default_suppressions(void);

static char dir[] = "/tmp/check_fuzz_regress.XXXXXX";
static char path[512];
static const char *srcdir = ".";

/* Reads a file of the source tree into a malloc'd buffer; its size in *len. */
static uint8_t *
read_source(const char *name, size_t *len)
{
	char file[1024];
	uint8_t *buf;
	FILE *f;
	long n;

	snprintf(file, sizeof file, "%s/%s", srcdir, name);
	f = fopen(file, "rb");
	ck_assert_msg(f != NULL, "cannot open %s", file);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	ck_assert_int_ge(n, 1);
	rewind(f);
	buf = malloc((size_t)n);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/*
 * LeakSanitizer (--enable-asan): Debian 12's libconfig 1.5 leaks a string
 * token on some syntax errors (libconfig issue #142, fixed upstream in 1.7);
 * not ours, and test_libconfig_syntax_leak checks that nothing else leaks.
 */
const char *
__lsan_default_suppressions(void)
{
	return "leak:libconfig.so\n";
}

/* Writes len bytes of data to the test config file. */
static void
write_bytes(const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

/* Loads the test config file; asserts that it fails with a cause that names want. */
static void
expect_failure(const char *want)
{
	char *cause = NULL;
	struct proxy_config *cfg = config_load(path, &cause);

	if (cfg != NULL) {
		config_unref(cfg);
		ck_abort_msg("loaded, but expected an error naming %s", want);
	}
	ck_assert_msg(cause != NULL && strstr(cause, want) != NULL, "got \"%s\", want \"%s\"",
	    cause != NULL ? cause : "(null)", want);
	free(cause);
}

/*
 * fuzz_config crash (ASan allocation-size-too-big in mbedtls_pk_load_file):
 * a NUL inside a string ends it for libconfig, so private_key named the
 * directory "certs". config.c handed it to mbedtls_pk_parse_keyfile, whose
 * fopen of a directory works and whose fseek(SEEK_END)/ftell then gives
 * LLONG_MAX on ext4: calloc(2^63). Without ASan the load fails, but with
 * "PK - Memory allocation failed"; under ASan the process aborts.
 */
static const char crash_private_key_dir[] =
    "listen = ( { address = \"0.0.0.0\"; port = 5684; } );\n"
    "backends = ( { name = \"a\"; address = \"127.0.0.1\"; port = 5683; } );\n"
    "x509 = { certificate = \"certs/server-int-chain.pem\"; private_key = \"certs\0server-int-"
    "key.pem\";\n"
    "         client_ca = \"certs\"; verify_client = \"optional\"; };\n";

START_TEST(test_private_key_directory)
{
	/* A file with a NUL byte is now refused before libconfig reads it. */
	write_bytes(crash_private_key_dir, sizeof crash_private_key_dir - 1);
	expect_failure("contains a NUL byte");
}
END_TEST

/* The same for the other files that config.c gives mbedTLS by path: all directories here. */
START_TEST(test_file_paths_directory)
{
	static const char *const texts[] = {
		"x509 = { certificate = \"certs\"; private_key = \"certs/server-key.pem\";"
		" verify_client = \"none\"; };\n",
		"x509 = { certificate = \"certs/server-cert.pem\"; private_key = "
		"\"certs/server-key.pem\";"
		" client_ca = \"certs/ca-cert.pem\"; crl = \"certs\"; };\n",
		"x509 = { certificate = \"certs/server-int-chain.pem\"; private_key = \"certs\";"
		" client_ca = \"certs\"; verify_client = \"optional\"; };\n",
	};
	static const char *const want[] = { "x509.certificate", "x509.crl", "x509.private_key" };
	char text[1024];

	snprintf(text, sizeof text,
	    "listen = ( { address = \"::\"; port = 5684; } );\n"
	    "backends = ( { name = \"a\"; address = \"127.0.0.1\"; port = 5683; } );\n%s",
	    texts[_i]);
	write_bytes(text, strlen(text));
	expect_failure(want[_i]);
}
END_TEST

/* fuzz_config leak (in libconfig, suppressed above): a string where a ';' belongs. */
static const char libconfig_syntax_leak[] =
    "listen = ( { address = \"::1\"; pds = ( { name = \"a\"; address = \"127.0.0.1\"; port = "
    "5683; } );\n"
    "psk = ( { identity = \"dev-42\"; key_hex = \"736563726574\"; } );\n"
    "routes =3726574\"; } );\n"
    "routes = ( { path_prefix = \"/x\"; backend = \"nope\"; } );\n";

START_TEST(test_libconfig_syntax_leak)
{
	write_bytes(libconfig_syntax_leak, sizeof libconfig_syntax_leak - 1);
	expect_failure("syntax error");
}
END_TEST

/*
 * fuzz_datagram crash (ASan heap-use-after-free in dtls_recv_cb): a datagram
 * that reached a handshaking session after its retransmission timer had
 * expired was left unread (mbedTLS resent its flight instead) and
 * session_feed kept link.rx pointing at it. The timer callback then drove
 * mbedTLS, which read that pointer: freed memory here; in the daemon the
 * listener's static buffer, by then holding some other peer's datagram.
 */
START_TEST(test_datagram_stale_rx_replay)
{
	size_t len;
	uint8_t *input = read_source("tests/unit/fuzz-inputs/datagram-stale-rx.bin", &len);

	fuzz_proxy_run(input, len);
	free(input);
}
END_TEST

/* The same without AddressSanitizer: a later datagram must never be read as the stale one. */
START_TEST(test_datagram_stale_rx_foreign)
{
	/* A plaintext fatal alert (handshake_failure), epoch 0, a fresh sequence number. */
	static const uint8_t alert[15] = { 0x15, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 2, 2,
		0x28 };
	const struct proxy_stats *st = stats_get();
	uint64_t alerts = st->handshakes_failed_by[HS_FAIL_PEER_ALERT];
	size_t len, off = 0;
	uint8_t *seed = read_source("tests/fuzz/corpus/datagram/psk-request-502.bin", &len);
	uint8_t buf[sizeof alert];

	fuzz_proxy_begin();
	/* The recorded ClientHello, then the one with the cookie: a handshake in progress. */
	for (int i = 0; i < 2; i++) {
		size_t n;

		ck_assert_uint_ge(len - off, 3);
		n = (size_t)seed[off + 1] << 8 | seed[off + 2];
		ck_assert_uint_ge(len - off - 3, n);
		fuzz_proxy_feed(seed[off] & FUZZ_CTL_PEER_MASK, seed + off + 3, n);
		off += 3 + n;
	}
	free(seed);
	ck_assert_uint_eq(session_handshake_count(), 1);
	/* Past the retransmission timeout: the next datagram makes mbedTLS resend, unread. */
	fuzz_proxy_advance(2000);
	memset(buf, 0xee, sizeof buf);
	fuzz_proxy_feed(0, buf, sizeof buf);
	/* The listener's buffer now holds another datagram; then the timer fires. */
	memcpy(buf, alert, sizeof buf);
	fuzz_proxy_fire_timers();
	ck_assert_msg(st->handshakes_failed_by[HS_FAIL_PEER_ALERT] == alerts,
	    "the session read a datagram that arrived before the timer fired");
	ck_assert_uint_eq(session_handshake_count(), 1);
	fuzz_proxy_end();
}
END_TEST

/* The test suite. */
static Suite *
fuzz_regress_suite(void)
{
	Suite *s = suite_create("fuzz_regress");
	TCase *tc = tcase_create("config");

	tcase_add_test(tc, test_private_key_directory);
	tcase_add_loop_test(tc, test_file_paths_directory, 0, 3);
	tcase_add_test(tc, test_libconfig_syntax_leak);
	suite_add_tcase(s, tc);
	tc = tcase_create("datagram");
	tcase_add_test(tc, test_datagram_stale_rx_replay);
	tcase_add_test(tc, test_datagram_stale_rx_foreign);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	char cmd[1024];
	SRunner *sr;
	int failed;

	if (getenv("srcdir") != NULL)
		srcdir = getenv("srcdir");
	if (mkdtemp(dir) == NULL)
		return 99;
	snprintf(path, sizeof path, "%s/test.conf", dir);
	snprintf(cmd, sizeof cmd, "sh %s/certs/gen-certs.sh %s/certs", srcdir, dir);
	if (system(cmd) != 0)
		return 99;
	/* The fuzz harness's in-process proxy, with these certificates. */
	snprintf(cmd, sizeof cmd, "%s/certs", dir);
	setenv("COAPS_FUZZ_CERTS", cmd, 1);
	fuzz_proxy_init(); /* logs at error level only, like the rest of this test */
	sr = srunner_create(fuzz_regress_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 99;
	return failed == 0 ? 0 : 1;
}
