"""The cursors the lists hand out (API.md: opaque strings), as strict typed records.

A cursor is base64url JSON of one of the models below. Decoding checks its
kind and every value's type and size: a tampered cursor is a 400
`invalid_request`, never a 500, and it can only narrow what the request
itself may read (the owners a read may list come from the table, never from
the cursor).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from ..domain.errors import InvalidRequest
from .base import BAD_CURSOR

Text = Annotated[str, StringConstraints(min_length=1, max_length=1100)]
Position = Annotated[str, StringConstraints(max_length=1100)]
Order = Literal["oldest", "newest"]


class Cursor(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class TableKey(Cursor):
    """Where a Query of the base table resumes (its LastEvaluatedKey)."""

    PK: Text
    SK: Text

    def wire(self) -> dict[str, Any]:
        return {"PK": {"S": self.PK}, "SK": {"S": self.SK}}


class HistoryCursor(Cursor):
    """A read across a user's partition and the partitions moving into it (R3.3).

    `owners`: the partitions still to read, the first one resuming after `key`;
    `reached`: for every partition read so far, how far this read has listed it
    (its last sort key, in the read's order; `done` when wholly listed)."""

    t: Literal["h"]
    order: Order = "oldest"
    owners: Annotated[list[Text], Field(max_length=101)]
    reached: Annotated[dict[Text, Position], Field(max_length=202)] = {}
    key: TableKey | None = None


class MessagesCursor(Cursor):
    t: Literal["m"]
    order: Order
    key: TableKey


class StatusCursor(Cursor):
    """Unifications by status, gathered from the status key's shards: the statuses
    still to list, and per shard of the first one the last sort key listed
    (`done` when it is exhausted)."""

    t: Literal["us"]
    statuses: Annotated[list[Text], Field(min_length=1, max_length=10)]
    shards: Annotated[dict[Text, Position], Field(max_length=64)] = {}


class UserUnificationsCursor(Cursor):
    """Unifications of a user: as source (phase 0), then as target (phase 1)."""

    t: Literal["uu"]
    phase: Annotated[int, Field(ge=0, le=1)]
    after: Position = ""


C = TypeVar("C", bound=Cursor)
DONE = "\uffff"  # a position past every sort key: the partition or shard is wholly listed


def encode(cursor: Cursor) -> str:
    data = json.dumps(cursor.model_dump(exclude_defaults=False), separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(data.encode()).decode()


def decode(cursor: str | None, model: type[C]) -> C | None:
    if cursor is None:
        return None
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return model.model_validate(raw)
    except (ValueError, binascii.Error, UnicodeError, ValidationError, TypeError) as exc:
        raise InvalidRequest(BAD_CURSOR, field="cursor") from exc
