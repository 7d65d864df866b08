"""Which unifications are allowed (R2), as data."""

from __future__ import annotations

from .contacts import CONTACT_FIELDS
from .errors import UnificationNotAllowed
from .models import Channel, User, UserType

MESSENGER_CHANNELS = frozenset({Channel.LINE, Channel.INSTAGRAM})

# (source type, target type) pairs R2 allows; everything else is refused.
ALLOWED_UNIFICATIONS: frozenset[tuple[UserType, UserType]] = frozenset(
    {
        (UserType.ANONYMOUS, UserType.MEMBER),
        (UserType.LEAD, UserType.MEMBER),
    }
)


def is_unification_allowed(source: User, target: User) -> bool:
    """R2, R1.3 and R8.1: only anonymous/lead into member, never involving a unified
    user, and a messenger lead only once it has verified contact info."""
    return why_not_allowed(source, target) is None


def why_not_allowed(source: User, target: User) -> str | None:
    if source.id == target.id:
        return "a user cannot be unified into itself"
    if source.is_unified:
        return f"source {source.id} was already unified into {source.unified_into}"
    if target.is_unified:
        return f"target {target.id} was unified into {target.unified_into}"
    if (source.type, target.type) not in ALLOWED_UNIFICATIONS:
        return f"a {source.type.value} cannot be unified into a {target.type.value} (R2)"
    if source.channel in MESSENGER_CHANNELS and not any(source.verified_value(f) for f in CONTACT_FIELDS):
        return (
            f"a {source.channel.value} lead can be unified only after a manager adds its contact info"
            " (a verified mobileNumber or email, R8.1)"
        )
    return None


def require_unification_allowed(source: User, target: User) -> None:
    reason = why_not_allowed(source, target)
    if reason is not None:
        raise UnificationNotAllowed(reason)
