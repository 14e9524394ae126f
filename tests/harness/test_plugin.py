"""The pytest plugin, run for real with pytester (subprocesses, including -n 2)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import FAKE, FAKE_MODULE, ROOT, alive, pids_in

pytest_plugins = ["pytester"]


def _ini(gateway_mode: str = "ready", extra: str = "", *, preload: bool = False) -> str:
    lines = [
        "[pytest]",
        "addopts = -p stackwright.fixtures.plugin -p no:cacheprovider",
        "markers =",
        "    slow: slow",
        "services = gateway backend frontend",
        "gateway_cmd_env = SSE_GATEWAY_CMD",
        "gateway_alt_cmd = SSE_GATEWAY_ROOT: node ${SSE_GATEWAY_ROOT}/dist/index.js",
    ]
    program = f"-m {FAKE_MODULE}" if preload else str(FAKE)
    for name in ("backend", "gateway", "frontend"):
        mode = gateway_mode if name == "gateway" else "ready"
        if preload:
            lines.append(f"{name}_preload = {FAKE_MODULE}")
        lines += [
            f"{name}_cmd = {{python}} {program} --port {{port}} --mode {mode}",
            f"{name}_ready_path = /ready",
            f"{name}_env =",
            f"    FAKE_NAME={name}",
        ]
    return "\n".join(lines) + "\n" + extra


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makefile(".ini", pytest=_ini())
    return pytester


@pytest.fixture(params=["exec", "preload"])
def launched(request: pytest.FixtureRequest, pytester: pytest.Pytester) -> pytest.Pytester:
    """A project whose services start with exec, or are forked by the run's preload server."""
    pytester.makefile(".ini", pytest=_ini(preload=request.param == "preload"))
    return pytester


RECORDING_TEST = """
import json, os, pathlib, pytest, requests

@pytest.mark.parametrize("n", range(6))
def test_record(n, stack, backend_url, sqlite_db_path, worker_id):
    requests.get(f"{backend_url}/ready?test={n}", timeout=5)
    out = pathlib.Path(os.environ["RESULTS"]) / f"{n}.json"
    logs = [str(p) for p in stack.log_paths.values()]
    record = {"worker": worker_id, "urls": stack.urls, "db": str(sqlite_db_path), "logs": logs}
    out.write_text(json.dumps(record))
"""


def test_two_workers_get_different_ports_and_files(
    launched: pytest.Pytester, tmp_path: Path
) -> None:
    project = launched
    project.makepyfile(test_record=RECORDING_TEST)
    env_results = tmp_path / "results"
    env_results.mkdir()
    project._monkeypatch.setenv("RESULTS", str(env_results))  # type: ignore[attr-defined]
    result = project.runpytest_subprocess("-n", "2")
    result.assert_outcomes(passed=6)
    records = [json.loads(p.read_text()) for p in env_results.glob("*.json")]
    by_worker: dict[str, dict[str, object]] = {r["worker"]: r for r in records}
    assert set(by_worker) == {"gw0", "gw1"}
    gw0, gw1 = by_worker["gw0"], by_worker["gw1"]
    ports = lambda r: {u.rsplit(":", 1)[1] for u in r["urls"].values()}  # noqa: E731
    assert not ports(gw0) & ports(gw1)
    assert gw0["db"] != gw1["db"]
    assert not set(gw0["logs"]) & set(gw1["logs"])
    result.stdout.re_match_lines(
        [r"gw0: stack ready in \d+\.\d\ds \(.*backend.*\)", r"gw1: stack ready in .*"]
    )
    assert result.stdout.str().count(" preloaded") == (6 if _preloads(project) else 0)


def test_streamed_logs_reach_the_terminal_under_xdist(
    launched: pytest.Pytester, tmp_path: Path
) -> None:
    project = launched
    project.makepyfile(test_record=RECORDING_TEST)
    project._monkeypatch.setenv("RESULTS", str(tmp_path))  # type: ignore[attr-defined]
    result = project.runpytest_subprocess("-n", "2", "--stream-logs=backend")
    result.assert_outcomes(passed=6)
    result.stdout.re_match_lines([r"\[gw[01] backend\] backend request .*GET /ready\?test=\d"])
    assert "gateway request" not in result.stdout.str()


def test_stream_variable_without_xdist(project: pytest.Pytester, tmp_path: Path) -> None:
    project.makepyfile(test_record=RECORDING_TEST)
    project._monkeypatch.setenv("RESULTS", str(tmp_path))  # type: ignore[attr-defined]
    project._monkeypatch.setenv("PLAYWRIGHT_GATEWAY_LOG_STREAM", "true")  # type: ignore[attr-defined]
    result = project.runpytest_subprocess("-k", "test_record and 0")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["[[]main gateway[]] gateway listening"])


def test_env_file_is_read_but_never_overrides_the_environment(
    project: pytest.Pytester, tmp_path: Path
) -> None:
    project.makepyfile(test_record=RECORDING_TEST)
    project._monkeypatch.setenv("RESULTS", str(tmp_path))  # type: ignore[attr-defined]
    project._monkeypatch.delenv("PLAYWRIGHT_GATEWAY_LOG_STREAM", raising=False)  # type: ignore[attr-defined]
    (project.path / ".env.test").write_text("PLAYWRIGHT_GATEWAY_LOG_STREAM=true\n")
    result = project.runpytest_subprocess("-k", "test_record and 0")
    result.stdout.fnmatch_lines(["[[]main gateway[]] gateway listening"])
    project._monkeypatch.setenv("PLAYWRIGHT_GATEWAY_LOG_STREAM", "false")  # type: ignore[attr-defined]
    result = project.runpytest_subprocess("-k", "test_record and 0")
    result.assert_outcomes(passed=1)
    assert "[main gateway]" not in result.stdout.str()


NODE_GATEWAY = """
const http = require('http');
const port = Number(process.env.PORT);
console.log(`node gateway on ${port} callback=${process.env.CALLBACK_URL}`);
http.createServer((req, res) => {
  res.writeHead(200, {'Content-Type': 'application/json'});
  res.end('{"status":"ready"}');
}).listen(port, '127.0.0.1');
"""
GATEWAY_ENV = "\n".join(
    [
        "gateway_env =",
        "    FAKE_NAME=gateway",
        "    PORT={port}",
        "    CALLBACK_URL={backend_url}/api/sse/callback",
    ]
)


def test_sse_gateway_root_runs_a_node_gateway_checkout(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    root = tmp_path / "ssegateway"
    (root / "dist").mkdir(parents=True)
    (root / "dist" / "index.js").write_text(NODE_GATEWAY)
    pytester.makefile(
        ".ini", pytest=_ini().replace("gateway_env =\n    FAKE_NAME=gateway", GATEWAY_ENV)
    )
    pytester.makepyfile(
        test_x="def test_a(stack):\n    print(stack.log_paths['gateway'].read_text())\n"
    )
    pytester._monkeypatch.setenv("SSE_GATEWAY_ROOT", str(root))  # type: ignore[attr-defined]
    result = pytester.runpytest_subprocess("-s")
    result.assert_outcomes(passed=1)
    result.stdout.re_match_lines(
        [r".*node gateway on \d+ callback=http://127\.0\.0\.1:\d+/api/sse/callback"]
    )


def test_sse_gateway_cmd_replaces_the_gateway(pytester: pytest.Pytester) -> None:
    pytester.makefile(".ini", pytest=_ini())
    pytester.makepyfile(
        test_x="def test_a(stack):\n    print(stack.log_paths['gateway'].read_text())\n"
    )
    command = f"env FAKE_NAME=swapped {{python}} {FAKE} --port {{port}}"
    pytester._monkeypatch.setenv("SSE_GATEWAY_CMD", command)  # type: ignore[attr-defined]
    result = pytester.runpytest_subprocess("-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*swapped starting on port *"])


def test_each_test_files_its_own_log_slice(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_slices="""
import requests
def test_first(backend_url):
    requests.get(f"{backend_url}/ready?marker=FIRST", timeout=5)
def test_second(backend_url):
    requests.get(f"{backend_url}/ready?marker=SECOND", timeout=5)
"""
    )
    result = project.runpytest_subprocess("--service-logs=on", "-p", "no:randomly")
    result.assert_outcomes(passed=2)
    first = project.path / "test-results" / "test-slices-py-test-first" / "backend.log"
    second = project.path / "test-results" / "test-slices-py-test-second" / "backend.log"
    assert "marker=FIRST" in first.read_text()
    assert "marker=SECOND" in second.read_text()
    assert "marker=FIRST" not in second.read_text()
    assert (second.parent / "gateway.log").exists()


def test_failure_shows_log_tail_in_report_and_junit(project: pytest.Pytester) -> None:
    # The marker is built at run time: it is in the backend's log, never in the
    # test's source, so the traceback cannot carry it into the XML.
    project.makepyfile(
        test_fail="""
import requests
def test_fails(backend_url):
    requests.get(f"{backend_url}/ready?marker=" + "MOOB"[::-1], timeout=5)
    assert False, "on purpose"
def test_passes(backend_url):
    requests.get(f"{backend_url}/ready?marker=FINE", timeout=5)
"""
    )
    result = project.runpytest_subprocess("--junitxml=report.xml", "-o", "junit_logging=system-out")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["*Captured stdout service log: backend (last 40 lines)*", "*marker=BOOM*"]
    )
    assert "BOOM" not in (project.path / "test_fail.py").read_text()
    xml = (project.path / "report.xml").read_text()
    assert "marker=BOOM" in xml
    assert "----- backend log, last 40 lines (" in xml
    folders = {p.parent.name for p in (project.path / "test-results").glob("*/backend.log")}
    assert folders == {
        "test-fail-py-test-fails"
    }  # retain-on-failure: only the failed test keeps logs
    result.stdout.fnmatch_lines(["service files kept in *"])


def test_a_stack_that_cannot_start_fails_each_test_with_one_message(
    pytester: pytest.Pytester,
) -> None:
    pytester.makefile(".ini", pytest=_ini(gateway_mode="exit"))
    pytester.makepyfile(test_x="def test_a(stack): pass\ndef test_b(backend_url): pass\n")
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(errors=2)
    # one report per test (the short summary, untruncated under CI=true, repeats it after "ERROR")
    headlines = [
        line for line in result.stdout.lines if line.startswith("gateway (main) exited with code 3")
    ]
    assert len(headlines) == 2
    result.stdout.fnmatch_lines(
        ["*fatal: configuration is broken*", "main: stack failed to start (ExitedBeforeReady)"]
    )
    assert "Traceback" not in result.stdout.str()


def test_external_services_mode_stops_the_run(project: pytest.Pytester) -> None:
    project.makepyfile(test_x="def test_a(): pass\n")
    project._monkeypatch.setenv("PLAYWRIGHT_MANAGED_SERVICES", "false")  # type: ignore[attr-defined]
    result = project.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*external services are not supported*Remove PLAYWRIGHT_MANAGED_SERVICES*"]
    )


@pytest.mark.parametrize(
    ("args", "env", "outcome"),
    [
        ((), {}, {"passed": 1, "deselected": 1}),
        ((), {"INCLUDE_SLOW_TESTS": "true"}, {"passed": 2}),
        (("-m", "slow"), {}, {"passed": 1, "deselected": 1}),
    ],
    ids=["default", "include-slow", "explicit-m"],
)
def test_slow_tests_are_deselected_unless_asked(
    project: pytest.Pytester, args: tuple[str, ...], env: dict[str, str], outcome: dict[str, int]
) -> None:
    project.makepyfile(
        test_slow=(
            "import pytest\n@pytest.mark.slow\ndef test_long(): pass\ndef test_short(): pass\n"
        )
    )
    for key, value in env.items():
        project._monkeypatch.setenv(key, value)  # type: ignore[attr-defined]
    result = project.runpytest_subprocess(*args)
    result.assert_outcomes(**outcome)
    said = (
        "stackwright: 1 test marked slow deselected; INCLUDE_SLOW_TESTS=true (or -m slow) runs them"
    )
    assert (said in result.stdout.lines) == (not args and not env)


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["n0", "n2"])
def test_deselected_slow_tests_are_named_under_xdist_too(
    project: pytest.Pytester, workers: list[str]
) -> None:
    """They were deselected without a word: 31 tests under make test, 23 under make e2e."""
    slow = "import pytest\n@pytest.mark.slow\ndef test_long_{}(): pass\n"
    project.makepyfile(test_a=slow.format("a") + "def test_short(): pass\n")
    project.makepyfile(test_b=slow.format("b"))
    result = project.runpytest_subprocess(*workers)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["stackwright: 2 tests marked slow deselected; *"])


def test_help_lists_the_options_in_one_group(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess("--help")
    result.stdout.fnmatch_lines(
        [
            "per-worker stack of configured services:",
            "*--service-logs={on,retain-on-failure,off}*",
            "*--keep-service-files*",
            "*--service-timeout=SECONDS*",
            "*--cache={on,off,clear}*",
            "*--stream-logs=SERVICES*",
        ]
    )


def test_bad_option_value_is_a_usage_error(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess("--service-timeout=soon")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--service-timeout must be a positive number of seconds*"])


def test_kill_9_of_the_run_leaves_no_service_alive(
    launched: pytest.Pytester, tmp_path: Path
) -> None:
    project = launched
    project.makepyfile(
        test_block="""
import json, os, pathlib, time, pytest

@pytest.mark.parametrize("n", range(2))
def test_block(n, stack, worker_id):
    marker = pathlib.Path(os.environ["MARKERS"]) / f"{worker_id}.json"
    marker.write_text(json.dumps([p.pid for p in stack.processes.values()]))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(0.1)
"""
    )
    markers = tmp_path / "markers"
    markers.mkdir()
    # a preload socket in a short temporary folder stays behind a kill -9: keep it here
    env = {**os.environ, "MARKERS": str(markers), "TMPDIR": str(tmp_path)}
    run = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-n", "2", "-p", "no:cacheprovider"],
        cwd=project.path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while len(list(markers.glob("*.json"))) < 2:
            assert run.poll() is None, "the run ended before its stacks were up"
            assert time.monotonic() < deadline, "the stacks did not come up"
            time.sleep(0.05)
        pids = [pid for m in markers.glob("*.json") for pid in json.loads(m.read_text())]
        assert len(pids) == 6
        # forked services share the server's command line: the server is the other one
        servers = [pid for pid in _preload_servers(project.path) if pid not in pids]
        assert len(servers) == (3 if _preloads(project) else 0)  # one per service
        pids += servers
        os.kill(run.pid, signal.SIGKILL)
        run.wait(5)
        time.sleep(3)
        survivors = [pid for pid in pids if alive(pid)]
        assert survivors == [], f"service processes survived a kill -9 of the run: {survivors}"
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
        try:
            os.killpg(run.pid, signal.SIGKILL)  # workers, if any survived
        except ProcessLookupError:
            pass


def _preloads(project: pytest.Pytester) -> bool:
    return "_preload =" in project.path.joinpath("pytest.ini").read_text()


def _preload_servers(cwd: Path) -> list[int]:
    """Pids of preload servers started for the project in ``cwd``."""
    return pids_in(cwd, b"preload_server.py")


def test_a_failed_template_build_fails_each_test_and_stops_its_preload_server(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    """The run does not wait for the seed (workers start what does not need it), so a
    failed seed fails every test that needs a stack, with the step's own error."""
    pytester.makefile(
        ".ini",
        pytest=_ini(
            extra="template_db_cmd = {python} -c \"import sys; sys.exit('seed broke')\"\n",
            preload=True,
        ),
    )
    pytester.makepyfile(test_x="def test_a(stack): pass\n")
    scratch = tmp_path / "tmp"  # where the preload server's socket folder goes
    scratch.mkdir()
    pytester._monkeypatch.setenv("TMPDIR", str(scratch))  # type: ignore[attr-defined]
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*building the template database failed with exit code 1*", "*seed broke*"]
    )
    result.stdout.fnmatch_lines(["the template database: failed; every stack that needs it fails"])
    assert _preload_servers(pytester.path) == []
    assert [p.name for p in scratch.iterdir() if p.name.startswith("stackwright-")] == []


def test_a_failed_preload_import_is_reported_and_services_start_with_exec(
    pytester: pytest.Pytester,
) -> None:
    ini = _ini(preload=True).replace(
        f"backend_preload = {FAKE_MODULE}", "backend_preload = no_such_module_xyz"
    )
    pytester.makefile(".ini", pytest=ini)
    pytester.makepyfile(test_x="def test_a(stack): pass\n")
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)
    # whether it died before or after it listened, the run says so once
    result.stdout.fnmatch_lines(
        [
            "backend: not preloaded (preload server exited with code 3; "
            "see *preload-backend.log); started with exec"
        ]
    )
    # the other services have servers of their own
    assert re.search(r"backend \d+\.\d+s preloaded", result.stdout.str()) is None
    assert re.search(r"gateway \d+\.\d+s preloaded", result.stdout.str())


LAST_FAILED = """
def test_a_passes(stack):
    pass

def test_b_fails(stack):
    assert False, "on purpose"

def test_c_passes(backend_url):
    pass
"""


@pytest.mark.parametrize("workers", [["-n", "0"], ["-n", "2"]], ids=["n0", "n2"])
def test_last_failed_and_failed_first_work_with_the_plugin(
    pytester: pytest.Pytester, workers: list[str]
) -> None:
    """pytest's cache provider is on, as in playwright.ini: --lf reruns only the failure,
    --ff runs it first (both ran everything while the ini disabled the provider)."""
    pytester.makefile(".ini", pytest=_ini().replace(" -p no:cacheprovider", ""))
    pytester.makepyfile(test_lf=LAST_FAILED)
    pytester.runpytest_subprocess(*workers).assert_outcomes(passed=2, failed=1)
    again = pytester.runpytest_subprocess(*workers, "--lf", "-p", "no:randomly")
    again.assert_outcomes(failed=1)  # passed=0 too: only the failure ran
    first = pytester.runpytest_subprocess("--ff", "-n", "0", "-p", "no:randomly", "-v")
    first.assert_outcomes(passed=2, failed=1)
    ran = [
        line
        for line in first.outlines
        if "::test_" in line and ("PASSED" in line or "FAILED" in line)
    ]
    assert "test_b_fails" in ran[0], ran


def test_playwright_ini_leaves_the_cache_provider_on() -> None:
    """--lf, --ff and --sw need it; a team's inner loop runs on them."""
    text = (ROOT / "playwright.ini").read_text() + (ROOT / "docs" / "adopting.md").read_text()
    assert "no:cacheprovider" not in text


def test_no_setting_shadows_an_ini_key_of_pytest_or_its_plugins(
    pytester: pytest.Pytester,
) -> None:
    """The step cache's key was cache_dir, pytest's own: its cache provider crashed on it,
    and so playwright.ini turned the provider (--lf, --ff, --sw) off."""
    from stackwright.support.config import SETTINGS

    without_us = pytester.parseconfig("-p", "no:stackwright.fixtures.plugin")
    theirs = set(without_us._parser._inidict)
    ours = {setting.ini for setting in SETTINGS if setting.ini}
    assert not ours & theirs
