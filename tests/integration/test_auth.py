"""Credentials (issue 2, "Auth"): Open API keys, the plugin key, session tokens,
memberHash (R5.4). A refused call answers 401 `unauthorized` and changes nothing."""

from __future__ import annotations

import pytest

from .conftest import SESSION_TIMEOUT, Service
from .support import Api, Table, ok, refused

OPEN_API_CALLS = [
    ("GET", "/v1/users/u_1", None),
    ("GET", "/v1/users?email=a%40example.com", None),
    ("POST", "/v1/users", {"profile": {"name": "Lead"}}),
    ("PATCH", "/v1/users/u_1", {"profile": {"name": "Lead"}}),
    ("PUT", "/v1/members/m-1", {"profile": {"name": "Member"}}),
    ("GET", "/v1/members/m-1", None),
    ("GET", "/v1/users/u_1/chats", None),
    ("GET", "/v1/users/u_1/events", None),
    ("POST", "/v1/users/u_1/events", {"name": "PageView"}),
    ("GET", "/v1/users/u_1/marketing-deliveries", None),
    ("POST", "/v1/users/u_1/marketing-deliveries", {"campaignId": "c-1"}),
    ("POST", "/v1/chats/c_1/messages", {"text": "hi"}),
]

BAD_ACCESS = {
    "no-keys": {},
    "key-only": {"X-Access-Key": "test-access-key"},
    "wrong-secret": {"X-Access-Key": "test-access-key", "X-Access-Secret": "wrong"},
    "wrong-key": {"X-Access-Key": "wrong", "X-Access-Secret": "test-access-secret"},
    "plugin-key-is-not-an-access-key": {"X-Plugin-Key": "test-plugin-key"},
}


@pytest.mark.parametrize("headers", BAD_ACCESS.values(), ids=BAD_ACCESS.keys())
@pytest.mark.parametrize(("method", "path", "body"), OPEN_API_CALLS, ids=[f"{m} {p}" for m, p, _ in OPEN_API_CALLS])
def test_open_api_needs_access_key_and_secret(
    api: Api, table: Table, method: str, path: str, body: object, headers: dict[str, str]
) -> None:
    with table.unchanged():
        refused(api.call(method, path, body, headers=headers), 401, "unauthorized")


def test_access_keys_open_the_open_api(api: Api) -> None:
    assert ok(api.admin("PUT", "/v1/members/m-1", {"profile": {}}), 201)["user"]["memberId"] == "m-1"


def test_health_needs_no_credentials(api: Api) -> None:
    assert ok(api.call("GET", "/v1/health")) == {"status": "ok"}


BAD_PLUGIN = {
    "no-plugin-key": {},
    "wrong-plugin-key": {"X-Plugin-Key": "wrong"},
    "access-keys-are-not-a-plugin-key": {"X-Access-Key": "test-access-key", "X-Access-Secret": "test-access-secret"},
}


@pytest.mark.parametrize("headers", BAD_PLUGIN.values(), ids=BAD_PLUGIN.keys())
def test_boot_needs_the_plugin_key(api: Api, table: Table, headers: dict[str, str]) -> None:
    with table.unchanged():
        refused(api.boot(headers=headers), 401, "unauthorized")
        refused(api.boot(member_id="m-1", headers=headers), 401, "unauthorized")


SESSION_CALLS = [
    ("GET", "/v1/session", None),
    ("POST", "/v1/session/login", {"memberId": "m-1"}),
    ("POST", "/v1/session/logout", None),
    ("POST", "/v1/session/events", {"name": "PageView"}),
    ("POST", "/v1/session/chats", {"text": "hi"}),
    ("GET", "/v1/session/chats", None),
    ("POST", "/v1/session/chats/c_1/messages", {"text": "hi"}),
]
SESSION_IDS = [f"{m} {p}" for m, p, _ in SESSION_CALLS]


@pytest.mark.parametrize(("method", "path", "body"), SESSION_CALLS, ids=SESSION_IDS)
@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", "Bearer not-a-token", "Basic dGVzdDp0ZXN0", "test-plugin-key"],
    ids=["missing", "empty-bearer", "made-up-token", "basic-auth", "bare-plugin-key"],
)
def test_session_calls_need_a_bearer_session_token(
    api: Api, table: Table, method: str, path: str, body: object, authorization: str | None
) -> None:
    api.visit()
    headers = {} if authorization is None else {"Authorization": authorization}
    with table.unchanged():
        refused(api.call(method, path, body, headers=headers), 401, "unauthorized")


@pytest.mark.parametrize(("method", "path", "body"), SESSION_CALLS, ids=SESSION_IDS)
def test_a_forged_secret_for_a_real_device_is_refused(
    api: Api, table: Table, method: str, path: str, body: object
) -> None:
    """The token names its device, but only the random part proves the session."""
    visitor = api.visit()
    head, _, secret = visitor.token.partition(".")
    forged = f"{head}.{'A' * len(secret)}"
    with table.unchanged():
        refused(api.session(forged, method, path, body), 401, "unauthorized")


@pytest.mark.parametrize(("method", "path", "body"), SESSION_CALLS, ids=SESSION_IDS)
def test_an_ended_session_token_is_refused(
    api: Api, table: Table, service: Service, method: str, path: str, body: object
) -> None:
    """R4.1: after SESSION_TIMEOUT_SECONDS without activity the token is dead."""
    visitor = api.visit()
    ok(api.session(visitor.token, "GET", "/v1/session"))
    service.clock.advance(SESSION_TIMEOUT + 1)
    with table.unchanged():
        refused(api.session(visitor.token, method, path, body), 401, "unauthorized")


def test_every_boot_hands_out_a_fresh_random_token(api: Api) -> None:
    first = api.visit()
    second = api.visit(veil_id=first.veil_id)
    assert second.token != first.token
    assert ok(api.session(second.token, "GET", "/v1/session"))["user"]["id"] == first.user_id


# R5.4 memberHash ---------------------------------------------------------------


@pytest.fixture
def member_secret(service: Service, api: Api) -> str:
    secret = api.credentials.member_hash_secret
    service.configure(MEMBER_HASH_SECRET=secret)
    return secret


BAD_HASHES = {
    "missing": None,
    "empty": "",
    "zeros": "00" * 32,
    "hash-of-another-member": "other",
    "not-hex": "zz" * 32,
    # issue 10, item 2: non-ASCII text answered 500 (hmac.compare_digest raises on it)
    "non-ascii": "é" * 64,
    "non-ascii-short": "ハッシュ",
    # decided: hex in either case is the hash; anything around it is not
    "padded-with-spaces": " valid ",
    "with-a-newline": "valid\n",
}


def hash_for(api: Api, bad: str | None) -> str | None:
    valid = api.credentials.member_hash("m-taro")
    if bad == "other":
        return api.credentials.member_hash("m-other")
    if bad is not None and "valid" in bad:
        return bad.replace("valid", valid)
    return bad


@pytest.mark.parametrize("bad", BAD_HASHES.values(), ids=BAD_HASHES.keys())
def test_r5_4_login_with_a_bad_member_hash_is_refused_and_changes_nothing(
    api: Api, table: Table, member_secret: str, bad: str | None
) -> None:
    api.put_member("m-taro", {"name": "Taro Yamada"})
    visitor = api.visit()
    api.chat(visitor)
    member_hash = hash_for(api, bad)
    body = {"memberId": "m-taro"} | ({} if member_hash is None else {"memberHash": member_hash})
    with table.unchanged(ignore_activity=True):
        refused(api.session(visitor.token, "POST", "/v1/session/login", body), 401, "unauthorized")
    assert ok(api.session(visitor.token, "GET", "/v1/session"))["user"]["id"] == visitor.user_id


@pytest.mark.parametrize("bad", BAD_HASHES.values(), ids=BAD_HASHES.keys())
def test_r5_4_boot_with_member_id_and_a_bad_member_hash_is_refused(
    api: Api, table: Table, member_secret: str, bad: str | None
) -> None:
    api.put_member("m-taro", {"name": "Taro Yamada"})
    member_hash = hash_for(api, bad)
    body = {"memberId": "m-taro"} | ({} if member_hash is None else {"memberHash": member_hash})
    with table.unchanged():
        refused(api.call("POST", "/v1/boot", body, headers=api.credentials.plugin_headers), 401, "unauthorized")


def test_r5_4_a_valid_member_hash_logs_in(api: Api, member_secret: str) -> None:
    member = api.put_member("m-taro", {"name": "Taro Yamada"})
    visitor = api.visit()
    assert ok(api.login(visitor, "m-taro"))["user"]["id"] == member["id"]
    booted = ok(api.boot(member_id="m-taro"))
    assert booted["user"]["id"] == member["id"]


def test_r5_4_a_member_hash_in_upper_case_is_the_same_hash(api: Api, member_secret: str) -> None:
    member = api.put_member("m-taro", {"name": "Taro Yamada"})
    upper = api.credentials.member_hash("m-taro").upper()
    body = {"memberId": "m-taro", "memberHash": upper}
    booted = ok(api.call("POST", "/v1/boot", body, api.credentials.plugin_headers))
    assert booted["user"]["id"] == member["id"]


def test_r5_4_without_a_member_secret_no_member_hash_is_needed(api: Api) -> None:
    member = api.put_member("m-taro", {"name": "Taro Yamada"})
    visitor = api.visit()
    login = api.session(visitor.token, "POST", "/v1/session/login", {"memberId": "m-taro"})
    assert ok(login)["user"]["id"] == member["id"]
