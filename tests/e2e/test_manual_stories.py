"""The guide's manual-unification examples (手動ユニフィケーション), end to end over HTTP on the
local stack started as `make run` starts it: its own stream consumer and scheduler do the
background work; nobody calls a handler by hand.

1. Lead A and Member B (ユニフィケーションに遅れが生じる場合): deferred until B's next login.
2. Lead C from a CSV and Member D (すぐにユニフィケーションされる場合): immediate; D gains C's email.
3. Kiwi987 from LINE and Taro Yamada (外部メッセンジャー): only a real contact edit unifies them.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from .manual_support import (
    SCHEDULE_INTERVAL_SECONDS,
    Stack,
    jp_mobile,
    start_stack,
    stop_stack,
    uniq,
    wait_for,
)

pytestmark = pytest.mark.e2e

GENERATED_LABEL = re.compile(r"^[A-Z][a-z]+\d{3}$")
COMPLETION_TIMEOUT = 30


@pytest.fixture(scope="module")
def manual_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = start_stack(tmp_path_factory.mktemp("manual-stack") / "stack.log")
    try:
        yield stack
    finally:
        stop_stack(stack)


def decisions(unification: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {d["field"]: (d["winner"], d["rule"]) for d in unification["fieldDecisions"]}


def messages_by_text(chat: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["text"]: m for m in chat["messages"]}


def test_example_1_lead_a_is_unified_into_member_b_at_bs_next_login(
    manual_stack: Stack, capsys: pytest.CaptureFixture[str], record_property: Any
) -> None:
    api = manual_stack.api
    national, e164 = jp_mobile("90")
    member_b_id = uniq("member-b-")
    member_b = api.put_member(member_b_id, {"name": "Member B", "mobileNumber": e164})
    api.boot(member_id=member_b_id)  # Member B logged in some day before: that login will not count

    # Lead A chats on the site.
    booted = api.boot(profile={"name": "Lead A"})
    token_a, lead_a = booted["sessionToken"], booted["user"]["id"]
    chat = api.expect(api.session(token_a, "POST", "/v1/session/chats", {"text": "在庫はありますか？"}), 201, "chat")
    chat_id = chat["chat"]["id"]
    assert api.user(lead_a)["user"]["type"] == "lead"

    # 1-2. A manager edits A's phone, typed in another format; it is Member B's number.
    edited = api.edit(lead_a, {"mobileNumber": national})
    assert edited["user"]["profile"]["mobileNumber"] == e164 and "mobileNumber" in edited["user"]["verifiedFields"]
    candidate = edited["unificationCandidate"]
    assert candidate is not None, "the edit matches Member B: the manager is asked to confirm"
    assert candidate["status"] == "pending_approval" and candidate["trigger"] == "manager_edit"
    assert candidate["sourceUserId"] == lead_a and candidate["targetUserId"] == member_b["id"]
    assert candidate["targetMemberId"] == member_b_id and candidate["matchedOn"] == ["mobileNumber"]
    assert decisions(candidate) == {"name": ("target", "verified"), "mobileNumber": ("target", "member")}
    unification_id = candidate["id"]
    api.boot(member_id=member_b_id)  # B logs in again while the candidate waits: still before the approval

    # 3-4. The manager confirms; A has visited the site, so the unification waits.
    approved = api.approve(unification_id)
    assert approved["status"] == "deferred" and approved["approvedAt"] is not None
    for user_id in (lead_a, member_b["id"]):
        assert api.user(user_id)["user"]["pendingUnifications"] == [unification_id], "R7.5: listed on both"

    # A goes on chatting; nothing changes under her.
    api.expect(
        api.session(token_a, "POST", f"/v1/session/chats/{chat_id}/messages", {"text": "明日取りに行けますか？"}),
        201,
        "A writes again",
    )
    time.sleep(3 * SCHEDULE_INTERVAL_SECONDS)  # several scheduler runs and the stream consumer had their chance
    assert api.unification(unification_id)["status"] == "deferred", "no login after the approval yet"
    read_a = api.user(lead_a)
    assert read_a["user"]["id"] == lead_a and read_a["resolvedFrom"] is None, "both profiles stay separate"
    assert [c["id"] for c in api.chats_of(lead_a)] == [chat_id]
    assert api.chats_of(member_b["id"]) == []
    session_a = api.expect(api.session(token_a, "GET", "/v1/session"), 200, "A's session")
    assert session_a["user"]["id"] == lead_a

    # 5. The next day Member B logs in: the unification runs, without anyone calling a handler.
    started = time.monotonic()
    api.boot(member_id=member_b_id)
    answered = time.monotonic()
    done = wait_for(
        lambda: (u := api.unification(unification_id))["status"] == "completed" and u,
        COMPLETION_TIMEOUT,
        "the deferred unification to complete after Member B's login",
    )
    finished = time.monotonic()
    latency, after_answer = finished - started, finished - answered
    record_property("login_to_completed_seconds", round(latency, 3))
    with capsys.disabled():
        print(
            f"\n[manual e2e] Member B's login -> unification completed: {latency:.2f}s "
            f"({after_answer:.2f}s after the login answered)"
        )

    assert done["completedAt"] is not None and done["approvedAt"] == approved["approvedAt"]
    assert done["progress"]["chats"] == {"moved": 1, "total": 1}
    resolved = api.user(lead_a)
    assert resolved["user"]["id"] == member_b["id"] and resolved["resolvedFrom"] == lead_a, "A resolves to B"
    frozen = api.user(lead_a, resolve=False)["user"]
    assert frozen["unifiedInto"] == member_b["id"] and frozen["type"] == "lead"
    member = api.user(member_b["id"])["user"]
    assert member["pendingUnifications"] == [] and member["profile"]["name"] == "Member B"
    chats = api.chats_of(member_b["id"])
    assert [c["id"] for c in chats] == [chat_id], "A's chat is now under B"
    by_text = messages_by_text(chats[0])
    assert set(by_text) == {"在庫はありますか？", "明日取りに行けますか？"}
    assert all(m["personId"] == lead_a and m["personName"] == "Lead A" for m in by_text.values()), by_text
    # R4.4: A's session, still live, continues as Member B.
    assert api.expect(api.session(token_a, "GET", "/v1/session"), 200, "A's session")["user"]["id"] == member_b["id"]


def test_example_2_lead_c_from_a_csv_is_unified_into_member_d_at_once(manual_stack: Stack) -> None:
    api = manual_stack.api
    national, e164 = jp_mobile("80")
    member_d_id = uniq("member-d-")
    member_d = api.put_member(member_d_id, {"name": "山田 次郎", "mobileNumber": e164})
    assert "email" not in member_d["profile"]
    email = f"{uniq('lead-c-')}@example.jp"

    # 1-2. A CSV without memberIds (as a Japanese spreadsheet writes it) creates leads; Lead C
    # has Member D's phone and an email D lacks.
    rows = ["memberId,name,mobileNumber,email", f",リード C,{national},{email}"]
    result = api.import_csv(("\r\n".join(rows) + "\r\n").encode("cp932"))
    assert (result["rows"], result["members"], result["leads"], result["errors"]) == (1, 0, 1, [])
    assert len(result["candidates"]) == 1
    candidate = result["candidates"][0]
    lead_c = candidate["sourceUserId"]
    assert candidate["status"] == "pending_approval" and candidate["trigger"] == "csv_import"
    assert candidate["targetUserId"] == member_d["id"] and candidate["matchedOn"] == ["mobileNumber"]
    assert decisions(candidate) == {
        "email": ("source", "has_value"),
        "mobileNumber": ("target", "member"),
        "name": ("target", "member"),
    }
    lead = api.user(lead_c)["user"]
    assert lead["type"] == "lead" and lead["channel"] == "csv" and lead["profile"]["name"] == "リード C"
    assert set(lead["verifiedFields"]) == {"name", "mobileNumber", "email"}

    # 3-4. The manager confirms: C never visited, so it is unified at once and D gains the email.
    approved = api.approve(candidate["id"])
    assert approved["status"] in ("running", "completed"), f"immediate, never deferred: {approved}"
    member = api.user(member_d["id"])["user"]
    assert member["profile"] == {"name": "山田 次郎", "mobileNumber": e164, "email": email}, "D gains C's email"
    assert "email" in member["verifiedFields"]
    wait_for(lambda: api.unification(candidate["id"])["status"] == "completed", COMPLETION_TIMEOUT, "completion")
    resolved = api.user(lead_c)
    assert resolved["user"]["id"] == member_d["id"] and resolved["resolvedFrom"] == lead_c
    assert member["pendingUnifications"] == []


def test_example_3_kiwi987_from_line_is_unified_only_after_a_real_contact_edit(manual_stack: Stack) -> None:
    api = manual_stack.api
    line_id = uniq("U")
    national, e164 = jp_mobile("80")

    # 1. Kiwi987 writes on LINE: a lead with one chat, no contact info, a generated name.
    first = api.messenger("line", line_id, "こんにちは、質問があります")
    kiwi, chat = first["user"], first["chat"]
    kiwi_id, chat_id, label = kiwi["id"], chat["id"], kiwi["displayName"]
    assert kiwi["type"] == "lead" and kiwi["channel"] == "line" and GENERATED_LABEL.match(label), kiwi
    assert "mobileNumber" not in kiwi["profile"] and "email" not in kiwi["profile"]
    assert chat["channel"] == "line" and [m["text"] for m in chat["messages"]] == ["こんにちは、質問があります"]
    second = api.messenger("line", line_id, "会員登録はしていません")
    assert second["chat"]["id"] == chat_id and second["user"]["id"] == kiwi_id, "one open chat per LINE id"
    reply = api.admin(
        "POST", f"/v1/chats/{chat_id}/messages", {"text": "お電話番号を教えてください", "managerName": "Sato"}
    )
    api.expect(reply, 201, "manager reply")

    # 2. The manager adds Kiwi987's phone: a lead with verified contact info, no member to match yet.
    edited = api.edit(kiwi_id, {"mobileNumber": national})
    assert edited["unificationCandidate"] is None
    assert edited["user"]["profile"]["mobileNumber"] == e164 and "mobileNumber" in edited["user"]["verifiedFields"]

    # 3. Later the same customer registers on the site as Taro Yamada, with the same number.
    taro_member_id = uniq("taro-")
    taro = api.boot(member_id=taro_member_id, profile={"name": "Taro Yamada", "mobileNumber": national})["user"]
    assert taro["type"] == "member" and taro["profile"]["mobileNumber"] == e164
    time.sleep(2 * SCHEDULE_INTERVAL_SECONDS)
    assert api.unifications_of(kiwi_id) == [] and api.unifications_of(taro["id"]) == [], "both stay as they are"

    # 4. Kiwi987 writes on LINE again: still nothing.
    again = api.messenger("line", line_id, "まだ届いていません")
    assert again["chat"]["id"] == chat_id and again["user"]["id"] == kiwi_id
    time.sleep(SCHEDULE_INTERVAL_SECONDS)
    assert api.unifications_of(kiwi_id) == []
    assert api.user(kiwi_id)["user"]["pendingUnifications"] == []

    # 5a. Clicking into the field and pressing Enter (the same number, another format) is no change.
    spaced = f"+81 {e164[3:5]} {e164[5:9]} {e164[9:]}"
    same = api.edit(kiwi_id, {"mobileNumber": spaced})
    assert same["unificationCandidate"] is None and same["user"]["profile"]["mobileNumber"] == e164
    assert api.unifications_of(kiwi_id) == []

    # 5b-6. A real change (the manager adds the email the customer gave): Kiwi987 matches Taro Yamada.
    changed = api.edit(kiwi_id, {"email": f"{uniq('kiwi-')}@example.jp"})
    candidate = changed["unificationCandidate"]
    assert candidate is not None, "a real contact change checks all of Kiwi987's verified values"
    assert candidate["targetUserId"] == taro["id"] and candidate["matchedOn"] == ["mobileNumber"]
    assert candidate["status"] == "pending_approval"
    approved = api.approve(candidate["id"])
    assert approved["status"] in ("running", "completed"), f"Kiwi987 never visited the site: immediate: {approved}"
    wait_for(lambda: api.unification(candidate["id"])["status"] == "completed", COMPLETION_TIMEOUT, "completion")

    resolved = api.user(kiwi_id)
    assert resolved["user"]["id"] == taro["id"] and resolved["resolvedFrom"] == kiwi_id
    chats = api.chats_of(taro["id"])
    assert [c["id"] for c in chats] == [chat_id], "Kiwi987's LINE chat is under Taro Yamada"
    kiwi_messages = [m for m in chats[0]["messages"] if m["personType"] == "user"]
    assert [m["text"] for m in kiwi_messages] == [
        "こんにちは、質問があります",
        "会員登録はしていません",
        "まだ届いていません",
    ]
    assert {(m["personId"], m["personName"]) for m in kiwi_messages} == {(kiwi_id, label)}, "R3.4"

    # A later LINE message joins Taro Yamada's history, in the same chat.
    later = api.messenger("line", line_id, "ありがとうございました")
    assert later["chat"]["id"] == chat_id
    chats = api.chats_of(taro["id"])
    assert [c["id"] for c in chats] == [chat_id]
    assert chats[0]["messages"][-1]["text"] == "ありがとうございました"
    assert len(chats[0]["messages"]) == 5
