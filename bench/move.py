"""Figure 3: the background history move against a plain BatchWriteItem copy (R10)."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any

from .counting import Tally
from .profiling import Profiles
from .stack import Embedded, Failed, Service, phone, seed_history


class CompletionWatch:
    """Notes when the write that marks a unification `completed` returns."""

    def __init__(self, client: Any, log: Any, server: Any) -> None:
        self.at: float | None = None
        self.log = log
        self.server = server
        self.tally: Tally | None = None
        self.server_tally: Tally | None = None
        self._events = client.meta.events
        self._events.register("before-parameter-build.dynamodb.TransactWriteItems", self._transaction)
        self._events.register("before-parameter-build.dynamodb.PutItem", self._put)
        self._events.register("after-call.dynamodb", self._after)

    def detach(self) -> None:
        self._events.unregister("before-parameter-build.dynamodb.TransactWriteItems", self._transaction)
        self._events.unregister("before-parameter-build.dynamodb.PutItem", self._put)
        self._events.unregister("after-call.dynamodb", self._after)

    @staticmethod
    def _completes(item: dict[str, Any]) -> bool:
        return item.get("kind") == {"S": "unification"} and item.get("status") == {"S": "completed"}

    def _transaction(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if any(self._completes(a.get("Put", {}).get("Item", {})) for a in params.get("TransactItems", [])):
            context["bench_completes"] = True

    def _put(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if self._completes(params.get("Item", {})):
            context["bench_completes"] = True

    def _after(self, http_response: Any, context: dict[str, Any], **_: Any) -> None:
        if context.get("bench_completes") and http_response.status_code == 200 and self.at is None:
            self.at = time.perf_counter()
            self.tally = self.log.snapshot()
            self.server_tally = self.server.snapshot()


@dataclass
class Move:
    """One timed move: until the record reads completed, then the cleanup."""

    items: int
    seconds: float
    cleanup_seconds: float
    until_completed: Tally
    cleanup: Tally
    moto_until_completed: Tally


def run(embedded: Embedded, events: int, chats: int, profiles: Profiles, reps: int = 2) -> dict[str, Any]:
    """Items per second moved by `move_history` (from its start until the record
    reads completed; the cleanup after is timed apart) ÷ items per second of a plain
    BatchWriteItem of the same items into another partition of the same table.

    `reps` moves, each of a fresh source, with a raw copy before each and one after
    the last (the machine's load drifts); medians of the rates."""
    service = embedded.service("bench_move")
    raw: list[float] = []
    moves: list[Move] = []
    target_id = ""
    for rep in range(reps):
        member_id, token, source_id = _unifiable(embedded, service, events, chats, rep)
        raw.append(_raw_copy(embedded, service, source_id))
        login = service.api.session(token, "/v1/session/login", {"memberId": member_id}).expect(200)
        moves.append(_timed_move(embedded, service, login["unification"]["id"], events + chats))
        target_id = login["user"]["id"]
    raw.append(_raw_copy(embedded, service, target_id))

    if profiles.enabled:
        member_id, token, _ = _unifiable(embedded, service, events, chats, reps)
        login = service.api.session(token, "/v1/session/login", {"memberId": member_id}).expect(200)
        with profiles.profile(f"history move of {events + chats} items"):
            _timed_move(embedded, service, login["unification"]["id"], events + chats)

    items = events + chats
    move_rate = statistics.median(m.items / m.seconds for m in moves)
    raw_rate = statistics.median(items / s for s in raw)
    last = moves[-1]
    return {
        "ratio": move_rate / raw_rate,
        "items": items,
        "moves": reps,
        "move_seconds": [round(m.seconds, 3) for m in moves],
        "cleanup_seconds": [round(m.cleanup_seconds, 3) for m in moves],
        "raw_seconds": [round(s, 3) for s in raw],
        "move_items_per_s": round(move_rate, 1),
        "raw_items_per_s": round(raw_rate, 1),
        "requests_until_completed": _split(last.until_completed),
        "moto_seconds_until_completed": {k: round(v, 3) for k, v in sorted(last.moto_until_completed.seconds.items())},
        "requests_cleanup": _split(last.cleanup),
        "chunk_size": service.deps.settings.move_chunk_size,
    }


def _timed_move(embedded: Embedded, service: Service, unification_id: str, expected: int) -> Move:
    """Run the background move as the stream consumer does (`move_history`) until done."""
    from chalicelib.service.unify import clean_moved, move_history

    watch = CompletionWatch(service.container.client, service.log, embedded.server_clock)
    before = service.log.snapshot()
    server_before = embedded.server_clock.snapshot()
    hint = service.deps.store.get_unification(unification_id)
    if hint is None:
        raise Failed(f"no unification {unification_id}")
    started = time.perf_counter()
    record = move_history(service.deps, hint)
    while record is not None and not (record.status.value == "completed" and record.progress.cleaned):
        if record.status.value != "completed":
            record = move_history(service.deps, hint)
            continue
        # The originals go once the grace period is over (R3.3): the schedule's work, timed here.
        service.clock.advance(service.deps.settings.move_cleanup_grace_seconds + 1)
        clean_moved(service.deps, unification_id)
        record = service.deps.store.get_unification(unification_id)
    finished = time.perf_counter()
    watch.detach()
    if record is None or watch.at is None or watch.tally is None or watch.server_tally is None:
        raise Failed("the move did not complete")
    moved = record.progress.chats_moved + record.progress.events_moved
    if moved != expected:
        raise Failed(f"moved {moved} of {expected} items")
    return Move(
        items=moved,
        seconds=watch.at - started,
        cleanup_seconds=finished - watch.at,
        until_completed=watch.tally.minus(before),
        cleanup=service.log.snapshot().minus(watch.tally),
        moto_until_completed=watch.server_tally.minus(server_before),
    )


def _unifiable(embedded: Embedded, service: Service, events: int, chats: int, n: int) -> tuple[str, str, str]:
    """A member, and a visitor whose partition holds `events` events and `chats` chats."""
    member_id = f"move-member-{n}"
    service.api.put_member(member_id, {"name": "Mover", "mobileNumber": phone(900_000 + n)})
    visitor = service.api.boot()
    seed_history(embedded, service, visitor["user"]["id"], events, chats)
    return member_id, visitor["sessionToken"], visitor["user"]["id"]


def _raw_copy(embedded: Embedded, service: Service, owner_id: str) -> float:
    """Seconds to BatchWriteItem the owner's chat and event items into a scratch
    partition (read beforehand, removed after: neither is timed)."""
    items = [i for i in embedded.partition(service.table, f"USER#{owner_id}") if i["SK"]["S"][:2] in ("C#", "E#")]
    copies = [{**item, "PK": {"S": "USER#bench-raw-copy"}} for item in items]
    started = time.perf_counter()
    embedded.batch_write(service.table, copies)
    seconds = time.perf_counter() - started
    embedded.batch_delete(service.table, [{"PK": c["PK"], "SK": c["SK"]} for c in copies])
    return seconds


def _split(tally: Tally) -> dict[str, Any]:
    return {
        "by_api": tally.by_api(),
        "client_seconds_by_api": {k: round(v, 3) for k, v in sorted(tally.seconds.items())},
    }
