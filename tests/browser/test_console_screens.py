# ruff: noqa: F811  (pytest fixtures imported from the support module are parameters here)
"""The console's other screens in headless Chromium (issue 12): the timeline paged newest first with
earlier messages, search as the API normalizes, the work queue paged with pending first, a direct
proposal, errors in words (a 409 user_unified links the member), and the keyboard alone."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from .console_support import (  # noqa: F401  (fixtures)
    ConsoleTab,
    Service,
    console,
    jp_mobile,
    service,
    uniq,
    wait_for,
)


def test_history_is_one_timeline_newest_first_paged_with_load_more(console: ConsoleTab, service: Service) -> None:
    page = console.page
    member_id = uniq("history-")
    member = service.put_member(member_id, {"name": "履歴 花子"})
    visitor = service.visitor(member_id=member_id)
    old_chat = visitor.call("POST", "/v1/session/chats", {"text": "最初のチャット"})["chat"]
    for n in range(2, 26):  # 25 messages: more than a listing carries
        visitor.call("POST", f"/v1/session/chats/{old_chat['id']}/messages", {"text": f"メッセージ {n}"})
    for n in range(1, 56):  # 55 events: more than one page of them
        service.admin("POST", f"/v1/users/{member['id']}/events", {"name": f"event-{n:02d}", "properties": {"n": n}})
    service.admin("POST", f"/v1/users/{member['id']}/marketing-deliveries", {"campaignId": "winter-sale"})
    new_chat = visitor.call("POST", "/v1/session/chats", {"text": "新しいチャット"})["chat"]

    console.sign_in()
    console.open_customer(member_id, "履歴 花子")
    entries = page.locator(".timeline > li.entry")
    first = entries.first
    expect(first).to_have_attribute("data-chat", new_chat["id"])
    expect(first.locator(".message .text")).to_have_text(["新しいチャット"])
    expect(entries.nth(1)).to_contain_text("winter-sale")
    events = page.locator(".timeline > li.entry.event strong")
    expect(events).to_have_count(50)
    expect(events.first).to_have_text("event-55")
    expect(page.locator(f"[data-chat='{old_chat['id']}']")).to_have_count(0)
    console.shot("timeline-first-page")

    page.get_by_role("button", name="Load more").click()
    expect(events).to_have_count(55)
    expect(events.last).to_have_text("event-01")
    old = page.locator(f"[data-chat='{old_chat['id']}']")
    expect(old).to_have_count(1)
    expect(page.get_by_role("button", name="Load more")).to_be_hidden()
    names = events.all_inner_texts()
    assert names == [f"event-{n:02d}" for n in range(55, 0, -1)], "newest first, none twice"
    assert page.locator(".timeline > li.entry").last.get_attribute("data-chat") == old_chat["id"]

    # The old chat carries its latest 20 messages; the earlier ones come on request.
    texts = old.locator(".message .text")
    expect(texts).to_have_count(20)
    expect(texts.first).to_have_text("メッセージ 6")
    old.get_by_role("button", name="Earlier messages").click()
    expect(texts).to_have_count(25)
    expect(texts).to_have_text(["最初のチャット", *[f"メッセージ {n}" for n in range(2, 26)]])
    expect(old.get_by_role("button", name="Earlier messages")).to_be_hidden()
    console.shot("timeline-all")


def test_search_normalizes_as_the_api_does(console: ConsoleTab, service: Service) -> None:
    page = console.page
    national, e164 = jp_mobile("80")
    member_id = uniq("search-")
    email = f"{uniq('Sato.')}@Example.JP"
    member = service.put_member(member_id, {"name": "佐藤 一郎", "mobileNumber": national, "email": email})
    console.sign_in()
    for typed in (f"+81 {e164[3:5]} {e164[5:9]} {e164[9:]}", national, f"  {email.upper()} ", member_id, member["id"]):
        console.search(typed)
        rows = page.locator("table.results tbody tr")
        expect(rows).to_have_count(1)
        expect(rows).to_have_attribute("data-user", member["id"])
    console.shot("search-found")
    console.search(uniq("nobody-"))
    expect(page.locator("#screen .notice")).to_have_text("No customer matches.")
    page.get_by_label("Look up as").select_option("email")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator("#screen .notice.error")).to_contain_text("That was not accepted.")
    console.shot("search-invalid-email")


def test_work_queue_lists_pending_first_and_pages(console: ConsoleTab, service: Service) -> None:
    page = console.page
    ids = []
    for n in range(12):
        national, e164 = jp_mobile("90")
        service.put_member(uniq("queue-"), {"name": f"会員 {n}", "mobileNumber": e164})
        created = service.admin("POST", "/v1/users", {"profile": {"name": f"見込み {n}", "mobileNumber": national}})
        ids.append(created["unificationCandidate"]["id"])
    rejected = ids.pop()
    service.admin("POST", f"/v1/unifications/{rejected}/reject")

    console.sign_in()
    page.get_by_label("Rows per page").select_option("10")
    rows = page.locator("table.queue tbody tr")
    expect(rows).to_have_count(10)
    statuses = rows.locator("td:first-child").all_inner_texts()
    assert statuses == ["Waiting for approval"] * 10, "pending_approval comes first"
    expect(rows.first.locator("td").nth(6)).to_have_text("a manager's approval")
    console.shot("queue-first-page")
    more = page.get_by_role("button", name="Load more")
    while more.is_visible():
        shown = rows.count()
        more.click()
        wait_for(lambda shown=shown: rows.count() > shown, "the next page")
    listed = [rows.nth(i).get_attribute("data-unification") for i in range(rows.count())]
    assert len(listed) == len(set(listed)), "no row twice across pages"
    assert set(ids) | {rejected} <= set(listed)
    statuses = rows.locator("td:first-child").all_inner_texts()
    pending = [i for i, s in enumerate(statuses) if s == "Waiting for approval"]
    assert pending == list(range(len(pending))), "every pending one before any other"

    page.get_by_label("Status").select_option("rejected")
    expect(page.locator("table.queue caption")).to_have_text("Rejected")
    expect(page.locator(f"table.queue tr[data-unification='{rejected}']")).to_have_count(1)
    expect(page.locator("table.queue tbody tr td:first-child")).not_to_contain_text(["Waiting for approval"])


def test_propose_directly_and_errors_in_words(console: ConsoleTab, service: Service) -> None:
    page = console.page
    member = service.put_member(uniq("propose-"), {"name": "提案 先"})
    lead = service.admin("POST", "/v1/users", {"profile": {"name": "提案 元", "companyName": "株式会社テスト"}})["user"]
    other = service.admin("POST", "/v1/users", {"profile": {"name": "別のリード"}})["user"]

    console.sign_in()
    console.nav("Propose")
    page.get_by_label("Customer to unify (anonymous user or lead), user id").fill(lead["id"])
    page.get_by_label("Into member, user id").fill(other["id"])
    page.get_by_role("button", name="Propose").click()
    expect(page.locator(".proposal .notice.error")).to_contain_text("This unification is not allowed")
    console.shot("propose-refused")

    page.get_by_label("Into member, user id").fill(member["id"])
    page.get_by_role("button", name="Propose").click()
    card = page.locator(".proposal .review")
    expect(card.locator(".badge")).to_have_text("Waiting for approval")
    expect(card.locator("tr[data-field='companyName'] td.result")).to_have_text("株式会社テスト")
    console.shot("proposed")
    card.get_by_role("button", name="Reject").click()
    expect(card.locator(".badge")).to_have_text("Rejected")
    card.get_by_role("link", name="Details").click()
    expect(page.locator("#screen .review .badge")).to_have_text("Rejected")


def test_an_edit_to_a_user_unified_meanwhile_links_the_member(console: ConsoleTab, service: Service) -> None:
    page = console.page
    national, e164 = jp_mobile("90")
    member = service.put_member(uniq("meanwhile-"), {"name": "統合先", "mobileNumber": e164})
    lead = service.admin("POST", "/v1/users", {"profile": {"name": "統合元"}})["user"]
    console.sign_in()
    console.open_customer(lead["id"], "統合元")
    # Behind this manager's back, another one unifies the lead (it never visited: at once).
    candidate = service.admin("PATCH", f"/v1/users/{lead['id']}", {"profile": {"mobileNumber": national}})
    approved = service.admin("POST", f"/v1/unifications/{candidate['unificationCandidate']['id']}/approve")
    assert approved["unification"]["status"] in ("running", "completed")
    console.edit_contact(companyName="遅れた編集")
    error = page.locator("form.edit .notice.error")
    expect(error).to_contain_text("This user has been unified into a member")
    console.shot("user-unified-error")
    error.get_by_role("link", name="Open the member it was unified into").click()
    console.wait_customer("統合先")
    assert console.customer_id() == member["id"]


def test_the_keyboard_alone_signs_in_navigates_and_dismisses_the_prompt(console: ConsoleTab, service: Service) -> None:
    page = console.page
    national, e164 = jp_mobile("90")
    service.put_member(uniq("keys-"), {"name": "キー 会員", "mobileNumber": e164})
    lead = service.admin("POST", "/v1/users", {"profile": {"name": "キー リード"}})["user"]
    console.open()
    expect(page.get_by_label("Access key")).to_be_focused()
    page.keyboard.type(console.credentials.access_key)
    page.keyboard.press("Tab")
    page.keyboard.type(console.credentials.access_secret)
    page.keyboard.press("Enter")
    expect(console.heading()).to_have_text("Work queue")
    expect(console.heading()).to_be_focused()

    nav = page.get_by_role("navigation", name="Console")
    nav.get_by_role("link", name="Search").focus()
    page.keyboard.press("Enter")
    expect(console.heading()).to_have_text("Search")
    expect(page.get_by_label("Phone, email, memberId or user id")).to_be_focused()
    page.keyboard.type(lead["id"])
    page.keyboard.press("Enter")
    link = page.locator("table.results").get_by_role("link", name="キー リード")
    link.focus()
    page.keyboard.press("Enter")
    console.wait_customer("キー リード")
    phone = page.locator("form.edit").get_by_label("Mobile number", exact=True)
    phone.focus()
    page.keyboard.type(national)
    page.keyboard.press("Enter")
    prompt = console.prompt()
    expect(prompt.get_by_role("button", name="Decide later")).to_be_focused()
    console.shot("prompt-by-keyboard")
    page.keyboard.press("Escape")
    expect(prompt).to_be_hidden()
    expect(page.locator(".pending .review .badge")).to_have_text("Waiting for approval")
    assert re.search(r"#/user/", page.url)


def test_a_running_unification_shows_its_progress_as_a_bar(console: ConsoleTab) -> None:
    """R10 in the queue: moved of total as a bar; totals not counted yet (null) make it indeterminate.
    A move on the local stack ends within moments, so the drawing is checked on the console's own
    module with the shapes the API answers."""
    console.open()
    drawn = console.page.evaluate(
        """async () => {
            const { progressBar } = await import("./console/review.js");
            const draw = (progress) => {
                const line = progressBar({ progress });
                const bar = line.querySelector("progress");
                return [bar.hasAttribute("value") ? [bar.value, bar.max] : null, line.textContent];
            };
            return [
                draw({ chats: { moved: 1, total: 4 }, events: { moved: 2, total: 6 } }),
                draw({ chats: { moved: 0, total: null }, events: { moved: 0, total: null } }),
            ];
        }"""
    )
    assert drawn == [
        [[3, 10], " 1 chat of 4, 2 events of 6 moved"],
        [None, " counting the history…"],
    ]
