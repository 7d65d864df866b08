"""Issue 16.4 and 16.5: the stream consumer near its Lambda's time limit stops taking
records and reports the rest as failed items (never a timeout that retries the whole
batch); the local stream pump parks what it gives up on as `make run` does; then
`python -m chalicelib.local.replay` re-drives the parked records through the real
consumer, idempotently, and deletes what was handled.

The time is spent for real: while `slow` is on, every DynamoDB request of the
service waits a second (a botocore hook on its real client, moto's server behind).
"""

from __future__ import annotations

import os
import time
from typing import Any
from unittest import mock

import pytest
from integration.support import ok

import app
from chalicelib import budget
from chalicelib.bootstrap import container
from chalicelib.local import replay
from chalicelib.local.pump import StreamPump
from chalicelib.service import unify

from .conftest import Service


class NearItsLimit:
    """A Lambda context with a little more than the consumer's margin left."""

    def __init__(self, seconds: float) -> None:
        self.ends = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return int((self.ends - time.monotonic()) * 1000)


class Slow:
    def __init__(self, client: Any) -> None:
        self.on = False
        client.meta.events.register("before-send.dynamodb", self)

    def __call__(self, **_: Any) -> None:
        if self.on:
            time.sleep(1.0)


def park(record: dict[str, Any], reason: str) -> None:
    """What `make run` does with a record its pump gives up on (chalicelib/local/__main__.py)."""
    sequence = str(record.get("dynamodb", {}).get("SequenceNumber", "?"))
    container().deps.store.record_failure("stream", sequence, record, reason)


def unified_with_history(service: Service) -> tuple[dict[str, Any], str]:
    api = service.api
    member = api.put_member("m-replay", {"name": "Replay Member"})
    boot = ok(api.call("POST", "/v1/boot", {}, api.credentials.plugin_headers))
    bearer = {"Authorization": f"Bearer {boot['sessionToken']}"}
    ok(api.call("POST", "/v1/session/chats", {"text": "first"}, bearer), 201)
    ok(api.call("POST", "/v1/session/events", {"name": "PageView"}, bearer), 201)
    login = ok(api.call("POST", "/v1/session/login", {"memberId": "m-replay"}, bearer))
    return member, login["unification"]["id"]


def test_near_its_time_limit_the_consumer_reports_the_rest_and_the_replay_finishes_it(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(unify, "MOVED_IN_COMMIT_MAX", 0)  # the history moves on the stream
    member, unification_id = unified_with_history(service)
    slow = Slow(service.container.client)
    answers: list[tuple[int, list[str]]] = []

    def near_limit(event: dict[str, Any], _: Any) -> dict[str, Any]:
        # 1.5 s more than the margin and one call's reserve: a record's first call starts,
        # its second would not end in time.
        context = NearItsLimit(budget.LAMBDA_MARGIN_SECONDS + budget.RESERVE + 1.5)
        result: dict[str, Any] = app.stream_consumer(event, context)
        answers.append((len(event["Records"]), [f["itemIdentifier"] for f in result["batchItemFailures"]]))
        return result

    slow.on = True
    pump = StreamPump(service.streams, service.stream_arn(), near_limit, idle_sleep=0, max_attempts=1, on_give_up=park)
    pump.drain()
    slow.on = False

    # Reported as failed items, lowest first, from where it stopped to the batch's end.
    partial = [(size, failed) for size, failed in answers if failed]
    assert partial, answers
    for size, failed in partial:
        assert failed == sorted(failed, key=int) and len(failed) <= size
    parked = container().deps.store.failures("stream")
    assert parked, "the pump parked what it gave up on"
    assert ok(service.api.admin("GET", f"/v1/unifications/{unification_id}"))["unification"]["status"] == "running"

    report = replay.replay(container().deps.store, app.stream_consumer)
    assert report.ok and {o.status for o in report.outcomes} == {"replayed"}, report.lines()
    assert len(report.outcomes) == len(parked)
    assert container().deps.store.failures("stream") == []
    done = ok(service.api.admin("GET", f"/v1/unifications/{unification_id}"))["unification"]
    assert done["status"] == "completed"
    assert [c["messages"][0]["text"] for c in service.api.chats_of(member["id"])] == ["first"]

    # Idempotent: nothing left, nothing changed by a second run.
    before = service.items()
    assert replay.replay(container().deps.store, app.stream_consumer).lines() == [
        "0 parked failures: nothing to replay"
    ]
    assert service.items() == before


def test_the_command_reports_keeps_what_fails_again_and_dry_runs(
    service: Service, capsys: pytest.CaptureFixture[str]
) -> None:
    store = container().deps.store
    good = {"eventName": "INSERT", "dynamodb": {"SequenceNumber": "100", "NewImage": {"PK": {"S": "X#1"}}}}
    poison = {"eventName": "INSERT", "dynamodb": {"SequenceNumber": "200", "NewImage": {"kind": {"S": "unification"}}}}
    store.record_failure("stream", "100", good, "failed 5 times")
    store.record_failure("stream", "200", poison, "failed 5 times")
    url = os.environ["DYNAMODB_ENDPOINT_URL"]
    args = ["--endpoint-url", url, "--table", service.table]

    with mock.patch.dict(os.environ):
        assert replay.main([*args, "--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "2 parked failures: 2 would-replay"
    assert len(store.failures("stream")) == 2

    with mock.patch.dict(os.environ):
        assert replay.main(args) == 1  # the poison record fails again: kept, exit 1
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "2 parked failures: 1 failing, 1 replayed", out
    assert [str(i["SK"]) for i in container().deps.store.failures("stream")] == ["200"]
