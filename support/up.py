"""``stackwright up [-n N]``: boot what a run boots, keep it, and serve the runs that attach.

It reads the same ``playwright.ini`` (and ``.env.test``) as a run and opens the run
the same way (``Controller``): run-scoped services, run steps from the cache, preload
servers; then it starts N worker stacks and prints every URL. Every service's log
streams to the terminal with its ``[gw0 backend]`` prefix. A pytest run of the same
configuration then attaches to these stacks (``support.kept``) instead of booting.

Ctrl-C, SIGTERM or ``stackwright down`` stops everything: the state is withdrawn
first (no run attaches to a stack that is stopping), then every process is stopped.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socketserver
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, replace
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
from stackwright.support.errors import HarnessError, KeptUnavailable
from stackwright.support.kept import (
    SOCKET,
    STATE,
    KeptEntry,
    KeptState,
    fingerprint,
    kept_folder,
)
from stackwright.support.processes import LinePrinter, Stack
from stackwright.support.processes.health import state_letter
from stackwright.support.processes.preload import (
    private_folder,
    remove_socket_folder,
    socket_address,
)

#: The output folder of ``up``'s own run, inside the kept folder.
UP_OUTPUT = "up"


def load_config(
    ini: Path, environ: dict[str, str] | None = None
) -> tuple[HarnessConfig, dict[str, str]]:
    """The configuration a pytest run of ``ini`` would resolve (its CLI options aside),
    and the environment it starts from; ConfigError naming the fix."""
    if not ini.is_file():
        raise KeptUnavailable(f"{ini} is not a file; pass the suite's ini with -c")
    root = ini.resolve().parent
    env = run_environment(root, environ)
    output = str(kept_folder(root) / UP_OUTPUT)
    return resolve_config(Sources(root, output, {}, env, read_ini(ini))), env


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
        self._locks: list[threading.Lock] = []
        self.server: _Server | None = None

    def open(self) -> KeptState:
        """Boot everything and publish it; raises HarnessError with everything stopped."""
        private_folder(self.folder)
        if (self.folder / STATE).exists():
            previous = _previous(self.folder)
            if previous is not None and previous.alive():
                raise KeptUnavailable(
                    f"stackwright up (pid {previous.pid}) already keeps stacks of "
                    f"{self.config.root}; stop it first (stackwright down)"
                )
            (self.folder / STATE).unlink()
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
            address, _ = socket_address(self.folder / SOCKET)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(address)
            self.server = _Server(address, self)
            threading.Thread(
                target=self.server.serve_forever, name="up-server", daemon=True
            ).start()
            state = KeptState(
                pid=os.getpid(),
                socket=address,
                config=self.config,
                facts=facts,
                parts=fingerprint(self.config, self.env),
                stacks=tuple(KeptEntry.of(stack) for stack in self.stacks),
            )
            state.write(self.folder)
            return state
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

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        """One request of an attached worker."""
        op = request.get("op")
        index = request.get("stack")
        if not isinstance(index, int) or not 0 <= index < len(self.stacks):
            return {"error": f"no kept stack {index!r}"}
        stack = self.stacks[index]
        with self._locks[index]:
            if op == "sync":
                stack.sync_logs()
                return {"ok": True}
            if op == "health":
                timeout = float(request.get("timeout") or 2.0)
                down = stack.health(ask=bool(request.get("ask")), timeout=timeout)
                return {"down": _plain(down) if down is not None else None}
            if op == "restart":
                self.say(f"{stack.worker}: restarting (asked by an attached run)")
                try:
                    stack.restart()
                except HarnessError as exc:
                    return {"error": str(exc)}
                self.say(f"{stack.worker}: {stack.report.summary()}")
                return {"ok": True}
        return {"error": f"unknown request {op!r}"}

    def close(self) -> None:
        """Withdraw the state, then stop everything; safe to call twice."""
        with contextlib.suppress(FileNotFoundError):
            state = _previous(self.folder)
            if state is None or state.pid == os.getpid():
                (self.folder / STATE).unlink()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            address = str(self.server.server_address)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(address)
            remove_socket_folder(address)
            self.server = None
        for stack in self.stacks:
            stack.stop()
            stack.remove_files()
        self.controller.close()
        for path in self.folder.glob(".claim-*"):
            path.unlink(missing_ok=True)


def _previous(folder: Path) -> KeptState | None:
    try:
        return KeptState.load(folder)
    except KeptUnavailable:
        return None


def _plain(error: HarnessError) -> dict[str, Any]:
    data = asdict(error)  # type: ignore[call-overload]
    data["log_path"] = str(data["log_path"]) if data.get("log_path") else None
    data["command"] = list(data["command"])
    return dict(data)


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        for raw in self.rfile:
            try:
                request = json.loads(raw)
                answer = self.server.up.handle(request if isinstance(request, dict) else {})
            except (ValueError, HarnessError) as exc:
                answer = {"error": str(exc)}
            self.wfile.write(json.dumps(answer).encode() + b"\n")
            self.wfile.flush()


class _Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True

    def __init__(self, address: str, up: Up) -> None:
        self.up = up
        old = os.umask(0o077)
        try:
            super().__init__(address, _Handler)
        finally:
            os.umask(old)


# -- the commands ---------------------------------------------------------------------


def up(ini: Path, workers: int) -> int:
    """``stackwright up``: runs until Ctrl-C, SIGTERM or ``stackwright down``."""
    started = time.monotonic()

    def say(line: str) -> None:
        print(f"stackwright: {line}", flush=True)

    try:
        config, env = load_config(ini)
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
            signal.pause()
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
    """``stackwright down``: stop the kept stacks of ``ini``'s suite and wait until they are."""
    folder = kept_folder(ini.resolve().parent)
    try:
        state = KeptState.load(folder)
    except KeptUnavailable as exc:
        print(f"stackwright down: error: {exc}", file=sys.stderr)
        return 1
    if state is None or not state.alive():
        print(f"stackwright down: no stackwright up keeps stacks in {folder}")
        return 0
    os.kill(state.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if state_letter(state.pid) in ("", "Z"):  # gone, or exited and not yet reaped
            print(f"stackwright down: stopped stackwright up (pid {state.pid})")
            return 0
        time.sleep(0.05)
    print(
        f"stackwright down: stackwright up (pid {state.pid}) is still running after "
        f"{timeout:g}s; its output says what it waits for (kill -9 {state.pid} stops it, "
        "and its services with it)",
        file=sys.stderr,
    )
    return 1
