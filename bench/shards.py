"""The reference suite in 3 shards (pytest-split), run one after the other on this
machine as 3 CI machines would run them at once, then ``stackwright merge``."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from .common import ROOT, Figure
from .overhead import _run_pytest

SHARDS = 3


def run(work: Path) -> list[Figure]:
    walls = []
    folders = []
    for group in range(1, SHARDS + 1):
        folder = work / f"shard-{group}"
        started = time.perf_counter()
        _run_pytest(
            [
                "-c", "playwright.ini", "-n", "2", "-q", "--output", str(folder),
                "--junitxml", str(folder / "junit.xml"), "--html", str(folder / "report.html"),
                "--splits", str(SHARDS), "--group", str(group),
                "--splitting-algorithm", "least_duration",
                "--durations-path", "e2e/.test_durations",
            ],
            ROOT,
        )  # fmt: skip
        walls.append(time.perf_counter() - started)
        folders.append(folder)
    merged = work / "merged"
    started = time.perf_counter()
    subprocess.run(
        [str(Path(sys.executable).with_name("stackwright")), "merge", *map(str, folders),
         "--output", str(merged)],
        check=True, cwd=ROOT, capture_output=True,
    )  # fmt: skip
    merge = time.perf_counter() - started
    tests = [len(json.loads((f / "results.json").read_text())["tests"]) for f in folders]
    total = len(json.loads((merged / "results.json").read_text())["tests"])
    shutil.rmtree(merged, ignore_errors=True)
    counts = "/".join(map(str, tests))
    return [
        Figure("shards", f"slowest of {SHARDS} shards (-n 2 each), wall time", max(walls), "s",
               note=f"shards {', '.join(f'{w:.1f}' for w in walls)} s; tests {counts}"),
        Figure("shards", "stackwright merge of the 3 shard folders", merge, "s",
               note=f"{total} tests in the merged junit.xml and report.html"),
    ]  # fmt: skip
