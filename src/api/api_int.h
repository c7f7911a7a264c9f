/*
 * api_int.h - the handlers of the resource files, which routes.c names, and
 * the helpers the resource files share (common.c).
 */
#ifndef TW_API_API_INT_H
#define TW_API_API_INT_H

#include <stddef.h>

#include <jansson.h>

#include "api/api.h"
#include "auth/auth.h"
#include "core/buf.h"

int api_health_get(struct http_request *req);
int api_openapi_get(struct http_request *req);

/* auth.c */
int api_auth_login(struct http_request *req);
int api_auth_me(struct http_request *req);
int api_auth_password(struct http_request *req);
int api_auth_logout(struct http_request *req);

/* The longest password a login body may carry (longer ones are 422). */
#define API_LOGIN_PASSWORD_MAX 1024

/*
 * api_login_parse() parses and checks a login body, {"email","password"}
 * and nothing else, without touching the request (a libFuzzer target
 * drives it: tests/fuzz/fuzz_login_body.c). On success email holds the
 * normalised address (auth_check_email()) and password the password's
 * bytes (1 to API_LOGIN_PASSWORD_MAX, no NUL); both are reset first, so
 * their caps must be at least AUTH_EMAIL_MAX + 1 and
 * API_LOGIN_PASSWORD_MAX + 1. Errors, with one line in err: TW_EINVAL when
 * the body is not a JSON object (400), TW_EVALIDATION for an unknown,
 * missing or mistyped field or a malformed email (422).
 */
int api_login_parse(const char *body, size_t len, struct buf *email,
		    struct buf *password, struct buf *err);

/* users.c */
int api_users_list(struct http_request *req);
int api_users_create(struct http_request *req);
int api_users_patch(struct http_request *req);

/* tables.c */
int api_tables_list(struct http_request *req);
int api_tables_get(struct http_request *req);
int api_tables_rows(struct http_request *req);
int api_tables_rollback(struct http_request *req);

/* scripts.c */
int api_scripts_list(struct http_request *req);
int api_scripts_create(struct http_request *req);
int api_scripts_get(struct http_request *req);
int api_scripts_update(struct http_request *req);
int api_scripts_delete(struct http_request *req);
int api_scripts_versions(struct http_request *req);
int api_scripts_version_get(struct http_request *req);

/* jobs.c */
int api_jobs_create(struct http_request *req);
int api_jobs_list(struct http_request *req);
int api_jobs_get(struct http_request *req);
int api_jobs_logs(struct http_request *req);
int api_jobs_events(struct http_request *req);
int api_jobs_cancel(struct http_request *req);

/* preview.c */
int api_preview_create(struct http_request *req);
int api_scripts_validate(struct http_request *req);

/* runner_pool.c */
struct sbx_child;

/*
 * api_runners_enter() admits one request that will use a runner:
 * TW_ETOOMANY when as many run as the server allows (429), TW_EUNAVAIL
 * when previews are off or the server stops (503), with the reason in err.
 * Pair with api_runners_leave().
 */
int api_runners_enter(struct api_runners *p, struct buf *err);
void api_runners_leave(struct api_runners *p);

/*
 * api_runners_take() hands over a started runner, the caller's to use for
 * one request and free with sbx_child_free(): for a preview a pooled one
 * (*warm, its imports most likely done) when there is one, else one
 * started now; with validate, a fresh runner that only compiles
 * (`tablewright_runner validate`). Its wall limit leaves at least
 * TW_PREVIEW_TIMEOUT_S (API_VALIDATE_MS); the caller enforces its own
 * deadline.
 */
int api_runners_take(struct api_runners *p, bool validate,
		     struct sbx_child **out, bool *warm, struct buf *err);

/* How long a validation may take (the runner is killed after it). */
#define API_VALIDATE_MS ((int64_t)5000)

/* --- common.c ------------------------------------------------------------ */

/*
 * The helpers every resource file may use, all in common.c. Call them by
 * these names (a #define that renames one in a handler file defeats grep).
 * Those that take the request reply themselves when they fail and return
 * the error.
 */

/*
 * api_db_acquire() takes a pooled connection for a handler, or replies
 * (503 and the like) and returns the error. Pair with api_db_release().
 */
int api_db_acquire(struct http_request *req, PGconn **conn);

/* Returns conn to the pool; failed says the last statement failed. */
void api_db_release(struct http_request *req, PGconn *conn, bool failed);

/*
 * api_exec() is db_exec() with the result, when there is one, owned by the
 * request's arena (freed with it).
 */
int api_exec(struct http_request *req, PGconn *conn, const char *sql,
	     int nparams, const char *const *params, PGresult **res,
	     struct buf *err);

/*
 * api_parse_id() parses a positive decimal integer no larger than max, with
 * nothing around it ("12", not "+12", "1e3", " 1" or "0"): path ids and
 * cursors. TW_EINVAL otherwise.
 */
int api_parse_id(const char *s, int64_t max, int64_t *out);

/* Lists: ?limit= from 1 to API_LIMIT_MAX, API_LIMIT_DEFAULT when absent. */
#define API_LIMIT_DEFAULT 50
#define API_LIMIT_MAX 500

/*
 * api_path_id() reads the path parameter name as an id no larger than max:
 * *text gets its canonical decimal (arena memory, for a query parameter)
 * and *id (may be NULL) its value. Anything else is 404 "no such <what>":
 * /jobs/abc names no job, as /jobs/999 does not.
 *
 * api_page_args() reads ?limit= and ?cursor= (absent or empty for the first
 * page, else an id up to cursor_max, as this API returned it), 422 when
 * either is malformed; *cursor is NULL for the first page. Lists are newest
 * first, keyset-paged on id DESC: users, scripts, versions and jobs.
 */
int api_path_id(struct http_request *req, const char *name, const char *what,
		int64_t max, const char **text, int64_t *id);
int api_page_args(struct http_request *req, int64_t cursor_max, long *limit,
		  const char **cursor);

/*
 * api_owner_filter() is who sees what, for scripts and jobs: the caller's
 * id as a query parameter (arena memory) when the caller sees only their
 * own rows, NULL when every owner's (admins and viewers, who read all). A
 * role it does not know sees only its own, so a new role fails closed.
 */
const char *api_owner_filter(struct http_request *req);

/*
 * api_may_write() replies 403 to a viewer. routes.c already keeps viewers
 * off the write routes; this keeps a mistake there from opening them.
 */
int api_may_write(struct http_request *req);

/*
 * api_load_visible() is the read of one row by its path {id}: sql takes $1
 * the id and $2 owner (api_owner_filter(), or a stricter filter for
 * changes). A malformed id, or no row (missing or not the caller's), is
 * 404 "no such <what>". On success *res holds the row (arena-owned) and
 * *conn a pooled connection; the caller releases *conn with
 * api_db_release() on success and failure alike (it may be NULL).
 */
int api_load_visible(struct http_request *req, const char *what,
		     const char *sql, const char *owner, PGconn **conn,
		     PGresult **res);

/*
 * api_reply_field() replies 422 validation_failed with "details":
 * {"field": field} and returns TW_EVALIDATION; api_reply_conflict() is the
 * same as 409 conflict (TW_ECONFLICT), for a field that names something
 * whose state forbids the request.
 */
int api_reply_field(struct http_request *req, const char *field,
		    const char *fmt, ...) TW_PRINTF(3, 4);
int api_reply_conflict(struct http_request *req, const char *field,
		       const char *fmt, ...) TW_PRINTF(3, 4);

/*
 * API_UTC(col) is SQL that renders a timestamptz column as the API shows
 * times: RFC 3339 in UTC, "2026-11-26T06:40:01Z".
 */
#define API_UTC(col)                           \
	"to_char(" col " AT TIME ZONE 'UTC', " \
	"'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/*
 * api_data_schemas_param() is TW_DATA_SCHEMAS as a text[] literal for
 * DB_CATALOG_VISIBLE's $1 (db_catalog_schemas(), in arena memory).
 */
const char *api_data_schemas_param(struct http_request *req);

/*
 * api_source_table() splits a body's "schema.name" (source_table) into its
 * two identifiers (arena memory) and checks that the schema is a data
 * schema: 422 on source_table otherwise. Whether the relation exists and
 * the table explorer shows it is db_catalog_source_visible()'s to say.
 */
int api_source_table(struct http_request *req, const char *source,
		     const char **schema, const char **name);

/*
 * A result column as JSON (a new reference; SQL NULL is null): integer,
 * double, text (as read), and boolean ("t").
 */
json_t *api_col_int(const PGresult *res, int row, int col);
json_t *api_col_real(const PGresult *res, int row, int col);
json_t *api_col_str(const PGresult *res, int row, int col);
json_t *api_col_bool(const PGresult *res, int row, int col);

/*
 * api_user_json() is a user as the API shows it:
 * {"id","email","role","disabled","created_at"}. A new reference.
 */
json_t *api_user_json(const struct auth_user *u);

#endif
