/*
 * plat_fs.c (POSIX) - files, directories and small process facts.
 *
 * Output buffers are appended to (git's strbuf convention); on failure they
 * are left at the length they had on entry.
 */
#include "core/compat.h"
#include "core/err.h"
#include "core/mem.h"
#include "platform/plat.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/*
 * plat_mkdir_p() walks the path one component at a time. A component that
 * mkdir() refuses is fine when it already is a directory (this also covers
 * EACCES on an existing parent we may not write to); otherwise the errno of
 * mkdir() is reported for that component, as mkdir -p does.
 */
int plat_mkdir_p(const char *dir, struct buf *err)
{
	struct buf path = BUF_INIT(PATH_MAX * 4);
	size_t i, n;
	int rc = 0;

	n = strlen(dir);
	while (n > 1 && dir[n - 1] == '/')
		n--; /* "a/b/" is "a/b", so the last component is known */
	if (n == 0) {
		buf_errf(err, "could not create directory \"\": %s",
			 plat_strerror(ENOENT));
		rc = TW_EINVAL;
		goto fail;
	}
	rc = buf_add(&path, dir, n);
	if (rc < 0) {
		buf_errf(err, "could not create directory \"%s\": %s", dir,
			 plat_strerror(ENAMETOOLONG));
		goto fail;
	}
	for (i = 1; i <= n; i++) {
		char saved = path.ptr[i];
		int e;

		if (i < n && saved != '/')
			continue;
		if (path.ptr[i - 1] == '/')
			continue; /* "//" or a trailing slash */
		path.ptr[i] = '\0';
		if (mkdir(path.ptr, 0755) != 0) {
			e = errno;
			/* A parent that is a file: let the next mkdir()
			 * say "Not a directory" for the child, as mkdir -p
			 * does. */
			if (e == EEXIST && i < n) {
				path.ptr[i] = saved;
				continue;
			}
			if (!plat_is_dir(path.ptr)) {
				buf_errf(err,
					 "could not create directory \"%s\": "
					 "%s",
					 path.ptr, plat_strerror(e));
				rc = TW_EIO;
				goto fail;
			}
		}
		path.ptr[i] = saved;
	}
fail:
	buf_release(&path);
	return rc;
}

bool plat_is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

bool plat_is_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Writes all of data to fd, resuming after short writes and EINTR. */
static int write_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, data, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		data += w;
		len -= (size_t)w;
	}
	return 0;
}

/*
 * Makes a finished rename or link durable by syncing the directory that
 * holds path. Best effort: some file systems refuse fsync on directories,
 * and the file itself is already synced.
 */
static void sync_parent_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	int fd;

	if (!slash)
		dir = xstrdup(".");
	else if (slash == path)
		dir = xstrdup("/");
	else
		dir = xstrndup(path, (size_t)(slash - path));
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	free(dir);
}

/*
 * The temporary file is "<path>.tmp.<pid>.<n>": the pid keeps processes
 * apart and the per-process counter keeps threads apart. A leftover with the
 * same name can only come from an earlier process that had our pid and
 * crashed mid-write (containers reuse small pids on every start), so it is
 * removed and the creation retried once. O_EXCL never follows a symlink.
 */
int plat_write_file_private(const char *path, const char *data, size_t len,
			    bool exclusive, struct buf *err)
{
	static atomic_ulong seq;
	struct buf tmp = BUF_INIT(PATH_MAX * 4);
	bool tmp_exists = false;
	int fd = -1;
	int rc;
	int e;

	rc = buf_addf(&tmp, "%s.tmp.%ld.%lu", path, (long)getpid(),
		      (unsigned long)atomic_fetch_add(&seq, 1));
	if (rc < 0) {
		buf_errf(err, "could not create file \"%s\": %s", path,
			 plat_strerror(ENAMETOOLONG));
		goto fail;
	}
	fd = open(tmp.ptr, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 && errno == EEXIST && unlink(tmp.ptr) == 0)
		fd = open(tmp.ptr, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
			  0600);
	if (fd < 0) {
		buf_errf(err, "could not create file \"%s\": %s", tmp.ptr,
			 plat_strerror(errno));
		rc = TW_EIO;
		goto fail;
	}
	tmp_exists = true;
	if (write_all(fd, data, len) < 0) {
		buf_errf(err, "could not write file \"%s\": %s", tmp.ptr,
			 plat_strerror(errno));
		rc = TW_EIO;
		goto fail;
	}
	if (fsync(fd) != 0) {
		buf_errf(err, "could not fsync file \"%s\": %s", tmp.ptr,
			 plat_strerror(errno));
		rc = TW_EIO;
		goto fail;
	}
	e = close(fd);
	fd = -1;
	if (e != 0) {
		buf_errf(err, "could not close file \"%s\": %s", tmp.ptr,
			 plat_strerror(errno));
		rc = TW_EIO;
		goto fail;
	}
	if (exclusive) {
		/* link() refuses an existing target, atomically. */
		if (link(tmp.ptr, path) != 0) {
			e = errno;
			if (e == EEXIST) {
				buf_errf(err, "file \"%s\" already exists",
					 path);
				rc = TW_ECONFLICT;
			} else {
				buf_errf(err,
					 "could not link file \"%s\" to "
					 "\"%s\": "
					 "%s",
					 tmp.ptr, path, plat_strerror(e));
				rc = TW_EIO;
			}
			goto fail;
		}
		/* path now holds the data; the tmp name is only a 2nd link. */
	} else {
		if (rename(tmp.ptr, path) != 0) {
			buf_errf(err,
				 "could not rename file \"%s\" to \"%s\": %s",
				 tmp.ptr, path, plat_strerror(errno));
			rc = TW_EIO;
			goto fail;
		}
		tmp_exists = false;
	}
	sync_parent_dir(path);
fail:
	if (fd >= 0)
		close(fd);
	if (tmp_exists)
		unlink(tmp.ptr);
	buf_release(&tmp);
	return rc;
}

/*
 * plat_read_file() appends the file's bytes to out. Growth is bounded by
 * out->cap; a larger file is TW_ETOOBIG and out keeps its original length.
 */
/*
 * fchmod() on the descriptor fixes a file an older version created 0644
 * (the mode argument of open() applies only to a new file, and through the
 * umask); a file we do not own keeps its mode (fchmod fails) but is still
 * used, as before.
 */
FILE *plat_open_append_private(const char *path)
{
	FILE *fp;
	int fd, e;

	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return NULL;
	if (fchmod(fd, 0600) != 0) {
		/* Not ours (another user's file in a shared directory). */
	}
	fp = fdopen(fd, "ab");
	if (!fp) {
		e = errno;
		close(fd);
		errno = e;
	}
	return fp;
}

int plat_make_private(const char *path, struct buf *err)
{
	struct stat st;
	int rc = 0;

	if (lstat(path, &st) != 0) {
		if (errno != ENOENT) {
			buf_errf(err, "could not stat \"%s\": %s", path,
				 plat_strerror(errno));
			rc = TW_EIO;
		}
		goto out;
	}
	if (!S_ISREG(st.st_mode) || (st.st_mode & 07777) == 0600)
		goto out;
	if (chmod(path, 0600) != 0) {
		buf_errf(err, "could not change the mode of \"%s\": %s", path,
			 plat_strerror(errno));
		rc = TW_EIO;
	}
out:
	return rc;
}

int plat_read_file(const char *path, struct buf *out, struct buf *err)
{
	size_t start = out->len;
	char chunk[16384];
	int fd;
	int rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;

		buf_errf(err, "could not open file \"%s\" for reading: %s",
			 path, plat_strerror(e));
		rc = e == ENOENT ? TW_ENOTFOUND : TW_EIO;
		goto fail;
	}
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			buf_errf(err, "could not read file \"%s\": %s", path,
				 plat_strerror(errno));
			rc = TW_EIO;
			goto fail;
		}
		if (n == 0)
			break;
		rc = buf_add(out, chunk, (size_t)n);
		if (rc < 0) {
			buf_errf(err, "file \"%s\" is larger than %zu bytes",
				 path, out->cap);
			goto fail;
		}
	}
fail:
	if (fd >= 0)
		close(fd);
	if (rc < 0)
		buf_setlen(out, start);
	/* The file may hold secrets (.env): leave no copy on the stack. */
	mem_wipe(chunk, sizeof(chunk));
	return rc;
}

/*
 * plat_open_read() opens with O_NONBLOCK so that a FIFO (which would block
 * open() until a writer came) is seen and refused by fstat() instead; the
 * flag is cleared again for the regular file it accepts, whose reads it
 * would not change anyway.
 */
int plat_open_read(const char *path, int *fd, uint64_t *size, struct buf *err)
{
	struct stat st;
	int f, flags;
	int rc = 0;

	f = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (f < 0) {
		int e = errno;

		buf_errf(err, "could not open file \"%s\" for reading: %s",
			 path, plat_strerror(e));
		rc = e == ENOENT || e == ENOTDIR ? TW_ENOTFOUND : TW_EIO;
		goto fail;
	}
	if (fstat(f, &st) != 0) {
		buf_errf(err, "could not stat file \"%s\": %s", path,
			 plat_strerror(errno));
		rc = TW_EIO;
		goto fail;
	}
	if (!S_ISREG(st.st_mode) || st.st_size < 0) {
		buf_errf(err, "\"%s\" is not a regular file", path);
		rc = TW_ENOTFOUND;
		goto fail;
	}
	flags = fcntl(f, F_GETFL);
	if (flags < 0 || fcntl(f, F_SETFL, flags & ~O_NONBLOCK) < 0) {
		buf_errf(err, "could not set up file \"%s\": %s", path,
			 plat_strerror(errno));
		rc = TW_EIO;
		goto fail;
	}
	*fd = f;
	*size = (uint64_t)st.st_size;
	f = -1;
fail:
	if (f >= 0)
		close(f);
	return rc;
}

int plat_rename(const char *from, const char *to, struct buf *err)
{
	int rc = 0;

	if (rename(from, to) != 0) {
		int e = errno;

		buf_errf(err, "could not rename file \"%s\" to \"%s\": %s",
			 from, to, plat_strerror(e));
		rc = e == ENOENT ? TW_ENOTFOUND : TW_EIO;
	}
	return rc;
}

int plat_unlink(const char *path)
{
	if (unlink(path) != 0 && errno != ENOENT)
		return TW_EIO;
	return 0;
}

int plat_real_dir(const char *dir, struct buf *out, struct buf *err)
{
	char *real = realpath(dir, NULL);
	int rc;

	if (!real) {
		int e = errno;

		buf_errf(err, "could not resolve \"%s\": %s", dir,
			 plat_strerror(e));
		return e == ENOENT || e == ENOTDIR ? TW_ENOTFOUND : TW_EIO;
	}
	buf_reset(out);
	rc = buf_adds(out, real);
	free(real);
	if (rc < 0)
		buf_errf(err, "the path of \"%s\" is too long", dir);
	return rc;
}

/*
 * plat_exe_dir() reads /proc/self/exe, which is Linux-only (the BSDs have
 * sysctl KERN_PROC_PATHNAME, macOS _NSGetExecutablePath); port here when
 * one of those is needed.
 */
int plat_exe_dir(struct buf *out, struct buf *err)
{
	size_t size = 256;
	char *path = NULL;
	char *slash;
	ssize_t n;
	int rc = 0;

	for (;;) {
		path = xrealloc(path, size);
		n = readlink("/proc/self/exe", path, size);
		if (n < 0) {
			buf_errf(err, "could not read symbolic link \"%s\": %s",
				 "/proc/self/exe", plat_strerror(errno));
			rc = TW_EIO;
			goto fail;
		}
		if ((size_t)n < size)
			break;
		if (size >= 1024 * 1024) {
			buf_errf(err, "could not read symbolic link \"%s\": %s",
				 "/proc/self/exe", plat_strerror(ENAMETOOLONG));
			rc = TW_EIO;
			goto fail;
		}
		size *= 2;
	}
	path[n] = '\0';
	slash = strrchr(path, '/');
	if (!slash) {
		buf_errf(err, "unexpected executable path \"%s\"", path);
		rc = TW_EIO;
		goto fail;
	}
	rc = buf_add(out, path, slash == path ? 1 : (size_t)(slash - path));
	if (rc < 0)
		buf_errf(err, "executable path \"%s\" is too long", path);
fail:
	free(path);
	return rc;
}

bool plat_stderr_is_tty(void)
{
	return isatty(STDERR_FILENO) == 1;
}

long plat_getpid(void)
{
	return (long)getpid();
}

/*
 * plat_strerror() is thread-safe: the text lives in a thread-local buffer
 * (or, with glibc's GNU strerror_r, in a string it returns). It stays valid
 * until the same thread calls plat_strerror() again.
 */
const char *plat_strerror(int errnum)
{
	static _Thread_local char tls[256];

#if defined(__GLIBC__) && defined(_GNU_SOURCE)
	return strerror_r(errnum, tls, sizeof(tls));
#else
	if (strerror_r(errnum, tls, sizeof(tls)) != 0)
		snprintf(tls, sizeof(tls), "unknown error %d", errnum);
	return tls;
#endif
}

/* Deeper trees are refused rather than risking running out of descriptors
 * (each level holds one open directory). */
#define REMOVE_TREE_MAX_DEPTH 128

/*
 * remove_entries() empties the directory open as dfd (which it closes) and
 * returns 0 or TW_EIO. Every name is looked at relative to dfd with
 * fstatat(AT_SYMLINK_NOFOLLOW) and opened with O_NOFOLLOW | O_DIRECTORY:
 * a symbolic link is unlinked as a link, and a directory swapped for a link
 * between the look and the open fails the open instead of being followed.
 * path is only for messages.
 */
static int remove_entries(int dfd, const char *path, int depth, struct buf *err)
{
	DIR *d = NULL;
	struct dirent *de;
	int rc = 0;

	if (depth > REMOVE_TREE_MAX_DEPTH) {
		buf_errf(err, "could not remove \"%s\": tree too deep", path);
		close(dfd);
		rc = TW_EIO;
		goto out;
	}
	d = fdopendir(dfd);
	if (!d) {
		buf_errf(err, "could not read directory \"%s\": %s", path,
			 plat_strerror(errno));
		close(dfd);
		rc = TW_EIO;
		goto out;
	}
	for (;;) {
		struct stat st;
		bool is_dir;

		errno = 0;
		de = readdir(d);
		if (!de)
			break;
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) !=
		    0) {
			if (errno != ENOENT) {
				buf_errf(err, "could not stat \"%s/%s\": %s",
					 path, de->d_name,
					 plat_strerror(errno));
				rc = TW_EIO;
			}
			continue;
		}
		is_dir = S_ISDIR(st.st_mode);
		if (is_dir) {
			int sub = openat(dirfd(d), de->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
						 O_CLOEXEC);

			if (sub < 0) {
				buf_errf(err, "could not open \"%s/%s\": %s",
					 path, de->d_name,
					 plat_strerror(errno));
				rc = TW_EIO;
				continue;
			}
			if (remove_entries(sub, de->d_name, depth + 1, err) < 0)
				rc = TW_EIO;
		}
		if (unlinkat(dirfd(d), de->d_name, is_dir ? AT_REMOVEDIR : 0) !=
			    0 &&
		    errno != ENOENT) {
			buf_errf(err, "could not remove \"%s/%s\": %s", path,
				 de->d_name, plat_strerror(errno));
			rc = TW_EIO;
		}
	}
	if (errno != 0) {
		buf_errf(err, "could not read directory \"%s\": %s", path,
			 plat_strerror(errno));
		rc = TW_EIO;
	}
	closedir(d);
out:
	return rc;
}

int plat_remove_tree(const char *path, struct buf *err)
{
	struct stat st;
	int fd;
	int rc = 0;

	if (lstat(path, &st) != 0) {
		if (errno != ENOENT) {
			buf_errf(err, "could not stat \"%s\": %s", path,
				 plat_strerror(errno));
			rc = TW_EIO;
		}
		goto out;
	}
	if (!S_ISDIR(st.st_mode)) {
		/* A file or a symbolic link: the link itself goes. */
		if (unlink(path) != 0 && errno != ENOENT) {
			buf_errf(err, "could not remove \"%s\": %s", path,
				 plat_strerror(errno));
			rc = TW_EIO;
		}
		goto out;
	}
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		buf_errf(err, "could not open directory \"%s\": %s", path,
			 plat_strerror(errno));
		rc = TW_EIO;
		goto out;
	}
	if (remove_entries(fd, path, 0, err) < 0)
		rc = TW_EIO;
	if (rmdir(path) != 0 && errno != ENOENT) {
		buf_errf(err, "could not remove directory \"%s\": %s", path,
			 plat_strerror(errno));
		rc = TW_EIO;
	}
out:
	return rc;
}
