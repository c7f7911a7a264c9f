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
import decimal
import functools
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

FILENAME = "<script>"
SCRIPT_MODULE = "script"
MIN_RESTRICTEDPYTHON = (9, 0)

# What `import` may name. Submodules reachable as attributes of these (and
# importable by their dotted name) are listed in REACHABLE_MODULES.
ALLOWED_IMPORTS = ("datetime", "decimal", "math", "numpy", "pandas", "re", "statistics")
REACHABLE_MODULES = frozenset(
    ALLOWED_IMPORTS
    + (
        "numpy.random",
        "numpy.linalg",
        "numpy.fft",
        "numpy.ma",
        "numpy.polynomial",
        "numpy.strings",
        "numpy.char",
        "numpy.lib.scimath",  # np.emath
        "numpy.dtypes",
        "numpy.exceptions",
        "pandas.tseries.offsets",  # pd.offsets
        "pandas.arrays",
        "pandas.errors",
    )
)

# Attribute names refused on any object: files, pickles, code from strings,
# plotting (whose backend is imported by name), and Styler (templates).
REFUSED_NAMES = frozenset(
    (
        # pandas writers (each takes a path or a buffer)
        "to_csv",
        "to_json",
        "to_html",
        "to_latex",
        "to_markdown",
        "to_string",
        "to_xml",
        "to_excel",
        "to_parquet",
        "to_feather",
        "to_hdf",
        "to_pickle",
        "to_sql",
        "to_stata",
        "to_orc",
        "to_clipboard",
        "to_gbq",
        "to_xarray",
        # code from strings
        "eval",
        "query",
        # pickles and files (numpy)
        "dump",
        "dumps",
        "load",
        "loads",
        "save",
        "savez",
        "savez_compressed",
        "savetxt",
        "loadtxt",
        "genfromtxt",
        "fromfile",
        "fromregex",
        "tofile",
        "memmap",
        "DataSource",
        "ctypes",
        "pickle",
        # plotting and styling
        "plot",
        "hist",
        "boxplot",
        "style",
        "HDFStore",
        "ExcelFile",
        "ExcelWriter",
    )
)
REFUSED_PREFIXES = ("read_",)

# Refused on the pandas and numpy modules themselves.
REFUSED_ON_MODULE = {
    "pandas": frozenset(
        (
            "set_option",
            "get_option",
            "reset_option",
            "describe_option",
            "option_context",
            "options",
            "show_versions",
        )
    ),
    "numpy": frozenset(
        (
            "info",
            "show_config",
            "show_runtime",
            "get_include",
            "set_printoptions",
            "printoptions",
            "seterrcall",
        )
    ),
}

# Methods of pandas objects that accept a function named by string, and the
# names they may be given (each a method of the object that computes).
DISPATCH_METHODS = frozenset(("agg", "aggregate", "apply", "transform", "map", "applymap"))
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
        "idxmin",
        "idxmax",
        "skew",
        "quantile",
        "rank",
        "abs",
        "diff",
        "pct_change",
        "shift",
        "ffill",
        "bfill",
        "ohlc",
    )
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
            if name not in ALLOWED_IMPORTS and name not in REACHABLE_MODULES:
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


class _GuardedFormatter(string.Formatter):
    """str.format() whose fields ({0.attr}, {0[key]}) go through the guards."""

    def __init__(self, sandbox: Sandbox):
        self._sandbox = sandbox

    def get_field(self, field_name, args, kwargs):
        import _string

        first, rest = _string.formatter_field_name_split(field_name)
        obj = self.get_value(first, args, kwargs)
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

    # -- refusals
    def violate(self, message: str):
        exc = SandboxViolation(message)
        if self.violation is None:
            self.violation = exc
        raise exc

    def attr_refusal(self, obj, name: str) -> str | None:
        if name.startswith("_"):
            return f'"{name}" is an invalid attribute name because it starts with "_"'
        if name in INSPECT_ATTRIBUTES:
            return f'"{name}" is a restricted name'
        if name in REFUSED_NAMES or name.startswith(REFUSED_PREFIXES):
            return f'"{name}" is not available in scripts (it reaches files, pickles or code)'
        if isinstance(obj, types.ModuleType):
            refused = REFUSED_ON_MODULE.get(obj.__name__)
            if refused and name in refused:
                return f'"{obj.__name__}.{name}" is not available in scripts'
        return None

    # -- hooks for the next sandbox layers (proxies, audit): identity now
    def wrap_module(self, module):
        return module

    def wrap_value(self, value):
        return value

    def check_iterable(self, obj) -> None:
        return None

    # -- the guards
    def getattr(self, obj, name, default=_MISSING):
        if type(name) is not str:
            raise TypeError("attribute name must be a string")
        reason = self.attr_refusal(obj, name)
        if reason:
            self.violate(reason)
        if name in ("format", "format_map") and isinstance(obj, str):
            if name == "format":
                return functools.partial(self._formatter.format, obj)
            return lambda mapping: self._formatter.vformat(obj, (), mapping)
        if name in ("format", "format_map") and isinstance(obj, type) and issubclass(obj, str):
            self.violate(f'"str.{name}" is not available in scripts; call it on a string')
        try:
            value = getattr(obj, name)
        except AttributeError:
            if default is _MISSING:
                raise
            return default
        if isinstance(value, types.ModuleType):
            if value.__name__ not in REACHABLE_MODULES:
                self.violate(
                    f'the module "{value.__name__}" is not available in scripts: '
                    f"they may use only {', '.join(ALLOWED_IMPORTS)}"
                )
            return self.wrap_module(value)
        if name in DISPATCH_METHODS and _type_module(obj).startswith("pandas") and callable(value):
            return self._dispatch_guard(value, name)
        return self.wrap_value(value)

    def _dispatch_guard(self, method, name):
        sandbox = self

        def check(spec, depth=0):
            if isinstance(spec, str):
                if spec not in SAFE_FUNCTION_NAMES:
                    sandbox.violate(
                        f'{name}("{spec}"): a function named by string is refused; '
                        f"call the method itself (.{spec}()) or pass a function"
                    )
            elif depth < 3 and isinstance(spec, (list, tuple)):
                for s in spec:
                    check(s, depth + 1)
            elif depth < 3 and isinstance(spec, dict):
                for s in spec.values():
                    check(s, depth + 1)

        @functools.wraps(method)
        def guarded(*args, **kwargs):
            funcs = list(args[:1])
            for key in ("func", "arg"):
                if key in kwargs:
                    funcs.append(kwargs[key])
            for f in funcs:
                if name in ("map", "applymap"):
                    if isinstance(f, str):  # a dict maps values, not functions
                        check(f)
                else:
                    check(f)
            if name in ("agg", "aggregate"):
                for key, value in kwargs.items():  # named aggregation: (column, function)
                    if key not in ("func", "axis") and isinstance(value, tuple) and len(value) == 2:
                        check(value[1])
            return method(*args, **kwargs)

        return guarded

    def hasattr(self, obj, name):
        """hasattr() without a violation: a refused name is simply absent."""
        if type(name) is not str:
            raise TypeError("attribute name must be a string")
        if self.attr_refusal(obj, name):
            return False
        try:
            value = getattr(obj, name)
        except AttributeError:
            return False
        return not (isinstance(value, types.ModuleType) and value.__name__ not in REACHABLE_MODULES)

    def getitem(self, obj, key):
        return obj[key]

    def getiter(self, obj):
        self.check_iterable(obj)
        return iter(obj)

    def write(self, obj):
        """_write_: the objects whose items and attributes scripts may set."""
        t = type(obj)
        if t in (dict, list, set, bytearray, decimal.Context):
            return obj
        if isinstance(obj, (type, types.ModuleType)):
            self.violate(f"scripts may not change {self._describe(obj)}")
        if _is_pandas_or_numpy(obj) or getattr(t, "__module__", None) == SCRIPT_MODULE:
            return obj
        self.violate(f"scripts may not change attributes or items of {self._describe(obj)}")
        return None  # pragma: no cover

    @staticmethod
    def _describe(obj) -> str:
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
        # its helpers) looks __import__ up in the builtins of the current
        # frame, a script's, and calls it with fromlist [] and locals being
        # globals. A script's own import statements pass None or a tuple,
        # and cannot name __import__ to call it itself.
        if type(fromlist) is list and not fromlist and locals is globals and globals is not None:
            return builtins.__import__(name, globals, locals, fromlist, level)
        if level:
            self.violate("relative imports are not allowed")
        if type(name) is not str or name not in REACHABLE_MODULES:
            self.violate(import_refusal(str(name)))
        module = self.modules.get(name)
        if module is None:
            import importlib

            module = importlib.import_module(name)
            self.modules[name] = module
        if fromlist:
            ns = types.SimpleNamespace()
            for item in fromlist:
                setattr(ns, item, self.getattr(module, item))
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
