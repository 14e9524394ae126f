"""Liveness and readiness."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from ..state import get_state

bp = Blueprint("health", __name__, url_prefix="/api/health")


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    try:
        answering = get_state().db.is_answering()
        reason = None if answering else "database gave an unexpected answer"
    except Exception as exc:  # any driver error means "not ready", with its text
        reason = f"database: {exc}"
    if reason:
        return jsonify({"status": "not_ready", "reasons": [reason]}), 503
    return jsonify({"status": "ready"})
