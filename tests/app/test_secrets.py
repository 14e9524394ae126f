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


@pytest.mark.parametrize(
    "query",
    ["sec%72et=s3cret", "SEC%52ET=s3cret", "%73ecret=s3cret", "sec%2572et=s3cret",
     "secret=s3cr%65t", "x=1&other=s3cret", "secret%20=s3cret"],
    ids=["encoded-r", "upper", "encoded-s", "twice", "encoded-value", "other-key", "space"],
)  # fmt: skip
def test_the_secret_never_reaches_the_log_however_it_is_encoded(
    make_app: Callable[..., Flask], caplog: pytest.LogCaptureFixture, query: str
) -> None:
    client = make_app(env="production", callback_secret="s3cret").test_client()
    with caplog.at_level("INFO", logger="backend.request"):
        status = client.post(f"/api/sse/callback?{query}", json=CONNECT).status_code
    assert "/api/sse/callback?" in caplog.text
    assert "s3cret" not in caplog.text and "s3cr%65t" not in caplog.text
    if query.startswith(("sec%72et", "%73ecret")):
        assert status == 200  # the key Flask decodes and checks, so it must be redacted


def test_the_gateway_log_never_holds_the_secret(capsys: pytest.CaptureFixture[str]) -> None:
    Logger(20).info("listening", callback_url="http://127.0.0.1:5001/api/sse/callback?secret=abc")
    line = capsys.readouterr().err
    assert "callback_url=http://127.0.0.1:5001/api/sse/callback?secret=[redacted]" in line
    assert "abc" not in line


@pytest.mark.parametrize("key", ["secret", "SECRET", "sec%72et", "sec%2572et"])
def test_the_gateway_log_never_holds_the_secret_under_an_encoded_key(
    capsys: pytest.CaptureFixture[str], key: str
) -> None:
    Logger(20).info("listening", callback_url=f"http://h:1/cb?a=1&{key}=abc&b=2")
    line = capsys.readouterr().err
    assert f"?a=1&{key}=[redacted]&b=2" in line and "abc" not in line
