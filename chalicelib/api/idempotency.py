"""Retries without duplicates (API.md, "Retries without duplicates").

A write sent with `Idempotency-Key` carries a receipt: the answer it is about
to give, written in the same transaction as the write itself (so it exists
exactly when the write landed). The same key from the same caller within 24
hours answers that first answer again and writes nothing; the same key on
another route or with another body is `409 idempotency_key_reused`. Keys are
scoped per caller: the session's user, the access key, or the messenger
channel.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ..domain.errors import DomainError, InvalidRequest, ReceiptTaken

if TYPE_CHECKING:
    from ..domain.writes import PutReceipt

T = TypeVar("T")
HEADER = "Idempotency-Key"
RECEIPT_LIFETIME = timedelta(hours=24)
KEY = re.compile(r"[\x20-\x7e]{1,255}")


class IdempotencyKeyReused(DomainError):
    code = "idempotency_key_reused"


def key_of(headers: Mapping[str, str]) -> str | None:
    """The request's key, checked: 1-255 printable ASCII characters."""
    raw = headers.get(HEADER.lower())
    if raw is None:
        raw = headers.get(HEADER)
    if raw is None:
        return None
    if not KEY.fullmatch(raw):
        raise InvalidRequest("Idempotency-Key must be 1-255 printable ASCII characters", field=HEADER)
    return raw


def receipt_id(scope: str, key: str) -> str:
    return hashlib.sha256(f"{scope}\n{key}".encode()).hexdigest()


def fingerprint(method: str, path: str, body: bytes) -> str:
    """The route and body a key was first used with: a different one is a reuse."""
    digest = hashlib.sha256(f"{method} {path}\n".encode())
    digest.update(body)
    return digest.hexdigest()


@dataclass
class Answer(Generic[T]):
    """The answer a keyed write will give, rendered once from the use case's result.

    `receipt` hands the use case what to write beside its own writes (None
    when the request carries no key); calling the answer renders the body the
    client gets, the very body the receipt stored.
    """

    status: int
    render: Callable[[T], dict[str, Any]]
    receipt_id: str | None = None
    fingerprint: str = ""
    now: datetime | None = None
    _rendered: dict[int, dict[str, Any]] = field(default_factory=dict)

    @property
    def receipt(self) -> Answer[T] | None:
        return self if self.receipt_id is not None else None

    def body(self, result: T) -> dict[str, Any]:
        key = id(result)
        if key not in self._rendered:
            self._rendered = {key: self.render(result)}
        return self._rendered[key]

    def write(self, result: T, subjects: Sequence[str]) -> PutReceipt:
        from ..domain.writes import PutReceipt  # with the use case, not at import (cold start)

        assert self.receipt_id is not None and self.now is not None
        return PutReceipt(
            receipt_id=self.receipt_id,
            fingerprint=self.fingerprint,
            status=self.status,
            body=json.dumps(self.body(result), ensure_ascii=False, separators=(",", ":")),
            subjects=tuple(dict.fromkeys(subjects)),
            created_at=self.now,
            expires_at=self.now + RECEIPT_LIFETIME,
        )


def answer(
    status: int,
    render: Callable[[T], dict[str, Any]],
    *,
    headers: Mapping[str, str],
    scope: str,
    method: str,
    path: str,
    body: bytes,
    now: datetime,
) -> Answer[T]:
    key = key_of(headers)
    if key is None:
        return Answer(status, render)
    return Answer(status, render, receipt_id(scope, key), fingerprint(method, path, body), now)


def replay(stored: Mapping[str, Any] | None, taken: ReceiptTaken) -> tuple[int, dict[str, Any]]:
    """The first answer again, or `idempotency_key_reused` for another route or body."""
    if stored is None:
        # Expired (and collected) between the refused write and this read: rare; a retry writes afresh.
        raise InvalidRequest("the Idempotency-Key's first answer has expired; send the request again")
    if stored["fingerprint"] != taken.fingerprint:
        raise IdempotencyKeyReused("this Idempotency-Key was already used with another route or body")
    body: dict[str, Any] = json.loads(stored["body"])
    return int(stored["status"]), body
