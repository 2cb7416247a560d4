/* main.c: flags, signals and the event loop of coaps-proxyd. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif
#include <mbedtls/debug.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/version.h>

#include "clock.h"
#include "config_job.h"
#include "configuration.h"
#include "control.h"
#include "dtls.h"
#include "fdstore.h"
#include "frontdoor.h"
#include "hspool.h"
#include "listener.h"
#include "log.h"
#include "pool.h"
#include "metrics.h"
#include "relay.h"
#include "session.h"
#include "state.h"
#include "state_store.h"
#include "stats.h"
#include "status.h"

#define DEFAULT_CONFIG CONFIG_PATH_DEFAULT /* defaults.h, through configuration.h */

/* Process-wide state set up in main(): the loop, the current snapshot, the listeners, -v, -c. */
static struct event_base *base;
static struct proxy_config *current;
static struct listener *listeners;
static int verbose;
static const char *config_path;

#define STATUS_INTERVAL 5 /* seconds between sd_notify STATUS= updates */
#define TRIM_INTERVAL 5   /* seconds between checks whether to give freed memory back */
#define TRIM_SESSIONS 64  /* sessions ended or parked since the last trim that call for one */

/* Counters at the last malloc_trim, to tell how many sessions went since. */
static struct {
	uint64_t done;   /* handshakes finished (ok or failed) */
	uint64_t parked; /* sessions parked */
	size_t count;    /* sessions then */
	size_t last;     /* sessions at the previous check */
} trimmed;

/* Prints usage and exits with status. */
static void __attribute__((noreturn)) usage(int status)
{
	fprintf(status ? stderr : stdout,
	    "usage: coaps-proxyd [-htvV] [-c FILE]\n"
	    "  -c FILE  configuration file (default %s)\n"
	    "  -t       check the configuration, print \"configuration OK\" or the error, exit\n"
	    "  -v       more verbose (debug level; twice: mbedTLS debug too)\n"
	    "  -h       this help\n"
	    "  -V       version\n",
	    DEFAULT_CONFIG);
	exit(status);
}

/* Loads a configuration file and builds its mbedTLS side; NULL with *cause. */
static struct proxy_config *
load(const char *path, char **cause)
{
	struct proxy_config *cfg = config_load(path, cause);

	if (cfg == NULL)
		return NULL;
	if (dtls_config_build(cfg, cause) < 0) {
		config_unref(cfg);
		return NULL;
	}
	return cfg;
}

/* Applies the log level of a snapshot, raised by -v. */
static void
apply_log_level(const struct proxy_config *cfg)
{
	int level = verbose > 0 ? LOG_LVL_DEBUG : cfg->log_level;

	log_set_level((enum log_level)level);
	mbedtls_debug_set_threshold(verbose > 1 ? 3 : verbose > 0 ? 1 : 0);
}

/* Tells systemd (when built with libsystemd and run by it) how we are. */
static void LOG_PRINTF(1, 2) notify(const char *fmt, ...)
{
#ifdef HAVE_SYSTEMD
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	sd_notify(0, msg);
#else
	(void)fmt;
#endif
}

/* Finds the open listener bound to the address of lc. */
static struct listener *
listener_find(const struct listen_conf *lc)
{
	for (struct listener *l = listeners; l != NULL; l = l->next)
		if (l->addrlen == lc->addrlen && memcmp(&l->addr, &lc->addr, lc->addrlen) == 0)
			return l;
	return NULL;
}

/*
 * Makes the open listeners those of cfg: keeps the ones it still has,
 * opens new ones, and only when all of them are open closes the ones it
 * dropped (with their sessions). On failure nothing changes.
 */
static int
listeners_update(const struct proxy_config *cfg, char **cause)
{
	struct listener *opened = NULL, **pp;

	for (struct listener *l = listeners; l != NULL; l = l->next)
		l->keep = false;
	for (size_t i = 0; i < cfg->n_listens; i++) {
		struct listener *l = listener_find(&cfg->listens[i]);

		if (l != NULL) {
			l->keep = true;
			continue;
		}
		l = listener_open(base, &cfg->listens[i], frontdoor_input, cause);
		if (l == NULL) {
			while (opened != NULL) {
				struct listener *next = opened->next;

				listener_drop(opened);
				opened = next;
			}
			return -1;
		}
		l->keep = true;
		l->next = opened;
		opened = l;
		log_info("event=listening address=%s socket=%s", l->name,
		    l->adopted ? "kept" : "new");
	}
	for (pp = &listeners; *pp != NULL;) {
		struct listener *l = *pp;

		if (l->keep) {
			pp = &l->next;
			continue;
		}
		*pp = l->next;
		log_info(
		    "event=listener-closed address=%s reason=\"removed from the configuration\"",
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
	return 0;
}

/* A reload or check-config under way: what to do with the snapshot and whom to answer. */
struct load_req {
	bool reload;             /* make it the running configuration (else only check it) */
	bool hup;                /* started by SIGHUP */
	control_reply_fn *reply; /* NULL: nobody waits (SIGHUP, or the client left) */
	void *token;
};

static unsigned hup_reloads; /* SIGHUP reloads queued or running */

/* Tells whether two optional strings differ. */
static bool
str_differ(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a != b;
	return strcmp(a, b) != 0;
}

/*
 * Makes a freshly built snapshot the running one: new handshakes use it,
 * established sessions keep theirs, and sessions whose credentials are gone
 * are closed. All or nothing: the new JSON file and a moved metrics endpoint
 * are opened first but used only once the listeners (the last step that can
 * fail) have been updated; on failure nothing changes and next is not taken.
 * Safe because it runs on the one loop: no datagram is processed half-way
 * through. *notes says what else the reload did or could not do ("" if
 * nothing): a moved metrics endpoint, a control.socket that needs a restart.
 */
static int
reload_commit(struct proxy_config *next, char *notes, size_t notes_len, char **cause)
{
	struct log_json_file *json = NULL;
	bool metrics_moved =
	    str_differ(next->metrics_address, current->metrics_address) ||
	    (next->metrics_address != NULL && next->metrics_port != current->metrics_port);
	int metrics_fd = -1;
	size_t revoked;

	notes[0] = '\0';
	if (log_json_open(next->log_json_file, &json, cause) < 0 ||
	    (metrics_moved && metrics_prepare(next->metrics_address, next->metrics_port,
	                          &metrics_fd, cause) < 0) ||
	    listeners_update(next, cause) < 0) {
		if (metrics_fd >= 0)
			close(metrics_fd);
		log_json_discard(json);
		return -1;
	}
	if (metrics_moved) {
		metrics_replace(base, metrics_fd, next->metrics_address, next->metrics_port);
		if (next->metrics_address != NULL)
			snprintf(notes, notes_len, "metrics endpoint moved to %s port %u",
			    next->metrics_address, next->metrics_port);
		else
			snprintf(notes, notes_len, "metrics endpoint stopped");
	}
	if (strcmp(next->control_socket, current->control_socket) != 0 ||
	    (control_socket_path()[0] != '\0' &&
	        strcmp(next->control_socket, control_socket_path()) != 0)) {
		/* The socket this very answer goes through: moving it is for a restart. */
		const char *now = control_socket_path()[0] ? control_socket_path() : "(none)";

		log_warnx(
		    "event=reload-restart-needed key=control.socket reason=\"the control socket "
		    "stays at %s until coaps-proxyd restarts\"",
		    now);
		snprintf(notes + strlen(notes), notes_len - strlen(notes),
		    "%scontrol.socket changed: restart coaps-proxyd to apply it (still %s)",
		    notes[0] ? "; " : "", now);
	}
	log_switch(json, next->log_syslog);
	session_set_config(next);
	config_unref(current);
	current = next;
	apply_log_level(current);
	revoked = session_revalidate(current);
	status_set(current, listeners);
	log_info("event=reloaded config=%s psk_identities=%zu x509=%s sessions=%zu "
	         "credentials_revoked=%zu",
	    config_path, current->n_psks, current->x509 ? "yes" : "no", session_count(), revoked);
	return 0;
}

/*
 * config_job_done_fn: the file of a reload or check-config has been read,
 * validated and built (files, keys, certificates, names, mbedTLS) in the
 * loader's thread; commits a reload here on the loop, or keeps the old
 * configuration and says why, then answers whoever asked.
 */
static void
load_done_cb(struct proxy_config *cfg, char *cause, void *arg)
{
	struct load_req *req = arg;
	char notes[512] = "";
	int r = 0;

	if (req->hup)
		hup_reloads--;
	if (cfg == NULL && cause == NULL) { /* dropped at shutdown */
		free(req);
		return;
	}
	if (req->reload) {
		if (cfg == NULL || reload_commit(cfg, notes, sizeof notes, &cause) < 0) {
			log_error("event=reload-failed config=%s reason=\"%s\" (the previous "
			          "configuration stays in force)",
			    config_path, cause ? cause : "unknown");
			if (cfg != NULL)
				config_unref(cfg);
			r = -1;
		}
		status_reload_done(r == 0, cause ? cause : "unknown", notes);
		/* The answer to coaps-proxyctl: what the reload did. */
		if (r == 0 && asprintf(&cause, "reloaded%s%s", notes[0] ? "; " : "", notes) < 0)
			cause = NULL;
		notify("READY=1");
	} else if (cfg == NULL)
		r = -1;
	else
		config_unref(cfg);
	if (req->reply != NULL)
		req->reply(req->token, r, cause);
	else
		free(cause);
	free(req);
}

/*
 * Starts loading path in the loader's thread for a reload (reload) or a
 * check; the loop goes on relaying meanwhile. Returns the request, or NULL
 * with *cause.
 */
static struct load_req *
load_start(const char *path, bool reload, bool hup, control_reply_fn *reply, void *token,
    char **cause)
{
	struct load_req *req = malloc(sizeof *req);

	if (req != NULL)
		*req = (struct load_req){ reload, hup, reply, token };
	if (req == NULL || config_job_start(path, load_done_cb, req) < 0) {
		free(req);
		*cause = strdup("out of memory");
		return NULL;
	}
	if (hup)
		hup_reloads++;
	if (reload) {
		struct timespec now;

		/* MONOTONIC_USEC= ties RELOADING=1 to the reload request (systemd 253+). */
		clock_gettime(CLOCK_MONOTONIC, &now);
		notify("RELOADING=1\nMONOTONIC_USEC=%llu",
		    (unsigned long long)now.tv_sec * 1000000ULL +
		        (unsigned long long)now.tv_nsec / 1000);
		log_info("event=reloading config=%s", config_path);
	}
	return req;
}

/* Control socket `reload`: answered once the new configuration is in force, or not. */
static void *
control_reload(control_reply_fn *reply, void *token, char **cause)
{
	return load_start(config_path, true, false, reply, token, cause);
}

/* Control socket `check-config [PATH]`: loads PATH (the running file when NULL) and drops it. */
static void *
control_check_config(const char *p, control_reply_fn *reply, void *token, char **cause)
{
	return load_start(p != NULL ? p : current->path, false, false, reply, token, cause);
}

/* Control socket: the client of a reload or check-config left; nobody to answer. */
static void
control_cancel(void *handle)
{
	((struct load_req *)handle)->reply = NULL;
}

/* libevent: SIGHUP reloads the configuration. */
static void
signal_reload_cb(evutil_socket_t sig, short what, void *arg)
{
	char *cause = NULL;

	(void)sig;
	(void)what;
	(void)arg;
	/* One running and one queued are enough: the queued one reads the file as it is then. */
	if (hup_reloads >= 2) {
		log_info("event=reload-coalesced config=%s reason=\"a reload is already queued\"",
		    config_path);
		return;
	}
	if (load_start(config_path, true, true, NULL, NULL, &cause) == NULL) {
		log_error("event=reload-failed config=%s reason=\"%s\" (the previous configuration "
		          "stays in force)",
		    config_path, cause ? cause : "unknown");
		free(cause);
	}
}

/* libevent: SIGUSR1 reopens the JSON log (logrotate moved it). */
static void
signal_reopen_cb(evutil_socket_t sig, short what, void *arg)
{
	char *cause = NULL;

	(void)sig;
	(void)what;
	(void)arg;
	if (log_reopen(&cause) < 0) {
		log_error("event=log-reopen-failed reason=\"%s\"", cause ? cause : "unknown");
		free(cause);
	} else
		log_info("event=log-reopened");
}

/* libevent: tells systemd the session and handshake counts now and then. */
static void
status_cb(evutil_socket_t fd, short what, void *arg)
{
	const struct proxy_stats *st = stats_get();

	(void)fd;
	(void)what;
	(void)arg;
	notify("STATUS=%zu sessions, %zu handshaking; handshakes %llu ok, %llu failed",
	    session_count(), session_handshake_count(), (unsigned long long)st->handshakes_ok,
	    (unsigned long long)st->handshakes_failed);
}

/*
 * libevent: gives freed heap pages back to the kernel after sessions went.
 * glibc keeps what a burst of handshakes freed (mbedTLS contexts, handshake
 * state) mapped, in holes between the small objects of live sessions, so
 * RSS stayed at the burst's peak. malloc_trim(0) releases the free pages
 * of the whole heap; it walks the free chunks and hands their pages back
 * (5-25 ms after a few thousand sessions ended), so it runs from this timer,
 * never per datagram, and only when at least TRIM_SESSIONS sessions ended
 * or parked since the last trim and the table is not growing (in the middle
 * of a burst the pages would be taken again at once).
 */
static void
trim_cb(evutil_socket_t fd, short what, void *arg)
{
	const struct proxy_stats *st = stats_get();
	uint64_t done = st->handshakes_ok + st->handshakes_failed;
	size_t n = session_count();
	int64_t gone;
	uint64_t t0;

	(void)fd;
	(void)what;
	(void)arg;
	if (n > trimmed.last) {
		trimmed.last = n;
		return;
	}
	trimmed.last = n;
	/* Every session that finished its handshake and is no longer in the table has ended. */
	gone = (int64_t)(done - trimmed.done) - ((int64_t)n - (int64_t)trimmed.count) +
	       (int64_t)(st->parked - trimmed.parked);
	if (gone < TRIM_SESSIONS)
		return;
	t0 = clock_ms();
	(void)malloc_trim(0);
	log_debug("event=malloc-trim sessions_gone=%lld sessions=%zu ms=%llu", (long long)gone, n,
	    (unsigned long long)(clock_ms() - t0));
	trimmed.done = done;
	trimmed.parked = st->parked;
	trimmed.count = n;
}

/*
 * A clean stop: saves the established sessions for the next start (they get
 * no close_notify and no other record once saved). Handshakes in progress
 * end with the rest. Nothing is saved when session.state_file is "".
 */
static void
state_save(void)
{
	struct state_out o;
	uint8_t *data = NULL;
	size_t len = 0, n, dropped = 0;
	uint64_t t0 = clock_ms();
	const char *where = "";
	char *cause = NULL;

	if (current->state_file[0] == '\0')
		return;
	if (session_handshake_count() > 0)
		log_info("event=sessions-saving handshakes_dropped=%zu", session_handshake_count());
	if (state_out_init(&o, &cause) < 0)
		goto fail;
	n = session_save_all(&o, &dropped);
	if (n == 0) {
		state_out_free(&o);
		log_info("event=sessions-saved count=0 bytes=0 ms=%llu dropped=%zu where=none",
		    (unsigned long long)(clock_ms() - t0), dropped);
		return;
	}
	if (state_out_finish(&o, clock_unix_ms(), &data, &len, &cause) < 0 ||
	    state_store_put(current->state_file, data, len, &where, &cause) < 0) {
		state_out_free(&o);
		goto fail;
	}
	mbedtls_platform_zeroize(data, len);
	free(data);
	log_info("event=sessions-saved count=%zu bytes=%zu ms=%llu dropped=%zu where=%s", n, len,
	    (unsigned long long)(clock_ms() - t0), dropped, where);
	return;
fail:
	if (data != NULL) {
		mbedtls_platform_zeroize(data, len);
		free(data);
	}
	/* Not kept anywhere: the sessions end as before, with close_notify. */
	session_save_cancel();
	log_warnx("event=sessions-saved count=0 reason=\"%s\"",
	    cause != NULL ? cause : "out of memory");
	free(cause);
}

/* The listener bound to addr, or NULL. */
static struct listener *
state_listener(const struct sockaddr_storage *addr, socklen_t len)
{
	for (struct listener *l = listeners; l != NULL; l = l->next)
		if (l->addrlen == len && memcmp(&l->addr, addr, len) == 0)
			return l;
	return NULL;
}

/* Counts of why restored sessions were dropped, for the log line. */
struct restore_drops {
	size_t idle, revoked, listener, duplicate, other;
};

/*
 * At start, before the listeners read: restores the sessions the last clean
 * stop saved (fd store or state file, taken once), then applies the new
 * configuration's credentials (credentials-revoked as on reload).
 */
static void
state_restore(void)
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

	rc = state_store_take(current->state_file, &data, &len, &source, &cause);
	if (rc == 0)
		return;
	if (rc < 0 || state_in_open(&in, data, len, &cause) < 0)
		goto refused;
	if ((ss = malloc(sizeof *ss)) == NULL)
		goto refused;
	while ((rc = state_in_next(&in, ss, &cause)) == 1) {
		struct listener *l = state_listener(&ss->listener, ss->listener_len);
		const char *why = NULL;

		char peer[64];

		addr_format((const struct sockaddr *)&ss->peer, peer, sizeof peer);
		if (l == NULL) {
			log_info(
			    "event=session-not-restored session=%08x peer=%s reason=listener-gone",
			    ss->id, peer);
			d.listener++;
			continue;
		}
		if (session_restore(ss, l, &why) == 0) {
			n++;
			continue;
		}
		log_info("event=session-not-restored session=%08x peer=%s reason=%s", ss->id, peer,
		    why);
		if (strcmp(why, "idle") == 0)
			d.idle++;
		else if (strcmp(why, "credentials-revoked") == 0)
			d.revoked++;
		else if (strcmp(why, "duplicate") == 0)
			d.duplicate++;
		else
			d.other++;
	}
	if (rc < 0) {
		/* The digest held, so this is a writer's bug: keep what was restored. */
		log_warnx("event=sessions-restore-stopped source=%s reason=\"%s\"", source,
		    cause != NULL ? cause : "?");
		free(cause);
		cause = NULL;
	}
	revoked = session_revalidate(current);
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

/* libevent: SIGINT / SIGTERM end the loop. */
static void
signal_stop_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	(void)arg;
	log_info("event=stopping signal=%s sessions=%zu", sig == SIGINT ? "SIGINT" : "SIGTERM",
	    session_count());
	status_stopping();
	notify("STOPPING=1");
	event_base_loopbreak(base);
}

/*
 * Each session with a live backend exchange holds an upstream socket: take
 * the whole hard limit on open files (the unit sets it with LimitNOFILE=).
 */
static void
raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int
main(int argc, char **argv)
{
	const char *path = DEFAULT_CONFIG;
	const struct control_hooks hooks = { control_reload, control_check_config, control_cancel };
	bool check_only = false;
	struct event *sigint, *sigterm, *sighup, *sigusr1, *status, *trim;
	unsigned hs_threads;
	struct timeval status_tv = { .tv_sec = STATUS_INTERVAL };
	struct timeval trim_tv = { .tv_sec = TRIM_INTERVAL };
	char *cause = NULL;
	int c;

	log_init();
	/*
	 * mbedTLS's two 16.7 KB record buffers per session go to mmap, not the
	 * heap: parking frees them, and they must not leave the heap full of
	 * holes pinned by the small objects of sessions that live on.
	 */
	mallopt(M_MMAP_THRESHOLD, 16 * 1024);
	pool_use_for_libevent();
	raise_fd_limit();
	while ((c = getopt(argc, argv, "c:fhtvV")) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'f':
			/* Old command lines: the daemon never forks, so it changes nothing. */
			break;
		case 't':
			check_only = true;
			break;
		case 'v':
			verbose++;
			break;
		case 'V':
			printf("coaps-proxyd %s (mbedTLS %s)\n", PACKAGE_VERSION,
			    MBEDTLS_VERSION_STRING);
			return 0;
		case 'h':
			usage(0);
		default:
			usage(2);
		}
	}
	if (optind != argc)
		usage(2);
	config_path = path;
	status_init(path);

	if (dtls_init(&cause) < 0)
		fatalx("%s", cause);
	current = load(path, &cause);
	if (current == NULL) {
		fprintf(stderr, "%s\n", cause);
		free(cause);
		dtls_shutdown();
		return 1;
	}
	if (check_only) {
		printf("configuration OK\n");
		config_unref(current);
		dtls_shutdown();
		return 0;
	}
	apply_log_level(current);
	if (log_configure(current->log_json_file, current->log_syslog, &cause) < 0)
		fatalx("%s", cause);
	signal(SIGPIPE, SIG_IGN);
	base = event_base_new();
	if (base == NULL)
		fatalx("cannot create the event loop");
	if (session_init(base, &cause) < 0)
		fatalx("%s", cause != NULL ? cause : "out of memory");
	session_set_config(current);
	session_set_hooks(&relay_hooks);
	hs_threads = current->handshake_threads == CONFIG_HANDSHAKE_THREADS_AUTO
	                 ? hspool_default_threads()
	                 : current->handshake_threads;
	if (hspool_start(base, hs_threads, &cause) < 0)
		fatalx("%s", cause != NULL ? cause : "out of memory");
	frontdoor_init();
	if (relay_init(base) < 0)
		fatalx("cannot set up the CoAP relay");
	fdstore_init(); /* the listening sockets systemd kept across a restart */
	if (listeners_update(current, &cause) < 0 || config_job_init(base, load, &cause) < 0)
		fatalx("%s", cause);
	state_restore(); /* takes the saved state from the fd store too */
	fdstore_close_unused();
	/* A control socket that was asked for must work; the default one is best effort. */
	if (control_init(base, current->control_socket, &hooks, &cause) < 0) {
		if (!current->control_socket_default)
			fatalx("%s", cause);
		log_warnx("%s; running without a control socket (set control.socket)", cause);
		free(cause);
		cause = NULL;
	}
	status_set(current, listeners);
	if (metrics_init(base, current->metrics_address, current->metrics_port, &cause) < 0)
		fatalx("%s", cause);
	sigint = evsignal_new(base, SIGINT, signal_stop_cb, NULL);
	sigterm = evsignal_new(base, SIGTERM, signal_stop_cb, NULL);
	sighup = evsignal_new(base, SIGHUP, signal_reload_cb, NULL);
	sigusr1 = evsignal_new(base, SIGUSR1, signal_reopen_cb, NULL);
	status = event_new(base, -1, EV_PERSIST, status_cb, NULL);
	trim = event_new(base, -1, EV_PERSIST, trim_cb, NULL);
	if (sigint == NULL || sigterm == NULL || sighup == NULL || sigusr1 == NULL ||
	    status == NULL || trim == NULL || event_add(sigint, NULL) < 0 ||
	    event_add(sigterm, NULL) < 0 || event_add(sighup, NULL) < 0 ||
	    event_add(sigusr1, NULL) < 0 || event_add(status, &status_tv) < 0 ||
	    event_add(trim, &trim_tv) < 0)
		fatalx("cannot install signal handlers");
	log_info("event=started version=%s config=%s psk_identities=%zu x509=%s", PACKAGE_VERSION,
	    path, current->n_psks, current->x509 ? "yes" : "no");
	notify("READY=1\nSTATUS=listening");

	event_base_dispatch(base);

	hspool_stop(); /* the handshakes it ran are the loop's again (marked closes done) */
	state_save();
	control_free();
	config_job_free(); /* after control_free: its clients' requests are cancelled */
	metrics_free();
	session_shutdown();
	relay_shutdown();
	while (listeners != NULL) {
		struct listener *next = listeners->next;

		listener_close(listeners);
		listeners = next;
	}
	event_free(sigint);
	event_free(sigterm);
	event_free(sighup);
	event_free(sigusr1);
	event_free(status);
	event_free(trim);
	event_base_free(base);
	config_unref(current);
	dtls_shutdown();
	log_info("event=stopped");
	log_shutdown();
	return 0;
}
