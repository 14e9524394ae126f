"""``results.json``: what one run (or one shard) leaves beside its per-test folders.

Written whole (temp file, then rename) at the end of the run, so a folder whose run
was killed has none, and ``stackwright merge`` calls it partial instead of guessing.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

RESULTS_FILE = "results.json"
FORMAT = 1


@dataclass
class TestResult:
    """One test's final result in a run."""

    __test__ = False  # not a pytest test class, despite the name

    nodeid: str
    outcome: str = "passed"
    duration: float = 0.0
    attempts: int = 1
    #: Its attempts' folders, relative to the run's output folder.
    folders: list[str] = field(default_factory=list)
    message: str = ""


@dataclass
class RunResults:
    """A run's manifest, as read back."""

    folder: Path
    tests: list[TestResult]
    shard: dict[str, int] | None
    exitstatus: int
    junit: str | None


def write_results(
    path: Path,
    tests: list[TestResult],
    *,
    shard: dict[str, int] | None,
    exitstatus: int,
    junit: str | None,
) -> None:
    record = {
        "format": FORMAT,
        "shard": shard,
        "exitstatus": exitstatus,
        "junit": junit,
        "tests": [asdict(test) for test in tests],
    }
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(json.dumps(record, indent=1), encoding="utf-8")
    os.replace(partial, path)


class ResultsError(Exception):
    """A results folder that cannot be read; the message names it and what to do."""


def read_results(folder: Path) -> RunResults:
    path = folder / RESULTS_FILE
    if not folder.is_dir():
        raise ResultsError(f"{folder}: no such folder (was the shard's folder downloaded?)")
    try:
        record: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        tests = [TestResult(**entry) for entry in record["tests"]]
        return RunResults(
            folder=folder,
            tests=tests,
            shard=record.get("shard"),
            exitstatus=int(record.get("exitstatus", 0)),
            junit=record.get("junit"),
        )
    except FileNotFoundError:
        raise ResultsError(
            f"{folder} is partial: it has no {RESULTS_FILE}, which a run writes when it "
            "ends. Did the shard finish (or was it killed), and was the whole folder uploaded?"
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ResultsError(f"{path} cannot be read ({exc}); rerun that shard") from None
