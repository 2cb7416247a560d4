/* check_config.c: unit tests of the configuration loader: values, defaults, every error. */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "configuration.h"
#include "log.h"
#include "text.h"

static char dir[] = "/tmp/check_config.XXXXXX";
static char path[512];
static char certs[512];
static char last_cause[2048]; /* the last error, for further checks */

static const char *const head =
    "listen = ( { address = \"::\"; port = 5684; } );\n"
    "backends = ( { name = \"default\"; address = \"127.0.0.1\"; port = 5683; } );\n";

/* Writes text to the test config file. */
static void
write_file(const char *file, const char *text)
{
	FILE *f = fopen(file, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

/* Loads text as a config; returns the snapshot or NULL with *cause. */
static struct proxy_config *
load_text(const char *text, char **cause)
{
	write_file(path, text);
	return config_load(path, cause);
}

/* Asserts that text fails to load with an error containing "FILE:want". */
static void
expect_error(const char *text, const char *want)
{
	char *cause = NULL, full[1024];
	struct proxy_config *cfg = load_text(text, &cause);

	snprintf(full, sizeof full, "%s:%s", path, want);
	ck_assert_msg(cfg == NULL, "loaded, but expected error %s", want);
	ck_assert_msg(cause != NULL && strstr(cause, full) != NULL, "got \"%s\", want \"%s\"",
	    cause ? cause : "(null)", full);
	snprintf(last_cause, sizeof last_cause, "%s", cause);
	free(cause);
}

/* Concatenates the common head and a tail into a static buffer. */
static const char *
with_head(const char *tail)
{
	static char buf[4096];

	snprintf(buf, sizeof buf, "%s%s", head, tail);
	return buf;
}

START_TEST(test_minimal_defaults)
{
	char *cause = NULL;
	struct proxy_config *cfg =
	    load_text(with_head("psk = ( { identity = \"a\"; key = \"k\"; } );\n"), &cause);

	ck_assert_msg(cfg != NULL, "%s", cause ? cause : "");
	ck_assert_uint_eq(cfg->n_listens, 1);
	ck_assert_uint_eq(cfg->listens[0].port, 5684);
	ck_assert_uint_eq(cfg->handshake_timeout_min, 8000);
	ck_assert_uint_eq(cfg->handshake_timeout_max, 60000);
	ck_assert_uint_eq(cfg->mtu, 1232);
	ck_assert_uint_eq(cfg->idle_timeout, 300);
	ck_assert_uint_eq(cfg->max_sessions, 10000);
	ck_assert_uint_eq(cfg->max_handshake_message, 880);
	ck_assert_int_eq(cfg->ciphersuites[0], 0xC0A8); /* PSK CCM-8 first */
	ck_assert_int_eq(cfg->ciphersuites[1], 0x00A8); /* then PSK GCM */
	ck_assert_int_eq(cfg->ciphersuites[2], 0);
	config_unref(cfg);
}
END_TEST

START_TEST(test_psk_text_and_hex)
{
	char *cause = NULL;
	struct proxy_config *cfg =
	    load_text(with_head(
	                  "psk = ( { identity = \"my_identity\"; key = \"secretPSK123\"; },\n"
	                  "        { identity = \"dev-42\"; key_hex = \"736563726574\"; } );\n"),
	        &cause);
	const struct psk_conf *p;

	ck_assert_msg(cfg != NULL, "%s", cause ? cause : "");
	p = config_psk_find(cfg, (const unsigned char *)"dev-42", 6);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(p->key_len, 6);
	ck_assert_mem_eq(p->key, "secret", 6);
	p = config_psk_find(cfg, (const unsigned char *)"my_identity", 11);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(p->key_len, 12);
	ck_assert_mem_eq(p->key, "secretPSK123", 12);
	ck_assert_ptr_null(config_psk_find(cfg, (const unsigned char *)"dev-4", 5));
	ck_assert_ptr_null(config_psk_find(cfg, (const unsigned char *)"nobody", 6));
	config_unref(cfg);
}
END_TEST

START_TEST(test_hex_decode)
{
	unsigned char out[4];

	ck_assert_int_eq(text_hex_decode("00ff7A", out, sizeof out), 3);
	ck_assert_uint_eq(out[1], 0xff);
	ck_assert_uint_eq(out[2], 0x7a);
	ck_assert_int_eq(text_hex_decode("abc", out, sizeof out), -1);        /* odd */
	ck_assert_int_eq(text_hex_decode("zz", out, sizeof out), -1);         /* not hex */
	ck_assert_int_eq(text_hex_decode("", out, sizeof out), -1);           /* empty */
	ck_assert_int_eq(text_hex_decode("0011223344", out, sizeof out), -1); /* too long */
}
END_TEST

START_TEST(test_psk_errors)
{
	expect_error(with_head("psk = ( { identity = \"a\"; key = \"k\"; },\n"
	                       "        { identity = \"a\"; key = \"j\"; } );\n"),
	    "4: psk[1].identity: duplicate identity \"a\"");
	expect_error(with_head("psk = ( { identity = \"a\"; key = \"\"; } );\n"),
	    "3: psk[0].key: must not be empty");
	expect_error(
	    with_head(
	        "psk = ( { identity = \"a\"; key = \"0123456789012345678901234567890123\"; } );\n"),
	    "3: psk[0].key: 34 bytes is longer than mbedTLS's PSK limit of 32 bytes");
	expect_error(with_head("psk = ( { identity = \"a\"; key_hex = \"0g\"; } );\n"),
	    "3: psk[0].key_hex: not valid hex");
	expect_error(with_head("psk = ( { identity = \"a\"; key_hex = \"abc\"; } );\n"),
	    "3: psk[0].key_hex: not valid hex");
	expect_error(with_head("psk = ( { identity = \"a\"; key = \"k\"; key_hex = \"00\"; } );\n"),
	    "3: psk[0]: has both key (text bytes) and key_hex (hex bytes)");
	expect_error(with_head("psk = ( { identity = \"a\"; } );\n"),
	    "3: psk[0]: needs key = \"text\"");
	expect_error(with_head("psk = ( { key = \"k\"; } );\n"),
	    "3: psk[0].identity: missing (required)");
	expect_error(with_head("psk = ( { identity = 5; key = \"k\"; } );\n"),
	    "3: psk[0].identity: must be a string");
	expect_error(with_head("psk = ( { identity = \"a\"; key = \"k\"; colour = \"red\"; } );\n"),
	    "3: psk[0].colour: unknown key");
	expect_error(with_head("psk = { identity = \"a\"; key = \"k\"; };\n"),
	    "3: psk: must be a list");
}
END_TEST

START_TEST(test_structure_errors)
{
	expect_error("backends = ( { name = \"d\"; address = \"127.0.0.1\"; port = 5683; } );\n"
	             "psk = ( { identity = \"a\"; key = \"k\"; } );\n",
	    "0: listen: missing: at least one");
	expect_error("listen = ( { address = \"::\"; port = 5684; } );\n"
	             "psk = ( { identity = \"a\"; key = \"k\"; } );\n",
	    "0: backends: missing: at least one");
	expect_error(with_head(""), "0: (top level): no credentials");
	expect_error(with_head("psk = ( { identity = \"a\"; key = \"k\"; } );\nfrobnicate = 1;\n"),
	    "4: frobnicate: unknown key");
	expect_error(with_head("psk = ( { identity = \"a\"; key = \"k\"; } )\n"
	                       "dtls = { mtu = ; };\n"),
	    "4: (syntax): syntax error");
	expect_error("listen = ( { address = \"10.0.0.300\"; port = 5684; } );\n",
	    "1: listen[0].address: \"10.0.0.300\" is not an IPv4 or IPv6 address");
	expect_error("listen = ( { address = \"::\"; port = 70000; } );\n",
	    "1: listen[0].port: 70000 is out of range (1 to 65535)");
	expect_error("listen = ( { address = \"::\"; port = \"5684\"; } );\n",
	    "1: listen[0].port: must be an integer");
	expect_error("listen = ( { address = \"::\"; } );\n",
	    "1: listen[0].port: missing (required)");
	expect_error(
	    "listen = ( { address = \"::\"; port = 1; }, { address = \"::\"; port = 1; } );\n",
	    "1: listen[1]: duplicate listener :: port 1");
	expect_error(
	    "listen = ( { address = \"::\"; port = 1; } );\n"
	    "backends = ( { name = \"d\"; address = \"no-such-host.invalid\"; port = 5683; } );\n",
	    "2: backends[0].address: cannot resolve \"no-such-host.invalid\"");
	expect_error("listen = ( { address = \"::\"; port = 1; } );\n"
	             "backends = ( { name = \"d\"; address = \"::1\"; port = 5683; },\n"
	             "             { name = \"d\"; address = \"::1\"; port = 5684; } );\n",
	    "3: backends[1].name: duplicate backend name \"d\"");
}
END_TEST

START_TEST(test_dtls_session_log)
{
	char *cause = NULL;
	struct proxy_config *cfg = load_text(
	    with_head(
	        "psk = ( { identity = \"a\"; key = \"k\"; } );\n"
	        "dtls = { ciphersuites = [ \"TLS-PSK-WITH-AES-128-GCM-SHA256\" ];\n"
	        "         handshake_timeout_min = 1000; handshake_timeout_max = 8000; mtu = 512;\n"
	        "         badmac_limit = 5; max_handshake_message = 1000; };\n"
	        "session = { idle_timeout = 30; max_sessions = 5; max_handshakes = 3;\n"
	        "            handshakes_per_source = 10; };\n"
	        "log = { level = \"debug\"; };\n"),
	    &cause);

	ck_assert_msg(cfg != NULL, "%s", cause ? cause : "");
	ck_assert_int_eq(cfg->ciphersuites[0], 0x00A8);
	ck_assert_int_eq(cfg->ciphersuites[1], 0);
	ck_assert_uint_eq(cfg->handshake_timeout_min, 1000);
	ck_assert_uint_eq(cfg->mtu, 512);
	ck_assert_uint_eq(cfg->badmac_limit, 5);
	ck_assert_uint_eq(cfg->max_handshake_message, 1000);
	ck_assert_uint_eq(cfg->idle_timeout, 30);
	ck_assert_uint_eq(cfg->max_sessions, 5);
	ck_assert_uint_eq(cfg->max_handshakes, 3);
	ck_assert_uint_eq(cfg->handshakes_per_source, 10);
	ck_assert_int_eq(cfg->log_level, LOG_LVL_DEBUG);
	config_unref(cfg);

	expect_error(with_head("psk = ( { identity = \"a\"; key = \"k\"; } );\n"
	                       "dtls = { ciphersuites = [ \"TLS-NO-SUCH-SUITE\" ]; };\n"),
	    "4: dtls.ciphersuites[0]: unknown cipher suite \"TLS-NO-SUCH-SUITE\"");
	expect_error(with_head("psk = ( { identity = \"a\"; key = \"k\"; } );\n"
	                       "dtls = { ciphersuites = [ ]; };\n"),
	    "4: dtls.ciphersuites: must name at least one cipher suite");
	expect_error(
	    with_head("psk = ( { identity = \"a\"; key = \"k\"; } );\n"
	              "dtls = { handshake_timeout_min = 5000; handshake_timeout_max = 1000; };\n"),
	    "4: dtls.handshake_timeout_max: 1000 ms is less than handshake_timeout_min (5000 ms)");
	expect_error(with_head("psk = ( { identity = \"a\"; key = \"k\"; } );\n"
	                       "dtls = { mtu = 100; };\n"),
	    "4: dtls.mtu: 100 is out of range (256 to 16384)");
	expect_error(with_head("psk = ( { identity = \"a\"; key = \"k\"; } );\n"
	                       "session = { idle_timeout = 0; };\n"),
	    "4: session.idle_timeout: 0 is out of range");
	expect_error(with_head("psk = ( { identity = \"a\"; key = \"k\"; } );\n"
	                       "log = { level = \"loud\"; };\n"),
	    "4: log.level: \"loud\" is not one of error, warning, info, debug");
	expect_error(with_head("psk = ( { identity = \"a\"; key = \"k\"; } );\n"
	                       "dtls = 5;\n"),
	    "4: dtls: must be a group");
}
END_TEST

/* Writes an x509 block with the given file names (relative to the certs dir) and loads it. */
static void
expect_x509_error(const char *cert, const char *key, const char *ca, const char *crl,
    const char *want)
{
	char text[8192], crl_line[1024] = "";

	if (crl != NULL)
		snprintf(crl_line, sizeof crl_line, " crl = \"%s/%s\";", certs, crl);
	snprintf(text, sizeof text,
	    "%sx509 = { certificate = \"%s/%s\"; private_key = \"%s/%s\";\n"
	    "  client_ca = \"%s/%s\";%s };\n",
	    head, certs, cert, certs, key, certs, ca, crl_line);
	expect_error(text, want);
}

START_TEST(test_x509)
{
	char text[8192], *cause = NULL;
	struct proxy_config *cfg;

	/* Relative paths are resolved against the config file's directory. */
	snprintf(text, sizeof text,
	    "%sx509 = { certificate = \"certs/server-cert.pem\"; private_key = "
	    "\"certs/server-key.pem\";\n"
	    "  client_ca = \"certs/ca-cert.pem\"; crl = \"certs/ca.crl\"; verify_client = "
	    "\"optional\"; };\n"
	    "psk = ( { identity = \"a\"; key = \"k\"; } );\n",
	    head);
	cfg = load_text(text, &cause);
	ck_assert_msg(cfg != NULL, "%s", cause ? cause : "");
	ck_assert_int_eq(cfg->x509->verify_client, VERIFY_CLIENT_OPTIONAL);
	ck_assert(cfg->x509->has_crl);
	/* Both kinds of credential: ECDHE-ECDSA CCM-8, PSK CCM-8, then the GCM variants. */
	ck_assert_int_eq(cfg->ciphersuites[0], 0xC0AE);
	ck_assert_int_eq(cfg->ciphersuites[1], 0xC0A8);
	ck_assert_int_eq(cfg->ciphersuites[2], 0xC02B);
	ck_assert_int_eq(cfg->ciphersuites[3], 0x00A8);
	ck_assert(cfg->x509->certificate_msg_len > 300 && cfg->x509->certificate_msg_len < 880);
	config_unref(cfg);

	expect_x509_error("server-cert.pem", "client-key.pem", "ca-cert.pem", NULL,
	    "3: x509.private_key: ");
	ck_assert_ptr_nonnull(
	    strstr(last_cause, "client-key.pem does not match the certificate in"));
	expect_x509_error("no-such.pem", "server-key.pem", "ca-cert.pem", NULL,
	    "3: x509.certificate: cannot read");
	expect_x509_error("server-cert.pem", "server-key.pem", "no-such-ca.pem", NULL,
	    "4: x509.client_ca: cannot read");
	expect_x509_error("server-cert.pem", "server-key.pem", "ca-cert.pem", "ca-key.pem",
	    "4: x509.crl: cannot load CRL");
	expect_x509_error("client-expired-cert.pem", "client-expired-key.pem", "ca-cert.pem", NULL,
	    "3: x509.certificate: ");
	ck_assert_ptr_nonnull(strstr(last_cause, "certificate (leaf) expired on 2020-12-31"));
	snprintf(text, sizeof text,
	    "%sx509 = { certificate = \"%s/server-cert.pem\"; private_key = \"%s/server-key.pem\"; "
	    "};\n",
	    head, certs, certs);
	expect_error(text, "3: x509.client_ca: missing: needed to verify client certificates");
	snprintf(text, sizeof text,
	    "%sx509 = { certificate = \"%s/server-cert.pem\"; private_key = "
	    "\"%s/server-key.pem\";\n"
	    "  verify_client = \"sometimes\"; };\n",
	    head, certs, certs);
	expect_error(text,
	    "4: x509.verify_client: \"sometimes\" is not one of required, optional, none");
}
END_TEST

/* Builds the suite. */
static Suite *
config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("load");

	tcase_add_test(tc, test_minimal_defaults);
	tcase_add_test(tc, test_psk_text_and_hex);
	tcase_add_test(tc, test_hex_decode);
	tcase_add_test(tc, test_psk_errors);
	tcase_add_test(tc, test_structure_errors);
	tcase_add_test(tc, test_dtls_session_log);
	tcase_add_test(tc, test_x509);
	tcase_set_timeout(tc, 30);
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
	snprintf(certs, sizeof certs, "%s/certs", dir);
	snprintf(cmd, sizeof cmd, "sh %s/certs/gen-certs.sh %s", srcdir ? srcdir : ".", certs);
	if (system(cmd) != 0)
		return 99;
	sr = srunner_create(config_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 99;
	return failed == 0 ? 0 : 1;
}
