/*
 * log.h - Tablewright's logs: logs/app.log, logs/worker.log and
 * logs/sandbox.log, each rotated by size inside the process (Windows cannot
 * rename a file another handle has open), thread-safe, level-filtered, and
 * copied to stderr when it is a terminal.
 *
 * The log_* macros test the level before evaluating their arguments (Redis
 * serverLog), so a disabled debug line costs one comparison. No password,
 * token or key is ever passed to them.
 *
 * Line format: 2026-11-26T03:40:00.123Z INFO  [app] message
 */
#ifndef TW_LOG_LOG_H
#define TW_LOG_LOG_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/compat.h"

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

enum log_channel { LOG_APP = 0, LOG_WORKER, LOG_SANDBOX, LOG_NCHANNELS };

struct log_opts {
	const char *dir; /* created if missing */
	enum log_level level;
	size_t max_bytes; /* rotate when a file would pass this size */
	int max_files;	  /* keep name.log.1 .. name.log.(max_files-1) */
	bool to_stderr;	  /* also echo every line to stderr */
};

extern enum log_level log_level_current;

/*
 * log_open() opens the three files in append mode. Fails (TW_EIO, with the
 * path and the OS's reason in err) when the directory cannot be created or a
 * file cannot be opened for writing. Before log_open() and after
 * log_close(), lines go to stderr only.
 */
int log_open(const struct log_opts *opts, struct buf *err);
void log_close(void);

/* Parses "error", "warn", "info" or "debug". */
int log_parse_level(const char *s, enum log_level *out);

void log_write(enum log_channel ch, enum log_level lvl, const char *fmt, ...)
	TW_PRINTF(3, 4);

/*
 * log_crash() writes a line with write() only, no locks and no allocation:
 * safe in a signal handler or after memory corruption.
 */
void log_crash(const char *msg);

#define log_at(ch, lvl, ...)                                 \
	do {                                                 \
		if ((lvl) <= log_level_current)              \
			log_write((ch), (lvl), __VA_ARGS__); \
	} while (0)

#define log_error(ch, ...) log_at(ch, LOG_ERROR, __VA_ARGS__)
#define log_warn(ch, ...) log_at(ch, LOG_WARN, __VA_ARGS__)
#define log_info(ch, ...) log_at(ch, LOG_INFO, __VA_ARGS__)
#define log_debug(ch, ...) log_at(ch, LOG_DEBUG, __VA_ARGS__)

#endif
