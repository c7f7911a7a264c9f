/*
 * sandbox.h - the supervisor of one sandboxed child process (layers 2 and
 * 4 of "Sandbox: defence in depth" in docs/architecture.md). The API reads
 * like git's run-command.h:
 *
 *	sbx_spawn()       creates TW_SANDBOX_DIR/<job_id>/ (or <dir_name>/)
 *	                  afresh and starts the child in it under OS limits,
 *	                  with an environment built from an allow list and
 *	                  only its three pipes inherited
 *	sbx_write() /     code and data to the child's stdin; the child's stdout
 *	sbx_read()        and stderr (separate pipes) back, with a timeout
 *	sbx_poll()        samples CPU, memory and wall time (call every ~250 ms)
 *	                  and kills the child when a limit is passed
 *	sbx_kill()        kills the child and everything it started (cancel)
 *	sbx_wait()        reaps it and classifies the exit
 *	sbx_child_free()  closes everything and removes the job directory,
 *	                  whatever happened
 *
 * POSIX (sandbox_posix.c): on Linux the first process of a PID namespace of
 * its own (in a user namespace of its own too when the supervisor is not
 * root), so that nothing it starts outlives it; a fork where the kernel
 * refuses namespaces. Own process group, PR_SET_PDEATHSIG plus a parent
 * check, RLIMIT_DATA, RLIMIT_CPU (backstop), RLIMIT_FSIZE, RLIMIT_NOFILE,
 * RLIMIT_CORE = 0, set in the child before exec; a kill signals the whole
 * group. A supervisor that runs as root starts the child as an unprivileged
 * user (opts.run_as_user) and gives it the job directory.
 * Windows (sandbox_win.c): a Job Object per child (kill on close, one
 * active process, a memory limit, a user-time backstop, a CPU rate cap),
 * the child created suspended and assigned before it runs,
 * CREATE_NO_WINDOW, PROC_THREAD_ATTRIBUTE_HANDLE_LIST, and never the
 * worker's token: a less-privileged AppContainer with no capability, or a
 * restricted token at low integrity (docs/windows.md).
 */
#ifndef TW_SANDBOX_SANDBOX_H
#define TW_SANDBOX_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

struct sbx_child;

struct sbx_limits {
	int64_t wall_ms;      /* kill after this much wall time (0: none) */
	int64_t memory_bytes; /* kill above this resident/committed size,
			       * and the OS limit (0: none) */
	double cpu_percent;   /* runaway: above this CPU % (psutil's
			       * formula, not divided by cores)... */
	int64_t cpu_grace_ms; /* ...for longer than this (0: no check) */
	int64_t cpu_seconds;  /* OS CPU-time backstop (0: none) */
	int64_t file_bytes;   /* largest file the child may write */
	int max_files;	      /* open descriptors/handles */
};

struct sbx_opts {
	const char *const *argv; /* argv[0]: a path, not searched */
	const char *sandbox_dir; /* TW_SANDBOX_DIR */
	int64_t job_id;		 /* the job directory's name */
	/*
	 * A directory name used instead of job_id, for children that are not
	 * jobs (the server's preview runners, "preview-<pid>-<n>"): letters,
	 * digits, '-' and '_', at most 64, not only digits, so that it never
	 * collides with a job's. NULL: job_id.
	 */
	const char *dir_name;
	/*
	 * Environment variables copied from the supervisor's environment when
	 * set (PATH, LANG, SYSTEMROOT, ...), NULL-terminated. Nothing else is
	 * passed: no TW_* key, no database URL, no secret.
	 */
	const char *const *env_allow;
	/* "KEY=VALUE" entries added on top, NULL-terminated; may be NULL. */
	const char *const *env_extra;
	/*
	 * POSIX, when the supervisor runs as root: the system user the child
	 * runs as (groups, gid and uid set between fork and exec), who is
	 * given the job directory. NULL, or a supervisor that is not root:
	 * the child runs as the supervisor. Ignored on Windows, where the
	 * child's restricted token is the answer (docs/windows.md).
	 */
	const char *run_as_user;
	struct sbx_limits limits;
};

/* How a child ended; maps onto a job's status and error_code. */
enum sbx_outcome {
	SBX_RUNNING = 0,
	SBX_EXITED, /* exit_code is valid */
	SBX_KILLED_TIMEOUT,
	SBX_KILLED_MEMORY,
	SBX_KILLED_CPU,
	SBX_CRASHED,   /* a signal or an unhandled exception */
	SBX_CANCELLED, /* sbx_kill(SBX_CANCELLED) */
};

struct sbx_sample {
	int64_t wall_ms;      /* since spawn */
	double cpu_seconds;   /* user + system, the whole tree where known */
	double cpu_percent;   /* 100 * d(cpu) / d(wall) since the last sample */
	int64_t rss_bytes;    /* resident */
	int64_t commit_bytes; /* committed / virtual data */
	int64_t peak_rss_bytes;
};

struct sbx_exit {
	enum sbx_outcome outcome;
	int exit_code;		/* SBX_EXITED */
	int signal;		/* SBX_CRASHED on POSIX */
	struct sbx_sample last; /* the final sample: peak memory, CPU time */
};

int sbx_spawn(const struct sbx_opts *opts, struct sbx_child **out,
	      struct buf *err);

/* Writes all of data to the child's stdin; TW_EIO when the child is gone. */
int sbx_write(struct sbx_child *c, const void *data, size_t len,
	      struct buf *err);
void sbx_close_stdin(struct sbx_child *c);

/*
 * sbx_read() appends what is available on the child's stdout (which = 1) or
 * stderr (which = 2) to out, waiting up to timeout_ms for something to
 * arrive. *eof is set when that pipe is closed.
 */
int sbx_read(struct sbx_child *c, int which, struct buf *out,
	     int64_t timeout_ms, bool *eof, struct buf *err);

/*
 * sbx_poll() takes a sample and enforces the limits: when one is passed the
 * child is killed and SBX_KILLED_* returned; SBX_RUNNING while it runs; the
 * outcome once it has exited (a child found exited is reaped here, as by
 * sbx_wait(), so it is never judged after its end).
 */
enum sbx_outcome sbx_poll(struct sbx_child *c, struct sbx_sample *sample);

/* Kills the child's whole tree, recording why (a SBX_KILLED_* or cancel). */
void sbx_kill(struct sbx_child *c, enum sbx_outcome why);

/*
 * sbx_wait() waits up to timeout_ms (-1: forever) for the child to end and
 * fills *ex. TW_ETIMEOUT when it is still running.
 */
int sbx_wait(struct sbx_child *c, int64_t timeout_ms, struct sbx_exit *ex,
	     struct buf *err);

/* Kills the child if it still runs, closes its pipes, removes its job
 * directory. */
void sbx_child_free(struct sbx_child *c);

/*
 * sbx_child_pid() is the child's operating-system process id, for logs and
 * for tools that watch it from outside (tests/tools/sbx_tool.c); -1 when it
 * never started.
 */
long sbx_child_pid(const struct sbx_child *c);

/*
 * sbx_child_isolation() says for the log how the child is kept from the
 * supervisor beyond its limits. Windows: the mode ("lpac", "appcontainer"
 * or "restricted-token") and, when a better one was not available, why
 * ("restricted-token (fallback: AppContainer unavailable: ...)";
 * docs/windows.md). POSIX: whether it has a PID namespace (and a user
 * namespace) of its own or, where the kernel refused them, only its
 * process group. Static text; never NULL.
 */
const char *sbx_child_isolation(const struct sbx_child *c);

/*
 * sbx_check_user() checks at start-up what sbx_spawn() will do with
 * run_as_user = user: *drops is set when the children will run as that
 * user (POSIX, supervisor root). TW_ENOTFOUND when the user does not exist
 * and TW_EINVAL when it is root (uid 0), with the reason in err; 0 when
 * the children will run as the supervisor (not root, Windows, user NULL).
 */
int sbx_check_user(const char *user, bool *drops, struct buf *err);

/*
 * sbx_tree_contained() tells, at start-up, whether the death of a child
 * sbx_spawn() starts ends everything that child started, even when the
 * supervisor is killed with SIGKILL: on Linux, whether the kernel gives it
 * a PID namespace of its own (tried once here). False with the reason in
 * why otherwise (a container's seccomp profile, user namespaces turned
 * off, another system, TW_TEST_SANDBOX_NO_PIDNS=1): sbx_spawn() then
 * forks, and a grandchild that left the child's process group can outlive
 * a killed supervisor. Windows: true (the job object kills on close).
 */
bool sbx_tree_contained(struct buf *why);

/*
 * sbx_runner_argv() is the command that starts the Python sandbox runner,
 * {python, "-I", "-m", "tablewright_runner", NULL}, for the worker and for
 * the server's previews alike. python is TW_PYTHON when set (NULL: unset);
 * otherwise the sandbox venv's interpreter next to the executable:
 * sandbox/.venv/bin/python (Scripts\python.exe on Windows) in the
 * executable's directory or the one above it (a build directory inside the
 * source tree). The venv's directory is resolved (plat_real_dir(): it
 * may be a link to a place the sandbox user reaches), its bin/python never
 * (that links out of the venv, to an interpreter without its packages).
 * TW_ENOTFOUND, with a message that names TW_PYTHON, when there is no such
 * file. Free *argv with plat_argv_free().
 */
int sbx_runner_argv(const char *python, char ***argv, struct buf *err);

/*
 * The environment of every runner, job or preview (sbx_opts env_allow and
 * env_extra): the few variables taken from the supervisor's environment
 * when set, and those added (numeric libraries on one thread each, since
 * the CPU share is the job's; Python unbuffered, UTF-8 whatever the
 * locale, writing no bytecode). Never a TW_ variable or a secret.
 */
extern const char *const sbx_runner_env_allow[];
extern const char *const sbx_runner_env_extra[];

/* The name of an outcome: "exited", "killed:timeout", ... */
const char *sbx_outcome_name(enum sbx_outcome o);

#endif
