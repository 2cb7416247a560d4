/* clock.h: the one monotonic clock of the daemon, fixable for fuzzing and tests. */
#ifndef COAPS_CLOCK_H
#define COAPS_CLOCK_H

#include <stdint.h>

/* Milliseconds on a monotonic clock (or the fixed time, once clock_fix was called). */
uint64_t clock_ms(void);
/* Makes clock_ms return ms from now on (fuzz targets; never in the daemon). */
void clock_fix(uint64_t ms);
/* Unix time in ms (saved states carry wall-clock times: the monotonic clock restarts). */
uint64_t clock_unix_ms(void);

#endif
