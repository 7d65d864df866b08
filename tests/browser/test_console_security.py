# ruff: noqa: F811  (pytest fixtures imported from the support module are parameters here)
"""The console's security (issue 12): customer text is only ever text, the session lives in an
HttpOnly; Secure; SameSite=Strict cookie, state-changing requests need the CSRF token, sign-out
ends the session on the server, and the pages come with a CSP that allows no inline script."""

from __future__ import annotations

import json
from typing import Any

from playwright.sync_api import expect

from .console_support import (  # noqa: F401  (fixtures)
    ConsoleTab,
    Service,
    console,
    jp_mobile,
    service,
    uniq,
)

HOSTILE_NAME = "<img src=x onerror=alert(1)>"
HOSTILE_MESSAGE = "<script>window.pwned=1</script>"
HOSTILE_PROPERTY = '"><svg onload=alert(2)><b>bold</b>'
CSP_PARTS = (
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "connect-src 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
)


def session_cookie(console: ConsoleTab) -> dict[str, Any]:
    found = [c for c in console.page.context.cookies() if c["name"] == "uconsole"]
    assert len(found) == 1, console.page.context.cookies()
    cookie: dict[str, Any] = dict(found[0])
    return cookie


def with_cookie(service: Service, value: str, method: str, path: str, body: Any = None, csrf: str | None = None) -> Any:
    headers = {"Cookie": f"uconsole={value}"}
    if csrf:
        headers["X-CSRF-Token"] = csrf
    return service.call(method, path, body, headers=headers)


def test_hostile_customer_text_is_shown_as_text_and_runs_nothing(console: ConsoleTab, service: Service) -> None:
    page = console.page
    national, e164 = jp_mobile("90")
    service.put_member(uniq("m-"), {"name": "正規メンバー", "mobileNumber": e164})
    visitor = service.visitor(profile={"name": HOSTILE_NAME, "x_note": HOSTILE_PROPERTY})
    lead = visitor.user_id
    chat = visitor.call("POST", "/v1/session/chats", {"text": HOSTILE_MESSAGE})["chat"]
    visitor.call("POST", "/v1/session/events", {"name": HOSTILE_NAME, "properties": {"p": HOSTILE_PROPERTY}})

    console.sign_in()
    console.search(lead)
    page.locator("table.results").get_by_role("link", name=HOSTILE_NAME).click()
    console.wait_customer(HOSTILE_NAME)
    expect(console.heading()).to_contain_text(HOSTILE_NAME)
    expect(page.locator(f"[data-chat='{chat['id']}'] .message .text")).to_have_text(HOSTILE_MESSAGE)
    expect(page.locator(".message .author a")).to_have_text(HOSTILE_NAME)
    expect(page.locator(".entry.event strong")).to_have_text(HOSTILE_NAME)
    expect(page.locator(".entry.event dd")).to_have_text(HOSTILE_PROPERTY)
    expect(page.locator(".profile dd[data-field='x_note']")).to_contain_text(HOSTILE_PROPERTY)

    # The same name in the confirmation prompt and in the work queue.
    console.edit_contact(mobileNumber=national)
    prompt = console.prompt()
    expect(prompt.locator("table.decisions thead")).to_contain_text(HOSTILE_NAME)
    expect(console.decision_row(prompt, "name")).to_contain_text(HOSTILE_NAME)
    console.shot("hostile-prompt")
    prompt.get_by_role("button", name="Decide later").click()
    console.nav("Work queue")
    expect(page.locator("table.queue")).to_contain_text(HOSTILE_NAME)
    console.shot("hostile-queue")

    assert page.evaluate("window.pwned") is None
    assert console.dialogs == []
    planted = page.evaluate(
        """() => ({
            scripts: [...document.scripts].map((s) => s.src),
            images: document.querySelectorAll("#screen img, dialog img").length,
            svgs: document.querySelectorAll("svg").length,
            bolds: document.querySelectorAll("#screen b").length,
            handlers: [...document.querySelectorAll("*")].filter((e) =>
                [...e.attributes].some((a) => a.name.startsWith("on"))).length,
        })"""
    )
    assert planted == {
        "scripts": [console.base + "/console/console.js"],
        "images": 0,
        "svgs": 0,
        "bolds": 0,
        "handlers": 0,
    }


def test_the_session_cookie_is_httponly_secure_strict_and_never_readable(console: ConsoleTab) -> None:
    console.sign_in()
    cookie = session_cookie(console)
    assert cookie["httpOnly"] is True
    assert cookie["secure"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/"
    page = console.page
    assert "uconsole" not in page.evaluate("document.cookie")
    stored = page.evaluate("JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)])")
    assert stored == "[[],[]]", "nothing in web storage: not the secret, not the CSRF token"
    assert console.credentials.access_secret not in page.content()

    # A reload restores the session from the cookie alone.
    page.reload()
    expect(console.heading()).to_have_text("Work queue")
    console.shot("reloaded-still-signed-in")


def test_wrong_credentials_are_refused_in_words(console: ConsoleTab) -> None:
    console.open()
    page = console.page
    page.get_by_label("Access key").fill(console.credentials.access_key)
    page.get_by_label("Access secret").fill("not-the-secret")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#signin-outcome")).to_have_text("The access key or secret is wrong.")
    expect(page.get_by_label("Access secret")).to_have_value("")
    assert [c for c in page.context.cookies() if c["name"] == "uconsole"] == []
    console.shot("wrong-secret")


def test_a_state_changing_request_without_the_csrf_token_is_refused(console: ConsoleTab, service: Service) -> None:
    console.sign_in()
    page = console.page
    # From the console's own page, with its cookie, but without the token: refused.
    refused = page.evaluate(
        """async () => {
            const r = await fetch("v1/users", {method: "POST", headers: {"Content-Type": "application/json"},
                                               body: JSON.stringify({profile: {name: "CSRF"}})});
            return [r.status, await r.json()];
        }"""
    )
    assert refused[0] == 401 and refused[1]["error"]["code"] == "unauthorized", refused
    value = session_cookie(console)["value"]
    body = {"profile": {"name": uniq("csrf-")}}
    assert with_cookie(service, value, "POST", "/v1/users", body).status == 401
    assert with_cookie(service, value, "POST", "/v1/users", body, csrf="forged-token").status == 401
    # The cookie alone reads; with the session's token the same write is taken.
    reading = with_cookie(service, value, "GET", "/v1/unifications?limit=1")
    assert reading.status == 200, reading
    token = with_cookie(service, value, "GET", "/v1/console/session").body["csrfToken"]
    taken = with_cookie(service, value, "POST", "/v1/users", body, csrf=token)
    assert taken.status == 201, taken
    assert service.call("GET", f"/v1/users?limit=1&memberId={uniq('none-')}").status == 401, "no cookie, no keys"


def test_sign_out_ends_the_session_on_the_server(console: ConsoleTab, service: Service) -> None:
    console.sign_in()
    old = session_cookie(console)["value"]
    assert with_cookie(service, old, "GET", "/v1/console/session").status == 200
    console.page.get_by_role("button", name="Sign out").click()
    expect(console.page.get_by_role("heading", name="Sign in")).to_be_visible()
    console.shot("signed-out")
    assert [c for c in console.page.context.cookies() if c["name"] == "uconsole"] == [], "the cookie is cleared"
    # The old cookie, replayed, no longer works anywhere.
    assert with_cookie(service, old, "GET", "/v1/console/session").status == 401
    assert with_cookie(service, old, "GET", "/v1/unifications?limit=1").status == 401
    console.page.reload()
    expect(console.page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_console_pages_carry_the_csp_and_load_nothing_from_elsewhere(console: ConsoleTab, service: Service) -> None:
    for path in ("/console", "/console/console.js", "/console/console.css"):
        reply = service.call("GET", path)
        assert reply.status == 200, path
        policy = {k.lower(): v for k, v in reply.headers.items()}["content-security-policy"]
        for part in CSP_PARTS:
            assert part in policy, (path, policy)
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    requested: list[str] = []
    console.page.on("request", lambda r: requested.append(r.url))
    console.sign_in()
    assert requested and all(url.startswith(console.base + "/") for url in requested), json.dumps(requested)
