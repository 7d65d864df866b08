"""`python -m bench.record_workload`: record the DynamoDB requests the app sends, for
`tests/robustness/moto_equivalence` to replay on stock and patched moto (issue 13.5).

Drives a small share of the bench's own scenarios (`bench/requests.py`: boots,
session calls, logins that convert and unify, a manager's edit and approval,
CSV imports, the stream drains that move histories and complete a deferred
unification) and writes every request the app's client and the bench's setup
client sent, in order, with its parameters as the caller passed them.
"""

from __future__ import annotations

import copy
import gzip
import json
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent.parent / "tests/robustness/moto_equivalence/recorded_workload.json.gz"
SKIPPED = frozenset({"CreateTable", "DescribeTable", "UpdateTimeToLive", "DeleteTable", "ListTables"})


class Recorder:
    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []

    def attach(self, client: Any) -> None:
        client.meta.events.register("before-parameter-build.dynamodb", self._record)

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name not in SKIPPED:
            self.requests.append((model.name, copy.deepcopy(params)))


def record() -> dict[str, Any]:
    from .requests import Scenarios, stream_records
    from .stack import SERVICE_ENV, Embedded, apply_env, quiet_logs

    quiet_logs()
    apply_env(dict(SERVICE_ENV))
    embedded = Embedded(patched=False)
    try:
        recorder = Recorder()
        recorder.attach(embedded.raw)
        service = embedded.service("recorded")
        recorder.attach(service.container.client)
        scenarios = Scenarios(embedded, service)
        scenarios.sessions()
        scenarios.login_unifies(10)
        scenarios.manager_edit_and_approve()
        scenarios.csv_rows(10)
        stream_records(embedded, scenarios)
        return {"table": service.table, "requests": recorder.requests}
    finally:
        embedded.stop()


def main() -> int:
    document = record()
    with gzip.open(OUT, "wt", encoding="utf-8") as f:
        json.dump(document, f, sort_keys=True, separators=(",", ":"))
    print(f"{len(document['requests'])} requests written to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
