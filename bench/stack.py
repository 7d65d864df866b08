"""The embedded stack the in-process figures run on: moto's server (as `make run`
starts it), one table per figure from the production schema, and the real
`app.py` behind `chalice.test.Client` with the container pointed at that table."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import tempfile
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import phonenumbers

ACCESS_KEY = "bench-access-key"
ACCESS_SECRET = "bench-access-secret"
PLUGIN_KEY = "bench-plugin-key"

SERVICE_ENV = {
    "ACCESS_KEY": ACCESS_KEY,
    "ACCESS_SECRET": ACCESS_SECRET,
    "PLUGIN_KEY": PLUGIN_KEY,
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
}
# Variables that would change what is measured if the caller's shell had them set.
CLEARED_ENV = ("MEMBER_HASH_SECRET", "AWS_PROFILE", "AWS_SESSION_TOKEN", "SECRETS_SSM_PATH", "CONTACT_BLOCKLIST")


def service_env(endpoint_url: str, table: str) -> dict[str, str]:
    return {**SERVICE_ENV, "DYNAMODB_ENDPOINT_URL": endpoint_url, "TABLE_NAME": table}


def apply_env(env: dict[str, str]) -> None:
    for name in CLEARED_ENV:
        os.environ.pop(name, None)
    os.environ.update(env)


def quiet_logs() -> None:
    """moto's server logs every request; the app logs expected refusals."""
    for name in ("werkzeug", "unification", "botocore", "chalicelib"):
        logging.getLogger(name).setLevel(logging.ERROR)


@cache
def phone(n: int) -> str:
    """The n-th valid, non-placeholder Japanese mobile number, as a customer types it."""
    for candidate in range(10_000_000 + n * 7, 10_000_000 + n * 7 + 7):
        number = f"+8190{candidate:08d}"
        if phonenumbers.is_valid_number(phonenumbers.parse(number)):
            return "090" + number[5:]
    raise AssertionError(f"no valid number near {n}")


class ShiftClock:
    """The real clock, plus an offset a figure can move forward (a session ending, R4.1)."""

    def __init__(self) -> None:
        from chalicelib.service.clock import SystemClock

        self._system = SystemClock()
        self.offset = timedelta()

    def now(self) -> datetime:
        return self._system.now() + self.offset

    def new_id(self, prefix: str) -> str:
        return self._system.new_id(prefix)

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


class Failed(AssertionError):
    """An operation the bench drives did not answer as the contract says."""


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any

    def expect(self, *status: int) -> Any:
        if self.status not in status:
            raise Failed(f"expected {status}, got {self.status}: {self.body}")
        return self.body


def quote(value: str) -> str:
    return urllib.parse.quote(value, safe="")


class Api:
    """The HTTP contract, spoken to the real app through Chalice's in-process gateway."""

    def __init__(self) -> None:
        from chalice.test import Client

        import app

        # An empty project dir: Chalice adds no stage variables to the environment.
        self._project = tempfile.TemporaryDirectory(prefix="bench-chalice-")
        self._client = Client(app.app, project_dir=self._project.name)

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Reply:
        sent = {"Content-Type": "application/json", **(headers or {})}
        data = body if isinstance(body, bytes) else (b"" if body is None else json.dumps(body).encode())
        response = self._client.http.request(method, path, headers=sent, body=data)
        try:
            parsed = json.loads(response.body) if response.body else None
        except ValueError:
            parsed = response.body
        return Reply(response.status_code, parsed)

    def admin(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Reply:
        return self.call(
            method, path, body, {"X-Access-Key": ACCESS_KEY, "X-Access-Secret": ACCESS_SECRET, **(headers or {})}
        )

    def session(self, token: str, path: str, body: Any = None) -> Reply:
        return self.call("POST", path, body, {"Authorization": f"Bearer {token}"})

    def boot(self, veil_id: str | None = None, member_id: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if veil_id:
            body["veilId"] = veil_id
        if member_id:
            body["memberId"] = member_id
        reply: dict[str, Any] = self.call("POST", "/v1/boot", body, {"X-Plugin-Key": PLUGIN_KEY}).expect(200)
        return reply

    def put_member(self, member_id: str, profile: dict[str, Any]) -> dict[str, Any]:
        user: dict[str, Any] = self.admin("PUT", f"/v1/members/{quote(member_id)}", {"profile": profile}).expect(
            200, 201
        )["user"]
        return user

    def import_csv(self, text: str) -> dict[str, Any]:
        result: dict[str, Any] = self.admin(
            "POST", "/v1/imports", text.encode(), {"Content-Type": "text/csv; charset=utf-8"}
        ).expect(200)["import"]
        return result


@dataclass
class Service:
    """The app's container on one table, with its client's requests counted."""

    table: str
    container: Any
    clock: ShiftClock
    log: Any
    api: Api

    @property
    def deps(self) -> Any:
        return self.container.deps

    def activate(self) -> None:
        """Route the app (`bootstrap.container()`) to this service's container."""
        from chalicelib import bootstrap

        bootstrap.reset(self.container)


class Embedded:
    """moto's server on loopback, started the way the local stack starts it."""

    def __init__(self, patched: bool = True) -> None:
        quiet_logs()
        from chalicelib.local.stack import start_moto

        from . import emulator

        self.patched = patched
        self.url, self._server = start_moto()
        if patched:  # after start_moto: on top of whatever the local stack does to moto
            emulator.install()
        from .counting import ServerClock
        from .meter import Ledger, Meter

        # What DynamoDB would bill, inside moto's lock (costed only inside a `ledger.window()`).
        self.ledger = Ledger(keep_keys=False)
        self._server.app.app = Meter(self._server.app.app, self.ledger)
        # Time spent inside moto, by API (the server calls `self._server.app` per request).
        self.server_clock = ServerClock(self._server.app)
        self._server.app = self.server_clock
        apply_env(service_env(self.url, "bench"))
        from chalicelib.bootstrap import dynamodb_client
        from chalicelib.config import Settings

        # A client of our own for setup and for the raw baselines: never counted as the app's.
        self.settings = Settings.from_env()
        self.raw = dynamodb_client(self.settings)
        self.api: Api | None = None

    def table(self, name: str) -> str:
        from chalicelib.store.schema import create_table

        create_table(self.raw, name)
        return name

    def service(self, table: str) -> Service:
        """A fresh table and a container on it (its own client, counted), made current."""
        from chalicelib import bootstrap
        from chalicelib.bootstrap import dynamodb_client

        from .counting import RequestLog

        self.table(table)
        apply_env(service_env(self.url, table))
        settings = dataclasses.replace(self.settings, table_name=table)
        client = dynamodb_client(settings)
        log = RequestLog().attach(client)
        clock = ShiftClock()
        bootstrap.reset()
        container = bootstrap.Container(settings=settings, client=client, clock=clock)
        if self.api is None:
            self.api = Api()
        service = Service(table=table, container=container, clock=clock, log=log, api=self.api)
        service.activate()
        return service

    def batch_write(self, table: str, items: Iterable[dict[str, Any]]) -> None:
        """Plain BatchWriteItem of wire-format items, 25 at a time (setup and baselines)."""
        batch: list[dict[str, Any]] = []
        for item in items:
            batch.append({"PutRequest": {"Item": item}})
            if len(batch) == 25:
                self._send(table, batch)
                batch = []
        if batch:
            self._send(table, batch)

    def batch_delete(self, table: str, keys: Iterable[dict[str, Any]]) -> None:
        batch: list[dict[str, Any]] = []
        for key in keys:
            batch.append({"DeleteRequest": {"Key": key}})
            if len(batch) == 25:
                self._send(table, batch)
                batch = []
        if batch:
            self._send(table, batch)

    def _send(self, table: str, batch: list[dict[str, Any]]) -> None:
        pending: dict[str, Any] = {table: batch}
        while pending:
            pending = self.raw.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}

    def partition(self, table: str, pk: str) -> list[dict[str, Any]]:
        """Every item of one partition, wire format."""
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": table,
            "KeyConditionExpression": "PK = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}},
            "ConsistentRead": True,
        }
        while True:
            raw = self.raw.query(**kwargs)
            items.extend(raw.get("Items", []))
            if "LastEvaluatedKey" not in raw:
                return items
            kwargs["ExclusiveStartKey"] = raw["LastEvaluatedKey"]

    def items(self, table: str) -> list[dict[str, Any]]:
        """Every item of a table, wire format, read from moto's backend in this process
        (moto's Scan sorts and skips the whole table for every page: hours on 200k items)."""
        from moto.core.models import DEFAULT_ACCOUNT_ID
        from moto.dynamodb.models import dynamodb_backends

        found = dynamodb_backends[DEFAULT_ACCOUNT_ID][self.settings.region].get_table(table)
        rows: list[Any] = list(found.items.values())
        items: list[Any] = [item for row in rows for item in (row.values() if found.range_key_attr else [row])]
        return [item.to_json()["Attributes"] for item in items]

    def drop(self, table: str) -> None:
        self.raw.delete_table(TableName=table)

    def stop(self) -> None:
        self._server.shutdown()


def seed_history(
    embedded: Embedded, service: Service, user_id: str, events: int, chats: int = 0
) -> list[dict[str, Any]]:
    """Put `events` events and `chats` chat entries in the user's partition, as the app
    writes them (its own codec), by plain BatchWriteItem. Returns their keys."""
    from chalicelib.domain.models import Channel, Chat, Event
    from chalicelib.store.codec import chat_to_items, event_to_item, to_wire
    from chalicelib.store.keys import user_key

    clock = service.clock
    items = []
    for n in range(events):
        event = Event(
            id=clock.new_id("e_"),
            user_id=user_id,
            name="page_view",
            properties={"path": f"/products/{n}", "referrer": "https://example.com/search?q=shoes", "n": n},
            created_at=clock.now(),
        )
        items.append(to_wire(event_to_item(event)))
    for _ in range(chats):
        chat = Chat(id=clock.new_id("c_"), creator_id=user_id, channel=Channel.WEB, created_at=clock.now())
        header, ref = chat_to_items(chat, user_id)
        items.append(to_wire(header))
        items.append(to_wire(ref))
    embedded.batch_write(service.table, items)
    # The user's counts beside it, as the app keeps them: a unification's totals come from
    # them, and one with nothing counted completes as it commits (R10).
    embedded.raw.update_item(
        TableName=service.table,
        Key=to_wire(user_key(user_id)),
        UpdateExpression="ADD chatCount :chats, eventCount :events",
        ExpressionAttributeValues={":chats": {"N": str(chats)}, ":events": {"N": str(events)}},
    )
    return [{"PK": item["PK"], "SK": item["SK"]} for item in items]
