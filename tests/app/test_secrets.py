"""The SSE callback secret: never in a log, and checked whenever it is configured."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask

from app.gateway.log import Logger

CONNECT = {"action": "connect", "token": "t", "request": {"url": "/s?request_id=x", "headers": {}}}


@pytest.mark.parametrize(
    "env", ["production", "Production", "prod", "staging", "development", "testing"]
)
def test_a_configured_secret_is_always_checked(make_app: Callable[..., Flask], env: str) -> None:
    client = make_app(env=env, callback_secret="s3cret").test_client()
    assert client.post("/api/sse/callback", json=CONNECT).status_code == 401
    assert client.post("/api/sse/callback?secret=wrong", json=CONNECT).status_code == 401
    assert client.post("/api/sse/callback?secret=s3cret", json=CONNECT).status_code == 200


@pytest.mark.parametrize("env", ["production", "Production", "prod", "live"])
def test_production_without_a_secret_fails_closed(make_app: Callable[..., Flask], env: str) -> None:
    client = make_app(env=env).test_client()
    assert client.post("/api/sse/callback", json=CONNECT).status_code == 401


@pytest.mark.parametrize("env", ["testing", "development"])
def test_no_secret_needed_outside_production(make_app: Callable[..., Flask], env: str) -> None:
    client = make_app(env=env).test_client()
    assert client.post("/api/sse/callback", json=CONNECT).status_code == 200


def test_the_backend_request_log_never_holds_the_secret(
    make_app: Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    client = make_app(env="production", callback_secret="s3cret").test_client()
    with caplog.at_level("INFO", logger="backend.request"):
        client.post("/api/sse/callback?secret=s3cret&x=1", json=CONNECT)
        client.post("/api/sse/callback?SECRET=wrong-one", json=CONNECT)
    logged = caplog.text
    assert "/api/sse/callback?secret=[redacted]&x=1 200" in logged
    assert "s3cret" not in logged and "wrong-one" not in logged


def test_the_gateway_log_never_holds_the_secret(capsys: pytest.CaptureFixture[str]) -> None:
    Logger(20).info("listening", callback_url="http://127.0.0.1:5001/api/sse/callback?secret=abc")
    line = capsys.readouterr().err
    assert "callback_url=http://127.0.0.1:5001/api/sse/callback?secret=[redacted]" in line
    assert "abc" not in line
