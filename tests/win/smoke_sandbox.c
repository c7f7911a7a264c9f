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
#include "sandbox/sandbox_win_int.h"

#include <windows.h>
#include <aclapi.h>
#include <sddl.h>

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

/* Prints what the child's own token says: integrity RID, deny-only user,
 * AppContainer. */
static int helper_token(void)
{
	HANDLE t = NULL;
	BYTE ub[512];
	BYTE lb[512];
	DWORD len = 0;
	DWORD ac = 0;
	DWORD rid = 0;
	DWORD deny = 0;
	char line[128];

	if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &t))
		return 2;
	if (GetTokenInformation(t, TokenUser, ub, sizeof(ub), &len))
		deny = (((TOKEN_USER *)ub)->User.Attributes &
			SE_GROUP_USE_FOR_DENY_ONLY) != 0;
	if (GetTokenInformation(t, TokenIntegrityLevel, lb, sizeof(lb), &len)) {
		PSID sid = ((TOKEN_MANDATORY_LABEL *)lb)->Label.Sid;

		rid = *GetSidSubAuthority(
			sid, (DWORD)(*GetSidSubAuthorityCount(sid) - 1));
	}
	if (!GetTokenInformation(t, TokenIsAppContainer, &ac, sizeof(ac), &len))
		ac = 0;
	CloseHandle(t);
	snprintf(line, sizeof(line), "il=0x%lx deny_only_user=%lu ac=%lu\n",
		 (unsigned long)rid, (unsigned long)deny, (unsigned long)ac);
	raw_puts(line);
	return 0;
}

/* The attack of issue 12: opening the worker to read its memory or take
 * its handles (the job's, to lift its own limits). */
static int helper_open_parent(unsigned long pid)
{
	HANDLE h;
	char line[128];
	bool vm;
	bool dup;

	h = OpenProcess(PROCESS_VM_READ, FALSE, (DWORD)pid);
	vm = h != NULL;
	if (h)
		CloseHandle(h);
	h = OpenProcess(PROCESS_DUP_HANDLE, FALSE, (DWORD)pid);
	dup = h != NULL;
	if (h)
		CloseHandle(h);
	snprintf(line, sizeof(line), "vm_read=%s dup_handle=%s\n",
		 vm ? "opened" : "denied", dup ? "opened" : "denied");
	raw_puts(line);
	return 0;
}

/* A supervisor of its own (run with TW_SANDBOX_ISOLATION set): prints
 * what sbx_spawn() says. */
static int helper_probe_isolation(void)
{
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct buf me = BUF_INIT(65536);
	wchar_t w[MAX_PATH * 4];
	const char *argv[3];
	struct sbx_opts o;
	struct sbx_child *c = NULL;
	int rc;

	GetModuleFileNameW(NULL, w, (DWORD)TW_ARRAY_SIZE(w));
	plat__wide_to_utf8(w, &me);
	argv[0] = me.ptr;
	argv[1] = "--helper=exit-code";
	argv[2] = NULL;
	memset(&o, 0, sizeof(o));
	o.argv = argv;
	o.sandbox_dir = "probe-dir-never-made";
	o.job_id = 1;
	rc = sbx_spawn(&o, &c, &err);
	sbx_child_free(c);
	buf_reset(&me);
	buf_addf(&me, "rc=%d err=%s note=%s\n", rc, err.ptr,
		 sbx__win_isolation_note());
	raw_puts(me.ptr);
	buf_release(&me);
	buf_release(&err);
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
	if (strcmp(mode, "token") == 0)
		return helper_token();
	if (strcmp(mode, "open-parent") == 0)
		return helper_open_parent(n);
	if (strcmp(mode, "probe-isolation") == 0)
		return helper_probe_isolation();
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

/* --- isolation (AppContainer or restricted token) ------------------------ */

static bool running_on_wine(void)
{
	HMODULE ntdll = GetModuleHandleW(L"ntdll.dll");

	return ntdll && GetProcAddress(ntdll, "wine_get_version") != NULL;
}

/* The SID string of an ACE (allow or deny), into out. */
static void ace_sid(void *ace, struct buf *out)
{
	ACCESS_ALLOWED_ACE *a = ace; /* same layout as ACCESS_DENIED_ACE */
	wchar_t *s = NULL;

	buf_reset(out);
	if (ConvertSidToStringSidW((PSID)&a->SidStart, &s)) {
		plat__wide_to_utf8(s, out);
		LocalFree(s);
	}
}

/*
 * Describes a DACL as "P" (protected) or "-", then one "A:<sid>" or
 * "D:<sid>" per ACE, space-separated.
 */
static void describe_dacl(PSECURITY_DESCRIPTOR sd, struct buf *out)
{
	SECURITY_DESCRIPTOR_CONTROL ctl = 0;
	DWORD rev = 0;
	BOOL present = FALSE;
	BOOL defaulted = FALSE;
	PACL dacl = NULL;
	struct buf sid = BUF_INIT(256);
	DWORD i;

	buf_reset(out);
	GetSecurityDescriptorControl(sd, &ctl, &rev);
	buf_adds(out, (ctl & SE_DACL_PROTECTED) ? "P" : "-");
	if (!GetSecurityDescriptorDacl(sd, &present, &dacl, &defaulted) ||
	    !present || !dacl)
		goto out;
	for (i = 0; i < dacl->AceCount; i++) {
		ACE_HEADER *h = NULL;

		if (!GetAce(dacl, i, (void **)&h))
			continue;
		ace_sid(h, &sid);
		buf_addf(out, " %s:%s",
			 h->AceType == ACCESS_ALLOWED_ACE_TYPE	? "A"
			 : h->AceType == ACCESS_DENIED_ACE_TYPE ? "D"
								: "?",
			 sid.ptr);
	}
out:
	buf_release(&sid);
}

static void my_user_sid(struct buf *out)
{
	HANDLE t = NULL;
	BYTE ub[512];
	DWORD len = 0;
	wchar_t *s = NULL;

	buf_reset(out);
	if (OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &t) &&
	    GetTokenInformation(t, TokenUser, ub, sizeof(ub), &len) &&
	    ConvertSidToStringSidW(((TOKEN_USER *)ub)->User.Sid, &s)) {
		plat__wide_to_utf8(s, out);
		LocalFree(s);
	}
	if (t)
		CloseHandle(t);
}

/* Runs helper mode to the end and returns its stdout in out. */
static bool run_helper(const char *mode, const char *arg,
		       const char *const *extra, struct buf *out)
{
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct sbx_child *c = spawn(mode, arg, NULL, NULL, extra, NULL);
	struct sbx_exit ex;
	bool ok;

	if (!c)
		return false;
	sbx_close_stdin(c);
	ok = read_all(c, 1, out);
	ok = sbx_wait(c, 10000, &ex, &err) == 0 && ok;
	sbx_child_free(c);
	buf_release(&err);
	return ok;
}

static void check_isolation(void)
{
	struct buf user = BUF_INIT(256);
	struct buf want = BUF_INIT(4096);
	struct buf got = BUF_INIT(4096);
	struct buf out = BUF_INIT(65536);
	struct buf pid = BUF_INIT(64);
	struct buf dir = BUF_INIT(65536);
	struct sbx_child *c;
	const char *note;
	const char *principal;
	PSECURITY_DESCRIPTOR sd = NULL;
	PACL dacl = NULL;
	enum sbx__win_mode mode;
	unsigned attrs;
	wchar_t *w;
	bool wine = running_on_wine();
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	HANDLE sleeper = NULL;
	HANDLE h;
	int64_t id = 0;
	DWORD e;

	my_user_sid(&user);
	c = spawn("sleep", NULL, NULL, NULL, NULL, &id);
	if (!c)
		goto out;
	/* A handle of our own, to see the process end (a worker's user
	 * has SYNCHRONIZE in the child's DACL). */
	sleeper = OpenProcess(SYNCHRONIZE, FALSE, (DWORD)sbx_child_pid(c));
	mode = sbx__win_child_mode(c);
	attrs = sbx__win_child_attrs(c);
	note = sbx__win_isolation_note();
	principal = sbx__win_principal_sid();
	printf("# isolation: %s; principal %s\n", note,
	       principal ? principal : "(none)");
	CHECK(strcmp(sbx_child_isolation(c), note) == 0,
	      "sbx_child_isolation(), what the worker logs, is the note: %s",
	      sbx_child_isolation(c));
	/* The mode and why: Wine's userenv.dll has no AppContainer. */
	if (wine)
		CHECK(mode == SBX__WIN_RESTRICTED &&
			      strstr(note, "restricted-token (fallback: ") ==
				      note &&
			      strstr(note, "AppContainer unavailable"),
		      "Wine: the restricted-token fallback is taken and "
		      "noted: %s",
		      note);
	else
		CHECK(mode == SBX__WIN_LPAC,
		      "Windows: the child runs in an LPAC: %s", note);
	CHECK(principal && strncmp(principal, "S-1-", 4) == 0 &&
		      strcmp(principal, user.ptr) != 0,
	      "the child's principal is a SID that is not the worker's user: "
	      "%s",
	      principal ? principal : "(none)");
	if (mode == SBX__WIN_RESTRICTED)
		CHECK(strncmp(principal, "S-1-5-5-", 8) == 0,
		      "a restricted child's principal is the logon SID: %s",
		      principal);
	else
		CHECK(strncmp(principal, "S-1-15-2-", 9) == 0,
		      "an AppContainer child's principal is its package SID: "
		      "%s",
		      principal);

	/* The attribute list built for it. */
	CHECK((attrs & SBX__WIN_ATTR_HANDLE_LIST) &&
		      (attrs & SBX__WIN_ATTR_CHILD_PROCESS_RESTRICTED),
	      "attribute list: handle list and child-process policy "
	      "(0x%x)",
	      attrs);
	CHECK(!(attrs & SBX__WIN_ATTR_SECURITY_CAPABILITIES) ==
			      (mode == SBX__WIN_RESTRICTED) &&
		      !(attrs & SBX__WIN_ATTR_ALL_APP_PACKAGES_OPT_OUT) ==
			      (mode != SBX__WIN_LPAC),
	      "attribute list: security capabilities and the LPAC opt-out "
	      "exactly in their modes (0x%x, %s)",
	      attrs, sbx__win_mode_name(mode));

	/* The job directory's DACL as created: the principal, the worker,
	 * nothing else, nothing inherited. */
	buf_addf(&want, "D:P(A;OICI;FA;;;%s)(A;OICI;FA;;;%s)%s",
		 principal ? principal : "?", user.ptr,
		 mode == SBX__WIN_RESTRICTED ? "S:(ML;OICI;NW;;;LW)" : "");
	CHECK(strcmp(sbx__win_child_dir_sddl(c), want.ptr) == 0,
	      "job directory created with %s (want %s)",
	      sbx__win_child_dir_sddl(c), want.ptr);
	w = plat__utf8_to_wide(sbx__win_child_dir_sddl(c));
	if (w && ConvertStringSecurityDescriptorToSecurityDescriptorW(
			 w, SDDL_REVISION_1, &sd, NULL)) {
		describe_dacl(sd, &got);
		LocalFree(sd);
		sd = NULL;
	}
	free(w);
	buf_reset(&want);
	buf_addf(&want, "P A:%s A:%s", principal ? principal : "?", user.ptr);
	CHECK(strcmp(got.ptr, want.ptr) == 0,
	      "that descriptor: protected, two allow ACEs: %s", got.ptr);
	job_dir(id, &dir);
	w = plat__utf8_to_wide(dir.ptr);
	e = GetNamedSecurityInfoW(w, SE_FILE_OBJECT, DACL_SECURITY_INFORMATION,
				  NULL, NULL, &dacl, NULL, &sd);
	free(w);
	buf_reset(&got);
	if (e == ERROR_SUCCESS) {
		describe_dacl(sd, &got);
		LocalFree(sd);
		sd = NULL;
	}
	if (wine && strcmp(got.ptr, want.ptr) != 0)
		smoke_skip("job directory's DACL read back: Wine derives it "
			   "from Unix mode bits (got %s)",
			   got.ptr);
	else
		CHECK(strcmp(got.ptr, want.ptr) == 0,
		      "job directory's DACL read back: %s", got.ptr);

	/* The worker's own process DACL: its user and SYSTEM, not the child. */
	e = GetSecurityInfo(GetCurrentProcess(), SE_KERNEL_OBJECT,
			    DACL_SECURITY_INFORMATION, NULL, NULL, &dacl, NULL,
			    &sd);
	buf_reset(&got);
	if (e == ERROR_SUCCESS) {
		describe_dacl(sd, &got);
		LocalFree(sd);
		sd = NULL;
	}
	buf_reset(&want);
	if (mode != SBX__WIN_RESTRICTED)
		buf_addf(&want, "P D:%s A:%s A:S-1-5-18 A:S-1-3-4", principal,
			 user.ptr);
	else
		buf_addf(&want, "P A:%s A:S-1-5-18 A:S-1-3-4", user.ptr);
	CHECK(got.len > 0 && strcmp(got.ptr + 1, want.ptr + 1) == 0,
	      "worker's process DACL grants its user and SYSTEM only: %s "
	      "(want %s)",
	      got.ptr, want.ptr);
	if (wine && got.ptr[0] != 'P')
		smoke_skip("worker's process DACL is protected: Wine does not "
			   "keep the control bit");
	else
		CHECK(got.ptr[0] == 'P', "worker's process DACL is protected");
	/* The child's own process object: the worker and SYSTEM only, so
	 * that one job's child cannot open another's. */
	h = OpenProcess(READ_CONTROL, FALSE, (DWORD)sbx_child_pid(c));
	buf_reset(&got);
	if (h &&
	    GetSecurityInfo(h, SE_KERNEL_OBJECT, DACL_SECURITY_INFORMATION,
			    NULL, NULL, &dacl, NULL, &sd) == ERROR_SUCCESS) {
		describe_dacl(sd, &got);
		LocalFree(sd);
		sd = NULL;
	}
	if (h)
		CloseHandle(h);
	buf_reset(&want);
	buf_addf(&want, "P A:%s A:S-1-5-18", user.ptr);
	CHECK(got.len > 0 && strcmp(got.ptr + 1, want.ptr + 1) == 0,
	      "child's process DACL grants the worker and SYSTEM only: %s "
	      "(want %s)",
	      got.ptr, want.ptr);
	sbx_kill(c, SBX_CANCELLED);
	CHECK(sbx_wait(c, 5000, NULL, &err) == 0 &&
		      WaitForSingleObject(sleeper, 0) == WAIT_OBJECT_0,
	      "the isolated child is killed with its job: %s", err.ptr);
	sbx_child_free(c);
	c = NULL;

	/* The child's token, seen from inside. */
	buf_reset(&out);
	if (run_helper("token", NULL, NULL, &out)) {
		bool held =
			mode == SBX__WIN_RESTRICTED
				? strstr(out.ptr, "il=0x1000 ") &&
					  strstr(out.ptr, "deny_only_user=1")
				: strstr(out.ptr, "ac=1") != NULL;

		if (wine && !held)
			smoke_skip(
				"child's token is %s: Wine ignores the token "
				"CreateProcessAsUserW is given (%s)",
				sbx__win_mode_name(mode), out.ptr);
		else
			CHECK(held, "child's token is %s: %s",
			      sbx__win_mode_name(mode), out.ptr);
	} else {
		CHECK(false, "token helper ran: %s", out.ptr);
	}

	/* The attack: open the worker to read its memory or its handles. */
	buf_addf(&pid, "%lu", (unsigned long)GetCurrentProcessId());
	buf_reset(&out);
	if (run_helper("open-parent", pid.ptr, NULL, &out)) {
		bool held = strstr(out.ptr, "vm_read=denied dup_handle=denied");

		if (wine && !held)
			smoke_skip(
				"child cannot open the worker: Wine does not "
				"check access to process objects (%s)",
				out.ptr);
		else
			CHECK(held, "child cannot open the worker: %s",
			      out.ptr);
	} else {
		CHECK(false, "open-parent helper ran: %s", out.ptr);
	}

	/* A bad TW_SANDBOX_ISOLATION is a clear error, never no isolation. */
	{
		static const char *const bogus[] = {
			"TW_SANDBOX_ISOLATION=none", NULL
		};

		buf_reset(&out);
		run_helper("probe-isolation", NULL, bogus, &out);
		CHECK(strstr(out.ptr, "rc=-") &&
			      strstr(out.ptr, "could not isolate the sandbox "
					      "child: TW_SANDBOX_ISOLATION "
					      "must be"),
		      "TW_SANDBOX_ISOLATION=none is refused: %s", out.ptr);
	}
	/*
	 * TW_SANDBOX_ISOLATION starting lower, noted. Only under Wine: the
	 * probe is a supervisor inside a sandbox child, which real Windows
	 * does not let start a process (and under an AppContainer it could
	 * not create a profile).
	 */
	if (wine) {
		static const char *const ac[] = {
			"TW_SANDBOX_ISOLATION=appcontainer", NULL
		};
		static const char *const rt[] = {
			"TW_SANDBOX_ISOLATION=restricted", NULL
		};

		buf_reset(&out);
		run_helper("probe-isolation", NULL, ac, &out);
		CHECK(strstr(out.ptr, "note=restricted-token (fallback: LPAC "
				      "skipped: TW_SANDBOX_ISOLATION="
				      "appcontainer; AppContainer unavailable"),
		      "TW_SANDBOX_ISOLATION=appcontainer: noted, then the "
		      "fallback: %s",
		      out.ptr);
		buf_reset(&out);
		run_helper("probe-isolation", NULL, rt, &out);
		CHECK(strstr(out.ptr, "note=restricted-token (fallback: "
				      "AppContainer skipped: "
				      "TW_SANDBOX_ISOLATION=restricted)\n"),
		      "TW_SANDBOX_ISOLATION=restricted: AppContainer not even "
		      "tried: %s",
		      out.ptr);
	}
out:
	if (sleeper)
		CloseHandle(sleeper);
	buf_release(&err);
	buf_release(&user);
	buf_release(&want);
	buf_release(&got);
	buf_release(&out);
	buf_release(&pid);
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
	check_isolation();

	plat_remove_tree(sandbox_dir.ptr, NULL);
	buf_release(&self);
	buf_release(&sandbox_dir);
	return smoke_summary();
}
