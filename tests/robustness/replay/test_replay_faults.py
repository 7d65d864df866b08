"""Faults injected through botocore's event hooks on the service's own DynamoDB client (issue 4).

Throttling (botocore retries it), cancelled transactions (the service
re-reads and retries), unprocessed batch items (the store resends them),
writes carried out whose answer was lost (botocore resends them, as after a
timeout), exhausted retries (surface as failures, never silently), and
crashes right after any one write of a login that unifies, of a history
move, and of a delivery; after each, the fault is removed, the work resumed,
and the nothing-lost invariant checked.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import botocore.endpoint
import pytest
from replay_faults import WRITE_OPS, Crash, Faults, cancelled, throttling, unprocessed
from replay_harness import Harness, Reply, Visitor
from replay_invariants import check_still_visible

from chalicelib.service import retry

MakeHarness = Callable[..., Harness]
MakeFaults = Callable[[Harness], Faults]


@pytest.fixture
def make_faults() -> Iterator[MakeFaults]:
    """Hooks on a harness's service client, taken off again after the test (the client is shared)."""
    attached: list[Faults] = []

    def make(h: Harness) -> Faults:
        for earlier in attached:  # one set of hooks at a time (they register under fixed ids)
            earlier.remove()
        faults = Faults(h.container.client)
        attached.append(faults)
        return faults

    yield make
    for faults in attached:
        faults.remove()


@pytest.fixture
def backoff(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """botocore's and the service's retry sleeps, recorded instead of slept (the retries still happen)."""
    slept: list[float] = []

    class Clockwork:
        sleep = staticmethod(slept.append)

        def __getattr__(self, name: str) -> Any:
            return getattr(time, name)

    shim = Clockwork()
    monkeypatch.setattr(botocore.endpoint, "time", shim)
    monkeypatch.setattr(retry, "time", shim)
    return slept


@dataclass
class Story:
    """A member and a visitor with history, about to log in (R5.1)."""

    member: str
    visitor: Visitor
    chat_id: str


def story(h: Harness, events: int = 5, chats: int = 2, deliveries: int = 3) -> Story:
    member = h.member("taro", {"name": "Taro Yamada", "email": "taro@example.com"})
    h.deliver(member, "campaign-0").ok(201)
    visitor = h.visit({"name": "Mango135", "companyName": "Fruit Co"})
    chat_id = ""
    for n in range(chats):
        chat_id = h.chat(visitor, f"question {n}")
        h.say(visitor, chat_id, "anyone there?")
    for n in range(events):
        h.track(visitor, f"view_{n}")
    for n in range(deliveries):
        h.deliver(visitor.user_id, f"campaign-{n}").ok(201)
    return Story(member, visitor, chat_id)


def log_in(h: Harness, s: Story) -> None:
    h.login(s.visitor, "taro").ok()
    h.ledger.unified(s.visitor.user_id, s.member)


# throttling, cancellations, unprocessed items ------------------------------------------------


def test_throttling_is_retried_by_botocore_and_duplicates_nothing(
    make_harness: MakeHarness, make_faults: MakeFaults, backoff: list[float]
) -> None:
    h = make_harness(seed=3, MOVE_CHUNK_SIZE="3")
    faults = make_faults(h)
    faults.answer(throttling("ThrottlingException"), "ThrottlingException", every=4)
    faults.answer(
        throttling("ProvisionedThroughputExceededException"),
        "ProvisionedThroughputExceededException",
        ops={"TransactWriteItems", "BatchWriteItem", "PutItem", "UpdateItem"},
        every=3,
    )
    s = story(h, events=8)
    log_in(h, s)
    h.track(s.visitor, "after_login")
    h.settle()
    summary = h.check()
    injected = sum(faults.injected.values())
    print(f"\n[throttling] {dict(faults.injected)} over {sum(faults.calls.values())} calls; {summary}")
    assert faults.injected["ThrottlingException"] > 5 and faults.injected["ProvisionedThroughputExceededException"] > 5
    assert len([s for s in backoff if s > 0]) >= injected, "every throttled call backed off before its retry"


@pytest.mark.parametrize("moment", ["start_chat", "login", "approve", "complete_move"])
def test_a_transaction_conflict_is_retried_by_the_service(
    make_harness: MakeHarness, make_faults: MakeFaults, backoff: list[float], moment: str
) -> None:
    """TransactionCanceledException [TransactionConflict] once: the service re-reads and commits (retry.py)."""
    h = make_harness(seed=4, MOVE_CHUNK_SIZE="3")
    faults = make_faults(h)
    s = story(h)

    def conflict_once() -> int:
        faults.answer(cancelled("TransactionConflict"), "TransactionConflict", ops={"TransactWriteItems"}, nth={1})
        return faults.calls["TransactWriteItems"]

    if moment == "start_chat":
        before = conflict_once()
        h.chat(s.visitor, "one more question")
        log_in(h, s)
    elif moment == "login":
        before = conflict_once()
        log_in(h, s)
    elif moment == "approve":
        log_in(h, s)
        lead = h.import_csv("name,email\nLead,taro@example.com\n", auto_approve=False)
        (candidate,) = lead["candidates"]
        h.event_for(candidate["sourceUserId"], "crm").ok(201)
        before = conflict_once()
        # One event: copied inside the approval itself (complete as it commits), or moving afterwards.
        assert h.approve(candidate["id"]).ok()["unification"]["status"] in ("running", "completed")
        h.ledger.unified(candidate["sourceUserId"], s.member)
    else:
        log_in(h, s)
        before = conflict_once()
    h.settle()
    summary = h.check()
    assert faults.injected["TransactionConflict"] == 1
    assert faults.calls["TransactWriteItems"] - before >= 2, "the cancelled transaction was tried again"
    print(f"\n[TransactionConflict during {moment}] retried; {summary}")


def test_lost_answers_are_resent_and_carried_out_once(
    make_harness: MakeHarness, make_faults: MakeFaults, backoff: list[float]
) -> None:
    """Every 3rd write of a visit, a login and the history move is carried out but its answer lost (a
    timeout): botocore resends it. Transactions carry a ClientRequestToken, so their resend is a no-op."""
    h = make_harness(seed=8, MOVE_CHUNK_SIZE="3")
    faults = make_faults(h)
    faults.lose_answers(ops=set(WRITE_OPS), every=3)
    member = h.member("taro", {"name": "Taro Yamada"})
    visitor = h.visit({"name": "Mango135"})
    for n in range(3):
        h.chat(visitor, f"question {n}")
        h.track(visitor, f"view_{n}")
        h.deliver(visitor.user_id, f"campaign-{n}").ok(201)
    unification = h.login(visitor, "taro").ok()["unification"]
    assert unification is not None and unification["targetUserId"] == member
    h.track(visitor, "after_login")
    h.settle()
    summary = h.check()
    print(f"\n[lost answers] {faults.injected['answer lost']} writes carried out and resent; {summary}")
    assert faults.injected["answer lost"] >= 8


def lost_answer_moments(h: Harness, s: Story) -> dict[str, tuple[set[str], Callable[[], Reply]]]:
    """Each request, with the write that carries it (a session call's token check, an UpdateItem, comes
    first otherwise)."""
    csv_lead = h.import_csv("name,email\nLead,taro@example.com\n", auto_approve=False)["candidates"][0]
    visited_lead = h.visit({"name": "Typed"})
    h.chat(visited_lead, "hi")
    deferred = h.edit(visited_lead.user_id, {"email": "taro@example.com"}).ok()["unificationCandidate"]
    puts = {"TransactWriteItems", "PutItem"}

    def login() -> Reply:
        h.ledger.unified(s.visitor.user_id, s.member)
        return h.login(s.visitor, "taro")

    def approve_immediate() -> Reply:
        h.ledger.unified(csv_lead["sourceUserId"], s.member)
        return h.approve(csv_lead["id"])

    return {
        # a first visit: the new device and user in one BatchWriteItem (fresh ids: resent, the same items)
        "boot": ({"BatchWriteItem"}, lambda: h.call("POST", "/v1/boot", {}, headers=h.credentials.plugin_headers)),
        "start_chat": ({"TransactWriteItems"}, lambda: Reply(201, h.chat(s.visitor, "a new question"))),
        "customer_message": ({"PutItem"}, lambda: Reply(201, h.say(s.visitor, s.chat_id, "hello?"))),
        "manager_reply": (puts, lambda: Reply(201, h.reply_as_manager(s.chat_id, "Hello, how can I help?"))),
        "session_event": ({"TransactWriteItems"}, lambda: Reply(201, h.track(s.visitor, "clicked"))),
        "open_api_event": (puts, lambda: h.event_for(s.visitor.user_id, "crm_note")),
        "delivery": (puts, lambda: h.deliver(s.visitor.user_id, "resent-campaign")),
        "login_unifying": (puts, login),
        "approve_immediate": (puts, approve_immediate),
        "approve_deferred": (puts, lambda: h.approve(deferred["id"])),
        "manager_edit": (puts, lambda: h.edit(s.visitor.user_id, {"companyName": "Edited Co"})),
    }


LOST_ANSWER_MOMENTS = [
    "boot",
    "start_chat",
    "customer_message",
    "manager_reply",
    "session_event",
    "open_api_event",
    "delivery",
    "login_unifying",
    "approve_immediate",
    "approve_deferred",
    "manager_edit",
]


@pytest.mark.parametrize("moment", LOST_ANSWER_MOMENTS)
def test_a_request_whose_write_lost_its_answer_still_succeeds_once(
    make_harness: MakeHarness, make_faults: MakeFaults, backoff: list[float], moment: str
) -> None:
    """The write that carries the request is carried out, its answer lost, and botocore resends it (what
    a read timeout does). The request must still answer 2xx, and what it wrote must exist exactly once."""
    h = make_harness(seed=9, MOVE_CHUNK_SIZE="3")
    faults = make_faults(h)
    s = story(h, events=2, chats=1, deliveries=1)
    ops, request = lost_answer_moments(h, s)[moment]
    faults.lose_answers(ops=ops, nth={1})
    try:
        reply = request()
    except AssertionError as error:  # the harness's own 2xx check on steps that record into the ledger
        raise AssertionError(f"{moment}: its write was carried out but its answer lost: {error}") from None
    assert faults.injected["answer lost"] == 1, f"the request made no such write: {moment}"
    assert 200 <= reply.status < 300, f"{moment}: its write was carried out but its answer lost, then: {reply}"
    faults.clear()
    h.settle()
    h.check()


def test_unprocessed_batch_items_are_resent(make_harness: MakeHarness, make_faults: MakeFaults) -> None:
    h = make_harness(seed=5, MOVE_CHUNK_SIZE="7")
    faults = make_faults(h)
    s = story(h, events=30, chats=3)
    log_in(h, s)
    faults.answer(unprocessed, "UnprocessedItems", ops={"BatchWriteItem"}, every=2)
    h.settle()
    summary = h.check()
    unprocessed_calls = faults.injected["UnprocessedItems"]
    print(f"\n[unprocessed items] {unprocessed_calls} BatchWriteItem calls processed nothing; {summary}")
    assert faults.injected["UnprocessedItems"] >= 5


def test_exhausted_retries_surface_as_failures_and_write_nothing(
    make_harness: MakeHarness, make_faults: MakeFaults, backoff: list[float]
) -> None:
    h = make_harness(seed=6, MOVE_CHUNK_SIZE="3")
    faults = make_faults(h)
    s = story(h)
    units_before = [i for i in h.table_items() if i.get("kind") == "unification"]

    # botocore gave up on throttling: the login fails as a 5xx in the contract's shape, and nothing is merged.
    faults.raise_on["TransactWriteItems"] = "ProvisionedThroughputExceededException"
    refused = h.login(s.visitor, "taro")
    assert refused.status >= 500 and refused.code in ("unavailable", "internal_error"), refused
    assert h.user(s.visitor.user_id, resolve=False)["user"]["unifiedInto"] is None
    faults.clear()

    # The service's own bounded retries run out on conflicts: 503, never a silent success.
    faults.answer(cancelled("TransactionConflict"), "TransactionConflict", ops={"TransactWriteItems"}, every=1)
    refused = h.login(s.visitor, "taro")
    assert (refused.status, refused.code) == (503, "unavailable"), refused
    attempts = faults.injected["TransactionConflict"]
    assert attempts == retry.MAX_ATTEMPTS, f"retries are bounded: {attempts}"
    faults.clear()
    assert [i for i in h.table_items() if i.get("kind") == "unification"] == units_before

    log_in(h, s)
    # The stream consumer under exhausted throttling reports its failures: the pump rewinds, nothing is skipped.
    faults.raise_on["BatchWriteItem"] = "ThrottlingException"
    for _ in range(200):
        h.pump.pump_once()
        if h.pump.stats.rewinds >= 3:
            break
    assert h.pump.stats.rewinds >= 3, "the failing record was reported and retried, not skipped"
    (record,) = [i for i in h.table_items() if i.get("kind") == "unification"]
    assert record["status"] == "running"
    assert check_still_visible(h, h.ledger) == []
    faults.clear()
    h.settle()
    summary = h.check()
    print(
        f"\n[exhausted retries] login 5xx twice ({attempts} conflicting attempts, then given up), "
        f"{h.pump.stats.rewinds} stream rewinds while throttled; {dict(faults.injected)}; {summary}"
    )


# crash after the N-th write -----------------------------------------------------------------


@dataclass
class CrashRun:
    name: str
    writes: int = 0
    tried: int = 0
    ops: Counter[str] | None = None


def crash_after_every_write(
    make_harness: MakeHarness,
    make_faults: MakeFaults,
    name: str,
    build: Callable[[Harness], Any],
    operation: Callable[[Harness, Any], Any],
    resume: Callable[[Harness, Any, int], None],
) -> CrashRun:
    """Count the operation's writes, then for every N: crash right after write N, check nothing is out of
    view (R3.3), remove the fault, resume, settle, and check the invariant."""
    run = CrashRun(name)
    h = make_harness(seed=7, MOVE_CHUNK_SIZE="7")
    state = build(h)
    faults = make_faults(h)
    faults.writes = 0
    operation(h, state)
    run.writes = faults.writes
    assert run.writes > 0
    for n in range(1, run.writes + 1):
        h = make_harness(seed=7, MOVE_CHUNK_SIZE="7")
        state = build(h)
        faults = make_faults(h)
        faults.crash_after_write(n)
        with pytest.raises(Crash):
            operation(h, state)
        faults.remove()
        assert check_still_visible(h, h.ledger) == [], f"crash after write {n}: history out of view"
        resume(h, state, n)
        h.settle()
        try:
            h.check()
        except AssertionError as error:
            raise AssertionError(f"{name}: crash after write {n} of {run.writes}: {error}") from error
        run.tried += 1
    return run


def deterministic(h: Harness) -> None:
    """One delivery per batch, in stream order: the same writes in the same order every run."""
    h.pump.max_replays, h.pump.interleave, h.pump.max_batch = 1, False, 100


def test_a_crash_after_any_write_of_a_login_that_unifies(make_harness: MakeHarness, make_faults: MakeFaults) -> None:
    """The visitor has 85 deliveries, so the login copies 5 before its transaction (unify.py) and commits
    80 inside it: crash points before, inside and after the unification's commit."""

    def build(h: Harness) -> Story:
        deterministic(h)
        return story(h, events=4, chats=2, deliveries=85)

    def operation(h: Harness, s: Story) -> None:
        h.login(s.visitor, "taro")

    def resume(h: Harness, s: Story, n: int) -> None:
        log_in(h, s)  # the client retries the request

    run = crash_after_every_write(make_harness, make_faults, "login", build, operation, resume)
    print(f"\n[crash points] login that unifies: {run.tried} of {run.writes} writes crashed after; nothing lost")
    assert run.tried == run.writes >= 3


def test_a_crash_after_any_write_of_a_history_move(make_harness: MakeHarness, make_faults: MakeFaults) -> None:
    """60 events and 3 chats moved 7 at a time (MOVE_CHUNK_SIZE=7) by the stream consumer (the
    originals are deleted by the schedule after it): crash after each of its writes, then resume
    by the stream alone, or by the schedule first."""

    def build(h: Harness) -> Story:
        deterministic(h)
        s = story(h, events=60, chats=3, deliveries=2)
        h.drain()
        log_in(h, s)
        return s

    def operation(h: Harness, s: Story) -> None:
        h.drain()

    def resume(h: Harness, s: Story, n: int) -> None:
        if n % 2 == 0:
            h.schedule()

    run = crash_after_every_write(make_harness, make_faults, "history move", build, operation, resume)
    print(f"\n[crash points] history move: {run.tried} of {run.writes} writes crashed after; nothing lost")
    assert run.tried == run.writes >= 15


def test_a_delivery_resent_after_a_crash_is_refused_not_duplicated(
    make_harness: MakeHarness, make_faults: MakeFaults
) -> None:
    """ConditionalCheckFailed means already done: the resent delivery is a 409, listed once (R3.2)."""

    def build(h: Harness) -> Story:
        return story(h)

    def operation(h: Harness, s: Story) -> None:
        h.deliver(s.visitor.user_id, "flash-sale")

    def resume(h: Harness, s: Story, n: int) -> None:
        again = h.deliver(s.visitor.user_id, "flash-sale")
        assert again.status == 409 and again.code == "already_delivered", again
        h.ledger.delivery(s.visitor.user_id, "flash-sale")  # it exists though its answer was lost
        log_in(h, s)

    run = crash_after_every_write(make_harness, make_faults, "delivery", build, operation, resume)
    print(f"\n[crash points] delivery: {run.tried} of {run.writes} writes crashed after; resent: 409, listed once")
    assert run.tried == run.writes >= 1


def test_a_crash_after_any_write_of_an_erasure(make_harness: MakeHarness, make_faults: MakeFaults) -> None:
    """R11.3: the request and every background step crashed after each of their writes, then
    the client asks again and the stream and schedule go on: the erasure completes and
    nothing of the person is left (a retried request answers the erasure it started)."""
    personal = ("Taro Yamada", "taro@example.com", "Mango135", "Fruit Co", "question 0", "anyone there?")
    started: dict[str, str] = {}

    def build(h: Harness) -> Story:
        deterministic(h)
        s = story(h, events=6, chats=2, deliveries=2)
        log_in(h, s)
        h.settle()
        started.clear()
        return s

    def operation(h: Harness, s: Story) -> None:
        reply = h.admin("POST", f"/v1/users/{s.member}/erasure")
        started["id"] = reply.ok(202)["erasure"]["id"]
        h.drain()

    def resume(h: Harness, s: Story, n: int) -> None:
        again = h.admin("POST", f"/v1/users/{s.visitor.user_id}/erasure")
        if again.status == 202:
            started.setdefault("id", again.body["erasure"]["id"])
            assert again.body["erasure"]["id"] == started["id"], "a retry answers the same erasure"
        else:
            assert again.status == 404 and "id" in started, again
        h.settle()
        done = h.admin("GET", f"/v1/erasures/{started['id']}").ok()["erasure"]
        assert done["status"] == "completed", done
        text = json.dumps(h.table_items(), ensure_ascii=False, default=str)
        left = [value for value in personal if value in text]
        assert left == [], f"crash after write {n}: {left} still in the table"

    h = make_harness(seed=7, MOVE_CHUNK_SIZE="7")
    s = build(h)
    faults = make_faults(h)
    faults.writes = 0
    operation(h, s)
    writes = faults.writes
    assert writes >= 5
    for n in range(1, writes + 1):
        h = make_harness(seed=7, MOVE_CHUNK_SIZE="7")
        s = build(h)
        faults = make_faults(h)
        faults.crash_after_write(n)
        with pytest.raises(Crash):
            operation(h, s)
        faults.remove()
        resume(h, s, n)
    print(f"\n[crash points] erasure: {writes} of {writes} writes crashed after; nothing of the person left")
