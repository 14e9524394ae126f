"""What the harness files in one test's output folder, beside Playwright's screenshot,
video and trace: each service's log slice, the page's console, its test events, and
for a failed test the timeline (``timeline.html`` and ``timeline.txt``).
"""

from __future__ import annotations

import html
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stackwright.support.browser.page_record import PageRecorder, event_entries
from stackwright.support.processes.logs import LogSlice, file_slices, read_times
from stackwright.support.results.timeline import (
    Entry,
    merge,
    render_html,
    render_text,
    service_entries,
)

CONSOLE_FILE = "console.log"
EVENTS_FILE = "test-events.jsonl"
TIMELINE_FILE = "timeline.html"
TIMELINE_TEXT = "timeline.txt"


@dataclass
class AttemptRecord:
    """What one attempt of a test left to file."""

    started: float
    slices: list[LogSlice] = field(default_factory=list)
    page: PageRecorder | None = None
    events: list[tuple[float, dict[str, Any]]] = field(default_factory=list)

    def timeline(self) -> tuple[list[Entry], int]:
        """Page and service entries in time order, and how many were left out."""
        now = time.time()
        services = [
            service_entries(piece, read_times(piece.source, piece.start, piece.end), now)
            for piece in self.slices
        ]
        page = list(self.page.entries) if self.page is not None else []
        return merge(page, event_entries(self.events), *services)


def file_record(record: AttemptRecord, folder: Path, *, timeline: bool) -> tuple[list[Path], str]:
    """Write the record into ``folder``; the written files, and the timeline's HTML
    fragment (empty unless ``timeline``)."""
    written = file_slices(record.slices, folder) if record.slices else []
    folder.mkdir(parents=True, exist_ok=True)
    if record.page is not None and record.page.console:
        written.append(_write(folder / CONSOLE_FILE, "\n".join(record.page.console) + "\n"))
    if record.events:
        lines = (json.dumps({"received": at, **event}, default=str) for at, event in record.events)
        written.append(_write(folder / EVENTS_FILE, "\n".join(lines) + "\n"))
    fragment = ""
    if timeline:
        entries, left_out = record.timeline()
        fragment = render_html(entries, record.started, left_out=left_out)
        page = (
            f"<!doctype html><meta charset='utf-8'><title>Timeline: {html.escape(folder.name)}"
            f"</title><body>{fragment}</body>"
        )
        written.append(_write(folder / TIMELINE_FILE, page))
        text = render_text(entries, record.started, left_out=left_out)
        written.append(_write(folder / TIMELINE_TEXT, text))
    return written, fragment


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path
