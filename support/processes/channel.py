"""One private channel between the harness's own processes: ``stackwright up`` and the
runs that attach to it, a run's controller and its workers (their live log lines, the
run-scoped services' state); every caller gets the same framing, deadlines and trust.

- Framing: one JSON object per line. A call is ``{"call": name, "args": {...}}``; its
  answer ``{"result": value}`` or ``{"error": {"type": ..., ...}}``. A tell,
  ``{"tell": name, "args": {...}}``, gets no answer (a stream of log lines). A server
  answers only the names its handler allows (pytest-xdist's "dispatch by name" over one
  channel).
- Addresses: a Unix socket in the abstract namespace, named from what it serves
  (``abstract_address``): no file a renamed or world-writable folder could hide or
  replace, and no pid a reused one could fake.
- Trust: both ends check the other's uid with ``SO_PEERCRED``; a client knows the
  server's pid from the kernel, not from a file.
- A peer that is stopped (Ctrl-Z, a debugger) or went away is named within
  ``WATCH_SLICE`` seconds of asking, and a call that gets no answer fails at its deadline.
- Errors cross as themselves: a ``HarnessError`` raised by the handler is raised again
  by the caller, with its fields; one returned as a value comes back as one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import select
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, fields, is_dataclass
from pathlib import Path
from typing import Any

from stackwright.support import errors
from stackwright.support.errors import ChannelError, HarnessError, PeerGone, PeerStopped
from stackwright.support.processes.health import STOPPED, process_state, state_letter

#: How long a call waits for its answer unless told otherwise (a stack's restart included).
ANSWER_TIMEOUT = 120.0
#: How often a caller waiting for an answer looks at whether its peer is stopped or gone.
WATCH_SLICE = 0.25
_PEERCRED = struct.Struct("3i")

__all__ = [
    "ANSWER_TIMEOUT",
    "Channel",
    "ChannelServer",
    "Connection",
    "abstract_address",
    "own_uid",
    "shown",
]


def own_uid() -> int:
    """The user both ends must run as (a function, so a test can play another user)."""
    return os.geteuid()


def abstract_address(kind: str, key: str) -> str:
    """The abstract socket address of the ``kind`` server for ``key`` (say, a suite's
    rootdir) of this user: no file, so nothing in the file system can move or fake it."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:24]
    return f"\0stackwright-{kind}-{own_uid()}-{digest}"


def shown(address: str) -> str:
    """An address as a person reads it (``@name`` for an abstract one)."""
    return "@" + address[1:] if address.startswith("\0") else address


def _peer(sock: socket.socket) -> tuple[int, int]:
    """(pid, uid) of the process at the other end, from the kernel."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
    pid, uid, _gid = _PEERCRED.unpack(raw)
    return pid, uid


# -- values and errors on the wire --------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    return value


def encode(value: Any) -> Any:
    """``value`` as JSON data; a HarnessError keeps its type and fields."""
    if isinstance(value, HarnessError):
        data: dict[str, Any] = {"type": type(value).__name__, "text": str(value)}
        if is_dataclass(value):
            data["fields"] = _plain(asdict(value))
        return {"__error__": data}
    return _plain(value)


def decode(value: Any) -> Any:
    if isinstance(value, dict) and "__error__" in value:
        return _error_of(value["__error__"])
    return value


def _error_of(data: Any) -> HarnessError:
    """The HarnessError ``data`` describes; only the harness's own error types are made."""
    kind = getattr(errors, str(data.get("type")), None) if isinstance(data, dict) else None
    text = str(data.get("text", data)) if isinstance(data, dict) else str(data)
    if not (isinstance(kind, type) and issubclass(kind, HarnessError)):
        return HarnessError(text)
    values = data.get("fields")
    if is_dataclass(kind) and isinstance(values, dict):
        known = {f.name for f in fields(kind)}
        kept = {key: value for key, value in values.items() if key in known}
        if kept.get("log_path"):
            kept["log_path"] = Path(kept["log_path"])
        with contextlib.suppress(TypeError):
            return kind(**kept)
    with contextlib.suppress(TypeError):
        return kind(text)
    return HarnessError(text)


# -- the client ---------------------------------------------------------------------------


class Channel:
    """A connection to a server of the harness, checked to run as this user."""

    def __init__(self, address: str, *, what: str, timeout: float = 5.0) -> None:
        self.address = address
        self.what = what
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(address)
            self.peer_pid, uid = _peer(sock)
        except OSError as exc:
            sock.close()
            raise PeerGone(f"{what} does not answer at {shown(address)}: {exc.strerror}") from None
        if uid != own_uid():
            sock.close()
            raise ChannelError(
                f"{what} at {shown(address)} runs as uid {uid}, not as this user "
                f"(uid {own_uid()}); refusing to send it anything"
            )
        sock.setblocking(False)
        self._sock = sock
        self._buffer = b""
        self._lock = threading.Lock()

    @property
    def named(self) -> str:
        return f"{self.what} (pid {self.peer_pid})"

    def call(self, name: str, *, timeout: float = ANSWER_TIMEOUT, **args: Any) -> Any:
        """The answer to ``name(**args)``; the handler's HarnessError raised again here,
        ChannelError when the peer is stopped, gone, or silent past ``timeout``."""
        message = json.dumps({"call": name, "args": _plain(args)}).encode() + b"\n"
        with self._lock:
            self._send(message, name)
            answer = self._receive(name, timeout)
        if "error" in answer:
            raise _error_of(answer["error"])
        return decode(answer.get("result"))

    def tell(self, name: str, **args: Any) -> None:
        """Send ``name(**args)`` and wait for nothing (its handler's answer is dropped);
        PeerGone when the peer went away."""
        message = json.dumps({"tell": name, "args": _plain(args)}).encode() + b"\n"
        with self._lock:
            self._send(message, name, check=False)

    def _send(self, message: bytes, name: str, *, check: bool = True) -> None:
        if check:
            self._check_running(name)
        try:
            self._sock.setblocking(True)
            self._sock.sendall(message)
        except OSError as exc:
            raise PeerGone(f"{self.named} went away ({name}: {exc.strerror})") from None
        finally:
            with contextlib.suppress(OSError):
                self._sock.setblocking(False)

    def _receive(self, name: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            self._check_running(name)
            left = deadline - time.monotonic()
            if left <= 0:
                raise ChannelError(
                    f"{self.named} gave no answer to {name} within {timeout:g} s; its "
                    "output says what it is doing"
                )
            if select.select([self._sock], [], [], min(left, WATCH_SLICE))[0]:
                try:
                    chunk = self._sock.recv(65536)
                except OSError:
                    chunk = b""
                if not chunk:
                    raise PeerGone(f"{self.named} went away ({name})")
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        answer = json.loads(line)
        return answer if isinstance(answer, dict) else {"error": {"text": str(answer)}}

    def _check_running(self, name: str) -> None:
        letter = state_letter(self.peer_pid)
        if letter in STOPPED:
            raise PeerStopped(
                f"{self.named} is {process_state(self.peer_pid)} ({name}); resume it (fg in "
                "its terminal) or stop it"
            )
        if letter in ("", "Z"):
            raise PeerGone(f"{self.named} went away ({name})")

    def is_open(self) -> bool:
        """Whether the peer still runs and holds its end (between calls nothing waits to be
        read). Its state is looked at too: a killed process's leader is a zombie before its
        last thread has let go of the socket."""
        if state_letter(self.peer_pid) in ("", "Z"):
            return False
        try:
            return self._sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) != b""
        except BlockingIOError:
            return True
        except OSError:
            return False

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.close()


# -- the server ---------------------------------------------------------------------------


class Connection:
    """One client of a server: its pid, and what the handler keeps about it."""

    def __init__(self, sock: socket.socket, pid: int) -> None:
        self.sock = sock
        self.pid = pid
        self.state: dict[str, Any] = {}


#: The server's handler: ``(connection, name, args) -> result``; it allows the names it
#: knows and raises HarnessError for the rest.
Handler = Callable[[Connection, str, dict[str, Any]], Any]


class ChannelServer:
    """Answers calls by name; a client running as another user is refused at once."""

    def __init__(
        self,
        address: str,
        handler: Handler,
        *,
        what: str,
        on_close: Callable[[Connection], None] = lambda connection: None,
    ) -> None:
        self.address = address
        self.what = what
        self.handler = handler
        self.on_close = on_close
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o077)
        try:
            self._sock.bind(address)
        except OSError as exc:
            self._sock.close()
            raise ChannelError(
                f"{what} cannot listen at {shown(address)}: {exc.strerror}"
            ) from None
        finally:
            os.umask(old)
        self._sock.listen(64)
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._thread = threading.Thread(target=self._accept, name="channel-server", daemon=True)

    def start(self) -> ChannelServer:
        self._thread.start()
        return self

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                sock, _ = self._sock.accept()
            except OSError:
                return
            pid, uid = _peer(sock)
            if uid != own_uid():
                sock.close()  # another user's process: not a word to it
                continue
            self._connections.add(sock)
            threading.Thread(
                target=self._serve, args=(Connection(sock, pid),), name="channel", daemon=True
            ).start()

    def _serve(self, connection: Connection) -> None:
        try:
            with connection.sock.makefile("rwb") as stream:
                for raw in stream:
                    answer = self._answer(connection, raw)
                    if answer is not None:
                        stream.write(json.dumps(answer).encode() + b"\n")
                        stream.flush()
        except OSError:
            pass  # the client went away mid-answer
        finally:
            self._connections.discard(connection.sock)
            connection.sock.close()
            self.on_close(connection)

    def _answer(self, connection: Connection, raw: bytes) -> dict[str, Any] | None:
        """The answer to one line: None for a tell (its errors are dropped too)."""
        try:
            request = json.loads(raw)
            told = isinstance(request, dict) and "tell" in request
            name = str(request["tell" if told else "call"])
            args = dict(request.get("args") or {})
        except (ValueError, KeyError, TypeError, AttributeError):
            return {"error": {"type": "ChannelError", "text": "not a call"}}
        try:
            answer = {"result": encode(self.handler(connection, name, args))}
        except HarnessError as exc:
            answer = {"error": encode(exc)["__error__"]}
        except TypeError as exc:  # arguments the operation does not take
            answer = {"error": {"type": "ChannelError", "text": f"{name}: {exc}"}}
        return None if told else answer

    def stop(self) -> None:
        """Stop listening and drop every client (they see the server go away)."""
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        for sock in list(self._connections):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if self._thread.is_alive():
            self._thread.join(timeout=5)
