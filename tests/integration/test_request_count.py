"""Issue 2, item 7: "The login request must not do more work for a longer history."
Counted as DynamoDB requests made during the login call only, through botocore's
event system on the client the service itself uses."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator
from typing import Any

from .conftest import Service
from .support import Api, FakeClock, Table, Visitor, ok


@contextlib.contextmanager
def dynamodb_requests(client: Any) -> Iterator[Counter[str]]:
    """Counts every DynamoDB API call the client makes inside the block, by operation."""
    counts: Counter[str] = Counter()

    def count(**kwargs: Any) -> None:
        counts[kwargs["model"].name] += 1

    client.meta.events.register("before-call.dynamodb", count)
    try:
        yield counts
    finally:
        client.meta.events.unregister("before-call.dynamodb", count)


def give_history(api: Api, table: Table, clock: FakeClock, visitor: Visitor, events: int) -> None:
    """One chat and `events` events. The first event goes through the API; the rest are
    copies of its stored item under new ids (writing 1,000 through moto one by one is slow)."""
    api.chat(visitor, "hello")
    api.track(visitor, "PageView")
    [stored] = table.client.query(
        TableName=table.name,
        KeyConditionExpression="PK = :pk AND begins_with(SK, :events)",
        ExpressionAttributeValues={":pk": {"S": f"USER#{visitor.user_id}"}, ":events": {"S": "E#"}},
    )["Items"]
    copies = []
    for _ in range(events - 1):
        event_id = clock.new_id("e_")
        copies.append({**stored, "SK": {"S": f"E#{event_id}"}, "id": {"S": event_id}})
    for start in range(0, len(copies), 25):
        batch = [{"PutRequest": {"Item": item}} for item in copies[start : start + 25]]
        assert not table.client.batch_write_item(RequestItems={table.name: batch}).get("UnprocessedItems")
    table.client.update_item(  # the user's tally of its events, as the copies' writes would have kept it
        TableName=table.name,
        Key={"PK": {"S": f"USER#{visitor.user_id}"}, "SK": {"S": "#USER"}},
        UpdateExpression="ADD eventCount :n",
        ExpressionAttributeValues={":n": {"N": str(len(copies))}},
    )
    listed = api.walk(f"/v1/users/{visitor.user_id}/events", "events", limit=1000)
    assert len(listed) == events


def test_a_login_makes_as_many_requests_for_1000_events_as_for_10(api: Api, service: Service, table: Table) -> None:
    for member_id in ("m-small", "m-large"):
        api.put_member(member_id, {"name": "Taro Yamada", "email": f"{member_id}@example.com"})
    small, large = api.visit(profile={"name": "Mango"}), api.visit(profile={"name": "Kiwi"})
    give_history(api, table, service.clock, small, 10)
    give_history(api, table, service.clock, large, 1000)

    client = service.container.client
    with dynamodb_requests(client) as for_10:
        small_login = ok(api.login(small, "m-small"))
    with dynamodb_requests(client) as for_1000:
        large_login = ok(api.login(large, "m-large"))

    assert small_login["unification"] and large_login["unification"], "both logins unified"
    assert sum(for_10.values()) > 0, "the counter sees the service's requests"
    assert for_10 == for_1000, f"10 events: {dict(for_10)}; 1,000 events: {dict(for_1000)}"
    # ...and still nothing vanished from view (R3.3): all 1,000 under the member at once.
    member = large_login["user"]["id"]
    assert len(api.walk(f"/v1/users/{member}/events", "events", limit=1000)) == 1000


def test_moving_a_short_history_takes_one_pass_of_requests(api: Api, service: Service, table: Table) -> None:
    """Issue 6: a history that fits one chunk is moved with the requests the data model
    needs: read the record and its member together, the source's chats and events
    (2 Query), copy them (1 BatchWriteItem), complete (1 TransactWriteItems). After the
    grace period (R3.3, issue 13.4) the originals go: the record (1 GetItem), their keys
    (2 Query), delete them (1 BatchWriteItem), mark it cleaned (1 PutItem)."""
    from chalicelib.service.unify import clean_moved, move_history

    service.configure(MOVE_CLEANUP_GRACE_SECONDS="60")
    api.put_member("m-move", {"name": "Taro Yamada"})
    visitor = api.visit(profile={"name": "Mango"})
    give_history(api, table, service.clock, visitor, 10)
    unification = ok(api.login(visitor, "m-move"))["unification"]
    deps = service.container.deps

    hint = service.store.get_unification(unification["id"])
    with dynamodb_requests(service.container.client) as moving:
        move_history(deps, hint)
    record = service.store.get_unification(unification["id"])
    assert record.status.value == "completed" and not record.progress.cleaned
    assert (record.progress.chats_total, record.progress.events_total) == (1, 10)
    assert moving == Counter({"BatchGetItem": 1, "Query": 2, "BatchWriteItem": 1, "TransactWriteItems": 1})
    assert not clean_moved(deps, record.id), "not before the grace period is over"
    service.clock.advance(61)
    assert service.store.unifications_due_for_cleaning(service.clock.now()) == [record.id]
    with dynamodb_requests(service.container.client) as cleaning:
        assert clean_moved(deps, record.id)
    assert cleaning == Counter({"GetItem": 1, "Query": 2, "BatchWriteItem": 1, "PutItem": 1}), dict(cleaning)
    assert service.store.get_unification(record.id).progress.cleaned
    assert service.store.unifications_due_for_cleaning(service.clock.now()) == []
    leftovers = table.client.query(
        TableName=table.name,
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": f"USER#{visitor.user_id}"}},
    )["Items"]
    assert not [i for i in leftovers if i["SK"]["S"][:2] in ("C#", "E#")], "the originals were deleted"
