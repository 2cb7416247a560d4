/* metrics.c: one table of counters, three renderers, and the Prometheus endpoint. */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "admit.h"
#include "configuration.h"
#include "dtls.h"
#include "fdlimit.h"
#include "log.h"
#include "metrics.h"
#include "relay.h"
#include "session.h"
#include "stats.h"
#include "status.h"
#include "text.h"
#include "worker.h"

enum metric_kind {
	METRIC_GAUGE,      /* a value now */
	METRIC_COUNTER,    /* grows from 0 since the start */
	METRIC_PER_REASON, /* uint64_t[HS_FAIL_COUNT], one counter per hs_failure_names[] */
};

/* What the table points into: the session counters and the gauges read now. */
struct metrics_view {
	struct proxy_stats s;
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
	/* Prometheus label pair (result="ok"); label key for METRIC_PER_REASON */
	const char *label;
	enum metric_kind kind;
	size_t offset;    /* of the uint64_t in struct metrics_view */
	const char *help; /* Prometheus # HELP text */
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
	{ "handshakes_resumed", "coaps_handshakes_resumed_total", NULL, METRIC_COUNTER,
	    S(handshakes_resumed),
	    "Handshakes abbreviated by session resumption (ticket or session ID), of the ok "
	    "ones." },
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
	{ "drops_unknown_session", "coaps_drops_total", "reason=\"unknown_session\"",
	    METRIC_COUNTER, S(records_unknown_session), NULL },
	{ "drops_max_sessions", "coaps_drops_total", "reason=\"max_sessions\"", METRIC_COUNTER,
	    S(refused_max_sessions), NULL },
	{ "drops_max_handshakes", "coaps_drops_total", "reason=\"max_handshakes\"", METRIC_COUNTER,
	    S(evicted_max_handshakes), NULL },
	{ "drops_rate_limit", "coaps_drops_total", "reason=\"rate_limit\"", METRIC_COUNTER,
	    S(refused_rate), NULL },
	{ "drops_handshakes_per_prefix", "coaps_drops_total", "reason=\"handshakes_per_prefix\"",
	    METRIC_COUNTER, S(refused_prefix), NULL },
	{ "drops_max_handshakes_full", "coaps_drops_total", "reason=\"max_handshakes_full\"",
	    METRIC_COUNTER, S(refused_max_handshakes), NULL },
	{ "drops_coap_malformed", "coaps_drops_total", "reason=\"coap_malformed\"", METRIC_COUNTER,
	    S(coap_malformed), NULL },
	{ "drops_bad_mac", "coaps_drops_total", "reason=\"bad_mac\"", METRIC_COUNTER,
	    S(badmac_dropped), NULL },
	{ "drops_backend", "coaps_drops_total", "reason=\"backend\"", METRIC_COUNTER,
	    S(backend_dropped), NULL },
	{ "drops_backend_late", "coaps_drops_total", "reason=\"backend_late\"", METRIC_COUNTER,
	    S(backend_late_dropped), NULL },
	{ "drops_coap_too_large", "coaps_drops_total", "reason=\"coap_too_large\"", METRIC_COUNTER,
	    S(coap_too_large), NULL },
	{ "drops_backend_too_large", "coaps_drops_total", "reason=\"backend_too_large\"",
	    METRIC_COUNTER, S(backend_too_large), NULL },
	{ "drops_unknown_cid", "coaps_drops_total", "reason=\"unknown_cid\"", METRIC_COUNTER,
	    S(cid_unknown), NULL },
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
	{ "peer_address_changes", "coaps_peer_address_changes_total", NULL, METRIC_COUNTER,
	    S(peer_address_changes),
	    "Sessions moved to a new address:port by an authenticated Connection ID record." },
	{ "orphan_upstreams", "coaps_orphan_upstreams", NULL, METRIC_GAUGE, V(orphans),
	    "Upstream sockets kept after their session ended, to RST an Observe." },
};
#undef V
#undef S

/* The handshake-duration buckets (stats_hs_bounds_ms, the last is +Inf). */
#define HS_BUCKETS STATS_HS_BUCKETS

/* Reads the counters and gauges now. */
static void
metrics_view_read(struct metrics_view *v)
{
	stats_sum(&v->s);
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

/* Appends reloads and per-backend counters to `stats` (text lines or JSON members). */
static void
metrics_render_daemon(struct evbuffer *out, bool json)
{
	const struct daemon_status *st = status_get();
	const struct backend_conf *b = NULL;
	size_t nb = 0;
	struct backend_stats *sums = status_backends_read(&b, &nb);
	char name[160], esc[128];

	if (json) {
		evbuffer_add_printf(out,
		    "\"reloads_ok\":%llu,\"reloads_failed\":%llu,"
		    "\"last_reload_time\":%lld,\"last_reload_ok\":%d,\"backends\":{",
		    (unsigned long long)st->reloads_ok, (unsigned long long)st->reloads_failed,
		    (long long)st->last_reload, st->last_reload == 0 || st->last_reload_ok);
		for (size_t i = 0; i < nb; i++) {
			const struct backend_stats *bs = &sums[i];
			uint64_t count = 0;

			for (size_t k = 0; k < RELAY_RTT_BUCKETS; k++)
				count += bs->rtt_buckets[k];
			evbuffer_add_printf(out, "%s\"", i > 0 ? "," : "");
			text_json_evbuffer(out, b[i].name, strlen(b[i].name));
			evbuffer_add_printf(out,
			    "\":{\"requests\":%llu,\"errors\":%llu,\"timeouts\":%llu,"
			    "\"rtt_ms_sum\":%llu,\"rtt_count\":%llu}",
			    (unsigned long long)bs->requests, (unsigned long long)bs->errors,
			    (unsigned long long)bs->timeouts, (unsigned long long)bs->rtt_sum_ms,
			    (unsigned long long)count);
		}
		evbuffer_add_printf(out, "}");
		free(sums);
		return;
	}
	evbuffer_add_printf(out, "%-40s %llu\n%-40s %llu\n%-40s %lld\n%-40s %d\n", "reloads_ok",
	    (unsigned long long)st->reloads_ok, "reloads_failed",
	    (unsigned long long)st->reloads_failed, "last_reload_time", (long long)st->last_reload,
	    "last_reload_ok", st->last_reload == 0 || st->last_reload_ok);
	for (size_t i = 0; i < nb; i++) {
		const struct backend_stats *bs = &sums[i];
		static const char *const what[] = { "requests", "errors", "timeouts" };

		log_escape(esc, sizeof esc, b[i].name, strlen(b[i].name));
		for (size_t k = 0; k < 3; k++) {
			snprintf(name, sizeof name, "backend.%s.%s", esc, what[k]);
			evbuffer_add_printf(out, "%-40s %llu\n", name,
			    (unsigned long long)(k == 0   ? bs->requests
			                         : k == 1 ? bs->errors
			                                  : bs->timeouts));
		}
	}
	free(sums);
}

/* The top prefix lists of `stats` and /metrics: text, JSON or Prometheus. */
enum metrics_format {
	METRICS_TEXT,
	METRICS_JSON,
	METRICS_PROMETHEUS
};

static void metrics_label(struct evbuffer *out, const char *s);
static void metrics_family(struct evbuffer *out, const char *name, const char *type,
    const char *help);

/* worker_call_all: the calling worker's sessions and handshakes, at its index. */
static void
metrics_worker_counts(void *arg)
{
	size_t(*n)[2] = arg;

	n[worker_self()][0] = session_count_here();
	n[worker_self()][1] = session_handshake_count_here();
}

/* Appends the sessions and handshakes in progress of each worker. */
static void
metrics_render_workers(struct evbuffer *out, enum metrics_format f)
{
	static const char *const names[] = { "sessions", "handshakes" };
	static const char *const families[] = { "coaps_worker_sessions",
		"coaps_worker_handshakes" };
	static const char *const helps[] = {
		"Sessions (established and handshaking) each worker owns.",
		"Handshakes in progress in each worker."
	};
	size_t n[WORKER_MAX][2] = { { 0 } };

	worker_call_all(metrics_worker_counts, n);
	for (size_t k = 0; k < 2; k++) {
		if (f == METRICS_JSON)
			evbuffer_add_printf(out, "\"worker_%s\":[", names[k]);
		else if (f == METRICS_PROMETHEUS)
			metrics_family(out, families[k], "gauge", helps[k]);
		for (unsigned w = 0; w < worker_count(); w++) {
			if (f == METRICS_JSON)
				evbuffer_add_printf(out, "%s%zu", w > 0 ? "," : "", n[w][k]);
			else if (f == METRICS_TEXT)
				evbuffer_add_printf(out, "worker.%u.%-*s %zu\n", w,
				    (int)(31 - (w >= 10)), names[k], n[w][k]);
			else
				evbuffer_add_printf(out, "%s{worker=\"%u\"} %zu\n", families[k], w,
				    n[w][k]);
		}
		if (f == METRICS_JSON)
			evbuffer_add_printf(out, "],");
	}
}

/*
 * Appends the source prefixes with the most handshakes in progress and the
 * most refused by session.handshakes_per_prefix (at most ADMIT_TOP each).
 */
static void
metrics_render_prefixes(struct evbuffer *out, enum metrics_format f)
{
	static const char *const names[] = { "handshakes_by_prefix", "refused_by_prefix" };
	static const char *const families[] = { "coaps_prefix_handshakes_in_progress",
		"coaps_prefix_refused_total" };
	static const char *const helps[] = {
		"Handshakes in progress from the source prefixes with the most of them "
		"(session.prefix_len_v4/_v6; the top 8).",
		"Handshakes refused by session.handshakes_per_prefix, of the source prefixes "
		"refused most (the top 8)."
	};
	struct admit_top top[ADMIT_TOP];
	size_t n;

	for (size_t k = 0; k < 2; k++) {
		n = k == 0 ? admit_top_handshakes(top) : admit_top_refused(top);
		if (f == METRICS_JSON)
			evbuffer_add_printf(out, "\"%s\":{", names[k]);
		else if (f == METRICS_PROMETHEUS)
			evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", families[k],
			    helps[k], families[k], k == 0 ? "gauge" : "counter");
		for (size_t i = 0; i < n; i++) {
			/* A prefix is digits, hex, '.', ':' and '/': nothing to escape. */
			if (f == METRICS_JSON)
				evbuffer_add_printf(out, "%s\"%s\":%llu", i > 0 ? "," : "",
				    top[i].prefix, (unsigned long long)top[i].count);
			else if (f == METRICS_TEXT)
				evbuffer_add_printf(out, "%s.%-*s %llu\n", names[k],
				    (int)(39 - strlen(names[k])), top[i].prefix,
				    (unsigned long long)top[i].count);
			else {
				evbuffer_add_printf(out, "%s{prefix=\"", families[k]);
				metrics_label(out, top[i].prefix);
				evbuffer_add_printf(out, "\"} %llu\n",
				    (unsigned long long)top[i].count);
			}
		}
		if (f == METRICS_JSON)
			evbuffer_add_printf(out, "},");
	}
}

/* Appends s as a Prometheus label value: \\, \" and \n escaped, other control bytes as '?'. */
static void
metrics_label(struct evbuffer *out, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			evbuffer_add_printf(out, "\\%c", *s);
		else if (*s == '\n')
			evbuffer_add_printf(out, "\\n");
		else
			evbuffer_add_printf(out, "%c",
			    (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s);
	}
}

/* Appends "# HELP" and "# TYPE" of a family. */
static void
metrics_family(struct evbuffer *out, const char *name, const char *type, const char *help)
{
	evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Appends the expiry of each certificate of a chain, with a role label. */
static void
metrics_certs(struct evbuffer *out, const mbedtls_x509_crt *crt, const char *role, const char *rest)
{
	char subject[256], serial[128];

	for (; crt != NULL && crt->raw.len > 0; crt = crt->next) {
		dtls_x509_name(&crt->subject, subject, sizeof subject);
		if (mbedtls_x509_serial_gets(serial, sizeof serial, &crt->serial) < 0)
			snprintf(serial, sizeof serial, "?");
		evbuffer_add_printf(out,
		    "coaps_certificate_expiry_timestamp_seconds{role=\"%s\","
		    "subject=\"",
		    role);
		metrics_label(out, subject);
		evbuffer_add_printf(out, "\",serial=\"");
		metrics_label(out, serial);
		evbuffer_add_printf(out, "\"} %lld\n",
		    (long long)dtls_x509_time_unix(&crt->valid_to));
		if (rest != NULL)
			role = rest;
	}
}

/* Appends the daemon-wide and per-backend families to /metrics. */
static void
metrics_render_daemon_prometheus(struct evbuffer *out)
{
	const struct daemon_status *st = status_get();
	const struct x509_conf *x = st->cfg != NULL ? st->cfg->x509 : NULL;
	const struct backend_conf *b;
	struct backend_stats *sums;
	size_t nb;

	metrics_family(out, "coaps_build_info", "gauge", "Always 1; the version as a label.");
	evbuffer_add_printf(out, "coaps_build_info{version=\"%s\"} 1\n", PACKAGE_VERSION);
	metrics_family(out, "coaps_start_time_seconds", "gauge", "Unix time the daemon started.");
	evbuffer_add_printf(out, "coaps_start_time_seconds %lld\n", (long long)st->started);
	metrics_family(out, "coaps_config_last_reload_timestamp_seconds", "gauge",
	    "Unix time the last reload ended (0: none yet).");
	evbuffer_add_printf(out, "coaps_config_last_reload_timestamp_seconds %lld\n",
	    (long long)st->last_reload);
	metrics_family(out, "coaps_config_last_reload_success", "gauge",
	    "1 if the last reload succeeded (or there was none), 0 if it failed.");
	evbuffer_add_printf(out, "coaps_config_last_reload_success %d\n",
	    st->last_reload == 0 || st->last_reload_ok);
	metrics_family(out, "coaps_config_reloads_total", "counter", "Reloads, by result.");
	evbuffer_add_printf(out,
	    "coaps_config_reloads_total{result=\"ok\"} %llu\n"
	    "coaps_config_reloads_total{result=\"failed\"} %llu\n",
	    (unsigned long long)st->reloads_ok, (unsigned long long)st->reloads_failed);

	metrics_family(out, "coaps_certificate_expiry_timestamp_seconds", "gauge",
	    "Unix time each configured certificate expires (notAfter), by role.");
	if (x != NULL) {
		metrics_certs(out, &x->certificate, "server", "server_chain");
		if (x->has_client_ca)
			metrics_certs(out, &x->client_ca, "client_ca", NULL);
	}
	metrics_family(out, "coaps_crl_next_update_timestamp_seconds", "gauge",
	    "Unix time each configured CRL's nextUpdate falls due.");
	for (const mbedtls_x509_crl *crl = x != NULL && x->has_crl ? &x->crl : NULL;
	     crl != NULL && crl->raw.len > 0; crl = crl->next) {
		char issuer[256];

		dtls_x509_name(&crl->issuer, issuer, sizeof issuer);
		evbuffer_add_printf(out, "coaps_crl_next_update_timestamp_seconds{issuer=\"");
		metrics_label(out, issuer);
		evbuffer_add_printf(out, "\"} %lld\n",
		    (long long)dtls_x509_time_unix(&crl->next_update));
	}

	sums = status_backends_read(&b, &nb);
	for (int f = 0; f < 3; f++) {
		static const char *const fam[] = { "coaps_backend_requests_total",
			"coaps_backend_errors_total", "coaps_backend_timeouts_total" };
		static const char *const help[] = { "Requests sent to each backend.",
			"Backend errors: refused (ICMP port unreachable) or no socket to it.",
			"CON requests a backend left unanswered (the device got 5.04)." };

		metrics_family(out, fam[f], "counter", help[f]);
		for (size_t i = 0; i < nb; i++) {
			const struct backend_stats *bs = &sums[i];

			evbuffer_add_printf(out, "%s{backend=\"", fam[f]);
			metrics_label(out, b[i].name);
			evbuffer_add_printf(out, "\"} %llu\n",
			    (unsigned long long)(f == 0   ? bs->requests
			                         : f == 1 ? bs->errors
			                                  : bs->timeouts));
		}
	}
	metrics_family(out, "coaps_backend_rtt_seconds", "histogram",
	    "Time from a request to its backend's answer.");
	for (size_t i = 0; i < nb; i++) {
		const struct backend_stats *bs = &sums[i];
		uint64_t cum = 0;

		for (size_t k = 0; k < RELAY_RTT_BUCKETS; k++) {
			cum += bs->rtt_buckets[k];
			evbuffer_add_printf(out, "coaps_backend_rtt_seconds_bucket{backend=\"");
			metrics_label(out, b[i].name);
			if (k < RELAY_RTT_BUCKETS - 1)
				evbuffer_add_printf(out, "\",le=\"%g\"} %llu\n",
				    relay_rtt_bounds_ms[k] / 1000.0, (unsigned long long)cum);
			else
				evbuffer_add_printf(out, "\",le=\"+Inf\"} %llu\n",
				    (unsigned long long)cum);
		}
		evbuffer_add_printf(out, "coaps_backend_rtt_seconds_sum{backend=\"");
		metrics_label(out, b[i].name);
		evbuffer_add_printf(out, "\"} %.3f\ncoaps_backend_rtt_seconds_count{backend=\"",
		    (double)bs->rtt_sum_ms / 1000.0);
		metrics_label(out, b[i].name);
		evbuffer_add_printf(out, "\"} %llu\n", (unsigned long long)cum);
	}
	free(sums);
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
			snprintf(name, sizeof name, "handshake_ms.le_%u", stats_hs_bounds_ms[b]);
		else
			snprintf(name, sizeof name, "handshake_ms.le_inf");
		evbuffer_add_printf(out, "%-40s %llu\n", name,
		    (unsigned long long)v.s.handshake_ms_buckets[b]);
	}
	evbuffer_add_printf(out, "%-40s %llu\n", "handshake_ms.sum",
	    (unsigned long long)v.s.handshake_ms_sum);
	evbuffer_add_printf(out, "%-40s %llu\n", "handshake_ms.count",
	    (unsigned long long)metrics_hs_count(&v));
	metrics_render_prefixes(out, METRICS_TEXT);
	metrics_render_workers(out, METRICS_TEXT);
	metrics_render_daemon(out, false);
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
			evbuffer_add_printf(out, "%s\"%u\":", b ? "," : "", stats_hs_bounds_ms[b]);
		else
			evbuffer_add_printf(out, ",\"+Inf\":");
		evbuffer_add_printf(out, "%llu", (unsigned long long)v.s.handshake_ms_buckets[b]);
	}
	evbuffer_add_printf(out, "},\"sum\":%llu,\"count\":%llu},",
	    (unsigned long long)v.s.handshake_ms_sum, (unsigned long long)metrics_hs_count(&v));
	metrics_render_prefixes(out, METRICS_JSON);
	metrics_render_workers(out, METRICS_JSON);
	metrics_render_daemon(out, true);
	evbuffer_add_printf(out, "}\n");
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
			    d->help ? d->help : "", family,
			    d->kind == METRIC_GAUGE ? "gauge" : "counter");
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
			evbuffer_add_printf(out,
			    "coaps_handshake_duration_seconds_bucket{le=\"%g\"} %llu\n",
			    stats_hs_bounds_ms[b] / 1000.0, (unsigned long long)cum);
		else
			evbuffer_add_printf(out,
			    "coaps_handshake_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
			    (unsigned long long)cum);
	}
	evbuffer_add_printf(out, "coaps_handshake_duration_seconds_sum %.3f\n",
	    (double)v.s.handshake_ms_sum / 1000.0);
	evbuffer_add_printf(out, "coaps_handshake_duration_seconds_count %llu\n",
	    (unsigned long long)cum);
	metrics_render_prefixes(out, METRICS_PROMETHEUS);
	metrics_render_workers(out, METRICS_PROMETHEUS);
	metrics_render_daemon_prometheus(out);
}

/*
 * The endpoint is a small HTTP/1.1 server of its own rather than evhttp: in
 * libevent 2.1 evhttp cannot cap its connections, restarts its timeout with
 * every byte, and its listener retries a failing accept() at once (a loop
 * when descriptors run out). Here: at most METRICS_CLIENTS_MAX connections
 * (more wait in the kernel's backlog, costing no descriptor), each with
 * METRICS_DEADLINE_SECS from connecting to its answer written, one request
 * per connection, and accepting pauses for a second after a failed accept()
 * or when the open-files limit is close (fdlimit.h).
 */
#define METRICS_CLIENTS_MAX 16   /* connections at once */
#define METRICS_DEADLINE_SECS 10 /* from connecting to the answer written */
#define METRICS_REQUEST_MAX 8192 /* bytes of the request line and headers */
#define METRICS_BACKLOG 16       /* connections the kernel queues for us */

/* One HTTP client: reads one request head, writes the answer, closes. */
struct metrics_client {
	struct bufferevent *bev;
	struct event *deadline;
	LIST_ENTRY(metrics_client) entry; /* in srv->clients */
	bool answered;
};

/* The endpoint (one per daemon). */
struct metrics_server {
	struct event_base *base;
	struct evconnlistener *lev;
	struct event *resume; /* re-enables accepting after a pause */
	LIST_HEAD(, metrics_client) clients;
	size_t n_clients;
	uint64_t refused; /* connections closed at once for the descriptor reserve */
};

static struct metrics_server *srv;

/* Accepts again when the pause is over and there is room. */
static void
metrics_accept_maybe(void)
{
	if (srv->n_clients < METRICS_CLIENTS_MAX && !evtimer_pending(srv->resume, NULL))
		evconnlistener_enable(srv->lev);
}

/* Stops accepting for a second (accept() failed, or descriptors are short). */
static void
metrics_pause(void)
{
	struct timeval pause = { 1, 0 };

	evconnlistener_disable(srv->lev);
	evtimer_add(srv->resume, &pause);
}

/* Unlinks a client and frees it (which closes its socket). */
static void
metrics_client_free(struct metrics_client *c)
{
	LIST_REMOVE(c, entry);
	srv->n_clients--;
	event_free(c->deadline);
	bufferevent_free(c->bev);
	free(c);
	metrics_accept_maybe();
}

/* bufferevent: end of file or error: drop the client. */
static void
metrics_event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	metrics_client_free(arg);
}

/* libevent: the client did not send its request and read the answer in time. */
static void
metrics_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	log_debug("event=metrics-timeout reason=\"%s within %d s\"",
	    ((struct metrics_client *)arg)->answered ? "answer not read" : "no complete request",
	    METRICS_DEADLINE_SECS);
	metrics_client_free(arg);
}

/* bufferevent: the answer has been written out: the client is done. */
static void
metrics_write_cb(struct bufferevent *bev, void *arg)
{
	char junk[4096];

	/* Unread input makes close() reset the connection: drop what was sent (64 KB at most). */
	for (int i = 0; i < 16; i++)
		if (recv(bufferevent_getfd(bev), junk, sizeof junk, MSG_DONTWAIT) <= 0)
			break;
	metrics_client_free(arg);
}

/* Queues an HTTP answer (the body only when send_body) and closes after it. */
static void
metrics_answer(struct metrics_client *c, int code, const char *reason, const char *extra,
    const char *type, struct evbuffer *body, bool send_body)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);

	evbuffer_add_printf(out,
	    "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%sConnection: "
	    "close\r\n\r\n",
	    code, reason, type, evbuffer_get_length(body), extra);
	if (send_body)
		evbuffer_add_buffer(out, body);
	c->answered = true;
	bufferevent_disable(c->bev, EV_READ);
	bufferevent_setcb(c->bev, NULL, metrics_write_cb, metrics_event_cb, c);
}

/* Tells whether target is path, possibly followed by a query or fragment. */
static bool
metrics_path_is(const char *target, const char *path)
{
	size_t n = strlen(path);

	return strcspn(target, "?#") == n && strncmp(target, path, n) == 0;
}

/*
 * Answers the request head in req (NUL-terminated, CR LF or LF lines):
 * GET or HEAD /metrics, /healthz or /readyz (a query is ignored), 404 for
 * other paths, 405 for other methods, 400 for what is not an HTTP/1.x
 * request line. /healthz answers 200 whenever the loop runs; /readyz 200
 * when status_ready() says so, else 503 with the reason.
 */
static void
metrics_serve(struct metrics_client *c, char *req)
{
	static const char text[] = "text/plain; charset=utf-8";
	char *method, *target, *version, *save = NULL;
	struct evbuffer *body = evbuffer_new();

	if (body == NULL) {
		metrics_client_free(c);
		return;
	}
	req[strcspn(req, "\r\n")] = '\0';
	method = strtok_r(req, " ", &save);
	target = strtok_r(NULL, " ", &save);
	version = strtok_r(NULL, " ", &save);
	if (method == NULL || target == NULL || version == NULL ||
	    strtok_r(NULL, " ", &save) != NULL || strncmp(version, "HTTP/1.", 7) != 0) {
		evbuffer_add_printf(body, "not an HTTP/1.x request\n");
		metrics_answer(c, 400, "Bad Request", "", text, body, true);
	} else if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		evbuffer_add_printf(body, "only GET and HEAD\n");
		metrics_answer(c, 405, "Method Not Allowed", "Allow: GET, HEAD\r\n", text, body,
		    true);
	} else if (metrics_path_is(target, "/healthz")) {
		evbuffer_add_printf(body, "ok\n");
		metrics_answer(c, 200, "OK", "", text, body, strcmp(method, "HEAD") != 0);
	} else if (metrics_path_is(target, "/readyz")) {
		char why[200];
		bool ready = status_ready(why, sizeof why);

		evbuffer_add_printf(body, "%s\n", why);
		metrics_answer(c, ready ? 200 : 503, ready ? "OK" : "Service Unavailable", "", text,
		    body, strcmp(method, "HEAD") != 0);
	} else if (!metrics_path_is(target, "/metrics")) {
		evbuffer_add_printf(body, "only /metrics, /healthz and /readyz are served here\n");
		metrics_answer(c, 404, "Not Found", "", text, body, strcmp(method, "HEAD") != 0);
	} else {
		metrics_render_prometheus(body);
		metrics_answer(c, 200, "OK", "", "text/plain; version=0.0.4; charset=utf-8", body,
		    strcmp(method, "HEAD") != 0);
	}
	evbuffer_free(body);
}

/* bufferevent: the request head (bounded) arrived or is still coming. */
static void
metrics_read_cb(struct bufferevent *bev, void *arg)
{
	struct metrics_client *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char buf[METRICS_REQUEST_MAX + 1];
	ev_ssize_t n;

	if (c->answered)
		return;
	/* Copied out, not pulled up: libevent allocates from the pools (pool_use_for_libevent). */
	n = evbuffer_copyout(in, buf, sizeof buf - 1);
	if (n < 0)
		n = 0;
	buf[n] = '\0';
	if (memchr(buf, '\0', (size_t)n) != NULL) {
		struct evbuffer *body = evbuffer_new();

		if (body == NULL) {
			metrics_client_free(c);
			return;
		}
		evbuffer_add_printf(body, "NUL byte in the request\n");
		metrics_answer(c, 400, "Bad Request", "", "text/plain; charset=utf-8", body, true);
		evbuffer_free(body);
		return;
	}
	if (strstr(buf, "\r\n\r\n") == NULL && strstr(buf, "\n\n") == NULL) {
		struct evbuffer *body;

		if ((size_t)n < METRICS_REQUEST_MAX)
			return; /* more to come */
		if ((body = evbuffer_new()) == NULL) {
			metrics_client_free(c);
			return;
		}
		evbuffer_add_printf(body, "request head longer than %d bytes\n",
		    METRICS_REQUEST_MAX);
		metrics_answer(c, 431, "Request Header Fields Too Large", "",
		    "text/plain; charset=utf-8", body, true);
		evbuffer_free(body);
		return;
	}
	metrics_serve(c, buf);
}

/* evconnlistener: a new client, unless the table is full or descriptors are short. */
static void
metrics_accept_cb(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa, int salen,
    void *arg)
{
	struct timeval deadline = { METRICS_DEADLINE_SECS, 0 };
	struct metrics_client *c;

	(void)lev;
	(void)sa;
	(void)salen;
	(void)arg;
	if (!fdlimit_spare_ok(fd)) {
		/* Logged once per pause, so at most once a second. */
		log_warnx("event=metrics-refused reason=\"fewer than %d descriptors left below the "
		          "open-files limit: kept for sessions\" refused=%llu",
		    FDLIMIT_RESERVE, (unsigned long long)++srv->refused);
		evutil_closesocket(fd);
		metrics_pause();
		return;
	}
	c = calloc(1, sizeof *c);
	if (c == NULL || (c->deadline = evtimer_new(srv->base, metrics_deadline_cb, c)) == NULL ||
	    (c->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		log_warnx("event=metrics-refused reason=\"out of memory\"");
		if (c != NULL && c->deadline != NULL)
			event_free(c->deadline);
		free(c);
		evutil_closesocket(fd);
		return;
	}
	LIST_INSERT_HEAD(&srv->clients, c, entry);
	if (++srv->n_clients >= METRICS_CLIENTS_MAX)
		evconnlistener_disable(srv->lev); /* the rest wait in the backlog */
	bufferevent_setcb(c->bev, metrics_read_cb, NULL, metrics_event_cb, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, METRICS_REQUEST_MAX);
	if (evtimer_add(c->deadline, &deadline) < 0 || bufferevent_enable(c->bev, EV_READ) < 0)
		metrics_client_free(c);
}

/* libevent: the pause is over. */
static void
metrics_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	metrics_accept_maybe();
}

/* evconnlistener: accept() failed (out of descriptors): pause accepting for 1 s. */
static void
metrics_accept_error_cb(struct evconnlistener *lev, void *arg)
{
	(void)lev;
	(void)arg;
	log_warn("event=metrics-accept-failed (accepting again in 1 s)");
	metrics_pause();
}

/* Sets *cause to "metrics: cannot listen on ADDRESS port PORT: why" and returns -1. */
static int
metrics_fail(const char *address, uint16_t port, const char *why, char **cause)
{
	if (asprintf(cause, "metrics: cannot listen on %s port %u: %s", address, port, why) < 0)
		*cause = NULL;
	return -1;
}

int
metrics_prepare(const char *address, uint16_t port, int *fdp, char **cause)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *sin = (struct sockaddr_in *)(void *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)(void *)&ss;
	socklen_t len;
	int fd, one = 1;

	*cause = NULL;
	*fdp = -1;
	if (address == NULL)
		return 0;
	if (inet_pton(AF_INET, address, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		len = sizeof *sin;
	} else if (inet_pton(AF_INET6, address, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		len = sizeof *sin6;
	} else
		return metrics_fail(address, port, "not a numeric address", cause);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return metrics_fail(address, port, strerror(errno), cause);
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, METRICS_BACKLOG) < 0) {
		metrics_fail(address, port, strerror(errno), cause);
		close(fd);
		return -1;
	}
	*fdp = fd;
	return 0;
}

void
metrics_replace(struct event_base *base, int fd, const char *address, uint16_t port)
{
	struct evconnlistener *lev;

	if (fd < 0) {
		if (srv != NULL)
			log_info("event=metrics-stopped reason=\"metrics.address unset\"");
		metrics_free();
		return;
	}
	if (srv == NULL) {
		srv = calloc(1, sizeof *srv);
		if (srv == NULL ||
		    (srv->resume = evtimer_new(base, metrics_resume_cb, NULL)) == NULL) {
			log_warnx("event=metrics-failed reason=\"out of memory\"");
			free(srv);
			srv = NULL;
			close(fd);
			return;
		}
		srv->base = base;
		LIST_INIT(&srv->clients);
	}
	lev = evconnlistener_new(base, metrics_accept_cb, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (lev == NULL) {
		log_warnx(
		    "event=metrics-failed reason=\"cannot add the endpoint to the event loop\"");
		close(fd);
		if (srv->lev == NULL)
			metrics_free();
		return;
	}
	/* Clients of the old socket finish their answers; new ones come to this one. */
	if (srv->lev != NULL)
		evconnlistener_free(srv->lev);
	srv->lev = lev;
	evconnlistener_set_error_cb(srv->lev, metrics_accept_error_cb);
	if (srv->n_clients >= METRICS_CLIENTS_MAX || evtimer_pending(srv->resume, NULL))
		evconnlistener_disable(srv->lev);
	log_info("event=metrics-listening address=%s port=%u path=/metrics", address, port);
}

int
metrics_init(struct event_base *base, const char *address, uint16_t port, char **cause)
{
	int fd;

	if (metrics_prepare(address, port, &fd, cause) < 0)
		return -1;
	if (fd >= 0) {
		metrics_replace(base, fd, address, port);
		if (srv == NULL || srv->lev == NULL) {
			*cause = strdup("metrics: cannot add the endpoint to the event loop");
			return -1;
		}
	}
	return 0;
}

void
metrics_free(void)
{
	if (srv == NULL)
		return;
	while (!LIST_EMPTY(&srv->clients))
		metrics_client_free(LIST_FIRST(&srv->clients));
	if (srv->lev != NULL)
		evconnlistener_free(srv->lev);
	if (srv->resume != NULL)
		event_free(srv->resume);
	free(srv);
	srv = NULL;
}
