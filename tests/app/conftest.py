"""Fixtures for the reference app's tests: a seeded database and Flask test clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.backend.db import Database
from app.backend.factory import create_app
from app.backend.seed import load_test_data
from app.backend.state import Config, get_state


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "seed.sqlite"
    db = Database(path)
    db.create_schema()
    with db.session() as session:
        load_test_data(session)
    db.engine.dispose()
    return path


@pytest.fixture
def make_app(tmp_path: Path, seeded_template: Path) -> Iterator[Callable[..., Flask]]:
    apps: list[Flask] = []

    def make(env: str = "testing", **overrides: object) -> Flask:
        db_path = tmp_path / f"app{len(apps)}.sqlite"
        db_path.write_bytes(seeded_template.read_bytes())
        app = create_app(Config(db=str(db_path), env=env, **overrides))  # type: ignore[arg-type]
        with app.app_context():
            state = get_state()
            state.db.snapshot_to(state.seed_path)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["inventory"].db.engine.dispose()


@pytest.fixture
def client(make_app: Callable[..., Flask]) -> FlaskClient:
    return make_app().test_client()
