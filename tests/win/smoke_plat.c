/*
 * smoke_plat.c - smoke test of src/platform/win, cross-compiled with
 * mingw-w64 and run under Wine (or on real Windows):
 *
 *	tests/win/run_smoke.sh
 *
 * which compiles src/core, src/platform/win and this file with
 * x86_64-w64-mingw32-gcc and runs the result with wine.
 *
 * Plain C without cmocka (which has no mingw package here). The program is
 * also its own child process: "--helper=args|both|sleep|spew" modes stand
 * in for commands (libuv's spawn_helper), so the checks need nothing but
 * cmd.exe. Prints "ok"/"not ok"/"skip" per check and a final "N passed,
 * N failed, N skipped" line; exits non-zero when a check failed.
 */
#include "core/compat.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/str.h"
#include "log/log.h"
#include "platform/plat.h"
#include "platform/win/win_int.h"
#include "smoke.h"

#include <winsock2.h>
#include <windows.h>
#include <shellapi.h>
#include <fcntl.h>
#include <io.h>

/* --- helper modes (the program as its own child) ------------------------ */

static void raw_write(DWORD which, const char *s, size_t n)
{
	DWORD done;

	WriteFile(GetStdHandle(which), s, (DWORD)n, &done, NULL);
}

/* Prints each argument after the mode as "[arg]\n" in UTF-8. */
static int helper_args(void)
{
	int argc = 0;
	int i;
	wchar_t **wargv = CommandLineToArgvW(GetCommandLineW(), &argc);

	for (i = 2; wargv && i < argc; i++) {
		struct buf line = BUF_INIT(65536);

		buf_addch(&line, '[');
		plat__wide_to_utf8(wargv[i], &line);
		buf_adds(&line, "]\n");
		raw_write(STD_OUTPUT_HANDLE, line.ptr, line.len);
		buf_release(&line);
	}
	LocalFree(wargv);
	return 0;
}

/*
 * Starts a copy of this program in sleep mode that inherits our stdout and
 * outlives us, as "pg_ctl start" leaves the postmaster behind, then exits.
 */
static int helper_daemon(void)
{
	wchar_t self[MAX_PATH * 4];
	wchar_t cmd[MAX_PATH * 4 + 64];
	STARTUPINFOW si;
	PROCESS_INFORMATION pi;

	GetModuleFileNameW(NULL, self, (DWORD)TW_ARRAY_SIZE(self));
	_snwprintf(cmd, TW_ARRAY_SIZE(cmd), L"\"%ls\" --helper=sleep", self);
	memset(&si, 0, sizeof(si));
	si.cb = sizeof(si);
	si.dwFlags = STARTF_USESTDHANDLES;
	si.hStdInput = GetStdHandle(STD_INPUT_HANDLE);
	si.hStdOutput = GetStdHandle(STD_OUTPUT_HANDLE);
	si.hStdError = GetStdHandle(STD_ERROR_HANDLE);
	if (!CreateProcessW(self, cmd, NULL, NULL, TRUE, 0, NULL, NULL, &si,
			    &pi))
		return 98;
	CloseHandle(pi.hThread);
	CloseHandle(pi.hProcess);
	raw_write(STD_OUTPUT_HANDLE, "started\n", 8);
	return 0;
}

static int helper(const char *mode)
{
	if (strcmp(mode, "args") == 0)
		return helper_args();
	if (strcmp(mode, "both") == 0) {
		raw_write(STD_OUTPUT_HANDLE, "out\n", 4);
		raw_write(STD_ERROR_HANDLE, "err\n", 4);
		return 3;
	}
	if (strcmp(mode, "sleep") == 0) {
		Sleep(10000);
		return 0;
	}
	if (strcmp(mode, "daemon") == 0)
		return helper_daemon();
	if (strcmp(mode, "spew") == 0) {
		static char block[65536];
		int i;

		memset(block, 'y', sizeof(block));
		for (i = 0; i < 160; i++) /* 10 MiB */
			raw_write(STD_OUTPUT_HANDLE, block, sizeof(block));
		return 0;
	}
	return 99;
}

/* --- checks -------------------------------------------------------------- */

struct quote_case {
	const char *arg;
	const char *want;
};

static const struct quote_case quote_cases[] = {
	{ "hello", "hello" },
	{ "", "\"\"" },
	{ "a b", "\"a b\"" },
	{ "a\tb", "\"a\tb\"" },
	{ "a\"b", "\"a\\\"b\"" },
	{ "\"", "\"\\\"\"" },
	{ "a\\b", "a\\b" },
	{ "a\\\\b", "a\\\\b" },
	{ "a\\", "a\\" },
	{ "a b\\", "\"a b\\\\\"" },
	{ "a b\\\\", "\"a b\\\\\\\\\"" },
	{ "a\\\"b", "\"a\\\\\\\"b\"" },
	{ "a\\\\\"b", "\"a\\\\\\\\\\\"b\"" },
	{ "\\\"", "\"\\\\\\\"\"" },
	{ "C:\\Program Files\\x\\", "\"C:\\Program Files\\x\\\\\"" },
	{ "\\\\server\\share", "\\\\server\\share" },
	{ "a\\\\ b", "\"a\\\\ b\"" },
	{ "line\nbreak", "\"line\nbreak\"" },
	{ "h\xc3\xa9llo w\xc3\xb6rld", "\"h\xc3\xa9llo w\xc3\xb6rld\"" },
	{ "--opt=\"x y\"", "\"--opt=\\\"x y\\\"\"" },
	{ "%PATH%", "%PATH%" },
};

/* The table, then a round trip of all cases through CommandLineToArgvW. */
static void check_quoting(void)
{
	struct buf line = BUF_INIT(65536);
	wchar_t *wline;
	wchar_t **wargv;
	size_t i;
	int argc = 0;

	for (i = 0; i < TW_ARRAY_SIZE(quote_cases); i++) {
		struct buf q = BUF_INIT(4096);

		plat__quote_cmd_arg(quote_cases[i].arg, &q);
		CHECK(strcmp(q.ptr, quote_cases[i].want) == 0,
		      "quote case %d gives <%s>", (int)i, q.ptr);
		buf_release(&q);
	}
	buf_adds(&line, "prog.exe");
	for (i = 0; i < TW_ARRAY_SIZE(quote_cases); i++) {
		buf_addch(&line, ' ');
		plat__quote_cmd_arg(quote_cases[i].arg, &line);
	}
	wline = plat__utf8_to_wide(line.ptr);
	wargv = CommandLineToArgvW(wline, &argc);
	CHECK(wargv && argc == (int)TW_ARRAY_SIZE(quote_cases) + 1,
	      "CommandLineToArgvW splits into %d arguments", argc);
	for (i = 0;
	     wargv && i + 1 < (size_t)argc && i < TW_ARRAY_SIZE(quote_cases);
	     i++) {
		struct buf back = BUF_INIT(4096);

		plat__wide_to_utf8(wargv[i + 1], &back);
		CHECK(strcmp(back.ptr, quote_cases[i].arg) == 0,
		      "CommandLineToArgvW gives back case %d", (int)i);
		buf_release(&back);
	}
	LocalFree(wargv);
	free(wline);
	buf_release(&line);
}

static void self_path(struct buf *out)
{
	wchar_t w[MAX_PATH * 4];

	GetModuleFileNameW(NULL, w, (DWORD)TW_ARRAY_SIZE(w));
	plat__wide_to_utf8(w, out);
}

static void check_run(void)
{
	struct buf self = BUF_INIT(65536);
	struct buf out = BUF_INIT(1024 * 1024);
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct plat_run_opts o;
	int status = -1;
	int rc;
	int64_t t0;

	self_path(&self);
	memset(&o, 0, sizeof(o));
	o.output = &out;
	o.timeout_ms = 20000;

	{
		const char *argv[] = { "cmd", "/c", "echo", "hello", NULL };

		o.argv = argv;
		rc = plat_run(&o, &status, &err);
		CHECK(rc == 0 && status == 0 && strstr(out.ptr, "hello"),
		      "run cmd /c echo hello: rc %d status %d output <%s> %s",
		      rc, status, out.ptr, err.ptr);
	}
	{
		const char *argv[] = { self.ptr, "--helper=both", NULL };

		buf_reset(&out);
		buf_reset(&err);
		o.argv = argv;
		rc = plat_run(&o, &status, &err);
		CHECK(rc == 0 && status == 3 &&
			      strcmp(out.ptr, "out\nerr\n") == 0,
		      "run captures stdout+stderr and exit 3: rc %d status "
		      "%d output <%s> %s",
		      rc, status, out.ptr, err.ptr);
	}
	{
		const char *argv[] = { self.ptr,
				       "--helper=args",
				       "plain",
				       "",
				       "two words",
				       "quote\"inside",
				       "trailing\\",
				       "spaced trailing\\",
				       "back\\\\\"slash",
				       "h\xc3\xa9llo w\xc3\xb6rld",
				       NULL };
		const char *want = "[plain]\n[]\n[two words]\n"
				   "[quote\"inside]\n[trailing\\]\n"
				   "[spaced trailing\\]\n[back\\\\\"slash]\n"
				   "[h\xc3\xa9llo w\xc3\xb6rld]\n";

		buf_reset(&out);
		buf_reset(&err);
		o.argv = argv;
		rc = plat_run(&o, &status, &err);
		CHECK(rc == 0 && status == 0 && strcmp(out.ptr, want) == 0,
		      "argv survives CreateProcessW: rc %d output <%s> %s", rc,
		      out.ptr, err.ptr);
	}
	{
		const char *argv[] = { self.ptr, "--helper=daemon", NULL };

		buf_reset(&out);
		buf_reset(&err);
		o.argv = argv;
		t0 = plat_monotonic_ms();
		rc = plat_run(&o, &status, &err);
		t0 = plat_monotonic_ms() - t0;
		CHECK(rc == 0 && status == 0 &&
			      strcmp(out.ptr, "started\n") == 0 && t0 < 5000,
		      "a leftover grandchild holding the pipe does not block: "
		      "rc %d status %d after %lld ms <%s> %s",
		      rc, status, (long long)t0, out.ptr, err.ptr);
	}
	{
		const char *argv[] = { "tw-no-such-program-xyz", NULL };

		buf_reset(&err);
		o.argv = argv;
		rc = plat_run(&o, &status, &err);
		CHECK(rc == TW_EIO &&
			      str_starts_with(err.ptr,
					      "could not run "
					      "\"tw-no-such-program-xyz\":"
					      " "),
		      "missing program: rc %d <%s>", rc, err.ptr);
	}
	{
		const char *argv[] = { self.ptr, "--helper=sleep", NULL };

		buf_reset(&err);
		o.argv = argv;
		o.timeout_ms = 300;
		t0 = plat_monotonic_ms();
		rc = plat_run(&o, &status, &err);
		t0 = plat_monotonic_ms() - t0;
		CHECK(rc == TW_ETIMEOUT && status == 137 && t0 < 5000,
		      "timeout kills: rc %d status %d after %lld ms <%s>", rc,
		      status, (long long)t0, err.ptr);
	}
	{
		const char *argv[] = { self.ptr, "--helper=spew", NULL };
		struct buf small = BUF_INIT(65536);

		o.argv = argv;
		o.output = &small;
		o.timeout_ms = 60000;
		t0 = plat_monotonic_ms();
		rc = plat_run(&o, &status, &err);
		t0 = plat_monotonic_ms() - t0;
		CHECK(rc == 0 && status == 0 && small.len == 65536 &&
			      small.ptr[0] == 'y',
		      "10 MiB of output against a 64 KiB cap: rc %d len %llu "
		      "in %lld ms",
		      rc, (unsigned long long)small.len, (long long)t0);
		buf_release(&small);
	}
	buf_release(&self);
	buf_release(&out);
	buf_release(&err);
}

/* Counts files named "*.tmp.*" in dir. */
static int count_tmp(const char *dir)
{
	struct buf pat = BUF_INIT(65536);
	WIN32_FIND_DATAW fd;
	wchar_t *w;
	HANDLE h;
	int n = 0;

	buf_addf(&pat, "%s\\*.tmp.*", dir);
	w = plat__utf8_to_wide(pat.ptr);
	h = FindFirstFileW(w, &fd);
	if (h != INVALID_HANDLE_VALUE) {
		do
			n++;
		while (FindNextFileW(h, &fd));
		FindClose(h);
	}
	free(w);
	buf_release(&pat);
	return n;
}

/* Wine's ntdll exports wine_get_version; Windows' does not. */
static bool running_on_wine(void)
{
	HMODULE ntdll = GetModuleHandleW(L"ntdll.dll");

	return ntdll && GetProcAddress(ntdll, "wine_get_version") != NULL;
}

/* The file's DACL is protected (nothing inherited) with three ACEs. */
static void check_private_dacl(const char *path)
{
	SECURITY_DESCRIPTOR_CONTROL ctl = 0;
	PSECURITY_DESCRIPTOR sd = NULL;
	ACL_SIZE_INFORMATION info;
	BOOL present = FALSE, defaulted = FALSE;
	DWORD rev = 0, need = 0;
	PACL dacl = NULL;
	wchar_t *w = plat__utf8_to_wide(path);
	bool ok = false;

	memset(&info, 0, sizeof(info));
	GetFileSecurityW(w, DACL_SECURITY_INFORMATION, NULL, 0, &need);
	if (need > 0) {
		sd = malloc(need);
		ok = sd &&
		     GetFileSecurityW(w, DACL_SECURITY_INFORMATION, sd, need,
				      &need) &&
		     GetSecurityDescriptorControl(sd, &ctl, &rev) &&
		     GetSecurityDescriptorDacl(sd, &present, &dacl,
					       &defaulted) &&
		     present && dacl &&
		     GetAclInformation(dacl, &info, sizeof(info),
				       AclSizeInformation);
	}
	if (running_on_wine() && !(ok && (ctl & SE_DACL_PROTECTED))) {
		/* Wine derives a file's DACL from its Unix mode bits and
		 * does not store the one given at creation. */
		smoke_skip("private DACL: Wine does not keep file DACLs "
			   "(got %lu ACEs)",
			   (unsigned long)info.AceCount);
	} else {
		CHECK(ok && (ctl & SE_DACL_PROTECTED) && info.AceCount == 3,
		      "private file has a protected DACL with %lu ACEs",
		      (unsigned long)info.AceCount);
	}
	free(sd);
	free(w);
}

/* Removes an empty directory given in UTF-8. */
static void remove_dir(const char *path)
{
	wchar_t *w = plat__utf8_to_wide(path);

	RemoveDirectoryW(w);
	free(w);
}

static void check_files(const char *tmp)
{
	struct buf p = BUF_INIT(65536);
	struct buf q = BUF_INIT(65536);
	struct buf got = BUF_INIT(1024);
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	int rc;

	/* A UTF-8 directory name, created with its parents. */
	buf_addf(&p,
		 "%s\\donn\xc3\xa9"
		 "es\\a/b",
		 tmp);
	rc = plat_mkdir_p(p.ptr, &err);
	CHECK(rc == 0 && plat_is_dir(p.ptr), "mkdir_p nested: %d %s", rc,
	      err.ptr);
	CHECK(plat_mkdir_p(p.ptr, NULL) == 0, "mkdir_p existing");

	buf_reset(&p);
	buf_addf(&p,
		 "%s\\donn\xc3\xa9"
		 "es\\secret.env",
		 tmp);
	rc = plat_write_file_private(p.ptr, "k=1\n", 4, false, &err);
	CHECK(rc == 0 && plat_is_file(p.ptr), "write_file_private: %d %s", rc,
	      err.ptr);
	rc = plat_read_file(p.ptr, &got, &err);
	CHECK(rc == 0 && strcmp(got.ptr, "k=1\n") == 0, "read back: %d <%s>",
	      rc, got.ptr);
	check_private_dacl(p.ptr);
	rc = plat_write_file_private(p.ptr, "k=2\n", 4, false, &err);
	buf_reset(&got);
	plat_read_file(p.ptr, &got, NULL);
	CHECK(rc == 0 && strcmp(got.ptr, "k=2\n") == 0,
	      "write_file_private replaces: %d", rc);
	buf_reset(&err);
	rc = plat_write_file_private(p.ptr, "k=3\n", 4, true, &err);
	buf_reset(&got);
	plat_read_file(p.ptr, &got, NULL);
	CHECK(rc == TW_ECONFLICT && strcmp(got.ptr, "k=2\n") == 0,
	      "exclusive write conflicts: %d <%s>", rc, err.ptr);
	buf_reset(&q);
	buf_addf(&q,
		 "%s\\donn\xc3\xa9"
		 "es",
		 tmp);
	CHECK(count_tmp(q.ptr) == 0, "no temporary file left behind");

	{
		struct buf small = BUF_INIT(3);

		rc = plat_read_file(p.ptr, &small, &err);
		CHECK(rc == TW_ETOOBIG && small.len == 0, "read_file cap: %d",
		      rc);
		buf_release(&small);
	}

	/* Append-only, owner-only log files: created, then reopened. */
	{
		FILE *fp;
		int i;

		buf_reset(&q);
		buf_addf(&q, "%s\\app.log", tmp);
		for (i = 0; i < 2; i++) {
			fp = plat_open_append_private(q.ptr);
			CHECK(fp != NULL, "open_append_private, time %d: %s",
			      i + 1, fp ? "" : plat_strerror(errno));
			if (fp) {
				fputs("line\n", fp);
				fclose(fp);
			}
		}
		buf_reset(&got);
		plat_read_file(q.ptr, &got, NULL);
		CHECK(strcmp(got.ptr, "line\nline\n") == 0,
		      "open_append_private appends: <%s>", got.ptr);
		check_private_dacl(q.ptr);
		buf_reset(&err);
		rc = plat_make_private(q.ptr, &err);
		CHECK(rc == 0, "make_private: %d %s", rc, err.ptr);
		buf_addch(&q, 'x');
		CHECK(plat_make_private(q.ptr, NULL) == 0, "make_private of a "
							   "missing file");
		buf_setlen(&q, q.len - 1);
		CHECK(plat_unlink(q.ptr) == 0, "log file removed");
	}

	/* A secret read from the environment is wiped and unset. */
	{
		_putenv("TW_SMOKE_SECRET=hunter2");
		plat_env_wipe("TW_SMOKE_SECRET");
		CHECK(getenv("TW_SMOKE_SECRET") == NULL &&
			      GetEnvironmentVariableW(L"TW_SMOKE_SECRET", NULL,
						      0) == 0,
		      "env_wipe unsets the variable");
		CHECK(plat_harden_process(NULL) == 0, "harden_process");
	}

	/* Under a regular file. */
	buf_reset(&q);
	buf_addf(&q, "%s\\sub\\dir", p.ptr);
	buf_reset(&err);
	rc = plat_mkdir_p(q.ptr, &err);
	CHECK(rc == TW_EIO && strstr(err.ptr, "Not a directory"),
	      "mkdir_p under a file: %d <%s>", rc, err.ptr);

	/* Rename replaces. */
	buf_reset(&q);
	buf_addf(&q, "%s\\other.env", tmp);
	plat_write_file_private(q.ptr, "old", 3, false, NULL);
	rc = plat_rename(p.ptr, q.ptr, &err);
	buf_reset(&got);
	plat_read_file(q.ptr, &got, NULL);
	CHECK(rc == 0 && strcmp(got.ptr, "k=2\n") == 0 && !plat_is_file(p.ptr),
	      "rename replaces: %d", rc);
	CHECK(plat_unlink(q.ptr) == 0 && !plat_is_file(q.ptr) &&
		      plat_unlink(q.ptr) == 0,
	      "unlink, twice");

	/* Clean up: only empty directories are left. */
	buf_reset(&q);
	buf_addf(&q,
		 "%s\\donn\xc3\xa9"
		 "es\\a\\b",
		 tmp);
	remove_dir(q.ptr);
	buf_setlen(&q, q.len - 2);
	remove_dir(q.ptr);
	buf_setlen(&q, q.len - 2);
	remove_dir(q.ptr);
	remove_dir(tmp);
	CHECK(!plat_is_dir(tmp), "test directory removed");

	buf_release(&p);
	buf_release(&q);
	buf_release(&got);
	buf_release(&err);
}

/*
 * UTF-8 names that the ANSI code page cannot spell ("é" is two bytes in
 * UTF-8, "中" is not in code page 1252), written separately so that the
 * checks below can also build the UTF-16 names independently.
 */
#define NON_ASCII "-\xc3\xa9\xe4\xb8\xad"
#define NON_ASCII_W L"-\u00e9\u4e2d"

/* Whether <tmp>\<wide name> exists, asked in UTF-16 without plat_. */
static bool exists_wide(const char *tmp, const wchar_t *name)
{
	wchar_t *wtmp = plat__utf8_to_wide(tmp);
	wchar_t full[MAX_PATH * 2];
	bool found;

	_snwprintf(full, TW_ARRAY_SIZE(full), L"%ls\\%ls", wtmp, name);
	full[TW_ARRAY_SIZE(full) - 1] = L'\0';
	found = GetFileAttributesW(full) != INVALID_FILE_ATTRIBUTES;
	free(wtmp);
	return found;
}

/*
 * plat_open_read() (the static files of the web UI): a UTF-8 path reaches
 * CreateFileW as the same name in UTF-16, which the C runtime's _open()
 * misses whenever the ANSI code page is not UTF-8 (Wine's is 1252); a
 * directory, a device, a missing file and invalid UTF-8 are refused.
 */
static void check_open_read(const char *tmp)
{
	struct buf dir = BUF_INIT(65536);
	struct buf p = BUF_INIT(65536);
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	uint64_t size = 0;
	char got[32];
	int fd = -1;
	int rc, n;

	buf_addf(&dir, "%s\\web" NON_ASCII, tmp);
	plat_mkdir_p(dir.ptr, NULL);
	buf_addf(&p, "%s\\app" NON_ASCII ".js", dir.ptr);
	plat_write_file_private(p.ptr, "let x = 1;\n", 11, false, NULL);
	CHECK(exists_wide(tmp, L"web" NON_ASCII_W L"\\app" NON_ASCII_W L".js"),
	      "the file has its UTF-16 name on disk");
	rc = plat_open_read(p.ptr, &fd, &size, &err);
	n = rc == 0 ? _read(fd, got, (unsigned)sizeof(got)) : -1;
	CHECK(rc == 0 && size == 11 && n == 11 &&
		      memcmp(got, "let x = 1;\n", 11) == 0,
	      "open_read of a non-ASCII name: rc %d size %llu read %d %s", rc,
	      (unsigned long long)size, n, err.ptr);
	if (rc == 0)
		CHECK(_close(fd) == 0, "close() takes the descriptor");

	buf_reset(&err);
	rc = plat_open_read(dir.ptr, &fd, &size, &err);
	CHECK(rc == TW_ENOTFOUND && strstr(err.ptr, "not a regular file"),
	      "open_read of a directory: rc %d <%s>", rc, err.ptr);
	buf_reset(&err);
	buf_addch(&p, 'x');
	rc = plat_open_read(p.ptr, &fd, &size, &err);
	CHECK(rc == TW_ENOTFOUND && strstr(err.ptr, "could not open file"),
	      "open_read of a missing file: rc %d <%s>", rc, err.ptr);
	buf_setlen(&p, p.len - 1);
	buf_reset(&err);
	rc = plat_open_read("NUL", &fd, &size, &err);
	CHECK(rc == TW_ENOTFOUND, "open_read of the NUL device: rc %d <%s>", rc,
	      err.ptr);
	rc = plat_open_read("bad\xff.js", &fd, &size, NULL);
	CHECK(rc == TW_EINVAL, "open_read of invalid UTF-8: rc %d", rc);

	plat_unlink(p.ptr);
	remove_dir(dir.ptr);
	buf_release(&dir);
	buf_release(&p);
	buf_release(&err);
}

/*
 * The log (src/log/log.c) in a directory named in UTF-8 that the ANSI code
 * page cannot spell: created, the three files opened, a line written and
 * read back, a rotation renaming app.log to app.log.1 within it.
 */
static void check_log(const char *tmp)
{
	struct buf dir = BUF_INIT(65536);
	struct buf p = BUF_INIT(65536);
	struct buf got = BUF_INIT(1024 * 1024);
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct log_opts lo;
	const char *names[] = { "app.log", "worker.log", "sandbox.log",
				"app.log.1" };
	int rc, i;

	buf_addf(&dir, "%s\\logs" NON_ASCII, tmp);
	memset(&lo, 0, sizeof(lo));
	lo.dir = dir.ptr;
	lo.level = LOG_INFO;
	lo.max_bytes = 4096;
	lo.max_files = 2;
	rc = log_open(&lo, &err);
	CHECK(rc == 0, "log_open in a non-ASCII directory: rc %d %s", rc,
	      err.ptr);
	CHECK(exists_wide(tmp, L"logs" NON_ASCII_W L"\\app.log"),
	      "app.log is in the directory of that UTF-16 name");
	log_info(LOG_APP, "caf\xc3\xa9 first line");
	/* 60 lines of about 100 bytes pass max_bytes: one rotation. */
	for (i = 0; i < 60; i++)
		log_info(LOG_APP, "line %02d %.70s", i,
			 "....................................................."
			 ".................");
	log_info(LOG_APP, "caf\xc3\xa9 last line");
	log_close();

	buf_addf(&p, "%s\\app.log", dir.ptr);
	rc = plat_read_file(p.ptr, &got, &err);
	CHECK(rc == 0 && strstr(got.ptr, "INFO  [app] caf\xc3\xa9 last line\n"),
	      "the last line is in app.log: rc %d, %llu bytes", rc,
	      (unsigned long long)got.len);
	buf_reset(&p);
	buf_reset(&got);
	buf_addf(&p, "%s\\app.log.1", dir.ptr);
	rc = plat_read_file(p.ptr, &got, &err);
	CHECK(rc == 0 && strstr(got.ptr, "caf\xc3\xa9 first line\n"),
	      "rotated into app.log.1: rc %d, %llu bytes", rc,
	      (unsigned long long)got.len);

	for (i = 0; i < (int)TW_ARRAY_SIZE(names); i++) {
		buf_reset(&p);
		buf_addf(&p, "%s\\%s", dir.ptr, names[i]);
		CHECK(plat_is_file(p.ptr), "%s exists", names[i]);
		plat_unlink(p.ptr);
	}
	remove_dir(dir.ptr);
	CHECK(!plat_is_dir(dir.ptr), "log directory removed");
	buf_release(&dir);
	buf_release(&p);
	buf_release(&got);
	buf_release(&err);
}

/*
 * TW_SANDBOX_COMMAND on Windows: a program under a directory with spaces
 * ("Program Files"), quoted, with backslashes written once, split by
 * plat_split_command() and run through plat_run(): every argument arrives
 * as written.
 */
static void check_split_command(const char *tmp)
{
	struct buf dir = BUF_INIT(65536);
	struct buf exe = BUF_INIT(65536);
	struct buf line = BUF_INIT(65536);
	struct buf out = BUF_INIT(65536);
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct plat_run_opts o;
	wchar_t self[MAX_PATH * 4];
	wchar_t *wexe;
	char **argv = NULL;
	int argc = 0;
	int status = -1;
	int rc;

	buf_addf(&dir, "%s\\Program Files\\tw smoke" NON_ASCII, tmp);
	plat_mkdir_p(dir.ptr, NULL);
	buf_addf(&exe, "%s\\runner.exe", dir.ptr);
	GetModuleFileNameW(NULL, self, (DWORD)TW_ARRAY_SIZE(self));
	wexe = plat__utf8_to_wide(exe.ptr);
	CHECK(CopyFileW(self, wexe, FALSE), "program copied to <%s>", exe.ptr);

	buf_addf(&line,
		 "\"%s\" --helper=args -I  \"two words\" C:\\x\\ a\"b c\"",
		 exe.ptr);
	rc = plat_split_command(line.ptr, &argv, &argc, &err);
	CHECK(rc == 0 && argc == 6 && strcmp(argv[0], exe.ptr) == 0,
	      "split_command: rc %d, %d words %s", rc, argc, err.ptr);
	if (rc == 0) {
		memset(&o, 0, sizeof(o));
		o.argv = (const char *const *)argv;
		o.output = &out;
		o.timeout_ms = 20000;
		rc = plat_run(&o, &status, &err);
		CHECK(rc == 0 && status == 0 &&
			      strcmp(out.ptr,
				     "[-I]\n[two words]\n[C:\\x\\]\n[ab c]\n") ==
				      0,
		      "the program under \"Program Files\" gets its "
		      "arguments: rc %d status %d <%s> %s",
		      rc, status, out.ptr, err.ptr);
	}
	plat_argv_free(argv);
	argv = NULL;
	buf_reset(&err);
	rc = plat_split_command("\"C:\\Program Files\\Python312\\python.exe -I",
				&argv, &argc, &err);
	CHECK(rc == TW_EINVAL && !argv && strstr(err.ptr, "not closed"),
	      "an unclosed quote is refused: rc %d <%s>", rc, err.ptr);

	DeleteFileW(wexe);
	free(wexe);
	remove_dir(dir.ptr);
	buf_setlen(&dir, dir.len - strlen("\\tw smoke" NON_ASCII));
	remove_dir(dir.ptr);
	buf_release(&dir);
	buf_release(&exe);
	buf_release(&line);
	buf_release(&out);
	buf_release(&err);
}

static void check_net(void)
{
	WSADATA wsa;
	struct sockaddr_in sa;
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	SOCKET s;
	int port = 0;
	int rc = plat_free_tcp_port(&port, &err);

	CHECK(rc == 0 && port > 0 && port < 65536, "free port %d: %s", port,
	      err.ptr);
	WSAStartup(MAKEWORD(2, 2), &wsa);
	s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((u_short)port);
	CHECK(bind(s, (struct sockaddr *)&sa, (int)sizeof(sa)) == 0,
	      "the free "
	      "port is "
	      "bindable");
	closesocket(s);

	/* plat_socket_wait(): a UDP socket is readable once it got a datagram.
	 */
	s = socket(AF_INET, SOCK_DGRAM, IPPROTO_UDP);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	{
		int len = (int)sizeof(sa);
		int64_t t0 = plat_monotonic_ms();
		int quiet, ready;

		bind(s, (struct sockaddr *)&sa, (int)sizeof(sa));
		getsockname(s, (struct sockaddr *)&sa, &len);
		quiet = plat_socket_wait((int)s, 100);
		t0 = plat_monotonic_ms() - t0;
		sendto(s, "x", 1, 0, (struct sockaddr *)&sa, (int)sizeof(sa));
		ready = plat_socket_wait((int)s, 5000);
		CHECK(quiet == 0 && t0 >= 90 && ready == 1,
		      "socket wait: %d after %lld ms, then %d", quiet,
		      (long long)t0, ready);
	}
	closesocket(s);
	WSACleanup();

	buf_reset(&err);
	plat_hostname(&err);
	CHECK(err.len > 0 && strcmp(err.ptr, "localhost") != 0,
	      "host name \"%s\"", err.ptr);
	CHECK(plat_cpu_count() >= 1, "%d processors", plat_cpu_count());
	buf_release(&err);
}

static DWORD WINAPI request_later(LPVOID arg)
{
	(void)arg;
	Sleep(200);
	plat_shutdown_request();
	return 0;
}

static void check_time_and_shutdown(void)
{
	struct buf dir = BUF_INIT(65536);
	int64_t t0, t1, sec;
	long nsec;
	struct tm tm;
	HANDLE th;
	int rc;

	t0 = plat_monotonic_ms();
	plat_sleep_ms(50);
	t1 = plat_monotonic_ms();
	CHECK(t1 - t0 >= 45 && t1 - t0 < 5000, "monotonic clock: %lld ms",
	      (long long)(t1 - t0));
	plat_realtime(&sec, &nsec);
	CHECK(sec > 1700000000 && nsec >= 0 && nsec < 1000000000L,
	      "realtime %lld.%09ld", (long long)sec, nsec);
	plat_gmtime(1700000000, &tm);
	CHECK(tm.tm_year == 123 && tm.tm_mon == 10 && tm.tm_mday == 14 &&
		      tm.tm_hour == 22 && tm.tm_min == 13 && tm.tm_sec == 20 &&
		      tm.tm_wday == 2,
	      "gmtime 1700000000");
	rc = plat_exe_dir(&dir, NULL);
	CHECK(rc == 0 && dir.len > 0 && plat_is_dir(dir.ptr), "exe_dir <%s>",
	      dir.ptr);
	CHECK(plat_getpid() == (long)GetCurrentProcessId(), "getpid");
	CHECK(strcmp(plat_strerror(ENOENT), "No such file or directory") == 0,
	      "strerror(ENOENT) <%s>", plat_strerror(ENOENT));
	CHECK(strcmp(plat__win_strerror(ERROR_FILE_NOT_FOUND), "") != 0,
	      "win_strerror <%s>", plat__win_strerror(ERROR_FILE_NOT_FOUND));

	CHECK(plat_shutdown_init(NULL) == 0, "shutdown_init");
	t0 = plat_monotonic_ms();
	CHECK(!plat_shutdown_wait(100), "wait times out without a request");
	th = CreateThread(NULL, 0, request_later, NULL, 0, NULL);
	t0 = plat_monotonic_ms();
	CHECK(plat_shutdown_wait(5000), "request wakes wait");
	t1 = plat_monotonic_ms() - t0;
	CHECK(t1 >= 150 && t1 < 2000, "woken after %lld ms", (long long)t1);
	CHECK(plat_shutdown_wait(-1), "later waits return at once");
	WaitForSingleObject(th, INFINITE);
	CloseHandle(th);
	buf_release(&dir);
}

int main(int argc, char **argv)
{
	struct buf tmp = BUF_INIT(65536);
	wchar_t wtmp[MAX_PATH + 1];

	if (argc >= 2 && strncmp(argv[1], "--helper=", 9) == 0)
		return helper(argv[1] + 9);

	GetTempPathW(MAX_PATH + 1, wtmp);
	plat__wide_to_utf8(wtmp, &tmp);
	buf_addf(&tmp, "tw_smoke_%ld", plat_getpid());

	check_quoting();
	check_run();
	/* These leave tmp empty; check_files() removes it at the end. */
	check_open_read(tmp.ptr);
	check_log(tmp.ptr);
	check_split_command(tmp.ptr);
	check_files(tmp.ptr);
	check_net();
	check_time_and_shutdown();

	buf_release(&tmp);
	return smoke_summary();
}
