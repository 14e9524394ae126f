"""A real gateway process, a scriptable callback server and a small SSE reader."""

from __future__ import annotations

import http.client
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from stackwright.support.processes.ports import is_free


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    assert is_free(port)
    return port


@dataclass
class CallbackServer:
    """The backend side of the gateway: records callbacks, answers as told."""

    status: int = 200
    body: dict[str, Any] = field(default_factory=dict)
    #: Set to make connect callbacks wait until released.
    hold_connect: threading.Event | None = None
    calls: list[dict[str, Any]] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)
    port: int = 0

    def wait_for(
        self, action: str, *, count: int = 1, timeout: float = 5.0
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        with self.arrived:
            while True:
                found = [c for c in self.calls if c.get("action") == action]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{count} {action} callback(s) expected, got {self.calls}")
                self.arrived.wait(left)

    def reset(self) -> None:
        """Back to answering 200 {} at once, with no calls recorded."""
        with self.arrived:
            self.status, self.body, self.hold_connect = 200, {}, None
            self.calls.clear()

    def of(self, action: str) -> list[dict[str, Any]]:
        with self.arrived:
            return [c for c in self.calls if c.get("action") == action]

    @contextmanager
    def running(self) -> Iterator[CallbackServer]:
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                call = json.loads(self.rfile.read(length))
                with owner.arrived:
                    owner.calls.append(call)
                    owner.arrived.notify_all()
                if call.get("action") == "connect" and owner.hold_connect is not None:
                    owner.hold_connect.wait(10)
                payload = json.dumps(owner.body if call.get("action") == "connect" else {}).encode()
                status = owner.status if call.get("action") == "connect" else 200
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the gateway gave up waiting (the timeout tests want exactly that)

            def log_message(self, *_args: Any) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/sse/callback"


def wait_http(
    url_host: str,
    port: int,
    path: str,
    *,
    timeout: float = 10.0,
    process: subprocess.Popen[bytes] | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            output = process.stderr.read().decode() if process.stderr else ""
            raise AssertionError(f"process exited with {process.returncode}: {output}")
        try:
            conn = http.client.HTTPConnection(url_host, port, timeout=0.5)
            conn.request("GET", path)
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            time.sleep(0.01)
    raise AssertionError(f"nothing answered on {url_host}:{port}{path} within {timeout} s")


@dataclass
class Gateway:
    process: subprocess.Popen[bytes]
    port: int
    streams: list[SseStream] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        conn.close()
        try:
            return response.status, json.loads(data)
        except ValueError:
            return response.status, data

    def send(self, body: Any) -> tuple[int, Any]:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return self.request("POST", "/internal/send", raw, {"Content-Type": "application/json"})

    def open_stream(self, path: str = "/stream?request_id=r1") -> SseStream:
        stream = SseStream.open(self.port, path)
        self.streams.append(stream)
        return stream


@contextmanager
def run_gateway(env: dict[str, str]) -> Iterator[Gateway]:
    port = free_port()
    full_env = {**os.environ, "PORT": str(port), **env}
    process = subprocess.Popen(
        [sys.executable, "-m", "app.gateway"],
        env=full_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_http("127.0.0.1", port, "/healthz", process=process)
        gateway = Gateway(process, port)
        try:
            yield gateway
        finally:
            for stream in gateway.streams:
                stream.close()
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(5)
        if process.stderr:
            process.stderr.close()


class SseStream:
    """An open GET on the gateway, read one SSE line at a time."""

    def __init__(
        self, conn: http.client.HTTPConnection, response: http.client.HTTPResponse
    ) -> None:
        self.conn = conn
        self.response = response

    @classmethod
    def open(cls, port: int, path: str, *, timeout: float = 5.0) -> SseStream:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        conn.request("GET", path, headers={"Accept": "text/event-stream"})
        return cls(conn, conn.getresponse())

    @property
    def status(self) -> int:
        return self.response.status

    def header(self, name: str) -> str | None:
        return self.response.getheader(name)

    def read_event(self) -> list[str]:
        """The lines of the next SSE block (up to the blank line)."""
        lines: list[str] = []
        while True:
            raw = self.response.readline()
            if not raw:
                if lines:
                    return lines
                raise EOFError("stream ended")
            line = raw.decode().rstrip("\n")
            if line == "":
                if lines:
                    return lines
                continue
            lines.append(line)

    def read_until(self, predicate: Callable[[list[str]], bool], *, limit: int = 50) -> list[str]:
        for _ in range(limit):
            event = self.read_event()
            if predicate(event):
                return event
        raise AssertionError("no matching event")

    def is_closed_by_server(self) -> bool:
        try:
            while self.response.readline():
                pass
        except (OSError, http.client.HTTPException):
            return True
        return True

    def close(self) -> None:
        sock = self.conn.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by the server
        self.response.close()
        self.conn.close()
