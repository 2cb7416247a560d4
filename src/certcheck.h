/* certcheck.h: what a client certificate is checked for beyond mbedTLS (its CN as an identity), and its problems in words. */
#ifndef COAPS_CERTCHECK_H
#define COAPS_CERTCHECK_H

#include <stdbool.h>
#include <stddef.h>

#include <mbedtls/x509_crt.h>

/* What verification found wrong with a client's chain, in words (may quote a CN raw). */
struct cert_problem {
	char *text; /* NULL while nothing was found */
	size_t len; /* its bytes (a CN may hold NUL) */
};

/*
 * Finds the first CN of a certificate name: its raw bytes (which may hold
 * anything, NUL included) in *p and *len. False, with "?", if it has none.
 */
bool cert_name_cn(const mbedtls_x509_name *name, const unsigned char **p, size_t *len);
/*
 * Checks that the leaf's subject CN can be an identity: present, not empty,
 * no NUL, and not longer than an identity. Adds the problem to pr.
 */
bool cert_cn_ok(struct cert_problem *pr, const mbedtls_x509_crt *crt);
/*
 * For a certificate no trusted CA issued: if a CA in trusted has its
 * issuer's name, the issuer's signature is what is wrong; adds that problem.
 */
void cert_check_issuer(struct cert_problem *pr, const mbedtls_x509_crt *crt,
    const mbedtls_x509_crt *trusted);
/* Writes "client certificate rejected: " and the problem (else why) into buf; returns its length. */
size_t cert_problem_reason(const struct cert_problem *pr, const char *why, char *buf, size_t len);
/* Frees the problem's text. */
void cert_problem_free(struct cert_problem *pr);

#endif
