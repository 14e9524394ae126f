"""The database seam on both engines: each worker's own clone of the seeded template,
fresh_db under a connected backend, the seed cached with the server's data, and on
PostgreSQL a server that is a service like any other (sliced log, restarted when it
dies, gone with the run however the run ends, never run as root)."""

from __future__ import annotations

import os
import pwd
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stackwright.support.config import Sources, resolve_config
from stackwright.support.config.database import POSTGRESQL, find_server, private_folder
from stackwright.support.errors import ConfigError

from .conftest import FIND_RUN_SERVICE, alive, kept_up

FAKE_DB = Path(__file__).with_name("fake_db.py")
ENGINES = ["sqlite", "postgresql"]


def ini(engine: str, extra: str = "") -> str:
    return f"""
[pytest]
addopts = -p stackwright.fixtures.plugin -p no:cacheprovider -p no:randomly
services = backend
database = {engine}
backend_cmd = {{python}} {FAKE_DB} serve --port {{port}} --db {{db_url}}
backend_ready = http /ready
template_db_cmd = {{python}} {FAKE_DB} seed {{db_url}}
template_db_inputs = seed-version.txt
{extra}"""


CLIENT = """
import json, pathlib, urllib.request

def call(url, method="GET"):
    request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())
"""

WORKERS_TEST = (
    CLIENT
    + """
import pytest

@pytest.mark.parametrize("n", range(4))
def test_write_then_reset(n, stack, backend_url, db_url, worker_id):
    pathlib.Path(f"url-{worker_id}.txt").write_text(db_url)
    assert call(backend_url + "/count") == 3
    call(backend_url + "/add", "POST")
    assert call(backend_url + "/count") == 4
    assert stack.reset_db()["status"] == "restored"
    assert call(backend_url + "/count") == 3  # its next request, on the seeded data

def test_fresh_db(fresh_db, backend_url):
    assert fresh_db["status"] == "restored"
    assert call(backend_url + "/count") == 3
"""
)


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-n", "2", *args)


def _on_postgresql(pytester: pytest.Pytester, tests: str, ini_text: str = "") -> pytest.RunResult:
    """One run of ``tests`` with one worker, its database on PostgreSQL."""
    pytester.makefile(".ini", pytest=ini_text or ini(POSTGRESQL))
    pytester.makepyfile(test_db=tests)
    return pytester.runpytest_subprocess("-n", "0")


@pytest.mark.parametrize("engine", ENGINES)
def test_each_worker_gets_its_own_clone_restored_under_its_connected_backend(
    pytester: pytest.Pytester, engine: str
) -> None:
    pytester.makefile(".ini", pytest=ini(engine))
    pytester.makepyfile(test_db=WORKERS_TEST)
    (pytester.path / "seed-version.txt").write_text("1")
    runs = pytester.path / "seed-runs.txt"

    first = _run(pytester)
    first.assert_outcomes(passed=5)
    first.stdout.fnmatch_lines(["the template database: built in *(cache miss: *)"])
    urls = {p.read_text() for p in pytester.path.glob("url-gw*.txt")}
    assert len(urls) == 2, "each worker has a database of its own"
    scheme = "sqlite:///" if engine == "sqlite" else "postgresql://"
    assert all(url.startswith(scheme) for url in urls)
    assert runs.read_text().count("seeded") == 1

    again = _run(pytester)  # the seed does not run: its database comes from the cache
    again.assert_outcomes(passed=5)
    hit = "with the data of postgres" if engine == POSTGRESQL else "in *(inputs unchanged*"
    again.stdout.fnmatch_lines([f"the template database: from the cache {hit}*"])
    assert runs.read_text().count("seeded") == 1

    (pytester.path / "seed-version.txt").write_text("2")
    changed = _run(pytester)
    changed.assert_outcomes(passed=5)
    changed.stdout.fnmatch_lines(["*cache miss: changed: seed-version.txt*"])
    assert runs.read_text().count("seeded") == 2


FAILS_AFTER_BAD_SQL = (
    CLIENT
    + """
def test_bad_query(backend_url):
    call(backend_url + "/bad")
    assert False, "fails, to show the server's slice"

def test_after(backend_url):
    assert call(backend_url + "/count") == 3
"""
)


def test_the_servers_log_is_sliced_per_test_like_any_services(pytester: pytest.Pytester) -> None:
    result = _on_postgresql(pytester, FAILS_AFTER_BAD_SQL)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*service log: postgres*",
            '* main ERROR:  relation "no_such_table" does not exist*',
        ]
    )
    folder = pytester.path / "test-results" / "test-db-py-test-bad-query"
    assert 'relation "no_such_table"' in (folder / "postgres.log").read_text()
    result.stdout.fnmatch_lines(["run: stack ready in *(postgres *"])


WRITES_THEN_FAILS = (
    CLIENT
    + """
import pytest

@pytest.mark.parametrize("n", range(2))
def test_writes_then_fails(n, backend_url):
    call(backend_url + "/add", "POST")
    assert False, "fails, to keep the worker's database"
"""
)


@pytest.mark.parametrize("workers", ["0", "2"])
def test_a_failed_run_keeps_each_workers_database_as_a_dump(
    pytester: pytest.Pytester, workers: str
) -> None:
    """The server's data goes with the run; what a failed worker wrote stays, as SQL."""
    pytester.makefile(".ini", pytest=ini(POSTGRESQL))
    pytester.makepyfile(test_db=WRITES_THEN_FAILS)
    result = pytester.runpytest_subprocess("-n", workers)
    result.assert_outcomes(failed=2)
    names = ["main"] if workers == "0" else ["gw0", "gw1"]
    services = pytester.path / "test-results" / ".services"
    for name in names:
        dump = (services / name / "db.sql").read_text()
        assert "CREATE TABLE public.items" in dump and "\tadded\n" in dump, dump[-400:]
        result.stdout.fnmatch_lines([f"{name}: database {name} kept as */{name}/db.sql *"])
    assert not list(services.rglob(".db.sql.partial")), "written whole or not at all"
    if workers == "0":  # what the docs say of it: psql -f loads it
        (pytester.path / "kept.sql").write_text((services / "main" / "db.sql").read_text())
        pytester.makepyfile(test_db=LOADS_THE_DUMP)
        pytester.runpytest_subprocess("-n", "0").assert_outcomes(passed=1)


LOADS_THE_DUMP = """
import pathlib, subprocess
import psycopg

def test_psql_loads_it(db_url, harness_config):
    with psycopg.connect(db_url, autocommit=True) as db:
        db.execute("CREATE DATABASE loaded")
    loaded = db_url.replace("/main?", "/loaded?")
    psql = pathlib.Path(harness_config.postgres_bin) / "psql"
    command = [psql, "-q", "-v", "ON_ERROR_STOP=1", "-d", loaded, "-f", "kept.sql"]
    subprocess.run(command, check=True)
    with psycopg.connect(loaded) as db:  # both tests wrote on the one worker
        assert db.execute("select count(*) from items where name = 'added'").fetchone() == (2,)
"""


#: Two tests at once, one on each worker: both start, then each makes the server log an
#: error naming its own mark and waits for the other's, so each one's slice spans both.
AT_ONCE = (
    CLIENT
    + """
import pathlib, time, urllib.error
import pytest

def _both(step, n):
    pathlib.Path(f"{step}-{n}").touch()
    other = "two" if n == "one" else "one"
    deadline = time.monotonic() + 30
    while not pathlib.Path(f"{step}-{other}").exists():
        assert time.monotonic() < deadline, f"the other test never {step} alongside this one"
        time.sleep(0.01)

@pytest.mark.parametrize("n", ["one", "two"])
def test_at_once(n, backend_url, worker_id):
    pathlib.Path(f"worker-{n}.txt").write_text(worker_id)
    _both("started", n)
    try:
        call(backend_url + f"/bad?mark=mark-{n}")
    except urllib.error.HTTPError:
        pass
    _both("queried", n)
    assert False, "fails, to file the server's slice"
"""
)


def test_a_workers_slice_of_the_server_log_holds_its_own_database_lines_only(
    pytester: pytest.Pytester,
) -> None:
    pytester.makefile(".ini", pytest=ini(POSTGRESQL))
    pytester.makepyfile(test_db=AT_ONCE)
    result = pytester.runpytest_subprocess("-n", "2", "--junitxml", "junit.xml")
    result.assert_outcomes(failed=2)
    workers = {(pytester.path / f"worker-{n}.txt").read_text() for n in ("one", "two")}
    assert workers == {"gw0", "gw1"}, "one test on each worker"
    junit = (pytester.path / "junit.xml").read_text()
    for n, other in (("one", "two"), ("two", "one")):
        folder = pytester.path / "test-results" / f"test-db-py-test-at-once-{n}"
        filed = (folder / "postgres.log").read_text()
        assert f'relation "mark-{n}" does not exist' in filed
        assert f"mark-{other}" not in filed, "another worker's lines are not this test's"
        assert "lines of other workers left out; full log:" in filed
        timeline = (folder / "timeline.txt").read_text()
        assert f"mark-{n}" in timeline and f"mark-{other}" not in timeline
    shown = result.stdout.str()
    for n, other in (("one", "two"), ("two", "one")):
        block = shown.split(f"test_at_once[{n}] _", 1)[1].split("_ test_at_once", 1)[0]
        assert f'"mark-{n}"' in block and f'"mark-{other}"' not in block, block
    assert junit.count('"mark-one" does not exist') == junit.count('"mark-two" does not exist')
    full = (pytester.path / "test-results" / ".services" / "run" / "postgres.log").read_text()
    assert '"mark-one"' in full and '"mark-two"' in full, "the full log keeps every line"


SERVER_DIES = (
    CLIENT
    + FIND_RUN_SERVICE
    + """
import os, signal, time

KILLED = []

def _postmaster(stack):
    return int((stack.config.data_root / "postgres" / "postmaster.pid").read_text().split()[0])

def test_1_kills_the_server(stack, backend_url):
    assert call(backend_url + "/count") == 3
    pid = _postmaster(stack)
    KILLED.append(pid)
    os.kill(pid, signal.SIGKILL)
    while not _zombie_or_gone(pid):
        time.sleep(0.01)

def test_2_needs_it(stack, backend_url):
    pass

def test_3_runs_on_the_new_one(stack, backend_url):
    assert call(backend_url + "/count") == 3
    assert _postmaster(stack) not in KILLED
"""
)


def test_a_dead_server_is_named_and_restarted(pytester: pytest.Pytester) -> None:
    result = _on_postgresql(pytester, SERVER_DIES)
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_2_needs_it*",
            "postgres (run) was killed by SIGKILL (exit code -9) while the stack was in use.",
            "Log: */.services/run/postgres.log*",
        ]
    )
    result.stdout.fnmatch_lines(["run: stack ready in * (restarted 1x)"])


HOLDS = """
import pathlib, time

def test_holds(db_url):
    pathlib.Path("holding").write_text(db_url)
    time.sleep(120)
"""


def _server_pids(data: Path) -> list[int]:
    """Every process that runs a PostgreSQL server on ``data`` (its postmaster, and the
    postmaster's children, which name no folder: found by their parent)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            words = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if str(data).encode() in words:
            pids.append(int(proc.name))
    return pids


def _children(pids: list[int]) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            parent = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if parent in pids:
            found.append(int(proc.name))
    return found


def test_kill_9_of_the_run_leaves_no_server_process(pytester: pytest.Pytester) -> None:
    pytester.makefile(".ini", pytest=ini(POSTGRESQL))
    pytester.makepyfile(test_db=HOLDS)
    run = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-n", "2", "-p", "no:randomly"],
        cwd=pytester.path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    services = pytester.path / "test-results" / ".services"
    data = private_folder(services) / "data" / "postgres"
    try:
        deadline = time.monotonic() + 60
        while not (pytester.path / "holding").exists():
            assert run.poll() is None and time.monotonic() < deadline, "the run did not start"
            time.sleep(0.05)
        servers = _server_pids(data)
        assert servers, "the server runs"
        every = servers + _children(servers)
        server_uid = os.stat(f"/proc/{servers[0]}").st_uid
        if os.geteuid() == 0:  # as CI runs: PostgreSQL refuses root, so the harness never asks
            assert server_uid == pwd.getpwnam("postgres").pw_uid
        else:
            assert server_uid == os.geteuid()
        run.send_signal(signal.SIGKILL)
        run.wait()
        deadline = time.monotonic() + 20
        while [pid for pid in every if alive(pid)] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [pid for pid in every if alive(pid)] == [], "a server process outlived the run"
    finally:
        if run.poll() is None:
            run.kill()


def _resolve(root: Path, **ini_values: str) -> object:
    values = {"services": "backend", "backend_cmd": "serve {db_url}", **ini_values}
    return resolve_config(Sources(root, "test-results", {}, {}, values))


def test_naming_the_sqlite_file_on_postgresql_says_to_name_db_url(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"backend_cmd \(or _env\) names \{db\}.*\{db_url\}"):
        _resolve(tmp_path, database="postgresql", backend_cmd="serve {db}")
    with pytest.raises(ConfigError, match=r"template_db_cmd names \{db\}"):
        _resolve(tmp_path, database="postgresql", template_db_cmd="seed {db}")
    with pytest.raises(ConfigError, match=r"^db_reset names \{db\}.*\{db_url\}"):
        _resolve(tmp_path, database="postgresql", db_reset="cp seed {db}")


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [
        ("backend_cmd", "serve {postgres_url}", r"backend_cmd \(or _env\)"),
        ("template_db_cmd", "seed {postgres_url}", "template_db_cmd"),
        ("db_reset", "curl {postgres_url}", "db_reset"),
    ],
    ids=["service", "seed", "db_reset"],
)
def test_naming_the_servers_url_says_to_name_db_url(
    tmp_path: Path, key: str, value: str, named: str
) -> None:
    """``{postgres_url}`` would be an http URL of a socket-only server: never a database."""
    with pytest.raises(ConfigError, match=rf"^{named} names {{postgres_url}}, .*name {{db_url}}"):
        _resolve(tmp_path, database="postgresql", **{key: value})
    _resolve(tmp_path, database="postgresql", backend_env="PGPORT={postgres_port}")


def test_a_server_folder_without_postgresql_says_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"postgres_bin is .*, which holds no initdb"):
        _resolve(tmp_path, database="postgresql", postgres_bin=str(tmp_path))


def test_a_team_service_named_postgres_is_refused_on_postgresql(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"rename your own postgres service"):
        _resolve(tmp_path, database="postgresql", services="postgres", postgres_cmd="x")


def test_the_server_is_a_run_service_of_its_own(tmp_path: Path) -> None:
    config = _resolve(tmp_path, database="pg")
    assert config.database == POSTGRESQL  # type: ignore[attr-defined]
    server = config.service("postgres")  # type: ignore[attr-defined]
    assert server.scope == "run" and server.names("data")
    assert str(find_server(None, ini="x")) in server.command
    assert server.user == ("postgres" if os.geteuid() == 0 else "")


def test_a_seed_that_creates_no_table_says_where_it_should_have(
    pytester: pytest.Pytester,
) -> None:
    no_table = ini(POSTGRESQL).replace(f"{FAKE_DB} seed {{db_url}}", "-c pass {db_url}")
    result = _on_postgresql(pytester, "def test_a(stack):\n    pass\n", no_table)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*did not create the database at {db_url} (any table in postgresql://*",
            "*make the command create its tables in the database {db_url} names*",
        ]
    )


KEPT_TEST = (
    CLIENT
    + """
def test_writes(stack, backend_url, db_url):
    assert call(backend_url + "/count") == 3  # each attached run starts from the seed
    call(backend_url + "/add", "POST")
    with open("urls.txt", "a") as urls:
        urls.write(db_url + "\\n")
"""
)


def test_a_kept_stack_on_postgresql_is_cloned_again_for_each_attached_run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "")
    pytester.makefile(".ini", pytest=ini(POSTGRESQL))
    pytester.makepyfile(test_db=KEPT_TEST)
    (pytester.path / "seed-version.txt").write_text("1")
    with kept_up(pytester, "-n", "1"):
        for _ in range(2):
            result = pytester.runpytest_subprocess()
            result.assert_outcomes(passed=1)
            result.stdout.fnmatch_lines(["*attached to kept stack gw0 of stackwright up*"])
        up_log = (pytester.path / "up.log").read_text()
    urls = (pytester.path / "urls.txt").read_text().split()
    assert len(urls) == 2 and urls[0] == urls[1] and urls[0].startswith("postgresql://")
    (ready,) = [line for line in up_log.splitlines() if "ready to accept connections" in line]
    server = int(re.search(r"\[(\d+)\]", ready).group(1))  # type: ignore[union-attr]
    assert not alive(server), "the kept server outlived up"
