#include "core/compat.h"
#include "api/api_int.h"
#include "auth/auth.h"
#include "core/err.h"
#include "log/log.h"
#include "platform/plat.h"

/*
 * authn.c - the server's auth hook: who is calling, and may they call this
 * route.
 *
 * Every problem with the token (absent, malformed, wrong algorithm, bad
 * signature, expired, its user gone, disabled or its token version
 * outdated by a change or a sign-out) is the same 401 to the client, so nothing
 * is learnt by probing; the reason goes to app.log at info, never the token
 * itself. A valid token whose role the route does not allow is 403.
 */

static const char invalid_token[] = "invalid or expired token";

/*
 * bearer_token() returns the token of an "Authorization: Bearer <token>"
 * value (the scheme in any case, then exactly one space), or NULL.
 */
static const char *bearer_token(const char *value)
{
	static const char scheme[] = "bearer";
	size_t i;

	if (!value)
		return NULL;
	for (i = 0; i < sizeof(scheme) - 1; i++) {
		if (tolower((unsigned char)value[i]) != scheme[i])
			return NULL;
	}
	if (value[i] != ' ' || value[i + 1] == '\0' || value[i + 1] == ' ')
		return NULL;
	return value + i + 1;
}

/* Replies 401 and logs why, without the token. */
static int reject(struct http_request *req, const char *why)
{
	log_info(LOG_APP, "%s %s from %s: token refused: %s", req->method,
		 req->path, req->client_addr ? req->client_addr : "unknown",
		 why);
	return http_reply_error(req, TW_EUNAUTH, "%s", invalid_token);
}

int api_authenticate(struct http_request *req, const struct http_route *route)
{
	struct api_app *app = req->app;
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct auth_claims claims;
	struct auth_user *user;
	PGconn *conn = NULL;
	const char *header, *token, *key;
	int64_t now;
	long nsec;
	int rc;

	header = http_header(req, "Authorization");
	if (!header) {
		log_info(LOG_APP, "%s %s from %s: no bearer token", req->method,
			 req->path,
			 req->client_addr ? req->client_addr : "unknown");
		rc = http_reply_error(req, TW_EUNAUTH,
				      "missing bearer token: send "
				      "Authorization: Bearer <token>");
		goto out;
	}
	token = bearer_token(header);
	if (!token) {
		rc = reject(req, "Authorization is not \"Bearer <token>\"");
		goto out;
	}
	key = app->cfg->secret_key ? app->cfg->secret_key : "";
	plat_realtime(&now, &nsec);
	memset(&claims, 0, sizeof(claims));
	rc = auth_jwt_decode(token, key, strlen(key), now, &claims, &err);
	if (rc < 0) {
		rc = reject(req, err.len ? err.ptr : "invalid token");
		goto out;
	}

	user = arena_alloc(req->arena, sizeof(*user));
	rc = api_db_acquire(req, &conn);
	if (rc < 0)
		goto out;
	rc = auth_user_get(conn, claims.sub, user, &err);
	api_db_release(req, conn, rc < 0);
	if (rc == TW_ENOTFOUND) {
		rc = reject(req, "the token's user does not exist");
		goto out;
	}
	if (rc < 0) {
		rc = http_reply_error(req, rc, "could not load the user: %s",
				      err.ptr);
		goto out;
	}
	if (user->disabled) {
		rc = reject(req, "the user is disabled");
		goto out;
	}
	if (user->token_version != claims.tv) {
		rc = reject(req, "the token was issued before the user's "
				 "password, role or status changed, or the "
				 "user signed out");
		goto out;
	}
	/* The stored role counts: a role change also revoked the token. */
	if (route->roles && !(auth_role_bit(user->role) & route->roles)) {
		log_info(LOG_APP, "%s %s: user %" PRId64 " (%s) refused",
			 req->method, req->path, user->id, user->role);
		rc = http_reply_error(req, TW_EFORBIDDEN,
				      "your role may not do this");
		goto out;
	}
	req->auth = user;
	rc = 0;
out:
	buf_release(&err);
	return rc;
}
