"""Run steps: commands run once per run whose output every worker uses.

Two kinds today: the seeded template database (``template_db_cmd``, written to
``{db}``) and a service's build (``<name>_build``, written to the folder
``{build}``, which the service's command then serves). With declared inputs, a
step's output comes from the cache (``support.steps.cache``) when the command, its
environment and the inputs' contents are what they were when it was stored.

A step writes into a partial path beside its target and is renamed into place
only when it succeeded, so a failed or interrupted step never leaves an output
that looks whole.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from stackwright.support.config.database import SQLITE
from stackwright.support.config.facts import RunFacts, run_values
from stackwright.support.config.services import expand, named_placeholders
from stackwright.support.config.settings import HarnessConfig
from stackwright.support.config.steps import RunStep
from stackwright.support.database import Database
from stackwright.support.database.sqlite import SqliteDatabase
from stackwright.support.errors import ConfigError
from stackwright.support.processes import parent_death as pdeath
from stackwright.support.processes.groups import kill_group
from stackwright.support.steps.cache import Key, StepCache, file_lock, input_files, remove_path
from stackwright.support.text import shorten


def step_key(
    step: RunStep,
    root: Path,
    env: Mapping[str, str],
    values: Mapping[str, str] | None = None,
    database: Database | None = None,
) -> Key:
    """The cache key: what the step uses and nothing else. Its command, its environment
    (``${VAR}`` expanded), its working directory, every input file's content, and each
    interpreter it names (``{python}``, ``{backend_python}``): a ``node ... vite build``
    stays cached when the harness moves to another Python."""
    spec = step.spec
    recipe = {
        "command": spec.command,
        "environment": json.dumps([(k, expand(v, env)) for k, v in spec.env]),
        "working directory": spec.cwd,
    }
    if database is not None and database.identity != SQLITE:
        recipe["database"] = database.identity  # a SQLite template's key is as it was
    interpreters = {"python": spec.interpreter, **(values or {})}
    for name in sorted(named_placeholders(spec)):
        if name == "python" or name.endswith("_python"):
            label = "interpreter" if name == "python" else f"interpreter {{{name}}}"
            # As named (a virtualenv's python is a link: resolving it would merge venvs),
            # without the '..' of a relative start.
            named = interpreters.get(name)
            recipe[label] = os.path.normpath(named) if named else ""
    return Key(recipe, input_files(Path(root, spec.cwd), step.inputs))


def _lock_of(target: Path) -> Path:
    return target.with_name(f".{target.name}.lock")


def _side_name(step: RunStep) -> str:
    """The cache's name for what the step fills besides its output."""
    return f"{step.name}_data"


class StepRunner:
    """Runs a run's steps (from several threads at once), and stops them all on cancel."""

    def __init__(
        self,
        services_dir: Path,
        root: Path,
        env: Mapping[str, str],
        cache: StepCache,
        *,
        on_start: Callable[[str], None] | None = None,
    ) -> None:
        self.services_dir = services_dir
        self.root = root
        self.env = dict(env)
        self.cache = cache
        #: Told when a step starts building, and why (a cache miss and on what), so a
        #: long build shows itself at once instead of in the end-of-run summary.
        self.on_start = on_start
        self._children: set[subprocess.Popen[bytes]] = set()
        self._guard = threading.Lock()
        self._cancelled = False

    def run(
        self,
        step: RunStep,
        values: Mapping[str, str],
        *,
        side: Path | None = None,
        missed: str | None = None,
        database: Database | None = None,
    ) -> str:
        """Make ``step``'s output at its target; the summary line says how, and how long.

        ``values`` are the placeholders the command may name (the run's). Safe to call
        from several processes for one target: a lock makes one build and the others
        reuse its output. ``side`` is a folder the step fills besides its output (the
        run-scoped services' data a seed uploads): it is built, never fetched (``restore``
        tried that, and ``missed`` says why it could not), and stored with the output
        before the output is published (no worker then writes to those services' data
        while it is copied); an output alone is stored once published. ``database``
        seeds the template step (SQLite's by default).
        """
        if step.placeholder == "db" and database is None:
            database = SqliteDatabase()
        started = time.perf_counter()
        target = self.services_dir / step.target
        target.parent.mkdir(parents=True, exist_ok=True)
        with file_lock(_lock_of(target)):
            if target.exists():
                return f"{step.what}: already in {target}"
            if not self.cache.enabled:
                verb, why = "built", "cache off"
                self._build(step, target, values, why, database)
            elif not step.inputs:
                verb, why = "built", f"not cached: set {step.inputs_key} to cache it"
                self._build(step, target, values, why, database)
            else:
                verb, why = self._from_cache_or_build(step, target, values, side, missed, database)
        return f"{step.what}: {verb} in {time.perf_counter() - started:.2f}s ({why})"

    def restore(
        self,
        step: RunStep,
        values: Mapping[str, str],
        side: Path,
        database: Database | None = None,
    ) -> str | None:
        """The step's output and its ``side`` folder from the cache, both or neither
        (before the services that keep their data in ``side`` start): None when both
        were restored, else why not."""
        if not self.cache.enabled:
            return "cache off"
        if not step.inputs:
            return f"not cached: set {step.inputs_key} to cache it"
        target = self.services_dir / step.target
        target.parent.mkdir(parents=True, exist_ok=True)
        key = step_key(step, self.root, self.env, values, database)
        with contextlib.ExitStack() as held:
            held.enter_context(file_lock(_lock_of(target)))  # as run() takes them: first
            try:
                self.cache.open()
                held.enter_context(self.cache.claim(step.name, key))
                missed = self.cache.fetch(step.name, key, target)
                if missed is not None:
                    return missed
                remove_path(side)
                missed = self.cache.fetch(_side_name(step), key, side)
            except OSError as exc:
                missed = self._unusable(exc)
            if missed is None:
                return None
            remove_path(target)
            side.mkdir(parents=True, exist_ok=True)
            return f"the run services' data it fills: {missed}"

    def _from_cache_or_build(
        self,
        step: RunStep,
        target: Path,
        values: Mapping[str, str],
        side: Path | None = None,
        missed: str | None = None,
        database: Database | None = None,
    ) -> tuple[str, str]:
        """(what happened, why): taken from the cache, or built and stored. A cache that
        cannot be opened, locked, read or written is only not used: the step is built,
        and ``why`` says what was wrong with it."""
        key = step_key(step, self.root, self.env, values, database)
        with contextlib.ExitStack() as held:
            try:
                self.cache.open()
                held.enter_context(self.cache.claim(step.name, key))
            except OSError as exc:
                why = f"not cached: {self._unusable(exc)}"
                self._build(step, target, values, why, database)
                return "built", why
            if side is None:
                try:
                    missed = self.cache.fetch(step.name, key, target)
                except OSError as exc:
                    missed = self._unusable(exc)
                if missed is None:
                    return "from the cache", f"inputs unchanged, key {key.digest[:12]}"
            stored: list[str] = []

            def store(output: Path) -> None:
                if step_key(step, self.root, self.env, values, database).digest != key.digest:
                    stored.append("not cached: its inputs changed while it ran")
                    return
                try:
                    self.cache.store(step.name, key, output)
                    if side is not None:
                        self.cache.store(_side_name(step), key, side)
                except OSError as exc:
                    stored.append(f"not stored: {self._unusable(exc)}")

            # The run services' data is copied before the output is published (no worker
            # writes to it meanwhile); an output alone after, so workers need not wait.
            early = store if side is not None else None
            self._build(step, target, values, f"cache miss: {missed}", database, early)
            if early is None:
                store(target)
            return "built", "; ".join([f"cache miss: {missed}", *stored])

    def _unusable(self, exc: OSError) -> str:
        """Why the cache could not be used, in a few words: the run goes on without it."""
        where = exc.filename or self.cache.folder
        what = exc.strerror or shorten(str(exc), 200)  # shutil.Error lists every file
        return f"the cache cannot be used ({what}: {where})"

    def _build(
        self,
        step: RunStep,
        target: Path,
        values: Mapping[str, str],
        why: str,
        database: Database | None = None,
        before_publish: Callable[[Path], None] | None = None,
    ) -> None:
        if self.on_start is not None:
            self.on_start(f"{step.what}: building ({why})")
        partial = target.with_name(f".{target.name}.building")
        remove_path(partial)
        if step.placeholder == "build":
            partial.mkdir(parents=True)
        try:
            spec = step.spec
            filled = {**values, step.placeholder: str(partial)}
            if database is not None:
                filled.update(database.seed_values(partial))
                database.begin_seed()
            command = spec.render(filled, self.env)
            env = {**self.env, **spec.render_env(filled, self.env)}
            code, output = self._run(command, Path(self.root, spec.cwd), env, step)
            missing: str | Path | None = None
            if code == 0 and database is not None:
                missing = database.finish_seed(partial)
            elif code == 0 and not _made(partial):
                missing = partial
            if code != 0 or missing is not None:
                facts: dict[str, object] = {"missing": missing}
                if isinstance(missing, str):
                    facts["placeholder"] = "db_url"
                raise step.failed(command, code, output, **facts)
            if before_publish is not None:
                before_publish(partial)
            remove_path(target)
            os.replace(partial, target)
        finally:
            remove_path(partial)

    def _run(
        self, command: list[str], cwd: Path, env: Mapping[str, str], step: RunStep
    ) -> tuple[int | None, str]:
        """Run one command in its own process group; stop the group on a time-out or cancel.

        The group's leader is ``group_guard.py``, which takes the whole group down when
        this process dies, however it dies (kill -9 included)."""
        if not cwd.is_dir():
            raise ConfigError(
                f"the working directory of {step.what}, {cwd}, does not exist; fix "
                f"{step.cwd_key} in {step.ini} (relative paths start at the rootdir)"
            )
        try:
            child = pdeath.popen(
                [sys.executable, "-I", "-S", str(pdeath.GROUP_GUARD), str(os.getpid()), *command],
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            raise step.failed(command, None, f"cannot run {command[0]}: {exc}") from None
        with self._guard:
            if self._cancelled:
                kill_group(child.pid)
            self._children.add(child)
        try:
            output, _ = child.communicate(timeout=step.spec.timeout)
        except subprocess.TimeoutExpired:
            kill_group(child.pid)
            output, _ = child.communicate()
            raise step.failed(
                command, None, output.decode("utf-8", "replace"), timeout=step.spec.timeout
            ) from None
        except BaseException:
            kill_group(child.pid)
            raise
        finally:
            with self._guard:
                self._children.discard(child)
        return child.returncode, output.decode("utf-8", "replace")

    def cancel(self) -> None:
        """Stop every step still running (Ctrl-C, or another part of the run failed)."""
        with self._guard:
            self._cancelled = True
            for child in self._children:
                kill_group(child.pid)


def _made(output: Path) -> bool:
    """Whether a step wrote its output: a file, or a folder with something in it."""
    return output.exists() and (not output.is_dir() or any(output.iterdir()))


def build_template(
    config: HarnessConfig,
    env: Mapping[str, str] | None = None,
    cache: StepCache | None = None,
    facts: RunFacts | None = None,
    database: Database | None = None,
) -> float | None:
    """Build ``config.template_path`` with the template step; seconds taken, None if none.

    The command runs in ``template_db_cwd`` with ``env`` (the run's environment,
    .env.test included) plus ``template_db_env``, may name the run-scoped
    services' URLs, and is stopped, with its whole process group, after
    ``config.template_timeout`` seconds. Without ``cache`` nothing is cached. Safe
    to call from several processes: a lock makes one build and the others reuse it.
    """
    step = config.template_step
    if step is None:
        return None
    started = time.perf_counter()
    runner = StepRunner(
        config.services_dir,
        Path(config.root),
        os.environ if env is None else env,
        cache or StepCache(config.cache_path, max_bytes=0, mode="off"),
    )
    runner.run(step, run_values(config, facts or RunFacts()), database=database)
    return time.perf_counter() - started
