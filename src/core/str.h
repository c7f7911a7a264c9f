/*
 * str.h - small string helpers shared by every module (libc only).
 */
#ifndef TW_CORE_STR_H
#define TW_CORE_STR_H

#include <stdbool.h>
#include <stddef.h>

/*
 * str_ident_valid() says whether name matches ^[A-Za-z_][A-Za-z0-9_]{0,62}$,
 * the rule every SQL identifier must pass before it is quoted.
 */
bool str_ident_valid(const char *name);

bool str_starts_with(const char *s, const char *prefix);
bool str_ends_with(const char *s, const char *suffix);

/*
 * str_to_long() parses a whole base-10 integer in [min, max]: no leading
 * or trailing junk, no empty string. 0 or TW_EINVAL.
 */
int str_to_long(const char *s, long min, long max, long *out);

/* Case-insensitive ASCII comparison. */
bool str_eq_nocase(const char *a, const char *b);

#endif
