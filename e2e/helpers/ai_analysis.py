"""Drives an AI analysis task from the test, through the backend's testing endpoint."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from stackwright.support.browser import TestEventBuffer

from .api import ApiClient
from .sse import SseHelper

#: A real part, as the analyser would describe it; tests override fields.
TEMPLATE_RESULT: dict[str, Any] = {
    "description": "3.3V 1A low dropout linear regulator",
    "manufacturer": "Advanced Monolithic Systems",
    "manufacturer_code": "AMS1117-3.3",
    "type": "Voltage regulator",
    "type_is_existing": True,
    "existing_type_id": None,  # filled in from the worker's database
    "tags": ["ldo", "3v3"],
    "dimensions": "6.5 x 3.5 mm",
    "voltage_rating": "15V",
    "mounting_type": "Surface mount",
    "package": "SOT-223",
    "pin_count": 4,
    "pin_pitch": "2.3 mm",
    "series": "AMS1117",
    "input_voltage": "4.75-15V",
    "output_voltage": "3.3V",
    "product_page": "http://www.advanced-monolithic.com/",
}

_TEMPLATE = object()


class AiAnalysisError(AssertionError):
    """The task or its stream was not there when the test drove it."""


class AiAnalysis:
    """The task of the open dialog: ``started()``, ``progress()``, ``completed()``, ``failed()``."""

    def __init__(self, api: ApiClient, events: TestEventBuffer, sse: SseHelper) -> None:
        self.api = api
        self.events = events
        self.sse = sse
        self.task_id: str | None = None
        self.request_id: str | None = None

    def wait_for_task(self, *, timeout: float = 10.0) -> str:
        """Wait until the dialog listens to a task; learn its id and the page's request_id."""
        event = self.events.wait_for(
            "sse", timeout=timeout, streamId="task", phase="open", event="task_subscription"
        )
        self.task_id = str(event["data"]["taskId"])
        self.request_id = self.sse.request_id()
        return self.task_id

    def template(self, **overrides: Any) -> dict[str, Any]:
        """The template analysis result with ``overrides`` applied."""
        result = copy.deepcopy(TEMPLATE_RESULT)
        if result["type_is_existing"] and result["existing_type_id"] is None:
            result["existing_type_id"] = self._type_id(str(result["type"]))
        result.update(overrides)
        return result

    def started(self) -> None:
        self._send("task_started", None)

    def progress(self, text: str, value: float) -> None:
        self._send("progress_update", {"text": text, "value": value})

    def completed(
        self,
        analysis: Mapping[str, Any] | object | None = _TEMPLATE,
        *,
        failure_reason: str | None = None,
        duplicates: Iterable[Mapping[str, Any]] = (),
        success: bool = True,
        error_message: str | None = None,
    ) -> None:
        """Finish the task. ``analysis`` overrides template fields; None means no result."""
        if analysis is _TEMPLATE:
            result: dict[str, Any] | None = self.template()
        elif analysis is None:
            result = None
        else:
            result = self.template(**dict(analysis))  # type: ignore[arg-type]
        data = {
            "success": success,
            "analysis": {
                "analysis_result": result,
                "duplicate_parts": [dict(d) for d in duplicates],
                "analysis_failure_reason": failure_reason,
            },
            "error_message": error_message,
        }
        self._send("task_completed", data)

    def failed(self, message: str) -> None:
        self._send("task_failed", {"error": message})

    def _send(self, event_type: str, data: Any) -> None:
        if self.task_id is None or self.request_id is None:
            self.wait_for_task()
        assert self.task_id is not None and self.request_id is not None
        answer = self.api.send_task_event(self.request_id, self.task_id, event_type, data)
        if not answer or not answer.get("delivered"):
            raise AiAnalysisError(
                f"{event_type} for task {self.task_id} was not delivered: the backend has no SSE "
                f"connection for request_id {self.request_id} "
                f"(connections: {self.api.connections()}). "
                "Try: sse.wait_connected() before driving the task."
            )

    def _type_id(self, name: str) -> int | None:
        for part_type in self.api.types():
            if part_type["name"] == name:
                return int(part_type["id"])
        return None
