"""`python -I -m tablewright_runner [validate]`: the sandbox runner's entry.

Exit status: 0 once a STATUS frame is out (whatever it says); 3 when the
runner cannot start (RestrictedPython older than 9.0) or the other side
broke the protocol (a message on stderr, no STATUS).
"""

from __future__ import annotations

import io
import json
import os
import sys
import traceback
import warnings

EXIT_PROTOCOL = 3


def _die(message: str) -> int:
    sys.stderr.write(f"tablewright_runner: {message}\n")
    sys.stderr.flush()
    return EXIT_PROTOCOL


def _check_restrictedpython() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        text = version("RestrictedPython")
    except PackageNotFoundError:
        return "RestrictedPython is not installed (run scripts/deps.sh)"
    parts = []
    for p in text.split(".")[:2]:
        digits = "".join(ch for ch in p if ch.isdigit())
        parts.append(int(digits or 0))
    if tuple(parts) < (9, 0):
        return (
            f"RestrictedPython {text} is too old: the runner needs 9.0 or later "
            "(8.3 and 8.4 fixed sandbox escapes, 9.0 took the builtins that iterate "
            "past _getiter_ out of safe_builtins); run scripts/deps.sh"
        )
    return None


def _heavy_imports() -> None:
    # One thread each and the system allocator: the sandbox's memory limit
    # (RLIMIT_DATA) then fails an allocation where it happens, and no pool
    # reserves address space up front.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    import datetime  # noqa: F401 - the modules a script may import, loaded now
    import decimal  # noqa: F401
    import math  # noqa: F401
    import re  # noqa: F401
    import statistics  # noqa: F401

    import numpy  # noqa: F401
    import pandas  # noqa: F401
    import pyarrow  # noqa: F401
    import pyarrow.compute  # noqa: F401
    import RestrictedPython  # noqa: F401

    from . import dtypes  # noqa: F401


def _job_fields(job) -> str | None:
    """What is wrong with a JOB frame's JSON, or None."""
    if not isinstance(job, dict):
        return "the JOB frame is not a JSON object"
    if job.get("protocol") != 1:
        return f"protocol {job.get('protocol')!r}, this runner speaks 1"
    task = job.get("task")
    if task not in ("run", "preview", "validate"):
        return f"unknown task {task!r}"
    if not isinstance(job.get("code"), str):
        return "the job has no code"
    if task == "validate":
        return None
    for name in ("chunk_rows", "max_output_rows", "preview_rows"):
        v = job.get(name)
        if type(v) is not int or v < 0:
            return f"{name} is not a non-negative integer"
    if not isinstance(job.get("columns"), list):
        return "the job has no columns"
    return None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv not in ([], ["validate"]):
        return _die("usage: python -I -m tablewright_runner [validate]")
    validate_only = argv == ["validate"]
    # The job directory is the working directory the worker started us in.
    # Landlock first, while this is the only thread (it restricts the
    # calling thread and those it starts later): docs/sandbox.md, layer 7.
    job_dir = os.getcwd()
    from . import oslock

    _note(oslock.landlock(job_dir))
    problem = _check_restrictedpython()
    if problem:
        return _die(problem)

    from . import audit, frames, job, policy

    # Frames go on private copies of stdin and stdout; descriptor 1 becomes
    # stderr and 0 /dev/null, so nothing else can write into the frame
    # stream or read the input (C code included).
    in_fd = os.dup(0)
    out_fd = os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    reader = frames.FrameReader(in_fd, allowed=frames.IN_TYPES)
    writer = frames.FrameWriter(out_fd)
    sink = job.LogSink(writer)
    sys.stdout = job.StdoutToLog(sink)
    sys.stdin = io.StringIO()

    def showwarning(message, category, filename, lineno, file=None, line=None):
        if filename != policy.FILENAME:
            # raised inside pandas or numpy: name the script's line that called them
            frame = sys._getframe(1)
            while frame is not None and frame.f_code.co_filename != policy.FILENAME:
                frame = frame.f_back
            lineno = frame.f_lineno if frame is not None else None
        where = f" (line {lineno})" if lineno else ""
        sink.write(f"warning: {category.__name__}: {message}{where}\n")

    warnings.showwarning = showwarning
    warnings.simplefilter("default")

    try:
        if not validate_only:
            _heavy_imports()
        # After the imports (their threads get the filter too), before any
        # user code: the seccomp filter, then the audit hook (layer 5).
        _note(oslock.seccomp())
        del oslock
        audit.install(job_dir)
        frame = reader.read()
        if frame is None:
            return _die("the input ended before a JOB frame")
        ftype, payload = frame
        if ftype != frames.JOB:
            raise frames.ProtocolError(f"a {ftype} frame before the JOB frame")
        try:
            spec = json.loads(payload.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise frames.ProtocolError(f"the JOB frame is not JSON: {e}") from None
        problem = _job_fields(spec)
        if problem:
            raise frames.ProtocolError(problem)
        if validate_only and spec["task"] != "validate":
            raise frames.ProtocolError(f"started for validation but given a {spec['task']} job")
        if spec["task"] == "validate":
            status = _validate(spec["code"], policy)
        else:
            conv = job.Conversation(spec, reader, writer, sink)
            try:
                status = conv.run()
            except job.Outcome as e:
                status = e.status()
            except (frames.ProtocolError, BrokenPipeError, ConnectionResetError):
                raise
            except MemoryError:
                status = job.Outcome("memory_limit", "the job ran out of memory").status()
            except Exception as e:  # a bug of the runner's: say so, and where
                traceback.print_exc()
                status = job.Outcome(
                    "internal", f"the sandbox runner failed: {type(e).__name__}: {e}"
                ).status()
        status = _audit_outcome(status, audit, job, sink, spec["task"] == "validate")
        sink.flush()
        writer.write(frames.STATUS, json.dumps(status, ensure_ascii=False).encode())
        return 0
    except frames.ProtocolError as e:
        return _die(f"protocol error: {e}")
    except (BrokenPipeError, ConnectionResetError):
        return _die("the worker closed the pipe")


def _note(lines: list[str]) -> None:
    """The OS layer's notes (what the kernel lacks) go to stderr, which
    the worker puts in the job's log."""
    for line in lines:
        sys.stderr.write(f"tablewright_runner: {line}\n")
    sys.stderr.flush()


def _audit_outcome(status: dict, audit, job, sink, validate: bool) -> dict:
    """A job the audit hook tripped on fails as sandbox_violation whatever
    else happened (the script may have caught the refusal), and its log
    names each refused event."""
    trips = audit.trips()
    if not trips:
        return status
    for text in trips:
        sink.write(text + "\n")
    if status.get("error_code") == "sandbox_violation":
        return status
    if validate:
        return {"ok": False, "errors": [{"message": job.audit_message()}]}
    return job.Outcome("sandbox_violation", job.audit_message()).status()


def _validate(code: str, policy) -> dict:
    with warnings.catch_warnings():  # validate answers with S alone
        warnings.simplefilter("ignore")
        _, errors = policy.compile_script(code)
        if not errors and not policy.defines_transform(code):
            errors = [policy.CompileError(1, 1, "the script defines no transform(df) function")]
    if not errors:
        return {"ok": True}
    return {"ok": False, "errors": [e.as_json() for e in errors[:100]]}


if __name__ == "__main__":
    sys.exit(main())
