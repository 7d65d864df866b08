"""DynamoDB requests counted (and timed) through botocore's events on one client."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Tally:
    """Requests by DynamoDB API name, the HTTP attempts behind them, and client-side seconds."""

    calls: Counter[str] = field(default_factory=Counter)
    attempts: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    @property
    def total_seconds(self) -> float:
        return float(sum(self.seconds.values()))

    def minus(self, earlier: Tally) -> Tally:
        calls = Counter(self.calls)
        calls.subtract(earlier.calls)
        calls = +calls
        seconds = {k: v - earlier.seconds.get(k, 0.0) for k, v in self.seconds.items() if k in calls}
        return Tally(calls=calls, attempts=self.attempts - earlier.attempts, seconds=seconds)

    def copy(self) -> Tally:
        return Tally(calls=Counter(self.calls), attempts=self.attempts, seconds=dict(self.seconds))

    def add(self, other: Tally) -> None:
        self.calls.update(other.calls)
        self.attempts += other.attempts
        for api, seconds in other.seconds.items():
            self.add_seconds(api, seconds)

    def add_seconds(self, api: str, seconds: float) -> None:
        self.seconds[api] = self.seconds.get(api, 0.0) + seconds

    def by_api(self) -> dict[str, int]:
        return dict(sorted(self.calls.items()))

    def describe(self) -> str:
        """`2 GetItem + 1 TransactWriteItems`."""
        return " + ".join(f"{n} {api}" for api, n in sorted(self.calls.items())) or "none"


class RequestLog:
    """Attach to a boto3 DynamoDB client; every API call is counted and timed.

    `before-call` fires once per API call whatever botocore's retries do;
    `before-send` fires once per HTTP attempt, so a retried call shows as
    attempts > calls.
    """

    def __init__(self) -> None:
        self.tally = Tally()
        self._lock = threading.Lock()

    def attach(self, client: Any) -> RequestLog:
        events = client.meta.events
        events.register("before-call.dynamodb", self._before_call)
        events.register("after-call.dynamodb", self._after_call)
        events.register("after-call-error.dynamodb", self._after_call)
        events.register("before-send.dynamodb", self._before_send)
        return self

    def _before_call(self, model: Any, context: dict[str, Any], **_: Any) -> None:
        context["bench_started"] = time.perf_counter()
        with self._lock:
            self.tally.calls[model.name] += 1

    def _after_call(self, context: dict[str, Any], model: Any = None, **_: Any) -> None:
        # `after-call-error` (the call raised before an answer, e.g. the time budget) names no model.
        started = context.pop("bench_started", None)
        if started is not None and model is not None:
            with self._lock:
                self.tally.add_seconds(model.name, time.perf_counter() - started)

    def _before_send(self, **_: Any) -> None:
        with self._lock:
            self.tally.attempts += 1

    def snapshot(self) -> Tally:
        with self._lock:
            return self.tally.copy()

    @contextmanager
    def window(self) -> Iterator[Tally]:
        """The requests made inside the `with` block (filled in when it exits)."""
        before = self.snapshot()
        seen = Tally()
        try:
            yield seen
        finally:
            seen.add(self.snapshot().minus(before))


class ServerClock:
    """Wraps the embedded DynamoDB's WSGI app: requests and seconds spent inside moto,
    by API, so a figure can tell the emulator's time from the client's."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.tally = Tally()
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        action = str(environ.get("HTTP_X_AMZ_TARGET", "?")).rpartition(".")[2]
        started = time.perf_counter()
        try:
            return list(self.app(environ, start_response))
        finally:
            with self._lock:
                self.tally.calls[action] += 1
                self.tally.add_seconds(action, time.perf_counter() - started)

    def snapshot(self) -> Tally:
        with self._lock:
            return self.tally.copy()

    @contextmanager
    def window(self) -> Iterator[Tally]:
        before = self.snapshot()
        seen = Tally()
        try:
            yield seen
        finally:
            seen.add(self.snapshot().minus(before))
