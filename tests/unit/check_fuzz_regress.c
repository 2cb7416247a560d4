/* check_fuzz_regress.c: replays the inputs that the fuzz targets found trouble with. */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "configuration.h"
#include "log.h"

const char *__lsan_default_suppressions(void);

static char dir[] = "/tmp/check_fuzz_regress.XXXXXX";
static char path[512];

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
	write_bytes(crash_private_key_dir, sizeof crash_private_key_dir - 1);
	expect_failure("x509.private_key");
}
END_TEST

/* The same for the other files that config.c gives mbedTLS by path: all directories here. */
START_TEST(test_file_paths_directory)
{
	static const char *const texts[] = {
		"x509 = { certificate = \"certs\"; private_key = \"certs/server-key.pem\";"
		" verify_client = \"none\"; };\n",
		"x509 = { certificate = \"certs/server-cert.pem\"; private_key = \"certs/server-key.pem\";"
		" client_ca = \"certs/ca-cert.pem\"; crl = \"certs\"; };\n",
	};
	static const char *const want[] = { "x509.certificate", "x509.crl" };
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

/* The test suite. */
static Suite *
fuzz_regress_suite(void)
{
	Suite *s = suite_create("fuzz_regress");
	TCase *tc = tcase_create("config");

	tcase_add_test(tc, test_private_key_directory);
	tcase_add_loop_test(tc, test_file_paths_directory, 0, 2);
	tcase_add_test(tc, test_libconfig_syntax_leak);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	const char *srcdir = getenv("srcdir");
	char cmd[1024];
	SRunner *sr;
	int failed;

	log_init();
	log_set_level(LOG_LVL_ERROR);
	if (mkdtemp(dir) == NULL)
		return 99;
	snprintf(path, sizeof path, "%s/test.conf", dir);
	snprintf(cmd, sizeof cmd, "sh %s/certs/gen-certs.sh %s/certs", srcdir ? srcdir : ".", dir);
	if (system(cmd) != 0)
		return 99;
	sr = srunner_create(fuzz_regress_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 99;
	return failed == 0 ? 0 : 1;
}
