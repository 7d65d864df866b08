"""At-least-once, reordered, partially failing streams (issue 4, "Idempotent consumers").

Every scenario runs with `ReplayingPump` (each batch delivered 1-3 times,
records of different items interleaved, rewinds to the lowest failed sequence
number) and `FlakyRecords` (every 3rd invocation one record fails), stream
work interleaved with the requests, schedules run; then the nothing-lost
invariant. Finally the whole stream is replayed from its first record and the
table must not change: a replayed record changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from replay_harness import Harness, Visitor
from replay_invariants import Profile, partition_snapshot, profile_of
from replay_pump import FlakyRecords, ReplayingPump

import app
from chalicelib.domain.merge import decide_fields
from chalicelib.domain.models import User

SEEDS = [11, 22, 33]


def flaky(h: Harness, seed: int) -> FlakyRecords:
    wrapper = FlakyRecords(app.stream_consumer, every=3, seed=seed)
    h.handler = wrapper
    return wrapper


def stored(h: Harness, user_id: str) -> User:
    user = h.container.deps.store.get_user(user_id)
    assert user is not None
    return user


def merged(source: User, target: User) -> User:
    """The member after R3.1 (fields only), to fold several unifications in their order."""
    fields, _ = decide_fields(source, target)
    return target.model_copy(update={"fields": fields})


def report(name: str, h: Harness, wrapper: FlakyRecords, summary: Any) -> None:
    s = h.pump.stats
    print(
        f"\n[{name}] {s.batches} batches, {s.replayed_batches} replayed ({s.extra_deliveries} extra deliveries), "
        f"{s.reordered} delivered interleaved, {wrapper.injected} record failures injected, {s.rewinds} rewinds; "
        f"{summary}"
    )


def replay_everything_changes_nothing(h: Harness, seed: int) -> int:
    """Hand the whole stream over again from its first record, shuffled and replayed: nothing may change."""
    before = {(i["PK"], i["SK"]): i for i in h.table_items()}
    again = ReplayingPump(h.streams, h.stream_arn, app.stream_consumer, seed=seed + 1, max_replays=2, max_batch=25)
    again.drain()
    h.schedule()
    again.drain()
    after = {(i["PK"], i["SK"]): i for i in h.table_items()}
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    assert changed == [], f"replaying the stream changed {changed[:5]}"
    return again.stats.batches


def visit_with_history(h: Harness, profile: dict[str, Any], events: int, campaign: str | None) -> tuple[Visitor, str]:
    visitor = h.visit(profile)
    chat_id = h.chat(visitor, "Is this in stock?")
    h.say(visitor, chat_id, "the blue one")
    h.reply_as_manager(chat_id)
    for n in range(events):
        h.track(visitor, f"view_{n}")
    if campaign is not None:
        h.deliver(visitor.user_id, campaign).ok(201)
    return visitor, chat_id


@pytest.mark.parametrize("seed", SEEDS)
def test_visitors_logging_in_survive_replays_and_reordering(make_harness: Callable[..., Harness], seed: int) -> None:
    """Anonymous visitors with chats, events and deliveries log in to existing members (R5.1)."""
    h = make_harness(seed=seed, MOVE_CHUNK_SIZE="3")
    wrapper = flaky(h, seed)
    taro = h.member("taro", {"name": "Taro Yamada", "email": "taro@example.com"})
    hanako = h.member("hanako", {"name": "Hanako Yamada", "mobileNumber": "090-2222-3333"})
    h.deliver(taro, "spring-sale").ok(201)
    h.deliver(hanako, "welcome").ok(201)
    bystander, _ = visit_with_history(h, {"name": "Kiwi987"}, 2, "spring-sale")
    plan = [
        ("taro", {"name": "Mango135", "companyName": "Fruit Co"}),
        ("hanako", {"companyName": "Hanako's typed company", "favorite": "plum"}),
        ("taro", {"shoeSize": 26}),
        ("hanako", {"name": "Typed name"}),
    ]
    visitors = []
    for n, (member_id, profile) in enumerate(plan):
        campaign = "spring-sale" if n % 2 == 0 else f"campaign-{n}"
        visitor, chat_id = visit_with_history(h, profile, 3 + 2 * n, campaign)
        visitors.append((visitor, chat_id, member_id))
        h.pump.pump_once()
    untouched = partition_snapshot(h, [bystander.user_id])

    expected: dict[str, User] = {}
    for visitor, chat_id, member_id in visitors:
        member_uid = taro if member_id == "taro" else hanako
        source, target = stored(h, visitor.user_id), expected.get(member_uid) or stored(h, member_uid)
        assert stored(h, member_uid).fields == target.fields  # nothing else touched the member's profile
        h.login(visitor, member_id).ok()
        expected[member_uid] = merged(source, target)
        # The session continues as the member (R4.4): what it writes now is the member's.
        h.track(visitor, "after_login")
        h.say(visitor, chat_id, "logged in now")
        h.pump.pump_once()
        h.pump.pump_once()
    for member_uid, user in expected.items():
        h.ledger.expect_profile(member_uid, profile_of(user))
    assert h.deliver(taro, "spring-sale").code == "already_delivered"  # R3.2: never sent twice

    h.settle()
    summary = h.check(untouched=untouched)
    report("visitors log in", h, wrapper, summary)
    assert h.pump.stats.replayed_batches > 0 and wrapper.injected > 0 and h.pump.stats.rewinds > 0
    replay_everything_changes_nothing(h, seed)


@pytest.mark.parametrize("seed", SEEDS)
def test_deferred_unifications_run_once_under_replays(make_harness: Callable[..., Harness], seed: int) -> None:
    """Leads a manager matched and approved wait for the member's next login (R7.3, R7.4)."""
    h = make_harness(seed=seed, MOVE_CHUNK_SIZE="2")
    wrapper = flaky(h, seed)
    hanako = h.member("hanako", {"name": "Hanako Yamada", "email": "hanako@example.com"})
    h.member("other", {"mobileNumber": "090-2222-3333"})
    hanako_phone = h.admin("PUT", "/v1/members/hanako", {"profile": {"mobileNumber": "090-5555-6666"}}).ok()
    assert hanako_phone["user"]["id"] == hanako
    h.boot_member("hanako").ok()  # a login before the approvals: it must not count (R7.4)
    apple, _ = visit_with_history(h, {"name": "Apple246", "companyName": "Fruit Co"}, 4, "autumn")
    lemon, _ = visit_with_history(h, {"favorite": "lemon"}, 3, None)
    h.pump.pump_once()
    first = h.edit(apple.user_id, {"email": " Hanako@Example.com"}).ok()["unificationCandidate"]
    second = h.edit(lemon.user_id, {"mobileNumber": "+81 90 5555 6666"}).ok()["unificationCandidate"]
    assert first["targetUserId"] == hanako and second["targetUserId"] == hanako
    for candidate in (first, second):
        assert h.approve(candidate["id"]).ok()["unification"]["status"] == "deferred"  # both visited (R7.3)
    h.settle()  # replays of all that, schedules included: nothing may run before the next login
    for candidate in (first, second):
        assert h.unification(candidate["id"])["status"] == "deferred"
    for visitor in (apple, lemon):
        assert h.user(visitor.user_id, resolve=False)["user"]["unifiedInto"] is None

    # Both leads add different values to the member, so the result does not depend on their order.
    member, s1, s2 = stored(h, hanako), stored(h, apple.user_id), stored(h, lemon.user_id)
    one_way, other_way = merged(s2, merged(s1, member)), merged(s1, merged(s2, member))
    assert profile_of(one_way) == profile_of(other_way)
    h.ledger.expect_profile(hanako, profile_of(one_way))
    h.ledger.unified(apple.user_id, hanako)
    h.ledger.unified(lemon.user_id, hanako)

    h.boot_member("hanako").ok()  # the member logs in on a new device: both run, each once
    h.settle()
    summary = h.check()
    for candidate in (first, second):
        assert h.unification(candidate["id"])["status"] == "completed"
    report("deferred", h, wrapper, summary)
    replay_everything_changes_nothing(h, seed)


@pytest.mark.parametrize("seed", SEEDS)
def test_csv_leads_approved_at_once_survive_replays(make_harness: Callable[..., Harness], seed: int) -> None:
    """CSV members and leads; candidates approved (immediately: never visited, R7.3, R8.2)."""
    h = make_harness(seed=seed, MOVE_CHUNK_SIZE="2")
    wrapper = flaky(h, seed)
    members = h.import_csv(
        "memberId,name,email,mobileNumber\n"
        "m-1,Ichiro Suzuki,ichiro@example.com,\n"
        "m-2,Jiro Sato,,090-3333-4444\n"
        "m-3,Saburo Ito,saburo@example.com,\n",
        auto_approve=False,
    )
    assert members["members"] == 3 and members["errors"] == []
    m1, m2, m3 = (h.member_id_of(m) for m in ("m-1", "m-2", "m-3"))
    h.deliver(m1, "newsletter-1").ok(201)
    leads = h.import_csv(
        "name,email,mobileNumber,companyName\n"
        "Lead A,ichiro@example.com,,A Corp\n"
        "Lead B,,+81 90-3333-4444,B Corp\n"
        "Lead C,nobody@example.com,,C Corp\n",
        auto_approve=False,
    )
    assert leads["leads"] == 3 and len(leads["candidates"]) == 2
    by_target = {c["targetUserId"]: c for c in leads["candidates"]}
    lead_a, lead_b = by_target[m1]["sourceUserId"], by_target[m2]["sourceUserId"]
    lead_c = h.admin("GET", "/v1/users?email=nobody@example.com").ok()["users"][0]["id"]
    for n, lead in enumerate((lead_a, lead_b, lead_c)):
        for k in range(2 + n):
            h.event_for(lead, f"crm_{k}").ok(201)
        h.deliver(lead, "newsletter-1").ok(201)
        h.deliver(lead, f"lead-campaign-{n}").ok(201)
        h.pump.pump_once()
    expected = {m1: merged(stored(h, lead_a), stored(h, m1)), m2: merged(stored(h, lead_b), stored(h, m2))}
    for target in (m1, m2):
        approved = h.approve(by_target[target]["id"]).ok()["unification"]
        assert approved["status"] in ("running", "completed")  # never visited: at once (R7.3)
        h.ledger.unified(approved["sourceUserId"], target)
        h.pump.pump_once()
    for target, user in expected.items():
        h.ledger.expect_profile(target, profile_of(user))
    # Writes to a unified lead are refused, naming the member (R3.5); its campaigns are the member's (R3.2).
    refused = h.event_for(lead_a, "too_late")
    assert refused.status == 409 and refused.code == "user_unified"
    assert h.deliver(m1, "lead-campaign-0").code == "already_delivered"

    auto = h.import_csv("name,email,favorite\nLead D,saburo@example.com,tea\n", auto_approve=True)
    (candidate,) = auto["candidates"]
    assert candidate["status"] in ("running", "completed") and candidate["targetUserId"] == m3
    h.ledger.unified(candidate["sourceUserId"], m3)
    h.ledger.separate.add(lead_c)

    h.settle()
    summary = h.check()
    expected_m3: Profile = profile_of(stored(h, m3))
    assert expected_m3["favorite"] == ("tea", True) and expected_m3["name"] == ("Saburo Ito", True)
    report("csv leads", h, wrapper, summary)
    replay_everything_changes_nothing(h, seed)
