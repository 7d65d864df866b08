"""Reads of a user's history across the partitions it is spread over (R3.3, R3.5).

A member whose unified sources' history is still moving in is read from the
sources' partitions first, then its own. Copies are made only of items a
source still holds, so nothing drops out of view; a copy in the member's
partition (`movedFrom`) is skipped when this read already listed its original
(the cursor remembers, per partition, how far it listed it). A cursor whose
partition has moved in since goes on in the member's partition from there; a
cursor of a user that has since been unified goes on through its member
(issue 10, item 4). Originals are deleted only after a grace period longer
than any request (`moves.py`), so a partition never empties under a read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..domain.errors import InvalidRequest
from ..domain.models import Chat, ChatSummary, Delivery, Event, Message
from ..service.ports import Page
from . import codec, keys
from .base import BAD_CURSOR, TableClient
from .codec import Item, from_wire
from .cursors import DONE, HistoryCursor, MessagesCursor, Order, TableKey, decode, encode


def _listed(sort_key: str, reached: str, order: Order) -> bool:
    """Whether a read that reached `reached` in a partition has listed `sort_key` there."""
    if reached == DONE:
        return True
    return sort_key <= reached if order == "oldest" else sort_key >= reached


def _order_of(cursor_order: Order | None, asked: Order | None) -> Order:
    if cursor_order is not None and asked is not None and cursor_order != asked:
        raise InvalidRequest("the cursor was handed out for the other order", field="order")
    return cursor_order or asked or "oldest"


class HistoryReads(TableClient):
    def history_page(
        self, owners: Sequence[str], prefix: str, cursor: str | None, limit: int, order: Order | None = None
    ) -> Page[Item]:
        """One page of `prefix` items across `owners` (the sources still moving in, then
        the user itself, as the table says now), one partition after another."""
        home = owners[-1]
        state = decode(cursor, HistoryCursor) or HistoryCursor(t="h", owners=list(owners), order=order or "oldest")
        order = _order_of(state.order if cursor else None, order)
        remaining = [o for o in state.owners if o in owners]
        if home not in remaining and home not in state.reached:
            remaining.append(home)  # the listed user was unified since: its member goes on (R3.5)
        start = state.key if state.key is not None and state.owners[:1] == remaining[:1] else None
        reached = dict(state.reached)
        items: list[Item] = []
        start_key: dict[str, Any] | None = start.wire() if start else None
        while remaining and len(items) < limit:
            owner = remaining[0]
            kwargs = self._prefix_query(
                keys.user_partition(owner),
                prefix,
                ConsistentRead=True,
                Limit=limit - len(items),
                ScanIndexForward=order == "oldest",
            )
            if start_key:
                kwargs["ExclusiveStartKey"] = start_key
            raw = self._query_page(**kwargs)
            for wire_item in raw.get("Items", []):
                item = from_wire(wire_item)
                origin = item.get("movedFrom")
                if origin in reached and _listed(str(item["SK"]), reached[str(origin)], order):
                    continue  # its original was listed from the source's partition
                items.append(item)
                reached[owner] = str(item["SK"])
            start_key = raw.get("LastEvaluatedKey")
            if start_key is None:
                if owner != home and (owner in reached or self._still_moving(owner, home)):
                    reached[owner] = DONE
                remaining = remaining[1:]
        if not remaining:
            return Page(items, None)
        key = None
        if start_key is not None:
            key = TableKey(PK=start_key["PK"]["S"], SK=start_key["SK"]["S"])
        return Page(items, encode(HistoryCursor(t="h", order=order, owners=remaining, reached=reached, key=key)))

    def _still_moving(self, source_id: str, member_id: str) -> bool:
        """Whether the member still reads the source's partition. Asked only when a
        source's partition read empty before any of it was listed: its move may have
        completed after the member was read, and then its copies must all be listed."""
        member = self._get(keys.user_key(member_id))
        return member is not None and source_id in (member.get("movingSources") or ())

    def chats_of(
        self, owners: Sequence[str], cursor: str | None, limit: int, order: Order | None = None
    ) -> Page[ChatSummary]:
        """A page of chats with each one's latest messages, in a constant number of
        requests: one Query per partition read, one BatchGetItem per 100 chats.

        The listing itself is read strongly consistent (R3.3); the chats' headers
        eventually consistent, at half the read units: a header is written with its
        chat's entry, so one not seen yet is asked again consistently, and its
        latest messages may trail a message written in the last second (the
        messages themselves are read consistently)."""
        page = self.history_page(owners, keys.CHATS, cursor, limit, order)
        ids = list(dict.fromkeys(str(item["id"]) for item in page.items))
        headers = {str(i["id"]): i for i in self._batch_get([keys.chat_key(c) for c in ids], consistent=False)}
        unseen = [keys.chat_key(c) for c in ids if c not in headers]
        if unseen:
            headers |= {str(i["id"]): i for i in self._batch_get(unseen)}
        summaries = [codec.chat_summary_from_item(headers[c]) for c in ids if c in headers]
        return Page(summaries, page.next_cursor)

    def events_of(
        self, owners: Sequence[str], shown_owner: str, cursor: str | None, limit: int, order: Order | None = None
    ) -> Page[Event]:
        """A page of the events listed under these owners, shown as `shown_owner`'s."""
        page = self.history_page(owners, keys.EVENTS, cursor, limit, order)
        events = {item["id"]: codec.event_from_item(item, shown_owner) for item in page.items}
        return Page(list(events.values()), page.next_cursor)

    def list_deliveries(self, user_id: str, cursor: str | None, limit: int) -> Page[Delivery]:
        page = self.history_page([user_id], keys.DELIVERIES, cursor, limit)
        return Page([codec.delivery_from_item(i, user_id) for i in page.items], page.next_cursor)

    def all_deliveries(self, user_id: str) -> list[Delivery]:
        query = self._prefix_query(keys.user_partition(user_id), keys.DELIVERIES, ConsistentRead=True)
        return [codec.delivery_from_item(i, user_id) for i in self._query(**query)]

    def messages_page(self, chat_id: str, cursor: str | None, limit: int, order: Order | None = None) -> Page[Message]:
        """A chat's messages, oldest or newest first, paged."""
        state = decode(cursor, MessagesCursor)
        order = _order_of(state.order if state else None, order)
        kwargs = self._prefix_query(
            keys.chat_key(chat_id)["PK"], keys.MESSAGES, ConsistentRead=True, Limit=limit,
            ScanIndexForward=order == "oldest",
        )  # fmt: skip
        if state is not None:
            if kwargs["ExpressionAttributeValues"][":pk"]["S"] != state.key.PK:
                raise InvalidRequest(BAD_CURSOR, field="cursor")
            kwargs["ExclusiveStartKey"] = state.key.wire()
        raw = self._query_page(**kwargs)
        messages = [codec.message_from_item(from_wire(i)) for i in raw.get("Items", [])]
        last = raw.get("LastEvaluatedKey")
        next_cursor = None
        if last is not None:
            next_cursor = encode(
                MessagesCursor(t="m", order=order, key=TableKey(PK=last["PK"]["S"], SK=last["SK"]["S"]))
            )
        return Page(messages, next_cursor)

    def older_messages_cursor(self, chat: Chat, oldest: Message) -> str:
        """Where a listing's latest messages end: the rest, newest first, from there."""
        key = keys.message_key(chat.id, oldest.id)
        return encode(MessagesCursor(t="m", order="newest", key=TableKey(PK=key["PK"], SK=key["SK"])))

    def latest_messages(self, chat_id: str, count: int) -> list[Message]:
        """A chat's latest `count` messages, oldest first (one Query)."""
        page = self.messages_page(chat_id, None, count, "newest")
        return list(reversed(page.items))
