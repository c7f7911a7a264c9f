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

int http__reply_error_body(struct http_request *req, int status,
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
	return http__reply_error_body(req, status, code, message, NULL);
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
	http__reply_error_body(req, status, http_code_for(rc),
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
	/* docs/api.md promises Retry-After on every 429. */
	if (priv->status == 429 && !has_queued_header(req, "Retry-After"))
		add_header(req, "Retry-After", "60");
	add_queued_headers(req, priv->headers);
}
