#include "core/compat.h"

#include <stdatomic.h>

#include "auth/auth.h"
#include "core/err.h"
#include "db/db.h"
#include "log/log.h"
#include "platform/plat.h"

/*
 * login.c - checking a password at sign-in, with throttling.
 *
 * Every attempt that gets as far as a password check is a row in
 * login_attempts (email lower-cased as typed, whether or not such a user
 * exists; the client's address; whether it succeeded). The policy, in the
 * API contract's words: 429 after repeated failures from the same client
 * address, or for the same email from that address; failures from
 * strangers only slow an account down, they never lock its owner out.
 * Over the last window_s seconds:
 *
 *  - per (email, address): max_failures failures since the pair's last
 *    success refuse the pair with TW_ETOOMANY. This is the limit one
 *    guesser meets for one account, and the owner's own typos.
 *  - per address: max_addr_failures failures for any emails refuse the
 *    address. It is high (tens), so that an office behind one address is
 *    not locked out by one person's typos. A success does not reset it:
 *    an address that guessed at many accounts stays throttled even when
 *    one guess was right.
 *  - per email, from any address: nothing is refused. From max_failures
 *    failures since the email's last success on, each attempt waits
 *    before its password check, AUTH_LOGIN_DELAY_BASE_MS doubling with
 *    each further failure, at most max_delay_ms, without holding a
 *    database connection. The right password from an address that is not
 *    throttled always signs in, after at most that delay. The wait holds
 *    an HTTP thread, so at most max_waiting attempts wait at once; past
 *    that an attempt is checked at once (the slow-down gives way before
 *    the server's threads do; the two limits above still hold).
 *
 * A refused attempt is answered at once, unchecked and unrecorded, so a
 * throttled client cannot keep itself locked out by hammering, nor learn
 * anything; Retry-After says when enough failures leave the window.
 *
 * The count and the check are atomic: under a transaction-scoped advisory
 * lock on the client address (which serialises both counts that can
 * refuse), the failures are counted and the attempt is recorded as a
 * failure before the password is checked; a right password turns the row
 * into a success afterwards. N parallel attempts therefore get exactly
 * max_failures password checks, not more.
 *
 * Timing: every attempt that is not refused costs one bcrypt computation
 * at the configured cost, the same statements and the same slow-down,
 * whether the email is unknown (a throw-away hash of the password), the
 * password wrong or the user disabled (the real verification), so
 * response times tell an attacker nothing about which emails exist.
 */

/* Attempts older than this (or the window, if longer) are deleted. */
#define ATTEMPT_KEEP_S 86400

/*
 * The advisory lock's first key: the bytes "twlg" as an int. The second is
 * a hash of the client address. The two-key form never meets the one-key
 * lock of db/migrate.c.
 */
#define LOGIN_LOCK_CLASS "1953983591"

static const char lock_sql[] = "SELECT pg_advisory_xact_lock(" LOGIN_LOCK_CLASS
			       ", hashtext($1))";

/*
 * One statement for the three counts. A pair's failures count from its
 * last success on, an email's from its last success from anywhere, an
 * address's all of them. For the pair and the address it also returns the
 * seconds until the failure that keeps the count at its limit (the
 * limit-th newest) leaves the window: the count drops below the limit at
 * that moment. The indexes (email, attempted_at), (client_addr,
 * attempted_at) and the partial one on successes serve every part.
 */
static const char throttle_sql[] =
	"WITH pair_reset AS ("
	" SELECT coalesce(max(attempted_at), '-infinity') AS at"
	" FROM login_attempts WHERE email = lower($1) AND client_addr = $2"
	" AND succeeded), email_reset AS ("
	" SELECT coalesce(max(attempted_at), '-infinity') AS at"
	" FROM login_attempts WHERE email = lower($1) AND succeeded), failures AS ("
	" SELECT attempted_at,"
	" email = lower($1) AND client_addr = $2"
	" AND attempted_at > (SELECT at FROM pair_reset) AS by_pair,"
	" client_addr = $2 AS by_addr,"
	" email = lower($1) AND attempted_at > (SELECT at FROM email_reset)"
	" AS by_email"
	" FROM login_attempts WHERE NOT succeeded"
	" AND attempted_at > now() - $3::int * interval '1 second'"
	" AND (email = lower($1) OR client_addr = $2)) SELECT count(*) FILTER (WHERE by_pair),"
	" ceil(extract(epoch FROM (array_agg(attempted_at ORDER BY"
	" attempted_at DESC) FILTER (WHERE by_pair))[$4::int]"
	" + $3::int * interval '1 second' - now())),"
	" count(*) FILTER (WHERE by_addr),"
	" ceil(extract(epoch FROM (array_agg(attempted_at ORDER BY"
	" attempted_at DESC) FILTER (WHERE by_addr))[$5::int]"
	" + $3::int * interval '1 second' - now())),"
	" count(*) FILTER (WHERE by_email)"
	" FROM failures";

static const char cleanup_sql[] = "DELETE FROM login_attempts"
				  " WHERE attempted_at < now()"
				  " - $1::int * interval '1 second'";

static const char lookup_sql[] = "SELECT id, password_hash, disabled"
				 " FROM users WHERE email = lower($1)";

static const char record_sql[] = "INSERT INTO login_attempts"
				 " (email, client_addr, succeeded)"
				 " VALUES (lower($1), $2, false)"
				 " RETURNING id";

/*
 * A right password turns the attempt into a success, unless the user was
 * disabled or given another password while the hash was being checked.
 */
static const char succeed_sql[] =
	"UPDATE login_attempts SET succeeded = true"
	" WHERE id = $1 AND EXISTS (SELECT 1 FROM users WHERE id = $2"
	" AND password_hash = $3 AND NOT disabled)";

/* The attempts now waiting out their slow-down, in this process. */
static atomic_int waiting;

/* An attempt between its recording and its outcome. */
struct attempt {
	char id[24];	 /* the login_attempts row, in decimal */
	int64_t user_id; /* 0: no user has the email */
	bool disabled;	 /* the user's flag when looked up */
	struct buf hash; /* the user's password hash */
	int delay_ms;	 /* the slow-down before the check */
};

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

int auth_login_delay_ms(const struct auth_login_opts *opts, long failures)
{
	long over = failures - opts->max_failures;
	long ms = AUTH_LOGIN_DELAY_BASE_MS;

	if (opts->max_delay_ms <= 0 || over < 0)
		return 0;
	/* Doubling past the cap would only overflow. */
	while (over-- > 0 && ms < opts->max_delay_ms)
		ms *= 2;
	return ms < opts->max_delay_ms ? (int)ms : opts->max_delay_ms;
}

/*
 * check_throttle() counts under the caller's lock and answers TW_ETOOMANY
 * with *retry_after_s (at least 1) when the pair or the address has too
 * many recent failures; otherwise 0 with a->delay_ms set from the email's.
 */
static int check_throttle(PGconn *conn, const struct auth_login_opts *opts,
			  const char *key, const char *client_addr,
			  struct attempt *a, int *retry_after_s,
			  struct buf *err)
{
	char window[24], max[24], addr_max[24];
	const char *params[5];
	PGresult *res = NULL;
	long pair_n, addr_n, wait = 0;
	bool by_pair, by_addr;
	int rc;

	snprintf(window, sizeof(window), "%d", opts->window_s);
	snprintf(max, sizeof(max), "%d", opts->max_failures);
	snprintf(addr_max, sizeof(addr_max), "%d", opts->max_addr_failures);
	params[0] = key;
	params[1] = client_addr;
	params[2] = window;
	params[3] = max;
	params[4] = addr_max;
	/* Counts and ceil()'d seconds; a NULL is none. */
	rc = db_exec(conn, throttle_sql, 5, params, &res, err);
	if (rc < 0)
		goto fail;
	pair_n = (long)db_col_i64_or(res, 0, 0, 0);
	addr_n = (long)db_col_i64_or(res, 0, 2, 0);
	by_pair = pair_n >= opts->max_failures;
	by_addr = addr_n >= opts->max_addr_failures;
	if (by_pair)
		wait = (long)db_col_i64_or(res, 0, 1, 0);
	if (by_addr && (long)db_col_i64_or(res, 0, 3, 0) > wait)
		wait = (long)db_col_i64_or(res, 0, 3, 0);
	if (by_pair || by_addr) {
		*retry_after_s = wait < 1 ? 1 : (int)wait;
		buf_errf(err,
			 "too many failed sign-in attempts %s; try again in "
			 "%d s",
			 by_addr ? "from this address"
				 : "for this account from this address",
			 *retry_after_s);
		rc = TW_ETOOMANY;
		goto fail;
	}
	a->delay_ms =
		auth_login_delay_ms(opts, (long)db_col_i64_or(res, 0, 4, 0));
fail:
	if (res)
		PQclear(res);
	return rc;
}

/* Looks the account behind key up into a (no row: a->user_id stays 0). */
static int lookup(PGconn *conn, const char *key, struct attempt *a,
		  struct buf *err)
{
	const char *params[1];
	PGresult *res = NULL;
	int rc;

	params[0] = key;
	rc = db_exec(conn, lookup_sql, 1, params, &res, err);
	if (rc < 0 || PQntuples(res) != 1)
		goto fail;
	a->user_id = db_col_i64_or(res, 0, 0, 0);
	a->disabled = !strcmp(PQgetvalue(res, 0, 2), "t");
	rc = buf_adds(&a->hash, PQgetvalue(res, 0, 1));
	if (rc < 0) {
		buf_errf(err, "the stored password hash is too long");
		a->user_id = 0;
		rc = TW_EINTERNAL;
	}
fail:
	if (res)
		PQclear(res);
	return rc;
}

/*
 * reserve() is the atomic half: under the address's lock it checks the
 * throttle and, unless that refuses, records the attempt as a failure and
 * looks the user up, then commits.
 */
static int reserve(PGconn *conn, const struct auth_login_opts *opts,
		   const char *key, const char *client_addr, struct attempt *a,
		   int *retry_after_s, struct buf *err)
{
	const char *params[2];
	PGresult *res = NULL;
	struct db_tx tx;
	int rc;

	rc = db_tx_begin(&tx, conn, err);
	if (rc < 0)
		goto fail;
	params[0] = client_addr;
	rc = db_exec(conn, lock_sql, 1, params, NULL, err);
	if (rc < 0)
		goto fail;
	rc = check_throttle(conn, opts, key, client_addr, a, retry_after_s,
			    err);
	if (rc < 0)
		goto fail;
	params[0] = key;
	params[1] = client_addr;
	rc = db_exec(conn, record_sql, 2, params, &res, err);
	if (rc < 0)
		goto fail;
	snprintf(a->id, sizeof(a->id), "%s", PQgetvalue(res, 0, 0));
	rc = lookup(conn, key, a, err);
	if (rc < 0)
		goto fail;
	rc = db_tx_commit(&tx, err);
fail:
	if (res)
		PQclear(res);
	db_tx_rollback(&tx);
	return rc;
}

/*
 * check_password() checks password against the looked-up account: 0 when
 * it is right and the user enabled, TW_EUNAUTH otherwise; always one bcrypt
 * computation at about the same cost.
 */
static int check_password(const struct auth_login_opts *opts,
			  const struct attempt *a, const char *password,
			  struct buf *err)
{
	struct buf dummy = BUF_INIT(AUTH_BCRYPT_HASH_LEN + 1);
	bool too_long = strlen(password) > AUTH_BCRYPT_MAX_PASSWORD;
	int rc;

	if (!a->user_id) {
		/* The result is thrown away; only the time matters. */
		auth_bcrypt_hash(password, opts->cost, &dummy, NULL);
		buf_errf(err, "no user with this email");
		rc = TW_EUNAUTH;
		goto fail;
	}
	rc = auth_bcrypt_verify(password, a->hash.ptr);
	if (rc == TW_EINVAL) {
		log_warn(LOG_APP,
			 "user %" PRId64 " has a malformed password hash: set "
			 "a new password",
			 a->user_id);
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
	if (a->disabled) {
		buf_errf(err, "the user is disabled");
		rc = TW_EUNAUTH;
		goto fail;
	}
fail:
	buf_release(&dummy);
	return rc;
}

/* Turns the attempt into a success and loads the user into *user. */
static int succeed(PGconn *conn, const struct attempt *a,
		   struct auth_user *user, struct buf *err)
{
	const char *params[3];
	PGresult *res = NULL;
	char uid[24];
	int rc;

	snprintf(uid, sizeof(uid), "%" PRId64, a->user_id);
	params[0] = a->id;
	params[1] = uid;
	params[2] = a->hash.ptr;
	rc = db_exec(conn, succeed_sql, 3, params, &res, err);
	if (rc < 0)
		goto fail;
	if (strcmp(PQcmdTuples(res), "1") != 0) {
		buf_errf(err, "the user was disabled or given a new password "
			      "during sign-in");
		rc = TW_EUNAUTH;
		goto fail;
	}
	rc = auth_user_get(conn, a->user_id, user, err);
fail:
	if (res)
		PQclear(res);
	return rc;
}

/* Gives conn back to pool, as broken when rc failed and the link is lost. */
static void release(struct db_pool *pool, PGconn **conn, int rc)
{
	if (*conn)
		db_release(pool, *conn,
			   rc < 0 && PQstatus(*conn) != CONNECTION_OK);
	*conn = NULL;
}

int auth_login(struct db_pool *pool, const struct auth_login_opts *opts,
	       const char *email, const char *password, const char *client_addr,
	       struct auth_user *user, int *retry_after_s, struct buf *err)
{
	struct buf key = BUF_INIT(AUTH_EMAIL_MAX * 4 + 1);
	struct attempt a;
	const char *params[1];
	PGconn *conn = NULL;
	char keep[24];
	int rc;

	memset(&a, 0, sizeof(a));
	buf_init(&a.hash, 256);
	*retry_after_s = 0;
	if (!email)
		email = "";
	if (!password)
		password = "";
	if (!client_addr)
		client_addr = "unknown";
	throttle_key(email, &key);

	rc = db_acquire(pool, opts->acquire_ms, &conn, err);
	if (rc < 0)
		goto fail;
	/* Cheap with the attempted_at index; keeps the table small. */
	snprintf(keep, sizeof(keep), "%d",
		 opts->window_s > ATTEMPT_KEEP_S ? opts->window_s
						 : ATTEMPT_KEEP_S);
	params[0] = keep;
	rc = db_exec(conn, cleanup_sql, 1, params, NULL, err);
	if (rc < 0)
		goto fail;
	rc = reserve(conn, opts, key.ptr, client_addr, &a, retry_after_s, err);
	if (rc < 0)
		goto fail;
	release(pool, &conn, rc);

	/* The slow-down holds no connection, only this thread. */
	if (a.delay_ms > 0) {
		if (atomic_fetch_add(&waiting, 1) < opts->max_waiting)
			plat_sleep_ms(a.delay_ms);
		else
			log_info(LOG_APP,
				 "sign-in slow-down of %d ms skipped: %d "
				 "attempts are waiting already",
				 a.delay_ms, opts->max_waiting);
		atomic_fetch_sub(&waiting, 1);
	}
	rc = check_password(opts, &a, password, err);
	if (rc < 0)
		goto fail;

	rc = db_acquire(pool, opts->acquire_ms, &conn, err);
	if (rc < 0)
		goto fail;
	rc = succeed(conn, &a, user, err);
fail:
	release(pool, &conn, rc);
	buf_release(&a.hash);
	buf_release(&key);
	return rc;
}
