"""The preload server process: imports a service's modules once, then forks per start.

This file runs on the *service's* interpreter, in the service's working
directory, as ``python -c BOOTSTRAP this-file SOCKET MODULE...`` (see
``stackwright.support.processes.preload``): it is read and executed, never
imported, so nothing of the harness is importable in a forked service and a
team's own ``app`` package is the one it gets. Standard library only; Python 3.9 or newer.

A forked child becomes an ordinary process: a new session, stdout and stderr on
the file descriptor the worker sent, stdin on /dev/null, the requested working
directory, environment and ``sys.argv``; then ``runpy`` runs the module as
``__main__`` exactly as ``python -m`` does. It dies with the worker that asked
for it (a pidfd of the worker, from the socket's peer credentials), and its exit
status goes back over the same connection.
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
import signal
import socket
import struct
import sys
import threading
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: Interpreter variables a forked child applies itself; every other PYTHON* variable
#: (PYTHONPATH, PYTHONHASHSEED, ...) shaped the server's imports, so it must match.
#: The server runs unbuffered, which a child without PYTHONUNBUFFERED only gains from.
IGNORED_PYTHON_VARS = {"PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE"}
HEADER = struct.Struct("!I")
MAX_REQUEST = 4 * 1024 * 1024
_PR_SET_NAME = 15


def interpreter_vars(env: Mapping[str, str]) -> dict[str, str]:
    return {
        key: value
        for key, value in env.items()
        if key.startswith("PYTHON") and key not in IGNORED_PYTHON_VARS
    }


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
        # Bound under a temporary name (as long as the address: it fits where the address
        # does) and renamed once listening: the client waits for the address to exist,
        # and a connect between bind and listen is refused.
        binding = address[:-1] + ("~" if not address.endswith("~") else "_")
        previous = os.umask(0o177)
        try:
            self.listener.bind(binding)
        finally:
            os.umask(previous)
        self.listener.listen(64)
        os.replace(binding, address)
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
        # A stop may come as soon as the worker has the pid: held until the child has
        # the default handlers (not the server's), then acted on.
        held = signal.pthread_sigmask(signal.SIG_BLOCK, _STOPS)
        try:
            pid = os.fork()
        except OSError:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
            os.close(worker)
            raise
        if pid != 0:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
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
        if len(data) < HEADER.size or len(fds) != 1:
            for fd in fds:
                os.close(fd)
            raise ValueError("expected a length, a JSON request and one file descriptor")
        try:
            (length,) = HEADER.unpack_from(data)
            if length > MAX_REQUEST:
                raise ValueError(f"request of {length} bytes is too large")
            body = data[HEADER.size :]
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
        interpreter = os.path.abspath(str(request.get("interpreter", "")))
        if interpreter != os.path.abspath(sys.executable):
            return f"its interpreter {interpreter} is not the server's ({sys.executable})"
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
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOPS)
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


#: The signals that stop a service, held across the fork.
_STOPS = {signal.SIGTERM, signal.SIGINT}


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


def _write_project_files(address: str) -> None:
    """Beside the socket, the files of the imported modules that are the project's (under
    the working directory, outside any installed packages): a kept service that was forked
    from this server is restarted when one changes."""
    cwd = os.getcwd() + os.sep
    files = sorted(
        {
            path
            for module in list(sys.modules.values())
            for path in [getattr(module, "__file__", None) or ""]
            if path.startswith(cwd) and "site-packages" not in path
        }
    )
    partial = f"{address}.modules.{os.getpid()}"
    with open(partial, "w", encoding="utf-8") as out:
        json.dump(files, out)
    os.replace(partial, f"{address}.modules")


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
    _write_project_files(address)
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
    # As under `python -m`, the module runs as __main__, apart from any imported copy;
    # for a package that is its __main__ module: the package itself, imported once by
    # the server, stays (forgetting it would run its imports again in every child).
    target = start.module
    if hasattr(sys.modules.get(target), "__path__"):
        target += ".__main__"
    sys.modules.pop(target, None)
    runpy.run_module(start.module, run_name="__main__", alter_sys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
