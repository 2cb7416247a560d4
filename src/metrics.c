/* metrics.c: one table of counters, three renderers, and the Prometheus endpoint. */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "log.h"
#include "metrics.h"
#include "relay.h"
#include "session.h"

enum metric_kind {
	METRIC_GAUGE,      /* a value now */
	METRIC_COUNTER,    /* grows from 0 since the start */
	METRIC_PER_REASON, /* uint64_t[HS_FAIL_COUNT], one counter per hs_failure_names[] */
};

/* What the table points into: the session counters and the gauges read now. */
struct metrics_view {
	struct session_stats s;
	uint64_t sessions, handshakes, parked, orphans;
};

/*
 * One counter or gauge. Entries of one Prometheus family are adjacent; the
 * family's # HELP text is taken from its first entry. Adding a counter to
 * `stats`, `stats --json` and /metrics is one line here.
 */
struct metric_def {
	const char *name;   /* name in `stats` and its JSON */
	const char *family; /* Prometheus metric name */
	const char *label;  /* Prometheus label pair (result="ok"); label key for METRIC_PER_REASON */
	enum metric_kind kind;
	size_t offset;      /* of the uint64_t in struct metrics_view */
	const char *help;   /* Prometheus # HELP text */
};

#define V(f) offsetof(struct metrics_view, f)
#define S(f) offsetof(struct metrics_view, s.f)
static const struct metric_def metric_defs[] = {
	{ "sessions", "coaps_sessions", NULL, METRIC_GAUGE, V(sessions),
	    "Sessions now, established and handshaking." },
	{ "handshakes_in_progress", "coaps_handshakes_in_progress", NULL, METRIC_GAUGE,
	    V(handshakes), "Handshakes in progress now." },
	{ "sessions_peak", "coaps_sessions_peak", NULL, METRIC_GAUGE, S(sessions_peak),
	    "Most sessions at once since the start." },
	{ "handshakes_ok", "coaps_handshakes_total", "result=\"ok\"", METRIC_COUNTER,
	    S(handshakes_ok), "Handshakes finished, by result." },
	{ "handshakes_failed", "coaps_handshakes_total", "result=\"failed\"", METRIC_COUNTER,
	    S(handshakes_failed), NULL },
	{ "handshakes_failed_by", "coaps_handshakes_failed_total", "reason", METRIC_PER_REASON,
	    S(handshakes_failed_by), "Failed handshakes, by reason." },
	{ "cookies_sent", "coaps_cookies_sent_total", NULL, METRIC_COUNTER, S(cookies_sent),
	    "HelloVerifyRequests (cookies) sent." },
	{ "msgs_relayed_in", "coaps_messages_relayed_total", "direction=\"in\"", METRIC_COUNTER,
	    S(msgs_relayed_in), "CoAP messages relayed, in = device to backend." },
	{ "msgs_relayed_out", "coaps_messages_relayed_total", "direction=\"out\"", METRIC_COUNTER,
	    S(msgs_relayed_out), NULL },
	{ "drops_hello_malformed", "coaps_drops_total", "reason=\"hello_malformed\"",
	    METRIC_COUNTER, S(hellos_dropped), "Datagrams or sessions dropped, by reason." },
	{ "drops_max_sessions", "coaps_drops_total", "reason=\"max_sessions\"", METRIC_COUNTER,
	    S(refused_max_sessions), NULL },
	{ "drops_max_handshakes", "coaps_drops_total", "reason=\"max_handshakes\"", METRIC_COUNTER,
	    S(evicted_max_handshakes), NULL },
	{ "drops_rate_limit", "coaps_drops_total", "reason=\"rate_limit\"", METRIC_COUNTER,
	    S(refused_rate), NULL },
	{ "drops_coap_malformed", "coaps_drops_total", "reason=\"coap_malformed\"", METRIC_COUNTER,
	    S(coap_malformed), NULL },
	{ "drops_bad_mac", "coaps_drops_total", "reason=\"bad_mac\"", METRIC_COUNTER,
	    S(badmac_dropped), NULL },
	{ "drops_backend", "coaps_drops_total", "reason=\"backend\"", METRIC_COUNTER,
	    S(backend_dropped), NULL },
	{ "drops_backend_late", "coaps_drops_total", "reason=\"backend_late\"", METRIC_COUNTER,
	    S(backend_late_dropped), NULL },
	{ "drops_coap_too_large", "coaps_drops_total", "reason=\"coap_too_large\"",
	    METRIC_COUNTER, S(coap_too_large), NULL },
	{ "drops_backend_too_large", "coaps_drops_total", "reason=\"backend_too_large\"",
	    METRIC_COUNTER, S(backend_too_large), NULL },
	{ "answers_rst_ping", "coaps_proxy_answers_total", "code=\"rst_ping\"", METRIC_COUNTER,
	    S(answers[ANSWER_RST_PING]), "Answers the proxy made itself, by code." },
	{ "answers_rst_malformed", "coaps_proxy_answers_total", "code=\"rst_malformed\"",
	    METRIC_COUNTER, S(answers[ANSWER_RST_MALFORMED]), NULL },
	{ "answers_4_00", "coaps_proxy_answers_total", "code=\"4.00\"", METRIC_COUNTER,
	    S(answers[ANSWER_4_00]), NULL },
	{ "answers_4_04", "coaps_proxy_answers_total", "code=\"4.04\"", METRIC_COUNTER,
	    S(answers[ANSWER_4_04]), NULL },
	{ "answers_5_02", "coaps_proxy_answers_total", "code=\"5.02\"", METRIC_COUNTER,
	    S(answers[ANSWER_5_02]), NULL },
	{ "answers_5_04", "coaps_proxy_answers_total", "code=\"5.04\"", METRIC_COUNTER,
	    S(answers[ANSWER_5_04]), NULL },
	{ "answers_5_05", "coaps_proxy_answers_total", "code=\"5.05\"", METRIC_COUNTER,
	    S(answers[ANSWER_5_05]), NULL },
	{ "answers_4_13", "coaps_proxy_answers_total", "code=\"4.13\"", METRIC_COUNTER,
	    S(answers[ANSWER_4_13]), NULL },
	{ "orphan_rst", "coaps_orphan_rst_total", NULL, METRIC_COUNTER, S(orphan_rst),
	    "RSTs sent to backends that sent to a device whose session had ended." },
	{ "sessions_parked", "coaps_sessions_parked", NULL, METRIC_GAUGE, V(parked),
	    "Idle sessions parked now (DTLS state saved, mbedTLS context freed)." },
	{ "parked_total", "coaps_sessions_parked_total", NULL, METRIC_COUNTER, S(parked),
	    "Sessions parked since the start." },
	{ "unparked_total", "coaps_sessions_unparked_total", NULL, METRIC_COUNTER, S(unparked),
	    "Parked sessions brought back since the start." },
	{ "orphan_upstreams", "coaps_orphan_upstreams", NULL, METRIC_GAUGE, V(orphans),
	    "Upstream sockets kept after their session ended, to RST an Observe." },
};
#undef V
#undef S

/* Upper bounds of session_stats.handshake_ms_buckets[0..6] (the last is +Inf). */
static const unsigned hs_bucket_ms[7] = { 10, 50, 100, 500, 1000, 5000, 30000 };
#define HS_BUCKETS 8

static struct evhttp *metrics_http;

/* Reads the counters and gauges now. */
static void
metrics_view_read(struct metrics_view *v)
{
	v->s = *session_stats();
	v->sessions = session_count();
	v->handshakes = session_handshake_count();
	v->parked = session_parked_count();
	v->orphans = relay_orphan_count();
}

/* The uint64_t (or array of them) that entry d points to in v. */
static const uint64_t *
metric_value(const struct metrics_view *v, const struct metric_def *d)
{
	return (const uint64_t *)(const void *)((const char *)v + d->offset);
}

/* Sum of the handshake duration buckets: the histogram's count. */
static uint64_t
metrics_hs_count(const struct metrics_view *v)
{
	uint64_t n = 0;

	for (size_t b = 0; b < HS_BUCKETS; b++)
		n += v->s.handshake_ms_buckets[b];
	return n;
}

void
metrics_render_text(struct evbuffer *out)
{
	struct metrics_view v;
	char name[64];

	metrics_view_read(&v);
	for (size_t i = 0; i < sizeof metric_defs / sizeof metric_defs[0]; i++) {
		const struct metric_def *d = &metric_defs[i];
		const uint64_t *val = metric_value(&v, d);

		if (d->kind != METRIC_PER_REASON) {
			evbuffer_add_printf(out, "%-40s %llu\n", d->name, (unsigned long long)*val);
			continue;
		}
		for (size_t r = 0; r < HS_FAIL_COUNT; r++) {
			snprintf(name, sizeof name, "%s.%s", d->name, hs_failure_names[r]);
			evbuffer_add_printf(out, "%-40s %llu\n", name, (unsigned long long)val[r]);
		}
	}
	for (size_t b = 0; b < HS_BUCKETS; b++) {
		if (b < HS_BUCKETS - 1)
			snprintf(name, sizeof name, "handshake_ms.le_%u", hs_bucket_ms[b]);
		else
			snprintf(name, sizeof name, "handshake_ms.le_inf");
		evbuffer_add_printf(out, "%-40s %llu\n", name,
		    (unsigned long long)v.s.handshake_ms_buckets[b]);
	}
	evbuffer_add_printf(out, "%-40s %llu\n", "handshake_ms.sum",
	    (unsigned long long)v.s.handshake_ms_sum);
	evbuffer_add_printf(out, "%-40s %llu\n", "handshake_ms.count",
	    (unsigned long long)metrics_hs_count(&v));
}

void
metrics_render_json(struct evbuffer *out)
{
	struct metrics_view v;

	metrics_view_read(&v);
	evbuffer_add_printf(out, "{");
	for (size_t i = 0; i < sizeof metric_defs / sizeof metric_defs[0]; i++) {
		const struct metric_def *d = &metric_defs[i];
		const uint64_t *val = metric_value(&v, d);

		if (d->kind != METRIC_PER_REASON) {
			evbuffer_add_printf(out, "\"%s\":%llu,", d->name, (unsigned long long)*val);
			continue;
		}
		evbuffer_add_printf(out, "\"%s\":{", d->name);
		for (size_t r = 0; r < HS_FAIL_COUNT; r++)
			evbuffer_add_printf(out, "%s\"%s\":%llu", r ? "," : "", hs_failure_names[r],
			    (unsigned long long)val[r]);
		evbuffer_add_printf(out, "},");
	}
	evbuffer_add_printf(out, "\"handshake_ms\":{\"buckets\":{");
	for (size_t b = 0; b < HS_BUCKETS; b++) {
		if (b < HS_BUCKETS - 1)
			evbuffer_add_printf(out, "%s\"%u\":", b ? "," : "", hs_bucket_ms[b]);
		else
			evbuffer_add_printf(out, ",\"+Inf\":");
		evbuffer_add_printf(out, "%llu", (unsigned long long)v.s.handshake_ms_buckets[b]);
	}
	evbuffer_add_printf(out, "},\"sum\":%llu,\"count\":%llu}}\n",
	    (unsigned long long)v.s.handshake_ms_sum, (unsigned long long)metrics_hs_count(&v));
}

void
metrics_render_prometheus(struct evbuffer *out)
{
	struct metrics_view v;
	const char *family = "";
	uint64_t cum = 0;

	metrics_view_read(&v);
	for (size_t i = 0; i < sizeof metric_defs / sizeof metric_defs[0]; i++) {
		const struct metric_def *d = &metric_defs[i];
		const uint64_t *val = metric_value(&v, d);

		if (strcmp(family, d->family) != 0) {
			family = d->family;
			evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", family,
			    d->help ? d->help : "", family, d->kind == METRIC_GAUGE ? "gauge" : "counter");
		}
		if (d->kind == METRIC_PER_REASON) {
			for (size_t r = 0; r < HS_FAIL_COUNT; r++)
				evbuffer_add_printf(out, "%s{%s=\"%s\"} %llu\n", family, d->label,
				    hs_failure_names[r], (unsigned long long)val[r]);
		} else if (d->label != NULL)
			evbuffer_add_printf(out, "%s{%s} %llu\n", family, d->label,
			    (unsigned long long)*val);
		else
			evbuffer_add_printf(out, "%s %llu\n", family, (unsigned long long)*val);
	}
	evbuffer_add_printf(out,
	    "# HELP coaps_handshake_duration_seconds Duration of successful handshakes.\n"
	    "# TYPE coaps_handshake_duration_seconds histogram\n");
	for (size_t b = 0; b < HS_BUCKETS; b++) {
		cum += v.s.handshake_ms_buckets[b];
		if (b < HS_BUCKETS - 1)
			evbuffer_add_printf(out, "coaps_handshake_duration_seconds_bucket{le=\"%g\"} %llu\n",
			    hs_bucket_ms[b] / 1000.0, (unsigned long long)cum);
		else
			evbuffer_add_printf(out,
			    "coaps_handshake_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
			    (unsigned long long)cum);
	}
	evbuffer_add_printf(out, "coaps_handshake_duration_seconds_sum %.3f\n",
	    (double)v.s.handshake_ms_sum / 1000.0);
	evbuffer_add_printf(out, "coaps_handshake_duration_seconds_count %llu\n",
	    (unsigned long long)cum);
}

/* evhttp: answers GET /metrics, 404 for other paths, 405 for other methods. */
static void
metrics_request_cb(struct evhttp_request *req, void *arg)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	struct evbuffer *body;

	(void)arg;
	if (path == NULL || strcmp(path, "/metrics") != 0) {
		evhttp_send_error(req, HTTP_NOTFOUND, "only /metrics is served here");
		return;
	}
	body = evbuffer_new();
	if (body == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	metrics_render_prometheus(body);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	    "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, HTTP_OK, "OK", body);
	evbuffer_free(body);
}

int
metrics_init(struct event_base *base, const char *address, uint16_t port, char **cause)
{
	*cause = NULL;
	if (address == NULL)
		return 0;
	metrics_http = evhttp_new(base);
	if (metrics_http == NULL) {
		*cause = strdup("metrics: cannot create the HTTP server");
		return -1;
	}
	evhttp_set_allowed_methods(metrics_http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_max_headers_size(metrics_http, 8192);
	evhttp_set_max_body_size(metrics_http, 0);
	evhttp_set_timeout(metrics_http, 10);
	evhttp_set_gencb(metrics_http, metrics_request_cb, NULL);
	if (evhttp_bind_socket_with_handle(metrics_http, address, port) == NULL) {
		if (asprintf(cause, "metrics: cannot listen on %s port %u: %s", address, port,
		        strerror(errno)) < 0)
			*cause = NULL;
		evhttp_free(metrics_http);
		metrics_http = NULL;
		return -1;
	}
	log_info("event=metrics-listening address=%s port=%u path=/metrics", address, port);
	return 0;
}

void
metrics_free(void)
{
	if (metrics_http != NULL)
		evhttp_free(metrics_http);
	metrics_http = NULL;
}
