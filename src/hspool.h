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
struct hspool_owner;
struct hspool_job {
	struct hspool_job *next;
	struct hspool_owner *owner; /* the worker that submitted it (set by hspool_submit) */
	void (*run)(struct hspool_job *job);  /* in a pool thread */
	void (*done)(struct hspool_job *job); /* in the owning loop */
};

/*
 * Starts n threads at the lowest CPU priority (SCHED_IDLE, else nice 19),
 * named coaps-hs-N, shared by the workers. n = 0: no pool (handshakes run in
 * the workers' loops). 0, or -1 with *cause set.
 */
int hspool_start(unsigned n, char **cause) __attribute__((warn_unused_result));
/*
 * Gives the calling worker a completion queue that base's loop receives
 * (each worker, before it submits). 0, or -1 with *cause set.
 */
int hspool_attach(struct event_base *base, char **cause) __attribute__((warn_unused_result));
/* Hands the calling worker's completed jobs to their done, and frees its queue. */
void hspool_detach(void);
/* Hands the calling worker's completed jobs to their done now. */
void hspool_drain(void);
/* Tells whether the pool runs and the calling worker may submit to it. */
bool hspool_active(void);
/* Queues job for a pool thread (loop only). */
void hspool_submit(struct hspool_job *job);
/*
 * Stops the threads and joins them (worker 0's thread); every job still
 * queued goes back to its worker's completion queue, not run, and the
 * caller's own completed jobs to their done. Idempotent.
 */
void hspool_stop(void);
/*
 * Takes a submitted job back before its done (loop only): out of the queue,
 * or, if a thread runs it, once that run ends (the loop waits). Its done is
 * not called; the caller owns what the job points to again.
 */
void hspool_reclaim(struct hspool_job *job);
/*
 * Waits (a worker) until no job is queued or running, then hands its
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
