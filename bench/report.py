"""The table, bench/results.json and the one-line summary."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import capacity
from .minimums import ALLOWANCE, MINIMUM
from .requests import Measured

RESULTS = Path(__file__).resolve().parent / "results.json"


@dataclass
class RequestRow:
    key: str
    title: str
    measured: float
    minimum: float
    passed: bool
    per: int
    measured_by_api: dict[str, float]
    minimum_by_api: dict[str, float]
    extra_by_api: dict[str, float]
    why: str
    detail: dict[str, Any] = field(default_factory=dict)


def request_rows(measured: list[Measured]) -> list[RequestRow]:
    """Each measurement beside its minimum; stream minimums are per drain, so divided alike."""
    rows = []
    for m in measured:
        minimum = MINIMUM[m.key]
        stream = m.key.startswith("stream_")
        scale = m.per if stream else 1
        minimum_by_api = {api: n / scale for api, n in minimum.by_api.items()}
        apis = sorted(set(minimum_by_api) | set(m.tally.calls))
        extra = {}
        for api in apis:
            delta = m.by_api().get(api, 0.0) - minimum_by_api.get(api, 0.0)
            if abs(delta) > 1e-9:
                extra[api] = round(delta * (m.per if stream else 1), 3)
        measured_value = m.requests
        minimum_value = minimum.requests / scale
        # A stream row is judged on its whole drain: at most the drain's minimum + 1.
        judged, limit = (m.tally.total, minimum.requests) if stream else (measured_value, minimum_value)
        passed = judged <= limit + ALLOWANCE + 1e-9
        rows.append(
            RequestRow(
                key=m.key,
                title=minimum.title,
                measured=round(measured_value, 3),
                minimum=round(minimum_value, 3),
                passed=passed,
                per=m.per,
                measured_by_api={k: round(v, 3) for k, v in m.by_api().items()},
                minimum_by_api={k: round(v, 3) for k, v in minimum_by_api.items()},
                extra_by_api=extra,
                why=minimum.why,
                detail={**m.detail, "attempts": m.tally.attempts, "total_requests": m.tally.total},
            )
        )
    return rows


@dataclass
class Figure:
    number: int
    key: str
    title: str
    value: float | None
    shown: str
    target: str
    passed: bool | None  # None: reported, no target
    detail: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def verdict(self) -> str:
        if self.error:
            return "ERROR"
        if self.passed is None:
            return "report"
        return "PASS" if self.passed else "FAIL"


def _signed(value: float) -> str:
    return f"+{value:g}" if value > 0 else f"{value:g}"


def capacity_rows(measured: list[Measured]) -> list[capacity.CapacityRow]:
    """Each measured operation's billed units against its minimum (a stream row: the whole drain)."""
    out = []
    for m in measured:
        if m.usage is None:
            continue
        stream = m.key.startswith("stream_")
        events = f" ({m.detail['events']} events)" if m.key.startswith("login_unifies") else ""
        title = MINIMUM[m.key].title + events + (" (whole drain)" if stream else "")
        out.append(capacity.row(m.key, title, m.usage, per=1 if stream else m.per))
    return out


def render(
    rows: list[RequestRow], figures: list[Figure], capacity_table: list[capacity.CapacityRow] | None = None
) -> str:
    lines = []
    if rows:
        lines.append(f"1. DynamoDB requests per operation (target: measured <= minimum + {ALLOWANCE})")
        lines.append(f"   {'operation':<50} {'per':<14} {'measured':>8} {'minimum':>8}  result  extra requests by API")
        for r in rows:
            stream = r.key.startswith("stream_")
            per = f"record (of {r.per})" if stream else (f"row (of {r.per})" if r.per > 1 else "operation")
            extra = ", ".join(f"{_signed(n)} {api}" for api, n in sorted(r.extra_by_api.items())) or "-"
            if stream:
                extra += f"  [whole drain: {r.detail['total_requests']} vs {round(r.minimum * r.per)}]"
            verdict = "PASS" if r.passed else "FAIL"
            lines.append(f"   {r.title[:50]:<50} {per:<14} {r.measured:>8.2f} {r.minimum:>8.2f}  {verdict:<6}  {extra}")
        lines.append("")
    if capacity_table:
        lines.append(capacity.render(capacity_table))
        lines.append("")
    if figures:
        lines.append(f"   {'figure':<50} {'':<14} {'measured':>8} {'target':>8}  result  detail")
        for f in figures:
            shown = f.shown if not f.error else "-"
            detail = f.error or str(f.detail.get("summary", ""))
            lines.append(f"{f.number}. {f.title[:50]:<50} {'':<14} {shown:>8} {f.target:>8}  {f.verdict:<6}  {detail}")
    return "\n".join(lines)


def summary(
    rows: list[RequestRow], figures: list[Figure], capacity_table: list[capacity.CapacityRow] | None = None
) -> str:
    parts = []
    if rows:
        failed = [r.key for r in rows if not r.passed]
        passed = len(rows) - len(failed)
        verdict = "PASS" if not failed else "FAIL"
        parts.append(f"requests {verdict} {passed}/{len(rows)}" + (f" (over: {', '.join(failed)})" if failed else ""))
    if capacity_table:
        parts.append(capacity.summary(capacity_table))
    for f in figures:
        parts.append(f"{f.key} {f.verdict} {f.shown if not f.error else ''}".rstrip())
    return "bench: " + " | ".join(parts)


def write(
    path: Path,
    meta: dict[str, Any],
    rows: list[RequestRow],
    figures: list[Figure],
    extra: dict[str, Any],
    capacity_table: list[capacity.CapacityRow] | None = None,
) -> None:
    document = {
        **meta,
        "requests": [asdict(r) for r in rows],
        "capacity": {
            "region": capacity.REGION,
            "dollars_per_million_write_units": capacity.WRITE_PRICE,
            "dollars_per_million_read_units": capacity.READ_PRICE,
            "prices_checked": capacity.PRICES_CHECKED,
            "rows": [asdict(r) for r in capacity_table or []],
        },
        "figures": [{**asdict(f), "verdict": f.verdict} for f in figures],
        **extra,
    }
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
