/*
 * arena.h - a region allocator with cleanup hooks (PostgreSQL's memory
 * contexts, nginx's pools).
 *
 * One arena lives for one HTTP request: created on the first access-handler
 * call, freed in the request-completed callback. Everything a handler
 * allocates comes from it, and resources that are not arena memory
 * (PGresult *, json_t *, file handles) are registered with arena_on_free(),
 * so handlers never free() request data and nothing leaks on an error path.
 */
#ifndef TW_CORE_ARENA_H
#define TW_CORE_ARENA_H

#include <stdarg.h>
#include <stddef.h>

#include "core/compat.h"

struct arena;

struct arena *arena_new(void);

/* Runs the cleanup hooks, newest first, then frees every block. */
void arena_free(struct arena *a);

/* Memory aligned for any type, zeroed; lives until arena_free(). */
void *arena_alloc(struct arena *a, size_t size);
char *arena_strdup(struct arena *a, const char *s);
char *arena_strndup(struct arena *a, const char *s, size_t n);
char *arena_printf(struct arena *a, const char *fmt, ...) TW_PRINTF(2, 3);

/* Calls fn(ptr) when the arena is freed. */
void arena_on_free(struct arena *a, void (*fn)(void *), void *ptr);

/* Total bytes handed out, for tests and metrics. */
size_t arena_used(const struct arena *a);

#endif
