/* route.h: picks the backend for a request from its identity, path and Uri-Host. */
#ifndef COAPS_ROUTE_H
#define COAPS_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

/* One routing rule; a NULL match key matches anything. */
struct route {
	char *path_prefix; /* whole-segment prefix: "/fw" matches "/fw", "/fw/x", not "/fwx" */
	char *identity;    /* fnmatch(3) glob on the identity without "psk:"/"x509:" */
	char *uri_host;    /* Uri-Host, compared case-insensitively ("" is no Uri-Host) */
	int backend;       /* backend index */
};

/*
 * Returns the backend of the first route whose match keys all hold, or -1.
 * identity, path and uri_host may be NULL (then only routes without that
 * key match); path is what coap_msg_request_target() writes.
 */
int route_pick(const struct route *routes, size_t n, const char *identity, const char *path,
               const char *uri_host);

/* Tells whether a route has no match keys, so it takes every request. */
bool route_is_default(const struct route *r);

/* Tells whether path lies under prefix by whole segments. */
bool route_path_match(const char *prefix, const char *path);

#endif
