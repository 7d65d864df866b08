"""R2 (which unifications are allowed) and R1.3 (a unified user is never source or target)."""

from __future__ import annotations

import pytest
from unit_factories import fv, make_user

from chalicelib.domain.errors import UnificationNotAllowed
from chalicelib.domain.models import Channel, User, UserType
from chalicelib.domain.rules import (
    ALLOWED_UNIFICATIONS,
    is_unification_allowed,
    require_unification_allowed,
    why_not_allowed,
)

A, L, M = UserType.ANONYMOUS, UserType.LEAD, UserType.MEMBER

# Every (source type, target type) pair and R2's verdict.
TYPE_PAIRS = [
    (A, M, True),
    (L, M, True),
    (L, L, False),
    (M, M, False),
    (A, A, False),
    (A, L, False),
    (L, A, False),
    (M, A, False),
    (M, L, False),
]
TYPE_PAIR_IDS = [f"R2-{s.value}-to-{t.value}-{'allowed' if ok else 'refused'}" for s, t, ok in TYPE_PAIRS]


def _pair(source_type: UserType, target_type: UserType) -> tuple[User, User]:
    return make_user("src", source_type), make_user("tgt", target_type)


@pytest.mark.parametrize(("source_type", "target_type", "allowed"), TYPE_PAIRS, ids=TYPE_PAIR_IDS)
def test_is_unification_allowed_by_type(source_type: UserType, target_type: UserType, allowed: bool) -> None:
    source, target = _pair(source_type, target_type)
    assert is_unification_allowed(source, target) is allowed


@pytest.mark.parametrize(("source_type", "target_type", "allowed"), TYPE_PAIRS, ids=TYPE_PAIR_IDS)
def test_why_not_allowed_by_type(source_type: UserType, target_type: UserType, allowed: bool) -> None:
    source, target = _pair(source_type, target_type)
    reason = why_not_allowed(source, target)
    if allowed:
        assert reason is None
    else:
        assert reason is not None
        assert f"a {source_type.value} cannot be unified into a {target_type.value}" in reason
        assert "R2" in reason


@pytest.mark.parametrize(("source_type", "target_type", "allowed"), TYPE_PAIRS, ids=TYPE_PAIR_IDS)
def test_require_unification_allowed_by_type(source_type: UserType, target_type: UserType, allowed: bool) -> None:
    source, target = _pair(source_type, target_type)
    if allowed:
        assert require_unification_allowed(source, target) is None
    else:
        with pytest.raises(UnificationNotAllowed) as info:
            require_unification_allowed(source, target)
        assert info.value.code == "unification_not_allowed"
        assert info.value.message == why_not_allowed(source, target)


def test_allowed_table_is_exactly_anonymous_or_lead_into_member() -> None:
    assert {(A, M), (L, M)} == ALLOWED_UNIFICATIONS


# Unified users on either side, and self-unification: refused whatever the types say.
def _unified(user_id: str, user_type: UserType) -> User:
    return make_user(user_id, user_type, unified_into="member-elsewhere")


UNIFIED_CASES = [
    (_unified("src", A), make_user("tgt", M), "source src was already unified into member-elsewhere"),
    (_unified("src", L), make_user("tgt", M), "source src was already unified into member-elsewhere"),
    (make_user("src", A), _unified("tgt", M), "target tgt was unified into member-elsewhere"),
    (make_user("src", L), _unified("tgt", M), "target tgt was unified into member-elsewhere"),
    (make_user("src", L), _unified("tgt", L), "target tgt was unified into member-elsewhere"),
    (_unified("src", L), _unified("tgt", M), "source src was already unified into member-elsewhere"),
    (make_user("same", M), make_user("same", M), "a user cannot be unified into itself"),
    (make_user("same", L), make_user("same", M), "a user cannot be unified into itself"),
    (make_user("same", A), make_user("same", M), "a user cannot be unified into itself"),
]
UNIFIED_IDS = [
    "R2-R1.3-unified-anonymous-source-refused",
    "R2-R1.3-unified-lead-source-refused",
    "R2-R1.3-anonymous-into-unified-target-refused",
    "R2-R1.3-lead-into-unified-target-refused",
    "R2-R1.3-lead-into-unified-lead-refused",
    "R2-R1.3-unified-on-both-sides-refused",
    "R2-self-unification-member-refused",
    "R2-self-unification-same-id-lead-into-member-refused",
    "R2-self-unification-same-id-anonymous-into-member-refused",
]


@pytest.mark.parametrize(("source", "target", "reason"), UNIFIED_CASES, ids=UNIFIED_IDS)
def test_is_unification_allowed_refuses_unified_and_self(source: User, target: User, reason: str) -> None:
    assert is_unification_allowed(source, target) is False


@pytest.mark.parametrize(("source", "target", "reason"), UNIFIED_CASES, ids=UNIFIED_IDS)
def test_why_not_allowed_names_unified_and_self(source: User, target: User, reason: str) -> None:
    assert why_not_allowed(source, target) == reason


@pytest.mark.parametrize(("source", "target", "reason"), UNIFIED_CASES, ids=UNIFIED_IDS)
def test_require_unification_allowed_raises_for_unified_and_self(source: User, target: User, reason: str) -> None:
    with pytest.raises(UnificationNotAllowed, match=reason):
        require_unification_allowed(source, target)


def test_is_unified_property_follows_unified_into() -> None:
    assert make_user("x", L).is_unified is False
    assert _unified("x", L).is_unified is True


@pytest.mark.parametrize("channel", [Channel.LINE, Channel.INSTAGRAM], ids=["R8.1-line", "R8.1-instagram"])
def test_a_messenger_lead_without_verified_contact_info_cannot_be_unified(channel: Channel) -> None:
    """Issue 10, item 9: R8.1 says such a lead can be unified only once a manager adds contact info."""
    target = make_user("tgt", M)
    bare = make_user("src", L, channel=channel)
    typed = make_user("src", L, channel=channel, fields={"email": fv("a@example.com", verified=False)})
    added = make_user("src", L, channel=channel, fields={"mobileNumber": fv("+819012345678", verified=True)})
    for source in (bare, typed):
        reason = why_not_allowed(source, target)
        assert reason is not None and "R8.1" in reason and channel.value in reason
    assert why_not_allowed(added, target) is None
