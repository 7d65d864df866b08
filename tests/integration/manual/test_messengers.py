"""LINE and Instagram conversations (R8.1)."""

from __future__ import annotations

import re

import pytest

from .conftest import ManualService
from .driver import ManualApi, StreamTap, jp_mobile, ok, refused

CHANNELS = ["line", "instagram"]
GENERATED_LABEL = re.compile(r"^[A-Z][a-z]+\d{3}$")


@pytest.mark.parametrize("channel", CHANNELS, ids=[f"R8.1-{c}" for c in CHANNELS])
def test_first_message_stores_a_lead_with_one_chat_and_later_messages_join_it(mapi: ManualApi, channel: str) -> None:
    first = mapi.messenger(
        channel, "ext-001", "こんにちは", {"name": "kiwi_fan", "avatarUrl": "https://img.example/k.png"}
    )
    user, chat = first["user"], first["chat"]
    assert user["type"] == "lead" and user["channel"] == channel and user["memberId"] is None
    assert user["profile"].get("name") == "kiwi_fan"
    assert "mobileNumber" not in user["profile"] and "email" not in user["profile"]
    assert user["verifiedFields"] == [], "R1.4: what a channel hands over is unverified"
    assert chat["channel"] == channel and chat["userId"] == user["id"]
    assert [m["text"] for m in chat["messages"]] == ["こんにちは"]
    assert first["message"]["personId"] == user["id"] and first["message"]["personType"] == "user"

    second = mapi.messenger(channel, "ext-001", "在庫はありますか")
    assert second["user"]["id"] == user["id"] and second["chat"]["id"] == chat["id"], "one open chat per id"
    chats = mapi.chats_of(user["id"])
    assert [c["id"] for c in chats] == [chat["id"]]
    assert [m["text"] for m in chats[0]["messages"]] == ["こんにちは", "在庫はありますか"]


def test_a_nameless_person_shows_a_generated_label(mapi: ManualApi) -> None:
    """R1.5 (seed: Kiwi987): no name from the channel, so a word and three digits, stable."""
    first = mapi.messenger("line", "ext-nameless", "hi")
    label = first["user"]["displayName"]
    assert GENERATED_LABEL.match(label), label
    assert first["message"]["personName"] == label
    assert mapi.messenger("line", "ext-nameless", "again")["user"]["displayName"] == label


def test_the_same_external_id_on_another_channel_is_another_person(mapi: ManualApi) -> None:
    on_line = mapi.messenger("line", "same-id", "from LINE")
    on_instagram = mapi.messenger("instagram", "same-id", "from Instagram")
    assert on_line["user"]["id"] != on_instagram["user"]["id"]
    assert on_line["chat"]["id"] != on_instagram["chat"]["id"]


@pytest.mark.parametrize("field", ["mobileNumber", "email"], ids=["R8.1-no-phone", "R8.1-no-email"])
@pytest.mark.parametrize("channel", CHANNELS)
def test_contact_fields_from_a_messenger_are_refused(
    mapi: ManualApi, manual_service: ManualService, channel: str, field: str
) -> None:
    value = jp_mobile()[2] if field == "mobileNumber" else "kiwi@example.com"
    body = {"externalId": "ext-contact", "text": "hi", "profile": {"name": "Kiwi", field: value}}
    with manual_service.table.unchanged():
        refused(mapi.admin("POST", f"/v1/messengers/{channel}/messages", body), 400, "invalid_request")


@pytest.mark.parametrize(
    "channel", ["whatsapp", "web", "csv", "LINE"], ids=["whatsapp", "web", "csv", "uppercase-line"]
)
def test_an_unknown_channel_is_not_found(mapi: ManualApi, manual_service: ManualService, channel: str) -> None:
    with manual_service.table.unchanged():
        reply = mapi.admin("POST", f"/v1/messengers/{channel}/messages", {"externalId": "x", "text": "hi"})
        refused(reply, 404, "not_found")


@pytest.mark.parametrize(
    "body",
    [{"text": "hi"}, {"externalId": "x"}, {"externalId": "x", "text": ""}, {"externalId": "x", "text": "hi", "x": 1}],
    ids=["no-external-id", "no-text", "empty-text", "unknown-field"],
)
def test_a_malformed_messenger_message_is_an_invalid_request(mapi: ManualApi, body: dict[str, object]) -> None:
    refused(mapi.admin("POST", "/v1/messengers/line/messages", body), 400, "invalid_request")


def test_messenger_route_needs_the_open_api_credentials(mapi: ManualApi) -> None:
    refused(mapi.call("POST", "/v1/messengers/line/messages", {"externalId": "x", "text": "hi"}), 401, "unauthorized")


@pytest.mark.parametrize("channel", CHANNELS, ids=[f"R8.1-R7.3-{c}" for c in CHANNELS])
def test_a_messenger_lead_unifies_at_once_after_a_manager_adds_contact_info(
    mapi: ManualApi, stream: StreamTap, channel: str
) -> None:
    """R8.1: only after a manager adds contact info, and then immediately (it never visited);
    afterwards the person's messages join the member's history."""
    national, _, e164 = jp_mobile()
    member = mapi.member("taro", {"name": "Taro Yamada", "mobileNumber": e164})
    first = mapi.messenger(channel, "ext-kiwi", "hello")
    lead_id, chat_id = first["user"]["id"], first["chat"]["id"]
    label = first["user"]["displayName"]
    assert mapi.unifications_of(lead_id) == [], "no contact info, so nothing to match"
    candidate = mapi.edit(lead_id, {"mobileNumber": national})["unificationCandidate"]
    assert candidate is not None and candidate["targetUserId"] == member["id"]
    approved = ok(mapi.approve(candidate["id"]))["unification"]
    assert approved["status"] in ("running", "completed"), f"R7.3: a messenger lead never visited: {approved}"
    stream.drain()
    assert mapi.unification(candidate["id"])["status"] == "completed"

    later = mapi.messenger(channel, "ext-kiwi", "after the unification")
    assert later["chat"]["id"] == chat_id
    chats = mapi.chats_of(member["id"])
    assert [c["id"] for c in chats] == [chat_id]
    messages = chats[0]["messages"]
    assert [m["text"] for m in messages] == ["hello", "after the unification"]
    assert messages[0]["personId"] == lead_id and messages[0]["personName"] == label, "R3.4: authors keep names"
    assert mapi.user(lead_id)["user"]["id"] == member["id"]


@pytest.mark.parametrize("channel", CHANNELS, ids=[f"R8.1-{c}" for c in CHANNELS])
def test_a_messenger_lead_is_proposed_only_once_a_manager_added_contact_info(
    mapi: ManualApi, manual_service: ManualService, channel: str
) -> None:
    """Issue 10, item 9: a direct proposal plus approval unified a LINE lead without contact info."""
    member = mapi.member("m-msg", {"name": "Member", "mobileNumber": jp_mobile()[2]})
    lead = mapi.messenger(channel, "ext-bare", "hello")["user"]
    with manual_service.table.unchanged():
        error = refused(mapi.propose(lead["id"], member["id"]), 409, "unification_not_allowed")
    assert "R8.1" in error["message"] and "contact" in error["message"]
    mapi.edit(lead["id"], {"email": "lead@example.com"})
    proposal = ok(mapi.propose(lead["id"], member["id"]), 201)["unification"]
    approved = ok(mapi.approve(proposal["id"]))["unification"]
    assert approved["status"] in ("running", "completed"), "then immediately (R7.3)"
