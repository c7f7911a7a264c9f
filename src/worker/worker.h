/*
 * worker.h - the job worker ("Queue and worker" in docs/architecture.md):
 * claims queued jobs from the PostgreSQL queue (src/queue/queue.h) and
 * runs each in a supervised sandbox child (src/sandbox/sandbox.h), the
 * Python runner, streaming the source table through it into the
 * destination (docs/internals/datapath.md), up to N at once.
 *
 *	worker_start()  connects, registers in the workers table and starts
 *	                the dispatcher thread
 *	worker_stop()   stops claiming, lets running jobs go on for
 *	                TW_WORKER_STOP_S, cancels the rest, deregisters, frees
 *
 * The dispatcher holds one connection that LISTENs for new jobs and cancel
 * requests; it claims while a slot is free, heartbeats every quarter of
 * TW_JOB_LEASE_S, recovers jobs whose worker stopped heartbeating, polls
 * every few seconds in case a notification was missed, and reconnects
 * with backoff when the database goes away. Each job runs on a thread of
 * its own (runner.c) that takes the child's frames (datapath.c, with a
 * reader thread feeding it the source), writes its log and samples its
 * metrics every ~250 ms. docs/internals/queue.md tells the whole story.
 *
 * worker_start() refuses to start (TW_ENOTFOUND, the message naming
 * TW_PYTHON) when TW_SANDBOX_COMMAND is unset and no interpreter for the
 * runner is found.
 */
#ifndef TW_WORKER_WORKER_H
#define TW_WORKER_WORKER_H

#include "config/config.h"
#include "core/buf.h"

struct worker;

/*
 * worker_start() runs up to concurrency jobs at once (0: one per core). The
 * database must be reachable now (TW_EUNAVAIL otherwise: fail fast); once
 * started the worker rides out outages by itself. cfg must outlive the
 * worker.
 */
int worker_start(const struct cfg *cfg, int concurrency, struct worker **out,
		 struct buf *err);

/* The worker's id, "<host>:<pid>:<random>", as stored in jobs.worker_id. */
const char *worker_id(const struct worker *w);

/* How many jobs it runs at once. */
int worker_concurrency(const struct worker *w);

/*
 * worker_stop() returns when every job of this worker has finished or been
 * cancelled (at most TW_WORKER_STOP_S plus a few seconds), and frees w.
 */
void worker_stop(struct worker *w);

#endif
