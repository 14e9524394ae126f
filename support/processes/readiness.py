"""Readiness: poll an HTTP URL, a TCP port or the log, fast at first and backing off."""

from __future__ import annotations

import http.client
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

FIRST_INTERVAL = 0.005
MAX_INTERVAL = 0.1
REQUEST_TIMEOUT = 0.5


def http_status(url: str, *, timeout: float = REQUEST_TIMEOUT) -> int | str:
    """The status of GET ``url``, or a short description of why there was none."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    try:
        conn.request("GET", parts.path or "/", headers={"User-Agent": "stackwright-readiness"})
        return conn.getresponse().status
    except ConnectionRefusedError:
        return "connection refused"
    except TimeoutError:
        return f"no answer within {timeout} s"
    except (OSError, http.client.HTTPException) as exc:
        return type(exc).__name__
    finally:
        conn.close()


def is_ready(status: int | str) -> bool:
    """Whether an answer of ``http_status`` is a 2xx."""
    return isinstance(status, int) and 200 <= status < 300


def describe_status(status: int | str) -> str:
    """``HTTP 404``, or why there was no answer."""
    return f"HTTP {status}" if isinstance(status, int) else status


@dataclass
class HttpProbe:
    """One readiness check: GET ``url`` until it answers 2xx, with a backoff schedule."""

    url: str
    clock: Callable[[], float] = time.monotonic
    interval: float = FIRST_INTERVAL
    next_at: float = 0.0
    last: int | str = "not polled yet"
    ready_at: float | None = None
    #: When the current run of one unchanging 4xx answer began.
    refused_since: float | None = None

    def due(self) -> bool:
        return self.ready_at is None and self.clock() >= self.next_at

    def poll(self) -> bool:
        """Poll once; True when the answer was 2xx."""
        previous, self.last = self.last, http_status(self.url)
        now = self.clock()
        if is_ready(self.last):
            self.ready_at = now
            return True
        if not _refusal(self.last) or self.last != previous:
            self.refused_since = now if _refusal(self.last) else None
        self.next_at = now + self.interval
        self.interval = min(self.interval * 1.6, MAX_INTERVAL)
        return False

    def refused_for(self) -> float:
        """How long the URL has answered the same 4xx (0 when it has not)."""
        return 0.0 if self.refused_since is None else self.clock() - self.refused_since

    def describe_last(self) -> str:
        return describe_status(self.last)


def _refusal(status: int | str) -> bool:
    """A 4xx that waiting does not cure (not 408 Request Timeout, 425 Too Early or 429)."""
    return isinstance(status, int) and 400 <= status < 500 and status not in (408, 425, 429)


@dataclass(kw_only=True)
class _Schedule:
    """The backoff schedule shared by the probes that are not HTTP."""

    clock: Callable[[], float] = time.monotonic
    interval: float = FIRST_INTERVAL
    next_at: float = 0.0
    ready_at: float | None = None
    last: int | str = "not polled yet"

    def due(self) -> bool:
        return self.ready_at is None and self.clock() >= self.next_at

    def refused_for(self) -> float:
        return 0.0

    def describe_last(self) -> str:
        return describe_status(self.last)

    def _answer(self, ready: bool, last: str) -> bool:
        now = self.clock()
        self.last = last
        if ready:
            self.ready_at = now
            return True
        self.next_at = now + self.interval
        self.interval = min(self.interval * 1.6, MAX_INTERVAL)
        return False


@dataclass
class TcpProbe(_Schedule):
    """Ready when a TCP connection to ``host:port`` is accepted."""

    host: str
    port: int

    def poll(self) -> bool:
        why = tcp_refusal(self.host, self.port)
        return self._answer(why is None, why or "accepted")


@dataclass
class LogProbe(_Schedule):
    """Ready when a line of the service's log matches ``pattern``."""

    path: Path
    pattern: str
    offset: int = 0
    _partial: bytes = b""

    def poll(self) -> bool:
        try:
            with self.path.open("rb") as log:
                log.seek(self.offset)
                chunk = log.read()
        except FileNotFoundError:
            chunk = b""
        self.offset += len(chunk)
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()
        matcher = re.compile(self.pattern)
        found = any(matcher.search(line.decode("utf-8", "replace")) for line in lines)
        return self._answer(found, f"no line matched {self.pattern!r} yet")


@dataclass
class NoProbe(_Schedule):
    """Readiness 'none': ready as soon as the process runs."""

    def poll(self) -> bool:
        return self._answer(True, "started")


def tcp_refusal(host: str, port: int, *, timeout: float = REQUEST_TIMEOUT) -> str | None:
    """Why a TCP connection to ``host:port`` failed; None when it was accepted."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except ConnectionRefusedError:
        return "connection refused"
    except TimeoutError:
        return f"no answer within {timeout} s"
    except OSError as exc:
        return type(exc).__name__
