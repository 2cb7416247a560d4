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
route_match(const struct route *r, const char *identity, bool anonymous, const char *path,
    const char *uri_host)
{
	/* Who: a glob never matches an anonymous session, nor an anonymous route anyone else. */
	if (r->anonymous != anonymous)
		return false;
	if (r->identity != NULL &&
	    (anonymous || identity == NULL || !route_identity_match(r->identity, identity)))
		return false;
	if (r->path_prefix != NULL && (path == NULL || !route_path_match(r->path_prefix, path)))
		return false;
	if (r->uri_host != NULL && (uri_host == NULL || strcasecmp(r->uri_host, uri_host) != 0))
		return false;
	return true;
}

/* Returns the first route whose match keys all hold, or NULL. */
const struct route *
route_find(const struct route *routes, size_t n, const char *identity, bool anonymous,
    const char *path, const char *uri_host)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (route_match(&routes[i], identity, anonymous, path, uri_host))
			return &routes[i];
	return NULL;
}

/* Returns the backend of the first route whose match keys all hold, or -1. */
int
route_pick(const struct route *routes, size_t n, const char *identity, bool anonymous,
    const char *path, const char *uri_host)
{
	const struct route *r = route_find(routes, n, identity, anonymous, path, uri_host);

	return r != NULL ? r->backend : -1;
}

/* Tells whether route earlier takes every request that route later could match. */
bool
route_shadows(const struct route *earlier, const struct route *later)
{
	return earlier->path_prefix == NULL && earlier->identity == NULL &&
	       earlier->uri_host == NULL && earlier->anonymous == later->anonymous;
}
