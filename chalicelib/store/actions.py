"""The domain's writes (`domain.writes`) as DynamoDB transaction actions, each with the
condition that makes a retried or racing commit a no-op or a conflict.

Versioned items are written at `expected + 1` over `expected` (or only if new).
A member's listing in the contact index (R6.1) moves with it; the index item
of one value lists at most `LISTED_MAX` members and counts the rest in
`extra`: a value that many members share is junk for matching anyway (R6.4),
and no item grows without bound (issue 10, item 10).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..domain import writes as w
from ..domain.contacts import CONTACT_FIELDS
from ..domain.matching import member_contact_index
from ..domain.models import User
from ..domain.timefmt import iso
from . import codec, keys
from .codec import Item, to_wire

LISTED_MAX = 20  # members a contact value's index item lists by id; MAX_CONTACT_MATCHES must stay below


@dataclass(frozen=True)
class Listing:
    """An action that lists a member under a contact value; it fails its condition when
    the value's item is full, and the commit is then redone with the member counted."""

    user_id: str
    field: str


Action = dict[str, Any]


def key_of(action: Action) -> str:
    """The item a transaction action touches (two actions may not share one)."""
    (body,) = action.values()
    key = body.get("Key") or {"PK": body["Item"]["PK"], "SK": body["Item"]["SK"]}
    return json.dumps([body["TableName"], key], sort_keys=True)


class Actions:
    def __init__(self, table: str) -> None:
        self.table = table

    def of(self, write: w.Write, counted: frozenset[tuple[str, str]] = frozenset()) -> list[tuple[Action, Any]]:
        """The actions of one write, each with a tag (`Listing`, or None). `counted`:
        (user, field) listings to count in `extra` because their value's item is full."""
        if isinstance(write, w.SaveUser):
            return self.save_user(write.user, write.expected_version, counted)
        if isinstance(write, w.EraseUser):
            return [(action, None) for action in self.erase_user(write)]
        return [(action, None) for action in self._simple(write)]

    def put(self, item: Item, expected_version: int | None) -> Action:
        """A conditional Put; versioned items are written at `expected + 1` (0 when new)."""
        if "version" in item:
            item = {**item, "version": 0 if expected_version is None else expected_version + 1}
        put: dict[str, Any] = {"TableName": self.table, "Item": to_wire(item)}
        if expected_version is None:
            put["ConditionExpression"] = "attribute_not_exists(PK)"
        else:
            put["ConditionExpression"] = "#ver = :v"
            put["ExpressionAttributeNames"] = {"#ver": "version"}
            put["ExpressionAttributeValues"] = to_wire({":v": expected_version})
        return {"Put": put}

    def save_user(
        self, user: User, expected: int | None, counted: frozenset[tuple[str, str]]
    ) -> list[tuple[Action, Any]]:
        """The user, and its listing in the members' contact index moved along (R6.1).

        String-set ADD/DELETE and number ADDs commute, so concurrent members never conflict."""
        listed = member_contact_index(user)
        overflowed = set(user.overflowed_contacts)
        index_actions: list[tuple[Action, Any]] = []
        for field in CONTACT_FIELDS:
            before, after = user.indexed_contacts.get(field), listed.get(field)
            if before == after:
                continue
            if before is not None:
                index_actions.append((self._unlist(field, before, user.id, field in overflowed), None))
                overflowed.discard(field)
            if after is not None:
                if (user.id, field) in counted:
                    index_actions.append((self._count(field, after, +1), None))
                    overflowed.add(field)
                else:
                    index_actions.append((self._list(field, after, user.id), Listing(user.id, field)))
        saved = user.model_copy(update={"indexed_contacts": listed, "overflowed_contacts": tuple(sorted(overflowed))})
        return [(self.put(codec.user_to_item(saved), expected), None), *index_actions]

    def erase_user(self, write: w.EraseUser) -> list[Action]:
        """The user's tombstone over its version, and its contact-index listings removed."""
        user, overflowed = write.user, set(write.user.overflowed_contacts)
        tombstone = codec.tombstone_item(user, write.erasure_id)
        put = self.put(tombstone, write.expected_version)
        unlist = [
            self._unlist(field, value, user.id, field in overflowed) for field, value in user.indexed_contacts.items()
        ]
        return [put, *unlist]

    def release(self, key: Item, user_id: str) -> Action:
        """Delete a claim only while it names this user."""
        return {
            "Delete": {
                "TableName": self.table,
                "Key": to_wire(key),
                "ConditionExpression": "attribute_not_exists(PK) OR userId = :u",
                "ExpressionAttributeValues": to_wire({":u": user_id}),
            }
        }

    def _list(self, field: str, value: str, user_id: str) -> Action:
        return {
            "Update": {
                "TableName": self.table,
                "Key": to_wire(keys.contact_key(field, value)),
                "UpdateExpression": "ADD members :id",
                "ConditionExpression": "attribute_not_exists(members) OR size(members) < :max",
                "ExpressionAttributeValues": {":id": {"SS": [user_id]}, ":max": {"N": str(LISTED_MAX)}},
            }
        }

    def _unlist(self, field: str, value: str, user_id: str, counted: bool) -> Action:
        if counted:
            return self._count(field, value, -1)
        return {
            "Update": {
                "TableName": self.table,
                "Key": to_wire(keys.contact_key(field, value)),
                "UpdateExpression": "DELETE members :id",
                "ExpressionAttributeValues": {":id": {"SS": [user_id]}},
            }
        }

    def _count(self, field: str, value: str, step: int) -> Action:
        return {
            "Update": {
                "TableName": self.table,
                "Key": to_wire(keys.contact_key(field, value)),
                "UpdateExpression": "ADD extra :n",
                "ExpressionAttributeValues": {":n": {"N": str(step)}},
            }
        }

    def _simple(self, write: w.Write) -> list[Action]:
        match write:
            case w.Tally(user_id, chats, events, deliveries):
                counts = {"chatCount": chats, "eventCount": events, "deliveryCount": deliveries}
                added = ", ".join(f"{name} :{name}" for name, n in counts.items() if n)
                return [
                    {
                        "Update": {
                            "TableName": self.table,
                            "Key": to_wire(keys.user_key(user_id)),
                            "UpdateExpression": f"ADD #ver :one, {added}",
                            # Not unified, not erased (a tombstone takes no more history, R11.2).
                            "ConditionExpression": (
                                "attribute_exists(PK) AND attribute_not_exists(unifiedInto)"
                                " AND attribute_not_exists(erasure)"
                            ),
                            "ExpressionAttributeNames": {"#ver": "version"},
                            "ExpressionAttributeValues": to_wire(
                                {":one": 1, **{f":{name}": n for name, n in counts.items() if n}}
                            ),
                        }
                    }
                ]
            case w.ClaimMember(member_id, user_id):
                claim = {**keys.member_key(member_id), "kind": "member", "memberId": member_id, "userId": user_id}
                return [self.put(claim, None)]
            case w.SaveDevice(device, expected):
                return [self.put(codec.device_to_item(device), expected)]
            case w.SaveUnification(unification, expected):
                return [self.put(codec.unification_to_item(unification), expected)]
            case w.PutLogin(login):
                return [self.put(codec.login_to_item(login), None)]
            case w.PutDelivery(delivery):
                return [self.put(codec.delivery_to_item(delivery), None)]
            case w.PutChat(chat, owner_id, first):
                header, entry = codec.chat_to_items(chat, owner_id, first)
                return [self.put(header, None), self.put(entry, None)]
            case w.PutMessage(message):
                return [self.put(codec.message_to_item(message), None)]
            case w.PutEvent(event):
                return [self.put(codec.event_to_item(event), None)]
            case w.CopyHistory(items=items):
                # Copies keep their keys: a repeated copy writes the same item (no condition).
                return [{"Put": {"TableName": self.table, "Item": item}} for item in items]
            case w.ClaimExternal(channel, external_id, user_id, chat_id):
                claim = {
                    **keys.external_key(channel, external_id),
                    "kind": "external",
                    "userId": user_id,
                    "chatId": chat_id,
                }
                return [self.put(claim, None)]
            case w.ReleaseMember(member_id, user_id):
                return [self.release(keys.member_key(member_id), user_id)]
            case w.ReleaseExternal(channel, external_id, user_id):
                return [self.release(keys.external_key(channel, external_id), user_id)]
            case w.SaveErasure(erasure, expected):
                return [self.put(codec.erasure_to_item(erasure), expected)]
            case w.PutReceipt() as receipt:
                return [
                    {
                        "Put": {
                            "TableName": self.table,
                            "Item": to_wire(codec.receipt_to_item(receipt)),
                            # A receipt past its 24 hours is gone, whether or not TTL has collected it yet.
                            "ConditionExpression": "attribute_not_exists(PK) OR expiresAt < :now",
                            "ExpressionAttributeValues": to_wire({":now": iso(receipt.created_at)}),
                        }
                    }
                ]
        raise TypeError(f"unknown write {write!r}")
