"""Races on moto's server (the local stack's DynamoDB), threads released together (issue 4).

Each racing thread calls the service layer (`container().sessions.login`, ...)
directly: `chalice.test.Client` keeps the current request on the app object,
so it cannot serve two threads at once. The contract's mapping is mirrored:
a call that returns is a 2xx, a `DomainError` a 4xx, anything else a 5xx.

`CommitGate` holds every racing thread's first commit until all of them
have read and planned, so every race starts from the same stale read:
the worst case, every time, instead of whatever the scheduler happens to do.

The negative control runs the same race with the version condition removed
from user writes (in the test only) and shows the invariant then fails.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from replay_harness import Harness
from replay_invariants import InvariantViolation, Summary, check_still_visible, profile_of

import app
from chalicelib import bootstrap
from chalicelib.domain.errors import DomainError
from chalicelib.domain.models import Status, User
from chalicelib.local.pump import StreamPump
from chalicelib.local.stack import scheduled_event
from chalicelib.service import unify
from chalicelib.service.users import Consent
from chalicelib.store.actions import Actions

GATED = ("TransactWriteItems", "PutItem")
MEMBER = "taro"
MEMBER_PROFILE = {"name": "Taro Yamada", "email": "taro@example.com", "companyName": "Yamada Trading"}


class CommitGate:
    """Each racing thread's first commit (TransactWriteItems or PutItem) waits until every racer has
    reached its own: all of them have read and planned before any of them writes."""

    def __init__(self, client: Any, parties: int, timeout: float = 10.0) -> None:
        self.client = client
        self.barrier = threading.Barrier(parties, timeout=timeout)
        self.local = threading.local()
        self.held = 0
        for op in GATED:
            client.meta.events.register(f"before-call.dynamodb.{op}", self._hold, unique_id=f"replay-gate-{op}")

    def enter(self) -> None:
        self.local.racing = True

    def _hold(self, **_: Any) -> None:
        if not getattr(self.local, "racing", False) or getattr(self.local, "held", False):
            return
        self.local.held = True
        self.held += 1
        with contextlib.suppress(threading.BrokenBarrierError):  # a racer failed early: go on without it
            self.barrier.wait()

    def remove(self) -> None:
        for op in GATED:
            self.client.meta.events.unregister(f"before-call.dynamodb.{op}", unique_id=f"replay-gate-{op}")


@dataclass
class Outcome:
    """How each racing call was answered, as the contract would answer it."""

    results: list[Any] = field(default_factory=list)

    @property
    def answered(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        for result in self.results:
            if isinstance(result, DomainError):
                counts[f"4xx {result.code}"] += 1
            elif isinstance(result, BaseException):
                counts[f"5xx {type(result).__name__}"] += 1
            else:
                counts["2xx"] += 1
        return counts


def together(calls: list[Callable[[], Any]], gate: CommitGate | None = None, timeout: float = 150.0) -> Outcome:
    """Run the calls on threads released at once by a barrier; collect results or exceptions."""
    barrier = threading.Barrier(len(calls))
    outcome = Outcome([None] * len(calls))

    def run(index: int) -> None:
        if gate is not None:
            gate.enter()
        barrier.wait()
        try:
            outcome.results[index] = calls[index]()
        except Exception as error:
            outcome.results[index] = error

    threads = [threading.Thread(target=run, args=(i,), name=f"racer-{i}") for i in range(len(calls))]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), "racing calls did not finish"
    return outcome


def user(user_id: str) -> User:
    found = bootstrap.container().deps.store.get_user(user_id)
    assert found is not None
    return found


def settle_with_stream_pump(h: Harness) -> int:
    """Drain the server's stream with the local stack's own pump (recording what it hands over), run
    the schedule, drain again, twice over. Returns the records handed to the consumer."""

    def recording(event: dict[str, Any], context: Any) -> Any:
        for record in event["Records"]:
            h.pump.log[int(record["dynamodb"]["SequenceNumber"])] = record
        return app.stream_consumer(event, context)

    pump = StreamPump(h.streams, h.stream_arn, recording)
    handed = pump.drain()
    for _ in range(2):
        app.finish_unifications(scheduled_event(), None)
        handed += pump.drain()
    assert not pump.skipped, f"the stream consumer gave up on records: {pump.skipped}"
    return handed


def completed_unifications(h: Harness) -> int:
    return sum(1 for i in h.table_items() if i.get("kind") == "unification" and i["status"] == Status.COMPLETED)


# 50 devices, one member ------------------------------------------------------------------


@dataclass
class LoginRace:
    devices: int
    outcome: Outcome
    visible: list[str]  # R3.3 problems right after the race, before any stream processing
    violation: InvariantViolation | None
    summary: Summary | None
    completed: int
    seconds: float


def race_logins(h: Harness, devices: int) -> LoginRace:
    """`devices` devices, each booted with a typed-in value of its own and a chat, log in to one member
    at the same moment. Every device's value must end on the member (R3.1 rule 1: a value beats none)."""
    member_id = h.member(MEMBER, MEMBER_PROFILE)
    visitors = [h.visit({f"device_{i}": f"typed on device {i}"}) for i in range(devices)]
    for i, visitor in enumerate(visitors):
        h.chat(visitor, f"hello from device {i}")
    expected = profile_of(user(member_id))
    for visitor in visitors:
        expected |= profile_of(user(visitor.user_id))  # R3.1: the member lacks every device_i
    h.ledger.expect_profile(member_id, expected)

    secret_hash = h.credentials.member_hash(MEMBER)
    sessions = bootstrap.container().sessions

    def login(token: str) -> Callable[[], Any]:
        return lambda: sessions.login(token, MEMBER, secret_hash, {})

    gate = CommitGate(bootstrap.container().client, devices)
    started = time.monotonic()
    try:
        outcome = together([login(v.token) for v in visitors], gate)
    finally:
        gate.remove()
    seconds = time.monotonic() - started
    for result in outcome.results:
        if result is not None and not isinstance(result, BaseException) and result.unification is not None:
            h.ledger.unified(result.unification.source_user_id, result.unification.target_user_id)
    visible = check_still_visible(h, h.ledger)
    settle_with_stream_pump(h)
    violation, summary = None, None
    try:
        summary = h.check()
    except InvariantViolation as error:
        violation = error
    return LoginRace(devices, outcome, visible, violation, summary, completed_unifications(h), seconds)


def test_fifty_devices_logging_in_to_one_member_lose_nothing(make_server_harness: Callable[..., Harness]) -> None:
    h = make_server_harness()
    race = race_logins(h, 50)
    print(
        f"\n50 concurrent logins into one member on moto's server: answered {dict(race.outcome.answered)} "
        f"in {race.seconds:.1f}s; {race.completed} completed unifications; "
        f"{'nothing lost: ' + str(race.summary) if race.summary else race.violation}"
    )
    assert race.outcome.answered == Counter({"2xx": 50}), race.outcome.answered
    assert race.visible == [], race.visible
    assert race.violation is None, race.violation
    assert race.completed == 50
    assert len(h.ledger.unifications) == 50
    assert len(h.ledger.chats) == 50


def without_user_conditions(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bug a race test must catch: user writes that no longer check the version they were read at."""
    original = Actions.put

    def unconditional(self: Actions, item: dict[str, Any], expected_version: int | None) -> dict[str, Any]:
        action = original(self, item, expected_version)
        if item.get("kind") == "user" and expected_version is not None:
            put = action["Put"]
            for key in ("ConditionExpression", "ExpressionAttributeNames", "ExpressionAttributeValues"):
                put.pop(key, None)
        return action

    monkeypatch.setattr(Actions, "put", unconditional)


def test_negative_control_the_login_race_detects_a_missing_condition(
    make_server_harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same race, SaveUser puts without their version condition (in the test only): it must fail.
    Histories move afterwards here, so a lost `movingSources` shows as chats out of view."""
    without_user_conditions(monkeypatch)
    monkeypatch.setattr(unify, "MOVED_IN_COMMIT_MAX", 0)
    h = make_server_harness()
    race = race_logins(h, 20)
    problems = (race.violation.problems if race.violation else []) + race.visible
    print(
        f"\nnegative control (SaveUser without ConditionExpression), 20 concurrent logins: answered "
        f"{dict(race.outcome.answered)}; the invariant caught {len(problems)} problems, e.g. {problems[:2]}"
    )
    assert race.outcome.answered == Counter({"2xx": 20}), "the logins themselves all 'succeed' without conditions"
    assert race.violation is not None, "the race test cannot fail: it missed the lost updates"
    assert any("R3.1" in p or "profile of" in p for p in race.violation.problems), race.violation
    assert race.visible, "R3.3: sources dropped from movingSources must show as chats out of view"


# approval, schedulers and edits racing unifications --------------------------------------------------


def login_call(token: str) -> Callable[[], Any]:
    sessions = bootstrap.container().sessions
    return lambda: sessions.login(token, MEMBER, CREDENTIAL_HASH[MEMBER], {})


CREDENTIAL_HASH: dict[str, str] = {}


def member_with_hash(h: Harness) -> str:
    CREDENTIAL_HASH[MEMBER] = h.credentials.member_hash(MEMBER)
    return h.member(MEMBER, MEMBER_PROFILE)


def test_an_immediate_approval_racing_a_login_into_the_same_member(make_server_harness: Callable[..., Harness]) -> None:
    """A CSV lead's approval (immediate, R7.3) and a visitor's login (R5.1) unify into one member at once."""
    h = make_server_harness()
    member_id = member_with_hash(h)
    expected = profile_of(user(member_id))
    unifications = bootstrap.container().unifications
    rounds = 3
    for n in range(rounds):
        imported = h.import_csv(f"name,email,lead_note_{n}\nLead {n},taro@example.com,from lead {n}\n", False)
        (candidate,) = imported["candidates"]
        lead_id = candidate["sourceUserId"]
        h.event_for(lead_id, "crm_call").ok(201)
        h.deliver(lead_id, f"lead-campaign-{n}").ok(201)
        visitor = h.visit({f"visitor_note_{n}": f"typed {n}"})
        h.chat(visitor, "hello")
        h.track(visitor, "page_view")
        expected |= {f"lead_note_{n}": (f"from lead {n}", True), f"visitor_note_{n}": (f"typed {n}", False)}
        gate = CommitGate(bootstrap.container().client, 2)
        try:
            outcome = together([lambda c=candidate: unifications.approve(c["id"]), login_call(visitor.token)], gate)
        finally:
            gate.remove()
        assert outcome.answered == Counter({"2xx": 2}), outcome.results
        h.ledger.unified(lead_id, member_id)
        h.ledger.unified(visitor.user_id, member_id)
    h.ledger.expect_profile(member_id, expected)
    assert check_still_visible(h, h.ledger) == []
    settle_with_stream_pump(h)
    summary = h.check()
    print(f"\n[approval racing a login] {rounds} races of 2 concurrent clients; {summary}")


def test_a_deferred_approval_racing_the_members_login(make_server_harness: Callable[..., Harness]) -> None:
    """Approval (deferred: the lead visited) races the member's login. Whichever lands first, the
    unification runs exactly once: at that login if it came after the approval, else at the next (R7.4)."""
    h = make_server_harness()
    member_id = member_with_hash(h)
    unifications = bootstrap.container().unifications
    sessions = bootstrap.container().sessions
    secret = CREDENTIAL_HASH[MEMBER]
    rounds, ran_at_racing_login = 3, 0
    for n in range(rounds):
        lead = h.visit({"name": f"Typed {n}"})
        h.chat(lead, "hi")
        h.track(lead, "page_view")
        candidate = h.edit(lead.user_id, {"email": "taro@example.com"}).ok()["unificationCandidate"]
        outcome = together(
            [lambda c=candidate: unifications.approve(c["id"]), lambda: sessions.boot(None, MEMBER, secret, {})]
        )
        assert outcome.answered == Counter({"2xx": 2}), outcome.results
        settle_with_stream_pump(h)
        status = h.unification(candidate["id"])["status"]
        assert status in ("deferred", "completed"), status
        ran_at_racing_login += status == "completed"
        h.boot_member(MEMBER).ok()  # the next login
        settle_with_stream_pump(h)
        assert h.unification(candidate["id"])["status"] == "completed"
        h.ledger.unified(lead.user_id, member_id)
    summary = h.check()
    print(
        f"\n[deferred approval racing the member's login] {rounds} races: {ran_at_racing_login} ran at the "
        f"racing login, {rounds - ran_at_racing_login} at the next; each exactly once; {summary}"
    )


def test_two_scheduler_runs_overlapping_run_each_unification_once(
    make_server_harness: Callable[..., Harness],
) -> None:
    """Three schedule invocations at once, with history moves and deferred unifications waiting and the
    stream not consumed: each unification runs and completes once (R7.4, R10)."""
    h = make_server_harness(MOVE_CHUNK_SIZE="3")
    member_id = member_with_hash(h)
    for n in range(4):
        visitor = h.visit({f"device_{n}": "typed"})
        h.chat(visitor, "question")
        for k in range(5):
            h.track(visitor, f"view_{k}")
        h.login(visitor, MEMBER).ok()
    deferred = []
    for _ in range(2):
        lead = h.visit({})
        h.chat(lead, "hi")
        candidate = h.edit(lead.user_id, {"email": "taro@example.com"}).ok()["unificationCandidate"]
        assert h.approve(candidate["id"]).ok()["unification"]["status"] == "deferred"
        h.ledger.unified(lead.user_id, member_id)
        deferred.append(candidate["id"])
    h.boot_member(MEMBER).ok()  # logged in after the approvals; the stream is not consumed
    runs = together([lambda: app.finish_unifications(scheduled_event(), None) for _ in range(3)])
    assert runs.answered == Counter({"2xx": 3}), runs.results
    assert sum(r["deferred"] for r in runs.results) == 2, f"each deferred unification runs once: {runs.results}"
    assert completed_unifications(h) == 6
    assert all(h.unification(uid)["status"] == "completed" for uid in deferred)
    h.check(stream_records=None)  # settled by the schedules alone
    settle_with_stream_pump(h)  # and the stream's late, repeated news changes nothing
    summary = h.check()
    print(f"\n[overlapping schedules] 3 concurrent runs: {[dict(r) for r in runs.results]}; {summary}")


def test_manager_edits_racing_unifications_lose_no_update(make_server_harness: Callable[..., Harness]) -> None:
    """A manager edits the member, or the source, while the source logs in to the member. Every edit
    that was answered 2xx is in the member's profile; one refused as `user_unified` left no trace."""
    h = make_server_harness()
    member_id = member_with_hash(h)
    expected = profile_of(user(member_id))
    users = bootstrap.container().users
    edits_on_source = Counter[str]()
    rounds = 3
    for n in range(rounds):
        # the member's own profile, edited by a manager (verified) while a visitor unifies into it
        visitor = h.visit({"companyName": f"typed company {n}", f"from_visitor_{n}": "v"})
        h.chat(visitor, "hello")
        gate = CommitGate(bootstrap.container().client, 2)
        profile = {"companyName": f"Manager Co {n}", f"from_manager_{n}": "m"}
        try:
            outcome = together(
                [login_call(visitor.token), lambda p=profile: users.upsert_member(MEMBER, p, Consent())], gate
            )
        finally:
            gate.remove()
        assert outcome.answered == Counter({"2xx": 2}), outcome.results
        h.ledger.unified(visitor.user_id, member_id)
        expected |= {
            "companyName": (f"Manager Co {n}", True),  # verified: beats the typed value either way (R3.1, R1.6)
            f"from_manager_{n}": ("m", True),
            f"from_visitor_{n}": ("v", False),
        }
        # the source's profile, edited while it unifies: in the member if answered 2xx, nowhere if refused
        source = h.visit({})
        h.chat(source, "hello")
        gate = CommitGate(bootstrap.container().client, 2)
        try:
            outcome = together(
                [
                    login_call(source.token),
                    lambda s=source, k=f"vip_{n}": users.edit(s.user_id, {k: "gold"}, Consent()),
                ],
                gate,
            )
        finally:
            gate.remove()
        login_result, edit_result = outcome.results
        assert not isinstance(login_result, BaseException), login_result
        h.ledger.unified(source.user_id, member_id)
        if isinstance(edit_result, DomainError):
            assert edit_result.code == "user_unified", edit_result
            edits_on_source["refused: already unified"] += 1
        else:
            assert not isinstance(edit_result, BaseException), edit_result
            expected[f"vip_{n}"] = ("gold", True)
            edits_on_source["2xx: merged"] += 1
    h.ledger.expect_profile(member_id, expected)
    settle_with_stream_pump(h)
    summary = h.check()
    print(f"\n[edits racing unifications] {rounds * 2} races; source edits {dict(edits_on_source)}; {summary}")


# erasure (R11.3) --------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_an_erasure_racing_a_login_and_a_manager_edit_leaves_nothing_of_the_person(
    make_server_harness: Callable[..., Harness], seed: int
) -> None:
    """The person's member is erased while a visitor logs in as that member and a manager edits
    it, all at once on moto's server, then the stream (replayed) and the schedule finish: nothing
    of the person is left. A login that came after the erasure made a new member under the freed
    memberId, whose own history stays."""
    import json

    h = make_server_harness(seed=seed)
    member = h.member("kagami", {"name": "Kagami Erasable", "email": "kagami@example.com"})
    early = h.visit()
    h.chat(early, "kagami-question")
    h.login(early, "kagami").ok()
    h.settle()
    late = h.visit()
    h.chat(late, "late-visitor-question")
    results: dict[str, Any] = {}
    start = threading.Barrier(3)
    calls = {
        "login": lambda: h.login(late, "kagami"),
        "edit": lambda: h.edit(member, {"name": "Edited Kagami"}),
        "erasure": lambda: h.admin("POST", f"/v1/users/{member}/erasure"),
    }

    def run(name: str) -> None:
        start.wait()
        results[name] = calls[name]()

    threads = [threading.Thread(target=run, args=(name,)) for name in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    erasure = results["erasure"].ok(202)["erasure"]
    assert results["edit"].status in (200, 404), results["edit"]
    assert results["login"].status == 200, results["login"]
    h.settle()
    h.settle()
    done = h.admin("GET", f"/v1/erasures/{erasure['id']}").ok()["erasure"]
    assert done["status"] == "completed", done
    text = json.dumps(h.table_items(), ensure_ascii=False, default=str)
    left = [v for v in ("Kagami Erasable", "kagami@example.com", "kagami-question", "Edited Kagami") if v in text]
    assert left == [], left
    if late.user_id in erasure["userIds"]:
        assert "late-visitor-question" not in text  # it was the person's when the erasure took them
    else:
        fresh = h.admin("GET", "/v1/members/kagami").ok()["user"]  # the login came after: someone new
        assert fresh["id"] not in erasure["userIds"] and "late-visitor-question" in text
