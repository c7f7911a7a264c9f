"""The HTTP layer through the real server: health, error format, security
headers, body cap, methods, static files and traversal attempts."""

import socket
import threading
from pathlib import Path

import requests

from conftest import Server, base_env, recv_all, start_server

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
        "object-src 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


def assert_error(resp: requests.Response, status: int, code: str) -> None:
    assert resp.status_code == status, resp.text
    assert resp.headers["Content-Type"].startswith("application/json")
    body = resp.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


def test_healthz(server: Server) -> None:
    r = server.get("/healthz")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json() == {"status": "ok", "database": "ok", "queue": "ok", "workers": 0}
    for k, v in SECURITY_HEADERS.items():
        assert r.headers[k] == v


def test_unknown_api_path_is_json_404(server: Server) -> None:
    r = server.get("/api/v1/nope")
    assert_error(r, 404, "not_found")
    for k, v in SECURITY_HEADERS.items():
        assert r.headers[k] == v


def test_wrong_method_is_405_with_allow(server: Server) -> None:
    r = server.request("DELETE", "/healthz")
    assert_error(r, 405, "method_not_allowed")
    assert "GET" in r.headers["Allow"]


def test_body_over_one_mib_is_413(server: Server) -> None:
    r = server.request(
        "POST", "/api/v1/openapi.json", data=b"x" * (1024 * 1024 + 1),
        headers={"Content-Type": "application/json"},
    )
    assert_error(r, 413, "payload_too_large")


def test_chunked_body_over_one_mib_is_413(server: Server) -> None:
    def chunks():
        for _ in range(20):
            yield b"y" * (64 * 1024)

    r = server.request(
        "POST", "/api/v1/openapi.json", data=chunks(),
        headers={"Content-Type": "application/json"},
    )
    assert_error(r, 413, "payload_too_large")


def test_openapi_document(server: Server) -> None:
    r = server.get("/api/v1/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert doc["openapi"].startswith("3.")
    assert "/healthz" in doc["paths"]


def test_placeholder_page_when_ui_not_built(server: Server) -> None:
    r = server.get("/")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/html")
    assert "/healthz" in r.text


def test_static_files_and_traversal(tmp_path: Path, migrated: str) -> None:
    web = tmp_path / "web"
    (web / "assets").mkdir(parents=True)
    (web / "index.html").write_text("<!doctype html><title>tw</title>")
    (web / "assets" / "app.js").write_text("console.log(1)")
    (web / ".hidden").write_text("secret")
    (tmp_path / "outside.txt").write_text("outside")
    env = base_env(tmp_path, TW_DATABASE_URL=migrated, TW_WEB_DIR=str(web))
    srv = start_server(tmp_path, env)
    try:
        r = srv.get("/")
        assert r.status_code == 200 and "<title>tw</title>" in r.text
        assert r.headers["Content-Type"].startswith("text/html")
        for k, v in SECURITY_HEADERS.items():
            assert r.headers[k] == v
        r = srv.get("/assets/app.js")
        assert r.status_code == 200 and r.text == "console.log(1)"
        assert "javascript" in r.headers["Content-Type"]
        # Client-side routes fall back to the app's index.html.
        assert "<title>tw</title>" in srv.get("/jobs/12").text
        assert srv.get("/assets/missing.js").status_code == 404
        assert srv.get("/.hidden").status_code == 404
        host, port = srv.url.removeprefix("http://").split(":")
        for raw in (
            "/../outside.txt",
            "/assets/../../outside.txt",
            "/%2e%2e/outside.txt",
            "/assets/%2e%2e/%2e%2e/outside.txt",
            "/..%2foutside.txt",
            "/assets/..%5c..%5coutside.txt",
            "/index.html%00.js",
            "/../../../../etc/passwd",
        ):
            status, body = raw_get(host, int(port), raw)
            assert "outside" not in body and "root:" not in body, raw
            assert status in (400, 404), (raw, status)
    finally:
        assert srv.stop() == 0


def raw_get(host: str, port: int, path: str) -> tuple[int, str]:
    """A GET with the path sent byte for byte (no client normalisation)."""
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = recv_all(s)
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, body.decode(errors="replace")


def test_many_concurrent_requests(server: Server) -> None:
    errors: list[str] = []

    def worker() -> None:
        with requests.Session() as s:
            for _ in range(20):
                r = s.get(server.url + "/healthz", timeout=10)
                if r.status_code != 200:
                    errors.append(r.text)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_bad_request_line_does_not_kill_the_server(server: Server) -> None:
    host, port = server.url.removeprefix("http://").split(":")
    for junk in (b"\x00\x01garbage\r\n\r\n", b"GET /healthz HTTP/9.9\r\n\r\n",
                 b"GET " + b"a" * 100000 + b" HTTP/1.1\r\n\r\n"):
        with socket.create_connection((host, int(port)), timeout=10) as s:
            s.settimeout(3)
            try:
                s.sendall(junk)
                s.shutdown(socket.SHUT_WR)
                s.recv(1024)
            except OSError:
                pass  # the server may just close the connection
    r = server.get("/healthz")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"
