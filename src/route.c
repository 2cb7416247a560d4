/* route.c: picks the backend for a request from its identity, path and Uri-Host. */
#include "config.h"

#include <fnmatch.h>
#include <string.h>
#include <strings.h>

#include "route.h"

/* Tells whether path lies under prefix by whole segments. */
bool
route_path_match(const char *prefix, const char *path)
{
	size_t n = strlen(prefix);

	/* "/fw/" is "/fw"; "/" and "" take every path. */
	while (n > 0 && prefix[n - 1] == '/')
		n--;
	if (n == 0)
		return true;
	if (strncmp(prefix, path, n) != 0)
		return false;
	return path[n] == '\0' || path[n] == '/';
}

bool
route_identity_match(const char *glob, const char *identity)
{
	const char *colon = strchr(identity, ':');

	/* "psk:dev-*" and "x509:dev-*" match one kind only; "dev-*" either kind. */
	if (colon == NULL || strncmp(glob, "psk:", 4) == 0 || strncmp(glob, "x509:", 5) == 0)
		return fnmatch(glob, identity, 0) == 0;
	return fnmatch(glob, colon + 1, 0) == 0;
}

/* Tells whether one route's match keys all hold. */
static bool
route_match(const struct route *r, const char *identity, const char *path, const char *uri_host)
{
	if (r->path_prefix != NULL && (path == NULL || !route_path_match(r->path_prefix, path)))
		return false;
	if (r->identity != NULL && (identity == NULL || !route_identity_match(r->identity, identity)))
		return false;
	if (r->uri_host != NULL && (uri_host == NULL || strcasecmp(r->uri_host, uri_host) != 0))
		return false;
	return true;
}

/* Returns the backend of the first route whose match keys all hold, or -1. */
int
route_pick(const struct route *routes, size_t n, const char *identity, const char *path,
           const char *uri_host)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (route_match(&routes[i], identity, path, uri_host))
			return routes[i].backend;
	return -1;
}

/* Tells whether a route has no match keys. */
bool
route_is_default(const struct route *r)
{
	return r->path_prefix == NULL && r->identity == NULL && r->uri_host == NULL;
}
