/*
 * test_sandbox.c - the sandbox supervisor (src/sandbox) against fake
 * children: the helper modes of sbx_helper.c, run from the sbx_helper
 * executable next to this binary (built without sanitizers; see
 * CMakeLists.txt). `test_sandbox --helper=MODE` runs a mode itself, as
 * libuv's test runner does.
 *
 * Every test spawns into a fresh sandbox directory under $TMPDIR (or /tmp)
 * and checks that the job directory is gone after sbx_child_free(). Bounds
 * are those of issue 5: a limit kills within its bound, plus scheduling
 * slack stated at each assertion.
 */
#define SBX_HELPER_NO_MAIN
#include "sbx_helper.c"

#include "core/buf.h"
#include "core/err.h"
#include "platform/plat.h"
#include "sandbox/sandbox.h"
#include "sandbox/sandbox_int.h"

#include <fcntl.h>
#include <setjmp.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmocka.h>

#define MiB ((int64_t)1024 * 1024)

/* The sbx_helper executable, next to this binary. */
static char helper_path[4096 + 16];

/* The child of the running test, freed by teardown when an assertion
 * failed before the test could: no spinner outlives a failed test. */
static struct sbx_child *current;

static void free_child(struct sbx_child *c)
{
	sbx_child_free(c);
	if (c == current)
		current = NULL;
}

struct fixture {
	char dir[1024];	    /* the sandbox directory */
	char job_dir[1100]; /* <dir>/<job_id> */
	int64_t job_id;
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	const char *base = getenv("TMPDIR");

	if (!fx)
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "%s/tw-sbx-XXXXXX",
		 base && *base ? base : "/tmp");
	if (!mkdtemp(fx->dir))
		return -1;
	fx->job_id = 4711;
	snprintf(fx->job_dir, sizeof(fx->job_dir), "%s/%lld", fx->dir,
		 (long long)fx->job_id);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	free_child(current);
	plat_remove_tree(fx->dir, NULL);
	free(fx);
	return 0;
}

static const char *const default_allow[] = { "PATH", "LANG", "HOME", NULL };

/* Options for helper mode with arg (may be NULL) and no limits. */
static void make_opts(struct fixture *fx, struct sbx_opts *o, const char **argv,
		      const char *mode, const char *arg)
{
	static char modearg[64];

	snprintf(modearg, sizeof(modearg), "--helper=%s", mode);
	argv[0] = helper_path;
	argv[1] = modearg;
	argv[2] = arg;
	argv[3] = NULL;
	memset(o, 0, sizeof(*o));
	o->argv = argv;
	o->sandbox_dir = fx->dir;
	o->job_id = fx->job_id;
	o->env_allow = default_allow;
}

static struct sbx_child *spawn_ok(const struct sbx_opts *o)
{
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct sbx_child *c = NULL;
	int rc = sbx_spawn(o, &c, &err);

	if (rc != 0)
		fprintf(stderr, "sbx_spawn: %s\n", err.ptr);
	assert_int_equal(rc, 0);
	assert_non_null(c);
	buf_release(&err);
	current = c;
	return c;
}

/*
 * Polls every 100 ms, as the worker does every 250 ms, until the monitor
 * or the OS stops the child or max_ms pass; returns the sbx_poll()
 * outcome (SBX_RUNNING when the child ended on its own) and the elapsed
 * time in *elapsed_ms. Output is drained so a full pipe never stalls it.
 */
static enum sbx_outcome poll_until(struct sbx_child *c, int64_t max_ms,
				   int64_t *elapsed_ms)
{
	int64_t start = plat_monotonic_ms();
	struct buf sink = BUF_INIT(64 * MiB);
	struct sbx_exit ex;
	enum sbx_outcome o = SBX_RUNNING;
	bool eof;

	while (plat_monotonic_ms() - start < max_ms) {
		o = sbx_poll(c, NULL);
		if (o != SBX_RUNNING)
			break;
		if (sbx_wait(c, 0, &ex, NULL) == 0)
			break;
		sbx_read(c, 1, &sink, 0, &eof, NULL);
		sbx_read(c, 2, &sink, 0, &eof, NULL);
		buf_reset(&sink);
		plat_sleep_ms(100);
	}
	*elapsed_ms = plat_monotonic_ms() - start;
	buf_release(&sink);
	return o;
}

static void wait_ok(struct sbx_child *c, struct sbx_exit *ex)
{
	struct buf err = BUF_INIT(BUF_SMALL_CAP);

	assert_int_equal(sbx_wait(c, 5000, ex, &err), 0);
	buf_release(&err);
}

/* Reads stream which until EOF (or 10 s), into out. */
static void read_all(struct sbx_child *c, int which, struct buf *out)
{
	int64_t start = plat_monotonic_ms();
	bool eof = false;

	while (!eof && plat_monotonic_ms() - start < 10000)
		assert_int_equal(sbx_read(c, which, out, 100, &eof, NULL), 0);
	assert_true(eof);
}

/* True once pid is gone or a zombie (dead, waiting for init to reap). */
static bool pid_dead(pid_t pid)
{
	char path[64], text[512];
	FILE *f;
	const char *p = NULL;

	if (kill(pid, 0) != 0 && errno == ESRCH)
		return true;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	f = fopen(path, "r");
	if (!f)
		return true;
	if (fgets(text, sizeof(text), f))
		p = strrchr(text, ')');
	fclose(f);
	return p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}

static bool pid_dies_within(pid_t pid, int64_t ms)
{
	int64_t start = plat_monotonic_ms();

	while (plat_monotonic_ms() - start < ms) {
		if (pid_dead(pid))
			return true;
		plat_sleep_ms(20);
	}
	return pid_dead(pid);
}

/* --- the pure parts ------------------------------------------------------ */

static void test_outcome_names(void **state)
{
	(void)state;
	assert_string_equal(sbx_outcome_name(SBX_EXITED), "exited");
	assert_string_equal(sbx_outcome_name(SBX_KILLED_TIMEOUT),
			    "killed:timeout");
	assert_string_equal(sbx_outcome_name(SBX_KILLED_MEMORY),
			    "killed:memory");
	assert_string_equal(sbx_outcome_name(SBX_KILLED_CPU), "killed:cpu");
	assert_string_equal(sbx_outcome_name(SBX_CRASHED), "crashed");
	assert_string_equal(sbx_outcome_name(SBX_CANCELLED), "cancelled");
	assert_string_equal(sbx_outcome_name(SBX_RUNNING), "running");
}

static void test_judge(void **state)
{
	struct sbx_limits l = { 0 };
	struct sbx_sample s = { 0 };
	struct sbx__cpu_run run = SBX__CPU_RUN_INIT;

	(void)state;
	/* No limits: nothing is ever judged. */
	s.wall_ms = 1000000;
	s.rss_bytes = 1000 * MiB;
	s.cpu_percent = 400;
	s.cpu_seconds = 1000;
	assert_int_equal(sbx__judge(&l, &s, &run), SBX_RUNNING);

	memset(&s, 0, sizeof(s));
	l.wall_ms = 1000;
	s.wall_ms = 999;
	assert_int_equal(sbx__judge(&l, &s, &run), SBX_RUNNING);
	s.wall_ms = 1000;
	assert_int_equal(sbx__judge(&l, &s, &run), SBX_KILLED_TIMEOUT);

	memset(&s, 0, sizeof(s));
	l.memory_bytes = 100 * MiB;
	s.rss_bytes = 100 * MiB;
	assert_int_equal(sbx__judge(&l, &s, &run), SBX_RUNNING);
	s.rss_bytes = 100 * MiB + 1;
	assert_int_equal(sbx__judge(&l, &s, &run), SBX_KILLED_MEMORY);
	s.rss_bytes = 0;
	s.commit_bytes = 100 * MiB + 1;
	assert_int_equal(sbx__judge(&l, &s, &run), SBX_KILLED_MEMORY);

	/* CPU runaway: on average above 90 % for 1 s. */
	memset(&s, 0, sizeof(s));
	memset(&l, 0, sizeof(l));
	l.cpu_percent = 90;
	l.cpu_grace_ms = 1000;
	s.wall_ms = 100;
	s.cpu_seconds = 0.1;
	s.cpu_percent = 99;
	assert_int_equal(sbx__judge(&l, &s, &run), SBX_RUNNING);
	assert_int_equal(run.since_ms, 100);
	/* One sample reading 80 % (a lost tick) does not end the run. */
	s.wall_ms = 600;
	s.cpu_seconds = 0.58;
	s.cpu_percent = 80;
	assert_int_equal(sbx__judge(&l, &s, &run), SBX_RUNNING);
	assert_int_equal(run.since_ms, 100);
	s.wall_ms = 1099;
	s.cpu_seconds = 1.08;
	s.cpu_percent = 100;
	assert_int_equal(sbx__judge(&l, &s, &run), SBX_RUNNING);
	s.wall_ms = 1100;
	s.cpu_seconds = 1.09;
	assert_int_equal(sbx__judge(&l, &s, &run), SBX_KILLED_CPU);
	/* A real drop ends the run; the next spike starts a new one. */
	run = (struct sbx__cpu_run)SBX__CPU_RUN_INIT;
	s.wall_ms = 5000;
	s.cpu_seconds = 5;
	s.cpu_percent = 95;
	assert_int_equal(sbx__judge(&l, &s, &run), SBX_RUNNING);
	assert_int_equal(run.since_ms, 5000);
	s.wall_ms = 5500;
	s.cpu_seconds = 5.1;
	s.cpu_percent = 20;
	assert_int_equal(sbx__judge(&l, &s, &run), SBX_RUNNING);
	assert_int_equal(run.since_ms, -1);
	s.wall_ms = 5750;
	s.cpu_seconds = 5.35;
	s.cpu_percent = 100;
	assert_int_equal(sbx__judge(&l, &s, &run), SBX_RUNNING);
	assert_int_equal(run.since_ms, 5750);
	/* Exactly at the share is not above it. */
	run = (struct sbx__cpu_run)SBX__CPU_RUN_INIT;
	s.cpu_percent = 90;
	s.wall_ms = 9000;
	assert_int_equal(sbx__judge(&l, &s, &run), SBX_RUNNING);
	assert_int_equal(run.since_ms, -1);
	/* Half a core for long, with spikes: never a runaway. */
	s.wall_ms = 10000;
	s.cpu_seconds = 10;
	s.cpu_percent = 95;
	assert_int_equal(sbx__judge(&l, &s, &run), SBX_RUNNING);
	s.wall_ms = 12000;
	s.cpu_seconds = 11;
	s.cpu_percent = 95;
	assert_int_equal(sbx__judge(&l, &s, &run), SBX_RUNNING);
	assert_int_equal(run.since_ms, 12000);

	/* The tree CPU-time check sits above the OS backstop. */
	memset(&s, 0, sizeof(s));
	l.cpu_seconds = 1;
	s.cpu_seconds = 1 + SBX__CPU_TREE_SLACK_S - 0.01;
	assert_int_equal(sbx__judge(&l, &s, &run), SBX_RUNNING);
	s.cpu_seconds = 1 + SBX__CPU_TREE_SLACK_S;
	assert_int_equal(sbx__judge(&l, &s, &run), SBX_KILLED_CPU);
}

static void test_os_memory_limit(void **state)
{
	(void)state;
	assert_int_equal(sbx__os_memory_limit(0), 0);
	assert_int_equal(sbx__os_memory_limit(200 * MiB), 264 * MiB);
	assert_int_equal(sbx__os_memory_limit(1024 * MiB), 1280 * MiB);
	assert_true(sbx__os_memory_limit(INT64_MAX - 1) == INT64_MAX);
}

static void test_job_dir_path(void **state)
{
	struct buf b = BUF_INIT(4096);

	(void)state;
	assert_int_equal(sbx__job_dir("/tmp/sb/", 12, &b, NULL), 0);
	assert_string_equal(b.ptr, "/tmp/sb/12");
	buf_reset(&b);
	assert_int_equal(sbx__job_dir("", 12, &b, NULL), TW_EINVAL);
	assert_int_equal(sbx__job_dir("/x", -1, &b, NULL), TW_EINVAL);
	buf_release(&b);
}

/* A named child directory never takes a job's name, nor leaves the dir. */
static void test_child_dir_name(void **state)
{
	struct buf b = BUF_INIT(4096);
	struct sbx_opts o;
	const char *bad[] = { "",
			      "123",
			      "../x",
			      "a/b",
			      "a.b",
			      "a b",
			      "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
			      "xxxxxxxxxxxxxxxx" };

	(void)state;
	memset(&o, 0, sizeof(o));
	o.sandbox_dir = "/tmp/sb/";
	o.job_id = 12;
	assert_int_equal(sbx__child_dir(&o, &b, NULL), 0);
	assert_string_equal(b.ptr, "/tmp/sb/12");
	buf_reset(&b);
	o.dir_name = "preview-4711-3";
	assert_int_equal(sbx__child_dir(&o, &b, NULL), 0);
	assert_string_equal(b.ptr, "/tmp/sb/preview-4711-3");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		buf_reset(&b);
		o.dir_name = bad[i];
		assert_int_equal(sbx__child_dir(&o, &b, NULL), TW_EINVAL);
	}
	buf_release(&b);
}

/* The runner's command: TW_PYTHON when set, checked to be a file. */
static void test_runner_argv(void **state)
{
	struct buf err = BUF_INIT(4096);
	char **argv = NULL;

	(void)state;
	assert_int_equal(sbx_runner_argv("/bin/sh", &argv, &err), 0);
	assert_string_equal(argv[0], "/bin/sh");
	assert_string_equal(argv[1], "-I");
	assert_string_equal(argv[2], "-m");
	assert_string_equal(argv[3], "tablewright_runner");
	assert_null(argv[4]);
	plat_argv_free(argv);
	assert_int_equal(sbx_runner_argv("/nonexistent/python", &argv, &err),
			 TW_ENOTFOUND);
	assert_null(argv);
	assert_non_null(strstr(err.ptr, "TW_PYTHON"));
	buf_release(&err);
}

/* plat_remove_tree() never follows a symbolic link out of the tree. */
static void test_remove_tree_no_follow(void **state)
{
	struct fixture *fx = *state;
	char outside[1200], keep[1300], tree[1200], p[1400];
	int fd;

	snprintf(outside, sizeof(outside), "%s/outside", fx->dir);
	snprintf(keep, sizeof(keep), "%s/keep.txt", outside);
	snprintf(tree, sizeof(tree), "%s/tree", fx->dir);
	assert_int_equal(mkdir(outside, 0700), 0);
	fd = open(keep, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
	snprintf(p, sizeof(p), "%s/a/b/c", tree);
	assert_int_equal(plat_mkdir_p(p, NULL), 0);
	snprintf(p, sizeof(p), "%s/a/b/c/file", tree);
	fd = open(p, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
	snprintf(p, sizeof(p), "%s/a/link-to-dir", tree);
	assert_int_equal(symlink(outside, p), 0);
	snprintf(p, sizeof(p), "%s/link-to-file", tree);
	assert_int_equal(symlink(keep, p), 0);

	assert_int_equal(plat_remove_tree(tree, NULL), 0);
	assert_false(plat_is_dir(tree));
	assert_true(plat_is_file(keep));
	/* A missing path is fine; a symbolic link as the root is removed as
	 * a link. */
	assert_int_equal(plat_remove_tree(tree, NULL), 0);
	assert_int_equal(symlink(outside, tree), 0);
	assert_int_equal(plat_remove_tree(tree, NULL), 0);
	assert_true(plat_is_file(keep));
}

/* --- the supervisor --------------------------------------------------------
 */

static void test_exit_code_and_job_dir(void **state)
{
	struct fixture *fx = *state;
	const char *argv[4];
	struct sbx_opts o;
	struct sbx_exit ex;
	struct sbx_child *c;
	struct buf out = BUF_INIT(MiB);
	char leftover[1200];
	int fd;

	/* A leftover directory from a dead worker is replaced. */
	snprintf(leftover, sizeof(leftover), "%s/stale", fx->job_dir);
	assert_int_equal(plat_mkdir_p(fx->job_dir, NULL), 0);
	fd = open(leftover, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);

	make_opts(fx, &o, argv, "pwd", NULL);
	c = spawn_ok(&o);
	assert_true(plat_is_dir(fx->job_dir));
	assert_false(plat_is_file(leftover));
	read_all(c, 1, &out);
	wait_ok(c, &ex);
	assert_int_equal(ex.outcome, SBX_EXITED);
	assert_int_equal(ex.exit_code, 0);
	assert_int_equal(sbx_poll(c, NULL), SBX_EXITED);
	/* The child ran in its job directory. */
	assert_true(strncmp(out.ptr, fx->job_dir, strlen(fx->job_dir)) == 0);
	free_child(c);
	assert_false(plat_is_dir(fx->job_dir));

	make_opts(fx, &o, argv, "exit", "7");
	c = spawn_ok(&o);
	wait_ok(c, &ex);
	assert_int_equal(ex.outcome, SBX_EXITED);
	assert_int_equal(ex.exit_code, 7);
	free_child(c);
	assert_false(plat_is_dir(fx->job_dir));
	buf_release(&out);
}

static void test_spawn_failure(void **state)
{
	struct fixture *fx = *state;
	const char *argv[] = { "/nonexistent/program", NULL };
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct sbx_opts o;
	struct sbx_child *c = NULL;

	memset(&o, 0, sizeof(o));
	o.argv = argv;
	o.sandbox_dir = fx->dir;
	o.job_id = fx->job_id;
	assert_int_equal(sbx_spawn(&o, &c, &err), TW_EIO);
	assert_null(c);
	assert_non_null(strstr(err.ptr, "No such file"));
	assert_false(plat_is_dir(fx->job_dir));
	buf_release(&err);
}

/*
 * A supervisor running as root starts the child as run_as_user, with that
 * user's primary group only, in a job directory the user owns (mode 700);
 * a missing user and root itself are refused. Not root: the option does
 * nothing, and sbx_check_user() says so.
 */
static void test_run_as_user(void **state)
{
	struct fixture *fx = *state;
	const char *argv[] = { "/bin/sh", "-c", "id -u; id -G; stat -c %U:%a .",
			       NULL };
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct buf out = BUF_INIT(MiB);
	struct sbx_opts o;
	struct sbx_exit ex;
	struct sbx_child *c = NULL;
	bool drops = true;

	if (geteuid() != 0) {
		assert_int_equal(sbx_check_user("nobody", &drops, &err), 0);
		assert_false(drops);
		buf_release(&err);
		skip();
	}
	assert_int_equal(sbx_check_user("nobody", &drops, &err), 0);
	assert_true(drops);
	assert_int_equal(sbx_check_user("tw-no-such-user-9", &drops, &err),
			 TW_ENOTFOUND);
	assert_false(drops);
	assert_non_null(strstr(err.ptr, "does not exist"));
	buf_reset(&err);
	assert_int_equal(sbx_check_user("root", &drops, &err), TW_EINVAL);
	assert_non_null(strstr(err.ptr, "unprivileged"));
	buf_reset(&err);

	/* mkdtemp() made the sandbox directory 700: let nobody through. */
	assert_int_equal(chmod(fx->dir, 0711), 0);
	memset(&o, 0, sizeof(o));
	o.argv = argv;
	o.sandbox_dir = fx->dir;
	o.job_id = fx->job_id;
	o.env_allow = default_allow;
	o.run_as_user = "nobody";
	c = spawn_ok(&o);
	read_all(c, 1, &out);
	wait_ok(c, &ex);
	assert_int_equal(ex.outcome, SBX_EXITED);
	assert_int_equal(ex.exit_code, 0);
	/* uid 65534 and its group only on Debian; not 0 anywhere. */
	assert_true(strncmp(out.ptr, "0\n", 2) != 0);
	assert_null(strstr(out.ptr, "\n0 "));
	assert_null(strstr(out.ptr, " 0\n"));
	assert_non_null(strstr(out.ptr, "\nnobody:700\n"));
	free_child(c);
	assert_false(plat_is_dir(fx->job_dir));

	o.run_as_user = "tw-no-such-user-9";
	assert_int_equal(sbx_spawn(&o, &c, &err), TW_ENOTFOUND);
	assert_null(c);
	assert_false(plat_is_dir(fx->job_dir));
	buf_release(&err);
	buf_release(&out);
}

static void test_timeout(void **state)
{
	struct fixture *fx = *state;
	const char *argv[4];
	struct sbx_opts o;
	struct sbx_exit ex;
	struct sbx_child *c;
	int64_t ms;

	make_opts(fx, &o, argv, "sleep", NULL);
	o.limits.wall_ms = 1000;
	c = spawn_ok(&o);
	assert_true(plat_is_dir(fx->job_dir));
	assert_int_equal(poll_until(c, 5000, &ms), SBX_KILLED_TIMEOUT);
	wait_ok(c, &ex);
	assert_int_equal(ex.outcome, SBX_KILLED_TIMEOUT);
	assert_true(ex.last.wall_ms <= 2000);
	assert_true(ms <= 2000);
	free_child(c);
	assert_false(plat_is_dir(fx->job_dir));
}

static void test_memory(void **state)
{
	struct fixture *fx = *state;
	const char *argv[4];
	struct sbx_opts o;
	struct sbx_exit ex;
	struct sbx_child *c;
	int64_t ms;

	/* 64 MiB/s against 200 MiB: the monitor sees it at ~3.2 s, well
	 * before RLIMIT_DATA (264 MiB) could make malloc fail. */
	make_opts(fx, &o, argv, "eat-mem", NULL);
	o.limits.memory_bytes = 200 * MiB;
	c = spawn_ok(&o);
	assert_int_equal(poll_until(c, 10000, &ms), SBX_KILLED_MEMORY);
	wait_ok(c, &ex);
	assert_int_equal(ex.outcome, SBX_KILLED_MEMORY);
	assert_true(ex.last.peak_rss_bytes > 150 * MiB);
	assert_true(ex.last.peak_rss_bytes < 264 * MiB);
	assert_true(ms <= 6000);
	free_child(c);
	assert_false(plat_is_dir(fx->job_dir));
}

/* The OS memory limit alone (no monitor): malloc fails in the child. */
static void test_memory_os_limit(void **state)
{
	struct fixture *fx = *state;
	const char *argv[4];
	struct sbx_opts o;
	struct sbx_exit ex;
	struct sbx_child *c;
	struct buf err = BUF_INIT(BUF_SMALL_CAP);

	make_opts(fx, &o, argv, "eat-mem", NULL);
	o.limits.memory_bytes = 100 * MiB; /* RLIMIT_DATA: 164 MiB */
	c = spawn_ok(&o);
	/* No sbx_poll(): only the kernel limit acts. */
	assert_int_equal(sbx_wait(c, 10000, &ex, &err), 0);
	assert_int_equal(ex.outcome, SBX_EXITED);
	assert_int_equal(ex.exit_code, HELPER_EXIT_NO_MEMORY);
	free_child(c);
	buf_release(&err);
}

static void test_cpu_runaway(void **state)
{
	struct fixture *fx = *state;
	const char *argv[4];
	struct sbx_opts o;
	struct sbx_exit ex;
	struct sbx_child *c;
	int64_t ms;

	make_opts(fx, &o, argv, "spin", NULL);
	o.limits.cpu_percent = 90;
	o.limits.cpu_grace_ms = 1000;
	c = spawn_ok(&o);
	/* Grace 1 s, plus a sample or two to notice the run. */
	assert_int_equal(poll_until(c, 5000, &ms), SBX_KILLED_CPU);
	wait_ok(c, &ex);
	assert_int_equal(ex.outcome, SBX_KILLED_CPU);
	assert_int_equal(ex.signal, SIGKILL);
	assert_true(ms >= 1000 && ms <= 2500);
	free_child(c);
	assert_false(plat_is_dir(fx->job_dir));
}

static void test_cpu_backstop(void **state)
{
	struct fixture *fx = *state;
	const char *argv[4];
	struct sbx_opts o;
	struct sbx_exit ex;
	struct sbx_child *c;
	int64_t start = plat_monotonic_ms();

	make_opts(fx, &o, argv, "spin", NULL);
	o.limits.cpu_seconds = 1; /* the monitor's CPU % check is off */
	c = spawn_ok(&o);
	/* No sbx_poll(): RLIMIT_CPU alone sends SIGXCPU after 1 s of CPU. */
	wait_ok(c, &ex);
	assert_int_equal(ex.outcome, SBX_KILLED_CPU);
	assert_true(ex.signal == SIGXCPU || ex.signal == SIGKILL);
	assert_true(ex.last.cpu_seconds >= 0.9);
	assert_true(plat_monotonic_ms() - start <= 4000);
	free_child(c);
	assert_false(plat_is_dir(fx->job_dir));
}

/*
 * contained() is sbx_tree_contained(): whether this machine gives the
 * children a PID namespace of their own (and TW_TEST_SANDBOX_NO_PIDNS is
 * not set).
 */
static bool contained(void)
{
	struct buf why = BUF_INIT(BUF_SMALL_CAP);
	bool yes = sbx_tree_contained(&why);

	buf_release(&why);
	return yes;
}

/*
 * RLIMIT_FSIZE: the write past the limit raises SIGXFSZ, whose default
 * action (restored in the child) kills it: crashed, signal SIGXFSZ. The
 * first process of a PID namespace ignores a signal it has no handler for
 * unless it comes from an ancestor namespace, and this one comes from the
 * kernel on its own behalf: there the write fails with EFBIG (as it does
 * for Python, which ignores SIGXFSZ) and the helper exits 3.
 */
static void test_file_size(void **state)
{
	struct fixture *fx = *state;
	const char *argv[4];
	struct sbx_opts o;
	struct sbx_exit ex;
	struct sbx_child *c;

	make_opts(fx, &o, argv, "write-file", "1048576");
	o.limits.file_bytes = 64 * 1024;
	c = spawn_ok(&o);
	wait_ok(c, &ex);
	if (contained()) {
		assert_int_equal(ex.outcome, SBX_EXITED);
		assert_int_equal(ex.exit_code, HELPER_EXIT_WRITE_FAILED);
	} else {
		assert_int_equal(ex.outcome, SBX_CRASHED);
		assert_int_equal(ex.signal, SIGXFSZ);
	}
	free_child(c);
	assert_false(plat_is_dir(fx->job_dir));

	/* Under the limit it works. */
	make_opts(fx, &o, argv, "write-file", "1000");
	o.limits.file_bytes = 64 * 1024;
	c = spawn_ok(&o);
	wait_ok(c, &ex);
	assert_int_equal(ex.outcome, SBX_EXITED);
	assert_int_equal(ex.exit_code, 0);
	free_child(c);
}

static void test_environment(void **state)
{
	struct fixture *fx = *state;
	const char *argv[4];
	const char *const allow[] = { "PATH", "LANG", "TW_SBX_UNSET_NAME",
				      NULL };
	const char *const extra[] = { "TW_RUNNER_MODE=test", NULL };
	struct sbx_opts o;
	struct sbx_exit ex;
	struct sbx_child *c;
	struct buf out = BUF_INIT(MiB);

	setenv("TW_SECRET_KEY", "s3cret", 1);
	setenv("TW_DATABASE_URL", "postgres://u:p@h/db", 1);
	setenv("PGPASSWORD", "hunter2", 1);
	setenv("LANG", "C.UTF-8", 1);
	make_opts(fx, &o, argv, "read-env", NULL);
	o.env_allow = allow;
	o.env_extra = extra;
	c = spawn_ok(&o);
	read_all(c, 1, &out);
	wait_ok(c, &ex);
	assert_int_equal(ex.outcome, SBX_EXITED);
	assert_null(strstr(out.ptr, "TW_SECRET_KEY"));
	assert_null(strstr(out.ptr, "s3cret"));
	assert_null(strstr(out.ptr, "TW_DATABASE_URL"));
	assert_null(strstr(out.ptr, "postgres://"));
	assert_null(strstr(out.ptr, "PGPASSWORD"));
	assert_null(strstr(out.ptr, "hunter2"));
	assert_null(strstr(out.ptr, "TW_SBX_UNSET_NAME"));
	assert_non_null(strstr(out.ptr, "LANG=C.UTF-8\n"));
	assert_non_null(strstr(out.ptr, "TW_RUNNER_MODE=test\n"));
	if (getenv("PATH"))
		assert_non_null(strstr(out.ptr, "PATH="));
	/* Nothing but the allowed names. */
	for (const char *p = out.ptr; *p;) {
		const char *nl = strchr(p, '\n');

		assert_true(strncmp(p, "PATH=", 5) == 0 ||
			    strncmp(p, "LANG=", 5) == 0 ||
			    strncmp(p, "TW_RUNNER_MODE=", 15) == 0);
		if (!nl)
			break;
		p = nl + 1;
	}
	free_child(c);
	buf_release(&out);
}

/* Reads the grandchild's pid from a spawn-mode child. */
static pid_t read_grandchild(struct sbx_child *c)
{
	struct buf out = BUF_INIT(4096);
	int64_t start = plat_monotonic_ms();
	bool eof = false;
	pid_t pid;

	while (!strchr(out.ptr, '\n') && !eof &&
	       plat_monotonic_ms() - start < 5000)
		sbx_read(c, 1, &out, 100, &eof, NULL);
	pid = (pid_t)strtol(out.ptr, NULL, 10);
	buf_release(&out);
	assert_true(pid > 0);
	return pid;
}

static void test_grandchild_kill(void **state)
{
	struct fixture *fx = *state;
	const char *argv[4];
	struct sbx_opts o;
	struct sbx_exit ex;
	struct sbx_child *c;
	pid_t g;

	make_opts(fx, &o, argv, "spawn", NULL);
	c = spawn_ok(&o);
	g = read_grandchild(c);
	assert_false(pid_dead(g));
	sbx_kill(c, SBX_CANCELLED);
	wait_ok(c, &ex);
	assert_int_equal(ex.outcome, SBX_CANCELLED);
	assert_true(pid_dies_within(g, 2000));
	free_child(c);
	assert_false(plat_is_dir(fx->job_dir));

	/* sbx_child_free() alone takes the tree too. */
	make_opts(fx, &o, argv, "spawn", NULL);
	c = spawn_ok(&o);
	g = read_grandchild(c);
	free_child(c);
	assert_true(pid_dies_within(g, 2000));
	assert_false(plat_is_dir(fx->job_dir));
}

/* A grandchild left behind by a child that exited normally is killed
 * when sbx_wait() reaps the child. */
static void test_stray_after_exit(void **state)
{
	struct fixture *fx = *state;
	const char *argv[4];
	struct sbx_opts o;
	struct sbx_exit ex;
	struct sbx_child *c;
	pid_t g;

	make_opts(fx, &o, argv, "spawn", NULL);
	c = spawn_ok(&o);
	g = read_grandchild(c);
	/* Kill only the direct child, as if it had exited. SIGKILL: the
	 * first process of a PID namespace ignores a SIGTERM it has no
	 * handler for. */
	assert_int_equal(kill((pid_t)sbx_child_pid(c), SIGKILL), 0);
	wait_ok(c, &ex);
	assert_int_equal(ex.outcome, SBX_CRASHED);
	assert_int_equal(ex.signal, SIGKILL);
	assert_true(pid_dies_within(g, 2000));
	free_child(c);
}

/*
 * The child is the first process of a PID namespace of its own: getpid()
 * 1, getppid() 0, and the host's /proc names it by the pid sbx_spawn()
 * returned. A supervisor that is not root also gives it a user namespace
 * (without a map: the kernel still sees the supervisor's uid): the child
 * has no capability. With TW_TEST_SANDBOX_NO_PIDNS=1 it is a plain fork.
 */
static void test_pid_namespace(void **state)
{
	struct fixture *fx = *state;
	const char *argv[4];
	struct sbx_opts o;
	struct sbx_exit ex;
	struct sbx_child *c;
	struct buf out = BUF_INIT(4096);
	long ns_pid = -1, ns_ppid = -1, host = -1, uid = -1;
	char caps[64] = "";

	if (!contained()) {
		print_message("no PID namespaces here: checked by the "
			      "fallback tests only\n");
		skip();
	}
	make_opts(fx, &o, argv, "pids", NULL);
	c = spawn_ok(&o);
	read_all(c, 1, &out);
	wait_ok(c, &ex);
	assert_int_equal(ex.outcome, SBX_EXITED);
	assert_int_equal(sscanf(out.ptr, "%ld %ld %ld %ld %63s", &ns_pid,
				&ns_ppid, &host, &uid, caps),
			 5);
	assert_int_equal(ns_pid, 1);
	assert_int_equal(ns_ppid, 0);
	assert_int_equal(host, sbx_child_pid(c));
	/* Not root: a user namespace without a map, where it is the
	 * overflow uid and has no capability (as root it ran as itself or
	 * as run_as_user, capabilities dropped by its exec as non-root). */
	if (geteuid() != 0)
		assert_string_equal(caps, "0000000000000000");
	free_child(c);
	buf_reset(&out);

	setenv("TW_TEST_SANDBOX_NO_PIDNS", "1", 1);
	assert_false(contained());
	c = spawn_ok(&o);
	read_all(c, 1, &out);
	wait_ok(c, &ex);
	unsetenv("TW_TEST_SANDBOX_NO_PIDNS");
	assert_int_equal(sscanf(out.ptr, "%ld %ld %ld %ld %63s", &ns_pid,
				&ns_ppid, &host, &uid, caps),
			 5);
	assert_int_equal(ns_pid, sbx_child_pid(c));
	assert_int_equal(ns_ppid, (long)getpid());
	free_child(c);
	buf_release(&out);
}

/*
 * A grandchild that left the process group (setsid) escapes a group kill.
 * In the child's own PID namespace it dies with the child anyway; in the
 * fork fallback it outlives sbx_kill() (the gap the namespace closes; a
 * check that this test can fail), and is killed here.
 */
static void run_away_kill(struct fixture *fx, bool fallback)
{
	const char *argv[4];
	struct sbx_opts o;
	struct sbx_exit ex;
	struct sbx_child *c;
	pid_t g;

	if (fallback)
		setenv("TW_TEST_SANDBOX_NO_PIDNS", "1", 1);
	make_opts(fx, &o, argv, "spawn-away", NULL);
	c = spawn_ok(&o);
	g = read_grandchild(c);
	assert_false(pid_dead(g));
	sbx_kill(c, SBX_CANCELLED);
	wait_ok(c, &ex);
	assert_int_equal(ex.outcome, SBX_CANCELLED);
	if (fallback) {
		unsetenv("TW_TEST_SANDBOX_NO_PIDNS");
		assert_false(pid_dies_within(g, 500));
		kill(g, SIGKILL);
	} else {
		/* Gone by the time the child could be reaped. */
		assert_true(pid_dead(g));
	}
	free_child(c);
	assert_false(plat_is_dir(fx->job_dir));
}

static void test_grandchild_away_kill(void **state)
{
	if (!contained())
		skip();
	run_away_kill(*state, false);
}

static void test_grandchild_away_kill_fallback(void **state)
{
	run_away_kill(*state, true);
}

/*
 * kill -9 of the supervisor: its child dies of PDEATHSIG, and with it, in
 * its own PID namespace, a grandchild that left the group. In the fork
 * fallback that grandchild lives on (and is killed here).
 */
static void run_supervisor_death_away(struct fixture *fx, bool fallback)
{
	const char *argv[4];
	struct sbx_opts o;
	int p[2];
	pid_t sup, pids[2] = { 0, 0 };
	int st;

	if (fallback)
		setenv("TW_TEST_SANDBOX_NO_PIDNS", "1", 1);
	make_opts(fx, &o, argv, "spawn-away", NULL);
	assert_int_equal(pipe(p), 0);
	sup = fork();
	assert_true(sup >= 0);
	if (sup == 0) {
		struct buf out = BUF_INIT(4096);
		struct sbx_child *c = NULL;
		int64_t start = plat_monotonic_ms();
		bool eof = false;

		close(p[0]);
		if (sbx_spawn(&o, &c, NULL) != 0)
			_exit(1);
		while (!strchr(out.ptr, '\n') && !eof &&
		       plat_monotonic_ms() - start < 5000)
			sbx_read(c, 1, &out, 100, &eof, NULL);
		pids[0] = (pid_t)sbx_child_pid(c);
		pids[1] = (pid_t)strtol(out.ptr, NULL, 10);
		if (write(p[1], pids, sizeof(pids)) != sizeof(pids))
			_exit(1);
		kill(getpid(), SIGKILL);
		_exit(1);
	}
	if (fallback)
		unsetenv("TW_TEST_SANDBOX_NO_PIDNS");
	close(p[1]);
	assert_int_equal(read(p[0], pids, sizeof(pids)), sizeof(pids));
	close(p[0]);
	assert_int_equal(waitpid(sup, &st, 0), sup);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	assert_true(pids[0] > 0 && pids[1] > 0);
	assert_true(pid_dies_within(pids[0], 2000));
	if (fallback) {
		assert_false(pid_dies_within(pids[1], 500));
		kill(pids[1], SIGKILL);
	} else {
		assert_true(pid_dies_within(pids[1], 2000));
	}
	plat_remove_tree(fx->job_dir, NULL);
}

static void test_supervisor_death_takes_grandchildren(void **state)
{
	if (!contained())
		skip();
	run_supervisor_death_away(*state, false);
}

static void test_supervisor_death_fallback(void **state)
{
	run_supervisor_death_away(*state, true);
}

/*
 * The monitor counts a grandchild that left the group: a child that
 * sleeps while its setsid() grandchild spins reads near 100 % CPU.
 */
static void test_poll_counts_grandchild_away(void **state)
{
	struct fixture *fx = *state;
	const char *argv[4];
	struct sbx_opts o;
	struct sbx_sample s;
	struct sbx_child *c;

	make_opts(fx, &o, argv, "spin-away", NULL);
	c = spawn_ok(&o);
	(void)read_grandchild(c);
	sbx_poll(c, &s);
	plat_sleep_ms(1000);
	assert_int_equal(sbx_poll(c, &s), SBX_RUNNING);
	assert_true(s.cpu_percent > 50 && s.cpu_percent < 130);
	assert_true(s.cpu_seconds > 0.5);
	free_child(c);
}

/* kill -9 of the supervisor takes its children with it (PDEATHSIG). */
static void test_supervisor_death(void **state)
{
	struct fixture *fx = *state;
	const char *argv[4];
	struct sbx_opts o;
	int p[2];
	pid_t sup, child = 0;
	int st;

	make_opts(fx, &o, argv, "sleep", NULL);
	assert_int_equal(pipe(p), 0);
	sup = fork();
	assert_true(sup >= 0);
	if (sup == 0) {
		struct sbx_child *c = NULL;
		pid_t pid;

		close(p[0]);
		if (sbx_spawn(&o, &c, NULL) != 0)
			_exit(1);
		pid = (pid_t)sbx_child_pid(c);
		if (write(p[1], &pid, sizeof(pid)) != sizeof(pid))
			_exit(1);
		/* Die the hard way: no cleanup at all. */
		kill(getpid(), SIGKILL);
		_exit(1);
	}
	close(p[1]);
	assert_int_equal(read(p[0], &child, sizeof(child)), sizeof(child));
	close(p[0]);
	assert_int_equal(waitpid(sup, &st, 0), sup);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	assert_true(child > 0);
	assert_true(pid_dies_within(child, 2000));
	/* Nobody removed the job directory: the next spawn will. */
	plat_remove_tree(fx->job_dir, NULL);
}

static void test_large_output(void **state)
{
	struct fixture *fx = *state;
	const char *argv[4];
	struct sbx_opts o;
	struct sbx_exit ex;
	struct sbx_child *c;
	struct buf out = BUF_INIT(16 * MiB);
	struct buf errout = BUF_INIT(MiB);
	int64_t start = plat_monotonic_ms();
	bool eof1 = false, eof2 = false;

	make_opts(fx, &o, argv, "print-lots", "10485760");
	c = spawn_ok(&o);
	while ((!eof1 || !eof2) && plat_monotonic_ms() - start < 20000) {
		assert_int_equal(sbx_read(c, 1, &out, 50, &eof1, NULL), 0);
		assert_int_equal(sbx_read(c, 2, &errout, 0, &eof2, NULL), 0);
	}
	assert_true(eof1 && eof2);
	assert_int_equal(out.len, 10 * MiB);
	assert_int_equal(errout.len, 0);
	wait_ok(c, &ex);
	assert_int_equal(ex.outcome, SBX_EXITED);
	assert_int_equal(ex.exit_code, 0);
	free_child(c);
	buf_release(&out);
	buf_release(&errout);
}

static void test_echo_round_trip(void **state)
{
	struct fixture *fx = *state;
	const char *argv[4];
	struct sbx_opts o;
	struct sbx_exit ex;
	struct sbx_child *c;
	struct buf out = BUF_INIT(2 * MiB);
	const size_t total = (size_t)MiB, chunk = 32 * 1024;
	char *data = malloc(total);
	size_t sent = 0, i;
	bool eof = false;

	assert_non_null(data);
	for (i = 0; i < total; i++)
		data[i] = (char)(i * 7 + i / 4096);
	make_opts(fx, &o, argv, "echo", NULL);
	c = spawn_ok(&o);
	/* Write in chunks smaller than a pipe and read back in between, so
	 * neither side blocks on a full pipe. */
	while (sent < total) {
		int64_t start = plat_monotonic_ms();

		assert_int_equal(sbx_write(c, data + sent, chunk, NULL), 0);
		sent += chunk;
		while (out.len < sent && plat_monotonic_ms() - start < 5000)
			assert_int_equal(sbx_read(c, 1, &out, 100, &eof, NULL),
					 0);
		assert_int_equal(out.len, sent);
	}
	sbx_close_stdin(c);
	read_all(c, 1, &out);
	assert_int_equal(out.len, total);
	assert_memory_equal(out.ptr, data, total);
	wait_ok(c, &ex);
	assert_int_equal(ex.outcome, SBX_EXITED);
	assert_int_equal(ex.exit_code, 0);
	/* Writing to a child that is gone fails cleanly (no SIGPIPE). */
	free_child(c);
	free(data);
	buf_release(&out);
}

static void test_write_to_dead_child(void **state)
{
	struct fixture *fx = *state;
	const char *argv[4];
	struct sbx_opts o;
	struct sbx_exit ex;
	struct sbx_child *c;
	char block[65536] = { 0 };
	int rc = 0, i;

	make_opts(fx, &o, argv, "exit", "0");
	c = spawn_ok(&o);
	wait_ok(c, &ex);
	for (i = 0; i < 4 && rc == 0; i++)
		rc = sbx_write(c, block, sizeof(block), NULL);
	assert_int_equal(rc, TW_EIO);
	free_child(c);
}

static void test_poll_samples(void **state)
{
	struct fixture *fx = *state;
	const char *argv[4];
	struct sbx_opts o;
	struct sbx_sample s;
	struct sbx_child *c;

	make_opts(fx, &o, argv, "spin", NULL);
	c = spawn_ok(&o);
	sbx_poll(c, &s);
	plat_sleep_ms(1000);
	assert_int_equal(sbx_poll(c, &s), SBX_RUNNING);
	assert_true(s.wall_ms >= 1000);
	assert_true(s.cpu_percent > 50 && s.cpu_percent < 130);
	assert_true(s.cpu_seconds > 0.5);
	assert_true(s.rss_bytes > 0);
	assert_true(s.commit_bytes > 0);
	assert_true(s.peak_rss_bytes >= s.rss_bytes);
	sbx_kill(c, SBX_CANCELLED);
	assert_int_equal(sbx_poll(c, &s), SBX_CANCELLED);
	free_child(c);
	assert_false(plat_is_dir(fx->job_dir));
}

/* A child that ended before its time was up is classified by how it
 * ended, even when the first sbx_poll() after its end is past the limit. */
static void test_poll_after_exit(void **state)
{
	struct fixture *fx = *state;
	const char *argv[4];
	struct sbx_opts o;
	struct sbx_exit ex;
	struct sbx_child *c;

	make_opts(fx, &o, argv, "exit", "3");
	o.limits.wall_ms = 200;
	c = spawn_ok(&o);
	plat_sleep_ms(400);
	assert_int_equal(sbx_poll(c, NULL), SBX_EXITED);
	wait_ok(c, &ex);
	assert_int_equal(ex.outcome, SBX_EXITED);
	assert_int_equal(ex.exit_code, 3);
	free_child(c);
	assert_false(plat_is_dir(fx->job_dir));
}

/* Finds sbx_helper next to this binary. */
static int find_helper(const char *argv0)
{
	char self[4096];
	char *slash;

	if (!realpath(argv0, self))
		return -1;
	slash = strrchr(self, '/');
	if (!slash)
		return -1;
	*slash = '\0';
	snprintf(helper_path, sizeof(helper_path), "%s/sbx_helper", self);
	return access(helper_path, X_OK);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_outcome_names),
		cmocka_unit_test(test_judge),
		cmocka_unit_test(test_os_memory_limit),
		cmocka_unit_test(test_job_dir_path),
		cmocka_unit_test(test_child_dir_name),
		cmocka_unit_test(test_runner_argv),
		T(test_remove_tree_no_follow),
		T(test_exit_code_and_job_dir),
		T(test_spawn_failure),
		T(test_run_as_user),
		T(test_timeout),
		T(test_memory),
		T(test_memory_os_limit),
		T(test_cpu_runaway),
		T(test_cpu_backstop),
		T(test_file_size),
		T(test_environment),
		T(test_grandchild_kill),
		T(test_stray_after_exit),
		T(test_supervisor_death),
		T(test_pid_namespace),
		T(test_grandchild_away_kill),
		T(test_grandchild_away_kill_fallback),
		T(test_supervisor_death_takes_grandchildren),
		T(test_supervisor_death_fallback),
		T(test_poll_counts_grandchild_away),
		T(test_large_output),
		T(test_echo_round_trip),
		T(test_write_to_dead_child),
		T(test_poll_samples),
		T(test_poll_after_exit),
	};

	if (argc > 1 && strncmp(argv[1], "--helper=", 9) == 0)
		return helper_run(argc, argv);
	if (find_helper(argv[0]) != 0) {
		fprintf(stderr,
			"test_sandbox: sbx_helper not found next to "
			"%s\n",
			argv[0]);
		return 1;
	}
	/*
	 * --only NAME,NAME...: those tests alone (the integration suite runs
	 * the namespace tests as another user this way, without the CPU
	 * timing tests, which a loaded machine makes flaky).
	 */
	if (argc > 2 && strcmp(argv[1], "--only") == 0) {
		struct CMUnitTest some[TW_ARRAY_SIZE(tests)];
		size_t n = 0;

		for (size_t i = 0; i < TW_ARRAY_SIZE(tests); i++) {
			const char *p = strstr(argv[2], tests[i].name);
			size_t len = strlen(tests[i].name);

			while (p && !((p == argv[2] || p[-1] == ',') &&
				      (p[len] == ',' || p[len] == '\0')))
				p = strstr(p + 1, tests[i].name);
			if (p)
				some[n++] = tests[i];
		}
		return _cmocka_run_group_tests("test_sandbox", some, n, NULL,
					       NULL);
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
