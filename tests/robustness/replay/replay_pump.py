"""A hostile event source mapping for tests: what DynamoDB Streams + Lambda may legally do.

`ReplayingPump` reads the table's real stream (`dynamodbstreams` on moto)
and hands Lambda-shaped batches to the real handler, but:

- delivers every batch 1 to `max_replays` times (seeded random): at-least-once;
- interleaves records of different items while keeping each item's order
  (records are grouped by the item's keys and shuffled across groups: items
  on different shards have no relative order);
- picks a random batch size each time, so batch boundaries move;
- on `batchItemFailures` rewinds to the lowest failed sequence number, as
  Lambda does; a handler that raises fails the whole batch, which comes again.

It re-acquires a shard iterator from its own checkpoint for every batch
(`AT_`/`AFTER_SEQUENCE_NUMBER`), so it never reads through an iterator that
moto left on a rolled-back copy of the table. Every record it read is kept
in `log` (by sequence number) for the invariant's merge re-derivation.

`FlakyRecords` wraps a handler: every `every`-th invocation, one record of the
batch (seeded choice) fails to process.
"""

from __future__ import annotations

import json
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chalicelib.local.pump import lambda_record

Handler = Callable[[dict[str, Any], Any], Any]


class StreamStuck(AssertionError):
    """A record kept failing: it would block its shard forever."""


@dataclass
class PumpStats:
    batches: int = 0  # distinct batches read from the stream
    deliveries: int = 0  # handler invocations
    replayed_batches: int = 0  # batches handed over more than once
    extra_deliveries: int = 0  # invocations beyond the first of each batch
    reordered: int = 0  # invocations whose order differed from the stream's
    rewinds: int = 0  # batchItemFailures answered by rewinding
    batch_errors: int = 0  # invocations that raised (whole batch retried)
    records: int = 0  # records handed over, replays included

    def __str__(self) -> str:
        return (
            f"{self.batches} batches, {self.replayed_batches} replayed ({self.extra_deliveries} extra deliveries), "
            f"{self.reordered} interleaved, {self.rewinds} rewinds, {self.batch_errors} whole-batch errors, "
            f"{self.records} records handed over"
        )


@dataclass
class ReplayingPump:
    streams: Any
    stream_arn: str
    handler: Handler
    seed: int = 0
    max_replays: int = 3
    max_batch: int = 8
    interleave: bool = True
    max_failures_per_record: int = 25
    stats: PumpStats = field(default_factory=PumpStats)
    log: dict[int, dict[str, Any]] = field(default_factory=dict)
    positions: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def _read(self, shard_id: str, limit: int) -> list[dict[str, Any]]:
        kind, sequence = self.positions.get(shard_id, ("TRIM_HORIZON", None))
        kwargs: dict[str, Any] = {"StreamArn": self.stream_arn, "ShardId": shard_id, "ShardIteratorType": kind}
        if sequence is not None:
            kwargs["SequenceNumber"] = sequence
        iterator = self.streams.get_shard_iterator(**kwargs)["ShardIterator"]
        records: list[dict[str, Any]] = self.streams.get_records(ShardIterator=iterator, Limit=limit)["Records"]
        return records

    def _shuffled(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Records of different items interleaved at random; each item's own order kept."""
        groups: dict[str, deque[dict[str, Any]]] = {}
        for record in records:
            key = json.dumps(record["dynamodb"]["Keys"], sort_keys=True)
            groups.setdefault(key, deque()).append(record)
        out: list[dict[str, Any]] = []
        while groups:
            key = self.rng.choice(list(groups))
            out.append(groups[key].popleft())
            if not groups[key]:
                del groups[key]
        return out

    def pump_once(self) -> int:
        """One batch per shard; returns how many records were read."""
        read = 0
        shards = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]
        for shard in shards:
            shard_id = shard["ShardId"]
            records = self._read(shard_id, self.rng.randint(1, self.max_batch))
            if not records:
                continue
            read += len(records)
            self.stats.batches += 1
            for record in records:
                self.log[int(record["dynamodb"]["SequenceNumber"])] = record
            sequences = [str(r["dynamodb"]["SequenceNumber"]) for r in records]
            times = self.rng.randint(1, self.max_replays)
            if times > 1:
                self.stats.replayed_batches += 1
            failed_at: str | None = None
            for attempt in range(times):
                batch = self._shuffled(records) if self.interleave else list(records)
                if batch != records:
                    self.stats.reordered += 1
                self.stats.deliveries += 1
                self.stats.records += len(batch)
                if attempt:
                    self.stats.extra_deliveries += 1
                event = {"Records": [lambda_record(r, self.stream_arn) for r in batch]}
                try:
                    result = self.handler(event, None) or {}
                except Exception:
                    self.stats.batch_errors += 1
                    failed_at = sequences[0]
                    break
                failed = [str(f["itemIdentifier"]) for f in result.get("batchItemFailures", [])]
                if failed:
                    unknown = [s for s in failed if s not in sequences]
                    assert not unknown, f"batchItemFailures name records not in the batch: {unknown}"
                    failed_at = min(failed, key=int)
                    self.stats.rewinds += 1
                    break
            if failed_at is None:
                self.positions[shard_id] = ("AFTER_SEQUENCE_NUMBER", max(sequences, key=int))
                continue
            self.failures[failed_at] = self.failures.get(failed_at, 0) + 1
            if self.failures[failed_at] > self.max_failures_per_record:
                raise StreamStuck(f"record {failed_at} failed {self.failures[failed_at]} times")
            self.positions[shard_id] = ("AT_SEQUENCE_NUMBER", failed_at)
        return read

    def drain(self, max_rounds: int = 20_000) -> int:
        """Pump until a round reads nothing; returns records read (replays not counted twice)."""
        total = 0
        for _ in range(max_rounds):
            read = self.pump_once()
            if read == 0:
                return total
            total += read
        raise StreamStuck(f"the stream did not drain in {max_rounds} rounds")


@dataclass
class FlakyRecords:
    """Every `every`-th invocation, one record of the batch (seeded) fails to process.

    The record is handed over with a unification image the consumer cannot
    decode, so processing it raises inside the real consumer, which must report
    it in `batchItemFailures`; the rewound delivery carries the real record.
    """

    handler: Handler
    every: int = 3
    seed: int = 0
    calls: int = 0
    injected: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        self.calls += 1
        if self.calls % self.every == 0 and event["Records"]:
            records = [dict(r) for r in event["Records"]]
            victim = self.rng.randrange(len(records))
            body = dict(records[victim]["dynamodb"])
            body["NewImage"] = {**body["Keys"], "kind": {"S": "unification"}}
            records[victim] = {**records[victim], "dynamodb": body}
            event = {**event, "Records": records}
            self.injected += 1
        return self.handler(event, context)
