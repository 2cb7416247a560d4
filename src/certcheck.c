/* certcheck.c: what a client certificate is checked for beyond mbedTLS (its CN as an identity), and its problems in words. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/oid.h>

#include "certcheck.h"
#include "configuration.h"

/*
 * Finds the first CN of a certificate name: its raw bytes (which may hold
 * anything, NUL included) in *p and *len. False, with "?", if it has none.
 */
bool
cert_name_cn(const mbedtls_x509_name *name, const unsigned char **p, size_t *len)
{
	for (; name != NULL; name = name->next) {
		if (MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &name->oid) == 0) {
			*p = name->val.p;
			*len = name->val.len;
			return true;
		}
	}
	*p = (const unsigned char *)"?";
	*len = 1;
	return false;
}

/* Appends n raw bytes to the problem (cut past 1 KB). */
static void
problem_append(struct cert_problem *pr, const void *bytes, size_t n)
{
	char *p;

	if (pr->len + n > 1024)
		n = pr->len < 1024 ? 1024 - pr->len : 0;
	p = realloc(pr->text, pr->len + n + 1);
	if (p == NULL)
		return;
	memcpy(p + pr->len, bytes, n);
	pr->text = p;
	pr->len += n;
	p[pr->len] = '\0';
}

/* Appends a C string to the problem. */
static void
problem_text(struct cert_problem *pr, const char *text)
{
	problem_append(pr, text, strlen(text));
}

/* Starts a new problem (after "; " if there is one already) with text. */
static void
problem_start(struct cert_problem *pr, const char *text)
{
	if (pr->len > 0)
		problem_text(pr, "; ");
	problem_text(pr, text);
}

/*
 * Checks that the leaf's subject CN can be an identity: present, not empty,
 * no NUL (a check that stops at NUL would see another name), and whole in
 * the identity buffer (a cut would let two CNs collide). Adds the problem.
 */
bool
cert_cn_ok(struct cert_problem *pr, const mbedtls_x509_crt *crt)
{
	const unsigned char *cn;
	size_t n;
	char words[96];

	if (!cert_name_cn(&crt->subject, &cn, &n)) {
		problem_start(pr, "the subject has no CN");
		return false;
	}
	if (n == 0) {
		problem_start(pr, "the subject CN is empty");
		return false;
	}
	if (memchr(cn, '\0', n) != NULL) {
		problem_start(pr, "the subject CN holds a NUL byte ('");
		problem_append(pr, cn, n);
		problem_text(pr, "')");
		return false;
	}
	if (n > CONFIG_PSK_IDENTITY_MAX) {
		snprintf(words, sizeof words, "the subject CN is %zu bytes (at most %d)", n,
		    CONFIG_PSK_IDENTITY_MAX);
		problem_start(pr, words);
		return false;
	}
	return true;
}

/*
 * For a certificate no trusted CA issued: if a trusted CA has its issuer's
 * name, the issuer's signature is what is wrong; adds that problem.
 */
void
cert_check_issuer(struct cert_problem *pr, const mbedtls_x509_crt *crt,
    const mbedtls_x509_crt *trusted)
{
	const unsigned char *subject, *issuer;
	size_t subject_len, issuer_len;

	cert_name_cn(&crt->subject, &subject, &subject_len);
	cert_name_cn(&crt->issuer, &issuer, &issuer_len);
	for (const mbedtls_x509_crt *ca = trusted; ca != NULL; ca = ca->next) {
		if (ca->subject_raw.len == crt->issuer_raw.len &&
		    memcmp(ca->subject_raw.p, crt->issuer_raw.p, ca->subject_raw.len) == 0) {
			problem_start(pr, "bad signature (the issuer name '");
			problem_append(pr, issuer, issuer_len);
			problem_text(pr, "' is a trusted CA, but its signature on '");
			problem_append(pr, subject, subject_len);
			problem_text(pr, "' does not verify)");
			break;
		}
	}
}

/* Writes "client certificate rejected: " and the problem into buf; returns its length. */
size_t
cert_problem_reason(const struct cert_problem *pr, const char *why, char *buf, size_t len)
{
	int o = snprintf(buf, len, "client certificate rejected: ");
	size_t n;

	if (o < 0 || (size_t)o >= len)
		return strlen(buf);
	if (pr->text == NULL) {
		snprintf(buf + o, len - (size_t)o, "%s", why);
		return strlen(buf);
	}
	n = pr->len < len - (size_t)o - 1 ? pr->len : len - (size_t)o - 1;
	memcpy(buf + o, pr->text, n);
	buf[(size_t)o + n] = '\0';
	return (size_t)o + n;
}

/* Frees the problem's text. */
void
cert_problem_free(struct cert_problem *pr)
{
	free(pr->text);
	pr->text = NULL;
	pr->len = 0;
}
