"""Erasure's storage (R11): the items that hold a person's data, found by their user ids
and deleted in bounded chunks.

A user's partition holds its chat entries, events, deliveries and login
records; each chat entry names a chat partition (header and messages). Its
devices and the receipts and webhook messages about it are listed in gsi2
(`DUSER#`, `ABOUT#`), its unifications in gsi2/gsi3 (`USRC#`, `UTGT#`).
Deletes are idempotent: a rerun after a crash finds less and deletes it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from ..domain.erasure import Erasure
from ..domain.timefmt import iso
from ..service.ports import ErasedChunk
from . import codec, keys
from .base import TableClient
from .codec import Item, from_wire, to_wire

USER_ITEM_SK = keys.user_key("")["SK"]


class Erasures(TableClient):
    def get_erasure(self, erasure_id: str) -> Erasure | None:
        item = self._get(keys.erasure_key(erasure_id))
        return codec.erasure_from_item(item) if item else None

    def erasure_of(self, user_id: str) -> str | None:
        """The erasure that made this user a tombstone, while the tombstone stays."""
        item = self._get(keys.user_key(user_id))
        return str(item["erasure"]) if item and codec.is_tombstone(item) else None

    # what a person holds ---------------------------------------------------------------

    def count_devices(self, user_id: str) -> int:
        return self._count(keys.GSI2, keys.devices_of_key(user_id))

    def count_messages(self, user_ids: Sequence[str]) -> int:
        """Every message of every chat in these users' partitions (a dry run's count)."""
        chats = {
            str(row["SK"]).removeprefix(keys.CHATS)
            for user_id in user_ids
            for row in self._query(
                **self._prefix_query(keys.user_partition(user_id), keys.CHATS, ProjectionExpression="PK, SK")
            )
        }
        return sum(
            self._count_query(
                KeyConditionExpression="PK = :pk AND begins_with(SK, :m)",
                ExpressionAttributeValues=to_wire({":pk": keys.chat_key(c)["PK"], ":m": keys.MESSAGES}),
            )
            for c in chats
        )

    def unifications_naming(self, user_id: str) -> list[str]:
        """Ids of every unification with this user as its source or target."""
        found: list[str] = []
        for index, partition in ((keys.GSI2, keys.source_key(user_id)), (keys.GSI3, keys.target_key(user_id))):
            found += [str(row["PK"]).removeprefix(keys.UNIFICATION) for row in self._listed(index, partition)]
        return list(dict.fromkeys(found))

    # deleting it ----------------------------------------------------------------------

    def erase_history_chunk(self, user_id: str, limit: int) -> ErasedChunk:
        """Delete up to `limit` items of the user's partition (all but the user item), each
        chat entry with its chat's header and every message first."""
        raw = self.client.query(
            TableName=self.table,
            KeyConditionExpression="PK = :pk AND SK > :user",
            ExpressionAttributeValues=to_wire({":pk": keys.user_partition(user_id), ":user": USER_ITEM_SK}),
            ProjectionExpression="PK, SK",
            ConsistentRead=True,
            Limit=limit,
        )
        found = [from_wire(item) for item in raw.get("Items", [])]
        messages = 0
        for item in found:
            sk = str(item["SK"])
            if sk.startswith(keys.CHATS):
                messages += self._erase_chat(sk.removeprefix(keys.CHATS))
        self._delete_keys(found)
        history = sum(1 for item in found if not str(item["SK"]).startswith(keys.LOGINS))
        return ErasedChunk(history, messages, "LastEvaluatedKey" not in raw and len(found) < limit)

    def _erase_chat(self, chat_id: str) -> int:
        """A chat partition deleted whole; the messages it held."""
        rows = list(
            self._query(
                KeyConditionExpression="PK = :pk",
                ExpressionAttributeValues=to_wire({":pk": keys.chat_key(chat_id)["PK"]}),
                ProjectionExpression="PK, SK",
                ConsistentRead=True,
            )
        )
        self._delete_keys(rows)
        return sum(1 for row in rows if str(row["SK"]).startswith(keys.MESSAGES))

    def erase_message(self, chat_id: str, message_id: str) -> None:
        """A message written into a chat already erased (it raced the erasure)."""
        self._delete_keys([keys.message_key(chat_id, message_id)])

    def erase_about(self, user_id: str) -> int:
        """The user's devices (only while they are still its), and the receipts and webhook
        messages about it; returns the devices deleted."""
        devices = 0
        for row in self._listed(keys.GSI2, keys.devices_of_key(user_id)):
            if self._delete_if(row, "userId = :u", {":u": user_id}):
                devices += 1
        self.erase_messages_about(user_id)
        return devices

    def erase_messages_about(self, subject: str, before: datetime | None = None) -> None:
        """Receipts and webhook messages about a user or a unification (those made `before`
        a time, if given): a message not yet delivered goes; a delivered or failed one
        keeps its delivery log, not its body."""
        for row in self._listed(keys.GSI2, keys.about_key(subject)):
            if str(row["PK"]).startswith(keys.WEBHOOK_MESSAGES):
                if before is not None and keys.webhook_message_of(str(row["PK"]), str(row["SK"]))[1] >= iso(before):
                    continue  # told after the erasure began: it holds no value (R11.3)
                if not self._delete_if(row, "#s = :pending", {":pending": "pending"}, {"#s": "status"}):
                    self._update(row, "SET body = :forgotten REMOVE g2pk, g2sk", {":forgotten": "{}"})
            else:
                self._delete_if(row, "attribute_exists(PK)", {})

    def erase_failures_naming(self, user_ids: Sequence[str]) -> int:
        """Parked failures (poison stream records) whose payload names one of these users:
        they may hold the person's values (R11.4). One partition, read whole."""
        pk = keys.failure_key("stream", "")["PK"]
        rows = self._query(KeyConditionExpression="PK = :pk", ExpressionAttributeValues=to_wire({":pk": pk}))
        naming = [row for row in rows if any(u in str(row.get("payload", "")) for u in user_ids)]
        self._delete_keys(naming)
        return len(naming)

    def forget_user(self, user_id: str) -> None:
        """The tombstone goes last, with the contact-index items that list nobody now."""
        tombstone = self._get(keys.user_key(user_id))
        if tombstone is None:
            return
        if not codec.is_tombstone(tombstone):
            raise ValueError(f"user {user_id} is not erased")
        for field, value in (tombstone.get("contacts") or {}).items():
            self._delete_if(
                keys.contact_key(field, value),
                "attribute_not_exists(members) AND (attribute_not_exists(extra) OR extra <= :zero)",
                {":zero": 0},
            )
        self._delete_if(keys.user_key(user_id), "kind = :erased", {":erased": "erased"})

    # helpers ----------------------------------------------------------------------------

    def _listed(self, index: tuple[str, str, str], partition: str) -> list[Item]:
        name, pk_name, _ = index
        return list(
            self._query(
                IndexName=name,
                KeyConditionExpression=f"{pk_name} = :pk",
                ExpressionAttributeValues=to_wire({":pk": partition}),
            )
        )

    def _count(self, index: tuple[str, str, str], partition: str) -> int:
        name, pk_name, _ = index
        return self._count_query(
            IndexName=name,
            KeyConditionExpression=f"{pk_name} = :pk",
            ExpressionAttributeValues=to_wire({":pk": partition}),
        )

    def _count_query(self, **kwargs: Any) -> int:
        kwargs = {"TableName": self.table, "Select": "COUNT", **kwargs}
        total = 0
        while True:
            raw = self.client.query(**kwargs)
            total += int(raw.get("Count", 0))
            if "LastEvaluatedKey" not in raw:
                return total
            kwargs["ExclusiveStartKey"] = raw["LastEvaluatedKey"]

    def _delete_keys(self, items: Sequence[Item]) -> None:
        self.batch_write([{"DeleteRequest": {"Key": to_wire({"PK": i["PK"], "SK": i["SK"]})}} for i in items])

    def _delete_if(
        self, item: Item, condition: str, values: dict[str, Any], names: dict[str, str] | None = None
    ) -> bool:
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "Key": to_wire({"PK": item["PK"], "SK": item["SK"]}),
            "ConditionExpression": condition,
        }
        if values:
            kwargs["ExpressionAttributeValues"] = to_wire(values)
        if names:
            kwargs["ExpressionAttributeNames"] = names
        try:
            self.client.delete_item(**kwargs)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def _update(self, item: Item, expression: str, values: dict[str, Any]) -> None:
        with contextlib.suppress(self.client.exceptions.ConditionalCheckFailedException):
            self.client.update_item(
                TableName=self.table,
                Key=to_wire({"PK": item["PK"], "SK": item["SK"]}),
                UpdateExpression=expression,
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeValues=to_wire(values),
            )
