"""Resolution: the one frozen configuration from its sources, CLI > environment >
``playwright.ini`` > defaults, every service and run step checked once; and the ini
file read as pytest reads it, for tools that resolve without pytest."""

from __future__ import annotations

import configparser
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stackwright.support.config.database import (
    POSTGRESQL,
    SERVER,
    SQLITE,
    find_server,
    server_spec,
    server_user,
)
from stackwright.support.config.services import (
    BUILD,
    BUILD_TIMEOUT,
    LINELIST_SUFFIXES,
    RUN_PLACEHOLDERS,
    SERVICE_SUFFIXES,
    TEMPLATE,
    WORKER_PLACEHOLDERS,
    Command,
    ServiceSpec,
    check_service_keys,
    check_spec,
    cmd_variable,
    env_lines,
    parse_alt_command,
    parse_interpreter,
    parse_log_owner,
    parse_ready,
    parse_scope,
    placeholders_for,
    python_placeholders,
    service_names,
    stream_variable,
    template_placeholders,
    url_placeholders,
    words,
    worker_placeholders,
)
from stackwright.support.config.settings import (
    FALSE_WORDS,
    LINELIST_KEYS,
    SERVICE_TIMEOUT_SETTING,
    SETTINGS,
    HarnessConfig,
    Setting,
    parse_bool,
    parse_seconds,
    parse_services,
)
from stackwright.support.errors import ConfigError


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
    if raw is not None and raw.strip().lower() in FALSE_WORDS - {""}:
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
    keys = sources.ini if unknown is None else unknown
    check_service_keys(keys, names, settings, all_known=unknown is not None)
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
        check_spec(config.template, "template_db_cmd", template_placeholders(services), every, env)
    if config.database != SQLITE:
        _refuse_sqlite_path(config)
    if server is not None:
        _refuse_server_address(config)
    for step in config.build_steps:
        known = (*RUN_PLACEHOLDERS, *python_placeholders(names), BUILD)
        check_spec(step.spec, step.command_key, known, every, env)
    for field_name, setting in (("db_reset", "db_reset"), ("page_url", "page_url")):
        text = values[field_name]
        if text:
            check_spec(Command(setting, text), setting, worker_placeholders(services), every, env)
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
    key = _naming(config, "db", ("db_reset",))
    if key:
        raise ConfigError(
            f"{key} names {{db}}, the worker's SQLite file, but database = "
            f"{config.database}: name {{db_url}} instead (the URL of its database, on "
            f"any engine), in {config.ini_name}"
        )


def _refuse_server_address(config: HarnessConfig) -> None:
    """``{postgres_url}`` would be ``http://host:port``, not a database: a mistake."""
    url = f"{SERVER}_url"
    key = _naming(config, url, ("db_reset", "page_url"))
    if key:
        raise ConfigError(
            f"{key} names {{{url}}}, but the PostgreSQL server the harness runs has no "
            f"URL of its own to give (it listens on a socket in its data folder): name "
            f"{{db_url}} instead (the URL of the worker's database, or the template's in "
            f"template_db_cmd), in {config.ini_name}"
        )


def _naming(config: HarnessConfig, placeholder: str, settings: tuple[str, ...]) -> str:
    """The first setting that names ``{placeholder}``: a service's command (or env), the
    template's, or one of ``settings`` ('' for none)."""
    for spec in (*config.services, *([config.template] if config.template else [])):
        if spec.names(placeholder):
            return "template_db_cmd" if spec.name == TEMPLATE else f"{spec.name}_cmd (or _env)"
    texts = {setting: getattr(config, setting) or "" for setting in settings}
    return next((key for key, text in texts.items() if f"{{{placeholder}}}" in text), "")


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


def _command_source(sources: Sources, name: str, dev: bool) -> tuple[str | None, str, bool]:
    """The service's command, the setting that gave it, and whether that is its ini
    command: its variable, then its ``alt_cmd`` variable, then (in dev_services) its dev
    command, then the ini's."""
    variable = cmd_variable(name, _ini(sources, name, "cmd_env"))
    if (command := sources.env_value(variable)) is not None:
        return command, variable, False
    alternative = parse_alt_command(name, _ini(sources, name, "alt_cmd"))
    if alternative is not None and sources.env_value(alternative[0]) is not None:
        source = f"{alternative[0]} ({name}_alt_cmd in {sources.ini_name})"
        return alternative[1], source, False
    suffix = "dev_cmd" if dev else "cmd"
    return _ini(sources, name, suffix), f"{name}_{suffix} in {sources.ini_name}", True


def _service(sources: Sources, name: str, values: Mapping[str, Any]) -> tuple[ServiceSpec, str]:
    """The service's spec, and the setting its command came from (for error messages)."""
    dev = name in values["dev_services"]
    command, source, ini_command = _command_source(sources, name, dev)
    if not command:
        raise ConfigError(
            f"no command for the {name} service: set {name}_cmd in {sources.ini_name} "
            f"or {cmd_variable(name, _ini(sources, name, 'cmd_env'))} in the environment"
        )
    # Preload modules and the build belong to the ini's command: another command
    # (from a variable) gets neither.
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
    if _ini(sources, name, "timeout") and not sources.beats_ini(SERVICE_TIMEOUT_SETTING):
        timeout = parse_seconds(f"{name}_timeout (ini)", str(_ini(sources, name, "timeout")))
    scope = parse_scope(name, _ini(sources, name, "scope"))
    spec = ServiceSpec(
        name=name,
        command=str(command).strip(),
        cwd=str(_ini(sources, name, "cwd") or "."),
        env=env,
        ready=parse_ready(name, _ini(sources, name, "ready"), _ini(sources, name, "ready_path")),
        timeout=timeout,
        preload=preload,
        scope=scope,
        log_owner=parse_log_owner(name, _ini(sources, name, "log_owner"), scope),
        python=parse_interpreter(name, _ini(sources, name, "python"), sources.root, sources.env),
        build=str(build or "").strip(),
        build_env=build_env,
        build_inputs=words(_ini(sources, name, "build_inputs")),
        inputs=words(_ini(sources, name, "inputs")),
        build_timeout=build_timeout,
        dev=dev,
        env_keys=(f"{name}_env", f"{name}_dev_env") if dev else (),
    )
    return spec, source


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
