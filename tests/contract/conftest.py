"""The contract run's tally, printed at the end of the session."""

from __future__ import annotations

import pytest

TALLY: list[str] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TALLY:
        terminalreporter.section("schemathesis")
        for line in TALLY:
            terminalreporter.write_line(line)
