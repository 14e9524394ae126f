"""``stackwright merge``: fold shard result folders into one.

Each shard folder holds its per-test folders, ``junit.xml`` and ``results.json``.
The merge checks every folder is whole and no test ran in two shards, then writes
into ``--output``: the per-test folders, one ``junit.xml`` (junitparser; every test
once, counts and times summed, attachment paths pointing into the merged folder),
one ``results.json`` (so merges merge again) and one ``report.html``.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from junitparser import JUnitXml, TestSuite

from stackwright.support.results.manifest import (
    RESULTS_FILE,
    ResultsError,
    RunResults,
    read_results,
    write_results,
)
from stackwright.support.results.merged_report import render_report
from stackwright.support.results.output import write_whole

JUNIT_FILE = "junit.xml"
REPORT_FILE = "report.html"
_ATTACHMENT = re.compile(r"\[\[ATTACHMENT\|([^\]]+)\]\]")


@dataclass(frozen=True)
class MergeSummary:
    tests: int
    shards: int
    counts: dict[str, int]
    output: Path


def merge_runs(folders: list[Path], output: Path) -> MergeSummary:
    """Merge ``folders`` into ``output``, whole or not at all; ResultsError names what is
    wrong and where. Every shard is untrusted input (see ``shard_results.read_results``)."""
    if not folders:
        raise ResultsError("no shard folders given: stackwright merge DIR... --output DIR")
    runs = [read_results(folder) for folder in folders]
    _check_whole(runs)
    _check_each_test_once(runs)
    output = output.absolute()
    _check_apart(runs, output)
    tests = [test for run in runs for test in run.tests]

    def write(staging: Path) -> None:
        for run in runs:
            for test in run.tests:
                for name in test.folders:
                    copy_tree(run.folder / name, staging / name)
        _merge_junit(runs, staging, shown=output)
        exitstatus = max((run.exitstatus for run in runs), default=0)
        write_results(
            staging / RESULTS_FILE, tests, shard=None, exitstatus=exitstatus, junit=JUNIT_FILE
        )
        (staging / REPORT_FILE).write_text(
            render_report(runs, staging, shown=output), encoding="utf-8"
        )

    write_whole(output, write, kind="merge")
    counts: dict[str, int] = {}
    for test in tests:
        counts[test.outcome] = counts.get(test.outcome, 0) + 1
    return MergeSummary(len(tests), len(runs), counts, output)


def copy_tree(source: Path, target: Path) -> None:
    """Copy a test folder: its folders and regular files only. A link (or a pipe, a
    device) is refused, never followed: a shard is not trusted."""
    target.mkdir()
    with os.scandir(source) as entries:
        for entry in entries:
            path = Path(entry.path)
            if entry.is_symlink():
                raise ResultsError(f"{path} is a link; a run writes none. Refusing to follow it")
            if entry.is_dir(follow_symlinks=False):
                copy_tree(path, target / entry.name)
            elif entry.is_file(follow_symlinks=False):
                shutil.copyfile(path, target / entry.name, follow_symlinks=False)
            else:
                raise ResultsError(f"{path} is not a file or a folder; refusing to copy it")


def _junit_path(run: RunResults) -> Path:
    return run.folder / (run.junit or JUNIT_FILE)


def _check_apart(runs: list[RunResults], output: Path) -> None:
    for run in runs:
        shard = run.folder.absolute()
        if output == shard or output in shard.parents or shard in output.parents:
            raise ResultsError(
                f"--output {output} is, holds or lies inside the shard folder {shard}; "
                "choose a folder apart from every shard"
            )


def _check_whole(runs: list[RunResults]) -> None:
    for run in runs:
        junit = _junit_path(run)
        if junit.is_symlink():
            raise ResultsError(f"{junit} is a link; a run writes a file there. Refusing it")
        if not junit.is_file():
            raise ResultsError(
                f"{run.folder} is partial: {junit.name} is missing (the shard must "
                "run with --junitxml inside its folder, as make e2e does)"
            )
        for test in run.tests:
            for name in test.folders:
                if not (run.folder / name).is_dir():
                    raise ResultsError(
                        f"{run.folder} is partial: the folder {name} of {test.nodeid} is "
                        "missing; upload the shard's whole folder"
                    )


def _check_each_test_once(runs: list[RunResults]) -> None:
    seen: dict[str, Path] = {}
    for run in runs:
        for test in run.tests:
            if test.nodeid in seen:
                raise ResultsError(
                    f"{test.nodeid} ran in two shards: {seen[test.nodeid]} and {run.folder}. "
                    "Give each shard the same --splits and its own --group (and the same "
                    "durations file), or merge each shard once"
                )
            seen[test.nodeid] = run.folder


def _merge_junit(runs: list[RunResults], output: Path, *, shown: Path) -> None:
    merged = TestSuite("pytest")
    seen: dict[tuple[str, str], Path] = {}
    for run in runs:
        try:
            parsed = JUnitXml.fromfile(str(_junit_path(run)))
        except Exception as exc:  # junitparser raises lxml's or ElementTree's own errors
            raise ResultsError(
                f"{_junit_path(run)} cannot be read ({exc}); rerun that shard"
            ) from None
        suites = [parsed] if isinstance(parsed, TestSuite) else list(parsed)
        for suite in suites:
            for case in suite:
                key = (case.classname or "", case.name or "")
                if key in seen:
                    raise ResultsError(
                        f"{key[0]}::{key[1]} is in the JUnit files of two shards: "
                        f"{seen[key]} and {run.folder}"
                    )
                seen[key] = run.folder
                if case.system_out:
                    case.system_out = _ATTACHMENT.sub(
                        lambda match: _moved(match.group(1), shown), case.system_out
                    )
                merged.add_testcase(case)
    merged.update_statistics()
    result = JUnitXml()
    result.add_testsuite(merged)
    result.update_statistics()
    result.write(str(output / JUNIT_FILE), pretty=True)


def _moved(path: str, output: Path) -> str:
    """An attachment's new path: the same test folder and file, inside the merged folder
    (relative to where the merge runs, as the shards' were to where they ran)."""
    parts = Path(path).parts
    target = output.joinpath(*parts[-2:]) if len(parts) >= 2 else output / path
    try:
        shown = os.path.relpath(target)
    except ValueError:
        shown = str(target)
    return f"[[ATTACHMENT|{shown}]]"
