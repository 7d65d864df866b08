"""Commits: a use case's writes all together or not at all (one TransactWriteItems), and
the batched writes that need no transaction.

`ClientError`s become domain-level outcomes here: a failed condition or a
cancelled transaction is a `WriteConflict` carrying one reason per write; a
refused Idempotency-Key receipt is `ReceiptTaken`.
"""

from __future__ import annotations

import contextvars
import json
import logging
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from ..domain import writes as w
from ..domain.errors import PayloadTooLarge, ReceiptTaken
from ..domain.matching import member_contact_index
from ..domain.models import Device, User
from ..domain.timefmt import iso
from . import codec, keys
from .actions import Actions, Listing, key_of
from .base import BATCH_WRITE_SIZE, TableClient, UnprocessedItems, raise_if_too_large
from .codec import Item, from_wire, to_wire

log = logging.getLogger(__name__)
MAX_TRANSACTION_ITEMS = 100
PUT_WORKERS = 8  # conditional PutItems of one commit_many in flight at once
# An item whose wire JSON is shorter than this is surely under DynamoDB's 400 KB.
SAFE_ITEM_BYTES = 350 * 1024
# Why a transaction may be cancelled and a re-read and re-plan can still succeed.
EXPECTED_CANCELLATIONS = {
    None,
    "None",
    "ConditionalCheckFailed",
    "TransactionConflict",
    "ThrottlingError",
    "ProvisionedThroughputExceeded",
}
NO_REASON = (None, "None")
RETRYABLE_CODES = {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}


class Commits(TableClient):
    @property
    def actions(self) -> Actions:
        return Actions(self.table)

    def commit(self, writes: Sequence[w.Write], token: str | None = None) -> None:
        """Commit the writes all together or not at all.

        Raises `WriteConflict` with one reason per write when a condition
        fails or the transaction is cancelled. A member listed under a contact
        value whose index item is full is counted there instead (once more).
        """
        counted: frozenset[tuple[str, str]] = frozenset()
        for _ in range(2):
            full = self._commit_once(writes, token, counted)
            if not full:
                return
            counted |= full
        raise w.WriteConflict(["TransactionConflict"] * len(writes))

    def _commit_once(
        self, writes: Sequence[w.Write], token: str | None, counted: frozenset[tuple[str, str]]
    ) -> frozenset[tuple[str, str]]:
        """One try; the (user, field) listings refused because their item is full, if that
        is all that was refused."""
        tagged: list[tuple[int, dict[str, Any], Any]] = []
        for index, write in enumerate(writes):
            tagged += [(index, action, tag) for action, tag in self.actions.of(write, counted)]
        if len(tagged) > MAX_TRANSACTION_ITEMS:
            raise ValueError(f"{len(tagged)} actions exceed one transaction")
        if len(tagged) == 1 and "Put" in tagged[0][1]:
            self._single_put(tagged[0][1]["Put"], len(writes))
            return frozenset()
        # The token makes botocore's own resend of this very request (after a
        # timeout whose first try did commit) a no-op instead of a conflict.
        kwargs: dict[str, Any] = {
            "TransactItems": [a for _, a, _ in tagged],
            "ClientRequestToken": (token or uuid.uuid4().hex)[:36],
        }
        try:
            self.client.transact_write_items(**kwargs)
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            raise_if_too_large(exc)
            if code != "TransactionCanceledException":
                if code in RETRYABLE_CODES | {"TransactionInProgressException"}:
                    raise w.WriteConflict(["TransactionConflict"] * len(writes)) from exc
                raise
            raw_reasons = exc.response.get("CancellationReasons") or []
            if {r.get("Code") for r in raw_reasons} - EXPECTED_CANCELLATIONS:
                raise  # retrying cannot help: surface it at once
            refused = [
                (tagged[i], r.get("Code")) for i, r in enumerate(raw_reasons) if r.get("Code") not in (None, "None")
            ]
            full = frozenset((t.user_id, t.field) for (_, _, t), _ in refused if isinstance(t, Listing))
            if full and all(isinstance(t, Listing) and c == "ConditionalCheckFailed" for (_, _, t), c in refused):
                return full
            reasons: list[str | None] = [None] * len(writes)
            for (index, _, _), reason_code in refused:
                reasons[index] = reasons[index] or reason_code
            if not any(reasons):
                reasons = ["TransactionConflict"] * len(writes)
            for index, write in enumerate(writes):
                if isinstance(write, w.PutReceipt) and reasons[index] == "ConditionalCheckFailed":
                    raise ReceiptTaken(write.receipt_id, write.fingerprint) from exc
            raise w.WriteConflict(reasons) from exc
        return frozenset()

    def _single_put(self, put: dict[str, Any], n_writes: int) -> None:
        """One conditional PutItem. A failed condition may be our own write: botocore
        resends a request whose answer was lost, and the resend finds the first
        one done. Reading the item back tells the two apart."""
        try:
            self.client.put_item(**put)
        except ClientError as exc:
            raise_if_too_large(exc)
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                key = {"PK": put["Item"]["PK"], "SK": put["Item"]["SK"]}
                stored = self.client.get_item(TableName=self.table, Key=key, ConsistentRead=True).get("Item")
                if stored is not None and from_wire(stored) == from_wire(put["Item"]):
                    return
                raise w.WriteConflict(["ConditionalCheckFailed"] * n_writes) from exc
            raise

    def commit_many(self, groups: Sequence[Sequence[w.Write]]) -> list[bool]:
        """Commit independent groups of writes, packed into as few transactions as
        fit (100 actions, no item twice); a group of one item is a conditional
        PutItem of its own. Each group lands whole or not at all.

        Returns which groups committed; a group whose transaction was refused
        is for the caller to redo on its own (with fresh reads).
        """
        done = [False] * len(groups)
        packed: list[dict[str, Any]] = []
        seen: set[str] = set()
        members: list[int] = []

        def flush() -> None:
            if packed:
                try:
                    self.client.transact_write_items(TransactItems=packed, ClientRequestToken=uuid.uuid4().hex)
                except ClientError as exc:
                    code = exc.response.get("Error", {}).get("Code")  # never the message: it may quote values
                    log.info("a packed transaction of %d groups was refused: %s", len(members), code)
                else:
                    for index in members:
                        done[index] = True
            packed.clear()
            seen.clear()
            members.clear()

        singles: list[tuple[int, dict[str, Any]]] = []
        for index, writes in enumerate(groups):
            actions = [action for write in writes for action, _ in self.actions.of(write)]
            action_keys = {key_of(action) for action in actions}
            if len(actions) > MAX_TRANSACTION_ITEMS or len(action_keys) < len(actions):
                continue
            if len(actions) == 1 and "Put" in actions[0]:
                singles.append((index, actions[0]["Put"]))  # one item: no transaction needed
                continue
            if len(packed) + len(actions) > MAX_TRANSACTION_ITEMS or seen & action_keys:
                flush()
            packed.extend(actions)
            seen |= action_keys
            members.append(index)
        flush()
        for index, landed in zip((i for i, _ in singles), self._put_each([p for _, p in singles]), strict=True):
            done[index] = landed
        return done

    def _put_each(self, puts: Sequence[dict[str, Any]]) -> list[bool]:
        """Conditional PutItems, a few at a time: a group of one item needs no
        transaction (which bills twice the writes, DESIGN rule 7). Which landed."""

        def put(action: dict[str, Any]) -> bool:
            try:
                self._single_put(action, 1)
            except (w.WriteConflict, PayloadTooLarge):
                return False  # redone on its own by the caller, where it is reported
            except ClientError as exc:
                log.info("a conditional put was refused: %s", exc.response.get("Error", {}).get("Code"))
                return False
            return True

        if len(puts) <= 1:
            return [put(action) for action in puts]
        # Each put runs in a copy of this context: the request's time budget goes with it.
        contexts = [contextvars.copy_context() for _ in puts]
        with ThreadPoolExecutor(max_workers=min(PUT_WORKERS, len(puts))) as pool:
            return list(pool.map(lambda pair: pair[0].run(put, pair[1]), zip(contexts, puts, strict=True)))

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
                log.warning("a batch of %d new users was not written whole: %s", len(batch), type(exc).__name__)
                continue
            for index in batch:
                written[index] = True
        return written

    def put_new_visitor(self, device: Device, user: User) -> bool:
        """A first visit: a device whose veilId was just issued and its new user, both
        fresh ids that nothing can race on, in one BatchWriteItem without conditions
        (a transaction bills twice the writes, DESIGN rule 7). Only a user outside the
        members' contact index. False when the batch did not land whole: the caller
        commits the same items in a transaction (a copy that did land refuses it, and
        the retry reads the device afresh)."""
        if member_contact_index(user):
            return False
        items = [
            to_wire(codec.device_to_item(device.model_copy(update={"version": 0}))),
            to_wire(codec.user_to_item(user.model_copy(update={"version": 0}))),
        ]
        try:
            self.batch_write([{"PutRequest": {"Item": item}} for item in items])
        except (ClientError, UnprocessedItems) as exc:
            log.warning("a first visit's batch did not land whole: %s", type(exc).__name__)
            return False
        return True

    def start_console_session(self, session_id: str, csrf_token: str, expires_at: datetime) -> None:
        item = {
            **keys.console_session_key(session_id),
            "kind": "console-session",
            "csrf": csrf_token,
            "expiresAt": iso(expires_at),
            "ttl": int(expires_at.timestamp()) + 3600,
        }
        self.client.put_item(TableName=self.table, Item=to_wire(item), ConditionExpression="attribute_not_exists(PK)")

    def end_console_session(self, session_id: str) -> None:
        self.client.delete_item(TableName=self.table, Key=to_wire(keys.console_session_key(session_id)))

    def record_failure(self, source: str, key: str, payload: dict[str, Any], reason: str) -> None:
        """Park what can never succeed (a poison stream record) where operators can see it."""
        item = {
            **keys.failure_key(source, key),
            "kind": "failure",
            "payload": json.dumps(payload, default=str),
            "reason": reason[:2000],
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        self.client.put_item(TableName=self.table, Item=to_wire(item))

    def failures(self, source: str) -> list[Item]:
        pk = keys.failure_key(source, "")["PK"]
        return list(self._query(KeyConditionExpression="PK = :pk", ExpressionAttributeValues=to_wire({":pk": pk})))

    def forget_failure(self, source: str, key: str) -> None:
        self.client.delete_item(TableName=self.table, Key=to_wire(keys.failure_key(source, key)))
