"""Services as data, run for real: a run-scoped stand-in, a fourth worker service, a
service in its own virtualenv on another Python, and the checks that name what to fix."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from .conftest import FAKE, FIND_RUN_SERVICE, pids_in

pytest_plugins = ["pytester"]

SEED = Path(__file__).with_name("fake_seed.py")

#: An object-storage stand-in for the whole run; a backend and a queue consumer per worker.
SIDE_INI = f"""
[pytest]
addopts = -p stackwright.fixtures.plugin -p no:cacheprovider
services = s3 backend consumer

s3_scope = run
s3_cmd = {{python}} {FAKE} --port {{port}}
s3_ready = http /ready
s3_env = FAKE_NAME=s3

backend_cmd = {{python}} {FAKE} --port {{port}}
backend_ready = tcp
backend_env =
    FAKE_NAME=backend
    FAKE_URLS={{s3_url}} consumer={{consumer_port}}

consumer_cmd = {{python}} {FAKE} --port {{port}} --mode nolisten
consumer_ready = log ^consumer consumer ready$
consumer_env = FAKE_NAME=consumer

template_db_cmd = {{python}} {SEED} {{db}} {{s3_url}}
template_db_env = SEED_NOTE=from-ini
"""

SIDE_TEST = """
import urllib.request

def test_side(stack, s3_url, backend_url, consumer_url, service_urls, sqlite_db_path):
    assert urllib.request.urlopen(s3_url + "/ready").status == 200
    assert urllib.request.urlopen(backend_url + "/ready").status == 200
    backend_log = stack.log_paths["backend"].read_text()
    port = consumer_url.rsplit(":", 1)[1]
    assert f"FAKE_URLS={s3_url} consumer={port}" in backend_log
    assert sqlite_db_path.read_text().startswith(f"seeded from {s3_url}: ")
    assert sqlite_db_path.read_text().endswith("note=from-ini")
    assert set(stack.processes) == {"backend", "consumer"}  # s3 is the run's
    assert set(service_urls) == {"s3", "backend", "consumer"}
    assert "consumer consumer ready" in stack.log_paths["consumer"].read_text()

def test_again(stack, s3_url):
    assert stack.url("s3") == s3_url
"""


def test_a_run_scoped_service_serves_every_worker_and_the_template(
    pytester: pytest.Pytester,
) -> None:
    pytester.makefile(".ini", pytest=SIDE_INI)
    pytester.makepyfile(test_side=SIDE_TEST)
    result = pytester.runpytest_subprocess("-n", "2", "--keep-service-files")
    result.assert_outcomes(passed=2)
    result.stdout.re_match_lines([r"run: stack ready in .*\(s3 \d"])
    result.stdout.re_match_lines([r"gw\d: stack ready in .*backend .* consumer "])
    services = pytester.path / "test-results" / ".services"
    s3_log = (services / "run" / "s3.log").read_text()
    assert s3_log.count("s3 starting on port") == 1, "one s3 for the whole run"
    assert "GET /seed" in s3_log, "the template command reached the run-scoped service"
    assert not (services / "gw0" / "s3.log").exists()


@pytest.mark.parametrize("outcome", ["passes", "fails"])
def test_a_green_run_leaves_no_service_files_and_says_none_are_kept(
    pytester: pytest.Pytester, outcome: str
) -> None:
    """A run-scoped service's folder is the run's own: it is not a kept worker folder."""
    pytester.makefile(".ini", pytest=SIDE_INI)
    pytester.makepyfile(test_x=f"def test_a(stack, s3_url):\n    assert {outcome == 'passes'}\n")
    result = pytester.runpytest_subprocess("-n", "2")
    services = pytester.path / "test-results" / ".services"
    if outcome == "passes":
        result.assert_outcomes(passed=1)
        assert "service files kept" not in result.stdout.str()
        assert not services.exists()
    else:
        result.assert_outcomes(failed=1)
        result.stdout.fnmatch_lines([f"service files kept in {services}"])
        assert (services / "run" / "s3.log").is_file()


RUN_DOWN = (
    FIND_RUN_SERVICE
    + """
import os, signal, time, urllib.request

KILLED = []

def test_1_kills_s3(stack):
    pid = _run_service("s3")
    KILLED.append(pid)
    os.kill(pid, signal.SIGKILL)
    while not _zombie_or_gone(pid):
        time.sleep(0.01)

def test_2_needs_it(stack, s3_url):
    pass

def test_3_runs_on_the_new_one(stack, s3_url):
    assert urllib.request.urlopen(s3_url + "/ready").status == 200
    assert _run_service("s3") not in (None, *KILLED)
"""
)


@pytest.mark.parametrize(
    "workers", [["-n", "0"], ["-n", "2", "--dist", "loadfile"]], ids=["n0", "n2"]
)
def test_a_run_scoped_service_that_dies_is_named_then_restarted(
    pytester: pytest.Pytester, workers: list[str]
) -> None:
    """It was never noticed: 8 tests failed with a bare 'Connection refused', and the
    summary still said 'stack ready'."""
    pytester.makefile(".ini", pytest=SIDE_INI)
    pytester.makepyfile(test_down=RUN_DOWN)
    result = pytester.runpytest_subprocess(*workers, "-p", "no:randomly")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_2_needs_it*",
            "s3 (run) was killed by SIGKILL (exit code -9) while the stack was in use.",
            "Log: */.services/run/s3.log*",
            "*The controller restarted the run's services on the same ports*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "run: s3 was killed by SIGKILL (exit code -9) while the stack was in use. Log: *",
            "run: stack ready in * (restarted 1x)",
        ]
    )


def test_a_run_scoped_service_cannot_name_a_worker_services_url(
    pytester: pytest.Pytester,
) -> None:
    ini = SIDE_INI.replace("s3_env = FAKE_NAME=s3", "s3_env = BACKEND={backend_url}")
    pytester.makefile(".ini", pytest=ini)
    pytester.makepyfile(test_side="def test_a(stack): pass\n")
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*s3 env BACKEND names {backend_url}, which is not known when it starts "
            "(set by s3_cmd in pytest.ini)*run-scoped services' URLs*"
        ]
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("services = s3 backend consumer", "services ="), "*no services are configured*"),
        (("services = s3 backend consumer", "services = s3 s3"), "*s3 listed more than once*"),
        (("consumer_ready = log ^consumer", "consumer_ready = log (unclosed"), "*not a regular*"),
        (("s3_scope = run", "s3_scope = session"), "*s3_scope = 'session': use worker or run*"),
        (("consumer_ready = log", "consumer_ready = poll"), "*'http PATH', 'tcp', 'log REGEX'*"),
        (
            ("consumer_ready = log", "consumer_redy = log"),
            "*consumer_redy: the consumer service has no such key; did you mean consumer_ready?*",
        ),
    ],
    ids=["no-services", "repeated", "bad-regex", "bad-scope", "bad-readiness", "misspelled"],
)
def test_a_bad_service_list_is_a_usage_error(
    pytester: pytest.Pytester, change: tuple[str, str], message: str
) -> None:
    pytester.makefile(".ini", pytest=SIDE_INI.replace(*change))
    pytester.makepyfile(test_side="def test_a(stack): pass\n")
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_help_lists_each_configured_services_keys(pytester: pytest.Pytester) -> None:
    pytester.makefile(".ini", pytest=SIDE_INI)
    result = pytester.runpytest_subprocess("--help")
    result.stdout.fnmatch_lines(
        [
            "*s3_scope (string):*s3: worker (one per xdist worker, the default) or run*",
            "*consumer_ready (string):*",
        ]
    )


# -- a service in a virtualenv of its own, on another Python -----------------------------

TEAM_HEAVY = """
import os
LOADED_BY = os.getpid()
"""
TEAM_API = """
import http.server, importlib.util, os, sys
import app.heavy

def main():
    port = int(sys.argv[sys.argv.index("--port") + 1])
    print("team python", sys.version.split()[0], sys.executable, flush=True)
    print("team app", os.path.dirname(__import__("app").__file__), flush=True)
    print("preloaded", app.heavy.LOADED_BY != os.getpid(), flush=True)
    print("harness importable", [m for m in ("support", "fixtures", "stackwright")
        if importlib.util.find_spec(m) is not None], flush=True)
    class Ok(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200); self.end_headers()
        def log_message(self, *args):
            pass
    http.server.HTTPServer(("127.0.0.1", port), Ok).serve_forever()

if __name__ == "__main__":
    main()
"""


def _other_python() -> Path:
    """A Python other than the harness's: pyenv's 3.12 or 3.13 (this machine has both)."""
    for version in ("3.13", "3.12"):
        found = subprocess.run(
            ["pyenv", "prefix", version], capture_output=True, text=True, check=False
        )
        if found.returncode == 0:
            return Path(found.stdout.strip().splitlines()[-1]) / "bin" / "python3"
    raise AssertionError("pyenv has no Python 3.12 or 3.13; install one (pyenv install 3.12)")


def test_a_service_in_its_own_virtualenv_is_preloaded_on_its_own_interpreter(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    team = tmp_path / "team"
    (team / "app").mkdir(parents=True)
    (team / "app" / "__init__.py").write_text("")
    (team / "app" / "heavy.py").write_text(TEAM_HEAVY)
    (team / "app" / "api.py").write_text(TEAM_API)
    venv = tmp_path / "team-venv"
    subprocess.run([str(_other_python()), "-m", "venv", "--without-pip", str(venv)], check=True)
    ini = f"""
[pytest]
addopts = -p stackwright.fixtures.plugin -p no:cacheprovider
services = api
api_python = {venv}/bin/python
api_cwd = {team}
api_cmd = {{python}} -m app.api --port {{port}}
api_preload = app.heavy
api_ready = http /
"""
    pytester.makefile(".ini", pytest=ini)
    pytester.makepyfile(test_api="def test_a(stack):\n    pass\n")
    result = pytester.runpytest_subprocess("-n", "2", "--keep-service-files")
    result.assert_outcomes(passed=1)
    logs = _api_logs(pytester.path)
    version = re.search(r"team python (\d+\.\d+)", logs)
    assert version is not None and version.group(1) in ("3.12", "3.13"), logs
    assert f"{venv}/bin/python" in logs
    assert f"team app {team}/app" in logs, "the team's own app package, not the harness's"
    assert "preloaded True" in logs
    assert "harness importable []" in logs
    result.stdout.re_match_lines([r"gw\d: stack ready in .*api \d+\.\d+s preloaded"])
    assert os.path.exists(venv / "bin" / "python")


NAMES_TEST = """
import importlib.util, pathlib
import fixtures, app

def test_names(stack, request):
    # PyPI's fixtures (installed beside the harness) is the one tests import
    assert hasattr(fixtures, "Fixture") and "site-packages" in fixtures.__file__
    # the team's own app package, not the reference app's
    assert pathlib.Path(app.__file__).parent == request.config.rootpath / "app"
    # the plugin itself lives under a name of its own
    assert importlib.util.find_spec("stackwright.fixtures.plugin") is not None
"""


def test_pypi_fixtures_and_a_teams_app_package_live_beside_the_plugin(
    pytester: pytest.Pytester,
) -> None:
    """PyPI's ``fixtures`` is installed in this virtualenv (a dev dependency, on purpose);
    the team's ``app`` sits in its checkout. Neither breaks the plugin, and the harness
    shadows neither, in the tests or in the team's preloaded service."""
    (pytester.path / "app").mkdir()
    (pytester.path / "app" / "__init__.py").write_text("")
    (pytester.path / "app" / "heavy.py").write_text(TEAM_HEAVY)
    (pytester.path / "app" / "api.py").write_text(TEAM_API)
    ini = """
[pytest]
addopts = -p stackwright.fixtures.plugin -p no:cacheprovider
services = api
api_cmd = {python} -m app.api --port {port}
api_preload = app.heavy
api_ready = http /
"""
    pytester.makefile(".ini", pytest=ini)
    pytester.makepyfile(test_names=NAMES_TEST)
    result = pytester.runpytest_subprocess("-n", "2", "--keep-service-files")
    result.assert_outcomes(passed=1)
    result.stdout.re_match_lines([r"gw\d: stack ready in .*api \d+\.\d+s preloaded"])
    logs = _api_logs(pytester.path)
    assert f"team app {pytester.path}/app" in logs and "preloaded True" in logs


def _api_logs(project: Path) -> str:
    return "".join(
        p.read_text() for p in (project / "test-results" / ".services").glob("gw*/api.log")
    )


def test_a_failed_template_fails_the_tests_stops_the_run_services_and_says_why(
    pytester: pytest.Pytester,
) -> None:
    ini = SIDE_INI.replace("{db} {s3_url}", "{db} {s3_url}/missing-folder/x")
    pytester.makefile(".ini", pytest=ini.replace(f"{SEED} {{db}}", f"{SEED} /nonexistent/db"))
    pytester.makepyfile(test_side="def test_a(stack): pass\n")
    result = pytester.runpytest_subprocess("-n", "2", "--stream-logs", "all")
    result.assert_outcomes(errors=1)  # the test needed a stack, so the seed
    result.stdout.fnmatch_lines(["*building the template database failed*"])
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    result.stdout.fnmatch_lines(["[[]run s3[]] s3 listening"])  # it had started
    assert pids_in(pytester.path, FAKE.name.encode()) == [], "the run-scoped s3 outlived the run"


#: The seed waits until the gateway (which does not name {db}) has started: a run that
#: waited for the seed before starting any service would never finish it.
OVERLAP_SEED = """
import pathlib, sqlite3, sys, time
gateway = pathlib.Path("test-results/.services/main/gateway.log")
deadline = time.monotonic() + 20
while "gateway starting on port" not in (gateway.read_text() if gateway.exists() else ""):
    assert time.monotonic() < deadline, "the gateway never started while the seed ran"
    time.sleep(0.01)
db = sqlite3.connect(sys.argv[1])
db.execute("create table seeded (note)")
db.commit()
"""

OVERLAP_INI = f"""
[pytest]
addopts = -p stackwright.fixtures.plugin
services = gateway backend
gateway_cmd = {{python}} {FAKE} --port {{port}}
gateway_env = FAKE_NAME=gateway
backend_cmd = {{python}} {FAKE} --port {{port}}
backend_env =
    FAKE_NAME=backend
    FAKE_DB={{db}}
template_db_cmd = {{python}} seed.py {{db}}
template_db_timeout = 30
"""


def test_services_that_need_no_database_start_while_the_seed_runs(
    pytester: pytest.Pytester,
) -> None:
    pytester.makefile(".ini", pytest=OVERLAP_INI)
    (pytester.path / "seed.py").write_text(OVERLAP_SEED)
    pytester.makepyfile(
        test_overlap="""
import sqlite3

def test_seeded(sqlite_db_path, backend_url):
    assert sqlite3.connect(sqlite_db_path).execute("select * from seeded").fetchall() == []
"""
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)
    result.stdout.re_match_lines([r"main: stack ready in .*s of it waiting for the template\)"])


STORE = Path(__file__).with_name("fake_store.py")

#: The seed writes the database and uploads a file to the run's object store.
STORE_SEED = """
import sqlite3, sys, urllib.request
db, store = sys.argv[1], sys.argv[2]
with open("seed-runs.txt", "a") as runs:
    runs.write("run\\n")
photo = open("photo.txt").read()
urllib.request.urlopen(urllib.request.Request(store + "/photo", photo.encode(), method="PUT"))
sqlite3.connect(db).execute("create table parts (photo)").connection.commit()
"""

STORE_INI = f"""
[pytest]
addopts = -p stackwright.fixtures.plugin
services = store backend
store_scope = run
store_cmd = {{python}} {STORE} --port {{port}} --data {{data}}
store_ready = http /ready
backend_cmd = {{python}} {FAKE} --port {{port}}
backend_env = FAKE_DB={{db}}
template_db_cmd = {{python}} seed.py {{db}} {{store_url}}
template_db_inputs = seed.py photo.txt
"""

STORE_TEST = """
import sqlite3, urllib.request

def test_the_seeded_photo_is_in_the_store(store_url, sqlite_db_path):
    assert urllib.request.urlopen(store_url + "/photo").read() == open("photo.txt", "rb").read()
    sqlite3.connect(sqlite_db_path).execute("select * from parts")
"""


def test_a_seed_that_fills_a_run_service_is_cached_with_its_data(
    pytester: pytest.Pytester,
) -> None:
    pytester.makefile(".ini", pytest=STORE_INI)
    pytester.makepyfile(test_store=STORE_TEST)
    (pytester.path / "seed.py").write_text(STORE_SEED)
    (pytester.path / "photo.txt").write_text("a photo")
    runs = pytester.path / "seed-runs.txt"

    def run() -> pytest.RunResult:
        result = pytester.runpytest_subprocess()
        result.assert_outcomes(passed=1)
        return result

    run().stdout.fnmatch_lines(["the template database: built in *(cache miss: *)"])
    assert runs.read_text().count("run") == 1
    again = run()  # the store starts with the seed's upload, and the seed does not run
    again.stdout.fnmatch_lines(
        ["the template database: from the cache with the data of store in *"]
    )
    assert runs.read_text().count("run") == 1
    (pytester.path / "photo.txt").write_text("another photo")
    run().stdout.fnmatch_lines(["*cache miss: changed: photo.txt*"])
    assert runs.read_text().count("run") == 2
