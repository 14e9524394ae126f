"""The merged ``report.html``: every test of every shard with its attachments, built from
the per-test folders (pytest-html cannot merge reports). One static page, read offline:
links are relative, screenshots inline, a failed test's timeline shown as text.

Everything here came from shard folders, which a pull request can shape: every
value is escaped, and no HTML of a shard's is embedded (its ``timeline.html`` is
linked; the ``timeline.txt`` beside it is shown, escaped)."""

from __future__ import annotations

import html
import os
import urllib.parse
from collections import Counter
from pathlib import Path

from stackwright.support.results.folder_view import read_folder, trace_note
from stackwright.support.results.manifest import RunResults, TestResult

ORDER = {"failed": 0, "error": 1, "passed": 3, "skipped": 4, "xfailed": 5}
COLOURS = {"failed": "#cf222e", "error": "#cf222e", "passed": "#1a7f37", "skipped": "#9a6700"}

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px; color: #1f2328; }
table.tests { border-collapse: collapse; width: 100%; }
table.tests > tbody > tr > td {
  border-top: 1px solid #d0d7de; padding: 4px 8px; vertical-align: top;
}
td.outcome { font-weight: bold; white-space: nowrap; }
pre { background: #f6f8fa; padding: 8px; overflow: auto; max-height: 30em; }
img.shot { max-width: 480px; border: 1px solid #d0d7de; }
.files a { margin-right: 12px; }
"""


def _link(path: Path, base: Path) -> str:
    return html.escape(urllib.parse.quote(path.relative_to(base).as_posix()), quote=True)


def _timeline(folder: Path) -> str:
    text = folder / "timeline.txt"
    if not text.is_file() or text.is_symlink():
        return ""
    shown = text.read_text("utf-8", "replace")[-_TIMELINE_CHARS:]
    return f"<p><b>Timeline</b></p><pre>{html.escape(shown)}</pre>"


_TIMELINE_CHARS = 200_000


def _attachments(test: TestResult, folder: Path, shown: Path) -> str:
    parts = []
    for name in test.folders:
        view = read_folder(folder / name)
        links = " ".join(
            f'<a href="{_link(path, folder)}">{html.escape(path.name)}</a>' for path in view.files
        )
        parts.append(f"<p class='files'><b>{html.escape(name)}</b>: {links}</p>")
        for shot in view.screenshots:
            alt = html.escape(shot.name, quote=True)
            parts.append(f'<img class="shot" src="{_link(shot, folder)}" alt="{alt}">')
        for trace in view.traces:
            parts.append(trace_note(os.path.relpath(shown / trace.relative_to(folder))))
        parts.append(_timeline(folder / name))
    return "".join(parts)


def render_report(runs: list[RunResults], folder: Path, *, shown: Path | None = None) -> str:
    """The page for ``runs``, whose test folders are in ``folder``; ``shown`` is where
    that folder will be (a merge writes beside it, then swaps it in)."""
    shown = shown or folder
    rows = []
    tests = [(run, test) for run in runs for test in run.tests]
    tests.sort(key=lambda pair: (ORDER.get(pair[1].outcome, 2), pair[1].nodeid))
    for run, test in tests:
        colour = COLOURS.get(test.outcome, "#57606a")
        label = test.outcome + (" (flaky)" if test.flaky else "")
        details = ""
        if test.message or test.folders:
            opened = " open" if test.outcome in ("failed", "error") else ""
            message = f"<pre>{html.escape(test.message)}</pre>" if test.message else ""
            details = (
                f"<details{opened}><summary>details</summary>{message}"
                f"{_attachments(test, folder, shown)}</details>"
            )
        rows.append(
            f'<tr><td class="outcome" style="color:{colour}">{html.escape(label)}</td>'
            f"<td>{html.escape(test.nodeid)}{details}</td>"
            f"<td>{test.duration:.2f}s</td><td>{html.escape(str(test.attempts))}</td>"
            f"<td>{html.escape(run.folder.name)}</td></tr>"
        )
    counts = Counter(test.outcome for _, test in tests)
    flakies = sum(1 for _, test in tests if test.flaky)
    summary = ", ".join(f"{count} {outcome}" for outcome, count in sorted(counts.items()))
    if flakies:
        summary += f", {flakies} flaky"
    shards = "".join(
        f"<li>{html.escape(str(run.folder))}: {len(run.tests)} tests, exit status "
        f"{run.exitstatus}</li>"
        for run in runs
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Merged test report</title>"
        f"<style>{STYLE}</style></head><body><h1>Merged test report</h1>"
        f"<p><b>{len(tests)} tests</b>: {html.escape(summary)}.</p>"
        f"<p>From {len(runs)} shard folder(s):</p><ul>{shards}</ul>"
        "<table class='tests'><thead><tr><th>Result</th><th>Test</th><th>Duration</th>"
        f"<th>Attempts</th><th>Shard</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
        "</body></html>"
    )
