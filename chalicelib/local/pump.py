"""Feeds the real stream handler from the table's real stream, as Lambda would.

moto's records lack `eventSourceARN` and carry `ApproximateCreationDateTime`
as a datetime; both are fixed here. On `batchItemFailures` the pump rewinds
to the lowest failed sequence number and retries with backoff; a record that
keeps failing is skipped after `max_attempts` and logged, so it never blocks
its shard: it is handed to `on_give_up` (the local stack parks it as a
`FAILURE#stream` item; on AWS the event source mapping sends it to the
failure queue).

Lanes, as Lambda's `ParallelizationFactor` (issue 10.14): without them one
long history move holds every record behind it in its shard. With `lanes`
above 1, one shard's batch is split by partition key (records of one key,
e.g. a unification and its progress images, stay together and in stream
order: per-item order holds, as on AWS; across keys there is no order, nor
is there across shards) and each key's records go to the handler as an event
of their own, on a pool of `lanes` threads: at most `lanes` invocations at
once, and a lane that finishes takes the next key, so one slow key never
idles the others. The next batch is read once the whole batch is done. A
failure anywhere rewinds the shard to the lowest failed sequence number, as
with one lane: records after it that other keys' invocations handled are
handed over again (at least once; the consumer is idempotent). `lanes=1`
hands the whole batch over on the caller's thread, in order.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
GiveUp = Callable[[dict[str, Any], str], None]


def by_partition_key(records: list[dict[str, Any]], partition_key: str = "PK") -> list[list[dict[str, Any]]]:
    """The batch's records grouped by partition key (the whole key when a record has
    no such attribute), each group in stream order, groups in order of first record."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        keys = record.get("dynamodb", {}).get("Keys", {})
        groups.setdefault(repr(keys.get(partition_key, keys)), []).append(record)
    return list(groups.values())


def lambda_record(raw: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    record = dict(raw)
    record["eventSourceARN"] = stream_arn
    body = dict(record.get("dynamodb", {}))
    created = body.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        body["ApproximateCreationDateTime"] = created.timestamp()
    record["dynamodb"] = body
    return record


class StreamPump:
    def __init__(
        self,
        streams_client: Any,
        stream_arn: str,
        handler: Handler,
        batch_size: int = 100,
        idle_sleep: float = 0.05,
        max_attempts: int = 5,
        on_give_up: GiveUp | None = None,
        lanes: int = 1,
    ) -> None:
        if lanes < 1:
            raise ValueError("a pump needs at least one lane")
        self.client = streams_client
        self.arn = stream_arn
        self.handler = handler
        self.batch_size = batch_size
        self.idle_sleep = idle_sleep
        self.max_attempts = max_attempts
        self.on_give_up = on_give_up
        self.lanes = lanes
        self._pool = ThreadPoolExecutor(lanes, thread_name_prefix="stream-lane") if lanes > 1 else None
        self.positions: dict[str, str] = {}  # shard → last sequence number handed over
        self.failures: dict[str, int] = {}
        self.skipped: list[dict[str, Any]] = []
        self._stop = threading.Event()

    def _iterator(self, shard_id: str) -> str:
        """A fresh iterator after the last record handed over (or from the start).

        Asked anew every round rather than following `NextShardIterator`:
        moto replaces a table's state when a transaction is cancelled, and an
        old iterator would keep reading the discarded copy.
        """
        last = self.positions.get(shard_id)
        kwargs: dict[str, Any] = {"StreamArn": self.arn, "ShardId": shard_id}
        if last is None:
            kwargs["ShardIteratorType"] = "TRIM_HORIZON"
        else:
            kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=last)
        iterator: str = self.client.get_shard_iterator(**kwargs)["ShardIterator"]
        return iterator

    def pump_once(self) -> int:
        """Read one batch per shard and hand it to the handler; returns records handled."""
        shards = self.client.describe_stream(StreamArn=self.arn)["StreamDescription"]["Shards"]
        handled = 0
        for shard in shards:
            shard_id = shard["ShardId"]
            raw = self.client.get_records(ShardIterator=self._iterator(shard_id), Limit=self.batch_size)
            records = raw.get("Records", [])
            if not records:
                continue
            handled += len(records)
            failed = self._hand_over(records)
            if failed:
                self._rewind(shard_id, records, min(failed, key=int))
            else:
                self.positions[shard_id] = records[-1]["dynamodb"]["SequenceNumber"]
        return handled

    def _hand_over(self, records: list[dict[str, Any]]) -> list[str]:
        """Hand one shard's batch to the handler, key by key on the lanes; the sequence
        numbers it reported failed. An invocation that raised fails the whole batch
        (raised again once every lane has finished), as a crashed invocation does on Lambda."""
        groups = by_partition_key(records) if self._pool is not None else [records]
        if self._pool is None or len(groups) == 1:
            return self._invoke(records)
        futures = [self._pool.submit(self._invoke, group) for group in groups]
        failed: list[str] = []
        errors: list[BaseException] = []
        for future in futures:
            try:
                failed.extend(future.result())
            except Exception as exc:  # every lane finishes before the batch is retried
                errors.append(exc)
        if errors:
            raise errors[0]
        return failed

    def _invoke(self, records: list[dict[str, Any]]) -> list[str]:
        event = {"Records": [lambda_record(r, self.arn) for r in records]}
        result = self.handler(event, None) or {}
        return [f["itemIdentifier"] for f in result.get("batchItemFailures", [])]

    def _rewind(self, shard_id: str, records: list[dict[str, Any]], sequence: str) -> None:
        """Resume at the lowest failed record; after `max_attempts` give it up (and go past it)."""
        attempts = self.failures.get(sequence, 0) + 1
        self.failures[sequence] = attempts
        index = next(i for i, r in enumerate(records) if r["dynamodb"]["SequenceNumber"] == sequence)
        if attempts >= self.max_attempts:
            log.error("stream record %s failed %d times; skipped", sequence, attempts)
            self.skipped.append(records[index])
            if self.on_give_up is not None:
                self.on_give_up(records[index], f"failed {attempts} times")
            self.positions[shard_id] = sequence
            return
        if index > 0:
            self.positions[shard_id] = records[index - 1]["dynamodb"]["SequenceNumber"]
        time.sleep(min(2.0, 0.1 * 2**attempts))

    def drain(self, rounds: int = 200) -> int:
        """Pump until a round finds nothing (tests)."""
        total = 0
        for _ in range(rounds):
            handled = self.pump_once()
            total += handled
            if handled == 0:
                return total
        return total

    def run_forever(self) -> None:
        while not self._stop.is_set():
            try:
                if self.pump_once() == 0:
                    time.sleep(self.idle_sleep)
            except Exception:
                log.exception("stream pump error")
                time.sleep(0.5)
        if self._pool is not None:
            self._pool.shutdown(wait=False)

    def stop(self) -> None:
        self._stop.set()
