/*
 * sandbox_win_int.h - what sandbox_win.c shows its smoke test
 * (tests/win/smoke_sandbox.c) about how a child is isolated: which mode was
 * taken and why the better ones were not, which process attributes were
 * set, and the DACL given to the job directory. Windows only; nothing else
 * includes it. docs/windows.md describes the modes and their order.
 */
#ifndef TW_SANDBOX_SANDBOX_WIN_INT_H
#define TW_SANDBOX_SANDBOX_WIN_INT_H

#include <stdbool.h>

#include "core/buf.h"
#include "sandbox/sandbox.h"

/* How the child runs, best first; sbx_spawn() takes the first that works. */
enum sbx__win_mode {
	SBX__WIN_LPAC = 1,     /* less-privileged AppContainer, no capability */
	SBX__WIN_APPCONTAINER, /* AppContainer, no capability */
	SBX__WIN_RESTRICTED,   /* restricted token at low integrity */
};

/* The process attributes start() put into the child's attribute list. */
#define SBX__WIN_ATTR_HANDLE_LIST 0x01u
#define SBX__WIN_ATTR_JOB_LIST 0x02u
#define SBX__WIN_ATTR_SECURITY_CAPABILITIES 0x04u
#define SBX__WIN_ATTR_ALL_APP_PACKAGES_OPT_OUT 0x08u
#define SBX__WIN_ATTR_CHILD_PROCESS_RESTRICTED 0x10u

/* "lpac", "appcontainer" or "restricted-token". */
const char *sbx__win_mode_name(enum sbx__win_mode m);

enum sbx__win_mode sbx__win_child_mode(const struct sbx_child *c);
unsigned sbx__win_child_attrs(const struct sbx_child *c);

/*
 * The SDDL of the protected DACL (and, for a restricted token, the low
 * mandatory label) sbx_spawn() gave the job directory, as built: read it
 * back from the directory to see what the file system kept.
 */
const char *sbx__win_child_dir_sddl(const struct sbx_child *c);

/*
 * sbx__win_isolation_note() is the text sbx_child_isolation() returns on
 * Windows for the process-wide decision: the mode the children get and,
 * when it is not LPAC, why each better one was not available (a missing
 * function, an attribute Windows refused, TW_SANDBOX_ISOLATION). The
 * decision is made once per process, at the first sbx_spawn().
 */
const char *sbx__win_isolation_note(void);

/*
 * sbx__win_principal_sid() is the SID, as a string, that the job
 * directories grant and the worker's process DACL denies: the
 * AppContainer's SID, or the logon SID the restricted child keeps. NULL
 * before the first sbx_spawn() or when isolation could not be set up.
 */
const char *sbx__win_principal_sid(void);

#endif
