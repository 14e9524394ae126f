"""Logs on every result, whatever path a test took to the stack: a conformance corpus.

Each inner test has the shape of a real suite's test (page-only as a worker's first
test and as a later one, a method, parametrized cases, module- and session-scoped
user fixtures without a browser, ``context.new_page()``, ``browser.new_page()``,
``getfixturevalue``, failures in setup and teardown, a second attempt under
reruns), sends one request that only it causes (``/mark/<name>/``), and fails on
purpose. For each, the terminal section, JUnit's ``system-out`` and attachments,
its folder's ``<service>.log`` files, its HTML report entry and its timeline must
hold its own marker and no other test's; under ``-n 0`` and ``-n 2``.
"""

from __future__ import annotations

import contextlib
import html
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from .conftest import kept_up
from .test_plugin import _ini

pytest_plugins = ["pytester"]

#: Two files, so that under -n 2 with --dist loadfile each worker's first test is the
#: first test of a file: a page-only test in both.
FIRST_FILE = """
import pytest

def test_page_first(page):
    page.goto("/mark/page-first/")
    assert False, "on purpose"

def test_page_later(page):
    page.goto("/mark/page-later/")
    assert False, "on purpose"

class TestInAClass:
    def test_method(self, page):
        page.goto("/mark/method/")
        assert False, "on purpose"

@pytest.mark.parametrize("n", ["one", "two", "long" * 70], ids=["one", "two", "long" * 70])
def test_param(page, n):
    page.goto(f"/mark/param-{n}/")
    assert False, "on purpose"

def test_context_page(context):
    other = context.new_page()
    other.goto("/mark/context-page/")
    assert False, "on purpose"

def test_browser_page(browser, frontend_url):
    other = browser.new_page()
    other.goto(frontend_url + "/mark/browser-page/")
    other.close()
    assert False, "on purpose"

@pytest.mark.flaky(reruns=1)
def test_rerun(page, request):
    page.goto(f"/mark/rerun-{request.node.execution_count}/")
    assert False, "on purpose"
"""

SECOND_FILE = """
import pytest, requests

@pytest.fixture(scope="module")
def module_backend(backend_url):
    requests.get(backend_url + "/ready", timeout=5)
    return backend_url

@pytest.fixture(scope="session")
def session_gateway(gateway_url):
    return gateway_url

@pytest.fixture
def broken_setup(page):
    page.goto("/mark/setup-fails/")
    raise RuntimeError("setup fails on purpose")

@pytest.fixture
def broken_teardown(page):
    yield
    page.goto("/mark/teardown-fails/")
    raise RuntimeError("teardown fails on purpose")

def test_page_first_here(page):
    page.goto("/mark/page-first-here/")
    assert False, "on purpose"

def test_module_fixture(module_backend):
    requests.get(module_backend + "/mark/module-fixture/", timeout=5)
    assert False, "on purpose"

def test_session_fixture(session_gateway):
    requests.get(session_gateway + "/mark/session-fixture/", timeout=5)
    assert False, "on purpose"

def test_getfixturevalue(request):
    url = request.getfixturevalue("backend_url")
    requests.get(url + "/mark/getfixturevalue/", timeout=5)
    assert False, "on purpose"

def test_setup_fails(broken_setup):
    pass

def test_teardown_fails(broken_teardown):
    pass
"""

#: Tests with a page: pytest-playwright's screenshot lands in the folder the harness
#: files into (the same name, shortened the same way past 255 characters).
SCREENSHOTS = {"test_page_first", "test_page_later", "test_method", "test_rerun"}
#: Test name (as in the node id, without parameters) -> the marker only it causes.
MARKERS = {
    "test_page_first": "page-first",
    "test_page_later": "page-later",
    "test_method": "method",
    "test_param[chromium-one]": "param-one",
    "test_param[chromium-two]": "param-two",
    f"test_param[chromium-{'long' * 70}]": f"param-{'long' * 70}",
    "test_context_page": "context-page",
    "test_browser_page": "browser-page",
    "test_rerun": "rerun-2",
    "test_page_first_here": "page-first-here",
    "test_module_fixture": "module-fixture",
    "test_session_fixture": "session-fixture",
    "test_getfixturevalue": "getfixturevalue",
    "test_setup_fails": "setup-fails",
    "test_teardown_fails": "teardown-fails",
}
EVERY_MARKER = [*MARKERS.values(), "rerun-1"]
SERVICES = ("backend", "gateway", "frontend")


def _tagged(marker: str) -> str:
    return f"/mark/{marker}/"


def _markers_in(text: str) -> set[str]:
    return {marker for marker in EVERY_MARKER if _tagged(marker) in text}


def _short(nodeid: str) -> str:
    name = nodeid.rsplit("::", 1)[-1]
    return name if name.startswith("test_param") else name.split("[")[0]


@pytest.mark.parametrize("stacks", ["own", "kept"])
@pytest.mark.parametrize(
    "workers", [["-n", "0"], ["-n", "2", "--dist", "loadfile"]], ids=["n0", "n2"]
)
def test_every_shape_carries_its_own_logs(
    pytester: pytest.Pytester, workers: list[str], stacks: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a run's own stacks, and on the stacks ``stackwright up`` keeps."""
    monkeypatch.setenv("CI", "")
    pytester.makefile(".ini", pytest=_ini() + "page_url = {frontend_url}\n")
    pytester.makepyfile(test_first=FIRST_FILE, test_second=SECOND_FILE)
    with contextlib.ExitStack() as up:
        if stacks == "kept":
            up.enter_context(kept_up(pytester, "-n", "2"))
        result = pytester.runpytest_subprocess(
            *workers, "-p", "no:randomly", "--html", "test-results/report.html",
            "--screenshot", "only-on-failure",
            "--junitxml", "junit.xml", "-o", "junit_logging=system-out",
        )  # fmt: skip
    if stacks == "kept":
        result.stdout.fnmatch_lines(["*attached to kept stack gw*"])
    result.assert_outcomes(failed=13, errors=2, passed=1)
    result.stdout.fnmatch_lines(["*1 rerun*"])
    problems = [
        *_terminal_problems(result.stdout.lines),
        *_junit_problems(pytester.path / "junit.xml"),
        *_folder_problems(pytester.path / "test-results"),
        *_report_problems(pytester.path / "test-results"),
    ]
    assert not problems, "\n".join(problems)


def _terminal_problems(lines: list[str]) -> list[str]:
    blocks = _terminal_blocks(lines)
    problems = []
    for name, marker in MARKERS.items():
        found = [text for title, text in blocks.items() if _titled(title) == name]
        if len(found) != 1:
            problems.append(f"terminal: {len(found)} blocks for {name}")
            continue
        if "Captured stdout service log" not in found[0]:
            problems.append(f"terminal: {name} has no service log section")
        elif _markers_in(found[0]) != {marker}:
            problems.append(f"terminal: {name} shows {sorted(_markers_in(found[0]))}")
    return problems


def _titled(title: str) -> str:
    """The test a block's title names: ``ERROR at setup of TestX.test_y[chromium]``."""
    return _short(title.split()[-1].split(".")[-1])


def _terminal_blocks(lines: list[str]) -> dict[str, str]:
    """The failures and errors sections' blocks, by their title line."""
    blocks: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in lines:
        title = re.match(r"^_+ (.+?) _+$", line)
        if title:
            current = blocks.setdefault(title.group(1), [])
        elif re.match(r"^={3,} .* ={3,}$", line):
            current = None
        elif current is not None:
            current.append(line)
    return {title: "\n".join(text) for title, text in blocks.items()}


def _junit_problems(path: Path) -> list[str]:
    cases = {
        _short(str(case.get("name"))): case for case in ET.parse(path).getroot().iter("testcase")
    }
    problems = []
    for name, marker in MARKERS.items():
        out = "".join(node.text or "" for node in cases[name].iter("system-out"))
        seen = _markers_in(out)
        if marker not in seen or seen - {marker, "rerun-1"}:
            problems.append(f"junit: {name} system-out shows {sorted(seen)}")
        for service in SERVICES:
            if not re.search(rf"\[\[ATTACHMENT\|[^]]*/{service}\.log\]\]", out):
                problems.append(f"junit: {name} lists no {service}.log attachment")
    return problems


def _manifest(output: Path) -> dict[str, dict[str, Any]]:
    results = json.loads((output / "results.json").read_text())
    return {_short(test["nodeid"]): test for test in results["tests"]}


def _read(path: Path) -> str:
    return path.read_text() if path.is_file() else ""


def _folder_problems(output: Path) -> list[str]:
    tests = _manifest(output)
    problems = []
    for name, marker in MARKERS.items():
        if not tests[name]["folders"]:
            problems.append(f"folder: {name} has none")
            continue
        folder = output / tests[name]["folders"][-1]
        missing = [s for s in SERVICES if not (folder / f"{s}.log").is_file()]
        if missing:
            problems.append(f"folder: {folder.name} has no {missing} log")
        logs = "".join(_read(folder / f"{service}.log") for service in SERVICES)
        if _markers_in(logs) != {marker}:
            problems.append(f"folder: {folder.name} logs show {sorted(_markers_in(logs))}")
        shots = SCREENSHOTS | {n for n in MARKERS if n.startswith("test_param")}
        if name in shots and not list(folder.glob("test-failed-*.png")):
            problems.append(f"folder: {folder.name} has no screenshot")
        timeline = _read(folder / "timeline.txt")
        if _markers_in(timeline) != {marker}:
            problems.append(f"folder: {folder.name} timeline shows {sorted(_markers_in(timeline))}")
    folders = tests["test_rerun"]["folders"]
    if len(folders) != 2 or not folders[1].endswith("-retry1"):
        problems.append(f"folder: the rerun test's folders are {folders}")
    elif _markers_in(_read(output / folders[0] / "frontend.log")) != {"rerun-1"}:
        problems.append("folder: the first attempt's folder does not hold its own lines")
    return problems


def _report_problems(output: Path) -> list[str]:
    blob = re.search(r'data-jsonblob="([^"]*)"', (output / "report.html").read_text())
    if not blob:
        return ["report: no data"]
    problems = []
    for nodeid, rows in json.loads(html.unescape(blob.group(1)))["tests"].items():
        name = _short(nodeid)
        links = {e["name"]: e["content"] for e in rows[-1]["extras"] if e.get("name")}
        logs = "".join(_read(output / links.get(f"{s}.log", "-")) for s in SERVICES)
        if name in MARKERS and _markers_in(logs) != {MARKERS[name]}:
            problems.append(f"report: {name} links logs showing {sorted(_markers_in(logs))}")
    return problems


DOWN = """
import os, signal, time

def test_1_break(stack):
    process = stack.processes["backend"]
    os.kill(process.pid, signal.SIGKILL)
    while process.exit_code() is None:
        time.sleep(0.01)

def test_2_page_only(page):
    page.goto("/ready")

def test_3_page_only_again(page):
    page.goto("/ready")
"""


def test_a_page_only_test_is_told_a_service_went_down(pytester: pytest.Pytester) -> None:
    pytester.makefile(".ini", pytest=_ini() + "page_url = {frontend_url}\n")
    pytester.makepyfile(test_down=DOWN)
    result = pytester.runpytest_subprocess("-p", "no:randomly")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_2_page_only*",
            "backend (main) was killed by SIGKILL (exit code -9) while the stack was in use.",
            "Log: */main/backend.log*",
        ]
    )
    result.stdout.fnmatch_lines(["main: stack ready in * (restarted 1x)"])
