"""Capacity per operation: the units DynamoDB would bill, against what the data needs.

Measured (`bench/meter.py` costs every request moto's server answers, from
the items it wrote and read; item sizes by DynamoDB's rules, `item_size.py`):
- writes: 1 write unit per KB of the larger of an item's old and new image
  (at least 1), in the table and in every GSI the item lands in (sparse; an
  index key that changes costs a delete and a put there; an index projecting
  KEYS_ONLY or INCLUDE holds only those attributes, and an update that
  changes none of them costs it nothing); transactional writes ×2 in the
  table; a ConditionCheck as a transactional write of the item it checks; a
  failed condition as a write of the existing item;
- reads: 1 read unit per 4 KB, strongly consistent, half of it eventually
  consistent (every GSI read); GetItem and BatchGetItem round each item, a
  Query the sum of the items it read (full items, whatever it projects);
  TransactGetItems ×2.

Minimum (what the operation's own data needs), from the same measurement:
every item whose content the operation changed (its first old image against
its last new image), written once in the table (×2 only where the rules make
the operation one transaction, `ATOMIC`, and the item was written in one: the
history a move copies in batches is not part of its commit), plus a keys-only index entry put or
deleted wherever the item's index key appeared, went or changed (an index
needs no copy of what its readers can read from the table); every distinct
item it read, once, eventually consistent, the items of one partition added
up as one Query would (4 KB units). A write of an unchanged item, a second
write of one item, a transaction's second write where nothing needs it,
copies in indexes, condition checks and consistent reads are what the
measurement can carry above that.

Dollars: on-demand list prices, us-east-1 (AWS cut on-demand throughput
prices by 50% in November 2024; figures as published on the DynamoDB pricing
page, checked 2026-12-01): $0.625 per million write request units, $0.125
per million read request units. Dollars per million operations = write units
per operation × 0.625 + read units × 0.125. The ratio is measured dollars ÷
minimum dollars; target ≤ 1.25.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from .item_size import READ_UNIT_BYTES, Schema, Wire, item_size, read_units, write_units
from .meter import Usage

REGION = "us-east-1"
WRITE_PRICE = 0.625  # $ per million write request units, on demand
READ_PRICE = 0.125  # $ per million read request units, on demand
PRICES_CHECKED = "2026-12-01"
TARGET = 1.25

# Operations whose rules make them all-or-nothing (their minimum is one transaction):
# a unification commits source, member and record together (R3, R7); a login that
# converts claims the memberId with the user (R5.2); a new member claims its memberId
# (R8.2); a candidate is recorded with the pending lists that name it (R6.3, R7.2);
# the move's completion marks the record and the member together (R10); a session's
# event, and a first message with the chat it opens, land in the user's partition
# together with its tally, and only while it is not unified (R3.3: nothing lands in
# a partition that already moved; R10: `total` counts exactly what the source held).
# Without the transaction these two would need a repair on the stream for an item
# landing after the move passed, and a window in which a member's read misses it;
# measured against a minimum without it, they are 1.67x and 1.8x (README, Performance).
ATOMIC = frozenset(
    {
        "session_event",
        "chat",
        "login_converts",
        "login_unifies_10",
        "login_unifies_1000",
        "manager_edit_candidate",
        "manager_edit_candidate_long_history",
        "approve_immediate",
        "csv_row_member_new",
        "csv_row_lead_matching",
        "stream_unify_move",
        "stream_deferred_login",
    }
)


def dollars(write: float, read: float) -> float:
    """$ per million operations of `write` write units and `read` read units each."""
    return write * WRITE_PRICE + read * READ_PRICE


@dataclass(frozen=True)
class Minimum:
    write_units: float
    read_units: float
    changed_items: int
    read_items: int


def minimum(usage: Usage, atomic: bool) -> Minimum:
    schema: Schema = usage.schema
    net: dict[tuple[str, tuple[str, str | None]], list[Wire | None]] = {}
    in_transaction: set[tuple[str, tuple[str, str | None]]] = set()
    for w in usage.writes:
        if w.failed or w.condition_check:
            continue
        ident = (w.table, w.key)
        if ident not in net:
            net[ident] = [w.old, w.new]
        net[ident][1] = w.new
        if w.transactional:
            in_transaction.add(ident)
    write = 0.0
    changed = 0
    for ident, (old, new) in net.items():
        if old == new:
            continue
        changed += 1
        factor = 2 if atomic and ident in in_transaction else 1
        write += write_units(max(item_size(old), item_size(new))) * factor
        for index in schema.indexes:
            old_key, new_key = index.key_of(old), index.key_of(new)
            if old_key == new_key:
                continue
            keys_only = [k for k in (schema.hash_key, schema.range_key, index.hash_key, index.range_key) if k]
            for image, key in ((old, old_key), (new, new_key)):
                if key is not None and image is not None:
                    write += write_units(item_size({k: image[k] for k in keys_only if k in image}))
    partitions: dict[tuple[str, str], dict[tuple[str, str | None], int]] = defaultdict(dict)
    for r in usage.reads:
        for key, size in r.items:
            partitions[(r.scope, r.partition)][key] = size
        if not r.items:
            partitions.setdefault((r.scope, r.partition), {})  # an empty read still reads
    read = 0.0
    for items in partitions.values():
        total = sum(items.values())
        read += 0.5 * (read_units(total) if total else 1)
    return Minimum(write, read, changed, sum(len(v) for v in partitions.values()))


@dataclass
class CapacityRow:
    key: str
    title: str
    per: int
    write_units: float
    read_units: float
    min_write_units: float
    min_read_units: float
    dollars_per_million: float
    min_dollars_per_million: float
    ratio: float
    passed: bool
    detail: dict[str, Any] = field(default_factory=dict)


def row(key: str, title: str, usage: Usage, per: int = 1) -> CapacityRow:
    low = minimum(usage, key in ATOMIC)
    wru, rru = usage.write_units / per, usage.read_units / per
    min_wru, min_rru = low.write_units / per, low.read_units / per
    measured, least = dollars(wru, rru), dollars(min_wru, min_rru)
    ratio = measured / least if least else (1.0 if not measured else float("inf"))
    return CapacityRow(
        key=key,
        title=title,
        per=per,
        write_units=round(wru, 3),
        read_units=round(rru, 3),
        min_write_units=round(min_wru, 3),
        min_read_units=round(min_rru, 3),
        dollars_per_million=round(measured, 4),
        min_dollars_per_million=round(least, 4),
        ratio=round(ratio, 2),
        passed=ratio <= TARGET + 1e-9,
        detail={
            "write_units_by": {k: round(v / per, 3) for k, v in usage.breakdown().items()},
            "read_units_by": {k: round(v / per, 3) for k, v in usage.read_breakdown().items()},
            "items_changed": low.changed_items,
            "items_read": low.read_items,
            "atomic": key in ATOMIC,
            "largest_item_bytes": max((item_size(w.new or w.old) for w in usage.writes), default=0),
            "read_unit_bytes": READ_UNIT_BYTES,
        },
    )


def render(rows: list[CapacityRow]) -> str:
    lines = [
        f"1b. DynamoDB capacity per operation (on demand, {REGION}: ${WRITE_PRICE}/M write units,"
        f" ${READ_PRICE}/M read units, as of {PRICES_CHECKED}; target: $ <= {TARGET}x the minimum)",
        f"   {'operation':<50} {'WRU':>6} {'min':>6} {'RRU':>6} {'min':>6} {'$/M ops':>8} {'ratio':>6}"
        "  result  write units by",
    ]
    for r in rows:
        by = ", ".join(f"{k} {v:g}" for k, v in r.detail["write_units_by"].items()) or "-"
        verdict = "PASS" if r.passed else "FAIL"
        lines.append(
            f"   {r.title[:50]:<50} {r.write_units:>6.2f} {r.min_write_units:>6.2f} {r.read_units:>6.2f}"
            f" {r.min_read_units:>6.2f} {r.dollars_per_million:>8.3f} {r.ratio:>6.2f}  {verdict:<6}  {by}"
        )
    return "\n".join(lines)


def summary(rows: list[CapacityRow]) -> str:
    failed = [r.key for r in rows if not r.passed]
    verdict = "PASS" if not failed else "FAIL"
    worst = max(rows, key=lambda r: r.ratio) if rows else None
    tail = f" (worst {worst.key} {worst.ratio}x)" if worst and failed else ""
    return f"capacity {verdict} {len(rows) - len(failed)}/{len(rows)}{tail}"
