"""The life of one run, in one pytest process (the controller, an xdist worker, or both
with ``-n0``): what it started, its summary lines, and its clean-up.

The controller ``open()``s the run before any worker exists: it claims the
output folder, starts the live-log relay, the run-scoped services, one preload
server per preloaded service and the template database, and freezes the
configuration with those facts (ports, addresses, URLs) once; each worker gets
that configuration and starts its own stack from it.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from stackwright.support.config import HarnessConfig, RunStep
from stackwright.support.errors import HarnessError
from stackwright.support.processes import (
    LinePrinter,
    PreloadServer,
    RelayClient,
    RelayServer,
    RunServicesView,
    RunWatch,
    Stack,
    choose_run_base,
    kill_group,
    start_servers,
    state_path,
)
from stackwright.support.results import OutputClaim, claim_output_dir
from stackwright.support.steps import StepCache, StepRunner, bytes_of

#: Ports per block: a worker's services (and the run's) take theirs from one block.
MIN_PORT_BLOCK = 20


@dataclass
class HarnessRun:
    """The resolved configuration plus what this process started."""

    config: HarnessConfig
    worker: str
    worker_index: int
    base_env: dict[str, str]
    printer: LinePrinter | None = None
    relay_server: RelayServer | None = None
    relay_client: RelayClient | None = None
    #: Controller only: one preload server per preloaded service, and the run-scoped services.
    preload_servers: dict[str, PreloadServer] = field(default_factory=dict)
    run_stack: Stack | None = None
    stack: Stack | None = None
    stack_error: HarnessError | None = None
    #: Set when a service went down: the stack restarts before the next test.
    needs_restart: bool = False
    #: Set when a test of this process failed since the last health check.
    last_failed: bool = False
    #: Controller only: the run's hold on its output folder.
    output_claim: OutputClaim | None = None
    any_failed: bool = False
    #: Controller only: one line per worker, collected at the end of the run.
    start_lines: list[str] = field(default_factory=list)
    #: This worker's line for the end-of-run summary, set when its stack starts or fails.
    summary: str | None = None
    #: How often this worker's stack was restarted, and why (one line each).
    restarts: int = 0
    casualties: list[str] = field(default_factory=list)
    _watchdog: threading.Thread | None = None
    _stopped: Stack | None = None
    #: Controller only: the run steps (template, builds), cancelled on close.
    steps: StepRunner | None = None
    #: The early start of this worker's stack, and what it raised.
    _booting: threading.Thread | None = None
    _boot_failure: BaseException | None = None
    #: Controller: watches the run-scoped services; a worker: reads what it publishes.
    run_watch: RunWatch | None = None
    run_view: RunServicesView | None = None
    #: Called with the stack each time this worker's stack comes up (from the thread
    #: that started it): a test running then is covered from that moment.
    on_stack_up: list[Callable[[Stack], None]] = field(default_factory=list)

    # -- the controller: what the whole run shares ------------------------------------

    def open(self, *, port_blocks: int, relay: bool, keep: Sequence[Path] = ()) -> None:
        """Controller: get everything the workers share ready, then freeze the configuration.

        ``port_blocks`` is how many workers may start a stack (replacements of
        crashed ones included); ``relay`` asks for a live-log relay for them;
        ``keep`` are files this run already wrote into the output folder (a report's
        assets). Raises HarnessError (the run cannot go on); whatever was started is stopped.
        """
        config = self.config
        self.output_claim = claim_output_dir(Path(config.output_dir), keep=keep)
        # Databases, logs and preload sockets: this user's alone, whatever the umask.
        config.services_dir.mkdir(mode=0o700, exist_ok=True)
        config.services_dir.chmod(0o700)
        block = max(MIN_PORT_BLOCK, 4 * len(config.services))
        config = config.with_run(
            port_base=choose_run_base(port_blocks + 1, block),
            port_block=block,
            run_block=port_blocks,
        )
        if relay and self.printer is not None and config.stream_logs:
            self.relay_server = RelayServer(self.printer).start()
        cache = StepCache(
            config.cache_path, max_bytes=bytes_of(config.cache_max_mb), mode=config.cache
        )
        self.steps = StepRunner(config.services_dir, Path(config.root), self.base_env, cache)
        try:
            # At once: the run-scoped services then the template (which may name their
            # URLs), each build, and the preload servers.
            work: dict[str, Callable[[], Any]] = {
                "run services and template": lambda: self._run_services_and_template(config),
                "preload servers": lambda: self._start_preload_servers(config),
            }
            for step in config.build_steps:
                work[step.name] = partial(self._run_step, step, config)
            results = run_together(work, on_failure=self.steps.cancel)
        except BaseException:
            self.close()
            raise
        run_urls = results["run services and template"]
        if self.run_stack is not None:
            self.run_watch = RunWatch(
                self.run_stack,
                state_path(config.services_dir),
                on_event=self.start_lines.append,
            ).start()
        config = config.with_run(run_urls=run_urls, preload_addresses=results["preload servers"])
        # The one configuration every worker gets.
        self.config = config.with_run(
            relay_address=self.relay_server.address if self.relay_server else None
        )

    def _run_services_and_template(self, config: HarnessConfig) -> dict[str, str]:
        run_urls = self._start_run_services(config)
        step = config.template_step
        if step is not None:
            self._run_step(step, config.with_run(run_urls=run_urls))
        return run_urls

    def _run_step(self, step: RunStep, config: HarnessConfig) -> None:
        assert self.steps is not None
        self.start_lines.append(self.steps.run(step, config.run_values()))

    def _start_run_services(self, config: HarnessConfig) -> dict[str, str]:
        if not config.scoped("run"):
            return {}
        stack = Stack(config, scope="run", base_env=self.base_env, on_line=self._on_run_line)
        self.run_stack = stack.start()
        self.start_lines.append(f"run: {stack.report.summary()}")
        return dict(stack.urls)

    def _start_preload_servers(self, config: HarnessConfig) -> dict[str, str]:
        """One server per service with preload modules, by address; the summary says once
        why a service is not preloaded."""
        self.preload_servers, reasons = start_servers(config, self.base_env)
        addresses = {name: server.address for name, server in self.preload_servers.items()}
        for name, reason in reasons.items():
            self.start_lines.append(f"{name}: not preloaded ({reason}); started with exec")
        return addresses

    def _on_run_line(self, service: str, line: str) -> None:
        if service in self.config.stream_logs and self.printer is not None:
            self.printer.print("run", service, line)

    # -- live logs -----------------------------------------------------------------

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
        stack = Stack(
            self.config,
            worker=self.worker,
            worker_index=self.worker_index,
            base_env=self.base_env,
            on_line=self.on_line,
        )
        try:
            self.stack = stack.start()
        except HarnessError as exc:
            self.stack_error = exc
            self.summary = f"{self.worker}: stack failed to start ({type(exc).__name__})"
            raise
        self.summary = f"{self.worker}: {stack.report.summary()}"
        self._start_watchdog()
        for listener in self.on_stack_up:
            listener(stack)
        return stack

    def live_stack(self) -> Stack:
        """The stack for the next test: restarted first when a service went down before.

        Raises ServiceDown when a service died or stopped answering since the last
        test: that test fails with the service's log, the one after it gets a new stack.
        """
        stack = self.start_stack()
        if self.needs_restart:
            self.needs_restart = False
            try:
                stack.restart()
            except HarnessError as exc:
                self.stack_error = exc
                self.stack = None
                self.summary = f"{self.worker}: stack failed to restart ({type(exc).__name__})"
                raise
            self.restarts += 1
            self.summary = f"{self.worker}: {stack.report.summary()} (restarted {self.restarts}x)"
        # A process that exited or stopped is seen for free before every test. The
        # readiness URLs are asked only after a failure (a hang shows as one), so a
        # passing test's log slice holds no probe requests.
        problem = stack.health(ask=self.last_failed)
        self.last_failed = False
        if problem is not None:
            self.needs_restart = True
            self.casualties.append(problem.casualty())
            raise problem
        self._check_run_services()
        return stack

    def _check_run_services(self) -> None:
        """A run-scoped service that went down since this worker's last test fails this
        one (the controller restarts it; its casualty is the controller's to report)."""
        run_specs = self.config.scoped("run")
        if not run_specs:
            return
        if self.run_view is None:
            self.run_view = RunServicesView(
                state_path(self.config.services_dir),
                restart_timeout=max(spec.timeout for spec in run_specs),
            )
        self.run_view.check()

    def stop_stack(self) -> None:
        """Stop the services; their files stay until the session ends (the last
        test's log slices are read after the session fixtures are torn down)."""
        with contextlib.suppress(BaseException):
            self._join_boot()
        if self.stack is not None:
            self.stack.stop()
            self._stopped, self.stack = self.stack, None

    def remove_files(self) -> None:
        """Remove the worker's folder unless asked to keep it or something failed."""
        stopped = self._stopped
        if stopped is not None and not (
            self.config.keep_service_files or self.any_failed or self.stack_error
        ):
            stopped.remove_files()

    def _remove_services_dir(self) -> None:
        """Controller, at the very end: drop the template, the builds and the run-scoped
        services' files too when no worker kept its folder (a worker keeps it when one of
        its tests failed)."""
        folder = self.config.services_dir
        if not (self.config.keep_service_files or kept_worker_folders(folder)):
            shutil.rmtree(folder, ignore_errors=True)

    def _start_watchdog(self) -> None:
        """Under xdist, stop the stack when the controller dies (its workers are orphaned)."""
        if self.worker == "main" or self._watchdog is not None:
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
        """Stop and release everything this process started; safe to call twice (a run
        that fails to open is closed at once, and again when pytest finishes)."""
        if self.steps is not None:
            self.steps.cancel()
        self.stop_stack()
        self.remove_files()
        for name, server in self.preload_servers.items():
            failure = server.failure()
            if failure:
                self.start_lines.append(f"{name}: not preloaded ({failure}); started with exec")
            server.stop()
        self.preload_servers.clear()
        if self.run_watch is not None:
            self.run_watch.stop()
            self.run_watch = None
        if self.run_stack is not None:
            self.run_stack.stop()
            self.run_stack = None
        if self.worker == "main":
            self._remove_services_dir()
        for closer in (self.relay_client, self.relay_server, self.printer):
            if closer is not None:
                closer.close() if not isinstance(closer, RelayServer) else closer.stop()
        self.relay_client = self.relay_server = self.printer = None
        if self.output_claim is not None:
            self.output_claim.release()
            self.output_claim = None


def kept_worker_folders(services_dir: Path) -> list[Path]:
    """The worker folders (``gwN``, or ``main`` without xdist) left in ``services_dir``;
    the run's own folders (its services', builds, preload sockets) are not among them."""
    if not services_dir.is_dir():
        return []
    return [path for path in services_dir.iterdir() if path.is_dir() and _WORKER.match(path.name)]


_WORKER = re.compile(r"^(gw\d+|main)$")


def run_together(
    work: dict[str, Callable[[], Any]], *, on_failure: Callable[[], None]
) -> dict[str, Any]:
    """Run each piece of work in its own thread; their results by name.

    The first failure calls ``on_failure`` (to stop the others' commands) and is
    raised once every thread has finished; so is Ctrl-C in the calling thread.
    """
    results: dict[str, Any] = {}
    failures: list[BaseException] = []

    def run(name: str, action: Callable[[], Any]) -> None:
        try:
            results[name] = action()
        except BaseException as exc:
            failures.append(exc)
            on_failure()

    threads = [
        threading.Thread(target=run, args=item, name=f"run-{item[0]}", daemon=True)
        for item in work.items()
    ]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            while thread.is_alive():
                thread.join(0.1)
    except BaseException:
        on_failure()
        for thread in threads:
            thread.join()
        raise
    if failures:
        raise failures[0]
    return results
