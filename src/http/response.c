#include "core/compat.h"

#include <microhttpd.h>

#include "core/err.h"
#include "core/str.h"
#include "http/http.h"
#include "http/http_int.h"
#include "log/log.h"

/*
 * Replies: each http_reply_* builds an MHD_Response and hands it to
 * http__set_response(); server.c queues it once the handler has returned,
 * after http__finish_response() added the headers every reply carries.
 * Bodies live in the request's arena and are given to libmicrohttpd as
 * MHD_RESPMEM_PERSISTENT: the arena is freed in the request-completed
 * callback, after which libmicrohttpd no longer reads the response data.
 */

/* The longest client-supplied text quoted back in an error message. */
#define QUOTE_MAX 64

int http__set_response(struct http_request *req, int status,
		       struct MHD_Response *resp)
{
	struct http_request_int *priv = req->priv;
	int rc = 0;

	if (!resp) {
		log_error(LOG_APP, "could not create a response for %s %s",
			  req->method, req->path);
		rc = TW_EINTERNAL;
		goto fail;
	}
	if (priv->response || priv->status) {
		/* A bug in the handler; the first reply stands. */
		log_warn(LOG_APP,
			 "BUG: second reply (%d) to %s %s ignored, "
			 "first was %d",
			 status, req->method, req->path, priv->status);
		MHD_destroy_response(resp);
		rc = TW_EINTERNAL;
		goto fail;
	}
	priv->response = resp;
	priv->status = status;
fail:
	return rc;
}

/* Creates a response over len bytes of arena memory. */
static struct MHD_Response *response_from_arena(const void *data, size_t len)
{
	return MHD_create_response_from_buffer(len, (void *)data,
					       MHD_RESPMEM_PERSISTENT);
}

static int reply_bytes(struct http_request *req, int status,
		       const char *content_type, const void *data, size_t len)
{
	struct MHD_Response *resp = response_from_arena(data, len);

	if (resp && content_type &&
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				    content_type) != MHD_YES) {
		MHD_destroy_response(resp);
		resp = NULL;
	}
	return http__set_response(req, status, resp);
}

int http_reply_json(struct http_request *req, int status, json_t *body)
{
	const size_t flags = JSON_COMPACT | JSON_ENCODE_ANY;
	size_t len;
	char *text;
	int rc;

	if (!body) {
		log_error(LOG_APP, "no JSON body to reply to %s %s",
			  req->method, req->path);
		rc = http_reply_error(req, TW_EINTERNAL, "no JSON body");
		goto out;
	}
	len = json_dumpb(body, NULL, 0, flags);
	if (len == 0) {
		rc = http_reply_error(req, TW_EINTERNAL,
				      "could not encode the JSON reply");
		goto out;
	}
	text = arena_alloc(req->arena, len + 1);
	if (json_dumpb(body, text, len, flags) != len) {
		rc = http_reply_error(req, TW_EINTERNAL,
				      "could not encode the JSON reply");
		goto out;
	}
	rc = reply_bytes(req, status, "application/json", text, len);
out:
	json_decref(body);
	return rc;
}

int http_reply_data(struct http_request *req, int status,
		    const char *content_type, const void *data, size_t len)
{
	void *copy = arena_alloc(req->arena, len ? len : 1);

	if (len)
		memcpy(copy, data, len);
	return reply_bytes(req, status, content_type, copy, len);
}

int http_reply_empty(struct http_request *req, int status)
{
	return reply_bytes(req, status, NULL, "", 0);
}

/*
 * Replies {"error":{"code","message"[,"details"]}}; details (stolen, may be
 * NULL) is for structured extras such as the offending field.
 */
static int reply_error_body(struct http_request *req, int status,
			    const char *code, const char *message,
			    json_t *details)
{
	json_t *err = json_object();
	json_t *body = json_object();

	json_object_set_new(err, "code", json_string(code));
	/* json_string() refuses invalid UTF-8; fall back to the code. */
	if (json_object_set_new(err, "message", json_string(message)) < 0)
		json_object_set_new(err, "message", json_string(code));
	if (details)
		json_object_set_new(err, "details", details);
	json_object_set_new(body, "error", err);
	return http_reply_json(req, status, body);
}

int http_reply_error_code(struct http_request *req, int status,
			  const char *code, const char *message)
{
	return reply_error_body(req, status, code, message, NULL);
}

int http_reply_error(struct http_request *req, int rc, const char *fmt, ...)
{
	struct buf detail = BUF_INIT(BUF_SMALL_CAP);
	int status;
	va_list ap;

	if (rc >= 0) {
		log_warn(LOG_APP, "BUG: http_reply_error(%d) for %s %s", rc,
			 req->method, req->path);
		rc = TW_EINTERNAL;
	}
	va_start(ap, fmt);
	buf_vaddf(&detail, fmt, ap);
	va_end(ap);
	status = http_status_for(rc);
	if (http__hides_detail(rc)) {
		/*
		 * The client gets a generic text; the log gets the detail, as
		 * an error unless a dependency is merely unavailable.
		 */
		if (status != 503)
			log_error(LOG_APP, "%s %s: %s: %s", req->method,
				  req->path, err_name(rc), detail.ptr);
		else
			log_warn(LOG_APP, "%s %s: %s: %s", req->method,
				 req->path, err_name(rc), detail.ptr);
	}
	reply_error_body(req, status, http_code_for(rc),
			 http__client_message(rc, detail.ptr), NULL);
	buf_release(&detail);
	return rc;
}

void http_add_header(struct http_request *req, const char *name,
		     const char *value)
{
	struct http_header_item *h;

	h = arena_alloc(req->arena, sizeof(*h));
	h->name = arena_strdup(req->arena, name);
	h->value = arena_strdup(req->arena, value);
	h->next = req->priv->headers;
	req->priv->headers = h;
}

static bool has_queued_header(const struct http_request *req, const char *name)
{
	const struct http_header_item *h;

	for (h = req->priv->headers; h; h = h->next) {
		if (str_eq_nocase(h->name, name))
			return true;
	}
	return false;
}

/* Adds one header, logging (not failing) when libmicrohttpd refuses it. */
static void add_header(struct http_request *req, const char *name,
		       const char *value)
{
	if (MHD_add_response_header(req->priv->response, name, value) !=
	    MHD_YES)
		log_warn(LOG_APP,
			 "could not add header %s to the reply to %s %s", name,
			 req->method, req->path);
}

/* Adds the queued headers oldest first (the list is newest first). */
static void add_queued_headers(struct http_request *req,
			       const struct http_header_item *h)
{
	if (!h)
		return;
	add_queued_headers(req, h->next);
	add_header(req, h->name, h->value);
}

void http__finish_response(struct http_request *req)
{
	struct http_request_int *priv = req->priv;

	if (!priv->response)
		TW_BUG("finishing a request without a response");
	/*
	 * frame-ancestors and form-action do not fall back to default-src;
	 * base-uri 'none' keeps an injected <base> from re-pointing the
	 * page's relative URLs, object-src 'none' rules out plug-ins.
	 */
	add_header(req, "Content-Security-Policy", HTTP_CSP);
	add_header(req, "X-Content-Type-Options", "nosniff");
	add_header(req, "X-Frame-Options", "DENY");
	add_header(req, "Referrer-Policy", "no-referrer");
	if (!has_queued_header(req, "Cache-Control"))
		add_header(req, "Cache-Control", "no-store");
	if (priv->status == 401 && !has_queued_header(req, "WWW-Authenticate"))
		add_header(req, "WWW-Authenticate", "Bearer");
	/* API.md promises Retry-After on every 429. */
	if (priv->status == 429 && !has_queued_header(req, "Retry-After"))
		add_header(req, "Retry-After", "60");
	add_queued_headers(req, priv->headers);
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
		reply_error_body(req, http_status_for(rc), http_code_for(rc),
				 msg, details);
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

struct query_scan {
	const char *const *allowed;
	unsigned seen;	     /* bit i: allowed[i] was given */
	const char *unknown; /* the first name not allowed */
	const char *repeated;
	const char *empty; /* an allowed name given without "=value" */
};

static enum MHD_Result query_scan_one(void *cls, enum MHD_ValueKind kind,
				      const char *key, const char *value)
{
	struct query_scan *qs = cls;
	unsigned i;

	(void)kind;
	for (i = 0; qs->allowed[i] && strcmp(qs->allowed[i], key); i++)
		;
	if (!qs->allowed[i]) {
		if (!qs->unknown)
			qs->unknown = key;
	} else {
		if ((qs->seen & (1u << i)) && !qs->repeated)
			qs->repeated = qs->allowed[i];
		if (!value && !qs->empty)
			qs->empty = qs->allowed[i];
		qs->seen |= 1u << i;
	}
	return MHD_YES;
}

/*
 * query_check_names() replies 422 validation_failed when the query string
 * holds a name not in allowed (NULL-terminated, at most 32 names), a name
 * twice, or an allowed name without a value ("?desc"), and returns
 * TW_EVALIDATION; 0 otherwise.
 */
int http_query_check_names(struct http_request *req, const char *const *allowed)
{
	struct query_scan qs;
	const char *shown;
	int rc = 0;

	memset(&qs, 0, sizeof(qs));
	qs.allowed = allowed;
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
