/* stats.c: the daemon's counters and their names. */
#include "config.h"

#include <stddef.h>
#include <string.h>

#include "stats.h"
#include "worker.h"

const char *const hs_failure_names[HS_FAIL_COUNT] = { "unknown_identity", "wrong_key",
	"no_shared_suite", "timeout", "peer_alert", "certificate", "evicted", "other" };
const unsigned stats_hs_bounds_ms[STATS_HS_BUCKETS - 1] = { 10, 50, 100, 500, 1000, 5000, 30000 };

static _Thread_local struct proxy_stats counters; /* each worker's own */

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

/* worker_call_all: adds this worker's counters into arg (sessions_peak: the highest). */
static void
stats_add_worker(void *arg)
{
	struct proxy_stats *sum = arg;
	uint64_t a[sizeof counters / sizeof(uint64_t)], b[sizeof counters / sizeof(uint64_t)];
	uint64_t peak = sum->sessions_peak > counters.sessions_peak ? sum->sessions_peak
	                                                            : counters.sessions_peak;

	_Static_assert(sizeof counters % sizeof(uint64_t) == 0, "proxy_stats holds only uint64_t");
	memcpy(a, sum, sizeof a);
	memcpy(b, &counters, sizeof b);
	for (size_t i = 0; i < sizeof a / sizeof a[0]; i++)
		a[i] += b[i];
	memcpy(sum, a, sizeof a);
	sum->sessions_peak = peak;
}

void
stats_sum(struct proxy_stats *sum)
{
	memset(sum, 0, sizeof *sum);
	worker_call_all(stats_add_worker, sum);
}
