/*
 * plat_fs.c (Windows) - files, directories and small process facts, plus
 * the UTF-8 <-> UTF-16 and error-text helpers of win_int.h.
 *
 * Paths arrive as UTF-8 and are converted for the *W functions; both '/'
 * and '\' separate components. Output buffers are appended to; on failure
 * they keep the length they had on entry. Paths longer than MAX_PATH need
 * the long-path opt-in of Windows 10 1607+ (a manifest entry and the
 * LongPathsEnabled policy); nothing here adds a \\?\ prefix.
 */
#include "core/compat.h"
#include "core/err.h"
#include "core/mem.h"
#include "platform/plat.h"
#include "platform/win/win_int.h"

#include <windows.h>
#include <sddl.h>
#include <aclapi.h>
#include <fcntl.h>
#include <io.h>

/* --- helpers of win_int.h ------------------------------------------------ */

wchar_t *plat__utf8_to_wide(const char *s)
{
	wchar_t *w;
	int n;

	n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, NULL, 0);
	if (n <= 0)
		return NULL;
	w = xmalloc(sizeof(wchar_t) * (size_t)n);
	if (MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, w, n) !=
	    n) {
		free(w);
		w = NULL;
	}
	return w;
}

int plat__wide_to_utf8(const wchar_t *w, struct buf *out)
{
	int n;
	int rc;

	n = WideCharToMultiByte(CP_UTF8, WC_ERR_INVALID_CHARS, w, -1, NULL, 0,
				NULL, NULL);
	if (n <= 0)
		return TW_EINVAL;
	/* n counts the NUL, which buf keeps anyway. */
	rc = buf_grow(out, (size_t)n - 1);
	if (rc < 0)
		return rc;
	WideCharToMultiByte(CP_UTF8, WC_ERR_INVALID_CHARS, w, -1,
			    out->ptr + out->len, n, NULL, NULL);
	out->len += (size_t)n - 1;
	return 0;
}

const char *plat__win_strerror(unsigned long code)
{
	static _Thread_local char tls[512];
	wchar_t *msg = NULL;
	DWORD n;
	size_t len;

	n = FormatMessageW(FORMAT_MESSAGE_ALLOCATE_BUFFER |
				   FORMAT_MESSAGE_FROM_SYSTEM |
				   FORMAT_MESSAGE_IGNORE_INSERTS,
			   NULL, (DWORD)code, 0, (LPWSTR)&msg, 0, NULL);
	if (n == 0 || WideCharToMultiByte(CP_UTF8, 0, msg, -1, tls,
					  (int)sizeof(tls), NULL, NULL) <= 0)
		snprintf(tls, sizeof(tls), "error code %lu", code);
	if (msg)
		LocalFree(msg);
	/* "Access is denied.\r\n" -> "Access is denied" (PostgreSQL style). */
	len = strlen(tls);
	while (len > 0 && (tls[len - 1] == '\n' || tls[len - 1] == '\r' ||
			   tls[len - 1] == ' ' || tls[len - 1] == '.'))
		tls[--len] = '\0';
	return tls;
}

/* Converts path or explains why not; NULL on invalid UTF-8. */
static wchar_t *wide_path(const char *path, const char *what, struct buf *err)
{
	wchar_t *w = plat__utf8_to_wide(path);

	if (!w)
		buf_errf(err, "could not %s \"%s\": invalid UTF-8 in path",
			 what, path);
	return w;
}

/* --- directories ------------------------------------------------------ */

static bool is_sep(char c)
{
	return c == '/' || c == '\\';
}

/* Index just past count components (and their separators) from i. */
static size_t skip_components(const char *p, size_t i, int count)
{
	while (count-- > 0 && p[i]) {
		while (p[i] && !is_sep(p[i]))
			i++;
		while (is_sep(p[i]))
			i++;
	}
	return i;
}

/*
 * root_len() is the length of the part of an absolute path that is never
 * created: "C:\", "\", "\\server\share\", "\\?\C:\", "\\?\UNC\srv\share\".
 */
static size_t root_len(const char *p)
{
	size_t i;

	if (is_sep(p[0]) && is_sep(p[1])) {
		if ((p[2] == '?' || p[2] == '.') && is_sep(p[3])) {
			i = 4;
			if (isalpha((unsigned char)p[4]) && p[5] == ':')
				return is_sep(p[6]) ? 7 : 6;
			if (_strnicmp(p + 4, "UNC", 3) == 0 && is_sep(p[7]))
				return skip_components(p, 8, 2);
			return skip_components(p, i, 1);
		}
		return skip_components(p, 2, 2);
	}
	if (isalpha((unsigned char)p[0]) && p[1] == ':')
		return is_sep(p[2]) ? 3 : 2;
	if (is_sep(p[0]))
		return 1;
	return 0;
}

/*
 * plat_mkdir_p() creates each missing component with CreateDirectoryW. An
 * existing component must be a directory; when one is a file, the next
 * component is reported with "Not a directory", as on POSIX.
 */
int plat_mkdir_p(const char *dir, struct buf *err)
{
	struct buf path = BUF_INIT(32768 * 4);
	bool parent_is_file = false;
	wchar_t *w = NULL;
	size_t i, n, root;
	int rc = 0;

	n = strlen(dir);
	while (n > 1 && is_sep(dir[n - 1]))
		n--;
	if (n == 0) {
		buf_errf(err, "could not create directory \"\": %s",
			 plat__win_strerror(ERROR_PATH_NOT_FOUND));
		rc = TW_EINVAL;
		goto fail;
	}
	rc = buf_add(&path, dir, n);
	if (rc < 0) {
		buf_errf(err, "could not create directory \"%s\": %s", dir,
			 plat__win_strerror(ERROR_FILENAME_EXCED_RANGE));
		goto fail;
	}
	root = root_len(path.ptr);
	for (i = root + 1; i <= n; i++) {
		char saved = path.ptr[i];
		DWORD e;

		if (i < n && !is_sep(saved))
			continue;
		if (is_sep(path.ptr[i - 1]))
			continue;
		path.ptr[i] = '\0';
		free(w);
		w = wide_path(path.ptr, "create directory", err);
		if (!w) {
			rc = TW_EINVAL;
			goto fail;
		}
		if (!CreateDirectoryW(w, NULL)) {
			e = GetLastError();
			if (plat_is_dir(path.ptr)) {
				parent_is_file = false;
			} else if (e == ERROR_ALREADY_EXISTS && i < n) {
				parent_is_file = true;
			} else {
				buf_errf(err,
					 "could not create directory \"%s\": "
					 "%s",
					 path.ptr,
					 parent_is_file
						 ? "Not a directory"
						 : plat__win_strerror(e));
				rc = TW_EIO;
				goto fail;
			}
		}
		path.ptr[i] = saved;
	}
fail:
	free(w);
	buf_release(&path);
	return rc;
}

static DWORD attributes(const char *path)
{
	wchar_t *w = plat__utf8_to_wide(path);
	DWORD a = INVALID_FILE_ATTRIBUTES;

	if (w)
		a = GetFileAttributesW(w);
	free(w);
	return a;
}

bool plat_is_dir(const char *path)
{
	DWORD a = attributes(path);

	return a != INVALID_FILE_ATTRIBUTES && (a & FILE_ATTRIBUTE_DIRECTORY);
}

bool plat_is_file(const char *path)
{
	DWORD a = attributes(path);

	return a != INVALID_FILE_ATTRIBUTES &&
	       !(a & (FILE_ATTRIBUTE_DIRECTORY | FILE_ATTRIBUTE_DEVICE));
}

/* --- writing, reading, renaming ---------------------------------------- */

/*
 * move_file() is MoveFileExW with retries: virus scanners, indexers and
 * backup agents open fresh files for a moment without FILE_SHARE_DELETE,
 * which makes a rename fail with a sharing violation or "access denied"
 * although nothing is wrong (git's mingw_rename retries for the same
 * reason). A directory in the way is not worth waiting for.
 */
static BOOL move_file(const wchar_t *from, const wchar_t *to, DWORD flags)
{
	int tries = 0;

	for (;;) {
		DWORD e, a;

		if (MoveFileExW(from, to, flags))
			return TRUE;
		e = GetLastError();
		a = GetFileAttributesW(to);
		if ((e != ERROR_SHARING_VIOLATION &&
		     e != ERROR_LOCK_VIOLATION && e != ERROR_ACCESS_DENIED) ||
		    (a != INVALID_FILE_ATTRIBUTES &&
		     (a & FILE_ATTRIBUTE_DIRECTORY)) ||
		    ++tries > 10) {
			SetLastError(e);
			return FALSE;
		}
		Sleep(50);
	}
}

/*
 * private_security() builds a security descriptor whose protected DACL
 * (nothing inherited from the directory) grants full control to the
 * current user, SYSTEM and the Administrators group only: what OpenSSH for
 * Windows demands of private key files. Free *sd with LocalFree().
 */
static int private_security(PSECURITY_DESCRIPTOR *sd, struct buf *err)
{
	struct buf sddl = BUF_INIT(4096);
	HANDLE token = NULL;
	TOKEN_USER *user = NULL;
	wchar_t *sid = NULL;
	wchar_t *wsddl = NULL;
	DWORD len = 0;
	int rc = 0;

	*sd = NULL;
	if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &token)) {
		buf_errf(err, "could not open process token: %s",
			 plat__win_strerror(GetLastError()));
		rc = TW_EIO;
		goto fail;
	}
	GetTokenInformation(token, TokenUser, NULL, 0, &len);
	user = xmalloc(len ? len : 1);
	if (!GetTokenInformation(token, TokenUser, user, len, &len) ||
	    !ConvertSidToStringSidW(user->User.Sid, &sid)) {
		buf_errf(err, "could not read the current user's SID: %s",
			 plat__win_strerror(GetLastError()));
		rc = TW_EIO;
		goto fail;
	}
	rc = buf_adds(&sddl, "D:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;FA;;;");
	if (rc == 0)
		rc = plat__wide_to_utf8(sid, &sddl);
	if (rc == 0)
		rc = buf_addch(&sddl, ')');
	if (rc < 0) {
		buf_errf(err, "could not build a security descriptor");
		rc = TW_EINTERNAL;
		goto fail;
	}
	wsddl = plat__utf8_to_wide(sddl.ptr);
	if (!wsddl || !ConvertStringSecurityDescriptorToSecurityDescriptorW(
			      wsddl, SDDL_REVISION_1, sd, NULL)) {
		buf_errf(err, "could not build a security descriptor: %s",
			 plat__win_strerror(GetLastError()));
		rc = TW_EIO;
		goto fail;
	}
fail:
	free(wsddl);
	if (sid)
		LocalFree(sid);
	free(user);
	if (token)
		CloseHandle(token);
	buf_release(&sddl);
	return rc;
}

/*
 * plat_write_file_private() writes "<path>.tmp.<pid>.<n>" (CREATE_NEW, the
 * O_EXCL of Windows, with the private DACL), flushes it, and moves it into
 * place with MOVEFILE_WRITE_THROUGH: with MOVEFILE_REPLACE_EXISTING
 * normally, without it for exclusive mode, where MoveFileExW refuses an
 * existing target atomically (ERROR_ALREADY_EXISTS -> TW_ECONFLICT). The
 * temporary file is deleted on every error. A leftover with the same name
 * is the debris of a crashed process that had our pid; it is deleted and
 * the creation retried once.
 */
int plat_write_file_private(const char *path, const char *data, size_t len,
			    bool exclusive, struct buf *err)
{
	static volatile LONG seq;
	struct buf tmp = BUF_INIT(32768 * 4);
	PSECURITY_DESCRIPTOR sd = NULL;
	SECURITY_ATTRIBUTES sa;
	HANDLE h = INVALID_HANDLE_VALUE;
	wchar_t *wtmp = NULL;
	wchar_t *wpath = NULL;
	bool tmp_exists = false;
	DWORD flags;
	int rc;

	rc = buf_addf(&tmp, "%s.tmp.%lu.%ld", path,
		      (unsigned long)GetCurrentProcessId(),
		      (long)InterlockedIncrement(&seq));
	if (rc < 0) {
		buf_errf(err, "could not create file \"%s\": %s", path,
			 plat__win_strerror(ERROR_FILENAME_EXCED_RANGE));
		goto fail;
	}
	wpath = wide_path(path, "create file", err);
	wtmp = wpath ? plat__utf8_to_wide(tmp.ptr) : NULL;
	if (!wtmp) {
		rc = TW_EINVAL;
		goto fail;
	}
	rc = private_security(&sd, err);
	if (rc < 0)
		goto fail;
	sa.nLength = sizeof(sa);
	sa.lpSecurityDescriptor = sd;
	sa.bInheritHandle = FALSE;
	h = CreateFileW(wtmp, GENERIC_WRITE, 0, &sa, CREATE_NEW,
			FILE_ATTRIBUTE_NORMAL, NULL);
	if (h == INVALID_HANDLE_VALUE && GetLastError() == ERROR_FILE_EXISTS &&
	    DeleteFileW(wtmp))
		h = CreateFileW(wtmp, GENERIC_WRITE, 0, &sa, CREATE_NEW,
				FILE_ATTRIBUTE_NORMAL, NULL);
	if (h == INVALID_HANDLE_VALUE) {
		buf_errf(err, "could not create file \"%s\": %s", tmp.ptr,
			 plat__win_strerror(GetLastError()));
		rc = TW_EIO;
		goto fail;
	}
	tmp_exists = true;
	while (len > 0) {
		DWORD chunk = len > 0x40000000 ? 0x40000000 : (DWORD)len;
		DWORD done = 0;

		if (!WriteFile(h, data, chunk, &done, NULL)) {
			buf_errf(err, "could not write file \"%s\": %s",
				 tmp.ptr, plat__win_strerror(GetLastError()));
			rc = TW_EIO;
			goto fail;
		}
		data += done;
		len -= done;
	}
	if (!FlushFileBuffers(h)) {
		buf_errf(err, "could not flush file \"%s\": %s", tmp.ptr,
			 plat__win_strerror(GetLastError()));
		rc = TW_EIO;
		goto fail;
	}
	CloseHandle(h);
	h = INVALID_HANDLE_VALUE;
	flags = MOVEFILE_WRITE_THROUGH;
	if (!exclusive)
		flags |= MOVEFILE_REPLACE_EXISTING;
	if (!move_file(wtmp, wpath, flags)) {
		DWORD e = GetLastError();

		if (exclusive &&
		    (e == ERROR_ALREADY_EXISTS || e == ERROR_FILE_EXISTS)) {
			buf_errf(err, "file \"%s\" already exists", path);
			rc = TW_ECONFLICT;
		} else {
			buf_errf(err,
				 "could not rename file \"%s\" to \"%s\": %s",
				 tmp.ptr, path, plat__win_strerror(e));
			rc = TW_EIO;
		}
		goto fail;
	}
	tmp_exists = false;
fail:
	if (h != INVALID_HANDLE_VALUE)
		CloseHandle(h);
	if (tmp_exists)
		DeleteFileW(wtmp);
	if (sd)
		LocalFree(sd);
	free(wtmp);
	free(wpath);
	buf_release(&tmp);
	return rc;
}

static bool is_not_found(DWORD e)
{
	return e == ERROR_FILE_NOT_FOUND || e == ERROR_PATH_NOT_FOUND;
}

/* errno for a Win32 error of CreateFileW, for callers that read errno. */
static int errno_of(DWORD e)
{
	switch (e) {
	case ERROR_FILE_NOT_FOUND:
	case ERROR_PATH_NOT_FOUND:
		return ENOENT;
	case ERROR_ACCESS_DENIED:
	case ERROR_SHARING_VIOLATION:
	case ERROR_LOCK_VIOLATION:
		return EACCES;
	default:
		return EIO;
	}
}

/*
 * set_private_dacl() gives the open file h the protected owner-only DACL
 * of private_security(): a file that existed before (created by an older
 * version with the directory's inherited ACL) ends up as a new one would.
 */
static bool set_private_dacl(HANDLE h)
{
	PSECURITY_DESCRIPTOR sd = NULL;
	struct buf why = BUF_INIT(BUF_SMALL_CAP);
	BOOL present = FALSE, defaulted = FALSE;
	PACL dacl = NULL;
	bool ok = false;

	if (private_security(&sd, &why) < 0)
		goto out;
	if (!GetSecurityDescriptorDacl(sd, &present, &dacl, &defaulted) ||
	    !present)
		goto out;
	ok = SetSecurityInfo(h, SE_FILE_OBJECT,
			     DACL_SECURITY_INFORMATION |
				     PROTECTED_DACL_SECURITY_INFORMATION,
			     NULL, NULL, dacl, NULL) == ERROR_SUCCESS;
out:
	if (sd)
		LocalFree(sd);
	buf_release(&why);
	return ok;
}

/*
 * plat_open_append_private() opens with OPEN_ALWAYS and the private DACL,
 * which Windows applies only when it creates the file; an existing file
 * gets the DACL through SetSecurityInfo() (WRITE_DAC, which its owner
 * has). A file we may not re-secure is still opened, as before. The
 * handle is not inheritable (bInheritHandle FALSE) and shared for reading
 * so that the log can be read while it is written; it becomes a C runtime
 * stream through _open_osfhandle() and _fdopen().
 */
FILE *plat_open_append_private(const char *path)
{
	PSECURITY_DESCRIPTOR sd = NULL;
	struct buf why = BUF_INIT(BUF_SMALL_CAP);
	SECURITY_ATTRIBUTES sa;
	const DWORD share = FILE_SHARE_READ | FILE_SHARE_WRITE |
			    FILE_SHARE_DELETE;
	HANDLE h = INVALID_HANDLE_VALUE;
	wchar_t *w = NULL;
	FILE *fp = NULL;
	DWORD e;
	int fd = -1;

	w = plat__utf8_to_wide(path);
	if (!w) {
		errno = EINVAL;
		goto out;
	}
	if (private_security(&sd, &why) < 0) {
		errno = EACCES;
		goto out;
	}
	sa.nLength = sizeof(sa);
	sa.lpSecurityDescriptor = sd;
	sa.bInheritHandle = FALSE;
	h = CreateFileW(w, FILE_APPEND_DATA | READ_CONTROL | WRITE_DAC, share,
			&sa, OPEN_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
	e = GetLastError();
	if (h != INVALID_HANDLE_VALUE && e == ERROR_ALREADY_EXISTS) {
		set_private_dacl(h);
	} else if (h == INVALID_HANDLE_VALUE && e == ERROR_ACCESS_DENIED) {
		/* Someone else's file that we may append to but not
		 * re-secure: use it as it is. */
		h = CreateFileW(w, FILE_APPEND_DATA, share, &sa, OPEN_ALWAYS,
				FILE_ATTRIBUTE_NORMAL, NULL);
		e = GetLastError();
	}
	if (h == INVALID_HANDLE_VALUE) {
		errno = errno_of(e);
		goto out;
	}
	fd = _open_osfhandle((intptr_t)h, _O_APPEND | _O_WRONLY | _O_BINARY);
	if (fd < 0) {
		CloseHandle(h);
		errno = EIO;
		goto out;
	}
	fp = _fdopen(fd, "ab");
	if (!fp) {
		_close(fd); /* closes h too */
		errno = EIO;
	}
out:
	if (sd)
		LocalFree(sd);
	free(w);
	buf_release(&why);
	return fp;
}

int plat_make_private(const char *path, struct buf *err)
{
	HANDLE h;
	wchar_t *w;
	DWORD e;
	int rc = 0;

	w = wide_path(path, "secure file", err);
	if (!w) {
		rc = TW_EINVAL;
		goto out;
	}
	h = CreateFileW(w, READ_CONTROL | WRITE_DAC,
			FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
			NULL, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
	if (h == INVALID_HANDLE_VALUE) {
		e = GetLastError();
		if (!is_not_found(e)) {
			buf_errf(err, "could not open \"%s\": %s", path,
				 plat__win_strerror(e));
			rc = TW_EIO;
		}
		goto out;
	}
	if (!set_private_dacl(h)) {
		buf_errf(err, "could not restrict \"%s\" to its owner", path);
		rc = TW_EIO;
	}
	CloseHandle(h);
out:
	free(w);
	return rc;
}

int plat_read_file(const char *path, struct buf *out, struct buf *err)
{
	size_t start = out->len;
	HANDLE h = INVALID_HANDLE_VALUE;
	char chunk[16384];
	wchar_t *w;
	int rc = 0;

	w = wide_path(path, "open file", err);
	if (!w) {
		rc = TW_EINVAL;
		goto fail;
	}
	h = CreateFileW(w, GENERIC_READ,
			FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
			NULL, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
	if (h == INVALID_HANDLE_VALUE) {
		DWORD e = GetLastError();

		buf_errf(err, "could not open file \"%s\" for reading: %s",
			 path, plat__win_strerror(e));
		rc = is_not_found(e) ? TW_ENOTFOUND : TW_EIO;
		goto fail;
	}
	for (;;) {
		DWORD n = 0;

		if (!ReadFile(h, chunk, sizeof(chunk), &n, NULL)) {
			buf_errf(err, "could not read file \"%s\": %s", path,
				 plat__win_strerror(GetLastError()));
			rc = TW_EIO;
			goto fail;
		}
		if (n == 0)
			break;
		rc = buf_add(out, chunk, n);
		if (rc < 0) {
			/* %llu: mingw checks formats as msvcrt's. */
			buf_errf(err, "file \"%s\" is larger than %llu bytes",
				 path, (unsigned long long)out->cap);
			goto fail;
		}
	}
fail:
	if (h != INVALID_HANDLE_VALUE)
		CloseHandle(h);
	free(w);
	if (rc < 0)
		buf_setlen(out, start);
	/* The file may hold secrets (.env): leave no copy on the stack. */
	mem_wipe(chunk, sizeof(chunk));
	return rc;
}

/*
 * plat_open_read() opens with CreateFileW, whose handle is not inheritable
 * (no SECURITY_ATTRIBUTES) and is shared for reading, writing and deletion
 * so that the file can be replaced while it is being sent (the C
 * runtime's _open() does not share deletion). CreateFileW refuses a
 * directory with "access denied" unless asked for backup semantics, so
 * that case is told apart by the attributes. A device ("NUL", "COM1")
 * opens and is then refused: only FILE_TYPE_DISK without the directory
 * attribute is a regular file. The handle becomes a C runtime descriptor
 * through _open_osfhandle(), so close() closes it.
 */
int plat_open_read(const char *path, int *fd, uint64_t *size, struct buf *err)
{
	BY_HANDLE_FILE_INFORMATION info;
	HANDLE h = INVALID_HANDLE_VALUE;
	wchar_t *w;
	int rc = 0;
	int f;

	w = wide_path(path, "open file", err);
	if (!w) {
		rc = TW_EINVAL;
		goto fail;
	}
	h = CreateFileW(w, GENERIC_READ,
			FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
			NULL, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
	if (h == INVALID_HANDLE_VALUE) {
		DWORD e = GetLastError();
		DWORD a = GetFileAttributesW(w);

		if (e == ERROR_ACCESS_DENIED && a != INVALID_FILE_ATTRIBUTES &&
		    (a & FILE_ATTRIBUTE_DIRECTORY)) {
			buf_errf(err, "\"%s\" is not a regular file", path);
			rc = TW_ENOTFOUND;
		} else {
			buf_errf(err,
				 "could not open file \"%s\" for reading: %s",
				 path, plat__win_strerror(e));
			rc = is_not_found(e) ? TW_ENOTFOUND : TW_EIO;
		}
		goto fail;
	}
	if (GetFileType(h) != FILE_TYPE_DISK ||
	    !GetFileInformationByHandle(h, &info) ||
	    (info.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY)) {
		buf_errf(err, "\"%s\" is not a regular file", path);
		rc = TW_ENOTFOUND;
		goto fail;
	}
	f = _open_osfhandle((intptr_t)h, _O_RDONLY | _O_BINARY);
	if (f < 0) {
		buf_errf(err, "could not open file \"%s\" for reading: %s",
			 path, plat_strerror(errno));
		rc = TW_EIO;
		goto fail;
	}
	h = INVALID_HANDLE_VALUE; /* f owns it now */
	*fd = f;
	*size = ((uint64_t)info.nFileSizeHigh << 32) | info.nFileSizeLow;
fail:
	if (h != INVALID_HANDLE_VALUE)
		CloseHandle(h);
	free(w);
	return rc;
}

int plat_rename(const char *from, const char *to, struct buf *err)
{
	wchar_t *wfrom = NULL;
	wchar_t *wto = NULL;
	int rc = 0;

	wfrom = wide_path(from, "rename file", err);
	wto = wfrom ? wide_path(to, "rename file to", err) : NULL;
	if (!wto) {
		rc = TW_EINVAL;
		goto fail;
	}
	if (!move_file(wfrom, wto,
		       MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH)) {
		DWORD e = GetLastError();

		buf_errf(err, "could not rename file \"%s\" to \"%s\": %s",
			 from, to, plat__win_strerror(e));
		rc = is_not_found(e) ? TW_ENOTFOUND : TW_EIO;
	}
fail:
	free(wfrom);
	free(wto);
	return rc;
}

int plat_unlink(const char *path)
{
	wchar_t *w = plat__utf8_to_wide(path);
	int rc = 0;

	if (!w)
		rc = TW_EINVAL;
	else if (!DeleteFileW(w) && !is_not_found(GetLastError()))
		rc = TW_EIO;
	free(w);
	return rc;
}

int plat_real_dir(const char *dir, struct buf *out, struct buf *err)
{
	wchar_t *w = wide_path(dir, "resolve", err);
	wchar_t *full;
	DWORD n;
	int rc = 0;

	if (!w)
		return TW_EINVAL;
	full = xmalloc(sizeof(wchar_t) * 32768);
	n = GetFullPathNameW(w, 32768, full, NULL);
	if (n == 0 || n >= 32768) {
		buf_errf(err, "could not resolve \"%s\": %s", dir,
			 plat__win_strerror(n ? ERROR_FILENAME_EXCED_RANGE
					      : GetLastError()));
		rc = TW_EIO;
		goto out;
	}
	if (GetFileAttributesW(full) == INVALID_FILE_ATTRIBUTES) {
		buf_errf(err, "could not resolve \"%s\": %s", dir,
			 plat__win_strerror(GetLastError()));
		rc = TW_ENOTFOUND;
		goto out;
	}
	buf_reset(out);
	rc = plat__wide_to_utf8(full, out);
	if (rc < 0)
		buf_errf(err, "could not convert \"%s\" to UTF-8", dir);
out:
	free(full);
	free(w);
	return rc;
}

/* plat_exe_dir() asks GetModuleFileNameW, growing the buffer as needed. */
int plat_exe_dir(struct buf *out, struct buf *err)
{
	struct buf path = BUF_INIT(32768 * 4);
	DWORD size = 260;
	wchar_t *w = NULL;
	size_t cut;
	int rc = 0;

	for (;;) {
		DWORD n;

		w = xrealloc(w, sizeof(wchar_t) * size);
		n = GetModuleFileNameW(NULL, w, size);
		if (n == 0) {
			buf_errf(err, "could not find the program's path: %s",
				 plat__win_strerror(GetLastError()));
			rc = TW_EIO;
			goto fail;
		}
		if (n < size)
			break;
		if (size >= 32768) {
			buf_errf(
				err, "could not find the program's path: %s",
				plat__win_strerror(ERROR_FILENAME_EXCED_RANGE));
			rc = TW_EIO;
			goto fail;
		}
		size *= 2;
	}
	rc = plat__wide_to_utf8(w, &path);
	if (rc < 0) {
		buf_errf(err, "could not convert the program's path to UTF-8");
		goto fail;
	}
	cut = path.len;
	while (cut > 0 && !is_sep(path.ptr[cut - 1]))
		cut--;
	if (cut == 0) {
		buf_errf(err, "unexpected program path \"%s\"", path.ptr);
		rc = TW_EIO;
		goto fail;
	}
	/* Drop the separator, except after a root ("C:\"). */
	if (cut > 1 && !(cut == 3 && path.ptr[1] == ':'))
		cut--;
	rc = buf_add(out, path.ptr, cut);
	if (rc < 0)
		buf_errf(err, "program path \"%s\" is too long", path.ptr);
fail:
	free(w);
	buf_release(&path);
	return rc;
}

/* A console answers GetConsoleMode; a pipe or file does not. */
bool plat_stderr_is_tty(void)
{
	DWORD mode;
	HANDLE h = GetStdHandle(STD_ERROR_HANDLE);

	return h != NULL && h != INVALID_HANDLE_VALUE &&
	       GetConsoleMode(h, &mode);
}

long plat_getpid(void)
{
	return (long)GetCurrentProcessId();
}

/*
 * plat_strerror() takes a C runtime errno (what fopen() and friends set),
 * as on POSIX; Win32 codes go through plat__win_strerror() inside this
 * directory. Thread-safe through a thread-local buffer.
 */
const char *plat_strerror(int errnum)
{
	static _Thread_local char tls[256];

	if (strerror_s(tls, sizeof(tls), errnum) != 0)
		snprintf(tls, sizeof(tls), "unknown error %d", errnum);
	return tls;
}

/* --- removing a tree ------------------------------------------------------ */

/* Deeper trees are refused rather than recursing without bound. */
#define REMOVE_TREE_MAX_DEPTH 128

/*
 * remove_wide() removes the file, link or directory w (UTF-16) whose
 * attributes are attr. A reparse point (symbolic link, junction, mount
 * point) is removed as the link itself, with RemoveDirectoryW for a
 * directory link and DeleteFileW otherwise, and never entered: entering a
 * junction would delete whatever it points at. A read-only attribute is
 * cleared first because DeleteFileW refuses read-only files. path is the
 * UTF-8 name, for messages.
 */
static int remove_wide(const wchar_t *w, DWORD attr, const char *path,
		       int depth, struct buf *err);

/* Removes everything inside directory w; 0 or TW_EIO. */
static int remove_children(const wchar_t *w, const char *path, int depth,
			   struct buf *err)
{
	size_t n = wcslen(w);
	wchar_t *pattern = xmalloc((n + 3) * sizeof(wchar_t));
	WIN32_FIND_DATAW fd;
	HANDLE h;
	int rc = 0;

	memcpy(pattern, w, n * sizeof(wchar_t));
	pattern[n] = L'\\';
	pattern[n + 1] = L'*';
	pattern[n + 2] = L'\0';
	h = FindFirstFileW(pattern, &fd);
	if (h == INVALID_HANDLE_VALUE) {
		DWORD e = GetLastError();

		if (e != ERROR_FILE_NOT_FOUND) {
			buf_errf(err, "could not read directory \"%s\": %s",
				 path, plat__win_strerror(e));
			rc = TW_EIO;
		}
		goto out;
	}
	do {
		size_t m = wcslen(fd.cFileName);
		wchar_t *child;

		if (wcscmp(fd.cFileName, L".") == 0 ||
		    wcscmp(fd.cFileName, L"..") == 0)
			continue;
		child = xmalloc((n + m + 2) * sizeof(wchar_t));
		memcpy(child, w, n * sizeof(wchar_t));
		child[n] = L'\\';
		memcpy(child + n + 1, fd.cFileName, (m + 1) * sizeof(wchar_t));
		if (remove_wide(child, fd.dwFileAttributes, path, depth + 1,
				err) < 0)
			rc = TW_EIO;
		free(child);
	} while (FindNextFileW(h, &fd));
	FindClose(h);
out:
	free(pattern);
	return rc;
}

static int remove_wide(const wchar_t *w, DWORD attr, const char *path,
		       int depth, struct buf *err)
{
	bool is_dir = (attr & FILE_ATTRIBUTE_DIRECTORY) != 0;
	bool is_link = (attr & FILE_ATTRIBUTE_REPARSE_POINT) != 0;
	BOOL ok;
	int rc = 0;

	if (depth > REMOVE_TREE_MAX_DEPTH) {
		buf_errf(err, "could not remove \"%s\": tree too deep", path);
		rc = TW_EIO;
		goto out;
	}
	if (attr & FILE_ATTRIBUTE_READONLY)
		SetFileAttributesW(w, attr & ~(DWORD)FILE_ATTRIBUTE_READONLY);
	if (is_dir && !is_link && remove_children(w, path, depth, err) < 0)
		rc = TW_EIO;
	if (is_dir)
		ok = RemoveDirectoryW(w);
	else
		ok = DeleteFileW(w);
	if (!ok && !is_not_found(GetLastError())) {
		buf_errf(err, "could not remove \"%s\" (or an entry in it): %s",
			 path, plat__win_strerror(GetLastError()));
		rc = TW_EIO;
	}
out:
	return rc;
}

int plat_remove_tree(const char *path, struct buf *err)
{
	wchar_t *w = wide_path(path, "remove", err);
	DWORD attr;
	int rc = 0;

	if (!w) {
		rc = TW_EINVAL;
		goto out;
	}
	attr = GetFileAttributesW(w);
	if (attr == INVALID_FILE_ATTRIBUTES) {
		DWORD e = GetLastError();

		if (!is_not_found(e)) {
			buf_errf(err, "could not remove \"%s\": %s", path,
				 plat__win_strerror(e));
			rc = TW_EIO;
		}
		goto out;
	}
	rc = remove_wide(w, attr, path, 0, err);
out:
	free(w);
	return rc;
}
