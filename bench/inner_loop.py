"""The inner loop: one test again with kept stacks, a warm full run, a cold -n 2 run.

A generated suite with the shape of a real team's stack (issue 25):
- ``store``, a run-scoped object store that keeps its objects in ``{data}``;
- a 5 s seed that writes the database and uploads a photo to that store;
- ``backend``: imports for 1 s, then its app factory takes 2 s (preloaded: the
  imports are paid once per run, the factory once per worker start), names ``{db}``;
- ``gateway``: a sidecar that takes 1 s to start and needs no database;
- ``frontend``: a static page built once per run (from the cache) and served.

Each figure runs real ``pytest`` processes, side by side in this one bench run.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

from .browser import launch
from .common import WORK, Figure, median

SUITE = WORK / "inner-loop"
SEED_SECONDS = 5.0
IMPORT_SECONDS = 1.0
FACTORY_SECONDS = 2.0
SIDECAR_SECONDS = 1.0

STORE = '''"""A folder-backed object store: PUT /NAME keeps the body as DATA/NAME."""
import argparse, http.server, pathlib, re
parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int); parser.add_argument("--data", type=pathlib.Path)
args = parser.parse_args()

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        path = args.data / self.path.strip("/")
        ok = self.path == "/ready" or (re.match(r"^/[a-z]+$", self.path) and path.is_file())
        body = b"ready" if self.path == "/ready" else (path.read_bytes() if ok else b"")
        self.send_response(200 if ok else 404); self.end_headers(); self.wfile.write(body)
    def do_PUT(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        (args.data / self.path.strip("/")).write_bytes(body)
        self.send_response(201); self.end_headers()

http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()
'''
BACKEND_INIT = f'''"""Imports that take {IMPORT_SECONDS:g} s of CPU (a big backend)."""
import hashlib, time
_until = time.process_time() + {IMPORT_SECONDS}
_digest = b""
while time.process_time() < _until:
    _digest = hashlib.sha256(_digest).digest()
'''
BACKEND_MAIN = f"""import argparse, http.server, json, sqlite3, time
import backendapp  # the expensive imports (preloaded)

def create_app():  # the app factory: {FACTORY_SECONDS:g} s after the imports, every start
    time.sleep({FACTORY_SECONDS})

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int); parser.add_argument("--db")
args = parser.parse_args()
create_app()

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        rows = sqlite3.connect(args.db).execute("select count(*) from parts").fetchone()[0]
        body = json.dumps({{"parts": rows}}).encode()
        self.send_response(200); self.end_headers(); self.wfile.write(body)
    def do_POST(self):  # db_reset: restore the seeded data
        db = sqlite3.connect(args.db); db.execute("delete from parts where name != 'seeded'")
        db.commit(); self.send_response(204); self.end_headers()

http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()
"""
SIDECAR = f"""import argparse, http.server, time
time.sleep({SIDECAR_SECONDS})
parser = argparse.ArgumentParser(); parser.add_argument("--port", type=int)

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"ok")

http.server.ThreadingHTTPServer(("127.0.0.1", parser.parse_args().port), Handler).serve_forever()
"""
SEED = f"""import sqlite3, sys, time, urllib.request
db, store = sys.argv[1], sys.argv[2]
time.sleep({SEED_SECONDS})
urllib.request.urlopen(urllib.request.Request(store + "/photo", b"a photo", method="PUT"))
connection = sqlite3.connect(db)
connection.execute("create table parts (name)")
connection.execute("insert into parts values ('seeded')")
connection.commit()
"""
BUILD = """import pathlib, shutil, sys
out = pathlib.Path(sys.argv[1]); out.mkdir(parents=True, exist_ok=True)
shutil.copy("index.html", out / "index.html")
"""
#: The page renders its heading after 0.4 s (a test waits on it, as tests wait on data).
INDEX = """<!doctype html><title>parts</title><body><script>
setTimeout(() => { document.body.innerHTML = "<h1>Parts</h1>"; }, 400);
</script>"""
CONFTEST = """import json, os

def pytest_runtest_logreport(report):
    record = {"worker": os.environ.get("PYTEST_XDIST_WORKER", "main"), "when": report.when,
              "seconds": report.duration, "start": report.start}
    with open(os.environ["INNER_DURATIONS"], "a") as out:
        out.write(json.dumps(record) + "\\n")
"""
TESTS = """import json, urllib.request
import pytest
from playwright.sync_api import Page, expect

@pytest.mark.parametrize("n", range(6))
def test_parts(page: Page, backend_url, store_url, gateway_url, fresh_db, n):
    page.goto("/")
    expect(page.locator("h1")).to_have_text("Parts")
    assert json.load(urllib.request.urlopen(backend_url))["parts"] == 1
    assert urllib.request.urlopen(store_url + "/photo").read() == b"a photo"
"""
INI = """[pytest]
addopts = -p stackwright.fixtures.plugin
services = store gateway backend frontend
page_url = {frontend_url}
store_scope = run
store_cmd = {python} store.py --port {port} --data {data}
store_ready = http /ready
gateway_cmd = {python} sidecar.py --port {port}
gateway_ready = http /
backend_cmd = {python} -m backendapp.main --port {port} --db {db}
backend_preload = backendapp
backend_ready = http /
frontend_build = {python} build.py {build}
frontend_build_inputs = index.html build.py
frontend_cmd = {python} -m http.server {port} --bind {host} -d {build}
frontend_ready = http /
template_db_cmd = {python} seed.py {db} {store_url}
template_db_inputs = seed.py
db_reset = POST {backend_url}/reset
"""


def generate() -> Path:
    (SUITE / "backendapp").mkdir(parents=True, exist_ok=True)
    files = {
        "store.py": STORE,
        "sidecar.py": SIDECAR,
        "seed.py": SEED,
        "build.py": BUILD,
        "index.html": INDEX,
        "conftest.py": CONFTEST,
        "test_inner.py": TESTS,
        "pytest.ini": INI,
        "backendapp/__init__.py": BACKEND_INIT,
        "backendapp/main.py": BACKEND_MAIN,
    }
    for name, text in files.items():
        (SUITE / name).write_text(text)
    return SUITE


class Run:
    """One pytest run of the generated suite: wall time, the tests' call durations, and
    the summary lines that say how long the seed and each service took."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        durations = SUITE / "durations.jsonl"
        durations.unlink(missing_ok=True)
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", *args],
            cwd=SUITE,
            env={**os.environ, "CI": "", "INNER_DURATIONS": str(durations), **(env or {})},
            capture_output=True,
            text=True,
            timeout=300,
        )
        self.wall = time.perf_counter() - started
        self.output = result.stdout + result.stderr
        if result.returncode != 0:
            raise RuntimeError(f"pytest {' '.join(args)} failed:\n{self.output}")
        self.started = time.time() - self.wall
        records = [json.loads(line) for line in durations.read_text().splitlines()]
        setups = [r for r in records if r["when"] == "setup"]
        firsts = {
            min((r for r in setups if r["worker"] == w), key=lambda r: r["start"])["start"]
            for w in {r["worker"] for r in setups}
        }
        later = [r["seconds"] for r in setups if r["start"] not in firsts]
        #: The tests' own time: setup, call and teardown of each, except that a worker's
        #: first setup (which waits for its stack and launches its browser) counts as a
        #: later one does.
        self.calls = sum(r["seconds"] for r in records if r["when"] != "setup") + sum(later)
        self.calls += len(firsts) * (median(later) if later else 0.0)
        #: From the run's start to its first test's call.
        self.first_test = min(r["start"] for r in records if r["when"] == "call") - self.started

    def seconds(self, marker: str) -> float:
        """The figure after ``marker`` in the summary ('backend ' -> 2.31)."""
        for line in self.output.splitlines():
            at = line.find(marker)
            if at >= 0:
                word = line[at + len(marker) :].split()[0].rstrip("s,)")
                try:
                    return float(word)
                except ValueError:
                    continue
        raise RuntimeError(f"no {marker!r} in:\n{self.output}")


def _browser_launch() -> float:
    """Seconds to launch the headless Chromium the suite uses (median of 3)."""
    times = []
    with sync_playwright() as playwright:
        for _ in range(3):
            started = time.perf_counter()
            browser = launch(playwright)
            times.append(time.perf_counter() - started)
            browser.close()
    return median(times)


def _backend_start() -> float:
    """Seconds the backend takes to start by itself, with exec (median of 3): its
    imports and its app factory, until it answers."""
    db = SUITE / "backend-alone.sqlite"
    db.unlink(missing_ok=True)
    with sqlite3.connect(db) as connection:
        connection.execute("create table parts (name)")
    times = []
    for _ in range(3):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        started = time.perf_counter()
        backend = subprocess.Popen(
            [sys.executable, "-m", "backendapp.main", "--port", str(port), "--db", str(db)],
            cwd=SUITE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1).read()
                    break
                except OSError:
                    assert backend.poll() is None, "the backend exited"
                    time.sleep(0.01)
            times.append(time.perf_counter() - started)
        finally:
            backend.kill()
            backend.wait()
    return median(times)


def _up() -> subprocess.Popen[str]:
    log = (SUITE / "up.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "stackwright.support.cli", "up", "-n", "1", "-c", "pytest.ini"],
        cwd=SUITE,
        # The runs' environment: a run attaches only when what reaches a service is the same.
        env={**os.environ, "CI": "", "INNER_DURATIONS": str(SUITE / "durations.jsonl")},
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    log.close()
    deadline = time.monotonic() + 120
    while "stackwright: ready in" not in (SUITE / "up.log").read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("stackwright up did not start:\n" + (SUITE / "up.log").read_text())
        time.sleep(0.1)
    return process


def run() -> list[Figure]:
    generate()
    group = "inner loop"
    browser = _browser_launch()
    # The backend's own start, as a team measures it: by itself, with exec.
    backend = _backend_start()
    # A -n 2 run whose seed is not cached (the cache cleared): what overlaps the seed.
    cold = [Run("-n", "2", "--cache", "clear", "--attach", "off") for _ in range(2)]
    cold_wall = median([r.wall for r in cold])
    seed = median([r.seconds("the template database: built in ") for r in cold])
    sidecar = median([r.seconds("gateway ") for r in cold])
    cold_tests = median([r.calls for r in cold])
    serial = seed + backend + cold_tests
    first_extra = median([r.first_test for r in cold]) - seed - backend
    # A full cold run, seed and build cached (nothing kept): 3 runs, after one that fills it.
    Run("--attach", "off")
    warm = [Run("--attach", "off") for _ in range(3)]
    warm_wall = median([r.wall for r in warm])
    warm_tests = median([r.calls for r in warm])
    warm_floor = max(backend, browser) + warm_tests
    # One test again: booting as usual, then attached to a kept stack.
    one_booted = [Run("test_inner.py::test_parts[chromium-0]", "--attach", "off") for _ in range(3)]
    up = _up()
    try:
        one_kept = [Run("test_inner.py::test_parts[chromium-0]") for _ in range(5)]
        # The same test after an edit of the backend's code (a module its preload server
        # imported): up restarts the backend (and its preload server) before attaching.
        changed = []
        for edit in range(3):
            with (SUITE / "backendapp" / "__init__.py").open("a") as source:
                source.write(f"# edit {edit}\n")
            changed.append(Run("test_inner.py::test_parts[chromium-0]"))
    finally:
        up.send_signal(signal.SIGINT)
        up.wait(timeout=60)
    assert all("attached to kept stack" in r.output for r in one_kept), one_kept[0].output
    assert all("backend's code changed" in r.output for r in changed), changed[0].output
    kept_extra = median([r.wall - r.calls for r in one_kept])
    changed_extra = median([r.wall - r.calls for r in changed]) - kept_extra
    booted_extra = median([r.wall - r.calls for r in one_booted])
    note = (
        f"seed {SEED_SECONDS:g} s filling a {{data}} store, backend {IMPORT_SECONDS:g} s "
        f"imports + {FACTORY_SECONDS:g} s factory, browser launch {browser:.2f} s"
    )
    figures = [
        Figure(
            group,
            "one test again, kept stack: wall minus the test's own time",
            kept_extra,
            "s",
            1.5,
            note=f"median of 5; the test itself {median([r.calls for r in one_kept]):.2f} s",
        ),
        Figure(
            group,
            "one test again, kept stack, after a backend source edit: extra wall minus the "
            "backend's own start",
            changed_extra - backend,
            "s",
            0.5,
            note=f"median of 3: {changed_extra:.2f} s more than without the edit; backend's "
            f"own start {backend:.2f} s (up restarts its preload server and the backend)",
        ),
        Figure(
            group,
            "one test again, booting as usual (cache warm): wall minus the test's own time",
            booted_extra,
            "s",
            note="median of 3, for comparison",
        ),
        Figure(
            group,
            "full run, seed and build cached: wall minus (max(backend, browser) + tests)",
            warm_wall - warm_floor,
            "s",
            1.0,
            note=f"wall {warm_wall:.2f} s; backend's own start {backend:.2f} s, tests "
            f"{warm_tests:.2f} s",
        ),
        Figure(
            group,
            "-n 2, seed not cached: (seed + backend + tests) minus wall",
            serial - cold_wall,
            "s",
            browser + sidecar,
            sense="min",
            note=f"wall {cold_wall:.2f} s; seed {seed:.2f} s, backend {backend:.2f} s, tests "
            f"{cold_tests:.2f} s (6, on 2 workers); target: browser launch + gateway start "
            f"({sidecar:.2f} s)",
        ),
        Figure(
            group,
            "-n 2, seed not cached: first test's start minus (seed + backend)",
            first_extra,
            "s",
            note="the backend's own start (exec) counted whole; pytest's and the workers' "
            "start, the browser launch, the gateway and the backend's preloaded imports run "
            "while the seed runs",
        ),
    ]
    figures[0].note += f"; {note}"
    return figures
