#include "core/compat.h"
#include "core/colbatch.h"
#include "core/err.h"
#include "core/mem.h"

/*
 * The batch's buffers hold values in host order and travel as they are in
 * little-endian BATCH frames: a big-endian host would need a byte swap
 * everywhere, so the build refuses one.
 */
#if !defined(__BYTE_ORDER__) || !defined(__ORDER_LITTLE_ENDIAN__) || \
	__BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "Tablewright's column batches need a little-endian host"
#endif
_Static_assert(sizeof(int32_t) == 4 && sizeof(int64_t) == 8,
	       "int32_t and int64_t have their usual sizes");

static const struct {
	const char *name;
	size_t width;
} kinds[COL_KIND_MAX + 1] = {
	[COL_BOOL] = { "bool", 1 },
	[COL_INT16] = { "int16", 2 },
	[COL_INT32] = { "int32", 4 },
	[COL_INT64] = { "int64", 8 },
	[COL_FLOAT32] = { "float32", 4 },
	[COL_FLOAT64] = { "float64", 8 },
	[COL_DATE] = { "date", 4 },
	[COL_TIMESTAMP] = { "timestamp", 8 },
	[COL_TIMESTAMPTZ] = { "timestamptz", 8 },
	[COL_TEXT] = { "text", 0 },
};

static bool kind_known(enum col_kind kind)
{
	return (int)kind >= COL_BOOL && (int)kind <= COL_KIND_MAX;
}

size_t col_kind_width(enum col_kind kind)
{
	return kind_known(kind) ? kinds[kind].width : 0;
}

const char *col_kind_name(enum col_kind kind)
{
	return kind_known(kind) ? kinds[kind].name : NULL;
}

enum col_kind col_kind_from_name(const char *name)
{
	int k;

	if (!name)
		return 0;
	for (k = COL_BOOL; k <= COL_KIND_MAX; k++) {
		if (!strcmp(kinds[k].name, name))
			return (enum col_kind)k;
	}
	return 0;
}

/*
 * The caps. Half of COLBATCH_MAX_BYTES goes to what every row costs in
 * every column (a validity bit, a fixed value or a text offset): that half
 * fixes the most rows a batch can hold. The other half is shared evenly by
 * the text columns' data, whose size per row nobody knows in advance.
 */
static void set_caps(struct colbatch *b)
{
	size_t half = COLBATCH_MAX_BYTES / 2;
	size_t eighths = 0, ntext = 0, rows_max, i;

	for (i = 0; i < b->ncols; i++) {
		size_t w = b->cols[i].kind == COL_TEXT
				   ? 4
				   : col_kind_width(b->cols[i].kind);

		eighths += 8 * w + 1;
		if (b->cols[i].kind == COL_TEXT)
			ntext++;
	}
	/* The +1 and the leading text offset of each column, kept aside. */
	rows_max = eighths && 16 * b->ncols < half
			   ? (half - 16 * b->ncols) / eighths * 8
			   : 0;
	for (i = 0; i < b->ncols; i++) {
		struct colbuf *c = &b->cols[i];

		c->validity.cap = rows_max / 8 + 1;
		if (c->kind == COL_TEXT) {
			c->offsets.cap = (rows_max + 1) * 4;
			c->data.cap = half / ntext;
		} else {
			c->offsets.cap = 0;
			c->data.cap = rows_max * col_kind_width(c->kind);
		}
	}
}

int colbatch_init(struct colbatch *b, const enum col_kind *kinds_in,
		  size_t ncols)
{
	size_t i;

	memset(b, 0, sizeof(*b));
	for (i = 0; i < ncols; i++) {
		if (!kind_known(kinds_in[i]))
			return TW_EINVAL;
	}
	if (ncols)
		b->cols = xcalloc(ncols, sizeof(*b->cols));
	b->ncols = ncols;
	for (i = 0; i < ncols; i++) {
		struct colbuf *c = &b->cols[i];

		c->kind = kinds_in[i];
		buf_init(&c->validity, 0);
		buf_init(&c->offsets, 0);
		buf_init(&c->data, 0);
	}
	set_caps(b);
	for (i = 0; i < ncols; i++) {
		const int32_t zero = 0;

		if (b->cols[i].kind == COL_TEXT &&
		    buf_add(&b->cols[i].offsets, &zero, 4) < 0)
			TW_BUG("a text column has no room for its first offset");
	}
	return 0;
}

void colbatch_reset(struct colbatch *b)
{
	colbatch_truncate(b, 0);
}

void colbatch_release(struct colbatch *b)
{
	size_t i;

	for (i = 0; i < b->ncols; i++) {
		buf_release(&b->cols[i].validity);
		buf_release(&b->cols[i].offsets);
		buf_release(&b->cols[i].data);
	}
	free(b->cols);
	memset(b, 0, sizeof(*b));
}

size_t colbatch_bytes(const struct colbatch *b)
{
	size_t i, n = 0;

	for (i = 0; i < b->ncols; i++)
		n += b->cols[i].validity.len + b->cols[i].offsets.len +
		     b->cols[i].data.len;
	return n;
}

/*
 * room() makes space for n more bytes (and buf's NUL) without a call in
 * the usual case: appends run once per value, millions of times a batch.
 */
static inline int room(struct buf *b, size_t n)
{
	if (b->len + n < b->alloc && b->len + n <= b->cap)
		return 0;
	return buf_grow(b, n);
}

/* Appends row's validity bit. */
static inline int add_bit(struct colbuf *c, size_t row, bool value)
{
	unsigned char *v;

	if ((row & 7) == 0) {
		if (c->validity.len != row / 8)
			TW_BUG("row %zu appended out of order", row);
		if (room(&c->validity, 1) < 0)
			return TW_ETOOBIG;
		c->validity.ptr[c->validity.len++] = 0;
		c->validity.ptr[c->validity.len] = '\0';
	} else if (c->validity.len != row / 8 + 1) {
		TW_BUG("row %zu appended out of order", row);
	}
	v = (unsigned char *)c->validity.ptr + row / 8;
	if (value)
		*v |= (unsigned char)(1u << (row & 7));
	else
		*v &= (unsigned char)~(1u << (row & 7));
	return 0;
}

/* Appends n bytes to data (and, for text, the offset that ends them). */
static inline int add_value(struct colbuf *c, const void *p, size_t n)
{
	if (c->kind == COL_TEXT) {
		int32_t end;

		if (room(&c->offsets, 4) < 0 || room(&c->data, n) < 0 ||
		    c->data.len + n > INT32_MAX)
			return TW_ETOOBIG;
		end = (int32_t)(c->data.len + n);
		memcpy(c->offsets.ptr + c->offsets.len, &end, 4);
		c->offsets.len += 4;
		c->offsets.ptr[c->offsets.len] = '\0';
	} else if (room(&c->data, n) < 0) {
		return TW_ETOOBIG;
	}
	if (n)
		memcpy(c->data.ptr + c->data.len, p, n);
	c->data.len += n;
	c->data.ptr[c->data.len] = '\0';
	return 0;
}

/* The validity byte an append added, taken back when its value fails. */
static void undo_bit(struct colbuf *c, size_t row)
{
	if ((row & 7) == 0)
		buf_setlen(&c->validity, row / 8);
}

int colbuf_append_null(struct colbuf *c, size_t row)
{
	static const uint64_t zero;
	size_t w = col_kind_width(c->kind);

	if (add_bit(c, row, false) < 0)
		return TW_ETOOBIG;
	if (add_value(c, &zero, w) < 0) {
		undo_bit(c, row);
		return TW_ETOOBIG;
	}
	c->any_null = true;
	return 0;
}

int colbuf_append_fixed(struct colbuf *c, size_t row, const void *value)
{
	size_t w = col_kind_width(c->kind);

	if (!w)
		TW_BUG("colbuf_append_fixed() on a text column");
	if (add_bit(c, row, true) < 0)
		return TW_ETOOBIG;
	if (add_value(c, value, w) < 0) {
		undo_bit(c, row);
		return TW_ETOOBIG;
	}
	return 0;
}

int colbuf_append_text(struct colbuf *c, size_t row, const char *s, size_t len)
{
	if (c->kind != COL_TEXT)
		TW_BUG("colbuf_append_text() on a %s column",
		       col_kind_name(c->kind));
	if (add_bit(c, row, true) < 0)
		return TW_ETOOBIG;
	if (add_value(c, s, len) < 0) {
		undo_bit(c, row);
		return TW_ETOOBIG;
	}
	return 0;
}

void colbatch_end_row(struct colbatch *b)
{
	b->nrows++;
}

/* Whether any of the first n bits of the bitmap at v is 0. */
static bool bits_any_zero(const unsigned char *v, size_t n)
{
	size_t i;

	for (i = 0; i < n / 8; i++) {
		if (v[i] != 0xFF)
			return true;
	}
	if (n % 8 && ((v[n / 8] | (0xFFu << (n % 8))) & 0xFFu) != 0xFFu)
		return true;
	return false;
}

void colbatch_truncate(struct colbatch *b, size_t nrows)
{
	size_t i;

	if (nrows > b->nrows)
		TW_BUG("truncating a batch of %zu rows to %zu", b->nrows,
		       nrows);
	for (i = 0; i < b->ncols; i++) {
		struct colbuf *c = &b->cols[i];
		size_t vbytes = (nrows + 7) / 8;

		if (c->validity.len > vbytes)
			buf_setlen(&c->validity, vbytes);
		if (nrows % 8 && c->validity.len == vbytes)
			c->validity.ptr[vbytes - 1] &=
				(char)(0xFFu >> (8 - nrows % 8));
		if (c->kind == COL_TEXT) {
			int32_t end = 0;

			if (c->offsets.len > (nrows + 1) * 4)
				buf_setlen(&c->offsets, (nrows + 1) * 4);
			if (c->offsets.len >= 4)
				memcpy(&end,
				       c->offsets.ptr + c->offsets.len - 4, 4);
			if (c->data.len > (size_t)end)
				buf_setlen(&c->data, (size_t)end);
		} else if (c->data.len > nrows * col_kind_width(c->kind)) {
			buf_setlen(&c->data, nrows * col_kind_width(c->kind));
		}
		c->any_null = bits_any_zero(
			(const unsigned char *)c->validity.ptr, nrows);
	}
	b->nrows = nrows;
}

bool colbuf_is_null(const struct colbuf *c, size_t row)
{
	return !((unsigned char)c->validity.ptr[row / 8] & (1u << (row & 7)));
}

const void *colbuf_fixed(const struct colbuf *c, size_t row)
{
	return c->data.ptr + row * col_kind_width(c->kind);
}

const char *colbuf_text(const struct colbuf *c, size_t row, size_t *len)
{
	int32_t start, end;

	memcpy(&start, c->offsets.ptr + row * 4, 4);
	memcpy(&end, c->offsets.ptr + row * 4 + 4, 4);
	*len = (size_t)(end - start);
	return c->data.ptr + start;
}
