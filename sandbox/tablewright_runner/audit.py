"""The audit hook (PEP 578), the sandbox's tripwire (docs/sandbox.md, layer 5).

Installed by __main__ after the runner's own imports and the OS layer, before
the JOB frame is read, so before any user code. From then on it refuses,
by raising audit.SandboxViolation (a policy.SandboxViolation) out of the audited
operation:

- opening a file, listing a directory or changing directory outside the
  interpreter's library directories (read only) and the job directory;
  every change to the file system (remove, rename, mkdir, chmod, links,
  ...) outside the job directory;
- sockets, processes (subprocess, os.system/exec*/spawn*/posix_spawn/fork/
  forkpty, pty.spawn, Windows' CreateProcess and startfile), signals,
  ctypes, cffi, mmap, pickle.find_class, marshal.loads outside the import
  system, the network and database modules' events, environment changes;
- sys.addaudithook, sys.settrace/setprofile, sys._current_frames, the gc
  functions that hand out arbitrary objects, and sys._getframe when the
  frame it returns is the script's or the runner's;
- compile and exec once the script has started, except the runner's own
  exec of the compiled script and the import system's and the standard
  library's known callers (namedtuple, dataclasses);
- imports outside an allow list (the event fires only for modules not yet
  loaded: the lazy imports of pandas, numpy and pyarrow), and always the
  modules in DANGEROUS_MODULES.

It is a tripwire behind the other layers, not the boundary: the first trip
is kept (first_trip()), and the job fails as sandbox_violation with its
text ("audit: open "/etc/passwd" refused") even if the script caught the
exception.
"""

from __future__ import annotations

import os
import sys

from . import policy

# Imports the hook lets through: packages (a name or any of its
# submodules) found by running tests/runner and the idioms with the hook in
# a recording mode (docs/internals/runner.md, "The audit hook").
ALLOWED_PACKAGES = frozenset(
    (
        # what scripts may import, and their own packages and dependencies
        *policy.ALLOWED_IMPORTS,
        "numpy",
        "pandas",
        "pyarrow",
        "dateutil",
        "pytz",
        "tzdata",
        "zoneinfo",
        "six",
        "RestrictedPython",
        "tablewright_runner",
        # standard library modules that only compute, which their less
        # common paths may load lazily (the recording found none needed;
        # these are kept so that such a path does not fail a job)
        "_strptime",
        "calendar",
        "locale",
        "unicodedata",
        "encodings",
        "json",
        "_json",
        "string",
        "fractions",
        "numbers",
        "difflib",
        "pprint",
        "reprlib",
        "textwrap",
        "random",
        "_random",
        "hashlib",
        "_hashlib",
        "_blake2",
        "_md5",
        "_sha1",
        "_sha256",
        "_sha512",
        "_sha3",
        "uuid",
        "_uuid",
        "base64",
        "binascii",
        "struct",
        "copy",
        "cmath",
        "colorsys",
        "zlib",
        "dataclasses",
        "typing",
        "typing_extensions",
        "_decimal",
        "_pydecimal",
        "_datetime",
        "_pydatetime",
        "_statistics",
    )
)

# Always refused, whoever imports them: processes, the network, native
# code, debuggers and code loaders, the file system's power tools.
DANGEROUS_MODULES = frozenset(
    (
        "subprocess",
        "_posixsubprocess",
        "multiprocessing",
        "_multiprocessing",
        "concurrent",
        "asyncio",
        "socket",
        "_socket",
        "ssl",
        "_ssl",
        "socketserver",
        "select",
        "selectors",
        "http",
        "urllib",
        "ftplib",
        "smtplib",
        "poplib",
        "imaplib",
        "nntplib",
        "telnetlib",
        "xmlrpc",
        "webbrowser",
        "sqlite3",
        "_sqlite3",
        "dbm",
        "shelve",
        "ctypes",
        "_ctypes",
        "cffi",
        "_cffi_backend",
        "mmap",
        "pty",
        "tty",
        "termios",
        "fcntl",
        "resource",
        "pwd",
        "grp",
        "spwd",
        "crypt",
        "pickle",
        "_pickle",
        "pickletools",
        "marshal",
        "code",
        "codeop",
        "pdb",
        "bdb",
        "trace",
        "runpy",
        "pkgutil",
        "zipimport",
        "importlib",
        "shutil",
        "tempfile",
        "glob",
        "pathlib",
        "signal",
        "_signal",
        "faulthandler",
        "gc",
        "builtins",
        "winreg",
        "msvcrt",
        "_winapi",
        "nt",
        "posix",
        "os",
        "sys",
    )
)

# Events refused outright, by the part of their name before the first dot
# or by their whole name.
REFUSED_PREFIXES = frozenset(
    (
        "socket",
        "ctypes",
        "cffi",
        "urllib",
        "http",
        "ftplib",
        "smtplib",
        "poplib",
        "imaplib",
        "nntplib",
        "telnetlib",
        "webbrowser",
        "sqlite3",
        "mmap",
        "shutil",
        "pickle",
        "winreg",
        "msvcrt",
        "_winapi",
        "syslog",
        "resource",
        "fcntl",
        "subprocess",
        "pty",
        "ensurepip",
        "gc",
        "tempfile",
        "function",  # function.__new__: a function from an arbitrary code object
        "code",  # code.__new__
    )
)
REFUSED_EVENTS = frozenset(
    (
        "os.system",
        "os.exec",
        "os.spawn",
        "os.posix_spawn",
        "os.fork",
        "os.forkpty",
        "os.startfile",
        "os.add_dll_directory",
        "os.kill",
        "os.killpg",
        "os.putenv",
        "os.unsetenv",
        "signal.pthread_kill",
        "sys.addaudithook",
        "sys.settrace",
        "sys.setprofile",
        "sys._current_frames",
        "sys._current_exceptions",
        "sys.set_asyncgen_hooks_firstiter",
        "sys.set_asyncgen_hooks_finalizer",
        "builtins.input",
        "builtins.breakpoint",
        "cpython.remote_debugger_script",
        "marshal.load",
        "marshal.dumps",
        "marshal.dump",
    )
)

# Events that name paths the script would change, and which arguments.
MUTATIONS = {
    "os.remove": (0,),
    "os.rename": (0, 1),
    "os.mkdir": (0,),
    "os.rmdir": (0,),
    "os.chmod": (0,),
    "os.lchmod": (0,),
    "os.chown": (0,),
    "os.chflags": (0,),
    "os.lchflags": (0,),
    "os.link": (0, 1),
    "os.symlink": (1,),
    "os.truncate": (0,),
    "os.utime": (0,),
    "os.setxattr": (0,),
    "os.removexattr": (0,),
}
READS = {"os.listdir": 0, "os.scandir": 0, "os.chdir": 0, "os.getxattr": 0, "os.listxattr": 0}

# Who may still compile and exec once the script runs: the import system
# (a lazy import runs its module's code) and the standard library's code
# generators that pandas calls (itertuples' namedtuple).
EXEC_CALLERS = frozenset(
    ("<frozen importlib._bootstrap>", "<frozen importlib._bootstrap_external>")
)
EXEC_CALLER_MODULES = ("collections/__init__.py", "dataclasses.py", "typing.py", "enum.py")

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


class SandboxViolation(policy.SandboxViolation):
    """What the audit hook raises: a refusal by the tripwire (named like
    the policy's, since the job's message starts with the class's name)."""


class _State:
    def __init__(self) -> None:
        self.installed = False
        self.busy = False
        self.trips: list[str] = []
        self.job_dir: str | None = None
        self.read_dirs: tuple[str, ...] = ()
        self.script_code = None
        self.script_started = False
        self.runner_dir = os.path.dirname(os.path.abspath(__file__)) + os.sep
        self.record = None  # a list, when recording instead of refusing


_state = _State()


def first_trip() -> str | None:
    """The first refusal's text, or None."""
    return _state.trips[0] if _state.trips else None


def trips() -> list[str]:
    return list(_state.trips)


def script_starts(code) -> None:
    """Called by the runner just before it execs the compiled script: that
    one exec is the runner's; any compile or exec after it is the
    script's unless its caller is one of EXEC_CALLERS."""
    _state.script_code = code
    _state.script_started = True


def _under(path: str, dirs) -> bool:
    for d in dirs:
        if path == d[:-1] or path.startswith(d):
            return True
    return False


def library_dirs() -> list[str]:
    """The directories the runner's Python may read: the interpreter's and
    its packages', and time zone data (oslock.python_dirs)."""
    from .oslock import python_dirs

    dirs = python_dirs()
    out = []
    for d in dirs:
        r = os.path.realpath(d)
        if os.path.isdir(r) and r != os.sep:
            r = r.rstrip(os.sep) + os.sep
            if r not in out:
                out.append(r)
    return out


def install(job_dir: str, record: list | None = None) -> None:
    """Adds the hook (once; it cannot be removed). job_dir is the runner's
    working directory at start; "/" or a directory holding the interpreter
    is no job directory (nothing is writable)."""
    from .oslock import job_dir_usable

    if _state.installed:
        return
    real = os.path.realpath(job_dir)
    _state.job_dir = real.rstrip(os.sep) + os.sep if job_dir_usable(real) else None
    _state.read_dirs = tuple(library_dirs())
    _state.record = record
    # the standard library's own code generators, by their real paths
    global _exec_caller_files
    _exec_caller_files = tuple(
        os.path.join(os.path.dirname(os.__file__), m) for m in EXEC_CALLER_MODULES
    )
    _state.installed = True
    sys.addaudithook(_hook)


_exec_caller_files: tuple[str, ...] = ()


def _refuse(text: str):
    if _state.record is not None:
        _state.record.append(text)
        return
    if len(_state.trips) < 100:
        _state.trips.append(text)
    raise SandboxViolation(text)


def _show(value) -> str:
    try:
        if isinstance(value, (bytes, bytearray)):
            value = os.fsdecode(bytes(value))
        text = str(value)
    except Exception:  # noqa: BLE001 - an odd argument: its type will do
        text = type(value).__name__
    if len(text) > 200:
        text = text[:197] + "..."
    return text.replace('"', '\\"').replace("\n", "\\n")


def _real(path):
    """The real absolute path of an event's path argument, or None when it
    is a descriptor (opened before, so already allowed)."""
    if isinstance(path, int):
        return None
    try:
        path = os.fsdecode(os.fspath(path))
        return os.path.realpath(path)
    except (TypeError, ValueError, OSError):
        return ""


def _may_read(real: str) -> bool:
    if _state.job_dir and _under(real, (_state.job_dir,)):
        return True
    return _under(real, _state.read_dirs) or real == os.devnull


def _may_write(real: str) -> bool:
    return bool(_state.job_dir) and _under(real, (_state.job_dir,)) or real == os.devnull


def _on_open(event, args):
    path, mode, flags = args[0], args[1], args[2] if len(args) > 2 else 0
    if path == policy.FILENAME:
        return  # the compiler looking for a syntax error's line: there is no such file
    real = _real(path)
    if real is None:
        return
    write = bool((flags or 0) & _WRITE_FLAGS) or (
        isinstance(mode, str) and any(c in mode for c in "wax+")
    )
    ok = _may_write(real) if write else _may_read(real)
    if not ok:
        _refuse(f'audit: open "{_show(path)}" refused')


def _on_import(event, args):
    name = args[0]
    if not isinstance(name, str):
        _refuse(f'audit: import "{_show(name)}" refused')
        return
    top = name.partition(".")[0]
    if top in DANGEROUS_MODULES or name in DANGEROUS_MODULES:
        _refuse(f'audit: import "{name}" refused')
    elif top not in ALLOWED_PACKAGES:
        _refuse(f'audit: import "{name}" refused')


def _caller_allowed(frame) -> bool:
    if frame is None:
        return False
    filename = frame.f_code.co_filename
    return filename in EXEC_CALLERS or filename in _exec_caller_files


def _on_exec(event, args):
    if event == "exec" and args and args[0] is _state.script_code is not None:
        return
    if not _state.script_started:
        return
    _state.busy = True
    try:
        caller = sys._getframe(2)  # 0: this, 1: the hook, 2: who called exec/compile
    finally:
        _state.busy = False
    if not _caller_allowed(caller):
        what = ""
        if event == "compile" and len(args) > 1:
            what = f' "{_show(args[1])}"'
        _refuse(f"audit: {event}{what} refused once the script runs")


def _on_getframe(event, args):
    frame = args[0] if args else None
    code = getattr(frame, "f_code", None)
    if code is None:
        return
    filename = code.co_filename
    if filename == policy.FILENAME or filename.startswith(_state.runner_dir):
        _refuse(f"audit: {event} refused (a frame of the script or the runner)")


def _on_marshal(event, args):
    _state.busy = True
    try:
        caller = sys._getframe(2)
    finally:
        _state.busy = False
    if caller is None or caller.f_code.co_filename not in EXEC_CALLERS:
        _refuse(f"audit: {event} refused")


def _on_mutation(event, args):
    for i in MUTATIONS[event]:
        if i < len(args):
            real = _real(args[i])
            if real is not None and not _may_write(real):
                _refuse(f'audit: {event} "{_show(args[i])}" refused')


def _on_read(event, args):
    path = args[READS[event]] if args else None
    if path is None:  # os.listdir() of the working directory
        path = "."
    real = _real(path)
    if real is not None and not _may_read(real):
        _refuse(f'audit: {event} "{_show(path)}" refused')


def _on_refused(event, args):
    what = ""
    if args and isinstance(args[0], (str, bytes)):
        what = f' "{_show(args[0])}"'
    _refuse(f"audit: {event}{what} refused")


_HANDLERS = {
    "open": _on_open,
    "import": _on_import,
    "exec": _on_exec,
    "compile": _on_exec,
    "sys._getframe": _on_getframe,
    "marshal.loads": _on_marshal,
}
_HANDLERS.update({e: _on_mutation for e in MUTATIONS})
_HANDLERS.update({e: _on_read for e in READS})
_HANDLERS.update({e: _on_refused for e in REFUSED_EVENTS})


def _hook(event: str, args: tuple) -> None:
    if _state.busy:
        return
    handler = _HANDLERS.get(event)
    if handler is None:
        if event.partition(".")[0] not in REFUSED_PREFIXES:
            return
        handler = _on_refused
    handler(event, args)
