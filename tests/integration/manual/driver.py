"""Helpers for the manual-unification integration tests (issue 3).

An HTTP driver over `chalice.test.Client`, a clock the tests control, a
stream tap that feeds moto's real stream to the real stream handler (and
keeps every batch so it can be replayed), a DynamoDB client wrapper that makes
two threads take strict turns, and whole-table snapshots.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import json
import secrets
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from chalice.test import Client

import app
from chalicelib.local.pump import StreamPump

ACCESS_KEY = "manual-access-key"
ACCESS_SECRET = "manual-access-secret"
PLUGIN_KEY = "manual-plugin-key"
ADMIN = {"X-Access-Key": ACCESS_KEY, "X-Access-Secret": ACCESS_SECRET}
START = datetime(2026, 11, 28, 9, 0, 0, tzinfo=UTC)

# Keys of a Unification object (API.md, "Objects").
UNIFICATION_KEYS = {
    "id",
    "sourceUserId",
    "targetUserId",
    "targetMemberId",
    "trigger",
    "status",
    "matchedOn",
    "fieldDecisions",
    "progress",
    "reason",
    "createdAt",
    "approvedAt",
    "completedAt",
}

_numbers = itertools.count(1000)


def jp_mobile(prefix: str = "90") -> tuple[str, str, str]:
    """A fresh valid Japanese mobile number as (national `090-xxxx-xxxx`, spaced international, E.164)."""
    n = next(_numbers)
    subscriber = f"{(n % 8) + 2}{n:07d}"  # JP mobiles: 0[789]0 then a digit 1-9 and seven more
    e164 = f"+81{prefix}{subscriber}"
    national = f"0{prefix}-{subscriber[:4]}-{subscriber[4:]}"
    spaced = f"+81 {prefix} {subscriber[:4]} {subscriber[4:]}"
    return national, spaced, e164


def quote(value: str) -> str:
    return urllib.parse.quote(value, safe="")


class ManualClock:
    """The service's clock, moved by the test; thread-safe.

    Every reading advances one millisecond (the table keeps milliseconds), so
    "after the approval" is always strictly after, and ids stay time-ordered.
    """

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
        with self._lock:
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


def ok(reply: Reply, status: int | tuple[int, ...] = 200) -> Any:
    wanted = (status,) if isinstance(status, int) else status
    assert reply.status in wanted, f"expected {wanted}, got {reply.status}: {reply.body}"
    return reply.body


def refused(reply: Reply, status: int, code: str) -> dict[str, Any]:
    """The contract's error body with this status and code (API.md, conventions)."""
    assert reply.status == status, f"expected {status} {code}, got {reply.status}: {reply.body}"
    assert isinstance(reply.body, dict) and set(reply.body) == {"error"}, f"error bodies hold `error` only: {reply}"
    error: dict[str, Any] = reply.body["error"]
    assert error.get("code") == code, f"expected code {code}: {reply.body}"
    assert isinstance(error.get("message"), str) and error["message"], f"an error needs a message: {reply.body}"
    return error


@dataclass
class Visitor:
    veil_id: str
    token: str
    user: dict[str, Any]

    @property
    def user_id(self) -> str:
        return str(self.user["id"])


class ManualApi:
    """The HTTP contract, spoken through Chalice's in-process gateway."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
        content_type: str = "application/json",
    ) -> Reply:
        sent = {"Content-Type": content_type, **(headers or {})}
        data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        response = self.client.http.request(method, path, headers=sent, body=data)
        try:
            parsed = json.loads(response.body) if response.body else None
        except ValueError:
            parsed = None
        return Reply(response.status_code, parsed)

    # Open API ------------------------------------------------------------------

    def admin(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Reply:
        return self.call(method, path, body, headers=ADMIN, **kwargs)

    def member(self, member_id: str, profile: dict[str, Any] | None = None) -> dict[str, Any]:
        reply = self.admin("PUT", f"/v1/members/{quote(member_id)}", {"profile": profile or {}})
        user: dict[str, Any] = ok(reply, (200, 201))["user"]
        return user

    def create_lead(self, profile: dict[str, Any]) -> dict[str, Any]:
        """POST /v1/users: `{"user", "unificationCandidate"}`."""
        body: dict[str, Any] = ok(self.admin("POST", "/v1/users", {"profile": profile}), 201)
        return body

    def edit(self, user_id: str, profile: dict[str, Any]) -> dict[str, Any]:
        """A manager's PATCH: `{"user", "unificationCandidate"}`."""
        body: dict[str, Any] = ok(self.admin("PATCH", f"/v1/users/{quote(user_id)}", {"profile": profile}))
        return body

    def user(self, user_id: str, resolve: bool = True) -> dict[str, Any]:
        query = "" if resolve else "?resolve=false"
        body: dict[str, Any] = ok(self.admin("GET", f"/v1/users/{quote(user_id)}{query}"))
        return body

    def propose(self, source_id: str, target_id: str) -> Reply:
        return self.admin("POST", "/v1/unifications", {"sourceUserId": source_id, "targetUserId": target_id})

    def approve(self, unification_id: str) -> Reply:
        return self.admin("POST", f"/v1/unifications/{quote(unification_id)}/approve")

    def reject(self, unification_id: str) -> Reply:
        return self.admin("POST", f"/v1/unifications/{quote(unification_id)}/reject")

    def unification(self, unification_id: str) -> dict[str, Any]:
        found: dict[str, Any] = ok(self.admin("GET", f"/v1/unifications/{quote(unification_id)}"))["unification"]
        return found

    def walk(self, path: str, key: str, limit: int = 1) -> list[dict[str, Any]]:
        """Every item of a list endpoint, `limit` at a time, following `nextCursor`."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(500):
            sep = "&" if "?" in path else "?"
            query = f"{sep}limit={limit}" + (f"&cursor={quote(cursor)}" if cursor else "")
            body = ok(self.admin("GET", path + query))
            # API.md's envelope; `resolvedFrom` is this service's addition for unified users (R3.5).
            assert {key, "nextCursor"} <= set(body) <= {key, "nextCursor", "resolvedFrom"}, body
            assert len(body[key]) <= limit, f"a page holds at most `limit` items: {body}"
            items += body[key]
            cursor = body["nextCursor"]
            if cursor is None:
                return items
        raise AssertionError(f"{path} never stopped handing out cursors")

    def unifications_of(self, user_id: str, status: str | None = None) -> list[dict[str, Any]]:
        path = f"/v1/unifications?userId={quote(user_id)}" + (f"&status={status}" if status else "")
        return self.walk(path, "unifications", limit=100)

    def chats_of(self, user_id: str) -> list[dict[str, Any]]:
        return self.walk(f"/v1/users/{quote(user_id)}/chats", "chats", limit=100)

    def events_of(self, user_id: str) -> list[dict[str, Any]]:
        return self.walk(f"/v1/users/{quote(user_id)}/events", "events", limit=100)

    def deliveries_of(self, user_id: str) -> list[dict[str, Any]]:
        return self.walk(f"/v1/users/{quote(user_id)}/marketing-deliveries", "deliveries", limit=100)

    def deliver(self, user_id: str, campaign_id: str) -> Reply:
        return self.admin("POST", f"/v1/users/{quote(user_id)}/marketing-deliveries", {"campaignId": campaign_id})

    def search(self, field: str, value: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = ok(self.admin("GET", f"/v1/users?{field}={quote(value)}"))["users"]
        return found

    def messenger(
        self, channel: str, external_id: str, text: str, profile: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"externalId": external_id, "text": text}
        if profile is not None:
            body["profile"] = profile
        found: dict[str, Any] = ok(self.admin("POST", f"/v1/messengers/{channel}/messages", body), 201)
        return found

    def import_csv(self, data: bytes, content_type: str = "text/csv", auto_approve: bool = False) -> dict[str, Any]:
        path = "/v1/imports" + ("?autoApprove=true" if auto_approve else "")
        result: dict[str, Any] = ok(self.admin("POST", path, raw=data, content_type=content_type))["import"]
        return result

    # SDK side ---------------------------------------------------------------------

    def visit(
        self,
        veil_id: str | None = None,
        member_id: str | None = None,
        profile: dict[str, Any] | None = None,
    ) -> Visitor:
        body: dict[str, Any] = {}
        if veil_id is not None:
            body["veilId"] = veil_id
        if member_id is not None:
            body["memberId"] = member_id
        if profile is not None:
            body["profile"] = profile
        answer = ok(self.call("POST", "/v1/boot", body, headers={"X-Plugin-Key": PLUGIN_KEY}))
        return Visitor(veil_id=answer["veilId"], token=answer["sessionToken"], user=answer["user"])

    def session(self, visitor: Visitor, method: str, path: str, body: Any = None) -> Reply:
        return self.call(method, path, body, headers={"Authorization": f"Bearer {visitor.token}"})

    def chat(self, visitor: Visitor, text: str) -> dict[str, Any]:
        started: dict[str, Any] = ok(self.session(visitor, "POST", "/v1/session/chats", {"text": text}), 201)
        return started

    def track(self, visitor: Visitor, name: str) -> dict[str, Any]:
        event: dict[str, Any] = ok(
            self.session(visitor, "POST", "/v1/session/events", {"name": name, "properties": {}}), 201
        )["event"]
        return event

    def login(self, visitor: Visitor, member_id: str) -> dict[str, Any]:
        answer: dict[str, Any] = ok(self.session(visitor, "POST", "/v1/session/login", {"memberId": member_id}))
        return answer

    def web_lead(self, name: str | None = None, text: str = "hello") -> tuple[Visitor, dict[str, Any]]:
        """A visitor who opens a chat on the site, so a lead that has visited (R1.2)."""
        visitor = self.visit(profile={"name": name} if name else None)
        started = self.chat(visitor, text)
        return visitor, started


# the stream ---------------------------------------------------------------------------


class StreamTap:
    """moto's real stream read by the real pump; every batch is kept for replays.

    With `consume=False` the records are only collected (nothing is processed).
    """

    def __init__(self, streams_client: Any, stream_arn: str, consume: bool = True) -> None:
        self.batches: list[dict[str, Any]] = []
        self.consume = consume
        self.pump = StreamPump(streams_client, stream_arn, self._handle, idle_sleep=0.0, max_attempts=2)

    def _handle(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.batches.append(copy.deepcopy(event))
        if not self.consume:
            return {"batchItemFailures": []}
        result: dict[str, Any] = app.stream_consumer(event, context)
        return result

    def drain(self) -> int:
        handled = self.pump.drain()
        assert not self.pump.skipped, f"stream records kept failing: {self.pump.skipped}"
        return handled

    def replay(self) -> None:
        """Hand every batch seen so far to the handler again, as Lambda may (at least once)."""
        for event in list(self.batches):
            result = app.stream_consumer(copy.deepcopy(event), None)
            assert result == {"batchItemFailures": []}, f"a replayed batch failed: {result}"

    def records(self) -> list[dict[str, Any]]:
        """Every distinct stream record seen, in order."""
        seen: dict[str, dict[str, Any]] = {}
        for event in self.batches:
            for record in event["Records"]:
                seen.setdefault(record["dynamodb"]["SequenceNumber"], record)
        return list(seen.values())

    def status_changes(self, unification_id: str) -> list[tuple[str | None, str]]:
        """(old status, new status) of every write of this unification record that changed its status."""
        changes = []
        for record in self.records():
            body = record["dynamodb"]
            new = body.get("NewImage", {})
            if new.get("PK", {}).get("S") != f"UNIF#{unification_id}":
                continue
            old_status = body.get("OldImage", {}).get("status", {}).get("S")
            new_status = new["status"]["S"]
            if old_status != new_status:
                changes.append((old_status, new_status))
        return changes


# two threads taking turns on one DynamoDB client ------------------------------------------


class TurnTakingClient:
    """A boto3 client wrapper for overlap tests.

    All calls go through one lock (moto in-process is not built for threads);
    the enrolled threads additionally take strict turns, one call each, so two
    runs of a handler interleave call by call instead of one finishing first.
    """

    def __init__(self, client: Any) -> None:
        self._client = client
        self._cond = threading.Condition()
        self._players: list[int] = []
        self._done: set[int] = set()
        self._turn = 0
        self.log: list[tuple[int, str]] = []

    def enrol(self) -> None:
        with self._cond:
            self._players.append(threading.get_ident())

    def leave(self) -> None:
        with self._cond:
            self._done.add(threading.get_ident())
            self._pass_turn()
            self._cond.notify_all()

    def _pass_turn(self) -> None:
        for _ in range(len(self._players)):
            self._turn = (self._turn + 1) % len(self._players)
            if self._players[self._turn] not in self._done:
                return

    def _my_turn(self, me: int) -> bool:
        return self._players[self._turn] == me

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._client, name)
        if not callable(target):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            me = threading.get_ident()
            with self._cond:
                playing = me in self._players and me not in self._done
                if playing:
                    assert self._cond.wait_for(lambda: self._my_turn(me), timeout=30), "turn-taking deadlocked"
                try:
                    return target(*args, **kwargs)
                finally:
                    if playing:
                        self.log.append((me, name))
                        self._pass_turn()
                        self._cond.notify_all()

        return call

    def switches(self) -> int:
        """How often consecutive calls came from different enrolled threads."""
        return sum(1 for (a, _), (b, _) in itertools.pairwise(self.log) if a != b)


def run_together(count: int, work: Callable[[int], Any], client: TurnTakingClient) -> list[Any]:
    """Start `count` threads released together by a barrier; each runs `work(i)` taking turns on `client`."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def runner(i: int) -> None:
        client.enrol()
        try:
            barrier.wait(timeout=10)
            results[i] = work(i)
        except BaseException as exc:
            errors.append(exc)
        finally:
            client.leave()

    threads = [threading.Thread(target=runner, args=(i,), name=f"overlap-{i}") for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "an overlapping run never finished"
    assert not errors, f"an overlapping run failed: {errors!r}"
    return results


# the table ------------------------------------------------------------------------------


class TableView:
    """The whole table behind the service's back (tests only: a Scan)."""

    def __init__(self, client: Any, name: str) -> None:
        self.client = client
        self.name = name

    def snapshot(self) -> dict[tuple[str, str], dict[str, Any]]:
        state = {}
        for page in self.client.get_paginator("scan").paginate(TableName=self.name, ConsistentRead=True):
            for item in page["Items"]:
                state[(item["PK"]["S"], item["SK"]["S"])] = item
        return state

    def keys(self, pk: str, sk_prefix: str = "") -> list[str]:
        return sorted(sk for p, sk in self.snapshot() if p == pk and sk.startswith(sk_prefix))

    @contextlib.contextmanager
    def unchanged(self) -> Iterator[None]:
        """Nothing in the table changes inside the block (a refused call changes nothing)."""
        before = self.snapshot()
        yield
        after = self.snapshot()
        added = sorted(set(after) - set(before))
        removed = sorted(set(before) - set(after))
        changed = sorted(k for k in set(before) & set(after) if before[k] != after[k])
        assert not (added or removed or changed), f"state changed: added {added}, removed {removed}, changed {changed}"


# situations built through the public API only --------------------------------------------


@dataclass
class Pair:
    """A source user, the member it should go into, and their open unification."""

    source_id: str
    member: dict[str, Any]
    member_id: str
    unification: dict[str, Any]
    visitor: Visitor | None = None
    chat_id: str | None = None

    @property
    def id(self) -> str:
        return str(self.unification["id"])

    @property
    def target_id(self) -> str:
        return str(self.member["id"])


def web_lead_matching_member(api: ManualApi, member_id: str = "member-b", approve: bool = False) -> Pair:
    """Guide, deferred example: Lead A chats on the site, a manager sets A's phone to Member B's."""
    national, _, e164 = jp_mobile()
    member = api.member(member_id, {"name": "Member B", "mobileNumber": e164})
    visitor, started = api.web_lead("Lead A", "hello from A")
    edited = api.edit(visitor.user_id, {"mobileNumber": national})
    candidate = edited["unificationCandidate"]
    assert candidate is not None and candidate["status"] == "pending_approval", f"no candidate: {edited}"
    if approve:
        candidate = ok(api.approve(candidate["id"]))["unification"]
        assert candidate["status"] == "deferred", f"a lead that visited waits for the member's login: {candidate}"
    return Pair(visitor.user_id, member, member_id, candidate, visitor, started["chat"]["id"])


def api_lead_matching_member(api: ManualApi, member_id: str = "member-d") -> Pair:
    """Guide, immediate example: a lead created by the Open API sharing Member D's phone, with an email D lacks."""
    _, _, e164 = jp_mobile("80")
    member = api.member(member_id, {"name": "Member D", "mobileNumber": e164})
    created = api.create_lead({"name": "Lead C", "mobileNumber": e164, "email": f"lead-c-{member_id}@example.com"})
    candidate = created["unificationCandidate"]
    assert candidate is not None and candidate["status"] == "pending_approval", f"no candidate: {created}"
    return Pair(created["user"]["id"], member, member_id, candidate)
