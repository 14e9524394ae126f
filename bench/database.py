"""The database seam, side by side: a worker's database ready (a SQLite copy, a
PostgreSQL clone), fresh_db with the backend connected, a clone of a 100-table
template, and the browser suite warm on each engine."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import requests

from stackwright.support.config import HarnessConfig, RunFacts, run_values
from stackwright.support.database import database_for
from stackwright.support.processes import Stack
from stackwright.support.steps import StepCache, StepRunner

from .common import ROOT, WORK, Figure, bench_facts, busy_seconds, median, percentile, suite_config
from .overhead import _run_pytest

ROUNDS = 20
#: A generated schema of the size pgtestdb's and postgresql-testing's figures are given
#: for: 100 tables, each with an index, a foreign key to the one before and 200 rows.
WIDE_SEED = """
import sys, psycopg
with psycopg.connect(sys.argv[1], autocommit=True) as db:
    for n in range(100):
        parent = f", parent integer references t{n - 1}(id)" if n else ""
        db.execute(f"create table t{n} (id serial primary key, name text, tags text[], "
                   f"data jsonb, created timestamptz default now(){parent})")
        db.execute(f"create index on t{n} (name)")
        db.execute(f"insert into t{n} (name, tags, data) select 'row ' || g, "
                   f"array['a', 'b'], jsonb_build_object('n', g) from generate_series(1, 200) g")
"""

POSTGRES = {"PLAYWRIGHT_DATABASE": "postgresql", "PLAYWRIGHT_DB_RESET": "template"}


@contextlib.contextmanager
def _server(config: HarnessConfig) -> Iterator[RunFacts]:
    """The run's PostgreSQL server (and what a worker learns of it), started as the
    controller starts it."""
    facts = bench_facts()
    stack = Stack(config, facts, scope="run")
    stack.start()
    try:
        yield facts.learned(run_urls=dict(stack.urls))
    finally:
        stack.stop()


def _seed(config: HarnessConfig, facts: RunFacts) -> None:
    step = config.template_step
    assert step is not None
    config.template_path.unlink(missing_ok=True)
    cache = StepCache(config.cache_path, max_bytes=0, mode="off")
    runner = StepRunner(config.services_dir, Path(config.root), os.environ, cache)
    database = database_for(config, facts)
    try:
        runner.run(step, run_values(config, facts), database=database)
    finally:
        database.close()


def _timed(action: object, rounds: int = ROUNDS) -> list[float]:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return times


def ready_figures(sqlite: HarnessConfig, postgres: HarnessConfig, facts: RunFacts) -> list[Figure]:
    """A worker's database made from the seeded template, alternated engine by engine."""
    copy = database_for(sqlite, RunFacts()).worker("bench-copy", WORK / "bench-copy")
    clone = database_for(postgres, facts).worker("bench_clone", WORK / "bench-clone")
    copies, clones = [], []
    for _ in range(ROUNDS):
        copies += _timed(copy.create, 1)
        clones += _timed(clone.create, 1)
    clone.close()
    return [
        Figure(
            "database",
            f"a worker's database ready, SQLite copy, median of {ROUNDS}",
            median(copies) * 1000,
            "ms",
            note=f"the reference app's seeded template; p90 {percentile(copies, 90) * 1000:.1f} ms",
        ),
        Figure(
            "database",
            f"a worker's database ready, PostgreSQL clone, median of {ROUNDS}",
            median(clones) * 1000,
            "ms",
            100,
            note=f"CREATE DATABASE ... TEMPLATE (drop first) on the run's server; "
            f"p90 {percentile(clones, 90) * 1000:.1f} ms",
        ),
    ]


def reset_figures(sqlite: HarnessConfig, postgres: HarnessConfig, facts: RunFacts) -> list[Figure]:
    """fresh_db while the worker's backend serves, then its next request, per engine."""
    figures = []

    def backend_only(config: HarnessConfig) -> HarnessConfig:
        kept = tuple(spec for spec in config.services if spec.name != "frontend")
        return replace(config, services=kept)

    sqlite, postgres = backend_only(sqlite), backend_only(postgres)
    for label, config, learned, target in (
        ("SQLite, the template copied back", sqlite, bench_facts(), None),
        ("PostgreSQL, dropped and cloned", postgres, facts, 150.0),
    ):
        resets, nexts = [], []
        with Stack(config, learned, worker=f"bench_reset_{config.database}") as stack:
            session = requests.Session()
            parts = stack.url("backend") + "/api/parts"
            for _ in range(ROUNDS):
                assert session.delete(parts + "/RLAY", timeout=5).status_code == 204
                resets += _timed(stack.reset_db, 1)
                started = time.perf_counter()
                answer = session.get(parts + "/RLAY", timeout=5)
                nexts.append(time.perf_counter() - started)
                assert answer.status_code == 200, "the backend's next request after fresh_db"
            session.close()
        figures.append(
            Figure(
                "database",
                f"fresh_db with the backend connected, {label}, median of {ROUNDS}",
                median(resets) * 1000,
                "ms",
                target,
                note=f"p90 {percentile(resets, 90) * 1000:.1f} ms; the backend's next request "
                f"{median(nexts) * 1000:.1f} ms",
            )
        )
    return figures


def wide_figures(postgres: HarnessConfig, facts: RunFacts) -> list[Figure]:
    seed = WORK / "wide_seed.py"
    seed.write_text(WIDE_SEED)
    wide = replace(postgres, template_cmd=f"{{python}} {seed} {{db_url}}", template_inputs=())
    started = time.perf_counter()
    _seed(wide, facts)
    seeded = time.perf_counter() - started
    clone = database_for(wide, facts).worker("bench_wide", WORK / "bench-wide")
    clones = _timed(clone.create)
    clone.close()
    return [
        Figure(
            "database",
            f"a clone of a 100-table template on PostgreSQL, median of {ROUNDS}",
            median(clones) * 1000,
            "ms",
            150,
            note=f"100 tables, 100 indexes, 99 foreign keys, 20,000 rows (seeded once in "
            f"{seeded:.1f} s); p90 {percentile(clones, 90) * 1000:.1f} ms",
        )
    ]


def suite_figures() -> list[Figure]:
    """The browser suite warm (template and build from the cache) on each engine,
    alternated twice."""
    walls: dict[str, list[float]] = {"sqlite": [], "postgresql": []}
    busy: dict[str, list[float]] = {"sqlite": [], "postgresql": []}
    for env in ({}, POSTGRES, {}, POSTGRES, {}, POSTGRES):  # the first pair warms the cache
        engine = "postgresql" if env else "sqlite"
        cpu, started = busy_seconds(), time.perf_counter()
        _run_pytest(["-c", "playwright.ini", "-n", "2", "-q"], ROOT, **env)
        walls[engine].append(time.perf_counter() - started)
        busy[engine].append(busy_seconds() - cpu)
    sqlite, postgres = median(walls["sqlite"][1:]), median(walls["postgresql"][1:])
    return [
        Figure(
            "database",
            "make e2e warm, -n 2 (median of 2)",
            sqlite,
            "s",
            note=f"the machine busy {median(busy['sqlite'][1:]):.1f} CPU-s",
        ),
        Figure(
            "database",
            "make e2e-postgres warm, -n 2, beyond make e2e (median of 2)",
            postgres - sqlite,
            "s",
            3,
            note=f"{postgres:.1f} s; the machine busy {median(busy['postgresql'][1:]):.1f} CPU-s",
        ),
    ]


def run() -> list[Figure]:
    sqlite = suite_config(WORK / "db-sqlite")
    postgres = suite_config(WORK / "db-postgres", **POSTGRES)
    figures: list[Figure] = []
    _seed(sqlite, RunFacts())
    with _server(postgres) as facts:
        _seed(postgres, facts)
        figures += ready_figures(sqlite, postgres, facts)
        figures += reset_figures(sqlite, postgres, facts)
        figures += wide_figures(postgres, facts)
    figures += suite_figures()
    return figures
