"""Per-test overhead of the harness, and the suite's wall time with 1 and 2 workers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from .common import ROOT, Figure, busy_seconds, median

TRIVIAL_TESTS = 20
TRIVIAL = """
import pytest
from playwright.sync_api import expect

@pytest.mark.parametrize("n", range({count}))
def test_trivial(page, n):
    page.set_content(f"<h1>static page {{n}}</h1>")
    expect(page.locator("h1")).to_have_text(f"static page {{n}}")
"""
BARE_CONFTEST = """
import pytest
from stackwright.support.browser import find_chromium, managed_chromium_path

@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    choice = find_chromium(managed_path=managed_chromium_path())
    args = dict(browser_type_launch_args, args=list(choice.args))
    if choice.executable:
        args["executable_path"] = choice.executable
    return args
"""


def _per_test_seconds(junit: Path) -> list[float]:
    cases = ET.parse(junit).getroot().iter("testcase")
    times = [float(case.get("time", "nan")) for case in cases]
    return times[1:]  # the first test also pays for the stack and the browser launch


def _run_pytest(args: list[str], cwd: Path, **extra: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_XDIST", "PLAYWRIGHT_"))}
    env.update(extra)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"pytest {' '.join(args)} failed:\n{done.stdout[-3000:]}{done.stderr[-2000:]}"
        )


def overhead_figures(work: Path) -> list[Figure]:
    harness_dir, bare_dir = work / "overhead-harness", work / "overhead-bare"
    for folder in (harness_dir, bare_dir):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        (folder / "test_trivial.py").write_text(TRIVIAL.format(count=TRIVIAL_TESTS))
    ini = (ROOT / "playwright.ini").read_text().replace("testpaths = e2e\n", "")
    ini = ini.replace("frontend_cwd = app/frontend", f"frontend_cwd = {ROOT / 'app' / 'frontend'}")
    # The reference app's Python services and its template run as `{python} -m app...`
    # from the checkout, as they do from playwright.ini's own folder.
    ini += "".join(f"{key}_cwd = {ROOT}\n" for key in ("backend", "gateway", "template_db"))
    (harness_dir / "pytest.ini").write_text(ini)
    (bare_dir / "pytest.ini").write_text(
        "[pytest]\naddopts = -p no:cacheprovider -p no:stackwright.fixtures.plugin\n"
    )
    (bare_dir / "conftest.py").write_text(BARE_CONFTEST)
    junit = "-o", "junit_duration_report=total", "--junitxml=report.xml", "-q"
    harness, bare = [], []
    for _ in range(2):  # alternate, so machine noise hits both alike
        _run_pytest([*junit], harness_dir)
        harness += _per_test_seconds(harness_dir / "report.xml")
        _run_pytest([*junit], bare_dir)
        bare += _per_test_seconds(bare_dir / "report.xml")
    extra = (median(harness) - median(bare)) * 1000
    return [
        Figure(
            "per test",
            f"harness overhead per test ({TRIVIAL_TESTS} trivial tests, median)",
            extra,
            "ms",
            50,
            note=(
                f"harness {median(harness) * 1000:.0f} ms vs "
                f"bare pytest-playwright {median(bare) * 1000:.0f} ms"
            ),
        ),
    ]


def trace_figures(work: Path) -> list[Figure]:
    """What ``make e2e``'s ``--tracing retain-on-failure`` (a failed test's trace in its
    folder and report entry) costs each test: the trivial tests with and without it,
    alternated. Needs ``overhead_figures`` first (it writes the project)."""
    harness_dir = work / "overhead-harness"
    junit = "-o", "junit_duration_report=total", "--junitxml=report.xml", "-q"
    traced, plain = [], []
    for _ in range(2):
        _run_pytest([*junit, "--tracing", "retain-on-failure"], harness_dir)
        traced += _per_test_seconds(harness_dir / "report.xml")
        _run_pytest([*junit], harness_dir)
        plain += _per_test_seconds(harness_dir / "report.xml")
    return [
        Figure(
            "per test",
            "a failed test's trace kept (--tracing retain-on-failure), cost per test",
            (median(traced) - median(plain)) * 1000,
            "ms",
            None,
            note=f"traced {median(traced) * 1000:.0f} ms vs {median(plain) * 1000:.0f} ms",
        )
    ]


#: Browser tests of the reference suite whose pages hold an SSE stream: each one's end
#: sets off the gateway's disconnect and its callback to the backend.
SSE_TESTS = ("e2e/test_sse.py", "e2e/test_ai_part_creation.py")


def _settle_seconds(out: Path) -> list[float]:
    return [json.loads(line)["seconds"] for line in out.read_text().splitlines()]


def settle_figures(work: Path) -> list[Figure]:
    """The drain-and-settle at each test's end (``Stack.settle_logs``, timed by
    ``bench.settle_probe``): after SSE pages close, and after trivial tests."""
    out = work / "settle.jsonl"
    out.unlink(missing_ok=True)
    probe = ["-p", "bench.settle_probe", "-p", "no:randomly", "-n", "0", "-q"]
    _run_pytest(["-c", "playwright.ini", *probe, *SSE_TESTS], ROOT, BENCH_SETTLE_OUT=str(out))
    sse = sorted(_settle_seconds(out))
    out.unlink()
    _run_pytest(probe, work / "overhead-harness", BENCH_SETTLE_OUT=str(out), PYTHONPATH=str(ROOT))
    idle = sorted(_settle_seconds(out))
    return [
        Figure(
            "per test",
            f"drain-and-settle at a test's end, SSE pages ({len(sse)} ends, median)",
            median(sse) * 1000,
            "ms",
            10,
            note=f"p90 {sse[int(len(sse) * 0.9)] * 1000:.1f} ms, max {sse[-1] * 1000:.1f} ms",
        ),
        Figure(
            "per test",
            f"drain-and-settle at a test's end, trivial tests ({len(idle)} ends, median)",
            median(idle) * 1000,
            "ms",
            10,
            note=f"p90 {idle[int(len(idle) * 0.9)] * 1000:.1f} ms, max {idle[-1] * 1000:.1f} ms",
        ),
    ]


def suite_figures() -> list[Figure]:
    """The suite with -n 1 and -n 2, alternated twice (warm cache, as a rerun sees it)."""
    walls: dict[int, list[float]] = {1: [], 2: []}
    busy: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(2):
        for workers in (1, 2):
            cpu, started = busy_seconds(), time.perf_counter()
            _run_pytest(["-c", "playwright.ini", "-n", str(workers), "-q"], ROOT)
            walls[workers].append(time.perf_counter() - started)
            busy[workers].append(busy_seconds() - cpu)
    one, two = median(walls[1]), median(walls[2])
    busy_one, busy_two = median(busy[1]), median(busy[2])
    cores = os.cpu_count() or 1
    return [
        Figure(
            "suite",
            "e2e/ wall time, -n 1 (median of 2)",
            one,
            "s",
            note=f"default selection; the machine busy {busy_one:.1f} CPU-s",
        ),
        Figure(
            "suite",
            "e2e/ wall time, -n 2 (median of 2)",
            two,
            "s",
            note=f"the machine busy {busy_two:.1f} CPU-s of {cores * two:.1f} on {cores} cores",
        ),
        Figure(
            "suite",
            "cores kept busy by one worker (-n 1)",
            busy_one / one,
            "cores",
            note="Chromium's browser, renderer, GPU and network processes, the Playwright "
            "driver, pytest and the stack work at once",
        ),
        Figure(
            "suite",
            "speedup of -n 2 over -n 1",
            one / two,
            "x",
            1.5,
            sense="min",
            note="CPU-bound: browsers, stacks and workers share the cores",
        ),
        Figure(
            "suite",
            f"ceiling of that speedup on {cores} cores",
            one / (busy_two / cores),
            "x",
            note=f"-n 1 wall over -n 2's CPU work ({busy_two:.1f} CPU-s) spread perfectly "
            f"over {cores} cores: no scheduling can do better without less CPU per test",
        ),
    ]


def run(work: Path) -> list[Figure]:
    return [
        *overhead_figures(work),
        *trace_figures(work),
        *settle_figures(work),
        *suite_figures(),
    ]
