/*
 * fuzz_copy.c - libFuzzer target for the binary COPY codec
 * (src/db/copy.c): the row decoder and the encoders that parse what a
 * user's transform returns (numeric and uuid text, float64 into numeric).
 *
 * The first input byte picks a mode; the rest is its input:
 *   0  COPY messages (each behind a 2-byte little-endian length) for 1-4
 *      columns whose types come from the next bytes. Every row decoded is
 *      encoded back and decoded again: the same values (the decoder's
 *      output is canonical), and only text with a NUL may be refused.
 *   1  text into numeric: accepted text is decoded back to numeric_out()'s
 *      text, which must encode to the very same bytes, within the
 *      documented bound.
 *   2  text into uuid: the decoded uuid is the input's 32 hex digits in
 *      lower case.
 *   3  8 bytes as a double into numeric: the decoded text reads back as
 *      the same double, and is what the %.15g/%.16g/%.17g rule gives.
 * Besides memory errors and undefined behaviour, refusals must be TW_EINVAL
 * with one line that leaves the output as it was.
 *
 * Build with cmake -DTW_FUZZ=ON (clang), then run, for example:
 *	./fuzz_copy -runs=200000 -max_len=4096 tests/fuzz/corpus/copy
 */
#include "core/compat.h"

#include <float.h>
#include <math.h>

#include "core/buf.h"
#include "core/colbatch.h"
#include "core/err.h"
#include "db/copy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char header[19] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";

static void check_message(const struct buf *err)
{
	if (!err->len || strchr(err->ptr, '\n') || strlen(err->ptr) != err->len)
		abort();
}

/* Decodes one binary COPY row (with the header) of one column into b. */
static void decode_one(const char *row, size_t len, enum db_pgtype t,
		       struct colbatch *b)
{
	struct buf msg = BUF_INIT((size_t)1 << 20);
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct db_bin_reader r;
	enum col_kind k = db_pgtype_kind(t);

	colbatch_release(b);
	if (colbatch_init(b, &k, 1) < 0 || buf_add(&msg, header, 19) < 0 ||
	    buf_add(&msg, row, len) < 0)
		abort();
	db_bin_reader_init(&r, &t, 1);
	if (db_bin_decode_row(&r, msg.ptr, msg.len, b, &err) != 1)
		abort();
	buf_release(&msg);
	buf_release(&err);
}

/* Encodes the text s as column type t: 0, or TW_EINVAL with out kept. */
static int encode_text(const char *s, size_t len, enum db_pgtype t,
		       struct buf *out)
{
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	enum col_kind k = COL_TEXT;
	struct colbatch b;
	size_t before = out->len;
	int rc;

	if (colbatch_init(&b, &k, 1) < 0 ||
	    colbuf_append_text(&b.cols[0], 0, s, len) < 0)
		abort();
	colbatch_end_row(&b);
	rc = db_bin_encode_rows(out, &b, &t, 0, 1, &err);
	if (rc < 0) {
		if (rc != TW_EINVAL || out->len != before)
			abort();
		check_message(&err);
	}
	colbatch_release(&b);
	buf_release(&err);
	return rc;
}

static void mode_decode(const uint8_t *p, size_t n)
{
	enum db_pgtype types[4];
	enum col_kind kinds[4];
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct buf again = BUF_INIT((size_t)1 << 22);
	struct db_bin_reader r;
	struct colbatch b, c = { 0 };
	size_t ncols, i, off;

	if (n < 1)
		return;
	ncols = 1 + p[0] % 4;
	if (n < 1 + ncols)
		return;
	for (i = 0; i < ncols; i++) {
		types[i] = (enum db_pgtype)(p[1 + i] % 15);
		kinds[i] = db_pgtype_kind(types[i]);
	}
	off = 1 + ncols;
	if (colbatch_init(&b, kinds, ncols) < 0)
		abort();
	db_bin_reader_init(&r, types, ncols);
	while (n - off >= 2) {
		size_t len = (size_t)p[off] | (size_t)p[off + 1] << 8;
		size_t rows = b.nrows;
		int rc;

		off += 2;
		if (len > n - off)
			len = n - off;
		rc = db_bin_decode_row(&r, (const char *)p + off, len, &b,
				       &err);
		off += len;
		if (rc < 0) {
			if (rc != TW_EINVAL || b.nrows != rows)
				abort();
			check_message(&err);
			break;
		}
		if (rc == 0 && !r.trailer_seen)
			abort();
	}
	/* Every row back into COPY, then decoded again: the same values. */
	for (i = 0; i < ncols; i++) {
		if (types[i] == DB_PG_OTHER)
			types[i] = DB_PG_TEXT;
	}
	buf_reset(&err);
	if (buf_add(&again, header, 19) < 0)
		abort();
	if (b.nrows > 0 &&
	    db_bin_encode_rows(&again, &b, types, 0, b.nrows, &err) == 0) {
		size_t row = 0;
		const uint8_t *q = (const uint8_t *)again.ptr;

		if (colbatch_init(&c, kinds, ncols) < 0)
			abort();
		db_bin_reader_init(&r, types, ncols);
		/* The rows are back to back: find each one's end by decoding
		 * from its start with growing lengths is costly; instead
		 * decode the stream by walking the field lengths. */
		off = 0;
		while (row < b.nrows) {
			size_t start = off, f;

			if (row == 0)
				off = 19;
			off += 2;
			for (f = 0; f < ncols; f++) {
				int32_t flen;
				uint32_t be;

				memcpy(&be, q + off, 4);
				flen = (int32_t)__builtin_bswap32(be);
				off += 4 + (flen > 0 ? (size_t)flen : 0);
			}
			if (db_bin_decode_row(&r, again.ptr + start,
					      off - start, &c, &err) != 1)
				abort();
			row++;
		}
		if (off != again.len || c.nrows != b.nrows)
			abort();
		for (i = 0; i < ncols; i++) {
			for (row = 0; row < b.nrows; row++) {
				const struct colbuf *x = &b.cols[i];
				const struct colbuf *y = &c.cols[i];

				if (colbuf_is_null(x, row) !=
				    colbuf_is_null(y, row))
					abort();
				if (colbuf_is_null(x, row))
					continue;
				if (x->kind == COL_TEXT) {
					size_t lx, ly;
					const char *sx =
						colbuf_text(x, row, &lx);
					const char *sy =
						colbuf_text(y, row, &ly);

					if (lx != ly || memcmp(sx, sy, lx))
						abort();
				} else if (memcmp(colbuf_fixed(x, row),
						  colbuf_fixed(y, row),
						  col_kind_width(x->kind))) {
					abort();
				}
			}
		}
	} else if (b.nrows > 0) {
		/* Only a NUL in text may be refused. */
		if (!strstr(err.ptr, "NUL"))
			abort();
	}
	colbatch_release(&b);
	colbatch_release(&c);
	buf_release(&err);
	buf_release(&again);
}

/* The binary numeric in a one-column row: its bytes after the length. */
static void mode_numeric(const char *s, size_t len)
{
	struct buf out = BUF_INIT((size_t)1 << 22);
	struct buf out2 = BUF_INIT((size_t)1 << 22);
	struct colbatch b = { 0 };
	const char *text;
	size_t tlen;

	if (encode_text(s, len, DB_PG_NUMERIC, &out) < 0)
		goto out;
	/* Row: field count, length, value within 8 + 2 ((len + 6) / 4 + 2). */
	if (out.len > 2 + 4 + 8 + 2 * ((len + 6) / 4 + 2))
		abort();
	decode_one(out.ptr, out.len, DB_PG_NUMERIC, &b);
	text = colbuf_text(&b.cols[0], 0, &tlen);
	if (encode_text(text, tlen, DB_PG_NUMERIC, &out2) != 0 ||
	    out2.len != out.len || memcmp(out.ptr, out2.ptr, out.len))
		abort();
out:
	colbatch_release(&b);
	buf_release(&out);
	buf_release(&out2);
}

static void mode_uuid(const char *s, size_t len)
{
	struct buf out = BUF_INIT(4096);
	struct colbatch b = { 0 };
	char hex[33];
	const char *text;
	size_t tlen, i, n = 0;

	if (encode_text(s, len, DB_PG_UUID, &out) < 0)
		goto out;
	for (i = 0; i < len; i++) {
		if (isxdigit((unsigned char)s[i])) {
			if (n == 32)
				abort();
			hex[n++] = (char)tolower((unsigned char)s[i]);
		}
	}
	if (n != 32)
		abort();
	decode_one(out.ptr, out.len, DB_PG_UUID, &b);
	text = colbuf_text(&b.cols[0], 0, &tlen);
	for (i = 0, n = 0; i < tlen; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (text[i] != '-')
				abort();
		} else if (text[i] != hex[n++]) {
			abort();
		}
	}
	if (tlen != 36 || n != 32)
		abort();
out:
	colbatch_release(&b);
	buf_release(&out);
}

static void mode_double(const uint8_t *p, size_t n)
{
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct buf out = BUF_INIT(4096);
	struct buf ref = BUF_INIT(4096);
	enum col_kind k = COL_FLOAT64;
	enum db_pgtype t = DB_PG_NUMERIC;
	struct colbatch b, c = { 0 };
	char text[64], *end;
	const char *s;
	size_t len;
	double d;
	int prec;

	if (n < 8)
		return;
	memcpy(&d, p, 8);
	if (colbatch_init(&b, &k, 1) < 0 ||
	    colbuf_append_fixed(&b.cols[0], 0, &d) < 0)
		abort();
	colbatch_end_row(&b);
	if (db_bin_encode_rows(&out, &b, &t, 0, 1, &err) != 0)
		abort();
	decode_one(out.ptr, out.len, DB_PG_NUMERIC, &c);
	s = colbuf_text(&c.cols[0], 0, &len);
	if (!isnan(d)) {
		/* The decimal reads back as the same double. */
		char *copy = malloc(len + 1);

		if (!copy)
			abort();
		memcpy(copy, s, len);
		copy[len] = '\0';
		if (strtod(copy, &end) != d || *end)
			abort();
		free(copy);
	}
	/* The same numeric as the printf rule's text. */
	if (isnan(d) || isinf(d)) {
		snprintf(text, sizeof(text), "%s",
			 isnan(d) ? "NaN"
			 : d > 0  ? "Infinity"
				  : "-Infinity");
	} else {
		for (prec = fabs(d) < DBL_MIN ? 1 : 15; prec <= 17; prec++) {
			snprintf(text, sizeof(text), "%.*g", prec, d);
			if (strtod(text, NULL) == d)
				break;
		}
		if (d == 0)
			snprintf(text, sizeof(text), "0");
	}
	if (encode_text(text, strlen(text), DB_PG_NUMERIC, &ref) != 0 ||
	    ref.len != out.len || memcmp(ref.ptr, out.ptr, out.len))
		abort();
	colbatch_release(&b);
	colbatch_release(&c);
	buf_release(&err);
	buf_release(&out);
	buf_release(&ref);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % 4) {
	case 0:
		mode_decode(data + 1, size - 1);
		break;
	case 1:
		mode_numeric((const char *)data + 1, size - 1);
		break;
	case 2:
		mode_uuid((const char *)data + 1, size - 1);
		break;
	default:
		mode_double(data + 1, size - 1);
		break;
	}
	return 0;
}
