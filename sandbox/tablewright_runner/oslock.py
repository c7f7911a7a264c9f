"""The Linux layer under Python (docs/sandbox.md, layer 7): what the runner
gives up for good before any user code runs, so that code which gets past
every Python layer still cannot use the system.

- landlock(): PR_SET_NO_NEW_PRIVS, PR_SET_DUMPABLE 0 and a Landlock domain
  in which the process reads (and maps for execution) only the
  interpreter's and the libraries' directories and reads and writes only
  its job directory (its working directory at start), makes no TCP
  connection or bind, and (ABI 6) cannot signal or reach the abstract unix
  sockets of processes outside its domain. Called first thing, while the
  process has one thread: landlock_restrict_self() restricts the calling
  thread only (and threads it starts later) unless the kernel offers
  LANDLOCK_RESTRICT_SELF_TSYNC (ABI 8).
- seccomp(): a BPF filter, on every thread (SECCOMP_FILTER_FLAG_TSYNC),
  answering EPERM to socket(), socketpair() but AF_UNIX, execve(),
  fork()/vfork(), clone() without CLONE_THREAD, ptrace(), process_vm_*(),
  signals to other processes, and the namespace, mount, module, BPF,
  keyring, io_uring and kexec calls; clone3() gets ENOSYS so that glibc
  falls back to clone(), whose flags a filter can read. Called after the
  heavy imports.

Both use ctypes, which user code never reaches (the audit hook refuses
its events from then on); this module keeps no handle on the C library
between calls. Where the kernel or the architecture lacks a feature, each
says so in one line (returned to the caller, who writes it to stderr: the
job's log) and the runner goes on: the Python layers still hold.
"""

from __future__ import annotations

import os
import platform
import sys

# prctl
PR_SET_DUMPABLE = 4
PR_SET_NO_NEW_PRIVS = 38

# Landlock (include/uapi/linux/landlock.h)
LANDLOCK_CREATE_RULESET_VERSION = 1 << 0
LANDLOCK_RULE_PATH_BENEATH = 1
FS_EXECUTE = 1 << 0
FS_WRITE_FILE = 1 << 1
FS_READ_FILE = 1 << 2
FS_READ_DIR = 1 << 3
FS_REMOVE_DIR = 1 << 4
FS_REMOVE_FILE = 1 << 5
FS_MAKE_CHAR = 1 << 6
FS_MAKE_DIR = 1 << 7
FS_MAKE_REG = 1 << 8
FS_MAKE_SOCK = 1 << 9
FS_MAKE_FIFO = 1 << 10
FS_MAKE_BLOCK = 1 << 11
FS_MAKE_SYM = 1 << 12
FS_REFER = 1 << 13  # ABI 2
FS_TRUNCATE = 1 << 14  # ABI 3
FS_IOCTL_DEV = 1 << 15  # ABI 5
NET_BIND_TCP = 1 << 0  # ABI 4
NET_CONNECT_TCP = 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
SCOPE_SIGNAL = 1 << 1
RESTRICT_SELF_TSYNC = 1 << 3  # ABI 8 (not on the 6.18 kernels this was written on)

FS_V1 = (1 << 13) - 1
FS_FILE_RIGHTS = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV
FS_READ = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR

# seccomp (include/uapi/linux/seccomp.h, filter.h, audit.h)
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_TSYNC = 1
SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_ALLOW = 0x7FFF0000
BPF_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
BPF_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
BPF_JGE_K = 0x35  # BPF_JMP | BPF_JGE | BPF_K
BPF_JSET_K = 0x45  # BPF_JMP | BPF_JSET | BPF_K
BPF_RET_K = 0x06  # BPF_RET | BPF_K
CLONE_THREAD = 0x00010000
AF_UNIX = 1
EPERM = 1
ENOSYS = 38
X32_SYSCALL_BIT = 0x40000000

# Per architecture: the audit arch, the syscall numbers of landlock_* and
# seccomp, and those the filter looks at (asm-generic numbers for
# aarch64, arch/x86/entry/syscalls/syscall_64.tbl for x86_64).
ARCHES = {
    "x86_64": {
        "audit_arch": 0xC000003E,
        "landlock_create_ruleset": 444,
        "landlock_add_rule": 445,
        "landlock_restrict_self": 446,
        "seccomp": 317,
        "socket": 41,
        "socketpair": 53,
        "clone": 56,
        "clone3": 435,
        "kill": 62,
        "tgkill": 234,
        "rt_sigqueueinfo": 129,
        "rt_tgsigqueueinfo": 297,
        "eperm": {
            "fork": 57,
            "vfork": 58,
            "execve": 59,
            "execveat": 322,
            "ptrace": 101,
            "process_vm_readv": 310,
            "process_vm_writev": 311,
            "tkill": 200,
            "pidfd_open": 434,
            "pidfd_send_signal": 424,
            "pidfd_getfd": 438,
            "kcmp": 312,
            "unshare": 272,
            "setns": 308,
            "mount": 165,
            "umount2": 166,
            "pivot_root": 155,
            "chroot": 161,
            "open_tree": 428,
            "move_mount": 429,
            "fsopen": 430,
            "fsconfig": 431,
            "fsmount": 432,
            "fspick": 433,
            "mount_setattr": 442,
            "bpf": 321,
            "perf_event_open": 298,
            "userfaultfd": 323,
            "keyctl": 250,
            "add_key": 248,
            "request_key": 249,
            "io_uring_setup": 425,
            "io_uring_enter": 426,
            "io_uring_register": 427,
            "kexec_load": 246,
            "kexec_file_load": 320,
            "init_module": 175,
            "finit_module": 313,
            "delete_module": 176,
            "open_by_handle_at": 304,
            "name_to_handle_at": 303,
            "personality": 135,
            "acct": 163,
            "iopl": 172,
            "ioperm": 173,
            "quotactl": 179,
            "swapon": 167,
            "swapoff": 168,
            "reboot": 169,
        },
    },
    "aarch64": {
        "audit_arch": 0xC00000B7,
        "landlock_create_ruleset": 444,
        "landlock_add_rule": 445,
        "landlock_restrict_self": 446,
        "seccomp": 277,
        "socket": 198,
        "socketpair": 199,
        "clone": 220,
        "clone3": 435,
        "kill": 129,
        "tgkill": 131,
        "rt_sigqueueinfo": 138,
        "rt_tgsigqueueinfo": 240,
        "eperm": {
            "execve": 221,
            "execveat": 281,
            "ptrace": 117,
            "process_vm_readv": 270,
            "process_vm_writev": 271,
            "tkill": 130,
            "pidfd_open": 434,
            "pidfd_send_signal": 424,
            "pidfd_getfd": 438,
            "kcmp": 272,
            "unshare": 97,
            "setns": 268,
            "mount": 40,
            "umount2": 39,
            "pivot_root": 41,
            "chroot": 51,
            "open_tree": 428,
            "move_mount": 429,
            "fsopen": 430,
            "fsconfig": 431,
            "fsmount": 432,
            "fspick": 433,
            "mount_setattr": 442,
            "bpf": 280,
            "perf_event_open": 241,
            "userfaultfd": 282,
            "keyctl": 219,
            "add_key": 217,
            "request_key": 218,
            "io_uring_setup": 425,
            "io_uring_enter": 426,
            "io_uring_register": 427,
            "kexec_load": 104,
            "kexec_file_load": 294,
            "init_module": 105,
            "finit_module": 273,
            "delete_module": 106,
            "open_by_handle_at": 265,
            "name_to_handle_at": 264,
            "personality": 92,
            "acct": 89,
            "quotactl": 60,
            "swapon": 224,
            "swapoff": 225,
            "reboot": 142,
        },
    },
}


def _arch():
    if not sys.platform.startswith("linux"):
        return None
    return ARCHES.get(platform.machine())


def _libc():
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    libc.prctl.restype = ctypes.c_int
    return ctypes, libc


def _prctl(ctypes, libc, option: int, arg2: int) -> int:
    # every argument a full unsigned long: prctl() checks the unused ones are 0
    z = ctypes.c_ulong(0)
    return libc.prctl(ctypes.c_int(option), ctypes.c_ulong(arg2), z, z, z)


def _errno_text(ctypes) -> str:
    e = ctypes.get_errno()
    return f"{os.strerror(e)} (errno {e})"


def thread_count() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 0


def python_dirs() -> list[str]:
    """The interpreter's and its packages' directories (the venv's and the
    base installation's), and time zone data: what Python itself reads.
    The audit hook allows the same (audit.library_dirs)."""
    import sysconfig

    dirs = []
    for scheme_vars in (None, {"base": sys.base_prefix, "platbase": sys.base_exec_prefix}):
        paths = sysconfig.get_paths(vars=scheme_vars) if scheme_vars else sysconfig.get_paths()
        for key in ("stdlib", "platstdlib", "purelib", "platlib"):
            if paths.get(key):
                dirs.append(paths[key])
    dirs += [p for p in sys.path if p]
    try:
        import zoneinfo

        dirs += list(zoneinfo.TZPATH)
    except ImportError:  # pragma: no cover
        pass
    return dirs


def read_paths(job_dir: str) -> tuple[list[str], list[str]]:
    """(directories, files) the runner may read: python_dirs(), the
    system's shared libraries (the dynamic loader opens them when numpy and
    pyarrow load), time zone data, and the few files the C library reads.
    Never the job directory's parents: a directory given here covers
    everything beneath it."""
    dirs = python_dirs()
    dirs.append(sys.prefix)  # the venv's own directory: pyvenv.cfg, lib/
    dirs += ["/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/local/lib"]
    dirs += ["/usr/share/zoneinfo", "/usr/lib/zoneinfo", "/usr/share/lib/zoneinfo"]
    dirs.append("/sys/devices/system/cpu")  # how many CPUs (glibc, OpenBLAS, Arrow)
    files = ["/etc/ld.so.cache", "/etc/localtime", "/dev/urandom"]
    job = os.path.realpath(job_dir)
    keep_dirs = []
    for d in dirs:
        r = os.path.realpath(d)
        if not os.path.isdir(r) or r == "/" or r in keep_dirs:
            continue
        if job == r or job.startswith(r.rstrip("/") + "/"):
            continue  # a library directory above the job directory would grant it all
        keep_dirs.append(r)
    keep_files = [os.path.realpath(f) for f in files if os.path.exists(os.path.realpath(f))]
    return keep_dirs, sorted(set(keep_files))


def job_dir_usable(job_dir: str) -> bool:
    """The working directory is the job directory unless it is "/" (tests
    run the runner there) or holds the interpreter: granting either would
    grant everything."""
    r = os.path.realpath(job_dir)
    if r == "/":
        return False
    for p in (sys.prefix, sys.base_prefix, sys.exec_prefix):
        rp = os.path.realpath(p)
        if rp == r or rp.startswith(r.rstrip("/") + "/"):
            return False
    return True


def landlock(job_dir: str) -> list[str]:
    """No new privileges, not dumpable, and the Landlock domain. Returns
    the lines to log (empty when everything applied)."""
    notes: list[str] = []
    if not sys.platform.startswith("linux"):
        return notes
    arch = _arch()
    ctypes, libc = _libc()
    if _prctl(ctypes, libc, PR_SET_NO_NEW_PRIVS, 1) != 0:
        notes.append(f"oslock: PR_SET_NO_NEW_PRIVS failed: {_errno_text(ctypes)}")
    # Not dumpable: another process of the same user (another job's
    # runner) cannot ptrace it or read its /proc/<pid>/mem and environ.
    if _prctl(ctypes, libc, PR_SET_DUMPABLE, 0) != 0:
        notes.append(f"oslock: PR_SET_DUMPABLE failed: {_errno_text(ctypes)}")
    if arch is None:
        notes.append(f"oslock: no Landlock on {platform.machine()}: the Python layers only")
        return notes

    def syscall(nr, *args):
        return libc.syscall(ctypes.c_long(nr), *args)

    abi = syscall(
        arch["landlock_create_ruleset"], None, ctypes.c_size_t(0),
        ctypes.c_ulong(LANDLOCK_CREATE_RULESET_VERSION),
    )  # fmt: skip
    if abi < 1:
        notes.append(f"oslock: Landlock is not available ({_errno_text(ctypes)}): skipped")
        return notes

    fs = FS_V1
    if abi >= 2:
        fs |= FS_REFER
    if abi >= 3:
        fs |= FS_TRUNCATE
    if abi >= 5:
        fs |= FS_IOCTL_DEV

    class RulesetAttr(ctypes.Structure):
        _fields_ = [
            ("handled_access_fs", ctypes.c_uint64),
            ("handled_access_net", ctypes.c_uint64),
            ("scoped", ctypes.c_uint64),
        ]

    class PathBeneath(ctypes.Structure):
        _pack_ = 1
        _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]

    attr = RulesetAttr(fs, 0, 0)
    size = 8
    if abi >= 4:
        attr.handled_access_net = NET_BIND_TCP | NET_CONNECT_TCP
        size = 16
    if abi >= 6:
        attr.scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL
        size = 24
    ruleset = syscall(
        arch["landlock_create_ruleset"], ctypes.byref(attr), ctypes.c_size_t(size),
        ctypes.c_ulong(0),
    )  # fmt: skip
    if ruleset < 0:
        notes.append(f"oslock: landlock_create_ruleset failed: {_errno_text(ctypes)}: skipped")
        return notes
    try:

        def allow(path: str, access: int) -> None:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError as e:
                notes.append(f"oslock: Landlock rule for {path} skipped: {e.strerror}")
                return
            try:
                rule = PathBeneath(access & fs, fd)
                rc = syscall(
                    arch["landlock_add_rule"], ctypes.c_long(ruleset),
                    ctypes.c_long(LANDLOCK_RULE_PATH_BENEATH), ctypes.byref(rule),
                    ctypes.c_ulong(0),
                )  # fmt: skip
                if rc != 0:
                    notes.append(f"oslock: Landlock rule for {path} failed: {_errno_text(ctypes)}")
            finally:
                os.close(fd)

        dirs, files = read_paths(job_dir)
        for d in dirs:
            allow(d, FS_READ)
        for f in files:
            allow(f, FS_READ_FILE)
        allow("/dev/null", FS_READ_FILE | FS_WRITE_FILE)
        if job_dir_usable(job_dir):
            allow(os.path.realpath(job_dir), fs)
        else:
            notes.append(
                f'oslock: the working directory "{job_dir}" is not a job directory: '
                "nothing is writable"
            )
        flags = 0
        threads = thread_count()
        if abi >= 8:
            flags |= RESTRICT_SELF_TSYNC
        elif threads != 1:
            notes.append(
                f"oslock: {threads} threads exist before Landlock; only this one is restricted"
            )
        rc = syscall(arch["landlock_restrict_self"], ctypes.c_long(ruleset), ctypes.c_ulong(flags))
        if rc != 0 and flags:
            rc = syscall(arch["landlock_restrict_self"], ctypes.c_long(ruleset), ctypes.c_ulong(0))
        if rc != 0:
            notes.append(f"oslock: landlock_restrict_self failed: {_errno_text(ctypes)}")
    finally:
        os.close(ruleset)
    return notes


def _filter(arch: dict, pid: int) -> list[tuple[int, int, int, int]]:
    """The BPF program: a list of (code, jt, jf, k)."""
    prog: list = []  # entries: (code, jt, jf, k) with jt/jf as labels or ints
    labels: dict[str, int] = {}

    def op(code, k=0, jt=0, jf=0):
        prog.append([code, jt, jf, k])

    def label(name):
        labels[name] = len(prog)

    op(BPF_LD_W_ABS, 4)  # seccomp_data.arch
    op(BPF_JEQ_K, arch["audit_arch"], 1, 0)
    op(BPF_RET_K, SECCOMP_RET_KILL_PROCESS)  # another ABI (int 0x80 on x86_64): never ours
    op(BPF_LD_W_ABS, 0)  # seccomp_data.nr
    if arch["audit_arch"] == ARCHES["x86_64"]["audit_arch"]:
        op(BPF_JGE_K, X32_SYSCALL_BIT, "eperm", 0)  # the x32 ABI
    for nr in sorted(arch["eperm"].values()):
        op(BPF_JEQ_K, nr, "eperm", 0)
    op(BPF_JEQ_K, arch["clone3"], "enosys", 0)
    op(BPF_JEQ_K, arch["clone"], "clone", 0)
    op(BPF_JEQ_K, arch["socket"], "eperm", 0)
    op(BPF_JEQ_K, arch["socketpair"], "unix", 0)
    op(BPF_JEQ_K, arch["kill"], "self0", 0)
    op(BPF_JEQ_K, arch["rt_sigqueueinfo"], "self0", 0)
    op(BPF_JEQ_K, arch["tgkill"], "self0", 0)
    op(BPF_JEQ_K, arch["rt_tgsigqueueinfo"], "self0", 0)
    op(BPF_RET_K, SECCOMP_RET_ALLOW)
    label("clone")
    op(BPF_LD_W_ABS, 16)  # args[0], low half: the flags
    op(BPF_JSET_K, CLONE_THREAD, "allow", "eperm")
    label("unix")
    op(BPF_LD_W_ABS, 16)  # args[0]: the family
    op(BPF_JEQ_K, AF_UNIX, "allow", "eperm")
    label("self0")
    # kill(pid), tgkill(tgid, ...), rt_*sigqueueinfo(tgid, ...): only
    # this process (or its own group, kill(0) / kill(-pid)).
    op(BPF_LD_W_ABS, 16)
    op(BPF_JEQ_K, pid, "allow", 0)
    op(BPF_JEQ_K, 0, "allow", 0)
    op(BPF_JEQ_K, (-pid) & 0xFFFFFFFF, "allow", "eperm")
    label("allow")
    op(BPF_RET_K, SECCOMP_RET_ALLOW)
    label("eperm")
    op(BPF_RET_K, SECCOMP_RET_ERRNO | EPERM)
    label("enosys")
    op(BPF_RET_K, SECCOMP_RET_ERRNO | ENOSYS)

    out = []
    for i, (code, jt, jf, k) in enumerate(prog):
        if isinstance(jt, str):
            jt = labels[jt] - i - 1
        if isinstance(jf, str):
            jf = labels[jf] - i - 1
        if not (0 <= jt <= 255 and 0 <= jf <= 255):  # pragma: no cover - a bug in the table
            raise RuntimeError("seccomp filter: a jump out of range")
        out.append((code, jt, jf, k))
    return out


def seccomp() -> list[str]:
    """Installs the filter on every thread. Returns the lines to log."""
    notes: list[str] = []
    if not sys.platform.startswith("linux"):
        return notes
    arch = _arch()
    if arch is None:
        return [f"oslock: no seccomp filter for {platform.machine()}: the Python layers only"]
    ctypes, libc = _libc()

    class SockFilter(ctypes.Structure):
        _fields_ = [
            ("code", ctypes.c_uint16),
            ("jt", ctypes.c_uint8),
            ("jf", ctypes.c_uint8),
            ("k", ctypes.c_uint32),
        ]

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(SockFilter))]

    program = _filter(arch, os.getpid())
    insns = (SockFilter * len(program))(*[SockFilter(*i) for i in program])
    fprog = SockFprog(len(program), insns)
    if _prctl(ctypes, libc, PR_SET_NO_NEW_PRIVS, 1) != 0:
        notes.append(f"oslock: PR_SET_NO_NEW_PRIVS failed: {_errno_text(ctypes)}")
    rc = libc.syscall(
        ctypes.c_long(arch["seccomp"]), ctypes.c_ulong(SECCOMP_SET_MODE_FILTER),
        ctypes.c_ulong(SECCOMP_FILTER_FLAG_TSYNC), ctypes.byref(fprog),
    )  # fmt: skip
    if rc != 0:
        # TSYNC answers with a thread's id when that thread cannot take the filter
        why = _errno_text(ctypes) if rc < 0 else f"thread {rc} could not be synchronised"
        notes.append(f"oslock: the seccomp filter was not installed: {why}")
    return notes
