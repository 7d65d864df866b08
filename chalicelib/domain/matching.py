"""Choosing the member a contact value points at (R6)."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence

from .contacts import CONTACT_FIELDS, normalize_contact
from .errors import InvalidRequest
from .models import User, UserType

# Placeholder addresses people type when they have to type something (R6.4).
DEFAULT_EMAIL_BLOCKLIST = frozenset(
    {
        "test@test.com",
        "test@example.com",
        "example@example.com",
        "a@a.com",
        "aaa@aaa.com",
        "none@none.com",
        "no@no.com",
        "null@null.com",
        "dummy@dummy.com",
        "sample@sample.com",
        "noreply@example.com",
    }
)


def is_placeholder_phone(e164: str) -> bool:
    """Numbers whose subscriber digits are all one digit, such as 090-1111-1111 (R6.4)."""
    import phonenumbers  # on first use (cold start)

    try:
        national = str(phonenumbers.parse(e164).national_number)
    except phonenumbers.NumberParseException:
        return True
    subscriber = national[-8:] if len(national) > 8 else national
    return len(set(subscriber)) == 1 or len(set(national)) == 1


@functools.cache
def normalized_blocklist(entries: tuple[str, ...], default_region: str) -> frozenset[str]:
    """The configured blocklist as stored values are: phones in E.164, emails lowercased
    (R1.4), so `090-2222-3333` blocks +819022223333. An entry that is neither stays as typed."""
    blocked = set()
    for entry in entries:
        field = "email" if "@" in entry else "mobileNumber"
        try:
            blocked.add(normalize_contact(field, entry, default_region).lower())
        except InvalidRequest:
            blocked.add(entry.strip().lower())
    return frozenset(blocked)


def is_junk(field: str, value: str, blocklist: Iterable[str] = ()) -> bool:
    """A stored value that must never be used for matching (R6.4). `blocklist` holds
    normalized values (`normalized_blocklist`)."""
    if value.lower() in blocklist:
        return True
    if field == "email":
        return value.lower() in DEFAULT_EMAIL_BLOCKLIST
    if field == "mobileNumber":
        return is_placeholder_phone(value)
    return False


def member_contact_index(user: User) -> dict[str, str]:
    """The contact values a member is found by (R6.1: verified or not on its side).

    Only un-unified members are listed; built-in placeholders never are (R6.4).
    """
    if user.type is not UserType.MEMBER or user.is_unified:
        return {}
    listed = {}
    for field in CONTACT_FIELDS:
        value = user.fields.get(field)
        if value is not None and not is_junk(field, str(value.value)):
            listed[field] = str(value.value)
    return listed


def choose_target_member(
    user: User, matches: Sequence[tuple[str, Sequence[User]]], cap: int
) -> tuple[User, tuple[str, ...]] | None:
    """The member to propose for `user`, and the fields it matched on (R6.1, R6.2, R6.4).

    `matches` pairs each of the user's verified contact fields with the
    un-unified users holding the same value. Only members count; a value
    shared by more than `cap` members is junk and ignored. With several
    members, the most recently updated wins (ties: the smaller id, so the
    choice is deterministic).
    """
    by_member: dict[str, tuple[User, list[str]]] = {}
    for field, holders in matches:
        members = [h for h in holders if h.type is UserType.MEMBER and h.id != user.id and not h.is_unified]
        if not members or len(members) > cap:
            continue
        for member in members:
            by_member.setdefault(member.id, (member, []))[1].append(field)
    if not by_member:
        return None
    member, fields = min(by_member.values(), key=lambda mf: (-mf[0].updated_at.timestamp(), mf[0].id))
    return member, tuple(fields)
