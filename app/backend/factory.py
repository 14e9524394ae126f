"""The app factory: ``create_app(config)`` plus blueprints and request logging."""

from __future__ import annotations

import logging
import time
import uuid
from urllib.parse import unquote_plus

from flask import Flask, Response, g, request

from .api import ai_parts, health, inventory, sse_callback, testing
from .errors import register_error_handlers
from .state import Config, get_state, install

log = logging.getLogger("backend.request")
MAX_BODY_BYTES = 1024 * 1024


def create_app(config: Config) -> Flask:
    """Build the app for one database file and one environment."""
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES  # larger bodies get a JSON 413
    app.json.sort_keys = False  # type: ignore[attr-defined]
    install(app, config)
    register_error_handlers(app)
    for blueprint in (health.bp, inventory.bp, sse_callback.bp, ai_parts.bp):
        app.register_blueprint(blueprint)
    if config.is_testing:
        app.register_blueprint(testing.bp)
    app.before_request(_start_timer)
    app.after_request(_log_request)
    return app


#: Query keys whose values never reach a log, compared after percent-decoding.
_SECRET_KEYS = frozenset({"secret", "token", "password", "api_key"})
_REDACTED = "[redacted]"


def redact_query(path: str, secret: str | None = None) -> str:
    """``/cb?secret=abc&x=1`` -> ``/cb?secret=[redacted]&x=1``: secrets never reach a log.

    Keys are compared decoded (``?sec%72et=`` is the ``secret`` Flask reads, and a key
    encoded twice is decoded twice), and any value that decodes to ``secret`` (the
    configured one) is redacted whatever its key.
    """
    base, sep, query = path.partition("?")
    if not sep:
        return path
    pairs = []
    for pair in query.split("&"):
        key, equals, value = pair.partition("=")
        if equals and (_decoded(key).lower() in _SECRET_KEYS or _is_secret(value, secret)):
            pair = f"{key}={_REDACTED}"
        pairs.append(pair)
    return f"{base}?{'&'.join(pairs)}"


def _decoded(text: str, *, rounds: int = 4) -> str:
    for _ in range(rounds):
        decoded = unquote_plus(text)
        if decoded == text:
            break
        text = decoded
    return text.strip()


def _is_secret(value: str, secret: str | None) -> bool:
    return bool(secret) and secret in (value, _decoded(value))


def _start_timer() -> None:
    g.started = time.perf_counter()
    g.request_id = request.headers.get("X-Request-Id") or uuid.uuid4().hex


def _log_request(response: Response) -> Response:
    elapsed_ms = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
    request_id = g.get("request_id", "-")
    response.headers["X-Request-Id"] = request_id
    path = redact_query(request.full_path.rstrip("?"), get_state().config.callback_secret)
    log.info(
        "%s %s %s %.1fms request_id=%s",
        request.method,
        path,
        response.status_code,
        elapsed_ms,
        request_id,
    )
    return response
