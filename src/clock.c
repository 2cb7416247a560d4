/* clock.c: the one monotonic clock of the daemon, fixable for fuzzing and tests, and the wall clock in ms. */
#include "config.h"

#include <stdbool.h>
#include <time.h>

#include "clock.h"

static bool clock_fixed;
static uint64_t clock_fixed_ms;

uint64_t
clock_ms(void)
{
	struct timespec ts;

	if (clock_fixed)
		return clock_fixed_ms;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void
clock_fix(uint64_t ms)
{
	clock_fixed = true;
	clock_fixed_ms = ms;
}

/* Unix time in ms. */
uint64_t
clock_unix_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}
