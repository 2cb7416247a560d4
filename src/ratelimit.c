/* ratelimit.c: a budget of events per second, for log lines a flood could repeat. */
#include "config.h"

#include <stddef.h>

#include "ratelimit.h"

/* Tells whether one more event fits this second's budget; reports what was held back. */
bool
ratelimit_allow(struct ratelimit *rl, uint64_t now_ms, unsigned per_second, unsigned long *held)
{
	uint64_t sec = now_ms / 1000;

	if (held != NULL)
		*held = 0;
	if (sec != rl->second) {
		if (held != NULL)
			*held = rl->suppressed;
		rl->second = sec;
		rl->count = 0;
		rl->suppressed = 0;
	}
	if (rl->count < per_second) {
		rl->count++;
		return true;
	}
	rl->suppressed++;
	return false;
}
