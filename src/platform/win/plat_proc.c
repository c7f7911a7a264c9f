/*
 * plat_proc.c (Windows) - running commands to completion, finding programs,
 * and quoting command lines.
 *
 * plat_run() follows libuv's process.c:
 *
 *  - The program is resolved by plat_find_program() (PATH, then the extra
 *    directories; ".exe"/".com" appended) and passed as lpApplicationName,
 *    so CreateProcessW never searches the current directory.
 *  - The command line is built with plat__quote_cmd_arg() so the child's
 *    CommandLineToArgvW() gives back our argv exactly.
 *  - Output goes through a named pipe whose read end is overlapped (an
 *    anonymous pipe cannot be waited on with a timeout). The child gets
 *    the write end as stdout and stderr and NUL as stdin; a
 *    PROC_THREAD_ATTRIBUTE_HANDLE_LIST makes those two handles the only
 *    ones it inherits, whatever else is inheritable in this process at the
 *    moment (another thread may be starting a child too).
 *  - CREATE_NO_WINDOW: no console window flashes up for a service or a
 *    GUI-less server, and the child does not share our console, so a
 *    Ctrl-C meant for us is not delivered to it.
 *  - The child starts suspended, is put into a job object and then
 *    resumed, so a timeout can end the whole tree it started with
 *    TerminateJobObject (the process group kill of POSIX). The job has no
 *    kill-on-close limit: "pg_ctl start" leaves a postmaster behind on
 *    purpose. Where no job can be had (an old Wine), TerminateProcess
 *    ends the child alone.
 *  - Reading stops when the child exits, not at end of file, for the same
 *    leftover postmaster, which may hold the pipe open for hours.
 *
 * A process killed for a timeout gets exit code 128 + 9, the POSIX status
 * of SIGKILL, so callers see the same number on both systems.
 */
#include "core/compat.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/str.h"
#include "platform/plat.h"
#include "platform/win/win_int.h"

#include <windows.h>

/* Longest command line CreateProcessW accepts, in UTF-16 units. */
#define CMDLINE_MAX 32767
/* One overlapped read from the output pipe. */
#define RUN_CHUNK 65536
/* Bytes drained after the child exited; the pipe holds less than this. */
#define RUN_BURST ((size_t)1024 * 1024)
/* Exit code given to a child killed for a timeout (128 + SIGKILL). */
#define KILLED_STATUS 137

/* --- command lines ------------------------------------------------------- */

static int add_backslashes(struct buf *out, size_t n)
{
	int rc = 0;

	while (n-- > 0 && rc == 0)
		rc = buf_addch(out, '\\');
	return rc;
}

int plat__quote_cmd_arg(const char *arg, struct buf *out)
{
	size_t i = 0;
	int rc;

	if (arg[0] && !strpbrk(arg, " \t\n\v\""))
		return buf_adds(out, arg);
	rc = buf_addch(out, '"');
	while (rc == 0 && arg[i]) {
		size_t nbs = 0;

		while (arg[i] == '\\') {
			nbs++;
			i++;
		}
		if (arg[i] == '\0') {
			/* Doubled, so the closing quote is not escaped. */
			rc = add_backslashes(out, nbs * 2);
		} else if (arg[i] == '"') {
			rc = add_backslashes(out, nbs * 2 + 1);
			if (rc == 0)
				rc = buf_addch(out, '"');
			i++;
		} else {
			rc = add_backslashes(out, nbs);
			if (rc == 0)
				rc = buf_addch(out, arg[i]);
			i++;
		}
	}
	if (rc == 0)
		rc = buf_addch(out, '"');
	return rc;
}

int plat__build_cmdline(const char *const *argv, struct buf *cmd,
			struct buf *err)
{
	const char *prog = argv[0];
	size_t i;
	int rc = 0;

	/* The program name is parsed without escapes (see win_int.h). */
	if (strchr(prog, '"') || str_ends_with(prog, "\\")) {
		buf_errf(err, "could not run \"%s\": invalid program name",
			 prog);
		rc = TW_EINVAL;
		goto fail;
	}
	for (i = 0; argv[i] && rc == 0; i++) {
		if (i > 0)
			rc = buf_addch(cmd, ' ');
		if (rc == 0)
			rc = plat__quote_cmd_arg(argv[i], cmd);
	}
	if (rc < 0) {
		buf_errf(err, "could not run \"%s\": command line too long",
			 prog);
		rc = TW_ETOOBIG;
	}
fail:
	return rc;
}

/* --- finding programs ---------------------------------------------------- */

static bool is_sep(char c)
{
	return c == '/' || c == '\\';
}

static bool has_exe_ext(const char *name)
{
	size_t n = strlen(name);

	return n > 4 && (str_eq_nocase(name + n - 4, ".exe") ||
			 str_eq_nocase(name + n - 4, ".com"));
}

/* Appends base (or base.exe, base.com) to out when it is a file. */
static bool try_candidates(const char *base, size_t len, struct buf *out)
{
	static const char *const exts[] = { ".exe", ".com" };
	struct buf cand = BUF_INIT(CMDLINE_MAX * 4);
	bool found = false;
	size_t i;

	if (buf_add(&cand, base, len) < 0)
		goto out;
	if (has_exe_ext(cand.ptr)) {
		found = plat_is_file(cand.ptr);
	} else {
		for (i = 0; i < TW_ARRAY_SIZE(exts) && !found; i++) {
			buf_setlen(&cand, len);
			if (buf_adds(&cand, exts[i]) < 0)
				goto out;
			found = plat_is_file(cand.ptr);
		}
	}
	if (found)
		found = buf_add(out, cand.ptr, cand.len) == 0;
out:
	buf_release(&cand);
	return found;
}

static bool try_dir(const char *dir, size_t dirlen, const char *name,
		    struct buf *out)
{
	struct buf base = BUF_INIT(CMDLINE_MAX * 4);
	bool found = false;

	/* PATH entries may be quoted: "C:\Program Files\x". */
	if (dirlen >= 2 && dir[0] == '"' && dir[dirlen - 1] == '"') {
		dir++;
		dirlen -= 2;
	}
	if (dirlen == 0 || buf_add(&base, dir, dirlen) < 0)
		goto out;
	if (!is_sep(base.ptr[base.len - 1]) && buf_addch(&base, '\\') < 0)
		goto out;
	if (buf_adds(&base, name) < 0)
		goto out;
	found = try_candidates(base.ptr, base.len, out);
out:
	buf_release(&base);
	return found;
}

/* The PATH variable in UTF-8 (GetEnvironmentVariableW: getenv() would
 * give the ANSI code page). */
static void get_path_var(struct buf *out)
{
	wchar_t *w = NULL;
	DWORD size = 4096;
	DWORD n;

	for (;;) {
		w = xrealloc(w, sizeof(wchar_t) * size);
		n = GetEnvironmentVariableW(L"PATH", w, size);
		if (n < size)
			break;
		size = n;
	}
	if (n > 0)
		plat__wide_to_utf8(w, out);
	free(w);
}

/*
 * plat_find_program() appends the first match to path_out. A name with a
 * separator or a drive is checked as it is; otherwise the PATH entries are
 * tried in order, then extra_dirs. A name without ".exe" or ".com" gets
 * those appended (never ".bat" or ".cmd": see plat_run()). Unlike
 * CreateProcessW's own search, the current directory and the program's
 * directory are not searched. Returns 0 or TW_ENOTFOUND.
 */
int plat_find_program(const char *name, const char *const *extra_dirs,
		      struct buf *path_out)
{
	struct buf path = BUF_INIT(CMDLINE_MAX * 4);
	const char *p;
	int rc = TW_ENOTFOUND;

	if (strpbrk(name, "/\\:")) {
		if (try_candidates(name, strlen(name), path_out))
			rc = 0;
		goto out;
	}
	get_path_var(&path);
	for (p = path.ptr; *p;) {
		const char *end = strchr(p, ';');
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
	buf_release(&path);
	return rc;
}

/* --- running ------------------------------------------------------------- */

/*
 * make_pipe() creates a uniquely named inbound pipe: *rd (ours,
 * overlapped, not inheritable) and *wr (the child's, inheritable).
 */
static int make_pipe(HANDLE *rd, HANDLE *wr, struct buf *err)
{
	static volatile LONG seq;
	SECURITY_ATTRIBUTES inherit = { sizeof(inherit), NULL, TRUE };
	struct buf name = BUF_INIT(256);
	wchar_t *w = NULL;
	int rc = 0;

	buf_addf(&name, "\\\\.\\pipe\\tablewright-%lu-%ld-%llu",
		 (unsigned long)GetCurrentProcessId(),
		 (long)InterlockedIncrement(&seq),
		 (unsigned long long)GetTickCount64());
	w = plat__utf8_to_wide(name.ptr);
	*rd = CreateNamedPipeW(w,
			       PIPE_ACCESS_INBOUND | FILE_FLAG_OVERLAPPED |
				       FILE_FLAG_FIRST_PIPE_INSTANCE,
			       PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT |
				       PIPE_REJECT_REMOTE_CLIENTS,
			       1, 0, RUN_CHUNK, 0, NULL);
	if (*rd == INVALID_HANDLE_VALUE) {
		buf_errf(err, "could not create pipe: %s",
			 plat__win_strerror(GetLastError()));
		rc = TW_EIO;
		goto fail;
	}
	/* FILE_READ_ATTRIBUTES: some runtimes query their stdout. */
	*wr = CreateFileW(w, GENERIC_WRITE | FILE_READ_ATTRIBUTES, 0, &inherit,
			  OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
	if (*wr == INVALID_HANDLE_VALUE) {
		buf_errf(err, "could not open pipe: %s",
			 plat__win_strerror(GetLastError()));
		CloseHandle(*rd);
		*rd = INVALID_HANDLE_VALUE;
		rc = TW_EIO;
		goto fail;
	}
fail:
	free(w);
	buf_release(&name);
	return rc;
}

/* Appends what fits under output's cap; the rest is dropped. */
static void keep_output(struct buf *output, const char *data, DWORD n)
{
	size_t room;

	if (!output)
		return;
	room = output->cap - output->len;
	buf_add(output, data, (size_t)n < room ? (size_t)n : room);
}

/* The state of the one overlapped read that is in flight at a time. */
struct reader {
	HANDLE pipe;
	OVERLAPPED ov;
	HANDLE event;
	char *chunk;
	bool pending;
	bool eof;
	struct buf *output;
};

/*
 * reader_step() completes a pending read without waiting, or starts a new
 * one. Returns 1 when data was taken (call again), 0 when a read is in
 * flight or the pipe is at EOF, -1 on a read error (GetLastError set).
 */
static int reader_step(struct reader *r)
{
	DWORD n = 0;

	if (r->pending) {
		if (!GetOverlappedResult(r->pipe, &r->ov, &n, FALSE)) {
			DWORD e = GetLastError();

			if (e == ERROR_IO_INCOMPLETE)
				return 0;
			r->pending = false;
			if (e == ERROR_BROKEN_PIPE ||
			    e == ERROR_PIPE_NOT_CONNECTED) {
				r->eof = true;
				return 0;
			}
			SetLastError(e);
			return -1;
		}
		r->pending = false;
		keep_output(r->output, r->chunk, n);
		return 1;
	}
	if (r->eof)
		return 0;
	memset(&r->ov, 0, sizeof(r->ov));
	r->ov.hEvent = r->event;
	r->pending = true;
	if (!ReadFile(r->pipe, r->chunk, RUN_CHUNK, NULL, &r->ov)) {
		DWORD e = GetLastError();

		if (e == ERROR_IO_PENDING)
			return 0;
		r->pending = false;
		if (e == ERROR_BROKEN_PIPE || e == ERROR_PIPE_NOT_CONNECTED) {
			r->eof = true;
			return 0;
		}
		SetLastError(e);
		return -1;
	}
	/* Completed at once; the count comes from the OVERLAPPED. */
	return reader_step(r);
}

/* Cancels a read in flight and waits until the buffer is ours again. */
static void reader_cancel(struct reader *r)
{
	DWORD n = 0;

	if (!r->pending)
		return;
	CancelIoEx(r->pipe, &r->ov);
	if (GetOverlappedResult(r->pipe, &r->ov, &n, TRUE))
		keep_output(r->output, r->chunk, n);
	r->pending = false;
}

static void kill_tree(HANDLE job, HANDLE proc)
{
	if (!job || !TerminateJobObject(job, KILLED_STATUS))
		TerminateProcess(proc, KILLED_STATUS);
	WaitForSingleObject(proc, 10000);
}

/*
 * pump() forwards the child's output until it exits or the deadline
 * passes; sets *timed_out when it killed it. Returns 0 or TW_EIO (the
 * child is killed then).
 */
static int pump(HANDLE proc, HANDLE job, struct reader *r,
		const struct plat_run_opts *opts, bool *timed_out,
		struct buf *err)
{
	int64_t deadline = 0;
	size_t drained = 0;
	int rc = 0;
	int s;

	if (opts->timeout_ms > 0)
		deadline = plat_monotonic_ms() + opts->timeout_ms;
	for (;;) {
		HANDLE h[2];
		DWORD wait = INFINITE;
		DWORD w;

		if (deadline) {
			int64_t left = deadline - plat_monotonic_ms();

			if (left <= 0) {
				kill_tree(job, proc);
				*timed_out = true;
				goto out;
			}
			wait = left > 0x7fffffff ? 0x7fffffff : (DWORD)left;
		}
		s = reader_step(r);
		if (s < 0)
			goto read_error;
		if (s > 0)
			continue; /* more may be there; clock checked above */
		h[0] = proc;
		h[1] = r->event;
		w = WaitForMultipleObjects(r->pending ? 2 : 1, h, FALSE, wait);
		if (w == WAIT_OBJECT_0)
			break;
		if (w == WAIT_FAILED) {
			buf_errf(err, "could not wait for \"%s\": %s",
				 opts->argv[0],
				 plat__win_strerror(GetLastError()));
			kill_tree(job, proc);
			rc = TW_EIO;
			goto out;
		}
	}
	/* Exited: take what it wrote before (it fits in the pipe). */
	while (drained < RUN_BURST) {
		s = reader_step(r);
		if (s < 0)
			goto read_error;
		if (s == 0)
			break;
		drained += RUN_CHUNK;
	}
	goto out;
read_error:
	buf_errf(err, "could not read the output of \"%s\": %s", opts->argv[0],
		 plat__win_strerror(GetLastError()));
	kill_tree(job, proc);
	rc = TW_EIO;
out:
	reader_cancel(r);
	return rc;
}

int plat_run(const struct plat_run_opts *opts, int *status, struct buf *err)
{
	SECURITY_ATTRIBUTES inherit = { sizeof(inherit), NULL, TRUE };
	struct buf app = BUF_INIT(CMDLINE_MAX * 4);
	struct buf cmd = BUF_INIT(CMDLINE_MAX * 4);
	LPPROC_THREAD_ATTRIBUTE_LIST attrs = NULL;
	PROCESS_INFORMATION pi = { NULL, NULL, 0, 0 };
	struct reader r;
	STARTUPINFOEXW si;
	HANDLE rd = INVALID_HANDLE_VALUE;
	HANDLE wr = INVALID_HANDLE_VALUE;
	HANDLE nul = INVALID_HANDLE_VALUE;
	HANDLE job = NULL;
	HANDLE inherited[2];
	wchar_t *wapp = NULL;
	wchar_t *wcmd = NULL;
	bool attrs_ready = false;
	bool timed_out = false;
	SIZE_T asize = 0;
	DWORD code = 0;
	const char *prog;
	int rc = 0;

	if (!opts || !opts->argv || !opts->argv[0] || !status)
		TW_BUG("plat_run() without a command or a status");
	prog = opts->argv[0];
	*status = -1;
	memset(&r, 0, sizeof(r));

	if (plat_find_program(prog, NULL, &app) < 0) {
		buf_errf(err, "could not run \"%s\": %s", prog,
			 plat__win_strerror(ERROR_FILE_NOT_FOUND));
		rc = TW_EIO;
		goto fail;
	}
	/*
	 * CreateProcessW runs a .bat or .cmd through cmd.exe, which parses
	 * the arguments again by rules no quoting can make safe.
	 */
	if (app.len > 4 && (str_eq_nocase(app.ptr + app.len - 4, ".bat") ||
			    str_eq_nocase(app.ptr + app.len - 4, ".cmd"))) {
		buf_errf(err,
			 "could not run \"%s\": batch files are not "
			 "supported",
			 prog);
		rc = TW_EIO;
		goto fail;
	}
	rc = plat__build_cmdline(opts->argv, &cmd, err);
	if (rc < 0)
		goto fail;
	wapp = plat__utf8_to_wide(app.ptr);
	wcmd = plat__utf8_to_wide(cmd.ptr);
	if (!wapp || !wcmd) {
		buf_errf(err, "could not run \"%s\": invalid UTF-8", prog);
		rc = TW_EINVAL;
		goto fail;
	}
	if (wcslen(wcmd) >= CMDLINE_MAX) {
		buf_errf(err, "could not run \"%s\": command line too long",
			 prog);
		rc = TW_ETOOBIG;
		goto fail;
	}

	rc = make_pipe(&rd, &wr, err);
	if (rc < 0)
		goto fail;
	nul = CreateFileW(L"NUL", GENERIC_READ,
			  FILE_SHARE_READ | FILE_SHARE_WRITE, &inherit,
			  OPEN_EXISTING, 0, NULL);
	r.event = CreateEventW(NULL, TRUE, FALSE, NULL);
	if (nul == INVALID_HANDLE_VALUE || !r.event) {
		buf_errf(err, "could not run \"%s\": %s", prog,
			 plat__win_strerror(GetLastError()));
		rc = TW_EIO;
		goto fail;
	}

	InitializeProcThreadAttributeList(NULL, 1, 0, &asize);
	attrs = xmalloc(asize);
	if (!InitializeProcThreadAttributeList(attrs, 1, 0, &asize)) {
		buf_errf(err, "could not run \"%s\": %s", prog,
			 plat__win_strerror(GetLastError()));
		rc = TW_EIO;
		goto fail;
	}
	attrs_ready = true;
	inherited[0] = nul;
	inherited[1] = wr;
	if (!UpdateProcThreadAttribute(
		    attrs, 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST, inherited,
		    sizeof(inherited), NULL, NULL)) {
		buf_errf(err, "could not run \"%s\": %s", prog,
			 plat__win_strerror(GetLastError()));
		rc = TW_EIO;
		goto fail;
	}
	memset(&si, 0, sizeof(si));
	si.StartupInfo.cb = sizeof(si);
	si.StartupInfo.dwFlags = STARTF_USESTDHANDLES;
	si.StartupInfo.hStdInput = nul;
	si.StartupInfo.hStdOutput = wr;
	si.StartupInfo.hStdError = wr;
	si.lpAttributeList = attrs;

	job = CreateJobObjectW(NULL, NULL);
	if (!CreateProcessW(wapp, wcmd, NULL, NULL, TRUE,
			    EXTENDED_STARTUPINFO_PRESENT | CREATE_NO_WINDOW |
				    CREATE_SUSPENDED,
			    NULL, NULL, &si.StartupInfo, &pi)) {
		buf_errf(err, "could not run \"%s\": %s", prog,
			 plat__win_strerror(GetLastError()));
		rc = TW_EIO;
		goto fail;
	}
	if (job && !AssignProcessToJobObject(job, pi.hProcess)) {
		CloseHandle(job);
		job = NULL;
	}
	ResumeThread(pi.hThread);
	CloseHandle(pi.hThread);
	pi.hThread = NULL;
	/* Only the child may hold the write end, or EOF never comes. */
	CloseHandle(wr);
	wr = INVALID_HANDLE_VALUE;
	CloseHandle(nul);
	nul = INVALID_HANDLE_VALUE;

	r.pipe = rd;
	r.chunk = xmalloc(RUN_CHUNK);
	r.output = opts->output;
	rc = pump(pi.hProcess, job, &r, opts, &timed_out, err);
	if (rc < 0)
		goto fail;
	if (!GetExitCodeProcess(pi.hProcess, &code)) {
		buf_errf(err, "could not read the exit code of \"%s\": %s",
			 prog, plat__win_strerror(GetLastError()));
		rc = TW_EIO;
		goto fail;
	}
	*status = (int)code;
	if (timed_out) {
		buf_errf(err, "\"%s\" did not finish within %lld ms", prog,
			 (long long)opts->timeout_ms);
		rc = TW_ETIMEOUT;
	}
fail:
	if (pi.hThread)
		CloseHandle(pi.hThread);
	if (pi.hProcess)
		CloseHandle(pi.hProcess);
	if (job)
		CloseHandle(job);
	if (attrs_ready)
		DeleteProcThreadAttributeList(attrs);
	free(attrs);
	if (r.event)
		CloseHandle(r.event);
	free(r.chunk);
	if (nul != INVALID_HANDLE_VALUE)
		CloseHandle(nul);
	if (wr != INVALID_HANDLE_VALUE)
		CloseHandle(wr);
	if (rd != INVALID_HANDLE_VALUE)
		CloseHandle(rd);
	free(wapp);
	free(wcmd);
	buf_release(&app);
	buf_release(&cmd);
	return rc;
}

/* Elevated (UAC) or not: what "administrator rights" means since Vista. */
bool plat_is_superuser(void)
{
	TOKEN_ELEVATION elev;
	HANDLE token = NULL;
	DWORD len = 0;
	bool yes = false;

	if (OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &token)) {
		if (GetTokenInformation(token, TokenElevation, &elev,
					sizeof(elev), &len))
			yes = elev.TokenIsElevated != 0;
		CloseHandle(token);
	}
	return yes;
}

/* No-op on Windows: pg_ctl drops administrator rights by itself. */
int plat_chown_to_user(const char *path, const char *user, struct buf *err)
{
	(void)path;
	(void)user;
	(void)err;
	return 0;
}

/*
 * Nothing to do in the process itself on Windows. A process of the same
 * user at the same integrity level may open this one with
 * PROCESS_VM_READ and read its environment block; the answer is on the
 * child's side: the sandbox child is to run with a restricted token at low
 * integrity, which cannot open a medium-integrity process (the next
 * sandbox issue; docs/windows.md).
 */
int plat_harden_process(struct buf *err)
{
	(void)err;
	return 0;
}

/*
 * Two copies exist on Windows: the C runtime's narrow environment, where
 * getenv() points, and the process's UTF-16 block. The first is
 * overwritten in place and dropped with _putenv("NAME="); that also calls
 * SetEnvironmentVariableW(NAME, NULL) for the second, whose freed bytes
 * Windows may keep; the low-integrity child cannot read them anyway.
 */
void plat_env_wipe(const char *name)
{
	struct buf unset = BUF_INIT(BUF_SMALL_CAP);
	char *v = getenv(name);

	if (!v)
		goto out;
	SecureZeroMemory(v, strlen(v));
	if (buf_addf(&unset, "%s=", name) == 0)
		_putenv(unset.ptr);
out:
	buf_release(&unset);
}

/* Every processor group counts: machines with over 64 have several. */
int plat_cpu_count(void)
{
	DWORD n = GetActiveProcessorCount(ALL_PROCESSOR_GROUPS);

	return n < 1 ? 1 : (int)n;
}
