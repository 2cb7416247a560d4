/* worker.c: the event loops that own the sessions (workers = N) and calls into them. */
#include "config.h"

#include <sys/eventfd.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "worker.h"

/* One worker: its loop and its mailbox (one call at a time, from worker 0). */
struct worker {
	pthread_t thread;
	struct event_base *base;
	int mail_fd; /* eventfd: a call is waiting */
	struct event *mail_ev;
	pthread_mutex_t lock; /* fn, arg, done, quit */
	pthread_cond_t cond;  /* done */
	worker_fn *fn;
	void *arg;
	bool posted, done, quit;
	bool hold;    /* after this call, take calls only: the loop's events wait */
	bool running; /* its thread was started */
};

static struct worker *workers;
static unsigned n_made;        /* workers[] entries */
static unsigned n_workers = 1; /* workers running */
static _Thread_local unsigned self;
static _Thread_local struct event_base *self_base;

unsigned
worker_count(void)
{
	return n_workers;
}

unsigned
worker_self(void)
{
	return self;
}

struct event_base *
worker_base(void)
{
	return self_base;
}

/* Runs the call posted to w (w->lock held; released while fn runs). */
static void
worker_run_posted(struct worker *w)
{
	worker_fn *fn = w->fn;
	void *arg = w->arg;

	w->posted = false;
	pthread_mutex_unlock(&w->lock);
	if (fn != NULL)
		fn(arg);
	pthread_mutex_lock(&w->lock);
	w->done = true;
	pthread_cond_broadcast(&w->cond);
}

/*
 * libevent: a call waits in this worker's mailbox: runs it. Held (worker_hold_all),
 * the worker stays here and runs only the calls that follow, until the quit.
 */
static void
worker_mail_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	uint64_t n;

	(void)what;
	if (read(fd, &n, sizeof n) < 0 && errno != EAGAIN)
		log_warn("worker %u: reading its mailbox", self);
	pthread_mutex_lock(&w->lock);
	if (w->posted)
		worker_run_posted(w);
	while (w->hold && !w->quit) {
		while (!w->posted && !w->quit)
			pthread_cond_wait(&w->cond, &w->lock);
		if (w->posted)
			worker_run_posted(w);
	}
	if (w->quit)
		event_base_loopbreak(w->base);
	pthread_mutex_unlock(&w->lock);
}

/* A worker thread: its loop, until worker_stop. */
static void *
worker_thread(void *arg)
{
	struct worker *w = arg;
	char name[16];

	self = (unsigned)(w - workers);
	self_base = w->base;
	snprintf(name, sizeof name, "coaps-w-%u", self);
	(void)pthread_setname_np(pthread_self(), name);
	event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

/* Posts fn(arg) to worker w (then held, with hold) and waits until it ran. */
static void
worker_post(struct worker *w, worker_fn *fn, void *arg, bool hold)
{
	uint64_t one = 1;

	pthread_mutex_lock(&w->lock);
	w->fn = fn;
	w->arg = arg;
	w->hold = w->hold || hold;
	w->posted = true;
	w->done = false;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	/* The eventfd counter only grows: a failed write (overflow) cannot lose the call. */
	if (write(w->mail_fd, &one, sizeof one) < 0 && errno != EAGAIN)
		log_warn("worker %u: posting a call", (unsigned)(w - workers));
	pthread_mutex_lock(&w->lock);
	while (!w->done)
		pthread_cond_wait(&w->cond, &w->lock);
	pthread_mutex_unlock(&w->lock);
}

/* Tells worker w's thread to leave its loop, and joins it. */
static void
worker_quit(struct worker *w)
{
	uint64_t one = 1;

	pthread_mutex_lock(&w->lock);
	w->quit = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	if (write(w->mail_fd, &one, sizeof one) < 0 && errno != EAGAIN)
		log_warn("worker %u: posting its end", (unsigned)(w - workers));
	pthread_join(w->thread, NULL);
}

int
worker_start(unsigned n, struct event_base *base, char **cause)
{
	sigset_t all, old;
	const char *what = "out of memory";
	int err = ENOMEM;

	self = 0;
	self_base = base;
	if (n <= 1)
		return 0;
	workers = calloc(n, sizeof *workers);
	if (workers == NULL)
		goto fail;
	n_made = n;
	for (unsigned k = 0; k < n; k++)
		workers[k].mail_fd = -1;
	workers[0].base = base;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old); /* signals stay with worker 0 */
	for (unsigned k = 1; k < n; k++) {
		struct worker *w = &workers[k];

		pthread_mutex_init(&w->lock, NULL);
		pthread_cond_init(&w->cond, NULL);
		w->base = event_base_new();
		w->mail_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (w->base == NULL || w->mail_fd < 0 ||
		    (w->mail_ev = event_new(w->base, w->mail_fd, EV_READ | EV_PERSIST,
		         worker_mail_cb, w)) == NULL ||
		    event_add(w->mail_ev, NULL) < 0) {
			err = errno;
			what = "its event loop";
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			goto fail;
		}
		err = pthread_create(&w->thread, NULL, worker_thread, w);
		if (err != 0) {
			what = "its thread";
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			goto fail;
		}
		w->running = true;
		n_workers = k + 1;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return 0;

fail:
	if (asprintf(cause, "cannot start worker %u (workers = %u): %s: %s", n_workers, n, what,
	        strerror(err)) < 0)
		*cause = NULL;
	worker_stop();
	return -1;
}

void
worker_call(unsigned k, worker_fn *fn, void *arg)
{
	if (k == 0 || k >= n_workers) {
		if (k == 0)
			fn(arg);
		return;
	}
	worker_post(&workers[k], fn, arg, false);
}

void
worker_hold_all(worker_fn *fn, void *arg)
{
	fn(arg); /* worker 0: its loop has ended */
	for (unsigned k = 1; k < n_workers; k++)
		worker_post(&workers[k], fn, arg, true);
}

void
worker_call_all(worker_fn *fn, void *arg)
{
	for (unsigned k = 0; k < n_workers; k++)
		worker_call(k, fn, arg);
}

void
worker_stop(void)
{
	if (workers == NULL)
		return;
	for (unsigned k = 1; k < n_made; k++) {
		struct worker *w = &workers[k];

		if (w->running)
			worker_quit(w);
		if (w->mail_ev != NULL)
			event_free(w->mail_ev);
		if (w->mail_fd >= 0)
			close(w->mail_fd);
		if (w->base != NULL)
			event_base_free(w->base);
		pthread_mutex_destroy(&w->lock);
		pthread_cond_destroy(&w->cond);
	}
	free(workers);
	workers = NULL;
	n_made = 0;
	n_workers = 1;
}
