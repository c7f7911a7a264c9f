"""A stand-in for the sandbox runner in the job-system tests.

The worker starts it (TW_SANDBOX_COMMAND) as a sandboxed child and writes
the job to its stdin as one JSON line. The job's code_text is not Python
here but a list of commands, one per line, that make the child behave the
way a test needs:

    say TEXT          print TEXT on stdout
    err TEXT          print TEXT on stderr
    lines N           print N numbered lines on stdout
    raw               write bytes that are not UTF-8, and a NUL, on stdout
    job               print the job it was given, as JSON
    env               print the names of its environment variables
    pid               print "pid N" with its process id
    spawn             start a grandchild that sleeps, print "grandchild N"
    sleep S           sleep S seconds (a float)
    sleep-first S     sleep S seconds on the job's first attempt only
    spin S            burn CPU for S seconds
    eat MB            allocate and touch MB MiB in 8 MiB steps, then sleep 30 s
    record PATH       append "<job_id> <pid>" to PATH
    whoami            print "whoami uid=N gid=N groups=N,N"
    peek PATH         try to read PATH ("{ppid}" in it is replaced by the
                      parent's pid); print "peek PATH ok HEX" with what it
                      read, or "peek PATH error ERRNO-NAME"
    controls          print text with terminal controls in it: ESC [31m,
                      an OSC title, CR, BS, BEL, DEL and C1 controls
    exit N            exit with status N

Lines the test writes are executed in order; the child exits 0 at the end.
"""

import errno
import json
import os
import subprocess
import sys
import time


def main() -> int:
    job = json.loads(sys.stdin.readline())
    for line in job["code_text"].splitlines():
        cmd, _, arg = line.strip().partition(" ")
        if not cmd or cmd.startswith("#"):
            continue
        if cmd == "say":
            print(arg, flush=True)
        elif cmd == "err":
            print(arg, file=sys.stderr, flush=True)
        elif cmd == "lines":
            for i in range(int(arg)):
                print("line %d of the job's output" % i)
            sys.stdout.flush()
        elif cmd == "raw":
            sys.stdout.buffer.write(b"bad \xff\xfe bytes \x00 nul\n")
            sys.stdout.flush()
        elif cmd == "job":
            print(json.dumps(job), flush=True)
        elif cmd == "env":
            print("env " + " ".join(sorted(os.environ)), flush=True)
        elif cmd == "pid":
            print("pid %d" % os.getpid(), flush=True)
        elif cmd == "spawn":
            child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
            print("grandchild %d" % child.pid, flush=True)
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
                f.write("%d %d\n" % (job["job_id"], os.getpid()))
        elif cmd == "whoami":
            groups = ",".join(str(g) for g in os.getgroups())
            print("whoami uid=%d gid=%d groups=%s" % (os.getuid(), os.getgid(), groups),
                  flush=True)
        elif cmd == "peek":
            path = arg.replace("{ppid}", str(os.getppid()))
            try:
                with open(path, "rb") as f:
                    data = f.read()
                print("peek %s ok %s" % (arg, data.hex()), flush=True)
            except OSError as e:
                print("peek %s error %s" % (arg, errno.errorcode.get(e.errno, e.errno)),
                      flush=True)
        elif cmd == "controls":
            sys.stdout.buffer.write(
                b"\x1b[31mred\x1b[0m\ttabbed\x1b]0;title\x07 plain\r\n"
                b"over\rwritten back\x08space bell\x07 del\x7f"
                b" c1\xc2\x85next\xc2\x9b31mcsi\xc2\x9f end \xc3\xa9\n"
            )
            sys.stdout.flush()
        elif cmd == "exit":
            return int(arg)
        else:
            print("fake_runner: unknown command %r" % cmd, file=sys.stderr)
            return 99
    return 0


if __name__ == "__main__":
    sys.exit(main())
