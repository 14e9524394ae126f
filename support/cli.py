"""The ``stackwright`` command: ``stackwright merge DIR... --output DIR``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from stackwright.support.errors import HarnessError
from stackwright.support.results import ResultsError, merge_runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stackwright", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    merge = commands.add_parser(
        "merge",
        help="fold shard result folders into one junit.xml, report.html and test folders",
    )
    merge.add_argument("folders", nargs="+", type=Path, metavar="DIR", help="a shard's folder")
    merge.add_argument("--output", required=True, type=Path, metavar="DIR", help="merged folder")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        summary = merge_runs(args.folders, args.output)
    except (ResultsError, HarnessError) as exc:
        print(f"stackwright merge: error: {exc}", file=sys.stderr)
        return 1
    counts = ", ".join(f"{n} {outcome}" for outcome, n in sorted(summary.counts.items()))
    print(
        f"merged {summary.tests} tests ({counts}) from {summary.shards} shard folders into "
        f"{summary.output} in {time.monotonic() - started:.2f}s: junit.xml, report.html"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
