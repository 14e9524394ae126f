"""Start ``{python} -m module`` services by forking a process that imported them once.

A Python service spends most of its start importing its libraries (Flask and
SQLAlchemy: about 0.45 s of CPU; aiohttp: about 0.2 s), and every worker of a
run imports the same ones. The preload server is one process per run that
imports a service's modules once and then forks for each start, so a backend
is ready in tens of milliseconds and two workers booting at once no longer
fight over the CPU for the same imports.

A forked service is an ordinary process of its own: a new session (so the
harness stops its process group as usual), stdout and stderr on the pipe the
worker drains, stdin on /dev/null, the requested working directory,
environment and ``sys.argv``, then ``runpy`` runs the module as ``__main__``
exactly as ``python -m`` does, with a normal interpreter exit. It dies with the
worker that asked for it (a pidfd of the worker, taken from the socket's peer
credentials, stands in for the parent-death signal), and its exit status goes
back to that worker over the same connection.

Only commands of the form ``{python} -m module args...`` can be preloaded, and
only when their interpreter variables (``PYTHON*``) match the server's; any
other command, or any trouble reaching the server, starts with exec as before.

The server runs as ``python -c 'from support.preload import main; ...' SOCKET MODULE...``
(see ``PreloadServer.start``).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import importlib
import json
import os
import runpy
import select
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .pdeath import die_with_parent

if TYPE_CHECKING:
    from .config import HarnessConfig

#: Interpreter variables a forked child applies itself; every other PYTHON* variable
#: (PYTHONPATH, PYTHONHASHSEED, ...) shaped the server's imports, so it must match.
#: The server runs unbuffered, which a child without PYTHONUNBUFFERED only gains from.
_IGNORED_PYTHON_VARS = {"PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE"}
_HEADER = struct.Struct("!I")
_MAX_REQUEST = 4 * 1024 * 1024
_MAX_SOCKET_PATH = 107  # sun_path holds 108 bytes, with the terminating NUL
_TEMP_PREFIX = "stackwright-"
_PR_SET_NAME = 15
_SERVER_MAIN = "import sys; from support.preload import main; sys.exit(main(sys.argv[1:]))"


class PreloadUnavailable(Exception):
    """The preload server cannot start this command; the caller starts it with exec."""


def preloadable(argv: Sequence[str]) -> tuple[str, list[str]] | None:
    """``(module, args)`` when ``argv`` is ``<this python> -m module args...``."""
    if len(argv) >= 3 and argv[1] == "-m" and _same_file(argv[0], sys.executable):
        return argv[2], list(argv[3:])
    return None


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def interpreter_vars(env: Mapping[str, str]) -> dict[str, str]:
    return {
        key: value
        for key, value in env.items()
        if key.startswith("PYTHON") and key not in _IGNORED_PYTHON_VARS
    }


# -- the client side: a worker asking for a service ------------------------------------


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
            # The connection carries the exit status; if the server went away
            # first, the pidfd still tells when the process ends (status unknown: 1).
            fd = self._sock.fileno() if self._sock.fileno() >= 0 else self._pidfd
            if fd is None:
                self._set_returncode(1)
                break
            readable, _, _ = select.select([fd], [], [], remaining)
            if not readable:
                return False
            if fd == self._pidfd:
                self._set_returncode(1)
            else:
                self._read_status()
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
    request = json.dumps({"module": module, "args": args, "cwd": cwd, "env": dict(env)}).encode()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(address)
        payload = _HEADER.pack(len(request)) + request
        sent = socket.send_fds(sock, [payload], [output_fd])
        if sent < len(payload):
            sock.sendall(payload[sent:])
        reply, rest = _read_message(sock)
    except (OSError, ValueError) as exc:
        sock.close()
        raise PreloadUnavailable(f"preload server at {address}: {exc}") from None
    if "pid" not in reply:
        sock.close()
        raise PreloadUnavailable(str(reply.get("refused", reply)))
    sock.settimeout(None)
    return PreloadedChild(sock, int(reply["pid"]), argv, rest)


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


# -- the controller side: one server per run -------------------------------------------


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
    ) -> PreloadServer:
        """Start the server and wait until it listens (its imports go on in the background:
        requests wait for them in the socket's backlog)."""
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(address)
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-c", _SERVER_MAIN, address, *modules],
                cwd=cwd,
                env={**env, "PYTHONUNBUFFERED": "1"},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent,
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
    def for_run(cls, config: HarnessConfig, env: Mapping[str, str]) -> PreloadServer | None:
        """The run's server for every service's ``*_preload`` modules; None when there are none.

        The socket sits beside the run's other files, where the next run clears
        it even after a ``kill -9``. A Unix socket path is limited to 108 bytes,
        so a deeper output folder gets a short temporary folder instead.
        """
        modules = config.preload_modules
        if not modules:
            return None
        private = config.services_dir / "preload"
        address, folder = str(private / "preload.sock"), None
        if len(address.encode()) > _MAX_SOCKET_PATH:
            folder = tempfile.mkdtemp(prefix=_TEMP_PREFIX)  # mode 0700
            address = os.path.join(folder, "preload.sock")
        else:
            private.mkdir(parents=True, exist_ok=True)
            private.chmod(0o700)  # whatever the umask: only this user reaches the socket
        try:
            return cls.start(
                address,
                modules,
                cwd=config.root,
                env=env,
                log_path=config.services_dir / "preload.log",
            )
        except BaseException:
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
            raise

    def failure(self) -> str | None:
        """Why the server stopped on its own (say, a preload import failed); None if it did not."""
        code = self.process.poll()
        if code is None or code == 0:
            return None
        return f"preload server {_exited(code)}; see {self.log_path}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.address)
        folder = os.path.dirname(self.address)
        if os.path.basename(folder).startswith(_TEMP_PREFIX):
            shutil.rmtree(folder, ignore_errors=True)


def _exited(code: int) -> str:
    return f"exited with code {code}"


# -- the server process ------------------------------------------------------------------


@dataclass
class _Start:
    """What a forked child runs once the server's frames are gone."""

    module: str
    args: list[str]


class _Server:
    def __init__(self, address: str) -> None:
        self.address = address
        self.owner = os.getpid()
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # Only this user may connect, whatever the umask: a connection runs code.
        previous = os.umask(0o177)
        try:
            self.listener.bind(address)
        finally:
            os.umask(previous)
        self.listener.listen(64)
        self.wakeup_r, self.wakeup_w = os.pipe()
        os.set_blocking(self.wakeup_w, False)
        self.selector = selectors.DefaultSelector()
        self.children: dict[int, socket.socket] = {}
        self.stopping = False
        self.interpreter = interpreter_vars(os.environ)

    def run(self) -> _Start | None:
        """Serve until SIGTERM; in a forked child, return what it must run."""
        signal.set_wakeup_fd(self.wakeup_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        self.selector.register(self.listener, selectors.EVENT_READ)
        self.selector.register(self.wakeup_r, selectors.EVENT_READ)
        while not self.stopping:
            for key, _ in self.selector.select():
                if key.fileobj is self.listener:
                    start = self._accept()
                    if start is not None:
                        return start
                else:
                    with contextlib.suppress(BlockingIOError):
                        os.read(self.wakeup_r, 512)
                    self._reap()
        return None

    def _stop(self, *_: Any) -> None:
        self.stopping = True

    def _accept(self) -> _Start | None:
        conn, _ = self.listener.accept()
        try:
            request, fds = self._receive(conn)
        except (OSError, ValueError) as exc:
            print(f"preload: bad request: {exc}", flush=True)
            conn.close()
            return None
        try:
            return self._fork(conn, fds[0], request)
        except Exception as exc:  # one bad request or failed fork never stops the server
            print(f"preload: cannot start {request.get('module')!r}: {exc!r}", flush=True)
            with contextlib.suppress(OSError):
                refusal = {"refused": f"the preload server could not start it: {exc!r}"}
                conn.sendall(json.dumps(refusal).encode() + b"\n")
            conn.close()
            return None
        finally:
            if os.getpid() == self.owner:
                for fd in fds:
                    os.close(fd)

    def _fork(self, conn: socket.socket, output: int, request: Mapping[str, Any]) -> _Start | None:
        worker_pid, uid, _gid = _peer_credentials(conn)
        refused = self._refusal(request, uid)
        if refused:
            conn.sendall(json.dumps({"refused": refused}).encode() + b"\n")
            conn.close()
            return None
        try:
            worker = os.pidfd_open(worker_pid)
        except ProcessLookupError:  # the worker is already gone
            conn.close()
            return None
        sys.stdout.flush()
        try:
            pid = os.fork()
        except OSError:
            os.close(worker)
            raise
        if pid == 0:
            try:
                return self._become_child(conn, output, worker, request)
            except BaseException:  # never fall back into the server's loop
                traceback.print_exc()
                os._exit(127)
        os.close(worker)
        self.children[pid] = conn
        conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
        return None

    @staticmethod
    def _receive(conn: socket.socket) -> tuple[dict[str, Any], list[int]]:
        conn.settimeout(10)
        data, fds, _flags, _addr = socket.recv_fds(conn, 65536, 1)
        if len(data) < _HEADER.size or len(fds) != 1:
            for fd in fds:
                os.close(fd)
            raise ValueError("expected a length, a JSON request and one file descriptor")
        try:
            (length,) = _HEADER.unpack_from(data)
            if length > _MAX_REQUEST:
                raise ValueError(f"request of {length} bytes is too large")
            body = data[_HEADER.size :]
            while len(body) < length:
                chunk = conn.recv(min(65536, length - len(body)))
                if not chunk:
                    raise ValueError("request cut short")
                body += chunk
            conn.settimeout(None)
            request = json.loads(body)
            if not isinstance(request, dict):
                raise ValueError("the request is not a JSON object")
        except BaseException:
            os.close(fds[0])
            raise
        return request, fds

    def _refusal(self, request: Mapping[str, Any], uid: int) -> str | None:
        if uid != os.getuid():
            print(f"preload: refused a request from user id {uid}", flush=True)
            return f"user id {uid} may not use the preload server of user id {os.getuid()}"
        wanted, have = interpreter_vars(request["env"]), self.interpreter
        differ = sorted(
            key for key in wanted.keys() | have.keys() if wanted.get(key) != have.get(key)
        )
        if differ:
            return "interpreter variables differ from the preload server's: " + ", ".join(differ)
        if not os.path.isdir(request["cwd"]):
            return f"working directory {request['cwd']} does not exist"
        return None

    def _reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            conn = self.children.pop(pid, None)
            if conn is not None:
                with contextlib.suppress(OSError):
                    code = os.waitstatus_to_exitcode(status)
                    conn.sendall(json.dumps({"exit": code}).encode() + b"\n")
                conn.close()

    def _become_child(
        self, conn: socket.socket, output: int, worker: int, request: Mapping[str, Any]
    ) -> _Start:
        """In the forked child: drop the server's state and set up the service's process."""
        os.setsid()
        _set_process_name(request["module"])
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        self.selector.close()
        self.listener.close()
        conn.close()
        for child_conn in self.children.values():
            child_conn.close()
        os.close(self.wakeup_r)
        os.close(self.wakeup_w)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(output, 1)
        os.dup2(output, 2)
        os.close(devnull)
        os.close(output)
        threading.Thread(target=_die_with, args=(worker,), daemon=True).start()
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.dont_write_bytecode = bool(os.environ.get("PYTHONDONTWRITEBYTECODE"))
        sys.path[0] = os.getcwd()  # what `python -m` puts first
        return _Start(request["module"], list(request["args"]))


def _peer_credentials(conn: socket.socket) -> tuple[int, int, int]:
    """(pid, uid, gid) of the process at the other end of a Unix socket."""
    pid, uid, gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
    return pid, uid, gid


def _set_process_name(name: str) -> None:
    """Name the child after its module in ps -o comm and top (its cmdline stays the server's)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_NAME, name.encode()[:15], 0, 0, 0)


def _die_with(pidfd: int) -> None:  # pragma: no cover - runs in forked children
    """The parent-death signal, for a process whose parent is not the worker."""
    select.select([pidfd], [], [])
    os.killpg(os.getpid(), signal.SIGKILL)


def main(argv: Sequence[str]) -> int:
    if len(argv) < 1:
        print("usage: main([SOCKET, MODULE...])", file=sys.stderr)
        return 2
    address, modules = argv[0], argv[1:]
    server = _Server(address)  # listen first: early requests wait in the backlog
    started = time.perf_counter()
    for module in modules:
        try:
            importlib.import_module(module)
        except BaseException as exc:  # reported, then the server stops
            print(f"preload: importing {module} failed: {exc!r}; stopping", flush=True)
            os.unlink(address)
            return 3
    gc.freeze()  # keep the imported objects out of later collections (and shared pages)
    print(
        f"preload: imported {', '.join(modules)} in {time.perf_counter() - started:.2f}s; "
        f"serving {address}",
        flush=True,
    )
    start = server.run()
    if start is None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(address)
        return 0
    sys.argv = [start.module, *start.args]
    # As under `python -m`, the module runs as __main__, apart from any imported copy.
    sys.modules.pop(start.module, None)
    runpy.run_module(start.module, run_name="__main__", alter_sys=True)
    return 0
