"""Bad input (issue 2, item 9): every refusal has the contract's error body and
changes nothing. 400 `invalid_request`, 404 `not_found`, 413 `payload_too_large`."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from functools import partial
from typing import Any

import pytest

from .support import Api, Table, Visitor, ok, refused, refused_all

ONE_MIB = 1024 * 1024


@dataclass(frozen=True)
class World:
    """One of each thing a path can name."""

    member_id: str
    member: str
    lead: str
    visitor: Visitor
    chat: str

    def path(self, template: str) -> str:
        return template.format(member_id=self.member_id, member=self.member, lead=self.lead, chat=self.chat)


@pytest.fixture
def world(api: Api) -> World:
    member = api.put_member("m-1", {"name": "Taro Yamada", "email": "taro@example.com"})
    lead = api.create_lead({"name": "Lead", "mobileNumber": "090-1234-5678"})["user"]
    visitor = api.visit()
    chat = api.chat(visitor)["chat"]["id"]
    ok(api.admin("POST", f"/v1/users/{lead['id']}/events", {"name": "Seen"}), 201)
    ok(api.admin("POST", f"/v1/users/{lead['id']}/marketing-deliveries", {"campaignId": "spring"}), 201)
    return World(member_id="m-1", member=member["id"], lead=lead["id"], visitor=visitor, chat=chat)


def send(api: Api, world: World, side: str, method: str, template: str, body: Any) -> Any:
    """`body` is JSON to encode, or bytes sent as they are."""
    raw = body if isinstance(body, bytes) else None
    data = None if isinstance(body, bytes) else body
    path = world.path(template)
    if side == "admin":
        return api.call(method, path, data, headers=api.credentials.admin_headers, raw=raw)
    if side == "boot":
        return api.call(method, path, data, headers=api.credentials.plugin_headers, raw=raw)
    return api.session(world.visitor.token, method, path, data, raw=raw)


# Every body-taking endpoint: (side, method, path, a body it accepts).
WRITES = {
    "boot": ("boot", "POST", "/v1/boot", {"profile": {"name": "Mango"}}),
    "login": ("session", "POST", "/v1/session/login", {"memberId": "m-new"}),
    "session-event": ("session", "POST", "/v1/session/events", {"name": "PageView"}),
    "session-chat": ("session", "POST", "/v1/session/chats", {"text": "hi"}),
    "session-message": ("session", "POST", "/v1/session/chats/{chat}/messages", {"text": "hi"}),
    "put-member": ("admin", "PUT", "/v1/members/{member_id}", {"profile": {"name": "Taro"}}),
    "create-lead": ("admin", "POST", "/v1/users", {"profile": {"name": "Lead"}}),
    "patch-user": ("admin", "PATCH", "/v1/users/{lead}", {"profile": {"name": "Lead"}}),
    "user-event": ("admin", "POST", "/v1/users/{lead}/events", {"name": "PageView"}),
    "delivery": ("admin", "POST", "/v1/users/{lead}/marketing-deliveries", {"campaignId": "summer"}),
    "manager-reply": ("admin", "POST", "/v1/chats/{chat}/messages", {"text": "hi", "managerName": "Sato"}),
}

MALFORMED = {
    "truncated": b'{"profile": ',
    "not-json": b"hello",
    "trailing-comma": b'{"text": "hi",}',
    "a-list": b"[1, 2]",
    "a-string": b'"text"',
    "not-utf8": b'{"text": "\xff\xfe"}',
}


@pytest.mark.parametrize("endpoint", WRITES.values(), ids=WRITES.keys())
def test_malformed_json_is_400(api: Api, table: Table, world: World, endpoint: tuple[str, str, str, Any]) -> None:
    side, method, path, _ = endpoint
    with table.unchanged(ignore_activity=True):
        refused_all(
            {name: partial(send, api, world, side, method, path, raw) for name, raw in MALFORMED.items()},
            400,
            "invalid_request",
        )


@pytest.mark.parametrize("endpoint", WRITES.values(), ids=WRITES.keys())
def test_an_unknown_top_level_field_is_400(
    api: Api, table: Table, world: World, endpoint: tuple[str, str, str, Any]
) -> None:
    side, method, path, good = endpoint
    with table.unchanged(ignore_activity=True):
        refused(send(api, world, side, method, path, {**good, "nickname": "x"}), 400, "invalid_request")


@pytest.mark.parametrize("endpoint", WRITES.values(), ids=WRITES.keys())
def test_the_accepted_body_of_each_endpoint_is_accepted(
    api: Api, world: World, endpoint: tuple[str, str, str, Any]
) -> None:
    """The control for the refusals above: the same endpoint, a good body."""
    side, method, path, good = endpoint
    ok(send(api, world, side, method, path, good), (200, 201))


# Read-only fields: a client must not set type, memberId, verifiedFields or unifiedInto.
PROFILE_WRITES = {k: WRITES[k] for k in ("boot", "login", "put-member", "create-lead", "patch-user")}
READ_ONLY = {
    "type": "member",
    "memberId": "m-forged",
    "verifiedFields": ["email", "mobileNumber"],
    "unifiedInto": "u_forged",
    "unifiedAt": "2026-01-01T00:00:00.000Z",
    "id": "u_forged",
    "displayName": "Forged",
    "pendingUnifications": [],
}


@pytest.mark.parametrize("endpoint", PROFILE_WRITES.values(), ids=PROFILE_WRITES.keys())
def test_read_only_fields_at_top_level_are_400(
    api: Api, table: Table, world: World, endpoint: tuple[str, str, str, Any]
) -> None:
    side, method, path, good = endpoint
    # memberId is the very input of a login (R5), so only the other endpoints must refuse it.
    fields = [f for f in READ_ONLY if not (f == "memberId" and path in ("/v1/boot", "/v1/session/login"))]
    with table.unchanged(ignore_activity=True):
        refused_all(
            {f: partial(send, api, world, side, method, path, {**good, f: READ_ONLY[f]}) for f in fields},
            400,
            "invalid_request",
        )


@pytest.mark.parametrize("endpoint", PROFILE_WRITES.values(), ids=PROFILE_WRITES.keys())
def test_read_only_fields_inside_profile_are_400(
    api: Api, table: Table, world: World, endpoint: tuple[str, str, str, Any]
) -> None:
    side, method, path, good = endpoint
    bodies = {f: {**good, "profile": {"name": "Taro", f: value}} for f, value in READ_ONLY.items()}
    with table.unchanged(ignore_activity=True):
        refused_all(
            {f: partial(send, api, world, side, method, path, body) for f, body in bodies.items()},
            400,
            "invalid_request",
        )


BAD_PROFILES = {
    "profile-not-an-object": "Taro",
    "profile-a-list": ["Taro"],
    "name-a-number": {"name": 5},
    "email-a-boolean": {"email": True},
    "phone-a-number": {"mobileNumber": 9012345678},
    "invalid-phone-short": {"mobileNumber": "12"},
    "invalid-phone-letters": {"mobileNumber": "call me"},
    "invalid-email": {"email": "not-an-email"},
    "invalid-email-no-domain": {"email": "taro@"},
    "name-over-1000": {"name": "x" * 1001},
    "custom-value-over-1000": {"favourite": "x" * 1001},
    "custom-key-with-hyphen": {"fav-colour": "blue"},
    "custom-key-with-space": {"fav colour": "blue"},
    "custom-key-over-64": {"k" * 65: "v"},
    "custom-key-empty": {"": "v"},
    "custom-key-non-ascii": {"好き": "v"},
    "custom-value-a-list": {"tags": ["a", "b"]},
    "custom-value-an-object": {"address": {"city": "Tokyo"}},
    # near-misses of the fields the service treats specially are mistakes, never custom fields (API.md)
    "near-miss-Email": {"Email": "a@b.jp"},
    "near-miss-mobile_number": {"mobile_number": "090-1234-5678"},
    "near-miss-phone": {"phone": "090-1234-5678"},
    "near-miss-company": {"company": "ACME"},
    "near-miss-member_id": {"member_id": "m1"},
}


@pytest.mark.parametrize("endpoint", PROFILE_WRITES.values(), ids=PROFILE_WRITES.keys())
def test_bad_profiles_are_400(api: Api, table: Table, world: World, endpoint: tuple[str, str, str, Any]) -> None:
    side, method, path, good = endpoint
    with table.unchanged(ignore_activity=True):
        refused_all(
            {
                name: partial(send, api, world, side, method, path, {**good, "profile": profile})
                for name, profile in BAD_PROFILES.items()
            },
            400,
            "invalid_request",
        )


def test_profile_values_at_the_limits_are_accepted(api: Api, world: World) -> None:
    """The control: 1,000-character strings and 64-character custom keys of the allowed types."""
    profile = {"name": "x" * 1000, "k" * 64: "y" * 1000, "tier_2": 3, "vip": True, "score": 1.5}
    user = ok(api.admin("PATCH", f"/v1/users/{world.lead}", {"profile": profile}))["user"]
    assert user["profile"]["name"] == "x" * 1000
    assert user["profile"]["k" * 64] == "y" * 1000
    assert (user["profile"]["tier_2"], user["profile"]["vip"], user["profile"]["score"]) == (3, True, 1.5)


BAD_FIELDS = {
    "consent-a-string": ("admin", "PATCH", "/v1/users/{lead}", {"unsubscribeEmail": "yes"}),
    "consent-a-number": ("admin", "PUT", "/v1/members/{member_id}", {"unsubscribeTexting": 1}),
    "event-name-empty": ("admin", "POST", "/v1/users/{lead}/events", {"name": ""}),
    "event-name-over-200": ("admin", "POST", "/v1/users/{lead}/events", {"name": "x" * 201}),
    "event-name-a-number": ("admin", "POST", "/v1/users/{lead}/events", {"name": 5}),
    "event-name-missing": ("admin", "POST", "/v1/users/{lead}/events", {"properties": {}}),
    "event-properties-a-list": ("admin", "POST", "/v1/users/{lead}/events", {"name": "x", "properties": [1]}),
    "event-user-id-given": ("session", "POST", "/v1/session/events", {"name": "x", "userId": "u_forged"}),
    "session-event-name-empty": ("session", "POST", "/v1/session/events", {"name": ""}),
    "chat-text-empty": ("session", "POST", "/v1/session/chats", {"text": ""}),
    "chat-text-over-10000": ("session", "POST", "/v1/session/chats", {"text": "x" * 10001}),
    "chat-text-a-number": ("session", "POST", "/v1/session/chats", {"text": 5}),
    "chat-text-missing": ("session", "POST", "/v1/session/chats", {}),
    "message-text-empty": ("session", "POST", "/v1/session/chats/{chat}/messages", {"text": ""}),
    "message-text-over-10000": ("session", "POST", "/v1/session/chats/{chat}/messages", {"text": "x" * 10001}),
    "reply-text-empty": ("admin", "POST", "/v1/chats/{chat}/messages", {"text": ""}),
    "reply-text-over-10000": ("admin", "POST", "/v1/chats/{chat}/messages", {"text": "x" * 10001}),
    "reply-manager-name-a-number": ("admin", "POST", "/v1/chats/{chat}/messages", {"text": "hi", "managerName": 3}),
    "delivery-campaign-a-number": ("admin", "POST", "/v1/users/{lead}/marketing-deliveries", {"campaignId": 7}),
    "delivery-campaign-empty": ("admin", "POST", "/v1/users/{lead}/marketing-deliveries", {"campaignId": ""}),
    "delivery-campaign-missing": ("admin", "POST", "/v1/users/{lead}/marketing-deliveries", {}),
    "delivery-user-id-given": (
        "admin",
        "POST",
        "/v1/users/{lead}/marketing-deliveries",
        {"campaignId": "x", "userId": "u_forged"},
    ),
    "login-member-id-missing": ("session", "POST", "/v1/session/login", {}),
    "login-member-id-empty": ("session", "POST", "/v1/session/login", {"memberId": ""}),
    "login-member-id-a-number": ("session", "POST", "/v1/session/login", {"memberId": 42}),
    "boot-veil-id-a-number": ("boot", "POST", "/v1/boot", {"veilId": 42}),
    "boot-veil-id-with-spaces": ("boot", "POST", "/v1/boot", {"veilId": "my device"}),
    "boot-member-id-a-number": ("boot", "POST", "/v1/boot", {"memberId": 42}),
}


@pytest.mark.parametrize("request_", BAD_FIELDS.values(), ids=BAD_FIELDS.keys())
def test_wrong_types_missing_and_out_of_range_fields_are_400(
    api: Api, table: Table, world: World, request_: tuple[str, str, str, Any]
) -> None:
    side, method, path, body = request_
    with table.unchanged(ignore_activity=True):
        refused(send(api, world, side, method, path, body), 400, "invalid_request")


def test_texts_and_names_at_the_limits_are_accepted(api: Api, world: World) -> None:
    event = ok(api.admin("POST", f"/v1/users/{world.lead}/events", {"name": "e" * 200}), 201)["event"]
    assert event["name"] == "e" * 200
    message = api.say(world.visitor, world.chat, "t" * 10_000)
    assert message["text"] == "t" * 10_000


# 413 -------------------------------------------------------------------------------


def over_one_mib(good: dict[str, Any]) -> bytes:
    """A well-formed body just over 1 MiB (API.md: JSON bodies ≤ 1 MiB)."""
    body = json.dumps(good).encode()
    padding = ONE_MIB + 1 - len(body) - len(b', "pad": ""')
    return json.dumps({**good, "pad": "x" * padding}).encode()


OVERSIZE = {k: WRITES[k] for k in ("boot", "session-event", "session-chat", "create-lead", "patch-user", "delivery")}


@pytest.mark.parametrize("endpoint", OVERSIZE.values(), ids=OVERSIZE.keys())
def test_a_json_body_over_one_mib_is_413(
    api: Api, table: Table, world: World, endpoint: tuple[str, str, str, Any]
) -> None:
    side, method, path, good = endpoint
    raw = over_one_mib(good)
    assert len(raw) == ONE_MIB + 1
    with table.unchanged(ignore_activity=True):
        refused(send(api, world, side, method, path, raw), 413, "payload_too_large")


def test_a_large_event_within_one_mib_is_never_a_500(api: Api, table: Table, world: World) -> None:
    """A body the contract accepts in size (≤ 1 MiB) but DynamoDB cannot store in one
    item (400 KB) must get an answer of the contract, not an internal error."""
    body = {"name": "Upload", "properties": {"blob": "x" * 600_000}}
    reply = api.admin("POST", f"/v1/users/{world.lead}/events", body)
    assert reply.status in (201, 400, 413), f"expected 201 or a contract refusal, got {reply.status}: {reply.body}"


# 404 -------------------------------------------------------------------------------

UNKNOWN = {
    "get-user": ("admin", "GET", "/v1/users/u_nobody", None),
    "get-user-unresolved": ("admin", "GET", "/v1/users/u_nobody?resolve=false", None),
    "patch-user": ("admin", "PATCH", "/v1/users/u_nobody", {"profile": {"name": "x"}}),
    "get-member": ("admin", "GET", "/v1/members/m-nobody", None),
    "user-chats": ("admin", "GET", "/v1/users/u_nobody/chats", None),
    "user-events": ("admin", "GET", "/v1/users/u_nobody/events", None),
    "user-deliveries": ("admin", "GET", "/v1/users/u_nobody/marketing-deliveries", None),
    "post-event": ("admin", "POST", "/v1/users/u_nobody/events", {"name": "x"}),
    "post-delivery": ("admin", "POST", "/v1/users/u_nobody/marketing-deliveries", {"campaignId": "x"}),
    "manager-reply": ("admin", "POST", "/v1/chats/c_nobody/messages", {"text": "hi"}),
    "session-message": ("session", "POST", "/v1/session/chats/c_nobody/messages", {"text": "hi"}),
}


@pytest.mark.parametrize("request_", UNKNOWN.values(), ids=UNKNOWN.keys())
def test_unknown_ids_are_404(api: Api, table: Table, world: World, request_: tuple[str, str, str, Any]) -> None:
    side, method, path, body = request_
    with table.unchanged(ignore_activity=True):
        refused(send(api, world, side, method, path, body), 404, "not_found")


def test_a_session_cannot_write_in_someone_elses_chat(api: Api, table: Table, world: World) -> None:
    stranger = api.visit()
    with table.unchanged(ignore_activity=True):
        reply = api.session(stranger.token, "POST", f"/v1/session/chats/{world.chat}/messages", {"text": "hi"})
        refused(reply, 404, "not_found")


# bad query parameters ---------------------------------------------------------------

LISTS = {
    "user-chats": ("admin", "/v1/users/{lead}/chats"),
    "user-events": ("admin", "/v1/users/{lead}/events"),
    "user-deliveries": ("admin", "/v1/users/{lead}/marketing-deliveries"),
    "session-chats": ("session", "/v1/session/chats"),
}


def b64(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


BAD_PAGING = {
    "limit-zero": "limit=0",
    "limit-over-1000": "limit=1001",
    "limit-negative": "limit=-1",
    "limit-a-word": "limit=ten",
    "limit-a-fraction": "limit=1.5",
    "limit-empty": "limit=",
    "cursor-garbage": "cursor=%21%21not-a-cursor%21%21",
    "cursor-empty": "cursor=",
    "cursor-base64-of-a-list": f"cursor={b64([1, 2])}",
    "cursor-base64-of-a-bad-phase": f"cursor={b64({'p': 'x'})}",
    "unknown-parameter": "page=2",
}


@pytest.mark.parametrize("listing", LISTS.values(), ids=LISTS.keys())
def test_bad_limit_or_cursor_is_400(api: Api, table: Table, world: World, listing: tuple[str, str]) -> None:
    side, path = listing
    with table.unchanged(ignore_activity=True):
        refused_all(
            {
                name: partial(send, api, world, side, "GET", f"{path}?{query}", None)
                for name, query in BAD_PAGING.items()
            },
            400,
            "invalid_request",
        )


@pytest.mark.parametrize("listing", LISTS.values(), ids=LISTS.keys())
def test_limits_1_and_1000_are_accepted(api: Api, world: World, listing: tuple[str, str]) -> None:
    side, path = listing
    for limit in (1, 1000):
        body = ok(send(api, world, side, "GET", f"{path}?limit={limit}", None))
        assert "nextCursor" in body


BAD_SEARCHES = {
    "no-criterion": "",
    "two-criteria": "email=taro%40example.com&memberId=m-1",
    "invalid-email": "email=not-an-email",
    "invalid-phone": "mobileNumber=12",
    "limit-zero": "email=taro%40example.com&limit=0",
    "unknown-parameter": "name=Taro",
}


def test_bad_searches_are_400(api: Api, world: World) -> None:
    refused_all(
        {name: partial(api.admin, "GET", f"/v1/users?{query}") for name, query in BAD_SEARCHES.items()},
        400,
        "invalid_request",
    )


def test_a_bad_resolve_flag_is_400(api: Api, world: World) -> None:
    refused_all(
        {
            value or "empty": partial(api.admin, "GET", f"/v1/users/{world.lead}?resolve={value}")
            for value in ("maybe", "", "yes%20please")
        },
        400,
        "invalid_request",
    )
