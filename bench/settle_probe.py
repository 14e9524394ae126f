"""A pytest plugin for the benchmarks: the wall time of each ``Stack.settle_logs`` (the
drain-and-settle at a test's end), written to ``$BENCH_SETTLE_OUT`` as JSON lines.

    python -m pytest -p bench.settle_probe ...
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from stackwright.support.processes import Stack

_settle = Stack.settle_logs


def _timed(self: Stack, **args: Any) -> Any:
    started = time.perf_counter()
    try:
        return _settle(self, **args)
    finally:
        out = os.environ.get("BENCH_SETTLE_OUT")
        if out:
            with open(out, "a", encoding="utf-8") as file:
                file.write(json.dumps({"seconds": time.perf_counter() - started}) + "\n")


Stack.settle_logs = _timed  # type: ignore[method-assign]
