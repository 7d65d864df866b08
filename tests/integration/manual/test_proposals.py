"""Candidates and direct proposals (R7.2, R2), listing them, approving and rejecting (R7.3), previews (R3.6)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from .conftest import ManualService
from .driver import (
    UNIFICATION_KEYS,
    ManualApi,
    StreamTap,
    api_lead_matching_member,
    jp_mobile,
    ok,
    refused,
    web_lead_matching_member,
)

# --- direct proposals: R2 is checked at once ------------------------------------------


def _users(api: ManualApi) -> dict[str, str]:
    """One user of every kind, for R2's table."""
    _, _, phone = jp_mobile()
    member = api.member("m-1", {"name": "Member One", "mobileNumber": phone})
    other_member = api.member("m-2", {"name": "Member Two"})
    lead = api.create_lead({"name": "A Lead", "email": "a-lead@example.com"})["user"]
    other_lead = api.create_lead({"name": "Another Lead", "email": "another@example.com"})["user"]
    anonymous = api.visit().user
    other_anonymous = api.visit().user
    unified_lead = api.create_lead({"email": "to-be-unified@example.com"})["user"]
    proposal = ok(api.propose(unified_lead["id"], other_member["id"]), 201)["unification"]
    assert ok(api.approve(proposal["id"]))["unification"]["status"] in ("running", "completed")
    return {
        "member": member["id"],
        "other_member": other_member["id"],
        "lead": lead["id"],
        "other_lead": other_lead["id"],
        "anonymous": anonymous["id"],
        "other_anonymous": other_anonymous["id"],
        "unified": unified_lead["id"],
    }


ALLOWED = [
    pytest.param("lead", "member", id="R2-lead-to-member"),
    pytest.param("anonymous", "member", id="R2-anonymous-to-member"),
]
REFUSED = [
    pytest.param("lead", "other_lead", id="R2-lead-to-lead"),
    pytest.param("member", "other_member", id="R2-member-to-member"),
    pytest.param("member", "lead", id="R2-member-to-lead"),
    pytest.param("anonymous", "lead", id="R2-anonymous-to-lead"),
    pytest.param("lead", "anonymous", id="R2-lead-to-anonymous"),
    pytest.param("anonymous", "other_anonymous", id="R2-anonymous-to-anonymous"),
    pytest.param("member", "anonymous", id="R2-member-to-anonymous"),
    pytest.param("member", "member", id="R2-member-to-itself"),
    pytest.param("unified", "member", id="R1.3-unified-source"),
    pytest.param("other_lead", "unified", id="R1.3-unified-target"),
]


@pytest.mark.parametrize(("source", "target"), ALLOWED)
def test_direct_proposal_starts_pending_and_is_listed_on_both(mapi: ManualApi, source: str, target: str) -> None:
    users = _users(mapi)
    reply = mapi.propose(users[source], users[target])
    unification = ok(reply, 201)["unification"]
    assert set(unification) >= UNIFICATION_KEYS
    assert unification["status"] == "pending_approval"
    assert unification["trigger"] == "manager_edit", "API.md: a direct proposal has trigger manager_edit"
    assert (unification["sourceUserId"], unification["targetUserId"]) == (users[source], users[target])
    assert unification["targetMemberId"] == "m-1"
    assert unification["approvedAt"] is None and unification["completedAt"] is None
    # R7.5: both users list it while it is open.
    assert unification["id"] in mapi.user(users[source])["user"]["pendingUnifications"]
    assert unification["id"] in mapi.user(users[target])["user"]["pendingUnifications"]
    assert mapi.unification(unification["id"]) == unification


@pytest.mark.parametrize(("source", "target"), REFUSED)
def test_forbidden_direct_proposal_is_refused_and_changes_nothing(
    mapi: ManualApi, manual_service: ManualService, source: str, target: str
) -> None:
    users = _users(mapi)
    with manual_service.table.unchanged():
        refused(mapi.propose(users[source], users[target]), 409, "unification_not_allowed")
    assert mapi.unifications_of(users[source], status="pending_approval") == []


@pytest.mark.parametrize("missing", ["source", "target"], ids=["unknown-source", "unknown-target"])
def test_proposal_naming_an_unknown_user_is_not_found(mapi: ManualApi, missing: str) -> None:
    member = mapi.member("m-1", {"name": "Member"})
    lead = mapi.create_lead({"email": "lead@example.com"})["user"]
    source, target = lead["id"], member["id"]
    if missing == "source":
        source = "u_no_such_user"
    else:
        target = "u_no_such_user"
    refused(mapi.propose(source, target), 404, "not_found")


def test_proposal_with_a_malformed_body_is_an_invalid_request(mapi: ManualApi) -> None:
    refused(mapi.admin("POST", "/v1/unifications", {"sourceUserId": "u_1"}), 400, "invalid_request")
    refused(mapi.admin("POST", "/v1/unifications", {"sourceUserId": "u_1", "targetUserId": 7}), 400, "invalid_request")


def test_proposing_the_same_pair_twice_keeps_one_open_unification(mapi: ManualApi) -> None:
    member = mapi.member("m-1", {"name": "Member"})
    lead = mapi.create_lead({"email": "lead@example.com"})["user"]
    first = ok(mapi.propose(lead["id"], member["id"]), 201)["unification"]
    second = ok(mapi.propose(lead["id"], member["id"]), 201)["unification"]
    assert second["id"] == first["id"]
    assert mapi.user(member["id"])["user"]["pendingUnifications"] == [first["id"]]
    assert [u["id"] for u in mapi.unifications_of(lead["id"])] == [first["id"]]


# --- candidates from a manager's edit carry a preview (R7.2, R3.6) -----------------------


def test_manager_edit_matching_a_member_answers_a_candidate_with_matched_fields_and_preview(mapi: ManualApi) -> None:
    pair = web_lead_matching_member(mapi)
    candidate = pair.unification
    assert candidate["sourceUserId"] == pair.source_id and candidate["targetUserId"] == pair.target_id
    assert candidate["targetMemberId"] == pair.member_id
    assert candidate["trigger"] == "manager_edit"
    assert candidate["matchedOn"] == ["mobileNumber"]
    decisions = {d["field"]: (d["winner"], d["rule"]) for d in candidate["fieldDecisions"]}
    # The lead typed its name (unverified); the member's came from the Open API (verified).
    assert decisions == {"name": ("target", "verified"), "mobileNumber": ("target", "member")}
    # Nothing is merged yet (R7.2): both stay readable separately (R7.5).
    lead = mapi.user(pair.source_id)
    assert lead["resolvedFrom"] is None and lead["user"]["type"] == "lead" and lead["user"]["unifiedInto"] is None
    assert mapi.user(pair.target_id)["user"]["profile"] == {
        "name": "Member B",
        "mobileNumber": lead["user"]["profile"]["mobileNumber"],
    }


def test_preview_follows_the_profiles_as_they_are_now(mapi: ManualApi) -> None:
    """R3.6: an open candidate's decisions are computed on today's profiles, not the proposal day's."""
    pair = api_lead_matching_member(mapi)
    before = {d["field"]: (d["winner"], d["rule"]) for d in pair.unification["fieldDecisions"]}
    assert before["email"] == ("source", "has_value"), "Member D lacks an email: the lead's would fill it"
    mapi.member(pair.member_id, {"email": "member-d@example.com"})
    after = {d["field"]: (d["winner"], d["rule"]) for d in mapi.unification(pair.id)["fieldDecisions"]}
    assert after["email"] == ("target", "member"), f"the member now has a verified email of its own: {after}"
    listed = mapi.unifications_of(pair.target_id)
    assert [{d["field"]: (d["winner"], d["rule"]) for d in u["fieldDecisions"]} for u in listed] == [after]


def test_a_deferred_unification_previews_today_too(mapi: ManualApi) -> None:
    """R3.6 / API.md: `pending_approval` *or* `deferred`: the preview is computed on the profiles now."""
    pair = web_lead_matching_member(mapi, approve=True)
    assert {d["field"]: d["rule"] for d in pair.unification["fieldDecisions"]}["name"] == "verified"
    mapi.edit(pair.source_id, {"name": "Lead A (checked by phone)"})  # now verified on both sides
    mapi.member(pair.member_id, {"companyName": "B Corp"})
    now = {d["field"]: (d["winner"], d["rule"]) for d in mapi.unification(pair.id)["fieldDecisions"]}
    assert now == {
        "companyName": ("target", "has_value"),
        "mobileNumber": ("target", "member"),
        "name": ("target", "member"),
    }


def test_a_completed_unification_keeps_the_decisions_it_was_made_with(mapi: ManualApi, stream: StreamTap) -> None:
    """R3.6: every unification is recorded with each field's decision; later edits do not rewrite history."""
    pair = api_lead_matching_member(mapi)
    ok(mapi.approve(pair.id))
    stream.drain()
    recorded = mapi.unification(pair.id)
    assert recorded["status"] == "completed"
    mapi.member(pair.member_id, {"email": "member-d@example.com", "companyName": "D Corp"})
    assert mapi.unification(pair.id)["fieldDecisions"] == recorded["fieldDecisions"]
    assert {d["field"]: (d["winner"], d["rule"]) for d in recorded["fieldDecisions"]} == {
        "email": ("source", "has_value"),
        "mobileNumber": ("target", "member"),
        "name": ("target", "member"),
    }


# --- approving and rejecting (R7.3, R7.6) ---------------------------------------------------


def test_approving_a_source_that_never_visited_runs_at_once(mapi: ManualApi, stream: StreamTap) -> None:
    pair = api_lead_matching_member(mapi)
    approved = ok(mapi.approve(pair.id))["unification"]
    assert approved["status"] in ("running", "completed"), f"R7.3 immediate: {approved}"
    assert approved["approvedAt"] is not None
    member = mapi.user(pair.target_id)["user"]
    assert member["profile"]["email"] == "lead-c-member-d@example.com", "the profile moves inside the unification"
    assert member["profile"]["name"] == "Member D"
    assert member["pendingUnifications"] == []
    stream.drain()
    done = mapi.unification(pair.id)
    assert done["status"] == "completed" and done["completedAt"] is not None


def test_approving_a_source_that_visited_defers_it(mapi: ManualApi) -> None:
    pair = web_lead_matching_member(mapi)
    approved = ok(mapi.approve(pair.id))["unification"]
    assert approved["status"] == "deferred" and approved["approvedAt"] is not None
    assert approved["completedAt"] is None
    # R7.5: still open, so still listed on both, and nothing merged.
    assert pair.id in mapi.user(pair.source_id)["user"]["pendingUnifications"]
    assert pair.id in mapi.user(pair.target_id)["user"]["pendingUnifications"]
    assert mapi.user(pair.source_id)["user"]["id"] == pair.source_id
    assert [c["id"] for c in mapi.chats_of(pair.target_id)] == []


def test_rejecting_ends_it_and_takes_it_off_both_users(mapi: ManualApi, stream: StreamTap) -> None:
    pair = web_lead_matching_member(mapi)
    rejected = ok(mapi.reject(pair.id))["unification"]
    assert rejected["status"] == "rejected"
    assert mapi.user(pair.source_id)["user"]["pendingUnifications"] == []
    assert mapi.user(pair.target_id)["user"]["pendingUnifications"] == []
    # The member logging in afterwards merges nothing.
    mapi.visit(member_id=pair.member_id)
    stream.drain()
    assert mapi.unification(pair.id)["status"] == "rejected"
    assert mapi.user(pair.source_id)["resolvedFrom"] is None


def _not_pending(api: ManualApi, stream: StreamTap, state: str) -> str:
    if state == "deferred":
        return web_lead_matching_member(api, approve=True).id
    if state == "rejected":
        pair = web_lead_matching_member(api)
        ok(api.reject(pair.id))
        return pair.id
    if state == "completed":
        pair = api_lead_matching_member(api)
        ok(api.approve(pair.id))
        stream.drain()
        assert api.unification(pair.id)["status"] == "completed"
        return pair.id
    assert state == "cancelled"
    pair = web_lead_matching_member(api)
    api.login(pair.visitor, "someone-else")  # the lead becomes a member itself: no longer allowed (R7.6)
    stream.drain()
    assert api.unification(pair.id)["status"] == "cancelled"
    return pair.id


@pytest.mark.parametrize("state", ["deferred", "rejected", "completed", "cancelled"], ids=lambda s: f"R7.6-{s}")
@pytest.mark.parametrize("action", ["approve", "reject"])
def test_approving_or_rejecting_what_is_not_pending_is_invalid_state(
    mapi: ManualApi, manual_service: ManualService, stream: StreamTap, state: str, action: str
) -> None:
    unification_id = _not_pending(mapi, stream, state)
    act: Callable[[str], Any] = mapi.approve if action == "approve" else mapi.reject
    with manual_service.table.unchanged():
        refused(act(unification_id), 409, "invalid_state")
    assert mapi.unification(unification_id)["status"] == state


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("GET", ""), ("POST", "/approve"), ("POST", "/reject")],
    ids=["get", "approve", "reject"],
)
def test_unknown_unification_is_not_found(mapi: ManualApi, method: str, suffix: str) -> None:
    refused(mapi.admin(method, f"/v1/unifications/un_nope{suffix}"), 404, "not_found")


def test_unification_routes_need_the_open_api_credentials(mapi: ManualApi) -> None:
    pair = api_lead_matching_member(mapi)
    for method, path in [
        ("GET", "/v1/unifications"),
        ("GET", f"/v1/unifications/{pair.id}"),
        ("POST", f"/v1/unifications/{pair.id}/approve"),
        ("POST", f"/v1/unifications/{pair.id}/reject"),
    ]:
        refused(mapi.call(method, path), 401, "unauthorized")
    assert mapi.unification(pair.id)["status"] == "pending_approval"


# --- listing by status and user, page by page --------------------------------------------------


def test_listing_filters_by_status_and_user_and_pages_with_cursors(mapi: ManualApi, stream: StreamTap) -> None:
    _, _, phone = jp_mobile()
    member = mapi.member("m-list", {"name": "Member", "mobileNumber": phone})
    other = mapi.member("m-other", {"name": "Other Member", "email": "other@example.com"})
    leads = [mapi.create_lead({"name": f"Lead {i}", "mobileNumber": phone})["user"] for i in range(4)]
    ids = [u["id"] for lead in leads for u in mapi.unifications_of(lead["id"])]
    assert len(ids) == 4, "each lead created with the member's phone is a candidate (R6.3, R9.2)"
    elsewhere = mapi.create_lead({"email": "other@example.com"})["unificationCandidate"]["id"]
    ok(mapi.reject(ids[0]))
    ok(mapi.approve(ids[1]))
    stream.drain()

    def listed(query: str) -> list[str]:
        items = mapi.walk(f"/v1/unifications{query}", "unifications", limit=1)
        for item in items:
            assert set(item) >= UNIFICATION_KEYS
        found = [item["id"] for item in items]
        assert len(found) == len(set(found)), f"an item listed twice across pages: {found}"
        return found

    assert sorted(listed("")) == sorted([*ids, elsewhere])
    assert sorted(listed(f"?userId={member['id']}")) == sorted(ids)
    assert listed(f"?userId={leads[2]['id']}") == [ids[2]]
    assert listed(f"?userId={other['id']}") == [elsewhere]
    assert sorted(listed("?status=pending_approval")) == sorted([ids[2], ids[3], elsewhere])
    assert sorted(listed(f"?status=pending_approval&userId={member['id']}")) == sorted(ids[2:])
    assert listed("?status=rejected") == [ids[0]]
    assert listed("?status=completed") == [ids[1]]
    assert listed(f"?status=completed&userId={leads[1]['id']}") == [ids[1]]
    assert listed("?status=deferred") == []
    assert listed("?userId=u_nobody") == []


@pytest.mark.parametrize(
    "query",
    ["?status=done", "?limit=0", "?limit=1001", "?cursor=not-a-cursor", "?colour=blue"],
    ids=["bad-status", "limit-0", "limit-too-big", "bad-cursor", "unknown-parameter"],
)
def test_listing_with_bad_query_parameters_is_an_invalid_request(mapi: ManualApi, query: str) -> None:
    api_lead_matching_member(mapi)
    refused(mapi.admin("GET", f"/v1/unifications{query}"), 400, "invalid_request")
