#include "core/compat.h"
#include "api/api_int.h"
#include "auth/auth.h"
#include "core/err.h"
#include "core/str.h"

/*
 * common.c - what the resource files' handlers share: path ids, paging
 * arguments, role checks, 422 with a field, and result columns as JSON.
 */

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
