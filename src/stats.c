/* stats.c: the daemon's counters and their names. */
#include "config.h"

#include <stddef.h>

#include "stats.h"

const char *const hs_failure_names[HS_FAIL_COUNT] = { "unknown_identity", "wrong_key",
	"no_shared_suite", "timeout", "peer_alert", "certificate", "evicted", "other" };
const unsigned stats_hs_bounds_ms[STATS_HS_BUCKETS - 1] = { 10, 50, 100, 500, 1000, 5000, 30000 };

static struct proxy_stats counters;

struct proxy_stats *
stats_mut(void)
{
	return &counters;
}

const struct proxy_stats *
stats_get(void)
{
	return &counters;
}

void
stats_handshake_ok(uint64_t ms)
{
	size_t b = 0;

	while (b < STATS_HS_BUCKETS - 1 && ms > stats_hs_bounds_ms[b])
		b++;
	counters.handshakes_ok++;
	counters.handshake_ms_buckets[b]++;
	counters.handshake_ms_sum += ms;
}
