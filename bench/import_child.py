"""The process that does a CSV import (figure 4), so that its peak RSS is the app's alone.

Run by `bench.csv_import` with the service's environment; the embedded
DynamoDB stays in the parent. POSTs the file to `/v1/imports` through
Chalice's gateway (in this process, as a local server would) and prints one
JSON line: time, DynamoDB requests by API, and memory.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path
from typing import Any


def memory() -> dict[str, int]:
    """VmRSS and VmHWM (peak) of this process, in KiB."""
    found = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0])
    return found


def main(argv: list[str]) -> int:
    csv_path, profile = argv[0], "--profile" in argv
    from .counting import RequestLog
    from .profiling import Profiles
    from .stack import Api, quiet_logs

    quiet_logs()
    # The figure times rows per second over the whole file in one request, far past the
    # 20 s a request may take (chalicelib/budget.py): that budget is not what it measures.
    from chalicelib import budget

    budget.REQUEST_SECONDS = 3600.0
    api = Api()
    from chalicelib.bootstrap import container

    log = RequestLog().attach(container().client)
    api.call("GET", "/v1/health").expect(200)
    body = Path(csv_path).read_bytes()
    before = memory()
    profiles = Profiles(profile, top=30)
    with log.window() as tally, profiles.profile("import"):
        started = time.perf_counter()
        reply = api.admin("POST", "/v1/imports", body, {"Content-Type": "text/csv; charset=utf-8"})
        seconds = time.perf_counter() - started
    result: dict[str, Any] = reply.expect(200)["import"]
    after = memory()
    print(
        json.dumps(
            {
                "seconds": seconds,
                "rows": result["rows"],
                "members": result["members"],
                "leads": result["leads"],
                "candidates": len(result["candidates"]),
                "errors": result["errors"][:5],
                "error_count": len(result["errors"]),
                "requests": tally.by_api(),
                "client_seconds": dict(tally.seconds),
                "body_bytes": len(body),
                "rss_before_kib": before["VmRSS"],
                "hwm_before_kib": before["VmHWM"],
                "hwm_kib": after["VmHWM"],
                "ru_maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                "profile": profiles.texts.get("import"),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
