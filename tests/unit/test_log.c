#include "core/compat.h"

#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <regex.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/err.h"
#include "log/log.h"

static char dir[256];

/* Removes dir/sub recursively (two levels are all these tests create). */
static void remove_tree(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	char child[1024];

	if (!d) {
		unlink(path);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(child, sizeof(child), "%s/%s", path, e->d_name);
		remove_tree(child);
	}
	closedir(d);
	rmdir(path);
}

static int make_dir(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/tw_test_log_XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
	(void)state;
	log_close();
	log_level_current = LOG_INFO;
	remove_tree(dir);
	return 0;
}

/* Reads dir/name into out (replacing its content); false if missing. */
static bool read_log(const char *name, struct buf *out)
{
	char path[1024];
	char chunk[4096];
	FILE *fp;
	size_t n;

	buf_reset(out);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "rb");
	if (!fp)
		return false;
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		assert_int_equal(buf_add(out, chunk, n), 0);
	fclose(fp);
	return true;
}

static bool log_exists(const char *name)
{
	char path[1024];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return stat(path, &st) == 0;
}

static void open_logs(const char *sub, enum log_level level, size_t max_bytes,
		      int max_files)
{
	struct log_opts o;
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	char path[512];

	snprintf(path, sizeof(path), "%s%s", dir, sub);
	o.dir = path;
	o.level = level;
	o.max_bytes = max_bytes;
	o.max_files = max_files;
	o.to_stderr = false;
	if (log_open(&o, &err) != 0)
		fail_msg("log_open: %s", err.ptr);
	buf_release(&err);
}

/* Checks that text is whole lines, each matching the line format. */
static size_t check_lines(const char *text, const char *level, const char *chan)
{
	regex_t re;
	char pat[256];
	const char *p = text, *nl;
	char line[8192];
	size_t n = 0;

	snprintf(pat, sizeof(pat),
		 "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
		 "\\.[0-9]{3}Z %-5s \\[%s\\] [^\n]*$",
		 level, chan);
	assert_int_equal(regcomp(&re, pat, REG_EXTENDED | REG_NOSUB), 0);
	while (*p) {
		nl = strchr(p, '\n');
		assert_non_null(nl);
		assert_true((size_t)(nl - p) < sizeof(line));
		memcpy(line, p, (size_t)(nl - p));
		line[nl - p] = '\0';
		if (regexec(&re, line, 0, NULL, 0) != 0)
			fail_msg("bad log line: \"%s\"", line);
		n++;
		p = nl + 1;
	}
	regfree(&re);
	return n;
}

static void test_lines_and_format(void **state)
{
	struct buf b = BUF_INIT(1024 * 1024);

	(void)state;
	open_logs("/logs/nested", LOG_INFO, 1024 * 1024, 5);
	log_info(LOG_APP, "hello %d", 42);
	log_warn(LOG_WORKER, "job %s failed", "j1");
	log_error(LOG_SANDBOX, "killed after %ds", 60);
	log_info(LOG_APP, "second");
	log_close();

	assert_true(read_log("logs/nested/app.log", &b));
	assert_int_equal(check_lines(b.ptr, "INFO", "app"), 2);
	assert_non_null(strstr(b.ptr, "Z INFO  [app] hello 42\n"));
	assert_non_null(strstr(b.ptr, "Z INFO  [app] second\n"));
	assert_true(read_log("logs/nested/worker.log", &b));
	assert_int_equal(check_lines(b.ptr, "WARN", "worker"), 1);
	assert_non_null(strstr(b.ptr, "Z WARN  [worker] job j1 failed\n"));
	assert_true(read_log("logs/nested/sandbox.log", &b));
	assert_int_equal(check_lines(b.ptr, "ERROR", "sandbox"), 1);
	assert_non_null(strstr(b.ptr, "Z ERROR [sandbox] killed after 60s\n"));

	/* Reopening appends. */
	open_logs("/logs/nested", LOG_INFO, 1024 * 1024, 5);
	log_info(LOG_APP, "third");
	log_close();
	assert_true(read_log("logs/nested/app.log", &b));
	assert_int_equal(check_lines(b.ptr, "INFO", "app"), 3);
	buf_release(&b);
}

static void test_control_characters_escaped(void **state)
{
	struct buf b = BUF_INIT(1024 * 1024);

	(void)state;
	open_logs("", LOG_INFO, 1024 * 1024, 5);
	log_info(LOG_APP, "a\nb\r\nc\x01\x7f"
			  "d\te \xc3\xa9 \\n");
	log_close();
	assert_true(read_log("app.log", &b));
	assert_int_equal(check_lines(b.ptr, "INFO", "app"), 1);
	assert_non_null(strstr(b.ptr, "[app] a\\nb\\r\\nc\\x01\\x7fd\te "
				      "\xc3\xa9 \\n\n"));
	buf_release(&b);
}

static int side_effects;

static int bump(void)
{
	return ++side_effects;
}

static void test_level_filter_skips_arguments(void **state)
{
	struct buf b = BUF_INIT(1024 * 1024);

	(void)state;
	open_logs("", LOG_INFO, 1024 * 1024, 5);
	side_effects = 0;
	log_debug(LOG_APP, "not evaluated %d", bump());
	assert_int_equal(side_effects, 0);
	log_info(LOG_APP, "evaluated %d", bump());
	assert_int_equal(side_effects, 1);
	/* Called directly, log_write still drops a disabled level. */
	log_write(LOG_APP, LOG_DEBUG, "dropped");
	log_close();
	assert_true(read_log("app.log", &b));
	assert_int_equal(check_lines(b.ptr, "INFO", "app"), 1);
	assert_null(strstr(b.ptr, "dropped"));

	open_logs("", LOG_ERROR, 1024 * 1024, 5);
	log_warn(LOG_APP, "%d", bump());
	assert_int_equal(side_effects, 1);
	log_close();

	open_logs("", LOG_DEBUG, 1024 * 1024, 5);
	log_debug(LOG_APP, "now evaluated %d", bump());
	assert_int_equal(side_effects, 2);
	log_close();
	assert_true(read_log("app.log", &b));
	assert_non_null(strstr(b.ptr, "Z DEBUG [app] now evaluated 2\n"));
	buf_release(&b);
}

static void test_parse_level(void **state)
{
	enum log_level l = LOG_INFO;

	(void)state;
	assert_int_equal(log_parse_level("error", &l), 0);
	assert_int_equal(l, LOG_ERROR);
	assert_int_equal(log_parse_level("WARN", &l), 0);
	assert_int_equal(l, LOG_WARN);
	assert_int_equal(log_parse_level("info", &l), 0);
	assert_int_equal(l, LOG_INFO);
	assert_int_equal(log_parse_level("debug", &l), 0);
	assert_int_equal(l, LOG_DEBUG);
	assert_int_equal(log_parse_level("verbose", &l), TW_EINVAL);
	assert_int_equal(log_parse_level("inf", &l), TW_EINVAL);
	assert_int_equal(log_parse_level("", &l), TW_EINVAL);
	assert_int_equal(l, LOG_DEBUG);
}

static void test_rotation(void **state)
{
	struct buf b = BUF_INIT(1024 * 1024);
	const char *names[] = { "app.log", "app.log.1", "app.log.2" };
	size_t i, lines = 0;
	int n;

	(void)state;
	open_logs("", LOG_INFO, 1024, 3);
	for (n = 0; n < 300; n++)
		log_info(LOG_APP, "line %03d of the rotation test", n);
	log_close();
	for (i = 0; i < TW_ARRAY_SIZE(names); i++) {
		assert_true(read_log(names[i], &b));
		assert_true(b.len <= 1024);
		/* A rotated file was full: one more line would not fit. */
		if (i > 0)
			assert_true(b.len > 1024 - 80);
		lines += check_lines(b.ptr, "INFO", "app");
	}
	assert_false(log_exists("app.log.3"));
	assert_false(log_exists("app.log.0"));
	/* The newest lines are in app.log, the oldest kept in app.log.2. */
	assert_true(read_log("app.log", &b));
	assert_non_null(strstr(b.ptr, "line 299 "));
	assert_true(read_log("app.log.2", &b));
	assert_null(strstr(b.ptr, "line 299 "));
	assert_true(lines < 300);

	/* Reopened later, the size already on disk counts. */
	open_logs("", LOG_INFO, 1024, 3);
	log_info(LOG_APP, "after reopening");
	for (n = 0; n < 40; n++)
		log_info(LOG_APP, "more %03d", n);
	log_close();
	assert_false(log_exists("app.log.3"));
	assert_true(read_log("app.log", &b));
	assert_true(b.len <= 1024);

	/* max_files 1: no rotated files at all. */
	open_logs("/one", LOG_INFO, 1024, 1);
	for (n = 0; n < 100; n++)
		log_info(LOG_WORKER, "line %03d", n);
	log_close();
	assert_true(read_log("one/worker.log", &b));
	assert_true(b.len <= 1024);
	check_lines(b.ptr, "INFO", "worker");
	assert_false(log_exists("one/worker.log.1"));
	assert_false(log_exists("one/worker.log.0"));
	buf_release(&b);
}

/*
 * A log directory whose name is UTF-8 beyond ASCII ("logs-é中"): created,
 * written and rotated under exactly that name. The Wine smoke test
 * (tests/win/smoke_plat.c) does the same on Windows, where it is the case
 * that needs the wide-character API.
 */
static void test_non_ascii_directory(void **state)
{
	struct buf b = BUF_INIT(1024 * 1024);
	int n;

	(void)state;
	open_logs("/logs-\xc3\xa9\xe4\xb8\xad", LOG_INFO, 4096, 2);
	for (n = 0; n < 100; n++)
		log_info(LOG_APP, "caf\xc3\xa9 line %03d", n);
	log_close();
	assert_true(log_exists("logs-\xc3\xa9\xe4\xb8\xad/worker.log"));
	assert_true(read_log("logs-\xc3\xa9\xe4\xb8\xad/app.log.1", &b));
	assert_true(read_log("logs-\xc3\xa9\xe4\xb8\xad/app.log", &b));
	assert_non_null(strstr(b.ptr, "INFO  [app] caf\xc3\xa9 line 099\n"));
	check_lines(b.ptr, "INFO", "app");
	buf_release(&b);
}

#define NTHREADS 4
#define PER_THREAD 4000

static void *writer(void *arg)
{
	int t = (int)(intptr_t)arg, i;

	for (i = 0; i < PER_THREAD; i++)
		log_info(LOG_APP, "thread %d seq %05d %s", t, i,
			 "padding padding padding padding padding");
	return NULL;
}

static void test_concurrent_whole_lines(void **state)
{
	pthread_t th[NTHREADS];
	struct buf b = BUF_INIT(64 * 1024 * 1024);
	struct buf all = BUF_INIT(64 * 1024 * 1024);
	static bool seen[NTHREADS][PER_THREAD];
	char name[64];
	const char *p;
	int i, t, seq, files = 0;
	size_t lines = 0;

	(void)state;
	open_logs("", LOG_INFO, 64 * 1024, 100);
	for (i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, writer,
						(void *)(intptr_t)i),
				 0);
	for (i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	log_close();

	for (i = 0; i < 100; i++) {
		if (i)
			snprintf(name, sizeof(name), "app.log.%d", i);
		else
			snprintf(name, sizeof(name), "app.log");
		if (!read_log(name, &b))
			break;
		files++;
		assert_true(b.len <= 64 * 1024);
		lines += check_lines(b.ptr, "INFO", "app");
		assert_int_equal(buf_add(&all, b.ptr, b.len), 0);
	}
	assert_true(files > 2);
	assert_int_equal(lines, NTHREADS * PER_THREAD);
	memset(seen, 0, sizeof(seen));
	for (p = strstr(all.ptr, "] thread "); p; p = strstr(p + 1, "] "
								    "thread"
								    " ")) {
		assert_int_equal(sscanf(p, "] thread %d seq %d", &t, &seq), 2);
		assert_true(t >= 0 && t < NTHREADS && seq >= 0 &&
			    seq < PER_THREAD);
		assert_false(seen[t][seq]);
		seen[t][seq] = true;
	}
	for (t = 0; t < NTHREADS; t++) {
		for (seq = 0; seq < PER_THREAD; seq++)
			assert_true(seen[t][seq]);
	}
	buf_release(&b);
	buf_release(&all);
}

static void test_open_failures(void **state)
{
	struct log_opts o;
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	char path[512], want[1024];
	FILE *fp;

	(void)state;
	/* A directory under a regular file cannot be created. */
	snprintf(path, sizeof(path), "%s/file", dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fclose(fp);
	snprintf(path, sizeof(path), "%s/file/logs", dir);
	o.dir = path;
	o.level = LOG_INFO;
	o.max_bytes = 1024;
	o.max_files = 2;
	o.to_stderr = false;
	assert_int_equal(log_open(&o, &err), TW_EIO);
	snprintf(want, sizeof(want),
		 "could not create directory \"%s\": Not a directory", path);
	assert_string_equal(err.ptr, want);

	/* A log file that is a directory cannot be opened. */
	buf_reset(&err);
	snprintf(path, sizeof(path), "%s/logs", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/logs/worker.log", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/logs", dir);
	assert_int_equal(log_open(&o, &err), TW_EIO);
	snprintf(want, sizeof(want),
		 "could not open log file \"%s/logs/worker.log\": Is a "
		 "directory",
		 dir);
	assert_string_equal(err.ptr, want);
	buf_release(&err);
}

/* The sandbox must not inherit a writable log (Linux: via /proc). */
static void test_files_not_inherited(void **state)
{
	DIR *d;
	struct dirent *e;
	char link[300], target[1024];
	ssize_t n;
	int fd, found = 0;

	(void)state;
	d = opendir("/proc/self/fd");
	if (!d) {
		skip();
		return;
	}
	open_logs("", LOG_INFO, 1024 * 1024, 5);
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(link, sizeof(link), "/proc/self/fd/%s", e->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (strncmp(target, dir, strlen(dir)) != 0 ||
		    !strstr(target, ".log"))
			continue;
		fd = atoi(e->d_name);
		assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
		found++;
	}
	closedir(d);
	log_close();
	assert_int_equal(found, 3);
}

/* Runs fn with fd 2 sent to dir/stderr.txt and returns what it wrote. */
static void capture_stderr(void (*fn)(void), struct buf *out)
{
	char path[512];
	int saved, fd;

	snprintf(path, sizeof(path), "%s/stderr.txt", dir);
	fflush(stderr);
	saved = dup(2);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(saved >= 0 && fd >= 0);
	dup2(fd, 2);
	close(fd);
	fn();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	assert_true(read_log("stderr.txt", out));
}

static void before_open(void)
{
	log_warn(LOG_WORKER, "before %s", "open");
	log_debug(LOG_WORKER, "filtered");
}

static void crash(void)
{
	log_crash("segfault\nin worker");
}

static void test_stderr_and_crash(void **state)
{
	struct buf b = BUF_INIT(1024 * 1024);

	(void)state;
	capture_stderr(before_open, &b);
	assert_int_equal(check_lines(b.ptr, "WARN", "worker"), 1);
	assert_non_null(strstr(b.ptr, "Z WARN  [worker] before open\n"));

	open_logs("", LOG_INFO, 1024 * 1024, 5);
	log_info(LOG_APP, "running");
	capture_stderr(crash, &b);
	assert_int_equal(check_lines(b.ptr, "FATAL", "app"), 1);
	assert_non_null(strstr(b.ptr, "Z FATAL [app] segfault?in worker\n"));
	log_close();
	assert_true(read_log("app.log", &b));
	assert_non_null(strstr(b.ptr, "Z INFO  [app] running\n"));
	assert_non_null(strstr(b.ptr, "Z FATAL [app] segfault?in worker\n"));
	buf_release(&b);
}

static void test_long_message_cut(void **state)
{
	struct buf b = BUF_INIT(1024 * 1024);
	struct buf big = BUF_INIT(200 * 1024);

	(void)state;
	while (big.len < 100 * 1024)
		buf_adds(&big, "0123456789");
	open_logs("", LOG_INFO, 1024 * 1024, 5);
	log_info(LOG_APP, "%s", big.ptr);
	log_close();
	assert_true(read_log("app.log", &b));
	assert_non_null(strstr(b.ptr, " [36864 bytes cut]\n"));
	assert_true(b.len < 66 * 1024);
	buf_release(&b);
	buf_release(&big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lines_and_format, make_dir,
						remove_dir),
		cmocka_unit_test_setup_teardown(test_control_characters_escaped,
						make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(
			test_level_filter_skips_arguments, make_dir,
			remove_dir),
		cmocka_unit_test(test_parse_level),
		cmocka_unit_test_setup_teardown(test_non_ascii_directory,
						make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_rotation, make_dir,
						remove_dir),
		cmocka_unit_test_setup_teardown(test_concurrent_whole_lines,
						make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_open_failures, make_dir,
						remove_dir),
		cmocka_unit_test_setup_teardown(test_stderr_and_crash, make_dir,
						remove_dir),
		cmocka_unit_test_setup_teardown(test_long_message_cut, make_dir,
						remove_dir),
		cmocka_unit_test_setup_teardown(test_files_not_inherited,
						make_dir, remove_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
