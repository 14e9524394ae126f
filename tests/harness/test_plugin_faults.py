"""The plugin under faults and misuse, run for real with pytester."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .test_plugin import _ini

pytest_plugins = ["pytester"]


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makefile(".ini", pytest=_ini())
    return pytester


def _setenv(project: pytest.Pytester, name: str, value: str) -> None:
    project._monkeypatch.setenv(name, value)  # type: ignore[attr-defined]


def test_output_folder_with_files_of_its_own_is_refused_and_kept(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(test_x="def test_a(stack): pass\n")
    docs = project.path / "docs"
    docs.mkdir()
    (docs / "guide.md").write_text("tracked")
    result = project.runpytest_subprocess("--output", "docs")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--output */docs already holds files*Refusing to delete them*"])
    assert (docs / "guide.md").read_text() == "tracked"
    result = project.runpytest_subprocess("--output", ".")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert (project.path / "test_x.py").exists() and (project.path / "pytest.ini").exists()


def test_an_unwritable_output_folder_is_one_line(project: pytest.Pytester) -> None:
    project.makepyfile(test_x="def test_a(stack): pass\n")
    (project.path / "afile").write_text("")
    result = project.runpytest_subprocess("--output", "afile/results")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: cannot write the test results to --output */afile/results*"]
    )
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


def test_a_second_run_in_the_same_folder_says_one_is_running(
    project: pytest.Pytester, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    project.makepyfile(
        test_block=f"""
import pathlib, time
def test_hold(stack):
    pathlib.Path({str(gate)!r} + ".up").write_text("up")
    deadline = time.monotonic() + 60
    while not pathlib.Path({str(gate)!r}).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
"""
    )
    first = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider"],
        cwd=project.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not Path(f"{gate}.up").exists():
            assert first.poll() is None and time.monotonic() < deadline, "first run did not start"
            time.sleep(0.05)
        second = project.runpytest_subprocess()
        assert second.ret == pytest.ExitCode.USAGE_ERROR
        second.stderr.fnmatch_lines(
            [f"*another test run is using */test-results (pid {first.pid}, started *"]
        )
        # the first run's files are untouched
        assert (project.path / "test-results" / ".services" / "main" / "backend.log").exists()
        gate.write_text("go")
        output, _ = first.communicate(timeout=60)
        assert first.returncode == 0, output
        assert "1 passed" in output
    finally:
        if first.poll() is None:
            first.kill()


def test_an_env_file_that_is_not_utf8_is_named(project: pytest.Pytester) -> None:
    project.makepyfile(test_x="def test_a(): pass\n")
    (project.path / ".env.test").write_bytes(b"PLAYWRIGHT_SERVICE_LOGS=on\nNAME=caf\xe9\n")
    result = project.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: */.env.test is not valid UTF-8 (byte 0xe9 at offset *"])


def test_a_nul_byte_in_the_env_file_is_named_with_its_line(project: pytest.Pytester) -> None:
    project.makepyfile(test_x="def test_a(): pass\n")
    (project.path / ".env.test").write_bytes(b"A=1\nSECRET=ab\0cd\n")
    result = project.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: */.env.test holds a NUL byte on line 2, *remove it*"])
    assert "INTERNALERROR" not in result.stderr.str() + result.stdout.str()


def test_a_blank_command_is_one_usage_error(project: pytest.Pytester) -> None:
    project.makepyfile(test_x="def test_a(stack): pass\ndef test_b(stack): pass\n")
    _setenv(project, "BACKEND_CMD", "   ")
    result = project.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: the backend command is empty*(set by BACKEND_CMD)"])
    assert "IndexError" not in result.stderr.str() + result.stdout.str()


@pytest.mark.parametrize(
    ("service", "signal_name", "expected"),
    [
        (
            "backend",
            "SIGKILL",
            "backend (main) was killed by SIGKILL (exit code -9) while the stack was in use.",
        ),
        (
            "gateway",
            "SIGSTOP",
            "gateway (main) stopped answering: the process (pid *) is stopped (SIGSTOP).",
        ),
    ],
    ids=["killed", "stopped"],
)
def test_a_service_that_goes_down_fails_the_next_test_and_is_restarted(
    project: pytest.Pytester, service: str, signal_name: str, expected: str
) -> None:
    project.makepyfile(
        test_down=f"""
import os, signal, time, requests
from stackwright.support.processes.health import process_state

def test_1_break(stack):
    pid = stack.processes[{service!r}].pid
    os.kill(pid, signal.{signal_name})
    while stack.processes[{service!r}].exit_code() is None and process_state(pid) is None:
        time.sleep(0.01)

def test_2_finds_it(stack):
    pass

def test_3_runs_on_a_new_stack(stack, backend_url, gateway_url):
    assert stack.health() is None
    assert requests.get(f"{{gateway_url}}/ready", timeout=5).status_code == 200
    assert requests.get(f"{{backend_url}}/ready", timeout=5).status_code == 200
"""
    )
    result = project.runpytest_subprocess("-p", "no:randomly")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        ["*ERROR at setup of test_2_finds_it*", expected, "Log: */main/" + service + ".log*"]
    )
    casualty = "main: " + expected.replace(" (main)", "") + " Log: */main/" + service + ".log"
    result.stdout.fnmatch_lines([casualty, "main: stack ready in * (restarted 1x)"])


def test_a_crashed_worker_is_replaced_with_its_own_stack(
    project: pytest.Pytester, tmp_path: Path
) -> None:
    project.makepyfile(
        test_crash=f"""
import os, pathlib, time, pytest, requests

# the crash comes first; the rest is slow enough that the replacement gets work too
@pytest.mark.parametrize("n", range(16))
def test_work(n, stack, backend_url, worker_id):
    once = pathlib.Path({str(tmp_path)!r}) / "crashed"
    try:  # one worker crashes, whichever comes first: both may start at once
        fd = os.open(once, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        pass
    else:
        os.write(fd, worker_id.encode())
        os.close(fd)
        os.kill(os.getpid(), 9)
    assert requests.get(f"{{backend_url}}/ready", timeout=5).status_code == 200
    time.sleep(0.4)
"""
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "--dist", "load", "-p", "no:cacheprovider"],
        cwd=project.path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = done.stdout + done.stderr
    assert "1 failed, 15 passed" in output, output[-3000:]
    assert "replacing crashed worker" in output
    crashed = (tmp_path / "crashed").read_text()
    assert f"{crashed}: the worker process died" in output
    assert "gw2: stack ready in" in output  # the replacement booted its own stack


def test_a_hanging_dist_mode_is_warned_about(project: pytest.Pytester) -> None:
    project.makepyfile(test_x="def test_a(): pass\n")
    result = project.runpytest_subprocess("-n", "2", "--dist", "loadgroup")
    result.stdout.fnmatch_lines(["stackwright: --dist loadgroup can hang the whole run*"])
    assert "can hang" not in project.runpytest_subprocess("-n", "2").stdout.str()


def test_playwright_ini_uses_a_dist_mode_that_survives_a_crash() -> None:
    ini = (Path(__file__).resolve().parents[2] / "playwright.ini").read_text()
    addopts = next(line for line in ini.splitlines() if line.startswith("addopts"))
    assert "--dist load" in addopts and "loadgroup" not in addopts
    assert os.path.exists(Path(__file__).resolve().parents[2] / "e2e")
