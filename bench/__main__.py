"""`make bench`: what each operation costs, side by side in one run.

Prints the table, writes bench/results.json and ends with a one-line summary.
Figures (issue 6): 1 DynamoDB requests per operation against the data
model's minimum (bench/minimums.py); 2 a unifying login with a long history
against a short one; 3 the history move against a plain BatchWriteItem copy;
4 a CSV import against a plain BatchWriteItem of the same items, and its peak
memory; 5 deferred completion latency on the local stack; 6 importing the app
against importing its frameworks; 7 an event's latency through the local
server against one PutItem. Issue 13: 1b the write and read units each
operation of figure 1 would be billed, against what its data needs
(bench/capacity.py); 9 the hottest partition keys at the design peak
(bench/hot_keys.py). Issue 10.14: 8 the lag from a unifying login to its
history's move completing, 8 clients at once (bench/move_lag.py). Issues 11
and 12: 10 the browser SDK gzipped, 11 the console's JS + CSS
(bench/sizes.py).

The in-process figures run on moto's server as the local stack starts it,
with moto's costs made DynamoDB-like (bench/emulator.py explains why and
how; --stock-moto leaves them as they are).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from . import report
from .profiling import Profiles

SECTIONS = ("requests", "unify", "move", "import", "local", "lag", "hotkeys", "cold", "sizes", "erasure")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}")
    parser.add_argument(
        "--import-rows",
        type=int,
        default=None,
        help="rows of the CSV import (default 100000, as issue 6 sets it; --quick: 2000)",
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer repetitions (a smoke run)")
    parser.add_argument(
        "--hot-key-scales",
        default=None,
        help="the two sizes of the hot-key workload, as shares of the full one (default 0.1,1; --quick 0.002,0.02)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also profile the slow paths (pyinstrument if installed, else cProfile) into the output",
    )
    parser.add_argument(
        "--stock-moto",
        action="store_true",
        help="moto as the local stack starts it, without bench/emulator.py (its transactions and queries"
        " cost O(table) there)",
    )
    return parser.parse_args(argv)


class Run:
    """The figures gathered so far, and the time each section took."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.quick = args.quick
        self.profiles = Profiles(args.profile)
        self.rows: list[report.RequestRow] = []
        self.capacity: list[Any] = []
        self.figures: list[report.Figure] = []
        self.extra: dict[str, Any] = {"streams": {}, "sections_seconds": {}}
        self.errors = 0
        self._embedded: Any = None

    @property
    def embedded(self) -> Any:
        if self._embedded is None:
            from .stack import Embedded

            self._embedded = Embedded(patched=not self.args.stock_moto)
        return self._embedded

    def section(self, name: str, title: str, body: Callable[[], None], *numbers: tuple[int, str, str, str]) -> None:
        print(f"[bench] {title} ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        try:
            body()
        except Exception as exc:
            self.errors += 1
            traceback.print_exc()
            for number, key, figure_title, target in numbers:
                self.figures.append(
                    report.Figure(
                        number, key, figure_title, None, "-", target, None, error=f"{type(exc).__name__}: {exc}"[:200]
                    )
                )
        seconds = time.perf_counter() - started
        self.extra["sections_seconds"][name] = round(seconds, 1)
        print(f"[bench] {title}: {seconds:.1f} s", file=sys.stderr, flush=True)

    # the sections ---------------------------------------------------------------------

    def requests(self) -> None:
        from . import requests

        measured, streams, latency = requests.run(self.embedded, csv_rows=100 if self.quick else 200)
        self.extra["session_event_in_process"] = latency
        self.rows = report.request_rows(measured)
        self.capacity = report.capacity_rows(measured)
        self.extra["streams"] = {
            key: {
                kind: {"records": stats.records[kind], "requests": stats.tallies[kind].by_api()}
                for kind in sorted(stats.records)
            }
            for key, stats in streams.items()
        }

    def unify(self) -> None:
        from . import unify_cost

        small, large = 10, 1500
        r = unify_cost.run(
            self.embedded, reps=3 if self.quick else 12, small=small, large=large, profiles=self.profiles
        )
        ms = r["median_ms"]
        r["summary"] = (
            f"median login {ms[str(large)]} ms ({large} events) vs {ms[str(small)]} ms ({small}), {r['reps']} pairs;"
            f" median of the pairs' ratios {r['median_of_pair_ratios']}"
        )
        self.figures.append(
            report.Figure(
                2,
                "unify-cost",
                f"login unifying {large} events / {small} events",
                r["ratio"],
                f"{r['ratio']:.2f}",
                "<= 1.2",
                r["ratio"] <= 1.2,
                r,
            )
        )

    def move(self) -> None:
        from . import move

        events, chats = (900, 100) if self.quick else (2700, 300)
        r = move.run(self.embedded, events=events, chats=chats, profiles=self.profiles)
        r["summary"] = (
            f"{r['items']} items, {r['moves']} moves: {r['move_items_per_s']}/s (s: {r['move_seconds']}, then"
            f" cleanup {r['cleanup_seconds']}) vs raw BatchWriteItem {r['raw_items_per_s']}/s"
        )
        self.figures.append(
            report.Figure(
                3,
                "move",
                "history move / raw BatchWriteItem (items/s)",
                r["ratio"],
                f"{r['ratio']:.2f}",
                ">= 0.5",
                r["ratio"] >= 0.5,
                r,
            )
        )

    def import_(self) -> None:
        from . import csv_import

        rows = self.args.import_rows or (2_000 if self.quick else csv_import.TARGET_ROWS)
        r = csv_import.run(self.embedded, rows=rows, profile=self.args.profile)
        if r.get("profile"):
            self.profiles.texts[f"CSV import of {rows} rows (import process)"] = r.pop("profile")
        r.pop("profile", None)
        at = "" if rows >= csv_import.TARGET_ROWS else f" (on {rows} rows; 100k estimated)"
        r["summary"] = (
            f"{r['import_rows_per_s']} rows/s vs raw {r['raw_rows_per_s']} rows/s{at}; 100k rows ~ "
            f"{r['import_seconds_at_100k_estimate']} s"
        )
        self.figures.append(
            report.Figure(
                4,
                "import",
                "CSV import / raw BatchWriteItem (rows/s)",
                r["ratio"],
                f"{r['ratio']:.3f}",
                ">= 0.5",
                r["ratio"] >= 0.5,
                r,
            )
        )
        measured = rows >= csv_import.TARGET_ROWS
        peak = r["peak_rss_mb"] if measured else r["peak_rss_mb_at_100k_estimate"]
        memory = {
            "summary": f"peak {r['peak_rss_mb']} MB at {rows} rows (before the import {r['rss_before_import_mb']} MB)"
            + ("" if measured else f"; 100k rows ~ {peak} MB, growth scaled linearly (meaningful from 10k rows on)"),
        }
        self.figures.append(
            report.Figure(
                4,
                "import-rss",
                "CSV import peak RSS at 100k rows (MB)",
                peak,
                f"{peak:.0f} MB" + ("" if measured else " est"),
                "<= 200 MB",
                peak <= 200,
                memory,
            )
        )

    def local(self) -> None:
        """Figures 5 and 7 on the local stack; with moto's costs made DynamoDB-like (the
        figure), and as `make run` starts it (shown beside, fewer samples)."""
        from . import local_stack

        variants = [False] if self.args.stock_moto else [True, False]
        measured = {emulated: self._on_local_stack(local_stack, emulated) for emulated in variants}
        primary = measured[variants[0]]
        stock = measured[False] if len(variants) > 1 else {}
        self._deferred(primary.get("deferred"), stock.get("deferred"))
        self._overhead(primary.get("overhead"), stock.get("overhead"))

    def _on_local_stack(self, local_stack: Any, emulated: bool) -> dict[str, Any]:
        label = "DynamoDB-like moto" if emulated else "moto as make run has it"
        few = self.quick or not emulated
        results: dict[str, Any] = {}
        try:
            stack = local_stack.LocalStack(emulated=emulated)
        except Exception:
            self.errors += 1
            traceback.print_exc()
            return results

        def deferred() -> None:
            results["deferred"] = local_stack.deferred_latency(stack, reps=5 if few else 10)

        def overhead() -> None:
            results["overhead"] = local_stack.request_overhead(stack, samples=30 if few else 100)

        try:
            self.section(f"deferred ({label})", f"5 deferred completion, local stack, {label}", deferred)
            self.section(f"overhead ({label})", f"7 request overhead, local stack, {label}", overhead)
        finally:
            stack.stop()
        return results

    def _deferred(self, r: dict[str, Any] | None, stock: dict[str, Any] | None) -> None:
        title, target = "deferred completion, login -> completed", "<= 2 s"
        if r is None:
            self.figures.append(report.Figure(5, "deferred", title, None, "-", target, None, error="not measured"))
            return
        r["summary"] = f"median of {r['reps']}; login request {r['login_request_median_ms']} ms; polled every 20 ms"
        if stock:
            r["make_run_moto"] = stock
            r["summary"] += f"; moto as make run has it {stock['median_s']:.2f} s"
        self.figures.append(
            report.Figure(
                5, "deferred", title, r["median_s"], f"{r['median_s']:.2f} s", target, r["median_s"] <= 2.0, r
            )
        )

    def _overhead(self, r: dict[str, Any] | None, stock: dict[str, Any] | None) -> None:
        title = "POST /v1/session/events / raw PutItem"
        if r is None:
            self.figures.append(report.Figure(7, "overhead", title, None, "-", "report", None, error="not measured"))
            return
        r["summary"] = (
            f"route {r['route_median_ms']} ms vs PutItem {r['put_median_ms']} ms; its own 2 requests made raw"
            f" {r['raw_pair_median_ms']} ms; on a kept-alive connection {r['route_kept_alive_median_ms']} ms"
        )
        inside = self.extra.get("session_event_in_process")
        if inside:
            r["in_process"] = inside
            r["summary"] += (
                f"; in process (no socket) {inside['total_ms']} ms, {inside['dynamodb_client_ms']} ms of it in"
                f" DynamoDB calls ({inside['inside_moto_ms']} ms inside moto)"
            )
        if stock:
            r["make_run_moto"] = stock
            r["summary"] += (
                f"; moto as make run has it: {stock['ratio']:.1f}x ({stock['route_median_ms']} vs"
                f" {stock['put_median_ms']} ms)"
            )
        self.figures.append(report.Figure(7, "overhead", title, r["ratio"], f"{r['ratio']:.2f}", "report", None, r))

    def lag(self) -> None:
        from . import move_lag

        per_client = 5 if self.quick else 30
        r = move_lag.run_on_local_stack(per_client, emulated=not self.args.stock_moto)
        r["summary"] = (
            f"{r['logins']} unifying logins (one chat each) from {r['clients']} clients at {r['logins_per_s']}/s:"
            f" median {r['median_s']} s, max {r['max_s']} s; {r['backlog_at_last_login']} moves still running at"
            f" the last login, drained at {r['backlog_drain_per_s']}/s"
        )
        self.figures.append(
            report.Figure(
                8,
                "move-lag",
                "unifying login -> history moved, p99",
                r["p99_s"],
                f"{r['p99_s']:.2f} s",
                "<= 5 s",
                r["p99_s"] <= 5.0,
                r,
            )
        )

    def hotkeys(self) -> None:
        from . import hot_keys

        given = self.args.hot_key_scales or ("0.002,0.02" if self.quick else "0.1,1")
        small, large = (float(x) for x in given.split(","))
        r = hot_keys.run((small, large))
        self.extra["hot_keys_table"] = hot_keys.render(r)
        grows = [scope for scope, v in r["verdict"].items() if v["share_grows"]]
        over = {scope: v["over_limit"][:3] for scope, v in r["verdict"].items() if v["over_limit"]}
        r["summary"] = (
            f"hottest: {r['verdict'][r['worst_scope']]['hottest_key']} in {r['worst_scope']}"
            + (f"; over 500/s: {over}" if over else "")
            + (f"; share grows in {grows}" if grows else "")
        )
        self.figures.append(
            report.Figure(
                9,
                "hot-keys",
                "hottest key at the design peak (write units/s)",
                r["worst_at_peak_per_s"],
                f"{r['worst_at_peak_per_s']:.0f}/s",
                "<= 500/s",
                r["passed"],
                r,
            )
        )

    def sizes(self) -> None:
        from . import sizes

        sdk, console = sizes.sdk(), sizes.console()
        for number, key, title, found, measure, limit in (
            (10, "sdk-size", "browser SDK, gzipped", sdk, "gzip_bytes", sizes.SDK_LIMIT),
            (11, "console-size", "console JS + CSS", console, "bytes", sizes.CONSOLE_LIMIT),
        ):
            target = f"<= {limit // 1024} KB"
            if "missing" in found:
                found["summary"] = f"missing: {found['missing']}"
                self.figures.append(report.Figure(number, key, title, None, "missing", target, None, found))
                continue
            value = found[measure]
            found["summary"] = f"{found['bytes']:,} bytes as stored, {found['gzip_bytes']:,} gzipped"
            self.figures.append(
                report.Figure(number, key, title, value, f"{value / 1024:.1f} KB", target, value <= limit, found)
            )

    def erasure(self) -> None:
        from . import erasure

        small, large = (100, 1000) if self.quick else (1000, 10_000)
        r = erasure.run(self.embedded, small=small, large=large, chats=5 if self.quick else 20)
        m = r["measured"]
        r["summary"] = (
            f"the request: {m[str(large)]['request_requests']} requests with {large} events,"
            f" {m[str(small)]['request_requests']} with {small}; the background:"
            f" {r['per_item']:.3f} requests per erased item ({m[str(large)]['background_requests']}"
            f" for {m[str(large)]['items']})"
        )
        ratio = r["request_ratio"]
        self.figures.append(
            report.Figure(
                12,
                "erasure-request",
                "erasure request, 10x the events (requests)",
                ratio,
                f"{ratio:.2f}",
                "<= 1.0",
                ratio <= 1.0,
                r,
            )
        )
        per_item = r["per_item"]
        self.figures.append(
            report.Figure(
                12,
                "erasure-per-item",
                "erasure background, requests per erased item",
                per_item,
                f"{per_item:.3f}",
                "<= 0.1",
                per_item <= 0.1,
                {"summary": r["summary"]},
            )
        )

    def cold(self) -> None:
        from . import cold_start

        r = cold_start.run(reps=5 if self.quick else 15)
        bundles = r["bundles"]
        sizes = (
            ", ".join(f"{name} {size / 1e6:.1f} MB" for name, size in bundles.items())
            if isinstance(bundles, dict)
            else bundles
        )
        r["summary"] = (
            f"import app {r['import_app_ms']} ms vs {r['import_bare_ms']} ms bare"
            f" (whole process {r['process_ratio']:.2f}x); the HTTP layer and use cases load on first use:"
            f" import app and a session event's modules {r['first_event_imports_ms']} ms"
            f" ({r['first_event_ratio']}x), and a stream batch's {r['first_stream_batch_imports_ms']} ms"
            f" ({r['first_stream_batch_ratio']}x);"
            f" bundle: {sizes}"
        )
        self.figures.append(
            report.Figure(
                6,
                "cold-start",
                "import app / import chalice, boto3, pydantic",
                r["ratio"],
                f"{r['ratio']:.2f}",
                "<= 1.3",
                r["ratio"] <= 1.3,
                r,
            )
        )


def main(argv: list[str]) -> int:
    args = parse(argv)
    wanted = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = wanted - set(SECTIONS)
    if unknown:
        print(f"unknown sections: {', '.join(sorted(unknown))} (choose from {', '.join(SECTIONS)})", file=sys.stderr)
        return 2
    from .stack import SERVICE_ENV, apply_env, quiet_logs

    quiet_logs()
    apply_env(dict(SERVICE_ENV))
    started = time.perf_counter()
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    run = Run(args)
    plan: list[tuple[str, str, Callable[[], None], tuple[tuple[int, str, str, str], ...]]] = [
        ("requests", "1 requests per operation", run.requests, ()),
        (
            "unify",
            "2 unification cost against history",
            run.unify,
            ((2, "unify-cost", "login unifying 1500 / 10 events", "<= 1.2"),),
        ),
        (
            "move",
            "3 history move throughput",
            run.move,
            ((3, "move", "history move / raw BatchWriteItem (items/s)", ">= 0.5"),),
        ),
        ("import", "4 CSV import", run.import_, ((4, "import", "CSV import / raw BatchWriteItem (rows/s)", ">= 0.5"),)),
        ("local", "5 and 7 on the local stack", run.local, ()),
        (
            "lag",
            "8 history-move lag under load",
            run.lag,
            ((8, "move-lag", "unifying login -> history moved, p99", "<= 5 s"),),
        ),
        (
            "hotkeys",
            "9 hot keys",
            run.hotkeys,
            ((9, "hot-keys", "hottest key at the design peak (write units/s)", "<= 500/s"),),
        ),
        (
            "cold",
            "6 cold start",
            run.cold,
            ((6, "cold-start", "import app / import chalice, boto3, pydantic", "<= 1.3"),),
        ),
        ("sizes", "10 and 11 what a browser downloads", run.sizes, ()),
        (
            "erasure",
            "12 erasure",
            run.erasure,
            ((12, "erasure-request", "erasure request, 10x the events (requests)", "<= 1.0"),),
        ),
    ]
    for name, title, body, numbers in plan:
        if name in wanted:
            run.section(name, title, body, *numbers)
    if run._embedded is not None:
        run._embedded.stop()

    run.figures.sort(key=lambda f: f.number)
    elapsed = time.perf_counter() - started
    meta: dict[str, Any] = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python -m bench " + " ".join(argv),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "dynamodb": "moto as the local stack starts it"
        if args.stock_moto
        else "moto with DynamoDB-like costs (bench/emulator.py)",
        "runtime_seconds": round(elapsed, 1),
        "load_average_at_start": load_at_start,
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
    }
    extra = {**run.extra, "profiles": run.profiles.texts}
    report.write(report.RESULTS, meta, run.rows, run.figures, extra, run.capacity)
    print()
    print(report.render(run.rows, run.figures, run.capacity))
    if "hot_keys_table" in run.extra:
        print()
        print(run.extra["hot_keys_table"])
    for name, text in run.profiles.texts.items():
        print(f"\n--- profile: {name} ---\n{text}")
    print(
        f"\n(bench/results.json written; {elapsed:.0f} s; DynamoDB: {meta['dynamodb']}; load average"
        f" {load_at_start[0]} at start, {meta['load_average_at_end'][0]} at end on {os.cpu_count()} CPUs)"
    )
    print(report.summary(run.rows, run.figures, run.capacity))
    return 1 if run.errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
