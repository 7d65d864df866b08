"""Deferred completion (R7.4) through the stream consumer and the scheduled job, called directly:
each deferred unification runs exactly once, whatever is replayed or overlaps."""

from __future__ import annotations

from typing import Any

import pytest

import app
from chalicelib.local.stack import scheduled_event

from .conftest import ManualService
from .driver import ManualApi, Pair, StreamTap, TurnTakingClient, ok, run_together, web_lead_matching_member


def deferred_with_history(api: ManualApi) -> Pair:
    """Lead A (chat, event, two campaigns) approved into Member B (one of the same campaigns): deferred."""
    pair = web_lead_matching_member(api)
    assert pair.visitor is not None
    api.track(pair.visitor, "ViewedPricing")
    ok(api.deliver(pair.source_id, "spring-sale"), 201)
    ok(api.deliver(pair.source_id, "summer-sale"), 201)
    ok(api.deliver(pair.target_id, "spring-sale"), 201)
    approved = ok(api.approve(pair.id))["unification"]
    assert approved["status"] == "deferred"
    return pair


def assert_merged_once(api: ManualApi, pair: Pair, changes: list[tuple[str | None, str]]) -> None:
    """Exactly one completion, and the member's history holds each item once."""
    reached = [new for _, new in changes]
    assert reached.count("completed") == 1, f"status changes of the record, completed once: {changes}"
    assert reached.count("running") <= 1, f"status changes of the record, run once: {changes}"
    assert "cancelled" not in reached and reached[-1] == "completed", f"status changes of the record: {changes}"
    done = api.unification(pair.id)
    assert done["status"] == "completed"
    assert done["progress"] == {"chats": {"moved": 1, "total": 1}, "events": {"moved": 1, "total": 1}}
    assert [u["id"] for u in api.unifications_of(pair.source_id)] == [pair.id]
    assert [u["id"] for u in api.unifications_of(pair.source_id, status="completed")] == [pair.id]
    chats = api.chats_of(pair.target_id)
    assert [c["id"] for c in chats] == [pair.chat_id], f"the lead's chat, listed once: {chats}"
    assert [m["text"] for m in chats[0]["messages"]] == ["hello from A"]
    assert [e["name"] for e in api.events_of(pair.target_id)] == ["ViewedPricing"]
    campaigns = [d["campaignId"] for d in api.deliveries_of(pair.target_id)]
    assert sorted(campaigns) == ["spring-sale", "summer-sale"], f"R3.2 union, no duplicates: {campaigns}"
    member = api.user(pair.target_id)["user"]
    assert member["pendingUnifications"] == []
    resolved = api.user(pair.source_id)
    assert resolved["user"]["id"] == pair.target_id and resolved["resolvedFrom"] == pair.source_id


# --- the stream ------------------------------------------------------------------------------


def test_the_members_login_record_completes_it_through_the_stream(mapi: ManualApi, stream: StreamTap) -> None:
    pair = deferred_with_history(mapi)
    stream.drain()
    assert mapi.unification(pair.id)["status"] == "deferred", "nothing happens before Member B logs in"
    mapi.visit(member_id=pair.member_id)  # Member B logs in (next day, another device)
    stream.drain()
    assert_merged_once(mapi, pair, stream.status_changes(pair.id))


def test_replayed_batches_complete_it_exactly_once(mapi: ManualApi, stream: StreamTap) -> None:
    pair = deferred_with_history(mapi)
    mapi.visit(member_id=pair.member_id)
    stream.drain()
    assert mapi.unification(pair.id)["status"] == "completed"
    stream.replay()  # Lambda delivers at least once: every batch again ...
    stream.replay()  # ... and again
    stream.drain()  # and whatever the replays wrote
    assert_merged_once(mapi, pair, stream.status_changes(pair.id))


def test_the_login_batch_handled_twice_at_the_same_time_completes_it_once(
    mapi: ManualApi, manual_service: ManualService
) -> None:
    """Two consumers get the same login record at once (a retried batch overlapping the first try)."""
    turns = TurnTakingClient(manual_service.container.client)
    manual_service.configure(client=turns)
    pair = deferred_with_history(mapi)
    collected = manual_service.tap(consume=False)
    collected.drain()  # everything so far, not handled: nothing needed it
    seen = len(collected.batches)
    mapi.visit(member_id=pair.member_id)
    collected.drain()
    login_batches = collected.batches[seen:]
    kinds = [r["dynamodb"].get("NewImage", {}).get("kind", {}).get("S") for b in login_batches for r in b["Records"]]
    assert "login" in kinds, f"the login record is among the new batches: {kinds}"

    def consume(_: int) -> list[dict[str, Any]]:
        return [app.stream_consumer(batch, None) for batch in login_batches]

    results = run_together(2, consume, turns)
    assert all(r == {"batchItemFailures": []} for run in results for r in run), results
    assert turns.switches() >= 4, f"the two consumers did not overlap: {turns.log}"
    follow = manual_service.tap(consume=True)  # now let the real consumer finish whatever remains
    follow.drain()
    assert_merged_once(mapi, pair, follow.status_changes(pair.id))


def test_a_login_from_before_the_approval_does_not_count(mapi: ManualApi, stream: StreamTap) -> None:
    """R7.4: Member B logged in before the approval (even while it was pending): still deferred."""
    pair = web_lead_matching_member(mapi)
    mapi.visit(member_id=pair.member_id)  # logs in while the candidate waits for approval
    ok(mapi.approve(pair.id))
    stream.drain()
    assert app.finish_unifications(scheduled_event(), None)["deferred"] == 0
    stream.drain()
    assert mapi.unification(pair.id)["status"] == "deferred"
    assert mapi.user(pair.source_id)["resolvedFrom"] is None
    mapi.visit(member_id=pair.member_id)  # the next login, after the approval
    stream.drain()
    assert mapi.unification(pair.id)["status"] == "completed"


def test_a_boot_in_the_members_live_session_is_not_a_new_login(mapi: ManualApi, stream: StreamTap) -> None:
    """R5.5: Member B's page reload (boot with memberId in a session already logged in as B) is
    no login, so it completes nothing; a real login afterwards does."""
    pair = web_lead_matching_member(mapi)
    member_b = mapi.visit(member_id=pair.member_id)
    ok(mapi.approve(pair.id))
    again = mapi.visit(veil_id=member_b.veil_id, member_id=pair.member_id)
    assert again.user_id == pair.target_id
    stream.drain()
    app.finish_unifications(scheduled_event(), None)
    assert mapi.unification(pair.id)["status"] == "deferred"
    mapi.login(mapi.visit(), pair.member_id)  # a new visitor logs in as B: a login
    stream.drain()
    assert mapi.unification(pair.id)["status"] == "completed"


# --- the schedule ----------------------------------------------------------------------------


def test_the_schedule_completes_what_the_stream_missed(mapi: ManualApi, manual_service: ManualService) -> None:
    """The stream is deliberately not drained: only the scheduled job can complete it."""
    pair = deferred_with_history(mapi)
    assert app.finish_unifications(scheduled_event(), None)["deferred"] == 0
    assert mapi.unification(pair.id)["status"] == "deferred", "no login yet"
    mapi.visit(member_id=pair.member_id)
    assert mapi.unification(pair.id)["status"] == "deferred", "nobody handled the login record yet"
    assert app.finish_unifications(scheduled_event(), None)["deferred"] == 1
    assert app.finish_unifications(scheduled_event(), None)["deferred"] == 0, "a second run finds nothing to do"
    record = manual_service.tap(consume=False)
    record.drain()
    assert_merged_once(mapi, pair, record.status_changes(pair.id))


@pytest.mark.parametrize("runs", [2, 3], ids=["two-overlapping-runs", "three-overlapping-runs"])
def test_overlapping_schedule_runs_complete_it_exactly_once(
    mapi: ManualApi, manual_service: ManualService, runs: int
) -> None:
    turns = TurnTakingClient(manual_service.container.client)
    manual_service.configure(client=turns)
    pair = deferred_with_history(mapi)
    mapi.visit(member_id=pair.member_id)  # the stream is never drained: the schedule alone completes it

    results = run_together(runs, lambda _: app.finish_unifications(scheduled_event(), None), turns)

    assert sum(r["deferred"] for r in results) == 1, f"each run reports what it completed: {results}"
    assert turns.switches() >= 2 * runs, f"the runs did not overlap: {turns.log}"
    record = manual_service.tap(consume=False)
    record.drain()
    assert_merged_once(mapi, pair, record.status_changes(pair.id))
