/* ratelimit.h: a budget of events per second, for log lines a flood could repeat. */
#ifndef COAPS_RATELIMIT_H
#define COAPS_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

/* One budget; zero-initialised it is ready (and a fresh one for a new key). */
struct ratelimit {
	uint64_t second;          /* the second the count is of */
	unsigned count;           /* events asked for in it */
	unsigned long suppressed; /* events held back since the last new second */
};

/*
 * Tells whether one more event fits per_second in the second of now_ms.
 * held (may be NULL) gets how many events were held back before this one
 * since the budget last had room: non-zero only on the first event of a new
 * second, for the caller to report.
 */
bool ratelimit_allow(struct ratelimit *rl, uint64_t now_ms, unsigned per_second,
    unsigned long *held);

#endif
