#include "core/compat.h"
#include "core/err.h"
#include "core/str.h"
#include "sandbox/frame.h"

/*
 * The frame codec and the BATCH layout of docs/internals/protocol.md. A
 * batch is written and read with a handful of memcpy()s: its buffers are
 * already in the wire's layout (src/core/colbatch.h), and the decoder's
 * checks are one linear pass over each buffer.
 */

size_t frame_max_payload(enum frame_type type)
{
	switch (type) {
	case FRAME_BATCH:
		return FRAME_MAX_BATCH;
	case FRAME_JOB:
	case FRAME_READY:
	case FRAME_END:
	case FRAME_SCHEMA:
	case FRAME_PREVIEW:
	case FRAME_LOG:
	case FRAME_METRICS:
	case FRAME_STATUS:
		return FRAME_MAX_CONTROL;
	}
	return 0;
}

static const char *type_name(enum frame_type type)
{
	switch (type) {
	case FRAME_JOB:
		return "JOB";
	case FRAME_READY:
		return "READY";
	case FRAME_BATCH:
		return "BATCH";
	case FRAME_END:
		return "END";
	case FRAME_SCHEMA:
		return "SCHEMA";
	case FRAME_PREVIEW:
		return "PREVIEW";
	case FRAME_LOG:
		return "LOG";
	case FRAME_METRICS:
		return "METRICS";
	case FRAME_STATUS:
		return "STATUS";
	}
	return "?";
}

static void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void put_header(uint8_t *p, enum frame_type type, size_t len)
{
	put_u32(p, (uint32_t)len);
	p[4] = (uint8_t)type;
	p[5] = p[6] = p[7] = 0;
}

int frame_encode(struct buf *out, enum frame_type type, const void *payload,
		 size_t len, struct buf *err)
{
	size_t cap = frame_max_payload(type);

	if (!cap) {
		buf_errf(err, "unknown frame type 0x%02x", (unsigned)type);
		return TW_EINVAL;
	}
	if (len > cap) {
		buf_errf(err,
			 "a %s frame of %zu bytes is over its cap of %zu bytes",
			 type_name(type), len, cap);
		return TW_EINVAL;
	}
	if (buf_grow(out, FRAME_HEADER_BYTES + len) < 0) {
		buf_errf(err, "no room for a %s frame of %zu bytes",
			 type_name(type), len);
		return TW_ETOOBIG;
	}
	put_header((uint8_t *)out->ptr + out->len, type, len);
	if (len)
		memcpy(out->ptr + out->len + FRAME_HEADER_BYTES, payload, len);
	out->len += FRAME_HEADER_BYTES + len;
	out->ptr[out->len] = '\0';
	return 0;
}

int frame_decode(const uint8_t *in, size_t len, struct frame *f, size_t *used,
		 struct buf *err)
{
	enum frame_type type;
	size_t plen, cap;

	if (len < FRAME_HEADER_BYTES)
		return 0;
	type = (enum frame_type)in[4];
	cap = frame_max_payload(type);
	if (!cap) {
		buf_errf(err, "a frame of unknown type 0x%02x", in[4]);
		return TW_EINVAL;
	}
	if (in[5] || in[6] || in[7]) {
		buf_errf(err, "a %s frame header with non-zero reserved bytes",
			 type_name(type));
		return TW_EINVAL;
	}
	plen = get_u32(in);
	if (plen > cap) {
		buf_errf(err,
			 "a %s frame of %zu bytes is over its cap of %zu bytes",
			 type_name(type), plen, cap);
		return TW_EINVAL;
	}
	if (len - FRAME_HEADER_BYTES < plen)
		return 0;
	f->type = type;
	f->payload = in + FRAME_HEADER_BYTES;
	f->len = plen;
	*used = FRAME_HEADER_BYTES + plen;
	return 1;
}

/* --- BATCH ---------------------------------------------------------------- */

static size_t pad8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

/* The bytes a column's part of the payload takes. */
static size_t column_bytes(const struct colbuf *c, size_t nrows)
{
	size_t n = 8;

	if (c->any_null)
		n += pad8((nrows + 7) / 8);
	if (c->kind == COL_TEXT)
		n += pad8((nrows + 1) * 4) + 8 + pad8(c->data.len);
	else
		n += pad8(nrows * col_kind_width(c->kind));
	return n;
}

/* Checks that a batch about to be sent keeps colbatch.h's invariants. */
static void check_column(const struct colbuf *c, size_t nrows, size_t i)
{
	if (c->any_null && c->validity.len < (nrows + 7) / 8)
		TW_BUG("column %zu: a validity bitmap of %zu bytes for %zu rows",
		       i + 1, c->validity.len, nrows);
	if (c->kind == COL_TEXT) {
		int32_t end;

		if (c->offsets.len != (nrows + 1) * 4)
			TW_BUG("column %zu: %zu bytes of offsets for %zu rows",
			       i + 1, c->offsets.len, nrows);
		memcpy(&end, c->offsets.ptr + nrows * 4, 4);
		if (end < 0 || (size_t)end != c->data.len)
			TW_BUG("column %zu: offsets end at %d, data at %zu",
			       i + 1, (int)end, c->data.len);
	} else if (!col_kind_width(c->kind)) {
		TW_BUG("column %zu: unknown kind %d", i + 1, (int)c->kind);
	} else if (c->data.len != nrows * col_kind_width(c->kind)) {
		TW_BUG("column %zu: %zu bytes of data for %zu rows", i + 1,
		       c->data.len, nrows);
	}
}

/* Copies n bytes to p and zeroes the padding after them; returns the end. */
static uint8_t *put_padded(uint8_t *p, const void *src, size_t n)
{
	size_t padded = pad8(n);

	if (n)
		memcpy(p, src, n);
	memset(p + n, 0, padded - n);
	return p + padded;
}

int frame_batch_encode(struct buf *out, const struct colbatch *b,
		       struct buf *err)
{
	size_t size = 8, i;
	uint8_t *p;

	for (i = 0; i < b->ncols; i++) {
		check_column(&b->cols[i], b->nrows, i);
		size += column_bytes(&b->cols[i], b->nrows);
	}
	if (b->nrows > UINT32_MAX || b->ncols > UINT32_MAX ||
	    size > FRAME_MAX_BATCH) {
		buf_errf(err,
			 "a batch of %zu rows and %zu bytes is over the BATCH "
			 "frame's cap of %zu bytes",
			 b->nrows, size, FRAME_MAX_BATCH);
		return TW_EINVAL;
	}
	if (buf_grow(out, FRAME_HEADER_BYTES + size) < 0) {
		buf_errf(err, "no room for a BATCH frame of %zu bytes", size);
		return TW_ETOOBIG;
	}
	p = (uint8_t *)out->ptr + out->len;
	put_header(p, FRAME_BATCH, size);
	p += FRAME_HEADER_BYTES;
	put_u32(p, (uint32_t)b->nrows);
	put_u32(p + 4, (uint32_t)b->ncols);
	p += 8;
	for (i = 0; i < b->ncols; i++) {
		const struct colbuf *c = &b->cols[i];

		memset(p, 0, 8);
		p[0] = (uint8_t)c->kind;
		p[1] = c->any_null ? 1 : 0;
		p += 8;
		if (c->any_null)
			p = put_padded(p, c->validity.ptr, (b->nrows + 7) / 8);
		if (c->kind == COL_TEXT) {
			uint64_t dlen = c->data.len;

			p = put_padded(p, c->offsets.ptr, (b->nrows + 1) * 4);
			memcpy(p, &dlen, 8);
			p += 8;
			p = put_padded(p, c->data.ptr, c->data.len);
		} else {
			p = put_padded(p, c->data.ptr, c->data.len);
		}
	}
	if ((size_t)(p - (uint8_t *)out->ptr) != out->len + 8 + size)
		TW_BUG("the BATCH frame came out %zu bytes long, not %zu",
		       (size_t)(p - (uint8_t *)out->ptr) - out->len, 8 + size);
	out->len += FRAME_HEADER_BYTES + size;
	out->ptr[out->len] = '\0';
	return 0;
}

/* Where the decoder is in the payload. */
struct reader {
	const uint8_t *p;
	size_t len;
	size_t off;
	size_t col; /* 1-based, for messages */
	struct buf *err;
};

/*
 * take() hands out the next n bytes and checks the zero padding after
 * them; NULL (err set) when they, or the padding, run past the payload.
 */
static const uint8_t *take(struct reader *r, uint64_t n, const char *what)
{
	const uint8_t *start;
	uint64_t padded = (n + 7) & ~(uint64_t)7;
	size_t i;

	if (n > r->len - r->off || padded > r->len - r->off) {
		buf_errf(r->err,
			 "column %zu: its %s (%" PRIu64
			 " bytes) runs past the end of the batch",
			 r->col, what, n);
		return NULL;
	}
	start = r->p + r->off;
	for (i = (size_t)n; i < (size_t)padded; i++) {
		if (start[i]) {
			buf_errf(r->err,
				 "column %zu: non-zero padding after its %s",
				 r->col, what);
			return NULL;
		}
	}
	r->off += (size_t)padded;
	return start;
}

/* The row whose value holds byte pos (offsets are non-decreasing). */
static size_t row_of(const int32_t *offsets, size_t nrows, size_t pos)
{
	size_t lo = 0, hi = nrows;

	/* The last row whose start is <= pos. */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if ((size_t)offsets[mid] <= pos)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

/* Copies n bytes into b (emptied first), raising its cap when needed. */
static void fill(struct buf *b, const void *src, size_t n)
{
	buf_setlen(b, 0);
	if (b->cap < n)
		b->cap = n;
	if (buf_add(b, src, n) < 0)
		TW_BUG("a buffer of cap %zu refused %zu bytes", b->cap, n);
}

/* The validity of a column sent without a bitmap: every row a value. */
static void fill_valid(struct buf *b, size_t nrows)
{
	size_t n = (nrows + 7) / 8;

	buf_setlen(b, 0);
	if (b->cap < n)
		b->cap = n;
	if (buf_grow(b, n) < 0)
		TW_BUG("a buffer of cap %zu refused %zu bytes", b->cap, n);
	memset(b->ptr, 0xFF, n);
	if (nrows % 8)
		b->ptr[n - 1] = (char)(0xFFu >> (8 - nrows % 8));
	b->len = n;
	b->ptr[n] = '\0';
}

/*
 * take_validity() checks a column's bitmap, when it has one, and says
 * whether it holds a NULL. The caller copies it (put_validity()) only once
 * the column's values have passed too: a row count that the payload cannot
 * back must not cost an allocation.
 */
static int take_validity(struct reader *r, size_t nrows, bool present,
			 const uint8_t **v, bool *any_null)
{
	size_t n = (nrows + 7) / 8, i;

	*v = NULL;
	*any_null = false;
	if (!present)
		return 0;
	*v = take(r, n, "validity bitmap");
	if (!*v)
		return TW_EINVAL;
	for (i = 0; i < nrows / 8 && !*any_null; i++)
		*any_null = (*v)[i] != 0xFF;
	if (nrows % 8 &&
	    (((*v)[n - 1] | (0xFFu << (nrows % 8))) & 0xFFu) != 0xFFu)
		*any_null = true;
	return 0;
}

static void put_validity(struct colbuf *c, size_t nrows, const uint8_t *v,
			 bool any_null)
{
	c->any_null = any_null;
	if (v)
		fill(&c->validity, v, (nrows + 7) / 8);
	else
		fill_valid(&c->validity, nrows);
}

static int decode_fixed(struct reader *r, struct colbuf *c, size_t nrows)
{
	size_t w = col_kind_width(c->kind);
	const uint8_t *d = take(r, (uint64_t)nrows * w, "values");
	size_t i = 0;

	if (!d)
		return TW_EINVAL;
	if (c->kind == COL_BOOL) {
		for (; i + 8 <= nrows; i += 8) {
			uint64_t x;

			memcpy(&x, d + i, 8);
			if (x & UINT64_C(0xFEFEFEFEFEFEFEFE))
				break;
		}
		for (; i < nrows; i++) {
			if (d[i] > 1) {
				buf_errf(r->err,
					 "column %zu (bool): a byte of %u at "
					 "row %zu, not 0 or 1",
					 r->col, d[i], i + 1);
				return TW_EINVAL;
			}
		}
	}
	fill(&c->data, d, nrows * w);
	return 0;
}

static int decode_text(struct reader *r, struct colbuf *c, size_t nrows)
{
	const uint8_t *o, *d, *lenp;
	const int32_t *offsets;
	uint64_t dlen;
	size_t i, bad;
	int32_t prev;

	o = take(r, ((uint64_t)nrows + 1) * 4, "offsets");
	if (!o)
		return TW_EINVAL;
	lenp = take(r, 8, "data length");
	if (!lenp)
		return TW_EINVAL;
	memcpy(&dlen, lenp, 8);
	d = take(r, dlen, "text data");
	if (!d)
		return TW_EINVAL;
	/* The offsets are copied first: the payload need not be aligned. */
	fill(&c->offsets, o, (nrows + 1) * 4);
	offsets = (const int32_t *)(const void *)c->offsets.ptr;
	if (offsets[0] != 0) {
		buf_errf(r->err,
			 "column %zu (text): offsets start at %d, not 0",
			 r->col, (int)offsets[0]);
		return TW_EINVAL;
	}
	prev = 0;
	for (i = 1; i <= nrows; i++) {
		int32_t cur = offsets[i];

		if (cur < prev) {
			buf_errf(r->err,
				 "column %zu (text): offsets decrease at row "
				 "%zu (%d after %d)",
				 r->col, i, (int)cur, (int)prev);
			return TW_EINVAL;
		}
		if ((uint64_t)cur > dlen) {
			buf_errf(r->err,
				 "column %zu (text): offset %d at row %zu "
				 "passes the data's %" PRIu64 " bytes",
				 r->col, (int)cur, i, dlen);
			return TW_EINVAL;
		}
		/*
		 * Each value must be UTF-8 by itself: a value that starts with
		 * a continuation byte either is not, or is the tail of a
		 * sequence its neighbour cut in two.
		 */
		if (i < nrows && (uint64_t)cur < dlen &&
		    (d[cur] & 0xC0) == 0x80) {
			buf_errf(r->err,
				 "column %zu (text): the value at row %zu is "
				 "not UTF-8",
				 r->col, i + 1);
			return TW_EINVAL;
		}
		prev = cur;
	}
	if ((uint64_t)prev != dlen) {
		buf_errf(r->err,
			 "column %zu (text): offsets end at %d, not at the "
			 "data length %" PRIu64,
			 r->col, (int)prev, dlen);
		return TW_EINVAL;
	}
	bad = str_utf8_valid_prefix((const char *)d, (size_t)dlen);
	if (bad < dlen) {
		buf_errf(r->err,
			 "column %zu (text): the value at row %zu is not UTF-8",
			 r->col, row_of(offsets, nrows, bad) + 1);
		return TW_EINVAL;
	}
	fill(&c->data, d, (size_t)dlen);
	return 0;
}

/* Makes out an empty batch of the expected kinds, reusing its memory. */
static int prepare(struct colbatch *out, const enum col_kind *expect,
		   size_t ncols)
{
	size_t i;
	bool same = out->cols && out->ncols == ncols;

	for (i = 0; same && i < ncols; i++)
		same = out->cols[i].kind == expect[i];
	if (same) {
		colbatch_reset(out);
		return 0;
	}
	colbatch_release(out);
	return colbatch_init(out, expect, ncols);
}

int frame_batch_decode(const uint8_t *payload, size_t len,
		       const enum col_kind *expect, size_t ncols,
		       struct colbatch *out, struct buf *err)
{
	struct reader r = { payload, len, 0, 0, err };
	size_t nrows, i;
	uint32_t got_cols;
	int rc;

	rc = prepare(out, expect, ncols);
	if (rc < 0) {
		buf_errf(err, "an unknown column kind is expected");
		return rc;
	}
	if (len < 8) {
		buf_errf(err, "a batch of %zu bytes is shorter than its header",
			 len);
		return TW_EINVAL;
	}
	nrows = get_u32(payload);
	got_cols = get_u32(payload + 4);
	if (got_cols != ncols) {
		buf_errf(err, "a batch of %u columns, expected %zu",
			 (unsigned)got_cols, ncols);
		return TW_EINVAL;
	}
	r.off = 8;
	for (i = 0; i < ncols; i++) {
		struct colbuf *c = &out->cols[i];
		const uint8_t *h, *v;
		bool any_null;
		size_t k;

		r.col = i + 1;
		h = take(&r, 8, "header");
		if (!h) {
			rc = TW_EINVAL;
			goto fail;
		}
		if (h[0] != (uint8_t)expect[i]) {
			const char *name = col_kind_name((enum col_kind)h[0]);

			buf_errf(err, "column %zu: kind %s, expected %s", i + 1,
				 name ? name : "unknown",
				 col_kind_name(expect[i]));
			rc = TW_EINVAL;
			goto fail;
		}
		if (h[1] & ~1u) {
			buf_errf(err, "column %zu: unknown flags 0x%02x", i + 1,
				 h[1]);
			rc = TW_EINVAL;
			goto fail;
		}
		for (k = 2; k < 8; k++) {
			if (h[k]) {
				buf_errf(err,
					 "column %zu: non-zero reserved bytes "
					 "in its header",
					 i + 1);
				rc = TW_EINVAL;
				goto fail;
			}
		}
		rc = take_validity(&r, nrows, h[1] & 1, &v, &any_null);
		if (rc == 0 && c->kind == COL_TEXT)
			rc = decode_text(&r, c, nrows);
		else if (rc == 0)
			rc = decode_fixed(&r, c, nrows);
		if (rc < 0)
			goto fail;
		put_validity(c, nrows, v, any_null);
	}
	if (r.off != len) {
		buf_errf(err,
			 "%zu bytes left over after the batch's last column",
			 len - r.off);
		rc = TW_EINVAL;
		goto fail;
	}
	out->nrows = nrows;
	return 0;

fail:
	/* An empty batch again: no column may keep part of this one. */
	for (i = 0; i < ncols; i++) {
		struct colbuf *c = &out->cols[i];

		buf_setlen(&c->validity, 0);
		buf_setlen(&c->data, 0);
		c->any_null = false;
		if (c->kind == COL_TEXT) {
			const int32_t zero = 0;

			buf_setlen(&c->offsets, 0);
			if (buf_add(&c->offsets, &zero, 4) < 0)
				TW_BUG("no room for a text column's offset");
		}
	}
	out->nrows = 0;
	return rc;
}
