#include "core/compat.h"

#include <pthread.h>

#include "api/api_int.h"
#include "auth/auth.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/str.h"
#include "log/log.h"
#include "platform/plat.h"
#include "queue/queue.h"

/*
 * jobs.c - the /api/v1/jobs resource: submitting a script to run over a
 * table, following it (detail, log, live events) and cancelling it
 * (docs/jobs.md is the user's view). The queue itself, and every change of
 * a job's status, is src/queue/queue.c; this file checks requests and reads.
 *
 * Who sees what, as for scripts: admins and viewers see every job, analysts
 * their own; admins and analysts submit and cancel (an analyst only their
 * own jobs), viewers never write. A job the caller may not see answers 404
 * as one that does not exist. api_owner_filter() is the rule, passed to every
 * query as a parameter that is NULL when the caller sees every owner.
 *
 * Submitting checks everything a worker would otherwise find out late: the
 * script is live and the caller's (or the caller is an admin), the source
 * is a table or view the table explorer shows (same catalog rule as
 * tables.c), the destination a plain identifier. A destination that exists
 * in the output schema is 409 in mode create, and in modes replace and
 * append unless it is a table Tablewright created (published_tables) whose
 * owner is the caller (any for an admin), and not the source itself. A
 * check about something a body names, rather than the URL, is 422 with
 * details {"field": ...}. One user may have TW_MAX_QUEUED_PER_USER jobs
 * queued; one more is 429 (queue_enqueue() counts).
 *
 * Events are job_events rows, streamed as server-sent events by a producer
 * thread of the http module (http_reply_sse()) that polls the table every
 * EVENTS_POLL_MS with a pooled connection of its own, from the seq after
 * Last-Event-ID, until it has sent a final status event. A user holds at
 * most TW_MAX_STREAMS_PER_USER streams at once (429 beyond), and every
 * STREAM_RECHECK_MS a stream checks that its token would still be accepted
 * (not expired, the user neither disabled nor signed out nor changed):
 * otherwise it ends, as a request with that token would be 401.
 */

#define EVENTS_POLL_MS 250
#define EVENTS_BATCH "500"
/* How long a poll waits for a pooled connection before trying later. */
#define EVENTS_ACQUIRE_MS 1000
/* A poll stops adding events past this many bytes; the next goes on. */
#define EVENTS_CALL_BYTES ((size_t)1024 * 1024)
/* Event ids are job_events.seq, an int column. */
#define SEQ_MAX 2147483647L
/* How often a stream checks that its token would still be accepted. */
#define STREAM_RECHECK_MS 5000
/* What Retry-After says when a limit of this file answers 429. */
#define STREAMS_RETRY_AFTER_S 10
#define QUEUED_RETRY_AFTER_S 30

/*
 * The columns job_json() reads, in the order of enum job_col. Kept out of
 * clang-format's hands: it reflows a macro of literals and calls into
 * columns that split a column name across lines.
 */
/* clang-format off */
#define JOB_COLS \
	"j.id, j.user_id, j.script_id, j.script_version, j.source_table, " \
	"j.destination_table, j.mode, j.status, j.error_code, " \
	"j.error_message, " \
	API_UTC("j.queued_at") ", " \
	API_UTC("j.started_at") ", " \
	API_UTC("j.completed_at") ", " \
	"j.rows_in, j.rows_out, j.peak_memory_bytes, j.cpu_seconds, " \
	"j.duration_ms, j.attempt, j.max_attempts, j.logs_truncated, " \
	"j.cancel_requested"
/* clang-format on */

enum job_col {
	JC_ID,
	JC_USER_ID,
	JC_SCRIPT_ID,
	JC_SCRIPT_VERSION,
	JC_SOURCE,
	JC_DESTINATION,
	JC_MODE,
	JC_STATUS,
	JC_ERROR_CODE,
	JC_ERROR_MESSAGE,
	JC_QUEUED_AT,
	JC_STARTED_AT,
	JC_COMPLETED_AT,
	JC_ROWS_IN,
	JC_ROWS_OUT,
	JC_PEAK_MEMORY,
	JC_CPU_SECONDS,
	JC_DURATION_MS,
	JC_ATTEMPT,
	JC_MAX_ATTEMPTS,
	JC_LOGS_TRUNCATED,
	JC_CANCEL_REQUESTED,
};

/* A job the caller may see: $1 its id, $2 the owner filter. */
#define VISIBLE " j.id = $1 AND ($2::bigint IS NULL OR j.user_id = $2)"

static const char *const create_fields[] = { "script_id", "source_table",
					     "destination_table", "mode",
					     NULL };

static const char *const statuses[] = { "queued", "running",   "succeeded",
					"failed", "cancelled", NULL };
static const char *const modes[] = { "create", "replace", "append", NULL };

static bool in_list(const char *const *list, const char *s)
{
	for (; *list; list++) {
		if (!strcmp(*list, s))
			return true;
	}
	return false;
}

/*
 * write_filter() is api_owner_filter() for changes: an admin acts on every job
 * (NULL), anyone else on their own.
 */
static const char *write_filter(struct http_request *req)
{
	const struct auth_user *me = req->auth;

	if (auth_role_bit(me->role) == AUTH_ROLE_ADMIN)
		return NULL;
	return arena_printf(req->arena, "%" PRId64, me->id);
}

/* The job in row of a result with JOB_COLS. A new reference. */
static json_t *job_json(const PGresult *res, int row)
{
	static const struct {
		const char *name;
		enum job_col col;
		char type; /* i integer, r real, s string, b boolean */
	} fields[] = {
		{ "id", JC_ID, 'i' },
		{ "user_id", JC_USER_ID, 'i' },
		{ "script_id", JC_SCRIPT_ID, 'i' },
		{ "script_version", JC_SCRIPT_VERSION, 'i' },
		{ "source_table", JC_SOURCE, 's' },
		{ "destination_table", JC_DESTINATION, 's' },
		{ "mode", JC_MODE, 's' },
		{ "status", JC_STATUS, 's' },
		{ "error_code", JC_ERROR_CODE, 's' },
		{ "error_message", JC_ERROR_MESSAGE, 's' },
		{ "queued_at", JC_QUEUED_AT, 's' },
		{ "started_at", JC_STARTED_AT, 's' },
		{ "completed_at", JC_COMPLETED_AT, 's' },
		{ "rows_in", JC_ROWS_IN, 'i' },
		{ "rows_out", JC_ROWS_OUT, 'i' },
		{ "peak_memory_bytes", JC_PEAK_MEMORY, 'i' },
		{ "cpu_seconds", JC_CPU_SECONDS, 'r' },
		{ "duration_ms", JC_DURATION_MS, 'i' },
		{ "attempt", JC_ATTEMPT, 'i' },
		{ "max_attempts", JC_MAX_ATTEMPTS, 'i' },
		{ "logs_truncated", JC_LOGS_TRUNCATED, 'b' },
		{ "cancel_requested", JC_CANCEL_REQUESTED, 'b' },
	};
	json_t *o = json_object();
	json_t *v;
	size_t i;

	for (i = 0; i < TW_ARRAY_SIZE(fields); i++) {
		switch (fields[i].type) {
		case 'i':
			v = api_col_int(res, row, (int)fields[i].col);
			break;
		case 'r':
			v = api_col_real(res, row, (int)fields[i].col);
			break;
		case 'b':
			v = api_col_bool(res, row, (int)fields[i].col);
			break;
		default:
			v = api_col_str(res, row, (int)fields[i].col);
			break;
		}
		json_object_set_new(o, fields[i].name, v);
	}
	return o;
}

/* --- POST /api/v1/jobs ---------------------------------------------------- */

/* A live script the caller may run: $1 its id, $2 the owner filter. */
static const char script_sql[] = "SELECT s.current_version FROM scripts s"
				 " WHERE s.id = $1 AND s.deleted_at IS NULL"
				 " AND ($2::bigint IS NULL OR s.user_id = $2)";

/* What a submission says, checked. */
struct job_request {
	int64_t script_id;
	const char *source; /* "schema.name" */
	const char *source_schema;
	const char *source_name;
	const char *destination;
	const char *mode;
};

/*
 * parse_create() reads and checks the body of a submission without the
 * database, replying 400 or 422 at the first problem.
 */
static int parse_create(struct http_request *req, struct job_request *jr)
{
	json_t *obj = NULL, *sid;
	int rc;

	memset(jr, 0, sizeof(*jr));
	rc = http_body_json(req, &obj);
	if (rc == 0)
		rc = http_json_check_fields(req, obj, create_fields);
	if (rc < 0)
		goto out;
	sid = json_object_get(obj, "script_id");
	if (!sid) {
		rc = api_reply_field(req, "script_id", "script_id is required");
		goto out;
	}
	if (!json_is_integer(sid) || json_integer_value(sid) < 1) {
		rc = api_reply_field(req, "script_id",
				     "script_id must be a positive integer");
		goto out;
	}
	jr->script_id = (int64_t)json_integer_value(sid);
	rc = http_json_string(req, obj, "source_table", true, &jr->source,
			      NULL);
	if (rc == 0)
		rc = http_json_string(req, obj, "destination_table", true,
				      &jr->destination, NULL);
	if (rc == 0)
		rc = http_json_string(req, obj, "mode", false, &jr->mode, NULL);
	if (rc < 0)
		goto out;
	if (!jr->mode)
		jr->mode = "create";
	if (!in_list(modes, jr->mode)) {
		rc = api_reply_field(req, "mode",
				     "mode must be create, replace or append");
		goto out;
	}
	rc = api_source_table(req, jr->source, &jr->source_schema,
			      &jr->source_name);
	if (rc < 0)
		goto out;
	if (!db_catalog_name_valid(jr->destination))
		rc = api_reply_field(
			req, "destination_table",
			"destination_table must match " DB_CATALOG_NAME_RULE);
out:
	return rc;
}

/*
 * check_destination() replies to what db_catalog_dest_verdict() refuses
 * for an existing destination (the published_tables rule): mode create
 * never writes over it; replace and append only write to a table that
 * Tablewright created, that the caller's jobs made (an admin's, any), and
 * that is not the job's own source. Each refusal is 409 on
 * destination_table. The publisher checks again when it writes: a table
 * created or dropped in between is caught there.
 */
static int check_destination(struct http_request *req,
			     const struct job_request *jr,
			     const struct db_catalog_dest *dest)
{
	const struct cfg *cfg = ((struct api_app *)req->app)->cfg;
	const struct auth_user *me = req->auth;
	const char *schema = cfg->output_schema;
	bool is_source = !strcmp(jr->source_schema, schema) &&
			 !strcmp(jr->source_name, jr->destination);
	bool admin = auth_role_bit(me->role) == AUTH_ROLE_ADMIN;
	const char *verb = !strcmp(jr->mode, "replace") ? "replace"
							: "append to";
	int rc = 0;

	switch (db_catalog_dest_verdict(dest, jr->mode, is_source, me->id,
					admin)) {
	case DB_DEST_OK:
		break;
	case DB_DEST_EXISTS:
		rc = api_reply_conflict(req, "destination_table",
					"%s.%s already exists; use another "
					"name%s",
					schema, jr->destination,
					dest->published ? ", or mode replace "
							  "or append"
							: "");
		break;
	case DB_DEST_IS_SOURCE:
		rc = api_reply_conflict(req, "destination_table",
					"%s.%s is the job's source; a job "
					"may not %s its own source",
					schema, jr->destination, verb);
		break;
	case DB_DEST_NOT_OURS:
		rc = api_reply_conflict(req, "destination_table",
					"%s.%s is not a table Tablewright "
					"created; mode %s only writes to "
					"tables that jobs created",
					schema, jr->destination, jr->mode);
		break;
	case DB_DEST_NOT_OWNER:
		rc = api_reply_conflict(req, "destination_table",
					"%s.%s was created by another user's "
					"job; only its owner (or an admin) "
					"may %s it",
					schema, jr->destination, verb);
		break;
	}
	return rc;
}

/*
 * check_targets() checks what the submission names in the database: the
 * script (its current version into *version), the source (a relation the
 * table explorer shows), and, when the destination exists, that the mode
 * may write to it (check_destination()). Replies at the first problem.
 */
static int check_targets(struct http_request *req, PGconn *conn,
			 const struct job_request *jr, int *version)
{
	const struct cfg *cfg = ((struct api_app *)req->app)->cfg;
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct db_catalog_dest dest;
	const char *params[2];
	PGresult *res = NULL;
	bool visible = false;
	int rc;

	params[0] = arena_printf(req->arena, "%" PRId64, jr->script_id);
	params[1] = write_filter(req);
	rc = api_exec(req, conn, script_sql, 2, params, &res, &err);
	if (rc < 0)
		goto fail;
	if (PQntuples(res) == 0) {
		rc = api_reply_field(req, "script_id", "no such script");
		goto out;
	}
	*version = (int)db_col_i64_or(res, 0, 0, 0);

	rc = db_catalog_source_visible(conn, api_data_schemas_param(req),
				       cfg->app_schema, jr->source_schema,
				       jr->source_name, &visible, &err);
	if (rc < 0)
		goto fail;
	if (!visible) {
		rc = api_reply_field(req, "source_table",
				     "no such table in the data schemas: %s",
				     jr->source);
		goto out;
	}

	rc = db_catalog_dest_lookup(conn, cfg->output_schema, jr->destination,
				    &dest, &err);
	if (rc < 0)
		goto fail;
	rc = check_destination(req, jr, &dest);
	goto out;
fail:
	http_reply_error(req, rc, "could not check the job: %s", err.ptr);
out:
	buf_release(&err);
	return rc;
}

int api_jobs_create(struct http_request *req)
{
	const struct cfg *cfg = ((struct api_app *)req->app)->cfg;
	const struct auth_user *me = req->auth;
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct queue_new_job job;
	struct job_request jr;
	PGconn *conn = NULL;
	int64_t id = 0;
	int version = 0;
	int rc;

	rc = api_may_write(req);
	if (rc == 0)
		rc = parse_create(req, &jr);
	if (rc < 0)
		goto out;
	rc = api_db_acquire(req, &conn);
	if (rc < 0)
		goto out;
	rc = check_targets(req, conn, &jr, &version);
	if (rc < 0)
		goto out;
	memset(&job, 0, sizeof(job));
	job.user_id = me->id;
	job.script_id = jr.script_id;
	job.script_version = version;
	job.source_table = jr.source;
	job.destination_table = jr.destination;
	job.mode = jr.mode;
	job.max_attempts = (int)cfg->job_max_attempts;
	job.max_queued = cfg->max_queued_per_user;
	rc = queue_enqueue(conn, &job, &id, &err);
	if (rc == TW_ETOOMANY) {
		http_add_header(req, "Retry-After",
				arena_printf(req->arena, "%d",
					     QUEUED_RETRY_AFTER_S));
		http_reply_error(req, rc,
				 "you have %ld jobs queued, the most one user "
				 "may have; wait until some have started, or "
				 "cancel some",
				 cfg->max_queued_per_user);
		goto out;
	}
	if (rc < 0) {
		http_reply_error(req, rc, "could not queue the job: %s",
				 err.ptr);
		goto out;
	}
	log_info(LOG_APP,
		 "job %" PRId64 " queued by user %" PRId64 ": script %" PRId64
		 " version %d, %s into %s.%s (%s)",
		 id, me->id, jr.script_id, version, jr.source,
		 cfg->output_schema, jr.destination, jr.mode);
	http_add_header(req, "Location",
			arena_printf(req->arena, "/api/v1/jobs/%" PRId64, id));
	rc = http_reply_json(req, 202,
			     json_pack("{s:I, s:s}", "id", (json_int_t)id,
				       "status", "queued"));
out:
	api_db_release(req, conn, rc < 0);
	buf_release(&err);
	return rc;
}

/* --- GET /api/v1/jobs ----------------------------------------------------- */

/*
 * A page, newest first: below the cursor ($1), within the caller's view
 * ($2), of one status ($3), one row more than asked for ($4) so the handler
 * knows whether another page follows.
 */
static const char list_sql[] = "SELECT " JOB_COLS " FROM jobs j"
			       " WHERE ($1::bigint IS NULL OR j.id < $1)"
			       " AND ($2::bigint IS NULL OR j.user_id = $2)"
			       " AND ($3::text IS NULL OR j.status = $3)"
			       " ORDER BY j.id DESC LIMIT $4::int + 1";

int api_jobs_list(struct http_request *req)
{
	const char *status = http_query(req, "status");
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	const char *params[4];
	PGconn *conn = NULL;
	PGresult *res = NULL;
	json_t *items, *next;
	long limit;
	int i, n;
	int rc;

	rc = api_page_args(req, INT64_MAX, &limit, &params[0]);
	if (rc < 0)
		goto out;
	if (status && !in_list(statuses, status)) {
		rc = http_reply_error(req, TW_EVALIDATION,
				      "status must be queued, running, "
				      "succeeded, failed or cancelled");
		goto out;
	}
	params[1] = api_owner_filter(req);
	params[2] = status;
	params[3] = arena_printf(req->arena, "%ld", limit);
	rc = api_db_acquire(req, &conn);
	if (rc < 0)
		goto out;
	rc = api_exec(req, conn, list_sql, 4, params, &res, &err);
	if (rc < 0) {
		http_reply_error(req, rc, "could not list jobs: %s", err.ptr);
		goto out;
	}
	n = PQntuples(res);
	items = json_array();
	for (i = 0; i < n && i < limit; i++)
		json_array_append_new(items, job_json(res, i));
	/* The cursor is the last id of this page, as an opaque string. */
	next = n > limit ? json_string(PQgetvalue(res, (int)limit - 1, JC_ID))
			 : json_null();
	rc = http_reply_json(req, 200,
			     json_pack("{s:o, s:o}", "items", items,
				       "next_cursor", next));
out:
	api_db_release(req, conn, rc < 0);
	buf_release(&err);
	return rc;
}

/* --- GET /api/v1/jobs/{id} ------------------------------------------------ */

static const char get_sql[] = "SELECT " JOB_COLS " FROM jobs j WHERE" VISIBLE;

int api_jobs_get(struct http_request *req)
{
	PGconn *conn = NULL;
	PGresult *res = NULL;
	int rc;

	rc = api_load_visible(req, "job", get_sql, api_owner_filter(req), &conn,
			      &res);
	if (rc == 0)
		rc = http_reply_json(req, 200, job_json(res, 0));
	api_db_release(req, conn, rc < 0);
	return rc;
}

/* --- GET /api/v1/jobs/{id}/logs ------------------------------------------- */

static const char logs_sql[] = "SELECT j.logs FROM jobs j WHERE" VISIBLE;

int api_jobs_logs(struct http_request *req)
{
	PGconn *conn = NULL;
	PGresult *res = NULL;
	int rc;

	rc = api_load_visible(req, "job", logs_sql, api_owner_filter(req),
			      &conn, &res);
	if (rc == 0)
		rc = http_reply_data(req, 200, "text/plain; charset=utf-8",
				     PQgetvalue(res, 0, 0),
				     (size_t)PQgetlength(res, 0, 0));
	api_db_release(req, conn, rc < 0);
	return rc;
}

/* --- GET /api/v1/jobs/{id}/events ----------------------------------------- */

/* A stream's state; heap memory owned by the stream (sse.c frees it). */
struct job_stream {
	struct db_pool *db;
	char id[24];
	long last_seq;	  /* the last event sent */
	bool unavailable; /* the last poll could not reach the database */
	/* Whose stream it is (counted in stream_counts), and their token: */
	int64_t user_id;
	char user[24];
	int64_t token_version;
	int64_t token_exp;     /* Unix seconds */
	int64_t next_check_ms; /* plat_monotonic_ms() of the next recheck */
};

/*
 * Open streams per user, for TW_MAX_STREAMS_PER_USER: a small array, since
 * no more users can hold a stream than the server has connections. One
 * per process, as there is one server per process.
 */
struct stream_count {
	int64_t user_id;
	long n;
};

static pthread_mutex_t streams_mu = PTHREAD_MUTEX_INITIALIZER;
static struct stream_count *stream_counts;
static size_t n_stream_counts, stream_counts_cap;

/*
 * streams_take() counts one more stream for user_id, unless the user holds
 * max already: false then, and nothing is counted.
 */
static bool streams_take(int64_t user_id, long max)
{
	struct stream_count *c = NULL;
	bool taken = false;
	size_t i;

	pthread_mutex_lock(&streams_mu);
	for (i = 0; i < n_stream_counts && !c; i++) {
		if (stream_counts[i].user_id == user_id)
			c = &stream_counts[i];
	}
	if (c && c->n >= max)
		goto out;
	if (!c) {
		if (n_stream_counts == stream_counts_cap) {
			stream_counts_cap =
				stream_counts_cap ? 2 * stream_counts_cap : 16;
			stream_counts = xrealloc(
				stream_counts,
				stream_counts_cap * sizeof(*stream_counts));
		}
		c = &stream_counts[n_stream_counts++];
		c->user_id = user_id;
		c->n = 0;
	}
	c->n++;
	taken = true;
out:
	pthread_mutex_unlock(&streams_mu);
	return taken;
}

/* streams_give() uncounts a stream of user_id that streams_take() took. */
static void streams_give(int64_t user_id)
{
	size_t i;

	pthread_mutex_lock(&streams_mu);
	for (i = 0; i < n_stream_counts; i++) {
		if (stream_counts[i].user_id != user_id)
			continue;
		if (--stream_counts[i].n == 0)
			stream_counts[i] = stream_counts[--n_stream_counts];
		break;
	}
	pthread_mutex_unlock(&streams_mu);
}

static const char events_sql[] = "SELECT seq, kind, data FROM job_events"
				 " WHERE job_id = $1 AND seq > $2"
				 " ORDER BY seq LIMIT " EVENTS_BATCH;

static const char exists_sql[] = "SELECT 1 FROM jobs WHERE id = $1";

/* Whether the stream's user would still be let in with its token. */
static const char user_sql[] = "SELECT 1 FROM users WHERE id = $1"
			       " AND NOT disabled AND token_version = $2";

/*
 * add_event() appends one event in the SSE format to out, whole or not at
 * all (TW_ETOOBIG when out has no room for it). data is JSON text, one line
 * as queue.c writes it; should it hold line breaks, each line becomes a
 * data line of its own, so the event cannot be split or forged.
 */
static int add_event(struct buf *out, const char *seq, const char *kind,
		     const char *data)
{
	struct buf ev = BUF_INIT(out->cap);
	const char *p = data;
	size_t n;
	int rc;

	buf_addf(&ev, "id: %s\nevent: %s\n", seq, kind);
	for (;;) {
		n = strcspn(p, "\r\n");
		buf_adds(&ev, "data: ");
		buf_add(&ev, p, n);
		buf_addch(&ev, '\n');
		p += n;
		if (!*p)
			break;
		p += (p[0] == '\r' && p[1] == '\n') ? 2 : 1;
	}
	rc = buf_addch(&ev, '\n');
	if (rc == 0)
		rc = buf_add(out, ev.ptr, ev.len);
	buf_release(&ev);
	return rc;
}

/* Whether a status event's data names a final status. */
static bool is_final_status(const char *data)
{
	json_t *o = json_loads(data, 0, NULL);
	bool final;

	final = queue_status_is_final(
		json_string_value(json_object_get(o, "status")));
	json_decref(o);
	return final;
}

/*
 * still_allowed() is the recheck of a stream's token, at most every
 * STREAM_RECHECK_MS: expired (no query needed), or its user disabled, gone
 * or with another token version (signed out, password or role changed)
 * means the stream ends, with a comment line saying why. Returns 0 to go
 * on, 1 to end, or a database error (the stream goes on; the next poll
 * checks again).
 */
static int still_allowed(struct job_stream *js, PGconn *conn, struct buf *out,
			 struct buf *err)
{
	const char *params[2];
	char tv[24];
	PGresult *res = NULL;
	int64_t now_ms = plat_monotonic_ms(), now;
	long nsec;
	int rc = 0;

	if (now_ms < js->next_check_ms)
		goto out;
	plat_realtime(&now, &nsec);
	if (now >= js->token_exp) {
		buf_adds(out, ": the token has expired\n\n");
		rc = 1;
		goto out;
	}
	snprintf(tv, sizeof(tv), "%" PRId64, js->token_version);
	params[0] = js->user;
	params[1] = tv;
	rc = db_exec(conn, user_sql, 2, params, &res, err);
	if (rc < 0)
		goto out;
	js->next_check_ms = now_ms + STREAM_RECHECK_MS;
	if (PQntuples(res) == 0) {
		log_info(LOG_APP,
			 "events of job %s: user %" PRId64 " was disabled or "
			 "signed out; ending the stream",
			 js->id, js->user_id);
		buf_adds(out, ": the token is no longer valid\n\n");
		rc = 1;
	}
out:
	PQclear(res);
	return rc;
}

/*
 * The event source (on the stream's own thread): the events after
 * last_seq, at most EVENTS_BATCH and about EVENTS_CALL_BYTES per call. It
 * ends after a final status event, when the job is gone, or when the
 * caller's token would no longer be accepted (still_allowed()); an
 * unreachable database is tried again at the next poll.
 */
static enum http_sse_next job_events_poll(void *arg, struct buf *out)
{
	struct job_stream *js = arg;
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	enum http_sse_next next = HTTP_SSE_MORE;
	const char *params[2];
	char after[24];
	PGconn *conn = NULL;
	PGresult *res = NULL;
	int i, n;
	int rc;

	rc = db_acquire(js->db, EVENTS_ACQUIRE_MS, &conn, &err);
	if (rc < 0)
		goto out;
	rc = still_allowed(js, conn, out, &err);
	if (rc < 0)
		goto out;
	if (rc == 1) {
		rc = 0;
		next = HTTP_SSE_END;
		goto out;
	}
	snprintf(after, sizeof(after), "%ld", js->last_seq);
	params[0] = js->id;
	params[1] = after;
	rc = db_exec(conn, events_sql, 2, params, &res, &err);
	if (rc < 0)
		goto out;
	n = PQntuples(res);
	for (i = 0; i < n && out->len < EVENTS_CALL_BYTES; i++) {
		const char *kind = PQgetvalue(res, i, 1);
		const char *data = PQgetvalue(res, i, 2);

		/*
		 * No room: the next poll goes on from here; an event that
		 * does not fit even alone is skipped rather than stalling.
		 */
		if (add_event(out, PQgetvalue(res, i, 0), kind, data) < 0) {
			if (out->len)
				goto out;
			log_warn(LOG_APP,
				 "events of job %s: event %s is too big to "
				 "send; skipped",
				 js->id, PQgetvalue(res, i, 0));
		}
		js->last_seq = (long)db_col_i64_or(res, i, 0, 0);
		if (!strcmp(kind, QUEUE_EVENT_STATUS) &&
		    is_final_status(data)) {
			next = HTTP_SSE_END;
			goto out;
		}
	}
	if (n > 0)
		goto out;
	PQclear(res);
	res = NULL;
	rc = db_exec(conn, exists_sql, 1, params, &res, &err);
	if (rc == 0 && PQntuples(res) == 0)
		next = HTTP_SSE_END;
out:
	if (rc < 0 && !js->unavailable)
		log_warn(LOG_APP, "events of job %s: %s (trying again)", js->id,
			 err.ptr);
	js->unavailable = rc < 0;
	PQclear(res);
	if (conn)
		db_release(js->db, conn,
			   rc < 0 && PQstatus(conn) != CONNECTION_OK);
	buf_release(&err);
	return next;
}

static void job_stream_free(void *arg)
{
	struct job_stream *js = arg;

	streams_give(js->user_id);
	free(js);
}

/*
 * token_exp() reads the expiry of the request's bearer token, which the
 * auth hook has verified already (so this decode succeeds).
 */
static int token_exp(struct http_request *req, int64_t *exp)
{
	const struct cfg *cfg = ((struct api_app *)req->app)->cfg;
	const char *header = http_header(req, "Authorization");
	const char *key = cfg->secret_key ? cfg->secret_key : "";
	const char *token = header ? strchr(header, ' ') : NULL;
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct auth_claims claims;
	int64_t now;
	long nsec;
	int rc = TW_EUNAUTH;

	if (!token)
		goto out;
	plat_realtime(&now, &nsec);
	memset(&claims, 0, sizeof(claims));
	rc = auth_jwt_decode(token + 1, key, strlen(key), now, &claims, &err);
	if (rc == 0)
		*exp = claims.exp;
out:
	if (rc < 0)
		http_reply_error(req, TW_EUNAUTH, "invalid or expired token");
	buf_release(&err);
	return rc;
}

/*
 * start_seq() reads where the client wants to resume: the Last-Event-ID
 * header (what a browser sends when it reconnects), else ?last_event_id=,
 * else 0 (from the first event). Replies 422 to anything but an integer
 * from 0 to SEQ_MAX.
 */
static int start_seq(struct http_request *req, long *seq)
{
	const char *h = http_header(req, "Last-Event-ID");
	const char *q = http_query(req, "last_event_id");
	int rc = 0;

	*seq = 0;
	if (h && *h) {
		if (str_to_long(h, 0, SEQ_MAX, seq) < 0)
			rc = http_reply_error(req, TW_EVALIDATION,
					      "Last-Event-ID must be an "
					      "integer of at least 0");
	} else if (q) {
		if (str_to_long(q, 0, SEQ_MAX, seq) < 0)
			rc = api_reply_field(req, "last_event_id",
					     "last_event_id must be an integer "
					     "of at least 0");
	}
	return rc;
}

static const char visible_sql[] = "SELECT 1 FROM jobs j WHERE" VISIBLE;

int api_jobs_events(struct http_request *req)
{
	struct api_app *app = req->app;
	const struct auth_user *me = req->auth;
	struct job_stream *js;
	PGconn *conn = NULL;
	PGresult *res = NULL;
	const char *id = NULL;
	int64_t exp = 0;
	long seq = 0;
	int rc;

	rc = api_path_id(req, "id", "job", INT64_MAX, &id, NULL);
	if (rc == 0)
		rc = start_seq(req, &seq);
	if (rc == 0)
		rc = token_exp(req, &exp);
	if (rc == 0)
		rc = api_load_visible(req, "job", visible_sql,
				      api_owner_filter(req), &conn, &res);
	if (rc < 0)
		goto out;
	if (!streams_take(me->id, app->cfg->max_streams_per_user)) {
		http_add_header(req, "Retry-After",
				arena_printf(req->arena, "%d",
					     STREAMS_RETRY_AFTER_S));
		rc = http_reply_error(req, TW_ETOOMANY,
				      "you have %ld event streams open, the "
				      "most one user may have; close one "
				      "first",
				      app->cfg->max_streams_per_user);
		goto out;
	}
	/*
	 * The request's memory ends with the handler; the stream's does not.
	 * From here job_stream_free() gives the stream back, also when
	 * http_reply_sse() fails.
	 */
	js = xcalloc(1, sizeof(*js));
	js->db = app->db;
	snprintf(js->id, sizeof(js->id), "%s", id);
	js->last_seq = seq;
	js->user_id = me->id;
	snprintf(js->user, sizeof(js->user), "%" PRId64, me->id);
	js->token_version = me->token_version;
	js->token_exp = exp;
	js->next_check_ms = plat_monotonic_ms() + STREAM_RECHECK_MS;
	rc = http_reply_sse(req, job_events_poll, js, job_stream_free,
			    EVENTS_POLL_MS);
out:
	api_db_release(req, conn, rc < 0);
	return rc;
}

/* --- POST /api/v1/jobs/{id}/cancel ---------------------------------------- */

int api_jobs_cancel(struct http_request *req)
{
	const struct auth_user *me = req->auth;
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	PGconn *conn = NULL;
	PGresult *res = NULL;
	const char *id = NULL;
	bool was_running = false;
	int64_t job_id = 0;
	int rc;

	rc = api_may_write(req);
	if (rc == 0)
		rc = api_path_id(req, "id", "job", INT64_MAX, &id, &job_id);
	if (rc < 0)
		goto out;
	rc = api_load_visible(req, "job", visible_sql, write_filter(req), &conn,
			      &res);
	if (rc < 0)
		goto out;
	rc = queue_cancel(conn, job_id, &was_running, &err);
	if (rc == TW_ENOTFOUND) {
		http_reply_error(req, rc, "no such job");
		goto out;
	}
	if (rc == TW_ECONFLICT) {
		http_reply_error(req, rc, "the job has already finished");
		goto out;
	}
	if (rc < 0) {
		http_reply_error(req, rc, "could not cancel the job: %s",
				 err.ptr);
		goto out;
	}
	log_info(LOG_APP, "job %s %s by user %" PRId64, id,
		 was_running ? "to be cancelled" : "cancelled", me->id);
	rc = http_reply_json(req, 202,
			     json_pack("{s:I, s:s, s:b}", "id",
				       (json_int_t)job_id, "status",
				       was_running ? "running" : "cancelled",
				       "cancel_requested", 1));
out:
	api_db_release(req, conn, rc < 0);
	buf_release(&err);
	return rc;
}
