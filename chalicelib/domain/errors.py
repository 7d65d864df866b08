"""Typed business errors. `api.errors` maps each code to HTTP once."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A refusal the contract knows; `code` is the contract's error code."""

    code = "invalid_request"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidRequest(DomainError):
    code = "invalid_request"


class Unauthorized(DomainError):
    code = "unauthorized"


class NotFound(DomainError):
    code = "not_found"


class UnificationNotAllowed(DomainError):
    code = "unification_not_allowed"


class AlreadyDelivered(DomainError):
    code = "already_delivered"


class UserUnified(DomainError):
    """A write addressed to a frozen, unified user (R1.3, R3.5)."""

    code = "user_unified"

    def __init__(self, user_id: str, unified_into: str) -> None:
        super().__init__(f"user {user_id} has been unified into {unified_into}", unifiedInto=unified_into)
        self.unified_into = unified_into


class InvalidState(DomainError):
    code = "invalid_state"


class PayloadTooLarge(DomainError):
    code = "payload_too_large"


class UnsupportedMediaType(DomainError):
    code = "unsupported_media_type"


class RetriesExhausted(RuntimeError):
    """Raised after the bounded optimistic retries conflicted every time (service.retry):
    surfaced as `unavailable`, never swallowed."""


class ReceiptTaken(Exception):
    """A live receipt already holds this request's `Idempotency-Key` (API.md): its
    answer is the answer. Raised by the store when the receipt's write is refused."""

    def __init__(self, receipt_id: str, fingerprint: str) -> None:
        super().__init__(f"receipt {receipt_id} exists")
        self.receipt_id = receipt_id
        self.fingerprint = fingerprint
