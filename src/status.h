/* status.h: the daemon as a whole (start, configuration, reloads, listeners), for status and health. */
#ifndef COAPS_STATUS_H
#define COAPS_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct backend_conf;
struct backend_stats;
struct evbuffer;
struct listener;
struct proxy_config;

/* What status, /readyz and the metrics read; main.c writes it. */
struct daemon_status {
	int64_t started;                  /* unix time of the start */
	uint64_t started_ms;              /* clock_ms() then */
	const char *config_path;          /* the file given with -c */
	const struct proxy_config *cfg;   /* the running snapshot (main.c holds it) */
	const struct listener *listeners; /* the open listeners (main.c's list) */
	int64_t last_reload;              /* unix time of the last reload's end; 0 if none yet */
	bool last_reload_ok;
	char last_reload_error[512]; /* why the last reload failed; "" after a good one */
	char last_reload_notes[512]; /* what a good reload could not apply or moved */
	uint64_t reloads_ok, reloads_failed;
	bool stopping; /* SIGTERM received: not ready any more */
};

/* Records the start (now) and the configuration file. */
void status_init(const char *config_path);
/* Points the status at the running snapshot and the open listeners. */
void status_set(const struct proxy_config *cfg, const struct listener *listeners);
/* Records the end of a reload: ok, or failed with error; notes of a good one (may be NULL). */
void status_reload_done(bool ok, const char *error, const char *notes);
/* Marks the daemon as stopping. */
void status_stopping(void);
/* The status, read-only. */
const struct daemon_status *status_get(void);
/*
 * Tells whether the daemon should be sent traffic: configuration loaded, a
 * listener bound, not stopping, room for a session; why says what is missing.
 */
bool status_ready(char *why, size_t len);
/*
 * The running configuration's backends (into *b, *n) and their counters added
 * up over the workers, in its order (to free); NULL and *n = 0 if none or out
 * of memory.
 */
struct backend_stats *status_backends_read(const struct backend_conf **b, size_t *n);
/* Appends the `status` answer: "key value" lines, or one JSON object. */
void status_render(struct evbuffer *out, bool json);

#endif
