"""DynamoDB's item-size rules, on wire-format items (`{"name": {"S": "..."}}`).

What DynamoDB bills is computed from these sizes (see `bench/capacity.py`):
an item's size is the sum of its attribute names' and values' lengths:
- String: its UTF-8 bytes; Binary: its raw bytes (the wire carries base64);
- Number: 1 byte per two significant digits, plus 1 (leading and trailing
  zeroes trimmed);
- Boolean and Null: 1 byte;
- String, Number and Binary sets: the sum of their members' sizes;
- List and Map: 3 bytes, plus 1 byte per element, plus the elements' sizes
  (a Map's keys count as names).

An index entry holds the index's key attributes, the table's key attributes
and the attributes the index projects (ALL, KEYS_ONLY or INCLUDE its
NonKeyAttributes); an item lands in a (sparse) index only when it carries
every key attribute of that index.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from typing import Any

Wire = dict[str, Any]

KB = 1024
READ_UNIT_BYTES = 4 * KB


def number_size(text: str) -> int:
    digits = text.strip().lstrip("+-").lower()
    mantissa = digits.split("e", 1)[0].replace(".", "")
    significant = mantissa.strip("0") or "0"
    return math.ceil(len(significant) / 2) + 1


def _binary_size(value: Any) -> int:
    if isinstance(value, bytes | bytearray):
        return len(value)
    return len(base64.b64decode(value))


def value_size(value: Wire) -> int:
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(inner.encode("utf-8"))
    if kind == "N":
        return number_size(inner)
    if kind == "B":
        return _binary_size(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode("utf-8")) for s in inner)
    if kind == "NS":
        return sum(number_size(n) for n in inner)
    if kind == "BS":
        return sum(_binary_size(b) for b in inner)
    if kind == "L":
        return 3 + sum(1 + value_size(v) for v in inner)
    if kind == "M":
        return 3 + sum(1 + len(k.encode("utf-8")) + value_size(v) for k, v in inner.items())
    raise ValueError(f"unknown attribute type {kind!r}")


def item_size(item: Wire | None) -> int:
    if not item:
        return 0
    return sum(len(name.encode("utf-8")) + value_size(value) for name, value in item.items())


def write_units(size: int) -> int:
    """Write units of one standard write of an item of `size` bytes (1 KB each, at least 1)."""
    return max(1, math.ceil(size / KB))


def read_units(size: int) -> int:
    """Strongly consistent read units for `size` bytes (4 KB each, at least 1)."""
    return max(1, math.ceil(size / READ_UNIT_BYTES))


@dataclass(frozen=True)
class Index:
    """One GSI as `table_definition()` declares it."""

    name: str
    hash_key: str
    range_key: str | None
    projection: str  # ALL | KEYS_ONLY | INCLUDE
    include: tuple[str, ...] = ()

    def key_of(self, item: Wire | None) -> tuple[str, str | None] | None:
        """The entry's index key (hash, range) as text, or None: the item is not in the index."""
        if not item or self.hash_key not in item or (self.range_key and self.range_key not in item):
            return None
        hash_value = _text(item[self.hash_key])
        return hash_value, _text(item[self.range_key]) if self.range_key else None

    def entry(self, item: Wire | None, table_keys: tuple[str, ...]) -> Wire | None:
        """What the index holds for `item` (None: not in it)."""
        if self.key_of(item) is None:
            return None
        assert item is not None
        if self.projection == "ALL":
            return dict(item)
        kept = set(table_keys) | {self.hash_key} | ({self.range_key} if self.range_key else set())
        if self.projection == "INCLUDE":
            kept |= set(self.include)
        return {name: value for name, value in item.items() if name in kept}


@dataclass(frozen=True)
class Schema:
    """Table keys and GSIs, read from `chalicelib.store.schema.table_definition()`."""

    hash_key: str
    range_key: str | None
    indexes: tuple[Index, ...]

    @property
    def table_keys(self) -> tuple[str, ...]:
        return (self.hash_key,) + ((self.range_key,) if self.range_key else ())

    def key(self, item: Wire) -> tuple[str, str | None]:
        return _text(item[self.hash_key]), _text(item[self.range_key]) if self.range_key else None

    def index(self, name: str) -> Index:
        return next(i for i in self.indexes if i.name == name)

    @classmethod
    def from_definition(cls, definition: dict[str, Any]) -> Schema:
        def keys(schema: list[dict[str, str]]) -> tuple[str, str | None]:
            hash_key = next(k["AttributeName"] for k in schema if k["KeyType"] == "HASH")
            range_key = next((k["AttributeName"] for k in schema if k["KeyType"] == "RANGE"), None)
            return hash_key, range_key

        indexes = []
        for gsi in definition.get("GlobalSecondaryIndexes", []):
            hash_key, range_key = keys(gsi["KeySchema"])
            projection = gsi.get("Projection", {})
            indexes.append(
                Index(
                    gsi["IndexName"],
                    hash_key,
                    range_key,
                    projection.get("ProjectionType", "ALL"),
                    tuple(projection.get("NonKeyAttributes", ())),
                )
            )
        hash_key, range_key = keys(definition["KeySchema"])
        return cls(hash_key, range_key, tuple(indexes))

    @classmethod
    def current(cls) -> Schema:
        from chalicelib.store.schema import table_definition

        return cls.from_definition(table_definition("bench"))


def _text(value: Wire) -> str:
    ((_, inner),) = value.items()
    return str(inner)
