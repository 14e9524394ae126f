"""One frozen configuration, resolved once: CLI > environment > ini > default.

Every setting is a row of ``SETTINGS``, and every service the same handful of
``<name>_*`` keys (``support.services``), so the precedence rule lives in one
place and ``pytest --help``, ``.env.test.example`` and docs/configuration.md list the same
names (``variables``).
"""

from __future__ import annotations

import configparser
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from stackwright.support.config.database import (
    ENGINES,
    POSTGRESQL,
    SERVER,
    SQLITE,
    check_engine,
    find_server,
    private_folder,
    server_spec,
    server_user,
)
from stackwright.support.config.services import (
    BUILD,
    BUILD_TIMEOUT,
    DATA,
    LINELIST_SUFFIXES,
    RUN_PLACEHOLDERS,
    SERVICE_SUFFIXES,
    TEMPLATE,
    WORKER_PLACEHOLDERS,
    ServiceSpec,
    check_service_keys,
    check_spec,
    cmd_variable,
    env_lines,
    parse_alt_command,
    parse_interpreter,
    parse_ready,
    parse_scope,
    placeholders_for,
    python_placeholders,
    service_names,
    stream_variable,
    url_placeholders,
    words,
)
from stackwright.support.config.steps import RunStep
from stackwright.support.errors import ConfigError

SERVICE_LOG_MODES = ("on", "retain-on-failure", "off")
#: The run steps' cache: on, off, or clear (empty it first, then on).
CACHE_MODES = ("on", "off", "clear")
#: Kept stacks (``stackwright up``): auto uses them outside CI, on always, off never.
ATTACH_MODES = ("auto", "on", "off")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def parse_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


#: The largest values a setting takes: past them a timer or a size overflows the system's.
MAX_SECONDS = 86_400.0  # a day
MAX_MEGABYTES = 1_000_000.0  # a terabyte


def parse_seconds(name: str, raw: str) -> float:
    return _positive(name, raw, "seconds", MAX_SECONDS)


def parse_megabytes(name: str, raw: str) -> float:
    return _positive(name, raw, "megabytes", MAX_MEGABYTES)


def _positive(name: str, raw: str, unit: str, largest: float) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= largest:
        raise ConfigError(
            f"{name} must be a positive number of {unit}, at most {largest:g}; got {raw!r}"
        )
    return value


def parse_service_logs(name: str, raw: str) -> str:
    if raw not in SERVICE_LOG_MODES:
        raise ConfigError(f"{name} must be one of {', '.join(SERVICE_LOG_MODES)}; got {raw!r}")
    return raw


def parse_services(name: str, raw: str, known: tuple[str, ...]) -> frozenset[str]:
    names = set(words(raw))
    if "all" in names:
        return frozenset(known)
    unknown = names - set(known)
    if unknown:
        raise ConfigError(
            f"{name} names unknown services {', '.join(sorted(unknown))}; "
            f"use a comma-separated list of {', '.join(known)} or 'all'"
        )
    return frozenset(names)


def _text(_name: str, raw: str) -> str:
    return raw


def _words(_name: str, raw: str) -> tuple[str, ...]:
    return words(raw)


#: db_reset's word for "no request: the harness restores the template itself".
RESET_FROM_TEMPLATE = "template"


def parse_db_reset(_name: str, raw: str) -> str | None:
    return None if raw.strip().lower() == RESET_FROM_TEMPLATE else raw


def parse_cache(name: str, raw: str) -> str:
    return _choice(name, raw, CACHE_MODES)


def parse_attach(name: str, raw: str) -> str:
    return _choice(name, raw, ATTACH_MODES)


def _choice(name: str, raw: str, choices: tuple[str, ...]) -> str:
    value = raw.strip().lower()
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}; got {raw!r}")
    return value


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
    #: The values the option takes, when they are closed (``--cache={on,off,clear}``).
    choices: tuple[str, ...] = ()
    #: The option's value in ``--help`` (``--service-timeout SECONDS``).
    metavar: str = "VALUE"

    @property
    def is_flag(self) -> bool:
        """A true/false setting: its option takes no value (``--keep-service-files``)."""
        return self.parse is parse_bool

    def checker(self, error: Callable[[str], Exception]) -> Callable[[str], str]:
        """How a command line reads this setting's option (pytest's, ``stackwright up``'s):
        the value is checked as it is read, a bad one raising ``error`` of the message, and
        kept as written, to be resolved with the other sources."""

        def check(raw: str) -> str:
            try:
                self.parse(str(self.cli), raw)
            except ConfigError as exc:
                raise error(str(exc)) from None
            return raw

        return check


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "service_logs",
        parse_service_logs,
        "retain-on-failure",
        "write each test's slice of the service logs: on, retain-on-failure or off",
        cli="--service-logs",
        env="PLAYWRIGHT_SERVICE_LOGS",
        ini="service_logs",
        choices=SERVICE_LOG_MODES,
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
        metavar="SECONDS",
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
        "connect_ws_endpoint",
        _text,
        None,
        "a Playwright browser server (playwright run-server) every worker's browser comes "
        "from, e.g. ws://browsers:3000/ (Playwright Test's variable); unset: a local browser",
        cli="--connect-ws-endpoint",
        env="PW_TEST_CONNECT_WS_ENDPOINT",
        ini="connect_ws_endpoint",
        metavar="WS_URL",
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
        "database",
        check_engine,
        SQLITE,
        "each worker's database: sqlite (a copy of the template file, {db}) or postgresql "
        "(a clone of the template database on a server the harness starts); {db_url} "
        "names it on either",
        env="PLAYWRIGHT_DATABASE",
        ini="database",
        choices=ENGINES,
    ),
    Setting(
        "postgres_bin",
        _text,
        None,
        "with database = postgresql: the folder of PostgreSQL's initdb and postgres "
        "(default: found through pg_config, PATH or /usr/lib/postgresql/*/bin)",
        env="PLAYWRIGHT_POSTGRES_BIN",
        ini="postgres_bin",
    ),
    Setting(
        "postgres_user",
        _text,
        None,
        "with database = postgresql, when the harness runs as root: the unprivileged user "
        "the server runs as (default postgres)",
        env="PLAYWRIGHT_POSTGRES_USER",
        ini="postgres_user",
    ),
    Setting(
        "template_cmd",
        _text,
        None,
        "command that seeds the template database once per run: the SQLite file {db}, or "
        "on any engine the database {db_url} names; {<service>_python} runs it on a "
        "service's interpreter (its own virtualenv)",
        env="TEMPLATE_DB_CMD",
        ini="template_db_cmd",
    ),
    Setting(
        "template_cwd",
        _text,
        ".",
        "working directory of the template command, relative to the rootdir",
        env="TEMPLATE_DB_CWD",
        ini="template_db_cwd",
    ),
    Setting(
        "template_inputs",
        _words,
        (),
        "files, folders or globs (relative to template_db_cwd) the template depends on; "
        "while they, the command and its env are unchanged, the template comes from the cache",
        env="TEMPLATE_DB_INPUTS",
        ini="template_db_inputs",
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
        parse_db_reset,
        None,
        "request that restores a worker's seeded data for fresh_db, as 'METHOD URL' "
        "(placeholders allowed); unset or 'template': fresh_db restores the template "
        "itself (copies the SQLite file back, or clones the PostgreSQL template again)",
        env="PLAYWRIGHT_DB_RESET",
        ini="db_reset",
    ),
    Setting(
        "preload",
        parse_bool,
        True,
        "start '{python} -m' services by forking a process that imported their "
        "<service>_preload modules once per run (false: run each command afresh)",
        env="PLAYWRIGHT_PRELOAD",
        ini="preload",
    ),
    Setting(
        "dev_services",
        _text,
        frozenset(),
        "services run with their <service>_dev_cmd (a dev server) instead of their build, "
        "e.g. frontend or all",
        cli="--dev-services",
        env="PLAYWRIGHT_DEV_SERVICES",
        ini="dev_services",
        metavar="SERVICES",
    ),
    Setting(
        "cache",
        parse_cache,
        "on",
        "the cache of the template and builds across runs: on, off (neither read nor "
        "written) or clear (emptied first)",
        cli="--cache",
        env="PLAYWRIGHT_CACHE",
        ini="cache",
        choices=CACHE_MODES,
    ),
    Setting(
        "cache_dir",
        _text,
        ".cache/stackwright",
        "folder of that cache, relative to the rootdir",
        env="PLAYWRIGHT_CACHE_DIR",
        ini="step_cache_dir",  # not cache_dir: pytest's own cache provider reads that key
    ),
    Setting(
        "cache_max_mb",
        parse_megabytes,
        2048.0,
        "size bound of that cache, in MB (least recently used entries go first)",
        env="PLAYWRIGHT_CACHE_MAX_MB",
        ini="cache_max_mb",
    ),
    Setting(
        "attach",
        parse_attach,
        "auto",
        "use the stacks 'stackwright up' keeps running, when its configuration is this "
        "run's: auto (yes, but never when CI is set), on (in CI too) or off (boot as usual)",
        cli="--attach",
        env="PLAYWRIGHT_ATTACH",
        ini="attach",
        choices=ATTACH_MODES,
    ),
    Setting(
        "page_url",
        _text,
        None,
        "base URL of the pages under test (pytest-playwright's base_url), e.g. {frontend_url}",
        env="PLAYWRIGHT_PAGE_URL",
        ini="page_url",
    ),
)

_SERVICE_TIMEOUT = next(setting for setting in SETTINGS if setting.field == "service_timeout")
#: ini keys read as lists of lines.
LINELIST_KEYS = ("template_db_env",)


@dataclass(frozen=True)
class HarnessConfig:
    """Everything a run needs, resolved once in the controller and sent to workers once."""

    root: str
    output_dir: str
    services: tuple[ServiceSpec, ...]
    service_logs: str = "retain-on-failure"
    stream_logs: frozenset[str] = frozenset()
    keep_service_files: bool = False
    service_timeout: float = 30.0
    include_slow: bool = False
    chromium_executable: str | None = None
    connect_ws_endpoint: str | None = None
    #: The configuration file as messages name it (``pytest -c`` may name another).
    ini_name: str = "playwright.ini"
    log_cap_mb: float = 5.0
    database: str = SQLITE
    postgres_bin: str | None = None
    postgres_user: str | None = None
    template_cmd: str | None = None
    template_cwd: str = "."
    template_env: tuple[tuple[str, str], ...] = ()
    template_inputs: tuple[str, ...] = ()
    template_timeout: float = 300.0
    dev_services: frozenset[str] = frozenset()
    cache: str = "on"
    cache_dir: str = ".cache/stackwright"
    cache_max_mb: float = 2048.0
    db_reset: str | None = None
    page_url: str | None = None
    attach: str = "auto"
    preload: bool = True
    host: str = "127.0.0.1"

    @property
    def services_dir(self) -> Path:
        return Path(self.output_dir) / ".services"

    @property
    def template_path(self) -> Path:
        """The template step's output: the SQLite file, or on PostgreSQL the note that
        the template database is seeded (what workers wait for)."""
        return self.services_dir / f"template.{self.database}"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.services)

    def scoped(self, scope: str) -> tuple[ServiceSpec, ...]:
        """The services of one scope, in start order."""
        return tuple(spec for spec in self.services if spec.scope == scope)

    @property
    def template(self) -> ServiceSpec | None:
        """The template step as a spec (command, cwd, env, timeout), or None."""
        if not self.template_cmd:
            return None
        return ServiceSpec(
            TEMPLATE,
            self.template_cmd,
            cwd=self.template_cwd,
            env=self.template_env,
            timeout=self.template_timeout,
            ready=("none", ""),
            scope="run",
        )

    @property
    def template_step(self) -> RunStep | None:
        spec = self.template
        if spec is None:
            return None
        return RunStep(
            spec, "db", "the template database", self.template_path.name, self.template_inputs,
            ini=self.ini_name,
        )  # fmt: skip

    @property
    def build_steps(self) -> tuple[RunStep, ...]:
        """Each service's build, in start order."""
        return tuple(_build_step(spec, self.ini_name) for spec in self.services if spec.build)

    @property
    def data_root(self) -> Path:
        """The run-scoped services' ``{data}`` folders, one per service: what the seed
        fills besides the template, cached with it. With a PostgreSQL server, in the
        run's private folder (``support.config.database.private_folder``)."""
        if self.database == POSTGRESQL:
            return private_folder(self.services_dir) / DATA
        return self.services_dir / DATA

    @property
    def data_services(self) -> tuple[str, ...]:
        """The run-scoped services that keep their data in ``{data}``."""
        return tuple(spec.name for spec in self.scoped("run") if spec.names(DATA))

    def build_dir(self, name: str) -> Path:
        """Where a service's build is, for this run (its ``{build}``)."""
        return self.services_dir / "builds" / name

    @property
    def cache_path(self) -> Path:
        return Path(self.root, self.cache_dir)

    def service(self, name: str) -> ServiceSpec:
        for spec in self.services:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """Plain data, for pytest-xdist's workerinput."""
        data = asdict(self)
        data["stream_logs"] = sorted(self.stream_logs)
        data["dev_services"] = sorted(self.dev_services)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HarnessConfig:
        services = tuple(
            ServiceSpec(
                **{
                    **spec,
                    "env": _pairs(spec["env"]),
                    "build_env": _pairs(spec["build_env"]),
                    "build_inputs": tuple(spec["build_inputs"]),
                    "inputs": tuple(spec.get("inputs", ())),
                    "ready": tuple(spec["ready"]),
                    "preload": tuple(spec["preload"]),
                }
            )
            for spec in data["services"]
        )
        return cls(
            **{
                **data,
                "services": services,
                "stream_logs": frozenset(data["stream_logs"]),
                "dev_services": frozenset(data["dev_services"]),
                "template_env": _pairs(data["template_env"]),
                "template_inputs": tuple(data["template_inputs"]),
            }
        )


def _build_step(spec: ServiceSpec, ini: str) -> RunStep:
    """A service's build as a run step: in its cwd, on its interpreter, writing ``{build}``."""
    prefix = f"{spec.name}_dev_build" if spec.dev else f"{spec.name}_build"
    command = ServiceSpec(
        prefix,
        spec.build,
        cwd=spec.cwd,
        env=spec.build_env,
        timeout=spec.build_timeout,
        python=spec.python,
        ready=("none", ""),
        scope="run",
    )
    return RunStep(
        command,
        BUILD,
        f"the {spec.name} {'dev build' if spec.dev else 'build'}",
        f"builds/{spec.name}",
        spec.build_inputs,
        command_key=prefix,
        cwd_key=f"{spec.name}_cwd",
        timeout_key=f"{spec.name}_build_timeout",
        inputs_key=f"{spec.name}_build_inputs",
        ini=ini,
    )


def _pairs(items: Any) -> tuple[tuple[str, str], ...]:
    return tuple((str(key), str(value)) for key, value in items)


@dataclass
class Sources:
    """The raw values a configuration is resolved from."""

    root: Path
    output_dir: str
    cli: Mapping[str, Any] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    ini: Mapping[str, Any] = field(default_factory=dict)
    #: The ini's keys nothing registered (pytest's own account); None: every key of
    #: ``ini`` not among the harness's settings.
    unknown_keys: tuple[str, ...] | None = None
    #: The configuration file as messages name it.
    ini_name: str = "playwright.ini"

    def pick(self, setting: Setting) -> Any:
        """The first value found: CLI, then environment, then ini, then default."""
        if (option := self._given_on_cli(setting)) is not None:
            value = self.cli[setting.field]
            return setting.parse(option, value) if isinstance(value, str) else value
        if (variable := self._given_in_env(setting)) is not None:
            return setting.parse(variable, self.env[variable])
        if setting.ini and self.ini_value(setting.ini) is not None:
            return setting.parse(f"{setting.ini} (ini)", str(self.ini_value(setting.ini)).strip())
        return setting.default

    def ini_value(self, key: str) -> Any:
        """The ini's value for ``key``, None when absent or empty."""
        value = self.ini.get(key)
        return None if value in (None, "", []) else value

    def env_value(self, variable: str) -> str | None:
        """The variable's value, None when unset or empty."""
        value = self.env.get(variable, "")
        return value if value != "" else None

    def beats_ini(self, setting: Setting) -> bool:
        """Whether the CLI or the environment gives ``setting``, so no ini value counts."""
        return self._given_on_cli(setting) is not None or self._given_in_env(setting) is not None

    def _given_on_cli(self, setting: Setting) -> str | None:
        """The option that gives ``setting`` on this command line, if any."""
        return setting.cli if setting.cli and self.cli.get(setting.field) is not None else None

    def _given_in_env(self, setting: Setting) -> str | None:
        """The variable that gives ``setting`` in this environment (set, not empty), if any."""
        return setting.env if setting.env and self.env_value(setting.env) is not None else None


def check_removed_modes(env: Mapping[str, str]) -> None:
    """Refuse settings of the TypeScript harness that no longer exist."""
    raw = env.get("PLAYWRIGHT_MANAGED_SERVICES")
    if raw is not None and raw.strip().lower() in _FALSE - {""}:
        raise ConfigError(
            "PLAYWRIGHT_MANAGED_SERVICES=false is no longer supported: external services "
            "are not supported; every worker starts its own services. Remove "
            "PLAYWRIGHT_MANAGED_SERVICES from your environment and .env.test (and point the "
            "harness at other services with <service>_cmd in the ini, or the "
            "variable that replaces a service's command, instead)."
        )


def resolve_config(sources: Sources) -> HarnessConfig:
    """Resolve every setting once; raise ConfigError naming the setting to fix."""
    check_removed_modes(sources.env)
    names = service_names(sources.ini_value("services"), ini_name=sources.ini_name)
    settings = {"services", "stream_logs", *LINELIST_KEYS, *(s.ini for s in SETTINGS if s.ini)}
    unknown = sources.unknown_keys
    check_service_keys(sources.ini if unknown is None else unknown, names, settings)
    values = {setting.field: sources.pick(setting) for setting in SETTINGS}
    server = _postgres_server(sources, names, values) if values["database"] == POSTGRESQL else None
    values["stream_logs"] = _stream_logs(sources, names if server is None else (SERVER, *names))
    values["dev_services"] = _dev_services(sources, names, values["dev_services"])
    values["template_env"] = env_lines("template_db", sources.ini_value("template_db_env") or ())
    resolved = [_service(sources, name, values) for name in names]
    if server is not None:
        resolved.insert(0, (server, "database = postgresql"))
        names = (SERVER, *names)
    services = tuple(spec for spec, _source in resolved)
    every = (
        *RUN_PLACEHOLDERS,
        "port",
        *WORKER_PLACEHOLDERS,
        *url_placeholders(names),
        *python_placeholders(names),
    )
    env = sources.env
    for spec, source in resolved:
        check_spec(spec, source, placeholders_for(spec, services), every, env)
    config = HarnessConfig(
        root=str(sources.root),
        output_dir=str(Path(sources.root, sources.output_dir)),
        services=services,
        ini_name=sources.ini_name,
        **values,
    )
    if config.template is not None:
        template = config.template
        check_spec(template, "template_db_cmd", placeholders_for(template, services), every, env)
    if config.database != SQLITE:
        _refuse_sqlite_path(config)
    for step in config.build_steps:
        known = (*RUN_PLACEHOLDERS, *python_placeholders(names), BUILD)
        check_spec(step.spec, step.command_key, known, every, env)
    for field_name, setting in (("db_reset", "db_reset"), ("page_url", "page_url")):
        text = values[field_name]
        if text:
            spec = ServiceSpec(setting, text)
            check_spec(spec, setting, placeholders_for(spec, services), every, env)
    return config


def _postgres_server(
    sources: Sources, names: tuple[str, ...], values: dict[str, Any]
) -> ServiceSpec:
    """The PostgreSQL server the harness adds, found on this machine."""
    if SERVER in names:
        raise ConfigError(
            f"database = postgresql adds a run-scoped service named {SERVER!r}, the server "
            f"the harness starts; rename your own {SERVER} service in {sources.ini_name}"
        )
    ini = sources.ini_name
    found = find_server(values["postgres_bin"], ini=ini)
    values["postgres_bin"] = str(found)  # as found: the cache key names its version
    return server_spec(
        found,
        server_user(values["postgres_user"], ini=ini),
        values["service_timeout"],
    )


def _refuse_sqlite_path(config: HarnessConfig) -> None:
    """On another engine there is no SQLite file: a command naming ``{db}`` is a mistake."""
    specs = [*config.services, *([config.template] if config.template else [])]
    for spec in specs:
        if spec.names("db"):
            key = "template_db_cmd" if spec.name == TEMPLATE else f"{spec.name}_cmd (or _env)"
            raise ConfigError(
                f"{key} names {{db}}, the worker's SQLite file, but database = "
                f"{config.database}: name {{db_url}} instead (the URL of its database, on "
                f"any engine), in {config.ini_name}"
            )
    if config.db_reset and "{db}" in config.db_reset:
        raise ConfigError(
            f"db_reset names {{db}}, but database = {config.database}: name {{db_url}} "
            f"instead, in {config.ini_name}"
        )


def _stream_logs(sources: Sources, names: tuple[str, ...]) -> frozenset[str]:
    if sources.cli.get("stream_logs") is not None:
        return parse_services("--stream-logs", sources.cli["stream_logs"], names)
    variables = {name: stream_variable(name) for name in names}
    given = {name: var for name, var in variables.items() if sources.env_value(var) is not None}
    if given:
        return frozenset(name for name, var in given.items() if parse_bool(var, sources.env[var]))
    return parse_services("stream_logs (ini)", str(sources.ini_value("stream_logs") or ""), names)


def _dev_services(sources: Sources, names: tuple[str, ...], raw: str | None) -> frozenset[str]:
    """The services run with their dev command; 'all' means every one that has one."""
    with_dev = tuple(name for name in names if _ini(sources, name, "dev_cmd"))
    if not raw:
        return frozenset()
    chosen = parse_services("dev_services", raw, names)
    if "all" in words(raw):
        return frozenset(with_dev)
    missing = sorted(chosen - set(with_dev))
    if missing:
        raise ConfigError(
            f"dev_services names {', '.join(missing)}, which has no dev command: set "
            f"{missing[0]}_dev_cmd in {sources.ini_name}, or leave it out of "
            "dev_services (PLAYWRIGHT_DEV_SERVICES)"
        )
    return chosen


def _ini(sources: Sources, name: str, suffix: str) -> Any:
    return sources.ini_value(f"{name}_{suffix}")


def _command_source(sources: Sources, name: str, dev: bool) -> tuple[str | None, str]:
    """The service's command and the setting that gave it: its variable, then its
    ``alt_cmd`` variable, then (in dev_services) its dev command, then the ini's."""
    variable = cmd_variable(name, _ini(sources, name, "cmd_env"))
    if (command := sources.env_value(variable)) is not None:
        return command, variable
    alternative = parse_alt_command(name, _ini(sources, name, "alt_cmd"))
    if alternative is not None and sources.env_value(alternative[0]) is not None:
        return alternative[1], f"{alternative[0]} ({name}_alt_cmd in {sources.ini_name})"
    suffix = "dev_cmd" if dev else "cmd"
    return _ini(sources, name, suffix), f"{name}_{suffix} in {sources.ini_name}"


def _service(sources: Sources, name: str, values: Mapping[str, Any]) -> tuple[ServiceSpec, str]:
    """The service's spec, and the setting its command came from (for error messages)."""
    dev = name in values["dev_services"]
    command, source = _command_source(sources, name, dev)
    if not command:
        raise ConfigError(
            f"no command for the {name} service: set {name}_cmd in {sources.ini_name} "
            f"or {cmd_variable(name, _ini(sources, name, 'cmd_env'))} in the environment"
        )
    # Preload modules and the build belong to the ini's command: another command
    # (from a variable) gets neither.
    ini_command = source.endswith(f"_cmd in {sources.ini_name}")
    preload = words(_ini(sources, name, "preload")) if ini_command else ()
    build = _ini(sources, name, "dev_build" if dev else "build") if ini_command else None
    env = env_lines(name, _ini(sources, name, "env") or ())
    build_env = env_lines(f"{name}_build", _ini(sources, name, "build_env") or ())
    if dev:
        dev_env = env_lines(f"{name}_dev", _ini(sources, name, "dev_env") or ())
        env, build_env = env + dev_env, build_env + dev_env
    build_timeout = BUILD_TIMEOUT
    if _ini(sources, name, "build_timeout"):
        build_timeout = parse_seconds(
            f"{name}_build_timeout (ini)", str(_ini(sources, name, "build_timeout"))
        )
    # A service's own ini timeout beats the ini's service_timeout, never the
    # command line or the environment (CLI > environment > ini > default).
    timeout = values["service_timeout"]
    if _ini(sources, name, "timeout") and not sources.beats_ini(_SERVICE_TIMEOUT):
        timeout = parse_seconds(f"{name}_timeout (ini)", str(_ini(sources, name, "timeout")))
    spec = ServiceSpec(
        name=name,
        command=str(command).strip(),
        cwd=str(_ini(sources, name, "cwd") or "."),
        env=env,
        ready=parse_ready(name, _ini(sources, name, "ready"), _ini(sources, name, "ready_path")),
        timeout=timeout,
        preload=preload,
        scope=parse_scope(name, _ini(sources, name, "scope")),
        python=parse_interpreter(name, _ini(sources, name, "python"), sources.root, sources.env),
        build=str(build or "").strip(),
        build_env=build_env,
        build_inputs=words(_ini(sources, name, "build_inputs")),
        inputs=words(_ini(sources, name, "inputs")),
        build_timeout=build_timeout,
        dev=dev,
    )
    return spec, source


@dataclass(frozen=True)
class Variable:
    """One environment variable a run reads, for --help, docs/configuration.md and
    .env.test.example."""

    name: str
    ini: str
    default: str
    help: str
    cli: str = ""


def variables(services: Mapping[str, Mapping[str, Any]] | None = None) -> list[Variable]:
    """Every variable: the settings', then each configured service's.

    ``services`` maps each service name to its ini keys (``cmd_env``, ``alt_cmd``).
    """
    rows = [
        Variable(
            s.env, s.ini or "", "" if s.default is None else str(s.default), s.help, s.cli or ""
        )
        for s in SETTINGS
        if s.env
    ]
    for name, keys in (services or {}).items():
        variable = cmd_variable(name, keys.get("cmd_env"))
        rows.append(Variable(variable, f"{name}_cmd", "", f"replaces the {name} command"))
        alternative = parse_alt_command(name, keys.get("alt_cmd"))
        if alternative is not None:
            rows.append(
                Variable(
                    alternative[0],
                    f"{name}_alt_cmd",
                    "",
                    f"when set, the {name} runs {alternative[1]}",
                )
            )
        rows.append(
            Variable(
                stream_variable(name),
                "stream_logs",
                "false",
                f"print the {name} log live",
                "--stream-logs",
            )
        )
    return rows


def _shown(default: Any) -> str:
    if default is None:
        return ""
    if isinstance(default, bool):
        return str(default).lower()
    return f"{default:g}" if isinstance(default, float) else str(default)


def read_ini(path: Path) -> dict[str, Any]:
    """The ``[pytest]`` section of an ini file as pytest would give it to ``Sources``
    (``*_env`` keys as lists of lines), for tools that resolve a configuration
    without running pytest: the benchmarks, the docs' variable table."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path)
    except configparser.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"{path} is not a valid ini file: {first}") from None
    ini: dict[str, Any] = dict(parser["pytest"]) if parser.has_section("pytest") else {}
    names = words(ini.get("services"))
    lists = {f"{name}_{suffix}" for name in names for suffix in LINELIST_SUFFIXES}
    lists |= set(LINELIST_KEYS)
    for key in lists & ini.keys():
        ini[key] = [line.strip() for line in ini[key].splitlines() if line.strip()]
    return ini


def ini_keys(path: Path | None) -> list[str]:
    """The keys of pytest's section in the configuration file pytest read (``[pytest]``,
    setup.cfg's ``[tool:pytest]``, pyproject's ``[tool.pytest.ini_options]``); none when
    there is no file, or pytest read it and it cannot be read here again."""
    if path is None:
        return []
    try:
        if path.suffix == ".toml":
            tool = tomllib.loads(path.read_text(encoding="utf-8")).get("tool", {})
            section = tool.get("pytest", {})
            return list(section.get("ini_options", section))
        parser = configparser.ConfigParser(interpolation=None)
        parser.read(path, encoding="utf-8")
    except (OSError, ValueError, configparser.Error):
        return []
    name = "tool:pytest" if path.name == "setup.cfg" else "pytest"
    return list(parser[name]) if parser.has_section(name) else []


def service_keys(ini: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each configured service's ini keys by suffix, for ``variables``."""
    names = service_names(ini.get("services"))
    return {
        name: {suffix: ini.get(f"{name}_{suffix}") for suffix in SERVICE_SUFFIXES} for name in names
    }
