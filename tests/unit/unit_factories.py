"""Small builders for the pure-core unit tests (no I/O, no fixtures needed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.domain.models import Channel, FieldValue, ProfileValue, User, UserType

T0 = datetime(2024, 4, 1, 9, 0, tzinfo=UTC)
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    """A moment `minutes` after T0 (negative: before)."""
    return T0 + timedelta(minutes=minutes)


def fv(value: ProfileValue, *, verified: bool = False, when: datetime = T0) -> FieldValue:
    return FieldValue(value=value, verified=verified, updated_at=when)


def make_user(
    user_id: str = "u-1",
    user_type: UserType = UserType.LEAD,
    *,
    fields: dict[str, FieldValue] | None = None,
    unified_into: str | None = None,
    **extra: Any,
) -> User:
    member_id = extra.pop("member_id", f"mid-{user_id}" if user_type is UserType.MEMBER else None)
    return User(
        id=user_id,
        type=user_type,
        channel=extra.pop("channel", Channel.WEB),
        member_id=member_id,
        fields=fields or {},
        unified_into=unified_into,
        unified_at=T0 if unified_into is not None else None,
        created_at=extra.pop("created_at", T0),
        updated_at=extra.pop("updated_at", T0),
        **extra,
    )


def lead(user_id: str = "lead-1", **kwargs: Any) -> User:
    return make_user(user_id, UserType.LEAD, **kwargs)


def anonymous(user_id: str = "anon-1", **kwargs: Any) -> User:
    return make_user(user_id, UserType.ANONYMOUS, **kwargs)


def member(user_id: str = "member-1", **kwargs: Any) -> User:
    return make_user(user_id, UserType.MEMBER, **kwargs)
