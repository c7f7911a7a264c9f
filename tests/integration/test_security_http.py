"""The HTTP layer under attack (issue 9, items 1, 4, 13 and 14): many slow
connections from one address, request heads and bodies that never finish,
request smuggling through ambiguous framing, the Content-Security-Policy on
every kind of reply, and the 413 for a big body reaching clients that send
the whole body before they read."""

from __future__ import annotations

import json
import select
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from conftest import Server, base_env, start_server

CSP = (
    "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'; form-action 'self'"
)


def host_port(server: Server) -> tuple[str, int]:
    host, port = server.url.removeprefix("http://").split(":")
    return host, int(port)


def app_log(server: Server) -> str:
    return (server.workdir / "logs" / "app.log").read_text(errors="replace")


def read_until_closed(sock: socket.socket, timeout: float) -> tuple[bytes, bool]:
    """Everything the server sends until it closes the connection or
    timeout seconds pass; the flag says whether it closed."""
    data = b""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return data, False
        ready, _, _ = select.select([sock], [], [], left)
        if not ready:
            continue
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            return data, True
        if not chunk:
            return data, True
        data += chunk


def wait_for_log(server: Server, text: str) -> None:
    """Waits for text in app.log: the server writes the line just after it
    closed the connection the test saw closing."""
    deadline = time.monotonic() + 5
    while text not in app_log(server):
        assert time.monotonic() < deadline, app_log(server)
        time.sleep(0.05)


def healthz_from(source: str, server: Server) -> tuple[float, bytes]:
    """GET /healthz on a connection from the given local address; returns
    the time it took and the raw reply."""
    t0 = time.monotonic()
    with socket.create_connection(host_port(server), timeout=5, source_address=(source, 0)) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data, _ = read_until_closed(s, 5)
    return time.monotonic() - t0, data


class Trickler:
    """n connections from 127.0.0.1 that each send one more byte of a
    request head that never ends, every `every` seconds, on a thread."""

    def __init__(self, server: Server, n: int, every: float) -> None:
        self.socks: list[socket.socket] = []
        for _ in range(n):
            s = socket.create_connection(host_port(server), timeout=5)
            s.setblocking(False)
            self.socks.append(s)
        self.every = every
        self.sent = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100000
        while not self.stop.is_set():
            byte = head[self.sent : self.sent + 1]
            for s in self.socks:
                try:
                    s.send(byte)
                except OSError:
                    pass  # refused or closed by the server: what it may do
            self.sent += 1
            self.stop.wait(self.every)

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        for s in self.socks:
            s.close()


# --- item 1: connection exhaustion ------------------------------------------


def test_trickling_connections_from_one_address_leave_room_for_others(server: Server) -> None:
    # 300 connections from 127.0.0.1, each trickling its head a byte at a
    # time (which resets libmicrohttpd's idle timeout), are more than the
    # server's old limit of 256 connections in all.
    attack = Trickler(server, 300, 0.5)
    try:
        # Let the server accept (or refuse) all 300 before measuring.
        time.sleep(1)
        took = []
        for _ in range(8):
            t, reply = healthz_from("127.0.0.2", server)
            assert reply.startswith(b"HTTP/1.1 200 "), reply[:200]
            took.append(t)
            time.sleep(0.5)  # spread over several bytes of the attack
        assert max(took) < 1, took
        assert attack.sent >= 8  # the attack went on all the while
    finally:
        attack.close()
    r = server.get("/healthz")
    assert r.status_code == 200


def test_connections_per_address_are_capped(migrated: str, tmp_path: Path) -> None:
    env = base_env(tmp_path, TW_DATABASE_URL=migrated, TW_HTTP_MAX_CONNECTIONS_PER_ADDR="4")
    srv = start_server(tmp_path, env)
    held: list[socket.socket] = []
    try:
        for _ in range(4):
            s = socket.create_connection(host_port(srv), timeout=5)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # unfinished head
            held.append(s)
        # The fifth from the same address is closed without a reply ...
        with socket.create_connection(host_port(srv), timeout=5) as s:
            try:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            except OSError:
                pass
            data, closed = read_until_closed(s, 5)
        assert closed and data == b"", data[:200]
        # ... while another address is served.
        _, reply = healthz_from("127.0.0.2", srv)
        assert reply.startswith(b"HTTP/1.1 200 "), reply[:200]
    finally:
        for s in held:
            s.close()
        assert srv.stop() == 0, srv.stderr()


@pytest.fixture
def quick_deadlines(migrated: str, tmp_path: Path) -> Iterator[Server]:
    """A server whose request heads and bodies are due within 2 s."""
    env = base_env(
        tmp_path,
        TW_DATABASE_URL=migrated,
        TW_HTTP_HEAD_TIMEOUT_S="2",
        TW_HTTP_BODY_TIMEOUT_S="2",
    )
    srv = start_server(tmp_path, env)
    try:
        yield srv
    finally:
        code = srv.stop()
        assert code == 0, "server exited with %s: %s" % (code, srv.stderr())


def time_until_closed(sock: socket.socket, data: bytes, every: float, limit: float) -> float:
    """Sends data a byte every `every` seconds until the server closes the
    connection; returns how long that took, or fails after limit seconds."""
    sock.setblocking(False)
    t0 = time.monotonic()
    i = 0
    while time.monotonic() - t0 < limit:
        try:
            if i < len(data):
                sock.send(data[i : i + 1])
                i += 1
        except OSError:
            return time.monotonic() - t0
        ready, _, _ = select.select([sock], [], [], every)
        if ready:
            try:
                if sock.recv(65536) == b"":
                    return time.monotonic() - t0
            except OSError:
                return time.monotonic() - t0
    raise AssertionError(f"the connection was still open after {limit} s ({i} bytes sent)")


def test_a_head_that_keeps_trickling_is_closed_at_its_deadline(quick_deadlines: Server) -> None:
    srv = quick_deadlines
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 1000
    with socket.create_connection(host_port(srv), timeout=5) as s:
        took = time_until_closed(s, head, 0.2, 10)
    # A byte every 0.2 s would keep it open for good under an idle
    # timeout; the deadline is 2 s (checked every 0.1 s).
    assert 1.8 <= took < 4, took
    wait_for_log(srv, "did not send a complete request head within 2 s")
    # A client that sends its head at once is not affected.
    assert srv.get("/healthz").status_code == 200


def test_a_body_that_keeps_trickling_is_closed_at_its_deadline(quick_deadlines: Server) -> None:
    srv = quick_deadlines
    with socket.create_connection(host_port(srv), timeout=5) as s:
        s.sendall(
            b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
        )
        took = time_until_closed(s, b" " * 1000, 0.2, 10)
    assert 1.8 <= took < 4, took
    wait_for_log(srv, "request body not complete in time")


def test_kept_alive_connections_still_work_with_deadlines(quick_deadlines: Server) -> None:
    srv = quick_deadlines
    with requests.Session() as s:
        # Several requests on one connection within the deadline ...
        for _ in range(3):
            assert s.get(srv.url + "/healthz", timeout=10).status_code == 200
        # ... and, after the server closed the idle connection, on a new one.
        time.sleep(2.5)
        assert s.get(srv.url + "/healthz", timeout=10).status_code == 200


# --- item 4: request smuggling -----------------------------------------------

FRONT = b"POST /healthz HTTP/1.1\r\nHost: x\r\n"


def hidden(tag: str) -> bytes:
    return f"GET /api/v1/smuggled-{tag} HTTP/1.1\r\nHost: x\r\n\r\n".encode()


def _smuggling_variants() -> dict[str, bytes]:
    v: dict[str, bytes] = {}
    h = hidden("a")
    v["a"] = FRONT + b"Content-Length: 0\r\nContent-Length: %d\r\n\r\n" % len(h) + h
    h = hidden("b")
    v["b"] = FRONT + b"Content-Length: %d\r\nContent-Length: 0\r\n\r\n" % len(h) + h
    h = hidden("c")
    v["c"] = FRONT + b"Content-Length: 0\r\nContent-Length: 0\r\n\r\n" + h
    h = hidden("d")
    v["d"] = (
        FRONT + b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" % (5 + len(h))
        + h
    )
    h = hidden("e")
    v["e"] = FRONT + b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" + h
    h = hidden("f")
    v["f"] = FRONT + b"Transfer-Encoding: xchunked\r\n\r\n" + h
    h = hidden("g")
    te = b"Transfer-Encoding: chunked\r\n"
    v["g"] = FRONT + te + te + b"\r\n0\r\n\r\n" + h
    h = hidden("h")
    v["h"] = (
        b"POST /healthz HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + h
    )
    h = hidden("i")
    v["i"] = FRONT + b"Content-Length : %d\r\n\r\n" % len(h) + h
    h = hidden("j")
    v["j"] = FRONT + b"Content-Length: 0\r\n %d\r\n\r\n" % len(h) + h
    h = hidden("k")
    v["k"] = FRONT + b"Transfer-Encoding: chunked\r\n  , identity\r\n\r\n" + h
    return v


SMUGGLING = _smuggling_variants()


def test_ambiguous_framing_is_refused_and_nothing_hidden_runs(server: Server) -> None:
    failures = []
    for tag, data in SMUGGLING.items():
        with socket.create_connection(host_port(server), timeout=5) as s:
            s.sendall(data)
            reply, closed = read_until_closed(s, 3)
        head, _, body = reply.partition(b"\r\n\r\n")
        problems = []
        n = reply.count(b"HTTP/1.1 ")
        if n > 1:
            problems.append(f"{n} replies: the hidden request was answered")
        elif n == 0:
            problems.append("no reply")
        if not head.startswith(b"HTTP/1.1 400 "):
            problems.append("not a 400")
        elif b"bad_request" not in body:
            problems.append("not the API's error body")
        if not closed:
            problems.append("the connection stayed open")
        if problems:
            failures.append((tag, problems, reply[:300]))
    assert not failures, "\n".join(f"{t}: {', '.join(p)}: {r!r}" for t, p, r in failures)
    # Nothing after the head of a refused request reached a handler.
    assert "smuggled" not in app_log(server)
    assert server.get("/healthz").status_code == 200


def test_a_refused_request_carries_the_security_headers(server: Server) -> None:
    r = requests.post(
        server.url + "/healthz",
        data=b"{}",
        headers={"Transfer-Encoding": "chunked", "Content-Length": "2"},
        timeout=10,
    )
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "bad_request"
    assert r.headers["Content-Security-Policy"] == CSP
    assert r.headers["Connection"] == "close"


def test_plain_requests_are_still_accepted(server: Server) -> None:
    with socket.create_connection(host_port(server), timeout=5) as s:
        body = b'{"email":"a@example.com","password":"x"}'
        s.sendall(
            b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body
            + b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
            b"Connection: close\r\n\r\n%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"
        )
        reply, closed = read_until_closed(s, 5)
    # Two requests, two replies (wrong password: 401 or 429, never 400).
    assert reply.count(b"HTTP/1.1 ") == 2, reply[:500]
    assert b"HTTP/1.1 400" not in reply, reply[:500]
    assert closed


# --- item 13: the Content-Security-Policy --------------------------------------


def test_every_kind_of_reply_carries_the_csp(migrated: str, tmp_path: Path) -> None:
    web = tmp_path / "web"
    (web / "assets").mkdir(parents=True)
    (web / "index.html").write_text("<!doctype html><title>tw</title>")
    (web / "assets" / "app.js").write_text("console.log(1)")
    env = base_env(tmp_path, TW_DATABASE_URL=migrated, TW_WEB_DIR=str(web))
    srv = start_server(tmp_path, env)
    try:
        replies = {
            "api json": srv.get("/healthz"),
            "api 404": srv.get("/api/v1/nope"),
            "405": srv.request("DELETE", "/healthz"),
            "401": srv.get("/api/v1/auth/me"),
            "413": srv.request("POST", "/api/v1/auth/login", data=b"x" * (2 << 20)),
            "static index": srv.get("/"),
            "static file": srv.get("/assets/app.js"),
            "spa fallback": srv.get("/jobs/12"),
            "static 404": srv.get("/assets/missing.js"),
        }
        statuses = {k: r.status_code for k, r in replies.items()}
        assert statuses == {
            "api json": 200,
            "api 404": 404,
            "405": 405,
            "401": 401,
            "413": 413,
            "static index": 200,
            "static file": 200,
            "spa fallback": 200,
            "static 404": 404,
        }
        for kind, r in replies.items():
            assert r.headers.get("Content-Security-Policy") == CSP, kind
            assert r.headers.get("X-Frame-Options") == "DENY", kind
            assert r.headers.get("X-Content-Type-Options") == "nosniff", kind
    finally:
        assert srv.stop() == 0, srv.stderr()


# --- item 14: the 413 reaches clients that send before they read ---------------


@pytest.mark.parametrize("mib", [2, 8])
def test_urllib_gets_the_413_for_a_big_body(server: Server, mib: int) -> None:
    req = urllib.request.Request(
        server.url + "/api/v1/auth/login",
        data=b"x" * (mib << 20),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(req, timeout=30)
    err = caught.value
    assert err.code == 413
    assert err.headers["Content-Type"].startswith("application/json")
    assert err.headers["Content-Security-Policy"] == CSP
    assert json.loads(err.read())["error"]["code"] == "payload_too_large"
    # The connection was not reset: the server goes on serving.
    assert server.get("/healthz").status_code == 200


def test_a_big_body_announced_with_expect_continue_is_refused_at_once(server: Server) -> None:
    with socket.create_connection(host_port(server), timeout=5) as s:
        s.sendall(
            b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nContent-Length: 8388608\r\n"
            b"Expect: 100-continue\r\n\r\n"
        )
        reply, closed = read_until_closed(s, 5)
    assert reply.startswith(b"HTTP/1.1 413 "), reply[:200]
    assert b"100 Continue" not in reply
    assert b"payload_too_large" in reply
    assert closed


def test_event_streams_outlive_the_deadlines(migrated: str, tmp_path: Path) -> None:
    # The job event stream's helpers, imported rather than copied.
    from test_jobs_api import EventStream, body, make_env, serve, set_status, setup_db, submit

    setup_db(migrated)
    srv = serve(tmp_path, migrated, TW_HTTP_HEAD_TIMEOUT_S="1", TW_HTTP_BODY_TIMEOUT_S="1")
    stream = None
    try:
        env = make_env(srv, migrated)
        jid = submit(env.analyst, body(env))
        stream = EventStream(env.analyst, jid)
        stream.wait_for(lambda evs: len(evs) >= 1, 5)
        # A stream's head and body are complete: the deadlines (1 s) do
        # not apply to its reply, which lasts as long as the job.
        time.sleep(3)
        assert not stream.done.is_set(), stream.error
        seq = set_status(migrated, jid, "running")
        stream.wait_for(lambda evs: evs[-1].id == seq, 3)
    finally:
        if stream:
            stream.close()
        assert srv.stop() == 0, srv.stderr()
