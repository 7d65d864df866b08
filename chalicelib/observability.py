"""What an operator sees (issue 16.1, 16.2): one JSON log line per request and per
step of a unification, a deferred run, a stream record failure, a webhook attempt;
and the service's metrics in CloudWatch's embedded metric format (EMF).

Logs: Powertools' `Logger` (service `unification`), one JSON object a line on
stdout, on Lambda and under `make run` alike; every `chalicelib.*` logger writes
through the same handler. **No personal data and no secret in any line**: the
lines carry ids, statuses, counts, route templates and error codes only, never a
query string, a body, a profile value, message text, an event property, a token
or a memberHash; an exception is logged as its type and where it was raised,
never its message (a validation error quotes its input).

Metrics: Powertools' `Metrics`, namespace `POWERTOOLS_METRICS_NAMESPACE`
(`Unification`), dimension `service=unification`; the names and dimensions are
the ones infra/observability.py's alarms and dashboard read (`METRIC_NAMES`).
They are buffered, one EMF object per dimension value, and flushed (printed as
one JSON line each, which CloudWatch Logs turns into metrics) at the end of every
invocation: each request (web.py), the stream consumer, each schedule and
webhook delivery (`invocation`), and under `make run` the same.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import threading
import traceback
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

from . import budget

if TYPE_CHECKING:  # pydantic's models load with the first use case, not with `import app`
    from .domain.erasure import Erasure
    from .domain.models import Unification

SERVICE = "unification"
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "Unification"
METRIC_NAMES = (
    "UnificationsCommitted",  # dimension trigger
    "UnificationsEnded",  # dimension status: completed, cancelled, rejected
    "MoveLag",  # milliseconds from commit to completed, for unifications whose history moved
    "DeferredWaiting",  # gauge: deferred unifications waiting for their member's login
    "StreamRecordFailures",  # stream records reported back as failed items (each is retried)
    "RetriesExhausted",  # requests that gave up on a busy store: answered 503 unavailable
    "WebhookAttemptsFailed",
    "WebhookDeliveriesFailed",
    "Answers",  # dimension statusClass: 2xx, 4xx, 5xx
)
ENDED = {"completed", "cancelled", "rejected"}
COMMITTED = {"running", "completed"}


class _Stdout(logging.StreamHandler):  # type: ignore[type-arg]
    """A handler writing to whatever `sys.stdout` is now (pytest's capture, a redirect)."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, _: Any) -> None:
        pass


class _SafeExceptions(logging.Filter):
    """An exception becomes its type and the frames it passed through; its message, which
    may quote personal data (a validation error shows its input), is never written."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            for key, value in error_fields(error).items():
                setattr(record, key, value)
            record.exc_info = None
            record.exc_text = None
        return True


def error_fields(error: BaseException) -> dict[str, Any]:
    """What may be told about an exception: its type, AWS's error code, where it was raised."""
    frames = traceback.extract_tb(error.__traceback__)[-4:]
    fields: dict[str, Any] = {
        "errorType": type(error).__name__,
        "where": [f"{os.path.basename(f.filename)}:{f.lineno}:{f.name}" for f in frames],
    }
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        fields["awsErrorCode"] = str(response.get("Error", {}).get("Code", ""))
    return fields


log = Logger(service=SERVICE, logger_handler=_Stdout(), utc=True, use_rfc3339=True)
log.registered_handler.addFilter(_SafeExceptions())
_library = logging.getLogger("chalicelib")
if log.registered_handler not in _library.handlers:
    _library.addHandler(log.registered_handler)
    _library.setLevel(logging.INFO)
    _library.propagate = False


# metrics ------------------------------------------------------------------------------------

_lock = threading.Lock()
_buffers: dict[tuple[str, str] | None, Metrics] = {}


def _add(name: str, unit: MetricUnit, value: float, dimension: tuple[str, str] | None = None) -> None:
    with _lock:
        metrics = _buffers.get(dimension)
        if metrics is None:
            provider = AmazonCloudWatchEMFProvider(namespace=NAMESPACE, service=SERVICE)
            metrics = Metrics(provider=provider)
            if dimension is not None:
                metrics.add_dimension(*dimension)
            _buffers[dimension] = metrics
        metrics.add_metric(name=name, unit=unit, value=value)


def count(name: str, value: float = 1, dimension: tuple[str, str] | None = None) -> None:
    _add(name, MetricUnit.Count, value, dimension)


def flush() -> None:
    """Publish what was buffered: one EMF line per dimension value."""
    with _lock:
        buffers = list(_buffers.values())
        _buffers.clear()
    # Powertools prints each EMF blob itself: under the log handler's lock, so that no
    # log line from another thread (the local stack's lanes, its server) lands inside it.
    handler = log.registered_handler
    handler.acquire()
    try:
        for metrics in buffers:
            metrics.flush_metrics()
    finally:
        handler.release()


H = TypeVar("H", bound=Callable[..., Any])


def invocation(handler: H) -> H:
    """A Lambda handler (`(event, context)`, or a schedule's event, which holds its context):
    its time budget is Lambda's remaining time less a margin, and its metrics are
    flushed when it returns or raises."""

    @functools.wraps(handler)
    def wrapper(event: Any, *rest: Any) -> Any:
        context = rest[0] if rest else getattr(event, "context", None)
        seconds = budget.lambda_seconds(context)
        try:
            if seconds is None:
                return handler(event, *rest)
            with budget.within(seconds):
                return handler(event, *rest)
        finally:
            flush()

    return wrapper  # type: ignore[return-value]


# requests -----------------------------------------------------------------------------------

# The path parameters worth logging (ids, never free text), by the names the routes use.
LOGGED_PATH_PARAMS = {
    "user_id": "userId",
    "member_id": "memberId",
    "unification_id": "unificationId",
    "chat_id": "chatId",
    "webhook_id": "webhookId",
}


def status_class(status: int) -> str:
    return f"{status // 100}xx"


def request(
    route: str | None,
    method: str,
    status: int,
    error_code: str | None,
    latency_ms: float,
    request_id: str | None,
    path_params: Mapping[str, str] | None,
) -> None:
    """One line per answered request, and the answer counted by status class."""
    ids = {LOGGED_PATH_PARAMS[k]: v[:128] for k, v in (path_params or {}).items() if k in LOGGED_PATH_PARAMS}
    log.info(
        "request",
        extra={
            "route": route,
            "method": method,
            "status": status,
            "errorCode": error_code,
            "latencyMs": round(latency_ms, 1),
            "requestId": request_id,
            **ids,
        },
    )
    count("Answers", dimension=("statusClass", status_class(status)))


def store_gave_up(error: BaseException) -> None:
    """A request answered 503 because the store stayed busy or its time budget ran out."""
    log.warning("store busy: answered unavailable", extra=error_fields(error))
    count("RetriesExhausted")


# unifications -------------------------------------------------------------------------------


def _millis(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds() * 1000)


def unification_step(before: Unification | None, after: Unification | None) -> None:
    """A unification's lifecycle step, as its record changed (read from the stream, so
    each committed change is told once, whichever worker made it): proposed, deferred,
    committed (by trigger), moved n of m, completed, cancelled (with R7.6's reason),
    rejected."""
    if after is None:
        return
    was = before.status.value if before is not None else None
    now = after.status.value
    p = after.progress
    fields: dict[str, Any] = {
        "unificationId": after.id,
        "sourceUserId": after.source_user_id,
        "targetUserId": after.target_user_id,
        "trigger": after.trigger.value,
        "status": now,
        "previousStatus": was,
    }
    moved = {"moved": p.chats_moved + p.events_moved, "total": p.chats_total + p.events_total}
    if now in COMMITTED and was not in COMMITTED:
        log.info("unification committed", extra={**fields, **moved, "deliveries": p.deliveries})
        count("UnificationsCommitted", dimension=("trigger", after.trigger.value))
    elif now == "running" and before is not None:
        if (before.progress.chats_moved, before.progress.events_moved) != (p.chats_moved, p.events_moved):
            log.info("unification moved", extra={**fields, **moved})
    elif now == "deferred" and was != "deferred":
        log.info("unification deferred until the member's next login", extra=fields)
    elif now == "pending_approval" and before is None:
        log.info("unification proposed", extra={**fields, "matchedOn": list(after.matched_on)})
    if now in ENDED and was != now:
        ended = {**fields, **moved}
        if now == "cancelled":
            ended["reason"] = after.reason  # ids and user types only (domain.rules.why_not_allowed)
        # A history moved inside the commit itself (a small one) moved with no lag at all.
        moved_in_commit = was not in COMMITTED and now == "completed" and moved["total"] > 0
        lag = _millis(p.committed_at, after.completed_at) if was == "running" or moved_in_commit else None
        if lag is not None:
            ended["moveLagMs"] = round(lag)
            _add("MoveLag", MetricUnit.Milliseconds, lag)
        log.info(f"unification {now}", extra=ended)
        count("UnificationsEnded", dimension=("status", now))


def erasure_step(before: Erasure | None, after: Erasure | None) -> None:
    """An erasure's lifecycle (R11): accepted, each user's items gone, completed; ids and
    counts only."""
    if after is None or (before is not None and before.version == after.version):
        return
    fields: dict[str, Any] = {
        "erasureId": after.id,
        "status": after.status,
        "erased": after.erased,
        "total": after.total,
    }
    if before is None:
        log.info("erasure accepted", extra={**fields, "users": len(after.user_ids)})
    elif after.status == "completed" and before.status != "completed":
        log.info("erasure completed", extra={**fields, "messages": after.counts.messages})

    elif after.bookmark.user_index != before.bookmark.user_index:
        log.info("erasure: a user's items are gone", extra={**fields, "users": after.bookmark.user_index})


def deferred_run(ran: int, waiting: int) -> None:
    """The schedule's pass over deferred unifications (R7.4): how many ran, how many wait."""
    log.info("deferred unifications checked", extra={"ran": ran, "waiting": waiting})
    _add("DeferredWaiting", MetricUnit.Count, waiting)


# the stream ---------------------------------------------------------------------------------


def stream_record_failed(sequence: str, error: BaseException, reported: int) -> None:
    log.error(
        f"stream record {sequence} failed",
        extra={"sequenceNumber": sequence, "reported": reported, **error_fields(error)},
    )
    count("StreamRecordFailures", reported)


def stream_stopped(sequence: str, reported: int) -> None:
    """The invocation's time is nearly up: the rest goes back as failed items, untouched."""
    log.warning(
        "stream batch stopped before the time limit",
        extra={"sequenceNumber": sequence, "reported": reported, "secondsLeft": budget.remaining()},
    )
    count("StreamRecordFailures", reported)


# webhooks -----------------------------------------------------------------------------------


def webhook_attempt(
    webhook_id: str,
    message_id: str,
    event: str,
    attempt: int,
    status: str,
    status_code: int | None,
    next_attempt_at: str | None,
) -> None:
    """One POST to a subscriber (R12): never the URL (it may carry a token), body or headers."""
    log.info(
        "webhook delivery",
        extra={
            "webhookId": webhook_id,
            "messageId": message_id,
            "event": event,
            "attempt": attempt,
            "deliveryStatus": status,
            "statusCode": status_code,
            "nextAttemptAt": next_attempt_at,
        },
    )
    if status != "delivered":
        count("WebhookAttemptsFailed")
    if status == "failed":
        count("WebhookDeliveriesFailed")
