"""The guide's automatic unification, lived on the demo shop's page in a real browser:
the page on the demo's origin, the SDK and the API on the API's (R1.2, R3.4, R4, R5)."""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Any

from playwright.sync_api import Response, expect

from .conftest import Stack, Tab

VEIL_KEY = "unification_veil_id"


def send_chat(tab: Tab, text: str, messages_after: int) -> None:
    tab.page.fill("#chat-text", text)
    tab.page.click("#chat-send")
    expect(tab.page.locator("#chat-history .message")).to_have_count(messages_after)


def log_in(tab: Tab, member_id: str) -> None:
    tab.page.fill("#member-id", member_id)
    tab.page.click("#login")
    expect(tab.page.locator("#user-member")).to_have_text(member_id)
    expect(tab.page.locator("#user-logged-in")).to_have_text("yes")


def log_out(tab: Tab) -> None:
    tab.page.click("#logout")
    expect(tab.page.locator("#user-logged-in")).to_have_text("no")


def outwait_session(tab: Tab) -> None:
    """Sleep past the end the page shows for its session (R4.1: no activity meanwhile; the
    margin covers the history read that followed the answer the page shows)."""
    ends = datetime.fromisoformat(tab.text("session-expires").replace("Z", "+00:00")).timestamp()
    time.sleep(max(0.0, ends - time.time()) + 1.5)


def messages_shown(tab: Tab) -> list[tuple[str, str]]:
    items = tab.page.locator("#chat-history .message")
    return [(i.locator(".author").inner_text(), i.locator(".text").inner_text()) for i in items.all()]


def device_veil(tab: Tab) -> str:
    veil: str = tab.page.evaluate(f"localStorage.getItem('{VEIL_KEY}')")
    return veil


def test_anonymous_visitor_chats_logs_in_as_a_member_and_comes_back_anonymous(stack: Stack, tab: Tab) -> None:
    api = stack.open_api
    page = tab.page

    # 1. An anonymous visit: the SDK boots from the demo's origin.
    tab.open_demo(stack.demo)
    expect(page.locator("#user-type")).to_have_text("anonymous")
    visitor_id, visitor_name = tab.text("user-id"), tab.text("user-name")
    veil = device_veil(tab)
    assert re.fullmatch(r"[A-Z][a-z]+\d{3}", visitor_name), visitor_name  # R1.5: e.g. Mango135
    visitor = api.user(visitor_id)
    assert (visitor["type"], visitor["channel"], visitor["veilIds"]) == ("anonymous", "web", [veil])
    tab.shot("anonymous-visit")

    # 2. A chat makes the visitor a lead (R1.2).
    question = "Hello! Do you ship green tea to Osaka?"
    send_chat(tab, question, messages_after=1)
    expect(page.locator("#user-type")).to_have_text("lead")
    assert messages_shown(tab) == [(visitor_name, question)]
    assert api.user(visitor_id)["type"] == "lead"
    [chat] = api.chats(visitor_id)
    assert [(m["personName"], m["text"]) for m in chat["messages"]] == [(visitor_name, question)]
    tab.shot("chat-makes-a-lead")

    # 3. A reload is the same device: the same user, the same history (R4.3).
    tab.reload()
    assert (tab.text("user-id"), tab.text("user-type")) == (visitor_id, "lead")
    assert messages_shown(tab) == [(visitor_name, question)]
    assert device_veil(tab) == veil
    tab.shot("reload-same-lead")

    # 4. Logging in as an existing member unifies the lead into it (R5.1), and the
    #    earlier message stays under the name it was written under (R3.4).
    created = api.call("PUT", "/v1/members/taro-0001", {"profile": {"name": "Taro Yamada"}})
    assert created.status == 201, created
    member_id = created.body["user"]["id"]
    log_in(tab, "taro-0001")
    assert (tab.text("user-id"), tab.text("user-type"), tab.text("user-name")) == (member_id, "member", "Taro Yamada")
    expect(page.locator("#chat-history .message")).to_have_count(1)
    assert messages_shown(tab) == [(visitor_name, question)]
    resolved = api.get(f"/v1/users/{visitor_id}")
    assert (resolved["user"]["id"], resolved["resolvedFrom"]) == (member_id, visitor_id)
    frozen = api.get(f"/v1/users/{visitor_id}?resolve=false")["user"]
    assert (frozen["unifiedInto"], frozen["displayName"]) == (member_id, visitor_name)
    [moved] = api.chats(member_id)
    assert [(m["personId"], m["personName"], m["text"]) for m in moved["messages"]] == [
        (visitor_id, visitor_name, question)
    ]
    tab.shot("login-unifies-into-member")

    # 5. Logging out keeps the member until the session ends (R4.2), reloads included.
    log_out(tab)
    assert (tab.text("user-id"), tab.text("user-type")) == (member_id, "member")
    tab.reload()
    assert (tab.text("user-id"), tab.text("user-type"), tab.text("user-logged-in")) == (member_id, "member", "no")
    assert messages_shown(tab) == [(visitor_name, question)]
    tab.shot("logout-still-member")

    # 6. After the session ended, the next visit is a new anonymous user (R4.3).
    outwait_session(tab)
    tab.reload()
    newcomer_id = tab.text("user-id")
    assert newcomer_id not in (visitor_id, member_id)
    assert (tab.text("user-type"), tab.text("user-member")) == ("anonymous", "—")
    expect(page.locator("#chat-history .message")).to_have_count(0)
    assert device_veil(tab) == veil
    newcomer = api.user(newcomer_id)
    assert (newcomer["type"], newcomer["memberId"], newcomer["veilIds"]) == ("anonymous", None, [veil])
    member = api.get("/v1/members/taro-0001")["user"]
    assert (member["id"], member["type"], member["profile"]["name"]) == (member_id, "member", "Taro Yamada")
    assert len(api.chats(member_id)) == 1
    tab.shot("next-visit-new-anonymous")
    assert tab.errors == []


def api_calls(tab: Tab, stack: Stack) -> list[tuple[str, str, int]]:
    """Every answer the page got from the API: (method, path, status)."""
    seen: list[tuple[str, str, int]] = []

    def on_response(response: Response) -> None:
        if response.url.startswith(stack.api + "/v1/"):
            path = response.url[len(stack.api) :].split("?")[0]
            seen.append((response.request.method, path, response.status))

    tab.page.on("response", on_response)
    return seen


def product_events(stack: Stack, user_id: str) -> list[dict[str, Any]]:
    return [e for e in stack.open_api.events(user_id) if e["name"] == "product_viewed"]


def test_a_session_that_ended_under_the_page_is_renewed_and_the_page_hears_of_the_new_user(
    stack: Stack, tab: Tab
) -> None:
    calls = api_calls(tab, stack)
    tab.open_demo(stack.demo)
    visitor_id = tab.text("user-id")

    # A login as a memberId nobody has yet converts the visitor in place (R5.2): the page hears of it.
    log_in(tab, "hanako-0002")
    assert (tab.text("user-id"), tab.text("user-type")) == (visitor_id, "member")
    log_out(tab)
    outwait_session(tab)

    # The click's event answers 401 (the session ended): one boot, then the event again.
    del calls[:]
    tab.page.click(".product[data-sku='MUG-02']")
    expect(tab.page.locator("#last-event")).to_contain_text("Viewed Tea mug")
    expect(tab.page.locator("#user-type")).to_have_text("anonymous")
    newcomer_id = tab.text("user-id")
    assert newcomer_id != visitor_id
    assert calls[:3] == [
        ("POST", "/v1/session/events", 401),
        ("POST", "/v1/boot", 200),
        ("POST", "/v1/session/events", 201),
    ], calls
    # the page then shows the new user's (empty) history: a call that may come a moment later
    for _ in range(100):
        if ("GET", "/v1/session/chats", 200) in calls[3:]:
            break
        tab.page.wait_for_timeout(100)
    assert ("GET", "/v1/session/chats", 200) in calls[3:], calls
    assert [e["properties"]["sku"] for e in product_events(stack, newcomer_id)] == ["MUG-02"]
    assert product_events(stack, visitor_id) == []
    tab.shot("renewed-as-new-anonymous")
    assert [e for e in tab.errors if "status of 401" not in e] == []


def test_a_logged_in_member_whose_session_ended_is_renewed_as_that_member(stack: Stack, tab: Tab) -> None:
    created = stack.open_api.call("PUT", "/v1/members/jiro-0003", {"profile": {"name": "Jiro Sato"}})
    assert created.status == 201, created
    member_id = created.body["user"]["id"]
    tab.open_demo(stack.demo)
    log_in(tab, "jiro-0003")
    assert tab.text("user-id") == member_id
    outwait_session(tab)

    boots: list[Any] = []
    tab.page.on(
        "request",
        lambda r: boots.append(r.post_data_json) if r.url == stack.api + "/v1/boot" and r.method == "POST" else None,
    )
    tab.page.click(".product[data-sku='TEA-01']")
    expect(tab.page.locator("#last-event")).to_contain_text("Viewed Green tea")
    # Still logged in on the shop's side: the renewal boot logs in again, as the same member.
    assert [b.get("memberId") for b in boots] == ["jiro-0003"]
    assert (tab.text("user-id"), tab.text("user-type"), tab.text("user-logged-in")) == (member_id, "member", "yes")
    assert [e["properties"]["sku"] for e in product_events(stack, member_id)] == ["TEA-01"]
    tab.shot("renewed-as-the-member")
    assert [e for e in tab.errors if "status of 401" not in e] == []


def test_what_a_customer_typed_is_shown_as_text_never_run(stack: Stack, tab: Tab) -> None:
    tab.open_demo(stack.demo)
    typed = '<img src="x" onerror="document.title=\'run\'"><b>bold?</b>'
    send_chat(tab, typed, messages_after=1)
    assert messages_shown(tab) == [(tab.text("user-name"), typed)]
    assert tab.page.locator("#chat-history img, #chat-history b").count() == 0
    assert tab.page.title() != "run"
    assert tab.errors == []
