"""Kept stacks: what ``stackwright up`` keeps running between runs, and how a run uses them.

``stackwright up`` (``support.up``) boots what a run boots and keeps it, answering on one
channel (``processes.channel``) at an abstract address named from the suite's rootdir:
nothing in the file system can hide, move or fake it, and the kernel tells each side
who the other is. A run of the same configuration attaches instead of booting:

1. the controller asks ``up`` for its state, compares what reaches a stack (each
   service's settings, the template's and builds' inputs, the environment) part by
   part, and claims as many stacks as it has workers. The claims live as long as the
   controller's connection: a run that ends, or dies, frees them at once. ``up`` first
   restarts every kept service whose code changed (``<name>_inputs``, and the project
   files a preloaded service's server imported).
2. each worker takes one claimed stack: a ``Stack`` whose operations (health, restart,
   log sync, database reset) ``up`` runs on its own stack by name; it restores the
   seeded data first. A worker without one boots its own, when the run opened.

A run never uses kept stacks it cannot trust: nothing listening, a process of another
user, a stopped ``up``, a configuration or environment that differs. It boots as usual,
with one line saying why (never a variable's value).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from stackwright.support.config import HarnessConfig, RunFacts, run_values
from stackwright.support.config.services import expand
from stackwright.support.errors import ChannelError, HarnessError, KeptUnavailable, PeerGone
from stackwright.support.processes import Channel, LogFollower, Stack, abstract_address
from stackwright.support.processes.preload import check_private_folder, private_folder
from stackwright.support.processes.process import LineSink
from stackwright.support.steps.runner import step_key

#: Where ``stackwright up`` keeps its stacks' files, relative to the rootdir.
KEPT_FOLDER = Path(".stackwright", "kept")
#: How long ``up`` may take to say what it keeps (it answers at once unless stopped).
STATE_TIMEOUT = 10.0
UP = "stackwright up"


def kept_folder(root: str | Path) -> Path:
    return Path(root, KEPT_FOLDER)


def up_address(root: str | Path) -> str:
    """Where the ``stackwright up`` of the suite in ``root`` answers, for this user."""
    return abstract_address("up", str(Path(root).resolve()))


def kept_folders(root: str | Path, *, make: bool = False) -> Path:
    """``.stackwright/kept``, once ``.stackwright`` and ``kept`` are found to be private
    folders of this user (another user who could rename them could hide or replace a
    kept stack's files); with ``make``, each is made, or made again, private whatever
    the umask first. KeptUnavailable when one is not, is a link, or is another user's."""
    try:
        for folder in (Path(root, KEPT_FOLDER.parent), kept_folder(root)):
            if make:
                private_folder(folder)
            else:
                check_private_folder(str(folder / "x"))
    except HarnessError as exc:
        raise KeptUnavailable(str(exc).replace("preload server", "kept stacks")) from None
    return kept_folder(root)


def ci_is_set(env: Mapping[str, str]) -> bool:
    return env.get("CI", "").strip().lower() not in ("", "0", "false", "no", "off")


# -- what must match -------------------------------------------------------------------

#: Variables of a terminal or a session, not of a stack: two terminals of one person
#: differ in them. ``PLAYWRIGHT_*`` are the harness's settings, compared as settings.
_SESSION = re.compile(
    r"_|PWD|OLDPWD|SHLVL|TERM|TERM_\w*|COLORTERM|COLUMNS|LINES|PS\d|PROMPT_COMMAND|SSH_\w*"
    r"|TMUX\w*|STY|WINDOW|WINDOWID|DISPLAY|XAUTHORITY|GPG_TTY|XDG_SESSION_\w*|XDG_VTNR"
    r"|DBUS_SESSION_BUS_ADDRESS|VSCODE_\w*|KITTY_\w*|ITERM_\w*|WT_\w*|INSIDE_EMACS"
    r"|LS_COLORS|HIST\w*|PYTEST_\w*|PLAYWRIGHT_\w*|CI|COV_CORE_\w*|FORCE_COLOR|NO_COLOR"
    r"|PY_COLORS|OTEL_\w*"
)
#: How a spec's field is named in playwright.ini.
_KEY = {"command": "cmd", "build_inputs": "build_inputs", "python": "python"}


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def fingerprint(config: HarnessConfig, env: Mapping[str, str]) -> dict[str, str]:
    """What a run and the kept stacks must share, part by part, so that a change is named
    (never its value): each setting of each service as it would run (``${VAR}``
    expanded), the template's and each build's cache key (their inputs' contents
    included), the settings that change how a stack behaves, and each variable of the
    environment a service inherits."""
    parts = {}
    for spec in config.services:
        data = asdict(spec)
        data["command"] = expand(spec.command, env, strict=False)
        data["env"] = [(key, expand(value, env, strict=False)) for key, value in spec.env]
        for name, value in data.items():
            if name != "name":
                parts[f"{spec.name}_{_KEY.get(name, name)}"] = _digest(value)
    values = run_values(config, RunFacts())
    steps = [config.template_step] if config.template_step else []
    for step in (*steps, *config.build_steps):
        key = step_key(step, Path(config.root), env, values).digest[:16]
        parts[f"{step.what} (its command, environment or inputs)"] = key
    for name in ("db_reset", "host", "preload"):
        parts[name] = _digest(getattr(config, name))
    for name, value in env.items():
        if not _SESSION.fullmatch(name):
            parts[f"${name}"] = _digest(value)
    return parts


def changed_parts(ours: Mapping[str, str], kept: Mapping[str, str]) -> list[str]:
    """The parts that differ, by name (a part only one side has counts as changed)."""
    return sorted(name for name in ours.keys() | kept.keys() if ours.get(name) != kept.get(name))


def _said(changed: list[str]) -> str:
    """The changed parts in words: settings by their ini key, variables by name."""
    settings = [name for name in changed if re.fullmatch(r"\w+", name)]
    variables = [name[1:] for name in changed if name.startswith("$")]
    said = [name for name in changed if name not in settings and not name.startswith("$")]
    if settings:
        said.insert(0, f"the setting{'s' if len(settings) > 1 else ''} {', '.join(settings)}")
    if variables:
        noun = "variables" if len(variables) > 1 else "variable"
        said.append(f"the environment {noun} {', '.join(variables)}")
    return ", ".join(said)


# -- the published state ----------------------------------------------------------------


@dataclass(frozen=True)
class KeptEntry:
    """One kept stack, as ``up`` publishes it."""

    worker: str
    urls: dict[str, str]
    ports: dict[str, int]
    folder: str

    @classmethod
    def of(cls, stack: Stack) -> KeptEntry:
        return cls(stack.worker, dict(stack.urls), dict(stack.ports_in_use), str(stack.worker_dir))


@dataclass(frozen=True)
class KeptState:
    """What ``stackwright up`` keeps, as it tells a run."""

    pid: int
    facts: RunFacts
    parts: dict[str, str]
    stacks: tuple[KeptEntry, ...]
    started: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "facts": self.facts.to_dict(),
            "parts": self.parts,
            "stacks": [asdict(entry) for entry in self.stacks],
            "started": self.started,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> KeptState:
        """ValueError, KeyError or TypeError when ``data`` is not a state."""
        names = {f.name for f in fields(KeptEntry)}
        return cls(
            pid=int(data["pid"]),
            facts=RunFacts.from_dict(data["facts"]),
            parts={str(k): str(v) for k, v in data["parts"].items()},
            stacks=tuple(
                KeptEntry(**{k: v for k, v in entry.items() if k in names})
                for entry in data["stacks"]
            ),
            started=float(data["started"]),
        )


@dataclass(frozen=True)
class KeptClaim:
    """The kept stacks a run claimed: what its workers need to attach, once."""

    state: KeptState
    token: str
    #: The claimed stacks' indexes, one per worker (by the worker's index).
    claimed: tuple[int, ...]
    #: Whether the run opened as usual too (workers beyond the claimed boot their own).
    opened: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state.to_dict(),
            "token": self.token,
            "claimed": list(self.claimed),
            "opened": self.opened,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> KeptClaim:
        return cls(
            KeptState.from_dict(data["state"]),
            str(data["token"]),
            tuple(int(index) for index in data["claimed"]),
            bool(data["opened"]),
        )


@dataclass
class KeptPlan:
    """The kept stacks a run uses, or why it uses none (``claim`` None)."""

    claim: KeptClaim | None = None
    #: One line for the person running the tests, or '' when there is nothing to say.
    line: str = ""
    #: The controller's connection to ``up``: the claims last as long as it is open.
    channel: Channel | None = None

    def covers(self, workers: int) -> bool:
        """Whether every worker of the run can attach (the run then boots nothing)."""
        return self.claim is not None and workers <= len(self.claim.claimed)

    def close(self) -> None:
        """Give the claimed stacks back (they run on for the next run)."""
        if self.channel is not None:
            self.channel.close()
            self.channel = None


def plan(config: HarnessConfig, env: Mapping[str, str], *, workers: int) -> KeptPlan:
    """Whether this run attaches to kept stacks, and the line that says so (or why not)."""
    mode = config.attach
    if mode == "off":
        return KeptPlan()
    try:
        channel = Channel(up_address(config.root), what=UP, timeout=STATE_TIMEOUT)
    except PeerGone:
        said = "no kept stacks (start them with stackwright up); booting as usual"
        return KeptPlan(line=said if mode == "on" else "")
    except ChannelError as exc:
        return KeptPlan(line=f"kept stacks not used: {exc}; booting as usual")
    if mode == "auto" and ci_is_set(env):
        channel.close()
        return KeptPlan(line="kept stacks not used: CI is set (--attach on uses them)")
    try:
        claim, line = _claim(config, env, channel, workers)
    except HarnessError as exc:
        channel.close()
        return KeptPlan(line=f"kept stacks not used: {exc}; booting as usual")
    return KeptPlan(claim, line, channel)


def _claim(
    config: HarnessConfig, env: Mapping[str, str], channel: Channel, workers: int
) -> tuple[KeptClaim, str]:
    kept_folders(config.root)
    try:
        state = KeptState.from_dict(channel.call("state", timeout=STATE_TIMEOUT))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise KeptUnavailable(
            f"{channel.named} sent a state this run cannot read ({exc})"
        ) from None
    changed = changed_parts(fingerprint(config, env), state.parts)
    if changed:
        raise KeptUnavailable(
            f"{_said(changed)} changed since {channel.named} started (restart it to keep "
            "the new configuration)"
        )
    answer = channel.call("claim", count=workers)
    claimed = tuple(int(index) for index in answer["stacks"])
    if not claimed:
        raise KeptUnavailable(f"every stack {channel.named} keeps is taken by another run")
    lines = [str(line) for line in answer.get("restarted", ())]
    line = f"attaching to the {len(claimed)} stacks {channel.named} keeps"
    if workers > len(claimed):
        line = (
            f"{len(claimed)} of {workers} workers attach to the stacks {channel.named} keeps "
            f"(the others are taken, or there are fewer); the other {workers - len(claimed)} "
            "boot their own (stackwright up -n N keeps more)"
        )
    return KeptClaim(state, str(answer["token"]), claimed), "; ".join([line, *lines])


# -- a worker's side --------------------------------------------------------------------


class UpKeeper:
    """The ``Keeper`` of a kept stack: ``up``, asked by name over this worker's channel."""

    def __init__(self, channel: Channel, index: int, token: str) -> None:
        self.channel = channel
        self.index = index
        self.token = token
        self.follower: LogFollower | None = None

    def call(self, operation: str, **args: Any) -> Any:
        return self.channel.call(operation, stack=self.index, token=self.token, args=args)

    def lost(self) -> str | None:
        """Why the stack is gone (``up`` ended: killed, stopped by ``stackwright down``, or
        crashed), or None while ``up`` holds it."""
        if self.channel.is_open():
            return None
        return (
            f"{self.channel.named} went away (killed, stopped by stackwright down, or "
            "crashed), and its services with it"
        )

    def let_go(self) -> None:
        if self.follower is not None:
            self.follower.stop()
            self.follower = None
        self.channel.close()


def attach(
    claim: KeptClaim,
    config: HarnessConfig,
    worker_index: int,
    *,
    on_line: LineSink | None = None,
    streamed: frozenset[str] = frozenset(),
) -> tuple[Stack, str] | None:
    """This worker's claimed kept stack, restored to its seeded data, and the line that
    says so; None when the run claimed none for it. The ``streamed`` services' lines go
    to ``on_line`` as up writes them."""
    if worker_index >= len(claim.claimed):
        return None
    started = time.monotonic()
    index = claim.claimed[worker_index]
    entry = claim.state.stacks[index]
    keeper = UpKeeper(Channel(up_address(config.root), what=UP), index, claim.token)
    stack = Stack(
        config,
        claim.state.facts,
        worker=entry.worker,
        worker_index=index,
        worker_dir=Path(entry.folder),
        keeper=keeper,
        on_line=on_line,
    )
    stack.urls, stack.ports_in_use = dict(entry.urls), dict(entry.ports)
    try:
        problem = stack.health(ask=True)
        restarted = ""
        if problem is not None:
            stack.restart()
            restarted = f"; {problem.service} was down ({problem.headline()}), so up restarted it"
        restored = ""
        if config.db_reset or config.template_step:  # else it keeps no seeded data
            stack.reset_db()
            restored = ", seeded data restored"
    except BaseException:
        keeper.let_go()
        raise
    own = {name: path for name, path in stack.log_paths.items() if name in streamed}
    own = {name: path for name, path in own.items() if name in entry.urls}
    if own and on_line is not None:
        keeper.follower = LogFollower(own, on_line).start()
    line = (
        f"attached to kept stack {entry.worker} of {keeper.channel.named} in "
        f"{time.monotonic() - started:.2f}s{restored}{restarted}"
    )
    return stack, line
