"""Per-test slices of the service logs, found by file offsets.

A slice costs what the test itself logged: we remember each log's size when
the test starts and read from there when it ends, never the worker's history.
"""

from __future__ import annotations

import bisect
import re
import struct
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO

from stackwright.support.text import bounded_tail

#: How the harness names a worker: ``main`` without xdist, else xdist's ``gw0``, ``gw1``...
WORKER_NAME = re.compile(r"^(main|gw\d+)$")


@dataclass(frozen=True)
class LogSlice:
    """The bytes one service logged between two offsets, possibly capped."""

    service: str
    source: Path
    start: int
    end: int
    text: str
    omitted: int = 0
    #: Lines of other workers left out (a run-scoped service's ``log_owner``), and then
    #: where each line of ``text`` begins in the log (its times are read from there).
    left_out: int = 0
    offsets: tuple[int, ...] = ()

    def tail(self, lines: int) -> str:
        """The last ``lines`` lines, bounded in characters too (see ``bounded_tail``)."""
        return "\n".join(bounded_tail(self.text, lines))

    def render(self) -> str:
        """The slice as filed in the test's folder, with a note when it was capped or
        other workers' lines were left out."""
        note = ""
        if self.omitted:
            note += (
                f"[... {self.omitted} earlier bytes of this test omitted (slice capped); "
                f"full log: {self.source}, bytes {self.start}-{self.end}]\n"
            )
        if self.left_out:
            note += (
                f"[{self.left_out} lines of other workers left out; full log: {self.source}, "
                f"bytes {self.start}-{self.end}]\n"
            )
        return note + self.text

    def line_starts(self) -> list[int]:
        """Where each line of ``text`` begins in the log."""
        if self.offsets:
            return list(self.offsets)
        starts, offset = [], self.start + self.omitted
        for line in self.text.splitlines(keepends=True):
            starts.append(offset)
            offset += len(line.encode("utf-8", "replace"))
        return starts

    def own_lines(self, owner: re.Pattern[str], worker: str) -> LogSlice:
        """This slice without the lines ``owner`` says are another worker's (the lines
        of no worker stay: the server's own, its maintenance database's); a line it does
        not match (a continuation) goes with the line before it."""
        kept, starts, left_out, keep = [], [], 0, True
        lines = self.text.splitlines(keepends=True)
        for line, start in zip(lines, self.line_starts(), strict=True):
            found = owner.match(line)
            if found:
                whose = found.group(1) or ""
                keep = whose == worker or not WORKER_NAME.match(whose)
            if keep:
                kept.append(line)
                starts.append(start)
            else:
                left_out += 1
        if not left_out:
            return self
        return replace(self, text="".join(kept), left_out=left_out, offsets=tuple(starts))


#: Beside each service log, ``<log>.times``: one record per chunk read from the service,
#: (offset in the log where the chunk ends, wall-clock time it was read). It gives a
#: line without a timestamp of its own the time it was read (see ``support.results.timeline``).
TIMES_SUFFIX = ".times"
_RECORD = struct.Struct("<qd")


def times_path(log_path: Path) -> Path:
    return log_path.with_name(log_path.name + TIMES_SUFFIX)


class ReadTimes:
    """Appends (end offset, time read) records to a log's ``.times`` file."""

    def __init__(self, log_path: Path) -> None:
        self._file: BinaryIO = times_path(log_path).open("ab", buffering=0)

    def record(self, end_offset: int, when: float) -> None:
        self._file.write(_RECORD.pack(end_offset, when))

    def close(self) -> None:
        self._file.close()


def read_times(log_path: Path, start: int, end: int) -> list[tuple[int, float]]:
    """The records of ``log_path`` whose chunk ends after ``start``, up to the first that
    reaches ``end``: enough to time every byte in between. Empty without a ``.times`` file."""
    try:
        data = times_path(log_path).read_bytes()
    except OSError:
        return []
    usable = len(data) - len(data) % _RECORD.size  # a record half-written right now
    records = list(_RECORD.iter_unpack(data[:usable]))
    first = bisect.bisect_right(records, start, key=lambda record: record[0])
    last = bisect.bisect_left(records, end, key=lambda record: record[0])
    return [(int(offset), when) for offset, when in records[first : last + 1]]


def size_of(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def mark(logs: Mapping[str, Path]) -> dict[str, int]:
    """Current size of every log: the start offsets of a test's slices."""
    return {name: size_of(path) for name, path in logs.items()}


@dataclass(frozen=True)
class LogMarks:
    """Where each service log stood when a test's coverage began: its slices start there."""

    offsets: Mapping[str, tuple[Path, int]]
    #: Whose lines a slice keeps, by service: (its owner regex, this worker's name).
    owners: Mapping[str, tuple[re.Pattern[str], str]] = field(default_factory=dict)

    @classmethod
    def take(
        cls, logs: Mapping[str, Path], owners: Mapping[str, tuple[str, str]] | None = None
    ) -> LogMarks:
        sizes = mark(logs)
        return cls(
            {name: (path, sizes[name]) for name, path in logs.items()},
            {name: (re.compile(regex), worker) for name, (regex, worker) in (owners or {}).items()},
        )

    def read(self, *, cap_bytes: int) -> list[LogSlice]:
        """What each log gained since its mark (each log that exists), without the lines
        of other workers where a service says whose its lines are."""
        slices = []
        for name, (path, start) in self.offsets.items():
            if not path.exists():
                continue
            piece = read_slice(name, path, start, cap_bytes=cap_bytes)
            if name in self.owners:
                piece = piece.own_lines(*self.owners[name])
            slices.append(piece)
        return slices


def read_slice(service: str, path: Path, start: int, *, cap_bytes: int) -> LogSlice:
    """What ``path`` gained since ``start``; the last ``cap_bytes`` of it when larger."""
    end = size_of(path)
    if end < start:  # the file was replaced (a restarted stack): take it whole
        start = 0
    begin = max(start, end - cap_bytes)
    with path.open("rb") as handle:
        handle.seek(begin)
        data = handle.read(end - begin)
    if begin > start:  # do not begin in the middle of a line
        cut = data.find(b"\n")
        if 0 <= cut < len(data) - 1:
            begin += cut + 1
            data = data[cut + 1 :]
    return LogSlice(service, path, start, end, data.decode("utf-8", "replace"), begin - start)


def file_slices(slices: list[LogSlice], folder: Path) -> list[Path]:
    """Write each slice as ``<service>.log`` into the test's output folder."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for piece in slices:
        target = folder / f"{piece.service}.log"
        target.write_text(piece.render(), encoding="utf-8")
        written.append(target)
    return written


class LogFollower:
    """Follows log files another process writes, from where they stand now, handing each
    complete line to ``on_line(service, line)``: the live stream of a stack this process
    does not own (one ``stackwright up`` keeps). ``stop()`` hands over what is left."""

    def __init__(
        self,
        logs: Mapping[str, Path],
        on_line: Callable[[str, str], None],
        *,
        every: float = 0.05,
    ) -> None:
        self._logs = dict(logs)
        self._offsets = mark(self._logs)
        self._partial = dict.fromkeys(self._logs, b"")
        self._on_line = on_line
        self._every = every
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="log-follower", daemon=True)

    def start(self) -> LogFollower:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._done.wait(self._every):
            self.read()

    def read(self) -> None:
        """Hand over every complete line written since the last read."""
        with self._lock:
            for name, path in self._logs.items():
                start, end = self._offsets[name], size_of(path)
                if end < start:  # replaced (a restarted stack): from its beginning
                    start, self._partial[name] = 0, b""
                if end == start:
                    continue
                with path.open("rb") as handle:
                    handle.seek(start)
                    data = self._partial[name] + handle.read(end - start)
                self._offsets[name] = end
                *lines, self._partial[name] = data.split(b"\n")
                for line in lines:
                    self._on_line(name, line.decode("utf-8", "replace").rstrip("\r"))

    def stop(self) -> None:
        """Stop following, after handing over what was written so far; idempotent."""
        self._done.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join()
        self.read()
