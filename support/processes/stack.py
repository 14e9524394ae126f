"""A stack: the configured services of one scope, started together.

A worker's stack holds the worker-scoped services (one set per xdist worker,
with its own database); the run's stack, started by the controller before any
worker, holds the run-scoped ones (stand-ins for object storage, mail, a queue).

Ports are chosen first, so every URL is known before anything starts and the
services boot in parallel: the stack is ready when its slowest service is. A
service that loses its port to another process is retried on new ports, within
one deadline for the whole start, on one clock for processes and probes.
"""

from __future__ import annotations

import functools
import os
import pwd
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

from stackwright.support.config.facts import RunFacts, run_values
from stackwright.support.config.services import ServiceSpec
from stackwright.support.config.settings import HarnessConfig
from stackwright.support.database import (
    WorkerDatabase,
    claim_private_folder,
    database_for,
    reset_database,
    wait_for_template,
)
from stackwright.support.errors import (
    ExitedBeforeReady,
    NodeModulesMissing,
    PortUnavailable,
    ReadinessRejected,
    ReadinessTimeout,
    ServiceDown,
    ServiceError,
    WorkingDirectoryMissing,
    tail_of,
)
from stackwright.support.processes.health import (
    ANSWER_TIMEOUT,
    activity,
    down_state,
    process_state,
)
from stackwright.support.processes.logs import size_of
from stackwright.support.processes.ports import PortAllocator, PortsExhausted, is_free
from stackwright.support.processes.process import LineSink, ServiceProcess
from stackwright.support.readiness import Probe, Where, kind_of

PORT_ATTEMPTS = 3
#: How long a readiness URL may answer one unchanging 4xx before the start fails.
REFUSED_LIMIT = 3.0
STOP_GRACE = 5.0


class Keeper(Protocol):
    """Where a kept stack's operations run: the process that keeps it (``support.kept``)."""

    def call(self, operation: str, **args: Any) -> Any: ...

    def lost(self) -> str | None:
        """Why the keeper, and the stack with it, went away; None while it holds it."""

    def let_go(self) -> None: ...


#: A test's end is settled when no service's thread ran or wrote a byte for this long,
#: or after the limit (a service that is never idle: a busy loop, a 1 ms poller).
SETTLE_QUIET = 0.002
SETTLE_LIMIT = 0.1

#: The operations of a stack, by name: what a worker and a test ask of it. A stack of the
#: run's own runs them here; a kept one asks its keeper, which answers a name of this
#: allow-list (and nothing else) by running the same method on its own stack.
OPERATIONS: dict[str, Callable[..., Any]] = {}

F = TypeVar("F", bound=Callable[..., Any])


def operation(method: F) -> F:
    """Make ``method`` a stack operation: written once, run where the stack's processes
    are (keyword arguments only, a JSON value or a HarnessError as its result)."""
    OPERATIONS[method.__name__] = method

    @functools.wraps(method)
    def run(self: Stack, **args: Any) -> Any:
        if self.keeper is not None:
            return self.keeper.call(method.__name__, **args)
        return method(self, **args)

    return run  # type: ignore[return-value]


class _PortLost(Exception):
    def __init__(self, service: str, port: int) -> None:
        super().__init__(service, port)
        self.service = service
        self.port = port


@dataclass
class StartReport:
    """How long each service took to answer its readiness URL, in seconds."""

    services: dict[str, float] = field(default_factory=dict)
    total: float = 0.0
    attempts: int = 1
    #: Services forked by the preload server rather than started with exec.
    preloaded: set[str] = field(default_factory=set)
    #: Seconds the services naming ``{db}`` waited for the run's template (its seed).
    template_wait: float = 0.0

    def summary(self) -> str:
        parts = " ".join(
            f"{name} {seconds:.2f}s" + (" preloaded" if name in self.preloaded else "")
            for name, seconds in self.services.items()
        )
        waited = (
            f", {self.template_wait:.2f}s of it waiting for the template"
            if self.template_wait >= 0.01
            else ""
        )
        return f"stack ready in {self.total:.2f}s ({parts}{waited})" + (
            f" after {self.attempts} port attempts" if self.attempts > 1 else ""
        )


class Stack:
    """The services of one scope, each on its own port; a worker's has its own database."""

    def __init__(
        self,
        config: HarnessConfig,
        facts: RunFacts,
        *,
        worker: str = "gw0",
        worker_index: int = 0,
        scope: str = "worker",
        base_env: Mapping[str, str] | None = None,
        on_line: LineSink | None = None,
        clock: Callable[[], float] = time.monotonic,
        sequential: bool = False,
        worker_dir: Path | None = None,
        keeper: Keeper | None = None,
        on_ready: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config
        self.facts = facts
        self.scope = scope
        self.specs = config.scoped(scope)
        self.worker = worker if scope == "worker" else "run"
        self.worker_dir = worker_dir or config.services_dir / self.worker
        #: Who runs this stack's operations when another process keeps it (None: this one).
        self.keeper = keeper
        self.db_path = self.worker_dir / "db.sqlite"  # {db}: this worker's copy of the template
        self._database: WorkerDatabase | None = None
        block = worker_index if scope == "worker" else facts.run_block
        self.ports = PortAllocator(facts.port_base, block, facts.port_block, host=config.host)
        self.base_env = dict(os.environ if base_env is None else base_env)
        self.on_line = on_line
        #: Told each service's name as it becomes ready.
        self.on_ready = on_ready
        self.clock = clock
        self.sequential = sequential
        self.processes: dict[str, ServiceProcess] = {}
        self.urls: dict[str, str] = {}
        #: The port of each service, once chosen; a restart keeps them.
        self.ports_in_use: dict[str, int] = {}
        self.report = StartReport()

    # -- what a test sees ------------------------------------------------------------

    def url(self, name: str) -> str:
        """The base URL of any configured service, this stack's or the run's."""
        if name in self.urls:
            return self.urls[name]
        if name in self.facts.run_urls:
            return self.facts.run_urls[name]
        known = ", ".join([*self.urls, *self.facts.run_urls]) or "none yet"
        raise KeyError(f"no service named {name!r} has a URL (known: {known})")

    @property
    def log_paths(self) -> dict[str, Path]:
        """Every service log a test's slice covers: this stack's, and the run's services'
        (whose lines come from every worker)."""
        paths = {spec.name: self._log_path(spec.name) for spec in self.specs}
        if self.scope == "worker":
            run_dir = self.run_dir
            for spec in self.config.scoped("run"):
                paths[spec.name] = run_dir / f"{spec.name}.log"
        return paths

    @property
    def log_owners(self) -> dict[str, tuple[str, str]]:
        """The run's services whose log says which worker each line is for: (the regex,
        this worker). A slice keeps this worker's lines of them (see ``LogMarks``)."""
        if self.scope != "worker":
            return {}
        return {
            spec.name: (spec.log_owner, self.worker)
            for spec in self.config.scoped("run")
            if spec.log_owner
        }

    @property
    def run_dir(self) -> Path:
        """The folder of the run-scoped services this stack uses (their logs, their state)."""
        return Path(self.facts.run_dir or self.config.services_dir / "run")

    def _log_path(self, name: str) -> Path:
        """The log of one of this stack's own services."""
        return self.worker_dir / f"{name}.log"

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> Self:
        """Start every service and wait until each is ready; stop them all on failure."""
        return self._boot(None)

    @operation
    def restart(self) -> str:
        """Stop every service and start them again on the same ports, with a fresh database;
        the new start's summary.

        The ports stay: the worker's pages and fixtures already hold its URLs.
        """
        ports = dict(self.ports_in_use)
        self.stop()
        self.report = StartReport()
        return self._boot(ports).report.summary()

    def _boot(self, fixed_ports: dict[str, int] | None) -> Self:
        started = self.clock()
        # One deadline for the whole start, port retries included.
        deadline = started + max((spec.timeout for spec in self.specs), default=0.0)
        for spec in self.specs:
            self._check_node_modules(spec)
            self._check_cwd(spec)
        try:
            for attempt in range(1, PORT_ATTEMPTS + 1):
                self.report.attempts = attempt
                try:
                    self._start_once(fixed_ports or self._new_ports(), deadline)
                    break
                except _PortLost as lost:
                    self.stop()
                    if attempt == PORT_ATTEMPTS or fixed_ports or self.clock() > deadline:
                        raise self._port_error(lost, attempt, restart=bool(fixed_ports)) from None
        except BaseException:
            self.stop()
            raise
        self.report.total = self.clock() - started
        # Said in the configured order, whichever answered first: workers' lines compare.
        ready = self.report.services
        self.report.services = {s.name: ready[s.name] for s in self.specs if s.name in ready}
        return self

    def _new_ports(self) -> dict[str, int]:
        try:
            return {spec.name: self.ports.take() for spec in self.specs}
        except PortsExhausted as exc:
            raise PortsExhausted(f"the stack of {self.worker} cannot start: {exc}") from None

    def _port_error(self, lost: _PortLost, attempt: int, *, restart: bool) -> ServiceError:
        hint = "stop whatever keeps taking ports in this range, or run again"
        if restart:
            hint = (
                "another process took the port while the stack restarted; the rest of "
                "this worker's tests fail with this message. " + hint
            )
        return self._error(
            PortUnavailable, lost.service, port=lost.port, attempts=attempt, hint=hint
        )

    def _start_once(self, ports: dict[str, int], deadline: float) -> None:
        """Start every service and wait until each is ready. The services that name
        ``{db}`` start once the run's template is there (the others start at once,
        while the seed may still run); the wait does not count against their timeout."""
        self.ports_in_use = ports
        self.urls = {name: f"http://{self.config.host}:{port}" for name, port in ports.items()}
        probes: dict[str, Probe] = {}
        later = [spec for spec in self.specs if spec.needs_database]
        first = [spec for spec in self.specs if spec not in later]
        for group in (first, later):
            if group is later and self.scope == "worker":
                # Meanwhile the first services' readiness is polled (and their exits seen).
                poll_first = partial(self._poll_ready, probes, ports, deadline)
                waited = wait_for_template(self.config, on_wait=poll_first)
                self.report.template_wait += waited
                deadline += waited
                self.database.create()
            for spec in group:
                process = self.processes[spec.name] = self._spawn(spec, ports[spec.name])
                probes[spec.name] = self._probe(spec, ports[spec.name], process)
                if self.sequential:
                    self._wait_ready({spec.name: probes[spec.name]}, ports, deadline)
        self._wait_ready(probes, ports, deadline)

    def _probe(self, spec: ServiceSpec, port: int, process: ServiceProcess) -> Probe:
        target = spec.render_ready(self._placeholders(port), self.base_env)
        check = kind_of(spec.ready[0]).checker(self._where(spec.name, process), target)
        return Probe(check, clock=self.clock)

    def _where(self, name: str, process: ServiceProcess | None = None) -> Where:
        """What a readiness check of ``name`` may look at."""
        process = process or self.processes.get(name)
        spec = self.config.service(name)
        return Where(
            url=self.urls.get(name, ""),
            host=self.config.host,
            port=self.ports_in_use.get(name, 0),
            log_path=self._log_path(name),
            log_offset=process.log_offset if process is not None else 0,
            cwd=self._cwd(spec),
            env=(process.env if process is not None and process.env is not None else {}),
        )

    def _spawn(self, spec: ServiceSpec, port: int) -> ServiceProcess:
        values = self._placeholders(port)
        if spec.build:
            values["build"] = str(self.config.build_dir(spec.name))
        if self.scope == "run":
            claim_private_folder(self.config)
            data = self.config.data_root / spec.name
            data.mkdir(parents=True, exist_ok=True)
            if spec.user:
                hand_over(data, spec.user, self.config.data_root.parent)
            values["data"] = str(data)
        env = {**self.base_env, "PYTHONUNBUFFERED": "1", **spec.render_env(values, self.base_env)}
        process = ServiceProcess(
            spec.name,
            spec.render(values, self.base_env),
            log_path=self._log_path(spec.name),
            cwd=self._cwd(spec),
            env=env,
            on_line=self.on_line,
            preload=self.facts.preload_addresses.get(spec.name),
            preload_timeout=spec.timeout,
            ini_name=self.config.ini_name,
            clock=self.clock,
            user=spec.user,
        )
        try:
            return process.start()
        except ServiceError as exc:
            exc.worker = self.worker
            raise

    def _placeholders(self, port: int) -> dict[str, str]:
        return {**self.placeholders(), "port": str(port)}

    def placeholders(self) -> dict[str, str]:
        """What a template may name here: every URL and port known, and for a worker
        its database and folder."""
        values = run_values(self.config, self.facts)
        for name, port in self.ports_in_use.items():
            values[f"{name}_url"] = self.urls[name]
            values[f"{name}_port"] = str(port)
        if self.scope == "worker":
            values.update(self.database.values)
            values.update(worker=self.worker, worker_dir=str(self.worker_dir))
        return values

    @property
    def database(self) -> WorkerDatabase:
        """This worker's database (made from the run's template when its services start)."""
        if self._database is None:
            run = database_for(self.config, self.facts)
            self._database = run.worker(self.worker, self.worker_dir)
        return self._database

    def _wait_ready(self, probes: dict[str, Probe], ports: dict[str, int], deadline: float) -> None:
        while self._poll_ready(probes, ports, deadline):
            pending = [p.next_at for p in probes.values() if p.ready_at is None]
            time.sleep(max(0.001, min(pending) - self.clock()))

    def _poll_ready(self, probes: dict[str, Probe], ports: dict[str, int], deadline: float) -> bool:
        """Check each service not ready yet once; whether any is still waiting."""
        waiting = [name for name, probe in probes.items() if probe.ready_at is None]
        for name in waiting:
            self._check_one(name, probes[name], ports[name], deadline)
        return any(probe.ready_at is None for probe in probes.values())

    def _check_one(self, name: str, probe: Probe, port: int, deadline: float) -> None:
        process = self.processes[name]
        code = process.exit_code()
        if code is not None:
            if not is_free(port, self.config.host):
                raise _PortLost(name, port)
            process.wait_drained()
            raise self._error(
                ExitedBeforeReady, name, exit_code=code, hint=_exit_hint(name, self.config.ini_name)
            )
        if probe.due() and probe.poll():
            self.report.services[name] = probe.ready_at - process.started_at  # type: ignore[operator]
            if process.preloaded:
                self.report.preloaded.add(name)
            if self.on_ready is not None:
                self.on_ready(name)
            return
        spec = self.config.service(name)
        if probe.refused_for() >= REFUSED_LIMIT and isinstance(probe.last, int):
            raise self._error(
                ReadinessRejected,
                name,
                status=probe.last,
                seconds=probe.refused_for(),
                hint=f"set {name}_ready in {self.config.ini_name} to 'http PATH' with a path that "
                "answers 2xx once the service is ready",
            )
        now = self.clock()
        if now - process.started_at > spec.timeout or now > deadline:
            raise self._error(
                ReadinessTimeout,
                name,
                timeout=spec.timeout,
                pid=process.pid,
                last_status=probe.describe_last(),
                hint=f"run the command above by hand, or raise {name}_timeout in "
                f"{self.config.ini_name} (or --service-timeout)",
            )

    def _error(self, kind: type[ServiceError], name: str, **fields: object) -> ServiceError:
        process = self.processes.get(name)
        spec = self.config.service(name)
        readiness, target = kind_of(spec.ready[0]), spec.ready[1]
        log_path = self._log_path(name)
        return kind(
            service=name,
            worker=self.worker,
            command=process.command if process else [spec.command],
            log_path=log_path,
            url=self.urls.get(name, "") + (target if spec.ready[0] == "http" else ""),
            waits_for=readiness.awaited(self._where(name), target),
            log_tail=tail_of(log_path, skip=readiness.log_noise(target)),
            **fields,  # type: ignore[arg-type]
        )

    def _check_node_modules(self, spec: ServiceSpec) -> None:
        cwd = self._cwd(spec)
        if (cwd / "package.json").exists() and not (cwd / "node_modules").is_dir():
            raise NodeModulesMissing(
                service=spec.name,
                worker=self.worker,
                command=[spec.command],
                directory=cwd,
                hint=f"run 'npm ci' in {cwd}",
            )

    def _cwd(self, spec: ServiceSpec) -> Path:
        return Path(self.config.root, spec.cwd)

    def _check_cwd(self, spec: ServiceSpec) -> None:
        cwd = self._cwd(spec)
        if not cwd.is_dir():
            raise WorkingDirectoryMissing(
                service=spec.name,
                worker=self.worker,
                command=[spec.command],
                directory=cwd,
                hint=f"create it, or fix {spec.name}_cwd in {self.config.ini_name} "
                "(a relative path starts at the rootdir)",
            )

    def restart_service(self, name: str) -> float:
        """Stop one service and start it again on its port (its code changed); the
        seconds it took. The other services, and the database, stay as they are."""
        started = self.clock()
        spec = self.config.service(name)
        process = self.processes.pop(name, None)
        if process is not None:
            process.stop(STOP_GRACE)
        port = self.ports_in_use[name]
        try:
            self.processes[name] = process = self._spawn(spec, port)
            probe = self._probe(spec, port, process)
            self._wait_ready({name: probe}, {name: port}, started + spec.timeout)
        except _PortLost as lost:
            raise self._port_error(lost, 1, restart=True) from None
        return self.clock() - started

    @operation
    def health(self, *, ask: bool = True, timeout: float = ANSWER_TIMEOUT) -> ServiceDown | None:
        """Why the running stack cannot serve the next test, or None when every service can.

        The processes are looked at first (an exit or a stopped process is seen at
        once); then, with ``ask``, each readiness URL must answer 2xx within ``timeout``.
        """
        for name, process in self.processes.items():
            code = process.exit_code()
            if code is not None:
                process.wait_drained()
                return self._down(name, exit_code=code)
            state = down_state(process.pid)
            if state is not None:
                return self._down(name, state=f"the process (pid {process.pid}) is {state}")
        for name, process in self.processes.items() if ask else ():
            why, what = self._unanswered(name, timeout)
            if why is not None:
                state = process_state(process.pid) or "still running"
                return self._down(
                    name,
                    state=f"{what} gave {why} (limit {timeout:g} s); "
                    f"the process (pid {process.pid}) is {state}",
                )
        return None

    def _unanswered(self, name: str, timeout: float) -> tuple[str | None, str]:
        """Why a running service does not answer as its readiness says it should."""
        spec = self.config.service(name)
        target = spec.render_ready(self._placeholders(self.ports_in_use[name]), self.base_env)
        return kind_of(spec.ready[0]).still_answers(self._where(name), target, timeout)

    def _down(self, name: str, **fields: object) -> ServiceDown:
        hint = (
            "read the log above: it ends where the service went down. This worker "
            "restarts its stack (same ports, fresh database) before its next test"
        )
        if self.scope == "run":
            hint = (
                "read the log above: it ends where the service went down. The controller "
                "restarts the run's services (same ports) at once"
            )
        return self._error(ServiceDown, name, hint=hint, **fields)  # type: ignore[return-value]

    @operation
    def sync_logs(self) -> None:
        """Wait until everything the services have written so far is in their log files."""
        for process in self.processes.values():
            process.sync()

    @operation
    def settle_logs(
        self, quiet: float = SETTLE_QUIET, limit: float = SETTLE_LIMIT, also: Sequence[int] = ()
    ) -> float:
        """Wait until every service, and each process of ``also`` (the browser's that
        close a page's connections), has been idle (no thread runnable or woken, no byte
        written) for ``quiet`` seconds, at most ``limit``; then every byte is in the logs. What a
        test set off as it ended (its page's disconnect, the callback that follows) is
        written by then, and belongs to that test. The seconds it took."""
        started = time.monotonic()
        last, since = None, started
        while True:
            now = time.monotonic()
            sample = [
                (*activity(process.pid), size_of(process.log_path))
                for process in self.processes.values()
                if process.pid is not None
            ] + [(*activity(pid), 0) for pid in also]
            if sample != last or any(runnable for runnable, _, _ in sample):
                last, since = sample, now
            elif now - since >= quiet:
                break  # nothing ran or wrote from ``since`` to this last look
            if now - started >= limit:
                break
            time.sleep(quiet / 2)
        self.sync_logs()
        return time.monotonic() - started

    @operation
    def reset_db(self) -> dict[str, Any]:
        """Restore the seeded data (``db_reset``, or the template); what the reset said."""
        return reset_database(self.config, self.database, self.placeholders())

    def stop(self) -> dict[str, int | None]:
        """Stop the services in the reverse of their start order; idempotent. A kept stack
        is let go instead: its keeper's processes run on for the next run."""
        if self.keeper is not None:
            self.keeper.let_go()
            return {}
        codes = {}
        if self._database is not None:
            self._database.close()
        for name in reversed([spec.name for spec in self.specs]):
            process = self.processes.pop(name, None)
            if process is not None:
                codes[name] = process.stop(STOP_GRACE)
        return codes

    def keep_database(self) -> str:
        """This worker's database left in its kept folder for a person to read; a line
        saying where or why not ('' when nothing is said). A kept stack's files are its
        keeper's."""
        if self.keeper is not None or self._database is None:
            return ""
        return self._database.keep()

    def remove_files(self) -> None:
        if self.keeper is None:  # a kept stack's files are its keeper's
            shutil.rmtree(self.worker_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def hand_over(folder: Path, user: str, top: Path) -> None:
    """Give a service that runs as ``user`` (the harness being root) its own folder, and
    a way through the folders above it up to ``top``, which stay the harness's: their
    group becomes the user's, with search permission only."""
    if os.geteuid() != 0:
        return
    entry = pwd.getpwnam(user)
    for path in [folder, *folder.rglob("*")]:
        if not path.is_symlink():
            os.chown(path, entry.pw_uid, entry.pw_gid)
    above = folder.parent
    while above == top or top in above.parents:
        os.chown(above, -1, entry.pw_gid)
        above.chmod(0o710)
        above = above.parent


def _exit_hint(name: str, ini: str) -> str:
    return (
        f"read the {name} log above; run the command by hand to reproduce, "
        f"or check the command and environment in {ini}"
    )
