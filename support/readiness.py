"""Readiness: when a started service counts as ready, one class per kind.

``<service>_ready = KIND [TARGET]`` names a kind registered here: ``http PATH`` (a 2xx
from GET PATH), ``tcp`` (a connection to its port), ``log REGEX`` (a line of its log),
``cmd COMMAND`` (a command that exits 0) or ``none``. Each kind says how it is written
and checked at start-up, what it waits for in words, one check, and (for a running
stack) whether the service still answers. ``Probe`` is the one poll schedule they
share: fast at first, backing off. A new kind is one class here.

The base of the library (standard library only): configuration validates a kind
with it, the stack polls with it, errors describe what was awaited with it.
"""

from __future__ import annotations

import http.client
import re
import shlex
import socket
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlsplit

FIRST_INTERVAL = 0.005
MAX_INTERVAL = 0.1
REQUEST_TIMEOUT = 0.5
#: How long one run of a ``cmd`` readiness command may take.
COMMAND_TIMEOUT = 5.0

#: One check's answer: (ready?, the last answer: an HTTP status, or words).
Answer = tuple[bool, int | str]


@dataclass(frozen=True)
class Where:
    """What a check may look at: the service's address, log, folder and environment."""

    url: str
    host: str
    port: int
    log_path: Path
    log_offset: int = 0
    cwd: Path = Path(".")
    env: Mapping[str, str] = field(default_factory=dict)


class Kind:
    """One kind of readiness. Subclasses set ``name`` and ``usage`` and override what
    differs; ``register`` makes a kind known by its name."""

    name: ClassVar[str]
    #: How it is written, for messages: ``http PATH``.
    usage: ClassVar[str]
    #: Whether it takes a target after its name.
    takes_target: ClassVar[bool] = False

    def problem(self, target: str) -> str | None:
        """Why ``target`` cannot be used (checked at start-up); None when it can."""
        if self.takes_target and not target:
            return f"give the {self.usage.split()[-1].lower()}, e.g. '{self.usage}'"
        return None

    def awaited(self, where: Where, target: str) -> str:
        raise NotImplementedError

    def checker(self, where: Where, target: str) -> Callable[[], Answer]:
        """One check, to call until it answers ready (it may keep state between calls)."""
        raise NotImplementedError

    def still_answers(self, where: Where, target: str, timeout: float) -> tuple[str | None, str]:
        """(why the running service does not answer, or None; what was asked). Kinds that
        cannot be asked again (a log line, none) always answer."""
        return None, ""

    def log_noise(self, target: str) -> tuple[str, ...]:
        """Log lines its own checks cause, left out of a tail shown to a person."""
        return ()


KINDS: dict[str, Kind] = {}


def register(kind: type[Kind]) -> type[Kind]:
    KINDS[kind.name] = kind()
    return kind


def kind_of(name: str) -> Kind:
    return KINDS[name]


def usages() -> str:
    """Every kind as written: 'http PATH', 'tcp', ... or 'none'."""
    written = [f"'{kind.usage}'" for kind in KINDS.values()]
    return ", ".join(written[:-1]) + f" or {written[-1]}"


@register
class Http(Kind):
    name = "http"
    usage = "http PATH"
    takes_target = True

    def problem(self, target: str) -> str | None:
        return None if target.startswith("/") else "give the path, e.g. 'http /health'"

    def awaited(self, where: Where, target: str) -> str:
        return f"a 2xx from GET {where.url}{target}"

    def checker(self, where: Where, target: str) -> Callable[[], Answer]:
        url = where.url + target

        def check() -> Answer:
            status = http_status(url)
            return is_ready(status), status

        return check

    def still_answers(self, where: Where, target: str, timeout: float) -> tuple[str | None, str]:
        url = where.url + target
        status = http_status(url, timeout=timeout)
        return (None if is_ready(status) else describe_status(status)), f"GET {url}"

    def log_noise(self, target: str) -> tuple[str, ...]:
        return (f"GET {target} ", f"GET {target}?")


@register
class Tcp(Kind):
    name = "tcp"
    usage = "tcp"

    def awaited(self, where: Where, target: str) -> str:
        return f"a connection to {where.url}"

    def checker(self, where: Where, target: str) -> Callable[[], Answer]:
        def check() -> Answer:
            why = tcp_refusal(where.host, where.port)
            return why is None, why or "accepted"

        return check

    def still_answers(self, where: Where, target: str, timeout: float) -> tuple[str | None, str]:
        return tcp_refusal(where.host, where.port, timeout=timeout), f"connecting to {where.port}"


@register
class Log(Kind):
    name = "log"
    usage = "log REGEX"
    takes_target = True

    def problem(self, target: str) -> str | None:
        if not target:
            return "give the pattern, e.g. 'log listening'"
        try:
            re.compile(target)
        except re.error as exc:
            return f"{target!r} is not a regular expression: {exc}"
        return None

    def awaited(self, where: Where, target: str) -> str:
        return f"a log line matching {target!r}"

    def checker(self, where: Where, target: str) -> Callable[[], Answer]:
        return _LogLines(where.log_path, re.compile(target), where.log_offset)


class _LogLines:
    """Reads a log from an offset on, a line at a time, until a line matches."""

    def __init__(self, path: Path, matcher: re.Pattern[str], offset: int) -> None:
        self.path = path
        self.matcher = matcher
        self.offset = offset
        self.partial = b""

    def __call__(self) -> Answer:
        try:
            with self.path.open("rb") as log:
                log.seek(self.offset)
                chunk = log.read()
        except FileNotFoundError:
            chunk = b""
        self.offset += len(chunk)
        lines = (self.partial + chunk).split(b"\n")
        self.partial = lines.pop()
        found = any(self.matcher.search(line.decode("utf-8", "replace")) for line in lines)
        return found, f"no line matched {self.matcher.pattern!r} yet"


@register
class Cmd(Kind):
    """Ready when a command exits 0 (run in the service's folder with its environment):
    a queue consumer that has a health command, a database with a CLI check."""

    name = "cmd"
    usage = "cmd COMMAND"
    takes_target = True

    def problem(self, target: str) -> str | None:
        try:
            words = shlex.split(target)
        except ValueError as exc:
            return f"{target!r} cannot be split: {exc}"
        return None if words else "give the command, e.g. 'cmd pg_isready -p 5432'"

    def awaited(self, where: Where, target: str) -> str:
        return f"an exit code 0 from the command {target!r}"

    def checker(self, where: Where, target: str) -> Callable[[], Answer]:
        return lambda: _run_check(where, target, COMMAND_TIMEOUT)

    def still_answers(self, where: Where, target: str, timeout: float) -> tuple[str | None, str]:
        ready, last = _run_check(where, target, max(timeout, COMMAND_TIMEOUT))
        return (None if ready else str(last)), f"the command {target!r}"


def _run_check(where: Where, command: str, timeout: float) -> Answer:
    try:
        done = subprocess.run(
            shlex.split(command),
            cwd=where.cwd,
            env=dict(where.env) or None,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False, f"it did not exit within {timeout:g} s"
    except OSError as exc:
        return False, f"it cannot run: {exc.strerror}"
    return done.returncode == 0, f"it exited with code {done.returncode}"


@register
class Nothing(Kind):
    name = "none"
    usage = "none"

    def awaited(self, where: Where, target: str) -> str:
        return "nothing (readiness 'none')"

    def checker(self, where: Where, target: str) -> Callable[[], Answer]:
        return lambda: (True, "started")


@dataclass
class Probe:
    """The poll schedule every kind shares: check until ready, fast at first and backing
    off; an unchanging 4xx answer is timed (a wrong path is not a slow service)."""

    check: Callable[[], Answer]
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
        """Check once; True when ready."""
        previous = self.last
        ready, self.last = self.check()
        now = self.clock()
        if ready:
            self.ready_at = now
            return True
        if not _refusal(self.last) or self.last != previous:
            self.refused_since = now if _refusal(self.last) else None
        self.next_at = now + self.interval
        self.interval = min(self.interval * 1.6, MAX_INTERVAL)
        return False

    def refused_for(self) -> float:
        """How long the check has answered the same 4xx (0 when it has not)."""
        return 0.0 if self.refused_since is None else self.clock() - self.refused_since

    def describe_last(self) -> str:
        return describe_status(self.last)


def _refusal(status: int | str) -> bool:
    """A 4xx that waiting does not cure (not 408 Request Timeout, 425 Too Early or 429)."""
    return isinstance(status, int) and 400 <= status < 500 and status not in (408, 425, 429)


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
