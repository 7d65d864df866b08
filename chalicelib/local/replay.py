"""Re-drive the local stack's parked stream failures through the real consumer (issue 16.4).

    make replay-failures [REPLAY_ARGS=--dry-run]
    python -m chalicelib.local.replay [--dry-run] [--endpoint-url URL] [--table NAME]

The local twin of `infra/replay.py`. When the local stream pump gives up on a
record (it failed 5 times), `make run` parks it as a `FAILURE#stream` item,
keyed by its sequence number, holding the record as the consumer was handed it
(`local/pump.py`, `on_give_up`). This tool hands each parked record, oldest
first, to the real `app.stream_consumer` again, one event each, and deletes the
item only when the consumer reports no failed item. Every consumer is
idempotent (DESIGN.md): replaying a record that was handled after all, or
running the tool twice, changes nothing.

Which DynamoDB: `--endpoint-url`, else `DYNAMODB_ENDPOINT_URL`, else the one a
running `make run` on `PORT` (default 8000) announced in its state file
(`state_file`). The report names sequence numbers and counts, never a
record's content. Exit status 0 when nothing is left failing, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SOURCE = "stream"
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def state_file(port: int | str) -> Path:
    """Where `make run` on `port` writes its DynamoDB endpoint and table, for this tool."""
    return Path(tempfile.gettempdir()) / f"unification-local-{port}.json"


def write_state(port: int | str, endpoint_url: str, table_name: str) -> Path:
    path = state_file(port)
    path.write_text(json.dumps({"dynamodbEndpointUrl": endpoint_url, "tableName": table_name}))
    return path


@dataclass(frozen=True)
class Outcome:
    sequence: str
    status: str  # replayed | failing | would-replay | unreadable
    reason: str

    def line(self) -> str:
        after = {
            "replayed": "item deleted",
            "failing": "failed again; kept",
            "would-replay": "dry run",
            "unreadable": "its record cannot be read; kept",
        }[self.status]
        return f"{self.status:<12} {self.sequence} (parked: {self.reason}); {after}"


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(o.status in {"replayed", "would-replay"} for o in self.outcomes)

    def lines(self) -> list[str]:
        if not self.outcomes:
            return ["0 parked failures: nothing to replay"]
        counts: dict[str, int] = {}
        for outcome in self.outcomes:
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
        summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        return [o.line() for o in self.outcomes] + [f"{len(self.outcomes)} parked failures: {summary}"]


def replay(store: Any, handler: Handler, dry_run: bool = False) -> Report:
    """Each parked record through `handler`, oldest first; delete what it handled."""
    report = Report()
    parked = sorted(store.failures(SOURCE), key=lambda item: (len(str(item["SK"])), str(item["SK"])))
    for item in parked:
        sequence, reason = str(item["SK"]), str(item.get("reason", ""))
        try:
            record = json.loads(str(item["payload"]))
            event = {"Records": [record]}
        except (KeyError, ValueError):
            report.outcomes.append(Outcome(sequence, "unreadable", reason))
            continue
        if dry_run:
            report.outcomes.append(Outcome(sequence, "would-replay", reason))
            continue
        answer = handler(event, None) or {}
        if answer.get("batchItemFailures"):
            report.outcomes.append(Outcome(sequence, "failing", reason))
            continue
        store.forget_failure(SOURCE, sequence)
        report.outcomes.append(Outcome(sequence, "replayed", reason))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Replay the local stack's parked stream failures.")
    parser.add_argument("--dry-run", action="store_true", help="report what would be replayed; change nothing")
    parser.add_argument("--endpoint-url", default=None, help="the local DynamoDB (default: the running make run's)")
    parser.add_argument("--table", default=None, help="the table (default: TABLE_NAME, or the running make run's)")
    args = parser.parse_args(argv)

    from .stack import local_defaults

    os.environ.update(local_defaults(dict(os.environ)))
    endpoint, table = args.endpoint_url or os.environ.get("DYNAMODB_ENDPOINT_URL"), args.table
    state = state_file(os.environ.get("PORT", "8000"))
    if endpoint is None and state.exists():
        announced = json.loads(state.read_text())
        endpoint, table = announced["dynamodbEndpointUrl"], table or announced["tableName"]
    if endpoint is None:
        print("replay: no local DynamoDB found: start `make run`, or give --endpoint-url", file=sys.stderr)
        return 1
    os.environ["DYNAMODB_ENDPOINT_URL"] = endpoint
    if table:
        os.environ["TABLE_NAME"] = table

    import app

    from ..bootstrap import container, reset

    reset()
    report = replay(container().deps.store, app.stream_consumer, dry_run=args.dry_run)
    print("\n".join(report.lines()), flush=True)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
