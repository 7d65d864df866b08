"""Login (R5) and what a unification on login does (R3): profile by R3.1 with the
rule recorded, deliveries united, history in view at once, authors kept, the old
id resolving, consent never weakened, writes to the frozen user refused."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Service
from .support import Api, Table, Visitor, ok, refused


def messages_by_text(chats: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {m["text"]: m for chat in chats for m in chat["messages"]}


# R5.1: unify into an existing member -------------------------------------------------


@pytest.fixture
def mango_logs_in_as_taro(api: Api) -> dict[str, Any]:
    """Seed: Mango135 chats and browses, then logs in as existing member Taro Yamada."""
    member = api.put_member("m-taro", {"name": "Taro Yamada", "email": "taro@example.com"})
    visitor = api.visit(profile={"name": "Mango135"})
    started = api.chat(visitor, "before login")
    manager = ok(
        api.admin("POST", f"/v1/chats/{started['chat']['id']}/messages", {"text": "Welcome", "managerName": "Sato"}),
        201,
    )
    event = api.track(visitor, "PageView", {"url": "/a"})
    ok(api.admin("POST", f"/v1/users/{visitor.user_id}/marketing-deliveries", {"campaignId": "spring"}), 201)
    login = ok(api.login(visitor, "m-taro"))
    return {
        "member": member,
        "visitor": visitor,
        "chat": started["chat"],
        "manager_message": manager["message"],
        "event": event,
        "login": login,
    }


def test_r5_1_login_continues_the_session_as_the_existing_member(
    api: Api, mango_logs_in_as_taro: dict[str, Any]
) -> None:
    story = mango_logs_in_as_taro
    member, visitor, login = story["member"], story["visitor"], story["login"]
    assert login["user"]["id"] == member["id"]
    assert login["user"]["type"] == "member" and login["user"]["memberId"] == "m-taro"
    assert visitor.veil_id in login["user"]["veilIds"]
    session = ok(api.session(visitor.token, "GET", "/v1/session"))
    assert (session["user"]["id"], session["session"]["loggedIn"]) == (member["id"], True)


def test_r5_1_the_login_answers_with_the_unification_record(mango_logs_in_as_taro: dict[str, Any]) -> None:
    story = mango_logs_in_as_taro
    unification = story["login"]["unification"]
    assert unification is not None
    assert unification["sourceUserId"] == story["visitor"].user_id
    assert unification["targetUserId"] == story["member"]["id"]
    assert unification["targetMemberId"] == "m-taro"
    assert unification["trigger"] == "login"
    assert unification["status"] in ("running", "completed")
    assert set(unification["progress"]) == {"chats", "events"}


def test_r3_3_history_is_under_the_member_right_after_the_login(
    api: Api, mango_logs_in_as_taro: dict[str, Any]
) -> None:
    """No stream has run yet: the member's reads already show the source's chats and events."""
    story = mango_logs_in_as_taro
    member = story["member"]
    chats = api.chats_of(member["id"])
    assert [c["id"] for c in chats] == [story["chat"]["id"]]
    assert chats[0]["userId"] == member["id"]
    events = api.events_of(member["id"])
    assert [(e["id"], e["userId"]) for e in events] == [(story["event"]["id"], member["id"])]
    session_chats = ok(api.session(story["visitor"].token, "GET", "/v1/session/chats"))["chats"]
    assert [c["id"] for c in session_chats] == [story["chat"]["id"]]


def test_r3_4_messages_keep_their_author_and_the_name_it_had(api: Api, mango_logs_in_as_taro: dict[str, Any]) -> None:
    story = mango_logs_in_as_taro
    visitor, member = story["visitor"], story["member"]
    api.say(visitor, story["chat"]["id"], "after login")
    by_text = messages_by_text(api.chats_of(member["id"]))
    before, after = by_text["before login"], by_text["after login"]
    assert (before["personId"], before["personName"]) == (visitor.user_id, "Mango135")
    assert (after["personId"], after["personName"]) == (member["id"], "Taro Yamada")
    assert (by_text["Welcome"]["personType"], by_text["Welcome"]["personName"]) == ("manager", "Sato")


def test_r3_4_an_unnamed_visitor_keeps_its_generated_name(api: Api) -> None:
    api.put_member("m-taro", {"name": "Taro Yamada"})
    visitor = api.visit()
    generated = visitor.user["displayName"]
    chat = api.chat(visitor, "before login")["chat"]
    ok(api.login(visitor, "m-taro"))
    api.say(visitor, chat["id"], "after login")
    by_text = messages_by_text(ok(api.session(visitor.token, "GET", "/v1/session/chats"))["chats"])
    assert by_text["before login"]["personName"] == generated
    assert by_text["after login"]["personName"] == "Taro Yamada"


def test_r3_5_the_old_id_resolves_to_the_member(api: Api, mango_logs_in_as_taro: dict[str, Any]) -> None:
    story = mango_logs_in_as_taro
    source, member = story["visitor"].user_id, story["member"]["id"]
    resolved = api.get_user(source)
    assert resolved["user"]["id"] == member and resolved["resolvedFrom"] == source
    frozen = api.get_user(source, resolve=False)
    assert frozen["resolvedFrom"] is None
    assert frozen["user"]["id"] == source
    assert frozen["user"]["unifiedInto"] == member and frozen["user"]["unifiedAt"] is not None
    assert frozen["user"]["type"] in ("anonymous", "lead"), "R1.3: never reclassified"
    assert [c["id"] for c in api.chats_of(source)] == [story["chat"]["id"]], "reads of S's chats resolve to M"
    assert [e["id"] for e in api.events_of(source)] == [story["event"]["id"]]
    assert [d["campaignId"] for d in api.deliveries_of(source)] == ["spring"]


def test_r3_2_a_campaign_sent_to_the_source_is_never_sent_to_the_member(
    api: Api, table: Table, mango_logs_in_as_taro: dict[str, Any]
) -> None:
    member = mango_logs_in_as_taro["member"]["id"]
    assert [d["campaignId"] for d in api.deliveries_of(member)] == ["spring"]
    with table.unchanged():
        reply = api.admin("POST", f"/v1/users/{member}/marketing-deliveries", {"campaignId": "spring"})
        refused(reply, 409, "already_delivered")
    ok(api.admin("POST", f"/v1/users/{member}/marketing-deliveries", {"campaignId": "summer"}), 201)


def test_r3_2_deliveries_of_both_sides_are_united(api: Api) -> None:
    member = api.put_member("m-taro", {"name": "Taro"})
    ok(api.admin("POST", f"/v1/users/{member['id']}/marketing-deliveries", {"campaignId": "both"}), 201)
    ok(api.admin("POST", f"/v1/users/{member['id']}/marketing-deliveries", {"campaignId": "member-only"}), 201)
    visitor = api.visit()
    for campaign in ("both", "source-only"):
        ok(api.admin("POST", f"/v1/users/{visitor.user_id}/marketing-deliveries", {"campaignId": campaign}), 201)
    ok(api.login(visitor, "m-taro"))
    walked = api.walk(f"/v1/users/{member['id']}/marketing-deliveries", "deliveries", limit=1)
    assert sorted(d["campaignId"] for d in walked) == ["both", "member-only", "source-only"]


WRITES_TO_THE_FROZEN_USER = {
    "profile-edit": ("PATCH", "", {"profile": {"name": "New"}}),
    "consent-edit": ("PATCH", "", {"unsubscribeEmail": True}),
    "event": ("POST", "/events", {"name": "PageView"}),
    "delivery": ("POST", "/marketing-deliveries", {"campaignId": "summer"}),
    "delivery-already-sent": ("POST", "/marketing-deliveries", {"campaignId": "spring"}),
}


@pytest.mark.parametrize(
    ("method", "suffix", "body"), WRITES_TO_THE_FROZEN_USER.values(), ids=WRITES_TO_THE_FROZEN_USER.keys()
)
def test_r3_5_writes_to_the_unified_user_are_refused_naming_the_member(
    api: Api, table: Table, mango_logs_in_as_taro: dict[str, Any], method: str, suffix: str, body: dict[str, Any]
) -> None:
    source, member = mango_logs_in_as_taro["visitor"].user_id, mango_logs_in_as_taro["member"]["id"]
    with table.unchanged():
        error = refused(api.admin(method, f"/v1/users/{source}{suffix}", body), 409, "user_unified")
    assert error.get("unifiedInto") == member


def test_r4_4_a_session_event_after_the_login_lands_on_the_member(
    api: Api, mango_logs_in_as_taro: dict[str, Any]
) -> None:
    story = mango_logs_in_as_taro
    event = api.track(story["visitor"], "Checkout")
    assert event["userId"] == story["member"]["id"]
    assert [e["name"] for e in api.events_of(story["member"]["id"])] == ["PageView", "Checkout"]


def test_r5_5_a_login_leaves_a_login_record(api: Api, table: Table, mango_logs_in_as_taro: dict[str, Any]) -> None:
    member = mango_logs_in_as_taro["member"]["id"]
    assert table.count(f"USER#{member}", "L#") == 1


def test_r5_5_a_boot_with_the_member_id_in_the_same_logged_in_session_is_not_a_new_login(
    api: Api, table: Table, mango_logs_in_as_taro: dict[str, Any]
) -> None:
    story = mango_logs_in_as_taro
    again = ok(api.boot(veil_id=story["visitor"].veil_id, member_id="m-taro"))
    assert again["user"]["id"] == story["member"]["id"]
    assert again["unification"] is None
    assert table.count(f"USER#{story['member']['id']}", "L#") == 1


# R5.1: a new device -------------------------------------------------------------------------


def test_r5_1_a_boot_with_member_id_on_a_new_device_starts_as_the_member(api: Api, table: Table) -> None:
    member = api.put_member("m-taro", {"name": "Taro Yamada"})
    users_before = table.count("USER#", "#USER")
    body = ok(api.boot(member_id="m-taro"))
    assert body["user"]["id"] == member["id"]
    assert body["session"]["loggedIn"] is True
    assert body["unification"] is None, "no empty anonymous user was created to be unified"
    assert table.count("USER#", "#USER") == users_before, "no new user record at all"
    assert table.count(f"USER#{member['id']}", "L#") == 1, "R5.5: the login is recorded"


def test_r5_1_r5_2_a_boot_with_an_unknown_member_id_on_a_new_device_creates_the_member(api: Api, table: Table) -> None:
    body = ok(api.boot(member_id="m-hanako", profile={"name": "Hanako Yamada"}))
    user = body["user"]
    assert (user["type"], user["memberId"], user["profile"]) == ("member", "m-hanako", {"name": "Hanako Yamada"})
    assert user["verifiedFields"] == [], "typed at login: unverified (R1.4)"
    assert table.count("USER#", "#USER") == 1
    assert ok(api.admin("GET", "/v1/members/m-hanako"))["user"]["id"] == user["id"]


# R5.2: convert in place -------------------------------------------------------------------


def test_r5_2_an_unknown_member_id_converts_the_same_record(api: Api, table: Table) -> None:
    """Seed: Apple246 logs in as Hanako Yamada, not yet known; all messages show the new name."""
    visitor = api.visit(profile={"name": "Apple246"})
    chat = api.chat(visitor, "question")["chat"]
    api.track(visitor, "PageView")
    login = ok(api.login(visitor, "m-hanako", profile={"name": "Hanako Yamada"}))
    assert login["unification"] is None
    user = login["user"]
    assert (user["id"], user["type"], user["memberId"]) == (visitor.user_id, "member", "m-hanako")
    assert user["profile"]["name"] == "Hanako Yamada"
    names = {m["personName"] for c in api.chats_of(user["id"]) for m in c["messages"]}
    assert names == {"Hanako Yamada"}
    assert [c["id"] for c in api.chats_of(user["id"])] == [chat["id"]]
    assert len(api.events_of(user["id"])) == 1
    assert ok(api.admin("GET", "/v1/members/m-hanako"))["user"]["id"] == visitor.user_id
    assert table.count("UNIF#") == 0


# R5.3: already that member, or another one ------------------------------------------------------


def test_r5_3_logging_in_again_as_the_same_member_changes_nothing(api: Api) -> None:
    member = api.put_member("m-taro", {"name": "Taro", "email": "taro@example.com"})
    visitor = api.visit(member_id="m-taro")
    again = ok(api.login(visitor, "m-taro"))
    assert again["user"]["id"] == member["id"]
    assert again["unification"] is None
    assert again["user"]["profile"] == member["profile"]


def test_r5_3_logging_in_as_another_member_switches_without_unifying(api: Api, table: Table) -> None:
    taro = api.put_member("m-taro", {"name": "Taro"})
    hanako = api.put_member("m-hanako", {"name": "Hanako"})
    visitor = api.visit(member_id="m-taro")
    chat = api.chat(visitor, "as Taro")["chat"]
    switched = ok(api.login(visitor, "m-hanako"))
    assert switched["user"]["id"] == hanako["id"]
    assert switched["unification"] is None
    assert ok(api.session(visitor.token, "GET", "/v1/session"))["user"]["id"] == hanako["id"]
    assert api.get_user(taro["id"])["user"]["unifiedInto"] is None
    assert [c["id"] for c in api.chats_of(taro["id"])] == [chat["id"]], "Taro's history stays Taro's"
    assert api.chats_of(hanako["id"]) == []
    assert table.count("UNIF#") == 0


def test_r5_3_switching_to_an_unknown_member_creates_it(api: Api) -> None:
    taro = api.put_member("m-taro", {"name": "Taro"})
    visitor = api.visit(member_id="m-taro")
    switched = ok(api.login(visitor, "m-new"))["user"]
    assert switched["id"] != taro["id"]
    assert (switched["type"], switched["memberId"]) == ("member", "m-new")
    assert api.get_user(taro["id"])["user"]["memberId"] == "m-taro", "Taro is not converted"


# R3.1 field priority, recorded with the rule that decided ---------------------------------------


def member_with(api: Api, verified: dict[str, str], typed: dict[str, str]) -> dict[str, Any]:
    """A member holding `verified` values (Open API) and `typed` ones (its own login, unverified)."""
    if typed:
        ok(api.boot(member_id="m-target", profile=typed))
    return api.put_member("m-target", verified)


def source_with(api: Api, verified: dict[str, str], typed: dict[str, str]) -> Visitor:
    visitor = api.visit(profile=typed or None)
    if verified:
        ok(api.admin("PATCH", f"/v1/users/{visitor.user_id}", {"profile": verified}))
    return visitor


PRIORITY = {
    # id: (member verified, member typed, source verified, source typed, field, winner, rule, value)
    "R3.1-seed-verified-lead-vs-verified-member-member-wins": (
        {"email": "m@example.com"}, {}, {"email": "l@example.com"}, {}, "email", "target", "member", "m@example.com",
    ),
    "R3.1-seed-unverified-lead-vs-unverified-member-member-wins": (
        {}, {"email": "m@example.com"}, {}, {"email": "l@example.com"}, "email", "target", "member", "m@example.com",
    ),
    "R3.1-seed-verified-lead-beats-unverified-member": (
        {}, {"email": "m@example.com"}, {"email": "l@example.com"}, {}, "email", "source", "verified", "l@example.com",
    ),
    "R3.1-seed-the-member-gains-an-email-it-lacks": (
        {"name": "Taro"}, {}, {}, {"email": "l@example.com"}, "email", "source", "has_value", "l@example.com",
    ),
    "R3.1-verified-member-beats-unverified-lead": (
        {"email": "m@example.com"}, {}, {}, {"email": "l@example.com"}, "email", "target", "verified", "m@example.com",
    ),
    "R3.1-a-value-beats-an-empty-field-of-the-source": (
        {"companyName": "ACME"}, {}, {}, {"name": "Mango"}, "companyName", "target", "has_value", "ACME",
    ),
    "R3.1-custom-keys-follow-the-same-rules": (
        {}, {"tier": "silver"}, {"tier": "gold"}, {}, "tier", "source", "verified", "gold",
    ),
}  # fmt: skip


@pytest.mark.parametrize(
    ("m_verified", "m_typed", "s_verified", "s_typed", "field", "winner", "rule", "value"),
    PRIORITY.values(),
    ids=PRIORITY.keys(),
)
def test_r3_1_field_priority_is_applied_and_recorded(
    api: Api,
    m_verified: dict[str, str],
    m_typed: dict[str, str],
    s_verified: dict[str, str],
    s_typed: dict[str, str],
    field: str,
    winner: str,
    rule: str,
    value: str,
) -> None:
    member = member_with(api, m_verified, m_typed)
    visitor = source_with(api, s_verified, s_typed)
    login = ok(api.login(visitor, "m-target"))
    assert login["user"]["id"] == member["id"]
    assert login["user"]["profile"][field] == value
    decisions = {d["field"]: d for d in login["unification"]["fieldDecisions"]}
    assert decisions[field] == {
        "field": field,
        "winner": winner,
        "rule": rule,
        "sourceValue": {**s_typed, **s_verified}.get(field),
        "sourceVerified": field in s_verified,
        "targetValue": {**m_typed, **m_verified}.get(field),
        "targetVerified": field in m_verified,
        "value": value,
    }
    chosen_verified = (m_verified if winner == "target" else s_verified).get(field) == value
    assert (field in login["user"]["verifiedFields"]) == chosen_verified, "a value keeps its verification"
    assert api.get_user(member["id"])["user"]["profile"][field] == value, "the decision is stored, not only shown"


def test_r3_1_every_field_of_either_side_has_a_decision(api: Api) -> None:
    member_with(api, {"name": "Taro", "companyName": "ACME"}, {})
    visitor = source_with(api, {"mobileNumber": "090-1234-5678"}, {"name": "Mango", "email": "mango@example.com"})
    unification = ok(api.login(visitor, "m-target"))["unification"]
    decisions = {d["field"]: (d["winner"], d["rule"]) for d in unification["fieldDecisions"]}
    assert decisions == {
        "name": ("target", "verified"),
        "companyName": ("target", "has_value"),
        "mobileNumber": ("source", "has_value"),
        "email": ("source", "has_value"),
    }


def test_r3_1_a_generated_display_name_never_beats_a_real_name(api: Api) -> None:
    """R1.5: the label is not a profile value."""
    member = member_with(api, {}, {})
    visitor = source_with(api, {}, {})
    user = ok(api.login(visitor, "m-target", profile={}))["user"]
    assert user["id"] == member["id"]
    assert "name" not in user["profile"]
    named = api.put_member("m-target", {"name": "Taro"})
    assert named["displayName"] == "Taro"


# R3.7 consent -------------------------------------------------------------------------------------

CONSENT = {
    "R3.7-source-unsubscribed-from-email": ({"unsubscribeEmail": True}, {}, (True, False)),
    "R3.7-source-unsubscribed-from-texting": ({"unsubscribeTexting": True}, {}, (False, True)),
    "R3.7-member-unsubscribed-stays": ({}, {"unsubscribeEmail": True, "unsubscribeTexting": True}, (True, True)),
    "R3.7-both-unsubscribed-from-different-things": (
        {"unsubscribeEmail": True},
        {"unsubscribeTexting": True},
        (True, True),
    ),
    "R3.7-nobody-unsubscribed": ({}, {}, (False, False)),
}


@pytest.mark.parametrize(("source_consent", "member_consent", "expected"), CONSENT.values(), ids=CONSENT.keys())
def test_r3_7_consent_never_weakens(
    api: Api, source_consent: dict[str, bool], member_consent: dict[str, bool], expected: tuple[bool, bool]
) -> None:
    member = api.put_member("m-taro", {"name": "Taro"}, **member_consent)
    visitor = api.visit()
    if source_consent:
        ok(api.admin("PATCH", f"/v1/users/{visitor.user_id}", source_consent))
    user = ok(api.login(visitor, "m-taro"))["user"]
    assert user["id"] == member["id"]
    assert (user["unsubscribeEmail"], user["unsubscribeTexting"]) == expected
    stored = api.get_user(member["id"])["user"]
    assert (stored["unsubscribeEmail"], stored["unsubscribeTexting"]) == expected


# R2 on login -------------------------------------------------------------------------------------


def test_r2_a_lead_unifies_into_the_member_and_is_never_unified_again(api: Api, service: Service, table: Table) -> None:
    taro = api.put_member("m-taro", {"name": "Taro"})
    api.put_member("m-hanako", {"name": "Hanako"})
    visitor = api.visit()
    api.chat(visitor)
    assert ok(api.login(visitor, "m-taro"))["user"]["id"] == taro["id"]
    switched = ok(api.login(visitor, "m-hanako"))
    assert switched["unification"] is None, "R2: member → member is never a unification"
    assert api.get_user(visitor.user_id, resolve=False)["user"]["unifiedInto"] == taro["id"], "R1.3: frozen for good"
    assert api.get_user(taro["id"])["user"]["unifiedInto"] is None
    assert table.count("UNIF#") == 1
