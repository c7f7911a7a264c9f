#include "core/compat.h"

#include <jansson.h>

#include "core/err.h"
#include "core/mem.h"
#include "core/str.h"
#include "log/log.h"
#include "platform/plat.h"
#include "sandbox/frame.h"
#include "sandbox/sandbox.h"
#include "worker/worker_int.h"

/*
 * datapath.c - a job's data through the sandbox child, in three stages
 * that overlap (docs/internals/datapath.md):
 *
 *   reader thread   connection 1: COPY (SELECT ...) TO STDOUT binary,
 *                   decoded into a column batch of TW_CHUNK_ROWS rows,
 *                   each batch one BATCH frame written to the child's
 *                   stdin (a full pipe blocks it: the back-pressure), END
 *   the child       transforms (the Python runner)
 *   job thread      runner.c's pump hands the child's stdout here
 *                   (datapath_poll): frames decoded, LOG to the job's log,
 *                   SCHEMA checked and staged, BATCH re-encoded as binary
 *                   COPY into the publisher's transaction on connection 2
 *
 * What the job thread and the reader share is behind mu, or atomic.
 */

/* How the reader thread ended. */
enum input_state {
	INPUT_RUNNING = 0,
	INPUT_DONE,	  /* every row sent, END written, stdin closed */
	INPUT_STOPPED,	  /* told to stop, or the child closed its stdin */
	INPUT_FAILED,	  /* the source could not be read: reader_err */
	INPUT_NOT_NEEDED, /* the runner ended before asking for data */
};

/* The output's progress through the conversation. */
enum phase {
	PHASE_START = 0, /* waiting for READY (or STATUS) */
	PHASE_READY,	 /* READY came; waiting for SCHEMA, LOG, ... */
	PHASE_DATA,	 /* SCHEMA came and the stage is open */
	PHASE_DONE,	 /* STATUS came: nothing more may follow */
};

/* Binary COPY bytes are handed to the publisher this many at a time. */
#define PUT_BYTES ((size_t)4 * 1024 * 1024)
/* Rows encoded per db_bin_encode_rows() call. */
#define ENCODE_ROWS ((size_t)4096)
/* How long a job waits for each of its two connections. */
#define ACQUIRE_MS 10000
/* The most columns a table may have (PostgreSQL's limit). */
#define MAX_COLUMNS 1600

struct datapath {
	struct worker *w;
	const struct queue_job *job;
	struct sbx_child *child;

	/* The source, read by the reader thread on src_conn. */
	PGconn *src_conn;
	PGcancel *src_cancel;
	struct db_columns src;
	enum db_pgtype *src_types;
	enum col_kind *src_kinds;
	struct buf copy_sql;
	char *job_json;

	/* The reader thread. */
	pthread_t reader;
	bool reader_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool go;	       /* mu: READY came, send the data */
	bool stop;	       /* mu: stop sending */
	bool in_copy;	       /* mu: the COPY is running on src_conn */
	bool cancel_sent;      /* mu: PQcancel was sent to src_conn */
	atomic_int input;      /* enum input_state */
	atomic_llong rows_in;  /* rows sent to the child */
	atomic_bool stop_now;  /* stop, as the reader sees it per row */
	struct buf reader_err; /* set before input becomes INPUT_FAILED */

	/* The child's output. */
	enum phase phase;
	bool whole_table;
	bool allow_empty;
	struct db_columns out;
	enum col_kind *out_kinds;
	enum db_pgtype *out_types;
	struct colbatch obatch;
	bool obatch_init;
	struct buf copybuf;
	int64_t rows_out;	/* rows received and put */
	int64_t runner_rows_in; /* METRICS: rows the runner transformed */
	int64_t status_rows_in; /* STATUS: -1 when it did not say */
	int64_t status_rows_out;

	/* STATUS. */
	bool status_ok;
	char *status_code;
	struct buf status_msg;

	/* The first failure the worker found itself. */
	const char *fail_code;
	struct buf fail_msg;

	/* The output side. */
	struct publish pub;
	PGconn *pub_conn;
	bool pub_opened;
	bool pub_done; /* committed or aborted */
};

/* --- small helpers -------------------------------------------------------- */

/* Records the first failure the worker found; later ones are effects. */
static int fail(struct datapath *d, const char *code, const char *fmt, ...)
	TW_PRINTF(3, 4);

static int fail(struct datapath *d, const char *code, const char *fmt, ...)
{
	va_list ap;

	if (d->fail_code)
		return TW_EINTERNAL;
	d->fail_code = code;
	va_start(ap, fmt);
	buf_vaddf(&d->fail_msg, fmt, ap);
	va_end(ap);
	return TW_EINTERNAL;
}

static int broke(struct datapath *d, const char *why)
{
	return fail(d, "internal", "the sandbox runner broke the protocol: %s",
		    why);
}

/* Appends "identifier" quoted by the server's rules. */
/* "schema.name", split at its first dot (the API checked both halves). */
static int split_table(const char *qualified, struct buf *schema,
		       struct buf *name)
{
	const char *dot = strchr(qualified, '.');

	if (!dot)
		return TW_EINVAL;
	buf_add(schema, qualified, (size_t)(dot - qualified));
	buf_adds(name, dot + 1);
	return 0;
}

/* --- the job as the runner reads it ----------------------------------------
 */

static char *job_json(const struct datapath *d)
{
	const struct cfg *cfg = d->w->cfg;
	const struct queue_job *job = d->job;
	json_t *o = json_object();
	json_t *cols = json_array();
	char *text;

	json_object_set_new(o, "protocol",
			    json_integer(FRAME_PROTOCOL_VERSION));
	json_object_set_new(o, "task", json_string("run"));
	json_object_set_new(o, "job_id", json_integer(job->id));
	json_object_set_new(o, "attempt", json_integer(job->attempt));
	json_object_set_new(o, "script_id", json_integer(job->script_id));
	json_object_set_new(o, "script_version",
			    json_integer(job->script_version));
	json_object_set_new(o, "code", json_string(job->code_text));
	json_object_set_new(o, "source_table", json_string(job->source_table));
	json_object_set_new(o, "destination_table",
			    json_string(job->destination_table));
	json_object_set_new(o, "publish_mode", json_string(job->mode));
	json_object_set_new(o, "chunk_rows", json_integer(cfg->chunk_rows));
	json_object_set_new(o, "max_output_rows",
			    json_integer(cfg->max_output_rows));
	/* A job sends no PREVIEW frame: none of its rows. */
	json_object_set_new(o, "preview_rows", json_integer(0));
	for (size_t i = 0; i < d->src.n; i++) {
		const struct db_column *c = &d->src.items[i];
		json_t *col = json_object();

		json_object_set_new(col, "name", json_string(c->name));
		json_object_set_new(col, "type", json_string(c->type));
		json_object_set_new(col, "pgtype",
				    json_string(db_pgtype_name(c->pgtype)));
		json_object_set_new(col, "kind",
				    json_string(col_kind_name(c->kind)));
		json_object_set_new(col, "nullable", json_boolean(c->nullable));
		json_array_append_new(cols, col);
	}
	json_object_set_new(o, "columns", cols);
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!text)
		TW_BUG("the job's JSON could not be written");
	return text;
}

/* --- before the child starts ---------------------------------------------- */

struct datapath *datapath_new(struct worker *w, const struct queue_job *job)
{
	struct datapath *d = xcalloc(1, sizeof(*d));

	d->w = w;
	d->job = job;
	pthread_mutex_init(&d->mu, NULL);
	pthread_cond_init(&d->cv, NULL);
	atomic_init(&d->input, INPUT_RUNNING);
	atomic_init(&d->rows_in, 0);
	atomic_init(&d->stop_now, false);
	buf_init(&d->copy_sql, BUF_SMALL_CAP * 4);
	buf_init(&d->reader_err, BUF_SMALL_CAP);
	buf_init(&d->status_msg, BUF_SMALL_CAP);
	buf_init(&d->fail_msg, BUF_SMALL_CAP);
	/* A batch of the most bytes, re-encoded, with the COPY overhead. */
	buf_init(&d->copybuf, 2 * COLBATCH_MAX_BYTES + PUT_BYTES);
	d->status_rows_in = -1;
	d->status_rows_out = -1;
	return d;
}

/* The COPY that reads the source: every column, quoted, the ones the data
 * path does not carry natively as text. */
static int build_copy_sql(struct datapath *d, const char *schema,
			  const char *name, struct buf *err)
{
	struct buf *sql = &d->copy_sql;
	int rc;

	rc = db_copy_select(sql, d->src_conn, &d->src, schema, name, err);
	if (rc < 0)
		return rc;
	rc = buf_adds(sql, ") TO STDOUT (FORMAT binary)");
	if (rc < 0)
		buf_errf(err, "the source's COPY statement is too long");
	return rc;
}

int datapath_prepare(struct datapath *d, const char **code, struct buf *msg)
{
	struct worker *w = d->w;
	struct buf schema = BUF_INIT(256);
	struct buf name = BUF_INIT(256);
	struct buf err = BUF_INIT(4096);
	int rc;

	*code = "internal";
	if (split_table(d->job->source_table, &schema, &name) < 0) {
		buf_addf(msg, "the source table \"%s\" is not schema.name",
			 d->job->source_table);
		rc = TW_EINVAL;
		goto out;
	}
	rc = db_acquire(w->pool, ACQUIRE_MS, &d->src_conn, &err);
	if (rc < 0) {
		buf_addf(msg, "could not connect to the database: %s", err.ptr);
		goto out;
	}
	rc = db_table_columns(d->src_conn, schema.ptr, name.ptr, &d->src, &err);
	if (rc == TW_ENOTFOUND) {
		*code = "source_missing";
		buf_addf(msg, "the source table %s does not exist",
			 d->job->source_table);
		goto out;
	}
	if (rc < 0) {
		buf_addf(msg, "could not read the source table's columns: %s",
			 err.ptr);
		goto out;
	}
	d->src_types = xcalloc(d->src.n + 1, sizeof(*d->src_types));
	d->src_kinds = xcalloc(d->src.n + 1, sizeof(*d->src_kinds));
	for (size_t i = 0; i < d->src.n; i++) {
		d->src_types[i] = d->src.items[i].pgtype;
		d->src_kinds[i] = d->src.items[i].kind;
	}
	rc = build_copy_sql(d, schema.ptr, name.ptr, &err);
	if (rc < 0) {
		buf_addf(msg, "%s", err.ptr);
		goto out;
	}
	d->src_cancel = PQgetCancel(d->src_conn);
	d->job_json = job_json(d);

	/* The output side: refused here, the child never starts. */
	rc = db_acquire(w->pool, ACQUIRE_MS, &d->pub_conn, &err);
	if (rc < 0) {
		buf_addf(msg, "could not connect to the database: %s", err.ptr);
		goto out;
	}
	*code = NULL;
	rc = publish_open(&d->pub, d->pub_conn, w->cfg, d->job, code, &err);
	d->pub_opened = true;
	if (rc < 0) {
		if (!*code)
			*code = "internal";
		buf_addf(msg, "%s", err.ptr);
	}
out:
	buf_release(&schema);
	buf_release(&name);
	buf_release(&err);
	return rc;
}

/* --- the reader thread ---------------------------------------------------- */

static void reader_fail(struct datapath *d, const char *what,
			const struct buf *err)
{
	buf_errf(&d->reader_err, "%s: %s", what, err->ptr);
	atomic_store(&d->input, INPUT_FAILED);
}

static bool stop_asked(struct datapath *d)
{
	bool stop;

	pthread_mutex_lock(&d->mu);
	stop = d->stop;
	pthread_mutex_unlock(&d->mu);
	return stop;
}

/*
 * Sends b as one BATCH frame (encoded into out, one write) and empties it.
 * false when the child no longer reads (killed, ended, or it closed its
 * stdin): the reader then just stops, the child's end tells the rest.
 */
static bool send_batch(struct datapath *d, struct colbatch *b, struct buf *out)
{
	struct buf err = BUF_INIT(4096);
	bool ok = true;

	buf_reset(out);
	if (frame_batch_encode(out, b, &err) < 0) {
		reader_fail(d, "could not encode a batch", &err);
		ok = false;
	} else if (sbx_write(d->child, out->ptr, out->len, &err) < 0) {
		atomic_store(&d->input, INPUT_STOPPED);
		ok = false;
	} else {
		atomic_fetch_add(&d->rows_in, (long long)b->nrows);
	}
	colbatch_reset(b);
	buf_release(&err);
	return ok;
}

/* Streams the source into the child: the body of the reader thread once
 * READY came. Returns true when every row and END went out. */
static bool stream_source(struct datapath *d, struct buf *out)
{
	const size_t chunk = (size_t)d->w->cfg->chunk_rows;
	struct db_bin_reader rd;
	struct colbatch b;
	struct buf err = BUF_INIT(4096);
	bool ok = false;
	bool copying = false;
	bool cancelled;
	int rc;

	memset(&b, 0, sizeof(b));
	rc = colbatch_init(&b, d->src_kinds, d->src.n);
	if (rc < 0) {
		buf_errf(&err, "%s", err_name(rc));
		reader_fail(d, "could not make a batch", &err);
		goto out;
	}
	db_bin_reader_init(&rd, d->src_types, d->src.n);
	pthread_mutex_lock(&d->mu);
	d->in_copy = !d->stop;
	pthread_mutex_unlock(&d->mu);
	if (stop_asked(d))
		goto stopped;
	rc = db_copy_out_begin(d->src_conn, d->copy_sql.ptr, &err);
	if (rc < 0)
		goto copy_failed;
	copying = true;
	for (;;) {
		char *row = NULL;
		int len = 0;

		rc = db_copy_out_next(d->src_conn, &row, &len, &err);
		if (rc < 0)
			goto copy_failed;
		if (rc == 0) {
			copying = false;
			break;
		}
		rc = db_bin_decode_row(&rd, row, (size_t)len, &b, &err);
		if (rc == TW_ETOOBIG && b.nrows > 0) {
			/* The batch reached its byte cap before chunk rows. */
			if (!send_batch(d, &b, out)) {
				PQfreemem(row);
				goto stopped;
			}
			rc = db_bin_decode_row(&rd, row, (size_t)len, &b, &err);
		}
		PQfreemem(row);
		if (rc == TW_ETOOBIG) {
			buf_errf(&err,
				 "a row of the source is larger than a "
				 "batch may be (%zu bytes)",
				 COLBATCH_MAX_BYTES);
			reader_fail(d, "could not read the source table", &err);
			goto out;
		}
		if (rc < 0) {
			reader_fail(d, "could not decode the source's rows",
				    &err);
			goto out;
		}
		if (b.nrows >= chunk && !send_batch(d, &b, out))
			goto stopped;
		if (atomic_load_explicit(&d->stop_now, memory_order_relaxed) ||
		    atomic_load_explicit(&d->input, memory_order_relaxed) !=
			    INPUT_RUNNING)
			goto stopped;
	}
	if (b.nrows > 0 && !send_batch(d, &b, out))
		goto stopped;
	buf_reset(out);
	frame_encode(out, FRAME_END, NULL, 0, NULL);
	if (sbx_write(d->child, out->ptr, out->len, &err) < 0)
		goto stopped;
	ok = true;
	goto out;
copy_failed:
	if (!stop_asked(d))
		reader_fail(d, "could not read the source table", &err);
	goto out;
stopped:
	if (atomic_load(&d->input) == INPUT_RUNNING)
		atomic_store(&d->input, INPUT_STOPPED);
out:
	pthread_mutex_lock(&d->mu);
	d->in_copy = false;
	cancelled = d->cancel_sent;
	pthread_mutex_unlock(&d->mu);
	/*
	 * A COPY left half read, or a cancel sent (it may land on whatever
	 * the session runs next): the connection is closed, not pooled.
	 */
	db_release(d->w->pool, d->src_conn, copying || cancelled || !ok);
	d->src_conn = NULL;
	colbatch_release(&b);
	buf_release(&err);
	return ok;
}

static void *reader_main(void *arg)
{
	struct datapath *d = arg;
	/* A BATCH frame of the most bytes. */
	struct buf out = BUF_INIT(FRAME_HEADER_BYTES + FRAME_MAX_BATCH);
	struct buf err = BUF_INIT(4096);
	bool go;

	if (frame_encode(&out, FRAME_JOB, d->job_json, strlen(d->job_json),
			 &err) < 0) {
		reader_fail(d, "could not send the job", &err);
		goto out;
	}
	if (sbx_write(d->child, out.ptr, out.len, &err) < 0) {
		atomic_store(&d->input, INPUT_STOPPED);
		goto out;
	}
	pthread_mutex_lock(&d->mu);
	while (!d->go && !d->stop)
		pthread_cond_wait(&d->cv, &d->mu);
	go = d->go && !d->stop;
	pthread_mutex_unlock(&d->mu);
	if (!go) {
		atomic_store(&d->input, INPUT_NOT_NEEDED);
		goto out;
	}
	if (stream_source(d, &out))
		atomic_store(&d->input, INPUT_DONE);
out:
	if (d->src_conn) {
		db_release(d->w->pool, d->src_conn, false);
		d->src_conn = NULL;
	}
	/* The child sees the end of its input: END came first, or not. */
	sbx_close_stdin(d->child);
	buf_release(&out);
	buf_release(&err);
	return NULL;
}

int datapath_start(struct datapath *d, struct sbx_child *child, struct buf *err)
{
	int e;

	d->child = child;
	e = pthread_create(&d->reader, NULL, reader_main, d);
	if (e != 0) {
		buf_errf(err, "could not start the reader thread: %s",
			 plat_strerror(e));
		return TW_EINTERNAL;
	}
	d->reader_started = true;
	return 0;
}

void datapath_stop_input(struct datapath *d)
{
	char why[256];
	bool cancel = false;

	atomic_store(&d->stop_now, true);
	pthread_mutex_lock(&d->mu);
	if (!d->stop) {
		d->stop = true;
		pthread_cond_broadcast(&d->cv);
		/*
		 * A COPY waiting on the server is woken by a cancel. The
		 * reader, seeing cancel_sent, closes its connection rather
		 * than pool it, so the cancel (sent outside the lock: it
		 * talks to the server) can never reach another query.
		 */
		if (d->in_copy && d->src_cancel) {
			d->cancel_sent = true;
			cancel = true;
		}
	}
	pthread_mutex_unlock(&d->mu);
	if (cancel)
		PQcancel(d->src_cancel, why, sizeof(why));
}

void datapath_join(struct datapath *d)
{
	if (!d->reader_started)
		return;
	datapath_stop_input(d);
	pthread_join(d->reader, NULL);
	d->reader_started = false;
}

/* --- the child's output -----------------------------------------------------
 */

/* Reads an optional non-negative integer member; false when malformed. */
static bool json_count(json_t *o, const char *key, int64_t *out)
{
	json_t *v = json_object_get(o, key);

	if (!v)
		return true;
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return false;
	*out = json_integer_value(v);
	return true;
}

static json_t *parse_object(struct datapath *d, const struct frame *f,
			    const char *what)
{
	json_error_t je;
	json_t *o = json_loadb((const char *)f->payload, f->len,
			       JSON_REJECT_DUPLICATES, &je);
	char why[512];

	if (!o || !json_is_object(o)) {
		snprintf(why, sizeof(why),
			 "its %s frame is not a JSON object%s%s", what,
			 o ? "" : ": ", o ? "" : je.text);
		json_decref(o);
		broke(d, why);
		return NULL;
	}
	return o;
}

static int on_ready(struct datapath *d, const struct frame *f)
{
	json_t *o;
	json_t *wt, *ae;

	if (d->phase != PHASE_START)
		return broke(d, "a second READY frame");
	o = parse_object(d, f, "READY");
	if (!o)
		return TW_EINTERNAL;
	wt = json_object_get(o, "whole_table");
	ae = json_object_get(o, "allow_empty");
	if ((wt && !json_is_boolean(wt)) || (ae && !json_is_boolean(ae))) {
		json_decref(o);
		return broke(d, "READY's whole_table and allow_empty must be "
				"booleans");
	}
	d->whole_table = wt && json_is_true(wt);
	d->allow_empty = ae && json_is_true(ae);
	json_decref(o);
	d->phase = PHASE_READY;
	pthread_mutex_lock(&d->mu);
	d->go = true;
	pthread_cond_broadcast(&d->cv);
	pthread_mutex_unlock(&d->mu);
	return 0;
}

/*
 * SCHEMA: the output's columns. Every one is checked before anything is
 * created: a name by the identifier rule and unique, a kind and a type
 * that db_output_type() allows together; then the stage is made.
 */
static int on_schema(struct datapath *d, const struct frame *f)
{
	struct buf err = BUF_INIT(4096);
	const char *code = NULL;
	json_t *o, *cols;
	size_t n;
	int rc = 0;

	if (d->phase == PHASE_START)
		return broke(d, "a SCHEMA frame before READY");
	if (d->phase != PHASE_READY)
		return broke(d, "a second SCHEMA frame");
	o = parse_object(d, f, "SCHEMA");
	if (!o)
		return TW_EINTERNAL;
	cols = json_object_get(o, "columns");
	if (!json_is_array(cols)) {
		rc = broke(d, "SCHEMA has no columns array");
		goto out;
	}
	n = json_array_size(cols);
	if (n == 0) {
		rc = fail(d, "invalid_output",
			  "the script's result has no "
			  "columns");
		goto out;
	}
	if (n > MAX_COLUMNS) {
		rc = fail(d, "invalid_output",
			  "the script's result has %zu columns; a table may "
			  "have %d",
			  n, MAX_COLUMNS);
		goto out;
	}
	d->out.items = xcalloc(n, sizeof(*d->out.items));
	d->out_kinds = xcalloc(n, sizeof(*d->out_kinds));
	d->out_types = xcalloc(n, sizeof(*d->out_types));
	for (size_t i = 0; i < n; i++) {
		json_t *c = json_array_get(cols, i);
		const char *name =
			json_string_value(json_object_get(c, "name"));
		const char *kind =
			json_string_value(json_object_get(c, "kind"));
		const char *type =
			json_string_value(json_object_get(c, "type"));
		struct db_column *col = &d->out.items[i];
		enum col_kind k;

		if (!json_is_object(c) || !name || !kind || !type) {
			rc = broke(d, "a SCHEMA column lacks its name, kind "
				      "or type");
			goto out;
		}
		if (!str_ident_valid(name)) {
			rc = fail(d, "invalid_output",
				  "the result's column \"%.200s\" is not a "
				  "valid name: it must match "
				  "^[A-Za-z_][A-Za-z0-9_]{0,62}$",
				  name);
			goto out;
		}
		for (size_t k2 = 0; k2 < i; k2++) {
			if (!strcmp(d->out.items[k2].name, name)) {
				rc = fail(d, "invalid_output",
					  "the result has two columns named "
					  "\"%s\"",
					  name);
				goto out;
			}
		}
		k = col_kind_from_name(kind);
		if (!k) {
			rc = broke(d, "a SCHEMA column of an unknown kind");
			goto out;
		}
		buf_reset(&err);
		if (db_output_type(k, type, &col->pgtype, &err) < 0) {
			rc = fail(d, "invalid_output",
				  "the result's column \"%s\": %s", name,
				  err.ptr);
			goto out;
		}
		col->name = xstrdup(name);
		col->type = xstrdup(type);
		col->kind = k;
		col->nullable = true;
		d->out.n = i + 1;
		d->out_kinds[i] = k;
		d->out_types[i] = col->pgtype;
	}
	buf_reset(&err);
	rc = publish_stage(&d->pub, &d->out, &code, &err);
	if (rc < 0) {
		rc = fail(d, code ? code : "internal", "%s", err.ptr);
		goto out;
	}
	d->phase = PHASE_DATA;
out:
	json_decref(o);
	buf_release(&err);
	return rc;
}

/* Hands the encoded bytes to the publisher. */
static int put(struct datapath *d)
{
	struct buf err = BUF_INIT(4096);
	int rc;

	if (!d->copybuf.len)
		return 0;
	rc = publish_put(&d->pub, d->copybuf.ptr, d->copybuf.len, &err);
	buf_reset(&d->copybuf);
	if (rc == TW_EVALIDATION)
		rc = fail(d, "invalid_output",
			  "the destination refused the result: %s", err.ptr);
	else if (rc < 0)
		rc = fail(d, "internal", "could not write the result: %s",
			  err.ptr);
	buf_release(&err);
	return rc;
}

/*
 * A value its column's type refuses (db_bin_encode_rows() says "column C,
 * row R: why", R within the batch): the message names the column and the
 * row of the whole result instead.
 */
static int refused_value(struct datapath *d, const char *why)
{
	size_t col = 0, row = 0;
	int n = 0;

	if (sscanf(why, "column %zu, row %zu: %n", &col, &row, &n) == 2 &&
	    n > 0 && col >= 1 && col <= d->out.n)
		return fail(d, "invalid_output",
			    "the result's column \"%s\", row %" PRId64 ": %s",
			    d->out.items[col - 1].name,
			    d->rows_out + (int64_t)row, why + n);
	return fail(d, "invalid_output", "%s", why);
}

/* BATCH: checked against SCHEMA, re-encoded as binary COPY tuples, put. */
static int on_batch(struct datapath *d, const struct frame *f)
{
	const long max_rows = d->w->cfg->max_output_rows;
	struct buf err = BUF_INIT(4096);
	char why[4200];
	size_t from = 0, step = ENCODE_ROWS;
	int rc;

	if (d->phase != PHASE_DATA)
		return broke(d, "a BATCH frame before SCHEMA");
	rc = frame_batch_decode(f->payload, f->len, d->out_kinds, d->out.n,
				&d->obatch, &err);
	d->obatch_init = true;
	if (rc < 0) {
		snprintf(why, sizeof(why), "a bad BATCH frame: %s", err.ptr);
		rc = broke(d, why);
		goto out;
	}
	if (d->rows_out + (int64_t)d->obatch.nrows > (int64_t)max_rows) {
		rc = fail(d, "invalid_output",
			  "the script returned more than TW_MAX_OUTPUT_ROWS "
			  "(%ld) rows",
			  max_rows);
		goto out;
	}
	while (from < d->obatch.nrows) {
		size_t to = from + step < d->obatch.nrows ? from + step
							  : d->obatch.nrows;
		size_t mark = d->copybuf.len;

		buf_reset(&err);
		rc = db_bin_encode_rows(&d->copybuf, &d->obatch, d->out_types,
					from, to, &err);
		if (rc == TW_ETOOBIG) {
			buf_setlen(&d->copybuf, mark);
			if (mark > 0) {
				rc = put(d);
				if (rc < 0)
					goto out;
				continue;
			}
			if (step > 1) {
				step /= 2;
				continue;
			}
			rc = fail(d, "invalid_output",
				  "a row of the result is too large");
			goto out;
		}
		if (rc < 0) {
			rc = refused_value(d, err.ptr);
			goto out;
		}
		from = to;
		if (d->copybuf.len >= PUT_BYTES) {
			rc = put(d);
			if (rc < 0)
				goto out;
		}
	}
	rc = put(d);
	if (rc < 0)
		goto out;
	d->rows_out += (int64_t)d->obatch.nrows;
out:
	buf_release(&err);
	return rc;
}

static int on_metrics(struct datapath *d, const struct frame *f)
{
	json_t *o = parse_object(d, f, "METRICS");
	int64_t in = d->runner_rows_in, out = 0;
	bool ok;

	if (!o)
		return TW_EINTERNAL;
	ok = json_count(o, "rows_in", &in) && json_count(o, "rows_out", &out);
	json_decref(o);
	if (!ok)
		return broke(d, "METRICS' rows_in and rows_out must be "
				"counts");
	d->runner_rows_in = in;
	return 0;
}

static const char *const runner_codes[] = {
	"user_error",	"sandbox_violation", "invalid_output",
	"memory_limit", "internal",
};

/*
 * STATUS: the runner's verdict, always its last frame. A failure's
 * traceback goes to the log; its message, with the script's line and
 * column, becomes the job's error_message.
 */
static int on_status(struct datapath *d, const struct frame *f,
		     void (*log_fn)(void *, const char *, size_t), void *ctx)
{
	json_t *o = parse_object(d, f, "STATUS");
	json_t *ok;
	const char *code, *message, *tb;
	json_t *line, *column;
	int rc = 0;

	if (!o)
		return TW_EINTERNAL;
	ok = json_object_get(o, "ok");
	if (!json_is_boolean(ok)) {
		rc = broke(d, "STATUS has no ok");
		goto out;
	}
	d->phase = PHASE_DONE;
	if (json_is_true(ok)) {
		if (!json_count(o, "rows_in", &d->status_rows_in) ||
		    !json_count(o, "rows_out", &d->status_rows_out))
			rc = broke(d, "STATUS' rows_in and rows_out must be "
				      "counts");
		d->status_ok = true;
		goto out;
	}
	code = json_string_value(json_object_get(o, "error_code"));
	message = json_string_value(json_object_get(o, "message"));
	tb = json_string_value(json_object_get(o, "traceback"));
	line = json_object_get(o, "line");
	column = json_object_get(o, "column");
	d->status_code = xstrdup("internal");
	for (size_t i = 0; code && i < TW_ARRAY_SIZE(runner_codes); i++) {
		if (!strcmp(code, runner_codes[i])) {
			free(d->status_code);
			d->status_code = xstrdup(code);
		}
	}
	buf_adds(&d->status_msg,
		 message && *message ? message : "the script failed");
	if (json_is_integer(line) && json_integer_value(line) > 0) {
		buf_addf(&d->status_msg, " (line %" JSON_INTEGER_FORMAT,
			 json_integer_value(line));
		if (json_is_integer(column) && json_integer_value(column) > 0)
			buf_addf(&d->status_msg,
				 ", column %" JSON_INTEGER_FORMAT,
				 json_integer_value(column));
		buf_addch(&d->status_msg, ')');
	}
	if (tb && *tb) {
		static const char head[] = "Traceback (the script's lines):\n";

		log_fn(ctx, head, sizeof(head) - 1);
		log_fn(ctx, tb, strlen(tb));
	}
out:
	json_decref(o);
	return rc;
}

/* One frame from the child, in its place in the conversation. */
static int on_frame(struct datapath *d, const struct frame *f,
		    void (*log_fn)(void *, const char *, size_t), void *ctx)
{
	char why[128];

	if (d->phase == PHASE_DONE)
		return broke(d, "a frame after STATUS");
	switch (f->type) {
	case FRAME_READY:
		return on_ready(d, f);
	case FRAME_SCHEMA:
		return on_schema(d, f);
	case FRAME_BATCH:
		return on_batch(d, f);
	case FRAME_LOG:
		log_fn(ctx, (const char *)f->payload, f->len);
		return 0;
	case FRAME_METRICS:
		return on_metrics(d, f);
	case FRAME_STATUS:
		return on_status(d, f, log_fn, ctx);
	case FRAME_JOB:
	case FRAME_END:
	case FRAME_PREVIEW:
		break;
	}
	snprintf(why, sizeof(why),
		 "a %c frame, which a job's runner never "
		 "sends",
		 (char)f->type);
	return broke(d, why);
}

int datapath_poll(struct datapath *d, struct buf *in, bool eof,
		  void (*log_fn)(void *, const char *, size_t), void *ctx)
{
	struct buf err = BUF_INIT(4096);
	size_t pos = 0;
	int rc = 0;

	if (d->fail_code)
		goto discard;
	if (atomic_load(&d->input) == INPUT_FAILED) {
		fail(d, "internal", "%s", d->reader_err.ptr);
		goto discard;
	}
	while (pos < in->len) {
		struct frame f;
		size_t used = 0;

		buf_reset(&err);
		rc = frame_decode((const uint8_t *)in->ptr + pos, in->len - pos,
				  &f, &used, &err);
		if (rc == 0)
			break;
		if (rc < 0) {
			broke(d, err.ptr);
			goto discard;
		}
		rc = on_frame(d, &f, log_fn, ctx);
		pos += used;
		if (rc < 0)
			goto discard;
	}
	rc = 0;
	if (pos > 0) {
		memmove(in->ptr, in->ptr + pos, in->len - pos);
		buf_setlen(in, in->len - pos);
	}
	if (eof && in->len > 0)
		broke(d, "its output ended inside a frame");
	if (!d->fail_code)
		goto out;
discard:
	/* Nothing more of the child's stdout counts; it is read and dropped. */
	buf_reset(in);
	rc = TW_EINTERNAL;
out:
	buf_release(&err);
	return rc;
}

void datapath_progress(const struct datapath *d, int64_t *rows_in,
		       int64_t *rows_out)
{
	*rows_in = d->runner_rows_in;
	*rows_out = d->rows_out;
}

/* --- the end -------------------------------------------------------------- */

const char *datapath_failure(struct datapath *d, struct buf *msg)
{
	if (d->fail_code) {
		buf_adds(msg, d->fail_msg.ptr);
		return d->fail_code;
	}
	if (atomic_load(&d->input) == INPUT_FAILED) {
		buf_adds(msg, d->reader_err.ptr);
		return "internal";
	}
	if (d->phase == PHASE_DONE && !d->status_ok) {
		buf_adds(msg, d->status_msg.ptr);
		return d->status_code;
	}
	return NULL;
}

const char *datapath_check_success(struct datapath *d, struct buf *msg)
{
	long long sent = atomic_load(&d->rows_in);

	if (d->phase != PHASE_DONE) {
		buf_adds(msg, "the sandbox runner broke the protocol: it ended "
			      "without a STATUS frame");
		return "internal";
	}
	if (atomic_load(&d->input) != INPUT_DONE) {
		buf_adds(msg, "the sandbox runner broke the protocol: it "
			      "reported success before reading all of its "
			      "input");
		return "internal";
	}
	if (d->out.n == 0) {
		buf_adds(msg, "the sandbox runner broke the protocol: it "
			      "reported success without a SCHEMA frame");
		return "internal";
	}
	if ((d->status_rows_in >= 0 && d->status_rows_in != sent) ||
	    (d->status_rows_out >= 0 && d->status_rows_out != d->rows_out)) {
		buf_addf(msg,
			 "the sandbox runner broke the protocol: its STATUS "
			 "counts %" PRId64 " rows in and %" PRId64
			 " out, the worker %lld and %" PRId64,
			 d->status_rows_in, d->status_rows_out, sent,
			 d->rows_out);
		return "internal";
	}
	if (d->rows_out == 0 && !d->allow_empty) {
		buf_adds(msg, "the script returned no rows (a script whose "
			      "result may be empty says ALLOW_EMPTY = True)");
		return "invalid_output";
	}
	return NULL;
}

void datapath_counts(const struct datapath *d, int64_t *rows_in,
		     int64_t *rows_out)
{
	*rows_in = atomic_load(&d->rows_in);
	*rows_out = d->rows_out;
}

int datapath_commit(struct datapath *d, struct queue_result *res,
		    const char **code, struct buf *err)
{
	int rc;

	*code = NULL;
	rc = publish_finish(&d->pub, d->rows_out, code, err);
	if (rc < 0) {
		/* The COPY's data errors come at its end: the result's fault.
		 */
		if (!*code ||
		    (rc == TW_EVALIDATION && !strcmp(*code, "internal")))
			*code = rc == TW_EVALIDATION ? "invalid_output"
						     : "internal";
		goto fail;
	}
	rc = queue_finish(d->pub.conn, d->job->id, d->w->id, res, err);
	if (rc <= 0) {
		*code = "internal";
		goto fail;
	}
	rc = publish_commit(&d->pub, err);
	if (rc < 0) {
		*code = "internal";
		goto fail;
	}
	d->pub_done = true;
	return 1;
fail:
	datapath_abort(d);
	return rc;
}

void datapath_abort(struct datapath *d)
{
	if (d->pub_opened && !d->pub_done)
		publish_abort(&d->pub);
	d->pub_done = true;
}

void datapath_free(struct datapath *d)
{
	if (!d)
		return;
	datapath_join(d);
	datapath_abort(d);
	if (d->pub_conn)
		db_release(d->w->pool, d->pub_conn, false);
	if (d->src_conn)
		db_release(d->w->pool, d->src_conn, false);
	if (d->src_cancel)
		PQfreeCancel(d->src_cancel);
	db_columns_release(&d->src);
	for (size_t i = 0; i < d->out.n; i++) {
		free(d->out.items[i].name);
		free(d->out.items[i].type);
	}
	free(d->out.items);
	free(d->out_kinds);
	free(d->out_types);
	free(d->src_types);
	free(d->src_kinds);
	if (d->obatch_init)
		colbatch_release(&d->obatch);
	free(d->job_json);
	free(d->status_code);
	buf_release(&d->copy_sql);
	buf_release(&d->reader_err);
	buf_release(&d->status_msg);
	buf_release(&d->fail_msg);
	buf_release(&d->copybuf);
	pthread_mutex_destroy(&d->mu);
	pthread_cond_destroy(&d->cv);
	free(d);
}
