#include "core/compat.h"

#include <sodium.h>

#include "core/err.h"
#include "core/mem.h"
#include "log/log.h"
#include "platform/plat.h"
#include "sandbox/sandbox.h"
#include "worker/worker_int.h"

/*
 * worker.c - the dispatcher: one thread per worker that owns the LISTEN
 * connection, claims jobs into free slots, heartbeats, recovers jobs of
 * vanished workers, passes cancel requests on, and reconnects with backoff.
 * runner.c runs each claimed job on a thread of its own.
 */

/*
 * The dispatcher wakes at least this often (stop requests), and more often
 * while jobs run, so a freed slot takes the next queued job within
 * BUSY_TICK_MS (a runner has no way into the wait on the LISTEN socket).
 */
#define TICK_MS 250
#define BUSY_TICK_MS 20
/* Safety net for a missed NOTIFY: look at the queue this often anyway. */
#define POLL_MS 5000
/* Reconnect backoff: from the first to the last, doubling. */
#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 10000
/* How long the dispatcher waits for a pooled connection. */
#define ACQUIRE_MS 5000
/* Ids a heartbeat reports at most (more than any concurrency allowed). */
#define HEARTBEAT_CAP 512

/* The dispatcher's state between ticks. */
struct dispatch {
	struct worker *w;
	PGconn *conn; /* held from the pool; LISTENs */
	int64_t backoff_ms;
	int64_t next_heartbeat;
	int64_t next_recover;
	int64_t next_poll;
	bool want_claim;
	bool reported_down; /* the outage was logged once */
};

static int64_t heartbeat_ms(const struct cfg *cfg)
{
	int64_t ms = cfg->job_lease_s * 1000 / 4;

	return ms < 250 ? 250 : ms > 10000 ? 10000 : ms;
}

static int64_t recover_ms(const struct cfg *cfg)
{
	int64_t ms = cfg->job_lease_s * 1000 / 2;

	return ms < 1000 ? 1000 : ms;
}

/* --- slots ---------------------------------------------------------------- */

static struct worker_slot *slot_of_job(struct worker *w, int64_t id)
{
	for (int i = 0; i < w->concurrency; i++)
		if (w->slots[i].busy && w->slots[i].job.id == id)
			return &w->slots[i];
	return NULL;
}

static struct worker_slot *free_slot(struct worker *w)
{
	for (int i = 0; i < w->concurrency; i++)
		if (!w->slots[i].busy)
			return &w->slots[i];
	return NULL;
}

/* Jobs running now; any thread may ask. */
static int busy_slots(struct worker *w)
{
	return atomic_load(&w->running);
}

/* Joins the threads of finished jobs; true when a slot came free. */
static bool reap_slots(struct worker *w)
{
	bool freed = false;

	for (int i = 0; i < w->concurrency; i++) {
		struct worker_slot *s = &w->slots[i];

		if (!s->busy || !atomic_load(&s->done))
			continue;
		pthread_join(s->thread, NULL);
		queue_job_release(&s->job);
		s->busy = false;
		atomic_fetch_sub(&w->running, 1);
		freed = true;
	}
	return freed;
}

/*
 * Starts the runner of the job just claimed into s. Without a thread the
 * job cannot run here: it is failed at once (left running, our own
 * heartbeat would keep it alive forever).
 */
static int start_slot(struct dispatch *d, struct worker_slot *s,
		      struct buf *err)
{
	struct worker *w = d->w;
	struct queue_result res;
	char why[256];
	int e, rc;

	s->w = w;
	atomic_store(&s->cancel, false);
	atomic_store(&s->lost, false);
	atomic_store(&s->ending, false);
	atomic_store(&s->done, false);
	e = pthread_create(&s->thread, NULL, worker__run, s);
	if (e != 0) {
		snprintf(why, sizeof(why), "could not start a thread: %s",
			 plat_strerror(e));
		log_error(LOG_WORKER, "job %" PRId64 ": %s", s->job.id, why);
		memset(&res, 0, sizeof(res));
		res.status = "failed";
		res.error_code = "internal";
		res.error_message = why;
		res.rows_in = -1;
		res.rows_out = -1;
		rc = queue_finish(d->conn, s->job.id, w->id, &res, err);
		queue_job_release(&s->job);
		return rc < 0 ? rc : 0;
	}
	s->busy = true;
	atomic_fetch_add(&w->running, 1);
	return 0;
}

/* --- the connection ------------------------------------------------------- */

static void drop_conn(struct dispatch *d, const char *what, struct buf *err)
{
	if (!d->reported_down)
		log_warn(LOG_WORKER,
			 "lost the database while %s: %s; "
			 "reconnecting",
			 what, err->len ? err->ptr : "connection closed");
	d->reported_down = true;
	if (d->conn)
		db_release(d->w->pool, d->conn, true);
	d->conn = NULL;
}

/* Sleeps the backoff, in slices, so a stop is not kept waiting. */
static void backoff_sleep(struct dispatch *d)
{
	int64_t end = plat_monotonic_ms() + d->backoff_ms;

	while (plat_monotonic_ms() < end) {
		if (atomic_load(&d->w->stopping) && busy_slots(d->w) == 0)
			return;
		plat_sleep_ms(TICK_MS / 5);
	}
}

/* Takes a connection and LISTENs; on failure, waits out the backoff. */
static void connect_listen(struct dispatch *d)
{
	struct buf err = BUF_INIT(1024);
	PGconn *conn = NULL;
	int rc;

	rc = db_acquire(d->w->pool, ACQUIRE_MS, &conn, &err);
	if (rc == 0)
		rc = db_exec(conn, "LISTEN " QUEUE_CHANNEL_JOBS, 0, NULL, NULL,
			     &err);
	if (rc == 0)
		rc = db_exec(conn, "LISTEN " QUEUE_CHANNEL_CANCEL, 0, NULL,
			     NULL, &err);
	if (rc < 0) {
		if (conn)
			db_release(d->w->pool, conn, true);
		if (!d->reported_down)
			log_warn(LOG_WORKER,
				 "could not reach the database: %s; "
				 "retrying with backoff",
				 err.ptr);
		d->reported_down = true;
		backoff_sleep(d);
		d->backoff_ms *= 2;
		if (d->backoff_ms > BACKOFF_MAX_MS)
			d->backoff_ms = BACKOFF_MAX_MS;
		goto out;
	}
	if (d->reported_down)
		log_info(LOG_WORKER, "database reachable again");
	d->reported_down = false;
	d->backoff_ms = BACKOFF_MIN_MS;
	d->conn = conn;
	/* Whatever was notified while we were away: look now. */
	d->want_claim = true;
	d->next_heartbeat = 0;
out:
	buf_release(&err);
}

/* --- one tick's duties ---------------------------------------------------- */

static int heartbeat(struct dispatch *d, struct buf *err)
{
	struct worker *w = d->w;
	int64_t cancel[HEARTBEAT_CAP], held[HEARTBEAT_CAP];
	size_t ncancel = 0, nheld = 0;
	int rc;

	rc = queue_heartbeat(d->conn, w->id, w->hostname.ptr, plat_getpid(),
			     w->concurrency, cancel, &ncancel, held, &nheld,
			     HEARTBEAT_CAP, err);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < ncancel; i++) {
		struct worker_slot *s = slot_of_job(w, cancel[i]);

		if (s)
			atomic_store(&s->cancel, true);
	}
	/* A job of ours the table no longer gives us was taken away. */
	for (int i = 0; i < w->concurrency; i++) {
		struct worker_slot *s = &w->slots[i];
		bool found = false;

		if (!s->busy || atomic_load(&s->done) ||
		    atomic_load(&s->ending))
			continue;
		for (size_t k = 0; k < nheld && !found; k++)
			found = held[k] == s->job.id;
		if (!found && !atomic_load(&s->lost)) {
			log_warn(LOG_WORKER,
				 "job %" PRId64 " is no longer held by this "
				 "worker (lease lost); stopping it",
				 s->job.id);
			atomic_store(&s->lost, true);
		}
	}
	return 0;
}

static int recover(struct dispatch *d, struct buf *err)
{
	int n = 0;
	int rc = queue_recover(d->conn, d->w->cfg->job_lease_s, &n, err);

	if (rc == 0 && n > 0)
		log_warn(LOG_WORKER,
			 "recovered %d job%s whose worker stopped "
			 "heartbeating",
			 n, n == 1 ? "" : "s");
	return rc;
}

static int claim(struct dispatch *d, struct buf *err)
{
	struct worker *w = d->w;
	struct worker_slot *s;
	int rc = 0;

	while (d->want_claim && !atomic_load(&w->stopping)) {
		s = free_slot(w);
		if (!s)
			break;
		rc = queue_claim(d->conn, w->id, &s->job, err);
		if (rc < 0)
			break;
		if (rc == 0) {
			d->want_claim = false;
			break;
		}
		rc = 0;
		log_info(LOG_WORKER,
			 "job %" PRId64 ": claimed (attempt %d of %d), "
			 "script %" PRId64 " v%d, %s -> %s (%s)",
			 s->job.id, s->job.attempt, s->job.max_attempts,
			 s->job.script_id, s->job.script_version,
			 s->job.source_table, s->job.destination_table,
			 s->job.mode);
		rc = start_slot(d, s, err);
		if (rc < 0)
			break;
	}
	return rc;
}

/* Reads what LISTEN brought: new jobs and cancel requests. */
static int take_notifications(struct dispatch *d, struct buf *err)
{
	PGnotify *n;

	if (!PQconsumeInput(d->conn)) {
		buf_adds(err, PQerrorMessage(d->conn));
		buf_trim(err);
		return TW_EUNAVAIL;
	}
	while ((n = PQnotifies(d->conn)) != NULL) {
		if (!strcmp(n->relname, QUEUE_CHANNEL_JOBS)) {
			d->want_claim = true;
		} else if (!strcmp(n->relname, QUEUE_CHANNEL_CANCEL)) {
			struct worker_slot *s =
				slot_of_job(d->w, strtoll(n->extra, NULL, 10));

			if (s)
				atomic_store(&s->cancel, true);
		}
		PQfreemem(n);
	}
	return 0;
}

static void tick(struct dispatch *d)
{
	struct worker *w = d->w;
	struct buf err = BUF_INIT(2048);
	int64_t now = plat_monotonic_ms();
	int rc = 0;
	const char *what = "heartbeating";

	if (reap_slots(w))
		d->want_claim = true;
	if (now >= d->next_heartbeat) {
		rc = heartbeat(d, &err);
		d->next_heartbeat = now + heartbeat_ms(w->cfg);
	}
	if (rc == 0 && now >= d->next_recover) {
		what = "recovering lost jobs";
		rc = recover(d, &err);
		d->next_recover = now + recover_ms(w->cfg);
	}
	if (rc == 0 && now >= d->next_poll) {
		d->want_claim = true;
		d->next_poll = now + POLL_MS;
	}
	if (rc == 0) {
		what = "claiming a job";
		rc = claim(d, &err);
	}
	if (rc == 0) {
		what = "waiting for notifications";
		rc = plat_socket_wait(PQsocket(d->conn), busy_slots(w) > 0
								 ? BUSY_TICK_MS
								 : TICK_MS);
		if (rc >= 0)
			rc = take_notifications(d, &err);
	}
	if (rc < 0)
		drop_conn(d, what, &err);
	buf_release(&err);
}

static void *dispatch_main(void *arg)
{
	struct worker *w = arg;
	struct dispatch d;

	memset(&d, 0, sizeof(d));
	d.w = w;
	d.backoff_ms = BACKOFF_MIN_MS;
	d.want_claim = true;
	/* Leave only when told to and no job of ours is left running. */
	while (!atomic_load(&w->stopping) || busy_slots(w) > 0) {
		if (!d.conn) {
			reap_slots(w);
			connect_listen(&d);
			continue;
		}
		tick(&d);
	}
	if (d.conn) {
		struct buf err = BUF_INIT(1024);

		if (queue_worker_gone(d.conn, w->id, &err) < 0)
			log_warn(LOG_WORKER, "could not deregister: %s",
				 err.ptr);
		db_exec(d.conn, "UNLISTEN *", 0, NULL, NULL, NULL);
		db_release(w->pool, d.conn, false);
		buf_release(&err);
	}
	return NULL;
}

/* --- lifecycle ------------------------------------------------------------ */

/*
 * log_tree_containment() says at start-up whether a child's death ends
 * everything it started: a PID namespace per child, or a warning that a
 * process a job started outside its group may outlive a worker killed
 * with SIGKILL (docs/sandbox.md, "nothing outlives a job").
 */
static void log_tree_containment(void)
{
	struct buf why = BUF_INIT(1024);

	if (sbx_tree_contained(&why))
		log_info(LOG_WORKER, "sandbox children start in a PID "
				     "namespace of their own: nothing a job "
				     "starts outlives it");
	else
		log_warn(LOG_WORKER,
			 "sandbox children get no PID namespace of their own "
			 "(%s): a process a job starts that leaves its process "
			 "group may outlive a worker killed with SIGKILL (see "
			 "\"nothing outlives a job\" in docs/sandbox.md)",
			 why.ptr);
	buf_release(&why);
}

int worker_start(const struct cfg *cfg, int concurrency, struct worker **out,
		 struct buf *err)
{
	struct db_pool_opts po;
	struct worker *w;
	unsigned char rnd[4];
	bool drops = false, from_setting;
	int rc, e, argc = 0;

	/*
	 * Before any child exists: no process of our user (a sandbox child
	 * that runs as we do) may read our environment or memory, and a
	 * sandbox user that is missing or root stops the start here rather
	 * than failing every job.
	 */
	rc = plat_harden_process(err);
	if (rc < 0)
		return rc;
	rc = sbx_check_user(cfg->sandbox_user, &drops, err);
	if (rc < 0) {
		buf_errf(err, " (TW_SANDBOX_USER names the user a worker "
			      "running as root starts its sandbox children "
			      "as; create that user or name another)");
		return rc;
	}
	w = xcalloc(1, sizeof(*w));
	w->cfg = cfg;
	w->concurrency = concurrency > 0 ? concurrency : plat_cpu_count();
	buf_init(&w->hostname, 256);
	plat_hostname(&w->hostname);
	if (sodium_init() < 0)
		TW_BUG("libsodium could not be initialised");
	randombytes_buf(rnd, sizeof(rnd));
	snprintf(w->id, sizeof(w->id), "%.100s:%ld:%02x%02x%02x%02x",
		 w->hostname.ptr, plat_getpid(), rnd[0], rnd[1], rnd[2],
		 rnd[3]);
	/*
	 * The configuration refused an unclosed quote already; a command of
	 * spaces only counts as unset.
	 */
	if (cfg->sandbox_command) {
		rc = plat_split_command(cfg->sandbox_command, &w->argv, &argc,
					err);
		if (rc < 0) {
			buf_errf(err, " in TW_SANDBOX_COMMAND");
			goto fail;
		}
		if (argc == 0) {
			plat_argv_free(w->argv);
			w->argv = NULL;
		}
	}
	/* Unset: the Python runner; without an interpreter, refuse now. */
	from_setting = w->argv != NULL;
	if (!w->argv) {
		rc = sbx_runner_argv(cfg->python, &w->argv, err);
		if (rc < 0)
			goto fail;
	}
	w->slots = xcalloc((size_t)w->concurrency, sizeof(*w->slots));
	atomic_init(&w->stopping, false);
	atomic_init(&w->kill_all, false);
	atomic_init(&w->running, 0);

	memset(&po, 0, sizeof(po));
	po.url = cfg->database_url;
	po.app_schema = cfg->app_schema;
	/*
	 * Three per job (the source's COPY, the publishing transaction, the
	 * log writes), the dispatcher's, and one to spare.
	 */
	po.size = 3 * w->concurrency + 2;
	po.application_name = "tablewright worker";
	rc = db_pool_new(&w->pool, &po, err);
	if (rc < 0)
		goto fail;
	e = pthread_create(&w->dispatcher, NULL, dispatch_main, w);
	if (e != 0) {
		buf_errf(err, "could not start the worker's thread: %s",
			 plat_strerror(e));
		rc = TW_EINTERNAL;
		goto fail;
	}
	if (from_setting)
		log_info(LOG_WORKER, "sandbox runner: %s (TW_SANDBOX_COMMAND)",
			 w->argv[0]);
	else
		log_info(LOG_WORKER,
			 "sandbox runner: %s -I -m "
			 "tablewright_runner",
			 w->argv[0]);
	log_info(LOG_WORKER, "worker %s started, %d job%s at once", w->id,
		 w->concurrency, w->concurrency == 1 ? "" : "s");
	if (drops)
		log_info(LOG_WORKER, "sandbox children run as user \"%s\"",
			 cfg->sandbox_user);
	else
		log_info(LOG_WORKER, "sandbox children run as this worker's "
				     "account: "
				     "they can read the files it can read, "
				     "such as .env "
				     "(see \"The sandbox child's privileges\" "
				     "in "
				     "docs/jobs.md)");
	log_tree_containment();
	*out = w;
	return 0;
fail:
	db_pool_free(w->pool);
	plat_argv_free(w->argv);
	free(w->slots);
	buf_release(&w->hostname);
	free(w);
	return rc;
}

const char *worker_id(const struct worker *w)
{
	return w->id;
}

int worker_concurrency(const struct worker *w)
{
	return w->concurrency;
}

void worker_stop(struct worker *w)
{
	int64_t deadline;
	int left;

	if (!w)
		return;
	atomic_store(&w->stopping, true);
	left = busy_slots(w);
	if (left > 0)
		log_info(LOG_WORKER,
			 "stopping: waiting up to %ld s for %d running job%s",
			 w->cfg->worker_stop_s, left, left == 1 ? "" : "s");
	deadline = plat_monotonic_ms() + w->cfg->worker_stop_s * 1000;
	/* The dispatcher goes on heartbeating, so the jobs keep their lease. */
	while (busy_slots(w) > 0 && plat_monotonic_ms() < deadline)
		plat_sleep_ms(50);
	if (busy_slots(w) > 0) {
		log_warn(LOG_WORKER, "stop deadline passed: cancelling the "
				     "jobs still running");
		atomic_store(&w->kill_all, true);
	}
	pthread_join(w->dispatcher, NULL);
	log_info(LOG_WORKER, "worker %s stopped", w->id);
	db_pool_free(w->pool);
	plat_argv_free(w->argv);
	free(w->slots);
	buf_release(&w->hostname);
	free(w);
}
