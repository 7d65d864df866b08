"""Faults injected through botocore's event hooks on the service's own DynamoDB client.

- `before-send` hooks answer in DynamoDB's place (that attempt never reaches
  moto, in process or on its server): a throttling error (which botocore's own retry handles), a cancelled
  transaction with chosen reasons, or a BatchWriteItem that processed nothing;
- a `before-parse` hook loses the answer of a call moto did carry out (a
  `RequestTimeoutException` in its place, which botocore counts as transient):
  botocore resends the very request, as after a timeout;
- `before-call` hooks raise a `ClientError` without botocore retrying (what
  the service sees once botocore's retries are exhausted);
- an `after-call` hook counts write calls and raises `Crash` after the N-th:
  the write happened, then the Lambda died. `Crash` is a `BaseException`, so
  no `except Exception` in the service or the app can swallow it.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError

WRITE_OPS = frozenset({"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"})
ERROR_PREFIX = "com.amazonaws.dynamodb.v20120810#"


class Crash(BaseException):
    """The Lambda died right after a write."""


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.data


def dynamodb_response(request: Any, status: int, body: dict[str, Any]) -> AWSResponse:
    """An HTTP answer as DynamoDB would give it (JSON 1.0 protocol)."""
    headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "injected-fault"}
    return AWSResponse(request.url, status, headers, _Body(json.dumps(body).encode()))


def throttling(code: str = "ThrottlingException") -> Callable[[Any, str], AWSResponse]:
    """`ThrottlingException` or `ProvisionedThroughputExceededException`: botocore retries it."""

    def answer(request: Any, op: str) -> AWSResponse:
        return dynamodb_response(request, 400, {"__type": ERROR_PREFIX + code, "message": f"injected {code}"})

    return answer


def cancelled(reason: str = "TransactionConflict") -> Callable[[Any, str], AWSResponse]:
    """TransactWriteItems cancelled: `reason` on the first action, `None` on the others."""

    def answer(request: Any, op: str) -> AWSResponse:
        actions = json.loads(request.body)["TransactItems"]
        reasons = [{"Code": reason, "Message": "injected"}] + [{"Code": "None"}] * (len(actions) - 1)
        message = f"Transaction cancelled, please refer cancellation reasons for specific reasons [{reason}]"
        body = {"__type": ERROR_PREFIX + "TransactionCanceledException", "Message": message}
        return dynamodb_response(request, 400, {**body, "CancellationReasons": reasons})

    return answer


def unprocessed(request: Any, op: str) -> AWSResponse:
    """BatchWriteItem that wrote nothing: every request comes back in `UnprocessedItems`."""
    sent = json.loads(request.body)["RequestItems"]
    return dynamodb_response(request, 200, {"UnprocessedItems": sent})


def lost_answer(request: Any, op: str) -> AWSResponse:
    """Placeholder for `Faults.lose_answers`: the answer is replaced after the call, not before."""
    raise AssertionError("lost answers are injected before parsing, not before sending")


LOST_ANSWER = {
    "status_code": 500,
    "headers": {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "injected-fault"},
    "body": json.dumps(
        {"__type": ERROR_PREFIX + "RequestTimeoutException", "message": "injected: answer lost"}
    ).encode(),
}


@dataclass
class Rule:
    """Answer the matching calls that `pick` selects (1-based count of matching calls)."""

    ops: frozenset[str] | None
    pick: Callable[[int], bool]
    answer: Callable[[Any, str], AWSResponse]
    kind: str
    limit: int | None = None
    after: bool = False  # True: the call is carried out and its answer lost
    matched: int = 0
    fired: int = 0

    def fires(self, op: str) -> bool:
        if self.ops is not None and op not in self.ops:
            return False
        self.matched += 1
        if self.pick(self.matched) and (self.limit is None or self.fired < self.limit):
            self.fired += 1
            return True
        return False


@dataclass
class Faults:
    """Hooks on one botocore client; `remove()` takes them all off again."""

    client: Any
    calls: Counter[str] = field(default_factory=Counter)  # attempts sent per operation
    writes: int = 0  # write calls completed (successful or refused)
    injected: Counter[str] = field(default_factory=Counter)
    rules: list[Rule] = field(default_factory=list)
    crash_after: int | None = None
    crashes: int = 0
    raise_on: dict[str, str] = field(default_factory=dict)  # op -> error code raised before the call
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        events = self.client.meta.events
        events.register_first("before-send.dynamodb", self._before_send, unique_id="replay-faults-send")
        events.register_first("before-call.dynamodb", self._before_call, unique_id="replay-faults-call")
        events.register_first("after-call.dynamodb", self._after_call, unique_id="replay-faults-after")
        events.register_first("before-parse.dynamodb", self._before_parse, unique_id="replay-faults-parse")

    def remove(self) -> None:
        events = self.client.meta.events
        events.unregister("before-send.dynamodb", unique_id="replay-faults-send")
        events.unregister("before-call.dynamodb", unique_id="replay-faults-call")
        events.unregister("after-call.dynamodb", unique_id="replay-faults-after")
        events.unregister("before-parse.dynamodb", unique_id="replay-faults-parse")

    def clear(self) -> None:
        """Remove every fault (counters stay)."""
        with self._lock:
            self.rules.clear()
            self.raise_on.clear()
            self.crash_after = None

    # configuring --------------------------------------------------------------

    def answer(
        self,
        answer: Callable[[Any, str], AWSResponse],
        kind: str,
        ops: set[str] | None = None,
        nth: set[int] | None = None,
        every: int | None = None,
        limit: int | None = None,
    ) -> Rule:
        def pick(n: int) -> bool:
            return (nth is not None and n in nth) or (every is not None and n % every == 0)

        rule = Rule(frozenset(ops) if ops else None, pick, answer, kind, limit)
        with self._lock:
            self.rules.append(rule)
        return rule

    def lose_answers(self, ops: set[str] | None = None, every: int | None = None, nth: set[int] | None = None) -> Rule:
        """The selected calls are carried out, then their answer is lost: botocore resends them.

        Keep `every` >= 2: the resend is the next matching call, and it must get through."""
        rule = self.answer(lost_answer, "answer lost", ops, nth, every)
        rule.after = True
        return rule

    def crash_after_write(self, n: int) -> None:
        with self._lock:
            self.writes = 0
            self.crash_after = n

    # hooks ------------------------------------------------------------------------

    @staticmethod
    def _op(event_name: str) -> str:
        return event_name.rsplit(".", 1)[-1]

    def _before_send(self, request: Any, event_name: str, **_: Any) -> AWSResponse | None:
        op = self._op(event_name)
        with self._lock:
            self.calls[op] += 1
            for rule in self.rules:
                if not rule.after and rule.fires(op):
                    self.injected[rule.kind] += 1
                    answer = rule.answer(request, op)
                    # Every before-send handler runs (botocore takes the first answer), moto's stubber
                    # included: point this attempt nowhere so the emulator does not carry it out too.
                    request.url = "https://injected-fault.invalid/"
                    return answer
        return None

    def _before_parse(self, operation_model: Any, response_dict: dict[str, Any], **_: Any) -> None:
        op = str(operation_model.name)
        with self._lock:
            for rule in self.rules:
                if rule.after and rule.fires(op):
                    self.injected[rule.kind] += 1
                    response_dict.update(LOST_ANSWER)
                    return

    def _before_call(self, event_name: str, **_: Any) -> None:
        op = self._op(event_name)
        with self._lock:
            code = self.raise_on.get(op)
            if code is not None:
                self.injected[f"{code} (retries exhausted)"] += 1
        if code is not None:
            raise ClientError({"Error": {"Code": code, "Message": "injected: retries exhausted"}}, op)

    def _after_call(self, event_name: str, **_: Any) -> None:
        op = self._op(event_name)
        if op not in WRITE_OPS:
            return
        with self._lock:
            self.writes += 1
            crash = self.crash_after is not None and self.writes == self.crash_after
            if crash:
                self.crash_after = None
                self.crashes += 1
        if crash:
            raise Crash(f"crashed after write {self.writes} ({op})")
