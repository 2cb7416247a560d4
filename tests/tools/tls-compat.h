/*
 * tls-compat.h: the mbedTLS 2.28 / 3.6 differences the test clients, the
 * bench and the fuzz clients meet (the daemon keeps its own in src/dtls.c).
 */
#ifndef TESTS_TLS_COMPAT_H
#define TESTS_TLS_COMPAT_H

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/version.h>

#if MBEDTLS_VERSION_NUMBER >= 0x03000000
#include <psa/crypto.h>
#define TC_MBEDTLS3 1
#else
#define TC_MBEDTLS3 0
#endif

/* Starts PSA crypto where mbedTLS 3.x needs it; 0 or -1. Once, before any TLS work. */
static inline int
tc_crypto_init(void)
{
#if TC_MBEDTLS3 && defined(MBEDTLS_PSA_CRYPTO_C)
	return psa_crypto_init() == PSA_SUCCESS ? 0 : -1;
#else
	return 0;
#endif
}

#if TC_MBEDTLS3
/* An RNG for key parsing and checks (3.x blinds with it); seeded on first use. */
static inline int
tc_key_rng(void *ctx, unsigned char *out, size_t len)
{
	static mbedtls_entropy_context entropy;
	static mbedtls_ctr_drbg_context drbg;
	static int seeded;

	(void)ctx;
	if (!seeded) {
		mbedtls_entropy_init(&entropy);
		mbedtls_ctr_drbg_init(&drbg);
		if (mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, NULL, 0) != 0)
			return MBEDTLS_ERR_CTR_DRBG_ENTROPY_SOURCE_FAILED;
		seeded = 1;
	}
	return mbedtls_ctr_drbg_random(&drbg, out, len);
}
#endif

/* mbedtls_pk_parse_keyfile without a password, on either version. */
static inline int
tc_pk_parse_keyfile(mbedtls_pk_context *pk, const char *path)
{
#if TC_MBEDTLS3
	return mbedtls_pk_parse_keyfile(pk, path, NULL, tc_key_rng, NULL);
#else
	return mbedtls_pk_parse_keyfile(pk, path, NULL);
#endif
}

/* mbedtls_pk_check_pair on either version. */
static inline int
tc_pk_check_pair(const mbedtls_pk_context *pub, const mbedtls_pk_context *prv)
{
#if TC_MBEDTLS3
	return mbedtls_pk_check_pair(pub, prv, tc_key_rng, NULL);
#else
	return mbedtls_pk_check_pair(pub, prv);
#endif
}

/* The curve of an EC key (MBEDTLS_ECP_DP_NONE if it is not one). */
static inline mbedtls_ecp_group_id
tc_pk_ec_group(const mbedtls_pk_context *pk)
{
	if (!mbedtls_pk_can_do(pk, MBEDTLS_PK_ECKEY))
		return MBEDTLS_ECP_DP_NONE;
#if TC_MBEDTLS3
	return mbedtls_ecp_keypair_get_group_id(mbedtls_pk_ec(*pk));
#else
	return mbedtls_pk_ec(*pk)->grp.id;
#endif
}

/* DTLS 1.2 only, secp256r1 only, SHA-256 signatures only: what Thread devices offer. */
static inline void
tc_conf_dtls12_p256(mbedtls_ssl_config *conf)
{
#if TC_MBEDTLS3
	static const uint16_t groups[] = { MBEDTLS_SSL_IANA_TLS_GROUP_SECP256R1,
		MBEDTLS_SSL_IANA_TLS_GROUP_NONE };
	static const uint16_t sig_algs[] = { MBEDTLS_TLS1_3_SIG_ECDSA_SECP256R1_SHA256,
		MBEDTLS_TLS1_3_SIG_NONE };

	mbedtls_ssl_conf_min_tls_version(conf, MBEDTLS_SSL_VERSION_TLS1_2);
	mbedtls_ssl_conf_max_tls_version(conf, MBEDTLS_SSL_VERSION_TLS1_2);
	mbedtls_ssl_conf_groups(conf, groups);
	mbedtls_ssl_conf_sig_algs(conf, sig_algs);
#else
	static const mbedtls_ecp_group_id curves[] = { MBEDTLS_ECP_DP_SECP256R1,
		MBEDTLS_ECP_DP_NONE };
	static const int hashes[] = { MBEDTLS_MD_SHA256, MBEDTLS_MD_NONE };

	mbedtls_ssl_conf_min_version(conf, MBEDTLS_SSL_MAJOR_VERSION_3,
	    MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_max_version(conf, MBEDTLS_SSL_MAJOR_VERSION_3,
	    MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_curves(conf, curves);
	mbedtls_ssl_conf_sig_hashes(conf, hashes);
#endif
}

/* DTLS 1.2 only (mbedTLS 3.x could otherwise offer TLS 1.3 features). */
static inline void
tc_conf_dtls12(mbedtls_ssl_config *conf)
{
#if TC_MBEDTLS3
	mbedtls_ssl_conf_min_tls_version(conf, MBEDTLS_SSL_VERSION_TLS1_2);
	mbedtls_ssl_conf_max_tls_version(conf, MBEDTLS_SSL_VERSION_TLS1_2);
#else
	mbedtls_ssl_conf_min_version(conf, MBEDTLS_SSL_MAJOR_VERSION_3,
	    MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_max_version(conf, MBEDTLS_SSL_MAJOR_VERSION_3,
	    MBEDTLS_SSL_MINOR_VERSION_3);
#endif
}

#endif
