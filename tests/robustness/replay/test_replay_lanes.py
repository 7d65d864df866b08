"""The local stream pump's lanes (issue 10.14, as Lambda's `ParallelizationFactor`), on moto's server.

Within one shard's batch, records of different partition keys are handed to
the handler at once, on several threads; records of one key stay in stream
order. A failure in any lane rewinds the shard to the lowest failed sequence
number, as with one lane: nothing before it is handed over again, everything
from it on is (at least once), and a record that keeps failing is given up
(`on_give_up`) and passed.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.local.pump import StreamPump
from chalicelib.store.schema import create_table

KEYS = [f"key-{n}" for n in range(6)]
WRITES_PER_KEY = 4


@pytest.fixture
def table(moto_server: dict[str, Any]) -> Iterator[tuple[str, str]]:
    ddb, name = moto_server["ddb"], f"lanes-{uuid.uuid4().hex[:12]}"
    arn = create_table(ddb, name)
    # Writes interleaved across keys: key-0 #0, key-1 #0, ..., key-0 #1, ...
    for n in range(WRITES_PER_KEY):
        for key in KEYS:
            ddb.put_item(TableName=name, Item={"PK": {"S": key}, "SK": {"S": "#ITEM"}, "n": {"N": str(n)}})
    yield name, arn
    ddb.delete_table(TableName=name)


def written(record: dict[str, Any]) -> tuple[str, int]:
    body = record["dynamodb"]
    return body["Keys"]["PK"]["S"], int(body["NewImage"]["n"]["N"])


class Recorder:
    """A handler that notes what it was handed, on which thread, and how many ran at once."""

    def __init__(self, fail: tuple[str, int] | None = None, fail_times: int = 0) -> None:
        self.lock = threading.Lock()
        self.handed: list[tuple[str, int, int]] = []  # key, n, sequence
        self.threads: set[str] = set()
        self.running = 0
        self.most_at_once = 0
        self.fail, self.fail_times, self.failed = fail, fail_times, 0

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        with self.lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
            self.threads.add(threading.current_thread().name)
        try:
            time.sleep(0.05)  # long enough for the other lanes to start meanwhile
            for record in event["Records"]:
                key, n = written(record)
                sequence = record["dynamodb"]["SequenceNumber"]
                with self.lock:
                    if (key, n) == self.fail and self.failed < self.fail_times:
                        self.failed += 1
                        return {"batchItemFailures": [{"itemIdentifier": sequence}]}
                    self.handed.append((key, n, int(sequence)))
            return {"batchItemFailures": []}
        finally:
            with self.lock:
                self.running -= 1


def test_lanes_run_keys_at_once_and_keep_each_keys_order(moto_server: dict[str, Any], table: tuple[str, str]) -> None:
    _, arn = table
    recorder = Recorder()
    pump = StreamPump(moto_server["streams"], arn, recorder, lanes=4, batch_size=1000)
    assert pump.drain() == len(KEYS) * WRITES_PER_KEY
    assert Counter((k, n) for k, n, _ in recorder.handed) == Counter(
        {(k, n): 1 for k in KEYS for n in range(WRITES_PER_KEY)}
    ), "every record exactly once"
    by_key: dict[str, list[int]] = defaultdict(list)
    for key, n, _ in recorder.handed:
        by_key[key].append(n)
    assert all(order == list(range(WRITES_PER_KEY)) for order in by_key.values()), by_key
    assert recorder.most_at_once > 1, "the lanes never ran at once"
    assert 1 < len(recorder.threads) <= 4, recorder.threads


def test_one_lane_hands_the_batch_over_whole_in_order(moto_server: dict[str, Any], table: tuple[str, str]) -> None:
    _, arn = table
    recorder = Recorder()
    StreamPump(moto_server["streams"], arn, recorder, batch_size=1000).drain()
    assert [s for _, _, s in recorder.handed] == sorted(s for _, _, s in recorder.handed)
    assert recorder.most_at_once == 1 and len(recorder.threads) == 1


def test_a_failure_in_one_lane_rewinds_the_shard_to_it(moto_server: dict[str, Any], table: tuple[str, str]) -> None:
    _, arn = table
    failing = ("key-3", 1)
    recorder = Recorder(fail=failing, fail_times=2)
    pump = StreamPump(moto_server["streams"], arn, recorder, lanes=4, batch_size=1000)
    pump.drain()
    failed_at = next(s for k, n, s in recorder.handed if (k, n) == failing)
    seen = Counter(s for _, _, s in recorder.handed)
    key_of = {s: k for k, _, s in recorder.handed}
    assert all(count == 1 for s, count in seen.items() if s < failed_at), "records before the failure came again"
    # Other keys' later records were handled by their lanes, and come again after each rewind;
    # the failing key's later ones waited behind it (its invocation stops at its failure).
    later = {s: count for s, count in seen.items() if s > failed_at}
    assert later and all(count == 3 for s, count in later.items() if key_of[s] != failing[0]), later
    assert all(count == 1 for s, count in later.items() if key_of[s] == failing[0]), later
    assert seen[failed_at] == 1 and recorder.failed == 2 and not pump.skipped


def test_a_record_failing_in_a_lane_is_given_up_once_and_passed(
    moto_server: dict[str, Any], table: tuple[str, str]
) -> None:
    _, arn = table
    failing = ("key-2", 2)
    recorder = Recorder(fail=failing, fail_times=100)
    given_up: list[tuple[str, int]] = []
    pump = StreamPump(
        moto_server["streams"],
        arn,
        recorder,
        lanes=4,
        batch_size=1000,
        max_attempts=2,
        on_give_up=lambda record, reason: given_up.append(written(record)),
    )
    pump.drain()
    assert given_up == [failing] and [written(r) for r in pump.skipped] == [failing]
    handed = {(k, n) for k, n, _ in recorder.handed}
    assert handed == {(k, n) for k in KEYS for n in range(WRITES_PER_KEY)} - {failing}
