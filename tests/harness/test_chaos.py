"""Chaos: services (a worker's and the run's) and a worker killed at random moments of
a ``-n 2`` run that also builds.

The run must finish, name each casualty, keep every other test's result, and
leave no process behind.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from .conftest import FAKE
from .test_plugin import _ini
from .test_steps import BUILD

pytest_plugins = ["pytester"]
TESTS = 60

CHAOS_TESTS = f"""
import json, os, pathlib, time, pytest, requests

@pytest.mark.parametrize("n", range({TESTS}))
def test_work(n, stack, backend_url, gateway_url, s3_url, worker_id):
    assert requests.get(f"{{backend_url}}/ready?n={{n}}", timeout=5).status_code == 200
    assert requests.get(f"{{gateway_url}}/ready?n={{n}}", timeout=5).status_code == 200
    assert requests.get(f"{{s3_url}}/ready?n={{n}}", timeout=5).status_code == 200
    pids = {{name: p.pid for name, p in stack.processes.items()}}
    record = {{"worker": os.getpid(), **pids}}
    state = pathlib.Path(os.environ["CHAOS_STATE"])
    (state / f"{{worker_id}}.json.tmp").write_text(json.dumps(record))
    os.replace(state / f"{{worker_id}}.json.tmp", state / f"{{worker_id}}.json")
    time.sleep(0.1)
"""


def _state(folder: Path, worker: str) -> dict[str, int] | None:
    try:
        return dict(json.loads((folder / f"{worker}.json").read_text()))
    except (OSError, ValueError):
        return None


def _wait(condition: object, what: str, run: subprocess.Popen[str], limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while not condition():  # type: ignore[operator]
        assert run.poll() is None, f"the run ended before {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _processes_with(marker: str, *more: str) -> list[int]:
    """The processes whose environment holds ``marker`` (and each of ``more``)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue
        if all(part.encode() in environ for part in (marker, *more)):
            found.append(int(proc.name))
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] not in ("Z", "X")
    except (OSError, IndexError):
        return False


@pytest.mark.slow
def test_the_run_survives_services_and_a_worker_killed_at_random(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    seed = random.randrange(1_000_000)
    rng = random.Random(seed)
    extra = f"""
s3_scope = run
s3_cmd = {{python}} {FAKE} --port {{port}}
s3_ready = http /ready
s3_env = FAKE_NAME=s3
frontend_build = {{python}} {BUILD} {{build}}
"""
    ini = _ini(extra=extra, preload=True).replace("services = gateway", "services = s3 gateway")
    pytester.makefile(".ini", pytest=ini)
    pytester.makepyfile(test_chaos=CHAOS_TESTS)
    state = tmp_path / "state"
    state.mkdir()
    marker = f"CHAOS_RUN={uuid.uuid4().hex}"
    env = {**os.environ, "CHAOS_STATE": str(state), marker.split("=")[0]: marker.split("=")[1]}
    env["TMPDIR"] = str(tmp_path)
    command = [sys.executable, "-m", "pytest", "-n", "2", "--dist", "load", "-p", "no:randomly"]
    command += ["-p", "no:cacheprovider", "--junitxml=junit.xml"]
    run = subprocess.Popen(
        command,
        cwd=pytester.path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        _wait(lambda: _state(state, "gw0") and _state(state, "gw1"), "both stacks came up", run)
        for worker, service in (("gw0", "backend"), ("gw1", "gateway")):
            time.sleep(rng.uniform(0.1, 0.6))
            before = _state(state, worker) or {}
            os.kill(before[service], signal.SIGKILL)
            _wait(
                lambda w=worker, s=service, b=before: (_state(state, w) or b)[s] != b[s],
                f"{worker}'s stack was restarted",
                run,
            )
        time.sleep(rng.uniform(0.1, 0.6))
        # The run's s3 is exec'd by the controller: its environment names it.
        (s3,) = (pid for pid in _processes_with(marker, "FAKE_NAME=s3\0") if _alive(pid))
        os.kill(s3, signal.SIGKILL)
        _wait(
            lambda: [p for p in _processes_with(marker, "FAKE_NAME=s3\0") if p != s3 and _alive(p)],
            "the run's s3 was restarted",
            run,
        )
        time.sleep(rng.uniform(0.1, 0.6))
        victim = rng.choice(["gw0", "gw1"])
        os.kill((_state(state, victim) or {})["worker"], signal.SIGKILL)
        output, _ = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    context = f"seed {seed}, worker killed: {victim}\n{output[-4000:]}"
    assert run.returncode == 1, context
    assert "backend (gw0) was killed by SIGKILL (exit code -9) while the stack was in use" in output
    assert "gateway (gw1) was killed by SIGKILL (exit code -9) while the stack was in use" in output
    assert "run: s3 was killed by SIGKILL (exit code -9) while the stack was in use" in output
    assert "run: stack ready in " in output and "(restarted 1x)" in output, context
    assert "the frontend build: built in" in output, context
    assert f"{victim}: the worker process died" in output, context
    assert f"worker '{victim}' crashed while running" in output, context

    cases = ET.parse(pytester.path / "junit.xml").getroot().iter("testcase")
    outcomes: dict[str, str] = {}
    for case in cases:
        name = case.get("name", "")
        assert name not in outcomes, f"{name} reported twice; {context}"
        broken = [child.tag for child in case if child.tag in ("failure", "error")]
        outcomes[name] = broken[0] if broken else "passed"
    assert set(outcomes) == {f"test_work[{n}]" for n in range(TESTS)}, context
    failed = [name for name, outcome in outcomes.items() if outcome != "passed"]
    # each worker service casualty fails the test that finds it (and maybe the one it died
    # in); the run's s3 fails the next test of each worker that was up (and maybe the
    # ones running when it died); the killed worker fails the test it was running
    assert 4 <= len(failed) <= 9, f"{failed}; {context}"

    deadline = time.monotonic() + 5
    while (left := _processes_with(marker)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert left == [], f"processes left behind: {left}; {context}"
