"""Response shapes of API.md as pydantic models: the OpenAPI document's answers.

`views.py` builds the answers (plain dicts); these models only describe them, so
the document says exactly what the service sends. A unit test validates views'
output against them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel
from pydantic.json_schema import SkipJsonSchema

Timestamp = Annotated[
    str,
    Field(
        pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$",
        description="ISO 8601 UTC with milliseconds",
        examples=["2026-11-28T17:00:00.000Z"],
    ),
]
Cursor = Annotated[str | None, Field(description="opaque; null on the last page; URL-encode it to send it back")]
ResolvedFrom = Annotated[
    str | None,
    Field(description="present when the id asked for is a unified user, read as its member (R3.5)"),
]
ProfileValue = str | int | float | bool
UserType = Literal["anonymous", "lead", "member"]
ChannelName = Literal["web", "line", "instagram", "csv", "api"]
Trigger = Literal["login", "manager_edit", "csv_import", "open_api"]
UnificationStatus = Literal["pending_approval", "deferred", "running", "completed", "rejected", "cancelled"]
ErrorCode = Literal[
    "invalid_request",
    "unauthorized",
    "not_found",
    "unification_not_allowed",
    "already_delivered",
    "user_unified",
    "invalid_state",
    "idempotency_key_reused",
    "payload_too_large",
    "unsupported_media_type",
    "method_not_allowed",
    "unavailable",
    "internal_error",
]


class Out(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


# objects ---------------------------------------------------------------------------


class User(Out):
    id: str
    type: UserType
    memberId: str | None
    displayName: str
    veilIds: list[str]
    channel: ChannelName
    profile: dict[str, ProfileValue] = Field(
        description="name, mobileNumber, email, companyName and custom keys (letters, digits, _; up to 64 chars)"
    )
    verifiedFields: list[str]
    unsubscribeEmail: bool
    unsubscribeTexting: bool
    unifiedInto: str | None
    unifiedAt: Timestamp | None
    pendingUnifications: list[str] = Field(description="open (pending_approval, deferred) unifications naming it")
    externalId: str | None = Field(description="the messenger's id of a LINE / Instagram user")
    avatarUrl: str | None
    createdAt: Timestamp
    updatedAt: Timestamp
    lastSeenAt: Timestamp | None


class FieldDecision(Out):
    field: str
    winner: Literal["source", "target"]
    rule: Literal["has_value", "verified", "member", "recent"]
    sourceValue: ProfileValue | None = Field(description="the source's value (null: none)")
    sourceVerified: bool
    targetValue: ProfileValue | None = Field(description="the member's value (null: none)")
    targetVerified: bool
    value: ProfileValue | None = Field(description="the member's value after the unification")


class Moved(Out):
    moved: int = Field(ge=0)
    total: int | None = Field(ge=0, description="what the source held when it was unified; null until then (R10)")


class Progress(Out):
    chats: Moved
    events: Moved


class Moves(Out):
    """While pending or deferred, what the source holds now; afterwards, what it held."""

    chats: int = Field(ge=0)
    events: int = Field(ge=0)
    deliveries: int = Field(ge=0)


class Unification(Out):
    id: str
    sourceUserId: str
    targetUserId: str
    targetMemberId: str
    trigger: Trigger
    status: UnificationStatus
    matchedOn: list[str]
    fieldDecisions: list[FieldDecision] = Field(description="a preview while pending_approval or deferred (R3.6)")
    progress: Progress
    moves: Moves
    waitingFor: Literal["approval", "member_login"] | None
    whenApproved: Literal["immediately", "at_member_login"] | None = Field(
        description="while pending_approval: approval runs it at once, or at the member's next login (R7.3)"
    )
    sourceDisplayName: str | None
    targetDisplayName: str | None
    reason: str | None
    createdAt: Timestamp
    approvedAt: Timestamp | None
    completedAt: Timestamp | None


class Session(Out):
    id: str
    expiresAt: Timestamp
    loggedIn: bool


class Message(Out):
    id: str
    chatId: str
    personType: Literal["user", "manager"]
    personId: str
    personName: str
    text: str
    createdAt: Timestamp


class Chat(Out):
    id: str
    userId: str
    channel: ChannelName
    createdAt: Timestamp
    messages: list[Message] = Field(description="its latest messages (up to 20), oldest first")
    messagesCursor: str | None = Field(
        description="null when those are all; else GET /v1/chats/{chatId}/messages?cursor= (newest first from there)"
    )


class Event(Out):
    id: str
    userId: str
    name: str
    properties: dict[str, Any]
    createdAt: Timestamp


class Delivery(Out):
    campaignId: str
    userId: str
    deliveredAt: Timestamp


class FieldProblem(Out):
    field: str
    problem: str


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def absent(description: str) -> Any:
    """A detail that is left out (never null) when it does not apply."""
    return Field(default=None, description=description, json_schema_extra=_no_default)


class ErrorDetail(Out):
    code: ErrorCode
    message: str
    field: str | SkipJsonSchema[None] = absent("the parameter or profile key at fault")
    fields: list[FieldProblem | str] | SkipJsonSchema[None] = absent("the fields at fault")
    unifiedInto: str | SkipJsonSchema[None] = absent("with user_unified: the user it was unified into")


class ErrorBody(Out):
    error: ErrorDetail


class ImportRowError(Out):
    row: int = Field(ge=2, description="line number in the file; the header is line 1")
    message: str


class ImportResult(Out):
    rows: int = Field(ge=0, description="data rows read, bad rows included")
    members: int = Field(ge=0)
    leads: int = Field(ge=0)
    candidates: list[Unification]
    errors: list[ImportRowError]


# answers --------------------------------------------------------------------------


class Health(Out):
    status: Literal["ok"]


class OpenApiDocument(RootModel[dict[str, Any]]):
    """This document."""


class ConsoleSession(Out):
    csrfToken: str = Field(description="send as X-CSRF-Token with every state-changing request; keep in memory only")
    expiresAt: Timestamp


class Webhook(Out):
    id: str
    url: str
    events: list[str]
    description: str | None
    createdAt: Timestamp


class WebhookWithSecret(Webhook):
    secret: str = Field(description="whsec_<base64>: shown in this answer only; signs every message")


class WebhookOut(Out):
    webhook: WebhookWithSecret


class WebhookList(Out):
    webhooks: list[Webhook]


class WebhookDelivery(Out):
    id: str = Field(description="the message's webhook-id, the same on every attempt")
    event: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int = Field(ge=0)
    lastStatusCode: int | None
    lastError: str | None
    nextAttemptAt: Timestamp | None
    createdAt: Timestamp
    deliveredAt: Timestamp | None


class WebhookDeliveryPage(Out):
    deliveries: list[WebhookDelivery] = Field(description="newest first")
    nextCursor: Cursor


class ErasureCounts(Out):
    users: int = Field(ge=0)
    chats: int = Field(ge=0)
    messages: int = Field(ge=0, description="a dry run counts them all; a running erasure, those erased so far")
    events: int = Field(ge=0)
    deliveries: int = Field(ge=0)
    devices: int = Field(ge=0)


class ErasureProgress(Out):
    erased: int = Field(ge=0)
    total: int = Field(ge=0, description="users, chats, events, deliveries and devices")


class Erasure(Out):
    id: str
    userIds: list[str] = Field(description="the member and every user ever unified into it (R11.1)")
    memberId: str | None
    status: Literal["dry_run", "running", "completed"]
    counts: ErasureCounts
    progress: ErasureProgress
    createdAt: Timestamp
    completedAt: Timestamp | None


class ErasureOut(Out):
    erasure: Erasure


class NoContent(RootModel[None]):
    """No body."""


class File(RootModel[str]):
    """A file served beside the API (the SDK, the console's pages)."""


class BootOut(Out):
    veilId: str
    sessionToken: str
    session: Session
    user: User
    unification: Unification | None


class SessionOut(Out):
    session: Session
    user: User


class LoginOut(Out):
    session: Session
    user: User
    unification: Unification | None


class EventOut(Out):
    event: Event


class ChatStarted(Out):
    chat: Chat
    message: Message


class MessageOut(Out):
    message: Message


class UserOut(Out):
    user: User


class UserResolved(Out):
    user: User
    resolvedFrom: str | None = Field(description="the id asked for, when it was unified into this user (R3.5)")


class UserWithCandidate(Out):
    user: User
    unificationCandidate: Unification | None


class UserList(Out):
    users: list[User]


class ChatPage(Out):
    chats: list[Chat]
    nextCursor: Cursor
    resolvedFrom: ResolvedFrom = None


class MessagePage(Out):
    messages: list[Message]
    nextCursor: Cursor


class EventPage(Out):
    events: list[Event]
    nextCursor: Cursor
    resolvedFrom: ResolvedFrom = None


class DeliveryPage(Out):
    deliveries: list[Delivery]
    nextCursor: Cursor
    resolvedFrom: ResolvedFrom = None


class DeliveryOut(Out):
    delivery: Delivery


class UnificationOut(Out):
    unification: Unification


class UnificationPage(Out):
    unifications: list[Unification]
    nextCursor: Cursor


class ImportOut(Out):
    model_config = ConfigDict(populate_by_name=True)

    result: ImportResult = Field(alias="import")


class MessengerOut(Out):
    user: User
    chat: Chat
    message: Message
