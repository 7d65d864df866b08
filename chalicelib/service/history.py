"""Chats, messages, events and marketing deliveries (R1.2, R3.2-R3.4)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..domain import writes as w
from ..domain.chats import dropped_for, with_message
from ..domain.errors import AlreadyDelivered, NotFound, Unauthorized, UserUnified
from ..domain.models import Channel, Chat, ChatSummary, Delivery, Event, Message, User, UserType
from .deps import Deps
from .lookup import current_user, require_user, resolve_user
from .ports import Order, Page, Receipt, receipt_writes
from .retry import FirstThenReload, retrying

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChatView:
    """A chat as listed: its latest messages (oldest first) and a cursor to the earlier ones."""

    chat: Chat
    owner_id: str
    messages: list[Message]
    earlier: str | None = None


@dataclass(frozen=True)
class Posted:
    """A customer's message as written: the chat, the message, and its author (the
    session's user, or the member it was unified into, R4.4)."""

    chat: ChatView
    message: Message
    author: User


@dataclass(frozen=True)
class MessageView:
    """A message with its author's display name as shown now (R3.4)."""

    message: Message
    person_name: str


@dataclass(frozen=True)
class NamedChat:
    """A listed chat and its latest messages under their authors' names."""

    view: ChatView
    messages: list[MessageView]


class History:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    # writes ------------------------------------------------------------------

    def record_event(
        self, user_id: str, name: str, properties: dict[str, Any], *, follow: bool, receipt: Receipt | None = None
    ) -> Event:
        """Append an event. `follow`: a session's user unified meanwhile writes to its member
        (R4.4); an Open API write to a unified user is refused (R3.5)."""

        def once() -> Event:
            target = user_id
            event = Event(
                id=self.deps.clock.new_id("e_"),
                user_id=target,
                name=name,
                properties=properties,
                created_at=self.deps.clock.now(),
            )
            try:
                self.deps.store.commit(
                    [w.Tally(target, events=1), w.PutEvent(event), *receipt_writes(receipt, event, target)]
                )
            except w.WriteConflict as conflict:
                if not conflict.failed(0):
                    raise
                user = require_user(self.deps.store, target)
                if user.unified_into is None:
                    raise
                if not follow:
                    raise UserUnified(user.id, user.unified_into) from None
                return self.record_event(user.unified_into, name, properties, follow=False, receipt=receipt)
            return event

        return retrying(once)

    def start_chat(self, user: User, text: str, receipt: Receipt | None = None) -> Posted:
        """A visitor's first message opens a chat and makes them a lead (R1.2).

        `user` is the session's user as just read; a retry reads it again.
        """
        author = FirstThenReload(user, lambda: require_user(self.deps.store, user.id))

        def once() -> Posted:
            current = author.get()
            if current.unified_into is not None:
                current = require_user(self.deps.store, current.unified_into)
            now = self.deps.clock.now()
            chat = Chat(id=self.deps.clock.new_id("c_"), creator_id=current.id, channel=Channel.WEB, created_at=now)
            message = Message(
                id=self.deps.clock.new_id("m_"),
                chat_id=chat.id,
                person_type="user",
                person_id=current.id,
                text=text,
                created_at=now,
            )
            guard: w.Write
            if current.type is UserType.ANONYMOUS:
                lead = current.changed(now, type=UserType.LEAD, chat_count=current.chat_count + 1)
                guard = w.SaveUser(lead, current.version)
            else:
                guard = w.Tally(current.id, chats=1)
            posted = Posted(ChatView(chat=chat, owner_id=current.id, messages=[message]), message, current)
            receipted = receipt_writes(receipt, posted, current.id)
            self.deps.store.commit([guard, w.PutChat(chat, current.id, message), w.PutMessage(message), *receipted])
            return posted

        return retrying(once)

    def post_own_message(
        self, user_id: str, chat_id: str, text: str, receipt: Receipt | None = None
    ) -> tuple[User, Message]:
        """A customer writes in one of their own chats (unified ones included). The
        session's user (or its member, R4.4) and the chat are read together."""
        found = self.deps.store.read_together(users=[user_id], chats=[chat_id])
        user = current_user(self.deps.store, user_id, found)
        if user is None:
            raise Unauthorized("the session has no user")
        chat = self._own_chat(user, chat_id, found.chats.get(chat_id))
        message = Message(
            id=self.deps.clock.new_id("m_"),
            chat_id=chat.id,
            person_type="user",
            person_id=user.id,
            text=text,
            created_at=self.deps.clock.now(),
        )
        result = (user, message)
        self.deps.store.commit([w.PutMessage(message), *receipt_writes(receipt, result, user.id)])
        self.keep_latest(found.summaries.get(chat_id), message)
        return result

    def manager_reply(self, chat_id: str, text: str, manager_name: str, receipt: Receipt | None = None) -> Message:
        summary = self.deps.store.chat_summary(chat_id)
        if summary is None or not self._visible(summary.chat):
            raise NotFound(f"no chat {chat_id}")
        chat = summary.chat
        message = Message(
            id=self.deps.clock.new_id("m_"),
            chat_id=chat.id,
            person_type="manager",
            person_id="manager",
            manager_name=manager_name,
            text=text,
            created_at=self.deps.clock.now(),
        )
        self.deps.store.commit([w.PutMessage(message), *receipt_writes(receipt, message, chat.creator_id)])
        self.keep_latest(summary, message)
        return message

    def _visible(self, chat: Chat) -> bool:
        """A chat whose creator was erased is gone from the answer on (R11.2)."""
        return self.deps.store.get_user(chat.creator_id) is not None

    def _own_chat(self, user: User, chat_id: str, chat: Chat | None) -> Chat:
        """The chat, if its creator is this user or was unified into it; else not found."""
        if chat is None:
            raise NotFound(f"no chat {chat_id}")
        if chat.creator_id != user.id:
            creator = self.deps.store.get_user(chat.creator_id)
            if creator is None or creator.unified_into != user.id:
                raise NotFound(f"no chat {chat_id}")
        return chat

    def deliver(self, user_id: str, campaign_id: str) -> Delivery:
        """Record a marketing send; refused if it already reached this member or a user
        unified into it (R3.2), or if the user was unified (R3.5)."""
        delivery = Delivery(campaign_id=campaign_id, user_id=user_id, delivered_at=self.deps.clock.now())
        try:
            self.deps.store.commit([w.Tally(user_id, deliveries=1), w.PutDelivery(delivery)])
        except w.WriteConflict as conflict:
            if conflict.failed(0):
                user = require_user(self.deps.store, user_id)
                if user.unified_into is not None:
                    raise UserUnified(user.id, user.unified_into) from None
            if conflict.failed(1):
                raise AlreadyDelivered(f"campaign {campaign_id} already reached user {user_id}") from None
            raise
        return delivery

    # reads (R3.3, R3.5) -----------------------------------------------------------

    def list_chats(
        self, user_id: str, cursor: str | None, limit: int, order: Order | None = None, *, read: User | None = None
    ) -> Page[NamedChat]:
        """The user's chats, each with its latest messages under their authors' names and
        a cursor to the rest; a unified user's are its member's (R3.3, R3.5). `read`: the
        user as this request already read it (a session's user, resolved, R4.4)."""
        if read is not None and read.id == user_id and read.unified_into is None:
            user, resolved_from = read, None
        else:
            user, resolved_from = resolve_user(self.deps.store, user_id)
        page = self.deps.store.chats_of([*user.moving_sources, user.id], cursor, limit, order)
        chats = [self._view(summary, user.id) for summary in page.items]
        named = zip(chats, self.name_chats(chats, known=[user]), strict=True)
        return Page([NamedChat(chat, messages) for chat, messages in named], page.next_cursor, resolved_from)

    def _view(self, summary: ChatSummary, owner_id: str) -> ChatView:
        older = None
        if summary.older and summary.recent:
            older = self.deps.store.older_messages_cursor(summary.chat, summary.recent[0])
        return ChatView(summary.chat, owner_id, list(summary.recent), older)

    def list_messages(
        self, chat_id: str, cursor: str | None, limit: int, order: Order | None, for_user: str | None = None
    ) -> Page[Message]:
        """A chat's messages, paged (all of them, where a listing carries the latest);
        `for_user`: a customer reading one of their own chats (unified ones included)."""
        if for_user is not None:
            found = self.deps.store.read_together(users=[for_user], chats=[chat_id])
            user = current_user(self.deps.store, for_user, found)
            if user is None:
                raise Unauthorized("the session has no user")
            self._own_chat(user, chat_id, found.chats.get(chat_id))
        else:
            chat = self.deps.store.get_chat(chat_id)
            if chat is None or not self._visible(chat):
                raise NotFound(f"no chat {chat_id}")
        return self.deps.store.messages_page(chat_id, cursor, limit, order)

    def list_events(self, user_id: str, cursor: str | None, limit: int, order: Order | None = None) -> Page[Event]:
        user, resolved_from = resolve_user(self.deps.store, user_id)
        page = self.deps.store.events_of([*user.moving_sources, user.id], user.id, cursor, limit, order)
        return replace(page, resolved_from=resolved_from)

    def list_deliveries(self, user_id: str, cursor: str | None, limit: int) -> Page[Delivery]:
        user, resolved_from = resolve_user(self.deps.store, user_id)
        return replace(self.deps.store.list_deliveries(user.id, cursor, limit), resolved_from=resolved_from)

    # what chat listings show of a chat ----------------------------------------------------

    def keep_latest(self, summary: ChatSummary | None, message: Message) -> None:
        """Keep a new message among its chat's latest (what listings show), from the header
        as read before the write. If this write is lost, the stream's copy of the
        message does it again (`summarize`): idempotent either way."""
        dropped = dropped_for(summary, message) if summary is not None else None
        if dropped is not None:
            try:
                self.deps.store.add_to_chat_summary(message.chat_id, message, dropped)
            except Exception:
                log.exception("keeping chat %s's latest messages failed; the stream will", message.chat_id)

    def summarize(self, messages: Sequence[Message]) -> None:
        """The stream saw new messages of one chat: make sure its latest messages hold
        them. The header is read once, eventually consistent (half the read units);
        only when it seems to lack one of them, or to be gone, is it asked again
        strongly consistent before anything is written. A chat without its header was
        erased (R11.3): messages that raced it go too."""
        chat_id = messages[0].chat_id
        summary = self.deps.store.chat_summary(chat_id, consistent=False)
        if summary is None or any(dropped_for(summary, m) is not None for m in messages):
            summary = self.deps.store.chat_summary(chat_id)
        if summary is None:
            for message in messages:
                self.deps.store.erase_message(chat_id, message.id)
            return
        for message in messages:
            dropped = dropped_for(summary, message)
            if dropped is not None:
                self.deps.store.add_to_chat_summary(chat_id, message, dropped)
                summary = with_message(summary, message, dropped)

    def name_chats(self, chats: Sequence[ChatView], known: Sequence[User] = ()) -> list[list[MessageView]]:
        """Every listed chat's messages under their authors' names, in one read for the page."""
        named = iter(self.name_messages([m for view in chats for m in view.messages], known))
        return [[next(named) for _ in view.messages] for view in chats]

    def name_messages(self, messages: list[Message], known: Sequence[User] = ()) -> list[MessageView]:
        """Each author's display name: a unified user's is frozen with it (R3.4).

        `known` users (already read for this request) are not read again.
        """
        authors = {u.id: u for u in known}
        missing = [m.person_id for m in messages if m.person_type == "user" and m.person_id not in authors]
        if missing:
            authors.update(self.deps.store.get_users(missing))
        views = []
        for m in messages:
            if m.person_type == "manager":
                name = m.manager_name or "Manager"
            else:
                author = authors.get(m.person_id)
                name = author.display_name if author else m.person_id
            views.append(MessageView(message=m, person_name=name))
        return views
