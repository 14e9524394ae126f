"""The SSE gateway alone: start time, send-to-receive latency, fan-out, memory.

Everything speaks raw HTTP/1.1 over asyncio streams on loopback, so the load
generator costs as little as possible next to the gateway it measures.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .common import ROOT, Figure, median, percentile

STARTS = 20
SEQUENTIAL_SENDS = 2000
STREAMS = 200
ROUNDS = 15
SENDERS = 16


class CallbackServer:
    """Answers every callback 200 {} and learns request_id -> token from connects."""

    def __init__(self) -> None:
        self.tokens: dict[str, str] = {}
        self.arrived = asyncio.Event()
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> CallbackServer:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = _content_length(head)
                body = json.loads(await reader.readexactly(length))
                if body.get("action") == "connect":
                    request_id = body["request"]["url"].split("request_id=", 1)[1]
                    self.tokens[request_id] = body["token"]
                    self.arrived.set()
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 2\r\n\r\n{}"
                )
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            writer.close()  # the gateway hung up, or the benchmark is over

    async def token(self, request_id: str) -> str:
        while request_id not in self.tokens:
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), 10)
        return self.tokens[request_id]

    def close(self) -> None:
        if self.server is not None:
            self.server.close()


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":", 1)[1])
    return 0


class Stream:
    """One SSE stream; every received event's payload goes to ``on_event`` with its arrival time."""

    def __init__(
        self, port: int, request_id: str, on_event: Callable[[dict[str, Any], float], None]
    ) -> None:
        self.port = port
        self.request_id = request_id
        self.on_event = on_event
        self.task: asyncio.Task[None] | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.writer.write(
            f"GET /stream?request_id={self.request_id} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
        )
        await reader.readuntil(b"\r\n\r\n")
        self.task = asyncio.ensure_future(self._read(reader))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        # Chunked transfer: chunk-size lines and SSE lines interleave; only data lines matter.
        while True:
            line = await reader.readline()
            if not line:
                return
            if line.startswith(b"data: {"):
                now = time.perf_counter()
                self.on_event(json.loads(line[6:])["payload"], now)

    def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
        if self.writer is not None:
            self.writer.close()


class Sender:
    """A keep-alive connection that POSTs /internal/send, one request at a time."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> Sender:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        return self

    async def send(self, token: str, payload: dict[str, Any]) -> None:
        assert self.reader is not None and self.writer is not None
        body = json.dumps(
            {"token": token, "event": {"name": "bench", "data": json.dumps(payload)}}
        ).encode()
        self.writer.write(
            b"POST /internal/send HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"send failed: {head[:60]!r}")
        await self.reader.readexactly(_content_length(head))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def start_gateway(
    callback_port: int, port: int, log: Path
) -> tuple[subprocess.Popen[bytes], float]:
    """Start the gateway; return it and the seconds until /readyz answered 200."""
    env = {
        **os.environ,
        "PORT": str(port),
        "CALLBACK_URL": f"http://127.0.0.1:{callback_port}/cb",
        "LOG_LEVEL": os.environ.get("BENCH_GATEWAY_LOG_LEVEL", "info"),
    }
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "app.gateway"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
    )
    deadline = started + 10
    while time.perf_counter() < deadline:
        if _readyz(port):
            return process, time.perf_counter() - started
        time.sleep(0.002)
    process.kill()
    raise RuntimeError(f"gateway not ready within 10 s; see {log}")


def _readyz(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return sock.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _latency(port: int, callback: CallbackServer) -> list[float]:
    pending: dict[int, asyncio.Future[float]] = {}

    def arrived(payload: dict[str, Any], at: float) -> None:
        future = pending.pop(payload["i"], None)
        if future is not None and not future.done():
            future.set_result(at)

    stream = Stream(port, "latency", arrived)
    await stream.open()
    token = await callback.token("latency")
    sender = await Sender(port).open()
    loop = asyncio.get_running_loop()
    latencies = []
    for i in range(SEQUENTIAL_SENDS):
        future = pending[i] = loop.create_future()
        started = time.perf_counter()
        await sender.send(token, {"i": i})  # the event may arrive before this returns
        received = await asyncio.wait_for(future, 5)
        latencies.append(received - started)
    sender.close()
    stream.close()
    return latencies


async def _fan_out(
    port: int, callback: CallbackServer, process: subprocess.Popen[bytes]
) -> dict[str, float]:
    sent_at: dict[tuple[int, int], float] = {}
    latencies: list[float] = []
    last_arrival = [0.0]
    expected = STREAMS * ROUNDS
    done = asyncio.Event()

    def arrived(payload: dict[str, Any], at: float) -> None:
        latencies.append(at - sent_at[(payload["s"], payload["r"])])
        last_arrival[0] = at
        if len(latencies) == expected:
            done.set()

    streams = [Stream(port, f"fan{s}", arrived) for s in range(STREAMS)]
    await asyncio.gather(*(stream.open() for stream in streams))
    tokens = [await callback.token(f"fan{s}") for s in range(STREAMS)]
    rss_idle = _rss_mb(process.pid)
    senders = [await Sender(port).open() for _ in range(SENDERS)]

    async def send_share(index: int, round_no: int) -> None:
        for s in range(index, STREAMS, SENDERS):
            sent_at[(s, round_no)] = time.perf_counter()
            await senders[index].send(tokens[s], {"s": s, "r": round_no})

    started = time.perf_counter()
    for round_no in range(ROUNDS):
        await asyncio.gather(*(send_share(i, round_no) for i in range(SENDERS)))
    await asyncio.wait_for(done.wait(), 30)
    elapsed = last_arrival[0] - started
    for item in (*senders, *streams):
        item.close()
    return {
        "events_per_s": expected / elapsed,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "rss_idle_mb": rss_idle,
    }


async def _measure(log: Path) -> list[Figure]:
    from stackwright.support.processes import PortAllocator, choose_run_base

    block = STARTS + 4  # a fresh port for every start, the measured gateway, and spares
    ports = PortAllocator(choose_run_base(1, block), 0, block)
    callback = await CallbackServer().start()
    starts = []
    for _ in range(STARTS):
        process, seconds = start_gateway(callback.port, ports.take(), log)
        starts.append(seconds)
        process.terminate()
        process.wait(5)
    port = ports.take()
    process, _ = start_gateway(callback.port, port, log)
    try:
        latencies = await _latency(port, callback)
        fan = await _fan_out(port, callback, process)
    finally:
        process.terminate()
        process.wait(5)
        callback.close()
    return [
        Figure(
            "gateway",
            f"start to /readyz 200, median of {STARTS}",
            median(starts) * 1000,
            "ms",
            250,
            note=f"max {max(starts) * 1000:.0f} ms; Node gateway 240 ms",
        ),
        Figure(
            "gateway",
            f"send-to-receive p50, {SEQUENTIAL_SENDS} sequential sends",
            percentile(latencies, 50) * 1000,
            "ms",
            0.5,
            note="Node gateway 0.49 ms",
        ),
        Figure(
            "gateway",
            f"send-to-receive p99, {SEQUENTIAL_SENDS} sequential sends",
            percentile(latencies, 99) * 1000,
            "ms",
            3.0,
            note="Node gateway 3.0 ms",
        ),
        Figure(
            "gateway",
            f"fan-out to {STREAMS} streams, {ROUNDS} rounds: delivered",
            fan["events_per_s"],
            "events/s",
            2800,
            sense="min",
            note="Node gateway 1879 events/s",
        ),
        Figure(
            "gateway",
            f"fan-out to {STREAMS} streams: p99 latency",
            fan["p99_ms"],
            "ms",
            100,
            note=f"p50 {fan['p50_ms']:.1f} ms; Node gateway p99 123 ms",
        ),
        Figure(
            "gateway",
            f"RSS with {STREAMS} idle streams",
            fan["rss_idle_mb"],
            "MB",
            45,
            note="Node gateway 90 MB",
        ),
    ]


def run(work: Path) -> list[Figure]:
    work.mkdir(parents=True, exist_ok=True)
    return asyncio.run(_measure(work / "bench-gateway.log"))
