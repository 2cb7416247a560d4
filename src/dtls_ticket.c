/* dtls_ticket.c: session resumption: RFC 5077 tickets and a bounded session-ID cache. */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/gcm.h>
#include <mbedtls/md.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crl.h>
#include <mbedtls/x509_crt.h>

#include "dtls.h"
#include "dtls_compat.h"
#include "log.h"

/*
 * A ticket (and a cache entry, which holds the same bytes) is
 *   version (1) | key epoch (4) | nonce (12) | AES-256-GCM ciphertext | tag (16)
 * over the plain text
 *   issued, unix seconds (8) | kind (1) | identity length (1) | identity |
 *   digest (16) | mbedtls_ssl_session_save bytes
 * where digest is the first 16 bytes of SHA-256 of the PSK (PSK sessions) or
 * of the trust settings (client_ca, crl, verify_client) the client
 * certificate was verified with (certificate sessions): while those are
 * unchanged, resuming checks only the certificate's expiry, not its chain.
 * The key of epoch E (E = unix time / dtls.ticket_lifetime) is
 * HMAC-SHA-256(secret, "coaps-proxy ticket key" | E); the secret is the
 * SHA-256 of dtls.ticket_key_file's key, or 32 random bytes made once per
 * process. Keys of the current and the previous epoch are accepted, so two
 * proxies with one key file (and clocks within the lifetime) accept each
 * other's tickets, and keys rotate with no state to share.
 */
#define TK_VERSION 1
#define TK_HEAD (1 + 4 + 12)
#define TK_TAG 16
#define TK_KEY_DIGEST 16
#define TK_SKEW 300            /* seconds a ticket may seem to come from the future */
#define TK_CACHE_BLOB_MAX 8192 /* bytes of a cache entry (a session with its peer certificate) */

enum tk_kind {
	TK_CERT = 1, /* certificate or anonymous session: the peer certificate is in the session */
	TK_PSK = 2,  /* PSK session: the identity is in the ticket */
};

/* Candidate states of dtls_link.resume. */
enum {
	RESUME_NONE,
	RESUME_PSK,
	RESUME_CERT,
};

struct cache_entry {
	uint8_t id[32];
	uint8_t id_len;
	uint16_t len;
	unsigned char *blob;
};

static int (*tk_rng)(void *, unsigned char *, size_t);
static void *tk_rng_ctx;
static unsigned char tk_random_secret[32];
static bool tk_random_ready;
/* The link whose datagram mbedTLS reads now, in this thread (the handshake threads too). */
static _Thread_local struct dtls_link *tk_link;
/* The session cache (and its blob buffers): the loop and the handshake threads use it. */
static pthread_mutex_t tk_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cache_entry *tk_cache;
static size_t tk_cache_size;

/* The secret tickets of cfg are sealed with. */
static const unsigned char *
tk_secret(const struct proxy_config *cfg)
{
	return cfg->has_ticket_secret ? cfg->ticket_secret : tk_random_secret;
}

/* Derives the AES-256 key of one epoch. */
static int
tk_key(const struct proxy_config *cfg, uint32_t epoch, unsigned char key[32])
{
	static const char label[] = "coaps-proxy ticket key";
	unsigned char msg[sizeof label - 1 + 4];

	memcpy(msg, label, sizeof label - 1);
	msg[sizeof label - 1] = (unsigned char)(epoch >> 24);
	msg[sizeof label] = (unsigned char)(epoch >> 16);
	msg[sizeof label + 1] = (unsigned char)(epoch >> 8);
	msg[sizeof label + 2] = (unsigned char)epoch;
	return mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), tk_secret(cfg), 32,
	    msg, sizeof msg, key);
}

/* The first TK_KEY_DIGEST bytes of SHA-256 of a PSK. */
static int
tk_psk_digest(const struct psk_conf *psk, unsigned char out[TK_KEY_DIGEST])
{
	unsigned char d[32];

	if (mbedtls_md(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), psk->key, psk->key_len, d) !=
	    0)
		return -1;
	memcpy(out, d, TK_KEY_DIGEST);
	return 0;
}

/* Seals session (with the identity of the handshaking link) into buf; 0 and *len, or -1. */
static int
tk_seal(const struct proxy_config *cfg, const mbedtls_ssl_session *session, unsigned char *buf,
    size_t size, size_t *len)
{
	const struct dtls_link *link = tk_link;
	const struct psk_conf *psk = NULL;
	unsigned char key[32], *p = buf + TK_HEAD;
	mbedtls_gcm_context gcm;
	uint64_t now = (uint64_t)time(NULL);
	uint32_t epoch = (uint32_t)(now / cfg->ticket_lifetime);
	size_t idlen = 0, n, plain;
	int r;

	/* A PSK session: a full handshake's identity, or that of the session it resumes. */
	if (link != NULL && link->psk_identity_seen && !link->psk_identity_unknown)
		idlen = link->identity_len;
	else if (link != NULL && link->resume == RESUME_PSK &&
	         memcmp(session->MBEDTLS_PRIVATE(master), link->resume_tag,
	             sizeof link->resume_tag) == 0)
		idlen = link->resume_identity_len;
	else
		link = NULL; /* not a PSK session */
	if (link != NULL) {
		psk = config_psk_find(cfg, link->identity, idlen);
		if (psk == NULL || idlen > 255)
			return -1;
	}
	if (size < TK_HEAD + 8 + 2 + idlen + TK_KEY_DIGEST + TK_TAG + 1)
		return -1;
	buf[0] = TK_VERSION;
	buf[1] = (unsigned char)(epoch >> 24);
	buf[2] = (unsigned char)(epoch >> 16);
	buf[3] = (unsigned char)(epoch >> 8);
	buf[4] = (unsigned char)epoch;
	if (tk_rng(tk_rng_ctx, buf + 5, 12) != 0)
		return -1;
	for (int i = 7; i >= 0; i--, now >>= 8)
		p[i] = (unsigned char)now;
	p += 8;
	*p++ = psk != NULL ? TK_PSK : TK_CERT;
	*p++ = (unsigned char)idlen;
	if (psk != NULL) {
		memcpy(p, link->identity, idlen);
		p += idlen;
		if (tk_psk_digest(psk, p) < 0)
			return -1;
	} else
		memcpy(p, cfg->trust_digest, TK_KEY_DIGEST);
	p += TK_KEY_DIGEST;
	if (mbedtls_ssl_session_save(session, p, (size_t)(buf + size - TK_TAG - p), &n) != 0)
		return -1;
	plain = (size_t)(p - (buf + TK_HEAD)) + n;
	if (tk_key(cfg, epoch, key) != 0)
		return -1;
	mbedtls_gcm_init(&gcm);
	r = mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, key, 256);
	if (r == 0)
		r = mbedtls_gcm_crypt_and_tag(&gcm, MBEDTLS_GCM_ENCRYPT, plain, buf + 5, 12, buf,
		    TK_HEAD, buf + TK_HEAD, buf + TK_HEAD, TK_TAG, buf + TK_HEAD + plain);
	mbedtls_gcm_free(&gcm);
	mbedtls_platform_zeroize(key, sizeof key);
	if (r != 0)
		return -1;
	*len = TK_HEAD + plain + TK_TAG;
	return 0;
}

/* True if cfg enables the cipher suite id. */
static bool
tk_suite_enabled(const struct proxy_config *cfg, int id)
{
	for (const int *s = cfg->ciphersuites; *s != 0; s++)
		if (*s == id)
			return true;
	return false;
}

/*
 * Tells whether cfg still accepts the credentials a sealed session was made
 * with: the PSK identity with the same key, or a client certificate that
 * verifies against today's client_ca and CRL. Why not, in *why.
 */
static bool
tk_still_valid(const struct proxy_config *cfg, unsigned kind, const unsigned char *id, size_t idlen,
    const unsigned char *digest, const mbedtls_ssl_session *session, const char **why)
{
	const mbedtls_x509_crt *peer = NULL;
	unsigned char d[TK_KEY_DIGEST];
	uint32_t flags = 0;

	if (!tk_suite_enabled(cfg, session->MBEDTLS_PRIVATE(ciphersuite))) {
		*why = "its cipher suite is no longer enabled";
		return false;
	}
	if (kind == TK_PSK) {
		const struct psk_conf *psk = config_psk_find(cfg, id, idlen);

		if (psk == NULL) {
			*why = "its PSK identity is no longer configured";
			return false;
		}
		if (tk_psk_digest(psk, d) < 0 || memcmp(d, digest, TK_KEY_DIGEST) != 0) {
			*why = "the key of its PSK identity changed";
			return false;
		}
		return true;
	}
	if (cfg->x509 == NULL) {
		*why = "certificates are no longer configured";
		return false;
	}
#if defined(MBEDTLS_X509_CRT_PARSE_C) && defined(MBEDTLS_SSL_KEEP_PEER_CERTIFICATE)
	peer = session->MBEDTLS_PRIVATE(peer_cert);
#endif
	if (cfg->x509->verify_client == VERIFY_CLIENT_NONE)
		return true;
	if (peer == NULL) {
		if (cfg->x509->verify_client == VERIFY_CLIENT_OPTIONAL)
			return true;
		*why = "it has no client certificate and one is now required";
		return false;
	}
	/* Verified when the session was made, against the same trust settings. */
	if (memcmp(digest, cfg->trust_digest, TK_KEY_DIGEST) == 0 &&
	    session->MBEDTLS_PRIVATE(verify_result) == 0 &&
	    !mbedtls_x509_time_is_past(&peer->valid_to))
		return true;
	if (!cfg->x509->has_client_ca ||
	    mbedtls_x509_crt_verify((mbedtls_x509_crt *)(uintptr_t)peer, &cfg->x509->client_ca,
	        cfg->x509->has_crl ? &cfg->x509->crl : NULL, NULL, &flags, NULL, NULL) != 0) {
		*why = "its client certificate is no longer trusted";
		return false;
	}
	return true;
}

/* Logs that an offered session is refused (the client gets a full handshake). */
static void
tk_log_refused(unsigned kind, const unsigned char *id, size_t idlen, const char *what,
    const char *why)
{
	struct log_event ev = LOG_EVENT_INIT;
	char peer[64];

	ev.event = "resumption-refused";
	if (tk_link != NULL) {
		ev.session = tk_link->session_id;
		ev.peer = addr_format(&tk_link->peer.sa, peer, sizeof peer);
	}
	ev.auth = kind == TK_PSK ? "psk" : "x509";
	if (kind == TK_PSK) {
		ev.identity = (const char *)id;
		ev.identity_len = idlen;
	}
	log_event_add(&ev, "offered", what, false);
	ev.reason = why;
	log_event(LOG_LVL_INFO, &ev);
}

/*
 * Opens a sealed session into *session (initialised by the caller) and
 * checks it against cfg; on success notes the candidate on the handshaking
 * link. 0, or -1 (the client gets a full handshake).
 */
static int
tk_open(const struct proxy_config *cfg, unsigned char *buf, size_t len,
    mbedtls_ssl_session *session, const char *what)
{
	unsigned char key[32], *p = buf + TK_HEAD, *end;
	const unsigned char *id, *digest = NULL;
	mbedtls_gcm_context gcm;
	uint64_t now = (uint64_t)time(NULL), issued = 0;
	uint32_t epoch, cur = (uint32_t)(now / cfg->ticket_lifetime);
	size_t plain, idlen;
	unsigned kind;
	const char *why = NULL;
	int r;

	if (len < TK_HEAD + 8 + 2 + TK_TAG || buf[0] != TK_VERSION)
		return -1;
	epoch = (uint32_t)buf[1] << 24 | (uint32_t)buf[2] << 16 | (uint32_t)buf[3] << 8 | buf[4];
	if (epoch != cur && epoch + 1 != cur)
		return -1; /* older than a lifetime, or another key's */
	plain = len - TK_HEAD - TK_TAG;
	if (tk_key(cfg, epoch, key) != 0)
		return -1;
	mbedtls_gcm_init(&gcm);
	r = mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, key, 256);
	if (r == 0)
		r = mbedtls_gcm_auth_decrypt(&gcm, plain, buf + 5, 12, buf, TK_HEAD,
		    buf + TK_HEAD + plain, TK_TAG, buf + TK_HEAD, buf + TK_HEAD);
	mbedtls_gcm_free(&gcm);
	mbedtls_platform_zeroize(key, sizeof key);
	if (r != 0)
		return -1; /* not ours: another key, or altered */
	end = buf + TK_HEAD + plain;
	for (int i = 0; i < 8; i++)
		issued = issued << 8 | p[i];
	p += 8;
	kind = *p++;
	idlen = *p++;
	id = p;
	if ((kind != TK_PSK && kind != TK_CERT) || (kind == TK_CERT && idlen != 0) ||
	    idlen > CONFIG_PSK_IDENTITY_MAX || (size_t)(end - p) < idlen + TK_KEY_DIGEST)
		return -1;
	digest = p + idlen;
	p += idlen + TK_KEY_DIGEST;
	if (issued > now + TK_SKEW || now - issued >= cfg->ticket_lifetime)
		return -1;
	if (mbedtls_ssl_session_load(session, p, (size_t)(end - p)) != 0)
		return -1;
	if (!tk_still_valid(cfg, kind, id, idlen, digest, session, &why)) {
		tk_log_refused(kind, id, idlen, what, why);
		return -1;
	}
	if (tk_link != NULL) {
		struct dtls_link *link = tk_link;
		const unsigned char *master = session->MBEDTLS_PRIVATE(master);

		link->resume = kind == TK_PSK ? RESUME_PSK : RESUME_CERT;
		memcpy(link->resume_tag, master, sizeof link->resume_tag);
		link->resume_identity_len = 0;
		if (kind == TK_PSK) {
			/* Unproven until the abbreviated handshake completes: no length yet. */
			memcpy(link->identity, id, idlen);
			link->resume_identity_len = (uint8_t)idlen;
		}
	}
	return 0;
}

/* mbedTLS ticket writer: seals the new session. */
static int
tk_write_cb(void *p, const mbedtls_ssl_session *session, unsigned char *start,
    const unsigned char *end, size_t *tlen, uint32_t *lifetime)
{
	const struct proxy_config *cfg = p;

	*tlen = 0;
	*lifetime = cfg->ticket_lifetime;
	if (tk_seal(cfg, session, start, (size_t)(end - start), tlen) < 0)
		return MBEDTLS_ERR_SSL_INTERNAL_ERROR;
	return 0;
}

/* mbedTLS ticket parser: opens and checks a ticket a client offers. */
static int
tk_parse_cb(void *p, mbedtls_ssl_session *session, unsigned char *buf, size_t len)
{
	mbedtls_ssl_session tmp;

	mbedtls_ssl_session_init(&tmp);
	if (tk_open(p, buf, len, &tmp, "ticket") < 0) {
		mbedtls_ssl_session_free(&tmp);
		return MBEDTLS_ERR_SSL_INVALID_MAC;
	}
	mbedtls_ssl_session_free(session);
	*session = tmp; /* moved: tmp's allocations now belong to session */
	return 0;
}

/* The cache slot of a session ID. */
static struct cache_entry *
cache_slot(const unsigned char *id, size_t id_len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < id_len; i++)
		h = (h ^ id[i]) * 16777619u;
	return &tk_cache[h % tk_cache_size];
}

/* Drops every cache entry and the table. */
static void
cache_clear(void)
{
	for (size_t i = 0; tk_cache != NULL && i < tk_cache_size; i++)
		free(tk_cache[i].blob);
	free(tk_cache);
	tk_cache = NULL;
	tk_cache_size = 0;
}

/* Stores a sealed session under its ID (one slot per ID hash: a newer one replaces). */
static int
cache_set_locked(const struct proxy_config *cfg, const unsigned char *id, size_t id_len,
    const mbedtls_ssl_session *session)
{
	static unsigned char buf[TK_CACHE_BLOB_MAX];
	struct cache_entry *e;
	size_t n;

	if (id_len == 0 || id_len > sizeof e->id || cfg->session_cache == 0)
		return -1;
	if (tk_cache == NULL) {
		/* Made at the first completed handshake, never before a cookie. */
		if ((tk_cache = calloc(cfg->session_cache, sizeof *tk_cache)) == NULL)
			return -1;
		tk_cache_size = cfg->session_cache;
	}
	if (tk_seal(cfg, session, buf, sizeof buf, &n) < 0) {
		log_debug("session cache: cannot seal a session");
		return -1;
	}
	e = cache_slot(id, id_len);
	free(e->blob);
	e->blob = malloc(n);
	e->len = 0;
	if (e->blob == NULL)
		return -1;
	memcpy(e->blob, buf, n);
	memcpy(e->id, id, id_len);
	e->id_len = (uint8_t)id_len;
	e->len = (uint16_t)n;
	return 0;
}

/* Finds a session ID in the cache and opens its entry into *session. */
static int
cache_get_locked(const struct proxy_config *cfg, const unsigned char *id, size_t id_len,
    mbedtls_ssl_session *session)
{
	static unsigned char buf[TK_CACHE_BLOB_MAX];
	struct cache_entry *e;

	if (tk_cache == NULL || id_len == 0 || id_len > sizeof e->id)
		return -1;
	e = cache_slot(id, id_len);
	if (e->blob == NULL || e->id_len != id_len || memcmp(e->id, id, id_len) != 0) {
		log_debug("session cache: no entry for the session ID");
		return -1;
	}
	memcpy(buf, e->blob, e->len);
	if (tk_open(cfg, buf, e->len, session, "session-id") < 0) {
		free(e->blob); /* expired or revoked: it will not do later either */
		e->blob = NULL;
		e->len = 0;
		return -1;
	}
	return 0;
}

/* cache_set_locked under the cache's lock. */
static int
cache_set(const struct proxy_config *cfg, const unsigned char *id, size_t id_len,
    const mbedtls_ssl_session *session)
{
	int r;

	pthread_mutex_lock(&tk_lock);
	r = cache_set_locked(cfg, id, id_len, session);
	pthread_mutex_unlock(&tk_lock);
	return r;
}

/* cache_get_locked under the cache's lock. */
static int
cache_get(const struct proxy_config *cfg, const unsigned char *id, size_t id_len,
    mbedtls_ssl_session *session)
{
	int r;

	pthread_mutex_lock(&tk_lock);
	r = cache_get_locked(cfg, id, id_len, session);
	pthread_mutex_unlock(&tk_lock);
	return r;
}

#if DTLS_MBEDTLS3
/* mbedTLS 3 cache writer. */
static int
cache_set_cb(void *p, const unsigned char *id, size_t id_len, const mbedtls_ssl_session *session)
{
	return cache_set(p, id, id_len, session) < 0 ? MBEDTLS_ERR_SSL_CACHE_ENTRY_NOT_FOUND : 0;
}

/* mbedTLS 3 cache reader (mbedTLS checks the cipher suite itself). */
static int
cache_get_cb(void *p, const unsigned char *id, size_t id_len, mbedtls_ssl_session *session)
{
	return cache_get(p, id, id_len, session) < 0 ? MBEDTLS_ERR_SSL_CACHE_ENTRY_NOT_FOUND : 0;
}
#else
/* mbedTLS 2 cache writer. */
static int
cache_set_cb(void *p, const mbedtls_ssl_session *session)
{
	return cache_set(p, session->id, session->id_len, session) < 0 ? 1 : 0;
}

/* mbedTLS 2 cache reader: session holds the ID (2.28 looks up before it picks a suite). */
static int
cache_get_cb(void *p, mbedtls_ssl_session *session)
{
	mbedtls_ssl_session tmp;

	mbedtls_ssl_session_init(&tmp);
	if (cache_get(p, session->id, session->id_len, &tmp) < 0 ||
	    (session->ciphersuite != 0 && tmp.ciphersuite != session->ciphersuite) ||
	    tmp.id_len != session->id_len) {
		if (tk_link != NULL) {
			tk_link->resume = RESUME_NONE;
			tk_link->resume_identity_len = 0;
		}
		mbedtls_ssl_session_free(&tmp);
		return 1;
	}
	mbedtls_ssl_session_free(session);
	*session = tmp;
	return 0;
}
#endif

/* Digests what a client certificate is verified with under cfg into cfg->trust_digest. */
static int
tk_trust_digest(struct proxy_config *cfg)
{
	mbedtls_md_context_t md;
	unsigned char d[32];
	int r;

	mbedtls_md_init(&md);
	r = mbedtls_md_setup(&md, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), 0);
	if (r == 0)
		r = mbedtls_md_starts(&md);
	if (r == 0 && cfg->x509 != NULL) {
		const struct x509_conf *x = cfg->x509;
		unsigned char mode = (unsigned char)x->verify_client;

		r = mbedtls_md_update(&md, &mode, 1);
		for (const mbedtls_x509_crt *c = &x->client_ca;
		     r == 0 && x->has_client_ca && c != NULL; c = c->next)
			r = mbedtls_md_update(&md, c->raw.p, c->raw.len);
		r = r != 0 ? r : mbedtls_md_update(&md, (const unsigned char *)"|", 1);
		for (const mbedtls_x509_crl *c = &x->crl; r == 0 && x->has_crl && c != NULL;
		     c = c->next)
			r = mbedtls_md_update(&md, c->raw.p, c->raw.len);
	}
	if (r == 0)
		r = mbedtls_md_finish(&md, d);
	mbedtls_md_free(&md);
	memcpy(cfg->trust_digest, d, sizeof cfg->trust_digest);
	return r == 0 ? 0 : -1;
}

int
dtls_resume_conf(struct proxy_config *cfg, int (*f_rng)(void *, unsigned char *, size_t),
    void *p_rng, char **cause)
{
	if (tk_rng != f_rng || tk_rng_ctx != p_rng) { /* the same every time: threads read them */
		tk_rng = f_rng;
		tk_rng_ctx = p_rng;
	}
	if (!tk_random_ready) {
		if (f_rng(p_rng, tk_random_secret, sizeof tk_random_secret) != 0) {
			*cause = strdup("cannot make the session ticket key");
			return -1;
		}
		tk_random_ready = true;
	}
	if (tk_trust_digest(cfg) < 0) {
		*cause = strdup("cannot digest the client certificate settings");
		return -1;
	}
	/* A reload that changes the cache size starts an empty cache. */
	pthread_mutex_lock(&tk_lock);
	if (tk_cache != NULL && tk_cache_size != cfg->session_cache)
		cache_clear();
	pthread_mutex_unlock(&tk_lock);
	if (cfg->session_tickets)
		mbedtls_ssl_conf_session_tickets_cb(&cfg->ssl, tk_write_cb, tk_parse_cb, cfg);
	if (cfg->session_cache > 0)
		mbedtls_ssl_conf_session_cache(&cfg->ssl, cfg, cache_get_cb, cache_set_cb);
	return 0;
}

void
dtls_resume_link(struct dtls_link *link)
{
	tk_link = link;
}

bool
dtls_resume_finish(mbedtls_ssl_context *ssl, struct dtls_link *link)
{
	const mbedtls_ssl_session *session = ssl->MBEDTLS_PRIVATE(session);
	bool resumed = link->resume != RESUME_NONE && session != NULL &&
	               memcmp(session->MBEDTLS_PRIVATE(master), link->resume_tag,
	                   sizeof link->resume_tag) == 0;

	if (resumed && link->resume == RESUME_PSK) {
		link->psk_identity_seen = true;
		link->psk_identity_unknown = false;
		link->identity_len = link->resume_identity_len;
		link->identity_sent_len = link->resume_identity_len;
	}
	link->resume_identity_len = 0;
	link->resume = RESUME_NONE;
	mbedtls_platform_zeroize(link->resume_tag, sizeof link->resume_tag);
	return resumed;
}

void
dtls_resume_shutdown(void)
{
	cache_clear();
	mbedtls_platform_zeroize(tk_random_secret, sizeof tk_random_secret);
	tk_random_ready = false;
	tk_link = NULL;
}
