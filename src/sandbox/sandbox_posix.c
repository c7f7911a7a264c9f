/*
 * sandbox_posix.c - the supervisor on Linux (and, minus the PID namespace,
 * PR_SET_PDEATHSIG and /proc sampling, other POSIX systems): a raw clone
 * into a PID namespace of the child's own (fork where the kernel refuses
 * one) + exec with the rules of plat_proc.c (everything prepared before
 * the clone, async-signal-safe calls only in the child, exec errors through
 * a CLOEXEC pipe), OS limits set in the child before exec, and a monitor
 * that samples /proc. The design and the exit classification are in
 * docs/internals/sandbox.md.
 */
#include "core/compat.h"
#include "core/err.h"
#include "core/mem.h"
#include "platform/plat.h"
#include "platform/posix/posix_int.h"
#include "sandbox/sandbox.h"
#include "sandbox/sandbox_int.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sched.h>
#include <sys/prctl.h>
#endif

/* One read() from a child's pipe. */
#define SBX_CHUNK 65536
/* Bytes read per sbx_read() call, so a chatty child cannot starve the
 * caller's other duties (sampling, heartbeats). */
#define SBX_READ_BURST ((size_t)4 * 1024 * 1024)
/* sbx_wait() polls at most this often while a timeout runs. */
#define SBX_WAIT_SLICE_MS 20

/* What the child reports when it cannot exec. */
enum child_stage {
	STAGE_PARENT = 1,
	STAGE_USER,
	STAGE_STREAMS,
	STAGE_DIR,
	STAGE_LIMITS,
	STAGE_EXEC
};

/* The OS limits, computed in the parent because the child may not
 * allocate or call non-async-signal-safe functions. */
struct child_limits {
	int resource[5];
	struct rlimit value[5];
	int n;
};

/* The user the child runs as, resolved in the parent; active false: the
 * child keeps the supervisor's credentials. */
struct child_user {
	bool active;
	uid_t uid;
	gid_t gid;
};

/*
 * How the child is started (Linux), chosen in the parent: the namespace
 * flags of its clone, 0 for a plain fork.
 */
struct child_ns {
	unsigned long flags;
};

struct sbx_child {
	pid_t pid;
	int fd[3]; /* our ends: stdin (write), stdout, stderr (read) */
	char *dir;
	struct sbx_limits limits;
	long clk_tck;
	long page_size;
	int64_t start_ms;
	int64_t last_ms;
	double last_cpu;
	struct sbx__cpu_run cpu_run;
	enum sbx_outcome killed_why; /* SBX_RUNNING until we kill */
	bool reaped;
	unsigned long ns_flags;	  /* its clone's CLONE_NEW*: 0 after a fork */
	struct proc_entry *procs; /* sample_tree()'s scratch: every process */
	long *ours;		  /* and the pids of the child's tree */
	size_t nprocs_cap;
	struct sbx_sample last;
	struct sbx_exit exit;
};

#ifdef __linux__
/*
 * host_ppid() is our parent's pid as the host sees it, from field 4 of
 * /proc/self/stat (the /proc of the supervisor's PID namespace: its numbers
 * are the host's); -1 when it cannot be read. Inside our own PID namespace
 * getppid() says 0 whoever the parent is. Async-signal-safe.
 */
static long host_ppid(void)
{
	char text[512];
	const char *p = NULL;
	long v = 0;
	ssize_t n, got = 0;
	int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	while ((size_t)got + 1 < sizeof(text)) {
		n = read(fd, text + got, sizeof(text) - 1 - (size_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += n;
	}
	close(fd);
	text[got > 0 ? got : 0] = '\0';
	/* "pid (comm) S ppid ...": comm may hold ") ", so the last ')'. */
	for (ssize_t i = 0; i < got; i++) {
		if (text[i] == ')')
			p = text + i;
	}
	if (!p || p[1] != ' ' || !p[2] || p[3] != ' ')
		return -1;
	for (p += 4; *p >= '0' && *p <= '9'; p++)
		v = v * 10 + (*p - '0');
	return *p == ' ' ? v : -1;
}

/*
 * set_ids() switches to user u with raw system calls. After a raw clone
 * glibc still believes the process has the worker's threads, and its
 * setuid() and friends would signal them all (the "setxid broadcast") and
 * wait for answers that never come; the child has one thread, and the raw
 * calls change exactly that one.
 */
static int set_ids(const struct child_user *u)
{
	gid_t groups[1];

	groups[0] = u->gid;
#ifdef SYS_setgroups32
	if (syscall(SYS_setgroups32, 1, groups) != 0)
		return -1;
#else
	if (syscall(SYS_setgroups, 1, groups) != 0)
		return -1;
#endif
#ifdef SYS_setresgid32
	if (syscall(SYS_setresgid32, u->gid, u->gid, u->gid) != 0 ||
	    syscall(SYS_setresuid32, u->uid, u->uid, u->uid) != 0)
		return -1;
#else
	if (syscall(SYS_setresgid, u->gid, u->gid, u->gid) != 0 ||
	    syscall(SYS_setresuid, u->uid, u->uid, u->uid) != 0)
		return -1;
#endif
	return 0;
}
#else
static int set_ids(const struct child_user *u)
{
	if (setgroups(1, &u->gid) != 0 || setgid(u->gid) != 0 ||
	    setuid(u->uid) != 0)
		return -1;
	return 0;
}
#endif

/*
 * child_exec() runs in the cloned (or forked) child and never returns.
 * Only async-signal-safe calls from here on. pipes holds the child's ends:
 * stdin (read), stdout, stderr (write).
 */
static TW_NORETURN void child_exec(const struct sbx_opts *opts,
				   char *const *envp, const char *dir,
				   const struct child_limits *lim,
				   const struct child_user *user,
				   const struct child_ns *ns, pid_t parent,
				   const int pipes[3], int repw)
{
	struct sigaction sa;
	sigset_t none;
	int fds[3];
	int i, sig;

	/* Own process group: a kill of -pid takes everything the child
	 * starts, and a Ctrl-C to the worker's terminal does not reach it. */
	setpgid(0, 0);
	/*
	 * Drop root before anything else, and before PR_SET_PDEATHSIG, which
	 * a change of credentials clears. Groups first (only the user's
	 * primary group: no supplementary group of root's), then gid, then
	 * uid: after setuid() the other two can no longer change. Setting
	 * the real, effective and saved uid as root leaves no way back.
	 */
	if (user->active && set_ids(user) != 0)
		plat__child_fail(repw, STAGE_USER, errno);
#ifdef __linux__
	/*
	 * Die with the worker, even on kill -9. PDEATHSIG fires when the
	 * thread that forked exits, so the worker spawns from long-lived
	 * threads. The worker may have died between the clone and prctl():
	 * then we were re-parented already. getppid() tells, except in our
	 * own PID namespace, where it says 0 whoever the parent is: there
	 * the host's /proc does.
	 */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
		plat__child_fail(repw, STAGE_PARENT, errno);
	if (ns->flags & CLONE_NEWPID) {
		if (host_ppid() != (long)parent)
			_exit(127);
	} else if (getppid() != parent) {
		_exit(127);
	}
#else
	(void)ns;
	if (getppid() != parent)
		_exit(127);
#endif

	/* The worker blocks or ignores some signals (plat_shutdown_init);
	 * mask and SIG_IGN survive exec, SIG_DFL is what a child expects. */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	for (sig = 1; sig < NSIG; sig++)
		sigaction(sig, &sa, NULL); /* fails harmlessly for KILL/STOP */

	/* Move our descriptors above 2 first: a parent started with 0, 1 or
	 * 2 closed can get them from pipe2(), and dup2() onto those would
	 * clobber one with another. */
	repw = fcntl(repw, F_DUPFD_CLOEXEC, 3);
	if (repw < 0)
		_exit(127);
	for (i = 0; i < 3; i++) {
		fds[i] = fcntl(pipes[i], F_DUPFD_CLOEXEC, 3);
		if (fds[i] < 0)
			plat__child_fail(repw, STAGE_STREAMS, errno);
	}
	for (i = 0; i < 3; i++) {
		if (dup2(fds[i], i) < 0) /* dup2 clears CLOEXEC */
			plat__child_fail(repw, STAGE_STREAMS, errno);
	}
	/* Only the three pipe ends (and the report pipe, CLOEXEC) stay. */
	plat__close_fd_range(3, repw - 1);
	plat__close_fd_range(repw + 1, INT_MAX);

	if (chdir(dir) != 0)
		plat__child_fail(repw, STAGE_DIR, errno);
	/* Last, so RLIMIT_NOFILE cannot break the steps above. */
	for (i = 0; i < lim->n; i++) {
		if (setrlimit(lim->resource[i], &lim->value[i]) != 0)
			plat__child_fail(repw, STAGE_LIMITS, errno);
	}
	execve(opts->argv[0], (char *const *)opts->argv, envp);
	plat__child_fail(repw, STAGE_EXEC, errno);
}

/*
 * add_limit() records resource = soft/hard for the child, clamped to the
 * current hard limit: an unprivileged process may lower but not raise it,
 * and a limit already stricter than asked is kept.
 */
static void add_limit(struct child_limits *lim, int resource, rlim_t soft,
		      rlim_t hard)
{
	struct rlimit cur, want;

	want.rlim_cur = soft;
	want.rlim_max = hard;
	if (getrlimit(resource, &cur) == 0 && cur.rlim_max != RLIM_INFINITY) {
		if (want.rlim_max > cur.rlim_max)
			want.rlim_max = cur.rlim_max;
		if (want.rlim_cur > cur.rlim_max)
			want.rlim_cur = cur.rlim_max;
	}
	lim->resource[lim->n] = resource;
	lim->value[lim->n] = want;
	lim->n++;
}

static void prepare_limits(const struct sbx_limits *l, struct child_limits *lim)
{
	int64_t mem = sbx__os_memory_limit(l->memory_bytes);

	lim->n = 0;
	/* A core dump of a data job holds its data; never write one. */
	add_limit(lim, RLIMIT_CORE, 0, 0);
	if (mem > 0)
		add_limit(lim, RLIMIT_DATA, (rlim_t)mem, (rlim_t)mem);
	/* SIGXCPU at the soft limit; a child that catches or ignores it gets
	 * SIGKILL one second later at the hard limit. */
	if (l->cpu_seconds > 0)
		add_limit(lim, RLIMIT_CPU, (rlim_t)l->cpu_seconds,
			  (rlim_t)l->cpu_seconds + 1);
	if (l->file_bytes > 0)
		add_limit(lim, RLIMIT_FSIZE, (rlim_t)l->file_bytes,
			  (rlim_t)l->file_bytes);
	if (l->max_files > 0)
		add_limit(lim, RLIMIT_NOFILE, (rlim_t)l->max_files,
			  (rlim_t)l->max_files);
}

/* Frees a NULL-terminated array of strings. */
static void free_strv(char **v)
{
	size_t i;

	for (i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/*
 * build_env() returns a NULL-terminated "KEY=VALUE" array (freed with
 * free_strv): each name of allow that is set in our environment, then
 * extra. Nothing else of the worker's environment is passed.
 */
static char **build_env(const char *const *allow, const char *const *extra)
{
	size_t n = 1, i = 0;
	char **env;

	for (const char *const *p = allow; p && *p; p++)
		n++;
	for (const char *const *p = extra; p && *p; p++)
		n++;
	env = xcalloc(n, sizeof(*env));
	for (const char *const *p = allow; p && *p; p++) {
		const char *v = getenv(*p);
		struct buf kv = BUF_INIT((size_t)1024 * 1024);

		if (!v || strchr(*p, '='))
			continue;
		/* A value past 1 MiB is not passed (execve would refuse). */
		if (buf_addf(&kv, "%s=%s", *p, v) == 0)
			env[i++] = buf_detach(&kv, NULL);
		buf_release(&kv);
	}
	for (const char *const *p = extra; p && *p; p++)
		env[i++] = xstrdup(*p);
	env[i] = NULL;
	return env;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static const char *stage_name(int stage)
{
	switch (stage) {
	case STAGE_PARENT:
		return "could not tie it to the worker's life";
	case STAGE_USER:
		return "could not switch to the sandbox user";
	case STAGE_STREAMS:
		return "could not set up its standard streams";
	case STAGE_DIR:
		return "could not enter its job directory";
	case STAGE_LIMITS:
		return "could not set its resource limits";
	default:
		return "could not execute it";
	}
}

/*
 * resolve_user() fills u for run_as_user: inactive unless we are root and
 * a user is named. The user must exist and must not be root.
 */
static int resolve_user(const char *name, struct child_user *u, struct buf *err)
{
	int rc = 0;

	memset(u, 0, sizeof(*u));
	if (!name || geteuid() != 0)
		goto out;
	rc = plat__lookup_user(name, &u->uid, &u->gid, err);
	if (rc < 0)
		goto out;
	if (u->uid == 0) {
		buf_errf(err,
			 "the sandbox user \"%s\" is root: the child must "
			 "run as an unprivileged user",
			 name);
		rc = TW_EINVAL;
		goto out;
	}
	u->active = true;
out:
	return rc;
}

int sbx_check_user(const char *user, bool *drops, struct buf *err)
{
	struct child_user u;
	int rc = resolve_user(user, &u, err);

	*drops = rc == 0 && u.active;
	return rc;
}

/*
 * give_dir() hands the fresh job directory to the child's user, owner
 * only (0700): the only place the child may write, and no other user's
 * to read.
 */
static int give_dir(const char *dir, const struct child_user *u,
		    const char *name, struct buf *err)
{
	int rc = 0;

	if (!u->active)
		goto out;
	if (chown(dir, u->uid, u->gid) != 0 || chmod(dir, 0700) != 0) {
		buf_errf(err,
			 "could not give the job directory \"%s\" to the "
			 "sandbox user \"%s\": %s",
			 dir, name, plat_strerror(errno));
		rc = TW_EIO;
	}
out:
	return rc;
}

/*
 * A hint for a child that could not start as the sandbox user: the usual
 * cause is a path that user cannot reach (a directory of mode 700 on the
 * way, such as root's home with a pyenv interpreter in it).
 */
static const char *user_hint(int stage, int e, const struct child_user *u)
{
	if (!u->active || (e != EACCES && e != EPERM))
		return "";
	if (stage == STAGE_DIR)
		return " (the sandbox user must be able to reach "
		       "TW_SANDBOX_DIR: every directory on its path needs "
		       "the x permission for others)";
	if (stage == STAGE_EXEC)
		return " (the sandbox user must be able to read and execute "
		       "the program, and reach it: every directory on its "
		       "path needs the x permission for others)";
	return "";
}

#ifdef __linux__
/*
 * no_pidns_for_tests() is TW_TEST_SANDBOX_NO_PIDNS=1: start children the
 * way a kernel without namespaces would have us, so that the tests can
 * drive the fallback on a machine that has them. Read in the parent only.
 */
static bool no_pidns_for_tests(void)
{
	const char *v = getenv("TW_TEST_SANDBOX_NO_PIDNS");

	return v && strcmp(v, "1") == 0;
}

/*
 * choose_ns() fills ns: a root supervisor (which may create a PID
 * namespace) gets CLONE_NEWPID alone; anyone else needs a user namespace to
 * be allowed one. No uid or gid map is written there: the child keeps the
 * supervisor's uid and gid as the kernel checks them (it reads and writes
 * exactly what it would have), sees them as the overflow id (65534), and
 * as it is not the namespace's root its exec leaves it no capability. A
 * map would have to be written to the child's /proc/self/uid_map, which
 * belongs to root until the child has exec'd (it is a copy of the worker,
 * which is not dumpable), and making the child dumpable for that would
 * open a copy of the worker's memory to processes of its user for a while.
 * flags 0: a plain fork.
 */
static void choose_ns(struct child_ns *ns)
{
	memset(ns, 0, sizeof(*ns));
	if (no_pidns_for_tests())
		return;
	ns->flags = geteuid() == 0 ? CLONE_NEWPID
				   : CLONE_NEWUSER | CLONE_NEWPID;
}

/*
 * ns_refused() tells whether a clone's errno means "no namespace here"
 * rather than a failure a fork would share: EPERM (no privilege, a
 * container's seccomp profile, user namespaces restricted), EINVAL (a
 * kernel without them), ENOSPC / EUSERS (user.max_*_namespaces reached or
 * 0), ENOSYS.
 */
static bool ns_refused(int e)
{
	return e == EPERM || e == EINVAL || e == ENOSPC || e == EUSERS ||
	       e == ENOSYS;
}

/*
 * clone_child() is fork() into the namespaces of ns->flags: a raw clone
 * with SIGCHLD and no new stack (the child goes on from here on a copy of
 * ours, as after fork). Where the kernel refuses the namespaces, a fork,
 * and ns->flags is cleared so that the child knows.
 */
static pid_t clone_child(struct child_ns *ns)
{
	long r;

	if (ns->flags == 0)
		return fork();
	r = syscall(SYS_clone, (unsigned long)SIGCHLD | ns->flags, NULL, NULL,
		    NULL, NULL);
	if (r >= 0 || !ns_refused(errno))
		return (pid_t)r;
	ns->flags = 0;
	return fork();
}

bool sbx_tree_contained(struct buf *why)
{
	struct child_ns ns;
	siginfo_t info;
	pid_t pid;
	bool rc = false;

	choose_ns(&ns);
	if (ns.flags == 0) {
		buf_errf(why, "TW_TEST_SANDBOX_NO_PIDNS=1 is set");
		goto out;
	}
	pid = (pid_t)syscall(SYS_clone, (unsigned long)SIGCHLD | ns.flags, NULL,
			     NULL, NULL, NULL);
	if (pid == 0)
		_exit(0);
	if (pid < 0) {
		buf_errf(why, "the kernel refused a PID namespace%s: %s",
			 (ns.flags & CLONE_NEWUSER) ? " in a user namespace"
						    : "",
			 plat_strerror(errno));
		goto out;
	}
	memset(&info, 0, sizeof(info));
	while (waitid(P_PID, (id_t)pid, &info, WEXITED) != 0 && errno == EINTR)
		;
	rc = true;
out:
	return rc;
}
#else
static void choose_ns(struct child_ns *ns)
{
	memset(ns, 0, sizeof(*ns));
}

static pid_t clone_child(struct child_ns *ns)
{
	(void)ns;
	return fork();
}

bool sbx_tree_contained(struct buf *why)
{
	buf_errf(why, "this system has no PID namespaces");
	return false;
}
#endif

int sbx_spawn(const struct sbx_opts *opts, struct sbx_child **out,
	      struct buf *err)
{
	struct child_user user;
	struct buf dir = BUF_INIT(PATH_MAX * 4);
	struct child_limits lim;
	struct sbx_child *c = NULL;
	int pipes[3][2] = { { -1, -1 }, { -1, -1 }, { -1, -1 } };
	int repp[2] = { -1, -1 };
	char **envp = NULL;
	struct plat__child_failure f;
	struct child_ns ns;
	pid_t parent = getpid();
	pid_t pid;
	int i, rc;

	if (!opts || !opts->argv || !opts->argv[0] || !out)
		TW_BUG("sbx_spawn() without a command");
	*out = NULL;
	if (opts->argv[0][0] != '/') {
		buf_errf(err, "could not start \"%s\": not an absolute path",
			 opts->argv[0]);
		rc = TW_EINVAL;
		goto out;
	}
	rc = sbx__child_dir(opts, &dir, err);
	if (rc < 0)
		goto out;
	rc = resolve_user(opts->run_as_user, &user, err);
	if (rc < 0)
		goto out;
	rc = sbx__make_job_dir(dir.ptr, err);
	if (rc == 0)
		rc = give_dir(dir.ptr, &user, opts->run_as_user, err);
	if (rc < 0)
		goto out;
	envp = build_env(opts->env_allow, opts->env_extra);
	prepare_limits(&opts->limits, &lim);
	choose_ns(&ns);
	/* All CLOEXEC from birth: a fork in another thread (another job's
	 * spawn) must not inherit them, or our child never sees EOF. */
	for (i = 0; i < 3; i++) {
		if (pipe2(pipes[i], O_CLOEXEC) != 0)
			goto pipe_fail;
	}
	if (pipe2(repp, O_CLOEXEC) != 0)
		goto pipe_fail;

	c = xcalloc(1, sizeof(*c));
	c->pid = -1;
	c->limits = opts->limits;
	c->dir = buf_detach(&dir, NULL);
	c->clk_tck = sysconf(_SC_CLK_TCK);
	c->page_size = sysconf(_SC_PAGESIZE);
	c->cpu_run.since_ms = -1;
	c->killed_why = SBX_RUNNING;
	c->fd[0] = pipes[0][1];
	c->fd[1] = pipes[1][0];
	c->fd[2] = pipes[2][0];
	pipes[0][1] = -1; /* owned by c now */
	pipes[1][0] = -1;
	pipes[2][0] = -1;
	c->start_ms = plat_monotonic_ms();
	c->last_ms = c->start_ms;

	pid = clone_child(&ns);
	if (pid < 0) {
		buf_errf(err, "could not fork to run \"%s\": %s", opts->argv[0],
			 plat_strerror(errno));
		rc = TW_EIO;
		goto out;
	}
	if (pid == 0) {
		int child_ends[3] = { pipes[0][0], pipes[1][1], pipes[2][1] };

		child_exec(opts, envp, c->dir, &lim, &user, &ns, parent,
			   child_ends, repp[1]);
	}
	c->pid = pid;
	c->ns_flags = ns.flags;
	/* Also from the parent, so a kill of the group right after
	 * sbx_spawn() returns cannot miss a child not yet scheduled. */
	setpgid(pid, pid);
	close_fd(&pipes[0][0]);
	close_fd(&pipes[1][1]);
	close_fd(&pipes[2][1]);
	close_fd(&repp[1]);
	for (i = 0; i < 3; i++)
		fcntl(c->fd[i], F_SETFL, fcntl(c->fd[i], F_GETFL) | O_NONBLOCK);

	if (plat__read_child_failure(repp[0], &f)) {
		buf_errf(err, "could not start \"%s\": %s: %s%s", opts->argv[0],
			 stage_name(f.stage), plat_strerror(f.err),
			 user_hint(f.stage, f.err, &user));
		rc = TW_EIO;
		goto out;
	}
	*out = c;
	c = NULL; /* the caller's now */
	rc = 0;
	goto out;
pipe_fail:
	buf_errf(err, "could not create pipes to run \"%s\": %s", opts->argv[0],
		 plat_strerror(errno));
	rc = TW_EIO;
out:
	for (i = 0; i < 3; i++) {
		close_fd(&pipes[i][0]);
		close_fd(&pipes[i][1]);
	}
	close_fd(&repp[0]);
	close_fd(&repp[1]);
	if (c) {
		sbx_child_free(c);
	} else if (rc < 0 && dir.len > 0) {
		plat_remove_tree(dir.ptr, NULL);
	}
	free_strv(envp);
	buf_release(&dir);
	return rc;
}

/*
 * write_nosigpipe() is write() without SIGPIPE: a child that exited makes
 * the write fail with EPIPE, and the signal that comes with it would kill a
 * worker that has not ignored SIGPIPE (tests, embedders). The signal is
 * blocked in this thread for the call and a pending one is consumed, the
 * method of git's and libcurl's SIGPIPE handling.
 */
static ssize_t write_nosigpipe(int fd, const void *data, size_t len)
{
	sigset_t pipe_set, old;
	struct timespec zero = { 0, 0 };
	ssize_t n;
	int e;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	n = write(fd, data, len);
	e = errno;
	if (n < 0 && e == EPIPE && !sigismember(&old, SIGPIPE)) {
		while (sigtimedwait(&pipe_set, NULL, &zero) < 0 &&
		       errno == EINTR)
			;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = e;
	return n;
}

int sbx_write(struct sbx_child *c, const void *data, size_t len,
	      struct buf *err)
{
	const char *p = data;
	int rc = 0;

	if (c->fd[0] < 0) {
		buf_errf(err, "could not write to the child: stdin is closed");
		rc = TW_EIO;
		goto out;
	}
	while (len > 0) {
		ssize_t n = write_nosigpipe(c->fd[0], p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd pfd = { c->fd[0], POLLOUT, 0 };

			poll(&pfd, 1, 250);
			continue;
		}
		if (n < 0) {
			buf_errf(err, "could not write to the child: %s",
				 plat_strerror(errno));
			rc = TW_EIO;
			goto out;
		}
		p += n;
		len -= (size_t)n;
	}
out:
	return rc;
}

void sbx_close_stdin(struct sbx_child *c)
{
	close_fd(&c->fd[0]);
}

int sbx_read(struct sbx_child *c, int which, struct buf *out,
	     int64_t timeout_ms, bool *eof, struct buf *err)
{
	char chunk[SBX_CHUNK];
	size_t total = 0;
	int *fd;
	int rc = 0;

	if (which != 1 && which != 2)
		TW_BUG("sbx_read() of stream %d", which);
	fd = &c->fd[which];
	*eof = *fd < 0;
	if (*eof)
		goto out;
	if (timeout_ms != 0) {
		struct pollfd pfd = { *fd, POLLIN, 0 };
		int t = timeout_ms < 0 || timeout_ms > INT_MAX
				? -1
				: (int)timeout_ms;
		int r;

		do {
			r = poll(&pfd, 1, t);
		} while (r < 0 && errno == EINTR);
		if (r == 0)
			goto out;
	}
	while (total < SBX_READ_BURST) {
		size_t room = out->cap - out->len;
		ssize_t n;

		if (room == 0) {
			buf_errf(err, "the child's output exceeds %zu bytes",
				 out->cap);
			rc = TW_ETOOBIG;
			goto out;
		}
		n = read(*fd, chunk,
			 room < sizeof(chunk) ? room : sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0) {
			buf_errf(err, "could not read from the child: %s",
				 plat_strerror(errno));
			rc = TW_EIO;
			goto out;
		}
		if (n == 0) {
			close_fd(fd);
			*eof = true;
			break;
		}
		buf_add(out, chunk, (size_t)n);
		total += (size_t)n;
	}
out:
	return rc;
}

/*
 * read_proc() reads a small /proc file into b (reset first); false when it
 * is gone (the process exited) or unreadable.
 */
static bool read_proc(const char *path, char *b, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t got = 0;
	ssize_t n;

	if (fd < 0)
		return false;
	while (got + 1 < size) {
		n = read(fd, b + got, size - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	b[got] = '\0';
	return got > 0;
}

/* What sample_tree() reads of one process. */
struct proc_entry {
	long pid;
	long ppid;
	long pgrp;
	unsigned long long cpu_ticks; /* utime + stime + cutime + cstime */
	bool ours;
};

/*
 * parse_stat() reads /proc/<pid>/stat. The command name (field 2) is in
 * parentheses and may hold spaces and ')', so fields are counted from the
 * last ')'. Fields (proc(5)): 4 ppid, 5 pgrp, 14 utime, 15 stime,
 * 16 cutime, 17 cstime. Its numbers are those of the PID namespace /proc
 * was mounted in, the supervisor's, even for a child in a namespace of its
 * own.
 */
static bool parse_stat(const char *pid, struct proc_entry *ps)
{
	char path[320], text[1024];
	const char *p;
	int field;

	snprintf(path, sizeof(path), "/proc/%s/stat", pid);
	if (!read_proc(path, text, sizeof(text)))
		return false;
	p = strrchr(text, ')');
	if (!p)
		return false;
	p++;
	memset(ps, 0, sizeof(*ps));
	ps->pid = strtol(pid, NULL, 10);
	for (field = 3; field <= 17 && *p; field++) {
		char *end;

		while (*p == ' ')
			p++;
		if (field == 4)
			ps->ppid = strtol(p, &end, 10);
		else if (field == 5)
			ps->pgrp = strtol(p, &end, 10);
		else if (field >= 14 && field <= 17)
			ps->cpu_ticks += strtoull(p, &end, 10);
		while (*p && *p != ' ')
			p++;
	}
	return field > 17;
}

/*
 * read_statm() reads the resident size (field 2, what psutil reports as
 * rss; stat's field 24 comes from per-thread cached counters and lags) and
 * the committed data (field 6: data + stack, what RLIMIT_DATA limits on
 * Linux 4.7+ apart from the stack) of pid, in pages.
 */
static void read_statm(long pid, long long *rss, long long *data)
{
	char path[320], text[256];
	long long v[6] = { 0 };

	snprintf(path, sizeof(path), "/proc/%ld/statm", pid);
	if (!read_proc(path, text, sizeof(text)))
		return;
	if (sscanf(text, "%lld %lld %lld %lld %lld %lld", &v[0], &v[1], &v[2],
		   &v[3], &v[4], &v[5]) != 6)
		return;
	*rss += v[1];
	*data += v[5];
}

static int by_ppid(const void *a, const void *b)
{
	long x = ((const struct proc_entry *)a)->ppid;
	long y = ((const struct proc_entry *)b)->ppid;

	return (x > y) - (x < y);
}

/*
 * mark_tree() marks, among the n processes of c->procs, the child, the
 * members of its process group, and every descendant of one of those, and
 * returns whether the child itself is there. Descendants count even when
 * they left the group (setsid()); in the child's own PID namespace every
 * process in it is one, since the child inherits the orphans. The entries
 * are sorted by parent, and each marked process's children are found by
 * binary search (c->ours is the queue of those still to look at), so that
 * a tree of thousands of processes costs n log n, not n squared.
 */
static bool mark_tree(struct sbx_child *c, size_t n)
{
	struct proc_entry *e = c->procs;
	size_t nours = 0, next = 0, i;
	bool found = false;

	qsort(e, n, sizeof(*e), by_ppid);
	for (i = 0; i < n; i++) {
		e[i].ours = e[i].pid == (long)c->pid ||
			    e[i].pgrp == (long)c->pid;
		found = found || e[i].pid == (long)c->pid;
		if (e[i].ours)
			c->ours[nours++] = e[i].pid;
	}
	while (found && next < nours) {
		long parent = c->ours[next++];
		size_t lo = 0, hi = n;

		while (lo < hi) { /* the first entry with ppid >= parent */
			size_t mid = lo + (hi - lo) / 2;

			if (e[mid].ppid < parent)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (i = lo; i < n && e[i].ppid == parent; i++) {
			if (!e[i].ours) {
				e[i].ours = true;
				c->ours[nours++] = e[i].pid;
			}
		}
	}
	return found;
}

/*
 * sample_tree() sums CPU time, resident and committed memory over the
 * child's tree: the child itself, its process group and every descendant
 * (see mark_tree()). A grandchild that left the group and was orphaned
 * is still seen in the child's own PID namespace, but not in the fork
 * fallback; see docs/internals/sandbox.md. Returns false when /proc has
 * nothing on the child.
 */
static bool sample_tree(struct sbx_child *c, struct sbx_sample *s)
{
	unsigned long long ticks = 0;
	long long rss = 0, data = 0;
	size_t n = 0, i;
	bool found;
	DIR *d;
	struct dirent *de;

	d = opendir("/proc");
	while (d) {
		de = readdir(d);
		if (!de)
			break;
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		if (n == c->nprocs_cap) {
			c->nprocs_cap = c->nprocs_cap ? 2 * c->nprocs_cap : 256;
			c->procs = xrealloc(c->procs,
					    c->nprocs_cap * sizeof(*c->procs));
			c->ours = xrealloc(c->ours,
					   c->nprocs_cap * sizeof(*c->ours));
		}
		if (parse_stat(de->d_name, &c->procs[n]))
			n++;
	}
	if (d)
		closedir(d);
	found = mark_tree(c, n);
	if (!found)
		return false;
	for (i = 0; i < n; i++) {
		if (!c->procs[i].ours)
			continue;
		ticks += c->procs[i].cpu_ticks;
		read_statm(c->procs[i].pid, &rss, &data);
	}
	s->cpu_seconds = c->clk_tck > 0 ? (double)ticks / (double)c->clk_tck
					: 0;
	s->rss_bytes = rss * c->page_size;
	s->commit_bytes = data * c->page_size;
	return true;
}

/*
 * has_exited() tells whether pid has ended, without reaping it. sbx_poll()
 * asks first so that a child that exited just before its time was up is
 * classified by how it ended, not judged (and "killed") as a zombie.
 */
static bool has_exited(pid_t pid)
{
	siginfo_t info;

	memset(&info, 0, sizeof(info));
	if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) != 0)
		return false;
	return info.si_pid == pid;
}

enum sbx_outcome sbx_poll(struct sbx_child *c, struct sbx_sample *sample)
{
	struct sbx_sample s = c->last;
	enum sbx_outcome why;
	int64_t now = plat_monotonic_ms();

	if (!c->reaped && c->pid > 0 && has_exited(c->pid))
		sbx_wait(c, 0, NULL, NULL);
	if (c->reaped) {
		why = c->exit.outcome;
		goto out;
	}
	s.wall_ms = now - c->start_ms;
	if (sample_tree(c, &s)) {
		double dt = (double)(now - c->last_ms) / 1000.0;

		/* psutil's formula: not divided by the number of cores. */
		if (dt > 0) {
			s.cpu_percent =
				100.0 * (s.cpu_seconds - c->last_cpu) / dt;
			if (s.cpu_percent < 0)
				s.cpu_percent = 0;
			c->last_cpu = s.cpu_seconds;
			c->last_ms = now;
		}
		if (s.rss_bytes > s.peak_rss_bytes)
			s.peak_rss_bytes = s.rss_bytes;
	}
	c->last = s;
	why = c->killed_why;
	if (why != SBX_RUNNING)
		goto out;
	why = sbx__judge(&c->limits, &s, &c->cpu_run);
	if (why != SBX_RUNNING)
		sbx_kill(c, why);
out:
	if (sample)
		*sample = c->last;
	return why;
}

void sbx_kill(struct sbx_child *c, enum sbx_outcome why)
{
	if (c->pid <= 0 || c->reaped)
		return;
	/* The first reason wins: a cancel after a timeout kill is still a
	 * timeout. */
	if (c->killed_why == SBX_RUNNING)
		c->killed_why = why;
	/* The group, then the child should it have left the group. Until it
	 * is reaped the child's pid cannot be reused, so neither can hit a
	 * stranger. */
	kill(-c->pid, SIGKILL);
	kill(c->pid, SIGKILL);
}

/* The outcome of a reaped child with wait status st and CPU time cpu_s. */
static void classify(struct sbx_child *c, int st, double cpu_s)
{
	struct sbx_exit *ex = &c->exit;
	int sig;

	memset(ex, 0, sizeof(*ex));
	ex->last = c->last;
	if (cpu_s > ex->last.cpu_seconds)
		ex->last.cpu_seconds = cpu_s;
	if (c->killed_why != SBX_RUNNING) {
		/* Our kill wins over how it looks: a child we killed for
		 * memory may have exited on its own failed malloc meanwhile,
		 * but the reason it stopped is ours. */
		ex->outcome = c->killed_why;
		if (WIFSIGNALED(st))
			ex->signal = WTERMSIG(st);
		else if (WIFEXITED(st))
			ex->exit_code = WEXITSTATUS(st);
		return;
	}
	if (WIFEXITED(st)) {
		ex->outcome = SBX_EXITED;
		ex->exit_code = WEXITSTATUS(st);
		return;
	}
	sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
	ex->signal = sig;
	ex->outcome = SBX_CRASHED;
	/* RLIMIT_CPU: SIGXCPU at the soft limit, SIGKILL at the hard one.
	 * A SIGKILL we did not send counts as the backstop only when the
	 * child's CPU time says so (the OOM killer sends SIGKILL too). */
	if (sig == SIGXCPU)
		ex->outcome = SBX_KILLED_CPU;
	else if (sig == SIGKILL && c->limits.cpu_seconds > 0 &&
		 cpu_s >= (double)c->limits.cpu_seconds)
		ex->outcome = SBX_KILLED_CPU;
}

int sbx_wait(struct sbx_child *c, int64_t timeout_ms, struct sbx_exit *ex,
	     struct buf *err)
{
	int64_t deadline = timeout_ms < 0 ? -1
					  : plat_monotonic_ms() + timeout_ms;
	int backoff = 1;
	siginfo_t info;
	struct rusage ru;
	int st = 0;
	pid_t r;
	int rc = 0;

	if (c->reaped)
		goto done;
	if (c->pid <= 0)
		TW_BUG("sbx_wait() on a child that never started");
	/*
	 * Wait without reaping (WNOWAIT) first: while the child is a zombie
	 * its pid, and so its process group id, cannot be reused, so the
	 * group kill below reaches only its own strays (a grandchild left
	 * running) and never a stranger.
	 */
	for (;;) {
		int flags = WEXITED | WNOWAIT | (timeout_ms < 0 ? 0 : WNOHANG);

		memset(&info, 0, sizeof(info));
		r = waitid(P_PID, (id_t)c->pid, &info, flags);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			buf_errf(err, "could not wait for child %ld: %s",
				 (long)c->pid, plat_strerror(errno));
			rc = TW_EIO;
			goto out;
		}
		if (info.si_pid == c->pid)
			break;
		if (plat_monotonic_ms() >= deadline) {
			rc = TW_ETIMEOUT;
			goto out;
		}
		plat_sleep_ms(backoff);
		if (backoff < SBX_WAIT_SLICE_MS)
			backoff *= 2;
	}
	kill(-c->pid, SIGKILL);
	do {
		r = wait4(c->pid, &st, 0, &ru);
	} while (r < 0 && errno == EINTR);
	if (r != c->pid) {
		buf_errf(err, "could not reap child %ld: %s", (long)c->pid,
			 plat_strerror(errno));
		rc = TW_EIO;
		goto out;
	}
	c->reaped = true;
	c->last.wall_ms = plat_monotonic_ms() - c->start_ms;
	/*
	 * The kernel's high-water mark (KiB on Linux) covers what happened
	 * between samples too, and a child that lived less than one sample.
	 */
	if ((int64_t)ru.ru_maxrss * 1024 > c->last.peak_rss_bytes)
		c->last.peak_rss_bytes = (int64_t)ru.ru_maxrss * 1024;
	classify(c, st,
		 (double)ru.ru_utime.tv_sec +
			 (double)ru.ru_utime.tv_usec / 1e6 +
			 (double)ru.ru_stime.tv_sec +
			 (double)ru.ru_stime.tv_usec / 1e6);
done:
	if (ex)
		*ex = c->exit;
out:
	return rc;
}

void sbx_child_free(struct sbx_child *c)
{
	int i;

	if (!c)
		return;
	if (c->pid > 0 && !c->reaped) {
		sbx_kill(c, SBX_CANCELLED);
		sbx_wait(c, -1, NULL, NULL);
	}
	for (i = 0; i < 3; i++)
		close_fd(&c->fd[i]);
	if (c->dir)
		plat_remove_tree(c->dir, NULL);
	free(c->dir);
	free(c->procs);
	free(c->ours);
	free(c);
}

long sbx_child_pid(const struct sbx_child *c)
{
	return (long)c->pid;
}

/* How the child was started (the Windows modes have no counterpart). */
const char *sbx_child_isolation(const struct sbx_child *c)
{
#ifdef __linux__
	if (c->ns_flags & CLONE_NEWUSER)
		return "own user and PID namespaces, process group, rlimits";
	if (c->ns_flags & CLONE_NEWPID)
		return "own PID namespace, process group, rlimits";
	return "own process group, rlimits (no PID namespace: what it starts "
	       "outside its group may outlive a killed supervisor)";
#else
	(void)c;
	return "own process group, rlimits";
#endif
}
