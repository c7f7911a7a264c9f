#include "core/compat.h"

#include "api/api_int.h"
#include "auth/auth.h"
#include "core/colbatch.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/str.h"
#include "db/copy.h"
#include "log/log.h"
#include "platform/plat.h"
#include "sandbox/frame.h"
#include "sandbox/sandbox.h"

/*
 * preview.c - POST /api/v1/preview and POST /api/v1/scripts/validate: the
 * two routes that run a user's code while the user waits. Neither runs it
 * in the server's process: each takes a sandbox runner (runner_pool.c: a
 * preview one from the pool the server keeps started, a light one for a
 * check) and talks to it in the runner protocol
 * (docs/internals/protocol.md, src/sandbox/frame.h).
 *
 * Preview: the source is checked as POST /api/v1/jobs checks it (a data
 * schema, a relation the table explorer shows: 422 on source_table
 * otherwise), and a sample of at most `limit` rows is read in a READ ONLY
 * transaction with binary COPY, decoded into one column batch
 * (src/db/copy.h); the runner gets JOB {task: "preview"}, answers READY,
 * gets that one BATCH and END, and sends SCHEMA, PREVIEW and STATUS, with
 * LOG frames on the way. Nothing is written anywhere. Validation sends JOB
 * {task: "validate"} and reads STATUS: the runner compiles without running.
 *
 * Each conversation has a deadline (TW_PREVIEW_TIMEOUT_S for a preview,
 * API_VALIDATE_MS for a check) past which the runner is killed and the
 * reply is 422 timeout; the supervisor's memory and CPU limits are the
 * job's. docs/internals/api-preview.md has the design and the figures.
 */

#define PREVIEW_LIMIT_DEFAULT 200
#define PREVIEW_LIMIT_MAX 1000
/* The code a request may carry: the same limit as a script's. */
#define CODE_MAX ((size_t)256 * 1024)
/* What a reply carries of the script's prints and the runner's stderr. */
#define LOGS_MAX ((size_t)64 * 1024)
/* How often the runner's CPU and memory are sampled (the job's rate). */
#define SAMPLE_MS 250
/* Random samples of tables estimated above this many rows use TABLESAMPLE. */
#define SAMPLE_SYSTEM_MIN_ROWS 50000.0
/* Pages a random page sample reads per row wanted, and at least. */
#define SAMPLE_PAGES_PER_ROW 4.0
#define SAMPLE_PAGES_MIN 64.0
/* Rows per 8 KiB page assumed for a table never analysed. */
#define ROWS_PER_PAGE_GUESS 60.0

static const char *const preview_fields[] = { "code_text",    "script_id",
					      "source_table", "limit",
					      "sample",	      NULL };
static const char *const validate_fields[] = { "code_text", NULL };

/* A read-only transaction: a preview writes nothing, whatever goes wrong. */
static const char begin_sql[] =
	"BEGIN READ ONLY; SET LOCAL statement_timeout = '15s'";

static const char script_sql[] = "SELECT s.code_text FROM scripts s"
				 " WHERE s.id = $1 AND s.deleted_at IS NULL"
				 " AND ($2::bigint IS NULL OR s.user_id = $2)";

static const char relation_sql[] =
	"SELECT c.relkind, c.reltuples::float8, pg_relation_size(c.oid)"
	" FROM pg_catalog.pg_class c"
	" JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
	" WHERE n.nspname = $1 AND c.relname = $2";

/* --- the conversation with a runner --------------------------------------- */

/* One runner, while a request talks to it. */
struct talk {
	struct sbx_child *child;
	struct buf in;	   /* stdout not yet decoded */
	struct buf errbuf; /* one read of stderr */
	struct buf logs;   /* LOG frames and stderr, cleaned, capped */
	bool logs_cut;	   /* LOGS_MAX was reached */
	bool eof_out, eof_err;
	int64_t deadline; /* monotonic ms */
	int64_t next_sample;
	enum sbx_outcome ended; /* SBX_RUNNING until a limit or its end */
	struct sbx_sample last;
	int64_t started, ready, done; /* for the log: taken, READY, STATUS */
};

static void talk_init(struct talk *t, struct sbx_child *c, int64_t ms)
{
	memset(t, 0, sizeof(*t));
	t->child = c;
	buf_init(&t->in, FRAME_HEADER_BYTES + FRAME_MAX_CONTROL);
	buf_init(&t->errbuf, LOGS_MAX);
	buf_init(&t->logs, LOGS_MAX + 256);
	t->started = plat_monotonic_ms();
	t->deadline = t->started + ms;
	t->next_sample = plat_monotonic_ms() + SAMPLE_MS;
	t->ended = SBX_RUNNING;
}

/* Kills the runner (if it runs), removes its directory, frees the rest. */
static void talk_release(struct talk *t)
{
	sbx_child_free(t->child);
	t->child = NULL;
	buf_release(&t->in);
	buf_release(&t->errbuf);
	buf_release(&t->logs);
}

/* Adds text the runner logged, cleaned of terminal controls, capped. */
static void add_logs(struct talk *t, const char *text, size_t len)
{
	struct buf clean = BUF_INIT(4 * LOGS_MAX + 16);
	size_t room;

	if (t->logs_cut || len == 0)
		return;
	if (len > LOGS_MAX)
		len = LOGS_MAX;
	str_text_clean(&clean, text, len);
	room = LOGS_MAX - t->logs.len;
	if (clean.len > room) {
		/* Whole lines only, then one line that says so. */
		while (room > 0 && clean.ptr[room - 1] != '\n')
			room--;
		buf_add(&t->logs, clean.ptr, room);
		buf_addf(&t->logs,
			 "[log truncated: the preview keeps %zu "
			 "KiB of output]\n",
			 LOGS_MAX / 1024);
		t->logs_cut = true;
	} else {
		buf_add(&t->logs, clean.ptr, clean.len);
	}
	buf_release(&clean);
}

static int talk_send(struct talk *t, enum frame_type type, const void *data,
		     size_t len, struct buf *err)
{
	struct buf frame = BUF_INIT(FRAME_HEADER_BYTES + FRAME_MAX_CONTROL);
	int rc;

	rc = frame_encode(&frame, type, data, len, err);
	if (rc == 0)
		rc = sbx_write(t->child, frame.ptr, frame.len, err);
	buf_release(&frame);
	return rc;
}

static int talk_send_json(struct talk *t, enum frame_type type, json_t *o,
			  struct buf *err)
{
	char *text = json_dumps(o, JSON_COMPACT);
	int rc;

	if (!text) {
		buf_errf(err, "could not encode a frame's JSON");
		return TW_EINTERNAL;
	}
	rc = talk_send(t, type, text, strlen(text), err);
	free(text);
	return rc;
}

/*
 * Samples the runner when due: a limit passed kills it (the supervisor
 * says which) and an exit is noticed. Past the deadline the runner is
 * killed here as a timeout.
 */
static void talk_watch(struct talk *t)
{
	int64_t now = plat_monotonic_ms();

	if (t->ended != SBX_RUNNING)
		return;
	if (now >= t->deadline) {
		sbx_kill(t->child, SBX_KILLED_TIMEOUT);
		t->ended = SBX_KILLED_TIMEOUT;
		return;
	}
	if (now >= t->next_sample) {
		t->ended = sbx_poll(t->child, &t->last);
		t->next_sample = now + SAMPLE_MS;
	}
}

/* Reads what stderr has now into the logs. */
static void talk_stderr(struct talk *t)
{
	if (t->eof_err)
		return;
	buf_reset(&t->errbuf);
	if (sbx_read(t->child, 2, &t->errbuf, 0, &t->eof_err, NULL) < 0)
		t->eof_err = true;
	add_logs(t, t->errbuf.ptr, t->errbuf.len);
}

/*
 * talk_next() returns the next frame that is not a LOG (LOG text goes to
 * the logs) with its JSON payload in *obj (a new reference). TW_ETIMEOUT
 * when the runner was stopped by the deadline or a limit (t->ended says
 * which), TW_EIO when it ended or closed its output without a frame,
 * TW_EINVAL when it broke the protocol; err says what happened.
 */
static int talk_next(struct talk *t, enum frame_type *type, json_t **obj,
		     struct buf *err)
{
	struct frame f;
	json_error_t jerr;
	size_t used = 0;
	int rc;

	*obj = NULL;
	for (;;) {
		/* An output batch has no place in these conversations. */
		if (t->in.len >= FRAME_HEADER_BYTES &&
		    t->in.ptr[4] == FRAME_BATCH) {
			buf_errf(err, "the runner sent a data batch");
			return TW_EINVAL;
		}
		rc = frame_decode((const uint8_t *)t->in.ptr, t->in.len, &f,
				  &used, err);
		if (rc < 0)
			return TW_EINVAL;
		if (rc == 1) {
			if (f.type == FRAME_LOG) {
				add_logs(t, (const char *)f.payload, f.len);
			} else {
				*type = f.type;
				*obj = json_loadb((const char *)f.payload,
						  f.len, JSON_REJECT_DUPLICATES,
						  &jerr);
				if (!*obj || !json_is_object(*obj)) {
					json_decref(*obj);
					*obj = NULL;
					buf_errf(err,
						 "a '%c' frame is not a JSON "
						 "object",
						 (char)f.type);
					return TW_EINVAL;
				}
			}
			memmove(t->in.ptr, t->in.ptr + used, t->in.len - used);
			buf_setlen(&t->in, t->in.len - used);
			if (*obj)
				return 0;
			continue;
		}
		talk_watch(t);
		if (t->ended == SBX_KILLED_TIMEOUT ||
		    t->ended == SBX_KILLED_MEMORY ||
		    t->ended == SBX_KILLED_CPU) {
			buf_errf(err, "the runner was stopped (%s)",
				 sbx_outcome_name(t->ended));
			return TW_ETIMEOUT;
		}
		if (t->eof_out) {
			buf_errf(err, "the runner ended without its status");
			return TW_EIO;
		}
		talk_stderr(t);
		if (sbx_read(t->child, 1, &t->in, 50, &t->eof_out, err) < 0)
			return TW_EINVAL;
	}
}

/*
 * talk_finish() is the end of a conversation once STATUS is in: what
 * stderr holds now goes to the logs, and talk_release() then kills the
 * runner rather than waiting for it to exit. A runner has nothing left to
 * do after STATUS, and Python's teardown of pandas and pyarrow takes
 * longer (half a second) than the whole preview.
 */
static void talk_finish(struct talk *t)
{
	sbx_close_stdin(t->child);
	talk_stderr(t);
}

/* --- replies ---------------------------------------------------------------
 */

/* The integer member name of o, or -1. */
static json_int_t int_member(json_t *o, const char *name)
{
	json_t *v = json_object_get(o, name);

	return json_is_integer(v) ? json_integer_value(v) : -1;
}

/*
 * reply_422() answers 422 with a job error code, and details (a reference
 * it takes) when it holds anything.
 */
static int reply_422(struct http_request *req, const char *code,
		     const char *msg, json_t *details)
{
	json_t *err = json_pack("{s:s, s:s}", "code", code, "message", msg);

	if (json_object_size(details) > 0)
		json_object_set(err, "details", details);
	json_decref(details);
	return http_reply_json(req, 422, json_pack("{s:o}", "error", err));
}

/*
 * reply_failed() answers 422 with the runner's error code, message and
 * details {line, column, traceback, logs} (those known): what a job's
 * status would say. The codes it may pass through are the protocol's; an
 * "internal" one, or anything else, is a fault of ours: 500.
 */
static int reply_failed(struct http_request *req, json_t *status,
			struct talk *t)
{
	static const char *const passed[] = { "user_error", "sandbox_violation",
					      "invalid_output", "memory_limit",
					      NULL };
	const char *code =
		json_string_value(json_object_get(status, "error_code"));
	const char *msg = json_string_value(json_object_get(status, "message"));
	const char *tb =
		json_string_value(json_object_get(status, "traceback"));
	json_t *details = json_object();
	json_int_t line = int_member(status, "line");
	json_int_t col = int_member(status, "column");
	bool known = false;

	for (size_t i = 0; code && passed[i]; i++)
		known = known || !strcmp(code, passed[i]);
	if (!known) {
		json_decref(details);
		return http_reply_error(req, TW_EINTERNAL,
					"the sandbox runner failed: %s: %s",
					code ? code : "(no error code)",
					msg ? msg : "");
	}
	if (line > 0)
		json_object_set_new(details, "line", json_integer(line));
	if (col > 0)
		json_object_set_new(details, "column", json_integer(col));
	if (tb)
		json_object_set_new(details, "traceback", json_string(tb));
	if (t->logs.len)
		json_object_set_new(details, "logs", json_string(t->logs.ptr));
	return reply_422(req, code, msg ? msg : code, details);
}

/*
 * reply_stopped() answers a runner that talk_next() could not finish
 * with: stopped by the deadline or a limit (422 timeout, memory_limit,
 * cpu_limit), or broken (500, the detail logged).
 */
static int reply_stopped(struct http_request *req, struct talk *t, int rc,
			 long timeout_s, const char *what, struct buf *err)
{
	const struct cfg *cfg = ((struct api_app *)req->app)->cfg;
	const char *code = NULL;
	struct buf msg = BUF_INIT(1024);
	json_t *details = json_object();

	switch (rc == TW_ETIMEOUT ? t->ended : SBX_RUNNING) {
	case SBX_KILLED_TIMEOUT:
		code = "timeout";
		buf_addf(&msg, "the %s ran longer than %ld s", what, timeout_s);
		break;
	case SBX_KILLED_MEMORY:
		code = "memory_limit";
		buf_addf(&msg,
			 "the %s used more memory than TW_JOB_MEMORY_MB "
			 "(%ld MiB)",
			 what, cfg->job_memory_mb);
		break;
	case SBX_KILLED_CPU:
		code = "cpu_limit";
		buf_addf(&msg, "the %s used more CPU than a job may", what);
		break;
	default:
		break;
	}
	if (!code) {
		json_decref(details);
		buf_release(&msg);
		/* The runner's own words help whoever reads the log. */
		if (t->logs.len)
			log_warn(LOG_APP, "preview runner output: %.2000s",
				 t->logs.ptr);
		return http_reply_error(req, TW_EINTERNAL,
					"the sandbox runner broke the "
					"protocol: %s",
					err->ptr);
	}
	if (t->logs.len)
		json_object_set_new(details, "logs", json_string(t->logs.ptr));
	rc = reply_422(req, code, msg.ptr, details);
	buf_release(&msg);
	return rc;
}

/*
 * enter() admits a request that will use a runner: 429 with Retry-After
 * beyond the server's previews at once, 503 when previews are off. On
 * success the caller owes api_runners_leave().
 */
static int enter(struct http_request *req)
{
	struct api_app *app = req->app;
	struct buf err = BUF_INIT(4096);
	int rc;

	rc = api_runners_enter(app->runners, &err);
	if (rc == TW_ETOOMANY)
		http_add_header(req, "Retry-After", "1");
	if (rc < 0)
		http_reply_error(req, rc, "%s", err.ptr);
	buf_release(&err);
	return rc;
}

/* take() is a runner for an admitted request, or 500. */
static int take(struct http_request *req, bool validate, struct sbx_child **c)
{
	struct api_app *app = req->app;
	struct buf err = BUF_INIT(4096);
	bool warm = false;
	int rc;

	rc = api_runners_take(app->runners, validate, c, &warm, &err);
	if (rc < 0)
		rc = http_reply_error(req, TW_EINTERNAL,
				      "could not start a sandbox runner: %s",
				      err.ptr);
	else
		log_debug(LOG_APP, "sandbox runner pid %ld (%s; %s)",
			  sbx_child_pid(*c),
			  warm ? "from the pool" : "started now",
			  sbx_child_isolation(*c));
	buf_release(&err);
	return rc;
}

/* --- POST /api/v1/scripts/validate ---------------------------------------- */

/* code_text: 1 byte (422) to CODE_MAX (413). */
static int check_code(struct http_request *req, const char *code, size_t len)
{
	int rc = 0;

	if (!code)
		rc = api_reply_field(req, "code_text", "code_text is required");
	else if (len == 0)
		rc = api_reply_field(req, "code_text",
				     "code_text must not be empty");
	else if (len > CODE_MAX)
		rc = http_reply_error(req, TW_ETOOBIG,
				      "code_text is %zu bytes; the limit is "
				      "%zu (256 KiB)",
				      len, CODE_MAX);
	return rc;
}

/* The errors of a validate STATUS, as the API shows them. */
static json_t *validate_errors(json_t *status)
{
	json_t *in = json_object_get(status, "errors");
	json_t *out = json_array();
	size_t i;
	json_t *e;

	json_array_foreach(in, i, e) {
		const char *m =
			json_string_value(json_object_get(e, "message"));
		json_int_t line = int_member(e, "line");
		json_int_t col = int_member(e, "column");

		json_array_append_new(
			out,
			json_pack("{s:o, s:o, s:s}", "line",
				  line > 0 ? json_integer(line) : json_null(),
				  "column",
				  col > 0 ? json_integer(col) : json_null(),
				  "message", m ? m : "invalid code"));
	}
	return out;
}

int api_scripts_validate(struct http_request *req)
{
	struct api_app *app = req->app;
	struct buf err = BUF_INIT(4096);
	struct sbx_child *c = NULL;
	enum frame_type type = 0;
	json_t *obj = NULL, *status = NULL, *job;
	const char *code = NULL;
	size_t len = 0;
	struct talk t;
	bool entered = false, talking = false;
	int rc;

	rc = api_may_write(req);
	if (rc == 0)
		rc = http_body_json(req, &obj);
	if (rc == 0)
		rc = http_json_check_fields(req, obj, validate_fields);
	if (rc == 0)
		rc = http_json_string(req, obj, "code_text", true, &code, &len);
	if (rc == 0)
		rc = check_code(req, code, len);
	if (rc < 0)
		goto out;
	rc = enter(req);
	if (rc < 0)
		goto out;
	entered = true;
	rc = take(req, true, &c);
	if (rc < 0)
		goto out;
	talk_init(&t, c, API_VALIDATE_MS);
	talking = true;
	job = json_pack("{s:i, s:s, s:s}", "protocol", FRAME_PROTOCOL_VERSION,
			"task", "validate", "code", code);
	rc = talk_send_json(&t, FRAME_JOB, job, &err);
	json_decref(job);
	if (rc == 0)
		rc = talk_next(&t, &type, &status, &err);
	if (rc == 0 && type != FRAME_STATUS) {
		buf_errf(&err, "a '%c' frame where STATUS was expected",
			 (char)type);
		rc = TW_EINVAL;
	}
	if (rc < 0) {
		rc = reply_stopped(req, &t, rc, API_VALIDATE_MS / 1000, "check",
				   &err);
		goto out;
	}
	talk_finish(&t);
	if (json_is_true(json_object_get(status, "ok"))) {
		rc = http_reply_json(req, 200, json_pack("{s:b}", "ok", 1));
	} else if (json_is_array(json_object_get(status, "errors"))) {
		rc = http_reply_json(req, 200,
				     json_pack("{s:b, s:o}", "ok", 0, "errors",
					       validate_errors(status)));
	} else {
		rc = reply_failed(req, status, &t);
	}
out:
	json_decref(status);
	if (talking)
		talk_release(&t);
	if (entered)
		api_runners_leave(app->runners);
	buf_release(&err);
	return rc;
}

/* --- POST /api/v1/preview --------------------------------------------------
 */

struct preview_req {
	const char *code;
	int64_t script_id; /* 0: code_text */
	const char *source;
	const char *schema;
	const char *name;
	long limit;
	bool random;
};

/*
 * parse_preview() reads and checks the body without the database: exactly
 * one of code_text and script_id, a "schema.name" source in a data schema,
 * limit 1 to PREVIEW_LIMIT_MAX, sample first or random.
 */
static int parse_preview(struct http_request *req, struct preview_req *pr)
{
	json_t *obj = NULL, *v;
	const char *sample = NULL;
	size_t len = 0;
	int rc;

	memset(pr, 0, sizeof(*pr));
	pr->limit = PREVIEW_LIMIT_DEFAULT;
	rc = http_body_json(req, &obj);
	if (rc == 0)
		rc = http_json_check_fields(req, obj, preview_fields);
	if (rc == 0)
		rc = http_json_string(req, obj, "code_text", false, &pr->code,
				      &len);
	if (rc == 0)
		rc = http_json_string(req, obj, "source_table", true,
				      &pr->source, NULL);
	if (rc == 0)
		rc = http_json_string(req, obj, "sample", false, &sample, NULL);
	if (rc < 0)
		goto out;
	v = json_object_get(obj, "script_id");
	if (v && (!json_is_integer(v) || json_integer_value(v) < 1)) {
		rc = api_reply_field(req, "script_id",
				     "script_id must be a positive integer");
		goto out;
	}
	if (v)
		pr->script_id = (int64_t)json_integer_value(v);
	if (!!v == !!pr->code) {
		rc = api_reply_field(req, pr->code ? "script_id" : "code_text",
				     "give either code_text or script_id");
		goto out;
	}
	if (pr->code) {
		rc = check_code(req, pr->code, len);
		if (rc < 0)
			goto out;
	}
	v = json_object_get(obj, "limit");
	if (v && (!json_is_integer(v) || json_integer_value(v) < 1 ||
		  json_integer_value(v) > PREVIEW_LIMIT_MAX)) {
		rc = api_reply_field(req, "limit",
				     "limit must be an integer from 1 to %d",
				     PREVIEW_LIMIT_MAX);
		goto out;
	}
	if (v)
		pr->limit = (long)json_integer_value(v);
	if (sample && strcmp(sample, "first") != 0 &&
	    strcmp(sample, "random") != 0) {
		rc = api_reply_field(req, "sample",
				     "sample must be first or random");
		goto out;
	}
	pr->random = sample && !strcmp(sample, "random");
	/* The source, as POST /api/v1/jobs checks it. */
	rc = api_source_table(req, pr->source, &pr->schema, &pr->name);
out:
	return rc;
}

/* Appends name quoted as an SQL identifier. */
/*
 * sample_percent() says how a random sample is drawn: ORDER BY random() over
 * the whole relation is fine for small ones but reads and sorts all of a
 * big table (1.7 s on 2M rows here); for a table estimated at more than
 * SAMPLE_SYSTEM_MIN_ROWS rows, TABLESAMPLE SYSTEM first picks random
 * pages, SAMPLE_PAGES_PER_ROW per row wanted (SAMPLE_PAGES_MIN at least),
 * and ORDER BY random() then picks the rows among theirs. SYSTEM samples
 * whole pages, so the number of pages, not of rows, decides how spread out
 * the sample is: a handful of pages that hold enough rows would give rows
 * that sit together; four pages per row make most rows come from pages
 * of their own. On 2M rows (22,728 pages) that is 2 ms for 5 rows, 28 ms
 * for 200 and 118 ms for 1000 here. *pct is 0 when the whole relation is
 * sorted.
 */
static int sample_percent(struct http_request *req, PGconn *conn,
			  const struct preview_req *pr, double *pct,
			  struct buf *err)
{
	const char *params[2] = { pr->schema, pr->name };
	PGresult *res = NULL;
	double rows, pages, want;
	char kind;
	int rc;

	*pct = 0;
	rc = api_exec(req, conn, relation_sql, 2, params, &res, err);
	if (rc < 0 || PQntuples(res) != 1)
		return rc;
	kind = PQgetvalue(res, 0, 0)[0];
	/* Views have no pages to sample; partitioned tables go whole. */
	if (kind != 'r' && kind != 'm')
		return 0;
	rows = strtod(PQgetvalue(res, 0, 1), NULL);
	pages = strtod(PQgetvalue(res, 0, 2), NULL) / 8192.0;
	/* Never analysed (-1): guess from the size. */
	if (rows < 0)
		rows = pages * ROWS_PER_PAGE_GUESS;
	want = SAMPLE_PAGES_PER_ROW * (double)pr->limit;
	if (want < SAMPLE_PAGES_MIN)
		want = SAMPLE_PAGES_MIN;
	/* Past half the table, sorting all of it costs about the same. */
	if (rows > SAMPLE_SYSTEM_MIN_ROWS && want < pages / 2)
		*pct = 100.0 * want / pages;
	return 0;
}

/*
 * sample_sql() is the COPY of the sample: the columns (those the data path
 * does not carry natively as text, as the worker selects them), the first
 * rows or, for a random sample, ORDER BY random() after TABLESAMPLE
 * SYSTEM (pct) when pct > 0.
 */
static int sample_sql(struct buf *sql, PGconn *conn,
		      const struct preview_req *pr,
		      const struct db_columns *cols, double pct,
		      struct buf *err)
{
	int rc = 0;

	buf_reset(sql);
	rc = db_copy_select(sql, conn, cols, pr->schema, pr->name, err);
	if (rc < 0)
		return rc;
	if (pct > 0)
		buf_addf(sql, " TABLESAMPLE SYSTEM (%.6f)", pct);
	if (pr->random)
		buf_adds(sql, " ORDER BY random()");
	return buf_addf(sql, " LIMIT %ld) TO STDOUT (FORMAT binary)",
			pr->limit) < 0
		       ? TW_ETOOBIG
		       : 0;
}

/*
 * copy_rows() runs the COPY sql and decodes its rows into b, all of them
 * read whatever happens so the connection stays usable; a batch that is
 * full (256 MiB in at most 1000 rows) keeps what fits.
 */
static int copy_rows(PGconn *conn, const char *sql, const enum db_pgtype *types,
		     size_t ncols, struct colbatch *b, struct buf *err)
{
	struct buf derr = BUF_INIT(1024);
	struct db_bin_reader rd;
	bool stop = false;
	char *row = NULL;
	int len = 0;
	int rc, drc = 0;

	rc = db_copy_out_begin(conn, sql, err);
	if (rc < 0)
		goto out;
	db_bin_reader_init(&rd, types, ncols);
	for (;;) {
		rc = db_copy_out_next(conn, &row, &len, err);
		if (rc <= 0)
			break;
		if (!stop) {
			drc = db_bin_decode_row(&rd, row, (size_t)len, b,
						&derr);
			stop = drc == TW_ETOOBIG || drc < 0;
			if (drc == TW_ETOOBIG)
				drc = 0;
		}
		PQfreemem(row);
		row = NULL;
	}
	if (rc == 0 && drc < 0) {
		buf_errf(err, "could not decode the sample: %s", derr.ptr);
		rc = drc;
	}
out:
	buf_release(&derr);
	return rc;
}

/*
 * read_sample() reads at most pr->limit rows of the source into b (kinds
 * from cols), in the caller's read-only transaction. A TABLESAMPLE that
 * came back short (a stale estimate, bad luck) is done again over the
 * whole relation.
 */
static int read_sample(struct http_request *req, PGconn *conn,
		       const struct preview_req *pr,
		       const struct db_columns *cols, struct colbatch *b,
		       struct buf *err)
{
	struct buf sql = BUF_INIT(256 * 1024);
	enum db_pgtype *types = xcalloc(cols->n + 1, sizeof(*types));
	enum col_kind *kinds = xcalloc(cols->n + 1, sizeof(*kinds));
	double pct = 0;
	int rc;

	for (size_t i = 0; i < cols->n; i++) {
		types[i] = cols->items[i].pgtype;
		kinds[i] = db_pgtype_kind(types[i]);
	}
	rc = colbatch_init(b, kinds, cols->n);
	if (rc < 0) {
		buf_errf(err, "could not make a batch of %zu columns", cols->n);
		goto out;
	}
	if (pr->random)
		rc = sample_percent(req, conn, pr, &pct, err);
	if (rc == 0)
		rc = sample_sql(&sql, conn, pr, cols, pct, err);
	if (rc == 0)
		rc = copy_rows(conn, sql.ptr, types, cols->n, b, err);
	if (rc == 0 && pct > 0 && b->nrows < (size_t)pr->limit) {
		log_debug(LOG_APP,
			  "preview of %s: TABLESAMPLE gave %zu rows of %ld; "
			  "sampling the whole table",
			  pr->source, b->nrows, pr->limit);
		colbatch_reset(b);
		rc = sample_sql(&sql, conn, pr, cols, 0, err);
		if (rc == 0)
			rc = copy_rows(conn, sql.ptr, types, cols->n, b, err);
	}
out:
	free(types);
	free(kinds);
	buf_release(&sql);
	return rc;
}

/* Columns as the API shows them: [{"name", "type"}]. */
static json_t *source_columns_json(const struct db_columns *cols)
{
	json_t *a = json_array();

	for (size_t i = 0; i < cols->n; i++)
		json_array_append_new(a, json_pack("{s:s, s:s}", "name",
						   cols->items[i].name, "type",
						   cols->items[i].type));
	return a;
}

/* The SCHEMA frame's columns as the API shows them. */
static json_t *output_columns_json(json_t *schema)
{
	json_t *a = json_array();
	json_t *c;
	size_t i;

	json_array_foreach(json_object_get(schema, "columns"), i, c) {
		const char *name =
			json_string_value(json_object_get(c, "name"));
		const char *type =
			json_string_value(json_object_get(c, "type"));

		json_array_append_new(a, json_pack("{s:s, s:s}", "name",
						   name ? name : "", "type",
						   type ? type : ""));
	}
	return a;
}

/* The JOB frame of a preview (protocol.md). */
static json_t *preview_job(const struct cfg *cfg, const struct preview_req *pr,
			   const struct db_columns *cols)
{
	json_t *a = json_array();

	for (size_t i = 0; i < cols->n; i++) {
		const struct db_column *c = &cols->items[i];

		json_array_append_new(
			a, json_pack("{s:s, s:s, s:s, s:s, s:b}", "name",
				     c->name, "type", c->type, "pgtype",
				     db_pgtype_name(c->pgtype), "kind",
				     col_kind_name(db_pgtype_kind(c->pgtype)),
				     "nullable", c->nullable));
	}
	return json_pack("{s:i, s:s, s:I, s:i, s:s, s:s, s:n, s:n, s:I, s:I, "
			 "s:I, s:o}",
			 "protocol", FRAME_PROTOCOL_VERSION, "task", "preview",
			 "job_id", (json_int_t)0, "attempt", 1, "code",
			 pr->code, "source_table", pr->source,
			 "destination_table", "publish_mode", "chunk_rows",
			 (json_int_t)pr->limit, "max_output_rows",
			 (json_int_t)cfg->max_output_rows, "preview_rows",
			 (json_int_t)pr->limit, "columns", a);
}

/*
 * prepare() does the preview's database part, in one read-only
 * transaction on a connection it gives back before the runner starts: the
 * script's code (script_id: a live script of the caller's, any for an
 * admin; 422 otherwise), the source (a relation the table explorer shows,
 * 422 otherwise), its columns into cols and its sample into b.
 */
static int prepare(struct http_request *req, struct preview_req *pr,
		   struct db_columns *cols, struct colbatch *b)
{
	const struct cfg *cfg = ((struct api_app *)req->app)->cfg;
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	PGconn *conn = NULL;
	PGresult *res = NULL;
	struct db_tx tx;
	bool visible = false;
	int rc;

	rc = api_db_acquire(req, &conn);
	if (rc < 0)
		return rc;
	rc = db_tx_begin_sql(&tx, conn, begin_sql, &err);
	if (rc < 0)
		goto fail;
	if (pr->script_id) {
		const char *params[2];

		params[0] = arena_printf(req->arena, "%" PRId64, pr->script_id);
		params[1] = api_owner_filter(req);
		rc = api_exec(req, conn, script_sql, 2, params, &res, &err);
		if (rc < 0)
			goto fail;
		if (PQntuples(res) == 0) {
			rc = api_reply_field(req, "script_id",
					     "no such script");
			goto out;
		}
		pr->code = PQgetvalue(res, 0, 0);
	}
	rc = db_catalog_source_visible(conn, api_data_schemas_param(req),
				       cfg->app_schema, pr->schema, pr->name,
				       &visible, &err);
	if (rc < 0)
		goto fail;
	if (visible)
		rc = db_table_columns(conn, pr->schema, pr->name, cols, &err);
	if (!visible || rc == TW_ENOTFOUND) {
		rc = api_reply_field(req, "source_table",
				     "no such table in the data schemas: %s",
				     pr->source);
		goto out;
	}
	if (rc < 0)
		goto fail;
	if (cols->n == 0) {
		rc = api_reply_field(req, "source_table",
				     "%s has no columns to preview",
				     pr->source);
		goto out;
	}
	rc = read_sample(req, conn, pr, cols, b, &err);
	if (rc < 0)
		goto fail;
	goto out;
fail:
	http_reply_error(req, rc, "could not read the preview's sample: %s",
			 err.ptr);
out:
	db_tx_rollback(&tx);
	api_db_release(req, conn, rc < 0);
	buf_release(&err);
	return rc;
}

/*
 * converse() runs the preview in the runner: JOB, READY, the one BATCH,
 * END, then SCHEMA, PREVIEW and STATUS (LOG frames anywhere). It replies
 * to every failure itself; on success *schema, *preview and *status hold
 * the frames.
 */
static int converse(struct http_request *req, struct talk *t,
		    const struct preview_req *pr, const struct db_columns *cols,
		    const struct colbatch *b, json_t **schema, json_t **preview,
		    json_t **status)
{
	const struct cfg *cfg = ((struct api_app *)req->app)->cfg;
	struct buf err = BUF_INIT(4096);
	struct buf frame = BUF_INIT(FRAME_HEADER_BYTES + FRAME_MAX_BATCH);
	enum frame_type type = 0;
	json_t *job, *obj = NULL;
	int rc;

	job = preview_job(cfg, pr, cols);
	rc = talk_send_json(t, FRAME_JOB, job, &err);
	json_decref(job);
	if (rc == 0)
		rc = talk_next(t, &type, &obj, &err);
	if (rc < 0)
		goto stopped;
	t->ready = plat_monotonic_ms();
	if (type == FRAME_STATUS) {
		*status = obj;
		obj = NULL;
		goto check_status;
	}
	if (type != FRAME_READY) {
		buf_errf(&err, "a '%c' frame where READY was expected",
			 (char)type);
		rc = TW_EINVAL;
		goto stopped;
	}
	json_decref(obj);
	obj = NULL;
	rc = frame_batch_encode(&frame, b, &err);
	if (rc == 0)
		rc = sbx_write(t->child, frame.ptr, frame.len, &err);
	buf_release(&frame);
	if (rc == 0)
		rc = talk_send(t, FRAME_END, NULL, 0, &err);
	if (rc < 0) {
		/* A runner that stopped reading: its status says why. */
		buf_reset(&err);
	}
	sbx_close_stdin(t->child);
	for (;;) {
		rc = talk_next(t, &type, &obj, &err);
		if (rc < 0)
			goto stopped;
		if (type == FRAME_STATUS) {
			t->done = plat_monotonic_ms();
			break;
		}
		if (type == FRAME_SCHEMA && !*schema) {
			*schema = obj;
		} else if (type == FRAME_PREVIEW && !*preview) {
			*preview = obj;
		} else if (type != FRAME_METRICS) {
			json_decref(obj);
			buf_errf(&err, "an unexpected '%c' frame", (char)type);
			rc = TW_EINVAL;
			goto stopped;
		} else {
			json_decref(obj);
		}
		obj = NULL;
	}
	*status = obj;
	obj = NULL;
check_status:
	if (!json_is_true(json_object_get(*status, "ok"))) {
		talk_finish(t);
		rc = reply_failed(req, *status, t);
		if (rc == 0)
			rc = TW_EVALIDATION;
		goto out;
	}
	if (!*schema || !*preview ||
	    !json_is_array(json_object_get(*preview, "rows")) ||
	    !json_is_array(json_object_get(*preview, "profile"))) {
		buf_errf(&err, "STATUS ok without SCHEMA and PREVIEW");
		rc = TW_EINVAL;
		goto stopped;
	}
	talk_finish(t);
	rc = 0;
	goto out;
stopped:
	rc = reply_stopped(req, t, rc, cfg->preview_timeout_s, "preview", &err);
	if (rc == 0)
		rc = TW_EVALIDATION;
out:
	json_decref(obj);
	buf_release(&frame);
	buf_release(&err);
	return rc;
}

int api_preview_create(struct http_request *req)
{
	struct api_app *app = req->app;
	const struct cfg *cfg = app->cfg;
	int64_t t0 = plat_monotonic_ms();
	struct preview_req pr;
	struct db_columns cols = { NULL, 0 };
	struct colbatch b;
	struct sbx_child *c = NULL;
	json_t *schema = NULL, *preview = NULL, *status = NULL;
	struct talk t;
	bool entered = false, talking = false;
	int rc;

	memset(&b, 0, sizeof(b));
	rc = api_may_write(req);
	if (rc == 0)
		rc = parse_preview(req, &pr);
	if (rc == 0)
		rc = enter(req);
	if (rc < 0)
		goto out;
	entered = true;
	rc = prepare(req, &pr, &cols, &b);
	if (rc == 0)
		rc = take(req, false, &c);
	if (rc < 0)
		goto out;
	talk_init(&t, c, cfg->preview_timeout_s * 1000);
	talking = true;
	rc = converse(req, &t, &pr, &cols, &b, &schema, &preview, &status);
	if (rc < 0)
		goto out;
	rc = http_reply_json(
		req, 200,
		json_pack("{s:o, s:o, s:O, s:I, s:I, s:O, s:s, s:I}", "columns",
			  output_columns_json(schema), "source_columns",
			  source_columns_json(&cols), "rows",
			  json_object_get(preview, "rows"), "rows_in",
			  int_member(status, "rows_in"), "rows_out",
			  int_member(status, "rows_out"), "profile",
			  json_object_get(preview, "profile"), "logs",
			  t.logs.ptr, "duration_ms",
			  (json_int_t)(plat_monotonic_ms() - t0)));
	log_info(LOG_APP,
		 "preview of %s: %zu rows in %" PRId64 " ms: database %" PRId64
		 " ms, runner ready after %" PRId64 " ms, its result %" PRId64
		 " ms later",
		 pr.source, b.nrows, plat_monotonic_ms() - t0, t.started - t0,
		 t.ready - t.started, t.done - t.ready);
out:
	json_decref(schema);
	json_decref(preview);
	json_decref(status);
	if (talking)
		talk_release(&t);
	if (entered)
		api_runners_leave(app->runners);
	colbatch_release(&b);
	db_columns_release(&cols);
	return rc;
}
