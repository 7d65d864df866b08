"""Figure 4: CSV import rows per second against raw BatchWriteItem of the same items,
and the importing process's peak memory."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from .stack import Embedded, Failed, phone, service_env

PROJECT = Path(__file__).resolve().parent.parent
HEADER = "memberId,name,mobileNumber,email,companyName\n"
TARGET_ROWS = 100_000


def row(n: int) -> str:
    """Of every 10 rows: 4 members, 5 leads matching nobody, 1 lead with the phone of the
    member 9 rows up (a candidate, R6.3)."""
    kind = n % 10
    if kind < 4:
        return f"imp-m-{n},Member {n},{phone(200_000 + n)},imp-m-{n}@example.org,Company {n % 97}\n"
    if kind < 9:
        return f",Lead {n},{phone(400_000 + n)},imp-l-{n}@example.org,Company {n % 89}\n"
    return f",Walk-in {n},{phone(200_000 + n - 9)},,\n"


def expected(rows: int) -> tuple[int, int, int]:
    members = sum(1 for n in range(rows) if n % 10 < 4)
    candidates = sum(1 for n in range(rows) if n % 10 == 9)
    return members, rows - members, candidates


def run(embedded: Embedded, rows: int, profile: bool) -> dict[str, Any]:
    """The import of `rows` rows, bracketed by two raw BatchWriteItem runs (the machine's
    load drifts over a minute): before it, the items a tenth of the file wrote in a first,
    smaller import; after it, the items the import wrote. The yardstick is the mean of
    the two rates, rows per second."""
    small = max(10, rows // 10 // 10 * 10)
    before = _import(embedded, "bench_import_small", small, profile=False)
    raw_before = _raw_in_child(embedded, embedded.items("bench_import_small"), embedded.table("bench_import_raw_1"))
    with embedded.server_clock.window() as server:
        child = _import(embedded, "bench_import", rows, profile=False)
    items = embedded.items("bench_import")
    raw_after = _raw_in_child(embedded, items, embedded.table("bench_import_raw_2"))
    profiled = _import(embedded, "bench_import_profiled", rows, profile=True) if profile else {}
    raw_rates = (small / raw_before, rows / raw_after)
    raw_rows_per_s = statistics.mean(raw_rates)
    rows_per_s = rows / child["seconds"]
    growth_kib = max(0, child["hwm_kib"] - child["rss_before_kib"])
    # At 100,000 rows the body itself (held before the import starts) is larger too.
    scale = TARGET_ROWS / rows
    body_extra_kib = child["body_bytes"] * (scale - 1) / 1024
    return {
        "rows": rows,
        "ratio": rows_per_s / raw_rows_per_s,
        "import_seconds": round(child["seconds"], 2),
        "import_rows_per_s": round(rows_per_s, 1),
        "raw_rows_per_s_before_and_after": [round(x, 1) for x in raw_rates],
        "small_import": {"rows": small, "rows_per_s": round(small / before["seconds"], 1)},
        "raw_items": len(items),
        "raw_rows_per_s": round(raw_rows_per_s, 1),
        "requests_per_row": {k: round(v / rows, 3) for k, v in sorted(child["requests"].items())},
        "client_seconds_by_api": {k: round(v, 2) for k, v in sorted(child["client_seconds"].items())},
        "moto_seconds_by_api": {k: round(v, 2) for k, v in sorted(server.seconds.items())},
        "members": child["members"],
        "leads": child["leads"],
        "candidates": child["candidates"],
        "body_bytes": child["body_bytes"],
        "peak_rss_mb": round(child["hwm_kib"] / 1024, 1),
        "rss_before_import_mb": round(child["rss_before_kib"] / 1024, 1),
        "rss_growth_mb": round(growth_kib / 1024, 1),
        "peak_rss_mb_at_100k_estimate": round(
            (child["rss_before_kib"] + body_extra_kib + growth_kib * scale) / 1024, 1
        ),
        "import_seconds_at_100k_estimate": round(child["seconds"] * scale, 1),
        "profile": profiled.get("profile"),
    }


def _import(embedded: Embedded, table_name: str, rows: int, profile: bool) -> dict[str, Any]:
    """The first `rows` rows imported into a fresh table by a process of its own; checked."""
    table = embedded.table(table_name)
    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False, encoding="utf-8") as f:
        f.write(HEADER + "".join(row(n) for n in range(rows)))
        path = f.name
    try:
        child = _import_in_child(embedded, table, path, profile)
    finally:
        os.unlink(path)
    members, leads, candidates = expected(rows)
    got = (child["members"], child["leads"], child["candidates"], child["error_count"])
    if got != (members, leads, candidates, 0):
        raise Failed(f"import: expected {(members, leads, candidates, 0)}, got {got}: {child['errors']}")
    return child


def _raw_in_child(embedded: Embedded, items: list[dict[str, Any]], table: str) -> float:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as f:
        json.dump(items, f)
        path = f.name
    try:
        env = {**os.environ, **service_env(embedded.url, table), "PYTHONPATH": str(PROJECT)}
        done = subprocess.run(
            [sys.executable, "-m", "bench.raw_child", path, table],
            cwd=PROJECT,
            env=env,
            capture_output=True,
            text=True,
            timeout=3600,
        )
    finally:
        os.unlink(path)
    if done.returncode != 0:
        raise Failed(f"the raw BatchWriteItem process failed ({done.returncode}):\n{done.stderr[-3000:]}")
    seconds: float = json.loads(done.stdout.strip().splitlines()[-1])["seconds"]
    return seconds


def _import_in_child(embedded: Embedded, table: str, path: str, profile: bool) -> dict[str, Any]:
    env = {**os.environ, **service_env(embedded.url, table), "PYTHONPATH": str(PROJECT)}
    command = [sys.executable, "-m", "bench.import_child", path, *(["--profile"] if profile else [])]
    done = subprocess.run(command, cwd=PROJECT, env=env, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise Failed(f"the import process failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result
