"""Times of lines: one entry shape for a timeline, the clock it is shown in, and how a
service line's own timestamp is read.

The base of the library: the page's recorder (``support.browser``) and the timeline
(``support.results``) both use it.
"""

from __future__ import annotations

import calendar
import re
import time
from dataclasses import dataclass
from datetime import datetime

#: A timestamp counts only near the start of a line, not inside a message.
STAMP_WINDOW = 48

_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?"
    r"\s?(Z|[+-]\d{2}:?\d{2})?"
)
#: werkzeug and the common log format: [21/Nov/2026 10:00:00] or [21/Nov/2026:10:00:00 +0000]
_CLF = re.compile(r"(\d{2})/([A-Z][a-z]{2})/(\d{4})[: ](\d{2}):(\d{2}):(\d{2})(?: ([+-]\d{4}))?")
_MONTHS = {name: index for index, name in enumerate(calendar.month_abbr) if name}


@dataclass(frozen=True)
class Entry:
    """One line of the timeline: when (Unix seconds), from where, what."""

    time: float
    source: str
    text: str


def parse_stamp(line: str) -> tuple[float, bool] | None:
    """(Unix time, precise to below a second) of a timestamp near the start of ``line``.

    A stamp without a zone is local time, as the services run on this machine.
    """
    head = line[:STAMP_WINDOW]
    match = _ISO.search(head)
    if match:
        year, month, day, hour, minute, second, fraction, zone = match.groups()
        parts = (int(year), int(month), int(day), int(hour), int(minute), int(second))
        sub = float(f"0.{fraction}") if fraction else 0.0
        return _epoch(parts, _zone_seconds(zone)) + sub, fraction is not None
    match = _CLF.search(head)
    if match and match.group(2) in _MONTHS:
        day, month_name, year, hour, minute, second, zone = match.groups()
        parts = (int(year), _MONTHS[month_name], int(day), int(hour), int(minute), int(second))
        return _epoch(parts, _zone_seconds(zone)), False
    return None


def _zone_seconds(zone: str | None) -> int | None:
    if zone is None:
        return None
    if zone == "Z":
        return 0
    digits = zone.replace(":", "")
    sign = -1 if digits[0] == "-" else 1
    return sign * (int(digits[1:3]) * 3600 + int(digits[3:5]) * 60)


def _epoch(parts: tuple[int, int, int, int, int, int], offset: int | None) -> float:
    try:
        if offset is None:
            return time.mktime((*parts, 0, 0, -1))
        return calendar.timegm((*parts, 0, 0, 0)) - offset
    except (OverflowError, ValueError):
        return 0.0


def clock(when: float) -> str:
    """Local wall-clock time to the millisecond: 16:30:28.715."""
    return datetime.fromtimestamp(when).strftime("%H:%M:%S.%f")[:-3]
