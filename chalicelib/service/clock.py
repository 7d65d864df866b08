"""Time and ids, injected so the core stays pure and tests stay deterministic."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...

    def new_id(self, prefix: str) -> str: ...


class SystemClock:
    def now(self) -> datetime:
        moment = datetime.now(UTC)
        return moment.replace(microsecond=moment.microsecond // 1000 * 1000)

    def new_id(self, prefix: str) -> str:
        """Time-ordered (so partitions list oldest first) and unguessable."""
        return f"{prefix}{time.time_ns() // 1_000_000:012x}{secrets.token_hex(8)}"
