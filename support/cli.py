"""The ``stackwright`` command: ``merge DIR... --output DIR``; ``up [-n N]`` and ``down``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from stackwright import __version__
from stackwright.support.config import SETTINGS
from stackwright.support.errors import HarnessError
from stackwright.support.results import ResultsError, merge_runs
from stackwright.support.up import down as kept_down
from stackwright.support.up import up as kept_up


def _count(raw: str) -> int:
    if not raw.isdigit() or not 1 <= int(raw) <= 64:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a number of stacks from 1 to 64")
    return int(raw)


def _harness_options(command: argparse.ArgumentParser) -> None:
    """The harness's options of a pytest run (``--service-timeout 60``...): ``up`` resolves
    its configuration as a run given them does, checked when they are read."""
    group = command.add_argument_group("the harness's options, as a pytest run takes them")
    for setting in SETTINGS:
        if not setting.cli:
            continue
        if setting.is_flag:
            group.add_argument(setting.cli, dest=setting.field, action="store_true", default=None,
                               help=setting.help)  # fmt: skip
            continue
        if setting.choices:
            group.add_argument(setting.cli, dest=setting.field, default=None,
                               choices=setting.choices, help=setting.help)  # fmt: skip
            continue
        group.add_argument(setting.cli, dest=setting.field, default=None, help=setting.help,
                           metavar=setting.metavar,
                           type=setting.checker(argparse.ArgumentTypeError))  # fmt: skip


DESCRIPTION = (
    "The harness's command: merge the result folders of shards into one; keep a suite's "
    "stacks running between runs (up), and stop them (down). The browser tests run "
    "with pytest."
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stackwright", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"stackwright {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    merge = commands.add_parser(
        "merge",
        help="fold shard result folders into one junit.xml, report.html and test folders",
    )
    merge.add_argument("folders", nargs="+", type=Path, metavar="DIR", help="a shard's folder")
    merge.add_argument("--output", required=True, type=Path, metavar="DIR", help="merged folder")
    for name, what in (
        ("up", "boot the suite's stacks and keep them: pytest runs of the suite attach to them"),
        ("down", "stop the stacks stackwright up keeps"),
    ):
        command = commands.add_parser(name, help=what, description=what)
        command.add_argument(
            "-c",
            dest="ini",
            type=Path,
            default=Path("playwright.ini"),
            metavar="INI",
            help="the suite's pytest configuration (default: playwright.ini)",
        )
        if name == "up":
            command.add_argument(
                "-n", dest="workers", type=_count, default=1, metavar="N", help="stacks to keep"
            )
            _harness_options(command)
    args = parser.parse_args(argv)
    if args.command == "up":
        cli = {s.field: getattr(args, s.field) for s in SETTINGS if s.cli}
        return kept_up(args.ini, args.workers, {k: v for k, v in cli.items() if v is not None})
    if args.command == "down":
        return kept_down(args.ini)
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
