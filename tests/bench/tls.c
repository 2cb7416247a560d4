/* tls.c: mbedTLS helpers shared by the bench client and the in-process handshakes. */
#include "config.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/ecdsa.h>
#include <mbedtls/error.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_ciphersuites.h>

#include "../tools/tls-compat.h"
#include "bench.h"

/*
 * Load a private key; with mbedTLS 2.28 an EC key is re-wrapped as
 * MBEDTLS_PK_ECDSA so that it keeps its P-256 precomputation between
 * signatures (2x cheaper); 3.x signs EC keys that way already.
 */
int
tls_load_key(mbedtls_pk_context *pk, const char *file, int (*rng)(void *, unsigned char *, size_t),
    void *rng_ctx)
{
	mbedtls_pk_context tmp;
	int ret;

	(void)rng;
	(void)rng_ctx;
	mbedtls_pk_init(&tmp);
	if ((ret = tc_pk_parse_keyfile(&tmp, file)) != 0) {
		mbedtls_pk_free(&tmp);
		return ret;
	}
	if (TC_MBEDTLS3 || mbedtls_pk_get_type(&tmp) != MBEDTLS_PK_ECKEY) {
		*pk = tmp;
		return 0;
	}
	mbedtls_pk_init(pk);
	if ((ret = mbedtls_pk_setup(pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECDSA))) != 0 ||
	    (ret = mbedtls_ecdsa_from_keypair(mbedtls_pk_ec(*pk), mbedtls_pk_ec(tmp))) != 0) {
		mbedtls_pk_free(pk);
		mbedtls_pk_free(&tmp);
		return ret;
	}
	mbedtls_pk_free(&tmp);
	return 0;
}

/* The mbedTLS id of a cipher suite name (with - or _), or 0. */
int
tls_suite_id(const char *name)
{
	char buf[128];
	size_t i;

	if (strlen(name) >= sizeof(buf))
		return 0;
	for (i = 0; name[i] != '\0'; i++)
		buf[i] = name[i] == '_' ? '-' : name[i];
	buf[i] = '\0';
	return mbedtls_ssl_get_ciphersuite_id(buf);
}

/* Parse HOST:PORT or [V6]:PORT (numeric or resolvable host); 0 or -1. */
int
tls_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[256];
	const char *port, *h = s;
	struct addrinfo hints, *res = NULL;
	size_t hl;

	if (*s == '[') {
		const char *e = strchr(s, ']');
		if (e == NULL || e[1] != ':')
			return -1;
		h = s + 1;
		hl = (size_t)(e - h);
		port = e + 2;
	} else {
		port = strrchr(s, ':');
		if (port == NULL)
			return -1;
		hl = (size_t)(port - s);
		port++;
	}
	if (hl == 0 || hl >= sizeof(host) || *port == '\0')
		return -1;
	memcpy(host, h, hl);
	host[hl] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_flags = AI_NUMERICSERV;
	if (getaddrinfo(host, port, &hints, &res) != 0 || res == NULL)
		return -1;
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/* mbedTLS error text. */
void
tls_strerror(int err, char *buf, size_t len)
{
	mbedtls_strerror(err, buf, len);
}
