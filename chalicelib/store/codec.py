"""Items ↔ domain records. Profiles and event properties are stored as JSON
strings so that every value (numbers included) round-trips exactly."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from ..domain.erasure import Bookmark, Counts, Erasure
from ..domain.models import (
    Channel,
    Chat,
    ChatSummary,
    Delivery,
    Device,
    Event,
    FieldDecision,
    FieldValue,
    LoginRecord,
    Message,
    Progress,
    Status,
    Unification,
    User,
)
from ..domain.timefmt import iso, iso_or_none, parse_iso, parse_iso_or_none
from ..domain.writes import PutReceipt
from . import keys
from .keys import (
    chat_entry_key,
    chat_key,
    delivery_key,
    device_key,
    event_key,
    login_key,
    message_key,
    owner_of,
    receipt_key,
    unification_key,
    user_key,
)

Item = dict[str, Any]
__all__ = ["Item", "from_wire", "owner_of", "to_wire"]
DEVICE_RETENTION = timedelta(days=400)

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def to_wire(item: Item) -> dict[str, Any]:
    return {k: _serializer.serialize(v) for k, v in item.items() if v is not None}


def from_wire(raw: dict[str, Any]) -> Item:
    return {k: _deserializer.deserialize(v) for k, v in raw.items()}


# users -------------------------------------------------------------------


def user_to_item(user: User) -> Item:
    fields = {k: {"v": fv.value, "ok": fv.verified, "at": iso(fv.updated_at)} for k, fv in user.fields.items()}
    item: Item = {
        **user_key(user.id),
        "kind": "user",
        "id": user.id,
        "type": user.type.value,
        "channel": user.channel.value,
        "memberId": user.member_id,
        "externalId": user.external_id,
        "fields": json.dumps(fields, ensure_ascii=False, sort_keys=True),
        "avatarUrl": user.avatar_url,
        "veilIds": list(user.veil_ids) or None,
        "unsubscribeEmail": user.unsubscribe_email,
        "unsubscribeTexting": user.unsubscribe_texting,
        "unifiedInto": user.unified_into,
        "unifiedAt": iso_or_none(user.unified_at),
        "unificationId": user.unification_id,
        "lastUnificationId": user.last_unification_id,
        "movingSources": list(user.moving_sources) or None,
        "pendingUnifications": list(user.pending_unifications) or None,
        "chatCount": user.chat_count or None,
        "eventCount": user.event_count or None,
        "deliveryCount": user.delivery_count,
        "indexedContacts": dict(user.indexed_contacts) or None,
        "overflowedContacts": list(user.overflowed_contacts) or None,
        "visited": user.visited,
        "createdAt": iso(user.created_at),
        "updatedAt": iso(user.updated_at),
        "lastSeenAt": iso_or_none(user.last_seen_at),
        "lastLoginAt": iso_or_none(user.last_login_at),
        "version": user.version,
    }
    if not user.is_unified:
        # Search (R9.3) sees un-unified users only.
        for field in ("mobileNumber", "email"):
            value = user.fields.get(field)
            if value is not None:
                item.update(keys.contact_index_entry(field, str(value.value), user.id))
    return item


def tombstone_item(user: User, erasure_id: str) -> Item:
    """What stays of an erased user until the background deletes it (R11.2): its key, its
    erasure, and the contact values whose index items go once they list nobody."""
    return {
        **user_key(user.id),
        "kind": "erased",
        "erasure": erasure_id,
        "contacts": dict(user.indexed_contacts) or None,
        "version": user.version + 1,
    }


def is_tombstone(item: Item) -> bool:
    return item.get("kind") == "erased"


def user_from_item(item: Item) -> User:
    fields = {
        k: FieldValue(value=v["v"], verified=v["ok"], updated_at=parse_iso(v["at"]))
        for k, v in json.loads(item["fields"]).items()
    }
    return User(
        id=item["id"],
        type=item["type"],
        channel=Channel(item["channel"]),
        member_id=item.get("memberId"),
        external_id=item.get("externalId"),
        fields=fields,
        avatar_url=item.get("avatarUrl"),
        veil_ids=tuple(item.get("veilIds") or ()),
        unsubscribe_email=bool(item.get("unsubscribeEmail")),
        unsubscribe_texting=bool(item.get("unsubscribeTexting")),
        unified_into=item.get("unifiedInto"),
        unified_at=parse_iso_or_none(item.get("unifiedAt")),
        unification_id=item.get("unificationId"),
        last_unification_id=item.get("lastUnificationId"),
        moving_sources=tuple(item.get("movingSources") or ()),
        pending_unifications=tuple(item.get("pendingUnifications") or ()),
        chat_count=int(item.get("chatCount", 0)),
        event_count=int(item.get("eventCount", 0)),
        delivery_count=int(item.get("deliveryCount", 0)),
        indexed_contacts=dict(item.get("indexedContacts") or {}),
        overflowed_contacts=tuple(item.get("overflowedContacts") or ()),
        visited=bool(item.get("visited")),
        created_at=parse_iso(item["createdAt"]),
        updated_at=parse_iso(item["updatedAt"]),
        last_seen_at=parse_iso_or_none(item.get("lastSeenAt")),
        last_login_at=parse_iso_or_none(item.get("lastLoginAt")),
        version=int(item["version"]),
    )


# devices -----------------------------------------------------------------


def device_ttl(expires_at: datetime) -> int:
    """When DynamoDB may drop a device item: long after its session ended."""
    return int((expires_at + DEVICE_RETENTION).timestamp())


def device_to_item(device: Device) -> Item:
    return {
        **device_key(device.handle),
        "kind": "device",
        "veilId": device.veil_id,
        "sessionId": device.session_id,
        "userId": device.user_id,
        "tokenHashes": list(device.token_hashes),
        "startedAt": iso(device.started_at),
        "expiresAt": iso(device.expires_at),
        "loggedIn": device.logged_in,
        "memberId": device.member_id,
        "version": device.version,
        "ttl": device_ttl(device.expires_at),
        **keys.device_owner_entry(device.user_id, device.handle),
    }


def device_from_item(item: Item) -> Device:
    return Device(
        veil_id=item["veilId"],
        session_id=item["sessionId"],
        user_id=item["userId"],
        token_hashes=tuple(item.get("tokenHashes") or ()),
        started_at=parse_iso(item["startedAt"]),
        expires_at=parse_iso(item["expiresAt"]),
        logged_in=bool(item.get("loggedIn")),
        member_id=item.get("memberId"),
        version=int(item["version"]),
    )


# history -----------------------------------------------------------------


def _chat_body(chat: Chat) -> Item:
    return {
        "kind": "chat",
        "id": chat.id,
        "creatorId": chat.creator_id,
        "channel": chat.channel.value,
        "externalId": chat.external_id,
        "createdAt": iso(chat.created_at),
    }


def chat_to_items(chat: Chat, owner_id: str, first: Message | None = None) -> tuple[Item, Item]:
    """The chat's own header (keeping its latest messages) and its entry in the owner's partition."""
    header = chat_summary_to_item(ChatSummary(chat=chat, recent=(first,) if first else ()))
    return header, {**chat_entry_key(owner_id, chat.id), **_chat_body(chat)}


def chat_summary_to_item(summary: ChatSummary) -> Item:
    return {
        **chat_key(summary.chat.id),
        **_chat_body(summary.chat),
        "recent": {m.id: message_fields(m) for m in summary.recent},
        "older": summary.older,
    }


def chat_summary_from_item(item: Item) -> ChatSummary:
    recent = tuple(sorted(map(message_from_item, (item.get("recent") or {}).values()), key=message_order))
    return ChatSummary(chat=chat_from_item(item), recent=recent, older=bool(item.get("older")))


def chat_from_item(item: Item) -> Chat:
    return Chat(
        id=item["id"],
        creator_id=item["creatorId"],
        channel=Channel(item["channel"]),
        external_id=item.get("externalId"),
        created_at=parse_iso(item["createdAt"]),
    )


def message_fields(message: Message) -> Item:
    return {
        "kind": "message",
        "id": message.id,
        "chatId": message.chat_id,
        "personType": message.person_type,
        "personId": message.person_id,
        "managerName": message.manager_name,
        "text": message.text,
        "createdAt": iso(message.created_at),
    }


def message_to_item(message: Message) -> Item:
    return {**message_key(message.chat_id, message.id), **message_fields(message)}


def message_order(message: Message) -> tuple[str, str]:
    return iso(message.created_at), message.id


def message_from_item(item: Item) -> Message:
    return Message(
        id=item["id"],
        chat_id=item["chatId"],
        person_type=item["personType"],
        person_id=item["personId"],
        manager_name=item.get("managerName"),
        text=item["text"],
        created_at=parse_iso(item["createdAt"]),
    )


def event_to_item(event: Event) -> Item:
    return {
        **event_key(event.user_id, event.id),
        "kind": "event",
        "id": event.id,
        "userId": event.user_id,
        "name": event.name,
        "properties": json.dumps(event.properties, ensure_ascii=False),
        "createdAt": iso(event.created_at),
    }


def event_from_item(item: Item, owner_id: str) -> Event:
    return Event(
        id=item["id"],
        user_id=owner_id,
        name=item["name"],
        properties=json.loads(item["properties"]),
        created_at=parse_iso(item["createdAt"]),
    )


def delivery_to_item(delivery: Delivery) -> Item:
    return {
        **delivery_key(delivery.user_id, delivery.campaign_id),
        "kind": "delivery",
        "campaignId": delivery.campaign_id,
        "deliveredAt": iso(delivery.delivered_at),
    }


def delivery_from_item(item: Item, owner_id: str) -> Delivery:
    return Delivery(campaign_id=item["campaignId"], user_id=owner_id, delivered_at=parse_iso(item["deliveredAt"]))


def login_to_item(login: LoginRecord) -> Item:
    return {
        **login_key(login.user_id, login.id),
        "kind": "login",
        "id": login.id,
        "userId": login.user_id,
        "memberId": login.member_id,
        "sessionId": login.session_id,
        "at": iso(login.at),
    }


def login_from_item(item: Item) -> LoginRecord:
    return LoginRecord(
        id=item["id"],
        user_id=item["userId"],
        member_id=item["memberId"],
        session_id=item["sessionId"],
        at=parse_iso(item["at"]),
    )


# unifications ------------------------------------------------------------


def unification_to_item(u: Unification) -> Item:
    p = u.progress
    return {
        **unification_key(u.id),
        "kind": "unification",
        "id": u.id,
        "sourceUserId": u.source_user_id,
        "targetUserId": u.target_user_id,
        "targetMemberId": u.target_member_id,
        "trigger": u.trigger.value,
        "status": u.status.value,
        "matchedOn": list(u.matched_on) or None,
        "fieldDecisions": json.dumps([d.model_dump(mode="json") for d in u.field_decisions]),
        "progress": json.dumps(p.model_dump(mode="json")),
        "reason": u.reason,
        "createdAt": iso(u.created_at),
        "updatedAt": iso(u.updated_at),
        "approvedAt": iso_or_none(u.approved_at),
        "completedAt": iso_or_none(u.completed_at),
        "version": u.version,
        **keys.unification_index_entries(u.id, u.status.value, iso(u.created_at), u.source_user_id, u.target_user_id),
        **(
            keys.due_entry(keys.CLEAN, u.id, iso(p.clean_after))
            if u.status is Status.COMPLETED and not p.cleaned and p.clean_after is not None
            else {}
        ),
    }


def unification_from_item(item: Item) -> Unification:
    return Unification(
        id=item["id"],
        source_user_id=item["sourceUserId"],
        target_user_id=item["targetUserId"],
        target_member_id=item["targetMemberId"],
        trigger=item["trigger"],
        status=item["status"],
        matched_on=tuple(item.get("matchedOn") or ()),
        field_decisions=tuple(FieldDecision.model_validate(d) for d in json.loads(item["fieldDecisions"])),
        progress=Progress.model_validate(json.loads(item["progress"])),
        reason=item.get("reason"),
        created_at=parse_iso(item["createdAt"]),
        updated_at=parse_iso(item["updatedAt"]),
        approved_at=parse_iso_or_none(item.get("approvedAt")),
        completed_at=parse_iso_or_none(item.get("completedAt")),
        version=int(item["version"]),
    )


# idempotency receipts ----------------------------------------------------


def receipt_to_item(receipt: PutReceipt) -> Item:
    return {
        **receipt_key(receipt.receipt_id),
        "kind": "receipt",
        "fingerprint": receipt.fingerprint,
        "status": receipt.status,
        "body": receipt.body,
        "subjects": list(receipt.subjects) or None,
        "createdAt": iso(receipt.created_at),
        "expiresAt": iso(receipt.expires_at),
        "ttl": int(receipt.expires_at.timestamp()),
        **keys.about_entry(receipt.subjects, receipt.receipt_id),
    }


def listed_members(item: Item) -> list[str] | None:
    """The members a contact value's index item lists; None when it counts more than it
    lists (its item was full): a value that many members share never matches (R6.4)."""
    if int(item.get("extra") or 0) > 0:
        return None
    return sorted(item.get("members") or ())


# erasures (R11) ----------------------------------------------------------


def erasure_to_item(e: Erasure) -> Item:
    return {
        **keys.erasure_key(e.id),
        "kind": "erasure",
        "id": e.id,
        "userIds": list(e.user_ids),
        "memberId": e.member_id,
        "status": e.status,
        "counts": json.dumps(e.counts.model_dump(mode="json")),
        "erased": e.erased,
        "pending": list(e.pending) or None,
        "bookmark": json.dumps(e.bookmark.model_dump(mode="json")),
        "createdAt": iso(e.created_at),
        "updatedAt": iso(e.updated_at),
        "completedAt": iso_or_none(e.completed_at),
        "version": e.version,
        **(keys.due_entry(keys.ERASE, e.id, iso(e.updated_at)) if e.status == "running" else {}),
    }


def erasure_from_item(item: Item) -> Erasure:
    return Erasure(
        id=item["id"],
        user_ids=tuple(item["userIds"]),
        member_id=item.get("memberId"),
        status=item["status"],
        counts=Counts.model_validate(json.loads(item["counts"])),
        erased=int(item["erased"]),
        pending=tuple(item.get("pending") or ()),
        bookmark=Bookmark.model_validate(json.loads(item["bookmark"])),
        created_at=parse_iso(item["createdAt"]),
        updated_at=parse_iso(item["updatedAt"]),
        completed_at=parse_iso_or_none(item.get("completedAt")),
        version=int(item["version"]),
    )
