/* lifecycle.h: the workers' start, reload and stop: their listeners, sessions and saved state. */
#ifndef COAPS_LIFECYCLE_H
#define COAPS_LIFECYCLE_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct listener;
struct proxy_config;

/*
 * Starts cfg->workers workers (worker 0 is the caller, on base) and
 * session.handshake_threads pool threads, and sets up each worker's session
 * tables, relay and pool queue. 0, or -1 with *cause set.
 */
int lifecycle_start(struct event_base *base, struct proxy_config *cfg, char **cause)
    __attribute__((warn_unused_result));
/*
 * Makes every worker's listeners those of cfg (one socket per worker and
 * address): keeps the open ones, opens new ones, and only when all are open
 * closes the dropped ones with their sessions. On failure nothing changes.
 */
int lifecycle_listeners_update(struct proxy_config *cfg, char **cause)
    __attribute__((warn_unused_result));
/* Worker 0's listeners (one per configured address). */
struct listener *lifecycle_listeners(void);
/* Starts (on) or stops every worker reading its listeners. */
void lifecycle_listen(bool on);
/*
 * Restores the sessions the last clean stop saved (fd store or state file,
 * taken once), each in the worker its records reach, then applies cfg's
 * credentials (credentials-revoked as on reload).
 */
void lifecycle_restore(struct proxy_config *cfg);
/* Makes cfg every worker's snapshot and closes revoked sessions; returns how many. */
size_t lifecycle_reload(struct proxy_config *cfg);
/*
 * After the main loop ended: stops the pool, saves the sessions (state_file),
 * ends every worker's sessions and listeners, and joins the workers.
 */
void lifecycle_stop(struct proxy_config *cfg);

#endif
