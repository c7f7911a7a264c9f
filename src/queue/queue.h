/*
 * queue.h - the jobs table as a queue ("Queue and worker" in
 * docs/architecture.md), and each job's event stream. Every change of a
 * job's status goes through here, and each one writes its "status" event
 * in the same transaction, so what GET /api/v1/jobs/{id}/events streams is
 * exactly what happened.
 *
 * Lifecycle of a job row:
 *
 *	queued ──claim──▶ running ──finish──▶ succeeded | failed | cancelled
 *	  │                  │
 *	  └─cancel──▶ cancelled   └─lease passed──▶ failed (worker_lost), or
 *	                                            queued again (attempts left)
 *
 * Wake-ups travel by NOTIFY, delivered when the transaction commits:
 * QUEUE_CHANNEL_JOBS when a job is queued, QUEUE_CHANNEL_CANCEL (payload:
 * the job id) when a running job is to be cancelled. Workers LISTEN to both
 * and also poll slowly, so a lost notification delays a job, never loses it.
 *
 * Every function takes a connection that is not inside a transaction and
 * leaves it outside one; on error the transaction is rolled back.
 */
#ifndef TW_QUEUE_QUEUE_H
#define TW_QUEUE_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "core/buf.h"

#define QUEUE_CHANNEL_JOBS "tw_jobs"
#define QUEUE_CHANNEL_CANCEL "tw_job_cancel"

/* The event kinds of job_events.kind. */
#define QUEUE_EVENT_STATUS "status"
#define QUEUE_EVENT_LOG "log"
#define QUEUE_EVENT_METRICS "metrics"

/* A status that no longer changes: succeeded, failed or cancelled. */
bool queue_status_is_final(const char *status);

struct queue_new_job {
	int64_t user_id;
	int64_t script_id;
	int script_version;
	const char *source_table;      /* "schema.name", already checked */
	const char *destination_table; /* a bare name, already checked */
	const char *mode;	       /* create | replace | append */
	int max_attempts;	       /* TW_JOB_MAX_ATTEMPTS */
	long max_queued;	       /* TW_MAX_QUEUED_PER_USER; 0: no limit */
};

/*
 * queue_enqueue() inserts the job as queued with its first status event and
 * notifies QUEUE_CHANNEL_JOBS, in one transaction. *id gets the new id.
 * TW_ETOOMANY, with nothing inserted, when the user already has max_queued
 * jobs queued; concurrent submissions of one user are counted one after the
 * other (the user's row is locked for the transaction), so the limit holds
 * exactly.
 */
int queue_enqueue(PGconn *conn, const struct queue_new_job *job, int64_t *id,
		  struct buf *err);

/*
 * queue_cancel() cancels job id: a queued job becomes cancelled at once
 * (completed_at set, a status event and a log line written); a running one
 * gets cancel_requested = true and a QUEUE_CHANNEL_CANCEL notification, and
 * its worker kills it. *was_running says which. TW_ENOTFOUND when there is
 * no such job, TW_ECONFLICT when it has already finished.
 */
int queue_cancel(PGconn *conn, int64_t id, bool *was_running, struct buf *err);

/*
 * queue_event_add() appends one event to job_id's stream with the next seq.
 * data is a JSON object's text. It runs in the caller's transaction when
 * there is one (the point: an event goes with the change it describes).
 */
int queue_event_add(PGconn *conn, int64_t job_id, const char *kind,
		    const char *data, struct buf *err);

/*
 * queue_status_event_json() is the data of a status event,
 * {"status","error_code","error_message"} (NULLs as null), malloc'd.
 */
char *queue_status_event_json(const char *status, const char *error_code,
			      const char *error_message);

/* --- what workers use ---------------------------------------------------- */

/* A job as a worker claims it. Strings are malloc'd; queue_job_release(). */
struct queue_job {
	int64_t id;
	int64_t user_id;
	int64_t script_id;
	int script_version;
	char *code_text;
	char *source_table;
	char *destination_table;
	char *mode;
	int attempt; /* 1 on the first claim */
	int max_attempts;
	int64_t log_bytes; /* the stored log's length when claimed */
};

void queue_job_release(struct queue_job *job);

/*
 * queue_claim() takes the next queued job, if any, for worker_id, fairly
 * between users: of the users with queued jobs, the one with the fewest
 * running jobs, then the one whose last claim is oldest (never claimed
 * first), then that user's oldest queued job. FOR UPDATE SKIP LOCKED:
 * concurrent claimers never get the same row, and a row another claimer
 * holds is passed over for the next in that order. The job becomes
 * running, its attempt is counted, started_at and heartbeat_at are set, the
 * user's last claim is noted, a status event and a log line are written.
 * Returns 1 with *job filled, 0 when the queue is empty, or an error.
 */
int queue_claim(PGconn *conn, const char *worker_id, struct queue_job *job,
		struct buf *err);

/*
 * queue_append_log() appends text to the job's stored log and writes it as
 * a "log" event, and a "metrics" event when metrics_json is not NULL, in
 * one transaction, while the job is still running under worker_id.
 * truncated sets logs_truncated. Returns 1 when written, 0 when the job is
 * no longer this worker's (recovered after a lost lease, say).
 */
int queue_append_log(PGconn *conn, int64_t id, const char *worker_id,
		     const char *text, size_t len, bool truncated,
		     const char *metrics_json, struct buf *err);

/* How a run ended, for queue_finish(). */
struct queue_result {
	const char *status;	   /* succeeded | failed | cancelled */
	const char *error_code;	   /* NULL unless failed */
	const char *error_message; /* NULL or one line */
	int64_t rows_in;	   /* -1: unknown (stored as NULL) */
	int64_t rows_out;
	int64_t peak_memory_bytes;
	double cpu_seconds;
	int64_t duration_ms;
	const char *log_tail; /* the last log text not yet appended, or NULL */
	size_t log_tail_len;
	bool log_truncated;
};

/*
 * queue_finish() records the outcome of a running job that worker_id holds,
 * with its status event, in one transaction. Returns 1 when recorded, 0
 * when the job was no longer this worker's (nothing is changed then).
 * Unlike the other functions it may also run inside the caller's open
 * transaction (the publisher's: the outcome commits with the table), as a
 * savepoint that it releases, or rolls back on 0 or an error, leaving the
 * caller's transaction open either way.
 */
int queue_finish(PGconn *conn, int64_t id, const char *worker_id,
		 const struct queue_result *res, struct buf *err);

/*
 * queue_heartbeat() marks the worker alive (workers row, upserted) and
 * every job running under its name. ids[0..*n) receives, of those, the ones
 * whose cancel has been requested; held[0..*nheld) the ones still held at
 * all (a job missing there was taken away: its child must stop). Both
 * arrays have room for cap ids.
 */
int queue_heartbeat(PGconn *conn, const char *worker_id, const char *hostname,
		    long pid, int concurrency, int64_t *cancel_ids, size_t *n,
		    int64_t *held, size_t *nheld, size_t cap, struct buf *err);

/*
 * queue_recover() looks for running jobs whose heartbeat is older than
 * lease_s: each becomes queued again when it has attempts left (and was not
 * being cancelled), else failed with worker_lost (or cancelled when a
 * cancel was pending); a log line says what happened. *recovered gets the
 * count. Safe to run from every worker at once.
 */
int queue_recover(PGconn *conn, long lease_s, int *recovered, struct buf *err);

/* queue_worker_gone() deletes the workers row at a graceful stop. */
int queue_worker_gone(PGconn *conn, const char *worker_id, struct buf *err);

#endif
