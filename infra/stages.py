"""Per-stage capacity limits: API Gateway throttling and each function's reserved concurrency.

Why limits at all: the table is on-demand, so nothing else stops one client in
a loop (or a bug in a shop's page) from buying the table's whole capacity and
starving every other caller. The stage-wide rate and burst cap what API
Gateway lets through (excess answers 429 before any Lambda or DynamoDB work);
the heavier routes get a tighter cap of their own; reserved concurrency caps
each function (and guarantees it that much of the account's pool), so a
flood of stream batches or webhook deliveries cannot take the API's share.

A stage not listed here gets `DEFAULT` (a new stage starts small). The values
are defaults to be set from the capacity plan (infra/README.md, "Capacity
plan"); change them here, `make package`, `make deploy`.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Throttle:
    rate: float  # requests per second, steady
    burst: int  # requests admitted at once above the steady rate


@dataclass(frozen=True)
class StageLimits:
    api: Throttle  # the whole stage
    # (path, method) → a tighter limit for a heavy route; must be a route of the app
    routes: dict[tuple[str, str], Throttle] = field(default_factory=dict)
    concurrency: dict[str, int] = field(default_factory=dict)  # by function name
    concurrency_by_kind: dict[str, int] = field(default_factory=dict)  # "schedule", "lambda"

    def reserved_concurrency(self, name: str, kind: str) -> int:
        if name in self.concurrency:
            return self.concurrency[name]
        return self.concurrency_by_kind.get(kind, self.concurrency_by_kind["lambda"])


# POST /v1/imports writes up to 8 units per row for thousands of rows: one client
# importing in a loop is the cheapest way to spend the table's capacity.
IMPORTS = ("/v1/imports", "POST")

DEFAULT = StageLimits(
    api=Throttle(rate=50, burst=100),
    routes={IMPORTS: Throttle(rate=1, burst=2)},
    concurrency={"api_handler": 20, "stream_consumer": 5, "deliver_webhook": 5},
    # A schedule runs once a minute; one at a time is enough, and a run that overlaps
    # the next is throttled (its tick is dropped after 5 minutes, see template.py).
    concurrency_by_kind={"schedule": 1, "lambda": 5},
)

STAGES: dict[str, StageLimits] = {
    "dev": DEFAULT,
    # The design peak is 1,000 unifying logins a second plus the rest of the traffic
    # (issue 13); placeholders until the capacity plan sets them. The account's own
    # API Gateway limit is 10,000 requests a second (burst 5,000) per region, and the
    # reserved concurrency of all stages in one account must leave 100 unreserved.
    "prod": StageLimits(
        api=Throttle(rate=3000, burst=5000),
        routes={IMPORTS: Throttle(rate=5, burst=10)},
        concurrency={"api_handler": 600, "stream_consumer": 100, "deliver_webhook": 50},
        concurrency_by_kind={"schedule": 2, "lambda": 10},
    ),
}


def limits_for(stage: str) -> StageLimits:
    return STAGES.get(stage, DEFAULT)
