"""One job's conversation (docs/internals/protocol.md, "The conversation"):
compile, READY, batches in, SCHEMA/BATCH/LOG/METRICS out, STATUS last.

Outcomes are raised as Outcome and turned into the STATUS frame in one
place (Conversation.finish); a ProtocolError ends the runner with status 3
and no STATUS.
"""

from __future__ import annotations

import json
import time
import traceback

from . import audit, frames, policy

MAX_MESSAGE = 8 * 1024
MAX_TRACEBACK = 64 * 1024
MAX_LOG_BYTES = 8 * 1024 * 1024
MAX_LOG_FRAME = 64 * 1024


def fit_rows(rows: list, profiles: list) -> list:
    """The first rows that fit a PREVIEW frame (frames.MAX_CONTROL) beside
    the profile: wide rows (long text) may not all fit, and a preview
    shows fewer rather than fail."""
    room = frames.MAX_CONTROL - 64 * 1024
    room -= len(json.dumps(profiles, ensure_ascii=False, allow_nan=False).encode())
    size = 0
    for i, row in enumerate(rows):
        size += len(json.dumps(row, ensure_ascii=False, allow_nan=False).encode()) + 1
        if size > room:
            return rows[:i]
    return rows


class Outcome(Exception):
    """A failed job: the STATUS frame's error_code, message and details."""

    def __init__(self, code: str, message: str, line=None, column=None, tb=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.line = line
        self.column = column
        self.tb = tb

    def status(self) -> dict:
        out = {"ok": False, "error_code": self.code, "message": _cap(self.message, MAX_MESSAGE)}
        if self.line is not None:
            out["line"] = self.line
        if self.column is not None:
            out["column"] = self.column
        if self.tb:
            out["traceback"] = _cap(self.tb, MAX_TRACEBACK)
        return out


def _cap(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


class LogSink:
    """Text for the job's log (print(), sys.stdout, warnings) sent as LOG
    frames of whole lines: gathered up to 16 KiB or half a second, and
    flushed at the end of every transform() call (a partial line too)."""

    GATHER = 16 * 1024
    GATHER_S = 0.5

    def __init__(self, writer: frames.FrameWriter):
        self._writer = writer
        self._pending = ""  # text not yet ended by a newline
        self._lines: list[str] = []  # whole lines not yet sent
        self._gathered = 0
        self._since = 0.0
        self._sent = 0
        self._dropped = False

    def write(self, text) -> int:
        if not isinstance(text, str):
            text = str(text)
        self._pending += text
        if "\n" in self._pending:
            head, _, self._pending = self._pending.rpartition("\n")
            self._gather(head + "\n")
        elif len(self._pending) > MAX_LOG_FRAME:
            self._gather(self._pending + "\n")
            self._pending = ""
        return len(text)

    def _gather(self, text: str) -> None:
        if not self._lines:
            self._since = time.monotonic()
        self._lines.append(text)
        self._gathered += len(text)
        if self._gathered >= self.GATHER or time.monotonic() - self._since >= self.GATHER_S:
            self._send()

    def flush(self) -> None:
        if self._pending:
            self._lines.append(self._pending + "\n")
            self._pending = ""
        self._send()

    def _send(self) -> None:
        text = "".join(self._lines)
        self._lines = []
        self._gathered = 0
        if not text or self._dropped:
            return
        data = text.encode("utf-8", errors="replace")
        if self._sent + len(data) > MAX_LOG_BYTES:
            self._dropped = True
            keep = data[: max(0, MAX_LOG_BYTES - self._sent)]
            keep = keep[: keep.rfind(b"\n") + 1]
            data = (
                keep + b"(the script printed more than 8 MiB: the rest of its output is dropped)\n"
            )
        self._sent += len(data)
        while data:
            # whole lines per frame where they fit
            cut = (
                len(data) if len(data) <= MAX_LOG_FRAME else data.rfind(b"\n", 0, MAX_LOG_FRAME) + 1
            )
            if cut <= 0:
                cut = MAX_LOG_FRAME
            self._writer.write(frames.LOG, data[:cut])
            data = data[cut:]


class StdoutToLog:
    """sys.stdout while the runner runs: what anything prints becomes log
    text, and the real stdout stays for frames."""

    encoding = "utf-8"
    errors = "replace"

    def __init__(self, sink: LogSink):
        self._sink = sink

    def write(self, text):
        return self._sink.write(text)

    def flush(self):
        pass

    def isatty(self):
        return False

    def writable(self):
        return True


def user_traceback(exc: BaseException, lines: list[str]):
    """(text, line, column): the traceback's frames in the script only,
    innermost last, with the script's line numbers (1-based) and column."""
    entries = []
    line = column = None
    tb = exc.__traceback__
    for frame, pos in traceback.walk_tb(tb):
        code = frame.f_code
        if code.co_filename != policy.FILENAME:
            continue
        lineno = pos
        col = None
        try:
            positions = list(code.co_positions())
            idx = _tb_lasti(tb, frame) // 2
            if 0 <= idx < len(positions):
                lineno_p, _, col_p, _ = positions[idx]
                if lineno_p:
                    lineno = lineno_p
                if col_p is not None and lineno and 1 <= lineno <= len(lines):
                    raw = lines[lineno - 1].encode("utf-8")[:col_p]
                    col = len(raw.decode("utf-8", errors="ignore")) + 1
        except (AttributeError, ValueError, IndexError):
            pass
        text = lines[lineno - 1].strip() if lineno and 1 <= lineno <= len(lines) else ""
        entries.append(f"  line {lineno}, in {code.co_name}\n" + (f"    {text}\n" if text else ""))
        line, column = lineno, col
    return "".join(entries), line, column


def _tb_lasti(tb, frame) -> int:
    while tb is not None:
        if tb.tb_frame is frame:
            return tb.tb_lasti
        tb = tb.tb_next
    return -2


def describe_exception(exc: BaseException) -> str:
    text = str(exc)
    name = type(exc).__name__
    if isinstance(exc, KeyError) and exc.args:
        text = repr(exc.args[0])
    return f"{name}: {text}" if text else name


def audit_message() -> str:
    """The STATUS message for a job the audit hook tripped on: its first
    refusal, named like the policy's."""
    return f"SandboxViolation: {audit.first_trip()}"


def option(glb: dict, name: str, default: bool) -> bool:
    """A script's option (WHOLE_TABLE = True): True or False, nothing else."""
    value = glb.get(name, default)
    if value is not True and value is not False:
        raise Outcome("user_error", f"{name} must be True or False, not {type(value).__name__}")
    return value


class Conversation:
    def __init__(self, job: dict, reader: frames.FrameReader, writer: frames.FrameWriter, sink):
        self.job = job
        self.reader = reader
        self.writer = writer
        self.sink = sink
        self.source = job["code"]
        self.lines = self.source.splitlines()
        self.sandbox = policy.Sandbox(self.log)
        self.rows_in = 0
        self.rows_out = 0
        self.schema = None  # [(name, kind, type)] of the first result
        self.chunk = 0
        self.index_noted = False

    # -- plumbing
    def log(self, text: str) -> None:
        self.sink.write(text)

    def send_json(self, ftype: str, obj) -> None:
        self.writer.write(ftype, json.dumps(obj, ensure_ascii=False, allow_nan=False).encode())

    def metrics(self) -> None:
        self.sink.flush()
        self.send_json(frames.METRICS, {"rows_in": self.rows_in, "rows_out": self.rows_out})

    def user_error(self, exc: BaseException, during: str) -> Outcome:
        if isinstance(exc, MemoryError):
            return Outcome(
                "memory_limit",
                f"the script ran out of memory {during} ({describe_exception(exc)})",
            )
        tb, line, column = user_traceback(exc, self.lines)
        code = "sandbox_violation" if isinstance(exc, policy.SandboxViolation) else "user_error"
        if self.sandbox.violation is not None:
            code = "sandbox_violation"
            if not isinstance(exc, policy.SandboxViolation):
                exc = self.sandbox.violation
        elif audit.first_trip() is not None and code != "sandbox_violation":
            # the script caught the audit hook's refusal and failed later
            return Outcome("sandbox_violation", audit_message(), line, column, tb)
        return Outcome(code, describe_exception(exc), line, column, tb)

    def check_violation(self) -> None:
        v = self.sandbox.violation
        if v is not None:
            tb, line, column = user_traceback(v, self.lines)
            raise Outcome("sandbox_violation", describe_exception(v), line, column, tb)
        if audit.first_trip() is not None:  # the audit hook's, caught by the script
            raise Outcome("sandbox_violation", audit_message())

    # -- the steps
    def prepare(self):
        """Compiles the script and runs its top level: (transform, whole, allow_empty)."""
        code, errors = policy.compile_script(self.source)
        if errors:
            first = errors[0]
            message = first.message
            if len(errors) > 1:
                message += f" (and {len(errors) - 1} more error{'s' if len(errors) > 2 else ''})"
            raise Outcome(first.code, message, first.line, first.column)
        glb = self.sandbox.make_globals()
        audit.script_starts(code)  # this exec is the runner's; any later one is not
        try:
            exec(code, glb)  # the restricted bytecode, with the guards
        except BaseException as e:  # every user error is reported, SystemExit too
            raise self.user_error(e, "at the top level") from None
        finally:
            self.sink.flush()
        self.check_violation()
        transform = glb.get("transform")
        if not callable(transform):
            raise Outcome("user_error", "the script defines no transform(df) function")
        whole = option(glb, "WHOLE_TABLE", False) or not option(glb, "CHUNKED", True)
        allow_empty = option(glb, "ALLOW_EMPTY", False)
        return transform, whole, allow_empty

    def call(self, transform, df):
        try:
            result = transform(df)
        except BaseException as e:  # every user error is reported, SystemExit too
            raise self.user_error(e, "in transform()") from None
        finally:
            self.sink.flush()
        self.check_violation()
        return result

    # -- results
    def emit(self, df, outputs) -> None:
        """Checks one transform() result and sends it (or keeps it for the
        preview)."""
        from . import dtypes

        hints = {name: (kind, typ) for name, kind, typ in self.schema} if self.schema else None
        try:
            cols = dtypes.out_columns(df, self.sources_by_name, hints)
        except dtypes.OutputError as e:
            raise Outcome("invalid_output", self.where() + str(e)) from None
        except MemoryError as e:
            raise self.user_error(e, "converting the result") from None
        schema = [(c.name, c.kind, c.type) for c in cols]
        if self.schema is None:
            self.schema = schema
            self.schema_chunk = self.chunk
            self.send_json(frames.SCHEMA, {"columns": [c.spec() for c in cols]})
        elif schema != self.schema:
            raise Outcome("invalid_output", self.schema_difference(schema))
        n = len(df)
        if not self.index_noted and n and any(x is not None for x in df.index.names):
            self.index_noted = True
            names = ", ".join(str(x) for x in df.index.names if x is not None)
            self.log(
                f"note: the result's index ({names}) is not saved; "
                "call .reset_index() to keep it as a column\n"
            )
        if self.rows_out + n > self.max_output_rows:
            raise Outcome(
                "invalid_output",
                f"the result has more than {self.max_output_rows} rows (TW_MAX_OUTPUT_ROWS)",
            )
        self.rows_out += n
        if self.task == "preview":
            outputs.append(cols)
            return
        self.send_batches(cols, n)

    def send_batches(self, cols, n: int) -> None:
        """The result as BATCH frames of at most chunk_rows rows each, every
        one within a batch's byte cap."""
        step = max(1, self.chunk_rows)
        for start in range(0, max(n, 0), step):
            self.send_range(cols, start, min(n, start + step))

    def send_range(self, cols, start: int, stop: int) -> None:
        try:
            parts = frames.encode_batch(stop - start, [c.wire(start, stop) for c in cols])
        except frames.ProtocolError as e:  # our own encoding: a bug, not the worker's
            raise RuntimeError(f"encoding an output batch: {e}") from None
        size = frames.batch_bytes(parts)
        if size > frames.COLBATCH_MAX_BYTES and stop - start > 1:
            mid = (start + stop) // 2
            self.send_range(cols, start, mid)
            self.send_range(cols, mid, stop)
            return
        if size > frames.MAX_BATCH:
            raise Outcome(
                "invalid_output", f"row {start + 1} of the result is larger than a batch may be"
            )
        self.writer.write_parts(frames.BATCH, parts)

    def where(self) -> str:
        return f"chunk {self.chunk}: " if self.chunk > 1 else ""

    def schema_difference(self, schema) -> str:

        first = self.schema
        names_now = [s[0] for s in schema]
        names_then = [s[0] for s in first]
        if names_now != names_then:
            return (
                f"chunk {self.chunk} returned the columns {names_now}, but chunk "
                f"{self.schema_chunk} returned {names_then}: every chunk must return the "
                "same columns"
            )
        for (name, kind, typ), (_, kind0, typ0) in zip(schema, first, strict=True):
            if (kind, typ) != (kind0, typ0):
                return (
                    f'chunk {self.chunk}: column "{name}" is {typ}, but it was {typ0} in chunk '
                    f"{self.schema_chunk}; every chunk must return the same types "
                    f"(set WHOLE_TABLE = True, or make the type explicit with .astype())"
                )
        return f"chunk {self.chunk} returned another schema"  # pragma: no cover

    def preview(self, outputs) -> None:
        from . import dtypes

        rows = []
        limit = self.preview_rows
        profiles = []
        if outputs:
            ncols = len(outputs[0])
            merged = []
            for i in range(ncols):
                parts = [cols[i] for cols in outputs]
                merged.append(dtypes.merge_columns(parts))
            n = len(merged[0]) if merged else 0
            take = min(n, limit)
            columns = [dtypes.json_values(c, 0, take) for c in merged]
            rows = [list(r) for r in zip(*columns, strict=True)] if columns else []
            profiles = [dtypes.profile(c) for c in merged]
        elif self.schema:
            profiles = [
                {"name": name, "nulls": 0, "distinct": 0, "min": None, "max": None}
                for name, _, _ in self.schema
            ]
        self.send_json(frames.PREVIEW, {"rows": fit_rows(rows, profiles), "profile": profiles})

    # -- the whole job
    def run(self) -> dict:
        from . import dtypes

        job = self.job
        self.task = job["task"]
        self.chunk_rows = job["chunk_rows"]
        self.max_output_rows = job["max_output_rows"]
        self.preview_rows = job["preview_rows"]
        try:
            self.sources = [dtypes.SourceColumn(c) for c in job["columns"]]
        except ValueError as e:
            raise frames.ProtocolError(f"the JOB frame: {e}") from None
        if len({s.name for s in self.sources}) != len(self.sources):
            raise frames.ProtocolError("the JOB frame names a column twice")
        self.sources_by_name = {s.name: s for s in self.sources}
        kinds = [s.kind for s in self.sources]
        transform, whole, allow_empty = self.prepare()
        self.send_json(frames.READY, {"whole_table": whole, "allow_empty": allow_empty})
        outputs = []
        kept = []  # whole-table mode: the input batches, as Arrow arrays
        batches = 0
        import pyarrow as pa

        while True:
            frame = self.reader.read()
            if frame is None:
                raise frames.ProtocolError("the input ended before its END frame")
            ftype, payload = frame
            if ftype == frames.END:
                if payload:
                    raise frames.ProtocolError("an END frame with a payload")
                break
            if ftype != frames.BATCH:
                raise frames.ProtocolError(f"a {ftype} frame after the job started")
            batch = frames.decode_batch(payload, kinds, check_values=False)
            arrays = dtypes.batch_arrays(batch, self.sources)
            del payload, frame
            self.rows_in += batch.nrows
            batches += 1
            if whole:
                kept.append(arrays)
                self.metrics()
                continue
            self.chunk = batches
            df = dtypes.to_frame([pa.chunked_array([a]) for a in arrays], self.sources)
            del arrays, batch
            result = self.call(transform, df)
            del df
            self.emit(result, outputs)
            del result
            self.metrics()
        if whole or batches == 0:
            self.chunk = 1
            if kept:
                columns = [
                    pa.chunked_array([b[i] for b in kept], type=arr.type)
                    for i, arr in enumerate(kept[0])
                ]
            else:
                columns = [pa.chunked_array([a]) for a in dtypes.empty_arrays(self.sources)]
            kept = None
            df = dtypes.to_frame(columns, self.sources)
            del columns
            result = self.call(transform, df)
            del df
            self.emit(result, outputs)
            del result
            self.metrics()
        # A preview's sample may hold no row the script keeps: not an error.
        if self.rows_out == 0 and not allow_empty and self.task != "preview":
            raise Outcome(
                "invalid_output",
                "transform() returned no rows; if that is expected, set ALLOW_EMPTY = True "
                "at the top of the script",
            )
        if self.task == "preview":
            self.preview(outputs)
        return {"ok": True, "rows_in": self.rows_in, "rows_out": self.rows_out}
