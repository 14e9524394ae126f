"""Run-scoped services, watched like a worker's: one that goes down is restarted by the
controller, and every worker names it before its next test that uses the stack.

The run's services are the controller's children, which a worker cannot wait on. The
controller answers ``run_state`` on its channel with what workers need: their pids, a
generation that grows with each restart, why the last restart happened, and, if they
could not be restarted, why. A worker asks before each test that uses the stack, and
looks at the pids itself, so a death is seen before the controller's next poll. Nothing
is written to the output folder, where another process could forge it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Self

from stackwright.support.errors import HarnessError, RunServiceDown
from stackwright.support.processes.channel import Channel
from stackwright.support.processes.health import state_letter
from stackwright.support.processes.stack import Stack

#: How often the controller looks at the run's services (a look costs a /proc read).
POLL_SECONDS = 0.2
#: How long a worker waits for the controller's answer about the run's services.
ASK_TIMEOUT = 30.0


@dataclass
class RunState:
    """What the controller publishes about the run's services."""

    generation: int = 0
    pids: dict[str, int] = field(default_factory=dict)
    #: Why the last restart happened: the service, how it ended, its log's tail.
    down: str = ""
    #: Why the services could not be restarted; they stay down for the rest of the run.
    failed: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> RunState:
        """The state ``data`` describes; HarnessError when it is not one."""
        try:
            return cls(
                generation=int(data["generation"]),
                pids={str(k): int(v) for k, v in data["pids"].items()},
                down=str(data["down"]),
                failed=str(data["failed"]),
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            raise HarnessError(f"the run's controller answered {data!r}, not a run state") from None


class RunWatch:
    """Controller: polls the run's services and restarts them all when one goes down."""

    def __init__(
        self, stack: Stack, *, on_event: Callable[[str], None], poll: float = POLL_SECONDS
    ) -> None:
        self.stack = stack
        self.on_event = on_event
        self.poll = poll
        self.state = RunState()
        self.restarts = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        self.state = RunState(pids=self._pids())
        self._thread = threading.Thread(target=self._watch, name="run-watch", daemon=True)
        self._thread.start()
        return self

    def _pids(self) -> dict[str, int]:
        return {name: p.pid for name, p in self.stack.processes.items() if p.pid is not None}

    def _watch(self) -> None:
        while not self._stop.wait(self.poll):
            problem = self.stack.health(ask=False)
            if problem is None or self._stop.is_set():
                continue
            if not self._restart(str(problem), problem.casualty()):
                return

    def _restart(self, down: str, casualty: str) -> bool:
        """Restart the run's services; False when they could not be (the run is told)."""
        self.restarts += 1
        self.on_event(casualty)
        try:
            self.stack.restart()
        except HarnessError as exc:
            self.state = RunState(
                self.state.generation,
                self.state.pids,
                down,
                f"{down}\nThe controller could not restart the run's services:\n{exc}",
            )
            self.on_event(f"run: stack failed to restart ({type(exc).__name__}); tests "
                          "that use the stack fail for the rest of the run")  # fmt: skip
            return False
        self.state = RunState(self.state.generation + 1, self._pids(), down)
        self.on_event(f"run: {self.stack.report.summary()} (restarted {self.restarts}x)")
        return True

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None


class RunServicesView:
    """Worker: the run's services as the controller (this run's, or ``stackwright up``'s)
    tells them, over its channel."""

    def __init__(self, address: str, *, restart_timeout: float, log_dir: Path) -> None:
        self.address = address
        self.log_dir = log_dir
        self.restart_timeout = restart_timeout
        self._seen: int | None = None
        self._channel: Channel | None = None

    def _ask(self) -> RunState:
        """The controller's state of the run's services; RunServiceDown when it cannot
        be asked (gone, stopped, or silent), naming why."""
        try:
            if self._channel is None:
                self._channel = Channel(self.address, what="the run's controller")
            return RunState.from_dict(self._channel.call("run_state", timeout=ASK_TIMEOUT))
        except HarnessError as exc:
            self.close()
            raise RunServiceDown(
                f"the run's services cannot be checked: {exc}. Their logs: {self.log_dir}"
            ) from None

    def check(self) -> None:
        """Raise RunServiceDown when a run-scoped service went down since the last check
        (waiting first for the controller's restart), or cannot be restarted."""
        state = self._ask()
        if self._seen is None:
            self._seen = state.generation
        if not state.failed and any(_gone(pid) for pid in state.pids.values()):
            state = self._await_restart(state)
        if state.failed:
            raise RunServiceDown(state.failed)
        if state.generation > self._seen:
            self._seen = state.generation
            raise RunServiceDown(
                f"{state.down}\nThe controller restarted the run's services on the same "
                "ports; this worker's next test uses them."
            )

    def _await_restart(self, state: RunState) -> RunState:
        deadline = time.monotonic() + self.restart_timeout + 2 * POLL_SECONDS
        while time.monotonic() < deadline:
            time.sleep(POLL_SECONDS / 4)
            newer = self._ask()
            if newer.failed or newer.generation > state.generation:
                return newer
        gone = ", ".join(f"{n} (pid {p})" for n, p in state.pids.items() if _gone(p))
        return RunState(
            state.generation,
            state.pids,
            failed=f"the run's services {gone} went down, and the controller did not restart "
            f"them within {self.restart_timeout:g} s. Their logs: {self.log_dir}",
        )

    def close(self) -> None:
        channel, self._channel = self._channel, None
        if channel is not None:
            channel.close()


def _gone(pid: int) -> bool:
    """Whether ``pid`` has exited (gone, or a zombie) or is stopped."""
    return state_letter(pid) in ("", "T", "t", "Z", "X")
