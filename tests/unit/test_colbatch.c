/*
 * test_colbatch.c - column batches (src/core/colbatch.h): building row by
 * row, reading back, NULLs, truncating a partial row, and the caps.
 */
#include "core/compat.h"

#include <setjmp.h>
#include <cmocka.h>

#include "core/colbatch.h"
#include "core/err.h"

static void test_kinds(void **state)
{
	static const struct {
		enum col_kind kind;
		const char *name;
		size_t width;
	} want[] = {
		{ COL_BOOL, "bool", 1 },
		{ COL_INT16, "int16", 2 },
		{ COL_INT32, "int32", 4 },
		{ COL_INT64, "int64", 8 },
		{ COL_FLOAT32, "float32", 4 },
		{ COL_FLOAT64, "float64", 8 },
		{ COL_DATE, "date", 4 },
		{ COL_TIMESTAMP, "timestamp", 8 },
		{ COL_TIMESTAMPTZ, "timestamptz", 8 },
		{ COL_TEXT, "text", 0 },
	};
	size_t i;

	(void)state;
	/* The numbers are the wire format's. */
	assert_int_equal(COL_BOOL, 1);
	assert_int_equal(COL_TEXT, 10);
	for (i = 0; i < TW_ARRAY_SIZE(want); i++) {
		assert_int_equal(want[i].kind, (int)i + 1);
		assert_string_equal(col_kind_name(want[i].kind), want[i].name);
		assert_int_equal(col_kind_width(want[i].kind), want[i].width);
		assert_int_equal(col_kind_from_name(want[i].name),
				 want[i].kind);
	}
	assert_null(col_kind_name((enum col_kind)0));
	assert_null(col_kind_name((enum col_kind)11));
	assert_int_equal(col_kind_width((enum col_kind)11), 0);
	assert_int_equal(col_kind_from_name("Int64"), 0);
	assert_int_equal(col_kind_from_name(""), 0);
	assert_int_equal(col_kind_from_name(NULL), 0);
}

static void test_init_refuses_unknown_kind(void **state)
{
	enum col_kind kinds[] = { COL_INT64, (enum col_kind)42 };
	struct colbatch b;

	(void)state;
	assert_int_equal(colbatch_init(&b, kinds, 2), TW_EINVAL);
	assert_int_equal(b.ncols, 0);
	colbatch_release(&b);
	kinds[1] = (enum col_kind)0;
	assert_int_equal(colbatch_init(&b, kinds, 2), TW_EINVAL);
	colbatch_release(&b);
}

/* Every kind, with a NULL in every column, read back value by value. */
static void test_build_and_read(void **state)
{
	static const enum col_kind kinds[] = {
		COL_BOOL,	 COL_INT16,   COL_INT32, COL_INT64,
		COL_FLOAT32,	 COL_FLOAT64, COL_DATE,	 COL_TIMESTAMP,
		COL_TIMESTAMPTZ, COL_TEXT,
	};
	static const char *const texts[] = { "a", "", NULL, "h\xc3\xa9llo" };
	struct colbatch b;
	size_t row, i, len;

	(void)state;
	assert_int_equal(colbatch_init(&b, kinds, TW_ARRAY_SIZE(kinds)), 0);
	assert_int_equal(b.nrows, 0);
	/* An empty text column already has its offset 0. */
	assert_int_equal(b.cols[9].offsets.len, 4);
	for (row = 0; row < 20; row++) {
		bool null = row % 4 == 2;

		for (i = 0; i < TW_ARRAY_SIZE(kinds); i++) {
			struct colbuf *c = &b.cols[i];
			int64_t v = (int64_t)row * 1000 - 7;
			unsigned char raw[8];

			if (null) {
				assert_int_equal(colbuf_append_null(c, row), 0);
				continue;
			}
			if (c->kind == COL_TEXT) {
				const char *s = texts[row % 4];

				assert_int_equal(colbuf_append_text(c, row, s,
								    strlen(s)),
						 0);
				continue;
			}
			if (c->kind == COL_BOOL)
				v = row % 3 == 0;
			memcpy(raw, &v, 8); /* little-endian: low bytes */
			if (c->kind == COL_FLOAT32) {
				float f = (float)v / 4;

				memcpy(raw, &f, 4);
			} else if (c->kind == COL_FLOAT64) {
				double d = (double)v / 4;

				memcpy(raw, &d, 8);
			}
			assert_int_equal(colbuf_append_fixed(c, row, raw), 0);
		}
		colbatch_end_row(&b);
	}
	assert_int_equal(b.nrows, 20);
	for (i = 0; i < TW_ARRAY_SIZE(kinds); i++) {
		const struct colbuf *c = &b.cols[i];

		assert_true(c->any_null);
		assert_int_equal(c->validity.len, 3);
		if (c->kind != COL_TEXT)
			assert_int_equal(c->data.len,
					 20 * col_kind_width(c->kind));
		for (row = 0; row < 20; row++) {
			int64_t v = (int64_t)row * 1000 - 7;

			assert_int_equal(colbuf_is_null(c, row), row % 4 == 2);
			if (c->kind == COL_TEXT) {
				const char *s = colbuf_text(c, row, &len);
				const char *w = texts[row % 4];

				if (!w) {
					assert_int_equal(len, 0);
					continue;
				}
				assert_int_equal(len, strlen(w));
				assert_memory_equal(s, w, len);
				continue;
			}
			if (row % 4 == 2) {
				/* A NULL row holds zeros. */
				static const char zero[8];

				assert_memory_equal(colbuf_fixed(c, row), zero,
						    col_kind_width(c->kind));
				continue;
			}
			switch (c->kind) {
			case COL_BOOL:
				assert_int_equal(
					*(const uint8_t *)colbuf_fixed(c, row),
					row % 3 == 0);
				break;
			case COL_INT16:
				assert_int_equal(
					*(const int16_t *)colbuf_fixed(c, row),
					(int16_t)v);
				break;
			case COL_INT32:
			case COL_DATE:
				assert_int_equal(
					*(const int32_t *)colbuf_fixed(c, row),
					(int32_t)v);
				break;
			case COL_FLOAT32:
				assert_true(*(const float *)colbuf_fixed(
						    c, row) == (float)v / 4);
				break;
			case COL_FLOAT64:
				assert_true(*(const double *)colbuf_fixed(
						    c, row) == (double)v / 4);
				break;
			default:
				assert_int_equal(
					*(const int64_t *)colbuf_fixed(c, row),
					v);
			}
		}
	}
	/* The text column's offsets: NULL rows have length 0. */
	{
		const int32_t *o =
			(const int32_t *)(const void *)b.cols[9].offsets.ptr;

		assert_int_equal(b.cols[9].offsets.len, 21 * 4);
		assert_int_equal(o[0], 0);
		assert_int_equal(o[1], 1);
		assert_int_equal(o[2], 1);
		assert_int_equal(o[3], 1);
		assert_int_equal(o[4], 7);
		assert_int_equal(o[20], (int32_t)b.cols[9].data.len);
	}
	assert_int_equal(colbatch_bytes(&b),
			 3 * 10 + 20 * (1 + 2 + 4 + 8 + 4 + 8 + 4 + 8 + 8) +
				 21 * 4 + b.cols[9].data.len);
	colbatch_release(&b);
	assert_int_equal(b.ncols, 0);
	assert_null(b.cols);
}

/* A column without a NULL says so; a truncate recomputes it. */
static void test_any_null_and_truncate(void **state)
{
	static const enum col_kind kinds[] = { COL_INT32, COL_TEXT };
	struct colbatch b;
	size_t row, len;
	int32_t v;

	(void)state;
	assert_int_equal(colbatch_init(&b, kinds, 2), 0);
	for (row = 0; row < 9; row++) {
		v = (int32_t)row;
		assert_int_equal(colbuf_append_fixed(&b.cols[0], row, &v), 0);
		assert_int_equal(colbuf_append_text(&b.cols[1], row, "xy", 2),
				 0);
		colbatch_end_row(&b);
	}
	assert_false(b.cols[0].any_null);
	assert_false(b.cols[1].any_null);
	assert_int_equal(b.cols[0].validity.len, 2);
	assert_int_equal((unsigned char)b.cols[0].validity.ptr[0], 0xFF);
	assert_int_equal((unsigned char)b.cols[0].validity.ptr[1], 0x01);

	/* A partial row 9: the first column NULL, the second never came. */
	assert_int_equal(colbuf_append_null(&b.cols[0], 9), 0);
	assert_true(b.cols[0].any_null);
	colbatch_truncate(&b, b.nrows);
	assert_int_equal(b.nrows, 9);
	assert_false(b.cols[0].any_null);
	assert_int_equal(b.cols[0].data.len, 9 * 4);
	assert_int_equal(b.cols[0].validity.len, 2);
	/* The row can be appended again. */
	v = 99;
	assert_int_equal(colbuf_append_fixed(&b.cols[0], 9, &v), 0);
	assert_int_equal(colbuf_append_null(&b.cols[1], 9), 0);
	colbatch_end_row(&b);
	assert_true(b.cols[1].any_null);
	assert_false(b.cols[0].any_null);
	assert_int_equal(*(const int32_t *)colbuf_fixed(&b.cols[0], 9), 99);
	assert_true(colbuf_is_null(&b.cols[1], 9));

	/* Truncating to 3 rows, partway through a validity byte. */
	colbatch_truncate(&b, 3);
	assert_int_equal(b.nrows, 3);
	assert_int_equal(b.cols[0].validity.len, 1);
	assert_int_equal((unsigned char)b.cols[0].validity.ptr[0], 0x07);
	assert_int_equal(b.cols[1].offsets.len, 16);
	assert_int_equal(b.cols[1].data.len, 6);
	assert_false(b.cols[1].any_null);
	assert_memory_equal(colbuf_text(&b.cols[1], 2, &len), "xy", 2);
	assert_int_equal(len, 2);

	/* A reset keeps the memory and the kinds. */
	colbatch_reset(&b);
	assert_int_equal(b.nrows, 0);
	assert_int_equal(colbatch_bytes(&b), 4);
	assert_true(b.cols[0].data.alloc > 0);
	v = 5;
	assert_int_equal(colbuf_append_fixed(&b.cols[0], 0, &v), 0);
	assert_int_equal(colbuf_append_text(&b.cols[1], 0, "", 0), 0);
	colbatch_end_row(&b);
	assert_int_equal(b.nrows, 1);
	assert_false(colbuf_is_null(&b.cols[1], 0));
	colbatch_release(&b);
}

static size_t caps(const struct colbatch *b)
{
	size_t i, n = 0;

	for (i = 0; i < b->ncols; i++)
		n += b->cols[i].validity.cap + b->cols[i].offsets.cap +
		     b->cols[i].data.cap;
	return n;
}

/* The caps of every buffer together stay within COLBATCH_MAX_BYTES. */
static void test_caps_sum(void **state)
{
	enum col_kind kinds[1600];
	struct colbatch b;
	size_t n, i;

	(void)state;
	for (n = 1; n <= 1600; n = n * 3 + 1) {
		for (i = 0; i < n; i++)
			kinds[i] = (enum col_kind)(1 + (i * 7 + n) % 10);
		assert_int_equal(colbatch_init(&b, kinds, n), 0);
		assert_true(caps(&b) <= COLBATCH_MAX_BYTES);
		/* ... and leave room for a sensible batch. */
		for (i = 0; i < n; i++)
			assert_true(b.cols[i].validity.cap >= 100000 / 8 ||
				    n > 200);
		colbatch_release(&b);
	}
	kinds[0] = COL_BOOL;
	assert_int_equal(colbatch_init(&b, kinds, 1), 0);
	assert_true(caps(&b) <= COLBATCH_MAX_BYTES);
	assert_true(b.cols[0].data.cap > COLBATCH_MAX_BYTES / 3);
	colbatch_release(&b);
	assert_int_equal(colbatch_init(&b, kinds, 0), 0);
	assert_int_equal(colbatch_bytes(&b), 0);
	colbatch_release(&b);
}

/* A value past its buffer's cap is TW_ETOOBIG, and leaves no trace. */
static void test_text_cap(void **state)
{
	enum col_kind kinds[1000];
	struct colbatch b;
	size_t i, cap, len;
	char *big;

	(void)state;
	for (i = 0; i < 1000; i++)
		kinds[i] = COL_TEXT;
	assert_int_equal(colbatch_init(&b, kinds, 1000), 0);
	cap = b.cols[0].data.cap;
	assert_true(cap < 1024 * 1024);
	big = calloc(1, cap + 1);
	assert_non_null(big);
	memset(big, 'x', cap + 1);
	assert_int_equal(colbuf_append_text(&b.cols[0], 0, "ok", 2), 0);
	for (i = 1; i < 1000; i++)
		assert_int_equal(colbuf_append_null(&b.cols[i], 0), 0);
	colbatch_end_row(&b);
	assert_int_equal(colbuf_append_text(&b.cols[0], 1, big, cap + 1),
			 TW_ETOOBIG);
	assert_int_equal(b.cols[0].validity.len, 1);
	assert_int_equal(b.cols[0].offsets.len, 8);
	assert_int_equal(b.cols[0].data.len, 2);
	/* What still fits goes in. */
	assert_int_equal(colbuf_append_text(&b.cols[0], 1, big, cap - 2), 0);
	assert_int_equal(colbuf_append_text(&b.cols[1], 1, big, 1), 0);
	colbatch_truncate(&b, 1);
	assert_int_equal(b.cols[0].data.len, 2);
	assert_memory_equal(colbuf_text(&b.cols[0], 0, &len), "ok", 2);
	free(big);
	colbatch_release(&b);
}

/* Fixed columns stop at the row cap with TW_ETOOBIG too. */
static void test_fixed_cap(void **state)
{
	enum col_kind kinds[3000];
	struct colbatch b;
	size_t i, row = 0;
	int64_t v = 1;
	int rc = 0;

	(void)state;
	for (i = 0; i < 3000; i++)
		kinds[i] = COL_INT64;
	assert_int_equal(colbatch_init(&b, kinds, 3000), 0);
	while (rc == 0 && row < 1000000) {
		for (i = 0; i < 3000 && rc == 0; i++)
			rc = colbuf_append_fixed(&b.cols[i], row, &v);
		if (rc == 0) {
			colbatch_end_row(&b);
			row++;
		}
	}
	assert_int_equal(rc, TW_ETOOBIG);
	assert_true(row > 1000);
	assert_true(colbatch_bytes(&b) <= COLBATCH_MAX_BYTES);
	colbatch_truncate(&b, b.nrows);
	for (i = 0; i < 3000; i++)
		assert_int_equal(b.cols[i].data.len, row * 8);
	colbatch_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kinds),
		cmocka_unit_test(test_init_refuses_unknown_kind),
		cmocka_unit_test(test_build_and_read),
		cmocka_unit_test(test_any_null_and_truncate),
		cmocka_unit_test(test_caps_sum),
		cmocka_unit_test(test_text_cap),
		cmocka_unit_test(test_fixed_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
