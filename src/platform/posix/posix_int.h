/*
 * posix_int.h - what the POSIX process code shares: platform/posix's
 * plat_run() and sandbox/sandbox_posix.c both fork a child that reports an
 * exec failure through a CLOEXEC pipe. Only those two files include it.
 */
#ifndef TW_PLATFORM_POSIX_POSIX_INT_H
#define TW_PLATFORM_POSIX_POSIX_INT_H

#include <stdbool.h>
#include <sys/types.h>

#include "core/compat.h"

/* What a forked child writes to the report pipe when it cannot exec. */
struct plat__child_failure {
	int stage; /* the caller's own numbering of its set-up steps */
	int err;   /* errno */
};

/*
 * plat__close_fd_range() closes every descriptor in [lo, hi] (hi may be
 * INT_MAX): close_range(2) where Linux has it, else a loop. Async-signal-
 * safe: for a forked child before exec.
 */
void plat__close_fd_range(int lo, int hi);

/*
 * plat__child_fail() writes {stage, err} to the report pipe fd and exits
 * with 127. Async-signal-safe.
 */
TW_NORETURN void plat__child_fail(int fd, int stage, int err);

/*
 * plat__read_child_failure() waits for the child's exec: the report pipe
 * closes (CLOEXEC) when exec succeeded, or carries a failure. Returns true
 * and fills f when the child failed.
 */
bool plat__read_child_failure(int fd, struct plat__child_failure *f);

/*
 * plat__lookup_user() resolves a system user's name to its uid and primary
 * gid with the reentrant getpwnam_r(), in the parent before a fork (NSS
 * look-ups are not async-signal-safe). Returns 0, TW_ENOTFOUND when there
 * is no such user ("user \"x\" does not exist" in err), TW_EIO when the
 * look-up failed.
 */
struct buf;
int plat__lookup_user(const char *name, uid_t *uid, gid_t *gid,
		      struct buf *err);

#endif
