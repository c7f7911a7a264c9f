#include "core/compat.h"

#include <windows.h>

#include "core/err.h"
#include "platform/plat.h"
#include "platform/win/win_int.h"

#define SECRET_WCHARS 1024

bool plat_stdin_is_tty(void)
{
	DWORD mode;

	return GetConsoleMode(GetStdHandle(STD_INPUT_HANDLE), &mode) != 0;
}

/*
 * From a console: ReadConsoleW with ENABLE_ECHO_INPUT cleared (the line
 * still ends at Enter because ENABLE_LINE_INPUT stays on), then UTF-16 to
 * UTF-8. The console mode is restored on every path.
 */
int plat_read_secret(const char *prompt, struct buf *out, struct buf *err)
{
	HANDLE in = GetStdHandle(STD_INPUT_HANDLE);
	wchar_t wbuf[SECRET_WCHARS];
	DWORD mode, got = 0;
	struct buf utf8 = BUF_INIT(4 * SECRET_WCHARS);
	int rc;

	if (!GetConsoleMode(in, &mode))
		return buf_getline(out, stdin, err);
	fputs(prompt, stderr);
	fflush(stderr);
	SetConsoleMode(in,
		       (mode & ~(DWORD)ENABLE_ECHO_INPUT) | ENABLE_LINE_INPUT);
	if (!ReadConsoleW(in, wbuf, SECRET_WCHARS - 1, &got, NULL)) {
		SetConsoleMode(in, mode);
		buf_errf(err, "could not read from the console: %s",
			 plat__win_strerror(GetLastError()));
		return TW_EIO;
	}
	SetConsoleMode(in, mode);
	fputc('\n', stderr);
	while (got > 0 && (wbuf[got - 1] == L'\n' || wbuf[got - 1] == L'\r'))
		got--;
	wbuf[got] = L'\0';
	rc = plat__wide_to_utf8(wbuf, &utf8);
	SecureZeroMemory(wbuf, sizeof(wbuf));
	if (rc < 0) {
		buf_errf(err, "the input is not valid text");
		rc = TW_EIO;
		goto out;
	}
	rc = buf_add(out, utf8.ptr, utf8.len);
	if (rc < 0)
		buf_errf(err, "the input line is longer than %zu bytes",
			 out->cap);
out:
	buf_release_secret(&utf8);
	return rc;
}
