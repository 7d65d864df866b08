"""Items ↔ domain records. Profiles and event properties are stored as JSON
strings so that every value (numbers included) round-trips exactly."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from ..domain.models import (
    Channel,
    Chat,
    Delivery,
    Device,
    Event,
    FieldDecision,
    FieldValue,
    LoginRecord,
    Message,
    Progress,
    Unification,
    User,
)
from ..domain.timefmt import iso, iso_or_none, parse_iso, parse_iso_or_none
from ..domain.writes import PutReceipt

Item = dict[str, Any]
DEVICE_RETENTION = timedelta(days=400)

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def to_wire(item: Item) -> dict[str, Any]:
    return {k: _serializer.serialize(v) for k, v in item.items() if v is not None}


def from_wire(raw: dict[str, Any]) -> Item:
    return {k: _deserializer.deserialize(v) for k, v in raw.items()}


def user_key(user_id: str) -> Item:
    return {"PK": f"USER#{user_id}", "SK": "#USER"}


def member_key(member_id: str) -> Item:
    return {"PK": f"MEMBER#{member_id}", "SK": "#MEMBER"}


def device_key(handle: str) -> Item:
    """A device by the hash of its veilId (`domain.devices.device_handle`), never the veilId."""
    return {"PK": f"DEVICE#{handle}", "SK": "#DEVICE"}


def external_key(channel: str, external_id: str) -> Item:
    return {"PK": f"EXT#{channel}#{external_id}", "SK": "#EXT"}


def contact_key(field: str, value: str) -> Item:
    """The members holding one contact value (R6.1), read by BatchGetItem."""
    return {"PK": f"MCONTACT#{field}#{value}", "SK": "#MEMBERS"}


def chat_key(chat_id: str) -> Item:
    return {"PK": f"CHAT#{chat_id}", "SK": "#CHAT"}


def unification_key(unification_id: str) -> Item:
    return {"PK": f"UNIF#{unification_id}", "SK": "#UNIF"}


def receipt_key(receipt_id: str) -> Item:
    return {"PK": f"IDEM#{receipt_id}", "SK": "#IDEM"}


def delivery_key(user_id: str, campaign_id: str) -> Item:
    return {"PK": f"USER#{user_id}", "SK": f"D#{campaign_id}"}


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
        "movingSources": list(user.moving_sources) or None,
        "pendingUnifications": list(user.pending_unifications) or None,
        "chatCount": user.chat_count or None,
        "eventCount": user.event_count or None,
        "deliveryCount": user.delivery_count,
        "indexedContacts": dict(user.indexed_contacts) or None,
        "visited": user.visited,
        "createdAt": iso(user.created_at),
        "updatedAt": iso(user.updated_at),
        "lastSeenAt": iso_or_none(user.last_seen_at),
        "lastLoginAt": iso_or_none(user.last_login_at),
        "version": user.version,
    }
    if not user.is_unified:
        # Search and matching (R6, R9.3) see un-unified users only.
        phone = user.fields.get("mobileNumber")
        email = user.fields.get("email")
        if phone is not None:
            item.update(g1pk=f"PHONE#{phone.value}", g1sk=iso(user.updated_at) + "#" + user.id)
        if email is not None:
            item.update(g2pk=f"EMAIL#{email.value}", g2sk=iso(user.updated_at) + "#" + user.id)
    return item


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
        moving_sources=tuple(item.get("movingSources") or ()),
        pending_unifications=tuple(item.get("pendingUnifications") or ()),
        chat_count=int(item.get("chatCount", 0)),
        event_count=int(item.get("eventCount", 0)),
        delivery_count=int(item.get("deliveryCount", 0)),
        indexed_contacts=dict(item.get("indexedContacts") or {}),
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


def chat_to_items(chat: Chat, owner_id: str) -> tuple[Item, Item]:
    """The chat's own header and its entry in the owner's partition."""
    body = {
        "kind": "chat",
        "id": chat.id,
        "creatorId": chat.creator_id,
        "channel": chat.channel.value,
        "externalId": chat.external_id,
        "createdAt": iso(chat.created_at),
    }
    return {**chat_key(chat.id), **body}, {"PK": f"USER#{owner_id}", "SK": f"C#{chat.id}", **body}


def chat_from_item(item: Item) -> Chat:
    return Chat(
        id=item["id"],
        creator_id=item["creatorId"],
        channel=Channel(item["channel"]),
        external_id=item.get("externalId"),
        created_at=parse_iso(item["createdAt"]),
    )


def message_to_item(message: Message) -> Item:
    return {
        "PK": f"CHAT#{message.chat_id}",
        "SK": f"M#{message.id}",
        "kind": "message",
        "id": message.id,
        "chatId": message.chat_id,
        "personType": message.person_type,
        "personId": message.person_id,
        "managerName": message.manager_name,
        "text": message.text,
        "createdAt": iso(message.created_at),
    }


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
        "PK": f"USER#{event.user_id}",
        "SK": f"E#{event.id}",
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
        "PK": f"USER#{login.user_id}",
        "SK": f"L#{login.id}",
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


def owner_of(item: Item) -> str:
    return str(item["PK"]).removeprefix("USER#")


# unifications ------------------------------------------------------------


def unification_to_item(u: Unification) -> Item:
    created = iso(u.created_at) + "#" + u.id
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
        "progress": json.dumps(p.model_dump()),
        "reason": u.reason,
        "createdAt": iso(u.created_at),
        "updatedAt": iso(u.updated_at),
        "approvedAt": iso_or_none(u.approved_at),
        "completedAt": iso_or_none(u.completed_at),
        "version": u.version,
        "g1pk": f"USTATUS#{u.status.value}",
        "g1sk": created,
        "g2pk": f"USRC#{u.source_user_id}",
        "g2sk": created,
        "g3pk": f"UTGT#{u.target_user_id}",
        "g3sk": created,
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
    }
