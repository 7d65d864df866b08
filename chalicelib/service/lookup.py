"""Finding users, following unifications (R3.5)."""

from __future__ import annotations

from ..domain.errors import NotFound, UserUnified
from ..domain.models import User
from .ports import Found, Store

MAX_HOPS = 4


def require_user(store: Store, user_id: str) -> User:
    user = store.get_user(user_id)
    if user is None:
        raise NotFound(f"no user {user_id}")
    return user


def current_user(store: Store, user_id: str, found: Found | None = None) -> User | None:
    """A session's user, or the member it was unified into (R4.4); taken from `found`
    when it was read with something else."""
    user = found.users.get(user_id) if found is not None else store.get_user(user_id)
    if user is not None and user.unified_into:
        return store.get_user(user.unified_into)
    return user


def require_pair(store: Store, source_id: str, target_id: str) -> tuple[User, User]:
    """Two users read together (one BatchGetItem)."""
    users = store.get_users([source_id, target_id])
    for user_id in (source_id, target_id):
        if user_id not in users:
            raise NotFound(f"no user {user_id}")
    return users[source_id], users[target_id]


def resolve_user(store: Store, user_id: str) -> tuple[User, str | None]:
    """The user, or the member it was unified into, and the id it was resolved from (R3.5)."""
    user = require_user(store, user_id)
    origin = user.id
    for _ in range(MAX_HOPS):
        if user.unified_into is None:
            return user, (origin if user.id != origin else None)
        user = require_user(store, user.unified_into)
    raise NotFound(f"user {user_id} resolves through too many unifications")


def writable_user(store: Store, user_id: str, found: Found | None = None) -> User:
    """A user that may still be written to: refused with `user_unified` otherwise (R3.5).
    Taken from `found` when it was read with something else."""
    user = found.users.get(user_id) if found is not None else store.get_user(user_id)
    if user is None:
        raise NotFound(f"no user {user_id}")
    if user.unified_into is not None:
        raise UserUnified(user.id, user.unified_into)
    return user
