"""Helpers for the integration layer: a controllable clock, an API driver over
`chalice.test.Client`, and whole-table snapshots to prove a refused call changed nothing."""

from __future__ import annotations

import contextlib
import itertools
import json
import secrets
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from chalice.test import Client

if TYPE_CHECKING:  # the class lives in tests/conftest.py; fixtures hand out its instances
    from conftest import Credentials

START = datetime(2026, 11, 28, 17, 0, 0, tzinfo=UTC)


class FakeClock:
    """The service's clock, moved by the test.

    Every reading advances one millisecond, so ids and `updatedAt`s stay
    strictly ordered as they are with the real clock; `advance` jumps ahead
    (session ends, R4.1).
    """

    def __init__(self, start: datetime = START) -> None:
        self.moment = start
        self._ids = itertools.count(1)

    def now(self) -> datetime:
        self.moment += timedelta(milliseconds=1)
        return self.moment

    def advance(self, seconds: float) -> None:
        self.moment += timedelta(seconds=seconds)

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):010d}{secrets.token_hex(6)}"


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any

    @property
    def error(self) -> dict[str, Any]:
        assert isinstance(self.body, dict) and isinstance(self.body.get("error"), dict), f"not an error body: {self}"
        error: dict[str, Any] = self.body["error"]
        return error

    @property
    def code(self) -> str | None:
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            return str(self.body["error"].get("code"))
        return None


def ok(reply: Reply, status: int | tuple[int, ...] = 200) -> Any:
    """The body of a reply that must have succeeded with `status`."""
    wanted = (status,) if isinstance(status, int) else status
    assert reply.status in wanted, f"expected {wanted}, got {reply.status}: {reply.body}"
    return reply.body


def refused(reply: Reply, status: int, code: str) -> dict[str, Any]:
    """The contract's error body (API.md conventions) with this status and code."""
    assert reply.status == status, f"expected {status} {code}, got {reply.status}: {reply.body}"
    assert set(reply.body) == {"error"}, f"error bodies have only `error`: {reply.body}"
    error = reply.error
    assert error.get("code") == code, f"expected code {code}: {reply.body}"
    assert isinstance(error.get("message"), str) and error["message"], f"error needs a message: {reply.body}"
    return error


def refused_all(cases: dict[str, Callable[[], Reply]], status: int, code: str) -> None:
    """Each case (a call) is refused with `status` and `code`; reports every case that is not."""
    failures = []
    for name, call in cases.items():
        try:
            refused(call(), status, code)
        except AssertionError as failure:
            failures.append(f"{name}: {failure}")
    assert not failures, f"{len(failures)} of {len(cases)} not refused:\n" + "\n".join(failures)


def quote(value: str) -> str:
    return urllib.parse.quote(value, safe="")


@dataclass
class Visitor:
    """A device's session as the SDK holds it."""

    veil_id: str
    token: str
    user: dict[str, Any]

    @property
    def user_id(self) -> str:
        return str(self.user["id"])


class Api:
    """The HTTP contract, spoken through Chalice's in-process gateway."""

    def __init__(self, client: Client, credentials: Credentials) -> None:
        self.client = client
        self.credentials = credentials

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> Reply:
        sent = {"Content-Type": "application/json", **(headers or {})}
        data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        response = self.client.http.request(method, path, headers=sent, body=data)
        try:
            parsed = json.loads(response.body) if response.body else None
        except ValueError:
            parsed = None
        return Reply(response.status_code, parsed)

    # Open API --------------------------------------------------------------

    def admin(self, method: str, path: str, body: Any = None, raw: bytes | None = None) -> Reply:
        return self.call(method, path, body, headers=self.credentials.admin_headers, raw=raw)

    def put_member(self, member_id: str, profile: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
        user: dict[str, Any] = ok(
            self.admin("PUT", f"/v1/members/{quote(member_id)}", {"profile": profile or {}, **extra}), (200, 201)
        )["user"]
        return user

    def create_lead(self, profile: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = ok(self.admin("POST", "/v1/users", {"profile": profile}), 201)
        return body

    def get_user(self, user_id: str, resolve: bool = True) -> dict[str, Any]:
        query = "" if resolve else "?resolve=false"
        body: dict[str, Any] = ok(self.admin("GET", f"/v1/users/{quote(user_id)}{query}"))
        return body

    def walk(self, path: str, key: str, limit: int = 1) -> list[dict[str, Any]]:
        """Every item of a list endpoint, following `nextCursor` `limit` items at a time."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(1000):
            sep = "&" if "?" in path else "?"
            query = f"{sep}limit={limit}" + (f"&cursor={quote(cursor)}" if cursor else "")
            body = ok(self.admin("GET", path + query))
            assert len(body[key]) <= limit, f"a page holds at most `limit` items: {body}"
            items += body[key]
            cursor = body["nextCursor"]
            if cursor is None:
                return items
        raise AssertionError(f"{path} never stopped handing out cursors")

    def chats_of(self, user_id: str) -> list[dict[str, Any]]:
        chats: list[dict[str, Any]] = ok(self.admin("GET", f"/v1/users/{quote(user_id)}/chats"))["chats"]
        return chats

    def events_of(self, user_id: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = ok(self.admin("GET", f"/v1/users/{quote(user_id)}/events"))["events"]
        return events

    def deliveries_of(self, user_id: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = ok(self.admin("GET", f"/v1/users/{quote(user_id)}/marketing-deliveries"))[
            "deliveries"
        ]
        return found

    # SDK side ----------------------------------------------------------------

    def boot(
        self,
        veil_id: str | None = None,
        member_id: str | None = None,
        profile: dict[str, Any] | None = None,
        member_hash: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        body: dict[str, Any] = {}
        if veil_id is not None:
            body["veilId"] = veil_id
        if member_id is not None:
            body["memberId"] = member_id
            body["memberHash"] = member_hash or self.credentials.member_hash(member_id)
        if profile is not None:
            body["profile"] = profile
        sent = self.credentials.plugin_headers if headers is None else headers
        return self.call("POST", "/v1/boot", body, headers=sent)

    def visit(
        self, veil_id: str | None = None, profile: dict[str, Any] | None = None, member_id: str | None = None
    ) -> Visitor:
        body = ok(self.boot(veil_id=veil_id, profile=profile, member_id=member_id))
        return Visitor(veil_id=body["veilId"], token=body["sessionToken"], user=body["user"])

    def session(self, token: str, method: str, path: str, body: Any = None, raw: bytes | None = None) -> Reply:
        return self.call(method, path, body, headers={"Authorization": f"Bearer {token}"}, raw=raw)

    def chat(self, visitor: Visitor, text: str = "hello") -> dict[str, Any]:
        started: dict[str, Any] = ok(self.session(visitor.token, "POST", "/v1/session/chats", {"text": text}), 201)
        return started

    def say(self, visitor: Visitor, chat_id: str, text: str) -> dict[str, Any]:
        message: dict[str, Any] = ok(
            self.session(visitor.token, "POST", f"/v1/session/chats/{chat_id}/messages", {"text": text}), 201
        )["message"]
        return message

    def track(self, visitor: Visitor, name: str, properties: dict[str, Any] | None = None) -> dict[str, Any]:
        event: dict[str, Any] = ok(
            self.session(visitor.token, "POST", "/v1/session/events", {"name": name, "properties": properties or {}}),
            201,
        )["event"]
        return event

    def login(self, visitor: Visitor, member_id: str, profile: dict[str, Any] | None = None) -> Reply:
        body: dict[str, Any] = {"memberId": member_id, "memberHash": self.credentials.member_hash(member_id)}
        if profile is not None:
            body["profile"] = profile
        return self.session(visitor.token, "POST", "/v1/session/login", body)


# the table itself -------------------------------------------------------------

# Touching a session is activity (R4.1), so a refused call made with a valid
# token may move the session's expiry; nothing else may change.
ACTIVITY_ATTRIBUTES = frozenset({"expiresAt", "ttl"})


class Table:
    """Reads the whole table behind the service's back (tests only: a Scan)."""

    def __init__(self, client: Any, name: str) -> None:
        self.client = client
        self.name = name

    def items(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for page in self.client.get_paginator("scan").paginate(TableName=self.name, ConsistentRead=True):
            found += page["Items"]
        return found

    def snapshot(self, ignore_activity: bool = False) -> dict[tuple[str, str], dict[str, Any]]:
        state = {}
        for item in self.items():
            key = (item["PK"]["S"], item["SK"]["S"])
            if ignore_activity and key[1] == "#DEVICE":
                item = {k: v for k, v in item.items() if k not in ACTIVITY_ATTRIBUTES}
            state[key] = item
        return state

    def count(self, pk_prefix: str, sk_prefix: str = "") -> int:
        return sum(1 for pk, sk in self.snapshot() if pk.startswith(pk_prefix) and sk.startswith(sk_prefix))

    @contextlib.contextmanager
    def unchanged(self, ignore_activity: bool = False) -> Iterator[None]:
        """Nothing in the table changes inside the block ("Nothing changes on a refused call")."""
        before = self.snapshot(ignore_activity)
        yield
        after = self.snapshot(ignore_activity)
        added = sorted(set(after) - set(before))
        removed = sorted(set(before) - set(after))
        changed = sorted(k for k in set(before) & set(after) if before[k] != after[k])
        assert not (added or removed or changed), f"state changed: added {added}, removed {removed}, changed {changed}"
