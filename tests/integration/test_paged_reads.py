"""Paged reads that never drop or double an item (R3.3, R3.5): across a unification of
the user being read (issue 10, item 4), across the move and the deletion of its
originals at every page boundary (issue 13, item 4), in either order; and lists whose
cost does not grow with their page (issue 12)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

import app
from chalicelib.local.stack import scheduled_event
from chalicelib.service.unify import clean_moved, move_history

from .conftest import Service
from .support import Api, Visitor, ok, quote
from .test_request_count import dynamodb_requests


def visitor_with_events(api: Api, n: int, name: str = "Mango135") -> Visitor:
    visitor = api.visit(profile={"name": name})
    for i in range(n):
        api.track(visitor, f"View {i}", {"n": i})
    return visitor


def page(api: Api, path: str, limit: int, cursor: str | None, order: str | None = None) -> dict[str, Any]:
    query = (
        f"?limit={limit}"
        + (f"&order={order}" if order and not cursor else "")
        + (f"&cursor={quote(cursor)}" if cursor else "")
    )
    body: dict[str, Any] = ok(api.admin("GET", path + query))
    return body


def rest(api: Api, path: str, limit: int, cursor: str | None) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while cursor:
        body = page(api, path, limit, cursor)
        key = next(k for k in body if k not in ("nextCursor", "resolvedFrom"))
        items += body[key]
        cursor = body["nextCursor"]
    return items


@pytest.mark.parametrize("order", ["oldest", "newest"])
@pytest.mark.parametrize("moved", ["move completed", "move still running"])
def test_a_read_of_a_user_goes_on_through_the_member_it_was_unified_into(
    api: Api, service: Service, order: str, moved: str
) -> None:
    """Issue 10, item 4: page 1 of a visitor's 30 events; the visitor logs in and is
    unified; the old cursor lists the other 20 (and the member's own), each once."""
    member = api.put_member("m-paged", {"name": "Taro"})
    api.admin("POST", f"/v1/users/{member['id']}/events", {"name": "Member's own"})
    visitor = visitor_with_events(api, 30)
    first = page(api, f"/v1/users/{visitor.user_id}/events", 10, None, order)
    assert len(first["events"]) == 10 and first["nextCursor"]
    ok(api.login(visitor, "m-paged"))
    if moved == "move completed":
        app.finish_unifications(scheduled_event(), None)  # moved, and the originals deleted
    listed = first["events"] + rest(api, f"/v1/users/{visitor.user_id}/events", 10, first["nextCursor"])
    names = Counter(e["name"] for e in listed)
    assert names == Counter({**{f"View {i}": 1 for i in range(30)}, "Member's own": 1}), names
    assert all(e["userId"] == member["id"] for e in listed[10:]), "read through the member (R3.5)"


def test_a_source_read_alone_that_was_unified_keeps_its_own_order(api: Api) -> None:
    api.put_member("m-order", {"name": "Taro"})
    visitor = visitor_with_events(api, 6)
    first = page(api, f"/v1/users/{visitor.user_id}/events", 2, None, "newest")
    ok(api.login(visitor, "m-order"))
    listed = first["events"] + rest(api, f"/v1/users/{visitor.user_id}/events", 2, first["nextCursor"])
    assert [e["name"] for e in listed] == [f"View {i}" for i in reversed(range(6))]


@pytest.mark.parametrize("order", ["oldest", "newest"])
def test_a_paged_read_overlapping_the_move_and_the_deletion_misses_nothing_at_any_boundary(
    api: Api, service: Service, order: str
) -> None:
    """Issue 13, item 4, step by step: a member's history (its own event, a source's 2 chats
    and 6 events moving in 2 at a time) read one item a page. For every page boundary in
    turn: the move goes one chunk further at each boundary, completes at that one, the
    sweep runs within the grace period there and after it at the next; every item is
    listed exactly once, and the originals do go."""
    service.configure(MOVE_CHUNK_SIZE="2", MOVE_CLEANUP_GRACE_SECONDS="60")
    deps, store = service.container.deps, service.store
    for boundary in range(7):  # 7 events and 2 chats, one a page: 6 + 1 boundaries
        member = api.put_member(f"m-grace-{order}-{boundary}", {"name": "Taro"})
        api.admin("POST", f"/v1/users/{member['id']}/events", {"name": "own"})
        visitor = visitor_with_events(api, 6)
        for n in range(2):
            api.chat(visitor, f"chat {n}")
        unification = ok(api.login(visitor, f"m-grace-{order}-{boundary}"))["unification"]
        listed: dict[str, list[dict[str, Any]]] = {}
        at = 0  # the page boundary the read is at, across both lists
        for kind in ("events", "chats"):
            path = f"/v1/users/{member['id']}/{kind}"
            body = page(api, path, 1, None, order)
            listed[kind] = list(body[kind])
            while body["nextCursor"]:
                record = store.get_unification(unification["id"])
                if at < boundary and record.status.value == "running":
                    move_history(deps, record, max_steps=1)  # one chunk further
                elif at == boundary:
                    move_history(deps, record)  # completes here
                    assert not clean_moved(deps, unification["id"]), "within the grace period nothing goes"
                elif at == boundary + 1:
                    service.clock.advance(61)
                    assert clean_moved(deps, unification["id"]), "after it, the originals go"
                body = page(api, path, 1, body["nextCursor"])
                listed[kind] += body[kind]
                at += 1
        names = Counter(e["name"] for e in listed["events"])
        assert names == Counter([*(f"View {i}" for i in range(6)), "own"]), (boundary, listed["events"])
        assert sorted(Counter(c["id"] for c in listed["chats"]).values()) == [1, 1], (boundary, listed["chats"])
        assert store.get_unification(unification["id"]).progress.cleaned or boundary == 6


def test_within_one_request_a_source_read_while_moving_keeps_its_originals_until_the_grace_is_over(
    api: Api, service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race the grace period closes: the member is read (the source still moving), the
    move completes and the sweep runs before the source's partition is queried."""
    service.configure(MOVE_CLEANUP_GRACE_SECONDS="60", MOVE_IN_COMMIT_ITEMS="0")  # a history that moves afterwards
    api.put_member("m-race", {"name": "Taro"})
    visitor = visitor_with_events(api, 5)
    unification = ok(api.login(visitor, "m-race"))["unification"]
    member = api.get_user(visitor.user_id)["user"]["id"]
    client = service.store.client
    query = client.query
    raced: list[bool] = []

    def complete_then_query(**kwargs: Any) -> Any:
        if not raced and kwargs.get("ExpressionAttributeValues", {}).get(":pk") == {"S": f"USER#{visitor.user_id}"}:
            raced.append(True)
            app.finish_unifications(scheduled_event(), None)  # completes; the sweep deletes nothing yet
        return query(**kwargs)

    monkeypatch.setattr(client, "query", complete_then_query)
    events = ok(api.admin("GET", f"/v1/users/{member}/events?limit=100"))["events"]
    assert raced and sorted(e["name"] for e in events) == sorted(f"View {i}" for i in range(5))
    assert not service.store.get_unification(unification["id"]).progress.cleaned


# the cost of a page ------------------------------------------------------------------------


@pytest.mark.parametrize("route", ["open api", "session"])
def test_a_page_of_chats_costs_the_same_requests_for_3_chats_as_for_60(api: Api, service: Service, route: str) -> None:
    """Issue 12: one Query and one BatchGetItem per page of chats (+ one for the authors),
    whatever the page holds."""
    counts = []
    for n in (3, 60):
        visitor = api.visit(profile={"name": f"Chatty {n}"})
        for i in range(n):
            chat = api.chat(visitor, f"chat {i}")["chat"]
            api.say(visitor, chat["id"], "and more")
        with dynamodb_requests(service.container.client) as used:
            if route == "open api":
                chats = ok(api.admin("GET", f"/v1/users/{visitor.user_id}/chats?limit=100"))["chats"]
            else:
                chats = ok(api.session(visitor.token, "GET", "/v1/session/chats?limit=100"))["chats"]
        assert len(chats) == n and all(len(c["messages"]) == 2 for c in chats)
        counts.append(used)
    assert counts[0] == counts[1], counts


def test_a_long_chat_lists_its_latest_20_messages_and_a_cursor_to_the_rest(api: Api) -> None:
    visitor = api.visit(profile={"name": "Talker"})
    chat = api.chat(visitor, "message 0")["chat"]
    for i in range(1, 45):
        api.say(visitor, chat["id"], f"message {i}")
    [listed] = ok(api.admin("GET", f"/v1/users/{visitor.user_id}/chats"))["chats"]
    assert [m["text"] for m in listed["messages"]] == [f"message {i}" for i in range(25, 45)]
    earlier, cursor = [], listed["messagesCursor"]
    while cursor:
        body = ok(api.admin("GET", f"/v1/chats/{chat['id']}/messages?limit=7&cursor={quote(cursor)}"))
        earlier += [m["text"] for m in body["messages"]]
        cursor = body["nextCursor"]
    assert earlier == [f"message {i}" for i in reversed(range(25))]
    every = api.walk(f"/v1/chats/{chat['id']}/messages", "messages", limit=9)
    assert [m["text"] for m in every] == [f"message {i}" for i in range(45)]
    own = ok(api.session(visitor.token, "GET", f"/v1/session/chats/{chat['id']}/messages?order=newest&limit=3"))
    assert [m["text"] for m in own["messages"]] == ["message 44", "message 43", "message 42"]


def test_a_customer_cannot_page_through_someone_elses_chat(api: Api) -> None:
    owner, other = api.visit(), api.visit()
    chat = api.chat(owner, "mine")["chat"]
    reply = api.session(other.token, "GET", f"/v1/session/chats/{chat['id']}/messages")
    assert reply.status == 404 and reply.code == "not_found"
