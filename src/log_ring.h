/* log_ring.h: the last log lines kept in memory, for coaps-proxyctl test-psk. */
#ifndef COAPS_LOG_RING_H
#define COAPS_LOG_RING_H

#define LOG_RING_LINES 256    /* lines kept; the oldest goes first */
#define LOG_RING_LINE_MAX 480 /* bytes kept of each line (a longer one is cut) */

/* Keeps a copy of one log line (already escaped) with its level name; any thread. */
void log_ring_add(const char *level, const char *line);
/*
 * Calls fn, oldest first, for each kept line that holds the field
 * "peer=PEER" (PEER as given, followed by a space or the end of the line).
 */
void log_ring_find_peer(const char *peer, void (*fn)(const char *line, void *arg), void *arg);

#endif
