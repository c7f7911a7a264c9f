#include "core/compat.h"
#include "auth/auth.h"
#include "core/err.h"
#include "db/db.h"
#include "log/log.h"

/*
 * login.c - checking a password at sign-in, with throttling.
 *
 * Every attempt that gets as far as a password check is a row in
 * login_attempts (email lower-cased as typed, whether or not such a user
 * exists; the client's address; whether it succeeded). Before checking, the
 * failures of the last window_s seconds are counted twice, for the email and
 * for the address: max_failures of either refuses the attempt with
 * TW_ETOOMANY, unchecked and unrecorded, so a throttled client cannot keep
 * itself locked out by hammering, nor learn anything. A success resets the
 * email's count (a user who finally gets in starts afresh: only failures
 * after the email's last success count) but not the address's: no row is
 * deleted, so an address that guessed at many accounts stays throttled
 * even when one guess was right.
 *
 * Timing: every refusal after the throttle check costs one bcrypt
 * computation at the configured cost, one look-up and one insert, whether
 * the email is unknown (a throw-away hash of the password), the password
 * wrong or the user disabled (the real verification), so response times
 * tell an attacker nothing about which emails exist.
 */

/* Attempts older than this (or the window, if longer) are deleted. */
#define ATTEMPT_KEEP_S 86400

/*
 * One statement for both counts. An email's failures count from its last
 * success on (a user who gets in starts afresh); an address's count them
 * all. For each key it also returns the seconds until the failure that
 * keeps the count at max_failures (the max_failures-th newest) leaves the
 * window: the count drops below the limit at that moment. The indexes
 * (email, attempted_at) and (client_addr, attempted_at) serve every part.
 */
static const char throttle_sql[] =
	"WITH reset AS ("
	" SELECT coalesce(max(attempted_at), '-infinity') AS at"
	" FROM login_attempts WHERE email = lower($1) AND succeeded"
	"), failures AS ("
	" SELECT attempted_at,"
	" email = lower($1) AND attempted_at > (SELECT at FROM reset)"
	" AS by_email,"
	" client_addr = $2 AS by_addr"
	" FROM login_attempts WHERE NOT succeeded"
	" AND attempted_at > now() - $3::int * interval '1 second'"
	" AND (email = lower($1) OR client_addr = $2)"
	") SELECT count(*) FILTER (WHERE by_email),"
	" ceil(extract(epoch FROM (array_agg(attempted_at ORDER BY"
	" attempted_at DESC) FILTER (WHERE by_email))[$4::int]"
	" + $3::int * interval '1 second' - now())),"
	" count(*) FILTER (WHERE by_addr),"
	" ceil(extract(epoch FROM (array_agg(attempted_at ORDER BY"
	" attempted_at DESC) FILTER (WHERE by_addr))[$4::int]"
	" + $3::int * interval '1 second' - now()))"
	" FROM failures";

static const char cleanup_sql[] = "DELETE FROM login_attempts"
				  " WHERE attempted_at < now()"
				  " - $1::int * interval '1 second'";

static const char lookup_sql[] = "SELECT id, password_hash, disabled"
				 " FROM users WHERE email = lower($1)";

static const char record_sql[] = "INSERT INTO login_attempts"
				 " (email, client_addr, succeeded)"
				 " VALUES (lower($1), $2, $3)";

/*
 * The throttling key for email: its normalised form when it is valid,
 * otherwise the same trimming and folding applied blindly and cut to
 * AUTH_EMAIL_MAX bytes (such an email belongs to nobody, but its attempts
 * still count).
 */
static void throttle_key(const char *email, struct buf *key)
{
	size_t i, n;

	if (auth_check_email(email, key, NULL) == 0)
		return;
	buf_reset(key);
	n = strlen(email);
	for (i = 0; i < n && key->len < AUTH_EMAIL_MAX; i++) {
		unsigned char c = (unsigned char)email[i];

		buf_addch(key, c < 0x20 || c == 0x7F ? '?' : tolower(c));
	}
	buf_trim(key);
}

/* A count or a ceil()'d number of seconds from the throttle query. */
static long field_long(const PGresult *res, int col)
{
	const char *s = PQgetvalue(res, 0, col);
	long v = 0;

	if (!PQgetisnull(res, 0, col))
		v = strtol(s, NULL, 10);
	return v;
}

/*
 * check_throttle() answers TW_ETOOMANY with *retry_after_s (at least 1)
 * when the email or the address has too many recent failures.
 */
static int check_throttle(PGconn *conn, const struct auth_login_opts *opts,
			  const char *key, const char *client_addr,
			  int *retry_after_s, struct buf *err)
{
	char window[24], max[24];
	const char *params[4];
	PGresult *res = NULL;
	long email_n, addr_n, wait = 0;
	int rc;

	snprintf(window, sizeof(window), "%d", opts->window_s);
	snprintf(max, sizeof(max), "%d", opts->max_failures);
	params[0] = key;
	params[1] = client_addr;
	params[2] = window;
	params[3] = max;
	rc = db_exec(conn, throttle_sql, 4, params, &res, err);
	if (rc < 0)
		goto fail;
	email_n = field_long(res, 0);
	addr_n = field_long(res, 2);
	if (email_n >= opts->max_failures)
		wait = field_long(res, 1);
	if (addr_n >= opts->max_failures && field_long(res, 3) > wait)
		wait = field_long(res, 3);
	if (email_n >= opts->max_failures || addr_n >= opts->max_failures) {
		*retry_after_s = wait < 1 ? 1 : (int)wait;
		buf_errf(err,
			 "too many failed sign-in attempts for this %s; try "
			 "again in %d s",
			 email_n >= opts->max_failures ? "account" : "address",
			 *retry_after_s);
		rc = TW_ETOOMANY;
	}
fail:
	if (res)
		PQclear(res);
	return rc;
}

/*
 * verify() checks password for the account behind key: 0 and *id when it
 * is right and the user enabled, TW_EUNAUTH otherwise; always one bcrypt
 * computation at about the same cost. Database errors are returned as such.
 */
static int verify(PGconn *conn, const struct auth_login_opts *opts,
		  const char *key, const char *password, int64_t *id,
		  struct buf *err)
{
	struct buf dummy = BUF_INIT(AUTH_BCRYPT_HASH_LEN + 1);
	const char *params[1];
	PGresult *res = NULL;
	bool too_long = strlen(password) > AUTH_BCRYPT_MAX_PASSWORD;
	long long v;
	int rc;

	params[0] = key;
	rc = db_exec(conn, lookup_sql, 1, params, &res, err);
	if (rc < 0)
		goto fail;
	if (PQntuples(res) != 1) {
		/* The result is thrown away; only the time matters. */
		auth_bcrypt_hash(password, opts->cost, &dummy, NULL);
		buf_errf(err, "no user with this email");
		rc = TW_EUNAUTH;
		goto fail;
	}
	v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	rc = auth_bcrypt_verify(password, PQgetvalue(res, 0, 1));
	if (rc == TW_EINVAL) {
		log_warn(LOG_APP,
			 "user %lld has a malformed password hash: set a "
			 "new password",
			 v);
		buf_errf(err, "the stored password hash is malformed");
		rc = TW_EUNAUTH;
		goto fail;
	}
	/*
	 * bcrypt reads 72 bytes: a longer password that starts with the
	 * right one must not pass (no stored password is longer).
	 */
	if (rc == 0 && too_long)
		rc = TW_EUNAUTH;
	if (rc < 0) {
		buf_errf(err, "wrong password");
		rc = TW_EUNAUTH;
		goto fail;
	}
	if (!strcmp(PQgetvalue(res, 0, 2), "t")) {
		buf_errf(err, "the user is disabled");
		rc = TW_EUNAUTH;
		goto fail;
	}
	*id = (int64_t)v;
fail:
	if (res)
		PQclear(res);
	buf_release(&dummy);
	return rc;
}

int auth_login(PGconn *conn, const struct auth_login_opts *opts,
	       const char *email, const char *password, const char *client_addr,
	       struct auth_user *user, int *retry_after_s, struct buf *err)
{
	struct buf key = BUF_INIT(AUTH_EMAIL_MAX * 4 + 1);
	const char *params[3];
	char keep[24];
	int64_t id = 0;
	int rc, vrc;

	*retry_after_s = 0;
	if (!email)
		email = "";
	if (!password)
		password = "";
	throttle_key(email, &key);

	/* Cheap with the attempted_at index; keeps the table small. */
	snprintf(keep, sizeof(keep), "%d",
		 opts->window_s > ATTEMPT_KEEP_S ? opts->window_s
						 : ATTEMPT_KEEP_S);
	params[0] = keep;
	rc = db_exec(conn, cleanup_sql, 1, params, NULL, err);
	if (rc < 0)
		goto fail;

	rc = check_throttle(conn, opts, key.ptr, client_addr, retry_after_s,
			    err);
	if (rc < 0)
		goto fail;

	vrc = verify(conn, opts, key.ptr, password, &id, err);
	if (vrc < 0 && vrc != TW_EUNAUTH) {
		rc = vrc;
		goto fail;
	}
	params[0] = key.ptr;
	params[1] = client_addr;
	params[2] = vrc == 0 ? "true" : "false";
	rc = db_exec(conn, record_sql, 3, params, NULL, err);
	if (rc < 0)
		goto fail;
	if (vrc < 0) {
		rc = vrc;
		goto fail;
	}
	rc = auth_user_get(conn, id, user, err);
fail:
	buf_release(&key);
	return rc;
}
