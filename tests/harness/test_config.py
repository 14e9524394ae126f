"""Configuration: CLI > environment > ini > default, and clear errors."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest

from stackwright.support.config import envdoc
from stackwright.support.config.facts import RunFacts, run_values
from stackwright.support.config.resolve import Sources, read_ini, resolve_config, service_keys
from stackwright.support.config.services import ServiceSpec, check_spec
from stackwright.support.config.settings import SETTINGS, HarnessConfig
from stackwright.support.config.variables import variables
from stackwright.support.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
INI: dict[str, Any] = {
    "services": "gateway backend frontend",
    "backend_cmd": "{python} -m app.backend serve --port {port}",
    "gateway_cmd": "{python} -m app.gateway",
    "gateway_cmd_env": "SSE_GATEWAY_CMD",
    "gateway_alt_cmd": "SSE_GATEWAY_ROOT: node ${SSE_GATEWAY_ROOT}/dist/index.js",
    "frontend_cmd": "node vite.js --port {port}",
    "frontend_dev_cmd": "node vite.js dev --port {port}",
    "backend_dev_cmd": "{python} -m app.backend serve --reload --port {port}",
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
        match="PLAYWRIGHT_SERVICE_LOG_CAP_MB must be a positive number of megabytes, at most "
        "1e\\+06; got 'abc'",
    ):
        resolve({}, {"PLAYWRIGHT_SERVICE_LOG_CAP_MB": "abc"})


@pytest.mark.parametrize("raw", ["1e308", "inf", "nan", "0", "-5", "86401"])
def test_a_timeout_past_what_a_timer_takes_is_refused(raw: str) -> None:
    """service_timeout = 1e308 was accepted; every test then errored with OverflowError."""
    with pytest.raises(ConfigError, match=f"service_timeout \\(ini\\) must be a positive "
                       f"number of seconds, at most 86400; got '{raw}'"):  # fmt: skip
        resolve(service_timeout=raw)
    with pytest.raises(ConfigError, match="backend_timeout"):
        resolve(backend_timeout=raw)
    assert resolve(service_timeout="86400").service_timeout == 86400


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
    gateway = node.service("gateway")
    assert gateway.command == "node ${SSE_GATEWAY_ROOT}/dist/index.js"
    assert gateway.render({}, {"SSE_GATEWAY_ROOT": "/opt/ssegw"}) == [
        "node",
        "/opt/ssegw/dist/index.js",
    ]
    # the gateway's environment (PORT, CALLBACK_URL) stays when its command is swapped
    assert dict(gateway.env)["CALLBACK_URL"] == "{backend_url}/cb"
    # the variable that replaces the command beats the alternative
    both = {"SSE_GATEWAY_ROOT": "/opt/ssegw", "SSE_GATEWAY_CMD": "mygw"}
    assert resolve({}, both).service("gateway").command == "mygw"
    # without a cmd_env key, a service's variable is <NAME>_CMD
    assert resolve({}, {"BACKEND_CMD": "other"}).service("backend").command == "other"


def test_preload_modules_belong_to_the_ini_command() -> None:
    preload = {
        "backend_preload": "app.backend.factory, werkzeug.serving",
        "gateway_preload": "aiohttp.web",
    }
    config = resolve(**preload)
    assert config.service("backend").preload == ("app.backend.factory", "werkzeug.serving")
    assert config.service("gateway").preload == ("aiohttp.web",)
    # another gateway command does not inherit modules meant for the default one
    swapped = resolve({}, {"SSE_GATEWAY_CMD": "{python} -m other.gateway"}, **preload)
    assert swapped.service("gateway").preload == ()
    assert swapped.service("backend").preload == ("app.backend.factory", "werkzeug.serving")
    assert resolve({}, {"SSE_GATEWAY_ROOT": "/opt/gw"}, **preload).service("gateway").preload == ()
    assert resolve({}, {"PLAYWRIGHT_PRELOAD": "false"}, **preload).preload is False
    assert resolve(preload="no", **preload).preload is False


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


def test_any_command_may_name_a_services_interpreter() -> None:
    """``{backend_python}``: the seed runs in the backend's own virtualenv, named once."""
    config = resolve(
        template_db_cmd="{backend_python} -m app.backend init-db --db {db}",
        backend_python=sys.executable,
    )
    assert config.template_step is not None
    values = run_values(config, RunFacts())
    assert config.template_step.spec.render({**values, "db": "x"})[0] == sys.executable
    with pytest.raises(ConfigError, match=r"unknown placeholder \{store_python\}"):
        resolve(template_db_cmd="{store_python} seed {db}")


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
        template_db_cmd="seed {db}",
        template_db_env=["A=1"],
    )
    assert HarnessConfig.from_dict(config.to_dict()) == config
    facts = RunFacts(
        port_base=20000,
        preload_addresses={"backend": "/tmp/p.sock"},
        run_urls={"s3": "http://127.0.0.1:20040"},
    )
    assert RunFacts.from_dict(facts.to_dict()) == facts


def test_every_variable_is_documented() -> None:
    """docs/configuration.md and .env.test.example list every variable the reference
    configuration reads,
    derived from playwright.ini's service list (see test_docs for the generated table)."""
    example = (ROOT / ".env.test.example").read_text()
    readme = (ROOT / "docs" / "configuration.md").read_text()
    names = [row.name for row in variables(service_keys(read_ini(ROOT / "playwright.ini")))]
    assert "SSE_GATEWAY_CMD" in names and "SSE_GATEWAY_ROOT" in names and "FRONTEND_CMD" in names
    assert [name for name in names if name not in readme] == []
    assert [name for name in names if name not in example] == []


def test_the_docs_table_and_the_env_example_follow_playwright_ini(tmp_path: Path) -> None:
    names = ("playwright.ini", "docs/configuration.md", ".env.test.example", "docs/services.md")
    files = [str(ROOT / name) for name in names]
    assert envdoc.main(["--check", *files]) == 0, "run `make docs`"
    # a fourth service shows up in both, with its own variables
    ini = tmp_path / "pytest.ini"
    text = (
        (ROOT / "playwright.ini")
        .read_text()
        .replace("services = gateway backend frontend", "services = s3 gateway backend frontend")
    )
    ini.write_text(text + "\ns3_scope = run\ns3_cmd = fake-s3 --port {port}\n")
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{envdoc.BEGIN}\nold\n{envdoc.END}\noutro\n")
    example = tmp_path / ".env.test.example"
    assert envdoc.main([str(ini), str(readme), str(example)]) == 0
    for path in (readme, example):
        assert "S3_CMD" in path.read_text() and "PLAYWRIGHT_S3_LOG_STREAM" in path.read_text()
    assert "\nold\n" not in readme.read_text() and readme.read_text().endswith("outro\n")
    assert envdoc.main(["--check", str(ini), str(readme), str(example)]) == 0


def test_envdoc_names_the_markers_a_page_lacks_and_has_help(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It crashed with a raw ValueError on a page without markers, and on --help."""
    page, example = tmp_path / "vars.md", tmp_path / ".env.test.example"
    page.write_text("# Our variables\n")
    ini = str(ROOT / "playwright.ini")
    assert envdoc.main([ini, str(page), str(example)]) == 2
    error = capsys.readouterr().err
    assert f"{page} has no place for the table: put these two lines" in error
    assert f"{envdoc.BEGIN}\n{envdoc.END}" in error and not example.exists()
    page.write_text(f"# Our variables\n{envdoc.BEGIN}\n{envdoc.END}\n")
    assert envdoc.main([ini, str(page), str(example)]) == 0
    assert "BACKEND_CMD" in page.read_text()
    assert envdoc.main([ini, str(tmp_path / "missing.md"), str(example)]) == 2
    assert "missing.md: No such file or directory" in capsys.readouterr().err
    with pytest.raises(SystemExit) as done:
        envdoc.main(["--help"])
    assert done.value.code == 0
    assert "usage: python -m stackwright.support.config.envdoc" in capsys.readouterr().out


def test_inherited_variables_expand_in_env_and_command() -> None:
    spec = ServiceSpec(
        "backend",
        "${HOME}/bin/serve --port {port}",
        env=(
            ("PATH", "${PATH}:/opt/tools"),
            ("EMPTY", "${UNSET_XYZ:-}"),
            ("DEFAULT", "${UNSET_XYZ:-/srv}"),
            ("ODD", "${BRACES}"),
        ),
    )
    inherited = {"PATH": "/usr/bin:/bin", "HOME": "/home/qa", "BRACES": "{not a placeholder}"}
    assert spec.render_env({}, inherited) == {
        "PATH": "/usr/bin:/bin:/opt/tools",
        "EMPTY": "",
        "DEFAULT": "/srv",
        "ODD": "{not a placeholder}",
    }
    assert spec.render({"port": "5001"}, inherited) == ["/home/qa/bin/serve", "--port", "5001"]
    check_spec(spec, "backend_env", ["port"])  # ${...} is not mistaken for a placeholder


def test_an_unset_variable_names_itself_and_the_setting() -> None:
    """It was '' silently: "'' is not executable. Try: chmod +x ," named neither."""
    ini = {"backend_cmd": "${BACKEND_BIN} serve --port {port}"}
    with pytest.raises(ConfigError) as caught:
        resolve(**ini)
    message = str(caught.value)
    assert "backend command names ${BACKEND_BIN}, which is not set" in message
    assert "(set by backend_cmd in playwright.ini)" in message
    resolve(env={"BACKEND_BIN": "/opt/backend"}, **ini)
    unset_env = {"backend_env": "HOME_DIR=${NO_SUCH_HOME}"}
    with pytest.raises(ConfigError, match=r"backend env HOME_DIR names \$\{NO_SUCH_HOME\}"):
        resolve(**unset_env)


@pytest.mark.parametrize("command", ['"  "', "'\t'", "''"], ids=["spaces", "tab", "empty"])
def test_a_quoted_blank_command_is_refused_at_start(command: str) -> None:
    ini = {"backend_cmd": command}
    with pytest.raises(ConfigError, match=r"the backend command .* names no program"):
        resolve(**ini)


#: Two distinct valid raw values per setting, and what each resolves to.
SAMPLES: dict[str, tuple[tuple[str, Any], tuple[str, Any]]] = {
    "service_logs": (("on", "on"), ("off", "off")),
    "keep_service_files": (("true", True), ("false", False)),
    "service_timeout": (("12", 12.0), ("7", 7.0)),
    "include_slow": (("yes", True), ("no", False)),
    "chromium_executable": (("/a/chrome", "/a/chrome"), ("/b/chrome", "/b/chrome")),
    "log_cap_mb": (("2", 2.0), ("3", 3.0)),
    "connect_ws_endpoint": (("ws://a:3000/", "ws://a:3000/"), ("ws://b:3000/", "ws://b:3000/")),
    # PostgreSQL's resolution (a server found, {db} refused) is test_database.py's.
    "database": (("sqlite3", "sqlite"), (" SQLite ", "sqlite")),
    "postgres_bin": (("/a/bin", "/a/bin"), ("/b/bin", "/b/bin")),
    "postgres_user": (("pg", "pg"), ("nobody", "nobody")),
    "template_cmd": (("seed-a {db}", "seed-a {db}"), ("seed-b {db}", "seed-b {db}")),
    "template_cwd": (("a", "a"), ("b", "b")),
    "template_timeout": (("60", 60.0), ("90", 90.0)),
    "db_reset": (
        ("POST {backend_url}/a", "POST {backend_url}/a"),
        ("GET {backend_url}/b", "GET {backend_url}/b"),
    ),
    "preload": (("false", False), ("true", True)),
    "template_inputs": (("seed.py data/*.json", ("seed.py", "data/*.json")), ("a", ("a",))),
    "dev_services": (("frontend", frozenset({"frontend"})), ("backend", frozenset({"backend"}))),
    "cache": (("off", "off"), ("clear", "clear")),
    "attach": (("off", "off"), ("ON", "on")),
    "cache_dir": (("/a/cache", "/a/cache"), ("b", "b")),
    "cache_max_mb": (("10", 10.0), ("20", 20.0)),
    "page_url": (
        ("{frontend_url}/a", "{frontend_url}/a"),
        ("{frontend_url}/b", "{frontend_url}/b"),
    ),
}


@pytest.mark.parametrize("setting", SETTINGS, ids=[s.field for s in SETTINGS])
def test_every_setting_takes_cli_then_environment_then_ini_then_default(setting: Any) -> None:
    """The documented rule, for each row of SETTINGS: command line > environment > ini > default."""
    (ini_raw, ini_value), (env_raw, env_value) = SAMPLES[setting.field]
    assert getattr(resolve(), setting.field) == setting.default
    if setting.ini:
        assert getattr(resolve(**{setting.ini: ini_raw}), setting.field) == ini_value
    if setting.env:
        both = resolve(
            {}, {setting.env: env_raw}, **({setting.ini: ini_raw} if setting.ini else {})
        )
        assert getattr(both, setting.field) == env_value
    if setting.cli:
        cli = resolve({setting.field: ini_raw}, {setting.env: env_raw} if setting.env else {})
        assert getattr(cli, setting.field) == ini_value


def test_every_setting_has_samples() -> None:
    assert sorted(SAMPLES) == sorted(s.field for s in SETTINGS)


@pytest.mark.parametrize(
    ("ready", "says"),
    [
        ("cmd", "give the command, e.g. 'cmd pg_isready -p 5432'"),
        ("cmd 'unclosed", "cannot be split"),
        ("poll /x", "use 'http PATH', 'tcp', 'log REGEX', 'cmd COMMAND' or 'none'"),
    ],
    ids=["cmd-without-command", "cmd-bad-quote", "unknown-kind"],
)
def test_readiness_kinds_come_from_one_registry(ready: str, says: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(says)):
        resolve(backend_ready=ready)
    with pytest.raises(ConfigError, match=r"\{prot\}.*\(set by backend_ready\)"):
        resolve(backend_ready="cmd pg_isready -p {prot}")
    with pytest.raises(ConfigError, match=r"env X uses .*\{prot\}.*\(set by backend_env\)"):
        resolve(backend_env="X=http://{host}:{prot}")
    assert resolve(backend_ready="cmd pg_isready -p 5432").service("backend").ready == (
        "cmd",
        "pg_isready -p 5432",
    )


def test_a_run_services_log_owner_is_a_regex_with_a_group_on_a_run_service() -> None:
    store = {"services": "gateway backend frontend store", "store_cmd": "store --port {port}"}
    config = resolve(**store, store_scope="run", store_log_owner=r"bucket t-(\w+)")
    assert config.service("store").log_owner == r"bucket t-(\w+)"
    again = HarnessConfig.from_dict(config.to_dict())
    assert again.service("store").log_owner == r"bucket t-(\w+)", "a worker gets it too"
    with pytest.raises(ConfigError, match="store_log_owner: only a run-scoped service's log"):
        resolve(**store, store_log_owner=r"bucket t-(\w+)")
    with pytest.raises(ConfigError, match=r"store_log_owner = 'bucket \(' is not a valid regex"):
        resolve(**store, store_scope="run", store_log_owner="bucket (")
    with pytest.raises(ConfigError, match="captures nothing: put the worker's name in a group"):
        resolve(**store, store_scope="run", store_log_owner=r"bucket t-\w+")


def test_up_which_cannot_know_pytests_keys_refuses_only_a_near_miss_of_a_services_key() -> None:
    """A service named ``cache`` beside pytest's ``cache_dir``: ``stackwright up`` reads
    the ini without pytest, so every key is "unknown" to it; pytest knows its own."""
    ini = {**INI, "services": "cache backend", "cache_cmd": "redis --port {port}"}

    def resolve_as(unknown: tuple[str, ...] | None, **keys: str) -> HarnessConfig:
        sources = Sources(Path("/root"), "out", {}, {}, {**ini, **keys}, unknown_keys=unknown)
        return resolve_config(sources)

    assert resolve_as(None, cache_dir=".cache", cache_timeout="5").service("cache").timeout == 5
    with pytest.raises(ConfigError, match=r"cache_redy: .* did you mean cache_ready"):
        resolve_as(None, cache_redy="tcp")
    with pytest.raises(ConfigError, match="cache_dirr: the cache service has no such key; its"):
        resolve_as(("cache_dirr",), cache_dirr=".cache")  # pytest's account: nobody's key


def test_a_placeholder_typo_in_an_environment_names_the_keys_it_may_be_in() -> None:
    """Each command says which ini keys its environment comes from: no key is read back
    out of a message's text."""
    typo = "X={prot}"
    with pytest.raises(ConfigError, match=r"\(set by template_db_env\)"):
        resolve(template_db_cmd="seed {db}", template_db_env=typo)
    built = {"frontend_build": "vite build --outDir {build}"}
    with pytest.raises(ConfigError, match=r"\(set by frontend_build_env\)"):
        resolve(**built, frontend_build_env=typo)
    dev = {**built, "dev_services": "frontend backend", "frontend_dev_build": "prebundle {build}"}
    with pytest.raises(ConfigError, match=r"\(set by frontend_build_env or frontend_dev_env\)"):
        resolve(**dev, frontend_build_env=typo)
    with pytest.raises(ConfigError, match=r"\(set by frontend_env or frontend_dev_env\)"):
        resolve(**dev, frontend_dev_env=typo)  # the service's, checked first, has it too
