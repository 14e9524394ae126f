"""Typed errors: what failed, where the log is, and what to try.

Each error keeps its facts as fields and builds its text in ``__str__``, so
tests can assert on the fields and people read a complete message.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stackwright.support.text import bounded_tail, describe_exit

TAIL_LINES = 30


def tail_of(path: Path | None, lines: int = TAIL_LINES, *, skip: tuple[str, ...] = ()) -> list[str]:
    """The last ``lines`` lines of a log file, decoded leniently; [] if unreadable.

    Lines holding any of ``skip`` (the readiness probe's own requests) are left
    out and counted, so the tail shows what the service itself said.
    """
    if path is None:
        return []
    try:
        with path.open("rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            data = handle.read()
    except OSError:
        return []
    text = data.decode("utf-8", "replace")
    if skip:
        every = text.splitlines()
        kept = [line for line in every if not any(mark in line for mark in skip)]
        if len(kept) < len(every):
            kept.append(f"[{len(every) - len(kept)} lines of readiness-probe requests left out]")
        text = "\n".join(kept)
    return bounded_tail(text, lines)


class HarnessError(Exception):
    """Base of every error the harness raises on purpose."""


class ConfigError(HarnessError):
    """A setting has a value the harness cannot use; the message names the fix."""


class TemplateUnavailable(HarnessError):
    """A worker's stack cannot have the run's template database: its step failed (the
    message is the step's own error) or it never came."""


class DatabaseUnavailable(HarnessError):
    """The run's database server did not do what the harness asked (a clone, a reset);
    the message names the server, the database and where its log is."""


class KeptUnavailable(HarnessError):
    """Kept stacks (``stackwright up``) that cannot be used; the message says why."""


class ChannelError(HarnessError):
    """A process of the harness at the other end of a channel cannot be used: nothing
    listens, it runs as another user, it is stopped, it went away, or it did not answer
    in time. The message names the process, its pid and what to do."""


class PeerGone(ChannelError):
    """Nothing listens at the address, or the process at the other end went away."""


class PeerStopped(ChannelError):
    """The process at the other end is stopped (Ctrl-Z, a debugger): it answers nothing
    until someone resumes it."""


@dataclass
class ServiceError(HarnessError):
    """A service of a worker's stack could not be started."""

    service: str
    worker: str
    command: Sequence[str]
    log_path: Path | None = None
    url: str | None = None
    hint: str = ""
    log_tail: list[str] = field(default_factory=list)
    #: What readiness waits for, in words (``support.readiness``): 'a 2xx from GET ...'.
    waits_for: str = "its readiness check"

    def __post_init__(self) -> None:
        super().__init__()
        if not self.log_tail:
            self.log_tail = tail_of(self.log_path)

    def headline(self) -> str:
        raise NotImplementedError

    def __str__(self) -> str:
        parts = [f"{self.service} ({self.worker}) {self.headline()}"]
        parts.append(f"Command: {' '.join(self.command)}")
        if self.log_path is not None:
            shown = f" (last {len(self.log_tail)} lines below)" if self.log_tail else " (empty)"
            parts.append(f"Log: {self.log_path}{shown}")
            parts.extend(f"    {line}" for line in self.log_tail)
        if self.hint:
            parts.append(f"Try: {self.hint}")
        return "\n".join(parts)


@dataclass
class CommandNotFound(ServiceError):
    reason: str = "was not found"

    def headline(self) -> str:
        return f"could not start: {self.command[0]!r} {self.reason}."


@dataclass
class ExitedBeforeReady(ServiceError):
    exit_code: int | None = None

    def headline(self) -> str:
        code = "with no exit code" if self.exit_code is None else describe_exit(self.exit_code)
        return f"{code} before it was ready (waiting for {self.waits_for})."


@dataclass
class ReadinessRejected(ServiceError):
    """The readiness URL kept answering the same 4xx: the path is wrong, not slow."""

    status: int = 0
    seconds: float = 0.0

    def headline(self) -> str:
        return (
            f"answered HTTP {self.status} to GET {self.url} for {self.seconds:.1f} s in a row; "
            "a readiness path that is refused does not become ready by waiting."
        )


@dataclass
class ReadinessTimeout(ServiceError):
    timeout: float = 0.0
    pid: int | None = None
    last_status: str = "no answer"

    def headline(self) -> str:
        awaited = self.waits_for.removeprefix("a ").removeprefix("an ")
        return (
            f"was not ready within {self.timeout:.1f} s: no {awaited} "
            f"(last: {self.last_status}); the process is still running (pid {self.pid})."
        )


@dataclass
class ServiceDown(ServiceError):
    """A service of a running stack died or stopped answering between two tests."""

    exit_code: int | None = None
    state: str = ""

    def headline(self) -> str:
        if self.exit_code is not None:
            return f"{describe_exit(self.exit_code)} while the stack was in use."
        return f"stopped answering: {self.state}."

    def casualty(self) -> str:
        """One line for the end-of-run summary."""
        return f"{self.worker}: {self.service} {self.headline()} Log: {self.log_path}"


@dataclass
class PortUnavailable(ServiceError):
    port: int = 0
    attempts: int = 0

    def headline(self) -> str:
        return (
            f"lost port {self.port} to another process {self.attempts} times in a row; "
            "no free port could be kept."
        )


@dataclass
class NodeModulesMissing(ServiceError):
    directory: Path = Path(".")

    def headline(self) -> str:
        return f"cannot start: {self.directory / 'node_modules'} does not exist."


@dataclass
class WorkingDirectoryMissing(ServiceError):
    directory: Path = Path(".")

    def headline(self) -> str:
        return f"cannot start: its working directory {self.directory} does not exist."


class BrowserNotFound(HarnessError):
    """No Chromium could be found to run the browser tests."""

    def __init__(self, looked_at: Sequence[str]) -> None:
        super().__init__()
        self.looked_at = list(looked_at)

    def __str__(self) -> str:
        places = "\n".join(f"    {place}" for place in self.looked_at)
        return (
            "No Chromium browser was found. Looked at:\n"
            f"{places}\n"
            "Try one of:\n"
            "    python -m stackwright.support.browser.setup (finds or installs one)\n"
            "    python -m playwright install chromium       (Playwright's own build)\n"
            "    sudo apt-get install -y chromium            (Debian/Ubuntu system Chromium)\n"
            "    export PLAYWRIGHT_CHROMIUM_EXECUTABLE=/path/to/chrome"
        )


@dataclass
class DatabaseResetFailed(HarnessError):
    """The configured ``db_reset`` request did not answer 2xx."""

    method: str
    url: str
    status: int | None
    answer: str
    #: The configuration file, as the hint names it.
    ini: str = "playwright.ini"

    def __post_init__(self) -> None:
        super().__init__()

    def __str__(self) -> str:
        got = f"answered {self.status}" if self.status is not None else "got no answer"
        return (
            f"fresh_db: {self.method} {self.url} {got}: {self.answer}\n"
            f"Try: check db_reset in {self.ini}; the service must offer that request "
            "(say, only in its test mode)."
        )


@dataclass
class StepFailed(HarnessError):
    """A run step (the template database, a build) failed, timed out or wrote nothing."""

    command: Sequence[str]
    exit_code: int | None
    output: str
    #: Where the command was to write its output (a path, or a database's URL); set when
    #: it exited 0 without it.
    missing: Path | str | None = None
    #: The limit it ran into, when it was stopped for taking too long.
    timeout: float | None = None
    #: What the step builds, the placeholder of its output, and its ini keys.
    what: str = "the template database"
    placeholder: str = "db"
    command_key: str = "template_db_cmd"
    timeout_key: str = "template_db_timeout"
    #: The configuration file, as the hint names it.
    ini: str = "playwright.ini"

    def __post_init__(self) -> None:
        super().__init__()

    def __str__(self) -> str:
        tail = "\n".join(f"    {line}" for line in bounded_tail(self.output, TAIL_LINES))
        noun = self.what.rsplit(" ", 1)[-1]
        if self.timeout is not None:
            what = f"building {self.what} did not finish within {self.timeout:g} s; it was stopped."
            hint = (
                "run the command above by hand to see where it waits, or raise "
                f"{self.timeout_key} in {self.ini}."
            )
        elif self.missing is not None:
            what = (
                f"building {self.what} failed: the command exited with code 0 but did not "
                f"create the {noun} at {{{self.placeholder}}} ({self.missing})."
            )
            hint = (
                f"make the command write its {noun} to the path it gets as {{{self.placeholder}}}."
                if self.placeholder != "db_url"
                else "make the command create its tables in the database {db_url} names."
            )
        else:
            what = f"building {self.what} failed with exit code {self.exit_code}."
            hint = f"run the command above by hand, or fix {self.command_key} in {self.ini}."
        return (
            f"{what}\nCommand: {' '.join(self.command)}\n"
            f"Output (last lines):\n{tail or '    (none)'}\nTry: {hint}"
        )


#: The name the template step's failures had before builds were steps too.
TemplateBuildFailed = StepFailed


class UnsetVariable(ConfigError):
    """A ``${VAR}`` whose variable is not set, with no ``:-default``."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"names ${{{name}}}, which is not set in the environment or .env.test; set "
            f"{name}, or write ${{{name}:-}} (or ${{{name}:-default}}) to allow it unset"
        )
        self.name = name


class UnknownPlaceholder(ConfigError):
    def __init__(self, service: str, what: str, name: str, known: Iterable[str]) -> None:
        listed = ", ".join("{" + key + "}" for key in known)
        super().__init__(
            f"{service} {what} uses unknown placeholder {{{name}}}; available: {listed}"
        )
        self.what = what
        self.name = name


class PagePolicyViolation(HarnessError, AssertionError):
    """The page logged errors the test did not declare."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__()
        self.problems = problems

    def __str__(self) -> str:
        listed = "\n".join(f"  - {problem}" for problem in self.problems)
        return (
            f"the page reported {len(self.problems)} unexpected error(s):\n{listed}\n"
            "Try: fix the error, or declare it in the test with "
            "expect_console_error(r'pattern') if it is part of the scenario."
        )


class RemoteBrowserError(HarnessError):
    """The browser server cannot serve this run; the message says why and what to do."""


class TestEventTimeout(HarnessError, AssertionError):
    """No event matched within the timeout; the message lists what did arrive."""

    __test__ = False  # not a pytest test class, despite the name

    def __init__(
        self,
        wanted: Mapping[str, Any],
        timeout: float,
        seen: list[dict[str, Any]],
        binding: str = "__playwright_emitTestEvent",
    ) -> None:
        super().__init__()
        self.binding = binding
        self.wanted = dict(wanted)
        self.timeout = timeout
        self.seen = seen

    def __str__(self) -> str:
        recent = "\n".join(f"    {json.dumps(event, default=str)}" for event in self.seen[-15:])
        return (
            f"no test event matching {json.dumps(self.wanted, default=str)} "
            f"within {self.timeout:.1f} s.\n"
            f"Last events received ({len(self.seen)} in all):\n{recent or '    (none)'}\n"
            f"Try: check that the frontend calls window.{self.binding} (its test mode) and reaches "
            "that moment; "
            "the full list is in the report's 'test events' section."
        )


class PreloadUnavailable(HarnessError):
    """The preload server cannot start this command; the caller starts it with exec."""


class RunServiceDown(HarnessError):
    """A run-scoped service went down since this worker's last test; the message is the
    controller's (the service, how it ended, its log tail) and what happens next."""


class PortsExhausted(HarnessError, OSError):
    """Every port of a worker's block is held by another program."""


class OutputFolderError(HarnessError):
    """The output folder cannot be used for this run; the message names the fix."""


class ResultsError(HarnessError):
    """A results folder that cannot be read; the message names it and what to do."""


#: Outcomes a run writes.
