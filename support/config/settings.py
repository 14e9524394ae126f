"""The settings table and the one frozen configuration it resolves to.

Every setting is a row of ``SETTINGS``, and every service the same handful of
``<name>_*`` keys (``support.config.services``), so the precedence rule lives in one
place (``support.config.resolve``: CLI > environment > ini > default) and ``pytest
--help``, ``.env.test.example`` and docs/configuration.md list the same names
(``support.config.variables``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from stackwright.support.config.database import (
    ENGINES,
    POSTGRESQL,
    SQLITE,
    check_engine,
    private_folder,
)
from stackwright.support.config.services import (
    BUILD,
    DATA,
    TEMPLATE,
    Command,
    ServiceSpec,
    words,
)
from stackwright.support.config.steps import RunStep
from stackwright.support.errors import ConfigError

SERVICE_LOG_MODES = ("on", "retain-on-failure", "off")
#: The run steps' cache: on, off, or clear (empty it first, then on).
CACHE_MODES = ("on", "off", "clear")
#: Kept stacks (``stackwright up``): auto uses them outside CI, on always, off never.
ATTACH_MODES = ("auto", "on", "off")
TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


def parse_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
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

SERVICE_TIMEOUT_SETTING = next(
    setting for setting in SETTINGS if setting.field == "service_timeout"
)
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
    def template(self) -> Command | None:
        """The template step's command (its cwd, env and timeout), or None."""
        if not self.template_cmd:
            return None
        return Command(
            TEMPLATE,
            self.template_cmd,
            cwd=self.template_cwd,
            env=self.template_env,
            timeout=self.template_timeout,
            env_keys=("template_db_env",),
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
                    "env_keys": tuple(spec.get("env_keys", ())),
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
    command = Command(
        prefix,
        spec.build,
        cwd=spec.cwd,
        env=spec.build_env,
        timeout=spec.build_timeout,
        python=spec.python,
        env_keys=(f"{spec.name}_build_env", *([f"{spec.name}_dev_env"] if spec.dev else [])),
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
