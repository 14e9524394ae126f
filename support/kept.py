"""Kept stacks: what ``stackwright up`` keeps running between runs, and how a run uses them.

``stackwright up`` (``support.up``) boots what a run boots and keeps it. It publishes
``state.json`` in its private folder (``.stackwright/kept`` under the rootdir) and
answers requests on a socket beside it. A run of the same configuration attaches
instead of booting: each worker claims one kept stack (a lock held for the worker's
life), restores its seeded data, and asks ``up`` for the health checks, log syncs and
restarts a stack of its own would do itself. The processes stay ``up``'s: a run that
ends, or dies, leaves them running for the next one.

Everything read here was written by another process and is checked: a folder that
is not this user's private folder, a state that does not parse, a server that is not
running, or a configuration that is not this run's is never used; the run boots as
usual, with one line saying why.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import socket
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Self

from stackwright.support.config import HarnessConfig, RunFacts, run_values
from stackwright.support.config.services import expand
from stackwright.support.errors import HarnessError, KeptUnavailable, ServiceDown
from stackwright.support.processes import LogFollower, Stack, reset_database
from stackwright.support.processes.health import state_letter
from stackwright.support.processes.preload import check_private_folder
from stackwright.support.processes.process import LineSink
from stackwright.support.steps.runner import step_key

#: Where ``stackwright up`` keeps its stacks, relative to the rootdir.
KEPT_FOLDER = Path(".stackwright", "kept")
STATE = "state.json"
SOCKET = "up.sock"
#: How long one request to ``stackwright up`` may take (a restart included).
ANSWER_TIMEOUT = 120.0


def kept_folder(root: str | Path) -> Path:
    return Path(root, KEPT_FOLDER)


def ci_is_set(env: Mapping[str, str]) -> bool:
    return env.get("CI", "").strip().lower() not in ("", "0", "false", "no", "off")


# -- what must match -------------------------------------------------------------------


def fingerprint(config: HarnessConfig, env: Mapping[str, str]) -> dict[str, str]:
    """What a run and the kept stacks must share, part by part (so a change is named):
    each service as it would run (its command and environment with ``${VAR}``
    expanded), the template's and each build's cache key (their inputs' contents
    included), and the settings that change how a stack behaves."""

    def digest(value: Any) -> str:
        return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]

    parts = {}
    for spec in config.services:
        data = asdict(spec)
        data["command"] = expand(spec.command, env, strict=False)
        data["env"] = [(key, expand(value, env, strict=False)) for key, value in spec.env]
        parts[f"the {spec.name} service"] = digest(data)
    values = run_values(config, RunFacts())
    steps = [config.template_step] if config.template_step else []
    for step in (*steps, *config.build_steps):
        parts[step.what] = step_key(step, Path(config.root), env, values).digest[:16]
    parts["db_reset, host and preload"] = digest([config.db_reset, config.host, config.preload])
    return parts


def changed_parts(ours: Mapping[str, str], kept: Mapping[str, str]) -> list[str]:
    """The parts that differ, by name (a part only one side has counts as changed)."""
    return sorted(name for name in ours.keys() | kept.keys() if ours.get(name) != kept.get(name))


# -- the published state ----------------------------------------------------------------


@dataclass(frozen=True)
class KeptEntry:
    """One kept stack, as ``up`` publishes it."""

    worker: str
    urls: dict[str, str]
    ports: dict[str, int]
    db: str
    folder: str
    logs: dict[str, str]

    @classmethod
    def of(cls, stack: Stack) -> KeptEntry:
        return cls(
            stack.worker,
            dict(stack.urls),
            dict(stack.ports_in_use),
            str(stack.db_path),
            str(stack.worker_dir),
            {name: str(path) for name, path in stack.log_paths.items()},
        )


@dataclass(frozen=True)
class KeptState:
    """What ``stackwright up`` publishes once its stacks are ready."""

    pid: int
    socket: str
    config: HarnessConfig
    facts: RunFacts
    parts: dict[str, str]
    stacks: tuple[KeptEntry, ...]
    started: float = field(default_factory=time.time)

    def to_json(self) -> str:
        return json.dumps(
            {
                "pid": self.pid,
                "socket": self.socket,
                "config": self.config.to_dict(),
                "facts": self.facts.to_dict(),
                "parts": self.parts,
                "stacks": [asdict(entry) for entry in self.stacks],
                "started": self.started,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> KeptState:
        """ValueError, KeyError or TypeError when ``text`` is not a state."""
        data = json.loads(text)
        names = {f.name for f in fields(KeptEntry)}
        return cls(
            pid=int(data["pid"]),
            socket=str(data["socket"]),
            config=HarnessConfig.from_dict(data["config"]),
            facts=RunFacts.from_dict(data["facts"]),
            parts={str(k): str(v) for k, v in data["parts"].items()},
            stacks=tuple(
                KeptEntry(**{k: v for k, v in entry.items() if k in names})
                for entry in data["stacks"]
            ),
            started=float(data["started"]),
        )

    @classmethod
    def load(cls, folder: Path) -> KeptState | None:
        """The state in ``folder``; None when there is none; KeptUnavailable when it
        cannot be trusted or read."""
        path = folder / STATE
        if not os.path.lexists(path):
            return None
        try:
            check_private_folder(str(path))
        except HarnessError as exc:
            raise KeptUnavailable(str(exc).replace("preload server", "kept stacks")) from None
        try:
            if path.is_symlink():
                raise ValueError("it is a link")
            return cls.from_json(path.read_text())
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            why = f"no {exc} field" if isinstance(exc, KeyError) else str(exc)
            raise KeptUnavailable(
                f"{path} cannot be read ({why}); stackwright up writes it: stop it "
                "(stackwright down), or remove the file"
            ) from None

    def write(self, folder: Path) -> None:
        """Whole or not at all: a run never reads half a state."""
        partial = folder / f".{STATE}.{os.getpid()}"
        partial.write_text(self.to_json())
        os.replace(partial, folder / STATE)

    def alive(self) -> bool:
        """Whether ``up`` still runs (a process of this user with that pid, its socket there)."""
        if state_letter(self.pid) in ("", "Z"):
            return False
        try:
            os.kill(self.pid, 0)
        except OSError:
            return False  # another user's process has that pid now
        return Path(self.socket).exists()


@dataclass(frozen=True)
class KeptPlan:
    """The kept stacks a run uses, or why it uses none (``state`` None)."""

    state: KeptState | None
    folder: Path
    #: One line for the person running the tests, or '' when there is nothing to say.
    line: str = ""

    def covers(self, workers: int) -> bool:
        """Whether every worker of the run can attach (the run then boots nothing)."""
        return self.state is not None and workers <= len(self.state.stacks)


def plan(config: HarnessConfig, env: Mapping[str, str], *, workers: int) -> KeptPlan:
    """Whether this run attaches to kept stacks, and the line that says so (or why not)."""
    folder = kept_folder(config.root)
    mode = config.attach
    if mode == "off":
        return KeptPlan(None, folder)
    try:
        state = KeptState.load(folder)
    except KeptUnavailable as exc:
        return KeptPlan(None, folder, f"kept stacks not used: {exc}; booting as usual")
    if state is None:
        said = "no kept stacks (start them with stackwright up); booting as usual"
        return KeptPlan(None, folder, said if mode == "on" else "")
    if mode == "auto" and ci_is_set(env):
        return KeptPlan(None, folder, "kept stacks not used: CI is set (--attach on uses them)")
    if not state.alive():
        return KeptPlan(
            None,
            folder,
            f"kept stacks not used: stackwright up (pid {state.pid}) is not running; "
            "booting as usual",
        )
    changed = changed_parts(fingerprint(config, env), state.parts)
    if changed:
        return KeptPlan(
            None,
            folder,
            f"kept stacks not used: {', '.join(changed)} changed since stackwright up "
            f"(pid {state.pid}) started; booting as usual (restart stackwright up to keep "
            "the new configuration)",
        )
    kept = len(state.stacks)
    line = f"attaching to the {kept} stacks stackwright up (pid {state.pid}) keeps"
    if workers > kept:
        line = (
            f"{kept} of {workers} workers attach to the stacks stackwright up (pid "
            f"{state.pid}) keeps; the other {workers - kept} boot their own (stackwright up "
            f"-n {workers} keeps enough)"
        )
    return KeptPlan(state, folder, line)


# -- a worker's side --------------------------------------------------------------------


class UpClient:
    """One connection to ``stackwright up``: a JSON request per line, a JSON answer per line."""

    def __init__(self, address: str) -> None:
        check_private_folder(address)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(ANSWER_TIMEOUT)
        try:
            self._sock.connect(address)
        except OSError as exc:
            self._sock.close()
            raise KeptUnavailable(f"stackwright up at {address} does not answer: {exc}") from None
        self._file = self._sock.makefile("rwb")

    def ask(self, op: str, **values: Any) -> dict[str, Any]:
        try:
            self._file.write(json.dumps({"op": op, **values}).encode() + b"\n")
            self._file.flush()
            line = self._file.readline()
        except OSError as exc:
            raise KeptUnavailable(f"stackwright up stopped answering ({op}): {exc}") from None
        if not line:
            raise KeptUnavailable(f"stackwright up went away ({op}); run again to boot as usual")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise KeptUnavailable(f"stackwright up could not {op}: {answer['error']}")
        return answer

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()
            self._sock.close()


def claim(state: KeptState, folder: Path) -> tuple[int, int] | None:
    """(the index of a kept stack, the lock that holds it) for this process, or None when
    every one is taken. The lock ends with the process, however it ends."""
    for index in range(len(state.stacks)):
        fd = os.open(folder / f".claim-{index}", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return index, fd
    return None


class KeptStack(Stack):
    """A stack ``stackwright up`` keeps, as one worker of a run uses it: the same face as
    a stack of its own (URLs, logs, health, restart), while ``up`` owns the processes."""

    def __init__(
        self,
        state: KeptState,
        index: int,
        lock: int,
        client: UpClient,
        *,
        on_line: LineSink | None = None,
        streamed: frozenset[str] = frozenset(),
    ) -> None:
        entry = state.stacks[index]
        super().__init__(
            state.config, state.facts, worker=entry.worker, worker_index=index, on_line=on_line
        )
        self.index = index
        self.up_pid = state.pid
        self.worker_dir = Path(entry.folder)
        self.db_path = Path(entry.db)
        self.urls = dict(entry.urls)
        self.ports_in_use = {name: int(port) for name, port in entry.ports.items()}
        self._logs = {name: Path(path) for name, path in entry.logs.items()}
        self._lock: int | None = lock
        self._client: UpClient | None = client
        # This run's live stream (PLAYWRIGHT_<NAME>_LOG_STREAM) of the stack's own services:
        # up writes their logs, this worker follows them.
        own = {name: self._logs[name] for name in streamed if name in entry.urls}
        self._follower = LogFollower(own, on_line).start() if own and on_line else None
        #: What attaching did, for the worker's summary line.
        self.attached = ""

    @property
    def log_paths(self) -> dict[str, Path]:
        return dict(self._logs)

    def start(self) -> Self:
        """Attach: a kept stack that went down is restarted by ``up``, then its seeded
        data is restored (this run must not see the last one's writes)."""
        started = time.monotonic()
        problem = self.health(ask=True)
        restarted = ""
        if problem is not None:
            self.restart()
            restarted = f"; {problem.service} was down ({problem.headline()}), so up restarted it"
        reset_database(self.config, self.placeholders(), self.db_path)
        seconds = time.monotonic() - started
        self.attached = (
            f"attached to kept stack {self.worker} of stackwright up (pid {self.up_pid}) in "
            f"{seconds:.2f}s, seeded data restored{restarted}"
        )
        return self

    def _up(self) -> UpClient:
        if self._client is None:
            raise KeptUnavailable("this kept stack was let go")
        return self._client

    def restart(self) -> Self:
        self._up().ask("restart", stack=self.index)
        return self

    def health(self, *, ask: bool = True, timeout: float = 2.0) -> ServiceDown | None:
        answer = self._up().ask("health", stack=self.index, ask=ask, timeout=timeout)
        down = answer.get("down")
        if not down:
            return None
        down["log_path"] = Path(down["log_path"]) if down.get("log_path") else None
        return ServiceDown(**down)

    def sync_logs(self) -> None:
        self._up().ask("sync", stack=self.index)

    def stop(self) -> dict[str, int | None]:
        """Let the stack go (it keeps running for the next run); idempotent. What the
        services wrote so far is in their logs first: the last test's slices are read
        after this (a stack of the run's own is drained by stopping it)."""
        if self._client is not None:
            with contextlib.suppress(HarnessError):
                self.sync_logs()
            self._client.close()
        if self._follower is not None:
            self._follower.stop()
            self._follower = None
            self._client = None
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None
        return {}

    def remove_files(self) -> None:
        """Nothing: the files are ``up``'s."""


def attach(
    state: KeptState,
    folder: Path,
    *,
    on_line: LineSink | None = None,
    streamed: frozenset[str] = frozenset(),
) -> KeptStack | None:
    """This process's kept stack, attached and restored; None when every one is taken.
    The ``streamed`` services' lines go to ``on_line`` as up writes them."""
    claimed = claim(state, folder)
    if claimed is None:
        return None
    index, lock = claimed
    try:
        client = UpClient(state.socket)
        stack = KeptStack(state, index, lock, client, on_line=on_line, streamed=streamed)
    except BaseException:
        os.close(lock)
        raise
    try:
        return stack.start()
    except BaseException:
        stack.stop()
        raise
