"""Profile writes on one user (R1.2, R1.4, R1.6)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from .contacts import CONTACT_FIELDS, normalize_contact
from .errors import InvalidRequest
from .models import FieldValue, ProfileValue, User, UserType

STANDARD_FIELDS = ("name", "mobileNumber", "email", "companyName")
# Names a client could use to smuggle a read-only attribute in through the profile.
RESERVED_KEYS = frozenset(
    {
        "id",
        "type",
        "memberId",
        "verifiedFields",
        "unifiedInto",
        "unifiedAt",
        "displayName",
        "veilIds",
        "channel",
        "pendingUnifications",
        "createdAt",
        "updatedAt",
        "lastSeenAt",
        "unsubscribeEmail",
        "unsubscribeTexting",
        "profile",
    }
)
CUSTOM_KEY = re.compile(r"^[A-Za-z0-9_]{1,64}$")
MAX_STRING = 1000
# A custom key that reads like a field the service treats specially is a mistake, never a
# custom field (API.md, User): compared in lower case without `_` and `-`.
NEAR_MISSES = {
    **dict.fromkeys(("mobilenumber", "mobile", "phone", "phonenumber", "tel"), "mobileNumber"),
    **dict.fromkeys(("email", "mail", "emailaddress"), "email"),
    **dict.fromkeys(("companyname", "company"), "companyName"),
    "name": "name",
}
NEVER_PROFILE_KEYS = frozenset({"memberid", "type", "verifiedfields", "unifiedinto"})

ProfileChanges = Mapping[str, ProfileValue | None]


@dataclass(frozen=True)
class Consent:
    """The consent flags a write gives beside the profile (None: not given). R3.7 keeps
    them from weakening through a merge; a user's own write takes them as given."""

    unsubscribe_email: bool | None = None
    unsubscribe_texting: bool | None = None

    @property
    def given(self) -> bool:
        return self.unsubscribe_email is not None or self.unsubscribe_texting is not None

    def applied(self, user: User) -> dict[str, bool]:
        changes = {}
        if self.unsubscribe_email is not None:
            changes["unsubscribe_email"] = self.unsubscribe_email
        if self.unsubscribe_texting is not None:
            changes["unsubscribe_texting"] = self.unsubscribe_texting
        return changes


def validate_profile(changes: Mapping[str, object], default_region: str) -> dict[str, ProfileValue | None]:
    """Check keys and values of a profile write and normalize contacts (R1.4).

    Standard fields take strings; custom keys (letters, digits, `_`, up to 64)
    take strings, numbers or booleans; strings are at most 1,000 characters;
    `None` clears a field.
    """
    clean: dict[str, ProfileValue | None] = {}
    for key, value in changes.items():
        check_profile_key(key)
        if value is None:
            clean[key] = None
            continue
        if key in STANDARD_FIELDS and not isinstance(value, str):
            raise InvalidRequest(f"profile.{key} must be a string", field=key)
        if isinstance(value, bool | int | float) and not isinstance(value, str):
            if isinstance(value, float) and not math.isfinite(value):
                raise InvalidRequest(f"profile.{key} must be a finite number", field=key)
            clean[key] = value
            continue
        if not isinstance(value, str):
            raise InvalidRequest(f"profile.{key} must be a string, number or boolean", field=key)
        if len(value) > MAX_STRING:
            raise InvalidRequest(f"profile.{key} is longer than {MAX_STRING} characters", field=key)
        if key in CONTACT_FIELDS:
            if not value.strip():
                clean[key] = None
                continue
            clean[key] = normalize_contact(key, value, default_region)
        else:
            clean[key] = value
    return clean


def check_profile_key(key: str) -> None:
    """A profile key is a standard field or a custom key (letters, digits, `_`, up to
    64) that is neither read-only nor a near-miss of a standard field."""
    if key in RESERVED_KEYS:
        raise InvalidRequest(f"profile key {key!r} is read-only", field=key)
    if not CUSTOM_KEY.fullmatch(key):
        raise InvalidRequest(f"profile key {key!r} must be 1-64 letters, digits or underscores", field=key)
    folded = key.lower().replace("_", "").replace("-", "")
    if folded in NEVER_PROFILE_KEYS:
        raise InvalidRequest(f"{key!r} is never a profile key", field=key)
    meant = NEAR_MISSES.get(folded)
    if meant is not None and key != meant:
        raise InvalidRequest(f"profile key {key!r} is not a custom field: use {meant!r}", field=key)


def apply_profile(user: User, changes: ProfileChanges, *, verified: bool, now: datetime) -> dict[str, FieldValue]:
    """The user's fields after a write (R1.6).

    An unverified write never replaces or clears a verified value; otherwise
    the latest write wins. Writing the value a field already holds changes
    nothing but may verify it.
    """
    fields = dict(user.fields)
    for key, value in changes.items():
        current = fields.get(key)
        if current is not None and current.verified and not verified:
            continue
        if value is None:
            fields.pop(key, None)
            continue
        if current is not None and current.value == value and type(current.value) is type(value):
            if verified and not current.verified:
                fields[key] = FieldValue(value=value, verified=True, updated_at=now)
            continue
        fields[key] = FieldValue(value=value, verified=verified, updated_at=now)
    return fields


def type_after_contact(user_type: UserType, fields: Mapping[str, FieldValue]) -> UserType:
    """R1.2: an anonymous user with contact info is a lead."""
    if user_type is UserType.ANONYMOUS and any(f in fields for f in CONTACT_FIELDS):
        return UserType.LEAD
    return user_type


def contacts_changed(before: User, after_fields: Mapping[str, FieldValue]) -> list[str]:
    """Verified contact fields whose normalized value really changed (R6.3).

    The guide: pressing Enter on an unchanged value is not an edit. Re-entering
    the value a customer typed verifies it, but is not a change either.
    """
    changed = []
    for field in CONTACT_FIELDS:
        old = before.fields.get(field)
        new = after_fields.get(field)
        if new is not None and new.verified and (old is None or old.value != new.value):
            changed.append(field)
    return changed
