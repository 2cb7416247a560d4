/* config_job.h: configuration loads in a thread of their own, results handed back to the loop. */
#ifndef COAPS_CONFIG_JOB_H
#define COAPS_CONFIG_JOB_H

struct event_base;
struct proxy_config;

/* Loads and builds a snapshot (config_load plus what the caller adds); NULL with *cause. */
typedef struct proxy_config *config_job_load_fn(const char *path, char **cause);
/*
 * A finished load, run on the loop: the snapshot, or NULL and *cause; both
 * belong to the callee. cfg and cause both NULL: the job was dropped at
 * shutdown.
 */
typedef void config_job_done_fn(struct proxy_config *cfg, char *cause, void *arg);

/*
 * Sets up the hand-back on base. Loads run one at a time, in order, each in a
 * thread of its own, so that a file that is slow to read or parse (libconfig
 * is quadratic on long tokens and large groups; backend names are resolved)
 * never stalls the relaying loop. Returns -1 with *cause on error.
 */
int config_job_init(struct event_base *base, config_job_load_fn *load, char **cause)
    __attribute__((warn_unused_result));
/* Queues a load of path; done(..., arg) runs on the loop once it is over. -1 if out of memory. */
int config_job_start(const char *path, config_job_done_fn *done, void *arg)
    __attribute__((warn_unused_result));
/* Drops queued loads (done with NULL, NULL) and leaves a running one to end on its own. */
void config_job_free(void);

#endif
