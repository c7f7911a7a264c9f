"""The runner protocol's codec: frames and the BATCH payload.

docs/internals/protocol.md is the contract; src/sandbox/frame.{h,c} is the C
side and tests/golden/frames/ holds frames both sides' tests decode. This
module imports the standard library only: the tests load it by its path from
the test tools' venv, which has no pandas.

A frame is an 8-byte header (u32 LE payload length, one ASCII type letter,
three zero bytes) and its payload. A BATCH payload is a column batch:

    u32 nrows, u32 ncols, then per column
      u8 kind, u8 flags (bit 0: a validity bitmap follows), u8[6] zero
      [validity]  ceil(nrows / 8) bytes, LSB first, 1 = a value
      fixed kinds nrows * width bytes
      text        (nrows + 1) int32 offsets, u64 data length, data
    every buffer starting at a multiple of 8 from the payload's start,
    padded with zero bytes; nothing after the last column.
"""

from __future__ import annotations

import io
import operator
import re
import struct
import sys

if sys.byteorder != "little":  # pragma: no cover - the C side refuses the same hosts
    raise ImportError("the runner protocol needs a little-endian host")

HEADER_BYTES = 8
PROTOCOL_VERSION = 1

JOB = "J"
READY = "R"
BATCH = "B"
END = "E"
SCHEMA = "H"
PREVIEW = "P"
LOG = "L"
METRICS = "M"
STATUS = "S"

# The largest payload of a JSON or log frame, of one batch's buffers
# together, and of a BATCH frame (src/sandbox/frame.h, src/core/colbatch.h).
MAX_CONTROL = 4 * 1024 * 1024
COLBATCH_MAX_BYTES = 256 * 1024 * 1024
MAX_BATCH = COLBATCH_MAX_BYTES + 1024 * 1024

FRAME_CAPS = {t: MAX_CONTROL for t in "JREHPLMS"}
FRAME_CAPS[BATCH] = MAX_BATCH
IN_TYPES = frozenset((JOB, BATCH, END))
OUT_TYPES = frozenset((READY, BATCH, SCHEMA, PREVIEW, LOG, METRICS, STATUS))

# enum col_kind (src/core/colbatch.h): the numbers are part of the wire format.
BOOL, INT16, INT32, INT64, FLOAT32, FLOAT64, DATE, TIMESTAMP, TIMESTAMPTZ, TEXT = range(1, 11)
KIND_NAMES = {
    BOOL: "bool",
    INT16: "int16",
    INT32: "int32",
    INT64: "int64",
    FLOAT32: "float32",
    FLOAT64: "float64",
    DATE: "date",
    TIMESTAMP: "timestamp",
    TIMESTAMPTZ: "timestamptz",
    TEXT: "text",
}
KIND_BY_NAME = {v: k for k, v in KIND_NAMES.items()}
KIND_WIDTH = {
    BOOL: 1,
    INT16: 2,
    INT32: 4,
    INT64: 8,
    FLOAT32: 4,
    FLOAT64: 8,
    DATE: 4,
    TIMESTAMP: 8,
    TIMESTAMPTZ: 8,
    TEXT: 0,
}

_HEADER = struct.Struct("<IB3s")
_BATCH_HEAD = struct.Struct("<II")
_COL_HEAD = struct.Struct("<BB6s")
_U64 = struct.Struct("<Q")
_ZERO8 = bytes(8)
_CONTINUATION = re.compile(rb"[\x80-\xbf]")


class ProtocolError(Exception):
    """A frame or a batch that breaks the protocol; the message says how."""


def pad8(n: int) -> int:
    """n rounded up to a multiple of 8."""
    return (n + 7) & ~7


# --- frames -------------------------------------------------------------------


def encode_header(ftype: str, length: int) -> bytes:
    cap = FRAME_CAPS.get(ftype)
    if cap is None:
        raise ProtocolError(f"unknown frame type {ftype!r}")
    if length > cap:
        raise ProtocolError(f"a {ftype} frame of {length} bytes is over its cap of {cap}")
    return _HEADER.pack(length, ord(ftype), b"\0\0\0")


def decode_header(header: bytes) -> tuple[str, int]:
    """The type and payload length of an 8-byte header, checked as the C
    side checks it: a known type, zero reserved bytes, within the cap."""
    if len(header) != HEADER_BYTES:
        raise ProtocolError(f"a frame header is {HEADER_BYTES} bytes, not {len(header)}")
    length, code, reserved = _HEADER.unpack(header)
    ftype = chr(code)
    cap = FRAME_CAPS.get(ftype)
    if cap is None:
        raise ProtocolError(f"unknown frame type 0x{code:02x}")
    if reserved != b"\0\0\0":
        raise ProtocolError(f"frame {ftype}: non-zero reserved header bytes")
    if length > cap:
        raise ProtocolError(f"frame {ftype}: payload of {length} bytes over its cap of {cap}")
    return ftype, length


def encode_frame(ftype: str, payload: bytes = b"") -> bytes:
    return encode_header(ftype, len(payload)) + bytes(payload)


def decode_frames(data: bytes) -> list[tuple[str, bytes]]:
    """Every frame of a byte string holding whole frames (tests, tools)."""
    out = []
    pos = 0
    view = memoryview(data)
    while pos < len(data):
        if len(data) - pos < HEADER_BYTES:
            raise ProtocolError("a truncated frame header at the end")
        ftype, length = decode_header(bytes(view[pos : pos + HEADER_BYTES]))
        pos += HEADER_BYTES
        if len(data) - pos < length:
            raise ProtocolError(f"frame {ftype}: {length} bytes announced, {len(data) - pos} left")
        out.append((ftype, bytes(view[pos : pos + length])))
        pos += length
    return out


class FrameReader:
    """Reads frames from a binary stream or a file descriptor."""

    def __init__(self, source, allowed: frozenset[str] | None = None):
        if isinstance(source, int):
            source = io.FileIO(source, "rb", closefd=False)
        self._raw = source
        self._allowed = allowed

    def _fill(self, view: memoryview) -> int:
        got = 0
        while got < len(view):
            n = self._raw.readinto(view[got:])
            if not n:
                break
            got += n
        return got

    def read(self) -> tuple[str, bytearray] | None:
        """The next frame (its type and payload), or None at a clean end of
        the stream (nothing after the last whole frame)."""
        header = bytearray(HEADER_BYTES)
        got = self._fill(memoryview(header))
        if got == 0:
            return None
        if got < HEADER_BYTES:
            raise ProtocolError(f"the stream ended inside a frame header ({got} bytes)")
        ftype, length = decode_header(bytes(header))
        if self._allowed is not None and ftype not in self._allowed:
            raise ProtocolError(f"a {ftype} frame cannot come this way")
        payload = bytearray(length)
        got = self._fill(memoryview(payload))
        if got < length:
            raise ProtocolError(
                f"the stream ended inside a {ftype} frame ({got} of {length} bytes)"
            )
        return ftype, payload


class FrameWriter:
    """Writes whole frames to a binary stream or a file descriptor; a
    payload may be given in parts (big buffers are not joined)."""

    def __init__(self, sink):
        if isinstance(sink, int):
            sink = io.FileIO(sink, "wb", closefd=False)
        self._raw = sink

    def _write_all(self, data) -> None:
        view = memoryview(data).cast("B")
        while len(view):
            n = self._raw.write(view)
            if n is None:  # pragma: no cover - blocking descriptors only
                continue
            view = view[n:]

    def write(self, ftype: str, payload=b"") -> None:
        self.write_parts(ftype, [payload])

    def write_parts(self, ftype: str, parts) -> None:
        total = sum(memoryview(p).nbytes for p in parts)
        header = encode_header(ftype, total)
        if total < 65536:
            self._write_all(header + b"".join(bytes(p) for p in parts))
        else:
            self._write_all(header)
            for p in parts:
                self._write_all(p)
        flush = getattr(self._raw, "flush", None)
        if flush is not None:
            flush()


# --- BATCH payload -------------------------------------------------------------


class Column:
    """One column of a batch: its kind, its validity bitmap (None: no NULL),
    its int32 offsets (text only) and its data, as memoryviews into the
    payload (decoding copies nothing)."""

    __slots__ = ("kind", "validity", "offsets", "data")

    def __init__(self, kind: int, validity=None, offsets=None, data=b""):
        self.kind = kind
        self.validity = validity
        self.offsets = offsets
        self.data = data

    def __repr__(self) -> str:
        return (
            f"Column({KIND_NAMES.get(self.kind, self.kind)}, nulls={self.validity is not None}, "
            f"{memoryview(self.data).nbytes} data bytes)"
        )


class Batch:
    __slots__ = ("nrows", "columns")

    def __init__(self, nrows: int, columns: list[Column]):
        self.nrows = nrows
        self.columns = columns


def _check_zero(view: memoryview, what: str) -> None:
    if view.nbytes and view.tobytes().count(0) != view.nbytes:
        raise ProtocolError(f"{what}: padding bytes are not zero")


def check_bools(data, what: str) -> None:
    """Every byte of a bool column is 0 or 1."""
    if bytes(data).translate(None, b"\0\1"):
        raise ProtocolError(f"{what}: a bool byte other than 0 or 1")


def check_text(offsets, data, what: str) -> None:
    """Offsets start at 0, never decrease and end at the data length; the
    data is UTF-8 and every value starts on a character boundary."""
    offs = memoryview(offsets).cast("B").cast("i")
    dlen = memoryview(data).nbytes
    if offs[0] != 0:
        raise ProtocolError(f"{what}: the first offset is {offs[0]}, not 0")
    if offs[-1] != dlen:
        raise ProtocolError(f"{what}: the last offset is {offs[-1]}, the data {dlen} bytes")
    values = offs.tolist()
    if values != sorted(values):
        raise ProtocolError(f"{what}: offsets decrease")
    raw = bytes(data)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ProtocolError(f"{what}: text that is not UTF-8 at byte {e.start}") from None
    if len(values) > 2 and dlen:
        # Each value must start on a character boundary: the byte at every
        # inner offset (the sentinel NUL stands for the end) is no
        # continuation byte.
        starts = operator.itemgetter(*values[1:-1])(raw + b"\0")
        firsts = bytes(starts) if isinstance(starts, tuple) else bytes((starts,))
        if _CONTINUATION.search(firsts):
            raise ProtocolError(f"{what}: a value that is not UTF-8 (split character)")


def decode_batch(payload, expect: list[int], check_values: bool = True) -> Batch:
    """Decodes and checks a BATCH payload against the kinds expected.

    With check_values False the per-value checks (bool bytes, offsets and
    UTF-8 of text) are left to the caller, which does them vectorised
    (dtypes.py); the layout (counts, kinds, flags, bounds, padding, nothing
    left over) is always checked here."""
    view = memoryview(payload).cast("B")
    size = view.nbytes
    if size < _BATCH_HEAD.size:
        raise ProtocolError(f"batch: {size} bytes, shorter than its header")
    nrows, ncols = _BATCH_HEAD.unpack_from(view, 0)
    if ncols != len(expect):
        raise ProtocolError(f"batch: {ncols} columns, expected {len(expect)}")
    pos = _BATCH_HEAD.size
    cols = []

    def take(n: int, what: str) -> memoryview:
        nonlocal pos
        end = pos + n
        padded = pos + pad8(n)
        if padded > size:
            raise ProtocolError(f"{what} runs past the end of the batch ({padded} > {size})")
        _check_zero(view[end:padded], what)
        out = view[pos:end]
        pos = padded
        return out

    for i, want in enumerate(expect):
        what = f"batch column {i + 1}"
        if pos + _COL_HEAD.size > size:
            raise ProtocolError(f"{what}: its header runs past the end of the batch")
        kind, flags, zero = _COL_HEAD.unpack_from(view, pos)
        pos += _COL_HEAD.size
        if kind != want:
            raise ProtocolError(
                f"{what}: kind {KIND_NAMES.get(kind, kind)}, expected {KIND_NAMES.get(want, want)}"
            )
        if flags & ~1:
            raise ProtocolError(f"{what}: unknown flags 0x{flags:02x}")
        if zero != bytes(6):
            raise ProtocolError(f"{what}: non-zero reserved bytes")
        validity = take((nrows + 7) // 8, f"{what} validity") if flags & 1 else None
        if kind == TEXT:
            offsets = take(4 * (nrows + 1), f"{what} offsets")
            if pos + 8 > size:
                raise ProtocolError(f"{what}: its data length runs past the end of the batch")
            (dlen,) = _U64.unpack_from(view, pos)
            pos += 8
            data = take(dlen, f"{what} data")
            offs = offsets.cast("i")
            if offs[0] != 0:
                raise ProtocolError(f"{what}: the first offset is {offs[0]}, not 0")
            if offs[-1] != dlen:
                raise ProtocolError(f"{what}: the last offset is {offs[-1]}, the data {dlen} bytes")
            if check_values:
                check_text(offsets, data, what)
        else:
            offsets = None
            data = take(nrows * KIND_WIDTH[kind], f"{what} data")
            if kind == BOOL and check_values:
                check_bools(data, what)
        cols.append(Column(kind, validity, offsets, data))
    if pos != size:
        raise ProtocolError(f"batch: {size - pos} bytes left over after the last column")
    return Batch(nrows, cols)


def encode_batch(nrows: int, columns: list[Column]) -> list:
    """A BATCH payload as a list of buffers (the big ones are not copied):
    write it with FrameWriter.write_parts(BATCH, parts). Each column's
    validity is None (no NULL) or ceil(nrows / 8) bytes; text columns carry
    nrows + 1 int32 offsets starting at 0."""
    parts: list = [_BATCH_HEAD.pack(nrows, len(columns))]

    def add(buf) -> None:
        n = memoryview(buf).nbytes
        parts.append(buf)
        if n % 8:
            parts.append(_ZERO8[: pad8(n) - n])

    for i, c in enumerate(columns):
        if c.kind not in KIND_NAMES:
            raise ProtocolError(f"column {i + 1}: unknown kind {c.kind}")
        parts.append(_COL_HEAD.pack(c.kind, 1 if c.validity is not None else 0, bytes(6)))
        if c.validity is not None:
            if memoryview(c.validity).nbytes != (nrows + 7) // 8:
                raise ProtocolError(f"column {i + 1}: a validity bitmap of the wrong size")
            add(c.validity)
        if c.kind == TEXT:
            if memoryview(c.offsets).nbytes != 4 * (nrows + 1):
                raise ProtocolError(f"column {i + 1}: {nrows + 1} offsets expected")
            add(c.offsets)
            dlen = memoryview(c.data).nbytes
            parts.append(_U64.pack(dlen))
            add(c.data)
        else:
            if memoryview(c.data).nbytes != nrows * KIND_WIDTH[c.kind]:
                raise ProtocolError(f"column {i + 1}: data of the wrong size")
            add(c.data)
    return parts


def batch_bytes(parts) -> int:
    return sum(memoryview(p).nbytes for p in parts)
