/* config_net.c: the listen addresses, the backends (names resolved) and the routes. */
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
#include <mbedtls/platform_util.h>
#include <mbedtls/version.h>

#include "config_get.h"
#include "config_net.h"
#include "configuration.h"
#include "log.h"
#include "text.h"

static const char *const listen_keys[] = { "address", "port", NULL };
static const char *const backend_keys[] = { "name", "address", "port", "sources", NULL };
static const char *const route_keys[] = { "path_prefix", "identity", "uri_host", "anonymous",
	"forward_proxy", "backend", NULL };

/* Parses listen = ( { address; port; } ... ). */
int
load_listens(struct loader *ld, struct proxy_config *cfg)
{
	config_setting_t *list;

	if (get_list(ld, config_root_setting(&ld->lc), "listen", &list) < 0)
		return -1;
	if (list == NULL || config_setting_length(list) == 0)
		return load_fail(ld, config_root_setting(&ld->lc), "listen",
		    "missing: at least one { address = \"::\"; port = 5684; } is needed");
	cfg->n_listens = (size_t)config_setting_length(list);
	cfg->listens = calloc(cfg->n_listens, sizeof *cfg->listens);
	if (cfg->listens == NULL)
		return load_fail(ld, list, NULL, "out of memory");
	for (size_t i = 0; i < cfg->n_listens; i++) {
		config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
		struct listen_conf *l = &cfg->listens[i];
		struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_PASSIVE,
			.ai_socktype = SOCK_DGRAM };
		struct addrinfo *ai;
		const char *addr;
		int err;

		if (check_keys(ld, g, listen_keys) < 0 ||
		    get_string(ld, g, "address", true, &addr) < 0 || get_port(ld, g, &l->port) < 0)
			return -1;
		err = getaddrinfo(addr, NULL, &hints, &ai);
		if (err != 0)
			return load_fail(ld, config_setting_get_member(g, "address"), NULL,
			    "\"%s\" is not an IPv4 or IPv6 address (%s)", addr, gai_strerror(err));
		memcpy(&l->addr, ai->ai_addr, ai->ai_addrlen);
		l->addrlen = ai->ai_addrlen;
		freeaddrinfo(ai);
		if (l->addr.ss_family == AF_INET)
			((struct sockaddr_in *)&l->addr)->sin_port = htons(l->port);
		else
			((struct sockaddr_in6 *)&l->addr)->sin6_port = htons(l->port);
		l->address = strdup(addr);
		for (size_t j = 0; j < i; j++)
			if (cfg->listens[j].addrlen == l->addrlen &&
			    memcmp(&cfg->listens[j].addr, &l->addr, l->addrlen) == 0)
				return load_fail(ld, g, NULL, "duplicate listener %s port %u", addr,
				    l->port);
	}
	return 0;
}

/* Parses a backend's optional sources = [ "addr", ... ] of the backend's address family. */
static int
load_sources(struct loader *ld, const config_setting_t *g, struct backend_conf *b)
{
	config_setting_t *list = config_setting_get_member(g, "sources");
	int n;

	if (list == NULL)
		return 0;
	n = config_setting_length(list);
	if (!config_setting_is_array(list) && !config_setting_is_list(list))
		return load_fail(ld, list, NULL, "must be an array of addresses [ \"...\", ... ]");
	if (n == 0 || n > CONFIG_MAX_SOURCES)
		return load_fail(ld, list, NULL, "must name 1 to %d source addresses",
		    CONFIG_MAX_SOURCES);
	b->sources = calloc((size_t)n, sizeof *b->sources);
	if (b->sources == NULL)
		return load_fail(ld, list, NULL, "out of memory");
	for (int i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(list, (unsigned)i);
		struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_PASSIVE,
			.ai_family = b->addr.ss_family,
			.ai_socktype = SOCK_DGRAM };
		struct addrinfo *ai;
		const char *addr;

		if (config_setting_type(e) != CONFIG_TYPE_STRING)
			return load_fail(ld, e, NULL, "must be a string");
		addr = config_setting_get_string(e);
		if (getaddrinfo(addr, NULL, &hints, &ai) != 0)
			return load_fail(ld, e, NULL,
			    "\"%s\" is not an %s address (backend "
			    "address %s is %s)",
			    addr, b->addr.ss_family == AF_INET ? "IPv4" : "IPv6", b->address,
			    b->addr.ss_family == AF_INET ? "IPv4" : "IPv6");
		memcpy(&b->sources[i], ai->ai_addr, ai->ai_addrlen);
		freeaddrinfo(ai);
		b->n_sources++;
	}
	return 0;
}

/*
 * Warns when a backend name resolves to more than one address: the proxy
 * uses the first, in the resolver's order (localhost is ::1 first on a
 * standard Debian), and a backend that listens on another one is refused.
 */
static void
warn_several_addresses(const struct loader *ld, const config_setting_t *g, const char *name,
    const struct addrinfo *ai)
{
	char first[INET6_ADDRSTRLEN], other[INET6_ADDRSTRLEN], key[256];
	const char *file;
	const struct addrinfo *a;
	unsigned line;

	for (a = ai->ai_next; a != NULL; a = a->ai_next)
		if (a->ai_addrlen != ai->ai_addrlen ||
		    memcmp(a->ai_addr, ai->ai_addr, a->ai_addrlen) != 0)
			break;
	if (a == NULL ||
	    getnameinfo(ai->ai_addr, ai->ai_addrlen, first, sizeof first, NULL, 0,
	        NI_NUMERICHOST) != 0 ||
	    getnameinfo(a->ai_addr, a->ai_addrlen, other, sizeof other, NULL, 0, NI_NUMERICHOST) !=
	        0)
		return;
	setting_path(g, key, sizeof key);
	setting_where(ld, g, &file, &line);
	log_warnx("%s:%u: %s.address: \"%s\" has several addresses (%s, %s, ...): the proxy "
	          "uses %s, the first in the resolver's order; write the address the backend "
	          "listens on to choose another",
	    file != NULL ? file : ld->path, line, key, name, first, other, first);
}

/* Parses backends = ( { name; address; port; sources; } ... ), resolving names. */
int
load_backends(struct loader *ld, struct proxy_config *cfg)
{
	config_setting_t *list;

	if (get_list(ld, config_root_setting(&ld->lc), "backends", &list) < 0)
		return -1;
	if (list == NULL || config_setting_length(list) == 0)
		return load_fail(ld, config_root_setting(&ld->lc), "backends",
		    "missing: at least one { name = \"default\"; address = \"127.0.0.1\"; "
		    "port = 5683; } is needed");
	cfg->n_backends = (size_t)config_setting_length(list);
	cfg->backends = calloc(cfg->n_backends, sizeof *cfg->backends);
	if (cfg->backends == NULL)
		return load_fail(ld, list, NULL, "out of memory");
	for (size_t i = 0; i < cfg->n_backends; i++) {
		config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
		struct backend_conf *b = &cfg->backends[i];
		struct addrinfo hints = { .ai_flags = AI_NUMERICSERV, .ai_socktype = SOCK_DGRAM };
		struct addrinfo *ai;
		const char *name, *addr;
		char port[8];
		int err;

		if (check_keys(ld, g, backend_keys) < 0 ||
		    get_string(ld, g, "name", true, &name) < 0 ||
		    get_string(ld, g, "address", true, &addr) < 0 || get_port(ld, g, &b->port) < 0)
			return -1;
		for (size_t j = 0; j < i; j++)
			if (strcmp(cfg->backends[j].name, name) == 0)
				return load_fail(ld, config_setting_get_member(g, "name"), NULL,
				    "duplicate backend name \"%s\"", name);
		snprintf(port, sizeof port, "%u", b->port);
		err = getaddrinfo(addr, port, &hints, &ai);
		if (err != 0)
			return load_fail(ld, config_setting_get_member(g, "address"), NULL,
			    "cannot resolve \"%s\": %s", addr, gai_strerror(err));
		memcpy(&b->addr, ai->ai_addr, ai->ai_addrlen);
		b->addrlen = ai->ai_addrlen;
		warn_several_addresses(ld, g, addr, ai);
		freeaddrinfo(ai);
		b->name = strdup(name);
		b->address = strdup(addr);
		if (load_sources(ld, g, b) < 0)
			return -1;
	}
	return 0;
}

/*
 * Parses routes = ( { path_prefix; identity; uri_host; anonymous; forward_proxy;
 * backend; } ... ).
 */
int
load_routes(struct loader *ld, struct proxy_config *cfg)
{
	config_setting_t *list, *diag, *root = config_root_setting(&ld->lc);
	uint32_t opt = CONFIG_DEFAULT_IDENTITY_OPTION, timeout = CONFIG_DEFAULT_BACKEND_TIMEOUT;

	if (get_uint(ld, root, "identity_option", 0, 65535, &opt) < 0 ||
	    get_uint(ld, root, "backend_timeout", 1, 3600, &timeout) < 0)
		return -1;
	/* Options the proxy itself reads or rewrites cannot carry the identity. */
	if (opt == 3 || opt == 7 || opt == 11 || opt == 15 || opt == 35 || opt == 39 || opt == 6 ||
	    opt == 23 || opt == 27)
		return load_fail(ld, config_setting_get_member(root, "identity_option"), NULL,
		    "%u is a CoAP option the proxy routes or relays by; pick an unused elective "
		    "option such as 65000",
		    opt);
	cfg->identity_option = (uint16_t)opt;
	cfg->backend_timeout = timeout;
	diag = config_setting_get_member(root, "diagnostic_payloads");
	if (diag != NULL) {
		if (config_setting_type(diag) != CONFIG_TYPE_BOOL)
			return load_fail(ld, diag, NULL, "must be true or false");
		cfg->diagnostic_payloads = config_setting_get_bool(diag);
	}
	if (get_list(ld, root, "routes", &list) < 0)
		return -1;
	if (list == NULL) {
		/* No routes: every authenticated device's requests go to the first backend. */
		cfg->routes = calloc(1, sizeof *cfg->routes);
		if (cfg->routes == NULL)
			return load_fail(ld, root, "routes", "out of memory");
		cfg->n_routes = 1;
		return 0;
	}
	cfg->n_routes = (size_t)config_setting_length(list);
	cfg->routes = calloc(cfg->n_routes ? cfg->n_routes : 1, sizeof *cfg->routes);
	if (cfg->routes == NULL)
		return load_fail(ld, list, NULL, "out of memory");
	for (size_t i = 0; i < cfg->n_routes; i++) {
		config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
		struct route *r = &cfg->routes[i];
		const char *prefix, *identity, *host, *backend;

		r->backend = -1;
		if (check_keys(ld, g, route_keys) < 0 ||
		    get_string(ld, g, "path_prefix", false, &prefix) < 0 ||
		    get_string(ld, g, "identity", false, &identity) < 0 ||
		    get_string(ld, g, "uri_host", false, &host) < 0 ||
		    get_bool(ld, g, "anonymous", &r->anonymous) < 0 ||
		    get_bool(ld, g, "forward_proxy", &r->forward_proxy) < 0 ||
		    get_string(ld, g, "backend", true, &backend) < 0)
			return -1;
		if (identity != NULL && r->anonymous)
			return load_fail(ld, config_setting_get_member(g, "identity"), NULL,
			    "cannot go with anonymous = true: an anonymous device has no identity "
			    "to match");
		for (size_t j = 0; j < i; j++) {
			if (!route_shadows(&cfg->routes[j], r))
				continue;
			if (!r->anonymous)
				return load_fail(ld, g, NULL,
				    "comes after the default route (the one with no match keys) "
				    "and "
				    "could never match");
			return load_fail(ld, g, NULL,
			    "comes after routes[%zu] (anonymous = true and no other match key), "
			    "which "
			    "takes every anonymous request, so it could never match",
			    j);
		}
		if (prefix != NULL && prefix[0] != '/')
			return load_fail(ld, config_setting_get_member(g, "path_prefix"), NULL,
			    "must start with '/'");
		for (size_t b = 0; b < cfg->n_backends; b++)
			if (strcmp(cfg->backends[b].name, backend) == 0)
				r->backend = (int)b;
		if (r->backend < 0)
			return load_fail(ld, config_setting_get_member(g, "backend"), NULL,
			    "no backend is named \"%s\"", backend);
		r->path_prefix = prefix ? strdup(prefix) : NULL;
		r->identity = identity ? strdup(identity) : NULL;
		r->uri_host = host ? strdup(host) : NULL;
	}
	return 0;
}

int
config_backend_for_target(const struct proxy_config *cfg, const char *host, uint16_t port)
{
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST, .ai_socktype = SOCK_DGRAM };
	struct addrinfo *ai = NULL;
	int found = -1;

	if (getaddrinfo(host, NULL, &hints, &ai) != 0)
		ai = NULL;
	for (size_t i = 0; i < cfg->n_backends && found < 0; i++) {
		const struct backend_conf *b = &cfg->backends[i];

		if (b->port != port)
			continue;
		if (strcasecmp(b->address, host) == 0)
			found = (int)i;
		else if (ai != NULL && ai->ai_family == b->addr.ss_family) {
			const char *x = (const char *)ai->ai_addr, *y = (const char *)&b->addr;

			if (ai->ai_family == AF_INET &&
			    memcmp(x + offsetof(struct sockaddr_in, sin_addr),
			        y + offsetof(struct sockaddr_in, sin_addr), 4) == 0)
				found = (int)i;
			else if (ai->ai_family == AF_INET6 &&
			         memcmp(x + offsetof(struct sockaddr_in6, sin6_addr),
			             y + offsetof(struct sockaddr_in6, sin6_addr), 16) == 0)
				found = (int)i;
		}
	}
	if (ai != NULL)
		freeaddrinfo(ai);
	return found;
}
