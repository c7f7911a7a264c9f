"""The Linux layer under Python (oslock.py: no new privileges, Landlock,
seccomp), attack by attack, with the audit hook off so that only the OS
layer stands in the way: each attack runs in the sandbox venv's Python
after oslock is applied exactly as the runner applies it, and each test
checks that the side effect did not happen. And the real runner: every
thread under the filter, in validate mode too.

Linux only (x86_64 or aarch64), with Landlock and seccomp in the kernel.
"""

from __future__ import annotations

import os
import platform
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest
import runnerwire as wire
import sandboxharness as harness

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.machine() not in ("x86_64", "aarch64"),
    reason="the OS layer is Linux on x86_64 or aarch64",
)


def attack(code: str, job_dir, **kw) -> harness.Outcome:
    out = harness.run(code, job_dir, audit=False, **kw)
    assert out.notes == [], out  # Landlock, seccomp and every rule applied
    return out


@pytest.fixture
def outside(tmp_path_factory):
    """A directory beside the job directory, with a canary file in it."""
    d = tmp_path_factory.mktemp("outside")
    (d / "canary.txt").write_text("CANARY-OUTSIDE-42\n")
    return d


def test_landlock_is_applied_while_the_runner_has_one_thread(tmp_path) -> None:
    out = attack("print('THREADS', threads_at_landlock)", tmp_path)
    assert "THREADS 1" in out.lines, out


def test_reading_etc_passwd_is_refused(tmp_path) -> None:
    out = attack("print(open('/etc/passwd').read())", tmp_path)
    assert "PermissionError" in out.raised, out
    assert "root:" not in out.out


def test_reading_the_parents_environment_is_refused(tmp_path) -> None:
    out = attack("print(open(f'/proc/{os.getppid()}/environ', 'rb').read())", tmp_path)
    assert "PermissionError" in out.raised, out
    assert "PATH=" not in out.out


def test_reading_its_own_proc_environ_is_refused(tmp_path) -> None:
    out = attack("print(open('/proc/self/environ', 'rb').read())", tmp_path)
    assert "PermissionError" in out.raised, out
    assert "PATH=" not in out.out


def test_reading_a_file_outside_the_job_directory_is_refused(tmp_path, outside) -> None:
    out = attack(f"print(open({str(outside / 'canary.txt')!r}).read())", tmp_path)
    assert "PermissionError" in out.raised, out
    assert "CANARY-OUTSIDE-42" not in out.out


def test_listing_a_directory_outside_is_refused(tmp_path, outside) -> None:
    out = attack(f"print(os.listdir({str(outside)!r}))", tmp_path)
    assert "PermissionError" in out.raised, out
    assert "canary.txt" not in out.out


def test_the_checkout_and_its_env_file_are_out_of_reach(tmp_path) -> None:
    # the sandbox venv may live in the checkout: its directory is readable,
    # the checkout's other files (a .env) are not
    target = wire.ROOT / "README.md"
    out = attack(f"print(open({str(target)!r}).read()[:100])", tmp_path)
    assert "PermissionError" in out.raised, out


def test_writing_outside_the_job_directory_is_refused(tmp_path, outside) -> None:
    target = outside / "written.txt"
    out = attack(f"open({str(target)!r}, 'w').write('x')", tmp_path)
    assert "PermissionError" in out.raised, out
    assert not target.exists()


def test_changing_a_file_outside_is_refused(tmp_path, outside) -> None:
    canary = outside / "canary.txt"
    out = attack(
        f"""
        for f in (lambda: os.remove({str(canary)!r}),
                  lambda: os.rename({str(canary)!r}, {str(outside / "moved")!r}),
                  lambda: os.truncate({str(canary)!r}, 0),
                  lambda: os.mkdir({str(outside / "newdir")!r})):
            try:
                f()
                print("DID")
            except OSError as e:
                print("REFUSED", type(e).__name__)
        """,
        tmp_path,
    )
    assert "DID" not in out.lines, out
    assert out.lines.count("REFUSED PermissionError") == 4, out
    assert canary.read_text() == "CANARY-OUTSIDE-42\n"
    assert not (outside / "moved").exists() and not (outside / "newdir").exists()


def test_the_job_directory_is_readable_and_writable(tmp_path) -> None:
    out = attack(
        "open('out.txt', 'w').write('hello'); os.mkdir('sub'); "
        "print('READ', open('out.txt').read(), sorted(os.listdir('.')))",
        tmp_path,
    )
    assert "READ hello ['out.txt', 'sub']" in out.lines, out
    assert (tmp_path / "out.txt").read_text() == "hello"


@pytest.fixture
def listener():
    lst = harness.Listener()
    yield lst
    lst.close()


def test_listener_sees_an_unsandboxed_connection(tmp_path, listener) -> None:
    # calibration: without the OS layer the same attack connects
    out = harness.run(
        f"import socket; socket.create_connection(('127.0.0.1', {listener.port}), 5).close()",
        tmp_path,
        oslock=False,
        audit=False,
    )
    assert out.raised == "", out
    assert listener.close() == 1


def test_a_tcp_connection_to_localhost_is_refused(tmp_path, listener) -> None:
    out = attack(
        f"import socket; socket.create_connection(('127.0.0.1', {listener.port}), 5)", tmp_path
    )
    assert "PermissionError" in out.raised, out
    assert listener.close() == 0


def test_udp_and_raw_and_netlink_sockets_are_refused(tmp_path) -> None:
    out = attack(
        """
        import socket
        for fam, typ in ((socket.AF_INET, socket.SOCK_DGRAM), (socket.AF_INET6, socket.SOCK_STREAM),
                         (socket.AF_NETLINK, socket.SOCK_RAW), (socket.AF_PACKET, socket.SOCK_RAW)):
            try:
                socket.socket(fam, typ)
                print("OPENED", fam)
            except OSError as e:
                print("REFUSED", e.errno)
        """,
        tmp_path,
    )
    assert out.lines.count("REFUSED 1") == 4, out


def test_a_unix_socket_connection_is_refused(tmp_path, tmp_path_factory) -> None:
    # a pathname socket (PostgreSQL's /var/run/postgresql/.s.PGSQL.5432 is
    # one): Landlock ABI 7 does not cover connect(), so socket() itself is
    # refused for every family
    path = tmp_path_factory.mktemp("sock") / "s"
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(str(path))
    srv.listen(1)
    srv.settimeout(1)
    try:
        out = attack(
            f"import socket; s = socket.socket(socket.AF_UNIX); s.connect({str(path)!r})", tmp_path
        )
        assert "PermissionError" in out.raised, out
        with pytest.raises(TimeoutError):
            srv.accept()
    finally:
        srv.close()


def test_socketpair_still_works(tmp_path) -> None:
    out = attack(
        "import socket; a, b = socket.socketpair(); a.send(b'x'); print('GOT', b.recv(1))", tmp_path
    )
    assert "GOT b'x'" in out.lines, out


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
    assert "PermissionError" in out.raised, out
    assert not (tmp_path / "forked").exists()


def test_subprocess_is_refused(tmp_path) -> None:
    out = attack(
        "import subprocess; subprocess.run(['/bin/touch', 'spawned'])",
        tmp_path,
    )
    assert "PermissionError" in out.raised, out
    assert not (tmp_path / "spawned").exists()


def test_posix_spawn_and_system_are_refused(tmp_path) -> None:
    out = attack(
        """
        try:
            os.posix_spawn('/bin/touch', ['touch', 'spawned1'], {})
        except OSError as e:
            print('SPAWN', e.errno)
        print('SYSTEM', os.system('touch spawned2'))
        """,
        tmp_path,
    )
    assert "SPAWN 1" in out.lines, out
    assert "SYSTEM 0" not in out.lines, out
    assert not (tmp_path / "spawned1").exists() and not (tmp_path / "spawned2").exists()


def test_execve_is_refused(tmp_path) -> None:
    out = attack("os.execv('/bin/sh', ['sh', '-c', 'touch execed'])", tmp_path)
    assert "PermissionError" in out.raised, out
    assert not (tmp_path / "execed").exists()


def test_threads_still_start(tmp_path) -> None:
    out = attack(
        """
        import threading
        r = []
        t = threading.Thread(target=lambda: r.append(1)); t.start(); t.join()
        print('THREAD', r)
        """,
        tmp_path,
    )
    assert "THREAD [1]" in out.lines, out


@pytest.fixture
def victim():
    """A process outside the sandbox (same user) for the attacks on others."""
    proc = subprocess.Popen(["sleep", "60"])
    yield proc
    proc.kill()
    proc.wait()


def test_killing_another_process_is_refused(tmp_path, victim) -> None:
    out = attack(f"os.kill({victim.pid}, 9)", tmp_path)
    assert "PermissionError" in out.raised, out
    time.sleep(0.2)
    assert victim.poll() is None


def test_killing_its_parent_is_refused(tmp_path) -> None:
    # the parent is a shell that prints once its child is done
    code = harness.PRELUDE.format(
        oslock=True, audit=False, attack="import signal; os.kill(os.getppid(), signal.SIGKILL)"
    )
    script = f'{wire.SANDBOX_PYTHON} -I -c "$CODE"; echo PARENT-ALIVE'
    proc = subprocess.run(
        ["/bin/sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "CODE": code},
        check=False,
    )
    assert "RAISED PermissionError" in proc.stdout, proc
    assert "PARENT-ALIVE" in proc.stdout, proc


def test_signalling_itself_still_works(tmp_path) -> None:
    out = attack(
        """
        import signal
        got = []
        signal.signal(signal.SIGUSR1, lambda *a: got.append(1))
        os.kill(os.getpid(), signal.SIGUSR1)
        print('SELF', got)
        """,
        tmp_path,
    )
    assert "SELF [1]" in out.lines, out


LIBC = """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
NR = {'x86_64': dict(ptrace=101, pvr=310, unshare=272, io_uring_setup=425, bpf=321),
      'aarch64': dict(ptrace=117, pvr=270, unshare=97, io_uring_setup=425, bpf=280)}
import platform
nr = NR[platform.machine()]
def sys_(name, *args):
    r = libc.syscall(ctypes.c_long(nr[name]), *[ctypes.c_long(a) for a in args])
    return r, ctypes.get_errno()
"""


def test_ptrace_attach_is_refused(tmp_path, victim) -> None:
    out = attack(LIBC + f"print('PTRACE', *sys_('ptrace', 16, {victim.pid}, 0, 0))", tmp_path)
    assert "PTRACE -1 1" in out.lines, out  # EPERM
    status = open(f"/proc/{victim.pid}/status").read()
    assert "TracerPid:\t0" in status


def test_process_vm_readv_is_refused(tmp_path, victim) -> None:
    out = attack(
        LIBC
        + textwrap.dedent(
            f"""
        buf = ctypes.create_string_buffer(64)
        class iovec(ctypes.Structure):
            _fields_ = [('base', ctypes.c_void_p), ('len', ctypes.c_size_t)]
        local = iovec(ctypes.cast(buf, ctypes.c_void_p), 64)
        remote = iovec(0x400000, 64)
        r = libc.syscall(ctypes.c_long(nr['pvr']), ctypes.c_long({victim.pid}),
                         ctypes.byref(local), ctypes.c_long(1), ctypes.byref(remote),
                         ctypes.c_long(1), ctypes.c_long(0))
        print('PVR', r, ctypes.get_errno())
        """
        ),
        tmp_path,
    )
    assert "PVR -1 1" in out.lines, out


def test_namespaces_io_uring_and_bpf_are_refused(tmp_path) -> None:
    out = attack(
        LIBC
        + textwrap.dedent(
            """
        print('UNSHARE', *sys_('unshare', 0x10000000))  # CLONE_NEWUSER
        print('URING', *sys_('io_uring_setup', 8, 0))
        print('BPF', *sys_('bpf', 0, 0, 0))
        """
        ),
        tmp_path,
    )
    for name in ("UNSHARE", "URING", "BPF"):
        assert f"{name} -1 1" in out.lines, out


def test_the_real_runner_has_every_thread_under_the_filter(tmp_path) -> None:
    for args in ((), ("validate",)):
        proc = subprocess.Popen(
            [str(wire.SANDBOX_PYTHON), "-I", "-m", "tablewright_runner", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=tmp_path,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        )
        try:
            deadline = time.monotonic() + 30
            status = ""
            while time.monotonic() < deadline:  # it waits for the JOB frame once set up
                status = open(f"/proc/{proc.pid}/status").read()
                if "Seccomp:\t2" in status:
                    break
                time.sleep(0.05)
            time.sleep(0.2)
            tasks = os.listdir(f"/proc/{proc.pid}/task")
            for tid in tasks:
                st = open(f"/proc/{proc.pid}/task/{tid}/status").read()
                assert "NoNewPrivs:\t1" in st, (args, tid, st)
                assert "Seccomp:\t2" in st, (args, tid, st)
            assert proc.poll() is None
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.communicate()
        assert proc.returncode == -signal.SIGKILL


def test_the_seccomp_filter_is_well_formed() -> None:
    # the program's jumps stay inside it and every path ends in a return
    sys.path.insert(0, str(wire.RUNNER_SRC.parent))
    try:
        from tablewright_runner import oslock
    finally:
        sys.path.pop(0)
    for arch in oslock.ARCHES.values():
        prog = oslock._filter(arch, 1234)
        assert len(prog) < 255
        for i, (code, jt, jf, _) in enumerate(prog):
            if code & 0x07 == 0x05:  # a jump
                assert i + 1 + max(jt, jf) < len(prog)
        assert prog[-1][0] == oslock.BPF_RET_K


HEADERS = {
    "x86_64": ("/usr/include/x86_64-linux-gnu/asm/unistd_64.h", r"#define __NR_(\w+) (\d+)"),
    "aarch64": ("/usr/include/asm-generic/unistd.h", r"#define __NR(?:3264)?_(\w+) (\d+)"),
}


@pytest.mark.parametrize("arch", sorted(HEADERS))
def test_the_syscall_numbers_match_the_kernel_headers(arch) -> None:
    import re

    path, pattern = HEADERS[arch]
    if not os.path.exists(path):
        pytest.skip(f"{path} is not installed")
    sys.path.insert(0, str(wire.RUNNER_SRC.parent))
    try:
        from tablewright_runner import oslock
    finally:
        sys.path.pop(0)
    with open(path) as f:
        table = {m.group(1): int(m.group(2)) for m in re.finditer(pattern, f.read())}
    spec = oslock.ARCHES[arch]
    numbers = dict(spec["eperm"])
    numbers.update({k: v for k, v in spec.items() if isinstance(v, int) and k != "audit_arch"})
    checked = 0
    for name, nr in numbers.items():
        if name in table:
            assert table[name] == nr, (arch, name)
            checked += 1
    assert checked >= len(numbers) - 4, (arch, checked)
