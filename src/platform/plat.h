/*
 * plat.h - the operating-system layer (libuv's split): one header, two
 * implementations with the same file names in posix/ and win/, chosen in
 * CMake. Everything here takes and returns UTF-8; only win/ converts to
 * UTF-16 and calls the *W APIs. No other module looks at the platform.
 */
#ifndef TW_PLATFORM_PLAT_H
#define TW_PLATFORM_PLAT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/buf.h"

/* --- time (plat_time.c) ------------------------------------------------ */

/* Monotonic milliseconds, for intervals and timeouts. */
int64_t plat_monotonic_ms(void);

/* Wall-clock time as Unix seconds and nanoseconds, UTC. */
void plat_realtime(int64_t *sec, long *nsec);

/* Breaks Unix seconds into UTC calendar fields (thread-safe gmtime). */
void plat_gmtime(int64_t sec, struct tm *out);

void plat_sleep_ms(int64_t ms);

/* --- files (plat_fs.c) -------------------------------------------------- */

/* Creates dir and its missing parents; an existing directory is fine. */
int plat_mkdir_p(const char *dir, struct buf *err);

bool plat_is_dir(const char *path);
bool plat_is_file(const char *path);

/*
 * plat_write_file_private() writes data to path, readable and writable by
 * the owner only (0600 on POSIX, the default owner ACL on Windows), through
 * a temporary file and a rename so a crash never leaves half a file. With
 * exclusive, an existing path is left alone and TW_ECONFLICT is returned.
 */
int plat_write_file_private(const char *path, const char *data, size_t len,
			    bool exclusive, struct buf *err);

/*
 * plat_open_append_private() opens path for appending, creating it when
 * missing, readable and writable by the owner only: mode 0600 on POSIX
 * (an existing file gets that mode too), on Windows the protected DACL of
 * plat_write_file_private() (applied to an existing file as well). The
 * handle is not inherited by child processes. Returns a stdio stream in
 * binary append mode, or NULL with errno set (EACCES, ENOENT, ...).
 * Log files use it: they hold email and client addresses.
 */
FILE *plat_open_append_private(const char *path);

/*
 * plat_make_private() restricts an existing file to its owner as
 * plat_open_append_private() does (for rotated log files written by an
 * older version). A missing file is not an error. 0 or TW_EIO.
 */
int plat_make_private(const char *path, struct buf *err);

/* Reads a whole file (at most out->cap bytes; TW_ETOOBIG beyond). */
int plat_read_file(const char *path, struct buf *out, struct buf *err);

/*
 * plat_open_read() opens path for reading when it names a regular file
 * (symbolic links are followed) and sets *fd to a descriptor in binary
 * mode that child processes do not inherit, and *size to the file's
 * length. On Windows *fd is a C runtime descriptor on a handle that
 * CreateFileW opened from the UTF-16 form of path (the C runtime's open()
 * would read a UTF-8 path in the ANSI code page). Close *fd with close(),
 * or hand it to a library that takes a descriptor (libmicrohttpd's
 * MHD_create_response_from_fd()). Never blocks on a FIFO or device.
 * Returns 0; TW_ENOTFOUND when path is missing or is not a regular file
 * (a directory, a device, a FIFO); TW_EINVAL for a path that is not valid
 * UTF-8 (Windows); TW_EIO for any other failure (permission denied). The
 * reason goes to err, which may be NULL.
 */
int plat_open_read(const char *path, int *fd, uint64_t *size, struct buf *err);

/* Renames, replacing an existing target (MoveFileExW on Windows). */
int plat_rename(const char *from, const char *to, struct buf *err);

/* Removes a file; a missing file is not an error. */
int plat_unlink(const char *path);

/*
 * plat_remove_tree() removes path and, when it is a directory, everything
 * below it. Symbolic links (reparse points on Windows) are removed as
 * links and never followed, so a link planted inside the tree cannot make
 * it delete files elsewhere. A missing path is not an error. Returns 0,
 * TW_EIO (with what could not be removed in err; it keeps going after a
 * failure so as much as possible is gone), or TW_EINVAL for a path that is
 * not valid UTF-8 (Windows).
 */
int plat_remove_tree(const char *path, struct buf *err);

/* Directory of the running executable, no trailing separator. */
int plat_exe_dir(struct buf *out, struct buf *err);

/*
 * plat_real_dir() puts the absolute path of the existing directory dir
 * into out: on POSIX with every symbolic link resolved (realpath()), so
 * that another user can reach it through directories they may traverse;
 * on Windows the full path (GetFullPathNameW; a job's child runs as the
 * worker's user there, so nothing needs resolving). TW_ENOTFOUND or TW_EIO
 * with the reason.
 */
int plat_real_dir(const char *dir, struct buf *out, struct buf *err);

/* True when stderr is a terminal (or a console on Windows). */
bool plat_stderr_is_tty(void);

/* The calling process's id. */
long plat_getpid(void);

/* Last OS error as text ("Permission denied"), for messages. */
const char *plat_strerror(int errnum);

/* --- processes (plat_proc.c) -------------------------------------------- */

struct plat_run_opts {
	/* argv[0] is a path or a name searched in PATH; NULL-terminated. */
	const char *const *argv;
	/*
	 * POSIX only: when the caller runs as root, run the command as this
	 * system user (PostgreSQL's initdb and postgres refuse root). NULL:
	 * as the caller. Ignored on Windows, where pg_ctl drops
	 * administrator rights itself.
	 */
	const char *run_as_user;
	/* Combined stdout+stderr of the command, capped; may be NULL. */
	struct buf *output;
	/* Kill the command after this many milliseconds; 0: no limit. */
	int64_t timeout_ms;
};

/*
 * plat_run() runs a command to completion, without a shell, and stores its
 * exit status in *status (128 + signal when killed). Returns 0 when the
 * command ran (whatever its status), TW_EIO when it could not be started,
 * TW_ETIMEOUT when it was killed for timing out.
 */
int plat_run(const struct plat_run_opts *opts, int *status, struct buf *err);

/*
 * plat_split_command() turns a command written as one line (a setting such
 * as TW_SANDBOX_COMMAND) into an argument vector, by the same rule on
 * every system:
 *
 *  - words are separated by one or more spaces;
 *  - a double quote starts a quoted part that runs to the next double
 *    quote, inside which spaces are literal; the quotes themselves are
 *    dropped, and a quoted part joins the unquoted text around it
 *    ("a"b is one word, ab; "" is an empty word);
 *  - every other character, the backslash included, is literal, so
 *    "C:\Program Files\Python312\python.exe" -I needs no doubled
 *    backslashes. A word cannot contain a double quote.
 *
 * *argv gets a NULL-terminated array of words (each and the array
 * allocated; free it with plat_argv_free()), and *argc their number (0
 * for a line of spaces only). An unclosed double quote is TW_EINVAL, with
 * the reason in err (which may be NULL) and *argv NULL. Its counterpart in
 * the other direction, for CreateProcessW, is plat__build_cmdline().
 */
int plat_split_command(const char *line, char ***argv, int *argc,
		       struct buf *err);

/* Frees what plat_split_command() returned; NULL is fine. */
void plat_argv_free(char **argv);

/* Finds an executable by name in PATH (and the given extra directories). */
int plat_find_program(const char *name, const char *const *extra_dirs,
		      struct buf *path_out);

/* True when the process runs with root/administrator rights. */
bool plat_is_superuser(void);

/*
 * plat_chown_to_user() gives path (not recursive) to a system user, so a
 * command run with run_as_user can write there. No-op on Windows and when
 * not root.
 */
int plat_chown_to_user(const char *path, const char *user, struct buf *err);

/*
 * plat_harden_process() keeps other processes of the same user, the
 * sandbox children above all, from reading this process's memory and
 * environment. Linux: PR_SET_DUMPABLE 0, which makes /proc/<pid>/environ,
 * mem, maps, fd and cwd readable only with CAP_SYS_PTRACE (and gives no
 * core dump). Other POSIX systems: nothing yet. Windows: nothing here; the
 * child is to run with a restricted token at low integrity, which cannot
 * open a medium-integrity process (docs/windows.md). 0 or TW_EIO.
 */
int plat_harden_process(struct buf *err);

/*
 * plat_env_wipe() removes name from the process environment after
 * overwriting its value in place. unsetenv() alone only drops the pointer:
 * the bytes stay in the block the kernel put at the top of the stack, and
 * Linux shows that block in /proc/<pid>/environ. Only the value getenv()
 * finds is wiped: call it before anything copies the environment.
 */
void plat_env_wipe(const char *name);

/* --- terminal (plat_term.c) -------------------------------------------- */

/* True when standard input is a terminal (a console on Windows). */
bool plat_stdin_is_tty(void);

/*
 * plat_read_secret() reads one line from standard input into out, without
 * its line end. When stdin is a terminal, prompt is written to stderr first
 * and the typed characters are not echoed. TW_EIO at end of input with
 * nothing read, TW_ETOOBIG past out->cap (the rest of the line is
 * discarded).
 */
int plat_read_secret(const char *prompt, struct buf *out, struct buf *err);

/* --- network (plat_net.c) ----------------------------------------------- */

/* Asks the OS for a TCP port that is free on 127.0.0.1 right now. */
int plat_free_tcp_port(int *port, struct buf *err);

/*
 * plat_socket_wait() waits up to timeout_ms for socket fd (a libpq
 * connection's PQsocket()) to become readable: 1 when it is, 0 on timeout,
 * TW_EIO when waiting failed. An interrupted wait counts as a timeout.
 */
int plat_socket_wait(int fd, int64_t timeout_ms);

/* The machine's host name (UTF-8), appended to out; "localhost" when the
 * OS does not say. */
void plat_hostname(struct buf *out);

/* --- processors (plat_proc.c) ------------------------------------------- */

/* The number of logical processors this process may run on (at least 1). */
int plat_cpu_count(void);

/* --- shutdown signals (plat_signal.c) ----------------------------------- */

/*
 * plat_shutdown_init() must be called in the main thread before any other
 * thread starts: on POSIX it blocks SIGINT/SIGTERM/SIGHUP in every thread
 * (they are then taken by plat_shutdown_wait) and ignores SIGPIPE; on
 * Windows it installs a console control handler.
 */
int plat_shutdown_init(struct buf *err);

/*
 * plat_shutdown_wait() blocks until Ctrl-C, SIGTERM, a console close or
 * plat_shutdown_request(), or until timeout_ms passes (-1: forever).
 * Returns true when shutdown was requested.
 */
bool plat_shutdown_wait(int64_t timeout_ms);

/* Requests shutdown from inside the process (tests, fatal errors). */
void plat_shutdown_request(void);

#endif
