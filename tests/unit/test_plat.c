/*
 * test_plat.c - the POSIX operating-system layer (src/platform/posix).
 *
 * Each file test gets a fresh directory under $TMPDIR (or /tmp) that is
 * removed afterwards. The shutdown tests run in forked children, because
 * the shutdown flag is sticky for the life of a process by contract.
 */
#include "core/compat.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/str.h"
#include "platform/plat.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <cmocka.h>

/* --- fixtures ----------------------------------------------------------- */

struct tmpdir {
	char path[1024];
};

static int setup_tmpdir(void **state)
{
	struct tmpdir *t = calloc(1, sizeof(*t));
	const char *base = getenv("TMPDIR");

	if (!t)
		return -1;
	snprintf(t->path, sizeof(t->path), "%s/tw_plat_XXXXXX",
		 base && *base ? base : "/tmp");
	if (!mkdtemp(t->path)) {
		free(t);
		return -1;
	}
	*state = t;
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int teardown_tmpdir(void **state)
{
	struct tmpdir *t = *state;

	nftw(t->path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(t);
	return 0;
}

/* Joins the test directory and name into out (a PATH_MAX array). */
static void tpath(void **state, const char *name, char *out)
{
	struct tmpdir *t = *state;

	snprintf(out, PATH_MAX, "%s/%s", t->path, name);
}

static void write_plain(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

/* Counts entries of dir whose name contains ".tmp.". */
static int count_tmp_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (strstr(de->d_name, ".tmp."))
			n++;
	}
	closedir(d);
	return n;
}

/* --- files -------------------------------------------------------------- */

static void test_mkdir_p_nested(void **state)
{
	char p[PATH_MAX], q[PATH_MAX];
	struct buf err = BUF_INIT(BUF_SMALL_CAP);

	tpath(state, "a/b//c/", p);
	assert_int_equal(plat_mkdir_p(p, &err), 0);
	tpath(state, "a/b/c", q);
	assert_true(plat_is_dir(q));
	assert_false(plat_is_file(q));
	/* Existing directories are fine. */
	assert_int_equal(plat_mkdir_p(q, &err), 0);
	assert_int_equal(plat_mkdir_p("/", &err), 0);
	assert_int_equal(err.len, 0);
	/* A relative path works too, and a NULL err is allowed. */
	assert_int_equal(plat_mkdir_p(".", NULL), 0);
	buf_release(&err);
}

static void test_mkdir_p_under_file(void **state)
{
	char file[PATH_MAX], p[PATH_MAX], want[PATH_MAX + 64];
	struct buf err = BUF_INIT(BUF_SMALL_CAP);

	tpath(state, "file", file);
	write_plain(file, "x", 0644);
	tpath(state, "file/sub/dir", p);
	assert_int_equal(plat_mkdir_p(p, &err), TW_EIO);
	snprintf(want, sizeof(want),
		 "could not create directory \"%s/sub\": Not a directory",
		 file);
	assert_string_equal(err.ptr, want);

	buf_reset(&err);
	assert_int_equal(plat_mkdir_p(file, &err), TW_EIO);
	snprintf(want, sizeof(want),
		 "could not create directory \"%s\": File exists", file);
	assert_string_equal(err.ptr, want);
	assert_int_equal(plat_mkdir_p(p, NULL), TW_EIO);
	tpath(state, "file/", p);
	assert_int_equal(plat_mkdir_p(p, NULL), TW_EIO);
	buf_release(&err);
}

static void test_write_file_private(void **state)
{
	struct tmpdir *t = *state;
	char p[PATH_MAX];
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct buf got = BUF_INIT(1024);
	struct stat st;

	tpath(state, "secret.env", p);
	assert_int_equal(plat_write_file_private(p, "k=1\n", 4, false, &err),
			 0);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(plat_read_file(p, &got, &err), 0);
	assert_string_equal(got.ptr, "k=1\n");

	/* Not exclusive: replaced, still private. */
	assert_int_equal(plat_write_file_private(p, "k=2\n", 4, false, &err),
			 0);
	buf_reset(&got);
	assert_int_equal(plat_read_file(p, &got, &err), 0);
	assert_string_equal(got.ptr, "k=2\n");
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);

	/* Exclusive: an existing file is left alone. */
	assert_int_equal(plat_write_file_private(p, "k=3\n", 4, true, &err),
			 TW_ECONFLICT);
	assert_non_null(strstr(err.ptr, "already exists"));
	buf_reset(&got);
	assert_int_equal(plat_read_file(p, &got, NULL), 0);
	assert_string_equal(got.ptr, "k=2\n");

	/* Exclusive on a new path works; empty data too. */
	tpath(state, "new.env", p);
	buf_reset(&err);
	assert_int_equal(plat_write_file_private(p, "", 0, true, &err), 0);
	assert_true(plat_is_file(p));
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_size, 0);
	assert_int_equal(st.st_mode & 07777, 0600);

	/* No temporary file is left behind by any of the above. */
	assert_int_equal(count_tmp_files(t->path), 0);
	buf_release(&err);
	buf_release(&got);
}

static void test_write_file_private_failures_clean_up(void **state)
{
	struct tmpdir *t = *state;
	char p[PATH_MAX];
	struct buf err = BUF_INIT(BUF_SMALL_CAP);

	/* The target is a directory: rename() fails after the write. */
	tpath(state, "adir", p);
	assert_int_equal(plat_mkdir_p(p, NULL), 0);
	assert_int_equal(plat_write_file_private(p, "x", 1, false, &err),
			 TW_EIO);
	assert_non_null(strstr(err.ptr, "could not rename file"));
	assert_int_equal(count_tmp_files(t->path), 0);
	assert_true(plat_is_dir(p));

	/* Exclusive onto a directory: a conflict, and no leftovers. */
	assert_int_equal(plat_write_file_private(p, "x", 1, true, NULL),
			 TW_ECONFLICT);
	assert_int_equal(count_tmp_files(t->path), 0);

	/* The directory does not exist. */
	buf_reset(&err);
	tpath(state, "missing/x.env", p);
	assert_int_equal(plat_write_file_private(p, "x", 1, false, &err),
			 TW_EIO);
	assert_non_null(strstr(err.ptr, "could not create file"));
	assert_non_null(strstr(err.ptr, "No such file or directory"));
	buf_release(&err);
}

static void test_read_file_cap(void **state)
{
	char p[PATH_MAX];
	char data[101];
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct buf small = BUF_INIT(99);
	struct buf exact = BUF_INIT(100);

	memset(data, 'x', 100);
	data[100] = '\0';
	tpath(state, "hundred", p);
	write_plain(p, data, 0644);

	assert_int_equal(buf_adds(&small, "keep"), 0);
	assert_int_equal(plat_read_file(p, &small, &err), TW_ETOOBIG);
	assert_string_equal(small.ptr, "keep");
	assert_non_null(strstr(err.ptr, "is larger than 99 bytes"));

	assert_int_equal(plat_read_file(p, &exact, &err), 0);
	assert_int_equal(exact.len, 100);
	assert_string_equal(exact.ptr, data);

	buf_reset(&err);
	tpath(state, "nope", p);
	buf_reset(&exact);
	assert_int_equal(plat_read_file(p, &exact, &err), TW_ENOTFOUND);
	assert_non_null(strstr(err.ptr, "could not open file"));
	assert_int_equal(exact.len, 0);
	buf_release(&err);
	buf_release(&small);
	buf_release(&exact);
}

static void test_rename_replaces(void **state)
{
	char a[PATH_MAX], b[PATH_MAX];
	struct buf got = BUF_INIT(64);
	struct buf err = BUF_INIT(BUF_SMALL_CAP);

	tpath(state, "a", a);
	tpath(state, "b", b);
	write_plain(a, "new", 0644);
	write_plain(b, "old", 0644);
	assert_int_equal(plat_rename(a, b, &err), 0);
	assert_false(plat_is_file(a));
	assert_int_equal(plat_read_file(b, &got, &err), 0);
	assert_string_equal(got.ptr, "new");

	assert_int_equal(plat_rename(a, b, &err), TW_ENOTFOUND);
	assert_non_null(strstr(err.ptr, "could not rename file"));

	assert_int_equal(plat_unlink(b), 0);
	assert_false(plat_is_file(b));
	assert_int_equal(plat_unlink(b), 0); /* missing is fine */
	buf_release(&got);
	buf_release(&err);
}

/*
 * plat_open_read(): a regular file (UTF-8 name, through a symbolic link
 * too) opens in blocking mode, close-on-exec, with its size; anything else
 * is TW_ENOTFOUND or TW_EIO with a reason, and a FIFO is refused without
 * waiting for a writer (the alarm turns a hang into a failure).
 */
static void test_open_read(void **state)
{
	char p[PATH_MAX], q[PATH_MAX + 16];
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	uint64_t size = 0;
	char got[16];
	int fd = -1;

	tpath(state,
	      "donn\xc3\xa9"
	      "es-\xe4\xb8\xad.js",
	      p);
	write_plain(p, "let x = 1;\n", 0644);
	assert_int_equal(plat_open_read(p, &fd, &size, &err), 0);
	assert_int_equal(size, 11);
	assert_int_equal(read(fd, got, sizeof(got)), 11);
	assert_memory_equal(got, "let x = 1;\n", 11);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_false(fcntl(fd, F_GETFL) & O_NONBLOCK);
	close(fd);

	tpath(state, "link.js", q);
	assert_int_equal(symlink(p, q), 0);
	fd = -1;
	assert_int_equal(plat_open_read(q, &fd, &size, &err), 0);
	assert_int_equal(size, 11);
	close(fd);

	tpath(state, "missing.js", q);
	assert_int_equal(plat_open_read(q, &fd, &size, &err), TW_ENOTFOUND);
	assert_non_null(strstr(err.ptr, "could not open file"));
	buf_reset(&err);
	snprintf(q, sizeof(q), "%s/below", p);
	assert_int_equal(plat_open_read(q, &fd, &size, &err), TW_ENOTFOUND);

	buf_reset(&err);
	tpath(state, "dir", q);
	assert_int_equal(mkdir(q, 0755), 0);
	assert_int_equal(plat_open_read(q, &fd, &size, &err), TW_ENOTFOUND);
	assert_non_null(strstr(err.ptr, "is not a regular file"));

	buf_reset(&err);
	tpath(state, "fifo", q);
	assert_int_equal(mkfifo(q, 0644), 0);
	alarm(10);
	assert_int_equal(plat_open_read(q, &fd, &size, &err), TW_ENOTFOUND);
	alarm(0);
	assert_non_null(strstr(err.ptr, "is not a regular file"));
	assert_int_equal(plat_open_read("/dev/null", &fd, &size, NULL),
			 TW_ENOTFOUND);

	if (geteuid() != 0) {
		buf_reset(&err);
		assert_int_equal(chmod(p, 0), 0);
		assert_int_equal(plat_open_read(p, &fd, &size, &err), TW_EIO);
		assert_non_null(strstr(err.ptr, "Permission denied"));
	}
	buf_release(&err);
}

static void test_misc_facts(void **state)
{
	struct buf dir = BUF_INIT(PATH_MAX);
	struct buf err = BUF_INIT(BUF_SMALL_CAP);

	(void)state;
	assert_int_equal(plat_exe_dir(&dir, &err), 0);
	assert_true(dir.len > 0);
	assert_true(plat_is_dir(dir.ptr));
	assert_true(dir.len == 1 || dir.ptr[dir.len - 1] != '/');
	assert_int_equal(plat_getpid(), (long)getpid());
	assert_string_equal(plat_strerror(ENOENT), "No such file or directory");
	assert_int_equal(plat_stderr_is_tty(), isatty(2) == 1);
	buf_release(&dir);
	buf_release(&err);
}

/* --- processes ---------------------------------------------------------- */

static void test_run_output_and_status(void **state)
{
	const char *argv[] = { "/bin/sh", "-c", "echo hi; echo err >&2; exit 3",
			       NULL };
	struct plat_run_opts o = { argv, NULL, NULL, 0 };
	struct buf out = BUF_INIT(4096);
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	int status = 0;

	(void)state;
	o.output = &out;
	assert_int_equal(plat_run(&o, &status, &err), 0);
	assert_int_equal(status, 3);
	assert_string_equal(out.ptr, "hi\nerr\n");
	assert_int_equal(err.len, 0);

	/* A name without a slash is searched in PATH; NULL output works. */
	argv[0] = "sh";
	argv[2] = "exit 0";
	o.output = NULL;
	assert_int_equal(plat_run(&o, &status, NULL), 0);
	assert_int_equal(status, 0);

	/* Killed by a signal: 128 + signal. */
	argv[2] = "kill -TERM $$";
	assert_int_equal(plat_run(&o, &status, NULL), 0);
	assert_int_equal(status, 128 + SIGTERM);
	buf_release(&out);
	buf_release(&err);
}

static void test_run_missing_program(void **state)
{
	const char *argv[] = { "tw-no-such-program-xyz", "--version", NULL };
	struct plat_run_opts o = { argv, NULL, NULL, 0 };
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	int status = 0;
	char p[PATH_MAX], want[PATH_MAX + 64];
	const char *old_path = getenv("PATH");
	char *saved = old_path ? xstrdup(old_path) : NULL;

	/* execvp() says EACCES when a PATH entry could not be searched (a
	 * /root/... entry when the tests run as another user). */
	setenv("PATH", "/usr/bin:/bin", 1);
	assert_int_equal(plat_run(&o, &status, &err), TW_EIO);
	if (saved)
		setenv("PATH", saved, 1);
	free(saved);
	assert_string_equal(err.ptr, "could not run "
				     "\"tw-no-such-program-xyz\": "
				     "No such file or directory");

	/* A path to a file without execute permission. */
	tpath(state, "script.sh", p);
	write_plain(p, "#!/bin/sh\necho no\n", 0644);
	argv[0] = p;
	buf_reset(&err);
	assert_int_equal(plat_run(&o, &status, &err), TW_EIO);
	snprintf(want, sizeof(want), "could not run \"%s\": Permission denied",
		 p);
	assert_string_equal(err.ptr, want);
	buf_release(&err);
}

static void test_run_timeout(void **state)
{
	const char *argv[] = { "sleep", "10", NULL, NULL };
	struct plat_run_opts o = { argv, NULL, NULL, 200 };
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	int status = 0;
	int64_t t0 = plat_monotonic_ms();
	int64_t took;

	(void)state;
	assert_int_equal(plat_run(&o, &status, &err), TW_ETIMEOUT);
	took = plat_monotonic_ms() - t0;
	assert_true(took >= 190);
	assert_true(took < 2000);
	assert_int_equal(status, 128 + SIGKILL);
	assert_non_null(strstr(err.ptr, "did not finish within 200 ms"));

	/* The whole process group goes: a shell's child must not survive
	 * to hold the pipe (this would block for 10 s otherwise). */
	argv[0] = "/bin/sh";
	argv[1] = "-c";
	argv[2] = "sleep 10; echo unreachable";
	t0 = plat_monotonic_ms();
	assert_int_equal(plat_run(&o, &status, NULL), TW_ETIMEOUT);
	assert_true(plat_monotonic_ms() - t0 < 2000);
	buf_release(&err);
}

static void test_run_output_cap(void **state)
{
	/* 10 MiB of output against a 64 KiB cap: the child must never block
	 * on a full pipe, and the output keeps exactly the first 64 KiB. */
	const char *argv[] = { "/bin/sh", "-c", "yes | head -c 10485760",
			       NULL };
	struct plat_run_opts o = { argv, NULL, NULL, 30000 };
	struct buf out = BUF_INIT(65536);
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	int status = -1;
	size_t i;

	(void)state;
	o.output = &out;
	assert_int_equal(plat_run(&o, &status, &err), 0);
	assert_int_equal(status, 0);
	assert_int_equal(out.len, 65536);
	for (i = 0; i < out.len; i += 2)
		assert_memory_equal(out.ptr + i, "y\n", 2);
	buf_release(&out);
	buf_release(&err);
}

static void test_run_leftover_daemon_does_not_block(void **state)
{
	/* The shell exits at once but leaves a child holding the pipe, as
	 * "pg_ctl start" leaves the postmaster. */
	const char *argv[] = { "/bin/sh", "-c", "sleep 5 & echo started",
			       NULL };
	struct plat_run_opts o = { argv, NULL, NULL, 0 };
	struct buf out = BUF_INIT(4096);
	int status = -1;
	int64_t t0 = plat_monotonic_ms();

	(void)state;
	o.output = &out;
	assert_int_equal(plat_run(&o, &status, NULL), 0);
	assert_true(plat_monotonic_ms() - t0 < 2000);
	assert_int_equal(status, 0);
	assert_string_equal(out.ptr, "started\n");

	/* The same with a deadline set. */
	buf_reset(&out);
	o.timeout_ms = 10000;
	t0 = plat_monotonic_ms();
	assert_int_equal(plat_run(&o, &status, NULL), 0);
	assert_true(plat_monotonic_ms() - t0 < 2000);
	assert_string_equal(out.ptr, "started\n");
	buf_release(&out);
}

static void test_run_child_environment(void **state)
{
	/* stdin is /dev/null, descriptors are not inherited, and the
	 * signals plat_shutdown_init() blocks are unblocked in the child. */
	char script[256];
	const char *argv[] = { "/bin/sh", "-c", script, NULL };
	struct plat_run_opts o = { argv, NULL, NULL, 10000 };
	struct buf out = BUF_INIT(4096);
	sigset_t set, old;
	int status = -1;
	int leak;

	(void)state;
	leak = open("/dev/null", O_RDONLY); /* no O_CLOEXEC on purpose */
	assert_true(leak > 2);
	snprintf(script, sizeof(script),
		 "cat; test -e /proc/self/fd/%d && echo leaked; "
		 "grep SigBlk /proc/self/status",
		 leak);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	o.output = &out;
	assert_int_equal(plat_run(&o, &status, NULL), 0);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	close(leak);
	assert_int_equal(status, 0);
	assert_string_equal(out.ptr, "SigBlk:\t0000000000000000\n");
	buf_release(&out);
}

static void test_run_as_user(void **state)
{
	const char *argv[] = { "id", "-u", NULL };
	struct plat_run_opts o = { argv, "postgres", NULL, 10000 };
	struct buf out = BUF_INIT(4096);
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct passwd *pw = getpwnam("postgres");
	char want[32];
	int status = -1;

	(void)state;
	if (geteuid() != 0) {
		print_message("skipped: run_as_user needs root (euid %ld)\n",
			      (long)geteuid());
		skip();
	}
	if (!pw) {
		print_message("skipped: no system user \"postgres\" here\n");
		skip();
	}
	o.output = &out;
	assert_int_equal(plat_run(&o, &status, &err), 0);
	assert_int_equal(status, 0);
	snprintf(want, sizeof(want), "%ld\n", (long)pw->pw_uid);
	assert_string_equal(out.ptr, want);

	/* An unknown user is an error before anything runs. */
	o.run_as_user = "tw-no-such-user";
	buf_reset(&err);
	assert_int_equal(plat_run(&o, &status, &err), TW_EIO);
	assert_string_equal(err.ptr, "could not run \"id\": user "
				     "\"tw-no-such-user\" does not exist");
	buf_release(&out);
	buf_release(&err);
}

static void test_chown_to_user(void **state)
{
	char p[PATH_MAX];
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct passwd *pw = getpwnam("postgres");
	struct stat st;

	tpath(state, "owned", p);
	assert_int_equal(plat_mkdir_p(p, NULL), 0);
	if (geteuid() != 0) {
		/* Documented no-op. */
		assert_int_equal(plat_chown_to_user(p, "postgres", &err), 0);
		print_message("skipped: chown needs root\n");
		skip();
	}
	if (!pw) {
		print_message("skipped: no system user \"postgres\" here\n");
		skip();
	}
	assert_true(plat_is_superuser());
	assert_int_equal(plat_chown_to_user(p, "postgres", &err), 0);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_uid, pw->pw_uid);
	assert_int_equal(st.st_gid, pw->pw_gid);
	assert_int_equal(plat_chown_to_user(p, "tw-no-such-user", &err),
			 TW_ENOTFOUND);
	assert_non_null(strstr(err.ptr, "does not exist"));
	buf_release(&err);
}

static void test_find_program(void **state)
{
	struct buf out = BUF_INIT(PATH_MAX);
	struct tmpdir *t = *state;
	const char *extra[] = { "/nonexistent", t->path, NULL };
	char p[PATH_MAX];

	assert_int_equal(plat_find_program("sh", NULL, &out), 0);
	assert_true(out.ptr[0] == '/');
	assert_true(str_ends_with(out.ptr, "/sh"));
	buf_reset(&out);
	assert_int_equal(plat_find_program("tw-helper-xyz", NULL, &out),
			 TW_ENOTFOUND);
	assert_int_equal(out.len, 0);

	tpath(state, "tw-helper-xyz", p);
	write_plain(p, "#!/bin/sh\n", 0755);
	assert_int_equal(plat_find_program("tw-helper-xyz", extra, &out), 0);
	assert_string_equal(out.ptr, p);
	buf_reset(&out);
	assert_int_equal(plat_find_program(p, NULL, &out), 0);
	assert_string_equal(out.ptr, p);
	buf_release(&out);
}

/* --- network ------------------------------------------------------------ */

/* One TW_SANDBOX_COMMAND-style line and the words it must give. */
struct split_case {
	const char *line;
	const char *words[6]; /* NULL-terminated */
};

static const struct split_case split_cases[] = {
	/* What a plain line gave before quoting existed. */
	{ "/usr/bin/python3 /srv/tw/runner.py",
	  { "/usr/bin/python3", "/srv/tw/runner.py", NULL } },
	{ "  a   b  ", { "a", "b", NULL } },
	{ "a\tb c", { "a\tb", "c", NULL } },
	{ "C:\\Python312\\python.exe -I",
	  { "C:\\Python312\\python.exe", "-I", NULL } },
	/* Quotes group; backslashes are literal, also before a quote. */
	{ "\"C:\\Program Files\\Python312\\python.exe\" -I -m runner",
	  { "C:\\Program Files\\Python312\\python.exe", "-I", "-m", "runner",
	    NULL } },
	{ "\"C:\\dir\\\" x", { "C:\\dir\\", "x", NULL } },
	{ "\\\\server\\share\\r.exe", { "\\\\server\\share\\r.exe", NULL } },
	{ "a\"b c\"d e", { "ab cd", "e", NULL } },
	{ "--dir=\"x y\"", { "--dir=x y", NULL } },
	{ "a \"\" b", { "a", "", "b", NULL } },
	{ "\"\"\"\"", { "", NULL } },
	{ "\"  \"", { "  ", NULL } },
	{ "h\xc3\xa9llo \"w\xc3\xb6 rld\"",
	  { "h\xc3\xa9llo", "w\xc3\xb6 rld", NULL } },
	{ "   ", { NULL } },
	{ "", { NULL } },
};

static void test_split_command(void **state)
{
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	char **argv = NULL;
	size_t i;
	int argc = -1;
	int k;

	(void)state;
	for (i = 0; i < TW_ARRAY_SIZE(split_cases); i++) {
		const struct split_case *c = &split_cases[i];

		assert_int_equal(
			plat_split_command(c->line, &argv, &argc, &err), 0);
		assert_non_null(argv);
		for (k = 0; c->words[k]; k++) {
			assert_non_null(argv[k]);
			assert_string_equal(argv[k], c->words[k]);
		}
		assert_null(argv[k]);
		assert_int_equal(argc, k);
		plat_argv_free(argv);
	}
	assert_int_equal(err.len, 0);

	/* An unclosed quote is refused, wherever it is. */
	assert_int_equal(plat_split_command("\"C:\\Program Files\\python.exe "
					    "-I",
					    &argv, &argc, &err),
			 TW_EINVAL);
	assert_null(argv);
	assert_int_equal(argc, 0);
	assert_string_equal(err.ptr, "a double quote is not closed (at byte 1 "
				     "of the command)");
	buf_reset(&err);
	assert_int_equal(plat_split_command("a \"b\" c\"", &argv, &argc, &err),
			 TW_EINVAL);
	assert_null(argv);
	assert_non_null(strstr(err.ptr, "at byte 8 "));
	assert_int_equal(plat_split_command("\"", &argv, &argc, NULL),
			 TW_EINVAL);
	plat_argv_free(NULL);
	buf_release(&err);
}

static void test_free_tcp_port(void **state)
{
	struct sockaddr_in sa;
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	int port = 0;
	int fd;

	(void)state;
	assert_int_equal(plat_free_tcp_port(&port, &err), 0);
	assert_true(port > 0 && port < 65536);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)port);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 1), 0);
	close(fd);
	buf_release(&err);
}

/* A socketpair: readable only once something was written to the other end. */
static void test_socket_wait(void **state)
{
	int sv[2];
	int64_t t0;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	t0 = plat_monotonic_ms();
	assert_int_equal(plat_socket_wait(sv[0], 100), 0);
	assert_true(plat_monotonic_ms() - t0 >= 90);
	assert_int_equal(write(sv[1], "x", 1), 1);
	assert_int_equal(plat_socket_wait(sv[0], 5000), 1);
	close(sv[0]);
	close(sv[1]);
}

static void test_host_and_cpus(void **state)
{
	struct buf host = BUF_INIT(1024);
	char want[256];

	(void)state;
	plat_hostname(&host);
	assert_int_equal(gethostname(want, sizeof(want)), 0);
	assert_string_equal(host.ptr, want);
	assert_int_equal(plat_cpu_count(), (int)sysconf(_SC_NPROCESSORS_ONLN));
	assert_true(plat_cpu_count() >= 1);
	buf_release(&host);
}

/* --- time --------------------------------------------------------------- */

static void test_time(void **state)
{
	int64_t t0, t1, sec;
	long nsec;
	struct tm tm;

	(void)state;
	t0 = plat_monotonic_ms();
	plat_sleep_ms(50);
	t1 = plat_monotonic_ms();
	assert_true(t1 - t0 >= 50);
	assert_true(t1 - t0 < 5000);

	plat_realtime(&sec, &nsec);
	assert_true(sec > 1700000000);
	assert_true(nsec >= 0 && nsec < 1000000000L);

	plat_gmtime(1700000000, &tm); /* 2023-11-14T22:13:20Z, a Tuesday */
	assert_int_equal(tm.tm_year, 123);
	assert_int_equal(tm.tm_mon, 10);
	assert_int_equal(tm.tm_mday, 14);
	assert_int_equal(tm.tm_hour, 22);
	assert_int_equal(tm.tm_min, 13);
	assert_int_equal(tm.tm_sec, 20);
	assert_int_equal(tm.tm_wday, 2);
	assert_int_equal(tm.tm_yday, 317);

	plat_gmtime(951782400, &tm); /* 2000-02-29T00:00:00Z */
	assert_int_equal(tm.tm_year, 100);
	assert_int_equal(tm.tm_mon, 1);
	assert_int_equal(tm.tm_mday, 29);
}

/* --- shutdown (each in a forked child) ---------------------------------- */

static void *request_later(void *arg)
{
	(void)arg;
	plat_sleep_ms(200);
	plat_shutdown_request();
	return NULL;
}

/* Exit code of a child that ran fn(), or -1 when it died. */
static int run_forked(int (*fn)(int), int sync_w)
{
	pid_t pid = fork();
	int wst;

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(fn(sync_w));
	assert_int_equal(waitpid(pid, &wst, 0), pid);
	return WIFEXITED(wst) ? WEXITSTATUS(wst) : -1;
}

static int child_request(int unused)
{
	pthread_t th;
	int64_t t0, took;

	(void)unused;
	if (plat_shutdown_init(NULL) != 0)
		return 10;
	if (plat_shutdown_wait(0))
		return 11; /* nothing asked yet */
	if (pthread_create(&th, NULL, request_later, NULL) != 0)
		return 12;
	t0 = plat_monotonic_ms();
	if (!plat_shutdown_wait(5000))
		return 13;
	took = plat_monotonic_ms() - t0;
	pthread_join(th, NULL);
	if (took < 150 || took > 1000)
		return 14;
	/* Sticky: later waits return at once. */
	t0 = plat_monotonic_ms();
	if (!plat_shutdown_wait(-1) || plat_monotonic_ms() - t0 > 50)
		return 15;
	return 0;
}

static void test_shutdown_request(void **state)
{
	(void)state;
	assert_int_equal(run_forked(child_request, -1), 0);
}

static int child_timeout(int unused)
{
	int64_t t0, took;

	(void)unused;
	if (plat_shutdown_init(NULL) != 0)
		return 10;
	t0 = plat_monotonic_ms();
	if (plat_shutdown_wait(250))
		return 11;
	took = plat_monotonic_ms() - t0;
	return took >= 240 && took < 1500 ? 0 : 12;
}

static void test_shutdown_wait_times_out(void **state)
{
	(void)state;
	assert_int_equal(run_forked(child_timeout, -1), 0);
}

static int child_signal(int sync_w)
{
	int64_t t0;

	if (plat_shutdown_init(NULL) != 0)
		return 10;
	/* Tell the parent the signals are blocked now. */
	if (write(sync_w, "r", 1) != 1)
		return 11;
	t0 = plat_monotonic_ms();
	if (!plat_shutdown_wait(5000))
		return 12;
	if (plat_monotonic_ms() - t0 > 4000)
		return 13;
	if (!plat_shutdown_wait(0))
		return 14;
	return 0;
}

static void test_shutdown_sigterm(void **state)
{
	int sync[2];
	pid_t pid;
	char c;
	int wst;

	(void)state;
	assert_int_equal(pipe(sync), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(sync[0]);
		_exit(child_signal(sync[1]));
	}
	close(sync[1]);
	assert_int_equal(read(sync[0], &c, 1), 1);
	close(sync[0]);
	plat_sleep_ms(100);
	assert_int_equal(kill(pid, SIGTERM), 0);
	assert_int_equal(waitpid(pid, &wst, 0), pid);
	/* Exited normally (the signal was taken, not fatal) with 0. */
	assert_true(WIFEXITED(wst));
	assert_int_equal(WEXITSTATUS(wst), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_mkdir_p_nested,
						setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_mkdir_p_under_file,
						setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_write_file_private,
						setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test_setup_teardown(
			test_write_file_private_failures_clean_up, setup_tmpdir,
			teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_read_file_cap,
						setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_rename_replaces,
						setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_open_read, setup_tmpdir,
						teardown_tmpdir),
		cmocka_unit_test(test_misc_facts),
		cmocka_unit_test(test_run_output_and_status),
		cmocka_unit_test_setup_teardown(test_run_missing_program,
						setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test(test_run_timeout),
		cmocka_unit_test(test_run_output_cap),
		cmocka_unit_test(test_run_leftover_daemon_does_not_block),
		cmocka_unit_test(test_run_child_environment),
		cmocka_unit_test(test_run_as_user),
		cmocka_unit_test_setup_teardown(test_chown_to_user,
						setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_find_program, setup_tmpdir,
						teardown_tmpdir),
		cmocka_unit_test(test_split_command),
		cmocka_unit_test(test_free_tcp_port),
		cmocka_unit_test(test_socket_wait),
		cmocka_unit_test(test_host_and_cpus),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_shutdown_request),
		cmocka_unit_test(test_shutdown_wait_times_out),
		cmocka_unit_test(test_shutdown_sigterm),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
