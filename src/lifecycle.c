/* lifecycle.c: the workers' start, reload and stop: their listeners, sessions and saved state. */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <mbedtls/platform_util.h>

#include "clock.h"
#include "configuration.h"
#include "fdstore.h"
#include "frontdoor.h"
#include "hspool.h"
#include "lifecycle.h"
#include "listener.h"
#include "log.h"
#include "relay.h"
#include "session.h"
#include "state.h"
#include "state_store.h"
#include "steer.h"
#include "worker.h"

/* The calling worker's open listeners, and those a listener update opened and not yet committed. */
static _Thread_local struct listener *listeners, *opened;
/* Whether the calling worker reads its listeners (lifecycle_listen; not before the restore). */
static _Thread_local bool reading;

/* A start or a listener update, in each worker in turn: the first failure stops it. */
struct open_call {
	struct proxy_config *cfg;
	bool *alone; /* per cfg->listens[]: worker 0 reads its socket alone (not shared) */
	char *cause;
	int rc;
};

/* Finds the calling worker's open listener bound to the address of lc. */
static struct listener *
listener_find(const struct sockaddr_storage *addr, socklen_t len)
{
	for (struct listener *l = listeners; l != NULL; l = l->next)
		if (l->addrlen == len && memcmp(&l->addr, addr, len) == 0)
			return l;
	return NULL;
}

/* Closes the listeners of list (not yet committed) and drops them from the fd store. */
static void
listeners_drop(struct listener *list)
{
	while (list != NULL) {
		struct listener *next = list->next;

		listener_drop(list);
		list = next;
	}
}

/*
 * worker_call: opens the calling worker's listeners that c->cfg has and it
 * has not (reading only if it already reads: at the start, after the restore).
 */
static void
listeners_open_cb(void *arg)
{
	struct open_call *c = arg;
	const struct proxy_config *cfg = c->cfg;

	for (struct listener *l = listeners; l != NULL; l = l->next)
		l->keep = false;
	opened = NULL;
	for (size_t i = 0; i < cfg->n_listens; i++) {
		struct listener *l = listener_find(&cfg->listens[i].addr, cfg->listens[i].addrlen);

		if (worker_self() > 0 && c->alone[i])
			continue; /* worker 0 reads that address alone */
		if (l != NULL) {
			l->keep = true;
			c->alone[i] = worker_self() == 0 && !l->shared;
			continue;
		}
		l = listener_open(worker_base(), &cfg->listens[i], frontdoor_input, &c->cause);
		if (l == NULL) {
			listeners_drop(opened);
			opened = NULL;
			c->rc = -1;
			return;
		}
		if (!reading)
			listener_pause(l, true);
		c->alone[i] = worker_self() == 0 && !l->shared;
		l->keep = true;
		l->next = opened;
		opened = l;
		if (worker_self() == 0)
			log_info("event=listening address=%s socket=%s workers=%u", l->name,
			    l->adopted ? "kept" : "new", worker_count());
	}
}

/* worker_call: undoes listeners_open_cb (another worker failed). */
static void
listeners_abort_cb(void *arg)
{
	(void)arg;
	listeners_drop(opened);
	opened = NULL;
}

/* worker_call: closes the listeners cfg dropped (with their sessions) and adds the new ones. */
static void
listeners_commit_cb(void *arg)
{
	struct listener **pp;

	(void)arg;
	for (pp = &listeners; *pp != NULL;) {
		struct listener *l = *pp;

		if (l->keep) {
			pp = &l->next;
			continue;
		}
		*pp = l->next;
		if (worker_self() == 0)
			log_info("event=listener-closed address=%s reason=\"removed from the "
			         "configuration\"",
			    l->name);
		session_close_listener(l, CLOSE_LISTENER_REMOVED);
		listener_drop(l);
	}
	while (opened != NULL) {
		struct listener *next = opened->next;

		opened->next = listeners;
		listeners = opened;
		opened = next;
	}
}

int
lifecycle_listeners_update(struct proxy_config *cfg, char **cause)
{
	struct open_call c = { .cfg = cfg };

	c.alone = calloc(cfg->n_listens + 1, sizeof *c.alone);
	if (c.alone == NULL) {
		*cause = strdup("out of memory");
		return -1;
	}
	/* In worker order: the sockets join their SO_REUSEPORT group as steer.c numbers them. */
	for (unsigned k = 0; k < worker_count(); k++) {
		worker_call(k, listeners_open_cb, &c);
		if (c.rc < 0) {
			for (unsigned j = 0; j < k; j++)
				worker_call(j, listeners_abort_cb, NULL);
			free(c.alone);
			*cause = c.cause;
			return -1;
		}
	}
	worker_call_all(listeners_commit_cb, NULL);
	free(c.alone);
	return 0;
}

struct listener *
lifecycle_listeners(void)
{
	return listeners;
}

/* worker_call: the calling worker's part of the start (its loop, tables, pool queue). */
static void
worker_setup_cb(void *arg)
{
	struct open_call *c = arg;

	if (c->rc < 0)
		return;
	if (session_init(worker_base(), &c->cause) < 0 ||
	    hspool_attach(worker_base(), &c->cause) < 0) {
		c->rc = -1;
		return;
	}
	session_set_config(c->cfg);
	frontdoor_init();
	if (relay_init(worker_base()) < 0) {
		c->cause = strdup("cannot set up the CoAP relay");
		c->rc = -1;
	}
}

int
lifecycle_start(struct event_base *base, struct proxy_config *cfg, char **cause)
{
	struct open_call c = { .cfg = cfg };
	unsigned n = cfg->workers == CONFIG_WORKERS_AUTO ? hspool_default_threads() : cfg->workers;
	unsigned hs = cfg->handshake_threads == CONFIG_HANDSHAKE_THREADS_AUTO
	                  ? hspool_default_threads()
	                  : cfg->handshake_threads;

	if (n > CONFIG_WORKERS_MAX)
		n = CONFIG_WORKERS_MAX;
	session_set_hooks(&relay_hooks);
	if (worker_start(n, base, cause) < 0 || hspool_start(hs, cause) < 0)
		return -1;
	worker_call_all(worker_setup_cb, &c);
	if (c.rc < 0) {
		*cause = c.cause != NULL ? c.cause : strdup("out of memory");
		return -1;
	}
	return 0;
}

/* worker_call: starts or stops (arg non-NULL) reading the calling worker's listeners. */
static void
listeners_pause_cb(void *arg)
{
	reading = arg == NULL;
	for (struct listener *l = listeners; l != NULL; l = l->next)
		listener_pause(l, arg != NULL);
}

void
lifecycle_listen(bool on)
{
	worker_call_all(listeners_pause_cb, on ? NULL : "");
}

/* A reload's snapshot, and the sessions it revoked in all workers. */
struct reload_call {
	struct proxy_config *cfg;
	size_t revoked;
};

/* worker_call: applies a reload's snapshot in the calling worker; counts the revoked sessions. */
static void
reload_cb(void *arg)
{
	struct reload_call *c = arg;

	session_set_config(c->cfg);
	c->revoked += session_revalidate(c->cfg);
}

size_t
lifecycle_reload(struct proxy_config *cfg)
{
	struct reload_call c = { .cfg = cfg };

	worker_call_all(reload_cb, &c);
	return c.revoked;
}

/* One saved session to restore, and why it was not. */
struct restore_call {
	const struct state_session *ss;
	const char *why;
	int rc;
};

/* worker_call: restores one saved session in the worker that owns it. */
static void
restore_one_cb(void *arg)
{
	struct restore_call *c = arg;
	struct listener *l = listener_find(&c->ss->listener, c->ss->listener_len);

	if (l == NULL) {
		c->why = "listener-gone";
		c->rc = -1;
		return;
	}
	c->rc = session_restore(c->ss, l, &c->why);
}

/* Counts of why restored sessions were dropped, for the log line. */
struct restore_drops {
	size_t idle, revoked, listener, duplicate, other;
};

/* Restores ss in its owner (steer.c: where its records will arrive); counts a drop in d. */
static bool
restore_one(const struct state_session *ss, struct restore_drops *d)
{
	struct restore_call c = { .ss = ss };
	int cid0 = ss->cid_len > 0 ? ss->cid[0] : -1;
	const struct listener *l0 = listener_find(&ss->listener, ss->listener_len);
	unsigned owner = steer_owner((const struct sockaddr *)&ss->peer, cid0, worker_count());
	char peer[64];

	/* (This runs in worker 0: listener_find sees worker 0's listeners.) */
	worker_call(l0 != NULL && !l0->shared ? 0 : owner, restore_one_cb, &c);
	if (c.rc == 0)
		return true;
	addr_format((const struct sockaddr *)&ss->peer, peer, sizeof peer);
	log_info("event=session-not-restored session=%08x peer=%s reason=%s", ss->id, peer, c.why);
	if (strcmp(c.why, "idle") == 0)
		d->idle++;
	else if (strcmp(c.why, "credentials-revoked") == 0)
		d->revoked++;
	else if (strcmp(c.why, "listener-gone") == 0)
		d->listener++;
	else if (strcmp(c.why, "duplicate") == 0)
		d->duplicate++;
	else
		d->other++;
	return false;
}

void
lifecycle_restore(struct proxy_config *cfg)
{
	struct state_in in;
	struct state_session *ss = NULL;
	struct restore_drops d = { 0 };
	uint8_t *data = NULL;
	size_t len = 0, n = 0, revoked = 0;
	uint64_t t0 = clock_ms();
	const char *source = "none";
	char *cause = NULL;
	int rc;

	rc = state_store_take(cfg->state_file, &data, &len, &source, &cause);
	if (rc == 0)
		return;
	if (rc < 0 || state_in_open(&in, data, len, &cause) < 0)
		goto refused;
	if ((ss = malloc(sizeof *ss)) == NULL)
		goto refused;
	while ((rc = state_in_next(&in, ss, &cause)) == 1)
		n += restore_one(ss, &d);
	if (rc < 0) {
		/* The digest held, so this is a writer's bug: keep what was restored. */
		log_warnx("event=sessions-restore-stopped source=%s reason=\"%s\"", source,
		    cause != NULL ? cause : "?");
		free(cause);
		cause = NULL;
	}
	revoked = lifecycle_reload(cfg);
	log_info("event=sessions-restored count=%zu dropped=%zu idle=%zu credentials_revoked=%zu "
	         "listener_gone=%zu duplicate=%zu other=%zu bytes=%zu ms=%llu source=%s",
	    n - revoked, d.idle + d.revoked + d.listener + d.duplicate + d.other + revoked, d.idle,
	    d.revoked + revoked, d.listener, d.duplicate, d.other, len,
	    (unsigned long long)(clock_ms() - t0), source);
	goto out;
refused:
	log_warnx("event=sessions-restored count=0 dropped=0 source=%s reason=\"%s\" (starting "
	          "without saved sessions)",
	    source, cause != NULL ? cause : "out of memory");
out:
	free(cause);
	free(ss);
	if (data != NULL) {
		mbedtls_platform_zeroize(data, len);
		free(data);
	}
}

/* The state every worker saves its sessions into (NULL: none is kept), and the counts. */
struct save_call {
	struct state_out *out;
	size_t saved, dropped;
};

/* worker_hold_all: the calling worker's sessions into the state (it handles no more events). */
static void
save_cb(void *arg)
{
	struct save_call *c = arg;

	hspool_drain(); /* handshakes the pool finished are this worker's again */
	if (c->out != NULL)
		c->saved += session_save_all(c->out, &c->dropped);
}

/* worker_call: the saved state could not be kept: the sessions end with close_notify. */
static void
save_cancel_cb(void *arg)
{
	(void)arg;
	session_save_cancel();
}

/*
 * Saves the established sessions of every worker for the next start (they get
 * no close_notify and no other record once saved). Handshakes in progress end
 * with the rest. Nothing is saved when session.state_file is "".
 */
static void
lifecycle_save(struct proxy_config *cfg)
{
	struct state_out o;
	struct save_call c = { 0 };
	uint8_t *data = NULL;
	size_t len = 0;
	uint64_t t0 = clock_ms();
	const char *where = "";
	char *cause = NULL;

	if (cfg->state_file[0] == '\0') {
		worker_hold_all(save_cb, &c);
		return;
	}
	if (session_handshake_count() > 0)
		log_info("event=sessions-saving handshakes_dropped=%zu", session_handshake_count());
	if (state_out_init(&o, &cause) < 0) {
		worker_hold_all(save_cb, &c);
		goto fail;
	}
	c.out = &o;
	worker_hold_all(save_cb, &c);
	if (c.saved == 0) {
		state_out_free(&o);
		log_info("event=sessions-saved count=0 bytes=0 ms=%llu dropped=%zu where=none",
		    (unsigned long long)(clock_ms() - t0), c.dropped);
		return;
	}
	if (state_out_finish(&o, clock_unix_ms(), &data, &len, &cause) < 0 ||
	    state_store_put(cfg->state_file, data, len, &where, &cause) < 0) {
		state_out_free(&o);
		goto fail;
	}
	mbedtls_platform_zeroize(data, len);
	free(data);
	log_info("event=sessions-saved count=%zu bytes=%zu ms=%llu dropped=%zu where=%s", c.saved,
	    len, (unsigned long long)(clock_ms() - t0), c.dropped, where);
	return;
fail:
	if (data != NULL) {
		mbedtls_platform_zeroize(data, len);
		free(data);
	}
	/* Not kept anywhere: the sessions end as before, with close_notify. */
	worker_call_all(save_cancel_cb, NULL);
	log_warnx("event=sessions-saved count=0 reason=\"%s\"",
	    cause != NULL ? cause : "out of memory");
	free(cause);
}

/* worker_call: ends the calling worker's sessions, relay, listeners and pool queue. */
static void
worker_shutdown_cb(void *arg)
{
	(void)arg;
	session_shutdown();
	relay_shutdown();
	while (listeners != NULL) {
		struct listener *next = listeners->next;

		listener_close(listeners);
		listeners = next;
	}
	hspool_detach();
}

void
lifecycle_stop(struct proxy_config *cfg)
{
	hspool_stop(); /* the handshakes it ran go back to their workers (marked closes done) */
	lifecycle_save(cfg);
	worker_call_all(worker_shutdown_cb, NULL);
	worker_stop();
}
