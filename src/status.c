/* status.c: the daemon as a whole (start, configuration, reloads, listeners), for status and health. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

#include "clock.h"
#include "configuration.h"
#include "listener.h"
#include "log.h"
#include "relay.h"
#include "session.h"
#include "stats.h"
#include "status.h"
#include "text.h"

static struct daemon_status st;

void
status_init(const char *config_path)
{
	st.started = (int64_t)time(NULL);
	st.started_ms = clock_ms();
	st.config_path = config_path;
}

void
status_set(const struct proxy_config *cfg, const struct listener *listeners)
{
	st.cfg = cfg;
	st.listeners = listeners;
}

void
status_reload_done(bool ok, const char *error, const char *notes)
{
	st.last_reload = (int64_t)time(NULL);
	st.last_reload_ok = ok;
	snprintf(st.last_reload_error, sizeof st.last_reload_error, "%s",
	    ok || error == NULL ? "" : error);
	snprintf(st.last_reload_notes, sizeof st.last_reload_notes, "%s",
	    ok && notes != NULL ? notes : "");
	if (ok)
		st.reloads_ok++;
	else
		st.reloads_failed++;
}

void
status_stopping(void)
{
	st.stopping = true;
}

const struct daemon_status *
status_get(void)
{
	return &st;
}

bool
status_ready(char *why, size_t len)
{
	if (st.cfg == NULL)
		snprintf(why, len, "no configuration loaded");
	else if (st.listeners == NULL)
		snprintf(why, len, "no listener bound");
	else if (st.stopping)
		snprintf(why, len, "stopping");
	else if (session_count() >= st.cfg->max_sessions)
		snprintf(why, len, "session table full (%zu of session.max_sessions %u)",
		    session_count(), st.cfg->max_sessions);
	else {
		snprintf(why, len, "ready");
		return true;
	}
	return false;
}

/* Formats unix time t as 2026-12-05T10:11:12Z ("-" for 0). */
static const char *
status_time(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t == 0 || gmtime_r(&tt, &tm) == NULL)
		snprintf(buf, len, "-");
	else
		strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

/* Appends "key":"value", JSON-escaped. */
static void
status_json_str(struct evbuffer *out, const char *key, const char *value)
{
	evbuffer_add_printf(out, "\"%s\":\"", key);
	text_json_evbuffer(out, value, strlen(value));
	evbuffer_add_printf(out, "\"");
}

/* Appends the listeners as text lines or a JSON array. */
static void
status_listeners(struct evbuffer *out, bool json)
{
	bool first = true;

	if (json)
		evbuffer_add_printf(out, "\"listeners\":[");
	for (const struct listener *l = st.listeners; l != NULL; l = l->next) {
		if (json) {
			evbuffer_add_printf(out, "%s\"", first ? "" : ",");
			text_json_evbuffer(out, l->name, strlen(l->name));
			evbuffer_add_printf(out, "\"");
		} else
			evbuffer_add_printf(out, "listener       %s\n", l->name);
		first = false;
	}
	if (json)
		evbuffer_add_printf(out, "],");
}

struct backend_stats *
status_backends_read(const struct backend_conf **b, size_t *n)
{
	struct backend_stats *sums;

	*n = st.cfg != NULL ? st.cfg->n_backends : 0;
	*b = st.cfg != NULL ? st.cfg->backends : NULL;
	if (*n == 0 || (sums = calloc(*n, sizeof *sums)) == NULL) {
		*n = 0;
		return NULL;
	}
	relay_backend_sums(*b, *n, sums);
	return sums;
}

/* Appends the configured backends with their addresses and counters. */
static void
status_backends(struct evbuffer *out, bool json)
{
	const struct backend_conf *backends;
	size_t nb;
	struct backend_stats *sums = status_backends_read(&backends, &nb);
	char resolved[80], when[40], esc[512];

	if (json)
		evbuffer_add_printf(out, "\"backends\":[");
	for (size_t i = 0; i < nb; i++) {
		const struct backend_conf *b = &backends[i];
		const struct backend_stats *bs = &sums[i];

		addr_format((const struct sockaddr *)&b->addr, resolved, sizeof resolved);
		if (json) {
			evbuffer_add_printf(out, "%s{", i > 0 ? "," : "");
			status_json_str(out, "name", b->name);
			evbuffer_add_printf(out, ",");
			status_json_str(out, "address", b->address);
			evbuffer_add_printf(out, ",\"port\":%u,", b->port);
			status_json_str(out, "resolved", resolved);
			evbuffer_add_printf(out,
			    ",\"requests\":%llu,\"errors\":%llu,\"timeouts\":%llu,",
			    (unsigned long long)bs->requests, (unsigned long long)bs->errors,
			    (unsigned long long)bs->timeouts);
			status_json_str(out, "last_error", bs->last_error);
			evbuffer_add_printf(out, ",\"last_error_time\":%lld}",
			    (long long)bs->last_error_time);
			continue;
		}
		log_escape(esc, sizeof esc, b->name, strlen(b->name));
		evbuffer_add_printf(out,
		    "backend        %s %s port %u (%s): requests %llu, errors %llu, "
		    "timeouts %llu",
		    esc, b->address, b->port, resolved, (unsigned long long)bs->requests,
		    (unsigned long long)bs->errors, (unsigned long long)bs->timeouts);
		if (bs->last_error_time != 0)
			evbuffer_add_printf(out, "; last error %s: %s",
			    status_time(bs->last_error_time, when, sizeof when), bs->last_error);
		evbuffer_add_printf(out, "\n");
	}
	if (json)
		evbuffer_add_printf(out, "],");
	free(sums);
}

void
status_render(struct evbuffer *out, bool json)
{
	uint64_t up = (clock_ms() - st.started_ms) / 1000;
	size_t n = session_count(), hs = session_handshake_count(), parked = session_parked_count();
	unsigned long long peak = (unsigned long long)session_peak();
	unsigned max = st.cfg != NULL ? st.cfg->max_sessions : 0;
	char started[40], reloaded[40], why[160], esc[1100];
	bool ready = status_ready(why, sizeof why);

	status_time(st.started, started, sizeof started);
	status_time(st.last_reload, reloaded, sizeof reloaded);
	if (json) {
		evbuffer_add_printf(out, "{");
		status_json_str(out, "version", PACKAGE_VERSION);
		evbuffer_add_printf(out, ",\"started\":%lld,\"uptime_s\":%llu,",
		    (long long)st.started, (unsigned long long)up);
		status_json_str(out, "config", st.config_path != NULL ? st.config_path : "");
		if (st.last_reload == 0)
			evbuffer_add_printf(out, ",\"last_reload\":null,");
		else {
			evbuffer_add_printf(out, ",\"last_reload\":{\"time\":%lld,\"ok\":%s,",
			    (long long)st.last_reload, st.last_reload_ok ? "true" : "false");
			status_json_str(out, "error", st.last_reload_error);
			evbuffer_add_printf(out, ",");
			status_json_str(out, "notes", st.last_reload_notes);
			evbuffer_add_printf(out, "},");
		}
		evbuffer_add_printf(out, "\"reloads\":{\"ok\":%llu,\"failed\":%llu},",
		    (unsigned long long)st.reloads_ok, (unsigned long long)st.reloads_failed);
		status_listeners(out, true);
		status_backends(out, true);
		evbuffer_add_printf(out,
		    "\"sessions\":{\"total\":%zu,\"established\":%zu,"
		    "\"handshaking\":%zu,\"parked\":%zu,\"peak\":%llu,\"max\":%u},"
		    "\"ready\":%s,",
		    n, n - hs, hs, parked, peak, max, ready ? "true" : "false");
		status_json_str(out, "ready_reason", why);
		evbuffer_add_printf(out, "}\n");
		return;
	}
	evbuffer_add_printf(out, "version        %s\n", PACKAGE_VERSION);
	evbuffer_add_printf(out, "started        %s\n", started);
	evbuffer_add_printf(out, "uptime         %llu s\n", (unsigned long long)up);
	evbuffer_add_printf(out, "config         %s\n",
	    log_escape(esc, sizeof esc, st.config_path ? st.config_path : "",
	        st.config_path ? strlen(st.config_path) : 0));
	if (st.last_reload == 0)
		evbuffer_add_printf(out, "last_reload    never\n");
	else if (st.last_reload_ok)
		evbuffer_add_printf(out, "last_reload    %s ok%s%s\n", reloaded,
		    st.last_reload_notes[0] ? ": " : "", st.last_reload_notes);
	else
		evbuffer_add_printf(out, "last_reload    %s failed: %s\n", reloaded,
		    log_escape(esc, sizeof esc, st.last_reload_error,
		        strlen(st.last_reload_error)));
	evbuffer_add_printf(out, "reloads        %llu ok, %llu failed\n",
	    (unsigned long long)st.reloads_ok, (unsigned long long)st.reloads_failed);
	status_listeners(out, false);
	status_backends(out, false);
	evbuffer_add_printf(out,
	    "sessions       %zu (%zu established of which %zu parked, %zu "
	    "handshaking; peak %llu, max %u)\n",
	    n, n - hs, parked, hs, peak, max);
	evbuffer_add_printf(out, "ready          %s%s%s\n", ready ? "yes" : "no", ready ? "" : ": ",
	    ready ? "" : why);
}
