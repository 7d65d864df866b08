"""Matching contacts (R6): which values match, which member is chosen, when matching runs."""

from __future__ import annotations

import pytest

import app
from chalicelib.local.stack import scheduled_event

from .conftest import ManualService
from .driver import ManualApi, jp_mobile

# --- R6.1: only verified values of the user match, against any value of the member ----------


def test_customer_typed_contact_never_matches(mapi: ManualApi) -> None:
    """R6.1: a phone the visitor typed in (boot profile) is unverified; a later manager edit of
    another field checks the verified values only, so the typed phone proposes nothing."""
    national, _, e164 = jp_mobile()
    member = mapi.member("m-typed", {"name": "Member", "mobileNumber": e164})
    visitor = mapi.visit(profile={"name": "Visitor", "mobileNumber": national})
    assert visitor.user["profile"]["mobileNumber"] == e164
    assert "mobileNumber" not in visitor.user["verifiedFields"]
    edited = mapi.edit(visitor.user_id, {"email": "visitor@example.com"})
    assert edited["unificationCandidate"] is None, f"a customer-typed phone matched: {edited}"
    assert mapi.unifications_of(visitor.user_id) == []
    assert mapi.user(member["id"])["user"]["pendingUnifications"] == []


def test_member_side_value_matches_even_when_the_member_typed_it(mapi: ManualApi) -> None:
    """R6.1: verified or not on the member's side."""
    national, _, e164 = jp_mobile()
    member = mapi.visit(member_id="m-self-typed", profile={"name": "Member", "mobileNumber": e164}).user
    assert member["type"] == "member" and "mobileNumber" not in member["verifiedFields"]
    created = mapi.create_lead({"mobileNumber": national})
    candidate = created["unificationCandidate"]
    assert candidate is not None and candidate["targetUserId"] == member["id"]
    assert candidate["matchedOn"] == ["mobileNumber"]


def test_a_value_held_only_by_leads_proposes_nothing(mapi: ManualApi) -> None:
    """R2: only members can be targets; another lead with the same phone is no candidate."""
    _, _, e164 = jp_mobile()
    mapi.create_lead({"name": "First", "mobileNumber": e164})
    assert mapi.create_lead({"name": "Second", "mobileNumber": e164})["unificationCandidate"] is None


@pytest.mark.parametrize("field", ["mobileNumber", "email"], ids=["R6.1-phone", "R6.1-email"])
def test_open_api_lead_is_matched_on_creation(mapi: ManualApi, field: str) -> None:
    """R6.3 / R9.2: a lead created by the Open API is matched at once, on normalized values."""
    national, _, e164 = jp_mobile()
    member_value, lead_value = (
        (e164, national) if field == "mobileNumber" else ("Taro@Example.COM", " taro@example.com ")
    )
    member = mapi.member("m-create", {"name": "Member", field: member_value})
    created = mapi.create_lead({field: lead_value})
    assert created["user"]["type"] == "lead"
    candidate = created["unificationCandidate"]
    assert candidate is not None, f"no candidate for a lead sharing the member's {field}"
    assert candidate["trigger"] == "open_api" and candidate["status"] == "pending_approval"
    assert (candidate["targetUserId"], candidate["matchedOn"]) == (member["id"], [field])
    assert created["user"]["pendingUnifications"] == [candidate["id"]]


# --- R6.2: several members match -> the most recently updated ----------------------------------


@pytest.mark.parametrize("refreshed", [0, 1, 2], ids=lambda i: f"R6.2-member-{i}-updated-last")
def test_several_matching_members_choose_the_most_recently_updated(mapi: ManualApi, refreshed: int) -> None:
    national, _, e164 = jp_mobile()
    members = [mapi.member(f"m-{i}", {"name": f"Member {i}", "mobileNumber": e164}) for i in range(3)]
    mapi.member(f"m-{refreshed}", {"companyName": "Updated Inc."})
    candidate = mapi.create_lead({"mobileNumber": national})["unificationCandidate"]
    assert candidate is not None
    assert candidate["targetUserId"] == members[refreshed]["id"], "R6.2: the most recently updated member"


def test_members_matched_on_different_fields_choose_the_most_recently_updated(mapi: ManualApi) -> None:
    _, _, e164 = jp_mobile()
    by_phone = mapi.member("m-phone", {"name": "By Phone", "mobileNumber": e164})
    by_email = mapi.member("m-email", {"name": "By Email", "email": "shared@example.com"})
    candidate = mapi.create_lead({"mobileNumber": e164, "email": "shared@example.com"})["unificationCandidate"]
    assert candidate is not None and candidate["targetUserId"] == by_email["id"]
    assert candidate["matchedOn"] == ["email"]
    mapi.member("m-phone", {"companyName": "Later"})
    other = mapi.create_lead({"mobileNumber": e164, "email": "shared@example.com"})["unificationCandidate"]
    assert other is not None and other["targetUserId"] == by_phone["id"]


# --- R6.4: junk values are stored but never matched --------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("mobileNumber", "090-1111-1111"),
        ("mobileNumber", "080-2222-2222"),
        ("email", "test@test.com"),
        ("email", "TEST@test.com"),
    ],
    ids=["R6.4-phone-1111", "R6.4-phone-2222", "R6.4-test-at-test", "R6.4-test-at-test-uppercase"],
)
def test_junk_values_are_stored_but_never_match(mapi: ManualApi, field: str, value: str) -> None:
    member = mapi.member("m-junk", {"name": "Member", field: value})
    created = mapi.create_lead({"name": "Lead", field: value})
    assert created["unificationCandidate"] is None, f"{value} matched"
    assert field in created["user"]["profile"], "junk values are still stored"
    visitor, _ = mapi.web_lead("Web Lead")
    assert mapi.edit(visitor.user_id, {field: value})["unificationCandidate"] is None
    assert mapi.user(member["id"])["user"]["pendingUnifications"] == []


def test_configured_blocklist_values_never_match(mapi: ManualApi, manual_service: ManualService) -> None:
    manual_service.configure(CONTACT_BLOCKLIST="front-desk@example.com, +819012345678")
    mapi.member("m-desk", {"email": "front-desk@example.com", "mobileNumber": "090-1234-5678"})
    assert mapi.create_lead({"email": "Front-Desk@example.com"})["unificationCandidate"] is None
    assert mapi.create_lead({"mobileNumber": "+81 90 1234 5678"})["unificationCandidate"] is None
    assert mapi.create_lead({"email": "front-desk2@example.com"})["unificationCandidate"] is None


@pytest.mark.parametrize(
    ("holders", "matches"),
    [(5, True), (6, False)],
    ids=["R6.4-five-members-still-match", "R6.4-six-members-never-match"],
)
def test_a_value_shared_by_more_members_than_the_cap_never_matches(
    mapi: ManualApi, holders: int, matches: bool
) -> None:
    national, _, e164 = jp_mobile()
    members = [mapi.member(f"m-{i}", {"name": f"Member {i}", "mobileNumber": e164}) for i in range(holders)]
    candidate = mapi.create_lead({"mobileNumber": national})["unificationCandidate"]
    if matches:
        assert candidate is not None and candidate["targetUserId"] == members[-1]["id"]
    else:
        assert candidate is None, f"a value shared by {holders} members matched: {candidate}"


@pytest.mark.parametrize(
    "entry", ["090-2222-3333", "+81 90 2222 3333", "09022223333", "Front.Desk@Example.com "], ids=str
)
def test_a_blocklist_entry_matches_in_any_notation(mapi: ManualApi, manual_service: ManualService, entry: str) -> None:
    """Issue 10, item 7: an entry in local format was compared to E.164 values unnormalized."""
    manual_service.configure(CONTACT_BLOCKLIST=entry)
    field, value = ("email", "front.desk@example.com") if "@" in entry else ("mobileNumber", "+819022223333")
    mapi.member("m-listed", {"name": "Member", field: value})
    assert mapi.create_lead({"name": "Lead", field: value})["unificationCandidate"] is None
    visitor, _ = mapi.web_lead("Web Lead")
    assert mapi.edit(visitor.user_id, {field: value})["unificationCandidate"] is None


def test_the_cap_is_configurable(mapi: ManualApi, manual_service: ManualService) -> None:
    manual_service.configure(MAX_CONTACT_MATCHES="1")
    _, _, e164 = jp_mobile()
    mapi.member("m-a", {"mobileNumber": e164})
    mapi.member("m-b", {"mobileNumber": e164})
    assert mapi.create_lead({"mobileNumber": e164})["unificationCandidate"] is None


def test_many_leads_sharing_a_junk_value_do_not_hide_that_members_share_it(mapi: ManualApi) -> None:
    """R6.4: six members share a placeholder number, then many leads are imported with it.
    The value is still shared by more than five members, so it must still never match; how
    many leads also hold it must not matter."""
    national, _, e164 = jp_mobile()
    for i in range(6):
        mapi.member(f"m-{i}", {"name": f"Member {i}", "mobileNumber": e164})
    lines = ["name,mobileNumber", *(f"Lead {i},{national}" for i in range(26))]
    result = mapi.import_csv(("\n".join(lines) + "\n").encode())
    assert result["errors"] == [] and result["leads"] == 26
    assert result["candidates"] == [], (
        "R6.4: once enough leads share the value, a lead is proposed to one of the six members: "
        f"{[(c['sourceUserId'], c['targetMemberId']) for c in result['candidates']]}"
    )


# --- R6.3: when matching runs ------------------------------------------------------------------


def test_re_entering_the_same_number_in_another_format_is_no_change(mapi: ManualApi) -> None:
    """R6.3: an edit to the same normalized value is not a change, so no candidate."""
    national, spaced, e164 = jp_mobile()
    visitor, _ = mapi.web_lead("Lead")
    assert mapi.edit(visitor.user_id, {"mobileNumber": national})["unificationCandidate"] is None
    mapi.member("m-later", {"name": "Later Member", "mobileNumber": e164})
    for again in (spaced, e164, national):
        edited = mapi.edit(visitor.user_id, {"mobileNumber": again})
        assert edited["unificationCandidate"] is None, f"re-entering {again!r} proposed a unification"
        assert edited["user"]["profile"]["mobileNumber"] == e164
    assert mapi.unifications_of(visitor.user_id) == []


def test_a_member_appearing_later_does_not_pull_in_an_older_lead(
    mapi: ManualApi, manual_service: ManualService
) -> None:
    """R6.3 (seed: Kiwi987 and Taro Yamada): a new member with the lead's number changes nothing."""
    national, _, e164 = jp_mobile()
    lead = mapi.create_lead({"name": "Old Lead", "mobileNumber": national})
    assert lead["unificationCandidate"] is None
    member = mapi.visit(member_id="m-new", profile={"name": "Taro Yamada", "mobileNumber": e164}).user
    stream = manual_service.tap()
    stream.drain()
    app.finish_unifications(scheduled_event(), None)
    assert mapi.unifications_of(lead["user"]["id"]) == []
    assert mapi.user(member["id"])["user"]["pendingUnifications"] == []
    assert mapi.user(lead["user"]["id"])["user"]["type"] == "lead"


def test_any_real_contact_change_checks_all_verified_values(mapi: ManualApi) -> None:
    """R6.3: a real change of the email re-checks the (unchanged) verified phone as well."""
    national, _, e164 = jp_mobile()
    visitor, _ = mapi.web_lead("Lead")
    mapi.edit(visitor.user_id, {"mobileNumber": national})
    member = mapi.member("m-later", {"name": "Later Member", "mobileNumber": e164})
    edited = mapi.edit(visitor.user_id, {"email": "lead@example.com"})
    candidate = edited["unificationCandidate"]
    assert candidate is not None and candidate["targetUserId"] == member["id"]
    assert candidate["matchedOn"] == ["mobileNumber"]
    assert edited["user"]["pendingUnifications"] == [candidate["id"]]


def test_editing_a_non_contact_field_does_not_match(mapi: ManualApi) -> None:
    national, _, e164 = jp_mobile()
    visitor, _ = mapi.web_lead("Lead")
    mapi.edit(visitor.user_id, {"mobileNumber": national})
    mapi.member("m-later", {"mobileNumber": e164})
    assert mapi.edit(visitor.user_id, {"companyName": "Acme"})["unificationCandidate"] is None


def test_a_members_own_contact_edit_proposes_nothing(mapi: ManualApi) -> None:
    """R6.3: matching runs for anonymous users and leads only."""
    _, _, e164 = jp_mobile()
    mapi.member("m-1", {"mobileNumber": e164})
    other = mapi.visit(member_id="m-2").user
    edited = mapi.edit(other["id"], {"mobileNumber": e164})
    assert edited["unificationCandidate"] is None
    assert mapi.unifications_of(other["id"]) == []


def test_manager_edit_of_an_anonymous_user_makes_a_lead_and_a_candidate(mapi: ManualApi) -> None:
    """R7.1/R1.2: an anonymous visitor given contact info by a manager is a lead, matched at once."""
    national, _, e164 = jp_mobile()
    member = mapi.member("m-anon", {"mobileNumber": e164})
    visitor = mapi.visit()
    assert visitor.user["type"] == "anonymous"
    edited = mapi.edit(visitor.user_id, {"mobileNumber": national})
    assert edited["user"]["type"] == "lead"
    assert edited["unificationCandidate"] is not None
    assert edited["unificationCandidate"]["targetUserId"] == member["id"]
