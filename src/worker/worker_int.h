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
#include "db/copy.h"
#include "db/db.h"
#include "queue/queue.h"
#include "sandbox/sandbox.h"
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

/*
 * publish.c - the job's output side, on one connection held for the whole
 * job, in one transaction that commits with the job's outcome:
 *
 *	publish_open()    BEGIN; checks the destination for the job's mode
 *	                  (create: destination_exists; replace/append: only a
 *	                  table in published_tables that the job's user owns,
 *	                  admins any; never the source); *code is set to the
 *	                  job error code on refusal
 *	publish_stage()   creates the staging table with the runner's output
 *	                  columns (append: checks them against the destination:
 *	                  schema_mismatch), starts COPY FROM STDIN binary and
 *	                  sends the binary header (db_bin_encode_header())
 *	publish_put()     binary COPY tuples only (db_bin_encode_rows() output;
 *	                  the data path calls it with a few MiB at a time)
 *	publish_finish()  sends the trailer (db_bin_encode_trailer()) and ends
 *	                  the COPY; create: the stage becomes the table;
 *	                  replace: swapped in, the previous version kept
 *	                  (TW_KEEP_VERSIONS); append: INSERT ... SELECT; then
 *	                  provenance and published_tables. The transaction
 *	                  stays open: the runner records the job's outcome on
 *	                  p->conn (queue_finish) and calls publish_commit().
 *	publish_commit()  COMMIT
 *	publish_abort()   ROLLBACK (any time; safe twice); nothing is left
 */
struct publish {
	PGconn *conn;
	const struct cfg *cfg;
	const struct queue_job *job;
	bool is_admin;	/* the job's user is an admin */
	bool in_tx;	/* BEGIN done, no COMMIT/ROLLBACK yet */
	bool copying;	/* COPY FROM STDIN in progress */
	char stage[64]; /* the staging table's name */
	size_t ncols;
	int64_t rows_out;
	int version; /* publish_finish(): the table version written */
};

int publish_open(struct publish *p, PGconn *conn, const struct cfg *cfg,
		 const struct queue_job *job, const char **code,
		 struct buf *err);
int publish_stage(struct publish *p, const struct db_columns *out,
		  const char **code, struct buf *err);
int publish_put(struct publish *p, const char *data, size_t len,
		struct buf *err);
int publish_finish(struct publish *p, int64_t rows_out, const char **code,
		   struct buf *err);
int publish_commit(struct publish *p, struct buf *err);
void publish_abort(struct publish *p);

/*
 * datapath.c - the job's data through the sandbox child
 * (docs/internals/datapath.md). runner.c drives it:
 *
 *	datapath_new()        for one job
 *	datapath_prepare()    before the child starts: the source's columns
 *	                      (source_missing), the COPY statement, the
 *	                      publisher opened (destination_exists, ...); on
 *	                      failure *code and msg say why
 *	datapath_start()      the reader thread: JOB, then (after READY) the
 *	                      source's batches and END into the child's stdin
 *	datapath_poll()       every pump round: decodes the frames in in (the
 *	                      child's stdout; consumed), LOG text to log_fn;
 *	                      <0 once the data path found a failure (the child
 *	                      must be killed)
 *	datapath_stop_input() the reader stops (a COPY in flight is cancelled)
 *	datapath_join()       ... and is joined; call once the child is gone
 *	datapath_failure()    the failure found (the worker's, the source's or
 *	                      the runner's STATUS): its code, or NULL
 *	datapath_check_success()  for a child that exited 0 with no failure:
 *	                      NULL when the result may be published
 *	datapath_commit()     publishes and records res in one transaction: 1
 *	                      done, 0 the job is no longer ours, <0 failed
 *	                      (*code; nothing published)
 *	datapath_abort()      nothing is published (safe at any time, twice)
 *	datapath_free()       joins, aborts, releases everything
 */
struct datapath;

struct datapath *datapath_new(struct worker *w, const struct queue_job *job);
int datapath_prepare(struct datapath *d, const char **code, struct buf *msg);
int datapath_start(struct datapath *d, struct sbx_child *child,
		   struct buf *err);
int datapath_poll(struct datapath *d, struct buf *in, bool eof,
		  void (*log_fn)(void *, const char *, size_t), void *ctx);
void datapath_stop_input(struct datapath *d);
void datapath_join(struct datapath *d);
/* Rows done, for the metrics events: what the runner reported transformed
 * (METRICS) and what has been written. */
void datapath_progress(const struct datapath *d, int64_t *rows_in,
		       int64_t *rows_out);
/* Rows read from the source and sent, and rows written, for the job row. */
void datapath_counts(const struct datapath *d, int64_t *rows_in,
		     int64_t *rows_out);
const char *datapath_failure(struct datapath *d, struct buf *msg);
const char *datapath_check_success(struct datapath *d, struct buf *msg);
int datapath_commit(struct datapath *d, struct queue_result *res,
		    const char **code, struct buf *err);
void datapath_abort(struct datapath *d);
void datapath_free(struct datapath *d);

/* runner.c: the thread body that runs slot->job to its end. */
void *worker__run(void *slot);

#endif
