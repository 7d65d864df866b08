"""Time budgets (issue 16.5): an API request answers, or gives up with `503 unavailable`
and `Retry-After`, within 20 s (API.md, errors); a Lambda invocation stops taking new
work before its own time runs out.

A budget is a deadline held for the current thread of work (a context variable:
each request thread, the stream consumer's invocation, a schedule's tick). Every
DynamoDB request checks it before it is sent (a botocore hook), and the app's own
retry loop before it sleeps: neither starts what could not end in time. Without a
budget (tests of single parts, local tools) nothing is refused.

Why 7 s of reserve: one attempt lasts at most CONNECT + READ = 5 s, and botocore
may then sleep up to 2 s before its next (standard retries, 3 attempts: at most
1 s, then 2 s). So a request whose last attempt started with 7 s left has its
answer (success, or the 503) before its deadline, and a single DynamoDB call can
never last longer than 3 x 5 + 3 = 18 s, within the 20 s even with no budget set.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from botocore.exceptions import ClientError

from .domain.errors import RetriesExhausted

REQUEST_SECONDS = 20.0  # API.md: an answer within 20 s, whatever the table does
CONNECT_TIMEOUT = 1.0
READ_TIMEOUT = 4.0
LOCAL_READ_TIMEOUT = 30.0  # DYNAMODB_ENDPOINT_URL set: a serialized local DynamoDB (bootstrap.py)
MAX_ATTEMPTS = 3  # botocore's attempts per call (standard mode), the first included
ATTEMPT_SECONDS = CONNECT_TIMEOUT + READ_TIMEOUT
RESERVE = ATTEMPT_SECONDS + 2.0  # an attempt, and the backoff botocore may sleep after it
# A Lambda invocation stops taking new work this long before its timeout: its last
# record's calls can still end (RESERVE), and the batch's answer is returned in time.
LAMBDA_MARGIN_SECONDS = 10.0

# DynamoDB's answers for "too busy now": the same request succeeds shortly.
BUSY_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "LimitExceededException",
        "TransactionInProgressException",
        "InternalServerError",
        "ServiceUnavailable",
    }
)

_deadline: ContextVar[float | None] = ContextVar("deadline", default=None)


class BudgetExhausted(RetriesExhausted):
    """The time budget has no room for another attempt: answered `503 unavailable`."""


@contextlib.contextmanager
def within(seconds: float) -> Iterator[None]:
    """Run the block with a deadline `seconds` from now (a tighter one already set stays)."""
    deadline = time.monotonic() + seconds
    current = _deadline.get()
    token = _deadline.set(deadline if current is None else min(current, deadline))
    try:
        yield
    finally:
        _deadline.reset(token)


def remaining() -> float | None:
    """Seconds left, or None when no budget is set."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()


def allows(seconds: float) -> bool:
    """Whether something lasting up to `seconds` still ends within the budget."""
    left = remaining()
    return left is None or left >= seconds


def require(seconds: float = RESERVE) -> None:
    if not allows(seconds):
        raise BudgetExhausted(f"the time budget has less than {seconds:.0f} s left")


def before_send(**_: Any) -> None:
    """botocore's `before-send` hook: no DynamoDB attempt starts that could outlast the budget."""
    require(RESERVE)


def is_busy(error: BaseException) -> bool:
    """DynamoDB throttled or was briefly unavailable, after botocore's own retries."""
    if not isinstance(error, ClientError):
        return False
    return str(error.response.get("Error", {}).get("Code", "")) in BUSY_CODES


def lambda_seconds(context: Any) -> float | None:
    """The budget of a Lambda invocation: its remaining time less the margin (None: not on Lambda)."""
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    if remaining_ms is None:
        return None
    return max(0.0, float(remaining_ms()) / 1000.0 - LAMBDA_MARGIN_SECONDS)
