#include "core/compat.h"

#include "api/api_int.h"
#include "auth/auth.h"
#include "core/err.h"
#include "log/log.h"
#include "platform/plat.h"

/*
 * auth.c - the /api/v1/auth resource: sign in, who am I, change my own
 * password, sign out.
 *
 * POST /api/v1/auth/login is the only API route without a token. Its
 * failures are one answer, 401 invalid_credentials, for an unknown email,
 * a wrong password and a disabled user alike; 429 too_many_requests with
 * Retry-After once the client's address, or the email from that address,
 * has too many recent failures; failures from other addresses only slow
 * the email down (auth/login.c).
 *
 * POST /api/v1/auth/password checks the current password through
 * auth_login(), so a stolen token cannot be used to guess the password
 * faster than the sign-in form allows: a wrong current password counts as
 * a failed sign-in and is throttled the same way. It is answered 422
 * validation_failed ("current password is wrong"), not 401: the caller's
 * token is fine, and a 401 would make a client sign its user out.
 *
 * POST /api/v1/auth/logout bumps the user's token version: the token used,
 * and every other token of the user, stops working (a signed token cannot
 * be taken back one by one without a list of revoked token ids; see
 * docs/auth.md).
 */

/* How long sign-in waits for a pooled connection, as api_db_acquire(). */
#define API_LOGIN_ACQUIRE_MS 5000

static const char *const login_fields[] = { "email", "password", NULL };
static const char *const password_fields[] = { "current_password",
					       "new_password", NULL };

static const char invalid_credentials[] = "invalid email or password";

/*
 * Copies the string member name of obj into out. TW_EVALIDATION when it is
 * missing, not a string, or holds a NUL character.
 */
static int string_field(json_t *obj, const char *name, struct buf *out,
			struct buf *err)
{
	json_t *v = json_object_get(obj, name);
	size_t n;
	int rc = TW_EVALIDATION;

	buf_reset(out);
	if (!v) {
		buf_errf(err, "%s is required", name);
		goto fail;
	}
	if (!json_is_string(v)) {
		buf_errf(err, "%s must be a string", name);
		goto fail;
	}
	n = json_string_length(v);
	if (memchr(json_string_value(v), '\0', n)) {
		buf_errf(err, "%s must not contain NUL characters", name);
		goto fail;
	}
	rc = buf_add(out, json_string_value(v), n);
	if (rc < 0) {
		buf_errf(err, "%s is too long", name);
		rc = TW_EVALIDATION;
	}
fail:
	return rc;
}

/*
 * add_clean() appends at most max bytes of s to err for a one-line message:
 * control characters become '?', and so does every non-ASCII byte when
 * ascii_only (jansson's error text may quote invalid UTF-8); otherwise the
 * cut falls on a UTF-8 character boundary. "..." marks a cut.
 */
static void add_clean(struct buf *err, const char *s, size_t max,
		      bool ascii_only)
{
	size_t n = strlen(s), i;

	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7F || (ascii_only && c >= 0x80))
			c = '?';
		buf_addch(err, c);
	}
	if (n < strlen(s))
		buf_adds(err, "...");
}

int api_login_parse(const char *body, size_t len, struct buf *email,
		    struct buf *password, struct buf *err)
{
	struct buf raw = BUF_INIT(AUTH_EMAIL_MAX * 4 + 64);
	struct buf scratch = BUF_INIT(BUF_SMALL_CAP);
	json_error_t jerr;
	json_t *root = NULL;
	const char *key;
	json_t *value;
	int rc;

	if (!err)
		err = &scratch;
	buf_reset(email);
	buf_reset(password);
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		buf_errf(err, "invalid JSON at line %d, column %d: ", jerr.line,
			 jerr.column);
		add_clean(err, jerr.text, sizeof(jerr.text), true);
		rc = TW_EINVAL;
		goto fail;
	}
	if (!json_is_object(root)) {
		buf_errf(err, "request body must be a JSON object");
		rc = TW_EINVAL;
		goto fail;
	}
	json_object_foreach(root, key, value) {
		const char *const *f;

		(void)value;
		for (f = login_fields; *f && strcmp(*f, key); f++)
			;
		if (!*f) {
			buf_adds(err, "unknown field \"");
			add_clean(err, key, 64, false);
			buf_addch(err, '"');
			rc = TW_EVALIDATION;
			goto fail;
		}
	}
	rc = string_field(root, "email", &raw, err);
	if (rc < 0)
		goto fail;
	rc = auth_check_email(raw.ptr, email, err);
	if (rc < 0)
		goto fail;
	rc = string_field(root, "password", password, err);
	if (rc < 0)
		goto fail;
	if (password->len == 0) {
		buf_errf(err, "password must not be empty");
		rc = TW_EVALIDATION;
		goto fail;
	}
	if (password->len > API_LOGIN_PASSWORD_MAX) {
		buf_errf(err, "password is longer than %d bytes",
			 API_LOGIN_PASSWORD_MAX);
		rc = TW_EVALIDATION;
		goto fail;
	}
fail:
	if (rc < 0) {
		buf_reset(email);
		buf_release_secret(password);
	}
	json_decref(root);
	buf_release(&raw);
	buf_release(&scratch);
	return rc;
}

/* The login options from the configuration. */
static void login_opts(const struct cfg *cfg, struct auth_login_opts *o)
{
	o->cost = (int)cfg->bcrypt_cost;
	o->max_failures = (int)cfg->login_max_failures;
	o->max_addr_failures = (int)cfg->login_max_addr_failures;
	o->window_s = (int)cfg->login_window_s;
	o->max_delay_ms = (int)cfg->login_max_delay_ms;
	/* A quarter of the HTTP threads, at least one, may wait at once. */
	o->max_waiting = cfg->http_threads >= 8 ? (int)cfg->http_threads / 4
						: 1;
	o->acquire_ms = API_LOGIN_ACQUIRE_MS;
}

/* Replies 429 with Retry-After. */
static int reply_throttled(struct http_request *req, int retry_after_s)
{
	char value[24];

	snprintf(value, sizeof(value), "%d", retry_after_s);
	http_add_header(req, "Retry-After", value);
	return http_reply_error(req, TW_ETOOMANY,
				"too many failed sign-in attempts; try again "
				"in %d seconds",
				retry_after_s);
}

/*
 * issue_token() signs a token for user, valid for the configured lifetime
 * from now, into tok.
 */
static int issue_token(const struct cfg *cfg, const struct auth_user *user,
		       struct buf *tok, struct buf *err)
{
	struct auth_claims c;
	const char *key = cfg->secret_key ? cfg->secret_key : "";
	int64_t now;
	long nsec;

	plat_realtime(&now, &nsec);
	memset(&c, 0, sizeof(c));
	c.sub = user->id;
	memcpy(c.role, user->role, sizeof(c.role));
	c.iat = now;
	c.exp = now + cfg->jwt_ttl_s;
	c.tv = user->token_version;
	return auth_jwt_encode(&c, key, strlen(key), tok, err);
}

int api_auth_login(struct http_request *req)
{
	struct api_app *app = req->app;
	struct buf email = BUF_INIT(AUTH_EMAIL_MAX + 1);
	struct buf password = BUF_INIT(API_LOGIN_PASSWORD_MAX + 1);
	struct buf tok = BUF_INIT(AUTH_JWT_MAX_LEN + 1);
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct auth_login_opts opts;
	struct auth_user user;
	json_t *obj;
	int retry = 0;
	int rc;

	rc = http_body_json(req, &obj);
	if (rc < 0)
		goto out;
	rc = http_json_check_fields(req, obj, login_fields);
	if (rc < 0)
		goto out;
	/*
	 * The body is parsed a second time by the pure parser, which keeps
	 * the rules in one fuzzed place; it is tiny, and bcrypt follows.
	 */
	rc = api_login_parse(req->body, req->body_len, &email, &password, &err);
	if (rc < 0) {
		http_reply_error(req, rc, "%s", err.ptr);
		goto out;
	}
	if (!app->db) {
		rc = http_reply_error(req, TW_EUNAVAIL,
				      "no database is configured");
		goto out;
	}
	login_opts(app->cfg, &opts);
	rc = auth_login(app->db, &opts, email.ptr, password.ptr,
			req->client_addr, &user, &retry, &err);
	if (rc == TW_ETOOMANY) {
		log_info(LOG_APP, "sign-in as \"%s\" from %s throttled: %s",
			 email.ptr, req->client_addr, err.ptr);
		reply_throttled(req, retry);
		goto out;
	}
	if (rc == TW_EUNAUTH) {
		log_info(LOG_APP, "sign-in as \"%s\" from %s refused: %s",
			 email.ptr, req->client_addr, err.ptr);
		http_reply_error_code(req, 401, "invalid_credentials",
				      invalid_credentials);
		goto out;
	}
	if (rc < 0) {
		http_reply_error(req, rc, "could not sign in: %s", err.ptr);
		goto out;
	}
	rc = issue_token(app->cfg, &user, &tok, &err);
	if (rc < 0) {
		http_reply_error(req, TW_EINTERNAL,
				 "could not sign a token: %s", err.ptr);
		goto out;
	}
	log_info(LOG_APP, "user %" PRId64 " (%s) signed in from %s", user.id,
		 user.role, req->client_addr);
	rc = http_reply_json(req, 200,
			     json_pack("{s:s, s:s, s:I, s:{s:I, s:s, s:s}}",
				       "access_token", tok.ptr, "token_type",
				       "bearer", "expires_in",
				       (json_int_t)app->cfg->jwt_ttl_s, "user",
				       "id", (json_int_t)user.id, "email",
				       user.email, "role", user.role));
out:
	buf_release_secret(&tok);
	buf_release_secret(&password);
	buf_release(&email);
	buf_release(&err);
	return rc;
}

int api_auth_me(struct http_request *req)
{
	const struct auth_user *user = req->auth;

	if (!user)
		return http_reply_error(req, TW_EUNAUTH,
					"authentication required");
	return http_reply_json(req, 200, api_user_json(user));
}

int api_auth_password(struct http_request *req)
{
	struct api_app *app = req->app;
	const struct auth_user *me = req->auth;
	struct buf current = BUF_INIT(API_LOGIN_PASSWORD_MAX + 1);
	struct buf fresh = BUF_INIT(API_LOGIN_PASSWORD_MAX + 1);
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct auth_login_opts opts;
	struct auth_user checked;
	PGconn *conn = NULL;
	json_t *obj;
	int retry = 0;
	int rc;

	if (!me) {
		rc = http_reply_error(req, TW_EUNAUTH,
				      "authentication required");
		goto out;
	}
	rc = http_body_json(req, &obj);
	if (rc < 0)
		goto out;
	rc = http_json_check_fields(req, obj, password_fields);
	if (rc < 0)
		goto out;
	rc = string_field(obj, "current_password", &current, &err);
	if (rc == 0)
		rc = string_field(obj, "new_password", &fresh, &err);
	if (rc == 0)
		rc = auth_check_password(fresh.ptr, &err);
	if (rc < 0) {
		http_reply_error(req, rc, "%s", err.ptr);
		goto out;
	}

	if (!app->db) {
		rc = http_reply_error(req, TW_EUNAVAIL,
				      "no database is configured");
		goto out;
	}
	login_opts(app->cfg, &opts);
	rc = auth_login(app->db, &opts, me->email, current.ptr,
			req->client_addr, &checked, &retry, &err);
	if (rc == 0 && checked.id != me->id) {
		buf_errf(&err, "the email now belongs to another user");
		rc = TW_EUNAUTH;
	}
	if (rc == TW_ETOOMANY) {
		reply_throttled(req, retry);
		goto out;
	}
	if (rc == TW_EUNAUTH) {
		log_info(LOG_APP,
			 "password change for user %" PRId64 " from %s "
			 "refused: %s",
			 me->id, req->client_addr, err.ptr);
		rc = http_reply_error(req, TW_EVALIDATION,
				      "current password is wrong");
		goto out;
	}
	if (rc < 0) {
		http_reply_error(req, rc, "could not check the password: %s",
				 err.ptr);
		goto out;
	}
	rc = api_db_acquire(req, &conn);
	if (rc < 0)
		goto out;
	rc = auth_user_set_password(conn, me->id, fresh.ptr,
				    (int)app->cfg->bcrypt_cost, &err);
	if (rc < 0) {
		http_reply_error(req, rc, "could not change the password: %s",
				 err.ptr);
		goto out;
	}
	log_info(LOG_APP, "user %" PRId64 " changed their password", me->id);
	rc = http_reply_empty(req, 204);
out:
	api_db_release(req, conn, rc < 0);
	buf_release_secret(&current);
	buf_release_secret(&fresh);
	buf_release(&err);
	return rc;
}

int api_auth_logout(struct http_request *req)
{
	const struct auth_user *me = req->auth;
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	PGconn *conn = NULL;
	int rc;

	if (!me) {
		rc = http_reply_error(req, TW_EUNAUTH,
				      "authentication required");
		goto out;
	}
	rc = api_db_acquire(req, &conn);
	if (rc < 0)
		goto out;
	/*
	 * api_authenticate() checked that the token carries the current
	 * version; a sign-out that raced another change finds it gone, and
	 * the token is revoked either way.
	 */
	rc = auth_user_revoke_tokens(conn, me->id, me->token_version, &err);
	if (rc < 0 && rc != TW_ENOTFOUND) {
		http_reply_error(req, rc, "could not sign out: %s", err.ptr);
		goto out;
	}
	log_info(LOG_APP, "user %" PRId64 " signed out from %s", me->id,
		 req->client_addr);
	rc = http_reply_empty(req, 204);
out:
	api_db_release(req, conn, rc < 0);
	buf_release(&err);
	return rc;
}
