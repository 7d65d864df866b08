"""R7.6: an open unification that is no longer allowed ends `cancelled` with a reason, merging
nothing; R1.3 / R3.5: a unified user is frozen."""

from __future__ import annotations

from typing import Any

import pytest

import app
from chalicelib.local.stack import scheduled_event

from .conftest import ManualService
from .driver import ManualApi, Pair, StreamTap, api_lead_matching_member, ok, refused, web_lead_matching_member


def _unify_elsewhere(api: ManualApi, pair: Pair, how: str) -> str | None:
    """Make the pair's source no longer unifiable; the member it went into, if any."""
    assert pair.visitor is not None
    if how == "unified-into-another-member":
        other = api.member("member-e", {"name": "Member E"})
        answer = api.login(pair.visitor, "member-e")
        assert answer["unification"] is not None and answer["user"]["id"] == other["id"]
        return str(other["id"])
    assert how == "became-a-member"
    answer = api.login(pair.visitor, "brand-new-member")
    assert answer["user"]["id"] == pair.source_id and answer["user"]["type"] == "member"
    return None


HOW = ["unified-into-another-member", "became-a-member"]


@pytest.mark.parametrize("approved", [False, True], ids=["pending_approval", "deferred"])
@pytest.mark.parametrize("how", HOW, ids=[f"R7.6-{h}" for h in HOW])
def test_open_unification_is_cancelled_with_a_reason_when_the_source_changes(
    mapi: ManualApi, stream: StreamTap, how: str, approved: bool
) -> None:
    pair = web_lead_matching_member(mapi, approve=approved)
    elsewhere = _unify_elsewhere(mapi, pair, how)
    stream.drain()
    cancelled = mapi.unification(pair.id)
    assert cancelled["status"] == "cancelled", f"R7.6: {cancelled}"
    assert isinstance(cancelled["reason"], str) and cancelled["reason"], "R7.6: cancelled *with the reason*"
    assert cancelled["completedAt"] is None
    # Off both users' lists (R7.5) ...
    assert mapi.user(pair.target_id)["user"]["pendingUnifications"] == []
    assert mapi.user(pair.source_id, resolve=False)["user"]["pendingUnifications"] == []
    # ... and nothing merges, not even when Member B logs in afterwards.
    mapi.visit(member_id=pair.member_id)
    stream.drain()
    app.finish_unifications(scheduled_event(), None)
    assert mapi.unification(pair.id)["status"] == "cancelled"
    member_b = mapi.user(pair.target_id)["user"]
    assert member_b["profile"] == pair.member["profile"]
    assert mapi.chats_of(pair.target_id) == []
    owner = elsewhere or pair.source_id
    assert [c["id"] for c in mapi.chats_of(owner)] == [pair.chat_id]
    assert mapi.user(pair.source_id)["user"]["id"] == owner


@pytest.mark.parametrize("how", HOW, ids=[f"R7.6-{h}" for h in HOW])
def test_approving_after_the_source_changed_does_not_leave_it_deferred(
    mapi: ManualApi, stream: StreamTap, how: str
) -> None:
    """R7.6 / R2: once the source was unified elsewhere or became a member, approving cannot
    promise a merge at Member B's next login. Approval is asked before the stream consumer
    has caught up (on AWS it runs a moment later): the answer must already not be
    `deferred` (cancelled, or refused)."""
    pair = web_lead_matching_member(mapi)
    stream.drain()
    _unify_elsewhere(mapi, pair, how)
    reply = mapi.approve(pair.id)
    if reply.status == 409:
        refused(reply, 409, "invalid_state")
    else:
        answer = ok(reply)["unification"]
        assert answer["status"] == "cancelled", (
            f"approve answered {answer['status']!r} for a source that can no longer be unified "
            f"(source is now {mapi.user(pair.source_id, resolve=False)['user']['type']}, "
            f"unifiedInto={mapi.user(pair.source_id, resolve=False)['user']['unifiedInto']})"
        )
    stream.drain()
    assert mapi.unification(pair.id)["status"] == "cancelled"


def test_immediate_approval_of_a_source_unified_meanwhile_is_cancelled(mapi: ManualApi) -> None:
    """R7.6 on the immediate path: an API lead proposed to two members; the first approval
    unifies it, the second finds it no longer allowed."""
    pair = api_lead_matching_member(mapi)
    other = mapi.member("member-x", {"name": "Member X"})
    second = ok(mapi.propose(pair.source_id, other["id"]), 201)["unification"]
    ok(mapi.approve(pair.id))
    answer = ok(mapi.approve(second["id"]))["unification"]
    assert answer["status"] == "cancelled" and answer["reason"]
    assert mapi.user(other["id"])["user"]["pendingUnifications"] == []
    assert mapi.user(pair.source_id)["user"]["id"] == pair.target_id


# --- R1.3 / R3.5: a unified user is frozen ------------------------------------------------------


@pytest.fixture
def frozen(mapi: ManualApi, stream: StreamTap) -> Pair:
    pair = api_lead_matching_member(mapi)
    ok(mapi.deliver(pair.source_id, "spring-sale"), 201)
    ok(mapi.admin("POST", f"/v1/users/{pair.source_id}/events", {"name": "Imported", "properties": {}}), 201)
    ok(mapi.approve(pair.id))
    stream.drain()
    assert mapi.unification(pair.id)["status"] == "completed"
    return pair


WRITES: list[Any] = [
    pytest.param("PATCH", "", {"profile": {"companyName": "Acme"}}, id="R1.3-profile-edit"),
    pytest.param("POST", "/events", {"name": "Clicked", "properties": {}}, id="R1.3-event"),
    pytest.param("POST", "/marketing-deliveries", {"campaignId": "summer-sale"}, id="R1.3-delivery"),
]


@pytest.mark.parametrize(("method", "suffix", "body"), WRITES)
def test_writes_to_a_unified_user_are_refused_naming_the_member(
    mapi: ManualApi, manual_service: ManualService, frozen: Pair, method: str, suffix: str, body: dict[str, Any]
) -> None:
    with manual_service.table.unchanged():
        error = refused(mapi.admin(method, f"/v1/users/{frozen.source_id}{suffix}", body), 409, "user_unified")
    assert error.get("unifiedInto") == frozen.target_id


@pytest.mark.parametrize("role", ["source", "target"], ids=["R1.3-as-source", "R1.3-as-target"])
def test_a_unified_user_can_be_neither_source_nor_target_again(
    mapi: ManualApi, manual_service: ManualService, frozen: Pair, role: str
) -> None:
    other_member = mapi.member("member-z", {"name": "Member Z"})
    other_lead = mapi.create_lead({"email": "another-lead@example.com"})["user"]
    source, target = (
        (frozen.source_id, other_member["id"]) if role == "source" else (other_lead["id"], frozen.source_id)
    )
    with manual_service.table.unchanged():
        refused(mapi.propose(source, target), 409, "unification_not_allowed")


def test_a_unified_user_reads_as_its_member_and_keeps_its_frozen_record(mapi: ManualApi, frozen: Pair) -> None:
    resolved = mapi.user(frozen.source_id)
    assert resolved["user"]["id"] == frozen.target_id and resolved["resolvedFrom"] == frozen.source_id
    record = mapi.user(frozen.source_id, resolve=False)
    assert record["resolvedFrom"] is None
    assert record["user"]["id"] == frozen.source_id
    assert record["user"]["type"] == "lead", "R1.3: never reclassified"
    assert record["user"]["unifiedInto"] == frozen.target_id and record["user"]["unifiedAt"] is not None
    assert [d["campaignId"] for d in mapi.deliveries_of(frozen.source_id)] == ["spring-sale"]
    assert [e["name"] for e in mapi.events_of(frozen.source_id)] == ["Imported"]
    phone = record["user"]["profile"]["mobileNumber"]
    assert [u["id"] for u in mapi.search("mobileNumber", phone)] == [frozen.target_id], "search: un-unified only"
