/*
 * auth.h - local authentication: bcrypt password hashes, HS256 login tokens
 * (JWT), users and roles, and login throttling.
 *
 * A login checks the password against the bcrypt hash stored in users and
 * answers a token signed with TW_SECRET_KEY; every authenticated request
 * verifies the token, then loads the user to check it still exists, is not
 * disabled and that the token's version is the user's current one (a
 * password change, disabling the user or signing out bumps it, so older
 * tokens stop working at once).
 */
#ifndef TW_AUTH_AUTH_H
#define TW_AUTH_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "core/buf.h"

/* --- bcrypt (bcrypt.c) -------------------------------------------------- */

#define AUTH_BCRYPT_MIN_COST 4
#define AUTH_BCRYPT_MAX_COST 31
/* "$2b$12$" + 22 salt characters + 31 hash characters */
#define AUTH_BCRYPT_HASH_LEN 60
/* bcrypt reads at most this many bytes of a password. */
#define AUTH_BCRYPT_MAX_PASSWORD 72

/*
 * auth_bcrypt_hash() hashes password with a fresh random salt (libsodium's
 * randombytes_buf) at the given cost (4 to 31) and writes the 60-character
 * "$2b$" string to out. Passwords longer than 72 bytes are hashed as their
 * first 72 bytes, as OpenBSD's reference does; the API refuses them before
 * they get here (see docs/auth.md).
 */
int auth_bcrypt_hash(const char *password, int cost, struct buf *out,
		     struct buf *err);

/*
 * auth_bcrypt_hash_salt() is auth_bcrypt_hash() with a given 16-byte salt
 * and minor version ('a', 'b' or 'y'), for tests against published vectors
 * and other implementations.
 */
int auth_bcrypt_hash_salt(const char *password, size_t password_len, int cost,
			  const unsigned char salt[16], char minor,
			  struct buf *out, struct buf *err);

/*
 * auth_bcrypt_verify() checks password against a "$2a$", "$2b$" or "$2y$"
 * hash in constant time: 0 on a match, TW_EUNAUTH on a mismatch, TW_EINVAL
 * when hash is not a well-formed bcrypt string.
 */
int auth_bcrypt_verify(const char *password, const char *hash);

/* The cost recorded in a well-formed hash, or -1. */
int auth_bcrypt_cost(const char *hash);

/* --- JWT, HS256 only (jwt.c) -------------------------------------------- */

#define AUTH_ROLE_ADMIN 1u
#define AUTH_ROLE_ANALYST 2u
#define AUTH_ROLE_VIEWER 4u
#define AUTH_ROLE_ANY (AUTH_ROLE_ADMIN | AUTH_ROLE_ANALYST | AUTH_ROLE_VIEWER)

/* Seconds of clock skew accepted for iat and nbf. */
#define AUTH_JWT_LEEWAY_S 30
/* Tokens longer than this are refused before any parsing. */
#define AUTH_JWT_MAX_LEN 4096

struct auth_claims {
	int64_t sub;   /* user id */
	char role[16]; /* "admin", "analyst" or "viewer" */
	int64_t iat;   /* issued at, Unix seconds */
	int64_t exp;   /* expires at, Unix seconds */
	int64_t tv;    /* the user's token version when issued */
};

/*
 * auth_jwt_encode() writes header.payload.signature with header
 * {"alg":"HS256","typ":"JWT"} and the claims sub (as a string, RFC 7519),
 * role, iat, exp and tv, signed with HMAC-SHA256 under key.
 */
int auth_jwt_encode(const struct auth_claims *claims, const void *key,
		    size_t key_len, struct buf *out, struct buf *err);

/*
 * auth_jwt_decode() verifies a token and fills *claims. Everything but a
 * valid, current HS256 token is TW_EUNAUTH with the reason in err (for the
 * log; clients only see "invalid token"): not three base64url parts without
 * padding, a header alg other than exactly "HS256" ("none", "HS512",
 * "RS256", ...), a typ other than "JWT" when present, a crit header, a bad
 * signature (compared in constant time), JSON that is not an object or has
 * duplicate keys, a missing or non-integer sub/iat/exp/tv, an unknown role,
 * exp <= now, iat or nbf later than now + AUTH_JWT_LEEWAY_S.
 */
int auth_jwt_decode(const char *token, const void *key, size_t key_len,
		    int64_t now, struct auth_claims *claims, struct buf *err);

/* Role name -> AUTH_ROLE_* bit, 0 when unknown. */
unsigned auth_role_bit(const char *role);

/* --- users (users.c) ---------------------------------------------------- */

#define AUTH_EMAIL_MAX 254
#define AUTH_PASSWORD_MIN 8

struct auth_user {
	int64_t id;
	char email[AUTH_EMAIL_MAX + 1];
	char role[16];
	bool disabled;
	int64_t token_version;
	char created_at[40]; /* RFC 3339, UTC */
};

/*
 * auth_check_email() normalises email (trimmed, lowercased) into out and
 * checks it: 3 to 254 bytes, one '@' with text on both sides, no white
 * space or control characters. TW_EVALIDATION with the reason.
 */
int auth_check_email(const char *email, struct buf *out, struct buf *err);

/*
 * auth_check_password() checks a new password: 8 to 72 bytes (bcrypt's
 * limit: refusing longer ones beats silently ignoring their tail), no NUL.
 * TW_EVALIDATION with the reason.
 */
int auth_check_password(const char *password, struct buf *err);

/*
 * auth_user_create() validates and inserts a user with a bcrypt hash of the
 * given cost. TW_ECONFLICT when the email is taken, TW_EVALIDATION for bad
 * input. *out (may be NULL) receives the stored user.
 */
int auth_user_create(PGconn *conn, const char *email, const char *password,
		     const char *role, int cost, struct auth_user *out,
		     struct buf *err);

/* Loads a user by id or by (normalised) email: TW_ENOTFOUND when absent. */
int auth_user_get(PGconn *conn, int64_t id, struct auth_user *out,
		  struct buf *err);
int auth_user_get_by_email(PGconn *conn, const char *email,
			   struct auth_user *out, struct buf *err);

/*
 * auth_user_set_password() stores a new hash and bumps token_version, so
 * every token issued before stops working.
 */
int auth_user_set_password(PGconn *conn, int64_t id, const char *password,
			   int cost, struct buf *err);

/*
 * auth_user_revoke_tokens() bumps token_version when it is still tv, so
 * every token of the user stops working (sign-out). TW_ENOTFOUND when the
 * user does not exist or its version is no longer tv (already revoked).
 */
int auth_user_revoke_tokens(PGconn *conn, int64_t id, int64_t tv,
			    struct buf *err);

/*
 * auth_user_update() changes role and/or disabled (NULL / -1: unchanged) and
 * bumps token_version. Refuses (TW_ECONFLICT) to leave no enabled admin.
 */
int auth_user_update(PGconn *conn, int64_t id, const char *role, int disabled,
		     struct buf *err);

/* --- login and throttling (login.c) ------------------------------------- */

struct db_pool;

struct auth_login_opts {
	int cost;	       /* for the dummy hash of unknown emails */
	int max_failures;      /* TW_LOGIN_MAX_FAILURES, per (email, address) */
	int max_addr_failures; /* TW_LOGIN_MAX_ADDRESS_FAILURES */
	int window_s;	       /* TW_LOGIN_WINDOW_S */
	int max_delay_ms;      /* TW_LOGIN_MAX_DELAY_MS, 0: no slow-down */
	int max_waiting;       /* attempts that may wait out a slow-down */
	int acquire_ms;	       /* how long to wait for a pooled connection */
};

/* The first delay of the per-account slow-down; it doubles per failure. */
#define AUTH_LOGIN_DELAY_BASE_MS 250

/*
 * auth_login_delay_ms() is the slow-down before the password check of an
 * email that has failures failed attempts since its last success within
 * the window: none below max_failures, then AUTH_LOGIN_DELAY_BASE_MS
 * doubling with each further failure, never more than max_delay_ms.
 */
int auth_login_delay_ms(const struct auth_login_opts *opts, long failures);

/*
 * auth_login() checks email and password, taking connections from pool as
 * it needs them (none is held while it waits). Order: under a lock on the
 * client address, when the address has max_addr_failures failed attempts
 * within window_s, or the (email, address) pair has max_failures since the
 * pair's last success, answer TW_ETOOMANY with *retry_after_s set, without
 * checking the password or recording anything; otherwise record the
 * attempt as a failure before checking (so parallel attempts cannot
 * overtake the count), wait auth_login_delay_ms() for the email's recent
 * failures from any address (unless max_waiting attempts are waiting
 * already), verify (an unknown email is verified against
 * a dummy hash of the same cost, so it takes as long as a wrong password),
 * and answer 0 with *user filled (the attempt turned into a success), or
 * TW_EUNAUTH for an unknown email, a wrong password or a disabled user
 * alike. Database errors are returned as such.
 */
int auth_login(struct db_pool *pool, const struct auth_login_opts *opts,
	       const char *email, const char *password, const char *client_addr,
	       struct auth_user *user, int *retry_after_s, struct buf *err);

#endif
