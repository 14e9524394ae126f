"""``stackwright merge`` treats every shard as untrusted: CI artifacts a fork can shape.

Paths stay inside the shard and ``--output``, no link is followed, every field is
type-checked with one line naming the shard and the field, every value reaching the
report is escaped, and the output is written whole or not at all. A folder is
emptied only when the harness's marker says a merge made it.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from stackwright.support.cli import main as stackwright
from stackwright.support.results.manifest import RESULTS_FILE
from stackwright.support.results.output import MARKER, claim_output_dir

TEST = "t.py::test_a"


def _shard(folder: Path, tests: list[dict[str, Any]] | None = None, **fields: Any) -> Path:
    """A shard folder as a run leaves it, with ``tests`` and top-level ``fields`` as given."""
    folder.mkdir(parents=True)
    tests = tests if tests is not None else [{"nodeid": TEST, "folders": ["t-a"]}]
    for test in tests if isinstance(tests, list) else []:
        for name in test.get("folders", []) if isinstance(test.get("folders"), list) else []:
            if isinstance(name, str) and "/" not in name and name not in ("", ".", ".."):
                (folder / name).mkdir(exist_ok=True)
                (folder / name / "backend.log").write_text("backend line\n")
    record = {"format": 1, "shard": None, "exitstatus": 1, "junit": "junit.xml", "tests": tests}
    (folder / RESULTS_FILE).write_text(json.dumps({**record, **fields}))
    (folder / "junit.xml").write_text(
        '<testsuite name="pytest"><testcase classname="t" name="test_a" time="1"/></testsuite>'
    )
    return folder


def _refused(capsys: pytest.CaptureFixture[str], *args: Path) -> str:
    *shards, output = args
    assert stackwright(["merge", *map(str, shards), "--output", str(output)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


def _merged(tmp_path: Path, name: str = "merged") -> Path:
    output = tmp_path / name
    assert (
        stackwright(["merge", str(_shard(tmp_path / f"{name}-src")), "--output", str(output)]) == 0
    )
    return output


def test_merge_refuses_to_empty_a_test_runs_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = tmp_path / "test-results-shard-3"
    claim_output_dir(results).release()  # a run's folder: its marker says so
    (results / "t-z").mkdir()
    (results / "t-z" / "backend.log").write_text("shard 3's only copy")
    err = _refused(capsys, _shard(tmp_path / "s1"), results)
    assert "holds the results of a test run" in err
    assert (results / "t-z" / "backend.log").read_text() == "shard 3's only copy"


def test_a_merge_replaces_an_earlier_merge_and_a_failed_one_leaves_it_whole(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = _merged(tmp_path)
    before = sorted(path.name for path in output.iterdir())
    assert {"report.html", "junit.xml", RESULTS_FILE, "t-a", MARKER} <= set(before)
    bad = _shard(tmp_path / "bad", [{"nodeid": TEST, "duration": "1.5", "folders": ["t-a"]}])
    _refused(capsys, bad, output)
    assert sorted(path.name for path in output.iterdir()) == before
    # A good merge over the earlier one replaces it, leaving no staging folder behind.
    good = _shard(tmp_path / "good", [{"nodeid": "t.py::test_b", "folders": ["t-b"]}])
    assert stackwright(["merge", str(good), "--output", str(output)]) == 0
    assert (output / "t-b").is_dir() and not (output / "t-a").exists()
    assert sorted(path.name for path in tmp_path.iterdir() if path.name.startswith(".")) == []


@pytest.mark.parametrize(
    ("tests", "field", "says"),
    [
        ([{"nodeid": TEST, "duration": "1.5"}], "tests[0].duration", "must be a number, not str"),
        ([{"nodeid": ["t.py", "x"]}], "tests[0].nodeid", "must be a string, not list"),
        ([{"nodeid": TEST, "folders": "s"}], "tests[0].folders", "must be a list, not str"),
        ([{"nodeid": TEST, "attempts": "<b>2</b>"}], "tests[0].attempts", "a whole number"),
        ([{"nodeid": TEST, "outcome": "<img>"}], "tests[0].outcome", "must be one of"),
        ("not a list", "tests", "must be a list, not str"),
    ],
    ids=["string-duration", "list-nodeid", "string-folders", "html-attempts", "outcome", "tests"],
)
def test_a_wrong_typed_field_is_one_line_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tests: Any, field: str, says: str
) -> None:
    shard = _shard(tmp_path / "shard", tests)
    err = _refused(capsys, shard, tmp_path / "out")
    assert f"{shard / RESULTS_FILE}: {field}" in err and says in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "name", ["../../../escaped", "/tmp/absolute", "a/b", "report.html", ".."], ids=str
)
def test_a_folder_entry_outside_the_shard_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    shard = _shard(tmp_path / "deep" / "er" / "shard", [{"nodeid": TEST, "folders": [name]}])
    err = _refused(capsys, shard, tmp_path / "out")
    assert "tests[0].folders[0]" in err
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "out").exists()


def test_a_junit_path_outside_the_shard_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shard = _shard(tmp_path / "shard", junit="/etc/passwd")
    assert "junit '/etc/passwd' is not a path inside" in _refused(capsys, shard, tmp_path / "o")


def test_links_in_a_shard_are_never_followed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = tmp_path / "secret"
    secret.write_text("the CI token")
    shard = _shard(tmp_path / "file-link")
    (shard / "t-a" / "backend.log").unlink()
    (shard / "t-a" / "backend.log").symlink_to(secret)
    err = _refused(capsys, shard, tmp_path / "out")
    assert "backend.log is a link" in err
    folder_link = _shard(tmp_path / "dir-link", [{"nodeid": TEST, "folders": ["etc"]}])
    shutil.rmtree(folder_link / "etc")
    (folder_link / "etc").symlink_to("/etc")
    assert "'etc' is a link" in _refused(capsys, folder_link, tmp_path / "out")
    nested = _shard(tmp_path / "nested-link")
    (nested / "t-a" / "sub").symlink_to("/etc")
    assert "sub is a link" in _refused(capsys, nested, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_the_merged_report_escapes_everything_a_shard_brings(tmp_path: Path) -> None:
    shard = _shard(
        tmp_path / "shard",
        [{"nodeid": "t.py::test_a[<script>alert(1)</script>]", "folders": ["t-a"]}],
    )
    (shard / "t-a" / 'x" onerror="alert(2).png').write_bytes(b"\x89PNG")
    (shard / "t-a" / "timeline.html").write_text("<body><script>alert(3)</script></body>")
    (shard / "t-a" / "timeline.txt").write_text("+0.1s backend <script>alert(4)</script>\n")
    output = tmp_path / "out"
    assert stackwright(["merge", str(shard), "--output", str(output)]) == 0
    report = (output / "report.html").read_text()
    assert "<script>" not in report and 'onerror="' not in report
    assert "&lt;script&gt;alert(4)&lt;/script&gt;" in report  # the text timeline, escaped
    assert "alert(3)" not in report  # the shard's HTML is never embedded


def test_a_merge_into_a_folder_another_merge_holds_says_so_and_keeps_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = _merged(tmp_path)
    before = sorted(path.name for path in output.iterdir())
    holder = os.open(output / MARKER, os.O_RDWR)  # another merge, swapping it right now
    try:
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        err = _refused(capsys, _shard(tmp_path / "next"), output)
    finally:
        os.close(holder)
    assert "is using" in err and "Traceback" not in err
    assert sorted(path.name for path in output.iterdir()) == before
