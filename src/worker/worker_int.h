/*
 * worker_int.h - what worker.c (the dispatcher) and runner.c (one job)
 * share. Nothing outside src/worker/ includes it.
 */
#ifndef TW_WORKER_WORKER_INT_H
#define TW_WORKER_WORKER_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "config/config.h"
#include "core/buf.h"
#include "db/db.h"
#include "queue/queue.h"
#include "worker/worker.h"

/* The runner samples the child (and enforces its limits) this often. */
#define WORKER_SAMPLE_MS 250
/* ... writes new log text at most this often ... */
#define WORKER_FLUSH_MS 250
/* ... and a metrics event this often. */
#define WORKER_METRICS_MS 1000

/*
 * One job slot. The dispatcher fills job and starts the thread; the runner
 * owns job while it runs and sets done last; the dispatcher then joins the
 * thread and frees the slot. The flags are how the dispatcher talks to a
 * running job.
 */
struct worker_slot {
	struct worker *w;
	bool busy; /* dispatcher only: the thread exists */
	pthread_t thread;
	struct queue_job job;
	atomic_bool cancel; /* the job's cancel was requested */
	atomic_bool lost; /* the job is no longer ours: stop, record nothing */
	atomic_bool ending; /* the runner is recording the outcome */
	atomic_bool done;   /* the runner has finished */
};

struct worker {
	const struct cfg *cfg;
	struct db_pool *pool;
	char id[160];
	struct buf hostname;
	int concurrency;
	char **argv;		   /* TW_SANDBOX_COMMAND split; NULL: unset */
	struct worker_slot *slots; /* concurrency of them */
	pthread_t dispatcher;
	atomic_bool stopping; /* claim no more; leave when all slots are free */
	atomic_bool kill_all; /* the stop deadline passed: cancel every job */
	atomic_int running;   /* busy slots (the dispatcher counts) */
};

/* runner.c: the thread body that runs slot->job to its end. */
void *worker__run(void *slot);

#endif
