"""Shared fixtures for the auth and users tests: a server with fast bcrypt,
one user of each role, and an API client that carries a bearer token.

Test modules load this file with `pytest_plugins = ("authfixtures",)` and
import the helpers they call by name.

Users are created straight in the database with Python's bcrypt (cost 10),
in add_user() only, so that moving to `tablewright user add` is a change in
one place.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bcrypt
import psycopg
import pytest
import requests
from requests.adapters import HTTPAdapter

from conftest import Server, base_env, start_server

LOGIN = "/api/v1/auth/login"
ME = "/api/v1/auth/me"
PASSWORD = "/api/v1/auth/password"
USERS = "/api/v1/users"

# Short enough to read in a failure, long enough to pass the 8-byte minimum.
PASSWORDS = {
    "admin": "admin-Secret-1",
    "analyst": "analyst-Secret-2",
    "viewer": "viewer-Secret-3",
}

# Every test server signs tokens for this long, so tests can check exp - iat.
JWT_TTL_S = 600


@dataclass
class User:
    id: int
    email: str
    password: str
    role: str


def add_user(db_url: str, email: str, password: str, role: str, disabled: bool = False) -> int:
    """Creates a user the way an operator would before the API is up, and
    returns its id. (Straight into the table until the CLI's `user add`
    is in every build the suite runs against.)"""
    pw_hash = bcrypt.hashpw(password.encode(), bcrypt.gensalt(10)).decode()
    with psycopg.connect(db_url, autocommit=True) as conn:
        row = conn.execute(
            "INSERT INTO tablewright.users (email, password_hash, role, disabled) "
            "VALUES (lower(%s), %s, %s, %s) RETURNING id",
            (email, pw_hash, role, disabled),
        ).fetchone()
    assert row is not None
    return int(row[0])


class _SourceAddressAdapter(HTTPAdapter):
    """Connects from a chosen local address (127.0.0.2, ...), so one test
    can look like several clients to the per-address throttle."""

    def __init__(self, source: str) -> None:
        self._source = source
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self._source, 0)
        super().init_poolmanager(*args, **kwargs)


class Api:
    """A client of one server: sends JSON, carries a token when it has one."""

    def __init__(self, server: Server, token: str | None = None, source: str | None = None):
        self.server = server
        self.token = token
        self.source = source
        self.session = requests.Session()
        if source:
            adapter = _SourceAddressAdapter(source)
            self.session.mount("http://", adapter)

    def request(
        self,
        method: str,
        path: str,
        json_body: Any = None,
        *,
        data: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> requests.Response:
        hdrs: dict[str, str] = {}
        if self.token is not None:
            hdrs["Authorization"] = f"Bearer {self.token}"
        if json_body is not None:
            data = json.dumps(json_body)
            hdrs["Content-Type"] = "application/json"
        hdrs.update(headers or {})
        return self.session.request(
            method, self.server.url + path, data=data, headers=hdrs, params=params, timeout=30
        )

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, json_body: Any = None, **kw: Any) -> requests.Response:
        return self.request("POST", path, json_body, **kw)

    def patch(self, path: str, json_body: Any = None, **kw: Any) -> requests.Response:
        return self.request("PATCH", path, json_body, **kw)

    def anonymous(self) -> Api:
        return Api(self.server, None, self.source)

    def with_token(self, token: str | None) -> Api:
        return Api(self.server, token, self.source)

    def from_address(self, source: str) -> Api:
        return Api(self.server, self.token, source)

    def login(self, email: str, password: str) -> requests.Response:
        return self.anonymous().post(LOGIN, {"email": email, "password": password})

    def as_user(self, email: str, password: str) -> Api:
        r = self.login(email, password)
        assert r.status_code == 200, r.text
        return self.with_token(r.json()["access_token"])


def assert_error(resp: requests.Response, status: int, code: str) -> dict[str, Any]:
    """The API's error shape with the given status and code; returns the
    inner object."""
    assert resp.status_code == status, (resp.status_code, resp.text)
    assert resp.headers["Content-Type"].startswith("application/json")
    body = resp.json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def auth_env(workdir: Path, db_url: str, **overrides: str | None) -> dict[str, str]:
    """The environment of an auth test server: bcrypt cost 10 (fast), a
    known token lifetime, and whatever the test overrides."""
    settings: dict[str, str | None] = {
        "TW_DATABASE_URL": db_url,
        "TW_BCRYPT_COST": "10",
        "TW_JWT_TTL_S": str(JWT_TTL_S),
    }
    settings.update(overrides)
    return base_env(workdir, **settings)


@contextmanager
def running_server(workdir: Path, db_url: str, **overrides: str | None) -> Iterator[Server]:
    """`tablewright serve` with auth_env(), stopped (and checked for a
    clean exit) afterwards."""
    srv = start_server(workdir, auth_env(workdir, db_url, **overrides))
    try:
        yield srv
    finally:
        code = srv.stop()
        assert code == 0, "server exited with %s: %s" % (code, srv.stderr())


@pytest.fixture
def auth_server(migrated: str, tmp_path: Path) -> Iterator[Server]:
    with running_server(tmp_path, migrated) as srv:
        yield srv


@pytest.fixture
def api(auth_server: Server) -> Api:
    """An anonymous client of auth_server."""
    return Api(auth_server)


def _role_user(db_url: str, role: str) -> User:
    email = f"{role}@example.com"
    uid = add_user(db_url, email, PASSWORDS[role], role)
    return User(uid, email, PASSWORDS[role], role)


@pytest.fixture
def admin(migrated: str) -> User:
    return _role_user(migrated, "admin")


@pytest.fixture
def analyst(migrated: str) -> User:
    return _role_user(migrated, "analyst")


@pytest.fixture
def viewer(migrated: str) -> User:
    return _role_user(migrated, "viewer")


@pytest.fixture
def admin_api(api: Api, admin: User) -> Api:
    """A client signed in as the admin."""
    return api.as_user(admin.email, admin.password)
