"""Configuration from the environment, resolved once at start."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

LEVELS = {"debug": 10, "info": 20, "warn": 30, "warning": 30, "error": 40}


class ConfigError(ValueError):
    """An environment variable has a value the gateway cannot use."""


@dataclass(frozen=True)
class Config:
    port: int = 3000
    host: str = "127.0.0.1"
    callback_url: str | None = None
    heartbeat_seconds: float = 15.0
    log_level: int = LEVELS["info"]
    #: How long the connect callback may take before the stream gets a 504.
    callback_timeout: float = 5.0
    #: Largest ``/internal/send`` body accepted.
    max_body_bytes: int = 64 * 1024

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Config:
        return cls(
            port=_port(env.get("PORT", "3000")),
            host=env.get("HOST") or "127.0.0.1",
            callback_url=env.get("CALLBACK_URL") or None,
            heartbeat_seconds=_positive(
                "HEARTBEAT_INTERVAL_SECONDS", env.get("HEARTBEAT_INTERVAL_SECONDS", "15")
            ),
            log_level=_level(env.get("LOG_LEVEL", "info")),
            callback_timeout=_positive(
                "CALLBACK_TIMEOUT_SECONDS", env.get("CALLBACK_TIMEOUT_SECONDS", "5")
            ),
        )


def _port(raw: str) -> int:
    if not raw.isdigit() or not 0 <= int(raw) <= 65535:
        raise ConfigError(f"PORT must be an integer between 0 and 65535, got {raw!r}")
    return int(raw)


def _positive(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise ConfigError(f"{name} must be a positive number of seconds, got {raw!r}")
    return value


def _level(raw: str) -> int:
    try:
        return LEVELS[raw.strip().lower()]
    except KeyError:
        raise ConfigError(
            f"LOG_LEVEL must be one of debug, info, warn, error; got {raw!r}"
        ) from None
