#include "core/compat.h"

#include <inttypes.h>
#include <jansson.h>

#include "core/err.h"
#include "core/mem.h"
#include "core/str.h"
#include "db/db.h"
#include "queue/queue.h"

/*
 * queue.c - the PostgreSQL queue: the jobs table's status transitions and
 * the job_events stream (docs/internals/queue.md).
 *
 * Each transition is one transaction that changes the row, appends a log
 * line to jobs.logs, writes the matching events, and NOTIFYs whoever must
 * act on it. Transitions made on a worker's behalf are fenced: they only
 * apply while the row is still running under that worker's id, so a worker
 * that lost its lease (and whose job was recovered or claimed by another)
 * changes nothing.
 */

/* A log line is stamped by the database, in UTC, like API times. */
#define LOG_STAMP                            \
	"to_char(now() AT TIME ZONE 'UTC', " \
	"'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/* Recovered per pass at most; the next pass takes the rest. */
#define RECOVER_BATCH "100"

static const char *const final_statuses[] = { "succeeded", "failed",
					      "cancelled" };

bool queue_status_is_final(const char *status)
{
	size_t i;

	for (i = 0; status && i < TW_ARRAY_SIZE(final_statuses); i++)
		if (!strcmp(status, final_statuses[i]))
			return true;
	return false;
}

/* --- small helpers ------------------------------------------------------- */

static void fmt_id(char *out, size_t cap, int64_t id)
{
	snprintf(out, cap, "%" PRId64, id);
}

/* Rows an UPDATE or DELETE touched. */
static long affected(PGresult *res)
{
	long n = 0;

	if (str_to_long(PQcmdTuples(res), 0, LONG_MAX, &n) < 0)
		n = 0;
	return n;
}

static char *get_str(PGresult *res, int row, int col)
{
	return xstrdup(PQgetvalue(res, row, col));
}

/* A JSON object's compact text, malloc'd; the reference is stolen. */
static char *json_text(json_t *obj)
{
	char *text = json_dumps(obj, JSON_COMPACT);

	json_decref(obj);
	if (!text)
		TW_BUG("could not encode an event as JSON");
	return text;
}

char *queue_status_event_json(const char *status, const char *error_code,
			      const char *error_message)
{
	json_t *o = json_object();

	json_object_set_new(o, "status", json_string(status));
	json_object_set_new(o, "error_code",
			    error_code ? json_string(error_code) : json_null());
	json_object_set_new(o, "error_message",
			    error_message ? json_string(error_message)
					  : json_null());
	return json_text(o);
}

int queue_event_add(PGconn *conn, int64_t job_id, const char *kind,
		    const char *data, struct buf *err)
{
	static const char sql[] = "WITH s AS (UPDATE jobs SET event_seq = "
				  "event_seq + 1 "
				  "WHERE id = $1 RETURNING event_seq) "
				  "INSERT INTO job_events (job_id, seq, kind, "
				  "data) "
				  "SELECT $1, event_seq, $2, $3 FROM s";
	char id[24];
	const char *params[3];
	PGresult *res = NULL;
	int rc;

	fmt_id(id, sizeof(id), job_id);
	params[0] = id;
	params[1] = kind;
	params[2] = data;
	rc = db_exec(conn, sql, 3, params, &res, err);
	if (rc == 0 && affected(res) != 1) {
		buf_errf(err, "job %" PRId64 " does not exist", job_id);
		rc = TW_ENOTFOUND;
	}
	PQclear(res);
	return rc;
}

/* Writes a status event for the job's status as it is now. */
static int status_event(PGconn *conn, int64_t id, const char *status,
			const char *error_code, const char *error_message,
			struct buf *err)
{
	char *data = queue_status_event_json(status, error_code, error_message);
	int rc = queue_event_add(conn, id, QUEUE_EVENT_STATUS, data, err);

	free(data);
	return rc;
}

/* A "log" event carrying text (valid UTF-8 without NUL). */
static int log_event(PGconn *conn, int64_t id, const char *text, size_t len,
		     struct buf *err)
{
	json_t *o = json_object();
	json_t *s = json_stringn(text, len);
	char *data;
	int rc;

	if (!s) {
		json_decref(o);
		buf_errf(err, "log text of job %" PRId64 " is not UTF-8", id);
		return TW_EINVAL;
	}
	json_object_set_new(o, "text", s);
	data = json_text(o);
	rc = queue_event_add(conn, id, QUEUE_EVENT_LOG, data, err);
	free(data);
	return rc;
}

/*
 * log_line() appends "[<UTC time>] <msg>\n" to the job's log and streams it
 * as a log event. The line is written even past the log cap: these lines
 * are few and short, and they say what happened to the job.
 */
static int log_line(PGconn *conn, int64_t id, const char *msg, struct buf *err)
{
	static const char sql[] =
		"WITH l AS (SELECT '[' || " LOG_STAMP " || '] ' || $2 || "
		"E'\\n' AS line), "
		"u AS (UPDATE jobs SET logs = logs || (SELECT line FROM l) "
		"WHERE id = $1 RETURNING 1) "
		"SELECT line FROM l, u";
	char sid[24];
	const char *params[2];
	PGresult *res = NULL;
	int rc;

	fmt_id(sid, sizeof(sid), id);
	params[0] = sid;
	params[1] = msg;
	rc = db_exec(conn, sql, 2, params, &res, err);
	if (rc == 0 && PQntuples(res) != 1) {
		buf_errf(err, "job %" PRId64 " does not exist", id);
		rc = TW_ENOTFOUND;
	}
	if (rc == 0)
		rc = log_event(conn, id, PQgetvalue(res, 0, 0),
			       (size_t)PQgetlength(res, 0, 0), err);
	PQclear(res);
	return rc;
}

static int notify(PGconn *conn, const char *channel, int64_t id,
		  struct buf *err)
{
	char sid[24];
	const char *params[2];

	fmt_id(sid, sizeof(sid), id);
	params[0] = channel;
	params[1] = sid;
	return db_exec(conn, "SELECT pg_notify($1, $2)", 2, params, NULL, err);
}

/* --- what the API uses ---------------------------------------------------- */

int queue_enqueue(PGconn *conn, const struct queue_new_job *job, int64_t *id,
		  struct buf *err)
{
	static const char sql[] = "INSERT INTO jobs (user_id, script_id, "
				  "script_version, "
				  "source_table, destination_table, mode, "
				  "max_attempts) "
				  "VALUES ($1, $2, $3, $4, $5, $6, $7) "
				  "RETURNING id";
	/*
	 * The user's row lock (NO KEY: inserting rows that reference the user
	 * is not held up) makes a second submission of the same user wait
	 * here until the first has committed. The count is a statement of its
	 * own, after the lock, so that it sees what the first one committed
	 * (READ COMMITTED takes a snapshot per statement). It stops at the
	 * limit; jobs_user_queue_idx serves it.
	 */
	static const char lock_sql[] = "SELECT 1 FROM users WHERE id = $1 "
				       "FOR NO KEY UPDATE";
	static const char count_sql[] = "SELECT count(*) FROM (SELECT 1 FROM "
					"jobs "
					"WHERE user_id = $1 AND status = "
					"'queued' LIMIT $2) q";
	char user[24], script[24], version[16], attempts[16], limit[24];
	const char *params[7], *count_params[2];
	PGresult *res = NULL;
	struct buf msg = BUF_INIT(4096);
	struct db_tx tx;
	int rc;

	fmt_id(user, sizeof(user), job->user_id);
	fmt_id(script, sizeof(script), job->script_id);
	snprintf(version, sizeof(version), "%d", job->script_version);
	snprintf(attempts, sizeof(attempts), "%d", job->max_attempts);
	params[0] = user;
	params[1] = script;
	params[2] = version;
	params[3] = job->source_table;
	params[4] = job->destination_table;
	params[5] = job->mode;
	params[6] = attempts;
	rc = db_tx_begin(&tx, conn, err);
	if (rc < 0)
		goto out;
	if (job->max_queued > 0) {
		snprintf(limit, sizeof(limit), "%ld", job->max_queued);
		count_params[0] = user;
		count_params[1] = limit;
		rc = db_exec(conn, lock_sql, 1, count_params, &res, err);
		if (rc < 0)
			goto out;
		if (PQntuples(res) != 1) {
			buf_errf(err, "user %" PRId64 " does not exist",
				 job->user_id);
			rc = TW_ENOTFOUND;
			goto out;
		}
		PQclear(res);
		res = NULL;
		rc = db_exec(conn, count_sql, 2, count_params, &res, err);
		if (rc < 0)
			goto out;
		if (db_col_i64_or(res, 0, 0, 0) >= job->max_queued) {
			buf_errf(err, "%ld jobs are queued already",
				 job->max_queued);
			rc = TW_ETOOMANY;
			goto out;
		}
		PQclear(res);
		res = NULL;
	}
	rc = db_exec(conn, sql, 7, params, &res, err);
	if (rc < 0)
		goto out;
	*id = db_col_i64_or(res, 0, 0, 0);
	rc = status_event(conn, *id, "queued", NULL, NULL, err);
	if (rc < 0)
		goto out;
	buf_addf(&msg,
		 "queued: script %" PRId64 " version %d over %s into %s "
		 "(mode %s)",
		 job->script_id, job->script_version, job->source_table,
		 job->destination_table, job->mode);
	rc = log_line(conn, *id, msg.ptr, err);
	if (rc == 0)
		rc = notify(conn, QUEUE_CHANNEL_JOBS, *id, err);
	if (rc == 0)
		rc = db_tx_commit(&tx, err);
out:
	if (rc < 0)
		db_tx_rollback(&tx);
	PQclear(res);
	buf_release(&msg);
	return rc;
}

int queue_cancel(PGconn *conn, int64_t id, bool *was_running, struct buf *err)
{
	char sid[24];
	const char *params[1];
	PGresult *res = NULL;
	const char *status;
	struct db_tx tx;
	int rc;

	*was_running = false;
	fmt_id(sid, sizeof(sid), id);
	params[0] = sid;
	rc = db_tx_begin(&tx, conn, err);
	if (rc < 0)
		goto out;
	rc = db_exec(conn,
		     "SELECT status, cancel_requested FROM jobs "
		     "WHERE id = $1 FOR UPDATE",
		     1, params, &res, err);
	if (rc < 0)
		goto out;
	if (PQntuples(res) != 1) {
		buf_errf(err, "job %" PRId64 " does not exist", id);
		rc = TW_ENOTFOUND;
		goto out;
	}
	status = PQgetvalue(res, 0, 0);
	if (queue_status_is_final(status)) {
		buf_errf(err, "job %" PRId64 " has already finished (%s)", id,
			 status);
		rc = TW_ECONFLICT;
		goto out;
	}
	if (!strcmp(status, "queued")) {
		rc = db_exec(conn,
			     "UPDATE jobs SET status = 'cancelled', "
			     "cancel_requested = true, completed_at = now() "
			     "WHERE id = $1",
			     1, params, NULL, err);
		if (rc == 0)
			rc = log_line(conn, id, "cancelled before it started",
				      err);
		if (rc == 0)
			rc = status_event(conn, id, "cancelled", NULL, NULL,
					  err);
	} else {
		*was_running = true;
		/* A second request only notifies again. */
		if (strcmp(PQgetvalue(res, 0, 1), "t") != 0) {
			rc = db_exec(conn,
				     "UPDATE jobs SET cancel_requested = true "
				     "WHERE id = $1",
				     1, params, NULL, err);
			if (rc == 0)
				rc = log_line(conn, id, "cancel requested",
					      err);
		}
		if (rc == 0)
			rc = notify(conn, QUEUE_CHANNEL_CANCEL, id, err);
	}
	if (rc == 0)
		rc = db_tx_commit(&tx, err);
out:
	if (rc < 0)
		db_tx_rollback(&tx);
	PQclear(res);
	return rc;
}

/* --- what workers use ----------------------------------------------------- */

void queue_job_release(struct queue_job *job)
{
	free(job->code_text);
	free(job->source_table);
	free(job->destination_table);
	free(job->mode);
	memset(job, 0, sizeof(*job));
}

int queue_claim(PGconn *conn, const char *worker_id, struct queue_job *job,
		struct buf *err)
{
	/*
	 * One statement, fair between users (docs/internals/queue.md):
	 *
	 * waiting: the users with queued jobs (an index-only scan of
	 *          jobs_user_queue_idx), each with its running jobs (the few
	 *          running rows, through jobs_running_heartbeat_idx) and its
	 *          last claim (queue_users), ranked: fewest running, then
	 *          served longest ago (never first), then user id;
	 * next:    the queued rows in the order of their user's rank, then
	 *          queued_at and id, locked one at a time until one is free
	 *          (SKIP LOCKED): two claimers at once get two different jobs,
	 *          or one gets none, never the same one, and a row held by
	 *          another claimer does not make the queue look empty;
	 * claimed: that row becomes running;
	 * noted:   its user's last claim becomes now.
	 *
	 * The sort covers every queued row, which TW_MAX_QUEUED_PER_USER
	 * bounds per user: a few thousand sort in about a millisecond.
	 */
	static const char claim_sql[] =
		"WITH waiting AS ("
		" SELECT q.user_id, row_number() OVER (ORDER BY"
		" coalesce(r.n, 0), u.last_claimed_at NULLS FIRST, q.user_id)"
		" AS turn"
		" FROM (SELECT DISTINCT user_id FROM jobs"
		" WHERE status = 'queued') q"
		" LEFT JOIN (SELECT user_id, count(*) AS n FROM jobs"
		" WHERE status = 'running' GROUP BY user_id) r"
		" ON r.user_id = q.user_id"
		" LEFT JOIN queue_users u ON u.user_id = q.user_id),"
		" next AS ("
		" SELECT j.id FROM jobs j JOIN waiting w ON w.user_id = "
		"j.user_id"
		" WHERE j.status = 'queued'"
		" ORDER BY w.turn, j.queued_at, j.id"
		" FOR UPDATE OF j SKIP LOCKED LIMIT 1),"
		" claimed AS ("
		" UPDATE jobs SET status = 'running', attempt = attempt + 1,"
		" worker_id = $1, started_at = now(), heartbeat_at = now(),"
		" completed_at = NULL, error_code = NULL, error_message = NULL"
		" WHERE id = (SELECT id FROM next)"
		" RETURNING id, user_id, script_id, script_version,"
		" source_table, destination_table, mode, attempt,"
		" max_attempts, octet_length(logs)),"
		" noted AS ("
		" INSERT INTO queue_users (user_id, last_claimed_at)"
		" SELECT user_id, clock_timestamp() FROM claimed"
		" ON CONFLICT (user_id) DO UPDATE"
		" SET last_claimed_at = EXCLUDED.last_claimed_at)"
		" SELECT * FROM claimed";
	static const char code_sql[] = "SELECT code_text FROM script_versions "
				       "WHERE script_id = $1 AND version = $2";
	const char *params[2];
	char script[24], version[16];
	PGresult *res = NULL, *code = NULL;
	struct buf msg = BUF_INIT(4096);
	struct db_tx tx;
	int rc;

	memset(job, 0, sizeof(*job));
	params[0] = worker_id;
	rc = db_tx_begin(&tx, conn, err);
	if (rc < 0)
		goto out;
	rc = db_exec(conn, claim_sql, 1, params, &res, err);
	if (rc < 0)
		goto out;
	if (PQntuples(res) == 0) {
		rc = db_tx_commit(&tx, err);
		goto out;
	}
	job->id = db_col_i64_or(res, 0, 0, 0);
	job->user_id = db_col_i64_or(res, 0, 1, 0);
	job->script_id = db_col_i64_or(res, 0, 2, 0);
	job->script_version = (int)db_col_i64_or(res, 0, 3, 0);
	job->source_table = get_str(res, 0, 4);
	job->destination_table = get_str(res, 0, 5);
	job->mode = get_str(res, 0, 6);
	job->attempt = (int)db_col_i64_or(res, 0, 7, 0);
	job->max_attempts = (int)db_col_i64_or(res, 0, 8, 0);
	job->log_bytes = db_col_i64_or(res, 0, 9, 0);

	fmt_id(script, sizeof(script), job->script_id);
	snprintf(version, sizeof(version), "%d", job->script_version);
	params[0] = script;
	params[1] = version;
	rc = db_exec(conn, code_sql, 2, params, &code, err);
	if (rc < 0)
		goto out;
	if (PQntuples(code) != 1) {
		buf_errf(err, "script %s version %s of job %" PRId64 " is gone",
			 script, version, job->id);
		rc = TW_ENOTFOUND;
		goto out;
	}
	job->code_text = get_str(code, 0, 0);
	buf_addf(&msg, "running on worker %s (attempt %d of %d)", worker_id,
		 job->attempt, job->max_attempts);
	rc = log_line(conn, job->id, msg.ptr, err);
	if (rc == 0)
		rc = status_event(conn, job->id, "running", NULL, NULL, err);
	if (rc == 0)
		rc = db_tx_commit(&tx, err);
	if (rc == 0)
		rc = 1;
out:
	if (rc < 0) {
		db_tx_rollback(&tx);
		queue_job_release(job);
	} else if (rc == 0) {
		queue_job_release(job);
	}
	PQclear(res);
	PQclear(code);
	buf_release(&msg);
	return rc;
}

/*
 * Appends text to the log of a job still running under worker_id, with its
 * log event. 1 when done, 0 when the job is no longer this worker's.
 */
static int append_fenced(PGconn *conn, int64_t id, const char *worker_id,
			 const char *text, size_t len, bool truncated,
			 struct buf *err)
{
	static const char sql[] = "UPDATE jobs SET logs = logs || $3, "
				  "logs_truncated = logs_truncated OR $4 "
				  "WHERE id = $1 AND worker_id = $2 AND status "
				  "= 'running'";
	char sid[24];
	const char *params[4];
	char *copy = xmalloc(len + 1);
	PGresult *res = NULL;
	int rc;

	memcpy(copy, text, len);
	copy[len] = '\0';
	fmt_id(sid, sizeof(sid), id);
	params[0] = sid;
	params[1] = worker_id;
	params[2] = copy;
	params[3] = truncated ? "true" : "false";
	rc = db_exec(conn, sql, 4, params, &res, err);
	if (rc == 0)
		rc = affected(res) == 1 ? 1 : 0;
	if (rc == 1 && len > 0 && log_event(conn, id, text, len, err) < 0)
		rc = TW_EINVAL;
	PQclear(res);
	free(copy);
	return rc;
}

int queue_append_log(PGconn *conn, int64_t id, const char *worker_id,
		     const char *text, size_t len, bool truncated,
		     const char *metrics_json, struct buf *err)
{
	struct db_tx tx;
	int rc;

	rc = db_tx_begin(&tx, conn, err);
	if (rc < 0)
		goto out;
	rc = append_fenced(conn, id, worker_id, text, len, truncated, err);
	if (rc == 1 && metrics_json &&
	    queue_event_add(conn, id, QUEUE_EVENT_METRICS, metrics_json, err) <
		    0)
		rc = TW_EDB;
	if (rc == 1 && db_tx_commit(&tx, err) < 0)
		rc = TW_EDB;
out:
	if (rc <= 0)
		db_tx_rollback(&tx);
	return rc;
}

int queue_finish(PGconn *conn, int64_t id, const char *worker_id,
		 const struct queue_result *r, struct buf *err)
{
	static const char sql[] =
		"UPDATE jobs SET status = $2, error_code = $3, "
		"error_message = $4, completed_at = now(), rows_in = $5, "
		"rows_out = $6, peak_memory_bytes = $7, cpu_seconds = $8, "
		"duration_ms = $9 WHERE id = $1 AND worker_id = $10 "
		"AND status = 'running'";
	char sid[24], rin[24], rout[24], peak[24], cpu[32], dur[24];
	const char *params[10];
	PGresult *res = NULL;
	struct db_tx tx;
	int rc;

	fmt_id(sid, sizeof(sid), id);
	fmt_id(rin, sizeof(rin), r->rows_in);
	fmt_id(rout, sizeof(rout), r->rows_out);
	fmt_id(peak, sizeof(peak), r->peak_memory_bytes);
	snprintf(cpu, sizeof(cpu), "%.3f", r->cpu_seconds);
	fmt_id(dur, sizeof(dur), r->duration_ms);
	params[0] = sid;
	params[1] = r->status;
	params[2] = r->error_code;
	params[3] = r->error_message;
	params[4] = r->rows_in < 0 ? NULL : rin;
	params[5] = r->rows_out < 0 ? NULL : rout;
	params[6] = peak;
	params[7] = cpu;
	params[8] = dur;
	params[9] = worker_id;

	/* Inside the publisher's transaction: a savepoint (queue.h). */
	rc = db_tx_begin_nested(&tx, conn, "queue_finish", err);
	if (rc < 0)
		goto out;
	rc = append_fenced(conn, id, worker_id, r->log_tail ? r->log_tail : "",
			   r->log_tail ? r->log_tail_len : 0, r->log_truncated,
			   err);
	if (rc != 1)
		goto out;
	rc = db_exec(conn, sql, 10, params, &res, err);
	if (rc < 0)
		goto out;
	rc = status_event(conn, id, r->status, r->error_code, r->error_message,
			  err);
	if (rc == 0)
		rc = db_tx_commit(&tx, err);
	if (rc == 0)
		rc = 1;
out:
	if (rc <= 0)
		db_tx_rollback(&tx);
	PQclear(res);
	return rc;
}

int queue_heartbeat(PGconn *conn, const char *worker_id, const char *hostname,
		    long pid, int concurrency, int64_t *cancel_ids, size_t *n,
		    int64_t *held, size_t *nheld, size_t cap, struct buf *err)
{
	static const char worker_sql[] = "INSERT INTO workers (id, hostname, "
					 "pid, concurrency) "
					 "VALUES ($1, $2, $3, $4) ON CONFLICT "
					 "(id) DO UPDATE "
					 "SET heartbeat_at = now()";
	static const char jobs_sql[] = "UPDATE jobs SET heartbeat_at = now() "
				       "WHERE worker_id = $1 AND status = "
				       "'running' "
				       "RETURNING id, cancel_requested";
	char spid[24], sconc[16];
	const char *params[4];
	PGresult *res = NULL;
	int rc, i;

	*n = 0;
	*nheld = 0;
	snprintf(spid, sizeof(spid), "%ld", pid);
	snprintf(sconc, sizeof(sconc), "%d", concurrency);
	params[0] = worker_id;
	params[1] = hostname;
	params[2] = spid;
	params[3] = sconc;
	rc = db_exec(conn, worker_sql, 4, params, NULL, err);
	if (rc < 0)
		return rc;
	rc = db_exec(conn, jobs_sql, 1, params, &res, err);
	for (i = 0; rc == 0 && i < PQntuples(res); i++) {
		int64_t id = db_col_i64_or(res, i, 0, 0);

		if (*nheld < cap)
			held[(*nheld)++] = id;
		if (!strcmp(PQgetvalue(res, i, 1), "t") && *n < cap)
			cancel_ids[(*n)++] = id;
	}
	PQclear(res);
	return rc;
}

int queue_recover(PGconn *conn, long lease_s, int *recovered, struct buf *err)
{
	/*
	 * SET expressions see the row as it was, so the CASEs decide on the
	 * old cancel_requested and attempt. SKIP LOCKED lets several workers
	 * recover at once without waiting on each other; a row a live worker
	 * is finishing right now is locked by it and skipped.
	 */
	static const char sql[] =
		"WITH lost AS (SELECT id, worker_id, " LOG_STAMP " AS seen "
		"FROM jobs WHERE status = 'running' AND heartbeat_at < now() - "
		"make_interval(secs => $1::double precision) "
		"ORDER BY id FOR UPDATE SKIP LOCKED LIMIT " RECOVER_BATCH ") "
		"UPDATE jobs j SET status = CASE "
		"WHEN j.cancel_requested THEN 'cancelled' "
		"WHEN j.attempt < j.max_attempts THEN 'queued' "
		"ELSE 'failed' END, "
		"error_code = CASE WHEN NOT j.cancel_requested AND "
		"j.attempt >= j.max_attempts THEN 'worker_lost' END, "
		"error_message = CASE WHEN NOT j.cancel_requested AND "
		"j.attempt >= j.max_attempts THEN 'the worker running the job "
		"stopped responding' END, "
		"completed_at = CASE WHEN j.cancel_requested OR "
		"j.attempt >= j.max_attempts THEN now() END, "
		"worker_id = CASE WHEN NOT j.cancel_requested AND "
		"j.attempt < j.max_attempts THEN NULL ELSE j.worker_id END "
		"FROM lost WHERE j.id = lost.id "
		"RETURNING j.id, j.status, lost.worker_id, j.attempt, "
		"j.max_attempts, j.error_code, j.error_message";
	char lease[24];
	const char *params[1];
	PGresult *res = NULL;
	struct buf msg = BUF_INIT(4096);
	bool requeued = false;
	struct db_tx tx;
	int rc, i;

	*recovered = 0;
	snprintf(lease, sizeof(lease), "%ld", lease_s);
	params[0] = lease;
	rc = db_tx_begin(&tx, conn, err);
	if (rc < 0)
		goto out;
	rc = db_exec(conn, sql, 1, params, &res, err);
	for (i = 0; rc == 0 && i < PQntuples(res); i++) {
		int64_t id = db_col_i64_or(res, i, 0, 0);
		const char *status = PQgetvalue(res, i, 1);
		const char *code =
			PQgetisnull(res, i, 5) ? NULL : PQgetvalue(res, i, 5);
		const char *why =
			PQgetisnull(res, i, 6) ? NULL : PQgetvalue(res, i, 6);

		buf_reset(&msg);
		buf_addf(&msg,
			 "worker %s stopped heartbeating for over %s s "
			 "(attempt %s of %s): ",
			 PQgetvalue(res, i, 2), lease, PQgetvalue(res, i, 3),
			 PQgetvalue(res, i, 4));
		if (!strcmp(status, "queued")) {
			buf_adds(&msg, "queued again");
			requeued = true;
		} else if (!strcmp(status, "cancelled")) {
			buf_adds(&msg, "cancelled, as requested");
		} else {
			buf_adds(&msg, "failed (worker_lost)");
		}
		rc = log_line(conn, id, msg.ptr, err);
		if (rc == 0)
			rc = status_event(conn, id, status, code, why, err);
		(*recovered)++;
	}
	/* Workers gone for a day are forgotten. */
	if (rc == 0)
		rc = db_exec(conn,
			     "DELETE FROM workers "
			     "WHERE heartbeat_at < now() - interval '1 day'",
			     0, NULL, NULL, err);
	if (rc == 0 && requeued)
		rc = notify(conn, QUEUE_CHANNEL_JOBS, 0, err);
	if (rc == 0)
		rc = db_tx_commit(&tx, err);
out:
	if (rc < 0) {
		db_tx_rollback(&tx);
		*recovered = 0;
	}
	PQclear(res);
	buf_release(&msg);
	return rc;
}

int queue_worker_gone(PGconn *conn, const char *worker_id, struct buf *err)
{
	const char *params[1] = { worker_id };

	return db_exec(conn, "DELETE FROM workers WHERE id = $1", 1, params,
		       NULL, err);
}
