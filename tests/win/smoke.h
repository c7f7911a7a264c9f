/*
 * smoke.h - the check harness the Windows smoke tests share (smoke.c):
 * "ok - ..." / "not ok - ... (line N: expr)" / "skip - ..." lines and a
 * summary, read by tests/win/run_smoke.sh and scripts/test.sh.
 */
#ifndef TW_TESTS_WIN_SMOKE_H
#define TW_TESTS_WIN_SMOKE_H

#include <stdbool.h>

#include "core/compat.h"

#define CHECK(cond, ...) smoke_check((cond), #cond, __LINE__, __VA_ARGS__)

void smoke_check(bool ok, const char *expr, int line, const char *fmt, ...)
	TW_PRINTF(4, 5);

/* A check that cannot be made here, with the reason. */
void smoke_skip(const char *fmt, ...) TW_PRINTF(1, 2);

/*
 * Prints "N passed, N failed" (", N skipped" when any was) and returns the
 * exit status: 1 when a check failed, else 0.
 */
int smoke_summary(void);

#endif
