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
            event = {"Records": [lambda_record(r, self.arn) for r in records]}
            result = self.handler(event, None) or {}
            failed = [f["itemIdentifier"] for f in result.get("batchItemFailures", [])]
            if failed:
                self._rewind(shard_id, records, min(failed, key=int))
            else:
                self.positions[shard_id] = records[-1]["dynamodb"]["SequenceNumber"]
        return handled

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

    def stop(self) -> None:
        self._stop.set()
