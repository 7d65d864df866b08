"""Committing a unification (R3) and moving its history afterwards (R3.3, R10)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from ..domain import writes as w
from ..domain.merge import plan_unification
from ..domain.models import Delivery, Progress, Status, Trigger, Unification, User
from .deps import Deps
from .retry import retrying

# Deliveries copied inside the unification's own transaction; the rest (rare)
# are copied just before it, so a campaign is never sent twice (R3.2).
DELIVERIES_IN_TRANSACTION = 80


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

    def writes(self, with_target: bool = True) -> list[w.Write]:
        """All of them; without the member's when the caller writes it (a login adds to it)."""
        target = [w.SaveUser(self.target, self.target_expected)] if with_target else []
        return [
            w.SaveUser(self.source, self.source_expected),
            *target,
            w.SaveUnification(self.record, self.record_expected),
            *(w.PutDelivery(d) for d in self.deliveries[:DELIVERIES_IN_TRANSACTION]),
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
    plan = plan_unification(source, target, unification_id=unification_id, now=now)
    if existing is not None:
        record = existing.changed(now, status=Status.RUNNING, field_decisions=plan.decisions)
    else:
        record = Unification(
            id=unification_id,
            source_user_id=source.id,
            target_user_id=target.id,
            target_member_id=target.member_id or "",
            trigger=trigger,
            status=Status.RUNNING,
            field_decisions=plan.decisions,
            created_at=now,
            updated_at=now,
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
    )


def move_history_step(deps: Deps, unification_id: str, max_chunks: int = 50) -> Unification | None:
    """Advance a unification's history move; safe to run any number of times (R3.3, R10).

    1. count the source's chats and events once (`total`);
    2. copy them into the member's partition in chunks, from a bookmark kept
       on the record with the progress (a repeated chunk rewrites the same
       items);
    3. complete: the record reads `completed` and the member stops reading
       the source's partition, all in one transaction;
    4. remove the source's now-unreachable copies.
    """
    store = deps.store
    for _ in range(max_chunks):
        record = store.get_unification(unification_id)
        if record is None:
            return None
        p = record.progress
        if record.status is Status.COMPLETED and p.counted and not p.cleaned:
            _clean(deps, record)
            continue
        if record.status is not Status.RUNNING:
            return record
        if not p.counted:
            chats, events = store.count_history(record.source_user_id)
            _save_progress(deps, record, Progress(chats_total=chats, events_total=events, counted=True))
        elif p.copied:
            retrying(lambda: _complete(deps, unification_id))
        else:
            chats, events, cursor = store.copy_history_chunk(
                record.source_user_id, record.target_user_id, p.cursor, deps.settings.move_chunk_size
            )
            progress = p.model_copy(
                update={
                    "chats_moved": min(p.chats_total, p.chats_moved + chats),
                    "events_moved": min(p.events_total, p.events_moved + events),
                    "cursor": cursor,
                    "copied": cursor is None,
                }
            )
            _save_progress(deps, record, progress)
    return store.get_unification(unification_id)


def _save_progress(deps: Deps, record: Unification, progress: Progress) -> None:
    # A conflict means another worker advanced it; the next round re-reads the record.
    with contextlib.suppress(w.WriteConflict):
        deps.store.commit([w.SaveUnification(record.changed(deps.clock.now(), progress=progress), record.version)])


def _complete(deps: Deps, unification_id: str) -> Unification | None:
    store, now = deps.store, deps.clock.now()
    record = store.get_unification(unification_id)
    if record is None or record.status is not Status.RUNNING:
        return record
    p = record.progress
    done = record.changed(
        now,
        status=Status.COMPLETED,
        completed_at=now,
        progress=p.model_copy(update={"chats_moved": p.chats_total, "events_moved": p.events_total}),
    )
    writes: list[w.Write] = [w.SaveUnification(done, record.version)]
    target = store.get_user(record.target_user_id)
    if target is not None and record.source_user_id in target.moving_sources:
        remaining = tuple(s for s in target.moving_sources if s != record.source_user_id)
        writes.append(w.SaveUser(target.model_copy(update={"moving_sources": remaining}), target.version))
    store.commit(writes)
    return done


def _clean(deps: Deps, record: Unification) -> None:
    """Delete the source's copies; nothing reads them once the move has completed."""
    while deps.store.delete_history_chunk(record.source_user_id, deps.settings.move_chunk_size):
        pass
    _save_progress(deps, record, record.progress.model_copy(update={"cleaned": True}))
