/*
 * str.h - small string helpers shared by every module (libc only).
 */
#ifndef TW_CORE_STR_H
#define TW_CORE_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
 * str_utf8_decode() is Tablewright's one UTF-8 decoder. It reads the
 * sequence at s, of which n >= 1 bytes may be read, and returns its length
 * (1 to 4) with its code point in *cp (cp may be NULL), or 0 when the bytes
 * at s start no well-formed sequence: a continuation byte, 0xC0, 0xC1 and
 * 0xF5-0xFF, an overlong form, a surrogate (U+D800-U+DFFF), a code point
 * past U+10FFFF, or a sequence that n cuts short (RFC 3629; table 3-7 of
 * the Unicode standard, which also gives the sequence's length from its
 * first byte alone). U+0000 is a one-byte sequence like any ASCII
 * character: callers that refuse NUL check for it themselves.
 */
size_t str_utf8_decode(const char *s, size_t n, uint32_t *cp);

/* Whether all n bytes at s are well-formed UTF-8 (NUL allowed). */
bool str_utf8_valid(const char *s, size_t n);

/*
 * str_utf8_valid_prefix() returns how many of the n bytes at s are
 * well-formed UTF-8 from the start: n when all are, else the offset of the
 * first bad sequence. Runs of ASCII go eight bytes at a time (the data
 * path checks every text value of every batch with it).
 */
size_t str_utf8_valid_prefix(const char *s, size_t n);

/*
 * str_utf8_clean() appends s[0..len) to out with every byte that is not
 * part of a well-formed UTF-8 sequence (overlong forms, surrogates and
 * code points past U+10FFFF included), and every NUL, replaced by U+FFFD:
 * text from a child process, made fit for a text column and for JSON.
 * Returns buf_add()'s result.
 */
struct buf;
int str_utf8_clean(struct buf *out, const char *s, size_t len);

/*
 * str_text_clean() is str_utf8_clean() for text shown to people, such as a
 * job's log: besides, it removes control characters other than newline
 * and tab, so that a child's output cannot drive the terminal or the page
 * that shows it (colours, cursor moves, a window title, a bell, text
 * overwritten with \r or \b):
 *
 *  - an escape sequence goes whole: ESC [ ... (CSI, up to its final byte
 *    0x40-0x7E), ESC ] ... (OSC, up to BEL or ESC \), ESC followed by
 *    intermediates 0x20-0x2F and one final 0x30-0x7E; likewise the C1
 *    forms U+009B (CSI) and U+009D (OSC), whose string U+009C ends;
 *  - a carriage return becomes a newline, or goes when a newline follows,
 *    so "50%\r100%" still shows both;
 *  - every other C0 control, DEL and C1 control (U+0080-U+009F) goes.
 *
 * A sequence that a line end or any other byte interrupts ends there and
 * that byte is handled as usual (a newline is never swallowed). The state
 * does not carry over from one call to the next: a sequence cut in two by
 * the caller's chunking leaves its tail as plain text. NUL and malformed
 * UTF-8 become U+FFFD as in str_utf8_clean(). Returns buf_add()'s result.
 */
int str_text_clean(struct buf *out, const char *s, size_t len);

/* Case-insensitive ASCII comparison. */
bool str_eq_nocase(const char *a, const char *b);

#endif
