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
 * It never runs with the worker's own token: it runs in a less-privileged
 * AppContainer with no capability, or where Windows has none, with a
 * restricted token at low integrity ("isolation" below; docs/windows.md).
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

#include "sandbox/sandbox_win_int.h"

#include <windows.h>
#include <aclapi.h>
#include <psapi.h>
#include <sddl.h>
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
	enum sbx__win_mode mode; /* how the child is isolated */
	unsigned attrs;		 /* SBX__WIN_ATTR_* set for it */
	char *dir_sddl;		 /* the job directory's DACL, as set */
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

/* --- isolation: an AppContainer, or a restricted token ------------------- */

/*
 * The child never runs with the worker's own token: that token can open
 * the worker with PROCESS_VM_READ (its secrets in memory) or
 * PROCESS_DUP_HANDLE (its job handle, and with it the child's limits),
 * read .env, reach PostgreSQL and the network. The modes, best first
 * (docs/windows.md has the reasons and the order):
 *
 *  1. LPAC: an AppContainer with no capability that has also opted out of
 *     ALL APPLICATION PACKAGES (S-1-15-2-1), so it reaches only what grants
 *     its own SID or ALL RESTRICTED APPLICATION PACKAGES (S-1-15-2-2): no
 *     network (no internetClient capability), no file of the worker's.
 *  2. AppContainer: the same without the opt-out (Windows before 10 1703
 *     refuses the attribute); it also reaches what grants S-1-15-2-1.
 *  3. Restricted token: CreateRestrictedToken with DISABLE_MAX_PRIVILEGE
 *     and the user and Administrators SIDs deny-only, at low integrity,
 *     through CreateProcessAsUserW. It keeps Everyone, Users and the logon
 *     SID, so it can read what those may; low integrity keeps it from
 *     writing anything above low and, with the no-read-up label
 *     scripts/windows/grant-sandbox-acl.ps1 puts on the worker's private
 *     files, from reading those.
 *
 * The decision is made once per process (InitOnceExecuteOnce) and noted
 * in iso.note, which the log reports: a mode is skipped when its function
 * is missing (Wine's userenv.dll has no CreateAppContainerProfile), when
 * Windows refuses its process attribute, or when TW_SANDBOX_ISOLATION
 * ("lpac", the default; "appcontainer"; "restricted") starts lower. There
 * is no mode without isolation: when not even a restricted token can be
 * made, sbx_spawn() fails with the reason.
 *
 * Either way the worker's own process gets a protected DACL that grants
 * only its user and SYSTEM (protect_worker_process()), the sandbox
 * directory a protected DACL (protect_sandbox_dir()), and each job
 * directory is created with a protected DACL that grants only the child's
 * principal and the worker (make_job_dir()).
 */

/*
 * Declared here when mingw-w64's headers lack them, with the values of
 * Microsoft's documentation: ProcThreadAttributeValue(n, FALSE, TRUE,
 * FALSE) is n | 0x00020000 (PROC_THREAD_ATTRIBUTE_INPUT), with n = 9
 * (SecurityCapabilities), 14 (ChildProcessPolicy) and 15
 * (AllApplicationPackagesPolicy).
 */
#ifndef PROC_THREAD_ATTRIBUTE_SECURITY_CAPABILITIES
#define PROC_THREAD_ATTRIBUTE_SECURITY_CAPABILITIES 0x00020009
#endif
#ifndef PROC_THREAD_ATTRIBUTE_CHILD_PROCESS_POLICY
#define PROC_THREAD_ATTRIBUTE_CHILD_PROCESS_POLICY 0x0002000E
#endif
#ifndef PROC_THREAD_ATTRIBUTE_ALL_APPLICATION_PACKAGES_POLICY
#define PROC_THREAD_ATTRIBUTE_ALL_APPLICATION_PACKAGES_POLICY 0x0002000F
#endif
#ifndef PROCESS_CREATION_CHILD_PROCESS_RESTRICTED
#define PROCESS_CREATION_CHILD_PROCESS_RESTRICTED 0x01
#endif
#ifndef PROCESS_CREATION_ALL_APPLICATION_PACKAGES_OPT_OUT
#define PROCESS_CREATION_ALL_APPLICATION_PACKAGES_OPT_OUT 0x01
#endif

/*
 * userenv.dll's AppContainer functions (Windows 8 and later), looked up at
 * run time so that the program also starts where they are missing.
 */
typedef HRESULT(WINAPI *create_profile_fn)(PCWSTR name, PCWSTR display,
					   PCWSTR description,
					   PSID_AND_ATTRIBUTES caps,
					   DWORD ncaps, PSID *sid);
typedef HRESULT(WINAPI *derive_sid_fn)(PCWSTR name, PSID *sid);

/*
 * The profile's name, the same for every child and every worker: the
 * AppContainer SID is derived from the name alone, so the SID
 * grant-sandbox-acl.ps1 grants the Python installation is the one the
 * worker's children get, whichever account the worker runs as.
 */
#define AC_NAME L"Tablewright.Sandbox"
#define AC_DISPLAY L"Tablewright sandbox"
#define AC_DESCRIPTION L"Runs Tablewright transform scripts"
/* Read and traverse, not list: a child reaches its own directory only. */
#define SBX_DIR_TRAVERSE L"0x1000a0"
/* Everything a process object has (PROCESS_ALL_ACCESS). */
#define PROC_ALL L"0x1fffff"
#define NOTE_MAX 1024

static struct {
	INIT_ONCE once;
	SRWLOCK lock;		 /* sandbox_dir */
	enum sbx__win_mode mode; /* 0: no mode works; error says why */
	PSID ac_sid;		 /* from userenv: FreeSid() at exit never */
	PSID user_sid;		 /* the worker's user (xmalloc) */
	PSID logon_sid;		 /* the worker's logon session (xmalloc) */
	wchar_t *user;		 /* user_sid as a string (LocalFree) */
	wchar_t *principal;	 /* what job directories grant (LocalFree) */
	char principal_utf8[256];
	PSECURITY_DESCRIPTOR child_sd; /* of the child's process and thread */
	char *sandbox_dir;	       /* the last TW_SANDBOX_DIR protected */
	char note[NOTE_MAX];
	char error[NOTE_MAX];
	char text[NOTE_MAX + 64]; /* sbx__win_isolation_note() */
} iso = { .once = INIT_ONCE_STATIC_INIT, .lock = SRWLOCK_INIT };

const char *sbx__win_mode_name(enum sbx__win_mode m)
{
	switch (m) {
	case SBX__WIN_LPAC:
		return "lpac";
	case SBX__WIN_APPCONTAINER:
		return "appcontainer";
	case SBX__WIN_RESTRICTED:
		return "restricted-token";
	}
	return "none";
}

/* Appends "; <text>" (or the text) to a fixed note. */
static void note_addf(char *note, const char *fmt, ...) TW_PRINTF(2, 3);
static void note_addf(char *note, const char *fmt, ...)
{
	size_t len = strlen(note);
	va_list ap;

	if (len > 0 && len + 2 < NOTE_MAX) {
		memcpy(note + len, "; ", 3);
		len += 2;
	}
	if (len + 1 >= NOTE_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(note + len, NOTE_MAX - len, fmt, ap);
	va_end(ap);
}

static PSID sid_copy(PSID sid)
{
	DWORD len = GetLengthSid(sid);
	PSID out = xmalloc(len);

	CopySid(len, out, sid);
	return out;
}

/* Reads the worker's user SID and logon SID from its token. */
static bool read_token_sids(void)
{
	HANDLE token = NULL;
	TOKEN_USER *user = NULL;
	TOKEN_GROUPS *groups = NULL;
	DWORD len = 0;
	DWORD i;
	bool ok = false;

	if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &token)) {
		note_addf(iso.error, "could not open the worker's token: %s",
			  plat__win_strerror(GetLastError()));
		goto out;
	}
	GetTokenInformation(token, TokenUser, NULL, 0, &len);
	user = xmalloc(len ? len : 1);
	if (!GetTokenInformation(token, TokenUser, user, len, &len) ||
	    !ConvertSidToStringSidW(user->User.Sid, &iso.user)) {
		note_addf(iso.error, "could not read the worker's user SID: %s",
			  plat__win_strerror(GetLastError()));
		goto out;
	}
	iso.user_sid = sid_copy(user->User.Sid);
	len = 0;
	GetTokenInformation(token, TokenGroups, NULL, 0, &len);
	groups = xmalloc(len ? len : 1);
	if (GetTokenInformation(token, TokenGroups, groups, len, &len)) {
		for (i = 0; i < groups->GroupCount; i++) {
			if ((groups->Groups[i].Attributes &
			     SE_GROUP_LOGON_ID) == SE_GROUP_LOGON_ID) {
				iso.logon_sid = sid_copy(groups->Groups[i].Sid);
				break;
			}
		}
	}
	ok = true;
out:
	free(groups);
	free(user);
	if (token)
		CloseHandle(token);
	return ok;
}

/* What probe_attrs() found. */
enum probe { PROBE_OK, PROBE_NO_APPCONTAINER, PROBE_NO_LPAC };

/*
 * Probes whether this Windows takes the AppContainer attributes: builds a
 * throwaway attribute list with them. lpac: the opt-out too.
 */
static enum probe probe_attrs(PSID sid, bool lpac)
{
	LPPROC_THREAD_ATTRIBUTE_LIST attrs;
	SECURITY_CAPABILITIES sc;
	DWORD optout = PROCESS_CREATION_ALL_APPLICATION_PACKAGES_OPT_OUT;
	SIZE_T size = 0;
	enum probe r = PROBE_NO_APPCONTAINER;

	InitializeProcThreadAttributeList(NULL, 2, 0, &size);
	attrs = xmalloc(size);
	if (!InitializeProcThreadAttributeList(attrs, 2, 0, &size)) {
		note_addf(iso.note, "no attribute list: %s",
			  plat__win_strerror(GetLastError()));
		free(attrs);
		return PROBE_NO_APPCONTAINER;
	}
	memset(&sc, 0, sizeof(sc));
	sc.AppContainerSid = sid;
	if (!UpdateProcThreadAttribute(
		    attrs, 0, PROC_THREAD_ATTRIBUTE_SECURITY_CAPABILITIES, &sc,
		    sizeof(sc), NULL, NULL)) {
		note_addf(iso.note,
			  "AppContainer unavailable: "
			  "PROC_THREAD_ATTRIBUTE_SECURITY_CAPABILITIES refused "
			  "(%s)",
			  plat__win_strerror(GetLastError()));
		goto out;
	}
	r = PROBE_NO_LPAC;
	if (lpac &&
	    !UpdateProcThreadAttribute(
		    attrs, 0,
		    PROC_THREAD_ATTRIBUTE_ALL_APPLICATION_PACKAGES_POLICY,
		    &optout, sizeof(optout), NULL, NULL)) {
		note_addf(iso.note,
			  "LPAC unavailable: the all-application-packages "
			  "opt-out refused (%s)",
			  plat__win_strerror(GetLastError()));
		goto out;
	}
	r = PROBE_OK;
out:
	DeleteProcThreadAttributeList(attrs);
	free(attrs);
	return r;
}

/* Creates (or finds) the AppContainer profile: iso.ac_sid. */
static bool find_appcontainer(void)
{
	HMODULE userenv;
	create_profile_fn create;
	derive_sid_fn derive;
	HRESULT hr;

	userenv = LoadLibraryExW(L"userenv.dll", NULL,
				 LOAD_LIBRARY_SEARCH_SYSTEM32);
	if (!userenv) {
		note_addf(iso.note,
			  "AppContainer unavailable: no userenv.dll (%s)",
			  plat__win_strerror(GetLastError()));
		return false;
	}
	create = (create_profile_fn)(void (*)(void))GetProcAddress(
		userenv, "CreateAppContainerProfile");
	derive = (derive_sid_fn)(void (*)(void))GetProcAddress(
		userenv, "DeriveAppContainerSidFromAppContainerName");
	if (!create || !derive) {
		note_addf(iso.note,
			  "AppContainer unavailable: userenv.dll has no "
			  "CreateAppContainerProfile");
		return false;
	}
	hr = create(AC_NAME, AC_DISPLAY, AC_DESCRIPTION, NULL, 0, &iso.ac_sid);
	if (hr == HRESULT_FROM_WIN32(ERROR_ALREADY_EXISTS))
		hr = derive(AC_NAME, &iso.ac_sid);
	if (FAILED(hr)) {
		iso.ac_sid = NULL;
		note_addf(iso.note,
			  "AppContainer unavailable: no profile "
			  "\"Tablewright.Sandbox\" (HRESULT 0x%08lx: %s)",
			  (unsigned long)hr,
			  plat__win_strerror((unsigned long)hr));
		return false;
	}
	return true;
}

/* Makes a restricted low-integrity primary token of the worker's own. */
static int make_restricted_token(HANDLE *out, struct buf *err)
{
	HANDLE token = NULL;
	SID_AND_ATTRIBUTES deny[2];
	PSID admins = NULL;
	PSID low = NULL;
	TOKEN_MANDATORY_LABEL tml;
	DWORD ndeny = 0;
	int rc = 0;

	*out = NULL;
	if (!OpenProcessToken(GetCurrentProcess(),
			      TOKEN_DUPLICATE | TOKEN_QUERY |
				      TOKEN_ASSIGN_PRIMARY |
				      TOKEN_ADJUST_DEFAULT,
			      &token)) {
		rc = win_fail(err, "could not open the worker's token");
		goto out;
	}
	if (!ConvertStringSidToSidW(L"BA", &admins) ||
	    !ConvertStringSidToSidW(L"S-1-16-4096", &low)) {
		rc = win_fail(err, "could not build the sandbox's SIDs");
		goto out;
	}
	memset(deny, 0, sizeof(deny));
	deny[ndeny++].Sid = iso.user_sid;
	deny[ndeny++].Sid = admins;
	/* DISABLE_MAX_PRIVILEGE: every privilege but SeChangeNotify goes. */
	if (!CreateRestrictedToken(token, DISABLE_MAX_PRIVILEGE, ndeny, deny, 0,
				   NULL, 0, NULL, out)) {
		*out = NULL;
		rc = win_fail(err, "could not create a restricted token");
		goto out;
	}
	memset(&tml, 0, sizeof(tml));
	tml.Label.Attributes = SE_GROUP_INTEGRITY;
	tml.Label.Sid = low;
	if (!SetTokenInformation(*out, TokenIntegrityLevel, &tml,
				 sizeof(tml) + GetLengthSid(low))) {
		rc = win_fail(err, "could not lower the restricted token to "
				   "low integrity");
		close_handle(out);
		goto out;
	}
out:
	if (low)
		LocalFree(low);
	if (admins)
		LocalFree(admins);
	if (token)
		CloseHandle(token);
	return rc;
}

/*
 * Which mode TW_SANDBOX_ISOLATION asks to start from: lpac (unset, the
 * default), appcontainer or restricted; 0 for anything else.
 */
static enum sbx__win_mode wanted_mode(void)
{
	wchar_t v[32];
	DWORD n = GetEnvironmentVariableW(L"TW_SANDBOX_ISOLATION", v,
					  TW_ARRAY_SIZE(v));

	if (n == 0 || _wcsicmp(v, L"lpac") == 0)
		return SBX__WIN_LPAC;
	if (n < TW_ARRAY_SIZE(v) && _wcsicmp(v, L"appcontainer") == 0)
		return SBX__WIN_APPCONTAINER;
	if (n < TW_ARRAY_SIZE(v) && _wcsicmp(v, L"restricted") == 0)
		return SBX__WIN_RESTRICTED;
	return 0;
}

/*
 * protect_worker_process() gives the worker's (or server's) own process a
 * protected DACL: all access for its user and SYSTEM, nothing for anyone
 * else, and for the AppContainer an explicit deny. OWNER RIGHTS gets
 * READ_CONTROL only, so being the owner gives no implicit WRITE_DAC. What
 * keeps the child out is, in AppContainer mode, the AppContainer access
 * check (an AppContainer opens only what grants its SID, or a capability
 * or package group it holds; this DACL grants none) and the deny ACE; in
 * restricted mode, its user SID being deny-only (the allow ACE for the
 * user does not apply to it) and the mandatory label of process objects
 * (no-read-up, no-write-up) between its low integrity and the worker's.
 */
static bool protect_worker_process(void)
{
	struct buf sddl = BUF_INIT(4096);
	PSECURITY_DESCRIPTOR sd = NULL;
	wchar_t *wsddl = NULL;
	wchar_t *ac = NULL;
	BOOL present = FALSE;
	BOOL defaulted = FALSE;
	PACL dacl = NULL;
	DWORD e;
	bool ok = false;

	buf_adds(&sddl, "D:P");
	if (iso.ac_sid && iso.mode != SBX__WIN_RESTRICTED &&
	    ConvertSidToStringSidW(iso.ac_sid, &ac)) {
		buf_adds(&sddl, "(D;;0x1fffff;;;");
		plat__wide_to_utf8(ac, &sddl);
		buf_addch(&sddl, ')');
		LocalFree(ac);
	}
	buf_adds(&sddl, "(A;;0x1fffff;;;");
	plat__wide_to_utf8(iso.user, &sddl);
	buf_adds(&sddl, ")(A;;0x1fffff;;;SY)(A;;0x20000;;;OW)");
	wsddl = plat__utf8_to_wide(sddl.ptr);
	if (!wsddl ||
	    !ConvertStringSecurityDescriptorToSecurityDescriptorW(
		    wsddl, SDDL_REVISION_1, &sd, NULL) ||
	    !GetSecurityDescriptorDacl(sd, &present, &dacl, &defaulted)) {
		note_addf(iso.error,
			  "could not build the worker's process DACL: %s",
			  plat__win_strerror(GetLastError()));
		goto out;
	}
	e = SetSecurityInfo(GetCurrentProcess(), SE_KERNEL_OBJECT,
			    DACL_SECURITY_INFORMATION |
				    PROTECTED_DACL_SECURITY_INFORMATION,
			    NULL, NULL, dacl, NULL);
	if (e != ERROR_SUCCESS) {
		note_addf(iso.error,
			  "could not set the worker's process DACL: %s",
			  plat__win_strerror(e));
		goto out;
	}
	ok = true;
out:
	if (sd)
		LocalFree(sd);
	free(wsddl);
	buf_release(&sddl);
	return ok;
}

/*
 * make_child_sd() builds the security descriptor of every child's process
 * and thread objects: all access for the worker's user and SYSTEM, nothing
 * for anyone else. Without it the objects get the default DACL of the
 * child's token, which in an AppContainer grants the container's SID:
 * every job's child has the same SID, so one could open another. A
 * restricted child's user SID is deny-only, so the allow ACE for the user
 * does not admit it either. A process may still use its own pseudo-handle.
 */
static bool make_child_sd(void)
{
	struct buf sddl = BUF_INIT(4096);
	wchar_t *w;
	bool ok;

	buf_adds(&sddl, "D:P(A;;0x1fffff;;;");
	plat__wide_to_utf8(iso.user, &sddl);
	buf_adds(&sddl, ")(A;;0x1fffff;;;SY)");
	w = plat__utf8_to_wide(sddl.ptr);
	ok = w && ConvertStringSecurityDescriptorToSecurityDescriptorW(
			  w, SDDL_REVISION_1, &iso.child_sd, NULL);
	if (!ok)
		note_addf(iso.error,
			  "could not build the child's process DACL: %s",
			  plat__win_strerror(GetLastError()));
	free(w);
	buf_release(&sddl);
	return ok;
}

/* Decides the mode once per process: see the comment above. */
static BOOL CALLBACK iso_init(PINIT_ONCE once, PVOID param, PVOID *ctx)
{
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	enum sbx__win_mode want = wanted_mode();
	HANDLE token = NULL;

	(void)once;
	(void)param;
	(void)ctx;
	if (!want) {
		note_addf(iso.error,
			  "TW_SANDBOX_ISOLATION must be lpac, appcontainer or "
			  "restricted");
		goto out;
	}
	if (!read_token_sids())
		goto out;
	if (want == SBX__WIN_RESTRICTED)
		note_addf(iso.note, "AppContainer skipped: "
				    "TW_SANDBOX_ISOLATION=restricted");
	else if (want == SBX__WIN_APPCONTAINER)
		note_addf(iso.note, "LPAC skipped: "
				    "TW_SANDBOX_ISOLATION=appcontainer");
	if (want <= SBX__WIN_APPCONTAINER && find_appcontainer()) {
		enum probe r = probe_attrs(iso.ac_sid, want == SBX__WIN_LPAC);

		if (r == PROBE_OK)
			iso.mode = want;
		else if (r == PROBE_NO_LPAC &&
			 probe_attrs(iso.ac_sid, false) == PROBE_OK)
			iso.mode = SBX__WIN_APPCONTAINER;
	}
	if (iso.mode) {
		if (!ConvertSidToStringSidW(iso.ac_sid, &iso.principal)) {
			note_addf(iso.error, "could not convert a SID: %s",
				  plat__win_strerror(GetLastError()));
			iso.mode = 0;
			goto out;
		}
	} else {
		/* The restricted token must be possible, and have a logon SID
		 * for its job directories to grant. */
		if (make_restricted_token(&token, &err) < 0) {
			note_addf(iso.error, "%s", err.ptr);
			goto out;
		}
		CloseHandle(token);
		if (!iso.logon_sid) {
			note_addf(iso.error,
				  "the worker's token has no logon SID for a "
				  "restricted child's directory to grant");
			goto out;
		}
		if (!ConvertSidToStringSidW(iso.logon_sid, &iso.principal)) {
			note_addf(iso.error, "could not convert a SID: %s",
				  plat__win_strerror(GetLastError()));
			goto out;
		}
		iso.mode = SBX__WIN_RESTRICTED;
	}
	buf_reset(&err);
	if (plat__wide_to_utf8(iso.principal, &err) < 0 ||
	    err.len >= sizeof(iso.principal_utf8)) {
		note_addf(iso.error, "could not convert a SID");
		iso.mode = 0;
		goto out;
	}
	memcpy(iso.principal_utf8, err.ptr, err.len + 1);
	if (!protect_worker_process() || !make_child_sd())
		iso.mode = 0;
out:
	if (!iso.mode && !iso.error[0])
		note_addf(iso.error, "no isolation mode is available");
	/* What the log says: fixed from here on, so threads may share it. */
	snprintf(iso.text, sizeof(iso.text), "%s%s%s%s",
		 sbx__win_mode_name(iso.mode),
		 iso.note[0] ? " (fallback: " : "", iso.note,
		 iso.note[0] ? ")" : "");
	buf_release(&err);
	return TRUE;
}

/* The process-wide decision; TW_EIO with the reason when nothing works. */
static int iso_ready(struct buf *err)
{
	InitOnceExecuteOnce(&iso.once, iso_init, NULL, NULL);
	if (iso.mode)
		return 0;
	buf_errf(err, "could not isolate the sandbox child: %s (%s)", iso.error,
		 iso.note[0] ? iso.note : "no other mode tried");
	return TW_EIO;
}

const char *sbx__win_isolation_note(void)
{
	return iso.mode ? iso.text : "none";
}

const char *sbx__win_principal_sid(void)
{
	return iso.mode ? iso.principal_utf8 : NULL;
}

/* Builds a security descriptor from UTF-8 SDDL; LocalFree() *sd. */
static int sd_from_sddl(const char *sddl, PSECURITY_DESCRIPTOR *sd,
			struct buf *err)
{
	wchar_t *w = plat__utf8_to_wide(sddl);
	int rc = 0;

	*sd = NULL;
	if (!w || !ConvertStringSecurityDescriptorToSecurityDescriptorW(
			  w, SDDL_REVISION_1, sd, NULL)) {
		rc = win_fail(err, "could not build a security descriptor");
		*sd = NULL;
	}
	free(w);
	return rc;
}

/*
 * protect_sandbox_dir() gives TW_SANDBOX_DIR a protected DACL: full
 * control for SYSTEM, Administrators and the worker's user, inherited by
 * what is created below it; read-attributes and traverse (not list) for
 * the child's principal, not inherited. Set once per process and
 * directory; the job directories' own DACLs are protected, so this does
 * not change them.
 */
static int protect_sandbox_dir(const char *dir, struct buf *err)
{
	struct buf sddl = BUF_INIT(4096);
	PSECURITY_DESCRIPTOR sd = NULL;
	BOOL present = FALSE;
	BOOL defaulted = FALSE;
	PACL dacl = NULL;
	wchar_t *wdir = NULL;
	DWORD e;
	int rc = 0;

	AcquireSRWLockExclusive(&iso.lock);
	if (iso.sandbox_dir && strcmp(iso.sandbox_dir, dir) == 0)
		goto out;
	rc = plat_mkdir_p(dir, err);
	if (rc < 0)
		goto out;
	buf_adds(&sddl, "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;FA;;;");
	plat__wide_to_utf8(iso.user, &sddl);
	buf_adds(&sddl, ")(A;;0x1000a0;;;");
	buf_adds(&sddl, iso.principal_utf8);
	buf_addch(&sddl, ')');
	rc = sd_from_sddl(sddl.ptr, &sd, err);
	if (rc < 0)
		goto out;
	GetSecurityDescriptorDacl(sd, &present, &dacl, &defaulted);
	wdir = plat__utf8_to_wide(dir);
	e = wdir ? SetNamedSecurityInfoW(
			   wdir, SE_FILE_OBJECT,
			   DACL_SECURITY_INFORMATION |
				   PROTECTED_DACL_SECURITY_INFORMATION,
			   NULL, NULL, dacl, NULL)
		 : ERROR_INVALID_NAME;
	if (e != ERROR_SUCCESS) {
		buf_errf(err,
			 "could not protect the sandbox directory \"%s\": %s",
			 dir, plat__win_strerror(e));
		rc = TW_EIO;
		goto out;
	}
	free(iso.sandbox_dir);
	iso.sandbox_dir = xstrdup(dir);
out:
	ReleaseSRWLockExclusive(&iso.lock);
	free(wdir);
	if (sd)
		LocalFree(sd);
	buf_release(&sddl);
	return rc;
}

/*
 * make_job_dir() creates the job directory afresh (a leftover of a dead
 * worker removed first) with CreateDirectoryW and a security descriptor
 * whose protected DACL grants full control, inherited by everything the
 * child creates, to the child's principal and the worker's user, and
 * nothing to anyone else: no ACE is inherited from TW_SANDBOX_DIR. For a
 * restricted (low-integrity) child the descriptor also holds a low
 * mandatory label (no-write-up), inherited too, so that the child may
 * write in it: a process may create an object at or below its own
 * integrity level.
 */
static int make_job_dir(struct sbx_child *c, const struct sbx_opts *o,
			struct buf *err)
{
	struct buf sddl = BUF_INIT(4096);
	SECURITY_ATTRIBUTES sa;
	PSECURITY_DESCRIPTOR sd = NULL;
	int rc;

	rc = protect_sandbox_dir(o->sandbox_dir, err);
	if (rc < 0)
		goto out;
	rc = plat_remove_tree(c->dir, err);
	if (rc < 0)
		goto out;
	buf_adds(&sddl, "D:P(A;OICI;FA;;;");
	buf_adds(&sddl, iso.principal_utf8);
	buf_adds(&sddl, ")(A;OICI;FA;;;");
	plat__wide_to_utf8(iso.user, &sddl);
	buf_addch(&sddl, ')');
	if (c->mode == SBX__WIN_RESTRICTED)
		buf_adds(&sddl, "S:(ML;OICI;NW;;;LW)");
	rc = sd_from_sddl(sddl.ptr, &sd, err);
	if (rc < 0)
		goto out;
	memset(&sa, 0, sizeof(sa));
	sa.nLength = sizeof(sa);
	sa.lpSecurityDescriptor = sd;
	if (!CreateDirectoryW(c->wdir, &sa)) {
		buf_errf(err, "could not create job directory \"%s\": %s",
			 c->dir, plat__win_strerror(GetLastError()));
		rc = TW_EIO;
		goto out;
	}
	c->dir_sddl = xstrdup(sddl.ptr);
out:
	if (sd)
		LocalFree(sd);
	buf_release(&sddl);
	return rc;
}

enum sbx__win_mode sbx__win_child_mode(const struct sbx_child *c)
{
	return c->mode;
}

unsigned sbx__win_child_attrs(const struct sbx_child *c)
{
	return c->attrs;
}

const char *sbx__win_child_dir_sddl(const struct sbx_child *c)
{
	return c->dir_sddl ? c->dir_sddl : "";
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
 *
 * Then the isolation (see "isolation" above): in an AppContainer,
 * PROC_THREAD_ATTRIBUTE_SECURITY_CAPABILITIES with the container's SID and
 * no capability, and for LPAC PROC_THREAD_ATTRIBUTE_ALL_APPLICATION_
 * PACKAGES_POLICY = PROCESS_CREATION_ALL_APPLICATION_PACKAGES_OPT_OUT,
 * through CreateProcessW; with a restricted token, CreateProcessAsUserW
 * (a restricted version of the caller's own primary token needs no
 * SE_ASSIGNPRIMARYTOKEN_NAME). In both, PROC_THREAD_ATTRIBUTE_CHILD_
 * PROCESS_POLICY = PROCESS_CREATION_CHILD_PROCESS_RESTRICTED: the child
 * may create no process, whatever the job allows (ActiveProcessLimit = 1
 * already refuses one); where Windows refuses that attribute the job's
 * limit still holds, so its failure is not fatal.
 */
static int start(struct sbx_child *c, const struct sbx_opts *o, HANDLE hin,
		 HANDLE hout, HANDLE herr, struct buf *err)
{
	struct buf cmd = BUF_INIT(CMDLINE_MAX * 4);
	LPPROC_THREAD_ATTRIBUTE_LIST attrs = NULL;
	PROCESS_INFORMATION pi = { NULL, NULL, 0, 0 };
	STARTUPINFOEXW si;
	SECURITY_ATTRIBUTES psa;
	SECURITY_CAPABILITIES sc;
	DWORD optout = PROCESS_CREATION_ALL_APPLICATION_PACKAGES_OPT_OUT;
	DWORD nochild = PROCESS_CREATION_CHILD_PROCESS_RESTRICTED;
	DWORD flags = CREATE_SUSPENDED | CREATE_NO_WINDOW |
		      EXTENDED_STARTUPINFO_PRESENT | CREATE_UNICODE_ENVIRONMENT;
	HANDLE inherited[3];
	HANDLE jobs[1];
	HANDLE token = NULL;
	wchar_t *wapp = NULL;
	wchar_t *wcmd = NULL;
	wchar_t *env = NULL;
	bool attrs_ready = false;
	bool job_attr = false;
	bool container = c->mode != SBX__WIN_RESTRICTED;
	BOOL in_job = FALSE;
	BOOL created;
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
	if (!container) {
		rc = make_restricted_token(&token, err);
		if (rc < 0)
			goto fail;
	}

	InitializeProcThreadAttributeList(NULL, 5, 0, &asize);
	attrs = xmalloc(asize);
	if (!InitializeProcThreadAttributeList(attrs, 5, 0, &asize)) {
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
	c->attrs |= SBX__WIN_ATTR_HANDLE_LIST;
	jobs[0] = c->job;
	job_attr = UpdateProcThreadAttribute(attrs, 0,
					     PROC_THREAD_ATTRIBUTE_JOB_LIST,
					     jobs, sizeof(jobs), NULL, NULL);
	if (job_attr)
		c->attrs |= SBX__WIN_ATTR_JOB_LIST;
	if (container) {
		memset(&sc, 0, sizeof(sc));
		sc.AppContainerSid = iso.ac_sid; /* no capabilities */
		if (!UpdateProcThreadAttribute(
			    attrs, 0,
			    PROC_THREAD_ATTRIBUTE_SECURITY_CAPABILITIES, &sc,
			    sizeof(sc), NULL, NULL)) {
			rc = win_fail(err, "could not put child into its "
					   "AppContainer");
			goto fail;
		}
		c->attrs |= SBX__WIN_ATTR_SECURITY_CAPABILITIES;
	}
	if (c->mode == SBX__WIN_LPAC) {
		if (!UpdateProcThreadAttribute(
			    attrs, 0,
			    PROC_THREAD_ATTRIBUTE_ALL_APPLICATION_PACKAGES_POLICY,
			    &optout, sizeof(optout), NULL, NULL)) {
			rc = win_fail(err,
				      "could not make child's AppContainer "
				      "less privileged");
			goto fail;
		}
		c->attrs |= SBX__WIN_ATTR_ALL_APP_PACKAGES_OPT_OUT;
	}
	if (UpdateProcThreadAttribute(
		    attrs, 0, PROC_THREAD_ATTRIBUTE_CHILD_PROCESS_POLICY,
		    &nochild, sizeof(nochild), NULL, NULL))
		c->attrs |= SBX__WIN_ATTR_CHILD_PROCESS_RESTRICTED;
	memset(&si, 0, sizeof(si));
	si.StartupInfo.cb = sizeof(si);
	si.StartupInfo.dwFlags = STARTF_USESTDHANDLES;
	si.StartupInfo.hStdInput = hin;
	si.StartupInfo.hStdOutput = hout;
	si.StartupInfo.hStdError = herr;
	si.lpAttributeList = attrs;

	memset(&psa, 0, sizeof(psa));
	psa.nLength = sizeof(psa);
	psa.lpSecurityDescriptor = iso.child_sd; /* make_child_sd() */
	if (container)
		created = CreateProcessW(wapp, wcmd, &psa, &psa, TRUE, flags,
					 env, c->wdir, &si.StartupInfo, &pi);
	else
		created = CreateProcessAsUserW(token, wapp, wcmd, &psa, &psa,
					       TRUE, flags, env, c->wdir,
					       &si.StartupInfo, &pi);
	if (!created) {
		DWORD e = GetLastError();

		buf_errf(
			err, "could not start \"%s\" (%s): %s%s", o->argv[0],
			sbx__win_mode_name(c->mode), plat__win_strerror(e),
			e == ERROR_ACCESS_DENIED && container
				? " (the AppContainer needs read and execute "
				  "on the Python installation and the sandbox "
				  "venv: scripts/windows/grant-sandbox-acl.ps1)"
				: "");
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
	close_handle(&token);
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
	rc = iso_ready(err);
	if (rc < 0)
		goto fail;
	c->mode = iso.mode;
	/* From here on sbx_child_free() removes it, whatever happens. */
	c->dir = xstrdup(dir.ptr);
	rc = make_job_dir(c, opts, err);
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
	free(c->dir_sddl);
	free(c);
}

long sbx_child_pid(const struct sbx_child *c)
{
	return (long)GetProcessId(c->proc);
}

/*
 * The job object kills every process in it when the supervisor's handle,
 * its only one, closes, and lets the child start no other process.
 */
bool sbx_tree_contained(struct buf *why)
{
	(void)why;
	return true;
}

/* The mode is process-wide: every child gets the same. */
const char *sbx_child_isolation(const struct sbx_child *c)
{
	(void)c;
	return sbx__win_isolation_note();
}

/*
 * Windows has no setuid: run_as_user is ignored. The child's protection is
 * its AppContainer or restricted token ("isolation" above;
 * docs/windows.md), which sbx_spawn() sets up whoever the worker is.
 */
int sbx_check_user(const char *user, bool *drops, struct buf *err)
{
	(void)user;
	(void)err;
	*drops = false;
	return 0;
}
