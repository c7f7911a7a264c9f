/*
 * buf.h - a growable byte buffer with a size cap (git's strbuf, curl's
 * dynbuf).
 *
 * Invariants: ptr is never NULL and always NUL-terminated (an empty buffer
 * points at a shared static ""), len <= cap. Every buffer has a mandatory
 * cap, set at init: growth past it fails with TW_ETOOBIG and leaves the
 * content unchanged, so input from a client can never grow a buffer without
 * bound.
 *
 *	struct buf b = BUF_INIT(64 * 1024);
 *	if (buf_addf(&b, "%d rows", n) < 0) goto fail;
 *	...
 *	buf_release(&b);
 */
#ifndef TW_CORE_BUF_H
#define TW_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "core/compat.h"

extern char buf_slopbuf[];

struct buf {
	char *ptr;
	size_t len;
	size_t alloc;
	size_t cap;
};

/* A cap suitable for error messages and other small internal strings. */
#define BUF_SMALL_CAP ((size_t)64 * 1024)

#define BUF_INIT(capacity)                    \
	{                                     \
		buf_slopbuf, 0, 0, (capacity) \
	}

void buf_init(struct buf *b, size_t cap);

/* Frees the memory; the buffer is empty and reusable afterwards. */
void buf_release(struct buf *b);

/*
 * buf_release_secret() is buf_release() for a buffer that held a secret: it
 * wipes the whole allocation (not only len bytes) before freeing it, with
 * mem_wipe_free(). Copies that an earlier growth left behind in memory
 * realloc() freed are beyond its reach.
 */
void buf_release_secret(struct buf *b);

/*
 * buf_detach() hands the string over to the caller, who frees it with
 * free(); the buffer is empty afterwards. The returned pointer is never
 * NULL (an empty buffer yields a fresh "").
 */
char *buf_detach(struct buf *b, size_t *len);

/* Makes room for extra more bytes; TW_ETOOBIG past the cap. */
int buf_grow(struct buf *b, size_t extra);

int buf_add(struct buf *b, const void *data, size_t len);
int buf_adds(struct buf *b, const char *s);
int buf_addch(struct buf *b, int c);
int buf_addf(struct buf *b, const char *fmt, ...) TW_PRINTF(2, 3);
int buf_vaddf(struct buf *b, const char *fmt, va_list ap) TW_PRINTF(2, 0);

/*
 * buf_errf() appends a formatted error message to err, for functions whose
 * caller may pass err = NULL (then nothing happens). A message that does not
 * fit under err's cap is cut rather than dropped.
 */
void buf_errf(struct buf *err, const char *fmt, ...) TW_PRINTF(2, 3);

/*
 * buf_getline() appends one line read from in, without its "\n" or
 * "\r\n". TW_EIO at end of input with nothing read; TW_ETOOBIG past the
 * cap (the rest of the line is read and dropped, so the next call starts on
 * the next line).
 */
int buf_getline(struct buf *b, FILE *in, struct buf *err);

/* Truncates to len bytes (len <= b->len). */
void buf_setlen(struct buf *b, size_t len);
void buf_reset(struct buf *b);

/* Removes white space at both ends. */
void buf_trim(struct buf *b);

#endif
