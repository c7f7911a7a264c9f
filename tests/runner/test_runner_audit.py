"""The audit hook (audit.py), layer 5: through the real runner (a door the
policy leaves open, closed by the hook; a refusal the script catches still
failing the job; the idioms that compile or import lazily still working),
and attack by attack in the sandbox venv's Python with the hook installed
as the runner installs it and the OS layer off, so that only the hook
stands in the way. Each attack checks that its side effect did not
happen; a calibration test shows the same attacks succeed without it.
"""

from __future__ import annotations

import os
import subprocess
import time

import pytest
import runnerwire as wire
import sandboxharness as harness

COLS = [wire.column("x", "int8", False)]
ROWS = [[[1], [2]]]


def run_in(code: str, job_dir, task: str = "run") -> wire.Result:
    data = wire.job_frame(code, COLS, task)
    kinds = [wire.frames.KIND_BY_NAME[c["kind"]] for c in COLS]
    for rows in ROWS:
        data += wire.frames.encode_frame(wire.frames.BATCH, wire.encode_batch(kinds, rows))
    data += wire.frames.encode_frame(wire.frames.END)
    proc = subprocess.run(
        [str(wire.SANDBOX_PYTHON), "-I", "-m", "tablewright_runner"],
        input=data,
        capture_output=True,
        timeout=120,
        check=False,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        cwd=str(job_dir),
    )
    res = wire.Result(proc.stdout, proc.stderr.decode("utf-8", "replace"), proc.returncode)
    assert res.returncode == 0 and res.types[-1] == wire.frames.STATUS, res
    return res


# --- through the real runner --------------------------------------------------

TZ_FILE = """
import pandas as pd
def transform(df):
    df["t"] = pd.Timestamp("2024-01-01", tz="dateutil//etc/passwd")
    return df
"""


def test_a_file_opened_through_pandas_is_refused_and_named(tmp_path) -> None:
    # pandas hands "dateutil/<name>" to dateutil.tz.gettz, which opens an
    # absolute name as a tz file: a door layer 3 does not see
    res = run_in(TZ_FILE, tmp_path)
    st = res.status
    assert st["error_code"] == "sandbox_violation", res
    assert st["message"] == 'SandboxViolation: audit: open "/etc/passwd" refused', res
    assert st["line"] == 4
    assert 'audit: open "/etc/passwd" refused\n' in res.log
    assert "root:" not in res.raw.decode("utf-8", "replace")


def test_a_refusal_the_script_catches_still_fails_the_job(tmp_path) -> None:
    code = """
import pandas as pd
def transform(df):
    try:
        pd.Timestamp("2024-01-01", tz="dateutil//proc/self/environ")
    except Exception as e:
        print("caught:", e)
    return df
"""
    res = run_in(code, tmp_path)
    assert res.status["error_code"] == "sandbox_violation", res
    assert 'audit: open "/proc/self/environ" refused' in res.status["message"]
    assert "caught: audit: open" in res.log
    assert res.rows == []  # the batches went out, but the job failed: nothing is kept


def test_a_refusal_at_the_top_level_fails_the_job(tmp_path) -> None:
    code = """
import pandas as pd
try:
    pd.Timestamp("2024-01-01", tz="dateutil//etc/shadow")
except Exception:
    pass
def transform(df):
    return df
"""
    res = run_in(code, tmp_path)
    assert res.status["error_code"] == "sandbox_violation", res
    assert 'audit: open "/etc/shadow" refused' in res.status["message"]
    assert res.types.count(wire.frames.BATCH) == 0  # never READY: failed after the top level


def test_what_pandas_compiles_and_imports_lazily_still_works(tmp_path) -> None:
    # itertuples() builds a namedtuple (compile + exec in collections), a
    # time zone is read from the library's data, the preview and the
    # output conversion import pyarrow.pandas_compat lazily
    code = """
import pandas as pd
def transform(df):
    df["t"] = pd.Series(pd.date_range("2024-01-01", periods=len(df), tz="Europe/Paris"))
    df["h"] = df["t"].dt.strftime("%H")
    df["u"] = [str(tuple(r)) for r in df.itertuples()]
    df["d"] = str(df.head().to_dict("records"))
    return df
"""
    for task in ("run", "preview"):
        res = run_in(code, tmp_path, task)
        assert res.ok, res
        assert "audit" not in res.log


def test_a_syntax_error_is_still_a_user_error(tmp_path) -> None:
    # compiling a bad script makes Python look for a file named "<script>"
    res = run_in("def transform(df)\n    return df\n", tmp_path)
    assert res.status["error_code"] == "user_error", res
    assert "audit" not in res.log


# --- the hook alone, attack by attack -------------------------------------------


def attack(code: str, job_dir, **kw) -> harness.Outcome:
    return harness.run(code, job_dir, oslock=False, **kw)


@pytest.fixture
def outside(tmp_path_factory):
    d = tmp_path_factory.mktemp("outside")
    (d / "canary.txt").write_text("CANARY-OUTSIDE-42\n")
    return d


def test_a_harmless_script_trips_nothing(tmp_path) -> None:
    out = attack(
        """
        import pandas as pd
        df = pd.DataFrame({"a": [1, 2]})
        print("OK", df["a"].sum(), [tuple(r) for r in df.itertuples()])
        """,
        tmp_path,
    )
    assert out.trips == [] and out.raised == "", out
    assert "OK 3 [(0, 1), (1, 2)]" in out.lines


def test_calibration_the_attacks_work_without_the_hook(tmp_path, outside) -> None:
    out = harness.run(
        f"""
        print(open('/etc/passwd').read()[:5])
        print(open({str(outside / "canary.txt")!r}).read())
        open({str(outside / "written")!r}, 'w').write('x')
        os.system('touch {tmp_path / "spawned"}')
        """,
        tmp_path,
        oslock=False,
        audit=False,
    )
    assert out.raised == "", out
    assert "root:" in out.out and "CANARY-OUTSIDE-42" in out.out
    assert (outside / "written").exists() and (tmp_path / "spawned").exists()


@pytest.mark.parametrize(
    "path",
    ["/etc/passwd", "/proc/self/environ", "/proc/{ppid}/environ", "/proc/self/mem", "/root"],
)
def test_reading_outside_the_library_and_job_directories_is_refused(tmp_path, path) -> None:
    out = attack(f"print(open({path!r}.format(ppid=os.getppid()), 'rb').read()[:200])", tmp_path)
    want = path.format(ppid="")
    assert len(out.trips) == 1 and out.trips[0].startswith('audit: open "'), out
    assert want.split("{")[0] in out.trips[0] or "/proc/" in out.trips[0]
    assert "SandboxViolation" in out.raised
    assert "root:" not in out.out and "PATH=" not in out.out


def test_reading_a_file_beside_the_job_directory_is_refused(tmp_path, outside) -> None:
    out = attack(f"print(open({str(outside / 'canary.txt')!r}).read())", tmp_path)
    assert out.trips == [f'audit: open "{outside / "canary.txt"}" refused'], out
    assert "CANARY-OUTSIDE-42" not in out.out


def test_a_symlink_in_the_job_directory_does_not_lead_out(tmp_path, outside) -> None:
    out = attack(
        f"os.symlink({str(outside / 'canary.txt')!r}, 'link'); print(open('link').read())",
        tmp_path,
    )
    assert out.trips == ['audit: open "link" refused'], out
    assert "CANARY-OUTSIDE-42" not in out.out


def test_listing_outside_is_refused(tmp_path, outside) -> None:
    out = attack(f"print(os.listdir({str(outside)!r}))", tmp_path)
    assert out.trips == [f'audit: os.listdir "{outside}" refused'], out
    assert "canary.txt" not in out.out


def test_writing_into_the_library_directories_is_refused(tmp_path) -> None:
    target = wire.SANDBOX_PYTHON.parent.parent / "planted.py"
    out = attack(f"open({str(target)!r}, 'w').write('x')", tmp_path)
    assert out.trips == [f'audit: open "{target}" refused'], out
    assert not target.exists()


@pytest.mark.parametrize(
    "call, event",
    [
        ("os.remove({c!r})", "os.remove"),
        ("os.rename({c!r}, {o!r} + '/moved')", "os.rename"),
        ("os.mkdir({o!r} + '/dir')", "os.mkdir"),
        ("os.chmod({c!r}, 0o777)", "os.chmod"),
        ("os.truncate({c!r}, 0)", "os.truncate"),
        ("os.symlink('/etc/passwd', {o!r} + '/link')", "os.symlink"),
        ("os.link({c!r}, 'hard')", "os.link"),
        ("os.utime({c!r}, (0, 0))", "os.utime"),
    ],
)
def test_changing_the_file_system_outside_is_refused(tmp_path, outside, call, event) -> None:
    canary = outside / "canary.txt"
    before = canary.stat()
    out = attack(call.format(c=str(canary), o=str(outside)), tmp_path)
    assert len(out.trips) == 1 and out.trips[0].startswith(f"audit: {event} "), out
    after = canary.stat()
    assert canary.read_text() == "CANARY-OUTSIDE-42\n"
    assert (after.st_mode, after.st_mtime_ns) == (before.st_mode, before.st_mtime_ns)
    assert sorted(p.name for p in outside.iterdir()) == ["canary.txt"]
    assert not (tmp_path / "hard").exists()


def test_the_job_directory_is_usable(tmp_path) -> None:
    out = attack(
        "open('a.txt', 'w').write('hi'); os.mkdir('d'); os.rename('a.txt', 'd/b.txt'); "
        "print('READ', open('d/b.txt').read(), os.listdir('d')); os.remove('d/b.txt')",
        tmp_path,
    )
    assert out.trips == [], out
    assert "READ hi ['b.txt']" in out.lines


def test_environment_changes_are_refused(tmp_path) -> None:
    out = attack("os.environ['LD_PRELOAD'] = '/tmp/x.so'", tmp_path)
    assert out.trips == ['audit: os.putenv "LD_PRELOAD" refused'], out


def test_a_socket_is_refused_and_no_connection_arrives(tmp_path) -> None:
    lst = harness.Listener()
    try:
        # socket is imported by pandas already, so no import event: the
        # socket's own events trip
        out = attack(
            f"""
            import sys
            socket = sys.modules.get('socket') or __import__('socket')
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.connect(('127.0.0.1', {lst.port}))
            """,
            tmp_path,
        )
    finally:
        accepted = lst.close()
    assert accepted == 0
    assert out.trips and out.trips[0].startswith(("audit: socket.", 'audit: import "socket"')), out


@pytest.mark.parametrize(
    "code, trip",
    [
        ("os.system('touch spawned')", 'audit: os.system "touch spawned" refused'),
        ("os.execv('/bin/touch', ['touch', 'spawned'])", 'audit: os.exec "/bin/touch" refused'),
        (
            "os.posix_spawn('/bin/touch', ['touch', 'spawned'], {})",
            'audit: os.posix_spawn "/bin/touch" refused',
        ),
        (
            "os.spawnv(os.P_WAIT, '/bin/touch', ['touch', 'spawned'])",
            "audit: os.fork refused",
        ),
        ("import subprocess; subprocess.run(['touch', 'spawned'])", None),
        ("import pty; pty.spawn(['touch', 'spawned'])", 'audit: import "pty" refused'),
    ],
)
def test_processes_are_refused(tmp_path, code, trip) -> None:
    out = attack(code, tmp_path)
    assert out.trips, out
    if trip:
        assert out.trips[0] == trip, out
    time.sleep(0.2)
    assert not (tmp_path / "spawned").exists()


def test_fork_is_refused(tmp_path) -> None:
    out = attack(
        """
        pid = os.fork()
        if pid == 0:
            open('forked', 'w').write('child')
            os._exit(0)
        os.waitpid(pid, 0)
        """,
        tmp_path,
    )
    assert out.trips == ["audit: os.fork refused"], out
    assert not (tmp_path / "forked").exists()


def test_killing_another_process_is_refused(tmp_path) -> None:
    victim = subprocess.Popen(["sleep", "60"])
    try:
        out = attack(f"os.kill({victim.pid}, 9)", tmp_path)
        assert out.trips == ["audit: os.kill refused"], out
        time.sleep(0.2)
        assert victim.poll() is None
    finally:
        victim.kill()
        victim.wait()


@pytest.mark.parametrize(
    "code, prefix",
    [
        ("import ctypes; ctypes.CDLL(None).getpid()", "audit: ctypes.dlopen"),
        ("import ctypes; print(ctypes.string_at(id(1), 8))", "audit: ctypes."),
        ("import ctypes; ctypes.c_char.from_address(id(1))", "audit: ctypes.cdata"),
    ],
)
def test_ctypes_is_refused(tmp_path, code, prefix) -> None:
    out = attack(code, tmp_path)
    assert out.trips and out.trips[0].startswith(prefix), out


def test_a_pickle_that_runs_a_command_is_refused(tmp_path) -> None:
    out = attack(
        "import sys; pickle = sys.modules['pickle']; "
        "pickle.loads(b\"cos\\nsystem\\n(S'touch pickled'\\ntR.\")",
        tmp_path,
    )
    assert out.trips and out.trips[0].startswith("audit: pickle.find_class"), out
    assert not (tmp_path / "pickled").exists()


def test_marshal_outside_the_import_system_is_refused(tmp_path) -> None:
    out = attack("import marshal; marshal.loads(marshal.dumps(1))", tmp_path)
    assert out.trips and out.trips[0].startswith("audit: marshal."), out


@pytest.mark.parametrize(
    "code, trip",
    [
        ("eval('1 + 1')", "audit: compile"),
        ("exec('x = 1')", "audit: compile"),
        ("compile('x = 1', 'f', 'exec')", 'audit: compile "f" refused once the script runs'),
        ("exec(compile.__self__.compile('1', 'g', 'eval'))", "audit: compile"),
    ],
)
def test_compile_and_exec_are_refused_once_the_script_runs(tmp_path, code, trip) -> None:
    out = attack(code, tmp_path)
    assert out.trips and out.trips[0].startswith(trip), out


@pytest.mark.parametrize(
    "code, trip",
    [
        ("import sys; sys._getframe()", "audit: sys._getframe refused"),
        ("import inspect; inspect.currentframe()", "audit: sys._getframe refused"),
        ("import sys; sys._current_frames()", "audit: sys._current_frames refused"),
        ("import sys; sys.settrace(lambda *a: None)", "audit: sys.settrace refused"),
        ("import sys; sys.setprofile(lambda *a: None)", "audit: sys.setprofile refused"),
        ("import sys; sys.addaudithook(lambda *a: None)", "audit: sys.addaudithook refused"),
        ("import gc; gc.get_objects()", "audit: gc.get_objects refused"),
        ("import gc; gc.get_referrers(os)", "audit: gc.get_referrers refused"),
        ("import gc; gc.get_referents(os)", "audit: gc.get_referents refused"),
    ],
)
def test_introspection_is_refused(tmp_path, code, trip) -> None:
    out = attack(code, tmp_path)
    assert out.trips and out.trips[0].startswith(trip), out


@pytest.mark.parametrize(
    "module", ["sqlite3", "webbrowser", "ftplib", "smtplib", "multiprocessing", "asyncio"]
)
def test_imports_outside_the_allow_list_are_refused(tmp_path, module) -> None:
    out = attack(f"import {module}", tmp_path)
    assert out.trips == [f'audit: import "{module}" refused'], out
    assert "SandboxViolation" in out.raised


def test_a_module_the_allow_list_does_not_name_is_refused(tmp_path) -> None:
    out = attack("import xml.dom.minidom", tmp_path)
    assert out.trips == ['audit: import "xml.dom.minidom" refused'], out


def test_mmap_is_refused(tmp_path) -> None:
    # pandas has imported mmap already: its constructor's event trips
    out = attack("import mmap; mmap.mmap(-1, 4096)", tmp_path)
    assert out.trips and out.trips[0].startswith("audit: mmap.__new__"), out


def test_the_first_refusal_is_kept_even_when_caught(tmp_path) -> None:
    out = attack(
        """
        for p in ('/etc/passwd', '/etc/hostname'):
            try:
                open(p)
            except Exception:
                pass
        print('CARRIED ON')
        """,
        tmp_path,
    )
    assert "CARRIED ON" in out.lines
    assert out.trips == ['audit: open "/etc/passwd" refused', 'audit: open "/etc/hostname" refused']
