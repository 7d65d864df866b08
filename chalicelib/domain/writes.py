"""The writes a plan implies, described without naming a database.

The service builds a list of these; the store commits them together
(one TransactWriteItems), each with the condition that makes a retried or
racing commit a no-op or a conflict, never a lost update.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .erasure import Erasure
from .errors import ReceiptTaken
from .models import Chat, Delivery, Device, Event, LoginRecord, Message, Unification, User


@dataclass(frozen=True)
class SaveUser:
    """Write the whole user over `expected_version` (None: it must not exist yet)."""

    user: User
    expected_version: int | None


@dataclass(frozen=True)
class Tally:
    """Count history written to the user's own partition (chats, events, deliveries) and
    bump its version, while it is not unified: a unification planned on an older read
    retries and sees it (R3.2), and its totals are known when it commits (R10)."""

    user_id: str
    chats: int = 0
    events: int = 0
    deliveries: int = 0


@dataclass(frozen=True)
class ClaimMember:
    """memberId → user id, unique: a second claim of one memberId fails."""

    member_id: str
    user_id: str


@dataclass(frozen=True)
class SaveDevice:
    device: Device
    expected_version: int | None


@dataclass(frozen=True)
class SaveUnification:
    unification: Unification
    expected_version: int | None


@dataclass(frozen=True)
class PutLogin:
    login: LoginRecord


@dataclass(frozen=True)
class PutDelivery:
    """A campaign reached this user; refused if it already had (R3.2)."""

    delivery: Delivery


@dataclass(frozen=True)
class PutChat:
    """A new chat: its header (keeping `first` as its latest message) and its entry under its owner."""

    chat: Chat
    owner_id: str
    first: Message | None = None


@dataclass(frozen=True)
class PutMessage:
    message: Message


@dataclass(frozen=True)
class PutEvent:
    event: Event


@dataclass(frozen=True)
class ClaimExternal:
    """A LINE/Instagram id → its lead and open chat; unique per channel id (R8.1)."""

    channel: str
    external_id: str
    user_id: str
    chat_id: str


@dataclass(frozen=True)
class CopyHistory:
    """A small history's chats and events, copied into the member inside the unification
    (R10: moved = total as it commits). `items` are the store's own copies, as it read
    them; the originals go after the grace period, as a moved history's do."""

    chats: int
    events: int
    items: tuple[Any, ...]


@dataclass(frozen=True)
class PutReceipt:
    """The first answer to a request sent with an `Idempotency-Key` (API.md), written in
    the same transaction as the request's own writes: it exists exactly when they
    landed. A receipt still live under the same id refuses the whole commit
    (`ReceiptTaken`), so two racing requests with one key write once."""

    receipt_id: str
    fingerprint: str
    status: int
    body: str
    subjects: tuple[str, ...]
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class EraseUser:
    """The user becomes a tombstone over `expected_version` (R11.2): no profile value,
    no index entry, its contact-index listings removed; it keeps only what the
    background needs to finish (its erasure, and the contact values whose index
    items it deletes once they list nobody)."""

    user: User
    expected_version: int
    erasure_id: str


@dataclass(frozen=True)
class ReleaseMember:
    """The memberId claim goes (only if it still names this user): the memberId is free."""

    member_id: str
    user_id: str


@dataclass(frozen=True)
class ReleaseExternal:
    """A LINE/Instagram id's claim goes (only if it still names this user)."""

    channel: str
    external_id: str
    user_id: str


@dataclass(frozen=True)
class SaveErasure:
    erasure: Erasure
    expected_version: int | None


__all__ = ["ReceiptTaken"]

Write = (
    SaveUser
    | Tally
    | ClaimMember
    | SaveDevice
    | SaveUnification
    | PutLogin
    | PutDelivery
    | PutChat
    | PutMessage
    | PutEvent
    | CopyHistory
    | ClaimExternal
    | PutReceipt
    | EraseUser
    | ReleaseMember
    | ReleaseExternal
    | SaveErasure
)


class WriteConflict(Exception):
    """A commit's condition failed; `reasons` has one entry per write, in order."""

    def __init__(self, reasons: list[str | None]) -> None:
        super().__init__(f"write conflict: {reasons}")
        self.reasons = reasons

    @property
    def retryable(self) -> bool:
        return any(
            r in {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"} for r in self.reasons
        )

    def failed(self, index: int) -> bool:
        return index < len(self.reasons) and self.reasons[index] == "ConditionalCheckFailed"
