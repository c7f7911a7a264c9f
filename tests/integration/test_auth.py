"""Sign-in, tokens and throttling through the real server: POST
/api/v1/auth/login, GET /api/v1/auth/me, POST /api/v1/auth/password and the
bearer-token check every authenticated route goes through."""

from __future__ import annotations

import json
import re
import statistics
import time
from pathlib import Path

import jwt
import pytest

# Before the import, so the helpers' asserts are rewritten too.
pytest.register_assert_rewrite("authfixtures")

from authfixtures import (  # noqa: E402
    JWT_TTL_S,
    LOGIN,
    ME,
    PASSWORD,
    USERS,
    Api,
    User,
    add_user,
    assert_error,
    b64url,
    b64url_decode,
    running_server,
)

from conftest import Server  # noqa: E402

pytest_plugins = ("authfixtures",)

RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def secret(server: Server) -> str:
    return server.env["TW_SECRET_KEY"]


def claims_for(user: User, **changes: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {
        "sub": str(user.id),
        "role": user.role,
        "iat": now,
        "exp": now + 300,
        "tv": 0,
    }
    claims.update(changes)
    return claims


# --- signing in -------------------------------------------------------------


def test_login_returns_a_token_pyjwt_verifies(api: Api, admin: User) -> None:
    before = int(time.time())
    r = api.login(admin.email, admin.password)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "user"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == JWT_TTL_S
    assert body["user"] == {"id": admin.id, "email": admin.email, "role": "admin"}

    token = body["access_token"]
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "HS256"
    claims = jwt.decode(token, secret(api.server), algorithms=["HS256"])
    assert set(claims) == {"sub", "role", "iat", "exp", "tv"}
    assert claims["sub"] == str(admin.id)
    assert claims["role"] == "admin"
    assert claims["tv"] == 0
    assert before - 2 <= claims["iat"] <= time.time() + 2
    assert claims["exp"] - claims["iat"] == JWT_TTL_S


def test_login_token_opens_me(api: Api, admin: User) -> None:
    me = api.as_user(admin.email, admin.password).get(ME)
    assert me.status_code == 200, me.text
    body = me.json()
    assert set(body) == {"id", "email", "role", "disabled", "created_at"}
    assert body["id"] == admin.id
    assert body["email"] == admin.email
    assert body["role"] == "admin"
    assert body["disabled"] is False
    assert RFC3339_UTC.match(body["created_at"]), body["created_at"]


def test_login_email_is_case_insensitive_and_trimmed(api: Api, admin: User) -> None:
    r = api.login("  ADMIN@Example.COM ", admin.password)
    assert r.status_code == 200, r.text
    assert r.json()["user"]["email"] == admin.email


def test_unknown_email_and_wrong_password_get_the_same_401(api: Api, admin: User) -> None:
    unknown = api.login("nobody@example.com", admin.password)
    wrong = api.login(admin.email, "not-the-password")
    assert_error(unknown, 401, "invalid_credentials")
    assert_error(wrong, 401, "invalid_credentials")
    assert unknown.json() == wrong.json()
    assert unknown.headers.get("WWW-Authenticate") == wrong.headers.get("WWW-Authenticate")


def test_password_past_72_bytes_does_not_pass_on_its_prefix(api: Api, migrated: str) -> None:
    # bcrypt reads 72 bytes: "the right 72 bytes plus anything" must fail.
    pw = "p" * 72
    add_user(migrated, "long@example.com", pw, "viewer")
    assert api.login("long@example.com", pw).status_code == 200
    assert_error(api.login("long@example.com", pw + "x"), 401, "invalid_credentials")


def test_short_login_password_is_just_wrong(api: Api, admin: User) -> None:
    # Password rules apply to new passwords; at sign-in, only "wrong".
    assert_error(api.login(admin.email, "1234567"), 401, "invalid_credentials")


@pytest.mark.parametrize(
    "body, status, code",
    [
        ({"email": "admin@example.com"}, 422, "validation_failed"),
        ({"password": "x"}, 422, "validation_failed"),
        ({"email": "admin@example.com", "password": ""}, 422, "validation_failed"),
        ({"email": "admin@example.com", "password": 12345678}, 422, "validation_failed"),
        ({"email": ["admin@example.com"], "password": "x"}, 422, "validation_failed"),
        ({"email": None, "password": "x"}, 422, "validation_failed"),
        ({"email": "no-at-sign", "password": "x"}, 422, "validation_failed"),
        ({"email": "a" * 250 + "@x.com", "password": "x"}, 422, "validation_failed"),
        ({"email": "admin@example.com", "password": "x" * 1025}, 422, "validation_failed"),
        ({"email": "a@b.c", "password": "x", "remember": True}, 422, "validation_failed"),
        (["admin@example.com", "x"], 400, "bad_request"),
    ],
)
def test_login_body_is_checked(api: Api, admin: User, body: object, status: int, code: str) -> None:
    assert_error(api.post(LOGIN, body), status, code)


def test_login_unknown_field_is_named(api: Api) -> None:
    err = assert_error(
        api.post(LOGIN, {"email": "a@b.c", "password": "x", "otp": "1"}), 422, "validation_failed"
    )
    assert err["details"] == {"field": "otp"}


def test_login_non_json_is_400(api: Api) -> None:
    r = api.post(LOGIN, data="email=a@b.c&password=x", headers={"Content-Type": "application/json"})
    assert_error(r, 400, "bad_request")
    r = api.post(
        LOGIN,
        data="email=a@b.c&password=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_error(r, 400, "bad_request")
    r = api.post(
        LOGIN,
        data='{"email":"a@b.c","email":"d@e.f","password":"x"}',
        headers={"Content-Type": "application/json"},
    )
    assert_error(r, 400, "bad_request")


def test_login_timing_does_not_tell_which_emails_exist(
    migrated: str, tmp_path: Path, admin: User
) -> None:
    # Many failures on purpose: lift the throttle for this server only.
    with running_server(tmp_path, migrated, TW_LOGIN_MAX_FAILURES="1000") as srv:
        api = Api(srv)

        def timed(email: str) -> float:
            start = time.perf_counter()
            r = api.login(email, "wrong-password-123")
            elapsed = time.perf_counter() - start
            assert r.status_code == 401, r.text
            return elapsed

        timed(admin.email)  # warm up the connection pool and caches
        timed("ghost@example.com")
        unknown, wrong = [], []
        for _ in range(5):
            unknown.append(timed("ghost@example.com"))
            wrong.append(timed(admin.email))
        ratio = statistics.median(unknown) / statistics.median(wrong)
        assert 0.5 <= ratio <= 2, (unknown, wrong)


# --- throttling -------------------------------------------------------------


def retry_after(resp_headers: dict[str, str]) -> int:
    return int(resp_headers["Retry-After"])


def test_five_failures_for_one_email_from_many_addresses_do_not_lock_it(
    api: Api, admin: User, analyst: User
) -> None:
    # Five addresses, one failure each: the email is slowed down, never
    # locked (only failures from one address lock that address out).
    for i in range(5):
        r = api.from_address(f"127.0.0.{i + 2}").login(admin.email, "wrong-password")
        assert_error(r, 401, "invalid_credentials")
    fresh = api.from_address("127.0.0.9")
    r = fresh.login(admin.email, admin.password)
    assert r.status_code == 200, r.text
    # Another account from the same address is not affected.
    assert fresh.login(analyst.email, analyst.password).status_code == 200


def test_five_failures_for_one_email_throttle_it_from_that_address(
    api: Api, admin: User, analyst: User
) -> None:
    guesser = api.from_address("127.0.0.2")
    for _ in range(5):
        assert_error(guesser.login(admin.email, "wrong-password"), 401, "invalid_credentials")
    r = guesser.login(admin.email, admin.password)
    assert_error(r, 429, "too_many_requests")
    assert 1 <= retry_after(r.headers) <= 900
    # Throttled attempts are refused unchecked: a wrong password is 429 too.
    assert_error(guesser.login(admin.email, "wrong-password"), 429, "too_many_requests")
    # Another account from the same address is not affected.
    assert guesser.login(analyst.email, analyst.password).status_code == 200
    # Emails are throttled in their normalised form.
    assert_error(guesser.login(" Admin@EXAMPLE.com", admin.password), 429, "too_many_requests")


def test_failures_from_one_address_throttle_it_for_every_email(
    migrated: str, tmp_path: Path, admin: User
) -> None:
    # The per-address limit (default 50) lowered to five for this server.
    with running_server(tmp_path, migrated, TW_LOGIN_MAX_ADDRESS_FAILURES="5") as srv:
        api = Api(srv)
        guesser = api.from_address("127.0.0.2")
        for i in range(5):
            assert_error(
                guesser.login(f"guess{i}@example.com", "pw-guess-1"), 401, "invalid_credentials"
            )
        r = guesser.login(admin.email, admin.password)
        assert_error(r, 429, "too_many_requests")
        assert 1 <= retry_after(r.headers) <= 900
        # The account itself is fine from elsewhere.
        assert api.from_address("127.0.0.3").login(admin.email, admin.password).status_code == 200


def test_success_clears_the_emails_failures_not_the_addresses(
    migrated: str, tmp_path: Path, admin: User, viewer: User
) -> None:
    with running_server(tmp_path, migrated, TW_LOGIN_MAX_ADDRESS_FAILURES="5") as srv:
        api = Api(srv)
        for i in range(4):
            api.from_address("127.0.0.2").login(admin.email, f"wrong-{i}")
        assert api.from_address("127.0.0.3").login(admin.email, admin.password).status_code == 200
        for i in range(4):
            api.from_address("127.0.0.4").login(admin.email, f"wrong-{i}")
        # Eight failures in the window, but only four since the success.
        assert api.from_address("127.0.0.5").login(admin.email, admin.password).status_code == 200
        # 127.0.0.2 keeps its four: one more failure there throttles it.
        api.from_address("127.0.0.2").login("someone@example.com", "wrong-x")
        r = api.from_address("127.0.0.2").login(viewer.email, viewer.password)
        assert_error(r, 429, "too_many_requests")


def test_throttle_ends_when_the_window_passes(migrated: str, tmp_path: Path, admin: User) -> None:
    with running_server(tmp_path, migrated, TW_LOGIN_WINDOW_S="3") as srv:
        api = Api(srv)
        for _ in range(5):
            assert_error(api.login(admin.email, "wrong-password"), 401, "invalid_credentials")
        r = api.login(admin.email, admin.password)
        assert_error(r, 429, "too_many_requests")
        wait = retry_after(r.headers)
        assert 1 <= wait <= 3
        time.sleep(wait + 0.5)
        r = api.login(admin.email, admin.password)
        assert r.status_code == 200, r.text


def test_max_failures_setting_is_honoured(migrated: str, tmp_path: Path, admin: User) -> None:
    with running_server(tmp_path, migrated, TW_LOGIN_MAX_FAILURES="2") as srv:
        api = Api(srv)
        for _ in range(2):
            assert_error(api.login(admin.email, "wrong-password"), 401, "invalid_credentials")
        assert_error(api.login(admin.email, admin.password), 429, "too_many_requests")


# --- tokens -----------------------------------------------------------------


@pytest.fixture
def admin_token(api: Api, admin: User) -> str:
    r = api.login(admin.email, admin.password)
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def assert_token_refused(api: Api, token: str) -> None:
    r = api.with_token(token).get(ME)
    err = assert_error(r, 401, "unauthorized")
    assert err["message"] == "invalid or expired token"
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_token_minted_with_the_servers_key_is_accepted(api: Api, admin: User) -> None:
    # The baseline for the refusals below: PyJWT's HS256 is our HS256.
    token = jwt.encode(claims_for(admin), secret(api.server), algorithm="HS256")
    r = api.with_token(token).get(ME)
    assert r.status_code == 200, r.text


def test_expired_token_is_refused(api: Api, admin: User) -> None:
    now = int(time.time())
    token = jwt.encode(
        claims_for(admin, iat=now - 1000, exp=now - 10), secret(api.server), algorithm="HS256"
    )
    assert_token_refused(api, token)


def test_tampered_payload_is_refused(api: Api, admin: User, viewer: User) -> None:
    token = api.as_user(viewer.email, viewer.password).token
    assert token
    header, payload, sig = token.split(".")
    claims = json.loads(b64url_decode(payload))
    claims["role"] = "admin"
    forged = ".".join([header, b64url(json.dumps(claims).encode()), sig])
    assert_token_refused(api, forged)
    assert_error(api.with_token(forged).get(USERS), 401, "unauthorized")


def test_tampered_signature_is_refused(api: Api, admin_token: str) -> None:
    header, payload, sig = admin_token.split(".")
    i = len(sig) // 2
    flipped = sig[:i] + ("A" if sig[i] != "A" else "B") + sig[i + 1 :]
    assert_token_refused(api, ".".join([header, payload, flipped]))
    assert_token_refused(api, ".".join([header, payload, ""]))
    assert_token_refused(api, ".".join([header, payload]))


def test_alg_none_is_refused(api: Api, admin: User) -> None:
    header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = b64url(json.dumps(claims_for(admin)).encode())
    assert_token_refused(api, f"{header}.{payload}.")
    assert_token_refused(api, jwt.encode(claims_for(admin), None, algorithm="none"))


def test_token_signed_with_another_key_is_refused(api: Api, admin: User) -> None:
    other = "0" * 64
    assert other != secret(api.server)
    assert_token_refused(api, jwt.encode(claims_for(admin), other, algorithm="HS256"))


def test_hs512_with_the_right_key_is_refused(api: Api, admin: User) -> None:
    token = jwt.encode(claims_for(admin), secret(api.server), algorithm="HS512")
    assert_token_refused(api, token)


def test_token_for_a_user_that_does_not_exist_is_refused(api: Api, admin: User) -> None:
    ghost = User(admin.id + 1000, "ghost@example.com", "", "admin")
    token = jwt.encode(claims_for(ghost), secret(api.server), algorithm="HS256")
    assert_token_refused(api, token)


def test_token_with_an_old_token_version_is_refused(api: Api, admin: User) -> None:
    token = jwt.encode(claims_for(admin, tv=1), secret(api.server), algorithm="HS256")
    assert_token_refused(api, token)


def test_missing_token_is_401(api: Api) -> None:
    r = api.get(ME)
    assert_error(r, 401, "unauthorized")
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "template",
    [
        "Basic {t}",
        "Bearer",
        "Bearer ",
        "Bearer  {t}",
        "Bearer\t{t}",
        "Token {t}",
        "{t}",
        "Bearer {t} extra",
    ],
)
def test_malformed_authorization_header_is_401(api: Api, admin_token: str, template: str) -> None:
    r = api.get(ME, headers={"Authorization": template.format(t=admin_token)})
    assert_error(r, 401, "unauthorized")


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_bearer_scheme_is_case_insensitive(api: Api, admin_token: str, scheme: str) -> None:
    r = api.get(ME, headers={"Authorization": f"{scheme} {admin_token}"})
    assert r.status_code == 200, r.text


def test_logs_hold_no_token_or_password(
    api: Api, admin: User, admin_token: str, auth_server: Server
) -> None:
    api.login(admin.email, "wrong-password-in-log")
    api.with_token(admin_token + "x").get(ME)
    api.with_token(admin_token).get(ME)
    log = (auth_server.workdir / "logs" / "app.log").read_text(errors="replace")
    assert "signed in" in log
    assert "token refused" in log
    for needle in (admin.password, "wrong-password-in-log", admin_token.split(".")[2]):
        assert needle not in log
        assert needle not in auth_server.stderr()


# --- disabled users ---------------------------------------------------------


def test_disabled_user_loses_token_and_cannot_sign_in(
    api: Api, admin_api: Api, analyst: User
) -> None:
    session = api.as_user(analyst.email, analyst.password)
    assert session.get(ME).status_code == 200
    r = admin_api.patch(f"{USERS}/{analyst.id}", {"disabled": True})
    assert r.status_code == 200, r.text
    assert r.json()["disabled"] is True
    assert_token_refused(api, session.token or "")

    refused = api.login(analyst.email, analyst.password)
    wrong = api.login(analyst.email, "wrong-password")
    assert_error(refused, 401, "invalid_credentials")
    assert refused.json() == wrong.json()

    assert admin_api.patch(f"{USERS}/{analyst.id}", {"disabled": False}).status_code == 200
    assert api.login(analyst.email, analyst.password).status_code == 200
    assert_token_refused(api, session.token or "")


# --- changing one's own password --------------------------------------------


def test_password_change_revokes_older_tokens(api: Api, analyst: User) -> None:
    first = api.as_user(analyst.email, analyst.password)
    second = api.as_user(analyst.email, analyst.password)
    r = first.post(
        PASSWORD, {"current_password": analyst.password, "new_password": "brand-new-pass-1"}
    )
    assert r.status_code == 204, r.text
    assert r.content == b""
    assert_token_refused(api, first.token or "")
    assert_token_refused(api, second.token or "")
    assert_error(api.login(analyst.email, analyst.password), 401, "invalid_credentials")
    fresh = api.as_user(analyst.email, "brand-new-pass-1")
    assert fresh.get(ME).status_code == 200
    claims = jwt.decode(fresh.token or "", secret(api.server), algorithms=["HS256"])
    assert claims["tv"] == 1


def test_password_change_needs_the_current_password(api: Api, viewer: User) -> None:
    session = api.as_user(viewer.email, viewer.password)
    r = session.post(
        PASSWORD, {"current_password": "not-my-password", "new_password": "brand-new-pass-1"}
    )
    err = assert_error(r, 422, "validation_failed")
    assert err["message"] == "current password is wrong"
    # Nothing changed, and the token still works.
    assert session.get(ME).status_code == 200
    assert api.login(viewer.email, viewer.password).status_code == 200


CURRENT = "<the user's current password>"


@pytest.mark.parametrize(
    "body",
    [
        {"current_password": CURRENT, "new_password": "short"},
        {"current_password": CURRENT, "new_password": ""},
        {"current_password": CURRENT, "new_password": "y" * 73},
        {"current_password": CURRENT, "new_password": 12345678},
        {"new_password": "brand-new-pass-1"},
        {"current_password": CURRENT},
        {"current_password": 1, "new_password": "brand-new-pass-1"},
        {"current_password": CURRENT, "new_password": "brand-new-pass-1", "x": 1},
    ],
)
def test_password_change_body_is_checked(api: Api, viewer: User, body: dict[str, object]) -> None:
    session = api.as_user(viewer.email, viewer.password)
    body = {k: viewer.password if v == CURRENT else v for k, v in body.items()}
    assert_error(session.post(PASSWORD, body), 422, "validation_failed")
    # Nothing changed: the token and the password still work.
    assert session.get(ME).status_code == 200
    assert api.login(viewer.email, viewer.password).status_code == 200


def test_password_change_needs_a_token(api: Api) -> None:
    r = api.post(PASSWORD, {"current_password": "a", "new_password": "brand-new-pass-1"})
    assert_error(r, 401, "unauthorized")


def test_admin_password_reset_revokes_the_users_tokens(
    api: Api, admin_api: Api, analyst: User
) -> None:
    session = api.as_user(analyst.email, analyst.password)
    r = admin_api.patch(f"{USERS}/{analyst.id}", {"password": "reset-by-admin-1"})
    assert r.status_code == 200, r.text
    assert_token_refused(api, session.token or "")
    assert_error(api.login(analyst.email, analyst.password), 401, "invalid_credentials")
    assert api.login(analyst.email, "reset-by-admin-1").status_code == 200
