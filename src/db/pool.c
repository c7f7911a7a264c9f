/*
 * pool.c - the libpq connection pool, result checking and db_exec().
 *
 * The pool keeps idle connections on a stack (the most recently used one is
 * handed out first, so a quiet server keeps few sessions warm) and opens new
 * ones lazily up to its size. One mutex guards the bookkeeping and one
 * condition variable wakes threads waiting for a free connection; libpq is
 * never called with the mutex held, so a slow connect or reset blocks only
 * the thread that needs it.
 *
 * Failure handling, in short (docs/internals/db.md has the long form):
 *  - db_acquire() checks an idle connection without a round trip: it reads
 *    whatever the server sent meanwhile (PQconsumeInput), which notices a
 *    server that closed the session (shutdown, pg_terminate_backend, crash)
 *    and turns the status bad; a bad connection is reset (PQreset).
 *  - A reset or connect that fails closes the connection and frees its slot,
 *    so the next db_acquire() tries again from scratch: /healthz turns 503
 *    while PostgreSQL is down and recovers by itself when it is back.
 *  - db_release() with broken = true, or of a connection whose state is not
 *    clean, closes it; one left inside a transaction is rolled back first.
 *  - TCP keepalives, tcp_user_timeout and connect_timeout bound how long a
 *    vanished server can block a call; db_ping() additionally waits for its
 *    answer for at most DB_PING_TIMEOUT_MS.
 */
#include "core/compat.h"

#include <pthread.h>

#include "core/err.h"
#include "core/mem.h"
#include "core/str.h"
#include "db/db.h"
#include "db/db_int.h"
#include "platform/plat.h"

#define DB_DEFAULT_CONNECT_TIMEOUT_S 5
#define DB_DEFAULT_APP_NAME "tablewright"
/* db_ping() waits this long for a free connection ... */
#define DB_PING_ACQUIRE_MS 2000
/* ... and this long for the server's answer to SELECT 1. */
#define DB_PING_TIMEOUT_MS 3000
/* Longest single condition-variable wait; see pool_wait(). */
#define DB_WAIT_SLICE_MS 200
/* How many connection parameters pool_new() passes to libpq, at most. */
#define DB_MAX_PARAMS 16

struct db_pool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	/* connection parameters for PQconnectdbParams, NULL-terminated */
	const char *keys[DB_MAX_PARAMS + 1];
	const char *vals[DB_MAX_PARAMS + 1];
	char *url;	   /* copy of opts->url (holds the password) */
	char *options;	   /* the "options" value: search_path and more */
	char *timeout_str; /* connect_timeout as text */
	char *app_name;	   /* application_name */
	char *password;	   /* parsed from the URL, for redaction only */
	int size;	   /* maximum connections */
	PGconn **idle;	   /* stack of idle connections, size entries */
	int nidle;
	int nopen;	 /* established connections, idle or in use */
	int nconnecting; /* slots reserved by a connect in progress */
};

/* --- helpers shared inside the module (db_int.h) ------------------------ */

void db__add_first_line(struct buf *out, const char *msg, const char *fallback)
{
	const char *start;
	const char *end;

	if (!out)
		return;
	start = msg ? msg : "";
	/* Skip blank lines and leading white space. */
	while (*start && isspace((unsigned char)*start))
		start++;
	end = start;
	while (*end && *end != '\n' && *end != '\r')
		end++;
	while (end > start && isspace((unsigned char)end[-1]))
		end--;
	if (end == start) {
		buf_errf(out, "%s", fallback);
		return;
	}
	buf_errf(out, "%.*s", (int)(end - start), start);
}

void db__redact(struct buf *b, size_t from, const char *secret)
{
	static const char mask[] = "***";
	struct buf tmp = BUF_INIT(0);
	size_t slen;
	const char *p;
	const char *hit;

	if (!b || !secret || !*secret || from > b->len)
		return;
	slen = strlen(secret);
	if (!strstr(b->ptr + from, secret))
		return;
	/* The result is never longer than b times 3 plus the mask. */
	buf_init(&tmp, b->cap > b->len * 3 + 4 ? b->cap : b->len * 3 + 4);
	buf_add(&tmp, b->ptr, from);
	p = b->ptr + from;
	for (;;) {
		hit = strstr(p, secret);
		if (!hit)
			break;
		buf_add(&tmp, p, (size_t)(hit - p));
		buf_adds(&tmp, mask);
		p = hit + slen;
	}
	buf_adds(&tmp, p);
	buf_reset(b);
	buf_add(b, tmp.ptr, tmp.len < b->cap ? tmp.len : b->cap);
	buf_release(&tmp);
}

/* --- redaction of connection strings ------------------------------------ */

/* Spans of a connection string that may hold (part of) a password. */
struct spans {
	struct {
		const char *s;
		size_t n;
	} v[32];
	size_t count;
};

static void span_add(struct spans *sp, const char *s, size_t n)
{
	if (n && sp->count < TW_ARRAY_SIZE(sp->v)) {
		sp->v[sp->count].s = s;
		sp->v[sp->count].n = n;
		sp->count++;
	}
}

/*
 * password_spans() finds everything of the connection string conninfo that
 * may be a password, whether or not libpq can parse the string: the
 * password of a URI's user info (everything between the first ':' after
 * the scheme and the last '@', generously), and the value of every
 * password= keyword or query parameter (sslpassword too), including the
 * words that follow an unquoted value with spaces in it, which libpq quotes
 * back as "keywords".
 */
static void password_spans(const char *conninfo, struct spans *sp)
{
	const char *p = NULL;
	const char *end;
	const char *colon;
	const char *at;
	const char *v;
	const char *w;

	sp->count = 0;
	if (str_starts_with(conninfo, "postgresql://"))
		p = conninfo + strlen("postgresql://");
	else if (str_starts_with(conninfo, "postgres://"))
		p = conninfo + strlen("postgres://");
	if (p) {
		at = strrchr(p, '@');
		colon = strchr(p, ':');
		if (at && colon && colon < at)
			span_add(sp, colon + 1, (size_t)(at - colon - 1));
	}
	for (p = strstr(conninfo, "password"); p;
	     p = strstr(p + 1, "password")) {
		v = p + strlen("password");
		while (*v == ' ' || *v == '\t')
			v++;
		if (*v != '=')
			continue;
		v++;
		while (*v == ' ' || *v == '\t')
			v++;
		if (*v == '\'') {
			for (end = v + 1; *end && *end != '\''; end++) {
				if (*end == '\\' && end[1])
					end++;
			}
			span_add(sp, v + 1, (size_t)(end - v - 1));
		} else {
			end = v;
			while (*end && *end != '&' &&
			       !isspace((unsigned char)*end))
				end++;
			span_add(sp, v, (size_t)(end - v));
		}
		/* Following words without '=' would be quoted as keywords. */
		for (;;) {
			while (*end && isspace((unsigned char)*end))
				end++;
			w = end;
			while (*end && !isspace((unsigned char)*end) &&
			       *end != '=')
				end++;
			if (end == w || *end == '=')
				break;
			span_add(sp, w, (size_t)(end - w));
		}
	}
}

/*
 * redact_conninfo() removes from b (from offset from on) every password
 * span of conninfo: libpq's parse errors quote the whole URI or the token
 * they choke on, which may be the password itself. Longer spans go first,
 * so a span that contains a shorter one is not left half-masked.
 */
static void redact_conninfo(struct buf *b, size_t from, const char *conninfo)
{
	struct spans sp;
	bool *done;
	char *secret;
	size_t i;
	size_t j;
	size_t best;

	if (!conninfo || !b)
		return;
	password_spans(conninfo, &sp);
	done = xcalloc(sp.count + 1, sizeof(*done));
	for (i = 0; i < sp.count; i++) {
		best = sp.count;
		for (j = 0; j < sp.count; j++) {
			if (!done[j] &&
			    (best == sp.count || sp.v[j].n > sp.v[best].n))
				best = j;
		}
		done[best] = true;
		secret = xstrndup(sp.v[best].s, sp.v[best].n);
		db__redact(b, from, secret);
		free(secret);
	}
	free(done);
}

/* --- result checking ----------------------------------------------------- */

int db_result_check(const PGresult *res, struct buf *err)
{
	const char *state;
	const char *msg;
	int rc = 0;

	if (!res) {
		buf_errf(err, "lost the connection to the database");
		rc = TW_EUNAVAIL;
		goto out;
	}
	switch (PQresultStatus(res)) {
	case PGRES_COMMAND_OK:
	case PGRES_TUPLES_OK:
	case PGRES_COPY_IN:
	case PGRES_COPY_OUT:
	case PGRES_COPY_BOTH:
	case PGRES_SINGLE_TUPLE:
		goto out;
	case PGRES_EMPTY_QUERY:
		buf_errf(err, "empty query");
		rc = TW_EDB;
		goto out;
	default:
		break;
	}
	state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	if (!msg)
		msg = PQresultErrorMessage(res);
	db__add_first_line(err, msg, "unknown database error");
	/*
	 * An error without a SQLSTATE comes from libpq itself, not from the
	 * server: in practice the connection broke ("server closed the
	 * connection unexpectedly", "no connection to the server").
	 */
	rc = state ? db_sqlstate_to_err(state) : TW_EUNAVAIL;
out:
	return rc;
}

int db_exec(PGconn *conn, const char *sql, int nparams,
	    const char *const *params, PGresult **res, struct buf *err)
{
	PGresult *r;
	int rc;

	if (res)
		*res = NULL;
	r = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
	if (!r) {
		buf_errf(err, "could not send the query: ");
		db__add_first_line(err, PQerrorMessage(conn),
				   "lost the connection to the database");
		rc = TW_EUNAVAIL;
		goto out;
	}
	rc = db_result_check(r, err);
	if (rc < 0 || !res) {
		PQclear(r);
		goto out;
	}
	*res = r;
out:
	return rc;
}

/* --- connections --------------------------------------------------------- */

/*
 * Set by notice_receiver() when the server announced, on a connection this
 * thread was reading, that it is closing the session (see
 * conn_check_idle()). Thread-local, so no locking is needed.
 */
static _Thread_local bool fatal_seen;

/*
 * notice_receiver() drops notices ("table already exists, skipping" would
 * otherwise go to stderr) and notes a FATAL error that arrived while the
 * connection was idle: libpq hands those to the notice receiver.
 */
static void notice_receiver(void *arg, const PGresult *res)
{
	const char *sev =
		PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);

	(void)arg;
	if (sev && (strcmp(sev, "FATAL") == 0 || strcmp(sev, "PANIC") == 0))
		fatal_seen = true;
}

/*
 * pool_connect() opens one connection with the pool's parameters. On
 * failure it returns TW_EUNAVAIL with libpq's reason (its first line, with
 * anything that looks like the password removed) appended to err.
 */
static int pool_connect(struct db_pool *pool, PGconn **out, struct buf *err)
{
	PGconn *conn;
	size_t mark;
	int rc = 0;

	*out = NULL;
	conn = PQconnectdbParams(pool->keys, pool->vals, 1);
	if (!conn) {
		buf_errf(err, "could not connect to the database: out of "
			      "memory");
		rc = TW_EUNAVAIL;
		goto out;
	}
	if (PQstatus(conn) != CONNECTION_OK) {
		buf_errf(err, "could not connect to the database: ");
		mark = err ? err->len : 0;
		db__add_first_line(err, PQerrorMessage(conn), "unknown error");
		redact_conninfo(err, mark, pool->url);
		db__redact(err, mark, pool->password);
		PQfinish(conn);
		rc = TW_EUNAVAIL;
		goto out;
	}
	PQsetNoticeReceiver(conn, notice_receiver, NULL);
	*out = conn;
out:
	return rc;
}

/*
 * conn_check_idle() says whether an idle connection still looks alive,
 * without a round trip: PQconsumeInput() reads what the server sent while
 * the connection sat in the pool. End-of-file or a socket error turns the
 * status bad. A server that ends a session (shutdown, pg_terminate_backend)
 * first sends a FATAL error and then closes the socket; the socket may not
 * be closed yet when we look, so the error itself, parsed by PQisBusy() and
 * passed to notice_receiver(), also counts.
 */
static bool conn_check_idle(PGconn *conn)
{
	PGnotify *n;
	int i;

	fatal_seen = false;
	for (i = 0; i < 2; i++) {
		if (PQstatus(conn) != CONNECTION_OK || !PQconsumeInput(conn))
			return false;
	}
	PQisBusy(conn);
	if (fatal_seen)
		return false;
	/* Drop stray notifications: nobody pooled is listening. */
	for (n = PQnotifies(conn); n; n = PQnotifies(conn))
		PQfreemem(n);
	return PQstatus(conn) == CONNECTION_OK &&
	       PQtransactionStatus(conn) == PQTRANS_IDLE;
}

/* Forgets the slot of a connection that was closed; wakes a waiter. */
static void slot_free(struct db_pool *pool)
{
	pthread_mutex_lock(&pool->mu);
	pool->nopen--;
	pthread_cond_signal(&pool->cv);
	pthread_mutex_unlock(&pool->mu);
}

/*
 * pool_wait() waits on the condition variable for at most ms milliseconds
 * (and at most DB_WAIT_SLICE_MS), with the mutex held. The absolute time is
 * on CLOCK_REALTIME, which every pthreads implementation supports; the
 * caller keeps its deadline on the monotonic clock and loops, so a wall
 * clock that jumps can only shorten or lengthen one slice.
 */
static void pool_wait(struct db_pool *pool, int64_t ms)
{
	struct timespec ts;

	if (ms > DB_WAIT_SLICE_MS)
		ms = DB_WAIT_SLICE_MS;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&pool->cv, &pool->mu, &ts);
}

/*
 * build_params() fills the keyword arrays. Defaults that a URL may override
 * (timeouts, keepalives, application_name) come before "dbname", which
 * libpq expands into the URL's own parameters; what Tablewright relies on
 * (search_path, client encoding) comes after it, so it always wins. An
 * "options" value from the URL is kept, with the search_path appended.
 */
static void build_params(struct db_pool *pool, const struct db_pool_opts *opts,
			 const char *url_options)
{
	struct buf o = BUF_INIT(4096);
	int timeout;
	int n = 0;

	timeout = opts->connect_timeout_s > 0 ? opts->connect_timeout_s
					      : DB_DEFAULT_CONNECT_TIMEOUT_S;
	buf_addf(&o, "%d", timeout);
	pool->timeout_str = buf_detach(&o, NULL);
	pool->app_name =
		xstrdup(opts->application_name && *opts->application_name
				? opts->application_name
				: DB_DEFAULT_APP_NAME);
	if (url_options && *url_options)
		buf_addf(&o, "%s ", url_options);
	buf_addf(&o, "-c search_path=\"%s\",pg_catalog", opts->app_schema);
	pool->options = buf_detach(&o, NULL);

#define PARAM(k, v)                  \
	do {                         \
		pool->keys[n] = (k); \
		pool->vals[n] = (v); \
		n++;                 \
	} while (0)
	PARAM("connect_timeout", pool->timeout_str);
	PARAM("application_name", pool->app_name);
	/*
	 * A server that vanishes without closing the socket (host down,
	 * cable pulled) is noticed after about 10 + 3 * 5 seconds idle, or
	 * 15 seconds of unacknowledged data, instead of the OS default of
	 * many minutes. Killed or stopped servers close the socket and are
	 * noticed at once.
	 */
	PARAM("keepalives", "1");
	PARAM("keepalives_idle", "10");
	PARAM("keepalives_interval", "5");
	PARAM("keepalives_count", "3");
	PARAM("tcp_user_timeout", "15000");
	PARAM("dbname", pool->url);
	PARAM("options", pool->options);
	PARAM("client_encoding", "UTF8");
#undef PARAM
	pool->keys[n] = NULL;
	pool->vals[n] = NULL;
}

/*
 * parse_url() validates the connection string with PQconninfoParse and
 * returns copies of its password (for redaction) and options values.
 */
static int parse_url(const char *url, char **password, char **options,
		     struct buf *err)
{
	PQconninfoOption *info = NULL;
	PQconninfoOption *o;
	char *msg = NULL;
	size_t mark;
	int rc = 0;

	*password = NULL;
	*options = NULL;
	info = PQconninfoParse(url, &msg);
	if (!info) {
		buf_errf(err, "TW_DATABASE_URL is malformed: ");
		mark = err ? err->len : 0;
		db__add_first_line(err, msg, "out of memory");
		redact_conninfo(err, mark, url);
		rc = TW_ECONFIG;
		goto out;
	}
	for (o = info; o->keyword; o++) {
		if (!o->val)
			continue;
		if (strcmp(o->keyword, "password") == 0)
			*password = xstrdup(o->val);
		else if (strcmp(o->keyword, "options") == 0)
			*options = xstrdup(o->val);
	}
out:
	if (msg)
		PQfreemem(msg);
	if (info)
		PQconninfoFree(info);
	return rc;
}

/* --- the pool ------------------------------------------------------------ */

/* Frees the pool's memory; its connections are closed by the caller. */
static void pool_destroy(struct db_pool *pool, bool sync_init)
{
	if (sync_init) {
		pthread_cond_destroy(&pool->cv);
		pthread_mutex_destroy(&pool->mu);
	}
	free(pool->idle);
	free(pool->options);
	free(pool->timeout_str);
	free(pool->app_name);
	/* mem_free_secret(), not memset(): the optimiser drops a wipe before
	 * free(), and the password would stay in the heap. */
	mem_free_secret(pool->password);
	mem_free_secret(pool->url);
	free(pool);
}

int db_pool_new(struct db_pool **out, const struct db_pool_opts *opts,
		struct buf *err)
{
	struct db_pool *pool = NULL;
	char *url_options = NULL;
	PGconn *conn = NULL;
	bool sync_init = false;
	int rc;

	*out = NULL;
	if (!opts || !opts->url || !opts->app_schema)
		TW_BUG("db_pool_new without url or app_schema");
	if (!str_ident_valid(opts->app_schema)) {
		buf_errf(err, "invalid application schema name \"%s\"",
			 opts->app_schema);
		rc = TW_ECONFIG;
		goto out;
	}
	pool = xcalloc(1, sizeof(*pool));
	pool->size = opts->size > 0 ? opts->size : 1;
	pool->url = xstrdup(opts->url);
	rc = parse_url(opts->url, &pool->password, &url_options, err);
	if (rc < 0)
		goto out;
	build_params(pool, opts, url_options);
	pool->idle = xcalloc((size_t)pool->size, sizeof(*pool->idle));
	if (pthread_mutex_init(&pool->mu, NULL) != 0 ||
	    pthread_cond_init(&pool->cv, NULL) != 0)
		TW_BUG("could not initialise the pool's mutex or condvar");
	sync_init = true;
	/* Fail fast at start-up: one connection now. */
	rc = pool_connect(pool, &conn, err);
	if (rc < 0)
		goto out;
	pool->idle[pool->nidle++] = conn;
	pool->nopen = 1;
	*out = pool;
	pool = NULL;
out:
	free(url_options);
	if (pool)
		pool_destroy(pool, sync_init);
	return rc;
}

void db_pool_free(struct db_pool *pool)
{
	int i;

	if (!pool)
		return;
	pthread_mutex_lock(&pool->mu);
	if (pool->nopen != pool->nidle || pool->nconnecting)
		TW_BUG("db_pool_free with %d connection(s) still in use",
		       pool->nopen - pool->nidle + pool->nconnecting);
	pthread_mutex_unlock(&pool->mu);
	for (i = 0; i < pool->nidle; i++)
		PQfinish(pool->idle[i]);
	pool_destroy(pool, true);
}

/*
 * db_acquire() - see db.h. timeout_ms bounds only the wait for a free slot;
 * 0 does not wait, a negative value waits as long as it takes. Opening or
 * resetting a connection is bounded by connect_timeout instead. On failure
 * *conn is NULL.
 */
int db_acquire(struct db_pool *pool, int timeout_ms, PGconn **conn,
	       struct buf *err)
{
	PGconn *c = NULL;
	bool open_new = false;
	int64_t deadline = 0;
	int64_t left;
	size_t mark;
	int rc = 0;

	*conn = NULL;
	if (timeout_ms > 0)
		deadline = plat_monotonic_ms() + timeout_ms;
	pthread_mutex_lock(&pool->mu);
	for (;;) {
		if (pool->nidle > 0) {
			c = pool->idle[--pool->nidle];
			break;
		}
		if (pool->nopen + pool->nconnecting < pool->size) {
			pool->nconnecting++;
			open_new = true;
			break;
		}
		left = timeout_ms < 0 ? DB_WAIT_SLICE_MS
				      : deadline - plat_monotonic_ms();
		if (timeout_ms == 0 || left <= 0) {
			rc = TW_ETIMEOUT;
			break;
		}
		pool_wait(pool, left);
	}
	pthread_mutex_unlock(&pool->mu);
	if (rc < 0) {
		buf_errf(err,
			 "no database connection became free within %d ms "
			 "(all %d in use)",
			 timeout_ms, pool->size);
		goto out;
	}

	if (open_new) {
		rc = pool_connect(pool, &c, err);
		pthread_mutex_lock(&pool->mu);
		pool->nconnecting--;
		if (rc == 0)
			pool->nopen++;
		else
			pthread_cond_signal(&pool->cv);
		pthread_mutex_unlock(&pool->mu);
		goto out;
	}

	if (conn_check_idle(c))
		goto out;
	/*
	 * The session is gone (server restarted, connection terminated,
	 * network error): reconnect with the same parameters.
	 */
	PQreset(c);
	if (PQstatus(c) == CONNECTION_OK) {
		PQsetNoticeReceiver(c, notice_receiver, NULL);
		goto out;
	}
	buf_errf(err, "could not connect to the database: ");
	mark = err ? err->len : 0;
	db__add_first_line(err, PQerrorMessage(c), "unknown error");
	redact_conninfo(err, mark, pool->url);
	db__redact(err, mark, pool->password);
	/*
	 * Give the slot back: the next db_acquire() opens a fresh connection
	 * and so retries, which is what lets /healthz recover by itself.
	 */
	PQfinish(c);
	c = NULL;
	slot_free(pool);
	rc = TW_EUNAVAIL;
out:
	*conn = rc == 0 ? c : NULL;
	return rc;
}

void db_release(struct db_pool *pool, PGconn *conn, bool broken)
{
	PGTransactionStatusType ts;
	PGresult *res;

	if (!conn)
		return;
	if (!broken && PQstatus(conn) != CONNECTION_OK)
		broken = true;
	if (!broken) {
		ts = PQtransactionStatus(conn);
		if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR) {
			res = PQexec(conn, "ROLLBACK");
			if (PQresultStatus(res) != PGRES_COMMAND_OK)
				broken = true;
			PQclear(res);
			ts = PQtransactionStatus(conn);
		}
		/*
		 * PQTRANS_ACTIVE: a command or COPY still in progress, whose
		 * results nobody will read; PQTRANS_UNKNOWN: bad connection.
		 */
		if (ts != PQTRANS_IDLE)
			broken = true;
	}
	if (broken) {
		PQfinish(conn);
		slot_free(pool);
	} else {
		pthread_mutex_lock(&pool->mu);
		if (pool->nidle >= pool->size)
			TW_BUG("db_release of a connection the pool did not "
			       "hand out");
		pool->idle[pool->nidle++] = conn;
		pthread_cond_signal(&pool->cv);
		pthread_mutex_unlock(&pool->mu);
	}
}

/*
 * wait_result() waits for the result of the query just sent, and for the
 * end of its response, for at most ms milliseconds without blocking in
 * libpq: libpq's socket is non-blocking underneath, so PQconsumeInput()
 * returns at once, and PQgetResult() is only called when PQisBusy() says it
 * will not wait. Polling with short sleeps keeps this free of platform
 * socket code; it is used for db_ping() only. Returns the first result, or
 * NULL on timeout or connection loss.
 */
static PGresult *wait_result(PGconn *conn, int64_t ms)
{
	int64_t deadline = plat_monotonic_ms() + ms;
	int64_t nap = 1;
	PGresult *res = NULL;
	PGresult *r;

	for (;;) {
		if (!PQconsumeInput(conn))
			goto fail;
		while (!PQisBusy(conn)) {
			r = PQgetResult(conn);
			if (!r)
				goto out; /* the response is complete */
			if (res)
				PQclear(r);
			else
				res = r;
		}
		if (plat_monotonic_ms() >= deadline)
			goto fail;
		plat_sleep_ms(nap);
		if (nap < 20)
			nap *= 2;
	}
fail:
	PQclear(res);
	res = NULL;
out:
	return res;
}

int db_ping(struct db_pool *pool, struct buf *err)
{
	PGconn *conn = NULL;
	PGresult *res = NULL;
	struct buf detail = BUF_INIT(BUF_SMALL_CAP);
	bool broken = true;
	int rc;

	rc = db_acquire(pool, DB_PING_ACQUIRE_MS, &conn, err);
	if (rc < 0) {
		/* err says which: unreachable, or every connection busy. */
		rc = TW_EUNAVAIL;
		goto out;
	}
	if (!PQsendQuery(conn, "SELECT 1")) {
		buf_errf(err, "the database did not answer: ");
		db__add_first_line(err, PQerrorMessage(conn),
				   "could not send the query");
		rc = TW_EUNAVAIL;
		goto out;
	}
	res = wait_result(conn, DB_PING_TIMEOUT_MS);
	if (!res) {
		if (PQstatus(conn) == CONNECTION_OK) {
			buf_errf(err,
				 "the database did not answer within %d ms",
				 DB_PING_TIMEOUT_MS);
		} else {
			buf_errf(err, "the database did not answer: ");
			db__add_first_line(err, PQerrorMessage(conn),
					   "connection lost");
		}
		rc = TW_EUNAVAIL;
		goto out;
	}
	rc = db_result_check(res, &detail);
	if (rc < 0) {
		buf_errf(err, "the database did not answer: %s", detail.ptr);
		rc = TW_EUNAVAIL;
		goto out;
	}
	broken = false;
out:
	PQclear(res);
	/* A connection that failed to answer is closed, not reused. */
	if (conn)
		db_release(pool, conn, broken);
	buf_release(&detail);
	return rc;
}

int db_pool_open_count(struct db_pool *pool)
{
	int n;

	pthread_mutex_lock(&pool->mu);
	n = pool->nopen;
	pthread_mutex_unlock(&pool->mu);
	return n;
}

/* --- transactions -------------------------------------------------------- */

int db_tx_begin(struct db_tx *tx, PGconn *conn, struct buf *err)
{
	int rc;

	tx->conn = conn;
	tx->savepoint = NULL;
	tx->open = false;
	rc = db_exec(conn, "BEGIN", 0, NULL, NULL, err);
	if (rc == 0)
		tx->open = true;
	return rc;
}

int db_tx_begin_sql(struct db_tx *tx, PGconn *conn, const char *sql,
		    struct buf *err)
{
	PGresult *res;
	int rc;

	tx->conn = conn;
	tx->savepoint = NULL;
	tx->open = false;
	res = PQexec(conn, sql);
	rc = db_result_check(res, err);
	PQclear(res);
	/*
	 * Several statements stop at the first that fails, which may be after
	 * BEGIN: then a transaction is open (and aborted) all the same.
	 */
	if (rc == 0 || PQtransactionStatus(conn) == PQTRANS_INERROR)
		tx->open = true;
	return rc;
}

/* The statement that opens, closes or abandons a savepoint. */
static int savepoint_exec(struct db_tx *tx, const char *verb, struct buf *err)
{
	struct buf sql = BUF_INIT(BUF_SMALL_CAP);
	int rc;

	buf_addf(&sql, "%s%s", verb, tx->savepoint);
	rc = db_exec(tx->conn, sql.ptr, 0, NULL, NULL, err);
	buf_release(&sql);
	return rc;
}

int db_tx_begin_nested(struct db_tx *tx, PGconn *conn, const char *savepoint,
		       struct buf *err)
{
	int rc;

	if (PQtransactionStatus(conn) != PQTRANS_INTRANS)
		return db_tx_begin(tx, conn, err);
	tx->conn = conn;
	tx->savepoint = savepoint;
	tx->open = false;
	rc = savepoint_exec(tx, "SAVEPOINT ", err);
	if (rc == 0)
		tx->open = true;
	return rc;
}

int db_tx_commit(struct db_tx *tx, struct buf *err)
{
	int rc;

	if (!tx->open)
		TW_BUG("commit of a transaction that is not open");
	tx->open = false;
	if (tx->savepoint)
		rc = savepoint_exec(tx, "RELEASE SAVEPOINT ", err);
	else
		rc = db_exec(tx->conn, "COMMIT", 0, NULL, NULL, err);
	return rc;
}

void db_tx_rollback(struct db_tx *tx)
{
	if (!tx->open)
		return;
	tx->open = false;
	if (PQtransactionStatus(tx->conn) == PQTRANS_IDLE)
		return;
	if (tx->savepoint)
		savepoint_exec(tx, "ROLLBACK TO SAVEPOINT ", NULL);
	else
		db_exec(tx->conn, "ROLLBACK", 0, NULL, NULL, NULL);
}

/* --- reading results ----------------------------------------------------- */

/* Parses a whole base-10 int64 as PostgreSQL prints it; -1 otherwise. */
static int parse_i64(const char *s, int64_t *out)
{
	char *end;
	long long v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || (!isdigit((unsigned char)*s) && *s != '-'))
		return -1;
	*out = (int64_t)v;
	return 0;
}

int db_col_i64(const PGresult *res, int row, int col, int64_t *out,
	       struct buf *err)
{
	const char *name = PQfname(res, col);
	int rc = 0;

	*out = 0;
	if (PQgetisnull(res, row, col)) {
		buf_errf(err,
			 "column \"%s\" is null where an integer was "
			 "expected",
			 name ? name : "?");
		rc = TW_EINTERNAL;
	} else if (parse_i64(PQgetvalue(res, row, col), out) < 0) {
		*out = 0;
		buf_errf(err, "column \"%s\" is not an integer",
			 name ? name : "?");
		rc = TW_EINTERNAL;
	}
	return rc;
}

int64_t db_col_i64_or(const PGresult *res, int row, int col, int64_t fallback)
{
	int64_t v = fallback;

	if (PQgetisnull(res, row, col) ||
	    parse_i64(PQgetvalue(res, row, col), &v) < 0)
		v = fallback;
	return v;
}
