"""Webhooks (R12, API.md "Webhooks"): subscriptions, a message per committed change and
subscribed webhook (created from the stream, the outbox), and delivery.

Claim, send, record: an attempt claims the message with a lease (a conditional
write), posts it signed as the Standard Webhooks specification says, and
records the outcome over the version it read. Each message is delivered by an
invocation of its own, so a subscriber that is down or slow never delays
another's messages or the stream. Due retries are listed in a write-sharded
index (no scan, no hot key) and re-driven by the schedule.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import random
import secrets
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

from standardwebhooks import Webhook as Signer

from .. import observability as ops
from ..domain.erasure import forget_values
from ..domain.errors import InvalidRequest, NotFound
from ..domain.timefmt import iso
from ..domain.webhooks import Change, Message, Webhook, check_events, next_attempt, url_problem
from .deps import Deps
from .ports import Page

log = logging.getLogger(__name__)
LEASE = timedelta(seconds=30)
SUBSCRIPTIONS_TTL = 10.0  # seconds a container trusts the subscriptions it read (the stream refreshes them too)
SECOND_TRY_AFTER = (4.0, 8.0)  # seconds: the first retry, within the same invocation


class Invoker(Protocol):
    """Runs one message's delivery on its own (a Lambda invocation; a thread locally)."""

    def deliver(self, ref: str) -> None: ...


Post = Callable[[str, bytes, dict[str, str]], Any]  # (url, body, headers) -> webhook_http.Outcome


class Webhooks:
    def __init__(self, deps: Deps, render: Callable[[Change], dict[str, Any]], post: Post) -> None:
        self.deps = deps
        self.render = render
        self.post = post
        self.invoker: Invoker | None = None
        self._subscribed: tuple[float, list[Webhook]] | None = None
        self.rng = random.SystemRandom()

    # subscriptions ------------------------------------------------------------------

    def subscribe(self, url: str, events: list[str], description: str | None) -> Webhook:
        """A new subscription; its secret is shown in this answer only."""
        problem = url_problem(url, deployed=self.deps.settings.deployed)
        if problem is None:
            problem = self._resolves_badly(url)
        if problem is not None:
            raise InvalidRequest(problem, field="url")
        webhook = Webhook(
            id=self.deps.clock.new_id("wh_"),
            url=url,
            events=check_events(events),
            description=description,
            secret="whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
            created_at=self.deps.clock.now(),
        )
        self.deps.store.save_webhook(webhook)
        self.forget_subscriptions()
        return webhook

    def _resolves_badly(self, url: str) -> str | None:
        import urllib.parse

        from .. import webhook_http  # the network side, only where a URL is checked or posted to

        parts = urllib.parse.urlsplit(url)
        try:
            webhook_http.resolve(parts.hostname or "", parts.port or 443, deployed=self.deps.settings.deployed)
        except webhook_http.Refused as refused:
            return str(refused)
        return None

    def listed(self) -> list[Webhook]:
        return sorted(self.deps.store.webhooks(), key=lambda w: w.created_at)

    def unsubscribe(self, webhook_id: str) -> None:
        if not self.deps.store.delete_webhook(webhook_id):
            raise NotFound(f"no webhook {webhook_id}")
        self.forget_subscriptions()

    def deliveries(self, webhook_id: str, cursor: str | None, limit: int) -> Page[Message]:
        if self.deps.store.get_webhook(webhook_id) is None:
            raise NotFound(f"no webhook {webhook_id}")
        return self.deps.store.messages_of(webhook_id, cursor, limit)

    def subscribed(self) -> list[Webhook]:
        now = time.monotonic()
        if self._subscribed is None or self._subscribed[0] < now:
            self._subscribed = (now + SUBSCRIPTIONS_TTL, self.deps.store.webhooks())
        return self._subscribed[1]

    def forget_subscriptions(self) -> None:
        self._subscribed = None

    # messages, from the stream ------------------------------------------------------------

    def tell(self, change: Change) -> int:
        """One message per subscribed webhook that wants this change (replays create none)."""
        created = 0
        wanting = [webhook for webhook in self.subscribed() if webhook.wants(change.event)]
        told = self._as_told(change) if wanting else None
        if told is None:
            return 0
        for webhook in wanting:
            body = json.dumps(self.render(told), ensure_ascii=False, separators=(",", ":"))
            message = Message(
                id=change.message_id(webhook.id),
                webhook_id=webhook.id,
                event=change.event,
                body=body,
                created_at=change.at,
                next_attempt_at=change.at,
                subjects=change.subjects,
            )
            if self.deps.store.create_message(message):
                created += 1
                self._hand_over(message)
        return created

    def _as_told(self, change: Change) -> Change | None:
        """A change about a person erased since (R11.3) is told without their values; a
        conversion of an erased user is not told at all."""
        if change.unification is not None:
            u = change.unification
            present = self.deps.store.get_users([u.source_user_id, u.target_user_id])
            if len(present) < len({u.source_user_id, u.target_user_id}):
                return dataclasses.replace(change, unification=forget_values(u))
        elif change.user is not None and self.deps.store.get_user(change.user.id) is None:
            return None
        return change

    def _hand_over(self, message: Message) -> None:
        from ..store.webhooks import message_ref

        if self.invoker is None:
            return  # the schedule finds it due
        try:
            self.invoker.deliver(message_ref(message))
        except Exception:
            log.exception("handing message %s over for delivery failed; the schedule will", message.id)

    def retry_due(self) -> int:
        """Scheduled: hand over every message whose next attempt is due (not yet leased)."""
        refs = self.deps.store.due_messages(self.deps.clock.now())
        for ref in refs:
            if self.invoker is not None:
                self.invoker.deliver(ref)
        return len(refs)

    # delivery -------------------------------------------------------------------------

    def deliver(self, ref: str) -> str:
        """One delivery: an attempt, and if a message's first attempt fails, one more after
        a few seconds (the first retry within a minute); the schedule's after that (R12).
        Returns the message's status afterwards."""
        message = self.attempt(ref)
        if message is None or message.status != "pending" or message.attempts != 1:
            return message.status if message else "gone"
        time.sleep(self.rng.uniform(*SECOND_TRY_AFTER))
        again = self.attempt(ref)
        return again.status if again else "gone"

    def attempt(self, ref: str) -> Message | None:
        store, now = self.deps.store, self.deps.clock.now()
        message = store.get_message(ref)
        if message is None or message.status != "pending":
            return message
        webhook = store.get_webhook(message.webhook_id)
        if webhook is None:  # unsubscribed meanwhile: it gets nothing more
            done = message.model_copy(update={"status": "failed", "last_error": "the webhook was deleted"})
            store.save_attempt(done)
            return done
        if not store.claim_message(message, now, now + LEASE):
            return None  # another attempt holds it
        signed_at = datetime.fromtimestamp(int(time.time())).astimezone()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "unification-webhooks/1",
            "webhook-id": message.id,
            "webhook-timestamp": str(int(signed_at.timestamp())),
            "webhook-signature": Signer(webhook.secret).sign(message.id, signed_at, message.body),
        }
        outcome = self.post(webhook.url, message.body.encode(), headers)
        after = self.deps.clock.now()
        attempts = message.attempts + 1
        if outcome.status is not None and 200 <= outcome.status < 300:
            done = message.model_copy(
                update={
                    "status": "delivered",
                    "attempts": attempts,
                    "last_status_code": outcome.status,
                    "last_error": None,
                    "delivered_at": after,
                    "next_attempt_at": None,
                }
            )
        else:
            retry_at = next_attempt(message.created_at, attempts, after, self.rng)
            done = message.model_copy(
                update={
                    "status": "pending" if retry_at else "failed",
                    "attempts": attempts,
                    "last_status_code": outcome.status,
                    "last_error": outcome.error,
                    "next_attempt_at": retry_at,
                }
            )
        store.save_attempt(done)
        next_at = iso(done.next_attempt_at) if done.next_attempt_at else None
        ops.webhook_attempt(webhook.id, message.id, message.event, attempts, done.status, outcome.status, next_at)
        return done
