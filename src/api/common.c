#include "core/compat.h"
#include "api/api_int.h"
#include "auth/auth.h"
#include "core/err.h"
#include "core/str.h"

/*
 * common.c - what the resource files' handlers share, each declared in
 * api_int.h: pooled connections and statements whose results the request's
 * arena frees, ids and paging arguments, the data schemas as a query
 * parameter, who may see and change what, 422 and 409 with a field, the
 * read of one visible row, result columns as JSON, and a user as the API
 * shows one.
 */

/* How long a request waits for a pooled database connection. */
#define API_ACQUIRE_MS 5000

int api_db_acquire(struct http_request *req, PGconn **conn)
{
	struct api_app *app = req->app;
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	int rc;

	*conn = NULL;
	if (!app || !app->db) {
		buf_errf(&err, "no database is configured");
		rc = TW_EUNAVAIL;
	} else {
		rc = db_acquire(app->db, API_ACQUIRE_MS, conn, &err);
	}
	if (rc < 0)
		http_reply_error(req, rc,
				 "could not get a database connection: %s",
				 err.ptr);
	buf_release(&err);
	return rc;
}

void api_db_release(struct http_request *req, PGconn *conn, bool failed)
{
	struct api_app *app = req->app;

	/*
	 * A failed statement usually leaves a healthy session (db_release()
	 * rolls back an open transaction); only a lost one is broken.
	 */
	if (conn)
		db_release(app->db, conn,
			   failed && PQstatus(conn) != CONNECTION_OK);
}

static void pgresult_free(void *res)
{
	PQclear(res);
}

int api_exec(struct http_request *req, PGconn *conn, const char *sql,
	     int nparams, const char *const *params, PGresult **res,
	     struct buf *err)
{
	PGresult *r = NULL;
	int rc;

	rc = db_exec(conn, sql, nparams, params, &r, err);
	if (r)
		arena_on_free(req->arena, pgresult_free, r);
	if (res)
		*res = r;
	return rc;
}

int api_parse_id(const char *s, int64_t max, int64_t *out)
{
	long long v;
	char *end;
	int rc = TW_EINVAL;

	if (!s || !isdigit((unsigned char)s[0]) || strlen(s) > 19)
		goto fail;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v < 1 || v > max)
		goto fail;
	*out = (int64_t)v;
	rc = 0;
fail:
	return rc;
}

int api_path_id(struct http_request *req, const char *name, const char *what,
		int64_t max, const char **text, int64_t *id)
{
	int64_t v = 0;
	int rc;

	rc = api_parse_id(http_param(req, name), max, &v);
	if (rc < 0) {
		rc = http_reply_error(req, TW_ENOTFOUND, "no such %s", what);
		goto out;
	}
	*text = arena_printf(req->arena, "%" PRId64, v);
	if (id)
		*id = v;
out:
	return rc;
}

int api_page_args(struct http_request *req, int64_t cursor_max, long *limit,
		  const char **cursor)
{
	const char *limit_s = http_query(req, "limit");
	const char *cursor_s = http_query(req, "cursor");
	int64_t after = 0;
	int rc = 0;

	*limit = API_LIMIT_DEFAULT;
	*cursor = NULL;
	if (limit_s && str_to_long(limit_s, 1, API_LIMIT_MAX, limit) < 0) {
		rc = http_reply_error(req, TW_EVALIDATION,
				      "limit must be an integer from 1 to %d",
				      API_LIMIT_MAX);
		goto out;
	}
	if (cursor_s && *cursor_s) {
		rc = api_parse_id(cursor_s, cursor_max, &after);
		if (rc < 0) {
			rc = http_reply_error(req, TW_EVALIDATION,
					      "cursor is not one this API "
					      "returned");
			goto out;
		}
		*cursor = arena_printf(req->arena, "%" PRId64, after);
	}
out:
	return rc;
}

const char *api_owner_filter(struct http_request *req)
{
	const struct auth_user *me = req->auth;
	unsigned role;

	if (!me)
		TW_BUG("an owner filter on a route without authentication");
	role = auth_role_bit(me->role);
	if (role == AUTH_ROLE_ADMIN || role == AUTH_ROLE_VIEWER)
		return NULL;
	return arena_printf(req->arena, "%" PRId64, me->id);
}

/*
 * The names passed str_ident_valid() when the configuration was read, so
 * none holds a quote or a backslash.
 */
const char *api_data_schemas_param(struct http_request *req)
{
	const struct cfg *cfg = ((struct api_app *)req->app)->cfg;
	struct buf b = BUF_INIT(CFG_MAX_SCHEMAS * 80 + 8);
	const char *out;

	db_catalog_schemas(&b, cfg->data_schemas, cfg->n_data_schemas);
	out = arena_strdup(req->arena, b.ptr);
	buf_release(&b);
	return out;
}

int api_may_write(struct http_request *req)
{
	const struct auth_user *me = req->auth;
	int rc = 0;

	if (!me || auth_role_bit(me->role) == AUTH_ROLE_VIEWER)
		rc = http_reply_error(req, TW_EFORBIDDEN,
				      "your role may not do this");
	return rc;
}

/* Replies the error rc with "details": {"field": field}; returns rc. */
static int reply_field_v(struct http_request *req, int rc, const char *field,
			 const char *fmt, va_list ap)
{
	struct buf msg = BUF_INIT(BUF_SMALL_CAP);
	json_t *body;

	buf_vaddf(&msg, fmt, ap);
	body = json_pack("{s:{s:s, s:s, s:{s:s}}}", "error", "code",
			 http_code_for(rc), "message", msg.ptr, "details",
			 "field", field);
	http_reply_json(req, http_status_for(rc), body);
	buf_release(&msg);
	return rc;
}

int api_reply_field(struct http_request *req, const char *field,
		    const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = reply_field_v(req, TW_EVALIDATION, field, fmt, ap);
	va_end(ap);
	return rc;
}

int api_reply_conflict(struct http_request *req, const char *field,
		       const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = reply_field_v(req, TW_ECONFLICT, field, fmt, ap);
	va_end(ap);
	return rc;
}

int api_load_visible(struct http_request *req, const char *what,
		     const char *sql, const char *owner, PGconn **conn,
		     PGresult **res)
{
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	const char *params[2];
	const char *id = NULL;
	int rc;

	*conn = NULL;
	*res = NULL;
	rc = api_path_id(req, "id", what, INT64_MAX, &id, NULL);
	if (rc < 0)
		goto out;
	params[0] = id;
	params[1] = owner;
	rc = api_db_acquire(req, conn);
	if (rc < 0)
		goto out;
	rc = api_exec(req, *conn, sql, 2, params, res, &err);
	if (rc < 0) {
		http_reply_error(req, rc, "could not query the %s: %s", what,
				 err.ptr);
		goto out;
	}
	if (PQntuples(*res) == 0)
		rc = http_reply_error(req, TW_ENOTFOUND, "no such %s", what);
out:
	buf_release(&err);
	return rc;
}

json_t *api_col_int(const PGresult *res, int row, int col)
{
	json_t *v = NULL;

	if (!PQgetisnull(res, row, col))
		v = json_integer((json_int_t)db_col_i64_or(res, row, col, 0));
	return v ? v : json_null();
}

json_t *api_col_real(const PGresult *res, int row, int col)
{
	json_t *v = NULL;

	if (!PQgetisnull(res, row, col))
		v = json_real(strtod(PQgetvalue(res, row, col), NULL));
	return v ? v : json_null();
}

/*
 * The text came in through jansson, which only accepts UTF-8, so the
 * fallback to null is for a database edited by hand.
 */
json_t *api_col_str(const PGresult *res, int row, int col)
{
	json_t *s = NULL;

	if (!PQgetisnull(res, row, col))
		s = json_stringn(PQgetvalue(res, row, col),
				 (size_t)PQgetlength(res, row, col));
	return s ? s : json_null();
}

json_t *api_col_bool(const PGresult *res, int row, int col)
{
	return json_boolean(!strcmp(PQgetvalue(res, row, col), "t"));
}

json_t *api_user_json(const struct auth_user *u)
{
	return json_pack("{s:I, s:s, s:s, s:b, s:s}", "id", (json_int_t)u->id,
			 "email", u->email, "role", u->role, "disabled",
			 u->disabled, "created_at", u->created_at);
}

int api_source_table(struct http_request *req, const char *source,
		     const char **schema, const char **name)
{
	const struct cfg *cfg = ((struct api_app *)req->app)->cfg;
	const char *dot = strchr(source, '.');
	int rc = 0;

	*schema = NULL;
	*name = NULL;
	if (dot) {
		*schema = arena_strndup(req->arena, source,
					(size_t)(dot - source));
		*name = dot + 1;
	}
	if (!dot || !str_ident_valid(*schema) || !str_ident_valid(*name)) {
		rc = api_reply_field(
			req, "source_table",
			"source_table must be \"schema.name\", "
			"each matching ^[A-Za-z_][A-Za-z0-9_]{0,62}$");
		goto out;
	}
	if (!db_catalog_is_data_schema(*schema, cfg->data_schemas,
				       cfg->n_data_schemas, cfg->app_schema))
		rc = api_reply_field(req, "source_table",
				     "schema \"%s\" is not one of the data "
				     "schemas",
				     *schema);
out:
	return rc;
}
