"""`init` creates the first admin; `tablewright user ...` manages accounts
from the command line."""

import re
from pathlib import Path

import psycopg
import requests

from conftest import base_env, run_tw, start_server


def users(url: str) -> dict[str, tuple[str, bool]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT email, role, disabled FROM tablewright.users").fetchall()
    return {email: (role, disabled) for email, role, disabled in rows}


def login(base: str, email: str, password: str) -> requests.Response:
    return requests.post(
        base + "/api/v1/auth/login", json={"email": email, "password": password}, timeout=30
    )


def test_init_creates_the_admin_from_stdin(tmp_path: Path, database: str) -> None:
    env = base_env(tmp_path, TW_DATABASE_URL=database, TW_BCRYPT_COST="10")
    res = run_tw(
        ["init", "--admin-email", "Boss@Example.com", "--admin-password-stdin"],
        tmp_path, env, stdin="correct horse battery\n",
    )
    assert res.returncode == 0, res.stderr
    assert "created the admin user boss@example.com" in res.stdout
    assert "correct horse battery" not in res.stdout + res.stderr
    assert users(database) == {"boss@example.com": ("admin", False)}
    # A second init leaves the existing admin alone.
    again = run_tw(["init", "--admin-email", "other@example.com"], tmp_path, env)
    assert again.returncode == 0, again.stderr
    assert users(database) == {"boss@example.com": ("admin", False)}
    srv = start_server(tmp_path, env)
    try:
        assert login(srv.url, "boss@example.com", "correct horse battery").status_code == 200
    finally:
        assert srv.stop() == 0


def test_init_generates_and_prints_a_password_once(tmp_path: Path, database: str) -> None:
    env = base_env(tmp_path, TW_DATABASE_URL=database, TW_BCRYPT_COST="10")
    res = run_tw(["init"], tmp_path, env)
    assert res.returncode == 0, res.stderr
    m = re.search(r"its generated password is (\S+) ", res.stdout)
    assert m, res.stdout
    password = m.group(1)
    assert len(password) == 24
    logs = "".join(p.read_text() for p in (tmp_path / "logs").iterdir())
    assert password not in logs
    srv = start_server(tmp_path, env)
    try:
        r = login(srv.url, "admin@localhost", password)
        assert r.status_code == 200, r.text
        assert r.json()["user"]["role"] == "admin"
    finally:
        assert srv.stop() == 0


def test_user_commands(tmp_path: Path, migrated: str) -> None:
    env = base_env(tmp_path, TW_DATABASE_URL=migrated, TW_BCRYPT_COST="10")

    def tw(*args: str, stdin: str | None = None):
        return run_tw(list(args), tmp_path, env, stdin=stdin)

    r = tw("user", "add", "--email", "ana@example.com", "--role", "analyst",
           "--password-stdin", stdin="analyst-pass-1\n")
    assert r.returncode == 0, r.stderr
    assert users(migrated)["ana@example.com"] == ("analyst", False)

    r = tw("user", "add", "--email", "ANA@example.com", "--role", "viewer",
           "--password-stdin", stdin="another-pass\n")
    assert r.returncode == 1
    assert "already exists" in r.stderr

    r = tw("user", "add", "--email", "v@example.com", "--role", "root",
           "--password-stdin", stdin="viewer-pass-1\n")
    assert r.returncode == 1 and "role" in r.stderr

    r = tw("user", "add", "--email", "v@example.com", "--role", "viewer",
           "--password-stdin", stdin="short\n")
    assert r.returncode == 1 and "password" in r.stderr

    r = tw("user", "add", "--email", "v@example.com", "--role", "viewer")
    assert r.returncode == 1 and "--password-stdin" in r.stderr

    r = tw("user", "add", "--role", "viewer")
    assert r.returncode == 2 and "--email" in r.stderr

    r = tw("user", "frob")
    assert r.returncode == 2

    srv = start_server(tmp_path, env)
    try:
        assert login(srv.url, "ana@example.com", "analyst-pass-1").status_code == 200
        token = login(srv.url, "ana@example.com", "analyst-pass-1").json()["access_token"]
        me = lambda: requests.get(  # noqa: E731
            srv.url + "/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert me().status_code == 200

        r = tw("user", "set-password", "--email", "ana@example.com", "--password-stdin",
               stdin="analyst-pass-2\n")
        assert r.returncode == 0, r.stderr
        assert me().status_code == 401  # older tokens stop working
        assert login(srv.url, "ana@example.com", "analyst-pass-1").status_code == 401
        assert login(srv.url, "ana@example.com", "analyst-pass-2").status_code == 200

        r = tw("user", "disable", "--email", "ana@example.com")
        assert r.returncode == 0, r.stderr
        assert login(srv.url, "ana@example.com", "analyst-pass-2").status_code == 401
        r = tw("user", "enable", "--email", "ana@example.com")
        assert r.returncode == 0, r.stderr
        assert login(srv.url, "ana@example.com", "analyst-pass-2").status_code == 200
    finally:
        assert srv.stop() == 0

    r = tw("user", "disable", "--email", "nobody@example.com")
    assert r.returncode == 1
    assert "no user with the email nobody@example.com" in r.stderr

    r = tw("user", "list")
    assert r.returncode == 0
    assert re.search(r"ana@example.com\s+analyst\s+active", r.stdout)
