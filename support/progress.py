"""A live line with the elapsed time, for long work on a terminal (as pip and npm show).

Only on a terminal: a CI log gets the plain lines alone (``say``), never a line that
rewrites itself. Lines said while the live line shows are printed above it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Self


class LiveLine:
    """``label 3.2s``, rewritten in place every ``every`` seconds until ``stop()`` (a
    callable label is asked again at each draw)."""

    def __init__(
        self,
        write: Callable[[str], None],
        label: str | Callable[[], str],
        *,
        every: float = 0.2,
        width: int = 100,
    ) -> None:
        self._write = write
        self._label = label
        self._every = every
        self._width = width
        self._started = time.monotonic()
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._shown = 0
        self._thread = threading.Thread(target=self._run, name="live-line", daemon=True)

    def start(self) -> Self:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._done.wait(self._every):
            self._draw()

    def _draw(self) -> None:
        label = self._label() if callable(self._label) else self._label
        text = f"{label} {time.monotonic() - self._started:.1f}s"[: self._width]
        with self._lock:
            if not self._done.is_set():
                self._write(self._frame(text))
                self._shown = len(text)

    def _frame(self, text: str) -> str:
        """What draws ``text`` over the last one."""
        return "\r" + text.ljust(self._shown)

    def _clear(self) -> str:
        return "\r" + " " * self._shown + "\r"

    def say(self, line: str) -> None:
        """Print ``line`` above the live line."""
        with self._lock:
            self._write("\r" + line.ljust(self._shown) + "\n")
            self._shown = 0

    def stop(self) -> None:
        """Clear the live line; idempotent."""
        with self._lock:
            if not self._done.is_set():
                self._done.set()
                if self._shown:
                    self._write(self._clear())
                self._shown = 0
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join()


class InlineLiveLine(LiveLine):
    """A live line drawn after what the terminal's line already holds (a test's name),
    the cursor put back where it was after each draw, and the text erased at the end:
    whoever wrote the line goes on writing it as if nothing was drawn (ANSI: save and
    restore the cursor, erase to the end of the line). Nothing can be said above it."""

    def _frame(self, text: str) -> str:
        return f"\x1b7\x1b[K{text}\x1b8"

    def _clear(self) -> str:
        return "\x1b[K"

    def say(self, line: str) -> None:
        raise NotImplementedError("an inline live line cannot print a line above it")


class StackProgress:
    """Under pytest-xdist, between the workers' start and the run's first result: a live
    line counting the worker stacks that are up and naming the services still starting,
    each stack's line said above it as it comes.

    Shown only once ``show()`` is called (when nothing else writes to the terminal any
    more until a result); a line that comes before is kept for then, one that comes
    after ``stop()`` is dropped (the end-of-run summary has it).
    """

    def __init__(
        self,
        write: Callable[[str], None],
        workers: int,
        services: Sequence[str] = (),
        *,
        width: int = 100,
    ) -> None:
        self._write = write
        self._workers = workers
        self._services = tuple(services)
        self._width = width
        self._lock = threading.RLock()
        self._lines: list[str] = []
        self._up = 0
        #: Each worker that told something: the services of its stack that are ready.
        self._ready: dict[str, set[str]] = {}
        self._done: set[str] = set()
        self._live: LiveLine | None = None
        self._stopped = False

    @property
    def label(self) -> str:
        """``stackwright: 1/2 worker stacks up, waiting for frontend`` (and how many
        failed; once every stack told, that the first tests run)."""
        with self._lock:
            failed = len(self._lines) - self._up
            text = f"stackwright: {self._up}/{self._workers} worker stacks up"
            text += f", {failed} failed" if failed else ""
            if len(self._lines) >= self._workers:
                return text + "; the first tests run"
            waiting = self._waiting()
            return text + (f", waiting for {', '.join(waiting)}" if waiting else "")

    def _waiting(self) -> list[str]:
        """The services some stack still starts (all of them for a worker not heard of)."""
        starting = [ready for name, ready in self._ready.items() if name not in self._done]
        if len(set(self._ready) | self._done) < self._workers:
            starting.append(set())
        return [s for s in self._services if any(s not in ready for ready in starting)]

    def show(self) -> None:
        """Start the live line (once), with the lines that came before it above it."""
        with self._lock:
            if self._live is not None or self._stopped:
                return
            self._live = LiveLine(self._write, lambda: self.label, width=self._width)
            for line in self._lines:
                self._live.say(f"stackwright: {line}")
            self._live.start()

    def service_ready(self, worker: str, service: str) -> None:
        """A service of ``worker``'s stack is ready."""
        with self._lock:
            self._ready.setdefault(worker, set()).add(service)

    def stack_up(self, worker: str, line: str, *, up: bool = True) -> None:
        """``worker``'s stack is up (or, not ``up``, failed to start): its line, counted."""
        with self._lock:
            if self._stopped:
                return
            self._lines.append(line)
            self._up += up
            self._done.add(worker)
            if self._live is not None:
                self._live.say(f"stackwright: {line}")

    def say(self, line: str) -> bool:
        """Print one of the run's lines above the live line; whether it was shown."""
        with self._lock:
            if self._live is None or self._stopped:
                return False
            self._live.say(f"stackwright: {line}")
            return True

    def stop(self) -> None:
        """Clear the live line for good; idempotent."""
        with self._lock:
            self._stopped = True
            live = self._live
        if live is not None:
            live.stop()
