/* hspool.h: the handshake threads, their job queue and the loop's completion queue. */
#ifndef COAPS_HSPOOL_H
#define COAPS_HSPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;

/*
 * One piece of handshake work. The loop submits it; one pool thread runs
 * run(job), owning what the job points to until then; the owning loop gets it
 * back in done(job). A job is on at most one queue at a time.
 */
struct hspool_job {
	struct hspool_job *next;
	void (*run)(struct hspool_job *job);  /* in a pool thread */
	void (*done)(struct hspool_job *job); /* in the owning loop */
};

/*
 * Starts n threads at the lowest CPU priority (SCHED_IDLE, else nice 19),
 * named coaps-hs-N, whose completions base's loop receives. n = 0: no pool
 * (handshakes run in the loop). 0, or -1 with *cause set.
 */
int hspool_start(struct event_base *base, unsigned n, char **cause)
    __attribute__((warn_unused_result));
/* Tells whether the pool runs (handshake_threads > 0 at start). */
bool hspool_active(void);
/* Queues job for a pool thread (loop only). */
void hspool_submit(struct hspool_job *job);
/*
 * Stops the threads and joins them; then hands every job still queued
 * (not run) or completed to its done, in the loop. Idempotent.
 */
void hspool_stop(void);
/*
 * Takes a submitted job back before its done (loop only): out of the queue,
 * or, if a thread runs it, once that run ends (the loop waits). Its done is
 * not called; the caller owns what the job points to again.
 */
void hspool_reclaim(struct hspool_job *job);
/*
 * Waits (loop only) until no job is queued or running, then hands the
 * completed ones to their done: before something the threads use goes away.
 */
void hspool_flush(void);
/* The lock of the sessions' inboxes (short sections: the loop appends, a thread takes). */
void hspool_lock(void);
/* Releases it. */
void hspool_unlock(void);
/* Jobs the pool threads have run since the start. */
uint64_t hspool_jobs_run(void);
/* The number of usable cores (sched_getaffinity), at least 1: handshake_threads' default. */
unsigned hspool_default_threads(void);

#endif
