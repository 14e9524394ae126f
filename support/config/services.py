"""Services as data: what one service is, how its command is filled in, and from where.

A team lists its services in ``playwright.ini`` (``services = s3 backend gateway
frontend``, in start order) and describes each with ``<name>_*`` keys
(``SERVICE_KEYS``). Nothing here knows any service by name.
"""

from __future__ import annotations

import difflib
import re
import shlex
import shutil
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from string import Formatter

from stackwright.support.errors import ConfigError, UnknownPlaceholder, UnsetVariable
from stackwright.support.readiness import KINDS, usages

SCOPES = ("worker", "run")
#: Placeholders known to every command, run-scoped or not.
RUN_PLACEHOLDERS = ("python", "host", "root")
#: Placeholders only a worker's services (and its reset request) know.
WORKER_PLACEHOLDERS = ("db", "db_url", "worker", "worker_dir")
#: What names the worker's database: a service naming either waits for the template.
DATABASE_PLACEHOLDERS = ("db", "db_url")
#: The template step's name (its cache entries'), which no service may take: its keys
#: (template_db_*) would read as a service's.
TEMPLATE = "template"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

#: Per-service ini keys ``<name>_<suffix>``: (suffix, description). The one description of
#: each: ``pytest --help`` shows it, and ``make docs`` writes docs/services.md's table.
SERVICE_KEYS: tuple[tuple[str, str], ...] = (
    (
        "cmd",
        "the command. Placeholders: {python} {host} {port} {root}; for a worker service "
        "also {db_url} (its database, on any engine), {db} (its SQLite file) {worker} "
        "{worker_dir}; {<service>_url} and {<service>_port} of every "
        "service, and {<service>_python}, its interpreter. ${VAR} is the inherited "
        "environment (unset: an error at start naming it; ${VAR:-default} allows it)",
    ),
    ("cwd", "working directory, relative to the rootdir (default: the rootdir)"),
    (
        "env",
        "extra environment, one KEY=VALUE per line; placeholders and ${VAR} allowed "
        "(PATH=${PATH}:/opt/tools)",
    ),
    (
        "ready",
        f"readiness: {usages()}; the default is tcp. A cmd runs in the service's folder "
        "with its environment, and again after a failed test (each kind is one class in "
        "support/readiness.py)",
    ),
    ("ready_path", "PATH: the older spelling of '<name>_ready = http PATH'"),
    ("timeout", "seconds to become ready (default: service_timeout)"),
    (
        "scope",
        "worker (one per xdist worker, the default) or run: one for the whole run, started "
        "by the controller before the template and every worker, for stand-ins such as "
        "object storage, mail or a queue; it may name only run-scoped services' URLs, and "
        "{data}: its own folder, which the template's cache entry keeps with the seeded "
        "database (restored before it starts, so a cached seed does not run at all)",
    ),
    (
        "log_owner",
        "a run-scoped service only: a regex whose first group captures which worker a "
        "line of its log is for ({worker}: gw0, gw1, main); a test's slice leaves out "
        "another worker's lines, and keeps the lines without one (the PostgreSQL server "
        "the harness runs has one: each line's database)",
    ),
    (
        "python",
        "the interpreter {python} names for this service and its preload server (a "
        "virtualenv of its own, another Python)",
    ),
    (
        "preload",
        "modules its preload server imports once per run, to fork the service from "
        "(a '{python} -m module' command)",
    ),
    (
        "inputs",
        "files, folders or globs (relative to the service's cwd) of the code it runs: a "
        "service that stackwright up keeps is restarted when they change (a preloaded "
        "one also follows the project files its preload server imported)",
    ),
    ("cmd_env", "the variable that replaces the command (default <NAME>_CMD)"),
    ("alt_cmd", "'VARIABLE: command': run this command instead while VARIABLE is set"),
    (
        "build",
        "a command run once per run, by the controller, that writes the service's build "
        "into the folder {build}; the service's command then serves {build}",
    ),
    ("build_env", "extra environment of the build, one KEY=VALUE per line"),
    (
        "build_inputs",
        "files, folders or globs (relative to the service's cwd) the build depends on; "
        "while they, the command and its environment are unchanged, the build comes from "
        "the cache",
    ),
    ("build_timeout", "seconds the build may take before it is stopped (default 300)"),
    (
        "dev_cmd",
        "a dev server run instead of the build and <name>_cmd while the service is in dev_services",
    ),
    (
        "dev_build",
        "in dev_services: an optional command run once per run instead of the build "
        "(say, pre-bundling dependencies into {build})",
    ),
    ("dev_env", "extra environment in dev_services, of the service and of its dev_build"),
)
SERVICE_SUFFIXES = tuple(suffix for suffix, _ in SERVICE_KEYS)
#: Keys read as lists of KEY=VALUE lines.
LINELIST_SUFFIXES = ("env", "build_env", "dev_env")
#: The placeholder of a service's build folder, known to the build and the service.
BUILD = "build"
#: A run-scoped service's own data folder: filled by the seed, cached with the template.
DATA = "data"
BUILD_TIMEOUT = 300.0


@dataclass(frozen=True)
class Command:
    """A command the harness runs, as configuration: what a service runs, and what a run
    step runs (the template's seed, a build), which is no service: no port, readiness,
    scope or log of its own."""

    #: For messages, and a step's name in the cache ("template", "frontend_build").
    name: str
    command: str
    cwd: str = "."
    env: tuple[tuple[str, str], ...] = ()
    #: Seconds a service has to become ready, or a step to finish.
    timeout: float = 30.0
    #: The interpreter ``{python}`` names (None: the harness's).
    python: str | None = None
    #: The ini keys its environment comes from, for messages (none given: ``<name>_env``).
    env_keys: tuple[str, ...] = ()

    @property
    def interpreter(self) -> str:
        return self.python or sys.executable

    def names(self, placeholder: str) -> bool:
        """Whether the command or the environment names ``{placeholder}`` (``db``: the
        service waits for the run's template; ``data``: its folder is cached with it)."""
        return placeholder in named_placeholders(self)

    def render(
        self, values: Mapping[str, str], inherited: Mapping[str, str] | None = None
    ) -> list[str]:
        """The argv with placeholders filled in (split first, so paths may hold spaces)
        and ``${VAR}`` taken from ``inherited``, the environment the service inherits."""
        values = {"python": self.interpreter, **values}
        return [
            fill_text(self.name, "command", self._expand("command", token, inherited), values)
            for token in split_command(self)
        ]

    def render_env(
        self, values: Mapping[str, str], inherited: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """The extra environment, filled in like the command (``PATH=${PATH}:/opt/bin``)."""
        values = {"python": self.interpreter, **values}
        return {
            key: fill_text(
                self.name, f"env {key}", self._expand(f"env {key}", value, inherited), values
            )
            for key, value in self.env
        }

    def _expand(self, what: str, template: str, inherited: Mapping[str, str] | None) -> str:
        """``${VAR}`` from ``inherited``; without it (a check of placeholders only), ''."""
        try:
            return expand(template, inherited or {}, strict=inherited is not None)
        except UnsetVariable as exc:
            raise ConfigError(f"{self.name} {what} {exc}") from None


@dataclass(frozen=True)
class ServiceSpec(Command):
    """How to run one service: configuration, not code."""

    #: ("http", PATH), ("tcp", ""), ("log", REGEX) or ("none", "").
    ready: tuple[str, str] = ("tcp", "")
    #: Modules the service's preload server imports (``{python} -m`` commands only).
    preload: tuple[str, ...] = ()
    scope: str = "worker"
    #: The run step that writes the folder ``{build}`` this service serves ('' for none).
    build: str = ""
    build_env: tuple[tuple[str, str], ...] = ()
    build_inputs: tuple[str, ...] = ()
    #: The code the service runs (``<name>_inputs``): a kept service follows it.
    inputs: tuple[str, ...] = ()
    build_timeout: float = BUILD_TIMEOUT
    #: Run with its dev command (``dev_services``): ``build`` is then its dev build.
    dev: bool = False
    #: The user it runs as when the harness runs as root ('' for the harness's own):
    #: the PostgreSQL server the harness adds, which refuses to run as root.
    user: str = ""
    #: A run-scoped service's regex whose first group names the worker a log line is for.
    log_owner: str = ""

    @property
    def needs_database(self) -> bool:
        """Whether it names the worker's database, so starts once the template is there."""
        return any(self.names(name) for name in DATABASE_PLACEHOLDERS)

    def render_ready(
        self, values: Mapping[str, str], inherited: Mapping[str, str] | None = None
    ) -> str:
        """The readiness target: a ``cmd``'s words filled in like the command's
        (``cmd redis-cli -p {port} ping``); other kinds' as written (a ``log`` regex's
        braces are the regex's)."""
        kind, target = self.ready
        if kind != "cmd":
            return target
        values = {"python": self.interpreter, **values}
        return shlex.join(
            fill_text(self.name, "ready", self._expand("ready", word, inherited), values)
            for word in shlex.split(target)
        )


def url_placeholders(names: Iterable[str]) -> tuple[str, ...]:
    return tuple(f"{name}_{part}" for name in names for part in ("url", "port"))


def python_placeholders(names: Iterable[str]) -> tuple[str, ...]:
    """``{<service>_python}``: any command may name another service's interpreter (a
    seed run in the backend's own virtualenv)."""
    return tuple(f"{name}_python" for name in names)


def named_placeholders(spec: Command) -> set[str]:
    """The placeholders ``spec``'s command and environment name (as ``fill_text`` reads
    them: ``{{`` is a brace, not a placeholder)."""
    texts = [spec.command, *(value for _key, value in spec.env)]
    try:
        return {name for text in texts for _, name, _, _ in Formatter().parse(text) if name}
    except ValueError:
        return set()  # not a valid template: check_spec has refused it already


def placeholders_for(spec: ServiceSpec, services: Iterable[ServiceSpec]) -> tuple[str, ...]:
    """What ``spec``'s command may name: a run-scoped service starts before any worker
    service, so it sees only the run-scoped services' URLs."""
    services = list(services)
    build = (BUILD,) if spec.build else ()
    if spec.scope == "run":
        known = (*RUN_PLACEHOLDERS, *python_placeholders(s.name for s in services))
        return (*known, "port", DATA, *build, *url_placeholders(_run_names(services)))
    return (*worker_placeholders(services), "port", *build)


def worker_placeholders(services: Iterable[ServiceSpec]) -> tuple[str, ...]:
    """What a worker's text may name (a worker service's command, ``db_reset``)."""
    services = list(services)
    every = [s.name for s in services]
    known = (*RUN_PLACEHOLDERS, *python_placeholders(every))
    return (*known, *WORKER_PLACEHOLDERS, *url_placeholders(every))


def template_placeholders(services: Iterable[ServiceSpec]) -> tuple[str, ...]:
    """What the template's seed may name: it runs before any worker service, beside the
    run-scoped ones, and writes the database its placeholders name."""
    services = list(services)
    known = (*RUN_PLACEHOLDERS, *python_placeholders(s.name for s in services))
    return (*known, *DATABASE_PLACEHOLDERS, *url_placeholders(_run_names(services)))


def _run_names(services: Iterable[ServiceSpec]) -> list[str]:
    return [s.name for s in services if s.scope == "run"]


_INHERITED = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand(template: str, inherited: Mapping[str, str], *, strict: bool = True) -> str:
    """Replace ``${VAR}`` by the inherited variable and ``${VAR:-text}`` by it or
    ``text``; an unset ``${VAR}`` raises UnsetVariable (with ``strict``) or is ''."""
    if "${" not in template:
        return template

    def value(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in inherited:
            found = inherited[name]
        elif default is not None or not strict:
            found = default or ""
        else:
            raise UnsetVariable(name)
        return found.replace("{", "{{").replace("}", "}}")

    return _INHERITED.sub(value, template)


def split_command(spec: Command) -> list[str]:
    """The command's words, or ConfigError for an empty or badly quoted command."""
    try:
        words = shlex.split(spec.command)
    except ValueError as exc:
        raise ConfigError(
            f"the {spec.name} command {spec.command!r} cannot be split: {exc}"
        ) from None
    if not words or not words[0].strip():
        raise ConfigError(
            f"the {spec.name} command is empty ({spec.command!r} names no program); "
            "give it a program to run"
        )
    return words


def check_spec(
    spec: Command,
    source: str,
    available: Iterable[str],
    every: Iterable[str] = (),
    env: Mapping[str, str] | None = None,
) -> Command:
    """Render ``spec`` once with stand-in values, so a bad command stops the run at once
    (naming ``source``, the setting it came from) instead of failing every test.

    ``available`` is what ``spec`` may name; ``every`` what any command may name, so a
    run-scoped service naming a worker's URL is told why it cannot. With ``env``, every
    ``${VAR}`` it names must be set there (or have a ``:-default``).
    """
    stand_in = {name: f"<{name}>" for name in available}
    try:
        spec.render(stand_in, env)
        spec.render_env(stand_in, env)
        if isinstance(spec, ServiceSpec):
            spec.render_ready(stand_in, env)
    except UnknownPlaceholder as exc:
        if exc.name in set(every) - set(stand_in):
            raise ConfigError(
                f"{spec.name} {exc.what} names {{{exc.name}}}, which is not known when it "
                f"starts (set by {source}): run-scoped services, the template and builds "
                "start before every worker service, so they can name only run-scoped "
                "services' URLs (a build: none)"
            ) from None
        raise ConfigError(f"{exc} (set by {_key_of(spec, exc.what, source)})") from None
    except ConfigError as exc:
        raise ConfigError(f"{exc} (set by {source})") from None
    return spec


def _key_of(spec: Command, what: str, source: str) -> str:
    """The ini key that holds ``what`` of ``spec`` (its command is set by ``source``):
    a placeholder typo in an env line is the env key's, not the command's."""
    if what.startswith("env "):
        return " or ".join(spec.env_keys) or f"{spec.name}_env"
    if what == "ready":
        return f"{spec.name}_ready"
    return source


def fill_text(service: str, what: str, template: str, values: Mapping[str, str]) -> str:
    """Fill one template (a command word, an env value, a URL) from ``values``."""
    try:
        return template.format_map(values)
    except KeyError as exc:
        raise UnknownPlaceholder(service, what, str(exc.args[0]), values) from None
    except (ValueError, IndexError) as exc:
        raise ConfigError(f"{service} {what} {template!r} is not a valid template: {exc}") from None


# -- reading a service from its ini keys ---------------------------------------------------


def service_names(
    raw: str | Iterable[str] | None, *, ini_name: str = "playwright.ini"
) -> tuple[str, ...]:
    """The ``services`` list, in start order; ConfigError when missing or malformed."""
    words = raw.replace(",", " ").split() if isinstance(raw, str) else list(raw or ())
    if not words:
        raise ConfigError(
            f"no services are configured: list them in {ini_name} in start order, "
            "e.g. 'services = backend gateway frontend', and describe each with "
            "<name>_cmd, <name>_ready, ... (see docs/adopting.md)"
        )
    for name in words:
        if not _NAME.match(name) or name == TEMPLATE:
            raise ConfigError(
                f"services: {name!r} is not a service name; use lower-case letters, digits "
                f"and '_', starting with a letter (and not {TEMPLATE!r}: the template_db_* "
                "keys are the seed's)"
            )
    repeated = sorted({name for name in words if words.count(name) > 1})
    if repeated:
        raise ConfigError(f"services: {', '.join(repeated)} listed more than once")
    return tuple(words)


def check_service_keys(
    keys: Iterable[str], names: Iterable[str], known: Iterable[str], *, all_known: bool = True
) -> None:
    """ConfigError for a key that starts with a configured service's name but is none of
    its keys (``backend_redy``), naming the key it is closest to; ``known`` are the
    other keys the ini may hold (the harness's settings, pytest's own). When ``known``
    cannot be all of them (``stackwright up`` does not know pytest's and its plugins'
    keys: a service named ``cache`` beside pytest's ``cache_dir``), only a key close to
    one of a service's is refused."""
    suffixes = list(SERVICE_SUFFIXES)
    others = set(known)
    for key in keys:
        for name in names:
            suffix = key.removeprefix(f"{name}_")
            if suffix == key or key in others or suffix in suffixes:
                continue
            close = difflib.get_close_matches(suffix, suffixes, n=1, cutoff=0.6)
            if not close and not all_known:
                continue
            hint = f"did you mean {name}_{close[0]}? " if close else ""
            raise ConfigError(
                f"{key}: the {name} service has no such key; {hint}its keys are "
                f"{', '.join(f'{name}_{s}' for s in suffixes)} (see docs/services.md)"
            )


def cmd_variable(name: str, configured: str | None = None) -> str:
    """The environment variable that replaces a service's command."""
    return (configured or "").strip() or re.sub(r"[^A-Z0-9]", "_", name.upper()) + "_CMD"


def stream_variable(name: str) -> str:
    return f"PLAYWRIGHT_{name.upper()}_LOG_STREAM"


def parse_ready(name: str, ready: str | None, ready_path: str | None) -> tuple[str, str]:
    """``<name>_ready`` (or the older ``<name>_ready_path``) as (kind, target); the kinds
    are ``support.readiness``'s."""
    if not (ready or "").strip():
        path = (ready_path or "").strip()
        return ("http", path) if path else ("tcp", "")
    kind, _, target = str(ready).strip().partition(" ")
    kind, target = kind.lower(), target.strip()
    if kind.startswith("/"):
        kind, target = "http", str(ready).strip()
    if kind not in KINDS:
        raise ConfigError(f"{name}_ready = {ready!r}: use {usages()}")
    problem = KINDS[kind].problem(target)
    if problem:
        raise ConfigError(f"{name}_ready = {ready!r}: {problem}")
    return kind, target if KINDS[kind].takes_target else ""


def parse_scope(name: str, raw: str | None) -> str:
    scope = (raw or "worker").strip().lower()
    if scope not in SCOPES:
        raise ConfigError(f"{name}_scope = {raw!r}: use worker or run")
    return scope


def parse_log_owner(name: str, raw: str | None, scope: str) -> str:
    """``<name>_log_owner``: a regex with a group, on a run-scoped service."""
    pattern = (raw or "").strip()
    if not pattern:
        return ""
    key = f"{name}_log_owner"
    if scope != "run":
        raise ConfigError(
            f"{key}: only a run-scoped service's log is shared by the workers; "
            f"set {name}_scope = run, or remove {key}"
        )
    try:
        groups = re.compile(pattern).groups
    except re.error as exc:
        raise ConfigError(f"{key} = {pattern!r} is not a valid regex: {exc}") from None
    if groups < 1:
        raise ConfigError(
            f"{key} = {pattern!r} captures nothing: put the worker's name in a group, "
            r"e.g. bucket tests-(\w+)"
        )
    return pattern


def parse_interpreter(name: str, raw: str | None, root: Path, env: Mapping[str, str]) -> str | None:
    """``<name>_python``: a path (relative to the rootdir) or a program on PATH."""
    if not (raw or "").strip():
        return None
    try:
        value = expand(str(raw).strip(), env)
    except UnsetVariable as exc:
        raise ConfigError(f"{name}_python = {raw!r} {exc}") from None
    if "/" not in value:
        found = shutil.which(value, path=env.get("PATH"))
        if found is None:
            raise ConfigError(f"{name}_python = {raw!r}: {value} is not on PATH")
        return found
    path = Path(root, value)
    if not path.exists():
        raise ConfigError(f"{name}_python = {raw!r}: {path} does not exist")
    return str(path)


def parse_alt_command(name: str, raw: str | None) -> tuple[str, str] | None:
    """``<name>_alt_cmd = VARIABLE: command`` as (VARIABLE, command)."""
    if not (raw or "").strip():
        return None
    variable, sep, command = str(raw).partition(":")
    if (
        not sep
        or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", variable.strip())
        or not command.strip()
    ):
        raise ConfigError(
            f"{name}_alt_cmd = {raw!r}: write 'VARIABLE: command', "
            "e.g. 'SSE_GATEWAY_ROOT: node ${SSE_GATEWAY_ROOT}/dist/index.js'"
        )
    return variable.strip(), command.strip()


def words(raw: str | None) -> tuple[str, ...]:
    return tuple(word for word in (raw or "").replace(",", " ").split() if word)


def env_lines(name: str, lines: Iterable[str] | str) -> tuple[tuple[str, str], ...]:
    if isinstance(lines, str):
        lines = lines.splitlines()
    pairs = []
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{name}_env line {line!r} is not KEY=VALUE")
        pairs.append((key.strip(), value.strip()))
    return tuple(pairs)
