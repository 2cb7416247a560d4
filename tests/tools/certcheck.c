/* certcheck.c: loads keys, certificates and CRLs with mbedTLS and verifies chains, as the daemon will. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crl.h>
#include <mbedtls/x509_crt.h>

#include "tls-compat.h"

/* Prints the usage text. */
static void
usage(void)
{
	fprintf(stderr, "usage: certcheck key KEYFILE...\n"
	                "       certcheck pair KEYFILE CERTFILE\n"
	                "       certcheck verify [-u server|client] CAFILE CERTFILE [CRLFILE]\n"
	                "key:    every KEYFILE must load as an unencrypted ECDSA P-256 key.\n"
	                "pair:   the key must match the (first) certificate of CERTFILE.\n"
	                "verify: CERTFILE (leaf, then any intermediates) must chain to CAFILE,\n"
	                "        be in its validity period, not be revoked by CRLFILE and, with\n"
	                "        -u, carry the serverAuth or clientAuth extended key usage.\n"
	                "Exit status: 0 all good, 1 a check failed, 2 usage or load error.\n");
}

/* Prints an mbedTLS error for a file. */
static void
error_print(const char *what, const char *file, int rc)
{
	char buf[160];

	mbedtls_strerror(rc, buf, sizeof(buf));
	fprintf(stderr, "certcheck: %s %s: %s (-0x%04x)\n", what, file, buf, (unsigned)-rc);
}

/* Loads each key file and checks it is an EC P-256 private key. */
static int
keys_check(int n, char **files)
{
	int status = 0;

	for (int i = 0; i < n; i++) {
		mbedtls_pk_context pk;
		int rc;

		mbedtls_pk_init(&pk);
		rc = tc_pk_parse_keyfile(&pk, files[i]);
		if (rc != 0) {
			error_print("cannot load key", files[i], rc);
			status = 2;
		} else if (mbedtls_pk_get_type(&pk) != MBEDTLS_PK_ECKEY ||
		           tc_pk_ec_group(&pk) != MBEDTLS_ECP_DP_SECP256R1) {
			fprintf(stderr, "certcheck: %s: not an ECDSA P-256 key\n", files[i]);
			status = status ? status : 1;
		} else {
			printf("%s: ok\n", files[i]);
		}
		mbedtls_pk_free(&pk);
	}
	return status;
}

/* Checks that a private key belongs to a certificate. */
static int
pair_check(const char *keyfile, const char *certfile)
{
	mbedtls_pk_context pk;
	mbedtls_x509_crt crt;
	int rc, status = 0;

	mbedtls_pk_init(&pk);
	mbedtls_x509_crt_init(&crt);
	if ((rc = tc_pk_parse_keyfile(&pk, keyfile)) != 0) {
		error_print("cannot load key", keyfile, rc);
		status = 2;
	} else if ((rc = mbedtls_x509_crt_parse_file(&crt, certfile)) != 0) {
		error_print("cannot load certificate", certfile, rc);
		status = 2;
	} else if ((rc = tc_pk_check_pair(&crt.pk, &pk)) != 0) {
		error_print("key does not match", certfile, rc);
		status = 1;
	} else {
		printf("%s %s: ok\n", keyfile, certfile);
	}
	mbedtls_x509_crt_free(&crt);
	mbedtls_pk_free(&pk);
	return status;
}

/* Verifies a certificate chain against a CA file and an optional CRL. */
static int
chain_verify(const char *usage_name, const char *cafile, const char *certfile, const char *crlfile)
{
	mbedtls_x509_crt ca, crt;
	mbedtls_x509_crl crl;
	uint32_t flags = 0;
	char info[512];
	int rc, status = 2;

	mbedtls_x509_crt_init(&ca);
	mbedtls_x509_crt_init(&crt);
	mbedtls_x509_crl_init(&crl);
	if ((rc = mbedtls_x509_crt_parse_file(&ca, cafile)) != 0) {
		error_print("cannot load CA", cafile, rc);
		goto out;
	}
	if ((rc = mbedtls_x509_crt_parse_file(&crt, certfile)) != 0) {
		error_print("cannot load certificate", certfile, rc);
		goto out;
	}
	if (crlfile != NULL && (rc = mbedtls_x509_crl_parse_file(&crl, crlfile)) != 0) {
		error_print("cannot load CRL", crlfile, rc);
		goto out;
	}
	rc = mbedtls_x509_crt_verify(&crt, &ca, crlfile != NULL ? &crl : NULL, NULL, &flags, NULL,
	    NULL);
	if (rc == 0 && usage_name != NULL) {
		const char *oid = strcmp(usage_name, "server") == 0 ? MBEDTLS_OID_SERVER_AUTH
		                                                    : MBEDTLS_OID_CLIENT_AUTH;
		if (mbedtls_x509_crt_check_extended_key_usage(&crt, oid,
		        MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)) != 0) {
			printf("%s: verification failed: no %sAuth extended key usage\n", certfile,
			    usage_name);
			status = 1;
			goto out;
		}
	}
	if (rc == 0) {
		printf("%s: OK\n", certfile);
		status = 0;
	} else {
		mbedtls_x509_crt_verify_info(info, sizeof(info), "", flags);
		info[strcspn(info, "\n")] = '\0';
		printf("%s: verification failed: %s (flags 0x%08x)\n", certfile, info, flags);
		status = 1;
	}
out:
	mbedtls_x509_crl_free(&crl);
	mbedtls_x509_crt_free(&crt);
	mbedtls_x509_crt_free(&ca);
	return status;
}

int
main(int argc, char **argv)
{
	const char *usage_name = NULL;
	int i = 2;

	if (tc_crypto_init() != 0) {
		fprintf(stderr, "certcheck: cannot initialise PSA crypto\n");
		return 2;
	}
	if (argc >= 3 && strcmp(argv[1], "key") == 0)
		return keys_check(argc - 2, argv + 2);
	if (argc == 4 && strcmp(argv[1], "pair") == 0)
		return pair_check(argv[2], argv[3]);
	if (argc >= 4 && strcmp(argv[1], "verify") == 0) {
		if (strcmp(argv[2], "-u") == 0) {
			usage_name = argv[3];
			if (strcmp(usage_name, "server") != 0 &&
			    strcmp(usage_name, "client") != 0) {
				usage();
				return 2;
			}
			i = 4;
		}
		if (argc - i == 2 || argc - i == 3)
			return chain_verify(usage_name, argv[i], argv[i + 1],
			    argc - i == 3 ? argv[i + 2] : NULL);
	}
	usage();
	return 2;
}
