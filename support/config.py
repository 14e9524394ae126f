"""One frozen configuration, resolved once: CLI > environment > ini > default.

Every setting is a row of ``SETTINGS`` (or ``SERVICE_KEYS`` for the three
services), so the precedence rule lives in one place and ``pytest --help``,
``.env.test.example`` and the README can list the same names.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from .errors import ConfigError

SERVICE_NAMES = ("backend", "gateway", "frontend")
SERVICE_LOG_MODES = ("on", "retain-on-failure", "off")
PLACEHOLDERS = (
    "python",
    "host",
    "port",
    "db",
    "root",
    "worker",
    "worker_dir",
    "backend_url",
    "gateway_url",
    "frontend_url",
    "gateway_root",
)
PLACEHOLDER_LIST = ", ".join("{" + name + "}" for name in PLACEHOLDERS)
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def parse_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def parse_seconds(name: str, raw: str) -> float:
    return _positive(name, raw, "seconds")


def parse_megabytes(name: str, raw: str) -> float:
    return _positive(name, raw, "megabytes")


def _positive(name: str, raw: str, unit: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise ConfigError(f"{name} must be a positive number of {unit}, got {raw!r}")
    return value


def parse_service_logs(name: str, raw: str) -> str:
    if raw not in SERVICE_LOG_MODES:
        raise ConfigError(f"{name} must be one of {', '.join(SERVICE_LOG_MODES)}; got {raw!r}")
    return raw


def parse_services(name: str, raw: str) -> frozenset[str]:
    names = {part.strip() for part in raw.replace(" ", ",").split(",") if part.strip()}
    if "all" in names:
        return frozenset(SERVICE_NAMES)
    unknown = names - set(SERVICE_NAMES)
    if unknown:
        raise ConfigError(
            f"{name} names unknown services {', '.join(sorted(unknown))}; "
            f"use a comma-separated list of {', '.join(SERVICE_NAMES)} or 'all'"
        )
    return frozenset(names)


def _text(_name: str, raw: str) -> str:
    return raw


@dataclass(frozen=True)
class Setting:
    """One setting and where it may come from, in order of precedence."""

    field: str
    parse: Callable[[str, str], Any]
    default: Any
    help: str
    cli: str | None = None
    env: str | None = None
    ini: str | None = None


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "service_logs",
        parse_service_logs,
        "retain-on-failure",
        "write each test's slice of the service logs: on, retain-on-failure or off",
        cli="--service-logs",
        env="PLAYWRIGHT_SERVICE_LOGS",
        ini="service_logs",
    ),
    Setting(
        "keep_service_files",
        parse_bool,
        False,
        "keep each worker's database and logs after the run, for debugging",
        cli="--keep-service-files",
        env="PLAYWRIGHT_KEEP_SERVICE_FILES",
        ini="keep_service_files",
    ),
    Setting(
        "service_timeout",
        parse_seconds,
        30.0,
        "seconds a service may take to become ready",
        cli="--service-timeout",
        env="PLAYWRIGHT_SERVICE_TIMEOUT",
        ini="service_timeout",
    ),
    Setting(
        "include_slow",
        parse_bool,
        False,
        "run tests marked slow (they are deselected unless -m asks for them)",
        env="INCLUDE_SLOW_TESTS",
        ini="include_slow_tests",
    ),
    Setting(
        "chromium_executable",
        _text,
        None,
        "Chromium to launch instead of the one found automatically",
        env="PLAYWRIGHT_CHROMIUM_EXECUTABLE",
        ini="chromium_executable",
    ),
    Setting(
        "log_cap_mb",
        parse_megabytes,
        5.0,
        "largest slice of one service log filed with a test, in MB",
        env="PLAYWRIGHT_SERVICE_LOG_CAP_MB",
        ini="service_log_cap_mb",
    ),
    Setting(
        "template_cmd",
        _text,
        None,
        "command that builds the seeded template database at {db}, once per run",
        env="TEMPLATE_DB_CMD",
        ini="template_db_cmd",
    ),
    Setting(
        "template_timeout",
        parse_seconds,
        300.0,
        "seconds the template command may take before it is stopped",
        env="TEMPLATE_DB_TIMEOUT",
        ini="template_db_timeout",
    ),
    Setting(
        "db_reset",
        _text,
        None,
        "request that restores a worker's seeded data for fresh_db, as 'METHOD URL' "
        "(placeholders allowed); unset: fresh_db copies the template into the worker's SQLite file",
        env="PLAYWRIGHT_DB_RESET",
        ini="db_reset",
    ),
    Setting(
        "preload",
        parse_bool,
        True,
        "start '{python} -m' services by forking a process that imported their "
        "*_preload modules once per run (false: run each command afresh)",
        env="PLAYWRIGHT_PRELOAD",
        ini="preload",
    ),
    Setting(
        "gateway_root",
        _text,
        None,
        "checkout of the Node.js SSE Gateway; runs node {gateway_root}/dist/index.js",
        env="SSE_GATEWAY_ROOT",
        ini="gateway_root",
    ),
)

_SERVICE_TIMEOUT = next(setting for setting in SETTINGS if setting.field == "service_timeout")

#: Per-service settings: (field, ini suffix, help).
SERVICE_KEYS = (
    (
        "command",
        "cmd",
        "command template; placeholders: " + PLACEHOLDER_LIST,
    ),
    ("cwd", "cwd", "working directory, relative to the rootdir"),
    ("env", "env", "extra environment, one KEY=VALUE per line (placeholders allowed)"),
    ("ready_path", "ready_path", "path polled until it answers 2xx"),
    ("timeout", "timeout", "start timeout in seconds (default: service_timeout)"),
    (
        "preload",
        "preload",
        "modules to import once per run for a '{python} -m' command (see preload)",
    ),
)
#: Environment variables that replace a service's command.
SERVICE_CMD_ENV = {
    "backend": "BACKEND_CMD",
    "gateway": "SSE_GATEWAY_CMD",
    "frontend": "FRONTEND_CMD",
}
STREAM_ENV = {name: f"PLAYWRIGHT_{name.upper()}_LOG_STREAM" for name in SERVICE_NAMES}
NODE_GATEWAY_CMD = "node {gateway_root}/dist/index.js"


@dataclass(frozen=True)
class ServiceSpec:
    """How to run one service: configuration, not code."""

    name: str
    command: str
    cwd: str = "."
    env: tuple[tuple[str, str], ...] = ()
    ready_path: str = "/"
    timeout: float = 30.0
    #: Modules the run's preload server imports for this service (``{python} -m`` only).
    preload: tuple[str, ...] = ()

    def render(
        self, values: Mapping[str, str], inherited: Mapping[str, str] | None = None
    ) -> list[str]:
        """The argv with placeholders filled in (split first, so paths may hold spaces)
        and ``${VAR}`` taken from ``inherited``, the environment the service inherits."""
        return [
            _fill(self.name, "command", expand(token, inherited or {}), values)
            for token in split_command(self)
        ]

    def render_env(
        self, values: Mapping[str, str], inherited: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """The extra environment, filled in like the command (``PATH=${PATH}:/opt/bin``)."""
        return {
            key: _fill(self.name, f"env {key}", expand(value, inherited or {}), values)
            for key, value in self.env
        }


_INHERITED = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand(template: str, inherited: Mapping[str, str]) -> str:
    """Replace ``${VAR}`` by the inherited variable ('' when unset, as a shell does)."""
    if "${" not in template:
        return template
    return _INHERITED.sub(
        lambda match: inherited.get(match.group(1), "").replace("{", "{{").replace("}", "}}"),
        template,
    )


def split_command(spec: ServiceSpec) -> list[str]:
    """The command's words, or ConfigError for an empty or badly quoted command."""
    try:
        words = shlex.split(spec.command)
    except ValueError as exc:
        raise ConfigError(
            f"the {spec.name} command {spec.command!r} cannot be split: {exc}"
        ) from None
    if not words:
        raise ConfigError(f"the {spec.name} command is empty; give it a program to run")
    return words


def check_spec(spec: ServiceSpec, source: str) -> ServiceSpec:
    """Render ``spec`` once with stand-in values, so a bad command stops the run at once
    (naming ``source``, the setting it came from) instead of failing every test."""
    stand_in = {name: f"<{name}>" for name in PLACEHOLDERS}
    try:
        spec.render(stand_in)
        spec.render_env(stand_in)
    except ConfigError as exc:
        raise ConfigError(f"{exc} (set by {source})") from None
    return spec


def _fill(service: str, what: str, template: str, values: Mapping[str, str]) -> str:
    try:
        return template.format_map(values)
    except KeyError as exc:
        raise ConfigError(
            f"{service} {what} uses unknown placeholder {{{exc.args[0]}}}; "
            f"available: {PLACEHOLDER_LIST}"
        ) from None
    except (ValueError, IndexError) as exc:
        raise ConfigError(f"{service} {what} {template!r} is not a valid template: {exc}") from None


@dataclass(frozen=True)
class HarnessConfig:
    """Everything a run needs, resolved once in the controller and sent to workers."""

    root: str
    output_dir: str
    services: tuple[ServiceSpec, ...]
    service_logs: str = "retain-on-failure"
    stream_logs: frozenset[str] = frozenset()
    keep_service_files: bool = False
    service_timeout: float = 30.0
    include_slow: bool = False
    chromium_executable: str | None = None
    log_cap_mb: float = 5.0
    template_cmd: str | None = None
    template_timeout: float = 300.0
    db_reset: str | None = None
    gateway_root: str | None = None
    preload: bool = True
    host: str = "127.0.0.1"
    #: Filled in by the controller: the run's port base and live-log relay.
    run_id: str = ""
    port_base: int = 0
    port_block: int = 20
    relay_address: str | None = None
    preload_address: str | None = None

    @property
    def services_dir(self) -> Path:
        return Path(self.output_dir) / ".services"

    @property
    def template_path(self) -> Path:
        return self.services_dir / "template.sqlite"

    @property
    def preload_modules(self) -> list[str]:
        """Every service's preload modules, once each, when preloading is on."""
        if not self.preload:
            return []
        return list(dict.fromkeys(module for spec in self.services for module in spec.preload))

    def service(self, name: str) -> ServiceSpec:
        for spec in self.services:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def with_run(self, **values: Any) -> HarnessConfig:
        return replace(self, **values)

    def to_dict(self) -> dict[str, Any]:
        """Plain data, for pytest-xdist's workerinput."""
        data = asdict(self)
        data["stream_logs"] = sorted(self.stream_logs)
        data["services"] = [
            {**asdict(spec), "env": [list(pair) for pair in spec.env]} for spec in self.services
        ]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HarnessConfig:
        services = tuple(
            ServiceSpec(
                **{
                    **spec,
                    "env": tuple(tuple(pair) for pair in spec["env"]),
                    "preload": tuple(spec["preload"]),
                }
            )
            for spec in data["services"]
        )
        return cls(**{**data, "services": services, "stream_logs": frozenset(data["stream_logs"])})


@dataclass
class Sources:
    """The raw values a configuration is resolved from."""

    root: Path
    output_dir: str
    cli: Mapping[str, Any] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    ini: Mapping[str, Any] = field(default_factory=dict)

    def pick(self, setting: Setting) -> Any:
        """The first value found: CLI, then environment, then ini, then default."""
        if (option := self._given_on_cli(setting)) is not None:
            value = self.cli[setting.field]
            return setting.parse(option, value) if isinstance(value, str) else value
        if (variable := self._given_in_env(setting)) is not None:
            return setting.parse(variable, self.env[variable])
        if setting.ini and self.ini.get(setting.ini) not in (None, "", []):
            return setting.parse(f"{setting.ini} (ini)", str(self.ini[setting.ini]).strip())
        return setting.default

    def beats_ini(self, setting: Setting) -> bool:
        """Whether the CLI or the environment gives ``setting``, so no ini value counts."""
        return self._given_on_cli(setting) is not None or self._given_in_env(setting) is not None

    def _given_on_cli(self, setting: Setting) -> str | None:
        """The option that gives ``setting`` on this command line, if any."""
        return setting.cli if setting.cli and self.cli.get(setting.field) is not None else None

    def _given_in_env(self, setting: Setting) -> str | None:
        """The variable that gives ``setting`` in this environment (set, not empty), if any."""
        return setting.env if setting.env and self.env.get(setting.env, "") != "" else None


def check_removed_modes(env: Mapping[str, str]) -> None:
    """Refuse settings of the TypeScript harness that no longer exist."""
    raw = env.get("PLAYWRIGHT_MANAGED_SERVICES")
    if raw is not None and raw.strip().lower() in _FALSE - {""}:
        raise ConfigError(
            "PLAYWRIGHT_MANAGED_SERVICES=false is no longer supported: external services "
            "are not supported; every worker starts its own backend, SSE gateway and "
            "frontend. Remove PLAYWRIGHT_MANAGED_SERVICES from your environment and .env.test "
            "(and point the harness at other services with backend_cmd, SSE_GATEWAY_CMD or "
            "FRONTEND_CMD instead)."
        )


def resolve_config(sources: Sources) -> HarnessConfig:
    """Resolve every setting once; raise ConfigError naming the setting to fix."""
    check_removed_modes(sources.env)
    values = {setting.field: sources.pick(setting) for setting in SETTINGS}
    values["stream_logs"] = _stream_logs(sources)
    services = tuple(_service(sources, name, values) for name in SERVICE_NAMES)
    if values["template_cmd"]:
        check_spec(ServiceSpec("template", values["template_cmd"]), "template_db_cmd")
    if values["db_reset"]:
        check_spec(ServiceSpec("db_reset", values["db_reset"]), "db_reset")
    return HarnessConfig(
        root=str(sources.root),
        output_dir=str(Path(sources.root, sources.output_dir)),
        services=services,
        **values,
    )


def _stream_logs(sources: Sources) -> frozenset[str]:
    if sources.cli.get("stream_logs") is not None:
        return parse_services("--stream-logs", sources.cli["stream_logs"])
    from_env = {
        name
        for name, var in STREAM_ENV.items()
        if sources.env.get(var, "") != "" and parse_bool(var, sources.env[var])
    }
    if from_env or any(sources.env.get(var, "") != "" for var in STREAM_ENV.values()):
        return frozenset(from_env)
    return parse_services("stream_logs (ini)", str(sources.ini.get("stream_logs") or ""))


def _service(sources: Sources, name: str, values: Mapping[str, Any]) -> ServiceSpec:
    ini = {key: sources.ini.get(f"{name}_{suffix}") for key, suffix, _ in SERVICE_KEYS}
    variable = SERVICE_CMD_ENV[name]
    command, source = sources.env.get(variable) or None, variable
    if command is None and name == "gateway" and values["gateway_root"]:
        command, source = NODE_GATEWAY_CMD, "SSE_GATEWAY_ROOT"
    # Preload modules belong to the ini's command: another command does not get them.
    preload = () if command else _words(ini["preload"])
    if command is None:
        command, source = ini["command"], f"{name}_cmd in playwright.ini"
    if not command:
        raise ConfigError(
            f"no command for the {name}: set {name}_cmd in playwright.ini "
            f"or {SERVICE_CMD_ENV[name]} in the environment"
        )
    # A service's own ini timeout beats the ini's service_timeout, never the
    # command line or the environment (CLI > environment > ini > default).
    timeout = values["service_timeout"]
    if ini["timeout"] and not sources.beats_ini(_SERVICE_TIMEOUT):
        timeout = parse_seconds(f"{name}_timeout (ini)", str(ini["timeout"]))
    spec = ServiceSpec(
        name=name,
        command=str(command).strip(),
        cwd=str(ini["cwd"] or "."),
        env=_env_lines(name, ini["env"] or ()),
        ready_path=str(ini["ready_path"] or "/"),
        timeout=timeout,
        preload=preload,
    )
    return check_spec(spec, source)


def _words(raw: str | None) -> tuple[str, ...]:
    return tuple(word for word in (raw or "").replace(",", " ").split() if word)


def _env_lines(name: str, lines: Iterable[str] | str) -> tuple[tuple[str, str], ...]:
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
