/* config_job.c: configuration loads in a thread of their own, results handed back to the loop. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#include <event2/event.h>

#include "config_job.h"
#include "configuration.h"
#include "log.h"

/* One queued or running load. */
struct config_job {
	TAILQ_ENTRY(config_job) entry;
	char *path;
	config_job_done_fn *done;
	void *arg;
	pthread_t thread;
	bool has_thread;          /* else the thread could not be started */
	struct proxy_config *cfg; /* the thread's result */
	char *cause;
};

/*
 * The loader: a queue, the one running job, and a pipe on which the
 * thread hands its finished job back (a pointer: one atomic write).
 */
static struct {
	struct event_base *base;
	config_job_load_fn *load;
	TAILQ_HEAD(, config_job) queue;
	struct config_job *running;
	int pipe[2];
	struct event *ev;
} cj = { .pipe = { -1, -1 } };

/* Thread: loads the file, then hands the job back to the loop. */
static void *
config_job_thread(void *arg)
{
	struct config_job *job = arg;
	ssize_t r;

	job->cfg = cj.load(job->path, &job->cause);
	if (job->cfg == NULL && job->cause == NULL)
		job->cause = strdup("configuration error");
	do
		r = write(cj.pipe[1], &job, sizeof job);
	while (r < 0 && errno == EINTR);
	return NULL;
}

/* Starts the next queued job in a new thread (with every signal blocked: the loop takes them). */
static void
config_job_next(void)
{
	struct config_job *job;
	sigset_t all, old;
	int err;

	if (cj.running != NULL || (job = TAILQ_FIRST(&cj.queue)) == NULL)
		return;
	TAILQ_REMOVE(&cj.queue, job, entry);
	cj.running = job;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&job->thread, NULL, config_job_thread, job);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err == 0) {
		job->has_thread = true;
		return;
	}
	/* Answered through the pipe all the same: done never runs before config_job_start returns. */
	if (asprintf(&job->cause, "cannot start a thread to load %s: %s", job->path,
	        strerror(err)) < 0)
		job->cause = strdup("cannot start a thread");
	if (write(cj.pipe[1], &job, sizeof job) != (ssize_t)sizeof job)
		log_warn("event=config-load-lost config=%s", job->path);
}

/* libevent: a thread finished; runs its done callback and starts the next job. */
static void
config_job_ready_cb(evutil_socket_t fd, short what, void *arg)
{
	struct config_job *job;

	(void)what;
	(void)arg;
	if (read(fd, &job, sizeof job) != (ssize_t)sizeof job)
		return;
	if (job->has_thread)
		pthread_join(job->thread, NULL);
	cj.running = NULL;
	job->done(job->cfg, job->cause, job->arg);
	free(job->path);
	free(job);
	config_job_next();
}

int
config_job_init(struct event_base *base, config_job_load_fn *load, char **cause)
{
	cj.base = base;
	cj.load = load;
	TAILQ_INIT(&cj.queue);
	if (pipe2(cj.pipe, O_CLOEXEC) < 0 || fcntl(cj.pipe[0], F_SETFL, O_NONBLOCK) < 0) {
		if (asprintf(cause, "configuration loader: pipe: %s", strerror(errno)) < 0)
			*cause = NULL;
		return -1;
	}
	cj.ev = event_new(base, cj.pipe[0], EV_READ | EV_PERSIST, config_job_ready_cb, NULL);
	if (cj.ev == NULL || event_add(cj.ev, NULL) < 0) {
		*cause = strdup("configuration loader: cannot add its event");
		return -1;
	}
	return 0;
}

int
config_job_start(const char *path, config_job_done_fn *done, void *arg)
{
	struct config_job *job = calloc(1, sizeof *job);

	if (job == NULL || (job->path = strdup(path)) == NULL) {
		free(job);
		return -1;
	}
	job->done = done;
	job->arg = arg;
	TAILQ_INSERT_TAIL(&cj.queue, job, entry);
	config_job_next();
	return 0;
}

void
config_job_free(void)
{
	struct config_job *job;

	while ((job = TAILQ_FIRST(&cj.queue)) != NULL) {
		TAILQ_REMOVE(&cj.queue, job, entry);
		job->done(NULL, NULL, job->arg);
		free(job->path);
		free(job);
	}
	if (cj.ev != NULL)
		event_free(cj.ev);
	cj.ev = NULL;
	if (cj.running != NULL) {
		/* Still reading or parsing: not waited for; it writes to a pipe left open. */
		log_warnx("event=config-load-abandoned config=%s", cj.running->path);
		cj.running->done(NULL, NULL, cj.running->arg);
		if (cj.running->has_thread)
			pthread_detach(cj.running->thread);
		cj.running = NULL;
		return;
	}
	if (cj.pipe[0] >= 0) {
		close(cj.pipe[0]);
		close(cj.pipe[1]);
	}
	cj.pipe[0] = cj.pipe[1] = -1;
}
