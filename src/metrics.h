/* metrics.h: the daemon's counters as one table, rendered for `stats` and Prometheus. */
#ifndef COAPS_METRICS_H
#define COAPS_METRICS_H

#include <stdint.h>

struct event_base;
struct evbuffer;

/* Appends the counters as aligned "name value" lines (coaps-proxyctl stats). */
void metrics_render_text(struct evbuffer *out);
/* Appends the counters as one JSON object (coaps-proxyctl stats --json). */
void metrics_render_json(struct evbuffer *out);
/* Appends the counters in the Prometheus text exposition format 0.0.4. */
void metrics_render_prometheus(struct evbuffer *out);

/*
 * Starts the HTTP endpoint (GET /metrics, /healthz, /readyz) on address:port (numeric IPv4 or
 * IPv6). A NULL address means metrics are off: returns 0 and does nothing.
 * Returns -1 with *cause (caller frees) when the port cannot be bound.
 */
int metrics_init(struct event_base *base, const char *address, uint16_t port, char **cause)
    __attribute__((warn_unused_result));
/*
 * For a reload: binds and listens on address:port, *fd the socket (-1 when
 * address is NULL: metrics off). The endpoint does not change yet. Returns
 * -1 with *cause (caller frees) when the port cannot be bound.
 */
int metrics_prepare(const char *address, uint16_t port, int *fd, char **cause)
    __attribute__((warn_unused_result));
/*
 * Makes fd (from metrics_prepare) the endpoint's socket, closing the old one
 * (its clients finish); fd -1 stops the endpoint. address and port are for
 * the log.
 */
void metrics_replace(struct event_base *base, int fd, const char *address, uint16_t port);
/* Stops the endpoint (safe when it was never started). */
void metrics_free(void);

#endif
