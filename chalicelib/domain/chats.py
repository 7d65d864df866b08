"""What a chat's listing shows of it: its latest messages (R3.3 keeps the rest readable)."""

from __future__ import annotations

from .models import ChatSummary, Message

# A listing carries each chat's latest messages, up to this many (the rest: a cursor).
RECENT_MESSAGES = 20


def dropped_for(summary: ChatSummary, message: Message, keep: int = RECENT_MESSAGES) -> list[str] | None:
    """The ids to drop from the summary's latest messages when `message` joins them, or
    None when the summary already holds it or it is older than every message kept."""
    if any(m.id == message.id for m in summary.recent):
        return None
    ordered = sorted((*summary.recent, message), key=lambda m: (m.created_at, m.id))
    if len(ordered) > keep and ordered[0].id == message.id:
        return None
    return [m.id for m in ordered[: max(0, len(ordered) - keep)]]


def with_message(summary: ChatSummary, message: Message, dropped: list[str]) -> ChatSummary:
    """The summary after `message` joined its latest messages and `dropped` left them."""
    kept = [m for m in summary.recent if m.id not in dropped]
    recent = tuple(sorted((*kept, message), key=lambda m: (m.created_at, m.id)))
    return summary.model_copy(update={"recent": recent, "older": summary.older or bool(dropped)})
