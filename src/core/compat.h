/*
 * compat.h - the first include of every .c file in Tablewright.
 *
 * It pulls in the system headers every module may use, sets the feature
 * macros once (so that no other file has to know which platform it is built
 * for) and finally includes banned.h, which poisons the unsafe libc string
 * functions. Platform-specific code lives in src/platform/{posix,win} and
 * src/sandbox/sandbox_{posix,win}.c only; this header is the one other place
 * that looks at _WIN32, as git's git-compat-util.h does.
 */
#ifndef TW_CORE_COMPAT_H
#define TW_CORE_COMPAT_H

#ifdef _WIN32
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef _WIN32_WINNT
#define _WIN32_WINNT 0x0A00 /* Windows 10 / Server 2016 */
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif
/* C99 printf (%zu, %lld) from mingw-w64's own stdio, not msvcrt's. */
#ifndef __USE_MINGW_ANSI_STDIO
#define __USE_MINGW_ANSI_STDIO 1
#endif
#define TW_PATH_SEP '\\'
#else
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#define TW_PATH_SEP '/'
#endif

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__MINGW32__)
/* Check formats against the C99 stdio selected above, not msvcrt's. */
#define TW_PRINTF(fmt, args) \
	__attribute__((format(__MINGW_PRINTF_FORMAT, fmt, args)))
#define TW_NORETURN __attribute__((noreturn))
#define TW_UNUSED __attribute__((unused))
#elif defined(__GNUC__) || defined(__clang__)
#define TW_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define TW_NORETURN __attribute__((noreturn))
#define TW_UNUSED __attribute__((unused))
#else
#define TW_PRINTF(fmt, args)
#define TW_NORETURN
#define TW_UNUSED
#endif

#define TW_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/*
 * TW_BUG() reports a programmer error (an impossible state, a broken
 * contract) and aborts, as git's BUG() does. It is never used for bad input.
 */
TW_NORETURN void tw_bug_fl(const char *file, int line, const char *fmt, ...)
	TW_PRINTF(3, 4);
#define TW_BUG(...) tw_bug_fl(__FILE__, __LINE__, __VA_ARGS__)

#include "core/banned.h"

#endif
