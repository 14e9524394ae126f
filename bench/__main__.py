"""``python -m bench`` (``make bench``): every figure, its target, met or not.

Writes bench/results.json and docs/performance.md; prints the table.
"""

from __future__ import annotations

import json
import platform
import shutil
import sys
import time
from datetime import UTC, datetime

from . import browser, gateway, overhead, scale, stack_boot
from .common import ROOT, WORK, Figure, stage, table

DOC_HEAD = """# Performance

Measured by `make bench` (`python -m bench`, code in `bench/`) on {machine}, {date}.
Every figure is taken in one run on the same machine; targets come from the
harness and backend issues. Node gateway figures are the ones quoted in those
issues for this kind of machine (the Node gateway is not run here).

{table}

## How to reproduce

    make bench          # about {minutes:.0f} minutes; writes bench/results.json and this page

Only loopback addresses are used and every loop is bounded. Stack boots
alternate between the parallel start and the one-after-the-other start, so
machine noise hits both alike; the per-test overhead alternates harness and
bare runs for the same reason.
"""


def main() -> int:
    started = time.perf_counter()
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    figures: list[Figure] = []
    with stage("stack boot, template database, reset"):
        figures += stack_boot.run()
    with stage("SSE gateway: start, latency, fan-out, memory"):
        figures += gateway.run(WORK)
    with stage("browser: page load, SSE delivery"):
        figures += browser.run()
    with stage("per-test overhead and suite wall time"):
        figures += overhead.run(WORK)
    with stage("scale profile: generated UI of 50/300/1000 modules, 3 s backend, 3 s seed"):
        figures += scale.run()
    minutes = (time.perf_counter() - started) / 60
    rendered = table(figures)
    print("\n" + rendered + "\n")
    machine = f"{platform.machine()}, Python {platform.python_version()}, {_cores()} cores"
    date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    results = {
        "date": date,
        "machine": machine,
        "minutes": round(minutes, 1),
        "figures": [figure.as_dict() for figure in figures],
    }
    (ROOT / "bench" / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (ROOT / "docs").mkdir(exist_ok=True)
    doc = DOC_HEAD.format(machine=machine, date=date, table=rendered, minutes=max(1, minutes))
    (ROOT / "docs" / "performance.md").write_text(doc)
    missed = [f for f in figures if f.met is False]
    print(
        f"{len(figures)} figures in {minutes:.1f} min; {len(missed)} target(s) not met"
        + "".join(
            f"\n  - {f.name}: {f.value:.3g} {f.unit} (target {f.target_text()})" for f in missed
        )
    )
    return 0


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    sys.exit(main())
