"""Kept stacks: ``stackwright up`` boots a suite's stacks once and pytest runs attach to
them; a reset before each run, a changed configuration, a dead kept stack, and Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import FAKE, FIND_RUN_SERVICE, alive, assert_no_service_left, pids_in, start_up

pytest_plugins = ["pytester"]

SEED = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("create table notes (text)")
db.execute("insert into notes values ('seeded')")
db.commit()
"""

KEPT_INI = f"""
[pytest]
addopts = -p stackwright.fixtures.plugin
services = s3 backend
s3_scope = run
s3_cmd = {{python}} {FAKE} --port {{port}}
s3_ready = http /ready
s3_env = FAKE_NAME=s3
backend_cmd = {{python}} {FAKE} --port {{port}}
backend_ready = http /ready
backend_env =
    FAKE_NAME=backend
    FAKE_DB={{db}}
template_db_cmd = {{python}} seed.py {{db}}
template_db_inputs = seed.py
"""

#: Each test writes into its worker's database: the next run must not see it.
KEPT_TEST = """
import os, sqlite3, urllib.request

def test_writes(stack, backend_url, s3_url, sqlite_db_path):
    urllib.request.urlopen(backend_url + "/from-test-writes").read()
    db = sqlite3.connect(sqlite_db_path)
    assert [row[0] for row in db.execute("select text from notes")] == ["seeded"]
    db.execute("insert into notes values ('written by a test')")
    db.commit()
    with open("urls.txt", "a") as urls:
        urls.write(f"{backend_url} {s3_url}\\n")
"""


_up = start_up


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("CI", "")
    pytester.makefile(".ini", pytest=KEPT_INI)
    pytester.makepyfile(test_kept=KEPT_TEST)
    (pytester.path / "seed.py").write_text(SEED)
    yield pytester.path
    assert_no_service_left(pytester.path)


def _started(path: Path, name: str) -> int:
    """How often ``name`` started in ``up``'s stacks (its log lines say so)."""
    return (path / "up.log").read_text().count(f"] {name} starting on port")


def test_a_run_attaches_restores_the_seed_and_files_its_slice(
    suite: Path, pytester: pytest.Pytester
) -> None:
    up = _up(pytester)
    try:
        for _ in range(2):
            result = pytester.runpytest_subprocess("--service-logs=on")
            result.assert_outcomes(passed=1)  # the second run sees only the seeded row
            result.stdout.fnmatch_lines(["*attached to kept stack gw0 of stackwright up*"])
        urls = (suite / "urls.txt").read_text().splitlines()
        assert len(urls) == 2 and urls[0] == urls[1], "both runs used the one kept stack"
        assert _started(suite, "backend") == 1 and _started(suite, "s3") == 1
        folder = next((suite / "test-results").glob("test-kept-py-test-writes*"))
        assert "GET /from-test-writes" in (folder / "backend.log").read_text()
    finally:
        up.send_signal(signal.SIGINT)
        up.wait(timeout=30)
    assert "up: stopped; nothing is left running" in (suite / "up.log").read_text()
    assert not (suite / ".stackwright" / "kept" / "state.json").exists()


def test_a_changed_configuration_boots_as_usual_and_says_what_changed(
    suite: Path, pytester: pytest.Pytester
) -> None:
    up = _up(pytester)
    try:
        pytester.makefile(".ini", pytest=KEPT_INI.replace("FAKE_NAME=backend", "FAKE_NAME=b2"))
        result = pytester.runpytest_subprocess()
        result.assert_outcomes(passed=1)
        result.stdout.fnmatch_lines(
            ["*kept stacks not used: the setting backend_env changed since stackwright up*"]
        )
        result.stdout.fnmatch_lines(["main: stack ready in *"])
        (suite / "seed.py").write_text(SEED + "\n# edited\n")
        pytester.makefile(".ini", pytest=KEPT_INI)
        result = pytester.runpytest_subprocess()
        result.stdout.fnmatch_lines(
            ["*the template database (its command, environment or inputs) changed since*"]
        )
    finally:
        up.send_signal(signal.SIGINT)
        up.wait(timeout=30)


def test_a_dead_kept_service_is_restarted_before_the_run_uses_it(
    suite: Path, pytester: pytest.Pytester
) -> None:
    up = _up(pytester)
    try:
        backends = [pid for pid in pids_in(suite, FAKE.name.encode()) if _is(pid, "backend")]
        assert len(backends) == 1
        os.kill(backends[0], signal.SIGKILL)
        result = pytester.runpytest_subprocess()
        result.assert_outcomes(passed=1)
        result.stdout.fnmatch_lines(["*backend was down (*), so up restarted it*"])
        assert _started(suite, "backend") == 2
    finally:
        up.send_signal(signal.SIGINT)
        up.wait(timeout=30)


def _is(pid: int, name: str) -> bool:
    try:
        return f"FAKE_NAME={name}".encode() in Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False


def test_in_ci_kept_stacks_are_used_only_when_asked(suite: Path, pytester: pytest.Pytester) -> None:
    up = _up(pytester)
    try:
        os.environ["CI"] = "true"
        result = pytester.runpytest_subprocess()
        result.assert_outcomes(passed=1)
        result.stdout.fnmatch_lines(["*kept stacks not used: CI is set (--attach on uses them)*"])
        result = pytester.runpytest_subprocess("--attach", "on")
        result.stdout.fnmatch_lines(["*attached to kept stack gw0*"])
        result = pytester.runpytest_subprocess("--attach", "off")
        assert "kept stack" not in result.stdout.str()
    finally:
        os.environ["CI"] = ""
        up.send_signal(signal.SIGINT)
        up.wait(timeout=30)


def test_more_workers_than_kept_stacks_boot_the_rest(
    suite: Path, pytester: pytest.Pytester
) -> None:
    pytester.makepyfile(test_more=KEPT_TEST.replace("test_writes", "test_more"))
    up = _up(pytester)
    try:
        result = pytester.runpytest_subprocess("-n", "2")
        result.assert_outcomes(passed=2)
        result.stdout.fnmatch_lines(["*1 of 2 workers attach to the stacks stackwright up*"])
        result.stdout.fnmatch_lines(["*attached to kept stack gw0*"])
        result.stdout.re_match_lines([r"gw\d: stack ready in"])
    finally:
        up.send_signal(signal.SIGINT)
        up.wait(timeout=30)


@pytest.mark.parametrize("how", ["ctrl-c", "down", "kill-9"])
def test_every_end_of_up_leaves_nothing_running(
    suite: Path, pytester: pytest.Pytester, how: str
) -> None:
    up = _up(pytester, "-n", "2")
    services = pids_in(suite, FAKE.name.encode())
    assert len(services) == 3  # s3, and a backend per kept stack
    if how == "ctrl-c":
        up.send_signal(signal.SIGINT)
    elif how == "down":
        down = subprocess.run(
            [sys.executable, "-m", "stackwright.support.cli", "down", "-c", "pytest.ini"],
            cwd=suite,
            capture_output=True,
            text=True,
            check=True,
        )
        assert f"stopped stackwright up (pid {up.pid})" in down.stdout
    else:
        up.kill()
    up.wait(timeout=30)
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in services) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in services if alive(pid)]
    # Whatever ended it, nothing answers at up's address: a run boots as usual.
    result = pytester.runpytest_subprocess("--attach", "on")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*no kept stacks (start them with stackwright up)*"])


RUN_SERVICE_DIES = (
    FIND_RUN_SERVICE
    + """
import os, signal, time

def test_a_kills_the_kept_s3(stack):
    pid = _run_service("s3")
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10  # gone (or a zombie) before the next test starts
    while time.monotonic() < deadline and not _zombie_or_gone(pid):
        time.sleep(0.01)

def test_b_is_told(stack):
    pass

def test_c_runs_on_the_restarted_s3(s3_url):
    import urllib.request
    assert urllib.request.urlopen(s3_url + "/ready").status == 200
"""
)


def test_a_kept_run_service_that_dies_is_named_and_restarted_by_up(
    suite: Path, pytester: pytest.Pytester
) -> None:
    pytester.makepyfile(test_kept=RUN_SERVICE_DIES)
    up = _up(pytester)
    try:
        result = pytester.runpytest_subprocess("-p", "no:randomly")
        result.assert_outcomes(passed=2, errors=1)  # the test after the kill is told
        result.stdout.fnmatch_lines(["*ERROR at setup of test_b_is_told*", "s3 (run) was killed*"])
        assert _started(suite, "s3") == 2
    finally:
        up.send_signal(signal.SIGINT)
        up.wait(timeout=30)


def test_a_second_up_of_the_same_suite_is_refused(suite: Path, pytester: pytest.Pytester) -> None:
    up = _up(pytester)
    try:
        second = subprocess.run(
            [sys.executable, "-m", "stackwright.support.cli", "up", "-c", "pytest.ini"],
            cwd=suite,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 1
        assert f"stackwright up (pid {up.pid}) already keeps stacks of" in second.stderr
        assert "stop it first (stackwright down)" in second.stderr
    finally:
        up.send_signal(signal.SIGINT)
        up.wait(timeout=30)


STREAMED_TEST = """
import urllib.request

def test_streamed(backend_url):
    urllib.request.urlopen(backend_url + "/streamed-marker").read()
"""


@pytest.mark.parametrize("workers", ["0", "2"])
def test_an_attached_run_streams_the_kept_services_logs_live(
    suite: Path, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, workers: str
) -> None:
    """PLAYWRIGHT_BACKEND_LOG_STREAM=true prints the backend's lines in the pytest run's
    terminal, prefixed with the run's worker, though up writes the log."""
    pytester.makepyfile(test_kept=STREAMED_TEST)
    up = _up(pytester, "-n", "2")
    try:
        monkeypatch.setenv("PLAYWRIGHT_BACKEND_LOG_STREAM", "true")
        result = pytester.runpytest_subprocess("-n", workers)
        result.assert_outcomes(passed=1)
        result.stdout.fnmatch_lines(["*attached to kept stack*"])
        prefix = "main" if workers == "0" else "gw?"
        result.stdout.fnmatch_lines([f'[[]{prefix} backend[]] *"GET /streamed-marker *'])
    finally:
        up.send_signal(signal.SIGINT)
        up.wait(timeout=30)
