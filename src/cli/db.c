#include "core/compat.h"

#include "cli/cli.h"
#include "core/err.h"
#include "core/str.h"
#include "log/log.h"

int cli_db_open(struct cfg *cfg, bool embedded, struct cli_db *db,
		struct buf *err)
{
	struct buf url = BUF_INIT(4096);
	struct db_pool_opts po;
	int rc = 0;

	db->pool = NULL;
	db->cluster_started = false;
	if (!cfg->database_url && embedded) {
		log_info(LOG_APP,
			 "TW_DATABASE_URL is not set: starting the embedded "
			 "PostgreSQL cluster in %s",
			 cfg->pg_dir);
		rc = db_cluster_start_bin(cfg->pg_dir, cfg->pg_bin, &url,
					  &db->cluster_started, err);
		if (rc < 0)
			goto out;
		cfg->database_url = buf_detach(&url, NULL);
	}
	rc = cfg_require(cfg, CFG_NEED_DATABASE, err);
	if (rc < 0)
		goto out;
	memset(&po, 0, sizeof(po));
	po.url = cfg->database_url;
	po.app_schema = cfg->app_schema;
	po.size = (int)cfg->db_pool_size;
	po.connect_timeout_s = 5;
	po.application_name = "tablewright";
	rc = db_pool_new(&db->pool, &po, err);
out:
	buf_release(&url);
	return rc;
}

int cli_migrate(struct db_pool *pool, const struct cfg *cfg, struct buf *err)
{
	PGconn *conn = NULL;
	int applied = 0;
	int rc;

	rc = db_acquire(pool, 10000, &conn, err);
	if (rc < 0)
		return rc;
	rc = db_migrate(conn, cfg->app_schema, &applied, err);
	db_release(pool, conn, rc < 0);
	if (rc == 0)
		log_info(LOG_APP,
			 "database schema is up to date (%d migration%s "
			 "applied now, %zu in this build)",
			 applied, applied == 1 ? "" : "s", db_migrations_count);
	return rc;
}

int cli_check_schema(struct db_pool *pool, struct buf *err)
{
	PGconn *conn = NULL;
	PGresult *res = NULL;
	long have = 0;
	long want;
	int rc;

	if (db_migrations_count == 0)
		return 0;
	want = db_migrations[db_migrations_count - 1].version;
	rc = db_acquire(pool, 10000, &conn, err);
	if (rc < 0)
		return rc;
	rc = db_exec(conn,
		     "SELECT coalesce(max(version), 0) FROM schema_migrations",
		     0, NULL, &res, err);
	if (rc == TW_ENOTFOUND) {
		buf_reset(err);
		rc = 0;
	} else if (rc == 0) {
		str_to_long(PQgetvalue(res, 0, 0), 0, LONG_MAX, &have);
	}
	PQclear(res);
	db_release(pool, conn, false);
	if (rc == 0 && have < want) {
		buf_addf(err,
			 "the database schema is at version %ld but this build "
			 "needs %ld: run `tablewright migrate`",
			 have, want);
		rc = TW_ECONFIG;
	}
	return rc;
}

void cli_db_close(struct cfg *cfg, struct cli_db *db)
{
	struct buf err = BUF_INIT(BUF_SMALL_CAP);

	db_pool_free(db->pool);
	db->pool = NULL;
	if (db->cluster_started &&
	    db_cluster_stop_bin(cfg->pg_dir, cfg->pg_bin, &err) < 0)
		log_warn(LOG_APP, "%s", err.ptr);
	db->cluster_started = false;
	buf_release(&err);
}
