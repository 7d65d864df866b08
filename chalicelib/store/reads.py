"""Items read by key: one GetItem, or one BatchGetItem of what a use case reads together.

Every read of the base table is strongly consistent; a device's session is
validated and extended in the same conditional UpdateItem that reads it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from botocore.exceptions import ClientError

from ..domain.models import Chat, ChatSummary, Device, Message, Unification, User
from ..domain.timefmt import iso, parse_iso
from ..service.ports import Found
from . import codec, keys
from .base import TableClient
from .codec import Item, from_wire, to_wire


class Reads(TableClient):
    def get_user(self, user_id: str) -> User | None:
        """The user; an erased one (a tombstone) is as if it never existed (R11.2)."""
        item = self._get(keys.user_key(user_id))
        return codec.user_from_item(item) if item and not codec.is_tombstone(item) else None

    def get_users(self, user_ids: Sequence[str]) -> dict[str, User]:
        """Several users at once (BatchGetItem, strongly consistent); erased ones are absent."""
        items = self._batch_get([keys.user_key(u) for u in user_ids])
        users = (codec.user_from_item(item) for item in items if not codec.is_tombstone(item))
        return {user.id: user for user in users}

    def get_member_user_id(self, member_id: str) -> str | None:
        item = self._get(keys.member_key(member_id))
        return str(item["userId"]) if item else None

    def get_member_user_ids(self, member_ids: Sequence[str]) -> dict[str, str]:
        """memberId → user id for those that exist (BatchGetItem, strongly consistent)."""
        items = self._batch_get([keys.member_key(m) for m in member_ids])
        return {str(item["memberId"]): str(item["userId"]) for item in items}

    def get_device(self, handle: str, consistent: bool = True) -> Device | None:
        item = self._get(keys.device_key(handle), consistent)
        return codec.device_from_item(item) if item else None

    def touch_device(self, handle: str, token_hash: str, now_iso: str, expires_iso: str) -> Device | None:
        """Validate a session token and count the call as activity (R4.1), in one write.

        None when the token is not one of the device's current session or the
        session has ended.
        """
        try:
            raw = self.client.update_item(
                TableName=self.table,
                Key=to_wire(keys.device_key(handle)),
                UpdateExpression="SET expiresAt = :exp",
                ConditionExpression="contains(tokenHashes, :h) AND expiresAt > :now",
                ExpressionAttributeValues=to_wire({":h": token_hash, ":now": now_iso, ":exp": expires_iso}),
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return None
            raise
        return codec.device_from_item(from_wire(raw["Attributes"]))

    def extend_session(
        self, handle: str, token_hash: str, now: datetime, expires: datetime, max_tokens: int
    ) -> tuple[bool, Device | None]:
        """A returning device's live session, given one more token and a new expiry in one
        conditional UpdateItem (R4.1). Returns (extended, the device as it now is);
        when the session has ended, or holds `max_tokens` already, nothing changes and
        the device comes back as it was (DynamoDB returns it with the failed
        condition), None if there is none."""
        try:
            raw = self.client.update_item(
                TableName=self.table,
                Key=to_wire(keys.device_key(handle)),
                UpdateExpression=(
                    "SET tokenHashes = list_append(tokenHashes, :h), expiresAt = :exp, #ttl = :ttl,"
                    " version = version + :one"
                ),
                ConditionExpression="expiresAt > :now AND size(tokenHashes) < :max",
                ExpressionAttributeNames={"#ttl": "ttl"},
                ExpressionAttributeValues=to_wire(
                    {
                        ":h": [token_hash],
                        ":exp": iso(expires),
                        ":ttl": codec.device_ttl(expires),
                        ":one": 1,
                        ":now": iso(now),
                        ":max": max_tokens,
                    }
                ),
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            item = cast(dict[str, Any] | None, exc.response.get("Item"))
            return False, codec.device_from_item(from_wire(item)) if item else None
        return True, codec.device_from_item(from_wire(raw["Attributes"]))

    def get_external_claim(self, channel: str, external_id: str) -> Item | None:
        return self._get(keys.external_key(channel, external_id))

    def get_chat(self, chat_id: str) -> Chat | None:
        item = self._get(keys.chat_key(chat_id))
        return codec.chat_from_item(item) if item else None

    def chat_summary(self, chat_id: str, consistent: bool = True) -> ChatSummary | None:
        item = self._get(keys.chat_key(chat_id), consistent)
        return codec.chat_summary_from_item(item) if item else None

    def add_to_chat_summary(self, chat_id: str, message: Message, dropped: Sequence[str]) -> None:
        """Keep `message` among its chat's latest (what listings show), dropping `dropped`:
        one UpdateItem whose parts commute, so writers in one chat never conflict."""
        names = {"#new": message.id, **{f"#d{i}": m for i, m in enumerate(dropped)}}
        update = "SET recent.#new = :m" + (", older = :true" if dropped else "")
        if dropped:
            update += " REMOVE " + ", ".join(f"recent.#d{i}" for i in range(len(dropped)))
        values = {":m": codec.message_fields(message), **({":true": True} if dropped else {})}
        try:
            self.client.update_item(
                TableName=self.table,
                Key=to_wire(keys.chat_key(chat_id)),
                UpdateExpression=update,
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=to_wire(values),
            )
        except ClientError as exc:
            # A failed condition: no header, the chat is gone (erased) and there is nothing to keep.
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def get_unification(self, unification_id: str) -> Unification | None:
        item = self._get(keys.unification_key(unification_id))
        return codec.unification_from_item(item) if item else None

    def get_unifications(self, unification_ids: Sequence[str]) -> dict[str, Unification]:
        records = (
            codec.unification_from_item(i) for i in self._batch_get([keys.unification_key(u) for u in unification_ids])
        )
        return {record.id: record for record in records}

    def has_delivery(self, user_id: str, campaign_id: str) -> bool:
        return self._get(keys.delivery_key(user_id, campaign_id)) is not None

    def console_session(self, session_id: str) -> tuple[str, datetime] | None:
        """(CSRF token, expiry) of a console session that was started and not signed out."""
        item = self._get(keys.console_session_key(session_id))
        return (str(item["csrf"]), parse_iso(str(item["expiresAt"]))) if item else None

    def get_receipt(self, receipt_id: str) -> Item | None:
        """A keyed request's first answer (API.md, Idempotency-Key), if it is still stored."""
        return self._get(keys.receipt_key(receipt_id))

    def read_together(
        self,
        *,
        users: Sequence[str] = (),
        chats: Sequence[str] = (),
        members: Sequence[str] = (),
        unifications: Sequence[str] = (),
        contacts: Sequence[tuple[str, str]] = (),
    ) -> Found:
        """Items of several kinds in one BatchGetItem (strongly consistent), by id; for
        each (field, value) of `contacts`, the ids of the members holding it (R6.1)."""
        wanted = [
            *(keys.user_key(u) for u in users),
            *(keys.chat_key(c) for c in chats),
            *(keys.member_key(m) for m in members),
            *(keys.unification_key(u) for u in unifications),
            *(keys.contact_key(f, v) for f, v in contacts),
        ]
        found = Found(contact_members={pair: [] for pair in contacts})
        for item in self._batch_get(wanted):
            if str(item["PK"]).startswith(keys.CONTACT_INDEX):
                found.contact_members[keys.contact_of(str(item["PK"]))] = codec.listed_members(item)
                continue
            match item.get("kind"):
                case "user":
                    user = codec.user_from_item(item)
                    found.users[user.id] = user
                case "chat":
                    summary = codec.chat_summary_from_item(item)
                    found.chats[summary.chat.id] = summary.chat
                    found.summaries[summary.chat.id] = summary
                case "member":
                    found.member_user_ids[str(item["memberId"])] = str(item["userId"])
                case "unification":
                    unification = codec.unification_from_item(item)
                    found.unifications[unification.id] = unification
        return found

    def members_by_contact(self, pairs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], list[str] | None]:
        """Ids of the members holding each (field, value), from the table itself
        (consistent reads, one BatchGetItem per 100 values)."""
        return self.read_together(contacts=pairs).contact_members
