"""Figure 2: a login that unifies a long history costs what a short one costs (R10)."""

from __future__ import annotations

import statistics
import time
from typing import Any

from .counting import Tally
from .profiling import Profiles
from .stack import Embedded, Failed, Service, seed_history


def run(embedded: Embedded, reps: int, small: int, large: int, profiles: Profiles) -> dict[str, Any]:
    """Median login latency, source with `large` events ÷ with `small`, interleaved.

    Both sources of a pair are seeded before either login is timed, and their
    events removed after, so both logins of a pair see the same table; which
    goes first alternates. The first pair warms up and is not counted.
    """
    service = embedded.service("bench_unify")
    latencies: dict[int, list[float]] = {small: [], large: []}
    tallies: dict[int, Tally] = {small: Tally(), large: Tally()}
    inside: dict[int, Tally] = {small: Tally(), large: Tally()}
    pair_ratios: list[float] = []
    for rep in range(reps + 1):
        pair = [_prepare(embedded, service, f"cost-{rep}", events) for events in (small, large)]
        this: dict[int, float] = {}
        for events, member_id, token, _ in pair if rep % 2 else reversed(pair):
            with service.log.window() as tally, embedded.server_clock.window() as server:
                this[events] = _login(service, token, member_id)
            if rep > 0:
                latencies[events].append(this[events])
                tallies[events].add(tally)
                inside[events].add(server)
        if rep > 0:
            pair_ratios.append(this[large] / this[small])
        for *_, keys in pair:
            embedded.batch_delete(service.table, keys)
    if profiles.enabled:
        _, member_id, token, keys = _prepare(embedded, service, "cost-profiled", large)
        with profiles.profile(f"login unifying a source with {large} events"):
            _login(service, token, member_id)
        embedded.batch_delete(service.table, keys)
    median = {n: statistics.median(v) for n, v in latencies.items()}
    return {
        "ratio": median[large] / median[small],
        # The two logins of a pair run back to back: a check on the ratio of medians under a drifting load.
        "median_of_pair_ratios": round(statistics.median(pair_ratios), 3),
        "median_ms": {str(n): round(v * 1000, 2) for n, v in median.items()},
        "samples_ms": {str(n): [round(x * 1000, 2) for x in v] for n, v in latencies.items()},
        "requests_per_login": {str(n): tallies[n].total / reps for n in tallies},
        "dynamodb_ms_per_login": {
            str(n): {api: round(s * 1000 / reps, 2) for api, s in sorted(tallies[n].seconds.items())} for n in tallies
        },
        "moto_ms_per_login": {
            str(n): {api: round(s * 1000 / reps, 2) for api, s in sorted(inside[n].seconds.items())} for n in inside
        },
        "reps": reps,
    }


def _prepare(embedded: Embedded, service: Service, name: str, events: int) -> tuple[int, str, str, list[Any]]:
    member_id = f"{name}-{events}"
    service.api.put_member(member_id, {"name": name, "email": f"{member_id}@example.org"})
    visitor = service.api.boot()
    keys = seed_history(embedded, service, visitor["user"]["id"], events)
    return events, member_id, visitor["sessionToken"], keys


def _login(service: Service, token: str, member_id: str) -> float:
    started = time.perf_counter()
    reply = service.api.session(token, "/v1/session/login", {"memberId": member_id})
    elapsed = time.perf_counter() - started
    body = reply.expect(200)
    if (body.get("unification") or {}).get("status") != "running":
        raise Failed(f"the login must unify at once: {body}")
    return elapsed
