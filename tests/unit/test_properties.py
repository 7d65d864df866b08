"""Properties of the pure core over generated users (Hypothesis): R2, R3.1, R3.7, R1.6, R1.4."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.contacts import normalize_phone
from chalicelib.domain.errors import InvalidRequest, UnificationNotAllowed
from chalicelib.domain.merge import choose_field, plan_unification
from chalicelib.domain.models import Channel, FieldValue, Rule, User, UserType
from chalicelib.domain.profile import apply_profile
from chalicelib.domain.rules import is_unification_allowed

NOW = datetime(2031, 1, 1, tzinfo=UTC)

aware_datetimes = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC))
profile_values = st.one_of(
    st.text(alphabet="abcxyz019 @.-山田", max_size=12),
    st.integers(min_value=-1000, max_value=1000),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
)
field_values = st.builds(FieldValue, value=profile_values, verified=st.booleans(), updated_at=aware_datetimes)
field_names = st.sampled_from(["name", "mobileNumber", "email", "companyName", "plan", "score", "vip"])
field_maps = st.dictionaries(field_names, field_values, max_size=7)


@st.composite
def users(
    draw: st.DrawFn,
    user_type: st.SearchStrategy[UserType] = st.sampled_from(UserType),
    user_id: st.SearchStrategy[str] = st.sampled_from(["u-1", "u-2", "u-3"]),
    unified: st.SearchStrategy[bool] = st.booleans(),
    channel: st.SearchStrategy[Channel] = st.sampled_from(Channel),
) -> User:
    kind = draw(user_type)
    uid = draw(user_id)
    created = draw(aware_datetimes)
    return User(
        id=uid,
        type=kind,
        channel=draw(channel),
        member_id=f"mid-{uid}" if kind is UserType.MEMBER else None,
        fields=draw(field_maps),
        veil_ids=tuple(draw(st.lists(st.sampled_from(["v1", "v2", "v3"]), max_size=3, unique=True))),
        unsubscribe_email=draw(st.booleans()),
        unsubscribe_texting=draw(st.booleans()),
        unified_into="elsewhere" if draw(unified) else None,
        moving_sources=tuple(draw(st.lists(st.sampled_from(["s1", "s2"]), max_size=2, unique=True))),
        created_at=created,
        updated_at=draw(aware_datetimes),
        version=draw(st.integers(min_value=0, max_value=50)),
    )


# A pair R2 allows: an un-unified anonymous user or lead and a distinct un-unified member
# (not a messenger lead, which also needs verified contact info, R8.1).
sources = users(
    user_type=st.sampled_from([UserType.ANONYMOUS, UserType.LEAD]),
    user_id=st.just("src"),
    unified=st.just(False),
    channel=st.sampled_from([Channel.WEB, Channel.CSV, Channel.API]),
)
targets = users(user_type=st.just(UserType.MEMBER), user_id=st.just("tgt"), unified=st.just(False))


@given(source=sources, target=targets)
def test_merge_is_deterministic(source: User, target: User) -> None:
    """R3.6: the preview and the real unification compute the same plan from the same profiles."""
    first = plan_unification(source, target, unification_id="uni-1", now=NOW)
    second = plan_unification(source, target, unification_id="uni-1", now=NOW)
    assert first == second


@given(source=sources, target=targets)
def test_merge_does_not_depend_on_field_order(source: User, target: User) -> None:
    reordered_source = source.model_copy(update={"fields": dict(reversed(list(source.fields.items())))})
    reordered_target = target.model_copy(update={"fields": dict(reversed(list(target.fields.items())))})
    first = plan_unification(source, target, unification_id="uni-1", now=NOW)
    second = plan_unification(reordered_source, reordered_target, unification_id="uni-1", now=NOW)
    assert first.decisions == second.decisions
    assert first.target.fields == second.target.fields


@given(source=sources, target=targets)
def test_member_verified_value_is_never_lost(source: User, target: User) -> None:
    """R3.1: a field the member has verified stays verified (and, against an unverified lead, unchanged)."""
    merged = plan_unification(source, target, unification_id="uni-1", now=NOW).target.fields
    for field, value in target.fields.items():
        if value.verified:
            assert merged[field].verified
            assert merged[field] == value


@given(source=sources, target=targets)
def test_any_verified_value_beats_unverified(source: User, target: User) -> None:
    merged = plan_unification(source, target, unification_id="uni-1", now=NOW).target.fields
    for field, value in merged.items():
        either_verified = any(side.fields[field].verified for side in (source, target) if field in side.fields)
        assert value.verified is either_verified


@given(source=sources, target=targets)
def test_member_wins_between_equally_verified_values(source: User, target: User) -> None:
    """R3.1.3: with both sides filled and equally verified, the member's value is kept."""
    plan = plan_unification(source, target, unification_id="uni-1", now=NOW)
    rules = {d.field: d.rule for d in plan.decisions}
    for field in set(source.fields) & set(target.fields):
        if source.fields[field].verified == target.fields[field].verified:
            assert plan.target.fields[field] == target.fields[field]
            assert rules[field] is Rule.MEMBER


@given(source=users(), target=users())
@settings(max_examples=200)
def test_r2_holds_for_every_pair(source: User, target: User) -> None:
    """R2 + R1.3: plan_unification raises exactly when the pair is not allowed."""
    allowed = is_unification_allowed(source, target)
    expected = (
        source.id != target.id
        and not source.is_unified
        and not target.is_unified
        and source.type in (UserType.ANONYMOUS, UserType.LEAD)
        and target.type is UserType.MEMBER
        and (
            source.channel not in (Channel.LINE, Channel.INSTAGRAM)
            or any(source.verified_value(f) for f in ("mobileNumber", "email"))
        )
    )
    assert allowed is expected
    if allowed:
        plan = plan_unification(source, target, unification_id="uni-1", now=NOW)
        assert plan.source.unified_into == target.id
    else:
        with pytest.raises(UnificationNotAllowed):
            plan_unification(source, target, unification_id="uni-1", now=NOW)


@given(source=sources, target=targets)
def test_merged_fields_are_the_union_of_both_sides(source: User, target: User) -> None:
    plan = plan_unification(source, target, unification_id="uni-1", now=NOW)
    union = set(source.fields) | set(target.fields)
    assert set(plan.target.fields) == union
    assert [d.field for d in plan.decisions] == sorted(union)
    for decision in plan.decisions:
        side = source if decision.winner == "source" else target
        assert plan.target.fields[decision.field] == side.fields[decision.field]


@given(source=sources, target=targets)
def test_consent_never_weakens(source: User, target: User) -> None:
    """R3.7: an unsubscribe on either side survives the unification."""
    merged = plan_unification(source, target, unification_id="uni-1", now=NOW).target
    assert merged.unsubscribe_email is (source.unsubscribe_email or target.unsubscribe_email)
    assert merged.unsubscribe_texting is (source.unsubscribe_texting or target.unsubscribe_texting)


@given(source=sources, target=targets)
def test_plan_freezes_source_and_records_it_on_the_member(source: User, target: User) -> None:
    """R1.3 / R3.3: the source points at the member; the member lists the source as moving."""
    plan = plan_unification(source, target, unification_id="uni-9", now=NOW)
    assert (plan.source.unified_into, plan.source.unified_at, plan.source.unification_id) == (target.id, NOW, "uni-9")
    assert plan.source.fields == source.fields
    assert plan.source.version == source.version + 1
    assert plan.target.version == target.version + 1
    assert plan.target.moving_sources[-1] == source.id
    assert plan.target.moving_sources[:-1] == target.moving_sources
    assert set(plan.target.veil_ids) == set(source.veil_ids) | set(target.veil_ids)
    assert len(plan.target.veil_ids) == len(set(plan.target.veil_ids))


@given(
    target=st.one_of(st.none(), field_values),
    source=st.one_of(st.none(), field_values),
    target_type=st.sampled_from(UserType),
    source_type=st.sampled_from(UserType),
)
def test_choose_field_rule_order(
    target: FieldValue | None, source: FieldValue | None, target_type: UserType, source_type: UserType
) -> None:
    """R3.1: the first rule that decides is the one reported."""
    choice = choose_field(target, source, target_type=target_type, source_type=source_type)
    if target is None or source is None:
        assert choice == (None if target is source else ("target" if source is None else "source", Rule.HAS_VALUE))
        return
    assert choice is not None
    winner, rule = choice
    chosen = target if winner == "target" else source
    other = source if winner == "target" else target
    if target.verified != source.verified:
        assert rule is Rule.VERIFIED and chosen.verified
    elif (target_type is UserType.MEMBER) != (source_type is UserType.MEMBER):
        chosen_type = target_type if winner == "target" else source_type
        assert rule is Rule.MEMBER and chosen_type is UserType.MEMBER
    else:
        assert rule is Rule.RECENT and chosen.updated_at >= other.updated_at


@given(
    fields=field_maps,
    changes=st.dictionaries(field_names, st.one_of(st.none(), profile_values), max_size=7),
)
def test_unverified_write_never_touches_a_verified_value(fields: dict[str, FieldValue], changes: dict) -> None:
    """R1.6: an unverified value never replaces or clears a verified one."""
    user = User(id="u", type=UserType.MEMBER, channel=Channel.WEB, fields=fields, created_at=NOW, updated_at=NOW)
    after = apply_profile(user, changes, verified=False, now=NOW)
    for field, value in fields.items():
        if value.verified:
            assert after[field] == value


@given(
    fields=field_maps,
    changes=st.dictionaries(field_names, st.one_of(st.none(), profile_values), max_size=7),
    verified=st.booleans(),
)
def test_latest_write_wins_unless_verified_is_protected(
    fields: dict[str, FieldValue], changes: dict, verified: bool
) -> None:
    """R1.6: a write lands unless it is unverified over a verified value; untouched fields are kept."""
    user = User(id="u", type=UserType.LEAD, channel=Channel.WEB, fields=fields, created_at=NOW, updated_at=NOW)
    after = apply_profile(user, changes, verified=verified, now=NOW)
    for field, value in changes.items():
        current = fields.get(field)
        if current is not None and current.verified and not verified:
            continue
        if value is None:
            assert field not in after
        else:
            assert after[field].value == value
            assert type(after[field].value) is type(value)
            assert after[field].verified is (verified or (current is not None and current.verified))
    for field in set(fields) - set(changes):
        assert after[field] == fields[field]


_SUBSCRIBER = st.text(alphabet="0123456789", min_size=8, max_size=8)


@given(prefix=st.sampled_from(["70", "80", "90"]), digits=_SUBSCRIBER)
@settings(deadline=None)
def test_jp_phone_formats_normalize_to_one_number(prefix: str, digits: str) -> None:
    """R1.4: domestic and international spellings of one number are the same number."""
    spellings = [
        f"0{prefix}-{digits[:4]}-{digits[4:]}",
        f"0{prefix}{digits}",
        f"+81 {prefix} {digits[:4]} {digits[4:]}",
        f"+81-{prefix}-{digits}",
    ]
    results = []
    for spelling in spellings:
        try:
            results.append(normalize_phone(spelling, "JP"))
        except InvalidRequest:
            results.append(None)
    assert len(set(results)) == 1
    if results[0] is not None:
        assert results[0] == f"+81{prefix}{digits}"
