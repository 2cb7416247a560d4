/* state_store.h: where saved sessions wait for the next start (fd store memfd or a file). */
#ifndef COAPS_STATE_STORE_H
#define COAPS_STATE_STORE_H

#include <stddef.h>
#include <stdint.h>

/*
 * Takes the state the previous process left, once: the memfd named "state"
 * in systemd's fd store (removed from the store at once) or else the file at
 * path (NULL or "": none), which is deleted in any case before anything is
 * decoded, so that a crash while restoring cannot bring it back. Call after
 * fdstore_init and before fdstore_close_unused. Returns 1 with a malloc'd
 * copy in *data and *len and what it came from in *source ("fdstore" or
 * "file"), 0 when there is none, -1 with *cause when one was found but could
 * not be read (wrong owner or mode, oversize, I/O error).
 */
int state_store_take(const char *path, uint8_t **data, size_t *len, const char **source,
    char **cause) __attribute__((warn_unused_result));
/*
 * Keeps len bytes for the next start: a sealed memfd put into systemd's fd
 * store when the service manager has one, and the file at path (mode 0600,
 * written to a temporary file beside it, synced and renamed) unless path is
 * "". *where says which ("fdstore", "file", "fdstore+file"). 0 if at least
 * one of them holds the state, or -1 with *cause.
 */
int state_store_put(const char *path, const uint8_t *data, size_t len, const char **where,
    char **cause) __attribute__((warn_unused_result));

#endif
