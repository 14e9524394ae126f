"""The SSE gateway's connect and disconnect callback."""

from __future__ import annotations

import hmac
import logging
import threading
from typing import Any
from urllib.parse import parse_qs, urlsplit

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from ..errors import ApiError, bad_request
from ..state import get_state
from ..validation import REQUEST_ID_RE, json_body

bp = Blueprint("sse_callback", __name__, url_prefix="/api/sse")
log = logging.getLogger("backend.sse")


@bp.post("/callback")
def callback() -> ResponseReturnValue:
    state = get_state()
    _check_secret(state.config.callback_secret, required=state.config.is_production)
    body = json_body()
    action = body.get("action")
    token = body.get("token")
    if not isinstance(token, str) or not token:
        raise bad_request("token is required", field="token")
    if action == "connect":
        return _connect(token, body)
    if action == "disconnect":
        request_id = state.connections.disconnect(token)
        log.info(
            "disconnect token=%s request_id=%s reason=%s", token, request_id, body.get("reason")
        )
        return jsonify({})
    raise bad_request("action must be 'connect' or 'disconnect'", field="action")


def _check_secret(secret: str | None, *, required: bool) -> None:
    """Fail closed: a configured secret is always checked, and production needs one."""
    if secret is None and not required:
        return
    given = request.args.get("secret", "")
    if not secret or not hmac.compare_digest(secret.encode(), given.encode()):
        raise ApiError(401, "callback secret missing or wrong")


def _connect(token: str, body: dict[str, Any]) -> ResponseReturnValue:
    request_id = _request_id(body)
    state = get_state()
    replaced = state.connections.connect(request_id, token)
    log.info("connect token=%s request_id=%s replaced=%s", token, request_id, replaced)
    if replaced:
        # The gateway is waiting on this very callback: close the old stream
        # from another thread so the answer is not delayed by it.
        threading.Thread(target=state.gateway.close, args=(replaced,), daemon=True).start()
    return jsonify({})


def _request_id(body: dict[str, Any]) -> str:
    req = body.get("request")
    url = req.get("url") if isinstance(req, dict) else None
    if not isinstance(url, str):
        raise bad_request("request.url is required", field="request.url")
    values = parse_qs(urlsplit(url).query).get("request_id", [])
    if len(values) != 1 or not REQUEST_ID_RE.match(values[0]):
        raise bad_request(
            "request_id query parameter is missing or malformed "
            "(1-128 letters, digits, '-' or '_')",
            url=url,
        )
    return values[0]
