"""``stackwright up [-n N]``: boot what a run boots, keep it, and serve the runs that attach.

It reads the configuration as a run does (the same ini, ``.env.test``, environment and
harness options) and opens the run the same way (``Controller``): run-scoped services,
run steps from the cache, preload servers; then it starts N worker stacks and prints
every URL. Every service's log streams to the terminal with its ``[gw0 backend]``
prefix. A pytest run of the same configuration then attaches to these stacks
(``support.kept``) over one channel: ``up`` answers the stack operations by name, and
before a run attaches, restarts each kept service whose code changed.

Ctrl-C, SIGTERM or ``stackwright down`` stops everything: the channel closes first (no
run attaches to a stack that is stopping, and an attached run sees it go), then every
process is stopped.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import select
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from stackwright.support.config import (
    HarnessConfig,
    Sources,
    fill_text,
    read_ini,
    resolve_config,
)
from stackwright.support.config.envfile import run_environment
from stackwright.support.controller import Controller, run_together
from stackwright.support.errors import ChannelError, HarnessError, KeptUnavailable, PeerGone
from stackwright.support.kept import (
    UP,
    KeptEntry,
    KeptState,
    fingerprint,
    kept_folder,
    kept_folders,
    up_address,
)
from stackwright.support.processes import (
    Channel,
    ChannelServer,
    Connection,
    LinePrinter,
    Stack,
)
from stackwright.support.processes.preload import start_server
from stackwright.support.processes.stack import OPERATIONS
from stackwright.support.steps.cache import input_files

#: The output folder of ``up``'s own run, inside the kept folder.
UP_OUTPUT = "up"


def load_config(
    ini: Path, cli: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> tuple[HarnessConfig, dict[str, str]]:
    """The configuration a pytest run of ``ini`` with the harness options ``cli`` would
    resolve, and the environment it starts from; ConfigError naming the fix."""
    if not ini.is_file():
        raise KeptUnavailable(f"{ini} is not a file; pass the suite's ini with -c")
    root = ini.resolve().parent
    env = run_environment(root, environ)
    output = str(kept_folder(root) / UP_OUTPUT)
    sources = Sources(root, output, dict(cli or {}), env, read_ini(ini), ini_name=ini.name)
    return resolve_config(sources), env


class Up:
    """The kept stacks and what serves them."""

    def __init__(
        self,
        config: HarnessConfig,
        env: dict[str, str],
        *,
        workers: int,
        say: Callable[[str], None],
        printer: LinePrinter | None,
    ) -> None:
        # Every service's log streams here: this terminal is where a person reads them.
        self.config = replace(config, stream_logs=frozenset(config.names))
        self.env = env
        self.workers = workers
        self.say = say
        self.printer = printer
        self.folder = kept_folder(config.root)
        self.controller = Controller(self.config, env, printer=printer, say=say)
        self.stacks: list[Stack] = []
        self.state: KeptState | None = None
        self.server: ChannelServer | None = None
        self._locks: list[threading.Lock] = []
        #: Which run holds each claimed stack (its token), by the stack's index.
        self._claims: dict[int, str] = {}
        self._claiming = threading.Lock()
        #: The digest of each worker service's code, as its running processes have it.
        self._sources: dict[str, str] = {}

    def open(self) -> KeptState:
        """Listen, boot everything, and publish it; raises HarnessError with everything
        stopped. Listening comes first: a second ``up`` is refused while this one boots."""
        kept_folders(self.config.root, make=True)
        self.server = _listen(self.config.root, self)
        try:
            self.controller.open(port_blocks=self.workers, relay=False)
            facts = self.controller.facts
            self.stacks = [
                Stack(
                    self.config,
                    facts,
                    worker=f"gw{index}",
                    worker_index=index,
                    base_env=self.env,
                    on_line=self._printer_for(f"gw{index}"),
                )
                for index in range(self.workers)
            ]
            self._locks = [threading.Lock() for _ in self.stacks]
            run_together(
                {stack.worker: stack.start for stack in self.stacks},
                on_failure=lambda: None,
            )
            self._sources = self._code()
            self.state = KeptState(
                pid=os.getpid(),
                facts=facts,
                parts=fingerprint(self.config, self.env),
                stacks=tuple(KeptEntry.of(stack) for stack in self.stacks),
            )
            return self.state
        except BaseException:
            self.close()
            raise

    def _printer_for(self, worker: str) -> Callable[[str, str], None]:
        def on_line(service: str, line: str) -> None:
            if self.printer is not None:
                self.printer.print(worker, service, line)

        return on_line

    def summary(self) -> list[str]:
        return list(self.controller.start_lines) + [
            f"{stack.worker}: {stack.report.summary()}" for stack in self.stacks
        ]

    # -- the calls a run makes --------------------------------------------------------

    def handle(self, connection: Connection, name: str, args: dict[str, Any]) -> Any:
        """One call of a run: its state, a claim, ``down``, or a stack operation."""
        if name == "state":
            if self.state is None:
                raise KeptUnavailable(f"{UP} (pid {os.getpid()}) is still booting")
            return self.state.to_dict()
        if name == "claim":
            return self._claim(connection, int(args.get("count") or 1))
        if name == "down":
            threading.Thread(target=os.kill, args=(os.getpid(), signal.SIGTERM)).start()
            return {"pid": os.getpid()}
        if name in OPERATIONS:
            index = self._claimed(args.get("stack"), args.get("token"))
            with self._locks[index]:
                stack = self.stacks[index]
                if name == "restart":
                    self.say(f"{stack.worker}: restarting (asked by an attached run)")
                return OPERATIONS[name](stack, **dict(args.get("args") or {}))
        raise KeptUnavailable(f"{UP} answers no call named {name!r}")

    def _claimed(self, index: Any, token: Any) -> int:
        if not isinstance(index, int) or not 0 <= index < len(self.stacks):
            raise KeptUnavailable(f"{UP} keeps no stack {index!r}")
        if self._claims.get(index) != token:
            raise KeptUnavailable(f"kept stack {index} is not claimed by this run")
        return index

    def _claim(self, connection: Connection, count: int) -> dict[str, Any]:
        """Up to ``count`` free stacks for the run on ``connection``, theirs while it is
        open; first, every service whose code changed is restarted."""
        if self.state is None:
            raise KeptUnavailable(f"{UP} (pid {os.getpid()}) is still booting")
        with self._claiming:
            restarted = self._follow_code()
            token = connection.state.setdefault("token", secrets.token_hex(16))
            free = [index for index in range(len(self.stacks)) if index not in self._claims]
            for index in free[:count]:
                self._claims[index] = token
            return {"token": token, "stacks": free[:count], "restarted": restarted}

    def release(self, connection: Connection) -> None:
        """The run on ``connection`` ended (however it ended): its stacks are free."""
        token = connection.state.get("token")
        with self._claiming:
            for index in [i for i, held in self._claims.items() if held == token]:
                del self._claims[index]

    # -- kept stacks follow the code ----------------------------------------------------

    def _code(self) -> dict[str, str]:
        """A digest of the code each worker service runs: its ``<name>_inputs``, and for
        a preloaded one the project files its preload server imported."""
        root = Path(self.config.root)
        digests = {}
        for spec in self.config.scoped("worker"):
            files = input_files(root / spec.cwd, spec.inputs) if spec.inputs else {}
            server = self.controller.preload_servers.get(spec.name)
            if server is not None:
                files.update(input_files(root, server.project_files()))
            if files:
                digests[spec.name] = str(sorted(files.items()))
        return digests

    def _follow_code(self) -> list[str]:
        """Restart each service whose code changed, in every kept stack (and its preload
        server first); a line for each."""
        code = self._code()
        changed = [name for name, digest in code.items() if self._sources.get(name) != digest]
        lines: list[str] = []
        try:
            for name in changed:
                started = time.monotonic()
                self._restart_preload_server(name)
                for index, stack in enumerate(self.stacks):
                    with self._locks[index]:
                        stack.restart_service(name)
                lines.append(
                    f"{name}'s code changed since {UP} started it, so up restarted it "
                    f"({time.monotonic() - started:.2f}s)"
                )
                self.say(lines[-1])
        finally:
            if lines:  # once, after the restarts: a new preload server imported anew
                fresh = self._code()
                for name in changed[: len(lines)]:
                    self._sources[name] = fresh.get(name, code[name])
        return lines

    def _restart_preload_server(self, name: str) -> None:
        servers = self.controller.preload_servers
        old = servers.pop(name, None)
        if old is None:
            return
        old.stop()
        with contextlib.suppress(HarnessError):  # without one, the service starts with exec
            servers[name] = start_server(self.config, self.config.service(name), self.env)
        addresses = {key: server.address for key, server in servers.items()}
        for stack in self.stacks:
            stack.facts = stack.facts.learned(preload_addresses=addresses)

    def close(self) -> None:
        """Stop answering (attached runs see ``up`` go), then stop everything; safe to
        call twice."""
        if self.server is not None:
            self.server.stop()
            self.server = None
        for stack in self.stacks:
            stack.stop()
            stack.remove_files()
        self.controller.close()


def _listen(root: str, up: Up) -> ChannelServer:
    """``up``'s channel, at the suite's address; KeptUnavailable naming the ``up`` that
    already holds it."""
    address = up_address(root)
    try:
        return ChannelServer(address, up.handle, what=UP, on_close=up.release).start()
    except ChannelError:
        pass
    try:
        holder = Channel(address, what=UP)
    except ChannelError as exc:
        raise KeptUnavailable(f"another {UP} holds the stacks of {root}: {exc}") from None
    holder.close()
    raise KeptUnavailable(
        f"{holder.named} already keeps stacks of {root}; stop it first (stackwright down)"
    )


# -- the commands ---------------------------------------------------------------------


def up(ini: Path, workers: int, cli: Mapping[str, Any] | None = None) -> int:
    """``stackwright up``: runs until Ctrl-C, SIGTERM or ``stackwright down``."""
    started = time.monotonic()

    def say(line: str) -> None:
        print(f"stackwright: {line}", flush=True)

    try:
        config, env = load_config(ini, cli)
    except HarnessError as exc:
        print(f"stackwright up: error: {exc}", file=sys.stderr)
        return 2
    say(
        f"up: booting {workers} stack{'s' if workers > 1 else ''} of "
        f"{' '.join(config.names)} from {ini}, kept in {kept_folder(config.root)}"
    )
    previous = signal.signal(signal.SIGTERM, _interrupt)
    printer = LinePrinter(sys.stdout.fileno())
    keeper = Up(config, env, workers=workers, say=say, printer=printer)
    try:
        try:
            state = keeper.open()
        except HarnessError as exc:
            print(f"stackwright up: error: {exc}", file=sys.stderr)
            return 1
        for line in keeper.summary():
            say(line)
        for entry in state.stacks:
            say(f"{entry.worker}: " + ", ".join(f"{n} {u}" for n, u in entry.urls.items()))
        for name, url in state.facts.run_urls.items():
            say(f"run: {name} {url}")
        page = _page_url(keeper)
        say(
            f"ready in {time.monotonic() - started:.1f}s{page}. A pytest run of {ini.name} "
            "attaches to these stacks; Ctrl-C or 'stackwright down' stops them"
        )
        while True:
            # Not signal.pause(): a signal the kernel hands to another thread (as it may
            # after a stopped up is woken) would never end it; the handler runs here.
            time.sleep(0.2)
    except KeyboardInterrupt:
        say("up: stopping every service")
    finally:
        keeper.close()
        signal.signal(signal.SIGTERM, previous)
    say("up: stopped; nothing is left running")
    return 0


def _page_url(keeper: Up) -> str:
    template = keeper.config.page_url
    if not template or not keeper.stacks:
        return ""
    try:
        return "; the pages: " + fill_text(
            "page_url", "URL", template, keeper.stacks[0].placeholders()
        )
    except HarnessError:
        return ""


def _interrupt(signum: int, frame: Any) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt("SIGTERM")


def down(ini: Path, timeout: float = 30.0) -> int:
    """``stackwright down``: stop the ``up`` of ``ini``'s suite and wait until it is gone.
    It is found by its channel and the kernel's word on its pid, so nothing else is
    signalled; a stopped ``up`` is woken to end."""
    root = ini.resolve().parent
    try:
        channel = Channel(up_address(root), what=UP)
    except PeerGone:
        print(f"stackwright down: no stackwright up keeps stacks of {root}")
        return 0
    except ChannelError as exc:
        print(f"stackwright down: error: {exc}", file=sys.stderr)
        return 1
    pid = channel.peer_pid
    try:
        pidfd = os.pidfd_open(pid)  # the process itself, whatever its pid becomes later
    except OSError:
        pidfd = -1
    if pidfd < 0 or not channel.is_open():  # it ended as we connected
        print(f"stackwright down: stackwright up (pid {pid}) has already stopped")
        return 0
    try:
        try:
            channel.call("down", timeout=5.0)
        except ChannelError:  # stopped (woken to end), or not answering: the signal
            signal.pidfd_send_signal(pidfd, signal.SIGTERM)
            signal.pidfd_send_signal(pidfd, signal.SIGCONT)
        channel.close()
        if select.select([pidfd], [], [], timeout)[0]:
            print(f"stackwright down: stopped stackwright up (pid {pid})")
            return 0
    finally:
        os.close(pidfd)
    print(
        f"stackwright down: stackwright up (pid {pid}) is still running after "
        f"{timeout:g}s; its output says what it waits for (kill -9 {pid} stops it, "
        "and its services with it)",
        file=sys.stderr,
    )
    return 1
