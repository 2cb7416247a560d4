/* dtls.c: mbedTLS glue: server configuration, stateless cookies, diagnostics. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/debug.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/md.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl_ciphersuites.h>

#include "clock.h"
#include "dtls.h"
#include "dtls_compat.h"
#include "log.h"

#define COOKIE_VERSION 1
#define COOKIE_MAC_LEN 16
#define COOKIE_LEN DTLS_COOKIE_LEN /* version, id, time, mac */
_Static_assert(COOKIE_LEN == 1 + 4 + 4 + COOKIE_MAC_LEN, "DTLS_COOKIE_LEN in dtls.h");
#define COOKIE_LIFETIME 60 /* seconds a cookie stays valid */

#define REC_HDR 13 /* DTLS record header */
#define HS_HDR 12  /* DTLS handshake header */

static mbedtls_entropy_context dtls_entropy;
static mbedtls_ctr_drbg_context dtls_drbg;
static mbedtls_md_context_t dtls_cookie_hmac;
/* The handshake threads check cookies too (mbedTLS's cookie callback). */
static pthread_mutex_t dtls_cookie_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic uint32_t dtls_id_counter;
static bool dtls_ready;

/* P-256 first (what Thread devices use), then P-384; hashes SHA-256 and up. */
#if DTLS_MBEDTLS3
static const uint16_t dtls_groups[] = { MBEDTLS_SSL_IANA_TLS_GROUP_SECP256R1,
	MBEDTLS_SSL_IANA_TLS_GROUP_SECP384R1, MBEDTLS_SSL_IANA_TLS_GROUP_NONE };
static const uint16_t dtls_sig_algs[] = { MBEDTLS_TLS1_3_SIG_ECDSA_SECP256R1_SHA256,
	MBEDTLS_TLS1_3_SIG_ECDSA_SECP384R1_SHA384, MBEDTLS_TLS1_3_SIG_ECDSA_SECP521R1_SHA512,
	MBEDTLS_TLS1_3_SIG_RSA_PKCS1_SHA256, MBEDTLS_TLS1_3_SIG_RSA_PKCS1_SHA384,
	MBEDTLS_TLS1_3_SIG_RSA_PKCS1_SHA512, MBEDTLS_TLS1_3_SIG_NONE };
#else
static const mbedtls_ecp_group_id dtls_curves[] = { MBEDTLS_ECP_DP_SECP256R1,
	MBEDTLS_ECP_DP_SECP384R1, MBEDTLS_ECP_DP_NONE };
static const int dtls_sig_hashes[] = { MBEDTLS_MD_SHA256, MBEDTLS_MD_SHA384, MBEDTLS_MD_SHA512,
	MBEDTLS_MD_NONE };
#endif

/* Seconds on the monotonic clock, for cookie ages. */
static uint32_t
dtls_now_s(void)
{
	return (uint32_t)(clock_ms() / 1000);
}

/* Reads a big-endian number of n bytes. */
static uint32_t
get_be(const uint8_t *p, size_t n)
{
	uint32_t v = 0;

	for (size_t i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* Writes v as n big-endian bytes. */
static void
put_be(uint8_t *p, uint32_t v, size_t n)
{
	for (size_t i = n; i-- > 0; v >>= 8)
		p[i] = (uint8_t)v;
}

/* Fixed "entropy" for dtls_init_fixed: fuzz targets need repeatable runs. */
static int
dtls_fixed_entropy(void *ctx, unsigned char *out, size_t len)
{
	(void)ctx;
	for (size_t i = 0; i < len; i++)
		out[i] = (unsigned char)(i * 7 + 1);
	return 0;
}

/* Seeds the RNG from f_entropy and makes the cookie key. */
static int
dtls_init_from(int (*f_entropy)(void *, unsigned char *, size_t), void *p_entropy, char **cause)
{
	static const char pers[] = "coaps-proxyd";
	unsigned char key[32];
	uint32_t first;

#if DTLS_MBEDTLS3 && defined(MBEDTLS_PSA_CRYPTO_C)
	/* Once per process (later calls do nothing); never freed: contexts may outlive dtls_shutdown. */
	if (psa_crypto_init() != PSA_SUCCESS) {
		*cause = strdup("cannot initialise PSA crypto");
		return -1;
	}
#endif
	mbedtls_ctr_drbg_init(&dtls_drbg);
	mbedtls_md_init(&dtls_cookie_hmac);
	if (mbedtls_ctr_drbg_seed(&dtls_drbg, f_entropy, p_entropy, (const unsigned char *)pers,
	        sizeof pers) != 0 ||
	    mbedtls_ctr_drbg_random(&dtls_drbg, key, sizeof key) != 0 ||
	    mbedtls_md_setup(&dtls_cookie_hmac, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), 1) !=
	        0 ||
	    mbedtls_md_hmac_starts(&dtls_cookie_hmac, key, sizeof key) != 0) {
		*cause = strdup("cannot seed the random number generator");
		return -1;
	}
	mbedtls_platform_zeroize(key, sizeof key);
	if (mbedtls_ctr_drbg_random(&dtls_drbg, (unsigned char *)&first, sizeof first) != 0)
		first = 0;
	dtls_id_counter = first & 0x00ffffff; /* room to grow before wrapping */
	dtls_ready = true;
	return 0;
}

int
dtls_init(char **cause)
{
	mbedtls_entropy_init(&dtls_entropy);
	return dtls_init_from(mbedtls_entropy_func, &dtls_entropy, cause);
}

int
dtls_init_fixed(char **cause)
{
	mbedtls_entropy_init(&dtls_entropy);
	return dtls_init_from(dtls_fixed_entropy, NULL, cause);
}

void
dtls_shutdown(void)
{
	if (!dtls_ready)
		return;
	mbedtls_md_free(&dtls_cookie_hmac);
	dtls_resume_shutdown();
	mbedtls_ctr_drbg_free(&dtls_drbg);
	mbedtls_entropy_free(&dtls_entropy);
	dtls_ready = false;
}

uint32_t
dtls_next_id(void)
{
	uint32_t id;

	while ((id = ++dtls_id_counter) == 0)
		; /* 0 names no session */
	return id;
}

/* Computes the cookie MAC over version, id, time and the peer's transport id. */
static void
cookie_mac(const uint8_t head[9], const uint8_t *cli_id, size_t cli_id_len,
    uint8_t mac[COOKIE_MAC_LEN])
{
	unsigned char full[32];

	pthread_mutex_lock(&dtls_cookie_lock);
	mbedtls_md_hmac_reset(&dtls_cookie_hmac);
	mbedtls_md_hmac_update(&dtls_cookie_hmac, head, 9);
	mbedtls_md_hmac_update(&dtls_cookie_hmac, cli_id, cli_id_len);
	mbedtls_md_hmac_finish(&dtls_cookie_hmac, full);
	pthread_mutex_unlock(&dtls_cookie_lock);
	memcpy(mac, full, COOKIE_MAC_LEN);
}

/* Bytes of a transport id: family, IPv6 address, port, scope. */
#define TRANSPORT_ID_MAX (1 + 16 + 2 + 4)

/*
 * Writes the transport id of a peer (family, address, port; IPv6: scope too)
 * into out; 0 if peerlen bytes hold no IPv4 or IPv6 address.
 */
static size_t
peer_transport_id(const struct sockaddr *peer, socklen_t peerlen, uint8_t out[TRANSPORT_ID_MAX])
{
	if (peer->sa_family == AF_INET && peerlen >= (socklen_t)sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)peer;

		out[0] = 4;
		memcpy(out + 1, &in->sin_addr, 4);
		memcpy(out + 5, &in->sin_port, 2);
		return 7;
	}
	if (peer->sa_family == AF_INET6 && peerlen >= (socklen_t)sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)peer;

		out[0] = 6;
		memcpy(out + 1, &in6->sin6_addr, 16);
		memcpy(out + 17, &in6->sin6_port, 2);
		memcpy(out + 19, &in6->sin6_scope_id, 4);
		return 23;
	}
	return 0;
}

/* Writes a cookie for session id and peer transport id into out. */
static void
cookie_make(uint8_t out[COOKIE_LEN], uint32_t id, const uint8_t *cli_id, size_t cli_id_len)
{
	out[0] = COOKIE_VERSION;
	put_be(out + 1, id, 4);
	put_be(out + 5, dtls_now_s(), 4);
	cookie_mac(out, cli_id, cli_id_len, out + 9);
}

/* Checks a cookie against a peer transport id; the session id it names in *id. */
static bool
cookie_check(const uint8_t *cookie, size_t len, const uint8_t *cli_id, size_t cli_id_len,
    uint32_t *id)
{
	uint8_t mac[COOKIE_MAC_LEN];
	uint32_t t, now = dtls_now_s();
	unsigned diff = 0;

	if (len != COOKIE_LEN || cookie[0] != COOKIE_VERSION)
		return false;
	t = get_be(cookie + 5, 4);
	if (t > now || now - t > COOKIE_LIFETIME)
		return false;
	cookie_mac(cookie, cli_id, cli_id_len, mac);
	for (size_t i = 0; i < COOKIE_MAC_LEN; i++)
		diff |= mac[i] ^ cookie[9 + i];
	if (diff != 0)
		return false;
	*id = get_be(cookie + 1, 4);
	return true;
}

/* mbedTLS cookie writer: only reached if a cookie went stale in between. */
static int
cookie_write_cb(void *ctx, unsigned char **p, unsigned char *end, const unsigned char *cli_id,
    size_t cli_id_len)
{
	(void)ctx;
	if (end - *p < COOKIE_LEN)
		return MBEDTLS_ERR_SSL_BUFFER_TOO_SMALL;
	cookie_make(*p, dtls_next_id(), cli_id, cli_id_len);
	*p += COOKIE_LEN;
	return 0;
}

/* mbedTLS cookie checker: the same check the stateless stage made. */
static int
cookie_check_cb(void *ctx, const unsigned char *cookie, size_t len, const unsigned char *cli_id,
    size_t cli_id_len)
{
	uint32_t id;

	(void)ctx;
	return cookie_check(cookie, len, cli_id, cli_id_len, &id) ? 0 : -1;
}

bool
dtls_cid_supported(void)
{
#ifdef HAVE_MBEDTLS_CID
	return true;
#else
	return false;
#endif
}

int
dtls_cid_make(uint8_t *cid, size_t len, uint8_t owner)
{
	if (len < DTLS_CID_MIN || len > DTLS_CID_MAX)
		return -1;
	/* Routing byte: the worker that owns the session (steer.c sends its records there). */
	memset(cid, owner, DTLS_CID_NODE_BYTES);
	return mbedtls_ctr_drbg_random(&dtls_drbg, cid + DTLS_CID_NODE_BYTES,
	           len - DTLS_CID_NODE_BYTES) == 0
	           ? 0
	           : -1;
}

bool
dtls_cid_in_use(mbedtls_ssl_context *ssl)
{
#ifdef HAVE_MBEDTLS_CID
	int enabled = MBEDTLS_SSL_CID_DISABLED;
	unsigned char own[MBEDTLS_SSL_CID_IN_LEN_MAX];
	size_t n = 0;

	/* get_peer_cid tells whether CIDs were negotiated; ours is non-empty. */
	if (mbedtls_ssl_get_peer_cid(ssl, &enabled, NULL, NULL) != 0 ||
	    enabled != MBEDTLS_SSL_CID_ENABLED)
		return false;
	return mbedtls_ssl_get_own_cid(ssl, &enabled, own, &n) == 0 &&
	       enabled == MBEDTLS_SSL_CID_ENABLED && n > 0;
#else
	(void)ssl;
	return false;
#endif
}

bool
dtls_is_cid_record(const uint8_t *buf, size_t len)
{
#ifdef HAVE_MBEDTLS_CID
	return len >= REC_HDR && buf[0] == MBEDTLS_SSL_MSG_CID && buf[1] == 0xfe;
#else
	(void)buf;
	(void)len;
	return false;
#endif
}

bool
dtls_cid_record(const uint8_t *buf, size_t len, size_t cid_len, const uint8_t **cid)
{
	/* type, version, epoch, sequence number (11 bytes), CID, length (2 bytes) */
	if (!dtls_is_cid_record(buf, len) || len < 11 + cid_len + 2)
		return false;
	*cid = buf + 11;
	return true;
}

bool
dtls_record_peek(const uint8_t *buf, size_t len, uint8_t *type, uint16_t *epoch)
{
	if (len < REC_HDR || buf[1] != 0xfe)
		return false;
	*type = buf[0];
	*epoch = (uint16_t)get_be(buf + 3, 2);
	return true;
}

bool
dtls_is_client_hello(const uint8_t *buf, size_t len)
{
	return len >= REC_HDR + HS_HDR && buf[0] == MBEDTLS_SSL_MSG_HANDSHAKE && buf[1] == 0xfe &&
	       buf[3] == 0 && buf[4] == 0 && buf[REC_HDR] == MBEDTLS_SSL_HS_CLIENT_HELLO;
}

bool
dtls_parse_client_hello(const uint8_t *buf, size_t len, struct client_hello *ch)
{
	size_t rec_len, hs_len, frag_off, frag_len, p, end, n;

	if (!dtls_is_client_hello(buf, len))
		return false;
	rec_len = get_be(buf + 11, 2);
	if (rec_len > len - REC_HDR || rec_len < HS_HDR)
		return false;
	hs_len = get_be(buf + REC_HDR + 1, 3);
	frag_off = get_be(buf + REC_HDR + 6, 3);
	frag_len = get_be(buf + REC_HDR + 9, 3);
	/* Only a whole, unfragmented ClientHello is accepted (as mbedTLS does). */
	if (frag_off != 0 || frag_len != hs_len || hs_len > rec_len - HS_HDR)
		return false;
	memcpy(ch->record_seq, buf + 5, 6);
	ch->message_seq = (uint16_t)get_be(buf + REC_HDR + 4, 2);
	p = REC_HDR + HS_HDR;
	end = p + hs_len;

	if (end - p < 2 + 32 + 1)
		return false;
	if (buf[p] != 0xfe) /* client_version must be a DTLS version */
		return false;
	ch->random = buf + p + 2;
	p += 2 + 32;
	n = buf[p++]; /* session id */
	if (n > 32 || end - p < n + 1)
		return false;
	p += n;
	n = buf[p++]; /* cookie */
	if (end - p < n + 2)
		return false;
	ch->cookie = buf + p;
	ch->cookie_len = n;
	p += n;
	n = get_be(buf + p, 2); /* cipher suites */
	p += 2;
	if (n < 2 || n % 2 != 0 || end - p < n + 1)
		return false;
	ch->suites = buf + p;
	ch->n_suites = n / 2;
	p += n;
	n = buf[p++]; /* compression methods */
	if (n < 1 || end - p < n)
		return false;
	p += n;
	if (p < end) { /* extensions: a well-formed list */
		size_t ext_end;

		if (end - p < 2)
			return false;
		n = get_be(buf + p, 2);
		p += 2;
		if (n != end - p)
			return false;
		ext_end = p + n;
		while (p < ext_end) {
			if (ext_end - p < 4)
				return false;
			n = get_be(buf + p + 2, 2);
			p += 4;
			if (ext_end - p < n)
				return false;
			p += n;
		}
	}
	return true;
}

bool
dtls_cookie_valid(const struct client_hello *ch, const struct sockaddr *peer, socklen_t peerlen,
    uint32_t *id)
{
	uint8_t cli_id[TRANSPORT_ID_MAX];
	size_t n;

	if (ch->cookie_len == 0 || (n = peer_transport_id(peer, peerlen, cli_id)) == 0)
		return false;
	return cookie_check(ch->cookie, ch->cookie_len, cli_id, n, id);
}

bool
dtls_cookie_make(const struct sockaddr *peer, socklen_t peerlen, uint32_t id,
    uint8_t out[DTLS_COOKIE_LEN])
{
	uint8_t cli_id[TRANSPORT_ID_MAX];
	size_t n = peer_transport_id(peer, peerlen, cli_id);

	if (n == 0)
		return false;
	cookie_make(out, id, cli_id, n);
	return true;
}

int
dtls_send_hello_verify(const struct datagram *d, const struct client_hello *ch, uint32_t *id)
{
	uint8_t out[REC_HDR + HS_HDR + 3 + COOKIE_LEN];
	size_t body = 3 + COOKIE_LEN;

	*id = dtls_next_id();
	if (!dtls_cookie_make((const struct sockaddr *)&d->peer, d->peerlen, *id,
	        out + REC_HDR + HS_HDR + 3))
		return -1;
	/* Record: handshake, DTLS 1.2, epoch 0, the client's record sequence. */
	out[0] = MBEDTLS_SSL_MSG_HANDSHAKE;
	out[1] = 0xfe;
	out[2] = 0xfd;
	out[3] = out[4] = 0;
	memcpy(out + 5, ch->record_seq, 6);
	put_be(out + 11, (uint32_t)(HS_HDR + body), 2);
	/* Handshake: HelloVerifyRequest, whole, echoing the client's message_seq. */
	out[REC_HDR] = MBEDTLS_SSL_HS_HELLO_VERIFY_REQUEST;
	put_be(out + REC_HDR + 1, (uint32_t)body, 3);
	put_be(out + REC_HDR + 4, ch->message_seq, 2);
	put_be(out + REC_HDR + 6, 0, 3);
	put_be(out + REC_HDR + 9, (uint32_t)body, 3);
	/* Body: server_version DTLS 1.0 (RFC 6347 4.2.1), cookie. */
	out[REC_HDR + HS_HDR] = 0xfe;
	out[REC_HDR + HS_HDR + 1] = 0xff;
	out[REC_HDR + HS_HDR + 2] = COOKIE_LEN;
	return listener_send(d->listener, (const struct sockaddr *)&d->peer, d->peerlen, &d->local,
	    out, sizeof out);
}

/* mbedTLS send callback: one datagram to the link's peer. */
static int
dtls_send_cb(void *ctx, const unsigned char *buf, size_t len)
{
	struct dtls_link *link = ctx;

	if (link->direct) {
		if (listener_send_now(link->listener, &link->peer.sa, link->peerlen, &link->local,
		        buf, len) < 0)
			return MBEDTLS_ERR_NET_SEND_FAILED;
		return (int)len;
	}
	if (listener_send(link->listener, &link->peer.sa, link->peerlen, &link->local, buf, len) <
	    0)
		return MBEDTLS_ERR_NET_SEND_FAILED;
	return (int)len;
}

/* mbedTLS receive callback: hands over the datagram being processed, once. */
static int
dtls_recv_cb(void *ctx, unsigned char *buf, size_t len)
{
	struct dtls_link *link = ctx;
	size_t n;

	dtls_resume_link(link);
	if (link->rx == NULL || link->rx_len == 0) {
		/* 0 bytes would read as end of connection: never hand that over. */
		link->rx = NULL;
		return MBEDTLS_ERR_SSL_WANT_READ;
	}
	n = link->rx_len < len ? link->rx_len : len;
	memcpy(buf, link->rx, n);
	link->rx = NULL;
	link->rx_len = 0;
	return (int)n;
}

/* The snapshot that owns an mbedTLS configuration. */
static const struct proxy_config *
config_of(const mbedtls_ssl_config *conf)
{
	return (const struct proxy_config *)(const void *)((const char *)conf -
	                                                   offsetof(struct proxy_config, ssl));
}

/* mbedTLS PSK callback: looks up the identity in the session's snapshot. */
static int
dtls_psk_cb(void *p, mbedtls_ssl_context *ssl, const unsigned char *id, size_t id_len)
{
	struct dtls_link *link = ssl->MBEDTLS_PRIVATE(p_bio);
	const struct proxy_config *cfg;
	const struct psk_conf *psk;

	(void)p;
	link->psk_identity_seen = true;
	link->identity_sent_len = id_len;
	link->identity_len =
	    (uint16_t)(id_len < sizeof link->identity ? id_len : sizeof link->identity);
	memcpy(link->identity, id, link->identity_len);
	cfg = config_of(ssl->MBEDTLS_PRIVATE(conf));
	psk = id_len <= CONFIG_PSK_IDENTITY_MAX ? cfg->psk_find(cfg, id, id_len) : NULL;
	if (psk == NULL) {
		link->psk_identity_unknown = true;
		return -1;
	}
	return mbedtls_ssl_set_hs_psk(ssl, psk->key, psk->key_len);
}

/* Routes mbedTLS debug output to log_debug. */
static void
dtls_debug_cb(void *ctx, int level, const char *file, int line, const char *msg)
{
	size_t n = strlen(msg);

	(void)ctx;
	(void)level;
	while (n > 0 && msg[n - 1] == '\n')
		n--;
	log_debug("mbedtls %s:%d: %.*s", file, line, (int)n, msg);
}

int
dtls_config_build(struct proxy_config *cfg, char **cause)
{
	mbedtls_ssl_config *c = &cfg->ssl;
	int r;

	mbedtls_ssl_config_init(c);
	cfg->ssl_built = true;
	r = mbedtls_ssl_config_defaults(c, MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_DATAGRAM,
	    MBEDTLS_SSL_PRESET_DEFAULT);
	if (r != 0) {
		*cause = strdup("mbedTLS refused its default DTLS server configuration");
		return -1;
	}
	mbedtls_ssl_conf_rng(c, mbedtls_ctr_drbg_random, &dtls_drbg);
	mbedtls_ssl_conf_dbg(c, dtls_debug_cb, NULL);
	/* DTLS 1.2 only; 3.x could otherwise negotiate TLS 1.3 features. */
#if DTLS_MBEDTLS3
	mbedtls_ssl_conf_min_tls_version(c, MBEDTLS_SSL_VERSION_TLS1_2);
	mbedtls_ssl_conf_max_tls_version(c, MBEDTLS_SSL_VERSION_TLS1_2);
	mbedtls_ssl_conf_ciphersuites(c, cfg->ciphersuites);
	mbedtls_ssl_conf_groups(c, dtls_groups);
	mbedtls_ssl_conf_sig_algs(c, dtls_sig_algs);
#else
	mbedtls_ssl_conf_min_version(c, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_max_version(c, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_ciphersuites(c, cfg->ciphersuites);
	mbedtls_ssl_conf_curves(c, dtls_curves);
	mbedtls_ssl_conf_sig_hashes(c, dtls_sig_hashes);
#endif
	mbedtls_ssl_conf_handshake_timeout(c, cfg->handshake_timeout_min,
	    cfg->handshake_timeout_max);
	/* A limit is always set so that mbedTLS counts bad MACs for us. */
	mbedtls_ssl_conf_dtls_badmac_limit(c, cfg->badmac_limit ? cfg->badmac_limit : UINT_MAX);
	mbedtls_ssl_conf_dtls_cookies(c, cookie_write_cb, cookie_check_cb, NULL);
	mbedtls_ssl_conf_dtls_anti_replay(c, MBEDTLS_SSL_ANTI_REPLAY_ENABLED);
#ifdef HAVE_MBEDTLS_CID
	/* session.c hands a context only records that carry its own CID. */
	if (cfg->connection_id &&
	    mbedtls_ssl_conf_cid(c, cfg->cid_length, MBEDTLS_SSL_UNEXPECTED_CID_IGNORE) != 0) {
		*cause = strdup("mbedTLS refused dtls.cid_length");
		return -1;
	}
#endif
	if (cfg->n_psks > 0)
		mbedtls_ssl_conf_psk_cb(c, dtls_psk_cb, NULL);
	if (cfg->x509 != NULL) {
		struct x509_conf *x = cfg->x509;
		int mode = x->verify_client == VERIFY_CLIENT_REQUIRED ? MBEDTLS_SSL_VERIFY_REQUIRED
		           : x->verify_client == VERIFY_CLIENT_OPTIONAL
		               ? MBEDTLS_SSL_VERIFY_OPTIONAL
		               : MBEDTLS_SSL_VERIFY_NONE;

		r = mbedtls_ssl_conf_own_cert(c, &x->certificate, &x->private_key);
		if (r != 0) {
			*cause = strdup("mbedTLS refused the server certificate and key");
			return -1;
		}
		if (x->has_client_ca)
			mbedtls_ssl_conf_ca_chain(c, &x->client_ca, x->has_crl ? &x->crl : NULL);
		mbedtls_ssl_conf_authmode(c, mode);
	} else
		mbedtls_ssl_conf_authmode(c, MBEDTLS_SSL_VERIFY_NONE);
	return dtls_resume_conf(cfg, mbedtls_ctr_drbg_random, &dtls_drbg, cause);
}

void
dtls_bind(mbedtls_ssl_context *ssl, struct dtls_link *link)
{
	mbedtls_ssl_set_bio(ssl, link, dtls_send_cb, dtls_recv_cb, NULL);
}

mbedtls_ssl_context *
dtls_new_context(struct proxy_config *cfg, struct dtls_link *link, const uint8_t *cid,
    size_t cid_len)
{
	mbedtls_ssl_context *ssl = malloc(sizeof *ssl);
	uint8_t cli_id[TRANSPORT_ID_MAX];
	size_t n;

	if (ssl == NULL)
		return NULL;
	mbedtls_ssl_init(ssl);
	if (mbedtls_ssl_setup(ssl, &cfg->ssl) != 0) {
		dtls_free(ssl);
		return NULL;
	}
	n = peer_transport_id(&link->peer.sa, link->peerlen, cli_id);
	if (n == 0 || mbedtls_ssl_set_client_transport_id(ssl, cli_id, n) != 0) {
		dtls_free(ssl);
		return NULL;
	}
#ifdef HAVE_MBEDTLS_CID
	if (cid != NULL && cfg->connection_id &&
	    mbedtls_ssl_set_cid(ssl, MBEDTLS_SSL_CID_ENABLED, cid, cid_len) != 0) {
		dtls_free(ssl);
		return NULL;
	}
#else
	(void)cid;
	(void)cid_len;
#endif
	mbedtls_ssl_set_mtu(ssl, cfg->mtu);
	dtls_bind(ssl, link);
	return ssl;
}

mbedtls_ssl_context *
dtls_restore_context(struct proxy_config *cfg, struct dtls_link *link, const unsigned char *saved,
    size_t len)
{
	mbedtls_ssl_context *ssl = malloc(sizeof *ssl);

	if (ssl == NULL)
		return NULL;
	mbedtls_ssl_init(ssl);
	if (mbedtls_ssl_setup(ssl, &cfg->ssl) != 0 ||
	    mbedtls_ssl_context_load(ssl, saved, len) != 0) {
		dtls_free(ssl);
		return NULL;
	}
	mbedtls_ssl_set_mtu(ssl, cfg->mtu);
	dtls_bind(ssl, link);
	return ssl;
}

void
dtls_free(mbedtls_ssl_context *ssl)
{
	if (ssl == NULL)
		return;
	if (ssl->MBEDTLS_PRIVATE(p_bio) != NULL)
		dtls_resume_link(NULL); /* no callback may reach a link that is going away */
	mbedtls_ssl_free(ssl);
	free(ssl);
}

int
dtls_client_config(mbedtls_ssl_config *conf, char **cause)
{
	static int suites[128];
	size_t n = 0;

	if (!dtls_ready && dtls_init(cause) < 0)
		return -1;
	if (mbedtls_ssl_config_defaults(conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_DATAGRAM,
	        MBEDTLS_SSL_PRESET_DEFAULT) != 0) {
		*cause = strdup("cannot set up the DTLS client configuration");
		return -1;
	}
#if DTLS_MBEDTLS3
	mbedtls_ssl_conf_min_tls_version(conf, MBEDTLS_SSL_VERSION_TLS1_2);
	mbedtls_ssl_conf_max_tls_version(conf, MBEDTLS_SSL_VERSION_TLS1_2);
#else
	mbedtls_ssl_conf_min_version(conf, MBEDTLS_SSL_MAJOR_VERSION_3,
	    MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_max_version(conf, MBEDTLS_SSL_MAJOR_VERSION_3,
	    MBEDTLS_SSL_MINOR_VERSION_3);
#endif
	/* PSK suites only: a certificate suite would need the server's CA. */
	for (const int *id = mbedtls_ssl_list_ciphersuites(); *id != 0 && n < 127; id++)
		if (dtls_suite_kind((uint16_t)*id) == DTLS_SUITE_PSK)
			suites[n++] = *id;
	suites[n] = 0;
	mbedtls_ssl_conf_ciphersuites(conf, suites);
	mbedtls_ssl_conf_rng(conf, mbedtls_ctr_drbg_random, &dtls_drbg);
	return 0;
}

/* Cipher suites mbedTLS does not know but devices offer, by IANA name. */
static const struct {
	uint16_t id;
	const char *name;
} extra_suites[] = {
	{ 0xC0FF, "TLS_ECJPAKE_WITH_AES_128_CCM_8" },
	{ 0x00FF, "TLS_EMPTY_RENEGOTIATION_INFO_SCSV" },
	{ 0x5600, "TLS_FALLBACK_SCSV" },
	{ 0x1301, "TLS_AES_128_GCM_SHA256" },
	{ 0x1302, "TLS_AES_256_GCM_SHA384" },
	{ 0x1303, "TLS_CHACHA20_POLY1305_SHA256" },
	{ 0x1304, "TLS_AES_128_CCM_SHA256" },
	{ 0x1305, "TLS_AES_128_CCM_8_SHA256" },
};

void
dtls_suite_name(uint16_t id, char *buf, size_t len)
{
	const mbedtls_ssl_ciphersuite_t *info = mbedtls_ssl_ciphersuite_from_id(id);
	const char *name = NULL;

	if (info != NULL)
		name = mbedtls_ssl_get_ciphersuite_name(id);
	for (size_t i = 0; name == NULL && i < sizeof extra_suites / sizeof *extra_suites; i++)
		if (extra_suites[i].id == id)
			name = extra_suites[i].name;
	if (name == NULL)
		name = "unknown";
	snprintf(buf, len, "%s", name);
	for (char *p = buf; *p != '\0'; p++)
		if (*p == '-')
			*p = '_';
	if (strlen(buf) + 8 < len)
		snprintf(buf + strlen(buf), len - strlen(buf), " 0x%04X", id);
}

/* Appends a suite name to a comma-separated list in buf. */
static void
suite_list_add(char *buf, size_t len, uint16_t id)
{
	size_t o = strlen(buf);

	if (o + 2 >= len)
		return;
	if (o > 0) {
		buf[o++] = ',';
		buf[o] = '\0';
	}
	dtls_suite_name(id, buf + o, len - o);
}

void
dtls_offered_suites(const struct client_hello *ch, char *buf, size_t len)
{
	buf[0] = '\0';
	for (size_t i = 0; i < ch->n_suites; i++)
		suite_list_add(buf, len, (uint16_t)get_be(ch->suites + 2 * i, 2));
}

void
dtls_enabled_suites(const struct proxy_config *cfg, char *buf, size_t len)
{
	buf[0] = '\0';
	for (const int *s = cfg->ciphersuites; *s != 0; s++)
		suite_list_add(buf, len, (uint16_t)*s);
}

enum dtls_suite_kind
dtls_suite_kind(uint16_t id)
{
	const mbedtls_ssl_ciphersuite_t *info = mbedtls_ssl_ciphersuite_from_id(id);

	if (id == 0xC0FF)
		return DTLS_SUITE_ECJPAKE;
	if (info == NULL)
		return DTLS_SUITE_UNKNOWN;
	switch ((mbedtls_key_exchange_type_t)info->MBEDTLS_PRIVATE(key_exchange)) {
	case MBEDTLS_KEY_EXCHANGE_PSK:
	case MBEDTLS_KEY_EXCHANGE_DHE_PSK:
	case MBEDTLS_KEY_EXCHANGE_ECDHE_PSK:
		return DTLS_SUITE_PSK;
	case MBEDTLS_KEY_EXCHANGE_RSA_PSK:
		return DTLS_SUITE_RSA_PSK;
	case MBEDTLS_KEY_EXCHANGE_ECJPAKE:
		return DTLS_SUITE_ECJPAKE;
	default:
		return DTLS_SUITE_CERT;
	}
}

int
dtls_suite_id(const char *name)
{
	return mbedtls_ssl_get_ciphersuite_id(name);
}

void
dtls_default_suites(bool psk, bool x509, int *out)
{
	static const int both[] = { MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8,
		MBEDTLS_TLS_PSK_WITH_AES_128_CCM_8, MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
		MBEDTLS_TLS_PSK_WITH_AES_128_GCM_SHA256, 0 };
	static const int psk_only[] = { MBEDTLS_TLS_PSK_WITH_AES_128_CCM_8,
		MBEDTLS_TLS_PSK_WITH_AES_128_GCM_SHA256, 0 };
	static const int x509_only[] = { MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8,
		MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, 0 };
	const int *src = !x509 ? psk_only : !psk ? x509_only : both;
	size_t i = 0;

	for (; src[i] != 0; i++)
		out[i] = src[i];
	out[i] = 0;
}

void
dtls_suites_usable(const int *suites, bool *psk, bool *cert)
{
	*psk = *cert = false;
	for (const int *s = suites; *s != 0; s++) {
		enum dtls_suite_kind kind = dtls_suite_kind((uint16_t)*s);

		*psk = *psk || kind == DTLS_SUITE_PSK;
		*cert = *cert || kind == DTLS_SUITE_CERT;
	}
}

void
dtls_missing_credential(const struct client_hello *ch, const struct proxy_config *cfg, char *buf,
    size_t len)
{
	bool psk = false, cert = false, jpake = false;

	for (size_t i = 0; i < ch->n_suites; i++) {
		switch (dtls_suite_kind((uint16_t)get_be(ch->suites + 2 * i, 2))) {
		case DTLS_SUITE_PSK:
			psk = true;
			break;
		case DTLS_SUITE_CERT:
			cert = true;
			break;
		case DTLS_SUITE_ECJPAKE:
			jpake = true;
			break;
		case DTLS_SUITE_RSA_PSK:
		case DTLS_SUITE_UNKNOWN:
			break;
		}
	}
	if (jpake && !psk && !cert)
		snprintf(buf, len,
		    "client offered only EC-JPAKE (Thread commissioning), which this "
		    "server does not support: configure the device for PSK or "
		    "ECDHE-ECDSA");
	else if (cert && !psk && cfg->x509 == NULL)
		snprintf(buf, len,
		    "client offered only certificate suites but no x509 is configured");
	else if (psk && !cert && cfg->n_psks == 0)
		snprintf(buf, len, "client offered only PSK suites but no psk is configured");
	else
		snprintf(buf, len, "no offered suite is in dtls.ciphersuites");
}

const char *
dtls_alert_name(unsigned char desc)
{
	switch (desc) {
	case 0:
		return "close_notify";
	case 10:
		return "unexpected_message";
	case 20:
		return "bad_record_mac";
	case 22:
		return "record_overflow";
	case 40:
		return "handshake_failure";
	case 42:
		return "bad_certificate";
	case 43:
		return "unsupported_certificate";
	case 44:
		return "certificate_revoked";
	case 45:
		return "certificate_expired";
	case 46:
		return "certificate_unknown";
	case 47:
		return "illegal_parameter";
	case 48:
		return "unknown_ca";
	case 49:
		return "access_denied";
	case 50:
		return "decode_error";
	case 51:
		return "decrypt_error";
	case 70:
		return "protocol_version";
	case 71:
		return "insufficient_security";
	case 80:
		return "internal_error";
	case 90:
		return "user_canceled";
	case 100:
		return "no_renegotiation";
	case 110:
		return "unsupported_extension";
	case 115:
		return "unknown_psk_identity";
	default:
		return "unknown alert";
	}
}

void
dtls_alert_reason(unsigned char desc, char *buf, size_t len)
{
	const char *words;

	/* The device sent it: say what it refused, not what we did. */
	switch (desc) {
	case 42: /* bad_certificate */
	case 43: /* unsupported_certificate */
	case 44: /* certificate_revoked */
	case 45: /* certificate_expired */
	case 46: /* certificate_unknown */
	case 48: /* unknown_ca */
		words = "the device rejected the server's certificate";
		break;
	case 51: /* decrypt_error */
		words = "the device could not verify the server's handshake (another PSK key, or "
		        "the server's signature)";
		break;
	case 20: /* bad_record_mac */
		words = "the device could not decrypt the server's records (another PSK key?)";
		break;
	case 40: /* handshake_failure */
		words = "the device refused the handshake (no parameters it accepts)";
		break;
	case 71: /* insufficient_security */
		words = "the device wants stronger security than the server offered";
		break;
	case 70: /* protocol_version */
		words = "the device refused the protocol version (DTLS 1.2)";
		break;
	case 49: /* access_denied */
		words = "the device denied access";
		break;
	case 10:  /* unexpected_message */
	case 22:  /* record_overflow */
	case 47:  /* illegal_parameter */
	case 50:  /* decode_error */
	case 110: /* unsupported_extension */
		words = "the device found a server message malformed or unexpected";
		break;
	case 80: /* internal_error */
		words = "the device had an internal error";
		break;
	case 90: /* user_canceled */
		words = "the device cancelled the handshake";
		break;
	case 115: /* unknown_psk_identity */
		words = "the device reported an unknown PSK identity";
		break;
	default:
		words = "the device sent a fatal alert";
		break;
	}
	snprintf(buf, len, "%s: %s (%u)", words, dtls_alert_name(desc), desc);
}

void
dtls_verify_reason(uint32_t flags, char *buf, size_t len)
{
	static const struct {
		uint32_t flag;
		const char *words;
	} reasons[] = {
		{ MBEDTLS_X509_BADCERT_NOT_TRUSTED,
		    "unknown CA (not issued by a trusted client_ca)" },
		{ MBEDTLS_X509_BADCERT_EXPIRED, "expired" },
		{ MBEDTLS_X509_BADCERT_FUTURE, "not yet valid" },
		{ MBEDTLS_X509_BADCERT_REVOKED, "revoked" },
		{ MBEDTLS_X509_BADCERT_KEY_USAGE, "wrong key usage" },
		{ MBEDTLS_X509_BADCERT_EXT_KEY_USAGE, "wrong extended key usage" },
		{ MBEDTLS_X509_BADCERT_NS_CERT_TYPE, "wrong certificate type" },
		{ MBEDTLS_X509_BADCERT_MISSING, "no certificate sent" },
		{ MBEDTLS_X509_BADCERT_BAD_MD, "signed with a hash that is not allowed" },
		{ MBEDTLS_X509_BADCERT_BAD_PK, "key type not allowed" },
		{ MBEDTLS_X509_BADCERT_BAD_KEY, "key too small" },
		{ MBEDTLS_X509_BADCRL_NOT_TRUSTED, "CRL not signed by a trusted CA" },
		{ MBEDTLS_X509_BADCRL_EXPIRED, "CRL expired" },
		{ MBEDTLS_X509_BADCRL_FUTURE, "CRL not yet valid" },
		{ MBEDTLS_X509_BADCERT_SKIP_VERIFY, "verification skipped" },
		{ MBEDTLS_X509_BADCERT_OTHER, "other certificate error" },
	};
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof reasons / sizeof *reasons; i++) {
		if (!(flags & reasons[i].flag))
			continue;
		int n = snprintf(buf + o, len - o, "%s%s", o ? ", " : "", reasons[i].words);
		if (n < 0 || (size_t)n >= len - o)
			break;
		o += (size_t)n;
	}
	if (o == 0)
		snprintf(buf, len, "verification failed (flags 0x%x)", flags);
}

int64_t
dtls_x509_time_unix(const mbedtls_x509_time *t)
{
	struct tm tm = { .tm_year = t->year - 1900,
		.tm_mon = t->mon - 1,
		.tm_mday = t->day,
		.tm_hour = t->hour,
		.tm_min = t->min,
		.tm_sec = t->sec };

	return (int64_t)timegm(&tm);
}

void
dtls_x509_name(const mbedtls_x509_name *name, char *buf, size_t len)
{
	if (mbedtls_x509_dn_gets(buf, len, name) < 0)
		snprintf(buf, len, "?");
}

/*
 * mbedTLS internals and calls that differ between 2.28 and 3.6. Nothing
 * outside this file reads private fields or calls version-dependent APIs.
 */

enum dtls_error
dtls_error_kind(const mbedtls_ssl_context *ssl, int ret)
{
#if DTLS_MBEDTLS3
	int state = ssl->MBEDTLS_PRIVATE(state);
#else
	(void)ssl;
#endif

	switch (ret) {
	case MBEDTLS_ERR_SSL_WANT_READ:
	case MBEDTLS_ERR_SSL_WANT_WRITE:
		return DTLS_E_WANT;
	case MBEDTLS_ERR_SSL_UNKNOWN_IDENTITY:
		return DTLS_E_UNKNOWN_IDENTITY;
	case MBEDTLS_ERR_SSL_TIMEOUT:
		return DTLS_E_TIMEOUT;
	case MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE:
		return DTLS_E_PEER_ALERT;
	case MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY:
		return DTLS_E_PEER_CLOSE;
	case MBEDTLS_ERR_SSL_INVALID_MAC:
		return DTLS_E_BAD_MAC;
	case MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE:
		return DTLS_E_NO_CLIENT_CERT;
	case MBEDTLS_ERR_X509_CERT_VERIFY_FAILED:
		return DTLS_E_CERT_VERIFY;
	case MBEDTLS_ERR_X509_FATAL_ERROR:
		return DTLS_E_CHAIN;
	case MBEDTLS_ERR_SSL_BAD_PROTOCOL_VERSION:
		return DTLS_E_VERSION;
	case MBEDTLS_ERR_SSL_ALLOC_FAILED:
		return DTLS_E_ALLOC;
#if DTLS_MBEDTLS3
	/* 3.x: a rejected or malformed Certificate message. */
	case MBEDTLS_ERR_SSL_BAD_CERTIFICATE:
		return DTLS_E_BAD_CERT;
	case MBEDTLS_ERR_SSL_DECODE_ERROR:
		return state == MBEDTLS_SSL_CLIENT_CERTIFICATE ? DTLS_E_BAD_CERT : DTLS_E_OTHER;
	/* 3.x ends a ClientHello without a usable common suite with a plain handshake failure. */
	case MBEDTLS_ERR_SSL_HANDSHAKE_FAILURE:
		return state == MBEDTLS_SSL_CLIENT_HELLO ? DTLS_E_NO_SHARED_SUITE : DTLS_E_OTHER;
#else
	case MBEDTLS_ERR_SSL_BAD_HS_CERTIFICATE:
		return DTLS_E_BAD_CERT;
	case MBEDTLS_ERR_SSL_NO_CIPHER_CHOSEN:
	case MBEDTLS_ERR_SSL_NO_USABLE_CIPHERSUITE:
		return DTLS_E_NO_SHARED_SUITE;
#endif
	default:
		return DTLS_E_OTHER;
	}
}

bool
dtls_handshake_pending(const mbedtls_ssl_context *ssl)
{
	return ssl->MBEDTLS_PRIVATE(handshake) != NULL;
}

#if DTLS_MBEDTLS3
/* Declared in 3.6's library/ssl_misc.h (not installed); exported like in 2.28. */
void mbedtls_ssl_handshake_wrapup_free_hs_transform(mbedtls_ssl_context *ssl);
#endif

void
dtls_forget_last_flight(mbedtls_ssl_context *ssl)
{
	/* What mbedTLS does itself at the peer's first record after the handshake. */
	if (ssl->MBEDTLS_PRIVATE(handshake) != NULL &&
	    ssl->MBEDTLS_PRIVATE(state) == MBEDTLS_SSL_HANDSHAKE_OVER)
		mbedtls_ssl_handshake_wrapup_free_hs_transform(ssl);
}

unsigned
dtls_badmac_count(const mbedtls_ssl_context *ssl)
{
	return ssl->DTLS_BADMAC_SEEN;
}

uint64_t
dtls_record_top(const mbedtls_ssl_context *ssl)
{
	/* The window top is a 48-bit sequence number of the current epoch. */
	return (uint64_t)ssl->MBEDTLS_PRIVATE(in_epoch) << 48 |
	       (ssl->MBEDTLS_PRIVATE(in_window_top) & 0xffffffffffffULL);
}

unsigned char
dtls_alert_received(const mbedtls_ssl_context *ssl)
{
	return ssl->MBEDTLS_PRIVATE(in_msg)[1];
}

#if DTLS_MBEDTLS3
/* RNG for key checks (blinding only): dtls_init's, or a one-off before dtls_init (unit tests). */
static int
key_rng_run(int (*fn)(void *, int (*)(void *, unsigned char *, size_t), void *), void *arg)
{
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
	int r;

	if (dtls_ready)
		return fn(arg, mbedtls_ctr_drbg_random, &dtls_drbg);
	mbedtls_entropy_init(&entropy);
	mbedtls_ctr_drbg_init(&drbg);
	r = mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, NULL, 0);
	if (r == 0)
		r = fn(arg, mbedtls_ctr_drbg_random, &drbg);
	mbedtls_ctr_drbg_free(&drbg);
	mbedtls_entropy_free(&entropy);
	return r;
}

/* Arguments of key_parse_file and key_check_pair. */
struct key_args {
	mbedtls_pk_context *key;
	const mbedtls_pk_context *pub;
	const char *path;
};

/* key_rng_run body of dtls_key_parse_file. */
static int
key_parse_file(void *p, int (*f_rng)(void *, unsigned char *, size_t), void *p_rng)
{
	struct key_args *a = p;

	return mbedtls_pk_parse_keyfile(a->key, a->path, NULL, f_rng, p_rng);
}

/* key_rng_run body of dtls_key_matches. */
static int
key_check_pair(void *p, int (*f_rng)(void *, unsigned char *, size_t), void *p_rng)
{
	struct key_args *a = p;

	return mbedtls_pk_check_pair(a->pub, a->key, f_rng, p_rng);
}
#endif

int
dtls_key_parse_file(mbedtls_pk_context *key, const char *path)
{
#if DTLS_MBEDTLS3
	struct key_args a = { .key = key, .path = path };

	return key_rng_run(key_parse_file, &a);
#else
	return mbedtls_pk_parse_keyfile(key, path, NULL);
#endif
}

bool
dtls_key_matches(const mbedtls_x509_crt *crt, const mbedtls_pk_context *key)
{
#if DTLS_MBEDTLS3
	struct key_args a = { .key = (mbedtls_pk_context *)(uintptr_t)key, .pub = &crt->pk };

	return key_rng_run(key_check_pair, &a) == 0;
#else
	return mbedtls_pk_check_pair(&crt->pk, key) == 0;
#endif
}

/*
 * Signs once with key: mbedTLS builds the key's precomputed P-256 table at
 * its first signature and keeps it in the key; done here, before any
 * handshake thread signs, the threads only ever read it.
 */
static void
dtls_key_warm(mbedtls_pk_context *key)
{
	unsigned char hash[32] = { 0 }, sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
	size_t n;

	if (!dtls_ready || !mbedtls_pk_can_do(key, MBEDTLS_PK_ECDSA))
		return;
#if DTLS_MBEDTLS3
	(void)mbedtls_pk_sign(key, MBEDTLS_MD_SHA256, hash, sizeof hash, sig, sizeof sig, &n,
	    mbedtls_ctr_drbg_random, &dtls_drbg);
#else
	(void)mbedtls_pk_sign(key, MBEDTLS_MD_SHA256, hash, sizeof hash, sig, &n,
	    mbedtls_ctr_drbg_random, &dtls_drbg);
#endif
}

void
dtls_key_prepare(mbedtls_pk_context *key)
{
#if DTLS_MBEDTLS3
	/* 3.x signs with an EC key through the ECDSA code directly. */
	dtls_key_warm(key);
#else
	/*
	 * Re-wrap the key as MBEDTLS_PK_ECDSA: mbedTLS 2.28's generic EC key
	 * wrapper rebuilds its precomputed P-256 table on every signature,
	 * the ECDSA one keeps it (about 2.3x cheaper handshakes).
	 */
	mbedtls_pk_context ecdsa;

	if (mbedtls_pk_get_type(key) != MBEDTLS_PK_ECKEY)
		return;
	mbedtls_pk_init(&ecdsa);
	if (mbedtls_pk_setup(&ecdsa, mbedtls_pk_info_from_type(MBEDTLS_PK_ECDSA)) == 0 &&
	    mbedtls_ecdsa_from_keypair(mbedtls_pk_ec(ecdsa), mbedtls_pk_ec(*key)) == 0) {
		mbedtls_pk_free(key);
		*key = ecdsa;
	} else
		mbedtls_pk_free(&ecdsa);
	dtls_key_warm(key);
#endif
}

/* Names the handshake message mbedTLS waits for in state. */
static const char *
dtls_state_wait(int state)
{
	switch (state) {
	case MBEDTLS_SSL_HELLO_REQUEST:
	case MBEDTLS_SSL_CLIENT_HELLO:
		return "ClientHello";
	case MBEDTLS_SSL_CLIENT_CERTIFICATE:
		return "the client's Certificate";
	case MBEDTLS_SSL_CLIENT_KEY_EXCHANGE:
		return "ClientKeyExchange";
	case MBEDTLS_SSL_CERTIFICATE_VERIFY:
		return "CertificateVerify";
	case MBEDTLS_SSL_CLIENT_CHANGE_CIPHER_SPEC:
		return "ChangeCipherSpec";
	case MBEDTLS_SSL_CLIENT_FINISHED:
		return "the client's Finished";
	default:
		return "the client's next flight";
	}
}

const char *
dtls_auth_name(enum link_auth auth)
{
	switch (auth) {
	case LINK_AUTH_PSK:
		return "psk";
	case LINK_AUTH_X509:
		return "x509";
	case LINK_AUTH_ANONYMOUS:
		return "anonymous";
	case LINK_AUTH_NONE:
		break;
	}
	return NULL;
}

/*
 * Writes prefix, the PSK identity the client sent in quotes (raw bytes: the
 * log escapes them), a marker when it was longer than what we keep, and
 * suffix into buf; returns the bytes written.
 */
static size_t
reason_with_identity(const struct dtls_link *link, const char *prefix, const char *suffix,
    char *buf, size_t len)
{
	size_t o;
	int n;

	n = snprintf(buf, len, "%s'", prefix);
	o = n < 0 ? 0 : (size_t)n < len ? (size_t)n : len - 1;
	if (o + link->identity_len < len) {
		memcpy(buf + o, link->identity, link->identity_len);
		o += link->identity_len;
	}
	if (link->identity_sent_len > link->identity_len)
		n = snprintf(buf + o, len - o, "' (cut at %u of %zu bytes)%s", link->identity_len,
		    link->identity_sent_len, suffix);
	else
		n = snprintf(buf + o, len - o, "'%s", suffix);
	if (n > 0)
		o += (size_t)n < len - o ? (size_t)n : len - o - 1;
	buf[o] = '\0';
	return o;
}

size_t
dtls_failure_reason(mbedtls_ssl_context *ssl, const struct dtls_link *link, int ret, char *buf,
    size_t len)
{
	char err[128];

	switch (dtls_error_kind(ssl, ret)) {
	case DTLS_E_UNKNOWN_IDENTITY:
		return reason_with_identity(link, "unknown PSK identity ", "", buf, len);
	case DTLS_E_TIMEOUT:
		snprintf(buf, len, "timeout: no answer from the client while waiting for %s",
		    dtls_state_wait(ssl->MBEDTLS_PRIVATE(state)));
		break;
	case DTLS_E_PEER_ALERT:
		dtls_alert_reason(dtls_alert_received(ssl), buf, len);
		break;
	case DTLS_E_PEER_CLOSE:
		snprintf(buf, len, "peer closed the connection during the handshake");
		break;
	case DTLS_E_BAD_MAC:
		if (ssl->MBEDTLS_PRIVATE(state) == MBEDTLS_SSL_HANDSHAKE_OVER)
			snprintf(buf, len, "too many records with a bad MAC (dtls.badmac_limit)");
		else if (link->psk_identity_seen)
			return reason_with_identity(link, "wrong key for PSK identity ",
			    " (bad record MAC on the client's Finished)", buf, len);
		else
			snprintf(buf, len, "bad record MAC during the handshake");
		break;
	case DTLS_E_NO_CLIENT_CERT:
		snprintf(buf, len, "client sent no certificate (x509.verify_client is required)");
		break;
	case DTLS_E_BAD_CERT:
		if (mbedtls_ssl_get_verify_result(ssl) == 0 ||
		    mbedtls_ssl_get_verify_result(ssl) == (uint32_t)-1) {
			snprintf(buf, len, "the client's Certificate message is malformed");
			break;
		}
		/* A usage check failed after the chain verified. */
		__attribute__((fallthrough));
	case DTLS_E_CERT_VERIFY: {
		char why[256];

		dtls_verify_reason(mbedtls_ssl_get_verify_result(ssl), why, sizeof why);
		snprintf(buf, len, "client certificate rejected: %s", why);
		break;
	}
	case DTLS_E_CHAIN:
		snprintf(buf, len,
		    "client certificate rejected: chain too long (more than %d "
		    "intermediate CAs) or unusable",
		    MBEDTLS_X509_MAX_INTERMEDIATE_CA);
		break;
	case DTLS_E_VERSION:
		snprintf(buf, len, "client does not speak DTLS 1.2");
		break;
	case DTLS_E_NO_SHARED_SUITE:
		snprintf(buf, len, "no shared cipher suite");
		break;
	case DTLS_E_ALLOC:
		snprintf(buf, len, "out of memory");
		break;
	case DTLS_E_WANT:
	case DTLS_E_OTHER:
		mbedtls_strerror(ret, err, sizeof err);
		snprintf(buf, len, "%s (-0x%04x) while waiting for %s", err, (unsigned)-ret,
		    dtls_state_wait(ssl->MBEDTLS_PRIVATE(state)));
		break;
	}
	return strlen(buf);
}
