"""Committing a unification (R3) and moving its history afterwards (R3.3, R10)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ..domain import writes as w
from ..domain.merge import plan_unification
from ..domain.models import Delivery, Progress, Status, Trigger, Unification, User
from .deps import Deps
from .retry import FirstThenReload, retrying

# Deliveries copied inside the unification's own transaction; the rest (rare)
# are copied just before it, so a campaign is never sent twice (R3.2).
DELIVERIES_IN_TRANSACTION = 80
# A history of up to `Settings.move_in_commit_items` chats and events (8; one move
# chunk at most) is copied inside the unification itself: complete as it commits,
# without the move's second write of the record and the member (issue 13: below
# about ten items, two write units per copy in the transaction cost less than the
# completion). At most this many, so the transaction keeps room for its deliveries.
MOVED_IN_COMMIT_MAX = 16


@dataclass
class UnificationCommit:
    """The writes of one unification: member, frozen source, record, deliveries."""

    record: Unification
    record_expected: int | None
    source: User
    source_expected: int
    target: User
    target_expected: int
    deliveries: list[Delivery] = field(default_factory=list)
    history: w.CopyHistory | None = None  # a small history, copied in the commit itself

    def writes(self, with_target: bool = True) -> list[w.Write]:
        """All of them; without the member's when the caller writes it (a login adds to it)."""
        target = [w.SaveUser(self.target, self.target_expected)] if with_target else []
        return [
            w.SaveUser(self.source, self.source_expected),
            *target,
            w.SaveUnification(self.record, self.record_expected),
            *(w.PutDelivery(d) for d in self.deliveries[:DELIVERIES_IN_TRANSACTION]),
            *([self.history] if self.history is not None else []),
        ]


def prepare_unification(
    deps: Deps,
    source: User,
    target: User,
    trigger: Trigger,
    existing: Unification | None = None,
) -> UnificationCommit:
    """Plan S into M (R2 checked by the core) and read what must move with it now."""
    now = deps.clock.now()
    unification_id = existing.id if existing else deps.clock.new_id("un_")
    history = _small_history(deps, source, target)
    plan = plan_unification(source, target, unification_id=unification_id, now=now, moved_now=history is not None)
    # R10: the totals are what the source holds now; its tallies are exact (every write
    # to its history bumps its version, so this commit retries if one lands meanwhile).
    progress = Progress(
        chats_total=source.chat_count,
        events_total=source.event_count,
        deliveries=source.delivery_count,
        counted=True,
        committed_at=now,
    )
    # Nothing moves afterwards: complete as it commits (R10). Chats and events copied in
    # the commit have moved; their originals go after the grace period (R3.3).
    status, completed_at = (Status.RUNNING, None) if plan.moves_history else (Status.COMPLETED, now)
    if history is not None:
        progress = progress.model_copy(
            update={
                "chats_moved": source.chat_count,
                "events_moved": source.event_count,
                "copied": True,
                "clean_after": _clean_after(deps, now),
            }
        )
    elif not plan.moves_history:
        progress = progress.model_copy(update={"copied": True, "cleaned": True})
    if existing is not None:
        record = existing.changed(
            now, status=status, completed_at=completed_at, field_decisions=plan.decisions, progress=progress
        )
    else:
        record = Unification(
            id=unification_id,
            source_user_id=source.id,
            target_user_id=target.id,
            target_member_id=target.member_id or "",
            trigger=trigger,
            status=status,
            field_decisions=plan.decisions,
            progress=progress,
            created_at=now,
            updated_at=now,
            completed_at=completed_at,
        )
    store = deps.store
    deliveries = [
        Delivery(campaign_id=d.campaign_id, user_id=target.id, delivered_at=d.delivered_at)
        for d in (store.all_deliveries(source.id) if source.delivery_count else [])
        if not store.has_delivery(target.id, d.campaign_id)
    ]
    for extra in deliveries[DELIVERIES_IN_TRANSACTION:]:
        with contextlib.suppress(w.WriteConflict):  # the member already has it
            store.commit([w.PutDelivery(extra)])
    return UnificationCommit(
        record=record,
        record_expected=existing.version if existing else None,
        source=plan.source,
        source_expected=source.version,
        target=plan.target.model_copy(update={"delivery_count": target.delivery_count + len(deliveries)}),
        target_expected=target.version,
        deliveries=deliveries,
        history=history,
    )


def _clean_after(deps: Deps, now: datetime) -> datetime:
    """When a move completed `now` may have its originals deleted: after a grace period
    longer than any read (R3.3)."""
    return now + timedelta(seconds=deps.settings.move_cleanup_grace_seconds)


def _small_history(deps: Deps, source: User, target: User) -> w.CopyHistory | None:
    """The source's chats and events to copy inside the commit, when they are few
    (and the transaction keeps room for the deliveries it carries); else None."""
    items = source.chat_count + source.event_count
    limit = min(deps.settings.move_in_commit_items, MOVED_IN_COMMIT_MAX, deps.settings.move_chunk_size)
    if not items or items > limit:
        return None
    if source.delivery_count > DELIVERIES_IN_TRANSACTION - MOVED_IN_COMMIT_MAX:
        return None
    return deps.store.small_history(source.id, target.id, source.chat_count, source.event_count)


def move_history(deps: Deps, hint: Unification, max_steps: int = 50) -> Unification | None:
    """Advance a unification's history move; safe to run any number of times (R3.3, R10).

    `hint` is any version of the record (a stream image, a listing): only its
    ids are used. The record and its member are read fresh, together.

    1. copy the source's chats and events into the member's partition in
       chunks, from a bookmark kept on the record with the progress (a repeated
       chunk rewrites the same items); the totals were set when it committed
       (R10). The last chunk goes straight on to completion;
    2. complete: the record reads `completed` and the member stops reading
       the source's partition, in one transaction. The originals are deleted
       later (`clean_moved`), after a grace period longer than any read.
    """
    record, member = _record_and_member(deps, hint)
    erased = member is None  # the person was erased (R11.3): nothing more moves into them
    for _ in range(max_steps):
        if record is None or record.status is not Status.RUNNING:
            return record
        if erased and not record.progress.copied:
            record = record.model_copy(update={"progress": record.progress.model_copy(update={"copied": True})})
        if record.progress.copied:
            record = _complete_retrying(deps, record, member)
            member = None  # used: a later attempt reads it again
        else:
            record = _copy_chunk(deps, record)
    return record


def clean_moved(deps: Deps, unification_id: str) -> bool:
    """Delete a completed move's originals once its grace period is over: no read that saw
    the source still moving can be reading its partition by then (R3.3). Idempotent."""
    record = deps.store.get_unification(unification_id)
    if record is None or record.status is not Status.COMPLETED or record.progress.cleaned:
        return False
    due = record.progress.clean_after
    if due is not None and due > deps.clock.now():
        return False
    while deps.store.delete_history_chunk(record.source_user_id, deps.settings.move_chunk_size) >= (
        deps.settings.move_chunk_size
    ):
        pass
    return _save_progress(deps, record, record.progress.model_copy(update={"cleaned": True})) is not None


def _copy_chunk(deps: Deps, record: Unification) -> Unification | None:
    """Copy the next chunk and save the bookmark; the last chunk goes straight on to
    completion, which saves the progress with it."""
    p = record.progress
    chunk = deps.store.copy_history_chunk(
        record.source_user_id, record.target_user_id, p.cursor, deps.settings.move_chunk_size
    )
    advanced = p.model_copy(
        update={
            "chats_moved": min(p.chats_total, p.chats_moved + chunk.chats),
            "events_moved": min(p.events_total, p.events_moved + chunk.events),
            "cursor": chunk.cursor,
            "copied": chunk.cursor is None,
        }
    )
    if chunk.cursor is None:
        return record.model_copy(update={"progress": advanced})  # unsaved: the completion writes it
    return _save_progress(deps, record, advanced)


def _save_progress(deps: Deps, record: Unification, progress: Progress) -> Unification | None:
    """The record saved with its new progress; on a conflict (another worker advanced
    it) the record as it now is."""
    saved = record.changed(deps.clock.now(), progress=progress)
    try:
        deps.store.commit([w.SaveUnification(saved, record.version)])
    except w.WriteConflict:
        return deps.store.get_unification(record.id)
    return saved


def _complete_retrying(deps: Deps, planned: Unification, member: User | None) -> Unification | None:
    """Complete the record as planned (its progress may not be saved yet) with the member
    read (None: read it now). On a conflict both are read again; as long as the
    stored record is the version the plan started from, the plan's progress stands."""

    def fresh() -> tuple[Unification | None, User | None]:
        record, current_member = _record_and_member(deps, planned)
        unchanged = record is not None and record.version == planned.version
        return (planned if unchanged else record), current_member

    first = (planned, member) if member is not None else fresh()
    attempts = FirstThenReload(first, fresh)
    return retrying(lambda: _complete(deps, *attempts.get()))


def _record_and_member(deps: Deps, record: Unification) -> tuple[Unification | None, User | None]:
    """The record and its member as they are now, in one read."""
    found = deps.store.read_together(unifications=[record.id], users=[record.target_user_id])
    return found.unifications.get(record.id), found.users.get(record.target_user_id)


def _complete(deps: Deps, record: Unification | None, member: User | None) -> Unification | None:
    if record is None or record.status is not Status.RUNNING or not record.progress.copied:
        return record  # already completed, or (re-read after a conflict) not all copied yet
    now, p = deps.clock.now(), record.progress
    done = record.changed(
        now,
        status=Status.COMPLETED,
        completed_at=now,
        progress=p.model_copy(
            update={
                "chats_moved": p.chats_total,
                "events_moved": p.events_total,
                "clean_after": _clean_after(deps, now),
            }
        ),
    )
    writes: list[w.Write] = [w.SaveUnification(done, record.version)]
    if member is not None and record.source_user_id in member.moving_sources:
        remaining = tuple(s for s in member.moving_sources if s != record.source_user_id)
        moved_in = member.model_copy(
            update={
                "moving_sources": remaining,
                "chat_count": member.chat_count + p.chats_total,
                "event_count": member.event_count + p.events_total,
            }
        )
        writes.append(w.SaveUser(moved_in, member.version))
    deps.store.commit(writes)
    return done
