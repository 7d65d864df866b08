"""R3.1 field choice, R3.7 consent, R1.3 the frozen source: `choose_field`, `decide_fields`, `plan_unification`."""

from __future__ import annotations

import pytest
from unit_factories import NOW, anonymous, at, fv, lead, make_user, member

from chalicelib.domain.errors import UnificationNotAllowed
from chalicelib.domain.merge import choose_field, decide_fields, plan_unification
from chalicelib.domain.models import FieldValue, Rule, User, UserType

A, L, M = UserType.ANONYMOUS, UserType.LEAD, UserType.MEMBER

OLD, NEW = at(0), at(60)

# (target value, source value, target type, source type) -> (winner, rule) or None
CHOOSE_CASES = [
    (None, None, M, L, None),
    (None, fv("x"), M, L, ("source", Rule.HAS_VALUE)),
    (fv("x"), None, M, L, ("target", Rule.HAS_VALUE)),
    (None, fv("x", verified=False, when=OLD), M, L, ("source", Rule.HAS_VALUE)),
    (fv("x", verified=True), None, M, A, ("target", Rule.HAS_VALUE)),
    # Guide example 1: verified lead + verified member -> the member's value, even when the lead's is newer.
    (fv("m", verified=True, when=OLD), fv("l", verified=True, when=NEW), M, L, ("target", Rule.MEMBER)),
    # Guide example 2: unverified lead + unverified member -> the member's value.
    (fv("m", verified=False, when=OLD), fv("l", verified=False, when=NEW), M, L, ("target", Rule.MEMBER)),
    # Guide example 3: verified lead + unverified member -> the lead's verified value.
    (fv("m", verified=False, when=NEW), fv("l", verified=True, when=OLD), M, L, ("source", Rule.VERIFIED)),
    (fv("m", verified=True, when=OLD), fv("l", verified=False, when=NEW), M, L, ("target", Rule.VERIFIED)),
    (fv("m", verified=False, when=NEW), fv("a", verified=True, when=OLD), M, A, ("source", Rule.VERIFIED)),
    (fv("m", verified=False, when=OLD), fv("a", verified=False, when=NEW), M, A, ("target", Rule.MEMBER)),
    # Rule 3 is symmetric: a member on the source side wins over a lead target.
    (fv("l", verified=False, when=NEW), fv("m", verified=False, when=OLD), L, M, ("source", Rule.MEMBER)),
    # Rule 4: equal types decide by recency; ties keep the target.
    (fv("t", when=OLD), fv("s", when=NEW), M, M, ("source", Rule.RECENT)),
    (fv("t", when=NEW), fv("s", when=OLD), M, M, ("target", Rule.RECENT)),
    (fv("t", when=OLD), fv("s", when=OLD), M, M, ("target", Rule.RECENT)),
    (fv("t", verified=True, when=OLD), fv("s", verified=True, when=NEW), M, M, ("source", Rule.RECENT)),
    (fv("t", when=OLD), fv("s", when=NEW), L, L, ("source", Rule.RECENT)),
    # Neither an anonymous user nor a lead is a member: rule 3 does not decide between them.
    (fv("t", when=NEW), fv("s", when=OLD), L, A, ("target", Rule.RECENT)),
    (fv("t", when=OLD), fv("s", when=NEW), L, A, ("source", Rule.RECENT)),
]
CHOOSE_IDS = [
    "R3.1-both-empty-no-decision",
    "R3.1.1-has-value-source-only",
    "R3.1.1-has-value-target-only",
    "R3.1.1-unverified-value-beats-empty-field",
    "R3.1.1-has-value-beats-anonymous-empty",
    "R3.1.3-guide-ex1-verified-lead-verified-member-member-wins",
    "R3.1.3-guide-ex2-unverified-lead-unverified-member-member-wins",
    "R3.1.2-guide-ex3-verified-lead-beats-unverified-member",
    "R3.1.2-verified-member-beats-unverified-newer-lead",
    "R3.1.2-verified-anonymous-beats-unverified-member",
    "R3.1.3-member-beats-anonymous",
    "R3.1.3-member-on-source-side-wins",
    "R3.1.4-recent-source-newer-wins",
    "R3.1.4-recent-target-newer-wins",
    "R3.1.4-recent-tie-keeps-target",
    "R3.1.4-recent-both-verified-members",
    "R3.1.4-recent-lead-vs-lead",
    "R3.1.4-recent-anonymous-vs-lead-target-newer",
    "R3.1.4-recent-anonymous-vs-lead-source-newer",
]


@pytest.mark.parametrize(("target", "source", "target_type", "source_type", "expected"), CHOOSE_CASES, ids=CHOOSE_IDS)
def test_choose_field(
    target: FieldValue | None,
    source: FieldValue | None,
    target_type: UserType,
    source_type: UserType,
    expected: tuple[str, Rule] | None,
) -> None:
    assert choose_field(target, source, target_type=target_type, source_type=source_type) == expected


# The guide's examples through the whole plan: (lead fields, member fields, expected {field: (value, winner, rule)}).
MERGE_EXAMPLES = [
    (
        {"email": fv("lead@example.com", verified=True, when=NEW)},
        {"email": fv("taro@example.com", verified=True, when=OLD)},
        {"email": ("taro@example.com", "target", Rule.MEMBER)},
    ),
    (
        {"email": fv("lead@example.com", verified=False, when=NEW)},
        {"email": fv("taro@example.com", verified=False, when=OLD)},
        {"email": ("taro@example.com", "target", Rule.MEMBER)},
    ),
    (
        {"email": fv("lead@example.com", verified=True, when=OLD)},
        {"email": fv("taro@example.com", verified=False, when=NEW)},
        {"email": ("lead@example.com", "source", Rule.VERIFIED)},
    ),
    # Guide, delayed unification example 2: lead C's number matches member D and C has an email D lacks.
    (
        {
            "mobileNumber": fv("+819012345678", verified=True, when=NEW),
            "email": fv("c@example.com", verified=True, when=NEW),
        },
        {"mobileNumber": fv("+819012345678", verified=True, when=OLD), "name": fv("Member D", verified=True)},
        {
            "mobileNumber": ("+819012345678", "target", Rule.MEMBER),
            "email": ("c@example.com", "source", Rule.HAS_VALUE),
            "name": ("Member D", "target", Rule.HAS_VALUE),
        },
    ),
]
MERGE_IDS = [
    "R3.1-guide-ex1-verified-lead-verified-member-member-value",
    "R3.1-guide-ex2-unverified-lead-unverified-member-member-value",
    "R3.1-guide-ex3-verified-lead-unverified-member-lead-value",
    "R3.1-guide-lead-email-member-lacks-member-gains-it",
]


@pytest.mark.parametrize(("lead_fields", "member_fields", "expected"), MERGE_EXAMPLES, ids=MERGE_IDS)
def test_decide_fields_guide_examples(
    lead_fields: dict[str, FieldValue],
    member_fields: dict[str, FieldValue],
    expected: dict[str, tuple[str, str, Rule]],
) -> None:
    source, target = lead(fields=lead_fields), member(fields=member_fields)
    merged, decisions = decide_fields(source, target)
    assert {f: fvalue.value for f, fvalue in merged.items()} == {f: v for f, (v, _, _) in expected.items()}
    assert {d.field: (d.winner, d.rule) for d in decisions} == {f: (w, r) for f, (_, w, r) in expected.items()}


@pytest.mark.parametrize(("lead_fields", "member_fields", "expected"), MERGE_EXAMPLES, ids=MERGE_IDS)
def test_plan_unification_guide_examples(
    lead_fields: dict[str, FieldValue],
    member_fields: dict[str, FieldValue],
    expected: dict[str, tuple[str, str, Rule]],
) -> None:
    source, target = lead(fields=lead_fields), member(fields=member_fields)
    plan = plan_unification(source, target, unification_id="uni-1", now=NOW)
    assert plan.target.profile == {f: v for f, (v, _, _) in expected.items()}
    assert {d.field: (d.winner, d.rule.value) for d in plan.decisions} == {
        f: (w, r.value) for f, (_, w, r) in expected.items()
    }


def test_plan_unification_guide_ex3_keeps_the_lead_value_verified() -> None:
    source = lead(fields={"email": fv("lead@example.com", verified=True, when=OLD)})
    target = member(fields={"email": fv("taro@example.com", verified=False, when=NEW)})
    plan = plan_unification(source, target, unification_id="uni-1", now=NOW)
    assert plan.target.fields["email"] == fv("lead@example.com", verified=True, when=OLD)
    assert plan.target.verified_fields == ["email"]


def test_decide_fields_decisions_sorted_by_field_and_cover_the_union() -> None:
    source = lead(fields={"zeta": fv(1), "email": fv("l@example.com")})
    target = member(fields={"alpha": fv(True), "email": fv("m@example.com")})
    merged, decisions = decide_fields(source, target)
    assert [d.field for d in decisions] == ["alpha", "email", "zeta"]
    assert set(merged) == {"alpha", "email", "zeta"}
    assert merged["zeta"].value == 1
    assert merged["alpha"].value is True


def test_decide_fields_with_two_empty_profiles_decides_nothing() -> None:
    merged, decisions = decide_fields(anonymous(), member())
    assert merged == {}
    assert decisions == ()


def test_unnamed_lead_never_overrides_the_member_name_with_a_generated_label() -> None:
    """R1.5: the generated label is not a profile value and never beats a real name."""
    source = anonymous()
    target = member(fields={"name": fv("山田太郎")})
    plan = plan_unification(source, target, unification_id="uni-1", now=NOW)
    assert plan.target.display_name == "山田太郎"
    assert plan.target.profile == {"name": "山田太郎"}
    assert [(d.field, d.winner, d.rule) for d in plan.decisions] == [("name", "target", Rule.HAS_VALUE)]


def test_unnamed_member_gains_the_lead_real_name() -> None:
    source = lead(fields={"name": fv("Hanako")})
    target = member()
    plan = plan_unification(source, target, unification_id="uni-1", now=NOW)
    assert plan.target.display_name == "Hanako"
    assert [(d.field, d.winner, d.rule) for d in plan.decisions] == [("name", "source", Rule.HAS_VALUE)]


CONSENT_CASES = [
    ("unsubscribe_email", False, False),
    ("unsubscribe_email", True, False),
    ("unsubscribe_email", False, True),
    ("unsubscribe_email", True, True),
    ("unsubscribe_texting", False, False),
    ("unsubscribe_texting", True, False),
    ("unsubscribe_texting", False, True),
    ("unsubscribe_texting", True, True),
]
CONSENT_IDS = [
    "R3.7-email-neither-unsubscribed-stays-subscribed",
    "R3.7-email-member-unsubscribed-stays-unsubscribed",
    "R3.7-email-source-unsubscribed-member-becomes-unsubscribed",
    "R3.7-email-both-unsubscribed",
    "R3.7-texting-neither-unsubscribed-stays-subscribed",
    "R3.7-texting-member-unsubscribed-stays-unsubscribed",
    "R3.7-texting-source-unsubscribed-member-becomes-unsubscribed",
    "R3.7-texting-both-unsubscribed",
]


@pytest.mark.parametrize(("flag", "target_flag", "source_flag"), CONSENT_CASES, ids=CONSENT_IDS)
def test_plan_unification_consent_never_weakens(flag: str, target_flag: bool, source_flag: bool) -> None:
    source = lead(**{flag: source_flag})
    target = member(**{flag: target_flag})
    plan = plan_unification(source, target, unification_id="uni-1", now=NOW)
    assert getattr(plan.target, flag) is (target_flag or source_flag)


def test_plan_unification_consent_flags_are_independent() -> None:
    source = lead(unsubscribe_email=True)
    target = member(unsubscribe_texting=True)
    plan = plan_unification(source, target, unification_id="uni-1", now=NOW)
    assert (plan.target.unsubscribe_email, plan.target.unsubscribe_texting) == (True, True)


def _plan_fixture() -> tuple[User, User]:
    source = lead(
        "lead-7",
        fields={"email": fv("c@example.com", verified=True)},
        veil_ids=("veil-a", "veil-shared"),
        visited=True,
        version=3,
    )
    target = member(
        "member-9",
        fields={"name": fv("Taro", verified=True)},
        veil_ids=("veil-shared", "veil-m"),
        moving_sources=("older-source",),
        version=5,
    )
    return source, target


def test_plan_unification_freezes_the_source_r1_3() -> None:
    source, target = _plan_fixture()
    plan = plan_unification(source, target, unification_id="uni-42", now=NOW)
    frozen = plan.source
    assert frozen.unified_into == "member-9"
    assert frozen.unified_at == NOW
    assert frozen.unification_id == "uni-42"
    assert frozen.is_unified is True
    assert frozen.version == 4
    assert frozen.updated_at == NOW
    # The frozen record keeps its own history: not reclassified, profile untouched.
    assert frozen.type is UserType.LEAD
    assert frozen.fields == source.fields
    assert frozen.id == "lead-7"


def test_plan_unification_updates_the_member() -> None:
    source, target = _plan_fixture()
    plan = plan_unification(source, target, unification_id="uni-42", now=NOW)
    merged = plan.target
    assert merged.id == "member-9"
    assert merged.type is UserType.MEMBER
    assert merged.member_id == target.member_id
    assert merged.unified_into is None
    assert merged.moving_sources == ("older-source", "lead-7")
    assert merged.version == 6
    assert merged.updated_at == NOW
    assert merged.veil_ids == ("veil-m", "veil-a", "veil-shared"), "the source's devices are the newest"
    assert merged.profile == {"name": "Taro", "email": "c@example.com"}


def test_plan_unification_leaves_its_inputs_alone() -> None:
    source, target = _plan_fixture()
    before = (source.model_copy(deep=True), target.model_copy(deep=True))
    plan_unification(source, target, unification_id="uni-42", now=NOW)
    assert (source, target) == before


def test_plan_unification_anonymous_into_member() -> None:
    source = anonymous("anon-3", fields={"plan": fv("gold")})
    target = member("member-3")
    plan = plan_unification(source, target, unification_id="uni-3", now=NOW)
    assert plan.source.unified_into == "member-3"
    assert plan.target.profile == {"plan": "gold"}
    assert plan.target.moving_sources == ("anon-3",)


REFUSED_PLANS = [
    (lead("l1"), lead("l2")),
    (member("m1"), member("m2")),
    (lead("l1"), anonymous("a1")),
    (anonymous("a1"), lead("l1")),
    (member("m1"), lead("l1")),
    (lead("l1", unified_into="m0"), member("m1")),
    (lead("l1"), make_user("m1", M, unified_into="m0")),
    (member("m1"), member("m1")),
]
REFUSED_IDS = [
    "R2-plan-lead-to-lead-refused",
    "R2-plan-member-to-member-refused",
    "R2-plan-lead-to-anonymous-refused",
    "R2-plan-anonymous-to-lead-refused",
    "R2-plan-member-to-lead-refused",
    "R2-R1.3-plan-unified-source-refused",
    "R2-R1.3-plan-unified-target-refused",
    "R2-plan-self-unification-refused",
]


@pytest.mark.parametrize(("source", "target"), REFUSED_PLANS, ids=REFUSED_IDS)
def test_plan_unification_refuses_forbidden_pairs(source: User, target: User) -> None:
    with pytest.raises(UnificationNotAllowed):
        plan_unification(source, target, unification_id="uni-x", now=NOW)
