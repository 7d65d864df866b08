"""Modules imported on first use.

Each Lambda function (the API, the stream consumer, the schedule) imports
`app.py` whole; what only some handlers use waits until one of them asks.
"""

from __future__ import annotations

import importlib
import types
from typing import Any


class LazyModule(types.ModuleType):
    """Stands in for a module until one of its attributes is asked for, then imports
    it (under the interpreter's import lock: safe from several threads) and hands
    the attribute over."""

    def __getattr__(self, name: str) -> Any:
        return getattr(importlib.import_module(self.__name__), name)
