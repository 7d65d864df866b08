"""Webhook subscriptions and their messages (R12).

Subscriptions are few and sit together in one partition. A webhook's messages
sit in `keys.SHARDS` partitions of its own (one subscriber receives every
change of a busy shop: a single partition would be hot), are created with a
condition so a replayed change creates nothing, and are listed as due for
delivery (gsi4) while pending.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from botocore.exceptions import ClientError
from pydantic import Field

from ..domain.timefmt import iso, iso_or_none, parse_iso, parse_iso_or_none
from ..domain.webhooks import Message, Webhook
from ..service.ports import Page
from . import keys
from .codec import Item, to_wire
from .cursors import DONE, Cursor, Position, Text, decode, encode
from .gather import Gather
from .moves import Moves

WEBHOOK_DUE = "webhook"


class DeliveriesCursor(Cursor):
    t: Literal["wd"] = "wd"
    shards: dict[Text, Position] = Field(default_factory=dict)


def webhook_to_item(webhook: Webhook) -> Item:
    return {
        **keys.webhook_key(webhook.id),
        "kind": "webhook",
        "id": webhook.id,
        "url": webhook.url,
        "events": list(webhook.events),
        "description": webhook.description,
        "secret": webhook.secret,
        "createdAt": iso(webhook.created_at),
    }


def webhook_from_item(item: Item) -> Webhook:
    return Webhook(
        id=item["id"],
        url=item["url"],
        events=tuple(item.get("events") or ()),
        description=item.get("description"),
        secret=item["secret"],
        created_at=parse_iso(item["createdAt"]),
    )


def message_to_item(message: Message) -> Item:
    due = {}
    if message.status == "pending" and message.next_attempt_at is not None:
        due = keys.due_entry(WEBHOOK_DUE, message.id, iso(message.next_attempt_at))
    return {
        **keys.webhook_message_key(message.webhook_id, iso(message.created_at), message.id),
        "kind": "webhook-message",
        "id": message.id,
        "webhookId": message.webhook_id,
        "event": message.event,
        "body": message.body,
        "status": message.status,
        "attempts": message.attempts,
        "lastStatusCode": message.last_status_code,
        "lastError": message.last_error,
        "nextAttemptAt": iso_or_none(message.next_attempt_at),
        "createdAt": iso(message.created_at),
        "deliveredAt": iso_or_none(message.delivered_at),
        "subjects": list(message.subjects) or None,
        "version": message.version,
        **due,
        **keys.about_entry(message.subjects, message.id),
    }


def message_from_item(item: Item) -> Message:
    return Message(
        id=item["id"],
        webhook_id=item["webhookId"],
        event=item["event"],
        body=item["body"],
        created_at=parse_iso(item["createdAt"]),
        status=item["status"],
        attempts=int(item.get("attempts", 0)),
        last_status_code=int(item["lastStatusCode"]) if item.get("lastStatusCode") is not None else None,
        last_error=item.get("lastError"),
        next_attempt_at=parse_iso_or_none(item.get("nextAttemptAt")),
        delivered_at=parse_iso_or_none(item.get("deliveredAt")),
        subjects=tuple(item.get("subjects") or ()),
        version=int(item.get("version", 0)),
    )


def message_ref(message: Message) -> str:
    """What a delivery is asked for by: the message's webhook, creation and id."""
    return f"{message.webhook_id}|{iso(message.created_at)}|{message.id}"


class Webhooks(Gather, Moves):
    def save_webhook(self, webhook: Webhook) -> None:
        self.client.put_item(
            TableName=self.table, Item=to_wire(webhook_to_item(webhook)), ConditionExpression="attribute_not_exists(PK)"
        )

    def webhooks(self) -> list[Webhook]:
        pk = keys.webhook_key("")["PK"]
        query = {"KeyConditionExpression": "PK = :pk", "ExpressionAttributeValues": to_wire({":pk": pk})}
        return [webhook_from_item(item) for item in self._query(ConsistentRead=True, **query)]

    def get_webhook(self, webhook_id: str) -> Webhook | None:
        item = self._get(keys.webhook_key(webhook_id))
        return webhook_from_item(item) if item else None

    def delete_webhook(self, webhook_id: str) -> bool:
        raw = self.client.delete_item(
            TableName=self.table, Key=to_wire(keys.webhook_key(webhook_id)), ReturnValues="ALL_OLD"
        )
        return "Attributes" in raw

    def create_message(self, message: Message) -> bool:
        """The message, unless its change already made it (a replayed record: False)."""
        try:
            self.client.put_item(
                TableName=self.table,
                Item=to_wire(message_to_item(message)),
                ConditionExpression="attribute_not_exists(PK)",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def get_message(self, ref: str) -> Message | None:
        webhook_id, created, message_id = ref.split("|", 2)
        item = self._get(keys.webhook_message_key(webhook_id, created, message_id))
        return message_from_item(item) if item else None

    def claim_message(self, message: Message, now: datetime, lease_until: datetime) -> bool:
        """Take one attempt of a pending message: refused while another attempt holds it."""
        key = keys.webhook_message_key(message.webhook_id, iso(message.created_at), message.id)
        try:
            self.client.update_item(
                TableName=self.table,
                Key=to_wire(key),
                UpdateExpression="SET leaseUntil = :until",
                ConditionExpression="#s = :pending AND (attribute_not_exists(leaseUntil) OR leaseUntil < :now)",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=to_wire(
                    {":until": iso(lease_until), ":now": iso(now), ":pending": "pending"}
                ),
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def save_attempt(self, message: Message) -> bool:
        """The message as the attempt left it, over the version the attempt read."""
        item = {**message_to_item(message), "version": message.version + 1}
        try:
            self.client.put_item(
                TableName=self.table,
                Item=to_wire(item),
                ConditionExpression="#v = :v",
                ExpressionAttributeNames={"#v": "version"},
                ExpressionAttributeValues=to_wire({":v": message.version}),
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def messages_of(self, webhook_id: str, cursor: str | None, limit: int) -> Page[Message]:
        """A webhook's messages, newest first, gathered from its shards."""
        state = decode(cursor, DeliveriesCursor) or DeliveriesCursor()
        partitions = keys.webhook_message_partitions(webhook_id)
        rows, positions = self._gather(partitions, "PK", "SK", dict(state.shards), limit, newest_first=True)
        messages = [message_from_item(row) for row in rows]
        if self._all_done(positions, len(partitions)):
            return Page(messages, None)
        return Page(messages, encode(DeliveriesCursor(shards=positions)))

    def due_messages(self, now: datetime, limit: int = 100) -> list[str]:
        """Refs of the pending messages whose next attempt is due by `now`."""
        due = (keys.webhook_message_of(pk, sk) for pk, sk in self.due(WEBHOOK_DUE, now, limit))
        return [f"{webhook}|{created}|{message}" for webhook, created, message in due]

    def forget_messages(self, refs: Sequence[str]) -> None:
        wire_keys = []
        for ref in refs:
            webhook_id, created, message_id = ref.split("|", 2)
            wire_keys.append(to_wire(keys.webhook_message_key(webhook_id, created, message_id)))
        self.batch_write([{"DeleteRequest": {"Key": key}} for key in wire_keys])


__all__ = ["DONE", "Webhooks", "message_ref"]
