"""Fake-service configurations for the harness's tests."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from stackwright.support.config.facts import RunFacts
from stackwright.support.config.services import ServiceSpec
from stackwright.support.config.settings import HarnessConfig
from stackwright.support.processes.ports import choose_run_base
from stackwright.support.processes.preload import PreloadServer

FAKE = Path(__file__).with_name("fake_service.py")
FAKE_MODULE = "tests.harness.fake_service"
ROOT = Path(__file__).resolve().parents[2]
#: The fake stack's services, in start order.
SERVICES = ("gateway", "backend", "frontend")

#: For an inner test: the pid of a run-scoped fake service (``_run_service("s3")``), found
#: by its environment: exec'd by a controller (the run's, or ``stackwright up``'s) that
#: has this pytester run's HOME. Nothing the harness writes is trusted to name it.
FIND_RUN_SERVICE = """
import os, pathlib

def _zombie_or_gone(pid):
    try:
        return pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True

def _run_service(name):
    wanted = (f"FAKE_NAME={name}\\0".encode(), ("HOME=" + os.environ["HOME"] + "\\0").encode())
    for proc in pathlib.Path("/proc").iterdir():
        try:
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue
        if all(part in environ for part in wanted) and not _zombie_or_gone(int(proc.name)):
            return int(proc.name)
"""


@pytest.fixture(scope="session", autouse=True)
def _tests_on_pythonpath(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Processes these tests start (fake services run as ``-m tests.harness...``, inner
    pytest runs) import this checkout's ``tests`` package from any folder; nothing else
    of the checkout becomes importable (not ``support``, ``fixtures`` or ``app``: the
    harness's install maps only ``stackwright``). The folder on PYTHONPATH holds one
    package, ``tests``, whose path is the checkout's ``tests/``."""
    shim = tmp_path_factory.mktemp("pythonpath")
    (shim / "tests").mkdir()
    (shim / "tests" / "__init__.py").write_text(f"__path__ = [{str(ROOT / 'tests')!r}]\n")
    paths = [str(shim), os.environ.get("PYTHONPATH", "")]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONPATH", os.pathsep.join(path for path in paths if path))
        yield


def alive(pid: int) -> bool:
    """Whether a process runs (a zombie is as good as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):  # gone, or going while we read
        return False


def pids_in(cwd: Path, marker: bytes) -> list[int]:
    """Pids of processes working in ``cwd`` whose command line holds ``marker``."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if (
                proc.name.isdigit()
                and Path(proc, "cwd").resolve() == cwd.resolve()
                and marker in Path(proc, "cmdline").read_bytes()
            ):
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def fake_spec(
    name: str,
    mode: str = "ready",
    *,
    timeout: float = 10.0,
    command: str | None = None,
    preload: bool = False,
) -> ServiceSpec:
    program = f"-m {FAKE_MODULE}" if preload else str(FAKE)
    return ServiceSpec(
        name=name,
        command=command or f"{{python}} {program} --port {{port}} --mode {mode}",
        env=(("FAKE_NAME", name), ("FAKE_URLS", "{backend_url} {gateway_url} {frontend_url}")),
        ready=("http", "/ready"),
        timeout=timeout,
        preload=(FAKE_MODULE,) if preload else (),
    )


def start_preload(folder: Path, modules: list[str], *, cwd: Path = ROOT) -> PreloadServer:
    """A preload server with ``modules`` imported, its socket and log in ``folder``."""
    return PreloadServer.start(
        str(folder / "p.sock"),
        modules,
        cwd=str(cwd),
        env=os.environ,
        log_path=folder / "preload.log",
    )


@pytest.fixture(scope="session")
def preload_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PreloadServer]:
    """One preload server with the fake service imported, as a run would have."""
    server = start_preload(tmp_path_factory.mktemp("preload"), [FAKE_MODULE])
    yield server
    server.stop()


@pytest.fixture(params=["exec", "preload"])
def launch(request: pytest.FixtureRequest) -> str:
    """Each stack test runs twice: services started with exec, and forked by the preload server."""
    return str(request.param)


@pytest.fixture
def facts(launch: str, request: pytest.FixtureRequest) -> RunFacts:
    """What a controller would have learned: a free port range and, when the stack's
    services are forked, the preload server's address for each of them."""
    preload = launch == "preload"
    address = request.getfixturevalue("preload_server").address if preload else None
    addresses = {name: address for name in SERVICES} if address else {}
    return RunFacts(port_base=choose_run_base(64, 20), preload_addresses=addresses)


@pytest.fixture
def make_config(tmp_path: Path, launch: str) -> Callable[..., HarnessConfig]:
    preload = launch == "preload"

    def make(**modes: str | ServiceSpec) -> HarnessConfig:
        specs = []
        for name in SERVICES:
            value = modes.get(name, "ready")
            if not isinstance(value, ServiceSpec):
                value = fake_spec(name, value, preload=preload)
            specs.append(value)
        return HarnessConfig(
            root=str(tmp_path),
            output_dir=str(tmp_path / "out"),
            services=tuple(specs),
        )

    return make


def ctrl_c_reaches_it() -> None:
    """In a child about to run: SIGINT does what Ctrl-C at a terminal does, even when this
    suite runs as a background job of a script (whose children inherit SIGINT ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_up(pytester: pytest.Pytester, *args: str) -> subprocess.Popen[str]:
    """``stackwright up`` in the suite's folder, once it says its stacks are ready. It gets
    the environment pytester gives a run (PYTHONPATH included), or the run would rightly
    refuse to attach."""
    log = pytester.path / "up.log"
    with log.open("w") as out:
        process = pytester.popen(
            [sys.executable, "-m", "stackwright.support.cli", "up", "-c", "pytest.ini", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            preexec_fn=ctrl_c_reaches_it,
        )
    deadline = time.monotonic() + 60
    while "stackwright: ready in" not in log.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait()
            raise AssertionError(log.read_text())
        time.sleep(0.05)
    return process


@contextlib.contextmanager
def kept_up(pytester: pytest.Pytester, *args: str) -> Iterator[subprocess.Popen[str]]:
    """``start_up``, and Ctrl-C at the end."""
    process = start_up(pytester, *args)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        process.wait(timeout=30)


def assert_no_service_left(folder: Path) -> None:
    """After a test of kept stacks: no fake service started in ``folder`` still runs (any
    left is killed, then named)."""
    left = pids_in(folder, FAKE.name.encode())
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, "a kept service outlived its test"
