"""Make moto's DynamoDB fast enough for races and crash loops, without changing what it does.

moto backs up a transaction's table with `copy.deepcopy(table)` once per
*action* (a 5-action login copies the whole table, stream included, five
times), and deep-copies items through `LimitedSizeDict.__setitem__`, which
re-measures the whole item on every attribute. With a few hundred items a
transaction costs 0.2 s, serialized, and 50 racing logins take minutes.

`install(setattr)` patches it for good (the local stack behind `make run`);
tests pass `monkeypatch.setattr` so the patch is undone after them:
- a transaction journals the items it may touch (the keys of its actions)
  and the stream's length, and on failure puts exactly those back and drops
  the stream records it added: the same all-or-nothing outcome as moto's
  whole-table copy, at the cost of the transaction's own items. (The table
  object also stays the same one, so readers of the stream are not left on a
  discarded copy: `test_replay_local_pump.py` shows that moto quirk unpatched.)
- items and attribute values copy themselves structurally, skipping the size
  re-validation their originals already passed;
- an `AttributeValue` in a response, already in wire form (moto builds it with
  `to_json`), is written out as it is instead of being walked member by member
  through the generic response serializer (~10 ms per item otherwise);
- TransactWriteItems honours `ClientRequestToken` as DynamoDB does: the same
  request resent with the same token (botocore's resend after a lost answer)
  succeeds without being carried out again; moto would run it twice.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import moto.dynamodb.models as dynamodb_models
from moto.core.responses import ActionResult
from moto.core.serialize import BaseJSONSerializer
from moto.dynamodb.exceptions import MockValidationException
from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler

WIRE_TYPES = frozenset({"S", "N", "BOOL", "NULL", "M", "L", "SS", "NS"})  # no binary: that one needs encoding


def _is_wire(value: Any) -> bool:
    if not isinstance(value, dict) or len(value) != 1:
        return False
    ((kind, inner),) = value.items()
    if kind not in WIRE_TYPES:
        return False
    if kind == "M":
        return isinstance(inner, dict) and all(_is_wire(v) for v in inner.values())
    if kind == "L":
        return isinstance(inner, list) and all(_is_wire(v) for v in inner)
    return True


def _copy_value(value: DynamoType, memo: dict[int, Any]) -> DynamoType:
    new = DynamoType.__new__(DynamoType)
    new.__dict__.update(value.__dict__)
    inner = value.value
    if isinstance(inner, list):
        new.value = [_copy_value(v, memo) if type(v) is DynamoType else v for v in inner]
    elif isinstance(inner, dict):
        new.value = {k: _copy_value(v, memo) if type(v) is DynamoType else v for k, v in inner.items()}
    return new


def _copy_item(item: Item, memo: dict[int, Any]) -> Item:
    new = Item.__new__(Item)
    memo[id(item)] = new
    for name, value in item.__dict__.items():
        if name == "attrs":
            copied = {
                k: _copy_value(v, memo) if type(v) is DynamoType else copy.deepcopy(v, memo) for k, v in value.items()
            }
            # dict.update: no per-attribute size re-check
            new.attrs = LimitedSizeDict(copied)  # type: ignore[attr-defined]
        elif type(value) is DynamoType:
            new.__dict__[name] = _copy_value(value, memo)
        else:
            new.__dict__[name] = copy.deepcopy(value, memo)
    return new  # type: ignore[return-value]


class _NoTableCopies:
    """moto's `copy` module as its DynamoDB backend sees it: tables are journaled, not copied."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        if isinstance(value, Table):
            return value
        return copy.deepcopy(value, memo)


def _key_of(table: Table, op_type: str, op: dict[str, Any]) -> tuple[DynamoType, DynamoType | None] | None:
    source = op.get("Item") if op_type == "Put" else op.get("Key")
    try:
        hash_key = DynamoType(source[table.hash_key_attr])  # type: ignore[index]
        range_key = DynamoType(source[table.range_key_attr]) if table.range_key_attr else None  # type: ignore[index]
    except (KeyError, TypeError, IndexError):
        return None
    return hash_key, range_key


def _current(table: Table, hash_key: DynamoType, range_key: DynamoType | None) -> Item | None:
    inner = table.items.get(hash_key)
    if inner is None:
        return None
    found = inner.get(range_key) if range_key is not None else inner
    return found if isinstance(found, Item) else None


def _restore(table: Table, hash_key: DynamoType, range_key: DynamoType | None, item: Item | None) -> None:
    if range_key is None:
        if item is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = item  # type: ignore[assignment]
        return
    inner = table.items.get(hash_key)
    if item is None:
        if inner is not None:
            inner.pop(range_key, None)
            if not inner:
                table.items.pop(hash_key, None)
        return
    table.items[hash_key][range_key] = item


Patch = Callable[..., None]


def install(patch: Patch = setattr) -> None:
    """Swap in the faster, equivalent pieces with `patch(owner, name, value)`."""
    original = getattr(
        dynamodb_models.DynamoDBBackend.transact_write_items,
        "unwrapped",
        dynamodb_models.DynamoDBBackend.transact_write_items,
    )
    serialize_structure = BaseJSONSerializer._serialize_type_structure

    def _serialize_type_structure(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        if shape.name == "AttributeValue" and _is_wire(value):
            serialized[key] = value
            return
        serialize_structure(self, serialized, value, shape, key)

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        journal: list[tuple[Table, DynamoType, DynamoType | None, Item | None]] = []
        streams: dict[int, tuple[Table, int]] = {}
        for action in transact_items:
            if len(action) != 1:
                continue
            op_type, op = next(iter(action.items()))
            table = self.tables.get(op.get("TableName")) if isinstance(op, dict) else None
            key = _key_of(table, op_type, op) if table is not None else None
            if table is None or key is None:
                continue
            before = _current(table, *key)
            journal.append((table, key[0], key[1], _copy_item(before, {}) if before is not None else None))
            if table.stream_shard is not None:
                streams.setdefault(id(table), (table, len(table.stream_shard.items)))
        try:
            original(self, transact_items)
        except BaseException:
            for table, hash_key, range_key, item in reversed(journal):
                _restore(table, hash_key, range_key, item)
            for table, length in streams.values():
                del table.stream_shard.items[length:]  # type: ignore[union-attr]
            raise

    transact_write_items.unwrapped = original  # type: ignore[attr-defined]
    patch(dynamodb_models, "copy", _NoTableCopies())
    patch(dynamodb_models.DynamoDBBackend, "transact_write_items", transact_write_items)
    handle_transaction = getattr(DynamoHandler.transact_write_items, "unwrapped", DynamoHandler.transact_write_items)
    # (backend, ClientRequestToken) -> the request it committed: a token is remembered by
    # the backend that saw it (a fresh backend, as in tests, remembers none).
    committed: dict[tuple[int, str], str] = {}

    def transact_with_token(self: Any) -> Any:
        token = self.body.get("ClientRequestToken")
        request = json.dumps(self.body.get("TransactItems"), sort_keys=True)
        seen = (id(self.dynamodb_backend), token) if token is not None else None
        if seen is not None and seen in committed:
            if committed[seen] != request:
                raise MockValidationException("IdempotentParameterMismatch: the token was used for another request")
            return ActionResult({"ConsumedCapacity": [], "ItemCollectionMetrics": {}})
        result = handle_transaction(self)
        if seen is not None:
            committed[seen] = request
        return result

    transact_with_token.unwrapped = handle_transaction  # type: ignore[attr-defined]  # installing twice wraps once

    patch(DynamoHandler, "transact_write_items", transact_with_token)
    patch(BaseJSONSerializer, "_serialize_type_structure", _serialize_type_structure)
    patch(Item, "__deepcopy__", _copy_item)
    patch(DynamoType, "__deepcopy__", _copy_value)
