"""moto's DynamoDB, made to cost what DynamoDB costs (in the bench's own process only).

moto answers like DynamoDB but does not cost like it, and the gaps grow with
the table, so on a table of a few thousand items they swamp the service:

- `TransactWriteItems` deep-copies the whole table, stream records included,
  once per action, to be able to roll back (0.3-1 s per transaction on a
  table of 2,000 items and their stream);
- every answer goes through a generic, shape-driven serializer that costs
  about 1 ms per returned item (a Query page of 200 items: 250 ms, three
  times the cost of writing the same 200 items);
- `Query`, on the table or a GSI, sorts and scans every item of the table
  (60 ms on 12,000 items), and sizes every item of the partition before
  applying the sort-key condition, where DynamoDB reads only the partition
  and seeks to the sort-key range asked for;
- an `UpdateItem` parses its expression, validates it against a deep copy
  of the item and walks the tree: three times a Put of the same item, where
  DynamoDB bills it as one write (the contact index's set ADD/DELETE).

`install()` keeps moto's answers and changes only those costs: a transaction
checks every condition first, then applies its actions (without checking
them again: the local stack serves one request at a time) with an undo log
of the items it touches (so a failed apply still rolls back, stream
included); an unconditional ADD to or DELETE from a string set is applied
as the Put of the item it leaves (one stream record, as DynamoDB writes,
where moto writes an INSERT of the bare key and then another record with the set);
a table Query finds the items of its partition within its sort-key
condition by bisection in the partition's sorted keys; a GSI Query looks only at the
items indexed under its key value (each candidate re-checked against the
live item); answers carrying item data are written as plain JSON, which
is what the stock serializer produces for them. `stock()` switches the patches off for a block, to show what
stock moto costs. `python -m bench --stock-moto` runs every figure without
them.
"""

from __future__ import annotations

import base64
import bisect
import contextvars
import copy
import json
import re
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler, DynamoResult

# (owner, attribute, replacement); what was there is kept in _ORIGINAL while installed.
_PATCHES: list[tuple[Any, str, str]] = [
    (Table, "all_items", "_all_items"),
    (Table, "query", "_query"),
    (Table, "put_item", "_put_item"),
    (Table, "delete_item", "_delete_item"),
    (DynamoDBBackend, "update_item", "_update_item"),
    (DynamoDBBackend, "transact_write_items", "_transact_write_items"),
    (DynamoHandler, "serialized", "_serialized"),
]
_ORIGINAL: dict[str, Any] = {}
# Answers made only of attribute maps, keys and counts: plain JSON is the whole wire format.
ITEM_ACTIONS = frozenset(
    {
        "GetItem",
        "BatchGetItem",
        "Query",
        "Scan",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "BatchWriteItem",
        "TransactWriteItems",
        "TransactGetItems",
    }
)
# The items a Query may look at, handed from `_query` to moto's own query code.
_candidates: contextvars.ContextVar[tuple[Table, list[Any]] | None] = contextvars.ContextVar(
    "bench_candidates", default=None
)
_generation = 0  # bumped on install: GSI indexes built under an earlier install are rebuilt
_installed = False


def installed() -> bool:
    return _installed


def install() -> None:
    """Patch moto as it is now (the local stack may have patched it already: ours go on top)."""
    global _installed, _generation
    if _installed:
        return
    _generation += 1
    for owner, name, replacement in _PATCHES:
        _ORIGINAL[name] = getattr(owner, name)
        setattr(owner, name, globals()[replacement])
    _installed = True


def uninstall() -> None:
    global _installed
    if not _installed:
        return
    for owner, name, _ in _PATCHES:
        setattr(owner, name, _ORIGINAL.pop(name))
    _installed = False


@contextmanager
def stock() -> Iterator[None]:
    """Stock moto inside the block (to show its costs), patched again after."""
    was = _installed
    uninstall()
    try:
        yield
    finally:
        if was:
            install()


# queries: only the partition (table) or the indexed key value (GSI) -------------------


def _all_items(self: Table) -> list[Any]:
    hint = _candidates.get()
    if hint is not None and hint[0] is self:
        return hint[1]  # moto sorts what a query finds itself
    result: list[Any] = _ORIGINAL["all_items"](self)
    return result


def _query(self: Table, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
    index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
    if index_name:
        candidates = _gsi_candidates(self, index_name, kwargs.get("hash_key_conditions") or [])
    else:
        if hash_key is not None and self.range_key_attr and len(args) > 4:
            # (range_comparison, range_objs, limit, exclusive_start_key, scan_index_forward, ...)
            comparison, objs, limit, start_key, forward = args[:5]
            page = _Page(limit, _start_value(self, start_key), forward is not False)
            candidates = _within(self, hash_key, comparison, objs, page)
        else:
            candidates = _partition(self, hash_key)
    if candidates is None:
        return _ORIGINAL["query"](self, hash_key, *args, **kwargs)
    token = _candidates.set((self, candidates))
    try:
        return _ORIGINAL["query"](self, hash_key, *args, **kwargs)
    finally:
        _candidates.reset(token)


@dataclass(frozen=True)
class _Page:
    limit: int | None
    start: Any  # the ExclusiveStartKey's sort-key value (cast), or None
    forward: bool


def _start_value(table: Table, start_key: dict[str, Any] | None) -> Any:
    if not start_key or table.range_key_attr not in start_key:
        return None
    return DynamoType(start_key[table.range_key_attr]).cast_value


def _within(table: Table, hash_key: Any, comparison: str | None, values: list[Any] | None, page: _Page) -> list[Any]:
    """The items moto's Query must look at to answer this page, in order.

    Every sort-key condition selects one contiguous run of the sorted partition,
    found by bisection in the partition's sorted keys (DynamoDB seeks; moto
    scans). The run is cut at the ExclusiveStartKey (the key itself stays: moto
    skips it) and after `limit` + 2 items in the direction of the scan, and keeps
    the item just outside it on the far side: moto hands out a LastEvaluatedKey
    only when another item follows the last one returned, so its pagination
    stays exactly as it was."""
    keys = _sorted_keys(table, hash_key)
    bucket = table.items.get(hash_key) or {}
    bounds = _bounds(keys.values, comparison, [v.cast_value for v in values or []])
    if bounds is None:
        hits = [n for n, r in enumerate(keys.ranges) if r.compare(comparison or "", values or [])]
        bounds = (hits[0], hits[-1] + 1) if hits else (0, 0)
    low, high = bounds
    if low >= high:
        return []
    first, last = max(0, low - 1), min(len(keys.ranges), high + 1)  # [first, last) with the neighbours
    try:
        if page.start is not None and page.forward:
            first = max(first, bisect.bisect_left(keys.values, page.start, first, last))
        elif page.start is not None:
            last = min(last, bisect.bisect_right(keys.values, page.start, first, last))
    except TypeError:  # a start key of another type: let moto judge every item
        pass
    if page.limit is not None:
        if page.forward:
            last = min(last, first + page.limit + 2)
        else:
            first = max(first, last - page.limit - 2)
    return [bucket[r] for r in keys.ranges[first:last]]


def _bounds(keys: list[Any], comparison: str | None, values: list[Any]) -> tuple[int, int] | None:
    """[low, high) of the keys a sort-key condition selects; None: not one bisection handles."""
    n = len(keys)
    try:
        match (comparison or "").upper(), values:
            case "", []:
                return 0, n
            case (("EQ" | "="), [v]):
                return bisect.bisect_left(keys, v), bisect.bisect_right(keys, v)
            case (("LT" | "<"), [v]):
                return 0, bisect.bisect_left(keys, v)
            case (("LE" | "<="), [v]):
                return 0, bisect.bisect_right(keys, v)
            case (("GT" | ">"), [v]):
                return bisect.bisect_right(keys, v), n
            case (("GE" | ">="), [v]):
                return bisect.bisect_left(keys, v), n
            case "BETWEEN", [a, b]:
                return bisect.bisect_left(keys, a), bisect.bisect_right(keys, b)
            case "BEGINS_WITH", [str() as prefix]:
                low = high = bisect.bisect_left(keys, prefix)
                while high < n and isinstance(keys[high], str) and keys[high].startswith(prefix):
                    high += 1
                return low, high
    except TypeError:  # keys of another type than the condition's value
        return None
    return None


class SortedKeys:
    """A partition's sort keys in order (`values`: their cast values, `ranges`: the keys)."""

    def __init__(self, ranges: list[Any]) -> None:
        pairs = sorted(((r.cast_value, r) for r in ranges), key=lambda p: p[0])
        self.values = [v for v, _ in pairs]
        self.ranges = [r for _, r in pairs]

    def add(self, range_value: Any) -> None:
        value = range_value.cast_value
        at = bisect.bisect_left(self.values, value)
        if at < len(self.values) and self.values[at] == value:
            return
        self.values.insert(at, value)
        self.ranges.insert(at, range_value)

    def remove(self, range_value: Any) -> None:
        value = range_value.cast_value
        at = bisect.bisect_left(self.values, value)
        if at < len(self.values) and self.values[at] == value:
            del self.values[at]
            del self.ranges[at]


def _sorted_keys(table: Table, hash_key: Any) -> SortedKeys:
    """Kept for every partition from the first Query on the table on, updated by every
    write that adds or removes an item (put, delete, a transaction's undo)."""
    state = getattr(table, "_bench_keys", None)
    if state is None or state[0] != _generation:
        state = (_generation, {})
        table._bench_keys = state  # type: ignore[attr-defined]
    partitions: dict[Any, SortedKeys] = state[1]
    keys = partitions.get(hash_key)
    if keys is None:
        keys = partitions[hash_key] = SortedKeys(list((table.items.get(hash_key) or {}).keys()))
    return keys


def _track(table: Table, hash_key: Any, range_key: Any, present: bool) -> None:
    state = getattr(table, "_bench_keys", None)
    if state is None or state[0] != _generation or range_key is None:
        return
    keys = state[1].get(hash_key)
    if keys is not None:
        (keys.add if present else keys.remove)(range_key)


def _partition(table: Table, hash_key: Any) -> list[Any] | None:
    if hash_key is None:
        return None
    bucket = table.items.get(hash_key)
    if bucket is None:
        return []
    return list(bucket.values()) if table.range_key_attr else [bucket]


def _gsi_candidates(table: Table, index_name: str, conditions: list[tuple[str, Any]]) -> list[Any] | None:
    index = next((i for i in table.global_indexes or [] if i.name == index_name), None)
    if index is None:
        return None
    hash_attrs = [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"]
    if len(hash_attrs) != 1:
        return None
    wanted = next((value for name, value in conditions if name == hash_attrs[0]), None)
    if wanted is None:
        return None
    keys = _gsi_index(table).get(index_name, {}).get(wanted, ())
    found = []
    for hash_value, range_value in list(keys):
        item: Any = table.get_item(hash_value, range_value) if table.range_key_attr else table.items.get(hash_value)
        # The index only nominates: the live item must still hold the value.
        value = item.attrs.get(hash_attrs[0]) if item is not None else None
        if value is not None and value == wanted:
            found.append(item)
    return found


def _gsi_index(table: Table) -> dict[str, dict[Any, set[tuple[Any, Any]]]]:
    """GSI name → hash key value → primary keys; entries are only ever added
    (a stale one is filtered out at query time), so every write that can add
    a key value indexes its item."""
    state = getattr(table, "_bench_gsi", None)
    if state is None or state[0] != _generation:
        index: dict[str, dict[Any, set[tuple[Any, Any]]]] = defaultdict(lambda: defaultdict(set))
        state = (_generation, index)
        table._bench_gsi = state  # type: ignore[attr-defined]
        for item in _ORIGINAL["all_items"](table):
            _index_item(table, item, index)
    return state[1]


def _index_item(table: Table, item: Any, index: dict[str, dict[Any, set[tuple[Any, Any]]]] | None = None) -> None:
    if item is None or not table.global_indexes:
        return
    index = index if index is not None else _gsi_index(table)
    for gsi in table.global_indexes:
        for key in gsi.schema:
            if key["KeyType"] == "HASH" and (value := item.attrs.get(key["AttributeName"])) is not None:
                index[gsi.name][value].add((item.hash_key, item.range_key))


def _put_item(self: Table, *args: Any, **kwargs: Any) -> Any:
    item = _ORIGINAL["put_item"](self, *args, **kwargs)
    _track(self, item.hash_key, item.range_key, present=True)
    if getattr(self, "_bench_gsi", None) is not None:
        _index_item(self, item)
    return item


def _delete_item(self: Table, hash_key: Any, range_key: Any) -> Any:
    item = _ORIGINAL["delete_item"](self, hash_key, range_key)
    if item is not None:
        _track(self, hash_key, range_key, present=False)
    return item


# `ADD members :id` / `DELETE members :id` on a string set, nothing else asked.
_SET_UPDATE = re.compile(r"(ADD|DELETE) ([A-Za-z_][A-Za-z0-9_]*) (:[A-Za-z0-9_]+)")


def _update_item(self: DynamoDBBackend, table_name: str, key: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
    table = self.get_table(table_name)
    result = _set_update(self, table, key, *args, **kwargs)
    if result is None:
        result = _ORIGINAL["update_item"](self, table_name, key, *args, **kwargs)
    if getattr(table, "_bench_gsi", None) is not None:
        hash_value, range_value = self.get_keys_value(table, key)
        _index_item(table, table.get_item(hash_value, range_value))
    return result


def _set_update(
    backend: DynamoDBBackend,
    table: Table,
    key: dict[str, Any],
    update_expression: str | None = None,
    expression_attribute_names: Any = None,
    expression_attribute_values: Any = None,
    attribute_updates: Any = None,
    expected: Any = None,
    condition_expression: str | None = None,
    **rest: Any,
) -> Any:
    """An unconditional ADD to or DELETE from a string set, applied as the Put of the
    item it leaves (moto parses, validates and deep-copies for each one: three times a
    Put; DynamoDB bills it as one). Anything else: None, for moto to do."""
    found = _SET_UPDATE.fullmatch(update_expression or "")
    if found is None or attribute_updates or expected or condition_expression or expression_attribute_names:
        return None
    op, name, placeholder = found.groups()
    given = (expression_attribute_values or {}).get(placeholder) or {}
    if set(given) != {"SS"}:
        return None
    hash_value, range_value = backend.get_keys_value(table, key)
    item = table.get_item(hash_value, range_value)
    attrs: dict[str, Any] = item.to_json()["Attributes"] if item is not None else dict(key)
    current = attrs.get(name)
    if current is not None and set(current) != {"SS"}:
        return None  # a type error for moto to report
    members = set(current["SS"]) if current else set()
    members = members | set(given["SS"]) if op == "ADD" else members - set(given["SS"])
    if members:
        attrs[name] = {"SS": sorted(members)}
    else:
        attrs.pop(name, None)  # DynamoDB drops a set left empty
    if item is None and op == "DELETE" and not members:
        return None  # nothing to create: moto's own answer
    return table.put_item(attrs)


# transactions: conditions first, then the actions with an undo log ----------------------


def _transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    seen: set[tuple[str, str]] = set()
    errors: list[tuple[str | None, str | None, Any]] = []
    plan: list[tuple[str, dict[str, Any], str, dict[str, Any]]] = []
    for entry in transact_items:
        if len(entry) > 1:
            raise TransactWriteSingleOpException
        original_item = None
        try:
            op_type, op = next(iter(entry.items()))
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise ValueError("Unsupported transaction operation")
            table_name = op["TableName"]
            if op_type == "Put":
                table = self.get_table(table_name)
                key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = op["Item"][table.range_key_attr]
            else:
                key = op["Key"]
            identity = (str(table_name), str(dict(sorted(key.items()))))
            if identity in seen:
                raise MultipleTransactionsException()
            seen.add(identity)
            current = self.get_item(table_name, key)
            if op.get("ConditionExpression") is not None:
                condition = get_filter_expression(
                    op["ConditionExpression"], op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
                )
                if not condition.expr(current):
                    if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                        original_item = current.to_json()["Attributes"]
                    raise ConditionalCheckFailed(item=original_item)
            plan.append((op_type, op, table_name, key))
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            raise
        except ConditionalCheckFailed as e:
            errors.append(("ConditionalCheckFailed", str(e.message), original_item))
        except Exception as e:
            errors.append((type(e).__name__, str(e), original_item))
    if any(code is not None for code, _, _ in errors):
        raise TransactionCanceledException(errors)

    undo: list[tuple[Table, Any, Any, Any]] = []
    streams: dict[int, tuple[Table, int]] = {}
    position = 0
    try:
        for position in range(len(plan)):
            op_type, op, table_name, key = plan[position]
            table = self.get_table(table_name)
            if table.stream_shard is not None:
                streams.setdefault(id(table), (table, len(table.stream_shard.items)))
            hash_value, range_value = self.get_keys_value(table, key)
            before = table.get_item(hash_value, range_value)
            # A Put or Delete replaces the stored Item object and never changes it: the
            # undo log keeps the object itself; only an Update changes it in place.
            undo.append((table, hash_value, range_value, copy.deepcopy(before) if op_type == "Update" else before))
            # The conditions were all checked above and the server serves one request at
            # a time (the local stack's LockedApp): the actions apply without them.
            names: Any = op.get("ExpressionAttributeNames")
            values: Any = op.get("ExpressionAttributeValues")
            if op_type == "Put":
                self.put_item(table_name, op["Item"])
            elif op_type == "Delete":
                self.delete_item(table_name, key)
            elif op_type == "Update":
                self.update_item(
                    table_name,
                    key,
                    update_expression=op["UpdateExpression"],
                    expression_attribute_names=names,
                    expression_attribute_values=values,
                )
    except Exception as exc:
        for table, hash_value, range_value, before in reversed(undo):
            _restore(table, hash_value, range_value, before)
        for table, length in streams.values():
            if table.stream_shard is not None:
                del table.stream_shard.items[length:]
        if isinstance(exc, MultipleTransactionsException | MockValidationException):
            raise
        failed: list[tuple[str | None, str | None, Any]] = [(None, None, None)] * len(plan)
        failed[position] = (type(exc).__name__, str(exc), None)
        raise TransactionCanceledException(failed) from exc


def _restore(table: Table, hash_value: Any, range_value: Any, before: Any) -> None:
    _track(table, hash_value, range_value, present=before is not None)
    if table.range_key_attr:
        bucket = table.items[hash_value]
        if before is None:
            bucket.pop(range_value, None)
        else:
            bucket[range_value] = before
    elif before is None:
        table.items.pop(hash_value, None)
    else:
        table.items[hash_value] = before


# answers: item data as plain JSON ----------------------------------------------------------


def _bytes(value: Any) -> str:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _serialized(self: DynamoHandler, action_result: Any) -> Any:
    """moto's shape-driven serializer costs about 1 ms per returned item; for item data
    the JSON is the same written directly (errors and table descriptions go the stock way)."""
    result = action_result.result
    if isinstance(action_result, DynamoResult) and isinstance(result, dict) and self._get_action() in ITEM_ACTIONS:
        headers = {"Content-Type": "application/x-amz-json-1.0", **self.response_headers}
        return 200, headers, json.dumps(result, default=_bytes, separators=(",", ":"))
    return _ORIGINAL["serialized"](self, action_result)
