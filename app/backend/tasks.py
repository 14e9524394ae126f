"""AI analysis tasks and the events they report over SSE."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from . import catalog
from .models import Part, PartType
from .sse import SendError
from .state import State

log = logging.getLogger("backend.tasks")

EVENT_TYPES = ("task_started", "progress_update", "task_completed", "task_failed")

CATALOG_STEPS = (
    ("Reading your description", 0.2),
    ("Searching the parts catalogue", 0.45),
    ("Matching the part type", 0.7),
    ("Checking your inventory for duplicates", 0.9),
)


def task_event(task_id: str, event_type: str, data: object) -> dict[str, Any]:
    """The payload of a ``task_event`` SSE event."""
    return {
        "event_type": event_type,
        "task_id": task_id,
        "timestamp": datetime.now(UTC).isoformat(),
        "data": data,
    }


def emit(state: State, request_id: str, task_id: str, event_type: str, data: object) -> bool:
    """Send one task event to the browser of ``request_id``; False if not connected."""
    return state.gateway.send(request_id, "task_event", task_event(task_id, event_type, data))


def run_catalog_analysis(state: State, request_id: str, task_id: str, text: str) -> None:
    """The offline analyser: a few progress updates, then a result from the catalogue."""
    try:
        emit(state, request_id, task_id, "task_started", None)
        for message, value in CATALOG_STEPS:
            time.sleep(state.config.catalog_step_seconds)
            emit(state, request_id, task_id, "progress_update", {"text": message, "value": value})
        emit(state, request_id, task_id, "task_completed", _catalog_outcome(state, text))
    except SendError as exc:
        log.error("catalog task %s for request_id=%s stopped: %s", task_id, request_id, exc)
    except Exception:
        log.exception("catalog task %s failed", task_id)
        try:
            emit(state, request_id, task_id, "task_failed", {"error": "The analyser crashed"})
        except SendError as exc:
            log.error("could not report the failure of task %s: %s", task_id, exc)


def start_catalog_analysis(state: State, request_id: str, task_id: str, text: str) -> None:
    thread = threading.Thread(
        target=run_catalog_analysis,
        args=(state, request_id, task_id, text),
        name=f"catalog-{task_id[:8]}",
        daemon=True,
    )
    thread.start()


def _catalog_outcome(state: State, text: str) -> dict[str, Any]:
    entry = catalog.find(text)
    analysis: dict[str, Any]
    if entry is None:
        analysis = {
            "analysis_result": None,
            "duplicate_parts": [],
            "analysis_failure_reason": (
                "No part in the catalogue matches this description. "
                "Try a manufacturer part number such as AMS1117 or ESP32."
            ),
        }
        return {"success": True, "analysis": analysis, "error_message": None}
    result = dict(entry.result)
    with state.db.session() as session:
        type_id = session.scalar(
            select(PartType.id).where(func.lower(PartType.name) == str(result["type"]).lower())
        )
        duplicates = session.scalars(
            select(Part).where(Part.manufacturer_code == result["manufacturer_code"])
        ).all()
        duplicate_parts = [
            {"key": p.key, "description": p.description, "manufacturer_code": p.manufacturer_code}
            for p in duplicates
        ]
    result["type_is_existing"] = type_id is not None
    result["existing_type_id"] = type_id
    analysis = {
        "analysis_result": result,
        "duplicate_parts": duplicate_parts,
        "analysis_failure_reason": None,
    }
    return {"success": True, "analysis": analysis, "error_message": None}
