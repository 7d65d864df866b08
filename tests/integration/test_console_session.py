"""Issue 12: the console signs in with the Open API credentials and then holds an
HttpOnly, Secure, SameSite=Strict session cookie; state-changing requests carry its
CSRF token; signing out ends the session."""

from __future__ import annotations

import json
from typing import Any

from .conftest import Service
from .support import Api, Table, ok, refused


def sign_in(api: Api) -> tuple[str, str, dict[str, str]]:
    """(cookie value, CSRF token, the Set-Cookie attributes)."""
    creds = {"accessKey": api.credentials.access_key, "accessSecret": api.credentials.access_secret}
    response = api.client.http.request(
        "POST", "/v1/console/session", headers={"Content-Type": "application/json"}, body=json.dumps(creds).encode()
    )
    assert response.status_code == 200, response.body
    header = response.headers["Set-Cookie"]
    name_value, *attributes = [part.strip() for part in header.split(";")]
    name, _, value = name_value.partition("=")
    assert name == "uconsole"
    flags = {a.partition("=")[0].lower(): a.partition("=")[2] for a in attributes}
    return value, json.loads(response.body)["csrfToken"], flags


def as_console(api: Api, method: str, path: str, cookie: str, csrf: str | None = None, body: Any = None) -> Any:
    headers = {"Cookie": f"uconsole={cookie}", "Content-Type": "application/json"}
    if csrf is not None:
        headers["X-CSRF-Token"] = csrf
    return api.call(method, path, body, headers=headers)


def test_the_session_cookie_is_httponly_secure_strict_and_short_lived(api: Api) -> None:
    cookie, csrf, flags = sign_in(api)
    assert {"httponly", "secure"} <= set(flags) and flags["samesite"] == "Strict" and flags["path"] == "/"
    assert 0 < int(flags["max-age"]) <= 3600
    assert csrf and csrf not in cookie, "the CSRF token is not in the cookie"
    assert api.credentials.access_secret not in cookie


def test_wrong_credentials_get_no_session(api: Api, table: Table) -> None:
    with table.unchanged():
        reply = api.call("POST", "/v1/console/session", {"accessKey": api.credentials.access_key, "accessSecret": "x"})
    refused(reply, 401, "unauthorized")


def test_the_cookie_opens_the_open_api_and_writes_need_the_csrf_token(api: Api, table: Table) -> None:
    member = api.put_member("m-console", {"name": "Taro"})
    cookie, csrf, _ = sign_in(api)
    assert ok(as_console(api, "GET", f"/v1/users/{member['id']}", cookie))["user"]["id"] == member["id"]
    with table.unchanged():
        refused(as_console(api, "PATCH", f"/v1/users/{member['id']}", cookie, None, {"profile": {"name": "X"}}),
                401, "unauthorized")  # fmt: skip
        refused(as_console(api, "PATCH", f"/v1/users/{member['id']}", cookie, "forged", {"profile": {"name": "X"}}),
                401, "unauthorized")  # fmt: skip
    edited = ok(as_console(api, "PATCH", f"/v1/users/{member['id']}", cookie, csrf, {"profile": {"name": "Hanako"}}))
    assert edited["user"]["profile"]["name"] == "Hanako"
    assert ok(as_console(api, "GET", "/v1/console/session", cookie))["csrfToken"] == csrf


def test_a_forged_or_foreign_cookie_is_refused(api: Api) -> None:
    cookie, _, _ = sign_in(api)
    session_id, _, signature = cookie.partition(".")
    for forged in (f"{session_id}.{'0' * len(signature)}", f"other.{signature}", "nothing", ""):
        refused(as_console(api, "GET", "/v1/unifications", forged), 401, "unauthorized")


def test_signing_out_ends_the_session_for_good(api: Api) -> None:
    cookie, csrf, _ = sign_in(api)
    refused(as_console(api, "DELETE", "/v1/console/session", cookie), 401, "unauthorized")  # no CSRF token
    response = api.client.http.request(
        "DELETE", "/v1/console/session", headers={"Cookie": f"uconsole={cookie}", "X-CSRF-Token": csrf}
    )
    assert response.status_code == 204 and "Max-Age=0" in response.headers["Set-Cookie"]
    for method, path in (("GET", "/v1/console/session"), ("GET", "/v1/unifications")):
        refused(as_console(api, method, path, cookie), 401, "unauthorized")


def test_a_session_ends_after_an_hour(api: Api, service: Service) -> None:
    cookie, _, _ = sign_in(api)
    service.clock.advance(3601)
    refused(as_console(api, "GET", "/v1/unifications", cookie), 401, "unauthorized")
