/* log_ring.c: the last log lines kept in memory, for coaps-proxyctl test-psk. */
#include "config.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "log_ring.h"

/* The configuration loader's thread logs too: one lock around the ring. */
static pthread_mutex_t ring_lock = PTHREAD_MUTEX_INITIALIZER;
static char ring[LOG_RING_LINES][LOG_RING_LINE_MAX];
static unsigned ring_next, ring_used;

void
log_ring_add(const char *level, const char *line)
{
	pthread_mutex_lock(&ring_lock);
	snprintf(ring[ring_next], LOG_RING_LINE_MAX, "%s %s", level, line);
	ring_next = (ring_next + 1) % LOG_RING_LINES;
	if (ring_used < LOG_RING_LINES)
		ring_used++;
	pthread_mutex_unlock(&ring_lock);
}

/* Tells whether line has the field peer=PEER. */
static bool
log_ring_has_peer(const char *line, const char *peer, size_t len)
{
	for (const char *p = strstr(line, " peer="); p != NULL; p = strstr(p + 1, " peer=")) {
		if (strncmp(p + 6, peer, len) == 0 && (p[6 + len] == ' ' || p[6 + len] == '\0'))
			return true;
	}
	return false;
}

void
log_ring_find_peer(const char *peer, void (*fn)(const char *line, void *arg), void *arg)
{
	size_t len = strlen(peer);

	pthread_mutex_lock(&ring_lock);
	for (unsigned i = 0; i < ring_used; i++) {
		const char *line =
		    ring[(ring_next + LOG_RING_LINES - ring_used + i) % LOG_RING_LINES];

		if (log_ring_has_peer(line, peer, len))
			fn(line, arg);
	}
	pthread_mutex_unlock(&ring_lock);
}
