"""The SSE gateway as a real process over real sockets, against a callback server."""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from .gateway_support import CallbackServer, Gateway, free_port, run_gateway


@pytest.fixture(scope="module")
def _shared_backend() -> Iterator[CallbackServer]:
    with CallbackServer().running() as server:
        yield server


@pytest.fixture(scope="module")
def _shared_gateway(_shared_backend: CallbackServer) -> Iterator[Gateway]:
    with run_gateway(
        {"CALLBACK_URL": _shared_backend.url, "HEARTBEAT_INTERVAL_SECONDS": "30"}
    ) as gw:
        yield gw


@pytest.fixture
def backend(_shared_backend: CallbackServer) -> CallbackServer:
    """The callback server, reset: answers 200 {} and has seen no call."""
    _shared_backend.reset()
    return _shared_backend


@pytest.fixture
def gateway(_shared_gateway: Gateway, backend: CallbackServer) -> Iterator[Gateway]:
    """A gateway shared by the module; the streams a test opened are closed after it."""
    yield _shared_gateway
    for stream in _shared_gateway.streams:
        stream.close()
    _shared_gateway.streams.clear()


def test_health_and_ready(gateway: Gateway) -> None:
    assert gateway.request("GET", "/healthz") == (200, {"status": "ok"})
    assert gateway.request("GET", "/readyz") == (200, {"status": "ready", "configured": True})


def test_not_ready_without_callback_url() -> None:
    with run_gateway({"CALLBACK_URL": ""}) as gw:
        status, body = gw.request("GET", "/readyz")
        assert status == 503
        assert body["status"] == "not_ready"
        assert body["reasons"]
        status, body = gw.request("GET", "/stream?request_id=x")
        assert (status, body["error"]["code"]) == (503, "SERVICE_NOT_CONFIGURED")


def test_connect_opens_stream_with_headers_and_ready(
    gateway: Gateway, backend: CallbackServer
) -> None:
    stream = gateway.open_stream("/stream?request_id=r1&x=1")
    assert stream.status == 200
    assert stream.header("Content-Type") == "text/event-stream"
    assert stream.header("Cache-Control") == "no-cache"
    assert stream.header("X-Accel-Buffering") == "no"
    assert stream.read_event() == ["event: ready", "data:"]
    connect = backend.wait_for("connect")[0]
    assert connect["request"]["url"] == "/stream?request_id=r1&x=1"
    assert connect["request"]["headers"]["accept"] == "text/event-stream"
    assert len(connect["token"]) == 36
    stream.close()


def test_named_event_is_an_envelope(gateway: Gateway, backend: CallbackServer) -> None:
    stream = gateway.open_stream()
    stream.read_event()
    token = backend.wait_for("connect")[0]["token"]
    data = json.dumps({"event_type": "task_started", "task_id": "t1", "data": None})
    assert gateway.send({"token": token, "event": {"name": "task_event", "data": data}}) == (
        200,
        {"status": "ok"},
    )
    (line,) = stream.read_event()
    assert line.startswith("data: ")
    assert json.loads(line[6:]) == {"type": "task_event", "payload": json.loads(data)}
    stream.close()


def test_unnamed_event_is_one_data_line_per_line(gateway: Gateway, backend: CallbackServer) -> None:
    stream = gateway.open_stream()
    stream.read_event()
    token = backend.wait_for("connect")[0]["token"]
    gateway.send({"token": token, "event": {"data": "one\ntwo\r\nthree"}})
    assert stream.read_event() == ["data: one", "data: two", "data: three"]
    stream.close()


def test_sends_during_slow_connect_are_buffered_in_order(backend: CallbackServer) -> None:
    backend.hold_connect = threading.Event()
    with run_gateway({"CALLBACK_URL": backend.url}) as gateway:
        opened: list[object] = []
        opener = threading.Thread(target=lambda: opened.append(gateway.open_stream()))
        opener.start()
        token = backend.wait_for("connect")[0]["token"]
        for n in range(3):
            status, body = gateway.send({"token": token, "event": {"name": "n", "data": str(n)}})
            assert (status, body) == (200, {"status": "buffered"})
        backend.hold_connect.set()
        opener.join(5)
        stream = opened[0]
        events = [stream.read_event() for _ in range(4)]  # type: ignore[attr-defined]
        assert events == [
            ['data: {"type":"n","payload":0}'],
            ['data: {"type":"n","payload":1}'],
            ['data: {"type":"n","payload":2}'],
            ["event: ready", "data:"],
        ]
        stream.close()  # type: ignore[attr-defined]


def test_heartbeats_arrive_at_the_interval(backend: CallbackServer) -> None:
    with run_gateway({"CALLBACK_URL": backend.url, "HEARTBEAT_INTERVAL_SECONDS": "0.2"}) as gateway:
        stream = gateway.open_stream()
        stream.read_event()
        raw = [stream.response.readline() for _ in range(4)]
        assert raw == [b": heartbeat\n", b"\n", b": heartbeat\n", b"\n"]
        stream.close()


@pytest.mark.parametrize("status", [400, 401, 403])
def test_rejected_connect_gets_rejected_event(
    backend: CallbackServer, gateway: Gateway, status: int
) -> None:
    backend.status = status
    backend.body = {"error": "nope"}
    stream = gateway.open_stream()
    assert stream.status == 200
    lines = stream.read_event()
    assert lines[0] == "event: rejected"
    assert json.loads(lines[1][6:]) == {"status": status, "message": "nope"}
    assert stream.is_closed_by_server()
    time.sleep(0.2)  # a disconnect callback would have arrived by now
    assert backend.of("disconnect") == []


@pytest.mark.parametrize("status", [404, 500, 502])
def test_other_backend_status_is_passed_through(
    backend: CallbackServer, gateway: Gateway, status: int
) -> None:
    backend.status = status
    got, body = gateway.request("GET", "/stream?request_id=x")
    assert got == status
    assert body == {"error": {"message": f"Backend returned {status}", "code": "BACKEND_ERROR"}}


def test_unreachable_backend_is_503() -> None:
    with run_gateway({"CALLBACK_URL": f"http://127.0.0.1:{free_port()}/cb"}) as gateway:
        status, body = gateway.request("GET", "/stream?request_id=x")
        assert (status, body["error"]["code"]) == (503, "BACKEND_UNAVAILABLE")


def test_slow_backend_is_504(backend: CallbackServer) -> None:
    backend.hold_connect = threading.Event()
    env = {"CALLBACK_URL": backend.url, "CALLBACK_TIMEOUT_SECONDS": "0.3"}
    with run_gateway(env) as gateway:
        status, body = gateway.request("GET", "/stream?request_id=x")
        backend.hold_connect.set()
        assert (status, body["error"]["code"]) == (504, "GATEWAY_TIMEOUT")


def test_close_ends_stream_with_server_closed(gateway: Gateway, backend: CallbackServer) -> None:
    stream = gateway.open_stream()
    stream.read_event()
    token = backend.wait_for("connect")[0]["token"]
    body = {"token": token, "event": {"name": "bye", "data": "{}"}, "close": True}
    assert gateway.send(body) == (200, {"status": "ok"})
    assert stream.read_event() == ['data: {"type":"bye","payload":{}}']
    assert stream.is_closed_by_server()
    (disconnect,) = backend.wait_for("disconnect")
    assert disconnect["reason"] == "server_closed"
    assert disconnect["token"] == token
    assert gateway.send({"token": token, "event": {"data": "x"}})[0] == 404


def test_client_going_away_sends_client_closed(gateway: Gateway, backend: CallbackServer) -> None:
    stream = gateway.open_stream("/stream?request_id=gone")
    stream.read_event()
    stream.close()
    (disconnect,) = backend.wait_for("disconnect")
    assert disconnect["reason"] == "client_closed"
    assert disconnect["request"]["url"] == "/stream?request_id=gone"


def test_unknown_token_is_404(gateway: Gateway) -> None:
    status, body = gateway.send({"token": "nope", "event": {"data": "x"}})
    assert (status, body["error"]["code"]) == (404, "TOKEN_NOT_FOUND")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", "INVALID_JSON"),
        (b"\xff\xfe{}", "INVALID_JSON"),
        (b"[1]", "INVALID_JSON"),
        ({}, "INVALID_TOKEN_MISSING"),
        ({"token": 5}, "INVALID_TOKEN_MISSING"),
        ({"token": "t", "event": "x"}, "INVALID_EVENT_TYPE"),
        ({"token": "t", "event": {}}, "INVALID_EVENT_DATA_MISSING"),
        ({"token": "t", "event": {"data": 5}}, "INVALID_EVENT_DATA_MISSING"),
        ({"token": "t", "event": {"name": 5, "data": "{}"}}, "INVALID_EVENT_NAME_TYPE"),
        ({"token": "t", "close": "yes"}, "INVALID_CLOSE_TYPE"),
        ({"token": "t", "event": {"name": "n", "data": "not json"}}, "INVALID_EVENT_DATA"),
        ({"token": "t", "event": {"name": "n", "data": '{\n"a": 1}'}}, "INVALID_EVENT_DATA"),
        (b"[" * 30_000 + b"]" * 30_000, "INVALID_JSON"),
        ({"token": "t", "event": {"name": "n", "data": "[" * 30_000}}, "INVALID_EVENT_DATA"),
    ],
    ids=[
        "malformed",
        "bad-utf8",
        "not-object",
        "no-token",
        "token-type",
        "event-type",
        "no-data",
        "data-type",
        "name-type",
        "close-type",
        "named-not-json",
        "named-multiline",
        "nested-deep",
        "named-nested-deep",
    ],
)
def test_bad_send_bodies_get_400_with_code(gateway: Gateway, body: object, code: str) -> None:
    status, answer = gateway.send(body)
    assert status == 400
    assert answer["error"]["code"] == code
    assert answer["error"]["message"]


def test_non_json_content_type_is_415(gateway: Gateway) -> None:
    status, body = gateway.request(
        "POST", "/internal/send", b'{"token":"t"}', {"Content-Type": "text/plain"}
    )
    assert (status, body["error"]["code"]) == (415, "INVALID_CONTENT_TYPE")


def test_body_over_64_kib_is_413(gateway: Gateway) -> None:
    big = json.dumps({"token": "t", "event": {"data": "x" * (65 * 1024)}}).encode()
    status, body = gateway.send(big)
    assert (status, body["error"]["code"]) == (413, "PAYLOAD_TOO_LARGE")


def test_other_methods_get_json_errors(gateway: Gateway) -> None:
    status, body = gateway.request("PUT", "/readyz")
    assert status == 405
    assert body["error"]["code"] == "METHOD_NOT_ALLOWED"
    status, body = gateway.request("GET", "/internal/send")
    assert (status, body["error"]["code"]) == (404, "NOT_FOUND")


def test_listens_on_loopback_only_by_default(gateway: Gateway) -> None:
    with socket.socket() as sock, pytest.raises(ConnectionRefusedError):
        sock.connect(("127.0.0.2", gateway.port))


def test_sigterm_closes_streams_with_callbacks_and_exits_0(backend: CallbackServer) -> None:
    with run_gateway({"CALLBACK_URL": backend.url}) as gateway:
        streams = [gateway.open_stream(f"/stream?request_id=s{n}") for n in range(3)]
        for stream in streams:
            stream.read_event()
        started = time.monotonic()
        gateway.process.send_signal(signal.SIGTERM)
        code = gateway.process.wait(5)
        elapsed = time.monotonic() - started
        assert code == 0
        assert elapsed < 1.0, f"gateway took {elapsed:.2f}s to stop"
        disconnects = backend.of("disconnect")
        assert sorted(d["reason"] for d in disconnects) == ["server_closed"] * 3
        assert all(stream.is_closed_by_server() for stream in streams)
