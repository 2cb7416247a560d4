/* config_x509.c: x509 = { ... }: certificate chain, key, CAs, CRL, expiry warnings. */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libconfig.h>
#include <limits.h>
#include <netdb.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/error.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/version.h>

#include "config_get.h"
#include "config_file.h"
#include "config_x509.h"
#include "configuration.h"
#include "dtls.h"
#include "log.h"
#include "text.h"

static const char *const x509_keys[] = { "certificate", "private_key", "client_ca", "crl",
	"verify_client", "expiry_warning", NULL };

/* Formats an mbedTLS error code in words. */
static const char *
tls_strerror(int err, char *buf, size_t len)
{
	mbedtls_strerror(err, buf, len);
	return buf;
}

/* Seconds from now until t (negative: t has passed). */
static long long
x509_seconds_left(const mbedtls_x509_time *t)
{
	return (long long)dtls_x509_time_unix(t) - (long long)time(NULL);
}

/*
 * Warns about each certificate of chain (the server's, or the client_ca
 * certificates) that ends within days (0: never), and about one that has
 * ended.
 */
static void
warn_expiring(const char *path, bool server, const mbedtls_x509_crt *chain, uint32_t days)
{
	const char *what = server ? "server certificate" : "client_ca certificate";

	for (const mbedtls_x509_crt *c = chain; c != NULL && c->raw.len > 0; c = c->next) {
		long long left = x509_seconds_left(&c->valid_to);
		const char *role = !server ? "" : c == chain ? " (leaf)" : " (chain)";
		char name[256];

		if (left >= (long long)days * 86400 && left >= 0)
			continue;
		if (mbedtls_x509_dn_gets(name, sizeof name, &c->subject) < 0)
			snprintf(name, sizeof name, "(subject not printable)");
		if (left < 0)
			log_warnx("%s: the %s%s %s expired on %04d-%02d-%02d %02d:%02d:%02d UTC: "
			          "certificates it signed are refused",
			    path, what, role, name, c->valid_to.year, c->valid_to.mon,
			    c->valid_to.day, c->valid_to.hour, c->valid_to.min, c->valid_to.sec);
		else
			log_warnx(
			    "%s: the %s%s %s expires on %04d-%02d-%02d %02d:%02d:%02d UTC, in "
			    "%lld %s (x509.expiry_warning = %u days): renew it",
			    path, what, role, name, c->valid_to.year, c->valid_to.mon,
			    c->valid_to.day, c->valid_to.hour, c->valid_to.min, c->valid_to.sec,
			    left < 86400 ? (left + 1800) / 3600 : (left + 43200) / 86400,
			    left < 86400 ? "hours" : "days", days);
	}
}

/*
 * Warns about a CRL whose next update has passed (mbedTLS then refuses every
 * client certificate), or comes within a day (or days, when fewer; 0: never).
 */
static void
warn_crl_due(const char *path, const mbedtls_x509_crl *crl, uint32_t days)
{
	for (const mbedtls_x509_crl *c = crl; c != NULL && c->raw.len > 0; c = c->next) {
		const mbedtls_x509_time *t = &c->next_update;
		long long left;

		if (t->year == 0) /* no nextUpdate in it */
			continue;
		left = x509_seconds_left(t);
		if (left < 0)
			log_warnx(
			    "%s: the CRL's next update was due on %04d-%02d-%02d %02d:%02d:%02d "
			    "UTC: mbedTLS refuses every client certificate checked against it "
			    "(CRL expired); install a new CRL",
			    path, t->year, t->mon, t->day, t->hour, t->min, t->sec);
		else if (left < 86400 && left < (long long)days * 86400)
			log_warnx(
			    "%s: the CRL's next update is due on %04d-%02d-%02d %02d:%02d:%02d "
			    "UTC, in %lld hours: after that mbedTLS refuses every client "
			    "certificate checked against it; install a new CRL before",
			    path, t->year, t->mon, t->day, t->hour, t->min, t->sec,
			    (left + 1800) / 3600);
	}
}

/* Parses x509 = { ... }: certificate chain, key, CAs, CRL, client policy. */
int
load_x509(struct loader *ld, struct proxy_config *cfg)
{
	config_setting_t *g, *s;
	struct x509_conf *x;
	const char *cert, *key, *ca, *crl, *verify;
	uint32_t warn_days = CONFIG_DEFAULT_X509_EXPIRY_WARNING;
	char err[160];
	struct stat st;
	int r;

	if (get_group(ld, config_root_setting(&ld->lc), "x509", &g) < 0)
		return -1;
	if (g == NULL)
		return 0;
	if (check_keys(ld, g, x509_keys) < 0 || get_string(ld, g, "certificate", true, &cert) < 0 ||
	    get_string(ld, g, "private_key", true, &key) < 0 ||
	    get_string(ld, g, "client_ca", false, &ca) < 0 ||
	    get_string(ld, g, "crl", false, &crl) < 0 ||
	    get_string(ld, g, "verify_client", false, &verify) < 0 ||
	    get_uint(ld, g, "expiry_warning", 0, 3650, &warn_days) < 0)
		return -1;
	x = cfg->x509 = calloc(1, sizeof *x);
	if (x == NULL)
		return load_fail(ld, g, NULL, "out of memory");
	mbedtls_x509_crt_init(&x->certificate);
	mbedtls_pk_init(&x->private_key);
	mbedtls_x509_crt_init(&x->client_ca);
	mbedtls_x509_crl_init(&x->crl);

	if (verify == NULL)
		verify = CONFIG_DEFAULT_X509_VERIFY_CLIENT;
	if (strcmp(verify, "required") == 0)
		x->verify_client = VERIFY_CLIENT_REQUIRED;
	else if (strcmp(verify, "optional") == 0)
		x->verify_client = VERIFY_CLIENT_OPTIONAL;
	else if (strcmp(verify, "none") == 0)
		x->verify_client = VERIFY_CLIENT_NONE;
	else
		return load_fail(ld, config_setting_get_member(g, "verify_client"), NULL,
		    "\"%s\" is not one of required, optional, none", verify);

	resolve_path(ld, cert, &x->certificate_path);
	s = config_setting_get_member(g, "certificate");
	if (check_regular_file(ld, s, x->certificate_path, false) < 0)
		return -1;
	r = mbedtls_x509_crt_parse_file(&x->certificate, x->certificate_path);
	if (r != 0)
		return load_fail(ld, s, NULL, "cannot load %s: %s", x->certificate_path,
		    r > 0 ? "some certificates in it do not parse"
		          : tls_strerror(r, err, sizeof err));
	for (const mbedtls_x509_crt *c = &x->certificate; c != NULL; c = c->next) {
		if (mbedtls_x509_time_is_past(&c->valid_to))
			return load_fail(ld, s, NULL,
			    "%s: certificate %s expired on %04d-%02d-%02d", x->certificate_path,
			    c == &x->certificate ? "(leaf)" : "(chain)", c->valid_to.year,
			    c->valid_to.mon, c->valid_to.day);
		x->certificate_msg_len += 3 + c->raw.len;
	}
	x->certificate_msg_len += 12 + 3; /* DTLS handshake header, list length */
	warn_expiring(x->certificate_path, true, &x->certificate, warn_days);

	resolve_path(ld, key, &x->private_key_path);
	s = config_setting_get_member(g, "private_key");
	if (check_regular_file(ld, s, x->private_key_path, true) < 0)
		return -1;
	r = dtls_key_parse_file(&x->private_key, x->private_key_path);
	if (r != 0)
		return load_fail(ld, s, NULL, "cannot load %s: %s", x->private_key_path,
		    tls_strerror(r, err, sizeof err));
	if (!dtls_key_matches(&x->certificate, &x->private_key))
		return load_fail(ld, s, NULL, "%s does not match the certificate in %s",
		    x->private_key_path, x->certificate_path);
	if (!mbedtls_pk_can_do(&x->private_key, MBEDTLS_PK_ECDSA))
		log_warnx("%s: the server key is not an EC key: ECDHE-ECDSA cipher suites (what "
		          "Thread devices use) cannot work with it",
		    x->private_key_path);
	else
		dtls_key_prepare(&x->private_key);

	if (ca != NULL) {
		resolve_path(ld, ca, &x->client_ca_path);
		s = config_setting_get_member(g, "client_ca");
		if (stat(x->client_ca_path, &st) != 0)
			return load_fail(ld, s, NULL, "cannot read %s: %s", x->client_ca_path,
			    strerror(errno));
		if (check_not_world_writable(ld, s, x->client_ca_path, &st) < 0 ||
		    (S_ISDIR(st.st_mode) && check_ca_dir(ld, s, x->client_ca_path) < 0))
			return -1;
		if (S_ISDIR(st.st_mode))
			r = mbedtls_x509_crt_parse_path(&x->client_ca, x->client_ca_path);
		else if (S_ISREG(st.st_mode))
			r = mbedtls_x509_crt_parse_file(&x->client_ca, x->client_ca_path);
		else
			return load_fail(ld, s, NULL, "%s is neither a file nor a directory",
			    x->client_ca_path);
		if (r < 0 || x->client_ca.raw.len == 0)
			return load_fail(ld, s, NULL, "cannot load CA certificates from %s: %s",
			    x->client_ca_path,
			    r < 0 ? tls_strerror(r, err, sizeof err) : "no certificate in it");
		if (r > 0)
			log_warnx("%s: %d certificates could not be parsed and are ignored",
			    x->client_ca_path, r);
		warn_expiring(x->client_ca_path, false, &x->client_ca, warn_days);
		x->has_client_ca = true;
	} else if (x->verify_client != VERIFY_CLIENT_NONE)
		return load_fail(ld, g, "client_ca",
		    "missing: needed to verify client certificates (or set verify_client = "
		    "\"none\")");

	if (crl != NULL) {
		resolve_path(ld, crl, &x->crl_path);
		s = config_setting_get_member(g, "crl");
		if (check_regular_file(ld, s, x->crl_path, false) < 0)
			return -1;
		r = mbedtls_x509_crl_parse_file(&x->crl, x->crl_path);
		if (r != 0)
			return load_fail(ld, s, NULL, "cannot load CRL %s: %s", x->crl_path,
			    tls_strerror(r, err, sizeof err));
		warn_crl_due(x->crl_path, &x->crl, warn_days);
		x->has_crl = true;
	}
	return 0;
}
