"""Check a browser-suite run's results: every test's folder holds every service's log.

    python -m tests.check_service_logs RESULTS_DIR [playwright.ini]

Run by ``make test`` after the browser suite (which it runs with
``--service-logs=on``): whatever path a test took to the stack, its folder must hold
each configured service's slice. Exits 1 naming each folder and log that is missing.
"""

from __future__ import annotations

import configparser
import json
import sys
from pathlib import Path


def missing_logs(results: Path, ini: Path) -> list[str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ini, encoding="utf-8")
    services = parser["pytest"]["services"].replace(",", " ").split()
    tests = json.loads((results / "results.json").read_text("utf-8"))["tests"]
    problems = []
    for test in tests:
        if test["outcome"] == "skipped":
            continue
        if not test["folders"]:
            problems.append(f"{test['nodeid']}: no folder")
        for folder in test["folders"]:
            absent = [name for name in services if not (results / folder / f"{name}.log").is_file()]
            if absent:
                problems.append(f"{test['nodeid']}: {folder} has no {', '.join(absent)} log")
    return problems


def main(argv: list[str]) -> int:
    results = Path(argv[0])
    ini = Path(argv[1]) if len(argv) > 1 else Path("playwright.ini")
    problems = missing_logs(results, ini)
    for line in problems:
        print(f"missing service log: {line}")
    if not problems:
        print(f"every test folder in {results} holds every service's log")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
