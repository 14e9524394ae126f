"""Live service logs on the terminal of the pytest run, even under pytest-xdist.

xdist workers cannot write to the terminal, so each worker tells its lines to the
controller over the harness's channel (``line``), and the controller prints them. The
printer writes to a duplicate of the terminal's file descriptor taken before tests
run, so output capture never swallows the lines.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

from stackwright.support.errors import HarnessError
from stackwright.support.processes.channel import Channel


class LinePrinter:
    """Prints ``[gw1 gateway] line`` on the real terminal, one whole line at a time.

    ``line_width`` tells how much pytest's reporter has written on its current
    line (its progress dots): when that changed since our last line, we start
    on a fresh line so a log line never glues onto the progress output.
    """

    def __init__(self, fd: int, *, line_width: Callable[[], int] = lambda: 0) -> None:
        self._fd = os.dup(fd)
        self._lock = threading.Lock()
        self._line_width = line_width
        self._width_after_last = 0

    def print(self, worker: str, service: str, line: str) -> None:
        text = f"[{worker} {service}] {line}\n"
        with self._lock:
            width = self._line_width()
            if width not in (0, self._width_after_last):
                text = "\n" + text
            self._width_after_last = width
            try:
                os.write(self._fd, text.encode("utf-8", "replace"))
            except OSError:
                pass

    def close(self) -> None:
        try:
            os.close(self._fd)
        except OSError:
            pass


class RelayClient:
    """Runs in a worker: tells each line to the controller (best effort: when the
    controller is gone, the lines stop and the test goes on)."""

    def __init__(self, address: str, worker: str) -> None:
        self.worker = worker
        self._channel: Channel | None
        try:
            self._channel = Channel(address, what="the run's controller")
        except HarnessError:
            self._channel = None

    def send(self, service: str, line: str) -> None:
        self._tell("line", worker=self.worker, service=service, line=line)

    def ready(self, service: str) -> None:
        """A service of this worker's stack is ready (while the stack starts)."""
        self._tell("ready", worker=self.worker, service=service)

    def stack(self, line: str, *, up: bool) -> None:
        """This worker's stack is up, or failed to start: its summary line."""
        self._tell("stack", worker=self.worker, line=line, up=up)

    def _tell(self, name: str, **args: str | bool) -> None:
        channel = self._channel
        if channel is None:
            return
        try:
            channel.tell(name, **args)
        except HarnessError:
            self._channel = None

    def close(self) -> None:
        channel, self._channel = self._channel, None
        if channel is not None:
            channel.close()
