"""Contact normalization (R1.4): phones to E.164, emails validated and lowercased."""

from __future__ import annotations

from .errors import InvalidRequest

CONTACT_FIELDS = ("mobileNumber", "email")


def normalize_phone(raw: str, default_region: str) -> str:
    """`090-1234-5678` and `+81 90 1234 5678` are one number: +819012345678 (R1.4)."""
    import phonenumbers  # on first use: its metadata costs a Lambda cold start 11 ms

    try:
        parsed = phonenumbers.parse(raw.strip(), default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidRequest(f"mobileNumber is not a phone number: {raw!r}", field="mobileNumber") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidRequest(f"mobileNumber is not a valid number: {raw!r}", field="mobileNumber")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(raw: str) -> str:
    """Emails are trimmed, validated (syntax only, no DNS) and lowercased (R1.4)."""
    from email_validator import EmailNotValidError, validate_email  # on first use: 13 ms of regexes

    try:
        result = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidRequest(f"email is not a valid address: {raw!r}", field="email") from exc
    return result.normalized.lower()


def normalize_contact(field: str, raw: str, default_region: str) -> str:
    if field == "mobileNumber":
        return normalize_phone(raw, default_region)
    if field == "email":
        return normalize_email(raw)
    return raw
