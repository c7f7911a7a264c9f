/*
 * fuzz_frame.c - libFuzzer target for the runner protocol's frame parser,
 * frame_decode() (src/sandbox/frame.c).
 *
 * The input is read as a stream of frames, as the worker reads a child's
 * stdout: frame after frame until the parser wants more bytes or refuses.
 * Besides memory errors and undefined behaviour (the parser sees exactly
 * the fuzzer's bytes, so a read past them is caught by ASan), it checks the
 * promises callers rely on: a frame is whole and inside the input, of a
 * known type, within its type's cap; re-encoding it gives its bytes back;
 * one byte less of it is "more bytes needed"; "more bytes needed" comes
 * only when the frame is indeed incomplete; a refusal says why in one line
 * and comes as soon as the header is in, whatever follows.
 *
 * Build with cmake -DTW_FUZZ=ON (clang), then run, for example:
 *	./fuzz_frame -runs=200000 -max_len=4096 tests/fuzz/corpus/frame
 */
#include "core/compat.h"
#include "core/buf.h"
#include "core/err.h"
#include "sandbox/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_message(const struct buf *err)
{
	if (!err->len || strchr(err->ptr, '\n') || strlen(err->ptr) != err->len)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	struct buf again = BUF_INIT(FRAME_MAX_CONTROL + FRAME_HEADER_BYTES);
	size_t off = 0;

	for (;;) {
		const uint8_t *in = data + off;
		size_t left = size - off, used = 0, short_used = 0;
		struct frame f;
		int rc;

		buf_reset(&err);
		rc = frame_decode(in, left, &f, &used, &err);
		if (rc == 0) {
			uint32_t plen;

			/* Only an incomplete frame asks for more. */
			if (err.len)
				abort();
			if (left >= FRAME_HEADER_BYTES) {
				memcpy(&plen, in, 4);
				if (left - FRAME_HEADER_BYTES >= plen)
					abort();
			}
			break;
		}
		if (rc < 0) {
			if (rc != TW_EINVAL || left < FRAME_HEADER_BYTES)
				abort();
			check_message(&err);
			/* The header alone is enough to refuse. */
			buf_reset(&err);
			if (frame_decode(in, FRAME_HEADER_BYTES, &f, &used,
					 &err) != TW_EINVAL)
				abort();
			break;
		}
		if (rc != 1 || used != FRAME_HEADER_BYTES + f.len ||
		    used > left || f.payload != in + FRAME_HEADER_BYTES ||
		    !frame_max_payload(f.type) ||
		    f.len > frame_max_payload(f.type) || err.len)
			abort();
		/* One byte short of the frame: more bytes needed. */
		if (frame_decode(in, used - 1, &f, &short_used, &err) != 0)
			abort();
		/* The same bytes again from the encoder. */
		buf_reset(&again);
		if (frame_decode(in, left, &f, &used, &err) != 1 ||
		    frame_encode(&again, f.type, f.payload, f.len, &err) != 0 ||
		    again.len != used || memcmp(again.ptr, in, used) != 0)
			abort();
		off += used;
	}
	buf_release(&err);
	buf_release(&again);
	return 0;
}
