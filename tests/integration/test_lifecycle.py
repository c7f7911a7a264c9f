"""Graceful stop: SIGINT/SIGTERM finish in-flight requests and exit 0."""

import signal
import socket
import time
from pathlib import Path

import pytest

from conftest import base_env, recv_all, start_server


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_cleanly(tmp_path: Path, migrated: str, sig: int) -> None:
    srv = start_server(tmp_path, base_env(tmp_path, TW_DATABASE_URL=migrated))
    assert srv.get("/healthz").status_code == 200
    assert srv.stop(sig) == 0, srv.stderr()
    log = (tmp_path / "logs" / "app.log").read_text()
    assert "shutting down" in log


def test_in_flight_request_completes_during_shutdown(tmp_path: Path, migrated: str) -> None:
    srv = start_server(tmp_path, base_env(tmp_path, TW_DATABASE_URL=migrated))
    host, port = srv.url.removeprefix("http://").split(":")
    s = socket.create_connection((host, int(port)), timeout=10)
    try:
        # Half a request is in flight when the signal arrives.
        s.sendall(
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n"
            b"Connection: close\r\n\r\n01234"
        )
        time.sleep(0.3)
        srv.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert srv.proc.poll() is None, "server quit with a request in flight"
        s.sendall(b"56789")
        data = recv_all(s)
        assert data.startswith(b"HTTP/1.1 "), data[:100]
    finally:
        s.close()
    assert srv.stop() == 0, srv.stderr()
    # New connections are refused once stopped.
    with pytest.raises(OSError):
        socket.create_connection((host, int(port)), timeout=2)
