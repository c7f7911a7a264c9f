/*
 * log.c - three size-rotated log files, one mutex each.
 *
 * A line is formatted (and its control characters escaped) outside any lock,
 * then under its channel's mutex it gets its time stamp, the file is rotated
 * if the line would take it past max_bytes, and the line is written with one
 * fwrite() and flushed, so a crash loses at most the line being written.
 * Rotation closes the file before renaming it because Windows cannot rename
 * an open file. docs/internals/log.md explains the design.
 */
#include "core/compat.h"
#include "log/log.h"
#include "core/err.h"
#include "core/mem.h"
#include "platform/plat.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h> /* write(); mingw-w64 ships it too */

/* Longest message kept; the rest is cut with a note. */
#define LOG_MSG_MAX ((size_t)64 * 1024)
/* A message escapes to at most 4 bytes per byte, plus the prefix. */
#define LOG_LINE_MAX (4 * LOG_MSG_MAX + 128)
/* Room for a time stamp even with absurd struct tm fields. */
#define LOG_STAMP_SIZE 96
/* Longest path of a log file, rotated suffix included. */
#define LOG_PATH_MAX 4096

struct log_chan {
	const char *name;   /* "app" */
	pthread_mutex_t mu; /* guards everything below */
	FILE *fp;	    /* NULL: not open, lines go to stderr */
	char *path;	    /* dir/name.log */
	size_t size;	    /* bytes in the file as far as we know */
	size_t max_bytes;
	int max_files;
	bool to_stderr;
	bool reopen_failed; /* reported once, retried on each line */
};

static struct log_chan chans[LOG_NCHANNELS] = {
	{ "app", PTHREAD_MUTEX_INITIALIZER, NULL, NULL, 0, 0, 0, false, false },
	{ "worker", PTHREAD_MUTEX_INITIALIZER, NULL, NULL, 0, 0, 0, false,
	  false },
	{ "sandbox", PTHREAD_MUTEX_INITIALIZER, NULL, NULL, 0, 0, 0, false,
	  false },
};

static const char *const level_names[] = { "ERROR", "WARN", "INFO", "DEBUG" };

enum log_level log_level_current = LOG_INFO;

/*
 * File descriptor of app.log for log_crash(), which may not lock; -1 when
 * closed. A crash racing log_close() at worst writes to a closed descriptor,
 * which fails harmlessly.
 */
static volatile sig_atomic_t crash_fd = -1;

static void lock(struct log_chan *c)
{
	if (pthread_mutex_lock(&c->mu))
		TW_BUG("could not lock the %s log", c->name);
}

static void unlock(struct log_chan *c)
{
	pthread_mutex_unlock(&c->mu);
}

/*
 * Opens path for appending, owner only (the logs hold email and client
 * addresses: 0600 on POSIX, also for a file an older version left 0644,
 * and the owner-only ACL of .env on Windows), not inherited by child
 * processes (the sandbox must not get a writable log), and sets *size to
 * its current length. Returns NULL with errno set on failure.
 */
static FILE *open_append(const char *path, size_t *size)
{
	FILE *fp = plat_open_append_private(path);
	long pos;

	if (!fp)
		return NULL;
	pos = fseek(fp, 0, SEEK_END) == 0 ? ftell(fp) : -1;
	*size = pos > 0 ? (size_t)pos : 0;
	return fp;
}

/* Writes a line to stderr in one call, so lines from threads do not mix. */
static void write_stderr(const char *line, size_t len)
{
	fwrite(line, 1, len, stderr);
	fflush(stderr);
}

/* Builds "dir/name.log" or, with n > 0, "dir/name.log.n" into out. */
static void rotated_name(char *out, size_t size, const char *path, int n)
{
	if (n > 0)
		snprintf(out, size, "%s.%d", path, n);
	else
		snprintf(out, size, "%s", path);
}

/* Reports a failure of the log itself on stderr, the only place left. */
static void complain(const struct log_chan *c, const char *what,
		     const char *why)
{
	fprintf(stderr, "tablewright: %s log \"%s\": %s: %s\n", c->name,
		c->path, what, why);
}

/*
 * Rotates c's file, which is open: closes it, drops name.log.(max_files-1),
 * shifts name.log.N to name.log.N+1, renames name.log to name.log.1 and
 * opens a fresh name.log. With max_files 1 the file is simply emptied. A
 * failed rename (another process holding the file on Windows) keeps
 * appending to name.log; the next attempt comes after another max_bytes.
 * Called with c->mu held.
 */
static void rotate(struct log_chan *c)
{
	char from[LOG_PATH_MAX], to[LOG_PATH_MAX];
	struct buf why = BUF_INIT(BUF_SMALL_CAP);
	int i;
	bool is_app = c == &chans[LOG_APP];

	if (is_app)
		crash_fd = -1;
	fclose(c->fp);
	c->fp = NULL;
	if (c->max_files <= 1) {
		if (plat_unlink(c->path) < 0)
			complain(c, "could not empty", plat_strerror(errno));
	} else {
		rotated_name(to, sizeof(to), c->path, c->max_files - 1);
		plat_unlink(to);
		for (i = c->max_files - 2; i >= 0; i--) {
			rotated_name(from, sizeof(from), c->path, i);
			rotated_name(to, sizeof(to), c->path, i + 1);
			if (i > 0 && !plat_is_file(from))
				continue;
			buf_reset(&why);
			if (plat_rename(from, to, &why) < 0 && i == 0)
				complain(c, "could not rotate", why.ptr);
			/* Files rotated by an older version were 0644. */
			buf_reset(&why);
			if (plat_make_private(to, &why) < 0)
				complain(c, "could not restrict", why.ptr);
		}
	}
	c->fp = open_append(c->path, &c->size);
	if (!c->fp) {
		complain(c, "could not reopen", plat_strerror(errno));
		c->reopen_failed = true;
	} else if (is_app) {
		crash_fd = fileno(c->fp);
	}
	/* Whatever happened, wait for another max_bytes before retrying. */
	c->size = c->fp ? c->size : 0;
	if (c->size >= c->max_bytes)
		c->size = 0;
	buf_release(&why);
}

/*
 * Formats fmt into out, cut at LOG_MSG_MAX bytes (with a note saying so).
 */
static void format_message(struct buf *out, const char *fmt, va_list ap)
	TW_PRINTF(2, 0);

static void format_message(struct buf *out, const char *fmt, va_list ap)
{
	va_list cp;
	int n;
	size_t take;

	va_copy(cp, ap);
	n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0) {
		buf_adds(out, "(unformattable log message)");
		return;
	}
	take = (size_t)n < LOG_MSG_MAX ? (size_t)n : LOG_MSG_MAX;
	if (buf_grow(out, take) < 0)
		TW_BUG("log message buffer too small");
	vsnprintf(out->ptr + out->len, take + 1, fmt, ap);
	out->len += take;
	if (take < (size_t)n)
		buf_addf(out, " [%zu bytes cut]", (size_t)n - take);
}

/*
 * Appends msg to line with control characters escaped so one event is one
 * line: newline as \n, carriage return as \r, others as \xNN; tab and bytes
 * from 0x80 (UTF-8) are kept.
 */
static void add_escaped(struct buf *line, const char *msg, size_t len)
{
	size_t i, run = 0;

	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)msg[i];

		if (ch >= 0x20 && ch != 0x7f)
			continue;
		if (ch == '\t')
			continue;
		buf_add(line, msg + run, i - run);
		if (ch == '\n')
			buf_adds(line, "\\n");
		else if (ch == '\r')
			buf_adds(line, "\\r");
		else
			buf_addf(line, "\\x%02x", ch);
		run = i + 1;
	}
	buf_add(line, msg + run, len - run);
}

/* Writes "2026-11-26T03:40:00.123Z " (UTC, 25 bytes) into out. */
static void format_time(char out[LOG_STAMP_SIZE])
{
	int64_t sec;
	long nsec;
	struct tm tm;
	int ms;

	plat_realtime(&sec, &nsec);
	plat_gmtime(sec, &tm);
	ms = nsec >= 0 && nsec < 1000000000 ? (int)(nsec / 1000000) : 0;
	snprintf(out, LOG_STAMP_SIZE, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, ms);
}

void log_write(enum log_channel ch, enum log_level lvl, const char *fmt, ...)
{
	struct buf msg = BUF_INIT(LOG_MSG_MAX + 64);
	struct buf line = BUF_INIT(LOG_LINE_MAX);
	struct log_chan *c;
	char stamp[LOG_STAMP_SIZE];
	size_t stamp_len;
	bool written;
	va_list ap;

	if ((unsigned)ch >= LOG_NCHANNELS || (unsigned)lvl > LOG_DEBUG)
		TW_BUG("log_write: channel %d, level %d", (int)ch, (int)lvl);
	if (lvl > log_level_current)
		return;
	c = &chans[ch];

	va_start(ap, fmt);
	format_message(&msg, fmt, ap);
	va_end(ap);
	/* 25 bytes of time stamp go in front once the lock is held. */
	buf_addf(&line, "%-25s%-5s [%s] ", "", level_names[lvl], c->name);
	add_escaped(&line, msg.ptr, msg.len);
	buf_addch(&line, '\n');

	lock(c);
	format_time(stamp);
	stamp_len = strlen(stamp);
	memcpy(line.ptr, stamp, stamp_len < 25 ? stamp_len : 25);
	if (!c->fp && c->reopen_failed) {
		c->fp = open_append(c->path, &c->size);
		c->reopen_failed = !c->fp;
		if (c->fp && c == &chans[LOG_APP])
			crash_fd = fileno(c->fp);
	}
	if (c->fp) {
		if (c->size > 0 && (c->size >= c->max_bytes ||
				    line.len > c->max_bytes - c->size))
			rotate(c);
	}
	if (c->fp) {
		written = fwrite(line.ptr, 1, line.len, c->fp) == line.len &&
			  fflush(c->fp) == 0;
		if (written)
			c->size += line.len;
		else
			clearerr(c->fp); /* disk full: try again next time */
		/* A line the file did not take is not lost. */
		if (c->to_stderr || !written)
			write_stderr(line.ptr, line.len);
	} else {
		write_stderr(line.ptr, line.len);
	}
	unlock(c);

	buf_release(&line);
	buf_release(&msg);
}

/*
 * Closes every channel: a channel's file is detached under its lock, so a
 * concurrent log_write() finishes on the old file or goes to stderr.
 */
void log_close(void)
{
	size_t i;
	FILE *fp;
	char *path;

	crash_fd = -1;
	for (i = 0; i < LOG_NCHANNELS; i++) {
		lock(&chans[i]);
		fp = chans[i].fp;
		path = chans[i].path;
		chans[i].fp = NULL;
		chans[i].path = NULL;
		chans[i].reopen_failed = false;
		unlock(&chans[i]);
		if (fp)
			fclose(fp);
		free(path);
	}
}

int log_open(const struct log_opts *opts, struct buf *err)
{
	FILE *fps[LOG_NCHANNELS] = { NULL };
	char *paths[LOG_NCHANNELS] = { NULL };
	size_t sizes[LOG_NCHANNELS] = { 0 };
	struct buf path = BUF_INIT(LOG_PATH_MAX - 16);
	size_t i, dlen;
	int rc = 0;

	if (!opts || !opts->dir)
		TW_BUG("log_open without a directory");
	if (*opts->dir) {
		rc = plat_mkdir_p(opts->dir, err);
		if (rc < 0) {
			rc = TW_EIO;
			goto fail;
		}
	}
	dlen = strlen(opts->dir);
	for (i = 0; i < LOG_NCHANNELS; i++) {
		buf_reset(&path);
		rc = buf_add(&path, opts->dir, dlen);
		if (rc == 0 && dlen && opts->dir[dlen - 1] != '/' &&
		    opts->dir[dlen - 1] != TW_PATH_SEP)
			rc = buf_addch(&path, TW_PATH_SEP);
		if (rc == 0)
			rc = buf_addf(&path, "%s.log", chans[i].name);
		if (rc < 0) {
			if (err)
				buf_addf(err, "log directory path is too long");
			rc = TW_EIO;
			goto fail;
		}
		fps[i] = open_append(path.ptr, &sizes[i]);
		if (!fps[i]) {
			if (err)
				buf_addf(err,
					 "could not open log file \"%s\": %s",
					 path.ptr, plat_strerror(errno));
			rc = TW_EIO;
			goto fail;
		}
		paths[i] = buf_detach(&path, NULL);
	}

	/* Every file is open: swap them in, then close what was there. */
	log_close();
	for (i = 0; i < LOG_NCHANNELS; i++) {
		lock(&chans[i]);
		chans[i].fp = fps[i];
		chans[i].path = paths[i];
		chans[i].size = sizes[i];
		chans[i].max_bytes = opts->max_bytes ? opts->max_bytes
						     : SIZE_MAX;
		chans[i].max_files = opts->max_files > 1 ? opts->max_files : 1;
		chans[i].to_stderr = opts->to_stderr;
		chans[i].reopen_failed = false;
		if (i == LOG_APP)
			crash_fd = fileno(fps[i]);
		unlock(&chans[i]);
	}
	log_level_current = opts->level;
	buf_release(&path);
	return 0;

fail:
	for (i = 0; i < LOG_NCHANNELS; i++) {
		if (fps[i])
			fclose(fps[i]);
		free(paths[i]);
	}
	buf_release(&path);
	return rc;
}

int log_parse_level(const char *s, enum log_level *out)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	size_t i, j;

	for (i = 0; i < TW_ARRAY_SIZE(names); i++) {
		for (j = 0; s[j] && names[i][j]; j++) {
			if (tolower((unsigned char)s[j]) != names[i][j])
				break;
		}
		if (!s[j] && !names[i][j]) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return TW_EINVAL;
}

/*
 * Writes the UTC time sec + ms as "YYYY-MM-DDTHH:MM:SS.mmmZ" into out (25
 * bytes with the NUL) by arithmetic only (Howard Hinnant's days-to-civil),
 * since gmtime_r and snprintf are not async-signal-safe.
 */
static void crash_time(int64_t sec, long ms, char *out)
{
	int64_t days = sec / 86400, rem = sec % 86400;
	int64_t era, doe, yoe, doy, mp, m;
	int64_t f[7];
	static const int widths[7] = { 4, 2, 2, 2, 2, 2, 3 };
	static const char seps[7] = { '-', '-', 'T', ':', ':', '.', 'Z' };
	int i, k, pos = 0;

	if (rem < 0) {
		rem += 86400;
		days--;
	}
	days += 719468;
	era = (days >= 0 ? days : days - 146096) / 146097;
	doe = days - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	m = mp < 10 ? mp + 3 : mp - 9;
	f[0] = yoe + era * 400 + (m <= 2);
	f[1] = m;
	f[2] = doy - (153 * mp + 2) / 5 + 1;
	f[3] = rem / 3600;
	f[4] = rem / 60 % 60;
	f[5] = rem % 60;
	f[6] = ms;
	for (i = 0; i < 7; i++) {
		int64_t v = f[i] < 0 ? 0 : f[i];

		for (k = widths[i] - 1; k >= 0; k--) {
			out[pos + k] = (char)('0' + v % 10);
			v /= 10;
		}
		pos += widths[i];
		out[pos++] = seps[i];
	}
	out[pos] = '\0';
}

void log_crash(const char *msg)
{
	char line[1024];
	size_t n, i;
	int64_t sec;
	long nsec;
	int fd;
	static const char tag[] = " FATAL [app] ";

	plat_realtime(&sec, &nsec);
	crash_time(sec, nsec / 1000000, line);
	n = strlen(line);
	memcpy(line + n, tag, sizeof(tag) - 1);
	n += sizeof(tag) - 1;
	for (i = 0; msg && msg[i] && n < sizeof(line) - 1; i++) {
		unsigned char ch = (unsigned char)msg[i];

		line[n++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
	}
	line[n++] = '\n';

	if (write(2, line, n) < 0) {
		/* Nothing left to report to. */
	}
	fd = crash_fd;
	if (fd >= 0 && write(fd, line, n) < 0) {
		/* Likewise. */
	}
}
