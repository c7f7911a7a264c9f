#include "core/compat.h"
#include "auth/auth.h"
#include "core/err.h"
#include "core/str.h"
#include "db/db.h"

/*
 * users.c - the users table: input checks, creation, look-ups, password
 * changes and role/status changes.
 *
 * Emails are stored lower-cased (the table's CHECK insists). They are
 * lower-cased twice on purpose: auth_check_email() folds ASCII, and every
 * statement wraps the email parameter in SQL lower(), which in a UTF-8
 * database also folds non-ASCII letters, so the stored form and every
 * look-up agree whatever the client typed.
 *
 * Every change to a user bumps token_version (the updated_at trigger of
 * migration 0001 bumps updated_at), so a token issued before the change
 * stops working at once (see api/authn.c); so does signing out
 * (auth_user_revoke_tokens()), which ends every session of the user.
 */

/* The columns that fill a struct auth_user, in parse_user()'s order. */
#define USER_COLUMNS                                 \
	"id, email, role, disabled, token_version, " \
	"to_char(created_at AT TIME ZONE 'UTC', "    \
	"'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
#define SELECT_USERS "SELECT " USER_COLUMNS " FROM users"

static const char conflict_msg[] = "a user with this email already exists";

static const char insert_sql[] = "INSERT INTO users"
				 " (email, password_hash, role)"
				 " VALUES (lower($1), $2, $3)"
				 " RETURNING " USER_COLUMNS;

static const char by_id_sql[] = SELECT_USERS " WHERE id = $1";

static const char by_email_sql[] = SELECT_USERS " WHERE email = lower($1)";

static const char set_password_sql[] = "UPDATE users"
				       " SET password_hash = $2,"
				       " token_version = token_version + 1"
				       " WHERE id = $1";

/* Signing out: only a token of the current version may bump it. */
static const char revoke_sql[] = "UPDATE users"
				 " SET token_version = token_version + 1"
				 " WHERE id = $1 AND token_version = $2";

/*
 * auth_user_update() locks every enabled admin, in id order, before the
 * target row: two concurrent changes then take their locks in the same
 * order, and the second sees the first's outcome once it gets them (READ
 * COMMITTED re-checks the WHERE clause of a row it waited for).
 */
static const char lock_admins_sql[] = "SELECT id FROM users"
				      " WHERE role = 'admin'"
				      " AND NOT disabled"
				      " ORDER BY id FOR UPDATE";

static const char lock_user_sql[] = "SELECT role, disabled FROM users"
				    " WHERE id = $1 FOR UPDATE";

static const char update_sql[] = "UPDATE users"
				 " SET role = coalesce($2, role),"
				 " disabled = coalesce($3::boolean, disabled),"
				 " token_version = token_version + 1"
				 " WHERE id = $1";

/* Copies s into dst[size], TW_EINVAL when it does not fit. */
static int copy_field(char *dst, size_t size, const char *s)
{
	size_t n = strlen(s);

	if (n >= size)
		return TW_EINVAL;
	memcpy(dst, s, n + 1);
	return 0;
}

/*
 * parse_user() fills out from row of a result whose first columns are
 * USER_COLUMNS. TW_EINTERNAL when a value does not fit (the schema's CHECKs
 * make that impossible unless the table was changed by hand).
 */
static int parse_user(const PGresult *res, int row, struct auth_user *out,
		      struct buf *err)
{
	int rc;

	memset(out, 0, sizeof(*out));
	rc = db_col_i64(res, row, 0, &out->id, NULL);
	if (rc == 0)
		rc = copy_field(out->email, sizeof(out->email),
				PQgetvalue(res, row, 1));
	if (rc == 0)
		rc = copy_field(out->role, sizeof(out->role),
				PQgetvalue(res, row, 2));
	if (rc == 0)
		out->disabled = !strcmp(PQgetvalue(res, row, 3), "t");
	if (rc == 0)
		rc = db_col_i64(res, row, 4, &out->token_version, NULL);
	if (rc == 0)
		rc = copy_field(out->created_at, sizeof(out->created_at),
				PQgetvalue(res, row, 5));
	if (rc < 0) {
		buf_errf(err, "unexpected row in the users table");
		rc = TW_EINTERNAL;
	}
	return rc;
}

static bool is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
	       c == '\f';
}

int auth_check_email(const char *email, struct buf *out, struct buf *err)
{
	const unsigned char *s = (const unsigned char *)email;
	size_t start, end, i, at = 0, nat = 0;
	int rc = TW_EVALIDATION;

	buf_reset(out);
	if (!email) {
		buf_errf(err, "email is required");
		goto fail;
	}
	end = strlen(email);
	for (start = 0; start < end && is_space(s[start]); start++)
		;
	while (end > start && is_space(s[end - 1]))
		end--;
	if (end - start < 3 || end - start > AUTH_EMAIL_MAX) {
		buf_errf(err, "email must be 3 to %d bytes long",
			 AUTH_EMAIL_MAX);
		goto fail;
	}
	for (i = start; i < end; i++) {
		if (s[i] < 0x20 || s[i] == 0x7F) {
			buf_errf(err, "email must not contain control "
				      "characters");
			goto fail;
		}
		if (is_space(s[i])) {
			buf_errf(err, "email must not contain white space");
			goto fail;
		}
		if (s[i] == '@') {
			at = i;
			nat++;
		}
	}
	if (nat != 1 || at == start || at == end - 1) {
		buf_errf(err, "email must contain one @ with text on both "
			      "sides");
		goto fail;
	}
	if (!str_utf8_valid(email + start, end - start)) {
		buf_errf(err, "email must be valid UTF-8");
		goto fail;
	}
	for (i = start; i < end; i++) {
		rc = buf_addch(out, tolower(s[i]));
		if (rc < 0) {
			buf_errf(err, "email does not fit its buffer");
			goto fail;
		}
	}
	rc = 0;
fail:
	if (rc < 0)
		buf_reset(out);
	return rc;
}

int auth_check_password(const char *password, struct buf *err)
{
	size_t n;
	int rc = TW_EVALIDATION;

	if (!password) {
		buf_errf(err, "password is required");
		goto fail;
	}
	n = strlen(password);
	if (n < AUTH_PASSWORD_MIN) {
		buf_errf(err, "password must be at least %d bytes long",
			 AUTH_PASSWORD_MIN);
		goto fail;
	}
	if (n > AUTH_BCRYPT_MAX_PASSWORD) {
		buf_errf(err,
			 "password must be at most %d bytes long (bcrypt "
			 "ignores the rest)",
			 AUTH_BCRYPT_MAX_PASSWORD);
		goto fail;
	}
	rc = 0;
fail:
	return rc;
}

/* Checks a role name: TW_EVALIDATION unless admin, analyst or viewer. */
static int check_role(const char *role, struct buf *err)
{
	if (!role || !auth_role_bit(role)) {
		buf_errf(err, "role must be admin, analyst or viewer");
		return TW_EVALIDATION;
	}
	return 0;
}

/*
 * Runs sql and moves the database's message into err, except for a unique
 * violation, which becomes conflict_msg (the server's text names the
 * constraint, which is no business of the client's).
 */
static int exec_user_sql(PGconn *conn, const char *sql, int nparams,
			 const char *const *params, PGresult **res,
			 struct buf *err)
{
	struct buf dberr = BUF_INIT(BUF_SMALL_CAP);
	int rc;

	rc = db_exec(conn, sql, nparams, params, res, &dberr);
	if (rc == TW_ECONFLICT)
		buf_errf(err, "%s", conflict_msg);
	else if (rc < 0)
		buf_errf(err, "%s", dberr.ptr);
	buf_release(&dberr);
	return rc;
}

int auth_user_create(PGconn *conn, const char *email, const char *password,
		     const char *role, int cost, struct auth_user *out,
		     struct buf *err)
{
	struct buf norm = BUF_INIT(AUTH_EMAIL_MAX + 1);
	struct buf hash = BUF_INIT(AUTH_BCRYPT_HASH_LEN + 1);
	const char *params[3];
	PGresult *res = NULL;
	struct auth_user tmp;
	int rc;

	rc = auth_check_email(email, &norm, err);
	if (rc < 0)
		goto fail;
	rc = auth_check_password(password, err);
	if (rc < 0)
		goto fail;
	rc = check_role(role, err);
	if (rc < 0)
		goto fail;
	rc = auth_bcrypt_hash(password, cost, &hash, err);
	if (rc < 0)
		goto fail;
	params[0] = norm.ptr;
	params[1] = hash.ptr;
	params[2] = role;
	rc = exec_user_sql(conn, insert_sql, 3, params, &res, err);
	if (rc < 0)
		goto fail;
	rc = parse_user(res, 0, out ? out : &tmp, err);
fail:
	if (res)
		PQclear(res);
	buf_release(&hash);
	buf_release(&norm);
	return rc;
}

/* Runs a query for one user; TW_ENOTFOUND (with what) when none. */
static int get_one(PGconn *conn, const char *sql, const char *param,
		   const char *what, struct auth_user *out, struct buf *err)
{
	const char *params[1];
	PGresult *res = NULL;
	int rc;

	params[0] = param;
	rc = exec_user_sql(conn, sql, 1, params, &res, err);
	if (rc < 0)
		goto fail;
	if (PQntuples(res) != 1) {
		buf_errf(err, "no user with %s", what);
		rc = TW_ENOTFOUND;
		goto fail;
	}
	rc = parse_user(res, 0, out, err);
fail:
	if (res)
		PQclear(res);
	return rc;
}

int auth_user_get(PGconn *conn, int64_t id, struct auth_user *out,
		  struct buf *err)
{
	char idtext[32];
	char what[48];

	snprintf(idtext, sizeof(idtext), "%" PRId64, id);
	snprintf(what, sizeof(what), "id %" PRId64, id);
	return get_one(conn, by_id_sql, idtext, what, out, err);
}

int auth_user_get_by_email(PGconn *conn, const char *email,
			   struct auth_user *out, struct buf *err)
{
	struct buf norm = BUF_INIT(AUTH_EMAIL_MAX + 1);
	int rc;

	/* An email that fails the checks cannot belong to any user. */
	rc = auth_check_email(email, &norm, NULL);
	if (rc < 0) {
		buf_errf(err, "no user with this email");
		rc = TW_ENOTFOUND;
		goto fail;
	}
	rc = get_one(conn, by_email_sql, norm.ptr, "this email", out, err);
fail:
	buf_release(&norm);
	return rc;
}

int auth_user_set_password(PGconn *conn, int64_t id, const char *password,
			   int cost, struct buf *err)
{
	struct buf hash = BUF_INIT(AUTH_BCRYPT_HASH_LEN + 1);
	const char *params[2];
	PGresult *res = NULL;
	char idtext[32];
	int rc;

	rc = auth_check_password(password, err);
	if (rc < 0)
		goto fail;
	rc = auth_bcrypt_hash(password, cost, &hash, err);
	if (rc < 0)
		goto fail;
	snprintf(idtext, sizeof(idtext), "%" PRId64, id);
	params[0] = idtext;
	params[1] = hash.ptr;
	rc = exec_user_sql(conn, set_password_sql, 2, params, &res, err);
	if (rc < 0)
		goto fail;
	if (strcmp(PQcmdTuples(res), "1") != 0) {
		buf_errf(err, "no user with id %" PRId64, id);
		rc = TW_ENOTFOUND;
		goto fail;
	}
fail:
	if (res)
		PQclear(res);
	buf_release(&hash);
	return rc;
}

int auth_user_revoke_tokens(PGconn *conn, int64_t id, int64_t tv,
			    struct buf *err)
{
	const char *params[2];
	PGresult *res = NULL;
	char idtext[32], tvtext[32];
	int rc;

	snprintf(idtext, sizeof(idtext), "%" PRId64, id);
	snprintf(tvtext, sizeof(tvtext), "%" PRId64, tv);
	params[0] = idtext;
	params[1] = tvtext;
	rc = exec_user_sql(conn, revoke_sql, 2, params, &res, err);
	if (rc < 0)
		goto fail;
	if (strcmp(PQcmdTuples(res), "1") != 0) {
		buf_errf(err,
			 "no user with id %" PRId64 " and token version "
			 "%" PRId64,
			 id, tv);
		rc = TW_ENOTFOUND;
		goto fail;
	}
fail:
	if (res)
		PQclear(res);
	return rc;
}

/*
 * auth_user_update()'s unit of work is a transaction of its own, or a
 * savepoint when the caller already has one open (api/users.c changes a
 * password in the same transaction).
 */
int auth_user_update(PGconn *conn, int64_t id, const char *role, int disabled,
		     struct buf *err)
{
	const char *params[3];
	PGresult *res = NULL;
	struct db_tx tx = { .open = false };
	bool cur_disabled, new_disabled, was_admin, stays_admin, changed;
	int admins;
	char idtext[32];
	int rc;

	if (role) {
		rc = check_role(role, err);
		if (rc < 0)
			goto fail;
	}
	if (disabled < -1 || disabled > 1) {
		buf_errf(err, "disabled must be -1, 0 or 1");
		rc = TW_EVALIDATION;
		goto fail;
	}
	rc = db_tx_begin_nested(&tx, conn, "auth_user_update", err);
	if (rc < 0)
		goto fail;
	rc = db_exec(conn, lock_admins_sql, 0, NULL, &res, err);
	if (rc < 0)
		goto fail;
	admins = PQntuples(res);
	PQclear(res);
	res = NULL;

	snprintf(idtext, sizeof(idtext), "%" PRId64, id);
	params[0] = idtext;
	rc = db_exec(conn, lock_user_sql, 1, params, &res, err);
	if (rc < 0)
		goto fail;
	if (PQntuples(res) != 1) {
		buf_errf(err, "no user with id %" PRId64, id);
		rc = TW_ENOTFOUND;
		goto fail;
	}
	cur_disabled = !strcmp(PQgetvalue(res, 0, 1), "t");
	was_admin = !strcmp(PQgetvalue(res, 0, 0), "admin") && !cur_disabled;
	new_disabled = disabled == -1 ? cur_disabled : disabled == 1;
	stays_admin = !strcmp(role ? role : PQgetvalue(res, 0, 0), "admin") &&
		      !new_disabled;
	changed = (role && strcmp(role, PQgetvalue(res, 0, 0)) != 0) ||
		  new_disabled != cur_disabled;
	PQclear(res);
	res = NULL;
	if (was_admin && !stays_admin && admins <= 1) {
		buf_errf(err, "this is the last enabled admin: make another "
			      "user admin first");
		rc = TW_ECONFLICT;
		goto fail;
	}
	/* Setting what is already set changes nothing, not even tokens. */
	if (!changed)
		goto commit;

	params[1] = role;
	params[2] = disabled == -1 ? NULL : disabled ? "true" : "false";
	rc = db_exec(conn, update_sql, 3, params, NULL, err);
	if (rc < 0)
		goto fail;
commit:
	rc = db_tx_commit(&tx, err);
fail:
	if (res)
		PQclear(res);
	db_tx_rollback(&tx);
	return rc;
}
