"""Domain records (R1): users, sessions, history and unification records.

Frozen pydantic models: a change is a new value (`model_copy`), built by the
core or the service and handed to the store as a whole.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict

from .devices import device_handle
from .names import generated_label

ProfileValue = str | int | float | bool


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)


class UserType(StrEnum):
    ANONYMOUS = "anonymous"
    LEAD = "lead"
    MEMBER = "member"


class Channel(StrEnum):
    WEB = "web"
    LINE = "line"
    INSTAGRAM = "instagram"
    CSV = "csv"
    API = "api"


class FieldValue(Frozen):
    """One profile value with its provenance (R1.4: verified or typed in)."""

    value: ProfileValue
    verified: bool
    updated_at: datetime


class User(Frozen):
    id: str
    type: UserType
    channel: Channel
    member_id: str | None = None
    external_id: str | None = None
    fields: dict[str, FieldValue] = {}
    avatar_url: str | None = None
    veil_ids: tuple[str, ...] = ()
    unsubscribe_email: bool = False
    unsubscribe_texting: bool = False
    unified_into: str | None = None
    unified_at: datetime | None = None
    unification_id: str | None = None
    # The unification that last merged a source into this member (audits: which commit wrote it).
    last_unification_id: str | None = None
    # Sources unified into this member whose history is still moving (R3.3).
    moving_sources: tuple[str, ...] = ()
    # Open (pending_approval or deferred) unifications naming this user (R7.5).
    pending_unifications: tuple[str, ...] = ()
    # History in this user's own partition: chats and events (R10 totals, known when a
    # unification commits) and marketing deliveries (R3.2: a unification looks for the
    # source's only when there are some). A member's include what moved into it.
    chat_count: int = 0
    event_count: int = 0
    delivery_count: int = 0
    # The contact values this user is listed under in the members' contact index
    # (R6.1), as last written: the store moves the listing when they change.
    indexed_contacts: dict[str, str] = {}
    # Those of them counted, not listed, because the value's index item was full (R6.4).
    overflowed_contacts: tuple[str, ...] = ()
    visited: bool = False
    created_at: datetime
    updated_at: datetime
    last_seen_at: datetime | None = None
    last_login_at: datetime | None = None
    version: int = 0

    @property
    def is_unified(self) -> bool:
        return self.unified_into is not None

    @property
    def display_name(self) -> str:
        """The real name when there is one, else the stable generated label (R1.5)."""
        name = self.fields.get("name")
        if name is not None and isinstance(name.value, str) and name.value.strip():
            return name.value
        return generated_label(self.id)

    @property
    def profile(self) -> dict[str, ProfileValue]:
        return {key: fv.value for key, fv in self.fields.items()}

    @property
    def verified_fields(self) -> list[str]:
        return sorted(key for key, fv in self.fields.items() if fv.verified)

    def verified_value(self, field: str) -> ProfileValue | None:
        fv = self.fields.get(field)
        return fv.value if fv is not None and fv.verified else None

    def changed(self, now: datetime, **changes: object) -> User:
        """A new version of this user: the store writes it only over `version`."""
        return self.model_copy(update={**changes, "updated_at": now, "version": self.version + 1})

    def with_pending(self, unification_id: str) -> User:
        if unification_id in self.pending_unifications:
            return self
        return self.model_copy(update={"pending_unifications": (*self.pending_unifications, unification_id)})

    def without_pending(self, unification_id: str) -> User:
        remaining = tuple(u for u in self.pending_unifications if u != unification_id)
        return self.model_copy(update={"pending_unifications": remaining})


class Device(Frozen):
    """A browser or app (`veilId`) and its current session (R4.1)."""

    veil_id: str
    session_id: str
    user_id: str
    token_hashes: tuple[str, ...] = ()
    started_at: datetime
    expires_at: datetime
    logged_in: bool = False
    member_id: str | None = None
    version: int = 0

    def live(self, now: datetime) -> bool:
        return now < self.expires_at

    @property
    def handle(self) -> str:
        """What the table and this device's session tokens know it by (never the veilId)."""
        return device_handle(self.veil_id)


class Message(Frozen):
    id: str
    chat_id: str
    person_type: Literal["user", "manager"]
    person_id: str
    manager_name: str | None = None
    text: str
    created_at: datetime


class Chat(Frozen):
    id: str
    creator_id: str
    channel: Channel
    external_id: str | None = None
    created_at: datetime


class ChatSummary(Frozen):
    """A chat with its latest messages (oldest first), as its header keeps them for
    listings; `older`: the chat holds more than those. The stream keeps it (R3.3 reads
    of the messages themselves are always current)."""

    chat: Chat
    recent: tuple[Message, ...] = ()
    older: bool = False


class Event(Frozen):
    id: str
    user_id: str
    name: str
    properties: dict[str, object] = {}
    created_at: datetime


class Delivery(Frozen):
    campaign_id: str
    user_id: str
    delivered_at: datetime


class LoginRecord(Frozen):
    """R5.5: a member logged in; deferred unifications wait for these."""

    id: str
    user_id: str
    member_id: str
    session_id: str
    at: datetime


class Trigger(StrEnum):
    LOGIN = "login"
    MANAGER_EDIT = "manager_edit"
    CSV_IMPORT = "csv_import"
    OPEN_API = "open_api"


class Status(StrEnum):
    PENDING_APPROVAL = "pending_approval"
    DEFERRED = "deferred"
    RUNNING = "running"
    COMPLETED = "completed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


OPEN_STATUSES = frozenset({Status.PENDING_APPROVAL, Status.DEFERRED})


class Rule(StrEnum):
    """Why a field went one way (R3.1), in the order the rules are tried."""

    HAS_VALUE = "has_value"
    VERIFIED = "verified"
    MEMBER = "member"
    RECENT = "recent"


class FieldDecision(Frozen):
    """One field's decision (R3.1) with the values it chose between (R3.6): a value
    absent on a side is None and not verified; `value` is the member's afterwards."""

    field: str
    winner: Literal["source", "target"]
    rule: Rule
    source_value: ProfileValue | None = None
    source_verified: bool = False
    target_value: ProfileValue | None = None
    target_verified: bool = False
    value: ProfileValue | None = None


class Progress(Frozen):
    """R10: `total` is what the source held when it was unified (counted: its tallies),
    `moved` how much of it belongs to the member now; `deliveries` how many marketing
    deliveries it held (they move inside the unification itself, R3.2).

    The rest is the mover's own bookmark: where copying resumes, whether all
    is copied, and whether the source's leftover copies have been removed.
    """

    chats_moved: int = 0
    chats_total: int = 0
    events_moved: int = 0
    events_total: int = 0
    deliveries: int = 0
    counted: bool = False
    cursor: str | None = None
    copied: bool = False
    cleaned: bool = False
    # When the originals may be deleted: after a grace period longer than any read (R3.3).
    clean_after: datetime | None = None
    # When the unification committed: how long its history took to move (MoveLag, issue 16).
    committed_at: datetime | None = None


class Unification(Frozen):
    id: str
    source_user_id: str
    target_user_id: str
    target_member_id: str
    trigger: Trigger
    status: Status
    matched_on: tuple[str, ...] = ()
    field_decisions: tuple[FieldDecision, ...] = ()
    progress: Progress = Progress()
    reason: str | None = None
    created_at: datetime
    updated_at: datetime
    approved_at: datetime | None = None
    completed_at: datetime | None = None
    version: int = 0
    # Read along with the record for its answer, never stored: both users' display names,
    # and (while pending) whether the source ever visited, so approval defers it (R7.3).
    source_display_name: str | None = None
    target_display_name: str | None = None
    source_visited: bool | None = None

    @property
    def waiting_for(self) -> Literal["approval", "member_login"] | None:
        """What an open unification waits for (R7.2, R7.3)."""
        if self.status is Status.PENDING_APPROVAL:
            return "approval"
        if self.status is Status.DEFERRED:
            return "member_login"
        return None

    def changed(self, now: datetime, **changes: object) -> Unification:
        return self.model_copy(update={**changes, "updated_at": now, "version": self.version + 1})
