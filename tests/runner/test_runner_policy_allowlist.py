"""The allow lists (sandbox/tablewright_runner/allowlist.py) against the
installed, pinned pandas and numpy: every public name of every reachable
module is either allowed or refused with a reason (a new pin's new names
show up here, one by one), every allowed name exists, an allowed name whose
value is a module names a reachable module, and nothing reachable by
public attributes from the allowed names holds a module, a frame, a
traceback or a code object in a container (getitem and iteration are
checked, but dict.get() and C code are not). Runs in the sandbox venv."""

from __future__ import annotations

import json
import subprocess

import runnerwire as wire


def in_sandbox(code: str) -> dict:
    out = subprocess.run(
        [str(wire.SANDBOX_PYTHON), "-I", "-W", "ignore", "-c", code],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_every_public_name_is_allowed_or_refused_with_a_reason() -> None:
    res = in_sandbox(
        """
import importlib, json, types
import numpy, pandas
from tablewright_runner import allowlist
unlisted, missing, bad_modules, reasonless = [], [], [], []
for name, (allowed, refused) in allowlist.MODULES.items():
    mod = importlib.import_module(name)
    public = {n for n in dir(mod) if not n.startswith("_")}
    unlisted += [f"{name}.{n}" for n in sorted(public - allowed - set(refused))]
    missing += [f"{name}.{n}" for n in sorted(allowed - public)]
    reasonless += [f"{name}.{n}" for n, why in refused.items() if not why]
    for n in allowed:
        v = getattr(mod, n, None)
        if isinstance(v, types.ModuleType) and v.__name__ not in allowlist.REACHABLE_MODULES:
            bad_modules.append(f"{name}.{n} -> {v.__name__}")
print(json.dumps(dict(unlisted=unlisted, missing=missing, bad_modules=bad_modules,
                      reasonless=reasonless, n=sum(len(a) for a, _ in allowlist.MODULES.values()))))
"""
    )
    assert res["unlisted"] == [], res["unlisted"]
    assert res["missing"] == [], res["missing"]
    assert res["bad_modules"] == [], res["bad_modules"]
    assert res["reasonless"] == []
    assert res["n"] > 900  # pandas, numpy and the standard library's lists together


def test_no_container_reachable_from_the_allowed_names_holds_internals() -> None:
    res = in_sandbox(
        """
import importlib, json, types
import numpy, pandas
from tablewright_runner import allowlist, policy
held, modules, seen = [], [], set()
def bad(v):
    if isinstance(v, types.ModuleType):
        return "module " + v.__name__
    if isinstance(v, policy.LIVE_TYPES):
        return "live " + type(v).__name__
    return None
def walk(path, v, depth):
    if id(v) in seen or depth > 2:
        return
    seen.add(id(v))
    if isinstance(v, (dict, list, tuple, set, frozenset, types.MappingProxyType)):
        try:
            items = list(v.keys()) + list(v.values()) if hasattr(v, "values") else list(v)
        except Exception:
            items = []
        held.extend(f"{path}: {bad(x)}" for x in items[:5000] if bad(x))
    for a in dir(v):
        if a.startswith("_") or policy.name_refusal(a) or a in policy.INTERNAL_NAMES:
            continue
        try:
            x = getattr(v, a)
        except Exception:
            continue
        if isinstance(x, types.ModuleType):
            if x.__name__ not in allowlist.REACHABLE_MODULES:
                modules.append(f"{path}.{a}")
            continue
        walk(f"{path}.{a}", x, depth + 1)
for name, (allowed, _) in allowlist.MODULES.items():
    mod = importlib.import_module(name)
    for n in sorted(allowed):
        walk(f"{name}.{n}", getattr(mod, n), 1)
print(json.dumps(dict(held=held, modules=modules)))
"""
    )
    assert res["held"] == [], res["held"]
    # modules reached by attribute are the submodules the lists refuse (the
    # guard refuses any module value that is not a reachable one, wherever)
    for path in res["modules"]:
        module, _, name = path.rpartition(".")
        assert module in (
            "pandas.api",
            "pandas.errors",
            "numpy.random",
            "numpy.ma",
            "numpy.polynomial",
        ), path


def test_completions_export_the_allowed_pandas_and_numpy_names() -> None:
    res = in_sandbox(
        """
import json
from tablewright_runner import allowlist
print(json.dumps(allowlist.completions()))
"""
    )
    assert set(res) >= {"pandas", "numpy", "numpy.random", "pandas.api.types"}
    assert all(k.split(".")[0] in ("pandas", "numpy") for k in res)
    assert "DataFrame" in res["pandas"] and "where" in res["numpy"]
    assert "read_csv" not in res["pandas"] and "load" not in res["numpy"]
    assert res["numpy"] == sorted(res["numpy"])
