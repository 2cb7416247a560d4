/* config.c: config_load, the dtls, session, log, control and metrics groups, cross-key checks. */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libconfig.h>
#include <limits.h>
#include <netdb.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/error.h>
#include <mbedtls/md.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/version.h>

#include "configuration.h"
#include "dtls.h"
#include "log.h"
#include "text.h"

#include "config_get.h"
#include "config_file.h"
#include "config_net.h"
#include "config_psk.h"
#include "config_x509.h"

static const char *const root_keys[] = { "listen", "backends", "routes", "identity_option",
	"backend_timeout", "psk", "psk_dir", "x509", "dtls", "session", "log", "control", "metrics",
	"diagnostic_payloads", "workers", NULL };
static const char *const dtls_keys[] = { "ciphersuites", "handshake_timeout_min",
	"handshake_timeout_max", "mtu", "badmac_limit", "max_handshake_message", "connection_id",
	"cid_length", "session_tickets", "ticket_lifetime", "ticket_key_file", "session_cache",
	NULL };
static const char *const session_keys[] = { "idle_timeout", "park_after", "max_sessions",
	"max_handshakes", "handshakes_per_source", "handshakes_per_prefix", "prefix_len_v4",
	"prefix_len_v6", "state_file", "handshake_threads", NULL };
static const char *const log_keys[] = { "level", "json_file", "syslog", NULL };
static const char *const control_keys[] = { "socket", NULL };
static const char *const metrics_keys[] = { "address", "port", NULL };

/* Chooses the default cipher suites for the credentials that are configured. */
static void
default_suites(struct proxy_config *cfg)
{
	dtls_default_suites(cfg->n_psks > 0, cfg->x509 != NULL, cfg->ciphersuites);
	cfg->ciphersuites_default = true;
}

/*
 * Parses the session resumption keys of dtls = { ... }: session_tickets,
 * ticket_lifetime, ticket_key_file (read here: hex or raw bytes, at least 32
 * bytes of key, kept as its SHA-256) and session_cache.
 */
static int
load_dtls_resumption(struct loader *ld, const config_setting_t *g, struct proxy_config *cfg)
{
	unsigned char raw[4096], key[2048];
	const char *path;
	config_setting_t *s;
	size_t n = 0, k = 0, hex = 0;
	ssize_t r;
	int fd;

	if (get_bool(ld, g, "session_tickets", &cfg->session_tickets) < 0 ||
	    get_uint(ld, g, "ticket_lifetime", 60, 604800, &cfg->ticket_lifetime) < 0 ||
	    get_uint(ld, g, "session_cache", 0, 1000000, &cfg->session_cache) < 0 ||
	    get_string(ld, g, "ticket_key_file", false, &path) < 0)
		return -1;
	if (path == NULL)
		return 0;
	s = config_setting_get_member(g, "ticket_key_file");
	resolve_path(ld, path, &cfg->ticket_key_file);
	if (cfg->ticket_key_file == NULL)
		return load_fail(ld, s, NULL, "out of memory");
	if (check_regular_file(ld, s, cfg->ticket_key_file, true) < 0)
		return -1;
	if ((fd = open(cfg->ticket_key_file, O_RDONLY | O_CLOEXEC)) < 0)
		return load_fail(ld, s, NULL, "cannot read %s: %s", cfg->ticket_key_file,
		    strerror(errno));
	while (n < sizeof raw && (r = read(fd, raw + n, sizeof raw - n)) > 0)
		n += (size_t)r;
	close(fd);
	/* Hex (whitespace ignored) when every byte is a hex digit or space; else binary. */
	for (size_t i = 0; i < n; i++)
		if (isxdigit(raw[i]))
			hex++;
		else if (!isspace(raw[i]))
			hex = SIZE_MAX / 2;
	if (hex < SIZE_MAX / 2) {
		size_t j = 0;
		int d;

		for (size_t i = 0; i < n; i++)
			if (!isspace(raw[i]))
				raw[j++] = raw[i];
		raw[j < sizeof raw ? j : sizeof raw - 1] = '\0';
		d = text_hex_decode((const char *)raw, key, sizeof key);
		k = d > 0 ? (size_t)d : 0;
	} else {
		k = n < sizeof key ? n : sizeof key;
		memcpy(key, raw, k);
	}
	mbedtls_platform_zeroize(raw, sizeof raw);
	if (n >= sizeof raw || k < 32) {
		mbedtls_platform_zeroize(key, sizeof key);
		return load_fail(ld, s, NULL,
		    "%s must hold 32 to 2048 bytes of key, binary or hex "
		    "(e.g. made by: head -c 48 /dev/urandom > FILE)",
		    cfg->ticket_key_file);
	}
	r = mbedtls_md(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), key, k, cfg->ticket_secret);
	mbedtls_platform_zeroize(key, sizeof key);
	if (r != 0)
		return load_fail(ld, s, NULL, "cannot hash the ticket key");
	cfg->has_ticket_secret = true;
	return 0;
}

/* Parses dtls = { ... }. */
static int
load_dtls(struct loader *ld, struct proxy_config *cfg)
{
	config_setting_t *g, *suites;
	uint32_t v;

	if (get_group(ld, config_root_setting(&ld->lc), "dtls", &g) < 0)
		return -1;
	default_suites(cfg);
	if (g == NULL)
		return 0;
	if (check_keys(ld, g, dtls_keys) < 0 ||
	    get_uint(ld, g, "handshake_timeout_min", 100, 600000, &cfg->handshake_timeout_min) <
	        0 ||
	    get_uint(ld, g, "handshake_timeout_max", 100, 3600000, &cfg->handshake_timeout_max) <
	        0 ||
	    get_uint(ld, g, "badmac_limit", 0, 1000000, &cfg->badmac_limit) < 0 ||
	    get_uint(ld, g, "max_handshake_message", 256, 65535, &cfg->max_handshake_message) < 0)
		return -1;
	v = cfg->mtu;
	if (get_uint(ld, g, "mtu", 256, 16384, &v) < 0)
		return -1;
	cfg->mtu = (uint16_t)v;
	if (get_uint(ld, g, "cid_length", DTLS_CID_MIN, DTLS_CID_MAX, &cfg->cid_length) < 0 ||
	    get_bool(ld, g, "connection_id", &cfg->connection_id) < 0)
		return -1;
	if (load_dtls_resumption(ld, g, cfg) < 0)
		return -1;
	if (cfg->connection_id && !dtls_cid_supported())
		return load_fail(ld, config_setting_get_member(g, "connection_id"), NULL,
		    "this build's mbedTLS (%s) has no RFC 9146 Connection IDs "
		    "(MBEDTLS_SSL_DTLS_CONNECTION_ID, in mbedTLS 3.x); remove the key or set it "
		    "to false",
		    MBEDTLS_VERSION_STRING);
	if (cfg->handshake_timeout_max < cfg->handshake_timeout_min)
		return load_fail(ld, g, "handshake_timeout_max",
		    "%u ms is less than handshake_timeout_min (%u ms)", cfg->handshake_timeout_max,
		    cfg->handshake_timeout_min);

	suites = config_setting_get_member(g, "ciphersuites");
	if (suites != NULL) {
		int n = config_setting_length(suites);

		if (!config_setting_is_array(suites) && !config_setting_is_list(suites))
			return load_fail(ld, suites, NULL,
			    "must be an array of mbedTLS suite names [ \"...\", ... ]");
		if (n == 0)
			return load_fail(ld, suites, NULL, "must name at least one cipher suite");
		if (n > CONFIG_MAX_SUITES)
			return load_fail(ld, suites, NULL, "more than %d cipher suites",
			    CONFIG_MAX_SUITES);
		for (int i = 0; i < n; i++) {
			config_setting_t *e = config_setting_get_elem(suites, (unsigned)i);
			const char *name;
			int id;

			if (config_setting_type(e) != CONFIG_TYPE_STRING)
				return load_fail(ld, e, NULL, "must be a string");
			name = config_setting_get_string(e);
			id = dtls_suite_id(name);
			if (id == 0)
				return load_fail(ld, e, NULL,
				    "unknown cipher suite \"%s\" (use mbedTLS names such as "
				    "TLS-PSK-WITH-AES-128-CCM-8)",
				    name);
			cfg->ciphersuites[i] = id;
		}
		cfg->ciphersuites[n] = 0;
		cfg->ciphersuites_default = false;
	}
	return 0;
}

/* Parses workers, session = { ... } and log = { ... }. */
static int
load_session_log(struct loader *ld, struct proxy_config *cfg)
{
	config_setting_t *g;
	const char *level, *state = NULL;

	if (get_uint(ld, config_root_setting(&ld->lc), "workers", 1, CONFIG_WORKERS_MAX,
	        &cfg->workers) < 0 ||
	    get_group(ld, config_root_setting(&ld->lc), "session", &g) < 0)
		return -1;
	if (g != NULL &&
	    (check_keys(ld, g, session_keys) < 0 ||
	        get_string(ld, g, "state_file", false, &state) < 0 ||
	        get_uint(ld, g, "idle_timeout", 1, 86400 * 7, &cfg->idle_timeout) < 0 ||
	        get_uint(ld, g, "park_after", 0, 86400, &cfg->park_after) < 0 ||
	        get_uint(ld, g, "max_sessions", 1, 10000000, &cfg->max_sessions) < 0 ||
	        get_uint(ld, g, "max_handshakes", 1, 10000000, &cfg->max_handshakes) < 0 ||
	        get_uint(ld, g, "handshakes_per_source", 0, 1000000, &cfg->handshakes_per_source) <
	            0 ||
	        get_uint(ld, g, "handshakes_per_prefix", 0, 10000000, &cfg->handshakes_per_prefix) <
	            0 ||
	        get_uint(ld, g, "prefix_len_v4", 1, 32, &cfg->prefix_len_v4) < 0 ||
	        get_uint(ld, g, "prefix_len_v6", 1, 128, &cfg->prefix_len_v6) < 0 ||
	        get_uint(ld, g, "handshake_threads", 0, 256, &cfg->handshake_threads) < 0))
		return -1;
	if (state != NULL && state[0] != '\0' && state[0] != '/')
		return load_fail(ld, config_setting_get_member(g, "state_file"), NULL,
		    "must be an absolute path (or \"\" for no saved sessions)");
	if (state == NULL) {
		/* Under systemd, StateDirectory= says where state goes. */
		const char *sd = getenv("STATE_DIRECTORY");

		if (sd != NULL && sd[0] == '/' && strchr(sd, ':') == NULL) {
			if (asprintf(&cfg->state_file, "%s/sessions.state", sd) < 0)
				cfg->state_file = NULL;
		} else
			cfg->state_file = strdup(CONFIG_SESSION_STATE_FILE_DEFAULT);
	} else
		cfg->state_file = strdup(state);
	if (cfg->state_file == NULL)
		return load_fail(ld, g, "state_file", "out of memory");

	if (get_group(ld, config_root_setting(&ld->lc), "log", &g) < 0)
		return -1;
	if (g != NULL) {
		const char *json;
		config_setting_t *sys;

		if (check_keys(ld, g, log_keys) < 0 ||
		    get_string(ld, g, "level", false, &level) < 0 ||
		    get_string(ld, g, "json_file", false, &json) < 0)
			return -1;
		if (json != NULL && json[0] != '\0')
			resolve_path(ld, json, &cfg->log_json_file);
		sys = config_setting_get_member(g, "syslog");
		if (sys != NULL) {
			if (config_setting_type(sys) != CONFIG_TYPE_BOOL)
				return load_fail(ld, sys, NULL, "must be true or false");
			cfg->log_syslog = config_setting_get_bool(sys);
		}
		if (level != NULL) {
			cfg->log_level = log_level_parse(level);
			if (cfg->log_level < 0)
				return load_fail(ld, config_setting_get_member(g, "level"), NULL,
				    "\"%s\" is not one of error, warning, info, debug", level);
		}
	}
	return 0;
}

/* Parses control = { socket; } and metrics = { address; port; }. */
static int
load_control_metrics(struct loader *ld, struct proxy_config *cfg)
{
	config_setting_t *g;
	const char *sock = NULL, *addr = NULL;
	uint32_t port = CONFIG_DEFAULT_METRICS_PORT;

	if (get_group(ld, config_root_setting(&ld->lc), "control", &g) < 0)
		return -1;
	if (g != NULL &&
	    (check_keys(ld, g, control_keys) < 0 || get_string(ld, g, "socket", false, &sock) < 0))
		return -1;
	if (sock != NULL && sock[0] != '\0' && sock[0] != '/')
		return load_fail(ld, config_setting_get_member(g, "socket"), NULL,
		    "must be an absolute path (or \"\" for no control socket)");
	if (sock == NULL) {
		/* Under systemd, RuntimeDirectory= says where run-time files go. */
		const char *rt = getenv("RUNTIME_DIRECTORY");

		cfg->control_socket_default = true;
		if (rt != NULL && rt[0] == '/' && strchr(rt, ':') == NULL) {
			if (asprintf(&cfg->control_socket, "%s/control.sock", rt) < 0)
				cfg->control_socket = NULL;
		} else
			cfg->control_socket = strdup(CONFIG_CONTROL_SOCKET_DEFAULT);
	} else
		cfg->control_socket = strdup(sock);
	if (cfg->control_socket == NULL)
		return load_fail(ld, g, "socket", "out of memory");

	if (get_group(ld, config_root_setting(&ld->lc), "metrics", &g) < 0)
		return -1;
	if (g == NULL)
		return 0;
	if (check_keys(ld, g, metrics_keys) < 0 || get_string(ld, g, "address", false, &addr) < 0 ||
	    get_uint(ld, g, "port", 1, 65535, &port) < 0)
		return -1;
	if (addr == NULL)
		addr = CONFIG_DEFAULT_METRICS_ADDRESS;
	else {
		struct addrinfo hints = { .ai_flags = AI_NUMERICHOST, .ai_socktype = SOCK_STREAM };
		struct addrinfo *ai;
		int err = getaddrinfo(addr, NULL, &hints, &ai);

		if (err != 0)
			return load_fail(ld, config_setting_get_member(g, "address"), NULL,
			    "\"%s\" is not an IPv4 or IPv6 address (%s)", addr, gai_strerror(err));
		freeaddrinfo(ai);
	}
	cfg->metrics_address = strdup(addr);
	if (cfg->metrics_address == NULL)
		return load_fail(ld, g, "address", "out of memory");
	cfg->metrics_port = (uint16_t)port;
	return 0;
}

/* Checks what needs several sections at once, and warns about risky choices. */
static int
load_crosscheck(struct loader *ld, struct proxy_config *cfg)
{
	bool psk_suite, cert_suite;

	if (cfg->n_psks == 0 && cfg->x509 == NULL)
		return load_fail(ld, config_root_setting(&ld->lc), NULL,
		    "no credentials: configure psk = ( ... ) and/or x509 = { ... }");
	dtls_suites_usable(cfg->ciphersuites, &psk_suite, &cert_suite);
	if (cfg->n_psks > 0 && !psk_suite)
		log_warnx("%s: psk entries are configured but dtls.ciphersuites enables no PSK "
		          "suite: PSK devices cannot connect",
		    ld->path);
	if (cfg->x509 != NULL && !cert_suite)
		log_warnx("%s: x509 is configured but dtls.ciphersuites enables no certificate "
		          "suite: certificate devices cannot connect",
		    ld->path);
	if (cfg->x509 != NULL && cfg->x509->certificate_msg_len > cfg->max_handshake_message)
		log_warnx("%s: the server's Certificate handshake message is %zu bytes, more than "
		          "dtls.max_handshake_message (%u): OpenThread devices (900-byte input "
		          "buffer) drop it and the handshake stalls; send the leaf only or use a "
		          "smaller chain",
		    cfg->x509->certificate_path, cfg->x509->certificate_msg_len,
		    cfg->max_handshake_message);
	if (cfg->x509 != NULL && cfg->x509->verify_client != VERIFY_CLIENT_REQUIRED) {
		bool anonymous_route = false;

		for (size_t i = 0; i < cfg->n_routes; i++)
			anonymous_route = anonymous_route || cfg->routes[i].anonymous;
		if (!anonymous_route)
			log_warnx(
			    "%s: x509.verify_client lets devices without a client certificate "
			    "connect, but no route has anonymous = true: each of their requests "
			    "gets 4.04",
			    ld->path);
	}
	return 0;
}

/* Frees what a load read. */
static void
loader_free(struct loader *ld, char *where)
{
	config_destroy(&ld->lc);
	for (size_t i = 0; i < ld->n_files; i++) {
		free(ld->files[i].name);
		mbedtls_platform_zeroize(ld->files[i].text, ld->files[i].len); /* PSKs */
		free(ld->files[i].text);
	}
	if (ld->text != NULL)
		mbedtls_platform_zeroize(ld->text, ld->text_len);
	free(ld->text);
	free(ld->spans);
	for (size_t i = 0; i < ld->n_psk_files; i++)
		free(ld->psk_files[i]);
	free(ld->psk_files);
	free(ld->origins);
	free(where);
}

struct proxy_config *
config_load(const char *path, char **cause)
{
	struct loader ld = { .path = path };
	struct proxy_config *cfg;
	const char *slash;
	char *where = NULL;
	size_t first;

	*cause = NULL;
	cfg = calloc(1, sizeof *cfg);
	if (cfg == NULL) {
		*cause = strdup("out of memory");
		return NULL;
	}
	cfg->refs = 1;
	cfg->psk_find = config_psk_find;
	cfg->path = strdup(path);
	cfg->handshake_timeout_min = CONFIG_DEFAULT_DTLS_HANDSHAKE_TIMEOUT_MIN;
	cfg->handshake_timeout_max = CONFIG_DEFAULT_DTLS_HANDSHAKE_TIMEOUT_MAX;
	cfg->mtu = CONFIG_DEFAULT_DTLS_MTU;
	cfg->badmac_limit = CONFIG_DEFAULT_DTLS_BADMAC_LIMIT;
	cfg->max_handshake_message = CONFIG_DEFAULT_DTLS_MAX_HANDSHAKE_MESSAGE;
	cfg->connection_id = dtls_cid_supported();
	cfg->cid_length = CONFIG_DEFAULT_DTLS_CID_LENGTH;
	cfg->session_tickets = CONFIG_DEFAULT_DTLS_SESSION_TICKETS;
	cfg->ticket_lifetime = CONFIG_DEFAULT_DTLS_TICKET_LIFETIME;
	cfg->session_cache = CONFIG_DEFAULT_DTLS_SESSION_CACHE;
	cfg->idle_timeout = CONFIG_DEFAULT_SESSION_IDLE_TIMEOUT;
	cfg->park_after = CONFIG_DEFAULT_SESSION_PARK_AFTER;
	cfg->max_sessions = CONFIG_DEFAULT_SESSION_MAX_SESSIONS;
	cfg->max_handshakes = CONFIG_DEFAULT_SESSION_MAX_HANDSHAKES;
	cfg->handshakes_per_source = CONFIG_DEFAULT_SESSION_HANDSHAKES_PER_SOURCE;
	cfg->handshakes_per_prefix = CONFIG_DEFAULT_SESSION_HANDSHAKES_PER_PREFIX;
	cfg->prefix_len_v4 = CONFIG_DEFAULT_SESSION_PREFIX_LEN_V4;
	cfg->prefix_len_v6 = CONFIG_DEFAULT_SESSION_PREFIX_LEN_V6;
	cfg->handshake_threads = CONFIG_HANDSHAKE_THREADS_AUTO;
	cfg->workers = CONFIG_WORKERS_AUTO;
	cfg->diagnostic_payloads = CONFIG_DEFAULT_DIAGNOSTIC_PAYLOADS;
	cfg->log_level = log_level_parse(CONFIG_DEFAULT_LOG_LEVEL);
	cfg->log_syslog = CONFIG_DEFAULT_LOG_SYSLOG;

	slash = strrchr(path, '/');
	if (slash == NULL)
		snprintf(ld.dir, sizeof ld.dir, ".");
	else
		snprintf(ld.dir, sizeof ld.dir, "%.*s", (int)(slash - path), path);
	if (ld.dir[0] == '\0')
		snprintf(ld.dir, sizeof ld.dir, "/");

	config_init(&ld.lc);
	if (asprintf(&where, "%s:0: (file)", path) < 0) {
		where = NULL;
		goto fail;
	}
	ld.text_line = 1;
	if (conf_file_read(&ld, NULL, where, &first) < 0 || conf_expand(&ld, first, 0) < 0)
		goto fail;
	/* The text read and checked above is what is parsed: nothing is opened twice. */
	if (!config_read_string(&ld.lc, ld.text)) {
		unsigned line;
		size_t f = loader_locate(&ld, (unsigned)config_error_line(&ld.lc), &line);
		const char *file = f < ld.n_files && ld.files[f].name ? ld.files[f].name : path;

		if (asprintf(&ld.cause, "%s:%u: (syntax): %s", file, line,
		        config_error_text(&ld.lc)) < 0)
			ld.cause = NULL;
		goto fail;
	}
	if (check_keys(&ld, config_root_setting(&ld.lc), root_keys) < 0 ||
	    load_listens(&ld, cfg) < 0 || load_backends(&ld, cfg) < 0 ||
	    load_routes(&ld, cfg) < 0 || load_psks(&ld, cfg) < 0 || load_x509(&ld, cfg) < 0 ||
	    load_dtls(&ld, cfg) < 0 || load_session_log(&ld, cfg) < 0 ||
	    load_control_metrics(&ld, cfg) < 0 || load_crosscheck(&ld, cfg) < 0)
		goto fail;
	warn_readable_psks(&ld);
	loader_free(&ld, where);
	return cfg;

fail:
	loader_free(&ld, where);
	*cause = ld.cause != NULL ? ld.cause : strdup("configuration error");
	config_unref(cfg);
	return NULL;
}

struct proxy_config *
config_ref(struct proxy_config *cfg)
{
	cfg->refs++;
	return cfg;
}

void
config_unref(struct proxy_config *cfg)
{
	if (cfg == NULL || --cfg->refs > 0)
		return;
	for (size_t i = 0; i < cfg->n_listens; i++)
		free(cfg->listens[i].address);
	free(cfg->listens);
	for (size_t i = 0; i < cfg->n_backends; i++) {
		free(cfg->backends[i].name);
		free(cfg->backends[i].address);
		free(cfg->backends[i].sources);
	}
	free(cfg->backends);
	for (size_t i = 0; i < cfg->n_routes; i++) {
		free(cfg->routes[i].path_prefix);
		free(cfg->routes[i].identity);
		free(cfg->routes[i].uri_host);
	}
	free(cfg->routes);
	for (size_t i = 0; i < cfg->n_psks; i++) {
		free(cfg->psks[i].identity);
		mbedtls_platform_zeroize(cfg->psks[i].key, sizeof cfg->psks[i].key);
	}
	free(cfg->psks);
	if (cfg->x509 != NULL) {
		struct x509_conf *x = cfg->x509;

		mbedtls_x509_crt_free(&x->certificate);
		mbedtls_pk_free(&x->private_key);
		mbedtls_x509_crt_free(&x->client_ca);
		mbedtls_x509_crl_free(&x->crl);
		free(x->certificate_path);
		free(x->private_key_path);
		free(x->client_ca_path);
		free(x->crl_path);
		free(x);
	}
	if (cfg->ssl_built)
		mbedtls_ssl_config_free(&cfg->ssl);
	free(cfg->ticket_key_file);
	mbedtls_platform_zeroize(cfg->ticket_secret, sizeof cfg->ticket_secret);
	free(cfg->log_json_file);
	free(cfg->control_socket);
	free(cfg->state_file);
	free(cfg->metrics_address);
	free(cfg->path);
	free(cfg);
}
