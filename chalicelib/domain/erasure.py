"""Erasure (R11, API.md "Erasure"): a person forgotten, as one record of what goes.

A person is a member and every user ever unified into it, or an un-unified
user alone (R11.1). The request makes them invisible at once: each of their
user items becomes a tombstone holding no profile value (`EraseUser`). The
background then deletes, user by user and chunk by chunk, everything that
holds their data, keeping its place on the record (`Bookmark`), so it
resumes wherever it stopped. Unification records naming them keep ids,
statuses and times and lose every value (`forget_values`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from .models import FieldDecision, Frozen, Unification, User

ERASED_REASON = "erased"
ErasureStatus = Literal["dry_run", "running", "completed"]


class Counts(Frozen):
    """What an erasure found (users, devices and the history tallies, R10) and, for
    messages, what it has erased so far (a chat's messages are counted as they go;
    a dry run counts them all)."""

    users: int = 0
    chats: int = 0
    messages: int = 0
    events: int = 0
    deliveries: int = 0
    devices: int = 0

    @property
    def items(self) -> int:
        """What progress counts: users, devices and the history in their partitions."""
        return self.users + self.chats + self.events + self.deliveries + self.devices


class Bookmark(Frozen):
    """Where the background work resumes: the open unifications still to cancel, then
    the user (by position in `user_ids`) whose items are being deleted; `passes`:
    how many times the users were gone through (a move still running into the
    person sends it round once more, R11.3)."""

    cancelled: bool = False
    user_index: int = 0
    passes: int = 0


class Erasure(Frozen):
    id: str
    user_ids: tuple[str, ...]
    member_id: str | None = None
    status: ErasureStatus
    counts: Counts = Counts()
    erased: int = 0
    # The open unifications that named the person when it was accepted (ids only).
    pending: tuple[str, ...] = ()
    bookmark: Bookmark = Bookmark()
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None = None
    version: int = 0

    @property
    def total(self) -> int:
        return self.counts.items

    def advanced(self, now: datetime, erased: int = 0, messages: int = 0, **bookmark: object) -> Erasure:
        """This record after one step: `erased` more items, `messages` more messages."""
        return self.model_copy(
            update={
                "erased": min(self.total, self.erased + erased),
                "counts": self.counts.model_copy(update={"messages": self.counts.messages + messages}),
                "bookmark": self.bookmark.model_copy(update=bookmark),
                "updated_at": now,
                "version": self.version + 1,
            }
        )

    def completed(self, now: datetime) -> Erasure:
        return self.model_copy(
            update={
                "status": "completed",
                "erased": self.total,
                "completed_at": now,
                "updated_at": now,
                "version": self.version + 1,
            }
        )


def person_counts(root: User, sources: list[User], devices: int) -> Counts:
    """What a person holds (R11.1): a member's tallies include what moved into it; a
    source still moving counts its own (R10)."""
    moving = [s for s in sources if s.id in root.moving_sources]
    return Counts(
        users=1 + len(sources),
        chats=root.chat_count + sum(s.chat_count for s in moving),
        events=root.event_count + sum(s.event_count for s in moving),
        deliveries=root.delivery_count + sum(s.delivery_count for s in moving),
        devices=devices,
    )


def forget_values(unification: Unification) -> Unification:
    """A unification record naming an erased person: ids, statuses and times kept, every
    profile value gone (R11.3)."""
    decisions = tuple(
        FieldDecision(field=d.field, winner=d.winner, rule=d.rule, source_verified=False, target_verified=False)
        for d in unification.field_decisions
    )
    return unification.model_copy(
        update={"field_decisions": decisions, "source_display_name": None, "target_display_name": None}
    )


def holds_values(unification: Unification) -> bool:
    return any(
        d.source_value is not None or d.target_value is not None or d.value is not None or d.source_verified
        for d in unification.field_decisions
    )
