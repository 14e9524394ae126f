"""The harness proving itself against the real app: isolation, log slices, policy, fresh_db.

The runs that must fail, or need two workers, are inner pytest runs (pytester),
so the real suite stays green and proves what a red test would show.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stackwright import Stack
from stackwright.support.browser import managed_revisions

from .helpers.api import ApiClient, TestData

ROOT = Path(__file__).resolve().parent.parent


#: Variables of this run that must not leak into an inner run.
_OUTER_ONLY = ("PYTEST_XDIST", "PLAYWRIGHT_", "INCLUDE_SLOW")


def _inner_ini() -> str:
    """The suite's playwright.ini, for a project outside the repository."""
    ini = (ROOT / "playwright.ini").read_text().replace("testpaths = e2e\n", "")
    ini = ini.replace("frontend_cwd = app/frontend", f"frontend_cwd = {ROOT / 'app' / 'frontend'}")
    # `{python} -m app...` finds the reference app in the checkout, where it runs from
    # playwright.ini's own folder.
    return ini + "".join(f"{key}_cwd = {ROOT}\n" for key in ("backend", "gateway", "template_db"))


def _inner_project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester project that runs the real app with the suite's playwright.ini."""
    pytester.makefile(".ini", pytest=_inner_ini())
    for name in list(os.environ):  # the inner run is not a worker of this one
        if name.startswith(_OUTER_ONLY):
            pytester._monkeypatch.delenv(name)  # type: ignore[attr-defined]
    return pytester


MARKER_TESTS = """
import json, os, pathlib, uuid, pytest, requests

@pytest.mark.parametrize("n", [0, 1])
def test_marker(n, stack, backend_url, sqlite_db_path, worker_id):
    marker = f"MARKER-{n}-{uuid.uuid4().hex[:6]}"
    created = requests.post(f"{backend_url}/api/parts", json={"description": marker}, timeout=10)
    created.raise_for_status()
    seen = [p["description"] for p in requests.get(f"{backend_url}/api/parts?q=MARKER", timeout=10).json()]
    record = {"worker": worker_id, "marker": marker, "seen": seen, "urls": stack.urls,
              "db": str(sqlite_db_path), "logs": sorted(str(p) for p in stack.log_paths.values())}
    (pathlib.Path(os.environ["RESULTS"]) / f"{n}.json").write_text(json.dumps(record))
"""


@pytest.mark.slow
def test_two_workers_see_different_databases_ports_and_logs(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    project = _inner_project(pytester)
    project.makepyfile(test_markers=MARKER_TESTS)
    project._monkeypatch.setenv("RESULTS", str(tmp_path))  # type: ignore[attr-defined]
    result = project.runpytest_subprocess("-n", "2", "--keep-service-files")
    result.assert_outcomes(passed=2)
    first, second = (json.loads((tmp_path / f"{n}.json").read_text()) for n in (0, 1))
    assert {first["worker"], second["worker"]} == {"gw0", "gw1"}
    assert first["db"] != second["db"]
    assert set(first["urls"].values()).isdisjoint(second["urls"].values())
    assert set(first["logs"]).isdisjoint(second["logs"])
    assert first["seen"] == [first["marker"]]  # neither backend saw the other's marker
    assert second["seen"] == [second["marker"]]
    assert second["marker"] not in Path(first["logs"][0]).read_text()


INNER_SUITE = """
import pytest, requests

def test_log_first(backend_url, gateway_url):
    requests.get(f"{backend_url}/api/parts?q=FIRST-MARK", timeout=10)
    with requests.get(f"{gateway_url}/stream?request_id=first-mark", stream=True, timeout=10) as r:
        next(r.iter_lines())

def test_log_second(backend_url, gateway_url):
    requests.get(f"{backend_url}/api/parts?q=SECOND-MARK", timeout=10)
    with requests.get(f"{gateway_url}/stream?request_id=second-mark", stream=True, timeout=10) as r:
        next(r.iter_lines())

@pytest.mark.slow
def test_slow_one():
    pass

def test_console_error_fails(page):
    page.goto("/parts")
    page.evaluate("console.error('unexpected boom')")
    page.get_by_test_id("parts.list.item").first.wait_for()

def test_declared_console_error_passes(page, expect_console_error):
    expect_console_error(r"expected boom")
    page.goto("/parts")
    page.evaluate("console.error('expected boom')")
    page.get_by_test_id("parts.list.item").first.wait_for()

def test_page_error_fails(page):
    page.goto("/parts")
    page.evaluate("setTimeout(() => { throw new Error('kaboom from the page') }, 0)")
    page.get_by_test_id("parts.list.item").first.wait_for()
"""


@dataclass
class InnerRun:
    returncode: int
    output: str
    results: Path

    def outcomes(self) -> dict[str, int]:
        summary = self.output.strip().splitlines()[-1]
        return {word: int(count) for count, word in re.findall(r"(\d+) (\w+)", summary)}


@pytest.fixture(scope="module")
def inner_run(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> InnerRun:
    """One inner run of INNER_SUITE on one worker, shared by the checks below.

    Under xdist the checks may land on different workers (``--dist load``): the
    first one runs it, under a lock, and the others read its record.
    """
    shared = tmp_path_factory.getbasetemp()
    if worker_id != "master":
        shared = shared.parent  # one folder for every worker of this run
    record = shared / "inner-run.json"
    with open(shared / "inner-run.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not record.exists():
            done = _run_inner_suite(tmp_path_factory.mktemp("inner"))
            record.write_text(json.dumps({**done.__dict__, "results": str(done.results)}))
    data = json.loads(record.read_text())
    return InnerRun(data["returncode"], data["output"], Path(data["results"]))


def _run_inner_suite(project: Path) -> InnerRun:
    (project / "pytest.ini").write_text(_inner_ini())
    (project / "test_inner.py").write_text(INNER_SUITE)
    env = {k: v for k, v in os.environ.items() if not k.startswith(_OUTER_ONLY)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--service-logs=on",
            "--tracing=retain-on-failure",
            "-p",
            "no:randomly",
        ],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return InnerRun(done.returncode, done.stdout + done.stderr, project / "test-results")


@pytest.mark.slow
def test_inner_run_outcomes(inner_run: InnerRun) -> None:
    assert inner_run.outcomes() == {"passed": 3, "failed": 2, "deselected": 1}, inner_run.output[
        -3000:
    ]


@pytest.mark.slow
def test_each_test_folder_holds_its_own_service_logs(inner_run: InnerRun) -> None:
    first = inner_run.results / "test-inner-py-test-log-first"
    second = inner_run.results / "test-inner-py-test-log-second"
    assert "FIRST-MARK" in (first / "backend.log").read_text()
    assert "request_id=first-mark" in (first / "gateway.log").read_text()
    assert "SECOND-MARK" in (second / "backend.log").read_text()
    assert "request_id=second-mark" in (second / "gateway.log").read_text()
    assert "FIRST-MARK" not in (second / "backend.log").read_text()
    assert "first-mark" not in (second / "gateway.log").read_text()
    assert (second / "frontend.log").exists()


@pytest.mark.slow
def test_unexpected_console_and_page_errors_fail_with_message_and_url(inner_run: InnerRun) -> None:
    out = inner_run.output
    assert "FAILED test_inner.py::test_console_error_fails" in out
    assert "FAILED test_inner.py::test_page_error_fails" in out
    assert re.search(r"console\.error on http://127\.0\.0\.1:\d+/parts: unexpected boom", out)
    assert re.search(r"page error on http://127\.0\.0\.1:\d+/parts: .*kaboom from the page", out)
    assert "expected boom" not in out.replace("unexpected boom", "")


@pytest.mark.slow
def test_a_failed_test_keeps_trace_and_service_logs_together(inner_run: InnerRun) -> None:
    folder = inner_run.results / "test-inner-py-test-console-error-fails-chromium"
    names = {path.name for path in folder.iterdir()}
    assert {"trace.zip", "backend.log", "gateway.log", "frontend.log"} <= names
    assert "GET /api/parts" in (folder / "backend.log").read_text()


def test_fresh_db_restores_the_seeded_data(
    fresh_db: dict[str, Any], api: ApiClient, test_data: TestData, stack: Stack
) -> None:
    # On SQLite the backend restores its data itself (db_reset); on PostgreSQL
    # (make e2e-postgres) the harness clones the template database again.
    assert fresh_db["status"] == ("reset" if stack.config.database == "sqlite" else "restored")
    seeded = {part["key"] for part in api.parts()}
    assert len(seeded) == 20  # the seeded set, whatever earlier tests of this worker did
    assert "RLAY" in seeded
    extra = test_data.parts.create(description_prefix="Will be reset")
    api.call("DELETE", "/api/parts/RLAY")
    stack.reset_db()  # the backend keeps serving: its next request sees the seeded data
    assert {part["key"] for part in api.parts()} == seeded
    assert api.part(extra["key"]) is None


#: A checkout of "the Node.js SSE Gateway" as the harness sees one: dist/index.js, which
#: reads only PORT and CALLBACK_URL. It hands them (and nothing else of its environment)
#: to the reference gateway, which speaks the same protocol (PROTOCOL.md).
NODE_GATEWAY = """
const { spawn } = require('child_process');
const port = process.env.PORT, callback = process.env.CALLBACK_URL;
console.log(`ssegateway checkout (node ${process.version}) PORT=${port} CALLBACK_URL=${callback}`);
const child = spawn(%(python)s, ['-m', 'app.gateway'], {
  cwd: %(root)s,
  env: { PATH: process.env.PATH, PORT: port, CALLBACK_URL: callback },
  stdio: 'inherit',
});
child.on('exit', (code) => process.exit(code === null ? 1 : code));
process.on('SIGTERM', () => child.kill('SIGTERM'));
"""


@pytest.mark.slow
def test_the_sse_suite_passes_with_a_gateway_swapped_in_by_sse_gateway_root(
    tmp_path: Path,
) -> None:
    checkout = tmp_path / "ssegateway"
    (checkout / "dist").mkdir(parents=True)
    source = NODE_GATEWAY % {"python": json.dumps(sys.executable), "root": json.dumps(str(ROOT))}
    (checkout / "dist" / "index.js").write_text(source)
    output = tmp_path / "results"
    _run_sse_specs(output, SSE_GATEWAY_ROOT=str(checkout))
    logs = list((output / ".services").glob("gw*/gateway.log"))
    assert logs, f"no gateway logs under {output}"
    for log in logs:
        text = log.read_text()
        match = re.search(
            r"ssegateway checkout \(node v[\d.]+\) PORT=(\d+) CALLBACK_URL=(\S+)", text
        )
        assert match is not None, text[:2000]
        assert match.group(2).startswith("http://127.0.0.1:")
        assert match.group(2).endswith("/api/sse/callback")


@pytest.mark.slow
def test_the_suite_passes_with_the_frontend_dev_server(tmp_path: Path) -> None:
    """PLAYWRIGHT_DEV_SERVICES=frontend: Vite's dev server per worker instead of the build,
    its dependencies pre-bundled once per run into the folder every worker reads."""
    output = tmp_path / "results"
    stdout = _run_sse_specs(output, PLAYWRIGHT_DEV_SERVICES="frontend")
    assert "the frontend dev build: " in stdout and "the frontend build: " not in stdout
    logs = list((output / ".services").glob("gw*/frontend.log"))
    assert len(logs) == 2
    for log in logs:
        text = re.sub(r"\x1b\[[0-9;]*m", "", log.read_text())  # colours, under CI=true
        assert "VITE v" in text and "Local:" in text, text[:2000]  # the dev server, not preview
        assert "optimized dependencies changed" not in text


@pytest.mark.slow
def test_the_suite_passes_with_browsers_from_a_browser_server(tmp_path: Path) -> None:
    """PW_TEST_CONNECT_WS_ENDPOINT: every worker's browser comes from a Playwright
    browser server (here on loopback, with the system Chromium), which reaches each
    worker's stack through expose_network."""
    server = _browser_server(tmp_path)
    lines: list[str] = []
    try:
        endpoint, reader = _listening(server, lines)
        _run_sse_specs(tmp_path / "results", PW_TEST_CONNECT_WS_ENDPOINT=endpoint)
    finally:
        _stop_group(server)
    reader.join(timeout=10)  # the server's end closed its output
    assert server.stdout is not None
    server.stdout.close()
    assert not _group_members(server.pid), "the browser server left processes behind"
    log = "".join(lines)
    # The controller's check, then one browser per worker, each with its network exposed.
    assert log.count('engaged launch mode for "chromium"') >= 3, log
    assert log.count("started socks proxy") >= 3, log


def _browser_server(folder: Path) -> subprocess.Popen[bytes]:
    """``playwright run-server`` on loopback whose browsers are the system's, linked into
    a folder laid out as Playwright expects (it cannot download its own here)."""
    revisions = managed_revisions()
    browsers = folder / "browsers"
    shell = shutil.which("chromium-headless-shell") or shutil.which("chromium")
    full = shutil.which("chromium") or shell
    assert shell and full, "a system Chromium is needed (make setup installs one)"
    for name, path, target in (
        ("chromium-headless-shell", "chrome-headless-shell-linux64/chrome-headless-shell", shell),
        ("chromium", "chrome-linux64/chrome", full),
    ):
        link = browsers / f"{name.replace('-', '_')}-{revisions[name]}" / path
        link.parent.mkdir(parents=True)
        link.symlink_to(target)
    env = {**os.environ, "PLAYWRIGHT_BROWSERS_PATH": str(browsers), "DEBUG": "pw:server"}
    command = [sys.executable, "-m", "playwright", "run-server", "--port", "0"]
    # Its own session: the Python wrapper starts the Node driver as a child, which must
    # be stopped with it.
    return subprocess.Popen(
        [*command, "--host", "127.0.0.1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _stop_group(server: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's whole process group, SIGKILL to what is left after 10 s."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while _group_members(server.pid) and time.monotonic() < deadline:
        server.poll()
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGKILL)
    server.wait(timeout=10)


def _group_members(group: int) -> list[int]:
    """Live (not zombie) processes of process group ``group``."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def _listening(server: subprocess.Popen[bytes], seen: list[str]) -> tuple[str, threading.Thread]:
    """The server's address, from the line saying it listens, and the thread that reads
    the rest of its output into ``seen``."""
    assert server.stdout is not None
    for raw in server.stdout:
        line = raw.decode("utf-8", "replace")
        seen.append(line)
        found = re.search(r"Listening on (ws://\S+)", line)
        if found:
            break
    else:
        raise AssertionError(f"playwright run-server exited without listening:\n{''.join(seen)}")

    def drain(stream: Any) -> None:
        seen.extend(rest.decode("utf-8", "replace") for rest in stream)

    reader = threading.Thread(target=drain, args=(server.stdout,), daemon=True)
    reader.start()
    return found.group(1), reader


def _run_sse_specs(output: Path, **env: str) -> str:
    """The SSE, AI-creation and smoke specs on two workers, in a pytest of their own with
    ``env`` added; their output once they passed."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(_OUTER_ONLY)}
    suite = ["e2e/test_sse.py", "e2e/test_ai_part_creation.py", "e2e/test_smoke.py"]
    options = ["-n", "2", "-q", "--output", str(output), "--keep-service-files"]
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", "playwright.ini", *suite, *options],
        cwd=ROOT,
        env={**inherited, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert re.search(r"\d+ passed", run.stdout) and "failed" not in run.stdout
    return run.stdout
