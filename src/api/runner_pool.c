#include "core/compat.h"

#include <pthread.h>

#include "api/api_int.h"
#include "core/err.h"
#include "core/mem.h"
#include "log/log.h"
#include "platform/plat.h"
#include "sandbox/sandbox.h"

/*
 * runner_pool.c - the sandbox runners of the server, for previews and
 * validation (preview.c): the same Python runner a job runs, under the same
 * supervisor, limits and user (src/sandbox/sandbox.h), never user code in
 * the server's own process.
 *
 * A cold runner spends 0.5 to 1 s importing pandas and pyarrow before it
 * reads its job, most of a preview's time. So a thread keeps
 * TW_PREVIEW_POOL runners started ahead: they import, then wait on their
 * stdin for a job. Each serves one request only (a runner that has run
 * someone's code is never reused) and a fresh one is started in its place
 * in the background. A pooled runner is replaced once it has waited
 * POOL_IDLE_MS, so that one taken always has its whole preview time left
 * before its own wall limit (POOL_IDLE_MS + TW_PREVIEW_TIMEOUT_S + a
 * margin); one that died while it waited is replaced too, after a pause
 * that doubles while runners keep dying young (a broken venv must not make
 * the server fork in a loop). TW_PREVIEW_POOL = 0 starts one per request.
 *
 * A validation needs no pandas: it gets a runner of its own, started with
 * the argument "validate" (Python and RestrictedPython only, about a tenth
 * of a preview runner's start), so checking code as the user types never
 * drains the preview pool.
 *
 * At most max_active requests use runners at once (twice the pool, at
 * least 4, at most TW_HTTP_THREADS - 2); one more is 429.
 * docs/internals/api-preview.md tells the rest.
 */

/* How long a runner may wait in the pool before it is replaced. */
#define POOL_IDLE_MS ((int64_t)300 * 1000)
/* A runner's wall limit beyond POOL_IDLE_MS and the preview's timeout. */
#define WALL_MARGIN_MS ((int64_t)10 * 1000)
/* How often the pool's thread looks at its runners. */
#define TICK_MS 500
/* A runner that dies younger than this while waiting counts as broken. */
#define YOUNG_DEATH_MS ((int64_t)30 * 1000)
/* A waiting runner alive this long has imported: the pool is healthy again
 * and the pause between starts goes back to none. */
#define SETTLED_MS ((int64_t)5 * 1000)
#define BACKOFF_MIN_MS ((int64_t)1000)
#define BACKOFF_MAX_MS ((int64_t)60 * 1000)
/* What a runner may write in its directory, and its open files. */
#define FILE_MAX_BYTES ((int64_t)64 * 1024 * 1024)
/* A validation runner's limits (the check itself has API_VALIDATE_MS). */
#define VALIDATE_WALL_MS (API_VALIDATE_MS + 5000)
#define VALIDATE_MEMORY_BYTES ((int64_t)512 * 1024 * 1024)
#define MAX_FILES 256

struct pooled {
	struct sbx_child *child;
	int64_t born_ms;
};

struct api_runners {
	const struct cfg *cfg;
	char **argv;	/* NULL: previews are unavailable (why) */
	char **vargv;	/* argv + "validate": a runner that only checks */
	struct buf why; /* the reason, for the replies */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	bool thread_started;
	bool stopping;	     /* under mu */
	struct pooled *idle; /* under mu: the oldest first */
	size_t nidle;	     /* under mu */
	size_t target;	     /* TW_PREVIEW_POOL */
	int active;	     /* under mu: requests using a runner */
	int max_active;
	unsigned long seq;     /* under mu: directory names */
	int64_t backoff_ms;    /* the pool's thread only */
	int64_t next_spawn_ms; /* the pool's thread only */
};

/* The wall limit of a runner: its idle time, a request's and a margin. */
static int64_t runner_wall_ms(const struct cfg *cfg)
{
	return POOL_IDLE_MS + cfg->preview_timeout_s * 1000 + WALL_MARGIN_MS;
}

/*
 * spawn_runner() starts a runner: one for a preview (it imports pandas and
 * waits for its job), or with validate one that only compiles, which
 * starts in a tenth of the time and needs little memory.
 */
static int spawn_runner(struct api_runners *p, bool validate,
			struct sbx_child **out, struct buf *err)
{
	const struct cfg *cfg = p->cfg;
	struct sbx_opts so;
	char name[64];
	unsigned long n;

	pthread_mutex_lock(&p->mu);
	n = ++p->seq;
	pthread_mutex_unlock(&p->mu);
	snprintf(name, sizeof(name), "preview-%ld-%lu", plat_getpid(), n);
	memset(&so, 0, sizeof(so));
	so.argv = (const char *const *)(validate ? p->vargv : p->argv);
	so.sandbox_dir = cfg->sandbox_dir;
	so.dir_name = name;
	so.env_allow = sbx_runner_env_allow;
	so.env_extra = sbx_runner_env_extra;
	so.run_as_user = cfg->sandbox_user;
	so.limits.wall_ms = runner_wall_ms(cfg);
	so.limits.memory_bytes = (int64_t)cfg->job_memory_mb * 1024 * 1024;
	so.limits.cpu_percent = (double)cfg->job_cpu_percent;
	so.limits.cpu_grace_ms = cfg->job_cpu_grace_s * 1000;
	/* Idle, a runner uses no CPU: its import and one request's worth. */
	so.limits.cpu_seconds = cfg->preview_timeout_s + 30;
	so.limits.file_bytes = FILE_MAX_BYTES;
	so.limits.max_files = MAX_FILES;
	if (validate) {
		so.limits.wall_ms = VALIDATE_WALL_MS;
		so.limits.cpu_seconds = VALIDATE_WALL_MS / 1000;
		if (so.limits.memory_bytes > VALIDATE_MEMORY_BYTES)
			so.limits.memory_bytes = VALIDATE_MEMORY_BYTES;
	}
	return sbx_spawn(&so, out, err);
}

/*
 * One look at the pool: runners that died or waited too long are freed
 * and missing ones started (outside the lock: a spawn forks, a free kills
 * and waits).
 */
static void tick(struct api_runners *p)
{
	struct buf err = BUF_INIT(2048);
	struct pooled gone[64];
	size_t ngone = 0, keep = 0, missing;
	bool died_young = false, settled = false;
	int64_t now = plat_monotonic_ms();

	pthread_mutex_lock(&p->mu);
	for (size_t i = 0; i < p->nidle; i++) {
		struct pooled *r = &p->idle[i];
		struct sbx_sample s;
		enum sbx_outcome o = sbx_poll(r->child, &s);
		bool old = now - r->born_ms >= POOL_IDLE_MS;

		if (o == SBX_RUNNING && now - r->born_ms >= SETTLED_MS)
			settled = true;
		if ((o == SBX_RUNNING && !old) ||
		    ngone == TW_ARRAY_SIZE(gone)) {
			p->idle[keep++] = *r;
			continue;
		}
		if (o != SBX_RUNNING) {
			log_warn(LOG_APP,
				 "a waiting preview runner ended (%s) after "
				 "%" PRId64 " ms",
				 sbx_outcome_name(o), now - r->born_ms);
			if (now - r->born_ms < YOUNG_DEATH_MS)
				died_young = true;
		}
		gone[ngone++] = *r;
	}
	p->nidle = keep;
	missing = p->target - p->nidle;
	pthread_mutex_unlock(&p->mu);

	for (size_t i = 0; i < ngone; i++)
		sbx_child_free(gone[i].child);
	if (died_young) {
		p->backoff_ms = p->backoff_ms ? p->backoff_ms * 2
					      : BACKOFF_MIN_MS;
		if (p->backoff_ms > BACKOFF_MAX_MS)
			p->backoff_ms = BACKOFF_MAX_MS;
		p->next_spawn_ms = now + p->backoff_ms;
	} else if (settled) {
		p->backoff_ms = 0;
	}
	while (missing > 0 && plat_monotonic_ms() >= p->next_spawn_ms) {
		struct sbx_child *c = NULL;

		buf_reset(&err);
		if (spawn_runner(p, false, &c, &err) < 0) {
			log_warn(LOG_APP,
				 "could not start a preview runner: %s",
				 err.ptr);
			p->backoff_ms = p->backoff_ms ? p->backoff_ms * 2
						      : BACKOFF_MIN_MS;
			if (p->backoff_ms > BACKOFF_MAX_MS)
				p->backoff_ms = BACKOFF_MAX_MS;
			p->next_spawn_ms = plat_monotonic_ms() + p->backoff_ms;
			break;
		}
		pthread_mutex_lock(&p->mu);
		if (p->stopping || p->nidle >= p->target) {
			pthread_mutex_unlock(&p->mu);
			sbx_child_free(c);
			break;
		}
		p->idle[p->nidle].child = c;
		p->idle[p->nidle].born_ms = plat_monotonic_ms();
		p->nidle++;
		pthread_mutex_unlock(&p->mu);
		missing--;
	}
	buf_release(&err);
}

/* Waits on cv up to ms milliseconds (mu held). */
static void wait_ms(struct api_runners *p, int64_t ms)
{
	struct timespec ts;

	/* Real time, as pthread_cond_timedwait() wants (see http/sse.c). */
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&p->cv, &p->mu, &ts);
}

static void *pool_main(void *arg)
{
	struct api_runners *p = arg;

	for (;;) {
		pthread_mutex_lock(&p->mu);
		if (p->stopping) {
			pthread_mutex_unlock(&p->mu);
			break;
		}
		pthread_mutex_unlock(&p->mu);
		tick(p);
		pthread_mutex_lock(&p->mu);
		if (!p->stopping)
			wait_ms(p, TICK_MS);
		pthread_mutex_unlock(&p->mu);
	}
	return NULL;
}

/*
 * How many requests may use runners at once: twice the pool, at least 4,
 * but never more than the HTTP threads less two. A preview holds its
 * request's thread while it runs (up to TW_PREVIEW_TIMEOUT_S), and the
 * rest of the API must keep threads to answer on.
 */
static int max_active(const struct cfg *cfg)
{
	long n = cfg->preview_pool * 2 > 4 ? cfg->preview_pool * 2 : 4;
	long threads = cfg->http_threads - 2;

	if (n > threads)
		n = threads;
	return n < 1 ? 1 : (int)n;
}

int api_runners_start(const struct cfg *cfg, struct api_runners **out,
		      struct buf *err)
{
	struct api_runners *p;
	struct buf why = BUF_INIT(4096);
	bool drops = false;
	int rc, e;

	*out = NULL;
	/*
	 * Before any child exists, as the worker does: no process of our
	 * user (a runner that runs as the server does) may read the
	 * server's memory or environment, which hold the signing key.
	 */
	rc = plat_harden_process(err);
	if (rc < 0)
		goto out;
	p = xcalloc(1, sizeof(*p));
	p->cfg = cfg;
	buf_init(&p->why, 4096);
	p->target = (size_t)cfg->preview_pool;
	p->max_active = max_active(cfg);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	rc = sbx_check_user(cfg->sandbox_user, &drops, &why);
	if (rc == 0)
		rc = sbx_runner_argv(cfg->python, &p->argv, &why);
	if (rc == 0) {
		size_t n = 0;

		while (p->argv[n])
			n++;
		p->vargv = xcalloc(n + 2, sizeof(*p->vargv));
		for (size_t i = 0; i < n; i++)
			p->vargv[i] = xstrdup(p->argv[i]);
		p->vargv[n] = xstrdup("validate");
	}
	if (rc < 0) {
		/* The API goes on without previews; each one says why. */
		log_error(LOG_APP, "previews and validation are off: %s",
			  why.ptr);
		buf_addf(&p->why, "previews are off on this server: %s",
			 why.ptr);
		rc = 0;
		*out = p;
		goto out;
	}
	buf_reset(&why);
	if (!sbx_tree_contained(&why))
		log_warn(LOG_APP,
			 "preview runners get no PID namespace of their own "
			 "(%s): a process a runner starts that leaves its "
			 "process group may outlive a server killed with "
			 "SIGKILL (see \"nothing outlives a job\" in "
			 "docs/sandbox.md)",
			 why.ptr);
	if (p->target > 0) {
		p->idle = xcalloc(p->target, sizeof(*p->idle));
		e = pthread_create(&p->thread, NULL, pool_main, p);
		if (e != 0) {
			buf_errf(err, "could not start the preview pool: %s",
				 plat_strerror(e));
			api_runners_stop(p);
			rc = TW_EINTERNAL;
			goto out;
		}
		p->thread_started = true;
	}
	log_info(LOG_APP, "previews: %zu runner%s kept started, %s", p->target,
		 p->target == 1 ? "" : "s",
		 drops ? "run as the sandbox user" : "run as this account");
	*out = p;
out:
	buf_release(&why);
	return rc;
}

void api_runners_stop(struct api_runners *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stopping = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	if (p->thread_started)
		pthread_join(p->thread, NULL);
	/* The thread has ended: what waits in the pool is ours alone. */
	for (size_t i = 0; i < p->nidle; i++)
		sbx_child_free(p->idle[i].child);
	free(p->idle);
	plat_argv_free(p->argv);
	plat_argv_free(p->vargv);
	buf_release(&p->why);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

int api_runners_enter(struct api_runners *p, struct buf *err)
{
	int rc = 0;

	if (!p || !p->argv) {
		buf_adds(err, p ? p->why.ptr : "previews are off");
		return TW_EUNAVAIL;
	}
	pthread_mutex_lock(&p->mu);
	if (p->stopping) {
		buf_adds(err, "the server is stopping");
		rc = TW_EUNAVAIL;
	} else if (p->active >= p->max_active) {
		buf_addf(err,
			 "%d previews or validations are running, the most "
			 "this server runs at once; try again in a moment",
			 p->max_active);
		rc = TW_ETOOMANY;
	} else {
		p->active++;
	}
	pthread_mutex_unlock(&p->mu);
	return rc;
}

void api_runners_leave(struct api_runners *p)
{
	pthread_mutex_lock(&p->mu);
	p->active--;
	pthread_mutex_unlock(&p->mu);
}

int api_runners_take(struct api_runners *p, bool validate,
		     struct sbx_child **out, bool *warm, struct buf *err)
{
	int64_t now = plat_monotonic_ms();
	struct sbx_child *c = NULL;
	size_t i;

	*out = NULL;
	*warm = false;
	if (validate)
		return spawn_runner(p, true, out, err);
	pthread_mutex_lock(&p->mu);
	/* The oldest young enough: the most likely to have imported. */
	for (i = 0; i < p->nidle; i++) {
		if (now - p->idle[i].born_ms < POOL_IDLE_MS)
			break;
	}
	if (i < p->nidle) {
		c = p->idle[i].child;
		memmove(&p->idle[i], &p->idle[i + 1],
			(p->nidle - i - 1) * sizeof(*p->idle));
		p->nidle--;
		pthread_cond_broadcast(&p->cv);
	}
	pthread_mutex_unlock(&p->mu);
	if (c) {
		*out = c;
		*warm = true;
		return 0;
	}
	return spawn_runner(p, false, out, err);
}
