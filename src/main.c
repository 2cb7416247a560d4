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
#include "lifecycle.h"
#include "listener.h"
#include "worker.h"
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

/* Process-wide state set up in main(): worker 0's loop, the current snapshot, -v, -c. */
static struct event_base *base;
static struct proxy_config *current;
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
 * Safe because each worker applies it in its own thread between two
 * datagrams (lifecycle.c). *notes says what else the reload did or could not do ("" if
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
	    lifecycle_listeners_update(next, cause) < 0) {
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
	if (next->workers != current->workers) {
		log_warnx("event=reload-restart-needed key=workers reason=\"the number of workers "
		          "is read at start\"");
		snprintf(notes + strlen(notes), notes_len - strlen(notes),
		    "%sworkers changed: restart coaps-proxyd to apply it", notes[0] ? "; " : "");
	}
	log_switch(json, next->log_syslog);
	revoked = lifecycle_reload(next);
	config_unref(current);
	current = next;
	apply_log_level(current);
	status_set(current, lifecycle_listeners());
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
	struct proxy_stats sum, *st = &sum;

	(void)fd;
	(void)what;
	(void)arg;
	stats_sum(st);
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
	struct proxy_stats st;
	uint64_t done;
	size_t n = session_count();
	int64_t gone;
	uint64_t t0;

	(void)fd;
	(void)what;
	(void)arg;
	stats_sum(&st);
	done = st.handshakes_ok + st.handshakes_failed;
	if (n > trimmed.last) {
		trimmed.last = n;
		return;
	}
	trimmed.last = n;
	/* Every session that finished its handshake and is no longer in the table has ended. */
	gone = (int64_t)(done - trimmed.done) - ((int64_t)n - (int64_t)trimmed.count) +
	       (int64_t)(st.parked - trimmed.parked);
	if (gone < TRIM_SESSIONS)
		return;
	t0 = clock_ms();
	(void)malloc_trim(0);
	log_debug("event=malloc-trim sessions_gone=%lld sessions=%zu ms=%llu", (long long)gone, n,
	    (unsigned long long)(clock_ms() - t0));
	trimmed.done = done;
	trimmed.parked = st.parked;
	trimmed.count = n;
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
	struct timeval status_tv = { .tv_sec = STATUS_INTERVAL };
	struct timeval trim_tv = { .tv_sec = TRIM_INTERVAL };
	char *cause = NULL;
	int c;

	log_init();
	/*
	 * mbedTLS's two 16.7 KB record buffers per session come from the heap
	 * (of the worker's arena), not from mmap: with more than one thread,
	 * every munmap makes the kernel flush the TLB of every core that runs a
	 * worker (an interrupt each), and each new buffer faults its pages in
	 * again. At 16 KB (as before workers) worker 1 mapped and unmapped both
	 * buffers of every session: a PSK handshake cost 2.5 times the CPU of
	 * worker 0's. Parking frees the buffers and the sweep's malloc_trim gives
	 * their pages back, so parked sessions still pin no heap pages. Fixed
	 * (glibc would raise a dynamic threshold after freeing a big table).
	 */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
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
	if (lifecycle_start(base, current, &cause) < 0)
		fatalx("%s", cause != NULL ? cause : "out of memory");
	fdstore_init(); /* the listening sockets systemd kept across a restart */
	if (lifecycle_listeners_update(current, &cause) < 0 ||
	    config_job_init(base, load, &cause) < 0)
		fatalx("%s", cause);
	lifecycle_restore(current); /* takes the saved state from the fd store too */
	fdstore_close_unused();
	lifecycle_listen(true);
	/* A control socket that was asked for must work; the default one is best effort. */
	if (control_init(base, current->control_socket, &hooks, &cause) < 0) {
		if (!current->control_socket_default)
			fatalx("%s", cause);
		log_warnx("%s; running without a control socket (set control.socket)", cause);
		free(cause);
		cause = NULL;
	}
	status_set(current, lifecycle_listeners());
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
	log_info("event=started version=%s config=%s psk_identities=%zu x509=%s workers=%u",
	    PACKAGE_VERSION, path, current->n_psks, current->x509 ? "yes" : "no", worker_count());
	notify("READY=1\nSTATUS=listening");

	event_base_dispatch(base);

	lifecycle_stop(current); /* saves the sessions, then ends every worker */
	control_free();
	config_job_free(); /* after control_free: its clients' requests are cancelled */
	metrics_free();
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
