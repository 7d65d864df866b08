"""Issue 14 (R12, API.md "Webhooks"): every committed state change yields one signed
message per subscribed webhook, made from the table's real stream; replays and
racing consumers make no second one; delivery retries a receiver that is down or
slow, gives up after 24 hours, and never posts to an internal address."""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any

import pytest

import app
from chalicelib import webhook_http
from chalicelib.local.pump import StreamPump
from chalicelib.local.stack import scheduled_event
from chalicelib.service import webhooks as webhook_cases

from .conftest import RecordingHandler, Service
from .receiver import Inline, Receiver, subscribe
from .support import Api, Visitor, ok, refused


def of_type(messages: list[dict[str, Any]], event: str) -> list[dict[str, Any]]:
    return [m for m in messages if m["type"] == event]


def test_subscriptions_show_their_secret_once_and_list_without_it(api: Api, receiver: Receiver) -> None:
    hook = subscribe(api, receiver.url, ["unification.completed"])
    assert hook["secret"].startswith("whsec_") and hook["events"] == ["unification.completed"]
    listed = ok(api.admin("GET", "/v1/webhooks"))["webhooks"]
    assert [w["id"] for w in listed] == [hook["id"]] and "secret" not in listed[0]
    assert hook["secret"] not in json.dumps(listed)
    assert ok(api.admin("GET", f"/v1/webhooks/{hook['id']}/deliveries")) == {"deliveries": [], "nextCursor": None}
    refused(api.admin("POST", "/v1/webhooks", {"url": receiver.url, "events": ["nope"]}), 400, "invalid_request")
    reply = api.admin("DELETE", f"/v1/webhooks/{hook['id']}")
    assert reply.status == 204
    refused(api.admin("DELETE", f"/v1/webhooks/{hook['id']}"), 404, "not_found")


def test_each_event_type_comes_from_its_real_trigger_signed_and_once(
    api: Api, service: Service, pump: StreamPump, receiver: Receiver, inline: Inline
) -> None:
    hook = subscribe(api, receiver.url)
    # a login that unifies (the visitor has a chat: the move runs from the stream)
    api.put_member("m-hooks", {"name": "Taro", "mobileNumber": "090-1234-5678"})
    visitor = api.visit()
    api.chat(visitor, "hello")
    login = ok(api.login(visitor, "m-hooks"))["unification"]
    # a manager edit that yields a candidate, approved: deferred until the member logs in, then completed
    lead: Visitor = api.visit()
    api.chat(lead, "hi")
    candidate = ok(api.admin("PATCH", f"/v1/users/{lead.user_id}", {"profile": {"mobileNumber": "09012345678"}}))[
        "unificationCandidate"
    ]
    ok(api.admin("POST", f"/v1/unifications/{candidate['id']}/approve"))
    pump.drain()
    api.visit(member_id="m-hooks")  # the member's next login runs it (R7.4)
    # a rejection, and a cancellation (R7.6: the source becomes a member itself)
    other = api.put_member("m-other", {"name": "Hanako"})
    rejected_lead, cancelled_lead = api.visit(), api.visit()
    for v in (rejected_lead, cancelled_lead):
        api.chat(v, "question")

    def propose(source: Visitor) -> dict[str, Any]:
        body = {"sourceUserId": source.user_id, "targetUserId": other["id"]}
        return ok(api.admin("POST", "/v1/unifications", body), 201)["unification"]

    rejected = propose(rejected_lead)
    ok(api.admin("POST", f"/v1/unifications/{rejected['id']}/reject"))
    cancelled = propose(cancelled_lead)
    ok(api.login(cancelled_lead, "m-brand-new"))  # converts in place (R5.2), which cancels its proposal
    pump.drain()
    pump.drain()

    messages = receiver.messages(hook["secret"])
    about = {
        "unification.completed": {login["id"], candidate["id"]},
        "unification.candidate_created": {candidate["id"], rejected["id"], cancelled["id"]},
        "unification.deferred": {candidate["id"]},
        "unification.rejected": {rejected["id"]},
        "unification.cancelled": {cancelled["id"]},
    }
    for event, ids in about.items():
        seen = [m["data"]["unification"]["id"] for m in of_type(messages, event)]
        assert sorted(seen) == sorted(ids), (event, seen)
    [converted] = of_type(messages, "user.converted")
    assert converted["data"]["user"]["id"] == cancelled_lead.user_id and converted["data"]["user"]["type"] == "member"
    assert len({m["webhook-id"] for m in messages}) == len(messages), "one message per change"
    body = json.dumps(messages)
    for secret in (hook["secret"], api.credentials.access_secret, api.credentials.access_key, visitor.token):
        assert secret not in body, "no secret, token or key in a payload"
    deliveries = api.walk(f"/v1/webhooks/{hook['id']}/deliveries", "deliveries", limit=3)
    assert len(deliveries) == len(messages) and {d["status"] for d in deliveries} == {"delivered"}
    assert [d["createdAt"] for d in deliveries] == sorted((d["createdAt"] for d in deliveries), reverse=True)


def test_replayed_batches_and_racing_consumers_make_no_second_message(
    api: Api, service: Service, pump: StreamPump, handler: RecordingHandler, receiver: Receiver, inline: Inline
) -> None:
    hook = subscribe(api, receiver.url, ["unification.completed", "unification.candidate_created"])
    api.put_member("m-replay", {"name": "Taro", "email": "taro@example.com"})
    for n in range(3):
        api.create_lead({"name": f"Lead {n}", "email": "taro@example.com"})  # candidates
        ok(api.login(api.visit(), "m-replay"))  # completed at once (no history)
    pump.drain()
    before = api.walk(f"/v1/webhooks/{hook['id']}/deliveries", "deliveries", limit=100)
    assert len(before) == 6
    for _ in range(3):
        for batch in handler.batches:
            assert app.stream_consumer(batch, None) == {"batchItemFailures": []}
    racers = [threading.Thread(target=app.stream_consumer, args=(batch, None)) for batch in handler.batches * 2]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join()
    after = api.walk(f"/v1/webhooks/{hook['id']}/deliveries", "deliveries", limit=100)
    assert sorted(d["id"] for d in after) == sorted(d["id"] for d in before)
    assert len(receiver.got) == 6, "each message posted once"


def test_a_receiver_down_for_a_while_gets_it_later_with_the_same_id(
    api: Api, service: Service, pump: StreamPump, receiver: Receiver, inline: Inline
) -> None:
    receiver.statuses = [503, 500, 502]  # down for three attempts
    hook = subscribe(api, receiver.url, ["unification.completed"])
    api.put_member("m-down", {"name": "Taro"})
    ok(api.login(api.visit(), "m-down"))
    pump.drain()  # attempts 1 and 2 (the second a few seconds after the first)
    [pending] = ok(api.admin("GET", f"/v1/webhooks/{hook['id']}/deliveries"))["deliveries"]
    assert pending["status"] == "pending" and pending["attempts"] == 2 and pending["lastStatusCode"] == 500
    service.clock.advance(61)  # the first retry is due within a minute
    assert ok(api.admin("GET", f"/v1/webhooks/{hook['id']}/deliveries"))["deliveries"][0]["nextAttemptAt"]
    app.retry_webhooks(scheduled_event(), None)  # attempt 3 (502): the schedule's retries are one attempt each
    [again] = ok(api.admin("GET", f"/v1/webhooks/{hook['id']}/deliveries"))["deliveries"]
    assert again["status"] == "pending" and again["attempts"] == 3 and again["lastStatusCode"] == 502
    service.clock.moment = _at(again["nextAttemptAt"])
    app.retry_webhooks(scheduled_event(), None)  # attempt 4 (200)
    [done] = ok(api.admin("GET", f"/v1/webhooks/{hook['id']}/deliveries"))["deliveries"]
    assert done["status"] == "delivered" and done["attempts"] == 4 and done["lastStatusCode"] == 200
    assert {r["headers"]["webhook-id"] for r in receiver.got} == {done["id"]}, "the same webhook-id every time"
    assert len(receiver.messages(hook["secret"])) == 4


def test_a_receiver_answering_after_15_seconds_is_a_timeout_and_is_retried(
    api: Api, service: Service, pump: StreamPump, receiver: Receiver, inline: Inline
) -> None:
    receiver.delay = 15.0
    hook = subscribe(api, receiver.url, ["unification.completed"])
    api.put_member("m-slow", {"name": "Taro"})
    ok(api.login(api.visit(), "m-slow"))
    started = time.monotonic()
    webhook = service.container.webhooks
    webhook.invoker = None  # one attempt by hand
    pump.drain()
    [ref] = service.store.due_messages(service.clock.now())
    attempt = webhook.attempt(ref)
    took = time.monotonic() - started
    assert attempt is not None and attempt.status == "pending" and attempt.last_error == "timed out"
    assert 9.5 <= took < 13, f"10 seconds in all: {took:.1f}"
    receiver.delay = 0.0
    service.clock.advance(61)
    assert webhook.attempt(ref).status == "delivered"  # type: ignore[union-attr]
    assert ok(api.admin("GET", f"/v1/webhooks/{hook['id']}/deliveries"))["deliveries"][0]["attempts"] == 2


def test_24_hours_of_failures_end_failed_and_a_deleted_webhook_gets_nothing_more(
    api: Api, service: Service, pump: StreamPump, inline: Inline
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{closed.getsockname()[1]}/hook"  # nobody listens
    hook = subscribe(api, dead, ["unification.completed"])
    api.put_member("m-dead", {"name": "Taro"})
    ok(api.login(api.visit(), "m-dead"))
    pump.drain()
    webhook = service.container.webhooks
    for _ in range(200):
        [delivery] = ok(api.admin("GET", f"/v1/webhooks/{hook['id']}/deliveries"))["deliveries"]
        if delivery["status"] != "pending":
            break
        service.clock.moment = max(service.clock.moment, _at(delivery["nextAttemptAt"]))
        webhook.retry_due()
    assert delivery["status"] == "failed" and 24 <= delivery["attempts"] <= 60, delivery
    # another change after an unsubscribe: nothing more for that webhook
    second = subscribe(api, dead, ["unification.completed"])
    ok(api.admin("DELETE", f"/v1/webhooks/{second['id']}"), 204)
    ok(api.login(api.visit(), "m-dead"))
    pump.drain()
    refused(api.admin("GET", f"/v1/webhooks/{second['id']}/deliveries"), 404, "not_found")


def _at(text: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# SSRF ----------------------------------------------------------------------------------------


@pytest.fixture
def deployed(service: Service) -> Service:
    service.configure(AWS_LAMBDA_FUNCTION_NAME="unification-test")
    return service


def fake_dns(monkeypatch: pytest.MonkeyPatch, answers: dict[str, str]) -> None:
    real = socket.getaddrinfo

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in answers:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], int(port)))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(webhook_http.socket, "getaddrinfo", getaddrinfo)


REFUSED_URLS = {
    "http-when-deployed": "http://hooks.example.com/hook",
    "loopback": "https://127.0.0.1/hook",
    "localhost": "https://localhost/hook",
    "private-10": "https://10.1.2.3/hook",
    "private-192": "https://192.168.0.10/hook",
    "link-local-metadata": "https://169.254.169.254/latest/meta-data",
    "ipv6-loopback": "https://[::1]/hook",
    "ipv4-mapped-loopback": "https://[::ffff:127.0.0.1]/hook",
    "unspecified": "https://0.0.0.0/hook",
    "cgnat": "https://100.64.0.1/hook",
    "resolves-private": "https://internal.example.com/hook",
    "does-not-resolve": "https://nowhere.invalid/hook",
    "credentials": "https://user:pw@hooks.example.com/hook",
    "not-http": "ftp://hooks.example.com/hook",
}


@pytest.mark.parametrize("url", REFUSED_URLS.values(), ids=REFUSED_URLS.keys())
def test_a_deployed_stage_refuses_webhook_urls_that_reach_inside(
    api: Api, deployed: Service, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    fake_dns(monkeypatch, {"hooks.example.com": "93.184.216.34", "internal.example.com": "10.0.0.7"})
    with deployed.table.unchanged():
        refused(api.admin("POST", "/v1/webhooks", {"url": url, "events": ["*"]}), 400, "invalid_request")


def test_dns_that_changes_after_subscribing_is_checked_again_at_delivery(
    api: Api, deployed: Service, pump: StreamPump, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webhook_cases, "SECOND_TRY_AFTER", (0.0, 0.0))
    deployed.container.webhooks.invoker = Inline(deployed)
    fake_dns(monkeypatch, {"hooks.example.com": "93.184.216.34"})
    hook = subscribe(api, "https://hooks.example.com/hook", ["unification.completed"])
    fake_dns(monkeypatch, {"hooks.example.com": "169.254.169.254"})  # rebound to the metadata service
    connects: list[Any] = []
    monkeypatch.setattr(webhook_http.socket.socket, "connect", lambda self, address: connects.append(address))
    api.put_member("m-rebind", {"name": "Taro"})
    ok(api.login(api.visit(), "m-rebind"))
    pump.drain()
    [delivery] = ok(api.admin("GET", f"/v1/webhooks/{hook['id']}/deliveries"))["deliveries"]
    assert delivery["status"] == "pending" and "internal address" in delivery["lastError"]
    assert connects == [], "nothing was connected to"
