"""R1.6 profile writes, R1.2 anonymous -> lead, R6.3 what counts as a contact change."""

from __future__ import annotations

import pytest
from unit_factories import NOW, T0, anonymous, fv, lead, member

from chalicelib.domain.errors import InvalidRequest
from chalicelib.domain.models import FieldValue, ProfileValue, User, UserType
from chalicelib.domain.profile import apply_profile, contacts_changed, type_after_contact, validate_profile

MISSING = object()

# (current value of "email" or None, value written, written verified?, expected FieldValue or MISSING)
APPLY_CASES = [
    (fv("a@example.com", verified=True), "b@example.com", False, fv("a@example.com", verified=True)),
    (fv("a@example.com", verified=True), None, False, fv("a@example.com", verified=True)),
    (fv("a@example.com", verified=True), "b@example.com", True, fv("b@example.com", verified=True, when=NOW)),
    (fv("a@example.com", verified=False), "b@example.com", True, fv("b@example.com", verified=True, when=NOW)),
    (fv("a@example.com", verified=False), "b@example.com", False, fv("b@example.com", verified=False, when=NOW)),
    (fv("a@example.com", verified=True), "a@example.com", True, fv("a@example.com", verified=True)),
    (fv("a@example.com", verified=False), "a@example.com", True, fv("a@example.com", verified=True, when=NOW)),
    (fv("a@example.com", verified=False), "a@example.com", False, fv("a@example.com", verified=False)),
    (fv("a@example.com", verified=True), "a@example.com", False, fv("a@example.com", verified=True)),
    (fv("a@example.com", verified=False), None, False, MISSING),
    (fv("a@example.com", verified=False), None, True, MISSING),
    (fv("a@example.com", verified=True), None, True, MISSING),
    (None, None, False, MISSING),
    (None, "n@example.com", False, fv("n@example.com", verified=False, when=NOW)),
    (None, "n@example.com", True, fv("n@example.com", verified=True, when=NOW)),
]
APPLY_IDS = [
    "R1.6-unverified-never-replaces-verified",
    "R1.6-unverified-never-clears-verified",
    "R1.6-verified-replaces-verified-latest-wins",
    "R1.6-verified-replaces-unverified",
    "R1.6-unverified-replaces-unverified-latest-wins",
    "R1.6-same-value-verified-on-verified-unchanged",
    "R1.6-same-value-rewritten-verified-marks-verified",
    "R1.6-same-value-unverified-on-unverified-unchanged",
    "R1.6-same-value-unverified-on-verified-stays-verified",
    "R1.6-none-clears-unverified-by-unverified-write",
    "R1.6-none-clears-unverified-by-verified-write",
    "R1.6-none-clears-verified-by-verified-write",
    "R1.6-none-on-missing-field-is-noop",
    "R1.6-new-unverified-value-added",
    "R1.6-new-verified-value-added",
]


@pytest.mark.parametrize(("current", "value", "verified", "expected"), APPLY_CASES, ids=APPLY_IDS)
def test_apply_profile(
    current: FieldValue | None, value: ProfileValue | None, verified: bool, expected: FieldValue | object
) -> None:
    user = lead(fields={"email": current} if current is not None else {})
    fields = apply_profile(user, {"email": value}, verified=verified, now=NOW)
    if expected is MISSING:
        assert "email" not in fields
    else:
        assert fields["email"] == expected


@pytest.mark.parametrize(
    ("current", "value", "expected"),
    [
        (fv(1), True, fv(True, when=NOW)),
        (fv(True), 1, fv(1, when=NOW)),
        (fv(1), 1.0, fv(1.0, when=NOW)),
        (fv("1"), 1, fv(1, when=NOW)),
    ],
    ids=[
        "R1.6-bool-replaces-equal-int",
        "R1.6-int-replaces-equal-bool",
        "R1.6-float-replaces-equal-int",
        "R1.6-int-replaces-string",
    ],
)
def test_apply_profile_value_type_is_part_of_the_value(
    current: FieldValue, value: ProfileValue, expected: FieldValue
) -> None:
    fields = apply_profile(lead(fields={"score": current}), {"score": value}, verified=False, now=NOW)
    assert fields["score"] == expected
    assert type(fields["score"].value) is type(value)


def test_apply_profile_login_keeps_verified_email_and_takes_the_new_name() -> None:
    """R1.6 seed: a member's verified email survives the member typing another one at login."""
    user = member(
        fields={
            "email": fv("taro@example.com", verified=True),
            "name": fv("Taro", verified=False),
            "companyName": fv("ACME", verified=True),
        }
    )
    fields = apply_profile(user, {"email": "typo@example.com", "name": "Taro Yamada"}, verified=False, now=NOW)
    assert fields == {
        "email": fv("taro@example.com", verified=True),
        "name": fv("Taro Yamada", verified=False, when=NOW),
        "companyName": fv("ACME", verified=True),
    }


def test_apply_profile_does_not_mutate_the_user() -> None:
    user = lead(fields={"email": fv("a@example.com")})
    before = dict(user.fields)
    apply_profile(user, {"email": "b@example.com", "plan": "gold"}, verified=True, now=NOW)
    assert user.fields == before


def test_apply_profile_empty_write_keeps_everything() -> None:
    user = lead(fields={"email": fv("a@example.com"), "plan": fv("gold", verified=True)})
    assert apply_profile(user, {}, verified=True, now=NOW) == user.fields


TYPE_CASES = [
    (UserType.ANONYMOUS, {"mobileNumber": fv("+819012345678")}, UserType.LEAD),
    (UserType.ANONYMOUS, {"email": fv("a@example.com")}, UserType.LEAD),
    (UserType.ANONYMOUS, {"email": fv("a@example.com", verified=True)}, UserType.LEAD),
    (UserType.ANONYMOUS, {"name": fv("Mango"), "companyName": fv("ACME")}, UserType.ANONYMOUS),
    (UserType.ANONYMOUS, {}, UserType.ANONYMOUS),
    (UserType.LEAD, {}, UserType.LEAD),
    (UserType.LEAD, {"email": fv("a@example.com")}, UserType.LEAD),
    (UserType.MEMBER, {}, UserType.MEMBER),
    (UserType.MEMBER, {"mobileNumber": fv("+819012345678")}, UserType.MEMBER),
]
TYPE_IDS = [
    "R1.2-anonymous-with-mobile-becomes-lead",
    "R1.2-anonymous-with-unverified-email-becomes-lead",
    "R1.2-anonymous-with-verified-email-becomes-lead",
    "R1.2-anonymous-with-non-contact-fields-stays-anonymous",
    "R1.2-anonymous-without-fields-stays-anonymous",
    "R1.2-chat-lead-without-contact-stays-lead",
    "R1.2-lead-with-contact-stays-lead",
    "R1.2-member-without-contact-stays-member",
    "R1.2-member-with-contact-stays-member",
]


@pytest.mark.parametrize(("user_type", "fields", "expected"), TYPE_CASES, ids=TYPE_IDS)
def test_type_after_contact(user_type: UserType, fields: dict[str, FieldValue], expected: UserType) -> None:
    assert type_after_contact(user_type, fields) is expected


PHONE = "+819012345678"
CHANGE_CASES = [
    ({}, {"mobileNumber": fv(PHONE, verified=True, when=NOW)}, ["mobileNumber"]),
    ({"mobileNumber": fv(PHONE, verified=True)}, {"mobileNumber": fv(PHONE, verified=True)}, []),
    (
        {"mobileNumber": fv(PHONE, verified=True)},
        {"mobileNumber": fv("+819087654321", verified=True, when=NOW)},
        ["mobileNumber"],
    ),
    ({}, {"mobileNumber": fv(PHONE, verified=False, when=NOW)}, []),
    (
        {"email": fv("a@example.com", verified=False)},
        {"email": fv("b@example.com", verified=False, when=NOW)},
        [],
    ),
    ({"mobileNumber": fv(PHONE, verified=True)}, {}, []),
    (
        {},
        {"email": fv("a@example.com", verified=True), "mobileNumber": fv(PHONE, verified=True)},
        ["mobileNumber", "email"],
    ),
    ({}, {"name": fv("Kiwi", verified=True), "companyName": fv("ACME", verified=True)}, []),
    (
        {"email": fv("a@example.com", verified=False)},
        {"email": fv("a@example.com", verified=True, when=NOW)},
        [],
    ),
    (
        {"mobileNumber": fv(PHONE, verified=True), "email": fv("a@example.com", verified=True)},
        {"mobileNumber": fv(PHONE, verified=True), "email": fv("z@example.com", verified=True, when=NOW)},
        ["email"],
    ),
]
CHANGE_IDS = [
    "R6.3-new-verified-mobile-is-a-change",
    "R6.3-same-verified-value-is-no-change",
    "R6.3-different-verified-value-is-a-change",
    "R6.3-unverified-new-value-ignored",
    "R6.3-unverified-edit-ignored",
    "R6.3-removed-contact-is-no-change",
    "R6.3-both-contacts-new-in-contact-order",
    "R6.3-non-contact-fields-ignored",
    "R6.3-manager-re-entering-a-typed-value-is-no-change",
    "R6.3-only-the-changed-contact-reported",
]


@pytest.mark.parametrize(("before", "after", "expected"), CHANGE_CASES, ids=CHANGE_IDS)
def test_contacts_changed(before: dict[str, FieldValue], after: dict[str, FieldValue], expected: list[str]) -> None:
    assert contacts_changed(lead(fields=before), after) == expected


@pytest.mark.parametrize(
    "typed",
    ["090-1234-5678", "+81 90 1234 5678", "09012345678", " 090 1234 5678 "],
    ids=[
        "R6.3-same-number-domestic-format-no-change",
        "R6.3-same-number-international-format-no-change",
        "R6.3-same-number-digits-only-no-change",
        "R6.3-same-number-padded-no-change",
    ],
)
def test_manager_edit_to_same_normalized_number_is_no_change(typed: str) -> None:
    """Guide example 3 (Kiwi987): pressing Enter on the same number is not an edit."""
    user = lead("kiwi987", fields={"mobileNumber": fv(PHONE, verified=True)})
    changes = validate_profile({"mobileNumber": typed}, "JP")
    after = apply_profile(user, changes, verified=True, now=NOW)
    assert after["mobileNumber"] == fv(PHONE, verified=True, when=T0)
    assert contacts_changed(user, after) == []


def test_manager_edit_to_same_email_in_other_case_is_no_change() -> None:
    user = lead(fields={"email": fv("kiwi@example.com", verified=True)})
    after = apply_profile(user, validate_profile({"email": "  Kiwi@Example.COM "}, "JP"), verified=True, now=NOW)
    assert contacts_changed(user, after) == []


def test_customer_typed_contact_on_anonymous_makes_a_lead_but_no_match_trigger() -> None:
    user: User = anonymous()
    after = apply_profile(user, validate_profile({"mobileNumber": "090-1234-5678"}, "JP"), verified=False, now=NOW)
    assert type_after_contact(user.type, after) is UserType.LEAD
    assert contacts_changed(user, after) == []


NEAR_MISS_CASES = [
    ("Email", "email"),
    ("EMAIL", "email"),
    ("mail", "email"),
    ("e_mail", "email"),
    ("email_address", "email"),
    ("mobile_number", "mobileNumber"),
    ("MobileNumber", "mobileNumber"),
    ("mobile", "mobileNumber"),
    ("phone", "mobileNumber"),
    ("phone_number", "mobileNumber"),
    ("Tel", "mobileNumber"),
    ("company", "companyName"),
    ("company_name", "companyName"),
    ("Name", "name"),
    ("NAME", "name"),
]


@pytest.mark.parametrize(("key", "meant"), NEAR_MISS_CASES, ids=[k for k, _ in NEAR_MISS_CASES])
def test_a_near_miss_of_a_standard_field_is_refused_naming_the_field(key: str, meant: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        validate_profile({key: "a@b.jp"}, "JP")
    assert repr(meant) in refused.value.message


@pytest.mark.parametrize("key", ["member_id", "MemberID", "Type", "verified_fields", "unified_into"])
def test_read_only_names_are_never_profile_keys_in_any_spelling(key: str) -> None:
    with pytest.raises(InvalidRequest):
        validate_profile({key: "x"}, "JP")


@pytest.mark.parametrize("key", ["tier", "nickname", "emailOptIn", "phone2", "company_size", "first_name"])
def test_custom_keys_that_only_look_alike_are_custom_fields(key: str) -> None:
    assert validate_profile({key: "x"}, "JP") == {key: "x"}
