#include "core/compat.h"

#include <microhttpd.h>

#include "core/err.h"
#include "http/http.h"
#include "http/http_int.h"

/*
 * request.c - what a handler reads from a request, and the checks of what
 * the client sent: path parameters, query arguments and headers; the JSON
 * body (Content-Type, syntax, an object) and its fields; the query string's
 * names, checked against the route's allow list by the dispatcher before
 * any handler runs. Every check that fails replies itself (400 or 422 in
 * the API's error format) and returns the error.
 */

/* The longest client-supplied text quoted back in an error message. */
#define QUOTE_MAX 64

const char *http_param(const struct http_request *req, const char *name)
{
	size_t i;

	for (i = 0; i < req->nparams; i++) {
		if (strcmp(req->param_names[i], name) == 0)
			return req->param_values[i];
	}
	return NULL;
}

const char *http_query(const struct http_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->priv->conn,
					   MHD_GET_ARGUMENT_KIND, name);
}

const char *http_header(const struct http_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->priv->conn, MHD_HEADER_KIND,
					   name);
}

/* Whether the n bytes at s equal the lowercase ASCII word lit, any case. */
static bool eq_nocase_n(const char *s, size_t n, const char *lit)
{
	size_t i;

	if (strlen(lit) != n)
		return false;
	for (i = 0; i < n; i++) {
		if (tolower((unsigned char)s[i]) != lit[i])
			return false;
	}
	return true;
}

bool http__content_type_is_json(const char *value)
{
	static const char mime[] = "application/json";
	const char *p;

	if (!value)
		return false;
	while (*value == ' ' || *value == '\t')
		value++;
	if (strlen(value) < sizeof(mime) - 1 ||
	    !eq_nocase_n(value, sizeof(mime) - 1, mime))
		return false;
	p = value + sizeof(mime) - 1;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0')
		return true;
	if (*p != ';')
		return false;
	/* Parameters: only charset matters, and it must be UTF-8. */
	while (*p == ';') {
		const char *name, *val;
		size_t nlen, vlen;

		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		name = p;
		while (*p && *p != '=' && *p != ';')
			p++;
		nlen = (size_t)(p - name);
		while (nlen &&
		       (name[nlen - 1] == ' ' || name[nlen - 1] == '\t'))
			nlen--;
		if (*p != '=') {
			if (nlen)
				return false;
			continue;
		}
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		val = p;
		while (*p && *p != ';')
			p++;
		vlen = (size_t)(p - val);
		while (vlen && (val[vlen - 1] == ' ' || val[vlen - 1] == '\t'))
			vlen--;
		if (vlen >= 2 && val[0] == '"' && val[vlen - 1] == '"') {
			val++;
			vlen -= 2;
		}
		if (eq_nocase_n(name, nlen, "charset") &&
		    !eq_nocase_n(val, vlen, "utf-8") &&
		    !eq_nocase_n(val, vlen, "utf8"))
			return false;
	}
	return *p == '\0';
}

/*
 * How many bytes of s to quote back: at most QUOTE_MAX, cut before a UTF-8
 * continuation byte so the message stays valid UTF-8.
 */
static size_t quote_len(const char *s)
{
	size_t len = strlen(s);

	if (len <= QUOTE_MAX)
		return len;
	len = QUOTE_MAX;
	while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
		len--;
	return len;
}

static void json_decref_hook(void *ptr)
{
	json_decref(ptr);
}

int http_body_json(struct http_request *req, json_t **out)
{
	json_error_t jerr;
	json_t *root = NULL;
	int rc = 0;

	*out = NULL;
	if (!http__content_type_is_json(http_header(req, "Content-Type"))) {
		rc = TW_EINVAL;
		http_reply_error(req, rc,
				 "expected Content-Type: application/json");
		goto fail;
	}
	if (req->body_len == 0) {
		rc = TW_EINVAL;
		http_reply_error(req, rc,
				 "request body is empty; expected a JSON "
				 "object");
		goto fail;
	}
	root = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES,
			  &jerr);
	if (!root) {
		rc = TW_EINVAL;
		http_reply_error(req, rc,
				 "invalid JSON at line %d, column %d: %s",
				 jerr.line, jerr.column, jerr.text);
		goto fail;
	}
	arena_on_free(req->arena, json_decref_hook, root);
	if (!json_is_object(root)) {
		rc = TW_EINVAL;
		http_reply_error(req, rc, "request body must be a JSON object");
		goto fail;
	}
	*out = root;
fail:
	return rc;
}

int http_json_check_fields(struct http_request *req, json_t *obj,
			   const char *const *allowed)
{
	const char *key;
	json_t *value;
	int rc = 0;

	json_object_foreach(obj, key, value) {
		const char *const *a;
		bool known = false;
		json_t *details;
		char *msg;

		(void)value;
		for (a = allowed; *a; a++) {
			if (strcmp(*a, key) == 0) {
				known = true;
				break;
			}
		}
		if (known)
			continue;
		rc = TW_EVALIDATION;
		msg = arena_printf(req->arena, "unknown field \"%.*s\"%s",
				   (int)quote_len(key), key,
				   quote_len(key) < strlen(key) ? "..." : "");
		details = json_pack("{s:s}", "field", key);
		http__reply_error_body(req, http_status_for(rc),
				       http_code_for(rc), msg, details);
		break;
	}
	return rc;
}

/*
 * A short, printable rendering of client text for an error message: the
 * text itself when it is at most 64 printable ASCII characters, else NULL.
 */
const char *http_quotable(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++) {
		if (i >= 64 || s[i] < 0x20 || s[i] > 0x7E)
			return NULL;
	}
	return s;
}

void http__query_scan_init(struct http_query_scan *qs,
			   const char *const *allowed)
{
	size_t n = 0;

	while (allowed[n])
		n++;
	if (n > HTTP_QUERY_MAX_NAMES)
		TW_BUG("a query allow list of %zu names (at most %d)", n,
		       HTTP_QUERY_MAX_NAMES);
	memset(qs, 0, sizeof(*qs));
	qs->allowed = allowed;
}

void http__query_scan_add(struct http_query_scan *qs, const char *name,
			  const char *value)
{
	unsigned i;

	for (i = 0; qs->allowed[i] && strcmp(qs->allowed[i], name); i++)
		;
	if (!qs->allowed[i]) {
		if (!qs->unknown)
			qs->unknown = name;
	} else {
		if ((qs->seen & (UINT32_C(1) << i)) && !qs->repeated)
			qs->repeated = qs->allowed[i];
		if (!value && !qs->empty)
			qs->empty = qs->allowed[i];
		qs->seen |= UINT32_C(1) << i;
	}
}

static enum MHD_Result query_scan_one(void *cls, enum MHD_ValueKind kind,
				      const char *key, const char *value)
{
	(void)kind;
	http__query_scan_add(cls, key, value);
	return MHD_YES;
}

int http_query_check_names(struct http_request *req, const char *const *allowed)
{
	struct http_query_scan qs;
	const char *shown;
	int rc = 0;

	http__query_scan_init(&qs, allowed);
	MHD_get_connection_values(req->priv->conn, MHD_GET_ARGUMENT_KIND,
				  query_scan_one, &qs);
	if (qs.unknown) {
		shown = http_quotable(qs.unknown);
		if (shown)
			rc = http_reply_error(req, TW_EVALIDATION,
					      "unknown query parameter \"%s\"",
					      shown);
		else
			rc = http_reply_error(req, TW_EVALIDATION,
					      "unknown query parameter");
	} else if (qs.repeated) {
		rc = http_reply_error(req, TW_EVALIDATION,
				      "query parameter %s given more than once",
				      qs.repeated);
	} else if (qs.empty) {
		rc = http_reply_error(req, TW_EVALIDATION,
				      "query parameter %s needs a value",
				      qs.empty);
	}
	return rc;
}

/* The allow list of a route that declares none: no parameter at all. */
static const char *const no_query[] = { NULL };

const char *const http_query_ignored[] = { NULL };

int http__route_check_query(struct http_request *req,
			    const struct http_route *route)
{
	int rc = 0;

	if (route->query != http_query_ignored)
		rc = http_query_check_names(req, route->query ? route->query
							      : no_query);
	return rc;
}

int http_json_string(struct http_request *req, json_t *obj, const char *name,
		     bool required, const char **out, size_t *len)
{
	json_t *v = json_object_get(obj, name);
	int rc = 0;

	*out = NULL;
	if (len)
		*len = 0;
	if (!v && required) {
		rc = http_reply_error(req, TW_EVALIDATION, "%s is required",
				      name);
		goto out;
	}
	if (!v)
		goto out;
	if (!json_is_string(v)) {
		rc = http_reply_error(req, TW_EVALIDATION,
				      "%s must be a string", name);
		goto out;
	}
	/*
	 * jansson refuses "\u0000" (400 bad JSON) unless asked not to; this
	 * check is for the day someone does.
	 */
	if (memchr(json_string_value(v), '\0', json_string_length(v))) {
		rc = http_reply_error(req, TW_EVALIDATION,
				      "%s must not contain NUL characters",
				      name);
		goto out;
	}
	*out = json_string_value(v);
	if (len)
		*len = json_string_length(v);
out:
	return rc;
}
