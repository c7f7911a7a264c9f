"""The Python codec (sandbox/tablewright_runner/frames.py) against the
golden frames the C encoder wrote (tests/golden/frames/, described in its
README), its own checks of headers and batches, and the real runner's
answer to frames that break the protocol: exit status 3, a message on
stderr, no STATUS."""

from __future__ import annotations

import datetime
import json
import math
import struct
from pathlib import Path

import pytest
import runnerwire as wire
from runnerwire import frames

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "frames"
ALL_KINDS = [
    frames.INT64,
    frames.BOOL,
    frames.INT16,
    frames.INT32,
    frames.INT64,
    frames.FLOAT32,
    frames.FLOAT64,
    frames.DATE,
    frames.TIMESTAMP,
    frames.TIMESTAMPTZ,
    frames.TEXT,
    frames.TEXT,
]
LABEL3 = 'h\u00e9llo, "w\u00f6rld"\t\n\\ \u65e5\u672c \U0001f389'
UTC = datetime.UTC


def golden(name: str) -> tuple[str, bytes]:
    (frame,) = frames.decode_frames((GOLDEN / name).read_bytes())
    return frame


def all_kinds_columns() -> list[dict]:
    c = wire.column
    return [
        c("id", "int8", False),
        c("flag", "bool"),
        c("small", "int2"),
        c("medium", "int4"),
        c("big", "int8"),
        c("ratio", "float4"),
        c("score", "float8"),
        c("day", "date"),
        c("at", "timestamp"),
        c("at_tz", "timestamptz"),
        c("label", "text"),
        c("note", "text", False),
    ]


def test_golden_batch_all_kinds_decodes_to_the_readme_values() -> None:
    ftype, payload = golden("batch_all_kinds.bin")
    assert ftype == frames.BATCH and len(payload) == 520
    batch = frames.decode_batch(payload, ALL_KINDS)
    assert batch.nrows == 4
    assert [c.validity is None for c in batch.columns] == [True] + [False] * 10 + [True]
    assert all(bytes(c.validity) == b"\x0b" for c in batch.columns[1:11])
    rows = wire.decode_rows(batch)
    cols = list(zip(*rows, strict=True))
    assert cols[0] == (1, 2, 3, 4)
    assert cols[1] == (True, False, None, True)
    assert cols[2] == (-32768, 0, None, 32767)
    assert cols[3] == (-2147483648, -1, None, 2147483647)
    assert cols[4] == (-(2**63), 42, None, 2**63 - 1)
    assert cols[5][:2] == (1.5, -2.25) and cols[5][2] is None
    assert cols[5][3] == struct.unpack("<f", struct.pack("<f", 3.4028234663852886e38))[0]
    assert cols[6][:3] == (0.1, -1e300, None) and cols[6][3] == math.inf
    # -10957 days is 1940-01-02 (the README's "1940-01-01" is one day off)
    assert cols[7] == (
        datetime.date(1970, 1, 1),
        datetime.date(1940, 1, 2),
        None,
        datetime.date(2024, 1, 1),
    )
    assert cols[8] == (
        datetime.datetime(1970, 1, 1),
        datetime.datetime(1969, 12, 31, 23, 59, 59, 999999),
        None,
        datetime.datetime(2023, 11, 14, 22, 13, 20, 123456),
    )
    assert cols[9] == (
        datetime.datetime(2000, 1, 1, tzinfo=UTC),
        datetime.datetime(1900, 1, 1, tzinfo=UTC),
        None,
        datetime.datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
    )
    assert cols[10] == ("plain", "", None, LABEL3)
    assert len(LABEL3.encode()) == 31
    assert cols[11] == ("a", "bb", "", "ccc")
    assert list(memoryview(batch.columns[10].offsets).cast("i")) == [0, 5, 5, 5, 36]


def test_golden_batch_empty_and_control_frames() -> None:
    ftype, payload = golden("batch_empty.bin")
    assert ftype == frames.BATCH and len(payload) == 40
    batch = frames.decode_batch(payload, [frames.INT64, frames.TEXT])
    assert batch.nrows == 0 and len(batch.columns) == 2
    assert golden("end.bin") == (frames.END, b"")
    ftype, payload = golden("job.bin")
    assert ftype == frames.JOB and len(payload) == 418
    job = json.loads(payload)
    assert job["protocol"] == 1 and job["task"] == "run" and job["job_id"] == 42
    assert [c["name"] for c in job["columns"]] == ["id", "note"]


def test_python_encoder_writes_the_golden_bytes() -> None:
    """The runner's encoder, given the golden batch's columns, writes the
    same bytes as the C encoder."""
    _, payload = golden("batch_all_kinds.bin")
    batch = frames.decode_batch(payload, ALL_KINDS)
    again = b"".join(bytes(p) for p in frames.encode_batch(batch.nrows, batch.columns))
    assert again == payload
    rows = wire.decode_rows(batch)
    assert wire.encode_batch(ALL_KINDS, rows) == payload
    _, empty = golden("batch_empty.bin")
    assert wire.encode_batch([frames.INT64, frames.TEXT], []) == empty


def test_runner_round_trips_the_golden_batch_byte_for_byte() -> None:
    """The golden batch through the real runner and `return df`: every
    kind to pandas and back, NULLs included, and the same bytes out."""
    _, payload = golden("batch_all_kinds.bin")
    data = wire.job_frame("def transform(df):\n    return df\n", all_kinds_columns())
    data += frames.encode_frame(frames.BATCH, payload) + frames.encode_frame(frames.END)
    res = wire.run_runner(data)
    assert res.ok, res
    assert [(c["kind"]) for c in res.schema] == [frames.KIND_NAMES[k] for k in ALL_KINDS]
    assert res.types_of()["day"] == ("date", "date")
    out = [p for t, p in res.frames if t == frames.BATCH]
    assert out == [payload]


# --- header checks ------------------------------------------------------------------


def test_header_checks() -> None:
    assert frames.decode_header(struct.pack("<IB3s", 5, ord("L"), b"\0\0\0")) == ("L", 5)
    with pytest.raises(frames.ProtocolError, match="unknown frame type"):
        frames.decode_header(struct.pack("<IB3s", 0, ord("X"), b"\0\0\0"))
    with pytest.raises(frames.ProtocolError, match="reserved"):
        frames.decode_header(struct.pack("<IB3s", 0, ord("E"), b"\0\1\0"))
    with pytest.raises(frames.ProtocolError, match="over its cap"):
        frames.decode_header(struct.pack("<IB3s", frames.MAX_CONTROL + 1, ord("J"), b"\0\0\0"))
    assert frames.decode_header(struct.pack("<IB3s", frames.MAX_BATCH, ord("B"), b"\0\0\0"))
    with pytest.raises(frames.ProtocolError, match="over its cap"):
        frames.decode_header(struct.pack("<IB3s", frames.MAX_BATCH + 1, ord("B"), b"\0\0\0"))
    with pytest.raises(frames.ProtocolError):
        frames.encode_header("S", frames.MAX_CONTROL + 1)
    with pytest.raises(frames.ProtocolError):
        frames.encode_header("Q", 0)


# --- batch checks ---------------------------------------------------------------


def text_batch(offsets, data: bytes, nrows: int | None = None) -> bytes:
    n = len(offsets) - 1 if nrows is None else nrows
    col = frames.Column(frames.TEXT, None, struct.pack(f"<{len(offsets)}i", *offsets), data)
    return b"".join(bytes(p) for p in frames.encode_batch(n, [col]))


BAD_BATCHES = {
    "short": (b"\0\0\0", [frames.INT64], "shorter than its header"),
    "ncols": (
        wire.encode_batch([frames.INT64], [[1]]),
        [frames.INT64, frames.INT64],
        "1 columns, expected 2",
    ),
    "kind": (
        wire.encode_batch([frames.INT32], [[1]]),
        [frames.INT64],
        "kind int32, expected int64",
    ),
    "flags": (None, [frames.INT64], "unknown flags"),
    "reserved": (None, [frames.INT64], "reserved"),
    "past_end": (None, [frames.INT64], "runs past the end"),
    "left_over": (wire.encode_batch([frames.INT64], [[1]]) + bytes(8), [frames.INT64], "left over"),
    "padding": (None, [frames.INT32], "padding bytes are not zero"),
    "bool": (
        b"".join(
            bytes(p)
            for p in frames.encode_batch(1, [frames.Column(frames.BOOL, None, None, b"\x02")])
        ),
        [frames.BOOL],
        "bool byte",
    ),
    "first_offset": (text_batch([1, 2], b"ab"), [frames.TEXT], "first offset"),
    "last_offset": (None, [frames.TEXT], "last offset"),
    "decreasing": (text_batch([0, 2, 1, 3], b"abc"), [frames.TEXT], "offsets decrease"),
    "utf8": (text_batch([0, 2], b"\xff\xfe"), [frames.TEXT], "not UTF-8"),
    "split_char": (text_batch([0, 1, 2], "é".encode()), [frames.TEXT], "not UTF-8"),
}


def _bad(name: str) -> tuple[bytes, list, str]:
    payload, kinds, match = BAD_BATCHES[name]
    good = bytearray(wire.encode_batch([frames.INT64], [[7]]))
    if name == "flags":
        good[9] = 2
        payload = bytes(good)
    elif name == "reserved":
        good[12] = 1
        payload = bytes(good)
    elif name == "past_end":
        payload = bytes(good[:-8])
    elif name == "padding":
        p = bytearray(wire.encode_batch([frames.INT32], [[7]]))
        p[-1] = 1
        payload = bytes(p)
    elif name == "last_offset":
        p = bytearray(text_batch([0, 2], b"ab"))
        struct.pack_into("<i", p, 8 + 8 + 4, 1)
        payload = bytes(p)
    return payload, kinds, match


@pytest.mark.parametrize("name", sorted(BAD_BATCHES))
def test_batch_checks(name: str) -> None:
    payload, kinds, match = _bad(name)
    with pytest.raises(frames.ProtocolError, match=match):
        frames.decode_batch(payload, kinds)


@pytest.mark.parametrize(
    "name", ["bool", "decreasing", "utf8", "split_char", "padding", "left_over", "kind"]
)
def test_runner_refuses_a_bad_batch_with_status_3(name: str) -> None:
    payload, kinds, _ = _bad(name)
    pg = {frames.INT64: "int8", frames.INT32: "int4", frames.BOOL: "bool", frames.TEXT: "text"}
    cols = [wire.column(f"c{i}", pg[k]) for i, k in enumerate(kinds)]
    data = wire.job_frame("def transform(df):\n    return df\n", cols)
    data += frames.encode_frame(frames.BATCH, payload) + frames.encode_frame(frames.END)
    res = wire.run_runner(data)
    assert res.returncode == 3, res
    assert "protocol error" in res.stderr
    assert frames.STATUS not in res.types


CODE = "def transform(df):\n    return df\n"


@pytest.mark.parametrize(
    "stream, message",
    [
        (b"", "ended before a JOB frame"),
        (frames.encode_frame(frames.END), "before the JOB frame"),
        (b"\x05\0\0\0X\0\0\0hello", "unknown frame type"),
        (b"\x02\0\0\0J\0\1\0{}", "reserved"),
        (struct.pack("<IB3s", frames.MAX_CONTROL + 1, ord("J"), b"\0\0\0"), "over its cap"),
        (frames.encode_frame(frames.JOB, b"not json"), "not JSON"),
        (frames.encode_frame(frames.JOB, b'{"protocol": 2}'), "protocol 2"),
        (
            frames.encode_frame(
                frames.JOB, json.dumps({"protocol": 1, "task": "fly", "code": ""}).encode()
            ),
            "unknown task",
        ),
        (
            wire.job_frame(
                CODE,
                [
                    {
                        "name": "x",
                        "type": "integer",
                        "pgtype": "int4",
                        "kind": "int64",
                        "nullable": True,
                    }
                ],
            ),
            "kind",
        ),
        (wire.job_frame(CODE, [wire.column("x", "int4")]), "ended before its END frame"),
        (
            wire.job_frame(CODE, [wire.column("x", "int4")]) + wire.job_frame(CODE, []),
            "cannot come this way|after the job started",
        ),
        (
            wire.job_frame(CODE, [wire.column("x", "int4")])
            + frames.encode_frame(frames.READY, b"{}"),
            "cannot come this way",
        ),
        (
            wire.job_frame(CODE, [wire.column("x", "int4")]) + b"\x10\0\0\0B\0\0\0abc",
            "ended inside",
        ),
        (
            wire.job_frame(CODE, [wire.column("x", "int4")])
            + frames.encode_frame(frames.END, b"x"),
            "END frame with a payload",
        ),
    ],
)
def test_runner_refuses_protocol_errors(stream: bytes, message: str) -> None:
    res = wire.run_runner(stream)
    assert res.returncode == 3, res
    assert frames.STATUS not in res.types
    import re

    assert re.search(message, res.stderr), res.stderr


def test_validate_mode_takes_only_validate_jobs() -> None:
    res = wire.run_runner(wire.job_frame(CODE, []), ("validate",))
    assert res.returncode == 3 and "validation" in res.stderr
    res = wire.run_runner(b"", ("bogus",))
    assert res.returncode == 3 and "usage" in res.stderr
