/*
 * http_int.h - what the files of the http module share: the private part of
 * a request, the router's matching function, the static-path rules, the
 * request checks and the error map's detail policy. Nothing outside
 * src/http/ (and its unit tests) includes this header.
 */
#ifndef TW_HTTP_HTTP_INT_H
#define TW_HTTP_HTTP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/buf.h"
#include "http/http.h"

struct MHD_Connection;
struct MHD_Response;
struct http_server;
struct http_conn;

/* A response header queued by http_add_header() (arena memory). */
struct http_header_item {
	struct http_header_item *next;
	const char *name;
	const char *value;
};

/*
 * The http module's part of a request, allocated in the request's arena
 * together with the struct http_request that points at it.
 */
struct http_request_int {
	struct MHD_Connection *conn;
	struct http_server *srv;
	struct http_conn *hc; /* the connection's deadline (server.c) */
	int64_t start_ms;     /* plat_monotonic_ms() at the first call */
	struct buf upload;    /* the body, capped at HTTP_MAX_BODY */
	bool too_big;	      /* the body passed the cap: 413 at its end */
	uint64_t discarded;   /* bytes dropped since then */
	bool dispatched;      /* the final call has run */
	bool close;	      /* the connection closes after the reply */
	bool is_static;	      /* served by static.c (keeps its own caching) */
	/*
	 * The reply: set by exactly one http_reply_* call, queued by server.c
	 * when the handler returns. status is 0 until then.
	 */
	struct MHD_Response *response;
	int status;
	struct http_header_item *headers; /* newest first */
};

/* --- server.c ------------------------------------------------------------ */

/*
 * http__server_stopping() says whether http_server_stop() has begun: event
 * streams end then (sse.c). Any thread may ask.
 */
bool http__server_stopping(const struct http_server *srv);

/*
 * http__sse_suspended_add() counts event streams whose connection is
 * suspended (delta +1 or -1); http_server_stop() waits for none before it
 * stops libmicrohttpd, which must not be stopped with one suspended.
 */
void http__sse_suspended_add(struct http_server *srv, int delta);

/* --- router.c ------------------------------------------------------------ */

enum http_match_kind {
	HTTP_MATCH_FOUND = 0,	 /* route and params are set */
	HTTP_MATCH_WRONG_METHOD, /* the path exists with other methods: 405 */
	HTTP_MATCH_NONE,	 /* no pattern matches the path */
};

struct http_match {
	const struct http_route *route;
	const char *names[HTTP_MAX_PARAMS];
	const char *values[HTTP_MAX_PARAMS];
	size_t nparams;
	/* The methods the path allows, "GET, HEAD, POST"; "" if none. */
	const char *allow;
};

/*
 * http__route_match() matches method and path (decoded, without the query)
 * against routes (terminated by a NULL method). A pattern segment "{name}"
 * matches one non-empty path segment; other segments match exactly, so
 * "/a/" does not match "/a". When several routes match, the one with the
 * fewest parameters wins, then the earliest in the table. HEAD is served by
 * a GET route when no HEAD route matches. Names, values and allow are
 * copied into arena a. Returns the kind of match; m is filled in for all
 * three (route NULL unless HTTP_MATCH_FOUND).
 */
enum http_match_kind http__route_match(const struct http_route *routes,
				       const char *method, const char *path,
				       struct arena *a, struct http_match *m);

/*
 * http__is_api_path() says whether path belongs to the API's name space
 * ("/api", "/api/...", "/healthz", "/healthz/..."), where an unknown path is
 * a JSON 404 rather than a static file.
 */
bool http__is_api_path(const char *path);

/* --- static.c ------------------------------------------------------------ */

/*
 * http__static_path_safe() says whether a decoded request path may be
 * looked up under the static directory: it starts with '/', is shorter than
 * 1024 bytes, has no "..", backslash, ':' or control character, and each
 * segment is non-empty, does not start with '.', does not end with '.' or a
 * space, and is not a Windows device name (CON, NUL, COM1, ...). "/" itself
 * is not safe (the caller maps it to "/index.html" first).
 */
bool http__static_path_safe(const char *path);

/* The Content-Type for a file name, from its extension. */
const char *http__content_type(const char *name);

/*
 * http__serve_static() replies to a GET or HEAD for a non-API path from
 * static_dir (which may be NULL or missing), with the single-page-app
 * fallback to index.html and the built-in placeholder page for "/".
 */
int http__serve_static(struct http_request *req, const char *static_dir);

/* --- response.c ---------------------------------------------------------- */

/* The Content-Security-Policy every reply carries. */
#define HTTP_CSP                                                        \
	"default-src 'self'; frame-ancestors 'none'; base-uri 'none'; " \
	"object-src 'none'; form-action 'self'"

/*
 * http__set_response() installs resp (ownership passes to the request) as
 * the reply with status. A second reply is a bug in the handler: it is
 * logged, resp is destroyed and TW_EINTERNAL returned.
 */
int http__set_response(struct http_request *req, int status,
		       struct MHD_Response *resp);

/*
 * http__finish_response() adds the security headers, the headers queued
 * with http_add_header() and the defaults (Cache-Control: no-store unless
 * set, WWW-Authenticate on 401, Retry-After on 429) to the reply. Called by
 * server.c just before queueing.
 */
void http__finish_response(struct http_request *req);

/*
 * http__reply_error_body() replies {"error":{"code","message"[,"details"]}}
 * with status; details (stolen, may be NULL) is for structured extras such
 * as the offending field. Returns what http_reply_json() returns.
 */
int http__reply_error_body(struct http_request *req, int status,
			   const char *code, const char *message,
			   json_t *details);

/* --- request.c ----------------------------------------------------------- */

/*
 * http__content_type_is_json() accepts "application/json", optionally
 * followed by parameters, of which charset must be utf-8 if present.
 */
bool http__content_type_is_json(const char *value);

/*
 * A scan of a query string against an allow list, one name at a time:
 * http__query_scan_init() starts it (an allow list of more than
 * HTTP_QUERY_MAX_NAMES names is a bug), http__query_scan_add() takes one
 * name and its value (NULL for "?name" without "="). Afterwards unknown is
 * the first name not allowed, repeated the first allowed name seen twice,
 * empty the first allowed name without a value; each NULL when none.
 * http_query_check_names() replies from these.
 */
struct http_query_scan {
	const char *const *allowed;
	uint32_t seen; /* bit i: allowed[i] was given */
	const char *unknown;
	const char *repeated;
	const char *empty;
};

void http__query_scan_init(struct http_query_scan *qs,
			   const char *const *allowed);
void http__query_scan_add(struct http_query_scan *qs, const char *name,
			  const char *value);

/*
 * http__route_check_query() checks the request's query string against
 * route->query (struct http_route says how) with
 * http_query_check_names(): 0, or the error after replying 422. server.c
 * calls it once per request, after the auth hook, before the handler.
 */
int http__route_check_query(struct http_request *req,
			    const struct http_route *route);

/* --- errmap.c ------------------------------------------------------------ */

/*
 * http__hides_detail() says whether the message of an error with code rc
 * is replaced by a generic one before it reaches the client (every 5xx:
 * their details name hosts, files and SQL, and go to the log instead).
 */
bool http__hides_detail(int rc);

/*
 * http__client_message() is the message a client sees for rc: detail
 * itself, or the generic text of a hidden (5xx) code.
 */
const char *http__client_message(int rc, const char *detail);

/*
 * http__errmap_has() says whether rc has a row of its own in the table
 * rather than the 500 internal that an unknown code falls back to.
 */
bool http__errmap_has(int rc);

#endif
