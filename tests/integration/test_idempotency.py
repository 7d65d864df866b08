"""API.md, "Retries without duplicates": a keyed write answers its first answer again,
writes once even when two copies race, and refuses the key with another body."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from .conftest import Service
from .support import Api, Table, Visitor, ok, refused


def keyed(api: Api, visitor: Visitor, path: str, body: dict[str, Any], key: str) -> tuple[int, Any]:
    reply = api.call("POST", path, body, headers={"Authorization": f"Bearer {visitor.token}", "Idempotency-Key": key})
    return reply.status, reply.body


def keyed_admin(api: Api, path: str, body: dict[str, Any], key: str) -> tuple[int, Any]:
    reply = api.call("POST", path, body, headers={**api.credentials.admin_headers, "Idempotency-Key": key})
    return reply.status, reply.body


@contextmanager
def before_first_transaction(client: Any, action: Callable[[], None]) -> Iterator[None]:
    """Run `action` (a racing copy of the request) just before the next transaction is sent."""
    fired = []

    def hook(**kwargs: Any) -> None:
        if not fired:
            fired.append(True)
            action()

    client.meta.events.register("before-call.dynamodb.TransactWriteItems", hook)
    try:
        yield
    finally:
        client.meta.events.unregister("before-call.dynamodb.TransactWriteItems", hook)
    assert fired, "the racing request never ran"


def test_a_replayed_event_answers_the_first_answer_and_writes_nothing(api: Api, table: Table) -> None:
    visitor = api.visit()
    first = keyed(api, visitor, "/v1/session/events", {"name": "PageView", "properties": {"a": 1}}, "k-1")
    assert first[0] == 201
    with table.unchanged(ignore_activity=True):
        again = keyed(api, visitor, "/v1/session/events", {"name": "PageView", "properties": {"a": 1}}, "k-1")
    assert again == first
    assert len(api.events_of(visitor.user_id)) == 1


def test_the_same_key_with_another_body_or_route_is_refused_and_writes_nothing(api: Api, table: Table) -> None:
    visitor = api.visit()
    keyed(api, visitor, "/v1/session/events", {"name": "PageView"}, "k-2")
    with table.unchanged(ignore_activity=True):
        other_body = api.call(
            "POST",
            "/v1/session/events",
            {"name": "Other"},
            headers={"Authorization": f"Bearer {visitor.token}", "Idempotency-Key": "k-2"},
        )
        other_route = api.call(
            "POST",
            "/v1/session/chats",
            {"text": "hi"},
            headers={"Authorization": f"Bearer {visitor.token}", "Idempotency-Key": "k-2"},
        )
    refused(other_body, 409, "idempotency_key_reused")
    refused(other_route, 409, "idempotency_key_reused")


def test_keys_are_scoped_per_caller(api: Api) -> None:
    one, two = api.visit(), api.visit()
    first = keyed(api, one, "/v1/session/events", {"name": "PageView"}, "shared")
    second = keyed(api, two, "/v1/session/events", {"name": "PageView"}, "shared")
    assert second[0] == 201 and second[1]["event"]["userId"] == two.user_id != first[1]["event"]["userId"]


def test_two_racing_copies_of_one_chat_message_write_it_once(api: Api, service: Service) -> None:
    visitor = api.visit()
    chat = api.chat(visitor, "first")["chat"]
    path = f"/v1/session/chats/{chat['id']}/messages"
    answers: list[tuple[int, Any]] = []
    with before_first_transaction(
        service.container.client, lambda: answers.append(keyed(api, visitor, path, {"text": "again?"}, "race"))
    ):
        answers.append(keyed(api, visitor, path, {"text": "again?"}, "race"))
    assert answers[0] == answers[1] and answers[0][0] == 201
    [listed] = api.chats_of(visitor.user_id)
    assert [m["text"] for m in listed["messages"]] == ["first", "again?"]


@pytest.mark.parametrize(
    "route",
    ["session chat", "Open API lead", "Open API event", "manager reply", "LINE message"],
)
def test_every_keyed_route_replays(api: Api, table: Table, route: str) -> None:
    visitor = api.visit()
    chat_id = api.chat(visitor, "hello")["chat"]["id"]
    calls: dict[str, Callable[[], tuple[int, Any]]] = {
        "session chat": lambda: keyed(api, visitor, "/v1/session/chats", {"text": "new chat"}, "k"),
        "Open API lead": lambda: keyed_admin(api, "/v1/users", {"profile": {"name": "Lead"}}, "k"),
        "Open API event": lambda: keyed_admin(api, f"/v1/users/{visitor.user_id}/events", {"name": "Buy"}, "k"),
        "manager reply": lambda: keyed_admin(
            api, f"/v1/chats/{chat_id}/messages", {"text": "hi", "managerName": "Sato"}, "k"
        ),
        "LINE message": lambda: keyed_admin(
            api, "/v1/messengers/line/messages", {"externalId": "U1", "text": "hi", "profile": {"name": "L"}}, "k"
        ),
    }
    first = calls[route]()
    assert first[0] == 201
    with table.unchanged(ignore_activity=True):
        assert calls[route]() == first


def test_a_refused_first_try_leaves_the_key_free(api: Api) -> None:
    visitor = api.visit()
    too_long = {"name": "x" * 201}
    status, _ = keyed(api, visitor, "/v1/session/events", too_long, "k-3")
    assert status == 400
    status, body = keyed(api, visitor, "/v1/session/events", {"name": "ok"}, "k-3")
    assert status == 201 and body["event"]["name"] == "ok"


@pytest.mark.parametrize("key", ["", "x" * 256, "ключ", "tab\there"], ids=["empty", "long", "non-ascii", "control"])
def test_a_malformed_key_is_a_400_and_writes_nothing(api: Api, table: Table, key: str) -> None:
    visitor = api.visit()
    with table.unchanged(ignore_activity=True):
        reply = api.call(
            "POST",
            "/v1/session/events",
            {"name": "PageView"},
            headers={"Authorization": f"Bearer {visitor.token}", "Idempotency-Key": key},
        )
    refused(reply, 400, "invalid_request")


def test_a_receipt_past_24_hours_is_gone(api: Api, service: Service) -> None:
    visitor = api.visit()
    first = keyed(api, visitor, "/v1/session/events", {"name": "PageView"}, "k-4")
    service.clock.advance(24 * 3600 + 1)
    visitor = api.visit(veil_id=visitor.veil_id)  # the session ended meanwhile
    again = keyed(api, visitor, "/v1/session/events", {"name": "PageView"}, "k-4")
    assert again[0] == 201 and again[1]["event"]["id"] != first[1]["event"]["id"]
    ok(api.admin("GET", f"/v1/users/{visitor.user_id}"))
