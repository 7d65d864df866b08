"""The Open API (API.md, R9): members by memberId, leads by profile, reads, searches,
manager edits, history lists with cursors, events, deliveries and manager replies."""

from __future__ import annotations

import pytest

from .support import Api, Table, ok, quote, refused

ISO_MS = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"


# members (R9.1) ---------------------------------------------------------------------


def test_r9_1_put_member_creates_then_updates_with_verified_values(api: Api) -> None:
    created = api.admin("PUT", "/v1/members/m-taro", {"profile": {"name": "Taro Yamada", "email": "Taro@Example.com"}})
    user = ok(created, 201)["user"]
    assert (user["type"], user["memberId"], user["channel"]) == ("member", "m-taro", "api")
    assert user["profile"] == {"name": "Taro Yamada", "email": "taro@example.com"}, "R1.4: emails lowercased"
    assert user["verifiedFields"] == ["email", "name"], "R1.4: Open API values are verified"
    assert user["unifiedInto"] is None and user["pendingUnifications"] == []

    updated = ok(api.admin("PUT", "/v1/members/m-taro", {"profile": {"companyName": "ACME", "email": None}}), 200)
    assert updated["user"]["id"] == user["id"], "an upsert by memberId updates the same member"
    assert updated["user"]["profile"] == {"name": "Taro Yamada", "companyName": "ACME"}, "null clears a field"

    read = ok(api.admin("GET", "/v1/members/m-taro"))["user"]
    assert read == updated["user"]


def test_r9_1_put_member_sets_consent_beside_the_profile(api: Api) -> None:
    user = api.put_member("m-taro", {"name": "Taro"}, unsubscribeEmail=True)
    assert (user["unsubscribeEmail"], user["unsubscribeTexting"]) == (True, False)
    again = api.put_member("m-taro", {}, unsubscribeTexting=True)
    assert (again["unsubscribeEmail"], again["unsubscribeTexting"]) == (True, True), "an absent flag is unchanged"


def test_r1_2_put_member_never_converts_a_lead(api: Api) -> None:
    lead = api.create_lead({"name": "Lead", "email": "lead@example.com"})["user"]
    member = api.put_member("m-lead", {"email": "lead@example.com"})
    assert member["id"] != lead["id"]
    assert api.get_user(lead["id"])["user"]["type"] == "lead"


def test_a_url_encoded_member_id_is_the_same_member_as_in_a_login(api: Api) -> None:
    """A memberId is the site's own account id, often an email; in a path it travels
    URL-encoded (as API Gateway REST and Chalice hand it over) and must be decoded."""
    member_id = "taro+1@example.com"
    user = api.put_member(member_id, {"name": "Taro"})
    assert user["memberId"] == member_id
    assert ok(api.admin("GET", f"/v1/members/{quote(member_id)}"))["user"]["id"] == user["id"]
    assert api.visit(member_id=member_id).user_id == user["id"], "the SDK's login finds the member PUT created"


# leads (R9.2) -------------------------------------------------------------------------


def test_r9_2_post_users_always_creates_a_lead_with_verified_values(api: Api) -> None:
    body = api.create_lead({"name": "Kiwi", "mobileNumber": "090-1234-5678", "tier": "gold"})
    user = body["user"]
    assert (user["type"], user["memberId"], user["channel"]) == ("lead", None, "api")
    assert user["profile"]["mobileNumber"] == "+819012345678", "R1.4: E.164 with the default region JP"
    assert user["verifiedFields"] == ["mobileNumber", "name", "tier"]
    assert "unificationCandidate" in body
    assert user["createdAt"] == user["updatedAt"]
    assert user["displayName"] == "Kiwi", "R1.5: a real name is the display name"


def test_get_user_reads_the_user_and_says_it_was_not_resolved(api: Api) -> None:
    lead = api.create_lead({"name": "Kiwi"})["user"]
    body = api.get_user(lead["id"])
    assert body == {"user": lead, "resolvedFrom": None}
    assert api.get_user(lead["id"], resolve=False) == {"user": lead, "resolvedFrom": None}


def test_user_shape_follows_the_contract(api: Api) -> None:
    user = api.create_lead({"name": "Kiwi"})["user"]
    for key in (
        "id",
        "type",
        "memberId",
        "displayName",
        "veilIds",
        "channel",
        "profile",
        "verifiedFields",
        "unsubscribeEmail",
        "unsubscribeTexting",
        "unifiedInto",
        "unifiedAt",
        "pendingUnifications",
        "createdAt",
        "updatedAt",
        "lastSeenAt",
    ):
        assert key in user, f"User lacks {key}"
    assert user["createdAt"].endswith("Z") and len(user["createdAt"]) == len("2026-11-28T17:00:00.000Z")


# search (R9.3) ----------------------------------------------------------------------------

SEARCHES = {
    "phone-national-form": "mobileNumber=090-1234-5678",
    "phone-e164": "mobileNumber=%2B819012345678",
    "phone-spaced-international": "mobileNumber=%2B81%2090%201234%205678",
    "email-mixed-case": "email=%20Kiwi%40Example.COM%20",
    "member-id": "memberId=m-kiwi",
}


@pytest.mark.parametrize("query", SEARCHES.values(), ids=SEARCHES.keys())
def test_r9_3_search_matches_normalized_values(api: Api, query: str) -> None:
    api.create_lead({"name": "Other", "mobileNumber": "090-9999-0000", "email": "other@example.com"})
    kiwi = api.put_member("m-kiwi", {"name": "Kiwi", "mobileNumber": "+81 90 1234 5678", "email": "kiwi@example.com"})
    found = ok(api.admin("GET", f"/v1/users?{query}"))["users"]
    assert [u["id"] for u in found] == [kiwi["id"]]


def test_r9_3_search_finds_nothing_for_an_unknown_value(api: Api) -> None:
    api.create_lead({"email": "kiwi@example.com"})
    for query in ("email=nobody%40example.com", "memberId=m-nobody", "mobileNumber=080-1111-2222"):
        assert ok(api.admin("GET", f"/v1/users?{query}")) == {"users": []}, query


def test_r9_3_search_respects_limit(api: Api) -> None:
    for n in range(3):
        api.create_lead({"name": f"Lead {n}", "email": "shared@example.com"})
    assert len(ok(api.admin("GET", "/v1/users?email=shared%40example.com"))["users"]) == 3
    assert len(ok(api.admin("GET", "/v1/users?email=shared%40example.com&limit=2"))["users"]) == 2


def test_r9_3_search_skips_unified_users(api: Api) -> None:
    member = api.put_member("m-taro", {"name": "Taro"})
    visitor = api.visit(profile={"email": "mango@example.com"})
    found = ok(api.admin("GET", "/v1/users?email=mango%40example.com"))["users"]
    assert [u["id"] for u in found] == [visitor.user_id], "before the login the visitor is found"
    ok(api.login(visitor, "m-taro"))
    found = ok(api.admin("GET", "/v1/users?email=mango%40example.com"))["users"]
    assert [u["id"] for u in found] == [member["id"]], "after it only the member, who gained the email (R3.1)"


# manager edits (R7.1, R1.6) ------------------------------------------------------------


def test_r7_1_patch_sets_verified_values_and_an_anonymous_user_becomes_a_lead(api: Api) -> None:
    visitor = api.visit(profile={"name": "Mango"})
    assert visitor.user["type"] == "anonymous"
    body = ok(api.admin("PATCH", f"/v1/users/{visitor.user_id}", {"profile": {"mobileNumber": "090-1234-5678"}}))
    user = body["user"]
    assert user["id"] == visitor.user_id
    assert user["type"] == "lead", "R1.2: contact info makes a lead"
    assert user["profile"] == {"name": "Mango", "mobileNumber": "+819012345678"}
    assert user["verifiedFields"] == ["mobileNumber"], "R7.1: manager values are verified, typed ones stay not"
    assert "unificationCandidate" in body
    assert api.get_user(visitor.user_id)["user"] == user


def test_r7_1_patch_verifies_a_typed_value_and_null_clears(api: Api) -> None:
    visitor = api.visit(profile={"email": "Mango@Example.com", "companyName": "Fruit"})
    assert visitor.user["verifiedFields"] == []
    user = ok(
        api.admin(
            "PATCH", f"/v1/users/{visitor.user_id}", {"profile": {"email": "mango@example.com", "companyName": None}}
        )
    )["user"]
    assert user["profile"] == {"email": "mango@example.com"}
    assert user["verifiedFields"] == ["email"]


def test_r1_6_a_typed_value_never_replaces_a_verified_one(api: Api) -> None:
    """R1.6: the member's verified email survives the member typing another one at login."""
    api.put_member("m-taro", {"email": "taro@example.com"})
    visitor = api.visit()
    user = ok(api.login(visitor, "m-taro", profile={"email": "typo@example.com", "name": "Taro"}))["user"]
    assert user["profile"]["email"] == "taro@example.com"
    assert user["profile"]["name"] == "Taro", "an empty field does take the typed value"
    assert user["verifiedFields"] == ["email"]


def test_patch_keeps_members_members(api: Api) -> None:
    member = api.put_member("m-taro", {"name": "Taro"})
    user = ok(api.admin("PATCH", f"/v1/users/{member['id']}", {"profile": {"name": "Taro Yamada"}}))["user"]
    assert (user["type"], user["memberId"], user["profile"]["name"]) == ("member", "m-taro", "Taro Yamada")


# history lists, cursor pagination -----------------------------------------------------


def test_events_are_written_listed_oldest_first_and_paged(api: Api) -> None:
    lead = api.create_lead({"name": "Kiwi"})["user"]
    written = []
    for n in range(5):
        reply = api.admin("POST", f"/v1/users/{lead['id']}/events", {"name": f"View {n}", "properties": {"n": n}})
        event = ok(reply, 201)["event"]
        assert (event["userId"], event["properties"]) == (lead["id"], {"n": n})
        written.append(event)
    assert [e["id"] for e in api.walk(f"/v1/users/{lead['id']}/events", "events", limit=1)] == [
        e["id"] for e in written
    ]
    assert api.walk(f"/v1/users/{lead['id']}/events", "events", limit=2) == written
    first = ok(api.admin("GET", f"/v1/users/{lead['id']}/events?limit=5"))
    assert first == {"events": written, "nextCursor": None}, "a page that ends the list has no cursor"


def test_event_properties_round_trip_exactly(api: Api) -> None:
    lead = api.create_lead({"name": "Kiwi"})["user"]
    properties = {"price": 1980, "ratio": 0.5, "tags": ["a", "b"], "nested": {"ok": True, "none": None}, "jp": "日本"}
    ok(api.admin("POST", f"/v1/users/{lead['id']}/events", {"name": "Buy", "properties": properties}), 201)
    assert api.events_of(lead["id"])[0]["properties"] == properties


def test_chats_list_with_messages_and_pages(api: Api) -> None:
    visitor = api.visit()
    chats = [api.chat(visitor, f"question {n}")["chat"] for n in range(3)]
    api.say(visitor, chats[0]["id"], "follow-up")
    walked = api.walk(f"/v1/users/{visitor.user_id}/chats", "chats", limit=1)
    assert [c["id"] for c in walked] == [c["id"] for c in chats]
    assert [m["text"] for m in walked[0]["messages"]] == ["question 0", "follow-up"]
    assert all(c["userId"] == visitor.user_id and c["channel"] == "web" for c in walked)
    session_walk = []
    cursor = None
    while True:
        query = "?limit=1" + (f"&cursor={quote(cursor)}" if cursor else "")
        page = ok(api.session(visitor.token, "GET", f"/v1/session/chats{query}"))
        session_walk += page["chats"]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert [c["id"] for c in session_walk] == [c["id"] for c in chats]


def test_deliveries_are_recorded_once_and_paged(api: Api, table: Table) -> None:
    lead = api.create_lead({"name": "Kiwi"})["user"]
    for campaign in ("spring", "summer", "autumn"):
        delivery = ok(api.admin("POST", f"/v1/users/{lead['id']}/marketing-deliveries", {"campaignId": campaign}), 201)
        assert delivery["delivery"]["campaignId"] == campaign and delivery["delivery"]["userId"] == lead["id"]
    walked = api.walk(f"/v1/users/{lead['id']}/marketing-deliveries", "deliveries", limit=1)
    assert sorted(d["campaignId"] for d in walked) == ["autumn", "spring", "summer"]
    with table.unchanged():
        refused(
            api.admin("POST", f"/v1/users/{lead['id']}/marketing-deliveries", {"campaignId": "summer"}),
            409,
            "already_delivered",
        )
    other = api.create_lead({"name": "Other"})["user"]
    ok(api.admin("POST", f"/v1/users/{other['id']}/marketing-deliveries", {"campaignId": "summer"}), 201)


def test_empty_lists_have_no_cursor(api: Api) -> None:
    lead = api.create_lead({"name": "Kiwi"})["user"]
    assert ok(api.admin("GET", f"/v1/users/{lead['id']}/chats")) == {"chats": [], "nextCursor": None}
    assert ok(api.admin("GET", f"/v1/users/{lead['id']}/events")) == {"events": [], "nextCursor": None}
    empty = {"deliveries": [], "nextCursor": None}
    assert ok(api.admin("GET", f"/v1/users/{lead['id']}/marketing-deliveries")) == empty


# manager replies -------------------------------------------------------------------------


def test_a_manager_reply_joins_the_chat_under_the_managers_name(api: Api) -> None:
    visitor = api.visit()
    chat = api.chat(visitor, "Is this in stock?")["chat"]
    reply = ok(api.admin("POST", f"/v1/chats/{chat['id']}/messages", {"text": "Yes!", "managerName": "Sato"}), 201)
    message = reply["message"]
    assert (message["personType"], message["personName"], message["chatId"]) == ("manager", "Sato", chat["id"])
    messages = ok(api.session(visitor.token, "GET", "/v1/session/chats"))["chats"][0]["messages"]
    assert [(m["personType"], m["text"]) for m in messages] == [("user", "Is this in stock?"), ("manager", "Yes!")]
    assert messages[0]["personName"] == visitor.user["displayName"]


def test_message_shape_follows_the_contract(api: Api) -> None:
    visitor = api.visit()
    started = api.chat(visitor, "hi")
    message = started["message"]
    assert set(message) >= {"id", "chatId", "personType", "personId", "personName", "text", "createdAt"}
    assert (message["personType"], message["personId"]) == ("user", visitor.user_id)
    assert started["chat"]["messages"] == [message]
    assert set(started["chat"]) >= {"id", "userId", "channel", "createdAt", "messages"}
