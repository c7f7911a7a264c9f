#include "core/compat.h"

#include <pthread.h>
#include <stdatomic.h>

#include <microhttpd.h>
/*
 * Socket address helpers: microhttpd.h brings in <ws2tcpip.h> for Winsock
 * and only <sys/socket.h> for POSIX sockets. MHD_POSIX_SOCKETS is the
 * library's own feature macro, not a platform test.
 */
#ifdef MHD_POSIX_SOCKETS
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#endif

#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/str.h"
#include "http/http.h"
#include "http/http_int.h"
#include "log/log.h"
#include "platform/plat.h"

/*
 * The server: one libmicrohttpd daemon with an internal thread pool, one
 * arena per request, a counter of requests in flight for the graceful stop,
 * and a watchdog thread that closes connections whose request head or body
 * is late. docs/internals/http.md describes the request lifecycle.
 */

/* How much of an oversized body is read (and dropped) to answer 413. */
#define HTTP_DISCARD_MAX ((uint64_t)64 * 1024 * 1024)
#define STOP_GRACE_MS 5000
/* How much of a request path goes into the access log. */
#define LOG_PATH_MAX 200
/* How often the watchdog looks for connections past their deadline. */
#define WATCHDOG_TICK_MS 100
/* A noisy libmicrohttpd message is logged at most once in this long. */
#define NOISY_LOG_MS 10000

/*
 * One per TCP connection, from its start to its close
 * (MHD_OPTION_NOTIFY_CONNECTION), on the server's list for the watchdog.
 * deadline_ms is when the part of the request now expected, the head or the
 * body, must be complete; 0 while a reply is sent, which has no deadline
 * (event streams last as long as they need; the idle timeout applies).
 */
struct http_conn {
	struct http_conn *prev, *next; /* under the server's conns_mu */
	MHD_socket fd;
	char addr[64]; /* the client's address, for the log */
	_Atomic(int64_t) deadline_ms;
	atomic_bool in_head; /* the deadline is the head's, not the body's */
	atomic_bool expired; /* the watchdog shut the socket down */
};

struct http_server {
	struct MHD_Daemon *daemon;
	int port;
	char *static_dir; /* NULL: no static files */
	const struct http_route *routes;
	void *app;
	int (*auth_hook)(struct http_request *req,
			 const struct http_route *route);
	atomic_int inflight; /* requests between creation and completion */
	atomic_bool stopping;
	atomic_int sse_suspended; /* event streams suspended (sse.c) */
	int64_t head_timeout_ms;
	int64_t body_timeout_ms;
	pthread_mutex_t conns_mu;
	struct http_conn *conns; /* open connections, under conns_mu */
	pthread_t watchdog;
	bool watchdog_started;
	atomic_bool watchdog_stop;
};

/*
 * While http_server_start() runs, libmicrohttpd's messages in the starting
 * thread are collected here instead of logged, one per line, so a bind
 * failure can be reported with the OS's reason even where errno does not
 * carry it (Winsock), and without a second copy in the log.
 */
static _Thread_local struct buf *start_log;

/*
 * libmicrohttpd messages that come once per refused or dropped connection:
 * a client that opens hundreds of connections would otherwise write as many
 * warnings. Each is logged at most once per NOISY_LOG_MS, with the count of
 * those left out since.
 */
static struct noisy_msg {
	const char *prefix;
	_Atomic(int64_t) next_ms;
	atomic_int dropped;
} noisy_msgs[] = {
	{ .prefix = "Server reached connection limit" },
	{ .prefix = "Connection was closed by remote side" },
	{ .prefix = "Connection socket is closed when reading request" },
};

/* Whether line is a noisy message to leave out this time. */
static bool noisy_skip(const char *line, int *dropped)
{
	size_t i;
	int64_t now, next;

	*dropped = 0;
	for (i = 0; i < TW_ARRAY_SIZE(noisy_msgs); i++) {
		struct noisy_msg *m = &noisy_msgs[i];

		if (strncmp(line, m->prefix, strlen(m->prefix)) != 0)
			continue;
		now = plat_monotonic_ms();
		next = atomic_load(&m->next_ms);
		if (now < next ||
		    !atomic_compare_exchange_strong(&m->next_ms, &next,
						    now + NOISY_LOG_MS)) {
			atomic_fetch_add(&m->dropped, 1);
			return true;
		}
		*dropped = atomic_exchange(&m->dropped, 0);
		break;
	}
	return false;
}

/* libmicrohttpd's error log (MHD_OPTION_EXTERNAL_LOGGER). */
static void on_mhd_log(void *cls, const char *fmt, va_list ap) TW_PRINTF(2, 0);

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];
	size_t len;
	int dropped;

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	len = strlen(line);
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		line[--len] = '\0';
	if (start_log)
		buf_addf(start_log, "%s\n", line);
	else if (noisy_skip(line, &dropped))
		return;
	else if (dropped)
		log_warn(LOG_APP, "http: %s (and %d more like it)", line,
			 dropped);
	else
		log_warn(LOG_APP, "http: %s", line);
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c - 'a' + 10;
}

/*
 * Percent-decodes a path or query component in place
 * (MHD_OPTION_UNESCAPE_CALLBACK). It differs from libmicrohttpd's own in one
 * way: %00 becomes 0x7F instead of a NUL that would silently cut the string
 * short ("/index.html%00.txt" read as "/index.html"); 0x7F is a control
 * character, which the dispatcher rejects in paths.
 */
static size_t on_unescape(void *cls, struct MHD_Connection *conn, char *s)
{
	char *r = s, *w = s;

	(void)cls;
	(void)conn;
	while (*r) {
		if (r[0] == '%' && isxdigit((unsigned char)r[1]) &&
		    isxdigit((unsigned char)r[2])) {
			int v = hexval((unsigned char)r[1]) * 16 +
				hexval((unsigned char)r[2]);

			*w++ = v ? (char)v : (char)0x7F;
			r += 3;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
	return (size_t)(w - s);
}

/* Formats the client's address ("127.0.0.1", "::1") into text. */
static void format_addr(struct MHD_Connection *conn, char *text, size_t size)
{
	const union MHD_ConnectionInfo *ci;

	snprintf(text, size, "unknown");
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci && ci->client_addr) {
		struct sockaddr *sa = ci->client_addr;

		if (sa->sa_family == AF_INET)
			inet_ntop(AF_INET,
				  &((struct sockaddr_in *)sa)->sin_addr, text,
				  size);
		else if (sa->sa_family == AF_INET6)
			inet_ntop(AF_INET6,
				  &((struct sockaddr_in6 *)sa)->sin6_addr, text,
				  size);
	}
}

/* The client's address in the arena. */
static const char *client_addr(struct arena *a, struct MHD_Connection *conn)
{
	char text[64];

	format_addr(conn, text, sizeof(text));
	return arena_strdup(a, text);
}

/* --- deadlines ------------------------------------------------------------ */

/* The next thing the connection owes is a complete request head. */
static void conn_expect_head(const struct http_server *srv,
			     struct http_conn *hc)
{
	if (!hc)
		return;
	atomic_store(&hc->in_head, true);
	atomic_store(&hc->deadline_ms,
		     plat_monotonic_ms() + srv->head_timeout_ms);
}

/* The head is complete; the body (if any) is owed next. */
static void conn_expect_body(const struct http_server *srv,
			     struct http_conn *hc)
{
	if (!hc)
		return;
	atomic_store(&hc->in_head, false);
	atomic_store(&hc->deadline_ms,
		     plat_monotonic_ms() + srv->body_timeout_ms);
}

/* A reply is queued: no deadline until it has been sent. */
static void conn_replying(struct http_conn *hc)
{
	if (hc)
		atomic_store(&hc->deadline_ms, 0);
}

/* The connection's record, set when libmicrohttpd accepted it. */
static struct http_conn *conn_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci;

	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci ? ci->socket_context : NULL;
}

/*
 * Shuts a connection's socket down in both directions: libmicrohttpd's next
 * read sees the end of the stream and it closes the connection itself.
 */
static void shutdown_socket(MHD_socket fd)
{
	if (fd == MHD_INVALID_SOCKET)
		return;
#ifdef MHD_WINSOCK_SOCKETS
	shutdown(fd, SD_BOTH);
#else
	shutdown(fd, SHUT_RDWR);
#endif
}

/*
 * MHD_OPTION_NOTIFY_CONNECTION: a connection's record goes on the list when
 * libmicrohttpd accepts it, and off it before libmicrohttpd closes its
 * socket, so the watchdog never shuts down a descriptor that was reused.
 */
static void on_connection(void *cls, struct MHD_Connection *conn,
			  void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct http_server *srv = cls;
	struct http_conn *hc = *socket_context;
	const union MHD_ConnectionInfo *ci;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		hc = xcalloc(1, sizeof(*hc));
		ci = MHD_get_connection_info(conn,
					     MHD_CONNECTION_INFO_CONNECTION_FD);
		hc->fd = ci ? ci->connect_fd : MHD_INVALID_SOCKET;
		format_addr(conn, hc->addr, sizeof(hc->addr));
		atomic_init(&hc->expired, false);
		conn_expect_head(srv, hc);
		pthread_mutex_lock(&srv->conns_mu);
		hc->next = srv->conns;
		if (srv->conns)
			srv->conns->prev = hc;
		srv->conns = hc;
		pthread_mutex_unlock(&srv->conns_mu);
		*socket_context = hc;
		return;
	}
	if (!hc)
		return;
	pthread_mutex_lock(&srv->conns_mu);
	if (hc->prev)
		hc->prev->next = hc->next;
	else
		srv->conns = hc->next;
	if (hc->next)
		hc->next->prev = hc->prev;
	pthread_mutex_unlock(&srv->conns_mu);
	free(hc);
	*socket_context = NULL;
}

/* Late heads counted by the watchdog since it last logged them. */
struct late_heads {
	int count;
	char last[64]; /* the address of the latest */
	int64_t next_log_ms;
};

/*
 * One look at every connection: those past their deadline are shut down.
 * A late body shows in the request's access line. Late heads, which have
 * no request yet, are counted into late and logged in one warning at most
 * every NOISY_LOG_MS, so that an attack does not flood the log.
 */
static void watchdog_pass(struct http_server *srv, struct late_heads *late)
{
	int64_t now = plat_monotonic_ms();
	struct http_conn *hc;

	pthread_mutex_lock(&srv->conns_mu);
	for (hc = srv->conns; hc; hc = hc->next) {
		int64_t deadline = atomic_load(&hc->deadline_ms);

		if (!deadline || now < deadline || atomic_load(&hc->expired))
			continue;
		atomic_store(&hc->expired, true);
		shutdown_socket(hc->fd);
		if (atomic_load(&hc->in_head)) {
			late->count++;
			snprintf(late->last, sizeof(late->last), "%s",
				 hc->addr);
		}
	}
	pthread_mutex_unlock(&srv->conns_mu);
	if (!late->count || now < late->next_log_ms)
		return;
	log_warn(LOG_APP,
		 "http: closed %d connection%s that did not send a complete "
		 "request head within %d s (the last from %s)",
		 late->count, late->count == 1 ? "" : "s",
		 (int)(srv->head_timeout_ms / 1000), late->last);
	late->count = 0;
	late->next_log_ms = now + NOISY_LOG_MS;
}

static void *watchdog_main(void *arg)
{
	struct http_server *srv = arg;
	struct late_heads late;

	memset(&late, 0, sizeof(late));
	while (!atomic_load(&srv->watchdog_stop)) {
		plat_sleep_ms(WATCHDOG_TICK_MS);
		watchdog_pass(srv, &late);
	}
	return NULL;
}

/*
 * The path as it may appear in a log line: control characters and
 * backslashes escaped (no forged lines), cut at LOG_PATH_MAX bytes.
 */
static const char *loggable_path(struct arena *a, const char *path)
{
	struct buf out = BUF_INIT(LOG_PATH_MAX * 4 + 8);
	const char *p;
	const char *res;

	for (p = path; *p && out.len < LOG_PATH_MAX; p++) {
		unsigned char c = (unsigned char)*p;

		if (c < 0x20 || c == 0x7F || c == '\\')
			buf_addf(&out, "\\x%02x", c);
		else
			buf_addch(&out, c);
	}
	if (*p)
		buf_adds(&out, "...");
	res = arena_strdup(a, out.ptr);
	buf_release(&out);
	return res;
}

static void upload_release(void *ptr)
{
	buf_release(ptr);
}

/* The first access-handler call of a request: its arena and state. */
static struct http_request *request_new(struct http_server *srv,
					struct MHD_Connection *conn,
					const char *method, const char *url)
{
	struct arena *a = arena_new();
	struct http_request *req = arena_alloc(a, sizeof(*req));
	struct http_request_int *priv = arena_alloc(a, sizeof(*priv));

	req->arena = a;
	req->app = srv->app;
	req->method = arena_strdup(a, method);
	req->path = arena_strdup(a, url);
	req->body = "";
	req->client_addr = client_addr(a, conn);
	req->priv = priv;
	priv->conn = conn;
	priv->srv = srv;
	priv->hc = conn_of(conn);
	priv->start_ms = plat_monotonic_ms();
	buf_init(&priv->upload, HTTP_MAX_BODY);
	arena_on_free(a, upload_release, &priv->upload);
	atomic_fetch_add(&srv->inflight, 1);
	return req;
}

/*
 * Queues the reply the handler set, with the headers every reply carries. A
 * handler that returned without replying is a bug: the client gets 500.
 */
static enum MHD_Result queue_reply(struct http_request *req)
{
	struct http_request_int *priv = req->priv;
	enum MHD_Result ret = MHD_NO;

	priv->dispatched = true;
	conn_replying(priv->hc);
	if (!priv->response && !priv->status)
		http_reply_error(req, TW_EINTERNAL,
				 "the handler did not reply");
	if (!priv->response)
		goto out;
	http__finish_response(req);
	/*
	 * While stopping, keep-alive connections are closed after a reply;
	 * libmicrohttpd closes the connection when the reply says so.
	 */
	if (priv->close || atomic_load(&priv->srv->stopping))
		MHD_add_response_header(priv->response,
					MHD_HTTP_HEADER_CONNECTION, "close");
	ret = MHD_queue_response(priv->conn, (unsigned int)priv->status,
				 priv->response);
	MHD_destroy_response(priv->response);
	priv->response = NULL;
out:
	return ret;
}

/* Whether the path is acceptable at all: absolute, no control characters. */
static bool path_acceptable(const char *path)
{
	const char *p;

	if (path[0] != '/')
		return false;
	for (p = path; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c < 0x20 || c == 0x7F)
			return false;
	}
	return true;
}

/*
 * Runs the auth hook and, when it lets the request through, checks the
 * query string against the route's allow list, then runs the route's
 * handler. Every path ends with a reply set (or logged as a bug).
 */
static void run_route(struct http_request *req, const struct http_match *m)
{
	struct http_server *srv = req->priv->srv;
	const struct http_route *route = m->route;
	size_t i;
	int rc;

	for (i = 0; i < m->nparams; i++) {
		req->param_names[i] = m->names[i];
		req->param_values[i] = m->values[i];
	}
	req->nparams = m->nparams;
	if (route->auth && !srv->auth_hook) {
		http_reply_error(req, TW_EUNAUTH, "authentication required");
		goto out;
	}
	if (route->auth) {
		rc = srv->auth_hook(req, route);
		if (rc < 0 && !req->priv->status)
			http_reply_error(req, rc, "authentication failed");
		if (rc < 0)
			goto out;
	}
	rc = http__route_check_query(req, route);
	if (rc < 0)
		goto out;
	rc = route->handler(req);
	if (!req->priv->status)
		log_warn(LOG_APP,
			 "BUG: handler for %s %s returned %d (%s) "
			 "without replying",
			 route->method, route->pattern, rc, err_name(rc));
out:
	return;
}

/* The final access-handler call: route and reply. */
static enum MHD_Result dispatch(struct http_request *req)
{
	struct http_request_int *priv = req->priv;
	struct http_server *srv = priv->srv;
	struct http_match m;

	/* The body is complete: no deadline while the handler runs. */
	conn_replying(priv->hc);
	req->body = priv->upload.ptr;
	req->body_len = priv->upload.len;
	if (priv->too_big) {
		http_reply_error(req, TW_ETOOBIG,
				 "request body exceeds %zu bytes",
				 HTTP_MAX_BODY);
		goto out;
	}
	if (!path_acceptable(req->path)) {
		http_reply_error(req, TW_EINVAL, "malformed request path");
		goto out;
	}
	switch (http__route_match(srv->routes, req->method, req->path,
				  req->arena, &m)) {
	case HTTP_MATCH_FOUND:
		run_route(req, &m);
		break;
	case HTTP_MATCH_WRONG_METHOD:
		http_add_header(req, "Allow", m.allow);
		http_reply_error_code(req, 405, "method_not_allowed",
				      "method not allowed for this path");
		break;
	case HTTP_MATCH_NONE:
		if (http__is_api_path(req->path))
			http_reply_error(req, TW_ENOTFOUND, "no such route");
		else if (strcmp(req->method, "GET") == 0 ||
			 strcmp(req->method, "HEAD") == 0)
			http__serve_static(req, srv->static_dir);
		else
			http_reply_error(req, TW_ENOTFOUND, "no such resource");
		break;
	}
out:
	return queue_reply(req);
}

/*
 * What the request's head says about its body's framing, from every
 * instance of every header (MHD_get_connection_values() sees duplicates,
 * while a lookup sees only the first).
 */
struct framing_scan {
	int n_length;	 /* Content-Length headers */
	int n_coding;	 /* Transfer-Encoding headers */
	bool bad_length; /* a Content-Length that is not all digits */
	bool bad_coding; /* a Transfer-Encoding other than "chunked" */
	bool bad_name;	 /* a header name that is not an RFC 9110 token */
};

/* Whether name is a token: "!#$%&'*+-.^_`|~", digits and letters. */
static bool is_token(const char *name)
{
	const char *p;

	if (!*name)
		return false;
	for (p = name; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (!isalnum(c) && !strchr("!#$%&'*+-.^_`|~", c))
			return false;
	}
	return true;
}

/* Whether s starts with prefix, ignoring ASCII case. */
static bool starts_nocase(const char *s, const char *prefix)
{
	for (; *prefix; s++, prefix++) {
		if (tolower((unsigned char)*s) !=
		    tolower((unsigned char)*prefix))
			return false;
	}
	return true;
}

/*
 * Whether name looks like a framing header with something glued on.
 * libmicrohttpd 0.9.75 glues an obsolete folded line onto the header name:
 * "Content-Length: 0\r\n 40" arrives as a header "Content-Length40".
 */
static bool is_framing_lookalike(const char *name)
{
	return (starts_nocase(name, "content-length") &&
		!str_eq_nocase(name, "content-length")) ||
	       (starts_nocase(name, "transfer-encoding") &&
		!str_eq_nocase(name, "transfer-encoding"));
}

static enum MHD_Result framing_scan_one(void *cls, enum MHD_ValueKind kind,
					const char *key, const char *value)
{
	struct framing_scan *fs = cls;
	const char *p;

	(void)kind;
	if (!value)
		value = "";
	/*
	 * A name with a space or a colon, or a folded line glued on, is
	 * refused: another parser could read it as a framing header.
	 */
	if (!is_token(key) || is_framing_lookalike(key)) {
		fs->bad_name = true;
	} else if (str_eq_nocase(key, "content-length")) {
		fs->n_length++;
		for (p = value; *p >= '0' && *p <= '9'; p++)
			;
		if (p == value || *p)
			fs->bad_length = true;
	} else if (str_eq_nocase(key, "transfer-encoding")) {
		fs->n_coding++;
		if (!str_eq_nocase(value, "chunked"))
			fs->bad_coding = true;
	}
	return MHD_YES;
}

/*
 * Why the request's framing is ambiguous, or NULL when it is not. A
 * request that two parsers could split differently (duplicate or
 * conflicting lengths, a length together with chunked coding, an unknown
 * coding) is what request smuggling needs: the part one reads as a body,
 * the other reads as a second request.
 */
static const char *framing_problem(struct MHD_Connection *conn,
				   const char *version)
{
	struct framing_scan fs;

	memset(&fs, 0, sizeof(fs));
	MHD_get_connection_values(conn, MHD_HEADER_KIND, framing_scan_one, &fs);
	if (fs.bad_name)
		return "malformed header name (folded header lines are not "
		       "accepted)";
	if (fs.n_length > 1)
		return "more than one Content-Length header";
	if (fs.bad_length)
		return "malformed Content-Length header";
	if (fs.n_coding > 1)
		return "more than one Transfer-Encoding header";
	if (fs.n_coding && fs.n_length)
		return "Content-Length and Transfer-Encoding together";
	if (fs.bad_coding)
		return "unsupported Transfer-Encoding (only chunked is "
		       "accepted)";
	if (fs.n_coding && strcmp(version, MHD_HTTP_VERSION_1_1) != 0)
		return "Transfer-Encoding in an HTTP/1.0 request";
	return NULL;
}

/* The declared Content-Length (0 if none), saturated at UINT64_MAX. */
static uint64_t declared_length(struct MHD_Connection *conn)
{
	const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						     "Content-Length");
	uint64_t v = 0;

	if (!cl)
		return 0;
	for (; *cl >= '0' && *cl <= '9'; cl++) {
		if (v > (UINT64_MAX - 9) / 10)
			return UINT64_MAX;
		v = v * 10 + (uint64_t)(*cl - '0');
	}
	return v;
}

/* Whether the client waits for "100 Continue" before sending the body. */
static bool expects_continue(struct MHD_Connection *conn)
{
	const char *e =
		MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Expect");

	return e && str_eq_nocase(e, "100-continue");
}

/*
 * The first access-handler call, with the complete head. A request with
 * ambiguous framing is answered 400 at once, before any handler, and its
 * connection closed, so that nothing after its head is read as another
 * request. A declared body over the cap is read and dropped up to
 * HTTP_DISCARD_MAX before the 413 goes out (a client that sends its whole
 * body before reading would otherwise find the connection reset and never
 * see the 413), unless it is longer still or the client waits for
 * "100 Continue": then the 413 goes out at once, instead of the 100.
 */
static enum MHD_Result on_head(struct http_request *req, const char *version)
{
	struct http_request_int *priv = req->priv;
	const char *problem = framing_problem(priv->conn, version);
	uint64_t declared;

	if (problem) {
		http_reply_error(req, TW_EINVAL, "%s", problem);
		priv->close = true;
		return queue_reply(req);
	}
	declared = declared_length(priv->conn);
	if (declared <= HTTP_MAX_BODY)
		return MHD_YES;
	priv->too_big = true;
	if (declared <= HTTP_DISCARD_MAX && !expects_continue(priv->conn))
		return MHD_YES;
	priv->close = true;
	return dispatch(req);
}

/*
 * Takes one chunk of the body. Past HTTP_MAX_BODY the body is dropped and
 * the rest discarded: libmicrohttpd cannot answer in the middle of an
 * upload, so the 413 waits for the end of the body, and a (chunked) body
 * that goes on past HTTP_DISCARD_MAX is cut off by closing the connection.
 */
static enum MHD_Result take_chunk(struct http_request_int *priv,
				  const char *data, size_t n)
{
	enum MHD_Result ret = MHD_YES;

	if (priv->dispatched)
		goto out;
	if (!priv->too_big && buf_add(&priv->upload, data, n) < 0) {
		priv->too_big = true;
		buf_release(&priv->upload);
	}
	if (priv->too_big) {
		priv->discarded += n;
		if (priv->discarded > HTTP_DISCARD_MAX)
			ret = MHD_NO;
	}
out:
	return ret;
}

/*
 * libmicrohttpd's access handler, called for a request once with its
 * headers, once per body chunk, and once more at the end of the body.
 */
static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn,
				 const char *url, const char *method,
				 const char *version, const char *upload_data,
				 size_t *upload_data_size, void **con_cls)
{
	struct http_request *req = *con_cls;
	enum MHD_Result ret = MHD_YES;

	if (!req) {
		req = request_new(cls, conn, method, url);
		*con_cls = req;
		conn_expect_body(req->priv->srv, req->priv->hc);
		ret = on_head(req, version);
	} else if (*upload_data_size) {
		ret = take_chunk(req->priv, upload_data, *upload_data_size);
		*upload_data_size = 0;
	} else if (!req->priv->dispatched) {
		ret = dispatch(req);
	}
	return ret;
}

static const char *termination_reason(enum MHD_RequestTerminationCode toe)
{
	switch (toe) {
	case MHD_REQUEST_TERMINATED_COMPLETED_OK:
		return NULL;
	case MHD_REQUEST_TERMINATED_TIMEOUT_REACHED:
		return "timed out";
	case MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN:
		return "server shutdown";
	case MHD_REQUEST_TERMINATED_CLIENT_ABORT:
	case MHD_REQUEST_TERMINATED_READ_ERROR:
		return "client closed the connection";
	default:
		return "connection error";
	}
}

/*
 * The request-completed callback: the access log line, then the arena and
 * everything registered on it.
 */
static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct http_server *srv = cls;
	struct http_request *req = *con_cls;
	struct http_request_int *priv;
	const char *why;

	(void)conn;
	if (!req)
		return;
	priv = req->priv;
	why = termination_reason(toe);
	if (why && priv->hc && atomic_load(&priv->hc->expired))
		why = "request body not complete in time";
	/* Never the query string (tokens), the body or the headers. */
	log_info(LOG_APP, "%s %s %d %" PRId64 " ms %s%s%s", req->method,
		 loggable_path(req->arena, req->path), priv->status,
		 plat_monotonic_ms() - priv->start_ms, req->client_addr,
		 why ? " - " : "", why ? why : "");
	if (priv->response)
		MHD_destroy_response(priv->response);
	/* A kept-alive connection owes the next request's head. */
	conn_expect_head(srv, priv->hc);
	arena_free(req->arena);
	*con_cls = NULL;
	atomic_fetch_sub(&srv->inflight, 1);
}

union sockaddr_any {
	struct sockaddr sa;
	struct sockaddr_in in4;
	struct sockaddr_in6 in6;
};

/*
 * Parses a numeric host ("127.0.0.1", "::1", "[::1]"; "localhost" is taken
 * as 127.0.0.1) and port into addr. TW_ECONFIG for anything else: no name
 * lookups, the bind address is a local setting.
 */
static int parse_bind_addr(const char *host, int port, union sockaddr_any *addr,
			   bool *ipv6, struct buf *err)
{
	const char *given = host;
	char h[64];
	size_t len;
	int rc = 0;

	memset(addr, 0, sizeof(*addr));
	*ipv6 = false;
	if (strcmp(host, "localhost") == 0)
		host = "127.0.0.1";
	len = strlen(host);
	if (host[0] == '[' && len >= 2 && host[len - 1] == ']') {
		host++;
		len -= 2;
	}
	if (len >= sizeof(h)) {
		rc = TW_ECONFIG;
		goto fail;
	}
	memcpy(h, host, len);
	h[len] = '\0';
	if (strchr(h, ':')) {
		*ipv6 = true;
		addr->in6.sin6_family = AF_INET6;
		addr->in6.sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, h, &addr->in6.sin6_addr) != 1)
			rc = TW_ECONFIG;
	} else {
		addr->in4.sin_family = AF_INET;
		addr->in4.sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, h, &addr->in4.sin_addr) != 1)
			rc = TW_ECONFIG;
	}
fail:
	if (rc < 0)
		buf_addf(err,
			 "could not listen on \"%s\": not a numeric IPv4 or "
			 "IPv6 address",
			 given);
	return rc;
}

/*
 * The OS's reason for a failed start, into out: from libmicrohttpd's
 * message ("Failed to bind to port 8080: Address already in use"), else
 * errno, else libmicrohttpd's last message.
 */
static void start_failure_reason(const struct buf *mhd_msgs, int saved_errno,
				 struct buf *out)
{
	const char *line = strstr(mhd_msgs->ptr, "Failed to bind");
	const char *end, *p, *reason = NULL;

	if (line) {
		end = strchr(line, '\n');
		if (!end)
			end = line + strlen(line);
		for (p = line; p + 1 < end; p++) {
			if (p[0] == ':' && p[1] == ' ')
				reason = p + 2;
		}
		if (reason && reason < end) {
			buf_add(out, reason, (size_t)(end - reason));
			return;
		}
	}
	if (saved_errno) {
		buf_adds(out, plat_strerror(saved_errno));
		return;
	}
	if (mhd_msgs->len) {
		buf_add(out, mhd_msgs->ptr, mhd_msgs->len);
		buf_trim(out);
		return;
	}
	buf_adds(out, "unknown error");
}

/* The bind address as people write it: "127.0.0.1:8080", "[::1]:8080". */
static void add_bind_text(struct buf *b, const char *host, int port)
{
	if (strchr(host, ':') && host[0] != '[')
		buf_addf(b, "[%s]:%d", host, port);
	else
		buf_addf(b, "%s:%d", host, port);
}

int http_server_start(struct http_server **out,
		      const struct http_server_opts *opts, struct buf *err)
{
	struct http_server *srv = NULL;
	struct buf mhd_msgs = BUF_INIT(8192);
	struct buf reason = BUF_INIT(1024);
	const char *host = opts->host && *opts->host ? opts->host : "127.0.0.1";
	union sockaddr_any addr;
	unsigned int flags;
	unsigned int threads;
	const union MHD_DaemonInfo *info;
	unsigned int per_addr;
	bool ipv6;
	int saved_errno;
	int rc;

	*out = NULL;
	if (opts->port < 0 || opts->port > 65535) {
		rc = TW_ECONFIG;
		buf_addf(err, "could not listen on port %d: out of range",
			 opts->port);
		goto fail;
	}
	rc = parse_bind_addr(host, opts->port, &addr, &ipv6, err);
	if (rc < 0)
		goto fail;

	srv = xcalloc(1, sizeof(*srv));
	/* "" would join to "/etc/passwd": no folder, no static files. */
	if (opts->static_dir && *opts->static_dir)
		srv->static_dir = xstrdup(opts->static_dir);
	srv->routes = opts->routes;
	srv->app = opts->app;
	srv->auth_hook = opts->auth_hook;
	atomic_init(&srv->inflight, 0);
	atomic_init(&srv->stopping, false);
	atomic_init(&srv->sse_suspended, 0);
	atomic_init(&srv->watchdog_stop, false);
	pthread_mutex_init(&srv->conns_mu, NULL);
	srv->head_timeout_ms = opts->head_timeout_s > 0
				       ? opts->head_timeout_s
				       : HTTP_DEFAULT_HEAD_TIMEOUT_S;
	srv->head_timeout_ms *= 1000;
	srv->body_timeout_ms = opts->body_timeout_s > 0
				       ? opts->body_timeout_s
				       : HTTP_DEFAULT_BODY_TIMEOUT_S;
	srv->body_timeout_ms *= 1000;
	per_addr = opts->max_connections_per_addr > 0
			   ? (unsigned int)opts->max_connections_per_addr
			   : HTTP_DEFAULT_CONNECTIONS_PER_ADDR;
	if (per_addr > HTTP_MAX_CONNECTIONS)
		per_addr = HTTP_MAX_CONNECTIONS;

	/*
	 * MHD_USE_ITC makes MHD_quiesce_daemon() work with internal threads;
	 * MHD_USE_AUTO picks epoll, poll or select, whichever is best here.
	 * MHD_ALLOW_SUSPEND_RESUME is for server-sent events (sse.c): a
	 * stream with nothing to send is suspended instead of holding a pool
	 * thread.
	 */
	flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO |
		MHD_USE_ERROR_LOG | MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME;
	if (ipv6)
		flags |= MHD_USE_IPv6;
	/* A pool of one is no pool: libmicrohttpd warns about it. */
	threads = opts->threads > 1 ? (unsigned int)opts->threads : 0;

	start_log = &mhd_msgs;
	errno = 0;
	/*
	 * MHD_OPTION_CONNECTION_TIMEOUT is an idle timeout: a connection with
	 * no traffic for 60 s is closed. Server-sent events send a keepalive
	 * comment every 15 s of silence (sse.c), and end as soon as
	 * http_server_stop() sets stopping. A client that trickles bytes
	 * never idles: the head and body deadlines (the watchdog) end it.
	 * Connections above the per-address limit are closed as soon as they
	 * are accepted, so one address cannot take every connection.
	 */
	srv->daemon = MHD_start_daemon(
		flags, (uint16_t)opts->port, NULL, NULL, on_access, srv,
		MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, (void *)NULL,
		MHD_OPTION_SOCK_ADDR, &addr.sa, MHD_OPTION_THREAD_POOL_SIZE,
		threads, MHD_OPTION_CONNECTION_TIMEOUT, 60u,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)HTTP_MAX_CONNECTIONS,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_addr,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, (void *)srv,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, (void *)srv,
		MHD_OPTION_UNESCAPE_CALLBACK, on_unescape, (void *)NULL,
		MHD_OPTION_END);
	saved_errno = errno;
	start_log = NULL;
	if (!srv->daemon) {
		rc = TW_EIO;
		start_failure_reason(&mhd_msgs, saved_errno, &reason);
		buf_adds(err, "could not listen on ");
		add_bind_text(err, host, opts->port);
		buf_addf(err, ": %s", reason.ptr);
		goto fail;
	}
	if (mhd_msgs.len) {
		buf_trim(&mhd_msgs);
		log_warn(LOG_APP, "http: %s", mhd_msgs.ptr);
	}
	rc = pthread_create(&srv->watchdog, NULL, watchdog_main, srv);
	if (rc != 0) {
		buf_addf(err, "could not start the HTTP watchdog thread: %s",
			 plat_strerror(rc));
		rc = TW_EIO;
		MHD_stop_daemon(srv->daemon);
		goto fail;
	}
	srv->watchdog_started = true;
	info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = info ? info->port : opts->port;
	*out = srv;
	srv = NULL;
	rc = 0;
fail:
	if (srv) {
		pthread_mutex_destroy(&srv->conns_mu);
		free(srv->static_dir);
		free(srv);
	}
	buf_release(&reason);
	buf_release(&mhd_msgs);
	return rc;
}

int http_server_port(const struct http_server *srv)
{
	return srv->port;
}

/* Closes the listening socket handed back by MHD_quiesce_daemon(). */
static void close_listen_socket(MHD_socket fd)
{
	if (fd == MHD_INVALID_SOCKET)
		return;
#ifdef MHD_WINSOCK_SOCKETS
	closesocket(fd);
#else
	close(fd);
#endif
}

void http_server_stop(struct http_server *srv)
{
	MHD_socket listen_fd;
	int64_t deadline;
	int left;

	if (!srv)
		return;
	atomic_store(&srv->stopping, true);
	/* No new connections; those open may finish what they started. */
	listen_fd = MHD_quiesce_daemon(srv->daemon);
	deadline = plat_monotonic_ms() + STOP_GRACE_MS;
	while (atomic_load(&srv->inflight) > 0 &&
	       plat_monotonic_ms() < deadline)
		plat_sleep_ms(10);
	left = atomic_load(&srv->inflight);
	if (left > 0)
		log_warn(LOG_APP,
			 "stopping the HTTP server with %d request%s still "
			 "in flight",
			 left, left == 1 ? "" : "s");
	/*
	 * libmicrohttpd 0.9.75 panics when stopped with a suspended
	 * connection. Every event stream's producer sees stopping within
	 * 100 ms and resumes its connection for good (sse.c), so this wait is
	 * short; it only matters when the grace period above ran out.
	 */
	deadline = plat_monotonic_ms() + STOP_GRACE_MS;
	while (atomic_load(&srv->sse_suspended) > 0 &&
	       plat_monotonic_ms() < deadline)
		plat_sleep_ms(10);
	if (atomic_load(&srv->sse_suspended) > 0)
		log_error(LOG_APP,
			  "BUG: stopping the HTTP server with %d "
			  "event stream%s suspended",
			  atomic_load(&srv->sse_suspended),
			  atomic_load(&srv->sse_suspended) == 1 ? "" : "s");
	MHD_stop_daemon(srv->daemon);
	/* Only after MHD_stop_daemon(): a pool thread may still use it. */
	close_listen_socket(listen_fd);
	/* MHD_stop_daemon() closed every connection: the list is empty. */
	atomic_store(&srv->watchdog_stop, true);
	if (srv->watchdog_started)
		pthread_join(srv->watchdog, NULL);
	pthread_mutex_destroy(&srv->conns_mu);
	free(srv->static_dir);
	free(srv);
}

bool http__server_stopping(const struct http_server *srv)
{
	return atomic_load(&srv->stopping);
}

void http__sse_suspended_add(struct http_server *srv, int delta)
{
	atomic_fetch_add(&srv->sse_suspended, delta);
}
