"""The preload server: forked services behave like `python -m` ones, and die with their worker."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from stackwright.support.config.services import ServiceSpec
from stackwright.support.config.settings import HarnessConfig
from stackwright.support.controller import Controller
from stackwright.support.processes.preload import (
    PreloadServer,
    PreloadUnavailable,
    preloadable,
    spawn,
    start_servers,
)
from stackwright.support.processes.process import ServiceProcess

from .conftest import ROOT, alive, start_preload

PROBE = "tests.harness.preload_probe"
MARKER = "tests.harness.preload_marker"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PreloadServer]:
    server = start_preload(tmp_path_factory.mktemp("preload"), [PROBE])
    yield server
    server.stop()


def _spawn(
    server: PreloadServer, *args: str, cwd: Path, module: str = PROBE, **env: str
) -> tuple[int, str, int]:
    """Start ``module`` (the probe) through the server; (pid, output, exit code)."""
    read_fd, write_fd = os.pipe()
    try:
        child = spawn(
            server.address,
            [sys.executable, "-m", module, *args],
            cwd=str(cwd),
            env={**os.environ, **env},
            output_fd=write_fd,
        )
    finally:
        os.close(write_fd)
    with os.fdopen(read_fd, "rb") as output:
        text = output.read().decode()
    return child.pid, text, child.wait(10)


def test_a_forked_service_looks_like_python_dash_m(server: PreloadServer, tmp_path: Path) -> None:
    pid, output, code = _spawn(server, "report", "7", cwd=tmp_path, PROBE_VAR="from the request")
    assert code == 7
    report = json.loads(output.splitlines()[0])
    assert report["pid"] == pid != os.getpid()
    assert report["argv"][1:] == ["report", "7"]
    assert report["argv"][0].endswith("preload_probe.py")
    assert report["cwd"] == report["path0"] == str(tmp_path)
    assert report["probe_var"] == "from the request"
    assert report["session_leader"] is True  # its own process group, stopped as one
    assert report["stdin"] == ""
    # imported once, in the server: not again in the service
    assert report["marker_imported_in"] == server.process.pid
    assert "to stderr" in output  # stdout and stderr both reach the worker's pipe


def test_each_start_is_a_new_process_with_its_own_exit_code(
    server: PreloadServer, tmp_path: Path
) -> None:
    first = _spawn(server, "report", "0", cwd=tmp_path)
    second = _spawn(server, "report", "3", cwd=tmp_path)
    assert first[0] != second[0]
    assert (first[2], second[2]) == (0, 3)


def test_interpreter_variables_are_applied_or_refused(
    server: PreloadServer, tmp_path: Path
) -> None:
    _, output, _ = _spawn(server, "report", "0", cwd=tmp_path, PYTHONDONTWRITEBYTECODE="1")
    assert json.loads(output.splitlines()[0])["dont_write_bytecode"] is True
    with pytest.raises(PreloadUnavailable, match="PYTHONPATH"):
        _spawn(server, "report", "0", cwd=tmp_path, PYTHONPATH="/elsewhere")


def test_bad_requests_are_refused_and_the_server_keeps_serving(
    server: PreloadServer, tmp_path: Path
) -> None:
    with socket.socket(socket.AF_UNIX) as raw:  # no length, no descriptor
        raw.connect(server.address)
        raw.sendall(b"nonsense")
        assert raw.recv(100) == b""
    # a descriptor, but no env, cwd or args
    body = json.dumps({"module": "x", "interpreter": sys.executable}).encode()
    with socket.socket(socket.AF_UNIX) as raw:
        raw.connect(server.address)
        socket.send_fds(raw, [struct.pack("!I", len(body)) + body], [1])
        assert b"could not start it" in raw.recv(1000)
    assert _spawn(server, "report", "4", cwd=tmp_path)[2] == 4
    log = server.log_path.read_text()
    assert "preload: bad request" in log and "preload: cannot start 'x'" in log


def _answering(address: str, reply: bytes) -> threading.Thread:
    """A stand-in server in this process: it takes one request and sends ``reply``."""
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(address)
    listener.listen(1)

    def answer() -> None:
        with listener:
            conn, _ = listener.accept()
            with conn:
                _, fds, _, _ = socket.recv_fds(conn, 65536, 1)
                for fd in fds:
                    os.close(fd)
                conn.sendall(reply)

    server = threading.Thread(target=answer)
    server.start()
    return server


def test_a_status_that_arrives_with_the_pid_is_not_lost(tmp_path: Path) -> None:
    """A child that exits at once: its pid and exit status come in one read."""
    with subprocess.Popen(["sleep", "30"]) as forked:  # a child of the server (this process)
        reply = json.dumps({"pid": forked.pid}).encode() + b'\n{"exit": 5}\n'
        server = _answering(str(tmp_path / "s.sock"), reply)
        child = spawn(
            str(tmp_path / "s.sock"),
            [sys.executable, "-m", PROBE],
            cwd=str(tmp_path),
            env={},
            output_fd=1,
        )
        server.join()
        forked.kill()
    assert child.poll() == 5


def test_a_pid_that_is_not_the_servers_child_is_refused(tmp_path: Path) -> None:
    """The worker later stops that pid's process group: it must be the server's fork."""
    for pid in (os.getppid(), 1, "12"):
        address = str(tmp_path / f"{pid}.sock")
        server = _answering(address, json.dumps({"pid": pid}).encode() + b"\n")
        with pytest.raises(PreloadUnavailable, match=rf"answered pid '?{pid}'?"):
            spawn(address, [sys.executable, "-m", PROBE], cwd="/", env={}, output_fd=1)
        server.join()


@pytest.mark.parametrize("change", ["mode 777", "another owner", "a link"])
def test_a_socket_in_a_folder_that_is_not_private_is_sent_nothing(
    server: PreloadServer, tmp_path: Path, change: str
) -> None:
    """Another user who could rename the socket or its folder could put a server of
    its own there: nothing (environment, secrets, descriptors) is sent unless the
    folder is this user's and mode 700."""
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o700)
    os.link(server.address, folder / "s.sock")  # the real server, behind the folder
    address = str(folder / "s.sock")
    if change == "mode 777":
        folder.chmod(0o777)
    elif change == "another owner":
        os.chown(folder, NOBODY, NOBODY)
    else:
        (tmp_path / "link").symlink_to(folder)
        address = str(tmp_path / "link" / "s.sock")
    before = server.log_path.read_text()
    with pytest.raises(PreloadUnavailable, match=r"is not a private folder of this user"):
        spawn(address, [sys.executable, "-m", PROBE], cwd="/", env={"S": "x"}, output_fd=1)
    assert server.log_path.read_text() == before  # it was never asked


def test_a_server_running_as_another_user_is_sent_nothing(tmp_path: Path) -> None:
    """A socket in a private folder of ours whose server is another user's (renamed in):
    the client reads the server's uid (SO_PEERCRED) before it sends anything."""
    assert os.geteuid() == 0, "this test needs root, to run a server as another user"
    theirs = Path(tempfile.mkdtemp(prefix="preload-theirs-", dir="/tmp"))
    try:
        os.chown(theirs, NOBODY, NOBODY)
        listener = f"""
import socket, sys
sock = socket.socket(socket.AF_UNIX)
sock.bind({str(theirs / "s.sock")!r})
sock.listen(1)
print("listening", flush=True)
conn, _ = sock.accept()
conn.settimeout(5)
try:
    print("received", len(conn.recv(65536)), flush=True)
except OSError as exc:
    print("received nothing:", exc, flush=True)
"""
        with subprocess.Popen(
            [SYSTEM_PYTHON, "-c", listener], user=NOBODY, cwd="/", stdout=subprocess.PIPE, text=True
        ) as other:
            assert other.stdout is not None and other.stdout.readline() == "listening\n"
            ours = tmp_path / "ours"
            ours.mkdir(mode=0o700)
            os.rename(theirs / "s.sock", ours / "s.sock")
            with pytest.raises(PreloadUnavailable, match=rf"runs as uid {NOBODY}, not as this"):
                spawn(str(ours / "s.sock"), [sys.executable, "-m", PROBE], cwd="/",
                      env={"SECRET": "x"}, output_fd=1)  # fmt: skip
            said = other.communicate(timeout=10)[0]
        assert said in ("received 0\n", "") or said.startswith("received nothing"), said
    finally:
        shutil.rmtree(theirs, ignore_errors=True)


def test_a_stopped_preload_server_is_named_and_a_restart_starts_with_exec(
    tmp_path: Path,
) -> None:
    """A stopped server reports no exit status and answers no request: stopping its
    forked service still returns, and the next start says why it used exec."""
    own = start_preload(tmp_path / "own", [PROBE])
    try:
        process = _service(tmp_path, own.address, "sleep").start()
        assert process.preloaded
        os.kill(own.process.pid, signal.SIGSTOP)
        started = time.monotonic()
        assert process.stop(grace=1) is not None
        assert time.monotonic() - started < 10
        again = _service(tmp_path, own.address, "report", "0").start()
        assert not again.preloaded and again.popen is not None and again.popen.wait(10) == 0
        again.wait_drained()
        assert f"(pid {own.process.pid}) is stopped" in again.log_path.read_text()
    finally:
        os.kill(own.process.pid, signal.SIGCONT)
        own.stop()


def test_only_python_dash_m_commands_are_preloadable() -> None:
    assert preloadable([sys.executable, "-m", "app.gateway", "--x"]) == ("app.gateway", ["--x"])
    assert preloadable([sys.executable, "script.py"]) is None
    assert preloadable(["node", "script.js"]) is None


def test_a_command_on_another_interpreter_is_refused(server: PreloadServer, tmp_path: Path) -> None:
    """The harness's server cannot serve a service whose {python} is another interpreter,
    even one that resolves to the same binary (a virtualenv of its own)."""
    other = tmp_path / "venv-python"
    other.symlink_to(sys.executable)
    read_fd, write_fd = os.pipe()
    try:
        with pytest.raises(PreloadUnavailable, match="is not the server's"):
            spawn(
                server.address,
                [str(other), "-m", PROBE, "report", "0"],
                cwd=str(tmp_path),
                env=os.environ,
                output_fd=write_fd,
            )
    finally:
        os.close(read_fd)
        os.close(write_fd)


def _service(tmp_path: Path, address: str | None, *args: str) -> ServiceProcess:
    return ServiceProcess(
        "backend",
        [sys.executable, "-m", PROBE, *args],
        log_path=tmp_path / "backend.log",
        cwd=tmp_path,
        env=dict(os.environ),
        preload=address,
    )


def test_stop_sends_sigterm_to_the_forked_group(server: PreloadServer, tmp_path: Path) -> None:
    process = _service(tmp_path, server.address, "sleep").start()
    assert process.preloaded
    deadline = time.monotonic() + 10
    while "pid" not in process.log_path.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert process.stop(grace=5) == -signal.SIGTERM
    assert not alive(process.pid or 0)


def test_without_a_server_the_service_starts_with_exec(tmp_path: Path) -> None:
    process = _service(tmp_path, str(tmp_path / "missing.sock"), "report", "5").start()
    assert process.popen is not None and process.popen.wait(10) == 5
    process.wait_drained()
    log = process.log_path.read_text()
    assert not process.preloaded
    assert "[harness] started with exec instead of the preload server" in log
    assert json.loads(log.splitlines()[1])["marker_imported_in"] == process.pid


def test_a_failed_preload_import_leaves_exec_working(tmp_path: Path) -> None:
    try:  # it fails at once, or right after it started listening
        server = start_preload(tmp_path, ["no_such_module_xyz"])
    except PreloadUnavailable as exc:
        assert str(exc) == f"preload server exited with code 3; see {tmp_path / 'preload.log'}"
    else:
        assert server.process.wait(10) == 3
        assert server.failure() == f"preload server exited with code 3; see {server.log_path}"
    assert "importing no_such_module_xyz failed" in (tmp_path / "preload.log").read_text()
    process = _service(tmp_path, str(tmp_path / "p.sock"), "report", "0").start()
    assert process.popen is not None and process.popen.wait(10) == 0
    assert not process.preloaded


WORKER = """
import json, os, sys
from stackwright.support.processes.preload import spawn
child = spawn(sys.argv[1], [sys.executable, "-m", "tests.harness.preload_probe", "sleep"],
              cwd=os.getcwd(), env=dict(os.environ), output_fd=1)
print(json.dumps({"child": child.pid}), flush=True)
child.wait()
"""


def test_a_forked_service_dies_with_the_worker_that_asked(
    server: PreloadServer, tmp_path: Path
) -> None:
    with subprocess.Popen(
        [sys.executable, "-c", WORKER, server.address],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    ) as worker:
        assert worker.stdout is not None
        lines = [worker.stdout.readline(), worker.stdout.readline()]
        child = next(json.loads(line)["child"] for line in lines if "child" in line)
        assert alive(child)
        worker.kill()
    deadline = time.monotonic() + 3
    while alive(child):
        assert time.monotonic() < deadline, "the forked service outlived its worker"
        time.sleep(0.02)


def test_each_preloaded_service_gets_its_own_server(tmp_path: Path) -> None:
    spec = ServiceSpec("backend", "{python} -m " + PROBE, preload=(PROBE, MARKER))
    other = ServiceSpec("gateway", "{python} -m " + PROBE, preload=(MARKER,))
    script = ServiceSpec("frontend", "node vite.js --port {port}", preload=(MARKER,))
    services = (spec, other, script)
    config = HarnessConfig(root=str(ROOT), output_dir=str(tmp_path / "out"), services=services)
    assert start_servers(replace(config, preload=False), os.environ) == ({}, {})
    servers, reasons = start_servers(config, os.environ)
    try:  # beside the run's files, which the next run clears
        assert set(servers) == {"backend", "gateway"}
        for name, server in servers.items():
            assert server.address == str(config.services_dir / "preload" / f"{name}.sock")
            assert os.path.exists(server.address)
        assert reasons == {"frontend": "its command is not '{python} -m module ...': node"}
    finally:
        for server in servers.values():
            server.stop()
    assert not any(os.path.exists(server.address) for server in servers.values())


def _one_server(config: HarnessConfig) -> PreloadServer:
    servers, reasons = start_servers(config, os.environ)
    assert reasons == {} and len(servers) == 1
    return next(iter(servers.values()))


def test_a_deep_output_folder_gets_a_short_socket_path(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 120)
    spec = ServiceSpec("backend", "{python} -m " + PROBE, preload=(MARKER,))
    config = HarnessConfig(root=str(ROOT), output_dir=str(deep), services=(spec,))
    server = _one_server(config)
    folder = Path(server.address).parent
    try:
        assert folder.parent == Path(tempfile.gettempdir()) and len(server.address) < 108
        assert (deep / ".services" / "preload-backend.log").exists()
    finally:
        server.stop()
    assert not folder.exists()


NOBODY = 65534
SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin:/bin") or sys.executable


def test_the_socket_is_private_to_its_user_whatever_the_umask(tmp_path: Path) -> None:
    spec = ServiceSpec("backend", "{python} -m " + PROBE, preload=(MARKER,))
    config = HarnessConfig(root=str(ROOT), output_dir=str(tmp_path / "out"), services=(spec,))
    run = Controller(config, dict(os.environ))
    previous = os.umask(0)
    try:
        run.open(port_blocks=1, relay=False)
    finally:
        os.umask(previous)
    try:
        address = run.preload_servers["backend"].address
        assert stat.S_IMODE(os.stat(address).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(Path(address).parent).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(config.services_dir).st_mode) == 0o700
    finally:
        run.close()


def test_another_user_is_refused_even_with_an_open_socket() -> None:
    """Even where the socket's mode lets another user connect, the server checks the
    peer's uid and starts nothing for it (as root, the test connects as user nobody)."""
    assert os.geteuid() == 0, "this test needs root, to connect as another user"
    folder = Path(tempfile.mkdtemp(prefix="preload-open-", dir="/tmp"))  # nobody reaches it
    try:
        server = start_preload(folder, [MARKER])
        folder.chmod(0o777)  # opened again by hand: the server makes it 0700
        os.chmod(server.address, 0o777)
        # Another user's process speaks the protocol by hand (it cannot read the
        # harness under /root): a length, a JSON request and its stdout's descriptor.
        attacker = f"""
import json, socket, struct
request = json.dumps({{"module": {MARKER!r}, "args": [], "cwd": "/", "env": {{}}}}).encode()
sock = socket.socket(socket.AF_UNIX)
sock.connect({server.address!r})
socket.send_fds(sock, [struct.pack("!I", len(request)) + request], [1])
print(sock.recv(4096).decode())
"""
        done = subprocess.run(
            [SYSTEM_PYTHON, "-c", attacker],
            user=NOBODY,
            cwd="/",
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
        server.stop()
        assert f"user id {NOBODY} may not use the preload server" in done.stdout, done
        assert '"pid"' not in done.stdout
        assert f"refused a request from user id {NOBODY}" in server.log_path.read_text()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_a_preloaded_package_run_with_dash_m_is_not_imported_again(tmp_path: Path) -> None:
    """``-m pkg`` runs pkg.__main__; pkg itself (a backend's slow imports) stays imported."""
    package = tmp_path / "pkgsvc"
    package.mkdir()
    (package / "__init__.py").write_text("import os\nIMPORTED_IN = os.getpid()\n")
    (package / "__main__.py").write_text(
        "import json, os, pkgsvc\n"
        "print(json.dumps({'pid': os.getpid(), 'imported_in': pkgsvc.IMPORTED_IN,"
        " 'name': __name__}))\n"
    )
    server = start_preload(tmp_path, ["pkgsvc"], cwd=tmp_path)
    try:
        pid, output, code = _spawn(server, cwd=tmp_path, module="pkgsvc")
    finally:
        server.stop()
    seen = f"output: {output!r}; server log: {server.log_path.read_text()!r}"
    assert code == 0, seen
    report = json.loads(output.splitlines()[0])
    assert report["name"] == "__main__" and report["pid"] == pid, seen
    assert report["imported_in"] == server.process.pid, seen


def test_a_server_blocked_on_io_for_a_moment_is_still_used(
    server: PreloadServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server importing under load passes through uninterruptible sleep (D): that is
    not a stopped server, and its services are still forked (make bench saw this)."""
    from stackwright.support.processes import health

    monkeypatch.setattr(health, "state_letter", lambda pid: "D")
    pid, output, code = _spawn(server, "report", "0", cwd=tmp_path)
    assert code == 0 and json.loads(output.splitlines()[0])["pid"] == pid


def test_is_stopped_tells_a_stopped_process_from_a_running_one() -> None:
    from stackwright.support.processes.health import is_stopped

    with subprocess.Popen(["sleep", "30"]) as child:
        assert not is_stopped(child.pid)
        os.kill(child.pid, signal.SIGSTOP)
        deadline = time.monotonic() + 5
        while not is_stopped(child.pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert is_stopped(child.pid)
        child.kill()
