"""Retries that never double a write (API.md, "Retries without duplicates"): a phone on a
train loses the answer of a write that the server made; the SDK sends the write again
with the same Idempotency-Key and the server answers the first answer again."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from playwright.sync_api import Request, Route, expect

from .conftest import Stack, Tab

if TYPE_CHECKING:
    from conftest import Credentials


@dataclass
class FirstAnswerLost:
    """Lets the first POST reach the server, then drops its answer; later ones pass."""

    attempts: list[dict[str, str]] = field(default_factory=list)
    first_status: int | None = None
    first_body: Any = None

    def __call__(self, route: Route) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        self.attempts.append(route.request.all_headers())
        if len(self.attempts) == 1:
            response = route.fetch()  # the server gets it and writes
            self.first_status, self.first_body = response.status, response.json()
            route.abort("connectionreset")  # …and the answer never comes back
        else:
            route.continue_()

    @property
    def keys(self) -> list[str | None]:
        return [headers.get("idempotency-key") for headers in self.attempts]


def path_of(stack: Stack, pattern: str) -> re.Pattern[str]:
    return re.compile(re.escape(stack.api) + pattern + r"$")


def only_dropped_answers(errors: list[str]) -> bool:
    """The console names the dropped answer; nothing else went wrong."""
    return [e for e in errors if "ERR_CONNECTION_RESET" not in e] == []


def assert_one_key_for_both(lost: FirstAnswerLost) -> None:
    assert len(lost.attempts) == 2, lost.attempts
    key = lost.keys[0]
    assert key and lost.keys == [key, key]
    assert 1 <= len(key) <= 255 and key.isascii() and key.isprintable()


def test_a_chat_whose_answer_was_lost_ends_with_exactly_one_message(stack: Stack, tab: Tab) -> None:
    tab.open_demo(stack.demo)
    user_id = tab.text("user-id")
    start = FirstAnswerLost()
    tab.page.route(path_of(stack, "/v1/session/chats"), start)

    tab.page.fill("#chat-text", "Is the iron teapot in stock?")
    tab.page.click("#chat-send")
    expect(tab.page.locator("#chat-history .message")).to_have_count(1)
    tab.shot("chat-sent-once")

    assert_one_key_for_both(start)
    assert start.first_status == 201
    [chat] = stack.open_api.chats(user_id)
    assert chat["id"] == start.first_body["chat"]["id"]  # the retry was answered with the first answer
    assert [m["text"] for m in chat["messages"]] == ["Is the iron teapot in stock?"]

    # A reply to that chat, its answer lost too: still once.
    reply = FirstAnswerLost()
    tab.page.route(path_of(stack, "/v1/session/chats/[^/]+/messages"), reply)
    tab.page.fill("#chat-text", "The 1.2 litre one, please.")
    tab.page.click("#chat-send")
    expect(tab.page.locator("#chat-history .message")).to_have_count(2)
    assert_one_key_for_both(reply)
    [chat] = stack.open_api.chats(user_id)
    assert [m["text"] for m in chat["messages"]] == ["Is the iron teapot in stock?", "The 1.2 litre one, please."]
    assert chat["messages"][1]["id"] == reply.first_body["message"]["id"]
    tab.shot("reply-sent-once")
    assert only_dropped_answers(tab.errors)


def test_an_event_whose_answer_was_lost_is_recorded_once(stack: Stack, tab: Tab) -> None:
    tab.open_demo(stack.demo)
    user_id = tab.text("user-id")
    lost = FirstAnswerLost()
    tab.page.route(path_of(stack, "/v1/session/events"), lost)

    tab.page.click(".product[data-sku='POT-03']")
    expect(tab.page.locator("#last-event")).to_contain_text("Viewed Iron teapot")
    tab.shot("event-recorded-once")

    assert_one_key_for_both(lost)
    first_id = lost.first_body["event"]["id"]
    assert f"(event {first_id})" in tab.text("last-event")
    events = stack.open_api.events(user_id)
    assert [(e["id"], e["name"], e["properties"]) for e in events] == [
        (first_id, "product_viewed", {"sku": "POT-03", "name": "Iron teapot"})
    ]
    assert only_dropped_answers(tab.errors)


def test_a_busy_answer_is_retried_after_the_pause_it_asks_for(stack: Stack, tab: Tab) -> None:
    tab.open_demo(stack.demo)
    user_id = tab.text("user-id")
    sent: list[tuple[float, str | None]] = []

    def busy_once(route: Route) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        sent.append((time.monotonic(), route.request.all_headers().get("idempotency-key")))
        if len(sent) > 1:
            route.continue_()
            return
        route.fulfill(
            status=503,
            # As the API answers it: a browser script may read Retry-After only when it is exposed.
            headers={
                "Retry-After": "1",
                "Access-Control-Allow-Origin": stack.demo,
                "Access-Control-Expose-Headers": "Retry-After",
            },
            content_type="application/json",
            body=json.dumps({"error": {"code": "unavailable", "message": "the store stayed busy"}}),
        )

    tab.page.route(path_of(stack, "/v1/session/events"), busy_once)
    tab.page.click(".product[data-sku='TEA-01']")
    expect(tab.page.locator("#last-event")).to_contain_text("Viewed Green tea")

    assert len(sent) == 2 and sent[0][1] == sent[1][1]
    assert sent[1][0] - sent[0][0] >= 0.9  # Retry-After: 1 was honoured (a lower bound, not a timing)
    assert [e["properties"]["sku"] for e in stack.open_api.events(user_id)] == ["TEA-01"]
    assert [e for e in tab.errors if "status of 503" not in e] == []


def test_a_refused_write_is_not_retried(stack: Stack, tab: Tab, credentials: Credentials) -> None:
    tab.open_demo(stack.demo)
    posts: list[Request] = []
    tab.page.on("request", lambda r: posts.append(r) if r.method == "POST" and "/v1/session/" in r.url else None)
    failure = tab.page.evaluate(
        """async (pluginKey) => {
            const sdk = Unification.create({ pluginKey });
            try {
                await sdk.track("x".repeat(201));
                return null;
            } catch (error) {
                return { name: error.name, status: error.status, code: error.code, isError: error instanceof Error };
            }
        }""",
        credentials.plugin_key,
    )
    assert failure == {"name": "UnificationError", "status": 400, "code": "invalid_request", "isError": True}
    assert [r.url.rsplit("/", 1)[-1] for r in posts] == ["events"]  # one attempt: a 400 is final
