# ruff: noqa: F811  (pytest fixtures imported from the support module are parameters here)
"""The guide's three manual-unification examples (手動ユニフィケーション), done by a manager clicking
through the console in headless Chromium; the customers act through the customer API and the
Open API, and the local stack's own stream consumer and scheduler do the background work.

1. Lead A and Member B (ユニフィケーションに遅れが生じる場合): approved, then deferred until B logs in.
2. Lead C from a CSV and Member D (すぐにユニフィケーションされる場合): unified at once; D gains C's email.
3. Kiwi987 from LINE and Taro Yamada (外部メッセンジャー): unified only after a real contact edit.

Each step leaves a screenshot under tests/browser/screenshots/.
"""

from __future__ import annotations

import re

from playwright.sync_api import expect

from .console_support import (  # noqa: F401  (fixtures)
    WAIT_MS,
    ConsoleTab,
    Service,
    console,
    jp_mobile,
    service,
    uniq,
    wait_for,
)


def cells(row: object) -> list[str]:
    return [c.strip() for c in row.locator("th, td").all_inner_texts()]  # type: ignore[attr-defined]


def test_example_1_deferred_web_lead_unifies_at_the_members_next_login(console: ConsoleTab, service: Service) -> None:
    page = console.page
    national, e164 = jp_mobile("90")
    member_b_id = uniq("member-b-")
    member_b = service.put_member(member_b_id, {"name": "メンバーB", "mobileNumber": e164})
    service.boot(member_id=member_b_id)  # a login before the approval: it does not count (R7.4)

    # Lead A chats on the site (the customer API, as the web SDK calls it).
    visitor = service.visitor(profile={"name": "リードA"})
    lead_a = visitor.user_id
    chat = visitor.call("POST", "/v1/session/chats", {"text": "在庫はありますか？"})["chat"]

    console.sign_in()
    console.shot("signed-in")
    console.search(lead_a)
    console.shot("search-by-user-id")
    page.locator("table.results").get_by_role("link", name="リードA").click()
    console.wait_customer("リードA")
    history = page.locator(".history-section")
    expect(history.locator(f"[data-chat='{chat['id']}'] .message .text")).to_have_text(["在庫はありますか？"])
    expect(page.locator(".customer-head .badge")).to_have_text("Lead")
    console.shot("lead-a-chatting")

    # 1-2. The manager edits A's phone, typed as a national number; it is Member B's.
    console.edit_contact(mobileNumber=national)
    prompt = console.prompt()
    expect(prompt.locator("#prompt-title")).to_have_text("This contact info matches the member メンバーB")
    phone = console.decision_row(prompt, "mobileNumber")
    assert cells(phone) == [
        "Mobile number",
        f"{e164} ✓ verified",
        f"{e164} ✓ verified",
        e164,
        "the member's value beats the lead's",
    ]
    assert cells(console.decision_row(prompt, "name")) == [
        "Name",
        "リードA unverified",
        "メンバーB ✓ verified",
        "メンバーB",
        "verified beats unverified",
    ]
    expect(prompt.locator(".moves")).to_have_text("What moves to the member: 1 chat, 0 events, 0 deliveries")
    expect(prompt.locator(".when")).to_contain_text("Approval waits for the member's next login.")
    expect(prompt.locator(".warning")).to_contain_text("A unification cannot be undone.")
    expect(prompt.locator(".warning [lang=ja]")).to_contain_text("元に戻すことができません")
    console.shot("prompt-before-approval")

    # 3-4. The manager confirms; A has visited the site, so it waits for B's login.
    prompt.get_by_role("button", name="Approve").click()
    expect(prompt.locator(".review .badge")).to_have_text("Approved, waiting for the member's login")
    expect(prompt.locator(".when")).to_contain_text("Waiting for the member's login.")
    console.shot("approved-waiting-for-login")
    prompt.get_by_role("button", name="Close").click()
    expect(prompt).to_be_hidden()
    candidate = service.unifications_of(lead_a)[0]
    assert candidate["status"] == "deferred" and candidate["waitingFor"] == "member_login"

    # The work queue lists it, waiting for the member's next login.
    console.nav("Work queue")
    row = page.locator(f"table.queue tr[data-unification='{candidate['id']}']")
    expect(row).to_contain_text("the member's next login")
    expect(row).to_contain_text("リードA")
    expect(row).to_contain_text("メンバーB")
    console.shot("queue-deferred")
    row.get_by_role("link", name="Open").click()
    expect(console.heading()).to_have_text("Unification")
    review = page.locator("#screen .review")
    expect(review.locator(".badge")).to_have_text("Approved, waiting for the member's login")

    # A goes on chatting, nothing changes under her; then Member B logs in (R7.4).
    visitor.call("POST", f"/v1/session/chats/{chat['id']}/messages", {"text": "明日取りに行けますか？"})
    service.boot(member_id=member_b_id)
    expect(review.locator(".badge")).to_have_text("Completed", timeout=WAIT_MS)
    expect(review.locator(".moves")).to_have_text("What moved to the member: 1 chat, 0 events, 0 deliveries")
    console.shot("completed-after-login")

    # The history is under the member, each message under its author's name (R3.4).
    review.get_by_role("link", name="メンバーB").click()
    console.wait_customer("メンバーB")
    expect(page.locator(".customer-head .badge")).to_have_text("Member")
    messages = page.locator(f"[data-chat='{chat['id']}'] .message")
    expect(messages.locator(".text")).to_have_text(["在庫はありますか？", "明日取りに行けますか？"])
    expect(messages.locator(".author a")).to_have_text(["リードA", "リードA"])
    expect(page.locator(".pending")).to_contain_text("None.")
    console.shot("history-under-member")

    # Clicking A's name opens A, which resolves to the member (R3.5), saying so.
    messages.first.locator(".author a").click()
    expect(page.locator(".notice.resolved")).to_contain_text("has been unified into this member, メンバーB")
    assert console.customer_id() == member_b["id"]
    console.shot("author-opens-member")
    page.locator(".notice.resolved").get_by_role("link", name="See its frozen record").click()
    expect(page.locator(".notice.unified")).to_contain_text("This user has been unified into a member")
    expect(page.locator("form.edit")).to_have_count(0)
    console.shot("frozen-record")


def test_example_2_csv_lead_unifies_at_once_and_gives_the_member_its_email(
    console: ConsoleTab, service: Service
) -> None:
    page = console.page
    national, e164 = jp_mobile("80")
    member_d_id = uniq("member-d-")
    member_d = service.put_member(member_d_id, {"name": "山田 次郎", "mobileNumber": e164})
    email = f"{uniq('lead-c-')}@example.jp"
    # As a Japanese spreadsheet writes it: Shift_JIS, CRLF; line 3 has a bad phone number.
    rows = ["memberId,name,mobileNumber,email", f",リード C,{national},{email}", ",リード E,12,"]
    csv = ("\r\n".join(rows) + "\r\n").encode("cp932")

    console.sign_in()
    console.nav("Import CSV")
    expect(console.heading()).to_have_text("Import customers from CSV")
    page.get_by_label("CSV file (UTF-8 or Shift_JIS)").set_input_files(
        {"name": "customers.csv", "mimeType": "text/csv", "buffer": csv}
    )
    console.shot("import-chosen")
    page.get_by_role("button", name="Import").click()
    summary = page.locator(".import-result .summary")
    expect(summary).to_have_text("2 rows read: 0 members, 1 lead, 1 candidate, 1 error.")
    errors = page.locator("table.row-errors tbody tr")
    expect(errors).to_have_count(1)
    expect(errors.locator("td").first).to_have_text("3")
    card = page.locator(".import-result .review")
    expect(card).to_have_count(1)
    assert cells(console.decision_row(card, "email")) == [
        "Email",
        f"{email} ✓ verified",
        "(empty)",
        email,
        "a value beats an empty field",
    ]
    assert cells(console.decision_row(card, "name"))[1:] == [
        "リード C ✓ verified",
        "山田 次郎 ✓ verified",
        "山田 次郎",
        "the member's value beats the lead's",
    ]
    expect(card.locator(".when")).to_contain_text("Approval unifies them at once.")
    expect(card.locator(".warning")).to_contain_text("A unification cannot be undone.")
    console.shot("import-candidate")

    # 3-4. Approve: C never visited, so it runs at once and D gains the email.
    card.get_by_role("button", name="Approve").click()
    expect(card.locator(".badge")).to_have_text(re.compile("^(Running|Completed)$"))
    console.shot("approved-at-once")
    lead_c = card.locator(".parties a").first.get_attribute("href")
    assert lead_c and lead_c.startswith("#/user/")
    unification_id = card.get_attribute("data-unification")
    wait_for(lambda: service.unification(str(unification_id))["status"] == "completed", "completion")

    card.get_by_role("link", name="山田 次郎").click()
    console.wait_customer("山田 次郎")
    assert console.customer_id() == member_d["id"]
    expect(page.locator(".profile dd[data-field='email']")).to_have_text(f"{email} ✓ verified")
    expect(page.locator(".profile dd[data-field='mobileNumber']")).to_have_text(f"{e164} ✓ verified")
    console.shot("member-gained-email")


def test_example_3_line_lead_unifies_after_a_manager_adds_its_phone_number(
    console: ConsoleTab, service: Service
) -> None:
    page = console.page
    line_id = uniq("U")
    national, e164 = jp_mobile("70")

    # 1. Kiwi987 writes on LINE: a lead with one chat, a generated name, no contact info.
    first = service.line_message(line_id, "こんにちは、質問があります")
    kiwi_id, label, chat_id = first["user"]["id"], first["user"]["displayName"], first["chat"]["id"]
    service.line_message(line_id, "会員登録はしていません")

    console.sign_in()
    console.open_customer(kiwi_id, label)
    chat = page.locator(f"[data-chat='{chat_id}']")
    expect(chat.locator(".entry-head")).to_contain_text("Chat on LINE")
    expect(page.locator(".profile")).to_contain_text("LINE")
    console.shot("line-lead")

    # The manager answers in the chat under their own name; the reply is set apart.
    reply = chat.locator("form.reply")
    reply.get_by_label("Your name").fill("佐藤")
    reply.get_by_label("Reply").fill("お電話番号を教えてください")
    reply.get_by_role("button", name="Send reply").click()
    manager = chat.locator(".message.from-manager")
    expect(manager.locator(".text")).to_have_text("お電話番号を教えてください")
    expect(manager.locator(".author")).to_contain_text("佐藤 (manager)")
    console.shot("manager-reply")

    # 2. The manager adds Kiwi987's phone: verified, but no member has it yet.
    console.edit_contact(mobileNumber=national)
    expect(page.locator("#screen > .notice")).to_have_text("Saved. No member matches this contact info.")
    expect(page.locator(".profile dd[data-field='mobileNumber']")).to_have_text(f"{e164} ✓ verified")
    console.shot("phone-added-no-match")

    # 3-4. Later the customer registers on the site as 山田太郎 with that number; Kiwi writes again.
    taro_member = uniq("taro-")
    taro = service.boot(member_id=taro_member, profile={"name": "山田太郎", "mobileNumber": national})["user"]
    service.line_message(line_id, "まだ届いていません")
    assert service.unifications_of(kiwi_id) == [] and service.unifications_of(taro["id"]) == []

    # 5a. The same number typed again in another format is no change (R6.3): no prompt.
    page.reload()
    console.wait_customer(label)
    spaced = f"+81 {e164[3:5]} {e164[5:9]} {e164[9:]}"
    console.edit_contact(mobileNumber=spaced)
    expect(page.locator("#screen > .notice")).to_have_text("Saved. No member matches this contact info.")
    assert service.unifications_of(kiwi_id) == []

    # 5b-6. A real change (the email the customer gave): Kiwi987 matches 山田太郎 on the phone.
    email = f"{uniq('kiwi-')}@example.jp"
    console.edit_contact(email=email)
    prompt = console.prompt()
    expect(prompt.locator("#prompt-title")).to_have_text("This contact info matches the member 山田太郎")
    assert cells(console.decision_row(prompt, "mobileNumber"))[1:] == [
        f"{e164} ✓ verified",
        f"{e164} unverified",
        e164,
        "verified beats unverified",
    ]
    assert cells(console.decision_row(prompt, "email"))[1:] == [
        f"{email} ✓ verified",
        "(empty)",
        email,
        "a value beats an empty field",
    ]
    expect(prompt.locator(".moves")).to_have_text("What moves to the member: 1 chat, 0 events, 0 deliveries")
    expect(prompt.locator(".when")).to_contain_text("Approval unifies them at once.")
    console.shot("prompt-line-lead")
    prompt.get_by_role("button", name="Approve").click()
    expect(prompt.locator(".review .badge")).to_have_text(re.compile("^(Running|Completed)$"))
    console.shot("approved-at-once")
    unification_id = prompt.locator(".review").get_attribute("data-unification")
    wait_for(lambda: service.unification(str(unification_id))["status"] == "completed", "completion")
    prompt.get_by_role("button", name="Close").click()

    # The LINE chat, with Kiwi987's messages under its own name and the manager's reply, is 山田太郎's.
    expect(page.locator(".notice.resolved")).to_contain_text("unified into this member, 山田太郎")
    assert console.customer_id() == taro["id"]
    messages = page.locator(f"[data-chat='{chat_id}'] .message")
    expect(messages.locator(".text")).to_have_text(
        ["こんにちは、質問があります", "会員登録はしていません", "お電話番号を教えてください", "まだ届いていません"]
    )
    expect(page.locator(f"[data-chat='{chat_id}'] .message.from-user .author a")).to_have_text([label] * 3)
    console.shot("line-chat-under-member")
