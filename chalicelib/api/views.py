"""Response shapes of API.md, built from domain records."""

from __future__ import annotations

from typing import Any

from ..domain.erasure import Erasure
from ..domain.models import Delivery, Device, Event, FieldDecision, Status, Unification, User
from ..domain.timefmt import iso, iso_or_none
from ..domain.webhooks import Change, Webhook
from ..domain.webhooks import Message as WebhookMessage
from ..service.history import ChatView, MessageView


def user_json(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "type": user.type.value,
        "memberId": user.member_id,
        "displayName": user.display_name,
        "veilIds": list(user.veil_ids),
        "channel": user.channel.value,
        "profile": user.profile,
        "verifiedFields": user.verified_fields,
        "unsubscribeEmail": user.unsubscribe_email,
        "unsubscribeTexting": user.unsubscribe_texting,
        "unifiedInto": user.unified_into,
        "unifiedAt": iso_or_none(user.unified_at),
        "pendingUnifications": list(user.pending_unifications),
        "externalId": user.external_id,
        "avatarUrl": user.avatar_url,
        "createdAt": iso(user.created_at),
        "updatedAt": iso(user.updated_at),
        "lastSeenAt": iso_or_none(user.last_seen_at),
    }


def customer_user_json(user: User, own_veil_id: str) -> dict[str, Any]:
    """A user as the customer side shows it: veilIds are device secrets, so the answer
    lists the caller's own device only, never the member's others (API.md)."""
    return {**user_json(user), "veilIds": [own_veil_id] if own_veil_id in user.veil_ids else []}


def decision_json(d: FieldDecision) -> dict[str, Any]:
    return {
        "field": d.field,
        "winner": d.winner,
        "rule": d.rule.value,
        "sourceValue": d.source_value,
        "sourceVerified": d.source_verified,
        "targetValue": d.target_value,
        "targetVerified": d.target_verified,
        "value": d.value,
    }


def unification_json(u: Unification) -> dict[str, Any]:
    p = u.progress
    when_approved = None
    if u.status is Status.PENDING_APPROVAL and u.source_visited is not None:
        when_approved = "at_member_login" if u.source_visited else "immediately"
    return {
        "id": u.id,
        "sourceUserId": u.source_user_id,
        "targetUserId": u.target_user_id,
        "targetMemberId": u.target_member_id,
        "trigger": u.trigger.value,
        "status": u.status.value,
        "matchedOn": list(u.matched_on),
        "fieldDecisions": [decision_json(d) for d in u.field_decisions],
        "progress": {
            "chats": {"moved": p.chats_moved, "total": p.chats_total if p.counted else None},
            "events": {"moved": p.events_moved, "total": p.events_total if p.counted else None},
        },
        "moves": {"chats": p.chats_total, "events": p.events_total, "deliveries": p.deliveries},
        "waitingFor": u.waiting_for,
        "whenApproved": when_approved,
        "sourceDisplayName": u.source_display_name,
        "targetDisplayName": u.target_display_name,
        "reason": u.reason,
        "createdAt": iso(u.created_at),
        "approvedAt": iso_or_none(u.approved_at),
        "completedAt": iso_or_none(u.completed_at),
    }


def console_session_json(session: Any) -> dict[str, Any]:
    """The console's session: its CSRF token (kept in the page's memory only) and expiry."""
    return {"csrfToken": session.csrf_token, "expiresAt": iso(session.expires_at)}


def session_json(device: Device) -> dict[str, Any]:
    return {"id": device.session_id, "expiresAt": iso(device.expires_at), "loggedIn": device.logged_in}


def message_json(view: MessageView) -> dict[str, Any]:
    m = view.message
    return {
        "id": m.id,
        "chatId": m.chat_id,
        "personType": m.person_type,
        "personId": m.person_id,
        "personName": view.person_name,
        "text": m.text,
        "createdAt": iso(m.created_at),
    }


def chat_json(view: ChatView, messages: list[MessageView]) -> dict[str, Any]:
    """A chat with its latest messages; `messagesCursor` continues with the earlier ones."""
    return {
        "id": view.chat.id,
        "userId": view.owner_id,
        "channel": view.chat.channel.value,
        "createdAt": iso(view.chat.created_at),
        "messages": [message_json(m) for m in messages],
        "messagesCursor": view.earlier,
    }


def event_json(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "userId": event.user_id,
        "name": event.name,
        "properties": event.properties,
        "createdAt": iso(event.created_at),
    }


def delivery_json(delivery: Delivery) -> dict[str, Any]:
    return {
        "campaignId": delivery.campaign_id,
        "userId": delivery.user_id,
        "deliveredAt": iso(delivery.delivered_at),
    }


# webhooks (R12) ---------------------------------------------------------------


def change_json(change: Change) -> dict[str, Any]:
    """A webhook message's body (API.md): ids and state of what changed, never a secret."""
    if change.unification is not None:
        data: dict[str, Any] = {"unification": unification_json(change.unification)}
    elif change.user is not None:
        data = {"user": user_json(change.user)}
    else:
        assert change.erasure is not None
        data = {"erasure": erasure_json(change.erasure)}
    return {"type": change.event, "timestamp": iso(change.at), "data": data}


def erasure_json(e: Erasure) -> dict[str, Any]:
    """An erasure (API.md, Erasure): ids, counts and progress, nothing else about the person."""
    return {
        "id": e.id,
        "userIds": list(e.user_ids),
        "memberId": e.member_id,
        "status": e.status,
        "counts": e.counts.model_dump(),
        "progress": {"erased": e.erased, "total": e.total},
        "createdAt": iso(e.created_at),
        "completedAt": iso_or_none(e.completed_at),
    }


def webhook_json(webhook: Webhook, with_secret: bool = False) -> dict[str, Any]:
    shown = {
        "id": webhook.id,
        "url": webhook.url,
        "events": list(webhook.events),
        "description": webhook.description,
        "createdAt": iso(webhook.created_at),
    }
    return {**shown, "secret": webhook.secret} if with_secret else shown


def webhook_delivery_json(message: WebhookMessage) -> dict[str, Any]:
    return {
        "id": message.id,
        "event": message.event,
        "status": message.status,
        "attempts": message.attempts,
        "lastStatusCode": message.last_status_code,
        "lastError": message.last_error,
        "nextAttemptAt": iso_or_none(message.next_attempt_at) if message.status == "pending" else None,
        "createdAt": iso(message.created_at),
        "deliveredAt": iso_or_none(message.delivered_at),
    }
