"""Start ``{python} -m module`` services by forking a process that imported them once.

A Python service spends most of its start importing its libraries (Flask and
SQLAlchemy: about 0.45 s of CPU; aiohttp: about 0.2 s; a real team's backend
seconds), and every worker of a run imports the same ones. A preload server is
one process per preloaded service and run: it imports the service's
``<name>_preload`` modules once, on the service's own interpreter (its
``{python}``, say a virtualenv of its own), in the service's working directory,
and then forks for each worker's start, so the service is ready in tens of
milliseconds and workers booting at once no longer fight over the CPU for the
same imports. The server is ``support/preload_server.py``, run as a file and
never imported (see ``BOOTSTRAP``): the service sees its own packages, not the
harness's.

Only commands of the form ``<interpreter> -m module args...`` are preloaded,
and only when the interpreter is the server's and the interpreter variables
(``PYTHON*``) match; anything else, or any trouble reaching the server, starts
with exec, and the run says why once.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stackwright.support.config.facts import RunFacts, run_values
from stackwright.support.config.services import placeholders_for
from stackwright.support.errors import ConfigError, PreloadUnavailable
from stackwright.support.processes import parent_death as pdeath
from stackwright.support.processes.groups import stop_group
from stackwright.support.processes.health import is_stopped, process_state
from stackwright.support.processes.preload_server import HEADER, interpreter_vars

if TYPE_CHECKING:
    from stackwright.support.config.services import ServiceSpec
    from stackwright.support.config.settings import HarnessConfig

#: How long a preload server gets to go after SIGTERM.
STOP_GRACE = 5.0
_MAX_SOCKET_PATH = 107  # sun_path holds 108 bytes, with the terminating NUL
_TEMP_PREFIX = "stackwright-"
SERVER_FILE = Path(__file__).with_name("preload_server.py")
#: Runs the server file on any interpreter without importing anything of the harness.
BOOTSTRAP = (
    "import sys; path = sys.argv.pop(1); "
    "exec(compile(open(path, encoding='utf-8').read(), path, 'exec'))"
)

__all__ = [
    "PreloadServer",
    "PreloadUnavailable",
    "interpreter_vars",
    "preloadable",
    "spawn",
    "start_server",
    "start_servers",
]


def preloadable(argv: Sequence[str]) -> tuple[str, list[str]] | None:
    """``(module, args)`` when ``argv`` is ``<interpreter> -m module args...`` (the server
    checks that the interpreter is its own)."""
    if len(argv) >= 3 and argv[1] == "-m":
        return argv[2], list(argv[3:])
    return None


# -- the client side: a worker asking for a service ------------------------------------


#: How long the server has to report a forked child's exit status once the child ended.
STATUS_GRACE = 1.0


def _readable(sock: socket.socket, timeout: float) -> bool:
    return bool(select.select([sock], [], [], timeout)[0])


class PreloadedChild:
    """A forked service, seen from the worker: the parts of ``subprocess.Popen`` we use."""

    def __init__(
        self, sock: socket.socket, pid: int, args: Sequence[str], received: bytes = b""
    ) -> None:
        self._sock = sock
        self.pid = pid
        self.args = list(args)
        self.returncode: int | None = None
        # Watches the process itself in case the server goes away before reporting.
        self._pidfd: int | None = None
        with contextlib.suppress(OSError):
            self._pidfd = os.pidfd_open(pid)
        # What arrived with the pid: a child that exits at once has its status here.
        self._buffer = received
        self._take_messages()

    def poll(self) -> int | None:
        self._wait(0.0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if not self._wait(timeout):
            raise subprocess.TimeoutExpired(self.args, timeout or 0.0)
        assert self.returncode is not None
        return self.returncode

    def _wait(self, timeout: float | None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.returncode is None:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            # The connection carries the exit status. The pidfd tells when the process
            # ends even if the server cannot say so: it went away, or it is stopped and
            # will not (status unknown: 1).
            fds = [fd for fd in (self._sock.fileno(), self._pidfd) if fd is not None and fd >= 0]
            if not fds:
                self._set_returncode(1)
                break
            readable, _, _ = select.select(fds, [], [], remaining)
            if not readable:
                return False
            if self._sock.fileno() in readable:
                self._read_status()
            elif self._sock.fileno() < 0 or not _readable(self._sock, STATUS_GRACE):
                self._set_returncode(1)  # it ended, and the server did not say how
        return True

    def _read_status(self) -> None:
        try:
            chunk = self._sock.recv(4096)
        except OSError:
            chunk = b""
        if not chunk:
            self._sock.close()  # the server went away: fall back on the pidfd
            return
        self._buffer += chunk
        self._take_messages()

    def _take_messages(self) -> None:
        while b"\n" in self._buffer and self.returncode is None:
            line, self._buffer = self._buffer.split(b"\n", 1)
            message = json.loads(line)
            if "exit" in message:
                self._set_returncode(int(message["exit"]))

    def _set_returncode(self, code: int) -> None:
        self.returncode = code
        self._sock.close()
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self._sock.close()
            if self._pidfd is not None:
                os.close(self._pidfd)


def spawn(
    address: str,
    argv: Sequence[str],
    *,
    cwd: str,
    env: Mapping[str, str],
    output_fd: int,
    timeout: float = 30.0,
) -> PreloadedChild:
    """Ask the server at ``address`` to start ``argv``; raise PreloadUnavailable if it cannot."""
    target = preloadable(argv)
    if target is None:
        raise PreloadUnavailable("the command is not '{python} -m module ...'")
    module, args = target
    request = json.dumps(
        {"interpreter": argv[0], "module": module, "args": args, "cwd": cwd, "env": dict(env)}
    ).encode()
    check_private_folder(address)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(address)
        server = _trusted_server(sock, address)
        payload = HEADER.pack(len(request)) + request
        sent = socket.send_fds(sock, [payload], [output_fd])
        if sent < len(payload):
            sock.sendall(payload[sent:])
        reply, rest = _read_message(sock)
    except PreloadUnavailable:
        sock.close()
        raise
    except (OSError, ValueError) as exc:
        sock.close()
        raise PreloadUnavailable(f"preload server at {address}: {exc}") from None
    if "pid" not in reply:
        sock.close()
        raise PreloadUnavailable(str(reply.get("refused", reply)))
    pid = reply["pid"]
    problem = _not_a_child_of(pid, server)
    if problem:
        sock.close()
        raise PreloadUnavailable(f"the preload server at {address} answered pid {pid}: {problem}")
    sock.settimeout(None)
    return PreloadedChild(sock, pid, argv, rest)


def check_private_folder(address: str) -> None:
    """The socket's folder must be a real folder of this user that no one else may enter:
    another user who could rename or replace the socket would be sent each service's
    environment (its secrets) and a log file descriptor, and be trusted with a pid."""
    folder = os.path.dirname(address) or "."
    try:
        info = os.lstat(folder)
    except OSError as exc:
        raise PreloadUnavailable(f"preload server folder {folder}: {exc.strerror}") from None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o077:
        raise PreloadUnavailable(
            f"the preload server's folder {folder} is not a private folder of this user "
            f"(owner uid {info.st_uid}, mode {stat.S_IMODE(info.st_mode):o}; it must be this "
            f"user's, uid {os.geteuid()}, mode 700); refusing to send it anything"
        )


def _trusted_server(sock: socket.socket, address: str) -> int:
    """The server's pid, once it proves to run as this user and not to be stopped."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
    pid, uid, _gid = _PEERCRED.unpack(raw)
    if uid != os.geteuid():
        raise PreloadUnavailable(
            f"the preload server at {address} runs as uid {uid}, not as this user "
            f"(uid {os.geteuid()}); refusing to send it anything"
        )
    if is_stopped(pid):  # it would take the request and never answer
        state = process_state(pid)
        raise PreloadUnavailable(f"the preload server at {address} (pid {pid}) is {state}")
    return pid


def _not_a_child_of(pid: object, server: int) -> str | None:
    """Why ``pid`` is not a process the server forked for this user (None: it is, or it
    has already gone, which harms no one)."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 1:
        return "not a process id"
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    parent = int(fields.get("PPid", "0").strip() or 0)
    uid = int(fields.get("Uid", "-1").split()[0])
    if parent != server or uid != os.geteuid():
        return f"its parent is {parent} and its uid {uid}, not the server's child of this user"
    return None


_PEERCRED = struct.Struct("3i")


def _read_message(sock: socket.socket) -> tuple[dict[str, Any], bytes]:
    """The first JSON line from the server, and whatever came after it."""
    data = b""
    while b"\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise ValueError("closed the connection without answering")
        data += chunk
    line, rest = data.split(b"\n", 1)
    return dict(json.loads(line)), rest


# -- the controller side: one server per preloaded service ------------------------------


@dataclass
class PreloadServer:
    """The running server process, as the controller (or the benchmark) holds it."""

    address: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @classmethod
    def start(
        cls,
        address: str,
        modules: Sequence[str],
        *,
        cwd: str,
        env: Mapping[str, str],
        log_path: Path,
        timeout: float = 10.0,
        interpreter: str | None = None,
    ) -> PreloadServer:
        """Start the server and wait until it listens (its imports go on in the background:
        requests wait for them in the socket's backlog)."""
        log_path.parent.mkdir(parents=True, exist_ok=True)
        private_folder(Path(address).parent)  # its clients refuse any other
        with contextlib.suppress(FileNotFoundError):
            os.unlink(address)
        with log_path.open("ab") as log:
            process = pdeath.popen(
                [
                    interpreter or sys.executable,
                    "-c",
                    BOOTSTRAP,
                    str(SERVER_FILE),
                    address,
                    *modules,
                ],
                cwd=cwd,
                env={**env, "PYTHONUNBUFFERED": "1"},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while not os.path.exists(address):
            if process.poll() is not None or time.monotonic() > deadline:
                code = process.poll()
                process.kill()
                process.wait()
                what = f"did not listen within {timeout:g} s" if code is None else _exited(code)
                raise PreloadUnavailable(f"preload server {what}; see {log_path}")
            time.sleep(0.002)
        return cls(address, process, log_path)

    @classmethod
    def for_service(
        cls,
        config: HarnessConfig,
        spec: ServiceSpec,
        argv: Sequence[str],
        env: Mapping[str, str],
    ) -> PreloadServer:
        """The server of one service: its interpreter, working directory and ``PYTHON*``
        variables, importing its ``<name>_preload`` modules.

        ``argv`` is the service's command as the run can render it, and ``env`` the
        environment its workers give it. The socket sits beside the run's other files,
        where the next run clears it even after a ``kill -9``. A Unix socket path is
        limited to 108 bytes, so a deeper output folder gets a short temporary folder.
        Raises PreloadUnavailable when the service cannot be preloaded.
        """
        if preloadable(argv) is None:
            raise PreloadUnavailable(f"its command is not '{{python}} -m module ...': {argv[0]}")
        cwd = os.path.join(config.root, spec.cwd)
        if not os.path.isdir(cwd):
            raise PreloadUnavailable(f"its working directory {cwd} does not exist")
        address, folder = socket_address(config.services_dir / "preload" / f"{spec.name}.sock")
        try:
            return cls.start(
                address,
                spec.preload,
                cwd=cwd,
                env=env,
                log_path=config.services_dir / f"preload-{spec.name}.log",
                interpreter=argv[0],
            )
        except BaseException:
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
            raise

    def project_files(self) -> list[str]:
        """The project's files among the modules the server imported (none until it has)."""
        try:
            files = json.loads(Path(f"{self.address}.modules").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        return [str(path) for path in files] if isinstance(files, list) else []

    def failure(self) -> str | None:
        """Why the server stopped on its own (say, a preload import failed); None if it did not."""
        code = self.process.poll()
        if code is None or code == 0:
            return None
        return f"preload server {_exited(code)}; see {self.log_path}"

    def stop(self) -> None:
        stop_group(self.process, STOP_GRACE)
        for path in (self.address, f"{self.address}.modules"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        remove_socket_folder(self.address)


def socket_address(preferred: Path) -> tuple[str, str | None]:
    """(``preferred``, None), or, when it is longer than a Unix socket path may be (108
    bytes), the same name in a new private temporary folder, and that folder."""
    if len(str(preferred).encode()) <= _MAX_SOCKET_PATH:
        return str(preferred), None
    folder = tempfile.mkdtemp(prefix=_TEMP_PREFIX)  # mode 0700
    return os.path.join(folder, preferred.name), folder


def remove_socket_folder(address: str) -> None:
    """Remove the temporary folder ``socket_address`` made for ``address``, if it did."""
    folder = os.path.dirname(address)
    if os.path.basename(folder).startswith(_TEMP_PREFIX):
        shutil.rmtree(folder, ignore_errors=True)


def private_folder(folder: Path) -> Path:
    """``folder`` (and its parents) made, then 0700 whatever the umask: only this user
    may enter it. A folder that is a link, or another user's, is refused."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not folder.is_symlink() and folder.stat().st_uid == os.geteuid():
        folder.chmod(0o700)
    check_private_folder(str(folder / "x"))
    return folder


def start_servers(
    config: HarnessConfig, env: Mapping[str, str]
) -> tuple[dict[str, PreloadServer], dict[str, str]]:
    """One server per worker service with ``<name>_preload`` modules (when preloading is
    on), and why each service that asked for one cannot have it."""
    servers: dict[str, PreloadServer] = {}
    reasons: dict[str, str] = {}
    wanted = [spec for spec in config.scoped("worker") if spec.preload]
    for spec in wanted if config.preload else ():
        try:
            servers[spec.name] = start_server(config, spec, env)
        except PreloadUnavailable as exc:
            reasons[spec.name] = str(exc)
    return servers, reasons


def start_server(config: HarnessConfig, spec: ServiceSpec, env: Mapping[str, str]) -> PreloadServer:
    """The preload server of one service; PreloadUnavailable when it cannot have one."""
    argv, server_env = _preload_view(config, spec, env)
    return PreloadServer.for_service(config, spec, argv, server_env)


def _preload_view(
    config: HarnessConfig, spec: ServiceSpec, base_env: Mapping[str, str]
) -> tuple[list[str], dict[str, str]]:
    """The service's command and interpreter environment as the controller can know them:
    per-worker placeholders stand in as ``<name>``, which must not reach a PYTHON* variable
    or the interpreter (those shape the imports every worker shares)."""
    stand_ins = {name: f"<{name}>" for name in placeholders_for(spec, config.services)}
    del stand_ins["python"]  # the service's own interpreter, filled in by render
    values = {**stand_ins, **run_values(config, RunFacts())}  # run URLs stay stand-ins
    try:
        argv = spec.render(values, base_env)
        extra = spec.render_env(values, base_env)
    except ConfigError as exc:
        raise PreloadUnavailable(str(exc)) from None
    python_vars = {key: value for key, value in extra.items() if key.startswith("PYTHON")}
    if "<" in argv[0] or any("<" in value for value in python_vars.values()):
        raise PreloadUnavailable("its interpreter or PYTHON* variables differ per worker")
    return argv, {**base_env, **python_vars}


def _exited(code: int) -> str:
    return f"exited with code {code}"
