"""User management through the real server: GET/POST /api/v1/users and
PATCH /api/v1/users/{id}, admin only; input checks, conflicts, paging and
the rule that one enabled admin always remains."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

# Before the import, so the helpers' asserts are rewritten too.
pytest.register_assert_rewrite("authfixtures")

from authfixtures import ME, USERS, Api, User, add_user, assert_error  # noqa: E402

pytest_plugins = ("authfixtures",)

RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def new_user(
    admin_api: Api, email: str, role: str = "viewer", password: str = "a-good-pass-1"
) -> dict:
    r = admin_api.post(USERS, {"email": email, "password": password, "role": role})
    assert r.status_code == 201, r.text
    return r.json()


# --- who may ----------------------------------------------------------------


@pytest.mark.parametrize("who", ["analyst", "viewer"])
def test_only_admins_manage_users(
    api: Api, admin: User, analyst: User, viewer: User, who: str
) -> None:
    user = analyst if who == "analyst" else viewer
    session = api.as_user(user.email, user.password)
    err = assert_error(session.get(USERS), 403, "forbidden")
    assert err["message"] == "your role may not do this"
    assert_error(
        session.post(
            USERS, {"email": "x@example.com", "password": "a-good-pass-1", "role": "admin"}
        ),
        403,
        "forbidden",
    )
    assert_error(session.patch(f"{USERS}/{admin.id}", {"disabled": True}), 403, "forbidden")
    # ... and /auth/me still works for them.
    assert session.get(ME).status_code == 200


def test_analyst_cannot_promote_themselves(api: Api, analyst: User) -> None:
    session = api.as_user(analyst.email, analyst.password)
    assert_error(session.patch(f"{USERS}/{analyst.id}", {"role": "admin"}), 403, "forbidden")
    assert session.get(ME).json()["role"] == "analyst"


def test_users_routes_need_a_token(api: Api, admin: User) -> None:
    assert_error(api.get(USERS), 401, "unauthorized")
    assert_error(
        api.post(USERS, {"email": "x@example.com", "password": "a-good-pass-1", "role": "admin"}),
        401,
        "unauthorized",
    )
    assert_error(api.patch(f"{USERS}/{admin.id}", {"role": "viewer"}), 401, "unauthorized")


# --- creating ---------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "analyst", "viewer"])
def test_create_user(api: Api, admin_api: Api, role: str) -> None:
    r = admin_api.post(
        USERS, {"email": f"New.{role}@Example.com ", "password": "a-good-pass-1", "role": role}
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == {"id", "email", "role", "disabled", "created_at"}
    assert isinstance(body["id"], int) and body["id"] > 0
    assert body["email"] == f"new.{role}@example.com"
    assert body["role"] == role
    assert body["disabled"] is False
    assert RFC3339_UTC.match(body["created_at"]), body["created_at"]

    login = api.login(f"new.{role}@example.com", "a-good-pass-1")
    assert login.status_code == 200, login.text
    assert login.json()["user"] == {"id": body["id"], "email": body["email"], "role": role}


def test_password_of_exactly_8_and_72_bytes_is_fine(api: Api, admin_api: Api) -> None:
    new_user(admin_api, "eight@example.com", password="8" * 8)
    new_user(admin_api, "seventy-two@example.com", password="7" * 72)
    # Multi-byte characters count as their UTF-8 bytes: 24 * 3 = 72.
    new_user(admin_api, "euro@example.com", password="€" * 24)
    assert api.login("euro@example.com", "€" * 24).status_code == 200


def test_duplicate_email_is_409(admin_api: Api, admin: User) -> None:
    new_user(admin_api, "dup@example.com")
    for email in ("dup@example.com", "DUP@Example.COM", admin.email, "Admin@Example.com"):
        r = admin_api.post(USERS, {"email": email, "password": "a-good-pass-1", "role": "viewer"})
        err = assert_error(r, 409, "conflict")
        assert err["message"] == "a user with this email already exists"


@pytest.mark.parametrize(
    "body",
    [
        {"email": "weak@example.com", "password": "", "role": "viewer"},
        {"email": "weak@example.com", "password": "1234567", "role": "viewer"},
        {"email": "weak@example.com", "password": "x" * 73, "role": "viewer"},
        {"email": "weak@example.com", "password": "€" * 24 + "x", "role": "viewer"},
        {"email": "a" * 243 + "@example.com", "password": "a-good-pass-1", "role": "viewer"},
        {"email": "", "password": "a-good-pass-1", "role": "viewer"},
        {"email": "no-at-sign", "password": "a-good-pass-1", "role": "viewer"},
        {"email": "two@@example.com", "password": "a-good-pass-1", "role": "viewer"},
        {"email": "@example.com", "password": "a-good-pass-1", "role": "viewer"},
        {"email": "white space@example.com", "password": "a-good-pass-1", "role": "viewer"},
        {"email": "ctl\u0001@example.com", "password": "a-good-pass-1", "role": "viewer"},
        {"email": "weak@example.com", "password": "a-good-pass-1", "role": "superuser"},
        {"email": "weak@example.com", "password": "a-good-pass-1", "role": "Admin"},
        {"email": "weak@example.com", "password": "a-good-pass-1", "role": ""},
        {"email": "weak@example.com", "password": "a-good-pass-1"},
        {"email": "weak@example.com", "role": "viewer"},
        {"password": "a-good-pass-1", "role": "viewer"},
        {"email": "weak@example.com", "password": "a-good-pass-1", "role": 1},
        {"email": "weak@example.com", "password": 12345678, "role": "viewer"},
        {"email": ["weak@example.com"], "password": "a-good-pass-1", "role": "viewer"},
        {"email": "weak@example.com", "password": "a-good-pass-1", "role": None},
        {"email": "weak@example.com", "password": "a-good-pass-1", "role": "viewer", "admin": 1},
    ],
)
def test_create_user_input_is_checked(admin_api: Api, body: dict) -> None:
    assert_error(admin_api.post(USERS, body), 422, "validation_failed")
    # Nothing was created.
    emails = {u["email"] for u in admin_api.get(USERS).json()["items"]}
    assert emails == {"admin@example.com"}


def test_email_of_254_bytes_is_fine_255_is_not(admin_api: Api) -> None:
    local = "b" * 64
    domain = ("d" * 60 + ".") * 3 + "x" * (254 - 64 - 1 - 183)
    email = f"{local}@{domain}"
    assert len(email) == 254
    new_user(admin_api, email)
    r = admin_api.post(USERS, {"email": "c" + email, "password": "a-good-pass-1", "role": "viewer"})
    assert_error(r, 422, "validation_failed")


def test_create_unknown_field_is_named(admin_api: Api) -> None:
    r = admin_api.post(
        USERS,
        {"email": "u@example.com", "password": "a-good-pass-1", "role": "viewer", "name": "U"},
    )
    err = assert_error(r, 422, "validation_failed")
    assert err["details"] == {"field": "name"}


def test_create_non_json_is_400(admin_api: Api) -> None:
    for data in ("not json", '["email"]', '{"email": "a@b.c",}', ""):
        r = admin_api.post(USERS, data=data, headers={"Content-Type": "application/json"})
        assert_error(r, 400, "bad_request")


# --- listing ----------------------------------------------------------------


def test_list_users(admin_api: Api, admin: User, analyst: User, viewer: User) -> None:
    r = admin_api.get(USERS)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"items", "next_cursor"}
    assert body["next_cursor"] is None
    # Newest first, as scripts and jobs list theirs.
    ids = [u["id"] for u in body["items"]]
    assert ids == sorted(ids, reverse=True)
    assert {u["email"]: u["role"] for u in body["items"]} == {
        admin.email: "admin",
        analyst.email: "analyst",
        viewer.email: "viewer",
    }
    for u in body["items"]:
        assert set(u) == {"id", "email", "role", "disabled", "created_at"}
        assert RFC3339_UTC.match(u["created_at"])


def test_list_pages_with_limit_and_cursor(admin_api: Api, admin: User) -> None:
    created = [new_user(admin_api, f"page{i}@example.com")["id"] for i in range(6)]
    expected = [*reversed(created), admin.id]

    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": "3"}
        if cursor is not None:
            params["cursor"] = cursor
        r = admin_api.get(USERS, params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["items"]) <= 3
        seen += [u["id"] for u in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert isinstance(cursor, str)
    assert seen == expected
    # 7 users, 3 a page: 3, 3, 1.
    assert pages == 3

    # A page that ends exactly at the last user says so.
    r = admin_api.get(USERS, params={"limit": "7"})
    assert r.json()["next_cursor"] is None
    assert len(r.json()["items"]) == 7
    r = admin_api.get(USERS, params={"limit": "1"})
    assert r.json()["next_cursor"] == str(created[-1])
    r = admin_api.get(USERS, params={"limit": "500", "cursor": str(admin.id)})
    assert r.json() == {"items": [], "next_cursor": None}


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "501"},
        {"limit": "-1"},
        {"limit": "abc"},
        {"limit": ""},
        {"limit": "2.5"},
        {"cursor": "abc"},
        {"cursor": "-5"},
        {"cursor": "99999999999999999999999"},
    ],
)
def test_list_bad_paging_is_422(admin_api: Api, params: dict[str, str]) -> None:
    assert_error(admin_api.get(USERS, params=params), 422, "validation_failed")


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?sort=id", 'unknown query parameter "sort"'),
        ("?limit=1&limit=2", "query parameter limit given more than once"),
        ("?cursor", "query parameter cursor needs a value"),
    ],
)
def test_list_refuses_what_its_query_does_not_allow(
    admin_api: Api, query: str, message: str
) -> None:
    # The same reply as jobs and tables give: the route's allow list is
    # checked before the handler runs.
    err = assert_error(admin_api.get(USERS + query), 422, "validation_failed")
    assert err["message"] == message


def test_query_is_checked_after_the_token_and_the_role(
    api: Api, admin_api: Api, analyst: User
) -> None:
    assert_error(api.get(f"{USERS}?sort=id"), 401, "unauthorized")
    session = api.as_user(analyst.email, analyst.password)
    assert_error(session.get(f"{USERS}?sort=id"), 403, "forbidden")


def test_create_and_patch_take_no_query(admin_api: Api, analyst: User) -> None:
    body = {"email": "query@example.com", "password": "a-good-pass-1", "role": "viewer"}
    assert_error(admin_api.post(f"{USERS}?role=admin", body), 422, "validation_failed")
    emails = [u["email"] for u in admin_api.get(USERS).json()["items"]]
    assert "query@example.com" not in emails
    r = admin_api.patch(f"{USERS}/{analyst.id}?x=1", {"role": "viewer"})
    assert_error(r, 422, "validation_failed")
    me = [u for u in admin_api.get(USERS).json()["items"] if u["id"] == analyst.id]
    assert me[0]["role"] == "analyst"


# --- changing ---------------------------------------------------------------


def test_patch_role_and_status(api: Api, admin_api: Api, analyst: User) -> None:
    session = api.as_user(analyst.email, analyst.password)
    r = admin_api.patch(f"{USERS}/{analyst.id}", {"role": "viewer"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == analyst.id
    assert body["role"] == "viewer"
    assert body["disabled"] is False
    # A role change revokes the tokens that carry the old role.
    assert_error(session.get(ME), 401, "unauthorized")
    relogin = api.as_user(analyst.email, analyst.password)
    assert relogin.get(ME).json()["role"] == "viewer"

    r = admin_api.patch(f"{USERS}/{analyst.id}", {"disabled": True, "role": "analyst"})
    assert r.status_code == 200, r.text
    assert r.json()["disabled"] is True and r.json()["role"] == "analyst"
    r = admin_api.patch(f"{USERS}/{analyst.id}", {"disabled": False})
    assert r.json()["disabled"] is False


def test_patch_unknown_user_is_404(admin_api: Api) -> None:
    for path in ("999999", "0", "-1", "abc", "1.5", "1e3", "+1", "99999999999999999999999"):
        r = admin_api.patch(f"{USERS}/{path}", {"role": "viewer"})
        assert_error(r, 404, "not_found")


@pytest.mark.parametrize(
    "body, status, code",
    [
        ({}, 422, "validation_failed"),
        ({"role": "root"}, 422, "validation_failed"),
        ({"role": None}, 422, "validation_failed"),
        ({"disabled": "yes"}, 422, "validation_failed"),
        ({"disabled": 1}, 422, "validation_failed"),
        ({"password": "short"}, 422, "validation_failed"),
        ({"password": "x" * 73}, 422, "validation_failed"),
        ({"password": 12345678}, 422, "validation_failed"),
        ({"email": "new@example.com"}, 422, "validation_failed"),
        ({"role": "viewer", "password": "short"}, 422, "validation_failed"),
    ],
)
def test_patch_input_is_checked(
    api: Api, admin_api: Api, analyst: User, body: dict, status: int, code: str
) -> None:
    session = api.as_user(analyst.email, analyst.password)
    assert_error(admin_api.patch(f"{USERS}/{analyst.id}", body), status, code)
    # Nothing changed, not even the token version.
    me = session.get(ME)
    assert me.status_code == 200
    assert me.json()["role"] == "analyst"


def test_patch_non_json_is_400(admin_api: Api, analyst: User) -> None:
    r = admin_api.patch(
        f"{USERS}/{analyst.id}", data="role=admin", headers={"Content-Type": "application/json"}
    )
    assert_error(r, 400, "bad_request")


# --- the last admin ---------------------------------------------------------


def test_last_admin_cannot_be_demoted_or_disabled(admin_api: Api, admin: User) -> None:
    for change in (
        {"role": "analyst"},
        {"role": "viewer"},
        {"disabled": True},
        {"role": "viewer", "disabled": True},
    ):
        assert_error(admin_api.patch(f"{USERS}/{admin.id}", change), 409, "conflict")
    # Still an admin, still signed in.
    me = admin_api.get(ME)
    assert me.status_code == 200
    assert me.json()["role"] == "admin" and me.json()["disabled"] is False
    # Setting what is already set is fine, and changes nothing: the token
    # that asked still works.
    r = admin_api.patch(f"{USERS}/{admin.id}", {"role": "admin", "disabled": False})
    assert r.status_code == 200, r.text
    assert admin_api.get(ME).status_code == 200


def test_last_admin_change_with_password_changes_nothing(
    api: Api, admin_api: Api, admin: User
) -> None:
    r = admin_api.patch(f"{USERS}/{admin.id}", {"role": "viewer", "password": "another-pass-1"})
    assert_error(r, 409, "conflict")
    assert api.login(admin.email, admin.password).status_code == 200
    assert_error(api.login(admin.email, "another-pass-1"), 401, "invalid_credentials")


def test_a_disabled_admin_does_not_count(admin_api: Api, admin: User) -> None:
    other = new_user(admin_api, "admin2@example.com", role="admin")
    r = admin_api.patch(f"{USERS}/{other['id']}", {"disabled": True})
    assert r.status_code == 200, r.text
    assert_error(admin_api.patch(f"{USERS}/{admin.id}", {"role": "viewer"}), 409, "conflict")


def test_admin_can_step_down_when_another_remains(api: Api, admin_api: Api, admin: User) -> None:
    other = new_user(admin_api, "admin2@example.com", role="admin", password="second-admin-1")
    r = admin_api.patch(f"{USERS}/{admin.id}", {"role": "analyst"})
    assert r.status_code == 200, r.text
    assert r.json()["role"] == "analyst"
    # The change revoked the token that made it.
    assert_error(admin_api.get(ME), 401, "unauthorized")
    second = api.as_user("admin2@example.com", "second-admin-1")
    assert_error(second.patch(f"{USERS}/{other['id']}", {"disabled": True}), 409, "conflict")
    assert_error(second.patch(f"{USERS}/{other['id']}", {"role": "viewer"}), 409, "conflict")
    assert second.patch(f"{USERS}/{admin.id}", {"role": "admin"}).status_code == 200


def test_users_created_in_the_database_are_listed(admin_api: Api, migrated: str) -> None:
    uid = add_user(migrated, "Direct@Example.com", "direct-pass-1", "viewer", disabled=True)
    items = admin_api.get(USERS).json()["items"]
    mine = [u for u in items if u["id"] == uid]
    assert mine and mine[0]["email"] == "direct@example.com" and mine[0]["disabled"] is True


def test_two_admins_disabling_themselves_at_once_leave_one(
    api: Api, admin_api: Api, admin: User
) -> None:
    other = new_user(admin_api, "admin2@example.com", role="admin", password="second-admin-1")
    sessions = {admin.id: admin_api, other["id"]: api.as_user(other["email"], "second-admin-1")}
    passwords = {admin.id: admin.password, other["id"]: "second-admin-1"}
    emails = {admin.id: admin.email, other["id"]: other["email"]}
    barrier = threading.Barrier(2)

    def disable_self(uid: int) -> int:
        barrier.wait()
        return sessions[uid].patch(f"{USERS}/{uid}", {"disabled": True}).status_code

    for _ in range(5):
        with ThreadPoolExecutor(2) as pool:
            codes = dict(zip(sessions, pool.map(disable_self, list(sessions)), strict=True))
        assert sorted(codes.values()) == [200, 409], codes
        winner = next(uid for uid, code in codes.items() if code == 200)
        loser = next(uid for uid in codes if uid != winner)
        # The refused one is still an admin with a working token; it brings
        # the other back for the next round.
        r = sessions[loser].patch(f"{USERS}/{winner}", {"disabled": False})
        assert r.status_code == 200, r.text
        sessions[winner] = api.as_user(emails[winner], passwords[winner])
