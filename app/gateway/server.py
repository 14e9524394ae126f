"""The aiohttp application: stream handler, ``/internal/send``, health, shutdown."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiohttp.client_exceptions import ClientError

from . import loader
from .config import Config
from .log import Logger
from .wire import HEARTBEAT, READY, Send, SendRejected, parse_send, rejected_event

if TYPE_CHECKING:
    from aiohttp import ClientSession

SSE_HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "Connection": "keep-alive",
    "X-Accel-Buffering": "no",
}
REJECTING_STATUSES = (400, 401, 403)


def error_response(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"message": message, "code": code}}, status=status)


@dataclass
class Pending:
    """A stream whose connect callback is in flight: sends are kept in order."""

    events: list[bytes] = field(default_factory=list)
    close: bool = False


class Stream:
    """One open browser stream."""

    def __init__(self, token: str, request: dict[str, Any], response: web.StreamResponse) -> None:
        self.token = token
        self.request = request
        self.response = response
        self.lock = asyncio.Lock()
        self.ended: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    @property
    def is_open(self) -> bool:
        return not self.ended.done()

    async def write(self, data: bytes) -> bool:
        """Write ``data``; False when the stream is over or the write failed.

        The caller ends a failed stream through ``Gateway.end_stream``, which
        also drops it and sends the disconnect callback.
        """
        if not self.is_open:
            return False
        try:
            await self.response.write(data)
        except (ConnectionError, RuntimeError):
            return False
        return True

    def end(self, reason: str) -> bool:
        """Mark the stream ended; True only the first time."""
        if self.ended.done():
            return False
        self.ended.set_result(reason)
        return True


class Gateway:
    """State of one gateway process: open streams, pending connects, callbacks."""

    def __init__(self, config: Config, logger: Logger) -> None:
        self.config = config
        self.log = logger
        self.streams: dict[str, Stream] = {}
        self.pending: dict[str, Pending] = {}
        self.background: set[asyncio.Task[Any]] = set()
        self._session: ClientSession | None = None

    # -- callbacks -----------------------------------------------------------------

    @property
    def session(self) -> ClientSession:
        if self._session is None:
            # aiohttp's client loads at the first callback, not before listening (loader.py).
            loader.complete()
            from aiohttp import ClientSession, ClientTimeout, TCPConnector

            self._session = ClientSession(
                connector=TCPConnector(limit=0, ttl_dns_cache=None),
                timeout=ClientTimeout(total=self.config.callback_timeout),
            )
        return self._session

    async def post_callback(self, body: dict[str, Any]) -> tuple[int, Any]:
        assert self.config.callback_url is not None
        async with self.session.post(self.config.callback_url, json=body) as response:
            text = await response.text()
            try:
                payload = json.loads(text) if text else None
            except (ValueError, RecursionError):
                payload = None
            return response.status, payload

    def spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)
        return task

    async def _disconnect(self, token: str, reason: str, request: dict[str, Any]) -> None:
        body = {"action": "disconnect", "token": token, "reason": reason, "request": request}
        try:
            status, _ = await self.post_callback(body)
        except (ClientError, TimeoutError) as exc:
            self.log.warn("disconnect_callback_failed", token=token, reason=reason, error=repr(exc))
            return
        self.log.info("disconnect_callback", token=token, reason=reason, status=status)

    def end_stream(self, stream: Stream, reason: str) -> None:
        """End a stream once: drop it and POST the disconnect callback."""
        if stream.end(reason):
            self.streams.pop(stream.token, None)
            self.log.info("disconnect", token=stream.token, reason=reason, open=len(self.streams))
            self.spawn(self._disconnect(stream.token, reason, stream.request))

    # -- streams -------------------------------------------------------------------

    async def handle_stream(self, request: web.Request) -> web.StreamResponse:
        if request.path.startswith("/internal/"):
            return error_response(404, "NOT_FOUND", f"No stream at {request.path}")
        if not self.config.callback_url:
            return error_response(503, "SERVICE_NOT_CONFIGURED", "CALLBACK_URL is not configured")
        token = str(uuid.uuid4())
        info = {
            "url": request.raw_path,
            "headers": {k.lower(): v for k, v in request.headers.items()},
        }
        self.pending[token] = Pending()
        callback = self.spawn(
            self.post_callback({"action": "connect", "token": token, "request": info})
        )
        try:
            status, payload = await asyncio.shield(callback)
        except asyncio.CancelledError:
            self.pending.pop(token, None)
            callback.add_done_callback(lambda task: self._connect_abandoned(task, token, info))
            raise
        except TimeoutError:
            self.pending.pop(token, None)
            self.log.warn("connect_callback_timeout", token=token, url=info["url"])
            return error_response(504, "GATEWAY_TIMEOUT", "Backend callback timed out")
        except ClientError as exc:
            self.pending.pop(token, None)
            self.log.warn("connect_callback_failed", token=token, error=repr(exc))
            return error_response(503, "BACKEND_UNAVAILABLE", "Backend is unavailable")
        self.log.info("connect_callback", token=token, url=info["url"], status=status)
        if 200 <= status < 300:
            return await self._open(request, token, info)
        self.pending.pop(token, None)
        if status in REJECTING_STATUSES:
            return await self._reject(request, status, payload)
        return error_response(status, "BACKEND_ERROR", f"Backend returned {status}")

    def _connect_abandoned(self, task: asyncio.Task[Any], token: str, info: dict[str, Any]) -> None:
        """The browser left while its connect callback was in flight."""
        if task.cancelled() or task.exception() is not None:
            return
        status, _ = task.result()
        if 200 <= status < 300:
            self.log.info("disconnect", token=token, reason="client_closed", open=len(self.streams))
            self.spawn(self._disconnect(token, "client_closed", info))

    async def _reject(self, request: web.Request, status: int, payload: Any) -> web.StreamResponse:
        message = f"Backend returned {status}"
        if isinstance(payload, dict) and isinstance(payload.get("error"), str):
            message = payload["error"]
        response = web.StreamResponse(status=200, headers=SSE_HEADERS)
        await response.prepare(request)
        await response.write(rejected_event(status, message))
        await response.write_eof()
        return response

    async def _open(
        self, request: web.Request, token: str, info: dict[str, Any]
    ) -> web.StreamResponse:
        response = web.StreamResponse(status=200, headers=SSE_HEADERS)
        stream = Stream(token, info, response)
        # Registered before the first await: a send that arrives from now on
        # waits for the lock, so it is written after the buffered events and ready.
        pending = self.pending.pop(token, Pending())
        self.streams[token] = stream
        self.log.info("connect", token=token, url=info["url"], open=len(self.streams))
        try:
            async with stream.lock:
                await response.prepare(request)
                for data in (*pending.events, READY):
                    if not await stream.write(data):
                        self.end_stream(stream, "error")
                        return response
            if pending.close:
                self.end_stream(stream, "server_closed")
            await asyncio.shield(stream.ended)
        except asyncio.CancelledError:
            self.end_stream(stream, "client_closed")
            raise
        except (ConnectionError, RuntimeError):  # the client left before the headers went out
            self.end_stream(stream, "client_closed")
        return response

    # -- sends ---------------------------------------------------------------------

    async def handle_send(self, request: web.Request) -> web.Response:
        try:
            send = parse_send(await self._read_body(request))
        except SendRejected as exc:
            self.log.warn("send_rejected", code=exc.code, message=exc.message)
            return error_response(exc.status, exc.code, exc.message)
        pending = self.pending.get(send.token)
        if pending is not None:
            if send.event is not None:
                pending.events.append(send.event)
            pending.close = pending.close or send.close
            self.log.info("send_buffered", token=send.token, name=send.name, close=send.close)
            return web.json_response({"status": "buffered"})
        stream = self.streams.get(send.token)
        if stream is None:
            self.log.info("send_unknown_token", token=send.token)
            return error_response(404, "TOKEN_NOT_FOUND", f"Token not found: {send.token}")
        return await self._deliver(stream, send)

    async def _deliver(self, stream: Stream, send: Send) -> web.Response:
        if send.event is not None:
            async with stream.lock:
                written = await stream.write(send.event)
            if not written:
                self.end_stream(stream, "error")
                return error_response(404, "TOKEN_NOT_FOUND", f"Stream closed: {send.token}")
            self.log.info("send", token=send.token, name=send.name, bytes=len(send.event))
        if send.close:
            self.end_stream(stream, "server_closed")
        return web.json_response({"status": "ok"})

    async def _read_body(self, request: web.Request) -> bytes:
        if request.content_type != "application/json":
            raise SendRejected(
                "INVALID_CONTENT_TYPE",
                f"Content-Type must be application/json, got {request.content_type!r}",
                status=415,
            )
        limit = self.config.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            raise SendRejected("PAYLOAD_TOO_LARGE", f"Body is larger than {limit} bytes", 413)
        try:
            return await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise SendRejected(
                "PAYLOAD_TOO_LARGE", f"Body is larger than {limit} bytes", 413
            ) from None

    # -- health, heartbeats, shutdown ---------------------------------------------

    async def handle_healthz(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def handle_readyz(self, _request: web.Request) -> web.Response:
        if self.config.callback_url:
            return web.json_response({"status": "ready", "configured": True})
        reasons = ["CALLBACK_URL is not set"]
        return web.json_response(
            {"status": "not_ready", "configured": False, "reasons": reasons}, status=503
        )

    async def heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.config.heartbeat_seconds)
            for stream in list(self.streams.values()):
                async with stream.lock:
                    written = await stream.write(HEARTBEAT)
                if not written:
                    self.end_stream(stream, "error")

    async def close_all(self, *, timeout: float = 0.6) -> None:
        """End every stream with ``server_closed`` and wait (bounded) for the callbacks."""
        for stream in list(self.streams.values()):
            self.end_stream(stream, "server_closed")
        if self.background:
            await asyncio.wait(list(self.background), timeout=timeout)
        if self._session is not None:
            await self._session.close()


@web.middleware
async def json_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Every HTTP error answered with a JSON body, never HTML or a stack trace."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = exc.reason.upper().replace(" ", "_")
        return error_response(exc.status, code, exc.text or exc.reason)


def create_app(gateway: Gateway) -> web.Application:
    app = web.Application(middlewares=[json_errors], client_max_size=gateway.config.max_body_bytes)
    app.router.add_get("/healthz", gateway.handle_healthz)
    app.router.add_get("/readyz", gateway.handle_readyz)
    app.router.add_post("/internal/send", gateway.handle_send)
    app.router.add_get("/{tail:.*}", gateway.handle_stream)
    return app
