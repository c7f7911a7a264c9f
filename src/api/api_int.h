/*
 * api_int.h - handlers shared between the resource files and routes.c, and
 * the helpers the resource files share.
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

/* users.c */
int api_users_list(struct http_request *req);
int api_users_create(struct http_request *req);
int api_users_patch(struct http_request *req);

/* tables.c */
int api_tables_list(struct http_request *req);
int api_tables_get(struct http_request *req);
int api_tables_rows(struct http_request *req);

/* scripts.c */
int api_scripts_list(struct http_request *req);
int api_scripts_create(struct http_request *req);
int api_scripts_get(struct http_request *req);
int api_scripts_update(struct http_request *req);
int api_scripts_delete(struct http_request *req);
int api_scripts_versions(struct http_request *req);
int api_scripts_version_get(struct http_request *req);

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

/*
 * api_user_json() is a user as the API shows it:
 * {"id","email","role","disabled","created_at"}. A new reference.
 */
json_t *api_user_json(const struct auth_user *u);

/*
 * api_db_acquire() takes a pooled connection for a handler, or replies
 * (503 and the like) and returns the error. Pair with api_db_release().
 */
int api_db_acquire(struct http_request *req, PGconn **conn);

/*
 * api_parse_id() parses a positive decimal integer no larger than max, with
 * nothing around it ("12", not "+12", "1e3", " 1" or "0"): path ids and
 * cursors. TW_EINVAL otherwise.
 */
int api_parse_id(const char *s, int64_t max, int64_t *out);

/*
 * api_exec() is db_exec() with the result, when there is one, owned by the
 * request's arena (freed with it).
 */
int api_exec(struct http_request *req, PGconn *conn, const char *sql,
	     int nparams, const char *const *params, PGresult **res,
	     struct buf *err);

/* Returns conn to the pool; failed says the last statement failed. */
void api_db_release(struct http_request *req, PGconn *conn, bool failed);

/*
 * api_secret_release() wipes a buffer that held a password, then
 * releases it.
 */
void api_secret_release(struct buf *b);

#endif
