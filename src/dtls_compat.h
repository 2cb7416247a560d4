/*
 * dtls_compat.h: the differences between mbedTLS 2.28 and 3.6 that dtls.c
 * works around. Included by dtls.c only: no other file may touch mbedTLS
 * internals or version-dependent calls.
 */
#ifndef COAPS_DTLS_COMPAT_H
#define COAPS_DTLS_COMPAT_H

#include <mbedtls/version.h>

#if MBEDTLS_VERSION_NUMBER >= 0x03000000
#define DTLS_MBEDTLS3 1
#else
#define DTLS_MBEDTLS3 0
#endif

#if DTLS_MBEDTLS3
#include <psa/crypto.h>
/* 3.6.3 renamed badmac_seen; for DTLS it still counts records with a bad MAC. */
#if MBEDTLS_VERSION_NUMBER >= 0x03060300
#define DTLS_BADMAC_SEEN MBEDTLS_PRIVATE(badmac_seen_or_in_hsfraglen)
#else
#define DTLS_BADMAC_SEEN MBEDTLS_PRIVATE(badmac_seen)
#endif
#else
#include <mbedtls/ssl_internal.h>
/* 2.28 has no private fields: MBEDTLS_PRIVATE(x) names the plain field there. */
#define MBEDTLS_PRIVATE(member) member
#define DTLS_BADMAC_SEEN badmac_seen
/* Error codes 3.x merged into others (see dtls_failure_class). */
#define MBEDTLS_ERR_SSL_BAD_PROTOCOL_VERSION MBEDTLS_ERR_SSL_BAD_HS_PROTOCOL_VERSION
#endif

#endif
