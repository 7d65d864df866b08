"""The SDK's calls cross origins for real (API.md, "Browser access (CORS)"): the shop's
page on one origin reads every answer of the API on another; an origin that is not
allowed reads none, and no page ever reads an Open API answer."""

from __future__ import annotations

import urllib.request
from typing import TYPE_CHECKING, Any

from playwright.sync_api import Response, expect

from .conftest import REPO, Stack, Tab

if TYPE_CHECKING:
    from conftest import Credentials

# Every customer-side call the SDK makes, from the page, each answer read by the page.
EVERY_CALL = """async (pluginKey) => {
    const sdk = Unification.create({ pluginKey });
    const booted = await sdk.boot();
    const event = await sdk.track("page_viewed", { path: "/tea" });
    const started = await sdk.chat("Hello from another origin");
    const reply = await sdk.reply(started.chat.id, "Second message");
    const chats = await sdk.chats();
    const refreshed = await sdk.refresh();
    const hash = (await (await fetch("/member-hash?memberId=cors-0001")).json()).memberHash;
    const login = await sdk.login({ memberId: "cors-0001", memberHash: hash });
    const logout = await sdk.logout();
    return {
        apiBase: sdk.apiBase,
        bootType: booted.user.type,
        event: event.name,
        chatText: started.message.text,
        reply: reply.text,
        messages: chats.flatMap((c) => c.messages.map((m) => m.text)),
        refreshedType: refreshed.user.type,
        loginMember: login.user.memberId,
        loggedInAfterLogout: logout.session.loggedIn,
    };
}"""


def test_the_shop_page_reads_every_answer_of_the_api_on_another_origin(
    stack: Stack, tab: Tab, credentials: Credentials
) -> None:
    answered: list[Response] = []
    tab.page.on("response", lambda r: answered.append(r) if r.url.startswith(stack.api) else None)
    tab.open_demo(stack.demo)
    assert stack.api != stack.demo

    result: dict[str, Any] = tab.page.evaluate(EVERY_CALL, credentials.plugin_key)
    assert result == {
        "apiBase": stack.api,  # the SDK's default: the origin its <script> tag came from
        "bootType": "anonymous",
        "event": "page_viewed",
        "chatText": "Hello from another origin",
        "reply": "Second message",
        "messages": ["Hello from another origin", "Second message"],
        "refreshedType": "lead",
        "loginMember": "cors-0001",
        "loggedInAfterLogout": False,
    }
    calls = [r for r in answered if r.url.startswith(stack.api + "/v1/")]
    assert len(calls) >= 10
    for response in calls:
        headers = response.all_headers()
        assert headers.get("access-control-allow-origin") == stack.demo, (response.url, headers)
    tab.shot("every-answer-read")
    assert tab.errors == []


def test_the_sdk_the_page_loads_is_this_repository_s_file(stack: Stack, tab: Tab) -> None:
    tab.open_demo(stack.demo)
    src = tab.page.locator("script").first.get_attribute("src")
    assert src == stack.api + "/sdk/v1/unification.js"
    with urllib.request.urlopen(src, timeout=10) as response:
        served = response.read()
        assert "javascript" in response.headers["Content-Type"]
    assert served == (REPO / "sdk" / "unification.js").read_bytes()


def test_a_page_on_an_origin_not_allowed_reads_nothing(stack: Stack, tab: Tab) -> None:
    # The same demo, reached as localhost: another origin, not in ALLOWED_ORIGINS.
    elsewhere = stack.demo.replace("127.0.0.1", "localhost")
    tab.page.goto(elsewhere)
    expect(tab.page.locator("#status")).to_contain_text("network_error", timeout=20_000)
    assert tab.page.locator("body[data-ready='true']").count() == 0
    assert any("CORS policy" in e for e in tab.errors), tab.errors
    tab.shot("origin-not-allowed")


def test_no_page_reads_an_open_api_answer(stack: Stack, tab: Tab, credentials: Credentials) -> None:
    tab.open_demo(stack.demo)
    outcome = tab.page.evaluate(
        """async ([api, headers]) => {
            const health = await (await fetch(api + "/v1/health")).json();
            try {
                await fetch(api + "/v1/members/anyone", { headers });
                return { health, openApi: "read" };
            } catch (error) {
                return { health, openApi: error.name };
            }
        }""",
        [stack.api, credentials.admin_headers],
    )
    assert outcome == {"health": {"status": "ok"}, "openApi": "TypeError"}
    assert any("CORS policy" in e for e in tab.errors), tab.errors
