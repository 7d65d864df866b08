"""A unification as a manager reads it (R3.6): the values each field chooses between,
what would move, and both users' names."""

from __future__ import annotations

from .merge import decide_fields
from .models import OPEN_STATUSES, Progress, Unification, User


def holdings(source: User) -> Progress:
    """What approving would move now (R3.6): the source's tallies, not yet a total (R10)."""
    return Progress(chats_total=source.chat_count, events_total=source.event_count, deliveries=source.delivery_count)


def shown(record: Unification, source: User | None, target: User | None) -> Unification:
    """The record with both users' display names; while it is pending or deferred, its
    decisions and moves computed on the profiles as they are now."""
    update: dict[str, object] = {
        "source_display_name": source.display_name if source else None,
        "target_display_name": target.display_name if target else None,
    }
    if record.status in OPEN_STATUSES and source is not None and target is not None:
        update.update(field_decisions=decide_fields(source, target)[1], progress=holdings(source))
        update["source_visited"] = source.visited
    return record.model_copy(update=update)
