"""R1.4: contact normalization and profile validation (`normalize_phone`, `normalize_email`, `validate_profile`)."""

from __future__ import annotations

import pytest

from chalicelib.domain.contacts import normalize_contact, normalize_email, normalize_phone
from chalicelib.domain.errors import InvalidRequest
from chalicelib.domain.profile import RESERVED_KEYS, validate_profile


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("090-1234-5678", "JP", "+819012345678"),
        ("+81 90 1234 5678", "JP", "+819012345678"),
        ("09012345678", "JP", "+819012345678"),
        ("+81-90-1234-5678", "JP", "+819012345678"),
        ("  090 1234 5678  ", "JP", "+819012345678"),
        ("080-1234-5678", "JP", "+818012345678"),
        ("+81 90 1234 5678", "US", "+819012345678"),
        ("650-253-0000", "US", "+16502530000"),
    ],
    ids=[
        "R1.4-phone-jp-domestic-dashes",
        "R1.4-phone-jp-international-spaces",
        "R1.4-phone-jp-digits-only",
        "R1.4-phone-jp-international-dashes",
        "R1.4-phone-surrounding-spaces-trimmed",
        "R1.4-phone-jp-080",
        "R1.4-phone-international-ignores-default-region",
        "R1.4-phone-default-region-configurable",
    ],
)
def test_normalize_phone(raw: str, region: str, expected: str) -> None:
    assert normalize_phone(raw, region) == expected


def test_normalize_phone_seed_formats_are_one_number() -> None:
    assert normalize_phone("090-1234-5678", "JP") == normalize_phone("+81 90 1234 5678", "JP") == "+819012345678"


@pytest.mark.parametrize(
    "raw",
    ["", "abc", "12", "090-1234", "090-1234-5678-9999", "+81 00 0000 0000"],
    ids=[
        "R1.4-phone-empty-refused",
        "R1.4-phone-letters-refused",
        "R1.4-phone-too-short-refused",
        "R1.4-phone-truncated-refused",
        "R1.4-phone-too-long-refused",
        "R1.4-phone-invalid-number-refused",
    ],
)
def test_normalize_phone_refuses_invalid(raw: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        normalize_phone(raw, "JP")
    assert info.value.code == "invalid_request"
    assert info.value.details == {"field": "mobileNumber"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("taro@example.com", "taro@example.com"),
        ("Taro.Yamada@Example.COM", "taro.yamada@example.com"),
        ("  hanako@example.co.jp \n", "hanako@example.co.jp"),
        ("TARO+shop@EXAMPLE.com", "taro+shop@example.com"),
    ],
    ids=[
        "R1.4-email-plain-kept",
        "R1.4-email-lowercased",
        "R1.4-email-trimmed",
        "R1.4-email-plus-tag-lowercased",
    ],
)
def test_normalize_email(raw: str, expected: str) -> None:
    assert normalize_email(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["", "not-an-email", "a@b", "two@@example.com", "sp ace@example.com", "@example.com", "taro@"],
    ids=[
        "R1.4-email-empty-refused",
        "R1.4-email-no-at-refused",
        "R1.4-email-no-tld-refused",
        "R1.4-email-double-at-refused",
        "R1.4-email-space-refused",
        "R1.4-email-no-local-part-refused",
        "R1.4-email-no-domain-refused",
    ],
)
def test_normalize_email_refuses_invalid(raw: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        normalize_email(raw)
    assert info.value.details == {"field": "email"}


def test_normalize_contact_dispatches_by_field() -> None:
    assert normalize_contact("mobileNumber", "090-1234-5678", "JP") == "+819012345678"
    assert normalize_contact("email", " A@Example.com", "JP") == "a@example.com"
    assert normalize_contact("name", " Taro ", "JP") == " Taro "


# validate_profile -----------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"mobileNumber": "090-1234-5678"}, {"mobileNumber": "+819012345678"}),
        ({"mobileNumber": "+81 90 1234 5678"}, {"mobileNumber": "+819012345678"}),
        ({"email": " Taro@Example.COM "}, {"email": "taro@example.com"}),
        ({"name": "山田太郎", "companyName": "ACME"}, {"name": "山田太郎", "companyName": "ACME"}),
        ({"name": None, "email": None}, {"name": None, "email": None}),
        ({"mobileNumber": "   "}, {"mobileNumber": None}),
        ({"loyaltyPoints": 120}, {"loyaltyPoints": 120}),
        ({"ratio": 0.5}, {"ratio": 0.5}),
        ({"vip": True, "optIn": False}, {"vip": True, "optIn": False}),
        ({"zero": 0}, {"zero": 0}),
        ({"plan_2": "gold"}, {"plan_2": "gold"}),
        ({"k" * 64: "v"}, {"k" * 64: "v"}),
        ({"note": "x" * 1000}, {"note": "x" * 1000}),
        ({"name": "n" * 1000}, {"name": "n" * 1000}),
        ({}, {}),
    ],
    ids=[
        "R1.4-profile-phone-domestic-normalized",
        "R1.4-profile-phone-international-normalized",
        "R1.4-profile-email-lowercased-trimmed",
        "R1.4-profile-standard-strings-kept",
        "R1.4-profile-none-clears",
        "R1.4-profile-blank-contact-clears",
        "R1.4-profile-custom-int-allowed",
        "R1.4-profile-custom-float-allowed",
        "R1.4-profile-custom-bool-allowed",
        "R1.4-profile-custom-zero-allowed",
        "R1.4-profile-custom-key-underscore-digit-allowed",
        "R1.4-profile-custom-key-64-chars-allowed",
        "R1.4-profile-string-1000-chars-allowed",
        "R1.4-profile-standard-string-1000-chars-allowed",
        "R1.4-profile-empty-write",
    ],
)
def test_validate_profile_accepts(changes: dict[str, object], expected: dict[str, object]) -> None:
    result = validate_profile(changes, "JP")
    assert result == expected
    # bool stays bool, int stays int (True == 1 would hide a conversion).
    assert [type(v) for v in result.values()] == [type(v) for v in expected.values()]


@pytest.mark.parametrize(
    "key",
    sorted(RESERVED_KEYS | {"type", "memberId", "verifiedFields", "unifiedInto"}),
    ids=lambda key: f"R1.4-reserved-key-{key}-refused",
)
def test_validate_profile_refuses_reserved_keys(key: str) -> None:
    with pytest.raises(InvalidRequest, match="read-only") as info:
        validate_profile({key: "x"}, "JP")
    assert info.value.details == {"field": key}


@pytest.mark.parametrize(
    "key",
    ["type", "memberId", "verifiedFields", "unifiedInto"],
    ids=[
        "R1.4-reserved-type-refused",
        "R1.4-reserved-memberId-refused",
        "R1.4-reserved-verifiedFields-refused",
        "R1.4-reserved-unifiedInto-refused",
    ],
)
def test_validate_profile_refuses_reserved_keys_even_to_clear(key: str) -> None:
    with pytest.raises(InvalidRequest):
        validate_profile({key: None}, "JP")


@pytest.mark.parametrize(
    "key",
    ["has space", "k" * 65, "名前", "e-mail", "", "dotted.key", "ｆｕｌｌ", "abc\n", "tab\tkey"],
    ids=[
        "R1.4-custom-key-space-refused",
        "R1.4-custom-key-65-chars-refused",
        "R1.4-custom-key-non-ascii-refused",
        "R1.4-custom-key-dash-refused",
        "R1.4-custom-key-empty-refused",
        "R1.4-custom-key-dot-refused",
        "R1.4-custom-key-fullwidth-refused",
        "R1.4-custom-key-trailing-newline-refused",
        "R1.4-custom-key-tab-refused",
    ],
)
def test_validate_profile_refuses_bad_custom_keys(key: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        validate_profile({key: "v"}, "JP")
    assert info.value.details == {"field": key}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"note": "x" * 1001}, "note"),
        ({"name": "n" * 1001}, "name"),
        ({"companyName": "c" * 5000}, "companyName"),
        ({"mobileNumber": "0" * 1001}, "mobileNumber"),
        ({"name": 1}, "name"),
        ({"name": True}, "name"),
        ({"mobileNumber": 9012345678}, "mobileNumber"),
        ({"email": False}, "email"),
        ({"companyName": 1.5}, "companyName"),
        ({"tags": ["a", "b"]}, "tags"),
        ({"nested": {"a": 1}}, "nested"),
        ({"score": float("nan")}, "score"),
        ({"score": float("inf")}, "score"),
        ({"score": float("-inf")}, "score"),
        ({"mobileNumber": "not a phone"}, "mobileNumber"),
        ({"mobileNumber": "090-1234"}, "mobileNumber"),
        ({"email": "not-an-email"}, "email"),
        ({"name": "ok", "email": "bad@"}, "email"),
    ],
    ids=[
        "R1.4-custom-string-1001-chars-refused",
        "R1.4-name-1001-chars-refused",
        "R1.4-companyName-5000-chars-refused",
        "R1.4-mobileNumber-1001-chars-refused",
        "R1.4-standard-name-int-refused",
        "R1.4-standard-name-bool-refused",
        "R1.4-standard-mobileNumber-int-refused",
        "R1.4-standard-email-bool-refused",
        "R1.4-standard-companyName-float-refused",
        "R1.4-custom-list-refused",
        "R1.4-custom-dict-refused",
        "R1.4-custom-nan-refused",
        "R1.4-custom-infinity-refused",
        "R1.4-custom-negative-infinity-refused",
        "R1.4-invalid-phone-refused",
        "R1.4-truncated-phone-refused",
        "R1.4-invalid-email-refused",
        "R1.4-invalid-email-among-valid-fields-refused",
    ],
)
def test_validate_profile_refuses_bad_values(changes: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        validate_profile(changes, "JP")
    assert info.value.code == "invalid_request"
    assert info.value.details == {"field": field}


def test_validate_profile_uses_the_default_region() -> None:
    assert validate_profile({"mobileNumber": "650-253-0000"}, "US") == {"mobileNumber": "+16502530000"}
    with pytest.raises(InvalidRequest):
        validate_profile({"mobileNumber": "650-253-0000"}, "JP")
