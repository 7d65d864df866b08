"""LINE and Instagram conversations (R8.1)."""

from __future__ import annotations

from dataclasses import dataclass

from ..domain import writes as w
from ..domain.chats import RECENT_MESSAGES
from ..domain.models import Channel, Chat, FieldValue, Message, User, UserType
from .deps import Deps
from .history import ChatView, History
from .lookup import resolve_user
from .ports import Receipt, receipt_writes
from .retry import retrying


@dataclass(frozen=True)
class MessengerProfile:
    """What the channel hands over: never contact info, never verified (R1.4, R8.1)."""

    name: str | None = None
    avatar_url: str | None = None
    username: str | None = None


@dataclass(frozen=True)
class Received:
    user: User
    chat: ChatView
    message: Message


class Messengers:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def receive(
        self,
        channel: Channel,
        external_id: str,
        text: str,
        profile: MessengerProfile,
        receipt: Receipt | None = None,
    ) -> Received:
        """The first message stores the person as a lead with one open chat; later
        messages join that chat, which after a unification is the member's (R8.1).
        A redelivered message (the same Idempotency-Key) is added once."""
        return retrying(lambda: self._receive_once(channel, external_id, text, profile, receipt))

    def _receive_once(
        self, channel: Channel, external_id: str, text: str, profile: MessengerProfile, receipt: Receipt | None
    ) -> Received:
        store, now = self.deps.store, self.deps.clock.now()
        claim = store.get_external_claim(channel.value, external_id)
        if claim is None:
            user = User(
                id=self.deps.clock.new_id("u_"),
                type=UserType.LEAD,
                channel=channel,
                external_id=external_id,
                chat_count=1,
                created_at=now,
                updated_at=now,
            )
            user = self._with_profile(user, profile, now)
            chat = Chat(
                id=self.deps.clock.new_id("c_"),
                creator_id=user.id,
                channel=channel,
                external_id=external_id,
                created_at=now,
            )
            message = self._message(chat, user, text)
            received = Received(user, ChatView(chat, user.id, [message]), message)
            store.commit(
                [
                    w.SaveUser(user, None),
                    w.ClaimExternal(channel.value, external_id, user.id, chat.id),
                    w.PutChat(chat, user.id, message),
                    w.PutMessage(message),
                    *receipt_writes(receipt, received, user.id),
                ]
            )
            return received
        user, _ = resolve_user(store, str(claim["userId"]))
        summary = store.chat_summary(str(claim["chatId"]))
        assert summary is not None, "a messenger claim always has its chat"
        chat_found = summary.chat
        writes: list[w.Write] = []
        if not user.is_unified and user.external_id == external_id:
            refreshed = self._with_profile(user, profile, now)
            if refreshed.fields != user.fields or refreshed.avatar_url != user.avatar_url:
                refreshed = refreshed.changed(now)
                writes.append(w.SaveUser(refreshed, user.version))
                user = refreshed
        message = self._message(chat_found, user, text)
        shown = [*summary.recent, message][-RECENT_MESSAGES:]
        older = summary.older or len(summary.recent) + 1 > RECENT_MESSAGES
        cursor = store.older_messages_cursor(chat_found, shown[0]) if older else None
        received = Received(user, ChatView(chat_found, user.id, shown, cursor), message)
        store.commit([*writes, w.PutMessage(message), *receipt_writes(receipt, received, user.id)])
        History(self.deps).keep_latest(summary, message)
        return received

    def _with_profile(self, user: User, profile: MessengerProfile, now: object) -> User:
        fields = dict(user.fields)
        for key, value in (("name", profile.name), ("username", profile.username)):
            current = fields.get(key)
            if value and (current is None or (not current.verified and current.value != value)):
                fields[key] = FieldValue(value=value, verified=False, updated_at=user.updated_at)
        return user.model_copy(update={"fields": fields, "avatar_url": profile.avatar_url or user.avatar_url})

    def _message(self, chat: Chat, author: User, text: str) -> Message:
        return Message(
            id=self.deps.clock.new_id("m_"),
            chat_id=chat.id,
            person_type="user",
            person_id=author.id,
            text=text,
            created_at=self.deps.clock.now(),
        )
