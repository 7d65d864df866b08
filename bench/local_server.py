"""`python -m chalicelib.local` (what `make run` starts), with moto's costs made
DynamoDB-like as in the rest of the bench (see `bench.emulator`); with
BENCH_METER=1, every request also costed by partition key (`bench.meter`)."""

from __future__ import annotations

import os
import runpy

from . import emulator

if __name__ == "__main__":
    emulator.install()
    metered = os.environ.get("BENCH_METER")
    if metered in ("1", "timings"):  # "1": every request costed, by key (hot keys); both: lock timings
        from .meter import Ledger, install_in_local_stack

        install_in_local_stack(Ledger(keep_keys=metered == "1"))
    runpy.run_module("chalicelib.local", run_name="__main__", alter_sys=True)
