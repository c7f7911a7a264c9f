/*
 * colbatch.h - a batch of rows held column by column, in the layout of
 * Apache Arrow's primitive and string arrays: what the worker decodes a
 * binary COPY stream into, what travels to and from the sandbox runner in
 * BATCH frames (src/sandbox/frame.h), and what the worker encodes back into
 * binary COPY for the destination (src/db/copy.h). libc only.
 *
 * Every column has:
 *   validity  one bit per row, least significant bit first, 1 = a value,
 *             0 = NULL (Arrow's validity bitmap); always kept, ceil(n/8)
 *             bytes; any_null says whether a 0 bit exists.
 *   data      fixed-width kinds: n values of col_kind_width() bytes,
 *             little-endian (a NULL row holds zeros);
 *             COL_TEXT: the UTF-8 bytes of every value, back to back.
 *   offsets   COL_TEXT only: n + 1 int32 little-endian offsets into data
 *             (offsets[0] = 0, non-decreasing; a NULL row has length 0).
 *
 * Value encodings (the same in C and in the Python runner):
 *   COL_BOOL         1 byte, 0 or 1
 *   COL_INT16/32/64  two's complement
 *   COL_FLOAT32/64   IEEE 754
 *   COL_DATE         int32 days since 1970-01-01
 *   COL_TIMESTAMP    int64 microseconds since 1970-01-01 00:00 (no zone)
 *   COL_TIMESTAMPTZ  int64 microseconds since 1970-01-01 00:00 UTC
 *   COL_TEXT         UTF-8 text; also how numeric (decimal digits, "NaN"),
 *                    uuid (36 characters), json and jsonb (JSON text) travel
 *
 * The numbers of enum col_kind are part of the wire format: never reuse one.
 */
#ifndef TW_CORE_COLBATCH_H
#define TW_CORE_COLBATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

enum col_kind {
	COL_BOOL = 1,
	COL_INT16 = 2,
	COL_INT32 = 3,
	COL_INT64 = 4,
	COL_FLOAT32 = 5,
	COL_FLOAT64 = 6,
	COL_DATE = 7,
	COL_TIMESTAMP = 8,
	COL_TIMESTAMPTZ = 9,
	COL_TEXT = 10,
};
#define COL_KIND_MAX COL_TEXT

/* The most bytes of one batch's buffers together (a BATCH frame's cap). */
#define COLBATCH_MAX_BYTES ((size_t)256 * 1024 * 1024)

struct colbuf {
	enum col_kind kind;
	bool any_null;
	struct buf validity;
	struct buf offsets; /* COL_TEXT only */
	struct buf data;
};

struct colbatch {
	size_t ncols;
	size_t nrows;
	struct colbuf *cols;
};

/* The width of a fixed-width kind in bytes; 0 for COL_TEXT and unknown. */
size_t col_kind_width(enum col_kind kind);
/* "bool", "int16", ..., "text" (the protocol's JSON names); NULL if unknown. */
const char *col_kind_name(enum col_kind kind);
/* The kind a JSON name stands for; 0 if none. */
enum col_kind col_kind_from_name(const char *name);

/*
 * colbatch_init() makes an empty batch of ncols columns of the given kinds,
 * each buffer capped so that the batch stays within COLBATCH_MAX_BYTES.
 * TW_EINVAL for an unknown kind (memory comes from xmalloc(), which does
 * not fail: there is no TW_ENOMEM).
 */
int colbatch_init(struct colbatch *b, const enum col_kind *kinds, size_t ncols);
/* colbatch_reset() empties every column, keeping the memory. */
void colbatch_reset(struct colbatch *b);
void colbatch_release(struct colbatch *b);
/* The bytes the batch's buffers hold now. */
size_t colbatch_bytes(const struct colbatch *b);

/*
 * Building a batch one row at a time: for each row, exactly one append per
 * column, in column order, then colbatch_end_row(). Each returns 0 or
 * TW_ETOOBIG when a buffer's cap is reached (the row is then incomplete:
 * the caller ends the batch before that row with colbatch_truncate()).
 * colbuf_append_fixed() takes col_kind_width() bytes in host order
 * (little-endian; the build refuses a big-endian host).
 */
int colbuf_append_null(struct colbuf *c, size_t row);
int colbuf_append_fixed(struct colbuf *c, size_t row, const void *value);
int colbuf_append_text(struct colbuf *c, size_t row, const char *s, size_t len);
void colbatch_end_row(struct colbatch *b);
/* Drops every row from nrows on (undoes a partly appended row). */
void colbatch_truncate(struct colbatch *b, size_t nrows);

/* Reading: whether row is NULL; a fixed value; a text value. */
bool colbuf_is_null(const struct colbuf *c, size_t row);
const void *colbuf_fixed(const struct colbuf *c, size_t row);
const char *colbuf_text(const struct colbuf *c, size_t row, size_t *len);

#endif
