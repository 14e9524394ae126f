"""The HTML report, retries and JUnit attachments, run for real: pytester subprocesses
with -n 2, fake services and a real headless Chromium."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import pytest

from stackwright.support.browser.video import video_problem

from .test_plugin import _ini

pytest_plugins = ["pytester"]

REPORT = "test-results/report.html"

FAILING = """
def test_fails(page, backend_url):
    page.goto("/page?backend=" + backend_url)
    page.wait_for_function("window.__done === true")
    assert False, "on purpose"
"""

FLAKY = """
import os, pathlib

def test_flaky(page, backend_url):
    page.goto("/page?backend=" + backend_url)
    page.wait_for_function("window.__done === true")
    with open(os.environ["FLAKY_URLS"], "a") as urls:
        urls.write(backend_url + "\\n")
    marker = pathlib.Path(os.environ["FLAKY_MARK"])
    if not marker.exists():
        marker.write_text("failed once")
        assert False, "fails the first time only"

def test_steady(page):
    page.goto("/ready")
"""


@pytest.fixture
def browser_project(pytester: pytest.Pytester) -> pytest.Pytester:
    """Fake services, the frontend serving the fake page; the backend stamps its log
    lines (ISO 8601), the frontend does not (its lines take the time they were read)."""
    ini = _ini().replace("    FAKE_NAME=backend", "    FAKE_NAME=backend\n    FAKE_LOG_STAMPS=1")
    pytester.makefile(".ini", pytest=ini + "page_url = {frontend_url}\n")
    return pytester


def _report_tests(project: pytest.Pytester) -> dict[str, list[dict[str, Any]]]:
    text = (project.path / REPORT).read_text()
    blob = re.search(r'data-jsonblob="([^"]*)"', text)
    assert blob, "no data in the report"
    return json.loads(html.unescape(blob.group(1)))["tests"]


def _only(tests: dict[str, list[dict[str, Any]]], name: str) -> list[dict[str, Any]]:
    (nodeid,) = [nodeid for nodeid in tests if name in nodeid]
    return tests[nodeid]


def _timeline_rows(fragment: str) -> list[tuple[float, str, str]]:
    rows = re.findall(
        r'<td class="t"[^>]*>([+-][\d.]+)s</td><td class="s"[^>]*>([^<]*)</td>'
        r'<td class="x">([^<]*)</td>',
        fragment,
    )
    return [
        (float(when), html.unescape(source), html.unescape(text)) for when, source, text in rows
    ]


def _first(rows: list[tuple[float, str, str]], source: str, needle: str) -> int:
    for index, (_, where, text) in enumerate(rows):
        if where == source and needle in text:
            return index
    raise AssertionError(f"no {source!r} line with {needle!r} in the timeline:\n{rows}")


def test_the_report_holds_a_failed_tests_files_and_its_timeline(
    browser_project: pytest.Pytester,
) -> None:
    browser_project.makepyfile(test_page=FAILING)
    result = browser_project.runpytest_subprocess(
        "-n", "2", "--html", REPORT, "--screenshot", "only-on-failure",
        "--tracing", "retain-on-failure", "--junitxml", "junit.xml",
        "-o", "junit_logging=system-out",
    )  # fmt: skip
    result.assert_outcomes(failed=1)
    (entry,) = _only(_report_tests(browser_project), "test_fails")
    extras = {extra["name"]: extra for extra in entry["extras"] if extra.get("name")}
    report_dir = browser_project.path / "test-results"

    # Every service's slice, linked relative to the report (readable from disk).
    for service in ("backend", "gateway", "frontend"):
        link = extras[f"{service}.log"]
        assert link["format_type"] == "url"
        assert (report_dir / link["content"]).is_file()
    assert "from-the-page" in (report_dir / extras["backend.log"]["content"]).read_text()
    assert "fake page loaded" in (report_dir / extras["console.log"]["content"]).read_text()
    # The screenshot inline, the trace linked with the command that opens it.
    assert extras["Screenshot"]["format_type"] == "image"
    assert (report_dir / extras["Screenshot"]["content"]).is_file()
    assert (report_dir / extras["Trace"]["content"]).name == "trace.zip"
    fragments = [extra["content"] for extra in entry["extras"] if extra["format_type"] == "html"]
    assert any("playwright show-trace test-results/" in fragment for fragment in fragments)

    # The timeline: page and two services, one list in time order.
    (timeline,) = [fragment for fragment in fragments if "sw-timeline" in fragment]
    rows = _timeline_rows(timeline)
    times = [when for when, _, _ in rows]
    assert times == sorted(times)
    loaded = _first(rows, "page console", "log: fake page loaded")
    backend = _first(rows, "backend", "GET /from-the-page")  # its own timestamp
    frontend = _first(rows, "frontend", "GET /events")  # the time it was read
    frame = _first(rows, "page sse", "progress: 50")
    assert loaded < backend < frame
    assert _first(rows, "page sse", "message: hello") < frame
    assert _first(rows, "page request", "/page?backend=") < loaded
    assert rows[frontend][0] >= rows[_first(rows, "frontend", "GET /page")][0]
    assert (report_dir / "test-page-py-test-fails-chromium" / "timeline.html").is_file()

    # JUnit lists every file of the failed test as an attachment.
    junit = (browser_project.path / "junit.xml").read_text()
    folder = "test-results/test-page-py-test-fails-chromium"
    for name in ("backend.log", "trace.zip", "test-failed-1.png", "timeline.html"):
        assert f"[[ATTACHMENT|{folder}/{name}]]" in junit


def test_a_flaky_test_is_retried_on_the_same_stack_with_a_trace_on_the_retry(
    browser_project: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    browser_project.makepyfile(test_flaky=FLAKY)
    urls = tmp_path / "urls"
    monkeypatch.setenv("FLAKY_MARK", str(tmp_path / "mark"))
    monkeypatch.setenv("FLAKY_URLS", str(urls))
    result = browser_project.runpytest_subprocess(
        "-n", "2", "--reruns", "1", "--html", REPORT, "--junitxml", "junit.xml"
    )  # fmt: skip
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        ["*FLAKY test_flaky.py::test_flaky*", "*2 passed, 1 rerun, 1 flaky*"]
    )

    results = browser_project.path / "test-results"
    first = results / "test-flaky-py-test-flaky-chromium"
    retry = results / "test-flaky-py-test-flaky-chromium-retry1"
    assert "from-the-page" in (first / "backend.log").read_text()  # the failed attempt's slice
    assert not (first / "trace.zip").exists()  # --tracing is off
    assert (retry / "trace.zip").is_file()  # ... but on for the first retry
    assert (retry / "video.webm").is_file() == (video_problem() is None)
    assert not (results / "test-flaky-py-test-steady-chromium").exists()
    # Both attempts used the worker's one stack: no restart between them.
    attempts = urls.read_text().split()
    assert len(attempts) == 2 and attempts[0] == attempts[1]

    entries = _only(_report_tests(browser_project), "::test_flaky[")
    assert sorted(entry["result"] for entry in entries) == ["Passed", "Rerun"]
    passed = next(entry for entry in entries if entry["result"] == "Passed")
    assert any('class="col-attempt">2 (flaky)' in cell for cell in passed["resultsTableRow"])
    report = (browser_project.path / REPORT).read_text()
    assert "1 flaky</b>" in html.unescape(report)
    junit = (browser_project.path / "junit.xml").read_text()
    assert '<property name="flaky" value="passed on attempt 2"' in junit


PASSING = """
def test_passes(page, backend_url):
    page.goto("/page?backend=" + backend_url)
    page.wait_for_function("window.__done === true")
"""


def _passing_entry_names(project: pytest.Pytester, mode: str) -> set[str]:
    """The names of a passing test's attachments in the report, with ``--service-logs``."""
    project.makepyfile(test_quiet=PASSING)
    result = project.runpytest_subprocess("-n", "2", "--html", REPORT, f"--service-logs={mode}")
    result.assert_outcomes(passed=1)
    (entry,) = _only(_report_tests(project), "test_passes")
    return {extra.get("name") or "" for extra in entry["extras"]}


def test_service_logs_off_attaches_no_slices(browser_project: pytest.Pytester) -> None:
    names = _passing_entry_names(browser_project, "off")
    assert not [name for name in names if name.endswith(".log")], names
    assert not list((browser_project.path / "test-results").glob("*/*.log"))


def test_service_logs_on_attaches_a_passing_tests_slices(browser_project: pytest.Pytester) -> None:
    names = _passing_entry_names(browser_project, "on")
    assert {"backend.log", "gateway.log", "frontend.log", "console.log"} <= names
    assert "timeline.html" not in names  # a passing test has no timeline


HOSTILE_ID = """
import pytest

@pytest.mark.parametrize("text", ["x"], ids=["<img src=x onerror=alert(5)>"])
def test_named(page, text):
    page.goto("/ready")
    assert False, "on purpose"
"""


def test_a_test_id_with_html_is_escaped_in_the_report(browser_project: pytest.Pytester) -> None:
    browser_project.makepyfile(test_hostile=HOSTILE_ID)
    result = browser_project.runpytest_subprocess("--html", REPORT)
    result.assert_outcomes(failed=1)
    (entry,) = _only(_report_tests(browser_project), "test_named")
    row = "".join(entry["resultsTableRow"])
    assert "<img" not in row
    assert "&lt;img src=x onerror=alert(5)&gt;" in row
    links = "".join(extra.get("name") or "" for extra in entry["extras"])
    assert "<" not in links
