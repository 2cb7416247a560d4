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
#include <mbedtls/version.h>

#include "configuration.h"
#include "control.h"
#include "dtls.h"
#include "listener.h"
#include "log.h"
#include "pool.h"
#include "metrics.h"
#include "session.h"

#define DEFAULT_CONFIG SYSCONFDIR "/coaps-proxy/coaps-proxy.conf"

/* The only mutable globals: the loop, the current snapshot, the listeners. */
static struct event_base *base;
static struct proxy_config *current;
static struct listener *listeners;
static int verbose;
static const char *config_path;

#define STATUS_INTERVAL 5 /* seconds between sd_notify STATUS= updates */

/* Prints usage and exits with status. */
static void __attribute__((noreturn))
usage(int status)
{
	fprintf(status ? stderr : stdout,
	    "usage: coaps-proxyd [-fhtvV] [-c FILE]\n"
	    "  -c FILE  configuration file (default %s)\n"
	    "  -f       stay in the foreground, log to stderr\n"
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
static void LOG_PRINTF(1, 2)
notify(const char *fmt, ...)
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
		l = listener_open(base, &cfg->listens[i], session_input, cause);
		if (l == NULL) {
			while (opened != NULL) {
				struct listener *next = opened->next;

				listener_close(opened);
				opened = next;
			}
			return -1;
		}
		l->keep = true;
		l->next = opened;
		opened = l;
		log_info("event=listening address=%s", l->name);
	}
	for (pp = &listeners; *pp != NULL;) {
		struct listener *l = *pp;

		if (l->keep) {
			pp = &l->next;
			continue;
		}
		*pp = l->next;
		log_info("event=listener-closed address=%s reason=\"removed from the configuration\"",
		    l->name);
		session_close_listener(l, "listener removed");
		listener_close(l);
	}
	while (opened != NULL) {
		struct listener *next = opened->next;

		opened->next = listeners;
		listeners = opened;
		opened = next;
	}
	return 0;
}

/*
 * Reloads the configuration file: builds the whole new snapshot (files
 * read, keys decoded, certificates parsed, names resolved, mbedTLS set up);
 * on any error keeps the old one and says why. On success new handshakes use
 * the new snapshot, established sessions keep theirs, and sessions whose
 * credentials are gone are closed. Safe because everything runs on the one
 * loop: no datagram is processed half-way through.
 */
static int
reload(char **cause)
{
	struct proxy_config *next;
	struct timespec now;
	size_t revoked;

	/* MONOTONIC_USEC= ties RELOADING=1 to the reload request (Type=notify-reload, systemd 253+). */
	clock_gettime(CLOCK_MONOTONIC, &now);
	notify("RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)now.tv_sec * 1000000ULL + (unsigned long long)now.tv_nsec / 1000);
	log_info("event=reloading config=%s", config_path);
	next = load(config_path, cause);
	if (next == NULL || log_configure(next->log_json_file, next->log_syslog, cause) < 0 ||
	    listeners_update(next, cause) < 0) {
		log_error("event=reload-failed config=%s reason=\"%s\" (the previous configuration "
		          "stays in force)", config_path, *cause ? *cause : "unknown");
		if (next != NULL)
			config_unref(next);
		notify("READY=1");
		return -1;
	}
	session_set_config(next);
	config_unref(current);
	current = next;
	apply_log_level(current);
	revoked = session_revalidate(current);
	log_info("event=reloaded config=%s psk_identities=%zu x509=%s sessions=%zu "
	         "credentials_revoked=%zu", config_path, current->n_psks,
	    current->x509 ? "yes" : "no", session_count(), revoked);
	notify("READY=1");
	return 0;
}

/* libevent: SIGHUP reloads the configuration. */
static void
signal_reload_cb(evutil_socket_t sig, short what, void *arg)
{
	char *cause = NULL;

	(void)sig;
	(void)what;
	(void)arg;
	if (reload(&cause) < 0)
		free(cause);
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
	const struct session_stats *st = session_stats();

	(void)fd;
	(void)what;
	(void)arg;
	notify("STATUS=%zu sessions, %zu handshaking; handshakes %llu ok, %llu failed",
	    session_count(), session_handshake_count(), (unsigned long long)st->handshakes_ok,
	    (unsigned long long)st->handshakes_failed);
}

/* Control socket `check-config [PATH]`: loads PATH (the running file when NULL) and drops it. */
static int
control_check_config(const char *p, char **cause)
{
	struct proxy_config *cfg = load(p != NULL ? p : current->path, cause);

	if (cfg == NULL)
		return -1;
	config_unref(cfg);
	return 0;
}

/* libevent: SIGINT / SIGTERM end the loop. */
static void
signal_stop_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	(void)arg;
	log_info("event=stopping signal=%s sessions=%zu", sig == SIGINT ? "SIGINT" : "SIGTERM",
	    session_count());
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
	const struct control_hooks hooks = { reload, control_check_config };
	bool check_only = false, foreground = false;
	struct event *sigint, *sigterm, *sighup, *sigusr1, *status;
	struct timeval status_tv = { .tv_sec = STATUS_INTERVAL };
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
			foreground = true;
			break;
		case 't':
			check_only = true;
			break;
		case 'v':
			verbose++;
			break;
		case 'V':
			printf("coaps-proxyd %s (mbedTLS %s)\n", PACKAGE_VERSION, MBEDTLS_VERSION_STRING);
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
	(void)foreground; /* the daemon never forks: systemd or the shell supervise it */

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
	session_init(base);
	session_set_config(current);
	if (listeners_update(current, &cause) < 0)
		fatalx("%s", cause);
	/* A control socket that was asked for must work; the default one is best effort. */
	if (control_init(base, current->control_socket, &hooks, &cause) < 0) {
		if (!current->control_socket_default)
			fatalx("%s", cause);
		log_warnx("%s; running without a control socket (set control.socket)", cause);
		free(cause);
		cause = NULL;
	}
	if (metrics_init(base, current->metrics_address, current->metrics_port, &cause) < 0)
		fatalx("%s", cause);
	sigint = evsignal_new(base, SIGINT, signal_stop_cb, NULL);
	sigterm = evsignal_new(base, SIGTERM, signal_stop_cb, NULL);
	sighup = evsignal_new(base, SIGHUP, signal_reload_cb, NULL);
	sigusr1 = evsignal_new(base, SIGUSR1, signal_reopen_cb, NULL);
	status = event_new(base, -1, EV_PERSIST, status_cb, NULL);
	if (sigint == NULL || sigterm == NULL || sighup == NULL || sigusr1 == NULL ||
	    status == NULL || event_add(sigint, NULL) < 0 || event_add(sigterm, NULL) < 0 ||
	    event_add(sighup, NULL) < 0 || event_add(sigusr1, NULL) < 0 ||
	    event_add(status, &status_tv) < 0)
		fatalx("cannot install signal handlers");
	log_info("event=started version=%s config=%s psk_identities=%zu x509=%s", PACKAGE_VERSION,
	    path, current->n_psks, current->x509 ? "yes" : "no");
	notify("READY=1\nSTATUS=listening");

	event_base_dispatch(base);

	control_free();
	metrics_free();
	session_shutdown();
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
	event_base_free(base);
	config_unref(current);
	dtls_shutdown();
	log_info("event=stopped");
	log_shutdown();
	return 0;
}
