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

from . import browser, database, gateway, inner_loop, overhead, scale, shards, stack_boot
from .common import ROOT, WORK, Figure, stage, table

DOC_HEAD = """# Performance

Measured by `make bench` (`python -m bench`, code in `bench/`) on {machine}, {date}.
Every figure is taken in one run on the same machine; targets come from the
harness and backend issues. Node gateway figures are the ones quoted in those
issues for this kind of machine (the Node gateway is not run here).

{table}

## The database on each engine

The `database` rows put the two implementations of the database seam side by side
(`bench/database.py`). A worker's SQLite database is a file copy of the seeded
template (under a millisecond); on PostgreSQL it is a `CREATE DATABASE ... TEMPLATE`
clone on the run's server (`STRATEGY FILE_COPY`, fsync off), which costs about the
same for the reference app's template and for a generated one of 100 tables: most
of a clone is the database's own catalogs. `fresh_db` on PostgreSQL ends the
backend's connections, waits until they are gone (in 2 ms steps: `DROP DATABASE
... WITH (FORCE)` alone waits in steps of 100 ms), then drops and clones; the
backend's next request connects afresh (SQLAlchemy's `pool_pre_ping`). The warm
suite on PostgreSQL restores the server's seeded data folder from the cache
(about 30 MB) and starts the server (a few hundredths of a second) before the
workers clone. This machine's speed moves between runs: the same clone measured
14 ms and 60 ms an hour apart, so compare the rows of one run.

## How each cost grows with the size of the UI

The `scale` rows come from generated apps (`bench/scale.py`): a React + React
Router UI of N modules, every one reachable from the first page. Served from
the run's build, a worker's first page load stays flat as N grows (about
0.14 s at 50, 300 and 1000 modules) and `vite build` grows slowly (2.5 s to
3.8 s, once per run, then from the cache). Served by the dev server, the first
page load grows with N (0.4 s, 1.3 s, 2.6 s) and so do later loads (0.3 s,
0.7 s, 1.7 s), because every module is a request that the server transforms
once per worker; the dependencies are pre-bundled once per run (0.6 to 0.9 s).
A backend whose imports take 3 s is forked ready in about 0.06 s per worker
(3.15 s with exec); only the run's first fork waits for the preload server's
imports, which overlap the template and the build in a real run. The template
(a 3 s seed) and the 300-module build take about 6 s cold and 0.02 s warm.

The `inner loop` rows run a generated suite of the shape a team reported: a 5 s
seed that also uploads to a folder-backed run-scoped store (`{{data}}`), a backend
whose imports take 1 s and whose app factory takes 2 s at every start (3.1 s to
start by itself, with exec; preloaded in the runs), a sidecar that takes 1 s, a
built frontend, and 6 browser tests (`bench/inner_loop.py`). "Tests" is the
tests' own time: setup, call and teardown, a worker's first setup counted like a
later one. Running one test again while `stackwright up -n 1` keeps the stack
costs 1.0 to 1.4 s beyond the test itself (pytest's start, the browser,
attaching and restoring the seeded data); booting as usual it costs about 4 s. A
warm full run (seed and build from the cache, the store's data restored with the
seed) costs 0.7 to 1.15 s beyond the backend's own start and the tests: pytest's
own start before any plugin runs is about 0.65 s of it, and this machine's noise
moves the rest. In a cold `-n 2` run the workers' start, their browsers, the
sidecar and the backend's preloaded imports run while the seed does, so the
first test starts about when the seed and the backend's own start are over. The
`-n 2` margin over seed + backend + tests also holds the second worker's share of
the tests.

The reference suite is CPU-bound on 2 cores. One worker already keeps about
1.3 cores busy, because each page load runs Chromium's browser, renderer, GPU
and network processes, the Playwright driver, pytest and the stack at once (a
bare loop of new context, page load and close keeps about 1.55 cores busy: the
browser rows). Two workers add a second Chromium, driver, pytest process and
stack (the -n 2 row's CPU-s minus the -n 1 row's: 2 to 4 CPU-s), and the -n 2
run keeps both cores busy nearly all the time. The "ceiling" row divides the
-n 1 wall time by the -n 2 run's CPU work spread perfectly over the cores: it
is the most any scheduling could give, and it is below the 1.5x target here.
Chromium flags (in-process GPU or network service, no site isolation, fewer
raster threads, low-end mode, a smaller viewport) and reusing one browser
context across tests did not lower the CPU per test;
`--disable-threaded-compositing` cut it by about 18%, but 12 of the 23 tests
then time out. The figure needs more cores or a cheaper browser, not a harness
change.

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
    with stage("database: a SQLite copy beside a PostgreSQL clone, fresh_db, the suite on each"):
        figures += database.run()
    with stage("SSE gateway: start, latency, fan-out, memory"):
        figures += gateway.run(WORK)
    with stage("browser: page load, SSE delivery"):
        figures += browser.run()
    with stage("per-test overhead and suite wall time"):
        figures += overhead.run(WORK)
    with stage("shards: the suite in 3 shards, then stackwright merge"):
        figures += shards.run(WORK)
    with stage("scale profile: generated UI of 50/300/1000 modules, 3 s backend, 3 s seed"):
        figures += scale.run()
    with stage("inner loop: kept stacks, a seed cached with its store's data, the seed overlapped"):
        figures += inner_loop.run()
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
