#include "core/compat.h"
#include "api/api_int.h"
#include "core/err.h"
#include "core/str.h"
#include "log/log.h"

/*
 * GET /healthz: liveness plus the state of what the server depends on.
 *
 * One query answers both questions: if it runs, the database is up (and,
 * with the PostgreSQL queue, so is the queue: the jobs table is the queue),
 * and it counts the workers that heartbeated in the last 30 seconds. It is
 * kept fast: a pooled connection is awaited for at most a second.
 */

#define HEALTH_ACQUIRE_MS 1000

static const char workers_sql[] = "SELECT count(*) FROM workers "
				  "WHERE heartbeat_at > now() - interval '30 "
				  "seconds'";

/*
 * Counts live workers into *workers. TW_EUNAVAIL when there is no pool,
 * otherwise what db_acquire() or the query returned, with err set.
 */
static int count_workers(struct db_pool *db, long *workers, struct buf *err)
{
	PGconn *conn = NULL;
	PGresult *res = NULL;
	bool broken = false;
	int rc;

	*workers = 0;
	if (!db) {
		rc = TW_EUNAVAIL;
		buf_adds(err, "no database is configured");
		goto fail;
	}
	rc = db_acquire(db, HEALTH_ACQUIRE_MS, &conn, err);
	if (rc < 0)
		goto fail;
	rc = db_exec(conn, workers_sql, 0, NULL, &res, err);
	if (rc < 0) {
		broken = PQstatus(conn) != CONNECTION_OK;
		goto fail;
	}
	if (PQntuples(res) != 1 ||
	    str_to_long(PQgetvalue(res, 0, 0), 0, LONG_MAX, workers) < 0) {
		rc = TW_EINTERNAL;
		buf_adds(err, "unexpected answer to the worker count");
		goto fail;
	}
fail:
	if (res)
		PQclear(res);
	if (conn)
		db_release(db, conn, broken);
	return rc;
}

int api_health_get(struct http_request *req)
{
	struct api_app *app = req->app;
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	long workers = 0;
	json_t *body;
	int rc;

	rc = count_workers(app ? app->db : NULL, &workers, &err);
	if (rc < 0) {
		log_warn(LOG_APP, "health check: database: %s", err.ptr);
		body = json_pack("{s:s, s:s, s:s, s:i}", "status",
				 "unavailable", "database", "unavailable",
				 "queue", "unavailable", "workers", 0);
		rc = http_reply_json(req, 503, body);
		goto out;
	}
	body = json_pack("{s:s, s:s, s:s, s:I}", "status", "ok", "database",
			 "ok", "queue", "ok", "workers", (json_int_t)workers);
	rc = http_reply_json(req, 200, body);
out:
	buf_release(&err);
	return rc;
}
