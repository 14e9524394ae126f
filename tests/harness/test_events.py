"""The test-event buffer: matching, consume-once, overflow, timeout text."""

from __future__ import annotations

import pytest

from stackwright.support.browser.events import TestEventBuffer, TestEventTimeout


def _buffer(*events: dict[str, object], capacity: int = 10) -> TestEventBuffer:
    buffer = TestEventBuffer(capacity=capacity)
    for event in events:
        buffer._receive(None, event)
    return buffer


def test_wait_for_matches_fields_and_sub_mappings_and_consumes_once() -> None:
    buffer = _buffer(
        {
            "kind": "sse",
            "phase": "message",
            "event": "task_event",
            "data": {"event_type": "task_started"},
        },
        {
            "kind": "sse",
            "phase": "message",
            "event": "task_event",
            "data": {"event_type": "progress_update", "x": 1},
        },
    )
    got = buffer.wait_for("sse", timeout=0.1, data={"event_type": "progress_update"})
    assert got["data"]["x"] == 1
    with pytest.raises(TestEventTimeout):
        buffer.wait_for("sse", timeout=0.05, data={"event_type": "progress_update"})
    assert buffer.wait_for("sse", timeout=0.1)["data"]["event_type"] == "task_started"


def test_timeout_lists_what_did_arrive() -> None:
    buffer = _buffer({"kind": "list_loading", "scope": "parts.list", "phase": "error"})
    with pytest.raises(TestEventTimeout) as info:
        buffer.wait_for("list_loading", timeout=0.05, phase="ready")
    text = str(info.value)
    assert '"phase": "ready"' in text
    assert "within 0.1 s" in text or "within 0.0 s" in text
    assert '"phase": "error"' in text
    assert "check that the frontend calls window.__playwright_emitTestEvent" in text


def test_overflow_is_counted_and_history_kept() -> None:
    buffer = _buffer(*({"kind": "x", "n": n} for n in range(15)), capacity=10)
    assert buffer.overflowed == 5
    assert len(buffer.pending) == 10
    assert len(buffer.history) == 15
    assert buffer.dump().count("\n") == 14


def test_non_dict_events_are_kept_as_invalid() -> None:
    buffer = _buffer("oops")  # type: ignore[arg-type]
    assert buffer.wait_for("invalid", timeout=0.1)["value"] == "oops"
