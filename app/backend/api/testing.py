"""Endpoints for tests; registered only when FLASK_ENV=testing."""

from __future__ import annotations

import time

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from ..errors import ApiError, bad_request
from ..state import PROVIDERS, get_state
from ..tasks import EVENT_TYPES, emit
from ..validation import json_body

bp = Blueprint("testing", __name__, url_prefix="/api/testing")


@bp.post("/sse/task-event")
def task_event() -> ResponseReturnValue:
    body = json_body()
    for name in ("request_id", "task_id", "event_type"):
        if not isinstance(body.get(name), str) or not body[name]:
            raise bad_request(f"{name} is required and must be a string", field=name)
    if body["event_type"] not in EVENT_TYPES:
        raise bad_request(f"event_type must be one of {', '.join(EVENT_TYPES)}", field="event_type")
    delivered = emit(
        get_state(), body["request_id"], body["task_id"], body["event_type"], body.get("data")
    )
    if not delivered:
        raise ApiError(404, "no SSE connection for this request_id", request_id=body["request_id"])
    return jsonify({"delivered": True})


@bp.post("/reset")
def reset() -> ResponseReturnValue:
    state = get_state()
    started = time.perf_counter()
    if state.seed_path is None:
        raise ApiError(
            409,
            "this backend's database is on a server: restore it from its template "
            "(the harness's fresh_db without db_reset does), not with this endpoint",
        )
    state.db.restore_from(state.seed_path)
    with state.lock:
        state.provider = state.config.default_provider
        state.tasks.clear()
    elapsed_ms = round((time.perf_counter() - started) * 1000, 2)
    return jsonify({"status": "reset", "duration_ms": elapsed_ms})


@bp.put("/ai-provider")
def set_provider() -> ResponseReturnValue:
    provider = json_body().get("provider")
    if provider not in PROVIDERS:
        raise bad_request(f"provider must be one of {', '.join(PROVIDERS)}", field="provider")
    state = get_state()
    with state.lock:
        state.provider = provider
    return jsonify({"provider": provider})


@bp.get("/sse/connections")
def connections() -> ResponseReturnValue:
    return jsonify(get_state().connections.snapshot())
