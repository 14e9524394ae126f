"""The controller of a run: what the whole run shares, started once before any worker.

The controller (``pytest -c playwright.ini -n 2``'s main process) ``open()``s the run
before any worker exists: it claims the output folder, starts the live-log relay,
the run-scoped services (and their watch), one preload server per preloaded service,
the template database and the builds, learning the run's facts (ports, addresses,
URLs) on the way; each worker gets the settings and those facts once. Without
xdist the same process is also the run's one worker (``support.worker``).
"""

from __future__ import annotations

import os
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from stackwright.support.config import HarnessConfig, RunFacts, RunStep, run_values
from stackwright.support.database import (
    claim_private_folder,
    database_for,
    publish_template_failure,
)
from stackwright.support.errors import HarnessError
from stackwright.support.kept import KeptClaim, KeptPlan
from stackwright.support.kept import plan as plan_kept
from stackwright.support.processes import (
    WORKER_NAME,
    ChannelServer,
    Connection,
    LinePrinter,
    PreloadServer,
    RunWatch,
    Stack,
    abstract_address,
    choose_run_base,
    start_servers,
)
from stackwright.support.progress import StackProgress
from stackwright.support.results import OutputClaim, claim_output_dir
from stackwright.support.steps import StepCache, StepRunner, bytes_of

#: Ports per block: a worker's services (and the run's) take theirs from one block.
MIN_PORT_BLOCK = 20


@dataclass
class Controller:
    """The resolved configuration, and what the controller started for the whole run."""

    config: HarnessConfig
    base_env: dict[str, str]
    #: What the run learned as it opened (ports, addresses, run URLs), for every worker.
    facts: RunFacts = field(default_factory=RunFacts)
    printer: LinePrinter | None = None
    #: Where the workers tell their live log lines and ask for the run services' state.
    channel: ChannelServer | None = None
    #: One preload server per preloaded service, and the run-scoped services.
    preload_servers: dict[str, PreloadServer] = field(default_factory=dict)
    run_stack: Stack | None = None
    run_watch: RunWatch | None = None
    #: The run's hold on its output folder.
    output_claim: OutputClaim | None = None
    #: The end-of-run summary: one line per step, worker and casualty.
    start_lines: list[str] = field(default_factory=list)
    #: The run steps (template, builds), cancelled on close.
    steps: StepRunner | None = None
    #: The template step, running while the workers start what does not need it.
    template: threading.Thread | None = None
    #: Told at once about long work as it starts (a build, and why it is not cached).
    say: Callable[[str], None] | None = None
    #: Told what the workers tell of their stacks' start (each service ready, each
    #: stack's line); set before ``start``, it asks for the channel they tell it on.
    progress: StackProgress | None = None
    #: The stacks of ``stackwright up`` this run claimed, when its workers attach to them.
    kept: KeptClaim | None = None
    _plan: KeptPlan | None = None
    #: The preload servers' start, begun by ``prepare``.
    _early_preload: threading.Thread | None = None

    def prepare(self, *, workers: int, keep: Sequence[Path] = ()) -> None:
        """As early as the configuration is known (before pytest's header): claim the
        output folder, decide whether the run attaches to kept stacks, and, when it boots
        its own, start the preload servers' imports at once (a backend that imports for
        seconds is on the critical path of every start). Nothing is printed here."""
        self._claim(keep)
        self._plan = plan_kept(self.config, self.base_env, workers=workers)
        if not self._plan.covers(workers) and self._early_preload is None:
            self._early_preload = threading.Thread(
                target=self._start_preload_servers, name="preload-servers", daemon=True
            )
            self._early_preload.start()

    def start(
        self, *, workers: int, port_blocks: int, relay: bool, keep: Sequence[Path] = ()
    ) -> None:
        """Open the run: attach to kept stacks when they cover every worker (nothing
        boots then), else open it as usual (and the workers that can still attach)."""
        plan = self._plan = self._plan or plan_kept(self.config, self.base_env, workers=workers)
        if plan.line:
            self.start_lines.append(f"run: {plan.line}")
            if self.say is not None:
                self.say(plan.line)
        self.kept = plan.claim
        if plan.covers(workers):
            assert plan.claim is not None
            self._claim(keep)
            # The run services' state is up's to tell; the live lines are this run's.
            self.facts = plan.claim.state.facts.learned(relay_address=self._relay(relay))
            return
        self.open(port_blocks=port_blocks, relay=relay, keep=keep)
        if self.kept is not None:
            self.kept = replace(self.kept, opened=True)
        if self.template is not None and self.template.is_alive() and self.say is not None:
            waiting = [spec.name for spec in self.config.scoped("worker") if spec.names("db")]
            self.say(
                f"{workers} worker stack{'s' if workers > 1 else ''} starting while the "
                f"template database seeds; {', '.join(waiting) or 'the tests'} "
                f"wait{'s' if len(waiting) == 1 else ''} for it"
            )

    def open(self, *, port_blocks: int, relay: bool, keep: Sequence[Path] = ()) -> None:
        """Get everything the workers share ready, learning the run's facts on the way.

        ``port_blocks`` is how many workers may start a stack (replacements of
        crashed ones included); ``relay`` asks for a live-log relay for them;
        ``keep`` are files this run already wrote into the output folder (a report's
        assets). Raises HarnessError (the run cannot go on); whatever was started is stopped.
        """
        config = self.config
        self._claim(keep)
        block = max(MIN_PORT_BLOCK, 4 * len(config.services))
        ports = RunFacts(choose_run_base(port_blocks + 1, block), block, port_blocks)
        cache = StepCache(
            config.cache_path, max_bytes=bytes_of(config.cache_max_mb), mode=config.cache
        )
        self.steps = StepRunner(
            config.services_dir, Path(config.root), self.base_env, cache, on_start=self.say
        )
        try:
            # At once: the run-scoped services, each build, and the preload servers. The
            # template (which may name the run services' URLs) is not waited for: the
            # workers start what does not need it meanwhile (``wait_for_template``).
            work: dict[str, Callable[[], Any]] = {
                "run services": lambda: self._run_services_then_template(ports),
                "preload servers": self._preload_servers_started,
            }
            for step in config.build_steps:
                work[step.name] = partial(self._run_step, step, ports)
            results = run_together(work, on_failure=self.steps.cancel)
        except BaseException:
            self.close()
            raise
        run_address = None
        if self.run_stack is not None:
            self.run_watch = RunWatch(self.run_stack, on_event=self.start_lines.append).start()
            run_address = self._serve().address
        # What every worker gets, once, beside the settings.
        self.facts = ports.learned(
            run_dir=str(config.services_dir / "run"),
            run_urls=results["run services"],
            preload_addresses=results["preload servers"],
            relay_address=self._relay(relay),
            run_address=run_address,
        )

    def _relay(self, relay: bool) -> str | None:
        """Where the workers tell their streamed lines and stack lines, when a relay is
        asked for and someone listens."""
        streamed = self.printer is not None and bool(self.config.stream_logs)
        if relay and (streamed or self.progress is not None):
            return self._serve().address
        return None

    def _serve(self) -> ChannelServer:
        """The controller's channel, started once."""
        if self.channel is None:
            address = abstract_address("run", f"{os.getpid()}-{secrets.token_hex(8)}")
            self.channel = ChannelServer(address, self._answer, what="the run's controller").start()
        return self.channel

    def _answer(self, connection: Connection, name: str, args: dict[str, Any]) -> Any:
        """A worker's call: ``line`` (a live log line to print), ``ready`` (a service of
        its stack), ``stack`` (its stack's line) or ``run_state``."""
        printer, watch, progress = self.printer, self.run_watch, self.progress
        if name == "line" and printer is not None:
            printer.print(str(args["worker"]), str(args["service"]), str(args["line"]))
            return None
        if name == "ready" and progress is not None:
            progress.service_ready(str(args["worker"]), str(args["service"]))
            return None
        if name == "stack" and progress is not None:
            progress.stack_up(str(args["worker"]), str(args["line"]), up=bool(args["up"]))
            return None
        if name in ("ready", "stack"):  # told while nobody draws the stacks' line
            return None
        if name == "run_state" and watch is not None:
            return watch.state.to_dict()
        raise HarnessError(f"the run's controller does not answer {name!r}")

    def _claim(self, keep: Sequence[Path]) -> None:
        """Take the output folder for this run (once), and make its services' folder:
        databases, logs and preload sockets, this user's alone whatever the umask."""
        if self.output_claim is None:
            self.output_claim = claim_output_dir(Path(self.config.output_dir), keep=keep)
            self.config.services_dir.mkdir(mode=0o700, exist_ok=True)
            self.config.services_dir.chmod(0o700)

    def _run_services_then_template(self, facts: RunFacts) -> dict[str, str]:
        """The run-scoped services' URLs, once they are ready; the template then starts
        in the background."""
        config, step = self.config, self.config.template_step
        side = config.data_root if step is not None and config.data_services else None
        missed = None
        if step is not None and side is not None:
            # Before those services start: the seed's database and their data, cached
            # together, make the seed unnecessary.
            assert self.steps is not None
            started = time.perf_counter()
            claim_private_folder(config)
            missed = self.steps.restore(
                step, run_values(config, facts), side, database_for(config, facts)
            )
            if missed is None:
                self.start_lines.append(
                    f"{step.what}: from the cache with the data of "
                    f"{', '.join(config.data_services)} in {time.perf_counter() - started:.2f}s"
                )
        run_urls = self._start_run_services(facts)
        if step is not None and (side is None or missed is not None):
            run_facts = facts.learned(run_urls=run_urls)
            self.template = threading.Thread(
                target=self._make_template,
                args=(step, run_facts, side, missed),
                name="template",
                daemon=True,
            )
            self.template.start()
        return run_urls

    def _make_template(
        self, step: RunStep, facts: RunFacts, side: Path | None, missed: str | None
    ) -> None:
        """The template step, its failure published for the workers that wait for it."""
        database = database_for(self.config, facts)
        try:
            assert self.steps is not None
            values = run_values(self.config, facts)
            self._finished(
                self.steps.run(step, values, side=side, missed=missed, database=database)
            )
        except HarnessError as exc:
            self.start_lines.append(f"{step.what}: failed; every stack that needs it fails")
            publish_template_failure(self.config, str(exc))
        except BaseException as exc:  # a bug, or the run is being stopped
            publish_template_failure(self.config, f"{step.what}: {type(exc).__name__}: {exc}")
        finally:
            database.close()

    def _run_step(self, step: RunStep, facts: RunFacts) -> None:
        assert self.steps is not None
        self._finished(self.steps.run(step, run_values(self.config, facts)))

    def _finished(self, line: str) -> None:
        """A run step's line: said at once (a long build or seed says when it ended), and
        kept for the end-of-run summary."""
        self.start_lines.append(line)
        if self.say is not None:
            self.say(line)

    def _start_run_services(self, facts: RunFacts) -> dict[str, str]:
        config = self.config
        if not config.scoped("run"):
            return {}
        stack = Stack(config, facts, scope="run", base_env=self.base_env, on_line=self._on_run_line)
        self.run_stack = stack.start()
        self.start_lines.append(f"run: {stack.report.summary()}")
        return dict(stack.urls)

    def _preload_servers_started(self) -> dict[str, str]:
        """The preload servers' addresses: those ``prepare`` started, or started now."""
        early, self._early_preload = self._early_preload, None
        if early is None:
            return self._start_preload_servers()
        early.join()
        return {name: server.address for name, server in self.preload_servers.items()}

    def _start_preload_servers(self) -> dict[str, str]:
        """One server per service with preload modules, by address; the summary says once
        why a service is not preloaded."""
        self.preload_servers, reasons = start_servers(self.config, self.base_env)
        addresses = {name: server.address for name, server in self.preload_servers.items()}
        for name, reason in reasons.items():
            self.start_lines.append(f"{name}: not preloaded ({reason}); started with exec")
        return addresses

    def _on_run_line(self, service: str, line: str) -> None:
        if service in self.config.stream_logs and self.printer is not None:
            self.printer.print("run", service, line)

    def _remove_services_dir(self) -> None:
        """Controller, at the very end: drop the template, the builds and the run-scoped
        services' files too when no worker kept its folder (a worker keeps it when one of
        its tests failed)."""
        folder = self.config.services_dir
        if not (self.config.keep_service_files or kept_worker_folders(folder)):
            shutil.rmtree(folder, ignore_errors=True)
        private = self.config.data_root.parent
        if private != folder:  # the run services' data, outside the output folder
            shutil.rmtree(private, ignore_errors=True)

    def close(self) -> None:
        """Stop and release everything the controller started; safe to call twice (a run
        that fails to open is closed at once, and again when pytest finishes)."""
        if self.steps is not None:
            self.steps.cancel()
        for thread in (self._early_preload, self.template):  # each ends once cancelled
            if thread is not None:
                thread.join()
        self._early_preload = self.template = None
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
        self._remove_services_dir()
        if self.channel is not None:
            self.channel.stop()
        if self.printer is not None:
            self.printer.close()
        self.channel = self.printer = None
        if self.output_claim is not None:
            self.output_claim.release()
            self.output_claim = None
        if self._plan is not None:  # the claimed kept stacks are free for the next run
            self._plan.close()


def kept_worker_folders(services_dir: Path) -> list[Path]:
    """The worker folders (``gwN``, or ``main`` without xdist) left in ``services_dir``;
    the run's own folders (its services', builds, preload sockets) are not among them."""
    if not services_dir.is_dir():
        return []
    folders = services_dir.iterdir()
    return [path for path in folders if path.is_dir() and WORKER_NAME.match(path.name)]


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
