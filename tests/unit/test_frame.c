/*
 * test_frame.c - the runner protocol's codec (src/sandbox/frame.h): frame
 * headers, BATCH round trips of every kind, every refusal the decoder
 * promises, and the golden frames of tests/golden/frames/.
 *
 * The golden frames are written by this program:
 *	test_frame --write-golden tests/golden/frames
 * and checked by it on every run: the files must be byte for byte what the
 * encoder writes now, and decode to the values their README lists. The
 * Python runner's tests decode the same files.
 */
#include "core/compat.h"

#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/colbatch.h"
#include "core/err.h"
#include "sandbox/frame.h"

#ifndef TW_SOURCE_DIR
#error "TW_SOURCE_DIR must name the source tree (CMakeLists.txt sets it)"
#endif
#define GOLDEN_DIR TW_SOURCE_DIR "/tests/golden/frames"

#define assert_rc(rc, want, err)                                              \
	do {                                                                  \
		int rc_ = (rc);                                               \
		if (rc_ != (want))                                            \
			fail_msg("%s returned %d (%s), expected %d: %s", #rc, \
				 rc_, err_name(rc_), (want), (err)->ptr);     \
	} while (0)

/* --- building batches ----------------------------------------------------- */

/* Appends one row; vals[i] NULL is a NULL. Texts are NUL-terminated. */
static void add_row(struct colbatch *b, const void *const *vals)
{
	size_t i;

	for (i = 0; i < b->ncols; i++) {
		struct colbuf *c = &b->cols[i];
		int rc;

		if (!vals[i])
			rc = colbuf_append_null(c, b->nrows);
		else if (c->kind == COL_TEXT)
			rc = colbuf_append_text(c, b->nrows, vals[i],
						strlen(vals[i]));
		else
			rc = colbuf_append_fixed(c, b->nrows, vals[i]);
		assert_int_equal(rc, 0);
	}
	colbatch_end_row(b);
}

static const enum col_kind golden_kinds[] = {
	COL_INT64,     COL_BOOL,	COL_INT16,   COL_INT32,
	COL_INT64,     COL_FLOAT32,	COL_FLOAT64, COL_DATE,
	COL_TIMESTAMP, COL_TIMESTAMPTZ, COL_TEXT,    COL_TEXT,
};

#define GOLDEN_TEXT                                                      \
	"h\xc3\xa9llo, \"w\xc3\xb6rld\"\t\n\\ \xe6\x97\xa5\xe6\x9c\xac " \
	"\xf0\x9f\x8e\x89"

/* The batch of batch_all_kinds.bin (its README lists the values). */
static void golden_batch(struct colbatch *b)
{
	static const int64_t id[4] = { 1, 2, 3, 4 };
	static const uint8_t flag[4] = { 1, 0, 0, 1 };
	static const int16_t small[4] = { INT16_MIN, 0, 0, INT16_MAX };
	static const int32_t medium[4] = { INT32_MIN, -1, 0, INT32_MAX };
	static const int64_t big[4] = { INT64_MIN, 42, 0, INT64_MAX };
	static const float ratio[4] = { 1.5f, -2.25f, 0, FLT_MAX };
	static const double score[4] = { 0.1, -1e300, 0, INFINITY };
	static const int32_t day[4] = { 0, -10957, 0, 19723 };
	static const int64_t at[4] = { 0, -1, 0, INT64_C(1700000000123456) };
	static const int64_t at_tz[4] = { INT64_C(946684800000000),
					  INT64_C(-2208988800000000), 0, 1 };
	static const char *const label[4] = { "plain", "", NULL, GOLDEN_TEXT };
	static const char *const note[4] = { "a", "bb", "", "ccc" };
	size_t r;

	assert_int_equal(
		colbatch_init(b, golden_kinds, TW_ARRAY_SIZE(golden_kinds)), 0);
	for (r = 0; r < 4; r++) {
		bool null = r == 2;
		const void *vals[12] = {
			&id[r],
			null ? NULL : &flag[r],
			null ? NULL : &small[r],
			null ? NULL : &medium[r],
			null ? NULL : &big[r],
			null ? NULL : &ratio[r],
			null ? NULL : &score[r],
			null ? NULL : &day[r],
			null ? NULL : &at[r],
			null ? NULL : &at_tz[r],
			label[r],
			note[r],
		};

		add_row(b, vals);
	}
}

static const char golden_job[] =
	"{\"protocol\":1,\"task\":\"run\",\"job_id\":42,\"attempt\":1,"
	"\"code\":\"def transform(df):\\n    return df\\n\","
	"\"source_table\":\"public.orders\","
	"\"destination_table\":\"order_totals\",\"publish_mode\":\"create\","
	"\"chunk_rows\":100000,\"max_output_rows\":50000000,"
	"\"preview_rows\":200,"
	"\"columns\":[{\"name\":\"id\",\"type\":\"bigint\",\"pgtype\":\"int8\","
	"\"kind\":\"int64\",\"nullable\":false},"
	"{\"name\":\"note\",\"type\":\"text\",\"pgtype\":\"text\","
	"\"kind\":\"text\",\"nullable\":true}]}";

/* The bytes of each golden file, as the encoder writes them now. */
static void golden_bytes(const char *name, struct buf *out)
{
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct colbatch b;

	if (!strcmp(name, "batch_all_kinds.bin")) {
		golden_batch(&b);
		assert_rc(frame_batch_encode(out, &b, &err), 0, &err);
		colbatch_release(&b);
	} else if (!strcmp(name, "batch_empty.bin")) {
		static const enum col_kind kinds[] = { COL_INT64, COL_TEXT };

		assert_int_equal(colbatch_init(&b, kinds, 2), 0);
		assert_rc(frame_batch_encode(out, &b, &err), 0, &err);
		colbatch_release(&b);
	} else if (!strcmp(name, "job.bin")) {
		assert_rc(frame_encode(out, FRAME_JOB, golden_job,
				       strlen(golden_job), &err),
			  0, &err);
	} else if (!strcmp(name, "end.bin")) {
		assert_rc(frame_encode(out, FRAME_END, NULL, 0, &err), 0, &err);
	} else {
		fail_msg("no golden file %s", name);
	}
	buf_release(&err);
}

static const char *const golden_files[] = {
	"batch_all_kinds.bin",
	"batch_empty.bin",
	"job.bin",
	"end.bin",
};

/* --- frame headers ----------------------------------------------------------
 */

static void test_header_round_trip(void **state)
{
	static const enum frame_type types[] = {
		FRAME_JOB, FRAME_READY,	  FRAME_BATCH,
		FRAME_END, FRAME_SCHEMA,  FRAME_PREVIEW,
		FRAME_LOG, FRAME_METRICS, FRAME_STATUS,
	};
	struct buf out = BUF_INIT(1024);
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct frame f;
	size_t i, used, n;

	(void)state;
	for (i = 0; i < TW_ARRAY_SIZE(types); i++) {
		buf_reset(&out);
		assert_rc(frame_encode(&out, types[i], "hello", 5, &err), 0,
			  &err);
		assert_int_equal(out.len, 13);
		assert_memory_equal(out.ptr, "\x05\0\0\0", 4);
		assert_int_equal((unsigned char)out.ptr[4], types[i]);
		assert_memory_equal(out.ptr + 5, "\0\0\0hello", 8);
		/* Every prefix is "more bytes needed". */
		for (n = 0; n < out.len; n++)
			assert_int_equal(frame_decode((const uint8_t *)out.ptr,
						      n, &f, &used, &err),
					 0);
		assert_int_equal(frame_decode((const uint8_t *)out.ptr, out.len,
					      &f, &used, &err),
				 1);
		assert_int_equal(f.type, types[i]);
		assert_int_equal(f.len, 5);
		assert_memory_equal(f.payload, "hello", 5);
		assert_int_equal(used, 13);
		assert_int_equal(frame_max_payload(types[i]),
				 types[i] == FRAME_BATCH ? FRAME_MAX_BATCH
							 : FRAME_MAX_CONTROL);
	}
	assert_int_equal(err.len, 0);

	/* Two frames back to back, the first one empty. */
	buf_reset(&out);
	assert_rc(frame_encode(&out, FRAME_END, NULL, 0, &err), 0, &err);
	assert_rc(frame_encode(&out, FRAME_LOG, "x\n", 2, &err), 0, &err);
	assert_int_equal(frame_decode((const uint8_t *)out.ptr, out.len, &f,
				      &used, &err),
			 1);
	assert_int_equal(f.type, FRAME_END);
	assert_int_equal(f.len, 0);
	assert_int_equal(used, 8);
	assert_int_equal(frame_decode((const uint8_t *)out.ptr + used,
				      out.len - used, &f, &used, &err),
			 1);
	assert_int_equal(f.type, FRAME_LOG);
	assert_int_equal(used, 10);
	buf_release(&out);
	buf_release(&err);
}

static void test_header_refusals(void **state)
{
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct buf out = BUF_INIT(16);
	struct frame f;
	size_t used;
	uint8_t h[8];

	(void)state;
	assert_int_equal(frame_max_payload((enum frame_type)'X'), 0);
	assert_int_equal(frame_max_payload((enum frame_type)0), 0);

	/* An unknown type, as soon as the header is in. */
	memcpy(h, "\0\0\0\0X\0\0\0", 8);
	assert_int_equal(frame_decode(h, 8, &f, &used, &err), TW_EINVAL);
	assert_non_null(strstr(err.ptr, "unknown type 0x58"));
	buf_reset(&err);
	h[4] = 'b'; /* types are case-sensitive */
	assert_int_equal(frame_decode(h, 8, &f, &used, &err), TW_EINVAL);
	buf_reset(&err);

	/* Non-zero reserved bytes, each of them. */
	for (size_t i = 5; i < 8; i++) {
		memcpy(h, "\0\0\0\0L\0\0\0", 8);
		h[i] = 1;
		assert_int_equal(frame_decode(h, 8, &f, &used, &err),
				 TW_EINVAL);
		assert_non_null(strstr(err.ptr, "reserved"));
		buf_reset(&err);
	}

	/* Over the cap: refused before the payload arrives. */
	memcpy(h, "\x01\0\x40\0J\0\0\0", 8); /* 4 MiB + 1 */
	assert_int_equal(frame_decode(h, 8, &f, &used, &err), TW_EINVAL);
	assert_non_null(strstr(err.ptr, "over its cap"));
	buf_reset(&err);
	memcpy(h, "\0\0\x40\0J\0\0\0", 8); /* exactly 4 MiB: wait for it */
	assert_int_equal(frame_decode(h, 8, &f, &used, &err), 0);
	memcpy(h,
	       "\x01\0\x10\x10"
	       "B\0\0\0",
	       8); /* 257 MiB + 1 */
	assert_int_equal(frame_decode(h, 8, &f, &used, &err), TW_EINVAL);
	buf_reset(&err);
	memcpy(h,
	       "\0\0\x10\x10"
	       "B\0\0\0",
	       8); /* 257 MiB */
	assert_int_equal(frame_decode(h, 8, &f, &used, &err), 0);
	memcpy(h,
	       "\xff\xff\xff\xff"
	       "E\0\0\0",
	       8);
	assert_int_equal(frame_decode(h, 8, &f, &used, &err), TW_EINVAL);
	buf_reset(&err);

	/* The encoder's refusals. */
	assert_int_equal(frame_encode(&out, (enum frame_type)'X', "", 0, &err),
			 TW_EINVAL);
	buf_reset(&err);
	assert_int_equal(frame_encode(&out, FRAME_LOG, "",
				      FRAME_MAX_CONTROL + 1, &err),
			 TW_EINVAL);
	buf_reset(&err);
	assert_int_equal(frame_encode(&out, FRAME_LOG, "0123456789", 9, &err),
			 TW_ETOOBIG);
	assert_int_equal(out.len, 0);
	assert_rc(frame_encode(&out, FRAME_LOG, "01234567", 8, &err), 0, &err);
	buf_release(&out);
	buf_release(&err);
}

/* --- BATCH round trips ------------------------------------------------------
 */

static void assert_batches_equal(const struct colbatch *a,
				 const struct colbatch *b)
{
	size_t i, r;

	assert_int_equal(a->ncols, b->ncols);
	assert_int_equal(a->nrows, b->nrows);
	for (i = 0; i < a->ncols; i++) {
		const struct colbuf *x = &a->cols[i], *y = &b->cols[i];

		assert_int_equal(x->kind, y->kind);
		assert_int_equal(x->any_null, y->any_null);
		for (r = 0; r < a->nrows; r++) {
			assert_int_equal(colbuf_is_null(x, r),
					 colbuf_is_null(y, r));
			if (x->kind == COL_TEXT) {
				size_t lx, ly;
				const char *sx = colbuf_text(x, r, &lx);
				const char *sy = colbuf_text(y, r, &ly);

				assert_int_equal(lx, ly);
				assert_memory_equal(sx, sy, lx);
			} else {
				assert_memory_equal(colbuf_fixed(x, r),
						    colbuf_fixed(y, r),
						    col_kind_width(x->kind));
			}
		}
	}
}

/* Encodes b, decodes it, re-encodes the result: the same batch and bytes. */
static void round_trip(const struct colbatch *b)
{
	struct buf out = BUF_INIT(FRAME_MAX_BATCH + 8);
	struct buf again = BUF_INIT(FRAME_MAX_BATCH + 8);
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	enum col_kind kinds[64];
	struct colbatch d = { 0 };
	struct frame f;
	size_t used, i;

	assert_true(b->ncols <= 64);
	for (i = 0; i < b->ncols; i++)
		kinds[i] = b->cols[i].kind;
	assert_rc(frame_batch_encode(&out, b, &err), 0, &err);
	assert_int_equal(out.len % 8, 0);
	assert_int_equal(frame_decode((const uint8_t *)out.ptr, out.len, &f,
				      &used, &err),
			 1);
	assert_int_equal(f.type, FRAME_BATCH);
	assert_int_equal(used, out.len);
	assert_rc(frame_batch_decode(f.payload, f.len, kinds, b->ncols, &d,
				     &err),
		  0, &err);
	assert_batches_equal(b, &d);
	assert_rc(frame_batch_encode(&again, &d, &err), 0, &err);
	assert_int_equal(again.len, out.len);
	assert_memory_equal(again.ptr, out.ptr, out.len);
	/* Decoding again into the same batch reuses it. */
	assert_rc(frame_batch_decode(f.payload, f.len, kinds, b->ncols, &d,
				     &err),
		  0, &err);
	assert_batches_equal(b, &d);
	colbatch_release(&d);
	buf_release(&out);
	buf_release(&again);
	buf_release(&err);
}

static void test_golden_batch_round_trip(void **state)
{
	struct colbatch b;

	(void)state;
	golden_batch(&b);
	round_trip(&b);
	colbatch_release(&b);
}

/* Every kind, n rows, NULLs every `every` rows (0: none); pseudo-random. */
static void random_batch(struct colbatch *b, size_t n, size_t every,
			 unsigned seed)
{
	static const enum col_kind kinds[] = {
		COL_BOOL,	 COL_INT16,   COL_INT32, COL_INT64,
		COL_FLOAT32,	 COL_FLOAT64, COL_DATE,	 COL_TIMESTAMP,
		COL_TIMESTAMPTZ, COL_TEXT,
	};
	static const char *const texts[] = {
		"",
		"a",
		"tab\there",
		"line\nbreak",
		"quote\"'",
		"back\\slash",
		"\xc3\xa9\xe6\x97\xa5\xf0\x9f\x8e\x89",
		"longer text value .......",
	};
	uint64_t x = seed * 2654435761u + 1;
	size_t r, i;

	assert_int_equal(colbatch_init(b, kinds, TW_ARRAY_SIZE(kinds)), 0);
	for (r = 0; r < n; r++) {
		const void *vals[TW_ARRAY_SIZE(kinds)];
		uint64_t raw[TW_ARRAY_SIZE(kinds)];

		for (i = 0; i < TW_ARRAY_SIZE(kinds); i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			raw[i] = kinds[i] == COL_BOOL ? x & 1 : x;
			if (kinds[i] == COL_FLOAT32) {
				float v = (float)(int32_t)x / 8;

				memcpy(&raw[i], &v, 4);
			} else if (kinds[i] == COL_FLOAT64) {
				double v = (double)(int64_t)x / 1024;

				memcpy(&raw[i], &v, 8);
			}
			vals[i] = &raw[i];
			if (kinds[i] == COL_TEXT)
				vals[i] = texts[x % TW_ARRAY_SIZE(texts)];
			if (every && (r + i) % every == 0)
				vals[i] = NULL;
		}
		add_row(b, vals);
	}
}

static void test_round_trips(void **state)
{
	static const size_t sizes[] = { 0, 1, 2, 7, 8, 9, 63, 64, 65, 1001 };
	static const size_t every[] = { 0, 1, 2, 3, 17 };
	struct colbatch b;
	size_t s, e;

	(void)state;
	for (s = 0; s < TW_ARRAY_SIZE(sizes); s++) {
		for (e = 0; e < TW_ARRAY_SIZE(every); e++) {
			random_batch(&b, sizes[s], every[e],
				     (unsigned)(s * 10 + e));
			if (every[e] && sizes[s] > every[e] + 10)
				assert_true(b.cols[0].any_null);
			if (!every[e])
				assert_false(b.cols[9].any_null);
			round_trip(&b);
			colbatch_release(&b);
		}
	}
}

/* A batch without columns still says how many rows it has. */
static void test_zero_columns(void **state)
{
	struct buf out = BUF_INIT(1024);
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct colbatch b, d = { 0 };

	(void)state;
	assert_int_equal(colbatch_init(&b, NULL, 0), 0);
	colbatch_end_row(&b);
	colbatch_end_row(&b);
	assert_rc(frame_batch_encode(&out, &b, &err), 0, &err);
	assert_int_equal(out.len, 16);
	assert_rc(frame_batch_decode((const uint8_t *)out.ptr + 8, 8, NULL, 0,
				     &d, &err),
		  0, &err);
	assert_int_equal(d.nrows, 2);
	assert_int_equal(d.ncols, 0);
	colbatch_release(&b);
	colbatch_release(&d);
	buf_release(&out);
	buf_release(&err);
}

/* The sender may send a bitmap with no NULL in it: the column has none. */
static void test_bitmap_without_null(void **state)
{
	/* 3 rows of int16, bitmap 0x07, values 1 2 3. */
	static const uint8_t p[] = {
		3, 0, 0, 0, 1, 0, 0, 0, /* nrows, ncols */
		2, 1, 0, 0, 0, 0, 0, 0, /* int16, bitmap */
		7, 0, 0, 0, 0, 0, 0, 0, /* bitmap, padded */
		1, 0, 2, 0, 3, 0, 0, 0, /* values, padded */
	};
	static const enum col_kind k[] = { COL_INT16 };
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct colbatch d = { 0 };

	(void)state;
	assert_rc(frame_batch_decode(p, sizeof(p), k, 1, &d, &err), 0, &err);
	assert_false(d.cols[0].any_null);
	assert_int_equal(*(const int16_t *)colbuf_fixed(&d.cols[0], 2), 3);
	assert_false(colbuf_is_null(&d.cols[0], 2));
	colbatch_release(&d);
	buf_release(&err);
}

/* A batch too big for a frame is refused before anything is written. */
static void test_encode_caps(void **state)
{
	static char small[16];
	struct buf out = BUF_INIT(64);
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct colbatch b;
	struct colbuf c;
	int32_t offsets[2] = { 0, (int32_t)FRAME_MAX_BATCH };

	(void)state;
	/* Too many rows for the u32 count. */
	memset(&b, 0, sizeof(b));
	b.nrows = (size_t)UINT32_MAX + 1;
	assert_int_equal(frame_batch_encode(&out, &b, &err), TW_EINVAL);
	assert_int_equal(out.len, 0);
	buf_reset(&err);

	/* A text column of FRAME_MAX_BATCH bytes (never read). */
	memset(&c, 0, sizeof(c));
	c.kind = COL_TEXT;
	c.validity = (struct buf){ small, 1, 0, 1 };
	small[0] = 1;
	c.offsets = (struct buf){ (char *)offsets, 8, 0, 8 };
	c.data = (struct buf){ small, FRAME_MAX_BATCH, 0, FRAME_MAX_BATCH };
	b.nrows = 1;
	b.ncols = 1;
	b.cols = &c;
	assert_int_equal(frame_batch_encode(&out, &b, &err), TW_EINVAL);
	assert_non_null(strstr(err.ptr, "over the BATCH frame's cap"));
	assert_int_equal(out.len, 0);
	buf_reset(&err);

	/* out too small: TW_ETOOBIG, nothing written. */
	random_batch(&b, 10, 3, 1);
	assert_int_equal(frame_batch_encode(&out, &b, &err), TW_ETOOBIG);
	assert_int_equal(out.len, 0);
	colbatch_release(&b);
	buf_release(&out);
	buf_release(&err);
}

/* --- BATCH refusals ------------------------------------------------------- */

/*
 * The payload of a 3-row batch of one bool column (NULL in row 2) and one
 * text column, as the encoder writes it; offsets in comments.
 */
static void small_payload(struct buf *p)
{
	static const uint8_t bytes[] = {
		3,   0,	  0,   0,   2,	  0,	0, 0, /*  0: nrows 3, ncols 2 */
		1,   1,	  0,   0,   0,	  0,	0, 0, /*  8: bool, bitmap */
		5,   0,	  0,   0,   0,	  0,	0, 0, /* 16: bitmap 101 */
		1,   0,	  0,   0,   0,	  0,	0, 0, /* 24: values 1 0 0 */
		10,  0,	  0,   0,   0,	  0,	0, 0, /* 32: text, no bitmap */
		0,   0,	  0,   0,   2,	  0,	0, 0, /* 40: offsets 0 2 */
		4,   0,	  0,   0,   6,	  0,	0, 0, /* 48: offsets 4 6 */
		6,   0,	  0,   0,   0,	  0,	0, 0, /* 56: data length 6 */
		'a', 'b', 'c', 'd', 0xc3, 0xa9, 0, 0, /* 64: "ab" "cd" "é" */
	};

	buf_reset(p);
	assert_int_equal(buf_add(p, bytes, sizeof(bytes)), 0);
}

static const enum col_kind small_kinds[] = { COL_BOOL, COL_TEXT };

/* Decoding p must fail with a message containing want. */
static void refuse(const struct buf *p, const enum col_kind *kinds,
		   size_t ncols, const char *want)
{
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct colbatch d = { 0 };
	int rc;

	rc = frame_batch_decode((const uint8_t *)p->ptr, p->len, kinds, ncols,
				&d, &err);
	if (rc != TW_EINVAL)
		fail_msg("expected a refusal mentioning \"%s\", got %d", want,
			 rc);
	if (!strstr(err.ptr, want))
		fail_msg("expected \"%s\" in the message \"%s\"", want,
			 err.ptr);
	/* What is left is an empty batch of the expected kinds. */
	assert_int_equal(d.nrows, 0);
	assert_int_equal(d.ncols, ncols);
	assert_int_equal(colbatch_bytes(&d),
			 ncols && kinds[ncols - 1] == COL_TEXT ? 4 : 0);
	colbatch_release(&d);
	buf_release(&err);
}

static void test_small_payload_decodes(void **state)
{
	struct buf p = BUF_INIT(1024);
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct colbatch d = { 0 };
	size_t len;

	(void)state;
	small_payload(&p);
	assert_rc(frame_batch_decode((const uint8_t *)p.ptr, p.len, small_kinds,
				     2, &d, &err),
		  0, &err);
	assert_int_equal(d.nrows, 3);
	assert_true(d.cols[0].any_null);
	assert_true(colbuf_is_null(&d.cols[0], 1));
	assert_false(d.cols[1].any_null);
	assert_memory_equal(colbuf_text(&d.cols[1], 2, &len), "\xc3\xa9", 2);
	assert_int_equal(len, 2);
	colbatch_release(&d);
	buf_release(&p);
	buf_release(&err);
}

static void set_u32(struct buf *p, size_t at, uint32_t v)
{
	memcpy(p->ptr + at, &v, 4);
}

static void test_batch_refusals(void **state)
{
	static const enum col_kind wrong[] = { COL_BOOL, COL_INT32 };
	struct buf p = BUF_INIT(1024);
	size_t n;

	(void)state;
	/* Shorter than the batch header; every truncation of the payload. */
	for (n = 0; n < 8; n++) {
		small_payload(&p);
		buf_setlen(&p, n);
		refuse(&p, small_kinds, 2, "shorter than its header");
	}
	for (n = 8; n < 72; n++) {
		small_payload(&p);
		buf_setlen(&p, n);
		refuse(&p, small_kinds, 2, "runs past the end of the batch");
	}

	/* Column count and kinds. */
	small_payload(&p);
	refuse(&p, small_kinds, 1, "a batch of 2 columns, expected 1");
	refuse(&p, wrong, 2, "column 2: kind text, expected int32");
	small_payload(&p);
	p.ptr[8] = 42;
	refuse(&p, small_kinds, 2, "column 1: kind unknown, expected bool");

	/* Flags and reserved bytes. */
	small_payload(&p);
	p.ptr[9] = 3;
	refuse(&p, small_kinds, 2, "unknown flags 0x03");
	for (n = 10; n < 16; n++) {
		small_payload(&p);
		p.ptr[n] = 1;
		refuse(&p, small_kinds, 2, "non-zero reserved bytes");
	}

	/* Padding after the bitmap, the values, the offsets, the text. */
	{
		static const size_t pads[] = { 17, 23, 27, 31, 70, 71 };

		for (n = 0; n < TW_ARRAY_SIZE(pads); n++) {
			small_payload(&p);
			p.ptr[pads[n]] = 1;
			refuse(&p, small_kinds, 2, "non-zero padding");
		}
	}

	/* A bool that is neither 0 nor 1 (also under a NULL). */
	small_payload(&p);
	p.ptr[26] = 2;
	refuse(&p, small_kinds, 2, "a byte of 2 at row 3");
	small_payload(&p);
	p.ptr[25] = (char)0xff;
	refuse(&p, small_kinds, 2, "a byte of 255 at row 2");

	/* Offsets. */
	small_payload(&p);
	set_u32(&p, 40, 1);
	refuse(&p, small_kinds, 2, "offsets start at 1, not 0");
	small_payload(&p);
	set_u32(&p, 48, 1);
	refuse(&p, small_kinds, 2, "offsets decrease at row 2");
	small_payload(&p);
	set_u32(&p, 44, 0xFFFFFFFF);
	refuse(&p, small_kinds, 2, "offsets decrease at row 1");
	small_payload(&p);
	set_u32(&p, 48, 7);
	refuse(&p, small_kinds, 2, "passes the data's 6 bytes");
	small_payload(&p);
	set_u32(&p, 52, 5);
	refuse(&p, small_kinds, 2,
	       "offsets end at 5, not at the data length 6");

	/* Text that is not UTF-8. */
	small_payload(&p);
	p.ptr[67] = (char)0xff;
	refuse(&p, small_kinds, 2, "the value at row 2 is not UTF-8");
	small_payload(&p);
	p.ptr[68] = (char)0xc0; /* an overlong form */
	p.ptr[69] = (char)0x80;
	refuse(&p, small_kinds, 2, "the value at row 3 is not UTF-8");
	small_payload(&p);
	p.ptr[69] = 'x'; /* a lead byte without its continuation */
	refuse(&p, small_kinds, 2, "the value at row 3 is not UTF-8");
	small_payload(&p);
	set_u32(&p, 48, 5); /* "ab" "cd\xc3" "\xa9": cut in two */
	refuse(&p, small_kinds, 2, "the value at row 3 is not UTF-8");
	small_payload(&p);
	memcpy(p.ptr + 64, "\xed\xa0\x80", 3); /* a surrogate, then "d" */
	set_u32(&p, 44, 3);
	set_u32(&p, 48, 4);
	refuse(&p, small_kinds, 2, "the value at row 1 is not UTF-8");

	/* The data length: huge, or short of the bytes that follow. */
	small_payload(&p);
	memcpy(p.ptr + 56, "\xff\xff\xff\xff\xff\xff\xff\xff", 8);
	refuse(&p, small_kinds, 2, "text data");
	small_payload(&p);
	p.ptr[56] = 14;
	refuse(&p, small_kinds, 2, "runs past the end of the batch");

	/* Bytes left over. */
	small_payload(&p);
	assert_int_equal(buf_add(&p, "\0\0\0\0\0\0\0\0", 8), 0);
	refuse(&p, small_kinds, 2, "8 bytes left over");

	/* A row count the payload cannot back, without a bitmap: refused
	 * without allocating 4 billion rows' worth of validity. */
	small_payload(&p);
	set_u32(&p, 0, 0xFFFFFFFF);
	p.ptr[9] = 0;
	refuse(&p, small_kinds, 2, "runs past the end of the batch");
	buf_release(&p);
}

/* A failed decode into a batch that held rows leaves it empty. */
static void test_refusal_empties_previous(void **state)
{
	struct buf p = BUF_INIT(1024);
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct colbatch d = { 0 };

	(void)state;
	small_payload(&p);
	assert_rc(frame_batch_decode((const uint8_t *)p.ptr, p.len, small_kinds,
				     2, &d, &err),
		  0, &err);
	p.ptr[68] = (char)0xff;
	assert_int_equal(frame_batch_decode((const uint8_t *)p.ptr, p.len,
					    small_kinds, 2, &d, &err),
			 TW_EINVAL);
	assert_int_equal(d.nrows, 0);
	assert_int_equal(colbatch_bytes(&d), 4);
	assert_false(d.cols[0].any_null);
	colbatch_release(&d);
	buf_release(&p);
	buf_release(&err);
}

/* --- golden frames -------------------------------------------------------- */

static void read_file(const char *path, struct buf *out)
{
	char chunk[4096];
	FILE *f = fopen(path, "rb");
	size_t n;

	if (!f)
		fail_msg("could not open %s: %s (write it with test_frame "
			 "--write-golden tests/golden/frames)",
			 path, strerror(errno));
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		assert_int_equal(buf_add(out, chunk, n), 0);
	fclose(f);
}

/* The committed files are what the encoder writes today. */
static void test_golden_files_match(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < TW_ARRAY_SIZE(golden_files); i++) {
		struct buf want = BUF_INIT(1024 * 1024);
		struct buf got = BUF_INIT(1024 * 1024);
		char path[1024];

		snprintf(path, sizeof(path), "%s/%s", GOLDEN_DIR,
			 golden_files[i]);
		read_file(path, &got);
		golden_bytes(golden_files[i], &want);
		if (got.len != want.len || memcmp(got.ptr, want.ptr, got.len))
			fail_msg("%s differs from what the encoder writes",
				 path);
		buf_release(&want);
		buf_release(&got);
	}
}

/* The golden batch decodes to the values its README lists. */
static void test_golden_values(void **state)
{
	struct buf file = BUF_INIT(1024 * 1024);
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct colbatch d = { 0 };
	struct frame f;
	size_t used, len;
	const char *s;

	(void)state;
	read_file(GOLDEN_DIR "/batch_all_kinds.bin", &file);
	assert_int_equal(file.len, 528);
	assert_int_equal(frame_decode((const uint8_t *)file.ptr, file.len, &f,
				      &used, &err),
			 1);
	assert_int_equal(f.type, FRAME_BATCH);
	assert_rc(frame_batch_decode(f.payload, f.len, golden_kinds, 12, &d,
				     &err),
		  0, &err);
	assert_int_equal(d.nrows, 4);
	assert_false(d.cols[0].any_null);
	assert_false(d.cols[11].any_null);
	for (size_t i = 1; i <= 10; i++) {
		assert_true(d.cols[i].any_null);
		assert_true(colbuf_is_null(&d.cols[i], 2));
		assert_false(colbuf_is_null(&d.cols[i], 3));
	}
	assert_int_equal(*(const int64_t *)colbuf_fixed(&d.cols[0], 3), 4);
	assert_int_equal(*(const uint8_t *)colbuf_fixed(&d.cols[1], 1), 0);
	assert_int_equal(*(const int16_t *)colbuf_fixed(&d.cols[2], 0), -32768);
	assert_int_equal(*(const int32_t *)colbuf_fixed(&d.cols[3], 3),
			 2147483647);
	assert_true(*(const int64_t *)colbuf_fixed(&d.cols[4], 0) == INT64_MIN);
	assert_true(*(const float *)colbuf_fixed(&d.cols[5], 1) == -2.25f);
	assert_true(isinf(*(const double *)colbuf_fixed(&d.cols[6], 3)));
	assert_int_equal(*(const int32_t *)colbuf_fixed(&d.cols[7], 1), -10957);
	assert_int_equal(*(const int64_t *)colbuf_fixed(&d.cols[8], 1), -1);
	assert_int_equal(*(const int64_t *)colbuf_fixed(&d.cols[9], 0),
			 INT64_C(946684800000000));
	s = colbuf_text(&d.cols[10], 1, &len);
	assert_int_equal(len, 0);
	assert_false(colbuf_is_null(&d.cols[10], 1));
	s = colbuf_text(&d.cols[10], 3, &len);
	assert_int_equal(len, strlen(GOLDEN_TEXT));
	assert_int_equal(len, 31);
	assert_memory_equal(s, GOLDEN_TEXT, len);
	s = colbuf_text(&d.cols[11], 3, &len);
	assert_memory_equal(s, "ccc", 3);
	colbatch_release(&d);
	buf_release(&file);
	buf_release(&err);
}

static int write_golden(const char *dir)
{
	size_t i;

	for (i = 0; i < TW_ARRAY_SIZE(golden_files); i++) {
		struct buf b = BUF_INIT(1024 * 1024);
		char path[1024];
		FILE *f;

		snprintf(path, sizeof(path), "%s/%s", dir, golden_files[i]);
		golden_bytes(golden_files[i], &b);
		f = fopen(path, "wb");
		if (!f || fwrite(b.ptr, 1, b.len, f) != b.len || fclose(f)) {
			fprintf(stderr, "could not write %s: %s\n", path,
				strerror(errno));
			return 1;
		}
		printf("wrote %s (%zu bytes)\n", path, b.len);
		buf_release(&b);
	}
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_round_trip),
		cmocka_unit_test(test_header_refusals),
		cmocka_unit_test(test_golden_batch_round_trip),
		cmocka_unit_test(test_round_trips),
		cmocka_unit_test(test_zero_columns),
		cmocka_unit_test(test_bitmap_without_null),
		cmocka_unit_test(test_encode_caps),
		cmocka_unit_test(test_small_payload_decodes),
		cmocka_unit_test(test_batch_refusals),
		cmocka_unit_test(test_refusal_empties_previous),
		cmocka_unit_test(test_golden_files_match),
		cmocka_unit_test(test_golden_values),
	};

	if (argc == 3 && !strcmp(argv[1], "--write-golden"))
		return write_golden(argv[2]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
