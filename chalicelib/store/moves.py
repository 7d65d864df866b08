"""A unified source's history moving into its member (R3.3, R10), and work that comes due.

Chunks are copied in key order from a bookmark the record keeps; copies keep
their keys and carry `movedFrom`, so copying a chunk twice writes the same
items and readers skip a copy whose original they listed. Originals are
deleted only after the record's grace period (`cleanAfter`): by then no read
that saw the source still moving can be reading its partition.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field

from ..domain import writes as w
from ..domain.timefmt import iso
from ..service.ports import HistoryChunk
from . import keys
from .base import BATCH_WRITE_SIZE, TableClient
from .codec import from_wire, to_wire
from .cursors import Cursor, TableKey, decode, encode


def _copy_into(item: dict[str, Any], source_id: str, target_id: str) -> dict[str, Any]:
    """A source's history item as its copy in the target's partition: the same key, and
    `movedFrom`, so a reader that listed the original skips it."""
    return {**item, "PK": {"S": keys.user_partition(target_id)}, "movedFrom": {"S": source_id}}


class MoveBookmark(Cursor):
    """Where a move resumes: the history prefix (chats, then events) and the key after which."""

    t: Literal["mv"]
    phase: Annotated[int, Field(ge=0, le=len(keys.HISTORY_PREFIXES))]
    key: TableKey | None = None


class Moves(TableClient):
    def copy_history_chunk(self, source_id: str, target_id: str, cursor: str | None, limit: int) -> HistoryChunk:
        """Copy up to `limit` chats/events of the source's partition into the target's.

        Resumes after `cursor`; the chunk's cursor is None once everything is
        copied. The chunk carries the source keys it copied.
        """
        state = decode(cursor, MoveBookmark) or MoveBookmark(t="mv", phase=0)
        phase, start_key = state.phase, state.key.wire() if state.key else None
        copied = [0, 0]
        source_keys: list[dict[str, Any]] = []
        copies: list[dict[str, Any]] = []
        remaining = limit
        while phase < len(keys.HISTORY_PREFIXES) and remaining > 0:
            kwargs = self._prefix_query(
                keys.user_partition(source_id), keys.HISTORY_PREFIXES[phase], ConsistentRead=True, Limit=remaining
            )
            if start_key:
                kwargs["ExclusiveStartKey"] = start_key
            raw = self.client.query(TableName=self.table, **kwargs)
            items = raw.get("Items", [])
            source_keys += [{"PK": item["PK"], "SK": item["SK"]} for item in items]
            copies += [_copy_into(item, source_id, target_id) for item in items]
            # Whole batches go now (a page holds up to 1 MB); a remainder waits to share
            # a batch with the next prefix's first items.
            whole = len(copies) - len(copies) % BATCH_WRITE_SIZE
            self.batch_write([{"PutRequest": {"Item": copy}} for copy in copies[:whole]])
            copies = copies[whole:]
            copied[phase] += len(items)
            remaining -= len(items)
            start_key = raw.get("LastEvaluatedKey")
            if start_key is None:
                phase += 1
        self.batch_write([{"PutRequest": {"Item": copy}} for copy in copies])
        if phase >= len(keys.HISTORY_PREFIXES):
            next_cursor = None
        else:
            key = TableKey(PK=start_key["PK"]["S"], SK=start_key["SK"]["S"]) if start_key else None
            next_cursor = encode(MoveBookmark(t="mv", phase=phase, key=key))
        return HistoryChunk(copied[0], copied[1], next_cursor, source_keys)

    def small_history(self, source_id: str, target_id: str, chats: int, events: int) -> w.CopyHistory | None:
        """The source's chats and events as copies into the target, in one Query, when
        they are exactly the `chats` and `events` its tallies count (else None)."""
        first, last = (keys.CHATS if chats else keys.EVENTS), (keys.CHATS if not events else keys.EVENTS)
        raw = self.client.query(
            TableName=self.table,
            KeyConditionExpression="PK = :pk AND SK BETWEEN :first AND :last",
            ExpressionAttributeValues=to_wire(
                {":pk": keys.user_partition(source_id), ":first": first, ":last": last + "\uffff"}
            ),
            ConsistentRead=True,
        )
        if "LastEvaluatedKey" in raw:
            return None
        found = [item for item in raw.get("Items", []) if item["SK"]["S"].startswith(keys.HISTORY_PREFIXES)]
        counted = sum(1 for item in found if item["SK"]["S"].startswith(keys.CHATS))
        if (counted, len(found) - counted) != (chats, events):
            return None
        return w.CopyHistory(chats, events, tuple(_copy_into(item, source_id, target_id) for item in found))

    def delete_history(self, wire_keys: Sequence[dict[str, Any]]) -> None:
        """Delete items by their wire keys (as `copy_history_chunk` gave them)."""
        self.batch_write([{"DeleteRequest": {"Key": dict(key)}} for key in wire_keys])

    def delete_history_chunk(self, user_id: str, limit: int) -> int:
        """Delete up to `limit` chats/events from the user's partition (their keys read,
        then one batch of deletes); fewer than `limit` means none are left."""
        found: list[dict[str, Any]] = []
        for prefix in keys.HISTORY_PREFIXES:
            raw = self.client.query(
                TableName=self.table,
                **self._prefix_query(
                    keys.user_partition(user_id),
                    prefix,
                    ConsistentRead=True,
                    Limit=limit - len(found),
                    ProjectionExpression="PK, SK",
                ),
            )
            found += raw.get("Items", [])
            if len(found) >= limit:
                break
        self.delete_history(found)
        return len(found)

    def due(self, kind: str, now: datetime, limit: int = 100) -> list[tuple[str, str]]:
        """(PK, SK) of the items whose `kind` of work is due by `now` (oldest first, every shard)."""
        index, pk_name, sk_name = keys.GSI4
        found: list[tuple[str, str, str]] = []
        for pk in keys.due_keys(kind):
            raw = self.client.query(
                TableName=self.table,
                IndexName=index,
                KeyConditionExpression=f"{pk_name} = :pk AND {sk_name} <= :now",
                ExpressionAttributeValues=to_wire({":pk": pk, ":now": iso(now) + "#\uffff"}),
                Limit=limit,
            )
            found += [
                (str(row[sk_name]), str(row["PK"]), str(row["SK"])) for row in map(from_wire, raw.get("Items", []))
            ]
        return [(pk, sk) for _, pk, sk in sorted(found)[:limit]]
