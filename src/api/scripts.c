#include "core/compat.h"
#include "api/api_int.h"
#include "auth/auth.h"
#include "core/err.h"
#include "core/str.h"
#include "log/log.h"

/*
 * scripts.c - the /api/v1/scripts resource: saved transformation scripts
 * and their immutable versions (docs/scripts.md is the user's view).
 *
 * Who sees what. Admins and viewers see every script, analysts only their
 * own. Admins and analysts may create, change and delete what they see;
 * viewers never write (routes.c refuses them with 403, and the write
 * handlers check again). A script the caller may not see answers 404, as
 * one that does not exist or is deleted, so ids do not leak. The rule lives
 * in one place, api_owner_filter(): every query takes the caller's id as a
 * parameter that is NULL when the caller may see every owner.
 *
 * Versions. scripts.code_text is a copy of the newest version
 * (script_versions at current_version). Creating a script inserts version 1
 * and every save of code_text inserts the next one, in the transaction that
 * changes the script, with the script's row locked (SELECT ... FOR UPDATE)
 * so concurrent saves get distinct, consecutive numbers. A save makes a
 * version even when the code is unchanged; a rename makes none. Versions
 * are never updated or deleted: jobs reference them.
 *
 * Deleting sets deleted_at. The script disappears from every route, its
 * versions stay, and its name is free again (the unique index on
 * (user_id, name) only covers scripts that are not deleted).
 *
 * Limits. A name is 1 to SCRIPT_NAME_MAX Unicode code points (not bytes:
 * a user counts characters), without control characters or line breaks,
 * without white space at either end (422 otherwise), unique per owner among
 * live scripts (409); names are compared exactly, code point by code point.
 * code_text is 1 byte to SCRIPT_CODE_MAX bytes of UTF-8 (empty is 422, a
 * longer one 413): an empty script can do nothing, so saving one is a
 * mistake worth reporting.
 */

#define SCRIPT_NAME_MAX 100		     /* code points */
#define SCRIPT_CODE_MAX ((size_t)256 * 1024) /* bytes */

/*
 * A page of versions carries every version's code, so it stops early (with
 * a next_cursor) once the code already on it reaches this many bytes:
 * API_LIMIT_MAX versions of SCRIPT_CODE_MAX bytes would be 125 MiB.
 */
#define VERSIONS_PAGE_BYTES "8388608"

/* The largest value of an int column (version). */
#define VERSION_MAX 2147483647L

/*
 * The columns script_json() reads, in its order; the code, when wanted,
 * comes next. s is scripts, u the owner in users.
 */
#define SCRIPT_CREATED API_UTC("s.created_at")
#define SCRIPT_UPDATED API_UTC("s.updated_at")
#define VERSION_CREATED API_UTC("v.created_at")
#define SCRIPT_COLS                                                            \
	"s.id, s.user_id, u.email, s.name, s.current_version, " SCRIPT_CREATED \
	", " SCRIPT_UPDATED
#define COL_CODE 7

/* The columns version_json() reads, in its order; v is script_versions. */
#define VERSION_COLS "v.version, v.author_id, " VERSION_CREATED ", v.code_text"

/* A live script the caller may see: $1 its id, $2 the owner filter. */
#define VISIBLE                                                          \
	" s.id = $1 AND s.deleted_at IS NULL AND ($2::bigint IS NULL OR" \
	" s.user_id = $2)"

static const char *const create_fields[] = { "name", "code_text", NULL };
static const char *const update_fields[] = { "name", "code_text", NULL };

/*
 * script_json() is the script in row of a result with SCRIPT_COLS first:
 * {"id","user_id","owner_email","name","code_text"?,"current_version",
 * "created_at","updated_at"}, with code_text (column COL_CODE) when
 * with_code. A new reference.
 */
static json_t *script_json(const PGresult *res, int row, bool with_code)
{
	json_t *o = json_object();

	json_object_set_new(o, "id", api_col_int(res, row, 0));
	json_object_set_new(o, "user_id", api_col_int(res, row, 1));
	json_object_set_new(o, "owner_email", api_col_str(res, row, 2));
	json_object_set_new(o, "name", api_col_str(res, row, 3));
	if (with_code)
		json_object_set_new(o, "code_text",
				    api_col_str(res, row, COL_CODE));
	json_object_set_new(o, "current_version", api_col_int(res, row, 4));
	json_object_set_new(o, "created_at", api_col_str(res, row, 5));
	json_object_set_new(o, "updated_at", api_col_str(res, row, 6));
	return o;
}

/*
 * version_json() is the version in row of a result with the columns
 * version, author_id, created_at, code_text:
 * {"version","author_id","created_at","code_text"}. A new reference.
 */
static json_t *version_json(const PGresult *res, int row)
{
	json_t *o = json_object();

	json_object_set_new(o, "version", api_col_int(res, row, 0));
	json_object_set_new(o, "author_id", api_col_int(res, row, 1));
	json_object_set_new(o, "created_at", api_col_str(res, row, 2));
	json_object_set_new(o, "code_text", api_col_str(res, row, 3));
	return o;
}

/* --- checking a body ----------------------------------------------------- */

/*
 * utf8_next() decodes the code point at s[*i] and moves *i past it; -1 for
 * a malformed, overlong or surrogate sequence (jansson has already refused
 * those, but this does not rely on it).
 */
static long utf8_next(const unsigned char *s, size_t len, size_t *i)
{
	static const long min_cp[] = { 0, 0x80, 0x800, 0x10000 };
	unsigned char c = s[*i];
	size_t n, k;
	long cp = -1;

	if (c < 0x80)
		n = 1;
	else if ((c & 0xE0) == 0xC0)
		n = 2;
	else if ((c & 0xF0) == 0xE0)
		n = 3;
	else if ((c & 0xF8) == 0xF0)
		n = 4;
	else
		goto out;
	if (len - *i < n)
		goto out;
	cp = n == 1 ? c : c & (0x3F >> (n - 1));
	for (k = 1; k < n; k++) {
		if ((s[*i + k] & 0xC0) != 0x80) {
			cp = -1;
			goto out;
		}
		cp = (cp << 6) | (s[*i + k] & 0x3F);
	}
	if (cp < min_cp[n - 1] || cp > 0x10FFFF ||
	    (cp >= 0xD800 && cp <= 0xDFFF)) {
		cp = -1;
		goto out;
	}
	*i += n;
out:
	return cp;
}

/* Control characters (C0, DEL, C1) and the Unicode line breaks. */
static bool cp_is_control(long cp)
{
	return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x2028 ||
	       cp == 0x2029;
}

/* Unicode's White_Space characters that cp_is_control() lets through. */
static bool cp_is_space(long cp)
{
	return cp == 0x20 || cp == 0xA0 || cp == 0x1680 ||
	       (cp >= 0x2000 && cp <= 0x200A) || cp == 0x202F || cp == 0x205F ||
	       cp == 0x3000;
}

/*
 * check_name() applies the name rules of the file comment, replying 422
 * with the first one broken.
 */
static int check_name(struct http_request *req, const char *name, size_t len)
{
	const unsigned char *s = (const unsigned char *)name;
	size_t i = 0, count = 0;
	long cp = 0, first = -1;
	int rc = 0;

	if (len == 0) {
		rc = http_reply_error(req, TW_EVALIDATION,
				      "name must not be empty");
		goto out;
	}
	while (i < len) {
		cp = utf8_next(s, len, &i);
		if (cp < 0) {
			rc = http_reply_error(req, TW_EVALIDATION,
					      "name is not valid UTF-8");
			goto out;
		}
		if (cp_is_control(cp)) {
			rc = http_reply_error(req, TW_EVALIDATION,
					      "name must not contain control "
					      "characters or line breaks");
			goto out;
		}
		if (first < 0)
			first = cp;
		count++;
	}
	if (count > SCRIPT_NAME_MAX) {
		rc = http_reply_error(req, TW_EVALIDATION,
				      "name is %zu characters long; the limit "
				      "is %d",
				      count, SCRIPT_NAME_MAX);
		goto out;
	}
	/* cp is the last code point now. */
	if (cp_is_space(first) || cp_is_space(cp))
		rc = http_reply_error(req, TW_EVALIDATION,
				      "name must not start or end with white "
				      "space");
out:
	return rc;
}

/*
 * check_code() replies 422 to an empty code_text and 413 to one over
 * SCRIPT_CODE_MAX bytes.
 */
static int check_code(struct http_request *req, size_t len)
{
	int rc = 0;

	if (len == 0)
		rc = http_reply_error(req, TW_EVALIDATION,
				      "code_text must not be empty");
	else if (len > SCRIPT_CODE_MAX)
		rc = http_reply_error(req, TW_ETOOBIG,
				      "code_text is %zu bytes; the limit is "
				      "%zu (256 KiB)",
				      len, SCRIPT_CODE_MAX);
	return rc;
}

/*
 * reply_name_taken() answers 409 for a name that the script's owner
 * already uses, saying whose when the caller is not the owner (an admin).
 */
static int reply_name_taken(struct http_request *req, const char *owner,
			    const char *name)
{
	const struct auth_user *me = req->auth;
	char mine[24];
	int rc;

	snprintf(mine, sizeof(mine), "%" PRId64, me->id);
	if (!owner || !strcmp(owner, mine))
		rc = http_reply_error(req, TW_ECONFLICT,
				      "you already have a script named \"%s\"",
				      name);
	else
		rc = http_reply_error(req, TW_ECONFLICT,
				      "user %s already has a script named "
				      "\"%s\"",
				      owner, name);
	return rc;
}

/* --- the database side --------------------------------------------------- */

static const char get_sql[] = "SELECT " SCRIPT_COLS ", s.code_text"
			      " FROM scripts s"
			      " JOIN users u ON u.id = s.user_id"
			      " WHERE" VISIBLE;

/*
 * The new script's version 1 is a copy of its row, as every version is:
 * script_versions at (id, current_version) holds the row's code_text.
 */
static const char insert_sql[] = "INSERT INTO scripts (user_id, name,"
				 " code_text) VALUES ($1, $2, $3)"
				 " RETURNING id";

static const char add_version_sql[] = "INSERT INTO script_versions"
				      " (script_id, version, code_text,"
				      " author_id)"
				      " SELECT id, current_version,"
				      " code_text, $2"
				      " FROM scripts WHERE id = $1";

static const char lock_sql[] = "SELECT s.user_id FROM scripts s"
			       " WHERE" VISIBLE " FOR UPDATE";

static const char update_sql[] = "UPDATE scripts"
				 " SET name = coalesce($2, name),"
				 " code_text = coalesce($3, code_text),"
				 " current_version = current_version"
				 " + CASE WHEN $3::text IS NULL"
				 " THEN 0 ELSE 1 END"
				 " WHERE id = $1";

/*
 * save_tx() creates a script owned by the caller (id NULL), or changes
 * script id, which must be visible under the filter owner (api_owner_filter());
 * when changing, name and code may each be NULL (unchanged). A code makes
 * a new version authored by the caller. Everything happens in one
 * transaction. On success *res holds the saved script in get_sql's
 * columns (the id is column 0). TW_ENOTFOUND when the script is not
 * visible; TW_ECONFLICT when its owner already has a live script of that
 * name. *owner_out gets the owner's id as soon as it is known (for the 409
 * message).
 */
static int save_tx(struct http_request *req, PGconn *conn, const char *id,
		   const char *owner, const char *name, const char *code,
		   PGresult **res, const char **owner_out, struct buf *err)
{
	const struct auth_user *me = req->auth;
	const char *me_id = arena_printf(req->arena, "%" PRId64, me->id);
	const char *params[3];
	PGresult *r = NULL;
	struct db_tx tx;
	int rc;

	*res = NULL;
	*owner_out = NULL;
	rc = db_tx_begin(&tx, conn, err);
	if (rc < 0)
		goto fail;
	if (!id) {
		*owner_out = me_id;
		params[0] = me_id;
		params[1] = name;
		params[2] = code;
		rc = api_exec(req, conn, insert_sql, 3, params, &r, err);
		if (rc < 0)
			goto fail;
		id = PQgetvalue(r, 0, 0);
	} else {
		params[0] = id;
		params[1] = owner;
		rc = api_exec(req, conn, lock_sql, 2, params, &r, err);
		if (rc < 0)
			goto fail;
		if (PQntuples(r) == 0) {
			rc = TW_ENOTFOUND;
			goto fail;
		}
		*owner_out = PQgetvalue(r, 0, 0);
		params[1] = name;
		params[2] = code;
		rc = api_exec(req, conn, update_sql, 3, params, NULL, err);
		if (rc < 0)
			goto fail;
	}
	if (code) {
		params[0] = id;
		params[1] = me_id;
		rc = api_exec(req, conn, add_version_sql, 2, params, NULL, err);
		if (rc < 0)
			goto fail;
	}
	params[0] = id;
	params[1] = NULL;
	rc = api_exec(req, conn, get_sql, 2, params, res, err);
	if (rc < 0)
		goto fail;
	rc = db_tx_commit(&tx, err);
fail:
	db_tx_rollback(&tx);
	return rc;
}

/* --- GET /api/v1/scripts ------------------------------------------------- */

/*
 * A page, newest first: below the cursor ($1, NULL for the first page),
 * within the caller's view ($2) and the user_id filter ($3), one row more
 * than asked for so the handler knows whether another page follows.
 */
static const char list_sql[] = "SELECT " SCRIPT_COLS " FROM scripts s"
			       " JOIN users u ON u.id = s.user_id"
			       " WHERE s.deleted_at IS NULL"
			       " AND ($1::bigint IS NULL OR s.id < $1)"
			       " AND ($2::bigint IS NULL OR s.user_id = $2)"
			       " AND ($3::bigint IS NULL OR s.user_id = $3)"
			       " ORDER BY s.id DESC LIMIT $4::int + 1";

int api_scripts_list(struct http_request *req)
{
	const char *user_s = http_query(req, "user_id");
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	const char *params[4];
	const char *cursor = NULL;
	PGconn *conn = NULL;
	PGresult *res = NULL;
	json_t *items, *next;
	int64_t user_id = 0;
	long limit = 0;
	int i, n;
	int rc;

	rc = api_page_args(req, INT64_MAX, &limit, &cursor);
	if (rc < 0)
		goto out;
	params[0] = cursor;
	params[1] = api_owner_filter(req);
	params[2] = NULL;
	/*
	 * An analyst may filter too: the filter narrows their own view, so
	 * another user's id gives an empty page, not an error.
	 */
	if (user_s && *user_s) {
		rc = api_parse_id(user_s, INT64_MAX, &user_id);
		if (rc < 0) {
			rc = http_reply_error(req, TW_EVALIDATION,
					      "user_id must be a positive "
					      "integer");
			goto out;
		}
		params[2] = arena_printf(req->arena, "%" PRId64, user_id);
	}
	params[3] = arena_printf(req->arena, "%ld", limit);
	rc = api_db_acquire(req, &conn);
	if (rc < 0)
		goto out;
	rc = api_exec(req, conn, list_sql, 4, params, &res, &err);
	if (rc < 0) {
		http_reply_error(req, rc, "could not list scripts: %s",
				 err.ptr);
		goto out;
	}
	n = PQntuples(res);
	items = json_array();
	for (i = 0; i < n && i < limit; i++)
		json_array_append_new(items, script_json(res, i, false));
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

/* --- POST /api/v1/scripts ------------------------------------------------ */

int api_scripts_create(struct http_request *req)
{
	const struct auth_user *me = req->auth;
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	const char *name = NULL, *code = NULL, *owner = NULL;
	size_t name_len = 0, code_len = 0;
	PGconn *conn = NULL;
	PGresult *res = NULL;
	json_t *obj = NULL;
	const char *id;
	int rc;

	rc = api_may_write(req);
	if (rc == 0)
		rc = http_body_json(req, &obj);
	if (rc == 0)
		rc = http_json_check_fields(req, obj, create_fields);
	if (rc == 0)
		rc = http_json_string(req, obj, "name", true, &name, &name_len);
	if (rc == 0)
		rc = http_json_string(req, obj, "code_text", true, &code,
				      &code_len);
	if (rc == 0)
		rc = check_name(req, name, name_len);
	if (rc == 0)
		rc = check_code(req, code_len);
	if (rc < 0)
		goto out;

	rc = api_db_acquire(req, &conn);
	if (rc < 0)
		goto out;
	rc = save_tx(req, conn, NULL, NULL, name, code, &res, &owner, &err);
	if (rc == TW_ECONFLICT) {
		reply_name_taken(req, owner, name);
		goto out;
	}
	if (rc < 0) {
		http_reply_error(req, rc, "could not save the script: %s",
				 err.ptr);
		goto out;
	}
	id = PQgetvalue(res, 0, 0);
	log_info(LOG_APP, "script %s created by user %" PRId64, id, me->id);
	http_add_header(req, "Location",
			arena_printf(req->arena, "/api/v1/scripts/%s", id));
	rc = http_reply_json(req, 201, script_json(res, 0, true));
out:
	api_db_release(req, conn, rc < 0);
	buf_release(&err);
	return rc;
}

/* --- GET /api/v1/scripts/{id} -------------------------------------------- */

int api_scripts_get(struct http_request *req)
{
	PGconn *conn = NULL;
	PGresult *res = NULL;
	int rc;

	rc = api_load_visible(req, "script", get_sql, api_owner_filter(req),
			      &conn, &res);
	if (rc == 0)
		rc = http_reply_json(req, 200, script_json(res, 0, true));
	api_db_release(req, conn, rc < 0);
	return rc;
}

/* --- PUT /api/v1/scripts/{id} -------------------------------------------- */

int api_scripts_update(struct http_request *req)
{
	const struct auth_user *me = req->auth;
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	const char *name = NULL, *code = NULL, *owner = NULL;
	size_t name_len = 0, code_len = 0;
	PGconn *conn = NULL;
	PGresult *res = NULL;
	json_t *obj = NULL;
	const char *id = NULL;
	int rc;

	rc = api_may_write(req);
	if (rc == 0)
		rc = api_path_id(req, "id", "script", INT64_MAX, &id, NULL);
	if (rc == 0)
		rc = http_body_json(req, &obj);
	if (rc == 0)
		rc = http_json_check_fields(req, obj, update_fields);
	if (rc == 0)
		rc = http_json_string(req, obj, "name", false, &name,
				      &name_len);
	if (rc == 0)
		rc = http_json_string(req, obj, "code_text", false, &code,
				      &code_len);
	if (rc == 0 && !name && !code)
		rc = http_reply_error(req, TW_EVALIDATION,
				      "nothing to change: give name or "
				      "code_text");
	if (rc == 0 && name)
		rc = check_name(req, name, name_len);
	if (rc == 0 && code)
		rc = check_code(req, code_len);
	if (rc < 0)
		goto out;

	rc = api_db_acquire(req, &conn);
	if (rc < 0)
		goto out;
	rc = save_tx(req, conn, id, api_owner_filter(req), name, code, &res,
		     &owner, &err);
	if (rc == TW_ENOTFOUND) {
		http_reply_error(req, rc, "no such script");
		goto out;
	}
	if (rc == TW_ECONFLICT) {
		reply_name_taken(req, owner, name);
		goto out;
	}
	if (rc < 0) {
		http_reply_error(req, rc, "could not save the script: %s",
				 err.ptr);
		goto out;
	}
	log_info(LOG_APP, "script %s changed by user %" PRId64 ":%s%s%s", id,
		 me->id, name ? " renamed" : "", code ? " version " : "",
		 code ? PQgetvalue(res, 0, 4) : "");
	rc = http_reply_json(req, 200, script_json(res, 0, true));
out:
	api_db_release(req, conn, rc < 0);
	buf_release(&err);
	return rc;
}

/* --- DELETE /api/v1/scripts/{id} ----------------------------------------- */

static const char delete_sql[] = "UPDATE scripts s SET deleted_at = now()"
				 " WHERE" VISIBLE " RETURNING s.id";

int api_scripts_delete(struct http_request *req)
{
	const struct auth_user *me = req->auth;
	PGconn *conn = NULL;
	PGresult *res = NULL;
	int rc;

	rc = api_may_write(req);
	if (rc == 0)
		rc = api_load_visible(req, "script", delete_sql,
				      api_owner_filter(req), &conn, &res);
	if (rc == 0) {
		log_info(LOG_APP, "script %s deleted by user %" PRId64,
			 PQgetvalue(res, 0, 0), me->id);
		rc = http_reply_empty(req, 204);
	}
	api_db_release(req, conn, rc < 0);
	return rc;
}

/* --- GET /api/v1/scripts/{id}/versions ----------------------------------- */

static const char visible_sql[] = "SELECT 1 FROM scripts s WHERE" VISIBLE;

/*
 * A page of versions, newest first, below the cursor ($2, NULL for the
 * first page), at most $3 + 1 rows. before is the code on the page ahead
 * of a row; a row that would start past $4 bytes comes without its code
 * (fits false) and ends the page. The first row always fits.
 */
static const char versions_sql[] =
	"SELECT version, author_id, created,"
	" CASE WHEN before < $4 THEN code_text END, before < $4"
	" FROM (SELECT v.version, v.author_id, v.code_text,"
	" " VERSION_CREATED " AS created,"
	" sum(octet_length(v.code_text)) OVER (ORDER BY v.version DESC"
	" ROWS UNBOUNDED PRECEDING) - octet_length(v.code_text) AS before"
	" FROM script_versions v WHERE v.script_id = $1"
	" AND ($2::int IS NULL OR v.version < $2)"
	" ORDER BY v.version DESC LIMIT $3::int + 1) p"
	" ORDER BY version DESC";

int api_scripts_versions(struct http_request *req)
{
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	const char *params[4];
	const char *id = NULL, *cursor = NULL;
	PGconn *conn = NULL;
	PGresult *res = NULL;
	json_t *items, *next;
	long limit = 0;
	int i, n;
	int rc;

	rc = api_path_id(req, "id", "script", INT64_MAX, &id, NULL);
	if (rc == 0)
		rc = api_page_args(req, VERSION_MAX, &limit, &cursor);
	if (rc == 0)
		rc = api_load_visible(req, "script", visible_sql,
				      api_owner_filter(req), &conn, &res);
	if (rc < 0)
		goto out;
	params[0] = id;
	params[1] = cursor;
	params[2] = arena_printf(req->arena, "%ld", limit);
	params[3] = VERSIONS_PAGE_BYTES;
	rc = api_exec(req, conn, versions_sql, 4, params, &res, &err);
	if (rc < 0) {
		http_reply_error(req, rc, "could not list the versions: %s",
				 err.ptr);
		goto out;
	}
	n = PQntuples(res);
	items = json_array();
	for (i = 0; i < n && i < limit && !strcmp(PQgetvalue(res, i, 4), "t");
	     i++)
		json_array_append_new(items, version_json(res, i));
	/* i rows are on the page; the cursor is the last one's version. */
	next = i > 0 && i < n ? json_string(PQgetvalue(res, i - 1, 0))
			      : json_null();
	rc = http_reply_json(req, 200,
			     json_pack("{s:o, s:o}", "items", items,
				       "next_cursor", next));
out:
	api_db_release(req, conn, rc < 0);
	buf_release(&err);
	return rc;
}

/* --- GET /api/v1/scripts/{id}/versions/{version} ------------------------- */

static const char version_sql[] = "SELECT " VERSION_COLS " FROM"
				  " script_versions v"
				  " JOIN scripts s ON s.id = v.script_id"
				  " WHERE" VISIBLE " AND v.version = $3";

int api_scripts_version_get(struct http_request *req)
{
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	const char *params[3];
	const char *id = NULL, *version = NULL;
	PGconn *conn = NULL;
	PGresult *res = NULL;
	int rc;

	rc = api_path_id(req, "id", "script", INT64_MAX, &id, NULL);
	if (rc == 0)
		rc = api_path_id(req, "version", "version", VERSION_MAX,
				 &version, NULL);
	if (rc < 0)
		goto out;
	params[0] = id;
	params[1] = api_owner_filter(req);
	params[2] = version;
	rc = api_db_acquire(req, &conn);
	if (rc < 0)
		goto out;
	rc = api_exec(req, conn, version_sql, 3, params, &res, &err);
	if (rc < 0) {
		http_reply_error(req, rc, "could not load the version: %s",
				 err.ptr);
		goto out;
	}
	if (PQntuples(res) == 0) {
		rc = http_reply_error(req, TW_ENOTFOUND, "no such version");
		goto out;
	}
	rc = http_reply_json(req, 200, version_json(res, 0));
out:
	api_db_release(req, conn, rc < 0);
	buf_release(&err);
	return rc;
}
