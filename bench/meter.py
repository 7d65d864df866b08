"""What DynamoDB would bill for each request moto's server answers.

`Meter` wraps moto's WSGI app inside the local stack's lock (one request at a
time), so it sees every request from every client (the app, the stream
consumer, the scheduler) together with the items it touched: before a write
it snapshots the items the request names, after it the same items again, and
costs each item-level write from the two images; a read is costed from the
full items it read (looked up by key, as DynamoDB bills a read by the item's
size whatever the ProjectionExpression). The billing rules (`capacity.py`
and `item_size.py` state them) are applied to those sizes. Requests to the
Streams API are not metered (a Lambda trigger's stream reads are free).

A `Ledger` keeps, while a window is open, every item-level write and every
read, and at all times the write and read units per partition key of the
table and of each index (the hot-key report).
"""

from __future__ import annotations

import copy
import io
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from .item_size import Schema, Wire, item_size, read_units, write_units

TABLE = "table"  # the scope of the base table's charges; an index's is its name
WRITE_ACTIONS = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
READ_ACTIONS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"})


@dataclass(frozen=True)
class Charge:
    scope: str  # TABLE or an index name
    partition: str
    units: float


@dataclass
class Write:
    """One item-level write as DynamoDB applies it (a batch or a transaction holds several)."""

    api: str
    table: str
    key: tuple[str, str | None]
    old: Wire | None
    new: Wire | None
    transactional: bool = False
    condition_check: bool = False
    failed: bool = False
    charges: list[Charge] = field(default_factory=list)

    @property
    def units(self) -> float:
        return sum(c.units for c in self.charges)


@dataclass
class Read:
    """One read request's charge (a Query's items add up before rounding; BatchGetItem
    rounds each item, so it is recorded as one Read per item)."""

    api: str
    scope: str
    partition: str
    items: list[tuple[tuple[str, str | None], int]]  # (table key, size read)
    consistent: bool
    units: float


def cost_write(write: Write, schema: Schema) -> list[Charge]:
    """Write units of one item-level write in the table and in every index it lands in.

    Table: 1 unit per KB of the larger of the old and new item (at least 1);
    transactional ×2. A ConditionCheck costs a transactional write of the item it
    checks. A write whose condition failed costs the existing item's size (at
    least 1 unit; a cancelled transaction: one underlying write per action), and
    nothing in the indexes. Index (each GSI, sparse): a put where the item newly
    carries the index key, a delete where it no longer does, both where the key
    changed, an update (the larger entry) where only projected attributes changed;
    nothing when the index's entry is unchanged. Index writes are not doubled by a
    transaction (they propagate after it commits)."""
    pk = write.key[0]
    if write.failed:
        return [Charge(TABLE, pk, write_units(item_size(write.old)))]
    if write.condition_check:
        return [Charge(TABLE, pk, 2 * write_units(item_size(write.old)))]
    factor = 2 if write.transactional else 1
    charges = [Charge(TABLE, pk, factor * write_units(max(item_size(write.old), item_size(write.new))))]
    for index in schema.indexes:
        old_key, new_key = index.key_of(write.old), index.key_of(write.new)
        old_entry, new_entry = index.entry(write.old, schema.table_keys), index.entry(write.new, schema.table_keys)
        if old_key is not None and old_key == new_key:
            if old_entry != new_entry:
                size = max(item_size(old_entry), item_size(new_entry))
                charges.append(Charge(index.name, new_key[0], write_units(size)))
            continue
        if old_key is not None:
            charges.append(Charge(index.name, old_key[0], write_units(item_size(old_entry))))
        if new_key is not None:
            charges.append(Charge(index.name, new_key[0], write_units(item_size(new_entry))))
    return charges


class Ledger:
    """Every charge, by partition key always; item by item inside `window()`."""

    def __init__(self, schema: Schema | None = None, keep_keys: bool = True) -> None:
        self.schema = schema or Schema.current()
        self.keep_keys = keep_keys
        self._lock = threading.Lock()
        self._windows = 0
        self.writes: list[Write] = []
        self.reads: list[Read] = []
        self.write_units_by_key: Counter[tuple[str, str]] = Counter()
        self.read_units_by_key: Counter[tuple[str, str]] = Counter()
        self.requests: Counter[str] = Counter()
        self.lock_wait: Counter[str] = Counter()  # seconds waited for the server's lock, by API
        self.inside: Counter[str] = Counter()  # seconds inside moto, by API
        self.served: Counter[str] = Counter()

    @property
    def active(self) -> bool:
        return self.keep_keys or self._windows > 0

    def add_write(self, write: Write) -> None:
        write.charges = cost_write(write, self.schema)
        with self._lock:
            if self._windows:
                self.writes.append(write)
            if self.keep_keys:
                for charge in write.charges:
                    self.write_units_by_key[(charge.scope, charge.partition)] += charge.units

    def add_read(self, read: Read) -> None:
        with self._lock:
            if self._windows:
                self.reads.append(read)
            if self.keep_keys:
                self.read_units_by_key[(read.scope, read.partition)] += read.units

    def count(self, action: str) -> None:
        with self._lock:
            self.requests[action] += 1

    def timed(self, action: str, waited: float, inside: float) -> None:
        with self._lock:
            self.served[action] += 1
            self.lock_wait[action] += waited
            self.inside[action] += inside

    def take_timings(self) -> dict[str, Any]:
        """Per API since the last take (then reset): requests served, mean ms waiting for the
        server's one-request-at-a-time lock, mean ms inside moto."""
        with self._lock:
            served, waited, inside = self.served, self.lock_wait, self.inside
            self.served, self.lock_wait, self.inside = Counter(), Counter(), Counter()
        return {
            api: {
                "requests": n,
                "wait_ms": round(1000 * waited[api] / n, 2),
                "inside_ms": round(1000 * inside[api] / n, 2),
            }
            for api, n in served.most_common()
        }

    @contextmanager
    def window(self) -> Iterator[Usage]:
        """The writes and reads made inside the `with` block (filled in when it exits)."""
        with self._lock:
            self._windows += 1
            start_w, start_r = len(self.writes), len(self.reads)
        usage = Usage(self.schema)
        try:
            yield usage
        finally:
            with self._lock:
                usage.writes.extend(self.writes[start_w:])
                usage.reads.extend(self.reads[start_r:])
                self._windows -= 1
                if not self._windows:
                    self.writes, self.reads = [], []

    def take_keys(self, top: int = 10) -> dict[str, Any]:
        """Since the last take (then reset): per scope (the table, each index) the write
        and read units in all, the number of keys and the `top` hottest keys."""
        with self._lock:
            writes, reads, requests = self.write_units_by_key, self.read_units_by_key, self.requests
            self.write_units_by_key, self.read_units_by_key, self.requests = Counter(), Counter(), Counter()
        return {"writes": _by_scope(writes, top), "reads": _by_scope(reads, top), "requests": dict(requests)}


def _by_scope(units: Counter[tuple[str, str]], top: int) -> dict[str, Any]:
    scopes: dict[str, Counter[str]] = {}
    for (scope, pk), n in units.items():
        scopes.setdefault(scope, Counter())[pk] += n
    return {
        scope: {"units": sum(keys.values()), "keys": len(keys), "top": keys.most_common(top)}
        for scope, keys in sorted(scopes.items())
    }


@dataclass
class Usage:
    """What one operation (or a stream drain) consumed."""

    schema: Schema
    writes: list[Write] = field(default_factory=list)
    reads: list[Read] = field(default_factory=list)

    @property
    def write_units(self) -> float:
        return sum(w.units for w in self.writes)

    @property
    def read_units(self) -> float:
        return sum(r.units for r in self.reads)

    def write_units_by_scope(self) -> dict[str, float]:
        out: Counter[str] = Counter()
        for w in self.writes:
            for c in w.charges:
                out[c.scope] += c.units
        return dict(out)

    def breakdown(self) -> dict[str, float]:
        """Where the write units went: the table's plain writes, the transactions' second
        write, condition checks, failed conditions, each index."""
        out: Counter[str] = Counter()
        for w in self.writes:
            table = sum(c.units for c in w.charges if c.scope == TABLE)
            if w.failed:
                out["failed conditions"] += table
            elif w.condition_check:
                out["condition checks"] += table
            elif w.transactional:
                out["table"] += table / 2
                out["transactions (x2)"] += table / 2
            else:
                out["table"] += table
            for c in w.charges:
                if c.scope != TABLE:
                    out[c.scope] += c.units
        return {k: round(v, 3) for k, v in sorted(out.items())}

    def read_breakdown(self) -> dict[str, float]:
        out: Counter[str] = Counter()
        for r in self.reads:
            out[f"{r.scope} {'consistent' if r.consistent else 'eventual'}"] += r.units
        return {k: round(v, 3) for k, v in sorted(out.items())}


# the WSGI wrapper -------------------------------------------------------------------------

_REGION = re.compile(r"Credential=[^/]+/\d+/([^/]+)/")


class Meter:
    """moto's WSGI app, with every DynamoDB request costed into `ledger`."""

    CONTROL = "/__bench/"

    def __init__(self, app: Any, ledger: Ledger, control: bool = False) -> None:
        self.app = app
        self.ledger = ledger
        self.control = control

    def _control(self, path: str, start_response: Callable[..., Any]) -> Iterable[bytes]:
        """The bench's own calls (local stack only): `keys` takes the per-key units,
        `on` and `off` switch the per-key ledger (off while a population is seeded)."""
        command = path[len(self.CONTROL) :]
        answer: Any = {"ok": True}
        if command == "keys":
            answer = self.ledger.take_keys()
        elif command == "timings":
            answer = self.ledger.take_timings()
        elif command in ("on", "off"):
            self.ledger.keep_keys = command == "on"
        else:
            start_response("404 Not Found", [("Content-Type", "application/json")])
            return [b"{}"]
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(answer).encode()]

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = str(environ.get("PATH_INFO", ""))
        if self.control and path.startswith(self.CONTROL):
            return self._control(path, start_response)
        target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
        if not target.startswith("DynamoDB_20120810.") or not self.ledger.active:
            return self.app(environ, start_response)
        action = target.rpartition(".")[2]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return self.app(environ, start_response)
        backend = _backend(environ)
        try:
            before = _snapshot(backend, _write_keys(backend, action, request)) if action in WRITE_ACTIONS else {}
        except Exception:  # an unknown table: moto answers the error, nothing is billed
            before = {}
        status: list[str] = []

        def start(code: str, headers: Any, *rest: Any) -> Any:
            status.append(code)
            return start_response(code, headers, *rest)

        out = list(self.app(environ, start))
        self.ledger.count(action)
        try:
            answer = json.loads(b"".join(out) or b"{}")
        except ValueError:
            return out
        ok = bool(status) and status[0].startswith("200")
        if action in WRITE_ACTIONS:
            self._writes(backend, action, request, answer, ok, before)
        elif action in READ_ACTIONS and ok:
            self._reads(backend, environ, action, request, answer)
        return out

    # writes ----------------------------------------------------------------------------

    def _writes(
        self,
        backend: Any,
        action: str,
        request: dict[str, Any],
        answer: dict[str, Any],
        ok: bool,
        before: dict[tuple[str, str], tuple[tuple[str, str | None], Wire | None]],
    ) -> None:
        kind = str(answer.get("__type", "")).rpartition("#")[2]
        if not ok and kind not in ("ConditionalCheckFailedException", "TransactionCanceledException"):
            return  # refused before anything was written (validation): not billed
        after = _snapshot(backend, [(t, k) for t, k in _write_keys(backend, action, request)]) if ok else {}
        checks = _condition_checks(action, request)
        transactional = action == "TransactWriteItems"
        for ident, (key, old) in before.items():
            table = ident[0]
            if not ok:
                self.ledger.add_write(Write(action, table, key, old, None, failed=True))
            elif ident in checks:
                self.ledger.add_write(Write(action, table, key, old, old, transactional=True, condition_check=True))
            else:
                self.ledger.add_write(Write(action, table, key, old, after[ident][1], transactional=transactional))

    # reads -----------------------------------------------------------------------------

    def _reads(
        self, backend: Any, environ: dict[str, Any], action: str, request: dict[str, Any], answer: dict[str, Any]
    ) -> None:
        schema = self.ledger.schema
        if action == "GetItem":
            self._keyed(backend, action, request["TableName"], [request["Key"]], bool(request.get("ConsistentRead")))
        elif action == "BatchGetItem":
            unprocessed = answer.get("UnprocessedKeys") or {}
            for table, asked in request.get("RequestItems", {}).items():
                left = {json.dumps(k, sort_keys=True) for k in (unprocessed.get(table) or {}).get("Keys", [])}
                keys = [k for k in asked.get("Keys", []) if json.dumps(k, sort_keys=True) not in left]
                self._keyed(backend, action, table, keys, bool(asked.get("ConsistentRead")), per_item=True)
        elif action == "TransactGetItems":
            for entry in request.get("TransactItems", []):
                get = entry.get("Get", {})
                self._keyed(backend, action, get["TableName"], [get["Key"]], True, factor=2.0)
        elif action in ("Query", "Scan"):
            items = answer.get("Items", [])
            if (
                request.get("FilterExpression")
                or request.get("Select") == "COUNT"
                or not all(schema.hash_key in i and (schema.range_key is None or schema.range_key in i) for i in items)
            ):
                items = self._rerun(environ, request)
            index = schema.index(request["IndexName"]) if request.get("IndexName") else None
            table = request["TableName"]
            sized = []
            for item in items:
                key = {k: item[k] for k in schema.table_keys}
                full = _get(backend, table, key)
                entry = index.entry(full, schema.table_keys) if index is not None else full
                sized.append((schema.key(key), item_size(entry)))
            consistent = bool(request.get("ConsistentRead")) and index is None
            total = sum(size for _, size in sized)
            scope = index.name if index is not None else TABLE
            partition = _query_partition(request, items, index.hash_key if index else schema.hash_key)
            units = read_units(total) * (1.0 if consistent else 0.5)
            self.ledger.add_read(Read(action, scope, partition, sized, consistent, units))

    def _keyed(
        self,
        backend: Any,
        action: str,
        table: str,
        keys: list[Wire],
        consistent: bool,
        per_item: bool = False,
        factor: float = 1.0,
    ) -> None:
        schema = self.ledger.schema
        for key in keys:
            size = item_size(_get(backend, table, key))
            units = read_units(size) * (1.0 if consistent else 0.5) * factor
            text_key = schema.key(key)
            self.ledger.add_read(Read(action, TABLE, text_key[0], [(text_key, size)], consistent, units))

    def _rerun(self, environ: dict[str, Any], request: dict[str, Any]) -> list[Wire]:
        """The items a Query or Scan read: the same page asked without filter or projection."""
        plain = {k: v for k, v in request.items() if k not in ("FilterExpression", "ProjectionExpression", "Select")}
        used = json.dumps(plain)
        names = plain.get("ExpressionAttributeNames") or {}
        values = plain.get("ExpressionAttributeValues") or {}
        if names:
            plain["ExpressionAttributeNames"] = {k: v for k, v in names.items() if k in used}
        if values:
            plain["ExpressionAttributeValues"] = {k: v for k, v in values.items() if k in used}
        body = json.dumps(plain).encode()
        rerun = dict(environ)
        rerun["wsgi.input"] = io.BytesIO(body)
        rerun["CONTENT_LENGTH"] = str(len(body))
        out = b"".join(self.app(rerun, lambda *a, **k: None))
        items: list[Wire] = json.loads(out or b"{}").get("Items", [])
        return items


def _backend(environ: dict[str, Any]) -> Any:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    found = _REGION.search(str(environ.get("HTTP_AUTHORIZATION", "")))
    return dynamodb_backends[DEFAULT_ACCOUNT_ID][found.group(1) if found else "us-east-1"]


def _get(backend: Any, table: str, key: Wire) -> Wire | None:
    try:
        item = backend.get_item(table, key)
    except Exception:
        return None
    if item is None:
        return None
    attributes: Wire = copy.deepcopy(item.to_json()["Attributes"])
    return attributes


def _table_key(backend: Any, table: str, item: Wire) -> Wire:
    found = backend.get_table(table)
    key = {found.hash_key_attr: item[found.hash_key_attr]}
    if found.range_key_attr:
        key[found.range_key_attr] = item[found.range_key_attr]
    return key


def _write_keys(backend: Any, action: str, request: dict[str, Any]) -> list[tuple[str, Wire]]:
    """(table, key) of every item the write request names, in order."""
    try:
        if action == "PutItem":
            return [(request["TableName"], _table_key(backend, request["TableName"], request["Item"]))]
        if action in ("UpdateItem", "DeleteItem"):
            return [(request["TableName"], request["Key"])]
        if action == "BatchWriteItem":
            out = []
            for table, entries in request.get("RequestItems", {}).items():
                for entry in entries:
                    if "PutRequest" in entry:
                        out.append((table, _table_key(backend, table, entry["PutRequest"]["Item"])))
                    elif "DeleteRequest" in entry:
                        out.append((table, entry["DeleteRequest"]["Key"]))
            return out
        if action == "TransactWriteItems":
            out = []
            for entry in request.get("TransactItems", []):
                ((op, body),) = entry.items()
                key = _table_key(backend, body["TableName"], body["Item"]) if op == "Put" else body["Key"]
                out.append((body["TableName"], key))
            return out
    except Exception:
        return []
    return []


def _ident(table: str, key: Wire) -> tuple[str, str]:
    return table, json.dumps(key, sort_keys=True)


def _snapshot(
    backend: Any, keys: list[tuple[str, Wire]]
) -> dict[tuple[str, str], tuple[tuple[str, str | None], Wire | None]]:
    out = {}
    for table, key in keys:
        found = backend.get_table(table)
        text_key = (
            str(next(iter(key[found.hash_key_attr].values()))),
            str(next(iter(key[found.range_key_attr].values()))) if found.range_key_attr else None,
        )
        out[_ident(table, key)] = (text_key, _get(backend, table, key))
    return out


def _condition_checks(action: str, request: dict[str, Any]) -> set[tuple[str, str]]:
    if action != "TransactWriteItems":
        return set()
    return {
        _ident(entry["ConditionCheck"]["TableName"], entry["ConditionCheck"]["Key"])
        for entry in request.get("TransactItems", [])
        if "ConditionCheck" in entry
    }


_HASH_CONDITION = re.compile(r"^\s*\(?\s*(#?\w+)\s*=\s*(:\w+)")


def _query_partition(request: dict[str, Any], items: list[Wire], hash_attr: str) -> str:
    if items and hash_attr in items[0]:
        return str(next(iter(items[0][hash_attr].values())))
    found = _HASH_CONDITION.search(str(request.get("KeyConditionExpression", "")))
    value = (request.get("ExpressionAttributeValues") or {}).get(found.group(2)) if found else None
    return str(next(iter(value.values()))) if value else "?"


def install_in_local_stack(ledger: Ledger) -> None:
    """Wrap the app `chalicelib.local.stack.start_moto` serves (inside its lock), and time
    every request's wait for that lock and its stay inside."""
    from chalicelib.local import stack

    original = stack.LockedApp

    class MeteredApp(original):  # type: ignore[misc,valid-type]
        def __init__(self, app: Any) -> None:
            super().__init__(Meter(app, ledger, control=True))

        def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            action = str(environ.get("HTTP_X_AMZ_TARGET", "?"))
            started = time.perf_counter()
            with self.lock:
                entered = time.perf_counter()
                out = list(self.app(environ, start_response))
            done = time.perf_counter()
            if not str(environ.get("PATH_INFO", "")).startswith(Meter.CONTROL):
                ledger.timed(action.rpartition(".")[2] or action, entered - started, done - entered)
            return out

    stack.LockedApp = MeteredApp  # type: ignore[misc]
