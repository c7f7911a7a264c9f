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
 * runner.c - one job, on a thread of its own: look up its source and open
 * its output (datapath.c), start the sandbox child (the Python runner, or
 * whatever TW_SANDBOX_COMMAND names), let the data path feed it and take
 * its frames (docs/internals/protocol.md), put its log text and stderr in
 * the job's log (capped), sample its CPU and memory every WORKER_SAMPLE_MS
 * (the supervisor kills it when a limit is passed), obey cancel requests,
 * and record the classified outcome, which for a success commits with the
 * published table.
 */

/* How long the database may take per write before the job waits on. */
#define ACQUIRE_MS 2000
/* A line longer than this is written in pieces. */
#define LINE_MAX_BYTES ((size_t)64 * 1024)
/* After the child ended, its pipes get this long to drain. */
#define DRAIN_MS 2000
/* The most of one read of the child's output. */
#define READ_CAP ((size_t)256 * 1024)
/* The OS CPU-time backstop: the wall limit plus this much. */
#define CPU_BACKSTOP_EXTRA_S 5
/* A job's child may write files up to this size in its directory. */
#define FILE_MAX_BYTES ((int64_t)256 * 1024 * 1024)
#define MAX_FILES 256

/* What the runner keeps while a job runs. */
struct run {
	struct worker_slot *slot;
	struct worker *w;
	const struct queue_job *job;
	struct sbx_child *child;
	struct datapath *dp;
	struct buf out;	       /* the child's stdout: frames not yet taken */
	struct buf partial[3]; /* [1] LOG text, [2] stderr: unfinished line */
	struct buf pending;    /* log text not yet written */
	int64_t log_bytes;     /* the stored log's length, with pending */
	bool truncated;	       /* the cap was reached */
	bool gone;	       /* the job is not ours any more */
	struct sbx_sample last;
	bool have_sample;
	int64_t next_metrics;
};

/* "[2026-11-26T06:40:01Z] msg\n", as queue.c stamps its own lines. */
static void stamp_line(struct buf *out, const char *msg)
{
	int64_t sec;
	long nsec;
	struct tm tm;

	plat_realtime(&sec, &nsec);
	plat_gmtime(sec, &tm);
	buf_addf(out, "[%04d-%02d-%02dT%02d:%02d:%02dZ] %s\n",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, msg);
}

/*
 * Adds text (already valid UTF-8, whole lines) to the pending log. At the
 * cap, the lines that still fit are kept, then one line says the rest is
 * dropped, and nothing more of the child's is kept: a short line read
 * after a long dropped batch must not slip in below the cap. force: the
 * worker's own lines about the job's end are kept even past the cap.
 */
static void add_log(struct run *r, const char *text, size_t len, bool force)
{
	const long cap = r->w->cfg->job_log_max_bytes;
	size_t fit;

	if (!force && (r->truncated || r->log_bytes + (int64_t)len > cap)) {
		if (!r->truncated) {
			struct buf note = BUF_INIT(512);
			char msg[200];

			/* The whole lines within the room left. */
			fit = r->log_bytes < cap ? (size_t)(cap - r->log_bytes)
						 : 0;
			while (fit > 0 && text[fit - 1] != '\n')
				fit--;
			buf_add(&r->pending, text, fit);
			r->log_bytes += (int64_t)fit;

			snprintf(msg, sizeof(msg),
				 "log truncated: the job's output passed "
				 "TW_JOB_LOG_MAX_BYTES (%ld bytes); the rest "
				 "is not kept",
				 cap);
			stamp_line(&note, msg);
			buf_add(&r->pending, note.ptr, note.len);
			r->log_bytes += (int64_t)note.len;
			buf_release(&note);
			r->truncated = true;
		}
		return;
	}
	buf_add(&r->pending, text, len);
	r->log_bytes += (int64_t)len;
}

static void add_worker_line(struct run *r, const char *msg, bool force)
{
	struct buf line = BUF_INIT(4096);

	stamp_line(&line, msg);
	add_log(r, line.ptr, line.len, force);
	buf_release(&line);
}

/*
 * Moves the complete lines of partial[which] (and an over-long unfinished
 * one, or everything when flush_all) into the log, as clean UTF-8 without
 * control characters other than newline and tab (str_text_clean()): the
 * log is shown in terminals and pages that must not obey the child's
 * escape sequences.
 */
static void take_lines(struct run *r, int which, bool flush_all)
{
	struct buf *p = &r->partial[which];
	struct buf clean = BUF_INIT(4 * (READ_CAP + LINE_MAX_BYTES));
	size_t upto = 0;

	for (size_t i = p->len; i > 0; i--) {
		if (p->ptr[i - 1] == '\n') {
			upto = i;
			break;
		}
	}
	if (flush_all || p->len - upto >= LINE_MAX_BYTES)
		upto = p->len;
	if (upto == 0)
		goto out;
	str_text_clean(&clean, p->ptr, upto);
	if (clean.len && clean.ptr[clean.len - 1] != '\n')
		buf_addch(&clean, '\n');
	add_log(r, clean.ptr, clean.len, false);
	memmove(p->ptr, p->ptr + upto, p->len - upto);
	buf_setlen(p, p->len - upto);
out:
	buf_release(&clean);
}

/*
 * LOG frames' text (whole lines, by the protocol) into the log, through
 * partial[1] in pieces it has room for.
 */
static void log_text(void *ctx, const char *text, size_t len)
{
	struct run *r = ctx;

	while (len > 0) {
		size_t n = len < READ_CAP ? len : READ_CAP;

		buf_add(&r->partial[1], text, n);
		text += n;
		len -= n;
		take_lines(r, 1, len == 0);
	}
}

static char *metrics_json(const struct run *r)
{
	const struct sbx_sample *s = &r->last;
	json_t *o = json_object();
	int64_t rows_in = 0, rows_out = 0;
	char *text;

	if (r->dp)
		datapath_progress(r->dp, &rows_in, &rows_out);
	json_object_set_new(o, "wall_ms", json_integer(s->wall_ms));
	json_object_set_new(o, "cpu_percent", json_real(s->cpu_percent));
	json_object_set_new(o, "cpu_seconds", json_real(s->cpu_seconds));
	json_object_set_new(o, "rss_bytes", json_integer(s->rss_bytes));
	json_object_set_new(o, "commit_bytes", json_integer(s->commit_bytes));
	json_object_set_new(o, "peak_rss_bytes",
			    json_integer(s->peak_rss_bytes));
	json_object_set_new(o, "rows_in", json_integer(rows_in));
	json_object_set_new(o, "rows_out", json_integer(rows_out));
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return text;
}

/*
 * Writes the pending log (and a metrics event when one is due). A database
 * that does not answer keeps the text pending for the next try; a job that
 * is no longer ours marks the run gone.
 */
static void flush(struct run *r, bool with_metrics)
{
	struct buf err = BUF_INIT(2048);
	char *metrics = NULL;
	PGconn *conn = NULL;
	int rc;

	if (!r->pending.len && !with_metrics)
		goto out;
	rc = db_acquire(r->w->pool, ACQUIRE_MS, &conn, &err);
	if (rc < 0)
		goto fail;
	if (with_metrics && r->have_sample)
		metrics = metrics_json(r);
	rc = queue_append_log(conn, r->job->id, r->w->id, r->pending.ptr,
			      r->pending.len, r->truncated, metrics, &err);
	db_release(r->w->pool, conn, rc < 0);
	if (rc == 0) {
		r->gone = true;
		goto out;
	}
	if (rc < 0)
		goto fail;
	buf_reset(&r->pending);
	goto out;
fail:
	log_warn(LOG_WORKER, "job %" PRId64 ": could not write its log: %s",
		 r->job->id, err.ptr);
out:
	free(metrics);
	buf_release(&err);
}

/* What a job was told to stop for, if anything. */
enum stop_reason {
	STOP_NONE,
	STOP_CANCEL,
	STOP_SHUTDOWN,
	STOP_LOST,
	STOP_FAILED, /* the data path found a failure */
};

static enum stop_reason stop_wanted(struct run *r)
{
	if (r->gone || atomic_load(&r->slot->lost))
		return STOP_LOST;
	if (atomic_load(&r->slot->cancel))
		return STOP_CANCEL;
	if (atomic_load(&r->w->kill_all))
		return STOP_SHUTDOWN;
	return STOP_NONE;
}

/*
 * Pumps the child until it has ended and its pipes are drained: its frames
 * to the data path, its stderr and log text into the log, samples (and
 * limits) every WORKER_SAMPLE_MS, writes every WORKER_FLUSH_MS, kills on a
 * stop request or a failure the data path found. Returns why it was
 * stopped.
 */
static enum stop_reason pump(struct run *r)
{
	struct buf err = BUF_INIT(1024);
	enum stop_reason stopped = STOP_NONE;
	bool eof[3] = { true, false, false };
	int64_t next_sample = plat_monotonic_ms() + WORKER_SAMPLE_MS;
	int64_t next_flush = plat_monotonic_ms() + WORKER_FLUSH_MS;
	int64_t ended_at = -1;
	enum sbx_outcome o = SBX_RUNNING;

	for (;;) {
		int64_t now;
		enum stop_reason want = stop_wanted(r);

		if (want != STOP_NONE && stopped == STOP_NONE &&
		    o == SBX_RUNNING) {
			stopped = want;
			sbx_kill(r->child, SBX_CANCELLED);
			datapath_stop_input(r->dp);
		}
		/* Wait on stdout only; stderr is read as it is. */
		if (!eof[1]) {
			buf_reset(&err);
			if (sbx_read(r->child, 1, &r->out, 50, &eof[1], &err) <
			    0)
				eof[1] = true;
		}
		if (datapath_poll(r->dp, &r->out, eof[1], log_text, r) < 0 &&
		    stopped == STOP_NONE) {
			stopped = STOP_FAILED;
			if (o == SBX_RUNNING)
				sbx_kill(r->child, SBX_CANCELLED);
			datapath_stop_input(r->dp);
		}
		if (!eof[2]) {
			struct buf *p = &r->partial[2];

			buf_reset(&err);
			if (p->len >= READ_CAP)
				take_lines(r, 2, true);
			if (sbx_read(r->child, 2, p, eof[1] ? 50 : 0, &eof[2],
				     &err) < 0)
				eof[2] = true;
			take_lines(r, 2, eof[2]);
		}
		/*
		 * Both pipes closed: the child is most likely ending. Wait for
		 * it here (50 ms at most) rather than until the next sample,
		 * which would add up to WORKER_SAMPLE_MS to every short job.
		 */
		if (eof[1] && eof[2] && o == SBX_RUNNING) {
			struct sbx_exit ex;

			buf_reset(&err);
			if (sbx_wait(r->child, 50, &ex, &err) == 0) {
				o = ex.outcome;
				ended_at = plat_monotonic_ms();
			}
		}
		now = plat_monotonic_ms();
		if (o == SBX_RUNNING && now >= next_sample) {
			o = sbx_poll(r->child, &r->last);
			r->have_sample = true;
			next_sample = now + WORKER_SAMPLE_MS;
			if (o != SBX_RUNNING)
				ended_at = now;
		}
		if (now >= next_flush) {
			bool m = now >= r->next_metrics;

			flush(r, m);
			if (m)
				r->next_metrics = now + WORKER_METRICS_MS;
			next_flush = now + WORKER_FLUSH_MS;
		}
		if (o != SBX_RUNNING &&
		    ((eof[1] && eof[2]) || now - ended_at > DRAIN_MS))
			break;
	}
	take_lines(r, 2, true);
	buf_release(&err);
	return stopped;
}

/*
 * Fills res (status, error_code, message) from how the job ended: a stop
 * request, then a limit the supervisor enforced, then a failure the data
 * path found or the runner reported, then the child's exit; a clean exit
 * succeeds only when the data path is satisfied too.
 */
static void classify(const struct run *r, enum stop_reason stopped,
		     const struct sbx_exit *ex, struct queue_result *res,
		     struct buf *msg)
{
	const struct cfg *cfg = r->w->cfg;
	const char *code;

	res->status = "failed";
	if (stopped == STOP_CANCEL || stopped == STOP_SHUTDOWN ||
	    stopped == STOP_LOST) {
		res->status = "cancelled";
		buf_adds(msg, stopped == STOP_SHUTDOWN ? "the worker stopped "
							 "before the job "
							 "finished"
						       : "cancelled on "
							 "request");
		return;
	}
	switch (ex->outcome) {
	case SBX_KILLED_TIMEOUT:
		res->error_code = "timeout";
		buf_addf(msg, "ran longer than TW_JOB_TIMEOUT_S (%ld s)",
			 cfg->job_timeout_s);
		return;
	case SBX_KILLED_MEMORY:
		res->error_code = "memory_limit";
		buf_addf(msg,
			 "used more memory than TW_JOB_MEMORY_MB (%ld MiB)",
			 cfg->job_memory_mb);
		return;
	case SBX_KILLED_CPU:
		res->error_code = "cpu_limit";
		buf_addf(msg,
			 "used more than %ld%% CPU for over %ld s, or its "
			 "CPU-time allowance",
			 cfg->job_cpu_percent, cfg->job_cpu_grace_s);
		return;
	default:
		break;
	}
	code = datapath_failure(r->dp, msg);
	if (code) {
		res->error_code = code;
		return;
	}
	switch (ex->outcome) {
	case SBX_EXITED:
		if (ex->exit_code == 0) {
			code = datapath_check_success(r->dp, msg);
			if (code)
				res->error_code = code;
			else
				res->status = "succeeded";
			return;
		}
		/*
		 * The runner reports the user's errors in its STATUS
		 * frame (datapath_failure() above); an exit without one
		 * is the runner's own failure, explained in its log.
		 */
		res->error_code = "internal";
		buf_addf(msg,
			 "the sandbox runner exited with status %d without "
			 "reporting a result",
			 ex->exit_code);
		break;
	case SBX_CRASHED:
		res->error_code = "internal";
		buf_addf(msg, "the sandbox process crashed (signal %d)",
			 ex->signal);
		break;
	default:
		res->error_code = "internal";
		buf_addf(msg, "the sandbox process ended as %s",
			 sbx_outcome_name(ex->outcome));
		break;
	}
}

static void record(struct run *r, struct queue_result *res)
{
	struct buf err = BUF_INIT(2048);
	PGconn *conn = NULL;
	int64_t give_up = plat_monotonic_ms() + r->w->cfg->job_lease_s * 1000;
	int rc;

	res->log_tail = r->pending.ptr;
	res->log_tail_len = r->pending.len;
	res->log_truncated = r->truncated;
	/* Keep trying while the lease lasts: after it the job is recovered. */
	for (;;) {
		buf_reset(&err);
		rc = db_acquire(r->w->pool, ACQUIRE_MS, &conn, &err);
		if (rc == 0) {
			rc = queue_finish(conn, r->job->id, r->w->id, res,
					  &err);
			db_release(r->w->pool, conn, rc < 0);
		}
		if (rc >= 0 || plat_monotonic_ms() > give_up)
			break;
		plat_sleep_ms(500);
	}
	if (rc == 0)
		log_warn(LOG_WORKER,
			 "job %" PRId64 ": finished as %s, but it was no "
			 "longer this worker's; nothing recorded",
			 r->job->id, res->status);
	else if (rc < 0)
		log_error(LOG_WORKER,
			  "job %" PRId64 ": could not record its outcome: %s",
			  r->job->id, err.ptr);
	buf_release(&err);
}

/* The worker's line about the job's end, kept even past the log cap. */
static void final_line(struct run *r, const struct queue_result *res,
		       const char *msg)
{
	struct buf line = BUF_INIT(8192);

	buf_addf(&line, "%s", res->status);
	if (res->error_code)
		buf_addf(&line, " (%s)", res->error_code);
	buf_addf(&line, " after %.2f s; peak memory %.1f MiB, CPU %.2f s",
		 (double)res->duration_ms / 1000.0,
		 (double)res->peak_memory_bytes / 1048576.0, res->cpu_seconds);
	if (res->rows_in >= 0)
		buf_addf(&line, "; %" PRId64 " rows in", res->rows_in);
	if (res->rows_out >= 0)
		buf_addf(&line, ", %" PRId64 " rows out", res->rows_out);
	if (msg && *msg)
		buf_addf(&line, ": %s", msg);
	add_worker_line(r, line.ptr, true);
	buf_release(&line);
}

static void start_child(struct run *r, struct sbx_opts *so)
{
	const struct cfg *cfg = r->w->cfg;

	memset(so, 0, sizeof(*so));
	so->argv = (const char *const *)r->w->argv;
	so->sandbox_dir = cfg->sandbox_dir;
	so->job_id = r->job->id;
	so->env_allow = sbx_runner_env_allow;
	so->env_extra = sbx_runner_env_extra;
	so->run_as_user = cfg->sandbox_user;
	so->limits.wall_ms = cfg->job_timeout_s * 1000;
	so->limits.memory_bytes = (int64_t)cfg->job_memory_mb * 1024 * 1024;
	so->limits.cpu_percent = (double)cfg->job_cpu_percent;
	so->limits.cpu_grace_ms = cfg->job_cpu_grace_s * 1000;
	so->limits.cpu_seconds = cfg->job_timeout_s + CPU_BACKSTOP_EXTRA_S;
	so->limits.file_bytes = FILE_MAX_BYTES;
	so->limits.max_files = MAX_FILES;
}

/*
 * A result that may be published: the table and the job's outcome commit
 * together. Returns true when that is done (or the job is no longer ours:
 * nothing to record); false with res turned into a failure to record.
 */
static bool publish(struct run *r, struct queue_result *res, struct buf *msg)
{
	struct buf err = BUF_INIT(4096);
	size_t mark = r->pending.len;
	int64_t bytes = r->log_bytes;
	const char *code = NULL;
	int rc;

	final_line(r, res, NULL);
	res->log_tail = r->pending.ptr;
	res->log_tail_len = r->pending.len;
	res->log_truncated = r->truncated;
	rc = datapath_commit(r->dp, res, &code, &err);
	if (rc == 1) {
		buf_reset(&r->pending);
		goto out;
	}
	if (rc == 0) {
		log_warn(LOG_WORKER,
			 "job %" PRId64 ": finished, but it was no longer this "
			 "worker's; nothing published or recorded",
			 r->job->id);
		goto out;
	}
	/* Rolled back, the line saying it succeeded too. */
	buf_setlen(&r->pending, mark);
	r->log_bytes = bytes;
	res->status = "failed";
	res->error_code = code ? code : "internal";
	res->rows_out = -1;
	buf_reset(msg);
	buf_addf(msg, "could not publish the result: %s", err.ptr);
out:
	buf_release(&err);
	return rc >= 0;
}

static void run_job(struct run *r)
{
	struct sbx_opts so;
	struct sbx_exit ex;
	struct queue_result res;
	struct buf err = BUF_INIT(4096);
	struct buf msg = BUF_INIT(4096);
	enum stop_reason stopped = STOP_NONE;
	int64_t t0 = plat_monotonic_ms();
	const char *code = NULL;
	int rc;

	memset(&ex, 0, sizeof(ex));
	memset(&res, 0, sizeof(res));
	res.rows_in = -1;
	res.rows_out = -1;
	r->dp = datapath_new(r->w, r->job);
	/* A missing source or a taken destination: no child at all. */
	rc = datapath_prepare(r->dp, &code, &msg);
	if (rc < 0) {
		res.status = "failed";
		res.error_code = code;
		goto done;
	}
	start_child(r, &so);
	rc = sbx_spawn(&so, &r->child, &err);
	if (rc < 0) {
		res.status = "failed";
		res.error_code = "internal";
		buf_addf(&msg, "could not start the sandbox: %s", err.ptr);
		goto done;
	}
	log_info(LOG_WORKER, "job %" PRId64 ": sandbox pid %ld started (%s)",
		 r->job->id, sbx_child_pid(r->child),
		 sbx_child_isolation(r->child));
	buf_reset(&err);
	rc = datapath_start(r->dp, r->child, &err);
	if (rc < 0) {
		sbx_kill(r->child, SBX_CANCELLED);
		sbx_wait(r->child, -1, &ex, &err);
		res.status = "failed";
		res.error_code = "internal";
		buf_addf(&msg, "%s", err.ptr);
		goto done;
	}
	stopped = pump(r);
	buf_reset(&err);
	if (sbx_wait(r->child, DRAIN_MS, &ex, &err) < 0) {
		sbx_kill(r->child, SBX_CANCELLED);
		sbx_wait(r->child, -1, &ex, &err);
	}
	/* The child is gone: a reader blocked on its stdin is not. */
	datapath_join(r->dp);
	if (!r->have_sample || ex.last.wall_ms > 0)
		r->last = ex.last;
	res.peak_memory_bytes = r->last.peak_rss_bytes;
	res.cpu_seconds = r->last.cpu_seconds;
	classify(r, stopped, &ex, &res, &msg);
	datapath_counts(r->dp, &res.rows_in, &res.rows_out);
	if (strcmp(res.status, "succeeded") != 0)
		res.rows_out = -1;
done:
	res.duration_ms = plat_monotonic_ms() - t0;
	if (stopped == STOP_LOST || r->gone) {
		log_warn(LOG_WORKER,
			 "job %" PRId64 ": stopped, its lease was lost",
			 r->job->id);
		goto out;
	}
	/* From here the row leaves "running": not a lost lease. */
	atomic_store(&r->slot->ending, true);
	if (!strcmp(res.status, "succeeded") && publish(r, &res, &msg))
		goto logged;
	datapath_abort(r->dp);
	final_line(r, &res, msg.ptr);
	res.error_message = msg.len ? msg.ptr : NULL;
	record(r, &res);
logged:
	log_info(LOG_WORKER, "job %" PRId64 ": %s%s%s in %" PRId64 " ms",
		 r->job->id, res.status, res.error_code ? " " : "",
		 res.error_code ? res.error_code : "", res.duration_ms);
out:
	/* The reader uses the child: it goes first. */
	datapath_free(r->dp);
	r->dp = NULL;
	sbx_child_free(r->child);
	r->child = NULL;
	buf_release(&err);
	buf_release(&msg);
}

void *worker__run(void *arg)
{
	struct worker_slot *slot = arg;
	struct run r;

	memset(&r, 0, sizeof(r));
	r.slot = slot;
	r.w = slot->w;
	r.job = &slot->job;
	r.log_bytes = slot->job.log_bytes;
	/* Room for one frame of the largest kind (the data path's caps). */
	buf_init(&r.out, FRAME_HEADER_BYTES + FRAME_MAX_BATCH);
	buf_init(&r.partial[1], READ_CAP + LINE_MAX_BYTES);
	buf_init(&r.partial[2], READ_CAP + LINE_MAX_BYTES);
	/* Pending text is written every WORKER_FLUSH_MS; the cap bounds it. */
	buf_init(&r.pending, (size_t)r.w->cfg->job_log_max_bytes + 65536);
	run_job(&r);
	buf_release(&r.out);
	buf_release(&r.partial[1]);
	buf_release(&r.partial[2]);
	buf_release(&r.pending);
	atomic_store(&slot->done, true);
	return NULL;
}
