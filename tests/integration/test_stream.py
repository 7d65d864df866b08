"""The stream consumer (R3.3, R10; DESIGN "Streams and schedules"): fed from the
table's real (moto) stream by the local stack's pump, and with Lambda-shaped
events built by hand. Idempotent, skips what it cannot act on, reports
per-record failures with their sequence numbers."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest

import app
from chalicelib.local.pump import StreamPump
from chalicelib.local.stack import scheduled_event

from .conftest import REGION, RecordingHandler, Service
from .support import Api, Table, ok


@dataclass(frozen=True)
class Unified:
    unification_id: str
    source: str
    member: str
    chats: list[dict[str, Any]]
    events: list[dict[str, Any]]


def login_with_history(api: Api, chats: int, events: int) -> Unified:
    member = api.put_member("m-taro", {"name": "Taro Yamada"})
    visitor = api.visit(profile={"name": "Mango135"})
    for n in range(chats):
        chat = api.chat(visitor, f"chat {n}")["chat"]
        api.say(visitor, chat["id"], f"more {n}")
    for n in range(events):
        api.track(visitor, f"View {n}", {"n": n})
    unification = ok(api.login(visitor, "m-taro"))["unification"]
    return Unified(
        unification_id=unification["id"],
        source=visitor.user_id,
        member=member["id"],
        chats=api.walk(f"/v1/users/{member['id']}/chats", "chats", limit=1000),
        events=api.walk(f"/v1/users/{member['id']}/events", "events", limit=1000),
    )


def test_r10_the_stream_completes_the_unification_and_nothing_leaves_view(
    api: Api, service: Service, pump: StreamPump, handler: RecordingHandler
) -> None:
    service.configure(MOVE_CHUNK_SIZE="2")  # several chunks, so progress is recorded on the way
    unified = login_with_history(api, chats=3, events=4)
    handled = pump.drain()
    assert handled > 0 and handler.batches, "the pump fed the handler from the table's stream"
    assert all(r == {"batchItemFailures": []} for r in handler.results), handler.results

    record = service.store.get_unification(unified.unification_id)
    assert record is not None and record.status.value == "completed"
    progress = record.progress
    assert (progress.chats_moved, progress.chats_total) == (3, 3)
    assert (progress.events_moved, progress.events_total) == (4, 4)
    assert record.completed_at is not None
    # R3.3: after the move, the member shows exactly what it showed right after the login.
    assert api.walk(f"/v1/users/{unified.member}/chats", "chats", limit=1) == unified.chats
    assert api.walk(f"/v1/users/{unified.member}/events", "events", limit=1) == unified.events
    names = {m["text"]: m["personName"] for c in api.chats_of(unified.member) for m in c["messages"]}
    assert names["chat 0"] == "Mango135", "R3.4 holds after the move"
    assert api.get_user(unified.source)["resolvedFrom"] == unified.source


WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})


@dataclass(frozen=True)
class Observed:
    """What a client walking the member's lists page by page saw after each write of the move."""

    chats: set[str]
    events: set[str]
    seen: list[tuple[str, list[str], list[str]]]


@pytest.fixture
def move_observed(api: Api, service: Service, pump: StreamPump) -> Observed:
    service.configure(MOVE_CHUNK_SIZE="1")
    api.put_member("m-taro", {"name": "Taro Yamada"})
    member_visit = api.visit(member_id="m-taro")
    api.chat(member_visit, "the member's own chat")
    api.track(member_visit, "Member's own event")
    unified = login_with_history(api, chats=2, events=3)
    chats, events = {c["id"] for c in unified.chats}, {e["id"] for e in unified.events}
    assert (len(chats), len(events)) == (3, 4), "the member's own history and the source's, listed at once"

    seen: list[tuple[str, list[str], list[str]]] = []
    busy = False

    def look(**kwargs: Any) -> None:
        nonlocal busy
        operation = kwargs["model"].name
        if busy or operation not in WRITES:
            return
        busy = True
        try:
            listed_chats = [c["id"] for c in api.walk(f"/v1/users/{unified.member}/chats", "chats", limit=2)]
            listed_events = [e["id"] for e in api.walk(f"/v1/users/{unified.member}/events", "events", limit=2)]
            seen.append((operation, listed_chats, listed_events))
        finally:
            busy = False

    hooks = service.container.client.meta.events
    hooks.register("after-call.dynamodb", look)
    try:
        pump.drain()
    finally:
        hooks.unregister("after-call.dynamodb", look)
    assert service.store.get_unification(unified.unification_id).status.value == "completed"
    assert len(seen) >= 7, f"the move wrote in several steps: {[op for op, _, _ in seen]}"
    return Observed(chats, events, seen)


def test_r3_3_no_chat_or_event_vanishes_from_view_at_any_moment_of_the_move(move_observed: Observed) -> None:
    """After every single write the history move makes, the member still lists all of it."""
    for step, (operation, chats, events) in enumerate(move_observed.seen):
        assert set(chats) == move_observed.chats, f"write {step} ({operation}): chats {chats}"
        assert set(events) == move_observed.events, f"write {step} ({operation}): events {events}"


def test_no_chat_or_event_is_listed_twice_while_the_history_moves(move_observed: Observed) -> None:
    """A client paging through the member's lists during the move gets each item once."""
    for step, (operation, chats, events) in enumerate(move_observed.seen):
        assert len(chats) == len(set(chats)), f"write {step} ({operation}): a chat listed twice: {chats}"
        assert len(events) == len(set(events)), f"write {step} ({operation}): an event listed twice: {events}"


def test_a_members_own_and_unified_history_pages_together(api: Api) -> None:
    """Right after the login the member's lists span its own history and the source's, page by page."""
    member = api.put_member("m-taro", {"name": "Taro Yamada"})
    own = api.visit(member_id="m-taro")
    own_events = [api.track(own, f"Own {n}")["id"] for n in range(2)]
    own_chat = api.chat(own, "own chat")["chat"]["id"]
    unified = login_with_history(api, chats=2, events=3)
    assert unified.member == member["id"]
    events = [e["id"] for e in api.walk(f"/v1/users/{member['id']}/events", "events", limit=1)]
    assert len(events) == len(set(events)) == 5
    assert set(own_events) <= set(events)
    chats = [c["id"] for c in api.walk(f"/v1/users/{member['id']}/chats", "chats", limit=1)]
    assert len(chats) == len(set(chats)) == 3 and own_chat in chats


def test_the_stream_handler_replayed_changes_nothing(
    api: Api, service: Service, table: Table, pump: StreamPump, handler: RecordingHandler
) -> None:
    unified = login_with_history(api, chats=2, events=3)
    pump.drain()
    assert service.store.get_unification(unified.unification_id).status.value == "completed"
    with table.unchanged():
        for batch in list(handler.batches):
            assert app.stream_consumer(batch, None) == {"batchItemFailures": []}
    assert api.walk(f"/v1/users/{unified.member}/events", "events", limit=1) == unified.events


def test_a_unification_without_history_completes_too(api: Api, service: Service, pump: StreamPump) -> None:
    unified = login_with_history(api, chats=0, events=0)
    pump.drain()
    record = service.store.get_unification(unified.unification_id)
    assert record.status.value == "completed"
    assert (record.progress.chats_total, record.progress.events_total) == (0, 0)


def test_the_scheduled_job_finishes_what_the_stream_did_not(api: Api, service: Service, table: Table) -> None:
    """R10: `finish_unifications` runs the same service function from a schedule."""
    service.configure(MOVE_IN_COMMIT_ITEMS="0")  # a history that moves afterwards
    unified = login_with_history(api, chats=2, events=2)
    assert service.store.get_unification(unified.unification_id).status.value == "running"
    app.finish_unifications(scheduled_event(), None)
    record = service.store.get_unification(unified.unification_id)
    assert record.status.value == "completed"
    assert (record.progress.chats_moved, record.progress.events_moved) == (2, 2)
    with table.unchanged():
        app.finish_unifications(scheduled_event(), None)  # schedules may fire twice
    assert api.walk(f"/v1/users/{unified.member}/chats", "chats", limit=1) == unified.chats


# built events -----------------------------------------------------------------------------

STREAM_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/unification/stream/2026-11-28T17:00:00.000"


def lambda_record(sequence: str, new: dict[str, Any] | None, old: dict[str, Any] | None = None) -> dict[str, Any]:
    """One record as Lambda hands it over from a DynamoDB stream (images in wire format)."""
    image = new or old or {}
    body: dict[str, Any] = {
        "ApproximateCreationDateTime": time.time(),
        "Keys": {k: image[k] for k in ("PK", "SK") if k in image},
        "SequenceNumber": sequence,
        "SizeBytes": 256,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if new is not None:
        body["NewImage"] = new
    if old is not None:
        body["OldImage"] = old
    name = "INSERT" if old is None else ("REMOVE" if new is None else "MODIFY")
    return {
        "eventID": f"event-{sequence}",
        "eventName": name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": REGION,
        "dynamodb": body,
        "eventSourceARN": STREAM_ARN,
    }


def raw_item(table: Table, pk: str, sk: str) -> dict[str, Any]:
    item: dict[str, Any] = table.client.get_item(TableName=table.name, Key={"PK": {"S": pk}, "SK": {"S": sk}})["Item"]
    return item


def items_under(table: Table, pk_prefix: str, sk: str) -> list[dict[str, Any]]:
    return [i for i in table.items() if i["PK"]["S"].startswith(pk_prefix) and i["SK"]["S"] == sk]


@pytest.fixture
def running(api: Api, service: Service, table: Table) -> Iterator[tuple[Unified, dict[str, Any]]]:
    """A login whose history move has not run: its unification record as the stream would carry it."""
    service.configure(MOVE_IN_COMMIT_ITEMS="0")  # a history that moves afterwards
    unified = login_with_history(api, chats=1, events=2)
    [record] = items_under(table, "UNIF#", "#UNIF")
    assert service.store.get_unification(unified.unification_id).status.value == "running"
    yield unified, record


def test_records_the_consumer_cannot_act_on_are_skipped(
    api: Api, table: Table, running: tuple[Unified, dict[str, Any]]
) -> None:
    unified, record = running
    user = raw_item(table, f"USER#{unified.member}", "#USER")
    unknown_kind = {"PK": {"S": "THING#1"}, "SK": {"S": "#THING"}, "kind": {"S": "mystery"}}
    no_kind = {"PK": {"S": "THING#2"}, "SK": {"S": "#THING"}}
    # A running unification that is not in the table (e.g. a record from another table or a test).
    vanished = {**record, "PK": {"S": "UNIF#un_nobody"}, "id": {"S": "un_nobody"}}
    event = {
        "Records": [
            lambda_record("100", user, user),
            lambda_record("200", unknown_kind),
            lambda_record("300", no_kind),
            lambda_record("400", None, user),
            lambda_record("500", vanished),
        ]
    }
    with table.unchanged():
        assert app.stream_consumer(event, None) == {"batchItemFailures": []}
        assert app.stream_consumer({"Records": []}, None) == {"batchItemFailures": []}


def test_a_record_of_a_completed_unification_changes_nothing(
    api: Api, service: Service, table: Table, running: tuple[Unified, dict[str, Any]]
) -> None:
    unified, stale = running
    app.finish_unifications(scheduled_event(), None)
    assert service.store.get_unification(unified.unification_id).status.value == "completed"
    with table.unchanged():
        assert app.stream_consumer({"Records": [lambda_record("700", stale)]}, None) == {"batchItemFailures": []}


def test_of_several_images_of_one_unification_in_a_batch_only_the_last_is_acted_on(
    api: Api, service: Service, table: Table, running: tuple[Unified, dict[str, Any]]
) -> None:
    """The mover's own progress writes come back as records; within a batch the
    latest image of a unification decides, the earlier ones cost nothing."""
    unified, record = running
    finished = {**record, "status": {"S": "completed"}}
    finished["progress"] = {"S": json.dumps({**json.loads(record["progress"]["S"]), "cleaned": True})}
    with table.unchanged():  # the running image is superseded: the move does not run
        batch = {"Records": [lambda_record("100", record), lambda_record("200", finished, record)]}
        assert app.stream_consumer(batch, None) == {"batchItemFailures": []}
    batch = {"Records": [lambda_record("300", finished, record), lambda_record("400", record, finished)]}
    assert app.stream_consumer(batch, None) == {"batchItemFailures": []}
    assert service.store.get_unification(unified.unification_id).status.value == "completed"


def test_a_record_whose_processing_fails_is_reported_with_its_sequence_number(
    api: Api, service: Service, table: Table, monkeypatch: pytest.MonkeyPatch, running: tuple[Unified, dict[str, Any]]
) -> None:
    unified, record = running
    user = raw_item(table, f"USER#{unified.member}", "#USER")
    event = {"Records": [lambda_record("100", user), lambda_record("200", record), lambda_record("300", user)]}

    def unavailable(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("DynamoDB is unavailable")

    with monkeypatch.context() as patch:
        patch.setattr(service.store, "copy_history_chunk", unavailable)
        result = app.stream_consumer(event, None)
    failed = [f["itemIdentifier"] for f in result["batchItemFailures"]]
    assert failed and failed[0] == "200", f"the failing record is reported first: {result}"
    assert "100" not in failed, "a record handled before the failure is not reported"
    assert service.store.get_unification(unified.unification_id).status.value == "running"

    # Lambda retries from the failed record: now it goes through, and the move completes.
    assert app.stream_consumer(event, None) == {"batchItemFailures": []}
    done = service.store.get_unification(unified.unification_id)
    assert done.status.value == "completed"
    assert (done.progress.chats_moved, done.progress.events_moved) == (1, 2)


# the mover against other writers ---------------------------------------------------------


def originals_left(table: Table, source: str) -> int:
    return table.count(f"USER#{source}", "C#") + table.count(f"USER#{source}", "E#")


def test_a_one_chunk_move_completes_when_the_member_changes_meanwhile(
    api: Api, service: Service, table: Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The mover read the member before copying; a member written meanwhile makes the
    completion conflict once, and the retry reads it again (the counts just made stand)."""
    service.configure(MOVE_IN_COMMIT_ITEMS="0")  # a history that moves afterwards
    unified = login_with_history(api, chats=1, events=2)
    copy = service.store.copy_history_chunk

    def copy_then_edit_member(*args: Any, **kwargs: Any) -> Any:
        chunk = copy(*args, **kwargs)
        ok(api.admin("PATCH", f"/v1/users/{unified.member}", {"profile": {"companyName": "Edited meanwhile"}}))
        return chunk

    monkeypatch.setattr(service.store, "copy_history_chunk", copy_then_edit_member)
    app.finish_unifications(scheduled_event(), None)
    record = service.store.get_unification(unified.unification_id)
    assert record.status.value == "completed" and record.progress.cleaned
    assert (record.progress.chats_total, record.progress.events_total) == (1, 2)
    assert originals_left(table, unified.source) == 0
    member = api.get_user(unified.member)["user"]
    assert member["profile"]["companyName"] == "Edited meanwhile"
    assert api.walk(f"/v1/users/{unified.member}/events", "events", limit=1) == unified.events


def test_a_mover_that_resumes_from_another_workers_bookmark_deletes_every_original(
    api: Api, service: Service, table: Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers on one move: the second one's bookmark is not where the first one's
    chunks left off, so the first one cannot delete from the keys it copied: it reads
    them again, and no original is left behind."""
    from chalicelib.service.unify import move_history

    service.configure(MOVE_CHUNK_SIZE="2")
    unified = login_with_history(api, chats=3, events=4)
    copy = service.store.copy_history_chunk
    raced = []

    def copy_then_race(*args: Any, **kwargs: Any) -> Any:
        chunk = copy(*args, **kwargs)
        if not raced:
            raced.append(True)
            hint = service.store.get_unification(unified.unification_id)
            move_history(service.container.deps, hint, max_steps=2)  # the other worker: two chunks
        return chunk

    monkeypatch.setattr(service.store, "copy_history_chunk", copy_then_race)
    app.finish_unifications(scheduled_event(), None)
    record = service.store.get_unification(unified.unification_id)
    assert raced and record.status.value == "completed" and record.progress.cleaned
    assert (record.progress.chats_moved, record.progress.events_moved) == (3, 4)
    assert originals_left(table, unified.source) == 0
    assert api.walk(f"/v1/users/{unified.member}/chats", "chats", limit=1) == unified.chats
    assert api.walk(f"/v1/users/{unified.member}/events", "events", limit=1) == unified.events


def test_a_cursor_inside_a_source_goes_on_after_the_move_completes(api: Api, service: Service) -> None:
    """R3.3 across pages: a page ends inside the source's partition, the move completes
    before the next page is asked for; the cursor goes on with the member and every
    chat is listed once."""
    member = api.put_member("m-taro", {"name": "Taro Yamada"})
    visitor = api.visit(profile={"name": "Mango135"})
    own = [api.chat(visitor, f"chat {n}")["chat"]["id"] for n in range(3)]
    ok(api.login(visitor, "m-taro"))
    first = ok(api.admin("GET", f"/v1/users/{member['id']}/chats?limit=1"))
    assert first["nextCursor"], "the page ends inside the source"
    app.finish_unifications(scheduled_event(), None)  # the move completes, the originals go
    listed = [c["id"] for c in first["chats"]]
    cursor = first["nextCursor"]
    while cursor:
        page = ok(api.admin("GET", f"/v1/users/{member['id']}/chats?limit=1&cursor={quote(cursor)}"))
        listed += [c["id"] for c in page["chats"]]
        cursor = page["nextCursor"]
    assert sorted(listed) == sorted(own), listed


def test_a_read_that_finds_the_source_emptied_by_a_completed_move_lists_the_copies(
    api: Api, service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """R3.3 within one read: the member still listed the source as moving when it was
    read, but the move completed and deleted the originals before the source's
    partition was queried; the copies are listed from the member instead."""
    service.configure(MOVE_IN_COMMIT_ITEMS="0")  # a history that moves afterwards
    unified = login_with_history(api, chats=2, events=3)
    client = service.store.client
    query = client.query
    raced: list[bool] = []

    def complete_first(**kwargs: Any) -> Any:
        if not raced and kwargs["ExpressionAttributeValues"][":pk"] == {"S": f"USER#{unified.source}"}:
            raced.append(True)
            app.finish_unifications(scheduled_event(), None)  # completes and deletes the originals
        return query(**kwargs)

    monkeypatch.setattr(client, "query", complete_first)
    chats = ok(api.admin("GET", f"/v1/users/{unified.member}/chats?limit=100"))["chats"]
    assert raced, "the move completed between the member's read and the source's query"
    assert service.store.get_unification(unified.unification_id).progress.cleaned
    assert sorted(c["id"] for c in chats) == sorted(c["id"] for c in unified.chats)
