"""A stand-in for the sandbox runner in the job-system tests.

The worker starts it (TW_SANDBOX_COMMAND) as a sandboxed child and speaks
the runner protocol with it (docs/internals/protocol.md): a JOB frame in,
READY out, the source's BATCH frames in, END; it echoes every input batch
back unchanged (SCHEMA: the input's columns with their kinds and types),
reports METRICS after each, and ends with STATUS ok. Standard library only,
self-contained: it runs under the system python as the sandbox user.

The job's code is not Python here but a list of commands, one per line,
run in order after the JOB frame and before READY, that make the child
behave the way a test needs. Text goes out as LOG frames unless it says
stderr:

    say TEXT          log TEXT
    err TEXT          print TEXT on stderr
    lines N           log N numbered lines (one frame)
    raw               log bytes that are not UTF-8, and a NUL
    job               log the JOB it was given, as JSON on one line
    env               log the names of its environment variables
    pid               log "pid N" with its process id
    spawn             start a grandchild that sleeps, log "grandchild N"
    spawn-away        the same, but the grandchild leaves the process
                      group (setsid) first
    sleep S           sleep S seconds (a float)
    sleep-first S     sleep S seconds on the job's first attempt only
    spin S            burn CPU for S seconds
    eat MB            allocate and touch MB MiB in 8 MiB steps, then sleep 30 s
    record PATH       append "<job_id> <pid>" to PATH
    whoami            log "whoami uid=N gid=N groups=N,N"
    peek PATH         try to read PATH ("{ppid}" in it is replaced by the
                      parent's pid); log "peek PATH ok HEX" with what it
                      read, or "peek PATH error ERRNO-NAME"
    meta-pids         log "meta-pids PID PPID": os.getpid(), os.getppid()
                      as the child itself sees them

Process ids are logged as the worker sees them: the child runs in a PID
namespace of its own (where it is pid 1 and its parent pid 0), while /proc
is the worker's, so they are read there (host_pid(), host_ppid()).
    controls          log text with terminal controls in it: ESC [31m,
                      an OSC title, CR, BS, BEL, DEL and C1 controls
    exit N            exit with status N at once (no STATUS)

Commands that change the data phase (they take effect after READY):

    slow S            sleep S seconds before echoing each batch
    double            echo every batch twice
    drop              echo nothing (SCHEMA still comes)
    allow-empty       READY says allow_empty
    fail CODE MSG     after END, STATUS ok:false with that code and message
    no-status         after END, exit 0 without a STATUS
    garbage           write bytes that are no frame on stdout, then go on
    bad-name          the SCHEMA's first column is named "1bad"
    dup-name          the SCHEMA names its first column twice
    bad-type          the SCHEMA's first column has type "xml"
    miscount          STATUS counts one row out more than were sent
    retype COL TYPE   the SCHEMA gives column COL the type TYPE (its kind kept)
"""

import errno
import json
import os
import struct
import subprocess
import sys
import time

# The types db_output_type() accepts for a text column; others go out as text.
TEXT_TYPES = ("text", "uuid", "json", "jsonb")


def host_pid() -> int:
    """Our pid as the worker (and the test) sees it."""
    try:
        return int(os.readlink("/proc/self"))
    except OSError:
        return os.getpid()


def host_ppid() -> int:
    """Our parent's pid as the worker sees it (field 4 of /proc/self/stat)."""
    try:
        with open("/proc/self/stat") as f:
            return int(f.read().rpartition(")")[2].split()[1])
    except OSError:
        return os.getppid()


# The grandchild of spawn: reports its pid as the worker sees it, then sleeps.
GRANDCHILD = (
    "import os, sys, time\n"
    "sys.stdout.write(os.readlink('/proc/self') + '\\n')\n"
    "sys.stdout.close()\n"
    "time.sleep(120)\n"
)


def read_exact(n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sys.stdin.buffer.read(n - len(data))
        if not chunk:
            raise EOFError("stdin ended inside a frame")
        data += chunk
    return data


def read_frame() -> tuple[str, bytes]:
    header = read_exact(8)
    length, kind = struct.unpack("<I", header[:4])[0], chr(header[4])
    return kind, read_exact(length)


def send(kind: str, payload: bytes) -> None:
    out = sys.stdout.buffer
    out.write(struct.pack("<I", len(payload)) + kind.encode() + b"\0\0\0" + payload)
    out.flush()


def send_json(kind: str, obj: object) -> None:
    send(kind, json.dumps(obj).encode())


def log(text: str) -> None:
    send("L", (text + "\n").encode())


def out_type(col: dict) -> str:
    if col["kind"] != "text":
        return col["type"]
    t = col["type"]
    return t if t in TEXT_TYPES or t.startswith("numeric") else "text"


def run_commands(job: dict, flags: dict) -> int | None:
    """Runs the job's commands; an exit status when one says so."""
    for line in job["code"].splitlines():
        cmd, _, arg = line.strip().partition(" ")
        if not cmd or cmd.startswith("#"):
            continue
        if cmd == "say":
            log(arg)
        elif cmd == "err":
            print(arg, file=sys.stderr, flush=True)
        elif cmd == "lines":
            send(
                "L", "".join("line %d of the job's output\n" % i for i in range(int(arg))).encode()
            )
        elif cmd == "raw":
            send("L", b"bad \xff\xfe bytes \x00 nul\n")
        elif cmd == "job":
            log(json.dumps(job))
        elif cmd == "env":
            log("env " + " ".join(sorted(os.environ)))
        elif cmd == "pid":
            log("pid %d" % host_pid())
        elif cmd == "meta-pids":
            log("meta-pids %d %d" % (os.getpid(), os.getppid()))
        elif cmd in ("spawn", "spawn-away"):
            child = subprocess.Popen(
                [sys.executable, "-c", GRANDCHILD],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                start_new_session=cmd == "spawn-away",
            )
            assert child.stdout is not None
            log("grandchild %d" % int(child.stdout.readline()))
            child.stdout.close()
        elif cmd == "sleep":
            time.sleep(float(arg))
        elif cmd == "sleep-first":
            if job["attempt"] == 1:
                time.sleep(float(arg))
        elif cmd == "spin":
            end = time.monotonic() + float(arg)
            while time.monotonic() < end:
                pass
        elif cmd == "eat":
            # In steps, as a growing DataFrame would: the monitor sees it.
            blocks = []
            for _ in range(int(arg) // 8):
                block = bytearray(8 * 1024 * 1024)
                for i in range(0, len(block), 4096):
                    block[i] = 1
                blocks.append(block)
                time.sleep(0.1)
            time.sleep(30)
        elif cmd == "record":
            with open(arg, "a") as f:
                f.write("%d %d\n" % (job["job_id"], host_pid()))
        elif cmd == "whoami":
            groups = ",".join(str(g) for g in os.getgroups())
            log("whoami uid=%d gid=%d groups=%s" % (os.getuid(), os.getgid(), groups))
        elif cmd == "peek":
            path = arg.replace("{ppid}", str(host_ppid()))
            try:
                with open(path, "rb") as f:
                    data = f.read()
                log("peek %s ok %s" % (arg, data.hex()))
            except OSError as e:
                log("peek %s error %s" % (arg, errno.errorcode.get(e.errno, e.errno)))
        elif cmd == "controls":
            send(
                "L",
                b"\x1b[31mred\x1b[0m\ttabbed\x1b]0;title\x07 plain\r\n"
                b"over\rwritten back\x08space bell\x07 del\x7f"
                b" c1\xc2\x85next\xc2\x9b31mcsi\xc2\x9f end \xc3\xa9\n",
            )
        elif cmd == "exit":
            return int(arg)
        elif cmd == "garbage":
            sys.stdout.buffer.write(b"this is not a frame\n" * 4)
            sys.stdout.buffer.flush()
        elif cmd in ("slow", "fail"):
            flags[cmd] = arg
        elif cmd == "retype":
            col, _, new_type = arg.partition(" ")
            flags.setdefault("retype", {})[col] = new_type
        elif cmd in (
            "double",
            "drop",
            "allow-empty",
            "no-status",
            "bad-name",
            "dup-name",
            "bad-type",
            "miscount",
        ):
            flags[cmd] = True
        else:
            print("fake_runner: unknown command %r" % cmd, file=sys.stderr)
            return 99
    return None


def schema(job: dict, flags: dict) -> dict:
    cols = [{"name": c["name"], "kind": c["kind"], "type": out_type(c)} for c in job["columns"]]
    if cols and flags.get("bad-name"):
        cols[0]["name"] = "1bad"
    if cols and flags.get("dup-name"):
        cols.append(dict(cols[0]))
    if cols and flags.get("bad-type"):
        cols[0]["type"] = "xml"
    for c in cols:
        c["type"] = flags.get("retype", {}).get(c["name"], c["type"])
    return {"columns": cols}


def main() -> int:
    kind, payload = read_frame()
    if kind != "J":
        print("fake_runner: expected JOB, got %r" % kind, file=sys.stderr)
        return 3
    job = json.loads(payload)
    flags: dict = {}
    status = run_commands(job, flags)
    if status is not None:
        return status
    send_json("R", {"whole_table": False, "allow_empty": bool(flags.get("allow-empty"))})
    send_json("H", schema(job, flags))
    rows_in = rows_out = 0
    while True:
        kind, payload = read_frame()
        if kind == "E":
            break
        if kind != "B":
            print("fake_runner: expected BATCH or END, got %r" % kind, file=sys.stderr)
            return 3
        nrows = struct.unpack("<I", payload[:4])[0]
        rows_in += nrows
        if "slow" in flags:
            time.sleep(float(flags["slow"]))
        copies = 0 if flags.get("drop") else 2 if flags.get("double") else 1
        for _ in range(copies):
            send("B", payload)
            rows_out += nrows
        send_json("M", {"rows_in": rows_in, "rows_out": rows_out})
    if flags.get("no-status"):
        return 0
    if "fail" in flags:
        code, _, message = flags["fail"].partition(" ")
        send_json(
            "S",
            {
                "ok": False,
                "error_code": code,
                "message": message,
                "line": 2,
                "column": 5,
                "traceback": "  line 2, in transform\n",
            },
        )
        return 1
    if flags.get("miscount"):
        rows_out += 1
    send_json("S", {"ok": True, "rows_in": rows_in, "rows_out": rows_out})
    return 0


if __name__ == "__main__":
    sys.exit(main())
