#include "core/compat.h"

#include <pthread.h>
#include <time.h>

#include <microhttpd.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/mem.h"
#include "http/http.h"
#include "http/http_int.h"
#include "log/log.h"
#include "platform/plat.h"

/*
 * sse.c - server-sent events on libmicrohttpd's thread pool, with
 * suspend/resume so that no pool thread ever waits for an event source.
 * docs/internals/http.md ("Server-sent events") has the picture.
 *
 * Each stream has a producer thread of its own and a pending buffer shared
 * with libmicrohttpd's content reader, both under the stream's mutex:
 *
 *	producer: calls fn, appends to pending, resumes the connection if the
 *	          reader suspended it;
 *	reader:   copies pending bytes out; with none pending suspends the
 *	          connection and returns 0; when finished and drained ends the
 *	          stream;
 *	free:     (the response's free callback, when libmicrohttpd is done
 *	          with the connection) sets closed, joins the producer, then
 *	          frees the context and the stream.
 *
 * A client that closes its end while its stream is suspended would go
 * unnoticed until the next write (an event, or the keepalive), since
 * libmicrohttpd does not watch a suspended connection; the producer looks
 * at the socket every SSE_PEER_CHECK_MS instead (peer_closed()) and ends
 * such a stream, so that what it holds (a per-user stream slot, say) is
 * given back within a second.
 *
 * The producer only resumes while closed is false, and closed is set under
 * the same mutex before anything is freed, so a resume never reaches a
 * connection that is gone. The reader never suspends once finished is set,
 * and the producer sets finished (and resumes) as soon as the server is
 * stopping, so http_server_stop() can wait for every stream to end before
 * MHD_stop_daemon(), which libmicrohttpd 0.9.75 refuses (it panics) while a
 * connection is suspended. The reader, too, ends the stream instead of
 * suspending once the server is stopping, in case the producer is still
 * inside fn.
 */

/* What the reader may hold back before fn is no longer called. */
#define SSE_PENDING_MAX ((size_t)1024 * 1024)
/* The pending buffer's cap: the limit above plus one call of fn. */
#define SSE_PENDING_CAP ((size_t)16 * 1024 * 1024)
/* One call of fn appends at most this much (its buffer's cap). */
#define SSE_CALL_CAP ((size_t)8 * 1024 * 1024)
#define SSE_KEEPALIVE_MS 15000
/* The longest the producer sleeps before looking at the stop flag again. */
#define SSE_SLICE_MS 100
#define SSE_BLOCK_SIZE ((size_t)16 * 1024)
/* How often a suspended stream checks that its client is still there. */
#define SSE_PEER_CHECK_MS 500

static const char sse_start[] = "retry: 2000\n\n";
static const char sse_keepalive[] = ": keepalive\n\n";

struct sse_stream {
	pthread_mutex_t mu;
	pthread_cond_t cv; /* the producer waits here */
	struct http_server *srv;
	struct MHD_Connection *conn;
	int fd; /* the connection's socket; -1: unknown */
	http_sse_fn fn;
	void *ctx;
	void (*free_ctx)(void *ctx);
	int interval_ms;
	/* Under mu: */
	struct buf pending; /* bytes the reader has not taken */
	size_t off;	    /* how far the reader has taken them */
	bool finished;	    /* nothing more will be appended */
	bool suspended;	    /* the reader suspended the connection */
	bool closed;	    /* libmicrohttpd is done with the response */
	/* Set once before the producer starts: */
	bool started;
	pthread_t thread;
};

static size_t pending_len(const struct sse_stream *s)
{
	return s->pending.len - s->off;
}

/*
 * wake_reader() resumes the connection when the reader suspended it and
 * libmicrohttpd still has it. Called with mu held.
 */
static void wake_reader(struct sse_stream *s)
{
	if (s->suspended && !s->closed) {
		s->suspended = false;
		http__sse_suspended_add(s->srv, -1);
		MHD_resume_connection(s->conn);
	}
}

/*
 * append() queues bytes for the reader, with mu held. A pending buffer past
 * its cap cannot happen while fn honours SSE_CALL_CAP; should it, the
 * stream ends rather than losing events silently in the middle.
 */
static void append(struct sse_stream *s, const char *data, size_t len)
{
	/*
	 * Drop what the reader has taken, so a reader that keeps up but never
	 * quite drains the buffer does not make it grow.
	 */
	if (s->off) {
		memmove(s->pending.ptr, s->pending.ptr + s->off,
			pending_len(s));
		buf_setlen(&s->pending, pending_len(s));
		s->off = 0;
	}
	if (buf_add(&s->pending, data, len) < 0) {
		log_warn(LOG_APP,
			 "event stream: %zu bytes waiting; ending the "
			 "stream",
			 pending_len(s));
		s->finished = true;
	}
}

/*
 * peer_closed() says whether the client has closed its end of a suspended
 * connection: its socket is readable and a peek finds the end of the
 * stream (or an error, a reset). Called with mu held and only while the
 * connection is suspended, when libmicrohttpd neither reads the socket nor
 * closes it. A peek takes nothing away: data the client sent (a pipelined
 * request) stays for libmicrohttpd, and counts as a client still there.
 */
static bool peer_closed(const struct sse_stream *s)
{
	char c;

	if (s->fd < 0 || !s->suspended || s->closed)
		return false;
	if (plat_socket_wait(s->fd, 0) != 1)
		return false;
	return recv(s->fd, &c, 1, MSG_PEEK) <= 0;
}

/* Waits on cv up to ms milliseconds (mu held). */
static void wait_ms(struct sse_stream *s, int64_t ms)
{
	struct timespec ts;

	if (ms <= 0)
		return;
	if (ms > SSE_SLICE_MS)
		ms = SSE_SLICE_MS;
	/*
	 * Real time, as pthread_cond_timedwait() wants; a clock step affects
	 * one slice at most, since every deadline is kept in monotonic time.
	 */
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&s->cv, &s->mu, &ts);
}

/*
 * The producer: fn at once and every interval_ms while no more than
 * SSE_PENDING_MAX waits unsent, a keepalive comment after SSE_KEEPALIVE_MS
 * of silence, until fn says HTTP_SSE_END, the response is closed or the
 * server stops. fn runs without the mutex.
 */
static void *producer_main(void *arg)
{
	struct sse_stream *s = arg;
	struct buf out = BUF_INIT(SSE_CALL_CAP);
	int64_t now = plat_monotonic_ms();
	int64_t next_call = now, last_out = now;
	int64_t next_peer_check = now + SSE_PEER_CHECK_MS;
	enum http_sse_next next;

	pthread_mutex_lock(&s->mu);
	while (!s->closed && !s->finished) {
		if (http__server_stopping(s->srv)) {
			s->finished = true;
			break;
		}
		now = plat_monotonic_ms();
		if (now >= next_peer_check) {
			next_peer_check = now + SSE_PEER_CHECK_MS;
			if (peer_closed(s)) {
				s->finished = true;
				break;
			}
		}
		if (now >= next_call && pending_len(s) <= SSE_PENDING_MAX) {
			pthread_mutex_unlock(&s->mu);
			buf_reset(&out);
			next = s->fn(s->ctx, &out);
			pthread_mutex_lock(&s->mu);
			now = plat_monotonic_ms();
			next_call = now + s->interval_ms;
			if (s->closed)
				break;
			if (out.len) {
				append(s, out.ptr, out.len);
				last_out = now;
			}
			if (next == HTTP_SSE_END)
				s->finished = true;
			if (out.len || s->finished)
				wake_reader(s);
			continue;
		}
		if (now - last_out >= SSE_KEEPALIVE_MS) {
			append(s, sse_keepalive, sizeof(sse_keepalive) - 1);
			last_out = now;
			wake_reader(s);
			continue;
		}
		wait_ms(s, (next_call > now ? next_call - now : SSE_SLICE_MS));
	}
	/* Whatever ended the loop, the reader may drain and end now. */
	wake_reader(s);
	pthread_mutex_unlock(&s->mu);
	buf_release(&out);
	return NULL;
}

/*
 * libmicrohttpd's content reader, on a pool thread: pending bytes, else a
 * suspension (returning 0 is allowed for a suspended connection), else the
 * end of the stream.
 */
static ssize_t sse_read(void *cls, uint64_t pos, char *out, size_t max)
{
	struct sse_stream *s = cls;
	ssize_t ret;
	size_t n;

	(void)pos;
	pthread_mutex_lock(&s->mu);
	n = pending_len(s);
	if (n) {
		if (n > max)
			n = max;
		memcpy(out, s->pending.ptr + s->off, n);
		s->off += n;
		if (s->off == s->pending.len) {
			buf_reset(&s->pending);
			s->off = 0;
			/* A producer held back by the limit may go on. */
			pthread_cond_signal(&s->cv);
		}
		ret = (ssize_t)n;
	} else if (s->finished || http__server_stopping(s->srv)) {
		/*
		 * Stopping: no new suspension, even while the producer is
		 * still inside fn, so that none can appear after
		 * http_server_stop() has waited for them to go.
		 */
		ret = MHD_CONTENT_READER_END_OF_STREAM;
	} else {
		if (!s->suspended) {
			s->suspended = true;
			http__sse_suspended_add(s->srv, 1);
			MHD_suspend_connection(s->conn);
		}
		ret = 0;
	}
	pthread_mutex_unlock(&s->mu);
	return ret;
}

/* Frees a stream whose producer has ended or never started. */
static void stream_free(struct sse_stream *s)
{
	if (s->free_ctx)
		s->free_ctx(s->ctx);
	buf_release(&s->pending);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

/*
 * The response's free callback: libmicrohttpd will not read again. The
 * join waits at most for one call of fn in progress.
 */
static void sse_free(void *cls)
{
	struct sse_stream *s = cls;

	pthread_mutex_lock(&s->mu);
	s->closed = true;
	if (s->suspended) {
		/* Cannot happen: libmicrohttpd frees no suspended response. */
		s->suspended = false;
		http__sse_suspended_add(s->srv, -1);
	}
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	if (s->started)
		pthread_join(s->thread, NULL);
	stream_free(s);
}

int http_reply_sse(struct http_request *req, http_sse_fn fn, void *ctx,
		   void (*free_ctx)(void *ctx), int interval_ms)
{
	struct sse_stream *s = xcalloc(1, sizeof(*s));
	const union MHD_ConnectionInfo *info;
	struct MHD_Response *resp;
	int rc;

	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	s->srv = req->priv->srv;
	s->conn = req->priv->conn;
	info = MHD_get_connection_info(s->conn,
				       MHD_CONNECTION_INFO_CONNECTION_FD);
	s->fd = info ? (int)info->connect_fd : -1;
	s->fn = fn;
	s->ctx = ctx;
	s->free_ctx = free_ctx;
	s->interval_ms = interval_ms > 0 ? interval_ms : 1;
	buf_init(&s->pending, SSE_PENDING_CAP);
	buf_add(&s->pending, sse_start, sizeof(sse_start) - 1);

	resp = MHD_create_response_from_callback(
		MHD_SIZE_UNKNOWN, SSE_BLOCK_SIZE, sse_read, s, sse_free);
	if (!resp) {
		stream_free(s);
		rc = http_reply_error(req, TW_EINTERNAL,
				      "could not create the event stream");
		goto out;
	}
	/* From here on the response owns s: destroying it frees s. */
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				    "text/event-stream") != MHD_YES ||
	    MHD_add_response_header(resp, "X-Accel-Buffering", "no") !=
		    MHD_YES) {
		MHD_destroy_response(resp);
		rc = http_reply_error(req, TW_EINTERNAL,
				      "could not set the event stream's "
				      "headers");
		goto out;
	}
	rc = pthread_create(&s->thread, NULL, producer_main, s);
	if (rc != 0) {
		MHD_destroy_response(resp);
		rc = http_reply_error(req, TW_EUNAVAIL,
				      "could not start the event stream's "
				      "thread: %s",
				      plat_strerror(rc));
		goto out;
	}
	s->started = true;
	rc = http__set_response(req, 200, resp);
out:
	return rc;
}
