/*
 * sandbox_win.c - the sandbox supervisor on Windows (sandbox.h; layers 2
 * and 4 of "Sandbox: defence in depth" in docs/architecture.md), written from
 * Microsoft's documentation of job objects, CreateProcessW and the
 * process-status API.
 *
 * One child, one job object. The job carries the OS limits (kill on job
 * close, one active process, a per-process commit limit, a user-time
 * backstop, death on an unhandled exception, a hard CPU rate cap) and has
 * a completion port through which Windows reports the limits it enforced.
 * The child is created suspended, inside the job (PROC_THREAD_ATTRIBUTE_
 * JOB_LIST, or AssignProcessToJobObject before ResumeThread), so not one
 * instruction of it runs unconfined. It inherits exactly its three pipe
 * ends (PROC_THREAD_ATTRIBUTE_HANDLE_LIST), gets an environment built from
 * the allow list only, no console (CREATE_NO_WINDOW), and runs in
 * TW_SANDBOX_DIR\<job_id>, created fresh and removed afterwards.
 *
 * argv[0] must be the real python.exe (or the program itself), never a
 * venv's python.exe launcher: the launcher starts the real interpreter as
 * a second process, which ActiveProcessLimit = 1 refuses. Finding the
 * right executable is the caller's concern.
 *
 * The pipes are named pipes whose supervisor ends are overlapped, as in
 * plat_run(): an anonymous pipe cannot be waited on with a timeout, and
 * polling with PeekNamedPipe wastes either time or CPU.
 *
 * Completion-port messages "are intended only as notifications and their
 * delivery to the completion port is not guaranteed" (Microsoft's
 * JOBOBJECT_ASSOCIATE_COMPLETION_PORT page), so every limit is also
 * checked by sampling in sbx_poll(), and the classification falls back on
 * the exit code and the measured CPU time.
 *
 * Wine accepts job objects but enforces none of their limits; the smoke
 * test (tests/win/smoke_sandbox.c) therefore checks only what the
 * supervisor does itself. Limit enforcement needs real Windows.
 */
#include "core/compat.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/str.h"
#include "platform/plat.h"
#include "platform/win/win_int.h"
#include "sandbox/sandbox.h"
#include "sandbox/sandbox_int.h"

#include <windows.h>
#include <psapi.h>
#include <wctype.h>

/* Longest command line CreateProcessW accepts, in UTF-16 units. */
#define CMDLINE_MAX 32767
/* One overlapped read from an output pipe, and the pipe buffers. */
#define SBX_CHUNK 65536
/* Exit code of a child we terminated (128 + SIGKILL, as on POSIX). */
#define KILLED_STATUS 137
/* How long sbx_child_free() waits for a terminated child to go. */
#define FREE_WAIT_MS 5000
/* Completion key of our job's messages on its own port. */
#define PORT_KEY 1
/* NTSTATUS exception codes that are not in the error range. */
#define STATUS_BREAKPOINT_CODE 0x80000003UL

/* The supervisor's end of one output pipe and its read in flight. */
struct sbx_reader {
	HANDLE pipe;
	HANDLE event;
	OVERLAPPED ov;
	char *chunk;
	DWORD have; /* bytes of chunk not yet handed to the caller */
	DWORD off;
	bool pending;
	bool eof;
};

struct sbx_child {
	HANDLE proc;
	HANDLE job;
	HANDLE port;
	HANDLE in;		  /* our end of the child's stdin */
	HANDLE in_event;	  /* for overlapped writes to in */
	struct sbx_reader out[2]; /* stdout, stderr */
	struct sbx_limits limits;
	char *dir;		     /* the job directory, UTF-8 */
	wchar_t *wdir;		     /* the same, UTF-16 */
	int64_t t0;		     /* plat_monotonic_ms() at spawn */
	int64_t last_ms;	     /* wall time of the previous sample */
	double last_cpu;	     /* CPU seconds of the previous sample */
	struct sbx__cpu_run cpu_run; /* the runaway check's state */
	enum sbx_outcome why;	     /* why we killed it, or SBX_RUNNING */
	bool os_memory;		     /* the job reported its memory limit */
	bool os_cpu;		     /* the job reported its time limit */
	bool os_spawn;		     /* the child tried to start a process */
	bool reaped;
	struct sbx_exit ex;
	struct sbx_sample last;
};

/* --- small helpers ------------------------------------------------------- */

static void close_handle(HANDLE *h)
{
	if (*h && *h != INVALID_HANDLE_VALUE)
		CloseHandle(*h);
	*h = NULL;
}

/* Appends "<what>: <system text>" for GetLastError() to err; TW_EIO. */
static int win_fail(struct buf *err, const char *what)
{
	buf_errf(err, "%s: %s", what, plat__win_strerror(GetLastError()));
	return TW_EIO;
}

/* --- the job directory ---------------------------------------------------- */

/*
 * remove_job_dir() removes the job directory with plat_remove_tree(),
 * which removes reparse points (junctions, symbolic links) as links and
 * never follows them: the child may plant a junction to a directory it
 * could not delete itself. It retries for a while because a virus scanner
 * or the indexer may hold a file the child wrote, and a child terminated a
 * moment ago may not have released its handles yet.
 */
static int remove_job_dir(const char *dir)
{
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	int rc = 0;
	int i;

	for (i = 0; i < 20; i++) {
		buf_reset(&err);
		rc = plat_remove_tree(dir, &err);
		if (rc == 0)
			break;
		Sleep(50);
	}
	buf_release(&err);
	return rc;
}

/* --- command line and environment ----------------------------------------- */

/*
 * build_cmdline() is plat__build_cmdline(), refusing batch files first:
 * CreateProcessW runs a .bat or .cmd through cmd.exe, which parses the
 * arguments again by rules no quoting can make safe.
 */
static int build_cmdline(const char *const *argv, struct buf *cmd,
			 struct buf *err)
{
	const char *prog = argv[0];
	size_t len = strlen(prog);

	if (len > 4 && (str_eq_nocase(prog + len - 4, ".bat") ||
			str_eq_nocase(prog + len - 4, ".cmd"))) {
		buf_errf(err,
			 "could not start \"%s\": batch files are not "
			 "supported",
			 prog);
		return TW_EINVAL;
	}
	return plat__build_cmdline(argv, cmd, err);
}

/* Compares two "NAME=value" entries by name, case-insensitively. */
static int env_cmp(const void *a, const void *b)
{
	const wchar_t *x = *(const wchar_t *const *)a;
	const wchar_t *y = *(const wchar_t *const *)b;

	for (;; x++, y++) {
		wchar_t cx = *x == L'=' ? 0 : towupper(*x);
		wchar_t cy = *y == L'=' ? 0 : towupper(*y);

		if (cx != cy || cx == 0)
			return (int)cx - (int)cy;
	}
}

/* True when entry ("NAME=...") names the variable name (len units). */
static bool env_is(const wchar_t *entry, const wchar_t *name, size_t len)
{
	return _wcsnicmp(entry, name, len) == 0 && entry[len] == L'=';
}

/*
 * Adds "NAME=value" (UTF-16) to the list, replacing an entry of the same
 * name: env_extra wins over the allow list.
 */
static void env_put(wchar_t ***list, size_t *n, wchar_t *entry)
{
	size_t len = (size_t)(wcschr(entry, L'=') - entry);
	size_t i;

	for (i = 0; i < *n; i++) {
		if (env_is((*list)[i], entry, len)) {
			free((*list)[i]);
			(*list)[i] = entry;
			return;
		}
	}
	*list = xrealloc(*list, sizeof(wchar_t *) * (*n + 1));
	(*list)[(*n)++] = entry;
}

/* Copies the supervisor's variable name (UTF-8) into the list when set. */
static void env_copy(wchar_t ***list, size_t *n, const char *name)
{
	wchar_t *wname = plat__utf8_to_wide(name);
	wchar_t *entry = NULL;
	DWORD size;
	size_t nl;

	if (!wname || !wname[0] || wcschr(wname, L'='))
		goto out;
	size = GetEnvironmentVariableW(wname, NULL, 0);
	if (size == 0)
		goto out; /* not set */
	nl = wcslen(wname);
	entry = xmalloc(sizeof(wchar_t) * (nl + 1 + size));
	memcpy(entry, wname, sizeof(wchar_t) * nl);
	entry[nl] = L'=';
	if (GetEnvironmentVariableW(wname, entry + nl + 1, size) >= size) {
		free(entry); /* changed under us; leave it out */
		entry = NULL;
		goto out;
	}
	env_put(list, n, entry);
	entry = NULL;
out:
	free(entry);
	free(wname);
}

/*
 * build_env() makes the child's UTF-16 environment block (free() it):
 * the variables of env_allow that are set here, SYSTEMROOT (Python's
 * socket and random modules, and much of Windows, fail without it), then
 * env_extra. Nothing else: no TW_* key, no database URL, no secret.
 * Entries are sorted by name, as CreateProcessW's documentation asks.
 */
static int build_env(const struct sbx_opts *o, wchar_t **block, struct buf *err)
{
	wchar_t **list = NULL;
	size_t n = 0;
	size_t total = 1;
	size_t i;
	wchar_t *p;
	int rc = 0;

	for (i = 0; o->env_allow && o->env_allow[i]; i++)
		env_copy(&list, &n, o->env_allow[i]);
	env_copy(&list, &n, "SYSTEMROOT");
	for (i = 0; o->env_extra && o->env_extra[i]; i++) {
		const char *e = o->env_extra[i];
		wchar_t *w;

		if (!strchr(e, '=') || e[0] == '=') {
			buf_errf(err, "invalid environment entry \"%s\"", e);
			rc = TW_EINVAL;
			goto fail;
		}
		w = plat__utf8_to_wide(e);
		if (!w) {
			buf_errf(err, "invalid UTF-8 in environment entry");
			rc = TW_EINVAL;
			goto fail;
		}
		env_put(&list, &n, w);
	}
	if (n > 0)
		qsort(list, n, sizeof(*list), env_cmp);
	for (i = 0; i < n; i++)
		total += wcslen(list[i]) + 1;
	if (n == 0)
		total++; /* an empty block is two NULs */
	*block = xcalloc(total, sizeof(wchar_t));
	p = *block;
	for (i = 0; i < n; i++) {
		size_t len = wcslen(list[i]) + 1;

		memcpy(p, list[i], sizeof(wchar_t) * len);
		p += len;
	}
fail:
	for (i = 0; i < n; i++)
		free(list[i]);
	free(list);
	return rc;
}

/* --- pipes ---------------------------------------------------------------- */

/*
 * make_pipe() creates a uniquely named pipe: *ours (overlapped, not
 * inheritable) and *theirs (inheritable, synchronous as a child's standard
 * handle must be). inbound: the child writes, we read.
 */
static int make_pipe(bool inbound, HANDLE *ours, HANDLE *theirs,
		     struct buf *err)
{
	static volatile LONG seq;
	SECURITY_ATTRIBUTES inherit = { sizeof(inherit), NULL, TRUE };
	wchar_t name[128];
	int rc = 0;

	_snwprintf(name, TW_ARRAY_SIZE(name),
		   L"\\\\.\\pipe\\tablewright-sbx-%lu-%ld-%llu",
		   (unsigned long)GetCurrentProcessId(),
		   (long)InterlockedIncrement(&seq),
		   (unsigned long long)GetTickCount64());
	/*
	 * FIRST_PIPE_INSTANCE: fail rather than join an instance someone
	 * else created under our name; REJECT_REMOTE_CLIENTS: local only.
	 */
	*ours = CreateNamedPipeW(
		name,
		(inbound ? PIPE_ACCESS_INBOUND : PIPE_ACCESS_OUTBOUND) |
			FILE_FLAG_OVERLAPPED | FILE_FLAG_FIRST_PIPE_INSTANCE,
		PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT |
			PIPE_REJECT_REMOTE_CLIENTS,
		1, SBX_CHUNK, SBX_CHUNK, 0, NULL);
	if (*ours == INVALID_HANDLE_VALUE) {
		*ours = NULL;
		rc = win_fail(err, "could not create pipe");
		goto fail;
	}
	/* FILE_READ_ATTRIBUTES: runtimes query their standard handles. */
	*theirs = CreateFileW(
		name,
		(inbound ? GENERIC_WRITE : GENERIC_READ) | FILE_READ_ATTRIBUTES,
		0, &inherit, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
	if (*theirs == INVALID_HANDLE_VALUE) {
		*theirs = NULL;
		rc = win_fail(err, "could not open pipe");
		close_handle(ours);
		goto fail;
	}
fail:
	return rc;
}

/*
 * reader_step() completes a pending read without waiting, or starts a new
 * one. Returns 1 when data arrived in r->chunk, 0 when a read is in flight
 * or the pipe is at EOF, -1 on a read error (GetLastError set).
 */
static int reader_step(struct sbx_reader *r)
{
	DWORD n = 0;
	DWORD e;

	if (r->have > 0)
		return 1;
	if (r->pending) {
		if (GetOverlappedResult(r->pipe, &r->ov, &n, FALSE)) {
			r->pending = false;
			r->have = n;
			r->off = 0;
			return n > 0 ? 1 : 0;
		}
		e = GetLastError();
		if (e == ERROR_IO_INCOMPLETE)
			return 0;
		r->pending = false;
		goto error;
	}
	if (r->eof)
		return 0;
	memset(&r->ov, 0, sizeof(r->ov));
	r->ov.hEvent = r->event;
	r->pending = true;
	if (ReadFile(r->pipe, r->chunk, SBX_CHUNK, NULL, &r->ov))
		return reader_step(r); /* done at once; count in ov */
	e = GetLastError();
	if (e == ERROR_IO_PENDING)
		return 0;
	r->pending = false;
error:
	if (e == ERROR_BROKEN_PIPE || e == ERROR_PIPE_NOT_CONNECTED ||
	    e == ERROR_OPERATION_ABORTED) {
		r->eof = true;
		return 0;
	}
	SetLastError(e);
	return -1;
}

/* Cancels a read in flight and waits until its buffer is ours again. */
static void reader_close(struct sbx_reader *r)
{
	DWORD n = 0;

	if (r->pending) {
		CancelIoEx(r->pipe, &r->ov);
		GetOverlappedResult(r->pipe, &r->ov, &n, TRUE);
		r->pending = false;
	}
	close_handle(&r->pipe);
	close_handle(&r->event);
	free(r->chunk);
	r->chunk = NULL;
}

/* --- the job object ------------------------------------------------------- */

static DWORD cpu_count(void)
{
	SYSTEM_INFO si;

	GetSystemInfo(&si);
	return si.dwNumberOfProcessors ? si.dwNumberOfProcessors : 1;
}

/*
 * make_job() creates the child's job object with its limits and its
 * completion port. Each limit and why:
 *
 *  - KILL_ON_JOB_CLOSE: the job's only handle is ours, so when the worker
 *    dies in any way (even TerminateProcess) the child dies with it, as
 *    PR_SET_PDEATHSIG does on Linux.
 *  - ACTIVE_PROCESS with ActiveProcessLimit = 1: the child cannot start a
 *    grandchild (CreateProcess fails inside it), so nothing escapes the
 *    supervisor's view or outlives a kill. No BREAKAWAY_OK flag is set, so
 *    CREATE_BREAKAWAY_FROM_JOB is refused as well.
 *  - PROCESS_MEMORY: a cap on committed memory, sbx__os_memory_limit()
 *    of memory_bytes (a quarter above it), so the sampled check normally
 *    acts first and this is the hard ceiling for a child that grows
 *    faster than one sample. Windows does not kill at the cap;
 *    allocations fail and the job posts JOB_OBJECT_MSG_PROCESS_MEMORY_
 *    LIMIT, on which sbx_poll() kills the child so the outcome is
 *    killed:memory, not a MemoryError.
 *  - PROCESS_TIME (PerProcessUserTimeLimit = cpu_seconds): the user-time
 *    backstop; Windows terminates the process itself and posts
 *    JOB_OBJECT_MSG_END_OF_PROCESS_TIME. Per process, not JOB_TIME, which
 *    would also count processes long gone (there are none, but the meaning
 *    is the one of RLIMIT_CPU).
 *  - DIE_ON_UNHANDLED_EXCEPTION: a crash ends the process at once with the
 *    exception code instead of waiting for Windows Error Reporting or a
 *    debugger, which for a service would hang until the wall timeout.
 *
 * A hard CPU rate cap (JOBOBJECT_CPU_RATE_CONTROL_INFORMATION) keeps one
 * runaway job from starving the machine; see cpu_cap(). Setting it may
 * fail where rate control is not supported (old Windows, Wine); the
 * sampled runaway check still applies, so that failure is not fatal.
 */
static int make_job(struct sbx_child *c, struct buf *err)
{
	JOBOBJECT_EXTENDED_LIMIT_INFORMATION lim;
	JOBOBJECT_ASSOCIATE_COMPLETION_PORT acp;
	JOBOBJECT_CPU_RATE_CONTROL_INFORMATION rate;
	const struct sbx_limits *l = &c->limits;
	double cap;
	int rc = 0;

	c->job = CreateJobObjectW(NULL, NULL);
	if (!c->job) {
		rc = win_fail(err, "could not create job object");
		goto fail;
	}
	/* Registered first, so no message of the child's life is lost. */
	c->port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 1);
	if (!c->port) {
		rc = win_fail(err, "could not create completion port");
		goto fail;
	}
	acp.CompletionKey = (PVOID)(ULONG_PTR)PORT_KEY;
	acp.CompletionPort = c->port;
	if (!SetInformationJobObject(
		    c->job, JobObjectAssociateCompletionPortInformation, &acp,
		    sizeof(acp))) {
		rc = win_fail(err, "could not attach completion port to job");
		goto fail;
	}

	memset(&lim, 0, sizeof(lim));
	lim.BasicLimitInformation.LimitFlags =
		JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE |
		JOB_OBJECT_LIMIT_ACTIVE_PROCESS |
		JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION;
	lim.BasicLimitInformation.ActiveProcessLimit = 1;
	if (l->memory_bytes > 0) {
		lim.BasicLimitInformation.LimitFlags |=
			JOB_OBJECT_LIMIT_PROCESS_MEMORY;
		lim.ProcessMemoryLimit =
			(SIZE_T)sbx__os_memory_limit(l->memory_bytes);
	}
	if (l->cpu_seconds > 0) {
		lim.BasicLimitInformation.LimitFlags |=
			JOB_OBJECT_LIMIT_PROCESS_TIME;
		/* In 100-nanosecond ticks. */
		lim.BasicLimitInformation.PerProcessUserTimeLimit.QuadPart =
			l->cpu_seconds * 10000000LL;
	}
	if (!SetInformationJobObject(c->job, JobObjectExtendedLimitInformation,
				     &lim, sizeof(lim))) {
		rc = win_fail(err, "could not set job limits");
		goto fail;
	}

	/*
	 * The cap is in hundredths of a percent of the whole machine. It is
	 * set above the runaway threshold (one core more than cpu_percent,
	 * which is psutil's per-core figure), so the sampled check can still
	 * see a runaway and classify it; with no runaway check, one core.
	 */
	cap = 100.0;
	if (l->cpu_percent > 0 && l->cpu_grace_ms > 0)
		cap = l->cpu_percent + 100.0;
	cap = cap * 100.0 / (double)cpu_count();
	memset(&rate, 0, sizeof(rate));
	rate.ControlFlags = JOB_OBJECT_CPU_RATE_CONTROL_ENABLE |
			    JOB_OBJECT_CPU_RATE_CONTROL_HARD_CAP;
	rate.CpuRate = cap >= 10000.0 ? 10000 : cap < 1.0 ? 1 : (DWORD)cap;
	if (rate.CpuRate < 10000)
		SetInformationJobObject(c->job,
					JobObjectCpuRateControlInformation,
					&rate, sizeof(rate));
fail:
	return rc;
}

/* Reads the job's messages without waiting and records limit hits. */
static void drain_port(struct sbx_child *c)
{
	DWORD msg;
	ULONG_PTR key;
	LPOVERLAPPED ov;

	if (!c->port)
		return;
	while (GetQueuedCompletionStatus(c->port, &msg, &key, &ov, 0)) {
		if (key != PORT_KEY)
			continue;
		switch (msg) {
		case JOB_OBJECT_MSG_PROCESS_MEMORY_LIMIT:
		case JOB_OBJECT_MSG_JOB_MEMORY_LIMIT:
			c->os_memory = true;
			break;
		case JOB_OBJECT_MSG_END_OF_PROCESS_TIME:
		case JOB_OBJECT_MSG_END_OF_JOB_TIME:
			c->os_cpu = true;
			break;
		case JOB_OBJECT_MSG_ACTIVE_PROCESS_LIMIT:
			/*
			 * The child tried to start a process and failed;
			 * nothing escaped. Recorded only: the runner's audit
			 * hook reports the attempt as a violation.
			 */
			c->os_spawn = true;
			break;
		default:
			/* EXIT_PROCESS, ABNORMAL_EXIT_PROCESS, NEW_PROCESS,
			 * ACTIVE_PROCESS_ZERO: the process handle says it. */
			break;
		}
	}
}

/* --- spawn ---------------------------------------------------------------- */

static void reader_init(struct sbx_reader *r, HANDLE pipe)
{
	r->pipe = pipe;
	r->event = CreateEventW(NULL, TRUE, FALSE, NULL);
	r->chunk = xmalloc(SBX_CHUNK);
}

/*
 * start() creates the process suspended in the job and resumes it. The
 * creation flags and why:
 *
 *  - CREATE_SUSPENDED: the child runs no instruction before it is in the
 *    job (needed when the job list attribute is not honoured).
 *  - CREATE_NO_WINDOW: no console window appears for a service or a
 *    server, and the child does not share our console, so a Ctrl-C meant
 *    for the worker does not reach it.
 *  - EXTENDED_STARTUPINFO_PRESENT: si carries the attribute list.
 *  - CREATE_UNICODE_ENVIRONMENT: the block is UTF-16.
 *
 * and the attributes: PROC_THREAD_ATTRIBUTE_HANDLE_LIST names the three
 * pipe ends, the only handles it inherits whatever else is inheritable in
 * this process at the moment (another thread may be spawning too);
 * PROC_THREAD_ATTRIBUTE_JOB_LIST (Windows 10) puts it into the job at
 * creation. Where that attribute is not available, AssignProcessToJobObject
 * before ResumeThread gives the same guarantee; if neither worked the
 * child is terminated unrun: it never runs outside its job.
 */
static int start(struct sbx_child *c, const struct sbx_opts *o, HANDLE hin,
		 HANDLE hout, HANDLE herr, struct buf *err)
{
	struct buf cmd = BUF_INIT(CMDLINE_MAX * 4);
	LPPROC_THREAD_ATTRIBUTE_LIST attrs = NULL;
	PROCESS_INFORMATION pi = { NULL, NULL, 0, 0 };
	STARTUPINFOEXW si;
	HANDLE inherited[3];
	HANDLE jobs[1];
	wchar_t *wapp = NULL;
	wchar_t *wcmd = NULL;
	wchar_t *env = NULL;
	bool attrs_ready = false;
	bool job_attr = false;
	BOOL in_job = FALSE;
	SIZE_T asize = 0;
	int rc;

	rc = build_cmdline(o->argv, &cmd, err);
	if (rc < 0)
		goto fail;
	rc = build_env(o, &env, err);
	if (rc < 0)
		goto fail;
	wapp = plat__utf8_to_wide(o->argv[0]);
	wcmd = plat__utf8_to_wide(cmd.ptr);
	if (!wapp || !wcmd || wcslen(wcmd) >= CMDLINE_MAX) {
		buf_errf(err,
			 "could not start \"%s\": invalid UTF-8 or "
			 "command line too long",
			 o->argv[0]);
		rc = TW_EINVAL;
		goto fail;
	}

	InitializeProcThreadAttributeList(NULL, 2, 0, &asize);
	attrs = xmalloc(asize);
	if (!InitializeProcThreadAttributeList(attrs, 2, 0, &asize)) {
		rc = win_fail(err, "could not start child");
		goto fail;
	}
	attrs_ready = true;
	inherited[0] = hin;
	inherited[1] = hout;
	inherited[2] = herr;
	if (!UpdateProcThreadAttribute(
		    attrs, 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST, inherited,
		    sizeof(inherited), NULL, NULL)) {
		rc = win_fail(err, "could not start child");
		goto fail;
	}
	jobs[0] = c->job;
	job_attr = UpdateProcThreadAttribute(attrs, 0,
					     PROC_THREAD_ATTRIBUTE_JOB_LIST,
					     jobs, sizeof(jobs), NULL, NULL);
	memset(&si, 0, sizeof(si));
	si.StartupInfo.cb = sizeof(si);
	si.StartupInfo.dwFlags = STARTF_USESTDHANDLES;
	si.StartupInfo.hStdInput = hin;
	si.StartupInfo.hStdOutput = hout;
	si.StartupInfo.hStdError = herr;
	si.lpAttributeList = attrs;

	if (!CreateProcessW(wapp, wcmd, NULL, NULL, TRUE,
			    CREATE_SUSPENDED | CREATE_NO_WINDOW |
				    EXTENDED_STARTUPINFO_PRESENT |
				    CREATE_UNICODE_ENVIRONMENT,
			    env, c->wdir, &si.StartupInfo, &pi)) {
		buf_errf(err, "could not start \"%s\": %s", o->argv[0],
			 plat__win_strerror(GetLastError()));
		rc = TW_EIO;
		goto fail;
	}
	if (!job_attr || !IsProcessInJob(pi.hProcess, c->job, &in_job) ||
	    !in_job) {
		if (!AssignProcessToJobObject(c->job, pi.hProcess)) {
			rc = win_fail(err, "could not put child into its job");
			TerminateProcess(pi.hProcess, KILLED_STATUS);
			goto fail;
		}
	}
	if (ResumeThread(pi.hThread) == (DWORD)-1) {
		rc = win_fail(err, "could not resume child");
		TerminateJobObject(c->job, KILLED_STATUS);
		goto fail;
	}
	c->proc = pi.hProcess;
	pi.hProcess = NULL;
fail:
	if (pi.hThread)
		CloseHandle(pi.hThread);
	if (pi.hProcess)
		CloseHandle(pi.hProcess);
	if (attrs_ready)
		DeleteProcThreadAttributeList(attrs);
	free(attrs);
	free(wapp);
	free(wcmd);
	free(env);
	buf_release(&cmd);
	return rc;
}

int sbx_spawn(const struct sbx_opts *opts, struct sbx_child **out,
	      struct buf *err)
{
	struct sbx_child *c = NULL;
	HANDLE in_rd = NULL;
	HANDLE out_wr = NULL;
	HANDLE err_wr = NULL;
	HANDLE out_rd = NULL;
	HANDLE err_rd = NULL;
	struct buf dir = BUF_INIT(CMDLINE_MAX * 4);
	int rc;

	if (!opts || !opts->argv || !opts->argv[0] || !opts->sandbox_dir ||
	    !out)
		TW_BUG("sbx_spawn() without a command, a directory or out");
	*out = NULL;
	c = xcalloc(1, sizeof(*c));
	c->limits = opts->limits;
	c->cpu_run.since_ms = -1;
	c->why = SBX_RUNNING;

	rc = sbx__child_dir(opts, &dir, err);
	if (rc < 0)
		goto fail;
	c->wdir = plat__utf8_to_wide(dir.ptr);
	if (!c->wdir) {
		buf_errf(err, "invalid UTF-8 in sandbox directory \"%s\"",
			 opts->sandbox_dir);
		rc = TW_EINVAL;
		goto fail;
	}
	/* From here on sbx_child_free() removes it, whatever happens. */
	c->dir = xstrdup(dir.ptr);
	rc = sbx__make_job_dir(c->dir, err);
	if (rc < 0)
		goto fail;
	rc = make_job(c, err);
	if (rc < 0)
		goto fail;
	rc = make_pipe(false, &c->in, &in_rd, err);
	if (rc == 0)
		rc = make_pipe(true, &out_rd, &out_wr, err);
	if (rc == 0)
		rc = make_pipe(true, &err_rd, &err_wr, err);
	if (rc < 0)
		goto fail;
	c->in_event = CreateEventW(NULL, TRUE, FALSE, NULL);
	reader_init(&c->out[0], out_rd);
	out_rd = NULL;
	reader_init(&c->out[1], err_rd);
	err_rd = NULL;
	if (!c->in_event || !c->out[0].event || !c->out[1].event) {
		rc = win_fail(err, "could not create event");
		goto fail;
	}
	c->t0 = plat_monotonic_ms();
	rc = start(c, opts, in_rd, out_wr, err_wr, err);
	if (rc < 0)
		goto fail;
	*out = c;
	c = NULL;
fail:
	/* Only the child may hold its ends, or EOF never comes. */
	close_handle(&in_rd);
	close_handle(&out_wr);
	close_handle(&err_wr);
	close_handle(&out_rd);
	close_handle(&err_rd);
	if (c)
		sbx_child_free(c);
	buf_release(&dir);
	return rc;
}

/* --- stdin, stdout, stderr ------------------------------------------------ */

/* How long a write may wait: until the wall-time limit, or forever. */
static DWORD write_wait_ms(const struct sbx_child *c)
{
	int64_t left;

	if (c->limits.wall_ms <= 0)
		return INFINITE;
	left = c->t0 + c->limits.wall_ms - plat_monotonic_ms();
	if (left <= 0)
		return 0;
	return left > 0x7ffffffe ? 0x7ffffffe : (DWORD)left;
}

/*
 * sbx_write() blocks until all of data is in the pipe, the child exits, or
 * its wall-time limit passes (then it is killed: SBX_KILLED_TIMEOUT).
 */
int sbx_write(struct sbx_child *c, const void *data, size_t len,
	      struct buf *err)
{
	const char *p = data;
	int rc = 0;

	while (len > 0) {
		OVERLAPPED ov;
		HANDLE h[2];
		DWORD n = 0;
		DWORD want = len > SBX_CHUNK ? SBX_CHUNK : (DWORD)len;
		DWORD w;

		if (!c->in) {
			buf_errf(err, "child's stdin is closed");
			rc = TW_EIO;
			goto out;
		}
		memset(&ov, 0, sizeof(ov));
		ov.hEvent = c->in_event;
		if (!WriteFile(c->in, p, want, NULL, &ov) &&
		    GetLastError() != ERROR_IO_PENDING) {
			rc = win_fail(err, "could not write to child");
			goto out;
		}
		/*
		 * A child that stops reading would block us forever: its
		 * exit ends the wait, and so does its wall-time limit, on
		 * which it is killed as sbx_poll() would have done.
		 */
		h[0] = c->in_event;
		h[1] = c->proc;
		w = WaitForMultipleObjects(2, h, FALSE, write_wait_ms(c));
		if (w != WAIT_OBJECT_0) {
			CancelIoEx(c->in, &ov);
			GetOverlappedResult(c->in, &ov, &n, TRUE);
			if (w == WAIT_TIMEOUT) {
				sbx_kill(c, SBX_KILLED_TIMEOUT);
				buf_errf(err, "could not write to child: it "
					      "did not read its input in time");
			} else {
				buf_errf(err, "could not write to child: it "
					      "has exited");
			}
			rc = TW_EIO;
			goto out;
		}
		if (!GetOverlappedResult(c->in, &ov, &n, FALSE)) {
			rc = win_fail(err, "could not write to child");
			goto out;
		}
		p += n;
		len -= n;
	}
out:
	return rc;
}

void sbx_close_stdin(struct sbx_child *c)
{
	close_handle(&c->in);
}

/* Hands what the reader holds to out, as much as fits. */
static int deliver(struct sbx_reader *r, struct buf *out)
{
	size_t room = out->cap - out->len;
	DWORD n = r->have;
	int rc;

	if (room == 0)
		return TW_ETOOBIG;
	if ((size_t)n > room)
		n = (DWORD)room;
	rc = buf_add(out, r->chunk + r->off, n);
	if (rc == 0) {
		r->off += n;
		r->have -= n;
	}
	return rc;
}

int sbx_read(struct sbx_child *c, int which, struct buf *out,
	     int64_t timeout_ms, bool *eof, struct buf *err)
{
	struct sbx_reader *r;
	int64_t deadline = timeout_ms < 0 ? INT64_MAX
					  : plat_monotonic_ms() + timeout_ms;
	bool got = false;
	int rc = 0;
	int s;

	if (which != 1 && which != 2)
		TW_BUG("sbx_read() of stream %d", which);
	r = &c->out[which - 1];
	*eof = false;
	for (;;) {
		int64_t left;

		s = r->pipe ? reader_step(r) : 0;
		if (s < 0) {
			rc = win_fail(err, "could not read from child");
			goto out;
		}
		if (s > 0) {
			rc = deliver(r, out);
			if (rc < 0) {
				if (!got)
					buf_errf(err, "child output over cap");
				else
					rc = 0; /* the rest next time */
				goto out;
			}
			got = true;
			continue; /* take what else is there */
		}
		if (r->eof || !r->pipe) {
			*eof = true;
			goto out;
		}
		if (got)
			goto out;
		left = deadline - plat_monotonic_ms();
		if (left <= 0)
			goto out;
		WaitForSingleObject(r->event, left > 0x7fffffff ? 0x7fffffff
								: (DWORD)left);
	}
out:
	return rc;
}

/* --- monitoring ----------------------------------------------------------- */

/* Takes a sample of CPU time and memory into c->last. */
static void sample(struct sbx_child *c)
{
	JOBOBJECT_BASIC_ACCOUNTING_INFORMATION acct;
	PROCESS_MEMORY_COUNTERS_EX pmc;
	FILETIME ct, et, kt, ut;
	struct sbx_sample *s = &c->last;
	int64_t now = plat_monotonic_ms() - c->t0;
	double cpu = 0;

	/*
	 * The job's totals include processes that already exited; the
	 * process's own times are the fallback where the job's accounting
	 * is missing (Wine). Both are lower bounds: take the larger.
	 */
	if (QueryInformationJobObject(c->job,
				      JobObjectBasicAccountingInformation,
				      &acct, sizeof(acct), NULL))
		cpu = (double)(acct.TotalUserTime.QuadPart +
			       acct.TotalKernelTime.QuadPart) /
		      1e7;
	if (GetProcessTimes(c->proc, &ct, &et, &kt, &ut)) {
		ULARGE_INTEGER k;
		ULARGE_INTEGER u;
		double t;

		k.LowPart = kt.dwLowDateTime;
		k.HighPart = kt.dwHighDateTime;
		u.LowPart = ut.dwLowDateTime;
		u.HighPart = ut.dwHighDateTime;
		t = (double)(k.QuadPart + u.QuadPart) / 1e7;
		if (t > cpu)
			cpu = t;
	}
	if (cpu < s->cpu_seconds)
		cpu = s->cpu_seconds;
	/* psutil's formula: not divided by the number of cores. */
	if (now > c->last_ms)
		s->cpu_percent = 100.0 * (cpu - c->last_cpu) * 1000.0 /
				 (double)(now - c->last_ms);
	c->last_ms = now;
	c->last_cpu = cpu;
	s->cpu_seconds = cpu;
	s->wall_ms = now;

	memset(&pmc, 0, sizeof(pmc));
	pmc.cb = sizeof(pmc);
	if (GetProcessMemoryInfo(c->proc, (PROCESS_MEMORY_COUNTERS *)&pmc,
				 sizeof(pmc))) {
		s->rss_bytes = (int64_t)pmc.WorkingSetSize;
		s->commit_bytes = (int64_t)pmc.PrivateUsage;
		if ((int64_t)pmc.PeakWorkingSetSize > s->peak_rss_bytes)
			s->peak_rss_bytes = (int64_t)pmc.PeakWorkingSetSize;
	}
	if (s->rss_bytes > s->peak_rss_bytes)
		s->peak_rss_bytes = s->rss_bytes;
}

static bool exited(struct sbx_child *c)
{
	return WaitForSingleObject(c->proc, 0) == WAIT_OBJECT_0;
}

/* True when the NTSTATUS-like exit code is an exception, not an exit(). */
static bool is_crash(DWORD code)
{
	return (code & 0xF0000000UL) == 0xC0000000UL ||
	       code == STATUS_BREAKPOINT_CODE;
}

/* Fills c->ex for a child that has exited. */
static void classify(struct sbx_child *c)
{
	struct sbx_exit *ex = &c->ex;
	DWORD code = 0;
	const struct sbx_limits *l = &c->limits;

	drain_port(c);
	GetExitCodeProcess(c->proc, &code);
	memset(ex, 0, sizeof(*ex));
	ex->exit_code = (int)code;
	if (c->why != SBX_RUNNING)
		ex->outcome = c->why;
	else if (c->os_memory)
		ex->outcome = SBX_KILLED_MEMORY;
	else if (c->os_cpu)
		ex->outcome = SBX_KILLED_CPU;
	else if (l->cpu_seconds > 0 && code != 0 &&
		 c->last.cpu_seconds >= (double)l->cpu_seconds * 0.99)
		ex->outcome = SBX_KILLED_CPU; /* the message was lost */
	else if (is_crash(code))
		ex->outcome = SBX_CRASHED;
	else
		ex->outcome = SBX_EXITED;
	ex->last = c->last;
}

enum sbx_outcome sbx_poll(struct sbx_child *c, struct sbx_sample *out)
{
	const struct sbx_limits *l = &c->limits;
	struct sbx_sample *s = &c->last;
	enum sbx_outcome o = SBX_RUNNING;

	if (c->reaped) {
		o = c->ex.outcome;
		goto out;
	}
	sample(c);
	drain_port(c);
	if (exited(c)) {
		classify(c);
		o = c->ex.outcome;
		goto out;
	}
	if (c->why != SBX_RUNNING) {
		o = c->why; /* killed, not yet gone */
		goto out;
	}
	/*
	 * What Windows reported first (its limits act between samples),
	 * then the shared decisions: wall time, memory, runaway, CPU time.
	 */
	if (c->os_memory)
		o = SBX_KILLED_MEMORY;
	else if (c->os_cpu)
		o = SBX_KILLED_CPU;
	else
		o = sbx__judge(l, s, &c->cpu_run);
	if (o != SBX_RUNNING)
		sbx_kill(c, o);
out:
	if (out)
		*out = c->last;
	return o;
}

void sbx_kill(struct sbx_child *c, enum sbx_outcome why)
{
	if (c->reaped || exited(c) || c->why != SBX_RUNNING)
		return;
	c->why = why;
	/* The whole job: a grandchild, were one possible, too. */
	if (!TerminateJobObject(c->job, KILLED_STATUS))
		TerminateProcess(c->proc, KILLED_STATUS);
}

int sbx_wait(struct sbx_child *c, int64_t timeout_ms, struct sbx_exit *ex,
	     struct buf *err)
{
	DWORD ms;
	DWORD w;
	int rc = 0;

	if (c->reaped)
		goto done;
	if (timeout_ms < 0)
		ms = INFINITE;
	else
		ms = timeout_ms > 0x7ffffffe ? 0x7ffffffe : (DWORD)timeout_ms;
	w = WaitForSingleObject(c->proc, ms);
	if (w == WAIT_TIMEOUT) {
		rc = TW_ETIMEOUT;
		goto out;
	}
	if (w != WAIT_OBJECT_0) {
		rc = win_fail(err, "could not wait for child");
		goto out;
	}
	sample(c);
	classify(c);
	c->reaped = true;
done:
	if (ex)
		*ex = c->ex;
out:
	return rc;
}

void sbx_child_free(struct sbx_child *c)
{
	if (!c)
		return;
	if (c->proc && !exited(c)) {
		if (!TerminateJobObject(c->job, KILLED_STATUS))
			TerminateProcess(c->proc, KILLED_STATUS);
		WaitForSingleObject(c->proc, FREE_WAIT_MS);
	}
	close_handle(&c->in);
	close_handle(&c->in_event);
	reader_close(&c->out[0]);
	reader_close(&c->out[1]);
	/* KILL_ON_JOB_CLOSE: anything left in the job dies now. */
	close_handle(&c->job);
	close_handle(&c->port);
	close_handle(&c->proc);
	if (c->dir)
		remove_job_dir(c->dir);
	free(c->dir);
	free(c->wdir);
	free(c);
}

long sbx_child_pid(const struct sbx_child *c)
{
	return (long)GetProcessId(c->proc);
}

/*
 * Windows has no setuid: run_as_user is ignored and the child keeps the
 * worker's account. Its protection is to be a restricted token at low
 * integrity inside the job object (the next sandbox issue;
 * docs/windows.md).
 */
int sbx_check_user(const char *user, bool *drops, struct buf *err)
{
	(void)user;
	(void)err;
	*drops = false;
	return 0;
}
