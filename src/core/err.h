/*
 * err.h - Tablewright's error codes.
 *
 * Functions return int: 0 on success, a negative TW_E* code on failure, and
 * append a human-readable detail to a caller-supplied struct buf *err (which
 * may be NULL when the caller does not want it). The one table that maps
 * these codes to HTTP statuses lives in src/http/errmap.c.
 */
#ifndef TW_CORE_ERR_H
#define TW_CORE_ERR_H

enum tw_err {
	TW_OK = 0,
	TW_EINVAL = -1,	     /* malformed input: bad_request */
	TW_EVALIDATION = -2, /* well-formed but invalid: validation_failed */
	TW_EUNAUTH = -3,     /* unauthorized */
	TW_EFORBIDDEN = -4,  /* forbidden */
	TW_ENOTFOUND = -5,   /* not_found */
	TW_ECONFLICT = -6,   /* conflict (e.g. SQLSTATE 23505) */
	TW_ETOOBIG = -7,     /* a capped size was exceeded: payload_too_large */
	TW_ETOOMANY = -8,    /* throttled: too_many_requests */
	TW_EIO = -9,	     /* file or pipe I/O failed */
	TW_EDB = -10,	     /* database error not otherwise classified */
	TW_EUNAVAIL = -11,   /* a dependency (database, queue) is unreachable */
	TW_ECONFIG = -12,    /* missing or malformed configuration */
	TW_ENOTIMPL = -13,   /* feature not built into this version */
	TW_EINTERNAL = -14,  /* anything else: internal */
	TW_ETIMEOUT = -15,   /* an operation ran out of time */
	/*
	 * The most negative code. A new code goes above this line and moves
	 * it: tests/unit/test_errmap.c walks every code from -1 to here.
	 */
	TW_E_LAST = TW_ETIMEOUT,
};

/*
 * err_name() returns a stable snake_case name for a code ("not_found"),
 * used in logs and, through http/errmap.c, in API error bodies.
 */
const char *err_name(int rc);

#endif
