/* bench.h: shared declarations of the coaps-bench load generator and its helpers. */
#ifndef BENCH_H
#define BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include <mbedtls/ecp.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#define BENCH_MAX_SRC_ADDRS 64
#define BENCH_MAX_URI 256
#define BENCH_MAX_PSK 64
#define BENCH_MAX_SIZE 8192

/* Everything the command line can ask for. */
struct bench_opts {
	const char *target; /* HOST:PORT of the server under test */
	bool plain;         /* plain CoAP instead of DTLS */
	const char *psk_identity;
	unsigned char psk[BENCH_MAX_PSK];
	size_t psk_len;
	const char *cert, *key, *ca;          /* client certificate mode / server files */
	const char *client_cert, *client_key; /* in-process: client side */
	const char *server_name;              /* expected server certificate name */
	unsigned sessions;
	unsigned inflight;
	double duration;
	uint64_t count;
	uint64_t per_session; /* requests per session, then idle */
	bool post;
	unsigned size;
	const char *path;
	bool handshake_only;
	bool resume; /* --handshake-only: resume each session's previous one */
	const char *proxy_uri;
	long server_pid;
	const char *json;
	const char *suite;
	char *src_addrs[BENCH_MAX_SRC_ADDRS];
	unsigned n_src_addrs;
	unsigned ramp;
	double hold;        /* keep sessions open this long before RSS */
	unsigned wake_rate; /* after the hold: one more request per session, N/s */
	double rate;        /* requests per second over all sessions (0: back to back) */
	unsigned loss;      /* percent of datagrams dropped each way, at random */
	unsigned long seed; /* of the --loss generator */
	const char *listen;
	const char *to;
	unsigned inprocess; /* in-process handshakes to run */
	const char *label;  /* free text put into the JSON "label" */
	bool quiet;
};

/* A log-linear latency histogram (microseconds), no allocation per sample. */
#define HIST_SUB 64
#define HIST_BUCKETS (HIST_SUB * 28)
struct hist {
	uint64_t n;
	uint64_t max;
	uint64_t sum;
	uint32_t b[HIST_BUCKETS];
};

/* Results of one run, printed as a table and as JSON. */
struct bench_result {
	const char *mode;
	unsigned sessions;
	uint64_t handshakes;
	uint64_t resumed; /* of handshakes: abbreviated (--resume) */
	double handshakes_per_s;
	uint64_t requests;
	double requests_per_s;
	struct hist lat;
	struct hist hs_lat;
	uint64_t retransmissions;
	uint64_t errors;
	uint64_t err_handshake, err_timeout, err_code, err_rst, err_io;
	long server_rss_start_kb;
	long server_rss_kb;
	double elapsed_s;
	double client_cpu_s;
	double server_cpu_s; /* of --server-pid during the run, or -1 */
	/* --wake-rate: the request each held session sends after the hold */
	uint64_t wake_sent, wake_answered, wake_skipped;
	double wake_s;
	/* the longest time without a 2.xx answer, and when it ended (s since the start) */
	double max_gap_s, max_gap_end_s;
	uint64_t dropped_out, dropped_in; /* --loss */
	uint64_t sessions_failed;         /* established sessions that broke */
	/* in-process handshakes */
	double server_us_per_hs, client_us_per_hs;
};

/* stats.c */
void hist_add(struct hist *h, uint64_t us);
uint64_t hist_pct(const struct hist *h, double p);
long stats_rss_kb(long pid);
double stats_proc_cpu_s(long pid);
double stats_now(void);
uint64_t stats_now_ns(void);
double stats_cpu_s(void);
int stats_report(const struct bench_result *r, const struct bench_opts *o);

/* coap.c: minimal CoAP encoding and decoding, bounds-checked. */
struct coap_view {
	uint8_t type, tkl, code;
	uint16_t mid;
	const uint8_t *token;
	const uint8_t *payload;
	size_t payload_len;
};
int bcoap_parse(const uint8_t *buf, size_t len, struct coap_view *v);
size_t bcoap_build_tail(uint8_t *out, size_t cap, const char *path, const char *proxy_uri,
    bool post, unsigned size);
size_t bcoap_header(uint8_t *out, uint8_t type, uint8_t code, uint16_t mid, const uint8_t *token,
    uint8_t tkl);

/* tls.c: mbedTLS helpers shared by the client and the in-process mode. */
int tls_load_key(mbedtls_pk_context *pk, const char *file,
    int (*rng)(void *, unsigned char *, size_t), void *rng_ctx);
int tls_suite_id(const char *name);
int tls_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len);
void tls_strerror(int err, char *buf, size_t len);

/* client.c */
int client_run(const struct bench_opts *o);
/* servers.c */
int backend_run(const struct bench_opts *o);
int relay_run(const struct bench_opts *o);
/* inproc.c */
int inproc_run(const struct bench_opts *o);

#endif
