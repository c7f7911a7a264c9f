"""What user code may do: compiling it with RestrictedPython, and the guards
and builtins it runs with.

- compile_script() parses the source, checks its imports against the allow
  list and compiles it with compile_restricted_exec() and our transformer
  (RestrictedPython's, plus augmented assignment of items and attributes:
  `df["x"] += 1`). Every error comes with its line and column.
- Sandbox holds the guards the compiled code calls (_getattr_, _getitem_,
  _getiter_, _write_, _inplacevar_, _print_, _apply_, the unpacking
  guards), the builtins (RestrictedPython's safe ones, plus wrappers of the
  builtins that iterate, which go through _getiter_) and __import__.
  Refusals are SandboxViolation; the first one is kept (violation), so user
  code that catches it still fails the job.

The next sandbox issue adds proxies around modules and pandas/numpy
objects and an audit hook: they slot in at Sandbox.wrap_module(),
Sandbox.wrap_value() and Sandbox.check_iterable().
"""

from __future__ import annotations

import ast
import builtins
import datetime
import decimal
import operator
import string
import sys
import types

from RestrictedPython import compile_restricted_exec
from RestrictedPython.Guards import (
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safe_builtins,
)
from RestrictedPython.transformer import (
    INSPECT_ATTRIBUTES,
    IOPERATOR_TO_STR,
    RestrictingNodeTransformer,
    copy_locations,
)

from . import allowlist

FILENAME = "<script>"
SCRIPT_MODULE = "script"
MIN_RESTRICTEDPYTHON = (9, 0)

# What `import` may name (allowlist.py holds, per module, the names scripts
# may use from it; REACHABLE_MODULES are the modules a script may hold,
# always through a proxy).
ALLOWED_IMPORTS = allowlist.IMPORTABLE
IMPORTABLE_NAMES = frozenset(allowlist.IMPORTABLE + allowlist.IMPORTABLE_SUBMODULES)
REACHABLE_MODULES = allowlist.REACHABLE_MODULES

# Attribute names refused on any object, with the reason. These are the
# doors of the public pandas/numpy API (a name is refused wherever it is
# reached: an attribute, getattr() with a computed name, hasattr(), a
# format field, a function named by string in agg/apply/...).
_FILES = "it reaches files, URLs, the clipboard or a database"
_PICKLE = "it pickles or unpickles"
_CODE = "it evaluates a string as code"
_MEMORY = "it reaches raw memory"
_PLOT = "plotting imports a back-end module by name"
_STYLE = "Styler renders templates and writes files"
_OPTIONS = "it changes process-wide options"
_REGISTER = "it registers extensions process-wide"
REFUSED_NAMES: dict[str, str] = {
    **dict.fromkeys(
        (
            "save savez savez_compressed savetxt loadtxt genfromtxt fromfile fromregex tofile "
            "memmap DataSource HDFStore ExcelFile ExcelWriter open_memmap"
        ).split(),
        _FILES,
    ),
    **dict.fromkeys("dump dumps load loads pickle to_pickle read_pickle".split(), _PICKLE),
    **dict.fromkeys("eval query numexpr".split(), _CODE),
    **dict.fromkeys("ctypes cffi capsule ctypeslib from_dlpack as_strided".split(), _MEMORY),
    **dict.fromkeys("plot hist boxplot plotting".split(), _PLOT),
    "mro": "it hands out a class's bases (np.ndarray's raw-buffer constructor among them)",
    "style": _STYLE,
    **dict.fromkeys(
        "set_option get_option reset_option describe_option option_context".split(), _OPTIONS
    ),
}
REFUSED_PREFIXES = {"read_": _FILES, "register_": _REGISTER}
# `to_*` is refused except the in-memory conversions; to_string, to_json
# and to_csv only without a path or buffer (they then return a string).
TO_ALLOWED = frozenset(
    (
        "to_numpy",
        "to_dict",
        "to_list",
        "to_records",
        "to_frame",
        "to_series",
        "to_datetime",
        "to_numeric",
        "to_timedelta",
        "to_period",
        "to_timestamp",
        "to_pydatetime",
        "to_pytimedelta",
        "to_datetime64",
        "to_timedelta64",
        "to_flat_index",
        "to_julian_date",
        "to_tuples",
        "to_dense",
        # the standard library's: int.to_bytes, Decimal's conversions
        "to_bytes",
        "to_integral",
        "to_integral_value",
        "to_integral_exact",
        "to_eng_string",
        "to_sci_string",
    )
)
PATHLESS_WRITERS = {"to_string": "buf", "to_json": "path_or_buf", "to_csv": "path_or_buf"}
# Names refused on exceptions: AttributeError.obj is the object looked in
# (a real module, from inside pandas); ImportError's are paths and names.
EXCEPTION_NAMES = frozenset(("obj", "path", "name_from"))
# Frames, tracebacks, generators', coroutines' and async generators'
# internals (RestrictedPython's INSPECT_ATTRIBUTES and the rest).
INTERNAL_NAMES = INSPECT_ATTRIBUTES | frozenset(
    (
        "f_back f_builtins f_code f_globals f_locals f_trace f_trace_lines f_trace_opcodes "
        "tb_frame tb_next gi_frame gi_code gi_yieldfrom cr_frame cr_code cr_await cr_origin "
        "ag_frame ag_code ag_await co_code"
    ).split()
)

# Methods of pandas objects that accept a function named by string, and the
# names they may be given (each a method of the object that computes).
DISPATCH_METHODS = frozenset(("agg", "aggregate", "apply", "transform", "map", "applymap", "pipe"))
SAFE_FUNCTION_NAMES = frozenset(
    (
        "sum",
        "mean",
        "median",
        "min",
        "max",
        "count",
        "size",
        "std",
        "var",
        "sem",
        "prod",
        "first",
        "last",
        "nunique",
        "any",
        "all",
        "cumsum",
        "cumprod",
        "cummin",
        "cummax",
        "cumcount",
        "ngroup",
        "idxmin",
        "idxmax",
        "skew",
        "kurt",
        "quantile",
        "rank",
        "abs",
        "diff",
        "pct_change",
        "shift",
        "ffill",
        "bfill",
        "ohlc",
        "round",
        "unique",
        "mode",
        "describe",
        "value_counts",
    )
)

# The modules whose objects scripts may hold (by the module of their type,
# or of a class or function itself): anything else (pyarrow, io, functools,
# dateutil, threading, ...) is another library's object that the allowed
# modules happen to hand out, and is refused.
OBJECT_MODULES = frozenset(
    (
        "builtins",
        "pandas",
        "numpy",
        "datetime",
        "decimal",
        "math",
        "re",
        "statistics",
        "fractions",
        "zoneinfo",
        "collections",
        "itertools",
        SCRIPT_MODULE,
        "tablewright_runner",
    )
)
# Objects that carry live internals: never handed to a script.
LIVE_TYPES = (
    types.FrameType,
    types.TracebackType,
    types.CodeType,
    types.CellType,
    type(datetime.datetime_CAPI),  # PyCapsule
)


class SandboxViolation(Exception):
    """User code reached for something the sandbox refuses."""


class CompileError:
    """One error found compiling a script (1-based line and column)."""

    __slots__ = ("line", "column", "message", "code", "end")

    def __init__(self, line, column, message, code="user_error", end=0):
        self.line = line
        self.column = column
        self.message = message
        self.code = code
        self.end = end  # where the node ends: a.__b.__c reports __b first

    def as_json(self) -> dict:
        out = {"message": self.message}
        if self.line is not None:
            out["line"] = self.line
        if self.column is not None:
            out["column"] = self.column
        return out


def restrictedpython_version() -> tuple[int, ...]:
    from importlib.metadata import version

    parts = []
    for p in version("RestrictedPython").split(".")[:2]:
        digits = "".join(ch for ch in p if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def _char_column(lines: list[str], lineno, byte_offset) -> int | None:
    """A 1-based character column from ast's 0-based UTF-8 byte offset."""
    if lineno is None or byte_offset is None:
        return None
    if 1 <= lineno <= len(lines):
        raw = lines[lineno - 1].encode("utf-8")[:byte_offset]
        return len(raw.decode("utf-8", errors="ignore")) + 1
    return byte_offset + 1


def _to_slice_expr(node):
    """An ast.Slice as a slice(...) call (a slice cannot be kept in a
    temporary name), tuples of them too."""
    if isinstance(node, ast.Slice):
        args = [
            part if part is not None else ast.Constant(None)
            for part in (node.lower, node.upper, node.step)
        ]
        call = ast.Call(func=ast.Name("slice", ast.Load()), args=args, keywords=[])
        copy_locations(call, node)
        return call
    if isinstance(node, ast.Tuple):
        node.elts = [_to_slice_expr(e) for e in node.elts]
    return node


class ScriptTransformer(RestrictingNodeTransformer):
    """RestrictedPython's transformer, with errors kept with their columns
    and augmented assignment of items and attributes allowed:

        a[k] += v   ->  _tmp0 = a; _tmp1 = k
                        _write_(_tmp0)[_tmp1] = _inplacevar_('+=', _getitem_(_tmp0, _tmp1), v)
        a.b += v    ->  _tmp0 = a
                        _write_(_tmp0).b = _inplacevar_('+=', _getattr_(_tmp0, 'b'), v)
    """

    def __init__(self, errors=None, warnings=None, used_names=None):
        super().__init__(errors, warnings, used_names)
        self.lines: list[str] = []
        self.located: list[CompileError] = []

    def error(self, node, info):
        super().error(node, info)
        line = getattr(node, "lineno", None)
        col = _char_column(self.lines, line, getattr(node, "col_offset", None))
        end = getattr(node, "end_col_offset", 0) or 0
        self.located.append(CompileError(line, col, info, "sandbox_violation", end))

    def visit_AugAssign(self, node):
        target = node.target
        if isinstance(target, ast.Name):
            return super().visit_AugAssign(node)
        op = IOPERATOR_TO_STR[type(node.op)]
        obj_name = self.gen_tmp_name()
        stmts = [
            ast.Assign(targets=[ast.Name(obj_name, ast.Store())], value=self.visit(target.value))
        ]
        rhs = self.visit(node.value)
        if isinstance(target, ast.Subscript):
            key_name = self.gen_tmp_name()
            key = self.visit(_to_slice_expr(target.slice))
            stmts.append(ast.Assign(targets=[ast.Name(key_name, ast.Store())], value=key))
            current = ast.Call(
                func=ast.Name("_getitem_", ast.Load()),
                args=[ast.Name(obj_name, ast.Load()), ast.Name(key_name, ast.Load())],
                keywords=[],
            )
            store = ast.Subscript(
                value=self._write_call(obj_name),
                slice=ast.Name(key_name, ast.Load()),
                ctx=ast.Store(),
            )
        elif isinstance(target, ast.Attribute):
            self._check_attr(node, target.attr)
            current = ast.Call(
                func=ast.Name("_getattr_", ast.Load()),
                args=[ast.Name(obj_name, ast.Load()), ast.Constant(target.attr)],
                keywords=[],
            )
            store = ast.Attribute(
                value=self._write_call(obj_name), attr=target.attr, ctx=ast.Store()
            )
        else:  # pragma: no cover - the grammar allows nothing else
            self.not_allowed(node)
            return node
        value = ast.Call(
            func=ast.Name("_inplacevar_", ast.Load()),
            args=[ast.Constant(op), current, rhs],
            keywords=[],
        )
        stmts.append(ast.Assign(targets=[store], value=value))
        for s in stmts:
            copy_locations(s, node)
        return stmts

    def _write_call(self, name):
        return ast.Call(
            func=ast.Name("_write_", ast.Load()), args=[ast.Name(name, ast.Load())], keywords=[]
        )

    def _check_attr(self, node, attr):
        if attr.startswith("_"):
            self.error(node, f'"{attr}" is an invalid attribute name because it starts with "_".')
        elif attr in INSPECT_ATTRIBUTES:
            self.error(node, f'"{attr}" is a restricted name.')


def _import_errors(tree, lines) -> list[CompileError]:
    errors = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                errors.append(
                    CompileError(
                        node.lineno,
                        _char_column(lines, node.lineno, node.col_offset),
                        "relative imports are not allowed",
                        "sandbox_violation",
                    )
                )
                continue
            names = [node.module or ""]
        for name in names:
            if name not in IMPORTABLE_NAMES:
                errors.append(
                    CompileError(
                        node.lineno,
                        _char_column(lines, node.lineno, node.col_offset),
                        import_refusal(name),
                        "sandbox_violation",
                    )
                )
    return errors


def import_refusal(name: str) -> str:
    return f'import of "{name}" is refused: scripts may import only {", ".join(ALLOWED_IMPORTS)}'


def compile_script(source: str):
    """(code, errors): the compiled module, or None and every error found
    (syntax: user_error; policy: sandbox_violation). Hostile input (deep
    nesting, huge expressions) comes back as an error, never an exception."""
    if not isinstance(source, str):
        return None, [CompileError(None, None, "the script is not text")]
    lines = source.splitlines()
    try:
        tree = ast.parse(source, FILENAME, "exec")
    except SyntaxError as e:
        msg = f"{type(e).__name__}: {e.msg}"
        col = e.offset if e.offset and e.offset > 0 else None
        return None, [CompileError(e.lineno, col, msg)]
    except (ValueError, TypeError) as e:  # NUL bytes before 3.12
        return None, [CompileError(None, None, f"SyntaxError: {e}")]
    except RecursionError:
        return None, [CompileError(None, None, _too_deep())]
    except MemoryError:
        return None, [CompileError(None, None, _too_big())]
    errors = _import_errors(tree, lines)
    located: list[CompileError] = []

    class Policy(ScriptTransformer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.lines = lines
            self.located = located

    try:
        result = compile_restricted_exec(tree, filename=FILENAME, policy=Policy)
    except RecursionError:
        return None, errors + [CompileError(None, None, _too_deep())]
    except MemoryError:
        return None, errors + [CompileError(None, None, _too_big())]
    except (SyntaxError, ValueError, TypeError) as e:
        line = getattr(e, "lineno", None)
        return None, errors + [CompileError(line, None, f"{type(e).__name__}: {e}")]
    if result.errors and not located:  # pragma: no cover - every error goes through error()
        located = [CompileError(None, None, str(m), "sandbox_violation") for m in result.errors]
    errors += located
    errors.sort(key=lambda e: (e.line or 0, e.column or 0, e.end))
    if errors:
        return None, errors
    return result.code, []


def _too_deep() -> str:
    return "the script is nested too deeply to compile (RecursionError)"


def _too_big() -> str:
    return "the script is too large or too deeply nested to compile (MemoryError)"


def defines_transform(source: str) -> bool:
    """Whether the module defines `transform` at its top level (validate)."""
    try:
        tree = ast.parse(source, FILENAME, "exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return True  # the syntax error is what gets reported
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "transform":
            return True
        if isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Name) and t.id == "transform":
                    return True
    return False


# --- the guards -------------------------------------------------------------------

_MISSING = object()

_INPLACE = {
    "+=": operator.iadd,
    "-=": operator.isub,
    "*=": operator.imul,
    "/=": operator.itruediv,
    "//=": operator.ifloordiv,
    "%=": operator.imod,
    "**=": operator.ipow,
    "<<=": operator.ilshift,
    ">>=": operator.irshift,
    "&=": operator.iand,
    "|=": operator.ior,
    "^=": operator.ixor,
    "@=": operator.imatmul,
}


def _type_module(obj) -> str:
    return getattr(type(obj), "__module__", "") or ""


def _is_pandas_or_numpy(obj) -> bool:
    top = _type_module(obj).partition(".")[0]
    return top in ("pandas", "numpy")


def name_refusal(name: str) -> str | None:
    """Why an attribute name is refused on any object (the doors), or None."""
    why = REFUSED_NAMES.get(name)
    if why:
        return why
    for prefix, why in REFUSED_PREFIXES.items():
        if name.startswith(prefix):
            return why
    if name.startswith("to_") and name not in TO_ALLOWED and name not in PATHLESS_WRITERS:
        return "only the in-memory conversions (to_numpy, to_dict, to_list, ...) are available"
    return None


_PLAIN_ITERABLES = frozenset((str, bytes, bytearray, range, memoryview))
_FUNCTION_TYPES = (
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
)


# Classes whose constructor takes a raw buffer: (parameter, position).
_BUFFER_CONSTRUCTORS = {("numpy", "ndarray"): ("buffer", 2), ("numpy", "recarray"): ("buf", 2)}


def _named_aggregation(spec) -> bool:
    """pd.NamedAgg and pd.NamedFunc (objects, not tuples, in pandas 3.1)."""
    return _type_module(spec).startswith("pandas") and hasattr(spec, "aggfunc")


def _type_verdict(t: type):
    """What check_value does with a value of this type: True (holds it),
    "module", "class"/"function" (decided by the value's own module),
    "live" or "foreign" (refused)."""
    if issubclass(t, ModuleProxy):
        return True
    if issubclass(t, types.ModuleType):
        return "module"
    if issubclass(t, LIVE_TYPES):
        return "live"
    if issubclass(t, type):
        return "class"
    if t in _FUNCTION_TYPES:
        return "function"
    mod = getattr(t, "__module__", None)
    if isinstance(mod, str) and mod.partition(".")[0] in OBJECT_MODULES:
        return True
    if isinstance(mod, str) and mod.startswith("_cython_"):
        return "function"  # Cython's function types (pandas' and numpy's compiled code)
    return "foreign"


class _GuardedFormatter(string.Formatter):
    """str.format() whose fields ({0.attr}, {0[key]}) go through the guards.
    Scripts never hold it: Sandbox.getattr hands out plain closures."""

    def __init__(self, sandbox: Sandbox):
        self._sandbox = sandbox

    def get_field(self, field_name, args, kwargs):
        import _string

        first, rest = _string.formatter_field_name_split(field_name)
        obj = self._sandbox.check_value(self.get_value(first, args, kwargs))
        for is_attr, key in rest:
            if is_attr:
                obj = self._sandbox.getattr(obj, key)
            else:
                obj = self._sandbox.getitem(obj, key)
        return obj, first


class Printer:
    """What `print` is in a script (RestrictedPython's _print_): the text
    goes to the job's log at once; `printed` reads it back."""

    def __init__(self, sandbox: Sandbox, _getattr_=None):
        self._sandbox = sandbox
        self._kept: list[str] = []
        self._kept_bytes = 0

    def _call_print(self, *objects, sep=" ", end="\n", file=None, flush=False):
        if sep is None:
            sep = " "
        if end is None:
            end = "\n"
        if not isinstance(sep, str) or not isinstance(end, str):
            raise TypeError("print(): sep and end must be strings")
        text = sep.join(str(o) for o in objects) + end
        if file is not None:
            self._sandbox.getattr(file, "write")(text)
            return
        if self._kept_bytes < 1024 * 1024:
            self._kept.append(text)
            self._kept_bytes += len(text)
        self._sandbox.log(text)

    def __call__(self):
        return "".join(self._kept)


class _BuiltinTypeMeta(type):
    """The metaclass of a guarded builtin type's stand-in: calling it runs
    the guarded constructor (which returns the real type), isinstance() and
    issubclass() answer for the real type, and its other attributes
    (dict.fromkeys) are the real type's."""

    def __call__(cls, *args, **kwargs):
        return cls._make(*args, **kwargs)

    def __instancecheck__(cls, obj):
        return isinstance(obj, cls._real)

    def __subclasscheck__(cls, sub):
        return issubclass(sub, cls._real)

    def __getattr__(cls, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(cls._real, name)

    def __repr__(cls):
        return repr(cls._real)


def _guarded_type(real: type, make) -> type:
    return _BuiltinTypeMeta(real.__name__, (), {"_real": real, "_make": staticmethod(make)})


class ModuleProxy:
    """What a script holds instead of a module: attribute access goes to
    Sandbox.module_attr(), which hands out only the names allowlist.py
    lists for that module. The real module is in a closure of the proxy's
    class, never an attribute (and every name starting with "_" is refused
    to scripts anyway)."""

    __slots__ = ()


def _make_proxy(sandbox: Sandbox, name: str, module) -> ModuleProxy:
    def __getattr__(self, attr):
        # Reached by code other than the script's (numpy probing
        # __array_struct__, Python's IMPORT_FROM, pandas' hasattr()): the
        # listed names, and AttributeError for the rest. Scripts come
        # through Sandbox.getattr, which refuses with the reason.
        if attr.startswith("_") or not sandbox.module_hasattr(name, module, attr):
            raise AttributeError(f"module '{name}' has no attribute '{attr}'")
        return sandbox.check_value(getattr(module, attr))

    def __setattr__(self, attr, value):
        sandbox.violate(f'scripts may not change the module "{name}"')

    def __delattr__(self, attr):
        sandbox.violate(f'scripts may not change the module "{name}"')

    def __repr__(self):
        return f"<module '{name}'>"

    def __dir__(self):
        return sorted(allowlist.allowed(name))

    cls = type(
        "module",
        (ModuleProxy,),
        {
            "__slots__": (),
            "__module__": __name__,
            "__getattr__": __getattr__,
            "__setattr__": __setattr__,
            "__delattr__": __delattr__,
            "__repr__": __repr__,
            "__dir__": __dir__,
            "__reduce_ex__": None,
            "__reduce__": None,
        },
    )
    return cls()


# Modules that C code may import through a script's __import__ (see
# Sandbox.guarded_import): numpy's and pandas' own helpers and the standard
# library's C-level imports (datetime.strptime imports _strptime).
C_IMPORT_TOPS = frozenset(
    (
        "numpy",
        "pandas",
        "pyarrow",
        "_strptime",
        "time",
        "datetime",
        "_datetime",
        "decimal",
        "_decimal",
        "_pydecimal",
        "math",
        "re",
        "statistics",
        "fractions",
        "numbers",
        "zoneinfo",
        "encodings",
        "copyreg",
        "calendar",
        "locale",
        "unicodedata",
        "_pydatetime",
    )
)


class Sandbox:
    """The globals a compiled script runs with, and its guards."""

    def __init__(self, log):
        self.log = log  # text -> the job's log
        self.violation: SandboxViolation | None = None
        self._formatter = _GuardedFormatter(self)
        self.modules = {}
        for name in REACHABLE_MODULES:
            mod = sys.modules.get(name)
            if mod is not None:
                self.modules[name] = mod
        self.proxies: dict[str, ModuleProxy] = {}
        self._proxied: dict[int, tuple] = {}  # id(proxy) -> (name, module); proxies live on
        self._verdicts: dict[type, object] = {}
        self._concatenator = None
        self._data_types = None
        self._guarded_classes: dict[str, type] = {}

    # -- refusals
    def violate(self, message: str):
        exc = SandboxViolation(message)
        if self.violation is None:
            self.violation = exc
        raise exc

    def attr_refusal(self, obj, name: str) -> str | None:
        if name.startswith("_"):
            return f'"{name}" is an invalid attribute name because it starts with "_"'
        if name in INTERNAL_NAMES:
            return f'"{name}" is a restricted name'
        why = name_refusal(name)
        if why:
            return f'"{name}" is not available in scripts: {why}'
        if name in EXCEPTION_NAMES and isinstance(obj, BaseException):
            if name == "obj" or isinstance(obj, ImportError):
                return (
                    f'"{type(obj).__name__}.{name}" is not available in scripts '
                    "(it holds the interpreter's own objects)"
                )
        if isinstance(obj, LIVE_TYPES):
            return f'a "{type(obj).__name__}" object is not available in scripts'
        return None

    # -- modules: only proxies reach scripts
    def wrap_module(self, module):
        name = getattr(module, "__name__", None)
        if name not in REACHABLE_MODULES or self.modules.get(name, module) is not module:
            self.violate(
                f'the module "{name}" is not available in scripts: '
                f"they may use only {', '.join(ALLOWED_IMPORTS)} (and their listed names)"
            )
        proxy = self.proxies.get(name)
        if proxy is None:
            self.modules[name] = module
            proxy = self.proxies[name] = _make_proxy(self, name, module)
            self._proxied[id(proxy)] = (name, module)
        return proxy

    def module_attr(self, name: str, module, attr: str):
        """A name of a module, for a script: only the listed names."""
        if type(attr) is not str:
            raise TypeError("attribute name must be a string")
        if attr.startswith("_"):
            self.violate(f'"{attr}" is an invalid attribute name because it starts with "_"')
        if attr not in allowlist.allowed(name):
            reason = allowlist.refusal_reason(name, attr) or name_refusal(attr)
            if reason is None and not hasattr(module, attr):
                raise AttributeError(f"module '{name}' has no attribute '{attr}'")
            self.violate(
                f'"{name}.{attr}" is not available in scripts: '
                + (reason or f"it is not on the list of {name} names scripts may use")
            )
        if (name, attr) in _BUFFER_CONSTRUCTORS:
            return self._buffer_constructor(attr, getattr(module, attr))
        return self.check_value(getattr(module, attr))

    def _buffer_constructor(self, attr: str, real: type) -> type:
        """np.ndarray and np.recarray for scripts: a subclass whose
        constructor refuses an object dtype over a raw buffer (the buffer's
        bytes would be taken for object pointers: forged objects, any
        memory). isinstance() and subclassing answer for the real class."""
        cached = self._guarded_classes.get(attr)
        if cached is not None:
            return cached
        sandbox = self
        param, position = _BUFFER_CONSTRUCTORS[("numpy", attr)]

        class Meta(type(real)):
            def __instancecheck__(cls, obj):
                return isinstance(obj, real)

            def __subclasscheck__(cls, sub):
                return issubclass(sub, real)

        def __new__(cls, *args, **kwargs):
            buf = args[position] if len(args) > position else kwargs.get(param)
            if buf is not None:
                dtype = args[1] if len(args) > 1 else kwargs.get("dtype")
                if dtype is None and attr == "recarray":
                    dtype = (
                        sys.modules["numpy"]
                        .rec.format_parser(
                            kwargs.get("formats"), kwargs.get("names"), kwargs.get("titles")
                        )
                        .dtype
                        if kwargs.get("formats") is not None
                        else None
                    )
                hasobject = dtype is not None and sys.modules["numpy"].dtype(dtype).hasobject
                if hasobject or (dtype is None and attr == "recarray"):
                    sandbox.violate(
                        f"np.{attr}() with a buffer and an object dtype is refused "
                        "(the bytes would be taken for object pointers)"
                    )
            return real.__new__(real if cls is guarded else cls, *args, **kwargs)

        guarded = Meta(attr, (real,), {"__new__": __new__, "__module__": real.__module__})
        guarded.__qualname__ = real.__qualname__
        self._guarded_classes[attr] = guarded
        return guarded

    def module_hasattr(self, name: str, module, attr: str) -> bool:
        return attr in allowlist.allowed(name) and hasattr(module, attr)

    # -- values: what a script may hold
    def check_value(self, value):
        """The value itself when a script may hold it; a module becomes its
        proxy; live internals and other libraries' objects are refused."""
        t = type(value)
        verdict = self._verdicts.get(t)
        if verdict is None:
            verdict = self._verdicts[t] = _type_verdict(t)
        if verdict is True:
            return value
        if verdict == "module":
            return self.wrap_module(value)
        if verdict == "class" or verdict == "function":
            mod = getattr(value, "__module__", None)
            if not isinstance(mod, str) or mod.partition(".")[0] in OBJECT_MODULES:
                return value
            what = "class" if verdict == "class" else "function"
            qual = getattr(value, "__qualname__", "?")
            self.violate(f'the {what} "{mod}.{qual}" is not available in scripts')
        if verdict == "live":
            self.violate(
                f'a "{t.__name__}" object is not available in scripts '
                "(it holds the interpreter's own state)"
            )
        self.violate(
            f'a "{getattr(t, "__module__", "?")}.{t.__qualname__}" object is not available in '
            "scripts (another library's object)"
        )
        return None  # pragma: no cover

    def wrap_value(self, value):
        return self.check_value(value)

    def check_iterable(self, obj) -> None:
        return None

    def _checked_items(self, it):
        check = self.check_value
        for item in it:
            yield check(item)

    # -- the guards
    def getattr(self, obj, name, default=_MISSING):
        if type(name) is not str:
            raise TypeError("attribute name must be a string")
        if isinstance(obj, ModuleProxy):
            target = self._proxied.get(id(obj))
            if target is None or name.startswith("_"):
                self.violate(self.attr_refusal(obj, name) or "a foreign module proxy")
            try:
                return self.module_attr(*target, name)
            except AttributeError:
                if default is _MISSING:
                    raise
                return default
        reason = self.attr_refusal(obj, name)
        if reason:
            self.violate(reason)
        if isinstance(obj, types.ModuleType):  # never handed out: only proxies are
            self.violate(f'the module "{obj.__name__}" is not available in scripts')
        self.check_value(obj)
        if name in ("format", "format_map") and isinstance(obj, str):
            return self._format_method(obj, name)
        if name in ("format", "format_map") and isinstance(obj, type) and issubclass(obj, str):
            self.violate(f'"str.{name}" is not available in scripts; call it on a string')
        try:
            value = getattr(obj, name)
        except AttributeError as e:
            if default is not _MISSING:
                return default
            # without .obj (the object looked in: a module, from inside pandas)
            raise AttributeError(str(e), name=name) from None
        value = self.check_value(value)
        if (name in DISPATCH_METHODS or name in PATHLESS_WRITERS) and callable(value):
            # of an object, or of its class (pd.DataFrame.to_csv(df, path):
            # the object is then the first argument)
            unbound = isinstance(obj, type)
            owner = getattr(obj, "__module__", "") if unbound else _type_module(obj)
            if isinstance(owner, str) and owner.startswith("pandas"):
                if name in DISPATCH_METHODS:
                    return self._dispatch_guard(obj, value, name, unbound)
                return self._pathless_guard(value, name, unbound)
        return value

    def _format_method(self, text: str, name: str):
        formatter = self._formatter
        if name == "format":

            def format(*args, **kwargs):
                return formatter.vformat(text, args, kwargs)

            return format

        def format_map(mapping):
            return formatter.vformat(text, (), mapping)

        return format_map

    def _pathless_guard(self, method, name, unbound=False):
        sandbox = self
        param = PATHLESS_WRITERS[name]
        first = 1 if unbound else 0

        def guarded(*args, **kwargs):
            target = args[first] if len(args) > first else kwargs.get(param)
            if target is not None:
                sandbox.violate(
                    f'"{name}" with a path or buffer is refused (it writes files); '
                    f"call {name}() without one to get the text"
                )
            return method(*args, **kwargs)

        guarded.__name__ = name
        return guarded

    def _dispatch_guard(self, obj, method, name, unbound=False):
        sandbox = self
        first = 1 if unbound else 0

        def named_function(spec: str) -> bool:
            """Whether pandas would call something by this name (a method of
            the object or a numpy function) rather than use it as a label."""
            if spec.startswith("_") or sandbox.attr_refusal(obj, spec):
                return True
            try:
                value = getattr(obj, spec, _MISSING)
            except Exception:
                return True
            if value is _MISSING:
                return callable(getattr(sys.modules["numpy"], spec, None))
            return not sandbox._is_data(value)

        def refuse(spec):
            sandbox.violate(
                f'{name}("{spec}"): a function named by string is refused; '
                f"call the method itself (.{spec}()) or pass a function"
            )

        def check_func(spec, depth=0):
            """A function, a function's name, or a list/dict of them."""
            if isinstance(spec, str):
                if spec not in SAFE_FUNCTION_NAMES:
                    refuse(spec)
            elif depth > 4:
                return
            elif isinstance(spec, (list, tuple)) and depth == 0:
                for s in spec:  # a list of functions; (label, function) pairs in it
                    check_item(s, depth + 1)
            elif isinstance(spec, (list, tuple)):
                for s in spec:
                    check_func(s, depth + 1)
            elif isinstance(spec, dict):
                for s in spec.values():
                    check_func(s, depth + 1)
            elif _named_aggregation(spec):
                check_item(spec, depth)

        def check_item(spec, depth):
            if isinstance(spec, tuple) and len(spec) == 2:
                check_label(spec[0])
                check_func(spec[1], depth + 1)
            elif _named_aggregation(spec):  # pd.NamedAgg, pd.NamedFunc
                check_label(getattr(spec, "column", None))
                check_func(spec.aggfunc, depth + 1)
            else:
                check_func(spec, depth)

        def check_label(spec):
            """A column or an output name: refused when pandas could take it
            for a function (a callable of the object's, or numpy's)."""
            if isinstance(spec, str) and spec not in SAFE_FUNCTION_NAMES and named_function(spec):
                refuse(spec)

        def guarded(*args, **kwargs):
            nonlocal obj
            if unbound and args:
                obj = args[0]  # pd.DataFrame.agg(df, ...): check against df
            funcs = list(args[first : first + 1])
            for key in ("func", "arg", "mapper"):
                if key in kwargs:
                    funcs.append(kwargs[key])
            for f in funcs:
                if name == "map" and not isinstance(f, str):
                    continue  # a dict or Series maps values, not functions
                check_func(f)
            if name in ("agg", "aggregate"):
                for key, value in kwargs.items():  # named aggregation: (column, function)
                    if key not in ("func", "axis"):
                        check_item(value, 1)
            return method(*args, **kwargs)

        guarded.__name__ = name
        return guarded

    def _is_data(self, value) -> bool:
        """A column or a column's group: what a label names in agg()."""
        if self._data_types is None:
            pd = sys.modules["pandas"]
            from pandas.core.groupby import SeriesGroupBy

            self._data_types = (pd.Series, pd.DataFrame, SeriesGroupBy)
        return isinstance(value, self._data_types)

    def hasattr(self, obj, name):
        """hasattr() without a violation: a refused name is simply absent."""
        if type(name) is not str:
            raise TypeError("attribute name must be a string")
        if isinstance(obj, ModuleProxy):
            target = self._proxied.get(id(obj))
            return target is not None and self.module_hasattr(*target, name)
        if self.attr_refusal(obj, name) or isinstance(obj, types.ModuleType):
            return False
        try:
            value = getattr(obj, name)
        except AttributeError:
            return False
        if isinstance(value, types.ModuleType):
            return value.__name__ in REACHABLE_MODULES
        return _type_verdict(type(value)) in (True, "class", "function")

    def getitem(self, obj, key):
        if isinstance(key, str) and self._is_concatenator(obj):
            self.violate(
                'np.r_["..."] and np.c_["..."] with a string are refused: '
                "they read names from the caller's frame"
            )
        if isinstance(obj, (ModuleProxy, types.ModuleType)) or isinstance(obj, LIVE_TYPES):
            self.check_value(obj)
            raise TypeError(f"'{type(obj).__name__}' object is not subscriptable")
        return self.check_value(obj[key])

    def _is_concatenator(self, obj) -> bool:
        if self._concatenator is None:
            from numpy.lib._index_tricks_impl import AxisConcatenator

            self._concatenator = AxisConcatenator
        return isinstance(obj, self._concatenator)

    def getiter(self, obj):
        self.check_iterable(obj)
        it = iter(obj)
        t = type(obj)
        if t in _PLAIN_ITERABLES or _type_module(obj).partition(".")[0] in ("pandas", "numpy"):
            return it  # their items are data
        return self._checked_items(it)

    def write(self, obj):
        """_write_: the objects whose items and attributes scripts may set."""
        t = type(obj)
        if t in (dict, list, set, bytearray, decimal.Context):
            return obj
        if isinstance(obj, (type, types.ModuleType, ModuleProxy)):
            self.violate(f"scripts may not change {self._describe(obj)}")
        if _is_pandas_or_numpy(obj) or getattr(t, "__module__", None) == SCRIPT_MODULE:
            return obj
        self.violate(f"scripts may not change attributes or items of {self._describe(obj)}")
        return None  # pragma: no cover

    def _describe(self, obj) -> str:
        if isinstance(obj, ModuleProxy):
            target = self._proxied.get(id(obj))
            return f'the module "{target[0] if target else "?"}"'
        if isinstance(obj, types.ModuleType):
            return f'the module "{obj.__name__}"'
        if isinstance(obj, type):
            return f'the class "{obj.__name__}"'
        return f'a "{type(obj).__name__}" object'

    def inplacevar(self, op, x, y):
        fn = _INPLACE.get(op)
        if fn is None:
            raise SyntaxError(f"unknown augmented assignment {op}")
        return fn(x, y)

    def apply(self, f, *args, **kwargs):
        return f(*args, **kwargs)

    def guarded_import(self, name, globals=None, locals=None, fromlist=(), level=0):
        # C code that imports (PyImport_Import, e.g. numpy's dtype printing
        # its helpers, datetime.strptime its _strptime) looks __import__ up
        # in the builtins of the current frame, a script's, and calls it
        # with fromlist [] and locals being globals. A script's own import
        # statements pass None or a tuple, and cannot name __import__ to
        # call it itself; even so, that shape gets only the modules C code
        # of the allowed libraries imports (C_IMPORT_TOPS), never os or sys.
        if type(fromlist) is list and not fromlist and locals is globals and globals is not None:
            if type(name) is str and name.partition(".")[0] in C_IMPORT_TOPS and not level:
                return builtins.__import__(name, globals, locals, fromlist, level)
            self.violate(import_refusal(str(name)))
        if level:
            self.violate("relative imports are not allowed")
        if type(name) is not str or name not in IMPORTABLE_NAMES:
            self.violate(import_refusal(str(name)))
        module = self.modules.get(name)
        if module is None:
            import importlib

            module = importlib.import_module(name)
            self.modules[name] = module
        if fromlist:
            proxy = self.wrap_module(module)
            ns = types.SimpleNamespace()
            for item in fromlist:
                if type(item) is not str or item == "*":
                    self.violate(f"from {name} import {item}: name the objects to import")
                setattr(ns, item, self.getattr(proxy, item))
            return ns
        top = name.partition(".")[0]
        return self.wrap_module(self.modules.get(top) or sys.modules[top])

    # -- builtins that iterate, through _getiter_ (RestrictedPython 9.0
    #    dropped the C ones from safe_builtins because they bypass it)
    def make_builtins(self) -> dict:
        g = self.getiter
        b = dict(safe_builtins)
        for drop in ("_getattr_", "setattr", "delattr"):
            b.pop(drop, None)

        def _list(it=()):
            return list(g(it))

        def _tuple(it=()):
            return tuple(g(it))

        def _set(it=()):
            return set(g(it))

        def _frozenset(it=()):
            return frozenset(g(it))

        def _dict(*args, **kwargs):
            if not args:
                return dict(**kwargs)
            if len(args) > 1:
                raise TypeError(f"dict expected at most 1 argument, got {len(args)}")
            src = args[0]
            if isinstance(src, dict):
                return dict(src, **kwargs)
            keys = self.getattr(src, "keys", None)
            if callable(keys):
                return dict(((k, self.getitem(src, k)) for k in g(keys())), **kwargs)
            return dict(g(src), **kwargs)

        def _sorted(it, *, key=None, reverse=False):
            return sorted(g(it), key=key, reverse=reverse)

        def _reversed(seq):
            self.check_iterable(seq)
            return reversed(seq)

        def _zip(*its, strict=False):
            return zip(*(g(i) for i in its), strict=strict)

        def _enumerate(it, start=0):
            return enumerate(g(it), start)

        def _minmax(fn):
            def wrapped(*args, **kwargs):
                if len(args) == 1:
                    return fn(g(args[0]), **kwargs)
                return fn(*args, **kwargs)

            wrapped.__name__ = fn.__name__
            return wrapped

        def _sum(it, start=0):
            return sum(g(it), start)

        def _any(it):
            return any(g(it))

        def _all(it):
            return all(g(it))

        def _map(fn, *its):
            return map(fn, *(g(i) for i in its))

        def _filter(fn, it):
            return filter(fn, g(it))

        def _iter(obj, *sentinel):
            if sentinel:
                return iter(obj, *sentinel)
            return g(obj)

        def _bytes(src=b"", *args):
            if isinstance(src, (int, str, bytes)) or args:
                return bytes(src, *args)
            return bytes(g(src))

        def _getattr(obj, name, *default):
            return self.getattr(obj, name, *default)

        def _hasattr(obj, name):
            return self.hasattr(obj, name)

        def _setattr(obj, name, value):
            if type(name) is not str or name.startswith("_"):
                self.violate(f"setattr(): {name!r} cannot be set")
            setattr(self.write(obj), name, value)

        def _delattr(obj, name):
            if type(name) is not str or name.startswith("_"):
                self.violate(f"delattr(): {name!r} cannot be deleted")
            delattr(self.write(obj), name)

        b.update(
            {
                # stand-ins that are also what isinstance(x, list) needs
                "list": _guarded_type(list, _list),
                "tuple": _guarded_type(tuple, _tuple),
                "set": _guarded_type(set, _set),
                "frozenset": _guarded_type(frozenset, _frozenset),
                "dict": _guarded_type(dict, _dict),
                "bytes": _guarded_type(bytes, _bytes),
                "sorted": _sorted,
                "reversed": _reversed,
                "zip": _zip,
                "enumerate": _enumerate,
                "min": _minmax(min),
                "max": _minmax(max),
                "sum": _sum,
                "any": _any,
                "all": _all,
                "map": _map,
                "filter": _filter,
                "iter": _iter,
                "next": next,
                "getattr": _getattr,
                "hasattr": _hasattr,
                "setattr": _setattr,
                "delattr": _delattr,
                "format": format,
                "object": object,  # dtype=object; its _ attributes stay out of reach
                "ascii": ascii,
                "bin": bin,
                "NotImplemented": NotImplemented,
                "StopIteration": StopIteration,
                "__import__": self.guarded_import,
            }
        )
        # names RestrictedPython never provides, kept out on purpose
        for name in ("open", "exec", "eval", "compile", "globals", "locals", "vars", "dir"):
            b.pop(name, None)
        assert "open" not in b and b.get("__import__") is not builtins.__import__
        return b

    def make_globals(self) -> dict:
        return {
            "__builtins__": self.make_builtins(),
            "__name__": SCRIPT_MODULE,
            "__metaclass__": type,
            "_getattr_": self.getattr,
            "_getitem_": self.getitem,
            "_getiter_": self.getiter,
            "_write_": self.write,
            "_inplacevar_": self.inplacevar,
            "_print_": lambda _getattr_=None: Printer(self, _getattr_),
            "_apply_": self.apply,
            "_unpack_sequence_": guarded_unpack_sequence,
            "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
        }
