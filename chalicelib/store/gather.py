"""Reading a write-sharded key: every shard queried, the rows merged in sort-key order.

A key unrelated customers would share is spread over `keys.SHARDS` partitions
(a hot partition otherwise, DESIGN rule 9); a listing gathers them and keeps,
per shard, the last sort key it handed out (`DONE` once a shard is exhausted).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .base import TableClient
from .codec import from_wire, to_wire
from .cursors import DONE


class Gather(TableClient):
    def _gather(
        self,
        partitions: Sequence[str],
        pk_name: str,
        sk_name: str,
        positions: dict[str, str],
        limit: int,
        *,
        index: str | None = None,
        newest_first: bool = False,
    ) -> tuple[list[dict[str, Any]], dict[str, str]]:
        """The next `limit` rows across `partitions` in sort-key order, and each
        partition's position (by its number in `partitions`) after them."""
        candidates: list[tuple[str, str, dict[str, Any]]] = []
        exhausted: dict[str, bool] = {}
        for number, pk in enumerate(partitions):
            shard = str(number)
            position = positions.get(shard, "")
            if position == DONE:
                continue
            after = f" AND {sk_name} {'<' if newest_first else '>'} :after" if position else ""
            kwargs: dict[str, Any] = {
                "KeyConditionExpression": f"{pk_name} = :pk{after}",
                "ExpressionAttributeValues": to_wire({":pk": pk, **({":after": position} if position else {})}),
                "Limit": limit,
                "ScanIndexForward": not newest_first,
            }
            if index is not None:
                kwargs["IndexName"] = index
            else:
                kwargs["ConsistentRead"] = True
            raw = self._query_page(**kwargs)
            rows = [from_wire(i) for i in raw.get("Items", [])]
            exhausted[shard] = "LastEvaluatedKey" not in raw
            candidates += [(str(row[sk_name]), shard, row) for row in rows]
        candidates.sort(key=lambda c: c[0], reverse=newest_first)
        taken, left = candidates[:limit], candidates[limit:]
        after_positions = dict(positions)
        for sort_key, shard, _ in taken:
            after_positions[shard] = sort_key
        for shard, done in exhausted.items():
            if done and not any(c[1] == shard for c in left):
                after_positions[shard] = DONE
        return [row for _, _, row in taken], after_positions

    @staticmethod
    def _all_done(positions: dict[str, str], partitions: int) -> bool:
        return len(positions) == partitions and all(p == DONE for p in positions.values())
