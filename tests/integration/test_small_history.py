"""A small history moves inside the unification itself (issue 13; R3.3, R10): up to
`MOVE_IN_COMMIT_ITEMS` (8) chats and events are copied in the commit's transaction, so the
unification is complete as it commits, without the move's second write of the
record and the member. The originals go after the grace period, as a moved
history's do; anything written to the source meanwhile makes the commit try again."""

from __future__ import annotations

from typing import Any

import pytest

import app
from chalicelib.config import Settings
from chalicelib.domain import writes as w
from chalicelib.local.stack import scheduled_event

from .conftest import Service
from .support import Api, Table, ok


def history_of(table: Table, user_id: str) -> list[str]:
    return sorted(sk for pk, sk in table.snapshot() if pk == f"USER#{user_id}" and sk[:2] in ("C#", "E#"))


def test_a_login_with_a_few_chats_and_events_is_complete_as_it_answers(
    api: Api, service: Service, table: Table
) -> None:
    member = api.put_member("m-small", {"name": "Taro"})
    visitor = api.visit(profile={"name": "Mango135"})
    chats = [api.chat(visitor, f"chat {n}")["chat"]["id"] for n in range(2)]
    events = [api.track(visitor, f"View {n}")["id"] for n in range(3)]
    originals = history_of(table, visitor.user_id)
    assert len(originals) == 5

    unification = ok(api.login(visitor, "m-small"))["unification"]
    assert unification["status"] == "completed", "R10: nothing left to move afterwards"
    assert unification["progress"] == {"chats": {"moved": 2, "total": 2}, "events": {"moved": 3, "total": 3}}
    # Before any stream record or schedule: the member shows all of it, once (R3.3).
    assert sorted(c["id"] for c in api.chats_of(member["id"])) == sorted(chats)
    assert sorted(e["id"] for e in api.events_of(member["id"])) == sorted(events)
    names = {m["text"]: m["personName"] for c in api.chats_of(member["id"]) for m in c["messages"]}
    assert names == {"chat 0": "Mango135", "chat 1": "Mango135"}, "R3.4"
    user = service.store.get_user(member["id"])
    assert (user.chat_count, user.event_count, user.moving_sources) == (2, 3, ())
    assert history_of(table, member["id"]) == originals, "the copies keep their keys"

    # The originals wait for the grace period, then go; the member's lists do not change.
    app.finish_unifications(scheduled_event(), None)
    assert history_of(table, visitor.user_id) == []
    assert sorted(c["id"] for c in api.chats_of(member["id"])) == sorted(chats)
    assert sorted(e["id"] for e in api.events_of(member["id"])) == sorted(events)
    record = service.store.get_unification(unification["id"])
    assert record is not None and record.progress.cleaned


def test_one_more_than_fits_moves_afterwards(api: Api) -> None:
    api.put_member("m-large", {"name": "Taro"})
    visitor = api.visit()
    for n in range(Settings().move_in_commit_items + 1):
        api.track(visitor, f"View {n}")
    unification = ok(api.login(visitor, "m-large"))["unification"]
    assert unification["status"] == "running"
    assert unification["progress"]["events"] == {"moved": 0, "total": Settings().move_in_commit_items + 1}
    app.finish_unifications(scheduled_event(), None)
    done = ok(api.admin("GET", f"/v1/unifications/{unification['id']}"))["unification"]
    assert done["status"] == "completed"


def test_an_event_written_after_the_history_was_read_makes_the_commit_try_again(
    api: Api, service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    member = api.put_member("m-racing", {"name": "Taro"})
    visitor = api.visit()
    api.track(visitor, "Before")
    store = service.store
    read = store.small_history
    raced: list[Any] = []

    def read_then_an_event_lands(*args: Any) -> w.CopyHistory | None:
        found = read(*args)
        if not raced:
            raced.append(api.track(visitor, "Meanwhile"))  # the same session, between read and commit
        return found

    monkeypatch.setattr(store, "small_history", read_then_an_event_lands)
    unification = ok(api.login(visitor, "m-racing"))["unification"]
    assert unification["status"] == "completed"
    assert unification["progress"]["events"] == {"moved": 2, "total": 2}
    assert sorted(e["name"] for e in api.events_of(member["id"])) == ["Before", "Meanwhile"]


def test_a_deferred_unification_with_a_small_history_completes_as_the_member_logs_in(
    api: Api, service: Service
) -> None:
    member = api.put_member("m-deferred", {"name": "Taro", "mobileNumber": "090-1234-5678"})
    visitor = api.visit()
    chat = api.chat(visitor, "hello")["chat"]
    edit = ok(api.admin("PATCH", f"/v1/users/{visitor.user_id}", {"profile": {"mobileNumber": "09012345678"}}))
    approved = ok(api.admin("POST", f"/v1/unifications/{edit['unificationCandidate']['id']}/approve"))
    assert approved["unification"]["status"] == "deferred"
    ok(api.boot(member_id="m-deferred"))
    app.finish_unifications(scheduled_event(), None)  # the schedule runs it (R7.4), as the stream would
    done = ok(api.admin("GET", f"/v1/unifications/{approved['unification']['id']}"))["unification"]
    assert done["status"] == "completed"
    assert done["progress"]["chats"] == {"moved": 1, "total": 1}
    assert [c["id"] for c in api.chats_of(member["id"])] == [chat["id"]]
