"""One slice per test attempt, the same lines wherever a person reads them.

Each inner test holds a live stream open in its page and fails at once; when its page
closes (in its teardown), the frontend logs the stream's close and calls the backend
back, a few milliseconds later, as an SSE gateway's disconnect does. For every failing
test, the terminal's tail of each service, JUnit's ``system-out`` tail and the last
lines of the folder's ``<service>.log`` must be the same lines, the close and its
callback included; and no slice may hold another test's lines (the previous test's
close, a passing one's too). Three runs, as timing decides what goes wrong.
"""

from __future__ import annotations

import contextlib
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from .conftest import kept_up
from .test_attempt_logs import _manifest, _short
from .test_plugin import _ini

pytest_plugins = ["pytester"]

SHAPES = """
import pytest, requests

def _live(page, mark):
    page.goto(f"/live-page?mark={mark}")
    page.wait_for_function("window.__live === true")

def test_page_only(page):
    _live(page, "page-only")
    assert False, "on purpose"

def test_after_a_request(page, backend_url):
    requests.get(backend_url + "/first?mark=after-a-request", timeout=5)
    _live(page, "after-a-request")
    assert False, "on purpose"

def test_passes(page):
    _live(page, "passes")

def test_getfixturevalue(request):
    _live(request.getfixturevalue("page"), "getfixturevalue")
    assert False, "on purpose"

class TestInAClass:
    def test_method(self, page):
        _live(page, "method")
        assert False, "on purpose"

@pytest.mark.parametrize("n", ["one", "two"])
def test_param(page, n):
    _live(page, f"param-{n}")
    assert False, "on purpose"
"""
MARKS = {
    "test_page_only": "page-only",
    "test_after_a_request": "after-a-request",
    "test_getfixturevalue": "getfixturevalue",
    "test_method": "method",
    "test_param[chromium-one]": "param-one",
    "test_param[chromium-two]": "param-two",
}
#: The services whose slices hold the close and its callback.
CLOSED = {
    "frontend": "live stream closed by the client /live?mark={}",
    "backend": "/closed?mark={}",
}
SERVICES = ("backend", "gateway", "frontend")
TAIL = 40


def _name(text: str) -> str:
    """A test's key in MARKS from a node id or a failure title."""
    return _short(text.split()[-1].rsplit(".", 1)[-1])


def _terminal(lines: list[str]) -> dict[str, dict[str, str]]:
    """Each failure's service tails in the terminal: {test: {service: text}}."""
    found: dict[str, dict[str, str]] = {}
    test = service = None
    for line in lines:
        title = re.match(r"^_{3,} (.+?) _{3,}$", line)
        section = re.match(
            r"^-{3,} Captured stdout service log: (\w+) \(last \d+ lines\) -{3,}$", line
        )
        if title:
            test, service = _name(title.group(1)), None
        elif re.match(r"^(=+|-+) .* (=+|-+)$", line):
            service = section.group(1) if section and test else None
            if service and test:
                found.setdefault(test, {})[service] = ""
        elif test and service:
            found[test][service] += line + "\n"
    return {t: {s: text.rstrip("\n") for s, text in tails.items()} for t, tails in found.items()}


def _junit(path: Path) -> dict[str, dict[str, str]]:
    """Each test's service tails in JUnit's system-out: {test: {service: text}}."""
    found: dict[str, dict[str, str]] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        out = "".join(node.text or "" for node in case.iter("system-out"))
        tails = found.setdefault(_name(str(case.get("name"))), {})
        pieces = re.split(r"^----- (\w+) log, last \d+ lines \(.*\) -----$", out, flags=re.M)
        for service, text in zip(pieces[1::2], pieces[2::2], strict=True):
            tails[service] = text.split("\n----- ", 1)[0].split("\n[[ATTACHMENT|", 1)[0].strip("\n")
    return found


def _folders(output: Path) -> dict[str, dict[str, str]]:
    """Each test's whole slice of each service, from its folder: {test: {service: text}}."""
    found = {}
    for name, test in _manifest(output).items():
        if name in MARKS and test["folders"]:
            folder = output / test["folders"][-1]
            found[name] = {s: (folder / f"{s}.log").read_text() for s in SERVICES}
    return found


def _problems(run: int, terminal: dict, junit: dict, folders: dict) -> list[str]:
    problems = []
    for test, mark in MARKS.items():
        where = f"run {run}, {test}"
        if test not in folders:
            problems.append(f"{where}: no folder")
            continue
        for service in SERVICES:
            whole = folders[test][service]
            tail = (
                "\n".join(whole.splitlines()[-TAIL:])
                or f"({service} wrote no line during this test)"
            )
            shown = terminal.get(test, {}).get(service)
            if shown != tail:
                problems.append(f"{where}: the terminal's {service} tail is not the folder's:\n"
                                f"  terminal: {shown!r}\n  folder:   {tail!r}")  # fmt: skip
            if junit.get(test, {}).get(service) != tail:
                problems.append(f"{where}: JUnit's {service} tail is not the folder's")
            others = [m for m in (*MARKS.values(), "passes") if m != mark and f"mark={m}" in whole]
            if others:
                problems.append(f"{where}: its {service} slice holds lines of {others}")
        for service, line in CLOSED.items():
            if line.format(mark) not in folders[test][service]:
                problems.append(f"{where}: its {service} slice misses its page's close")
    return problems


@pytest.mark.slow
@pytest.mark.parametrize("stacks", ["own", "kept"])
@pytest.mark.parametrize("workers", [["-n", "0"], ["-n", "2"]], ids=["n0", "n2"])
def test_the_terminal_junit_and_folder_show_one_slice(
    pytester: pytest.Pytester, workers: list[str], stacks: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "")
    ini = _ini().replace(
        "FAKE_NAME=frontend", "FAKE_NAME=frontend\n    FAKE_CALLBACK={backend_url}"
    )
    pytester.makefile(".ini", pytest=ini + "page_url = {frontend_url}\n")
    pytester.makepyfile(test_shapes=SHAPES)
    problems = []
    with contextlib.ExitStack() as up:
        if stacks == "kept":
            up.enter_context(kept_up(pytester, "-n", "2"))
        for run in range(3):
            result = pytester.runpytest_subprocess(
                *workers, "-p", "no:randomly", "--junitxml", "junit.xml",
                "-o", "junit_logging=system-out", "--service-logs", "on",
            )  # fmt: skip
            result.assert_outcomes(failed=len(MARKS), passed=1)
            output = pytester.path / "test-results"
            problems += _problems(
                run,
                _terminal(result.stdout.lines),
                _junit(pytester.path / "junit.xml"),
                _folders(output),
            )
    assert not problems, "\n".join(problems)


def test_without_rerunfailures_the_header_says_the_tails_are_in_the_folder(
    pytester: pytest.Pytester,
) -> None:
    pytester.makefile(".ini", pytest=_ini())
    pytester.makepyfile(
        test_x="import requests\n\ndef test_a(backend_url):\n"
        "    requests.get(backend_url + '/no-tails-here', timeout=5)\n    assert False\n"
    )
    result = pytester.runpytest_subprocess("-p", "no:rerunfailures")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["stackwright: pytest-rerunfailures is disabled, so a failed*"])
    (folder,) = (p for p in (pytester.path / "test-results").iterdir() if "test-a" in p.name)
    assert "/no-tails-here" in (folder / "backend.log").read_text()
