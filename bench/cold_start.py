"""Figure 6: importing the app in a fresh interpreter ÷ importing its frameworks bare."""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parent.parent
TIMED = "import time; started = time.perf_counter(); {}; print(time.perf_counter() - started)"
APP = "import app"
BARE = "import chalice, boto3, pydantic"
# app.py loads its HTTP layer and use cases on first use (chalicelib/lazy.py): what a
# Lambda's first invocation imports on top of `import app`, measured the same way so
# that the deferral is never mistaken for a saving.
FIRST_EVENT = (
    "import app; import chalicelib.api.schemas, chalicelib.api.views, chalicelib.service.sessions,"
    " chalicelib.service.history, chalicelib.store.dynamo"
)
FIRST_STREAM_BATCH = (
    "import app; import chalicelib.service.consumers, chalicelib.store.streams, chalicelib.store.dynamo"
)


def clean_env() -> dict[str, str]:
    """No AWS settings or endpoints: `app.py` must import with nothing set."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
    return {k: v for k, v in os.environ.items() if k in keep}


def _run(statement: str) -> tuple[float, float]:
    """(seconds the import took inside the process, seconds of the whole process)."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", TIMED.format(statement)],
        cwd=PROJECT,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - started
    return float(done.stdout.strip().splitlines()[-1]), wall


def run(reps: int) -> dict[str, Any]:
    statements = {"app": APP, "bare": BARE, "first_event": FIRST_EVENT, "first_stream_batch": FIRST_STREAM_BATCH}
    for statement in statements.values():
        _run(statement)  # compile and cache bytecode; warm the page cache
    inside: dict[str, list[float]] = {name: [] for name in statements}
    whole: dict[str, list[float]] = {name: [] for name in statements}
    for rep in range(reps):
        order = list(statements.items())
        for name, statement in order if rep % 2 == 0 else reversed(order):
            seconds, wall = _run(statement)
            inside[name].append(seconds)
            whole[name].append(wall)
    med = {k: statistics.median(v) for k, v in inside.items()}
    med_whole = {k: statistics.median(v) for k, v in whole.items()}
    return {
        "ratio": med["app"] / med["bare"],
        "import_app_ms": round(med["app"] * 1000, 1),
        "import_bare_ms": round(med["bare"] * 1000, 1),
        "process_ratio": med_whole["app"] / med_whole["bare"],
        "process_app_ms": round(med_whole["app"] * 1000, 1),
        "process_bare_ms": round(med_whole["bare"] * 1000, 1),
        "first_event_imports_ms": round(med["first_event"] * 1000, 1),
        "first_event_ratio": round(med["first_event"] / med["bare"], 2),
        "first_stream_batch_imports_ms": round(med["first_stream_batch"] * 1000, 1),
        "first_stream_batch_ratio": round(med["first_stream_batch"] / med["bare"], 2),
        "reps": reps,
        "extra_by_package_ms": extra_by_package(FIRST_EVENT),
        "bundles": bundles(),
    }


def import_times(statement: str) -> Counter[str]:
    """Own import time (ms) by top-level package, from `python -X importtime`."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", statement],
        cwd=PROJECT,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    own: Counter[str] = Counter()
    for line in done.stderr.splitlines():
        found = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
        if found:
            own[found.group(4).strip().split(".")[0]] += int(found.group(1))  # microseconds
    return own


def extra_by_package(statement: str) -> dict[str, float]:
    """What `statement` loads beyond the bare frameworks, by package (median of 3 runs)."""
    runs = [import_times(statement) - import_times(BARE) for _ in range(3)]
    packages = set().union(*runs)
    median = {p: statistics.median(r.get(p, 0) for r in runs) / 1000 for p in packages}
    top = sorted(median.items(), key=lambda kv: kv[1], reverse=True)[:12]
    return {p: round(ms, 1) for p, ms in top if ms >= 0.5}


def bundles() -> dict[str, int] | str:
    """Sizes of the deployment bundles under dist/, if any were built."""
    found = {str(p.relative_to(PROJECT)): p.stat().st_size for p in sorted((PROJECT / "dist").glob("**/*.zip"))}
    return found or "not built"
