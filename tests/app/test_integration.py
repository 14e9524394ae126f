"""Backend and gateway as real processes: an analysis streams its events to the browser's stream."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from .gateway_support import SseStream, free_port, run_gateway, wait_http


@pytest.fixture
def services(tmp_path: Path) -> Iterator[tuple[str, int]]:
    db = tmp_path / "app.sqlite"
    init = [sys.executable, "-m", "app.backend", "init-db", "--db", str(db), "--load-test-data"]
    subprocess.run(init, check=True, capture_output=True)
    backend_port = free_port()
    callback = {"CALLBACK_URL": f"http://127.0.0.1:{backend_port}/api/sse/callback"}
    with run_gateway(callback) as gateway:
        backend_env = {
            **os.environ,
            "FLASK_ENV": "testing",
            "AI_PROVIDER": "catalog",
            "AI_CATALOG_STEP_SECONDS": "0.01",
            "SSE_GATEWAY_URL": gateway.base,
        }
        serve = [
            sys.executable,
            "-m",
            "app.backend",
            "serve",
            "--port",
            str(backend_port),
            "--db",
            str(db),
        ]
        backend = subprocess.Popen(
            serve, env=backend_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            wait_http("127.0.0.1", backend_port, "/api/health/readyz", process=backend)
            yield f"http://127.0.0.1:{backend_port}", gateway.port
        finally:
            backend.terminate()
            backend.wait(5)


def test_catalog_analysis_streams_started_progress_and_completed(services: tuple[str, int]) -> None:
    backend_url, gateway_port = services
    stream = SseStream.open(gateway_port, "/stream?request_id=page-42")
    try:
        assert stream.read_event() == ["event: ready", "data:"]
        connections = requests.get(f"{backend_url}/api/testing/sse/connections", timeout=5).json()
        assert "page-42" in connections
        started = requests.post(
            f"{backend_url}/api/ai-parts/analyze",
            json={"text": "an ESP32 module", "request_id": "page-42"},
            timeout=5,
        )
        assert started.status_code == 202
        task_id = started.json()["task_id"]
        events = []
        while not events or events[-1]["event_type"] not in ("task_completed", "task_failed"):
            (line,) = stream.read_event()
            envelope = json.loads(line.removeprefix("data: "))
            assert envelope["type"] == "task_event"
            events.append(envelope["payload"])
        assert all(event["task_id"] == task_id for event in events)
        kinds = [event["event_type"] for event in events]
        assert kinds[0] == "task_started"
        assert kinds.count("progress_update") >= 3
        assert kinds[-1] == "task_completed"
        values = [
            event["data"]["value"] for event in events if event["event_type"] == "progress_update"
        ]
        assert values == sorted(values)
        assert all(0 <= value <= 1 for value in values)
        result = events[-1]["data"]["analysis"]["analysis_result"]
        assert result["manufacturer_code"] == "ESP32-WROOM-32E"
        assert result["type_is_existing"] is True
        assert [d["key"] for d in events[-1]["data"]["analysis"]["duplicate_parts"]] == ["ESPW"]
    finally:
        stream.close()
