"""DynamoDB stream records (Lambda's event shape) decoded into items."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..domain.erasure import Erasure
from ..domain.models import LoginRecord, Message, Unification, User
from .codec import (
    Item,
    erasure_from_item,
    from_wire,
    login_from_item,
    message_from_item,
    unification_from_item,
    user_from_item,
)


@dataclass(frozen=True)
class StreamRecord:
    sequence_number: str
    event_name: str
    new_image: Item | None
    old_image: Item | None

    @property
    def kind(self) -> str | None:
        image = self.new_image or self.old_image or {}
        kind = image.get("kind")
        return str(kind) if kind is not None else None

    def unification(self) -> Unification | None:
        if self.kind != "unification" or self.new_image is None:
            return None
        return unification_from_item(self.new_image)

    def unification_before(self) -> Unification | None:
        if self.kind != "unification" or self.old_image is None:
            return None
        return unification_from_item(self.old_image)

    def erasure(self) -> Erasure | None:
        if self.kind != "erasure" or self.new_image is None:
            return None
        return erasure_from_item(self.new_image)

    def erasure_before(self) -> Erasure | None:
        if self.kind != "erasure" or self.old_image is None:
            return None
        return erasure_from_item(self.old_image)

    def login(self) -> LoginRecord | None:
        if self.kind != "login" or self.new_image is None:
            return None
        return login_from_item(self.new_image)

    def message(self) -> Message | None:
        if self.kind != "message" or self.new_image is None:
            return None
        return message_from_item(self.new_image)

    def user(self) -> User | None:
        if self.kind != "user" or self.new_image is None:
            return None
        return user_from_item(self.new_image)

    def user_before(self) -> User | None:
        if self.kind != "user" or self.old_image is None:
            return None
        return user_from_item(self.old_image)


def decode_records(event: dict[str, Any]) -> list[StreamRecord]:
    records = []
    for raw in event.get("Records", []):
        body = raw.get("dynamodb", {})
        records.append(
            StreamRecord(
                sequence_number=str(body.get("SequenceNumber", "")),
                event_name=str(raw.get("eventName", "")),
                new_image=from_wire(body["NewImage"]) if "NewImage" in body else None,
                old_image=from_wire(body["OldImage"]) if "OldImage" in body else None,
            )
        )
    return records
