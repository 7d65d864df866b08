"""Credentials: Open API keys, the SDK's plugin key, bearer session tokens."""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from ..config import Settings
from ..domain.errors import Unauthorized
from ..secrets import matches


def _equal(given: str | None, expected: str | None) -> bool:
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name) or headers.get(name.lower())
    return value.strip() if value else None


def require_access(headers: Mapping[str, str], settings: Settings) -> None:
    key_ok = _equal(_header(headers, "X-Access-Key"), settings.access_key)
    secret_ok = matches(_header(headers, "X-Access-Secret"), settings.access_secrets)  # either during a rotation
    if not (key_ok and secret_ok):
        raise Unauthorized("X-Access-Key and X-Access-Secret are missing or wrong")


def require_plugin_key(headers: Mapping[str, str], settings: Settings) -> None:
    if not _equal(_header(headers, "X-Plugin-Key"), settings.plugin_key):
        raise Unauthorized("X-Plugin-Key is missing or wrong")


def bearer_token(headers: Mapping[str, str]) -> str:
    value = _header(headers, "Authorization") or ""
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Authorization: Bearer <sessionToken> is required")
    return token.strip()
