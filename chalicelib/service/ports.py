"""What the use cases need from storage, and the types they see; `store.dynamo.DynamoStore`
provides it. The store speaks in intents: no index name, key prefix or cursor
format reaches a use case."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Literal, Protocol, TypeVar

from ..domain.erasure import Erasure
from ..domain.models import Chat, ChatSummary, Delivery, Device, Event, Message, Status, Unification, User
from ..domain.webhooks import Message as WebhookMessage
from ..domain.webhooks import Webhook
from ..domain.writes import CopyHistory, PutReceipt, Write

T = TypeVar("T")
Order = Literal["oldest", "newest"]


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list; `next_cursor` (opaque) continues it."""

    items: list[T]
    next_cursor: str | None
    # The unified user a read was addressed to, when it was resolved to its member (R3.5).
    resolved_from: str | None = None


@dataclass(frozen=True)
class Found:
    """What one `read_together` found, by id; what is missing does not exist."""

    users: dict[str, User] = field(default_factory=dict)
    chats: dict[str, Chat] = field(default_factory=dict)
    summaries: dict[str, ChatSummary] = field(default_factory=dict)
    member_user_ids: dict[str, str] = field(default_factory=dict)
    unifications: dict[str, Unification] = field(default_factory=dict)
    # (field, value) → the members holding it; None: more than the index lists (junk, R6.4)
    contact_members: dict[tuple[str, str], list[str] | None] = field(default_factory=dict)


@dataclass(frozen=True)
class ErasedChunk:
    """What one chunk of an erasure deleted from a user's partition (R11.3); `done`:
    nothing of it is left."""

    items: int
    messages: int
    done: bool


@dataclass(frozen=True)
class HistoryChunk:
    """What one step of a history move copied, and where the next one resumes."""

    chats: int
    events: int
    cursor: str | None
    source_keys: list[dict[str, Any]]


class Receipt(Protocol):
    """What a keyed request answers (API.md, Idempotency-Key), as a write beside its own."""

    def write(self, result: Any, subjects: Sequence[str]) -> PutReceipt: ...


def receipt_writes(receipt: Receipt | None, result: Any, *subjects: str) -> list[Write]:
    return [receipt.write(result, subjects)] if receipt is not None else []


class Store(Protocol):
    # items by key (store/reads.py)
    def get_user(self, user_id: str) -> User | None: ...

    def get_users(self, user_ids: Sequence[str]) -> dict[str, User]: ...

    def get_member_user_id(self, member_id: str) -> str | None: ...

    def get_member_user_ids(self, member_ids: Sequence[str]) -> dict[str, str]: ...

    def get_device(self, handle: str, consistent: bool = True) -> Device | None: ...

    def extend_session(
        self, handle: str, token_hash: str, now: datetime, expires: datetime, max_tokens: int
    ) -> tuple[bool, Device | None]: ...

    def touch_device(self, handle: str, token_hash: str, now_iso: str, expires_iso: str) -> Device | None: ...

    def get_external_claim(self, channel: str, external_id: str) -> dict[str, Any] | None: ...

    def get_chat(self, chat_id: str) -> Chat | None: ...

    def chat_summary(self, chat_id: str, consistent: bool = True) -> ChatSummary | None: ...

    def add_to_chat_summary(self, chat_id: str, message: Message, dropped: Sequence[str]) -> None: ...

    def get_unification(self, unification_id: str) -> Unification | None: ...

    def get_unifications(self, unification_ids: Sequence[str]) -> dict[str, Unification]: ...

    def has_delivery(self, user_id: str, campaign_id: str) -> bool: ...

    def get_receipt(self, receipt_id: str) -> dict[str, Any] | None: ...

    def console_session(self, session_id: str) -> tuple[str, datetime] | None: ...

    def start_console_session(self, session_id: str, csrf_token: str, expires_at: datetime) -> None: ...

    def end_console_session(self, session_id: str) -> None: ...

    def read_together(
        self,
        *,
        users: Sequence[str] = (),
        chats: Sequence[str] = (),
        members: Sequence[str] = (),
        unifications: Sequence[str] = (),
        contacts: Sequence[tuple[str, str]] = (),
    ) -> Found: ...

    def members_by_contact(self, pairs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], list[str] | None]: ...

    # history across partitions (store/history.py)
    def chats_of(
        self, owners: Sequence[str], cursor: str | None, limit: int, order: Order | None = None
    ) -> Page[ChatSummary]: ...

    def events_of(
        self, owners: Sequence[str], shown_owner: str, cursor: str | None, limit: int, order: Order | None = None
    ) -> Page[Event]: ...

    def messages_page(
        self, chat_id: str, cursor: str | None, limit: int, order: Order | None = None
    ) -> Page[Message]: ...

    def latest_messages(self, chat_id: str, count: int) -> list[Message]: ...

    def older_messages_cursor(self, chat: Chat, oldest: Message) -> str: ...

    def list_deliveries(self, user_id: str, cursor: str | None, limit: int) -> Page[Delivery]: ...

    def all_deliveries(self, user_id: str) -> list[Delivery]: ...

    # lists through the indexes (store/listings.py)
    def users_holding(self, field: str, value: str, limit: int) -> list[User]: ...

    def unifications_with_status(self, status: Status | None, cursor: str | None, limit: int) -> Page[Unification]: ...

    def every_unification_with_status(self, status: Status) -> Iterator[Unification]: ...

    def unifications_of_user(
        self, user_id: str, status: Status | None, cursor: str | None, limit: int
    ) -> Page[Unification]: ...

    def unifications_targeting(self, user_id: str, status: Status) -> list[tuple[str, str]]: ...

    def unifications_due_for_cleaning(self, now: datetime) -> list[str]: ...

    # a history moving into its member (store/moves.py)
    def small_history(self, source_id: str, target_id: str, chats: int, events: int) -> CopyHistory | None: ...

    def copy_history_chunk(self, source_id: str, target_id: str, cursor: str | None, limit: int) -> HistoryChunk: ...

    def delete_history(self, wire_keys: Sequence[dict[str, Any]]) -> None: ...

    def delete_history_chunk(self, user_id: str, limit: int) -> int: ...

    # webhooks (store/webhooks.py)
    def save_webhook(self, webhook: Webhook) -> None: ...

    def webhooks(self) -> list[Webhook]: ...

    def get_webhook(self, webhook_id: str) -> Webhook | None: ...

    def delete_webhook(self, webhook_id: str) -> bool: ...

    def create_message(self, message: WebhookMessage) -> bool: ...

    def get_message(self, ref: str) -> WebhookMessage | None: ...

    def claim_message(self, message: WebhookMessage, now: datetime, lease_until: datetime) -> bool: ...

    def save_attempt(self, message: WebhookMessage) -> bool: ...

    def messages_of(self, webhook_id: str, cursor: str | None, limit: int) -> Page[WebhookMessage]: ...

    def due_messages(self, now: datetime, limit: int = 100) -> list[str]: ...

    # erasure (store/erasures.py, R11)
    def get_erasure(self, erasure_id: str) -> Erasure | None: ...

    def erasures_due(self, now: datetime) -> list[str]: ...

    def erasure_of(self, user_id: str) -> str | None: ...

    def count_devices(self, user_id: str) -> int: ...

    def count_messages(self, user_ids: Sequence[str]) -> int: ...

    def unifications_naming(self, user_id: str) -> list[str]: ...

    def erase_history_chunk(self, user_id: str, limit: int) -> ErasedChunk: ...

    def erase_about(self, user_id: str) -> int: ...

    def erase_messages_about(self, subject: str, before: datetime | None = None) -> None: ...

    def erase_message(self, chat_id: str, message_id: str) -> None: ...

    def erase_failures_naming(self, user_ids: Sequence[str]) -> int: ...

    def forget_user(self, user_id: str) -> None: ...

    # writes (store/commits.py)
    def commit(self, writes: Sequence[Write], token: str | None = None) -> None: ...

    def put_new_users(self, users: Sequence[User]) -> list[bool]: ...

    def put_new_visitor(self, device: Device, user: User) -> bool: ...

    def commit_many(self, groups: Sequence[Sequence[Write]]) -> list[bool]: ...

    def record_failure(self, source: str, key: str, payload: dict[str, Any], reason: str) -> None: ...

    def failures(self, source: str) -> list[dict[str, Any]]: ...

    def forget_failure(self, source: str, key: str) -> None: ...
