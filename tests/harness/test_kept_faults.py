"""Kept stacks under faults and hostile use: a run never gives a wrong result.

One test per trial of issue 29: ``up`` gone mid-test, a stale state naming a reused pid,
a changed ``.env.test``, every kept stack taken, a stopped ``up``, a channel served by
another user, a world-writable umask, and a kept service whose code changed.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import FAKE, alive, assert_no_service_left, kept_up

pytest_plugins = ["pytester"]

SEED = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("create table notes (text)")
db.commit()
"""

INI = f"""
[pytest]
addopts = -p stackwright.fixtures.plugin -p no:randomly
services = backend
backend_cmd = {{python}} {FAKE} --port {{port}}
backend_ready = http /ready
backend_env =
    FAKE_NAME=backend
    FAKE_DB={{db}}
    SECRET=${{SECRET}}
template_db_cmd = {{python}} seed.py {{db}}
template_db_inputs = seed.py
"""

PASSES = """
import urllib.request

def test_passes(backend_url):
    urllib.request.urlopen(backend_url + "/ready").read()
"""


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("CI", "")
    monkeypatch.setenv("SECRET", "s1")
    pytester.makefile(".ini", pytest=INI)
    pytester.makepyfile(test_kept=PASSES)
    (pytester.path / "seed.py").write_text(SEED)
    yield pytester.path
    assert_no_service_left(pytester.path)


def _cli(suite: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stackwright.support.cli", *args],
        cwd=suite,
        capture_output=True,
        text=True,
        timeout=60,
    )


#: The first test ends ``up`` itself, then passes unless the harness sees it; the second
#: needs the stack after ``up`` is gone.
UP_GOES = """
import os, signal, subprocess, sys, time

def test_in_flight(backend_url):
    pid = int(open("up.pid").read())
    if os.environ["HOW"] == "kill-9":
        os.kill(pid, signal.SIGKILL)
    else:
        subprocess.run([sys.executable, "-m", "stackwright.support.cli", "down", "-c",
                        "pytest.ini"], check=True, timeout=60)
    while os.path.exists(f"/proc/{pid}") and open(f"/proc/{pid}/stat").read().split()[2] != "Z":
        time.sleep(0.01)

def test_after(backend_url):
    pass
"""


@pytest.mark.parametrize("how", ["kill-9", "down"])
@pytest.mark.parametrize("workers", ["0", "1"])
def test_up_gone_mid_test_fails_the_test_and_the_run(
    suite: Path, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, how: str, workers: str
) -> None:
    pytester.makepyfile(test_kept=UP_GOES)
    monkeypatch.setenv("HOW", how)
    with kept_up(pytester) as up:
        (suite / "up.pid").write_text(str(up.pid))
        result = pytester.runpytest_subprocess("-n", workers)
    assert result.ret == 1, result.stdout.str()
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    result.assert_outcomes(failed=1, errors=1)
    result.stdout.fnmatch_lines(
        [f"*stackwright up (pid {up.pid}) went away*during this test's call*cannot be trusted*"]
    )
    result.stdout.fnmatch_lines(["*ERROR*test_after*", "*has no kept stack*run again*"])


def test_a_stale_state_with_a_reused_pid_signals_nothing(
    suite: Path, pytester: pytest.Pytester
) -> None:
    """What an ``up`` killed with -9 left behind names a pid the system gave to another
    process of the user: neither ``down`` nor a run trusts it."""
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        folder = suite / ".stackwright" / "kept"
        folder.mkdir(parents=True, mode=0o700)
        (folder / "up.sock").write_text("")
        (folder / "state.json").write_text(json.dumps({"pid": other.pid, "socket": "up.sock"}))
        down = _cli(suite, "down", "-c", "pytest.ini")
        assert down.returncode == 0, down.stderr
        assert "no stackwright up keeps stacks of" in down.stdout
        result = pytester.runpytest_subprocess("--attach", "on")
        result.assert_outcomes(passed=1)
        result.stdout.fnmatch_lines(["*no kept stacks (start them with stackwright up)*"])
        assert other.poll() is None, "down signalled a process that is not stackwright up"
    finally:
        other.kill()
        other.wait()


def test_a_changed_env_file_or_variable_is_named_never_its_value(
    suite: Path, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    (suite / ".env.test").write_text("CALLBACK_SECRET=old-secret-value\n")
    with kept_up(pytester):
        (suite / ".env.test").write_text("CALLBACK_SECRET=new-secret-value\n")
        result = pytester.runpytest_subprocess()
        result.assert_outcomes(passed=1)
        result.stdout.fnmatch_lines(
            ["*kept stacks not used: the environment variable CALLBACK_SECRET changed since*"]
        )
        (suite / ".env.test").write_text("CALLBACK_SECRET=old-secret-value\n")
        monkeypatch.setenv("SECRET", "s2")
        result = pytester.runpytest_subprocess()
        result.stdout.fnmatch_lines(["*the environment variable SECRET changed since*"])
        assert "secret-value" not in result.stdout.str() and "s2" not in result.stdout.str()
        monkeypatch.setenv("SECRET", "s1")
        result = pytester.runpytest_subprocess()
        result.stdout.fnmatch_lines(["*attached to kept stack gw0*"])


#: Holds its kept stack until the file ``go`` exists.
HOLDS = """
import os, time

def test_holds(backend_url):
    open("holding", "w").close()
    while not os.path.exists("go"):
        time.sleep(0.02)
"""


def _until(path: Path, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while not path.exists():
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)


def test_every_kept_stack_taken_boots_its_own_and_a_killed_run_frees_its_claim(
    suite: Path, pytester: pytest.Pytester
) -> None:
    pytester.makepyfile(test_holds=HOLDS)
    with kept_up(pytester):
        first = pytester.popen(
            [sys.executable, "-m", "pytest", "test_holds.py"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
        )
        try:
            _until(suite / "holding", first)
            result = pytester.runpytest_subprocess("test_kept.py", "--output", "second")
            result.assert_outcomes(passed=1)
            result.stdout.fnmatch_lines(
                ["*every stack stackwright up (pid *) keeps is taken by another run*"]
            )
            result.stdout.fnmatch_lines(["main: stack ready in *"])
        finally:
            first.kill()  # kill -9 of an attached run: its claim ends with it
            first.wait()
        result = pytester.runpytest_subprocess("test_kept.py")
        result.assert_outcomes(passed=1)
        result.stdout.fnmatch_lines(["*attached to kept stack gw0*"])


def test_a_stopped_up_is_named_and_the_run_boots(suite: Path, pytester: pytest.Pytester) -> None:
    with kept_up(pytester) as up:
        up.send_signal(signal.SIGSTOP)
        try:
            result = pytester.runpytest_subprocess(timeout=60)
        finally:
            up.send_signal(signal.SIGCONT)
        result.assert_outcomes(passed=1)
        result.stdout.fnmatch_lines(
            [f"*kept stacks not used: stackwright up (pid {up.pid}) is stopped*booting as usual*"]
        )
        up.send_signal(signal.SIGSTOP)  # down wakes a stopped up to end it
        down = _cli(suite, "down", "-c", "pytest.ini")
        assert down.returncode == 0, down.stderr
        assert f"stopped stackwright up (pid {up.pid})" in down.stdout


def test_a_channel_served_by_another_user_is_not_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process of another uid listening at ``up``'s address gets not a word: the run
    boots as usual and says who answered."""
    from stackwright.support.config.settings import HarnessConfig
    from stackwright.support.kept import plan, up_address
    from stackwright.support.processes import channel

    # This process plays a user one uid above the one the server runs as.
    monkeypatch.setattr(channel, "own_uid", lambda: os.geteuid() + 1)
    config = HarnessConfig(root=str(tmp_path), output_dir=str(tmp_path / "out"), services=())
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(up_address(tmp_path))
    server.listen(1)
    heard: list[bytes] = []

    def answer() -> None:
        conn, _ = server.accept()
        conn.settimeout(2)
        try:
            heard.append(conn.recv(4096))
        except OSError:
            pass
        conn.close()

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        line = plan(config, {}, workers=1).line
    finally:
        thread.join(timeout=5)
        server.close()
    assert line.startswith("kept stacks not used: stackwright up at @stackwright-up-"), line
    assert f"runs as uid {os.geteuid()}, not as this user" in line
    assert heard in ([], [b""]), "a request was sent to another user's process"


def test_kept_folders_are_private_whatever_the_umask(
    suite: Path, pytester: pytest.Pytester
) -> None:
    old = os.umask(0)
    try:
        with kept_up(pytester) as up:
            for folder in (suite / ".stackwright", suite / ".stackwright" / "kept"):
                assert folder.stat().st_mode & 0o777 == 0o700, oct(folder.stat().st_mode)
            # A renamed folder hides up neither from a run (which names it) nor from down.
            (suite / ".stackwright" / "kept").rename(suite / ".stackwright" / "moved")
            result = pytester.runpytest_subprocess()
            result.stdout.fnmatch_lines(
                ["*kept stacks not used: kept stacks folder *kept: No such file or directory*"]
            )
            down = _cli(suite, "down", "-c", "pytest.ini")
            assert f"stopped stackwright up (pid {up.pid})" in down.stdout, down.stderr
    finally:
        os.umask(old)
    # A folder another user could write to is refused by name.
    (suite / ".stackwright").chmod(0o777)
    with kept_up(pytester):
        assert (suite / ".stackwright").stat().st_mode & 0o777 == 0o700


CODE_INI = f"""
[pytest]
addopts = -p stackwright.fixtures.plugin -p no:randomly
services = store backend
store_cmd = {{python}} {FAKE} --port {{port}}
store_ready = http /ready
store_env = FAKE_NAME=store
backend_cmd = {{python}} -m served --port {{port}}
backend_ready = http /ready
backend_preload = served
backend_inputs = settings.txt
"""

#: A preloaded service whose answer comes from its own module's source.
SERVED = """
import http.server, sys
VERSION = "v1"

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = (VERSION + open("settings.txt").read()).encode()
        self.send_response(200)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        sys.stderr.write("%s\\n" % (args,))

if __name__ == "__main__":
    port = int(sys.argv[sys.argv.index("--port") + 1])
    print(f"backend starting on port {port}", flush=True)
    http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
"""

SEES = """
import urllib.request

def test_sees_the_checkout(backend_url):
    answer = urllib.request.urlopen(backend_url + "/ready").read().decode()
    assert answer == open("expected.txt").read()
"""


def test_a_kept_service_follows_its_code(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its ``<name>_inputs`` or a project file its preload server imported changed: ``up``
    restarts that service only, and the run tests the checkout's code."""
    monkeypatch.setenv("CI", "")
    pytester.makefile(".ini", pytest=CODE_INI)
    pytester.makepyfile(test_kept=SEES, served=SERVED)
    (pytester.path / "settings.txt").write_text("-a")
    expected = pytester.path / "expected.txt"
    with kept_up(pytester):
        expected.write_text("v1-a")
        pytester.runpytest_subprocess().assert_outcomes(passed=1)
        (pytester.path / "served.py").write_text(SERVED.replace('"v1"', '"v2"'))
        expected.write_text("v2-a")
        result = pytester.runpytest_subprocess()
        result.assert_outcomes(passed=1)
        result.stdout.fnmatch_lines(["*backend's code changed since stackwright up started it*"])
        (pytester.path / "settings.txt").write_text("-b")
        expected.write_text("v2-b")
        result = pytester.runpytest_subprocess()
        result.assert_outcomes(passed=1)
        result.stdout.fnmatch_lines(["*attached to kept stack gw0*"])
        log = (pytester.path / "up.log").read_text()
    assert log.count("] backend starting on port") == 3
    assert log.count("] store starting on port") == 1, "only the changed service restarts"


def test_up_takes_the_harness_options_and_reads_a_bad_ini_in_one_line(
    suite: Path, pytester: pytest.Pytester
) -> None:
    with kept_up(pytester, "--service-timeout", "60"):
        result = pytester.runpytest_subprocess("--service-timeout", "60")
        result.stdout.fnmatch_lines(["*attached to kept stack gw0*"])
        result = pytester.runpytest_subprocess()
        result.stdout.fnmatch_lines(["*the setting backend_timeout changed since*"])
    (suite / "broken.ini").write_text("[pytest]\nservices = a\n  = b\n[x\n")
    bad = _cli(suite, "up", "-c", "broken.ini")
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and "broken.ini is not a valid ini file" in bad.stderr
    assert alive(os.getpid())
