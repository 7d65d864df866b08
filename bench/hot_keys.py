"""Figure 9 (issue 13.2): the hottest partition keys, of the table and of every index.

A workload on the local stack (`make run`'s stack, moto with DynamoDB-like
costs, every request costed by key in the server: `bench/meter.py`): a
population of customers imported by CSV (not counted: it is the data the
traffic meets), then the traffic, 8 clients at once: logins that unify (a
visitor with one chat logs in as an existing member; its history moves),
logins that do not (a visitor with one event logs in with a new memberId,
R5.2), manager candidates and their approvals (a new lead given a member's
phone number, R6/R7) and one CSV import (half new members, half leads),
until the stream has settled. Full size: 100,000 customers, 10,000 logins
(3,000 unifying), 1,000 candidates and approvals, 10,000 CSV rows; the same
mix at a tenth of it beside.

At the design peak, 1,000 unifying logins a second with the rest of the
traffic in the workload's proportions, a key receives its units × 1,000 ÷
(the workload's unifying logins) a second. Target: no key of the table or
of any index above 500 write units a second (half of one partition's
1,000), and no index's hottest-key share growing from the tenth to the full
size (a key shared by unrelated customers keeps its share however many
customers there are; a well-spread key's share shrinks with them).
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from .local_stack import ACCESS_KEY, ACCESS_SECRET, Http, LocalStack
from .stack import Failed, phone, quote

CLIENTS = 8
PEAK_UNIFYING_LOGINS_PER_S = 1_000
LIMIT_UNITS_PER_S = 500
FULL = {"customers": 100_000, "logins": 10_000, "unifying": 3_000, "candidates": 1_000, "csv_rows": 10_000}
SEED_BLOCK = 10_000  # rows per seeding import


@dataclass(frozen=True)
class Size:
    customers: int
    logins: int
    unifying: int
    candidates: int
    csv_rows: int

    @classmethod
    def scaled(cls, scale: float) -> Size:
        return cls(**{k: max(1, round(v * scale)) for k, v in FULL.items()})


class Client:
    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.http = Http(stack.port)

    def csv(self, text: str) -> dict[str, Any]:
        connection = http.client.HTTPConnection("127.0.0.1", self.stack.port, timeout=600)
        try:
            headers = {
                "Content-Type": "text/csv; charset=utf-8",
                "X-Access-Key": ACCESS_KEY,
                "X-Access-Secret": ACCESS_SECRET,
                "Connection": "close",
            }
            connection.request("POST", "/v1/imports", body=text.encode(), headers=headers)
            response = connection.getresponse()
            body = json.loads(response.read())
        finally:
            connection.close()
        if response.status != 200 or body["import"]["errors"]:
            raise Failed(f"import: {response.status} {str(body)[:300]}")
        result: dict[str, Any] = body["import"]
        return result


def _member_row(prefix: str, n: int, base: int) -> str:
    return f"{prefix}-{n},Member {n},{phone(base + n)},{prefix}-{n}@example.org\n"


HEADER = "memberId,name,mobileNumber,email\n"
MEMBER_PHONES = 2_000_000
CSV_PHONES = 3_500_000


def seed(client: Client, customers: int) -> None:
    for start in range(0, customers, SEED_BLOCK):
        rows = "".join(_member_row("hk-m", n, MEMBER_PHONES) for n in range(start, min(customers, start + SEED_BLOCK)))
        client.csv(HEADER + rows)


def meter(stack: LocalStack, command: str) -> Any:
    with urllib.request.urlopen(f"{stack.dynamodb_url}/__bench/{command}", timeout=120) as answer:
        return json.loads(answer.read())


def traffic(stack: LocalStack, size: Size, run: str) -> dict[str, int]:
    """The workload's traffic, spread over 8 clients; returns what was done."""
    tasks: list[tuple[str, int]] = [("unify", n) for n in range(size.unifying)]
    tasks += [("convert", n) for n in range(size.logins - size.unifying)]
    tasks += [("candidate", n) for n in range(size.candidates)]
    # spread the kinds over the run: every client does some of each
    tasks.sort(key=lambda t: (t[1] * 7919) % max(1, len(tasks)))
    unifying_members = _spread(size.customers, size.unifying + size.candidates)

    def work(chunk: list[tuple[str, int]]) -> int:
        client = Client(stack)
        api = client.http
        for kind, n in chunk:
            if kind == "unify":
                visitor = api.boot()
                api.session(visitor["sessionToken"], "/v1/session/chats", {"text": "Do you have this in red?"})
                member_id = f"hk-m-{unifying_members[n]}"
                answer = api.session(visitor["sessionToken"], "/v1/session/login", {"memberId": member_id})
                if answer.get("unification") is None:
                    raise Failed(f"the login should unify into {member_id}: {answer}")
            elif kind == "convert":
                visitor = api.boot()
                token = visitor["sessionToken"]
                api.session(token, "/v1/session/events", {"name": "page_view", "properties": {"path": f"/p/{n}"}})
                api.session(token, "/v1/session/login", {"memberId": f"hk-{run}-new-{n}"})
            else:
                member = unifying_members[size.unifying + n]
                lead = api.admin("POST", "/v1/users", {"profile": {"name": f"Walk-in {n}"}})["user"]
                edited = api.admin(
                    "PATCH",
                    f"/v1/users/{quote(lead['id'])}",
                    {"profile": {"mobileNumber": phone(MEMBER_PHONES + member)}},
                )
                candidate = edited.get("unificationCandidate")
                if candidate is None:
                    raise Failed(f"the edit should propose member hk-m-{member}: {edited}")
                api.admin("POST", f"/v1/unifications/{quote(candidate['id'])}/approve")
        return len(chunk)

    def csv() -> int:
        half = size.csv_rows // 2
        members = "".join(_member_row(f"hk-{run}-c", n, CSV_PHONES) for n in range(half))
        leads = "".join(
            f",Lead {n},{phone(CSV_PHONES + 500_000 + n)},lead-{run}-{n}@example.org\n"
            for n in range(size.csv_rows - half)
        )
        Client(stack).csv(HEADER + members + leads)
        return size.csv_rows

    chunks = [tasks[c::CLIENTS] for c in range(CLIENTS)]
    with ThreadPoolExecutor(CLIENTS + 1) as pool:
        imported = pool.submit(csv)
        done = sum(pool.map(work, chunks))
        rows = imported.result()
    return {"tasks": done, "csv_rows": rows}


def _spread(population: int, wanted: int) -> list[int]:
    """`wanted` distinct customers spread over the population."""
    if wanted > population:
        raise Failed(f"{wanted} distinct members wanted from {population}")
    step = population / wanted
    return [int(i * step) for i in range(wanted)]


def settle(stack: LocalStack, timeout: float = 600) -> None:
    """Until no unification is running and the stream has gone quiet."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        running = stack.http.admin("GET", "/v1/unifications?status=running&limit=1")["unifications"]
        if not running:
            time.sleep(1.5)  # the completion's own records, and the clean-up after it
            return
        time.sleep(0.5)
    raise Failed(f"unifications still running {timeout} s after the traffic")


def measure(stack: LocalStack, size: Size, run: str) -> dict[str, Any]:
    client = Client(stack)
    meter(stack, "off")
    started = time.perf_counter()
    seed_size = size.customers
    seed(client, seed_size)
    seeded = time.perf_counter() - started
    settle(stack)
    meter(stack, "keys")  # nothing: the ledger was off
    meter(stack, "on")
    started = time.perf_counter()
    done = traffic(stack, size, run)
    settle(stack)
    keys = meter(stack, "keys")
    meter(stack, "off")
    factor = PEAK_UNIFYING_LOGINS_PER_S / size.unifying
    scopes = {}
    for scope, found in keys["writes"].items():
        units = found["top"][0][1] if found["top"] else 0
        scopes[scope] = {
            "write_units": found["units"],
            "keys": found["keys"],
            "hottest": [[pk, n, round(n * factor, 1)] for pk, n in found["top"][:5]],
            "hottest_share": round(units / found["units"], 6) if found["units"] else 0.0,
            "hottest_at_peak_per_s": round(units * factor, 1),
        }
    return {
        "size": size.__dict__,
        "seed_seconds": round(seeded, 1),
        "traffic_seconds": round(time.perf_counter() - started, 1),
        "done": done,
        "peak_factor": factor,
        "scopes": scopes,
        "requests": keys["requests"],
    }


def run(scales: tuple[float, float]) -> dict[str, Any]:
    """Both sizes, each on a fresh local stack."""
    results = []
    for n, scale in enumerate(scales):
        stack = LocalStack(emulated=True, metered=True)
        try:
            results.append(measure(stack, Size.scaled(scale), run=f"r{n}"))
        finally:
            stack.stop()
    small, large = results
    verdict: dict[str, Any] = {}
    for scope, found in large["scopes"].items():
        before = small["scopes"].get(scope, {}).get("hottest_share", 0.0)
        verdict[scope] = {
            "hottest_key": found["hottest"][0][0] if found["hottest"] else "-",
            "at_peak_per_s": found["hottest_at_peak_per_s"],
            "share_small": before,
            "share_large": found["hottest_share"],
            "share_grows": found["hottest_share"] > before * 1.1 + 1e-9,
            "over_limit": [k for k, _, per_s in found["hottest"] if per_s > LIMIT_UNITS_PER_S],
        }
    passed = all(not v["share_grows"] and not v["over_limit"] for v in verdict.values())
    worst = max(verdict.items(), key=lambda kv: kv[1]["at_peak_per_s"]) if verdict else ("-", {"at_peak_per_s": 0})
    return {
        "scales": list(scales),
        "runs": results,
        "verdict": verdict,
        "passed": passed,
        "worst_scope": worst[0],
        "worst_at_peak_per_s": worst[1]["at_peak_per_s"],
    }


def render(result: dict[str, Any]) -> str:
    large = result["runs"][1]
    size = large["size"]
    lines = [
        f"9. Hot keys: write units per partition key at the design peak ({PEAK_UNIFYING_LOGINS_PER_S:,} unifying"
        f" logins/s, the rest in proportion; target <= {LIMIT_UNITS_PER_S}/s per key and no hottest-key share"
        f" growing from {result['scales'][0]:g}x to {result['scales'][1]:g}x of the full workload)",
        f"   workload: {size['customers']:,} customers, {size['logins']:,} logins ({size['unifying']:,} unifying),"
        f" {size['candidates']:,} candidates + approvals, {size['csv_rows']:,} CSV rows; traffic"
        f" {large['traffic_seconds']} s on the local stack",
    ]
    for scope, v in result["verdict"].items():
        found = large["scopes"][scope]
        hottest = "; ".join(f"{pk[:44]} {per_s:g}/s" for pk, _, per_s in found["hottest"][:3])
        verdict = "FAIL" if v["over_limit"] or v["share_grows"] else "PASS"
        lines.append(
            f"   {scope:<6} {found['write_units']:>9,.0f} WU over {found['keys']:>7,} keys; hottest share"
            f" {v['share_small']:.4f} -> {v['share_large']:.4f}  {verdict:<5} {hottest}"
        )
    return "\n".join(lines)
