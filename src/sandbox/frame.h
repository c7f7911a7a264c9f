/*
 * frame.h - the runner protocol as a pure codec: length-prefixed, typed
 * frames on the sandbox child's stdin and stdout (no I/O here; everything
 * capped). The conversation, the JSON of each frame and the BATCH layout
 * are in docs/internals/protocol.md; sandbox/tablewright_runner/frames.py
 * is the Python side, and tests/golden/frames/ holds frames both sides'
 * tests decode.
 *
 * A frame: an 8-byte header, then the payload.
 *   u32 LE  payload length
 *   u8      type (enum frame_type, an ASCII letter)
 *   u8[3]   zero
 */
#ifndef TW_SANDBOX_FRAME_H
#define TW_SANDBOX_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/colbatch.h"

#define FRAME_HEADER_BYTES 8
#define FRAME_PROTOCOL_VERSION 1

enum frame_type {
	FRAME_JOB = 'J',     /* worker -> runner: JSON, the job and its code */
	FRAME_READY = 'R',   /* runner -> worker: JSON, the code compiled */
	FRAME_BATCH = 'B',   /* both ways: a column batch (binary) */
	FRAME_END = 'E',     /* worker -> runner: no more input; empty */
	FRAME_SCHEMA = 'H',  /* runner -> worker: JSON, the output columns */
	FRAME_PREVIEW = 'P', /* runner -> worker: JSON, preview rows+profile */
	FRAME_LOG = 'L',     /* runner -> worker: UTF-8 log text */
	FRAME_METRICS = 'M', /* runner -> worker: JSON, rows done */
	FRAME_STATUS = 'S',  /* runner -> worker: JSON, the final status */
};

/* The largest payload of a JSON or log frame (JOB: the code is smaller). */
#define FRAME_MAX_CONTROL ((size_t)4 * 1024 * 1024)
/* The largest payload of a BATCH frame. */
#define FRAME_MAX_BATCH (COLBATCH_MAX_BYTES + (size_t)1024 * 1024)

/* The cap of a frame type's payload; 0 for a type that is not known. */
size_t frame_max_payload(enum frame_type type);

/* Appends one frame to out. TW_EINVAL for an unknown type or a payload
 * over the type's cap, TW_ETOOBIG when out is full. */
int frame_encode(struct buf *out, enum frame_type type, const void *payload,
		 size_t len, struct buf *err);

struct frame {
	enum frame_type type;
	const uint8_t *payload; /* points into the input */
	size_t len;
};

/*
 * frame_decode() looks at the first len bytes of in: 1 when a whole frame
 * is there (f filled, *used = its size with the header), 0 when more bytes
 * are needed, TW_EINVAL (err says why) for a malformed header: an unknown
 * type, non-zero reserved bytes, or a length over the type's cap (refused
 * as soon as the header is in, before the payload arrives).
 */
int frame_decode(const uint8_t *in, size_t len, struct frame *f, size_t *used,
		 struct buf *err);

/* Appends a whole BATCH frame holding b (the layout in protocol.md). */
int frame_batch_encode(struct buf *out, const struct colbatch *b,
		       struct buf *err);

/*
 * frame_batch_decode() checks a BATCH payload against the kinds expected
 * (ncols of them) and copies it into out, which it (re)initialises: out is
 * zeroed or holds a batch, whose memory is reused when its kinds are the
 * expected ones; on failure it is an empty batch of those kinds. It
 * refuses with TW_EINVAL and a message: a column count or kind other than
 * expected, a buffer that runs past the payload, offsets that do not start
 * at 0 or decrease or pass the data, text that is not UTF-8, a bool other
 * than 0/1, non-zero padding, or bytes left over.
 */
int frame_batch_decode(const uint8_t *payload, size_t len,
		       const enum col_kind *expect, size_t ncols,
		       struct colbatch *out, struct buf *err);

#endif
