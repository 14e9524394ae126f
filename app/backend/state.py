"""Per-app state shared by the blueprints (one instance per ``create_app``)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask, current_app

from .db import Database
from .sse import Connections, GatewayClient

PROVIDERS = ("catalog", "scripted")


@dataclass
class Config:
    #: A SQLite file, or a database's URL.
    db: str
    env: str = "development"
    gateway_url: str | None = None
    ai_provider: str | None = None
    callback_secret: str | None = None
    #: Pause between the catalog analyser's progress updates.
    catalog_step_seconds: float = 0.6

    @property
    def is_testing(self) -> bool:
        return self.env == "testing"

    @property
    def is_production(self) -> bool:
        """Production unless clearly named otherwise: a typo must not open the guards."""
        return self.env.strip().lower() not in ("testing", "development", "dev")

    @property
    def default_provider(self) -> str:
        return self.ai_provider or ("scripted" if self.is_testing else "catalog")


@dataclass
class State:
    config: Config
    db: Database
    connections: Connections
    gateway: GatewayClient
    provider: str
    #: task_id -> request_id of the tasks started by /api/ai-parts/analyze.
    tasks: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def seed_path(self) -> Path | None:
        """Where the seeded state is kept beside a SQLite file, for reset (None on a
        server: a test harness restores its database itself)."""
        path = self.db.path
        return None if path is None else path.with_name(path.name + ".seed")


def install(app: Flask, config: Config) -> State:
    connections = Connections()
    state = State(
        config=config,
        db=Database(config.db),
        connections=connections,
        gateway=GatewayClient(config.gateway_url, connections),
        provider=config.default_provider,
    )
    app.extensions["inventory"] = state
    return state


def get_state() -> State:
    state: State = current_app.extensions["inventory"]
    return state
