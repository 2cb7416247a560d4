/* worker.h: the event loops that own the sessions (workers = N) and calls into them. */
#ifndef COAPS_WORKER_H
#define COAPS_WORKER_H

struct event_base;

/* The most workers: a Connection ID's first byte names its owner. */
#define WORKER_MAX 64

/* Something to run in a worker's thread, with the caller's argument. */
typedef void worker_fn(void *arg);

/*
 * Makes worker 0 the calling thread with its loop base, and starts workers
 * 1..n-1, each a thread (named coaps-w-K, signals blocked) with a loop of its
 * own, idle until a call. 0, or -1 with *cause set.
 */
int worker_start(unsigned n, struct event_base *base, char **cause)
    __attribute__((warn_unused_result));
/* How many workers run (1 before worker_start). */
unsigned worker_count(void);
/* The index of the calling thread's worker (0 in any thread that is not one). */
unsigned worker_self(void);
/* The loop of the calling thread's worker. */
struct event_base *worker_base(void);
/*
 * Runs fn(arg) in worker k's thread and returns when it has run. Worker 0's
 * thread only (the loop that holds the control socket and the signals); fn
 * must not call worker_call.
 */
void worker_call(unsigned k, worker_fn *fn, void *arg);
/* worker_call for every worker in turn, 0 first. */
void worker_call_all(worker_fn *fn, void *arg);
/*
 * At the stop, after worker 0's loop ended: worker_call_all, after which
 * every worker runs only further calls (no datagram, no timer) until
 * worker_stop.
 */
void worker_hold_all(worker_fn *fn, void *arg);
/* Ends the loops of workers 1..n-1 and joins their threads (worker 0's thread). */
void worker_stop(void);

#endif
