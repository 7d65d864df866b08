"""The whole product on one machine, driven over HTTP as a customer and a manager
would: anonymous visit, chat (lead), login to an existing member (R5.1), history
and names (R3.3, R3.4), the unification completed by the stream pump (R10),
logout (R4.2), the session's end (R4.1) and a new anonymous user (R4.3)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from .conftest import LocalStack, Reply

pytestmark = pytest.mark.e2e


def ok(reply: Reply, status: int | tuple[int, ...] = 200) -> Any:
    wanted = (status,) if isinstance(status, int) else status
    assert reply.status in wanted, f"expected {wanted}, got {reply.status}: {reply.body}"
    return reply.body


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def unification_of(stack: LocalStack, unification_id: str) -> dict[str, Any]:
    record: dict[str, Any] = ok(stack.http.admin("GET", f"/v1/unifications/{unification_id}"))["unification"]
    return record


def test_a_visitor_chats_logs_in_leaves_and_comes_back_as_someone_new(local_stack: LocalStack) -> None:
    http = local_stack.http
    member_id = f"m-{uuid.uuid4().hex[:10]}"

    # An anonymous visit.
    boot = ok(http.boot({}))
    token, veil, visitor = boot["sessionToken"], boot["veilId"], boot["user"]
    assert visitor["type"] == "anonymous"
    assert ok(http.sdk(token, "GET", "/v1/session"))["user"]["id"] == visitor["id"]

    # A chat makes a lead (R1.2); the visitor also browses.
    started = ok(http.sdk(token, "POST", "/v1/session/chats", {"text": "Is this in stock?"}), 201)
    chat_id = started["chat"]["id"]
    ok(http.sdk(token, "POST", "/v1/session/events", {"name": "PageView", "properties": {"url": "/item/1"}}), 201)
    assert ok(http.sdk(token, "GET", "/v1/session"))["user"]["type"] == "lead"
    ok(http.admin("POST", f"/v1/chats/{chat_id}/messages", {"text": "Yes, it is.", "managerName": "Sato"}), 201)

    # A member already known to the back office, then the visitor logs in as that member (R5.1).
    member = ok(http.admin("PUT", f"/v1/members/{member_id}", {"profile": {"name": "Taro Yamada"}}), 201)["user"]
    login = ok(http.sdk(token, "POST", "/v1/session/login", {"memberId": member_id}))
    assert login["user"]["id"] == member["id"]
    unification = login["unification"]
    assert unification["sourceUserId"] == visitor["id"] and unification["trigger"] == "login"
    ok(http.sdk(token, "POST", f"/v1/session/chats/{chat_id}/messages", {"text": "I'll take it."}), 201)

    # History under the member, authors and their names kept (R3.3, R3.4).
    chats = ok(http.admin("GET", f"/v1/users/{member['id']}/chats"))["chats"]
    assert [c["id"] for c in chats] == [chat_id]
    said = [(m["personType"], m["personName"], m["text"]) for m in chats[0]["messages"]]
    assert said == [
        ("user", visitor["displayName"], "Is this in stock?"),
        ("manager", "Sato", "Yes, it is."),
        ("user", "Taro Yamada", "I'll take it."),
    ]
    events = ok(http.admin("GET", f"/v1/users/{member['id']}/events"))["events"]
    assert [e["name"] for e in events] == ["PageView"]
    resolved = ok(http.admin("GET", f"/v1/users/{visitor['id']}"))
    assert (resolved["user"]["id"], resolved["resolvedFrom"]) == (member["id"], visitor["id"])

    # Logout: still the member until the session ends (R4.2).
    out = ok(http.sdk(token, "POST", "/v1/session/logout"))
    assert (out["user"]["id"], out["session"]["loggedIn"]) == (member["id"], False)
    last = ok(http.sdk(token, "GET", "/v1/session"))
    assert last["user"]["id"] == member["id"]

    # Meanwhile the stream pump finishes the history move (R10).
    record = wait_for(
        lambda: (found := unification_of(local_stack, unification["id"]))["status"] == "completed" and found,
        30,
        "the unification to complete",
    )
    assert record["progress"] == {"chats": {"moved": 1, "total": 1}, "events": {"moved": 1, "total": 1}}

    # The session ends after SESSION_TIMEOUT_SECONDS without activity (R4.1).
    expires = datetime.fromisoformat(last["session"]["expiresAt"].replace("Z", "+00:00"))
    time.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 0.5)
    assert http.sdk(token, "GET", "/v1/session").status == 401

    # The same device without a login: a NEW anonymous user (R4.3).
    again = ok(http.boot({"veilId": veil}))
    assert again["veilId"] == veil
    assert again["user"]["id"] not in (visitor["id"], member["id"])
    assert again["user"]["type"] == "anonymous"
    assert ok(http.sdk(again["sessionToken"], "GET", "/v1/session/chats"))["chats"] == []

    # Nothing of the member's history went missing on the way.
    chats = ok(http.admin("GET", f"/v1/users/{member['id']}/chats"))["chats"]
    assert [len(c["messages"]) for c in chats] == [3]
