"""A test's folder as a report shows it, read one way for pytest-html's report (while the
run goes on) and for ``stackwright merge``'s (from shard folders afterwards).

Playwright's own files (screenshot, video, trace) and the harness's (service log
slices, console, test events, timeline) are told apart here; each report decides how
to show each kind, and both say how to open a trace the same way.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

#: Playwright's own artifacts (pytest-playwright attaches them to its report itself).
PLAYWRIGHT_SUFFIXES = (".png", ".webm", ".zip")


@dataclass(frozen=True)
class FolderView:
    """The regular files of one test folder (links are never followed), by kind."""

    files: tuple[Path, ...]

    @property
    def screenshots(self) -> list[Path]:
        return [path for path in self.files if path.suffix == ".png"]

    @property
    def traces(self) -> list[Path]:
        return [path for path in self.files if path.suffix == ".zip"]

    @property
    def harness_files(self) -> list[Path]:
        """The files the harness filed (not Playwright's)."""
        return [path for path in self.files if path.suffix not in PLAYWRIGHT_SUFFIXES]


def read_folder(folder: Path) -> FolderView:
    if not folder.is_dir():
        return FolderView(())
    files = (path for path in folder.iterdir() if path.is_file() and not path.is_symlink())
    return FolderView(tuple(sorted(files)))


def trace_note(shown: str) -> str:
    """The line that says how to open a trace: ``playwright show-trace <shown>``."""
    return f"<p>Open the trace: <code>{html.escape(f'playwright show-trace {shown}')}</code></p>"
