"""What a unification does to the profile (R3.1, R3.2, R3.7), as a plan.

`plan_unification` never writes: it returns the member and the frozen source
as they must be after the unification, and every field's decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from .devices import listed_devices
from .errors import Busy
from .models import FieldDecision, FieldValue, Rule, User, UserType
from .rules import require_unification_allowed

Side = Literal["source", "target"]


def choose_field(
    target: FieldValue | None,
    source: FieldValue | None,
    *,
    target_type: UserType,
    source_type: UserType,
) -> tuple[Side, Rule] | None:
    """R3.1: the first rule that decides picks the winner; None when both are empty.

    1. a value beats no value; 2. verified beats unverified; 3. the member's
    value beats a lead's or anonymous user's; 4. the more recent value wins
    (ties keep the target).
    """
    if target is None and source is None:
        return None
    if source is None:
        return "target", Rule.HAS_VALUE
    if target is None:
        return "source", Rule.HAS_VALUE
    if target.verified != source.verified:
        return ("target" if target.verified else "source"), Rule.VERIFIED
    target_member = target_type is UserType.MEMBER
    source_member = source_type is UserType.MEMBER
    if target_member != source_member:
        return ("target" if target_member else "source"), Rule.MEMBER
    return ("source" if source.updated_at > target.updated_at else "target"), Rule.RECENT


def decide_fields(source: User, target: User) -> tuple[dict[str, FieldValue], tuple[FieldDecision, ...]]:
    """Every profile field of the member chosen between the two sides (R3.1, R3.6)."""
    merged: dict[str, FieldValue] = {}
    decisions: list[FieldDecision] = []
    for field in sorted(set(target.fields) | set(source.fields)):
        choice = choose_field(
            target.fields.get(field),
            source.fields.get(field),
            target_type=target.type,
            source_type=source.type,
        )
        if choice is None:
            continue
        winner, rule = choice
        chosen = source.fields[field] if winner == "source" else target.fields[field]
        merged[field] = chosen
        from_source, from_target = source.fields.get(field), target.fields.get(field)
        decisions.append(
            FieldDecision(
                field=field,
                winner=winner,
                rule=rule,
                source_value=from_source.value if from_source else None,
                source_verified=bool(from_source and from_source.verified),
                target_value=from_target.value if from_target else None,
                target_verified=bool(from_target and from_target.verified),
                value=chosen.value,
            )
        )
    return merged, tuple(decisions)


# A member reads the partitions of its sources still moving in (R3.3); their number is bounded.
MAX_MOVING_SOURCES = 100


@dataclass(frozen=True)
class MergePlan:
    """The member and the frozen source after unifying, and why each field went where;
    `moves_history`: the source has chats or events to move in afterwards (R10), else
    the unification is complete when it commits."""

    target: User
    source: User
    decisions: tuple[FieldDecision, ...]
    moves_history: bool


def plan_unification(
    source: User, target: User, *, unification_id: str, now: datetime, moved_now: bool = False
) -> MergePlan:
    """Plan unifying `source` into member `target` (R2 checked, R3.1, R3.7, R1.3).
    `moved_now`: the source's chats and events are copied inside the unification
    itself (a small history, R10), so the member counts them at once."""
    require_unification_allowed(source, target)
    moves_history = bool(source.chat_count or source.event_count) and not moved_now
    if moves_history and len(target.moving_sources) >= MAX_MOVING_SOURCES:
        raise Busy(f"member {target.id} has {MAX_MOVING_SOURCES} histories moving in; try again in a moment")
    merged, decisions = decide_fields(source, target)
    new_target = target.without_pending(unification_id).changed(
        now,
        fields=merged,
        # R3.7: consent never weakens.
        unsubscribe_email=target.unsubscribe_email or source.unsubscribe_email,
        unsubscribe_texting=target.unsubscribe_texting or source.unsubscribe_texting,
        veil_ids=listed_devices(target.veil_ids, *source.veil_ids),
        moving_sources=(*target.moving_sources, source.id) if moves_history else target.moving_sources,
        last_unification_id=unification_id,
        **(
            {
                "chat_count": target.chat_count + source.chat_count,
                "event_count": target.event_count + source.event_count,
            }
            if moved_now
            else {}
        ),
    )
    new_source = source.without_pending(unification_id).changed(
        now, unified_into=target.id, unified_at=now, unification_id=unification_id
    )
    return MergePlan(target=new_target, source=new_source, decisions=decisions, moves_history=moves_history)
