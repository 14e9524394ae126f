"""Shards (pytest-split) and ``stackwright merge``: every test once, whole folders only."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from junitparser import JUnitXml

from stackwright.support.cli import main as stackwright
from stackwright.support.results.manifest import RESULTS_FILE, TestResult, write_results

from .conftest import ROOT
from .test_plugin import _ini

pytest_plugins = ["pytester"]


def _collected(*args: str, cwd: Path = ROOT) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:randomly", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return [line for line in done.stdout.splitlines() if "::" in line]


@pytest.mark.parametrize("splits", [1, 2, 3])
def test_the_shards_of_the_browser_suite_cover_every_test_once(splits: int) -> None:
    suite = ["-c", "playwright.ini", "--durations-path", "e2e/.test_durations"]
    everything = _collected(*suite)
    shards = [
        _collected(*suite, "--splits", str(splits), "--group", str(group))
        for group in range(1, splits + 1)
    ]
    flat = [test for shard in shards for test in shard]
    assert sorted(flat) == sorted(everything)  # each test in exactly one shard
    assert all(shards)


def test_a_missing_or_stale_duration_falls_back_to_the_average(tmp_path: Path) -> None:
    durations = json.loads((ROOT / "e2e" / ".test_durations").read_text())
    dropped = sorted(durations)[0]
    del durations[dropped]  # a new test: no entry
    durations["e2e/test_gone.py::test_removed[chromium]"] = 99.0  # a removed test: stale
    path = tmp_path / "durations"
    path.write_text(json.dumps(durations))
    suite = ["-c", "playwright.ini", "--durations-path", str(path)]
    shards = [_collected(*suite, "--splits", "3", "--group", str(g)) for g in (1, 2, 3)]
    flat = [test for shard in shards for test in shard]
    assert sorted(flat) == sorted(_collected(*suite))
    assert dropped in flat


SUITE = """
import pytest, requests

@pytest.mark.parametrize("n", range(4))
def test_request(n, backend_url):
    requests.get(f"{backend_url}/ready?n={n}", timeout=5)

def test_fails(backend_url):
    requests.get(f"{backend_url}/ready?marker=FAILING", timeout=5)
    assert False, "on purpose"

def test_plain():
    pass
"""


def test_three_real_shards_merge_into_the_unsharded_runs_tests(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makefile(".ini", pytest=_ini())
    pytester.makepyfile(test_suite=SUITE)
    unsharded = _collected("-p", "stackwright.fixtures.plugin", cwd=pytester.path)
    assert len(unsharded) == 6
    for group in (1, 2, 3):
        folder = f"shard-{group}"
        pytester.runpytest_subprocess(
            "--splits", "3", "--group", str(group), "--output", folder,
            "--junitxml", f"{folder}/junit.xml", "-o", "junit_logging=system-out",
            "--html", f"{folder}/report.html", "--service-logs=on",
        )  # fmt: skip
    monkeypatch.chdir(pytester.path)
    shards = [pytester.path / f"shard-{group}" for group in (1, 2, 3)]
    assert stackwright(["merge", *map(str, shards), "--output", "merged"]) == 0
    merged = pytester.path / "merged"

    results = json.loads((merged / RESULTS_FILE).read_text())
    assert sorted(test["nodeid"] for test in results["tests"]) == sorted(unsharded)
    junit = JUnitXml.fromfile(str(merged / "junit.xml"))
    cases = [case for suite in junit for case in suite]
    assert sorted(f"{case.classname}::{case.name}" for case in cases) == sorted(
        f"test_suite::{nodeid.split('::')[1]}" for nodeid in unsharded
    )
    assert (junit.tests, junit.failures) == (6, 1)
    shard_time = sum(JUnitXml.fromfile(str(s / "junit.xml")).time for s in shards)
    assert junit.time == pytest.approx(shard_time, abs=0.01)
    # The failed test's attachments point into the merged folder, and exist there.
    out = next(case.system_out for case in cases if case.name == "test_fails")
    attachment = "merged/test-suite-py-test-fails/backend.log"
    assert f"[[ATTACHMENT|{attachment}]]" in out
    assert "marker=FAILING" in (pytester.path / attachment).read_text()

    report = (merged / "report.html").read_text()
    for nodeid in unsharded:
        assert nodeid in report
    assert 'href="test-suite-py-test-fails/backend.log"' in report
    assert "6 tests</b>: 1 failed, 5 passed" in report


def _shard(folder: Path, *tests: str, junit: bool = True) -> Path:
    folder.mkdir(parents=True)
    results = [TestResult(nodeid=test, folders=[test.replace("::", "-")]) for test in tests]
    for test in tests:
        (folder / test.replace("::", "-")).mkdir()
    write_results(folder / RESULTS_FILE, results, shard=None, exitstatus=0, junit="junit.xml")
    if junit:
        cases = "".join(
            f'<testcase classname="t" name="{test.split("::")[1]}" time="1"/>' for test in tests
        )
        (folder / "junit.xml").write_text(f'<testsuite name="pytest">{cases}</testsuite>')
    return folder


def _merge_error(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert stackwright(["merge", *args]) == 1
    return capsys.readouterr().err


def test_a_test_in_two_shards_is_refused_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one = _shard(tmp_path / "one", "t.py::test_a", "t.py::test_b")
    two = _shard(tmp_path / "two", "t.py::test_b")
    error = _merge_error(capsys, str(one), str(two), "--output", str(tmp_path / "out"))
    assert f"t.py::test_b ran in two shards: {one} and {two}" in error
    assert not (tmp_path / "out").exists()


def test_missing_and_partial_shard_folders_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "out")
    whole = _shard(tmp_path / "whole", "t.py::test_a")
    error = _merge_error(capsys, str(whole), str(tmp_path / "absent"), "--output", out)
    assert f"{tmp_path / 'absent'}: no such folder" in error

    killed = tmp_path / "killed"
    killed.mkdir()
    error = _merge_error(capsys, str(whole), str(killed), "--output", out)
    assert f"{killed} is partial: it has no results.json" in error

    no_junit = _shard(tmp_path / "no-junit", "t.py::test_c", junit=False)
    error = _merge_error(capsys, str(whole), str(no_junit), "--output", out)
    assert f"{no_junit} is partial: junit.xml is missing" in error

    lost = _shard(tmp_path / "lost", "t.py::test_d")
    (lost / "t.py-test_d").rmdir()
    error = _merge_error(capsys, str(whole), str(lost), "--output", out)
    assert f"{lost} is partial: the folder t.py-test_d of t.py::test_d is missing" in error
    assert not (tmp_path / "out").exists()


def test_merge_will_not_empty_a_folder_it_did_not_make(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    whole = _shard(tmp_path / "whole", "t.py::test_a")
    mine = tmp_path / "docs"
    mine.mkdir()
    (mine / "notes.md").write_text("mine")
    error = _merge_error(capsys, str(whole), "--output", str(mine))
    assert "Refusing to delete them" in error
    assert (mine / "notes.md").read_text() == "mine"
