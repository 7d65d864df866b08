"""Issue 15 (R11, API.md "Erasure"): a person forgotten across every profile merged into
them — invisible from the answer on, deleted in the background from the real stream,
nothing of theirs left in the table and nothing of anyone else touched."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

import app
from chalicelib.local.pump import StreamPump
from chalicelib.local.stack import scheduled_event

from .conftest import Service
from .receiver import Inline, Receiver, subscribe
from .support import Api, Table, Visitor, ok, quote, refused

NAME, PHONE, EMAIL = "Kagami Erasable", "090-4444-1234", "kagami.erasable@example.com"
PHONE_E164 = "+819044441234"
SECRET_WORDS = ("my-private-question", "manager-answer-for-kagami", "lead-note-kagami", "lipstick-shade-77")


@dataclass
class Person:
    member: dict[str, Any]
    visitor: Visitor
    lead: dict[str, Any]
    chats: list[str] = field(default_factory=list)
    pii: tuple[str, ...] = (NAME, PHONE_E164, EMAIL, *SECRET_WORDS)

    @property
    def ids(self) -> list[str]:
        return [self.member["id"], self.visitor.user_id, self.lead["id"]]


def seed_events(service: Service, user_id: str, count: int) -> None:
    """`count` more events in the user's partition, written as the app writes them (its
    codec) in batches: a history of thousands without thousands of requests."""
    from chalicelib.domain.models import Event
    from chalicelib.store.codec import event_to_item, to_wire

    now = service.container.deps.clock.now()
    items = [
        to_wire(
            event_to_item(
                Event(
                    id=f"e_seed{n:05d}",
                    user_id=user_id,
                    name="viewed",
                    properties={"shade": SECRET_WORDS[3], "n": n},
                    created_at=now,
                )
            )
        )
        for n in range(count)
    ]
    service.store.batch_write([{"PutRequest": {"Item": item}} for item in items])


def build_person(api: Api, pump: StreamPump, events: int = 30) -> Person:
    """A member with two unified sources (a web visitor who logged in, and a lead a manager
    matched and approved), chats with a manager's reply, events and deliveries."""
    member = api.put_member("m-kagami", {"name": NAME, "mobileNumber": PHONE, "email": EMAIL})
    visitor = api.visit()
    chat = api.chat(visitor, SECRET_WORDS[0])["chat"]
    ok(api.admin("POST", f"/v1/chats/{chat['id']}/messages", {"text": SECRET_WORDS[1], "managerName": "Aoi"}), 201)
    for n in range(events):
        api.track(visitor, "viewed", {"shade": SECRET_WORDS[3], "n": n})
    for campaign in ("spring", "autumn", "winter"):
        ok(api.admin("POST", f"/v1/users/{visitor.user_id}/marketing-deliveries", {"campaignId": campaign}), 201)
    ok(api.login(visitor, "m-kagami"))
    lead = api.create_lead({"name": "K.", "email": EMAIL})["user"]
    lead_chat = ok(api.admin("GET", f"/v1/users/{lead['id']}/chats"))["chats"]
    ok(api.admin("POST", f"/v1/users/{lead['id']}/events", {"name": "note", "properties": {"t": SECRET_WORDS[2]}}), 201)
    candidates = ok(api.admin("GET", f"/v1/unifications?status=pending_approval&userId={lead['id']}"))
    for candidate in candidates["unifications"]:
        ok(api.admin("POST", f"/v1/unifications/{candidate['id']}/approve"))
    pump.drain()
    ok(api.admin("POST", "/v1/users/" + member["id"] + "/marketing-deliveries", {"campaignId": "summer"}), 201)
    app.finish_unifications(scheduled_event(), None)
    pump.drain()
    return Person(member, visitor, lead, [chat["id"], *(c["id"] for c in lead_chat)])


def someone_else(api: Api) -> Visitor:
    api.put_member("m-other", {"name": "Hanako Keeps", "email": "hanako@example.com"})
    other = api.visit(member_id="m-other")
    chat = api.chat(other, "hanako-question")["chat"]
    ok(api.admin("POST", f"/v1/chats/{chat['id']}/messages", {"text": "hanako-answer", "managerName": "Aoi"}), 201)
    api.track(other, "viewed", {"shade": "hanako-red"})
    return other


def erase(api: Api, user_id: str, dry_run: bool = False) -> dict[str, Any]:
    query = "?dryRun=true" if dry_run else ""
    erasure: dict[str, Any] = ok(
        api.admin("POST", f"/v1/users/{quote(user_id)}/erasure{query}"), 200 if dry_run else 202
    )["erasure"]
    return erasure


def finish(api: Api, pump: StreamPump, erasure_id: str) -> dict[str, Any]:
    for _ in range(20):
        pump.drain()
        app.finish_unifications(scheduled_event(), None)
        done: dict[str, Any] = ok(api.admin("GET", f"/v1/erasures/{erasure_id}"))["erasure"]
        if done["status"] == "completed":
            return done
    raise AssertionError(f"erasure {erasure_id} never completed: {done}")


def leftovers(table: Table, pii: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """Every (PK, SK, value) in the whole table holding one of the person's values."""
    found = []
    for item in table.items():
        text = json.dumps(item, ensure_ascii=False)
        found += [(item["PK"]["S"], item["SK"]["S"], value) for value in pii if value in text]
    return found


def not_about(snapshot: dict[tuple[str, str], dict[str, Any]], person: Person) -> dict[tuple[str, str], Any]:
    marks = (*person.ids, *person.chats, *person.pii, "m-kagami")
    return {key: item for key, item in snapshot.items() if not any(m in json.dumps(item) for m in marks)}


# -------------------------------------------------------------------------------------------


def test_a_person_is_gone_at_once_and_nothing_of_them_is_left_when_it_completes(
    api: Api, service: Service, pump: StreamPump, table: Table
) -> None:
    person = build_person(api, pump)
    seed_events(service, person.member["id"], 1000)  # 1,031 events in all
    assert len(api.walk(f"/v1/users/{person.member['id']}/events", "events", limit=100)) == 1031
    other = someone_else(api)
    pump.drain()
    assert leftovers(table, person.pii), "the story wrote the person's values"
    others_before = not_about(table.snapshot(ignore_activity=True), person)

    erasure = erase(api, person.lead["id"])  # any of their ids is the whole person
    assert sorted(erasure["userIds"]) == sorted(person.ids) and erasure["memberId"] == "m-kagami"
    assert erasure["status"] == "running" and erasure["counts"]["users"] == 3
    assert erasure["progress"]["total"] == sum(v for k, v in erasure["counts"].items() if k != "messages")

    # gone for every route from the answer on (R11.2)
    for user_id in person.ids:
        refused(api.admin("GET", f"/v1/users/{user_id}"), 404, "not_found")
        refused(api.admin("GET", f"/v1/users/{user_id}/events"), 404, "not_found")
        refused(api.admin("PATCH", f"/v1/users/{user_id}", {"profile": {"name": "x"}}), 404, "not_found")
    refused(api.admin("GET", "/v1/members/m-kagami"), 404, "not_found")
    for chat_id in person.chats:
        refused(api.admin("GET", f"/v1/chats/{chat_id}/messages"), 404, "not_found")
    for query in (f"email={quote(EMAIL)}", f"mobileNumber={quote(PHONE)}", "memberId=m-kagami"):
        assert ok(api.admin("GET", f"/v1/users?{query}"))["users"] == []
    refused(api.session(person.visitor.token, "GET", "/v1/session"), 401, "unauthorized")
    again = api.visit(veil_id=person.visitor.veil_id)
    assert again.user["type"] == "anonymous" and again.user_id not in person.ids

    done = finish(api, pump, erasure["id"])
    assert done["progress"]["erased"] == done["progress"]["total"] and done["completedAt"]
    assert done["counts"]["messages"] >= 2
    assert leftovers(table, person.pii) == []
    ids_left = [(pk, sk) for pk, sk in table.snapshot() if any(i in pk for i in person.ids)]
    assert ids_left == [], ids_left
    # every other customer's items as they were, byte for byte
    after = table.snapshot(ignore_activity=True)
    changed = {key for key, item in others_before.items() if after.get(key) != item}
    assert changed == set(), changed
    assert ok(api.session(other.token, "GET", "/v1/session/chats"))["chats"]
    # the unification records stay, without a value; the memberId is free
    for u in ok(api.admin("GET", f"/v1/unifications?userId={other.user_id}"))["unifications"]:
        assert u["sourceUserId"] not in person.ids
    fresh = api.put_member("m-kagami", {})
    assert fresh["id"] not in person.ids and fresh["profile"] == {}


def test_unification_records_keep_ids_statuses_and_times_only(api: Api, pump: StreamPump) -> None:
    person = build_person(api, pump, events=3)
    naming = ok(api.admin("GET", f"/v1/unifications?userId={person.member['id']}"))["unifications"]
    assert naming and any(d["value"] is not None for u in naming for d in u["fieldDecisions"])
    finish(api, pump, erase(api, person.member["id"])["id"])
    for before in naming:
        after = ok(api.admin("GET", f"/v1/unifications/{before['id']}"))["unification"]
        assert {k: after[k] for k in ("id", "status", "createdAt", "completedAt", "sourceUserId")} == {
            k: before[k] for k in ("id", "status", "createdAt", "completedAt", "sourceUserId")
        }
        assert all(
            d["value"] is None and d["sourceValue"] is None and d["targetValue"] is None
            for d in after["fieldDecisions"]
        )
        assert after["sourceDisplayName"] is None and after["targetDisplayName"] is None


def test_a_dry_run_counts_and_changes_nothing(api: Api, pump: StreamPump, table: Table) -> None:
    person = build_person(api, pump, events=12)
    with table.unchanged():
        counted = erase(api, person.visitor.user_id, dry_run=True)
    assert counted["status"] == "dry_run" and counted["counts"]["users"] == 3
    assert counted["counts"]["events"] == 13 and counted["counts"]["chats"] == 1
    assert counted["counts"]["messages"] == 2 and counted["counts"]["deliveries"] == 4
    assert counted["counts"]["devices"] >= 1
    ok(api.admin("GET", f"/v1/users/{person.member['id']}"))
    refused(api.admin("POST", "/v1/users/u_nobody/erasure"), 404, "not_found")
    refused(api.admin("POST", f"/v1/users/{person.member['id']}/erasure?dryRun=maybe"), 400, "invalid_request")
    refused(api.admin("GET", "/v1/erasures/er_nobody"), 404, "not_found")


def test_open_unifications_end_cancelled_erased_and_the_other_side_is_untouched(
    api: Api, pump: StreamPump, table: Table
) -> None:
    other = api.put_member("m-keeps", {"name": "Keeps", "mobileNumber": "090-7777-0000"})
    lead = api.create_lead({"name": "Soon Gone", "mobileNumber": "090-7777-0000"})
    candidate = lead["unificationCandidate"]
    assert candidate and candidate["status"] == "pending_approval"
    erasure = erase(api, lead["user"]["id"])
    record = ok(api.admin("GET", f"/v1/unifications/{candidate['id']}"))["unification"]
    assert record["status"] == "cancelled" and record["reason"] == "erased"
    assert all(d["sourceValue"] is None and d["targetValue"] is None for d in record["fieldDecisions"])
    finish(api, pump, erasure["id"])
    kept = api.get_user(other["id"])["user"]
    assert kept["profile"]["name"] == "Keeps" and kept["profile"]["mobileNumber"] == "+819077770000"
    assert leftovers(table, ("Soon Gone",)) == []


def test_a_retried_request_answers_the_same_erasure(api: Api, pump: StreamPump) -> None:
    person = build_person(api, pump, events=2)
    first = erase(api, person.visitor.user_id)
    assert erase(api, person.member["id"])["id"] == first["id"]
    finish(api, pump, first["id"])
    refused(api.admin("POST", f"/v1/users/{person.member['id']}/erasure"), 404, "not_found")


# races (R11.3), each with the stream replayed ---------------------------------------------


@pytest.mark.parametrize("replays", [1, 2])
def test_an_erasure_meeting_a_move_still_running_leaves_nothing(
    api: Api, service: Service, pump: StreamPump, table: Table, replays: int
) -> None:
    service.configure(MOVE_CHUNK_SIZE="5")
    api.put_member("m-moving", {"name": NAME})
    visitor = api.visit()
    api.chat(visitor, SECRET_WORDS[0])
    for n in range(40):
        api.track(visitor, "viewed", {"shade": SECRET_WORDS[3], "n": n})
    ok(api.login(visitor, "m-moving"))  # the move runs from the stream, 5 at a time
    pump.pump_once()  # a first chunk or so moved
    erasure = erase(api, visitor.user_id)
    for _ in range(replays):
        pump.positions.clear()  # the whole stream again: every record seen twice or more
        finish(api, pump, erasure["id"])
    assert leftovers(table, (NAME, *SECRET_WORDS)) == []


def test_other_systems_hear_user_erased_with_ids_and_counts_only(
    api: Api, pump: StreamPump, receiver: Receiver, inline: Inline, table: Table
) -> None:
    person = build_person(api, pump, events=3)
    hook = subscribe(api, receiver.url, ["user.erased", "unification.completed"])
    erasure = erase(api, person.member["id"])
    finish(api, pump, erasure["id"])
    told = [m for m in receiver.messages(hook["secret"]) if m["type"] == "user.erased"]
    assert len(told) == 1, told
    data = told[0]["data"]["erasure"]
    assert data["id"] == erasure["id"] and sorted(data["userIds"]) == sorted(person.ids)
    assert set(data) == {"id", "userIds", "memberId", "status", "counts", "progress", "createdAt", "completedAt"}
    bodies = json.dumps(receiver.messages(hook["secret"]), ensure_ascii=False)
    assert not [value for value in person.pii if value in bodies]
    assert leftovers(table, person.pii) == []
