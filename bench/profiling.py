"""Profiles of the slow paths, small enough to read.

pyinstrument (a sampling profiler: little overhead, so the profile keeps the
proportions of the real run) when it is installed, which the bench does not
require; cProfile otherwise (it slows Python code down two to three times,
more than the time spent waiting for DynamoDB, so read its shares with care).
"""

from __future__ import annotations

import cProfile
import importlib.util
import io
import pstats
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class Profiles:
    """Profiles by name; a no-op unless enabled (`python -m bench --profile`)."""

    def __init__(self, enabled: bool, top: int = 25) -> None:
        self.enabled = enabled
        self.top = top
        self.texts: dict[str, str] = {}

    @contextmanager
    def profile(self, name: str) -> Iterator[None]:
        if not self.enabled:
            yield
            return
        if importlib.util.find_spec("pyinstrument") is not None:
            with _sampled(name, self.texts):
                yield
            return
        profiler = cProfile.Profile()
        profiler.enable()
        try:
            yield
        finally:
            profiler.disable()
            self.texts[name] = "(cProfile)\n" + render(profiler, self.top)


@contextmanager
def _sampled(name: str, texts: dict[str, str]) -> Iterator[None]:
    from pyinstrument import Profiler

    profiler: Any = Profiler(interval=0.001)
    profiler.start()
    try:
        yield
    finally:
        profiler.stop()
        texts[name] = "(pyinstrument)\n" + profiler.output_text(unicode=False, color=False, show_all=False)


def render(profiler: cProfile.Profile, top: int) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(top)
    out.write("\n--- by own time ---\n")
    stats.sort_stats("tottime").print_stats(top)
    return "\n".join(line for line in out.getvalue().splitlines() if line.strip())
