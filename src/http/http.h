/*
 * http.h - the HTTP layer on libmicrohttpd: server lifecycle, routing, one
 * arena per request, JSON responses in the API's error format, static files
 * and security headers.
 *
 * Lifecycle of a request: the first access-handler call creates a struct
 * http_request with its arena; body chunks are appended to a buffer capped at
 * HTTP_MAX_BODY (1 MiB, then 413 payload_too_large); on the final call the
 * router picks the route and calls its handler once; the handler sets exactly
 * one response with the http_reply_* functions; the request-completed
 * callback frees the arena and with it everything registered on it.
 */
#ifndef TW_HTTP_HTTP_H
#define TW_HTTP_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "core/arena.h"
#include "core/buf.h"

#define HTTP_MAX_BODY ((size_t)1024 * 1024)
/* Open connections, all clients together, and the defaults of the opts. */
#define HTTP_MAX_CONNECTIONS 512
#define HTTP_DEFAULT_CONNECTIONS_PER_ADDR 128
#define HTTP_DEFAULT_HEAD_TIMEOUT_S 10
#define HTTP_DEFAULT_BODY_TIMEOUT_S 60
#define HTTP_MAX_PARAMS 8

struct http_request;
struct http_server;

typedef int (*http_handler_fn)(struct http_request *req);

/*
 * A route. pattern segments in braces are parameters: "/api/v1/jobs/{id}".
 * A path that matches a pattern with another method is 405 with an Allow
 * header. auth says the route needs a bearer token (checked by the auth
 * hook, when one is installed); roles is a bit mask of allowed roles, 0 for
 * every authenticated user.
 *
 * query is the route's allow list of query-string names (NULL-terminated,
 * at most HTTP_QUERY_MAX_NAMES). After the auth hook and before the
 * handler, the server refuses with 422 validation_failed a name not in it,
 * a name given twice and a name without a value ("?desc"), as
 * http_query_check_names() does, so a handler reads only names it knows
 * (http_query()). NULL means the route takes no query parameters at all;
 * http_query_ignored means the route does not look at its query string and
 * lets any through unchecked.
 */
struct http_route {
	const char *method;
	const char *pattern;
	http_handler_fn handler;
	bool auth;
	unsigned roles;
	const char *const *query;
	const char *summary; /* one line, also used by the OpenAPI check */
};

/* The most names a route's query allow list may hold. */
#define HTTP_QUERY_MAX_NAMES 32

/* The query allow list of a route that lets any query string through. */
extern const char *const http_query_ignored[];

struct http_server_opts {
	const char *host; /* "127.0.0.1" */
	int port;	  /* 0: any free port */
	int threads;	  /* libmicrohttpd thread pool size */
	/*
	 * The most connections one client address may hold open at once;
	 * 0: HTTP_DEFAULT_CONNECTIONS_PER_ADDR. Capped at HTTP_MAX_CONNECTIONS.
	 */
	int max_connections_per_addr;
	/*
	 * Deadlines in seconds, not idle timeouts: a request head must be
	 * complete within head_timeout_s of the connection's start (or of the
	 * previous reply on a kept-alive connection), and its body within
	 * body_timeout_s of the head; else the connection is closed. 0: the
	 * defaults below.
	 */
	int head_timeout_s;
	int body_timeout_s;
	const char *static_dir; /* web UI build folder; may not exist */
	const struct http_route *routes; /* terminated by a NULL method */
	void *app;			 /* handed to handlers as req->app */
	/*
	 * Called before a route with auth = true; returns 0 to go on or a
	 * TW_E* code after replying. NULL: such routes answer 401.
	 */
	int (*auth_hook)(struct http_request *req,
			 const struct http_route *route);
};

/*
 * http_server_start() binds and starts serving on a pool of threads, with a
 * watchdog thread that enforces the head and body deadlines.
 * TW_EIO with the OS's reason when the address cannot be bound.
 */
int http_server_start(struct http_server **out,
		      const struct http_server_opts *opts, struct buf *err);

/* The port actually bound (useful with port 0). */
int http_server_port(const struct http_server *srv);

/*
 * http_server_stop() stops accepting, lets in-flight requests finish (up to
 * a few seconds), and frees the server.
 */
void http_server_stop(struct http_server *srv);

/* --- what a handler sees (request.c) ----------------------------------- */

struct http_request {
	struct arena *arena;
	void *app;
	const char *method;
	const char *path; /* decoded path without the query */
	const char *body; /* NUL-terminated; "" when none */
	size_t body_len;
	const char *param_names[HTTP_MAX_PARAMS];
	const char *param_values[HTTP_MAX_PARAMS];
	size_t nparams;
	const char *client_addr;       /* "127.0.0.1" */
	void *auth;		       /* set by the auth hook */
	struct http_request_int *priv; /* http module only */
};

/* Path parameter by name ("id"), NULL when absent. */
const char *http_param(const struct http_request *req, const char *name);

/* Query-string argument by name, NULL when absent. */
const char *http_query(const struct http_request *req, const char *name);

/* Request header by name (case-insensitive), NULL when absent. */
const char *http_header(const struct http_request *req, const char *name);

/*
 * http_body_json() parses the body as a JSON object with
 * JSON_REJECT_DUPLICATES; the json_t is owned by the request's arena. On
 * failure it replies 400 bad_request itself and returns TW_EINVAL.
 */
int http_body_json(struct http_request *req, json_t **out);

/*
 * http_json_check_fields() rejects a key of obj that is not in allowed (a
 * NULL-terminated list): it replies 422 validation_failed naming the first
 * unknown field (also as "details":{"field":...}) and returns
 * TW_EVALIDATION; 0 when every key is allowed.
 */
int http_json_check_fields(struct http_request *req, json_t *obj,
			   const char *const *allowed);

/*
 * http_json_string() reads the string member name of obj into *out (owned
 * by obj) and its byte length into *len (len may be NULL). Absent: *out is
 * NULL, or 422 validation_failed when required. Another type, or a string
 * holding a NUL, is 422. Replies itself and returns the error.
 */
int http_json_string(struct http_request *req, json_t *obj, const char *name,
		     bool required, const char **out, size_t *len);

/*
 * http_query_check_names() replies 422 validation_failed, and returns
 * TW_EVALIDATION, when the query string holds a name not in allowed
 * (NULL-terminated, at most HTTP_QUERY_MAX_NAMES names), a name twice, or
 * an allowed name without a value ("?desc"); 0 otherwise. The server runs
 * it with each route's allow list (struct http_route's query) before the
 * handler, so handlers need not.
 */
int http_query_check_names(struct http_request *req,
			   const char *const *allowed);

/*
 * http_quotable() is client text fit to quote in an error message: s itself
 * when it is at most 64 printable ASCII characters, else NULL.
 */
const char *http_quotable(const char *s);

/* --- replies (each handler calls exactly one) --------------------------- */

/* Replies with a JSON value (reference stolen) and the given status. */
int http_reply_json(struct http_request *req, int status, json_t *body);

/* Replies with a body of the given content type (copied). */
int http_reply_data(struct http_request *req, int status,
		    const char *content_type, const void *data, size_t len);

/* 204 No Content. */
int http_reply_empty(struct http_request *req, int status);

/*
 * http_reply_error() replies {"error":{"code","message"}} with the status
 * that http/errmap.c gives rc, and returns rc. For TW_EINTERNAL the message
 * is replaced by a generic one (details go to the log, not the client).
 */
int http_reply_error(struct http_request *req, int rc, const char *fmt, ...)
	TW_PRINTF(3, 4);

/* Like http_reply_error() with an explicit code string and status. */
int http_reply_error_code(struct http_request *req, int status,
			  const char *code, const char *message);

/* Adds a response header to the reply about to be sent. */
void http_add_header(struct http_request *req, const char *name,
		     const char *value);

/* --- server-sent events (sse.c) ----------------------------------------- */

/* What an event source tells the stream after each call. */
enum http_sse_next {
	HTTP_SSE_MORE = 0, /* call again after the interval */
	HTTP_SSE_END,	   /* send what was appended, then end the stream */
};

/*
 * An event source: appends complete events ("id: 7\nevent: log\ndata:
 * {...}\n\n") to out, or nothing when there is nothing new. It runs on the
 * stream's own thread, never on a thread that serves requests, so it may
 * query the database.
 */
typedef enum http_sse_next (*http_sse_fn)(void *ctx, struct buf *out);

/*
 * http_reply_sse() answers 200 text/event-stream (no caching, no
 * buffering by proxies) and hands the body to a thread of its own, which
 * calls fn at once and then every interval_ms. When nothing has been sent
 * for 15 s a comment line keeps the connection alive (and finds out that a
 * client has vanished); a client that closes its end is noticed within a
 * second. The stream ends when fn says HTTP_SSE_END, when the client goes
 * away, or when the server stops (then fn is not called again).
 * free_ctx(ctx) runs exactly once, after the last call of fn, also when
 * this function fails. At most 1 MiB waits unsent: while more waits, fn is
 * not called (a client that does not read slows its own stream only).
 */
int http_reply_sse(struct http_request *req, http_sse_fn fn, void *ctx,
		   void (*free_ctx)(void *ctx), int interval_ms);

/* --- error map (errmap.c) ----------------------------------------------- */

/* The HTTP status and API error code for a TW_E* code. */
int http_status_for(int rc);
const char *http_code_for(int rc);

#endif
