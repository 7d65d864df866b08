"""The OpenAPI document without a server: a valid OpenAPI 3.1 document naming every
route the app serves, and response models that accept what `views` produces."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any, get_args

import pytest
from openapi_spec_validator import validate
from pydantic import BaseModel

import app
from chalicelib.api import openapi, views
from chalicelib.api import responses as r
from chalicelib.api.errors import STATUS_BY_CODE, error_body
from chalicelib.domain.models import (
    Channel,
    Chat,
    Delivery,
    Device,
    Event,
    FieldDecision,
    FieldValue,
    Message,
    Progress,
    Rule,
    Status,
    Trigger,
    Unification,
    User,
    UserType,
)
from chalicelib.service.history import ChatView, MessageView

T0 = datetime(2026, 11, 28, 17, 0, 0, 123456, tzinfo=UTC)


def test_the_document_is_valid_openapi_3_1() -> None:
    document = openapi.document()
    assert document["openapi"] == "3.1.0"
    validate(document)


def test_the_document_names_every_route_the_app_serves() -> None:
    def shape(path: str) -> str:
        return re.sub(r"\{[^}]+\}", "{}", path)

    served = {(shape(path), method) for path, entry in app.app.routes.items() for method in entry}
    documented = {(shape(path), method.upper()) for path, ops in openapi.document()["paths"].items() for method in ops}
    assert documented == served


def test_every_error_code_is_documented() -> None:
    assert set(get_args(r.ErrorCode)) == set(STATUS_BY_CODE)


def make_user(**changes: Any) -> User:
    base = User(id="u_1", type=UserType.ANONYMOUS, channel=Channel.WEB, created_at=T0, updated_at=T0)
    return base.model_copy(update=changes)


USERS = [
    make_user(),
    make_user(
        type=UserType.MEMBER,
        member_id="m-1",
        channel=Channel.LINE,
        external_id="line-1",
        avatar_url="https://example.com/a.png",
        fields={
            "name": FieldValue(value="Hanako", verified=True, updated_at=T0),
            "mobileNumber": FieldValue(value="+819012345678", verified=False, updated_at=T0),
            "vip": FieldValue(value=True, verified=False, updated_at=T0),
            "score": FieldValue(value=1.5, verified=False, updated_at=T0),
            "visits": FieldValue(value=3, verified=False, updated_at=T0),
        },
        veil_ids=("v1", "v2"),
        unsubscribe_email=True,
        unified_into="u_2",
        unified_at=T0,
        pending_unifications=("un_1",),
        last_seen_at=T0,
    ),
]
UNIFICATIONS = [
    Unification(
        id="un_1",
        source_user_id="u_1",
        target_user_id="u_2",
        target_member_id="m-1",
        trigger=Trigger.LOGIN,
        status=Status.PENDING_APPROVAL,
        created_at=T0,
        updated_at=T0,
    ),
    Unification(
        id="un_2",
        source_user_id="u_1",
        target_user_id="u_2",
        target_member_id="m-1",
        trigger=Trigger.CSV_IMPORT,
        status=Status.COMPLETED,
        matched_on=("email",),
        field_decisions=(FieldDecision(field="email", winner="target", rule=Rule.VERIFIED),),
        progress=Progress(chats_moved=1, chats_total=2, events_moved=3, events_total=3, counted=True),
        reason="login",
        created_at=T0,
        updated_at=T0,
        approved_at=T0 + timedelta(seconds=1),
        completed_at=T0 + timedelta(seconds=2),
    ),
]
MESSAGE = MessageView(
    Message(
        id="msg_1", chat_id="c_1", person_type="manager", person_id="u_1", manager_name="Ken", text="hi", created_at=T0
    ),
    person_name="Ken",
)
CHAT = ChatView(Chat(id="c_1", creator_id="u_1", channel=Channel.WEB, created_at=T0), owner_id="u_2", messages=[])
DEVICE = Device(veil_id="v1", session_id="s_1", user_id="u_1", started_at=T0, expires_at=T0, logged_in=True)
EVENT = Event(id="e_1", user_id="u_1", name="viewed", properties={"page": "/", "n": [1, {"a": None}]}, created_at=T0)
DELIVERY = Delivery(campaign_id="camp-1", user_id="u_1", delivered_at=T0)


@pytest.mark.parametrize(
    ("model", "payload"),
    [
        *((r.User, views.user_json(user)) for user in USERS),
        *((r.Unification, views.unification_json(u)) for u in UNIFICATIONS),
        (r.Session, views.session_json(DEVICE)),
        (r.Message, views.message_json(MESSAGE)),
        (r.Chat, views.chat_json(CHAT, [MESSAGE])),
        (r.Event, views.event_json(EVENT)),
        (r.Delivery, views.delivery_json(DELIVERY)),
        (r.ErrorBody, error_body("not_found", "no user u_9")),
        (r.ErrorBody, error_body("user_unified", "unified", unifiedInto="u_2")),
        (r.ErrorBody, error_body("invalid_request", "bad", fields=[{"field": "text", "problem": "too long"}])),
        (r.ErrorBody, error_body("invalid_request", "bad", fields=["foo", "bar"])),
        (r.ErrorBody, error_body("invalid_request", "bad", field="limit")),
    ],
)
def test_views_produce_the_documented_shapes(model: type[BaseModel], payload: dict[str, Any]) -> None:
    assert model.model_validate(payload).model_dump(mode="json", by_alias=True, exclude_unset=True) == payload


def test_times_are_iso_utc_with_milliseconds() -> None:
    assert views.user_json(USERS[0])["createdAt"] == "2026-11-28T17:00:00.123Z"
