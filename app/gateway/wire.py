"""The bytes written on a stream, and validation of ``/internal/send`` bodies."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

READY = b"event: ready\ndata:\n\n"  # byte for byte as the Node gateway writes it
HEARTBEAT = b": heartbeat\n\n"
_LINES = re.compile(r"\r\n|\r|\n")


class SendRejected(ValueError):
    """A ``/internal/send`` body the gateway refuses, with its error code."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Send:
    token: str
    event: bytes | None
    close: bool
    name: str | None = None


def rejected_event(status: int, message: str) -> bytes:
    data = json.dumps({"status": status, "message": message}, separators=(",", ":"))
    return f"event: rejected\ndata: {data}\n\n".encode()


def encode_event(name: str | None, data: str) -> bytes:
    """A named event as the ``{type, payload}`` envelope; an unnamed one as classic SSE."""
    if name is None:
        return "".join(f"data: {line}\n" for line in _LINES.split(data)).encode() + b"\n"
    envelope = '{"type":' + json.dumps(name) + ',"payload":' + data + "}"
    return f"data: {envelope}\n\n".encode()


def parse_send(raw: bytes) -> Send:
    """Validate a send body; raise SendRejected with the Node gateway's codes."""
    try:
        body: Any = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise SendRejected("INVALID_JSON", "Request body is not valid UTF-8") from None
    except ValueError as exc:
        raise SendRejected("INVALID_JSON", f"Request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise SendRejected("INVALID_JSON", "Request body is nested too deeply") from None
    if not isinstance(body, dict):
        raise SendRejected("INVALID_JSON", "Request body must be a JSON object")
    token = body.get("token")
    if not isinstance(token, str) or not token:
        raise SendRejected(
            "INVALID_TOKEN_MISSING", "token is required and must be a non-empty string"
        )
    close = body.get("close", False)
    if close is None:
        close = False
    if not isinstance(close, bool):
        raise SendRejected("INVALID_CLOSE_TYPE", "close must be a boolean")
    event = body.get("event")
    if event is None:
        return Send(token, None, close)
    name, data = _event_fields(event)
    return Send(token, encode_event(name, data), close, name)


def _event_fields(event: object) -> tuple[str | None, str]:
    if not isinstance(event, dict):
        raise SendRejected("INVALID_EVENT_TYPE", "event must be an object")
    data = event.get("data")
    if not isinstance(data, str):
        raise SendRejected(
            "INVALID_EVENT_DATA_MISSING", "event.data is required and must be a string"
        )
    name = event.get("name")
    if name is not None and (not isinstance(name, str) or not name):
        raise SendRejected("INVALID_EVENT_NAME_TYPE", "event.name must be a non-empty string")
    if name is not None:
        _require_single_line_json(data)
    return name, data


def _require_single_line_json(data: str) -> None:
    if "\n" in data or "\r" in data:
        raise SendRejected(
            "INVALID_EVENT_DATA",
            "event.data of a named event is embedded as raw JSON and must be on one line",
        )
    try:
        json.loads(data)
    except RecursionError:
        raise SendRejected(
            "INVALID_EVENT_DATA", "event.data of a named event is nested too deeply"
        ) from None
    except ValueError as exc:
        raise SendRejected(
            "INVALID_EVENT_DATA", f"event.data of a named event must be valid JSON: {exc}"
        ) from None
