"""What every use case is built from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from ..config import Settings
from .clock import Clock
from .ports import Store


@dataclass(frozen=True)
class Deps:
    store: Store
    clock: Clock
    settings: Settings

    @property
    def session_timeout(self) -> timedelta:
        return timedelta(seconds=self.settings.session_timeout_seconds)
