"""A tiny build for the harness's tests, run as a real process.

    python fake_build.py OUT [--source FILE] [--runs FILE] [--fail] [--wait-for FILE]
                             [--started FILE] [--edit FILE] [--file] [--spawn FILE]
                             [--interpreter FILE]

Writes OUT/index.html (or, with --file, the file OUT) holding the text of
--source; appends a line to --runs on every run, so a test can count builds.
--started is written once the output is half-written; --wait-for makes the build
wait (up to a minute) for that file first, so a test can interrupt it midway.
--edit changes that input file while building; --fail exits 2 after writing.
--spawn starts a child of its own (``sleep``, as a bundler starts workers) and writes
its pid to FILE, before --started. --interpreter writes sys.executable to FILE.
FAKE_BUILD_ARGS in the environment adds options (a test's per-run choice).
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--source")
    parser.add_argument("--runs")
    parser.add_argument("--started")
    parser.add_argument("--wait-for")
    parser.add_argument("--edit")
    parser.add_argument("--fail", action="store_true")
    parser.add_argument("--file", action="store_true")
    parser.add_argument("--spawn")
    parser.add_argument("--interpreter")
    args = parser.parse_args(sys.argv[1:] + shlex.split(os.environ.get("FAKE_BUILD_ARGS", "")))
    if args.runs:
        with open(args.runs, "a") as runs:
            runs.write(f"{os.getpid()}\n")
    if args.interpreter:
        Path(args.interpreter).write_text(sys.executable)
    text = Path(args.source).read_text() if args.source else "built"
    target = Path(args.out) if args.file else Path(args.out) / "index.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text[: len(text) // 2])  # half-written
    print(f"building {target}", flush=True)
    if args.spawn:
        worker = subprocess.Popen(["sleep", "300"])
        Path(args.spawn).write_text(str(worker.pid))
    if args.started:
        Path(args.started).write_text(str(os.getpid()))
    if args.wait_for:
        deadline = time.monotonic() + 60
        while not os.path.exists(args.wait_for) and time.monotonic() < deadline:
            time.sleep(0.01)
    if args.edit:
        Path(args.edit).write_text("edited while building")
    target.write_text(text)
    if args.fail:
        print("build error: something broke", file=sys.stderr, flush=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
