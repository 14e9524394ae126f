"""A live line with the elapsed time, for long work on a terminal (as pip and npm show).

Only on a terminal: a CI log gets the plain lines alone (``say``), never a line that
rewrites itself. Lines said while the live line shows are printed above it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class LiveLine:
    """``label 3.2s``, rewritten in place every ``every`` seconds until ``stop()``."""

    def __init__(
        self, write: Callable[[str], None], label: str, *, every: float = 0.2, width: int = 100
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

    def start(self) -> LiveLine:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._done.wait(self._every):
            self._draw()

    def _draw(self) -> None:
        text = f"{self._label} {time.monotonic() - self._started:.1f}s"[: self._width]
        with self._lock:
            if not self._done.is_set():
                self._write("\r" + text.ljust(self._shown))
                self._shown = len(text)

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
                    self._write("\r" + " " * self._shown + "\r")
                self._shown = 0
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join()
