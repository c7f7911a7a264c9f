/*
 * sbx_tool.c - the sandbox monitor from the outside, for the psutil
 * cross-check (tests/integration/test_sandbox_psutil.py):
 *
 *	sbx_tool sample SECONDS INTERVAL_MS SANDBOX_DIR -- PROGRAM [ARG...]
 *
 * spawns PROGRAM (an absolute path) under sbx_spawn() with no limits,
 * prints "pid PID" once, then one line "PID CPU_PERCENT RSS_BYTES
 * CPU_SECONDS WALL_MS" per sbx_poll() sample every INTERVAL_MS for
 * SECONDS, then "end"; it kills the child only once its stdin reaches end
 * of input, so the test's own reading of the last sample never sees a
 * killed (zombie) child. Output is line-buffered so the test reads each
 * sample as it happens.
 */
#include "core/compat.h"
#include "core/buf.h"
#include "platform/plat.h"
#include "sandbox/sandbox.h"

static const char *const allow[] = { "PATH", "LANG", NULL };

int main(int argc, char **argv)
{
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct sbx_opts o;
	struct sbx_child *c = NULL;
	struct sbx_sample s;
	struct sbx_exit ex;
	double seconds;
	int64_t interval, start;
	int rc = 1;

	if (argc < 7 || strcmp(argv[1], "sample") != 0 ||
	    strcmp(argv[5], "--") != 0) {
		fprintf(stderr, "usage: sbx_tool sample SECONDS INTERVAL_MS "
				"SANDBOX_DIR -- PROGRAM [ARG...]\n");
		goto out;
	}
	seconds = strtod(argv[2], NULL);
	interval = strtoll(argv[3], NULL, 10);
	memset(&o, 0, sizeof(o));
	o.argv = (const char *const *)&argv[6];
	o.sandbox_dir = argv[4];
	o.job_id = plat_getpid();
	o.env_allow = allow;
	if (sbx_spawn(&o, &c, &err) != 0) {
		fprintf(stderr, "sbx_tool: %s\n", err.ptr);
		goto out;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("pid %ld\n", sbx_child_pid(c));
	start = plat_monotonic_ms();
	sbx_poll(c, &s); /* the baseline */
	while (plat_monotonic_ms() - start < (int64_t)(seconds * 1000)) {
		plat_sleep_ms(interval);
		if (sbx_poll(c, &s) != SBX_RUNNING)
			break;
		printf("%ld %.2f %lld %.3f %lld\n", sbx_child_pid(c),
		       s.cpu_percent, (long long)s.rss_bytes, s.cpu_seconds,
		       (long long)s.wall_ms);
	}
	printf("end\n");
	while (getchar() != EOF)
		;
	sbx_kill(c, SBX_CANCELLED);
	sbx_wait(c, -1, &ex, NULL);
	rc = 0;
out:
	sbx_child_free(c);
	buf_release(&err);
	return rc;
}
