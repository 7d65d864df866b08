"""The repository: every access is a GetItem, a Query or a conditional write.

`ClientError`s become domain-level outcomes here: a failed condition or a
cancelled transaction is a `WriteConflict` carrying one reason per write.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar, cast

from botocore.exceptions import ClientError

from ..domain import writes as w
from ..domain.contacts import CONTACT_FIELDS
from ..domain.errors import InvalidRequest, PayloadTooLarge
from ..domain.matching import member_contact_index
from ..domain.models import Chat, Delivery, Device, Event, Message, Unification, User
from ..domain.timefmt import iso
from . import codec
from .codec import Item, from_wire, to_wire

T = TypeVar("T")
log = logging.getLogger(__name__)
MAX_TRANSACTION_ITEMS = 100
BATCH_WRITE_SIZE = 25
# An item whose wire JSON is shorter than this is surely under DynamoDB's 400 KB.
SAFE_ITEM_BYTES = 350 * 1024
HISTORY_PREFIXES = ("C#", "E#")
# Why a transaction may be cancelled and a re-read and re-plan can still succeed.
EXPECTED_CANCELLATIONS = {
    None,
    "None",
    "ConditionalCheckFailed",
    "TransactionConflict",
    "ThrottlingError",
    "ProvisionedThroughputExceeded",
}
RETRYABLE_CODES = {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None
    # The unified user a read was addressed to, when it was resolved to its member (R3.5).
    resolved_from: str | None = None


class UnprocessedItems(RuntimeError):
    """DynamoDB kept leaving some of a BatchWriteItem's items unprocessed (throttling)."""


@dataclass(frozen=True)
class Found:
    """What one `read_together` found, by id; what is missing does not exist."""

    users: dict[str, User] = field(default_factory=dict)
    chats: dict[str, Chat] = field(default_factory=dict)
    member_user_ids: dict[str, str] = field(default_factory=dict)
    unifications: dict[str, Unification] = field(default_factory=dict)
    contact_members: dict[tuple[str, str], list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class HistoryChunk:
    """What one step of a history move copied, and where the next one resumes."""

    chats: int
    events: int
    cursor: str | None
    source_keys: list[dict[str, Any]]


def _is_table_key(key: object) -> bool:
    """A base-table key in the wire format, as Query hands out in LastEvaluatedKey."""
    return (
        isinstance(key, dict)
        and set(key) == {"PK", "SK"}
        and all(isinstance(v, dict) and set(v) == {"S"} and isinstance(v["S"], str) for v in key.values())
    )


def encode_cursor(state: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode()


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    if cursor is None:
        return None
    try:
        state: Any = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, binascii.Error, UnicodeError) as exc:
        raise InvalidRequest("cursor is not one this service handed out", field="cursor") from exc
    valid = (
        isinstance(state, dict)
        and isinstance(state.get("p", 0), int)
        and isinstance(state.get("o", []), list)
        and all(isinstance(o, str) for o in state.get("o", []))
        and isinstance(state.get("s", {}), dict)
        and all(isinstance(v, str) for v in state.get("s", {}).values())
    )
    if not valid:
        raise InvalidRequest("cursor is not one this service handed out", field="cursor")
    return dict(state)


def _raise_if_too_large(exc: ClientError) -> None:
    """DynamoDB's 400 KB item limit, as the contract's 413."""
    error = exc.response.get("Error", {})
    if error.get("Code") == "ValidationException" and "size" in str(error.get("Message", "")).lower():
        raise PayloadTooLarge("the record would exceed DynamoDB's 400 KB item size") from exc
    reasons = exc.response.get("CancellationReasons") or []
    if any(r.get("Code") == "ValidationError" and "size" in str(r.get("Message", "")).lower() for r in reasons):
        raise PayloadTooLarge("the record would exceed DynamoDB's 400 KB item size") from exc


def _key_of(action: dict[str, Any]) -> str:
    """The item a transaction action touches (two actions may not share one)."""
    (body,) = action.values()
    key = body.get("Key") or {"PK": body["Item"]["PK"], "SK": body["Item"]["SK"]}
    return json.dumps([body["TableName"], key], sort_keys=True)


class DynamoStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self.client = client
        self.table = table_name

    # single items ---------------------------------------------------------

    def _get(self, key: Item) -> Item | None:
        raw = self.client.get_item(TableName=self.table, Key=to_wire(key), ConsistentRead=True)
        return from_wire(raw["Item"]) if "Item" in raw else None

    def get_user(self, user_id: str) -> User | None:
        item = self._get(codec.user_key(user_id))
        return codec.user_from_item(item) if item else None

    def _batch_get(self, keys: Sequence[Item]) -> Iterator[Item]:
        """The items that exist among `keys`: BatchGetItem, 100 keys a request,
        strongly consistent, unprocessed keys asked again."""
        unique = list({json.dumps(k, sort_keys=True): k for k in keys}.values())
        for start in range(0, len(unique), 100):
            wire_keys = [to_wire(k) for k in unique[start : start + 100]]
            request: dict[str, Any] = {self.table: {"Keys": wire_keys, "ConsistentRead": True}}
            while request:
                raw = self.client.batch_get_item(RequestItems=request)
                for wire_item in raw["Responses"].get(self.table, []):
                    yield from_wire(wire_item)
                request = raw.get("UnprocessedKeys") or {}
                if request:
                    time.sleep(0.05)

    def get_users(self, user_ids: Sequence[str]) -> dict[str, User]:
        """Several users at once (BatchGetItem, strongly consistent)."""
        users = (codec.user_from_item(item) for item in self._batch_get([codec.user_key(u) for u in user_ids]))
        return {user.id: user for user in users}

    def get_member_user_id(self, member_id: str) -> str | None:
        item = self._get(codec.member_key(member_id))
        return str(item["userId"]) if item else None

    def get_member_user_ids(self, member_ids: Sequence[str]) -> dict[str, str]:
        """memberId → user id for those that exist (BatchGetItem, strongly consistent)."""
        items = self._batch_get([codec.member_key(m) for m in member_ids])
        return {str(item["memberId"]): str(item["userId"]) for item in items}

    def get_device(self, handle: str) -> Device | None:
        item = self._get(codec.device_key(handle))
        return codec.device_from_item(item) if item else None

    def touch_device(self, handle: str, token_hash: str, now_iso: str, expires_iso: str) -> Device | None:
        """Validate a session token and count the call as activity (R4.1), in one write.

        None when the token is not one of the device's current session or the
        session has ended.
        """
        try:
            raw = self.client.update_item(
                TableName=self.table,
                Key=to_wire(codec.device_key(handle)),
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
                Key=to_wire(codec.device_key(handle)),
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
        return self._get(codec.external_key(channel, external_id))

    def get_chat(self, chat_id: str) -> Chat | None:
        item = self._get(codec.chat_key(chat_id))
        return codec.chat_from_item(item) if item else None

    def get_unification(self, unification_id: str) -> Unification | None:
        item = self._get(codec.unification_key(unification_id))
        return codec.unification_from_item(item) if item else None

    def get_receipt(self, receipt_id: str) -> Item | None:
        """A keyed request's first answer (API.md, Idempotency-Key), if it is still live."""
        return self._get(codec.receipt_key(receipt_id))

    def has_delivery(self, user_id: str, campaign_id: str) -> bool:
        return self._get(codec.delivery_key(user_id, campaign_id)) is not None

    # queries -------------------------------------------------------------

    def _query(self, **kwargs: Any) -> Iterator[Item]:
        """Every item of a query, page after page."""
        kwargs = {"TableName": self.table, **kwargs}
        while True:
            raw = self.client.query(**kwargs)
            for item in raw.get("Items", []):
                yield from_wire(item)
            if "LastEvaluatedKey" not in raw:
                return
            kwargs["ExclusiveStartKey"] = raw["LastEvaluatedKey"]

    def _prefix_query(self, pk: str, prefix: str, **kwargs: Any) -> dict[str, Any]:
        return {
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
            "ExpressionAttributeValues": to_wire({":pk": pk, ":prefix": prefix}),
            **kwargs,
        }

    def query_partitions(self, owner_ids: Sequence[str], prefix: str, cursor: str | None, limit: int) -> Page[Item]:
        """One page of `prefix` items across owners, read one owner after another.

        For a member whose unified sources' history is still moving in (R3.3)
        the owners are the sources, then the member. Sources are read first
        and copies are only ever made of items a source still holds, so no
        item drops out of view; a copy in the member's partition (`movedFrom`)
        is skipped when its original was already listed (up to the source's
        high-water mark carried in the cursor), so paging lists each item once.
        A cursor whose source has moved in since goes on with the next owner;
        the copies past its mark are listed from the member. A source that
        reads empty before any of it was listed is checked to be still moving:
        one whose move completed meanwhile (its originals deleted) gets its
        copies listed from the member.
        A cursor can only narrow the owners the caller allows, never add one.
        """
        state = decode_cursor(cursor) or {}
        remaining = [o for o in state.get("o", owner_ids) if o in owner_ids]
        start_key = state.get("k")
        if start_key is not None and state.get("o", owner_ids)[:1] != remaining[:1]:
            start_key = None  # the owner the cursor was in has since moved in: the next one starts afresh
        listed: dict[str, str] = dict(state.get("s", {}))
        if start_key is not None and not _is_table_key(start_key):
            raise InvalidRequest("cursor is not one this service handed out", field="cursor")
        items: list[Item] = []
        while remaining and len(items) < limit:
            owner = remaining[0]
            kwargs = self._prefix_query(f"USER#{owner}", prefix, ConsistentRead=True, Limit=limit - len(items))
            if start_key:
                kwargs["ExclusiveStartKey"] = start_key
            try:
                raw = self.client.query(TableName=self.table, **kwargs)
            except ClientError as exc:
                if exc.response["Error"]["Code"] == "ValidationException":
                    raise InvalidRequest("cursor is not one this service handed out", field="cursor") from exc
                raise
            for wire_item in raw.get("Items", []):
                item = from_wire(wire_item)
                origin = item.get("movedFrom")
                if origin in listed and str(item["SK"]) <= listed[str(origin)]:
                    continue  # its original was listed from the source's partition
                items.append(item)
                if owner != owner_ids[-1]:
                    listed[owner] = str(item["SK"])
            start_key = raw.get("LastEvaluatedKey")
            if start_key is None:
                if owner != owner_ids[-1] and (owner in listed or self._still_moving(owner, owner_ids[-1])):
                    listed[owner] = "\uffff"
                remaining, start_key = remaining[1:], None
        if not remaining:
            return Page(items, None)
        next_state: dict[str, Any] = {"o": remaining, "s": listed}
        if start_key:
            next_state["k"] = start_key
        return Page(items, encode_cursor(next_state))

    def _still_moving(self, source_id: str, member_id: str) -> bool:
        """Whether the member still reads the source's partition. Asked only when a
        source's partition read empty: its move may have completed (and its originals
        gone) after the member was read, and then its copies must all be listed."""
        member = self.get_user(member_id)
        return member is not None and source_id in member.moving_sources

    def chats_of(self, owner_ids: Sequence[str], cursor: str | None, limit: int) -> Page[Chat]:
        """A page of the chats listed under these owners (de-duplicated)."""
        page = self.query_partitions(owner_ids, "C#", cursor, limit)
        chats = {item["id"]: codec.chat_from_item(item) for item in page.items}
        return Page(list(chats.values()), page.next_cursor)

    def events_of(self, owner_ids: Sequence[str], shown_owner: str, cursor: str | None, limit: int) -> Page[Event]:
        """A page of the events listed under these owners, shown as `shown_owner`'s."""
        page = self.query_partitions(owner_ids, "E#", cursor, limit)
        events = {item["id"]: codec.event_from_item(item, shown_owner) for item in page.items}
        return Page(list(events.values()), page.next_cursor)

    def list_messages(self, chat_id: str) -> list[Message]:
        return [
            codec.message_from_item(item)
            for item in self._query(**self._prefix_query(f"CHAT#{chat_id}", "M#", ConsistentRead=True))
        ]

    def list_deliveries(self, user_id: str, cursor: str | None, limit: int) -> Page[Delivery]:
        page = self.query_partitions([user_id], "D#", cursor, limit)
        return Page([codec.delivery_from_item(i, user_id) for i in page.items], page.next_cursor)

    def all_deliveries(self, user_id: str) -> list[Delivery]:
        return [
            codec.delivery_from_item(i, user_id)
            for i in self._query(**self._prefix_query(f"USER#{user_id}", "D#", ConsistentRead=True))
        ]

    def users_by_contact(self, field: str, value: str, limit: int) -> list[User]:
        """Un-unified users holding this normalized contact value, most recently updated first (R9.3).

        The GSI only nominates: each user is re-read from the table and kept
        only if it still holds the value and is still un-unified.
        """
        index, pk, prefix = ("gsi1", "g1pk", "PHONE#") if field == "mobileNumber" else ("gsi2", "g2pk", "EMAIL#")
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": index,
            "KeyConditionExpression": f"{pk} = :v",
            "ExpressionAttributeValues": to_wire({":v": prefix + value}),
            "ScanIndexForward": False,
            "Limit": limit,
        }
        ids: list[str] = []
        while len(ids) < limit:
            raw = self.client.query(**kwargs)
            ids.extend(str(from_wire(i)["id"]) for i in raw.get("Items", []))
            if "LastEvaluatedKey" not in raw:
                break
            kwargs["ExclusiveStartKey"] = raw["LastEvaluatedKey"]
        users = self.get_users(ids[:limit])
        confirmed = [
            users[uid]
            for uid in ids[:limit]
            if uid in users
            and not users[uid].is_unified
            and (fv := users[uid].fields.get(field)) is not None
            and fv.value == value
        ]
        return sorted(confirmed, key=lambda u: u.updated_at, reverse=True)

    def record_failure(self, source: str, key: str, payload: dict[str, Any], reason: str) -> None:
        """Park what can never succeed (a poison stream record) where operators can see it."""
        item = {
            "PK": f"FAILURE#{source}",
            "SK": key,
            "kind": "failure",
            "payload": json.dumps(payload, default=str),
            "reason": reason[:2000],
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        self.client.put_item(TableName=self.table, Item=to_wire(item))

    def failures(self, source: str) -> list[Item]:
        return list(
            self._query(
                KeyConditionExpression="PK = :pk", ExpressionAttributeValues=to_wire({":pk": f"FAILURE#{source}"})
            )
        )

    def unifications_by(self, index: str, pk_value: str, cursor: str | None, limit: int) -> Page[Unification]:
        names = {"gsi1": "g1pk", "gsi2": "g2pk", "gsi3": "g3pk"}
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": index,
            "KeyConditionExpression": f"{names[index]} = :v",
            "ExpressionAttributeValues": to_wire({":v": pk_value}),
            "Limit": limit,
        }
        state = decode_cursor(cursor)
        if state and state.get("k"):
            kwargs["ExclusiveStartKey"] = state["k"]
        try:
            raw = self.client.query(**kwargs)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ValidationException":
                raise InvalidRequest("cursor is not one this service handed out", field="cursor") from exc
            raise
        items = [codec.unification_from_item(from_wire(i)) for i in raw.get("Items", [])]
        lek = raw.get("LastEvaluatedKey")
        return Page(items, encode_cursor({"p": 0, "k": lek}) if lek else None)

    # history move (R3.3, R10) -----------------------------------------------

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
        keys = [
            *(codec.user_key(u) for u in users),
            *(codec.chat_key(c) for c in chats),
            *(codec.member_key(m) for m in members),
            *(codec.unification_key(u) for u in unifications),
            *(codec.contact_key(f, v) for f, v in contacts),
        ]
        found = Found(contact_members={pair: [] for pair in contacts})
        for item in self._batch_get(keys):
            if str(item["PK"]).startswith("MCONTACT#"):
                _, field_name, value = str(item["PK"]).split("#", 2)
                found.contact_members[(field_name, value)] = sorted(item.get("members") or ())
                continue
            match item.get("kind"):
                case "user":
                    user = codec.user_from_item(item)
                    found.users[user.id] = user
                case "chat":
                    chat = codec.chat_from_item(item)
                    found.chats[chat.id] = chat
                case "member":
                    found.member_user_ids[str(item["memberId"])] = str(item["userId"])
                case "unification":
                    unification = codec.unification_from_item(item)
                    found.unifications[unification.id] = unification
        return found

    def copy_history_chunk(self, source_id: str, target_id: str, cursor: str | None, limit: int) -> HistoryChunk:
        """Copy up to `limit` chats/events of the source's partition into the target's.

        Resumes after `cursor`; the chunk's cursor is None once everything is
        copied. Copies keep their keys, so copying a chunk twice writes the
        same items. The chunk carries the source keys it copied, so that the
        caller can delete them without reading them again.
        """
        state = decode_cursor(cursor) or {"p": 0}
        phase, start_key = int(state.get("p", 0)), state.get("k")
        copied = [0, 0]
        keys: list[dict[str, Any]] = []
        copies: list[dict[str, Any]] = []
        remaining = limit
        while phase < len(HISTORY_PREFIXES) and remaining > 0:
            kwargs = self._prefix_query(
                f"USER#{source_id}", HISTORY_PREFIXES[phase], ConsistentRead=True, Limit=remaining
            )
            if start_key:
                kwargs["ExclusiveStartKey"] = start_key
            raw = self.client.query(TableName=self.table, **kwargs)
            items = raw.get("Items", [])
            keys += [{"PK": item["PK"], "SK": item["SK"]} for item in items]
            copies += [{**item, "PK": {"S": f"USER#{target_id}"}, "movedFrom": {"S": source_id}} for item in items]
            # Whole batches go now (a page holds up to 1 MB); a remainder waits to share
            # a batch with the next prefix's first items.
            whole = len(copies) - len(copies) % BATCH_WRITE_SIZE
            self.batch_write([{"PutRequest": {"Item": copy}} for copy in copies[:whole]])
            copies = copies[whole:]
            copied[phase] += len(items)
            remaining -= len(items)
            start_key = raw.get("LastEvaluatedKey")
            if start_key is None:
                phase += 1
        self.batch_write([{"PutRequest": {"Item": copy}} for copy in copies])
        if phase >= len(HISTORY_PREFIXES):
            next_cursor = None
        else:
            next_cursor = encode_cursor({"p": phase, "k": start_key} if start_key else {"p": phase})
        return HistoryChunk(copied[0], copied[1], next_cursor, keys)

    def delete_history(self, keys: Sequence[dict[str, Any]]) -> None:
        """Delete the source items a chunk copied (keys as `copy_history_chunk` gave them)."""
        self.batch_write([{"DeleteRequest": {"Key": dict(key)}} for key in keys])

    def delete_history_chunk(self, user_id: str, limit: int) -> int:
        """Delete up to `limit` chats/events from the user's partition; 0 when none are left."""
        deleted = 0
        for prefix in HISTORY_PREFIXES:
            raw = self.client.query(
                TableName=self.table,
                **self._prefix_query(
                    f"USER#{user_id}", prefix, ConsistentRead=True, Limit=limit - deleted, ProjectionExpression="PK, SK"
                ),
            )
            keys = raw.get("Items", [])
            self.delete_history(keys)
            deleted += len(keys)
            if deleted >= limit:
                break
        return deleted

    def batch_write(self, requests: list[dict[str, Any]]) -> None:
        """BatchWriteItem in groups of 25, resending unprocessed items with backoff."""
        for start in range(0, len(requests), BATCH_WRITE_SIZE):
            pending: dict[str, Any] = {self.table: requests[start : start + BATCH_WRITE_SIZE]}
            for attempt in range(10):
                raw = self.client.batch_write_item(RequestItems=pending)
                pending = raw.get("UnprocessedItems") or {}
                if not pending:
                    break
                time.sleep(min(1.0, 0.05 * 2**attempt))
            else:
                raise UnprocessedItems("BatchWriteItem left items unprocessed after 10 attempts")

    # writes --------------------------------------------------------------

    def commit(self, writes: Sequence[w.Write], token: str | None = None) -> None:
        """Commit the writes all together or not at all.

        Raises `WriteConflict` with one reason per write when a condition
        fails or the transaction is cancelled.
        """
        actions: list[tuple[int, dict[str, Any]]] = []
        for index, write in enumerate(writes):
            actions.extend((index, action) for action in self._actions(write))
        if len(actions) > MAX_TRANSACTION_ITEMS:
            raise ValueError(f"{len(actions)} actions exceed one transaction")
        if len(actions) == 1 and "Put" in actions[0][1]:
            self._single_put(actions[0][1]["Put"], len(writes))
            return
        # The token makes botocore's own resend of this very request (after a
        # timeout whose first try did commit) a no-op instead of a conflict.
        kwargs: dict[str, Any] = {
            "TransactItems": [a for _, a in actions],
            "ClientRequestToken": (token or uuid.uuid4().hex)[:36],
        }
        try:
            self.client.transact_write_items(**kwargs)
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            _raise_if_too_large(exc)
            if code != "TransactionCanceledException":
                if code in RETRYABLE_CODES | {"TransactionInProgressException"}:
                    raise w.WriteConflict(["TransactionConflict"] * len(writes)) from exc
                raise
            raw_reasons = exc.response.get("CancellationReasons") or []
            unexpected = {r.get("Code") for r in raw_reasons} - EXPECTED_CANCELLATIONS
            if unexpected:
                raise  # retrying cannot help: surface it at once
            reasons: list[str | None] = [None] * len(writes)
            for (index, _), reason in zip(actions, raw_reasons, strict=False):
                reason_code = reason.get("Code")
                if reason_code and reason_code != "None":
                    reasons[index] = reasons[index] or reason_code
            if not any(reasons):
                reasons = ["TransactionConflict"] * len(writes)
            for index, write in enumerate(writes):
                if isinstance(write, w.PutReceipt) and reasons[index] == "ConditionalCheckFailed":
                    raise w.ReceiptTaken(write.receipt_id, write.fingerprint) from exc
            raise w.WriteConflict(reasons) from exc

    def commit_many(self, groups: Sequence[Sequence[w.Write]]) -> list[bool]:
        """Commit independent groups of writes, packed into as few transactions as
        fit (100 actions, no item twice); each group lands whole or not at all.

        Returns which groups committed; a group whose transaction was refused
        is for the caller to redo on its own (with fresh reads).
        """
        done = [False] * len(groups)
        packed: list[dict[str, Any]] = []
        keys: set[str] = set()
        members: list[int] = []

        def flush() -> None:
            if packed:
                try:
                    self.client.transact_write_items(TransactItems=packed, ClientRequestToken=uuid.uuid4().hex)
                except ClientError as exc:
                    log.info("a packed transaction of %d groups was refused: %s", len(members), exc)
                else:
                    for index in members:
                        done[index] = True
            packed.clear()
            keys.clear()
            members.clear()

        for index, writes in enumerate(groups):
            actions = [action for write in writes for action in self._actions(write)]
            action_keys = {_key_of(action) for action in actions}
            if len(actions) > MAX_TRANSACTION_ITEMS or len(action_keys) < len(actions):
                continue
            if len(packed) + len(actions) > MAX_TRANSACTION_ITEMS or keys & action_keys:
                flush()
            packed.extend(actions)
            keys |= action_keys
            members.append(index)
        flush()
        return done

    def put_new_users(self, users: Sequence[User]) -> list[bool]:
        """Users with fresh ids, unconditionally, 25 to a BatchWriteItem: nothing was read
        and nothing can race on a new id, so no transaction (which costs twice the
        writes) and no condition are needed (DESIGN rule 7). Only users outside the
        members' contact index: a member's index entries go with it in a transaction.

        Returns which were written. One that might exceed DynamoDB's item size, or
        whose batch failed, is left for the caller to write through `commit` (the
        same item: a copy that did land is recognised there).
        """
        items: list[dict[str, Any] | None] = []
        for user in users:
            if member_contact_index(user):
                raise ValueError(f"user {user.id} is listed in the contact index: commit it")
            item = to_wire(codec.user_to_item(user.model_copy(update={"version": 0})))
            items.append(item if len(json.dumps(item)) < SAFE_ITEM_BYTES else None)
        written = [False] * len(users)
        fitting = [index for index, item in enumerate(items) if item is not None]
        for start in range(0, len(fitting), BATCH_WRITE_SIZE):
            batch = fitting[start : start + BATCH_WRITE_SIZE]
            try:
                self.batch_write([{"PutRequest": {"Item": items[index]}} for index in batch])
            except (ClientError, UnprocessedItems) as exc:
                log.warning("a batch of %d new users was not written whole: %s", len(batch), exc)
                continue
            for index in batch:
                written[index] = True
        return written

    def _single_put(self, put: dict[str, Any], n_writes: int) -> None:
        """One conditional PutItem. A failed condition may be our own write: botocore
        resends a request whose answer was lost, and the resend finds the first
        one done. Reading the item back tells the two apart."""
        try:
            self.client.put_item(**put)
        except ClientError as exc:
            _raise_if_too_large(exc)
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                key = {"PK": put["Item"]["PK"], "SK": put["Item"]["SK"]}
                stored = self.client.get_item(TableName=self.table, Key=key, ConsistentRead=True).get("Item")
                if stored is not None and from_wire(stored) == from_wire(put["Item"]):
                    return
                raise w.WriteConflict(["ConditionalCheckFailed"] * n_writes) from exc
            raise

    def _put(self, item: Item, expected_version: int | None) -> dict[str, Any]:
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

    def _save_user(self, user: User, expected: int | None) -> list[dict[str, Any]]:
        """The user, and its listing in the members' contact index moved along (R6.1).

        String-set ADD/DELETE commute, so concurrent members never conflict here.
        """
        listed = member_contact_index(user)
        actions = [self._put(codec.user_to_item(user.model_copy(update={"indexed_contacts": listed})), expected)]
        for contact_field in CONTACT_FIELDS:
            before, after = user.indexed_contacts.get(contact_field), listed.get(contact_field)
            if before == after:
                continue
            for value, op in ((before, "DELETE"), (after, "ADD")):
                if value is not None:
                    actions.append(
                        {
                            "Update": {
                                "TableName": self.table,
                                "Key": to_wire(codec.contact_key(contact_field, value)),
                                "UpdateExpression": f"{op} members :id",
                                "ExpressionAttributeValues": {":id": {"SS": [user.id]}},
                            }
                        }
                    )
        return actions

    def members_by_contact(self, pairs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], list[str]]:
        """Ids of the members holding each (field, value), from the table itself
        (consistent reads, one BatchGetItem per 100 values)."""
        return self.read_together(contacts=pairs).contact_members

    def _actions(self, write: w.Write) -> list[dict[str, Any]]:
        match write:
            case w.SaveUser(user, expected):
                return self._save_user(user, expected)
            case w.Tally(user_id, chats, events, deliveries):
                counts = {"chatCount": chats, "eventCount": events, "deliveryCount": deliveries}
                added = ", ".join(f"{name} :{name}" for name, n in counts.items() if n)
                return [
                    {
                        "Update": {
                            "TableName": self.table,
                            "Key": to_wire(codec.user_key(user_id)),
                            "UpdateExpression": f"ADD #ver :one, {added}",
                            "ConditionExpression": "attribute_exists(PK) AND attribute_not_exists(unifiedInto)",
                            "ExpressionAttributeNames": {"#ver": "version"},
                            "ExpressionAttributeValues": to_wire(
                                {":one": 1, **{f":{name}": n for name, n in counts.items() if n}}
                            ),
                        }
                    }
                ]
            case w.ClaimMember(member_id, user_id):
                item = {
                    **codec.member_key(member_id),
                    "kind": "member",
                    "memberId": member_id,
                    "userId": user_id,
                }
                return [self._put(item, None)]
            case w.SaveDevice(device, expected):
                return [self._put(codec.device_to_item(device), expected)]
            case w.SaveUnification(unification, expected):
                return [self._put(codec.unification_to_item(unification), expected)]
            case w.PutLogin(login):
                return [self._put(codec.login_to_item(login), None)]
            case w.PutDelivery(delivery):
                return [self._put(codec.delivery_to_item(delivery), None)]
            case w.PutChat(chat, owner_id):
                header, ref = codec.chat_to_items(chat, owner_id)
                return [self._put(header, None), self._put(ref, None)]
            case w.PutMessage(message):
                return [self._put(codec.message_to_item(message), None)]
            case w.PutEvent(event):
                return [self._put(codec.event_to_item(event), None)]
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
            case w.ClaimExternal(channel, external_id, user_id, chat_id):
                item = {
                    **codec.external_key(channel, external_id),
                    "kind": "external",
                    "userId": user_id,
                    "chatId": chat_id,
                }
                return [self._put(item, None)]
        raise TypeError(f"unknown write {write!r}")
