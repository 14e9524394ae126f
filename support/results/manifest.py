"""``results.json``: what one run (or one shard) leaves beside its per-test folders.

Written whole (temp file, then rename) at the end of the run, so a folder whose run
was killed has none, and ``stackwright merge`` calls it partial instead of guessing.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from stackwright.support.errors import OutputFolderError, ResultsError

RESULTS_FILE = "results.json"
FORMAT = 1


def is_flaky(passed: bool, attempt: int) -> bool:
    """The one definition of flaky: it passed, on an attempt after a failed one."""
    return passed and attempt > 1


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

    @property
    def flaky(self) -> bool:
        return is_flaky(self.outcome == "passed", self.attempts)


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
    try:
        partial.write_text(json.dumps(record, indent=1), encoding="utf-8")
        os.replace(partial, path)
    except OSError as exc:  # whole or not at all
        partial.unlink(missing_ok=True)
        raise OutputFolderError(
            f"{path} could not be written ({exc.strerror or exc}); this run's folder cannot "
            "be merged with stackwright merge. Free space there, or point --output elsewhere"
        ) from None


OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")
#: Names a test folder may not take: the files a merged folder holds beside them.
RESERVED = frozenset({RESULTS_FILE, "junit.xml", "report.html", ".stackwright-output"})


def read_results(folder: Path) -> RunResults:
    """Read and check a run's manifest: every field of its type, every path inside
    ``folder`` and free of links. A shard folder may come from a CI artifact that a
    pull request shaped, so nothing in it is trusted."""
    path = folder / RESULTS_FILE
    if not folder.is_dir():
        raise ResultsError(f"{folder}: no such folder (was the shard's folder downloaded?)")
    if path.is_symlink():
        raise ResultsError(f"{path} is a link; a run writes a file there. Refusing to follow it")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultsError(
            f"{folder} is partial: it has no {RESULTS_FILE}, which a run writes when it "
            "ends. Did the shard finish (or was it killed), and was the whole folder uploaded?"
        ) from None
    except (OSError, ValueError) as exc:
        raise ResultsError(f"{path} cannot be read ({exc}); rerun that shard") from None
    check = _Checker(path)
    record = check.typed("the file", record, dict)
    tests = check.typed("tests", record.get("tests"), list)
    shard = record.get("shard")
    if shard is not None:
        check.typed("shard", shard, dict)
        for key, value in shard.items():
            check.typed(f"shard.{key}", value, int)
    junit = record.get("junit")
    if junit is not None:
        junit = check.inside(folder, "junit", check.typed("junit", junit, str), nested=True)
    return RunResults(
        folder=folder,
        tests=[check.test(folder, f"tests[{index}]", entry) for index, entry in enumerate(tests)],
        shard=shard,
        exitstatus=check.typed("exitstatus", record.get("exitstatus", 0), int),
        junit=junit,
    )


class _Checker:
    """Checks one manifest's fields; each problem is one line naming the file and field."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, field: str, problem: str) -> ResultsError:
        return ResultsError(f"{self.path}: {field} {problem}; rerun that shard, or remove it")

    def typed(self, field: str, value: Any, kind: type) -> Any:
        valid = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
        if kind is float:
            valid = isinstance(value, int | float) and not isinstance(value, bool)
        if not valid:
            raise self.fail(field, f"must be {_NAMES[kind]}, not {_shown(value)}")
        return value

    def test(self, folder: Path, field: str, entry: Any) -> TestResult:
        entry = self.typed(field, entry, dict)
        unknown = set(entry) - set(TestResult.__dataclass_fields__) - {"__test__"}
        if unknown:
            raise self.fail(field, f"has unknown fields {sorted(unknown)}")
        result = TestResult(
            nodeid=self.typed(f"{field}.nodeid", entry.get("nodeid"), str),
            outcome=self.typed(f"{field}.outcome", entry.get("outcome", "passed"), str),
            duration=float(self.typed(f"{field}.duration", entry.get("duration", 0.0), float)),
            attempts=self.typed(f"{field}.attempts", entry.get("attempts", 1), int),
            folders=self.typed(f"{field}.folders", entry.get("folders", []), list),
            message=self.typed(f"{field}.message", entry.get("message", ""), str),
        )
        if result.outcome not in OUTCOMES:
            raise self.fail(f"{field}.outcome", f"must be one of {', '.join(OUTCOMES)}")
        if result.attempts < 1 or not 0 <= result.duration < 1e9:
            raise self.fail(field, "has an attempt count below 1 or a duration out of range")
        for index, name in enumerate(result.folders):
            name = self.typed(f"{field}.folders[{index}]", name, str)
            self.inside(folder, f"{field}.folders[{index}]", name, nested=False)
        return result

    def inside(self, folder: Path, field: str, name: str, *, nested: bool) -> str:
        """``name`` as a path inside ``folder``: relative, no ``..``, no link on the way;
        without ``nested``, one plain name (a test folder sits right in the run's)."""
        parts = PurePosixPath(name).parts
        plain = all(part not in ("", ".", "..") for part in parts) and "\0" not in name
        if not parts or PurePosixPath(name).is_absolute() or not plain or "\\" in name:
            raise self.fail(field, f"{name!r} is not a path inside the shard folder")
        if not nested and (len(parts) != 1 or name in RESERVED):
            raise self.fail(field, f"{name!r} is not a test folder's name")
        here = folder
        for part in parts:
            here = here / part
            if here.is_symlink():
                raise self.fail(field, f"{name!r} is a link; a run writes none. Refusing it")
        return name


_NAMES = {dict: "an object", list: "a list", str: "a string", int: "a whole number",
          float: "a number", bool: "true or false"}  # fmt: skip


def _shown(value: Any) -> str:
    text = json.dumps(value)
    return f"{type(value).__name__} {text[:40]}{'...' if len(text) > 40 else ''}"
