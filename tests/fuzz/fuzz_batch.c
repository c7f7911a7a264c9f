/*
 * fuzz_batch.c - libFuzzer target for the BATCH payload decoder,
 * frame_batch_decode() (src/sandbox/frame.c).
 *
 * Input: one byte n, then n % 16 bytes that give the expected kinds
 * (1 + byte % 10 each), then the payload. The payload is decoded against
 * those kinds (over exactly the fuzzer's bytes, so a read past them is
 * caught by ASan). A refusal must be TW_EINVAL with a one-line message and
 * leave an empty batch of the expected kinds. An acceptance must hold a
 * batch that keeps colbatch.h's invariants (text offsets, UTF-8, bools)
 * and that frame_batch_encode() writes back byte for byte, except for
 * what the encoder leaves out: a validity bitmap with no NULL in it. The
 * expected bytes are built from the input without those bitmaps, so even
 * that difference is checked exactly.
 *
 * Build with cmake -DTW_FUZZ=ON (clang), then run, for example:
 *	./fuzz_batch -runs=200000 -max_len=4096 tests/fuzz/corpus/batch
 */
#include "core/compat.h"
#include "core/buf.h"
#include "core/colbatch.h"
#include "core/err.h"
#include "core/str.h"
#include "sandbox/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t pad8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

static void check_message(const struct buf *err)
{
	if (!err->len || strchr(err->ptr, '\n') || strlen(err->ptr) != err->len)
		abort();
}

/* The invariants of colbatch.h that the decoder promises. */
static void check_batch(const struct colbatch *b, const enum col_kind *kinds)
{
	size_t i, r;

	for (i = 0; i < b->ncols; i++) {
		const struct colbuf *c = &b->cols[i];
		bool any_null = false;

		if (c->kind != kinds[i] ||
		    c->validity.len != (b->nrows + 7) / 8)
			abort();
		for (r = 0; r < b->nrows; r++)
			any_null |= colbuf_is_null(c, r);
		if (any_null != c->any_null)
			abort();
		if (c->kind == COL_TEXT) {
			const int32_t *o =
				(const int32_t *)(const void *)c->offsets.ptr;

			if (c->offsets.len != (b->nrows + 1) * 4 || o[0] != 0 ||
			    (size_t)o[b->nrows] != c->data.len)
				abort();
			for (r = 0; r < b->nrows; r++) {
				size_t len;
				const char *s = colbuf_text(c, r, &len);

				if (o[r + 1] < o[r] || !str_utf8_valid(s, len))
					abort();
			}
		} else {
			if (c->data.len != b->nrows * col_kind_width(c->kind))
				abort();
			for (r = 0; c->kind == COL_BOOL && r < b->nrows; r++) {
				if (*(const uint8_t *)colbuf_fixed(c, r) > 1)
					abort();
			}
		}
	}
}

/*
 * The frame the encoder must write for what was decoded: the input's
 * payload, less the bitmaps of columns without a NULL (their flag
 * cleared), behind a frame header.
 */
static void expected_frame(const uint8_t *p, size_t len,
			   const struct colbatch *b, struct buf *out)
{
	size_t off = 8, i, n = b->nrows;
	uint8_t h[8];

	if (buf_add(out, "\0\0\0\0B\0\0\0", 8) < 0 || buf_add(out, p, 8) < 0)
		abort();
	for (i = 0; i < b->ncols; i++) {
		const struct colbuf *c = &b->cols[i];
		size_t rest;
		bool had;

		memcpy(h, p + off, 8);
		off += 8;
		had = h[1] & 1;
		if (had && !c->any_null)
			h[1] = 0;
		if (buf_add(out, h, 8) < 0)
			abort();
		if (had && c->any_null &&
		    buf_add(out, p + off, pad8((n + 7) / 8)) < 0)
			abort();
		if (had)
			off += pad8((n + 7) / 8);
		if (c->kind == COL_TEXT)
			rest = pad8((n + 1) * 4) + 8 + pad8(c->data.len);
		else
			rest = pad8(n * col_kind_width(c->kind));
		if (buf_add(out, p + off, rest) < 0)
			abort();
		off += rest;
	}
	if (off != len)
		abort();
	{
		uint32_t plen = (uint32_t)(out->len - 8);

		memcpy(out->ptr, &plen, 4);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct buf enc = BUF_INIT(FRAME_MAX_BATCH + 8);
	struct buf want = BUF_INIT(FRAME_MAX_BATCH + 8);
	enum col_kind kinds[16];
	struct colbatch b = { 0 };
	size_t ncols, i;
	int rc;

	if (size < 1)
		return 0;
	ncols = data[0] % 16;
	if (size < 1 + ncols)
		return 0;
	for (i = 0; i < ncols; i++)
		kinds[i] = (enum col_kind)(1 + data[1 + i] % 10);
	data += 1 + ncols;
	size -= 1 + ncols;

	rc = frame_batch_decode(data, size, kinds, ncols, &b, &err);
	if (rc < 0) {
		if (rc != TW_EINVAL)
			abort();
		check_message(&err);
		if (b.nrows != 0 || b.ncols != ncols)
			abort();
		for (i = 0; i < ncols; i++) {
			if (b.cols[i].kind != kinds[i] || b.cols[i].data.len ||
			    b.cols[i].validity.len || b.cols[i].any_null)
				abort();
		}
		goto out;
	}
	if (rc != 0 || err.len || b.ncols != ncols)
		abort();
	check_batch(&b, kinds);
	if (frame_batch_encode(&enc, &b, &err) != 0)
		abort();
	expected_frame(data, size, &b, &want);
	if (enc.len != want.len || memcmp(enc.ptr, want.ptr, enc.len) != 0)
		abort();
	/* And what was written decodes again to the same bytes. */
	if (frame_batch_decode((const uint8_t *)enc.ptr + 8, enc.len - 8, kinds,
			       ncols, &b, &err) != 0)
		abort();
	buf_reset(&want);
	if (frame_batch_encode(&want, &b, &err) != 0 || want.len != enc.len ||
	    memcmp(want.ptr, enc.ptr, enc.len) != 0)
		abort();
out:
	colbatch_release(&b);
	buf_release(&err);
	buf_release(&enc);
	buf_release(&want);
	return 0;
}
