/*
 * sandbox.c - the portable half of the supervisor: outcome names, the limit
 * decisions (sbx__judge) and the job directory. Everything that touches a
 * process is in sandbox_posix.c or sandbox_win.c; see
 * docs/internals/sandbox.md.
 */
#include "core/compat.h"
#include "core/err.h"
#include "core/mem.h"
#include "platform/plat.h"
#include "sandbox/sandbox.h"
#include "sandbox/sandbox_int.h"

const char *sbx_outcome_name(enum sbx_outcome o)
{
	const char *name = "unknown";

	switch (o) {
	case SBX_RUNNING:
		name = "running";
		break;
	case SBX_EXITED:
		name = "exited";
		break;
	case SBX_KILLED_TIMEOUT:
		name = "killed:timeout";
		break;
	case SBX_KILLED_MEMORY:
		name = "killed:memory";
		break;
	case SBX_KILLED_CPU:
		name = "killed:cpu";
		break;
	case SBX_CRASHED:
		name = "crashed";
		break;
	case SBX_CANCELLED:
		name = "cancelled";
		break;
	}
	return name;
}

/* The average CPU % of run up to sample s (0 for an empty run). */
static double run_percent(const struct sbx__cpu_run *run,
			  const struct sbx_sample *s)
{
	int64_t ms = s->wall_ms - run->since_ms;

	if (run->since_ms < 0 || ms <= 0)
		return 0;
	return 100.0 * (s->cpu_seconds - run->since_cpu) * 1000.0 / (double)ms;
}

enum sbx_outcome sbx__judge(const struct sbx_limits *l,
			    const struct sbx_sample *s,
			    struct sbx__cpu_run *run)
{
	enum sbx_outcome why = SBX_RUNNING;
	bool cpu_check = l->cpu_percent > 0 && l->cpu_grace_ms > 0;

	if (l->wall_ms > 0 && s->wall_ms >= l->wall_ms) {
		why = SBX_KILLED_TIMEOUT;
		goto out;
	}
	if (l->memory_bytes > 0 && (s->rss_bytes > l->memory_bytes ||
				    s->commit_bytes > l->memory_bytes)) {
		why = SBX_KILLED_MEMORY;
		goto out;
	}
	if (cpu_check && run->since_ms >= 0 &&
	    run_percent(run, s) > l->cpu_percent) {
		if (s->wall_ms - run->since_ms >= l->cpu_grace_ms) {
			why = SBX_KILLED_CPU;
			goto out;
		}
	} else if (cpu_check && s->cpu_percent > l->cpu_percent) {
		/* A new run, or one whose average fell below the limit
		 * starting again from here. */
		run->since_ms = s->wall_ms;
		run->since_cpu = s->cpu_seconds;
	} else {
		run->since_ms = -1;
	}
	if (l->cpu_seconds > 0 &&
	    s->cpu_seconds >= (double)(l->cpu_seconds + SBX__CPU_TREE_SLACK_S))
		why = SBX_KILLED_CPU;
out:
	return why;
}

int64_t sbx__os_memory_limit(int64_t memory_bytes)
{
	int64_t extra;

	if (memory_bytes <= 0)
		return 0;
	extra = memory_bytes / 4;
	if (extra < (int64_t)64 * 1024 * 1024)
		extra = (int64_t)64 * 1024 * 1024;
	if (memory_bytes > INT64_MAX - extra)
		return INT64_MAX;
	return memory_bytes + extra;
}

int sbx__job_dir(const char *sandbox_dir, int64_t job_id, struct buf *out,
		 struct buf *err)
{
	size_t n;
	int rc = 0;

	if (!sandbox_dir || !*sandbox_dir || job_id < 0) {
		buf_errf(err, "invalid sandbox directory or job id");
		rc = TW_EINVAL;
		goto out;
	}
	n = strlen(sandbox_dir);
	while (n > 1 &&
	       (sandbox_dir[n - 1] == '/' || sandbox_dir[n - 1] == TW_PATH_SEP))
		n--;
	rc = buf_addf(out, "%.*s%c%" PRId64, (int)n, sandbox_dir, TW_PATH_SEP,
		      job_id);
	if (rc < 0)
		buf_errf(err, "sandbox directory path too long");
out:
	return rc;
}

/* A dir_name sbx_opts allows: [A-Za-z0-9_-]{1,64}, not only digits. */
static bool dir_name_valid(const char *name)
{
	bool digits_only = true;
	size_t n = 0;

	for (const char *p = name; *p; p++, n++) {
		char ch = *p;

		if (ch >= '0' && ch <= '9')
			continue;
		digits_only = false;
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      ch == '-' || ch == '_'))
			return false;
	}
	return n > 0 && n <= 64 && !digits_only;
}

int sbx__child_dir(const struct sbx_opts *opts, struct buf *out,
		   struct buf *err)
{
	const char *dir = opts->sandbox_dir;
	size_t n;
	int rc;

	if (!opts->dir_name)
		return sbx__job_dir(dir, opts->job_id, out, err);
	if (!dir || !*dir || !dir_name_valid(opts->dir_name)) {
		buf_errf(err, "invalid sandbox directory or directory name");
		return TW_EINVAL;
	}
	n = strlen(dir);
	while (n > 1 && (dir[n - 1] == '/' || dir[n - 1] == TW_PATH_SEP))
		n--;
	rc = buf_addf(out, "%.*s%c%s", (int)n, dir, TW_PATH_SEP,
		      opts->dir_name);
	if (rc < 0)
		buf_errf(err, "sandbox directory path too long");
	return rc;
}

int sbx__make_job_dir(const char *dir, struct buf *err)
{
	int rc;

	/* A leftover means a worker died before cleaning up; its content
	 * belongs to another run and must not be visible to this one. */
	rc = plat_remove_tree(dir, err);
	if (rc < 0)
		goto out;
	rc = plat_mkdir_p(dir, err);
out:
	return rc;
}

/* The venv's interpreter, as POSIX and Windows lay a venv out. */
const char *const sbx_runner_env_allow[] = {
	"PATH",	      "LANG",	     "LC_ALL", "LC_CTYPE", "TZ",
	"SYSTEMROOT", "SYSTEMDRIVE", "WINDIR", NULL,
};

const char *const sbx_runner_env_extra[] = {
	"OMP_NUM_THREADS=1",
	"OPENBLAS_NUM_THREADS=1",
	"MKL_NUM_THREADS=1",
	"PYTHONUNBUFFERED=1",
	"PYTHONDONTWRITEBYTECODE=1",
	"PYTHONUTF8=1",
	NULL,
};

/* Where make deps puts the sandbox venv, and its interpreter inside it. */
static const struct {
	const char *venv;
	const char *python;
} venv_python[] = {
	{ "sandbox/.venv", "bin/python" },
	{ "sandbox\\.venv", "Scripts\\python.exe" },
};

/*
 * The venv's interpreter in the executable's directory's parent (a build
 * directory inside the checkout) or in that directory, into out (the
 * candidates tried go to tried); false if none exists. The venv's own
 * directory is resolved (plat_real_dir()): sandbox/.venv may be a link to
 * a place the sandbox user can reach when the checkout is not (make deps
 * does that for a checkout under a private home). Only the directory: the
 * interpreter itself is a link out of the venv, to the base Python, which
 * would start without the venv's packages.
 */
static bool find_venv_python(const char *dir, struct buf *out,
			     struct buf *tried)
{
	const char *slash = strrchr(dir, TW_PATH_SEP);
	const char *fwd = strrchr(dir, '/');
	struct buf venv = BUF_INIT(8192);
	struct buf real = BUF_INIT(8192);
	struct buf ignored = BUF_INIT(BUF_SMALL_CAP);
	bool found = false;
	int parent_len;

	if (fwd > slash)
		slash = fwd;
	parent_len = slash ? (int)(slash - dir) : -1;
	for (int up = 1; up >= 0 && !found; up--) {
		if (up && parent_len < 0)
			continue;
		for (size_t i = 0; i < TW_ARRAY_SIZE(venv_python); i++) {
			buf_reset(&venv);
			buf_addf(&venv, "%.*s%c%s",
				 up ? parent_len : (int)strlen(dir), dir,
				 TW_PATH_SEP, venv_python[i].venv);
			buf_reset(out);
			buf_addf(out, "%s%c%s", venv.ptr, TW_PATH_SEP,
				 venv_python[i].python);
			if (!plat_is_file(out->ptr)) {
				if (i == 0)
					buf_addf(tried, "%s\"%s\"",
						 tried->len ? ", " : "",
						 out->ptr);
				continue;
			}
			found = true;
			buf_reset(&ignored);
			if (plat_real_dir(venv.ptr, &real, &ignored) == 0) {
				buf_reset(out);
				buf_addf(out, "%s%c%s", real.ptr, TW_PATH_SEP,
					 venv_python[i].python);
			}
			break;
		}
	}
	buf_release(&venv);
	buf_release(&real);
	buf_release(&ignored);
	return found;
}

int sbx_runner_argv(const char *python, char ***argv, struct buf *err)
{
	static const char *const tail[] = { "-I", "-m", "tablewright_runner" };
	struct buf dir = BUF_INIT(4096);
	struct buf path = BUF_INIT(8192);
	struct buf tried = BUF_INIT(16384);
	char **v;
	int rc = 0;

	*argv = NULL;
	if (python && *python) {
		if (!plat_is_file(python)) {
			buf_errf(err,
				 "TW_PYTHON names \"%s\", which is not a file",
				 python);
			rc = TW_ENOTFOUND;
			goto out;
		}
		buf_adds(&path, python);
	} else {
		rc = plat_exe_dir(&dir, err);
		if (rc < 0)
			goto out;
		if (!find_venv_python(dir.ptr, &path, &tried)) {
			buf_errf(err,
				 "no Python for the sandbox runner: none of %s "
				 "exists; run make deps (it makes "
				 "sandbox/.venv), or set TW_PYTHON to the "
				 "interpreter of a virtual environment that "
				 "has the runner's packages",
				 tried.ptr);
			rc = TW_ENOTFOUND;
			goto out;
		}
	}
	v = xcalloc(2 + sizeof(tail) / sizeof(tail[0]), sizeof(*v));
	v[0] = xstrdup(path.ptr);
	for (size_t i = 0; i < sizeof(tail) / sizeof(tail[0]); i++)
		v[i + 1] = xstrdup(tail[i]);
	*argv = v;
out:
	buf_release(&dir);
	buf_release(&path);
	buf_release(&tried);
	return rc;
}
