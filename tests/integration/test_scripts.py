"""Saved scripts through the real server: /api/v1/scripts and its versions.

Who sees what (analysts their own, admins and viewers all, viewers never
write, what one may not see is 404), the version history (each save of
code_text is a new immutable version, concurrent saves get distinct
consecutive numbers), soft delete, the limits on names and code, input
checks, paging and ids that are not integers.
"""

from __future__ import annotations

import json
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
import requests

# Before the import, so the helpers' asserts are rewritten too.
pytest.register_assert_rewrite("authfixtures")

from authfixtures import Api, User, add_user, assert_error  # noqa: E402

pytest_plugins = ("authfixtures",)

SCRIPTS = "/api/v1/scripts"
RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
SCRIPT_KEYS = {
    "id",
    "user_id",
    "owner_email",
    "name",
    "code_text",
    "current_version",
    "created_at",
    "updated_at",
}
LIST_KEYS = SCRIPT_KEYS - {"code_text"}
VERSION_KEYS = {"version", "author_id", "created_at", "code_text"}
CODE_MAX = 256 * 1024
CODE = "def transform(df):\n    return df\n"


# --- helpers ----------------------------------------------------------------


def put(api: Api, path: str, body: Any) -> requests.Response:
    return api.request("PUT", path, body)


def delete(api: Api, path: str) -> requests.Response:
    return api.request("DELETE", path)


def raw(api: Api, method: str, path: str, data: bytes | str) -> requests.Response:
    """A request whose body is sent as given, with a JSON content type."""
    return api.request(method, path, data=data, headers={"Content-Type": "application/json"})


def create(api: Api, name: str, code: str = CODE) -> dict[str, Any]:
    r = api.post(SCRIPTS, {"name": name, "code_text": code})
    assert r.status_code == 201, r.text
    return r.json()


def list_all(api: Api, **params: str) -> list[dict[str, Any]]:
    """Every page of GET /scripts with the given filters."""
    items: list[dict[str, Any]] = []
    cursor = ""
    while True:
        r = api.get(SCRIPTS, params={**params, "limit": "500", "cursor": cursor})
        assert r.status_code == 200, r.text
        body = r.json()
        items += body["items"]
        if body["next_cursor"] is None:
            return items
        cursor = body["next_cursor"]


def versions(api: Api, sid: int) -> list[dict[str, Any]]:
    r = api.get(f"{SCRIPTS}/{sid}/versions")
    assert r.status_code == 200, r.text
    return r.json()["items"]


def db_rows(db_url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(db_url, autocommit=True) as conn:
        return conn.execute(sql, args).fetchall()


@pytest.fixture
def analyst_api(api: Api, analyst: User) -> Api:
    return api.as_user(analyst.email, analyst.password)


@pytest.fixture
def other(migrated: str) -> User:
    """A second analyst."""
    uid = add_user(migrated, "other@example.com", "other-Secret-4", "analyst")
    return User(uid, "other@example.com", "other-Secret-4", "analyst")


@pytest.fixture
def other_api(api: Api, other: User) -> Api:
    return api.as_user(other.email, other.password)


@pytest.fixture
def viewer_api(api: Api, viewer: User) -> Api:
    return api.as_user(viewer.email, viewer.password)


# --- the basics ---------------------------------------------------------------


def test_crud_round_trip(analyst_api: Api, analyst: User) -> None:
    r = analyst_api.post(SCRIPTS, {"name": "Clean orders", "code_text": CODE})
    assert r.status_code == 201, r.text
    s = r.json()
    assert set(s) == SCRIPT_KEYS
    assert s["user_id"] == analyst.id
    assert s["owner_email"] == analyst.email
    assert (s["name"], s["code_text"], s["current_version"]) == ("Clean orders", CODE, 1)
    assert RFC3339_UTC.match(s["created_at"]) and RFC3339_UTC.match(s["updated_at"])
    assert r.headers["Location"] == f"{SCRIPTS}/{s['id']}"

    r = analyst_api.get(f"{SCRIPTS}/{s['id']}")
    assert r.status_code == 200
    assert r.json() == s

    items = list_all(analyst_api)
    assert len(items) == 1
    assert set(items[0]) == LIST_KEYS
    assert items[0] == {k: v for k, v in s.items() if k != "code_text"}

    r = put(analyst_api, f"{SCRIPTS}/{s['id']}", {"name": "Clean all orders"})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Clean all orders"
    assert r.json()["code_text"] == CODE
    assert analyst_api.get(f"{SCRIPTS}/{s['id']}").json()["name"] == "Clean all orders"

    r = delete(analyst_api, f"{SCRIPTS}/{s['id']}")
    assert r.status_code == 204
    assert r.content == b""
    assert_error(analyst_api.get(f"{SCRIPTS}/{s['id']}"), 404, "not_found")
    assert list_all(analyst_api) == []


def test_versions(analyst_api: Api, analyst: User, migrated: str) -> None:
    s = create(analyst_api, "versioned", "v1 = 1\n")
    sid = s["id"]
    path = f"{SCRIPTS}/{sid}"
    assert s["current_version"] == 1

    r = put(analyst_api, path, {"code_text": "v2 = 2\n"})
    assert r.status_code == 200, r.text
    assert (r.json()["current_version"], r.json()["code_text"]) == (2, "v2 = 2\n")

    r = put(analyst_api, path, {"name": "renamed"})
    assert r.json()["current_version"] == 2, "a rename makes no version"

    r = put(analyst_api, path, {"code_text": "v2 = 2\n"})
    assert r.json()["current_version"] == 3, "each save makes a version"

    r = put(analyst_api, path, {"name": "both", "code_text": "v4 = 4\n"})
    assert (r.json()["name"], r.json()["current_version"]) == ("both", 4)

    items = versions(analyst_api, sid)
    assert [v["version"] for v in items] == [4, 3, 2, 1]
    assert [v["code_text"] for v in items] == ["v4 = 4\n", "v2 = 2\n", "v2 = 2\n", "v1 = 1\n"]
    for v in items:
        assert set(v) == VERSION_KEYS
        assert v["author_id"] == analyst.id
        assert RFC3339_UTC.match(v["created_at"])

    one = analyst_api.get(f"{path}/versions/1")
    assert one.status_code == 200
    assert one.json() == items[-1]
    assert_error(analyst_api.get(f"{path}/versions/5"), 404, "not_found")

    # Versions are immutable: no route changes them, and later saves leave
    # them as they were.
    for method in ("PUT", "PATCH", "DELETE", "POST"):
        r = analyst_api.request(method, f"{path}/versions/1", {"code_text": "x"})
        assert r.status_code == 405, (method, r.status_code)
    put(analyst_api, path, {"code_text": "v5 = 5\n"})
    assert analyst_api.get(f"{path}/versions/1").json() == items[-1]
    assert versions(analyst_api, sid)[1:] == items

    # The script's code is a copy of its newest version.
    rows = db_rows(
        migrated,
        "SELECT s.code_text = v.code_text FROM tablewright.scripts s"
        " JOIN tablewright.script_versions v"
        " ON v.script_id = s.id AND v.version = s.current_version WHERE s.id = %s",
        sid,
    )
    assert rows == [(True,)]


def test_unauthenticated_is_401(analyst_api: Api) -> None:
    sid = create(analyst_api, "mine")["id"]
    anon = analyst_api.anonymous()
    for method, path, body in [
        ("GET", SCRIPTS, None),
        ("POST", SCRIPTS, {"name": "x", "code_text": "x"}),
        ("GET", f"{SCRIPTS}/{sid}", None),
        ("PUT", f"{SCRIPTS}/{sid}", {"name": "y"}),
        ("DELETE", f"{SCRIPTS}/{sid}", None),
        ("GET", f"{SCRIPTS}/{sid}/versions", None),
        ("GET", f"{SCRIPTS}/{sid}/versions/1", None),
    ]:
        assert_error(anon.request(method, path, body), 401, "unauthorized")
    assert_error(analyst_api.with_token("not.a.token").get(f"{SCRIPTS}/{sid}"), 401, "unauthorized")


# --- who sees and changes what -------------------------------------------------


def test_viewer_reads_everything_but_writes_nothing(
    analyst_api: Api, viewer_api: Api, analyst: User
) -> None:
    s = create(analyst_api, "shared")
    sid = s["id"]
    assert [i["id"] for i in list_all(viewer_api)] == [sid]
    assert viewer_api.get(f"{SCRIPTS}/{sid}").json() == s
    assert [v["version"] for v in versions(viewer_api, sid)] == [1]
    assert viewer_api.get(f"{SCRIPTS}/{sid}/versions/1").status_code == 200
    assert [i["id"] for i in list_all(viewer_api, user_id=str(analyst.id))] == [sid]

    assert_error(viewer_api.post(SCRIPTS, {"name": "v", "code_text": "x"}), 403, "forbidden")
    assert_error(put(viewer_api, f"{SCRIPTS}/{sid}", {"code_text": "x"}), 403, "forbidden")
    assert_error(delete(viewer_api, f"{SCRIPTS}/{sid}"), 403, "forbidden")
    # Even for a script that does not exist: the role decides first.
    assert_error(put(viewer_api, f"{SCRIPTS}/999999", {"name": "x"}), 403, "forbidden")
    assert analyst_api.get(f"{SCRIPTS}/{sid}").json() == s


def test_analysts_see_only_their_own(analyst_api: Api, other_api: Api, other: User) -> None:
    mine = create(analyst_api, "mine")
    theirs = create(other_api, "theirs")
    tid = theirs["id"]

    assert [i["id"] for i in list_all(analyst_api)] == [mine["id"]]
    assert [i["id"] for i in list_all(other_api)] == [tid]
    # Filtering by another user's id narrows an analyst's view to nothing.
    assert list_all(analyst_api, user_id=str(other.id)) == []

    # Someone else's script answers exactly as one that does not exist.
    missing = assert_error(analyst_api.get(f"{SCRIPTS}/999999"), 404, "not_found")
    for method, path, body in [
        ("GET", f"{SCRIPTS}/{tid}", None),
        ("PUT", f"{SCRIPTS}/{tid}", {"name": "stolen"}),
        ("PUT", f"{SCRIPTS}/{tid}", {"code_text": "stolen"}),
        ("DELETE", f"{SCRIPTS}/{tid}", None),
        ("GET", f"{SCRIPTS}/{tid}/versions", None),
    ]:
        err = assert_error(analyst_api.request(method, path, body), 404, "not_found")
        assert err == missing, (method, path)
    assert_error(analyst_api.get(f"{SCRIPTS}/{tid}/versions/1"), 404, "not_found")

    # Nothing changed.
    assert other_api.get(f"{SCRIPTS}/{tid}").json() == theirs
    assert [v["version"] for v in versions(other_api, tid)] == [1]


def test_admin_sees_all_filters_and_changes_any(
    admin_api: Api, analyst_api: Api, other_api: Api, admin: User, analyst: User, other: User
) -> None:
    a1 = create(analyst_api, "a1")
    o1 = create(other_api, "o1")
    a2 = create(analyst_api, "a2")
    own = create(admin_api, "admin's")
    assert own["user_id"] == admin.id

    assert [i["id"] for i in list_all(admin_api)] == [own["id"], a2["id"], o1["id"], a1["id"]]
    assert [i["id"] for i in list_all(admin_api, user_id=str(analyst.id))] == [a2["id"], a1["id"]]
    assert [i["id"] for i in list_all(admin_api, user_id=str(other.id))] == [o1["id"]]
    assert list_all(admin_api, user_id="999999") == []
    for bad in ("x", "0", "-1", "1.5"):
        r = admin_api.get(SCRIPTS, params={"user_id": bad})
        assert_error(r, 422, "validation_failed")

    # An admin's save is a version by the admin; the owner stays.
    r = put(admin_api, f"{SCRIPTS}/{a1['id']}", {"code_text": "fixed by admin"})
    assert r.status_code == 200, r.text
    assert (r.json()["user_id"], r.json()["current_version"]) == (analyst.id, 2)
    assert versions(analyst_api, a1["id"])[0]["author_id"] == admin.id

    # A rename onto a name the owner uses says whose it is.
    err = assert_error(put(admin_api, f"{SCRIPTS}/{a1['id']}", {"name": "a2"}), 409, "conflict")
    assert err["message"] == f'user {analyst.id} already has a script named "a2"'

    assert delete(admin_api, f"{SCRIPTS}/{o1['id']}").status_code == 204
    assert list_all(other_api) == []


# --- names ----------------------------------------------------------------------


def test_name_is_unique_per_user(analyst_api: Api, other_api: Api) -> None:
    s = create(analyst_api, "report")
    err = assert_error(
        analyst_api.post(SCRIPTS, {"name": "report", "code_text": "x"}), 409, "conflict"
    )
    assert err["message"] == 'you already have a script named "report"'
    # Names are compared exactly.
    create(analyst_api, "Report")
    # Another user may use the same name.
    create(other_api, "report")

    t = create(analyst_api, "other")
    err = assert_error(
        put(analyst_api, f"{SCRIPTS}/{t['id']}", {"name": "report"}), 409, "conflict"
    )
    assert err["message"] == 'you already have a script named "report"'
    # A refused rename changes nothing, code included.
    r = put(analyst_api, f"{SCRIPTS}/{t['id']}", {"name": "report", "code_text": "new"})
    assert_error(r, 409, "conflict")
    got = analyst_api.get(f"{SCRIPTS}/{t['id']}").json()
    assert (got["name"], got["code_text"], got["current_version"]) == ("other", CODE, 1)
    # Keeping one's own name is no conflict.
    r = put(analyst_api, f"{SCRIPTS}/{s['id']}", {"name": "report"})
    assert r.status_code == 200, r.text


def test_delete_frees_the_name_and_hides_the_script(analyst_api: Api, migrated: str) -> None:
    s = create(analyst_api, "temp")
    put(analyst_api, f"{SCRIPTS}/{s['id']}", {"code_text": "second"})
    sid = s["id"]
    assert delete(analyst_api, f"{SCRIPTS}/{sid}").status_code == 204

    for method, path, body in [
        ("GET", f"{SCRIPTS}/{sid}", None),
        ("PUT", f"{SCRIPTS}/{sid}", {"name": "back"}),
        ("PUT", f"{SCRIPTS}/{sid}", {"code_text": "back"}),
        ("DELETE", f"{SCRIPTS}/{sid}", None),
        ("GET", f"{SCRIPTS}/{sid}/versions", None),
        ("GET", f"{SCRIPTS}/{sid}/versions/1", None),
    ]:
        assert_error(analyst_api.request(method, path, body), 404, "not_found")
    assert list_all(analyst_api) == []

    again = create(analyst_api, "temp")
    assert again["id"] != sid
    assert again["current_version"] == 1

    # The deleted script's versions stay for the jobs that ran them.
    rows = db_rows(
        migrated,
        "SELECT s.deleted_at IS NOT NULL, array_agg(v.version ORDER BY v.version)"
        " FROM tablewright.scripts s JOIN tablewright.script_versions v ON v.script_id = s.id"
        " WHERE s.id = %s GROUP BY s.deleted_at",
        sid,
    )
    assert rows == [(True, [1, 2])]


@pytest.mark.parametrize(
    "name",
    [
        "",
        " leading",
        "trailing ",
        "\u00a0nbsp",
        "ideographic\u3000",
        "tab\tinside",
        "new\nline",
        "carriage\rreturn",
        "bell\x07",
        "del\x7f",
        "c1\u0085",
        "line\u2028separator",
        "x" * 101,
        "\U0001f680" * 101,
    ],
)
def test_bad_names_are_422(analyst_api: Api, name: str) -> None:
    assert_error(
        analyst_api.post(SCRIPTS, {"name": name, "code_text": "x"}), 422, "validation_failed"
    )
    s = create(analyst_api, "good")
    r = put(analyst_api, f"{SCRIPTS}/{s['id']}", {"name": name})
    assert_error(r, 422, "validation_failed")


@pytest.mark.parametrize(
    "name",
    ["a", "inner  spaces  are fine", "x" * 100, "\U0001f680" * 100, "é" * 100, "'\"; DROP TABLE"],
)
def test_good_names(analyst_api: Api, name: str) -> None:
    s = create(analyst_api, name)
    assert analyst_api.get(f"{SCRIPTS}/{s['id']}").json()["name"] == name


def test_unicode_round_trips(analyst_api: Api, viewer_api: Api) -> None:
    name = "Données 数据 \U0001f680 שלום e\u0301"
    code = "# コメント \U0001f600\ns = 'Grüße, мир, \u202eRTL'\n\ttab = '\\n'\n"
    s = create(analyst_api, name, code)
    assert (s["name"], s["code_text"]) == (name, code)
    got = viewer_api.get(f"{SCRIPTS}/{s['id']}").json()
    assert (got["name"], got["code_text"]) == (name, code)
    assert [i["name"] for i in list_all(viewer_api)] == [name]
    code2 = code + "\u00e9\u4e2d\U0010fffd"
    put(analyst_api, f"{SCRIPTS}/{s['id']}", {"code_text": code2})
    assert [v["code_text"] for v in versions(viewer_api, s["id"])] == [code2, code]
    # Sent as raw UTF-8 rather than \u escapes, too.
    body = json.dumps({"name": "raw ü", "code_text": "ü = 1"}, ensure_ascii=False)
    r = raw(analyst_api, "POST", SCRIPTS, body.encode())
    assert r.status_code == 201, r.text
    assert (r.json()["name"], r.json()["code_text"]) == ("raw ü", "ü = 1")


# --- code -------------------------------------------------------------------------


def test_code_of_256_kib_is_fine_and_one_byte_more_is_413(analyst_api: Api) -> None:
    code = "#" * (CODE_MAX - 1) + "\n"
    s = create(analyst_api, "big", code)
    assert len(s["code_text"]) == CODE_MAX
    assert analyst_api.get(f"{SCRIPTS}/{s['id']}").json()["code_text"] == code
    r = analyst_api.post(SCRIPTS, {"name": "too big", "code_text": code + "#"})
    err = assert_error(r, 413, "payload_too_large")
    assert "262144" in err["message"]
    r = put(analyst_api, f"{SCRIPTS}/{s['id']}", {"code_text": code + "#"})
    assert_error(r, 413, "payload_too_large")
    # The limit is in UTF-8 bytes, not characters.
    two_byte = "é" * (CODE_MAX // 2)
    r = put(analyst_api, f"{SCRIPTS}/{s['id']}", {"code_text": two_byte})
    assert r.status_code == 200, r.text
    assert_error(
        put(analyst_api, f"{SCRIPTS}/{s['id']}", {"code_text": two_byte + "x"}),
        413,
        "payload_too_large",
    )
    assert [v["version"] for v in versions(analyst_api, s["id"])] == [2, 1]


def test_empty_code_is_422(analyst_api: Api) -> None:
    r = analyst_api.post(SCRIPTS, {"name": "empty", "code_text": ""})
    assert_error(r, 422, "validation_failed")
    s = create(analyst_api, "fine")
    assert_error(
        put(analyst_api, f"{SCRIPTS}/{s['id']}", {"code_text": ""}), 422, "validation_failed"
    )
    # White space alone is code the sandbox will judge, not this API.
    assert put(analyst_api, f"{SCRIPTS}/{s['id']}", {"code_text": "\n"}).status_code == 200


def test_nul_in_a_string_is_refused(analyst_api: Api) -> None:
    # jansson refuses "\u0000" while parsing: the body is not JSON it accepts.
    for body in ({"name": "n", "code_text": "a\u0000b"}, {"name": "a\u0000b", "code_text": "x"}):
        assert_error(analyst_api.post(SCRIPTS, body), 400, "bad_request")
    assert list_all(analyst_api) == []


# --- bodies ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "code_text": "x", "owner": 1},
        {"name": "x", "code_text": "x", "user_id": 2},
        {"name": 1, "code_text": "x"},
        {"name": None, "code_text": "x"},
        {"name": ["x"], "code_text": "x"},
        {"name": "x", "code_text": 5},
        {"name": "x", "code_text": True},
        {"name": "x", "code_text": {"a": 1}},
        {"name": "x"},
        {"code_text": "x"},
        {},
    ],
)
def test_create_input_is_checked(analyst_api: Api, body: dict[str, Any]) -> None:
    assert_error(analyst_api.post(SCRIPTS, body), 422, "validation_failed")
    assert list_all(analyst_api) == []


def test_unknown_field_is_named(analyst_api: Api) -> None:
    r = analyst_api.post(SCRIPTS, {"name": "x", "code_text": "x", "versoin": 2})
    err = assert_error(r, 422, "validation_failed")
    assert err["details"] == {"field": "versoin"}


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"current_version": 7},
        {"name": "x", "id": 3},
        {"name": 3},
        {"code_text": None},
        {"name": None},
        {"code_text": ["x"]},
    ],
)
def test_update_input_is_checked(analyst_api: Api, body: dict[str, Any]) -> None:
    s = create(analyst_api, "keep")
    assert_error(put(analyst_api, f"{SCRIPTS}/{s['id']}", body), 422, "validation_failed")
    assert analyst_api.get(f"{SCRIPTS}/{s['id']}").json() == s


@pytest.mark.parametrize(
    "data",
    ['{"name": "x", "code_text": ', "not json", "[]", '"text"', "", '{"name":"a","name":"b"}'],
)
def test_bad_json_is_400(analyst_api: Api, data: str) -> None:
    s = create(analyst_api, "keep")
    assert_error(raw(analyst_api, "POST", SCRIPTS, data), 400, "bad_request")
    assert_error(raw(analyst_api, "PUT", f"{SCRIPTS}/{s['id']}", data), 400, "bad_request")
    assert [i["id"] for i in list_all(analyst_api)] == [s["id"]]


def test_non_json_content_type_is_400(analyst_api: Api) -> None:
    r = analyst_api.request(
        "POST",
        SCRIPTS,
        data=json.dumps({"name": "x", "code_text": "x"}),
        headers={"Content-Type": "text/plain"},
    )
    assert_error(r, 400, "bad_request")


# --- ids and paging ---------------------------------------------------------------


@pytest.mark.parametrize(
    "sid", ["abc", "0", "-1", "1.5", "+1", "1e3", "%201", "99999999999999999999", "0x10"]
)
def test_ids_that_are_not_positive_integers_are_404(analyst_api: Api, sid: str) -> None:
    create(analyst_api, "one")
    for method, path, body in [
        ("GET", f"{SCRIPTS}/{sid}", None),
        ("PUT", f"{SCRIPTS}/{sid}", {"name": "x"}),
        ("DELETE", f"{SCRIPTS}/{sid}", None),
        ("GET", f"{SCRIPTS}/{sid}/versions", None),
        ("GET", f"{SCRIPTS}/{sid}/versions/1", None),
    ]:
        assert_error(analyst_api.request(method, path, body), 404, "not_found")


@pytest.mark.parametrize("version", ["x", "0", "-1", "1.0", "2147483648", "99999999999999999999"])
def test_versions_that_are_not_positive_integers_are_404(analyst_api: Api, version: str) -> None:
    s = create(analyst_api, "one")
    assert_error(analyst_api.get(f"{SCRIPTS}/{s['id']}/versions/{version}"), 404, "not_found")


def test_list_pages_with_limit_and_cursor(analyst_api: Api, other_api: Api) -> None:
    ids = [create(analyst_api, f"s{i}")["id"] for i in range(7)]
    create(other_api, "not mine")
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": "3"}
        if cursor is not None:
            params["cursor"] = cursor
        body = analyst_api.get(SCRIPTS, params=params).json()
        assert len(body["items"]) <= 3
        seen += [i["id"] for i in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert isinstance(cursor, str)
    assert pages == 3
    assert seen == sorted(ids, reverse=True)
    # The default limit is 50.
    assert len(analyst_api.get(SCRIPTS).json()["items"]) == 7
    # A page that ends exactly at the last script says so.
    body = analyst_api.get(SCRIPTS, params={"limit": "7"}).json()
    assert (len(body["items"]), body["next_cursor"]) == (7, None)


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "501"},
        {"limit": "x"},
        {"limit": ""},
        {"limit": "-1"},
        {"cursor": "abc"},
        {"cursor": "-5"},
    ],
)
def test_bad_paging_is_422(analyst_api: Api, params: dict[str, str]) -> None:
    s = create(analyst_api, "one")
    assert_error(analyst_api.get(SCRIPTS, params=params), 422, "validation_failed")
    r = analyst_api.get(f"{SCRIPTS}/{s['id']}/versions", params=params)
    assert_error(r, 422, "validation_failed")


def test_limit_500_is_fine(analyst_api: Api) -> None:
    create(analyst_api, "one")
    r = analyst_api.get(SCRIPTS, params={"limit": "500"})
    assert r.status_code == 200
    assert r.json()["next_cursor"] is None


def test_versions_page_with_limit_and_cursor(analyst_api: Api) -> None:
    s = create(analyst_api, "many", "c1")
    for i in range(2, 8):
        put(analyst_api, f"{SCRIPTS}/{s['id']}", {"code_text": f"c{i}"})
    seen: list[int] = []
    cursor = ""
    while True:
        r = analyst_api.get(
            f"{SCRIPTS}/{s['id']}/versions", params={"limit": "3", "cursor": cursor}
        )
        body = r.json()
        assert len(body["items"]) <= 3
        seen += [v["version"] for v in body["items"]]
        if body["next_cursor"] is None:
            break
        cursor = body["next_cursor"]
    assert seen == [7, 6, 5, 4, 3, 2, 1]
    r = analyst_api.get(f"{SCRIPTS}/{s['id']}/versions", params={"cursor": "2147483648"})
    assert_error(r, 422, "validation_failed")


def test_a_versions_page_stops_at_8_mib_of_code(analyst_api: Api) -> None:
    big = "#" * CODE_MAX
    s = create(analyst_api, "huge", big)
    for _ in range(35):
        r = put(analyst_api, f"{SCRIPTS}/{s['id']}", {"code_text": big})
        assert r.status_code == 200
    # 36 versions of 256 KiB; 32 of them make 8 MiB.
    first = analyst_api.get(f"{SCRIPTS}/{s['id']}/versions", params={"limit": "500"}).json()
    assert [v["version"] for v in first["items"]] == list(range(36, 4, -1))
    assert all(v["code_text"] == big for v in first["items"])
    assert first["next_cursor"] == "5"
    rest = analyst_api.get(
        f"{SCRIPTS}/{s['id']}/versions", params={"limit": "500", "cursor": "5"}
    ).json()
    assert [v["version"] for v in rest["items"]] == [4, 3, 2, 1]
    assert rest["next_cursor"] is None


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?sort=name", 'unknown query parameter "sort"'),
        ("?limit=1&limit=2", "query parameter limit given more than once"),
        ("?user_id", "query parameter user_id needs a value"),
    ],
)
def test_list_refuses_what_its_query_does_not_allow(
    analyst_api: Api, query: str, message: str
) -> None:
    # The same reply as jobs, tables and users give: the route's allow list
    # is checked before the handler runs.
    create(analyst_api, "one")
    err = assert_error(analyst_api.get(SCRIPTS + query), 422, "validation_failed")
    assert err["message"] == message


def test_every_route_refuses_an_unknown_query_parameter(analyst_api: Api) -> None:
    s = create(analyst_api, "kept")
    one = f"{SCRIPTS}/{s['id']}"
    for method, path, body in (
        ("GET", f"{one}?x=1", None),
        ("GET", f"{one}/versions?x=1", None),
        ("GET", f"{one}/versions/1?x=1", None),
        ("POST", f"{SCRIPTS}?x=1", {"name": "new", "code_text": CODE}),
        ("PUT", f"{one}?x=1", {"name": "renamed"}),
        ("DELETE", f"{one}?x=1", None),
    ):
        r = analyst_api.request(method, path, body)
        err = assert_error(r, 422, "validation_failed")
        assert err["message"] == 'unknown query parameter "x"', (method, path)
    # Nothing was created, renamed or deleted.
    assert [x["name"] for x in list_all(analyst_api)] == ["kept"]


# --- concurrency ------------------------------------------------------------------


def test_concurrent_saves_get_consecutive_versions(analyst_api: Api) -> None:
    s = create(analyst_api, "hot")
    path = f"{SCRIPTS}/{s['id']}"
    start = threading.Barrier(8)

    def save(i: int) -> tuple[int, str]:
        client = analyst_api.with_token(analyst_api.token)
        start.wait()
        r = put(client, path, {"code_text": f"writer {i}\n"})
        assert r.status_code == 200, r.text
        return r.json()["current_version"], r.json()["code_text"]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(save, range(8)))
    assert sorted(v for v, _ in results) == list(range(2, 10))
    by_version = {v["version"]: v["code_text"] for v in versions(analyst_api, s["id"])}
    assert sorted(by_version) == list(range(1, 10))
    for version, code in results:
        assert by_version[version] == code
    final = analyst_api.get(path).json()
    assert final["current_version"] == 9
    assert final["code_text"] == by_version[9]


def test_concurrent_creates_of_one_name_make_one_script(analyst_api: Api) -> None:
    start = threading.Barrier(8)

    def make(_: int) -> int:
        client = analyst_api.with_token(analyst_api.token)
        start.wait()
        return client.post(SCRIPTS, {"name": "race", "code_text": "x"}).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = sorted(pool.map(make, range(8)))
    assert codes == [201] + [409] * 7
    assert [i["name"] for i in list_all(analyst_api)] == ["race"]
