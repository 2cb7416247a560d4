/* main.c: flags, signals and the event loop of coaps-proxyd. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <mbedtls/debug.h>
#include <mbedtls/version.h>

#include "configuration.h"
#include "control.h"
#include "dtls.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "session.h"

#define DEFAULT_CONFIG SYSCONFDIR "/coaps-proxy/coaps-proxy.conf"

/* The only mutable globals: the loop, the current snapshot, the listeners. */
static struct event_base *base;
static struct proxy_config *current;
static struct listener *listeners;
static int verbose;

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

/* Opens the configured listeners. */
static int
listeners_open(const struct proxy_config *cfg, char **cause)
{
	for (size_t i = 0; i < cfg->n_listens; i++) {
		struct listener *l = listener_open(base, &cfg->listens[i], session_input, cause);

		if (l == NULL)
			return -1;
		l->next = listeners;
		listeners = l;
		log_info("event=listening address=%s", l->name);
	}
	return 0;
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

/* Control socket `reload`: placeholder until reload lands. */
static int
control_reload(char **cause)
{
	*cause = strdup("reload not implemented yet");
	return -1;
}

/* libevent: SIGINT / SIGTERM end the loop. */
static void
signal_stop_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	(void)arg;
	log_info("event=stopping signal=%s sessions=%zu", sig == SIGINT ? "SIGINT" : "SIGTERM",
	    session_count());
	event_base_loopbreak(base);
}

int
main(int argc, char **argv)
{
	const char *path = DEFAULT_CONFIG;
	const struct control_hooks hooks = { control_reload, control_check_config };
	bool check_only = false, foreground = false;
	struct event *sigint, *sigterm;
	char *cause = NULL;
	int c;

	log_init();
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
	signal(SIGPIPE, SIG_IGN);
	base = event_base_new();
	if (base == NULL)
		fatalx("cannot create the event loop");
	session_init(base);
	session_set_config(current);
	if (listeners_open(current, &cause) < 0)
		fatalx("%s", cause);
	/* A control socket that was asked for must work; the default one is best effort. */
	if (control_init(base, current->control_socket, &hooks, &cause) < 0) {
		if (strcmp(current->control_socket, CONFIG_CONTROL_SOCKET_DEFAULT) != 0)
			fatalx("%s", cause);
		log_warnx("%s; running without a control socket (set control.socket)", cause);
		free(cause);
		cause = NULL;
	}
	if (metrics_init(base, current->metrics_address, current->metrics_port, &cause) < 0)
		fatalx("%s", cause);
	sigint = evsignal_new(base, SIGINT, signal_stop_cb, NULL);
	sigterm = evsignal_new(base, SIGTERM, signal_stop_cb, NULL);
	if (sigint == NULL || sigterm == NULL || event_add(sigint, NULL) < 0 ||
	    event_add(sigterm, NULL) < 0)
		fatalx("cannot install signal handlers");
	log_info("event=started version=%s config=%s psk_identities=%zu x509=%s", PACKAGE_VERSION,
	    path, current->n_psks, current->x509 ? "yes" : "no");

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
	event_base_free(base);
	config_unref(current);
	dtls_shutdown();
	log_info("event=stopped");
	return 0;
}
