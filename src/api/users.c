#include "core/compat.h"
#include "api/api_int.h"
#include "auth/auth.h"
#include "core/err.h"
#include "log/log.h"

/*
 * users.c - the /api/v1/users resource (admin only; routes.c says so):
 * list, create, and change a user's role, status or password.
 *
 * Users are never deleted (their jobs keep an owner); disabling one ends
 * every session at once. The checks and the last-admin rule live in
 * auth/users.c; this file maps them to HTTP: 422 for bad input, 409 for a
 * taken email or for a change that would leave no enabled admin, 404 for an
 * unknown id (or one that is not a positive integer).
 */

static const char *const create_fields[] = { "email", "password", "role",
					     NULL };
static const char *const patch_fields[] = { "role", "disabled", "password",
					    NULL };

/* The longest password a body may carry before it is checked. */
#define USERS_PASSWORD_CAP 1024

/* --- GET /api/v1/users --------------------------------------------------- */

/*
 * A page, newest first, as scripts and jobs list theirs: below the cursor
 * ($1, NULL for the first page), one row more than asked for ($2) so the
 * handler knows whether another page follows. The columns are those of
 * api_user_json(), in its order.
 */
static const char list_sql[] = "SELECT id, email, role, disabled, " API_UTC(
	"created_at") " FROM users"
		      " WHERE ($1::bigint IS NULL OR id < $1)"
		      " ORDER BY id DESC LIMIT $2::int + 1";

/* The user in row of list_sql's result, as api_user_json() shows one. */
static json_t *user_row_json(const PGresult *res, int row)
{
	json_t *o = json_object();

	json_object_set_new(o, "id", api_col_int(res, row, 0));
	json_object_set_new(o, "email", api_col_str(res, row, 1));
	json_object_set_new(o, "role", api_col_str(res, row, 2));
	json_object_set_new(o, "disabled", api_col_bool(res, row, 3));
	json_object_set_new(o, "created_at", api_col_str(res, row, 4));
	return o;
}

int api_users_list(struct http_request *req)
{
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	const char *params[2];
	PGconn *conn = NULL;
	PGresult *res = NULL;
	json_t *items, *next;
	long limit = 0;
	int i, n;
	int rc;

	rc = api_page_args(req, INT64_MAX, &limit, &params[0]);
	if (rc < 0)
		goto out;
	params[1] = arena_printf(req->arena, "%ld", limit);
	rc = api_db_acquire(req, &conn);
	if (rc < 0)
		goto out;
	rc = api_exec(req, conn, list_sql, 2, params, &res, &err);
	if (rc < 0) {
		http_reply_error(req, rc, "could not list users: %s", err.ptr);
		goto out;
	}
	n = PQntuples(res);
	items = json_array();
	for (i = 0; i < n && i < limit; i++)
		json_array_append_new(items, user_row_json(res, i));
	/* The cursor is the last id of this page, as an opaque string. */
	next = n > limit ? json_string(PQgetvalue(res, (int)limit - 1, 0))
			 : json_null();
	rc = http_reply_json(req, 200,
			     json_pack("{s:o, s:o}", "items", items,
				       "next_cursor", next));
out:
	api_db_release(req, conn, rc < 0);
	buf_release(&err);
	return rc;
}

/* --- POST /api/v1/users -------------------------------------------------- */

/* Checks a password from a body, replying 422 when it is unacceptable. */
static int check_new_password(struct http_request *req, const char *password)
{
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	int rc;

	rc = auth_check_password(password, &err);
	if (rc < 0)
		http_reply_error(req, rc, "%s", err.ptr);
	buf_release(&err);
	return rc;
}

/* Checks a role from a body, replying 422 when it is unknown. */
static int check_role(struct http_request *req, const char *role)
{
	if (auth_role_bit(role))
		return 0;
	return http_reply_error(req, TW_EVALIDATION,
				"role must be admin, analyst or viewer");
}

int api_users_create(struct http_request *req)
{
	struct api_app *app = req->app;
	const struct auth_user *me = req->auth;
	struct buf norm = BUF_INIT(AUTH_EMAIL_MAX + 1);
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	const char *email, *password, *role;
	struct auth_user user;
	PGconn *conn = NULL;
	json_t *obj;
	int rc;

	rc = http_body_json(req, &obj);
	if (rc == 0)
		rc = http_json_check_fields(req, obj, create_fields);
	if (rc == 0)
		rc = http_json_string(req, obj, "email", true, &email, NULL);
	if (rc == 0)
		rc = http_json_string(req, obj, "password", true, &password,
				      NULL);
	if (rc == 0)
		rc = http_json_string(req, obj, "role", true, &role, NULL);
	if (rc < 0)
		goto out;
	rc = auth_check_email(email, &norm, &err);
	if (rc < 0) {
		http_reply_error(req, rc, "%s", err.ptr);
		goto out;
	}
	rc = check_new_password(req, password);
	if (rc == 0)
		rc = check_role(req, role);
	if (rc < 0)
		goto out;

	rc = api_db_acquire(req, &conn);
	if (rc < 0)
		goto out;
	rc = auth_user_create(conn, norm.ptr, password, role,
			      (int)app->cfg->bcrypt_cost, &user, &err);
	if (rc < 0) {
		http_reply_error(req, rc, "%s", err.ptr);
		goto out;
	}
	log_info(LOG_APP, "user %" PRId64 " (%s, %s) created by user %" PRId64,
		 user.id, user.email, user.role, me ? me->id : (int64_t)0);
	rc = http_reply_json(req, 201, api_user_json(&user));
out:
	api_db_release(req, conn, rc < 0);
	buf_release(&norm);
	buf_release(&err);
	return rc;
}

/* --- PATCH /api/v1/users/{id} -------------------------------------------- */

/*
 * apply_patch() makes the changes. A password together with a role or
 * status change happens in one transaction (auth_user_update() then works
 * in a savepoint), role and status first: they take the admins' row locks
 * before the user's, the order every such change uses.
 */
static int apply_patch(PGconn *conn, int64_t id, const char *role, int disabled,
		       const char *password, int cost, struct buf *err)
{
	bool both = password && (role || disabled != -1);
	struct db_tx tx = { .open = false };
	int rc = 0;

	if (both) {
		rc = db_tx_begin(&tx, conn, err);
		if (rc < 0)
			goto fail;
	}
	if (role || disabled != -1) {
		rc = auth_user_update(conn, id, role, disabled, err);
		if (rc < 0)
			goto fail;
	}
	if (password) {
		rc = auth_user_set_password(conn, id, password, cost, err);
		if (rc < 0)
			goto fail;
	}
	if (tx.open)
		rc = db_tx_commit(&tx, err);
fail:
	db_tx_rollback(&tx);
	return rc;
}

int api_users_patch(struct http_request *req)
{
	struct api_app *app = req->app;
	const struct auth_user *me = req->auth;
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	const char *role = NULL, *password = NULL, *id_text = NULL;
	struct auth_user user;
	PGconn *conn = NULL;
	json_t *obj, *dis;
	int disabled = -1;
	int64_t id = 0;
	int rc;

	rc = api_path_id(req, "id", "user", INT64_MAX, &id_text, &id);
	if (rc == 0)
		rc = http_body_json(req, &obj);
	if (rc == 0)
		rc = http_json_check_fields(req, obj, patch_fields);
	if (rc == 0)
		rc = http_json_string(req, obj, "role", false, &role, NULL);
	if (rc == 0)
		rc = http_json_string(req, obj, "password", false, &password,
				      NULL);
	if (rc < 0)
		goto out;
	dis = json_object_get(obj, "disabled");
	if (dis && !json_is_boolean(dis)) {
		rc = http_reply_error(req, TW_EVALIDATION,
				      "disabled must be true or false");
		goto out;
	}
	if (dis)
		disabled = json_is_true(dis) ? 1 : 0;
	if (!role && !password && disabled == -1) {
		rc = http_reply_error(req, TW_EVALIDATION,
				      "nothing to change: give role, disabled "
				      "or password");
		goto out;
	}
	if (role) {
		rc = check_role(req, role);
		if (rc < 0)
			goto out;
	}
	if (password) {
		rc = check_new_password(req, password);
		if (rc < 0)
			goto out;
	}

	rc = api_db_acquire(req, &conn);
	if (rc < 0)
		goto out;
	rc = apply_patch(conn, id, role, disabled, password,
			 (int)app->cfg->bcrypt_cost, &err);
	if (rc == 0)
		rc = auth_user_get(conn, id, &user, &err);
	if (rc < 0) {
		http_reply_error(req, rc, "%s", err.ptr);
		goto out;
	}
	log_info(LOG_APP,
		 "user %" PRId64 " changed by user %" PRId64 ":%s%s%s%s", id,
		 me ? me->id : (int64_t)0, role ? " role " : "",
		 role ? role : "",
		 disabled == 1	 ? " disabled"
		 : disabled == 0 ? " enabled"
				 : "",
		 password ? " password" : "");
	rc = http_reply_json(req, 200, api_user_json(&user));
out:
	api_db_release(req, conn, rc < 0);
	buf_release(&err);
	return rc;
}
