#include "core/compat.h"
#include "core/buf.h"
#include "core/str.h"
#include "http/http.h"
#include "http/http_int.h"

/*
 * Route matching: a pattern is compared with the path segment by segment.
 * There is no tree: the route table has tens of entries and a linear scan of
 * short strings costs less than the JSON encoding of any reply.
 */

/* One captured parameter: pointers into the pattern and the path. */
struct capture {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};

/*
 * Matches one pattern against path. On a match, caps[0..*ncaps) hold the
 * parameters. A pattern with more than HTTP_MAX_PARAMS parameters is a bug
 * in the route table.
 */
static bool pattern_match(const char *pattern, const char *path,
			  struct capture *caps, size_t *ncaps)
{
	const char *p = pattern;
	const char *s = path;
	size_t n = 0;

	if (*p != '/' || *s != '/')
		return false;
	while (*p && *s) {
		/* Both point at a '/'. */
		const char *pend, *send;
		size_t plen, slen;

		if (*p != '/' || *s != '/')
			return false;
		p++;
		s++;
		pend = strchr(p, '/');
		if (!pend)
			pend = p + strlen(p);
		send = strchr(s, '/');
		if (!send)
			send = s + strlen(s);
		plen = (size_t)(pend - p);
		slen = (size_t)(send - s);
		if (plen >= 2 && p[0] == '{' && p[plen - 1] == '}') {
			if (slen == 0)
				return false;
			if (n == HTTP_MAX_PARAMS)
				TW_BUG("route \"%s\" has more than %d "
				       "parameters",
				       pattern, HTTP_MAX_PARAMS);
			caps[n].name = p + 1;
			caps[n].name_len = plen - 2;
			caps[n].value = s;
			caps[n].value_len = slen;
			n++;
		} else if (plen != slen || memcmp(p, s, plen) != 0) {
			return false;
		}
		p = pend;
		s = send;
	}
	if (*p || *s)
		return false;
	*ncaps = n;
	return true;
}

/* Appends method to the comma-separated list in allow unless present. */
static void allow_add(struct buf *allow, const char *method)
{
	const char *p = allow->ptr;
	size_t len = strlen(method);

	while (*p) {
		const char *end = strstr(p, ", ");

		if (!end)
			end = p + strlen(p);
		if ((size_t)(end - p) == len && memcmp(p, method, len) == 0)
			return;
		p = *end ? end + 2 : end;
	}
	/* The cap is far above any real list; a truncated Allow is harmless. */
	if (allow->len)
		buf_adds(allow, ", ");
	buf_adds(allow, method);
}

enum http_match_kind http__route_match(const struct http_route *routes,
				       const char *method, const char *path,
				       struct arena *a, struct http_match *m)
{
	struct capture caps[HTTP_MAX_PARAMS], best_caps[HTTP_MAX_PARAMS];
	const struct http_route *best = NULL;
	size_t best_n = 0;
	bool best_exact = false;
	bool path_known = false;
	struct buf allow = BUF_INIT(1024);
	enum http_match_kind kind;
	const struct http_route *r;
	size_t i;

	memset(m, 0, sizeof(*m));
	for (r = routes; r->method; r++) {
		size_t n = 0;
		bool exact, head_via_get;

		if (!pattern_match(r->pattern, path, caps, &n))
			continue;
		path_known = true;
		allow_add(&allow, r->method);
		if (strcmp(r->method, "GET") == 0)
			allow_add(&allow, "HEAD");
		exact = strcmp(r->method, method) == 0;
		head_via_get = strcmp(method, "HEAD") == 0 &&
			       strcmp(r->method, "GET") == 0;
		if (!exact && !head_via_get)
			continue;
		/*
		 * Better: an exact method over HEAD-via-GET, then fewer
		 * parameters; on a tie the earlier route stays.
		 */
		if (best && (best_exact && !exact))
			continue;
		if (best && best_exact == exact && n >= best_n)
			continue;
		best = r;
		best_n = n;
		best_exact = exact;
		memcpy(best_caps, caps, n * sizeof(caps[0]));
	}

	m->allow = arena_strdup(a, allow.ptr);
	buf_release(&allow);
	if (best) {
		m->route = best;
		m->nparams = best_n;
		for (i = 0; i < best_n; i++) {
			m->names[i] = arena_strndup(a, best_caps[i].name,
						    best_caps[i].name_len);
			m->values[i] = arena_strndup(a, best_caps[i].value,
						     best_caps[i].value_len);
		}
		kind = HTTP_MATCH_FOUND;
	} else if (path_known) {
		kind = HTTP_MATCH_WRONG_METHOD;
	} else {
		kind = HTTP_MATCH_NONE;
	}
	return kind;
}

/* Whether path is prefix itself or lies below it ("/api" or "/api/..."). */
static bool path_under(const char *path, const char *prefix)
{
	size_t len = strlen(prefix);

	return strncmp(path, prefix, len) == 0 &&
	       (path[len] == '\0' || path[len] == '/');
}

bool http__is_api_path(const char *path)
{
	return path_under(path, "/api") || path_under(path, "/healthz");
}
