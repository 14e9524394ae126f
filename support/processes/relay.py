"""Live service logs on the terminal of the pytest run, even under pytest-xdist.

xdist workers cannot write to the terminal, so each worker sends its lines
over a loopback socket to the controller, which prints them. The printer
writes to a duplicate of the terminal's file descriptor taken before tests
run, so output capture never swallows the lines.
"""

from __future__ import annotations

import os
import socket
import socketserver
import threading
from collections.abc import Callable


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


class _Handler(socketserver.StreamRequestHandler):
    server: RelayServer

    def handle(self) -> None:
        for raw in self.rfile:
            worker, _, rest = raw.decode("utf-8", "replace").rstrip("\n").partition("\t")
            service, _, line = rest.partition("\t")
            self.server.printer.print(worker, service, line)


class RelayServer(socketserver.ThreadingTCPServer):
    """Runs in the controller: accepts workers and prints what they send."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, printer: LinePrinter, host: str = "127.0.0.1") -> None:
        super().__init__((host, 0), _Handler)
        self.printer = printer
        self._thread = threading.Thread(target=self.serve_forever, name="log-relay", daemon=True)

    @property
    def address(self) -> str:
        host, port = self.server_address[:2]
        return f"{host!s}:{port}"

    def start(self) -> RelayServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class RelayClient:
    """Runs in a worker: sends each line to the controller (best effort)."""

    def __init__(self, address: str, worker: str) -> None:
        host, _, port = address.rpartition(":")
        self.worker = worker
        self._lock = threading.Lock()
        self._sock: socket.socket | None = socket.create_connection((host, int(port)), timeout=5)

    def send(self, service: str, line: str) -> None:
        payload = f"{self.worker}\t{service}\t{line}\n".encode("utf-8", "replace")
        with self._lock:
            if self._sock is None:
                return
            try:
                self._sock.sendall(payload)
            except OSError:
                self._sock = None  # the controller is gone: stop relaying, keep the test running

    def close(self) -> None:
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None
