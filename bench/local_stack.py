"""Figures 5 and 7 on the local stack as `make run` starts it (`python -m chalicelib.local`
in a subprocess: Chalice's local server, embedded moto, stream pump, scheduler)."""

from __future__ import annotations

import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from .stack import ACCESS_KEY, ACCESS_SECRET, PLUGIN_KEY, SERVICE_ENV, Failed, phone, quote

PROJECT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    from chalicelib.local.stack import free_port as pick

    return pick()


class LocalStack:
    """`python -m chalicelib.local` with SCHEDULE_INTERVAL_SECONDS=60, so only the
    stream path completes deferred unifications within a figure. `emulated`: the
    same, started through `bench.local_server` (moto with DynamoDB-like costs);
    `metered` (with `emulated`): every request costed by key (`bench.meter`)."""

    def __init__(self, emulated: bool, metered: bool | str = False, settings: dict[str, str] | None = None) -> None:
        self.emulated = emulated
        self.metered = metered
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if k not in ("DYNAMODB_ENDPOINT_URL", "TABLE_NAME")}
        env.update(SERVICE_ENV)
        env.update(PORT=str(self.port), SCHEDULE_INTERVAL_SECONDS="60", PYTHONUNBUFFERED="1", PYTHONPATH=str(PROJECT))
        env.update(settings or {})
        if metered:  # bench.local_server: True costs every request by key, "timings" times the lock only
            env["BENCH_METER"] = "1" if metered is True else str(metered)
        # Open for the subprocess's whole life; closed and removed in stop().
        self._log = tempfile.NamedTemporaryFile("w+", prefix="bench-local-stack-", suffix=".log", delete=False)  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.local_server" if emulated else "chalicelib.local"],
            cwd=PROJECT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        self.lines: list[str] = []
        self._ready = threading.Event()
        threading.Thread(target=self._read, daemon=True, name="local-stack-stdout").start()
        if not self._ready.wait(90):
            self.stop()
            raise Failed(f"the local stack did not start; see {self._log.name}")
        pattern = re.compile(r"DynamoDB:\s+(\S+) \(table (\S+)\)")
        found = next((m for m in map(pattern.search, self.lines) if m), None)
        if found is None:
            raise Failed(f"the local stack did not print its DynamoDB endpoint: {self.lines}")
        self.dynamodb_url, self.table = found.group(1), found.group(2)
        self.http = Http(self.port)
        self.http.call("GET", "/v1/health", expect=200)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip())
            if line.startswith("  session timeout"):
                self._ready.set()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._log.close()
        os.unlink(self._log.name)


class Http:
    """HTTP/1.1 to the local server, a new connection per request unless `keep_alive`.

    On a kept-alive connection every answer of Chalice's local server waits
    about 40 ms: it writes the headers and the body in two packets, and with
    Nagle's algorithm on the server and delayed ACK on the client the second
    one waits for the ACK. A fresh connection closes right after the answer,
    so nothing waits (figure 7 shows both).
    """

    def __init__(self, port: int, keep_alive: bool = False) -> None:
        self.port = port
        self.keep_alive = keep_alive
        self.connection: http.client.HTTPConnection | None = None

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        expect: int | tuple[int, ...] = (200, 201),
    ) -> Any:
        data = None if body is None else json.dumps(body).encode()
        sent = {"Content-Type": "application/json", **(headers or {})}
        if not self.keep_alive:
            sent["Connection"] = "close"
        if self.connection is None:
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            self.connection.request(method, path, body=data, headers=sent)
            response = self.connection.getresponse()
            raw = response.read()
        finally:
            if not self.keep_alive:
                self.connection.close()
                self.connection = None
        wanted = (expect,) if isinstance(expect, int) else expect
        parsed = json.loads(raw) if raw else None
        if response.status not in wanted:
            raise Failed(f"{method} {path}: expected {wanted}, got {response.status}: {parsed}")
        return parsed

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        return self.call(method, path, body, {"X-Access-Key": ACCESS_KEY, "X-Access-Secret": ACCESS_SECRET})

    def boot(self, member_id: str | None = None) -> Any:
        body = {"memberId": member_id} if member_id else {}
        return self.call("POST", "/v1/boot", body, {"X-Plugin-Key": PLUGIN_KEY})

    def session(self, token: str, path: str, body: Any) -> Any:
        return self.call("POST", path, body, {"Authorization": f"Bearer {token}"})


# figure 5 ---------------------------------------------------------------------------------


def deferred_latency(stack: LocalStack, reps: int, poll_seconds: float = 0.02) -> dict[str, Any]:
    """From a member's login to its deferred unification reading `completed` (R7.4).

    Per repetition: a member; a web visitor who chats (a lead); a manager sets
    the lead's phone to the member's (a candidate); approval defers it (the
    lead visited). After the stream has settled, the member logs in on a new
    device, and the unification is polled every 20 ms.
    """
    api = stack.http
    latencies, logins, polls = [], [], []
    for rep in range(reps):
        member_id, number = f"deferred-{rep}", phone(700_000 + rep)
        api.admin("PUT", f"/v1/members/{member_id}", {"profile": {"name": f"Member {rep}", "mobileNumber": number}})
        visitor = api.boot()
        api.session(visitor["sessionToken"], "/v1/session/chats", {"text": "Do you ship abroad?"})
        edited = api.admin("PATCH", f"/v1/users/{quote(visitor['user']['id'])}", {"profile": {"mobileNumber": number}})
        candidate = edited["unificationCandidate"]
        if candidate is None:
            raise Failed(f"the edit should propose member {member_id}: {edited}")
        approved = api.admin("POST", f"/v1/unifications/{quote(candidate['id'])}/approve")["unification"]
        if approved["status"] != "deferred":
            raise Failed(f"a visited lead's approval is deferred (R7.3): {approved}")
        time.sleep(0.3)  # let the stream settle: only the login's own path is timed
        started = time.perf_counter()
        api.boot(member_id)
        logins.append(time.perf_counter() - started)
        count = 0
        while True:
            record = api.admin("GET", f"/v1/unifications/{quote(candidate['id'])}")["unification"]
            count += 1
            if record["status"] == "completed":
                latencies.append(time.perf_counter() - started)
                break
            if time.perf_counter() - started > 30:
                raise Failed(f"deferred unification {candidate['id']} still {record['status']} after 30 s")
            time.sleep(poll_seconds)
        polls.append(count)
    return {
        "median_s": statistics.median(latencies),
        "samples_s": [round(x, 3) for x in latencies],
        "login_request_median_ms": round(statistics.median(logins) * 1000, 1),
        "polls_median": statistics.median(polls),
        "reps": reps,
    }


# figure 7 ---------------------------------------------------------------------------------


def request_overhead(stack: LocalStack, samples: int) -> dict[str, Any]:
    """POST /v1/session/events through the local server (a new connection each time) ÷
    one raw PutItem on the same DynamoDB, interleaved; beside it, the route on a
    kept-alive connection and the route's own two requests made raw, back to back."""
    import boto3
    from botocore.config import Config

    raw = boto3.client(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url=stack.dynamodb_url,
        config=Config(retries={"mode": "standard", "max_attempts": 8}),
    )
    api = stack.http
    kept = Http(stack.port, keep_alive=True)
    visitor = api.boot()
    token = visitor["sessionToken"]
    table = stack.table
    device_key = {"PK": {"S": "VEIL#bench-raw"}, "SK": {"S": "#DEVICE"}}
    raw.put_item(TableName=table, Item={**device_key, "expiresAt": {"S": "9999"}, "tokenHashes": {"SS": ["h"]}})
    user_key = {"PK": {"S": "USER#bench-raw"}, "SK": {"S": "#USER"}}
    raw.put_item(TableName=table, Item={**user_key, "version": {"N": "0"}})
    event_body = {"name": "page_view", "properties": {"path": "/products/42", "referrer": "https://example.com/"}}

    def route() -> None:
        api.session(token, "/v1/session/events", event_body)

    def route_kept_alive() -> None:
        kept.session(token, "/v1/session/events", event_body)

    def put(n: int) -> None:
        raw.put_item(
            TableName=table,
            Item=_event_item(f"bench-raw-{n}"),
            ConditionExpression="attribute_not_exists(PK)",
        )

    def pair(n: int) -> None:
        raw.update_item(
            TableName=table,
            Key=device_key,
            UpdateExpression="SET expiresAt = :e",
            ConditionExpression="contains(tokenHashes, :h) AND expiresAt > :now",
            ExpressionAttributeValues={":e": {"S": "9999"}, ":h": {"S": "h"}, ":now": {"S": "0"}},
            ReturnValues="ALL_NEW",
        )
        raw.transact_write_items(
            TransactItems=[
                {
                    "ConditionCheck": {
                        "TableName": table,
                        "Key": user_key,
                        "ConditionExpression": "attribute_exists(PK) AND attribute_not_exists(unifiedInto)",
                    }
                },
                {
                    "Put": {
                        "TableName": table,
                        "Item": _event_item(f"bench-pair-{n}"),
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                },
            ]
        )

    timings: dict[str, list[float]] = {"route": [], "route_kept_alive": [], "put": [], "pair": []}
    for n in range(samples + 5):  # the first 5 rounds warm up
        calls = (
            ("route", route),
            ("route_kept_alive", route_kept_alive),
            ("put", lambda n=n: put(n)),
            ("pair", lambda n=n: pair(n)),
        )
        for name, call in calls:
            started = time.perf_counter()
            call()
            if n >= 5:
                timings[name].append(time.perf_counter() - started)
    median = {k: statistics.median(v) for k, v in timings.items()}
    return {
        "ratio": median["route"] / median["put"],
        "route_median_ms": round(median["route"] * 1000, 2),
        "put_median_ms": round(median["put"] * 1000, 2),
        "raw_pair_median_ms": round(median["pair"] * 1000, 2),
        "route_kept_alive_median_ms": round(median["route_kept_alive"] * 1000, 2),
        "route_over_raw_pair": round(median["route"] / median["pair"], 2),
        "samples": samples,
    }


def _event_item(key: str) -> dict[str, Any]:
    return {
        "PK": {"S": f"USER#{key}"},
        "SK": {"S": f"E#{key}"},
        "kind": {"S": "event"},
        "id": {"S": key},
        "userId": {"S": key},
        "name": {"S": "page_view"},
        "properties": {"S": '{"path": "/products/42", "referrer": "https://example.com/"}'},
        "createdAt": {"S": "2026-11-28T17:00:00.000Z"},
    }
