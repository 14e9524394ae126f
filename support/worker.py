"""A worker of a run: its own stack, started early, checked before each test that uses
it, restarted when a service went down, stopped at the end.

An xdist worker gets the controller's settings and the run's facts once; without xdist the
controller's process is also the run's one worker (``main``).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from stackwright.support.config import HarnessConfig, RunFacts
from stackwright.support.errors import HarnessError, KeptUnavailable
from stackwright.support.kept import KeptClaim, attach
from stackwright.support.processes import (
    LinePrinter,
    RelayClient,
    RunServicesView,
    Stack,
    kill_group,
)


@dataclass
class Worker:
    """This worker's stack and what happened to it."""

    config: HarnessConfig
    #: What the controller learned as it opened the run: ports, addresses, run URLs.
    facts: RunFacts
    worker: str
    worker_index: int
    base_env: dict[str, str]
    #: Where live log lines go: the controller's relay (xdist), or its printer (no xdist).
    relay_client: RelayClient | None = None
    printer: LinePrinter | None = None
    #: An xdist worker stops its stack itself when the controller dies.
    watch_controller: bool = False
    stack: Stack | None = None
    stack_error: HarnessError | None = None
    #: Set when a service went down: the stack restarts before the next test.
    needs_restart: bool = False
    #: Set when a test of this process failed since the last health check.
    last_failed: bool = False
    any_failed: bool = False
    #: This worker's line for the end-of-run summary, set when its stack starts or fails.
    summary: str | None = None
    #: How often this worker's stack was restarted, and why (one line each).
    restarts: int = 0
    casualties: list[str] = field(default_factory=list)
    #: Reads what the controller publishes about the run-scoped services.
    run_view: RunServicesView | None = None
    #: Called with the stack each time this worker's stack comes up (from the thread
    #: that started it): a test running then is covered from that moment.
    on_stack_up: list[Callable[[Stack], None]] = field(default_factory=list)
    #: The browser's processes that close a page's connections: a test's end waits for
    #: them too (``Stack.settle_logs``). Set when this worker's browser launches.
    browser_pids: list[int] = field(default_factory=list)
    #: The kept stacks this run claimed (``stackwright up``'s), when it attaches to them.
    kept: KeptClaim | None = None
    #: Why this worker's kept stack went away mid-run ('' while it has not).
    kept_lost: str = ""
    _watchdog: threading.Thread | None = None
    _stopped: Stack | None = None
    #: The early start of this worker's stack, and what it raised.
    _booting: threading.Thread | None = None
    #: Its stack while it starts (its report says which services are ready so far).
    _starting: Stack | None = None
    _boot_failure: BaseException | None = None

    def on_line(self, service: str, line: str) -> None:
        if service not in self.config.stream_logs:
            return
        if self.relay_client is not None:
            self.relay_client.send(service, line)
        elif self.printer is not None:
            self.printer.print(self.worker, service, line)

    # -- the stack -----------------------------------------------------------------

    def boot_early(self) -> None:
        """Start this worker's stack in the background now (while pytest collects and the
        browser launches); ``start_stack()`` then waits only for what is still missing."""
        if self._booting is None and self.stack is None and self.stack_error is None:
            self._booting = threading.Thread(target=self._boot, name="stack-boot", daemon=True)
            self._booting.start()

    @property
    def starting(self) -> list[str]:
        """The services of its stack not ready yet, while the stack starts."""
        stack = self._starting
        if stack is None:
            return []
        ready = stack.report.services
        return [spec.name for spec in stack.specs if spec.name not in ready]

    def _ready(self, service: str) -> None:
        if self.relay_client is not None:
            self.relay_client.ready(service)

    @property
    def booting(self) -> bool:
        """Whether the early start of this worker's stack is still going on."""
        booting = self._booting
        return booting is not None and booting.is_alive()

    def _boot(self) -> None:
        try:
            self._start_stack()
        except HarnessError:
            pass  # kept as stack_error, raised for the first test that needs the stack
        except BaseException as exc:  # a bug: raised for the first test that needs the stack
            self._boot_failure = exc

    def _join_boot(self) -> None:
        booting, self._booting = self._booting, None
        if booting is not None:
            booting.join()
        failure, self._boot_failure = self._boot_failure, None
        if failure is not None:
            raise failure

    def start_stack(self) -> Stack:
        """Start this worker's stack once (or wait for its early start); a failure is kept
        and raised again for every test."""
        self._join_boot()
        return self._start_stack()

    def _start_stack(self) -> Stack:
        if self.stack is not None:
            return self.stack
        if self.stack_error is not None:
            raise self.stack_error
        try:
            return self._bring_up()
        finally:  # once: the stack is kept, or its error is
            if self.relay_client is not None and self.summary:
                self.relay_client.stack(self.summary, up=self.stack is not None)

    def _bring_up(self) -> Stack:
        if self.kept is not None and self._attach():
            assert self.stack is not None
            return self.stack
        stack = Stack(
            self.config,
            self.facts,
            worker=self.worker,
            worker_index=self.worker_index,
            base_env=self.base_env,
            on_line=self.on_line,
            on_ready=self._ready,
        )
        self._starting = stack
        try:
            self.stack = stack.start()
        except HarnessError as exc:
            self.stack_error = exc
            self.summary = f"{self.worker}: stack failed to start ({type(exc).__name__})"
            raise
        finally:
            self._starting = None
        self.summary = f"{self.worker}: {stack.report.summary()}"
        self._start_watchdog()
        for listener in self.on_stack_up:
            listener(stack)
        return stack

    @property
    def can_boot(self) -> bool:
        """Whether this worker may boot a stack of its own (the run opened as usual)."""
        return self.kept is None or self.kept.opened

    def _attach(self) -> bool:
        """Take this worker's claimed kept stack; False when it boots its own instead."""
        assert self.kept is not None
        if self.kept_lost:
            why = self.kept_lost
            attached = None
        else:
            try:
                attached = attach(
                    self.kept,
                    self.config,
                    self.worker_index,
                    on_line=self.on_line,
                    streamed=self.config.stream_logs,
                )
            except HarnessError as exc:
                attached, why = None, str(exc)
            else:
                why = "the run claimed no kept stack for it (every other is taken)"
        if attached is None:
            if not self.can_boot:
                self.stack_error = KeptUnavailable(
                    f"{self.worker} has no kept stack: {why}. This run booted nothing of "
                    "its own; run again (a run boots its own stacks when stackwright up "
                    "is gone), or with --attach off"
                )
                self.summary = f"{self.worker}: {self.stack_error}"
                raise self.stack_error
            self.casualties.append(f"{self.worker}: booted its own stack: {why}")
            return False
        self.stack, self.summary = attached[0], f"{self.worker}: {attached[1]}"
        for listener in self.on_stack_up:
            listener(self.stack)
        return True

    def check_kept(self) -> str:
        """Why this worker's kept stack went away since it was last looked at ('' when it
        did not, or this worker has none): the stack is let go, and the next test boots
        its own (or, when the run booted nothing, fails with this reason)."""
        stack = self.stack
        why = stack.keeper.lost() if stack is not None and stack.keeper is not None else None
        if stack is None or why is None:
            return ""
        stack.stop()
        self.stack, self.kept_lost = None, why
        self.casualties.append(f"{self.worker}: {why}")
        return why

    def live_stack(self) -> Stack:
        """The stack for the next test: restarted first when a service went down before.

        Raises ServiceDown when a service died or stopped answering since the last
        test: that test fails with the service's log, the one after it gets a new stack.
        """
        why = self.check_kept()
        if why:
            raise KeptUnavailable(
                f"{why} before this test; "
                + (
                    "this worker boots its own stack for the next one"
                    if self.can_boot
                    else "this run booted nothing of its own, so its later tests fail: run again"
                )
            )
        stack = self.start_stack()
        if self.needs_restart:
            self.needs_restart = False
            try:
                summary = stack.restart()
            except HarnessError as exc:
                self.stack_error = exc
                self.stack = None
                self.summary = f"{self.worker}: stack failed to restart ({type(exc).__name__})"
                raise
            self.restarts += 1
            self.summary = f"{self.worker}: {summary} (restarted {self.restarts}x)"
        # A process that exited or stopped is seen for free before every test. The
        # readiness URLs are asked only after a failure (a hang shows as one), so a
        # passing test's log slice holds no probe requests.
        problem = stack.health(ask=self.last_failed)
        self.last_failed = False
        if problem is not None:
            self.needs_restart = True
            self.casualties.append(problem.casualty())
            raise problem
        self._check_run_services(stack)
        return stack

    def _check_run_services(self, stack: Stack) -> None:
        """A run-scoped service that went down since this worker's last test fails this
        one (whoever started it, this run's controller or ``stackwright up``, restarts
        it and reports the casualty)."""
        run_specs = self.config.scoped("run")
        if not run_specs or self.facts.run_address is None:
            return
        if self.run_view is None:
            self.run_view = RunServicesView(
                self.facts.run_address,
                restart_timeout=max(spec.timeout for spec in run_specs),
                log_dir=stack.run_dir,
            )
        self.run_view.check()

    def sync_logs(self, *, settle: bool = False) -> None:
        """Everything this worker's services wrote so far is in their logs; with
        ``settle`` (a test's end), once they are idle, so the lines its end set off are
        its own. Best effort: a kept stack that went away is named by ``check_kept``;
        its files are read as they are."""
        stack = self.stack
        if stack is not None:
            with contextlib.suppress(HarnessError):
                if settle:
                    stack.settle_logs(also=self.browser_pids)
                else:
                    stack.sync_logs()

    def stop_stack(self) -> None:
        """Stop the services, once what the last test set off as it ended is in their
        logs; their files stay until the session ends (the last test's log slices are
        read after the session fixtures are torn down)."""
        with contextlib.suppress(BaseException):
            self._join_boot()
        if self.stack is not None:
            self.sync_logs(settle=True)
            self.stack.stop()
            self._stopped, self.stack = self.stack, None

    def remove_files(self) -> None:
        """Remove the worker's folder unless asked to keep it or something failed; a kept
        one holds the worker's database (on a server, a dump of it)."""
        stopped = self._stopped
        if stopped is None:
            return
        if self.config.keep_service_files or self.any_failed or self.stack_error:
            kept = stopped.keep_database()
            if kept:
                self.casualties.append(f"{self.worker}: {kept}")
        else:
            stopped.remove_files()

    def _start_watchdog(self) -> None:
        """Under xdist, stop the stack when the controller dies (its workers are orphaned)."""
        if not self.watch_controller or self._watchdog is not None:
            return
        parent = os.getppid()

        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(0.25)
            stack = self.stack
            if stack is not None:
                for process in stack.processes.values():
                    if process.pid:
                        kill_group(process.pid)
            print(f"[{self.worker}] the pytest controller died; stopped the stack", file=sys.stderr)
            os._exit(3)

        self._watchdog = threading.Thread(target=watch, name="orphan-watchdog", daemon=True)
        self._watchdog.start()

    def close(self) -> None:
        """Stop this worker's stack and remove its files (unless kept); safe to call twice."""
        self.stop_stack()
        self.remove_files()
        if self.relay_client is not None:
            self.relay_client.close()
            self.relay_client = None
        if self.run_view is not None:
            self.run_view.close()
