"""The backend's HTTP API through Flask's test client: good input, bad input, guards."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.backend.state import get_state


def _connect(client: FlaskClient, request_id: str, token: str = "tok-1") -> Any:
    body = {
        "action": "connect",
        "token": token,
        "request": {"url": f"/stream?request_id={request_id}", "headers": {}},
    }
    return client.post("/api/sse/callback", json=body)


def test_health_endpoints(client: FlaskClient) -> None:
    assert client.get("/api/health/healthz").json == {"status": "ok"}
    ready = client.get("/api/health/readyz")
    assert ready.status_code == 200
    assert ready.json["status"] == "ready"


def test_request_id_is_generated_or_echoed(client: FlaskClient) -> None:
    generated = client.get("/api/health/healthz").headers["X-Request-Id"]
    assert len(generated) == 32
    echoed = client.get("/api/health/healthz", headers={"X-Request-Id": "abc-123"})
    assert echoed.headers["X-Request-Id"] == "abc-123"


def test_seeded_parts_and_types(client: FlaskClient) -> None:
    parts = client.get("/api/parts").json
    types = client.get("/api/types").json
    assert len(parts) == 20
    assert len(types) >= 10
    assert all(len(part["key"]) == 4 and part["key"].isupper() for part in parts)
    relay = next(t for t in types if t["name"] == "Relay")
    assert relay["part_count"] == 2


def test_search_filters_parts(client: FlaskClient) -> None:
    found = client.get("/api/parts?q=esp32").json
    assert [part["key"] for part in found] == ["ESPW"]
    assert client.get("/api/parts?q=no-such-thing").json == []


def test_get_and_delete_part(client: FlaskClient) -> None:
    part = client.get("/api/parts/RLAY").json
    assert part["manufacturer_code"] == "SRD-05VDC-SL-C"
    assert part["tags"] == ["5v", "relay"]
    assert client.delete("/api/parts/RLAY").status_code == 204
    missing = client.get("/api/parts/RLAY")
    assert missing.status_code == 404
    assert missing.json["error"] == "no part with key RLAY"


@pytest.mark.parametrize("key", ["abc", "ABCDE", "AB1C"], ids=["lower", "five", "digit"])
def test_malformed_part_key_is_400(client: FlaskClient, key: str) -> None:
    response = client.get(f"/api/parts/{key}")
    assert response.status_code == 400
    assert response.json["details"] == {"key": key}


def test_create_part_with_tags(client: FlaskClient) -> None:
    types = {t["name"]: t["id"] for t in client.get("/api/types").json}
    body = {
        "description": "Test relay",
        "type_id": types["Relay"],
        "tags": ["Test", "test", " x "],
        "manufacturer_code": "TEST-1",
        "pin_count": 4,
    }
    response = client.post("/api/parts", json=body)
    assert response.status_code == 201, response.json
    created = response.json
    assert created["type"] == "Relay"
    assert created["tags"] == ["test", "x"]
    assert client.get(f"/api/parts/{created['key']}").json["pin_count"] == 4


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "description"),
        ({"description": "   "}, "description"),
        ({"description": "x", "type_id": "1"}, "type_id"),
        ({"description": "x", "pin_count": -1}, "pin_count"),
        ({"description": "x", "pin_count": True}, "pin_count"),
        ({"description": "x", "tags": "a,b"}, "tags"),
        ({"description": "x", "manufacturer": 5}, "manufacturer"),
        ({"description": "x", "type_id": 9999}, "type_id"),
    ],
    ids=[
        "missing",
        "blank",
        "type-id-string",
        "negative-pins",
        "bool-pins",
        "tags-string",
        "number-text",
        "unknown-type",
    ],
)
def test_create_part_rejects_bad_fields(
    client: FlaskClient, body: dict[str, Any], field: str
) -> None:
    before = len(client.get("/api/parts").json)
    response = client.post("/api/parts", json=body)
    assert response.status_code == 400
    assert response.json["details"]["field"] == field
    assert len(client.get("/api/parts").json) == before


@pytest.mark.parametrize(
    "payload", [b"not json", b"[1, 2]", b'"text"'], ids=["garbage", "list", "string"]
)
def test_non_object_body_is_400_json(client: FlaskClient, payload: bytes) -> None:
    response = client.post("/api/parts", data=payload, content_type="application/json")
    assert response.status_code == 400
    assert response.json["error"] == "request body must be a JSON object"


def test_duplicate_manufacturer_code_is_409(client: FlaskClient) -> None:
    response = client.post(
        "/api/parts", json={"description": "again", "manufacturer_code": "BME280"}
    )
    assert response.status_code == 409


def test_type_create_and_duplicate(client: FlaskClient) -> None:
    assert client.post("/api/types", json={"name": "Fuse"}).status_code == 201
    duplicate = client.post("/api/types", json={"name": "fuse"})
    assert duplicate.status_code == 409
    assert client.post("/api/types", json={"name": ""}).status_code == 400


def test_unknown_route_is_json_404(client: FlaskClient) -> None:
    response = client.get("/api/nope")
    assert response.status_code == 404
    assert "error" in response.json


def test_callback_maps_request_id_and_drops_on_disconnect(client: FlaskClient) -> None:
    assert _connect(client, "page-1").status_code == 200
    assert client.get("/api/testing/sse/connections").json == {"page-1": "tok-1"}
    stale = {"action": "disconnect", "token": "other", "reason": "client_closed", "request": {}}
    client.post("/api/sse/callback", json=stale)
    assert client.get("/api/testing/sse/connections").json == {"page-1": "tok-1"}
    gone = {"action": "disconnect", "token": "tok-1", "reason": "client_closed", "request": {}}
    assert client.post("/api/sse/callback", json=gone).status_code == 200
    assert client.get("/api/testing/sse/connections").json == {}


def test_reconnect_replaces_token(client: FlaskClient) -> None:
    _connect(client, "page-1", "tok-1")
    _connect(client, "page-1", "tok-2")
    assert client.get("/api/testing/sse/connections").json == {"page-1": "tok-2"}


@pytest.mark.parametrize(
    "url",
    [
        "/stream",
        "/stream?request_id=",
        "/stream?request_id=a b",
        "/stream?request_id=a&request_id=b",
    ],
    ids=["missing", "empty", "space", "twice"],
)
def test_callback_rejects_bad_request_id(client: FlaskClient, url: str) -> None:
    body = {"action": "connect", "token": "t", "request": {"url": url, "headers": {}}}
    assert client.post("/api/sse/callback", json=body).status_code == 400


def test_callback_secret_required_in_production(make_app: Callable[..., Flask]) -> None:
    client = make_app(env="production", callback_secret="s3cret").test_client()
    body = {
        "action": "connect",
        "token": "t",
        "request": {"url": "/stream?request_id=x", "headers": {}},
    }
    assert client.post("/api/sse/callback", json=body).status_code == 401
    assert client.post("/api/sse/callback?secret=wrong", json=body).status_code == 401
    assert client.post("/api/sse/callback?secret=s3cret", json=body).status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/testing/reset"),
        ("get", "/api/testing/sse/connections"),
        ("put", "/api/testing/ai-provider"),
        ("post", "/api/testing/sse/task-event"),
    ],
    ids=["reset", "connections", "provider", "task-event"],
)
def test_testing_endpoints_are_404_outside_testing(
    make_app: Callable[..., Flask], method: str, path: str
) -> None:
    client = make_app(env="development").test_client()
    assert getattr(client, method)(path, json={}).status_code == 404


def test_reset_restores_seeded_state(client: FlaskClient) -> None:
    client.delete("/api/parts/RLAY")
    client.post("/api/parts", json={"description": "extra"})
    client.put("/api/testing/ai-provider", json={"provider": "catalog"})
    response = client.post("/api/testing/reset")
    assert response.status_code == 200
    keys = [part["key"] for part in client.get("/api/parts").json]
    assert len(keys) == 20
    assert "RLAY" in keys
    with client.application.app_context():
        assert get_state().provider == "scripted"


def test_ai_provider_switch_and_validation(client: FlaskClient) -> None:
    assert client.put("/api/testing/ai-provider", json={"provider": "catalog"}).json == {
        "provider": "catalog"
    }
    assert client.put("/api/testing/ai-provider", json={"provider": "openai"}).status_code == 400


def test_analyze_needs_a_registered_stream(client: FlaskClient) -> None:
    response = client.post("/api/ai-parts/analyze", json={"text": "relay", "request_id": "nobody"})
    assert response.status_code == 409
    _connect(client, "page-1")
    started = client.post("/api/ai-parts/analyze", json={"text": "relay", "request_id": "page-1"})
    assert started.status_code == 202
    assert started.json["status"] == "pending"
    assert len(started.json["task_id"]) == 36


@pytest.mark.parametrize(
    "body",
    [
        {"text": "", "request_id": "p"},
        {"text": "  ", "request_id": "p"},
        {"request_id": "p"},
        {"text": "x"},
        {"text": "x", "request_id": "bad id"},
    ],
    ids=["empty", "blank", "no-text", "no-request-id", "bad-request-id"],
)
def test_analyze_rejects_bad_input(client: FlaskClient, body: dict[str, Any]) -> None:
    assert client.post("/api/ai-parts/analyze", json=body).status_code == 400


def test_task_event_without_connection_is_404(client: FlaskClient) -> None:
    body = {"request_id": "nobody", "task_id": "t", "event_type": "task_started", "data": None}
    assert client.post("/api/testing/sse/task-event", json=body).status_code == 404
    body["event_type"] = "bogus"
    assert client.post("/api/testing/sse/task-event", json=body).status_code == 400


def test_create_from_analysis_with_new_type(client: FlaskClient) -> None:
    body = {
        "description": "Single timer",
        "type_id": None,
        "type_name": "Timer",
        "manufacturer_code": "NE555P",
        "tags": ["timer"],
        "pin_count": 8,
    }
    response = client.post("/api/ai-parts/create", json=body)
    assert response.status_code == 201, response.json
    assert response.json["type"] == "Timer"
    assert any(t["name"] == "Timer" for t in client.get("/api/types").json)


def test_oversized_body_is_413_json(client: FlaskClient) -> None:
    response = client.post("/api/parts", json={"description": "x" * (2 * 1024 * 1024)})
    assert response.status_code == 413
    assert "error" in response.json


def test_wrong_method_is_405_json(client: FlaskClient) -> None:
    response = client.put("/api/parts")
    assert response.status_code == 405
    assert "error" in response.json
