"""The managers' console in headless Chromium against the local stack (issue 12).

`ConsoleTab` is a manager at the console: it signs in, opens screens by clicking, and saves a
screenshot of each step under tests/browser/screenshots/<test>/. `Service` is everybody else: visitors
booting the SDK routes, back-office systems on the Open API, LINE's webhook; it speaks HTTP with
the standard library, as any client of the contract.
"""

from __future__ import annotations

import json
import re
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Dialog, Page, expect

if TYPE_CHECKING:
    from conftest import Credentials

    from .conftest import Stack

SHOTS = Path(__file__).resolve().parent / "screenshots"
WAIT_MS = 30_000  # how long a step may take on a busy 2-core machine before it counts as failed

T = TypeVar("T")


def uniq(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(4)}"


def jp_mobile(prefix: str = "90") -> tuple[str, str]:
    """A fresh Japanese mobile number: (national `090-xxxx-xxxx`, E.164)."""
    subscriber = secrets.choice("23456789") + f"{secrets.randbelow(10**7):07d}"
    return f"0{prefix}-{subscriber[:4]}-{subscriber[4:]}", f"+81{prefix}{subscriber}"


def wait_for(probe: Callable[[], T | None], what: str, timeout: float = WAIT_MS / 1000) -> T:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any
    headers: dict[str, str]


class Service:
    """The contract over real HTTP, for everyone but the manager at the console."""

    def __init__(self, base: str, credentials: Credentials) -> None:
        self.base = base
        self.credentials = credentials

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
        content_type: str = "application/json",
    ) -> Reply:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        sent = {"Accept": "application/json", **(headers or {})}
        if data is not None:
            sent["Content-Type"] = content_type
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=sent)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, text, got = response.status, response.read(), dict(response.headers.items())
        except urllib.error.HTTPError as error:
            status, text, got = error.code, error.read(), dict(error.headers.items())
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = text
        return Reply(status, parsed, got)

    @staticmethod
    def expect(reply: Reply, status: int | tuple[int, ...], what: str) -> Any:
        wanted = (status,) if isinstance(status, int) else status
        assert reply.status in wanted, f"{what}: expected {wanted}, got {reply.status}: {reply.body}"
        return reply.body

    # the Open API (back-office systems, and the checks a test makes behind the console's back)

    def admin(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        reply = self.call(method, path, body, headers=self.credentials.admin_headers, **kwargs)
        return self.expect(reply, (200, 201), f"{method} {path}")

    def put_member(self, member_id: str, profile: dict[str, Any]) -> dict[str, Any]:
        user: dict[str, Any] = self.admin("PUT", f"/v1/members/{member_id}", {"profile": profile})["user"]
        return user

    def user(self, user_id: str, resolve: bool = True) -> dict[str, Any]:
        found: dict[str, Any] = self.admin("GET", f"/v1/users/{user_id}" + ("" if resolve else "?resolve=false"))
        return found

    def unification(self, unification_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.admin("GET", f"/v1/unifications/{unification_id}")["unification"]
        return found

    def unifications_of(self, user_id: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.admin("GET", f"/v1/unifications?userId={user_id}&limit=1000")["unifications"]
        return found

    def chats_of(self, user_id: str) -> list[dict[str, Any]]:
        chats: list[dict[str, Any]] = self.admin("GET", f"/v1/users/{user_id}/chats?limit=1000")["chats"]
        return chats

    def line_message(self, external_id: str, text: str, name: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"externalId": external_id, "text": text}
        if name:
            body["profile"] = {"name": name}
        sent: dict[str, Any] = self.admin("POST", "/v1/messengers/line/messages", body)
        return sent

    # the customer side (the web SDK's routes)

    def boot(
        self, member_id: str | None = None, profile: dict[str, Any] | None = None, veil_id: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if veil_id:
            body["veilId"] = veil_id
        if member_id:
            body["memberId"] = member_id
            body["memberHash"] = self.credentials.member_hash(member_id)
        if profile:
            body["profile"] = profile
        reply = self.call("POST", "/v1/boot", body, headers=self.credentials.plugin_headers)
        booted: dict[str, Any] = self.expect(reply, 200, "boot")
        return booted

    def visitor(self, profile: dict[str, Any] | None = None, member_id: str | None = None) -> Visitor:
        """A visitor on the site: boots the SDK's routes as a new device (logged in with a memberId)."""
        booted = self.boot(member_id=member_id, profile=profile)
        return Visitor(self, booted["veilId"], booted["sessionToken"], booted["user"]["id"], member_id)


@dataclass
class Visitor:
    """One device on the site. The test stack's customer sessions are short (R4.1): a call whose
    session has ended boots the same device again first, as the SDK does (R4.3: the same lead)."""

    service: Service
    veil_id: str
    token: str
    user_id: str
    member_id: str | None = None

    def call(self, method: str, path: str, body: Any = None) -> Any:
        reply = self.service.call(method, path, body, headers={"Authorization": f"Bearer {self.token}"})
        if reply.status == 401:
            again = self.service.boot(member_id=self.member_id, veil_id=self.veil_id)
            self.token = again["sessionToken"]
            reply = self.service.call(method, path, body, headers={"Authorization": f"Bearer {self.token}"})
        return self.service.expect(reply, (200, 201), f"visitor {method} {path}")


@dataclass
class ConsoleTab:
    """A manager at the console in a fresh browser context: its own cookies, nothing shared."""

    page: Page
    base: str
    credentials: Credentials
    name: str
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    shots: list[Path] = field(default_factory=list)

    def watch(self) -> None:
        def on_console(message: ConsoleMessage) -> None:
            # A 4xx the console asked for and shows in words is not a script error.
            if message.type == "error" and "Failed to load resource" not in message.text:
                self.errors.append(message.text)

        def on_dialog(dialog: Dialog) -> None:
            self.dialogs.append(dialog.message)
            dialog.dismiss()

        self.page.on("console", on_console)
        self.page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        self.page.on("dialog", on_dialog)

    def shot(self, step: str) -> Path:
        """screenshots/<test>/<NN>-<step>.png (git-ignored), as the SDK's browser tests keep them."""
        folder = SHOTS / self.name
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{len(self.shots) + 1:02d}-{step}.png"
        self.page.screenshot(path=str(path), full_page=True)
        self.shots.append(path)
        return path

    def open(self) -> None:
        self.page.goto(self.base + "/console")

    def sign_in(self) -> None:
        self.open()
        page = self.page
        page.get_by_label("Access key").fill(self.credentials.access_key)
        page.get_by_label("Access secret").fill(self.credentials.access_secret)
        page.get_by_role("button", name="Sign in").click()
        expect(self.heading()).to_have_text("Work queue", timeout=WAIT_MS)

    def heading(self) -> Any:
        return self.page.locator("#screen h1")

    def nav(self, name: str) -> None:
        self.page.get_by_role("navigation", name="Console").get_by_role("link", name=name).click()

    def search(self, text: str) -> None:
        self.nav("Search")
        expect(self.heading()).to_have_text("Search", timeout=WAIT_MS)
        self.page.get_by_label("Phone, email, memberId or user id").fill(text)
        self.page.get_by_role("button", name="Search", exact=True).click()
        answer = self.page.locator("#screen table.results caption, #screen .notice")
        expect(answer.first).to_be_visible(timeout=WAIT_MS)

    def open_customer(self, text: str, name: str) -> None:
        """Search, then click the customer named `name` in the results."""
        self.search(text)
        self.page.locator("table.results").get_by_role("link", name=name, exact=True).click()
        self.wait_customer(name)

    def wait_customer(self, name: str) -> None:
        expect(self.heading()).to_contain_text(name, timeout=WAIT_MS)
        expect(self.page.locator(".history-section .history, .history-section .notice")).to_be_visible(timeout=WAIT_MS)

    def customer_id(self) -> str:
        row = self.page.locator(".profile dt", has_text=re.compile("^User id$")).locator(
            "xpath=following-sibling::dd[1]"
        )
        return row.inner_text().strip()

    def edit_contact(self, **fields: str) -> None:
        form = self.page.locator("form.edit")
        labels = {"mobileNumber": "Mobile number", "email": "Email", "name": "Name", "companyName": "Company"}
        for key, value in fields.items():
            form.get_by_label(labels[key], exact=True).fill(value)
        form.get_by_role("button", name="Save contact info").click()

    def prompt(self) -> Any:
        dialog = self.page.locator("dialog#prompt")
        expect(dialog).to_be_visible(timeout=WAIT_MS)
        return dialog

    def decision_row(self, scope: Any, field_name: str) -> Any:
        return scope.locator(f"table.decisions tr[data-field='{field_name}']")


# Fixtures on top of tests/browser/conftest.py (its `browser` and `stack`) ---------------------------


@pytest.fixture
def service(stack: Stack, credentials: Credentials) -> Service:
    return Service(stack.api, credentials)


@pytest.fixture
def console(
    browser: Browser, stack: Stack, credentials: Credentials, request: pytest.FixtureRequest
) -> Iterator[ConsoleTab]:
    """A fresh context (no cookies) and a page on the console; no script error may happen in it."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US", timezone_id="Asia/Tokyo")
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", request.node.name).strip("-")
    tab = ConsoleTab(page, stack.api, credentials, name)
    tab.watch()
    try:
        yield tab
        assert tab.errors == [], f"script errors in the console: {tab.errors}"
        assert tab.dialogs == [], f"the page opened dialogs: {tab.dialogs}"
    finally:
        context.close()
