#include "core/compat.h"
#include "core/err.h"
#include "http/http.h"
#include "http/http_int.h"

/*
 * The one table that maps Tablewright's error codes (core/err.h) to an HTTP
 * status and the API's error code (docs/api.md, "Errors"). A code missing here
 * is 500 internal, but every code of core/err.h has a row of its own
 * (tests/unit/test_errmap.c checks that, so that a new code is a decision).
 *
 * TW_ETIMEOUT is 503 unavailable, not 500: inside the server it means a
 * dependency did not answer in time (no pooled database connection freed
 * up, a query ran out of its statement timeout), which is transient and
 * worth retrying, while 500 tells a client that the server is broken. It is
 * not 504 either: Tablewright is not a gateway, and docs/api.md does not name
 * gateway_timeout. Job timeouts are not HTTP errors at all (they are the
 * job's error_code).
 *
 * Every 5xx hides its detail: the client gets the generic message below and
 * the detail goes to the log (http_reply_error() does both).
 */
struct errmap_entry {
	int rc;
	int status;
	const char *code;
	const char *generic; /* replaces the detail for 5xx; NULL otherwise */
};

static const struct errmap_entry errmap[] = {
	{ TW_EINVAL, 400, "bad_request", NULL },
	{ TW_EVALIDATION, 422, "validation_failed", NULL },
	{ TW_EUNAUTH, 401, "unauthorized", NULL },
	{ TW_EFORBIDDEN, 403, "forbidden", NULL },
	{ TW_ENOTFOUND, 404, "not_found", NULL },
	{ TW_ECONFLICT, 409, "conflict", NULL },
	{ TW_ETOOBIG, 413, "payload_too_large", NULL },
	{ TW_ETOOMANY, 429, "too_many_requests", NULL },
	{ TW_EUNAVAIL, 503, "unavailable",
	  "a service the server depends on is unavailable" },
	{ TW_ETIMEOUT, 503, "unavailable",
	  "a service the server depends on did not answer in time" },
	{ TW_EIO, 500, "internal", "internal error" },
	{ TW_EDB, 500, "internal", "internal error" },
	{ TW_ECONFIG, 500, "internal", "internal error" },
	{ TW_ENOTIMPL, 500, "internal", "internal error" },
	{ TW_EINTERNAL, 500, "internal", "internal error" },
};

static const struct errmap_entry errmap_internal = { TW_EINTERNAL, 500,
						     "internal",
						     "internal error" };

static const struct errmap_entry *errmap_find(int rc)
{
	size_t i;

	for (i = 0; i < TW_ARRAY_SIZE(errmap); i++) {
		if (errmap[i].rc == rc)
			return &errmap[i];
	}
	return &errmap_internal;
}

bool http__errmap_has(int rc)
{
	return errmap_find(rc) != &errmap_internal;
}

int http_status_for(int rc)
{
	return errmap_find(rc)->status;
}

const char *http_code_for(int rc)
{
	return errmap_find(rc)->code;
}

bool http__hides_detail(int rc)
{
	return errmap_find(rc)->generic != NULL;
}

const char *http__client_message(int rc, const char *detail)
{
	const struct errmap_entry *e = errmap_find(rc);

	if (e->generic)
		return e->generic;
	return detail ? detail : "";
}
