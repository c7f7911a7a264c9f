#include "core/compat.h"
#include "core/err.h"

const char *err_name(int rc)
{
	switch (rc) {
	case TW_OK:
		return "ok";
	case TW_EINVAL:
		return "bad_request";
	case TW_EVALIDATION:
		return "validation_failed";
	case TW_EUNAUTH:
		return "unauthorized";
	case TW_EFORBIDDEN:
		return "forbidden";
	case TW_ENOTFOUND:
		return "not_found";
	case TW_ECONFLICT:
		return "conflict";
	case TW_ETOOBIG:
		return "payload_too_large";
	case TW_ETOOMANY:
		return "too_many_requests";
	case TW_EIO:
		return "io_error";
	case TW_EDB:
		return "database_error";
	case TW_EUNAVAIL:
		return "unavailable";
	case TW_ECONFIG:
		return "config_error";
	case TW_ENOTIMPL:
		return "not_implemented";
	case TW_ETIMEOUT:
		return "timeout";
	default:
		return "internal";
	}
}

void tw_bug_fl(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "BUG: %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	abort();
}
