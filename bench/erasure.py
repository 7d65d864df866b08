"""Figure 12 (issue 15, R11): what erasing a person costs in DynamoDB requests.

Two people are erased side by side, one with `large` events and `chats` chats,
one with `small` events: the request's own requests must not grow with the
history (R11.2: large ÷ small ≤ 1), and the background's requests per erased
item stay bounded (BatchWriteItem deletes 25 a request; a chat is one Query of
its partition more).
"""

from __future__ import annotations

from typing import Any

from .stack import Embedded, Failed, Service, seed_history


def run(embedded: Embedded, small: int = 100, large: int = 1000, chats: int = 20) -> dict[str, Any]:
    service = embedded.service("bench_erasure")
    service.activate()
    measured = {str(n): _erase(embedded, service, f"erase-{n}", n, chats) for n in (small, large)}
    request = {n: m["request_requests"] for n, m in measured.items()}
    return {
        "request_ratio": request[str(large)] / request[str(small)],
        "per_item": measured[str(large)]["background_requests"] / measured[str(large)]["items"],
        "measured": measured,
    }


def _erase(embedded: Embedded, service: Service, member_id: str, events: int, chats: int) -> dict[str, Any]:
    service.api.put_member(member_id, {"name": "Erasable"})
    visitor = service.api.boot(member_id=member_id)
    user_id = visitor["user"]["id"]
    keys = seed_history(embedded, service, user_id, events, chats)
    before = service.log.snapshot()
    answer = service.api.admin("POST", f"/v1/users/{user_id}/erasure").expect(202)
    after_request = service.log.snapshot()
    erasures = service.container.erasures
    done = erasures.work(answer["erasure"]["id"], max_steps=10_000)
    finished = service.log.snapshot()
    if done is None or done.status != "completed":
        raise Failed(f"the erasure did not complete: {done}")
    left = [k for k in keys if embedded.partition(service.table, k["PK"]["S"])]
    if left:
        raise Failed(f"{len(left)} items were left")
    background = finished.minus(after_request)
    return {
        "items": len(keys),
        "request_requests": after_request.minus(before).total,
        "request_by_api": after_request.minus(before).by_api(),
        "background_requests": background.total,
        "background_by_api": background.by_api(),
    }
