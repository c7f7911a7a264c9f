/*
 * plat_proc.c (POSIX) - running commands to completion, finding programs,
 * and handing files to the system user commands run as.
 *
 * plat_run() is fork + exec with a few rules taken from libuv's uv_spawn
 * and git's run-command.c:
 *
 *  - Everything the child needs (the user's uid, gid and groups, /dev/null,
 *    the pipes) is prepared in the parent, because between fork() and exec()
 *    a child of a multi-threaded process may only call async-signal-safe
 *    functions: no malloc, no NSS look-ups (so no getpwnam or initgroups).
 *  - All pipes are O_CLOEXEC from birth so a concurrent fork in another
 *    thread cannot leak them; the child closes every other descriptor too.
 *  - Why exec failed travels back through a CLOEXEC pipe: the parent reads
 *    either EOF (exec succeeded) or the stage and errno of the failure.
 *  - The child runs in its own process group so a timeout kills the whole
 *    tree it started, not just the first process.
 *  - Reading stops when the child exits, not at EOF: a daemon the child left
 *    behind (pg_ctl start) may hold the pipe open for hours.
 */
#include "core/compat.h"
#include "core/err.h"
#include "core/mem.h"
#include "platform/plat.h"
#include "platform/posix/posix_int.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

/* How often a running child is checked for exit and timeout, at most. */
#define RUN_SLICE_MS 50
/* One read() from the output pipe. */
#define RUN_CHUNK 65536
/* Bytes read per wake-up before the clock is looked at again. */
#define RUN_BURST ((size_t)1024 * 1024)

/* The system user a command runs as, resolved in the parent. */
struct run_user {
	const char *name;
	uid_t uid;
	gid_t gid;
	gid_t *groups;
	int ngroups;
};

/* What the child reports when it cannot exec. */
enum child_stage { STAGE_STREAMS = 1, STAGE_USER, STAGE_EXEC };

/* See posix_int.h. */
int plat__lookup_user(const char *name, uid_t *uid, gid_t *gid, struct buf *err)
{
	struct passwd pw, *found = NULL;
	long size = sysconf(_SC_GETPW_R_SIZE_MAX);
	char *mem = NULL;
	int e;
	int rc = 0;

	if (size <= 0)
		size = 16384;
	for (;;) {
		mem = xrealloc(mem, (size_t)size);
		e = getpwnam_r(name, &pw, mem, (size_t)size, &found);
		if (e != ERANGE || size >= 1024 * 1024)
			break;
		size *= 2;
	}
	if (e != 0) {
		buf_errf(err, "could not look up user \"%s\": %s", name,
			 plat_strerror(e));
		rc = TW_EIO;
		goto fail;
	}
	if (!found) {
		buf_errf(err, "user \"%s\" does not exist", name);
		rc = TW_ENOTFOUND;
		goto fail;
	}
	*uid = pw.pw_uid;
	*gid = pw.pw_gid;
fail:
	free(mem);
	return rc;
}

/*
 * resolve_run_user() fills u with everything setgroups/setgid/setuid will
 * need in the child. getgrouplist() (a GNU/BSD extension) stands in for
 * initgroups(), which must not run after fork().
 */
static int resolve_run_user(const char *name, struct run_user *u,
			    struct buf *err)
{
	int n = 16;
	int rc;

	u->name = name;
	rc = plat__lookup_user(name, &u->uid, &u->gid, err);
	if (rc < 0)
		goto fail;
	for (;;) {
		int want = n;

		u->groups = xrealloc(u->groups, sizeof(gid_t) * (size_t)n);
		if (getgrouplist(name, u->gid, u->groups, &want) >= 0) {
			u->ngroups = want;
			break;
		}
		if (want <= n || want > 65536) {
			buf_errf(err,
				 "could not read the groups of user \"%s\"",
				 name);
			rc = TW_EIO;
			goto fail;
		}
		n = want;
	}
fail:
	return rc;
}

/* Closes every descriptor in [lo, hi] (hi may be INT_MAX). */
void plat__close_fd_range(int lo, int hi)
{
	long max;
	int fd;

	if (lo > hi)
		return;
#if defined(__linux__) && defined(SYS_close_range)
	/* Linux 5.9+: one system call instead of a loop. */
	if (syscall(SYS_close_range, (unsigned int)lo, (unsigned int)hi, 0) ==
	    0)
		return;
#endif
	max = sysconf(_SC_OPEN_MAX);
	if (max < 0 || max > 65536)
		max = 65536;
	for (fd = lo; fd <= hi && fd < max; fd++)
		close(fd);
}

/* Writes a failure report to the parent and exits; async-signal-safe. */
void plat__child_fail(int errw, int stage, int e)
{
	struct plat__child_failure f;
	ssize_t w;

	f.stage = stage;
	f.err = e;
	do {
		w = write(errw, &f, sizeof(f));
	} while (w < 0 && errno == EINTR);
	_exit(127);
}

/*
 * child_exec() runs in the forked child and never returns. Only
 * async-signal-safe calls from here on.
 */
static TW_NORETURN void child_exec(const struct plat_run_opts *opts,
				   const struct run_user *u, int devnull,
				   int outw, int errw)
{
	struct sigaction sa;
	sigset_t none;
	const char *prog = opts->argv[0];
	char *const *argv = (char *const *)opts->argv;

	setpgid(0, 0);
	/*
	 * plat_shutdown_init() blocked SIGINT/SIGTERM/SIGHUP and ignored
	 * SIGPIPE; both survive exec, and a command that cannot be
	 * interrupted or killed by a broken pipe is a surprise.
	 */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGPIPE, &sa, NULL);

	/*
	 * Move our descriptors above 2 first: a parent started with stdin
	 * closed can get 0, 1 or 2 from pipe2(), and dup2() onto those would
	 * clobber one with another.
	 */
	errw = fcntl(errw, F_DUPFD_CLOEXEC, 3);
	if (errw < 0)
		_exit(127);
	devnull = fcntl(devnull, F_DUPFD_CLOEXEC, 3);
	outw = fcntl(outw, F_DUPFD_CLOEXEC, 3);
	if (devnull < 0 || outw < 0)
		plat__child_fail(errw, STAGE_STREAMS, errno);
	if (dup2(devnull, STDIN_FILENO) < 0 || dup2(outw, STDOUT_FILENO) < 0 ||
	    dup2(outw, STDERR_FILENO) < 0)
		plat__child_fail(errw, STAGE_STREAMS, errno);
	plat__close_fd_range(3, errw - 1);
	plat__close_fd_range(errw + 1, INT_MAX);

	if (u->name) {
		/* Groups first, then gid, then uid: after setuid() the
		 * process may no longer change the other two. */
		if (setgroups((size_t)u->ngroups, u->groups) != 0 ||
		    setgid(u->gid) != 0 || setuid(u->uid) != 0)
			plat__child_fail(errw, STAGE_USER, errno);
	}

	if (strchr(prog, '/'))
		execv(prog, argv);
	else
		execvp(prog, argv);
	plat__child_fail(errw, STAGE_EXEC, errno);
}

/* waitpid() that resumes after EINTR. */
static pid_t wait_child(pid_t pid, int *wstatus, int flags)
{
	pid_t r;

	do {
		r = waitpid(pid, wstatus, flags);
	} while (r < 0 && errno == EINTR);
	return r;
}

/*
 * plat__read_child_failure() waits for exec: the report pipe closes (CLOEXEC)
 * when exec succeeded, or carries a struct child_failure. Returns true and
 * fills f when the child failed.
 */
bool plat__read_child_failure(int fd, struct plat__child_failure *f)
{
	size_t got = 0;

	while (got < sizeof(*f)) {
		ssize_t n = read(fd, (char *)f + got, sizeof(*f) - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return got == sizeof(*f);
}

/*
 * drain() reads what the pipe holds now, up to max bytes, into output
 * (when not NULL) as far as its cap allows, discarding the rest so the
 * child never blocks on a full pipe. Returns 1 at EOF, 0 when the pipe is
 * empty or max was read, -1 on a read error (errno set).
 */
static int drain(int fd, struct buf *output, size_t max)
{
	char chunk[RUN_CHUNK];
	size_t total = 0;

	while (total < max) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		size_t room;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n < 0)
			return -1;
		if (n == 0)
			return 1;
		total += (size_t)n;
		if (!output)
			continue;
		room = output->cap - output->len;
		buf_add(output, chunk, (size_t)n < room ? (size_t)n : room);
	}
	return 0;
}

/* Kills the child's process group (and the child, should it have left
 * the group) and reaps the child. */
static void kill_and_reap(pid_t pid, int *wstatus)
{
	kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
	wait_child(pid, wstatus, 0);
}

/*
 * pump() forwards the child's output until the child exits or the
 * deadline passes, and reaps it. Sets *timed_out when it killed the child.
 * Returns 0, or TW_EIO when the pipe could not be read (the child is
 * killed and reaped) or the child could not be waited for.
 */
static int pump(pid_t pid, int fd, const struct plat_run_opts *opts,
		int *wstatus, bool *timed_out, struct buf *err)
{
	int64_t deadline = 0;
	int backoff = 1;
	bool eof = false;
	int rc = 0;

	if (opts->timeout_ms > 0)
		deadline = plat_monotonic_ms() + opts->timeout_ms;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	for (;;) {
		int slice = RUN_SLICE_MS;
		pid_t r;

		if (deadline) {
			int64_t left = deadline - plat_monotonic_ms();

			if (left <= 0) {
				kill_and_reap(pid, wstatus);
				*timed_out = true;
				goto out;
			}
			if (left < slice)
				slice = (int)left;
		}
		if (!eof) {
			struct pollfd p = { fd, POLLIN, 0 };

			if (poll(&p, 1, slice) > 0) {
				int d = drain(fd, opts->output, RUN_BURST);

				if (d < 0)
					goto read_error;
				eof = d == 1;
			}
		} else if (deadline) {
			/* Closing its output precedes becoming a zombie by a
			 * moment; back off from 1 ms. */
			poll(NULL, 0, backoff < slice ? backoff : slice);
			if (backoff < RUN_SLICE_MS)
				backoff *= 2;
		}
		/* Nothing to read and no clock to watch: just wait. */
		r = wait_child(pid, wstatus, eof && !deadline ? 0 : WNOHANG);
		if (r < 0) {
			/* ECHILD: SIGCHLD is ignored, the kernel reaped it. */
			buf_errf(err, "could not wait for \"%s\": %s",
				 opts->argv[0], plat_strerror(errno));
			rc = TW_EIO;
			goto out;
		}
		if (r == pid) {
			/* Whatever the child wrote before exiting fits in the
			 * pipe's buffer (at most 1 MiB on Linux). */
			if (!eof && drain(fd, opts->output, RUN_BURST) < 0)
				goto read_error;
			goto out;
		}
	}
read_error:
	buf_errf(err, "could not read the output of \"%s\": %s", opts->argv[0],
		 plat_strerror(errno));
	kill_and_reap(pid, wstatus);
	rc = TW_EIO;
out:
	return rc;
}

int plat_run(const struct plat_run_opts *opts, int *status, struct buf *err)
{
	struct run_user user = { NULL, 0, 0, NULL, 0 };
	struct buf why = BUF_INIT(BUF_SMALL_CAP);
	int outp[2] = { -1, -1 };
	int repp[2] = { -1, -1 };
	int devnull = -1;
	pid_t pid = -1;
	bool reaped = false;
	bool timed_out = false;
	struct plat__child_failure f;
	int wstatus = 0;
	int rc = 0;
	const char *prog;

	if (!opts || !opts->argv || !opts->argv[0] || !status)
		TW_BUG("plat_run() without a command or a status");
	prog = opts->argv[0];
	*status = -1;
	if (opts->run_as_user && geteuid() == 0) {
		rc = resolve_run_user(opts->run_as_user, &user, &why);
		if (rc < 0) {
			buf_errf(err, "could not run \"%s\": %s", prog,
				 why.ptr);
			rc = TW_EIO;
			goto fail;
		}
	}
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull < 0) {
		buf_errf(err, "could not open \"/dev/null\": %s",
			 plat_strerror(errno));
		rc = TW_EIO;
		goto fail;
	}
	if (pipe2(outp, O_CLOEXEC) != 0 || pipe2(repp, O_CLOEXEC) != 0) {
		buf_errf(err, "could not create pipe to run \"%s\": %s", prog,
			 plat_strerror(errno));
		rc = TW_EIO;
		goto fail;
	}
	pid = fork();
	if (pid < 0) {
		buf_errf(err, "could not fork to run \"%s\": %s", prog,
			 plat_strerror(errno));
		rc = TW_EIO;
		goto fail;
	}
	if (pid == 0)
		child_exec(opts, &user, devnull, outp[1], repp[1]);

	close(outp[1]);
	outp[1] = -1;
	close(repp[1]);
	repp[1] = -1;
	close(devnull);
	devnull = -1;

	if (plat__read_child_failure(repp[0], &f)) {
		wait_child(pid, &wstatus, 0);
		reaped = true;
		if (f.stage == STAGE_USER)
			buf_errf(err, "could not run \"%s\" as user \"%s\": %s",
				 prog, user.name, plat_strerror(f.err));
		else if (f.stage == STAGE_STREAMS)
			buf_errf(err,
				 "could not run \"%s\": could not redirect its "
				 "standard streams: %s",
				 prog, plat_strerror(f.err));
		else
			buf_errf(err, "could not run \"%s\": %s", prog,
				 plat_strerror(f.err));
		rc = TW_EIO;
		goto fail;
	}

	rc = pump(pid, outp[0], opts, &wstatus, &timed_out, err);
	reaped = true;
	if (rc < 0)
		goto fail;
	if (WIFEXITED(wstatus))
		*status = WEXITSTATUS(wstatus);
	else if (WIFSIGNALED(wstatus))
		*status = 128 + WTERMSIG(wstatus);
	if (timed_out) {
		buf_errf(err, "\"%s\" did not finish within %lld ms", prog,
			 (long long)opts->timeout_ms);
		rc = TW_ETIMEOUT;
	}
fail:
	if (pid > 0 && !reaped)
		kill_and_reap(pid, &wstatus);
	if (devnull >= 0)
		close(devnull);
	if (outp[0] >= 0)
		close(outp[0]);
	if (outp[1] >= 0)
		close(outp[1]);
	if (repp[0] >= 0)
		close(repp[0]);
	if (repp[1] >= 0)
		close(repp[1]);
	free(user.groups);
	buf_release(&why);
	return rc;
}

/* A regular file we may execute (root: one with any execute bit). */
static bool is_executable(const char *path)
{
	return plat_is_file(path) && access(path, X_OK) == 0;
}

/* Appends dir/name to out when that is an executable; true if so. */
static bool try_dir(const char *dir, size_t dirlen, const char *name,
		    struct buf *out)
{
	struct buf cand = BUF_INIT(PATH_MAX * 4);
	bool found = false;

	if (buf_add(&cand, dir, dirlen) < 0 || buf_addch(&cand, '/') < 0 ||
	    buf_adds(&cand, name) < 0)
		goto fail;
	if (!is_executable(cand.ptr))
		goto fail;
	found = buf_add(out, cand.ptr, cand.len) == 0;
fail:
	buf_release(&cand);
	return found;
}

/*
 * plat_find_program() appends the first executable match to path_out: a
 * name with a slash is checked as is; otherwise PATH is searched, then
 * extra_dirs. Empty PATH entries (the legacy spelling of ".") are skipped
 * on purpose: a server must not run programs from its working directory.
 * Returns 0 or TW_ENOTFOUND.
 */
int plat_find_program(const char *name, const char *const *extra_dirs,
		      struct buf *path_out)
{
	const char *path = getenv("PATH");
	const char *p;
	int rc = TW_ENOTFOUND;

	if (strchr(name, '/')) {
		if (is_executable(name) && buf_adds(path_out, name) == 0)
			rc = 0;
		goto out;
	}
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (p = path; *p;) {
		const char *end = strchr(p, ':');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (len > 0 && try_dir(p, len, name, path_out)) {
			rc = 0;
			goto out;
		}
		if (!end)
			break;
		p = end + 1;
	}
	for (; extra_dirs && *extra_dirs; extra_dirs++) {
		if (try_dir(*extra_dirs, strlen(*extra_dirs), name, path_out)) {
			rc = 0;
			goto out;
		}
	}
out:
	return rc;
}

bool plat_is_superuser(void)
{
	return geteuid() == 0;
}

int plat_chown_to_user(const char *path, const char *user, struct buf *err)
{
	uid_t uid;
	gid_t gid;
	int rc = 0;

	if (geteuid() != 0)
		goto out;
	rc = plat__lookup_user(user, &uid, &gid, err);
	if (rc < 0)
		goto out;
	if (chown(path, uid, gid) != 0) {
		buf_errf(err, "could not change owner of \"%s\" to \"%s\": %s",
			 path, user, plat_strerror(errno));
		rc = TW_EIO;
	}
out:
	return rc;
}

int plat_harden_process(struct buf *err)
{
	int rc = 0;

#ifdef __linux__
	/*
	 * Not dumpable: /proc/<pid>/environ, mem, maps, fd, cwd and ptrace
	 * then need CAP_SYS_PTRACE, so a process of the same user (a sandbox
	 * child that runs as we do) cannot read our secrets from them. A
	 * child's own execve() makes it dumpable again; that is its business.
	 */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
		buf_errf(err, "could not mark the process non-dumpable: %s",
			 plat_strerror(errno));
		rc = TW_EIO;
	}
#else
	(void)err;
#endif
	return rc;
}

void plat_env_wipe(const char *name)
{
	char *v = getenv(name);
	volatile char *p = v;

	/* Through a volatile pointer so the stores are not optimised away. */
	while (p && *p)
		*p++ = '\0';
	if (v)
		unsetenv(name);
}

int plat_cpu_count(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > INT_MAX ? INT_MAX : (int)n;
}
