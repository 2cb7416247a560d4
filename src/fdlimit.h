/* fdlimit.h: descriptors kept in reserve for the data path. */
#ifndef COAPS_FDLIMIT_H
#define COAPS_FDLIMIT_H

#include <stdbool.h>

/*
 * Descriptors below the open-files limit that the management ports (metrics,
 * control socket) leave to the data path: a session's upstream socket must
 * never fail because scrapes or coaps-proxyctl clients took the last ones.
 */
#define FDLIMIT_RESERVE 64

/*
 * Tells whether fd, just accepted on a management port, leaves at least
 * FDLIMIT_RESERVE descriptors free below the soft limit. Descriptors are
 * allocated lowest first, so 0..fd-1 are all in use: when fd is that close to
 * the limit, the caller closes it at once.
 */
bool fdlimit_spare_ok(int fd);

#endif
