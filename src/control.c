/* control.c: the Unix control socket: one request line in, text or JSON and OK/ERR out. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "control.h"
#include "fdlimit.h"
#include "listener.h"
#include "log.h"
#include "log_ring.h"
#include "metrics.h"
#include "session.h"
#include "status.h"
#include "text.h"

/* One connected coaps-proxyctl: reads one line, then writes the answer and goes. */
struct control_client {
	struct bufferevent *bev;
	/* CONTROL_REQUEST_SECS, then CONTROL_ANSWER_SECS after the answer */
	struct event *deadline;
	struct control_client *prev, *next;
	unsigned uid;
	bool answered;
	void *pending; /* a reload or check-config under way (its hook's handle) */
	bool check;    /* that one is a check-config: "configuration OK" on success */
	bool json;     /* the request asked for --json */
};

/* The control socket (one per daemon). */
struct control {
	struct event_base *base;
	struct evconnlistener *lev;
	struct event *resume; /* re-enables accepting after EMFILE and friends */
	char *path;
	dev_t dev; /* of the socket file, so only ours is unlinked */
	ino_t ino;
	gid_t gid; /* group of the socket file: its members may connect */
	struct control_hooks hooks;
	struct control_client *clients;
	size_t n_clients;
};

static struct control *ctl;

/* Appends "key":"value" (value JSON-escaped) and a comma unless last. */
static void
control_json_str(struct evbuffer *out, const char *key, const char *value, bool last)
{
	evbuffer_add_printf(out, "\"%s\":\"", key);
	text_json_evbuffer(out, value, strlen(value));
	evbuffer_add_printf(out, last ? "\"" : "\",");
}

/* Formats a duration in ms as 5s, 3m, 2h or 4d. */
static const char *
control_age(uint64_t ms, char *buf, size_t len)
{
	uint64_t s = ms / 1000;

	if (s < 60)
		snprintf(buf, len, "%llus", (unsigned long long)s);
	else if (s < 3600)
		snprintf(buf, len, "%llum", (unsigned long long)(s / 60));
	else if (s < 86400)
		snprintf(buf, len, "%lluh", (unsigned long long)(s / 3600));
	else
		snprintf(buf, len, "%llud", (unsigned long long)(s / 86400));
	return buf;
}

/* Escapes a string for text output ("-" when empty). */
static const char *
control_text(const char *s, char *buf, size_t len)
{
	if (s[0] == '\0')
		return "-";
	return log_escape(buf, len, s, strlen(s));
}

/* State of one `sessions` listing. */
struct control_list {
	struct evbuffer *out;
	bool json, first;
};

/* session_foreach: appends one session as a tab-separated line or a JSON object. */
static void
control_list_cb(const struct session_info *si, void *arg)
{
	struct control_list *cl = arg;
	char peer[256], id[600], cipher[256], backend[256], age[32], idle[32];

	if (cl->json) {
		evbuffer_add_printf(cl->out, "%s{\"id\":\"%08x\",", cl->first ? "" : ",\n", si->id);
		control_json_str(cl->out, "peer", si->peer, false);
		control_json_str(cl->out, "local", si->local, false);
		control_json_str(cl->out, "auth", si->auth, false);
		control_json_str(cl->out, "identity", si->identity, false);
		control_json_str(cl->out, "cipher", si->cipher, false);
		control_json_str(cl->out, "state", si->state, false);
		control_json_str(cl->out, "backend", si->backend, false);
		control_json_str(cl->out, "cid", si->cid, false);
		evbuffer_add_printf(cl->out,
		    "\"worker\":%u,\"age_ms\":%llu,\"idle_ms\":%llu,\"bytes_in\":%llu,"
		    "\"bytes_out\":%llu,\"msgs_in\":%llu,\"msgs_out\":%llu}",
		    si->worker, (unsigned long long)si->age_ms, (unsigned long long)si->idle_ms,
		    (unsigned long long)si->bytes_in, (unsigned long long)si->bytes_out,
		    (unsigned long long)si->msgs_in, (unsigned long long)si->msgs_out);
	} else
		evbuffer_add_printf(cl->out,
		    "%08x\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%llu\t%llu\t%llu\t%llu\t%s\t%s\t%u\n",
		    si->id, control_text(si->peer, peer, sizeof peer),
		    si->auth[0] != '\0' ? si->auth : "-", control_text(si->identity, id, sizeof id),
		    control_text(si->cipher, cipher, sizeof cipher), si->state,
		    control_age(si->age_ms, age, sizeof age),
		    control_age(si->idle_ms, idle, sizeof idle), (unsigned long long)si->bytes_in,
		    (unsigned long long)si->bytes_out, (unsigned long long)si->msgs_in,
		    (unsigned long long)si->msgs_out,
		    control_text(si->backend, backend, sizeof backend), si->cid[0] ? si->cid : "-",
		    si->worker);
	cl->first = false;
}

/* `sessions [--json]`: a tab-separated table with a header, or a JSON array. */
static void
control_sessions(struct evbuffer *out, bool json)
{
	struct control_list cl = { .out = out, .json = json, .first = true };

	if (json)
		evbuffer_add_printf(out, "[");
	else
		evbuffer_add_printf(out,
		    "ID\tPEER\tAUTH\tIDENTITY\tCIPHER\tSTATE\tAGE\tIDLE\tBYTES_IN\t"
		    "BYTES_OUT\tMSGS_IN\tMSGS_OUT\tBACKEND\tCID\tWORKER\n");
	session_foreach_all(control_list_cb, &cl);
	if (json)
		evbuffer_add_printf(out, "]\n");
}

/* State of one `show ID`. */
struct control_show {
	struct evbuffer *out;
	uint32_t id;
	bool found, json;
};

/* Formats unix time t as 2026-12-05T10:11:12Z. */
static const char *
control_time(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL)
		snprintf(buf, len, "%lld", (long long)t);
	else
		strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

/* Appends one session in detail as a JSON object. */
static void
control_show_json(struct evbuffer *out, const struct session_info *si)
{
	evbuffer_add_printf(out, "{\"id\":\"%08x\",", si->id);
	control_json_str(out, "peer", si->peer, false);
	control_json_str(out, "local", si->local, false);
	control_json_str(out, "auth", si->auth, false);
	control_json_str(out, "identity", si->identity, false);
	control_json_str(out, "cipher", si->cipher, false);
	control_json_str(out, "state", si->state, false);
	evbuffer_add_printf(out, "\"worker\":%u,", si->worker);
	control_json_str(out, "backend", si->backend, false);
	control_json_str(out, "backends", si->backends, false);
	/* The DTLS connection ID goes here ("cid"). */
	if (si->handshake_ms >= 0)
		evbuffer_add_printf(out, "\"handshake_ms\":%lld,", (long long)si->handshake_ms);
	else
		evbuffer_add_printf(out, "\"handshake_ms\":null,");
	if (si->cert_subject[0] != '\0') {
		evbuffer_add_printf(out, "\"certificate\":{");
		control_json_str(out, "subject", si->cert_subject, false);
		control_json_str(out, "issuer", si->cert_issuer, false);
		evbuffer_add_printf(out, "\"not_after\":%lld},", (long long)si->cert_not_after);
	} else
		evbuffer_add_printf(out, "\"certificate\":null,");
	evbuffer_add_printf(out,
	    "\"observing\":%u,\"pending\":%u,\"age_ms\":%llu,\"idle_ms\":%llu,\"bytes_in\":%llu,"
	    "\"bytes_out\":%llu,\"msgs_in\":%llu,\"msgs_out\":%llu}\n",
	    si->observing, si->pending, (unsigned long long)si->age_ms,
	    (unsigned long long)si->idle_ms, (unsigned long long)si->bytes_in,
	    (unsigned long long)si->bytes_out, (unsigned long long)si->msgs_in,
	    (unsigned long long)si->msgs_out);
}

/* session_foreach: prints the session with the wanted id as "key value" lines or JSON. */
static void
control_show_cb(const struct session_info *si, void *arg)
{
	struct control_show *cs = arg;
	char buf[600], age[32];

	if (si->id != cs->id || cs->found)
		return;
	cs->found = true;
	if (cs->json) {
		control_show_json(cs->out, si);
		return;
	}
	evbuffer_add_printf(cs->out, "id         %08x\n", si->id);
	evbuffer_add_printf(cs->out, "peer       %s\n", control_text(si->peer, buf, sizeof buf));
	evbuffer_add_printf(cs->out, "local      %s\n", control_text(si->local, buf, sizeof buf));
	evbuffer_add_printf(cs->out, "auth       %s\n", si->auth[0] != '\0' ? si->auth : "-");
	evbuffer_add_printf(cs->out, "identity   %s\n",
	    control_text(si->identity, buf, sizeof buf));
	evbuffer_add_printf(cs->out, "cipher     %s\n", control_text(si->cipher, buf, sizeof buf));
	evbuffer_add_printf(cs->out, "state      %s\n", si->state);
	evbuffer_add_printf(cs->out, "worker     %u\n", si->worker);
	evbuffer_add_printf(cs->out, "backend    %s\n", control_text(si->backend, buf, sizeof buf));
	evbuffer_add_printf(cs->out, "cid        %s\n", si->cid[0] ? si->cid : "-");
	evbuffer_add_printf(cs->out, "age        %s (%llu ms)\n",
	    control_age(si->age_ms, age, sizeof age), (unsigned long long)si->age_ms);
	evbuffer_add_printf(cs->out, "idle       %s (%llu ms)\n",
	    control_age(si->idle_ms, age, sizeof age), (unsigned long long)si->idle_ms);
	evbuffer_add_printf(cs->out,
	    "bytes_in   %llu\nbytes_out  %llu\nmsgs_in    %llu\n"
	    "msgs_out   %llu\n",
	    (unsigned long long)si->bytes_in, (unsigned long long)si->bytes_out,
	    (unsigned long long)si->msgs_in, (unsigned long long)si->msgs_out);
	if (si->handshake_ms >= 0)
		evbuffer_add_printf(cs->out, "handshake  %lld ms\n", (long long)si->handshake_ms);
	else
		evbuffer_add_printf(cs->out, "handshake  in progress\n");
	/* The DTLS connection ID goes here ("cid"). */
	if (si->cert_subject[0] != '\0') {
		evbuffer_add_printf(cs->out, "cert_subject %s\n",
		    control_text(si->cert_subject, buf, sizeof buf));
		evbuffer_add_printf(cs->out, "cert_issuer  %s\n",
		    control_text(si->cert_issuer, buf, sizeof buf));
		evbuffer_add_printf(cs->out, "cert_expiry  %s (%lld)\n",
		    control_time(si->cert_not_after, age, sizeof age),
		    (long long)si->cert_not_after);
	} else
		evbuffer_add_printf(cs->out, "cert_subject -\n");
	evbuffer_add_printf(cs->out, "backends   %s\n",
	    control_text(si->backends, buf, sizeof buf));
	evbuffer_add_printf(cs->out, "observing  %u\npending    %u\n", si->observing, si->pending);
}

/* Parses a session id (1 to 8 hex digits); false if it is not one. */
static bool
control_parse_id(const char *s, uint32_t *id)
{
	unsigned long v;
	char *end;
	size_t n = strlen(s);

	if (n == 0 || n > 8 || strspn(s, "0123456789abcdefABCDEF") != n)
		return false;
	v = strtoul(s, &end, 16);
	*id = (uint32_t)v;
	return *end == '\0';
}

/* Returns the argument after "cmd " in line, or NULL if line is not that command. */
static const char *
control_arg(const char *line, const char *cmd)
{
	size_t n = strlen(cmd);

	if (strncmp(line, cmd, n) != 0 || line[n] != ' ')
		return NULL;
	line += n;
	while (*line == ' ')
		line++;
	return line;
}

/* Writes "ERR why" with control characters in why made spaces. */
static void
control_err(struct evbuffer *out, const char *why)
{
	char buf[1024];
	size_t i;

	for (i = 0; why[i] != '\0' && i < sizeof buf - 1; i++)
		buf[i] = (unsigned char)why[i] < 0x20 || why[i] == 0x7f ? ' ' : why[i];
	buf[i] = '\0';
	evbuffer_add_printf(out, "ERR %s\n", buf);
}

/* Writes "OK", or "ERR cause" when r < 0, and frees cause. */
static void
control_result(struct evbuffer *out, int r, char *cause)
{
	if (r < 0)
		control_err(out, cause != NULL ? cause : "failed");
	else
		evbuffer_add_printf(out, "OK\n");
	free(cause);
}

static void control_finish(struct control_client *c);

/* control_reply_fn: a reload or check-config is over: answer and close. */
static void
control_reply_cb(void *token, int r, char *cause)
{
	struct control_client *c = token;
	struct evbuffer *out = bufferevent_get_output(c->bev);

	c->pending = NULL;
	if (r == 0) {
		const char *text = c->check        ? "configuration OK"
		                   : cause != NULL ? cause
		                                   : "reloaded";

		if (c->json) {
			evbuffer_add_printf(out, "{\"result\":\"%s\",\"message\":\"",
			    c->check ? "configuration OK" : "reloaded");
			text_json_evbuffer(out, text, strlen(text));
			evbuffer_add_printf(out, "\"}\n");
		} else
			evbuffer_add_printf(out, "%s\n", text);
		free(cause);
		cause = NULL;
	}
	control_result(out, r, cause);
	control_finish(c);
}

/* Runs one request line and appends its answer to out (later for reload and check-config). */
#define CONTROL_STR(x) #x
#define CONTROL_XSTR(x) CONTROL_STR(x)

/* Fills in req from its line (the byte checks passed); -1 with *why if it is no request. */
static int
control_parse_line(struct control_request *req, const char **why)
{
	const char *line = req->line;
	const char *arg;
	size_t n = strlen(req->line);

	req->arg = NULL;
	/* Every request takes --json at its end. */
	req->json = n > 7 && strcmp(req->line + n - 7, " --json") == 0;
	if (req->json)
		req->line[n - 7] = '\0';
	if (strcmp(line, "sessions") == 0) {
		req->verb = CONTROL_SESSIONS;
	} else if (strcmp(line, "stats") == 0) {
		req->verb = CONTROL_STATS;
	} else if (strcmp(line, "status") == 0) {
		req->verb = CONTROL_STATUS;
	} else if (strcmp(line, "listeners") == 0) {
		req->verb = CONTROL_LISTENERS;
	} else if ((arg = control_arg(line, "log")) != NULL) {
		req->verb = CONTROL_LOG;
		if (*arg == '\0') {
			*why = "log: the peer address:port is needed";
			return -1;
		}
		req->arg = arg;
	} else if ((arg = control_arg(line, "show")) != NULL) {
		req->verb = CONTROL_SHOW;
		if (!control_parse_id(arg, &req->id)) {
			*why = "show: the session id is 1 to 8 hex digits (see `sessions`)";
			return -1;
		}
	} else if ((arg = control_arg(line, "close --identity")) != NULL) {
		req->verb = CONTROL_CLOSE_IDENTITY;
		if (*arg == '\0') {
			*why = "close --identity: a glob is needed (e.g. 'dev-*')";
			return -1;
		}
		req->arg = arg;
	} else if ((arg = control_arg(line, "close")) != NULL) {
		req->verb = CONTROL_CLOSE;
		if (!control_parse_id(arg, &req->id)) {
			*why = "close: the session id is 1 to 8 hex digits (see `sessions`)";
			return -1;
		}
	} else if (strcmp(line, "reload") == 0) {
		req->verb = CONTROL_RELOAD;
	} else if (strcmp(line, "check-config") == 0 ||
	           (arg = control_arg(line, "check-config")) != NULL) {
		req->verb = CONTROL_CHECK_CONFIG;
		req->arg = line[12] != '\0' && *arg != '\0' ? arg : NULL;
	} else {
		*why =
		    "unknown request: sessions, show ID, close ID, close --identity GLOB, stats, "
		    "status, listeners, log PEER, reload, check-config [PATH] (each with --json)";
		return -1;
	}
	return 1;
}

int
control_parse(const void *buf, size_t len, struct control_request *req, const char **why)
{
	const char *p = buf;
	const char *eol;
	size_t n;

	req->line[0] = '\0';
	*why = NULL;
	eol = memchr(p, '\n', len < CONTROL_LINE_MAX + 2 ? len : CONTROL_LINE_MAX + 2);
	if (eol == NULL && len <= CONTROL_LINE_MAX)
		return 0;
	n = eol != NULL ? (size_t)(eol - p) : len;
	if (n > 0 && p[n - 1] == '\r')
		n--;
	if (eol == NULL || n > CONTROL_LINE_MAX) {
		*why = "request longer than " CONTROL_XSTR(CONTROL_LINE_MAX) " bytes";
		return -1;
	}
	if (memchr(p, '\0', n) != NULL) {
		*why = "NUL byte in the request";
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f) {
			*why = "control characters in the request";
			return -1;
		}
	memcpy(req->line, p, n);
	req->line[n] = '\0';
	return control_parse_line(req, why);
}

/* Logs a request line that passed the byte checks (close and reload at info level). */
static void
control_log_request(const struct control_client *c, const char *line)
{
	char esc[256];

	log_escape(esc, sizeof esc, line, strlen(line));
	if (strncmp(line, "close", 5) == 0 || strncmp(line, "reload", 6) == 0)
		log_info("event=control uid=%u request=\"%s\"", c->uid, esc);
	else
		log_debug("event=control uid=%u request=\"%s\"", c->uid, esc);
}

/* log_ring_find_peer: appends one log line as a text line or a JSON string. */
static void
control_log_cb(const char *line, void *arg)
{
	struct control_list *cl = arg;

	if (cl->json) {
		evbuffer_add_printf(cl->out, "%s\"", cl->first ? "" : ",\n");
		text_json_evbuffer(cl->out, line, strlen(line));
		evbuffer_add_printf(cl->out, "\"");
	} else
		evbuffer_add_printf(cl->out, "%s\n", line);
	cl->first = false;
}

/* `listeners`: the bound addresses, one a line, or a JSON array. */
static void
control_listeners(struct evbuffer *out, bool json)
{
	const struct listener *l;

	if (json)
		evbuffer_add_printf(out, "[");
	for (l = status_get()->listeners; l != NULL; l = l->next) {
		if (json) {
			evbuffer_add_printf(out, "%s\"", l != status_get()->listeners ? "," : "");
			text_json_evbuffer(out, l->name, strlen(l->name));
			evbuffer_add_printf(out, "\"");
		} else
			evbuffer_add_printf(out, "%s\n", l->name);
	}
	evbuffer_add_printf(out, "%sOK\n", json ? "]\n" : "");
}

/* Runs one parsed request and appends its answer to out. */
static void
control_execute(struct control_client *c, const struct control_request *req, struct evbuffer *out)
{
	char *cause = NULL;
	size_t n;

	c->json = req->json;
	switch (req->verb) {
	case CONTROL_SESSIONS:
		control_sessions(out, req->json);
		evbuffer_add_printf(out, "OK\n");
		break;
	case CONTROL_STATS:
		if (req->json)
			metrics_render_json(out);
		else
			metrics_render_text(out);
		evbuffer_add_printf(out, "OK\n");
		break;
	case CONTROL_STATUS:
		status_render(out, req->json);
		evbuffer_add_printf(out, "OK\n");
		break;
	case CONTROL_LISTENERS:
		control_listeners(out, req->json);
		break;
	case CONTROL_LOG: {
		struct control_list cl = { .out = out, .json = req->json, .first = true };

		if (req->json)
			evbuffer_add_printf(out, "[");
		log_ring_find_peer(req->arg, control_log_cb, &cl);
		evbuffer_add_printf(out, "%sOK\n", req->json ? "]\n" : "");
		break;
	}
	case CONTROL_SHOW: {
		struct control_show cs = { .out = out, .id = req->id, .json = req->json };

		session_foreach_all(control_show_cb, &cs);
		if (cs.found)
			evbuffer_add_printf(out, "OK\n");
		else
			evbuffer_add_printf(out, "ERR no session %08x\n", cs.id);
		break;
	}
	case CONTROL_CLOSE_IDENTITY:
		n = session_close_identity_all(req->arg, CLOSE_CONTROL);
		if (req->json)
			evbuffer_add_printf(out, "{\"closed\":%zu}\nOK\n", n);
		else
			evbuffer_add_printf(out, "closed %zu session%s\nOK\n", n,
			    n == 1 ? "" : "s");
		break;
	case CONTROL_CLOSE:
		if (!session_close_id_all(req->id, CLOSE_CONTROL))
			evbuffer_add_printf(out, "ERR no session %08x\n", req->id);
		else if (req->json)
			evbuffer_add_printf(out, "{\"closed\":1,\"id\":\"%08x\"}\nOK\n", req->id);
		else
			evbuffer_add_printf(out, "closed session %08x\nOK\n", req->id);
		break;
	case CONTROL_RELOAD:
		if (ctl->hooks.reload == NULL) {
			control_err(out, "reload is not available");
			break;
		}
		if ((c->pending = ctl->hooks.reload(control_reply_cb, c, &cause)) == NULL)
			control_result(out, -1, cause);
		break;
	case CONTROL_CHECK_CONFIG:
		c->check = true;
		if (ctl->hooks.check_config == NULL) {
			control_err(out, "check-config is not available");
			break;
		}
		if ((c->pending = ctl->hooks.check_config(req->arg, control_reply_cb, c, &cause)) ==
		    NULL)
			control_result(out, -1, cause);
		break;
	}
}

/* Unlinks a client and frees it (which closes its socket). */
static void
control_client_free(struct control_client *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		ctl->clients = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	ctl->n_clients--;
	if (c->pending != NULL && ctl->hooks.cancel != NULL)
		ctl->hooks.cancel(c->pending);
	if (c->deadline != NULL)
		event_free(c->deadline);
	bufferevent_free(c->bev);
	free(c);
}

/* bufferevent: end of file, error or the write timeout: drop the client. */
static void
control_event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	if (what & BEV_EVENT_TIMEOUT)
		log_debug("event=control-timeout uid=%u reason=\"answer not read for %d s\"",
		    ((struct control_client *)arg)->uid, CONTROL_IDLE_SECS);
	control_client_free(arg);
}

/*
 * libevent: the client's deadline passed: it had CONTROL_REQUEST_SECS to send
 * its request (a byte now and then does not extend it), or CONTROL_ANSWER_SECS
 * to read the answer. Dropping it frees its slot.
 */
static void
control_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct control_client *c = arg;

	(void)fd;
	(void)what;
	log_debug("event=control-timeout uid=%u reason=\"%s within %d s\"", c->uid,
	    c->answered ? "answer not read" : "no complete request",
	    c->answered ? CONTROL_ANSWER_SECS : CONTROL_REQUEST_SECS);
	control_client_free(c);
}

/* bufferevent: the answer has been written out: the client is done. */
static void
control_write_cb(struct bufferevent *bev, void *arg)
{
	char junk[4096];

	/* Unread input makes close() reset the connection: drop what was sent (64 KB at most). */
	for (int i = 0; i < 16; i++)
		if (recv(bufferevent_getfd(bev), junk, sizeof junk, MSG_DONTWAIT) <= 0)
			break;
	control_client_free(arg);
}

/* Sends the answer already in the output buffer, then closes. */
static void
control_finish(struct control_client *c)
{
	struct timeval answer = { CONTROL_ANSWER_SECS, 0 };

	c->answered = true;
	bufferevent_disable(c->bev, EV_READ);
	bufferevent_setcb(c->bev, NULL, control_write_cb, control_event_cb, c);
	evtimer_add(c->deadline, &answer);
}

/* bufferevent: the request line (bounded) arrived or is still coming. */
static void
control_read_cb(struct bufferevent *bev, void *arg)
{
	struct control_client *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer *out = bufferevent_get_output(bev);
	struct control_request req;
	char buf[CONTROL_LINE_MAX + 2];
	const char *why;
	ev_ssize_t n;
	int r;

	if (c->answered)
		return;
	/* The bytes are copied out, not taken with evbuffer_readln: libevent allocates
	 * from the pools (pool_use_for_libevent), and free() must not see that. */
	n = evbuffer_copyout(in, buf, sizeof buf);
	if (n < 0)
		n = 0;
	r = control_parse(buf, (size_t)n, &req, &why);
	if (r == 0)
		return; /* more to come (the watermark lets at most sizeof buf in) */
	evbuffer_drain(in, evbuffer_get_length(in));
	if (req.line[0] != '\0')
		control_log_request(c, req.line);
	if (r == 1)
		control_execute(c, &req, out);
	else
		control_err(out, why);
	if (c->pending != NULL) {
		/* Answered by control_reply_cb when the load is over: no more input, and
		 * no request deadline meanwhile (the load runs off the loop, bounded by
		 * the configuration size limit). */
		c->answered = true;
		bufferevent_disable(c->bev, EV_READ);
		evtimer_del(c->deadline);
		return;
	}
	control_finish(c);
}

/*
 * Tells whether the peer on fd may use the socket; why says why not.
 * *privileged: it is root or the daemon's own user (who may take the extra slots).
 */
static bool
control_peer_allowed(evutil_socket_t fd, unsigned *uid, bool *privileged, char *why, size_t len)
{
	struct ucred cr;
	socklen_t l = sizeof cr;

	*uid = (unsigned)-1;
	*privileged = false;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &l) < 0) {
		snprintf(why, len, "cannot read the peer's credentials: %s", strerror(errno));
		return false;
	}
	*uid = cr.uid;
	*privileged = cr.uid == 0 || cr.uid == geteuid();
	if (*privileged || cr.gid == ctl->gid)
		return true;
#ifdef SO_PEERGROUPS
	{
		gid_t groups[256];

		l = sizeof groups;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &l) == 0)
			for (size_t i = 0; i < l / sizeof groups[0]; i++)
				if (groups[i] == ctl->gid)
					return true;
	}
#endif
	snprintf(why, len,
	    "permission denied: uid %u is not root, the daemon's user (uid %u) or in the socket's "
	    "group (gid %u)",
	    (unsigned)cr.uid, (unsigned)geteuid(), (unsigned)ctl->gid);
	return false;
}

/* Writes one line to a client we are about to close (best effort, never blocks). */
static void
control_refuse(evutil_socket_t fd, const char *why)
{
	char line[512];
	int n = snprintf(line, sizeof line, "ERR %s\n", why);

	if (n > 0 && send(fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1,
	                 MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		log_debug("event=control-refuse-unsent error=\"%s\"", strerror(errno));
	evutil_closesocket(fd);
}

/* evconnlistener: a new client; checks who it is and how many there are. */
static void
control_accept_cb(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa, int salen,
    void *arg)
{
	struct timeval idle = { CONTROL_IDLE_SECS, 0 };
	struct timeval request = { CONTROL_REQUEST_SECS, 0 };
	struct control_client *c;
	char why[256];
	unsigned uid;
	bool privileged;

	(void)lev;
	(void)sa;
	(void)salen;
	(void)arg;
	if (!control_peer_allowed(fd, &uid, &privileged, why, sizeof why)) {
		log_warnx("event=control-refused uid=%u reason=\"%s\"", uid, why);
		control_refuse(fd, why);
		return;
	}
	if (!privileged && !fdlimit_spare_ok(fd)) {
		log_warnx(
		    "event=control-refused uid=%u reason=\"fewer than %d descriptors left below "
		    "the open-files limit: kept for sessions\"",
		    uid, FDLIMIT_RESERVE);
		control_refuse(fd, "busy: the daemon is short of descriptors, try again");
		return;
	}
	/* Root and the daemon's user have slots of their own: group members cannot lock them out. */
	if (ctl->n_clients >= CONTROL_CLIENTS_MAX + (privileged ? CONTROL_PRIVILEGED_EXTRA : 0)) {
		log_warnx("event=control-refused uid=%u reason=\"%zu clients already\"", uid,
		    ctl->n_clients);
		control_refuse(fd, "busy: too many control clients at once, try again");
		return;
	}
	c = calloc(1, sizeof *c);
	if (c == NULL || (c->deadline = evtimer_new(ctl->base, control_deadline_cb, c)) == NULL ||
	    (c->bev = bufferevent_socket_new(ctl->base, fd, BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		log_warnx("event=control-refused uid=%u reason=\"out of memory\"", uid);
		if (c != NULL && c->deadline != NULL)
			event_free(c->deadline);
		free(c);
		evutil_closesocket(fd);
		return;
	}
	c->uid = uid;
	c->next = ctl->clients;
	if (c->next != NULL)
		c->next->prev = c;
	ctl->clients = c;
	ctl->n_clients++;
	bufferevent_setcb(c->bev, control_read_cb, NULL, control_event_cb, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, CONTROL_LINE_MAX + 2);
	/* No read timeout: it would restart with every byte. The deadline is total. */
	bufferevent_set_timeouts(c->bev, NULL, &idle);
	if (evtimer_add(c->deadline, &request) < 0 || bufferevent_enable(c->bev, EV_READ) < 0)
		control_client_free(c);
}

/* libevent: accepting works again after a pause. */
static void
control_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	evconnlistener_enable(ctl->lev);
}

/* evconnlistener: accept() failed (out of descriptors): pause accepting for 1 s. */
static void
control_accept_error_cb(struct evconnlistener *lev, void *arg)
{
	struct timeval pause = { 1, 0 };

	(void)arg;
	log_warn("event=control-accept-failed path=%s", ctl->path);
	evconnlistener_disable(lev);
	evtimer_add(ctl->resume, &pause);
}

/* Removes a stale socket file at path; fails if a daemon answers on it. */
static int
control_remove_stale(const struct sockaddr_un *sun, char **cause)
{
	struct stat st;
	int fd, r, err;

	if (lstat(sun->sun_path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		if (asprintf(cause, "control socket %s: %s", sun->sun_path, strerror(errno)) < 0)
			*cause = NULL;
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		if (asprintf(cause,
		        "control socket %s: exists and is not a socket: remove it or "
		        "set control.socket",
		        sun->sun_path) < 0)
			*cause = NULL;
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		if (asprintf(cause, "control socket: %s", strerror(errno)) < 0)
			*cause = NULL;
		return -1;
	}
	r = connect(fd, (const struct sockaddr *)sun, sizeof *sun);
	err = errno;
	close(fd);
	if (r < 0 && err == ECONNREFUSED) {
		if (unlink(sun->sun_path) < 0 && errno != ENOENT) {
			if (asprintf(cause, "control socket %s: cannot remove the stale file: %s",
			        sun->sun_path, strerror(errno)) < 0)
				*cause = NULL;
			return -1;
		}
		log_info("event=control-stale-socket-removed path=%s", sun->sun_path);
		return 0;
	}
	if (asprintf(cause, "control socket %s: %s", sun->sun_path,
	        r == 0 || err == EAGAIN ? "another coaps-proxyd answers on it (stop it first, or "
	                                  "set another control.socket)"
	                                : strerror(err)) < 0)
		*cause = NULL;
	return -1;
}

/* Sets *cause to "control socket PATH: what: strerror" and returns -1. */
static int
control_fail(const char *path, const char *what, char **cause)
{
	if (asprintf(cause, "control socket %s: %s: %s", path, what, strerror(errno)) < 0)
		*cause = NULL;
	return -1;
}

int
control_init(struct event_base *base, const char *path, const struct control_hooks *hooks,
    char **cause)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t mask;
	int fd, r;

	*cause = NULL;
	if (path == NULL || path[0] == '\0')
		return 0;
	if (strlen(path) >= sizeof sun.sun_path) {
		if (asprintf(cause, "control socket %s: longer than %zu bytes", path,
		        sizeof sun.sun_path - 1) < 0)
			*cause = NULL;
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if (control_remove_stale(&sun, cause) < 0)
		return -1;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return control_fail(path, "socket", cause);
	mask = umask(0117); /* srw-rw---- */
	r = bind(fd, (const struct sockaddr *)&sun, sizeof sun);
	umask(mask);
	if (r < 0) {
		control_fail(path, errno == ENOENT ? "bind (does its directory exist?)" : "bind",
		    cause);
		close(fd);
		return -1;
	}
	if (listen(fd, CONTROL_CLIENTS_MAX + CONTROL_PRIVILEGED_EXTRA) < 0 || stat(path, &st) < 0) {
		control_fail(path, "listen", cause);
		close(fd);
		unlink(path);
		return -1;
	}
	ctl = calloc(1, sizeof *ctl);
	if (ctl == NULL || (ctl->path = strdup(path)) == NULL) {
		free(ctl);
		ctl = NULL;
		close(fd);
		unlink(path);
		*cause = strdup("control socket: out of memory");
		return -1;
	}
	ctl->base = base;
	ctl->hooks = *hooks;
	ctl->dev = st.st_dev;
	ctl->ino = st.st_ino;
	ctl->gid = st.st_gid;
	ctl->resume = evtimer_new(base, control_resume_cb, NULL);
	ctl->lev = evconnlistener_new(base, control_accept_cb, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (ctl->lev == NULL || ctl->resume == NULL) {
		if (ctl->lev == NULL)
			close(fd);
		control_free();
		*cause = strdup("control socket: cannot add it to the event loop");
		return -1;
	}
	evconnlistener_set_error_cb(ctl->lev, control_accept_error_cb);
	log_info("event=control-listening path=%s", path);
	return 0;
}

const char *
control_socket_path(void)
{
	return ctl != NULL ? ctl->path : "";
}

void
control_free(void)
{
	struct stat st;

	if (ctl == NULL)
		return;
	while (ctl->clients != NULL)
		control_client_free(ctl->clients);
	if (ctl->lev != NULL)
		evconnlistener_free(ctl->lev);
	if (ctl->resume != NULL)
		event_free(ctl->resume);
	/* Only our own socket file: a newer daemon may have replaced it. */
	if (stat(ctl->path, &st) == 0 && st.st_dev == ctl->dev && st.st_ino == ctl->ino)
		unlink(ctl->path);
	free(ctl->path);
	free(ctl);
	ctl = NULL;
}
