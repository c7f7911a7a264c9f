"""Column batches to pandas and back (the tables of docs/internals/protocol.md,
"PostgreSQL types on the wire").

In: each BATCH column becomes an Arrow array over the frame's own buffers
(pyarrow.Array.from_buffers, no copy), then a pandas column, with no loop
per cell except for numeric of more than 15 digits (decimal.Decimal).

Out: each result column is checked and turned into an OutColumn (its kind,
its PostgreSQL type, a validity array and its values), which encodes into
BATCH columns for any range of rows, and into the JSON rows and profile of
a preview.
"""

from __future__ import annotations

import datetime
import decimal
import json
import math
import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from . import frames

# pgtype -> the kind it travels as (db_pgtype_kind() in src/db/copy.h).
PGTYPE_KIND = {
    "bool": frames.BOOL,
    "int2": frames.INT16,
    "int4": frames.INT32,
    "int8": frames.INT64,
    "float4": frames.FLOAT32,
    "float8": frames.FLOAT64,
    "numeric": frames.TEXT,
    "text": frames.TEXT,
    "date": frames.DATE,
    "timestamp": frames.TIMESTAMP,
    "timestamptz": frames.TIMESTAMPTZ,
    "uuid": frames.TEXT,
    "json": frames.TEXT,
    "jsonb": frames.TEXT,
    "other": frames.TEXT,
}

# The PostgreSQL type a new column of each kind gets (format_type() names,
# the pairs db_output_type() accepts).
KIND_TYPE = {
    frames.BOOL: "boolean",
    frames.INT16: "smallint",
    frames.INT32: "integer",
    frames.INT64: "bigint",
    frames.FLOAT32: "real",
    frames.FLOAT64: "double precision",
    frames.DATE: "date",
    frames.TIMESTAMP: "timestamp without time zone",
    frames.TIMESTAMPTZ: "timestamp with time zone",
    frames.TEXT: "text",
}

# Source types a column keeps when it keeps its name and its dtype still fits.
KEPT_PGTYPES = frozenset(("numeric", "date", "uuid", "json", "jsonb"))

NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
NUMERIC_RE = re.compile(r"numeric(?:\((\d+)(?:,\s*(-?\d+))?\))?")
DAY_US = 86_400_000_000
# numeric(p,s) with p up to this arrives as float64: 15 significant digits
# survive a round trip through a double.
FLOAT_NUMERIC_DIGITS = 15
INT53 = 2**53

_FIXED_ARROW = {
    frames.BOOL: pa.uint8(),
    frames.INT16: pa.int16(),
    frames.INT32: pa.int32(),
    frames.INT64: pa.int64(),
    frames.FLOAT32: pa.float32(),
    frames.FLOAT64: pa.float64(),
    frames.DATE: pa.int32(),
    frames.TIMESTAMP: pa.int64(),
    frames.TIMESTAMPTZ: pa.int64(),
    frames.TEXT: pa.string(),
}
_NUMPY = {
    frames.BOOL: np.uint8,
    frames.INT16: np.int16,
    frames.INT32: np.int32,
    frames.INT64: np.int64,
    frames.FLOAT32: np.float32,
    frames.FLOAT64: np.float64,
    frames.DATE: np.int32,
    frames.TIMESTAMP: np.int64,
    frames.TIMESTAMPTZ: np.int64,
}
STR_DTYPE = pd.StringDtype("pyarrow", na_value=np.nan)


class OutputError(Exception):
    """A result the runner cannot send: invalid_output, with the message."""


class SourceColumn:
    """A column of the job's source, from the JOB frame."""

    __slots__ = ("name", "type", "pgtype", "kind", "nullable", "numeric")

    def __init__(self, spec: dict):
        if not isinstance(spec, dict):
            raise ValueError("a column is not an object")
        self.name = spec.get("name")
        self.type = spec.get("type")
        self.pgtype = spec.get("pgtype")
        kind = spec.get("kind")
        self.nullable = spec.get("nullable", True)
        if not isinstance(self.name, str) or not isinstance(self.type, str):
            raise ValueError("a column without a name or a type")
        if self.pgtype not in PGTYPE_KIND:
            raise ValueError(f"column {self.name!r}: unknown pgtype {self.pgtype!r}")
        if frames.KIND_BY_NAME.get(kind) != PGTYPE_KIND[self.pgtype]:
            raise ValueError(f"column {self.name!r}: kind {kind!r} for pgtype {self.pgtype}")
        if not isinstance(self.nullable, bool):
            raise ValueError(f"column {self.name!r}: nullable is not a boolean")
        self.kind = PGTYPE_KIND[self.pgtype]
        # numeric: "float" (p <= 15, as float64) or "decimal" (Decimal objects)
        self.numeric = None
        if self.pgtype == "numeric":
            m = NUMERIC_RE.fullmatch(self.type.replace(" ", ""))
            p = int(m.group(1)) if m and m.group(1) else None
            self.numeric = "float" if p is not None and p <= FLOAT_NUMERIC_DIGITS else "decimal"

    def numeric_bounds(self) -> tuple[int, int] | None:
        """(precision, scale) of numeric(p,s), or None."""
        m = NUMERIC_RE.fullmatch(self.type.replace(" ", ""))
        if not m or not m.group(1):
            return None
        return int(m.group(1)), int(m.group(2) or 0)


# --- in: batches to DataFrames ----------------------------------------------------


def batch_arrays(batch: frames.Batch, sources: list[SourceColumn]) -> list[pa.Array]:
    """The columns of a decoded batch as Arrow arrays over the payload's
    buffers, with the per-value checks frames.decode_batch left out (bool
    bytes, text offsets and UTF-8), done here vectorised."""
    out = []
    n = batch.nrows
    for i, (col, src) in enumerate(zip(batch.columns, sources, strict=True)):
        validity = pa.py_buffer(col.validity) if col.validity is not None else None
        if col.kind == frames.TEXT:
            arr = pa.Array.from_buffers(
                pa.string(), n, [validity, pa.py_buffer(col.offsets), pa.py_buffer(col.data)]
            )
            try:
                arr.validate(full=True)
            except (pa.ArrowInvalid, pa.ArrowException) as e:
                raise frames.ProtocolError(f"batch column {i + 1} ({src.name}): {e}") from None
        else:
            arr = pa.Array.from_buffers(
                _FIXED_ARROW[col.kind], n, [validity, pa.py_buffer(col.data)]
            )
            if col.kind == frames.BOOL and n and int(np.frombuffer(col.data, np.uint8).max()) > 1:
                raise frames.ProtocolError(
                    f"batch column {i + 1} ({src.name}): a bool byte other than 0 or 1"
                )
        out.append(arr)
    return out


def empty_arrays(sources: list[SourceColumn]) -> list[pa.Array]:
    return [pa.array([], type=_FIXED_ARROW[s.kind]) for s in sources]


def _values(chunks: pa.ChunkedArray, kind: int) -> np.ndarray:
    """The values of a fixed-width column as a writable numpy array (no copy
    for a single chunk; a NULL row holds whatever the wire held, zeros)."""
    if chunks.num_chunks == 1:
        arr = chunks.chunk(0)
        return np.frombuffer(
            arr.buffers()[1],
            _NUMPY[kind],
            count=len(arr),
            offset=arr.offset * np.dtype(_NUMPY[kind]).itemsize,
        )
    parts = [
        np.frombuffer(
            a.buffers()[1],
            _NUMPY[kind],
            count=len(a),
            offset=a.offset * np.dtype(_NUMPY[kind]).itemsize,
        )
        for a in chunks.chunks
    ]
    return np.concatenate(parts) if parts else np.empty(0, _NUMPY[kind])


def _nulls(chunks: pa.ChunkedArray) -> np.ndarray | None:
    if chunks.null_count == 0:
        return None
    return chunks.is_null().to_numpy(zero_copy_only=False)


def to_series(chunks: pa.ChunkedArray, src: SourceColumn) -> pd.Series:
    """One source column as the pandas column the protocol's table names."""
    kind = src.kind
    n = len(chunks)
    if kind == frames.TEXT:
        if src.numeric == "float":
            vals = pc.cast(chunks, pa.float64()).to_numpy()
            return pd.Series(vals, name=src.name, copy=False)
        if src.numeric == "decimal":
            objs = np.empty(n, dtype=object)
            objs[:] = [None if v is None else decimal.Decimal(v) for v in chunks.to_pylist()]
            return pd.Series(objs, name=src.name, dtype=object, copy=False)
        return pd.Series(pd.array(chunks, dtype=STR_DTYPE), name=src.name, copy=False)
    values = _values(chunks, kind)
    nulls = _nulls(chunks)
    if kind == frames.BOOL:
        values = values.view(np.bool_)
        if src.nullable:
            mask = nulls if nulls is not None else np.zeros(n, dtype=np.bool_)
            return pd.Series(pd.arrays.BooleanArray(values, mask), name=src.name, copy=False)
        return pd.Series(values, name=src.name, copy=False)
    if kind in (frames.INT16, frames.INT32, frames.INT64):
        if src.nullable:
            mask = nulls if nulls is not None else np.zeros(n, dtype=np.bool_)
            return pd.Series(pd.arrays.IntegerArray(values, mask), name=src.name, copy=False)
        return pd.Series(values, name=src.name, copy=False)
    if kind in (frames.FLOAT32, frames.FLOAT64):
        if nulls is not None:
            values = values.copy()
            values[nulls] = np.nan
        return pd.Series(values, name=src.name, copy=False)
    if kind == frames.DATE:
        days = values.astype("datetime64[D]").astype("datetime64[s]")
        if nulls is not None:
            days[nulls] = np.datetime64("NaT")
        return pd.Series(days, name=src.name, copy=False)
    # timestamp, timestamptz: microseconds
    if nulls is not None:
        values = values.copy()
        values[nulls] = np.iinfo(np.int64).min
    stamps = pd.Series(values.view("datetime64[us]"), name=src.name, copy=False)
    if kind == frames.TIMESTAMPTZ:
        stamps = stamps.dt.tz_localize("UTC")
    return stamps


def to_frame(columns: list[pa.ChunkedArray], sources: list[SourceColumn]) -> pd.DataFrame:
    data = {src.name: to_series(chunks, src) for chunks, src in zip(columns, sources, strict=True)}
    if not data:
        return pd.DataFrame(index=pd.RangeIndex(0))
    return pd.DataFrame(data, copy=False)


# --- out: DataFrames to columns ----------------------------------------------------


class OutColumn:
    """A result column ready to send: values is a numpy array of the kind's
    width (fixed kinds) or an Arrow string array (text); valid is a numpy
    bool array, or None when nothing is NULL."""

    __slots__ = ("name", "kind", "type", "valid", "values", "json")

    def __init__(self, name, kind, pgtype, values, valid=None, json_text=False):
        self.name = name
        self.kind = kind
        self.type = pgtype
        self.values = values
        self.valid = valid if valid is not None and not valid.all() else None
        self.json = json_text

    def __len__(self) -> int:
        return len(self.values)

    def spec(self) -> dict:
        return {"name": self.name, "kind": frames.KIND_NAMES[self.kind], "type": self.type}

    def nbytes(self) -> int:
        n = len(self.values)
        if self.kind == frames.TEXT:
            return 4 * (n + 1) + self.values.nbytes + n // 8 + 64
        return n * frames.KIND_WIDTH[self.kind] + n // 8 + 64

    def wire(self, start: int, stop: int) -> frames.Column:
        """Rows [start, stop) as a BATCH column (NULL rows hold zeros or no
        text; the validity's unused bits are zero)."""
        validity = None
        if self.valid is not None:
            valid = self.valid[start:stop]
            if not valid.all():
                validity = np.packbits(valid, bitorder="little").tobytes()
        if self.kind == frames.TEXT:
            arr = self.values.slice(start, stop - start)
            if arr.null_count:
                arr = pc.fill_null(arr, "")
            offsets = np.frombuffer(
                arr.buffers()[1], np.int32, count=len(arr) + 1, offset=arr.offset * 4
            )
            first, last = int(offsets[0]), int(offsets[-1])
            if first:
                offsets = offsets - np.int32(first)
            data = memoryview(arr.buffers()[2])[first:last] if last > first else b""
            return frames.Column(frames.TEXT, validity, memoryview(offsets).cast("B"), data)
        data = self.values[start:stop]
        return frames.Column(
            self.kind, validity, None, memoryview(np.ascontiguousarray(data)).cast("B")
        )

    def arrow(self) -> pa.Array:
        """The column as an Arrow array (preview and profile)."""
        if self.kind == frames.TEXT:
            return self.values
        mask = None if self.valid is None else ~self.valid
        vals = self.values
        if self.kind == frames.BOOL:
            vals = vals.view(np.bool_)
        elif self.kind == frames.DATE:
            vals = vals.astype("datetime64[D]")
        elif self.kind in (frames.TIMESTAMP, frames.TIMESTAMPTZ):
            vals = vals.view("datetime64[us]")
        return pa.array(vals, mask=mask)


def _valid_from(nulls) -> np.ndarray | None:
    nulls = np.asarray(nulls, dtype=np.bool_)
    return ~nulls if nulls.any() else None


def _zero_nulls(values: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    if valid is None:
        return values
    out = values.copy()
    out[~valid] = 0
    return out


def _describe(series: pd.Series) -> str:
    sample = series.dropna()
    kinds = sorted({type(v).__name__ for v in sample.iloc[:1000]})
    return ", ".join(kinds[:4]) or "no"


def _text_column(name, arr, pgtype="text", json_text=False) -> OutColumn:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    if arr.type != pa.string():
        arr = pc.cast(arr, pa.string())
    if pc.any(pc.match_substring(arr, "\x00")).as_py():
        # PostgreSQL's text cannot hold one; a preview would show what no
        # job can publish
        raise OutputError(f'column "{name}": a text value contains a NUL character (\\x00)')
    valid = None
    if arr.null_count:
        valid = arr.is_valid().to_numpy(zero_copy_only=False)
    return OutColumn(name, frames.TEXT, pgtype, arr, valid, json_text)


def _datetime_column(name, series: pd.Series, src: SourceColumn | None, hint) -> OutColumn:
    dt = series.dtype
    if isinstance(dt, pd.DatetimeTZDtype):
        naive = series.dt.tz_convert("UTC").dt.tz_localize(None)
        kind = frames.TIMESTAMPTZ
    else:
        naive = series
        kind = frames.TIMESTAMP
    try:
        micros = naive.dt.as_unit("us").to_numpy().view(np.int64)
    except (OverflowError, ValueError) as e:
        raise OutputError(f'column "{name}": a time out of range ({e})') from None
    valid = _valid_from(micros == np.iinfo(np.int64).min)
    if kind == frames.TIMESTAMP:
        hint_kind = hint[0] if hint else None
        want_date = hint_kind == frames.DATE if hint else (src is not None and src.pgtype == "date")
        if want_date:
            on_midnight = (
                (micros % DAY_US == 0) if valid is None else ((micros % DAY_US == 0) | ~valid)
            )
            if on_midnight.all():
                days = np.floor_divide(micros, DAY_US).astype(np.int32)
                return OutColumn(name, frames.DATE, "date", _zero_nulls(days, valid), valid)
            if hint_kind == frames.DATE:
                raise OutputError(
                    f'column "{name}" holds times of day in this chunk, but it was a date '
                    "in the first one"
                )
    return OutColumn(name, kind, KIND_TYPE[kind], _zero_nulls(micros, valid), valid)


def _numeric_check(name: str, values: np.ndarray, valid, src: SourceColumn) -> None:
    bounds = src.numeric_bounds()
    if bounds is None:
        return
    p, s = bounds
    vals = values if valid is None else values[valid]
    if not len(vals):
        return
    limit = 10.0 ** (p - s)
    bad = ~(np.abs(np.round(vals, s)) < limit)
    if bad.any():
        v = vals[bad][0]
        raise OutputError(
            f'column "{name}" holds {v!r}, which does not fit its source type {src.type}'
        )


def _decimal_text(v: decimal.Decimal) -> str:
    if v.is_infinite():
        return "Infinity" if v > 0 else "-Infinity"
    return format(v, "f")  # positional: 1E-21 is 0.000000000000000000001


def _decimal_column(name, series: pd.Series, src: SourceColumn | None) -> OutColumn:
    texts = []
    bounds = src.numeric_bounds() if src is not None else None
    if bounds is not None:
        quantum = decimal.Decimal(1).scaleb(-bounds[1])
        limit = decimal.Decimal(10) ** (bounds[0] - bounds[1])
    with decimal.localcontext() as ctx:
        ctx.prec = 2000  # beyond numeric's 1000 digits: quantize never fails
        for v in series.array:
            if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
                texts.append(None)
                continue
            if v.is_snan():
                v = decimal.Decimal("NaN")
            if bounds is not None and not v.is_nan():
                try:
                    too_big = v.is_infinite() or abs(v.quantize(quantum)) >= limit
                except decimal.InvalidOperation:
                    too_big = True
                if too_big:
                    raise OutputError(
                        f'column "{name}" holds {v}, which does not fit its source type {src.type}'
                    )
            texts.append(_decimal_text(v))
    pgtype = src.type if src is not None and src.pgtype == "numeric" else "numeric"
    return _text_column(name, pa.array(texts, type=pa.string()), pgtype)


def _int_column(name, values: np.ndarray, valid) -> OutColumn:
    dt = values.dtype
    if dt.kind == "u":
        if dt.itemsize > 4:
            raise OutputError(
                f'column "{name}" is {dt} (unsigned 64-bit), which no PostgreSQL type holds: '
                "cast it with .astype('int64')"
            )
        values = values.astype(np.int64)
        kind = frames.INT64
    elif dt.itemsize <= 2:
        values = values.astype(np.int16, copy=False)
        kind = frames.INT16
    elif dt.itemsize == 4:
        kind = frames.INT32
    else:
        kind = frames.INT64
    return OutColumn(
        name, kind, KIND_TYPE[kind], _zero_nulls(np.ascontiguousarray(values), valid), valid
    )


def _float_column(name, values: np.ndarray, valid, src: SourceColumn | None, hint) -> OutColumn:
    if values.dtype == np.float16:
        values = values.astype(np.float32)
    nan = np.isnan(values)
    if valid is not None:
        nan |= ~valid
    valid = ~nan if nan.any() else None
    kind = frames.FLOAT32 if values.dtype == np.float32 else frames.FLOAT64
    pgtype = KIND_TYPE[kind]
    if kind == frames.FLOAT64 and src is not None and src.pgtype == "numeric":
        _numeric_check(name, values, valid, src)
        pgtype = src.type
    return OutColumn(name, kind, pgtype, _zero_nulls(np.ascontiguousarray(values), valid), valid)


def _arrow_column(name, series, src, hint) -> OutColumn:
    arr = pa.array(series.array)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    t = arr.type
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return _string_out(name, arr, src)
    if pa.types.is_dictionary(t):
        return _arrow_column(name, pd.Series(pd.array(arr.dictionary_decode())), src, hint)
    if pa.types.is_decimal(t):
        pgtype = src.type if src is not None and src.pgtype == "numeric" else "numeric"
        return _text_column(name, pc.cast(arr, pa.string()), pgtype)
    valid = arr.is_valid().to_numpy(zero_copy_only=False) if arr.null_count else None
    if pa.types.is_boolean(t):
        vals = arr.fill_null(False).to_numpy(zero_copy_only=False).view(np.uint8)
        return OutColumn(name, frames.BOOL, "boolean", vals, valid)
    if pa.types.is_integer(t):
        return _int_column(name, arr.fill_null(0).to_numpy(zero_copy_only=False), valid)
    if pa.types.is_floating(t):
        return _float_column(
            name, arr.fill_null(math.nan).to_numpy(zero_copy_only=False), valid, src, hint
        )
    if pa.types.is_date(t):
        days = (
            pc.cast(arr, pa.date32()).cast(pa.int32()).fill_null(0).to_numpy(zero_copy_only=False)
        )
        return OutColumn(name, frames.DATE, "date", days.astype(np.int32), valid)
    if pa.types.is_timestamp(t):
        conv = pd.Series(arr.to_pandas(), name=name)
        return _datetime_column(name, conv, src, hint)
    raise OutputError(f'column "{name}" is {series.dtype}, which no PostgreSQL column type fits')


def _string_out(name, arr, src) -> OutColumn:
    pgtype, json_text = "text", False
    if src is not None and src.pgtype in ("uuid", "json", "jsonb"):
        pgtype, json_text = src.type, src.pgtype != "uuid"
    return _text_column(name, arr, pgtype, json_text)


def _object_column(name, series: pd.Series, src, hint) -> OutColumn:
    inferred = pd.api.types.infer_dtype(series, skipna=True)
    if inferred == "empty":
        # Nothing but NULLs: any type fits; keep the first chunk's, or the
        # source column's, or text.
        if hint:
            kind, pgtype = hint
        elif src is not None:
            kind = src.kind
            pgtype = src.type if src.pgtype in KEPT_PGTYPES else KIND_TYPE[kind]
        else:
            kind, pgtype = frames.TEXT, "text"
        n = len(series)
        valid = np.zeros(n, dtype=np.bool_)
        if kind == frames.TEXT:
            return OutColumn(name, kind, pgtype, pa.nulls(n, pa.string()), valid if n else None)
        return OutColumn(name, kind, pgtype, np.zeros(n, _NUMPY[kind]), valid if n else None)
    if inferred == "string":
        arr = pa.array(series.to_numpy(), type=pa.string(), from_pandas=True)
        return _string_out(name, arr, src)
    if inferred == "decimal":
        return _decimal_column(name, series, src)
    if inferred == "date":
        days = np.array(series.to_numpy(), dtype="datetime64[D]")
        valid = _valid_from(np.isnat(days))
        vals = days.view(np.int64)
        inside = vals if valid is None else vals[valid]
        if ((inside < -(2**31)) | (inside >= 2**31)).any():
            raise OutputError(f'column "{name}": a date out of range')
        return OutColumn(
            name, frames.DATE, "date", _zero_nulls(vals.astype(np.int32), valid), valid
        )
    if inferred == "boolean":
        nulls = series.isna().to_numpy()
        vals = series.where(~nulls, False).to_numpy(dtype=np.bool_).view(np.uint8)
        return OutColumn(name, frames.BOOL, "boolean", vals, _valid_from(nulls))
    if inferred == "integer":
        nulls = series.isna().to_numpy()
        try:
            vals = series.where(~nulls, 0).to_numpy(dtype=np.int64)
        except OverflowError:
            raise OutputError(f'column "{name}" holds integers beyond 64 bits') from None
        return _int_column(name, vals, _valid_from(nulls))
    if inferred in ("floating", "mixed-integer-float"):
        return _float_column(
            name, series.to_numpy(dtype=np.float64, na_value=np.nan), None, src, hint
        )
    if inferred in ("datetime", "datetime64"):
        try:
            conv = pd.to_datetime(series, utc=False)
        except (ValueError, TypeError) as e:
            raise OutputError(
                f'column "{name}" holds datetimes that cannot be converted: {e}'
            ) from None
        return _datetime_column(name, conv, src, hint)
    raise OutputError(
        f'column "{name}" holds {inferred} values ({_describe(series)}), which no PostgreSQL '
        "column type fits: convert it, for example with .astype(str)"
    )


def out_column(name: str, series: pd.Series, src: SourceColumn | None, hint) -> OutColumn:
    """One result column, checked and converted. hint is the (kind, type) the
    first chunk's column of that name had, or None."""
    dt = series.dtype
    if isinstance(dt, pd.CategoricalDtype):
        series = pd.Series(np.asarray(series, dtype=object), name=name)
        dt = series.dtype
    if isinstance(dt, np.dtype):
        if dt == np.bool_:
            return OutColumn(name, frames.BOOL, "boolean", series.to_numpy().view(np.uint8))
        if dt.kind in "iu":
            return _int_column(name, series.to_numpy(), None)
        if dt.kind == "f":
            return _float_column(name, series.to_numpy(), None, src, hint)
        if dt.kind == "M":
            return _datetime_column(name, series, src, hint)
        if dt == np.object_:
            return _object_column(name, series, src, hint)
        raise OutputError(
            f'column "{name}" is {dt}, which no PostgreSQL column type fits '
            "(supported: numbers, booleans, text, dates and times)"
        )
    if isinstance(dt, pd.DatetimeTZDtype):
        return _datetime_column(name, series, src, hint)
    if isinstance(dt, pd.ArrowDtype):
        return _arrow_column(name, series, src, hint)
    if isinstance(dt, pd.StringDtype):
        return _string_out(name, pa.array(series.array), src)
    if isinstance(dt, pd.BooleanDtype):
        nulls = series.isna().to_numpy()
        vals = series.to_numpy(dtype=np.bool_, na_value=False).view(np.uint8)
        return OutColumn(name, frames.BOOL, "boolean", vals, _valid_from(nulls))
    numpy_dtype = getattr(dt, "numpy_dtype", None)  # the masked Int*/UInt*/Float* dtypes
    if numpy_dtype is not None and numpy_dtype.kind in "iu":
        nulls = series.isna().to_numpy()
        vals = series.to_numpy(dtype=numpy_dtype, na_value=0)
        return _int_column(name, vals, _valid_from(nulls))
    if numpy_dtype is not None and numpy_dtype.kind == "f":
        vals = series.to_numpy(dtype=numpy_dtype, na_value=np.nan)
        return _float_column(name, vals, None, src, hint)
    raise OutputError(
        f'column "{name}" is {dt}, which no PostgreSQL column type fits '
        "(supported: numbers, booleans, text, dates and times)"
    )


def out_columns(df, sources: dict, hints: dict | None) -> list[OutColumn]:
    """Checks a transform's result (a DataFrame with valid, unique column
    names and supported dtypes) and converts each column."""
    if not isinstance(df, pd.DataFrame):
        what = type(df).__name__ if df is not None else "None"
        raise OutputError(f"transform() returned {what}, not a pandas DataFrame")
    if type(df) is not pd.DataFrame:
        # its overridden methods would run while the runner reads the result
        raise OutputError(
            f"transform() returned {type(df).__name__}, a subclass of DataFrame: "
            "return a plain pandas DataFrame"
        )
    names = list(df.columns)
    seen = set()
    for name in names:
        if not isinstance(name, str) or not NAME_RE.fullmatch(name):
            raise OutputError(
                f"column name {name!r} is not valid: use letters, digits and _, "
                "starting with a letter or _, at most 63 characters"
            )
        if name in seen:
            raise OutputError(f'column name "{name}" appears twice')
        seen.add(name)
    out = []
    for i, name in enumerate(names):
        series = df.iloc[:, i]
        hint = hints.get(name) if hints else None
        out.append(out_column(name, series, sources.get(name), hint))
    return out


def merge_columns(parts: list[OutColumn]) -> OutColumn:
    """The chunks' results for one column as one column (preview)."""
    first = parts[0]
    if len(parts) == 1:
        return first
    if first.kind == frames.TEXT:
        values = pa.concat_arrays([p.values for p in parts])
    else:
        values = np.concatenate([p.values for p in parts])
    valid = None
    if any(p.valid is not None for p in parts):
        valid = np.concatenate(
            [p.valid if p.valid is not None else np.ones(len(p), np.bool_) for p in parts]
        )
    return OutColumn(first.name, first.kind, first.type, values, valid, first.json)


# --- preview -------------------------------------------------------------------


def _json_float(v: float):
    if math.isnan(v):
        return None
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    return v


def _json_time(us: int, tz: bool) -> str:
    t = datetime.datetime(1970, 1, 1) + datetime.timedelta(microseconds=us)
    text = t.strftime("%Y-%m-%dT%H:%M:%S")
    if t.microsecond:
        text += f".{t.microsecond:06d}".rstrip("0")
    return text + ("+00:00" if tz else "")


def _json_numeric_text(s: str):
    """numeric text as the rows API types it: a number when it has at most
    15 significant digits and an exponent within 300, else a string."""
    try:
        d = decimal.Decimal(s)
    except decimal.InvalidOperation:
        return s
    if not d.is_finite():
        return "NaN" if d.is_nan() else ("Infinity" if d > 0 else "-Infinity")
    t = d.normalize().as_tuple()
    digits = len(t.digits) if any(t.digits) else 1
    if digits <= FLOAT_NUMERIC_DIGITS and abs(d.adjusted()) <= 300:
        return float(d)
    return s


def json_values(col: OutColumn, start: int, stop: int) -> list:
    """Rows [start, stop) of a column as JSON values (numbers, booleans,
    strings, null; times as RFC 3339 text)."""
    valid = col.valid[start:stop] if col.valid is not None else None
    if col.kind == frames.TEXT:
        vals = col.values.slice(start, stop - start).to_pylist()
        if col.json:
            vals = [_json_embed(v) for v in vals]
        elif col.type.startswith("numeric"):
            vals = [None if v is None else _json_numeric_text(v) for v in vals]
        return vals
    raw = col.values[start:stop]
    k = col.kind
    if k == frames.BOOL:
        vals = raw.view(np.bool_).tolist()
    elif k in (frames.INT16, frames.INT32):
        vals = raw.tolist()
    elif k == frames.INT64:
        vals = [v if -INT53 <= v <= INT53 else str(v) for v in raw.tolist()]
    elif k in (frames.FLOAT32, frames.FLOAT64):
        vals = [_json_float(v) for v in raw.astype(np.float64).tolist()]
    elif k == frames.DATE:
        vals = [str(d) for d in raw.astype("datetime64[D]").tolist()]
    else:
        vals = [_json_time(v, k == frames.TIMESTAMPTZ) for v in raw.tolist()]
    if valid is not None:
        vals = [v if ok else None for v, ok in zip(vals, valid.tolist(), strict=True)]
    return vals


def _json_embed(text):
    if text is None:
        return None
    try:
        # NaN and Infinity are not JSON: keep them as their text
        return json.loads(text, parse_constant=str)
    except (ValueError, RecursionError):
        return text


PROFILE_TEXT = 1000  # the most characters of a text minimum or maximum in a profile


def _short(v):
    if isinstance(v, str) and len(v) > PROFILE_TEXT:
        return v[: PROFILE_TEXT - 1] + "\u2026"
    return v


def profile(col: OutColumn) -> dict:
    prof = _profile(col)
    prof["min"], prof["max"] = _short(prof["min"]), _short(prof["max"])
    return prof


def _profile(col: OutColumn) -> dict:
    arr = col.arrow()
    nulls = arr.null_count
    valid = arr.drop_null() if nulls else arr
    prof = {"name": col.name, "nulls": nulls, "distinct": 0, "min": None, "max": None}
    if len(valid) == 0:
        return prof
    prof["distinct"] = pc.count_distinct(valid).as_py()
    if col.kind == frames.BOOL:
        b = valid.to_numpy(zero_copy_only=False)
        prof["min"], prof["max"] = bool(b.min()), bool(b.max())
        return prof
    if col.kind == frames.TEXT and col.type.startswith("numeric"):
        nums = [decimal.Decimal(v) for v in valid.to_pylist()]
        finite = [d for d in nums if not d.is_nan()]
        if finite:
            prof["min"] = _json_numeric_text(str(min(finite)))
            prof["max"] = _json_numeric_text(str(max(finite)))
        return prof
    if col.kind == frames.TEXT and col.json:
        return prof
    mm = pc.min_max(valid)
    lo, hi = mm["min"].as_py(), mm["max"].as_py()
    prof["min"], prof["max"] = _json_scalar(col, lo), _json_scalar(col, hi)
    return prof


def _json_scalar(col: OutColumn, v):
    if v is None:
        return None
    k = col.kind
    if k in (frames.FLOAT32, frames.FLOAT64):
        return _json_float(float(v))
    if k == frames.INT64:
        return v if -INT53 <= v <= INT53 else str(v)
    if k == frames.DATE:
        return v.isoformat()
    if k in (frames.TIMESTAMP, frames.TIMESTAMPTZ):
        if isinstance(v, datetime.datetime):
            delta = v.replace(tzinfo=None) - datetime.datetime(1970, 1, 1)
            us = (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
            return _json_time(us, k == frames.TIMESTAMPTZ)
    return v
