/* fdstore.h: systemd's file descriptor store: sockets (and later state) kept across a restart. */
#ifndef COAPS_FDSTORE_H
#define COAPS_FDSTORE_H

#include <stdbool.h>

/* Tells whether fd is the one a caller of fdstore_take() looks for. */
typedef bool fdstore_match_fn(int fd, const char *name, void *arg);

/*
 * Takes the file descriptors systemd passed (LISTEN_FDS, LISTEN_FDNAMES: the
 * fd store's content or sockets of a socket unit) and unsets the variables.
 * Returns how many it took. Call once, at start.
 */
int fdstore_init(void);
/*
 * Hands over the first inherited fd whose name starts with prefix and that
 * match accepts (match NULL: any); -1 when none. The caller owns it.
 */
int fdstore_take(const char *prefix, fdstore_match_fn *match, void *arg);
/* Hands over the inherited fd named exactly name; -1 when none. */
int fdstore_take_named(const char *name);
/*
 * Puts fd into systemd's store under name (FDSTORE=1, FDNAME=): systemd keeps
 * a copy and passes it to the next start of the service. name: up to 255
 * printable ASCII characters, no ':'. 0, or -1 with errno (ENOSYS: not under
 * systemd or built without it).
 */
int fdstore_put(const char *name, int fd);
/* Drops the fds named name from systemd's store (FDSTOREREMOVE=1). */
void fdstore_remove(const char *name);
/*
 * Closes the inherited fds nobody took and drops their names from the store
 * (unless a taken fd has the same name). Call once the start has taken
 * what it needs.
 */
void fdstore_close_unused(void);
/* Tells whether the daemon runs under a service manager with an fd store (NOTIFY_SOCKET). */
bool fdstore_available(void);

#endif
