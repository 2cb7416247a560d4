/* route.h: picks the backend for a request from its identity, path and Uri-Host. */
#ifndef COAPS_ROUTE_H
#define COAPS_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

/* One routing rule; a NULL match key matches anything. */
struct route {
	char *path_prefix;  /* whole-segment prefix: "/fw" matches "/fw", "/fw/x", not "/fwx" */
	char *identity;     /* fnmatch(3) glob (see route_identity_match) */
	char *uri_host;     /* Uri-Host, compared case-insensitively ("" is no Uri-Host) */
	bool anonymous;     /* matches only anonymous sessions (else only authenticated ones) */
	bool forward_proxy; /* the requests it takes may name its backend in Proxy-Uri/-Scheme */
	int backend;        /* backend index */
};

/*
 * Returns the first route whose match keys all hold, or NULL. An anonymous
 * session (no identity proved) matches only routes with anonymous set, and
 * those match nothing else; identity is then ignored. identity ("psk:ID",
 * "x509:CN", as the backends are told), path and
 * uri_host may be NULL (then only routes without that key match); path is
 * what coap_msg_request_target() writes.
 */
const struct route *route_find(const struct route *routes, size_t n, const char *identity,
    bool anonymous, const char *path, const char *uri_host);

/* Returns the backend of the route route_find() gives, or -1. */
int route_pick(const struct route *routes, size_t n, const char *identity, bool anonymous,
    const char *path, const char *uri_host);

/* Tells whether route earlier takes every request that route later could match. */
bool route_shadows(const struct route *earlier, const struct route *later);

/*
 * Tells whether an identity glob matches identity ("psk:ID" or "x509:CN"): a
 * glob that starts with "psk:" or "x509:" is matched against the whole, so
 * it takes that kind only; any other glob against the part after the kind
 * (either kind). An identity without a kind is matched whole.
 */
bool route_identity_match(const char *glob, const char *identity);

/* Tells whether path lies under prefix by whole segments. */
bool route_path_match(const char *prefix, const char *path);

#endif
