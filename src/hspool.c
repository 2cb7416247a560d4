/* hspool.c: the handshake threads, their job queue and the loop's completion queue. */
#include "config.h"

#include <sys/eventfd.h>
#include <sys/resource.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "hspool.h"
#include "log.h"

/* A FIFO of jobs. */
struct job_fifo {
	struct hspool_job *head, **tail;
};

static pthread_mutex_t hs_lock = PTHREAD_MUTEX_INITIALIZER; /* todo, stopping */
static pthread_cond_t hs_cond = PTHREAD_COND_INITIALIZER;   /* todo has a job, or stopping */
static pthread_cond_t idle_cond = PTHREAD_COND_INITIALIZER; /* a thread finished a job */
static pthread_mutex_t inbox_lock = PTHREAD_MUTEX_INITIALIZER;
static struct job_fifo todo = { NULL, &todo.head };
static bool stopping;      /* under hs_lock */
static atomic_bool active; /* threads run: a worker may submit */
static pthread_t *threads;
static struct hspool_job **running; /* per thread: the job it runs, or NULL (under hs_lock) */
static unsigned n_threads;
static atomic_uint_fast64_t jobs_run;

/* A worker's completion queue: the jobs it submitted that a thread finished. */
struct hspool_owner {
	pthread_mutex_t lock; /* done */
	struct job_fifo done;
	int wake_fd;           /* eventfd: a thread completed a job */
	struct event *wake_ev; /* its read event in the worker's loop */
};
static _Thread_local struct hspool_owner *owner; /* the calling worker's */

/* Appends job to f. */
static void
fifo_push(struct job_fifo *f, struct hspool_job *job)
{
	job->next = NULL;
	*f->tail = job;
	f->tail = &job->next;
}

/* Takes the first job of f, or NULL. */
static struct hspool_job *
fifo_pop(struct job_fifo *f)
{
	struct hspool_job *job = f->head;

	if (job != NULL) {
		f->head = job->next;
		if (f->head == NULL)
			f->tail = &f->head;
		job->next = NULL;
	}
	return job;
}

/* Takes job out of f; false if it is not there. */
static bool
fifo_remove(struct job_fifo *f, struct hspool_job *job)
{
	for (struct hspool_job **pp = &f->head; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == job) {
			*pp = job->next;
			if (*pp == NULL)
				f->tail = pp;
			job->next = NULL;
			return true;
		}
	}
	return false;
}

/* Takes every job of f (in order) into a list of its own. */
static struct hspool_job *
fifo_take_all(struct job_fifo *f)
{
	struct hspool_job *all = f->head;

	f->head = NULL;
	f->tail = &f->head;
	return all;
}

/* Puts the calling thread at the lowest CPU priority: SCHED_IDLE, else nice 19. */
static void
hspool_lower_priority(void)
{
	struct sched_param sp = { .sched_priority = 0 };

	if (pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp) == 0)
		return;
	/* On Linux a nice value is per thread. */
	(void)setpriority(PRIO_PROCESS, (id_t)gettid(), 19);
}

/* Hands job to its owner's completion queue and wakes the owner's loop. */
static void
hspool_complete(struct hspool_job *job)
{
	struct hspool_owner *o = job->owner;
	uint64_t one = 1;

	pthread_mutex_lock(&o->lock);
	fifo_push(&o->done, job);
	pthread_mutex_unlock(&o->lock);
	/* The eventfd counter only grows: a failed write (overflow) cannot lose a wake-up. */
	if (write(o->wake_fd, &one, sizeof one) < 0 && errno != EAGAIN)
		log_warn("handshake pool: waking a worker");
}

/* A pool thread: runs jobs until the pool stops, hands each back to its worker. */
static void *
hspool_thread(void *arg)
{
	unsigned me = (unsigned)(uintptr_t)arg;
	char name[16];

	snprintf(name, sizeof name, "coaps-hs-%u", me);
	(void)pthread_setname_np(pthread_self(), name);
	hspool_lower_priority();
	for (;;) {
		struct hspool_job *job;

		pthread_mutex_lock(&hs_lock);
		while (!stopping && todo.head == NULL)
			pthread_cond_wait(&hs_cond, &hs_lock);
		if (stopping) {
			pthread_mutex_unlock(&hs_lock);
			return NULL;
		}
		job = fifo_pop(&todo);
		running[me] = job;
		pthread_mutex_unlock(&hs_lock);

		job->run(job);
		atomic_fetch_add_explicit(&jobs_run, 1, memory_order_relaxed);
		hspool_complete(job);
		pthread_mutex_lock(&hs_lock);
		running[me] = NULL;
		pthread_cond_broadcast(&idle_cond);
		pthread_mutex_unlock(&hs_lock);
	}
}

/* Hands every job in list to its done callback. */
static void
hspool_finish(struct hspool_job *list)
{
	while (list != NULL) {
		struct hspool_job *job = list;

		list = job->next;
		job->next = NULL;
		job->done(job);
	}
}

/* Hands the calling worker's completed jobs to their done callbacks. */
void
hspool_drain(void)
{
	struct hspool_job *list;

	if (owner == NULL)
		return;
	pthread_mutex_lock(&owner->lock);
	list = fifo_take_all(&owner->done);
	pthread_mutex_unlock(&owner->lock);
	hspool_finish(list);
}

/* libevent: pool threads completed jobs of this worker; it takes them back. */
static void
hspool_wake_cb(evutil_socket_t fd, short what, void *arg)
{
	uint64_t n;

	(void)what;
	(void)arg;
	if (read(fd, &n, sizeof n) < 0 && errno != EAGAIN)
		log_warn("handshake pool: reading its wake-up");
	hspool_drain();
}

unsigned
hspool_default_threads(void)
{
	cpu_set_t set;
	int n;

	if (sched_getaffinity(0, sizeof set, &set) < 0 || (n = CPU_COUNT(&set)) < 1)
		return 1;
	return (unsigned)n;
}

int
hspool_attach(struct event_base *base, char **cause)
{
	struct hspool_owner *o = calloc(1, sizeof *o);

	if (o == NULL)
		goto fail;
	pthread_mutex_init(&o->lock, NULL);
	o->done.tail = &o->done.head;
	o->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (o->wake_fd < 0 ||
	    (o->wake_ev = event_new(base, o->wake_fd, EV_READ | EV_PERSIST, hspool_wake_cb,
	         NULL)) == NULL ||
	    event_add(o->wake_ev, NULL) < 0)
		goto fail;
	owner = o;
	return 0;

fail:
	if (asprintf(cause, "handshake pool: %s", strerror(errno)) < 0)
		*cause = NULL;
	if (o != NULL) {
		if (o->wake_fd >= 0)
			close(o->wake_fd);
		pthread_mutex_destroy(&o->lock);
		free(o);
	}
	return -1;
}

void
hspool_detach(void)
{
	struct hspool_owner *o = owner;

	if (o == NULL)
		return;
	hspool_drain();
	owner = NULL;
	if (o->wake_ev != NULL)
		event_free(o->wake_ev);
	close(o->wake_fd);
	pthread_mutex_destroy(&o->lock);
	free(o);
}

int
hspool_start(unsigned n, char **cause)
{
	sigset_t all, old;

	if (n == 0)
		return 0;
	if ((threads = calloc(n, sizeof *threads)) == NULL ||
	    (running = calloc(n, sizeof *running)) == NULL) {
		if (asprintf(cause, "handshake threads: %s", strerror(errno)) < 0)
			*cause = NULL;
		return -1;
	}
	/* Signals stay with the loop's thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (unsigned i = 0; i < n; i++) {
		int err = pthread_create(&threads[i], NULL, hspool_thread, (void *)(uintptr_t)i);

		if (err != 0) {
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			hspool_stop();
			if (asprintf(cause, "handshake threads: %s", strerror(err)) < 0)
				*cause = NULL;
			return -1;
		}
		n_threads++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	atomic_store(&active, true);
	return 0;
}

bool
hspool_active(void)
{
	return atomic_load_explicit(&active, memory_order_relaxed) && owner != NULL;
}

void
hspool_submit(struct hspool_job *job)
{
	job->owner = owner;
	pthread_mutex_lock(&hs_lock);
	if (stopping) {
		/* Stopped since the caller looked: back to the worker, no step run. */
		pthread_mutex_unlock(&hs_lock);
		hspool_complete(job);
		return;
	}
	fifo_push(&todo, job);
	pthread_cond_signal(&hs_cond);
	pthread_mutex_unlock(&hs_lock);
}

void
hspool_stop(void)
{
	struct hspool_job *list;

	if (threads == NULL)
		return;
	atomic_store(&active, false);
	pthread_mutex_lock(&hs_lock);
	stopping = true;
	pthread_cond_broadcast(&hs_cond);
	pthread_mutex_unlock(&hs_lock);
	for (unsigned i = 0; i < n_threads; i++)
		pthread_join(threads[i], NULL);
	free(threads);
	threads = NULL;
	/* The jobs no thread took go back to their workers (their done sees no step run). */
	pthread_mutex_lock(&hs_lock);
	free(running);
	running = NULL;
	n_threads = 0;
	list = fifo_take_all(&todo);
	pthread_mutex_unlock(&hs_lock);
	while (list != NULL) {
		struct hspool_job *job = list;

		list = job->next;
		hspool_complete(job);
	}
	hspool_drain();
}

/* Tells whether a thread runs job (hs_lock held). */
static bool
hspool_running(const struct hspool_job *job)
{
	for (unsigned i = 0; i < n_threads; i++)
		if (running[i] == job)
			return true;
	return false;
}

/* Tells whether a job is queued or running (hs_lock held). */
static bool
hspool_busy(void)
{
	if (todo.head != NULL)
		return true;
	for (unsigned i = 0; i < n_threads; i++)
		if (running[i] != NULL)
			return true;
	return false;
}

void
hspool_reclaim(struct hspool_job *job)
{
	pthread_mutex_lock(&hs_lock);
	if (fifo_remove(&todo, job)) {
		pthread_mutex_unlock(&hs_lock);
		return;
	}
	while (hspool_running(job))
		pthread_cond_wait(&idle_cond, &hs_lock);
	pthread_mutex_unlock(&hs_lock);
	pthread_mutex_lock(&job->owner->lock);
	(void)fifo_remove(&job->owner->done, job);
	pthread_mutex_unlock(&job->owner->lock);
}

void
hspool_flush(void)
{
	if (!atomic_load(&active))
		return;
	pthread_mutex_lock(&hs_lock);
	while (hspool_busy())
		pthread_cond_wait(&idle_cond, &hs_lock);
	pthread_mutex_unlock(&hs_lock);
	hspool_drain();
}

void
hspool_lock(void)
{
	pthread_mutex_lock(&inbox_lock);
}

void
hspool_unlock(void)
{
	pthread_mutex_unlock(&inbox_lock);
}

uint64_t
hspool_jobs_run(void)
{
	return atomic_load_explicit(&jobs_run, memory_order_relaxed);
}
