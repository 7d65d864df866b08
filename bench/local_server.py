"""`python -m chalicelib.local` (what `make run` starts), with moto's costs made
DynamoDB-like as in the rest of the bench (see `bench.emulator`)."""

from __future__ import annotations

import runpy

from . import emulator

if __name__ == "__main__":
    emulator.install()
    runpy.run_module("chalicelib.local", run_name="__main__", alter_sys=True)
