"""Devices (R4.1): the veilId a browser keeps, and what the service keeps of it.

A veilId is a device secret, issued by the service (192 random bits; a
client-chosen or unknown one is replaced) and never shown to anyone but its
own device. The table keys a device by a hash of its veilId, and session
tokens name that hash, so neither a token nor a stored key reveals a veilId.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets

# A member lists its latest devices only (Open API answers); older ones stay usable.
MAX_LISTED_DEVICES = 10
HANDLE = re.compile(r"[A-Za-z0-9_-]{27}")


def new_veil_id() -> str:
    return "v_" + secrets.token_urlsafe(24)


def device_handle(veil_id: str) -> str:
    """What the table and session tokens know a device by: 160 bits of SHA-256(veilId)."""
    digest = hashlib.sha256(veil_id.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()[:27]


def is_handle(text: str) -> bool:
    return HANDLE.fullmatch(text) is not None


def listed_devices(current: tuple[str, ...], *added: str) -> tuple[str, ...]:
    """The latest MAX_LISTED_DEVICES veilIds, newest last (R4.1; a member's list is bounded)."""
    latest = [v for v in current if v not in added] + list(dict.fromkeys(added))
    return tuple(latest[-MAX_LISTED_DEVICES:])
