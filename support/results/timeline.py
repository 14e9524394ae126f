"""A failed test's timeline: what the page did and what every service logged, in time order.

Each line is marked with its source (``page console``, ``page sse``, ``backend`` ...),
so a reader follows one request from the browser through the services. A service
line takes its own timestamp when it has one to the millisecond (ISO 8601, as most
loggers write); otherwise the time the harness read it from the service (see
``support.processes.logs.ReadTimes``), kept inside the second of a whole-second stamp. Each
source keeps its own order whatever the clocks say.
"""

from __future__ import annotations

import bisect
import html
from collections.abc import Iterable

from stackwright.support.processes.logs import LogSlice
from stackwright.support.stamps import Entry, clock, parse_stamp
from stackwright.support.text import shorten

#: A timeline keeps its last entries: the failure is at the end.
MAX_ENTRIES = 3000


def service_entries(piece: LogSlice, times: list[tuple[int, float]], read_at: float) -> list[Entry]:
    """The lines of one service's slice, each with its time.

    ``times`` are the log's (end offset, time read) records over the slice;
    ``read_at`` stands in for the time of a byte no record covers.
    """
    ends = [end for end, _ in times]
    previous = 0.0
    entries = []
    for line, start in zip(piece.text.splitlines(keepends=True), piece.line_starts(), strict=True):
        index = bisect.bisect_right(ends, start)
        read = times[index][1] if index < len(times) else read_at
        text = line.rstrip("\r\n")
        if not text.strip():
            continue
        stamp = parse_stamp(text)
        if stamp is None:
            when = read
        elif stamp[1]:
            when = stamp[0]
        else:  # a whole-second stamp: the read time, kept within that second
            when = min(max(read, stamp[0]), stamp[0] + 0.999)
        when = max(when, previous)
        previous = when
        entries.append(Entry(when, piece.service, text))
    return entries


def merge(*sources: Iterable[Entry]) -> tuple[list[Entry], int]:
    """Every entry in time order (a stable sort keeps each source's own order on ties),
    the last ``MAX_ENTRIES`` of them, and how many earlier ones were left out."""
    entries = sorted((entry for source in sources for entry in source), key=lambda e: e.time)
    kept = entries[-MAX_ENTRIES:]
    return kept, len(entries) - len(kept)


def render_text(entries: list[Entry], start: float, *, left_out: int = 0) -> str:
    """One line per entry: offset from the test's start, clock time, source, text."""
    width = max((len(entry.source) for entry in entries), default=0)
    lines = [f"[... {left_out} earlier entries left out]"] if left_out else []
    for entry in entries:
        lines.append(
            f"{entry.time - start:+9.3f}s {clock(entry.time)} "
            f"{entry.source:<{width}} | {shorten(entry.text)}"
        )
    return "\n".join(lines) + "\n"


_PALETTE = ("#1f6feb", "#8250df", "#bf3989", "#0a7d52", "#9a6700", "#cf222e", "#57606a")

STYLE = """
.sw-timeline { border-collapse: collapse; font: 12px/1.4 ui-monospace, monospace; width: 100%; }
.sw-timeline td { padding: 1px 6px; vertical-align: top; border-bottom: 1px solid #eee; }
.sw-timeline td.t { white-space: nowrap; color: #57606a; text-align: right; }
.sw-timeline td.s { white-space: nowrap; font-weight: bold; }
.sw-timeline td.x { white-space: pre-wrap; word-break: break-all; }
"""


def render_html(entries: list[Entry], start: float, *, left_out: int = 0) -> str:
    """The timeline as an HTML fragment (a table and its style), for the report."""
    colours: dict[str, str] = {}
    rows = []
    for entry in entries:
        colour = colours.setdefault(entry.source, _PALETTE[len(colours) % len(_PALETTE)])
        rows.append(
            f'<tr><td class="t" title="{clock(entry.time)}">{entry.time - start:+.3f}s</td>'
            f'<td class="s" style="color:{colour}">{html.escape(entry.source)}</td>'
            f'<td class="x">{html.escape(shorten(entry.text))}</td></tr>'
        )
    note = f"<p>{left_out} earlier entries left out.</p>" if left_out else ""
    return (
        f"<style>{STYLE}</style><details open><summary><b>Timeline</b> "
        f"({len(entries)} entries; seconds from the test's start)</summary>{note}"
        f'<table class="sw-timeline">{"".join(rows)}</table></details>'
    )
