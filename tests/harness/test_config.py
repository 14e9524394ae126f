"""Configuration: CLI > environment > ini > default, and clear errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from support.config import (
    SERVICE_CMD_ENV,
    SETTINGS,
    STREAM_ENV,
    HarnessConfig,
    ServiceSpec,
    Sources,
    check_spec,
    resolve_config,
)
from support.errors import ConfigError

INI: dict[str, Any] = {
    "backend_cmd": "{python} -m app.backend serve --port {port}",
    "gateway_cmd": "{python} -m app.gateway",
    "frontend_cmd": "node vite.js --port {port}",
    "gateway_env": ["PORT={port}", "CALLBACK_URL={backend_url}/cb"],
}


def resolve(
    cli: dict[str, Any] | None = None, env: dict[str, str] | None = None, **ini: Any
) -> HarnessConfig:
    return resolve_config(
        Sources(Path("/root"), "test-results", cli or {}, env or {}, {**INI, **ini})
    )


def test_defaults() -> None:
    config = resolve()
    assert config.service_logs == "retain-on-failure"
    assert config.stream_logs == frozenset()
    assert config.service_timeout == 30.0
    assert config.include_slow is False
    assert config.output_dir == "/root/test-results"


@pytest.mark.parametrize(
    ("cli", "env", "ini", "expected"),
    [
        ({}, {}, {}, 30.0),
        ({}, {}, {"service_timeout": "12"}, 12.0),
        ({}, {"PLAYWRIGHT_SERVICE_TIMEOUT": "7"}, {"service_timeout": "12"}, 7.0),
        (
            {"service_timeout": 3.0},
            {"PLAYWRIGHT_SERVICE_TIMEOUT": "7"},
            {"service_timeout": "12"},
            3.0,
        ),
    ],
    ids=["default", "ini", "env-over-ini", "cli-over-env"],
)
def test_precedence(
    cli: dict[str, Any], env: dict[str, str], ini: dict[str, str], expected: float
) -> None:
    config = resolve(cli, env, **ini)
    assert config.service_timeout == expected
    assert all(spec.timeout == expected for spec in config.services)


@pytest.mark.parametrize(
    ("cli", "env", "expected"),
    [
        ({}, {}, 7.0),
        ({}, {"PLAYWRIGHT_SERVICE_TIMEOUT": "9"}, 9.0),
        ({"service_timeout": 3.0}, {}, 3.0),
    ],
    ids=["ini", "env-over-ini", "cli-over-ini"],
)
def test_a_service_timeout_in_the_ini_yields_to_env_and_cli(
    cli: dict[str, Any], env: dict[str, str], expected: float
) -> None:
    config = resolve(cli, env, backend_timeout="7")
    assert config.service("backend").timeout == expected


def test_the_log_cap_is_in_megabytes() -> None:
    assert resolve({}, {"PLAYWRIGHT_SERVICE_LOG_CAP_MB": "2.5"}).log_cap_mb == 2.5
    with pytest.raises(
        ConfigError,
        match="PLAYWRIGHT_SERVICE_LOG_CAP_MB must be a positive number of megabytes, got 'abc'",
    ):
        resolve({}, {"PLAYWRIGHT_SERVICE_LOG_CAP_MB": "abc"})


def test_empty_environment_value_falls_through_to_ini() -> None:
    assert resolve({}, {"PLAYWRIGHT_SERVICE_LOGS": ""}, service_logs="on").service_logs == "on"


def test_stream_logs_from_each_source() -> None:
    assert resolve({}, {"PLAYWRIGHT_GATEWAY_LOG_STREAM": "true"}).stream_logs == {"gateway"}
    both = {"PLAYWRIGHT_GATEWAY_LOG_STREAM": "1", "PLAYWRIGHT_BACKEND_LOG_STREAM": "yes"}
    assert resolve({}, both).stream_logs == {"gateway", "backend"}
    assert resolve({"stream_logs": "all"}, {}).stream_logs == {"backend", "gateway", "frontend"}
    assert resolve({}, {}, stream_logs="frontend").stream_logs == {"frontend"}
    # an explicit false in the environment beats the ini
    assert (
        resolve({}, {"PLAYWRIGHT_GATEWAY_LOG_STREAM": "false"}, stream_logs="gateway").stream_logs
        == set()
    )


@pytest.mark.parametrize(
    ("cli", "env", "ini", "names"),
    [
        ({}, {"PLAYWRIGHT_SERVICE_TIMEOUT": "soon"}, {}, "PLAYWRIGHT_SERVICE_TIMEOUT"),
        ({}, {"PLAYWRIGHT_SERVICE_LOGS": "always"}, {}, "PLAYWRIGHT_SERVICE_LOGS"),
        ({}, {"INCLUDE_SLOW_TESTS": "maybe"}, {}, "INCLUDE_SLOW_TESTS"),
        ({"stream_logs": "db"}, {}, {}, "--stream-logs"),
        ({}, {}, {"service_timeout": "-1"}, "service_timeout (ini)"),
        ({}, {}, {"backend_env": ["NOEQUALS"]}, "backend_env"),
    ],
    ids=["timeout", "logs-mode", "slow", "stream-service", "ini-negative", "env-line"],
)
def test_bad_values_name_the_setting(
    cli: dict[str, Any], env: dict[str, str], ini: dict[str, Any], names: str
) -> None:
    with pytest.raises(ConfigError, match=names.replace("(", r"\(").replace(")", r"\)")):
        resolve(cli, env, **ini)


def test_removed_external_services_mode_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        resolve({}, {"PLAYWRIGHT_MANAGED_SERVICES": "false"})
    message = str(info.value)
    assert "external services are not supported" in message
    assert "Remove PLAYWRIGHT_MANAGED_SERVICES" in message
    resolve({}, {"PLAYWRIGHT_MANAGED_SERVICES": "true"})  # the old default is harmless


def test_gateway_command_overrides() -> None:
    assert (
        resolve({}, {"SSE_GATEWAY_CMD": "mygw --fast"}).service("gateway").command == "mygw --fast"
    )
    node = resolve({}, {"SSE_GATEWAY_ROOT": "/opt/ssegw"})
    assert node.service("gateway").command == "node {gateway_root}/dist/index.js"
    assert node.service("gateway").render({"gateway_root": "/opt/ssegw"}) == [
        "node",
        "/opt/ssegw/dist/index.js",
    ]
    # the gateway's environment (PORT, CALLBACK_URL) stays when its command is swapped
    assert dict(node.service("gateway").env)["CALLBACK_URL"] == "{backend_url}/cb"


def test_preload_modules_belong_to_the_ini_command() -> None:
    preload = {
        "backend_preload": "app.backend.factory, werkzeug.serving",
        "gateway_preload": "aiohttp.web",
    }
    config = resolve(**preload)
    assert config.service("backend").preload == ("app.backend.factory", "werkzeug.serving")
    assert config.preload_modules == ["app.backend.factory", "werkzeug.serving", "aiohttp.web"]
    # another gateway command does not inherit modules meant for the default one
    swapped = resolve({}, {"SSE_GATEWAY_CMD": "{python} -m other.gateway"}, **preload)
    assert swapped.service("gateway").preload == ()
    assert swapped.preload_modules == ["app.backend.factory", "werkzeug.serving"]
    assert resolve({}, {"SSE_GATEWAY_ROOT": "/opt/gw"}, **preload).service("gateway").preload == ()
    off = resolve({}, {"PLAYWRIGHT_PRELOAD": "false"}, **preload)
    assert off.preload is False and off.preload_modules == []
    assert resolve(preload="no", **preload).preload_modules == []


def test_missing_command_names_both_fixes() -> None:
    with pytest.raises(ConfigError, match=r"backend_cmd in playwright\.ini or BACKEND_CMD"):
        resolve(backend_cmd="")


@pytest.mark.parametrize(
    ("env", "ini", "message"),
    [
        ({"BACKEND_CMD": "   "}, {}, r"the backend command is empty.*\(set by BACKEND_CMD\)"),
        ({}, {"gateway_cmd": " \t "}, r"gateway command is empty.*gateway_cmd in playwright\.ini"),
        (
            {"FRONTEND_CMD": "node 'vite.js"},
            {},
            r"frontend command .* cannot be split.*FRONTEND_CMD",
        ),
        ({}, {"backend_cmd": "serve {dbpath}"}, r"unknown placeholder \{dbpath\}.*backend_cmd"),
        ({}, {"backend_env": ["X={nope}"]}, r"backend env X uses unknown placeholder \{nope\}"),
        ({"TEMPLATE_DB_CMD": "seed {db"}, {}, r"template command .*not a valid template"),
    ],
    ids=["blank-env", "blank-ini", "bad-quote", "placeholder", "env-placeholder", "template"],
)
def test_a_bad_command_stops_the_run_at_once_naming_its_setting(
    env: dict[str, str], ini: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve({}, env, **ini)


def test_render_fills_placeholders_after_splitting() -> None:
    spec = ServiceSpec("backend", "{python} -m app --db {db}")
    assert spec.render({"python": "/usr/bin/python3", "db": "/tmp/my dir/app.sqlite"}) == [
        "/usr/bin/python3",
        "-m",
        "app",
        "--db",
        "/tmp/my dir/app.sqlite",
    ]
    with pytest.raises(ConfigError, match=r"unknown placeholder \{dbpath\}"):
        ServiceSpec("backend", "serve {dbpath}").render({})


def test_round_trip_through_plain_data() -> None:
    config = resolve(
        {"stream_logs": "gateway"},
        {"PLAYWRIGHT_KEEP_SERVICE_FILES": "1"},
        backend_preload="app.backend.factory",
    ).with_run(port_base=20000, preload_address="/tmp/p.sock")
    assert HarnessConfig.from_dict(config.to_dict()) == config


def test_every_variable_is_documented() -> None:
    root = Path(__file__).resolve().parents[2]
    example = (root / ".env.test.example").read_text()
    readme = (root / "README.md").read_text()
    names = [s.env for s in SETTINGS if s.env] + list(SERVICE_CMD_ENV.values())
    assert [name for name in names if name not in readme] == []
    assert [name for name in [*names, *STREAM_ENV.values()] if name not in example] == []


def test_inherited_variables_expand_in_env_and_command() -> None:
    spec = ServiceSpec(
        "backend",
        "${HOME}/bin/serve --port {port}",
        env=(("PATH", "${PATH}:/opt/tools"), ("EMPTY", "${UNSET_XYZ}"), ("ODD", "${BRACES}")),
    )
    inherited = {"PATH": "/usr/bin:/bin", "HOME": "/home/qa", "BRACES": "{not a placeholder}"}
    assert spec.render_env({}, inherited) == {
        "PATH": "/usr/bin:/bin:/opt/tools",
        "EMPTY": "",
        "ODD": "{not a placeholder}",
    }
    assert spec.render({"port": "5001"}, inherited) == ["/home/qa/bin/serve", "--port", "5001"]
    check_spec(spec, "backend_env")  # ${...} is not mistaken for an unknown placeholder
