/*
 * smoke_sandbox.c - smoke test of src/sandbox/sandbox_win.c, cross-compiled
 * with mingw-w64 and run under Wine (or on real Windows) by
 * tests/win/run_smoke.sh.
 *
 * The program is its own child: "--helper=sleep|echo|print-env|
 * write-file|exit-code N|print-lots N" modes stand in for the Python
 * runner (libuv's spawn_helper). Checked: the echo round trip through the
 * pipes, exit-code classification (an exception code is a crash), the
 * wall-time kill through sbx_poll(), cancellation, the environment allow
 * list (a TW_* secret of ours does not reach the child), the job directory
 * (the child's working directory, fresh, removed afterwards), a child that
 * outlives nothing, and megabytes of output on both pipes without a
 * deadlock.
 *
 * Wine ignores job object limits (memory, CPU time, active processes, CPU
 * rate), so none of those is checked here: they need real Windows.
 *
 * Prints "ok"/"not ok" per check and a final "N passed, N failed" line;
 * exits non-zero when a check failed.
 */
#include "core/compat.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/mem.h"
#include "platform/plat.h"
#include "platform/win/win_int.h"
#include "smoke.h"
#include "sandbox/sandbox.h"

#include <windows.h>

/* --- helper modes (the program as its own child) ------------------------ */

static void raw_write(DWORD which, const char *s, size_t n)
{
	DWORD done;

	while (n > 0) {
		if (!WriteFile(GetStdHandle(which), s, (DWORD)n, &done, NULL))
			return;
		s += done;
		n -= done;
	}
}

static void raw_puts(const char *s)
{
	raw_write(STD_OUTPUT_HANDLE, s, strlen(s));
}

/* Copies stdin to stdout until end of input. */
static int helper_echo(void)
{
	char b[4096];
	DWORD n;

	while (ReadFile(GetStdHandle(STD_INPUT_HANDLE), b, sizeof(b), &n,
			NULL) &&
	       n > 0)
		raw_write(STD_OUTPUT_HANDLE, b, n);
	return 0;
}

/* Prints "CWD=<dir>" and then the environment, one "K=V" a line. */
static int helper_print_env(void)
{
	struct buf line = BUF_INIT(1024 * 1024);
	wchar_t cwd[MAX_PATH * 4];
	wchar_t *env = GetEnvironmentStringsW();
	const wchar_t *p;

	GetCurrentDirectoryW((DWORD)TW_ARRAY_SIZE(cwd), cwd);
	buf_adds(&line, "CWD=");
	plat__wide_to_utf8(cwd, &line);
	buf_addch(&line, '\n');
	for (p = env; p && *p; p += wcslen(p) + 1) {
		plat__wide_to_utf8(p, &line);
		buf_addch(&line, '\n');
	}
	raw_write(STD_OUTPUT_HANDLE, line.ptr, line.len);
	FreeEnvironmentStringsW(env);
	buf_release(&line);
	return 0;
}

/* Leaves a file, a read-only file and a subdirectory in its directory. */
static int helper_write_file(void)
{
	HANDLE h;

	CreateDirectoryW(L"sub", NULL);
	h = CreateFileW(L"sub\\data.txt", GENERIC_WRITE, 0, NULL, CREATE_ALWAYS,
			FILE_ATTRIBUTE_NORMAL, NULL);
	if (h != INVALID_HANDLE_VALUE)
		CloseHandle(h);
	h = CreateFileW(L"ro.txt", GENERIC_WRITE, 0, NULL, CREATE_ALWAYS,
			FILE_ATTRIBUTE_READONLY, NULL);
	if (h == INVALID_HANDLE_VALUE)
		return 1;
	CloseHandle(h);
	raw_puts("written\n");
	return 0;
}

/* Writes n bytes to stdout and n / 8 to stderr, interleaved. */
static int helper_print_lots(unsigned long n)
{
	static char block[16384];
	unsigned long done = 0;

	memset(block, 'x', sizeof(block));
	while (done < n) {
		size_t k = n - done < sizeof(block) ? n - done : sizeof(block);

		raw_write(STD_OUTPUT_HANDLE, block, k);
		if ((done / sizeof(block)) % 8 == 0)
			raw_write(STD_ERROR_HANDLE, block, k);
		done += (unsigned long)k;
	}
	return 0;
}

static int helper(const char *mode, const char *arg)
{
	unsigned long n = arg ? strtoul(arg, NULL, 0) : 0;

	if (strcmp(mode, "sleep") == 0) {
		char line[64];

		snprintf(line, sizeof(line), "pid %lu\n",
			 (unsigned long)GetCurrentProcessId());
		raw_puts(line);
		Sleep(30000);
		return 0;
	}
	if (strcmp(mode, "echo") == 0)
		return helper_echo();
	if (strcmp(mode, "print-env") == 0)
		return helper_print_env();
	if (strcmp(mode, "write-file") == 0)
		return helper_write_file();
	if (strcmp(mode, "exit-code") == 0)
		ExitProcess((UINT)n);
	if (strcmp(mode, "print-lots") == 0)
		return helper_print_lots(n);
	return 99;
}

/* --- the supervisor side ------------------------------------------------ */

static struct buf self;
static struct buf sandbox_dir;
static int64_t next_job = 1000;

static void self_path(struct buf *out)
{
	wchar_t w[MAX_PATH * 4];

	GetModuleFileNameW(NULL, w, (DWORD)TW_ARRAY_SIZE(w));
	plat__wide_to_utf8(w, out);
}

static void job_dir(int64_t id, struct buf *out)
{
	buf_reset(out);
	buf_addf(out, "%s\\%lld", sandbox_dir.ptr, (long long)id);
}

/* Starts this program with --helper=mode [arg]; NULL when it failed. */
static struct sbx_child *spawn(const char *mode, const char *arg,
			       const struct sbx_limits *lim,
			       const char *const *allow,
			       const char *const *extra, int64_t *id)
{
	struct buf m = BUF_INIT(256);
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	const char *argv[4];
	struct sbx_opts o;
	struct sbx_child *c = NULL;
	int rc;

	buf_addf(&m, "--helper=%s", mode);
	argv[0] = self.ptr;
	argv[1] = m.ptr;
	argv[2] = arg;
	argv[3] = NULL;
	memset(&o, 0, sizeof(o));
	o.argv = argv;
	o.sandbox_dir = sandbox_dir.ptr;
	o.job_id = next_job++;
	o.env_allow = allow;
	o.env_extra = extra;
	if (lim)
		o.limits = *lim;
	if (id)
		*id = o.job_id;
	rc = sbx_spawn(&o, &c, &err);
	CHECK(rc == 0 && c, "spawn --helper=%s: rc %d %s", mode, rc, err.ptr);
	buf_release(&m);
	buf_release(&err);
	return rc == 0 ? c : NULL;
}

/* Reads stream which until EOF (or 20 s) into out. */
static bool read_all(struct sbx_child *c, int which, struct buf *out)
{
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	int64_t end = plat_monotonic_ms() + 20000;
	bool eof = false;
	int rc = 0;

	while (!eof && rc == 0 && plat_monotonic_ms() < end)
		rc = sbx_read(c, which, out, 250, &eof, &err);
	buf_release(&err);
	return eof && rc == 0;
}

static void check_echo(void)
{
	static const char msg[] = "hello sandbox\nsecond line\n";
	struct buf out = BUF_INIT(65536);
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct sbx_child *c = spawn("echo", NULL, NULL, NULL, NULL, NULL);
	struct sbx_exit ex;
	bool ok;
	int rc;

	if (!c)
		return;
	rc = sbx_write(c, msg, sizeof(msg) - 1, &err);
	CHECK(rc == 0, "write to the child's stdin: %s", err.ptr);
	sbx_close_stdin(c);
	ok = read_all(c, 1, &out);
	CHECK(ok && strcmp(out.ptr, msg) == 0,
	      "echo round trip through the pipes: <%s>", out.ptr);
	rc = sbx_wait(c, 10000, &ex, &err);
	CHECK(rc == 0 && ex.outcome == SBX_EXITED && ex.exit_code == 0,
	      "echo exits 0: rc %d %s %d", rc, sbx_outcome_name(ex.outcome),
	      ex.exit_code);
	rc = sbx_write(c, "x", 1, &err);
	CHECK(rc == TW_EIO, "write after close is TW_EIO: %d", rc);
	sbx_child_free(c);
	buf_release(&out);
	buf_release(&err);
}

static void check_exit_codes(void)
{
	static const struct {
		const char *arg;
		enum sbx_outcome want;
		int code;
	} cases[] = {
		{ "0", SBX_EXITED, 0 },
		{ "7", SBX_EXITED, 7 },
		{ "0xC0000005", SBX_CRASHED, (int)0xC0000005UL },
		{ "0xC0000409", SBX_CRASHED, (int)0xC0000409UL },
	};
	size_t i;

	for (i = 0; i < TW_ARRAY_SIZE(cases); i++) {
		struct buf err = BUF_INIT(BUF_SMALL_CAP);
		struct sbx_child *c;
		struct sbx_exit ex;
		int rc;

		c = spawn("exit-code", cases[i].arg, NULL, NULL, NULL, NULL);
		if (!c)
			continue;
		memset(&ex, 0, sizeof(ex));
		rc = sbx_wait(c, 10000, &ex, &err);
		CHECK(rc == 0 && ex.outcome == cases[i].want &&
			      ex.exit_code == cases[i].code,
		      "exit code %s is %s (%d): got %s (%d) %s", cases[i].arg,
		      sbx_outcome_name(cases[i].want), cases[i].code,
		      sbx_outcome_name(ex.outcome), ex.exit_code, err.ptr);
		CHECK(sbx_poll(c, NULL) == cases[i].want, "sbx_poll after the "
							  "wait gives the same "
							  "outcome");
		sbx_child_free(c);
		buf_release(&err);
	}
}

static void check_timeout(void)
{
	struct sbx_limits lim;
	struct sbx_sample s;
	struct sbx_exit ex;
	struct sbx_child *c;
	enum sbx_outcome o = SBX_RUNNING;
	int64_t t0;
	int64_t took;
	int rc;

	memset(&lim, 0, sizeof(lim));
	lim.wall_ms = 1000;
	t0 = plat_monotonic_ms();
	c = spawn("sleep", NULL, &lim, NULL, NULL, NULL);
	if (!c)
		return;
	memset(&s, 0, sizeof(s));
	while (o == SBX_RUNNING && plat_monotonic_ms() - t0 < 15000) {
		plat_sleep_ms(250);
		o = sbx_poll(c, &s);
	}
	took = plat_monotonic_ms() - t0;
	CHECK(o == SBX_KILLED_TIMEOUT && took < 1000 + 1500,
	      "wall-time limit of 1 s kills within bound: %s after %lld ms",
	      sbx_outcome_name(o), (long long)took);
	CHECK(s.wall_ms >= 1000, "the sample's wall time %lld ms",
	      (long long)s.wall_ms);
	rc = sbx_wait(c, 5000, &ex, NULL);
	CHECK(rc == 0 && ex.outcome == SBX_KILLED_TIMEOUT,
	      "sbx_wait classifies it killed:timeout: rc %d %s", rc,
	      sbx_outcome_name(ex.outcome));
	sbx_child_free(c);
}

/* A child that never reads its stdin cannot block sbx_write() forever. */
static void check_write_deadline(void)
{
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	size_t n = (size_t)4 * 1024 * 1024;
	char *data = xcalloc(n, 1);
	struct sbx_limits lim;
	struct sbx_exit ex;
	struct sbx_child *c;
	int64_t t0;
	int rc;

	memset(&lim, 0, sizeof(lim));
	lim.wall_ms = 1000;
	t0 = plat_monotonic_ms();
	c = spawn("sleep", NULL, &lim, NULL, NULL, NULL);
	if (!c)
		goto out;
	rc = sbx_write(c, data, n, &err);
	CHECK(rc == TW_EIO && plat_monotonic_ms() - t0 < 2500,
	      "a write the child never reads ends at its wall limit: rc %d "
	      "after %lld ms <%s>",
	      rc, (long long)(plat_monotonic_ms() - t0), err.ptr);
	rc = sbx_wait(c, 5000, &ex, NULL);
	CHECK(rc == 0 && ex.outcome == SBX_KILLED_TIMEOUT,
	      "and the child is killed:timeout: %s",
	      sbx_outcome_name(ex.outcome));
	sbx_child_free(c);
out:
	free(data);
	buf_release(&err);
}

static void check_cancel_and_free(void)
{
	struct buf out = BUF_INIT(65536);
	struct sbx_sample s;
	struct sbx_exit ex;
	struct sbx_child *c;
	bool eof = false;
	unsigned long pid = 0;
	HANDLE h;
	int64_t t0;
	int rc;

	c = spawn("sleep", NULL, NULL, NULL, NULL, NULL);
	if (!c)
		return;
	sbx_read(c, 1, &out, 5000, &eof, NULL);
	plat_sleep_ms(300);
	CHECK(sbx_poll(c, &s) == SBX_RUNNING && s.wall_ms > 0,
	      "running child sampled: wall %lld ms, rss %lld, commit %lld",
	      (long long)s.wall_ms, (long long)s.rss_bytes,
	      (long long)s.commit_bytes);
	t0 = plat_monotonic_ms();
	sbx_kill(c, SBX_CANCELLED);
	rc = sbx_wait(c, 2000, &ex, NULL);
	CHECK(rc == 0 && ex.outcome == SBX_CANCELLED &&
		      plat_monotonic_ms() - t0 < 2000,
	      "sbx_kill(SBX_CANCELLED) ends it as cancelled: rc %d %s", rc,
	      sbx_outcome_name(ex.outcome));
	sbx_child_free(c);

	/* Freed while running: the child must not outlive its supervisor. */
	buf_reset(&out);
	c = spawn("sleep", NULL, NULL, NULL, NULL, NULL);
	if (!c)
		goto out;
	sbx_read(c, 1, &out, 5000, &eof, NULL);
	sscanf(out.ptr, "pid %lu", &pid);
	h = pid ? OpenProcess(SYNCHRONIZE, FALSE, (DWORD)pid) : NULL;
	sbx_child_free(c);
	CHECK(h && WaitForSingleObject(h, 5000) == WAIT_OBJECT_0,
	      "sbx_child_free ends a running child (pid %lu)", pid);
	if (h)
		CloseHandle(h);
out:
	buf_release(&out);
}

/* True when text has a line starting with prefix (case-insensitive). */
static bool has_line(const char *text, const char *prefix)
{
	size_t n = strlen(prefix);
	const char *p = text;

	while (p && *p) {
		if (_strnicmp(p, prefix, n) == 0)
			return true;
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return false;
}

static void check_env_and_dir(void)
{
	static const char *const allow[] = { "PATH", "TW_NOT_SET_ANYWHERE",
					     NULL };
	static const char *const extra[] = { "PYTHONHASHSEED=0",
					     "PYTHONIOENCODING=utf-8", NULL };
	struct buf out = BUF_INIT(1024 * 1024);
	struct buf dir = BUF_INIT(65536);
	struct buf want = BUF_INIT(65536);
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct sbx_child *c;
	struct sbx_exit ex;
	int64_t id;
	bool ok;

	SetEnvironmentVariableW(L"TW_SECRET_KEY", L"hunter2");
	SetEnvironmentVariableW(L"DATABASE_URL", L"postgres://x:y@h/db");
	c = spawn("print-env", NULL, NULL, allow, extra, &id);
	if (!c)
		goto out;
	job_dir(id, &dir);
	ok = read_all(c, 1, &out);
	CHECK(ok, "read the child's environment");
	sbx_wait(c, 10000, &ex, &err);
	CHECK(!strstr(out.ptr, "TW_SECRET_KEY") && !strstr(out.ptr, "hunter2"),
	      "TW_SECRET_KEY set in the parent is not seen by the child");
	CHECK(!strstr(out.ptr, "DATABASE_URL"), "DATABASE_URL is not seen by "
						"the child");
	CHECK(has_line(out.ptr, "PATH="), "allow-listed PATH is passed");
	CHECK(has_line(out.ptr, "SYSTEMROOT="), "SYSTEMROOT is passed");
	CHECK(has_line(out.ptr, "PYTHONHASHSEED=0\n") &&
		      has_line(out.ptr, "PYTHONIOENCODING=utf-8"),
	      "env_extra entries are passed");
	buf_addf(&want, "CWD=%s", dir.ptr);
	CHECK(has_line(out.ptr, want.ptr), "child runs in its job directory %s",
	      dir.ptr);
	sbx_child_free(c);
	CHECK(!plat_is_dir(dir.ptr), "job directory removed after exit");

	/* A leftover is removed first; the child's files go afterwards. */
	job_dir(next_job, &dir);
	plat_mkdir_p(dir.ptr, NULL);
	buf_reset(&want);
	buf_addf(&want, "%s\\stale.txt", dir.ptr);
	plat_write_file_private(want.ptr, "old", 3, false, NULL);
	buf_reset(&out);
	c = spawn("write-file", NULL, NULL, NULL, NULL, &id);
	if (!c)
		goto out;
	CHECK(!plat_is_file(want.ptr), "a leftover job directory is emptied");
	read_all(c, 1, &out);
	sbx_wait(c, 10000, &ex, &err);
	CHECK(ex.outcome == SBX_EXITED && strcmp(out.ptr, "written\n") == 0 &&
		      plat_is_dir(dir.ptr),
	      "the child wrote into its job directory: <%s>", out.ptr);
	sbx_child_free(c);
	CHECK(!plat_is_dir(dir.ptr), "job directory with a subdirectory and a "
				     "read-only file "
				     "removed");

	/* Killed: the directory goes too. */
	c = spawn("sleep", NULL, NULL, NULL, NULL, &id);
	if (!c)
		goto out;
	job_dir(id, &dir);
	CHECK(plat_is_dir(dir.ptr), "job directory exists while it runs");
	sbx_kill(c, SBX_CANCELLED);
	sbx_child_free(c);
	CHECK(!plat_is_dir(dir.ptr), "job directory removed after a kill");
out:
	SetEnvironmentVariableW(L"TW_SECRET_KEY", NULL);
	SetEnvironmentVariableW(L"DATABASE_URL", NULL);
	buf_release(&out);
	buf_release(&dir);
	buf_release(&want);
	buf_release(&err);
}

static void check_lots(void)
{
	const unsigned long n = 8UL * 1024 * 1024;
	struct buf out = BUF_INIT((size_t)16 * 1024 * 1024);
	struct buf errout = BUF_INIT((size_t)16 * 1024 * 1024);
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct sbx_child *c;
	struct sbx_exit ex;
	bool eof1 = false;
	bool eof2 = false;
	int64_t end = plat_monotonic_ms() + 30000;
	int rc = 0;

	c = spawn("print-lots", "8388608", NULL, NULL, NULL, NULL);
	if (!c)
		goto out;
	/* Both pipes in turn: a child blocked on a full stderr while we
	 * wait on stdout would be the deadlock this checks for. */
	while ((!eof1 || !eof2) && rc == 0 && plat_monotonic_ms() < end) {
		if (!eof1)
			rc = sbx_read(c, 1, &out, 50, &eof1, &err);
		if (!eof2 && rc == 0)
			rc = sbx_read(c, 2, &errout, 50, &eof2, &err);
	}
	CHECK(rc == 0 && eof1 && eof2 && out.len == n,
	      "8 MiB of stdout and stderr without a deadlock: rc %d, %zu "
	      "and %zu bytes %s",
	      rc, out.len, errout.len, err.ptr);
	rc = sbx_wait(c, 10000, &ex, &err);
	CHECK(rc == 0 && ex.outcome == SBX_EXITED && ex.exit_code == 0,
	      "print-lots exits 0: %s", sbx_outcome_name(ex.outcome));
	sbx_child_free(c);
out:
	buf_release(&out);
	buf_release(&errout);
	buf_release(&err);
}

static void check_spawn_errors(void)
{
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	const char *argv[] = { "C:\\no\\such\\program.exe", NULL };
	struct sbx_opts o;
	struct sbx_child *c = NULL;
	struct buf dir = BUF_INIT(65536);
	int rc;

	memset(&o, 0, sizeof(o));
	o.argv = argv;
	o.sandbox_dir = sandbox_dir.ptr;
	o.job_id = next_job++;
	job_dir(o.job_id, &dir);
	rc = sbx_spawn(&o, &c, &err);
	CHECK(rc < 0 && !c && err.len > 0 && !plat_is_dir(dir.ptr),
	      "a missing program fails cleanly: rc %d <%s>", rc, err.ptr);
	buf_release(&err);
	buf_release(&dir);
}

int main(int argc, char **argv)
{
	wchar_t wtmp[MAX_PATH + 1];

	if (argc >= 2 && strncmp(argv[1], "--helper=", 9) == 0)
		return helper(argv[1] + 9, argc >= 3 ? argv[2] : NULL);

	buf_init(&self, 65536);
	buf_init(&sandbox_dir, 65536);
	self_path(&self);
	GetTempPathW(MAX_PATH + 1, wtmp);
	plat__wide_to_utf8(wtmp, &sandbox_dir);
	buf_addf(&sandbox_dir, "tw_sbx_smoke_%ld", plat_getpid());

	check_echo();
	check_exit_codes();
	check_timeout();
	check_write_deadline();
	check_cancel_and_free();
	check_env_and_dir();
	check_lots();
	check_spawn_errors();

	plat_remove_tree(sandbox_dir.ptr, NULL);
	buf_release(&self);
	buf_release(&sandbox_dir);
	return smoke_summary();
}
