/* inproc.c: the handshake floor: mbedTLS server and client in one process over memory. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_cookie.h>

#include "../tools/tls-compat.h"
#include "bench.h"

#define MEM_SLOTS 16
#define MEM_DGRAM 17408
#define MAX_STEPS 200 /* handshake rounds before giving up */

/* A one-way queue of datagrams. */
struct memq {
	unsigned head, n;
	size_t len[MEM_SLOTS];
	uint8_t buf[MEM_SLOTS][MEM_DGRAM];
};

/* One end: its queue to read from, the queue to write to, a never-expiring timer. */
struct memend {
	struct memq *rx, *tx;
	bool armed;
};

/* Queue a datagram. */
static int
mem_send(void *ctx, const unsigned char *buf, size_t len)
{
	struct memq *q = ((struct memend *)ctx)->tx;
	unsigned i;

	if (q->n == MEM_SLOTS || len > MEM_DGRAM)
		return (int)len; /* dropped, like a full socket buffer */
	i = (q->head + q->n) % MEM_SLOTS;
	memcpy(q->buf[i], buf, len);
	q->len[i] = len;
	q->n++;
	return (int)len;
}

/* Take the next datagram. */
static int
mem_recv(void *ctx, unsigned char *buf, size_t len)
{
	struct memq *q = ((struct memend *)ctx)->rx;
	size_t n;

	if (q->n == 0)
		return MBEDTLS_ERR_SSL_WANT_READ;
	n = q->len[q->head] < len ? q->len[q->head] : len;
	memcpy(buf, q->buf[q->head], n);
	q->head = (q->head + 1) % MEM_SLOTS;
	q->n--;
	return (int)n;
}

/* Timer that never expires: nothing is lost in memory. */
static void
mem_timer_set(void *ctx, uint32_t int_ms, uint32_t fin_ms)
{
	(void)int_ms;
	((struct memend *)ctx)->armed = fin_ms != 0;
}

/* Timer state: -1 cancelled, 0 running. */
static int
mem_timer_get(void *ctx)
{
	return ((struct memend *)ctx)->armed ? 0 : -1;
}

/* Everything one in-process run needs. */
struct inproc {
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
	mbedtls_ssl_config sconf, cconf;
	mbedtls_ssl_cookie_ctx cookie;
	mbedtls_x509_crt scert, ccert, ca;
	mbedtls_pk_context skey, ckey;
	mbedtls_ssl_context srv, cli;
	struct memq c2s, s2c;
	struct memend send_, cend;
	int suites[2];
};

/* Print an mbedTLS error with context and return -1. */
static int
inproc_err(const char *what, int ret)
{
	char buf[128];

	tls_strerror(ret, buf, sizeof(buf));
	fprintf(stderr, "coaps-bench: %s: %s\n", what, buf);
	return -1;
}

/* Common settings of both configurations. */
static void
inproc_conf_common(struct inproc *p, mbedtls_ssl_config *conf)
{
	mbedtls_ssl_conf_rng(conf, mbedtls_ctr_drbg_random, &p->drbg);
	tc_conf_dtls12_p256(conf);
	mbedtls_ssl_conf_ciphersuites(conf, p->suites);
}

/* Build both configurations and contexts; 0 or -1. */
static int
inproc_setup(struct inproc *p, const struct bench_opts *o, bool ecdsa)
{
	int ret;

	if ((ret = mbedtls_ctr_drbg_seed(&p->drbg, mbedtls_entropy_func, &p->entropy,
	         (const unsigned char *)"inproc", 6)) != 0)
		return inproc_err("drbg", ret);
	if ((ret = mbedtls_ssl_config_defaults(&p->sconf, MBEDTLS_SSL_IS_SERVER,
	         MBEDTLS_SSL_TRANSPORT_DATAGRAM, MBEDTLS_SSL_PRESET_DEFAULT)) != 0 ||
	    (ret = mbedtls_ssl_config_defaults(&p->cconf, MBEDTLS_SSL_IS_CLIENT,
	         MBEDTLS_SSL_TRANSPORT_DATAGRAM, MBEDTLS_SSL_PRESET_DEFAULT)) != 0)
		return inproc_err("config", ret);
	p->suites[0] = tls_suite_id(o->suite ? o->suite
	                            : ecdsa  ? "TLS-ECDHE-ECDSA-WITH-AES-128-CCM-8"
	                                     : "TLS-PSK-WITH-AES-128-CCM-8");
	p->suites[1] = 0;
	if (p->suites[0] == 0) {
		fprintf(stderr, "coaps-bench: unknown cipher suite\n");
		return -1;
	}
	inproc_conf_common(p, &p->sconf);
	inproc_conf_common(p, &p->cconf);
	if ((ret = mbedtls_ssl_cookie_setup(&p->cookie, mbedtls_ctr_drbg_random, &p->drbg)) != 0)
		return inproc_err("cookie", ret);
	mbedtls_ssl_conf_dtls_cookies(&p->sconf, mbedtls_ssl_cookie_write, mbedtls_ssl_cookie_check,
	    &p->cookie);
	if (ecdsa) {
		if ((ret = mbedtls_x509_crt_parse_file(&p->scert, o->cert)) != 0)
			return inproc_err(o->cert, ret);
		if ((ret = tls_load_key(&p->skey, o->key, NULL, NULL)) != 0)
			return inproc_err(o->key, ret);
		if ((ret = mbedtls_x509_crt_parse_file(&p->ca, o->ca)) != 0)
			return inproc_err(o->ca, ret);
		if ((ret = mbedtls_x509_crt_parse_file(&p->ccert, o->client_cert)) != 0)
			return inproc_err(o->client_cert, ret);
		if ((ret = tls_load_key(&p->ckey, o->client_key, NULL, NULL)) != 0)
			return inproc_err(o->client_key, ret);
		if ((ret = mbedtls_ssl_conf_own_cert(&p->sconf, &p->scert, &p->skey)) != 0 ||
		    (ret = mbedtls_ssl_conf_own_cert(&p->cconf, &p->ccert, &p->ckey)) != 0)
			return inproc_err("own cert", ret);
		mbedtls_ssl_conf_ca_chain(&p->sconf, &p->ca, NULL);
		mbedtls_ssl_conf_ca_chain(&p->cconf, &p->ca, NULL);
		mbedtls_ssl_conf_authmode(&p->sconf, MBEDTLS_SSL_VERIFY_REQUIRED);
		mbedtls_ssl_conf_authmode(&p->cconf, MBEDTLS_SSL_VERIFY_REQUIRED);
	} else {
		const unsigned char *id = (const unsigned char *)o->psk_identity;
		if ((ret = mbedtls_ssl_conf_psk(&p->sconf, o->psk, o->psk_len, id,
		         strlen(o->psk_identity))) != 0 ||
		    (ret = mbedtls_ssl_conf_psk(&p->cconf, o->psk, o->psk_len, id,
		         strlen(o->psk_identity))) != 0)
			return inproc_err("psk", ret);
	}
	if ((ret = mbedtls_ssl_setup(&p->srv, &p->sconf)) != 0 ||
	    (ret = mbedtls_ssl_setup(&p->cli, &p->cconf)) != 0)
		return inproc_err("ssl setup", ret);
	p->send_.rx = &p->c2s;
	p->send_.tx = &p->s2c;
	p->cend.rx = &p->s2c;
	p->cend.tx = &p->c2s;
	mbedtls_ssl_set_bio(&p->srv, &p->send_, mem_send, mem_recv, NULL);
	mbedtls_ssl_set_bio(&p->cli, &p->cend, mem_send, mem_recv, NULL);
	mbedtls_ssl_set_timer_cb(&p->srv, &p->send_, mem_timer_set, mem_timer_get);
	mbedtls_ssl_set_timer_cb(&p->cli, &p->cend, mem_timer_set, mem_timer_get);
	if (ecdsa && o->server_name != NULL)
		mbedtls_ssl_set_hostname(&p->cli, o->server_name);
	return 0;
}

/* Run one full handshake (cookie exchange included), timing each side; 0 or -1. */
static int
inproc_handshake(struct inproc *p, uint64_t *srv_ns, uint64_t *cli_ns)
{
	static const unsigned char tid[] = "client-1";
	bool sdone = false, cdone = false;
	uint64_t t;
	int ret;

	p->c2s.n = p->s2c.n = 0;
	mbedtls_ssl_session_reset(&p->srv);
	mbedtls_ssl_session_reset(&p->cli);
	mbedtls_ssl_set_client_transport_id(&p->srv, tid, sizeof(tid));
	for (int step = 0; step < MAX_STEPS && !(sdone && cdone); step++) {
		if (!cdone) {
			t = stats_now_ns();
			ret = mbedtls_ssl_handshake(&p->cli);
			*cli_ns += stats_now_ns() - t;
			if (ret == 0)
				cdone = true;
			else if (ret != MBEDTLS_ERR_SSL_WANT_READ &&
			         ret != MBEDTLS_ERR_SSL_WANT_WRITE)
				return inproc_err("client handshake", ret);
		}
		if (!sdone) {
			t = stats_now_ns();
			ret = mbedtls_ssl_handshake(&p->srv);
			if (ret == MBEDTLS_ERR_SSL_HELLO_VERIFY_REQUIRED) {
				mbedtls_ssl_session_reset(&p->srv);
				mbedtls_ssl_set_client_transport_id(&p->srv, tid, sizeof(tid));
				ret = MBEDTLS_ERR_SSL_WANT_READ;
			}
			*srv_ns += stats_now_ns() - t;
			if (ret == 0)
				sdone = true;
			else if (ret != MBEDTLS_ERR_SSL_WANT_READ &&
			         ret != MBEDTLS_ERR_SSL_WANT_WRITE)
				return inproc_err("server handshake", ret);
		}
	}
	if (!(sdone && cdone)) {
		fprintf(stderr, "coaps-bench: in-process handshake did not finish\n");
		return -1;
	}
	return 0;
}

/* Free everything in p. */
static void
inproc_free(struct inproc *p)
{
	mbedtls_ssl_free(&p->srv);
	mbedtls_ssl_free(&p->cli);
	mbedtls_ssl_config_free(&p->sconf);
	mbedtls_ssl_config_free(&p->cconf);
	mbedtls_ssl_cookie_free(&p->cookie);
	mbedtls_x509_crt_free(&p->scert);
	mbedtls_x509_crt_free(&p->ccert);
	mbedtls_x509_crt_free(&p->ca);
	mbedtls_pk_free(&p->skey);
	mbedtls_pk_free(&p->ckey);
	mbedtls_ctr_drbg_free(&p->drbg);
	mbedtls_entropy_free(&p->entropy);
}

/* Run N in-process handshakes and report the server-side rate (the floor). */
int
inproc_run(const struct bench_opts *o)
{
	struct inproc *p = calloc(1, sizeof(*p));
	struct bench_result *r = calloc(1, sizeof(*r));
	bool ecdsa = o->cert != NULL;
	uint64_t srv_ns = 0, cli_ns = 0;
	double t0, cpu0;
	int rc = 1;

	if (p == NULL || r == NULL)
		goto out;
	if (ecdsa &&
	    (o->key == NULL || o->ca == NULL || o->client_cert == NULL || o->client_key == NULL)) {
		fprintf(stderr,
		    "coaps-bench: --inprocess-handshakes with --cert needs --key, --ca, "
		    "--client-cert and --client-key\n");
		goto out;
	}
	if (!ecdsa && o->psk_len == 0) {
		fprintf(stderr, "coaps-bench: --inprocess-handshakes needs --cert... or --psk\n");
		goto out;
	}
	mbedtls_entropy_init(&p->entropy);
	mbedtls_ctr_drbg_init(&p->drbg);
	mbedtls_ssl_config_init(&p->sconf);
	mbedtls_ssl_config_init(&p->cconf);
	mbedtls_ssl_cookie_init(&p->cookie);
	mbedtls_x509_crt_init(&p->scert);
	mbedtls_x509_crt_init(&p->ccert);
	mbedtls_x509_crt_init(&p->ca);
	mbedtls_pk_init(&p->skey);
	mbedtls_pk_init(&p->ckey);
	mbedtls_ssl_init(&p->srv);
	mbedtls_ssl_init(&p->cli);
	if (inproc_setup(p, o, ecdsa) != 0)
		goto done;
	t0 = stats_now();
	cpu0 = stats_cpu_s();
	for (unsigned i = 0; i < o->inprocess; i++) {
		if (inproc_handshake(p, &srv_ns, &cli_ns) != 0) {
			r->errors++;
			r->err_handshake++;
			goto done;
		}
		r->handshakes++;
	}
	r->mode = ecdsa ? "inprocess-ecdsa" : "inprocess-psk";
	r->sessions = 1;
	r->elapsed_s = stats_now() - t0;
	r->client_cpu_s = stats_cpu_s() - cpu0;
	r->server_rss_kb = r->server_rss_start_kb = -1;
	r->server_cpu_s = -1;
	if (r->handshakes > 0 && srv_ns > 0) {
		r->handshakes_per_s = (double)r->handshakes / ((double)srv_ns / 1e9);
		r->server_us_per_hs = (double)srv_ns / 1e3 / (double)r->handshakes;
		r->client_us_per_hs = (double)cli_ns / 1e3 / (double)r->handshakes;
	}
	rc = stats_report(r, o) == 0 ? 0 : 1;
done:
	inproc_free(p);
out:
	free(p);
	free(r);
	return rc;
}
