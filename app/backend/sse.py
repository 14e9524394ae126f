"""Browser streams: the request_id -> token map and sending through the gateway."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import requests

log = logging.getLogger("backend.sse")

# A dead gateway must fail a send fast, never hang the request that triggered it.
SEND_TIMEOUT = (0.5, 2.0)


class SendError(Exception):
    """The gateway could not be reached or refused the event."""


class Connections:
    """Thread-safe map of the browser's request_id to the gateway's token."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, str] = {}

    def connect(self, request_id: str, token: str) -> str | None:
        """Register ``token``; return the token it replaced, if any."""
        with self._lock:
            old = self._tokens.get(request_id)
            self._tokens[request_id] = token
        return old if old != token else None

    def disconnect(self, token: str) -> str | None:
        """Drop the mapping that still points at ``token``; return its request_id."""
        with self._lock:
            for request_id, current in self._tokens.items():
                if current == token:
                    del self._tokens[request_id]
                    return request_id
        return None

    def token_for(self, request_id: str) -> str | None:
        with self._lock:
            return self._tokens.get(request_id)

    def snapshot(self) -> dict[str, str]:
        with self._lock:
            return dict(self._tokens)


class GatewayClient:
    """POSTs events to the gateway's ``/internal/send``."""

    def __init__(self, base_url: str | None, connections: Connections) -> None:
        self.base_url = base_url.rstrip("/") if base_url else None
        self.connections = connections
        self._local = threading.local()

    def _session(self) -> requests.Session:
        # Imported on first send: requests costs ~50 ms of the backend's start.
        import requests

        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def send(self, request_id: str, name: str, payload: object) -> bool:
        """Send a named event to the browser of ``request_id``.

        Returns False when no stream is registered for it (or the gateway no
        longer knows the token, which drops the mapping). Raises SendError when
        the gateway is unreachable or answers with an error.
        """
        token = self.connections.token_for(request_id)
        if token is None:
            return False
        body = {"token": token, "event": {"name": name, "data": json.dumps(payload)}}
        status = self._post(body, what=f"event {name} for request_id={request_id}")
        if status == 404:
            self.connections.disconnect(token)
            log.info("gateway no longer knows token=%s; dropped request_id=%s", token, request_id)
            return False
        return True

    def close(self, token: str) -> None:
        """Ask the gateway to close the stream of ``token`` (best effort)."""
        try:
            self._post({"token": token, "close": True}, what=f"close of token={token}")
        except SendError as exc:
            log.warning("could not close replaced stream: %s", exc)

    def _post(self, body: Mapping[str, object], *, what: str) -> int:
        if self.base_url is None:
            raise SendError(f"cannot send {what}: SSE_GATEWAY_URL is not set")
        url = f"{self.base_url}/internal/send"
        session = self._session()
        try:
            response = session.post(url, json=body, timeout=SEND_TIMEOUT)
        except OSError as exc:  # requests' errors derive from OSError (IOError)
            log.error("send of %s to %s failed: %s", what, url, exc)
            raise SendError(f"gateway at {url} unreachable: {exc}") from exc
        if response.status_code not in (200, 404):
            log.error("send of %s got %s: %s", what, response.status_code, response.text[:200])
            raise SendError(f"gateway answered {response.status_code} to {what}")
        log.info("sent %s token=%s status=%s", what, body["token"], response.status_code)
        return response.status_code
