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

/*
 * str_utf8_clean() appends s[0..len) to out with every byte that is not
 * part of a well-formed UTF-8 sequence (overlong forms, surrogates and
 * code points past U+10FFFF included), and every NUL, replaced by U+FFFD:
 * text from a child process, made fit for a text column and for JSON.
 * Returns buf_add()'s result.
 */
struct buf;
int str_utf8_clean(struct buf *out, const char *s, size_t len);

/* Case-insensitive ASCII comparison. */
bool str_eq_nocase(const char *a, const char *b);

#endif
