"""Issue 16.1 and 16.2, the operator's side of a whole story on `make run`: every line
the stack writes (stdout and stderr together) is captured while a customer and a
manager go through boot, chat, event, a login that unifies, a manager's reply and
edit, and a webhook delivery, with distinctive personal values and secrets.

None of those values appears anywhere in the output (nor a query string), and the
app's own lines are JSON with the promised fields: one per request, one per step of
the unification, the deferred run, the webhook delivery, and EMF metrics whose names
are the ones infra/observability.py alarms on and charts.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from e2e.conftest import Http, Reply, free_port, stop

from infra.observability import METRICS, NAMESPACE

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class Secrets:
    access_key: str
    access_secret: str
    plugin_key: str
    member_hash_secret: str

    def member_hash(self, member_id: str) -> str:
        return hmac.new(self.member_hash_secret.encode(), member_id.encode(), hashlib.sha256).hexdigest()

    @property
    def admin_headers(self) -> dict[str, str]:
        return {"X-Access-Key": self.access_key, "X-Access-Secret": self.access_secret}

    @property
    def plugin_headers(self) -> dict[str, str]:
        return {"X-Plugin-Key": self.plugin_key}


# Distinctive values: none of them may show in any line the stack writes.
NAME = "Zyxwvuta Quentinova"
NEW_NAME = "Yqqbrzt Mallowgrave"
PHONE = "090-4817-2639"
PHONE_FORMS = ("+819048172639", "09048172639", "090-4817-2639", "9048172639")
EMAIL = "zq.unique-7f3a@example.org"
NEW_EMAIL = "mallow.92xq@example.net"
CHAT_TEXT = "my parcel code is PX-7781-QQ"
REPLY_TEXT = "Parcel PX-7781-QQ leaves tomorrow"
MANAGER = "Hollowbrook Manager"
COUPON = "SECRETCOUPON-9931"
BAD_PHONE = "not-a-phone-Quentinova"


@dataclass
class Receiver:
    """A webhook subscriber on loopback: remembers what it was sent."""

    port: int
    bodies: list[bytes]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    bodies: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            bodies.append(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield Receiver(server.server_address[1], bodies)
    server.shutdown()


@dataclass
class Stack:
    process: subprocess.Popen[bytes]
    log: Path
    http: Http


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[Stack, Secrets]]:
    keys = Secrets(
        access_key=f"ak-{secrets.token_hex(8)}",
        access_secret=f"as-{secrets.token_hex(12)}",
        plugin_key=f"pk-{secrets.token_hex(8)}",
        member_hash_secret=f"mhs-{secrets.token_hex(12)}",
    )
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DYNAMODB_", "POWERTOOLS_"))}
    env.update(
        {
            "PORT": str(port),
            "DEMO_PORT": str(free_port()),
            "ACCESS_KEY": keys.access_key,
            "ACCESS_SECRET": keys.access_secret,
            "PLUGIN_KEY": keys.plugin_key,
            "MEMBER_HASH_SECRET": keys.member_hash_secret,
            "SCHEDULE_INTERVAL_SECONDS": "1",
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": "us-east-1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    log = tmp_path / "stack.log"
    python = REPO / ".venv" / "bin" / "python"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(python if python.exists() else sys.executable), "-m", "chalicelib.local"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    http = Http(f"http://127.0.0.1:{port}", keys)  # type: ignore[arg-type]
    try:
        wait_for(lambda: healthy(process, http, log), 90, "the local stack to answer")
        yield Stack(process, log, http), keys
    finally:
        stop(process)


def healthy(process: subprocess.Popen[bytes], http: Http, log: Path) -> bool:
    if process.poll() is not None:
        pytest.fail(f"the local stack exited with {process.returncode}:\n{log.read_text(errors='replace')}")
    try:
        return http.call("GET", "/v1/health").status == 200
    except OSError:
        return False


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def ok(reply: Reply, status: int = 200) -> Any:
    assert reply.status == status, f"expected {status}, got {reply.status}: {reply.body}"
    return reply.body


def run_story(stack: Stack, keys: Secrets, receiver: Receiver) -> dict[str, str]:
    """The story; returns the secrets it was handed on the way (tokens, the webhook's secret)."""
    http = stack.http
    hook_token = f"hooktoken{secrets.token_hex(6)}"
    hook = ok(
        http.admin(
            "POST", "/v1/webhooks", {"url": f"http://127.0.0.1:{receiver.port}/in?token={hook_token}", "events": ["*"]}
        ),
        201,
    )["webhook"]
    member_id = f"m-{secrets.token_hex(5)}"
    profile = {"name": NAME, "mobileNumber": PHONE, "email": EMAIL}
    member = ok(http.admin("PUT", f"/v1/members/{member_id}", {"profile": profile}), 201)["user"]

    boot = ok(http.call("POST", "/v1/boot", {}, keys.plugin_headers))
    token = boot["sessionToken"]
    chat = ok(http.sdk(token, "POST", "/v1/session/chats", {"text": CHAT_TEXT}), 201)["chat"]
    event = {"name": "CouponApplied", "properties": {"coupon": COUPON}}
    ok(http.sdk(token, "POST", "/v1/session/events", event), 201)
    member_hash = keys.member_hash(member_id)
    login = ok(http.sdk(token, "POST", "/v1/session/login", {"memberId": member_id, "memberHash": member_hash}))
    unification_id = login["unification"]["id"]

    reply = {"text": REPLY_TEXT, "managerName": MANAGER}
    ok(http.admin("POST", f"/v1/chats/{chat['id']}/messages", reply), 201)
    edit = {"profile": {"name": NEW_NAME, "mobileNumber": PHONE, "email": NEW_EMAIL}}
    ok(http.admin("PUT", f"/v1/members/{member_id}", edit))
    # Personal data in a query string, and in a body the service refuses.
    ok(http.admin("GET", "/v1/users?" + urllib.parse.urlencode({"email": EMAIL})))
    refused = http.admin("POST", "/v1/users", {"profile": {"name": NAME, "mobileNumber": BAD_PHONE}})
    assert refused.status == 400, refused

    wait_for(
        lambda: ok(http.admin("GET", f"/v1/unifications/{unification_id}"))["unification"]["status"] == "completed",
        60,
        "the unification to complete",
    )
    wait_for(lambda: len(receiver.bodies) >= 1, 60, "a webhook delivery")
    # a whole schedule tick: its log line, then its metrics, flushed as the tick ends
    wait_for(lambda: '"DeferredWaiting"' in stack.log.read_text(errors="replace"), 30, "a schedule tick's metrics")
    assert member["id"] == login["user"]["id"]
    return {
        "sessionToken": token,
        "veilId": boot["veilId"],
        "memberHash": member_hash,
        "webhookSecret": hook["secret"],
        "webhookUrlToken": hook_token,
        "unificationId": unification_id,
        "memberId": member_id,
        "memberUserId": member["id"],
    }


def json_lines(text: str) -> list[dict[str, Any]]:
    found = []
    for line in text.splitlines():
        if line.startswith("{"):
            found.append(json.loads(line))
    return found


def test_a_story_logs_what_an_operator_needs_and_no_personal_data(
    stack: tuple[Stack, Secrets], receiver: Receiver
) -> None:
    local, keys = stack
    handed = run_story(local, keys, receiver)
    stop(local.process)  # everything written, then read
    output = local.log.read_text(errors="replace")
    lines = json_lines(output)

    # No personal value, secret or token anywhere in the output, in any spelling.
    personal = [NAME, NEW_NAME, *PHONE_FORMS, EMAIL, NEW_EMAIL, CHAT_TEXT, REPLY_TEXT, MANAGER, COUPON, BAD_PHONE]
    personal += ["Quentinova", "Mallowgrave", "PX-7781-QQ", "Hollowbrook"]
    credentials = [keys.access_key, keys.access_secret, keys.plugin_key, keys.member_hash_secret]
    tokens = [handed[k] for k in ("sessionToken", "veilId", "memberHash", "webhookSecret", "webhookUrlToken")]
    lowered = output.lower()
    for value in [*personal, *credentials, *tokens]:
        for form in {value, urllib.parse.quote(value), urllib.parse.quote_plus(value), json.dumps(value)[1:-1]}:
            assert form.lower() not in lowered, f"{value!r} is in the stack's output"
    assert 'HTTP/1.1"' not in output, "an access line (with its query string) was written"
    assert "?" not in "".join(str(line.get("route")) for line in lines if line.get("message") == "request")

    # One line per request: route template, method, status, error code, latency, request id, ids.
    requests = [line for line in lines if line.get("message") == "request"]
    assert requests, output
    for line in requests:
        assert {"route", "method", "status", "latencyMs", "requestId", "service", "timestamp"} <= set(line), line
        assert line["service"] == "unification"
    member_lines = [r for r in requests if r["route"] == "/v1/members/{member_id}"]
    assert {r["memberId"] for r in member_lines} == {handed["memberId"]}
    assert any(r["route"] == "/v1/session/login" and r["status"] == 200 for r in requests)
    bad = [r for r in requests if r["route"] == "/v1/users" and r["method"] == "POST"]
    assert [(r["status"], r["errorCode"]) for r in bad] == [(400, "invalid_request")]
    assert any(
        r["route"] == "/v1/unifications/{unification_id}" and r["unificationId"] == handed["unificationId"]
        for r in requests
    )

    # The unification's steps, each once, with its trigger and counts.
    steps = [line for line in lines if line.get("unificationId") == handed["unificationId"] and "route" not in line]
    messages = [s["message"] for s in steps]
    assert messages[0] == "unification committed" and messages[-1] == "unification completed", messages
    assert messages.count("unification committed") == 1 and messages.count("unification completed") == 1
    committed, completed = steps[0], steps[-1]
    assert (committed["trigger"], committed["total"]) == ("login", 2)
    assert (completed["moved"], completed["total"]) == (2, 2) and completed["moveLagMs"] >= 0
    assert any(line.get("message") == "deferred unifications checked" for line in lines)

    # Webhook deliveries, by ids and statuses only.
    deliveries = [line for line in lines if line.get("message") == "webhook delivery"]
    assert deliveries and all(d["deliveryStatus"] == "delivered" and d["statusCode"] == 204 for d in deliveries)
    assert {d["event"] for d in deliveries} >= {"unification.completed"}

    # EMF metrics, in the namespace and with the dimensions the alarms and dashboard read.
    emf = [line for line in lines if "_aws" in line]
    published: dict[str, set[tuple[str, ...]]] = {}
    for blob in emf:
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == NAMESPACE
            for metric in directive["Metrics"]:
                dims = tuple(sorted(d for dset in directive["Dimensions"] for d in dset))
                published.setdefault(metric["Name"], set()).add(dims)
        assert blob["service"] == "unification"
    known = {m.name: m for m in METRICS}
    assert set(published) <= set(known), set(published) - set(known)
    for name, dimension_sets in published.items():
        wanted = tuple(sorted(["service", *([known[name].dimension] if known[name].dimension else [])]))
        assert dimension_sets == {wanted}, (name, dimension_sets)
    assert {"Answers", "UnificationsCommitted", "UnificationsEnded", "MoveLag", "DeferredWaiting"} <= set(published)
    answers = [b for b in emf if "Answers" in b]
    assert {b["statusClass"] for b in answers} == {"2xx", "4xx"}
    assert sum(b["Answers"] if isinstance(b["Answers"], (int, float)) else sum(b["Answers"]) for b in answers) == len(
        requests
    )
    print("sample:\n" + "\n".join(json.dumps(line) for line in lines[-40:]))
