"""Feeds the real stream handler from the table's real stream, as Lambda would.

moto's records lack `eventSourceARN` and carry `ApproximateCreationDateTime`
as a datetime; both are fixed here. On `batchItemFailures` the pump rewinds
to the lowest failed sequence number and retries with backoff; a record that
keeps failing is skipped after `max_attempts` and logged, so it never blocks
its shard: it is handed to `on_give_up` (the local stack parks it as a
`FAILURE#stream` item; on AWS the event source mapping sends it to the
failure queue).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
GiveUp = Callable[[dict[str, Any], str], None]


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
    ) -> None:
        self.client = streams_client
        self.arn = stream_arn
        self.handler = handler
        self.batch_size = batch_size
        self.idle_sleep = idle_sleep
        self.max_attempts = max_attempts
        self.on_give_up = on_give_up
        self.iterators: dict[str, str] = {}
        self.failures: dict[str, int] = {}
        self.skipped: list[dict[str, Any]] = []
        self._stop = threading.Event()

    def _refresh_shards(self) -> None:
        shards = self.client.describe_stream(StreamArn=self.arn)["StreamDescription"]["Shards"]
        for shard in shards:
            shard_id = shard["ShardId"]
            if shard_id not in self.iterators:
                self.iterators[shard_id] = self.client.get_shard_iterator(
                    StreamArn=self.arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]

    def pump_once(self) -> int:
        """Read one batch per shard and hand it to the handler; returns records handled."""
        self._refresh_shards()
        handled = 0
        for shard_id, iterator in list(self.iterators.items()):
            raw = self.client.get_records(ShardIterator=iterator, Limit=self.batch_size)
            records = raw.get("Records", [])
            next_iterator = raw.get("NextShardIterator")
            if records:
                handled += len(records)
                event = {"Records": [lambda_record(r, self.arn) for r in records]}
                result = self.handler(event, None) or {}
                failed = [f["itemIdentifier"] for f in result.get("batchItemFailures", [])]
                if failed:
                    next_iterator = self._rewind(shard_id, records, min(failed, key=int))
            if next_iterator:
                self.iterators[shard_id] = next_iterator
            else:
                del self.iterators[shard_id]
        return handled

    def _rewind(self, shard_id: str, records: list[dict[str, Any]], sequence: str) -> str | None:
        attempts = self.failures.get(sequence, 0) + 1
        self.failures[sequence] = attempts
        position = "AT_SEQUENCE_NUMBER"
        if attempts >= self.max_attempts:
            bad = next(r for r in records if r["dynamodb"]["SequenceNumber"] == sequence)
            log.error("stream record %s failed %d times; skipped", sequence, attempts)
            self.skipped.append(bad)
            if self.on_give_up is not None:
                self.on_give_up(bad, f"failed {attempts} times")
            position = "AFTER_SEQUENCE_NUMBER"
        else:
            time.sleep(min(2.0, 0.1 * 2**attempts))
        iterator: str = self.client.get_shard_iterator(
            StreamArn=self.arn, ShardId=shard_id, ShardIteratorType=position, SequenceNumber=sequence
        )["ShardIterator"]
        return iterator

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

    def stop(self) -> None:
        self._stop.set()
