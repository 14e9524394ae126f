"""Shared pieces of the benchmarks: the suite's configuration, statistics, results."""

from __future__ import annotations

import os
import shutil
import statistics
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from stackwright.support.config import (
    HarnessConfig,
    RunFacts,
    Sources,
    read_ini,
    resolve_config,
    run_values,
)
from stackwright.support.processes import choose_run_base
from stackwright.support.steps import StepCache, StepRunner, bytes_of

ROOT = Path(__file__).resolve().parent.parent
# Not under test-results/: pytest-playwright empties that folder when any pytest run starts.
WORK = ROOT / "bench" / ".work"


def suite_config(output: Path = WORK, **env: str) -> HarnessConfig:
    """The configuration the browser suite would resolve from playwright.ini (no CLI)."""
    config = resolve_config(Sources(ROOT, str(output), {}, env, read_ini(ROOT / "playwright.ini")))
    return replace(config, output_dir=str(output))


def bench_facts(**learned: Any) -> RunFacts:
    """What a controller would have learned, for stacks a benchmark starts itself: a free
    port range, and whatever else it is given (preload servers' addresses)."""
    return RunFacts(port_base=choose_run_base(8, 20), **learned)


def run_steps(config: HarnessConfig, mode: str = "on") -> tuple[float, list[str]]:
    """A run's steps (template, builds) in a fresh services folder, as the controller runs
    them (with the configured cache, or ``mode``); seconds taken and the summary lines."""
    shutil.rmtree(config.services_dir, ignore_errors=True)
    cache = StepCache(config.cache_path, max_bytes=bytes_of(config.cache_max_mb), mode=mode)
    runner = StepRunner(config.services_dir, Path(config.root), os.environ, cache)
    started = time.perf_counter()
    steps = [step for step in (config.template_step, *config.build_steps) if step is not None]
    lines = [runner.run(step, run_values(config, RunFacts())) for step in steps]
    return time.perf_counter() - started, lines


def busy_seconds() -> float:
    """CPU time the whole machine has spent busy so far (every process, every core)."""
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def percentile(values: Sequence[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


@dataclass
class Figure:
    """One measured figure, beside its target."""

    group: str
    name: str
    value: float
    unit: str
    target: float | None = None
    #: "max": the value must be at most the target; "min": at least.
    sense: str = "max"
    note: str = ""

    @property
    def met(self) -> bool | None:
        if self.target is None:
            return None
        return self.value <= self.target if self.sense == "max" else self.value >= self.target

    def target_text(self) -> str:
        if self.target is None:
            return "-"
        return f"{'≤' if self.sense == 'max' else '≥'} {_fmt(self.target)} {self.unit}"

    def row(self) -> list[str]:
        met = {True: "met", False: "NOT met", None: "-"}[self.met]
        return [
            self.group,
            self.name,
            f"{_fmt(self.value)} {self.unit}",
            self.target_text(),
            met,
            self.note,
        ]

    def as_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "name": self.name,
            "value": round(self.value, 4),
            "unit": self.unit,
            "target": self.target,
            "sense": self.sense,
            "met": self.met,
            "note": self.note,
        }


def _fmt(value: float) -> str:
    if value != value:  # NaN
        return "n/a"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def table(figures: Sequence[Figure]) -> str:
    header = ["group", "figure", "value", "target", "met", "note"]
    rows = [header, ["---"] * len(header), *[figure.row() for figure in figures]]
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


@contextmanager
def stage(title: str) -> Iterator[None]:
    started = time.perf_counter()
    print(f"==> {title}", flush=True)
    yield
    print(f"    done in {time.perf_counter() - started:.1f}s", flush=True)
