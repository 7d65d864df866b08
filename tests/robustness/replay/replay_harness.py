"""The service under test, driven like its clients drive it, with a ledger of what it acknowledged.

HTTP goes through `chalice.test.Client` (the real `app.py`); the stream goes
through `ReplayingPump` into the real `app.stream_consumer`; schedules call
the real `app.finish_unifications`. Every 2xx that hands out a chat,
message, event, delivery or unification is written into the `Ledger` the
invariant checks against.
"""

from __future__ import annotations

import itertools
import json
import secrets
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from chalice.test import Client
from replay_invariants import Ledger, Summary, check_nothing_lost
from replay_pump import ReplayingPump

import app
from chalicelib import bootstrap
from chalicelib.local.stack import scheduled_event
from chalicelib.store.codec import from_wire

START = datetime(2026, 11, 28, 17, 0, 0, tzinfo=UTC)


class FakeClock:
    """The service's clock: every reading advances 1 ms (ids and times stay ordered); thread-safe."""

    def __init__(self, start: datetime = START) -> None:
        self.moment = start
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            self.moment += timedelta(milliseconds=1)
            return self.moment

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.moment += timedelta(seconds=seconds)

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):010d}{secrets.token_hex(6)}"


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any

    @property
    def code(self) -> str | None:
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            return str(self.body["error"].get("code"))
        return None

    def ok(self, *statuses: int) -> Any:
        wanted = statuses or (200,)
        assert self.status in wanted, f"expected {wanted}, got {self.status}: {self.body}"
        return self.body


@dataclass(frozen=True)
class Visitor:
    veil_id: str
    token: str
    user_id: str


def quote(value: str) -> str:
    return urllib.parse.quote(value, safe="")


@dataclass
class Harness:
    client: Client
    credentials: Any
    ddb: Any  # the test's own client: reads the table behind the service's back
    streams: Any
    table: str
    stream_arn: str
    seed: int = 0
    ledger: Ledger = field(default_factory=Ledger)
    handler: Callable[[dict[str, Any], Any], Any] = app.stream_consumer
    pump: ReplayingPump = field(init=False)

    def __post_init__(self) -> None:
        self.pump = ReplayingPump(self.streams, self.stream_arn, self._handle, seed=self.seed)

    def _handle(self, event: dict[str, Any], context: Any) -> Any:
        return self.handler(event, context)

    @property
    def container(self) -> bootstrap.Container:
        return bootstrap.container()

    # the World the invariant reads ---------------------------------------------------

    def get(self, path: str) -> tuple[int, Any]:
        reply = self.admin("GET", path)
        return reply.status, reply.body

    def table_items(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for page in self.ddb.get_paginator("scan").paginate(TableName=self.table, ConsistentRead=True):
            found += [from_wire(i) for i in page["Items"]]
        return found

    # HTTP -------------------------------------------------------------------------------

    def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None, raw: bytes | None = None
    ) -> Reply:
        sent = {"Content-Type": "application/json", **(headers or {})}
        data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        response = self.client.http.request(method, path, headers=sent, body=data)
        try:
            parsed = json.loads(response.body) if response.body else None
        except ValueError:
            parsed = None
        return Reply(response.status_code, parsed)

    def admin(self, method: str, path: str, body: Any = None, **kw: Any) -> Reply:
        return self.call(method, path, body, headers={**self.credentials.admin_headers, **kw.pop("headers", {})}, **kw)

    def session(self, visitor: Visitor, method: str, path: str, body: Any = None) -> Reply:
        return self.call(method, path, body, headers={"Authorization": f"Bearer {visitor.token}"})

    # scenario steps (each records what was acknowledged) -----------------------------------

    def member(self, member_id: str, profile: dict[str, Any] | None = None) -> str:
        body = self.admin("PUT", f"/v1/members/{quote(member_id)}", {"profile": profile or {}}).ok(200, 201)
        return str(body["user"]["id"])

    def visit(self, profile: dict[str, Any] | None = None, veil_id: str | None = None) -> Visitor:
        sent: dict[str, Any] = {}
        if profile is not None:
            sent["profile"] = profile
        if veil_id is not None:
            sent["veilId"] = veil_id
        body = self.call("POST", "/v1/boot", sent, headers=self.credentials.plugin_headers).ok()
        return Visitor(body["veilId"], body["sessionToken"], body["user"]["id"])

    def boot_member(self, member_id: str) -> Reply:
        """A member boots on a new device with memberId: a login (R5.1, R5.5)."""
        sent = {"memberId": member_id, "memberHash": self.credentials.member_hash(member_id)}
        return self.call("POST", "/v1/boot", sent, headers=self.credentials.plugin_headers)

    def chat(self, visitor: Visitor, text: str = "hello") -> str:
        body = self.session(visitor, "POST", "/v1/session/chats", {"text": text}).ok(201)
        chat, message = body["chat"], body["message"]
        self.ledger.chat(chat["id"], chat["userId"])
        self.ledger.message(message["id"], chat["id"], message["personId"])
        return str(chat["id"])

    def say(self, visitor: Visitor, chat_id: str, text: str = "more") -> str:
        message = self.session(visitor, "POST", f"/v1/session/chats/{chat_id}/messages", {"text": text}).ok(201)
        self.ledger.message(message["message"]["id"], chat_id, message["message"]["personId"])
        return str(message["message"]["id"])

    def reply_as_manager(self, chat_id: str, text: str = "how can I help?") -> str:
        body = self.admin("POST", f"/v1/chats/{chat_id}/messages", {"text": text, "managerName": "Sato"}).ok(201)
        self.ledger.message(body["message"]["id"], chat_id, body["message"]["personId"])
        return str(body["message"]["id"])

    def track(self, visitor: Visitor, name: str = "page_view") -> str:
        event = self.session(visitor, "POST", "/v1/session/events", {"name": name, "properties": {"n": 1}}).ok(201)
        self.ledger.event(event["event"]["id"], event["event"]["userId"])
        return str(event["event"]["id"])

    def event_for(self, user_id: str, name: str = "crm_event") -> Reply:
        reply = self.admin("POST", f"/v1/users/{quote(user_id)}/events", {"name": name, "properties": {}})
        if reply.status == 201:
            self.ledger.event(reply.body["event"]["id"], reply.body["event"]["userId"])
        return reply

    def deliver(self, user_id: str, campaign_id: str) -> Reply:
        reply = self.admin("POST", f"/v1/users/{quote(user_id)}/marketing-deliveries", {"campaignId": campaign_id})
        if reply.status == 201:
            self.ledger.delivery(reply.body["delivery"]["userId"], campaign_id)
        return reply

    def login(self, visitor: Visitor, member_id: str, profile: dict[str, Any] | None = None) -> Reply:
        sent: dict[str, Any] = {"memberId": member_id, "memberHash": self.credentials.member_hash(member_id)}
        if profile is not None:
            sent["profile"] = profile
        reply = self.session(visitor, "POST", "/v1/session/login", sent)
        if reply.status == 200 and reply.body.get("unification"):
            u = reply.body["unification"]
            self.ledger.unified(u["sourceUserId"], u["targetUserId"])
        return reply

    def edit(self, user_id: str, profile: dict[str, Any]) -> Reply:
        return self.admin("PATCH", f"/v1/users/{quote(user_id)}", {"profile": profile})

    def approve(self, unification_id: str) -> Reply:
        return self.admin("POST", f"/v1/unifications/{quote(unification_id)}/approve")

    def unification(self, unification_id: str) -> dict[str, Any]:
        body: dict[str, Any] = self.admin("GET", f"/v1/unifications/{quote(unification_id)}").ok()["unification"]
        return body

    def import_csv(self, text: str, auto_approve: bool) -> dict[str, Any]:
        path = "/v1/imports" + ("?autoApprove=true" if auto_approve else "")
        body: dict[str, Any] = self.admin(
            "POST", path, raw=text.encode(), headers={"Content-Type": "text/csv; charset=utf-8"}
        ).ok()["import"]
        return body

    def user(self, user_id: str, resolve: bool = True) -> dict[str, Any]:
        query = "" if resolve else "?resolve=false"
        body: dict[str, Any] = self.admin("GET", f"/v1/users/{quote(user_id)}{query}").ok()
        return body

    def member_id_of(self, member_id: str) -> str:
        return str(self.admin("GET", f"/v1/members/{quote(member_id)}").ok()["user"]["id"])

    # workers ------------------------------------------------------------------------------

    def drain(self) -> int:
        return self.pump.drain()

    def schedule(self) -> dict[str, Any]:
        result: dict[str, Any] = app.finish_unifications(scheduled_event(), None)
        return result

    def settle(self) -> None:
        """Streams drained and schedules run, twice over (a schedule's writes feed the stream)."""
        for _ in range(2):
            self.drain()
            self.schedule()
        self.drain()

    def check(self, **kwargs: Any) -> Summary:
        kwargs.setdefault("stream_records", list(self.pump.log.values()))
        return check_nothing_lost(self, self.ledger, **kwargs)
