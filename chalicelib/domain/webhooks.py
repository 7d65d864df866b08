"""Telling other systems (R12, API.md "Webhooks"): which committed change is which event,
the message each subscribed webhook gets, when a failed delivery is tried again,
and which URLs a deployed stage may post to.

A state change is read from the stream's old and new images, so it is named by
the item and the version it reached: a replayed record names the same change,
and its messages (keyed by change and webhook) are created once.
"""

from __future__ import annotations

import hashlib
import ipaddress
import random
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from .erasure import Erasure
from .errors import InvalidRequest
from .models import Frozen, Status, Unification, User, UserType

EVENT_TYPES = (
    "unification.candidate_created",
    "unification.deferred",
    "unification.completed",
    "unification.cancelled",
    "unification.rejected",
    "user.converted",
    "user.erased",
)
EVENT_OF_STATUS = {
    Status.PENDING_APPROVAL: "unification.candidate_created",
    Status.DEFERRED: "unification.deferred",
    Status.COMPLETED: "unification.completed",
    Status.CANCELLED: "unification.cancelled",
    Status.REJECTED: "unification.rejected",
}
RETRY_FOR = timedelta(hours=24)
FIRST_RETRY = timedelta(seconds=30)
LONGEST_PAUSE = timedelta(hours=1)
DeliveryStatus = Literal["pending", "delivered", "failed"]


class Webhook(Frozen):
    """A subscription: where to post, which events ("*": all), and its signing secret."""

    id: str
    url: str
    events: tuple[str, ...]
    description: str | None = None
    secret: str
    created_at: datetime

    def wants(self, event: str) -> bool:
        return "*" in self.events or event in self.events


class Message(Frozen):
    """One event for one webhook: the body every attempt posts, and how delivery went."""

    id: str
    webhook_id: str
    event: str
    body: str
    created_at: datetime
    status: DeliveryStatus = "pending"
    attempts: int = 0
    last_status_code: int | None = None
    last_error: str | None = None
    next_attempt_at: datetime | None = None
    delivered_at: datetime | None = None
    subjects: tuple[str, ...] = ()
    version: int = 0


@dataclass(frozen=True)
class Change:
    """A committed state change worth telling: its event, what it is about (the record
    as it now is), and the version it reached (with the item, its identity)."""

    event: str
    subject_id: str
    version: int
    at: datetime
    unification: Unification | None = None
    user: User | None = None
    erasure: Erasure | None = None  # user.erased: ids and counts only

    def message_id(self, webhook_id: str) -> str:
        """The same change and webhook always make the same message (replays create nothing)."""
        digest = hashlib.sha256(f"{webhook_id}\n{self.event}\n{self.subject_id}\n{self.version}".encode())
        return "msg_" + digest.hexdigest()[:32]

    @property
    def subjects(self) -> tuple[str, ...]:
        """What the message is about, for an erasure to find it (R11.3): the unification
        (wherever the person stood in it) or the user; an erasure's own notice is about
        no one and stays."""
        return () if self.erasure is not None else (self.subject_id,)


def unification_change(before: Unification | None, after: Unification) -> Change | None:
    """A unification that reached one of the told statuses (R12); None for any other write."""
    event = EVENT_OF_STATUS.get(after.status)
    if event is None or (before is not None and before.status is after.status):
        return None
    return Change(event, after.id, after.version, after.updated_at, unification=after)


def erasure_change(before: Erasure | None, after: Erasure) -> Change | None:
    """An erasure accepted (R11, R12): told at once, with ids and counts only."""
    if before is not None or after.status != "running":
        return None
    return Change("user.erased", after.id, after.version, after.created_at, erasure=after)


def user_change(before: User | None, after: User | None) -> Change | None:
    """A user converted in place into a member by its login (R5.2)."""
    if before is None or after is None or after.is_unified:
        return None
    if before.type in (UserType.ANONYMOUS, UserType.LEAD) and after.type is UserType.MEMBER:
        return Change("user.converted", after.id, after.version, after.updated_at, user=after)
    return None


def check_events(events: Sequence[str]) -> tuple[str, ...]:
    if not events:
        raise InvalidRequest('events must name at least one event type, or be ["*"]', field="events")
    unknown = sorted(set(events) - {*EVENT_TYPES, "*"})
    if unknown:
        raise InvalidRequest(f"unknown event types {unknown}: one of {', '.join(EVENT_TYPES)}, or *", field="events")
    return tuple(dict.fromkeys(events))


def next_attempt(created_at: datetime, attempts: int, now: datetime, rng: random.Random) -> datetime | None:
    """When to try again after `attempts` failed ones: the first retry within a minute,
    then growing, jittered pauses of at most an hour, for 24 hours (API.md); None: give up."""
    pause = min(LONGEST_PAUSE, FIRST_RETRY * 2 ** min(max(0, attempts - 1), 16))
    at = now + pause * rng.uniform(0.5, 1.0)
    return at if at < created_at + RETRY_FOR else None


def url_problem(url: str, *, deployed: bool) -> str | None:
    """Why a webhook URL is refused, if it is (checked again at every delivery)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "the url must be an absolute https:// URL"
    if parts.username or parts.password:
        return "the url must not carry credentials"
    if deployed and parts.scheme != "https":
        return "a deployed stage posts to https:// URLs only"
    if not deployed and parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        return "http:// is allowed for 127.0.0.1 only (make run); use https://"
    return None


def address_problem(address: str, *, deployed: bool) -> str | None:
    """Why posting to a resolved address is refused: a deployed stage never posts to
    loopback, private, link-local or otherwise internal addresses (SSRF)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    internal = (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or (isinstance(ip, ipaddress.IPv4Address) and ip in ipaddress.ip_network("100.64.0.0/10"))
    )
    if deployed and internal:
        return f"the url resolves to an internal address ({ip})"
    if not deployed and not ip.is_loopback and internal:
        return f"the url resolves to an internal address ({ip}); make run allows 127.0.0.1"
    return None
