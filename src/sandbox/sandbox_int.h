/*
 * sandbox_int.h - what sandbox.c shares with sandbox_posix.c and
 * sandbox_win.c (the libpq-fe.h / libpq-int.h split). The limit decisions
 * live here as pure functions so the unit tests can drive them with made-up
 * samples, without a child.
 */
#ifndef TW_SANDBOX_SANDBOX_INT_H
#define TW_SANDBOX_SANDBOX_INT_H

#include <stdint.h>

#include "core/buf.h"
#include "sandbox/sandbox.h"

/*
 * The monitor's own CPU-time check sits this far above limits.cpu_seconds:
 * the per-process OS backstop (RLIMIT_CPU, the job's user-time limit) fires
 * first and is the normal path, while this check catches a tree that
 * spreads its CPU time over several processes, none of which reaches the
 * per-process limit.
 */
#define SBX__CPU_TREE_SLACK_S 2

/*
 * A run of CPU-heavy samples, for the runaway check: since_ms is the
 * wall_ms of its first sample above the limit (-1: no run), since_cpu the
 * CPU seconds at that sample.
 */
struct sbx__cpu_run {
	int64_t since_ms;
	double since_cpu;
};

#define SBX__CPU_RUN_INIT \
	{                 \
		-1, 0     \
	}

/*
 * sbx__judge() decides whether sample s passes limits l. It returns
 * SBX_RUNNING when it does, otherwise the SBX_KILLED_* outcome to kill
 * with, checked in this order: wall time, memory (resident or committed
 * above memory_bytes), CPU runaway, the tree's CPU time.
 *
 * CPU runaway needs cpu_percent > 0 and cpu_grace_ms > 0. A run starts at
 * the first sample above cpu_percent; once it lasts cpu_grace_ms, the child
 * is a runaway when its average CPU % over the run is above cpu_percent.
 * The average, not every single sample, decides, because one sample of
 * 100 ms holds only about ten clock ticks: a child at 100 % reads 90 % now
 * and then, and a busy machine steals a slice from time to time, neither of
 * which should restart the grace. While the run's average is at or below
 * the limit, a sample above it starts the run afresh and one at or below
 * it ends the run.
 */
enum sbx_outcome sbx__judge(const struct sbx_limits *l,
			    const struct sbx_sample *s,
			    struct sbx__cpu_run *run);

/*
 * sbx__os_memory_limit() is the OS memory limit (RLIMIT_DATA, the job's
 * process memory limit) for a monitor limit of memory_bytes: a quarter
 * higher, and at least 64 MiB higher. The monitor acts at memory_bytes and
 * classifies the kill as SBX_KILLED_MEMORY; the OS limit is the hard
 * ceiling for a child that grows faster than one sample interval, where an
 * allocation then fails inside the child. 0 stays 0 (no limit).
 */
int64_t sbx__os_memory_limit(int64_t memory_bytes);

/*
 * sbx__job_dir() appends "<sandbox_dir>/<job_id>" to out. TW_EINVAL for an
 * empty sandbox_dir or a negative job_id, TW_ETOOBIG past out's cap.
 */
int sbx__job_dir(const char *sandbox_dir, int64_t job_id, struct buf *out,
		 struct buf *err);

/*
 * sbx__child_dir() is the directory of the child opts describes: the one
 * of opts->dir_name when set (TW_EINVAL for a name sbx_opts refuses),
 * else sbx__job_dir()'s.
 */
int sbx__child_dir(const struct sbx_opts *opts, struct buf *out,
		   struct buf *err);

/*
 * sbx__make_job_dir() creates dir afresh: its parents as needed, a
 * leftover from an earlier run removed first (a crashed worker's), then
 * the directory itself. 0 or a TW_E* code with the reason in err.
 */
int sbx__make_job_dir(const char *dir, struct buf *err);

#endif
