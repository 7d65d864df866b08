"""Figure 1: DynamoDB requests per operation, against the data model's minimum."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .counting import Tally
from .meter import Usage
from .stack import Embedded, Failed, Service, phone, quote, seed_history


@dataclass
class Measured:
    """Requests of one operation (or, `per` > 1, of `per` operations or stream records)."""

    key: str
    tally: Tally
    per: int = 1
    detail: dict[str, Any] = field(default_factory=dict)
    usage: Usage | None = None  # what DynamoDB would bill (bench/meter.py)

    @property
    def requests(self) -> float:
        return self.tally.total / self.per

    def by_api(self) -> dict[str, float]:
        return {api: n / self.per for api, n in sorted(self.tally.calls.items())}


class Scenarios:
    """Each operation driven through the real app, its requests counted on the container's client."""

    def __init__(self, embedded: Embedded, service: Service) -> None:
        self.embedded = embedded
        self.service = service
        self.api = service.api
        self.results: list[Measured] = []
        self._members = 0

    def measure(self, key: str, operation: Callable[[], Any], per: int = 1, **detail: Any) -> Any:
        with self.service.log.window() as tally, self.embedded.ledger.window() as usage:
            answer = operation()
        self.results.append(Measured(key, tally, per, dict(detail), usage))
        return answer

    def member(self, prefix: str = "req") -> tuple[str, dict[str, Any], str]:
        self._members += 1
        n = self._members
        member_id = f"{prefix}-member-{n}"
        number = phone(50_000 + n)
        user = self.api.put_member(
            member_id, {"name": f"Member {n}", "mobileNumber": number, "email": f"{member_id}@example.org"}
        )
        return member_id, user, number

    # boot, session calls, logins ---------------------------------------------------

    def sessions(self) -> None:
        api = self.api
        first = self.measure("boot_new", lambda: api.boot())
        veil = first["veilId"]
        again = self.measure("boot_returning_live", lambda: api.boot(veil))
        if again["session"]["id"] != first["session"]["id"]:
            raise Failed("a boot in a live session must continue it")
        self.service.clock.advance(self.service.deps.settings.session_timeout_seconds + 1)
        later = self.measure("boot_returning_ended", lambda: api.boot(veil))
        if later["session"]["id"] == first["session"]["id"] or later["user"]["id"] != first["user"]["id"]:
            raise Failed("after the session ended the device's anonymous user must come back in a new session")
        token = later["sessionToken"]
        self.measure(
            "session_event",
            lambda: api.session(token, "/v1/session/events", {"name": "page_view", "properties": {"path": "/"}}).expect(
                201
            ),
        )
        chat = self.measure(
            "chat", lambda: api.session(token, "/v1/session/chats", {"text": "Is this in stock?"}).expect(201)
        )
        if chat["chat"]["userId"] != later["user"]["id"]:
            raise Failed(f"unexpected chat owner: {chat}")
        chat_id = chat["chat"]["id"]
        self.measure(
            "message",
            lambda: api.session(token, f"/v1/session/chats/{quote(chat_id)}/messages", {"text": "Size 42?"}).expect(
                201
            ),
        )
        visitor = api.boot()
        converted = self.measure(
            "login_converts",
            lambda: api.session(visitor["sessionToken"], "/v1/session/login", {"memberId": "req-new-member"}).expect(
                200
            ),
        )
        if converted["user"]["id"] != visitor["user"]["id"] or converted["unification"] is not None:
            raise Failed(f"a login with an unknown memberId converts the session's user: {converted}")

    def login_unifies(self, events: int) -> None:
        member_id, member, _ = self.member()
        visitor = self.api.boot()
        seed_history(self.embedded, self.service, visitor["user"]["id"], events)
        answer = self.measure(
            f"login_unifies_{events}",
            lambda: self.api.session(visitor["sessionToken"], "/v1/session/login", {"memberId": member_id}).expect(200),
            events=events,
        )
        if answer["user"]["id"] != member["id"] or (answer["unification"] or {}).get("status") != "running":
            raise Failed(f"the login must unify the visitor into the member at once: {answer}")

    # manual unification (R7) -----------------------------------------------------------

    def manager_edit_and_approve(self) -> None:
        api = self.api
        _, member, number = self.member()
        lead = api.admin("POST", "/v1/users", {"profile": {"name": "Walk-in"}}).expect(201)["user"]
        edited = self.measure(
            "manager_edit_candidate",
            lambda: api.admin("PATCH", f"/v1/users/{quote(lead['id'])}", {"profile": {"mobileNumber": number}}).expect(
                200
            ),
        )
        candidate = edited["unificationCandidate"]
        if not candidate or candidate["targetUserId"] != member["id"]:
            raise Failed(f"the edit must propose the member with that number: {edited}")
        approved = self.measure(
            "approve_immediate",
            lambda: api.admin("POST", f"/v1/unifications/{quote(candidate['id'])}/approve").expect(200),
        )
        # Unified at once: running, or completed as it commits when nothing is to move (R10).
        if approved["unification"]["status"] not in ("running", "completed"):
            raise Failed(f"a source that never visited is unified at once (R7.3): {approved}")

    def manager_edit_long_history(self, events: int, chats: int) -> None:
        """The candidate's preview counts what would move (issue 12): with a long history
        the edit must cost what it costs with none (one bounded read more at most)."""
        api = self.api
        _, member, number = self.member()
        lead = api.admin("POST", "/v1/users", {"profile": {"name": "Walk-in"}}).expect(201)["user"]
        seed_history(self.embedded, self.service, lead["id"], events, chats)
        edited = self.measure(
            "manager_edit_candidate_long_history",
            lambda: api.admin("PATCH", f"/v1/users/{quote(lead['id'])}", {"profile": {"mobileNumber": number}}).expect(
                200
            ),
            events=events,
            chats=chats,
        )
        if (edited["unificationCandidate"] or {}).get("targetUserId") != member["id"]:
            raise Failed(f"the edit must propose the member with that number: {edited}")

    # chat listings (issue 12) -------------------------------------------------------------

    def chat_listings(self, chats: int) -> None:
        """A page of `chats` chats, each with two messages, listed by the customer's own
        session and by the Open API: a constant number of requests, whatever the page holds."""
        api = self.api
        visitor = api.boot()
        token = visitor["sessionToken"]
        for n in range(chats):
            chat = api.session(token, "/v1/session/chats", {"text": f"Question {n}"}).expect(201)
            path = f"/v1/session/chats/{quote(chat['chat']['id'])}/messages"
            api.session(token, path, {"text": "And one more thing"}).expect(201)
        bearer = {"Authorization": f"Bearer {token}"}
        listed = self.measure(
            "session_chats_page",
            lambda: api.call("GET", f"/v1/session/chats?limit={chats}", None, bearer).expect(200),
            chats=chats,
        )
        if len(listed["chats"]) != chats:
            raise Failed(f"expected {chats} chats, got {len(listed['chats'])}")
        user_id = visitor["user"]["id"]
        listed = self.measure(
            "user_chats_page",
            lambda: api.admin("GET", f"/v1/users/{quote(user_id)}/chats?limit={chats}").expect(200),
            chats=chats,
        )
        if len(listed["chats"]) != chats:
            raise Failed(f"expected {chats} chats, got {len(listed['chats'])}")

    # CSV import (R8.2) ------------------------------------------------------------------

    def csv_rows(self, rows: int) -> None:
        api = self.api
        header = "memberId,name,mobileNumber,email\n"
        base = 100_000
        members = "".join(f"csv-m-{n},Member {n},{phone(base + n)},csv-m-{n}@example.org\n" for n in range(rows))
        result = self.measure("csv_row_member_new", lambda: api.import_csv(header + members), per=rows)
        self._check_import(result, members=rows)
        updates = "".join(f"csv-m-{n},Member {n} (renamed),,\n" for n in range(rows))
        result = self.measure("csv_row_member_update", lambda: api.import_csv(header + updates), per=rows)
        self._check_import(result, members=rows)
        leads = "".join(f",Lead {n},{phone(base + 10_000 + n)},csv-l-{n}@example.org\n" for n in range(rows))
        result = self.measure("csv_row_lead", lambda: api.import_csv(header + leads), per=rows)
        self._check_import(result, leads=rows)
        matching = "".join(f",Walk-in {n},{phone(base + n)},\n" for n in range(rows))
        result = self.measure("csv_row_lead_matching", lambda: api.import_csv(header + matching), per=rows)
        self._check_import(result, leads=rows, candidates=rows)

    @staticmethod
    def _check_import(result: dict[str, Any], members: int = 0, leads: int = 0, candidates: int = 0) -> None:
        got = (result["members"], result["leads"], len(result["candidates"]), len(result["errors"]))
        if got != (members, leads, candidates, 0):
            raise Failed(f"import: expected {(members, leads, candidates, 0)}, got {got}: {result['errors'][:3]}")


# stream records -------------------------------------------------------------------------


def record_kind(record: dict[str, Any]) -> str:
    """`unification MODIFY running`, `event INSERT`, ... for the per-record breakdown."""
    from chalicelib.store.streams import decode_records

    return decoded_kind(decode_records({"Records": [record]})[0])


def decoded_kind(record: Any) -> str:
    """`record_kind` of a record as the consumer sees it (`store.streams.StreamRecord`)."""
    label = f"{record.kind or '?'} {record.event_name or '?'}"
    if record.kind == "unification" and record.new_image is not None:
        label += " " + str(record.new_image.get("status", "?"))
    return label


@dataclass
class StreamStats:
    records: Counter[str] = field(default_factory=Counter)
    tallies: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    seconds: float = 0.0
    usage: Usage | None = None

    @property
    def total(self) -> Tally:
        total = Tally()
        for tally in self.tallies.values():
            total.add(tally)
        return total


class CountingConsumer:
    """The real stream handler, handed each batch as the pump reads it; the requests
    of each record are attributed to it by wrapping the consumer's per-record step
    (a record the handler skips, superseded by a later image in its batch, costs
    nothing and counts as handled)."""

    def __init__(self, service: Service) -> None:
        import app

        self.handler = app.stream_consumer
        self.service = service
        self.stats = StreamStats()
        consumers = service.container.consumers
        step = consumers.handle_record

        def counted(record: Any, batch: Any = None) -> None:
            kind = decoded_kind(record)
            with self.service.log.window() as tally:
                step(record, batch)
            self.stats.tallies[kind].add(tally)

        consumers.handle_record = counted  # type: ignore[method-assign]

    def take(self) -> StreamStats:
        """What was handled since the last `take`."""
        stats, self.stats = self.stats, StreamStats()
        return stats

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        started = time.perf_counter()
        result: dict[str, Any] = self.handler(event, context) or {"batchItemFailures": []}
        self.stats.seconds += time.perf_counter() - started
        failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        for record in event["Records"]:
            if record["dynamodb"]["SequenceNumber"] not in failed:
                self.stats.records[record_kind(record)] += 1
        return result


def stream_pump(embedded: Embedded, service: Service, consumer: CountingConsumer) -> Any:
    import boto3
    from botocore.config import Config

    from chalicelib.local.pump import StreamPump

    streams = boto3.client(
        "dynamodbstreams",
        region_name=embedded.settings.region,
        endpoint_url=embedded.url,
        config=Config(account_id_endpoint_mode="disabled"),
    )
    arn = embedded.raw.describe_table(TableName=service.table)["Table"]["LatestStreamArn"]
    return StreamPump(streams, arn, consumer)


def stream_records(embedded: Embedded, scenarios: Scenarios) -> dict[str, StreamStats]:
    """Drain the table's stream after an operation; requests ÷ records handled."""
    service, api = scenarios.service, scenarios.api
    consumer = CountingConsumer(service)
    pump = stream_pump(embedded, service, consumer)
    pump.drain()  # what earlier figures left on this table's stream
    consumer.take()
    out: dict[str, StreamStats] = {}

    # A visitor's session: boot, event, chat, message, login as a new member.
    visitor = api.boot()
    token = visitor["sessionToken"]
    api.session(token, "/v1/session/events", {"name": "page_view", "properties": {}}).expect(201)
    chat = api.session(token, "/v1/session/chats", {"text": "hello"}).expect(201)
    api.session(token, f"/v1/session/chats/{quote(chat['chat']['id'])}/messages", {"text": "again"}).expect(201)
    api.session(token, "/v1/session/login", {"memberId": "stream-new-member"}).expect(200)
    out["stream_session"] = _drain(embedded, pump, consumer)

    # A login that unifies a lead with 10 events and a chat: the history move runs from the stream.
    member_id, _, _ = scenarios.member("stream")
    visitor = api.boot()
    api.session(visitor["sessionToken"], "/v1/session/chats", {"text": "hello"}).expect(201)
    seed_history(embedded, service, visitor["user"]["id"], 10)
    pump.drain()
    consumer.take()
    login = api.session(visitor["sessionToken"], "/v1/session/login", {"memberId": member_id}).expect(200)
    out["stream_unify_move"] = _drain(embedded, pump, consumer)
    _expect_completed(api, login["unification"]["id"])

    # Approve a visited lead (deferred, R7.3), then the member logs in (R7.4): completion from the stream.
    member_id, _, number = scenarios.member("stream")
    visitor = api.boot()
    api.session(visitor["sessionToken"], "/v1/session/chats", {"text": "hello"}).expect(201)
    edited = api.admin(
        "PATCH", f"/v1/users/{quote(visitor['user']['id'])}", {"profile": {"mobileNumber": number}}
    ).expect(200)
    unification_id = edited["unificationCandidate"]["id"]
    approved = api.admin("POST", f"/v1/unifications/{quote(unification_id)}/approve").expect(200)
    if approved["unification"]["status"] != "deferred":
        raise Failed(f"a visited source's approval is deferred (R7.3): {approved}")
    pump.drain()
    consumer.take()
    api.boot(member_id=member_id)
    out["stream_deferred_login"] = _drain(embedded, pump, consumer)
    _expect_completed(api, unification_id)
    return out


def _drain(embedded: Embedded, pump: Any, consumer: CountingConsumer) -> StreamStats:
    with embedded.ledger.window() as usage:
        pump.drain()
    stats = consumer.take()
    stats.usage = usage
    return stats


def _expect_completed(api: Any, unification_id: str) -> None:
    record = api.admin("GET", f"/v1/unifications/{quote(unification_id)}").expect(200)["unification"]
    if record["status"] != "completed":
        raise Failed(f"the stream should have completed {unification_id}: {record['status']}")


def session_event_latency(embedded: Embedded, service: Service, samples: int) -> dict[str, float]:
    """POST /v1/session/events in this process (Chalice's gateway, no socket): medians of
    the whole call, of its DynamoDB calls as the client sees them, and of moto's share."""
    import statistics

    token = service.api.boot()["sessionToken"]
    body = {"name": "page_view", "properties": {"path": "/products/42", "referrer": "https://example.com/"}}
    runs = []
    for n in range(samples + 5):
        with service.log.window() as client, embedded.server_clock.window() as inside:
            started = time.perf_counter()
            service.api.session(token, "/v1/session/events", body).expect(201)
            elapsed = time.perf_counter() - started
        if n >= 5:
            runs.append((elapsed, client.total_seconds, inside.total_seconds))
    return {
        "total_ms": round(statistics.median(r[0] for r in runs) * 1000, 2),
        "dynamodb_client_ms": round(statistics.median(r[1] for r in runs) * 1000, 2),
        "inside_moto_ms": round(statistics.median(r[2] for r in runs) * 1000, 2),
    }


def run(embedded: Embedded, csv_rows: int = 50) -> tuple[list[Measured], dict[str, StreamStats], dict[str, float]]:
    service = embedded.service("bench_requests")
    scenarios = Scenarios(embedded, service)
    scenarios.sessions()
    scenarios.login_unifies(10)
    scenarios.login_unifies(1000)
    scenarios.manager_edit_and_approve()
    scenarios.manager_edit_long_history(events=300, chats=50)
    scenarios.chat_listings(chats=20)
    scenarios.csv_rows(csv_rows)
    streams = stream_records(embedded, scenarios)
    for key, stats in streams.items():
        scenarios.results.append(
            Measured(
                key,
                stats.total,
                per=max(1, sum(stats.records.values())),
                detail={"records": dict(stats.records)},
                usage=stats.usage,
            )
        )
    return scenarios.results, streams, session_event_latency(embedded, service, samples=50)
