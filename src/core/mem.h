/*
 * mem.h - the one allocation path of Tablewright.
 *
 * xmalloc() and friends never return NULL: running out of memory calls the
 * out-of-memory handler, which by default prints a line and aborts (git's
 * wrapper.c). Call sites therefore skip NULL checks. Growth driven by client
 * input is capped elsewhere (struct buf) and reported as TW_ETOOBIG, so an
 * attacker cannot reach this abort path by sending large requests.
 *
 * Tests can make the Nth allocation fail (curl's torture tests, SQLite's
 * test_malloc.c) and install their own handler to observe it.
 */
#ifndef TW_CORE_MEM_H
#define TW_CORE_MEM_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/*
 * mem_fail_after() makes the allocation n allocations from now fail (n = 1:
 * the next one); 0 disarms. For tests only.
 */
void mem_fail_after(unsigned long n);

/*
 * mem_set_oom_handler() replaces what happens when an allocation fails. The
 * handler must not return (it aborts or longjmps). NULL restores the default.
 */
void mem_set_oom_handler(void (*handler)(size_t size));

#endif
