"""AI-assisted part creation: start an analysis, create the reviewed part."""

from __future__ import annotations

import logging
import uuid

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from ..errors import ApiError, bad_request
from ..state import get_state
from ..tasks import start_catalog_analysis
from ..validation import REQUEST_ID_RE, json_body, optional_text, part_fields, tag_names
from .inventory import add_type, insert_part

bp = Blueprint("ai_parts", __name__, url_prefix="/api/ai-parts")
log = logging.getLogger("backend.ai")


@bp.post("/analyze")
def analyze() -> ResponseReturnValue:
    body = json_body()
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        raise bad_request("text is required: describe the part to analyse", field="text")
    if len(text) > 2000:
        raise bad_request("text is longer than 2000 characters", field="text")
    request_id = body.get("request_id")
    if not isinstance(request_id, str) or not REQUEST_ID_RE.match(request_id):
        raise bad_request("request_id is required (the page's SSE request id)", field="request_id")
    state = get_state()
    if state.connections.token_for(request_id) is None:
        raise ApiError(
            409,
            "no SSE connection is registered for this request_id; "
            "the page must open its event stream first",
            request_id=request_id,
        )
    task_id = str(uuid.uuid4())
    with state.lock:
        state.tasks[task_id] = request_id
        provider = state.provider
    log.info("analysis task_id=%s request_id=%s provider=%s", task_id, request_id, provider)
    if provider == "catalog":
        start_catalog_analysis(state, request_id, task_id, text)
    return jsonify({"task_id": task_id, "status": "pending"}), 202


@bp.post("/create")
def create() -> ResponseReturnValue:
    body = json_body()
    fields = part_fields(body)
    tags = tag_names(body)
    new_type = optional_text(body, "type_name", max_length=100)
    with get_state().db.session() as session:
        if fields["type_id"] is None and new_type:
            fields["type_id"] = add_type(session, new_type).id
        return jsonify(insert_part(session, fields, tags).to_dict()), 201
