/*
 * win_int.h - helpers shared by the files of src/platform/win (the
 * libpq-fe.h / libpq-int.h split): UTF-8 <-> UTF-16 conversion, Win32
 * error text, and the command-line quoting that plat_run() uses. Only
 * the .c files of src/platform/win and the Windows smoke test include it.
 */
#ifndef TW_PLATFORM_WIN_INT_H
#define TW_PLATFORM_WIN_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <wchar.h>

#include "core/buf.h"

/*
 * plat__quote_cmd_arg() appends arg to out quoted so that
 * CommandLineToArgvW() and the C runtime's argv parser give back exactly
 * arg. The rules, from the documented parser:
 *
 *  - Arguments are separated by spaces or tabs; a double quote starts or
 *    ends a quoted region in which spaces and tabs are literal.
 *  - 2n backslashes followed by a quote become n backslashes and the quote
 *    delimits; 2n+1 backslashes followed by a quote become n backslashes
 *    and a literal quote. Backslashes not followed by a quote are literal.
 *
 * So an argument that is non-empty and has no space, tab, newline,
 * vertical tab or quote is appended unchanged. Otherwise it is wrapped in
 * quotes, each quote inside is escaped with a backslash (doubling the
 * backslashes before it), and the backslashes at the very end are
 * doubled so the closing quote stays a delimiter. The empty argument is
 * "".
 *
 * The first element of a command line (the program name) is parsed by
 * other rules (no escapes: up to the next quote or blank); the result is
 * equally right for it as long as it contains no quote and does not end
 * in a backslash, which plat_run() checks. cmd.exe re-parses its command
 * line by its own rules (^, &, |, %): never pass untrusted text through
 * "cmd /c".
 *
 * Returns 0 or TW_ETOOBIG when out's cap is reached.
 */
int plat__quote_cmd_arg(const char *arg, struct buf *out);

/*
 * plat__build_cmdline() appends the command line of argv to cmd, each
 * argument quoted with plat__quote_cmd_arg(). A program name holding a
 * quote or ending in a backslash (parsed without escapes) is TW_EINVAL; a
 * line past cmd's cap TW_ETOOBIG. Used by plat_run() and the sandbox.
 */
int plat__build_cmdline(const char *const *argv, struct buf *cmd,
			struct buf *err);

/*
 * plat__utf8_to_wide() converts a NUL-terminated UTF-8 string to a newly
 * allocated UTF-16 one (free() it). Returns NULL when s is not valid UTF-8.
 */
wchar_t *plat__utf8_to_wide(const char *s);

/*
 * plat__wide_to_utf8() appends the UTF-8 form of a NUL-terminated UTF-16
 * string to out. Returns 0, TW_EINVAL for unpaired surrogates, or
 * TW_ETOOBIG.
 */
int plat__wide_to_utf8(const wchar_t *w, struct buf *out);

/*
 * plat__win_strerror() returns the system's text for a Win32 or Winsock
 * error code (GetLastError(), WSAGetLastError()) in UTF-8, without the
 * final period and line break, in a thread-local buffer that stays valid
 * until the same thread calls it again.
 */
const char *plat__win_strerror(unsigned long code);

#endif
