"""The one table, spoken to: single reads, batched reads and writes, paged queries.

Everything the store's other modules share: strongly consistent reads of the
base table, BatchGetItem in hundreds with unprocessed keys asked again,
BatchWriteItem in 25s with unprocessed items resent, and the translation of
DynamoDB's refusals the contract knows (an item over 400 KB is a 413).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from typing import Any

from botocore.exceptions import ClientError

from ..domain.errors import InvalidRequest, PayloadTooLarge
from .codec import Item, from_wire, to_wire

BATCH_GET_SIZE = 100
BATCH_WRITE_SIZE = 25
BAD_CURSOR = "cursor is not one this service handed out"


class UnprocessedItems(RuntimeError):
    """DynamoDB kept leaving some of a BatchWriteItem's items unprocessed (throttling)."""


def raise_if_too_large(exc: ClientError) -> None:
    """DynamoDB's 400 KB item limit, as the contract's 413."""
    error = exc.response.get("Error", {})
    if error.get("Code") == "ValidationException" and "size" in str(error.get("Message", "")).lower():
        raise PayloadTooLarge("the record would exceed DynamoDB's 400 KB item size") from exc
    reasons = exc.response.get("CancellationReasons") or []
    if any(r.get("Code") == "ValidationError" and "size" in str(r.get("Message", "")).lower() for r in reasons):
        raise PayloadTooLarge("the record would exceed DynamoDB's 400 KB item size") from exc


class TableClient:
    """The table's name and its client; the store's modules are mixins over this."""

    def __init__(self, client: Any, table_name: str) -> None:
        self.client = client
        self.table = table_name

    def _get(self, key: Item, consistent: bool = True) -> Item | None:
        raw = self.client.get_item(TableName=self.table, Key=to_wire(key), ConsistentRead=consistent)
        return from_wire(raw["Item"]) if "Item" in raw else None

    def _batch_get(self, keys: Sequence[Item], consistent: bool = True) -> Iterator[Item]:
        """The items that exist among `keys`: BatchGetItem, 100 keys a request,
        strongly consistent unless told (half the read units), unprocessed keys
        asked again."""
        unique = list({json.dumps(k, sort_keys=True): k for k in keys}.values())
        for start in range(0, len(unique), BATCH_GET_SIZE):
            wire_keys = [to_wire(k) for k in unique[start : start + BATCH_GET_SIZE]]
            request: dict[str, Any] = {self.table: {"Keys": wire_keys, "ConsistentRead": consistent}}
            while request:
                raw = self.client.batch_get_item(RequestItems=request)
                for wire_item in raw["Responses"].get(self.table, []):
                    yield from_wire(wire_item)
                request = raw.get("UnprocessedKeys") or {}
                if request:
                    time.sleep(0.05)

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

    def _query_page(self, **kwargs: Any) -> dict[str, Any]:
        """One page of a query; a start key that does not fit the query is a bad cursor (400)."""
        try:
            page: dict[str, Any] = self.client.query(TableName=self.table, **kwargs)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ValidationException":
                raise InvalidRequest(BAD_CURSOR, field="cursor") from exc
            raise
        return page

    @staticmethod
    def _prefix_query(pk: str, prefix: str, **kwargs: Any) -> dict[str, Any]:
        return {
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
            "ExpressionAttributeValues": to_wire({":pk": pk, ":prefix": prefix}),
            **kwargs,
        }

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
