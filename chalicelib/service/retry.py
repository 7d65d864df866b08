"""Bounded optimistic retries: re-read and re-plan when a condition fails, within the
attempts and the time budget (chalicelib/budget.py: a request answers within 20 s)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from .. import budget
from ..domain.errors import RetriesExhausted
from ..domain.writes import WriteConflict

T = TypeVar("T")
MAX_ATTEMPTS = 40

__all__ = ["MAX_ATTEMPTS", "FirstThenReload", "RetriesExhausted", "retrying"]


def retrying(operation: Callable[[], T], attempts: int = MAX_ATTEMPTS) -> T:
    """Run `operation` again on a `WriteConflict`, with jittered backoff."""
    for attempt in range(attempts):
        try:
            return operation()
        except WriteConflict as conflict:
            if attempt == attempts - 1:
                raise RetriesExhausted(f"gave up after {attempts} conflicting attempts") from conflict
            # Full jitter: many writers racing on one member (50 devices logging in
            # at once) spread out instead of colliding again in lockstep.
            pause = random.uniform(0, min(1.0, 0.005 * 2**attempt))
            if not budget.allows(pause + budget.RESERVE):  # no retry that could not end in time
                raise budget.BudgetExhausted(f"gave up after {attempt + 1} conflicting attempts: time") from conflict
            time.sleep(pause)
    raise AssertionError("unreachable")


class FirstThenReload(Generic[T]):
    """A value already read serves the first attempt; a retry reads it again.

    Saves a request on the happy path without ever planning a retry on stale data.
    """

    def __init__(self, first: T, reload: Callable[[], T]) -> None:
        self._first = first
        self._used = False
        self._reload = reload

    def get(self) -> T:
        if not self._used:
            self._used = True
            return self._first
        return self._reload()
