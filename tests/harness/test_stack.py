"""A worker's stack with fake services run as real processes."""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from stackwright.support.config.facts import RunFacts
from stackwright.support.config.services import ServiceSpec
from stackwright.support.config.settings import HarnessConfig
from stackwright.support.errors import (
    CommandNotFound,
    ExitedBeforeReady,
    HarnessError,
    NodeModulesMissing,
    ReadinessRejected,
    ReadinessTimeout,
    ServiceDown,
    WorkingDirectoryMissing,
)
from stackwright.support.processes.health import process_state
from stackwright.support.processes.ports import PortsExhausted
from stackwright.support.processes.process import ServiceProcess
from stackwright.support.processes.stack import Stack
from stackwright.support.readiness import http_status

from .conftest import FAKE, alive, fake_spec

MakeConfig = Callable[..., HarnessConfig]


def test_stack_starts_all_three_with_every_url_known(
    make_config: MakeConfig, facts: RunFacts, launch: str
) -> None:
    env = {name: os.environ[name] for name in ("PATH", "PYTHONPATH")}  # nothing else
    stack = Stack(make_config(), facts, worker="gw3", worker_index=3, base_env=env)
    with stack:
        for name in ("backend", "gateway", "frontend"):
            assert http_status(stack.urls[name] + "/ready") == 200
        assert set(stack.report.services) == {"backend", "gateway", "frontend"}
        expected = set(stack.report.services) if launch == "preload" else set()
        assert stack.report.preloaded == expected
        assert stack.report.total >= max(stack.report.services.values()) - 0.05
        ports = [int(url.rsplit(":", 1)[1]) for url in stack.urls.values()]
        assert all(stack.ports.first <= port < stack.ports.first + 20 for port in ports)
        pids = [p.pid for p in stack.processes.values()]
    backend_log = stack.log_paths["backend"].read_text()
    assert "backend starting" in backend_log
    # each service saw every URL, so all were chosen before anything started
    urls = " ".join(stack.url(name) for name in ("backend", "gateway", "frontend"))
    assert f"FAKE_URLS={urls}" in backend_log
    assert not any(alive(pid) for pid in pids if pid)


def test_environment_of_the_worker_is_not_touched(make_config: MakeConfig, facts: RunFacts) -> None:
    before = dict(os.environ)
    with Stack(make_config(), facts, worker="gw0"):
        pass
    assert dict(os.environ) == before


def test_exit_before_ready_reports_code_and_log_tail(
    make_config: MakeConfig, facts: RunFacts
) -> None:
    stack = Stack(make_config(gateway="exit"), facts, worker="gw1", worker_index=1)
    with pytest.raises(ExitedBeforeReady) as info:
        stack.start()
    error = info.value
    assert (error.service, error.worker, error.exit_code) == ("gateway", "gw1", 3)
    text = str(error)
    assert "gateway (gw1) exited with code 3 before it was ready (waiting for a 2xx" in text
    assert "fatal: configuration is broken" in text
    assert f"Log: {stack.log_paths['gateway']}" in text
    assert "Command: " in text and "fake_service" in text
    assert "Try: " in text
    assert stack.processes == {}  # the services that had started were stopped


def test_readiness_timeout_names_url_limit_and_last_answer(
    make_config: MakeConfig, facts: RunFacts
) -> None:
    config = make_config(frontend=fake_spec("frontend", "hang", timeout=0.5))
    stack = Stack(config, facts, worker="gw0")
    with pytest.raises(ReadinessTimeout) as info:
        stack.start()
    error = info.value
    assert error.timeout == 0.5
    assert error.last_status == "HTTP 503"
    text = str(error)
    assert "was not ready within 0.5 s: no 2xx from GET http://127.0.0.1:" in text
    assert "the process is still running" in text
    assert "raise frontend_timeout in playwright.ini (or --service-timeout)" in text
    assert error.pid is not None and not alive(error.pid)


def test_a_megabyte_before_ready_does_not_block(make_config: MakeConfig, facts: RunFacts) -> None:
    with Stack(make_config(backend="spew"), facts, worker="gw0") as stack:
        assert http_status(stack.url("backend") + "/ready") == 200
    assert stack.log_paths["backend"].stat().st_size > 1024 * 1024


def test_sigterm_ignored_means_sigkill_after_grace(tmp_path: Path) -> None:
    port = _free_port()
    process = ServiceProcess(
        "backend",
        [sys.executable, str(FAKE), "--port", str(port), "--mode", "ignore-sigterm"],
        log_path=tmp_path / "backend.log",
    ).start()
    deadline = time.monotonic() + 10
    while http_status(f"http://127.0.0.1:{port}/") != 200 and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    code = process.stop(grace=0.3)
    assert code == -9
    assert time.monotonic() - started < 3
    assert process.stop() == -9  # idempotent


def test_command_not_found(make_config: MakeConfig, facts: RunFacts) -> None:
    config = make_config(backend=fake_spec("backend", command="no-such-binary-xyz --port {port}"))
    with pytest.raises(CommandNotFound) as info:
        Stack(config, facts, worker="gw2").start()
    assert info.value.worker == "gw2"
    assert "'no-such-binary-xyz' was not found" in str(info.value)


def test_command_not_executable(make_config: MakeConfig, facts: RunFacts, tmp_path: Path) -> None:
    script = tmp_path / "not-executable.sh"
    script.write_text("#!/bin/sh\n")
    config = make_config(gateway=fake_spec("gateway", command=f"{script} --port {{port}}"))
    with pytest.raises(CommandNotFound) as info:
        Stack(config, facts, worker="gw1").start()
    assert "is not executable" in str(info.value)
    assert "chmod +x" in str(info.value)


def test_node_modules_missing(make_config: MakeConfig, facts: RunFacts, tmp_path: Path) -> None:
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "package.json").write_text("{}")
    spec = fake_spec("frontend")
    config = make_config(frontend=type(spec)(**{**spec.__dict__, "cwd": "web"}))
    with pytest.raises(NodeModulesMissing) as info:
        Stack(config, facts, worker="gw0").start()
    assert "node_modules does not exist" in str(info.value)
    assert "npm ci" in str(info.value)


def test_a_port_lost_to_another_process_is_retried(
    make_config: MakeConfig, facts: RunFacts, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = Stack(make_config(), facts, worker="gw0")
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    stolen = holder.getsockname()[1]
    real_take = stack.ports.take
    handed = iter([stolen])

    def take_stolen_first() -> int:
        return next(handed, None) or real_take()

    monkeypatch.setattr(stack.ports, "take", take_stolen_first)
    try:
        with stack:
            assert stack.report.attempts == 2
            assert stolen not in [int(url.rsplit(":", 1)[1]) for url in stack.urls.values()]
    finally:
        holder.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_killed_service_is_found_and_the_restart_keeps_the_ports(
    make_config: MakeConfig,
    facts: RunFacts,
) -> None:
    with Stack(make_config(), facts, worker="gw1", worker_index=1) as stack:
        assert stack.health() is None
        urls = dict(stack.urls)
        os.kill(stack.processes["backend"].pid or 0, signal.SIGKILL)
        stack.processes["backend"].popen.wait(5)  # type: ignore[union-attr]
        down = stack.health()
        assert isinstance(down, ServiceDown)
        assert (down.service, down.worker, down.exit_code) == ("backend", "gw1", -9)
        text = str(down)
        assert text.startswith("backend (gw1) was killed by SIGKILL (exit code -9)")
        assert "backend listening" in text  # its log tail
        assert "restarts its stack" in text
        stack.restart()
        assert stack.urls == urls
        assert stack.health() is None
        assert http_status(stack.url("backend") + "/ready") == 200


def test_a_stopped_service_is_found_at_once(make_config: MakeConfig, facts: RunFacts) -> None:
    with Stack(make_config(), facts, worker="gw0") as stack:
        pid = stack.processes["gateway"].pid or 0
        os.kill(pid, signal.SIGSTOP)
        while process_state(pid) is None:  # the signal is delivered asynchronously
            time.sleep(0.001)
        down = stack.health()  # from /proc, without waiting on the readiness URL
        assert isinstance(down, ServiceDown) and down.service == "gateway"
        assert f"stopped answering: the process (pid {pid}) is stopped (SIGSTOP)" in str(down)
        stack.stop()  # SIGTERM reaches a stopped process too
        assert not alive(pid)


def test_a_service_blocked_on_io_for_a_moment_is_not_down(
    make_config: MakeConfig, facts: RunFacts, monkeypatch: pytest.MonkeyPatch
) -> None:
    """State D (a large write, a page fault on a loaded machine) passes; a process that
    stays blocked fails its readiness check, which a failed test asks for."""
    from stackwright.support.processes import health

    with Stack(make_config(), facts, worker="gw0") as stack:
        monkeypatch.setattr(health, "state_letter", lambda pid: "D")
        assert stack.health(ask=False) is None
        assert stack.health(ask=True) is None  # it answers: it was only a moment
        monkeypatch.setattr(health, "state_letter", lambda pid: "Z")
        down = stack.health(ask=False)
        assert isinstance(down, ServiceDown) and "is a zombie (it exited)" in str(down)


def test_a_service_that_stops_answering_is_named(make_config: MakeConfig, facts: RunFacts) -> None:
    with Stack(make_config(), facts, worker="gw0") as stack:
        # the process runs, but nothing answers where its readiness URL points
        stack.urls["frontend"] = "http://127.0.0.1:9"
        down = stack.health(timeout=0.5)
        assert isinstance(down, ServiceDown) and down.service == "frontend"
        assert "GET http://127.0.0.1:9/ready gave connection refused (limit 0.5 s)" in str(down)
        assert "is still running" in str(down)


def test_a_missing_working_directory_is_named(make_config: MakeConfig, facts: RunFacts) -> None:
    spec = fake_spec("frontend")
    config = make_config(frontend=type(spec)(**{**spec.__dict__, "cwd": "no/such/dir"}))
    with pytest.raises(WorkingDirectoryMissing) as info:
        Stack(config, facts, worker="gw0").start()
    text = str(info.value)
    assert "frontend (gw0) cannot start: its working directory" in text
    assert "no/such/dir does not exist" in text and "frontend_cwd" in text


def test_exhausted_ports_are_one_clear_error(make_config: MakeConfig, facts: RunFacts) -> None:
    stack = Stack(make_config(), facts, worker="gw0")
    held = []
    try:
        for port in stack.ports.ports():
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
                sock.listen()
            except OSError:
                sock.close()
                continue
            held.append(sock)
        with pytest.raises(PortsExhausted) as info:
            stack.start()
    finally:
        for sock in held:
            sock.close()
    assert isinstance(info.value, HarnessError)
    assert str(info.value).startswith("the stack of gw0 cannot start: no free port left in block")


def test_a_readiness_path_that_keeps_answering_404_fails_in_seconds(
    make_config: MakeConfig,
    facts: RunFacts,
) -> None:
    config = make_config(backend=fake_spec("backend", "notfound", timeout=60))
    stack = Stack(config, facts, worker="gw0")
    with pytest.raises(ReadinessRejected) as info:  # not a ReadinessTimeout after 60 s
        stack.start()
    error = info.value
    assert (error.status, error.service) == (404, "backend")
    text = str(error)
    assert "answered HTTP 404 to GET http://127.0.0.1:" in text and "/ready for 3." in text
    assert "set backend_ready in playwright.ini to 'http PATH'" in text
    # the tail shows what the service said, not the probe's own requests
    assert "backend listening" in text and "backend starting on port" in text
    assert '"GET /ready HTTP/1.1" 404' not in text
    assert "lines of readiness-probe requests left out]" in text


#: A readiness command: it exits 0 once the service's port takes a connection (the
#: command runs in the service's folder, with its environment: CHECK_PORT={port}).
PORT_CHECK = (
    f'{sys.executable} -c "import os, socket; '
    "socket.create_connection(('127.0.0.1', int(os.environ['CHECK_PORT'])), 1)\""
)


def _with_ready(spec: ServiceSpec, ready: tuple[str, str]) -> ServiceSpec:
    return replace(spec, ready=ready, env=(*spec.env, ("CHECK_PORT", "{port}")))


def test_cmd_readiness_waits_for_a_command_that_exits_0(
    make_config: MakeConfig, facts: RunFacts
) -> None:
    backend = _with_ready(fake_spec("backend"), ("cmd", PORT_CHECK))
    with Stack(make_config(backend=backend), facts, worker="gw0") as stack:
        assert "backend" in stack.report.services
        assert http_status(stack.url("backend") + "/ready") == 200
        assert stack.health(ask=True) is None  # asked again: the command still exits 0


def test_a_readiness_command_gets_its_placeholders_filled(
    make_config: MakeConfig, facts: RunFacts
) -> None:
    """``{port}`` in a readiness command was passed on as written: the command failed
    until the start timed out."""
    check = (
        '{python} -c "import socket, sys; '
        "socket.create_connection(('127.0.0.1', int(sys.argv[1])), 1)\" {port}"
    )
    backend = replace(fake_spec("backend", timeout=5), ready=("cmd", check))
    with Stack(make_config(backend=backend), facts, worker="gw0") as stack:
        assert "backend" in stack.report.services
        assert stack.health(ask=True) is None


def test_cmd_readiness_that_never_passes_names_the_command_and_its_exit(
    make_config: MakeConfig,
    facts: RunFacts,
) -> None:
    backend = replace(fake_spec("backend", timeout=0.5), ready=("cmd", "false"))
    with pytest.raises(ReadinessTimeout) as info:
        Stack(make_config(backend=backend), facts, worker="gw0").start()
    text = str(info.value)
    assert "was not ready within 0.5 s: no exit code 0 from the command 'false'" in text
    assert "(last: it exited with code 1)" in text
